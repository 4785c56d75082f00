//! Field projection: what a span's fields say, read by their `vocab` names into typed values
//! that the file owning the span's entity merges into it.
//!
//! Invariant: an entity's attributes are a projection of every field value its span has had
//! so far ([`Reducer::project_fields`] runs after creation and after each `span_recorded`), so
//! a late `Span::record` and a creation-time field mean the same thing; a field the span does
//! not have leaves the attribute as it was. Field values are read leniently (a number where
//! text is expected is printed, a numeric string where a number is expected is parsed), and
//! how a span ended is read here too ([`end_status`]).

use serde_json::{Map, Value};

use super::error::ReduceError;
use super::reducer::Reducer;
use super::state::Status;
use crate::format::SpanKind;
use crate::vocab::{field, genai, status};

/// A field as text: strings as they are, numbers and booleans printed.
pub(super) fn field_str(fields: &Map<String, Value>, name: &str) -> Option<String> {
    match fields.get(name)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

/// A field as a non-negative integer (numbers or numeric strings).
pub(super) fn field_u64(fields: &Map<String, Value>, name: &str) -> Option<u64> {
    match fields.get(name)? {
        Value::Number(n) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A field as a signed integer.
pub(super) fn field_i64(fields: &Map<String, Value>, name: &str) -> Option<i64> {
    match fields.get(name)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A field as seconds, converted to nanoseconds (numbers or numeric strings, not negative).
pub(super) fn field_seconds_ns(fields: &Map<String, Value>, name: &str) -> Option<u64> {
    let seconds = match fields.get(name)? {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    (seconds.is_finite() && seconds >= 0.0).then(|| (seconds * 1e9).round() as u64)
}

/// A field as a list of words: an array of strings, a JSON array of them as text (how
/// `tracing` carries an OpenTelemetry array, e.g. `["stop"]`), or a comma-separated text.
pub(super) fn field_words(fields: &Map<String, Value>, name: &str) -> Option<Vec<String>> {
    let words = |list: &[Value]| -> Vec<String> {
        list.iter()
            .filter_map(|v| match v {
                Value::String(s) => Some(s.clone()),
                Value::Number(_) | Value::Bool(_) => Some(v.to_string()),
                Value::Null | Value::Array(_) | Value::Object(_) => None,
            })
            .collect()
    };
    let words = match fields.get(name)? {
        Value::Array(list) => words(list),
        Value::String(text) if text.trim_start().starts_with('[') => {
            match serde_json::from_str::<Vec<Value>>(text) {
                Ok(list) => words(&list),
                Err(_) => vec![text.clone()],
            }
        }
        Value::String(text) => text
            .split(',')
            .map(str::trim)
            .filter(|word| !word.is_empty())
            .map(str::to_owned)
            .collect(),
        Value::Number(_) | Value::Bool(_) | Value::Null | Value::Object(_) => return None,
    };
    (!words.is_empty()).then_some(words)
}

/// Whether the span's `otel.status_code` (the `tracing-opentelemetry` bridge field) says
/// `error`: `Some(true)`, `ok`: `Some(false)`, anything else or nothing: `None`.
fn otel_error(fields: &Map<String, Value>) -> Option<bool> {
    let code = field_str(fields, genai::OTEL_STATUS_CODE)?;
    if code.eq_ignore_ascii_case("error") {
        Some(true)
    } else if code.eq_ignore_ascii_case("ok") {
        Some(false)
    } else {
        None
    }
}

/// The error text a span recorded: its `error` (alias `error.type`), else, when its
/// `otel.status_code` says `error`, its `otel.status_description` (or `error`).
pub(super) fn error_text(fields: &Map<String, Value>) -> Option<String> {
    field_str(fields, field::ERROR).or_else(|| {
        otel_error(fields).filter(|error| *error).map(|_| {
            field_str(fields, genai::OTEL_STATUS_DESCRIPTION)
                .unwrap_or_else(|| status::FAILED.to_owned())
        })
    })
}

/// How a span ended, from its fields: an explicit `status`, else `failed` for an `error`, an
/// `otel.status_code` of `error` or a panic, else `completed` (evidenced when
/// `otel.status_code` says `ok`). The flag says whether the status was evidenced.
pub(super) fn end_status(fields: &Map<String, Value>, panicking: bool) -> (Status, bool) {
    if let Some(status) = field_str(fields, field::STATUS)
        .as_deref()
        .and_then(Status::parse)
    {
        // A span can't still be running once it ended.
        let status = if status == Status::Running {
            Status::Completed
        } else {
            status
        };
        return (status, true);
    }
    let has_error = fields.get(field::ERROR).is_some_and(|v| !v.is_null());
    match otel_error(fields) {
        _ if has_error || panicking => (Status::Failed, true),
        Some(true) => (Status::Failed, true),
        Some(false) => (Status::Completed, true),
        None => (Status::Completed, false),
    }
}

/// A `status` field whose word is not a known status, if the span has one.
pub(super) fn unknown_status(fields: &Map<String, Value>) -> Option<String> {
    field_str(fields, field::STATUS).filter(|word| Status::parse(word).is_none())
}

/// What a `rollout.thread` span's fields say about its thread.
#[derive(Debug)]
pub(super) struct ThreadFields {
    pub(super) agent_path: Option<String>,
    pub(super) nickname: Option<String>,
    pub(super) role: Option<String>,
    pub(super) model: Option<String>,
}

/// What a `rollout.inference` span's fields say about its call.
#[derive(Debug)]
pub(super) struct InferenceFields {
    pub(super) model: Option<String>,
    pub(super) provider: Option<String>,
    pub(super) previous_response_id: Option<String>,
    pub(super) upstream_request_id: Option<String>,
    pub(super) response_id: Option<String>,
    /// Input, output, cached input, reasoning and cache-creation input tokens.
    pub(super) tokens: [Option<u64>; 5],
    /// The provider's finish reasons.
    pub(super) finish_reasons: Option<Vec<String>>,
    /// Time to the first chunk of a streamed response, nanoseconds.
    pub(super) time_to_first_chunk_ns: Option<u64>,
}

/// What a `rollout.tool` span's fields say about its call.
#[derive(Debug)]
pub(super) struct ToolFields {
    pub(super) tool: Option<String>,
    pub(super) kind: Option<String>,
    pub(super) mcp_server: Option<String>,
    pub(super) mcp_call_id: Option<String>,
    pub(super) target_thread_id: Option<String>,
    pub(super) call_id: Option<String>,
    /// The text a collab tool delivers.
    pub(super) message: Option<String>,
    /// The runtime cell a code-mode wait names.
    pub(super) cell_id: Option<String>,
}

/// What a `rollout.code_cell` span's fields say about its cell.
#[derive(Debug)]
pub(super) struct CodeCellFields {
    pub(super) cell_id: Option<String>,
    pub(super) language: Option<String>,
    pub(super) call_id: Option<String>,
    /// The span recorded `status = "yielded"`: a runtime state, not an end.
    pub(super) yielded: bool,
}

/// What a `rollout.terminal` span's fields say about its operation.
#[derive(Debug)]
pub(super) struct TerminalFields {
    pub(super) op: Option<String>,
    pub(super) command: Option<String>,
    pub(super) cwd: Option<String>,
    pub(super) exit_code: Option<i64>,
    pub(super) terminal_id: Option<String>,
}

/// What a span's fields say about its entity, by kind.
#[derive(Debug)]
enum Projection {
    /// Rollouts and turns take nothing from their fields after creation.
    Nothing,
    Thread(ThreadFields),
    Inference(InferenceFields),
    Tool(ToolFields),
    CodeCell(CodeCellFields),
    Terminal(TerminalFields),
    Compaction {
        model: Option<String>,
    },
}

fn project(kind: SpanKind, fields: &Map<String, Value>) -> Projection {
    let s = |name| field_str(fields, name);
    match kind {
        SpanKind::Rollout | SpanKind::Turn => Projection::Nothing,
        SpanKind::Thread => Projection::Thread(ThreadFields {
            agent_path: s(field::AGENT_PATH),
            nickname: s(field::NICKNAME),
            role: s(field::ROLE),
            model: s(field::MODEL),
        }),
        SpanKind::Inference => Projection::Inference(InferenceFields {
            model: s(field::MODEL),
            provider: s(field::PROVIDER),
            previous_response_id: s(field::PREVIOUS_RESPONSE_ID),
            upstream_request_id: s(field::UPSTREAM_REQUEST_ID),
            response_id: s(field::RESPONSE_ID),
            tokens: [
                field_u64(fields, field::INPUT_TOKENS),
                field_u64(fields, field::OUTPUT_TOKENS),
                field_u64(fields, field::CACHED_INPUT_TOKENS),
                field_u64(fields, field::REASONING_TOKENS),
                field_u64(fields, field::CACHE_CREATION_INPUT_TOKENS),
            ],
            finish_reasons: field_words(fields, field::FINISH_REASONS),
            time_to_first_chunk_ns: field_seconds_ns(fields, field::TIME_TO_FIRST_CHUNK),
        }),
        SpanKind::Tool => Projection::Tool(ToolFields {
            tool: s(field::TOOL),
            kind: s(field::KIND),
            mcp_server: s(field::MCP_SERVER),
            mcp_call_id: s(field::MCP_CALL_ID),
            target_thread_id: s(field::TARGET_THREAD_ID),
            call_id: s(field::CALL_ID),
            message: s(field::MESSAGE),
            cell_id: s(field::CELL_ID),
        }),
        SpanKind::CodeCell => Projection::CodeCell(CodeCellFields {
            cell_id: s(field::CELL_ID),
            language: s(field::LANGUAGE),
            call_id: s(field::CALL_ID),
            yielded: s(field::STATUS).as_deref() == Some(status::YIELDED),
        }),
        SpanKind::Terminal => Projection::Terminal(TerminalFields {
            op: s(field::OP),
            command: s(field::COMMAND),
            cwd: s(field::CWD),
            exit_code: field_i64(fields, field::EXIT_CODE),
            terminal_id: s(field::TERMINAL_ID),
        }),
        SpanKind::Compaction => Projection::Compaction {
            model: s(field::MODEL),
        },
    }
}

impl Reducer {
    /// Copies the span's accumulated fields onto its entity (through the entity's owner), which
    /// re-links what a field change can affect (call ids, collab targets, terminal sessions,
    /// response ids).
    pub(super) fn project_fields(&mut self, key: u64) -> Result<(), ReduceError> {
        let Some(entry) = self.spans.get(&key) else {
            return Ok(());
        };
        let (kind, id) = (entry.kind, entry.id.clone());
        let (thread, start_seq) = (entry.thread_id.clone(), entry.start_seq);
        let error = error_text(&entry.fields);
        let projection = project(kind, &entry.fields);
        if let Some(error) = error {
            self.span_error(kind, &id, error);
        }
        match projection {
            Projection::Nothing => {}
            Projection::Thread(fields) => self.thread_fields(&id, fields),
            Projection::Inference(fields) => self.inference_fields(&id, thread, fields),
            Projection::Tool(fields) => self.tool_fields(&id, fields)?,
            Projection::CodeCell(fields) => self.code_cell_fields(key, &id, thread, fields),
            Projection::Terminal(fields) => self.terminal_fields(&id, fields),
            Projection::Compaction { model } => self.compaction_fields(&id, start_seq, model),
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "fields_tests.rs"]
mod tests;
