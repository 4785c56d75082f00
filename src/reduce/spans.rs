//! Span records → entities: threads (with resumes), turns, inference calls, tool calls, code
//! cells, terminal operations and compactions, with their fields, statuses and payloads.
//!
//! Invariant: an entity's attributes are a projection of every field value its span has had
//! so far ([`Reducer::project_fields`] runs after creation and after each `span_recorded`), so
//! a late `Span::record` and a creation-time field mean the same thing.

use serde_json::{Map, Value};

use super::{
    field_i64, field_str, field_u64, Anchor, CodeCell, Compaction, CompactionAttempt, Execution,
    InferenceCall, ReduceError, Reducer, Requester, SpanEntry, Status, Terminal, TerminalOperation,
    Thread, ToolCall, Turn, Usage,
};
use crate::format::SpanKind;
use crate::vocab::{field, genai, role};

/// The graph anchor of a span's entity.
pub(super) fn anchor(kind: SpanKind, id: &str, key: u64) -> Anchor {
    match kind {
        SpanKind::Thread => Anchor::Thread(id.to_owned()),
        SpanKind::Turn => Anchor::Turn(id.to_owned()),
        SpanKind::Inference => Anchor::InferenceCall(id.to_owned()),
        SpanKind::Tool => Anchor::ToolCall(id.to_owned()),
        SpanKind::CodeCell => Anchor::CodeCell(id.to_owned()),
        // Rollouts, terminal operations and compactions are not edge endpoints in the graph
        // schema; the span key still identifies them.
        SpanKind::Rollout | SpanKind::Terminal | SpanKind::Compaction => Anchor::Span(key),
    }
}

/// How a span ended, from its fields: an explicit `status`, else `failed` for an `error` or a
/// panic, else `completed`. The flag says whether the status was evidenced.
fn end_status(fields: &Map<String, Value>, panicking: bool) -> (Status, bool) {
    if let Some(status) = field_str(fields, "status")
        .as_deref()
        .and_then(Status::parse)
    {
        // A span can't still be running once it ended.
        let status = if status == Status::Running {
            Status::Completed
        } else {
            status
        };
        return (status, true);
    }
    let has_error = fields.get("error").is_some_and(|v| !v.is_null());
    if has_error || panicking {
        (Status::Failed, true)
    } else {
        (Status::Completed, false)
    }
}

impl Reducer {
    fn execution(&self) -> Execution {
        Execution {
            status: Status::Running,
            started_at_unix_ms: self.t,
            ended_at_unix_ms: None,
            duration_ns: None,
            started_seq: self.seq,
            ended_seq: None,
            error: None,
        }
    }

    pub(super) fn execution_mut(&mut self, kind: SpanKind, id: &str) -> Option<&mut Execution> {
        let s = &mut self.state;
        match kind {
            SpanKind::Rollout => None,
            SpanKind::Thread => s.threads.get_mut(id).map(|e| &mut e.execution),
            SpanKind::Turn => s.turns.get_mut(id).map(|e| &mut e.execution),
            SpanKind::Inference => s.inference_calls.get_mut(id).map(|e| &mut e.execution),
            SpanKind::Tool => s.tool_calls.get_mut(id).map(|e| &mut e.execution),
            SpanKind::CodeCell => s.code_cells.get_mut(id).map(|e| &mut e.execution),
            SpanKind::Terminal => s.terminal_operations.get_mut(id).map(|e| &mut e.execution),
            SpanKind::Compaction => s.compactions.get_mut(id).map(|e| &mut e.execution),
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
        let mut entry = SpanEntry {
            kind,
            id: String::new(),
            thread_id,
            turn_id,
            tool: p_tool,
            code_cell: p_cell,
            fields: fields.clone(),
            start_ns: self.ns,
            start_seq: self.seq,
            ended: false,
        };
        match kind {
            SpanKind::Rollout => {
                entry.id = field_str(fields, "rollout_id").unwrap_or_else(|| format!("{key}"));
                if let Some(trace_id) = field_str(fields, "trace_id") {
                    self.state.trace_id.get_or_insert(trace_id);
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
                    entry.turn_id = field_str(fields, "turn_id")
                        .and_then(|turn| self.turn_named(&turn, entry.thread_id.as_deref()));
                }
                self.code_cell_started(&entry);
                entry.code_cell = Some(entry.id.clone());
                entry.tool = None;
            }
            SpanKind::Terminal => {
                entry.id = format!("terminal_op:{key}");
                let op = TerminalOperation {
                    operation_id: entry.id.clone(),
                    terminal_id: None,
                    op: None,
                    command: None,
                    cwd: None,
                    exit_code: None,
                    tool_call_id: entry.tool.clone(),
                    thread_id: entry.thread_id.clone(),
                    execution: self.execution(),
                    payloads: Vec::new(),
                };
                if let Some(tool) = entry.tool.as_ref() {
                    if let Some(t) = self.state.tool_calls.get_mut(tool) {
                        t.terminal_operations.push(entry.id.clone());
                    }
                }
                self.state.terminal_operations.insert(entry.id.clone(), op);
            }
            SpanKind::Compaction => {
                let mut id = field_str(fields, "compaction_id")
                    .unwrap_or_else(|| format!("compaction:{key}"));
                let scoped = format!("{}/{id}", entry.thread_id.as_deref().unwrap_or(""));
                let retry_of = [&id, &scoped].into_iter().find(|k| {
                    self.state
                        .compactions
                        .get(*k)
                        .is_some_and(|c| c.thread_id == entry.thread_id)
                });
                if let Some(retried) = retry_of {
                    id = retried.clone();
                    entry.id = id.clone();
                    let attempt = CompactionAttempt {
                        model: None,
                        execution: self.execution(),
                    };
                    if let Some(c) = self.state.compactions.get_mut(&id) {
                        if c.attempts.is_empty() {
                            c.attempts.push(CompactionAttempt {
                                model: c.model.clone(),
                                execution: c.execution.clone(),
                            });
                        }
                        c.attempts.push(attempt);
                        c.execution.status = Status::Running;
                        c.execution.ended_at_unix_ms = None;
                        c.execution.ended_seq = None;
                        c.execution.duration_ns = None;
                    }
                    self.spans.insert(key, entry);
                    return self.project_fields(key);
                }
                if self.state.compactions.contains_key(&id) {
                    // Another thread's compaction (programs may number them per thread): the
                    // id is scoped by its thread, as turn ids are; only a clash within that
                    // scope is worth a warning.
                    id = if self.state.compactions.contains_key(&scoped) {
                        self.warn(format!(
                            "compaction id `{id}` seen twice; the second is `{id}#{key}`"
                        ));
                        format!("{id}#{key}")
                    } else {
                        scoped
                    };
                }
                entry.id = id.clone();
                if let Some(turn) = entry
                    .turn_id
                    .as_ref()
                    .and_then(|t| self.state.turns.get_mut(t))
                {
                    turn.compactions.push(id.clone());
                }
                let compaction = Compaction {
                    compaction_id: id.clone(),
                    thread_id: entry.thread_id.clone(),
                    turn_id: entry.turn_id.clone(),
                    model: None,
                    execution: self.execution(),
                    input_items: Vec::new(),
                    marker_item: None,
                    replacement_items: Vec::new(),
                    checkpoint_payload: None,
                    attempts: Vec::new(),
                };
                self.state.compactions.insert(id, compaction);
            }
        }
        self.spans.insert(key, entry);
        self.project_fields(key)
    }

    /// The id of the turn the program calls `turn` in `thread` (scoped `<thread>/<turn>` if
    /// another thread used the id first), if it started.
    fn turn_named(&self, turn: &str, thread: Option<&str>) -> Option<String> {
        let thread = thread.unwrap_or_default();
        match self.state.turns.get(turn) {
            Some(t) if t.thread_id == thread => Some(turn.to_owned()),
            _ => {
                let scoped = format!("{thread}/{turn}");
                self.state.turns.contains_key(&scoped).then_some(scoped)
            }
        }
    }

    /// Starts (or resumes) a thread; returns its id.
    fn thread_started(
        &mut self,
        key: u64,
        fields: &Map<String, Value>,
        enclosing_thread: Option<String>,
    ) -> String {
        let id = field_str(fields, field::THREAD_ID)
            .or_else(|| field_str(fields, field::AGENT_ID))
            .unwrap_or_else(|| format!("thread:{key}"));
        *self.live_threads.entry(id.clone()).or_insert(0) += 1;
        if let Some(thread) = self.state.threads.get_mut(&id) {
            // A resume: the same thread attached again.
            thread.attachments += 1;
            thread.execution.status = Status::Running;
            thread.execution.ended_at_unix_ms = None;
            thread.execution.ended_seq = None;
            thread.execution.duration_ns = None;
            return id;
        }
        let parent = field_str(fields, "parent_thread_id").or(enclosing_thread);
        if let Some(p) = parent.as_ref().and_then(|p| self.state.threads.get_mut(p)) {
            p.children.push(id.clone());
        }
        if parent.is_none() && self.state.root_thread_id.is_none() {
            self.state.root_thread_id = Some(id.clone());
        }
        let thread = Thread {
            thread_id: id.clone(),
            agent_path: None,
            parent_thread_id: parent,
            nickname: None,
            role: None,
            model: None,
            execution: self.execution(),
            turns: Vec::new(),
            conversation: Vec::new(),
            attachments: 1,
            children: Vec::new(),
        };
        self.state.threads.insert(id.clone(), thread);
        id
    }

    /// Starts a turn; returns its id (the program's, made unique if another thread used it).
    fn turn_started(
        &mut self,
        key: u64,
        fields: &Map<String, Value>,
        thread: Option<&str>,
    ) -> String {
        let mut id = field_str(fields, "turn_id").unwrap_or_else(|| format!("turn:{key}"));
        if let Some(existing) = self.state.turns.get(&id) {
            if existing.thread_id.as_str() != thread.unwrap_or("") {
                // Programs number turns per thread (every child's turns are 0..n): the id is
                // scoped by its thread, `<thread>/<turn>`, which is nothing to warn about.
                id = format!("{}/{id}", thread.unwrap_or(""));
            } else {
                self.note(format!("turn `{id}` started again; its spans are merged"));
            }
        }
        if let Some((name, thread)) = thread.and_then(|t| Some((t, self.state.threads.get_mut(t)?)))
        {
            if self.thread_turns.insert((name.to_owned(), id.clone())) {
                thread.turns.push(id.clone());
            }
        }
        let turn = Turn {
            turn_id: id.clone(),
            thread_id: thread.unwrap_or_default().to_owned(),
            execution: self.execution(),
            inference_calls: Vec::new(),
            tool_calls: Vec::new(),
            code_cells: Vec::new(),
            compactions: Vec::new(),
        };
        match self.state.turns.get_mut(&id) {
            Some(existing) => existing.execution = turn.execution,
            None => {
                self.state.turns.insert(id.clone(), turn);
            }
        }
        id
    }

    fn inference_started(&mut self, entry: &SpanEntry) {
        if let Some(turn) = entry
            .turn_id
            .as_ref()
            .and_then(|t| self.state.turns.get_mut(t))
        {
            turn.inference_calls.push(entry.id.clone());
        }
        let call = InferenceCall {
            inference_call_id: entry.id.clone(),
            thread_id: entry.thread_id.clone(),
            turn_id: entry.turn_id.clone(),
            model: None,
            provider: None,
            response_id: None,
            previous_response_id: None,
            upstream_request_id: None,
            error_type: None,
            payload_format: None,
            execution: self.execution(),
            usage: None,
            request_items: Vec::new(),
            response_items: Vec::new(),
            tool_calls: Vec::new(),
            request_payload: None,
            response_payload: None,
        };
        self.state.inference_calls.insert(entry.id.clone(), call);
    }

    fn tool_started(&mut self, entry: &SpanEntry) {
        let requester = match (&entry.code_cell, field_str(&entry.fields, "call_id")) {
            (Some(cell), _) => Requester::CodeCell {
                code_cell_id: cell.clone(),
            },
            (None, Some(_)) => Requester::Model {
                inference_call_id: None,
            },
            (None, None) => Requester::Runtime,
        };
        if let Some(turn) = entry
            .turn_id
            .as_ref()
            .and_then(|t| self.state.turns.get_mut(t))
        {
            turn.tool_calls.push(entry.id.clone());
        }
        if let Some(cell) = entry
            .code_cell
            .as_ref()
            .and_then(|c| self.state.code_cells.get_mut(c))
        {
            cell.tool_calls.push(entry.id.clone());
        }
        let call = ToolCall {
            tool_call_id: entry.id.clone(),
            thread_id: entry.thread_id.clone(),
            turn_id: entry.turn_id.clone(),
            tool: None,
            kind: None,
            call_id: None,
            mcp_server: None,
            target_thread_id: None,
            requester,
            runtime: None,
            execution: self.execution(),
            call_items: Vec::new(),
            output_items: Vec::new(),
            args_payload: None,
            result_payload: None,
            terminal_operations: Vec::new(),
            spawned_threads: Vec::new(),
            waited_cell: None,
        };
        self.state.tool_calls.insert(entry.id.clone(), call);
    }

    fn code_cell_started(&mut self, entry: &SpanEntry) {
        if let Some(turn) = entry
            .turn_id
            .as_ref()
            .and_then(|t| self.state.turns.get_mut(t))
        {
            turn.code_cells.push(entry.id.clone());
        }
        let cell = CodeCell {
            code_cell_id: entry.id.clone(),
            cell_id: None,
            call_id: None,
            language: None,
            thread_id: entry.thread_id.clone(),
            turn_id: entry.turn_id.clone(),
            execution: self.execution(),
            source_item: None,
            output_items: Vec::new(),
            tool_calls: Vec::new(),
            yielded_at_unix_ms: None,
            yielded_seq: None,
            waits: Vec::new(),
            source_payload: None,
            output_payload: None,
        };
        self.state.code_cells.insert(entry.id.clone(), cell);
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

    /// Copies the span's accumulated fields onto its entity, and re-links what a field
    /// change can affect (call ids, collab targets, terminal sessions, response ids).
    fn project_fields(&mut self, key: u64) -> Result<(), ReduceError> {
        let Some(entry) = self.spans.get(&key) else {
            return Ok(());
        };
        let (kind, id, f) = (entry.kind, entry.id.clone(), entry.fields.clone());
        let start_seq = entry.start_seq;
        let thread = entry.thread_id.clone();
        let s = |name| field_str(&f, name);
        if let Some(error) = s("error") {
            if let Some(execution) = self.execution_mut(kind, &id) {
                execution.error = Some(error);
            }
        }
        match kind {
            SpanKind::Rollout => {}
            SpanKind::Thread => {
                if let Some(t) = self.state.threads.get_mut(&id) {
                    t.agent_path = s("agent_path").or(t.agent_path.take());
                    t.nickname = s("nickname").or(t.nickname.take());
                    t.role = s("role").or(t.role.take());
                    t.model = s("model").or(t.model.take());
                }
            }
            SpanKind::Turn => {}
            SpanKind::Inference => {
                let Some(c) = self.state.inference_calls.get_mut(&id) else {
                    return Ok(());
                };
                c.model = s("model").or(c.model.take());
                c.provider = s("provider").or(c.provider.take());
                c.previous_response_id =
                    s("previous_response_id").or(c.previous_response_id.take());
                c.upstream_request_id = s("upstream_request_id").or(c.upstream_request_id.take());
                let counters = [
                    field_u64(&f, "input_tokens"),
                    field_u64(&f, "output_tokens"),
                    field_u64(&f, "cached_input_tokens"),
                    field_u64(&f, "reasoning_tokens"),
                ];
                if counters.iter().any(Option::is_some) {
                    let usage = c.usage.get_or_insert_with(Usage::default);
                    let [i, o, ci, r] = counters;
                    usage.input_tokens = i.unwrap_or(usage.input_tokens);
                    usage.output_tokens = o.unwrap_or(usage.output_tokens);
                    usage.cached_input_tokens = ci.unwrap_or(usage.cached_input_tokens);
                    usage.reasoning_tokens = r.unwrap_or(usage.reasoning_tokens);
                }
                if let Some(response_id) = s("response_id") {
                    c.response_id = Some(response_id.clone());
                    if let Some(thread) = thread {
                        let thread = self.thread(&thread);
                        self.replays[thread.no]
                            .responses
                            .insert(response_id, id.clone());
                    }
                }
            }
            SpanKind::Tool => {
                let Some(t) = self.state.tool_calls.get_mut(&id) else {
                    return Ok(());
                };
                t.tool = s("tool").or(t.tool.take());
                t.kind = s("kind").or(t.kind.take());
                t.mcp_server = s("mcp_server").or(t.mcp_server.take());
                t.target_thread_id = s("target_thread_id").or(t.target_thread_id.take());
                let call_id = s("call_id");
                if t.call_id.is_none() && call_id.is_some() {
                    t.call_id = call_id;
                    // A call id recorded after creation still means the model asked for it.
                    if t.requester == Requester::Runtime {
                        t.requester = Requester::Model {
                            inference_call_id: None,
                        };
                    }
                    self.tool_call_id_known(&id)?;
                }
                self.collab_tool_changed(&id, s("message"));
                self.wait_changed(&id, s("cell_id"));
            }
            SpanKind::CodeCell => {
                let Some(c) = self.state.code_cells.get_mut(&id) else {
                    return Ok(());
                };
                let runtime_id = s("cell_id").filter(|_| c.cell_id.is_none());
                c.cell_id = s("cell_id").or(c.cell_id.take());
                c.language = s("language").or(c.language.take());
                if s("status").as_deref() == Some("yielded") {
                    // A runtime state, not an end: the span stays running.
                    if c.yielded_at_unix_ms.is_none() {
                        c.yielded_at_unix_ms = Some(self.t);
                        c.yielded_seq = Some(self.seq);
                    }
                    if let Some(entry) = self.spans.get_mut(&key) {
                        entry.fields.remove("status");
                    }
                }
                let call_id = s("call_id");
                if c.call_id.is_none() && call_id.is_some() {
                    c.call_id = call_id;
                    self.code_cell_call_id_known(&id);
                }
                if let (Some(cell_id), Some(thread)) = (runtime_id, thread.as_deref()) {
                    let thread = self.thread(thread);
                    self.replays[thread.no].cells.insert(cell_id, id.clone());
                }
            }
            SpanKind::Terminal => {
                let Some(op) = self.state.terminal_operations.get_mut(&id) else {
                    return Ok(());
                };
                op.op = s("op").or(op.op.take());
                op.command = s("command").or(op.command.take());
                op.cwd = s("cwd").or(op.cwd.take());
                op.exit_code = field_i64(&f, "exit_code").or(op.exit_code);
                let terminal_id = s("terminal_id");
                if op.terminal_id.is_none() {
                    if let Some(terminal_id) = terminal_id {
                        op.terminal_id = Some(terminal_id.clone());
                        let thread_id = op.thread_id.clone();
                        self.state
                            .terminals
                            .entry(terminal_id.clone())
                            .or_insert_with(|| Terminal {
                                terminal_id,
                                thread_id,
                                operations: Vec::new(),
                            })
                            .operations
                            .push(id.clone());
                    }
                }
            }
            SpanKind::Compaction => {
                if let Some(c) = self.state.compactions.get_mut(&id) {
                    c.model = s("model").or(c.model.take());
                    if let Some(attempt) = c
                        .attempts
                        .iter_mut()
                        .find(|a| a.execution.started_seq == start_seq)
                    {
                        attempt.model = s("model").or(attempt.model.take());
                    }
                }
            }
        }
        Ok(())
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
        let unknown_status = field_str(&entry.fields, "status")
            .filter(|word| Status::parse(word).is_none())
            .map(|word| (word, entry.kind, entry.id.clone()));
        // Nothing reads an ended span's fields again but a spawn link's `message`: keep the
        // graph's memory proportional to entities, not to every field ever recorded.
        entry.fields.retain(|name, _| name == "message");
        let (kind, id, start_ns) = (entry.kind, entry.id.clone(), entry.start_ns);
        let start_seq = entry.start_seq;
        if let Some((word, kind, id)) = unknown_status {
            self.warn(format!(
                "{kind} {id} ended with status `{word}`, which is not a known status; recorded \
                 as {}",
                status.as_str()
            ));
        }
        if kind == SpanKind::Thread {
            let live = self.live_threads.entry(id.clone()).or_insert(1);
            *live = live.saturating_sub(1);
            if *live > 0 {
                // Another attachment of the same thread is still open.
                return Ok(());
            }
        }
        let no_response = kind == SpanKind::Inference
            && self
                .state
                .inference_calls
                .get(&id)
                .is_some_and(|c| c.response_payload.is_none());
        let (t, seq, ns) = (self.t, self.seq, self.ns);
        if let Some(execution) = self.execution_mut(kind, &id) {
            execution.status = match status {
                // What the response said (an API error: failed; a stream that ended early:
                // cancelled) or the turn's end already decided (a cell still running when its
                // turn was cancelled: cancelled) stands, unless the program says otherwise.
                _ if !evidenced
                    && matches!(kind, SpanKind::Inference | SpanKind::CodeCell)
                    && execution.status != Status::Running =>
                {
                    execution.status
                }
                // A request went out and the span closed with no response and no status:
                // how it ended is unknown, not `completed`.
                _ if !evidenced && no_response => Status::Incomplete,
                status => status,
            };
            execution.ended_at_unix_ms = Some(t);
            execution.ended_seq = Some(seq);
            execution.duration_ns = Some(ns.saturating_sub(start_ns));
        }
        if kind == SpanKind::Compaction {
            let attempt = self.state.compactions.get_mut(&id).and_then(|c| {
                c.attempts
                    .iter_mut()
                    .find(|a| a.execution.started_seq == start_seq)
            });
            if let Some(attempt) = attempt {
                attempt.execution.status = status;
                attempt.execution.ended_at_unix_ms = Some(t);
                attempt.execution.ended_seq = Some(seq);
                attempt.execution.duration_ns = Some(ns.saturating_sub(start_ns));
            }
        }
        match kind {
            SpanKind::Inference => {
                if !evidenced && no_response {
                    self.defaulted_inferences.insert(id);
                }
            }
            SpanKind::Turn => self.turn_ended(&id, status),
            SpanKind::Rollout
            | SpanKind::Thread
            | SpanKind::Tool
            | SpanKind::CodeCell
            | SpanKind::Terminal
            | SpanKind::Compaction => {}
        }
        Ok(())
    }

    /// A turn that ended cancelled, failed or aborted takes down what it left running, and
    /// an inference call that ended with neither a status nor a response inside it (a dropped
    /// future) gets the turn's status, as the reference design closes them at turn end.
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
        let (t, seq) = (self.t, self.seq);
        for id in inferences {
            let defaulted = status != Status::Completed && self.defaulted_inferences.remove(&id);
            if let Some(call) = self.state.inference_calls.get_mut(&id) {
                if call.execution.status == Status::Running || defaulted {
                    call.execution.status = inference_status;
                    call.execution.ended_at_unix_ms.get_or_insert(t);
                    call.execution.ended_seq.get_or_insert(seq);
                }
            }
        }
        let cell_status = match status {
            Status::Failed => Status::Failed,
            Status::Cancelled | Status::Aborted => Status::Cancelled,
            _ => return,
        };
        for id in cells {
            if let Some(cell) = self.state.code_cells.get_mut(&id) {
                if cell.execution.status == Status::Running {
                    cell.execution.status = cell_status;
                    cell.execution.ended_at_unix_ms = Some(t);
                    cell.execution.ended_seq = Some(seq);
                }
            }
        }
    }

    /// End of log: spans that never ended are `incomplete`.
    pub(super) fn spans_never_ended(&mut self) {
        let mut open: Vec<(u64, SpanKind, String)> = self
            .spans
            .iter()
            .filter(|(_, e)| !e.ended)
            .map(|(k, e)| (*k, e.kind, e.id.clone()))
            .collect();
        if open.is_empty() {
            return;
        }
        open.sort();
        self.state.complete = false;
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
        self.warn_at_end(format!(
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

    /// A `rollout.payload` record: index it on its owner, and interpret model-facing ones.
    pub(super) fn payload(&mut self, key: u64, role: &str, body: &str) -> Result<(), ReduceError> {
        let Some(entry) = self.spans.get(&key) else {
            return Ok(());
        };
        let (kind, id) = (entry.kind, entry.id.clone());
        let (thread, turn) = (entry.thread_id.clone(), entry.turn_id.clone());
        let hint = field_str(&entry.fields, "provider");
        let seq = self.seq;
        match (kind, role) {
            (SpanKind::Inference, role::SYSTEM_INSTRUCTIONS) => {
                // Joins the request that follows (GenAI spans record both apart).
                if let Some(entry) = self.spans.get_mut(&key) {
                    let body = Value::String(body.to_owned());
                    entry
                        .fields
                        .insert(genai::SYSTEM_INSTRUCTIONS.to_owned(), body);
                }
            }
            (SpanKind::Inference, role::REQUEST) => {
                if let Some(c) = self.state.inference_calls.get_mut(&id) {
                    c.request_payload = Some(seq);
                }
                let instructions = self
                    .spans
                    .get_mut(&key)
                    .and_then(|entry| entry.fields.remove(genai::SYSTEM_INSTRUCTIONS));
                let request = self
                    .memo
                    .request(body, hint.as_deref())
                    .and_then(
                        |mut request| match instructions.as_ref().and_then(Value::as_str) {
                            Some(text) => super::payloads::prepend_instructions(&mut request, text)
                                .map(|()| request),
                            None => Ok(request),
                        },
                    );
                match request {
                    Ok(request) => match thread {
                        Some(thread) => self.model_request(&id, &thread, turn, request)?,
                        None => self.warn(format!(
                            "request of {id} is outside any thread; its items are not tracked"
                        )),
                    },
                    Err(e) => self.warn(format!(
                        "request payload of {id} is not a model request this reducer knows ({e}); kept as raw evidence"
                    )),
                }
            }
            (SpanKind::Inference, "response") => {
                if let Some(c) = self.state.inference_calls.get_mut(&id) {
                    c.response_payload = Some(seq);
                }
                self.defaulted_inferences.remove(&id);
                match self.memo.response(body, hint.as_deref()) {
                    Ok(response) => match thread {
                        Some(thread) => self.model_response(&id, &thread, turn, response)?,
                        None => self.warn(format!(
                            "response of {id} is outside any thread; its items are not tracked"
                        )),
                    },
                    Err(e) => self.warn(format!(
                        "response payload of {id} is not a model response this reducer knows ({e}); kept as raw evidence"
                    )),
                }
            }
            (SpanKind::Compaction, "checkpoint") => {
                if let Some(c) = self.state.compactions.get_mut(&id) {
                    c.checkpoint_payload = Some(seq);
                }
                match (self.memo.checkpoint(body, hint.as_deref()), thread) {
                    (Some((Ok(input), Ok(replacement))), Some(thread)) => {
                        self.compaction_checkpoint(&id, &thread, turn, input, replacement)?
                    }
                    (Some((Err(e), _) | (_, Err(e))), _) => self.warn(format!(
                        "checkpoint of compaction {id} has items this reducer does not know ({e})"
                    )),
                    (None, _) => self.warn(format!(
                        "checkpoint of compaction {id} lacks `input_history`/`replacement_history` arrays"
                    )),
                    (Some(_), None) => self.warn(format!(
                        "checkpoint of compaction {id} is outside any thread"
                    )),
                }
            }
            (SpanKind::Tool, "args") => {
                if let Some(t) = self.state.tool_calls.get_mut(&id) {
                    t.args_payload = Some(seq);
                }
            }
            (SpanKind::Tool, "result" | "output") => {
                if let Some(t) = self.state.tool_calls.get_mut(&id) {
                    t.result_payload = Some(seq);
                }
            }
            (SpanKind::CodeCell, "source") => {
                if let Some(c) = self.state.code_cells.get_mut(&id) {
                    c.source_payload = Some(seq);
                }
            }
            (SpanKind::CodeCell, "output" | "result") => {
                if let Some(c) = self.state.code_cells.get_mut(&id) {
                    c.output_payload = Some(seq);
                }
            }
            (SpanKind::Terminal, _) => {
                if let Some(op) = self.state.terminal_operations.get_mut(&id) {
                    op.payloads.push(seq);
                }
            }
            // A role outside the vocabulary: kept, but said, since a misspelt `reponse`
            // would otherwise vanish from the graph.
            (_, role) if !crate::vocab::role::ALL.contains(&role) => {
                self.warn(format!(
                    "payload {seq} of {kind} {id} has role `{role}`, which is not one of {}; \
                     kept as raw evidence only",
                    crate::vocab::role::ALL.join(", ")
                ));
            }
            // Everything else (thread metadata, compaction requests, …) stays raw evidence,
            // reachable through the payload index.
            (
                SpanKind::Rollout
                | SpanKind::Thread
                | SpanKind::Turn
                | SpanKind::Inference
                | SpanKind::Tool
                | SpanKind::CodeCell
                | SpanKind::Compaction,
                _,
            ) => {}
        }
        Ok(())
    }
}
