//! The rollout graph (`state.json`): the public, serialisable result of a reduction.
//!
//! Every map is keyed by the entity's id and every cross-reference is an id into one of these
//! maps (or a payload `seq`), so the graph is a plain tree of values: it serialises without
//! cycles and a reader can follow any link with one lookup. Threads and turns are keyed by the
//! program's own ids (`thread_id`, `turn_id`) and the rollout by its `rollout_id`; every other
//! entity — tool calls included, whatever their `call_id` — by an id the reducer mints from
//! the span key (`inference:12`, `tool:7`, `code_cell:9`, `terminal_op:4`), stable for one
//! bundle. A tool call's model-visible id is its `call_id` field, not its key (call ids repeat
//! across threads and rollouts).
//!
//! One list is stored in a linear form: an inference call's request items, which a
//! full-snapshot request repeats from the call before (`requests.rs`, [`RequestItems`]);
//! [`RolloutState::request_items`] gives the whole list.
//!
//! The item id scheme (`item:N`) and the item predicates the reducer's files share
//! (`item_id`, `is_call_kind`, …) live here too, beside the types they read, so no two of
//! those files import each other for them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use super::requests::{RequestDelta, RequestItems, RequestPart};
pub use super::status::Status;

/// Value of `format` in `state.json`.
pub const STATE_FORMAT: &str = "tracing-rollout/state";
/// Version of the `state.json` schema.
///
/// - 1: every inference call lists its whole request (`request_items`: an array of item ids),
///   which grows quadratically with a thread whose requests re-send their history.
/// - 2 (this version): `request_items` is that array, or the request items of an earlier call
///   of the thread, changed (`{"base": …, "parts": …}`, see [`RequestItems`]), so the file is
///   linear in the conversation. Read it through [`RolloutState::request_items`]. A version 1
///   file still deserialises (an array is one of the two forms) and reads the same.
pub const STATE_FORMAT_VERSION: u32 = 2;

/// The rollout graph rebuilt from one bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolloutState {
    /// Always [`STATE_FORMAT`].
    pub format: String,
    /// [`STATE_FORMAT_VERSION`].
    pub format_version: u32,
    /// The rollout id as the program gave it.
    pub rollout_id: String,
    /// The rollout's trace id, if any.
    pub trace_id: Option<String>,
    /// Status of the whole rollout.
    pub status: Status,
    /// False when the log was torn, spans never ended or the bundle never ended.
    pub complete: bool,
    /// Wall clock of the first record.
    pub started_at_unix_ms: Option<u64>,
    /// Wall clock of the end of the rollout (its root span's end).
    pub ended_at_unix_ms: Option<u64>,
    /// The first thread that is not a child of another thread.
    pub root_thread_id: Option<String>,
    /// Everything the reducer tolerated or could not resolve.
    pub diagnostics: Vec<Diagnostic>,
    /// Agent threads by `thread_id`.
    pub threads: BTreeMap<String, Thread>,
    /// Turns by `turn_id`.
    pub turns: BTreeMap<String, Turn>,
    /// Model request/response attempts by id.
    pub inference_calls: BTreeMap<String, InferenceCall>,
    /// Tool calls by id.
    pub tool_calls: BTreeMap<String, ToolCall>,
    /// Code-mode cells by id.
    pub code_cells: BTreeMap<String, CodeCell>,
    /// Terminal sessions by `terminal_id`.
    pub terminals: BTreeMap<String, Terminal>,
    /// Terminal operations by id.
    pub terminal_operations: BTreeMap<String, TerminalOperation>,
    /// History compactions by id.
    pub compactions: BTreeMap<String, Compaction>,
    /// What the model saw and produced, by item id.
    pub conversation_items: BTreeMap<String, ConversationItem>,
    /// Edges between threads, tool calls and items, by id.
    pub edges: BTreeMap<String, Edge>,
    /// Raw evidence by the `seq` of its payload record.
    pub payloads: BTreeMap<u64, PayloadRef>,
}

impl RolloutState {
    /// The ids of the conversation items an inference call's request carried, in order: what
    /// the model saw. Readers go through this accessor rather than the field, which may hold
    /// the list as a change against an earlier call's ([`RequestItems`]); resolving it costs
    /// about the length of the list.
    ///
    /// `call` is one of this graph's calls: a change is read against the calls of `self`
    /// (what cannot be found there, in a graph edited by hand, is left out, never a panic).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let state = tracing_rollout::reduce::reduce_bundle("traces/demo")?;
    /// for call in state.inference_calls.values() {
    ///     println!("{}: {} items", call.inference_call_id, state.request_items(call).len());
    /// }
    /// # Ok::<(), tracing_rollout::reduce::ReduceError>(())
    /// ```
    pub fn request_items<'a>(&'a self, call: &'a InferenceCall) -> Vec<&'a str> {
        let calls = &self.inference_calls;
        super::requests::resolve(
            &call.request_items,
            |id| calls.get(id).map(|c| &c.request_items),
            calls.len(),
        )
    }

    /// The tokens of every inference call, summed.
    pub fn total_usage(&self) -> Usage {
        let mut usage = Usage::default();
        for call in self.inference_calls.values() {
            if let Some(u) = &call.usage {
                usage.add(u);
            }
        }
        usage
    }

    /// How many diagnostics are warnings (evidence missing or unresolved).
    pub fn warning_count(&self) -> usize {
        self.diagnostics
            .iter()
            .filter(|d| d.level == DiagnosticLevel::Warning)
            .count()
    }
}

/// Something the reducer tolerated or could not resolve.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostic {
    /// `warning` (evidence missing or unresolved) or `info` (noted, harmless).
    pub level: DiagnosticLevel,
    /// What happened, with the ids involved.
    pub message: String,
    /// The record it concerns (`None` for end-of-log findings).
    pub seq: Option<u64>,
}

/// Severity of a [`Diagnostic`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiagnosticLevel {
    /// Harmless, noted for completeness.
    Info,
    /// Evidence missing, unresolved or not understood.
    Warning,
}

/// Start, end and status shared by every timed entity (flattened into it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Execution {
    /// How it ended.
    pub status: Status,
    /// Wall clock at start.
    pub started_at_unix_ms: u64,
    /// Wall clock at end.
    pub ended_at_unix_ms: Option<u64>,
    /// Duration from the monotonic clock, nanoseconds.
    pub duration_ns: Option<u64>,
    /// Seq of the `span_started` record.
    pub started_seq: u64,
    /// Seq of the `span_ended` record.
    pub ended_seq: Option<u64>,
    /// The `error` field, if one was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Monotonic ns since the bundle started, at the start record (`duration_ns`'s clock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_ns: Option<u64>,
}

/// One agent thread (one conversation history).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Thread {
    /// The program's thread id.
    pub thread_id: String,
    /// Routing path such as `/root/researcher`.
    pub agent_path: Option<String>,
    /// The thread that spawned this one.
    pub parent_thread_id: Option<String>,
    /// Display name.
    pub nickname: Option<String>,
    /// Agent role.
    pub role: Option<String>,
    /// Default model.
    pub model: Option<String>,
    /// Lifetime of the first attachment to the end of the last.
    #[serde(flatten)]
    pub execution: Execution,
    /// Turn ids in start order.
    pub turns: Vec<String>,
    /// Conversation item ids in first-seen order.
    pub conversation: Vec<String>,
    /// Number of `rollout.thread` spans for this thread: 1 + resumes.
    pub attachments: u32,
    /// Child thread ids in start order.
    pub children: Vec<String>,
}

/// One turn of a thread.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Turn {
    /// The program's turn id.
    pub turn_id: String,
    /// Owning thread.
    pub thread_id: String,
    /// Lifetime.
    #[serde(flatten)]
    pub execution: Execution,
    /// Inference call ids in start order.
    pub inference_calls: Vec<String>,
    /// Tool call ids in start order (nested ones included).
    pub tool_calls: Vec<String>,
    /// Code cell ids in start order.
    pub code_cells: Vec<String>,
    /// Compaction ids in start order.
    pub compactions: Vec<String>,
}

/// Token counts of one inference call (or a sum of them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
    /// Prompt tokens served from cache.
    pub cached_input_tokens: u64,
    /// Reasoning tokens (part of the output).
    pub reasoning_tokens: u64,
    /// Prompt tokens written to the provider's cache (Anthropic `cache_creation_input_tokens`,
    /// the span field `cache_creation_input_tokens`, alias
    /// `gen_ai.usage.cache_creation.input_tokens`; part of `input_tokens`); absent when 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cache_write_input_tokens: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Usage {
    /// Adds another usage to this one.
    pub fn add(&mut self, other: &Usage) {
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.cached_input_tokens += other.cached_input_tokens;
        self.reasoning_tokens += other.reasoning_tokens;
        self.cache_write_input_tokens += other.cache_write_input_tokens;
    }
}

/// One model request/response attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InferenceCall {
    /// Reducer id (`inference:<span key>`).
    pub inference_call_id: String,
    /// Owning thread.
    pub thread_id: Option<String>,
    /// Owning turn.
    pub turn_id: Option<String>,
    /// Model name.
    pub model: Option<String>,
    /// Provider name.
    pub provider: Option<String>,
    /// Provider response id (for `previous_response_id` chaining).
    pub response_id: Option<String>,
    /// `previous_response_id` of the request, if incremental.
    pub previous_response_id: Option<String>,
    /// HTTP request id from the provider.
    pub upstream_request_id: Option<String>,
    /// The provider's error type (`invalid_request_error`, `overloaded_error`, …) when the
    /// response body is an API error (`{"error": {…}}`): the call is `failed` and `error`
    /// holds `type: message`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    /// Payload shape: `openai_responses`, `openai_chat`, `anthropic_messages`, `otel_genai`.
    pub payload_format: Option<String>,
    /// Lifetime.
    #[serde(flatten)]
    pub execution: Execution,
    /// Token counts: the response payload's usage, overridden by span fields.
    pub usage: Option<Usage>,
    /// The complete input the model saw, in order: the list, or an earlier call's list
    /// changed. Read it with [`RolloutState::request_items`].
    pub request_items: RequestItems,
    /// What the model produced, in order.
    pub response_items: Vec<String>,
    /// Tool calls started by this response.
    pub tool_calls: Vec<String>,
    /// Seq of the request payload.
    pub request_payload: Option<u64>,
    /// Seq of the response payload.
    pub response_payload: Option<u64>,
    /// Why the model stopped, in the provider's words as the span recorded them
    /// (`finish_reasons`, alias `gen_ai.response.finish_reasons`: `stop`, `tool_calls`,
    /// `end_turn`, …), one per choice; empty when none was recorded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub finish_reasons: Vec<String>,
    /// Nanoseconds from the request to the first chunk of a streamed response (the span's
    /// `time_to_first_chunk`, alias `gen_ai.response.time_to_first_chunk`, in seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_to_first_chunk_ns: Option<u64>,
    /// Seq of the payload listing the tools offered to the model (role `tool_definitions`,
    /// alias `gen_ai.tool.definitions`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_definitions_payload: Option<u64>,
}

/// Who asked for a tool call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Requester {
    /// The model, through the response that carried the call id.
    Model {
        /// That inference call (unknown until the response is seen).
        inference_call_id: Option<String>,
    },
    /// A code-mode cell.
    CodeCell {
        /// The cell.
        code_cell_id: String,
    },
    /// The runtime itself (no model-visible call).
    Runtime,
}

/// One tool call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// Reducer id (`tool:<span key>`); the model-visible id is `call_id`.
    pub tool_call_id: String,
    /// Owning thread.
    pub thread_id: Option<String>,
    /// Owning turn.
    pub turn_id: Option<String>,
    /// Tool name.
    pub tool: Option<String>,
    /// Free-text kind (`function`, `spawn_agent`, …).
    pub kind: Option<String>,
    /// The model-visible call id.
    pub call_id: Option<String>,
    /// MCP server, if any.
    pub mcp_server: Option<String>,
    /// The id the call carried to its MCP server, to join it with the server's logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcp_call_id: Option<String>,
    /// Collab target thread.
    pub target_thread_id: Option<String>,
    /// Who asked for it.
    pub requester: Requester,
    /// The requester's inference call was inferred from order, not proven by a call id: no
    /// content was captured that carries the call (GenAI spans without content), so the call
    /// is attributed to the inference that started last before it in its turn.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub requester_inferred: bool,
    /// Who ran it when not the program: `provider` for a hosted tool the provider ran
    /// inside the inference (web search, file search, code interpreter, image generation,
    /// MCP, Anthropic server tools). Such a call has no span: it is made from the response
    /// item (`tool_call_id` = `tool:<inference>/<call_id>`), requested by that inference, and
    /// its status is the item's. Absent for tools the program ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    /// Lifetime.
    #[serde(flatten)]
    pub execution: Execution,
    /// Items where the model's call is visible.
    pub call_items: Vec<String>,
    /// Items where the model saw the output.
    pub output_items: Vec<String>,
    /// Seq of the args payload.
    pub args_payload: Option<u64>,
    /// Seq of the result payload.
    pub result_payload: Option<u64>,
    /// Terminal operations run for this call.
    pub terminal_operations: Vec<String>,
    /// Threads this call spawned.
    pub spawned_threads: Vec<String>,
    /// For a code-mode wait (`kind = "wait"`, or the tool named `wait`): the code cell it
    /// waits on, found by the runtime `cell_id` (the span's field, else the call's arguments)
    /// in the call's thread.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waited_cell: Option<String>,
}

/// One code-mode cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CodeCell {
    /// Reducer id (`code_cell:<span key>`).
    pub code_cell_id: String,
    /// Runtime cell id.
    pub cell_id: Option<String>,
    /// The model-visible call that carried the code.
    pub call_id: Option<String>,
    /// Language of the code.
    pub language: Option<String>,
    /// Owning thread.
    pub thread_id: Option<String>,
    /// Owning turn.
    pub turn_id: Option<String>,
    /// Lifetime.
    #[serde(flatten)]
    pub execution: Execution,
    /// The item carrying the code (resolved when it appears).
    pub source_item: Option<String>,
    /// Items carrying the cell's output.
    pub output_items: Vec<String>,
    /// Tool calls the cell issued.
    pub tool_calls: Vec<String>,
    /// When the cell first yielded control to the model before finishing (its span recorded
    /// `status = "yielded"`; it stays `running`): its initial output is then an item the
    /// model sees, and later output comes through waits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub yielded_at_unix_ms: Option<u64>,
    /// Seq of the record that made the cell yield.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub yielded_seq: Option<u64>,
    /// Wait tool calls naming this cell, in start order (their outputs are in `output_items`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waits: Vec<String>,
    /// Seq of the source payload.
    pub source_payload: Option<u64>,
    /// Seq of the output payload.
    pub output_payload: Option<u64>,
}

/// One terminal session (all operations with one `terminal_id`): a process the agent started
/// and wrote to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Terminal {
    /// Runtime terminal id.
    pub terminal_id: String,
    /// Owning thread of the first operation.
    pub thread_id: Option<String>,
    /// Operation ids in start order.
    pub operations: Vec<String>,
    /// `completed` when an operation reported its process's exit code 0, `failed` another
    /// code, `aborted` when its thread (or the rollout) ended first, else `running`.
    #[serde(default = "running")]
    pub status: Status,
    /// When its first operation started (absent in graphs written before sessions ended).
    pub started_at_unix_ms: Option<u64>,
    /// When its process exited (the end of the operation that said so), or its thread ended.
    pub ended_at_unix_ms: Option<u64>,
    /// The process's exit code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
}

fn running() -> Status {
    Status::Running
}

/// One terminal operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TerminalOperation {
    /// Reducer id (`terminal_op:<span key>`).
    pub operation_id: String,
    /// Session, if known.
    pub terminal_id: Option<String>,
    /// `exec`, `write`, `poll`, …
    pub op: Option<String>,
    /// Command line.
    pub command: Option<String>,
    /// Working directory.
    pub cwd: Option<String>,
    /// Exit code.
    pub exit_code: Option<i64>,
    /// Enclosing tool call.
    pub tool_call_id: Option<String>,
    /// Owning thread.
    pub thread_id: Option<String>,
    /// Lifetime.
    #[serde(flatten)]
    pub execution: Execution,
    /// Seqs of payloads attached to the operation.
    pub payloads: Vec<u64>,
}

/// One history compaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Compaction {
    /// Program id, else `compaction:<span key>`.
    pub compaction_id: String,
    /// Owning thread.
    pub thread_id: Option<String>,
    /// Owning turn.
    pub turn_id: Option<String>,
    /// Model used.
    pub model: Option<String>,
    /// Lifetime.
    #[serde(flatten)]
    pub execution: Execution,
    /// The history before compaction.
    pub input_items: Vec<String>,
    /// The boundary item.
    pub marker_item: Option<String>,
    /// The history that replaced it.
    pub replacement_items: Vec<String>,
    /// Seq of the checkpoint payload.
    pub checkpoint_payload: Option<u64>,
    /// Every attempt, in start order, when there was more than one: the reference agent
    /// retries a failed compaction (often with another model) under the same
    /// `compaction_id`, and that is one compaction. Empty for a single attempt, whose model
    /// and lifetime are the compaction's own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<CompactionAttempt>,
}

/// One attempt of a [`Compaction`] (one `rollout.compaction` span).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompactionAttempt {
    /// Model used by this attempt.
    pub model: Option<String>,
    /// Lifetime and status of this attempt.
    #[serde(flatten)]
    pub execution: Execution,
}

/// Kind of a conversation item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    /// A message (system, developer, user, assistant).
    Message,
    /// Model reasoning.
    Reasoning,
    /// A function/tool call by the model.
    FunctionCall,
    /// The output of a function call.
    FunctionCallOutput,
    /// A free-form (custom) tool call, e.g. code for a code-mode cell.
    CustomToolCall,
    /// The output of a custom tool call.
    CustomToolCallOutput,
    /// The boundary a compaction left in the history.
    CompactionMarker,
    /// A Responses `web_search_call`: a web search the provider ran (`call_id` = its `id`).
    WebSearchCall,
    /// A Responses `file_search_call`: a vector-store search the provider ran.
    FileSearchCall,
    /// A Responses `code_interpreter_call`: code the provider ran in its container.
    CodeInterpreterCall,
    /// A Responses `image_generation_call`: an image the provider generated.
    ImageGenerationCall,
    /// A Responses `mcp_call`: a remote MCP tool the provider called.
    McpCall,
    /// A Responses `mcp_list_tools`: the tools the provider listed on an MCP server.
    McpListTools,
    /// A Responses `mcp_approval_request`: the model asks the program to approve an MCP call.
    McpApprovalRequest,
    /// A Responses `mcp_approval_response`: the program's answer (`call_id` = the request's).
    McpApprovalResponse,
    /// A Responses `computer_call`: a computer action the program is to perform.
    ComputerCall,
    /// A Responses `computer_call_output`: the result (a screenshot) the program sent back.
    ComputerCallOutput,
    /// A Responses `local_shell_call`: a shell command the program is to run.
    LocalShellCall,
    /// A Responses `local_shell_call_output`: that command's output.
    LocalShellCallOutput,
    /// An Anthropic `server_tool_use` (or `mcp_tool_use`) block: a tool the provider ran.
    ServerToolUse,
    /// An Anthropic server tool's result block (`web_search_tool_result`,
    /// `code_execution_tool_result`, `mcp_tool_result`, …; `call_id` = its `tool_use_id`).
    ServerToolResult,
    /// An item of a type the reducer does not interpret (kept, compared by content).
    Other,
}

/// What produced an item.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
pub enum Producer {
    /// An inference call's response.
    Inference(String),
    /// A tool call's output.
    ToolCall(String),
    /// A code cell's output.
    CodeCell(String),
    /// A compaction's replacement history.
    Compaction(String),
    /// A delivery edge (the item carries a delivered message).
    Edge(String),
}

/// One thing the model saw or produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationItem {
    /// Reducer id (`item:<n>`, in first-seen order).
    pub item_id: String,
    /// Owning thread.
    pub thread_id: String,
    /// Turn that first introduced it.
    pub turn_id: Option<String>,
    /// Item kind.
    pub kind: ItemKind,
    /// `system`, `developer`, `user`, `assistant`, `tool`.
    pub role: Option<String>,
    /// Call id on call/output items.
    pub call_id: Option<String>,
    /// Tool name on call items.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The status the provider gave a hosted tool item (`completed`, `failed`, …), first seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// For the reference agent's `agent_message` items (a message between agents, kind
    /// `message`, role `assistant`): who sent it and to whom.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_message: Option<Box<AgentMessage>>,
    /// Readable preview (capped).
    pub text: String,
    /// Wall clock when first seen.
    pub first_seen_at_unix_ms: u64,
    /// Seq of the payload that first carried it.
    pub first_seen_seq: u64,
    /// What produced it (empty for input the model was given).
    pub produced_by: Vec<Producer>,
}

/// Longest `text` preview a [`ConversationItem`] keeps, in bytes.
pub(super) const PREVIEW_BYTES: usize = 2000;

/// `text` as a [`ConversationItem`] keeps it: whole up to [`PREVIEW_BYTES`], else cut there
/// (on a character boundary) and marked with `…`.
pub(super) fn preview(text: &str) -> String {
    preview_within(text, PREVIEW_BYTES)
}

/// `text` cut to at most `max` bytes on a character boundary, with `…` when cut.
pub(crate) fn preview_within(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// The id of item number `n` (the reducer numbers items in first-seen order): `item:N`.
pub(super) fn item_id(n: u64) -> String {
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(n);
    let mut id = String::with_capacity("item:".len() + digits.len());
    id.push_str("item:");
    id.push_str(digits);
    id
}

/// The number of an item id made by [`item_id`].
pub(super) fn item_number(id: &str) -> Option<u64> {
    id.strip_prefix("item:")?.parse().ok()
}

/// Items joined by `(thread, call_id)`: calls the program runs and their outputs. Hosted
/// items (run by the provider) carry call ids too but are identified by content.
pub(super) fn is_call_kind(kind: ItemKind) -> bool {
    matches!(
        kind,
        ItemKind::FunctionCall
            | ItemKind::CustomToolCall
            | ItemKind::ComputerCall
            | ItemKind::LocalShellCall
    ) || is_call_output(kind)
}

/// The outputs among the [call kinds](is_call_kind).
pub(super) fn is_call_output(kind: ItemKind) -> bool {
    matches!(
        kind,
        ItemKind::FunctionCallOutput
            | ItemKind::CustomToolCallOutput
            | ItemKind::ComputerCallOutput
            | ItemKind::LocalShellCallOutput
    )
}

/// Author and recipient of an `agent_message` item (agent paths such as `/root/worker`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentMessage {
    /// The sending agent.
    pub author: Option<String>,
    /// The receiving agent.
    pub recipient: Option<String>,
}

/// One end of an [`Edge`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
pub enum Anchor {
    /// A tool call.
    ToolCall(String),
    /// A thread.
    Thread(String),
    /// A conversation item.
    ConversationItem(String),
    /// A turn.
    Turn(String),
    /// An inference call.
    InferenceCall(String),
    /// A code cell.
    CodeCell(String),
    /// A span the reducer did not map to an entity (by span key).
    Span(u64),
}

/// Kind of an [`Edge`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EdgeKind {
    /// A tool spawned a thread.
    Spawn,
    /// A tool sent a message to a thread.
    Message,
    /// A tool assigned a task to a thread.
    Task,
    /// A child's result reached its parent.
    Result,
    /// A tool closed a thread.
    Close,
    /// `Span::follows_from` between two spans.
    Link,
}

impl EdgeKind {
    /// The word used in `state.json`.
    pub fn as_str(self) -> &'static str {
        match self {
            EdgeKind::Spawn => "spawn",
            EdgeKind::Message => "message",
            EdgeKind::Task => "task",
            EdgeKind::Result => "result",
            EdgeKind::Close => "close",
            EdgeKind::Link => "link",
        }
    }
}

/// A causal connection between threads, tool calls and items.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Edge {
    /// Reducer id (`edge:<kind>:<seq>`).
    pub edge_id: String,
    /// Edge kind.
    pub kind: EdgeKind,
    /// Source.
    pub from: Anchor,
    /// Target: the recipient's item once delivered, else the thread.
    pub to: Anchor,
    /// The recipient's model-visible item carrying the delivered text was found.
    pub delivered: bool,
    /// The delivered text, if the edge carries one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When the edge was observed.
    pub started_at_unix_ms: u64,
    /// Payload seqs carried (args, result).
    pub payloads: Vec<u64>,
}

/// Index entry for one payload record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayloadRef {
    /// `request`, `response`, `args`, …
    pub role: String,
    /// The entity the payload belongs to.
    pub owner: Anchor,
    /// Size as given.
    pub bytes: u64,
    /// Byte offset of the record's line in `trace.jsonl`.
    pub offset: u64,
    /// Length of the line in bytes (without the newline).
    pub len: u64,
    /// The payload was truncated by the writer.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}
