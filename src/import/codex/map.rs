//! Codex raw events → records of ours: the mapper's state, the routing of each raw event to
//! the file that maps it (`lifecycle`: the rollout, threads and turns; `model`: inference
//! calls, compactions, agent results and evidence; `tools`: tool calls, terminal operations
//! and code cells), and the helpers they share (contexts, payloads, diagnostics).
//!
//! Invariant: the mapper writes only what the reducer already understands — spans of our
//! kinds with our field names, payloads with our roles, `rollout.agent_result` events — so the
//! reducer never learns Codex's dialect. Codex's events are not nested the way spans are:
//! each becomes a span start, a field record or an end on the span that stands for its
//! entity, found through the ids Codex gives (thread, turn, inference call, tool call,
//! runtime cell, compaction), and spans Codex never ended are left open (the reducer says so).

use std::collections::{HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::ledger::{Fate, Ledger};
use super::raw::{self, Envelope, Event, PayloadRef};
use crate::format::SpanKind;
use crate::import::sink::{Fields, Sink};
use crate::vocab::{field, role};

/// Prefix of the events that keep Codex's breadcrumbs as evidence.
const EVIDENCE_PREFIX: &str = "rollout.codex.";

/// The span that stands for one Codex thread (its latest attachment).
#[derive(Debug)]
pub(super) struct ThreadSpan {
    pub(super) key: u64,
    pub(super) open: bool,
    /// Status of the thread's latest ended turn, in our words.
    pub(super) last_turn_status: Option<&'static str>,
    /// The status its end was given.
    pub(super) derived_status: Option<&'static str>,
}

/// The span of one Codex turn.
#[derive(Debug)]
pub(super) struct TurnSpan {
    pub(super) key: u64,
    pub(super) thread_id: String,
    pub(super) thread_key: u64,
    pub(super) open: bool,
}

/// The span of one Codex tool call.
#[derive(Debug)]
pub(super) struct ToolSpan {
    pub(super) key: u64,
    pub(super) ctx: Ctx,
    /// The kind in our words, as last recorded.
    pub(super) kind: String,
    /// The call's arguments, parsed (collab messages, `write_stdin` sessions).
    pub(super) args: Option<Value>,
    /// The open terminal-operation span of this call.
    pub(super) terminal: Option<u64>,
    /// The terminal session its operation runs in (an exec's process), once named.
    pub(super) terminal_id: Option<String>,
    /// The runtime reported on the call (its end, not the call's, ends the operation).
    pub(super) runtime_seen: bool,
    /// The collab target was recorded.
    pub(super) target_done: bool,
    pub(super) open: bool,
}

/// Where an event belongs: its thread and turn, as ids and span keys.
#[derive(Debug, Clone, Default)]
pub(super) struct Ctx {
    pub(super) thread_id: Option<String>,
    pub(super) thread: Option<u64>,
    pub(super) turn: Option<u64>,
}

impl Ctx {
    /// The nearest span: the turn, else the thread.
    pub(super) fn span(&self) -> Option<u64> {
        self.turn.or(self.thread)
    }
}

/// The state of one import, fed raw event lines in order.
#[derive(Debug)]
pub(crate) struct Mapper {
    pub(super) src: PathBuf,
    pub(super) sink: Sink,
    next_key: u64,
    /// The rollout span (always key 1, opened with the bundle).
    pub(super) rollout: u64,
    pub(super) root_thread_id: Option<String>,
    pub(super) threads: HashMap<String, ThreadSpan>,
    pub(super) turns: HashMap<String, TurnSpan>,
    /// `inference_call_id` → its open span.
    pub(super) inferences: HashMap<String, u64>,
    /// Codex's `tool_call_id` → its span.
    pub(super) tools: HashMap<String, ToolSpan>,
    /// `(thread id, runtime cell id)` → the cell's span, and whether it is open.
    pub(super) cells: HashMap<(String, String), (u64, bool)>,
    /// `compaction_id` → the span of its open attempt.
    pub(super) compactions: HashMap<String, u64>,
    /// Payload paths some event named.
    referenced: HashSet<String>,
    pub(crate) ledger: Ledger,
    line: u64,
    last_seq: u64,
    newer_schema_noted: bool,
    /// The rollout's status once `rollout_ended` was applied.
    pub(super) rollout_ended: Option<&'static str>,
    /// `recording_completed` was applied (schema 2's last event).
    recording_completed: bool,
    /// The raw schema of the last event.
    schema: u32,
}

/// The status word of ours for a Codex status (a `terminated` cell is a cancelled one).
pub(super) fn our_status(codex: &str) -> &str {
    match codex {
        "terminated" | "interrupted" => "cancelled",
        other => other,
    }
}

impl Mapper {
    /// A mapper writing into `sink`, whose rollout span it opens at once (with Codex's
    /// manifest as its `metadata`).
    pub(crate) fn new(
        src: &Path,
        sink: Sink,
        (rollout_id, root_thread_id): (&str, Option<String>),
        manifest: Option<&str>,
    ) -> io::Result<Mapper> {
        let mut mapper = Mapper {
            src: src.to_path_buf(),
            sink,
            next_key: 1,
            rollout: 1,
            root_thread_id,
            threads: HashMap::new(),
            turns: HashMap::new(),
            inferences: HashMap::new(),
            tools: HashMap::new(),
            cells: HashMap::new(),
            compactions: HashMap::new(),
            referenced: HashSet::new(),
            ledger: Ledger::default(),
            line: 0,
            last_seq: 0,
            newer_schema_noted: false,
            rollout_ended: None,
            recording_completed: false,
            schema: 0,
        };
        let fields = Fields::new()
            .put(field::ROLLOUT_ID, rollout_id.to_owned())
            .put("imported_from", "codex rollout-trace");
        let keys = (None, None, None);
        mapper
            .sink
            .span_started(mapper.rollout, keys, SpanKind::Rollout, &fields)?;
        if let Some(manifest) = manifest {
            mapper
                .sink
                .payload(mapper.rollout, role::METADATA, manifest)?;
        }
        Ok(mapper)
    }

    /// A fresh span key.
    pub(super) fn key(&mut self) -> u64 {
        self.next_key += 1;
        self.next_key
    }

    /// A diagnostic: counted in the ledger and written into the bundle.
    pub(super) fn diagnose(&mut self, message: String) -> io::Result<()> {
        let message = format!("line {}: {message}", self.line);
        let fields = Fields::new()
            .put("level", "warning")
            .put(field::MESSAGE, message.clone());
        self.ledger.diagnostics.push(message);
        self.sink
            .event(self.rollout, crate::vocab::DIAGNOSTIC_EVENT, &fields)
    }

    /// Line `number` of Codex's `trace.jsonl`, `len` bytes long, was skipped: longer than a
    /// reader reads.
    pub(crate) fn skip_line(&mut self, number: u64, len: u64) -> io::Result<()> {
        self.line = number;
        self.ledger.event("line", Fate::Diagnosed);
        self.diagnose(format!(
            "{len} bytes long, more than the {} a reader reads; skipped",
            crate::format::MAX_LINE_BYTES
        ))
    }

    /// Applies line `number` of Codex's `trace.jsonl`.
    pub(crate) fn apply_line(&mut self, number: u64, text: &str) -> io::Result<()> {
        self.line = number;
        if text.trim().is_empty() {
            return Ok(());
        }
        let envelope: Envelope = match serde_json::from_str(text) {
            Ok(e) => e,
            Err(e) => {
                self.ledger.event("line", Fate::Diagnosed);
                return self.diagnose(format!("not a Codex raw event ({e}); skipped"));
            }
        };
        if envelope.schema_version > raw::NEWEST_SCHEMA && !self.newer_schema_noted {
            self.newer_schema_noted = true;
            self.diagnose(format!(
                "raw schema_version {} is newer than this importer knows ({}); events are \
                 read by type as far as they fit",
                envelope.schema_version,
                raw::NEWEST_SCHEMA
            ))?;
        }
        if envelope.seq != self.last_seq + 1 {
            self.diagnose(format!(
                "seq {} follows seq {}; Codex's log has a gap or is out of order",
                envelope.seq, self.last_seq
            ))?;
        }
        if self.recording_completed {
            self.diagnose("an event follows `recording_completed`".to_owned())?;
        }
        self.last_seq = envelope.seq;
        self.schema = envelope.schema_version;
        self.sink.clock(envelope.wall_time_unix_ms);
        let event_type = envelope
            .payload
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let fate = match Event::parse(envelope.payload.clone()) {
            Ok(event) => self.dispatch(&envelope, &event_type, event)?,
            Err(e) => {
                self.diagnose(format!(
                    "`{event_type}` event does not fit its schema ({e}); kept as evidence"
                ))?;
                self.keep_raw(&event_type, &envelope.payload)?;
                Fate::Diagnosed
            }
        };
        self.ledger.event(&event_type, fate);
        Ok(())
    }

    /// Routes one event to the step that maps it.
    fn dispatch(&mut self, env: &Envelope, event_type: &str, event: Event) -> io::Result<Fate> {
        let (thread, turn) = (env.thread_id.as_deref(), env.codex_turn_id.as_deref());
        match event {
            Event::RolloutStarted(e) => self.rollout_started(e),
            Event::RolloutEnded(e) => self.rollout_ended(e.status),
            Event::ThreadStarted(e) => self.thread_started(e),
            Event::ThreadResumed(e) => self.thread_resumed(&e.thread_id),
            Event::ThreadEnded(e) => self.thread_ended(&e.thread_id, e.status),
            Event::CodexTurnStarted(e) => {
                self.turn_started(&e.codex_turn_id, e.thread_id.as_deref().or(thread))
            }
            Event::CodexTurnEnded(e) => self.turn_ended(&e.codex_turn_id, e.status),
            Event::InferenceStarted(e) => self.inference_started(e, (thread, turn)),
            Event::InferenceCompleted(e) => self.inference_ended(e, "completed"),
            Event::InferenceFailed(e) => self.inference_ended(e, "failed"),
            Event::InferenceCancelled(e) => self.inference_ended(e, "cancelled"),
            Event::ToolCallStarted(e) => {
                let ctx = self.ctx(thread, turn)?;
                self.tool_started(ctx, e)
            }
            Event::McpToolCallCorrelationAssigned(e) => self.mcp_correlation(e),
            Event::StdinTargetResolved(e) => self.stdin_target(e),
            Event::ToolCallRuntimeStarted(e) => self.runtime_started(e),
            Event::ToolCallRuntimeEnded(e) => self.runtime_ended(e),
            Event::ToolCallEnded(e) => self.tool_ended(e),
            Event::CodeCellStarted(e) => {
                let ctx = self.ctx(thread, turn)?;
                self.cell_started(ctx, e)
            }
            Event::CodeCellInitialResponse(e) => self.cell_initial(thread, e),
            Event::CodeCellEnded(e) => self.cell_ended(thread, e),
            Event::CompactionRequestStarted(e) => self.compaction_started(e, (thread, turn)),
            Event::CompactionRequestCompleted(e) => self.compaction_responded(e),
            Event::CompactionRequestFailed(e) => self.compaction_failed(e),
            Event::CompactionInstalled(e) => self.compaction_installed(e, (thread, turn)),
            Event::AgentResultObserved(e) => self.agent_result(e),
            Event::ProtocolEventObserved(e) => self.protocol_event(e),
            Event::HistoryItemAccepted(e) => self.history_item(e, (thread, turn)),
            Event::RecordingCompleted => {
                self.evidence("recording_completed", self.rollout, &Fields::new())?;
                self.recording_completed = true;
                Ok(Fate::Evidence)
            }
            Event::Other => {
                self.diagnose(
                    "an `other` event (Codex's escape hatch, which its own reducer rejects); \
                     kept as evidence"
                        .to_owned(),
                )?;
                self.keep_raw(event_type, &env.payload)?;
                Ok(Fate::Diagnosed)
            }
            Event::Unknown => {
                self.diagnose(format!(
                    "unknown raw event type `{event_type}`; kept as evidence"
                ))?;
                self.keep_raw(event_type, &env.payload)?;
                Ok(Fate::Diagnosed)
            }
        }
    }

    /// The thread and turn an event names (its own ids first, else the envelope's).
    pub(super) fn ctx(&mut self, thread: Option<&str>, turn: Option<&str>) -> io::Result<Ctx> {
        if let Some(t) = turn.and_then(|t| self.turns.get(t)) {
            return Ok(Ctx {
                thread_id: Some(t.thread_id.clone()),
                thread: Some(t.thread_key),
                turn: Some(t.key),
            });
        }
        if let Some(turn) = turn {
            self.diagnose(format!(
                "an event names turn {turn}, which never started; attached to its thread"
            ))?;
        }
        let Some(thread) = thread else {
            return Ok(Ctx::default());
        };
        let key = self.thread_key(thread)?;
        Ok(Ctx {
            thread_id: Some(thread.to_owned()),
            thread: Some(key),
            turn: None,
        })
    }

    /// `span_started` with the context's keys (the turn, else the thread, is the parent).
    pub(super) fn start(
        &mut self,
        key: u64,
        ctx: &Ctx,
        kind: SpanKind,
        fields: &Fields,
    ) -> io::Result<()> {
        let parent = ctx.span().or(Some(self.rollout));
        self.sink
            .span_started(key, (parent, ctx.thread, ctx.turn), kind, fields)
    }

    /// Reads the payload `reference` names, parsed (for the small payloads whose contents
    /// decide fields: metadata, invocations, runtime events); `None` when unreadable (the
    /// later [`Mapper::attach`] reports why).
    pub(super) fn peek(&self, reference: Option<&PayloadRef>) -> Option<Value> {
        let text = raw::read_payload(&self.src, reference?).ok()?;
        serde_json::from_str(&text.json).ok()
    }

    /// Writes the payload `reference` names as `role` of `span`, and counts it with `fate`
    /// (diagnosed when unreadable or of an unknown kind).
    pub(super) fn attach(
        &mut self,
        span: u64,
        role: &str,
        reference: Option<&PayloadRef>,
        fate: Fate,
    ) -> io::Result<()> {
        let Some(reference) = reference else {
            return Ok(());
        };
        let kind = reference.kind_name().to_owned();
        self.referenced.insert(reference.path.clone());
        let text = match raw::read_payload(&self.src, reference) {
            Ok(text) => text,
            Err(why) => {
                self.ledger.payload(&kind, Fate::Diagnosed);
                return self.diagnose(format!("payload {kind}: {why}"));
            }
        };
        let fate = if let Some(why) = &text.not_json {
            self.diagnose(format!("payload {kind}: {why}; kept as a JSON string"))?;
            Fate::Diagnosed
        } else if raw::PAYLOAD_KINDS.contains(&kind.as_str()) {
            fate
        } else {
            self.diagnose(format!(
                "payload kind `{kind}` ({}) is unknown to this importer; kept as evidence",
                reference.path
            ))?;
            Fate::Diagnosed
        };
        self.ledger.payload(&kind, fate);
        self.sink.payload(span, role, &text.json)
    }

    /// An evidence event `rollout.codex.<name>` on `span`.
    pub(super) fn evidence(&mut self, name: &str, span: u64, fields: &Fields) -> io::Result<()> {
        self.sink
            .event(span, &format!("{EVIDENCE_PREFIX}{name}"), fields)
    }

    /// Keeps a raw event we cannot map as an evidence event holding it whole, and every
    /// payload it references as metadata.
    fn keep_raw(&mut self, event_type: &str, raw: &Value) -> io::Result<()> {
        let fields = Fields::new()
            .put("event_type", event_type.to_owned())
            .put("event", raw.clone());
        self.evidence("unmapped_event", self.rollout, &fields)?;
        let mut refs = Vec::new();
        collect_refs(raw, &mut refs);
        for reference in refs {
            self.attach(
                self.rollout,
                role::METADATA,
                Some(&reference),
                Fate::Evidence,
            )?;
        }
        Ok(())
    }

    /// An event names a tool, cell, inference or compaction that never started.
    pub(super) fn unknown_entity(&mut self, what: &str, id: &str) -> io::Result<Fate> {
        self.diagnose(format!(
            "an event names {what} {id}, which never started; ignored"
        ))?;
        Ok(Fate::Diagnosed)
    }

    /// The end of Codex's log as it is now: payload files no event named are kept as
    /// evidence (with a diagnostic), and the bundle ends if the rollout did.
    pub(crate) fn finish(&mut self) -> io::Result<()> {
        if self.sink.ended() {
            return self.sink.write_manifest();
        }
        let mut unreferenced = Vec::new();
        if let Ok(entries) = std::fs::read_dir(self.src.join("payloads")) {
            for entry in entries.filter_map(Result::ok) {
                let rel = format!("payloads/{}", entry.file_name().to_string_lossy());
                if !self.referenced.contains(&rel) {
                    unreferenced.push(rel);
                }
            }
        }
        unreferenced.sort();
        for path in unreferenced {
            // Counted once, as `unreferenced`: no event says what kind it is.
            self.ledger.payload("unreferenced", Fate::Diagnosed);
            let reference = PayloadRef { kind: None, path };
            match raw::read_payload(&self.src, &reference) {
                Ok(text) => {
                    self.diagnose(format!(
                        "{} is referenced by no event; kept as evidence",
                        reference.path
                    ))?;
                    self.sink
                        .payload(self.rollout, role::METADATA, &text.json)?;
                }
                Err(why) => self.diagnose(format!("unreferenced payload: {why}"))?,
            }
        }
        self.finish_bundle()?;
        self.sink.write_manifest()
    }

    /// Whether Codex finished the recording: `recording_completed` (schema 2), or the
    /// rollout's end in a schema that has no such event.
    pub(crate) fn recording_done(&self) -> bool {
        self.recording_completed || (self.schema < 2 && self.rollout_ended.is_some())
    }

    /// Flushes what was written so far (a live import between polls).
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        self.sink.flush()
    }
}

/// Every payload reference (`{"raw_payload_id", "path", …}`) anywhere in `value`.
fn collect_refs(value: &Value, out: &mut Vec<PayloadRef>) {
    match value {
        Value::Object(map) => {
            if map.contains_key("raw_payload_id") && map.contains_key("path") {
                if let Ok(r) = serde_json::from_value::<PayloadRef>(value.clone()) {
                    out.push(r);
                    return;
                }
            }
            map.values().for_each(|v| collect_refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {}
    }
}
