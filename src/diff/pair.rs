//! One aligned pair of threads (or a thread of one side only): its steps aligned, each pair
//! of steps compared, tool calls of paired steps compared, and its divergences with their
//! causes.
//!
//! Invariant: every step of both threads appears in exactly one aligned row, in each side's
//! order, so `row_a[i]` / `row_b[j]` place any step (children are matched through them).

use std::collections::HashMap;

use super::align::{align, Op};
use super::cause::{request_changes, Side};
use super::report::{
    ChangeKind, ComparedRequests, Divergence, ResultChange, StepCounts, StepDiff, StepOp,
    ToolChange,
};
use super::steps::{change_kind, cost, Step};
use crate::reduce::{InferenceCall, RolloutState, ToolCall};

/// One side of a thread pair: its graph, the thread (if this side has it) and its steps.
#[derive(Debug, Clone, Copy)]
pub(super) struct ThreadSide<'s, 'a> {
    pub(super) state: &'a RolloutState,
    pub(super) thread_id: Option<&'a str>,
    pub(super) agent_path: Option<&'a str>,
    pub(super) steps: &'s [Step<'a>],
}

/// A thread pair's aligned steps and divergences.
#[derive(Debug)]
pub(super) struct PairDiff {
    pub(super) steps: Vec<StepDiff>,
    pub(super) counts: StepCounts,
    /// Each divergence with the time it happened, in ms since its rollout's start (the
    /// earlier of the two sides'), to order divergences across threads.
    pub(super) divergences: Vec<(Divergence, Option<u64>)>,
    /// Row of each of A's steps, and of B's.
    pub(super) row_a: Vec<usize>,
    pub(super) row_b: Vec<usize>,
}

/// Aligns and compares the steps of `a` and `b`.
pub(super) fn diff_pair(
    a: ThreadSide<'_, '_>,
    b: ThreadSide<'_, '_>,
    max_items: usize,
) -> PairDiff {
    let ka: Vec<u64> = a.steps.iter().map(|s| s.key).collect();
    let kb: Vec<u64> = b.steps.iter().map(|s| s.key).collect();
    let ops = align(&ka, &kb, &|i, j| cost(&a.steps[i], &b.steps[j]));
    let mut steps = Vec::with_capacity(ops.len());
    let mut counts = StepCounts::default();
    let mut row_a = vec![0; a.steps.len()];
    let mut row_b = vec![0; b.steps.len()];
    for (row, op) in ops.iter().enumerate() {
        let step = match *op {
            Op::Pair(i, j) => {
                row_a[i] = row;
                row_b[j] = row;
                let (sa, sb) = (&a.steps[i], &b.steps[j]);
                let same = cost(sa, sb) == 0;
                let tool_changes = tool_changes(a.state, b.state, sa, sb);
                counts.tool_changes += tool_changes.len();
                StepDiff {
                    op: if same { StepOp::Same } else { StepOp::Changed },
                    kind: (!same).then(|| change_kind(sa, sb)),
                    a: Some(sa.reference(i)),
                    b: Some(sb.reference(j)),
                    tool_changes,
                }
            }
            Op::OnlyA(i) => {
                row_a[i] = row;
                one_sided(StepOp::OnlyA, Some(a.steps[i].reference(i)), None)
            }
            Op::OnlyB(j) => {
                row_b[j] = row;
                one_sided(StepOp::OnlyB, None, Some(b.steps[j].reference(j)))
            }
        };
        match step.op {
            StepOp::Same => counts.same += 1,
            StepOp::Changed => counts.changed += 1,
            StepOp::OnlyA => counts.only_a += 1,
            StepOp::OnlyB => counts.only_b += 1,
        }
        steps.push(step);
    }
    let divergences = divergences(a, b, &steps, max_items);
    PairDiff {
        steps,
        counts,
        divergences,
        row_a,
        row_b,
    }
}

fn one_sided(
    op: StepOp,
    a: Option<super::report::StepRef>,
    b: Option<super::report::StepRef>,
) -> StepDiff {
    StepDiff {
        op,
        kind: None,
        a,
        b,
        tool_changes: Vec::new(),
    }
}

/// Every run of rows that are not `same`, with the cause seen at its first row.
fn divergences(
    a: ThreadSide<'_, '_>,
    b: ThreadSide<'_, '_>,
    rows: &[StepDiff],
    max_items: usize,
) -> Vec<(Divergence, Option<u64>)> {
    let step_of_a = step_index(a.steps);
    let step_of_b = step_index(b.steps);
    let side_a = Side {
        state: a.state,
        step_of: &step_of_a,
    };
    let side_b = Side {
        state: b.state,
        step_of: &step_of_b,
    };
    let mut out = Vec::new();
    let mut row = 0;
    while row < rows.len() {
        if rows[row].op == StepOp::Same {
            row += 1;
            continue;
        }
        let start = row;
        while row < rows.len() && rows[row].op != StepOp::Same {
            row += 1;
        }
        let first = &rows[start];
        let kind = match first.op {
            StepOp::OnlyA => ChangeKind::OnlyA,
            StepOp::OnlyB => ChangeKind::OnlyB,
            StepOp::Same | StepOp::Changed => first.kind.unwrap_or(ChangeKind::Text),
        };
        // The request each side's model was given at this point: its own step, else the
        // other side's counterpart is the step it would have made next (or, at the end, the
        // last one it made).
        let call_a = nearest(rows, start, |r| r.a.as_ref()).and_then(|i| a.steps.get(i));
        let call_b = nearest(rows, start, |r| r.b.as_ref()).and_then(|j| b.steps.get(j));
        let (items, total) = request_changes(
            (side_a, call_a.map(|s| s.call)),
            (side_b, call_b.map(|s| s.call)),
            max_items,
        );
        let at = [(a.state, call_a), (b.state, call_b)]
            .into_iter()
            .filter_map(|(state, step)| since_start(state, step?.call))
            .min();
        let divergence = Divergence {
            agent_path: a.agent_path.or(b.agent_path).map(str::to_owned),
            a_thread_id: a.thread_id.map(str::to_owned),
            b_thread_id: b.thread_id.map(str::to_owned),
            step: start,
            steps: row - start,
            kind,
            a: first.a.clone(),
            b: first.b.clone(),
            compared_requests: ComparedRequests {
                a: call_a.map(|s| s.call.inference_call_id.clone()),
                b: call_b.map(|s| s.call.inference_call_id.clone()),
            },
            differing_request_items: items,
            differing_request_items_total: total,
        };
        out.push((divergence, at));
    }
    out
}

/// The step index of one side at row `start`, else at the nearest later row, else the
/// nearest earlier one.
fn nearest<'r>(
    rows: &'r [StepDiff],
    start: usize,
    side: impl Fn(&'r StepDiff) -> Option<&'r super::report::StepRef>,
) -> Option<usize> {
    rows[start..]
        .iter()
        .find_map(&side)
        .or_else(|| rows[..start].iter().rev().find_map(&side))
        .map(|s| s.index)
}

/// Inference call id → its index among `steps`.
pub(super) fn step_index<'a>(steps: &[Step<'a>]) -> HashMap<&'a str, usize> {
    steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.call.inference_call_id.as_str(), i))
        .collect()
}

/// When `call` started, in ms since its rollout's start.
fn since_start(state: &RolloutState, call: &InferenceCall) -> Option<u64> {
    Some(
        call.execution
            .started_at_unix_ms
            .saturating_sub(state.started_at_unix_ms?),
    )
}

/// Tool calls both responses started, paired in order while their names agree, whose status
/// or output differ.
fn tool_changes(
    state_a: &RolloutState,
    state_b: &RolloutState,
    a: &Step<'_>,
    b: &Step<'_>,
) -> Vec<ToolChange> {
    let mut out = Vec::new();
    for (ta, tb) in a.tools.iter().zip(&b.tools) {
        if ta.tool != tb.tool {
            break;
        }
        let (oa, ob) = (outputs(state_a, ta), outputs(state_b, tb));
        let result = if oa.is_empty() || ob.is_empty() {
            ResultChange::Unknown
        } else if oa == ob {
            ResultChange::Same
        } else {
            ResultChange::Changed
        };
        let (sa, sb) = (ta.execution.status, tb.execution.status);
        if sa != sb || result == ResultChange::Changed {
            out.push(ToolChange {
                tool: ta.tool.clone().unwrap_or_else(|| "?".to_owned()),
                a_tool_call_id: ta.tool_call_id.clone(),
                b_tool_call_id: tb.tool_call_id.clone(),
                a_status: sa,
                b_status: sb,
                result,
            });
        }
    }
    out
}

/// The texts of the items where the model saw `tool`'s output.
fn outputs<'a>(state: &'a RolloutState, tool: &ToolCall) -> Vec<&'a str> {
    tool.output_items
        .iter()
        .filter_map(|id| state.conversation_items.get(id))
        .map(|item| item.text.as_str())
        .collect()
}
