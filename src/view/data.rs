//! What a viewer page is given: a small skeleton it parses at once (rollout facts, threads,
//! edges, diagnostics, one row per timed entity) and the full entities in shards it parses only
//! when an inspector or a search needs one.
//!
//! Invariant: an entity's shard is a pure function of its map and its id ([`shard_key`]),
//! computed identically by `assets/model.js`, so the page finds any entity by parsing one
//! shard; numbered ids (`item:123`) fall in shards of consecutive numbers, so a transcript's
//! items share a few shards.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::cost::{CostTotals, Prices};
use crate::reduce::{
    Anchor, Diagnostic, Edge, Execution, InferenceCall, Requester, RolloutState, Status, Thread,
    Usage,
};

/// Entities per numbered shard.
const NUMBERED: u64 = 512;
/// Shards of ids that are not `prefix:number`.
const HASHED: u32 = 64;

/// The shard of `id` in its map: `n<number / 512>` for `word:number` ids (at most 15 digits,
/// exact in JavaScript), else `h<FNV-1a of the UTF-16 code units mod 64>`.
pub(super) fn shard_key(id: &str) -> String {
    if let Some((prefix, number)) = id.split_once(':') {
        let word =
            !prefix.is_empty() && prefix.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
        let digits =
            !number.is_empty() && number.len() <= 15 && number.bytes().all(|b| b.is_ascii_digit());
        if word && digits {
            if let Ok(n) = number.parse::<u64>() {
                return format!("n{}", n / NUMBERED);
            }
        }
    }
    let mut h: u32 = 0x811c_9dc5;
    for unit in id.encode_utf16() {
        h = (h ^ u32::from(unit)).wrapping_mul(0x0100_0193);
    }
    format!("h{}", h % HASHED)
}

/// The skeleton of a page.
#[derive(Debug, Serialize)]
pub(super) struct Skeleton<'a> {
    rollout_id: &'a str,
    trace_id: Option<&'a str>,
    status: Status,
    complete: bool,
    started_at_unix_ms: Option<u64>,
    ended_at_unix_ms: Option<u64>,
    root_thread_id: Option<&'a str>,
    counts: Counts,
    diagnostics: &'a [Diagnostic],
    /// Per diagnostic, the viewer id of the entity whose record it concerns.
    diagnostic_at: Vec<Option<String>>,
    threads: BTreeMap<&'a str, ThreadLite<'a>>,
    edges: &'a BTreeMap<String, Edge>,
    /// Thread and first-seen time of the items edges point at.
    edge_items: BTreeMap<&'a str, (&'a str, u64)>,
    /// Role of the payloads edges and terminal operations carry (by seq).
    payload_roles: BTreeMap<u64, &'a str>,
    /// With prices: each inference call's cost and the totals.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) cost: Option<CostView<'a>>,
    /// One row per timed entity: kind, viewer id, thread, start and end (wall clock, ms: one
    /// clock for both ends, so rows never overlap by clock skew), status,
    /// label, extra (`cell` for a tool a code cell asked for; an inference call's previous
    /// request in its thread), then the seqs of its start and end records (what happened
    /// before what, exactly, even within one millisecond), its start in ns since the bundle
    /// started and its duration in ns (where the graph has them).
    timeline: Vec<Row<'a>>,
}

type Row<'a> = (
    &'static str,
    String,
    Option<&'a str>,
    u64,
    Option<u64>,
    Status,
    Option<&'a str>,
    Option<&'a str>,
    u64,
    Option<u64>,
    Option<u64>,
    Option<u64>,
);

/// What a page shows of cost: the currency, the totals, and each inference call's cost (`null`
/// when unpriced, with why).
#[derive(Debug, Serialize)]
pub(super) struct CostView<'a> {
    currency: &'a str,
    as_of: Option<&'a str>,
    totals: CostTotals,
    calls: BTreeMap<&'a str, Result<f64, String>>,
}

/// The cost view of `state` under `prices`.
pub(super) fn cost_view<'a>(state: &'a RolloutState, prices: &'a Prices) -> CostView<'a> {
    let mut totals = CostTotals::default();
    let mut calls = BTreeMap::new();
    for (id, call) in &state.inference_calls {
        let outcome = prices.call_cost(call);
        totals.add_call(&outcome);
        calls.insert(
            id.as_str(),
            outcome.map(|c| c.total).map_err(|why| why.to_string()),
        );
    }
    CostView {
        currency: &prices.currency,
        as_of: prices.as_of.as_deref(),
        totals,
        calls,
    }
}

/// Totals for the header and the index.
#[derive(Debug, Serialize)]
struct Counts {
    turns: usize,
    inference_calls: usize,
    tool_calls: usize,
    code_cells: usize,
    items: usize,
    usage: Usage,
}

/// A thread without its (long) conversation list.
#[derive(Debug, Serialize)]
struct ThreadLite<'a> {
    thread_id: &'a str,
    agent_path: Option<&'a str>,
    parent_thread_id: Option<&'a str>,
    nickname: Option<&'a str>,
    role: Option<&'a str>,
    model: Option<&'a str>,
    #[serde(flatten)]
    execution: &'a Execution,
    turns: &'a [String],
    conversation_items: usize,
    attachments: u32,
    children: &'a [String],
}

impl<'a> ThreadLite<'a> {
    fn of(t: &'a Thread) -> ThreadLite<'a> {
        ThreadLite {
            thread_id: &t.thread_id,
            agent_path: t.agent_path.as_deref(),
            parent_thread_id: t.parent_thread_id.as_deref(),
            nickname: t.nickname.as_deref(),
            role: t.role.as_deref(),
            model: t.model.as_deref(),
            execution: &t.execution,
            turns: &t.turns,
            conversation_items: t.conversation.len(),
            attachments: t.attachments,
            children: &t.children,
        }
    }
}

/// The skeleton of `state`.
pub(super) fn skeleton(state: &RolloutState) -> Skeleton<'_> {
    let Timeline { rows, mut seqs } = timeline(state);
    for (seq, p) in &state.payloads {
        if let Some(id) = anchor_id(&p.owner) {
            seqs.push((*seq, id));
        }
    }
    seqs.sort();
    Skeleton {
        rollout_id: &state.rollout_id,
        trace_id: state.trace_id.as_deref(),
        status: state.status,
        complete: state.complete,
        started_at_unix_ms: state.started_at_unix_ms,
        ended_at_unix_ms: state.ended_at_unix_ms,
        root_thread_id: state.root_thread_id.as_deref(),
        counts: Counts {
            turns: state.turns.len(),
            inference_calls: state.inference_calls.len(),
            tool_calls: state.tool_calls.len(),
            code_cells: state.code_cells.len(),
            items: state.conversation_items.len(),
            usage: state.total_usage(),
        },
        diagnostics: &state.diagnostics,
        diagnostic_at: diagnostic_at(state, &seqs),
        threads: state
            .threads
            .iter()
            .map(|(k, t)| (k.as_str(), ThreadLite::of(t)))
            .collect(),
        edges: &state.edges,
        edge_items: edge_items(state),
        payload_roles: payload_roles(state),
        cost: None,
        timeline: rows,
    }
}

/// The timeline's rows, and the seqs at which each row's entity started and ended, with its
/// viewer id.
#[derive(Default)]
struct Timeline<'a> {
    rows: Vec<Row<'a>>,
    seqs: Vec<(u64, String)>,
}

impl<'a> Timeline<'a> {
    fn push(
        &mut self,
        kind: &'static str,
        id: String,
        thread: Option<&'a str>,
        e: &Execution,
        label: Option<&'a str>,
        extra: Option<&'a str>,
    ) {
        self.seqs.push((e.started_seq, id.clone()));
        if let Some(end) = e.ended_seq {
            self.seqs.push((end, id.clone()));
        }
        let row = (
            kind,
            id,
            thread,
            e.started_at_unix_ms,
            end_ms(e),
            e.status,
            label,
            extra,
            e.started_seq,
            e.ended_seq,
            e.started_ns,
            e.duration_ns,
        );
        self.rows.push(row);
    }
}

/// One row per timed entity: turns, compactions, inference calls, code cells, tool calls,
/// terminal operations.
fn timeline(state: &RolloutState) -> Timeline<'_> {
    let mut t = Timeline::default();
    for (id, turn) in &state.turns {
        let thread = Some(turn.thread_id.as_str());
        let e = &turn.execution;
        t.push(
            "turn",
            format!("turn/{id}"),
            thread,
            e,
            Some(id.as_str()),
            None,
        );
    }
    for (id, c) in &state.compactions {
        let (thread, e) = (c.thread_id.as_deref(), &c.execution);
        t.push(
            "compaction",
            format!("compaction/{id}"),
            thread,
            e,
            Some("compaction"),
            None,
        );
    }
    let previous = previous_requests(state);
    for (id, c) in &state.inference_calls {
        let (thread, e) = (c.thread_id.as_deref(), &c.execution);
        let before = previous.get(id.as_str()).copied();
        t.push(
            "inference",
            id.clone(),
            thread,
            e,
            c.model.as_deref(),
            before,
        );
    }
    for (id, c) in &state.code_cells {
        let (thread, e) = (c.thread_id.as_deref(), &c.execution);
        t.push("cell", id.clone(), thread, e, c.language.as_deref(), None);
    }
    for (id, c) in &state.tool_calls {
        let (thread, e) = (c.thread_id.as_deref(), &c.execution);
        let by_cell = matches!(c.requester, Requester::CodeCell { .. }).then_some("cell");
        let label = c.tool.as_deref().or(c.kind.as_deref());
        t.push("tool", id.clone(), thread, e, label, by_cell);
    }
    for (id, o) in &state.terminal_operations {
        let (thread, e) = (o.thread_id.as_deref(), &o.execution);
        let label = o.command.as_deref().or(o.op.as_deref());
        t.push("terminal", id.clone(), thread, e, label, None);
    }
    t
}

/// Each inference call's previous request in its thread (by start).
fn previous_requests(state: &RolloutState) -> HashMap<&str, &str> {
    let mut by_thread: HashMap<Option<&str>, Vec<&InferenceCall>> = HashMap::new();
    for call in state.inference_calls.values() {
        by_thread
            .entry(call.thread_id.as_deref())
            .or_default()
            .push(call);
    }
    let mut previous: HashMap<&str, &str> = HashMap::new();
    for calls in by_thread.values_mut() {
        calls.sort_by_key(|c| c.execution.started_seq);
        let mut prev: Option<&str> = None;
        for c in calls.iter() {
            if let Some(p) = prev {
                previous.insert(&c.inference_call_id, p);
            }
            if !state.request_items(c).is_empty() {
                prev = Some(&c.inference_call_id);
            }
        }
    }
    previous
}

/// Per diagnostic, the viewer id of the entity whose record it concerns: the last one
/// `seqs` (sorted) shows at or before the diagnostic's seq.
fn diagnostic_at(state: &RolloutState, seqs: &[(u64, String)]) -> Vec<Option<String>> {
    state
        .diagnostics
        .iter()
        .map(|d| {
            let Some(seq) = d.seq else {
                // An end-of-log finding about an edge names it first.
                let first = d.message.split_whitespace().next()?;
                return state.edges.contains_key(first).then(|| first.to_owned());
            };
            let at = seqs.partition_point(|(s, _)| *s <= seq);
            seqs.get(at.checked_sub(1)?).map(|(_, id)| id.clone())
        })
        .collect()
}

/// Thread and first-seen time of the items edges point at.
fn edge_items(state: &RolloutState) -> BTreeMap<&str, (&str, u64)> {
    let mut edge_items = BTreeMap::new();
    for edge in state.edges.values() {
        for anchor in [&edge.from, &edge.to] {
            if let Anchor::ConversationItem(id) = anchor {
                if let Some(item) = state.conversation_items.get(id) {
                    edge_items.insert(
                        id.as_str(),
                        (item.thread_id.as_str(), item.first_seen_at_unix_ms),
                    );
                }
            }
        }
    }
    edge_items
}

/// Role of the payloads edges and terminal operations carry (by seq).
fn payload_roles(state: &RolloutState) -> BTreeMap<u64, &str> {
    let mut payload_roles = BTreeMap::new();
    let carried = state
        .edges
        .values()
        .flat_map(|e| &e.payloads)
        .chain(state.terminal_operations.values().flat_map(|o| &o.payloads));
    for seq in carried {
        if let Some(p) = state.payloads.get(seq) {
            payload_roles.insert(*seq, p.role.as_str());
        }
    }
    payload_roles
}

/// Where an entity ends on the wall clock: its end, else its start plus its duration.
fn end_ms(e: &Execution) -> Option<u64> {
    e.ended_at_unix_ms
        .or_else(|| Some(e.started_at_unix_ms + e.duration_ns? / 1_000_000))
}

/// The viewer id of an anchor (`None` for a bare span).
fn anchor_id(anchor: &Anchor) -> Option<String> {
    Some(match anchor {
        Anchor::ToolCall(id)
        | Anchor::ConversationItem(id)
        | Anchor::InferenceCall(id)
        | Anchor::CodeCell(id) => id.clone(),
        Anchor::Thread(id) => format!("thread/{id}"),
        Anchor::Turn(id) => format!("turn/{id}"),
        Anchor::Span(_) => return None,
    })
}

/// Every shard of `state`: (map, shard key, JSON object of id → entity), in a stable order.
pub(super) fn shards(state: &RolloutState) -> Vec<(&'static str, String, String)> {
    let mut out = Vec::new();
    group("turns", &state.turns, &mut out);
    group("inference_calls", &state.inference_calls, &mut out);
    group("tool_calls", &state.tool_calls, &mut out);
    group("code_cells", &state.code_cells, &mut out);
    group("terminal_operations", &state.terminal_operations, &mut out);
    group("compactions", &state.compactions, &mut out);
    group("conversation_items", &state.conversation_items, &mut out);
    out
}

/// The shards of one map of the graph, appended to `out` in shard-key order.
fn group<V: Serialize>(
    map: &'static str,
    entities: &BTreeMap<String, V>,
    out: &mut Vec<(&'static str, String, String)>,
) {
    let mut shards: BTreeMap<String, BTreeMap<&str, &V>> = BTreeMap::new();
    for (id, v) in entities {
        shards.entry(shard_key(id)).or_default().insert(id, v);
    }
    for (key, entries) in shards {
        let json = serde_json::to_string(&entries).unwrap_or_else(|_| "{}".to_owned());
        out.push((map, key, json));
    }
}

#[cfg(test)]
mod tests {
    use super::shard_key;

    #[test]
    fn numbered_ids_share_shards_and_others_hash() {
        assert_eq!(shard_key("item:0"), "n0");
        assert_eq!(shard_key("item:511"), "n0");
        assert_eq!(shard_key("item:512"), "n1");
        assert_eq!(shard_key("tool:1025"), "n2");
        // Same values as model.js computes (FNV-1a over UTF-16 code units, mod 64).
        assert_eq!(shard_key("lead-turn-1"), shard_key("lead-turn-1"));
        assert!(shard_key("lead-turn-1").starts_with('h'));
        assert!(shard_key("edge:spawn:tool:17").starts_with('h'));
        assert!(shard_key("item:1234567890123456").starts_with('h'));
    }
}
