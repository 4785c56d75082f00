//! The README's demo, run as a test: the same agent code as `examples/multi_agent`, recorded
//! through the real layer on a multi-threaded tokio runtime, and its graph checked.
//!
//! One test per file: it installs the global subscriber, which tokio's worker threads need.

#[path = "../examples/multi_agent/agent.rs"]
mod agent;

use std::collections::BTreeMap;

use anyhow::Context as _;
use pretty_assertions::assert_eq;
use tracing_rollout::reduce::{
    reduce_bundle, Anchor, EdgeKind, Requester, RolloutState, Status, Usage,
};
use tracing_rollout::RolloutLayer;
use tracing_subscriber::prelude::*;

#[test]
fn the_demo_rollout_reduces_to_the_expected_multi_agent_graph() -> anyhow::Result<()> {
    let root = tempfile::tempdir()?;
    let (layer, guard) = RolloutLayer::builder().root_dir(root.path()).build()?;
    tracing_subscriber::registry().with(layer).try_init()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(agent::run_rollout("demo"));
    let stats = guard.finish()?;
    assert_eq!(stats.bundles.len(), 1);
    assert_eq!(stats.dropped_records, 0);
    assert_eq!(stats.io_errors, 0);
    let state = reduce_bundle(&stats.bundles[0])?;

    assert!(state.complete, "{:?}", state.diagnostics);
    assert_eq!(state.diagnostics, vec![]);
    assert_eq!(state.status, Status::Completed);
    assert_eq!(state.root_thread_id.as_deref(), Some("lead"));
    assert_eq!(state.trace_id.as_deref(), Some("demo-trace-0001"));

    check_threads(&state);
    check_edges(&state);
    check_tools(&state)?;
    check_sessions_and_usage(&state)
}

/// Threads and their parents.
fn check_threads(state: &RolloutState) {
    let parents: BTreeMap<&str, Option<&str>> = state
        .threads
        .values()
        .map(|t| (t.thread_id.as_str(), t.parent_thread_id.as_deref()))
        .collect();
    assert_eq!(
        parents,
        BTreeMap::from([
            ("fixer", Some("lead")),
            ("lead", None),
            ("researcher", Some("lead"))
        ])
    );
    assert_eq!(state.threads["lead"].children, vec!["researcher", "fixer"]);
    for thread in state.threads.values() {
        assert_eq!(
            thread.execution.status,
            Status::Completed,
            "{}",
            thread.thread_id
        );
        assert_eq!(thread.attachments, 1);
    }
    assert_eq!(state.threads["researcher"].turns.len(), 2);
    assert_eq!(state.threads["fixer"].turns.len(), 2);
}

/// Every edge kind, delivered to the item that carries its text.
fn check_edges(state: &RolloutState) {
    let mut kinds: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for edge in state.edges.values() {
        let entry = kinds.entry(format!("{:?}", edge.kind)).or_default();
        entry.0 += 1;
        entry.1 += usize::from(edge.delivered);
        match edge.kind {
            EdgeKind::Spawn | EdgeKind::Message | EdgeKind::Task | EdgeKind::Result => {
                let Anchor::ConversationItem(item) = &edge.to else {
                    panic!("{} not delivered to an item: {:?}", edge.edge_id, edge.to);
                };
                let text = &state.conversation_items[item].text;
                let message = edge.message.as_deref().unwrap_or_default();
                assert!(text.contains(message), "{text} lacks {message}");
            }
            EdgeKind::Close => assert!(matches!(&edge.to, Anchor::Thread(_))),
            EdgeKind::Link => {}
        }
    }
    let expected: BTreeMap<String, (usize, usize)> = [
        ("Close", (2, 2)),
        ("Link", (1, 1)),
        ("Message", (1, 1)),
        ("Result", (4, 4)),
        ("Spawn", (2, 2)),
        ("Task", (1, 1)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(kinds, expected);
    let result_sources_are_child_items = state
        .edges
        .values()
        .filter(|e| e.kind == EdgeKind::Result)
        .all(|e| matches!(&e.from, Anchor::ConversationItem(i) if state.conversation_items[i].thread_id != "lead"));
    assert!(result_sources_are_child_items);
}

/// Tool requesters: the model for direct calls, the code cell for its nested calls.
fn check_tools(state: &RolloutState) -> anyhow::Result<()> {
    let mut requesters: BTreeMap<&str, usize> = BTreeMap::new();
    for tool in state.tool_calls.values() {
        let key = match &tool.requester {
            Requester::Model {
                inference_call_id: Some(_),
            } => "model",
            Requester::Model {
                inference_call_id: None,
            } => "model (unlinked)",
            Requester::CodeCell { .. } => "code_cell",
            Requester::Runtime => "runtime",
        };
        *requesters.entry(key).or_default() += 1;
        assert_eq!(tool.execution.status, Status::Completed);
    }
    assert_eq!(
        requesters,
        BTreeMap::from([("code_cell", 2), ("model", 10)])
    );
    let cell = state.code_cells.values().next().context("one code cell")?;
    assert!(cell.source_item.is_some());
    assert_eq!(cell.output_items.len(), 1);
    Ok(())
}

/// One terminal session, one compaction, both provider shapes, and the token totals.
fn check_sessions_and_usage(state: &RolloutState) -> anyhow::Result<()> {
    // One terminal session, an exec then a write.
    let terminal = &state.terminals["pty-1"];
    let ops: Vec<_> = terminal
        .operations
        .iter()
        .map(|id| state.terminal_operations[id].op.clone().unwrap_or_default())
        .collect();
    assert_eq!(ops, vec!["exec", "write"]);

    // One compaction with its boundary; both provider shapes understood.
    let compaction = &state.compactions["compaction-1"];
    assert!(compaction.marker_item.is_some());
    assert_eq!(compaction.replacement_items.len(), 2);
    let formats: std::collections::BTreeSet<_> = state
        .inference_calls
        .values()
        .filter_map(|c| c.payload_format.as_deref())
        .collect();
    assert_eq!(formats, ["anthropic_messages", "openai_responses"].into());

    // Token totals: the lead's canned usage plus four Anthropic turns.
    let mut total = Usage::default();
    for call in state.inference_calls.values() {
        total.add(call.usage.as_ref().context("every call has usage")?);
    }
    assert_eq!(
        total,
        Usage {
            input_tokens: 8586,
            output_tokens: 588,
            cached_input_tokens: 3881,
            reasoning_tokens: 105,
            cache_write_input_tokens: 0,
        }
    );
    Ok(())
}
