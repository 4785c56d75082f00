//! The parser of `trace.jsonl`: one line into a typed [`Record`] borrowing from it.
//!
//! Invariant: parsing never allocates for a record's strings unless they hold escapes
//! (`Cow`), never parses a payload body (it stays a `RawValue`, so a body of any depth or
//! size parses), and accepts every record type of the spec: a type it does not know becomes
//! [`RecordBody::Unknown`] rather than an error, a known type missing a key it requires is a
//! [`RecordError`]. Both payload forms share one [`PayloadHead`].

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::SpanKind;

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

/// The type-specific part of a [`Record`]; see the [format docs](super) for each type.
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
    /// `payload` with its body inline.
    Payload {
        /// What the record says about the payload.
        head: PayloadHead<'a>,
        /// The body as inline JSON, unparsed.
        body: &'a RawValue,
    },
    /// `payload` whose body is stored as `parts` (format v2): the same head as
    /// [`RecordBody::Payload`], the body as references to earlier bodies plus new bytes.
    /// [`BundleReader`](super::BundleReader) turns it back into a `Payload`.
    PayloadParts {
        /// What the record says about the payload.
        head: PayloadHead<'a>,
        /// Length of the whole body, in bytes.
        len: u64,
        /// The `parts` array, unparsed.
        parts: &'a RawValue,
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

/// What a `payload` record says about its payload, whichever way its body is stored (the
/// keys before `body` or `parts`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PayloadHead<'a> {
    /// The owning span.
    pub span: u64,
    /// What the payload is (`request`, `response`, `args`, …).
    pub role: Cow<'a, str>,
    /// Size as given, before truncation.
    pub bytes: u64,
    /// Cut at `max_payload_bytes`.
    pub truncated: bool,
    /// Bytes cut.
    pub cut_bytes: u64,
    /// Body dropped by `capture_payloads(false)`.
    pub omitted: bool,
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
    len: Option<u64>,
    #[serde(default, borrow)]
    parts: Option<&'a RawValue>,
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
            "payload" => {
                let head = PayloadHead {
                    span: span()?,
                    role: w.role.ok_or_else(|| missing("role"))?,
                    bytes: w.bytes.unwrap_or(0),
                    truncated: w.truncated,
                    cut_bytes: w.cut_bytes,
                    omitted: w.omitted,
                };
                match (w.body, w.parts) {
                    (None, Some(parts)) => RecordBody::PayloadParts {
                        head,
                        len: w.len.ok_or_else(|| missing("len"))?,
                        parts,
                    },
                    (body, _) => RecordBody::Payload {
                        head,
                        body: body.ok_or_else(|| missing("body"))?,
                    },
                }
            }
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
            RecordBody::Payload { .. } | RecordBody::PayloadParts { .. } => "payload",
            RecordBody::Event { .. } => "event",
            RecordBody::Link { .. } => "link",
            RecordBody::Dropped { .. } => "dropped",
            RecordBody::BundleEnded { .. } => "bundle_ended",
            RecordBody::Unknown { record_type } => record_type,
        }
    }
}
