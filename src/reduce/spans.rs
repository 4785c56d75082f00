//! Span records → entities: a span's start creates its entity (through the file that owns
//! that kind, see `reducer.rs`), its recorded fields are projected onto it (`fields.rs`), and
//! its end — or the end of the log — ends it. This file keeps each span's entry and sets every
//! entity's lifetime (`execution`).
//!
//! Invariant: a span's entity starts with its `span_started` and only its own `span_ended`
//! (or the end of the log) ends it. An end status is *evidenced* (an explicit `status`, an
//! `error`, an `otel.status_code`, a panic) or defaulted, and a defaulted one never overrides
//! what other evidence already decided: a response that failed or stopped early, a turn that
//! was cancelled. A span that closed is `completed` by default whether or not content was
//! captured: only an inference whose request was seen and which nothing says was answered
//! (no response, response id, usage, finish reason) ends `incomplete`.

use serde_json::{Map, Value};

use super::error::ReduceError;
use super::fields::{end_status, field_str, unknown_status};
use super::reducer::{Reducer, SpanEntry};
use super::state::{Execution, Status};
use crate::format::SpanKind;
use crate::vocab::field;

/// Marks an ended execution as running again (a thread resumed, a compaction retried).
pub(super) fn reopen(execution: &mut Execution) {
    execution.status = Status::Running;
    execution.ended_at_unix_ms = None;
    execution.ended_seq = None;
    execution.duration_ns = None;
}

impl Reducer {
    /// The lifetime of an entity starting at the record being applied.
    pub(super) fn execution(&self) -> Execution {
        Execution {
            status: Status::Running,
            started_at_unix_ms: self.t,
            ended_at_unix_ms: None,
            duration_ns: None,
            started_seq: self.seq,
            ended_seq: None,
            error: None,
            started_ns: Some(self.ns),
        }
    }

    /// The lifetime of the entity `id` of a span of `kind`, borrowed from the file that owns
    /// the entity (see the table in `reducer.rs`).
    pub(super) fn execution_mut(&mut self, kind: SpanKind, id: &str) -> Option<&mut Execution> {
        match kind {
            SpanKind::Rollout => None,
            SpanKind::Thread | SpanKind::Turn => self.thread_execution_mut(kind, id),
            SpanKind::Inference => self.inference_execution_mut(id),
            SpanKind::Compaction => self.compaction_execution_mut(id),
            SpanKind::Tool | SpanKind::CodeCell | SpanKind::Terminal => {
                self.call_execution_mut(kind, id)
            }
        }
    }

    pub(super) fn span_started(
        &mut self,
        key: u64,
        parent: Option<u64>,
        thread: Option<u64>,
        turn: Option<u64>,
        kind: SpanKind,
        fields: &Map<String, Value>,
    ) -> Result<(), ReduceError> {
        if self.spans.contains_key(&key) {
            return Err(self.contradiction(format!("span {key} started twice")));
        }
        let [thread_id, turn_id, tool, code_cell] = self.span_context(key, parent, thread, turn)?;
        // Its id is set by its kind.
        let mut entry = SpanEntry {
            kind,
            id: String::new(),
            thread_id,
            turn_id,
            tool,
            code_cell,
            fields: fields.clone(),
            start_ns: self.ns,
            start_seq: self.seq,
            ended: false,
        };
        match kind {
            SpanKind::Rollout => {
                entry.id = field_str(fields, field::ROLLOUT_ID).unwrap_or_else(|| format!("{key}"));
                if let Some(trace_id) = field_str(fields, field::TRACE_ID) {
                    self.trace_id_seen(trace_id);
                }
            }
            SpanKind::Thread => {
                let id = self.thread_started(key, fields, entry.thread_id.take());
                entry.thread_id = Some(id.clone());
                entry.turn_id = None;
                entry.id = id;
            }
            SpanKind::Turn => {
                entry.id = self.turn_started(key, fields, entry.thread_id.as_deref());
                entry.turn_id = Some(entry.id.clone());
            }
            SpanKind::Inference => {
                entry.id = format!("inference:{key}");
                self.inference_started(&entry);
            }
            SpanKind::Tool => {
                entry.id = format!("tool:{key}");
                self.tool_started(&entry);
                entry.tool = Some(entry.id.clone());
                entry.code_cell = None;
            }
            SpanKind::CodeCell => {
                entry.id = format!("code_cell:{key}");
                // A cell that may outlive its turn is not the turn span's child (a parent
                // span stays open while a child is): it names the turn it started in.
                if entry.turn_id.is_none() {
                    entry.turn_id = field_str(fields, field::TURN_ID)
                        .and_then(|turn| self.turn_named(&turn, entry.thread_id.as_deref()));
                }
                self.code_cell_started(&entry);
                entry.code_cell = Some(entry.id.clone());
                entry.tool = None;
            }
            SpanKind::Terminal => {
                entry.id = format!("terminal_op:{key}");
                self.terminal_started(&entry);
            }
            SpanKind::Compaction => entry.id = self.compaction_started(key, &entry),
        }
        self.spans.insert(key, entry);
        self.project_fields(key)
    }

    /// The thread, turn, tool call and code cell (by id) a new span `key` runs in: its own
    /// `thread`/`turn` context spans first, else its parent's.
    fn span_context(
        &mut self,
        key: u64,
        parent: Option<u64>,
        thread: Option<u64>,
        turn: Option<u64>,
    ) -> Result<[Option<String>; 4], ReduceError> {
        let (p_thread, p_turn, p_tool, p_cell) = match parent {
            Some(p) => match self.span_ref(p, "span_started (parent)")? {
                Some(e) => (
                    e.thread_id.clone(),
                    e.turn_id.clone(),
                    e.tool.clone(),
                    e.code_cell.clone(),
                ),
                None => (None, None, None, None),
            },
            None => (None, None, None, None),
        };
        let context_id = |reducer: &Reducer, k: Option<u64>| {
            k.filter(|k| *k != key)
                .and_then(|k| reducer.spans.get(&k))
                .map(|e| e.id.clone())
        };
        let thread_id = context_id(self, thread).or(p_thread);
        let turn_id = context_id(self, turn).or(p_turn);
        Ok([thread_id, turn_id, p_tool, p_cell])
    }

    pub(super) fn span_recorded(
        &mut self,
        key: u64,
        fields: &Map<String, Value>,
    ) -> Result<(), ReduceError> {
        if self.span_ref(key, "span_recorded")?.is_none() {
            return Ok(());
        }
        if let Some(entry) = self.spans.get_mut(&key) {
            for (name, value) in fields {
                entry.fields.insert(name.clone(), value.clone());
            }
        }
        self.project_fields(key)
    }

    /// Sets a field of span `key` that no record carries (system instructions waiting for the
    /// request they join).
    pub(super) fn span_field_put(&mut self, key: u64, name: &str, value: Value) {
        if let Some(entry) = self.spans.get_mut(&key) {
            entry.fields.insert(name.to_owned(), value);
        }
    }

    /// Takes a field out of span `key`'s fields (one that must not be read again).
    pub(super) fn span_field_take(&mut self, key: u64, name: &str) -> Option<Value> {
        self.spans.get_mut(&key)?.fields.remove(name)
    }

    /// The span of entity `id` (of `kind`) recorded an `error`.
    pub(super) fn span_error(&mut self, kind: SpanKind, id: &str, error: String) {
        if let Some(execution) = self.execution_mut(kind, id) {
            execution.error = Some(error);
        }
    }

    pub(super) fn span_ended(&mut self, key: u64, panicking: bool) -> Result<(), ReduceError> {
        if self.span_ref(key, "span_ended")?.is_none() {
            return Ok(());
        }
        let Some(entry) = self.spans.get_mut(&key) else {
            return Ok(());
        };
        if entry.ended {
            return Err(self.contradiction(format!("span {key} ended twice")));
        }
        entry.ended = true;
        let (status, evidenced) = end_status(&entry.fields, panicking);
        let unknown = unknown_status(&entry.fields);
        // Nothing reads an ended span's fields again but a spawn link's `message`: keep the
        // graph's memory proportional to entities, not to every field ever recorded.
        entry.fields.retain(|name, _| name == field::MESSAGE);
        let (kind, id, start_ns) = (entry.kind, entry.id.clone(), entry.start_ns);
        let start_seq = entry.start_seq;
        if let Some(word) = unknown {
            self.warn(format!(
                "{kind} {id} ended with status `{word}`, which is not a known status; recorded \
                 as {}",
                status.as_str()
            ));
        }
        if kind == SpanKind::Thread && self.thread_detached(&id) {
            // Another attachment of the same thread is still open.
            return Ok(());
        }
        let unanswered = self.end_execution(kind, &id, status, evidenced, start_ns);
        match kind {
            SpanKind::Inference => {
                if !evidenced && unanswered {
                    self.defaulted_inferences.insert(id);
                }
            }
            SpanKind::Turn => self.turn_ended(&id, status),
            SpanKind::Compaction => self.attempt_ended(&id, start_seq, status, start_ns),
            SpanKind::CodeCell => self.cell_ended(&id),
            SpanKind::Terminal => self.terminal_op_ended(&id),
            SpanKind::Rollout | SpanKind::Thread | SpanKind::Tool => {}
        }
        Ok(())
    }

    /// Ends the lifetime of entity `id` (of `kind`, its span started at `start_ns`) at the
    /// record being applied; true if it is an inference call that nothing says was answered.
    fn end_execution(
        &mut self,
        kind: SpanKind,
        id: &str,
        status: Status,
        evidenced: bool,
        start_ns: u64,
    ) -> bool {
        let (asked, answered) = match kind {
            SpanKind::Inference => self.inference_outcome(id).unwrap_or((false, true)),
            _ => (false, true),
        };
        let (t, seq, ns) = (self.t, self.seq, self.ns);
        if let Some(execution) = self.execution_mut(kind, id) {
            execution.status = match status {
                // What the response said (an API error: failed; a stream that ended early:
                // cancelled) or the turn's end already decided (a cell still running when its
                // turn was cancelled: cancelled) stands, unless the program says otherwise.
                _ if !evidenced
                    && matches!(
                        kind,
                        SpanKind::Inference | SpanKind::CodeCell | SpanKind::Tool
                    )
                    && execution.status != Status::Running =>
                {
                    execution.status
                }
                // A request went out and the span closed with no answer and no status: how it
                // ended is unknown, not `completed`. (Without a captured request — content
                // capture off — a span that closed is a call that returned.)
                _ if !evidenced && asked && !answered => Status::Incomplete,
                status => status,
            };
            execution.ended_at_unix_ms = Some(t);
            execution.ended_seq = Some(seq);
            execution.duration_ns = Some(ns.saturating_sub(start_ns));
        }
        !answered
    }

    /// The attempt of compaction `id` whose span started at `start_seq` ended.
    fn attempt_ended(&mut self, id: &str, start_seq: u64, status: Status, start_ns: u64) {
        let (t, seq, ns) = (self.t, self.seq, self.ns);
        if let Some(execution) = self.attempt_execution_mut(id, start_seq) {
            execution.status = status;
            execution.ended_at_unix_ms = Some(t);
            execution.ended_seq = Some(seq);
            execution.duration_ns = Some(ns.saturating_sub(start_ns));
        }
    }

    /// A turn that ended cancelled, failed or aborted takes down what it left running — its
    /// inference calls, code cells and tool calls (a command killed with an interrupted turn
    /// ends with it, not `running` forever) — and an inference call that ended with neither a
    /// status nor a response inside it (a dropped future) gets the turn's status, as the
    /// reference design closes them at turn end.
    fn turn_ended(&mut self, turn_id: &str, status: Status) {
        let inference_status = match status {
            Status::Cancelled | Status::Completed => Status::Cancelled,
            Status::Failed => Status::Failed,
            Status::Aborted => Status::Aborted,
            Status::Running | Status::Incomplete => return,
        };
        let Some(turn) = self.state.turns.get(turn_id) else {
            return;
        };
        let (inferences, cells) = (turn.inference_calls.clone(), turn.code_cells.clone());
        let tools = turn.tool_calls.clone();
        for id in inferences {
            let defaulted = status != Status::Completed && self.defaulted_inferences.remove(&id);
            self.end_with_container(SpanKind::Inference, &id, inference_status, defaulted);
        }
        let Some(status) = taken_down(status) else {
            return;
        };
        for id in cells {
            self.end_with_container(SpanKind::CodeCell, &id, status, false);
        }
        for id in tools {
            self.end_with_container(SpanKind::Tool, &id, status, false);
        }
    }

    /// A code cell that ended cancelled or failed takes down the tool calls it asked for and
    /// left running, as its turn would.
    fn cell_ended(&mut self, cell_id: &str) {
        let Some(cell) = self.state.code_cells.get(cell_id) else {
            return;
        };
        let Some(status) = taken_down(cell.execution.status) else {
            return;
        };
        for id in cell.tool_calls.clone() {
            self.end_with_container(SpanKind::Tool, &id, status, false);
        }
    }

    /// Entity `id` (of `kind`) still running (or, with `anyway`, whatever its status) ends
    /// now with `status`, because what it ran in ended.
    fn end_with_container(&mut self, kind: SpanKind, id: &str, status: Status, anyway: bool) {
        let (t, seq) = (self.t, self.seq);
        let Some(execution) = self.execution_mut(kind, id) else {
            return;
        };
        if execution.status != Status::Running && !anyway {
            return;
        }
        let open = execution.ended_seq.is_none();
        execution.status = status;
        execution.ended_at_unix_ms.get_or_insert(t);
        execution.ended_seq.get_or_insert(seq);
        if open {
            self.ended_with_container.insert(id.to_owned());
        }
    }

    /// End of log: spans that never ended are `incomplete`.
    pub(super) fn spans_never_ended(&mut self) {
        // A span whose entity ended with its turn or cell is not missing its end.
        let mut open: Vec<(u64, SpanKind, String)> = self
            .spans
            .iter()
            .filter(|(_, e)| !e.ended && !self.ended_with_container.contains(&e.id))
            .map(|(k, e)| (*k, e.kind, e.id.clone()))
            .collect();
        if open.is_empty() {
            return;
        }
        open.sort();
        for (_, kind, id) in &open {
            if let Some(execution) = self.execution_mut(*kind, id) {
                execution.status = Status::Incomplete;
            }
        }
        let listed: Vec<String> = open
            .iter()
            .take(10)
            .map(|(k, kind, id)| format!("{kind} {id} (span {k})"))
            .collect();
        let more = open.len().saturating_sub(listed.len());
        self.missing_at_end(format!(
            "{} spans never ended: {}{}",
            open.len(),
            listed.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        ));
    }

    /// Inference call `id` got a response: how it ended is no longer a default.
    pub(super) fn inference_answered(&mut self, id: &str) {
        self.defaulted_inferences.remove(id);
    }
}

/// The status a turn's or cell's end gives what it left running: a failed one fails it, a
/// cancelled or aborted one cancels it; a completed one leaves it running (a yielded cell may
/// outlive its turn).
fn taken_down(status: Status) -> Option<Status> {
    match status {
        Status::Failed => Some(Status::Failed),
        Status::Cancelled | Status::Aborted => Some(Status::Cancelled),
        Status::Running | Status::Completed | Status::Incomplete => None,
    }
}
