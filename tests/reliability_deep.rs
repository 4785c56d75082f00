//! Values nested at any depth, through the real layer: redaction holds at depths 10, 130 and
//! 300 (serde_json's recursion limit is 128) for fields and payloads given as `json(&v)`,
//! `&str` and `Debug`, failing closed (a marker, counted) where something cannot be scanned;
//! and every bundle the layer wrote reduces, a value too deep to interpret kept as evidence
//! with a diagnostic.

mod support;

use std::path::Path;

use anyhow::{ensure, Result};
use proptest::prelude::*;
use serde_json::{json, Value};
use support::files::{all_bytes, contains};
use support::layer::record_into;
use support::spans::{in_rollout, in_thread};
use tracing::{info, info_span};
use tracing_rollout::reduce::reduce_bundle;
use tracing_rollout::{json as as_json, FinishStats, Redact, RolloutLayer};

const SECRET: &str = "sk-deep-0123456789";

/// `leaf` wrapped `depth` times, alternating objects (`{"level": …}` with a sibling) and
/// arrays.
fn nested(depth: usize, leaf: Value) -> Value {
    (0..depth).fold(leaf, |v, d| {
        if d % 2 == 0 {
            json!({"level": v, "sibling": d})
        } else {
            json!([d, v])
        }
    })
}

fn secret_leaf(key: &str) -> Value {
    json!({key: SECRET, "note": "kept"})
}

/// Records `f` in thread `main` of rollout `deep`, redacting with `redact` if given.
fn record(root: &Path, redact: Option<Redact>, f: impl FnOnce()) -> Result<FinishStats> {
    let mut builder = RolloutLayer::builder();
    if let Some(redact) = redact {
        builder = builder.redact(redact);
    }
    record_into(root, builder, || {
        in_rollout("deep", || in_thread("main", f))
    })
}

/// One tool carrying `v` in every form the layer accepts.
fn emit_everywhere(v: &Value) {
    let text = v.to_string();
    let tool = info_span!(
        "rollout.tool",
        call_id = "c1",
        config = as_json(v),
        raw = text.as_str()
    );
    tool.in_scope(|| {
        info!(name: "rollout.payload", role = "args", payload = as_json(v));
        info!(name: "rollout.payload", role = "request", payload = text.as_str());
        info!(name: "rollout.payload", role = "metadata", payload = ?v);
        info!(name: "rollout.payload", role = "result", payload = as_json(&json!({"arguments": text})));
        info!(name: "rollout.note", detail = as_json(v), debug = ?v);
    });
}

#[test]
fn a_secret_at_depth_10_130_and_300_is_redacted_in_every_form_and_the_bundle_reduces() -> Result<()>
{
    for depth in [10, 130, 300] {
        let root = tempfile::tempdir()?;
        let v = nested(depth, secret_leaf("API_KEY"));
        let stats = record(root.path(), Some(Redact::keys(["api_key"])), || {
            emit_everywhere(&v)
        })?;
        let bytes = all_bytes(root.path())?;
        ensure!(
            !contains(&bytes, SECRET),
            "depth {depth}: the secret reached the disk"
        );
        ensure!(
            contains(&bytes, "[REDACTED]"),
            "depth {depth}: nothing was redacted"
        );
        ensure!(
            contains(&bytes, "kept"),
            "depth {depth}: the value around it is gone"
        );
        assert_eq!(stats.redaction_failures, 0, "depth {depth}");
        let state = reduce_bundle(&stats.bundles[0])?;
        assert_eq!(state.tool_calls.len(), 1, "depth {depth}");
        assert_eq!(state.payloads.len(), 4, "depth {depth}");
        let deep_diagnostics = state
            .diagnostics
            .iter()
            .filter(|d| d.message.contains("nests deeper than"))
            .count();
        // The span's fields and the event's fields nest too deep to interpret from 130 on.
        assert_eq!(
            deep_diagnostics,
            if depth > 100 { 2 } else { 0 },
            "depth {depth}: {:?}",
            state.diagnostics
        );
    }
    Ok(())
}

#[test]
fn without_redaction_the_deep_secret_is_written_so_the_test_above_is_not_vacuous() -> Result<()> {
    let root = tempfile::tempdir()?;
    let v = nested(300, secret_leaf("api_key"));
    let stats = record(root.path(), None, || emit_everywhere(&v))?;
    ensure!(contains(&all_bytes(root.path())?, SECRET));
    reduce_bundle(&stats.bundles[0])?;
    Ok(())
}

/// JSON text held in a string, held in a string, … `levels` times.
fn in_strings(levels: usize) -> Value {
    let mut v = secret_leaf("api_key");
    for _ in 0..levels {
        v = json!({"arguments": v.to_string()});
    }
    v
}

/// Twelve levels of JSON text in strings: too deep to scan, so the value is replaced by a
/// marker and counted — the secret is not written.
#[test]
fn json_text_nested_in_strings_too_deep_to_scan_fails_closed_with_a_marker() -> Result<()> {
    let root = tempfile::tempdir()?;
    let v = in_strings(12);
    let stats = record(root.path(), Some(Redact::keys(["api_key"])), || {
        info_span!("rollout.tool", call_id = "c1").in_scope(|| {
            info!(name: "rollout.payload", role = "args", payload = as_json(&v));
        });
    })?;
    let bytes = all_bytes(root.path())?;
    ensure!(!contains(&bytes, SECRET));
    ensure!(contains(&bytes, "JSON text nested too deep to scan"));
    assert_eq!(stats.redaction_failures, 1);
    ensure!(stats
        .warnings
        .iter()
        .any(|w| w.contains("redaction could not scan")));
    reduce_bundle(&stats.bundles[0])?;
    Ok(())
}

/// The same nesting cut off by `max_payload_bytes` (it no longer parses, so it is scanned
/// as text): the escaped key and its escaped value are still found, at every level.
#[test]
fn truncated_json_text_nested_in_strings_is_still_redacted() -> Result<()> {
    for levels in [1, 3, 8, 12] {
        let root = tempfile::tempdir()?;
        let v = in_strings(levels);
        let text = v.to_string();
        let builder = RolloutLayer::builder()
            .max_payload_bytes(text.len() - 3)
            .redact(Redact::keys(["api_key"]));
        let stats = record_into(root.path(), builder, || {
            in_rollout("cut", || {
                in_thread("main", || {
                    info_span!("rollout.tool", call_id = "c1").in_scope(|| {
                        info!(name: "rollout.payload", role = "args", payload = text.as_str());
                        info!(name: "rollout.payload", role = "result", payload = as_json(&v));
                    })
                })
            })
        })?;
        let bytes = all_bytes(root.path())?;
        ensure!(
            !contains(&bytes, SECRET),
            "{levels} levels: the secret reached the disk"
        );
        ensure!(contains(&bytes, "kept"), "{levels} levels: over-redacted");
        reduce_bundle(&stats.bundles[0])?;
    }
    Ok(())
}

/// A deep and wide value: `width` siblings at every level, the secret somewhere.
fn deep_and_wide(depth: usize, width: usize, key: &str, at: usize) -> Value {
    (0..depth).fold(secret_leaf(key), |v, d| {
        let siblings: Vec<Value> = (0..width).map(|w| json!({"w": w, "d": d})).collect();
        if d % 3 == 0 {
            let mut items = siblings;
            items.insert(at.min(items.len()), v);
            Value::Array(items)
        } else {
            let mut map = serde_json::Map::new();
            for (w, s) in siblings.into_iter().enumerate() {
                map.insert(format!("k{w}"), s);
            }
            map.insert(format!("inner{d}"), v);
            Value::Object(map)
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn redaction_holds_for_deep_and_wide_values_in_any_form(
        depth in 0usize..400,
        width in 0usize..4,
        at in 0usize..4,
        upper in any::<bool>(),
        form in 0u8..3,
    ) {
        let key = if upper { "Api_Key" } else { "api_key" };
        let v = deep_and_wide(depth, width, key, at);
        let root = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let stats = record(root.path(), Some(Redact::keys(["api_key"])), || {
            info_span!("rollout.tool", call_id = "c1").in_scope(|| match form {
                0 => info!(name: "rollout.payload", role = "args", payload = as_json(&v)),
                1 => info!(name: "rollout.payload", role = "args", payload = v.to_string().as_str()),
                _ => info!(name: "rollout.note", detail = as_json(&v)),
            });
        }).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let bytes = all_bytes(root.path()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(!contains(&bytes, SECRET), "depth {} width {} form {}", depth, width, form);
        let state = reduce_bundle(&stats.bundles[0]);
        prop_assert!(state.is_ok(), "{:?}", state.err());
    }
}
