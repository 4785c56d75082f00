//! The instrumentation vocabulary as constants: span and event names, field names, payload
//! roles, statuses, collab tool kinds, and the OpenTelemetry GenAI names the layer also reads.
//!
//! Invariant: this module is the one spelling of every name the crate compares against; the
//! layer, the format and the reducer use these constants, so a name here and the name the
//! code recognises cannot drift apart, and a program that uses them cannot misspell one.
//!
//! `#[instrument]` takes a span name as a string literal or a single identifier, so import
//! span names; field names go in braces, which take any constant expression:
//!
//! ```
//! use tracing_rollout::vocab::{self, TOOL};
//! use tracing_subscriber::prelude::*;
//!
//! #[tracing::instrument(
//!     name = TOOL,
//!     skip_all,
//!     fields({ vocab::field::TOOL } = name, { vocab::field::CALL_ID } = call_id,
//!            { vocab::field::STATUS } = tracing::field::Empty),
//! )]
//! fn run_tool(name: &str, call_id: &str) {
//!     tracing::Span::current().record(vocab::field::STATUS, vocab::status::COMPLETED);
//! }
//!
//! let root = tempfile::tempdir()?;
//! let (layer, guard) = tracing_rollout::RolloutLayer::builder().root_dir(root.path()).build()?;
//! tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
//!     let _thread = tracing::info_span!(
//!         vocab::THREAD,
//!         { vocab::field::THREAD_ID } = "main",
//!     )
//!     .entered();
//!     run_tool("shell", "call_1");
//! });
//! let stats = guard.finish()?;
//! let trace = std::fs::read_to_string(stats.bundles[0].join("trace.jsonl"))?;
//! assert!(trace.contains(r#""kind":"tool","name":"rollout.tool","fields":{"tool":"shell","call_id":"call_1"}"#));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

/// Span name: one rollout, a root thread and every thread it spawns.
pub const ROLLOUT: &str = "rollout";
/// Span name: one agent thread (one conversation history).
pub const THREAD: &str = "rollout.thread";
/// Span name: one turn of a thread.
pub const TURN: &str = "rollout.turn";
/// Span name: one model request/response attempt.
pub const INFERENCE: &str = "rollout.inference";
/// Span name: one tool call.
pub const TOOL: &str = "rollout.tool";
/// Span name: one code-mode cell (model-authored code that may call tools).
pub const CODE_CELL: &str = "rollout.code_cell";
/// Span name: one terminal operation.
pub const TERMINAL: &str = "rollout.terminal";
/// Span name: one history compaction.
pub const COMPACTION: &str = "rollout.compaction";

/// Event name: raw evidence (`role`, `payload`) attached to the enclosing rollout span.
pub const PAYLOAD_EVENT: &str = "rollout.payload";
/// Event name: a child thread's result was delivered to its parent.
pub const AGENT_RESULT_EVENT: &str = "rollout.agent_result";
/// Event name: something the producer could not record as it was (an importer met an event
/// it does not know, a payload file it could not read); fields `level` (`warning`, the
/// default, or `info`) and `message`. The reducer lists it among the graph's diagnostics.
pub const DIAGNOSTIC_EVENT: &str = "rollout.diagnostic";
/// Every recorded event's name starts with this.
pub const EVENT_PREFIX: &str = "rollout.";

/// Field names, by the span kind that reads them (every kind reads [`STATUS`](field::STATUS)
/// and [`ERROR`](field::ERROR)). The OpenTelemetry GenAI aliases a field also accepts are
/// named in each constant's docs; see [`genai`] for the full list.
pub mod field {
    /// `rollout`: names the bundle directory (sanitised).
    pub const ROLLOUT_ID: &str = "rollout_id";
    /// `rollout`: a distributed trace id, kept in the manifest.
    pub const TRACE_ID: &str = "trace_id";
    /// `rollout.thread`: the thread's id (alias `gen_ai.conversation.id`).
    pub const THREAD_ID: &str = "thread_id";
    /// `rollout.thread`: the agent's place in the tree, e.g. `/root/researcher`.
    pub const AGENT_PATH: &str = "agent_path";
    /// `rollout.thread`: the parent thread of a child thread.
    pub const PARENT_THREAD_ID: &str = "parent_thread_id";
    /// `rollout.thread`: a display name (alias `gen_ai.agent.name`).
    pub const NICKNAME: &str = "nickname";
    /// `rollout.thread`: the agent's id (alias `gen_ai.agent.id`); the thread's id when it
    /// has no `thread_id`.
    pub const AGENT_ID: &str = "agent_id";
    /// `rollout.thread`: the agent's role; on a `rollout.payload` event, the payload role.
    pub const ROLE: &str = "role";
    /// `rollout.thread`, `rollout.inference`, `rollout.compaction`: the model (aliases
    /// `gen_ai.request.model`, `gen_ai.response.model`).
    pub const MODEL: &str = "model";
    /// `rollout.turn`: the turn's id.
    pub const TURN_ID: &str = "turn_id";
    /// `rollout.inference`, `rollout.compaction`: the provider (aliases
    /// `gen_ai.provider.name`, `gen_ai.system`).
    pub const PROVIDER: &str = "provider";
    /// `rollout.inference`: the provider's response id (alias `gen_ai.response.id`).
    pub const RESPONSE_ID: &str = "response_id";
    /// `rollout.inference`: the response an incremental request continues.
    pub const PREVIOUS_RESPONSE_ID: &str = "previous_response_id";
    /// `rollout.inference`: the transport request id.
    pub const UPSTREAM_REQUEST_ID: &str = "upstream_request_id";
    /// `rollout.inference`: why the model stopped, in the provider's words (alias
    /// `gen_ai.response.finish_reasons`): one reason, a JSON array of them as text, or a
    /// comma-separated list.
    pub const FINISH_REASONS: &str = "finish_reasons";
    /// `rollout.inference`: input tokens, cached ones included (alias
    /// `gen_ai.usage.input_tokens`).
    pub const INPUT_TOKENS: &str = "input_tokens";
    /// `rollout.inference`: output tokens, reasoning included (alias
    /// `gen_ai.usage.output_tokens`).
    pub const OUTPUT_TOKENS: &str = "output_tokens";
    /// `rollout.inference`: input tokens read from a cache (aliases
    /// `gen_ai.usage.cache_read.input_tokens`, `gen_ai.usage.cached_input_tokens`).
    pub const CACHED_INPUT_TOKENS: &str = "cached_input_tokens";
    /// `rollout.inference`: input tokens written to a cache (alias
    /// `gen_ai.usage.cache_creation.input_tokens`), part of `input_tokens`; the graph's
    /// `cache_write_input_tokens`.
    pub const CACHE_CREATION_INPUT_TOKENS: &str = "cache_creation_input_tokens";
    /// `rollout.inference`: reasoning tokens (aliases `gen_ai.usage.reasoning.output_tokens`,
    /// `gen_ai.usage.reasoning_tokens`).
    pub const REASONING_TOKENS: &str = "reasoning_tokens";
    /// `rollout.inference`: seconds from the request to the first chunk of a streamed
    /// response (alias `gen_ai.response.time_to_first_chunk`).
    pub const TIME_TO_FIRST_CHUNK: &str = "time_to_first_chunk";
    /// `rollout.tool`: the tool's name (alias `gen_ai.tool.name`).
    pub const TOOL: &str = "tool";
    /// `rollout.tool`, `rollout.code_cell`: the model-visible call id (alias
    /// `gen_ai.tool.call.id`).
    pub const CALL_ID: &str = "call_id";
    /// `rollout.tool`: free-text kind (alias `gen_ai.tool.type`); see [`collab`](super::collab).
    pub const KIND: &str = "kind";
    /// `rollout.tool`: a collab tool's target thread.
    pub const TARGET_THREAD_ID: &str = "target_thread_id";
    /// `rollout.tool`, `rollout.agent_result`: the exact text delivered.
    pub const MESSAGE: &str = "message";
    /// `rollout.tool`: the MCP server a tool belongs to.
    pub const MCP_SERVER: &str = "mcp_server";
    /// `rollout.tool`: the id the call carried to its MCP server (Codex puts it in the
    /// request's `_meta`), to join the call with the server's logs.
    pub const MCP_CALL_ID: &str = "mcp_call_id";
    /// `rollout.code_cell`: the runtime's cell id.
    pub const CELL_ID: &str = "cell_id";
    /// `rollout.code_cell`: the cell's language.
    pub const LANGUAGE: &str = "language";
    /// `rollout.terminal`: the terminal's id.
    pub const TERMINAL_ID: &str = "terminal_id";
    /// `rollout.terminal`: `exec`, `write` or `poll`.
    pub const OP: &str = "op";
    /// `rollout.terminal`: the command.
    pub const COMMAND: &str = "command";
    /// `rollout.terminal`: the working directory.
    pub const CWD: &str = "cwd";
    /// `rollout.terminal`: the exit code.
    pub const EXIT_CODE: &str = "exit_code";
    /// `rollout.compaction`: the compaction's id.
    pub const COMPACTION_ID: &str = "compaction_id";
    /// Every kind: how it ended, one of [`status`](super::status).
    pub const STATUS: &str = "status";
    /// Every kind: error text; implies `failed` (aliases `error.type`, and rig's
    /// `gen_ai.tool.error.type`).
    pub const ERROR: &str = "error";
    /// `rollout.payload`: the payload value.
    pub const PAYLOAD: &str = "payload";
}

/// Payload roles: the `role` of a `rollout.payload` event, or the role a GenAI content
/// attribute is recorded with.
pub mod role {
    /// `rollout.inference`: what the model was sent (alias `gen_ai.input.messages`).
    pub const REQUEST: &str = "request";
    /// `rollout.inference`: system text sent outside the history (alias
    /// `gen_ai.system_instructions`); joins the request that follows it.
    pub const SYSTEM_INSTRUCTIONS: &str = "system_instructions";
    /// `rollout.inference`: what the model returned (alias `gen_ai.output.messages`).
    pub const RESPONSE: &str = "response";
    /// `rollout.tool`: the call's arguments (alias `gen_ai.tool.call.arguments`).
    pub const ARGS: &str = "args";
    /// `rollout.tool`: the call's result (alias `gen_ai.tool.call.result`).
    pub const RESULT: &str = "result";
    /// `rollout.tool`, `rollout.code_cell`, `rollout.terminal`: output.
    pub const OUTPUT: &str = "output";
    /// `rollout.code_cell`: the cell's source.
    pub const SOURCE: &str = "source";
    /// `rollout.compaction`: `{"input_history": […], "replacement_history": […]}`.
    pub const CHECKPOINT: &str = "checkpoint";
    /// Any kind: other evidence.
    pub const METADATA: &str = "metadata";
    /// An agent span's prompt text (the deprecated `gen_ai.prompt`), kept as evidence.
    pub const PROMPT: &str = "prompt";
    /// An agent span's final text (the deprecated `gen_ai.completion`), kept as evidence.
    pub const COMPLETION: &str = "completion";
    /// `rollout.inference`: the tools offered to the model (alias `gen_ai.tool.definitions`).
    pub const TOOL_DEFINITIONS: &str = "tool_definitions";

    /// Every role the crate writes or reads.
    pub const ALL: [&str; 12] = [
        REQUEST,
        SYSTEM_INSTRUCTIONS,
        RESPONSE,
        ARGS,
        RESULT,
        OUTPUT,
        SOURCE,
        CHECKPOINT,
        METADATA,
        PROMPT,
        COMPLETION,
        TOOL_DEFINITIONS,
    ];
}

/// Values of the `status` field.
pub mod status {
    /// Ended normally (the default when a span closes without `status` or `error`).
    pub const COMPLETED: &str = "completed";
    /// Ended with an error.
    pub const FAILED: &str = "failed";
    /// Stopped on request.
    pub const CANCELLED: &str = "cancelled";
    /// Stopped by the runtime (a dropped future, a killed process).
    pub const ABORTED: &str = "aborted";

    /// Every status a program may record.
    pub const ALL: [&str; 4] = [COMPLETED, FAILED, CANCELLED, ABORTED];

    // Added for the reducer (issue 20): statuses it compares that are not ends.
    /// `rollout.code_cell`: the cell handed control back to the model and still runs (a
    /// runtime state, not an end: the span stays `running`); not in [`ALL`].
    pub const YIELDED: &str = "yielded";
}

/// Collab tool kinds: the `kind` of a `rollout.tool` that acts on another thread.
pub mod collab {
    /// Starts a child thread (`target_thread_id`).
    pub const SPAWN_AGENT: &str = "spawn_agent";
    /// Sends a message to a thread.
    pub const SEND_MESSAGE: &str = "send_message";
    /// Assigns a task to a thread.
    pub const ASSIGN_TASK: &str = "assign_task";
    /// Waits for a thread.
    pub const WAIT_AGENT: &str = "wait_agent";
    /// Closes a thread.
    pub const CLOSE_AGENT: &str = "close_agent";

    /// Every collab kind.
    pub const ALL: [&str; 5] = [
        SPAWN_AGENT,
        SEND_MESSAGE,
        ASSIGN_TASK,
        WAIT_AGENT,
        CLOSE_AGENT,
    ];

    // Added for the reducer (issue 20): the reference agent's newer names, read as their
    // older equivalents; not in [`ALL`].
    /// Assigns a follow-up task to a thread (read as [`ASSIGN_TASK`]).
    pub const FOLLOWUP_TASK: &str = "followup_task";
    /// Interrupts a thread (read as [`CLOSE_AGENT`]).
    pub const INTERRUPT_AGENT: &str = "interrupt_agent";
}

/// Code mode: model-authored code cells (`rollout.code_cell`) and the tool that waits on them.
pub mod code_mode {
    /// The `kind` (or the name) of a `rollout.tool` that waits on a running code cell; its
    /// output is more output of that cell.
    pub const WAIT: &str = "wait";
    /// The argument of a `wait` call naming the cell it waits on: the runtime's cell id, as
    /// in the cell span's [`CELL_ID`](super::field::CELL_ID) field.
    pub const WAIT_CELL_ID: &str = "cell_id";
}

/// The OpenTelemetry GenAI semantic conventions' names that the layer reads (see the README's
/// "Already using OpenTelemetry GenAI conventions?").
pub mod genai {
    /// The field that makes a span with any name a candidate for recording.
    pub const OPERATION_NAME: &str = "gen_ai.operation.name";

    /// Operation: invoke an agent (recorded as a thread, and its turn).
    pub const INVOKE_AGENT: &str = "invoke_agent";
    /// Operation: create an agent (recorded as a thread).
    pub const CREATE_AGENT: &str = "create_agent";
    /// Operation: invoke a workflow (recorded as a thread).
    pub const INVOKE_WORKFLOW: &str = "invoke_workflow";
    /// Operation: a chat completion (recorded as an inference call).
    pub const CHAT: &str = "chat";
    /// Operation: a text completion (recorded as an inference call).
    pub const TEXT_COMPLETION: &str = "text_completion";
    /// Operation: a Gemini generate-content call (recorded as an inference call).
    pub const GENERATE_CONTENT: &str = "generate_content";
    /// Operation: a tool execution (recorded as a tool call).
    pub const EXECUTE_TOOL: &str = "execute_tool";

    // Added for issue 24: the other words instrumentations use for one model call.
    /// Operation: a streamed chat completion (older rig, other producers).
    pub const CHAT_STREAMING: &str = "chat_streaming";
    /// Operation: a Gemini Interactions API call.
    pub const INTERACTIONS: &str = "interactions";
    /// Operation: a streamed Gemini Interactions API call.
    pub const INTERACTIONS_STREAMING: &str = "interactions_streaming";
    /// Operation: a completion (Langfuse's word for a model call).
    pub const COMPLETION_OPERATION: &str = "completion";
    /// Operation: a generation (Langfuse's word for a model call).
    pub const GENERATE: &str = "generate";
    /// Every operation recorded as an inference call.
    pub const INFERENCE_OPERATIONS: [&str; 8] = [
        CHAT,
        TEXT_COMPLETION,
        GENERATE_CONTENT,
        CHAT_STREAMING,
        INTERACTIONS,
        INTERACTIONS_STREAMING,
        COMPLETION_OPERATION,
        GENERATE,
    ];

    /// The `tracing-opentelemetry` bridge field for a span's status: `error` (any case) makes
    /// the entity failed, `ok` completed.
    pub const OTEL_STATUS_CODE: &str = "otel.status_code";
    /// The bridge field for the status's message: the error text of a failed entity that
    /// recorded no `error` (`error.type`) of its own.
    pub const OTEL_STATUS_DESCRIPTION: &str = "otel.status_description";

    /// Event name: one inference's details (the conventions' event form of the span's
    /// attributes, content included): its content attributes are payloads of the span the
    /// event is in.
    pub const INFERENCE_DETAILS_EVENT: &str = "gen_ai.client.inference.operation.details";
    /// Event names of the per-message events older instrumentations emit (before the
    /// conventions' 1.37): each is kept as a payload of the span it is in, role
    /// [`PROMPT`](super::role::PROMPT) for a message the model was sent and
    /// [`COMPLETION`](super::role::COMPLETION) for `gen_ai.choice`.
    pub const MESSAGE_EVENTS: [&str; 5] = [
        "gen_ai.system.message",
        "gen_ai.user.message",
        "gen_ai.assistant.message",
        "gen_ai.tool.message",
        CHOICE_EVENT,
    ];
    /// Event name: a model's answer, in the per-message events.
    pub const CHOICE_EVENT: &str = "gen_ai.choice";
    /// Every recorded GenAI event's name starts with this.
    pub const EVENT_PREFIX: &str = "gen_ai.";

    /// Content attribute: the input messages (payload role `request`).
    pub const INPUT_MESSAGES: &str = "gen_ai.input.messages";
    /// Content attribute: system instructions (payload role `system_instructions`).
    pub const SYSTEM_INSTRUCTIONS: &str = "gen_ai.system_instructions";
    /// Content attribute: the output messages (payload role `response`).
    pub const OUTPUT_MESSAGES: &str = "gen_ai.output.messages";
    /// Content attribute: a tool call's arguments (payload role `args`).
    pub const TOOL_CALL_ARGUMENTS: &str = "gen_ai.tool.call.arguments";
    /// Content attribute: a tool call's result (payload role `result`).
    pub const TOOL_CALL_RESULT: &str = "gen_ai.tool.call.result";
    /// Deprecated content attribute: an agent's prompt text (payload role `prompt`).
    pub const PROMPT: &str = "gen_ai.prompt";
    /// Deprecated content attribute: an agent's final text (payload role `completion`).
    pub const COMPLETION: &str = "gen_ai.completion";
    /// Content attribute: the tools offered to the model (payload role `tool_definitions`).
    pub const TOOL_DEFINITIONS: &str = "gen_ai.tool.definitions";

    /// Every GenAI field alias and the field of ours it is written as.
    pub const ALIASES: [(&str, &str); 22] = [
        ("gen_ai.conversation.id", super::field::THREAD_ID),
        ("gen_ai.agent.id", super::field::AGENT_ID),
        ("gen_ai.agent.name", super::field::NICKNAME),
        ("gen_ai.request.model", super::field::MODEL),
        ("gen_ai.response.model", super::field::MODEL),
        ("gen_ai.provider.name", super::field::PROVIDER),
        ("gen_ai.system", super::field::PROVIDER),
        ("gen_ai.response.id", super::field::RESPONSE_ID),
        (
            "gen_ai.response.finish_reasons",
            super::field::FINISH_REASONS,
        ),
        (
            "gen_ai.response.time_to_first_chunk",
            super::field::TIME_TO_FIRST_CHUNK,
        ),
        ("gen_ai.usage.input_tokens", super::field::INPUT_TOKENS),
        ("gen_ai.usage.output_tokens", super::field::OUTPUT_TOKENS),
        (
            "gen_ai.usage.cache_read.input_tokens",
            super::field::CACHED_INPUT_TOKENS,
        ),
        (
            "gen_ai.usage.cached_input_tokens",
            super::field::CACHED_INPUT_TOKENS,
        ),
        (
            "gen_ai.usage.cache_creation.input_tokens",
            super::field::CACHE_CREATION_INPUT_TOKENS,
        ),
        (
            "gen_ai.usage.reasoning.output_tokens",
            super::field::REASONING_TOKENS,
        ),
        (
            "gen_ai.usage.reasoning_tokens",
            super::field::REASONING_TOKENS,
        ),
        ("gen_ai.tool.name", super::field::TOOL),
        ("gen_ai.tool.call.id", super::field::CALL_ID),
        ("gen_ai.tool.type", super::field::KIND),
        ("error.type", super::field::ERROR),
        ("gen_ai.tool.error.type", super::field::ERROR),
    ];

    /// Every content attribute and the payload role it is recorded with.
    pub const CONTENT: [(&str, &str); 8] = [
        (INPUT_MESSAGES, super::role::REQUEST),
        (SYSTEM_INSTRUCTIONS, super::role::SYSTEM_INSTRUCTIONS),
        (OUTPUT_MESSAGES, super::role::RESPONSE),
        (TOOL_CALL_ARGUMENTS, super::role::ARGS),
        (TOOL_CALL_RESULT, super::role::RESULT),
        (PROMPT, super::role::PROMPT),
        (COMPLETION, super::role::COMPLETION),
        (TOOL_DEFINITIONS, super::role::TOOL_DEFINITIONS),
    ];

    /// Maps an accepted field alias (one of [`ALIASES`]) to the field of ours it is written
    /// as in `trace.jsonl`; any other name is returned unchanged. The layer calls it for
    /// every field it records.
    ///
    /// # Examples
    ///
    /// ```
    /// use tracing_rollout::vocab::{field, genai};
    /// assert_eq!(genai::canonical_field_name("gen_ai.request.model"), field::MODEL);
    /// assert_eq!(genai::canonical_field_name("model"), "model");
    /// ```
    #[inline]
    pub fn canonical_field_name(name: &str) -> &str {
        // Every alias but `error.type` starts with `gen_ai.`: any other name costs one prefix
        // test and one comparison.
        if !name.starts_with("gen_ai.") && name != "error.type" {
            return name;
        }
        for &(alias, ours) in &ALIASES {
            if alias == name {
                return ours;
            }
        }
        name
    }
}

/// Values of an inference call's `payload_format` in `state.json`: the shape the reducer
/// understood its request and response payloads as.
pub mod payload_format {
    /// OpenAI Responses (`input` / `output` items).
    pub const OPENAI_RESPONSES: &str = "openai_responses";
    /// OpenAI Chat Completions (`messages` / `choices`).
    pub const OPENAI_CHAT: &str = "openai_chat";
    /// Anthropic Messages (`system` / `messages` / `content` blocks).
    pub const ANTHROPIC_MESSAGES: &str = "anthropic_messages";
    /// The OpenTelemetry GenAI message JSON (`[{"role", "parts"}]`).
    pub const OTEL_GENAI: &str = "otel_genai";
}

/// The keys of a compaction's [`checkpoint`](role::CHECKPOINT) payload, each an array of items.
pub mod checkpoint {
    /// The history before the compaction.
    pub const INPUT_HISTORY: &str = "input_history";
    /// The history that replaced it.
    pub const REPLACEMENT_HISTORY: &str = "replacement_history";
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::SpanKind;
    use crate::reduce::Status;

    #[test]
    fn every_span_name_selects_its_kind_and_every_status_parses_to_itself() {
        let names: Vec<_> = SpanKind::ALL.iter().map(|kind| kind.span_name()).collect();
        let ours = [
            ROLLOUT, THREAD, TURN, INFERENCE, TOOL, CODE_CELL, TERMINAL, COMPACTION,
        ];
        assert_eq!(names, ours);
        for word in status::ALL {
            assert_eq!(Status::parse(word).map(Status::as_str), Some(word));
        }
        assert!(
            PAYLOAD_EVENT.starts_with(EVENT_PREFIX)
                && AGENT_RESULT_EVENT.starts_with(EVENT_PREFIX)
                && DIAGNOSTIC_EVENT.starts_with(EVENT_PREFIX)
        );
    }

    #[test]
    fn every_content_attribute_has_a_listed_role_and_no_alias() {
        for (attribute, role) in genai::CONTENT {
            assert!(role::ALL.contains(&role), "{attribute} → {role}");
            assert!(genai::ALIASES.iter().all(|(alias, _)| *alias != attribute));
        }
    }

    #[test]
    fn canonical_field_name_maps_exactly_the_listed_genai_aliases() {
        for (alias, ours) in genai::ALIASES {
            assert_eq!(genai::canonical_field_name(alias), ours, "{alias}");
        }
        for other in [
            "gen_ai.operation.name",
            "gen_ai.input.messages",
            "error",
            "tool",
        ] {
            assert_eq!(genai::canonical_field_name(other), other);
        }
    }
}
