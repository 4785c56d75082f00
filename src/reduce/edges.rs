//! Edges between threads, tool calls and conversation items: `spawn`, `message`, `task` and
//! `result` deliveries, `close`, and plain `link`s from `Span::follows_from`.
//!
//! Invariant: a delivery edge is an *attempt* until the recipient's model-visible item that
//! carries the delivered text appears; only then does it point at that item with
//! `delivered: true`. Each item completes at most one delivery (first queued, first served),
//! and an edge still waiting at the end of the log points at the recipient thread with
//! `delivered: false` and a diagnostic. How the carrying item is found, and what that costs,
//! is `deliveries.rs`'s.

use serde_json::{Map, Value};

use super::deliveries::{Needle, LOOKBACK_ITEMS};
use super::fields::field_str;
use super::payloads::ModelItem;
use super::reducer::{Reducer, ThreadRef};
use super::state::{item_id, Anchor, Edge, EdgeKind, Producer, RolloutState};
use crate::format::SpanKind;
use crate::vocab::{collab, field};

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
        let path = |state: &RolloutState, thread: Option<&str>| {
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
        let found = self.replays[thread.no].deliveries.deliver(
            edge_id,
            needle,
            &self.delivered_items,
            &self.state.conversation_items,
        );
        if let Some(item) = found {
            self.resolve(edge_id, item);
        }
    }

    fn resolve(&mut self, edge_id: &str, item: u64) {
        self.delivered_items.insert(item);
        let item = item_id(item);
        if let Some(edge) = self.state.edges.get_mut(edge_id) {
            edge.to = Anchor::ConversationItem(item.clone());
            edge.delivered = true;
        }
        self.item_produced_by(&item, &Producer::Edge(edge_id.to_owned()));
    }

    /// Items (by number) joined `thread`'s conversation: those that can receive a delivery are
    /// open for look-backs.
    pub(super) fn listed_for_delivery(&mut self, thread: ThreadRef<'_>, items: &[u64]) {
        let deliveries = &mut self.replays[thread.no].deliveries;
        for &n in items {
            if let Some(item) = self.state.conversation_items.get(&item_id(n)) {
                deliveries.listed(n, item, &self.delivered_items);
            }
        }
    }

    /// A new item of `thread`: the first queued delivery whose text it carries lands in it.
    pub(super) fn item_for_delivery(&mut self, thread: ThreadRef<'_>, id: u64, item: &ModelItem) {
        if let Some(edge_id) = self.replays[thread.no].deliveries.new_item(id, item) {
            self.resolve(&edge_id, id);
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
            Some(collab::SPAWN_AGENT) => EdgeKind::Spawn,
            Some(collab::SEND_MESSAGE) => EdgeKind::Message,
            // The reference agent's newer names: `followup_task`, `interrupt_agent`.
            Some(collab::ASSIGN_TASK | collab::FOLLOWUP_TASK) => EdgeKind::Task,
            Some(collab::CLOSE_AGENT | collab::INTERRUPT_AGENT) => EdgeKind::Close,
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
        self.tool_spawned(tool, child);
        if let Some(parent) = parent_thread {
            self.adopt_thread(child, parent);
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
            let message = field_str(&b.fields, field::MESSAGE);
            let tool_kind = self
                .state
                .tool_calls
                .get(&tool)
                .and_then(|t| t.kind.clone());
            if tool_kind.as_deref() == Some(collab::SPAWN_AGENT) {
                // The tool's own fields may already have made the edge.
                let target = self.spawn_target(&tool, &child);
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
        let (from, to) = (b.anchor(follows), a.anchor(span));
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
        let parent = field_str(fields, field::PARENT_THREAD_ID).or_else(|| {
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
        let message = field_str(fields, field::MESSAGE);
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
        let mut waiting: Vec<(String, String)> = Vec::new();
        for (thread, &no) in &self.thread_numbers {
            let queue = self.replays[no].deliveries.take_waiting();
            waiting.extend(queue.into_iter().map(|edge| (edge, thread.clone())));
        }
        waiting.sort();
        for (edge, thread) in waiting {
            let known = self.state.threads.contains_key(&thread);
            let evicted = self
                .thread_numbers
                .get(&thread)
                .map_or(0, |&no| self.replays[no].deliveries.evicted());
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
