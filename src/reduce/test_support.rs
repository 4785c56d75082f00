//! What the reduce core's unit tests share: conversation items made by the payload parser the
//! reducer uses, and a recipient thread that lists them and takes deliveries the way the
//! reducer drives [`Deliveries`].
//!
//! Invariant: test-only (`cfg(test)` in `mod.rs`); items come from `payloads::parse_items`
//! and are stored as the graph stores them (`conversation::stored_item`), so a test feeds the code under
//! test the values a real bundle would.

use std::collections::BTreeMap;
use std::rc::Rc;

use serde_json::Value;

use super::conversation::stored_item;
use super::deliveries::{Deliveries, Needle};
use super::payloads::{parse_items, ModelItem};
use super::state::{item_id, ConversationItem};
use super::u64_map::U64Set;

/// The items a JSON list of messages (any provider's shape) parses to.
pub(super) fn items(list: Value) -> anyhow::Result<Vec<Rc<ModelItem>>> {
    parse_items(&list, None).map_err(|e| anyhow::anyhow!("{e}"))
}

/// One recipient thread: its delivery state, its stored items and the items (by number) that
/// completed a delivery.
#[derive(Debug, Default)]
pub(super) struct Recipient {
    pub(super) deliveries: Deliveries,
    items: BTreeMap<String, ConversationItem>,
    delivered: U64Set,
    next: u64,
}

impl Recipient {
    /// `item` joins the thread as the reducer adds a new item: stored (its preview), listed,
    /// then offered to the waiting deliveries. Returns its number and the edge it completed.
    pub(super) fn arrives(&mut self, item: &ModelItem) -> (u64, Option<String>) {
        self.next += 1;
        let n = self.next;
        let stored = stored_item(n, "recipient", None, item, (0, n), None);
        self.deliveries.listed(n, &stored, &self.delivered);
        self.items.insert(item_id(n), stored);
        let edge = self.deliveries.new_item(n, item);
        if edge.is_some() {
            self.delivered.insert(n);
        }
        (n, edge)
    }

    /// A delivery of `text` (edge `edge_id`, sender and recipient unnamed) reaches the
    /// thread: the number of the item that already carries it, if any (else it waits).
    pub(super) fn delivers(&mut self, edge_id: &str, text: &str) -> Option<u64> {
        let needle = Needle::new(Some(text.to_owned()), None, None);
        let found = self
            .deliveries
            .deliver(edge_id, needle, &self.delivered, &self.items);
        if let Some(n) = found {
            self.delivered.insert(n);
        }
        found
    }
}
