//! The totals of each rollout side by side and their differences (`b − a`).
//!
//! Invariant: each total is counted from the graph's own maps the way `summary` counts them
//! (tokens from inference calls only, never rolled up twice), so a diff's totals agree with
//! each side's summary. Cost is `None` here: it is filled only from prices the caller gives,
//! never guessed.

use super::report::{RunTotals, Totals, TotalsDelta};
use crate::reduce::{RolloutState, Status};

/// Both sides' totals and their differences.
pub(super) fn totals(a: &RolloutState, b: &RolloutState) -> Totals {
    let (a, b) = (run_totals(a), run_totals(b));
    let delta = delta(&a, &b);
    Totals { a, b, delta }
}

fn run_totals(state: &RolloutState) -> RunTotals {
    let usage = state.total_usage();
    let failed = |status: Status| status == Status::Failed;
    RunTotals {
        status: state.status,
        complete: state.complete,
        duration_ms: match (state.started_at_unix_ms, state.ended_at_unix_ms) {
            (Some(start), Some(end)) => Some(end.saturating_sub(start)),
            _ => None,
        },
        threads: state.threads.len(),
        turns: state.turns.len(),
        inference_calls: state.inference_calls.len(),
        failed_inference_calls: state
            .inference_calls
            .values()
            .filter(|c| failed(c.execution.status))
            .count(),
        tool_calls: state.tool_calls.len(),
        failed_tool_calls: state
            .tool_calls
            .values()
            .filter(|c| failed(c.execution.status))
            .count(),
        input_tokens: usage.input_tokens,
        cached_input_tokens: usage.cached_input_tokens,
        output_tokens: usage.output_tokens,
        reasoning_tokens: usage.reasoning_tokens,
        undelivered_edges: state.edges.values().filter(|e| !e.delivered).count(),
        cost: None,
    }
}

fn delta(a: &RunTotals, b: &RunTotals) -> TotalsDelta {
    let d = |x: u64, y: u64| y as i64 - x as i64;
    let n = |x: usize, y: usize| y as i64 - x as i64;
    TotalsDelta {
        duration_ms: a.duration_ms.zip(b.duration_ms).map(|(x, y)| d(x, y)),
        threads: n(a.threads, b.threads),
        turns: n(a.turns, b.turns),
        inference_calls: n(a.inference_calls, b.inference_calls),
        failed_inference_calls: n(a.failed_inference_calls, b.failed_inference_calls),
        tool_calls: n(a.tool_calls, b.tool_calls),
        failed_tool_calls: n(a.failed_tool_calls, b.failed_tool_calls),
        input_tokens: d(a.input_tokens, b.input_tokens),
        cached_input_tokens: d(a.cached_input_tokens, b.cached_input_tokens),
        output_tokens: d(a.output_tokens, b.output_tokens),
        reasoning_tokens: d(a.reasoning_tokens, b.reasoning_tokens),
        undelivered_edges: n(a.undelivered_edges, b.undelivered_edges),
        cost: a.cost.zip(b.cost).map(|(x, y)| y - x),
    }
}
