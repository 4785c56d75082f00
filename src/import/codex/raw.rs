//! Codex's rollout-trace raw events, as Codex 0.169.0 writes them (raw `schema_version` 2)
//! and as earlier versions did (schema 1): the envelope, one variant per event type, payload
//! references, and reading a referenced payload file.
//!
//! Invariant: parsing never fails a whole import. A line that is not an envelope, an event
//! whose `type` this model does not know, or a known event whose fields do not fit, each
//! comes back as a value the mapper turns into a diagnostic; every field a newer Codex may
//! omit is optional, so schema 1 (no `history_item_accepted`, `recording_completed`,
//! `thread_resumed`, nor a `kind` on `tool_call_runtime_started`) parses with the same types.

use std::io::Read as _;
use std::path::{Component, Path};

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// The newest raw schema this model was written against (Codex 0.169.0).
pub(crate) const NEWEST_SCHEMA: u32 = 2;

/// One line of `trace.jsonl`: the envelope around one raw event.
#[derive(Debug, Deserialize)]
pub(crate) struct Envelope {
    /// 1 or 2.
    pub(crate) schema_version: u32,
    /// Contiguous from 1: Codex's causal order.
    pub(crate) seq: u64,
    /// Wall clock, unix ms (display only; may run backwards).
    pub(crate) wall_time_unix_ms: u64,
    /// The envelope's thread context (absent on lifecycle and protocol events).
    pub(crate) thread_id: Option<String>,
    /// The envelope's turn context.
    pub(crate) codex_turn_id: Option<String>,
    /// The event, parsed by [`Event::parse`].
    pub(crate) payload: Value,
}

/// A reference to a payload file of the bundle.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct PayloadRef {
    /// What the payload is (`{"type": "inference_request"}`, …).
    pub(crate) kind: Option<Tagged>,
    /// Bundle-relative path, `payloads/<n>.json`.
    pub(crate) path: String,
}

impl PayloadRef {
    /// The payload kind's name (`inference_request`, …), `unknown` when absent.
    pub(crate) fn kind_name(&self) -> &str {
        self.kind.as_ref().map_or("unknown", |k| k.name.as_str())
    }
}

/// A `{"type": …}` object whose other keys are not needed to tell it apart.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Tagged {
    /// The `type`.
    #[serde(rename = "type")]
    pub(crate) name: String,
}

/// A tool call's kind, `{"type": "exec_command"}`, `{"type": "other", "name": "exec"}`,
/// `{"type": "mcp", "server": …, "tool": …}`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ToolKind {
    /// `exec_command`, `write_stdin`, `spawn_agent`, `mcp`, `other`, …
    #[serde(rename = "type")]
    pub(crate) kind: String,
    /// `other`: the tool's name.
    pub(crate) name: Option<String>,
    /// `mcp`: the server.
    pub(crate) server: Option<String>,
    /// `mcp`: the tool on that server.
    pub(crate) tool: Option<String>,
}

/// Who asked for a tool call: `{"type": "model"}` or `{"type": "code_cell", "runtime_cell_id"}`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Requester {
    /// `model` or `code_cell`.
    #[serde(rename = "type")]
    pub(crate) name: String,
    /// The cell, for `code_cell`.
    #[serde(default, deserialize_with = "opt_id")]
    pub(crate) runtime_cell_id: Option<String>,
}

/// One raw event, by its `type`. Field names are Codex's; everything a version may leave
/// out is optional.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum Event {
    RolloutStarted(RolloutStarted),
    RolloutEnded(Ended),
    ThreadStarted(ThreadStarted),
    ThreadResumed(ThreadResumed),
    ThreadEnded(ThreadEnded),
    CodexTurnStarted(TurnStarted),
    CodexTurnEnded(TurnEnded),
    InferenceStarted(InferenceStarted),
    InferenceCompleted(InferenceEnded),
    InferenceFailed(InferenceEnded),
    InferenceCancelled(InferenceEnded),
    ToolCallStarted(ToolCallStarted),
    McpToolCallCorrelationAssigned(McpCorrelation),
    StdinTargetResolved(StdinTarget),
    ToolCallRuntimeStarted(RuntimeStarted),
    ToolCallRuntimeEnded(ToolCallEnded),
    ToolCallEnded(ToolCallEnded),
    CodeCellStarted(CellStarted),
    CodeCellInitialResponse(CellResponse),
    CodeCellEnded(CellResponse),
    CompactionRequestStarted(CompactionRequestStarted),
    CompactionRequestCompleted(CompactionRequestEnded),
    CompactionRequestFailed(CompactionRequestEnded),
    CompactionInstalled(CompactionInstalled),
    AgentResultObserved(AgentResult),
    ProtocolEventObserved(ProtocolEvent),
    HistoryItemAccepted(HistoryItem),
    RecordingCompleted,
    /// Codex's escape hatch for early instrumentation (its own reducer rejects it).
    Other,
    /// A `type` this model does not know.
    #[serde(other)]
    Unknown,
}

#[derive(Debug, Deserialize)]
pub(crate) struct RolloutStarted {
    pub(crate) trace_id: Option<String>,
    pub(crate) root_thread_id: Option<String>,
}

/// `rollout_ended`.
#[derive(Debug, Deserialize)]
pub(crate) struct Ended {
    pub(crate) status: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ThreadStarted {
    pub(crate) thread_id: String,
    pub(crate) agent_path: Option<String>,
    pub(crate) metadata_payload: Option<PayloadRef>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ThreadResumed {
    pub(crate) thread_id: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ThreadEnded {
    pub(crate) thread_id: String,
    pub(crate) status: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct TurnStarted {
    pub(crate) codex_turn_id: String,
    pub(crate) thread_id: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct TurnEnded {
    pub(crate) codex_turn_id: String,
    pub(crate) status: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct InferenceStarted {
    pub(crate) inference_call_id: String,
    pub(crate) thread_id: Option<String>,
    pub(crate) codex_turn_id: Option<String>,
    pub(crate) model: Option<String>,
    pub(crate) provider_name: Option<String>,
    pub(crate) request_payload: Option<PayloadRef>,
}

/// `inference_completed`, `_failed` and `_cancelled` (each has some of these).
#[derive(Debug, Deserialize)]
pub(crate) struct InferenceEnded {
    pub(crate) inference_call_id: String,
    pub(crate) response_id: Option<String>,
    pub(crate) upstream_request_id: Option<String>,
    /// `_failed`.
    pub(crate) error: Option<String>,
    /// `_cancelled`.
    pub(crate) reason: Option<String>,
    /// `_completed`.
    pub(crate) response_payload: Option<PayloadRef>,
    /// `_failed` and `_cancelled`.
    pub(crate) partial_response_payload: Option<PayloadRef>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ToolCallStarted {
    pub(crate) tool_call_id: String,
    pub(crate) model_visible_call_id: Option<String>,
    pub(crate) code_mode_runtime_tool_id: Option<String>,
    pub(crate) requester: Option<Requester>,
    pub(crate) kind: Option<ToolKind>,
    pub(crate) invocation_payload: Option<PayloadRef>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct McpCorrelation {
    pub(crate) tool_call_id: String,
    pub(crate) mcp_call_id: Option<String>,
}

/// `stdin_target_resolved` (not seen in the recorded corpus; its fields as Codex 0.169.0's
/// binary names them): the `write_stdin` call `tool_call_id` writes to the process that the
/// `exec_command` call `exec_tool_call_id` started.
#[derive(Debug, Deserialize)]
pub(crate) struct StdinTarget {
    pub(crate) tool_call_id: String,
    pub(crate) exec_tool_call_id: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct RuntimeStarted {
    pub(crate) tool_call_id: String,
    /// Schema 2 only: the kind as the runtime sees it.
    pub(crate) kind: Option<ToolKind>,
    pub(crate) runtime_payload: Option<PayloadRef>,
}

/// `tool_call_runtime_ended` (with a runtime payload) and `tool_call_ended` (with a result).
#[derive(Debug, Deserialize)]
pub(crate) struct ToolCallEnded {
    pub(crate) tool_call_id: String,
    pub(crate) status: Option<String>,
    pub(crate) runtime_payload: Option<PayloadRef>,
    pub(crate) result_payload: Option<PayloadRef>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct CellStarted {
    #[serde(deserialize_with = "id")]
    pub(crate) runtime_cell_id: String,
    pub(crate) model_visible_call_id: Option<String>,
    pub(crate) source_js: Option<String>,
}

/// `code_cell_initial_response` and `code_cell_ended`.
#[derive(Debug, Deserialize)]
pub(crate) struct CellResponse {
    #[serde(deserialize_with = "id")]
    pub(crate) runtime_cell_id: String,
    pub(crate) status: Option<String>,
    pub(crate) response_payload: Option<PayloadRef>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct CompactionRequestStarted {
    pub(crate) compaction_id: String,
    pub(crate) compaction_request_id: Option<String>,
    pub(crate) thread_id: Option<String>,
    pub(crate) codex_turn_id: Option<String>,
    pub(crate) model: Option<String>,
    pub(crate) provider_name: Option<String>,
    pub(crate) request_payload: Option<PayloadRef>,
}

/// `compaction_request_completed` and `_failed`.
#[derive(Debug, Deserialize)]
pub(crate) struct CompactionRequestEnded {
    pub(crate) compaction_id: String,
    pub(crate) response_payload: Option<PayloadRef>,
    pub(crate) error: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct CompactionInstalled {
    pub(crate) compaction_id: String,
    pub(crate) checkpoint_payload: Option<PayloadRef>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct AgentResult {
    pub(crate) edge_id: Option<String>,
    pub(crate) child_thread_id: String,
    pub(crate) child_codex_turn_id: Option<String>,
    pub(crate) parent_thread_id: String,
    pub(crate) message: Option<String>,
    pub(crate) carried_payload: Option<PayloadRef>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ProtocolEvent {
    pub(crate) event_type: Option<String>,
    pub(crate) event_payload: Option<PayloadRef>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct HistoryItem {
    pub(crate) item_id: Option<String>,
    pub(crate) agent_message_payload: Option<PayloadRef>,
}

/// Every event type [`Event`] knows, as Codex spells it.
#[cfg(test)]
const EVENT_TYPES: [&str; 29] = [
    "rollout_started",
    "rollout_ended",
    "thread_started",
    "thread_resumed",
    "thread_ended",
    "codex_turn_started",
    "codex_turn_ended",
    "inference_started",
    "inference_completed",
    "inference_failed",
    "inference_cancelled",
    "tool_call_started",
    "mcp_tool_call_correlation_assigned",
    "stdin_target_resolved",
    "tool_call_runtime_started",
    "tool_call_runtime_ended",
    "tool_call_ended",
    "code_cell_started",
    "code_cell_initial_response",
    "code_cell_ended",
    "compaction_request_started",
    "compaction_request_completed",
    "compaction_request_failed",
    "compaction_installed",
    "agent_result_observed",
    "protocol_event_observed",
    "history_item_accepted",
    "recording_completed",
    "other",
];

/// Every payload kind Codex defines (`RawPayloadKind`); any other is reported.
pub(crate) const PAYLOAD_KINDS: [&str; 12] = [
    "inference_request",
    "inference_response",
    "compaction_request",
    "compaction_checkpoint",
    "compaction_response",
    "tool_invocation",
    "tool_result",
    "tool_runtime_event",
    "terminal_runtime_event",
    "protocol_event",
    "session_metadata",
    "agent_result",
];

impl Event {
    /// The typed event of an envelope's payload, or why it does not fit its type.
    pub(crate) fn parse(payload: Value) -> Result<Event, serde_json::Error> {
        serde_json::from_value(payload)
    }
}

/// An id Codex writes as a string or a number.
fn id<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(serde::de::Error::custom(format!(
            "expected a string or number id, got {other}"
        ))),
    }
}

fn opt_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        Value::Number(n) => Ok(Some(n.to_string())),
        other => Err(serde::de::Error::custom(format!(
            "expected a string or number id, got {other}"
        ))),
    }
}

/// A payload file as it goes into a bundle of ours.
#[derive(Debug)]
pub(crate) struct PayloadText {
    /// Compact JSON: the file's JSON without the whitespace between its tokens (Codex
    /// pretty-prints it; every value byte is kept, key order too), or, for a file that is not
    /// JSON, its text as a JSON string.
    pub(crate) json: String,
    /// Why the file is not JSON, when it is not.
    pub(crate) not_json: Option<String>,
}

/// The largest payload file the importer reads (bytes): the layer's largest payload, so
/// every line an import writes fits a reader's line limit. A longer file is not read (a
/// diagnostic names it).
pub(crate) const MAX_PAYLOAD_FILE_BYTES: u64 = 16 << 20;

/// The payload file `reference` names in the bundle `bundle` (a canonical path), or why it
/// cannot be read. A path leaving the bundle is refused, and so is a file that lies outside
/// it through a link, is no regular file, or is longer than [`MAX_PAYLOAD_FILE_BYTES`]; a
/// file that is not JSON is kept as a JSON string (never lost).
pub(crate) fn read_payload(bundle: &Path, reference: &PayloadRef) -> Result<PayloadText, String> {
    let rel = Path::new(&reference.path);
    if rel.as_os_str().is_empty() || !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(format!(
            "payload path `{}` is not a plain path inside the bundle; not read",
            reference.path
        ));
    }
    let path = bundle.join(rel);
    // Only a regular file inside the bundle (`bundle` is canonical): a link out is refused.
    let read = || -> std::io::Result<Vec<u8>> {
        let mut bytes = Vec::new();
        crate::format::open_regular(&path, Some(bundle))?
            .take(MAX_PAYLOAD_FILE_BYTES + 1)
            .read_to_end(&mut bytes)?;
        Ok(bytes)
    };
    let bytes = read().map_err(|e| format!("read {}: {e}", path.display()))?;
    if bytes.len() as u64 > MAX_PAYLOAD_FILE_BYTES {
        return Err(format!(
            "{} is longer than the {MAX_PAYLOAD_FILE_BYTES} bytes the importer reads; not read",
            path.display()
        ));
    }
    let (text, why) = match String::from_utf8(bytes) {
        Ok(text) => match serde_json::from_str::<serde::de::IgnoredAny>(&text) {
            Ok(_) => {
                return Ok(PayloadText {
                    json: minify(&text),
                    not_json: None,
                })
            }
            Err(e) => (text, format!("{} is not JSON ({e})", path.display())),
        },
        Err(e) => (
            String::from_utf8_lossy(e.as_bytes()).into_owned(),
            format!("{} is not UTF-8 text", path.display()),
        ),
    };
    Ok(PayloadText {
        json: Value::String(text).to_string(),
        not_json: Some(why),
    })
}

/// `text` (valid JSON) without the whitespace between its tokens.
pub(crate) fn minify(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    let mut run = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
        } else if matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
            // Whitespace is ASCII, so both ends of the run are character boundaries.
            out.push_str(&text[run..i]);
            run = i + 1;
        } else if b == b'"' {
            in_string = true;
        }
    }
    out.push_str(&text[run..]);
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn minify_drops_whitespace_between_tokens_only() {
        let pretty = "{\n  \"a\": [1, 2],\n  \"b\": \"x \\\" y\\n \\\\\",\n  \"é\": { }\n}\n";
        let compact = minify(pretty);
        assert_eq!(compact, r#"{"a":[1,2],"b":"x \" y\n \\","é":{}}"#);
        let a: Value = serde_json::from_str(pretty).unwrap();
        let b: Value = serde_json::from_str(&compact).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn every_listed_event_type_parses_and_an_unlisted_one_is_unknown() {
        for name in EVENT_TYPES {
            // Only the required fields: ids.
            let event = serde_json::json!({
                "type": name, "thread_id": "t", "codex_turn_id": "u", "inference_call_id": "i",
                "tool_call_id": "c", "runtime_cell_id": 1, "compaction_id": "k",
                "child_thread_id": "t", "parent_thread_id": "p",
            });
            let parsed = Event::parse(event).unwrap();
            assert!(!matches!(parsed, Event::Unknown), "{name}");
        }
        let parsed = Event::parse(serde_json::json!({"type": "frame_observed"})).unwrap();
        assert!(matches!(parsed, Event::Unknown));
    }

    #[test]
    fn a_payload_path_leaving_the_bundle_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        for path in ["../x.json", "/etc/passwd", "", "payloads/../../x"] {
            let reference = PayloadRef {
                kind: None,
                path: path.to_owned(),
            };
            let why = read_payload(dir.path(), &reference)
                .map(|p| p.json)
                .unwrap_err();
            assert!(why.contains("not a plain path"), "{path}: {why}");
        }
    }
}
