//! Edges between threads, tool calls and conversation items: `spawn`, `message`, `task` and
//! `result` deliveries, `close`, and plain `link`s from `Span::follows_from`.
//!
//! Invariant: a delivery edge is an *attempt* until the recipient's model-visible item that
//! carries the delivered text appears; only then does it point at that item with
//! `delivered: true`. Each item completes at most one delivery (first queued, first served),
//! and an edge still waiting at the end of the log points at the recipient thread with
//! `delivered: false` and a diagnostic.
//!
//! Matching is a substring search, which no index keyed by id can answer, so each recipient
//! thread keeps what is still unmatched ([`Deliveries`], in its replay state): its *open*
//! items (listed, able to receive a delivery, none completed yet), in conversation order, and
//! its pending deliveries, in queue order. A new delivery looks back over the open items only
//! (skipping nothing a scan of the whole conversation could choose, so the first match is the
//! same item), and a new item looks at the pending deliveries. Each comparison checks a length
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

use std::collections::{BTreeMap, HashMap, VecDeque};

use serde_json::{Map, Value};

use super::conversation::item_id;
use super::payloads::ModelItem;
use super::{
    field_str, spans, AgentMessage, Anchor, ConversationItem, Edge, EdgeKind, ItemKind, Producer,
    Reducer, ThreadRef, U64Set,
};
use crate::format::SpanKind;

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
struct Needle {
    text: Option<String>,
    bytes: ByteSet,
    /// The sender's and the recipient's agent paths, when known: an `agent_message` item
    /// carries a delivery only from that author to that recipient.
    author: Option<String>,
    recipient: Option<String>,
}

impl Needle {
    fn new(text: Option<String>, author: Option<String>, recipient: Option<String>) -> Needle {
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
    pub(super) fn created(&mut self, n: u64, text: &str, role: Option<&str>) {
        let is_open = self.open.last().is_some_and(|o| o.item == n);
        if !is_open
            || text.len() <= super::conversation::PREVIEW_BYTES
            || text.len() > LOOKBACK_BYTES
        {
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
                .and_then(|i| i.agent_message.as_ref());
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

impl Reducer {
    fn new_edge(
        &mut self,
        id: String,
        kind: EdgeKind,
        from: Anchor,
        to: Anchor,
        message: Option<String>,
    ) {
        let delivered = matches!(kind, EdgeKind::Close | EdgeKind::Link);
        let edge = Edge {
            edge_id: id.clone(),
            kind,
            from,
            to,
            delivered,
            message,
            started_at_unix_ms: self.t,
            payloads: Vec::new(),
        };
        self.state.edges.insert(id, edge);
    }

    /// Sends a delivery edge to `thread`: resolved now if an item there already carries the
    /// text (matched on its full text while the thread holds it, see [`LOOKBACK_ITEMS`]),
    /// else queued until one appears (matched on its full text).
    fn deliver(&mut self, edge_id: &str, thread: &str, text: Option<String>) {
        let path = |state: &super::RolloutState, thread: Option<&str>| {
            state.threads.get(thread?)?.agent_path.clone()
        };
        let sender = self.state.edges.get(edge_id).and_then(|e| match &e.from {
            Anchor::ToolCall(t) => self.state.tool_calls.get(t)?.thread_id.clone(),
            Anchor::ConversationItem(i) => {
                Some(self.state.conversation_items.get(i)?.thread_id.clone())
            }
            Anchor::Thread(t) => Some(t.clone()),
            Anchor::Turn(_) | Anchor::InferenceCall(_) | Anchor::CodeCell(_) | Anchor::Span(_) => {
                None
            }
        });
        let needle = Needle::new(
            text,
            path(&self.state, sender.as_deref()),
            path(&self.state, Some(thread)),
        );
        let thread = self.thread(thread);
        let deliveries = &mut self.replays[thread.no].deliveries;
        let found = deliveries.take_open(
            &needle,
            &self.delivered_items,
            &self.state.conversation_items,
        );
        match found {
            Some(item) => self.resolve(edge_id, item),
            None => deliveries.pending.push(Pending {
                edge_id: edge_id.to_owned(),
                needle,
            }),
        }
    }

    fn resolve(&mut self, edge_id: &str, item: u64) {
        self.delivered_items.insert(item);
        let item = item_id(item);
        if let Some(edge) = self.state.edges.get_mut(edge_id) {
            edge.to = Anchor::ConversationItem(item.clone());
            edge.delivered = true;
        }
        if let Some(i) = self.state.conversation_items.get_mut(&item) {
            i.produced_by.push(Producer::Edge(edge_id.to_owned()));
        }
    }

    /// A new item of `thread`: the first queued delivery whose text it carries lands in it.
    pub(super) fn item_for_delivery(&mut self, thread: ThreadRef<'_>, id: u64, item: &ModelItem) {
        let role = item.role.as_deref();
        if !receives_deliveries(item.kind, role, item.agent_message.is_some()) {
            return;
        }
        let deliveries = &mut self.replays[thread.no].deliveries;
        // Linear in the thread's pending deliveries; the item's bytes are read once here.
        let shape = Shape::of(&item.text, role);
        let pos = deliveries.pending.iter().position(|p| {
            p.needle.fits(shape) && p.needle.carried_by(&item.text, item.agent_message.as_ref())
        });
        match pos {
            Some(pos) => {
                let pending = deliveries.pending.remove(pos);
                self.resolve(&pending.edge_id, id);
            }
            // Still open: keep its full text for later look-backs.
            None => deliveries.created(id, &item.text, role),
        }
    }

    /// A collab tool's kind, target or message became known: create its edge once.
    pub(super) fn collab_tool_changed(&mut self, tool: &str, message: Option<String>) {
        let Some(t) = self.state.tool_calls.get(tool) else {
            return;
        };
        let (kind, target, thread) = (
            t.kind.clone(),
            t.target_thread_id.clone(),
            t.thread_id.clone(),
        );
        let edge_kind = match kind.as_deref() {
            Some("spawn_agent") => EdgeKind::Spawn,
            Some("send_message") => EdgeKind::Message,
            // The reference agent's newer names: `followup_task`, `interrupt_agent`.
            Some("assign_task" | "followup_task") => EdgeKind::Task,
            Some("close_agent" | "interrupt_agent") => EdgeKind::Close,
            _ => return,
        };
        let Some(target) = target else {
            return;
        };
        let edge_id = format!("edge:{}:{tool}", kind.unwrap_or_default());
        if self.state.edges.contains_key(&edge_id) {
            return;
        }
        if edge_kind == EdgeKind::Spawn {
            self.spawned(tool, &target, thread);
        }
        self.new_edge(
            edge_id.clone(),
            edge_kind,
            Anchor::ToolCall(tool.to_owned()),
            Anchor::Thread(target.clone()),
            message.clone(),
        );
        if edge_kind != EdgeKind::Close {
            self.deliver(&edge_id, &target, message);
        }
    }

    /// `tool` spawned `child`: record it on both sides.
    fn spawned(&mut self, tool: &str, child: &str, parent_thread: Option<String>) {
        if let Some(t) = self.state.tool_calls.get_mut(tool) {
            if !t.spawned_threads.iter().any(|c| c == child) {
                t.spawned_threads.push(child.to_owned());
            }
        }
        let Some(parent) = parent_thread else {
            return;
        };
        let mut adopted = false;
        if let Some(c) = self.state.threads.get_mut(child) {
            if c.parent_thread_id.is_none() {
                c.parent_thread_id = Some(parent.clone());
                adopted = true;
            }
        }
        if adopted {
            if let Some(p) = self.state.threads.get_mut(&parent) {
                p.children.push(child.to_owned());
            }
            if self.state.root_thread_id.as_deref() == Some(child) {
                self.state.root_thread_id = Some(parent);
            }
        }
    }

    /// `span` follows from `follows`: a child thread following its spawning tool is a spawn
    /// edge; anything else is a `link` edge.
    pub(super) fn link(&mut self, span: u64, follows: u64) {
        let (Some(a), Some(b)) = (self.spans.get(&span), self.spans.get(&follows)) else {
            return;
        };
        if a.kind == SpanKind::Thread && b.kind == SpanKind::Tool {
            let (child, tool) = (a.id.clone(), b.id.clone());
            let message = field_str(&b.fields, "message");
            let tool_kind = self
                .state
                .tool_calls
                .get(&tool)
                .and_then(|t| t.kind.clone());
            if tool_kind.as_deref() == Some("spawn_agent") {
                // The tool's own fields may already have made the edge.
                if let Some(t) = self.state.tool_calls.get_mut(&tool) {
                    t.target_thread_id.get_or_insert_with(|| child.clone());
                }
                let target = self
                    .state
                    .tool_calls
                    .get(&tool)
                    .and_then(|t| t.target_thread_id.clone());
                if target.as_deref() != Some(child.as_str()) {
                    self.warn(format!(
                        "thread {child} follows from {tool}, whose target is {}",
                        target.unwrap_or_default()
                    ));
                }
                self.collab_tool_changed(&tool, message);
                return;
            }
            let parent = self
                .state
                .tool_calls
                .get(&tool)
                .and_then(|t| t.thread_id.clone());
            self.spawned(&tool, &child, parent);
            let edge_id = format!("edge:spawn:{tool}:{child}");
            self.new_edge(
                edge_id.clone(),
                EdgeKind::Spawn,
                Anchor::ToolCall(tool),
                Anchor::Thread(child.clone()),
                message.clone(),
            );
            self.deliver(&edge_id, &child, message);
            return;
        }
        let from = spans::anchor(b.kind, &b.id, follows);
        let to = spans::anchor(a.kind, &a.id, span);
        self.new_edge(
            format!("edge:link:{}", self.seq),
            EdgeKind::Link,
            from,
            to,
            None,
        );
    }

    /// A `rollout.agent_result` event: the child's result reached its parent.
    pub(super) fn agent_result(&mut self, span: u64, fields: &Map<String, Value>) {
        let Some(entry) = self.spans.get(&span) else {
            return;
        };
        let Some(child) = entry.thread_id.clone() else {
            self.warn("`rollout.agent_result` outside any thread; ignored");
            return;
        };
        let turn = entry.turn_id.clone();
        let parent = field_str(fields, "parent_thread_id").or_else(|| {
            self.state
                .threads
                .get(&child)
                .and_then(|t| t.parent_thread_id.clone())
        });
        let Some(parent) = parent else {
            self.warn(format!(
                "`rollout.agent_result` of thread {child} names no parent thread; ignored"
            ));
            return;
        };
        let message = field_str(fields, "message");
        let source = self
            .replay(&child)
            .and_then(|r| r.conversation.last_assistant.get(&turn))
            .map(|&item| Anchor::ConversationItem(item_id(item)))
            .unwrap_or(Anchor::Thread(child));
        let edge_id = format!("edge:result:{}", self.seq);
        self.new_edge(
            edge_id.clone(),
            EdgeKind::Result,
            source,
            Anchor::Thread(parent.clone()),
            message.clone(),
        );
        self.deliver(&edge_id, &parent, message);
    }

    /// End of log: report what was never delivered, and attach tool payloads to tool edges.
    pub(super) fn edges_at_end(&mut self) {
        self.unresolved_calls_at_end();
        let mut waiting: Vec<(String, String)> = Vec::new();
        for (thread, &no) in &self.thread_numbers {
            let queue = std::mem::take(&mut self.replays[no].deliveries.pending);
            waiting.extend(queue.into_iter().map(|p| (p.edge_id, thread.clone())));
        }
        waiting.sort();
        for (edge, thread) in waiting {
            let known = self.state.threads.contains_key(&thread);
            let evicted = self
                .thread_numbers
                .get(&thread)
                .map_or(0, |&no| self.replays[no].deliveries.evicted);
            self.warn_at_end(format!(
                "{edge} was never delivered: no item of thread {thread}{} carries its text{}",
                if known {
                    ""
                } else {
                    " (a thread absent from this bundle)"
                },
                if evicted > 0 {
                    format!(
                        " ({evicted} older items were compared on their preview only: the \
                         look-back keeps the full text of the latest {LOOKBACK_ITEMS})"
                    )
                } else {
                    String::new()
                }
            ));
        }
        let closes: Vec<(String, String)> = self
            .state
            .edges
            .values()
            .filter_map(|e| match (&e.kind, &e.to) {
                (EdgeKind::Close, Anchor::Thread(t)) => Some((e.edge_id.clone(), t.clone())),
                _ => None,
            })
            .collect();
        for (edge, thread) in closes {
            if !self.state.threads.contains_key(&thread) {
                self.warn_at_end(format!(
                    "{edge} closes thread {thread}, which is absent from this bundle"
                ));
            }
        }
        let tools = &self.state.tool_calls;
        for edge in self.state.edges.values_mut() {
            if let Anchor::ToolCall(tool) = &edge.from {
                if let Some(t) = tools.get(tool) {
                    edge.payloads = t.args_payload.into_iter().chain(t.result_payload).collect();
                }
            }
        }
    }
}
