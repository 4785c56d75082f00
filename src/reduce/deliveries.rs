//! Delivery matching: what is still unmatched in one recipient thread ([`Deliveries`]), and
//! how a delivered text is found in the item that carries it.
//!
//! Invariant: the first match is the one a scan of the whole conversation would choose. No
//! index keyed by id can answer a substring search, so each recipient thread keeps what is
//! still unmatched: its *open* items (listed, able to receive a delivery, none completed yet),
//! in conversation order, and its pending deliveries, in queue order. A new delivery looks
//! back over the open items only (skipping nothing a scan of the whole conversation could
//! choose), and a new item looks at the pending deliveries. Each comparison checks a length
//! and a byte set first and reads the text only when those allow a match. Items that never
//! receive a delivery (user prompts, ordinary tool outputs) stay open and deliveries that
//! never land stay pending, so the work per delivery, and per new item, is still linear in
//! them: cheap, but not bounded.
//!
//! Delivery truth does not depend on record order: both directions match the *full* text of
//! the item. A new item is matched against pending deliveries with its full text at hand; a
//! look-back matches open items on their full text too, which each thread keeps for its
//! latest [`LOOKBACK_ITEMS`] open items longer than the stored preview, up to
//! [`LOOKBACK_BYTES`] (older ones fall back to the preview, and a delivery that then finds no
//! item says so in its diagnostic). Memory stays bounded per thread, work linear per lookup.
//!
//! Nothing here knows the reducer: `edges.rs` holds a thread's [`Deliveries`] through its
//! replay state and calls these methods.

use std::collections::{BTreeMap, HashMap, VecDeque};

use super::payloads::ModelItem;
use super::state::{item_id, AgentMessage, ConversationItem, ItemKind, PREVIEW_BYTES};
use super::u64_map::U64Set;

/// Open items whose full text (longer than the preview) a thread keeps for look-backs.
pub(super) const LOOKBACK_ITEMS: usize = 64;
/// Bytes of full text a thread keeps for look-backs.
pub(super) const LOOKBACK_BYTES: usize = 4 << 20;

/// What is still unmatched in one recipient thread (kept in its `ThreadReplay`).
#[derive(Debug, Default)]
pub(super) struct Deliveries {
    /// Deliveries waiting for an item, in queue order.
    pending: Vec<Pending>,
    /// The thread's listed items that receive deliveries, in conversation order, less those
    /// seen to have completed one (dropped lazily, when a look-back meets them).
    open: Vec<Open>,
    /// Full texts of the latest open items longer than their preview, by item number, and
    /// their order (oldest first) and total size, bounded by the `LOOKBACK_*` constants.
    full: HashMap<u64, (String, Shape)>,
    full_order: VecDeque<u64>,
    full_bytes: usize,
    /// Open items whose full text was let go: a look-back saw only their preview.
    evicted: u64,
}

#[derive(Debug)]
struct Pending {
    edge_id: String,
    needle: Needle,
}

/// An item that may still complete a delivery.
#[derive(Debug, Clone, Copy)]
struct Open {
    item: u64,
    shape: Shape,
}

/// The bytes occurring in a text, folded to 128 values. A text that contains another contains
/// all of its bytes, so a byte missing from an item rules a match out without reading it.
type ByteSet = u128;

fn byte_set(text: &str) -> ByteSet {
    text.bytes().fold(0, |set, b| set | 1 << (b & 127))
}

/// What matching needs to know of an item before reading its text.
#[derive(Debug, Clone, Copy)]
struct Shape {
    user: bool,
    len: usize,
    bytes: ByteSet,
}

impl Shape {
    fn of(text: &str, role: Option<&str>) -> Shape {
        Shape {
            user: role == Some("user"),
            len: text.len(),
            bytes: byte_set(text),
        }
    }
}

/// What a delivery looks for: its trimmed text, or any user message when it has none.
#[derive(Debug)]
pub(super) struct Needle {
    text: Option<String>,
    bytes: ByteSet,
    /// The sender's and the recipient's agent paths, when known: an `agent_message` item
    /// carries a delivery only from that author to that recipient.
    author: Option<String>,
    recipient: Option<String>,
}

impl Needle {
    pub(super) fn new(
        text: Option<String>,
        author: Option<String>,
        recipient: Option<String>,
    ) -> Needle {
        let text = text.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty());
        let bytes = text.as_deref().map_or(0, byte_set);
        Needle {
            text,
            bytes,
            author,
            recipient,
        }
    }

    /// Whether an item whose text is `text` and whose `agent_message` metadata is `meta` (none
    /// for other items) carries this delivery: other items contain its text; an agent message
    /// is from the delivery's sender to its recipient (as far as both sides name them) and
    /// carries its text exactly, whole or as one line (the ciphertext under an envelope
    /// header).
    fn carried_by(&self, text: &str, meta: Option<&AgentMessage>) -> bool {
        if meta.is_none() {
            return self.found_in(text);
        }
        self.addressed_as(meta)
            && self.text.as_deref().is_none_or(|needle| {
                text.trim() == needle || text.lines().any(|line| line == needle)
            })
    }

    /// Whether an item with this `agent_message` metadata (none for other items) is from the
    /// delivery's sender to its recipient, as far as both sides name them.
    fn addressed_as(&self, meta: Option<&AgentMessage>) -> bool {
        let Some(meta) = meta else {
            return true;
        };
        let same = |want: &Option<String>, got: &Option<String>| match (want, got) {
            (Some(want), Some(got)) => want == got,
            _ => true,
        };
        same(&self.author, &meta.author) && same(&self.recipient, &meta.recipient)
    }

    /// Whether an item of `shape` may carry this delivery: exact when it has no text, else
    /// its length and bytes, which never rule out an item that carries it.
    fn fits(&self, shape: Shape) -> bool {
        match &self.text {
            Some(needle) => needle.len() <= shape.len && self.bytes & !shape.bytes == 0,
            None => shape.user,
        }
    }

    /// Whether an item that [fits](Needle::fits) carries this delivery in `text`.
    fn found_in(&self, text: &str) -> bool {
        self.text
            .as_deref()
            .is_none_or(|needle| text.contains(needle))
    }
}

/// Items a delivery can land in: input the recipient model reads (non-assistant messages)
/// and tool outputs (a `wait_agent` output carrying a child's result).
fn receives_deliveries(kind: ItemKind, role: Option<&str>, agent_message: bool) -> bool {
    match kind {
        // The reference agent delivers messages between agents as `agent_message` items,
        // which are assistant-role messages.
        ItemKind::Message => role != Some("assistant") || agent_message,
        ItemKind::FunctionCallOutput | ItemKind::CustomToolCallOutput => true,
        ItemKind::Reasoning
        | ItemKind::FunctionCall
        | ItemKind::CustomToolCall
        | ItemKind::CompactionMarker
        | ItemKind::Other => false,
        // Hosted and computer-use tool items carry what a tool saw, never a delivered text.
        ItemKind::WebSearchCall
        | ItemKind::FileSearchCall
        | ItemKind::CodeInterpreterCall
        | ItemKind::ImageGenerationCall
        | ItemKind::McpCall
        | ItemKind::McpListTools
        | ItemKind::McpApprovalRequest
        | ItemKind::McpApprovalResponse
        | ItemKind::ComputerCall
        | ItemKind::ComputerCallOutput
        | ItemKind::LocalShellCall
        | ItemKind::LocalShellCallOutput
        | ItemKind::ServerToolUse
        | ItemKind::ServerToolResult => false,
    }
}

impl Deliveries {
    /// Item number `n` joined the thread's conversation: open if it can receive a delivery
    /// and has none yet (`delivered`: the items that completed one). Its shape is its stored
    /// preview's, which is what a look-back matches.
    pub(super) fn listed(&mut self, n: u64, item: &ConversationItem, delivered: &U64Set) {
        let role = item.role.as_deref();
        let agent = item.agent_message.is_some();
        if !receives_deliveries(item.kind, role, agent) || delivered.contains(&n) {
            return;
        }
        self.open.push(Open {
            item: n,
            shape: Shape::of(&item.text, role),
        });
    }

    /// Item number `n` was just created from `text`, its full text: kept for look-backs if
    /// its preview is shorter and it is open (see the module comment for the bound).
    fn created(&mut self, n: u64, text: &str, role: Option<&str>) {
        let is_open = self.open.last().is_some_and(|o| o.item == n);
        if !is_open || text.len() <= PREVIEW_BYTES || text.len() > LOOKBACK_BYTES {
            return;
        }
        self.full
            .insert(n, (text.to_owned(), Shape::of(text, role)));
        self.full_order.push_back(n);
        self.full_bytes += text.len();
        while self.full_order.len() > LOOKBACK_ITEMS || self.full_bytes > LOOKBACK_BYTES {
            let Some(old) = self.full_order.pop_front() else {
                break;
            };
            if let Some((text, _)) = self.full.remove(&old) {
                self.full_bytes -= text.len();
                self.evicted += 1;
            }
        }
    }

    /// Lets go of an item's full text (it completed a delivery).
    fn forget(&mut self, n: u64) {
        if let Some((text, _)) = self.full.remove(&n) {
            self.full_bytes -= text.len();
            self.full_order.retain(|&m| m != n);
        }
    }

    /// The first open item that carries `needle` (on its full text while the thread holds
    /// it, else its stored preview), taken out of the open list; items found in `delivered`
    /// on the way are dropped.
    fn take_open(
        &mut self,
        needle: &Needle,
        delivered: &U64Set,
        items: &BTreeMap<String, ConversationItem>,
    ) -> Option<u64> {
        let mut found = None;
        let full = &self.full;
        // Linear in the open items (see the module comment): the length and bytes first, so
        // rejecting one reads only its `Open` (and its full text's shape, when held).
        self.open.retain(|o| {
            if found.is_some() {
                return true;
            }
            let held = full.get(&o.item);
            let shape = held.map_or(o.shape, |(_, shape)| *shape);
            if !needle.fits(shape) {
                return true;
            }
            if delivered.contains(&o.item) {
                return false;
            }
            let meta = items
                .get(&item_id(o.item))
                .and_then(|i| i.agent_message.as_deref());
            let carried = match held {
                Some((text, _)) => needle.carried_by(text, meta),
                None => items
                    .get(&item_id(o.item))
                    .is_some_and(|i| needle.carried_by(&i.text, meta)),
            };
            if carried {
                found = Some(o.item);
            }
            !carried
        });
        if let Some(n) = found {
            self.forget(n);
        }
        found
    }
}

impl Deliveries {
    /// Queues a delivery of edge `edge_id` looking for `needle`, unless an open item already
    /// carries it: that item is returned (taken out of the open list) instead.
    pub(super) fn deliver(
        &mut self,
        edge_id: &str,
        needle: Needle,
        delivered: &U64Set,
        items: &BTreeMap<String, ConversationItem>,
    ) -> Option<u64> {
        let found = self.take_open(&needle, delivered, items);
        if found.is_none() {
            self.pending.push(Pending {
                edge_id: edge_id.to_owned(),
                needle,
            });
        }
        found
    }

    /// Item number `n` was just created from `item`: the first queued delivery whose text it
    /// carries lands in it (its edge id is returned); else, still open, its full text is kept
    /// for later look-backs.
    pub(super) fn new_item(&mut self, n: u64, item: &ModelItem) -> Option<String> {
        let role = item.role.as_deref();
        if !receives_deliveries(item.kind, role, item.agent_message.is_some()) {
            return None;
        }
        // Linear in the thread's pending deliveries; the item's bytes are read once here.
        let shape = Shape::of(&item.text, role);
        let pos = self.pending.iter().position(|p| {
            p.needle.fits(shape)
                && p.needle
                    .carried_by(&item.text, item.agent_message.as_deref())
        });
        match pos {
            Some(pos) => Some(self.pending.remove(pos).edge_id),
            None => {
                self.created(n, &item.text, role);
                None
            }
        }
    }

    /// Takes the deliveries still waiting (at the end of the log), by edge id in queue order.
    pub(super) fn take_waiting(&mut self) -> Vec<String> {
        std::mem::take(&mut self.pending)
            .into_iter()
            .map(|p| p.edge_id)
            .collect()
    }

    /// Open items whose full text was let go: a look-back saw only their preview.
    pub(super) fn evicted(&self) -> u64 {
        self.evicted
    }
}

#[cfg(test)]
#[path = "deliveries_tests.rs"]
mod tests;
