//! How entities end when what they ran in ends, and the other general rules a recording made
//! by another program needs (Codex's, imported, is one): a turn or cell that ended cancelled
//! takes down the calls it left running, a call may have several outputs, terminal sessions
//! end, and a producer's `rollout.diagnostic` becomes a diagnostic of the graph.

mod support;

use pretty_assertions::assert_eq;
use serde_json::json;
use support::layer::record;
use support::payloads::infer;
use support::records::Records;
use support::responses::{custom_call, custom_output, msg, request, response};
use support::spans::in_main_turn;
use tracing::info_span;
use tracing_rollout::reduce::{reduce_bundle, DiagnosticLevel, RolloutState, Status};

/// Rollout 1, thread `main` (2), turn `t1` (3): `body` adds records inside the turn; the turn
/// then ends with `turn_status`, and the thread, the rollout and the bundle end.
fn frame(turn_status: &str, body: impl FnOnce(&mut Records)) -> anyhow::Result<RolloutState> {
    let mut r = Records::new("endings");
    r.start(
        1,
        (None, None, None),
        "rollout",
        json!({"rollout_id": "endings"}),
    )
    .start(
        2,
        (Some(1), Some(2), None),
        "thread",
        json!({"thread_id": "main"}),
    )
    .start(
        3,
        (Some(2), Some(2), Some(3)),
        "turn",
        json!({"turn_id": "t1"}),
    );
    body(&mut r);
    r.record(3, json!({"status": turn_status}))
        .end(3)
        .end(2)
        .end(1)
        .finish("completed");
    let dir = tempfile::tempdir()?;
    let bundle = r.write(&dir.path().join("endings"))?;
    Ok(reduce_bundle(bundle)?)
}

fn tool_named<'a>(state: &'a RolloutState, call_id: &str) -> &'a tracing_rollout::reduce::ToolCall {
    let found = state
        .tool_calls
        .values()
        .find(|t| t.call_id.as_deref() == Some(call_id));
    found.unwrap_or_else(|| panic!("no tool call {call_id}"))
}

#[test]
fn a_tool_call_its_cancelled_turn_left_running_ends_cancelled_with_the_turn() -> anyhow::Result<()>
{
    let state = frame("cancelled", |r| {
        r.start(
            4,
            (Some(3), Some(2), Some(3)),
            "tool",
            json!({"tool": "shell", "call_id": "c1"}),
        );
    })?;
    let tool = tool_named(&state, "c1");
    let turn = &state.turns["t1"];
    assert_eq!(tool.execution.status, Status::Cancelled);
    assert_eq!(tool.execution.ended_seq, turn.execution.ended_seq);
    assert!(state.complete, "{:?}", state.diagnostics);
    assert!(state.diagnostics.is_empty(), "{:?}", state.diagnostics);
    Ok(())
}

#[test]
fn a_tool_call_a_completed_turn_left_running_has_no_known_end() -> anyhow::Result<()> {
    let state = frame("completed", |r| {
        r.start(
            4,
            (Some(3), Some(2), Some(3)),
            "tool",
            json!({"tool": "shell", "call_id": "c1"}),
        );
    })?;
    assert_eq!(
        tool_named(&state, "c1").execution.status,
        Status::Incomplete
    );
    assert!(!state.complete);
    Ok(())
}

#[test]
fn a_terminated_code_cell_ends_the_calls_it_left_running() -> anyhow::Result<()> {
    let state = frame("completed", |r| {
        r.start(
            4,
            (Some(3), Some(2), Some(3)),
            "code_cell",
            json!({"cell_id": "1", "call_id": "cell"}),
        )
        .start(
            5,
            (Some(4), Some(2), Some(3)),
            "tool",
            json!({"tool": "exec_command"}),
        )
        .record(4, json!({"status": "cancelled"}))
        .end(4);
    })?;
    let cell = state.code_cells.values().next().expect("one cell");
    let nested = &state.tool_calls[&cell.tool_calls[0]];
    assert_eq!(cell.execution.status, Status::Cancelled);
    assert_eq!(nested.execution.status, Status::Cancelled);
    assert_eq!(nested.execution.ended_seq, cell.execution.ended_seq);
    assert!(state.complete, "{:?}", state.diagnostics);
    Ok(())
}

#[test]
fn an_inference_its_cancelled_turn_closed_is_not_missing_its_end() -> anyhow::Result<()> {
    let state = frame("cancelled", |r| {
        r.start(
            4,
            (Some(3), Some(2), Some(3)),
            "inference",
            json!({"model": "m"}),
        );
    })?;
    let call = state.inference_calls.values().next().expect("one call");
    assert_eq!(call.execution.status, Status::Cancelled);
    assert!(state.complete, "{:?}", state.diagnostics);
    Ok(())
}

#[test]
fn a_call_with_two_outputs_keeps_both_as_its_own() -> anyhow::Result<()> {
    // A code cell that notifies the model before its result: two outputs, one call id.
    let cell_call = custom_call("cell", "exec", "notify('started'); await work();");
    let state = record(|| {
        in_main_turn("outputs", || {
            infer(
                &request(&[msg("user", "go")]),
                Some(&response("r1", std::slice::from_ref(&cell_call), 1, 1)),
            );
            let cell = info_span!("rollout.code_cell", cell_id = "1", call_id = "cell");
            let _cell = cell.enter();
            let started = custom_output("cell", "started");
            infer(
                &request(&[msg("user", "go"), cell_call.clone(), started.clone()]),
                None,
            );
            let done = custom_output("cell", "done");
            infer(
                &request(&[msg("user", "go"), cell_call.clone(), started, done]),
                None,
            );
        })
    })?
    .reduce()?;
    let cell = state.code_cells.values().next().expect("one cell");
    let texts: Vec<_> = cell
        .output_items
        .iter()
        .map(|id| state.conversation_items[id].text.as_str())
        .collect();
    assert_eq!(texts, ["started", "done"]);
    Ok(())
}

#[test]
fn a_terminal_session_ends_when_its_process_exit_is_reported_or_with_its_thread(
) -> anyhow::Result<()> {
    let state = record(|| {
        in_main_turn("sessions", || {
            info_span!("rollout.tool", tool = "exec", call_id = "c1").in_scope(|| {
                let _op = info_span!(
                    "rollout.terminal",
                    terminal_id = "pty-1",
                    op = "exec",
                    command = "python3"
                )
                .entered();
            });
            info_span!("rollout.tool", tool = "write_stdin", call_id = "c2").in_scope(|| {
                let _op = info_span!(
                    "rollout.terminal",
                    terminal_id = "pty-1",
                    op = "write",
                    exit_code = 3_i64
                )
                .entered();
            });
            info_span!("rollout.tool", tool = "exec", call_id = "c3").in_scope(|| {
                let _op = info_span!(
                    "rollout.terminal",
                    terminal_id = "pty-2",
                    op = "exec",
                    command = "sleep 99"
                )
                .entered();
            });
        })
    })?
    .reduce()?;
    let exited = &state.terminals["pty-1"];
    let write = &state.terminal_operations[&exited.operations[1]];
    assert_eq!((exited.status, exited.exit_code), (Status::Failed, Some(3)));
    assert_eq!(exited.ended_at_unix_ms, write.execution.ended_at_unix_ms);
    let first = &state.terminal_operations[&exited.operations[0]];
    assert_eq!(
        exited.started_at_unix_ms,
        Some(first.execution.started_at_unix_ms)
    );
    let left = &state.terminals["pty-2"];
    assert_eq!((left.status, left.exit_code), (Status::Aborted, None));
    assert_eq!(
        left.ended_at_unix_ms,
        state.threads["main"].execution.ended_at_unix_ms
    );
    Ok(())
}

#[test]
fn a_producers_rollout_diagnostic_event_is_a_diagnostic_of_the_graph() -> anyhow::Result<()> {
    let state = record(|| {
        in_main_turn("diagnostics", || {
            tracing::warn!(name: "rollout.diagnostic", message = "payloads/9.json is unreadable");
            tracing::info!(name: "rollout.diagnostic", level = "info", message = "noted");
        })
    })?
    .reduce()?;
    let found: Vec<_> = state
        .diagnostics
        .iter()
        .map(|d| (d.level, d.message.as_str(), d.seq.is_some()))
        .collect();
    assert_eq!(
        found,
        [
            (
                DiagnosticLevel::Warning,
                "payloads/9.json is unreadable",
                true
            ),
            (DiagnosticLevel::Info, "noted", true)
        ]
    );
    Ok(())
}
