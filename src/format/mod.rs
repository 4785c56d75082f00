//! The on-disk bundle format: the one place where `trace.jsonl` records and `manifest.json`
//! are defined (this spec, [`SpanKind`], [`Manifest`]), written (`encode`, the hot-path
//! encoders; `store`, format v2's writer side) and read back (`parse`, one line into a
//! [`Record`]; `read`, [`BundleReader`] and the line reader the reducer uses; `expand`,
//! format v2's reader side).
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
//!   trace.jsonl     the only log: one JSON record per line, payload bodies inline (v1) or
//!                   as references to earlier bodies plus new bytes (v2)
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
//! [`vocab::genai::canonical_field_name`]).
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
//! Raw evidence from a `rollout.payload` event, or from an OpenTelemetry GenAI content
//! attribute of a recorded span (`gen_ai.input.messages` and the others in
//! [`vocab::genai::CONTENT`], with the role listed there; such
//! attributes never appear among the span's `fields`). Keys: `span` (the enclosing recorded span),
//! `role` (`request`, `response`, `args`, `result`, `output`, `source`, `checkpoint`,
//! `metadata`, the GenAI roles `system_instructions`, `prompt`, `completion`, or anything
//! else the program wrote), `bytes` (size of the payload as given,
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
//! {"seq":1,"t":1760000000000,"ns":0,"type":"bundle_started","format":"tracing-rollout","format_version":2,"rollout_id":"demo","writer":"tracing-rollout 0.1.0"}
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
//! # Payload bodies in `format_version` 2
//!
//! Agents re-send their history with every model request, so whole bodies make a bundle
//! grow quadratically with the conversation. A v2 writer stores each body byte once: a
//! `payload` record may carry, instead of `body`,
//!
//! | key | meaning |
//! |---|---|
//! | `len` | length in bytes of the whole body (its JSON text) |
//! | `parts` | an array; concatenated in order, its elements give the body's JSON text byte for byte: a string is new bytes (the text itself, JSON-escaped once more); `[seq, offset, len]` is bytes `offset..offset + len` of the whole body of the earlier `payload` record `seq` of the same file |
//!
//! A reference names only a record before it (`seq` smaller than its own), which itself may
//! be stored either way; references never cross bundles, never name a record the writer did
//! not write (in lossy mode, nothing dropped), and point only at bytes after redaction.
//! Both forms occur in one v2 file: a body that shares nothing (or is short) is written with
//! `body` as in v1. Readers that do not want to resolve references use
//! [`BundleReader`] (every record in the v1 layout), [`payload_body`] or
//! `tracing-rollout expand`, all of which
//! give the line a v1 writer would have written. A writer built with
//! `payload_dedup(false)` writes `format_version` 1 and every body whole.
//!
//! How the writer finds shared bytes is not part of the format (readers only follow
//! references). This writer refers only to bodies it still holds in memory (at most 8 MiB
//! of them, and of its validator's marks on them, per open bundle), and only to bytes it
//! compared equal, byte for byte: no digest stands in for them. It first compares each body
//! with the last few bodies of the same role it kept (one `memcmp` each): a request that
//! repeats the previous one shares its longest common prefix and suffix. What is left is
//! searched for with anchors (a few bytes where a JSON value starts): first in that body
//! after the shared prefix (a window that slid, items removed), then in the bodies kept
//! since the role's previous body (a request repeats the previous response's items, a
//! checkpoint the history), after a trial only in bodies of the roles where such searches
//! found something; every hit grows byte by byte as far as the bytes agree. Bodies of a role
//! nothing ever refers to (tool results, typically) are kept, and searched for, only
//! rarely. What the writer forgot is written again: memory is bounded, and dedup, never
//! correctness, is what is lost.
//! Readers keep at most 16 MiB of recent bodies and re-read older records with a
//! positioned read of their line.
//!
//! Example (the second request repeats the first and adds one item; `[6,0,34]` is the first
//! request without its closing `]}`):
//!
//! ```json
//! {"seq":6,"t":1760000000002,"ns":9800,"type":"payload","span":4,"role":"request","bytes":36,"body":{"input":[{"role":"user","c":"hi"}]}}
//! {"seq":9,"t":1760000000093,"ns":95000,"type":"payload","span":7,"role":"request","bytes":69,"len":69,"parts":[[6,0,34],",{\"role\":\"assistant\",\"c\":\"hello\"}]}"]}
//! ```
//!
//! (A real writer shares only runs of 128 bytes or more; the example is short to be read.)
//!
//! # `manifest.json`
//!
//! See [`Manifest`]. Written when the bundle is created (status `running`) and rewritten
//! atomically (temp file + rename) when it ends or the guard finishes.
//!
//! # What a reader reads: limits
//!
//! A bundle may come from a stranger, so every reader (the reducer, [`BundleReader`],
//! [`payload_body`], [`expand_bundle`], and through them the viewer, the exporters and the
//! server) bounds what it reads and expands, and reads the rest when something passes a
//! bound:
//!
//! | what | limit | past it |
//! |---|---|---|
//! | `trace.jsonl`, `manifest.json` | regular files only (checked on the opened file; a FIFO is not waited on) | an error saying what it is (`not a regular file (a FIFO)`) |
//! | `manifest.json` | [`MAX_MANIFEST_BYTES`] (1 MiB) | ignored, with a diagnostic |
//! | one line of `trace.jsonl` | [`MAX_LINE_BYTES`] (128 MiB) | skipped without being held; a diagnostic naming the line; the graph is `complete: false` and later records may name what it held |
//! | one body stored as `parts` | [`MAX_BODY_BYTES`] (128 MiB) expanded, [`MAX_EXPAND_WORK_PER_BODY`] (1 GiB) of work (bytes copied, bytes re-read, [`REFERENCE_WORK`] per reference) | the body is left out (`"omitted":true,"body":null` in the v1 layout, [`ReadError::LeftOut`] for [`payload_body`]), with a diagnostic naming the record |
//! | all bodies of one bundle | [`EXPAND_WORK_ALLOWANCE`] (256 MiB) + [`EXPAND_WORK_PER_BYTE_READ`] (1 024) × the bytes of `trace.jsonl` read so far | the same, for each body past it |
//! | nesting | none: values nested deeper than the JSON parser goes are read exactly (and flattened for the reducer, with a diagnostic) | — |
//!
//! So a reader's memory is bounded by a small multiple of [`MAX_LINE_BYTES`] whatever the
//! file, and its time by the file's size: a format 2 "decompression bomb" (bodies that
//! reference earlier bodies twice over) costs at most the work limits. The layer never writes
//! past them (its payload cap is at most 16 MiB).

mod deep;
pub(crate) mod discover;
mod encode;
mod expand;
mod open;
mod parse;
mod read;
mod store;

pub use expand::{
    EXPAND_WORK_ALLOWANCE, EXPAND_WORK_PER_BYTE_READ, MAX_BODY_BYTES, MAX_EXPAND_WORK_PER_BODY,
    REFERENCE_WORK,
};
pub use open::MAX_MANIFEST_BYTES;
pub use parse::{PayloadHead, Record, RecordBody, RecordError};
pub use read::{
    expand_bundle, payload_body, BundleReader, ExpandedRecord, ReadDiagnostic, ReadError,
    MAX_LINE_BYTES,
};

pub(crate) use deep::{flatten, is_too_deep, KEEP_DEPTH};
pub(crate) use encode::{
    begin_event, begin_payload, begin_span_recorded, begin_span_started, encode_bundle_ended,
    encode_bundle_started, encode_dropped, encode_envelope, encode_link, encode_span_ended,
    end_fields, push_escaped, push_json_str, push_u64, WRITER,
};
pub(crate) use expand::{shared_ranges, ExpandError, Expander, Shared};
pub(crate) use open::{
    create_dir_private, create_private, create_temp_beside, open_regular, read_limited,
};
#[cfg(feature = "cli")]
pub(crate) use read::payload_body_within;
pub(crate) use read::{visit_records, Next, TraceReader};
pub(crate) use store::{Plan as PayloadPlan, Store as PayloadStore};

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::vocab;

/// The value of `format` in `manifest.json` and `bundle_started`.
pub const FORMAT: &str = "tracing-rollout";

/// Version of the bundle format described in this module. Readers accept bundles whose
/// `format_version` is at most this.
pub const FORMAT_VERSION: u32 = 2;

/// The version a writer with payload dedup turned off writes: its bundles hold every body
/// whole, which is format 1 exactly.
pub const FORMAT_VERSION_WHOLE_BODIES: u32 = 1;

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
            vocab::ROLLOUT => SpanKind::Rollout,
            vocab::THREAD => SpanKind::Thread,
            vocab::TURN => SpanKind::Turn,
            vocab::INFERENCE => SpanKind::Inference,
            vocab::TOOL => SpanKind::Tool,
            vocab::CODE_CELL => SpanKind::CodeCell,
            vocab::TERMINAL => SpanKind::Terminal,
            vocab::COMPACTION => SpanKind::Compaction,
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
            SpanKind::Rollout => vocab::ROLLOUT,
            SpanKind::Thread => vocab::THREAD,
            SpanKind::Turn => vocab::TURN,
            SpanKind::Inference => vocab::INFERENCE,
            SpanKind::Tool => vocab::TOOL,
            SpanKind::CodeCell => vocab::CODE_CELL,
            SpanKind::Terminal => vocab::TERMINAL,
            SpanKind::Compaction => vocab::COMPACTION,
        }
    }
}

impl fmt::Display for SpanKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Event name of raw evidence attached to the enclosing span.
#[deprecated(note = "use `tracing_rollout::vocab::PAYLOAD_EVENT`, the same constant")]
pub const PAYLOAD_EVENT: &str = vocab::PAYLOAD_EVENT;

/// The payload roles of the vocabulary (SPEC §3, and the GenAI content attributes' roles).
#[deprecated(note = "use `tracing_rollout::vocab::role::ALL`, the same list")]
pub const PAYLOAD_ROLES: &[&str] = &vocab::role::ALL;

/// Event name of a child thread's result delivered to its parent.
#[deprecated(note = "use `tracing_rollout::vocab::AGENT_RESULT_EVENT`, the same constant")]
pub const AGENT_RESULT_EVENT: &str = vocab::AGENT_RESULT_EVENT;

/// Maps an accepted field alias to the canonical field name written to `trace.jsonl`; any
/// other name is returned unchanged.
#[deprecated(note = "use `tracing_rollout::vocab::genai::canonical_field_name`, the same function")]
pub fn canonical_field_name(name: &str) -> &str {
    vocab::genai::canonical_field_name(name)
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
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

    /// The old paths of names that moved to `vocab` still give the same values.
    #[test]
    #[allow(deprecated)]
    fn deprecated_paths_give_the_vocabulary() {
        assert_eq!(PAYLOAD_EVENT, vocab::PAYLOAD_EVENT);
        assert_eq!(PAYLOAD_ROLES, vocab::role::ALL);
        assert_eq!(AGENT_RESULT_EVENT, vocab::AGENT_RESULT_EVENT);
        assert_eq!(
            canonical_field_name("gen_ai.request.model"),
            vocab::field::MODEL
        );
    }
}
