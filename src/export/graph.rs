//! The rollout graph as the exporters see it: one tree of timed nodes (rollout → threads →
//! turns → inference calls, tool calls, code cells, compactions → terminal operations), each
//! with the entity it stands for, and edge ends resolved to nodes.
//!
//! Invariant: this is the only place that walks the graph's entity maps for an export, decides
//! an entity's export parent, its start and end in nanoseconds, and which node an edge anchor
//! stands for, so the OTLP and Chrome exports can never disagree on the shape of a rollout. It
//! adds no interpretation of payloads: it reads the graph (`state.json`).

use std::collections::HashMap;

use crate::reduce::{
    Anchor, CodeCell, Compaction, Edge, EdgeKind, Execution, InferenceCall, Producer, Requester,
    RolloutState, Status, TerminalOperation, Thread, ToolCall, Turn,
};

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

/// The entity a node stands for, as the graph holds it (the rollout itself is the state).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Entity<'s> {
    Rollout,
    Thread(&'s Thread),
    Turn(&'s Turn),
    Inference(&'s InferenceCall),
    Tool(&'s ToolCall),
    CodeCell(&'s CodeCell),
    TerminalOp(&'s TerminalOperation),
    Compaction(&'s Compaction),
}

impl<'s> Entity<'s> {
    /// The node key, owning thread and lifetime of a timed entity (`None` for the rollout,
    /// whose times are the state's own).
    fn timed(self) -> Option<(NodeKey, Option<&'s str>, &'s Execution)> {
        Some(match self {
            Entity::Rollout => return None,
            Entity::Thread(t) => (
                NodeKey::Thread(t.thread_id.clone()),
                Some(&t.thread_id),
                &t.execution,
            ),
            Entity::Turn(t) => (
                NodeKey::Turn(t.turn_id.clone()),
                Some(&t.thread_id),
                &t.execution,
            ),
            Entity::Inference(c) => (
                NodeKey::Inference(c.inference_call_id.clone()),
                c.thread_id.as_deref(),
                &c.execution,
            ),
            Entity::Tool(t) => (
                NodeKey::Tool(t.tool_call_id.clone()),
                t.thread_id.as_deref(),
                &t.execution,
            ),
            Entity::CodeCell(c) => (
                NodeKey::CodeCell(c.code_cell_id.clone()),
                c.thread_id.as_deref(),
                &c.execution,
            ),
            Entity::TerminalOp(o) => (
                NodeKey::TerminalOp(o.operation_id.clone()),
                o.thread_id.as_deref(),
                &o.execution,
            ),
            Entity::Compaction(c) => (
                NodeKey::Compaction(c.compaction_id.clone()),
                c.thread_id.as_deref(),
                &c.execution,
            ),
        })
    }
}

/// One timed node of the export tree.
#[derive(Debug, Clone)]
pub(crate) struct Node<'s> {
    pub(crate) key: NodeKey,
    pub(crate) entity: Entity<'s>,
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

/// One edge with its ends placed on nodes (`None`: an end the graph cannot place, such as a
/// span it never mapped).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PlacedEdge<'s> {
    pub(crate) edge: &'s Edge,
    pub(crate) from: Option<usize>,
    pub(crate) to: Option<usize>,
}

/// A timed entity before placement: what it is, the parent it asks for, its owning thread
/// and its lifetime.
struct Pending<'s> {
    key: NodeKey,
    entity: Entity<'s>,
    parent: Option<NodeKey>,
    thread_id: Option<String>,
    execution: &'s Execution,
}

/// The export tree of one rollout.
#[derive(Debug)]
pub(crate) struct ExportGraph<'s> {
    pub(crate) state: &'s RolloutState,
    /// Nodes; index 0 is the rollout. Parents come before their children.
    pub(crate) nodes: Vec<Node<'s>>,
    index: HashMap<NodeKey, usize>,
    /// Children of each node, in start order.
    pub(crate) children: Vec<Vec<usize>>,
    /// The inference calls in start order (wall clock, then seq).
    pub(crate) calls_by_start: Vec<&'s InferenceCall>,
    /// For each conversation item, the first inference call whose request carried it.
    first_consumer: HashMap<&'s str, &'s str>,
}

const NS_PER_MS: u64 = 1_000_000;

impl<'s> ExportGraph<'s> {
    /// Builds the tree of `state`.
    pub(crate) fn new(state: &'s RolloutState) -> ExportGraph<'s> {
        let pending = entities(state);
        let horizon = horizon_ns(state, &pending);
        let mut nodes = vec![rollout_node(state, &pending, horizon)];
        let index = place(&pending, horizon, &mut nodes);
        let mut children = vec![Vec::new(); nodes.len()];
        for (i, node) in nodes.iter().enumerate() {
            if let Some(p) = node.parent {
                children[p].push(i);
            }
        }
        for list in &mut children {
            list.sort_by_key(|&i| (nodes[i].start_ns, i));
        }

        let mut calls_by_start: Vec<&'s InferenceCall> = state.inference_calls.values().collect();
        calls_by_start.sort_by_key(|c| (c.execution.started_at_unix_ms, c.execution.started_seq));
        let mut first_consumer = HashMap::new();
        for call in &calls_by_start {
            for item in state.request_items(call) {
                first_consumer
                    .entry(item)
                    .or_insert(call.inference_call_id.as_str());
            }
        }
        ExportGraph {
            state,
            nodes,
            index,
            children,
            calls_by_start,
            first_consumer,
        }
    }

    /// The node of `key`, if the graph has that entity.
    pub(crate) fn node(&self, key: &NodeKey) -> Option<usize> {
        self.index.get(key).copied()
    }

    /// Every edge of the graph, in id order, with its ends placed ([`Self::source_node`],
    /// [`Self::target_node`]).
    pub(crate) fn edges(&self) -> impl Iterator<Item = PlacedEdge<'s>> + '_ {
        self.state.edges.values().map(|edge| PlacedEdge {
            edge,
            from: self.source_node(&edge.from),
            to: self.target_node(&edge.to),
        })
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

/// The entity walk: every timed entity of `state` with the parent it asks for — a spawned
/// thread under its spawning tool (else its parent thread), a tool a code cell asked for
/// under that cell, a terminal operation under its tool, the rest under their turn (else
/// their thread). A parent the graph does not have is asked for as the next one up.
fn entities(state: &RolloutState) -> Vec<Pending<'_>> {
    let in_turn = |turn: &Option<String>, thread: &Option<String>| -> Option<NodeKey> {
        turn.as_ref()
            .filter(|t| state.turns.contains_key(*t))
            .map(|t| NodeKey::Turn(t.clone()))
            .or_else(|| in_thread(state, thread))
    };
    let threads = state.threads.values().map(|thread| {
        let parent = spawning_tool(state, &thread.thread_id)
            .map(|tool| NodeKey::Tool(tool.to_owned()))
            .or_else(|| {
                thread
                    .parent_thread_id
                    .as_ref()
                    .filter(|p| state.threads.contains_key(*p))
                    .map(|p| NodeKey::Thread(p.clone()))
            });
        (Entity::Thread(thread), parent)
    });
    let turns = state.turns.values().map(|turn| {
        let parent = in_thread(state, &Some(turn.thread_id.clone()));
        (Entity::Turn(turn), parent)
    });
    let calls = state.inference_calls.values().map(|call| {
        let parent = in_turn(&call.turn_id, &call.thread_id);
        (Entity::Inference(call), parent)
    });
    let cells = state.code_cells.values().map(|cell| {
        let parent = in_turn(&cell.turn_id, &cell.thread_id);
        (Entity::CodeCell(cell), parent)
    });
    let tools = state.tool_calls.values().map(|tool| {
        let parent = match &tool.requester {
            Requester::CodeCell { code_cell_id } if state.code_cells.contains_key(code_cell_id) => {
                Some(NodeKey::CodeCell(code_cell_id.clone()))
            }
            _ => in_turn(&tool.turn_id, &tool.thread_id),
        };
        (Entity::Tool(tool), parent)
    });
    let ops = state.terminal_operations.values().map(|op| {
        let parent = op
            .tool_call_id
            .as_ref()
            .filter(|t| state.tool_calls.contains_key(*t))
            .map(|t| NodeKey::Tool(t.clone()))
            .or_else(|| in_thread(state, &op.thread_id));
        (Entity::TerminalOp(op), parent)
    });
    let compactions = state.compactions.values().map(|c| {
        let parent = in_turn(&c.turn_id, &c.thread_id);
        (Entity::Compaction(c), parent)
    });
    threads
        .chain(turns)
        .chain(calls)
        .chain(cells)
        .chain(tools)
        .chain(ops)
        .chain(compactions)
        .filter_map(|(entity, parent)| {
            let (key, thread_id, execution) = entity.timed()?;
            Some(Pending {
                key,
                entity,
                parent,
                thread_id: thread_id.map(str::to_owned),
                execution,
            })
        })
        .collect()
}

/// The rollout's own node: from its start (or its first entity's) to its end (or the
/// horizon).
fn rollout_node<'s>(state: &'s RolloutState, pending: &[Pending<'s>], horizon: u64) -> Node<'s> {
    let start_ns = state
        .started_at_unix_ms
        .map(|ms| ms * NS_PER_MS)
        .into_iter()
        .chain(
            pending
                .iter()
                .map(|p| p.execution.started_at_unix_ms * NS_PER_MS),
        )
        .min()
        .unwrap_or(0);
    // The rollout span itself never ended; `complete: false` for other reasons (a torn
    // tail, a child left open) is the span's `rollout.complete` attribute, not an error.
    let incomplete = matches!(state.status, Status::Running | Status::Incomplete)
        || state.ended_at_unix_ms.is_none();
    let end_ns = state
        .ended_at_unix_ms
        .map(|ms| ms * NS_PER_MS)
        .unwrap_or(horizon)
        .max(start_ns);
    Node {
        key: NodeKey::Rollout,
        entity: Entity::Rollout,
        parent: None,
        thread_id: None,
        start_ns,
        end_ns,
        incomplete,
        status: state.status,
        error: None,
        duration_ns: None,
    }
}

/// Appends the entities to `nodes` (which holds the rollout), parents before children, and
/// returns the index of every node by key.
fn place<'s>(
    pending: &[Pending<'s>],
    horizon: u64,
    nodes: &mut Vec<Node<'s>>,
) -> HashMap<NodeKey, usize> {
    // Parents before children: order by a depth computed through the parent keys (the
    // graph is a tree; a cycle, which the reducer never produces, falls back to the root).
    let parent_of: HashMap<&NodeKey, Option<&NodeKey>> = pending
        .iter()
        .map(|p| (&p.key, p.parent.as_ref()))
        .collect();
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
        pending.iter().map(|p| (depth(&p.key), p)).collect();
    let order = |(d, p): &(usize, &Pending<'s>)| {
        (*d, p.execution.started_at_unix_ms, p.execution.started_seq)
    };
    ordered.sort_by(|a, b| order(a).cmp(&order(b)).then_with(|| a.1.key.cmp(&b.1.key)));
    let mut index: HashMap<NodeKey, usize> = HashMap::new();
    index.insert(NodeKey::Rollout, 0);
    for (_, p) in ordered {
        let parent = p
            .parent
            .as_ref()
            .and_then(|k| index.get(k).copied())
            .unwrap_or(0);
        let execution = p.execution;
        let (start_ns, end_ns, ended) = times(execution, horizon);
        index.insert(p.key.clone(), nodes.len());
        nodes.push(Node {
            key: p.key.clone(),
            entity: p.entity,
            parent: Some(parent),
            thread_id: p.thread_id.clone(),
            start_ns,
            end_ns,
            incomplete: !ended || matches!(execution.status, Status::Running | Status::Incomplete),
            status: execution.status,
            error: execution.error.clone(),
            duration_ns: execution.duration_ns,
        });
    }
    index
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

/// The text an edge delivered: its message, else the recipient item's preview.
pub(crate) fn delivered_text<'a>(state: &'a RolloutState, edge: &'a Edge) -> Option<&'a str> {
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
fn horizon_ns(state: &RolloutState, pending: &[Pending<'_>]) -> u64 {
    let mut last = state.started_at_unix_ms.unwrap_or(0) * NS_PER_MS;
    for e in pending.iter().map(|p| p.execution) {
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

/// The display name of a thread: its nickname, else its agent path, else its id.
pub(crate) fn thread_name(state: &RolloutState, thread_id: &str) -> String {
    state
        .threads
        .get(thread_id)
        .and_then(|t| t.nickname.clone().or_else(|| t.agent_path.clone()))
        .unwrap_or_else(|| thread_id.to_owned())
}
