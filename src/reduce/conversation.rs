//! Conversation reconstruction: model requests, responses and compaction checkpoints become
//! conversation items with stable identities across snapshots.
//!
//! Invariant: an item is reused only when its full canonical content hash is equal — by
//! position in the thread's previous snapshot first, else the first unused equal item of that
//! snapshot; call and call-output items are identified by `(thread, call_id)` instead (one
//! item per key, so one found at its old position needs no lookup), and a call id seen again
//! with different content is a contradiction. Response items join the thread when the
//! response arrives; a compaction's replacement history becomes the baseline of the next full
//! request.

use std::rc::Rc;

use super::error::ReduceError;
use super::payloads::{is_provider_run, ModelItem, ModelRequest, ModelResponse};
use super::reducer::{Reducer, ThreadRef};
use super::state::{
    is_call_kind, item_id, item_number, preview, ConversationItem, ItemKind, Producer,
    PREVIEW_BYTES,
};
use super::u64_map::U64Map;

/// End of a chain of baseline positions in `reconcile_against`.
const NO_POSITION: usize = usize::MAX;

/// A content hash folded to 64 bits, to key a [`U64Map`].
fn fold(hash: u128) -> u64 {
    (hash as u64) ^ ((hash >> 64) as u64)
}

/// The ids of item numbers, for the graph.
fn item_ids(numbers: &[u64]) -> Vec<String> {
    numbers.iter().map(|&n| item_id(n)).collect()
}

/// `item` as the graph stores it: item `n` of `thread`, first seen in `turn` at `seen` (wall
/// clock and seq), produced by `producer` (none for input the model was given).
pub(super) fn stored_item(
    n: u64,
    thread: &str,
    turn: Option<String>,
    item: &ModelItem,
    (t, seq): (u64, u64),
    producer: Option<&Producer>,
) -> ConversationItem {
    ConversationItem {
        item_id: item_id(n),
        thread_id: thread.to_owned(),
        turn_id: turn,
        kind: item.kind,
        role: item.role.clone(),
        call_id: item.call_id.clone(),
        name: item.name.clone(),
        status: item.status.clone(),
        agent_message: item.agent_message.clone(),
        text: preview(&item.text),
        first_seen_at_unix_ms: t,
        first_seen_seq: seq,
        produced_by: producer.cloned().into_iter().collect(),
    }
}

impl Reducer {
    pub(super) fn model_request(
        &mut self,
        inference: &str,
        thread: &str,
        turn: Option<String>,
        request: ModelRequest,
    ) -> Result<(), ReduceError> {
        let thread = self.thread(thread);
        let previous = self.inference_requested(inference, &request);
        let prefix = match previous {
            Some(previous) => {
                let found = self.replays[thread.no]
                    .responses
                    .get(&previous)
                    .and_then(|id| self.state.inference_calls.get(id))
                    .map(|c| {
                        self.state
                            .request_items(c)
                            .into_iter()
                            .chain(c.response_items.iter().map(String::as_str))
                            .filter_map(item_number)
                            .collect::<Vec<_>>()
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
        self.inference_request_items(inference, thread, ids.clone());
        let conversation = &mut self.replays[thread.no].conversation;
        conversation.snapshot = ids;
        conversation.baseline_override = None;
        Ok(())
    }

    pub(super) fn model_response(
        &mut self,
        inference: &str,
        thread: &str,
        turn: Option<String>,
        response: ModelResponse,
    ) -> Result<(), ReduceError> {
        let thread = self.thread(thread);
        self.inference_responded(inference, thread, &response);
        let producer = Producer::Inference(inference.to_owned());
        let mut ids = Vec::with_capacity(response.items.len());
        for item in &response.items {
            let n = self.sight(thread, &turn, item, Some(&producer))?;
            if is_provider_run(item.kind) {
                self.hosted_item(thread, &turn, item, n, Some(inference));
            }
            ids.push(n);
        }
        self.inference_response_items(inference, item_ids(&ids));
        self.replays[thread.no].conversation.snapshot.extend(ids);
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
        let thread = self.thread(thread);
        // The input history is matched against the live snapshot in any order; the snapshot
        // is replaced below.
        let snapshot = std::mem::take(&mut self.replays[thread.no].conversation.snapshot);
        let input_ids = self.reconcile_against(thread, &turn, &input, snapshot, false)?;
        let producer = Producer::Compaction(compaction.to_owned());
        let marker = ModelItem {
            kind: ItemKind::CompactionMarker,
            role: None,
            call_id: None,
            name: None,
            text: format!("compaction {compaction}"),
            content_hash: u128::from(self.next_item) << 64 | 0xC0,
            status: None,
            agent_message: None,
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
        self.compaction_items(
            compaction,
            item_ids(&input_ids),
            item_id(marker_id),
            item_ids(&replacement_ids),
        );
        let conversation = &mut self.replays[thread.no].conversation;
        conversation.snapshot = replacement_ids.clone();
        conversation.baseline_override = Some(replacement_ids);
        Ok(())
    }

    /// A full snapshot: each item reuses the same position of the baseline, else the first
    /// unused equal item of the baseline, else becomes a new item.
    fn reconcile_full(
        &mut self,
        thread: ThreadRef<'_>,
        turn: &Option<String>,
        items: &[Rc<ModelItem>],
    ) -> Result<Vec<u64>, ReduceError> {
        let conversation = &mut self.replays[thread.no].conversation;
        let baseline = conversation
            .baseline_override
            .take()
            .unwrap_or_else(|| std::mem::take(&mut conversation.snapshot));
        self.reconcile_against(thread, turn, items, baseline, true)
    }

    /// Matches `items` against `baseline` (by position first when `positional`), reusing
    /// each baseline item at most once. A call item at its old position is that position's
    /// item: the one item its `(thread, call_id)` ever had.
    fn reconcile_against(
        &mut self,
        thread: ThreadRef<'_>,
        turn: &Option<String>,
        items: &[Rc<ModelItem>],
        baseline: Vec<u64>,
        positional: bool,
    ) -> Result<Vec<u64>, ReduceError> {
        let mut used = vec![false; baseline.len()];
        // Built only when an item is not at its old position (reordering, insertions): the
        // first baseline position of each folded hash, and for each position the next one
        // with its folded hash ([`NO_POSITION`] at the end), all ascending. Folding to 64
        // bits keys a map that does not pay for SipHash; a chain is walked to the first
        // unused position whose whole hash is equal, so folded collisions only lengthen it.
        let mut by_hash: Option<(U64Map<usize>, Vec<usize>)> = None;
        let mut ids = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let hashes = &self.replays[thread.no].conversation.hashes;
            let mut reuse = None;
            if positional
                && i < baseline.len()
                && !used[i]
                && hashes.get(&baseline[i]) == Some(&item.content_hash)
            {
                reuse = Some(i);
            } else if is_call_kind(item.kind) && item.call_id.is_some() {
                ids.push(self.sight(thread, turn, item, None)?);
                continue;
            }
            if reuse.is_none() {
                let (first, next) = by_hash.get_or_insert_with(|| {
                    let mut first = U64Map::default();
                    first.reserve(baseline.len());
                    let mut next = vec![NO_POSITION; baseline.len()];
                    for (pos, n) in baseline.iter().enumerate().rev() {
                        if let Some(&h) = hashes.get(n) {
                            if let Some(later) = first.insert(fold(h), pos) {
                                next[pos] = later;
                            }
                        }
                    }
                    (first, next)
                });
                if let Some(head) = first.get_mut(&fold(item.content_hash)) {
                    // Skip the used positions at the head for good as we go.
                    while *head != NO_POSITION && used[*head] {
                        *head = next[*head];
                    }
                    let mut at = *head;
                    while at != NO_POSITION
                        && (used[at] || hashes.get(&baseline[at]) != Some(&item.content_hash))
                    {
                        at = next[at];
                    }
                    if at != NO_POSITION {
                        reuse = Some(at);
                    }
                }
            }
            match reuse {
                Some(pos) => {
                    used[pos] = true;
                    let id = baseline[pos];
                    self.enrich(id, item);
                    if is_call_kind(item.kind) && item.call_id.is_some() {
                        // Listed where a lookup by call id would list it.
                        self.list_in_thread(thread, &[id]);
                    }
                    ids.push(id);
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
        thread: ThreadRef<'_>,
        turn: &Option<String>,
        items: &[Rc<ModelItem>],
        start: usize,
    ) -> Result<Vec<u64>, ReduceError> {
        let mut ids = Vec::with_capacity(items.len());
        for (j, item) in items.iter().enumerate() {
            let conversation = &self.replays[thread.no].conversation;
            let at = conversation
                .snapshot
                .get(start + j)
                .filter(|n| conversation.hashes.get(n) == Some(&item.content_hash));
            match at {
                Some(&id) => {
                    self.enrich(id, item);
                    ids.push(id);
                }
                None => ids.push(self.sight(thread, turn, item, None)?),
            }
        }
        Ok(ids)
    }

    /// One sighting of an item outside positional matching: call items by call id, anything
    /// else is new. `producer` is added to the item.
    fn sight(
        &mut self,
        thread: ThreadRef<'_>,
        turn: &Option<String>,
        item: &ModelItem,
        producer: Option<&Producer>,
    ) -> Result<u64, ReduceError> {
        if let Some(id) = self.call_item_lookup(thread, item, producer)? {
            self.list_in_thread(thread, &[id]);
            return Ok(id);
        }
        Ok(self.create_item(thread, turn, item, producer))
    }

    /// Creates a new item in `thread` and links it to whatever was waiting for it; returns
    /// its number.
    pub(super) fn create_item(
        &mut self,
        thread: ThreadRef<'_>,
        turn: &Option<String>,
        item: &ModelItem,
        producer: Option<&Producer>,
    ) -> u64 {
        self.next_item += 1;
        let n = self.next_item;
        let seen = (self.t, self.seq);
        let stored = stored_item(n, thread.id, turn.clone(), item, seen, producer);
        self.state
            .conversation_items
            .insert(stored.item_id.clone(), stored);
        let conversation = &mut self.replays[thread.no].conversation;
        conversation.hashes.insert(n, item.content_hash);
        // A message between agents is never a turn's answer (the source of a result edge).
        let is_assistant_message = item.kind == ItemKind::Message
            && item.role.as_deref() == Some("assistant")
            && item.agent_message.is_none();
        if is_assistant_message && matches!(producer, Some(Producer::Inference(_))) {
            conversation.last_assistant.insert(turn.clone(), n);
        }
        self.list_in_thread(thread, &[n]);
        if is_call_kind(item.kind) {
            if let Some(call_id) = item.call_id.as_deref() {
                self.call_item_created(thread, call_id, item, n, producer);
            }
        }
        if item.kind == ItemKind::ServerToolResult {
            self.hosted_item(thread, turn, item, n, None);
        }
        self.item_for_delivery(thread, n, item);
        n
    }

    /// Item `n` seen again as `item`: reasoning is identified by its encrypted content, and
    /// clients often drop the readable summary when they send it back (or a later sighting
    /// carries more), so the item keeps the richest readable text seen.
    fn enrich(&mut self, n: u64, item: &ModelItem) {
        if item.kind != ItemKind::Reasoning || item.text.is_empty() {
            return;
        }
        if let Some(stored) = self.state.conversation_items.get_mut(&item_id(n)) {
            if stored.text.len() < item.text.len().min(PREVIEW_BYTES) {
                stored.text = preview(&item.text);
            }
        }
    }

    /// Appends items the thread has not listed yet to its `conversation`.
    fn list_in_thread(&mut self, thread: ThreadRef<'_>, ids: &[u64]) {
        let listed = &mut self.replays[thread.no].conversation.listed;
        // Mostly items seen before: done without looking the thread up.
        if ids.iter().all(|n| listed.contains(n)) || !self.state.threads.contains_key(thread.id) {
            return;
        }
        let listed = &mut self.replays[thread.no].conversation.listed;
        let new: Vec<u64> = ids.iter().copied().filter(|&n| listed.insert(n)).collect();
        if new.is_empty() {
            return;
        }
        self.listed_for_delivery(thread, &new);
        self.thread_lists(thread.id, item_ids(&new));
    }

    /// Item `id` was (also) produced by `producer`.
    pub(super) fn item_produced_by(&mut self, id: &str, producer: &Producer) {
        if let Some(item) = self.state.conversation_items.get_mut(id) {
            if !item.produced_by.contains(producer) {
                item.produced_by.push(producer.clone());
            }
        }
    }
}
