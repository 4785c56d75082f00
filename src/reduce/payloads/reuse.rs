//! What the memo's shallow parse found in recent bodies, reused for the bytes a format-v2 body
//! takes from them by reference: an element of an earlier body's item list that a reference
//! copies whole is not read again, byte by byte, in the body that copies it.
//!
//! Invariant: reuse never changes a result. A copied element is replaced by the placeholder
//! `0` in a shorter text that the ordinary shallow parse reads ([`Compressed`]), so everything
//! else is checked exactly as before, and the element is taken back only if that parse met
//! every placeholder as a whole element of a top-level item list — where the element stood in
//! the earlier body, at the same depth; otherwise the body is parsed whole. A copied element
//! then goes through the memo like any other (only its hash, and the entry that holds its
//! text, are known already: that entry is never compared with it again), so what it parses
//! to is what a fresh parse gives. Tables are kept for the last few bodies, bounded in
//! elements.
//!
//! Imports only the bottom (`object.rs`) and the format's [`Shared`]; `memo.rs` drives it.

use std::collections::VecDeque;

use super::object::Element;
use crate::format::Shared;

/// Most bodies whose tables are kept.
const MAX_TABLES: usize = 16;

/// Elements kept over all tables: at least this many, and four times the largest table.
const MIN_TABLE_ELEMENTS: usize = 1 << 16;

/// Where a body's bytes came from, for reuse: its payload record, and the stretches its
/// `parts` took from earlier bodies by reference (none for a body stored whole).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Origin<'r> {
    /// The payload record's seq (references to this body name it).
    pub(crate) seq: u64,
    /// The body's references, in order.
    pub(crate) shared: &'r [Shared],
}

/// One element of a body's top-level item lists: its byte range, its hash, and the memo
/// entry that holds its text (if it went through the memo).
#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
    hash: u64,
    entry: Option<u64>,
}

/// The elements of recent bodies' item lists, by the body's seq.
#[derive(Debug, Default)]
pub(super) struct Tables {
    tables: VecDeque<(u64, Vec<Span>)>,
    elements: usize,
    largest: usize,
}

/// An element a reference copies whole: where it lands in the new body, its hash, and the
/// memo entry that holds its text.
#[derive(Debug, Clone, Copy)]
pub(super) struct Copied {
    at: usize,
    len: usize,
    hash: u64,
    entry: Option<u64>,
}

impl Tables {
    /// Remembers the elements of the body `seq`: those of its item lists (borrowed from
    /// `body`), each with the memo entry holding its text.
    pub(super) fn remember<'e, 'b: 'e>(
        &mut self,
        seq: u64,
        body: &'b str,
        elements: impl Iterator<Item = (&'e Element<'b>, Option<u64>)>,
    ) {
        let base = body.as_ptr() as usize;
        let mut spans: Vec<Span> = elements
            .map(|(element, entry)| {
                let start = element.text.as_ptr() as usize - base;
                Span {
                    start,
                    end: start + element.text.len(),
                    hash: element.hash,
                    entry,
                }
            })
            .collect();
        spans.sort_unstable_by_key(|span| span.start);
        self.largest = self.largest.max(spans.len());
        self.elements += spans.len();
        self.tables.push_back((seq, spans));
        let budget = MIN_TABLE_ELEMENTS.max(4 * self.largest);
        while self.tables.len() > MAX_TABLES || self.elements > budget {
            match self.tables.pop_front() {
                Some((_, old)) => self.elements -= old.len(),
                None => break,
            }
        }
    }

    /// The elements of remembered bodies that `shared` copies whole, in body order.
    pub(super) fn copied(&self, shared: &[Shared]) -> Vec<Copied> {
        let mut copied = Vec::new();
        for stretch in shared {
            let Some((_, spans)) = self.tables.iter().rev().find(|(s, _)| *s == stretch.seq) else {
                continue;
            };
            let (Ok(at), Ok(offset), Ok(len)) = (
                usize::try_from(stretch.at),
                usize::try_from(stretch.offset),
                usize::try_from(stretch.len),
            ) else {
                continue;
            };
            let end = offset.saturating_add(len);
            let first = spans.partition_point(|span| span.start < offset);
            for span in spans[first..].iter().take_while(|span| span.end <= end) {
                copied.push(Copied {
                    at: at + (span.start - offset),
                    len: span.end - span.start,
                    hash: span.hash,
                    entry: span.entry,
                });
            }
        }
        copied
    }
}

/// A body with the elements it copies replaced by `0`, and how its offsets map back.
#[derive(Debug)]
pub(super) struct Compressed {
    /// The shorter text.
    pub(super) text: String,
    /// Each stretch of `text` copied from the body: (where it starts in `text`, where in the
    /// body), ascending.
    gaps: Vec<(usize, usize)>,
    /// Where each placeholder stands in `text`, ascending (one per copied element).
    placeholders: Vec<usize>,
}

/// What stands at an offset of a [`Compressed`] text.
pub(super) enum Found {
    /// Copied element number `i` (its placeholder).
    Placeholder(usize),
    /// Bytes of the body, from this offset of it.
    Body(usize),
}

impl Compressed {
    /// `body` with each of `copied` (in body order, not overlapping) replaced by `0`.
    pub(super) fn new(body: &str, copied: &[Copied]) -> Option<Compressed> {
        let kept = body
            .len()
            .checked_sub(copied.iter().map(|c| c.len).sum::<usize>())?;
        let mut text = String::with_capacity(kept + copied.len());
        let mut gaps = Vec::with_capacity(copied.len() + 1);
        let mut placeholders = Vec::with_capacity(copied.len());
        let mut at = 0;
        for element in copied {
            gaps.push((text.len(), at));
            text.push_str(body.get(at..element.at)?);
            placeholders.push(text.len());
            text.push('0');
            at = element.at + element.len;
        }
        gaps.push((text.len(), at));
        text.push_str(body.get(at..)?);
        Some(Compressed {
            text,
            gaps,
            placeholders,
        })
    }

    /// What stands at byte `offset` of the compressed text. `cursor` (start it at
    /// `(0, 0)`) makes a walk through ascending offsets cost one step each; an offset
    /// before the last one asked about starts it again.
    pub(super) fn find(&self, offset: usize, cursor: &mut (usize, usize)) -> Found {
        let passed = cursor
            .0
            .checked_sub(1)
            .and_then(|p| self.placeholders.get(p))
            .is_some_and(|&at| at >= offset);
        if passed || self.gaps.get(cursor.1).is_some_and(|g| g.0 > offset) {
            *cursor = (0, 0);
        }
        let (placeholder, gap) = cursor;
        while self
            .placeholders
            .get(*placeholder)
            .is_some_and(|&at| at < offset)
        {
            *placeholder += 1;
        }
        if self.placeholders.get(*placeholder) == Some(&offset) {
            return Found::Placeholder(*placeholder);
        }
        while self.gaps.get(*gap + 1).is_some_and(|g| g.0 <= offset) {
            *gap += 1;
        }
        let (start, body_start) = self.gaps[*gap];
        Found::Body(body_start + (offset - start))
    }

    /// How many placeholders there are.
    pub(super) fn placeholders(&self) -> usize {
        self.placeholders.len()
    }
}

impl Copied {
    /// The memo entry that holds the element's text, if known.
    pub(super) fn entry(&self) -> Option<u64> {
        self.entry
    }

    /// The element in `body`.
    pub(super) fn element<'b>(&self, body: &'b str) -> Option<Element<'b>> {
        Some(Element {
            text: body.get(self.at..self.at + self.len)?,
            hash: self.hash,
        })
    }
}
