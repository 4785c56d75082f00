//! The offline reducer: replays a bundle's `trace.jsonl` into the rollout graph
//! ([`RolloutState`], written as `state.json`).
//!
//! Invariant: records are applied once, in file (= seq) order, and every lookup is through an
//! index keyed by id (span key, `(thread, call_id)`, `(thread, response_id)`, content hash), so
//! reduction is linear in the records plus the payload bytes it must parse. The exception is
//! matching a delivered text to the item that carries it, a substring search no id can key:
//! per delivery and per new item it is linear in what is still unmatched in the recipient
//! thread (see `edges`). Evidence that contradicts itself is an error naming the 1-based line;
//! evidence that is merely missing (torn tail, unended spans, dropped records, unknown payload
//! shapes, undelivered messages) becomes a [`Diagnostic`] and `complete: false` where it
//! applies.
//!
//! The work is split by concern: [`spans`](self) maps span records to threads, turns,
//! inference calls, tools, code cells, terminals and compactions; `conversation` turns
//! model-facing payloads into conversation items; `calls` links items, tools, code cells and
//! inference calls through the model-visible call id; `edges` builds spawn, message, task,
//! result, close and link edges; `summary` renders the readable tree; `replay` is the
//! incremental form ([`Replay`], fed lines as a bundle grows), which [`reduce_bundle`] runs
//! over the whole file.

mod calls;
mod conversation;
mod deep;
mod edges;
mod payloads;
mod reader;
mod replay;
mod spans;
mod state;
mod summary;

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::format::{
    Expander, Manifest, PayloadHead, Record, RecordBody, SpanKind, FORMAT_VERSION,
};

pub use reader::{expand_bundle, payload_body, BundleReader, ExpandedRecord};
pub use replay::{follow_summary, LiveBundle, Replay};
pub use state::*;
pub use summary::render_summary;

use calls::CallSlot;
use conversation::ThreadConversation;
use edges::Deliveries;
use payloads::ItemMemo;
use reader::{Next, TraceReader};

/// Why a bundle could not be reduced.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReduceError {
    /// A file could not be opened, read or written.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done (`open`, `read`, `write`, …).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A line of `trace.jsonl` is not a valid record.
    #[error("parse trace record at line {line} of {}: {message}", path.display())]
    Parse {
        /// `trace.jsonl`.
        path: PathBuf,
        /// 1-based line.
        line: u64,
        /// What is wrong.
        message: String,
    },
    /// The records contradict each other (a call id reused with different content, a record
    /// naming a span that never started in a lossless bundle, a seq out of order, …).
    #[error("invalid trace at line {line} of {}: {message}", path.display())]
    Contradiction {
        /// `trace.jsonl`.
        path: PathBuf,
        /// 1-based line.
        line: u64,
        /// What contradicts what.
        message: String,
    },
    /// No payload record has the asked-for seq.
    #[error("read payload {seq} of {}: the record with that seq is {found}", path.display())]
    NotAPayload {
        /// `trace.jsonl`.
        path: PathBuf,
        /// The seq asked for.
        seq: u64,
        /// What stands there instead (a record type, or `nothing`).
        found: String,
    },
}

/// Reduces the bundle in `dir` into its rollout graph.
///
/// Reads `trace.jsonl` once, streaming; payload bodies are parsed only when a semantic step
/// needs them (model requests and responses, compaction checkpoints).
///
/// # Examples
///
/// ```no_run
/// let state = tracing_rollout::reduce::reduce_bundle("traces/demo")?;
/// for (id, thread) in &state.threads {
///     println!("{id}: {} turns", thread.turns.len());
/// }
/// # Ok::<(), tracing_rollout::reduce::ReduceError>(())
/// ```
pub fn reduce_bundle(dir: impl AsRef<Path>) -> Result<RolloutState, ReduceError> {
    let dir = dir.as_ref();
    let mut reader = TraceReader::open(&dir.join("trace.jsonl"))?;
    let mut replay = Replay::new(dir);
    loop {
        match reader.next_line()? {
            Next::End => break,
            Next::TornTail { number, len } => {
                replay.torn_tail(number, len);
                break;
            }
            Next::Line(line) => {
                replay.apply_line(line.number, line.offset, line.text, line.unterminated)?
            }
        }
    }
    replay.finish()
}

/// Reduces the bundle in `dir` and writes `<dir>/state.json` atomically (temp file + rename;
/// see [`write_state_to`]).
/// Returns the path written.
///
/// # Examples
///
/// ```no_run
/// let path = tracing_rollout::reduce::write_state("traces/demo")?;
/// assert!(path.ends_with("state.json"));
/// # Ok::<(), tracing_rollout::reduce::ReduceError>(())
/// ```
pub fn write_state(dir: impl AsRef<Path>) -> Result<PathBuf, ReduceError> {
    let dir = dir.as_ref();
    let state = reduce_bundle(dir)?;
    let path = dir.join("state.json");
    write_state_to(&state, &path)?;
    Ok(path)
}

/// Writes `state` as pretty JSON to `path`.
///
/// A regular file (or a path that does not exist yet) is replaced atomically: the JSON goes
/// to a temp file beside it, which is then renamed over it, so a reader never sees half a
/// graph. A symlink is followed and its target replaced that way (the link stays a link).
/// Anything else that exists — `/dev/null`, `/dev/stdout`, a FIFO — is written in place:
/// renaming over it would replace the device or pipe with a regular file (as root, for the
/// whole system).
pub fn write_state_to(state: &RolloutState, path: &Path) -> Result<(), ReduceError> {
    let io = |action, source| ReduceError::Io {
        action,
        path: path.to_path_buf(),
        source,
    };
    let write = |file: std::fs::File| -> std::io::Result<()> {
        let mut out = std::io::BufWriter::new(file);
        serde_json::to_writer_pretty(&mut out, state)?;
        out.write_all(b"\n")?;
        out.flush()
    };
    // What the path names, following symlinks (`None`: nothing yet, or a dangling link).
    let target = std::fs::metadata(path).ok();
    if target.as_ref().is_some_and(|m| !m.is_file()) {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| io("open", e))?;
        return write(file).map_err(|e| io("write", e));
    }
    let path = match target {
        Some(_) => std::fs::canonicalize(path).map_err(|e| io("resolve", e))?,
        None => path.to_path_buf(),
    };
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "state.json".to_owned());
    let tmp = path.with_file_name(format!(".{file_name}.tmp-{}", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = options.open(&tmp).map_err(|e| io("create", e))?;
    if let Err(e) = write(file) {
        let _ = std::fs::remove_file(&tmp);
        return Err(io("write", e));
    }
    std::fs::rename(&tmp, &path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io("rename", e)
    })
}

impl Reducer {
    /// A line the parser rejects only for its nesting (see `deep`): applied with its
    /// deepest values replaced by a marker, and a diagnostic; the full text stays in
    /// `trace.jsonl` as evidence.
    fn apply_too_deep(
        &mut self,
        number: u64,
        offset: u64,
        text: &str,
        error: &crate::format::RecordError,
    ) -> Result<(), ReduceError> {
        let marker = format!(
            "[nested deeper than {} levels: see line {number} of trace.jsonl]",
            deep::KEEP_DEPTH
        );
        let parse_error = |message: String| ReduceError::Parse {
            path: self.path.clone(),
            line: number,
            message,
        };
        let Some((flat, replaced)) = deep::flatten(text, &marker) else {
            return Err(parse_error(error.to_string()));
        };
        let record = Record::parse(&flat).map_err(|e| parse_error(e.to_string()))?;
        self.apply(&record, number, offset, text)?;
        self.warn(format!(
            "line {number} nests deeper than {} levels: {replaced} value(s) below that \
                 depth are kept only in trace.jsonl (bytes {offset}..{} of the file), \
                 replaced in the graph by a marker",
            deep::KEEP_DEPTH,
            offset + text.len() as u64
        ));
        Ok(())
    }
}

/// The bundle's manifest: `Ok(None)` when there is none (the reducer does not depend on it),
/// `Err` with what is wrong when it exists but cannot be read or parsed.
fn read_manifest(dir: &Path) -> Result<Option<Manifest>, String> {
    let path = dir.join("manifest.json");
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}; ignored", path.display())),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| format!("cannot parse {}: {e}; ignored", path.display()))
}

/// What the reducer keeps about one span while replaying.
#[derive(Debug)]
struct SpanEntry {
    kind: SpanKind,
    /// Id of the entity in its map (thread id, turn id, `tool:<key>`, …).
    id: String,
    thread_id: Option<String>,
    turn_id: Option<String>,
    /// Nearest enclosing tool call and code cell (for requesters and terminal operations).
    tool: Option<String>,
    code_cell: Option<String>,
    /// Every field value seen so far (creation, then each `span_recorded`).
    fields: Map<String, Value>,
    start_ns: u64,
    /// Seq of the `span_started` record (names a compaction's attempt).
    start_seq: u64,
    ended: bool,
}

/// A thread as the replay code passes it: its id and its number in `Reducer::replays`.
#[derive(Debug, Clone, Copy)]
struct ThreadRef<'a> {
    id: &'a str,
    no: usize,
}

/// What the reducer keeps about one thread while replaying.
#[derive(Debug, Default)]
struct ThreadReplay {
    conversation: ThreadConversation,
    /// Call slots by call id.
    calls: HashMap<String, CallSlot>,
    /// Response id → the inference call that produced it, for `previous_response_id`.
    responses: HashMap<String, String>,
    /// Deliveries to this thread not matched yet, and its items that could take one.
    deliveries: Deliveries,
    /// Runtime cell id → the latest code cell with it in this thread (waits name cells by it).
    cells: HashMap<String, String>,
}

/// The private replay state behind [`reduce_bundle`].
#[derive(Debug)]
struct Reducer {
    path: PathBuf,
    state: RolloutState,
    /// 1-based line, seq, wall and monotonic clock of the record being applied.
    line: u64,
    seq: u64,
    t: u64,
    ns: u64,
    /// A `dropped` record was seen: references to unknown spans are missing evidence.
    lossy: bool,
    ended: bool,
    spans: HashMap<u64, SpanEntry>,
    /// Replay state per thread, by thread number ([`Reducer::thread`]).
    replays: Vec<ThreadReplay>,
    /// Thread id → thread number: per-item work indexes `replays` instead of hashing the id.
    thread_numbers: HashMap<String, usize>,
    /// Inference calls that ended with no explicit status and no response: a cancelled or
    /// failed turn turns them cancelled or failed.
    defaulted_inferences: HashSet<String>,
    /// Open `rollout.thread` spans per thread id (a resume may overlap the first attachment).
    live_threads: HashMap<String, u32>,
    /// `(thread, turn)` pairs already in the thread's `turns` (a turn may start again).
    thread_turns: HashSet<(String, String)>,
    /// Items (by number) that already completed a delivery (see `edges`).
    delivered_items: U64Set,
    next_item: u64,
    /// Parsed payload items by their JSON text (snapshots repeat them).
    memo: ItemMemo,
    /// The bundle is format v2: payload bodies may be stored as references to earlier ones.
    stores_parts: bool,
    /// Decodes v2 bodies (and keeps recent bodies for the references that follow).
    expander: Expander,
}

impl Reducer {
    fn new(path: PathBuf) -> Reducer {
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
            seq: 0,
            t: 0,
            ns: 0,
            lossy: false,
            ended: false,
            spans: HashMap::new(),
            replays: Vec::new(),
            thread_numbers: HashMap::new(),
            defaulted_inferences: HashSet::new(),
            live_threads: HashMap::new(),
            thread_turns: HashSet::new(),
            delivered_items: U64Set::default(),
            next_item: 0,
            memo: ItemMemo::default(),
            stores_parts: false,
            expander: Expander::new(&path),
            path,
        }
    }

    /// The thread `id` with its number, numbered on first use.
    fn thread<'a>(&mut self, id: &'a str) -> ThreadRef<'a> {
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
    fn replay(&self, id: &str) -> Option<&ThreadReplay> {
        self.replays.get(*self.thread_numbers.get(id)?)
    }

    fn contradiction(&self, message: impl Into<String>) -> ReduceError {
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
    fn warn(&mut self, message: impl Into<String>) {
        let seq = (self.seq > 0).then_some(self.seq);
        self.diagnose(DiagnosticLevel::Warning, message.into(), seq);
    }

    /// A harmless observation at the record being applied, kept so the graph explains itself.
    fn note(&mut self, message: impl Into<String>) {
        let seq = (self.seq > 0).then_some(self.seq);
        self.diagnose(DiagnosticLevel::Info, message.into(), seq);
    }

    /// Something missing or unresolved at the end of the log.
    fn warn_at_end(&mut self, message: impl Into<String>) {
        self.diagnose(DiagnosticLevel::Warning, message.into(), None);
    }

    fn torn_tail(&mut self, line: u64, len: usize) {
        self.state.complete = false;
        self.warn_at_end(format!(
            "line {line} is torn ({len} bytes without a newline); ignored"
        ));
    }

    /// A record names a span: the span, or (in a lossy bundle) a diagnostic and `None`.
    fn span_ref(&mut self, key: u64, what: &str) -> Result<Option<&SpanEntry>, ReduceError> {
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

    fn apply(
        &mut self,
        record: &Record<'_>,
        line: u64,
        offset: u64,
        text: &str,
    ) -> Result<(), ReduceError> {
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
        match &record.body {
            RecordBody::BundleStarted {
                format_version,
                rollout_id,
                trace_id,
                writer: _,
            } => {
                if self.seq != 1 {
                    return Err(self.contradiction("`bundle_started` is not the first record"));
                }
                if *format_version > FORMAT_VERSION {
                    return Err(self.contradiction(format!(
                        "format_version {format_version} is newer than this reader ({FORMAT_VERSION})"
                    )));
                }
                self.stores_parts = *format_version >= 2;
                self.state.rollout_id = rollout_id.to_string();
                self.state.trace_id = trace_id.as_deref().map(str::to_owned);
            }
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
            RecordBody::Payload { head, body } => {
                if self.stores_parts {
                    let len = text.len() as u64;
                    self.expander.remember(self.seq, offset, len, body.get());
                }
                self.payload_record(head, offset, text.len() as u64, body.get())?;
            }
            RecordBody::PayloadParts { head, len, parts } => {
                let body = self
                    .expander
                    .expand(self.seq, *len, parts)
                    .map_err(|message| ReduceError::Parse {
                        path: self.path.clone(),
                        line,
                        message,
                    })?;
                let done = self.payload_record(head, offset, text.len() as u64, &body);
                self.expander
                    .remember_decoded(self.seq, offset, text.len() as u64, body);
                done?;
            }
            RecordBody::Event { span, name, fields } => {
                if self.span_ref(*span, "event")?.is_none() {
                    return Ok(());
                }
                if name == crate::vocab::AGENT_RESULT_EVENT {
                    self.agent_result(*span, fields);
                }
            }
            RecordBody::Link { span, follows } => {
                if self.span_ref(*span, "link")?.is_none()
                    || self.span_ref(*follows, "link")?.is_none()
                {
                    return Ok(());
                }
                self.link(*span, *follows);
            }
            RecordBody::Dropped { records, bytes } => {
                self.lossy = true;
                self.state.complete = false;
                self.warn(format!(
                    "the writer dropped {records} records ({bytes} bytes) here (lossy mode)"
                ));
            }
            RecordBody::BundleEnded { status, .. } => {
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
            RecordBody::Unknown { record_type } => {
                let message = format!("unknown record type `{record_type}`; ignored");
                self.warn(message);
            }
        }
        Ok(())
    }

    /// A payload record with its whole body.
    fn payload_record(
        &mut self,
        head: &PayloadHead<'_>,
        offset: u64,
        len: u64,
        body: &str,
    ) -> Result<(), ReduceError> {
        let PayloadHead {
            span,
            bytes,
            truncated,
            omitted,
            ..
        } = *head;
        let role: &str = &head.role;
        let Some(owner) = self.span_ref(span, "payload")? else {
            return Ok(());
        };
        let payload = PayloadRef {
            role: role.to_owned(),
            owner: spans::anchor(owner.kind, &owner.id, span),
            bytes,
            offset,
            len,
            truncated,
        };
        self.state.payloads.insert(self.seq, payload);
        if truncated || omitted {
            self.warn(format!(
                "{role} payload of span {span} was {} by the writer; not interpreted",
                if omitted { "omitted" } else { "truncated" }
            ));
            return Ok(());
        }
        self.payload(span, role, body)
    }

    /// End of log: close what never ended, resolve what can still be resolved, report the rest.
    fn finish(mut self, manifest: Result<Option<Manifest>, String>) -> RolloutState {
        self.seq = 0;
        let manifest = manifest.unwrap_or_else(|why| {
            self.warn_at_end(why);
            None
        });
        self.spans_never_ended();
        self.edges_at_end();
        if !self.ended {
            self.state.complete = false;
            self.state.status = Status::Incomplete;
            self.warn_at_end("the log ends before `bundle_ended`: the rollout is incomplete");
        }
        if let Some(m) = manifest {
            if self.state.rollout_id.is_empty() {
                self.state.rollout_id = m.rollout_id;
            }
            if m.dropped_records > 0 && !self.lossy {
                self.state.complete = false;
                self.warn_at_end(format!(
                    "manifest counts {} dropped records",
                    m.dropped_records
                ));
            }
        }
        if self.state.root_thread_id.is_none() {
            self.state.root_thread_id = self
                .state
                .threads
                .values()
                .find(|t| t.parent_thread_id.is_none())
                .map(|t| t.thread_id.clone());
        }
        self.state
    }
}

/// A field as text: strings as they are, numbers and booleans printed.
fn field_str(fields: &Map<String, Value>, name: &str) -> Option<String> {
    match fields.get(name)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

/// A field as a non-negative integer (numbers or numeric strings).
fn field_u64(fields: &Map<String, Value>, name: &str) -> Option<u64> {
    match fields.get(name)? {
        Value::Number(n) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A field as a signed integer.
fn field_i64(fields: &Map<String, Value>, name: &str) -> Option<i64> {
    match fields.get(name)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A map keyed by numbers the reducer made itself (item numbers, hashes it computed).
pub(super) type U64Map<V> = HashMap<u64, V, BuildHasherDefault<U64Hasher>>;
/// A set of such numbers.
pub(super) type U64Set = HashSet<u64, BuildHasherDefault<U64Hasher>>;

/// One multiply per key instead of SipHash, for [`U64Map`] / [`U64Set`]: their keys are
/// counted or computed by the reducer, never taken from the log as they are, so no input
/// chooses what collides. The multiply spreads sequential numbers into the high bits the
/// map's probing uses.
#[derive(Debug, Default)]
pub(super) struct U64Hasher(u64);

impl Hasher for U64Hasher {
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64(u64::from(byte));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x517c_c1b7_2722_0a95);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}
