//! An inference call's request items as `state.json` stores them (state format 2): the list
//! itself, or an earlier call's list changed ([`RequestItems`]), and the resolution back to
//! the whole list that every reader goes through
//! ([`RolloutState::request_items`](super::RolloutState::request_items)).
//!
//! Invariant: the stored form is linear in the conversation. A full-snapshot request repeats
//! every item of the previous one, so whole lists grow quadratically with the thread (18 MiB
//! of a 400-turn rollout's `state.json` was item ids); a [`RequestDelta`] names only what
//! changed. Resolution never recurses and never fails: it walks the chain of bases with an
//! explicit stack, taking from each base only the range asked for, and stops after as many
//! steps as the graph has calls (so a hand-edited cycle ends); a base that is missing, or a
//! range past the end of its list, contributes what exists. The reducer keeps the walk
//! cheap: it stores a whole list again whenever the chain back to the last whole list would
//! cost more than a few times the list itself to walk (`inference.rs`), so resolving one call
//! costs about its own length, and every call together about what their lists hold.

use serde::{Deserialize, Serialize};

use super::u64_map::U64Map;

/// An inference call's request items: what the model saw, in order.
///
/// In `state.json` either an array of item ids (the whole list; every call of state format 1
/// has this form) or an object `{"base": "inference:7", "parts": [[0, 57], "item:90"]}`: the
/// request items of the call `base` (an earlier call of the same thread), of which `[start,
/// len]` takes `len` items from `start`, followed or interleaved with item ids given
/// directly. Read it through
/// [`RolloutState::request_items`](super::RolloutState::request_items), which resolves either
/// form into the whole list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RequestItems {
    /// The whole list.
    List(Vec<String>),
    /// Another call's list, changed.
    Delta(RequestDelta),
}

impl Default for RequestItems {
    fn default() -> RequestItems {
        RequestItems::List(Vec::new())
    }
}

/// A request list stored as another call's list, changed (see [`RequestItems`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestDelta {
    /// The inference call whose request items the parts take ranges of.
    pub base: String,
    /// The list, in order.
    pub parts: Vec<RequestPart>,
}

/// One part of a [`RequestDelta`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RequestPart {
    /// `[start, len]`: the base's items `start .. start + len`.
    Range(u64, u64),
    /// One item id.
    Item(String),
}

impl RequestPart {
    /// How many items the part stands for (a range as stored, before its base is read).
    fn len(&self) -> u64 {
        match self {
            RequestPart::Range(_, len) => *len,
            RequestPart::Item(_) => 1,
        }
    }
}

/// What is left to resolve, on the explicit stack: item ids, or items `from..to` of a list.
enum Task<'a> {
    Ids(&'a [String]),
    Range {
        items: &'a RequestItems,
        from: u64,
        to: u64,
        depth: usize,
    },
}

/// The whole list `items` stands for: `base` finds a call's request items by its id, and a
/// chain of bases is followed at most `max_depth` steps (see the module docs).
pub(super) fn resolve<'a>(
    items: &'a RequestItems,
    base: impl Fn(&str) -> Option<&'a RequestItems>,
    max_depth: usize,
) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut stack = vec![Task::Range {
        items,
        from: 0,
        to: u64::MAX,
        depth: 0,
    }];
    while let Some(task) = stack.pop() {
        let (items, from, to, depth) = match task {
            Task::Ids(ids) => {
                out.extend(ids.iter().map(String::as_str));
                continue;
            }
            Task::Range {
                items,
                from,
                to,
                depth,
            } => (items, from, to, depth),
        };
        let delta = match items {
            RequestItems::List(ids) => {
                let end = usize::try_from(to).unwrap_or(usize::MAX).min(ids.len());
                let start = usize::try_from(from).unwrap_or(usize::MAX).min(end);
                out.extend(ids[start..end].iter().map(String::as_str));
                continue;
            }
            RequestItems::Delta(delta) => delta,
        };
        let base_items = (depth < max_depth).then(|| base(&delta.base)).flatten();
        // The parts overlapping `from..to`, pushed last first so they pop in order.
        let mut end = delta
            .parts
            .iter()
            .fold(0u64, |at, part| at.saturating_add(part.len()));
        for part in delta.parts.iter().rev() {
            // Saturating: a hand-edited length may make the sum above saturate.
            let start = end.saturating_sub(part.len());
            let (part_start, part_end) = (start, end);
            end = start;
            if part_start >= to || part_end <= from {
                continue;
            }
            match part {
                RequestPart::Item(id) => stack.push(Task::Ids(std::slice::from_ref(id))),
                RequestPart::Range(first, _) => {
                    if let Some(base_items) = base_items {
                        let skip = from.saturating_sub(part_start);
                        let take = to.min(part_end) - part_start;
                        stack.push(Task::Range {
                            items: base_items,
                            from: first.saturating_add(skip),
                            to: first.saturating_add(take),
                            depth: depth + 1,
                        });
                    }
                }
            }
        }
    }
    out
}

/// The parts that make `list` out of `base` (item numbers, turned into ids by `id`): runs of
/// `list` found in `base` become ranges, the rest item ids. A run is looked for where the
/// previous one ended first (an appended or a sliding history), else where the item stands
/// in `base` (an item dropped or replaced in between); an item numbered above every item of
/// `base` (made since: a response's items, new input) is not looked for.
pub(super) fn delta_parts(
    base: &[u64],
    list: &[u64],
    id: impl Fn(u64) -> String,
) -> Vec<RequestPart> {
    let newest = base.iter().copied().max().unwrap_or(0);
    let mut positions: Option<U64Map<usize>> = None;
    let mut parts = Vec::new();
    let (mut i, mut next) = (0, 0);
    while i < list.len() {
        let run_at = |at: usize| {
            base.get(at..)
                .unwrap_or_default()
                .iter()
                .zip(&list[i..])
                .take_while(|(a, b)| a == b)
                .count()
        };
        let mut run = (next, run_at(next));
        if run.1 < 2 && list[i] <= newest {
            let positions = positions.get_or_insert_with(|| {
                let mut positions = U64Map::default();
                positions.reserve(base.len());
                for (at, n) in base.iter().enumerate() {
                    positions.entry(*n).or_insert(at);
                }
                positions
            });
            if let Some(&at) = positions.get(&list[i]) {
                let found = run_at(at);
                if found > run.1 {
                    run = (at, found);
                }
            }
        }
        match run {
            (at, len) if len >= 2 || (len == 1 && at == next) => {
                parts.push(RequestPart::Range(at as u64, len as u64));
                i += len;
                next = at + len;
            }
            _ => {
                parts.push(RequestPart::Item(id(list[i])));
                i += 1;
            }
        }
    }
    parts
}

#[cfg(test)]
#[path = "requests_tests.rs"]
mod tests;
