//! Scaling: a synthetic rollout of 20 000 inference calls with growing context reduces
//! correctly, and its `state.json` grows with the conversation, not with calls × context. Timing and memory growth are measured by `examples/bench_reduce.rs` and
//! recorded in BENCHMARKS.md, never asserted here.

mod support;

use pretty_assertions::assert_eq;
use support::synthetic::Synthetic;
use tracing_rollout::reduce::{reduce_bundle, Requester, Status};

#[test]
fn twenty_thousand_inference_calls_with_growing_context_reduce_correctly() -> anyhow::Result<()> {
    let shape = Synthetic {
        turns: 1000,
        calls_per_turn: 20,
    };
    let dir = tempfile::tempdir()?;
    shape.write(dir.path())?;
    let state = reduce_bundle(dir.path())?;

    assert_eq!(state.diagnostics, vec![]);
    assert!(state.complete);
    assert_eq!(state.status, Status::Completed);
    assert_eq!(state.inference_calls.len() as u64, shape.inference_calls());
    assert_eq!(state.tool_calls.len() as u64, shape.inference_calls());
    assert_eq!(state.compactions.len() as u64, shape.turns);
    assert_eq!(
        state.conversation_items.len() as u64,
        shape.expected_items()
    );
    assert_eq!(
        state.threads["main"].conversation.len() as u64,
        shape.expected_items()
    );
    for tool in state.tool_calls.values() {
        let Requester::Model {
            inference_call_id: Some(inference),
        } = &tool.requester
        else {
            panic!("{} not linked to its inference", tool.tool_call_id);
        };
        assert_eq!(
            state.inference_calls[inference].tool_calls,
            vec![tool.tool_call_id.clone()]
        );
        assert_eq!(tool.call_items.len(), 1);
        assert_eq!(tool.output_items.len(), 1);
    }
    // Context grows within a turn: call k of a turn sees the summary (or first message)
    // plus two items per earlier call of the turn.
    let mut calls: Vec<_> = state.inference_calls.values().collect();
    calls.sort_by_key(|c| c.execution.started_seq);
    for (n, call) in calls.iter().enumerate() {
        let k = (n as u64) % shape.calls_per_turn;
        assert_eq!(
            state.request_items(call).len() as u64,
            1 + 2 * k,
            "call {n}"
        );
    }
    Ok(())
}

/// Every request re-sends the whole history (one turn, no compaction): twice the calls is
/// twice the `state.json` (whole request lists would make it four times), and every call's
/// request items still read whole through the accessor.
#[test]
fn state_json_grows_linearly_when_every_request_repeats_the_history() -> anyhow::Result<()> {
    let mut sizes = Vec::new();
    for calls in [300, 600] {
        let shape = Synthetic {
            turns: 1,
            calls_per_turn: calls,
        };
        let dir = tempfile::tempdir()?;
        shape.write(dir.path())?;
        let state = reduce_bundle(dir.path())?;
        let mut by_start: Vec<_> = state.inference_calls.values().collect();
        by_start.sort_by_key(|c| c.execution.started_seq);
        for (k, call) in by_start.iter().enumerate() {
            assert_eq!(state.request_items(call).len(), 1 + 2 * k, "call {k}");
        }
        sizes.push(serde_json::to_vec(&state)?.len() as f64);
    }
    let growth = sizes[1] / sizes[0];
    assert!(
        growth < 2.3,
        "state.json grew {growth:.2}× for twice the calls ({sizes:?} bytes)"
    );
    Ok(())
}
