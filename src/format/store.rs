//! Format v2's payload store, writer side: a payload body becomes references to byte ranges
//! of earlier payload bodies of the same bundle plus the bytes that are new (the wire form is
//! specified in the [format docs](super#payload-bodies-in-format_version-2)).
//!
//! Invariant: a reference produced here names only a payload record this bundle already
//! wrote (a smaller `seq`), and only a range whose bytes equal the bytes it stands for, up to
//! a collision of a 128-bit keyed SipHash (keys drawn per process, so no input can choose a
//! collision). The index behind it is bounded in bytes; when it forgets a chunk, that chunk
//! is simply written again — dedup is lost, never correctness. Runs on the writer thread only,
//! after redaction, so an index entry can only ever point at redacted bytes that are on disk.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};

use super::{push_escaped, push_u64};

/// Bodies shorter than this are written whole: one chunk could not be shared profitably.
pub(crate) const MIN_BODY: usize = 256;
/// Chunks are at least this long (except a body's last) ...
const MIN_CHUNK: usize = 128;
/// ... at most this long ...
const MAX_CHUNK: usize = 4096;
/// ... and a cut is taken where the gear hash's top 6 bits are zero: chunks average
/// `MIN_CHUNK` + 64 bytes.
const CUT_MASK: u64 = 0x3f << 58;

/// Bytes the index of one bundle may hold: two generations of at most half this each (see
/// [`Index::insert`]).
pub(crate) const INDEX_BYTES: usize = 8 << 20;
/// Bytes of recent bodies kept whole, so a reference can be extended byte by byte past the
/// chunk it matched (a request that appends to the previous one shares everything up to the
/// new bytes, not up to the last chunk boundary before them).
pub(crate) const RECENT_BYTES: usize = 4 << 20;
/// What one index entry may cost at worst: a table slot is 41 bytes (key 16, value 24,
/// control byte 1) and a table grown to a power of two is, just after growing, not much more
/// than half full.
const ENTRY_BYTES: usize = 96;
/// Bytes of one table slot.
#[cfg(test)]
const SLOT_BYTES: usize = 16 + 24 + 1;

/// The gear table: one pseudo-random word per byte value (splitmix64, fixed seed, so chunk
/// boundaries are the same in every process and every version).
const GEAR: [u64; 256] = {
    let mut table = [0u64; 256];
    let mut state: u64 = 0x7261_6365_726f_6c6c;
    let mut i = 0;
    while i < 256 {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        table[i] = z ^ (z >> 31);
        i += 1;
    }
    table
};

/// The end of the chunk that starts at `start`: a content-defined cut (gear rolling hash),
/// moved forward to a UTF-8 character boundary so every chunk — and so every run of new
/// bytes — is valid UTF-8 on its own.
fn chunk_end(data: &[u8], start: usize) -> usize {
    let end = data.len().min(start + MAX_CHUNK);
    if end - start <= MIN_CHUNK {
        return end;
    }
    // The hash's top bits depend on the last 64 bytes only: roll the 64 bytes before the
    // first place a cut is allowed without testing, then test every byte.
    let first = start + MIN_CHUNK;
    let mut hash = 0u64;
    for &b in &data[first.saturating_sub(64).max(start)..first] {
        hash = (hash << 1).wrapping_add(GEAR[usize::from(b)]);
    }
    let mut cut = end;
    for (i, &b) in data[first..end].iter().enumerate() {
        hash = (hash << 1).wrapping_add(GEAR[usize::from(b)]);
        if hash & CUT_MASK == 0 {
            cut = first + i;
            break;
        }
    }
    while cut < data.len() && (data[cut] & 0xc0) == 0x80 {
        cut += 1;
    }
    cut
}

/// Where the bytes of a chunk were last written: payload record `seq`, bytes
/// `offset..offset + len` of its (decoded) body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Loc {
    seq: u64,
    offset: u64,
    len: u64,
    /// Id of the role of the body written there (see [`RoleBodies::id`]); only the
    /// heuristic of which roles are worth chunking reads it.
    role: u32,
}

/// The keys of the chunk digests, drawn once per writer.
#[derive(Debug, Clone, Default)]
pub(crate) struct Keys {
    a: RandomState,
    b: RandomState,
}

impl Keys {
    fn digest(&self, chunk: &[u8]) -> u128 {
        let one = |state: &RandomState| {
            let mut h = state.build_hasher();
            h.write(chunk);
            h.write_usize(chunk.len());
            h.finish()
        };
        u128::from(one(&self.a)) << 64 | u128::from(one(&self.b))
    }
}

/// Digests are keyed SipHash already: the table uses their low bits as they are.
#[derive(Debug, Default)]
struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u128(&mut self, n: u128) {
        self.0 = n as u64;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type DigestMap = HashMap<u128, Loc, BuildHasherDefault<DigestHasher>>;

/// Chunk digest → where those bytes were last written, for one bundle, bounded in bytes.
///
/// Two generations: inserts go to `young`; when it is full, `old` is dropped and `young`
/// becomes `old`. A hit in `old` is re-inserted into `young`, so chunks still in use survive
/// (an LRU approximation at one hash-table operation per chunk).
#[derive(Debug)]
pub(crate) struct Index {
    keys: Keys,
    young: DigestMap,
    old: DigestMap,
    /// Entries one generation may hold.
    generation: usize,
    /// Chunks of the body being encoded, inserted once it is encoded (a record refers only
    /// to earlier records, never to itself).
    pending: Vec<(u128, Loc)>,
    /// The last bodies encoded, newest last, at most [`RECENT_BYTES`] in all.
    recent: std::collections::VecDeque<(u64, Vec<u8>)>,
    recent_bytes: usize,
    /// Role (as written, escaped) → the last [`CANDIDATES`] bodies of that role.
    by_role: HashMap<Vec<u8>, RoleBodies>,
    /// By role id: whether a later body ever referred to bytes of a body of that role.
    referenced: Vec<bool>,
}

/// One piece of an encoded body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    /// New bytes: `start..end` of the body.
    New { start: usize, end: usize },
    /// Bytes of an earlier body.
    Ref(Loc),
}

impl Index {
    pub(crate) fn new(keys: Keys) -> Index {
        Index::with_bytes(keys, INDEX_BYTES)
    }

    fn with_bytes(keys: Keys, bytes: usize) -> Index {
        Index {
            keys,
            young: DigestMap::default(),
            old: DigestMap::default(),
            generation: (bytes / 2 / ENTRY_BYTES).max(1),
            pending: Vec::new(),
            recent: std::collections::VecDeque::new(),
            recent_bytes: 0,
            by_role: HashMap::new(),
            referenced: Vec::new(),
        }
    }

    /// Bytes the index's tables hold now (their slots, used or not).
    #[cfg(test)]
    fn held_bytes(&self) -> usize {
        // A table of capacity c has c * 8 / 7 slots (at least c + 1).
        let slots = |c: usize| if c == 0 { 0 } else { (c * 8 / 7).max(c + 1) };
        (slots(self.young.capacity()) + slots(self.old.capacity())) * SLOT_BYTES
    }

    fn get(&mut self, digest: u128) -> Option<Loc> {
        if let Some(loc) = self.young.get(&digest) {
            return Some(*loc);
        }
        let loc = self.old.remove(&digest)?;
        self.insert(digest, loc);
        Some(loc)
    }

    fn insert(&mut self, digest: u128, loc: Loc) {
        if self.young.len() >= self.generation && !self.young.contains_key(&digest) {
            self.old = std::mem::take(&mut self.young);
            self.young.reserve(self.generation.min(1 << 12));
        }
        self.young.insert(digest, loc);
    }

    /// Encodes `record`, the body of a `payload` record (from `"type":"payload"` to its
    /// closing `}`, body last), that will be written as record `seq`, into `out` in the v2
    /// form, and remembers its chunks. Returns `false` (and leaves `out` untouched) when the
    /// record is better written as it is: not a payload, a short body, nothing shared.
    pub(crate) fn encode(&mut self, seq: u64, record: &[u8], out: &mut Vec<u8>) -> bool {
        let Some((head, body)) = split_payload(record) else {
            return false;
        };
        if body.len() < MIN_BODY {
            return false;
        }
        let mut plan = Plan {
            parts: Vec::new(),
            shared: 0,
            start: 0,
            middle_end: body.len(),
            suffix: None,
        };
        self.pending.clear();
        let role = role_of(head);
        let role_id = self.role_id(role);
        let referenced = self
            .referenced
            .get(role_id as usize)
            .copied()
            .unwrap_or(true);
        let (anchor_due, chunk_due) = match self.by_role.get_mut(role) {
            Some(entry) => (entry.try_anchor(), entry.try_chunks(referenced)),
            None => (true, true),
        };
        let anchor_hit = self.share_with_previous(role, role_id, body, anchor_due, &mut plan);
        if let (Some(hit), Some(r)) = (anchor_hit, self.by_role.get_mut(role)) {
            r.misses = if hit { 0 } else { r.misses.saturating_add(1) };
        }
        // Bodies of a role chunked many times whose bytes nothing ever referred to get only
        // the fast path: what it leaves is written as new bytes, unchunked.
        if !chunk_due && plan.start < plan.middle_end {
            plan.parts.push(Part::New {
                start: plan.start,
                end: plan.middle_end,
            });
            plan.start = plan.middle_end;
        }
        self.share_chunks(seq, role_id, body, &mut plan);
        if let Some(loc) = plan.suffix {
            plan.shared += loc.len as usize;
            plan.parts.push(Part::Ref(loc));
        }
        let pending = std::mem::take(&mut self.pending);
        for &(digest, loc) in &pending {
            self.insert(digest, loc);
        }
        self.pending = pending;
        plan.shared += self.extend_refs(body, &mut plan.parts);
        self.remember(seq, role, body);
        // A reference costs ~20 bytes and escaping new bytes a few percent: sharing less than
        // this is not worth leaving the whole-body form.
        if plan.shared < MIN_CHUNK {
            return false;
        }
        write_parts(head, body, &plan.parts, out)
    }

    /// The fast path: a request usually repeats an earlier body of its role (the thread's
    /// previous request) up to the bytes that are new; comparing costs a memcmp, where
    /// chunking costs a hash per byte. Shares the longest prefix and suffix with the best of
    /// the last bodies of `role`, and, when the prefix left most of the body unshared, one
    /// run found by an anchor search (a window that slid). Only the rest is chunked. Returns
    /// whether the anchor search found a run, if it ran.
    fn share_with_previous(
        &self,
        role: &[u8],
        role_id: u32,
        body: &[u8],
        anchor_due: bool,
        plan: &mut Plan,
    ) -> Option<bool> {
        let (prev_seq, lcp, lcs) = self.best_overlap(role, body)?;
        let prev = self.recent_body(prev_seq).unwrap_or_default();
        let reference = |offset: usize, len: usize| {
            Part::Ref(Loc {
                seq: prev_seq,
                offset: offset as u64,
                len: len as u64,
                role: role_id,
            })
        };
        if lcp >= MIN_CHUNK {
            plan.shared += lcp;
            plan.start = lcp;
            plan.parts.push(reference(0, lcp));
        }
        if lcs >= MIN_CHUNK {
            plan.middle_end -= lcs;
            plan.suffix = Some(Loc {
                seq: prev_seq,
                offset: (prev.len() - lcs) as u64,
                len: lcs as u64,
                role: role_id,
            });
        }
        // The anchor starts where the bodies differ (`lcp` is on a character boundary).
        let from = lcp;
        if !(anchor_due && lcp < body.len() / 2 && plan.middle_end >= from + ANCHOR + MIN_CHUNK) {
            return None;
        }
        let Some((at, run)) = slid_run(prev, body, from, plan.middle_end) else {
            return Some(false);
        };
        if run < MIN_CHUNK {
            return Some(false);
        }
        if from > plan.start {
            plan.parts.push(Part::New {
                start: plan.start,
                end: from,
            });
        }
        plan.shared += run;
        plan.parts.push(reference(at, run));
        plan.start = from + run;
        Some(true)
    }

    /// Cuts what is left of the body (`plan.start..plan.middle_end`) into content-defined
    /// chunks and refers to where each was last written, if the index still knows; every
    /// chunk is noted as pending, to be indexed once the body is encoded.
    fn share_chunks(&mut self, seq: u64, role_id: u32, body: &[u8], plan: &mut Plan) {
        while plan.start < plan.middle_end {
            let start = plan.start;
            let end = chunk_end(&body[..plan.middle_end], start);
            let chunk = &body[start..end];
            let digest = self.keys.digest(chunk);
            let len = chunk.len() as u64;
            match self
                .get(digest)
                .filter(|loc| loc.len == len && loc.seq < seq)
            {
                Some(loc) => {
                    plan.shared += chunk.len();
                    if let Some(referenced) = self.referenced.get_mut(loc.role as usize) {
                        *referenced = true;
                    }
                    match plan.parts.last_mut() {
                        Some(Part::Ref(last))
                            if last.seq == loc.seq && last.offset + last.len == loc.offset =>
                        {
                            last.len += len;
                        }
                        _ => plan.parts.push(Part::Ref(loc)),
                    }
                }
                None => match plan.parts.last_mut() {
                    Some(Part::New { end: last_end, .. }) => *last_end = end,
                    _ => plan.parts.push(Part::New { start, end }),
                },
            }
            self.pending.push((
                digest,
                Loc {
                    seq,
                    offset: start as u64,
                    len,
                    role: role_id,
                },
            ));
            plan.start = end;
        }
    }
}

/// A body's encoding in progress: its pieces so far, how many of its bytes they share, and
/// what is left to encode (`start..middle_end`, then `suffix`).
struct Plan {
    parts: Vec<Part>,
    shared: usize,
    start: usize,
    middle_end: usize,
    suffix: Option<Loc>,
}

/// Where in `prev` the bytes of `body` from `from` (up to `middle_end`) continue longest:
/// the anchor, `body`'s next [`ANCHOR`] bytes (to a character boundary), is looked for at its
/// first [`ANCHOR_TRIES`] occurrences in `prev` (a short anchor may also occur where the
/// bytes soon differ). Returns where (`at`) and how long the run is (on a character
/// boundary), or `None` if the anchor does not occur.
fn slid_run(prev: &[u8], body: &[u8], from: usize, middle_end: usize) -> Option<(usize, usize)> {
    let mut anchor_end = from + ANCHOR;
    while anchor_end < body.len() && (body[anchor_end] & 0xc0) == 0x80 {
        anchor_end += 1;
    }
    let anchor = &body[from..anchor_end];
    let mut best: Option<(usize, usize)> = None;
    let mut search = 0;
    for _ in 0..ANCHOR_TRIES {
        let Some(at) = find(prev.get(search..).unwrap_or_default(), anchor) else {
            break;
        };
        let at = search + at;
        let mut run = common_prefix(&body[from..middle_end], &prev[at..]);
        while run > 0 && from + run < body.len() && (body[from + run] & 0xc0) == 0x80 {
            run -= 1;
        }
        if best.is_none_or(|(_, r)| run > r) {
            best = Some((at, run));
        }
        if from + run == middle_end {
            break;
        }
        search = at + 1;
    }
    best
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
                push_u64(out, loc.offset);
                out.push(b',');
                push_u64(out, loc.len);
                out.push(b']');
            }
        }
    }
    out.extend_from_slice(b"]}");
    true
}

impl Index {
    /// Keeps `body` among the recent bodies, dropping the oldest beyond [`RECENT_BYTES`],
    /// and as one of the last [`CANDIDATES`] bodies of its role.
    fn remember(&mut self, seq: u64, role: &[u8], body: &[u8]) {
        if body.len() > RECENT_BYTES {
            return;
        }
        let mut spare = Vec::new();
        while self.recent_bytes + body.len() > RECENT_BYTES {
            match self.recent.pop_front() {
                Some((_, old)) => {
                    self.recent_bytes -= old.len();
                    spare = old;
                }
                None => break,
            }
        }
        spare.clear();
        spare.extend_from_slice(body);
        self.recent_bytes += body.len();
        self.recent.push_back((seq, spare));
        if let Some(entry) = self.by_role.get_mut(role) {
            if entry.seqs.len() >= CANDIDATES {
                entry.seqs.remove(0);
            }
            entry.seqs.push(seq);
        }
    }

    /// The id of `role`'s entry, made on first use; past [`MAX_ROLES`] roles every entry is
    /// forgotten.
    fn role_id(&mut self, role: &[u8]) -> u32 {
        if let Some(entry) = self.by_role.get(role) {
            return entry.id;
        }
        {
            if self.by_role.len() >= MAX_ROLES {
                self.by_role.clear();
                self.referenced.clear();
            }
            let id = self.referenced.len() as u32;
            self.referenced.push(false);
            self.by_role.insert(
                role.to_vec(),
                RoleBodies {
                    id,
                    ..RoleBodies::default()
                },
            );
            id
        }
    }

    /// Of the last bodies of `body`'s role still kept, the one sharing the longest prefix
    /// plus suffix with it: its seq, the prefix and the suffix length (on character
    /// boundaries, not overlapping).
    fn best_overlap(&self, role: &[u8], body: &[u8]) -> Option<(u64, usize, usize)> {
        let candidates = &self.by_role.get(role)?.seqs;
        let mut best: Option<(u64, usize, usize)> = None;
        for &seq in candidates.iter().rev() {
            let Some(prev) = self.recent_body(seq) else {
                continue;
            };
            let mut lcp = common_prefix(body, prev);
            while lcp > 0 && lcp < body.len() && (body[lcp] & 0xc0) == 0x80 {
                lcp -= 1;
            }
            let room = body.len().min(prev.len()) - lcp;
            let mut lcs = common_suffix(body, prev).min(room);
            while lcs > 0 && (body[body.len() - lcs] & 0xc0) == 0x80 {
                lcs -= 1;
            }
            if best.is_none_or(|(_, p, s)| lcp + lcs > p + s) {
                best = Some((seq, lcp, lcs));
            }
        }
        best
    }

    /// A recent body by seq (they are kept in seq order: a binary search).
    fn recent_body(&self, seq: u64) -> Option<&[u8]> {
        let i = self.recent.binary_search_by_key(&seq, |(s, _)| *s).ok()?;
        self.recent.get(i).map(|(_, b)| b.as_slice())
    }

    /// Grows every reference into the new bytes around it while the bytes equal those
    /// around its target (when the target is a recent body), keeping new-byte runs on
    /// character boundaries. Returns the bytes moved from new to shared.
    fn extend_refs(&self, body: &[u8], parts: &mut Vec<Part>) -> usize {
        let mut moved = 0;
        for i in 0..parts.len() {
            let Part::Ref(loc) = parts[i] else { continue };
            let Some(target) = self.recent_body(loc.seq) else {
                continue;
            };
            let mut loc = loc;
            // Forward, into the new run that follows.
            if let Some(Part::New { start, end }) = parts.get(i + 1).copied() {
                let from = (loc.offset + loc.len) as usize;
                let mut n = body[start..end]
                    .iter()
                    .zip(target.get(from..).unwrap_or_default())
                    .take_while(|(a, b)| a == b)
                    .count();
                while n > 0 && start + n < end && (body[start + n] & 0xc0) == 0x80 {
                    n -= 1;
                }
                if n > 0 {
                    loc.len += n as u64;
                    moved += n;
                    parts[i + 1] = Part::New {
                        start: start + n,
                        end,
                    };
                }
            }
            // Backward, into the new run before.
            if let Some(Part::New { start, end }) = i.checked_sub(1).map(|j| parts[j]) {
                let before = &target[..loc.offset as usize];
                let mut n = body[start..end]
                    .iter()
                    .rev()
                    .zip(before.iter().rev())
                    .take_while(|(a, b)| a == b)
                    .count();
                while n > 0 && end - n > start && (body[end - n] & 0xc0) == 0x80 {
                    n -= 1;
                }
                if n > 0 {
                    loc.offset -= n as u64;
                    loc.len += n as u64;
                    moved += n;
                    parts[i - 1] = Part::New {
                        start,
                        end: end - n,
                    };
                }
            }
            parts[i] = Part::Ref(loc);
        }
        parts.retain(|p| !matches!(p, Part::New { start, end } if start == end));
        // Neighbours that now touch in the same target become one.
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
        moved
    }
}

/// The last bodies of one role, and how the anchor search fared on them.
#[derive(Debug, Default)]
struct RoleBodies {
    /// Index into `Index::referenced`.
    id: u32,
    seqs: Vec<u64>,
    /// Bodies of this role chunked.
    chunked: u32,
    /// Anchor searches in a row that found nothing (bodies of this role do not slide).
    misses: u32,
    /// Bodies of this role seen.
    count: u32,
}

impl RoleBodies {
    /// Whether to try the anchor search on this role's next body: always while it pays,
    /// then on one body in [`ANCHOR_RETRY`] after [`ANCHOR_MISSES`] misses in a row.
    fn try_anchor(&mut self) -> bool {
        self.count = self.count.wrapping_add(1);
        self.misses < ANCHOR_MISSES || self.count.is_multiple_of(ANCHOR_RETRY)
    }

    /// Whether to chunk this role's next body (and index its chunks): always while its
    /// bytes were ever referred to or it has been chunked fewer than [`CHUNK_TRIAL`] times,
    /// then one body in [`CHUNK_RETRY`], so a role that starts being repeated is found again.
    fn try_chunks(&mut self, referenced: bool) -> bool {
        let due =
            referenced || self.chunked < CHUNK_TRIAL || self.count.is_multiple_of(CHUNK_RETRY);
        if due {
            self.chunked = self.chunked.saturating_add(1);
        }
        due
    }
}

const CHUNK_TRIAL: u32 = 32;
const CHUNK_RETRY: u32 = 8;

const ANCHOR_MISSES: u32 = 4;
const ANCHOR_RETRY: u32 = 16;

/// Bytes of the anchor searched for when a window slid, and how many of its occurrences
/// are tried.
const ANCHOR: usize = 32;
const ANCHOR_TRIES: usize = 16;

/// Where `needle` (not empty) first occurs in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let first = *needle.first()?;
    let mut i = 0;
    while let Some(p) = hay.get(i..)?.iter().position(|&b| b == first) {
        let at = i + p;
        if hay[at..].starts_with(needle) {
            return Some(at);
        }
        i = at + 1;
    }
    None
}

/// Bodies of one role kept as fast-path candidates, and roles tracked.
const CANDIDATES: usize = 4;
const MAX_ROLES: usize = 64;

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
/// that is not escaped (a key for the fast path only, never decoded).
fn role_of(head: &[u8]) -> &[u8] {
    const ROLE: &[u8] = b",\"role\":\"";
    let Some(at) = head.windows(ROLE.len()).position(|w| w == ROLE) else {
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
/// including, `,"body":`) and its body (the JSON value before the closing `}`).
fn split_payload(record: &[u8]) -> Option<(&[u8], &[u8])> {
    const TYPE: &[u8] = b"\"type\":\"payload\"";
    const BODY: &[u8] = b",\"body\":";
    if !record.starts_with(TYPE) || record.last() != Some(&b'}') {
        return None;
    }
    // Before `body` come only numbers and escaped strings, in which `,"` cannot occur: the
    // first `,"body":` is the key.
    let at = record.windows(BODY.len()).position(|w| w == BODY)?;
    // A `&str` payload is copied as given, whitespace around the value included; readers see
    // the value without it (`RawValue`), so offsets and lengths are of the trimmed value.
    let body = record[at + BODY.len()..record.len() - 1].trim_ascii();
    Some((&record[..at], body))
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
