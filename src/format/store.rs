//! Format v2's payload store, writer side: a payload body becomes references to byte ranges
//! of earlier payload bodies of the same bundle plus the bytes that are new (the wire form is
//! specified in the [format docs](super#payload-bodies-in-format_version-2)).
//!
//! Invariant: a reference produced here names only a payload record this bundle already
//! wrote (a smaller `seq`) whose body the store still holds, and only a range whose bytes were
//! compared equal, byte for byte, to the bytes it stands for: no digest stands in for the
//! bytes, so no collision can make a reference lie. What the store holds is bounded in bytes
//! ([`KEPT_BYTES`]); a body it forgot cannot be referred to, so its bytes are simply written
//! again — dedup is lost, never correctness. Runs on the writer thread only, on bodies as they
//! are written (after the check of their text and after redaction).
//!
//! How shared bytes are found: each body is compared with the last few bodies of its role
//! (one `memcmp` each: a request shares everything with the previous one up to its new
//! items), then what is left is searched for with anchors — a few bytes at a place where a
//! JSON value starts — first in the previous body of the role (a window that slid), then in
//! the bodies written since it (a request repeats the previous response's items, a
//! checkpoint the history) — after a trial, only in bodies of the roles such searches found
//! something in; each hit grows byte by byte as far as the bytes agree. Roles whose bodies
//! nothing ever repeats (tool results, typically) soon cost only the `memcmp`: their bodies
//! are then kept only one in [`KEEP_RETRY`] and searched for one in [`SEARCH_RETRY`]. The marks the validator
//! left on a kept body let the writer skip validating the bytes a later body shares with it
//! ([`Store::jumps`]).

use std::collections::VecDeque;
use std::ops::Range;

use memchr::memmem;

use super::{push_escaped, push_u64};
use crate::json_check::{Jump, Mark};

/// Bodies shorter than this are written whole, and not kept: sharing could not pay.
pub(crate) const MIN_BODY: usize = 256;
/// Runs of shared bytes shorter than this are written as new bytes: a reference costs ~20
/// bytes and its search more.
const MIN_RUN: usize = 128;
/// Bytes of bodies (their buffers' capacity) and of their marks one bundle's store holds.
pub(crate) const KEPT_BYTES: usize = 8 << 20;
/// Bodies of one role compared whole with each new body of the role.
const CANDIDATES: usize = 4;
/// Roles tracked; past this many, the store forgets every role (bodies stay until evicted).
const MAX_ROLES: usize = 64;
/// Bodies of a role kept and searched whatever happens, before its record counts.
const TRIAL: u32 = 16;
/// A role whose bodies were of no use for this many of its bodies (or never were, after the
/// trial) is kept only one body in [`KEEP_RETRY`], and searched for only one in
/// [`SEARCH_RETRY`] (so a role that starts being repeated is found again).
const IDLE: u32 = 64;
const KEEP_RETRY: u32 = 16;
const SEARCH_RETRY: u32 = 64;
/// Bytes of an anchor, and how many anchors in a row one body may try in vain (what is left
/// after the shared bytes of a body is usually all new).
const ANCHOR: usize = 32;
const ANCHOR_MISSES: u32 = 3;
/// Occurrences of an anchor tried in one body (a short anchor may also occur where the bytes
/// soon differ).
const OCCURRENCES: usize = 8;
/// Bytes of bodies written since the role's previous one that one anchor is searched in.
const SEARCH_BYTES: usize = 1 << 20;

/// Bytes `offset..offset + len` of the body of payload record `seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Loc {
    seq: u64,
    offset: usize,
    len: usize,
}

/// One piece of an encoded body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    /// New bytes: `start..end` of the body.
    New { start: usize, end: usize },
    /// Bytes of an earlier body.
    Ref(Loc),
}

/// A body the store holds: in a buffer of its own (the message it arrived in, or a copy).
#[derive(Debug)]
struct Kept {
    seq: u64,
    role: u32,
    buf: Vec<u8>,
    body: Range<usize>,
    /// The validator's marks on the body (empty: it was not validated here).
    marks: Vec<Mark>,
}

impl Kept {
    fn bytes(&self) -> &[u8] {
        &self.buf[self.body.clone()]
    }

    fn cost(&self) -> usize {
        self.buf.capacity() + self.marks.capacity() * std::mem::size_of::<Mark>()
    }
}

/// What the store knows of one role.
#[derive(Debug, Default)]
struct Role {
    name: Vec<u8>,
    /// Seqs of the last kept bodies of this role, oldest first.
    candidates: Vec<u64>,
    /// Seq of the last body of this role (kept or not).
    last_seq: u64,
    /// Bodies of this role seen.
    seen: u32,
    /// `seen` when a kept body of this role was last referred to.
    last_source: u32,
    /// `seen` when an anchor search of this role's body last found something.
    last_found: u32,
    /// The roles (bit = role id) whose bodies anchor searches of this role's bodies found
    /// runs in: after the trial, only those are searched (except one body in
    /// [`SEARCH_RETRY`]).
    sources: u64,
}

impl Role {
    /// In the trial, or a retry: everything is tried.
    fn trying(&self, retry: u32) -> bool {
        self.seen <= TRIAL || self.seen.is_multiple_of(retry)
    }

    /// Whether a body of this role is worth the effort, given when the effort last paid
    /// (`last_useful`, 0: never).
    fn due(&self, last_useful: u32, retry: u32) -> bool {
        self.trying(retry) || (last_useful > 0 && self.seen - last_useful <= IDLE)
    }
}

/// The plan for one payload body: which role it has, what it shares, whether to keep it.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    role: u32,
    /// Where the record's head ends and its body is (see [`split_payload`]).
    head: usize,
    body: Range<usize>,
    parts: Vec<Part>,
    /// Keep the body for later ones (and so record its validator marks).
    pub(crate) keep: bool,
}

/// Where an anchor is searched: in `prev` (the role's best candidate, from the given byte on:
/// the prefix it shares with the body is not searched again), then in the bodies kept after
/// `since` whose role is one of `sources` (bits), newest first, up to [`SEARCH_BYTES`].
#[derive(Debug, Clone, Copy)]
struct Scope {
    prev: Option<(u64, usize)>,
    since: u64,
    sources: u64,
}

/// One bundle's payload store (see the module docs).
#[derive(Debug)]
pub(crate) struct Store {
    kept: VecDeque<Kept>,
    kept_bytes: usize,
    limit: usize,
    roles: Vec<Role>,
    /// Buffers of bodies forgotten, for the writer to recycle.
    freed: Vec<Vec<u8>>,
}

impl Default for Store {
    fn default() -> Store {
        Store::with_limit(KEPT_BYTES)
    }
}

impl Store {
    fn with_limit(limit: usize) -> Store {
        Store {
            kept: VecDeque::new(),
            kept_bytes: 0,
            limit,
            roles: Vec::new(),
            freed: Vec::new(),
        }
    }

    /// Plans the body of a `payload` record (`record`: from `"type":"payload"` to its closing
    /// `}`): the range of its body in `record` and what it shares with kept bodies. `None`
    /// for a record written as it is (not a payload, or a short body) and not kept.
    pub(crate) fn plan(&mut self, record: &[u8], plan: &mut Plan) -> Option<Range<usize>> {
        let (head, range) = split_payload(record)?;
        let body = &record[range.clone()];
        if body.len() < MIN_BODY {
            return None;
        }
        plan.head = head.len();
        plan.body = range.clone();
        plan.parts.clear();
        plan.role = self.role_id(role_of(head));
        let role = &mut self.roles[plan.role as usize];
        role.seen = role.seen.saturating_add(1);
        let since = role.last_seq;
        let search = role.due(role.last_found, SEARCH_RETRY);
        let sources = if role.trying(SEARCH_RETRY) {
            u64::MAX
        } else {
            role.sources
        };
        plan.keep = role.due(role.last_source, KEEP_RETRY);
        let mut pos = 0;
        let mut end = body.len();
        let mut suffix = None;
        let prev = self.best_overlap(plan.role, body);
        // The first anchor is where the body and the best candidate first differ.
        let anchor = prev.map_or(0, |p| p.1);
        if let Some((seq, lcp, lcs)) = prev {
            if lcp >= MIN_RUN {
                plan.parts.push(Part::Ref(Loc {
                    seq,
                    offset: 0,
                    len: lcp,
                }));
                pos = lcp;
            }
            if lcs >= MIN_RUN {
                let prev_len = self.kept_body(seq).map_or(0, <[u8]>::len);
                end -= lcs;
                suffix = Some(Loc {
                    seq,
                    offset: prev_len - lcs,
                    len: lcs,
                });
            }
        }
        if search {
            let from = (pos, anchor.min(end));
            let scope = Scope {
                prev: prev.map(|p| (p.0, p.1)),
                since,
                sources,
            };
            if let Some(found) = self.search(body, from, end, scope, plan) {
                let role = &mut self.roles[plan.role as usize];
                role.last_found = role.seen;
                role.sources |= found;
            }
        } else if end > pos {
            plan.parts.push(Part::New { start: pos, end });
        }
        plan.parts.extend(suffix.map(Part::Ref));
        Some(range)
    }

    /// Fills `body[pos..end]` with runs found by anchor searches and new bytes
    /// (`(pos, anchor)`: the first anchor is at `anchor`, at or after `pos`), in `scope`:
    /// every anchor is searched in `prev` after its last run there, then in the rest of the
    /// scope. After [`ANCHOR_MISSES`] anchors in a row found nothing, anchors are tried at
    /// doubling distances and only in `prev` (a new item inserted in the middle of a request
    /// is followed by bytes the previous request had, such as its tool definitions), so a
    /// body that is new to its end costs a few more searches of one body. A run found is
    /// extended backwards over equal bytes. Returns the roles (bits) of the bodies runs were
    /// found in, if any.
    fn search(
        &self,
        body: &[u8],
        (pos, anchor): (usize, usize),
        end: usize,
        mut scope: Scope,
        plan: &mut Plan,
    ) -> Option<u64> {
        let mut new_from = pos;
        let mut anchor = anchor.max(pos);
        let mut misses = 0;
        let mut stride = 0;
        let mut found = None;
        while end.saturating_sub(anchor) >= MIN_RUN {
            let wide = misses < ANCHOR_MISSES;
            if !wide && scope.prev.is_none() {
                break;
            }
            let Some(mut loc) = self.find_run(&body[..end], anchor, &scope, wide) else {
                misses += 1;
                if misses >= ANCHOR_MISSES {
                    stride = (stride * 2).max(MIN_RUN);
                }
                anchor = next_anchor(body, anchor + 1 + stride, end);
                continue;
            };
            misses = 0;
            stride = 0;
            let Some(kept) = self.kept(loc.seq) else {
                break;
            };
            let hay = kept.bytes();
            while anchor > new_from && loc.offset > 0 && body[anchor - 1] == hay[loc.offset - 1] {
                anchor -= 1;
                loc.offset -= 1;
                loc.len += 1;
            }
            while is_continuation(body[anchor]) {
                anchor += 1;
                loc.offset += 1;
                loc.len -= 1;
            }
            if let Some((seq, from)) = &mut scope.prev {
                if *seq == loc.seq {
                    *from = (*from).max(loc.offset + loc.len);
                }
            }
            found = Some(found.unwrap_or(0) | 1u64 << (kept.role % 64));
            if anchor > new_from {
                plan.parts.push(Part::New {
                    start: new_from,
                    end: anchor,
                });
            }
            plan.parts.push(Part::Ref(loc));
            new_from = anchor + loc.len;
            // A run ends where the bodies differ, usually on a separator: the next anchor is
            // the next value.
            anchor = next_anchor(body, new_from, end);
        }
        if end > new_from {
            plan.parts.push(Part::New {
                start: new_from,
                end,
            });
        }
        found
    }

    /// The longest run (at least [`MIN_RUN`] bytes, ending on a character boundary) of
    /// `body` from `at` whose first [`ANCHOR`] bytes occur in a kept body of `scope` (`wide`:
    /// the whole scope, else only its `prev`).
    fn find_run(&self, body: &[u8], at: usize, scope: &Scope, wide: bool) -> Option<Loc> {
        let finder = memmem::Finder::new(&body[at..at + ANCHOR]);
        let want = &body[at..];
        let best_in = |kept: &Kept, from: usize| -> Option<Loc> {
            let hay = kept.bytes();
            let mut best: Option<Loc> = None;
            let found = finder.find_iter(hay.get(from..).unwrap_or_default());
            for offset in found.take(OCCURRENCES).map(|o| o + from) {
                let mut run = common_prefix(want, &hay[offset..]);
                while run > 0 && run < want.len() && is_continuation(want[run]) {
                    run -= 1;
                }
                if run >= MIN_RUN && best.is_none_or(|b| run > b.len) {
                    best = Some(Loc {
                        seq: kept.seq,
                        offset,
                        len: run,
                    });
                }
                // A later occurrence cannot give a longer run than one that reached the end
                // of the body looked for or of the body looked in.
                if run == want.len() || offset + run == hay.len() {
                    break;
                }
            }
            best
        };
        if let Some((seq, from)) = scope.prev {
            if let Some(hit) = self.kept(seq).and_then(|k| best_in(k, from)) {
                return Some(hit);
            }
        }
        if !wide {
            return None;
        }
        let mut searched = 0;
        for kept in self.kept.iter().rev() {
            if kept.seq <= scope.since || searched > SEARCH_BYTES {
                break;
            }
            if scope.sources >> (kept.role % 64) & 1 == 0 {
                continue;
            }
            searched += kept.body.len();
            if let Some(hit) = best_in(kept, 0) {
                return Some(hit);
            }
        }
        None
    }

    /// Jumps for the validator over the bytes `plan` shares with kept bodies that were
    /// validated: where a shared run starts from byte 0 (`start`: the marks to resume
    /// after) and over every other run (`jumps`), each from the first mark inside the run to
    /// the last mark before its last byte (see `json_check::resume` for why not on it).
    pub(crate) fn jumps<'s>(
        &'s self,
        plan: &Plan,
        start: &mut Option<&'s [Mark]>,
        jumps: &mut Vec<Jump<'s>>,
    ) {
        let mut at = 0;
        for part in &plan.parts {
            let (s, loc) = match *part {
                Part::New { end, .. } => {
                    at = at.max(end);
                    continue;
                }
                Part::Ref(loc) => (at, loc),
            };
            at = s + loc.len;
            let Some(kept) = self.kept(loc.seq) else {
                continue;
            };
            let marks = &kept.marks;
            let first = marks.partition_point(|m| m.at < loc.offset);
            let last = marks.partition_point(|m| m.at < loc.offset + loc.len);
            if s == 0 && loc.offset == 0 {
                if last > 0 {
                    *start = Some(&marks[..last]);
                }
            } else if last > first + 1 {
                jumps.push(Jump {
                    marks: &marks[first..last],
                    shift: s as isize - loc.offset as isize,
                });
            }
        }
    }

    /// Grows the plan's runs into the new bytes around them as far as the bytes agree (the
    /// body may have changed since it was planned: its line breaks replaced, nothing moved),
    /// and writes the record in the v2 form into `out` when it shares enough; otherwise
    /// returns `false` and leaves `out` untouched (the record is written as it is).
    pub(crate) fn encode(&mut self, record: &[u8], plan: &mut Plan, out: &mut Vec<u8>) -> bool {
        let (Some(head), Some(body)) = (record.get(..plan.head), record.get(plan.body.clone()))
        else {
            return false;
        };
        let shared = self.extend_refs(body, &mut plan.parts);
        if shared < MIN_RUN {
            return false;
        }
        for part in &plan.parts {
            if let Part::Ref(loc) = part {
                let role = self.kept(loc.seq).map(|k| k.role);
                if let Some(role) = role.and_then(|r| self.roles.get_mut(r as usize)) {
                    role.last_source = role.seen;
                }
            }
        }
        write_parts(head, body, &plan.parts, out)
    }

    /// Notes that the planned body was written as record `seq`, and keeps it if the plan
    /// says so, taking `buf` (leaving it empty), whose bytes `body` are the body. `marks`:
    /// the validator's marks on it.
    pub(crate) fn keep_buffer(
        &mut self,
        seq: u64,
        plan: &Plan,
        buf: &mut Vec<u8>,
        body: Range<usize>,
        marks: Vec<Mark>,
    ) {
        if self.written(seq, plan, body.len()) {
            let buf = std::mem::take(buf);
            self.push(seq, plan, buf, body, marks);
        }
    }

    /// [`Store::keep_buffer`] for a body the store copies.
    pub(crate) fn keep_copy(&mut self, seq: u64, plan: &Plan, body: &[u8], marks: Vec<Mark>) {
        if self.written(seq, plan, body.len()) {
            let mut copy = self.take_buffer(body.len());
            copy.extend_from_slice(body);
            let range = 0..copy.len();
            self.push(seq, plan, copy, range, marks);
        }
    }

    /// Notes that a body of `plan`'s role was written as `seq`; whether to keep it.
    fn written(&mut self, seq: u64, plan: &Plan, len: usize) -> bool {
        if let Some(role) = self.roles.get_mut(plan.role as usize) {
            role.last_seq = seq;
        }
        plan.keep && len <= self.limit
    }

    fn push(&mut self, seq: u64, plan: &Plan, buf: Vec<u8>, body: Range<usize>, marks: Vec<Mark>) {
        let kept = Kept {
            seq,
            role: plan.role,
            buf,
            body,
            marks,
        };
        self.make_room(kept.cost());
        self.kept_bytes += kept.cost();
        self.kept.push_back(kept);
        if let Some(role) = self.roles.get_mut(plan.role as usize) {
            if role.candidates.len() >= CANDIDATES {
                role.candidates.remove(0);
            }
            role.candidates.push(seq);
        }
    }

    /// Buffers of forgotten bodies (to recycle).
    pub(crate) fn freed(&mut self) -> std::vec::Drain<'_, Vec<u8>> {
        self.freed.drain(..)
    }

    fn take_buffer(&mut self, len: usize) -> Vec<u8> {
        match self.freed.iter().position(|b| b.capacity() >= len) {
            Some(i) => {
                let mut buf = self.freed.swap_remove(i);
                buf.clear();
                buf
            }
            None => Vec::with_capacity(len),
        }
    }

    fn make_room(&mut self, cost: usize) {
        while self.kept_bytes + cost > self.limit {
            let Some(old) = self.kept.pop_front() else {
                break;
            };
            self.kept_bytes -= old.cost();
            if self.freed.len() < 4 {
                self.freed.push(old.buf);
            }
        }
    }

    /// The id of `role`, made on first use; past [`MAX_ROLES`] roles every role is
    /// forgotten.
    fn role_id(&mut self, role: &[u8]) -> u32 {
        if let Some(i) = self.roles.iter().position(|r| r.name == role) {
            return i as u32;
        }
        if self.roles.len() >= MAX_ROLES {
            self.roles.clear();
        }
        self.roles.push(Role {
            name: role.to_vec(),
            ..Role::default()
        });
        (self.roles.len() - 1) as u32
    }

    fn kept(&self, seq: u64) -> Option<&Kept> {
        let i = self.kept.binary_search_by_key(&seq, |k| k.seq).ok()?;
        self.kept.get(i)
    }

    fn kept_body(&self, seq: u64) -> Option<&[u8]> {
        self.kept(seq).map(Kept::bytes)
    }

    /// Of the kept bodies of `role`, the one sharing the longest prefix plus suffix with
    /// `body` (newest first, stopping at one that shares half the body): its seq, the
    /// prefix and the suffix length (on character boundaries, not overlapping).
    fn best_overlap(&self, role: u32, body: &[u8]) -> Option<(u64, usize, usize)> {
        let candidates = &self.roles.get(role as usize)?.candidates;
        let mut best: Option<(u64, usize, usize)> = None;
        for &seq in candidates.iter().rev() {
            let Some(prev) = self.kept_body(seq) else {
                continue;
            };
            let mut lcp = common_prefix(body, prev);
            while lcp > 0 && lcp < body.len() && is_continuation(body[lcp]) {
                lcp -= 1;
            }
            let room = body.len().min(prev.len()) - lcp;
            let mut lcs = common_suffix(body, prev).min(room);
            while lcs > 0 && is_continuation(body[body.len() - lcs]) {
                lcs -= 1;
            }
            // Only runs long enough to be referred to count; on a tie the newest wins (the
            // anchor search then starts in it).
            let score =
                |p: usize, s: usize| [p, s].into_iter().filter(|&n| n >= MIN_RUN).sum::<usize>();
            if best.is_none_or(|(_, p, s)| score(lcp, lcs) > score(p, s)) {
                best = Some((seq, lcp, lcs));
            }
            // The newest body of the role usually shares the most: comparing older ones
            // (each a `memcmp` as long as the body) pays only when it shared little.
            if score(lcp, lcs) >= body.len() / 2 {
                break;
            }
        }
        best
    }

    /// Grows every reference into the new bytes around it while the bytes equal those
    /// around its target, keeping new-byte runs on character boundaries, and merges
    /// references that then touch. Returns the bytes the references cover.
    fn extend_refs(&self, body: &[u8], parts: &mut Vec<Part>) -> usize {
        for i in 0..parts.len() {
            let Part::Ref(mut loc) = parts[i] else {
                continue;
            };
            let Some(target) = self.kept_body(loc.seq) else {
                continue;
            };
            if let Some(Part::New { start, end }) = parts.get(i + 1).copied() {
                let from = loc.offset + loc.len;
                let mut n =
                    common_prefix(&body[start..end], target.get(from..).unwrap_or_default());
                while n > 0 && start + n < end && is_continuation(body[start + n]) {
                    n -= 1;
                }
                loc.len += n;
                parts[i + 1] = Part::New {
                    start: start + n,
                    end,
                };
            }
            if let Some(Part::New { start, end }) = i.checked_sub(1).map(|j| parts[j]) {
                let mut n = common_suffix(&body[start..end], &target[..loc.offset]);
                while n > 0 && end - n > start && is_continuation(body[end - n]) {
                    n -= 1;
                }
                loc.offset -= n;
                loc.len += n;
                parts[i - 1] = Part::New {
                    start,
                    end: end - n,
                };
            }
            parts[i] = Part::Ref(loc);
        }
        parts.retain(|p| !matches!(p, Part::New { start, end } if start == end));
        let mut merged: Vec<Part> = Vec::with_capacity(parts.len());
        for part in parts.drain(..) {
            match (merged.last_mut(), part) {
                (Some(Part::Ref(a)), Part::Ref(b))
                    if a.seq == b.seq && a.offset + a.len == b.offset =>
                {
                    a.len += b.len;
                }
                _ => merged.push(part),
            }
        }
        *parts = merged;
        parts
            .iter()
            .map(|p| match p {
                Part::Ref(loc) => loc.len,
                Part::New { .. } => 0,
            })
            .sum()
    }

    /// What the writer does with a record whose text needs no check, to be written as
    /// `seq`: plans it, writes its v2 form into `out` if it chose that form (returned), and
    /// keeps its body. The importer's path (its bodies are compact JSON it serialized), and
    /// tests' of readers.
    pub(crate) fn encode_and_keep(&mut self, seq: u64, record: &[u8], out: &mut Vec<u8>) -> bool {
        let mut plan = Plan::default();
        let Some(range) = self.plan(record, &mut plan) else {
            return false;
        };
        let encoded = self.encode(record, &mut plan, out);
        self.keep_copy(seq, &plan, &record[range], Vec::new());
        encoded
    }

    /// Bytes the store holds now (bodies' buffers and marks).
    #[cfg(test)]
    fn held_bytes(&self) -> usize {
        self.kept_bytes
    }
}

/// Where the next anchor is tried from `from`: the next place a JSON value (an object, an
/// array, a string after a colon) starts, or `end`.
fn next_anchor(body: &[u8], from: usize, end: usize) -> usize {
    let mut i = from;
    while i < end {
        match body[i] {
            b'{' | b'[' => return i,
            b'"' if i > 0 && body[i - 1] == b':' => return i,
            _ => i += 1,
        }
    }
    end
}

fn is_continuation(b: u8) -> bool {
    (b & 0xc0) == 0x80
}

/// Appends the v2 form of a payload record: its `head` (up to, not including, `,"body":`),
/// `len` and `parts`. Returns `false`, with `out` as it was, when a run of new bytes is not
/// UTF-8 (the layer never writes such a body): the record is then kept whole.
fn write_parts(head: &[u8], body: &[u8], parts: &[Part], out: &mut Vec<u8>) -> bool {
    let mark = out.len();
    out.extend_from_slice(head);
    out.extend_from_slice(b",\"len\":");
    push_u64(out, body.len() as u64);
    out.extend_from_slice(b",\"parts\":[");
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        match *part {
            Part::New { start, end } => {
                let Ok(text) = std::str::from_utf8(&body[start..end]) else {
                    out.truncate(mark);
                    return false;
                };
                out.push(b'"');
                push_escaped(out, text);
                out.push(b'"');
            }
            Part::Ref(loc) => {
                out.push(b'[');
                push_u64(out, loc.seq);
                out.push(b',');
                push_u64(out, loc.offset as u64);
                out.push(b',');
                push_u64(out, loc.len as u64);
                out.push(b']');
            }
        }
    }
    out.extend_from_slice(b"]}");
    true
}

/// How many leading bytes `a` and `b` share: compared 16 KiB at a time (one `memcmp`
/// each), then 64 bytes, then bytewise.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let mut i = 0;
    for step in [16 * 1024, 64, 1] {
        while i + step <= n && a[i..i + step] == b[i..i + step] {
            i += step;
        }
    }
    i
}

/// How many trailing bytes `a` and `b` share.
fn common_suffix(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let (a, b) = (&a[a.len() - n..], &b[b.len() - n..]);
    let mut i = 0;
    for step in [16 * 1024, 64, 1] {
        while i + step <= n && a[n - i - step..n - i] == b[n - i - step..n - i] {
            i += step;
        }
    }
    i
}

/// The raw (escaped) role of a payload head: the bytes between `"role":"` and the next `"`
/// that is not escaped (a key for the store only, never decoded).
fn role_of(head: &[u8]) -> &[u8] {
    const ROLE: &[u8] = b",\"role\":\"";
    let Some(at) = memchr::memchr_iter(b',', head).find(|&i| head[i..].starts_with(ROLE)) else {
        return b"";
    };
    let rest = &head[at + ROLE.len()..];
    let mut i = 0;
    while i < rest.len() && rest[i] != b'"' {
        i += if rest[i] == b'\\' { 2 } else { 1 };
    }
    &rest[..i.min(rest.len())]
}

/// Splits a `payload` record body into its head (from `"type":"payload"` up to, not
/// including, `,"body":`) and the range of its body (the JSON value before the closing `}`,
/// without the whitespace around it).
fn split_payload(record: &[u8]) -> Option<(&[u8], Range<usize>)> {
    const TYPE: &[u8] = b"\"type\":\"payload\"";
    const BODY: &[u8] = b",\"body\":";
    if !record.starts_with(TYPE) || record.last() != Some(&b'}') {
        return None;
    }
    // Before `body` come only numbers and escaped strings, in which `,"` cannot occur: the
    // first `,"body":` is the key (a few commas in, so no searcher is built for it).
    let at = memchr::memchr_iter(b',', record).find(|&i| record[i..].starts_with(BODY))?;
    // A `&str` payload is copied as given, whitespace around the value included; readers see
    // the value without it (`RawValue`), so offsets and lengths are of the trimmed value.
    let mut start = at + BODY.len();
    let mut end = record.len() - 1;
    while start < end && record[start].is_ascii_whitespace() {
        start += 1;
    }
    while end > start && record[end - 1].is_ascii_whitespace() {
        end -= 1;
    }
    Some((&record[..at], start..end))
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
