//! Readers of a reduced rollout graph, shaped for comparing whole values: the calls of a turn,
//! a thread's conversation, the edges of one kind, the diagnostics' messages.
//!
//! Also compiled into `tests/rig` (`#[path]`), so it needs nothing but `anyhow` and
//! `tracing-rollout`; each crate uses a part of it, hence the `allow`.
#![allow(dead_code, unreachable_pub)]

use anyhow::{ensure, Context as _, Result};
use tracing_rollout::reduce::{
    DiagnosticLevel, Edge, EdgeKind, InferenceCall, Requester, RolloutState, Thread, Turn,
};

/// An error listing every diagnostic above info, if there is one.
pub fn no_warnings(state: &RolloutState) -> Result<()> {
    let loud: Vec<_> = state
        .diagnostics
        .iter()
        .filter(|d| d.level != DiagnosticLevel::Info)
        .collect();
    ensure!(loud.is_empty(), "diagnostics above info: {loud:#?}");
    Ok(())
}

/// The messages of every diagnostic, in order.
pub fn messages(state: &RolloutState) -> Vec<&str> {
    state
        .diagnostics
        .iter()
        .map(|d| d.message.as_str())
        .collect()
}

/// The inference calls of `turn`, in its order.
pub fn turn_calls<'a>(state: &'a RolloutState, turn: &Turn) -> Vec<&'a InferenceCall> {
    turn.inference_calls
        .iter()
        .map(|id| &state.inference_calls[id])
        .collect()
}

/// The one turn of `thread` (an error naming its turns otherwise).
pub fn only_turn<'a>(state: &'a RolloutState, thread: &Thread) -> Result<&'a Turn> {
    ensure!(
        thread.turns.len() == 1,
        "turns of {}: {:?}",
        thread.thread_id,
        thread.turns
    );
    Ok(&state.turns[&thread.turns[0]])
}

/// The first thread that is not `thread`.
pub fn other_thread<'a>(state: &'a RolloutState, thread: &Thread) -> Result<&'a Thread> {
    state
        .threads
        .values()
        .find(|t| t.thread_id != thread.thread_id)
        .with_context(|| format!("no thread besides {}", thread.thread_id))
}

/// `thread`'s conversation as (role, call id, text), in order.
pub fn conversation(
    state: &RolloutState,
    thread: &Thread,
) -> Vec<(String, Option<String>, String)> {
    thread
        .conversation
        .iter()
        .map(|id| {
            let item = &state.conversation_items[id];
            (
                item.role.clone().unwrap_or_default(),
                item.call_id.clone(),
                item.text.clone(),
            )
        })
        .collect()
}

/// The texts of `thread`'s conversation, in order.
pub fn texts(state: &RolloutState, thread: &Thread) -> Vec<String> {
    thread
        .conversation
        .iter()
        .map(|id| state.conversation_items[id].text.clone())
        .collect()
}

/// The edges of `kind`, in the graph's order.
pub fn edges_of(state: &RolloutState, kind: EdgeKind) -> Vec<&Edge> {
    state.edges.values().filter(|e| e.kind == kind).collect()
}

/// The requester of a tool call the model asked for in `call`.
pub fn model_of(call: &InferenceCall) -> Requester {
    Requester::Model {
        inference_call_id: Some(call.inference_call_id.clone()),
    }
}
