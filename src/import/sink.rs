//! One bundle of ours written record by record by an importer, through the format's own
//! encoders and its v2 payload store (so history a recording re-sends with every request is
//! stored once).
//!
//! Invariant: the sink assigns `seq` (contiguous from 1, `bundle_started` first) and clamps
//! the clock so `t` and `ns` never run backwards, whatever the source's wall clock did; each
//! record is handed to the file whole, so what is on disk at any moment is a valid prefix,
//! and `manifest.json` is rewritten atomically (not synced: an import can be made again) when
//! the bundle is created and when the import ends.

use std::fs::File;
use std::io::{self, BufWriter, Write as _};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::format::{self, Manifest, PayloadHead, PayloadStore, SpanKind};
use crate::writer::bundle_dir;

/// Field values of one span or event record, in the order given.
#[derive(Debug, Default)]
pub(crate) struct Fields(Vec<(&'static str, Value)>);

impl Fields {
    pub(crate) fn new() -> Fields {
        Fields::default()
    }

    /// Adds `name = value`.
    pub(crate) fn put(mut self, name: &'static str, value: impl Into<Value>) -> Fields {
        self.0.push((name, value.into()));
        self
    }

    /// Adds `name = value` when there is a value.
    pub(crate) fn opt(self, name: &'static str, value: Option<impl Into<Value>>) -> Fields {
        match value {
            Some(value) => self.put(name, value),
            None => self,
        }
    }

    /// These fields followed by `more`.
    pub(crate) fn extend(mut self, more: Fields) -> Fields {
        self.0.extend(more.0);
        self
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A bundle being written.
#[derive(Debug)]
pub(crate) struct Sink {
    dir: PathBuf,
    file: BufWriter<File>,
    manifest: Manifest,
    seq: u64,
    /// Wall clock of the bundle's start, and of the record being written (never decreasing).
    t0: u64,
    t: u64,
    store: PayloadStore,
    body: Vec<u8>,
    encoded: Vec<u8>,
    line: Vec<u8>,
    ended: bool,
}

impl Sink {
    /// Creates `trace.jsonl` and `manifest.json` in the (new, empty) directory `dir` and
    /// writes `bundle_started`.
    pub(crate) fn create(
        dir: &Path,
        rollout_id: &str,
        trace_id: Option<&str>,
        started_at_unix_ms: u64,
    ) -> io::Result<Sink> {
        let manifest = Manifest {
            format: format::FORMAT.to_owned(),
            format_version: format::FORMAT_VERSION,
            rollout_id: rollout_id.to_owned(),
            trace_id: trace_id.map(str::to_owned),
            started_at_unix_ms,
            ended_at_unix_ms: None,
            status: "running".to_owned(),
            records: 0,
            dropped_records: 0,
            writer: format::WRITER.to_owned(),
        };
        bundle_dir::replace_manifest(dir, &manifest, /*durable*/ false)?;
        let file = bundle_dir::create_file(&dir.join(bundle_dir::TRACE_FILE))?;
        let mut sink = Sink {
            dir: dir.to_path_buf(),
            file: BufWriter::with_capacity(1 << 16, file),
            manifest,
            seq: 0,
            t0: started_at_unix_ms,
            t: started_at_unix_ms,
            store: PayloadStore::default(),
            body: Vec::with_capacity(256),
            encoded: Vec::new(),
            line: Vec::with_capacity(256),
            ended: false,
        };
        let mut body = std::mem::take(&mut sink.body);
        format::encode_bundle_started(&mut body, format::FORMAT_VERSION, rollout_id, trace_id);
        sink.append(&body)?;
        sink.body = body;
        Ok(sink)
    }

    /// The bundle's directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Records that follow happened at `wall_ms` (clamped so time never runs backwards).
    pub(crate) fn clock(&mut self, wall_ms: u64) {
        self.t = self.t.max(wall_ms);
    }

    /// Whether `bundle_ended` was written (nothing may follow it).
    pub(crate) fn ended(&self) -> bool {
        self.ended
    }

    /// Appends one record whose body (from `"type":` to its closing `}`) is `body`.
    fn append(&mut self, body: &[u8]) -> io::Result<()> {
        if self.ended {
            return Err(io::Error::other("record after `bundle_ended`"));
        }
        self.seq += 1;
        let ns = (self.t - self.t0).saturating_mul(1_000_000);
        self.line.clear();
        format::encode_envelope(&mut self.line, self.seq, self.t, ns);
        self.line.extend_from_slice(body);
        self.line.push(b'\n');
        self.file.write_all(&self.line)
    }

    fn push_fields(body: &mut Vec<u8>, fields: &Fields) {
        for (i, (name, value)) in fields.0.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            format::push_json_str(body, name);
            body.push(b':');
            // Serialising a `Value` into a Vec cannot fail; compact output has no raw
            // newline (strings are escaped).
            let _ = serde_json::to_writer(&mut *body, value);
        }
    }

    /// `span_started`.
    pub(crate) fn span_started(
        &mut self,
        span: u64,
        (parent, thread, turn): (Option<u64>, Option<u64>, Option<u64>),
        kind: SpanKind,
        fields: &Fields,
    ) -> io::Result<()> {
        let mut body = std::mem::take(&mut self.body);
        body.clear();
        format::begin_span_started(
            &mut body,
            span,
            parent,
            thread,
            turn,
            kind,
            kind.span_name(),
        );
        Sink::push_fields(&mut body, fields);
        format::end_fields(&mut body);
        let done = self.append(&body);
        self.body = body;
        done
    }

    /// `span_recorded` (nothing when there are no fields).
    pub(crate) fn span_recorded(&mut self, span: u64, fields: &Fields) -> io::Result<()> {
        if fields.is_empty() {
            return Ok(());
        }
        let mut body = std::mem::take(&mut self.body);
        body.clear();
        format::begin_span_recorded(&mut body, span);
        Sink::push_fields(&mut body, fields);
        format::end_fields(&mut body);
        let done = self.append(&body);
        self.body = body;
        done
    }

    /// `span_ended`.
    pub(crate) fn span_ended(&mut self, span: u64) -> io::Result<()> {
        let mut body = std::mem::take(&mut self.body);
        body.clear();
        format::encode_span_ended(&mut body, span, /*panicking*/ false);
        let done = self.append(&body);
        self.body = body;
        done
    }

    /// `event` named `name` inside `span`.
    pub(crate) fn event(&mut self, span: u64, name: &str, fields: &Fields) -> io::Result<()> {
        let mut body = std::mem::take(&mut self.body);
        body.clear();
        format::begin_event(&mut body, span, name);
        Sink::push_fields(&mut body, fields);
        format::end_fields(&mut body);
        let done = self.append(&body);
        self.body = body;
        done
    }

    /// `payload` of `span` with `role`; `json` is one compact JSON value (no raw newline).
    /// Written in the v2 form when it shares bytes with an earlier body.
    pub(crate) fn payload(&mut self, span: u64, role: &str, json: &str) -> io::Result<()> {
        let mut body = std::mem::take(&mut self.body);
        body.clear();
        let head = PayloadHead {
            span,
            role: role.into(),
            bytes: json.len() as u64,
            truncated: false,
            cut_bytes: 0,
            omitted: false,
        };
        format::begin_payload(&mut body, &head);
        body.extend_from_slice(json.as_bytes());
        body.push(b'}');
        let mut encoded = std::mem::take(&mut self.encoded);
        encoded.clear();
        let done = if self
            .store
            .encode_and_keep(self.seq + 1, &body, &mut encoded)
        {
            self.append(&encoded)
        } else {
            self.append(&body)
        };
        self.encoded = encoded;
        self.body = body;
        done
    }

    /// `bundle_ended` with `status`, then the final manifest. Nothing may follow.
    pub(crate) fn end(&mut self, status: &str) -> io::Result<()> {
        let mut body = std::mem::take(&mut self.body);
        body.clear();
        format::encode_bundle_ended(&mut body, status, self.seq + 1, 0);
        let done = self.append(&body);
        self.body = body;
        done?;
        self.ended = true;
        self.manifest.status = status.to_owned();
        self.manifest.ended_at_unix_ms = Some(self.t);
        self.write_manifest()
    }

    /// Writes out what is buffered (the manifest waits for the end: readers do not need it).
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }

    /// Writes out what is buffered and the manifest with the counts so far. Not synced: an
    /// import can be made again, so it does not pay for durability.
    pub(crate) fn write_manifest(&mut self) -> io::Result<()> {
        self.file.flush()?;
        self.manifest.records = self.seq;
        bundle_dir::replace_manifest(&self.dir, &self.manifest, /*durable*/ false)
    }
}
