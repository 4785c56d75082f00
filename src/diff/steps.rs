//! A thread as a sequence of steps: each inference call in start order with what its
//! response did (the tool calls it started, by name and arguments, and its message text, or
//! how it failed), and how two steps compare.
//!
//! Invariant: a step's identity is what the model did, never an id the run minted: call ids,
//! response ids, item ids and timings differ between two runs of the same behaviour and are
//! left out of [`Step::key`]; reasoning is left out too (it is how the model got there, not
//! what it did).

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use super::align::{DIFFERENT, SIMILAR};
use super::report::{ChangeKind, StepRef};
use crate::reduce::{kind_tag, InferenceCall, ItemKind, RolloutState, Status, ToolCall};

/// Longest step summary, in characters.
const SUMMARY_CHARS: usize = 160;

/// What a response did, in order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum Action<'a> {
    /// A tool call: name and arguments (as the response item carried them).
    Tool { name: &'a str, args: &'a str },
    /// Message text.
    Message { text: &'a str },
}

/// How a call ended, as far as its response goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Outcome<'a> {
    /// A response came back (its actions say what it did).
    Responded,
    /// The call failed (an API error, or the program said so).
    Failed { error_type: Option<&'a str> },
    /// No response: cancelled, aborted, never ended.
    Ended(Status),
}

/// One step of one thread.
#[derive(Debug)]
pub(super) struct Step<'a> {
    pub(super) call: &'a InferenceCall,
    pub(super) outcome: Outcome<'a>,
    pub(super) actions: Vec<Action<'a>>,
    /// Tool calls the response started, in order.
    pub(super) tools: Vec<&'a ToolCall>,
    /// Hash of the outcome and the actions: equal steps have equal keys.
    pub(super) key: u64,
}

impl<'a> Step<'a> {
    fn of(state: &'a RolloutState, call: &'a InferenceCall) -> Step<'a> {
        let mut actions = Vec::new();
        for id in &call.response_items {
            let Some(item) = state.conversation_items.get(id) else {
                continue;
            };
            match item.kind {
                ItemKind::Message => actions.push(Action::Message { text: &item.text }),
                // How the model got there, not what it did.
                ItemKind::Reasoning => {}
                // Results the provider or program produced, not the model's doing.
                ItemKind::FunctionCallOutput
                | ItemKind::CustomToolCallOutput
                | ItemKind::ComputerCallOutput
                | ItemKind::LocalShellCallOutput
                | ItemKind::McpApprovalResponse
                | ItemKind::ServerToolResult
                | ItemKind::CompactionMarker => {}
                ItemKind::FunctionCall
                | ItemKind::CustomToolCall
                | ItemKind::ComputerCall
                | ItemKind::LocalShellCall
                | ItemKind::WebSearchCall
                | ItemKind::FileSearchCall
                | ItemKind::CodeInterpreterCall
                | ItemKind::ImageGenerationCall
                | ItemKind::McpCall
                | ItemKind::McpListTools
                | ItemKind::McpApprovalRequest
                | ItemKind::ServerToolUse
                | ItemKind::Other => actions.push(Action::Tool {
                    name: item.name.as_deref().unwrap_or_else(|| kind_tag(item.kind)),
                    args: &item.text,
                }),
            }
        }
        let tools: Vec<&ToolCall> = call
            .tool_calls
            .iter()
            .filter_map(|id| state.tool_calls.get(id))
            .collect();
        if call.response_items.is_empty() {
            // No response payload: the tool calls it started are all that is known.
            for tool in &tools {
                let name = tool.tool.as_deref().or(tool.kind.as_deref()).unwrap_or("?");
                actions.push(Action::Tool { name, args: "" });
            }
        }
        let outcome = match call.execution.status {
            Status::Completed => Outcome::Responded,
            Status::Failed => Outcome::Failed {
                error_type: call.error_type.as_deref(),
            },
            status @ (Status::Running
            | Status::Cancelled
            | Status::Aborted
            | Status::Incomplete) => {
                if call.response_items.is_empty() {
                    Outcome::Ended(status)
                } else {
                    Outcome::Responded
                }
            }
        };
        let mut hasher = DefaultHasher::new();
        outcome.hash(&mut hasher);
        actions.hash(&mut hasher);
        Step {
            call,
            outcome,
            actions,
            tools,
            key: hasher.finish(),
        }
    }

    /// The tool names of the actions, in order.
    fn tool_names(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.actions.iter().filter_map(|a| match a {
            Action::Tool { name, .. } => Some(*name),
            Action::Message { .. } => None,
        })
    }

    /// The step as a report names it, at `index` in its thread.
    pub(super) fn reference(&self, index: usize) -> StepRef {
        StepRef {
            index,
            inference_call_id: self.call.inference_call_id.clone(),
            turn_id: self.call.turn_id.clone(),
            model: self.call.model.clone(),
            status: self.call.execution.status,
            summary: self.summary(),
        }
    }

    /// What the response did, readably and capped.
    fn summary(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        match self.outcome {
            Outcome::Responded => {}
            Outcome::Failed { error_type } => parts.push(match error_type {
                Some(t) => format!("failed ({t})"),
                None => "failed".to_owned(),
            }),
            Outcome::Ended(status) => parts.push(format!("{} (no response)", status.as_str())),
        }
        for action in &self.actions {
            parts.push(match action {
                Action::Tool { name, args: "" } => (*name).to_owned(),
                Action::Tool { name, args } => format!("{name} {}", one_line(args)),
                Action::Message { text } => format!("message {:?}", one_line(text)),
            });
        }
        if parts.is_empty() {
            parts.push("no output".to_owned());
        }
        cut(&parts.join("; "), SUMMARY_CHARS)
    }
}

/// Text on one line: runs of whitespace become one space.
pub(super) fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `text` cut to at most `max` characters, with `…` when cut.
pub(super) fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some((at, _)) => format!("{}…", &text[..at]),
    }
}

/// The cost of pairing two steps (see `align`): 0 when equal, [`SIMILAR`] when they did the
/// same kind of thing (the same tools with other arguments, or both only text), else
/// [`DIFFERENT`].
pub(super) fn cost(a: &Step<'_>, b: &Step<'_>) -> u32 {
    if a.key == b.key && a.outcome == b.outcome && a.actions == b.actions {
        return 0;
    }
    if change_kind(a, b) == ChangeKind::Outcome || !a.tool_names().eq(b.tool_names()) {
        return DIFFERENT;
    }
    SIMILAR
}

/// How two unequal aligned steps differ.
pub(super) fn change_kind(a: &Step<'_>, b: &Step<'_>) -> ChangeKind {
    let responded = |s: &Step<'_>| s.outcome == Outcome::Responded;
    if a.outcome != b.outcome && !(responded(a) && responded(b)) {
        return ChangeKind::Outcome;
    }
    if !a.tool_names().eq(b.tool_names()) {
        return ChangeKind::Tool;
    }
    if tool_args(a) != tool_args(b) {
        return ChangeKind::Arguments;
    }
    ChangeKind::Text
}

fn tool_args<'a>(s: &Step<'a>) -> Vec<&'a str> {
    s.actions
        .iter()
        .filter_map(|x| match x {
            Action::Tool { args, .. } => Some(*args),
            Action::Message { .. } => None,
        })
        .collect()
}

/// Every thread's steps: its inference calls in start order.
pub(super) fn steps_by_thread(state: &RolloutState) -> HashMap<&str, Vec<Step<'_>>> {
    let mut calls: HashMap<&str, Vec<&InferenceCall>> = HashMap::new();
    for call in state.inference_calls.values() {
        if let Some(thread) = call.thread_id.as_deref() {
            calls.entry(thread).or_default().push(call);
        }
    }
    calls
        .into_iter()
        .map(|(thread, mut list)| {
            list.sort_by_key(|c| c.execution.started_seq);
            (
                thread,
                list.into_iter().map(|c| Step::of(state, c)).collect(),
            )
        })
        .collect()
}
