//! Aligning two sequences (a thread's steps, a request's items) so that an inserted or missing
//! element does not misalign everything after it: anchors first, then an edit distance
//! within a diagonal band in the gaps between anchors.
//!
//! Invariant: the work is bounded whatever the inputs. Common prefixes and suffixes are
//! paired in linear time; elements whose key occurs exactly once on each side are anchors,
//! kept where they increase on both sides (a longest increasing subsequence, as in patience
//! diff), which splits the rest into independent gaps. Two runs of one agent mostly agree, so
//! anchors leave small gaps; a gap is aligned exactly (Needleman–Wunsch) when it has at most
//! [`FULL_CELLS`] cells, else within a band of [`BAND`] diagonals beyond the length difference,
//! so a gap costs O(shorter side × (length difference + band)) and never more than
//! [`MAX_CELLS`]; past that (two very long, very different, very unequal sequences) it is
//! paired by position. Anchors rather than a band alone because a band around the main
//! diagonal loses the alignment after a long insertion, while anchors find it again.

use std::collections::HashMap;

/// One element of an alignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Op {
    /// Element `a` of the first sequence aligned with element `b` of the second.
    Pair(usize, usize),
    /// An element only the first sequence has.
    OnlyA(usize),
    /// An element only the second sequence has.
    OnlyB(usize),
}

/// Cost of inserting or deleting an element.
pub(super) const INDEL: u32 = 2;
/// Cost of pairing two elements of the same shape that differ (a tool with other arguments).
pub(super) const SIMILAR: u32 = 1;
/// Cost of pairing two unlike elements: less than a deletion plus an insertion, so unlike
/// elements at the same place are paired as changed rather than listed on each side.
pub(super) const DIFFERENT: u32 = 3;

/// Gaps of at most this many cells are aligned exactly.
const FULL_CELLS: usize = 1 << 18;
/// Diagonals searched beyond the length difference in a larger gap.
const BAND: usize = 64;
/// Most cells one gap may cost; past it, pairing by position.
const MAX_CELLS: usize = 1 << 23;
/// How deep anchors are searched again inside gaps.
const MAX_DEPTH: u32 = 6;

/// Aligns `ka` with `kb`. Keys are equal for equal elements (a hash of the content); `cost(i,
/// j)` is 0 for equal elements, [`SIMILAR`] or [`DIFFERENT`] otherwise, and confirms equal keys.
pub(super) fn align(ka: &[u64], kb: &[u64], cost: &dyn Fn(usize, usize) -> u32) -> Vec<Op> {
    let same = |i: usize, j: usize| ka[i] == kb[j] && cost(i, j) == 0;
    let mut out = Vec::with_capacity(ka.len().max(kb.len()));
    let mut tasks = vec![Task::Range {
        a: (0, ka.len()),
        b: (0, kb.len()),
        depth: 0,
    }];
    while let Some(task) = tasks.pop() {
        let (a, b, depth) = match task {
            Task::Emit(op) => {
                out.push(op);
                continue;
            }
            Task::Range { a, b, depth } => (a, b, depth),
        };
        let (mut a0, mut a1, mut b0, mut b1) = (a.0, a.1, b.0, b.1);
        while a0 < a1 && b0 < b1 && same(a0, b0) {
            out.push(Op::Pair(a0, b0));
            a0 += 1;
            b0 += 1;
        }
        while a1 > a0 && b1 > b0 && same(a1 - 1, b1 - 1) {
            a1 -= 1;
            b1 -= 1;
            tasks.push(Task::Emit(Op::Pair(a1, b1)));
        }
        if a0 == a1 || b0 == b1 {
            out.extend((a0..a1).map(Op::OnlyA));
            out.extend((b0..b1).map(Op::OnlyB));
            continue;
        }
        let anchors = if depth < MAX_DEPTH {
            anchors(ka, kb, (a0, a1), (b0, b1), &same)
        } else {
            Vec::new()
        };
        if anchors.is_empty() {
            out.extend(gap(a0, a1, b0, b1, cost));
            continue;
        }
        // Pushed in reverse: the stack pops the leftmost gap first.
        let mut end = (a1, b1);
        for &(i, j) in anchors.iter().rev() {
            tasks.push(Task::Range {
                a: (i + 1, end.0),
                b: (j + 1, end.1),
                depth: depth + 1,
            });
            tasks.push(Task::Emit(Op::Pair(i, j)));
            end = (i, j);
        }
        tasks.push(Task::Range {
            a: (a0, end.0),
            b: (b0, end.1),
            depth: depth + 1,
        });
    }
    out
}

/// Work left: a range of both sequences to align, or an op to emit once everything before it
/// has been.
enum Task {
    Range {
        a: (usize, usize),
        b: (usize, usize),
        depth: u32,
    },
    Emit(Op),
}

/// Elements whose key occurs once in each range and which are equal, increasing on both
/// sides (the longest such chain).
fn anchors(
    ka: &[u64],
    kb: &[u64],
    a: (usize, usize),
    b: (usize, usize),
    same: &dyn Fn(usize, usize) -> bool,
) -> Vec<(usize, usize)> {
    // key → (count in a, position in a, count in b, position in b)
    let mut seen: HashMap<u64, (u32, usize, u32, usize)> = HashMap::new();
    for (i, key) in ka.iter().enumerate().take(a.1).skip(a.0) {
        let e = seen.entry(*key).or_insert((0, i, 0, 0));
        e.0 += 1;
    }
    for (j, key) in kb.iter().enumerate().take(b.1).skip(b.0) {
        if let Some(e) = seen.get_mut(key) {
            e.2 += 1;
            e.3 = j;
        }
    }
    let mut pairs: Vec<(usize, usize)> = seen
        .values()
        .filter(|e| e.0 == 1 && e.2 == 1 && same(e.1, e.3))
        .map(|e| (e.1, e.3))
        .collect();
    pairs.sort_unstable();
    longest_increasing(&pairs)
}

/// The longest chain of `pairs` (sorted by first) whose seconds increase (patience sorting).
fn longest_increasing(pairs: &[(usize, usize)]) -> Vec<(usize, usize)> {
    // tails[k]: index in `pairs` of the smallest second ending a chain of length k + 1.
    let mut tails: Vec<usize> = Vec::new();
    let mut before: Vec<Option<usize>> = vec![None; pairs.len()];
    for (n, &(_, j)) in pairs.iter().enumerate() {
        let at = tails.partition_point(|&t| pairs[t].1 < j);
        before[n] = at.checked_sub(1).map(|k| tails[k]);
        if at == tails.len() {
            tails.push(n);
        } else {
            tails[at] = n;
        }
    }
    let mut chain = Vec::with_capacity(tails.len());
    let mut at = tails.last().copied();
    while let Some(n) = at {
        chain.push(pairs[n]);
        at = before[n];
    }
    chain.reverse();
    chain
}

/// Aligns one gap: exactly when small, within a band when large, by position when even the
/// band is too large. The shorter side indexes the rows, so a band costs the shorter length
/// times the width.
fn gap(a0: usize, a1: usize, b0: usize, b1: usize, cost: &dyn Fn(usize, usize) -> u32) -> Vec<Op> {
    let (p, q) = (a1 - a0, b1 - b0);
    if p <= q {
        banded(p, q, &|i, j| cost(a0 + i, b0 + j))
            .into_iter()
            .map(|op| shift(op, a0, b0))
            .collect()
    } else {
        banded(q, p, &|i, j| cost(a0 + j, b0 + i))
            .into_iter()
            .map(|op| match op {
                Op::Pair(i, j) => Op::Pair(a0 + j, b0 + i),
                Op::OnlyA(i) => Op::OnlyB(b0 + i),
                Op::OnlyB(j) => Op::OnlyA(a0 + j),
            })
            .collect()
    }
}

fn shift(op: Op, a0: usize, b0: usize) -> Op {
    match op {
        Op::Pair(i, j) => Op::Pair(a0 + i, b0 + j),
        Op::OnlyA(i) => Op::OnlyA(a0 + i),
        Op::OnlyB(j) => Op::OnlyB(b0 + j),
    }
}

const DIAG: u8 = 0;
const UP: u8 = 1;
const LEFT: u8 = 2;

/// Edit distance of `p` rows against `q ≥ p` columns within the diagonals `j − i ∈ [lo, hi]`.
fn banded(p: usize, q: usize, cost: &dyn Fn(usize, usize) -> u32) -> Vec<Op> {
    let full = p.saturating_mul(q) <= FULL_CELLS;
    let (lo, hi) = if full {
        (-(p as i64), q as i64)
    } else {
        (-(BAND as i64), (q - p + BAND) as i64)
    };
    let width = (hi - lo + 1) as usize;
    if (p + 1).saturating_mul(width) > MAX_CELLS {
        return by_position(p, q);
    }
    let mut trace = vec![DIAG; (p + 1) * width];
    let mut prev = vec![u32::MAX; width];
    let mut cur = vec![u32::MAX; width];
    for i in 0..=p {
        cur.fill(u32::MAX);
        let first = (i as i64 + lo).max(0) as usize;
        let last = (i as i64 + hi).min(q as i64);
        if last < first as i64 {
            std::mem::swap(&mut prev, &mut cur);
            continue;
        }
        for j in first..=last as usize {
            let k = (j as i64 - i as i64 - lo) as usize;
            if i == 0 && j == 0 {
                cur[k] = 0;
                continue;
            }
            let mut best = (u32::MAX, DIAG);
            if i > 0 && j > 0 && prev[k] != u32::MAX {
                best = (prev[k] + cost(i - 1, j - 1), DIAG);
            }
            if i > 0 && k + 1 < width && prev[k + 1] != u32::MAX && prev[k + 1] + INDEL < best.0 {
                best = (prev[k + 1] + INDEL, UP);
            }
            if j > 0 && k > 0 && cur[k - 1] != u32::MAX && cur[k - 1] + INDEL < best.0 {
                best = (cur[k - 1] + INDEL, LEFT);
            }
            cur[k] = best.0;
            trace[i * width + k] = best.1;
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    let mut ops = Vec::with_capacity(p + q);
    let (mut i, mut j) = (p, q);
    while i > 0 || j > 0 {
        let k = (j as i64 - i as i64 - lo) as usize;
        match trace[i * width + k] {
            DIAG if i > 0 && j > 0 => {
                ops.push(Op::Pair(i - 1, j - 1));
                i -= 1;
                j -= 1;
            }
            UP if i > 0 => {
                ops.push(Op::OnlyA(i - 1));
                i -= 1;
            }
            _ if j > 0 => {
                ops.push(Op::OnlyB(j - 1));
                j -= 1;
            }
            _ => {
                ops.push(Op::OnlyA(i - 1));
                i -= 1;
            }
        }
    }
    ops.reverse();
    ops
}

/// The fallback past [`MAX_CELLS`]: pairs in order, the longer side's rest on its own.
fn by_position(p: usize, q: usize) -> Vec<Op> {
    (0..p)
        .map(|i| Op::Pair(i, i))
        .chain((p..q).map(Op::OnlyB))
        .collect()
}

#[cfg(test)]
#[path = "align_tests.rs"]
mod tests;
