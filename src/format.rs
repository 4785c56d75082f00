//! The on-disk bundle format: the one place where `trace.jsonl` records and `manifest.json`
//! are defined, written (hot-path encoders) and read back (the parser the reducer uses).
//!
//! Invariant: every record refers only to records before it in the same file, so any prefix
//! of `trace.jsonl` (cut at a line boundary) is a valid trace. The encoders here never emit a
//! raw newline inside a record, which is what makes "one record per line" hold for arbitrary
//! payload text.
//!
//! # Bundle layout
//!
//! ```text
//! <root_dir>/<rollout_id>/
//!   manifest.json   identity + final counts; rewritten atomically (temp file + rename) at end
//!   trace.jsonl     the only log: one JSON record per line, payload bodies inline
//!   state.json      written by the reducer / `tracing-rollout reduce`
//! ```
//!
//! Files are created owner-only (`0600`, directories `0700`): they hold prompts and tool
//! output.
//!
//! # `trace.jsonl`: the envelope
//!
//! Every line is one JSON object whose first keys are the envelope:
//!
//! | key | meaning |
//! |---|---|
//! | `seq` | 1, 2, 3, … contiguous, assigned by the writer thread, so file order is seq order |
//! | `t` | wall clock, unix milliseconds, when the record was captured: the wall clock read when the bundle started plus `ns`, so it never runs backwards within a bundle (display only) |
//! | `ns` | monotonic nanoseconds since the bundle started (durations; never goes backwards per thread) |
//! | `type` | the record type, one of the sections below |
//!
//! Readers must ignore keys they do not know; a record type they do not know is reported
//! (the reducer turns it into a diagnostic) rather than fatal, so the format can grow within
//! one [`FORMAT_VERSION`].
//!
//! ## `bundle_started`
//! Always `seq` 1. Keys: `format` (`"tracing-rollout"`), `format_version`, `rollout_id` (as
//! the instrumented program named it, before sanitising), `trace_id` (optional), `writer`
//! (`"tracing-rollout <version>"`).
//!
//! ## `span_started`
//! A recorded span was created. Keys: `span` (a key minted by the layer, unique in the bundle;
//! never a reused `tracing` span id), `parent` (key of the nearest recorded ancestor span, or
//! absent), `thread` / `turn` (keys of the nearest enclosing `rollout.thread` /
//! `rollout.turn` span, absent if none; a thread span's `thread` is itself), `kind` (see
//! [`SpanKind`]), `name` (the `tracing` span name), `fields` (an object: every field the span
//! was created with, OpenTelemetry GenAI aliases already mapped to their canonical names, see
//! [`canonical_field_name`]).
//!
//! ## `span_recorded`
//! `Span::record` gave a span new field values. Keys: `span`, `fields` (only the new values;
//! later values override earlier ones).
//!
//! ## `span_ended`
//! The span closed (its last handle was dropped). Keys: `span`, `panicking` (present and
//! `true` when the span closed while its OS thread was unwinding a panic).
//!
//! ## `payload`
//! Raw evidence from a `rollout.payload` event. Keys: `span` (the enclosing recorded span),
//! `role` (`request`, `response`, `args`, `result`, `output`, `source`, `checkpoint`,
//! `metadata`, or anything else the program wrote), `bytes` (size of the payload as given,
//! before truncation), `truncated` (present and `true` when cut), `cut_bytes` (how many
//! bytes were cut), `omitted` (present and `true` when `capture_payloads(false)` dropped the
//! body), and last `body`: the payload as inline JSON. A payload that was not valid JSON is
//! stored as a JSON string; a truncated payload is stored as a JSON string holding the first
//! `max_payload_bytes` of its text followed by a marker `…[truncated N bytes]`; an omitted
//! body is `null`.
//!
//! ## `event`
//! Any other event whose name starts with `rollout.` (for example `rollout.agent_result`),
//! inside a recorded span. Keys: `span`, `name`, `fields`.
//!
//! ## `link`
//! `Span::follows_from` between two recorded spans of the bundle. Keys: `span` (the span that
//! follows), `follows` (the span it follows from).
//!
//! ## `dropped`
//! Lossy mode only: records that could not be buffered since the previous record of this
//! bundle were dropped. Keys: `records`, `bytes`. A later record may refer to a span whose
//! `span_started` was dropped; readers treat that as missing evidence, not as corruption.
//!
//! ## `bundle_ended`
//! The rollout's root span (the `rollout` span, or the thread that started the rollout)
//! closed. Keys: `status` (`completed`, `failed`, `cancelled`, `aborted`), `records` (records
//! in the file, this one included), `dropped_records` (total dropped in the bundle).
//! Nothing follows it.
//!
//! ## Example
//!
//! ```json
//! {"seq":1,"t":1760000000000,"ns":0,"type":"bundle_started","format":"tracing-rollout","format_version":1,"rollout_id":"demo","writer":"tracing-rollout 0.1.0"}
//! {"seq":2,"t":1760000000000,"ns":1200,"type":"span_started","span":1,"kind":"rollout","name":"rollout","fields":{"rollout_id":"demo"}}
//! {"seq":3,"t":1760000000001,"ns":5300,"type":"span_started","span":2,"parent":1,"thread":2,"kind":"thread","name":"rollout.thread","fields":{"thread_id":"root","agent_path":"/root"}}
//! {"seq":4,"t":1760000000001,"ns":7100,"type":"span_started","span":3,"parent":2,"thread":2,"turn":3,"kind":"turn","name":"rollout.turn","fields":{"turn_id":"t1"}}
//! {"seq":5,"t":1760000000002,"ns":9000,"type":"span_started","span":4,"parent":3,"thread":2,"turn":3,"kind":"inference","name":"rollout.inference","fields":{"model":"gpt-5"}}
//! {"seq":6,"t":1760000000002,"ns":9800,"type":"payload","span":4,"role":"request","bytes":52,"body":{"input":[{"type":"message","role":"user","content":"hi"}]}}
//! {"seq":7,"t":1760000000090,"ns":88000,"type":"span_recorded","span":4,"fields":{"output_tokens":12}}
//! {"seq":8,"t":1760000000090,"ns":89000,"type":"span_ended","span":4}
//! {"seq":9,"t":1760000000091,"ns":90000,"type":"span_ended","span":3}
//! {"seq":10,"t":1760000000091,"ns":91000,"type":"span_ended","span":2}
//! {"seq":11,"t":1760000000091,"ns":92000,"type":"span_ended","span":1}
//! {"seq":12,"t":1760000000091,"ns":93000,"type":"bundle_ended","status":"completed","records":12,"dropped_records":0}
//! ```
//!
//! # `manifest.json`
//!
//! See [`Manifest`]. Written when the bundle is created (status `running`) and rewritten
//! atomically (temp file + rename) when it ends or the guard finishes.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// The value of `format` in `manifest.json` and `bundle_started`.
pub const FORMAT: &str = "tracing-rollout";

/// Version of the bundle format described in this module. Readers accept bundles whose
/// `format_version` is at most this.
pub const FORMAT_VERSION: u32 = 1;

/// What a recorded span stands for, selected by its `tracing` span name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SpanKind {
    /// `rollout`: one rollout, a root thread and every thread it spawns.
    Rollout,
    /// `rollout.thread`: one agent thread (one conversation history).
    Thread,
    /// `rollout.turn`: one turn of a thread.
    Turn,
    /// `rollout.inference`: one model request/response attempt.
    Inference,
    /// `rollout.tool`: one tool call.
    Tool,
    /// `rollout.code_cell`: one code-mode cell.
    CodeCell,
    /// `rollout.terminal`: one terminal operation.
    Terminal,
    /// `rollout.compaction`: one history compaction.
    Compaction,
}

impl SpanKind {
    /// Every kind, in vocabulary order.
    pub const ALL: [SpanKind; 8] = [
        SpanKind::Rollout,
        SpanKind::Thread,
        SpanKind::Turn,
        SpanKind::Inference,
        SpanKind::Tool,
        SpanKind::CodeCell,
        SpanKind::Terminal,
        SpanKind::Compaction,
    ];

    /// The kind a `tracing` span name selects, or `None` for spans this crate ignores.
    pub fn from_span_name(name: &str) -> Option<SpanKind> {
        Some(match name {
            "rollout" => SpanKind::Rollout,
            "rollout.thread" => SpanKind::Thread,
            "rollout.turn" => SpanKind::Turn,
            "rollout.inference" => SpanKind::Inference,
            "rollout.tool" => SpanKind::Tool,
            "rollout.code_cell" => SpanKind::CodeCell,
            "rollout.terminal" => SpanKind::Terminal,
            "rollout.compaction" => SpanKind::Compaction,
            _ => return None,
        })
    }

    /// The `kind` string written to `trace.jsonl`.
    pub fn as_str(self) -> &'static str {
        match self {
            SpanKind::Rollout => "rollout",
            SpanKind::Thread => "thread",
            SpanKind::Turn => "turn",
            SpanKind::Inference => "inference",
            SpanKind::Tool => "tool",
            SpanKind::CodeCell => "code_cell",
            SpanKind::Terminal => "terminal",
            SpanKind::Compaction => "compaction",
        }
    }

    /// The `tracing` span name that selects this kind.
    pub fn span_name(self) -> &'static str {
        match self {
            SpanKind::Rollout => "rollout",
            SpanKind::Thread => "rollout.thread",
            SpanKind::Turn => "rollout.turn",
            SpanKind::Inference => "rollout.inference",
            SpanKind::Tool => "rollout.tool",
            SpanKind::CodeCell => "rollout.code_cell",
            SpanKind::Terminal => "rollout.terminal",
            SpanKind::Compaction => "rollout.compaction",
        }
    }
}

impl fmt::Display for SpanKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Event name of raw evidence attached to the enclosing span.
pub const PAYLOAD_EVENT: &str = "rollout.payload";

/// The payload roles of the vocabulary (SPEC §3); the reducer reports any other as a
/// diagnostic and keeps the payload as raw evidence.
pub const PAYLOAD_ROLES: &[&str] = &[
    "request",
    "response",
    "args",
    "result",
    "output",
    "source",
    "checkpoint",
    "metadata",
];
/// Event name of a child thread's result delivered to its parent.
pub const AGENT_RESULT_EVENT: &str = "rollout.agent_result";

/// Maps an accepted field alias (OpenTelemetry GenAI conventions) to the canonical field name
/// written to `trace.jsonl`; any other name is returned unchanged.
pub fn canonical_field_name(name: &str) -> &str {
    if !name.starts_with("gen_ai.") {
        return name;
    }
    match name {
        "gen_ai.request.model" => "model",
        "gen_ai.provider.name" | "gen_ai.system" => "provider",
        "gen_ai.response.id" => "response_id",
        "gen_ai.usage.input_tokens" => "input_tokens",
        "gen_ai.usage.output_tokens" => "output_tokens",
        "gen_ai.usage.cached_input_tokens" | "gen_ai.usage.cache_read.input_tokens" => {
            "cached_input_tokens"
        }
        "gen_ai.usage.reasoning_tokens" | "gen_ai.usage.reasoning.output_tokens" => {
            "reasoning_tokens"
        }
        "gen_ai.tool.name" => "tool",
        "gen_ai.tool.call.id" => "call_id",
        "gen_ai.conversation.id" => "thread_id",
        "gen_ai.agent.name" => "nickname",
        other => other,
    }
}

/// `manifest.json`: identity of the bundle and its final counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`FORMAT_VERSION`] of the writer.
    pub format_version: u32,
    /// The rollout id as the program gave it (the directory name is its sanitised form).
    pub rollout_id: String,
    /// The `trace_id` field of the rollout span, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// Wall clock when the bundle was created.
    pub started_at_unix_ms: u64,
    /// Wall clock when the bundle ended; `None` while running.
    #[serde(default)]
    pub ended_at_unix_ms: Option<u64>,
    /// `running` until the bundle ends; then the root span's status (`completed`, `failed`,
    /// `cancelled`, `aborted`), or `incomplete` when the guard finished before the root span
    /// closed.
    pub status: String,
    /// Records written to `trace.jsonl`.
    pub records: u64,
    /// Records dropped in lossy mode.
    pub dropped_records: u64,
    /// `tracing-rollout <version>` of the writer.
    pub writer: String,
}

/// One parsed line of `trace.jsonl`, borrowing from the line.
#[derive(Debug, Clone)]
pub struct Record<'a> {
    /// Contiguous sequence number from 1.
    pub seq: u64,
    /// Wall clock, unix milliseconds.
    pub t: u64,
    /// Monotonic nanoseconds since the bundle started.
    pub ns: u64,
    /// The typed body.
    pub body: RecordBody<'a>,
}

/// The type-specific part of a [`Record`]; see the module docs for each type.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum RecordBody<'a> {
    /// `bundle_started`.
    BundleStarted {
        /// `format_version` of the writer.
        format_version: u32,
        /// The rollout id as given.
        rollout_id: Cow<'a, str>,
        /// Optional trace id.
        trace_id: Option<Cow<'a, str>>,
        /// Writer name and version.
        writer: Cow<'a, str>,
    },
    /// `span_started`.
    SpanStarted {
        /// Bundle-unique span key.
        span: u64,
        /// Nearest recorded ancestor.
        parent: Option<u64>,
        /// Enclosing thread span.
        thread: Option<u64>,
        /// Enclosing turn span.
        turn: Option<u64>,
        /// What the span stands for.
        kind: SpanKind,
        /// The `tracing` span name.
        name: Cow<'a, str>,
        /// Fields given at creation.
        fields: Map<String, Value>,
    },
    /// `span_recorded`.
    SpanRecorded {
        /// The span.
        span: u64,
        /// New field values.
        fields: Map<String, Value>,
    },
    /// `span_ended`.
    SpanEnded {
        /// The span.
        span: u64,
        /// Closed while its thread was panicking.
        panicking: bool,
    },
    /// `payload`.
    Payload {
        /// The owning span.
        span: u64,
        /// What the payload is (`request`, `response`, `args`, …).
        role: Cow<'a, str>,
        /// Size as given, before truncation.
        bytes: u64,
        /// Cut at `max_payload_bytes`.
        truncated: bool,
        /// Bytes cut.
        cut_bytes: u64,
        /// Body dropped by `capture_payloads(false)`.
        omitted: bool,
        /// The body as inline JSON, unparsed.
        body: &'a RawValue,
    },
    /// `event`.
    Event {
        /// The enclosing span.
        span: u64,
        /// Event name.
        name: Cow<'a, str>,
        /// Event fields.
        fields: Map<String, Value>,
    },
    /// `link`.
    Link {
        /// The span that follows.
        span: u64,
        /// The span it follows from.
        follows: u64,
    },
    /// `dropped`.
    Dropped {
        /// Records dropped since the previous record.
        records: u64,
        /// Their bytes.
        bytes: u64,
    },
    /// `bundle_ended`.
    BundleEnded {
        /// Final status of the root span.
        status: Cow<'a, str>,
        /// Records in the file, this one included.
        records: u64,
        /// Total dropped records.
        dropped_records: u64,
    },
    /// A record type this version does not know (kept so readers can report it).
    Unknown {
        /// Its `type`.
        record_type: Cow<'a, str>,
    },
}

/// Why a line is not a valid record.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The line is not a JSON object of the envelope's shape.
    #[error("invalid record: {0}")]
    Json(#[from] serde_json::Error),
    /// A key the record type requires is missing.
    #[error("`{record_type}` record lacks `{key}`")]
    MissingKey {
        /// The record type.
        record_type: String,
        /// The missing key.
        key: &'static str,
    },
}

/// Every key any record type has, all optional; [`Record::parse`] checks per type.
#[derive(Deserialize)]
struct WireRecord<'a> {
    seq: u64,
    t: u64,
    ns: u64,
    #[serde(rename = "type", borrow)]
    record_type: Cow<'a, str>,
    #[serde(default)]
    span: Option<u64>,
    #[serde(default)]
    parent: Option<u64>,
    #[serde(default)]
    thread: Option<u64>,
    #[serde(default)]
    turn: Option<u64>,
    #[serde(default)]
    kind: Option<SpanKind>,
    #[serde(default, borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(default)]
    fields: Option<Map<String, Value>>,
    #[serde(default)]
    panicking: bool,
    #[serde(default, borrow)]
    role: Option<Cow<'a, str>>,
    #[serde(default)]
    bytes: Option<u64>,
    #[serde(default)]
    truncated: bool,
    #[serde(default)]
    cut_bytes: u64,
    #[serde(default)]
    omitted: bool,
    // A plain `Option` would turn an omitted payload's `"body":null` into "missing".
    #[serde(default, borrow, deserialize_with = "present_raw_value")]
    body: Option<&'a RawValue>,
    #[serde(default)]
    follows: Option<u64>,
    #[serde(default)]
    records: Option<u64>,
    #[serde(default)]
    dropped_records: u64,
    #[serde(default)]
    format_version: Option<u32>,
    #[serde(default, borrow)]
    rollout_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    trace_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    writer: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    status: Option<Cow<'a, str>>,
}

/// Deserialises a key that is present (even as `null`) into `Some` of its raw JSON.
fn present_raw_value<'de, D>(deserializer: D) -> Result<Option<&'de RawValue>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    <&'de RawValue>::deserialize(deserializer).map(Some)
}

impl<'a> Record<'a> {
    /// Parses one line of `trace.jsonl` (without its newline).
    ///
    /// # Examples
    ///
    /// ```
    /// use tracing_rollout::format::{Record, RecordBody};
    /// let r = Record::parse(r#"{"seq":3,"t":1,"ns":2,"type":"link","span":7,"follows":5}"#)?;
    /// assert_eq!(r.seq, 3);
    /// assert!(matches!(r.body, RecordBody::Link { span: 7, follows: 5 }));
    /// # Ok::<(), tracing_rollout::format::RecordError>(())
    /// ```
    pub fn parse(line: &'a str) -> Result<Record<'a>, RecordError> {
        let w: WireRecord<'a> = serde_json::from_str(line)?;
        let missing = |key: &'static str| RecordError::MissingKey {
            record_type: w.record_type.to_string(),
            key,
        };
        let span = || w.span.ok_or_else(|| missing("span"));
        let body = match &*w.record_type {
            "bundle_started" => RecordBody::BundleStarted {
                format_version: w.format_version.ok_or_else(|| missing("format_version"))?,
                rollout_id: w.rollout_id.ok_or_else(|| missing("rollout_id"))?,
                trace_id: w.trace_id,
                writer: w.writer.unwrap_or(Cow::Borrowed("")),
            },
            "span_started" => RecordBody::SpanStarted {
                span: span()?,
                parent: w.parent,
                thread: w.thread,
                turn: w.turn,
                kind: w.kind.ok_or_else(|| missing("kind"))?,
                name: w.name.ok_or_else(|| missing("name"))?,
                fields: w.fields.unwrap_or_default(),
            },
            "span_recorded" => RecordBody::SpanRecorded {
                span: span()?,
                fields: w.fields.ok_or_else(|| missing("fields"))?,
            },
            "span_ended" => RecordBody::SpanEnded {
                span: span()?,
                panicking: w.panicking,
            },
            "payload" => RecordBody::Payload {
                span: span()?,
                role: w.role.ok_or_else(|| missing("role"))?,
                bytes: w.bytes.unwrap_or(0),
                truncated: w.truncated,
                cut_bytes: w.cut_bytes,
                omitted: w.omitted,
                body: w.body.ok_or_else(|| missing("body"))?,
            },
            "event" => RecordBody::Event {
                span: span()?,
                name: w.name.ok_or_else(|| missing("name"))?,
                fields: w.fields.unwrap_or_default(),
            },
            "link" => RecordBody::Link {
                span: span()?,
                follows: w.follows.ok_or_else(|| missing("follows"))?,
            },
            "dropped" => RecordBody::Dropped {
                records: w.records.ok_or_else(|| missing("records"))?,
                bytes: w.bytes.unwrap_or(0),
            },
            "bundle_ended" => RecordBody::BundleEnded {
                status: w.status.ok_or_else(|| missing("status"))?,
                records: w.records.ok_or_else(|| missing("records"))?,
                dropped_records: w.dropped_records,
            },
            _ => RecordBody::Unknown {
                record_type: w.record_type.clone(),
            },
        };
        Ok(Record {
            seq: w.seq,
            t: w.t,
            ns: w.ns,
            body,
        })
    }

    /// The record's `type` string.
    pub fn record_type(&self) -> &str {
        match &self.body {
            RecordBody::BundleStarted { .. } => "bundle_started",
            RecordBody::SpanStarted { .. } => "span_started",
            RecordBody::SpanRecorded { .. } => "span_recorded",
            RecordBody::SpanEnded { .. } => "span_ended",
            RecordBody::Payload { .. } => "payload",
            RecordBody::Event { .. } => "event",
            RecordBody::Link { .. } => "link",
            RecordBody::Dropped { .. } => "dropped",
            RecordBody::BundleEnded { .. } => "bundle_ended",
            RecordBody::Unknown { record_type } => record_type,
        }
    }
}

// ---- encoders (hot path) ----
//
// The writer assembles every line as `envelope + body`: the instrumented thread encodes the
// body (everything after the envelope, from `"type":` to the closing `}`) and the writer
// thread prepends the envelope, because only the writer thread knows `seq`. Encoders append
// to a caller-owned `Vec<u8>` (a reused thread-local buffer), allocate nothing else and
// never emit a raw newline.

/// Appends `n` in decimal.
pub(crate) fn push_u64(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// Appends `s` JSON-escaped, without surrounding quotes. Escapes `"`, `\` and every control
/// character, so the output never contains a raw newline.
pub(crate) fn push_escaped(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    let mut start = 0;
    loop {
        let i = crate::json_check::find_special(bytes, start);
        out.extend_from_slice(&bytes[start..i]);
        let Some(&b) = bytes.get(i) else {
            return;
        };
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            _ => {
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
            }
        }
        start = i + 1;
    }
}

/// Appends `s` as a quoted JSON string.
pub(crate) fn push_json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    push_escaped(out, s);
    out.push(b'"');
}

fn push_key_u64(out: &mut Vec<u8>, key: &str, value: u64) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
    push_u64(out, value);
}

fn push_type(out: &mut Vec<u8>, record_type: &str) {
    out.extend_from_slice(b"\"type\":\"");
    out.extend_from_slice(record_type.as_bytes());
    out.push(b'"');
}

/// The envelope of every line: `{"seq":N,"t":T,"ns":NS,` (the body follows).
pub(crate) fn encode_envelope(out: &mut Vec<u8>, seq: u64, t: u64, ns: u64) {
    out.extend_from_slice(b"{\"seq\":");
    push_u64(out, seq);
    push_key_u64(out, "t", t);
    push_key_u64(out, "ns", ns);
    out.push(b',');
}

/// Body of `bundle_started`.
pub(crate) fn encode_bundle_started(out: &mut Vec<u8>, rollout_id: &str, trace_id: Option<&str>) {
    push_type(out, "bundle_started");
    out.extend_from_slice(b",\"format\":");
    push_json_str(out, FORMAT);
    push_key_u64(out, "format_version", u64::from(FORMAT_VERSION));
    out.extend_from_slice(b",\"rollout_id\":");
    push_json_str(out, rollout_id);
    if let Some(trace_id) = trace_id {
        out.extend_from_slice(b",\"trace_id\":");
        push_json_str(out, trace_id);
    }
    out.extend_from_slice(b",\"writer\":\"");
    out.extend_from_slice(WRITER.as_bytes());
    out.extend_from_slice(b"\"}");
}

/// `tracing-rollout <version>`: the `writer` of `bundle_started` and `manifest.json`.
pub(crate) const WRITER: &str = concat!("tracing-rollout ", env!("CARGO_PKG_VERSION"));

/// Keys of a `span_started` body up to and including `"fields":{`; the field visitor writes
/// the pairs and [`end_fields`] closes the record.
pub(crate) fn begin_span_started(
    out: &mut Vec<u8>,
    span: u64,
    parent: Option<u64>,
    thread: Option<u64>,
    turn: Option<u64>,
    kind: SpanKind,
    name: &str,
) {
    push_type(out, "span_started");
    push_key_u64(out, "span", span);
    for (key, value) in [("parent", parent), ("thread", thread), ("turn", turn)] {
        if let Some(value) = value {
            push_key_u64(out, key, value);
        }
    }
    out.extend_from_slice(b",\"kind\":\"");
    out.extend_from_slice(kind.as_str().as_bytes());
    out.extend_from_slice(b"\",\"name\":");
    push_json_str(out, name);
    out.extend_from_slice(b",\"fields\":{");
}

/// Keys of a `span_recorded` body up to and including `"fields":{`.
pub(crate) fn begin_span_recorded(out: &mut Vec<u8>, span: u64) {
    push_type(out, "span_recorded");
    push_key_u64(out, "span", span);
    out.extend_from_slice(b",\"fields\":{");
}

/// Keys of an `event` body up to and including `"fields":{`.
pub(crate) fn begin_event(out: &mut Vec<u8>, span: u64, name: &str) {
    push_type(out, "event");
    push_key_u64(out, "span", span);
    out.extend_from_slice(b",\"name\":");
    push_json_str(out, name);
    out.extend_from_slice(b",\"fields\":{");
}

/// Closes the `fields` object and the record opened by a `begin_*` encoder.
pub(crate) fn end_fields(out: &mut Vec<u8>) {
    out.extend_from_slice(b"}}");
}

/// Body of `span_ended`.
pub(crate) fn encode_span_ended(out: &mut Vec<u8>, span: u64, panicking: bool) {
    push_type(out, "span_ended");
    push_key_u64(out, "span", span);
    if panicking {
        out.extend_from_slice(b",\"panicking\":true");
    }
    out.push(b'}');
}

/// What a `payload` record says about its body, written before the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct PayloadHead {
    /// Size of the payload as given.
    pub(crate) bytes: u64,
    /// Bytes cut by truncation (0: not truncated).
    pub(crate) cut_bytes: u64,
    /// Body dropped by `capture_payloads(false)`.
    pub(crate) omitted: bool,
}

/// Keys of a `payload` body up to and including `"body":`; the caller appends the body (one
/// JSON value without raw newlines) and then `}`.
pub(crate) fn begin_payload(out: &mut Vec<u8>, span: u64, role: &str, head: PayloadHead) {
    push_type(out, "payload");
    push_key_u64(out, "span", span);
    out.extend_from_slice(b",\"role\":");
    push_json_str(out, role);
    push_key_u64(out, "bytes", head.bytes);
    if head.cut_bytes > 0 {
        out.extend_from_slice(b",\"truncated\":true");
        push_key_u64(out, "cut_bytes", head.cut_bytes);
    }
    if head.omitted {
        out.extend_from_slice(b",\"omitted\":true");
    }
    out.extend_from_slice(b",\"body\":");
}

/// Body of `link`.
pub(crate) fn encode_link(out: &mut Vec<u8>, span: u64, follows: u64) {
    push_type(out, "link");
    push_key_u64(out, "span", span);
    push_key_u64(out, "follows", follows);
    out.push(b'}');
}

/// Body of `dropped`.
pub(crate) fn encode_dropped(out: &mut Vec<u8>, records: u64, bytes: u64) {
    push_type(out, "dropped");
    push_key_u64(out, "records", records);
    push_key_u64(out, "bytes", bytes);
    out.push(b'}');
}

/// Body of `bundle_ended`.
pub(crate) fn encode_bundle_ended(
    out: &mut Vec<u8>,
    status: &str,
    records: u64,
    dropped_records: u64,
) {
    push_type(out, "bundle_ended");
    out.extend_from_slice(b",\"status\":");
    push_json_str(out, status);
    push_key_u64(out, "records", records);
    push_key_u64(out, "dropped_records", dropped_records);
    out.push(b'}');
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod encoder_tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn every_kind_round_trips_through_its_span_name_and_its_wire_word() {
        for kind in SpanKind::ALL {
            assert_eq!(SpanKind::from_span_name(kind.span_name()), Some(kind));
            let word = serde_json::to_string(&kind).unwrap_or_default();
            assert_eq!(word, format!("\"{}\"", kind.as_str()));
        }
        assert_eq!(SpanKind::from_span_name("rollout.other"), None);
    }

    fn line(seq: u64, body: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        encode_envelope(&mut out, seq, 1_760_000_000_000, 42);
        body(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn every_encoded_record_type_parses_back_with_record_parse() {
        let lines = [
            line(1, |o| {
                encode_bundle_started(o, "demo \"x\"\n", Some("tr-1"))
            }),
            line(2, |o| {
                begin_span_started(
                    o,
                    7,
                    Some(3),
                    Some(4),
                    None,
                    SpanKind::CodeCell,
                    "rollout.code_cell",
                );
                o.extend_from_slice(br#""cell_id":"c1","n":5"#);
                end_fields(o);
            }),
            line(3, |o| {
                begin_span_recorded(o, 7);
                o.extend_from_slice(br#""status":"failed""#);
                end_fields(o);
            }),
            line(4, |o| encode_span_ended(o, 7, true)),
            line(5, |o| {
                let head = PayloadHead {
                    bytes: 100,
                    cut_bytes: 60,
                    omitted: false,
                };
                begin_payload(o, 7, "request", head);
                o.extend_from_slice(br#"{"a":[1,2]}"#);
                o.push(b'}');
            }),
            line(6, |o| {
                let head = PayloadHead {
                    bytes: 3,
                    cut_bytes: 0,
                    omitted: true,
                };
                begin_payload(o, 7, "args", head);
                o.extend_from_slice(b"null}");
            }),
            line(7, |o| {
                begin_event(o, 7, "rollout.agent_result");
                end_fields(o);
            }),
            line(8, |o| encode_link(o, 7, 3)),
            line(9, |o| encode_dropped(o, 12, 3456)),
            line(10, |o| encode_bundle_ended(o, "completed", 10, 12)),
        ];
        for (i, l) in lines.iter().enumerate() {
            assert!(!l.contains('\n'), "line {i} holds a raw newline: {l}");
            let r = Record::parse(l).unwrap_or_else(|e| panic!("line {i} {l}: {e}"));
            assert_eq!((r.seq, r.t, r.ns), (i as u64 + 1, 1_760_000_000_000, 42));
        }
        let bodies: Vec<String> = lines
            .iter()
            .map(|l| format!("{:?}", Record::parse(l).unwrap().body))
            .collect();
        let expected = [
            format!("BundleStarted {{ format_version: {FORMAT_VERSION}, rollout_id: \"demo \\\"x\\\"\\n\", trace_id: Some(\"tr-1\"), writer: {WRITER:?} }}"),
            "SpanStarted { span: 7, parent: Some(3), thread: Some(4), turn: None, kind: CodeCell, name: \"rollout.code_cell\", fields: {\"cell_id\": String(\"c1\"), \"n\": Number(5)} }".to_owned(),
            "SpanRecorded { span: 7, fields: {\"status\": String(\"failed\")} }".to_owned(),
            "SpanEnded { span: 7, panicking: true }".to_owned(),
            "Payload { span: 7, role: \"request\", bytes: 100, truncated: true, cut_bytes: 60, omitted: false, body: RawValue({\"a\":[1,2]}) }".to_owned(),
            "Payload { span: 7, role: \"args\", bytes: 3, truncated: false, cut_bytes: 0, omitted: true, body: RawValue(null) }".to_owned(),
            "Event { span: 7, name: \"rollout.agent_result\", fields: {} }".to_owned(),
            "Link { span: 7, follows: 3 }".to_owned(),
            "Dropped { records: 12, bytes: 3456 }".to_owned(),
            "BundleEnded { status: \"completed\", records: 10, dropped_records: 12 }".to_owned(),
        ];
        assert_eq!(bodies, expected);
    }

    #[test]
    fn escaping_covers_quotes_backslashes_and_every_control_character() {
        let s: String = (0u8..0x20)
            .map(char::from)
            .chain("\"\\é\u{7f}".chars())
            .collect();
        let mut out = Vec::new();
        push_json_str(&mut out, &s);
        let text = String::from_utf8(out).unwrap();
        assert!(!text.contains('\n') && !text.contains('\r'));
        assert_eq!(serde_json::from_str::<String>(&text).unwrap(), s);
    }

    proptest::proptest! {
        /// Escaping scans eight bytes at a time: a special byte at any offset, in any mix,
        /// still round-trips and never leaves a raw line break.
        #[test]
        fn escaping_round_trips_any_text(
            s in proptest::string::string_regex("[a-z\"\\\\\n\t\u{1}\u{1f}é]{0,40}").unwrap(),
            any in proptest::prelude::any::<String>(),
        ) {
            for text in [&s, &any] {
                let mut out = Vec::new();
                push_json_str(&mut out, text);
                let out = String::from_utf8(out).unwrap();
                proptest::prop_assert!(!out.contains('\n') && !out.contains('\r'));
                proptest::prop_assert_eq!(&serde_json::from_str::<String>(&out).unwrap(), text);
            }
        }
    }

    #[test]
    fn push_u64_writes_zero_and_max() {
        let mut out = Vec::new();
        push_u64(&mut out, 0);
        out.push(b' ');
        push_u64(&mut out, u64::MAX);
        assert_eq!(out, b"0 18446744073709551615");
    }
}
