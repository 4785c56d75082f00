//! Tool calls, code cells and terminal operations — the work a model's call asks for — and
//! the model-visible call id that links them: call items, output items, tool calls, code cells
//! and the inference whose response carried the call all meet in one [`CallSlot`] per
//! `(thread, call_id)`.
//!
//! Invariant: linking is idempotent and order-free — [`Reducer::link_slot`] derives every
//! link from the slot's current contents, so a tool span that starts before or after the
//! response (or a code cell before its source item) ends up with the same links.

use std::collections::HashMap;

use super::error::ReduceError;
use super::fields::{field_str, CodeCellFields, TerminalFields, ToolFields};
use super::payloads::{is_provider_run, kind_tag, ModelItem};
use super::reducer::{CallSlot, Reducer, SpanEntry, ThreadRef};
use super::state::{
    is_call_kind, is_call_output, item_id, CodeCell, Execution, ItemKind, Producer, Requester,
    Status, Terminal, TerminalOperation, ToolCall,
};
use crate::format::SpanKind;
use crate::vocab::{code_mode, field, status};

/// Which evidence a payload is, for the entity `calls.rs` owns that it belongs to.
#[derive(Debug, Clone, Copy)]
pub(super) enum CallPayload {
    /// A tool call's arguments.
    ToolArgs,
    /// A tool call's result.
    ToolResult,
    /// A code cell's source.
    CellSource,
    /// A code cell's output.
    CellOutput,
    /// Anything a terminal operation carries.
    Terminal,
}

/// `runtime` of a tool call the provider ran (a hosted tool).
const PROVIDER_RUNTIME: &str = "provider";

/// `slots[call_id]`, inserted as default first if missing; the id is copied only then.
fn slot_mut<'a>(slots: &'a mut HashMap<String, CallSlot>, call_id: &str) -> &'a mut CallSlot {
    if !slots.contains_key(call_id) {
        slots.insert(call_id.to_owned(), CallSlot::default());
    }
    match slots.get_mut(call_id) {
        Some(slot) => slot,
        None => unreachable!("inserted above"),
    }
}

fn push_unique(list: &mut Vec<String>, id: &str) {
    if !list.iter().any(|x| x == id) {
        list.push(id.to_owned());
    }
}

/// A tool call `id` in `thread` and `turn`, asked for by `requester`, with nothing linked yet.
fn new_tool_call(
    id: String,
    thread: Option<String>,
    turn: Option<String>,
    requester: Requester,
    execution: Execution,
) -> ToolCall {
    ToolCall {
        tool_call_id: id,
        thread_id: thread,
        turn_id: turn,
        tool: None,
        kind: None,
        call_id: None,
        mcp_server: None,
        mcp_call_id: None,
        target_thread_id: None,
        requester,
        requester_inferred: false,
        runtime: None,
        execution,
        call_items: Vec::new(),
        output_items: Vec::new(),
        args_payload: None,
        result_payload: None,
        terminal_operations: Vec::new(),
        spawned_threads: Vec::new(),
        waited_cell: None,
    }
}

impl Reducer {
    /// The lifetime of a tool call, code cell or terminal operation, for the span lifecycle
    /// (`spans.rs`), which sets it.
    pub(super) fn call_execution_mut(
        &mut self,
        kind: SpanKind,
        id: &str,
    ) -> Option<&mut Execution> {
        let s = &mut self.state;
        match kind {
            SpanKind::Tool => s.tool_calls.get_mut(id).map(|e| &mut e.execution),
            SpanKind::CodeCell => s.code_cells.get_mut(id).map(|e| &mut e.execution),
            SpanKind::Terminal => s.terminal_operations.get_mut(id).map(|e| &mut e.execution),
            SpanKind::Rollout
            | SpanKind::Thread
            | SpanKind::Turn
            | SpanKind::Inference
            | SpanKind::Compaction => None,
        }
    }

    /// A `rollout.tool` span started: a call asked for by the code cell it runs in, else by
    /// the model if it carries a call id, else by the runtime.
    pub(super) fn tool_started(&mut self, entry: &SpanEntry) {
        let requester = match (&entry.code_cell, field_str(&entry.fields, field::CALL_ID)) {
            (Some(cell), _) => Requester::CodeCell {
                code_cell_id: cell.clone(),
            },
            (None, Some(_)) => Requester::Model {
                inference_call_id: None,
            },
            (None, None) => Requester::Runtime,
        };
        self.turn_lists(entry.turn_id.as_deref(), SpanKind::Tool, &entry.id);
        if let Some(cell) = entry
            .code_cell
            .as_ref()
            .and_then(|c| self.state.code_cells.get_mut(c))
        {
            cell.tool_calls.push(entry.id.clone());
        }
        let call = new_tool_call(
            entry.id.clone(),
            entry.thread_id.clone(),
            entry.turn_id.clone(),
            requester,
            self.execution(),
        );
        self.state.tool_calls.insert(entry.id.clone(), call);
    }

    pub(super) fn code_cell_started(&mut self, entry: &SpanEntry) {
        self.turn_lists(entry.turn_id.as_deref(), SpanKind::CodeCell, &entry.id);
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

    /// A `rollout.terminal` span started: an operation of the tool call it runs in.
    pub(super) fn terminal_started(&mut self, entry: &SpanEntry) {
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

    pub(super) fn tool_fields(&mut self, id: &str, f: ToolFields) -> Result<(), ReduceError> {
        let Some(t) = self.state.tool_calls.get_mut(id) else {
            return Ok(());
        };
        t.tool = f.tool.or(t.tool.take());
        t.kind = f.kind.or(t.kind.take());
        t.mcp_server = f.mcp_server.or(t.mcp_server.take());
        t.mcp_call_id = f.mcp_call_id.or(t.mcp_call_id.take());
        t.target_thread_id = f.target_thread_id.or(t.target_thread_id.take());
        if t.call_id.is_none() && f.call_id.is_some() {
            t.call_id = f.call_id;
            // A call id recorded after creation still means the model asked for it.
            if t.requester == Requester::Runtime {
                t.requester = Requester::Model {
                    inference_call_id: None,
                };
            }
            self.tool_call_id_known(id)?;
        }
        self.collab_tool_changed(id, f.message);
        self.wait_changed(id, f.cell_id);
        Ok(())
    }

    /// The fields of code cell `id` (span `key`) in `thread`: a `yielded` status is a runtime
    /// state, not an end, so it is taken out of the span's fields once seen.
    pub(super) fn code_cell_fields(
        &mut self,
        key: u64,
        id: &str,
        thread: Option<String>,
        f: CodeCellFields,
    ) {
        let Some(c) = self.state.code_cells.get_mut(id) else {
            return;
        };
        let runtime_id = f.cell_id.clone().filter(|_| c.cell_id.is_none());
        c.cell_id = f.cell_id.or(c.cell_id.take());
        c.language = f.language.or(c.language.take());
        if f.yielded {
            // The span stays running.
            if c.yielded_at_unix_ms.is_none() {
                c.yielded_at_unix_ms = Some(self.t);
                c.yielded_seq = Some(self.seq);
            }
        }
        let call_id_known = c.call_id.is_none() && f.call_id.is_some();
        if call_id_known {
            c.call_id = f.call_id;
        }
        if f.yielded {
            self.span_field_take(key, field::STATUS);
        }
        if call_id_known {
            self.code_cell_call_id_known(id);
        }
        if let (Some(cell_id), Some(thread)) = (runtime_id, thread.as_deref()) {
            let thread = self.thread(thread);
            self.replays[thread.no].cells.insert(cell_id, id.to_owned());
        }
    }

    pub(super) fn terminal_fields(&mut self, id: &str, f: TerminalFields) {
        let Some(op) = self.state.terminal_operations.get_mut(id) else {
            return;
        };
        op.op = f.op.or(op.op.take());
        op.command = f.command.or(op.command.take());
        op.cwd = f.cwd.or(op.cwd.take());
        op.exit_code = f.exit_code.or(op.exit_code);
        let (None, Some(terminal_id)) = (&op.terminal_id, f.terminal_id) else {
            return;
        };
        op.terminal_id = Some(terminal_id.clone());
        let thread_id = op.thread_id.clone();
        let started = op.execution.started_at_unix_ms;
        self.state
            .terminals
            .entry(terminal_id.clone())
            .or_insert_with(|| Terminal {
                terminal_id,
                thread_id,
                operations: Vec::new(),
                status: Status::Running,
                started_at_unix_ms: Some(started),
                ended_at_unix_ms: None,
                exit_code: None,
            })
            .operations
            .push(id.to_owned());
    }

    /// Terminal operation `id` ended: if it reported its process's exit code, its session
    /// ended then, with that code.
    pub(super) fn terminal_op_ended(&mut self, id: &str) {
        let Some(op) = self.state.terminal_operations.get(id) else {
            return;
        };
        let (Some(terminal), Some(code)) = (op.terminal_id.as_ref(), op.exit_code) else {
            return;
        };
        let ended = op.execution.ended_at_unix_ms;
        if let Some(session) = self.state.terminals.get_mut(terminal) {
            session.status = if code == 0 {
                Status::Completed
            } else {
                Status::Failed
            };
            session.exit_code = Some(code);
            session.ended_at_unix_ms = ended;
        }
    }

    /// End of log: a session whose process never reported an exit ended with its thread
    /// (the agent's processes die with it), or with the rollout when that ended.
    pub(super) fn terminals_at_end(&mut self) {
        let rollout_end = self.state.ended_at_unix_ms.filter(|_| self.ended);
        for session in self.state.terminals.values_mut() {
            if session.status != Status::Running {
                continue;
            }
            let thread_end = session
                .thread_id
                .as_ref()
                .and_then(|t| self.state.threads.get(t))
                .filter(|t| t.execution.status != Status::Running)
                .and_then(|t| t.execution.ended_at_unix_ms);
            if let Some(end) = thread_end.or(rollout_end) {
                session.status = Status::Aborted;
                session.ended_at_unix_ms = Some(end);
            }
        }
    }

    /// Payload `seq` is evidence `which` of the tool call, code cell or terminal operation
    /// `id`.
    pub(super) fn call_payload(&mut self, id: &str, which: CallPayload, seq: u64) {
        let s = &mut self.state;
        let slot = match which {
            CallPayload::ToolArgs => s.tool_calls.get_mut(id).map(|t| &mut t.args_payload),
            CallPayload::ToolResult => s.tool_calls.get_mut(id).map(|t| &mut t.result_payload),
            CallPayload::CellSource => s.code_cells.get_mut(id).map(|c| &mut c.source_payload),
            CallPayload::CellOutput => s.code_cells.get_mut(id).map(|c| &mut c.output_payload),
            CallPayload::Terminal => {
                if let Some(op) = s.terminal_operations.get_mut(id) {
                    op.payloads.push(seq);
                }
                return;
            }
        };
        if let Some(slot) = slot {
            *slot = Some(seq);
        }
    }

    /// Tool call `tool` spawned thread `child`.
    pub(super) fn tool_spawned(&mut self, tool: &str, child: &str) {
        if let Some(t) = self.state.tool_calls.get_mut(tool) {
            push_unique(&mut t.spawned_threads, child);
        }
    }

    /// Thread `child` follows from spawning tool `tool`: the tool's target unless it named
    /// one; returns the target.
    pub(super) fn spawn_target(&mut self, tool: &str, child: &str) -> Option<String> {
        let t = self.state.tool_calls.get_mut(tool)?;
        Some(
            t.target_thread_id
                .get_or_insert_with(|| child.to_owned())
                .clone(),
        )
    }

    /// A call or output item whose `(thread, call_id)` already has one: the same content
    /// reuses it (adding `producer`); a call with different content contradicts it, an
    /// output with different content is another output of the call (`None`: a new item).
    pub(super) fn call_item_lookup(
        &mut self,
        thread: ThreadRef<'_>,
        item: &ModelItem,
        producer: Option<&Producer>,
    ) -> Result<Option<u64>, ReduceError> {
        let (Some(call_id), true) = (item.call_id.as_deref(), is_call_kind(item.kind)) else {
            return Ok(None);
        };
        let Some(slot) = self.replays[thread.no].calls.get(call_id) else {
            return Ok(None);
        };
        let same = |&&(_, kind, hash): &&(u64, ItemKind, u128)| {
            hash == item.content_hash && kind == item.kind
        };
        let id = if is_call_output(item.kind) {
            match slot.output_item.iter().chain(&slot.more_outputs).find(same) {
                Some(&(id, ..)) => id,
                None => return Ok(None),
            }
        } else {
            match slot.call_item {
                Some(call) if same(&&call) => call.0,
                Some((id, ..)) => {
                    return Err(self.contradiction(format!(
                        "call id `{call_id}` in thread `{}` is reused with different content \
                         (this call differs from {})",
                        thread.id,
                        item_id(id)
                    )))
                }
                None => return Ok(None),
            }
        };
        if let Some(producer) = producer {
            self.item_produced_by(&item_id(id), producer);
            if let (Producer::Inference(inference), false) = (producer, is_call_output(item.kind)) {
                let slot = slot_mut(&mut self.replays[thread.no].calls, call_id);
                slot.inference.get_or_insert_with(|| inference.clone());
                self.link_slot(thread, call_id);
            }
        }
        Ok(Some(id))
    }

    /// A new call or output item with a call id (an output after the first is another output
    /// of the same call).
    pub(super) fn call_item_created(
        &mut self,
        thread: ThreadRef<'_>,
        call_id: &str,
        item: &ModelItem,
        id: u64,
        producer: Option<&Producer>,
    ) {
        let slot = slot_mut(&mut self.replays[thread.no].calls, call_id);
        let entry = (id, item.kind, item.content_hash);
        if is_call_output(item.kind) {
            match slot.output_item {
                Some(_) => slot.more_outputs.push(entry),
                None => slot.output_item = Some(entry),
            }
        } else {
            slot.call_item = Some(entry);
            if let Some(Producer::Inference(inference)) = producer {
                slot.inference = Some(inference.clone());
            }
        }
        self.link_slot(thread, call_id);
    }

    /// A hosted tool's item `n` in `thread`: a provider-run call in the response of
    /// `inference` becomes (once) a tool call requested by that inference and run by the
    /// provider, its item both the call and the output (Responses) or the call (Anthropic
    /// `server_tool_use`); a server tool's result block, wherever it is seen, is that call's
    /// output, and an error result fails it.
    pub(super) fn hosted_item(
        &mut self,
        thread: ThreadRef<'_>,
        turn: &Option<String>,
        item: &ModelItem,
        n: u64,
        inference: Option<&str>,
    ) {
        let Some(call_id) = item.call_id.as_deref() else {
            return;
        };
        let entry = (n, item.kind, item.content_hash);
        if item.kind == ItemKind::ServerToolResult {
            let slot = slot_mut(&mut self.replays[thread.no].calls, call_id);
            slot.output_item.get_or_insert(entry);
            if item.status.as_deref() == Some(status::FAILED) {
                for tool in slot.tools.clone() {
                    if let Some(t) = self.state.tool_calls.get_mut(&tool) {
                        t.execution.status = Status::Failed;
                    }
                }
            }
            self.link_slot(thread, call_id);
            return;
        }
        let (true, Some(inference)) = (is_provider_run(item.kind), inference) else {
            return;
        };
        let slot = slot_mut(&mut self.replays[thread.no].calls, call_id);
        slot.call_item.get_or_insert(entry);
        if item.kind != ItemKind::ServerToolUse {
            slot.output_item.get_or_insert(entry);
        }
        slot.inference.get_or_insert_with(|| inference.to_owned());
        let tool_id = format!("tool:{inference}/{call_id}");
        if !slot.tools.contains(&tool_id) {
            slot.tools.push(tool_id.clone());
            let output = slot.output_item;
            self.hosted_tool_call(thread, turn, item, tool_id, inference, output);
        }
        self.link_slot(thread, call_id);
    }

    /// The tool call `id` the provider ran for `item` in the response of `inference`; `output`
    /// is the item its slot holds as the output.
    fn hosted_tool_call(
        &mut self,
        thread: ThreadRef<'_>,
        turn: &Option<String>,
        item: &ModelItem,
        id: String,
        inference: &str,
        output: Option<(u64, ItemKind, u128)>,
    ) {
        let failed_output = output.is_some_and(|(out, kind, _)| {
            kind == ItemKind::ServerToolResult
                && self
                    .state
                    .conversation_items
                    .get(&item_id(out))
                    .is_some_and(|i| i.status.as_deref() == Some(status::FAILED))
        });
        let status = match item.status.as_deref() {
            _ if failed_output => Status::Failed,
            // Anthropic server tools carry no status: the response is their end.
            None => Status::Completed,
            Some(word) => match Status::parse(word) {
                Some(Status::Running) | None => Status::Incomplete,
                Some(status) => status,
            },
        };
        self.turn_lists(turn.as_deref(), SpanKind::Tool, &id);
        let requester = Requester::Model {
            inference_call_id: Some(inference.to_owned()),
        };
        let execution = Execution {
            status,
            ended_at_unix_ms: Some(self.t),
            ended_seq: Some(self.seq),
            ..self.execution()
        };
        let call = ToolCall {
            tool: item.name.clone(),
            kind: Some(kind_tag(item.kind).to_owned()),
            call_id: item.call_id.clone(),
            runtime: Some(PROVIDER_RUNTIME.to_owned()),
            ..new_tool_call(
                id.clone(),
                Some(thread.id.to_owned()),
                turn.clone(),
                requester,
                execution,
            )
        };
        self.state.tool_calls.insert(id, call);
    }

    /// A tool call that may be a code-mode wait changed (its kind, name, `cell_id` field or
    /// call item became known): a wait links to the latest cell of its thread with the runtime
    /// cell id it names (`cell_field`, else its call's `cell_id` argument), once.
    pub(super) fn wait_changed(&mut self, tool: &str, cell_field: Option<String>) {
        let Some(t) = self.state.tool_calls.get(tool) else {
            return;
        };
        let is_wait = t.kind.as_deref() == Some(code_mode::WAIT)
            || t.tool.as_deref() == Some(code_mode::WAIT);
        let Some(thread) = t
            .thread_id
            .clone()
            .filter(|_| is_wait && t.waited_cell.is_none())
        else {
            return;
        };
        let runtime_id = cell_field.or_else(|| {
            let call = self.state.conversation_items.get(t.call_items.first()?)?;
            match serde_json::from_str::<serde_json::Value>(&call.text)
                .ok()?
                .get(code_mode::WAIT_CELL_ID)?
            {
                serde_json::Value::String(id) => Some(id.clone()),
                serde_json::Value::Number(n) => Some(n.to_string()),
                _ => None,
            }
        });
        let Some(cell) = runtime_id.and_then(|id| self.replay(&thread)?.cells.get(&id).cloned())
        else {
            return;
        };
        let outputs = t.output_items.clone();
        if let Some(t) = self.state.tool_calls.get_mut(tool) {
            t.waited_cell = Some(cell.clone());
        }
        if let Some(c) = self.state.code_cells.get_mut(&cell) {
            push_unique(&mut c.waits, tool);
            for item in &outputs {
                push_unique(&mut c.output_items, item);
            }
        }
    }

    /// A tool call's `call_id` became known.
    fn tool_call_id_known(&mut self, tool: &str) -> Result<(), ReduceError> {
        let Some(t) = self.state.tool_calls.get(tool) else {
            return Ok(());
        };
        let (Some(thread), Some(call_id)) = (t.thread_id.clone(), t.call_id.clone()) else {
            return Ok(());
        };
        let thread = self.thread(&thread);
        let slot = slot_mut(&mut self.replays[thread.no].calls, &call_id);
        if !slot.tools.iter().any(|x| x == tool) {
            slot.tools.push(tool.to_owned());
            if slot.tools.len() > 1 {
                let message = format!(
                    "call id `{call_id}` is carried by several tool calls ({}); all are linked to it",
                    slot.tools.join(", ")
                );
                self.warn(message);
            }
        }
        self.link_slot(thread, &call_id);
        Ok(())
    }

    /// A code cell's `call_id` became known.
    fn code_cell_call_id_known(&mut self, cell: &str) {
        let Some(c) = self.state.code_cells.get(cell) else {
            return;
        };
        let (Some(thread), Some(call_id)) = (c.thread_id.clone(), c.call_id.clone()) else {
            return;
        };
        let thread = self.thread(&thread);
        slot_mut(&mut self.replays[thread.no].calls, &call_id).code_cell = Some(cell.to_owned());
        self.link_slot(thread, &call_id);
    }

    /// Derives every link the slot implies; safe to call any number of times.
    fn link_slot(&mut self, thread: ThreadRef<'_>, call_id: &str) {
        let Some(slot) = self.replays[thread.no].calls.get(call_id) else {
            return;
        };
        let call_item = slot.call_item.map(|(n, ..)| item_id(n));
        let outputs: Vec<String> = slot
            .output_item
            .iter()
            .chain(&slot.more_outputs)
            .map(|&(n, ..)| item_id(n))
            .collect();
        let (tools, cell, inference) = (
            slot.tools.clone(),
            slot.code_cell.clone(),
            slot.inference.clone(),
        );
        for tool in &tools {
            self.link_tool(tool, call_item.as_deref(), &outputs, inference.as_deref());
        }
        for tool in &tools {
            self.wait_changed(tool, None);
        }
        if let Some(cell) = cell {
            self.link_code_cell(&cell, call_item, &outputs);
        }
    }

    /// Tool call `tool`'s slot holds `call_item`, `outputs` and the `inference` whose
    /// response carried the call.
    fn link_tool(
        &mut self,
        tool: &str,
        call_item: Option<&str>,
        outputs: &[String],
        inference: Option<&str>,
    ) {
        let Some(t) = self.state.tool_calls.get_mut(tool) else {
            return;
        };
        if let Some(item) = call_item {
            push_unique(&mut t.call_items, item);
        }
        for item in outputs {
            push_unique(&mut t.output_items, item);
            // A wait's output is more output of the cell it waits on.
            if let Some(c) = t
                .waited_cell
                .as_ref()
                .and_then(|c| self.state.code_cells.get_mut(c))
            {
                push_unique(&mut c.output_items, item);
            }
        }
        if let (Requester::Model { inference_call_id }, Some(inference)) =
            (&mut t.requester, inference)
        {
            inference_call_id.get_or_insert_with(|| inference.to_owned());
        }
        let started_by = match &t.requester {
            Requester::Model {
                inference_call_id: Some(id),
            } => Some(id.clone()),
            _ => None,
        };
        if let Some(inference) = started_by {
            self.inference_started_tool(&inference, tool);
        }
        for item in outputs {
            self.item_produced_by(item, &Producer::ToolCall(tool.to_owned()));
        }
    }

    /// Tool calls the model asked for (they carry a call id) that no response item tied to an
    /// inference call — GenAI spans recorded without content, where the call id is on the tool
    /// span but in no payload — are attributed to the inference call that started last before
    /// them in the same turn: an agent runs the tools a response asked for right after it.
    /// The link is marked `requester_inferred`, since no call id proves it.
    fn infer_requesters(&mut self) {
        let mut open: Vec<(u64, String, String)> = self
            .state
            .tool_calls
            .values()
            .filter(|t| {
                t.requester
                    == Requester::Model {
                        inference_call_id: None,
                    }
            })
            .filter_map(|t| {
                let turn = t.turn_id.clone()?;
                Some((t.execution.started_seq, t.tool_call_id.clone(), turn))
            })
            .collect();
        open.sort();
        for (started, tool, turn) in open {
            let Some(turn) = self.state.turns.get(&turn) else {
                continue;
            };
            let before = turn.inference_calls.iter().rev().find(|id| {
                self.state
                    .inference_calls
                    .get(*id)
                    .is_some_and(|c| c.execution.started_seq < started)
            });
            let Some(inference) = before.cloned() else {
                continue;
            };
            if let Some(t) = self.state.tool_calls.get_mut(&tool) {
                t.requester = Requester::Model {
                    inference_call_id: Some(inference.clone()),
                };
                t.requester_inferred = true;
            }
            self.inference_started_tool(&inference, &tool);
        }
    }

    /// Code cell `cell`'s slot holds `call_item` (its source) and `outputs`.
    fn link_code_cell(&mut self, cell: &str, call_item: Option<String>, outputs: &[String]) {
        let Some(c) = self.state.code_cells.get_mut(cell) else {
            return;
        };
        if c.source_item.is_none() {
            c.source_item = call_item;
        }
        let producer = Producer::CodeCell(c.code_cell_id.clone());
        for item in outputs {
            push_unique(&mut c.output_items, item);
        }
        for item in outputs {
            self.item_produced_by(item, &producer);
        }
    }

    /// End of log: the calls whose links are still open. A tool call the model asked for
    /// whose inference no item proved is attributed to the inference that started last before
    /// it in its turn, and marked inferred (see [`Reducer::infer_requesters`]); code cells
    /// whose source item never appeared are said.
    pub(super) fn unresolved_calls_at_end(&mut self) {
        self.infer_requesters();
        let missing: Vec<String> = self
            .state
            .code_cells
            .values()
            .filter(|c| c.call_id.is_some() && c.source_item.is_none())
            .map(|c| c.code_cell_id.clone())
            .collect();
        for cell in missing {
            self.warn_at_end(format!(
                "{cell}: no conversation item carries its call id, so its source item is unknown"
            ));
        }
    }
}
