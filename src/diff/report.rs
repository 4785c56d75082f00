//! The diff report: the schema `tracing-rollout diff --json` prints, documented as a spec.
//!
//! Invariant: the report is a pure function of the two graphs (no clock, no paths), and its
//! JSON is stable: fields are only ever added (with `serde(default)`), never renamed or
//! reordered, and [`DIFF_FORMAT_VERSION`] changes when a meaning does.
//!
//! Every type here is public (re-exported from [`diff`](super)); the JSON it makes is
//! described as a whole in the module documentation of `diff`, and field by field here.

use serde::{Deserialize, Serialize};

use crate::cost::CostTotals;
use crate::reduce::{ItemKind, Status};

/// Value of `format` in a diff report.
pub const DIFF_FORMAT: &str = "tracing-rollout/diff";
/// Version of the diff report's schema.
pub const DIFF_FORMAT_VERSION: u32 = 1;

/// Where two rollouts diverge, thread by thread and step by step, and their totals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diff {
    /// Always [`DIFF_FORMAT`].
    pub format: String,
    /// [`DIFF_FORMAT_VERSION`].
    pub format_version: u32,
    /// The first rollout.
    pub a: RunRef,
    /// The second rollout.
    pub b: RunRef,
    /// The earliest divergence of any thread, by time since each rollout's start; `None`
    /// when every aligned step of every thread agrees (threads of one side only count: their
    /// first step is a divergence).
    pub first_divergence: Option<Divergence>,
    /// The aligned threads, depth first: a parent pair before its children.
    pub threads: Vec<ThreadDiff>,
    /// Totals of both sides and their differences.
    pub totals: Totals,
}

/// One side of a diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRef {
    /// The rollout id.
    pub rollout_id: String,
    /// The rollout's final status.
    pub status: Status,
}

/// How a pair of threads was matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchedBy {
    /// Both are root threads (the first of each side's roots, in start order).
    Root,
    /// Same `agent_path`.
    AgentPath,
    /// Same `nickname`.
    Nickname,
    /// Spawned by aligned steps of aligned parents.
    SpawnStep,
    /// The n-th unmatched child of aligned parents on each side, in spawn order.
    SpawnOrder,
}

impl MatchedBy {
    /// The word used in the report.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchedBy::Root => "root",
            MatchedBy::AgentPath => "agent_path",
            MatchedBy::Nickname => "nickname",
            MatchedBy::SpawnStep => "spawn_step",
            MatchedBy::SpawnOrder => "spawn_order",
        }
    }
}

/// One aligned pair of threads, or a thread only one side has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThreadDiff {
    /// The agent path (A's, else B's).
    pub agent_path: Option<String>,
    /// The agent's nickname (A's, else B's), when it has one: what tells apart agents that
    /// share a path (Codex's multi-agent v1 gives a child its parent's path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nickname: Option<String>,
    /// The thread in A, if A has it.
    pub a_thread_id: Option<String>,
    /// The thread in B, if B has it.
    pub b_thread_id: Option<String>,
    /// How the two were matched; `None` for a thread of one side only.
    pub matched_by: Option<MatchedBy>,
    /// A's thread's final status.
    pub a_status: Option<Status>,
    /// B's thread's final status.
    pub b_status: Option<Status>,
    /// Index (in [`Diff::threads`]) of the parent pair, for a child thread.
    pub parent: Option<usize>,
    /// Index in the parent's `steps` of the step whose response spawned this thread (A's
    /// spawning step, else B's), when known.
    pub spawned_at_step: Option<usize>,
    /// How many steps are of each op.
    pub counts: StepCounts,
    /// The aligned steps.
    pub steps: Vec<StepDiff>,
    /// Every run of steps that are not `same`, in step order: the first is this thread's
    /// first divergence.
    pub divergences: Vec<Divergence>,
}

/// How many aligned steps are of each op, and how many tool calls changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepCounts {
    /// Steps whose responses did the same.
    pub same: usize,
    /// Aligned steps whose responses differ.
    pub changed: usize,
    /// Steps only A has.
    pub only_a: usize,
    /// Steps only B has.
    pub only_b: usize,
    /// Paired tool calls whose status or result differ.
    pub tool_changes: usize,
}

/// What became of a step in the alignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepOp {
    /// Both responses did the same.
    Same,
    /// Aligned, but the responses differ.
    Changed,
    /// Only A has this step.
    OnlyA,
    /// Only B has this step.
    OnlyB,
}

impl StepOp {
    /// The word used in the report.
    pub fn as_str(self) -> &'static str {
        match self {
            StepOp::Same => "same",
            StepOp::Changed => "changed",
            StepOp::OnlyA => "only_a",
            StepOp::OnlyB => "only_b",
        }
    }
}

/// How two aligned responses differ, or which side a step is missing from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// One response came back and the other did not (failed, cancelled, never ended), or
    /// they failed differently.
    Outcome,
    /// Different tools were called (or a tool on one side, only text on the other).
    Tool,
    /// The same tools, with different arguments.
    Arguments,
    /// The same tool calls, different message text.
    Text,
    /// A step only A has.
    OnlyA,
    /// A step only B has.
    OnlyB,
}

impl ChangeKind {
    /// The word used in the report.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Outcome => "outcome",
            ChangeKind::Tool => "tool",
            ChangeKind::Arguments => "arguments",
            ChangeKind::Text => "text",
            ChangeKind::OnlyA => "only_a",
            ChangeKind::OnlyB => "only_b",
        }
    }
}

/// One step of one side: an inference call and what its response did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRef {
    /// Position among its thread's steps (inference calls in start order).
    pub index: usize,
    /// The inference call.
    pub inference_call_id: String,
    /// Its turn.
    pub turn_id: Option<String>,
    /// The model asked.
    pub model: Option<String>,
    /// The call's status.
    pub status: Status,
    /// What the response did, readably: `tool {arguments}`, `message "text"`, `failed
    /// (error type)`, joined by `; ` (capped).
    pub summary: String,
}

/// One aligned step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepDiff {
    /// `same`, `changed`, `only_a` or `only_b`.
    pub op: StepOp,
    /// How the responses differ (`changed` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<ChangeKind>,
    /// A's step, unless `only_b`.
    pub a: Option<StepRef>,
    /// B's step, unless `only_a`.
    pub b: Option<StepRef>,
    /// Tool calls of both responses, paired in order by name, whose status or result
    /// differ (completed in A, failed in B).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_changes: Vec<ToolChange>,
}

/// A tool call both responses started whose status or result differ.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolChange {
    /// The tool's name.
    pub tool: String,
    /// A's tool call.
    pub a_tool_call_id: String,
    /// B's tool call.
    pub b_tool_call_id: String,
    /// A's call's status.
    pub a_status: Status,
    /// B's call's status.
    pub b_status: Status,
    /// Whether the output the model was shown differs.
    pub result: ResultChange,
}

/// Whether a tool call's output (as the model saw it) differs between the sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResultChange {
    /// The same output.
    Same,
    /// A different output.
    Changed,
    /// At least one side's model never saw an output.
    Unknown,
}

impl ResultChange {
    /// The word used in the report.
    pub fn as_str(self) -> &'static str {
        match self {
            ResultChange::Same => "same",
            ResultChange::Changed => "changed",
            ResultChange::Unknown => "unknown",
        }
    }
}

/// A run of consecutive steps that are not `same`, and what the model saw differently at its
/// first pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Divergence {
    /// The thread's agent path (A's, else B's).
    pub agent_path: Option<String>,
    /// A's thread.
    pub a_thread_id: Option<String>,
    /// B's thread.
    pub b_thread_id: Option<String>,
    /// Index in the thread's `steps` of the first step of the run.
    pub step: usize,
    /// How many steps the run has.
    pub steps: usize,
    /// How the first pair differs.
    pub kind: ChangeKind,
    /// A's first step of the run (`None` when it starts with a step only B has).
    pub a: Option<StepRef>,
    /// B's first step of the run (`None` when it starts with a step only A has).
    pub b: Option<StepRef>,
    /// The two inference calls whose requests were compared: the first pair, or for a step
    /// of one side only, the other side's next step (else its previous one).
    pub compared_requests: ComparedRequests,
    /// What differs between those two requests, at most [`DiffOptions`](super::DiffOptions)
    /// `max_request_items` entries: a different model or provider first, then items in
    /// request order.
    pub differing_request_items: Vec<RequestItemChange>,
    /// How many differences there are in all (the list may be cut).
    pub differing_request_items_total: usize,
}

/// The inference calls whose requests a divergence compares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComparedRequests {
    /// A's call.
    pub a: Option<String>,
    /// B's call.
    pub b: Option<String>,
}

/// What part of a request differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Location {
    /// A conversation item of the request.
    Item,
    /// The model asked.
    Model,
    /// The provider asked.
    Provider,
}

/// How one request differs from the other at one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// Both have it, with different content.
    Changed,
    /// Only A's request has it.
    OnlyA,
    /// Only B's request has it.
    OnlyB,
}

/// One difference between the two requests of a divergence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestItemChange {
    /// An item, the model or the provider.
    pub location: Location,
    /// Changed, or present on one side only.
    pub change: Change,
    /// A's side (`None` for `only_b`).
    pub a: Option<ItemSide>,
    /// B's side (`None` for `only_a`).
    pub b: Option<ItemSide>,
}

/// One side of a [`RequestItemChange`]: an item with where it came from, or a model or
/// provider name (then only `text` is set).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemSide {
    /// Position in the request's items.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    /// The conversation item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_id: Option<String>,
    /// Its kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<ItemKind>,
    /// Its role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Its tool name (call items).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its text (capped), or the model or provider name.
    pub text: String,
    /// Where the item came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
}

/// Where a request item came from, relative to the step whose request holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Origin {
    /// The output of a tool call started by an earlier step's response.
    ToolResult {
        /// The tool's name.
        tool: Option<String>,
        /// The tool call.
        tool_call_id: String,
        /// The step that started it (index in its side's thread steps), if known.
        step: Option<usize>,
        /// How many steps before the diverging one that was.
        steps_before: Option<usize>,
    },
    /// What an earlier step's response produced (its message or tool call).
    Response {
        /// The inference call.
        inference_call_id: String,
        /// Its step index, if in this thread.
        step: Option<usize>,
        /// How many steps before the diverging one.
        steps_before: Option<usize>,
    },
    /// The output of a code cell.
    CodeCellOutput {
        /// The cell.
        code_cell_id: String,
    },
    /// A compaction's replacement history.
    Compaction {
        /// The compaction.
        compaction_id: String,
    },
    /// A message delivered by another agent (spawn task, message, result).
    Delivery {
        /// The delivery edge.
        edge_id: String,
    },
    /// A system or developer message the program gave (the system prompt).
    Instructions,
    /// Input the program gave (a user message, or an item of unknown origin).
    Input,
}

/// Totals of both sides and their differences.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    /// The currency of `cost`, when prices were given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// A's totals.
    pub a: RunTotals,
    /// B's totals.
    pub b: RunTotals,
    /// `b − a` for every count.
    pub delta: TotalsDelta,
}

/// The totals of one rollout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunTotals {
    /// Final status.
    pub status: Status,
    /// False when the log was torn or spans never ended.
    pub complete: bool,
    /// Wall time from the first record to the rollout's end, in ms.
    pub duration_ms: Option<u64>,
    /// Threads.
    pub threads: usize,
    /// Turns.
    pub turns: usize,
    /// Inference calls.
    pub inference_calls: usize,
    /// Inference calls that failed.
    pub failed_inference_calls: usize,
    /// Tool calls.
    pub tool_calls: usize,
    /// Tool calls that failed.
    pub failed_tool_calls: usize,
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Prompt tokens served from cache.
    pub cached_input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
    /// Reasoning tokens.
    pub reasoning_tokens: u64,
    /// Delivery edges whose recipient's model never saw the text.
    pub undelivered_edges: usize,
    /// Cost in the prices' currency, when prices were given and every inference call could
    /// be priced (see `priced` otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<f64>,
    /// With prices: the priced calls' cost by token kind, how many calls were priced and how
    /// many not, and the models the prices lack.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priced: Option<CostTotals>,
}

/// `b − a` for each count of [`RunTotals`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TotalsDelta {
    /// Duration, ms (`None` unless both are known).
    pub duration_ms: Option<i64>,
    /// Threads.
    pub threads: i64,
    /// Turns.
    pub turns: i64,
    /// Inference calls.
    pub inference_calls: i64,
    /// Failed inference calls.
    pub failed_inference_calls: i64,
    /// Tool calls.
    pub tool_calls: i64,
    /// Failed tool calls.
    pub failed_tool_calls: i64,
    /// Prompt tokens.
    pub input_tokens: i64,
    /// Cached prompt tokens.
    pub cached_input_tokens: i64,
    /// Completion tokens.
    pub output_tokens: i64,
    /// Reasoning tokens.
    pub reasoning_tokens: i64,
    /// Undelivered edges.
    pub undelivered_edges: i64,
    /// Cost (`None` unless both are known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<f64>,
}
