//! The model-visible call id as the join key: call items, output items, tool calls, code
//! cells and the inference whose response carried the call all meet in one [`CallSlot`] per
//! `(thread, call_id)`.
//!
//! Invariant: linking is idempotent and order-free — [`Reducer::link_slot`] derives every
//! link from the slot's current contents, so a tool span that starts before or after the
//! response (or a code cell before its source item) ends up with the same links.

use std::collections::HashMap;

use super::conversation::item_id;
use super::payloads::{is_provider_run, kind_tag, ModelItem};
use super::{
    Execution, ItemKind, Producer, ReduceError, Reducer, Requester, Status, ThreadRef, ToolCall,
};

/// `runtime` of a tool call the provider ran (a hosted tool).
pub(super) const PROVIDER_RUNTIME: &str = "provider";

/// Everything known under one `(thread, call_id)`; the thread's [`super::ThreadReplay`]
/// holds its slots by call id.
#[derive(Debug, Default)]
pub(super) struct CallSlot {
    /// The model's call item (by number), its kind and content hash.
    call_item: Option<(u64, ItemKind, u128)>,
    /// The item carrying the call's output (by number), its kind and content hash.
    output_item: Option<(u64, ItemKind, u128)>,
    /// Tool calls carrying this call id (one, unless the program retried under the same id).
    tools: Vec<String>,
    /// The code cell the call carried.
    code_cell: Option<String>,
    /// The inference whose response carried the call item.
    inference: Option<String>,
}

/// Items joined by `(thread, call_id)`: calls the program runs and their outputs. Hosted
/// items (see [`Reducer::hosted_item`]) carry call ids too but are identified by content.
pub(super) fn is_call_kind(kind: ItemKind) -> bool {
    matches!(
        kind,
        ItemKind::FunctionCall
            | ItemKind::CustomToolCall
            | ItemKind::ComputerCall
            | ItemKind::LocalShellCall
    ) || is_output(kind)
}

fn is_output(kind: ItemKind) -> bool {
    matches!(
        kind,
        ItemKind::FunctionCallOutput
            | ItemKind::CustomToolCallOutput
            | ItemKind::ComputerCallOutput
            | ItemKind::LocalShellCallOutput
    )
}

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

impl Reducer {
    /// A call or output item whose `(thread, call_id)` already has one: the same content
    /// reuses it (adding `producer`), different content contradicts it.
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
        let existing = if is_output(item.kind) {
            &slot.output_item
        } else {
            &slot.call_item
        };
        let Some(&(id, kind, hash)) = existing.as_ref() else {
            return Ok(None);
        };
        if hash != item.content_hash || kind != item.kind {
            return Err(self.contradiction(format!(
                "call id `{call_id}` in thread `{}` is reused with different content ({} differs from {})",
                thread.id,
                if is_output(item.kind) { "this output" } else { "this call" },
                item_id(id)
            )));
        }
        if let Some(producer) = producer {
            if let Some(existing) = self.state.conversation_items.get_mut(&item_id(id)) {
                if !existing.produced_by.contains(producer) {
                    existing.produced_by.push(producer.clone());
                }
            }
            if let (Producer::Inference(inference), false) = (producer, is_output(item.kind)) {
                let slot = slot_mut(&mut self.replays[thread.no].calls, call_id);
                slot.inference.get_or_insert_with(|| inference.clone());
                self.link_slot(thread, call_id);
            }
        }
        Ok(Some(id))
    }

    /// A new call or output item with a call id.
    pub(super) fn call_item_created(
        &mut self,
        thread: ThreadRef<'_>,
        call_id: &str,
        item: &ModelItem,
        id: u64,
        producer: Option<&Producer>,
    ) {
        let slot = slot_mut(&mut self.replays[thread.no].calls, call_id);
        let entry = Some((id, item.kind, item.content_hash));
        if is_output(item.kind) {
            slot.output_item = entry;
        } else {
            slot.call_item = entry;
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
            if item.status.as_deref() == Some("failed") {
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
            let failed_output = slot.output_item.is_some_and(|(out, kind, _)| {
                kind == ItemKind::ServerToolResult
                    && self
                        .state
                        .conversation_items
                        .get(&item_id(out))
                        .is_some_and(|i| i.status.as_deref() == Some("failed"))
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
            if let Some(t) = turn.as_ref().and_then(|t| self.state.turns.get_mut(t)) {
                t.tool_calls.push(tool_id.clone());
            }
            let call = ToolCall {
                tool_call_id: tool_id.clone(),
                thread_id: Some(thread.id.to_owned()),
                turn_id: turn.clone(),
                tool: item.name.clone(),
                kind: Some(kind_tag(item.kind).to_owned()),
                call_id: Some(call_id.to_owned()),
                mcp_server: None,
                target_thread_id: None,
                requester: Requester::Model {
                    inference_call_id: Some(inference.to_owned()),
                },
                runtime: Some(PROVIDER_RUNTIME.to_owned()),
                execution: Execution {
                    status,
                    started_at_unix_ms: self.t,
                    ended_at_unix_ms: Some(self.t),
                    duration_ns: None,
                    started_seq: self.seq,
                    ended_seq: Some(self.seq),
                    error: None,
                },
                call_items: Vec::new(),
                output_items: Vec::new(),
                args_payload: None,
                result_payload: None,
                terminal_operations: Vec::new(),
                spawned_threads: Vec::new(),
                waited_cell: None,
            };
            self.state.tool_calls.insert(tool_id, call);
        }
        self.link_slot(thread, call_id);
    }

    /// A tool call that may be a code-mode wait changed (its kind, name, `cell_id` field or
    /// call item became known): a wait links to the latest cell of its thread with the runtime
    /// cell id it names (`cell_field`, else its call's `cell_id` argument), once.
    pub(super) fn wait_changed(&mut self, tool: &str, cell_field: Option<String>) {
        let Some(t) = self.state.tool_calls.get(tool) else {
            return;
        };
        let is_wait = t.kind.as_deref() == Some("wait") || t.tool.as_deref() == Some("wait");
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
                .get("cell_id")?
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
    pub(super) fn tool_call_id_known(&mut self, tool: &str) -> Result<(), ReduceError> {
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
    pub(super) fn code_cell_call_id_known(&mut self, cell: &str) {
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
        let output_item = slot.output_item.map(|(n, ..)| item_id(n));
        let (tools, cell, inference) = (
            slot.tools.clone(),
            slot.code_cell.clone(),
            slot.inference.clone(),
        );
        for tool in &tools {
            let Some(t) = self.state.tool_calls.get_mut(tool) else {
                continue;
            };
            if let Some(item) = &call_item {
                push_unique(&mut t.call_items, item);
            }
            if let Some(item) = &output_item {
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
                (&mut t.requester, &inference)
            {
                inference_call_id.get_or_insert_with(|| inference.clone());
            }
            let started_by = match &t.requester {
                Requester::Model {
                    inference_call_id: Some(id),
                } => Some(id.clone()),
                _ => None,
            };
            if let Some(call) = started_by.and_then(|id| self.state.inference_calls.get_mut(&id)) {
                push_unique(&mut call.tool_calls, tool);
            }
            if let Some(item) = output_item
                .as_ref()
                .and_then(|id| self.state.conversation_items.get_mut(id))
            {
                let producer = Producer::ToolCall(tool.clone());
                if !item.produced_by.contains(&producer) {
                    item.produced_by.push(producer);
                }
            }
        }
        for tool in &tools {
            self.wait_changed(tool, None);
        }
        if let Some(c) = cell.as_ref().and_then(|c| self.state.code_cells.get_mut(c)) {
            if c.source_item.is_none() {
                c.source_item = call_item.clone();
            }
            if let Some(item) = &output_item {
                push_unique(&mut c.output_items, item);
            }
            if let Some(item) = output_item
                .as_ref()
                .and_then(|id| self.state.conversation_items.get_mut(id))
            {
                let producer = Producer::CodeCell(c.code_cell_id.clone());
                if !item.produced_by.contains(&producer) {
                    item.produced_by.push(producer);
                }
            }
        }
    }

    /// End of log: code cells whose source item never appeared.
    pub(super) fn unresolved_calls_at_end(&mut self) {
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
