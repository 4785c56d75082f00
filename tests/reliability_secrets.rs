//! Secrets and access: planted secrets never reach the bundle when `redact` names their keys
//! (field names, JSON keys at any depth, JSON text inside strings, Debug text, truncated
//! payloads), `capture_payloads(false)` keeps structure without bodies, `max_payload_bytes`
//! caps each payload, and hostile identifiers and field values neither escape `root_dir`
//! nor break a line of JSON.

mod support;

use anyhow::{ensure, Result};
use pretty_assertions::assert_eq;
use proptest::prelude::*;
use serde_json::{json, Value};
use support::files::{all_bytes, contains};
use support::layer::record_into;
use tracing::{info, info_span};
use tracing_rollout::format::{Record, RecordBody};
use tracing_rollout::reduce::reduce_bundle;
use tracing_rollout::{Redact, RolloutLayer};

const SECRET: &str = "sk-PLANTED-7f3a9c";

#[derive(Debug)]
#[allow(dead_code)] // read through Debug
struct Headers {
    authorization: String,
    accept: &'static str,
}

/// A rollout that plants `SECRET` in every place a key can name it.
fn plant_secrets() {
    let _rollout = info_span!("rollout", rollout_id = "secrets").entered();
    let _thread = info_span!("rollout.thread", thread_id = "main").entered();
    let _turn = info_span!("rollout.turn", turn_id = "t1").entered();
    let tool = info_span!(
        "rollout.tool",
        tool = "http",
        call_id = "c1",
        authorization = SECRET,
        api_key = tracing::field::Empty,
        config = tracing_rollout::json(&json!({"nested": {"API_KEY": SECRET}}))
    );
    tool.record("api_key", SECRET);
    let _tool = tool.enter();
    // A JSON payload with the secret deep inside, and as JSON text inside a string.
    let args = json!({
        "url": "https://example.com",
        "headers": [{"Authorization": format!("Bearer {SECRET}")}],
        "arguments": json!({"api_key": SECRET, "q": "weather"}).to_string(),
    });
    info!(name: "rollout.payload", role = "args", payload = tracing_rollout::json(&args));
    // The same as raw JSON text, as Debug output, and as a truncated payload.
    info!(name: "rollout.payload", role = "request", payload = args.to_string().as_str());
    let headers = Headers {
        authorization: SECRET.to_owned(),
        accept: "json",
    };
    info!(name: "rollout.payload", role = "metadata", payload = ?headers);
    let long = format!(
        r#"{{"api_key":"{SECRET}","padding":"{}"}}"#,
        "x".repeat(10_000)
    );
    info!(name: "rollout.payload", role = "result", payload = long.as_str());
    info!(name: "rollout.agent_result", parent_thread_id = "main", authorization = SECRET);
}

#[test]
fn a_planted_secret_never_reaches_the_files_when_its_keys_are_redacted() -> Result<()> {
    let root = tempfile::tempdir()?;
    let stats = record_into(
        root.path(),
        RolloutLayer::builder()
            .max_payload_bytes(2_000)
            .redact(Redact::keys(["authorization", "api_key"])),
        plant_secrets,
    )?;
    let bytes = all_bytes(root.path())?;
    ensure!(!contains(&bytes, SECRET), "the secret reached the disk");
    ensure!(contains(&bytes, "[REDACTED]"));
    // The structure survives: the bundle reduces and the tool call, its fields and payloads
    // are there.
    let state = reduce_bundle(&stats.bundles[0])?;
    ensure!(state.complete);
    assert_eq!((state.tool_calls.len(), state.payloads.len()), (1, 4));
    // Each line is still one valid record.
    let text = std::fs::read_to_string(stats.bundles[0].join("trace.jsonl"))?;
    for line in text.lines() {
        Record::parse(line)?;
    }
    Ok(())
}

#[test]
fn without_redaction_the_same_secret_is_written_so_the_test_above_is_not_vacuous() -> Result<()> {
    let root = tempfile::tempdir()?;
    record_into(root.path(), RolloutLayer::builder(), plant_secrets)?;
    ensure!(contains(&all_bytes(root.path())?, SECRET));
    Ok(())
}

#[test]
fn a_predicate_redacts_whatever_the_user_names() -> Result<()> {
    let root = tempfile::tempdir()?;
    record_into(
        root.path(),
        RolloutLayer::builder().redact(Redact::with(|key| {
            let key = key.to_ascii_lowercase();
            key == "authorization" || key.contains("api_key")
        })),
        plant_secrets,
    )?;
    ensure!(!contains(&all_bytes(root.path())?, SECRET));
    Ok(())
}

#[test]
fn capture_payloads_false_keeps_the_structure_without_any_body() -> Result<()> {
    let root = tempfile::tempdir()?;
    let stats = record_into(
        root.path(),
        RolloutLayer::builder().capture_payloads(false),
        || {
            let _rollout = info_span!("rollout", rollout_id = "bodiless").entered();
            info_span!("rollout.tool", tool = "t", call_id = "c1").in_scope(|| {
                info!(name: "rollout.payload", role = "args", payload = tracing_rollout::json(&json!({"k": SECRET})));
                info!(name: "rollout.payload", role = "result", payload = SECRET);
            });
        },
    )?;
    ensure!(!contains(&all_bytes(root.path())?, SECRET));
    let text = std::fs::read_to_string(stats.bundles[0].join("trace.jsonl"))?;
    let payloads: Vec<(String, u64, bool, String)> = text
        .lines()
        .filter_map(|l| match Record::parse(l).ok()?.body {
            RecordBody::Payload { head, body } => Some((
                head.role.into_owned(),
                head.bytes,
                head.omitted,
                body.get().to_owned(),
            )),
            _ => None,
        })
        .collect();
    let args_len = json!({"k": SECRET}).to_string().len() as u64;
    assert_eq!(
        payloads,
        vec![
            ("args".to_owned(), args_len, true, "null".to_owned()),
            (
                "result".to_owned(),
                SECRET.len() as u64,
                true,
                "null".to_owned()
            ),
        ]
    );
    Ok(())
}

#[test]
fn max_payload_bytes_caps_every_payload() -> Result<()> {
    const CAP: usize = 1_000;
    let root = tempfile::tempdir()?;
    let stats = record_into(
        root.path(),
        RolloutLayer::builder().max_payload_bytes(CAP),
        || {
            let _rollout = info_span!("rollout", rollout_id = "capped").entered();
            for size in [10, CAP, CAP + 1, 100_000, 1 << 20] {
                let text = "é".repeat(size / 2);
                info!(name: "rollout.payload", role = "output", payload = text.as_str());
                let value = json!({"v": "a".repeat(size)});
                info!(name: "rollout.payload", role = "output", payload = tracing_rollout::json(&value));
            }
        },
    )?;
    // Through the public reader: a body may be stored as references (format v2).
    let mut reader = tracing_rollout::reduce::BundleReader::open(&stats.bundles[0])?;
    let mut seen = 0;
    while let Some(expanded) = reader.next_record()? {
        if let RecordBody::Payload { head, body } = expanded.record()?.body {
            let (bytes, truncated) = (head.bytes, head.truncated);
            seen += 1;
            let stored: Value = serde_json::from_str(body.get())?;
            let stored_len = match &stored {
                Value::String(s) => s.split("…[truncated").next().unwrap_or("").len(),
                other => other.to_string().len(),
            };
            ensure!(
                stored_len <= CAP,
                "a payload of {bytes} bytes stored {stored_len}"
            );
            ensure!(
                truncated == (bytes > CAP as u64),
                "{bytes} bytes, truncated {truncated}"
            );
        }
    }
    assert_eq!(seen, 10);
    Ok(())
}

#[test]
fn hostile_identifiers_and_field_values_stay_inside_the_root_and_keep_json_valid() -> Result<()> {
    let parent = tempfile::tempdir()?;
    let root = parent.path().join("root");
    let huge = "../".repeat(350_000); // ~1 MB of path traversal
    let control: String = (0u8..32).map(char::from).collect::<String>() + "\u{7f}\u{2028}\u{feff}";
    let ids = [
        huge.as_str(),
        "../../etc/passwd",
        "/etc/shadow",
        "a/../../b",
        "..",
        control.as_str(),
        "C:\\Windows\\system32",
    ];
    let stats = record_into(&root, RolloutLayer::builder(), || {
        for id in ids {
            let _rollout = info_span!("rollout", rollout_id = id, trace_id = id).entered();
            let _thread =
                info_span!("rollout.thread", thread_id = id, agent_path = id, nickname = %control)
                    .entered();
            let _turn = info_span!("rollout.turn", turn_id = id).entered();
            info_span!("rollout.tool", tool = id, call_id = id, kind = %control).in_scope(|| {
                info!(name: "rollout.payload", role = id, payload = id);
                info!(name: "rollout.payload", role = "args", payload = control.as_str());
            });
        }
    })?;
    let canonical_root = root.canonicalize()?;
    assert_eq!(stats.bundles.len(), ids.len());
    for (dir, id) in stats.bundles.iter().zip(ids) {
        ensure!(
            dir.parent() == Some(canonical_root.as_path()),
            "{} escaped",
            dir.display()
        );
        let state = reduce_bundle(dir)?;
        ensure!(state.complete, "{:?}", state.diagnostics);
        assert_eq!(state.rollout_id, id);
        ensure!(state.threads.contains_key(id), "thread id mangled");
        let text = std::fs::read_to_string(dir.join("trace.jsonl"))?;
        for line in text.lines() {
            Record::parse(line)?;
        }
    }
    // Nothing was created outside the root.
    let outside: Vec<_> = std::fs::read_dir(parent.path())?
        .filter_map(|e| e.ok().map(|e| e.file_name()))
        .collect();
    assert_eq!(outside, vec![std::ffi::OsString::from("root")]);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    /// Any JSON value with the secret stored under a redacted key, at any depth and in any
    /// case, is written without it.
    #[test]
    fn a_secret_under_a_redacted_key_at_any_depth_is_never_written(
        path in proptest::collection::vec(prop_oneof![
            "[a-z]{1,6}".prop_map(Some),
            Just(None), // an array level
        ], 0..8),
        key in prop_oneof![Just("api_key"), Just("API_KEY"), Just("Authorization")],
        as_text in any::<bool>(),
    ) {
        let mut value = json!({ key: SECRET });
        for step in path.iter().rev() {
            value = match step {
                Some(k) => json!({ k.as_str(): value, "other": 1 }),
                None => json!([0, value]),
            };
        }
        let root = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let text = value.to_string();
        let builder = RolloutLayer::builder().redact(Redact::keys(["api_key", "authorization"]));
        record_into(root.path(), builder, || {
            let _rollout = info_span!("rollout", rollout_id = "p").entered();
            if as_text {
                info!(name: "rollout.payload", role = "args", payload = text.as_str());
            } else {
                info!(name: "rollout.payload", role = "args", payload = tracing_rollout::json(&value));
            }
        })
        .map_err(|e| TestCaseError::fail(format!("{e:#}")))?;
        let bytes = all_bytes(root.path()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(!contains(&bytes, SECRET));
    }
}
