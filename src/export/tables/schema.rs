//! The tables' schema: every table, its key and its columns with their types, in the order the
//! files hold them.
//!
//! Invariant: this list is the schema. The rows (`rows.rs`) are written in its column order and
//! checked against its types, the Parquet schema is made from it, and the documentation
//! (`docs/tables.md`, the module docs of [`tables`](super)) is rendered from it by
//! [`schema_markdown`] — a test fails when the file and the list disagree. A change of a name,
//! a type or the meaning of a column bumps [`TABLES_SCHEMA_VERSION`].

use std::fmt::Write as _;

/// Version of the tables' schema (written in `_manifest.json` and in each Parquet file's
/// key-value metadata as `tracing_rollout.tables_schema_version`).
pub const TABLES_SCHEMA_VERSION: u32 = 1;

/// The type of a column (every column is nullable).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ColumnType {
    /// UTF-8 text (Parquet `BYTE_ARRAY` `STRING`; DuckDB `VARCHAR`).
    Text,
    /// A signed 64-bit integer (Parquet `INT64`; DuckDB `BIGINT`).
    Int,
    /// A 64-bit float (Parquet `DOUBLE`; DuckDB `DOUBLE`).
    Float,
    /// A boolean (Parquet `BOOLEAN`; DuckDB `BOOLEAN`).
    Bool,
}

impl ColumnType {
    /// The name used in the schema documentation.
    pub fn as_str(self) -> &'static str {
        match self {
            ColumnType::Text => "text",
            ColumnType::Int => "int64",
            ColumnType::Float => "double",
            ColumnType::Bool => "bool",
        }
    }
}

/// One column of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    /// The column's name.
    pub name: &'static str,
    /// Its type.
    pub ty: ColumnType,
    /// What it holds.
    pub doc: &'static str,
}

/// One table: a file `<name>.jsonl` or `<name>.parquet`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Table {
    /// The table's name (and file stem).
    pub name: &'static str,
    /// What one row is.
    pub doc: &'static str,
    /// The columns that identify a row.
    pub key: &'static [&'static str],
    /// The columns, in file order.
    pub columns: &'static [Column],
}

impl Table {
    /// The index of column `name`.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }
}

const fn c(name: &'static str, ty: ColumnType, doc: &'static str) -> Column {
    Column { name, ty, doc }
}

use ColumnType::{Bool, Float, Int, Text};

const RID: Column = c("rollout_id", Text, "the rollout (`rollouts.rollout_id`)");
const STATUS: Column = c(
    "status",
    Text,
    "`running`, `completed`, `failed`, `cancelled`, `aborted` or `incomplete`",
);
const ERROR: Column = c("error", Text, "the error recorded, if any");
const STARTED: Column = c("started_at_unix_ms", Int, "wall clock at start (Unix ms)");
const ENDED: Column = c(
    "ended_at_unix_ms",
    Int,
    "wall clock at end (Unix ms); null if it never ended",
);
const DURATION: Column = c(
    "duration_ms",
    Float,
    "duration in ms: from the monotonic clock when recorded, else end − start",
);
const THREAD: Column = c("thread_id", Text, "the owning thread (`threads.thread_id`)");
const TURN: Column = c("turn_id", Text, "the owning turn (`turns.turn_id`)");

/// Token columns, in the split the graph has: `input_tokens` includes cached and cache-write
/// tokens, `output_tokens` includes reasoning tokens.
const TOKENS: [Column; 5] = [
    c(
        "input_tokens",
        Int,
        "prompt tokens, cached and cache-write ones included",
    ),
    c(
        "cached_input_tokens",
        Int,
        "prompt tokens served from the provider's cache",
    ),
    c(
        "cache_write_input_tokens",
        Int,
        "prompt tokens written to the provider's cache",
    ),
    c(
        "output_tokens",
        Int,
        "completion tokens, reasoning ones included",
    ),
    c("reasoning_tokens", Int, "reasoning tokens"),
];

/// The tables, in the order they are written.
#[rustfmt::skip]
pub static TABLES: &[Table] = &[
    Table {
        name: "rollouts",
        doc: "One row per bundle: the rollout's identity, status, times, counts and totals.",
        key: &["rollout_id"],
        columns: &[
            c("rollout_id", Text, "the rollout id the program gave (from the manifest or the directory name when the bundle cannot be reduced)"),
            c("bundle", Text, "the bundle's directory, relative to the root it was found under (as given for a bundle named directly)"),
            c("trace_id", Text, "the rollout's trace id"),
            STATUS,
            c("complete", Bool, "false when the log was torn, spans never ended or the bundle never ended"),
            c("error", Text, "why the bundle could not be reduced (its other columns are then null or 0)"),
            STARTED,
            ENDED,
            c("duration_ms", Float, "end − start (wall clock)"),
            c("root_thread_id", Text, "the first thread that is not a child of another (rollouts with the same root thread are one session)"),
            c("root_agent_path", Text, "the root thread's agent path"),
            c("threads", Int, "threads (agents)"),
            c("turns", Int, "turns"),
            c("inference_calls", Int, "inference calls"),
            c("tool_calls", Int, "tool calls"),
            c("failed_tool_calls", Int, "tool calls with status `failed`"),
            c("code_cells", Int, "code cells"),
            c("terminal_operations", Int, "terminal operations"),
            c("compactions", Int, "compactions"),
            c("conversation_items", Int, "conversation items"),
            c("edges", Int, "edges"),
            c("undelivered_edges", Int, "edges whose recipient never saw the delivered text"),
            c("diagnostics", Int, "diagnostics"),
            c("warnings", Int, "diagnostics of level `warning`"),
            TOKENS[0], TOKENS[1], TOKENS[2], TOKENS[3], TOKENS[4],
            c("cost", Float, "the priced calls' cost summed (null without a prices file)"),
            c("priced_calls", Int, "inference calls with a cost (null without a prices file)"),
            c("unpriced_calls", Int, "inference calls whose cost is unknown and left out of `cost` (null without a prices file)"),
        ],
    },
    Table {
        name: "threads",
        doc: "One row per agent thread.",
        key: &["rollout_id", "thread_id"],
        columns: &[
            RID,
            c("thread_id", Text, "the program's thread id"),
            c("parent_thread_id", Text, "the thread that spawned this one"),
            c("spawned_by_tool_call_id", Text, "the tool call that spawned it (`tool_calls.tool_call_id`)"),
            c("agent_path", Text, "routing path such as `/root/researcher`"),
            c("nickname", Text, "display name"),
            c("role", Text, "agent role"),
            c("model", Text, "the thread's default model"),
            STATUS, ERROR, STARTED, ENDED, DURATION,
            c("turns", Int, "turns"),
            c("children", Int, "child threads"),
            c("conversation_items", Int, "items in its conversation"),
            c("attachments", Int, "`rollout.thread` spans for it: 1 + resumes"),
        ],
    },
    Table {
        name: "turns",
        doc: "One row per turn.",
        key: &["rollout_id", "turn_id"],
        columns: &[
            RID,
            c("turn_id", Text, "the program's turn id"),
            THREAD,
            STATUS, ERROR, STARTED, ENDED, DURATION,
            c("inference_calls", Int, "inference calls"),
            c("tool_calls", Int, "tool calls (nested ones included)"),
            c("code_cells", Int, "code cells"),
            c("compactions", Int, "compactions"),
        ],
    },
    Table {
        name: "inference_calls",
        doc: "One row per model request/response attempt, with its tokens and (with prices) its cost.",
        key: &["rollout_id", "inference_call_id"],
        columns: &[
            RID,
            c("inference_call_id", Text, "the reducer's id (`inference:N`)"),
            THREAD, TURN,
            c("model", Text, "model name"),
            c("provider", Text, "provider name"),
            c("response_id", Text, "the provider's response id"),
            c("previous_response_id", Text, "`previous_response_id` of an incremental request"),
            c("upstream_request_id", Text, "the provider's HTTP request id"),
            c("payload_format", Text, "payload shape understood (`openai_responses`, `openai_chat`, `anthropic_messages`, `otel_genai`)"),
            STATUS, ERROR,
            c("error_type", Text, "the provider's error type when the response is an API error"),
            STARTED, ENDED, DURATION,
            c("input_tokens", Int, "prompt tokens, cached and cache-write ones included (null: no usage reported)"),
            TOKENS[1], TOKENS[2], TOKENS[3], TOKENS[4],
            c("request_items", Int, "items the model saw"),
            c("response_items", Int, "items the model produced"),
            c("tool_calls", Int, "tool calls its response started"),
            c("request_payload_seq", Int, "seq of the request payload (`payloads.seq`)"),
            c("response_payload_seq", Int, "seq of the response payload"),
            c("cost_input", Float, "cost of the uncached input tokens"),
            c("cost_cached_input", Float, "cost of the cached input tokens"),
            c("cost_cache_write_input", Float, "cost of the cache-write input tokens"),
            c("cost_output", Float, "cost of the output tokens that are not reasoning"),
            c("cost_reasoning", Float, "cost of the reasoning tokens"),
            c("cost", Float, "the call's cost (null when unpriced)"),
            c("unpriced", Text, "why `cost` is null: `no_prices` (no prices file), `no_model`, `no_usage`, `no_price` (model not in the file), `no_rate` (tokens of a kind the model's entry has no rate for)"),
        ],
    },
    Table {
        name: "tool_calls",
        doc: "One row per tool call, keyed to the inference call or code cell that requested it.",
        key: &["rollout_id", "tool_call_id"],
        columns: &[
            RID,
            c("tool_call_id", Text, "the reducer's id (`tool:N`)"),
            THREAD, TURN,
            c("requester_type", Text, "`model`, `code_cell` or `runtime`"),
            c("requester_inference_call_id", Text, "the inference call whose response carried the call (`inference_calls.inference_call_id`)"),
            c("requester_code_cell_id", Text, "the code cell that issued it (`code_cells.code_cell_id`)"),
            c("tool", Text, "tool name"),
            c("kind", Text, "free-text kind (`function`, `spawn_agent`, …)"),
            c("call_id", Text, "the model-visible call id"),
            c("mcp_server", Text, "MCP server"),
            c("target_thread_id", Text, "collab target thread"),
            c("runtime", Text, "`provider` for a hosted tool the provider ran"),
            STATUS, ERROR, STARTED, ENDED, DURATION,
            c("output_seen", Bool, "the model saw the call's output (an item carries it)"),
            c("terminal_operations", Int, "terminal operations run for it"),
            c("spawned_threads", Int, "threads it spawned"),
            c("waited_code_cell_id", Text, "for a code-mode wait: the cell it waits on"),
            c("args_payload_seq", Int, "seq of the args payload"),
            c("result_payload_seq", Int, "seq of the result payload"),
            c("args_bytes", Int, "size of the args payload"),
            c("result_bytes", Int, "size of the result payload"),
        ],
    },
    Table {
        name: "code_cells",
        doc: "One row per code-mode cell.",
        key: &["rollout_id", "code_cell_id"],
        columns: &[
            RID,
            c("code_cell_id", Text, "the reducer's id (`code_cell:N`)"),
            c("cell_id", Text, "the runtime's cell id"),
            c("call_id", Text, "the model-visible call that carried the code"),
            c("language", Text, "language of the code"),
            THREAD, TURN, STATUS, ERROR, STARTED, ENDED, DURATION,
            c("tool_calls", Int, "tool calls the cell issued"),
            c("waits", Int, "wait calls naming it"),
            c("yielded_at_unix_ms", Int, "when it first yielded to the model before finishing"),
            c("source_item_id", Text, "the item carrying the code"),
            c("source_payload_seq", Int, "seq of the source payload"),
            c("output_payload_seq", Int, "seq of the output payload"),
        ],
    },
    Table {
        name: "terminal_operations",
        doc: "One row per terminal operation.",
        key: &["rollout_id", "operation_id"],
        columns: &[
            RID,
            c("operation_id", Text, "the reducer's id (`terminal_op:N`)"),
            c("terminal_id", Text, "the terminal session"),
            c("tool_call_id", Text, "the enclosing tool call"),
            THREAD,
            c("op", Text, "`exec`, `write`, `poll`, …"),
            c("command", Text, "command line"),
            c("cwd", Text, "working directory"),
            c("exit_code", Int, "exit code"),
            STATUS, ERROR, STARTED, ENDED, DURATION,
        ],
    },
    Table {
        name: "compactions",
        doc: "One row per history compaction (retries of one `compaction_id` are one row).",
        key: &["rollout_id", "compaction_id"],
        columns: &[
            RID,
            c("compaction_id", Text, "the program's id, else `compaction:N`"),
            THREAD, TURN,
            c("model", Text, "model used"),
            STATUS, ERROR, STARTED, ENDED, DURATION,
            c("attempts", Int, "attempts (1 unless retried)"),
            c("input_items", Int, "items of the history before"),
            c("replacement_items", Int, "items of the history that replaced it"),
            c("marker_item_id", Text, "the boundary item"),
            c("checkpoint_payload_seq", Int, "seq of the checkpoint payload"),
        ],
    },
    Table {
        name: "edges",
        doc: "One row per edge between threads, tool calls and items (spawn, message, task, result, close, link).",
        key: &["rollout_id", "edge_id"],
        columns: &[
            RID,
            c("edge_id", Text, "the reducer's id (`edge:<kind>:<seq>`)"),
            c("kind", Text, "`spawn`, `message`, `task`, `result`, `close` or `link`"),
            c("from_type", Text, "`tool_call`, `thread`, `conversation_item`, `turn`, `inference_call`, `code_cell` or `span`"),
            c("from_id", Text, "the source's id in its table"),
            c("from_thread_id", Text, "the thread the source belongs to"),
            c("to_type", Text, "as `from_type`"),
            c("to_id", Text, "the target's id: the recipient's item once delivered, else the thread"),
            c("to_thread_id", Text, "the thread the target belongs to"),
            c("delivered", Bool, "the recipient's model-visible item carrying the text was found"),
            c("started_at_unix_ms", Int, "when the edge was observed"),
            c("message", Text, "the delivered text (first 2000 bytes unless `--bodies`)"),
        ],
    },
    Table {
        name: "conversation_items",
        doc: "One row per thing a model saw or produced; `text` is the graph's preview (bodies are in `payloads`).",
        key: &["rollout_id", "item_id"],
        columns: &[
            RID,
            c("item_id", Text, "the reducer's id (`item:N`, first-seen order)"),
            c("thread_id", Text, "the owning thread"),
            c("turn_id", Text, "the turn that first introduced it"),
            c("kind", Text, "`message`, `reasoning`, `function_call`, `function_call_output`, …"),
            c("role", Text, "`system`, `developer`, `user`, `assistant`, `tool`"),
            c("call_id", Text, "call id on call and output items"),
            c("name", Text, "tool name on call items"),
            c("status", Text, "the provider's status of a hosted tool item"),
            c("text", Text, "readable preview (at most 2000 bytes)"),
            c("first_seen_at_unix_ms", Int, "when first seen"),
            c("first_seen_seq", Int, "seq of the payload that first carried it (`payloads.seq`)"),
            c("produced_by_type", Text, "what produced it first: `inference`, `tool_call`, `code_cell`, `compaction`, `edge` (null: input given to the model)"),
            c("produced_by_id", Text, "that producer's id"),
        ],
    },
    Table {
        name: "diagnostics",
        doc: "One row per diagnostic: what the reducer tolerated or could not resolve.",
        key: &["rollout_id", "diagnostic_index"],
        columns: &[
            RID,
            c("diagnostic_index", Int, "position in the rollout's list, from 0"),
            c("level", Text, "`warning` or `info`"),
            c("message", Text, "what happened, with the ids involved"),
            c("seq", Int, "the record it concerns (null for end-of-log findings)"),
        ],
    },
    Table {
        name: "payloads",
        doc: "One row per payload record (raw evidence); `body` only with `--bodies`.",
        key: &["rollout_id", "seq"],
        columns: &[
            RID,
            c("seq", Int, "the payload record's seq"),
            c("role", Text, "`request`, `response`, `args`, `result`, `output`, `source`, `checkpoint`, `metadata`"),
            c("owner_type", Text, "the entity it belongs to, as `edges.from_type`"),
            c("owner_id", Text, "that entity's id"),
            c("bytes", Int, "size as recorded"),
            c("truncated", Bool, "cut by the writer's `max_payload_bytes`"),
            c("body", Text, "the whole JSON body (null unless `--bodies`)"),
        ],
    },
];

/// The table named `name`.
pub fn table(name: &str) -> Option<&'static Table> {
    TABLES.iter().find(|t| t.name == name)
}

/// The schema as Markdown: one section per table with its key and a column table (what
/// `docs/tables.md` holds).
pub fn schema_markdown() -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Schema version {TABLES_SCHEMA_VERSION}. Every column is nullable; ids join across \
         tables within one `rollout_id`.\n"
    );
    for table in TABLES {
        let _ = writeln!(out, "## `{}`\n\n{}\n", table.name, table.doc);
        let key: Vec<String> = table.key.iter().map(|k| format!("`{k}`")).collect();
        let _ = writeln!(out, "Key: {}.\n", key.join(", "));
        let _ = writeln!(out, "| column | type | meaning |\n|---|---|---|");
        for column in table.columns {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} |",
                column.name,
                column.ty.as_str(),
                column.doc.replace('|', "\\|")
            );
        }
        out.push('\n');
    }
    out
}
