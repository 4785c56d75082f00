//! The model-visible call id as the join key: call items, output items, tool calls, code
//! cells and the inference whose response carried the call all meet in one [`CallSlot`] per
//! `(thread, call_id)`.
//!
//! Invariant: linking is idempotent and order-free — [`Reducer::link_slot`] derives every
//! link from the slot's current contents, so a tool span that starts before or after the
//! response (or a code cell before its source item) ends up with the same links.

use std::collections::HashMap;

use super::conversation::item_id;
use super::payloads::ModelItem;
use super::{ItemKind, Producer, ReduceError, Reducer, Requester, ThreadRef};

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

fn is_output(kind: ItemKind) -> bool {
    matches!(
        kind,
        ItemKind::FunctionCallOutput | ItemKind::CustomToolCallOutput
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
        let (Some(call_id), true) = (
            item.call_id.as_deref(),
            matches!(
                item.kind,
                ItemKind::FunctionCall
                    | ItemKind::CustomToolCall
                    | ItemKind::FunctionCallOutput
                    | ItemKind::CustomToolCallOutput
            ),
        ) else {
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
