//! The rollout graph as the exporters see it: one tree of timed nodes (rollout → threads →
//! turns → inference calls, tool calls, code cells, compactions → terminal operations), edge
//! ends resolved to nodes.
//!
//! Invariant: this is the only place that decides an entity's export parent, its start and
//! end in nanoseconds, and which node an edge anchor stands for, so the OTLP and Chrome exports
//! can never disagree on the shape of a rollout. It adds no interpretation of payloads: it
//! reads the graph (`state.json`).

use std::collections::HashMap;

use crate::reduce::{Anchor, EdgeKind, Execution, Producer, Requester, RolloutState, Status};

/// Which entity of the graph a node stands for (its id in the graph's maps).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum NodeKey {
    Rollout,
    Thread(String),
    Turn(String),
    Inference(String),
    Tool(String),
    CodeCell(String),
    TerminalOp(String),
    Compaction(String),
}

impl NodeKey {
    /// The entity kind, as hashed into ids and shown in `rollout.entity`.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            NodeKey::Rollout => "rollout",
            NodeKey::Thread(_) => "thread",
            NodeKey::Turn(_) => "turn",
            NodeKey::Inference(_) => "inference_call",
            NodeKey::Tool(_) => "tool_call",
            NodeKey::CodeCell(_) => "code_cell",
            NodeKey::TerminalOp(_) => "terminal_operation",
            NodeKey::Compaction(_) => "compaction",
        }
    }

    /// The entity id in the graph (empty for the rollout).
    pub(crate) fn id(&self) -> &str {
        match self {
            NodeKey::Rollout => "",
            NodeKey::Thread(id)
            | NodeKey::Turn(id)
            | NodeKey::Inference(id)
            | NodeKey::Tool(id)
            | NodeKey::CodeCell(id)
            | NodeKey::TerminalOp(id)
            | NodeKey::Compaction(id) => id,
        }
    }
}

/// One timed node of the export tree.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub(crate) key: NodeKey,
    /// Index of the parent node (`None` for the rollout).
    pub(crate) parent: Option<usize>,
    /// Owning thread, if any.
    pub(crate) thread_id: Option<String>,
    pub(crate) start_ns: u64,
    pub(crate) end_ns: u64,
    /// The span never ended (its end is the last instant the bundle shows).
    pub(crate) incomplete: bool,
    pub(crate) status: Status,
    pub(crate) error: Option<String>,
    /// The monotonic duration, when the span ended.
    pub(crate) duration_ns: Option<u64>,
}

/// An entity before placement: key, intended parent, owning thread, lifetime.
type Pending<'s> = (NodeKey, Option<NodeKey>, Option<String>, &'s Execution);

/// The export tree of one rollout.
#[derive(Debug)]
pub(crate) struct ExportGraph<'s> {
    pub(crate) state: &'s RolloutState,
    /// Nodes; index 0 is the rollout. Parents come before their children.
    pub(crate) nodes: Vec<Node>,
    index: HashMap<NodeKey, usize>,
    /// Children of each node, in start order.
    pub(crate) children: Vec<Vec<usize>>,
    /// For each conversation item, the first inference call whose request carried it.
    first_consumer: HashMap<&'s str, &'s str>,
}

const NS_PER_MS: u64 = 1_000_000;

impl<'s> ExportGraph<'s> {
    /// Builds the tree of `state`.
    pub(crate) fn new(state: &'s RolloutState) -> ExportGraph<'s> {
        let horizon = horizon_ns(state);
        let mut pending: Vec<Pending<'s>> = Vec::new();
        for thread in state.threads.values() {
            let parent = spawning_tool(state, &thread.thread_id)
                .map(|tool| NodeKey::Tool(tool.to_owned()))
                .or_else(|| {
                    thread
                        .parent_thread_id
                        .as_ref()
                        .filter(|p| state.threads.contains_key(*p))
                        .map(|p| NodeKey::Thread(p.clone()))
                });
            pending.push((
                NodeKey::Thread(thread.thread_id.clone()),
                parent,
                Some(thread.thread_id.clone()),
                &thread.execution,
            ));
        }
        let in_turn = |turn: &Option<String>, thread: &Option<String>| -> Option<NodeKey> {
            turn.as_ref()
                .filter(|t| state.turns.contains_key(*t))
                .map(|t| NodeKey::Turn(t.clone()))
                .or_else(|| in_thread(state, thread))
        };
        for turn in state.turns.values() {
            pending.push((
                NodeKey::Turn(turn.turn_id.clone()),
                in_thread(state, &Some(turn.thread_id.clone())),
                Some(turn.thread_id.clone()),
                &turn.execution,
            ));
        }
        for call in state.inference_calls.values() {
            pending.push((
                NodeKey::Inference(call.inference_call_id.clone()),
                in_turn(&call.turn_id, &call.thread_id),
                call.thread_id.clone(),
                &call.execution,
            ));
        }
        for cell in state.code_cells.values() {
            pending.push((
                NodeKey::CodeCell(cell.code_cell_id.clone()),
                in_turn(&cell.turn_id, &cell.thread_id),
                cell.thread_id.clone(),
                &cell.execution,
            ));
        }
        for tool in state.tool_calls.values() {
            let parent = match &tool.requester {
                Requester::CodeCell { code_cell_id }
                    if state.code_cells.contains_key(code_cell_id) =>
                {
                    Some(NodeKey::CodeCell(code_cell_id.clone()))
                }
                _ => in_turn(&tool.turn_id, &tool.thread_id),
            };
            pending.push((
                NodeKey::Tool(tool.tool_call_id.clone()),
                parent,
                tool.thread_id.clone(),
                &tool.execution,
            ));
        }
        for op in state.terminal_operations.values() {
            let parent = op
                .tool_call_id
                .as_ref()
                .filter(|t| state.tool_calls.contains_key(*t))
                .map(|t| NodeKey::Tool(t.clone()))
                .or_else(|| in_thread(state, &op.thread_id));
            pending.push((
                NodeKey::TerminalOp(op.operation_id.clone()),
                parent,
                op.thread_id.clone(),
                &op.execution,
            ));
        }
        for compaction in state.compactions.values() {
            pending.push((
                NodeKey::Compaction(compaction.compaction_id.clone()),
                in_turn(&compaction.turn_id, &compaction.thread_id),
                compaction.thread_id.clone(),
                &compaction.execution,
            ));
        }

        let rollout_start = state
            .started_at_unix_ms
            .map(|ms| ms * NS_PER_MS)
            .into_iter()
            .chain(pending.iter().map(|p| p.3.started_at_unix_ms * NS_PER_MS))
            .min()
            .unwrap_or(0);
        // The rollout span itself never ended; `complete: false` for other reasons (a torn
        // tail, a child left open) is the span's `rollout.complete` attribute, not an error.
        let rollout_incomplete = matches!(state.status, Status::Running | Status::Incomplete)
            || state.ended_at_unix_ms.is_none();
        let rollout_end = state
            .ended_at_unix_ms
            .map(|ms| ms * NS_PER_MS)
            .unwrap_or(horizon)
            .max(rollout_start);
        let mut nodes = vec![Node {
            key: NodeKey::Rollout,
            parent: None,
            thread_id: None,
            start_ns: rollout_start,
            end_ns: rollout_end,
            incomplete: rollout_incomplete,
            status: state.status,
            error: None,
            duration_ns: None,
        }];

        // Parents before children: order by a depth computed through the parent keys (the
        // graph is a tree; a cycle, which the reducer never produces, falls back to the root).
        let parent_of: HashMap<&NodeKey, Option<&NodeKey>> =
            pending.iter().map(|p| (&p.0, p.1.as_ref())).collect();
        let depth = |key: &NodeKey| -> usize {
            let mut d = 0;
            let mut at = key;
            while let Some(Some(parent)) = parent_of.get(at) {
                d += 1;
                at = parent;
                if d > parent_of.len() {
                    break;
                }
            }
            d
        };
        let mut ordered: Vec<(usize, &Pending<'s>)> =
            pending.iter().map(|p| (depth(&p.0), p)).collect();
        ordered.sort_by(|a, b| {
            (a.0, a.1 .3.started_at_unix_ms, a.1 .3.started_seq, &a.1 .0).cmp(&(
                b.0,
                b.1 .3.started_at_unix_ms,
                b.1 .3.started_seq,
                &b.1 .0,
            ))
        });
        let mut index: HashMap<NodeKey, usize> = HashMap::new();
        index.insert(NodeKey::Rollout, 0);
        for (_, (key, parent, thread_id, execution)) in ordered {
            let parent = parent
                .as_ref()
                .and_then(|p| index.get(p).copied())
                .unwrap_or(0);
            let (start_ns, end_ns, ended) = times(execution, horizon);
            index.insert(key.clone(), nodes.len());
            nodes.push(Node {
                key: key.clone(),
                parent: Some(parent),
                thread_id: thread_id.clone(),
                start_ns,
                end_ns,
                incomplete: !ended
                    || matches!(execution.status, Status::Running | Status::Incomplete),
                status: execution.status,
                error: execution.error.clone(),
                duration_ns: execution.duration_ns,
            });
        }
        let mut children = vec![Vec::new(); nodes.len()];
        for (i, node) in nodes.iter().enumerate() {
            if let Some(p) = node.parent {
                children[p].push(i);
            }
        }
        for list in &mut children {
            list.sort_by_key(|&i| (nodes[i].start_ns, i));
        }

        let mut consumers: Vec<_> = state.inference_calls.values().collect();
        consumers.sort_by_key(|c| (c.execution.started_at_unix_ms, c.execution.started_seq));
        let mut first_consumer = HashMap::new();
        for call in consumers {
            for item in &call.request_items {
                first_consumer
                    .entry(item.as_str())
                    .or_insert(call.inference_call_id.as_str());
            }
        }
        ExportGraph {
            state,
            nodes,
            index,
            children,
            first_consumer,
        }
    }

    /// The node of `key`, if the graph has that entity.
    pub(crate) fn node(&self, key: &NodeKey) -> Option<usize> {
        self.index.get(key).copied()
    }

    /// The node an edge's source stands for: the entity, or for an item what produced it.
    pub(crate) fn source_node(&self, anchor: &Anchor) -> Option<usize> {
        match anchor {
            Anchor::ConversationItem(id) => {
                let item = self.state.conversation_items.get(id)?;
                item.produced_by
                    .iter()
                    .find_map(|p| match p {
                        Producer::Inference(i) => self.node(&NodeKey::Inference(i.clone())),
                        Producer::ToolCall(t) => self.node(&NodeKey::Tool(t.clone())),
                        Producer::CodeCell(c) => self.node(&NodeKey::CodeCell(c.clone())),
                        Producer::Compaction(c) => self.node(&NodeKey::Compaction(c.clone())),
                        Producer::Edge(_) => None,
                    })
                    .or_else(|| self.item_home(id))
            }
            other => self.anchor_node(other),
        }
    }

    /// The node an edge's target stands for: the entity, or for an item the first inference
    /// call whose request carried it (where the recipient's model saw it).
    pub(crate) fn target_node(&self, anchor: &Anchor) -> Option<usize> {
        match anchor {
            Anchor::ConversationItem(id) => self
                .first_consumer
                .get(id.as_str())
                .and_then(|call| self.node(&NodeKey::Inference((*call).to_owned())))
                .or_else(|| self.item_home(id)),
            other => self.anchor_node(other),
        }
    }

    /// The turn that introduced an item, else its thread.
    fn item_home(&self, item_id: &str) -> Option<usize> {
        let item = self.state.conversation_items.get(item_id)?;
        item.turn_id
            .as_ref()
            .and_then(|t| self.node(&NodeKey::Turn(t.clone())))
            .or_else(|| self.node(&NodeKey::Thread(item.thread_id.clone())))
    }

    fn anchor_node(&self, anchor: &Anchor) -> Option<usize> {
        match anchor {
            Anchor::ToolCall(id) => self.node(&NodeKey::Tool(id.clone())),
            Anchor::Thread(id) => self.node(&NodeKey::Thread(id.clone())),
            Anchor::Turn(id) => self.node(&NodeKey::Turn(id.clone())),
            Anchor::InferenceCall(id) => self.node(&NodeKey::Inference(id.clone())),
            Anchor::CodeCell(id) => self.node(&NodeKey::CodeCell(id.clone())),
            Anchor::ConversationItem(id) => self.item_home(id),
            // Reducer-minted ids end in the span key (`tool:12`): an unmapped span anchor may
            // still be one of the entities.
            Anchor::Span(key) => [
                NodeKey::Tool(format!("tool:{key}")),
                NodeKey::Inference(format!("inference:{key}")),
                NodeKey::CodeCell(format!("code_cell:{key}")),
                NodeKey::TerminalOp(format!("terminal_op:{key}")),
                NodeKey::Compaction(format!("compaction:{key}")),
            ]
            .iter()
            .find_map(|k| self.node(k)),
        }
    }
}

/// Where an anchor points, as text (`tool_call tool:17`), for attributes and args.
pub(crate) fn anchor_text(anchor: &Anchor) -> String {
    match anchor {
        Anchor::ToolCall(id) => format!("tool_call {id}"),
        Anchor::Thread(id) => format!("thread {id}"),
        Anchor::ConversationItem(id) => format!("conversation_item {id}"),
        Anchor::Turn(id) => format!("turn {id}"),
        Anchor::InferenceCall(id) => format!("inference_call {id}"),
        Anchor::CodeCell(id) => format!("code_cell {id}"),
        Anchor::Span(key) => format!("span {key}"),
    }
}

/// The word of an edge kind, as in `state.json`.
pub(crate) fn edge_word(kind: EdgeKind) -> &'static str {
    match kind {
        EdgeKind::Spawn => "spawn",
        EdgeKind::Message => "message",
        EdgeKind::Task => "task",
        EdgeKind::Result => "result",
        EdgeKind::Close => "close",
        EdgeKind::Link => "link",
    }
}

/// The text an edge delivered: its message, else the recipient item's preview.
pub(crate) fn delivered_text<'a>(
    state: &'a RolloutState,
    edge: &'a crate::reduce::Edge,
) -> Option<&'a str> {
    edge.message.as_deref().or_else(|| match &edge.to {
        Anchor::ConversationItem(id) => state.conversation_items.get(id).map(|i| i.text.as_str()),
        _ => None,
    })
}

/// The tool call that spawned `thread_id`: a tool listing it in `spawned_threads`, else the
/// source of a spawn edge into the thread or one of its items.
fn spawning_tool<'a>(state: &'a RolloutState, thread_id: &str) -> Option<&'a str> {
    if let Some(tool) = state
        .tool_calls
        .values()
        .find(|t| t.spawned_threads.iter().any(|s| s == thread_id))
    {
        return Some(&tool.tool_call_id);
    }
    state.edges.values().find_map(|edge| {
        let into = match &edge.to {
            Anchor::Thread(id) => id == thread_id,
            Anchor::ConversationItem(id) => state
                .conversation_items
                .get(id)
                .is_some_and(|i| i.thread_id == thread_id),
            _ => false,
        };
        match (&edge.kind, &edge.from) {
            (EdgeKind::Spawn, Anchor::ToolCall(tool))
                if into && state.tool_calls.contains_key(tool) =>
            {
                Some(tool.as_str())
            }
            _ => None,
        }
    })
}

fn in_thread(state: &RolloutState, thread: &Option<String>) -> Option<NodeKey> {
    thread
        .as_ref()
        .filter(|t| state.threads.contains_key(*t))
        .map(|t| NodeKey::Thread(t.clone()))
}

/// Start, end (ns since the epoch) and whether the span ended; an unended span ends at the
/// horizon. Both ends are on the wall clock (ms), as the records are: mixing in the
/// monotonic duration would let a span overrun the next one the log shows after it (the two
/// clocks drift), and nesting matters more to a viewer than sub-ms precision.
fn times(execution: &Execution, horizon: u64) -> (u64, u64, bool) {
    let start = execution.started_at_unix_ms * NS_PER_MS;
    match (execution.ended_at_unix_ms, execution.duration_ns) {
        (Some(end), _) => (start, (end * NS_PER_MS).max(start), true),
        (None, Some(d)) => (start, start + d, true),
        (None, None) => (start, horizon.max(start), false),
    }
}

/// The last instant the bundle shows: the latest start or end of anything in it.
fn horizon_ns(state: &RolloutState) -> u64 {
    let executions = state
        .threads
        .values()
        .map(|t| &t.execution)
        .chain(state.turns.values().map(|t| &t.execution))
        .chain(state.inference_calls.values().map(|c| &c.execution))
        .chain(state.tool_calls.values().map(|c| &c.execution))
        .chain(state.code_cells.values().map(|c| &c.execution))
        .chain(state.terminal_operations.values().map(|c| &c.execution))
        .chain(state.compactions.values().map(|c| &c.execution));
    let mut last = state.started_at_unix_ms.unwrap_or(0) * NS_PER_MS;
    for e in executions {
        let (_, end, _) = times(e, 0);
        last = last.max(end).max(e.started_at_unix_ms * NS_PER_MS);
    }
    if let Some(end) = state.ended_at_unix_ms {
        last = last.max(end * NS_PER_MS);
    }
    for edge in state.edges.values() {
        last = last.max(edge.started_at_unix_ms * NS_PER_MS);
    }
    last
}

/// `text` cut to at most `max` bytes on a character boundary, with `…` when cut.
pub(crate) fn preview(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// The display name of a thread: its nickname, else its agent path, else its id.
pub(crate) fn thread_name(state: &RolloutState, thread_id: &str) -> String {
    state
        .threads
        .get(thread_id)
        .and_then(|t| t.nickname.clone().or_else(|| t.agent_path.clone()))
        .unwrap_or_else(|| thread_id.to_owned())
}
