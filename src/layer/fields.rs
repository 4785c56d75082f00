//! Field visitors: `tracing` field values → `"name":value` JSON pairs, routing fields, and
//! `rollout.payload` bodies.
//!
//! Invariant: each visitor appends only complete, valid JSON for every value type `tracing`
//! can hand it (numbers, strings, errors, bytes, Debug text, `json(&T)`, `valuable`), with no
//! raw newline, so the record it is part of stays one valid line whatever the program logs.

use std::error::Error;
use std::fmt::{self, Write as _};
use std::io::Write as _;

use tracing::field::{Field, Visit};

use super::payload::{self, json_state, set_json_state, JsonState, PayloadOptions};
use crate::format::{push_escaped, push_json_str, push_u64};
use crate::vocab::field;
use crate::vocab::genai::canonical_field_name;
use crate::writer::{Header, Writer};

/// Writes every visited field as a `"name":value` pair (names mapped by
/// [`canonical_field_name`]) into an open JSON object, and notes `status` / `error`.
///
/// Value encoding: integers and finite floats are JSON numbers (non-finite floats `null`),
/// bools are bools, `&str` and Debug/Display text are JSON strings, errors are their
/// `Display` text followed by `: <source>` for each source, byte slices are lowercase hex
/// strings, and [`crate::json`] values (and `valuable` values) are nested JSON.
pub(crate) struct FieldWriter<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
    /// The last `status` text seen.
    pub(crate) status: Option<String>,
    /// Whether an `error` field was seen.
    pub(crate) error: bool,
}

impl<'a> FieldWriter<'a> {
    pub(crate) fn new(out: &'a mut Vec<u8>) -> FieldWriter<'a> {
        FieldWriter {
            out,
            first: true,
            status: None,
            error: false,
        }
    }

    fn key(&mut self, field: &Field) -> &'static str {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        let name = canonical_field_name(field.name());
        push_json_str(self.out, name);
        self.out.push(b':');
        if name == field::ERROR {
            self.error = true;
        }
        name
    }
}

impl Visit for FieldWriter<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.key(field);
        if value.is_finite() {
            // Writing into a Vec cannot fail.
            let _ = serde_json::to_writer(&mut *self.out, &value);
        } else {
            self.out.extend_from_slice(b"null");
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.key(field);
        if value < 0 {
            self.out.push(b'-');
        }
        push_u64(self.out, value.unsigned_abs());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.key(field);
        push_u64(self.out, value);
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        self.key(field);
        let _ = write!(self.out, "{value}");
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        self.key(field);
        let _ = write!(self.out, "{value}");
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.key(field);
        self.out
            .extend_from_slice(if value { b"true" } else { b"false" });
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if self.key(field) == field::STATUS {
            self.status = Some(value.to_owned());
        }
        push_json_str(self.out, value);
    }

    fn record_bytes(&mut self, field: &Field, value: &[u8]) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        self.key(field);
        self.out.reserve(value.len() * 2 + 2);
        self.out.push(b'"');
        for &b in value {
            self.out.push(HEX[usize::from(b >> 4)]);
            self.out.push(HEX[usize::from(b & 0xf)]);
        }
        self.out.push(b'"');
    }

    fn record_error(&mut self, field: &Field, value: &(dyn Error + 'static)) {
        self.key(field);
        self.out.push(b'"');
        let mut text = Escaped(self.out);
        let _ = write!(text, "{value}");
        let mut source = value.source();
        while let Some(cause) = source {
            let _ = write!(text, ": {cause}");
            source = cause.source();
        }
        self.out.push(b'"');
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let name = self.key(field);
        let start = self.out.len();
        write_debug_value(self.out, value);
        if name == field::STATUS {
            // Strip the quotes of the JSON string just written (`status = %s` is the usual
            // spelling); anything else is kept as its JSON text.
            let written = &self.out[start..];
            let status = serde_json::from_slice::<String>(written)
                .unwrap_or_else(|_| String::from_utf8_lossy(written).into_owned());
            self.status = Some(status);
        }
    }

    #[cfg(all(tracing_unstable, feature = "valuable"))]
    fn record_value(&mut self, field: &Field, value: valuable::Value<'_>) {
        self.key(field);
        let start = self.out.len();
        let serialised =
            serde_json::to_writer(&mut *self.out, &valuable_serde::Serializable::new(value));
        if serialised.is_err() {
            self.out.truncate(start);
            write_debug_value(self.out, &value);
        }
    }
}

/// Appends Debug output as one JSON value: a [`crate::json`] value's own JSON, anything else
/// a JSON string.
fn write_debug_value(out: &mut Vec<u8>, value: &dyn fmt::Debug) {
    let start = out.len();
    set_json_state(JsonState::Idle);
    let mut w = DebugValueWriter {
        out,
        mode: Mode::Empty,
        tainted: false,
    };
    let formatted = write!(w, "{value:?}").is_ok();
    let (mode, tainted) = (w.mode, w.tainted);
    match mode {
        Mode::Empty => out.extend_from_slice(b"\"\""),
        Mode::Text => out.push(b'"'),
        Mode::Json => {
            if tainted || !formatted || json_state() != JsonState::Done {
                let raw = out.split_off(start);
                push_json_str(out, &String::from_utf8_lossy(&raw));
            }
        }
    }
    set_json_state(JsonState::Idle);
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Empty,
    /// The output started inside a `Json` value: copied raw, checked at the end.
    Json,
    /// Anything else: escaped into a JSON string.
    Text,
}

struct DebugValueWriter<'a> {
    out: &'a mut Vec<u8>,
    mode: Mode,
    tainted: bool,
}

impl fmt::Write for DebugValueWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let in_json = json_state() == JsonState::Writing;
        if self.mode == Mode::Empty {
            if in_json {
                self.mode = Mode::Json;
            } else {
                self.mode = Mode::Text;
                self.out.push(b'"');
            }
        }
        match self.mode {
            Mode::Json => {
                self.tainted |= !in_json;
                self.out.extend_from_slice(s.as_bytes());
            }
            Mode::Text | Mode::Empty => push_escaped(self.out, s),
        }
        Ok(())
    }
}

/// `fmt::Write` that appends JSON-escaped text (no quotes).
struct Escaped<'a>(&'a mut Vec<u8>);

impl fmt::Write for Escaped<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        push_escaped(self.0, s);
        Ok(())
    }
}

/// The fields that decide where a `rollout` or `rollout.thread` span is recorded.
#[derive(Debug, Default)]
pub(crate) struct Routing {
    pub(crate) rollout_id: Option<String>,
    pub(crate) trace_id: Option<String>,
    pub(crate) thread_id: Option<String>,
    pub(crate) parent_thread_id: Option<String>,
}

impl Routing {
    fn slot(&mut self, field: &Field) -> Option<&mut Option<String>> {
        match canonical_field_name(field.name()) {
            field::ROLLOUT_ID => Some(&mut self.rollout_id),
            field::TRACE_ID => Some(&mut self.trace_id),
            field::THREAD_ID => Some(&mut self.thread_id),
            field::PARENT_THREAD_ID => Some(&mut self.parent_thread_id),
            _ => None,
        }
    }
}

impl Visit for Routing {
    fn record_str(&mut self, field: &Field, value: &str) {
        if let Some(slot) = self.slot(field) {
            *slot = Some(value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if let Some(slot) = self.slot(field) {
            *slot = Some(format!("{value:?}"));
        }
    }
}

/// First pass over a `rollout.payload` event: its `role`.
#[derive(Debug, Default)]
pub(crate) struct Role(pub(crate) Option<String>);

impl Visit for Role {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == field::ROLE {
            self.0 = Some(value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == field::ROLE {
            self.0 = Some(format!("{value:?}"));
        }
    }
}

/// Second pass over a `rollout.payload` event: writes the whole `payload` record for its
/// `payload` field. If the event has none, [`PayloadWriter::finish`] writes a `null` body.
pub(crate) struct PayloadWriter<'a> {
    pub(crate) rec: &'a mut Vec<u8>,
    /// Where a long record finds a buffer its size (see `Parcels::reserve`).
    pub(crate) writer: &'a Writer,
    pub(crate) scratch: &'a mut Vec<u8>,
    pub(crate) span: u64,
    pub(crate) role: &'a str,
    pub(crate) options: PayloadOptions,
    pub(crate) written: bool,
}

impl PayloadWriter<'_> {
    fn take(&mut self, field: &Field) -> bool {
        let take = field.name() == field::PAYLOAD && !self.written;
        self.written |= take;
        take
    }

    pub(crate) fn finish(self) {
        if !self.written {
            payload::write_payload_record(
                self.rec,
                self.span,
                self.role,
                b"null",
                0,
                /*trusted*/ true,
                self.options,
            );
        }
    }

    /// Writes the record with `write` if `field` is the payload: `write` gets the record,
    /// the scratch buffer, the span, the role and the options, and returns the offset of an
    /// unchecked body. Checking untrusted text is left to the writer thread; `rec` is the
    /// whole message, so that offset goes into its header.
    #[inline]
    fn write(
        &mut self,
        field: &Field,
        write: impl FnOnce(&mut Vec<u8>, &mut Vec<u8>, u64, &str, PayloadOptions) -> Option<usize>,
    ) {
        if !self.take(field) {
            return;
        }
        if let Some(start) = write(self.rec, self.scratch, self.span, self.role, self.options) {
            Header::set_check(self.rec, start);
        }
    }
}

impl Visit for PayloadWriter<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        let writer = self.writer;
        self.write(field, |rec, _, span, role, options| {
            let total = value.len() as u64;
            let bytes = value.as_bytes();
            writer.reserve(rec, payload::record_room(bytes.len(), options));
            payload::write_payload_record(
                rec, span, role, bytes, total, /*trusted*/ false, options,
            )
        });
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.write(field, |rec, scratch, span, role, options| {
            payload::write_debug_payload(rec, scratch, span, role, value, options)
        });
    }

    #[cfg(all(tracing_unstable, feature = "valuable"))]
    fn record_value(&mut self, field: &Field, value: valuable::Value<'_>) {
        self.write(field, |rec, scratch, span, role, options| {
            payload::write_valuable_payload(rec, scratch, span, role, value, options)
        });
    }
}
