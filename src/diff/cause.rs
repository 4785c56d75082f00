//! The visible cause of a divergence: what differs between the two requests of the diverging
//! pair (the model, the provider, and the conversation items, aligned as a sequence), each
//! item located by position and by where it came from (the tool result of an earlier step, a
//! system prompt, a delivered message, …).
//!
//! Invariant: items of the two runs are compared by content (kind, role, tool name and
//! text), never by id: item ids, call ids and response ids are minted per run. Request items
//! are read only through [`RolloutState::request_items`].

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use super::align::{align, Op, DIFFERENT, SIMILAR};
use super::report::{Change, ItemSide, Location, Origin, RequestItemChange};
use super::steps::cut;
use crate::reduce::{ConversationItem, InferenceCall, Producer, Requester, RolloutState, ToolCall};

/// Longest item text a report quotes, in characters.
const ITEM_TEXT_CHARS: usize = 300;

/// One side of a comparison: its graph, and where each of the thread's steps is.
#[derive(Debug, Clone, Copy)]
pub(super) struct Side<'a> {
    pub(super) state: &'a RolloutState,
    /// Inference call id → index among the thread's steps.
    pub(super) step_of: &'a HashMap<&'a str, usize>,
}

/// The differences between the requests of `a` and `b` (either may be absent): model and
/// provider first, then items in request order; at most `max` of them, and how many there are.
pub(super) fn request_changes(
    a: (Side<'_>, Option<&InferenceCall>),
    b: (Side<'_>, Option<&InferenceCall>),
    max: usize,
) -> (Vec<RequestItemChange>, usize) {
    let mut out = Vec::new();
    let mut total = 0;
    let mut push = |change: RequestItemChange| {
        total += 1;
        if out.len() < max {
            out.push(change);
        }
    };
    if let (Some(ca), Some(cb)) = (a.1, b.1) {
        for (location, va, vb) in [
            (Location::Model, &ca.model, &cb.model),
            (Location::Provider, &ca.provider, &cb.provider),
        ] {
            if va != vb {
                push(setting(location, va.as_deref(), vb.as_deref()));
            }
        }
    }
    let items_a = items(a.0.state, a.1);
    let items_b = items(b.0.state, b.1);
    let ka: Vec<u64> = items_a.iter().map(|i| fingerprint(i)).collect();
    let kb: Vec<u64> = items_b.iter().map(|i| fingerprint(i)).collect();
    let cost = |i: usize, j: usize| item_cost(items_a[i], items_b[j]);
    let step_a =
        a.1.and_then(|c| a.0.step_of.get(c.inference_call_id.as_str()).copied());
    let step_b =
        b.1.and_then(|c| b.0.step_of.get(c.inference_call_id.as_str()).copied());
    for op in align(&ka, &kb, &cost) {
        let (change, ia, ib) = match op {
            Op::Pair(i, j) if cost(i, j) == 0 => continue,
            Op::Pair(i, j) => (Change::Changed, Some(i), Some(j)),
            Op::OnlyA(i) => (Change::OnlyA, Some(i), None),
            Op::OnlyB(j) => (Change::OnlyB, None, Some(j)),
        };
        push(RequestItemChange {
            location: Location::Item,
            change,
            a: ia.map(|i| item_side(a.0, i, items_a[i], step_a)),
            b: ib.map(|j| item_side(b.0, j, items_b[j], step_b)),
        });
    }
    (out, total)
}

/// A model or provider that differs.
fn setting(location: Location, a: Option<&str>, b: Option<&str>) -> RequestItemChange {
    let side = |v: Option<&str>| {
        v.map(|text| ItemSide {
            index: None,
            item_id: None,
            kind: None,
            role: None,
            name: None,
            text: text.to_owned(),
            origin: None,
        })
    };
    let change = match (a, b) {
        (Some(_), None) => Change::OnlyA,
        (None, Some(_)) => Change::OnlyB,
        _ => Change::Changed,
    };
    RequestItemChange {
        location,
        change,
        a: side(a),
        b: side(b),
    }
}

/// The items of a call's request (none for no call; an id the graph lacks is skipped).
fn items<'a>(
    state: &'a RolloutState,
    call: Option<&'a InferenceCall>,
) -> Vec<&'a ConversationItem> {
    let Some(call) = call else {
        return Vec::new();
    };
    state
        .request_items(call)
        .into_iter()
        .filter_map(|id| state.conversation_items.get(id))
        .collect()
}

/// A hash of what the model saw of an item: kind, role, tool name and text.
fn fingerprint(item: &ConversationItem) -> u64 {
    let mut h = DefaultHasher::new();
    item.kind.hash(&mut h);
    item.role.hash(&mut h);
    item.name.hash(&mut h);
    item.text.hash(&mut h);
    h.finish()
}

/// 0 for items the model saw alike; [`SIMILAR`] for the same kind, role and name with other
/// text; else [`DIFFERENT`].
fn item_cost(a: &ConversationItem, b: &ConversationItem) -> u32 {
    let shape = a.kind == b.kind && a.role == b.role && a.name == b.name;
    match (shape, a.text == b.text) {
        (true, true) => 0,
        (true, false) => SIMILAR,
        (false, _) => DIFFERENT,
    }
}

/// One side of an item difference, with its origin relative to the step at `step`.
fn item_side(
    side: Side<'_>,
    index: usize,
    item: &ConversationItem,
    step: Option<usize>,
) -> ItemSide {
    ItemSide {
        index: Some(index),
        item_id: Some(item.item_id.clone()),
        kind: Some(item.kind),
        role: item.role.clone(),
        name: item.name.clone(),
        text: cut(&item.text, ITEM_TEXT_CHARS),
        origin: Some(origin(side, item, step)),
    }
}

/// Where `item` came from, as seen from the step at `step` of its thread.
fn origin(side: Side<'_>, item: &ConversationItem, step: Option<usize>) -> Origin {
    let state = side.state;
    let before = |at: Option<usize>| match (step, at) {
        (Some(s), Some(a)) => s.checked_sub(a),
        _ => None,
    };
    match item.produced_by.first() {
        Some(Producer::ToolCall(id)) => {
            let tool = state.tool_calls.get(id);
            let at = tool
                .and_then(|t| requesting_call(state, t))
                .and_then(|c| side.step_of.get(c).copied());
            Origin::ToolResult {
                tool: tool.and_then(|t| t.tool.clone()),
                tool_call_id: id.clone(),
                step: at,
                steps_before: before(at),
            }
        }
        Some(Producer::Inference(id)) => {
            let at = side.step_of.get(id.as_str()).copied();
            Origin::Response {
                inference_call_id: id.clone(),
                step: at,
                steps_before: before(at),
            }
        }
        Some(Producer::CodeCell(id)) => Origin::CodeCellOutput {
            code_cell_id: id.clone(),
        },
        Some(Producer::Compaction(id)) => Origin::Compaction {
            compaction_id: id.clone(),
        },
        Some(Producer::Edge(id)) => Origin::Delivery {
            edge_id: id.clone(),
        },
        None => match item.role.as_deref() {
            Some("system" | "developer") => Origin::Instructions,
            _ => Origin::Input,
        },
    }
}

/// The inference call whose response asked for `tool`: directly, or through the code cell
/// whose source that response carried.
pub(super) fn requesting_call<'a>(state: &'a RolloutState, tool: &'a ToolCall) -> Option<&'a str> {
    match &tool.requester {
        Requester::Model { inference_call_id } => inference_call_id.as_deref(),
        Requester::CodeCell { code_cell_id } => {
            let cell = state.code_cells.get(code_cell_id)?;
            let source = state.conversation_items.get(cell.source_item.as_deref()?)?;
            source.produced_by.iter().find_map(|p| match p {
                Producer::Inference(id) => Some(id.as_str()),
                Producer::ToolCall(_)
                | Producer::CodeCell(_)
                | Producer::Compaction(_)
                | Producer::Edge(_) => None,
            })
        }
        Requester::Runtime => None,
    }
}
