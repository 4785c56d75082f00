//! Conversation reconstruction: model requests, responses and compaction checkpoints become
//! conversation items with stable identities across snapshots.
//!
//! Invariant: an item is reused only when its full canonical content hash is equal — by
//! position in the thread's previous snapshot first, else the first unused equal item of that
//! snapshot; call and call-output items are identified by `(thread, call_id)` instead, and a
//! call id seen again with different content is a contradiction. Response items join the
//! thread when the response arrives; a compaction's replacement history becomes the baseline
//! of the next full request.

use std::collections::HashMap;
use std::rc::Rc;

use super::providers::{ModelItem, ModelRequest, ModelResponse};
use super::{
    get_or_default, ConversationItem, ItemKind, Producer, ReduceError, Reducer, U64Map, U64Set,
};

/// End of a chain of baseline positions in `reconcile_against`.
const NO_POSITION: usize = usize::MAX;

/// Longest `text` preview kept in `state.json`, in bytes.
const PREVIEW_BYTES: usize = 2000;

/// Replay state of one thread's conversation.
#[derive(Debug, Default)]
pub(super) struct ThreadConversation {
    /// The model-visible history after the last request (extended by its response).
    snapshot: Vec<String>,
    /// After a compaction: the replacement history, baseline of the next full request.
    baseline_override: Option<Vec<String>>,
    /// Content hash of every item of the thread, by item number (see [`item_number`]).
    hashes: U64Map<u128>,
    /// Numbers of the items already listed in the thread's `conversation`.
    listed: U64Set,
    /// The latest assistant message produced in each turn (source of result edges).
    pub(super) last_assistant: HashMap<Option<String>, String>,
}

/// The `N` of an item id `item:N`: every id is made so by [`Reducer::create_item`], and the
/// thread's sets hold numbers, so no id string is copied into them or hashed.
fn item_number(id: &str) -> Option<u64> {
    id.strip_prefix("item:")?.parse().ok()
}

fn is_call_kind(kind: ItemKind) -> bool {
    matches!(
        kind,
        ItemKind::FunctionCall
            | ItemKind::CustomToolCall
            | ItemKind::FunctionCallOutput
            | ItemKind::CustomToolCallOutput
    )
}

fn preview(text: &str) -> String {
    if text.len() <= PREVIEW_BYTES {
        return text.to_owned();
    }
    let mut end = PREVIEW_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

impl Reducer {
    pub(super) fn model_request(
        &mut self,
        inference: &str,
        thread: &str,
        turn: Option<String>,
        request: ModelRequest,
    ) -> Result<(), ReduceError> {
        let previous = match self.state.inference_calls.get_mut(inference) {
            Some(call) => {
                call.payload_format = Some(request.format.as_str().to_owned());
                if call.previous_response_id.is_none() {
                    call.previous_response_id = request.previous_response_id.clone();
                }
                call.previous_response_id.clone()
            }
            None => None,
        };
        let prefix = match previous {
            Some(previous) => {
                let found = self
                    .responses
                    .get(&(thread.to_owned(), previous.clone()))
                    .and_then(|id| self.state.inference_calls.get(id))
                    .map(|c| {
                        let mut prefix = c.request_items.clone();
                        prefix.extend(c.response_items.iter().cloned());
                        prefix
                    });
                if found.is_none() {
                    self.warn(format!(
                        "{inference} continues response `{previous}`, which this thread never produced; the omitted prefix is unknown"
                    ));
                }
                found
            }
            None => None,
        };
        let ids = match prefix {
            Some(mut prefix) => {
                let delta = self.reconcile_append(thread, &turn, &request.items, prefix.len())?;
                prefix.extend(delta);
                prefix
            }
            None => self.reconcile_full(thread, &turn, &request.items)?,
        };
        let conversation = get_or_default(&mut self.conversations, thread);
        conversation.snapshot = ids.clone();
        conversation.baseline_override = None;
        if let Some(call) = self.state.inference_calls.get_mut(inference) {
            call.request_items = ids;
        }
        Ok(())
    }

    pub(super) fn model_response(
        &mut self,
        inference: &str,
        thread: &str,
        turn: Option<String>,
        response: ModelResponse,
    ) -> Result<(), ReduceError> {
        if let Some(call) = self.state.inference_calls.get_mut(inference) {
            call.payload_format
                .get_or_insert_with(|| response.format.as_str().to_owned());
            call.usage = response.usage.or(call.usage);
            if call.response_id.is_none() {
                if let Some(response_id) = response.response_id.clone() {
                    call.response_id = Some(response_id.clone());
                    self.responses
                        .insert((thread.to_owned(), response_id), inference.to_owned());
                }
            }
        }
        let producer = Producer::Inference(inference.to_owned());
        let mut ids = Vec::with_capacity(response.items.len());
        for item in &response.items {
            ids.push(self.sight(thread, &turn, item, Some(&producer))?);
        }
        get_or_default(&mut self.conversations, thread)
            .snapshot
            .extend(ids.iter().cloned());
        if let Some(call) = self.state.inference_calls.get_mut(inference) {
            call.response_items = ids;
        }
        Ok(())
    }

    pub(super) fn compaction_checkpoint(
        &mut self,
        compaction: &str,
        thread: &str,
        turn: Option<String>,
        input: Vec<Rc<ModelItem>>,
        replacement: Vec<Rc<ModelItem>>,
    ) -> Result<(), ReduceError> {
        // The input history is matched against the live snapshot in any order; the snapshot
        // is replaced below, so its ids move into the input's.
        let snapshot = self
            .conversations
            .get_mut(thread)
            .map(|c| std::mem::take(&mut c.snapshot))
            .unwrap_or_default();
        let input_ids = self.reconcile_against(thread, &turn, &input, snapshot, false)?;
        let producer = Producer::Compaction(compaction.to_owned());
        let marker = ModelItem {
            kind: ItemKind::CompactionMarker,
            role: None,
            call_id: None,
            name: None,
            text: format!("compaction {compaction}"),
            content_hash: u128::from(self.next_item) << 64 | 0xC0,
        };
        let marker_id = self.create_item(thread, &turn, &marker, Some(&producer));
        let mut replacement_ids = Vec::with_capacity(replacement.len());
        for item in &replacement {
            // Replacement history is new content even when its text repeats older items.
            let id = match self.call_item_lookup(thread, item, Some(&producer))? {
                Some(id) => id,
                None => self.create_item(thread, &turn, item, Some(&producer)),
            };
            replacement_ids.push(id);
        }
        let conversation = get_or_default(&mut self.conversations, thread);
        conversation.snapshot = replacement_ids.clone();
        conversation.baseline_override = Some(replacement_ids.clone());
        if let Some(c) = self.state.compactions.get_mut(compaction) {
            c.input_items = input_ids;
            c.marker_item = Some(marker_id);
            c.replacement_items = replacement_ids;
        }
        Ok(())
    }

    /// A full snapshot: each item reuses the same position of the baseline, else the first
    /// unused equal item of the baseline, else becomes a new item.
    fn reconcile_full(
        &mut self,
        thread: &str,
        turn: &Option<String>,
        items: &[Rc<ModelItem>],
    ) -> Result<Vec<String>, ReduceError> {
        let baseline = match self.conversations.get_mut(thread) {
            Some(c) => c
                .baseline_override
                .take()
                .unwrap_or_else(|| std::mem::take(&mut c.snapshot)),
            None => Vec::new(),
        };
        self.reconcile_against(thread, turn, items, baseline, true)
    }

    /// Matches `items` against `baseline` (by position first when `positional`), reusing
    /// each baseline item at most once: a reused id moves out of `baseline`.
    fn reconcile_against(
        &mut self,
        thread: &str,
        turn: &Option<String>,
        items: &[Rc<ModelItem>],
        mut baseline: Vec<String>,
        positional: bool,
    ) -> Result<Vec<String>, ReduceError> {
        let mut used = vec![false; baseline.len()];
        // Built only when an item is not at its old position (reordering, insertions): the
        // first baseline position of each hash, and for each position the next one with its
        // hash ([`NO_POSITION`] at the end), all ascending.
        let mut by_hash: Option<(HashMap<u128, usize>, Vec<usize>)> = None;
        let mut ids = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            if is_call_kind(item.kind) && item.call_id.is_some() {
                ids.push(self.sight(thread, turn, item, None)?);
                continue;
            }
            let hashes = self.conversations.get(thread).map(|c| &c.hashes);
            let hash_of = |id: &String| hashes.and_then(|h| h.get(&item_number(id)?)).copied();
            let mut reuse = None;
            if positional
                && i < baseline.len()
                && !used[i]
                && hash_of(&baseline[i]) == Some(item.content_hash)
            {
                reuse = Some(i);
            }
            if reuse.is_none() {
                let (first, next) = by_hash.get_or_insert_with(|| {
                    let mut first = HashMap::new();
                    let mut next = vec![NO_POSITION; baseline.len()];
                    for (pos, id) in baseline.iter().enumerate().rev() {
                        if let Some(h) = hash_of(id) {
                            if let Some(later) = first.insert(h, pos) {
                                next[pos] = later;
                            }
                        }
                    }
                    (first, next)
                });
                if let Some(head) = first.get_mut(&item.content_hash) {
                    // Skip the used positions for good as we go.
                    while *head != NO_POSITION && used[*head] {
                        *head = next[*head];
                    }
                    if *head != NO_POSITION {
                        reuse = Some(*head);
                    }
                }
            }
            match reuse {
                Some(pos) => {
                    used[pos] = true;
                    ids.push(std::mem::take(&mut baseline[pos]));
                }
                None => ids.push(self.create_item(thread, turn, item, None)),
            }
        }
        self.list_in_thread(thread, &ids);
        Ok(ids)
    }

    /// An incremental request's delta, placed after the rebuilt prefix: an item at a position
    /// the thread's snapshot already holds must match it, else it is new.
    fn reconcile_append(
        &mut self,
        thread: &str,
        turn: &Option<String>,
        items: &[Rc<ModelItem>],
        start: usize,
    ) -> Result<Vec<String>, ReduceError> {
        let mut ids = Vec::with_capacity(items.len());
        for (j, item) in items.iter().enumerate() {
            let at = self.conversations.get(thread).and_then(|c| {
                let id = c.snapshot.get(start + j)?;
                (c.hashes.get(&item_number(id)?) == Some(&item.content_hash)).then(|| id.clone())
            });
            match at {
                Some(id) => ids.push(id),
                None => ids.push(self.sight(thread, turn, item, None)?),
            }
        }
        Ok(ids)
    }

    /// One sighting of an item outside positional matching: call items by call id, anything
    /// else is new. `producer` is added to the item.
    fn sight(
        &mut self,
        thread: &str,
        turn: &Option<String>,
        item: &ModelItem,
        producer: Option<&Producer>,
    ) -> Result<String, ReduceError> {
        if let Some(id) = self.call_item_lookup(thread, item, producer)? {
            self.list_in_thread(thread, std::slice::from_ref(&id));
            return Ok(id);
        }
        Ok(self.create_item(thread, turn, item, producer))
    }

    /// Creates a new item in `thread` and links it to whatever was waiting for it.
    pub(super) fn create_item(
        &mut self,
        thread: &str,
        turn: &Option<String>,
        item: &ModelItem,
        producer: Option<&Producer>,
    ) -> String {
        self.next_item += 1;
        let id = format!("item:{}", self.next_item);
        let conversation_item = ConversationItem {
            item_id: id.clone(),
            thread_id: thread.to_owned(),
            turn_id: turn.clone(),
            kind: item.kind,
            role: item.role.clone(),
            call_id: item.call_id.clone(),
            name: item.name.clone(),
            text: preview(&item.text),
            first_seen_at_unix_ms: self.t,
            first_seen_seq: self.seq,
            produced_by: producer.cloned().into_iter().collect(),
        };
        self.state
            .conversation_items
            .insert(id.clone(), conversation_item);
        let conversation = get_or_default(&mut self.conversations, thread);
        conversation
            .hashes
            .insert(self.next_item, item.content_hash);
        let is_assistant_message =
            item.kind == ItemKind::Message && item.role.as_deref() == Some("assistant");
        if is_assistant_message && matches!(producer, Some(Producer::Inference(_))) {
            conversation.last_assistant.insert(turn.clone(), id.clone());
        }
        self.list_in_thread(thread, std::slice::from_ref(&id));
        if is_call_kind(item.kind) {
            if let Some(call_id) = item.call_id.as_deref() {
                self.call_item_created(thread, call_id, item, &id, producer);
            }
        }
        self.item_for_delivery(thread, &id, item);
        id
    }

    /// Appends ids the thread has not listed yet to its `conversation`.
    fn list_in_thread(&mut self, thread: &str, ids: &[String]) {
        let conversation = get_or_default(&mut self.conversations, thread);
        let Some(t) = self.state.threads.get_mut(thread) else {
            return;
        };
        for id in ids {
            if item_number(id).is_some_and(|n| conversation.listed.insert(n)) {
                t.conversation.push(id.clone());
            }
        }
    }
}
