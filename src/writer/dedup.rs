//! The writer thread's path for a record of a bundle with payload dedup (format v2): the
//! payload store plans the body first, then the text the layer left unchecked is checked —
//! resuming the validator over the bytes a kept, validated body shares — then the record is
//! written in the v2 form (or whole) and the body kept for later ones.
//!
//! Invariant: what is written is exactly what the v1 path writes for the record (after the
//! same check), or its v2 form, which readers expand to those bytes; a body is kept (and so
//! can be referred to) only once its record is written.

use std::ops::Range;

use super::check::check_text_body;
use crate::format::{PayloadPlan, PayloadStore};
use crate::json_check::{valid_json_resuming, Jump, Mark};

/// A record's buffer on the writer thread.
pub(super) enum Buf<'a> {
    /// Read only (a short message inside its batch, or a redacted copy).
    Borrowed(&'a [u8]),
    /// A buffer of this thread's, which the check may change; `take`: the store may keep
    /// the buffer itself (a long message's own), instead of copying the body.
    Owned(&'a mut Vec<u8>, bool),
}

impl Buf<'_> {
    pub(super) fn bytes(&self) -> &[u8] {
        match self {
            Buf::Borrowed(b) => b,
            Buf::Owned(b, _) => b,
        }
    }
}

/// The buffers of the dedup path, reused from record to record.
#[derive(Debug, Default)]
pub(super) struct Dedup {
    plan: PayloadPlan,
    marks: Vec<Mark>,
    encoded: Vec<u8>,
}

impl Dedup {
    /// Writes the record that starts at byte `at` of `buf` (in a message, after its
    /// header) with `append`, which writes one line to the bundle whose store is `store` and
    /// returns its seq if it was written. `check`: the offset in `buf` of payload text the
    /// layer left unchecked (0: none; only with an owned buffer).
    pub(super) fn write(
        &mut self,
        store: &mut PayloadStore,
        mut buf: Buf<'_>,
        (at, check): (usize, usize),
        append: impl FnOnce(&[u8]) -> Option<u64>,
    ) {
        let Some(range) = store.plan(&buf.bytes()[at..], &mut self.plan) else {
            if let (Buf::Owned(msg, _), true) = (&mut buf, check != 0) {
                check_text_body(msg, check);
            }
            append(&buf.bytes()[at..]);
            return;
        };
        let body = at + range.start..at + range.end;
        self.marks.clear();
        if check != 0 {
            let Buf::Owned(msg, _) = &mut buf else {
                return;
            };
            if !self.check(store, msg, check, body.clone()) {
                // Not JSON: stored as a JSON string, like v1, and neither shared nor kept.
                check_text_body(msg, check);
                append(&msg[at..]);
                return;
            }
        }
        self.encoded.clear();
        let record = &buf.bytes()[at..];
        let line = if store.encode(record, &mut self.plan, &mut self.encoded) {
            &self.encoded
        } else {
            record
        };
        let Some(seq) = append(line) else {
            return;
        };
        let marks = if self.plan.keep && check != 0 {
            std::mem::take(&mut self.marks)
        } else {
            Vec::new()
        };
        match buf {
            Buf::Owned(msg, true) => store.keep_buffer(seq, &self.plan, msg, body, marks),
            Buf::Owned(msg, false) => store.keep_copy(seq, &self.plan, &msg[body], marks),
            Buf::Borrowed(bytes) => store.keep_copy(seq, &self.plan, &bytes[body], marks),
        }
    }

    /// Checks the unchecked text from `check` to the record's closing `}` whose JSON value
    /// (without the whitespace around it) is `msg[body]`: validates it, jumping over what
    /// the plan shares with validated kept bodies, and turns its raw line breaks into
    /// spaces. Returns `false` when it is not JSON (nothing changed then).
    fn check(
        &mut self,
        store: &PayloadStore,
        msg: &mut [u8],
        check: usize,
        body: Range<usize>,
    ) -> bool {
        let mut start = None;
        let mut jumps: Vec<Jump<'_>> = Vec::new();
        store.jumps(&self.plan, &mut start, &mut jumps);
        let marks = self.plan.keep.then_some(&mut self.marks);
        let Some(breaks) = valid_json_resuming(&msg[body.clone()], start, &jumps, marks) else {
            return false;
        };
        drop(jumps);
        let end = msg.len().saturating_sub(1);
        let around = [check..body.start, body.end..end];
        // The store trims ASCII whitespace; JSON allows only these four around a value.
        let json_space = |b: &u8| matches!(*b, b' ' | b'\t' | b'\n' | b'\r');
        if !around.iter().all(|r| msg[r.clone()].iter().all(json_space)) {
            return false;
        }
        for range in around.into_iter().chain(breaks.then_some(body)) {
            for b in &mut msg[range] {
                if matches!(*b, b'\n' | b'\r') {
                    *b = b' ';
                }
            }
        }
        true
    }
}
