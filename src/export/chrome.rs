//! A rollout as Chrome Trace Event JSON, the format ui.perfetto.dev and `chrome://tracing`
//! open: one process per rollout, one named track per agent thread, slices for turns,
//! inference calls, tool calls, code cells, terminal operations and compactions, and a flow
//! arrow for every edge.
//!
//! Invariant: slices on one track nest strictly (a viewer mis-draws overlapping slices on one
//! thread), so a slice that overlaps an earlier sibling — parallel tool calls — moves to an
//! extra lane of its agent (`name · lane 2`), and every flow event sits at an instant where
//! the slice it must bind to is the innermost slice of its track.

use std::collections::HashMap;
use std::path::Path;

use serde_json::{json, Map, Value};

use super::graph::{anchor_text, delivered_text, thread_name, Entity, ExportGraph, Node, NodeKey};
use super::{write_json, ExportError};
use crate::reduce::{preview_within, reduce_bundle, DiagnosticLevel, RolloutState, Status};

/// Longest text preview in an event's `args`, in bytes.
const PREVIEW_BYTES: usize = 200;
/// Lane ids of one agent while placing: `(index + 1) * LANES_PER_AGENT + lane`; written out
/// as tids 1, 2, 3, … in that order (agents' lanes together, in start order).
const LANES_PER_AGENT: u64 = 1 << 32;
/// The one process of a trace.
const PID: u64 = 1;

/// Reduces the bundle in `dir` and exports it as a Chrome trace (a JSON object with
/// `traceEvents`).
///
/// # Examples
///
/// ```no_run
/// use tracing_rollout::export::chrome::{export_chrome, write_chrome};
///
/// let trace = export_chrome("traces/demo")?;
/// write_chrome(&trace, "demo.trace.json")?;
/// # Ok::<(), tracing_rollout::export::ExportError>(())
/// ```
pub fn export_chrome(dir: impl AsRef<Path>) -> Result<Value, ExportError> {
    Ok(chrome_trace(&reduce_bundle(dir)?))
}

/// Exports the bundle in `dir` to a Chrome trace file at `path`; returns the number of
/// slices (complete events) written.
pub fn export_chrome_file(
    dir: impl AsRef<Path>,
    path: impl AsRef<Path>,
) -> Result<usize, ExportError> {
    let trace = export_chrome(dir)?;
    write_chrome(&trace, path)?;
    Ok(trace["traceEvents"]
        .as_array()
        .map_or(0, |events| events.iter().filter(|e| e["ph"] == "X").count()))
}

/// Writes a trace made by [`chrome_trace`] to `path`.
pub fn write_chrome(trace: &Value, path: impl AsRef<Path>) -> Result<(), ExportError> {
    write_json(trace, path.as_ref())
}

/// A placed slice: its node, track, and interval in µs from the rollout's start.
#[derive(Debug, Clone)]
struct Slice {
    node: usize,
    tid: u64,
    start: f64,
    end: f64,
    /// Intervals of the slices nested directly inside it on the same track.
    inner: Vec<(f64, f64)>,
}

/// The trace's time axis: microseconds since the rollout's start.
#[derive(Debug, Clone, Copy)]
struct Clock {
    origin_ns: u64,
}

impl Clock {
    fn us(self, ns: u64) -> f64 {
        (ns.saturating_sub(self.origin_ns)) as f64 / 1000.0
    }
}

/// The Chrome trace of a reduced rollout.
pub fn chrome_trace(state: &RolloutState) -> Value {
    let graph = ExportGraph::new(state);
    let root = &graph.nodes[0];
    let clock = Clock {
        origin_ns: root.start_ns,
    };
    let mut events: Vec<Value> = Vec::new();
    events.push(json!({"ph": "M", "name": "process_name", "pid": PID,
        "args": {"name": format!("rollout {}", state.rollout_id)}}));
    events.push(json!({"ph": "M", "name": "process_labels", "pid": PID,
        "args": {"labels": format!("{} · {}", state.status.as_str(),
            if state.complete { "complete" } else { "incomplete" })}}));
    let (slices, tracks) = place_slices(&graph, clock);
    for (tid, name) in &tracks {
        events.push(
            json!({"ph": "M", "name": "thread_name", "pid": PID, "tid": tid,
            "args": {"name": name}}),
        );
        events.push(
            json!({"ph": "M", "name": "thread_sort_index", "pid": PID, "tid": tid,
            "args": {"sort_index": tid}}),
        );
    }
    for slice in &slices {
        let node = &graph.nodes[slice.node];
        events.push(json!({
            "ph": "X", "pid": PID, "tid": slice.tid,
            "ts": slice.start, "dur": (slice.end - slice.start).max(0.0),
            "name": slice_name(&graph, node),
            "cat": node.key.kind(),
            "args": slice_args(&graph, node),
        }));
    }
    push_flows(&graph, &slices, clock, &mut events);
    // Input tokens per agent as a counter, one sample per inference call.
    for call in &graph.calls_by_start {
        let (Some(thread), Some(usage)) = (&call.thread_id, &call.usage) else {
            continue;
        };
        events.push(json!({"ph": "C", "pid": PID, "name": format!("context tokens · {}", thread_name(state, thread)),
            "ts": clock.us(call.execution.started_at_unix_ms * 1_000_000),
            "args": {"input": usage.input_tokens, "cached": usage.cached_input_tokens}}));
    }
    for d in &state.diagnostics {
        events.push(json!({"ph": "i", "s": "p", "pid": PID, "tid": 1,
            "ts": clock.us(root.end_ns), "name": "diagnostic", "cat": "diagnostic",
            "args": {"level": match d.level { DiagnosticLevel::Info => "info", DiagnosticLevel::Warning => "warning" },
                     "message": d.message, "seq": d.seq}}));
    }
    json!({
        "traceEvents": events,
        "displayTimeUnit": "ms",
        "otherData": {
            "rollout_id": state.rollout_id,
            "trace_id": state.trace_id,
            "status": state.status.as_str(),
            "complete": state.complete,
            "started_at_unix_ms": clock.origin_ns / 1_000_000,
            "exporter": concat!("tracing-rollout ", env!("CARGO_PKG_VERSION")),
        },
    })
}

/// Places every node on a track — the rollout's own (tid 1), then one group of lanes per
/// thread in start order — and numbers the tracks 1, 2, 3, …; returns the slices in placing
/// order and each track's tid and name.
fn place_slices(graph: &ExportGraph<'_>, clock: Clock) -> (Vec<Slice>, Vec<(u64, String)>) {
    let mut placer = Placer {
        graph,
        clock,
        slices: Vec::new(),
        lanes: HashMap::new(),
        names: Vec::new(),
    };
    let root = &graph.nodes[0];
    placer.names.push((1, "rollout".to_owned()));
    let rollout_slice = placer.push(0, 1, clock.us(root.start_ns), clock.us(root.end_ns));
    placer.place_children(0, rollout_slice, 1);
    let threads = graph
        .nodes
        .iter()
        .enumerate()
        .filter_map(|(i, n)| match &n.key {
            NodeKey::Thread(id) => Some((i, n, id)),
            _ => None,
        });
    for (n, (i, node, id)) in threads.enumerate() {
        let base = (n as u64 + 1) * LANES_PER_AGENT;
        placer.names.push((base, agent_label(graph.state, id)));
        placer.lanes.insert(base, Vec::new());
        let slice = placer.push(i, base, clock.us(node.start_ns), clock.us(node.end_ns));
        placer.place_children(i, slice, base);
    }

    let mut lanes: Vec<u64> = placer.names.iter().map(|(lane, _)| *lane).collect();
    lanes.sort_unstable();
    let tids: HashMap<u64, u64> = lanes
        .iter()
        .zip(1..)
        .map(|(lane, tid)| (*lane, tid))
        .collect();
    let tid = |lane: u64| tids.get(&lane).copied().unwrap_or(lane);
    let mut slices = placer.slices;
    for slice in &mut slices {
        slice.tid = tid(slice.tid);
    }
    let tracks = placer
        .names
        .into_iter()
        .map(|(lane, name)| (tid(lane), name))
        .collect();
    (slices, tracks)
}

/// Flow arrows, one per edge, source slice → target slice, each bound where its slice is
/// the innermost of its track.
fn push_flows(graph: &ExportGraph<'_>, slices: &[Slice], clock: Clock, events: &mut Vec<Value>) {
    let slice_of: HashMap<usize, usize> = slices
        .iter()
        .enumerate()
        .map(|(s, slice)| (slice.node, s))
        .collect();
    for (n, placed) in graph.edges().enumerate() {
        let edge = placed.edge;
        // An end the graph cannot place (a span it never mapped) is drawn from or to the
        // rollout's own slice, so every edge keeps its arrow.
        let from = placed.from.unwrap_or(0);
        let to = placed.to.unwrap_or(0);
        let (Some(&from), Some(&to)) = (slice_of.get(&from), slice_of.get(&to)) else {
            continue;
        };
        let kind = edge.kind.as_str();
        let mut args = Map::new();
        args.insert("edge_id".into(), json!(edge.edge_id));
        args.insert("from".into(), json!(anchor_text(&edge.from)));
        args.insert("to".into(), json!(anchor_text(&edge.to)));
        args.insert("delivered".into(), json!(edge.delivered));
        if let Some(text) = delivered_text(graph.state, edge) {
            args.insert("message".into(), json!(preview_within(text, PREVIEW_BYTES)));
        }
        let name = if edge.delivered {
            kind.to_owned()
        } else {
            format!("{kind} (undelivered)")
        };
        let (a, b) = (&slices[from], &slices[to]);
        let at = clock.us(edge.started_at_unix_ms * 1_000_000);
        let out = bind_point(a, at.clamp(a.start, a.end));
        events.push(json!({"ph": "s", "id": n + 1, "name": name, "cat": "edge",
            "pid": PID, "tid": a.tid, "ts": out, "args": Value::Object(args)}));
        events.push(
            json!({"ph": "f", "bp": "e", "id": n + 1, "name": name, "cat": "edge",
            "pid": PID, "tid": b.tid, "ts": bind_point(b, out)}),
        );
    }
}

struct Placer<'g, 's> {
    graph: &'g ExportGraph<'s>,
    clock: Clock,
    slices: Vec<Slice>,
    /// Top-level intervals of each extra lane, by the agent's base tid.
    lanes: HashMap<u64, Vec<Vec<(f64, f64)>>>,
    names: Vec<(u64, String)>,
}

impl Placer<'_, '_> {
    fn push(&mut self, node: usize, tid: u64, start: f64, end: f64) -> usize {
        self.slices.push(Slice {
            node,
            tid,
            start,
            end: end.max(start),
            inner: Vec::new(),
        });
        self.slices.len() - 1
    }

    /// Places the children of `node` (slice `slice` on track `tid`, agent group `base`)
    /// inside it, moving a child that overlaps an earlier sibling to an extra lane.
    fn place_children(&mut self, node: usize, slice: usize, base: u64) {
        let children = self.graph.children[node].clone();
        let (p_start, p_end, p_tid) = {
            let p = &self.slices[slice];
            (p.start, p.end, p.tid)
        };
        let mut sibling_end = f64::NEG_INFINITY;
        for child in children {
            let n = &self.graph.nodes[child];
            if matches!(n.key, NodeKey::Thread(_)) {
                continue;
            }
            // Clamp into the parent (the ms wall clock can put a child a hair outside).
            let start = self.clock.us(n.start_ns).clamp(p_start, p_end);
            let end = self.clock.us(n.end_ns).clamp(start, p_end);
            let tid = if start >= sibling_end {
                sibling_end = end;
                self.slices[slice].inner.push((start, end));
                p_tid
            } else {
                self.free_lane(base, start, end)
            };
            let placed = self.push(child, tid, start, end);
            self.place_children(child, placed, base);
        }
    }

    /// The first extra lane of agent `base` free over `[start, end)`, made if none is.
    fn free_lane(&mut self, base: u64, start: f64, end: f64) -> u64 {
        let lanes = self.lanes.entry(base).or_default();
        let free = lanes
            .iter()
            .position(|taken| taken.iter().all(|&(s, e)| end <= s || start >= e));
        let k = match free {
            Some(k) => k,
            None => {
                lanes.push(Vec::new());
                lanes.len() - 1
            }
        };
        lanes[k].push((start, end));
        let tid = base + k as u64 + 1;
        if free.is_none() {
            let label = self
                .names
                .iter()
                .find(|(t, _)| *t == base)
                .map(|(_, n)| n.clone())
                .unwrap_or_default();
            self.names.push((tid, format!("{label} · lane {}", k + 2)));
        }
        tid
    }
}

/// An instant inside `slice` that no slice nested in it covers (so a flow binds to it): the
/// first such instant at or after `after` when there is one, else the last free one.
fn bind_point(slice: &Slice, after: f64) -> f64 {
    let mut inner = slice.inner.clone();
    inner.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut gaps = Vec::new();
    let mut cursor = slice.start;
    for (s, e) in inner {
        if s > cursor {
            gaps.push((cursor, s));
        }
        cursor = cursor.max(e);
    }
    if cursor < slice.end {
        gaps.push((cursor, slice.end));
    }
    if let Some(&(s, e)) = gaps.iter().find(|(_, e)| *e > after) {
        let s = s.max(after);
        return (s + e) / 2.0;
    }
    match gaps.last() {
        Some(&(s, e)) => (s + e) / 2.0,
        None => slice.start,
    }
}

fn agent_label(state: &RolloutState, thread_id: &str) -> String {
    let name = thread_name(state, thread_id);
    match state
        .threads
        .get(thread_id)
        .and_then(|t| t.agent_path.as_deref())
    {
        Some(path) if path != name => format!("{name} {path}"),
        _ => name,
    }
}

fn slice_name(graph: &ExportGraph<'_>, node: &Node<'_>) -> String {
    let state = graph.state;
    let id = node.key.id();
    match node.entity {
        Entity::Rollout => format!("rollout {}", state.rollout_id),
        Entity::Thread(_) => format!("agent {}", thread_name(state, id)),
        Entity::Turn(_) => format!("turn {id}"),
        Entity::Inference(call) => {
            format!("chat {}", call.model.as_deref().unwrap_or("unknown"))
        }
        Entity::Tool(tool) => format!("tool {}", tool.tool.as_deref().unwrap_or("unknown")),
        Entity::CodeCell(cell) => format!("code cell {}", cell.cell_id.as_deref().unwrap_or(id)),
        Entity::TerminalOp(op) => format!("terminal {}", op.op.as_deref().unwrap_or("operation")),
        Entity::Compaction(_) => format!("compaction {id}"),
    }
}

/// A slice's `args`: its id, status, error, duration and thread, then what its entity is.
fn slice_args(graph: &ExportGraph<'_>, node: &Node<'_>) -> Value {
    let mut a = Map::new();
    a.insert("id".into(), json!(node.key.id()));
    a.insert(
        "status".into(),
        json!(if node.incomplete {
            Status::Incomplete.as_str()
        } else {
            node.status.as_str()
        }),
    );
    if let Some(e) = &node.error {
        a.insert("error".into(), json!(e));
    }
    if let Some(d) = node.duration_ns {
        a.insert("duration_ns".into(), json!(d));
    }
    if let Some(t) = &node.thread_id {
        a.insert("thread_id".into(), json!(t));
    }
    entity_args(graph.state, node.entity, &mut a);
    Value::Object(a)
}

/// What a slice's entity is, with previews of the texts it saw and wrote.
fn entity_args(state: &RolloutState, entity: Entity<'_>, a: &mut Map<String, Value>) {
    let item_text = |id: &str| {
        state
            .conversation_items
            .get(id)
            .map(|item| preview_within(&item.text, PREVIEW_BYTES))
    };
    match entity {
        Entity::Rollout => {
            a.insert("rollout_id".into(), json!(state.rollout_id));
            a.insert("trace_id".into(), json!(state.trace_id));
            a.insert("complete".into(), json!(state.complete));
        }
        Entity::Thread(t) => {
            a.insert("agent_path".into(), json!(t.agent_path));
            a.insert("role".into(), json!(t.role));
            a.insert("model".into(), json!(t.model));
            a.insert("parent_thread_id".into(), json!(t.parent_thread_id));
            a.insert("turns".into(), json!(t.turns.len()));
        }
        Entity::Turn(t) => {
            a.insert("thread_id".into(), json!(t.thread_id));
            a.insert("inference_calls".into(), json!(t.inference_calls.len()));
            a.insert("tool_calls".into(), json!(t.tool_calls.len()));
        }
        Entity::Inference(c) => {
            a.insert("model".into(), json!(c.model));
            a.insert("provider".into(), json!(c.provider));
            a.insert("response_id".into(), json!(c.response_id));
            if let Some(u) = &c.usage {
                a.insert("input_tokens".into(), json!(u.input_tokens));
                a.insert("cached_input_tokens".into(), json!(u.cached_input_tokens));
                a.insert("output_tokens".into(), json!(u.output_tokens));
                a.insert("reasoning_tokens".into(), json!(u.reasoning_tokens));
            }
            let request = state.request_items(c);
            a.insert("request_items".into(), json!(request.len()));
            if let Some(last) = request.last().and_then(|id| item_text(id)) {
                a.insert("last_input".into(), json!(last));
            }
            let out: Vec<String> = c
                .response_items
                .iter()
                .filter_map(|id| item_text(id))
                .collect();
            a.insert("output".into(), json!(out));
        }
        Entity::Tool(t) => {
            a.insert("tool".into(), json!(t.tool));
            a.insert("call_id".into(), json!(t.call_id));
            a.insert("kind".into(), json!(t.kind));
            if let Some(args) = t.call_items.first().and_then(|id| item_text(id)) {
                a.insert("arguments".into(), json!(args));
            }
            if let Some(out) = t.output_items.first().and_then(|id| item_text(id)) {
                a.insert("result".into(), json!(out));
            }
            if !t.spawned_threads.is_empty() {
                a.insert("spawned_threads".into(), json!(t.spawned_threads));
            }
        }
        Entity::CodeCell(c) => {
            a.insert("cell_id".into(), json!(c.cell_id));
            a.insert("language".into(), json!(c.language));
            if let Some(code) = c.source_item.as_ref().and_then(|id| item_text(id)) {
                a.insert("code".into(), json!(code));
            }
        }
        Entity::TerminalOp(o) => {
            a.insert("terminal_id".into(), json!(o.terminal_id));
            a.insert("command".into(), json!(o.command));
            a.insert("exit_code".into(), json!(o.exit_code));
        }
        Entity::Compaction(c) => {
            a.insert("model".into(), json!(c.model));
            a.insert("input_items".into(), json!(c.input_items.len()));
            a.insert("replacement_items".into(), json!(c.replacement_items.len()));
        }
    }
}
