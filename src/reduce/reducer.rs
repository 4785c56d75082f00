//! The reducer's state — the graph being built ([`RolloutState`]) and what replay keeps beside
//! it — and the dispatcher that hands each record to the file whose concern it is.
//!
//! Invariant: every piece of state has one writer file. Any file may read it, but only its
//! writer changes it; the others call the writer's methods. What can change a tool call is
//! therefore answered by reading one file.
//!
//! | `RolloutState` | written by |
//! |---|---|
//! | `threads`, `turns`, `root_thread_id` | `threads.rs` |
//! | `inference_calls` | `inference.rs` |
//! | `compactions` | `compactions.rs` |
//! | `tool_calls`, `code_cells`, `terminals`, `terminal_operations` | `calls.rs` |
//! | `conversation_items` | `conversation.rs` |
//! | `edges` | `edges.rs` |
//! | `payloads` | `route.rs` |
//! | `diagnostics`, and the rollout's own fields (`rollout_id`, `trace_id`, `status`, `complete`, `started_at_unix_ms`, `ended_at_unix_ms`) | `reducer.rs` |
//!
//! One column crosses files on purpose: an entity's `execution` (status, times, error) is its
//! lifetime, which its span's records decide, so `spans.rs` sets it for every kind, borrowing
//! it from the owner (`thread_execution_mut`, `inference_execution_mut`,
//! `compaction_execution_mut`, `call_execution_mut`). The owners set it only when they create
//! an entity, start it again (a thread attached again, a turn started again, a compaction
//! retried), or when the model's own evidence says how it ended (a response's error, a hosted
//! tool's status).
//!
//! | `Reducer` | written by |
//! |---|---|
//! | `spans` (every span's entry and fields), `defaulted_inferences`, `ended_with_container` | `spans.rs` |
//! | `live_threads`, `thread_turns` | `threads.rs` |
//! | a thread's `responses` and `requests` (its latest request list), `request_dependents` | `inference.rs` |
//! | a thread's `calls` (call slots) and `cells` | `calls.rs` |
//! | a thread's `conversation`, `next_item` | `conversation.rs` |
//! | a thread's `deliveries`, `delivered_items` | `edges.rs` (through [`Deliveries`]' methods) |
//! | `memo` | `route.rs` |
//! | the record being applied (`line`, `offset`, `line_len`, `seq`, `t`, `ns`, `shared`), `lossy`, `ended`, `stores_parts`, `expander`, the thread numbering (`replays`, `thread_numbers`) | `reducer.rs` |
//!
//! The other files write no state of their own: `fields.rs` reads span fields for the owners,
//! `deliveries.rs` is the matching the edges use, `replay.rs` feeds lines to
//! [`Reducer::apply`], `summary.rs` reads the finished graph.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::deliveries::Deliveries;
use super::error::ReduceError;
use super::payloads::ItemMemo;
use super::state::{
    Anchor, Diagnostic, DiagnosticLevel, ItemKind, RolloutState, Status, STATE_FORMAT,
    STATE_FORMAT_VERSION,
};
use super::u64_map::{U64Map, U64Set};
use crate::format::{
    shared_ranges, ExpandError, Expander, Manifest, PayloadHead, Record, RecordBody, RecordError,
    Shared, SpanKind, FORMAT_VERSION,
};
use crate::vocab;

/// What the reducer keeps about one span while replaying.
#[derive(Debug)]
pub(super) struct SpanEntry {
    pub(super) kind: SpanKind,
    /// Id of the entity in its map (thread id, turn id, `tool:<key>`, …).
    pub(super) id: String,
    pub(super) thread_id: Option<String>,
    pub(super) turn_id: Option<String>,
    /// Nearest enclosing tool call and code cell (for requesters and terminal operations).
    pub(super) tool: Option<String>,
    pub(super) code_cell: Option<String>,
    /// Every field value seen so far (creation, then each `span_recorded`).
    pub(super) fields: Map<String, Value>,
    pub(super) start_ns: u64,
    /// Seq of the `span_started` record (names a compaction's attempt).
    pub(super) start_seq: u64,
    pub(super) ended: bool,
}

impl SpanEntry {
    /// The graph anchor of this span's entity (`key`: the span's key).
    pub(super) fn anchor(&self, key: u64) -> Anchor {
        let id = self.id.clone();
        match self.kind {
            SpanKind::Thread => Anchor::Thread(id),
            SpanKind::Turn => Anchor::Turn(id),
            SpanKind::Inference => Anchor::InferenceCall(id),
            SpanKind::Tool => Anchor::ToolCall(id),
            SpanKind::CodeCell => Anchor::CodeCell(id),
            // Rollouts, terminal operations and compactions are not edge endpoints in the
            // graph schema; the span key still identifies them.
            SpanKind::Rollout | SpanKind::Terminal | SpanKind::Compaction => Anchor::Span(key),
        }
    }
}

/// A thread as the replay code passes it: its id and its number in `Reducer::replays`.
#[derive(Debug, Clone, Copy)]
pub(super) struct ThreadRef<'a> {
    pub(super) id: &'a str,
    pub(super) no: usize,
}

/// What the reducer keeps about one thread while replaying.
#[derive(Debug, Default)]
pub(super) struct ThreadReplay {
    pub(super) conversation: ThreadConversation,
    /// Call slots by call id.
    pub(super) calls: HashMap<String, CallSlot>,
    /// Response id → the inference call that produced it, for `previous_response_id`.
    pub(super) responses: HashMap<String, String>,
    /// Deliveries to this thread not matched yet, and its items that could take one.
    pub(super) deliveries: Deliveries,
    /// Runtime cell id → the latest code cell with it in this thread (waits name cells by it).
    pub(super) cells: HashMap<String, String>,
    /// The thread's latest request list: the base of the next one's stored form.
    pub(super) requests: Option<RequestChain>,
}

/// A thread's latest request list as `inference.rs` stores the next one against it.
#[derive(Debug)]
pub(super) struct RequestChain {
    /// The inference call it belongs to.
    pub(super) call: String,
    /// Its items, by number.
    pub(super) items: Vec<u64>,
    /// What walking from it back to the last list stored whole costs (`inference.rs`).
    pub(super) cost: usize,
}

/// Replay state of one thread's conversation (written by `conversation.rs`). Items are held
/// by number (the `N` of `item:N`); their id strings are made only for the graph.
#[derive(Debug, Default)]
pub(super) struct ThreadConversation {
    /// The model-visible history after the last request (extended by its response).
    pub(super) snapshot: Vec<u64>,
    /// After a compaction: the replacement history, baseline of the next full request.
    pub(super) baseline_override: Option<Vec<u64>>,
    /// Content hash of every item of the thread, by item number.
    pub(super) hashes: U64Map<u128>,
    /// Numbers of the items already listed in the thread's `conversation`.
    pub(super) listed: U64Set,
    /// The latest assistant message produced in each turn (source of result edges).
    pub(super) last_assistant: HashMap<Option<String>, u64>,
}

/// Everything known under one `(thread, call_id)` (written by `calls.rs`): the model's call
/// item and the item carrying its output, the tool calls and code cell that ran it, the
/// inference whose response carried it.
#[derive(Debug, Default)]
pub(super) struct CallSlot {
    /// The model's call item (by number), its kind and content hash.
    pub(super) call_item: Option<(u64, ItemKind, u128)>,
    /// The item carrying the call's output (by number), its kind and content hash.
    pub(super) output_item: Option<(u64, ItemKind, u128)>,
    /// Further outputs of the call with other content (a code cell's `notify()` before its
    /// result), in first-seen order.
    pub(super) more_outputs: Vec<(u64, ItemKind, u128)>,
    /// Tool calls carrying this call id (one, unless the program retried under the same id).
    pub(super) tools: Vec<String>,
    /// The code cell the call carried.
    pub(super) code_cell: Option<String>,
    /// The inference whose response carried the call item.
    pub(super) inference: Option<String>,
}

/// The private replay state behind [`reduce_bundle`](super::reduce_bundle).
#[derive(Debug)]
pub(super) struct Reducer {
    pub(super) path: PathBuf,
    pub(super) state: RolloutState,
    /// The record being applied: its 1-based line, the byte offset and length of that line
    /// in `trace.jsonl`, its seq, wall and monotonic clock.
    pub(super) line: u64,
    pub(super) offset: u64,
    pub(super) line_len: u64,
    pub(super) seq: u64,
    pub(super) t: u64,
    pub(super) ns: u64,
    /// A `dropped` record was seen: references to unknown spans are missing evidence.
    pub(super) lossy: bool,
    pub(super) ended: bool,
    pub(super) spans: HashMap<u64, SpanEntry>,
    /// Replay state per thread, by thread number ([`Reducer::thread`]).
    pub(super) replays: Vec<ThreadReplay>,
    /// Thread id → thread number: per-item work indexes `replays` instead of hashing the id.
    pub(super) thread_numbers: HashMap<String, usize>,
    /// Inference calls that ended with no explicit status and no response: a cancelled or
    /// failed turn turns them cancelled or failed.
    pub(super) defaulted_inferences: HashSet<String>,
    /// Entities (inference calls, code cells, tool calls) whose end their turn's or cell's end
    /// decided while their span was still open: not missing an end if their span never ends.
    pub(super) ended_with_container: HashSet<String>,
    /// Open `rollout.thread` spans per thread id (a resume may overlap the first attachment).
    pub(super) live_threads: HashMap<String, u32>,
    /// `(thread, turn)` pairs already in the thread's `turns` (a turn may start again).
    pub(super) thread_turns: HashSet<(String, String)>,
    /// Items (by number) that already completed a delivery (see `deliveries`).
    pub(super) delivered_items: U64Set,
    pub(super) next_item: u64,
    /// Parsed payload items by their JSON text (snapshots repeat them).
    pub(super) memo: ItemMemo,
    /// Inference call → the calls whose request items are stored against its own.
    pub(super) request_dependents: HashMap<String, Vec<String>>,
    /// The bundle is format v2: payload bodies may be stored as references to earlier ones.
    pub(super) stores_parts: bool,
    /// The payload record being applied, when stored as parts: the stretches of its body
    /// that are references to earlier bodies (the item memo reuses what it read there).
    pub(super) shared: Vec<Shared>,
    /// Decodes v2 bodies (and keeps recent bodies for the references that follow).
    expander: Expander,
}

impl Reducer {
    pub(super) fn new(path: PathBuf) -> Reducer {
        Reducer {
            state: RolloutState {
                format: STATE_FORMAT.to_owned(),
                format_version: STATE_FORMAT_VERSION,
                rollout_id: String::new(),
                trace_id: None,
                status: Status::Running,
                complete: true,
                started_at_unix_ms: None,
                ended_at_unix_ms: None,
                root_thread_id: None,
                diagnostics: Vec::new(),
                threads: Default::default(),
                turns: Default::default(),
                inference_calls: Default::default(),
                tool_calls: Default::default(),
                code_cells: Default::default(),
                terminals: Default::default(),
                terminal_operations: Default::default(),
                compactions: Default::default(),
                conversation_items: Default::default(),
                edges: Default::default(),
                payloads: Default::default(),
            },
            line: 0,
            offset: 0,
            line_len: 0,
            seq: 0,
            t: 0,
            ns: 0,
            lossy: false,
            ended: false,
            spans: HashMap::new(),
            replays: Vec::new(),
            thread_numbers: HashMap::new(),
            defaulted_inferences: HashSet::new(),
            ended_with_container: HashSet::new(),
            live_threads: HashMap::new(),
            thread_turns: HashSet::new(),
            delivered_items: U64Set::default(),
            next_item: 0,
            memo: ItemMemo::default(),
            request_dependents: HashMap::new(),
            stores_parts: false,
            shared: Vec::new(),
            expander: Expander::new(&path),
            path,
        }
    }

    /// Re-reads earlier lines from `file` (the handle `trace.jsonl` is read through).
    pub(super) fn read_from(&mut self, file: Option<std::fs::File>) {
        self.expander.read_from(file);
    }

    /// The thread `id` with its number, numbered on first use.
    pub(super) fn thread<'a>(&mut self, id: &'a str) -> ThreadRef<'a> {
        let no = match self.thread_numbers.get(id) {
            Some(no) => *no,
            None => {
                let no = self.replays.len();
                self.replays.push(ThreadReplay::default());
                self.thread_numbers.insert(id.to_owned(), no);
                no
            }
        };
        ThreadRef { id, no }
    }

    /// The replay state of the thread `id`, if it has any.
    pub(super) fn replay(&self, id: &str) -> Option<&ThreadReplay> {
        self.replays.get(*self.thread_numbers.get(id)?)
    }

    pub(super) fn contradiction(&self, message: impl Into<String>) -> ReduceError {
        ReduceError::Contradiction {
            path: self.path.clone(),
            line: self.line,
            message: message.into(),
        }
    }

    fn diagnose(&mut self, level: DiagnosticLevel, message: String, seq: Option<u64>) {
        self.state.diagnostics.push(Diagnostic {
            level,
            message,
            seq,
        });
    }

    /// Something missing or unresolved at the record being applied.
    pub(super) fn warn(&mut self, message: impl Into<String>) {
        let seq = (self.seq > 0).then_some(self.seq);
        self.diagnose(DiagnosticLevel::Warning, message.into(), seq);
    }

    /// A harmless observation at the record being applied, kept so the graph explains itself.
    pub(super) fn note(&mut self, message: impl Into<String>) {
        let seq = (self.seq > 0).then_some(self.seq);
        self.diagnose(DiagnosticLevel::Info, message.into(), seq);
    }

    /// Something missing or unresolved at the end of the log.
    pub(super) fn warn_at_end(&mut self, message: impl Into<String>) {
        self.diagnose(DiagnosticLevel::Warning, message.into(), None);
    }

    /// Evidence found missing at the end of the log: the graph is not complete, and says why.
    pub(super) fn missing_at_end(&mut self, message: impl Into<String>) {
        self.state.complete = false;
        self.warn_at_end(message);
    }

    /// The rollout's trace id, as a `rollout` span names it (the first one named stands).
    pub(super) fn trace_id_seen(&mut self, trace_id: String) {
        self.state.trace_id.get_or_insert(trace_id);
    }

    /// A line too long to read was skipped: the graph is not complete, and records after it
    /// may name what it held, which is then tolerated as in a lossy bundle.
    pub(super) fn too_long(&mut self, line: u64, offset: u64, len: u64) {
        self.lossy = true;
        self.expander.skipped_a_line();
        self.state.complete = false;
        self.warn_at_end(format!(
            "line {line} is {len} bytes (bytes {offset}..{} of the file), longer than the {} a reader reads; skipped",
            offset + len,
            crate::format::MAX_LINE_BYTES
        ));
    }

    pub(super) fn torn_tail(&mut self, line: u64, len: usize) {
        self.missing_at_end(format!(
            "line {line} is torn ({len} bytes without a newline); ignored"
        ));
    }

    /// A record names a span: the span, or (in a lossy bundle) a diagnostic and `None`.
    pub(super) fn span_ref(
        &mut self,
        key: u64,
        what: &str,
    ) -> Result<Option<&SpanEntry>, ReduceError> {
        if self.spans.contains_key(&key) {
            return Ok(self.spans.get(&key));
        }
        if self.lossy {
            self.warn(format!(
                "{what} names span {key}, whose start was dropped; ignored"
            ));
            return Ok(None);
        }
        Err(self.contradiction(format!("{what} names span {key}, which never started")))
    }

    /// Applies one record: `line` is its 1-based line, `offset` and `text` where it stands in
    /// `trace.jsonl` and what it says there.
    pub(super) fn apply(
        &mut self,
        record: &Record<'_>,
        line: u64,
        offset: u64,
        text: &str,
    ) -> Result<(), ReduceError> {
        self.next_record(record, line)?;
        self.offset = offset;
        self.line_len = text.len() as u64;
        match &record.body {
            RecordBody::BundleStarted {
                format_version,
                rollout_id,
                trace_id,
                writer: _,
            } => self.bundle_started(*format_version, rollout_id, trace_id.as_deref())?,
            RecordBody::SpanStarted {
                span,
                parent,
                thread,
                turn,
                kind,
                name: _,
                fields,
            } => self.span_started(*span, *parent, *thread, *turn, *kind, fields)?,
            RecordBody::SpanRecorded { span, fields } => self.span_recorded(*span, fields)?,
            RecordBody::SpanEnded { span, panicking } => self.span_ended(*span, *panicking)?,
            // `cut_bytes` says how much truncation cut; a truncated body is not interpreted.
            RecordBody::Payload { head, body } => {
                if self.stores_parts {
                    let (seq, len) = (self.seq, self.line_len);
                    self.expander.remember(seq, offset, len, body.get());
                }
                self.payload_record(head, body.get())?
            }
            RecordBody::PayloadParts { head, len, parts } => {
                self.stored_payload(head, *len, parts)?
            }
            RecordBody::Event { span, name, fields } => self.event(*span, name, fields)?,
            RecordBody::Link { span, follows } => self.link_record(*span, *follows)?,
            RecordBody::Dropped { records, bytes } => self.dropped(*records, *bytes),
            RecordBody::BundleEnded { status, .. } => self.bundle_ended(status),
            RecordBody::Unknown { record_type } => {
                self.warn(format!("unknown record type `{record_type}`; ignored"));
            }
        }
        Ok(())
    }

    /// Checks that `record` may come next (seqs contiguous from 1, nothing after
    /// `bundle_ended`) and makes it the record being applied.
    fn next_record(&mut self, record: &Record<'_>, line: u64) -> Result<(), ReduceError> {
        self.line = line;
        if record.seq != self.seq + 1 {
            return Err(self.contradiction(format!(
                "seq {} follows seq {} (records must be contiguous from 1)",
                record.seq, self.seq
            )));
        }
        if self.ended {
            return Err(self.contradiction("record after `bundle_ended`"));
        }
        self.seq = record.seq;
        self.t = record.t;
        self.ns = record.ns;
        if self.state.started_at_unix_ms.is_none() {
            self.state.started_at_unix_ms = Some(record.t);
        }
        Ok(())
    }

    fn bundle_started(
        &mut self,
        format_version: u32,
        rollout_id: &str,
        trace_id: Option<&str>,
    ) -> Result<(), ReduceError> {
        if self.seq != 1 {
            return Err(self.contradiction("`bundle_started` is not the first record"));
        }
        if format_version > FORMAT_VERSION {
            return Err(self.contradiction(format!(
                "format_version {format_version} is newer than this reader ({FORMAT_VERSION})"
            )));
        }
        self.stores_parts = format_version >= 2;
        self.state.rollout_id = rollout_id.to_owned();
        self.state.trace_id = trace_id.map(str::to_owned);
        Ok(())
    }

    /// A payload stored as references to earlier bodies plus new bytes (format v2), expanded
    /// before it is read; `body_len` is the expanded body's length.
    fn stored_payload(
        &mut self,
        head: &PayloadHead<'_>,
        body_len: u64,
        parts: &RawValue,
    ) -> Result<(), ReduceError> {
        let body = match self.expander.expand(self.seq, body_len, parts) {
            Ok(body) => body,
            Err(ExpandError::Limit(why)) => {
                let (seq, offset, len) = (self.seq, self.offset, self.line_len);
                self.expander.note_line(seq, offset, len);
                return self.payload_left_out(head, why);
            }
            Err(ExpandError::Invalid(message)) => {
                return Err(ReduceError::Parse {
                    path: self.path.clone(),
                    line: self.line,
                    message,
                })
            }
        };
        self.shared = shared_ranges(parts).unwrap_or_default();
        let done = self.payload_record(head, &body);
        self.shared.clear();
        let (seq, offset, len) = (self.seq, self.offset, self.line_len);
        self.expander.remember_decoded(seq, offset, len, body);
        done
    }

    fn event(
        &mut self,
        span: u64,
        name: &str,
        fields: &Map<String, Value>,
    ) -> Result<(), ReduceError> {
        if self.span_ref(span, "event")?.is_none() {
            return Ok(());
        }
        if name == vocab::AGENT_RESULT_EVENT {
            self.agent_result(span, fields);
        } else if name == vocab::DIAGNOSTIC_EVENT {
            // What the producer could not record is the graph's to say.
            let level = match fields.get("level").and_then(Value::as_str) {
                Some("info") => DiagnosticLevel::Info,
                _ => DiagnosticLevel::Warning,
            };
            let message = match fields.get(vocab::field::MESSAGE) {
                Some(Value::String(text)) => text.clone(),
                Some(other) => other.to_string(),
                None => format!("a `{name}` event without a message"),
            };
            let seq = Some(self.seq);
            self.diagnose(level, message, seq);
        }
        Ok(())
    }

    fn link_record(&mut self, span: u64, follows: u64) -> Result<(), ReduceError> {
        if self.span_ref(span, "link")?.is_none() || self.span_ref(follows, "link")?.is_none() {
            return Ok(());
        }
        self.link(span, follows);
        Ok(())
    }

    fn dropped(&mut self, records: u64, bytes: u64) {
        self.lossy = true;
        self.state.complete = false;
        self.warn(format!(
            "the writer dropped {records} records ({bytes} bytes) here (lossy mode)"
        ));
    }

    fn bundle_ended(&mut self, status: &str) {
        self.ended = true;
        self.state.ended_at_unix_ms = Some(self.t);
        self.state.status = Status::parse(status).unwrap_or_else(|| {
            self.warn(format!(
                "`bundle_ended` has status `{status}`, which is not a known status; \
                 recorded as completed"
            ));
            Status::Completed
        });
    }

    /// A line the parser rejects only for its nesting (see `deep`): applied with its
    /// deepest values replaced by a marker, and a diagnostic; the full text stays in
    /// `trace.jsonl` as evidence.
    pub(super) fn apply_too_deep(
        &mut self,
        number: u64,
        offset: u64,
        text: &str,
        error: &RecordError,
    ) -> Result<(), ReduceError> {
        let marker = format!(
            "[nested deeper than {} levels: see line {number} of trace.jsonl]",
            crate::format::KEEP_DEPTH
        );
        let parse_error = |message: String| ReduceError::Parse {
            path: self.path.clone(),
            line: number,
            message,
        };
        let Some((flat, replaced)) = crate::format::flatten(text, &marker) else {
            return Err(parse_error(error.to_string()));
        };
        let record = Record::parse(&flat).map_err(|e| parse_error(e.to_string()))?;
        self.apply(&record, number, offset, text)?;
        self.warn(format!(
            "line {number} nests deeper than {} levels: {replaced} value(s) below that \
                 depth are kept only in trace.jsonl (bytes {offset}..{} of the file), \
                 replaced in the graph by a marker",
            crate::format::KEEP_DEPTH,
            offset + text.len() as u64
        ));
        Ok(())
    }

    /// End of log: close what never ended, resolve what can still be resolved, report the rest.
    pub(super) fn finish(mut self, manifest: Result<Option<Manifest>, String>) -> RolloutState {
        self.seq = 0;
        let manifest = manifest.unwrap_or_else(|why| {
            self.warn_at_end(why);
            None
        });
        if self.line == 0 {
            self.missing_at_end(
                "trace.jsonl holds no record: the bundle was created but nothing reached its log \
                 (a writer that stopped at once, or not a bundle)",
            );
        }
        self.spans_never_ended();
        self.unresolved_calls_at_end();
        self.terminals_at_end();
        self.edges_at_end();
        if !self.ended {
            self.state.status = Status::Incomplete;
            self.missing_at_end("the log ends before `bundle_ended`: the rollout is incomplete");
        }
        if let Some(m) = manifest {
            if self.state.rollout_id.is_empty() {
                self.state.rollout_id = m.rollout_id;
            }
            if m.dropped_records > 0 && !self.lossy {
                self.missing_at_end(format!(
                    "manifest counts {} dropped records",
                    m.dropped_records
                ));
            }
        }
        self.root_thread_at_end();
        self.state
    }
}
