//! Which thread of A goes with which thread of B, walked parent first: roots with roots, then
//! under each aligned pair its children by agent path, then nickname, then the aligned steps
//! that spawned them, then spawn order.
//!
//! Invariant: every thread of each side appears in exactly one entry (paired, or alone), its
//! parent's entry before it; a thread is visited once even if the graph's child lists
//! repeat or loop.

use std::collections::{HashMap, HashSet};

use super::cause::requesting_call;
use super::pair::{diff_pair, step_index, PairDiff, ThreadSide};
use super::report::{Divergence, MatchedBy, ThreadDiff};
use super::steps::{steps_by_thread, Step};
use crate::reduce::{RolloutState, Thread};

/// A divergence with its time since the rollouts' start and its thread's index.
pub(super) type Found = (Divergence, Option<u64>, usize);

/// One side of the walk: its graph, its threads' steps, and which inference call spawned
/// each child thread.
struct Run<'a> {
    state: &'a RolloutState,
    steps: HashMap<&'a str, Vec<Step<'a>>>,
    spawner: HashMap<&'a str, &'a str>,
    seen: HashSet<&'a str>,
}

impl<'a> Run<'a> {
    fn new(state: &'a RolloutState) -> Run<'a> {
        let mut spawner = HashMap::new();
        for tool in state.tool_calls.values() {
            if let Some(call) = requesting_call(state, tool) {
                for child in &tool.spawned_threads {
                    spawner.entry(child.as_str()).or_insert(call);
                }
            }
        }
        Run {
            state,
            steps: steps_by_thread(state),
            spawner,
            seen: HashSet::new(),
        }
    }

    fn side<'s>(&'s self, thread: Option<&'a Thread>) -> ThreadSide<'s, 'a> {
        ThreadSide {
            state: self.state,
            thread_id: thread.map(|t| t.thread_id.as_str()),
            agent_path: thread.and_then(|t| t.agent_path.as_deref()),
            steps: thread
                .and_then(|t| self.steps.get(t.thread_id.as_str()))
                .map_or(&[], Vec::as_slice),
        }
    }

    /// Threads with no parent in the graph, in start order (the root thread first).
    fn roots(&mut self) -> Vec<&'a Thread> {
        let state = self.state;
        let mut roots: Vec<&Thread> = state
            .threads
            .values()
            .filter(|t| {
                t.parent_thread_id
                    .as_ref()
                    .is_none_or(|p| !state.threads.contains_key(p))
            })
            .collect();
        roots.sort_by_key(|t| {
            (
                Some(&t.thread_id) != state.root_thread_id.as_ref(),
                t.execution.started_seq,
            )
        });
        self.unseen(roots)
    }

    /// `thread`'s children not visited yet, in start order.
    fn children(&mut self, thread: Option<&'a Thread>) -> Vec<&'a Thread> {
        let Some(thread) = thread else {
            return Vec::new();
        };
        let state = self.state;
        let mut children: Vec<&Thread> = thread
            .children
            .iter()
            .filter_map(|c| state.threads.get(c))
            .collect();
        children.sort_by_key(|t| t.execution.started_seq);
        self.unseen(children)
    }

    fn unseen(&mut self, threads: Vec<&'a Thread>) -> Vec<&'a Thread> {
        threads
            .into_iter()
            .filter(|t| self.seen.insert(t.thread_id.as_str()))
            .collect()
    }

    /// The row (in the parent pair's alignment, `rows` by step) of the step that spawned each
    /// of `children`, where known.
    fn spawn_rows(
        &self,
        children: &[&'a Thread],
        parent: Option<&Thread>,
        rows: &[usize],
    ) -> HashMap<&'a str, usize> {
        let Some(steps) = parent.and_then(|p| self.steps.get(p.thread_id.as_str())) else {
            return HashMap::new();
        };
        let index = step_index(steps);
        children
            .iter()
            .filter_map(|c| {
                let call = self.spawner.get(c.thread_id.as_str())?;
                let row = rows.get(*index.get(call)?)?;
                Some((c.thread_id.as_str(), *row))
            })
            .collect()
    }
}

/// A pair waiting to be diffed: its threads, how they were matched, its parent's entry and
/// the parent row that spawned it.
struct Pending<'a> {
    a: Option<&'a Thread>,
    b: Option<&'a Thread>,
    matched_by: Option<MatchedBy>,
    parent: Option<usize>,
    spawned_at_step: Option<usize>,
}

/// Every thread pair of `a` and `b`, diffed, parents first; and every divergence found.
pub(super) fn walk(
    a: &RolloutState,
    b: &RolloutState,
    max_items: usize,
) -> (Vec<ThreadDiff>, Vec<Found>) {
    let mut run_a = Run::new(a);
    let mut run_b = Run::new(b);
    let mut threads = Vec::new();
    let mut found = Vec::new();
    let roots_a = run_a.roots();
    let roots_b = run_b.roots();
    let mut stack: Vec<Pending<'_>> = pair_up(roots_a, roots_b, true, &|_| None, &|_| None)
        .into_iter()
        .rev()
        .map(|(a, b, matched_by, _)| Pending {
            a,
            b,
            matched_by,
            parent: None,
            spawned_at_step: None,
        })
        .collect();
    while let Some(p) = stack.pop() {
        let diff = diff_pair(run_a.side(p.a), run_b.side(p.b), max_items);
        let index = threads.len();
        found.extend(
            diff.divergences
                .iter()
                .map(|(d, at)| (d.clone(), *at, index)),
        );
        let ca = run_a.children(p.a);
        let cb = run_b.children(p.b);
        let rows_a = run_a.spawn_rows(&ca, p.a, &diff.row_a);
        let rows_b = run_b.spawn_rows(&cb, p.b, &diff.row_b);
        let children = pair_up(
            ca,
            cb,
            false,
            &|c| rows_a.get(c.thread_id.as_str()).copied(),
            &|c| rows_b.get(c.thread_id.as_str()).copied(),
        );
        threads.push(entry(&p, diff));
        for (a, b, matched_by, row) in children.into_iter().rev() {
            stack.push(Pending {
                a,
                b,
                matched_by,
                parent: Some(index),
                spawned_at_step: row,
            });
        }
    }
    (threads, found)
}

fn entry(p: &Pending<'_>, diff: PairDiff) -> ThreadDiff {
    let either = |field: fn(&Thread) -> &Option<String>| {
        p.a.and_then(|t| field(t).clone())
            .or_else(|| p.b.and_then(|t| field(t).clone()))
    };
    ThreadDiff {
        agent_path: either(|t| &t.agent_path),
        nickname: either(|t| &t.nickname),
        a_thread_id: p.a.map(|t| t.thread_id.clone()),
        b_thread_id: p.b.map(|t| t.thread_id.clone()),
        matched_by: p.matched_by,
        a_status: p.a.map(|t| t.execution.status),
        b_status: p.b.map(|t| t.execution.status),
        parent: p.parent,
        spawned_at_step: p.spawned_at_step,
        counts: diff.counts,
        steps: diff.steps,
        divergences: diff.divergences.into_iter().map(|(d, _)| d).collect(),
    }
}

/// A thread of A, a thread of B (either may be missing), how they matched, and the parent
/// row that spawned them.
type Matched<'a> = (
    Option<&'a Thread>,
    Option<&'a Thread>,
    Option<MatchedBy>,
    Option<usize>,
);

/// Whether a pass pairs two threads.
type Fits<'f> = &'f dyn Fn(&Thread, &Thread) -> bool;

/// Pairs two sibling lists: the first of each as roots (`roots`), then by agent path, by
/// nickname, by spawning row, and by order; each pass only pairs threads whose paths and
/// nicknames do not contradict. Sorted by spawning row, then start.
fn pair_up<'a>(
    ca: Vec<&'a Thread>,
    cb: Vec<&'a Thread>,
    roots: bool,
    row_a: &dyn Fn(&Thread) -> Option<usize>,
    row_b: &dyn Fn(&Thread) -> Option<usize>,
) -> Vec<Matched<'a>> {
    let mut left_a: Vec<Option<&Thread>> = ca.into_iter().map(Some).collect();
    let mut left_b: Vec<Option<&Thread>> = cb.into_iter().map(Some).collect();
    let mut out: Vec<Matched<'a>> = Vec::new();
    let pair = |x: &'a Thread, y: &'a Thread, by: MatchedBy| -> Matched<'a> {
        (Some(x), Some(y), Some(by), row_a(x).or_else(|| row_b(y)))
    };
    if roots {
        if let (Some(Some(x)), Some(Some(y))) = (left_a.first().copied(), left_b.first().copied()) {
            left_a[0] = None;
            left_b[0] = None;
            out.push(pair(x, y, MatchedBy::Root));
        }
    }
    let passes: [(MatchedBy, Fits<'_>); 4] = [
        (MatchedBy::AgentPath, &|x, y| {
            x.agent_path.is_some() && x.agent_path == y.agent_path
        }),
        (MatchedBy::Nickname, &|x, y| {
            x.nickname.is_some() && x.nickname == y.nickname && compatible(x, y)
        }),
        (MatchedBy::SpawnStep, &|x, y| {
            let r = row_a(x);
            r.is_some() && r == row_b(y) && compatible(x, y)
        }),
        (MatchedBy::SpawnOrder, &|x, y| compatible(x, y)),
    ];
    for (by, fits) in passes {
        for slot in left_a.iter_mut() {
            let Some(x) = *slot else { continue };
            let found = left_b.iter().position(|y| y.is_some_and(|y| fits(x, y)));
            if let Some(y) = found.and_then(|j| left_b[j].take()) {
                *slot = None;
                out.push(pair(x, y, by));
            }
        }
    }
    out.extend(
        left_a
            .into_iter()
            .flatten()
            .map(|x| (Some(x), None, None, row_a(x))),
    );
    out.extend(
        left_b
            .into_iter()
            .flatten()
            .map(|y| (None, Some(y), None, row_b(y))),
    );
    out.sort_by_key(|(x, y, _, row)| {
        let start = x.or(*y).map(|t| t.execution.started_seq);
        (row.is_none(), *row, start)
    });
    out
}

/// Two threads may be the same agent: their paths, and their nicknames, do not differ.
fn compatible(x: &Thread, y: &Thread) -> bool {
    let differ = |p: &Option<String>, q: &Option<String>| p.is_some() && q.is_some() && p != q;
    !differ(&x.agent_path, &y.agent_path) && !differ(&x.nickname, &y.nickname)
}
