//! Format v2's payload store, reader side: turns a body stored as `parts` (references to
//! earlier bodies plus new bytes) back into the whole body, byte for byte.
//!
//! Invariant: memory is bounded in bytes whatever the bundle: recent bodies are kept in a
//! cache of at most [`CACHE_BYTES`], and a reference to a body no longer cached is resolved
//! by reading that record again from `trace.jsonl` (a positioned read of one line), range by
//! range with an explicit stack — never recursion, never the whole file. A reference must
//! name an earlier payload record, so resolution always terminates; anything that does not
//! add up (a range outside its body, a length that does not match `len`) is an error, never
//! a guess. Time is bounded too: a body is at most [`MAX_BODY_BYTES`], its expansion at most
//! [`MAX_EXPAND_WORK_PER_BODY`] of work, and a bundle's at most [`EXPAND_WORK_ALLOWANCE`] +
//! [`EXPAND_WORK_PER_BYTE_READ`] per byte read; past a limit the body is left out
//! ([`ExpandError::Limit`]), never half expanded, and earlier lines are re-read from the file
//! handle being read, never from whatever the path names by then.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};

use serde::de::{Deserialize, Deserializer, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::deep::with_record;
use super::open::open_regular;
use super::store::MIN_BODY;
use super::RecordBody;

/// Bytes of decoded bodies kept for later references (the writer refers to where bytes were
/// last written, so in practice only the last few bodies are ever asked for).
pub(crate) const CACHE_BYTES: usize = 16 << 20;

/// The largest body a reader expands from `parts` (bytes): a record whose `len` says more is
/// left out, with a [`ReadDiagnostic`](super::ReadDiagnostic). The same as the longest line a
/// reader reads.
pub const MAX_BODY_BYTES: u64 = super::MAX_LINE_BYTES;
/// Work one body may cost a reader, at most: bytes copied into it, bytes of earlier lines
/// read again to resolve its references, and [`REFERENCE_WORK`] per reference followed.
/// 1 GiB (8 MiB for the fuzzer, as every limit here is scaled down for it).
pub const MAX_EXPAND_WORK_PER_BODY: u64 = if cfg!(fuzzing) { 8 << 20 } else { 1 << 30 };
/// Work all the bodies of a bundle may cost a reader together, at most: this allowance
/// (256 MiB; 2 MiB for the fuzzer) ...
pub const EXPAND_WORK_ALLOWANCE: u64 = if cfg!(fuzzing) { 2 << 20 } else { 256 << 20 };
/// ... plus this many bytes of work per byte of `trace.jsonl` read so far (real bundles
/// expand to a few dozen times their size).
pub const EXPAND_WORK_PER_BYTE_READ: u64 = 1024;
/// The work counted for following one reference, whatever it copies (a chain of references
/// that copy nothing still costs its steps).
pub const REFERENCE_WORK: u64 = 64;

/// Why a body stored as `parts` was not expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ExpandError {
    /// The record does not add up (a reference forward or outside its body, a length that
    /// does not match): the bundle is damaged, and that is an error.
    Invalid(String),
    /// Expanding it would pass a reader's limit ([`MAX_BODY_BYTES`], the work limits): the
    /// body is left out with a diagnostic naming the record, and the rest is read.
    Limit(String),
}

#[cfg(test)]
impl ExpandError {
    /// What went wrong, naming the record.
    pub(crate) fn message(&self) -> &str {
        match self {
            ExpandError::Invalid(m) | ExpandError::Limit(m) => m,
        }
    }
}

impl From<String> for ExpandError {
    fn from(message: String) -> ExpandError {
        ExpandError::Invalid(message)
    }
}

/// Work done on one body, against its limit.
#[derive(Debug)]
struct Meter {
    seq: u64,
    work: u64,
    limit: u64,
    /// The limit is the bundle's remaining allowance, not the per-body one.
    bundle_bound: bool,
}

impl Meter {
    fn add(&mut self, work: u64) -> Result<(), ExpandError> {
        self.work = self.work.saturating_add(work);
        if self.work <= self.limit {
            return Ok(());
        }
        let what = if self.bundle_bound {
            format!(
                "the bundle's bodies have cost the {EXPAND_WORK_ALLOWANCE} bytes + {EXPAND_WORK_PER_BYTE_READ} per byte read that a reader spends expanding them"
            )
        } else {
            format!("expanding it costs more than the {MAX_EXPAND_WORK_PER_BODY} bytes of work a reader spends on one body")
        };
        Err(ExpandError::Limit(format!(
            "payload {} left out: {what}",
            self.seq
        )))
    }
}

/// One element of `parts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WirePart<'a> {
    /// New bytes, as text.
    New(Cow<'a, str>),
    /// `[seq, offset, len]`: bytes `offset..offset + len` of payload record `seq`'s body.
    Ref { seq: u64, offset: u64, len: u64 },
}

impl<'de: 'a, 'a> Deserialize<'de> for WirePart<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PartVisitor;
        impl<'de> Visitor<'de> for PartVisitor {
            type Value = WirePart<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or [seq, offset, len]")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(WirePart::New(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(WirePart::New(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(WirePart::New(Cow::Owned(v)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut next = || -> Result<u64, A::Error> {
                    seq.next_element()?
                        .ok_or_else(|| serde::de::Error::custom("a reference has 3 numbers"))
                };
                let (s, offset, len) = (next()?, next()?, next()?);
                if seq.next_element::<serde::de::IgnoredAny>()?.is_some() {
                    return Err(serde::de::Error::custom("a reference has 3 numbers"));
                }
                Ok(WirePart::Ref {
                    seq: s,
                    offset,
                    len,
                })
            }
        }
        deserializer.deserialize_any(PartVisitor)
    }
}

/// Parses a `parts` array.
pub(crate) fn parse_parts(parts: &RawValue) -> Result<Vec<WirePart<'_>>, String> {
    serde_json::from_str(parts.get()).map_err(|e| format!("invalid `parts`: {e}"))
}

/// A stretch of a v2 body that its `parts` store as a reference: bytes `at..at + len` of the
/// body are bytes `offset..offset + len` of payload record `seq`'s body. A reader that
/// already read that body can reuse what it found there (the reducer's item memo does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shared {
    /// Where the stretch starts in the body being decoded.
    pub(crate) at: u64,
    /// The earlier payload record it is taken from.
    pub(crate) seq: u64,
    /// Where it starts in that record's body.
    pub(crate) offset: u64,
    /// Its length in bytes.
    pub(crate) len: u64,
}

/// The references of a `parts` array, each with where it lands in the decoded body (the
/// references themselves, not what they resolve to). Checks nothing [`Expander::expand`]
/// does not: call it on parts that expanded.
pub(crate) fn shared_ranges(parts: &RawValue) -> Result<Vec<Shared>, String> {
    let mut at = 0u64;
    let mut shared = Vec::new();
    for part in parse_parts(parts)? {
        match part {
            WirePart::New(text) => at = at.saturating_add(text.len() as u64),
            WirePart::Ref { seq, offset, len } => {
                shared.push(Shared {
                    at,
                    seq,
                    offset,
                    len,
                });
                at = at.saturating_add(len);
            }
        }
    }
    Ok(shared)
}

/// Checks that payload `seq` refers to `target`, an earlier record (which is what makes
/// resolution terminate).
fn earlier(seq: u64, target: u64) -> Result<(), String> {
    if target >= seq {
        return Err(format!(
            "payload {seq} refers to seq {target}, which is not an earlier record"
        ));
    }
    Ok(())
}

/// Decodes v2 bodies of one `trace.jsonl`, fed its payload records in file order.
#[derive(Debug)]
pub(crate) struct Expander {
    path: PathBuf,
    file: Option<File>,
    /// Where each payload record seen so far lies in the file: seq → (offset, length).
    lines: HashMap<u64, (u64, u64)>,
    cache: HashMap<u64, String>,
    /// Buffers of bodies evicted from the cache, reused for the next bodies decoded.
    spare: Vec<String>,
    order: VecDeque<u64>,
    cached_bytes: usize,
    cache_limit: usize,
    /// Bytes of `trace.jsonl` seen so far (the end of the last line remembered).
    seen_bytes: u64,
    /// Work spent on all bodies so far.
    work: u64,
    /// A line was skipped (too long): a reference to a record no line gave is to that one,
    /// and leaves its body out rather than failing the bundle.
    skipped: bool,
    /// The last whole body read again during one expansion (too big for the cache: its
    /// references would otherwise read it again each).
    reread: Option<(u64, String)>,
}

/// A piece of the body being assembled, on the resolution stack.
enum Task<'a> {
    Bytes(Cow<'a, str>),
    /// A range of record `seq`'s body, asked for by a record after `seq`.
    Range {
        seq: u64,
        offset: u64,
        len: u64,
    },
}

impl Expander {
    /// A decoder for the bundle log at `path` (opened only if a reference needs a record
    /// that is no longer cached).
    pub(crate) fn new(path: &Path) -> Expander {
        Expander::with_cache(path, CACHE_BYTES)
    }

    pub(crate) fn with_cache(path: &Path, cache_limit: usize) -> Expander {
        Expander {
            path: path.to_path_buf(),
            file: None,
            lines: HashMap::new(),
            cache: HashMap::new(),
            spare: Vec::new(),
            order: VecDeque::new(),
            cached_bytes: 0,
            cache_limit,
            seen_bytes: 0,
            work: 0,
            reread: None,
            skipped: false,
        }
    }

    /// Notes that the reader skipped a line (see [`ExpandError::Limit`]).
    pub(crate) fn skipped_a_line(&mut self) {
        self.skipped = true;
    }

    /// Notes that payload record `seq` is the line at `offset`, `len` bytes long, without
    /// keeping its body (one left out): references to it read it again, within the limits.
    pub(crate) fn note_line(&mut self, seq: u64, offset: u64, len: u64) {
        self.lines.insert(seq, (offset, len));
        self.seen_bytes = self.seen_bytes.max(offset + len + 1);
    }

    /// Re-reads earlier lines from `file` (a handle on the file being read) instead of
    /// opening the path again: a path swapped for something else after it was opened is
    /// never read.
    pub(crate) fn read_from(&mut self, file: Option<File>) {
        // Elsewhere than unix a re-read moves the shared position: keep opening the path.
        if cfg!(unix) && file.is_some() {
            self.file = file;
        }
    }

    /// Notes that payload record `seq` is the line at `offset`, `len` bytes long (without
    /// its newline), and keeps its decoded `body` for references that follow.
    pub(crate) fn remember(&mut self, seq: u64, offset: u64, len: u64, body: &str) {
        self.note_line(seq, offset, len);
        self.cache_body(seq, body);
    }

    /// Like [`Expander::remember`] for a body [`Expander::expand`] returned: it moves into
    /// the cache instead of being copied.
    pub(crate) fn remember_decoded(&mut self, seq: u64, offset: u64, len: u64, body: String) {
        self.note_line(seq, offset, len);
        if body.len() < MIN_BODY || body.len() > self.cache_limit {
            self.spare.push(body);
            return;
        }
        self.make_room(body.len());
        self.cached_bytes += body.len();
        self.order.push_back(seq);
        self.cache.insert(seq, body);
    }

    fn cache_body(&mut self, seq: u64, body: &str) {
        if body.len() < MIN_BODY || body.len() > self.cache_limit {
            return;
        }
        self.make_room(body.len());
        let mut copy = self.spare.pop().unwrap_or_default();
        copy.clear();
        copy.push_str(body);
        self.cached_bytes += body.len();
        self.order.push_back(seq);
        self.cache.insert(seq, copy);
    }

    fn make_room(&mut self, len: usize) {
        while self.cached_bytes + len > self.cache_limit {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some(b) = self.cache.remove(&old) {
                self.cached_bytes -= b.len();
                if self.spare.len() < 4 {
                    self.spare.push(b);
                }
            }
        }
    }

    /// The whole body of payload record `seq`, stored as `parts` with decoded length `len`,
    /// within the limits ([`MAX_BODY_BYTES`], the work limits).
    pub(crate) fn expand(
        &mut self,
        seq: u64,
        len: u64,
        parts: &RawValue,
    ) -> Result<String, ExpandError> {
        if len > MAX_BODY_BYTES {
            return Err(ExpandError::Limit(format!(
                "payload {seq} left out: its body would be {len} bytes, more than the {MAX_BODY_BYTES} a reader expands"
            )));
        }
        let allowed = EXPAND_WORK_ALLOWANCE
            .saturating_add(EXPAND_WORK_PER_BYTE_READ.saturating_mul(self.seen_bytes))
            .saturating_sub(self.work);
        let mut meter = Meter {
            seq,
            work: 0,
            limit: allowed.min(MAX_EXPAND_WORK_PER_BODY),
            bundle_bound: allowed < MAX_EXPAND_WORK_PER_BODY,
        };
        let result = self.assemble(seq, len, parts, &mut meter);
        self.work = self.work.saturating_add(meter.work);
        self.reread = None;
        result
    }

    fn assemble(
        &mut self,
        seq: u64,
        len: u64,
        parts: &RawValue,
        meter: &mut Meter,
    ) -> Result<String, ExpandError> {
        let parts = parse_parts(parts)?;
        let mut out = self.spare.pop().unwrap_or_default();
        out.clear();
        // `len` comes from the file: reserve what a real body needs at most up front.
        out.reserve(usize::try_from(len).unwrap_or(0).min(CACHE_BYTES));
        let mut stack: Vec<Task<'_>> = Vec::with_capacity(parts.len());
        for part in parts.into_iter().rev() {
            stack.push(match part {
                WirePart::New(text) => Task::Bytes(text),
                WirePart::Ref {
                    seq: s,
                    offset,
                    len,
                } => {
                    earlier(seq, s)?;
                    Task::Range {
                        seq: s,
                        offset,
                        len,
                    }
                }
            });
        }
        while let Some(task) = stack.pop() {
            match task {
                Task::Bytes(text) => {
                    meter.add(text.len() as u64)?;
                    out.push_str(&text);
                }
                Task::Range {
                    seq: s,
                    offset,
                    len,
                } => {
                    meter.add(REFERENCE_WORK)?;
                    self.resolve(s, offset, len, &mut out, &mut stack, meter)?;
                }
            }
            // Stop as soon as the body outgrows what `len` says (a damaged file could
            // otherwise ask for far more than any body holds).
            if out.len() as u64 > len {
                return Err(ExpandError::Invalid(format!(
                    "payload {seq} decodes to more than the {len} bytes `len` says"
                )));
            }
        }
        if out.len() as u64 != len {
            return Err(ExpandError::Invalid(format!(
                "payload {seq} decodes to {} bytes, but `len` says {len}",
                out.len()
            )));
        }
        Ok(out)
    }

    /// Appends bytes `offset..offset + len` of record `seq`'s body to `out` if it is cached
    /// or stored whole; otherwise pushes the pieces of that range onto `stack`.
    fn resolve(
        &mut self,
        seq: u64,
        offset: u64,
        len: u64,
        out: &mut String,
        stack: &mut Vec<Task<'_>>,
        meter: &mut Meter,
    ) -> Result<(), ExpandError> {
        let range = |body_len: usize| -> Result<std::ops::Range<usize>, String> {
            let end = offset.checked_add(len).filter(|&e| e <= body_len as u64);
            match end {
                Some(end) => Ok(offset as usize..end as usize),
                None => Err(format!(
                    "a reference to bytes {offset}..{} of payload {seq} lies outside its {body_len} bytes",
                    offset.saturating_add(len)
                )),
            }
        };
        let cached = match &self.reread {
            Some((s, body)) if *s == seq => Some(body),
            _ => self.cache.get(&seq),
        };
        if let Some(body) = cached {
            let r = range(body.len())?;
            let piece = body
                .get(r)
                .ok_or_else(|| format!("a reference into payload {seq} splits a character"))?;
            meter.add(piece.len() as u64)?;
            out.push_str(piece);
            return Ok(());
        }
        let text = self.read_line(seq, meter)?;
        let resolved = with_record(&text, false, |record, exact_body| match record.body {
            RecordBody::Payload { .. } => {
                let body = exact_body.unwrap_or("null");
                let piece = body
                    .get(range(body.len())?)
                    .ok_or_else(|| format!("a reference into payload {seq} splits a character"))?;
                meter.add(piece.len() as u64)?;
                out.push_str(piece);
                if body.len() > self.cache_limit {
                    self.reread = Some((seq, body.to_owned()));
                } else {
                    self.cache_body(seq, body);
                }
                Ok(())
            }
            RecordBody::PayloadParts {
                len: body_len,
                parts,
                ..
            } => {
                range(usize::try_from(body_len).unwrap_or(usize::MAX))?;
                // The pieces of `parts` that overlap the range, in order, pushed in reverse.
                let mut pieces = Vec::new();
                let (want_start, want_end) = (offset, offset + len);
                let mut at = 0u64;
                for part in parse_parts(parts)? {
                    let part_len = match &part {
                        WirePart::New(text) => text.len() as u64,
                        WirePart::Ref { len, .. } => *len,
                    };
                    let Some(end) = at.checked_add(part_len) else {
                        return Err(ExpandError::Invalid(format!(
                            "the parts of payload {seq} add up to more bytes than can be counted"
                        )));
                    };
                    let start = at;
                    at = end;
                    if end <= want_start || start >= want_end {
                        continue;
                    }
                    let (from, to) = (want_start.max(start) - start, want_end.min(end) - start);
                    pieces.push(match part {
                        WirePart::New(text) => {
                            let piece = text.get(from as usize..to as usize).ok_or_else(|| {
                                format!("a reference into payload {seq} splits a character")
                            })?;
                            Task::Bytes(Cow::Owned(piece.to_owned()))
                        }
                        WirePart::Ref {
                            seq: s, offset: o, ..
                        } => {
                            earlier(seq, s)?;
                            Task::Range {
                                seq: s,
                                offset: o.checked_add(from).ok_or_else(|| {
                                    format!("a reference in payload {seq} points past any body")
                                })?,
                                len: to - from,
                            }
                        }
                    });
                }
                stack.extend(pieces.into_iter().rev());
                Ok(())
            }
            _ => Err(ExpandError::Invalid(format!(
                "a reference names seq {seq}, which is not a payload"
            ))),
        });
        match resolved {
            Ok(Some(done)) => done,
            Ok(None) => Err(ExpandError::Invalid(format!("re-read payload {seq}: torn"))),
            Err(e) => Err(ExpandError::Invalid(format!("re-read payload {seq}: {e}"))),
        }
    }

    /// Reads the line of payload record `seq` again.
    fn read_line(&mut self, seq: u64, meter: &mut Meter) -> Result<String, ExpandError> {
        let Some(&(offset, len)) = self.lines.get(&seq) else {
            let message =
                format!("a reference names seq {seq}, which is not an earlier payload record");
            return Err(if self.skipped {
                ExpandError::Limit(format!("{message} (a line was skipped)"))
            } else {
                ExpandError::Invalid(message)
            });
        };
        meter.add(len)?;
        let path = self.path.display().to_string();
        let io = |e: std::io::Error| format!("re-read {path}: {e}");
        if self.file.is_none() {
            self.file = Some(open_regular(&self.path, None).map_err(io)?);
        }
        let Some(file) = self.file.as_mut() else {
            return Err(ExpandError::Invalid(format!(
                "re-read {}",
                self.path.display()
            )));
        };
        let mut buf = vec![0u8; usize::try_from(len).map_err(|e| e.to_string())?];
        read_at(file, offset, &mut buf).map_err(io)?;
        String::from_utf8(buf)
            .map_err(|e| ExpandError::Invalid(format!("re-read payload {seq}: {e}")))
    }
}

/// Reads `buf.len()` bytes at `offset` without moving the file's position where the platform
/// allows (the handle may be shared with the line reader).
fn read_at(file: &mut File, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileExt;
        file.read_exact_at(buf, offset)
    }
    #[cfg(not(unix))]
    {
        use std::io::{Read, Seek, SeekFrom};
        file.seek(SeekFrom::Start(offset))?;
        file.read_exact(buf)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::format::Record;
    use crate::format::{encode_envelope, PayloadStore};

    /// Writes `bodies` as payload records 1, 2, … (encoded by the writer's store when
    /// `dedup`), returns the file's lines.
    fn write_log(path: &Path, bodies: &[String]) -> Vec<String> {
        let mut store = PayloadStore::default();
        let mut file = Vec::new();
        let mut lines = Vec::new();
        for (i, body) in bodies.iter().enumerate() {
            let seq = i as u64 + 1;
            let record = format!(
                "\"type\":\"payload\",\"span\":1,\"role\":\"request\",\"bytes\":{},\"body\":{body}}}",
                body.len()
            );
            let mut encoded = Vec::new();
            if !store.encode_and_keep(seq, record.as_bytes(), &mut encoded) {
                encoded = record.into_bytes();
            }
            let mut line = Vec::new();
            encode_envelope(&mut line, seq, 0, 0);
            line.extend_from_slice(&encoded);
            lines.push(String::from_utf8(line.clone()).unwrap());
            file.extend_from_slice(&line);
            file.push(b'\n');
        }
        std::fs::write(path, file).unwrap();
        lines
    }

    fn decode_all(path: &Path, lines: &[String], cache: usize) -> Vec<String> {
        let mut expander = Expander::with_cache(path, cache);
        let mut offset = 0u64;
        let mut out = Vec::new();
        for line in lines {
            let record = Record::parse(line).unwrap();
            let body = match record.body {
                RecordBody::Payload { body, .. } => body.get().to_owned(),
                RecordBody::PayloadParts { len, parts, .. } => {
                    expander.expand(record.seq, len, parts).unwrap()
                }
                _ => unreachable!(),
            };
            expander.remember(record.seq, offset, line.len() as u64, &body);
            offset += line.len() as u64 + 1;
            out.push(body);
        }
        out
    }

    /// A growing conversation with edits in the middle: chains of references many records
    /// deep decode the same with the default cache and with no cache at all (every
    /// reference re-read from the file).
    #[test]
    fn long_reference_chains_decode_alike_with_a_warm_and_a_cold_cache() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trace.jsonl");
        let mut items: Vec<String> = Vec::new();
        let mut bodies = Vec::new();
        for i in 0..80 {
            items.push(format!(
                "turn {i}: {}",
                "lorem ipsum é dolor \" sit ".repeat(10 + i % 7)
            ));
            if i % 9 == 4 {
                items[i / 2] = format!("edited {i}");
            }
            bodies.push(serde_json::to_string(&serde_json::json!({ "input": items })).unwrap());
        }
        let lines = write_log(&path, &bodies);
        let stored = lines.iter().filter(|l| l.contains("\"parts\"")).count();
        assert!(stored > 70, "{stored} bodies stored as parts");
        assert_eq!(decode_all(&path, &lines, CACHE_BYTES), bodies);
        assert_eq!(decode_all(&path, &lines, 0), bodies);
    }

    /// The example in the format docs decodes to the body it claims.
    #[test]
    fn the_documented_example_decodes() {
        let docs = include_str!("mod.rs");
        let example: Vec<&str> = docs
            .lines()
            .filter(|l| {
                l.starts_with("//! {\"seq\":6,") && l.contains("\"bytes\":36,")
                    || l.starts_with("//! {\"seq\":9,") && l.contains("\"parts\"")
            })
            .map(|l| &l[4..])
            .collect();
        assert_eq!(example.len(), 2);
        let dir = tempfile::tempdir().unwrap();
        let mut expander = Expander::new(&dir.path().join("trace.jsonl"));
        let first = Record::parse(example[0]).unwrap();
        let RecordBody::Payload { body, .. } = first.body else {
            panic!("first is whole")
        };
        // Short bodies are not cached: give it to the cold path through a file.
        std::fs::write(dir.path().join("trace.jsonl"), format!("{}\n", example[0])).unwrap();
        expander.remember(6, 0, example[0].len() as u64, body.get());
        let second = Record::parse(example[1]).unwrap();
        let RecordBody::PayloadParts { head, len, parts } = second.body else {
            panic!("second is parts")
        };
        let whole = expander.expand(9, len, parts).unwrap();
        assert_eq!(whole.len() as u64, head.bytes);
        assert_eq!(
            whole,
            r#"{"input":[{"role":"user","c":"hi"},{"role":"assistant","c":"hello"}]}"#
        );
    }

    /// Found by the fuzzer: a stored record whose parts' lengths add up past `u64::MAX`,
    /// read again to resolve a later reference, was an arithmetic overflow (a panic in a
    /// debug build); it is an error naming the record.
    #[test]
    fn parts_whose_lengths_overflow_are_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trace.jsonl");
        let body = "x".repeat(300);
        let whole = format!("{{\"seq\":1,\"t\":0,\"ns\":0,\"type\":\"payload\",\"span\":1,\"role\":\"r\",\"bytes\":302,\"body\":\"{body}\"}}");
        let huge = u64::MAX / 2 + 1;
        let parts = format!("{{\"seq\":2,\"t\":0,\"ns\":0,\"type\":\"payload\",\"span\":1,\"role\":\"r\",\"bytes\":10,\"len\":10,\"parts\":[[1,0,{huge}],[1,0,{huge}],[1,{huge},5]]}}");
        std::fs::write(&path, format!("{whole}\n{parts}\n")).unwrap();
        let mut expander = Expander::new(&path);
        expander.remember(1, 0, whole.len() as u64, &format!("\"{body}\""));
        expander.note_line(2, whole.len() as u64 + 1, parts.len() as u64);
        let raw = serde_json::from_str::<Box<RawValue>>("[[2,0,10]]").unwrap();
        let e = expander.expand(3, 10, &raw).unwrap_err();
        assert!(matches!(e, ExpandError::Invalid(_)), "{e:?}");
    }

    #[test]
    fn a_reference_forward_or_outside_its_body_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trace.jsonl");
        let body = "x".repeat(300);
        let line = format!("{{\"seq\":1,\"t\":0,\"ns\":0,\"type\":\"payload\",\"span\":1,\"role\":\"r\",\"bytes\":302,\"body\":\"{body}\"}}");
        std::fs::write(&path, format!("{line}\n")).unwrap();
        let mut expander = Expander::new(&path);
        expander.remember(1, 0, line.len() as u64, &format!("\"{body}\""));
        let parts = |s: &str| serde_json::from_str::<Box<RawValue>>(s).unwrap();
        let e = expander.expand(2, 10, &parts("[[2,0,10]]")).unwrap_err();
        let e = e.message();
        assert!(e.contains("not an earlier record"), "{e}");
        let e = expander.expand(2, 10, &parts("[[1,295,10]]")).unwrap_err();
        let e = e.message();
        assert!(e.contains("outside"), "{e}");
        let e = expander.expand(2, 11, &parts("[[1,0,10]]")).unwrap_err();
        let e = e.message();
        assert!(e.contains("`len` says 11"), "{e}");
        // A damaged record asking for far more than its `len` stops at the first excess.
        let many = format!("[{}]", vec!["[1,0,300]"; 100_000].join(","));
        let e = expander.expand(2, 5, &parts(&many)).unwrap_err();
        let e = e.message();
        assert!(e.contains("more than the 5 bytes"), "{e}");
        assert_eq!(
            expander.expand(2, 12, &parts("[[1,0,10],\"ab\"]")).unwrap(),
            format!("\"{}ab", "x".repeat(9))
        );
    }
}
