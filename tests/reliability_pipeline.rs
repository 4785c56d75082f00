//! The whole pipeline as a property: random trees of rollout spans (agent threads on their
//! own OS threads, turns, inference calls, tool calls, code cells with nested tools,
//! terminal operations, follows-from links, payloads, explicit statuses) go through the real
//! layer and writer into a bundle, and the reduced graph has exactly the spans, parents,
//! statuses and counts that were emitted.

use std::collections::BTreeMap;

use anyhow::{ensure, Result};
use pretty_assertions::assert_eq;
use proptest::prelude::*;
use tracing::field::Empty;
use tracing::{info, info_span, Span};
use tracing_rollout::reduce::{reduce_bundle, EdgeKind, Requester, RolloutState, Status};
use tracing_rollout::RolloutLayer;
use tracing_subscriber::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum St {
    Completed,
    Failed,
    Cancelled,
}

impl St {
    fn as_status(self) -> Status {
        match self {
            St::Completed => Status::Completed,
            St::Failed => Status::Failed,
            St::Cancelled => Status::Cancelled,
        }
    }

    /// Records the status on `span` (failures with an `error` text as well).
    fn record(self, span: &Span) {
        match self {
            St::Completed => span.record("status", "completed"),
            St::Failed => span.record("status", "failed").record("error", "boom"),
            St::Cancelled => span.record("status", "cancelled"),
        };
    }
}

#[derive(Debug, Clone)]
enum Op {
    Inference {
        st: St,
        payloads: u8,
    },
    Tool {
        st: St,
        payloads: u8,
    },
    Cell {
        st: St,
        tools: Vec<St>,
    },
    Terminal {
        st: St,
    },
    /// A tool that `follows_from` the latest inference call of its turn (if any).
    LinkedTool {
        st: St,
    },
}

#[derive(Debug, Clone)]
struct TurnPlan {
    st: St,
    ops: Vec<Op>,
}

/// Thread 0 is the root; the others are its children, each on its own OS thread.
#[derive(Debug, Clone)]
struct Plan {
    threads: Vec<Vec<TurnPlan>>,
}

fn st() -> impl Strategy<Value = St> {
    prop_oneof![
        3 => Just(St::Completed),
        1 => Just(St::Failed),
        1 => Just(St::Cancelled),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (st(), 0u8..3).prop_map(|(st, payloads)| Op::Inference { st, payloads }),
        (st(), 0u8..3).prop_map(|(st, payloads)| Op::Tool { st, payloads }),
        (st(), proptest::collection::vec(st(), 0..3))
            .prop_map(|(st, tools)| Op::Cell { st, tools }),
        st().prop_map(|st| Op::Terminal { st }),
        st().prop_map(|st| Op::LinkedTool { st }),
    ]
}

fn plan() -> impl Strategy<Value = Plan> {
    let turn =
        (st(), proptest::collection::vec(op(), 0..6)).prop_map(|(st, ops)| TurnPlan { st, ops });
    proptest::collection::vec(proptest::collection::vec(turn, 0..4), 1..5)
        .prop_map(|threads| Plan { threads })
}

fn thread_id(i: usize) -> String {
    if i == 0 {
        "root".to_owned()
    } else {
        format!("child-{i}")
    }
}

fn payloads(n: u8, role: &str) {
    for i in 0..n {
        info!(name: "rollout.payload", role = role, payload = tracing_rollout::json(&serde_json::json!({"n": i})));
    }
}

fn emit_thread(index: usize, turns: &[TurnPlan], parent: Option<&Span>) {
    let id = thread_id(index);
    let thread = match parent {
        Some(parent) => {
            info_span!(parent: parent, "rollout.thread", thread_id = %id, parent_thread_id = "root")
        }
        None => info_span!("rollout.thread", thread_id = %id),
    };
    thread.in_scope(|| emit_turns(&id, turns));
}

/// The turns of thread `id`, inside its entered span.
fn emit_turns(id: &str, turns: &[TurnPlan]) {
    for (t, plan) in turns.iter().enumerate() {
        let turn = info_span!("rollout.turn", turn_id = %format!("{id}-t{t}"), status = Empty, error = Empty);
        let _turn = turn.enter();
        let mut last_inference: Option<Span> = None;
        for (o, op) in plan.ops.iter().enumerate() {
            match op {
                Op::Inference { st, payloads: n } => {
                    let span = info_span!(
                        "rollout.inference",
                        model = "m",
                        status = Empty,
                        error = Empty
                    );
                    span.in_scope(|| payloads(*n, "metadata"));
                    st.record(&span);
                    last_inference = Some(span);
                }
                Op::Tool { st, payloads: n } => {
                    let span = info_span!("rollout.tool", tool = "t", call_id = %format!("{id}-{t}-{o}"), status = Empty, error = Empty);
                    span.in_scope(|| payloads(*n, "result"));
                    st.record(&span);
                }
                Op::Cell { st, tools } => {
                    let cell = info_span!("rollout.code_cell", cell_id = %format!("{id}-{t}-{o}"), status = Empty, error = Empty);
                    cell.in_scope(|| {
                        for (k, tool_st) in tools.iter().enumerate() {
                            let tool = info_span!("rollout.tool", tool = "nested", call_id = %format!("{id}-{t}-{o}-{k}"), status = Empty, error = Empty);
                            tool_st.record(&tool);
                        }
                    });
                    st.record(&cell);
                }
                Op::Terminal { st } => {
                    let span = info_span!(
                        "rollout.terminal",
                        terminal_id = "term",
                        op = "exec",
                        command = "ls",
                        status = Empty,
                        error = Empty
                    );
                    st.record(&span);
                }
                Op::LinkedTool { st } => {
                    let span = info_span!("rollout.tool", tool = "linked", call_id = %format!("{id}-{t}-{o}"), status = Empty, error = Empty);
                    if let Some(inference) = &last_inference {
                        span.follows_from(inference);
                    }
                    st.record(&span);
                }
            }
        }
        plan.st.record(&turn);
    }
}

/// What the graph must hold, derived from the plan alone.
#[derive(Debug, Default, PartialEq)]
struct Expected {
    threads: BTreeMap<String, (Option<String>, Vec<String>)>,
    turns: BTreeMap<String, (String, Status)>,
    /// (thread, turn, status, requested by a code cell) per tool call, sorted.
    tools: Vec<(String, String, Status, bool)>,
    inferences: Vec<(String, String, Status)>,
    cells: Vec<(String, String, Status, usize)>,
    terminal_ops: Vec<Status>,
    links: usize,
    payloads: usize,
}

fn expected(plan: &Plan) -> Expected {
    let mut e = Expected::default();
    for (i, turns) in plan.threads.iter().enumerate() {
        let id = thread_id(i);
        let turn_ids: Vec<String> = (0..turns.len()).map(|t| format!("{id}-t{t}")).collect();
        e.threads
            .insert(id.clone(), ((i > 0).then(|| "root".to_owned()), turn_ids));
        for (t, turn) in turns.iter().enumerate() {
            let turn_id = format!("{id}-t{t}");
            e.turns
                .insert(turn_id.clone(), (id.clone(), turn.st.as_status()));
            let mut inference_seen = false;
            for op in &turn.ops {
                let at = (id.clone(), turn_id.clone());
                match op {
                    Op::Inference { st, payloads } => {
                        inference_seen = true;
                        e.inferences.push((at.0, at.1, st.as_status()));
                        e.payloads += usize::from(*payloads);
                    }
                    Op::Tool { st, payloads } => {
                        e.tools.push((at.0, at.1, st.as_status(), false));
                        e.payloads += usize::from(*payloads);
                    }
                    Op::Cell { st, tools } => {
                        for tool in tools {
                            e.tools
                                .push((at.0.clone(), at.1.clone(), tool.as_status(), true));
                        }
                        e.cells.push((at.0, at.1, st.as_status(), tools.len()));
                    }
                    Op::Terminal { st } => e.terminal_ops.push(st.as_status()),
                    Op::LinkedTool { st } => {
                        e.tools.push((at.0, at.1, st.as_status(), false));
                        e.links += usize::from(inference_seen);
                    }
                }
            }
        }
    }
    e.tools.sort();
    e.inferences.sort();
    e.cells.sort();
    e.terminal_ops.sort();
    e
}

fn observed(state: &RolloutState) -> Expected {
    let mut o = Expected::default();
    for (id, thread) in &state.threads {
        o.threads.insert(
            id.clone(),
            (thread.parent_thread_id.clone(), thread.turns.clone()),
        );
    }
    for (id, turn) in &state.turns {
        o.turns
            .insert(id.clone(), (turn.thread_id.clone(), turn.execution.status));
    }
    for tool in state.tool_calls.values() {
        o.tools.push((
            tool.thread_id.clone().unwrap_or_default(),
            tool.turn_id.clone().unwrap_or_default(),
            tool.execution.status,
            matches!(tool.requester, Requester::CodeCell { .. }),
        ));
    }
    for call in state.inference_calls.values() {
        o.inferences.push((
            call.thread_id.clone().unwrap_or_default(),
            call.turn_id.clone().unwrap_or_default(),
            call.execution.status,
        ));
    }
    for cell in state.code_cells.values() {
        o.cells.push((
            cell.thread_id.clone().unwrap_or_default(),
            cell.turn_id.clone().unwrap_or_default(),
            cell.execution.status,
            cell.tool_calls.len(),
        ));
    }
    o.terminal_ops = state
        .terminal_operations
        .values()
        .map(|op| op.execution.status)
        .collect();
    o.links = state
        .edges
        .values()
        .filter(|e| e.kind == EdgeKind::Link)
        .count();
    o.payloads = state.payloads.len();
    o.tools.sort();
    o.inferences.sort();
    o.cells.sort();
    o.terminal_ops.sort();
    o
}

fn run(plan: &Plan) -> Result<RolloutState> {
    let root = tempfile::tempdir()?;
    let (layer, guard) = RolloutLayer::builder()
        .root_dir(root.path())
        .max_buffered_bytes(16 * 1024)
        .build()?;
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&dispatch, || {
        let _rollout = info_span!("rollout", rollout_id = "prop").entered();
        let root_thread = info_span!("rollout.thread", thread_id = "root");
        // The children run while the root thread span is open, each on its own OS thread.
        std::thread::scope(|s| {
            for (i, turns) in plan.threads.iter().enumerate().skip(1) {
                let (dispatch, root_thread) = (&dispatch, &root_thread);
                s.spawn(move || {
                    tracing::dispatcher::with_default(dispatch, || {
                        emit_thread(i, turns, Some(root_thread));
                    });
                });
            }
            root_thread.in_scope(|| emit_turns("root", &plan.threads[0]));
        });
    });
    let stats = guard.finish()?;
    ensure!(stats.bundles.len() == 1, "bundles: {:?}", stats.bundles);
    ensure!(stats.dropped_records == 0 && stats.io_errors == 0);
    Ok(reduce_bundle(&stats.bundles[0])?)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 48,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_reduced_graph_has_exactly_what_was_emitted(plan in plan()) {
        let state = run(&plan).map_err(|e| TestCaseError::fail(format!("{e:#}")))?;
        prop_assert!(state.complete, "diagnostics: {:?}", state.diagnostics);
        prop_assert_eq!(state.status, Status::Completed);
        assert_eq!(observed(&state), expected(&plan));
    }
}
