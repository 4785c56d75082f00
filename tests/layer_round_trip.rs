//! Round trip through the real layer and files: every span kind, every payload role, late
//! fields, links and events come back from `trace.jsonl` exactly.

mod support;

use anyhow::{Context as _, Result};
use pretty_assertions::assert_eq;
use serde::Serialize;
use serde_json::{json, Value};
use tracing::field::Empty;
use tracing::{info, info_span};
use tracing_rollout::format::{Record, RecordBody, FORMAT_VERSION};
use tracing_rollout::RolloutLayer;

use support::layer::{manifest, normalized, only_bundle, record_into, trace_lines};

#[derive(Serialize)]
struct Response {
    id: &'static str,
    output: Vec<Item>,
}

#[derive(Serialize)]
struct Item {
    r#type: &'static str,
    role: &'static str,
    content: &'static str,
}

const REQUEST: &str = "{\"input\":\n[\"hi\"],\r\n\"n\":1}";
const ARGS: &str = "ls -la\nnot json";
const SOURCE: &str = "\"console.log(1)\"";
const OUTPUT: &str = "file_a\nfile_b";

fn response() -> Response {
    Response {
        id: "resp-1",
        output: vec![Item {
            r#type: "message",
            role: "assistant",
            content: "line one\nline \"two\"",
        }],
    }
}

/// One rollout using every span kind and payload role.
fn agent_program() {
    let rollout = info_span!("rollout", rollout_id = "rt-1", trace_id = "trace-abc");
    let _rollout = rollout.enter();
    let thread = info_span!(
        "rollout.thread",
        thread_id = "root",
        agent_path = "/root",
        model = "gpt-5"
    );
    let _thread = thread.enter();
    let turn = info_span!("rollout.turn", turn_id = "turn-1");
    let _turn = turn.enter();
    // Spans outside the vocabulary are skipped; rollout spans below them still attach.
    let app = info_span!("app.request", id = 7);
    let _app = app.enter();

    let inference = info_span!(
        "rollout.inference",
        gen_ai.request.model = "gpt-5",
        gen_ai.provider.name = "openai",
        output_tokens = Empty,
        response_id = Empty
    );
    inference.in_scope(|| {
        info!(name: "rollout.payload", role = "request", payload = REQUEST);
        info!(name: "rollout.payload", role = "response", payload = tracing_rollout::json(&response()));
    });
    inference.record("output_tokens", 12u64);
    inference.record("response_id", "resp-1");
    drop(inference);

    let tool = info_span!(
        "rollout.tool",
        tool = "shell",
        call_id = "call-1",
        kind = "function",
        status = Empty
    );
    tool.in_scope(|| {
        info!(name: "rollout.payload", role = "args", payload = ARGS);
        info!("an ordinary event, not recorded");
        info_span!("rollout.code_cell", cell_id = "cell-1", language = "js").in_scope(|| {
            info!(name: "rollout.payload", role = "source", payload = SOURCE);
            let terminal = info_span!("rollout.terminal", terminal_id = "term-1", op = "exec", command = "ls", exit_code = Empty);
            terminal.in_scope(|| info!(name: "rollout.payload", role = "output", payload = OUTPUT));
            terminal.record("exit_code", 0i64);
        });
        let child = info_span!("rollout.thread", thread_id = "child", parent_thread_id = "root", agent_path = "/root/worker");
        child.follows_from(&tool);
        child.in_scope(|| {
            info!(name: "rollout.payload", role = "metadata", payload = tracing_rollout::json(&json!({"k": [1, 2.5, null]})));
        });
        drop(child);
        info!(name: "rollout.agent_result", parent_thread_id = "root", message = "done", status = "completed");
        info!(name: "rollout.payload", role = "result", payload = tracing_rollout::json(&["ok"]));
    });
    tool.record("status", "completed");
    drop(tool);

    info_span!("rollout.compaction", compaction_id = "c-1").in_scope(|| {
        let checkpoint = json!({"input_history": [1], "replacement_history": []});
        info!(name: "rollout.payload", role = "checkpoint", payload = tracing_rollout::json(&checkpoint));
    });
}

#[test]
fn every_span_kind_payload_role_link_and_late_field_round_trips_through_the_file() -> Result<()> {
    let root = tempfile::tempdir()?;
    let stats = record_into(root.path(), RolloutLayer::builder(), agent_program)?;
    let dir = only_bundle(&stats)?;
    assert_eq!(dir, root.path().canonicalize()?.join("rt-1"));
    let lines = trace_lines(&dir)?;

    let response_text = serde_json::to_string(&response())?;
    let writer = concat!("tracing-rollout ", env!("CARGO_PKG_VERSION"));
    let expected = vec![
        json!({"seq":1,"type":"bundle_started","format":"tracing-rollout","format_version":FORMAT_VERSION,"rollout_id":"rt-1","trace_id":"trace-abc","writer":writer}),
        json!({"seq":2,"type":"span_started","span":1,"kind":"rollout","name":"rollout","fields":{"rollout_id":"rt-1","trace_id":"trace-abc"}}),
        json!({"seq":3,"type":"span_started","span":2,"parent":1,"thread":2,"kind":"thread","name":"rollout.thread","fields":{"thread_id":"root","agent_path":"/root","model":"gpt-5"}}),
        json!({"seq":4,"type":"span_started","span":3,"parent":2,"thread":2,"turn":3,"kind":"turn","name":"rollout.turn","fields":{"turn_id":"turn-1"}}),
        json!({"seq":5,"type":"span_started","span":4,"parent":3,"thread":2,"turn":3,"kind":"inference","name":"rollout.inference","fields":{"model":"gpt-5","provider":"openai"}}),
        json!({"seq":6,"type":"payload","span":4,"role":"request","bytes":REQUEST.len(),"body":{"input":["hi"],"n":1}}),
        json!({"seq":7,"type":"payload","span":4,"role":"response","bytes":response_text.len(),"body":serde_json::to_value(response())?}),
        json!({"seq":8,"type":"span_recorded","span":4,"fields":{"output_tokens":12}}),
        json!({"seq":9,"type":"span_recorded","span":4,"fields":{"response_id":"resp-1"}}),
        json!({"seq":10,"type":"span_ended","span":4}),
        json!({"seq":11,"type":"span_started","span":5,"parent":3,"thread":2,"turn":3,"kind":"tool","name":"rollout.tool","fields":{"tool":"shell","call_id":"call-1","kind":"function"}}),
        json!({"seq":12,"type":"payload","span":5,"role":"args","bytes":ARGS.len(),"body":ARGS}),
        json!({"seq":13,"type":"span_started","span":6,"parent":5,"thread":2,"turn":3,"kind":"code_cell","name":"rollout.code_cell","fields":{"cell_id":"cell-1","language":"js"}}),
        json!({"seq":14,"type":"payload","span":6,"role":"source","bytes":SOURCE.len(),"body":"console.log(1)"}),
        json!({"seq":15,"type":"span_started","span":7,"parent":6,"thread":2,"turn":3,"kind":"terminal","name":"rollout.terminal","fields":{"terminal_id":"term-1","op":"exec","command":"ls"}}),
        json!({"seq":16,"type":"payload","span":7,"role":"output","bytes":OUTPUT.len(),"body":OUTPUT}),
        json!({"seq":17,"type":"span_recorded","span":7,"fields":{"exit_code":0}}),
        json!({"seq":18,"type":"span_ended","span":7}),
        json!({"seq":19,"type":"span_ended","span":6}),
        json!({"seq":20,"type":"span_started","span":8,"parent":5,"thread":8,"kind":"thread","name":"rollout.thread","fields":{"thread_id":"child","parent_thread_id":"root","agent_path":"/root/worker"}}),
        json!({"seq":21,"type":"link","span":8,"follows":5}),
        json!({"seq":22,"type":"payload","span":8,"role":"metadata","bytes":18,"body":{"k":[1,2.5,null]}}),
        json!({"seq":23,"type":"span_ended","span":8}),
        json!({"seq":24,"type":"event","span":5,"name":"rollout.agent_result","fields":{"parent_thread_id":"root","message":"done","status":"completed"}}),
        json!({"seq":25,"type":"payload","span":5,"role":"result","bytes":6,"body":["ok"]}),
        json!({"seq":26,"type":"span_recorded","span":5,"fields":{"status":"completed"}}),
        json!({"seq":27,"type":"span_ended","span":5}),
        json!({"seq":28,"type":"span_started","span":9,"parent":3,"thread":2,"turn":3,"kind":"compaction","name":"rollout.compaction","fields":{"compaction_id":"c-1"}}),
        json!({"seq":29,"type":"payload","span":9,"role":"checkpoint","bytes":46,"body":{"input_history":[1],"replacement_history":[]}}),
        json!({"seq":30,"type":"span_ended","span":9}),
        json!({"seq":31,"type":"span_ended","span":3}),
        json!({"seq":32,"type":"span_ended","span":2}),
        json!({"seq":33,"type":"span_ended","span":1}),
        json!({"seq":34,"type":"bundle_ended","status":"completed","records":34,"dropped_records":0}),
    ];
    assert_eq!(normalized(&lines)?, expected);

    // Payload bodies, byte for byte as they stand in the file.
    let mut bodies = Vec::new();
    for line in &lines {
        if let RecordBody::Payload { head, body } = Record::parse(line)?.body {
            bodies.push((head.role.into_owned(), body.get().to_owned()));
        }
    }
    let quoted = |s: &str| serde_json::to_string(s).context("quote");
    let expected_bodies = vec![
        (
            "request".to_owned(),
            "{\"input\": [\"hi\"],  \"n\":1}".to_owned(),
        ),
        ("response".to_owned(), response_text),
        ("args".to_owned(), quoted(ARGS)?),
        ("source".to_owned(), SOURCE.to_owned()),
        ("output".to_owned(), quoted(OUTPUT)?),
        ("metadata".to_owned(), r#"{"k":[1,2.5,null]}"#.to_owned()),
        ("result".to_owned(), r#"["ok"]"#.to_owned()),
        (
            "checkpoint".to_owned(),
            r#"{"input_history":[1],"replacement_history":[]}"#.to_owned(),
        ),
    ];
    assert_eq!(bodies, expected_bodies);

    let m = manifest(&dir)?;
    assert_eq!(
        (
            m.rollout_id.as_str(),
            m.trace_id.as_deref(),
            m.status.as_str(),
            m.records,
            m.dropped_records
        ),
        ("rt-1", Some("trace-abc"), "completed", 34, 0)
    );
    assert!(m
        .ended_at_unix_ms
        .is_some_and(|end| end >= m.started_at_unix_ms));
    assert_eq!(
        (stats.records, stats.dropped_records, stats.io_errors),
        (34, 0, 0)
    );
    assert_eq!(
        stats.bytes,
        std::fs::metadata(dir.join("trace.jsonl"))?.len()
    );
    Ok(())
}

#[test]
fn field_values_of_every_type_become_json_values() -> Result<()> {
    #[derive(Debug)]
    #[allow(dead_code)] // read through Debug only
    struct Outer(&'static str);
    /// Two `json` values in one Debug output: not one JSON value, so recorded as a string.
    struct TwoJson;
    impl std::fmt::Debug for TwoJson {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            std::fmt::Debug::fmt(&tracing_rollout::json(&json!({"a": 1})), f)?;
            std::fmt::Debug::fmt(&tracing_rollout::json(&json!({"b": 2})), f)
        }
    }
    #[derive(Debug, thiserror::Error)]
    #[error("outer failure")]
    struct OuterError(#[source] std::io::Error);

    let root = tempfile::tempdir()?;
    let stats = record_into(root.path(), RolloutLayer::builder(), || {
        let err = OuterError(std::io::Error::other("disk \"full\""));
        let _rollout = info_span!(
            "rollout",
            rollout_id = "types",
            i = -5i64,
            u = u64::MAX,
            big = i128::MIN,
            f = 1.5f64,
            nan = f64::NAN,
            yes = true,
            text = "a\nb",
            display = %"shown\tas text",
            debug = ?Outer("x"),
            json = tracing_rollout::json(&json!({"nested": [true]})),
            two = ?TwoJson,
            bytes = &b"\x00\xff"[..],
            error = &err as &(dyn std::error::Error + 'static),
        )
        .entered();
    })?;
    let lines = trace_lines(&only_bundle(&stats)?)?;
    let started: Value = serde_json::from_str(&lines[1])?;
    assert_eq!(
        started["fields"],
        json!({
            "rollout_id": "types", "i": -5, "u": u64::MAX, "big": i128::MIN as f64, "f": 1.5,
            "nan": null, "yes": true, "text": "a\nb", "display": "shown\tas text",
            "debug": "Outer(\"x\")", "json": {"nested": [true]}, "two": "{\"a\":1}{\"b\":2}", "bytes": "00ff",
            "error": "outer failure: disk \"full\"",
        })
    );
    // An `error` field without `status` makes the rollout fail.
    assert_eq!(manifest(&only_bundle(&stats)?)?.status, "failed");
    Ok(())
}

#[test]
fn oversized_payloads_are_truncated_and_omitted_payloads_keep_their_size() -> Result<()> {
    let root = tempfile::tempdir()?;
    let big = "x".repeat(100);
    let truncating = RolloutLayer::builder().max_payload_bytes(10);
    let stats = record_into(&root.path().join("a"), truncating, || {
        info_span!("rollout", rollout_id = "cut").in_scope(|| {
            info!(name: "rollout.payload", role = "request", payload = big.as_str());
        });
    })?;
    let lines = trace_lines(&only_bundle(&stats)?)?;
    let payload: Value = serde_json::from_str(&lines[2])?;
    assert_eq!(
        (
            &payload["bytes"],
            &payload["truncated"],
            &payload["cut_bytes"],
            &payload["body"]
        ),
        (
            &json!(100),
            &json!(true),
            &json!(90),
            &json!("xxxxxxxxxx…[truncated 90 bytes]")
        )
    );

    let omitting = RolloutLayer::builder().capture_payloads(false);
    let stats = record_into(&root.path().join("b"), omitting, || {
        info_span!("rollout", rollout_id = "omit").in_scope(|| {
            info!(name: "rollout.payload", role = "request", payload = tracing_rollout::json(&big));
        });
    })?;
    let lines = trace_lines(&only_bundle(&stats)?)?;
    let payload: Value = serde_json::from_str(&lines[2])?;
    assert_eq!(
        (&payload["bytes"], &payload["omitted"], &payload["body"]),
        (&json!(102), &json!(true), &Value::Null)
    );
    Ok(())
}
