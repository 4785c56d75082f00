//! The totals of each rollout side by side and their differences (`b − a`).
//!
//! Invariant: each total is counted from the graph's own maps the way `summary` counts them
//! (tokens from inference calls only, never rolled up twice), so a diff's totals agree with
//! each side's summary. Cost comes only from prices the caller gives ([`Prices`]), never
//! guessed: a rollout with a call that cannot be priced has no total cost, only the priced
//! part and a count of what is missing.

use super::report::{RunTotals, Totals, TotalsDelta};
use crate::cost::Prices;
use crate::reduce::{RolloutState, Status};

/// Both sides' totals and their differences.
pub(super) fn totals(a: &RolloutState, b: &RolloutState, prices: Option<&Prices>) -> Totals {
    let (a, b) = (run_totals(a, prices), run_totals(b, prices));
    let delta = delta(&a, &b);
    Totals {
        currency: prices.map(|p| p.currency.clone()),
        a,
        b,
        delta,
    }
}

fn run_totals(state: &RolloutState, prices: Option<&Prices>) -> RunTotals {
    let priced = prices.map(|p| p.rollout_cost(state));
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
        cost: priced.as_ref().and_then(|p| p.complete_total()),
        priced,
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
