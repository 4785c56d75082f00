//! A fleet of rollouts written through the real layer, in shapes a batch run produces: a solo
//! agent, a failing tool, a delegated sub-agent whose task arrives, one whose task never
//! arrives, an inference cut off before its response, a rollout resuming an earlier one's root
//! thread (one session), and (optionally) rollouts written by a lossy layer under pressure.
//! The token counts and tools of each shape are fixed, so tests compute what the tables must
//! say from the plan alone.
//!
//! Also compiled into `examples/bench_tables.rs` (`#[path]`), so it imports nothing from its
//! siblings.

#![allow(dead_code, unreachable_pub)]

use std::path::Path;
use std::sync::Barrier;

use serde_json::{json, Value};
use tracing::{info_span, Dispatch};
use tracing_rollout::RolloutLayer;
use tracing_subscriber::prelude::*;

/// The shapes, in the order rollout `i` takes them (`i % 7`).
pub const KINDS: [&str; 7] = [
    "solo",
    "failing",
    "delegated",
    "undelivered",
    "incomplete",
    "resumed",
    "lossy",
];

/// The shape of rollout `i`.
pub fn kind(i: usize) -> &'static str {
    KINDS[i % KINDS.len()]
}

/// The rollout id of rollout `i`: `<kind>-<i>`.
pub fn rollout_id(i: usize) -> String {
    format!("{}-{i:05}", kind(i))
}

/// The root thread of rollout `i`: its own, except a `resumed` rollout, which resumes the
/// root thread of the `solo` rollout of its block of seven.
pub fn root_thread(i: usize) -> String {
    match kind(i) {
        "resumed" => format!("{}-main", rollout_id(i - 5)),
        "delegated" | "undelivered" => format!("{}-lead", rollout_id(i)),
        _ => format!("{}-main", rollout_id(i)),
    }
}

/// The model of the root agents and of sub-agents.
pub const MODEL: &str = "gpt-5";
pub const WORKER_MODEL: &str = "gpt-5-mini";
/// The delegated task.
pub const TASK: &str = "Count the lines of main.rs.";

/// One inference call that reports usage: agent path, model, input, cached input, output,
/// reasoning tokens.
pub type PlannedCall = (&'static str, &'static str, u64, u64, u64, u64);

/// Per shape: the inference calls that report usage, and the tools called with whether each
/// fails.
pub fn usage_plan(kind: &str) -> (Vec<PlannedCall>, Vec<(&'static str, bool)>) {
    let solo = vec![
        ("/root", MODEL, 1000, 200, 50, 10),
        ("/root", MODEL, 1200, 1000, 30, 0),
    ];
    match kind {
        "solo" | "resumed" => (solo, vec![("read_file", false)]),
        "failing" => (solo, vec![("read_file", false), ("run_tests", true)]),
        "delegated" | "undelivered" => (
            vec![
                ("/lead", MODEL, 500, 0, 20, 0),
                ("/lead/worker", WORKER_MODEL, 300, 100, 40, 25),
            ],
            vec![("spawn_agent", false)],
        ),
        // The inference never answers: no usage, no tool.
        "incomplete" => (Vec::new(), Vec::new()),
        _ => (Vec::new(), Vec::new()),
    }
}

fn msg(role: &str, text: &str) -> Value {
    let kind = if role == "assistant" {
        "output_text"
    } else {
        "input_text"
    };
    json!({"type": "message", "role": role, "content": [{"type": kind, "text": text}]})
}

fn call(call_id: &str, name: &str) -> Value {
    json!({"type": "function_call", "call_id": call_id, "name": name, "arguments": "{\"path\":\"main.rs\"}"})
}

fn output(call_id: &str, text: &str) -> Value {
    json!({"type": "function_call_output", "call_id": call_id, "output": text})
}

fn payload(role: &str, body: &Value) {
    tracing::info!(name: "rollout.payload", role = role, payload = body.to_string().as_str());
}

/// One inference call of `model`: its request items and, when given, a response with `items`
/// and usage (input, cached, output, reasoning).
fn inference(model: &str, request: &[Value], response: Option<(&str, &[Value], [u64; 4])>) {
    let span = info_span!("rollout.inference", model = model, provider = "openai");
    let _in = span.enter();
    payload("request", &json!({"model": model, "input": request}));
    if let Some((id, items, [i, c, o, r])) = response {
        let usage = json!({"input_tokens": i, "output_tokens": o,
            "input_tokens_details": {"cached_tokens": c}, "output_tokens_details": {"reasoning_tokens": r}});
        payload(
            "response",
            &json!({"id": id, "model": model, "output": items, "usage": usage}),
        );
    }
}

/// One function tool call; `error` fails it.
fn tool(name: &str, call_id: &str, error: Option<&str>) {
    let span = info_span!(
        "rollout.tool",
        tool = name,
        call_id = call_id,
        kind = "function",
        error = tracing::field::Empty
    );
    let _in = span.enter();
    payload("args", &json!({"path": "main.rs"}));
    match error {
        Some(e) => {
            span.record("error", e);
        }
        None => payload("result", &json!({"lines": 42})),
    }
}

/// Runs `f` in turn `t1` of rollout `i`'s root thread (agent `/root`).
fn in_root_turn(i: usize, f: impl FnOnce()) {
    let thread = info_span!(
        "rollout.thread",
        thread_id = root_thread(i).as_str(),
        agent_path = "/root",
        model = MODEL
    );
    thread.in_scope(|| info_span!("rollout.turn", turn_id = "t1").in_scope(f));
}

/// A solo agent: read a file, (failing: run the tests, which fail), answer.
fn solo(i: usize, failing: bool) {
    in_root_turn(i, || solo_turn(failing));
}

fn solo_turn(failing: bool) {
    let ask = msg("user", "How long is main.rs?");
    let mut calls = vec![call("c1", "read_file")];
    if failing {
        calls.push(call("c2", "run_tests"));
    }
    inference(
        MODEL,
        std::slice::from_ref(&ask),
        Some(("resp-1", &calls, [1000, 200, 50, 10])),
    );
    tool("read_file", "c1", None);
    if failing {
        tool("run_tests", "c2", Some("exit status 1"));
    }
    let mut seen = vec![ask];
    seen.extend(calls);
    seen.push(output("c1", "{\"lines\":42}"));
    if failing {
        seen.push(output("c2", "exit status 1"));
    }
    inference(
        MODEL,
        &seen,
        Some((
            "resp-2",
            &[msg("assistant", "42 lines.")],
            [1200, 1000, 30, 0],
        )),
    );
}

/// A lead that delegates to a worker; `delivered`: the worker's model sees the task.
fn delegated(i: usize, delivered: bool) {
    let lead_id = root_thread(i);
    let worker_id = format!("{}-worker", rollout_id(i));
    let lead = info_span!(
        "rollout.thread",
        thread_id = lead_id.as_str(),
        agent_path = "/lead",
        model = MODEL
    );
    let _l = lead.enter();
    let turn = info_span!("rollout.turn", turn_id = "t1");
    let _u = turn.enter();
    let spawn = call("call_spawn", "spawn_agent");
    inference(
        MODEL,
        &[msg("user", "Delegate the count.")],
        Some(("resp-1", &[spawn], [500, 0, 20, 0])),
    );
    let tool = info_span!(
        "rollout.tool",
        tool = "spawn_agent",
        kind = "spawn_agent",
        call_id = "call_spawn",
        target_thread_id = worker_id.as_str(),
        message = TASK
    );
    let child = tracing_rollout::child_thread_span(&worker_id, &lead_id, "/lead/worker", &tool);
    child.record("model", WORKER_MODEL);
    let _in = tool.enter();
    child.in_scope(|| {
        let turn = info_span!("rollout.turn", turn_id = "w1");
        let _w = turn.enter();
        let seen = if delivered {
            msg("user", TASK)
        } else {
            msg("user", "Wait for instructions.")
        };
        inference(
            WORKER_MODEL,
            &[seen],
            Some(("resp-w", &[msg("assistant", "42")], [300, 100, 40, 25])),
        );
    });
}

/// An inference cut off before any response.
fn incomplete(i: usize) {
    in_root_turn(i, || {
        inference(MODEL, &[msg("user", "Are you there?")], None);
    });
}

/// Emits rollout `i` (any kind but `lossy`) in the current dispatch.
pub fn emit(i: usize) {
    let id = rollout_id(i);
    let rollout = info_span!("rollout", rollout_id = id.as_str());
    let _r = rollout.enter();
    match kind(i) {
        "solo" | "resumed" => solo(i, false),
        "failing" => solo(i, true),
        "delegated" => delegated(i, true),
        "undelivered" => delegated(i, false),
        "incomplete" => incomplete(i),
        other => unreachable!("emit is not for {other} rollouts"),
    }
}

/// Writes rollouts `from..to` into `root`: every kind but `lossy` through one layer, and (with
/// `lossy`) the `lossy` ones through a lossy layer with a buffer smaller than one record,
/// emitted from four threads at once so records are dropped. Returns the bundles written.
pub fn write(root: &Path, from: usize, to: usize, lossy: bool) -> anyhow::Result<usize> {
    let (layer, guard) = RolloutLayer::builder().root_dir(root).build()?;
    let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&dispatch, || {
        for i in (from..to).filter(|i| kind(*i) != "lossy") {
            emit(i);
        }
    });
    let mut written = guard.finish()?.bundles.len();
    let lossy_ids: Vec<usize> = (from..to).filter(|i| kind(*i) == "lossy").collect();
    if lossy && !lossy_ids.is_empty() {
        let (layer, guard) = RolloutLayer::builder()
            .root_dir(root)
            .lossy(true)
            .max_buffered_bytes(64)
            .build()?;
        let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
        for chunk in lossy_ids.chunks(4) {
            let start = Barrier::new(chunk.len());
            std::thread::scope(|s| {
                for &i in chunk {
                    let (dispatch, start) = (&dispatch, &start);
                    s.spawn(move || {
                        tracing::dispatcher::with_default(dispatch, || {
                            let id = rollout_id(i);
                            let _r = info_span!("rollout", rollout_id = id.as_str()).entered();
                            start.wait();
                            solo(i, true);
                            for n in 0..50 {
                                tracing::info!(name: "rollout.payload", role = "output", payload = n);
                            }
                        })
                    });
                }
            });
        }
        written += guard.finish()?.bundles.len();
    }
    Ok(written)
}
