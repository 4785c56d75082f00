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
use std::io::Write as _;
use std::path::Path;

use serde_json::{json, Map, Value};

use super::graph::{
    anchor_text, delivered_text, edge_word, preview, thread_name, ExportGraph, NodeKey,
};
use super::ExportError;
use crate::reduce::{reduce_bundle, DiagnosticLevel, RolloutState, Status};

/// Longest text preview in an event's `args`, in bytes.
const PREVIEW_BYTES: usize = 200;
/// Lane ids of one agent while placing: `(index + 1) * LANES_PER_AGENT + lane`; written out
/// as tids 1, 2, 3, … in that order (agents' lanes together, in start order).
const LANES_PER_AGENT: u64 = 1 << 32;

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
    let path = path.as_ref();
    let io = |source| ExportError::Io {
        action: "write",
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::create(path).map_err(io)?;
    let mut out = std::io::BufWriter::new(file);
    serde_json::to_writer(&mut out, trace).map_err(|e| match e.io_error_kind() {
        Some(kind) => io(std::io::Error::new(kind, e)),
        None => ExportError::Json(e),
    })?;
    out.write_all(b"\n").map_err(io)?;
    out.flush().map_err(io)
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

/// The Chrome trace of a reduced rollout.
pub fn chrome_trace(state: &RolloutState) -> Value {
    let graph = ExportGraph::new(state);
    let origin = graph.nodes[0].start_ns;
    let us = |ns: u64| (ns.saturating_sub(origin)) as f64 / 1000.0;
    let mut events: Vec<Value> = Vec::new();
    let pid = 1;
    events.push(json!({"ph": "M", "name": "process_name", "pid": pid,
        "args": {"name": format!("rollout {}", state.rollout_id)}}));
    events.push(json!({"ph": "M", "name": "process_labels", "pid": pid,
        "args": {"labels": format!("{} · {}", state.status.as_str(),
            if state.complete { "complete" } else { "incomplete" })}}));

    // Tracks: the rollout's own (tid 1), then one group of lanes per thread in start order.
    let mut placer = Placer {
        graph: &graph,
        slices: Vec::new(),
        lanes: HashMap::new(),
        names: Vec::new(),
    };
    let root = &graph.nodes[0];
    placer.names.push((1, "rollout".to_owned()));
    let rollout_slice = placer.push(0, 1, us(root.start_ns), us(root.end_ns));
    placer.place_children(0, rollout_slice, 1, &us);
    let threads: Vec<usize> = (0..graph.nodes.len())
        .filter(|&i| matches!(graph.nodes[i].key, NodeKey::Thread(_)))
        .collect();
    for (n, &i) in threads.iter().enumerate() {
        let base = (n as u64 + 1) * LANES_PER_AGENT;
        let NodeKey::Thread(id) = &graph.nodes[i].key else {
            continue;
        };
        placer.names.push((base, agent_label(state, id)));
        placer.lanes.insert(base, Vec::new());
        let slice = placer.push(
            i,
            base,
            us(graph.nodes[i].start_ns),
            us(graph.nodes[i].end_ns),
        );
        placer.place_children(i, slice, base, &us);
    }

    let mut lanes: Vec<u64> = placer.names.iter().map(|(lane, _)| *lane).collect();
    lanes.sort_unstable();
    let tids: HashMap<u64, u64> = lanes
        .iter()
        .zip(1..)
        .map(|(lane, tid)| (*lane, tid))
        .collect();
    for slice in &mut placer.slices {
        slice.tid = tids.get(&slice.tid).copied().unwrap_or(slice.tid);
    }
    for (lane, name) in &placer.names {
        let tid = tids[lane];
        events.push(
            json!({"ph": "M", "name": "thread_name", "pid": pid, "tid": tid,
            "args": {"name": name}}),
        );
        events.push(
            json!({"ph": "M", "name": "thread_sort_index", "pid": pid, "tid": tid,
            "args": {"sort_index": tid}}),
        );
    }
    let mut slice_of: HashMap<usize, usize> = HashMap::new();
    for (s, slice) in placer.slices.iter().enumerate() {
        slice_of.insert(slice.node, s);
        let node = &graph.nodes[slice.node];
        events.push(json!({
            "ph": "X", "pid": pid, "tid": slice.tid,
            "ts": slice.start, "dur": (slice.end - slice.start).max(0.0),
            "name": slice_name(&graph, slice.node),
            "cat": node.key.kind(),
            "args": slice_args(&graph, slice.node),
        }));
    }

    // Flow arrows, one per edge, source slice → target slice.
    for (n, edge) in state.edges.values().enumerate() {
        // An end the graph cannot place (a span it never mapped) is drawn from or to the
        // rollout's own slice, so every edge keeps its arrow.
        let from = graph.source_node(&edge.from).unwrap_or(0);
        let to = graph.target_node(&edge.to).unwrap_or(0);
        let (Some(&from), Some(&to)) = (slice_of.get(&from), slice_of.get(&to)) else {
            continue;
        };
        let kind = edge_word(edge.kind);
        let mut args = Map::new();
        args.insert("edge_id".into(), json!(edge.edge_id));
        args.insert("from".into(), json!(anchor_text(&edge.from)));
        args.insert("to".into(), json!(anchor_text(&edge.to)));
        args.insert("delivered".into(), json!(edge.delivered));
        if let Some(text) = delivered_text(state, edge) {
            args.insert("message".into(), json!(preview(text, PREVIEW_BYTES)));
        }
        let name = if edge.delivered {
            kind.to_owned()
        } else {
            format!("{kind} (undelivered)")
        };
        let (a, b) = (&placer.slices[from], &placer.slices[to]);
        let at = us(edge.started_at_unix_ms * 1_000_000);
        let out = bind_point(a, at.clamp(a.start, a.end));
        events.push(json!({"ph": "s", "id": n + 1, "name": name, "cat": "edge",
            "pid": pid, "tid": a.tid, "ts": out, "args": Value::Object(args)}));
        events.push(
            json!({"ph": "f", "bp": "e", "id": n + 1, "name": name, "cat": "edge",
            "pid": pid, "tid": b.tid, "ts": bind_point(b, out)}),
        );
    }

    // Input tokens per agent as a counter, one sample per inference call.
    let mut calls: Vec<_> = state.inference_calls.values().collect();
    calls.sort_by_key(|c| (c.execution.started_at_unix_ms, c.execution.started_seq));
    for call in calls {
        let (Some(thread), Some(usage)) = (&call.thread_id, &call.usage) else {
            continue;
        };
        events.push(json!({"ph": "C", "pid": pid, "name": format!("context tokens · {}", thread_name(state, thread)),
            "ts": us(call.execution.started_at_unix_ms * 1_000_000),
            "args": {"input": usage.input_tokens, "cached": usage.cached_input_tokens}}));
    }
    for d in &state.diagnostics {
        events.push(json!({"ph": "i", "s": "p", "pid": pid, "tid": 1,
            "ts": us(root.end_ns), "name": "diagnostic", "cat": "diagnostic",
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
            "started_at_unix_ms": origin / 1_000_000,
            "exporter": concat!("tracing-rollout ", env!("CARGO_PKG_VERSION")),
        },
    })
}

struct Placer<'g, 's> {
    graph: &'g ExportGraph<'s>,
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
    fn place_children(&mut self, node: usize, slice: usize, base: u64, us: &dyn Fn(u64) -> f64) {
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
            let start = us(n.start_ns).clamp(p_start, p_end);
            let end = us(n.end_ns).clamp(start, p_end);
            let (tid, placed) = if start >= sibling_end {
                sibling_end = end;
                self.slices[slice].inner.push((start, end));
                (p_tid, self.push(child, p_tid, start, end))
            } else {
                let tid = self.free_lane(base, start, end);
                (tid, self.push(child, tid, start, end))
            };
            self.place_children(child, placed, base, us);
            let _ = tid;
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

fn slice_name(graph: &ExportGraph<'_>, i: usize) -> String {
    let state = graph.state;
    match &graph.nodes[i].key {
        NodeKey::Rollout => format!("rollout {}", state.rollout_id),
        NodeKey::Thread(id) => format!("agent {}", thread_name(state, id)),
        NodeKey::Turn(id) => format!("turn {id}"),
        NodeKey::Inference(id) => {
            format!(
                "chat {}",
                state.inference_calls[id]
                    .model
                    .as_deref()
                    .unwrap_or("unknown")
            )
        }
        NodeKey::Tool(id) => {
            format!(
                "tool {}",
                state.tool_calls[id].tool.as_deref().unwrap_or("unknown")
            )
        }
        NodeKey::CodeCell(id) => format!(
            "code cell {}",
            state.code_cells[id].cell_id.as_deref().unwrap_or(id)
        ),
        NodeKey::TerminalOp(id) => format!(
            "terminal {}",
            state.terminal_operations[id]
                .op
                .as_deref()
                .unwrap_or("operation")
        ),
        NodeKey::Compaction(id) => format!("compaction {id}"),
    }
}

fn slice_args(graph: &ExportGraph<'_>, i: usize) -> Value {
    let state = graph.state;
    let node = &graph.nodes[i];
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
    let item_text = |id: &String| {
        state
            .conversation_items
            .get(id)
            .map(|item| preview(&item.text, PREVIEW_BYTES))
    };
    match &node.key {
        NodeKey::Rollout => {
            a.insert("rollout_id".into(), json!(state.rollout_id));
            a.insert("trace_id".into(), json!(state.trace_id));
            a.insert("complete".into(), json!(state.complete));
        }
        NodeKey::Thread(id) => {
            let t = &state.threads[id];
            a.insert("agent_path".into(), json!(t.agent_path));
            a.insert("role".into(), json!(t.role));
            a.insert("model".into(), json!(t.model));
            a.insert("parent_thread_id".into(), json!(t.parent_thread_id));
            a.insert("turns".into(), json!(t.turns.len()));
        }
        NodeKey::Turn(id) => {
            let t = &state.turns[id];
            a.insert("thread_id".into(), json!(t.thread_id));
            a.insert("inference_calls".into(), json!(t.inference_calls.len()));
            a.insert("tool_calls".into(), json!(t.tool_calls.len()));
        }
        NodeKey::Inference(id) => {
            let c = &state.inference_calls[id];
            a.insert("model".into(), json!(c.model));
            a.insert("provider".into(), json!(c.provider));
            a.insert("response_id".into(), json!(c.response_id));
            if let Some(u) = &c.usage {
                a.insert("input_tokens".into(), json!(u.input_tokens));
                a.insert("cached_input_tokens".into(), json!(u.cached_input_tokens));
                a.insert("output_tokens".into(), json!(u.output_tokens));
                a.insert("reasoning_tokens".into(), json!(u.reasoning_tokens));
            }
            a.insert("request_items".into(), json!(c.request_items.len()));
            if let Some(last) = c.request_items.last().and_then(item_text) {
                a.insert("last_input".into(), json!(last));
            }
            let out: Vec<String> = c.response_items.iter().filter_map(item_text).collect();
            a.insert("output".into(), json!(out));
        }
        NodeKey::Tool(id) => {
            let t = &state.tool_calls[id];
            a.insert("tool".into(), json!(t.tool));
            a.insert("call_id".into(), json!(t.call_id));
            a.insert("kind".into(), json!(t.kind));
            if let Some(args) = t.call_items.first().and_then(item_text) {
                a.insert("arguments".into(), json!(args));
            }
            if let Some(out) = t.output_items.first().and_then(item_text) {
                a.insert("result".into(), json!(out));
            }
            if !t.spawned_threads.is_empty() {
                a.insert("spawned_threads".into(), json!(t.spawned_threads));
            }
        }
        NodeKey::CodeCell(id) => {
            let c = &state.code_cells[id];
            a.insert("cell_id".into(), json!(c.cell_id));
            a.insert("language".into(), json!(c.language));
            if let Some(code) = c.source_item.as_ref().and_then(item_text) {
                a.insert("code".into(), json!(code));
            }
        }
        NodeKey::TerminalOp(id) => {
            let o = &state.terminal_operations[id];
            a.insert("terminal_id".into(), json!(o.terminal_id));
            a.insert("command".into(), json!(o.command));
            a.insert("exit_code".into(), json!(o.exit_code));
        }
        NodeKey::Compaction(id) => {
            let c = &state.compactions[id];
            a.insert("model".into(), json!(c.model));
            a.insert("input_items".into(), json!(c.input_items.len()));
            a.insert("replacement_items".into(), json!(c.replacement_items.len()));
        }
    }
    Value::Object(a)
}
