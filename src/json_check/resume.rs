//! Resuming the validator where an earlier text left off: [`Mark`]s of its state after a
//! value, and [`Jump`]s over bytes equal to bytes of a text already validated, so bytes that
//! a payload body repeats from an earlier one are not validated again.
//!
//! Invariant: a jump is taken only where the walk's own state (the open containers, after a
//! value ending at that byte) equals the state marked there in the earlier text, and lands
//! where that text's walk was, in the state marked there. The walk is deterministic and its
//! state after a value depends only on the bytes before it, so from equal states over equal
//! bytes it reaches equal states: a text is accepted with jumps exactly when it is accepted
//! from its first byte. What a caller vouches for when it builds a jump: the earlier text was
//! validated (the marks are its walk's), its line breaks were already replaced (so the bytes
//! jumped over hold none), and the bytes are equal from the jump's start through the byte
//! just after the landing mark (a number ends only at a byte that is not part of it).

/// Bytes of text between two marks the walk records (at least).
pub(crate) const MARK_GAP: usize = 256;

/// The walk's state right after a value that ends before byte `at`: the open containers,
/// outermost first, at most 64 deep (bit `k` of `objects`: the `k`-th is an object).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Mark {
    pub(crate) at: usize,
    objects: u64,
    depth: u8,
}

impl Mark {
    /// The mark of `open` after a value ending before `at`; `None` deeper than 64.
    fn of(at: usize, open: &[u8]) -> Option<Mark> {
        if open.len() > 64 {
            return None;
        }
        let mut objects = 0u64;
        for (k, &c) in open.iter().enumerate() {
            objects |= u64::from(c == b'{') << k;
        }
        Some(Mark {
            at,
            objects,
            depth: open.len() as u8,
        })
    }

    /// Whether `open` is the state of this mark.
    fn matches(&self, open: &[u8]) -> bool {
        Mark::of(self.at, open).is_some_and(|m| m == *self)
    }

    /// Sets `open` to this mark's containers.
    pub(super) fn restore(&self, open: &mut Vec<u8>) {
        open.clear();
        open.extend((0..self.depth).map(|k| {
            if self.objects >> k & 1 == 1 {
                b'{'
            } else {
                b'['
            }
        }));
    }

    fn shifted(self, shift: isize) -> Mark {
        Mark {
            at: self.at.wrapping_add_signed(shift),
            ..self
        }
    }
}

/// A jump over bytes this text shares with an earlier, validated one: `marks` are that
/// text's marks from the one where the jump starts to the one where it lands, inclusive
/// (at least two), and byte `x` there is byte `x + shift` here.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Jump<'a> {
    pub(crate) marks: &'a [Mark],
    pub(crate) shift: isize,
}

impl Jump<'_> {
    fn from(&self) -> Option<Mark> {
        Some(self.marks.first()?.shifted(self.shift))
    }
}

/// What the walk tells, and asks, at value ends (see [`super::walk`]).
pub(super) trait Hooks {
    /// The first position from which [`Hooks::after_value`] wants to be called.
    fn watch(&self) -> usize;
    /// Called after a value that ends before `i`, if `i` is at least [`Hooks::watch`]; may
    /// move `i` and set the open containers (a jump).
    fn after_value(&mut self, i: &mut usize, open: &mut Vec<u8>);
}

/// No marks, no jumps: the plain validator.
pub(super) struct Plain;

impl Hooks for Plain {
    #[inline(always)]
    fn watch(&self) -> usize {
        usize::MAX
    }

    fn after_value(&mut self, _: &mut usize, _: &mut Vec<u8>) {}
}

/// Takes jumps where the state allows and records marks every [`MARK_GAP`] bytes or more.
struct Tracker<'a, 'm> {
    jumps: &'a [Jump<'a>],
    next: usize,
    marks: Option<&'m mut Vec<Mark>>,
    next_mark: usize,
    /// [`MARK_GAP`], or less in tests.
    gap: usize,
}

impl Hooks for Tracker<'_, '_> {
    fn watch(&self) -> usize {
        let jump = self
            .jumps
            .get(self.next)
            .and_then(Jump::from)
            .map_or(usize::MAX, |m| m.at);
        jump.min(self.next_mark)
    }

    fn after_value(&mut self, i: &mut usize, open: &mut Vec<u8>) {
        while self
            .jumps
            .get(self.next)
            .and_then(Jump::from)
            .is_some_and(|m| m.at < *i)
        {
            self.next += 1;
        }
        if let Some(jump) = self.jumps.get(self.next) {
            let to = jump.marks.last().map(|m| m.shifted(jump.shift));
            if let (Some(from), Some(to)) = (jump.from(), to) {
                if from.at == *i && to.at > from.at && from.matches(open) {
                    self.next += 1;
                    *i = to.at;
                    to.restore(open);
                    if let Some(marks) = self.marks.as_mut() {
                        marks.extend(jump.marks[1..].iter().map(|m| m.shifted(jump.shift)));
                        self.next_mark = to.at + self.gap;
                    }
                    return;
                }
            }
        }
        if *i >= self.next_mark {
            if let Some(marks) = self.marks.as_mut() {
                marks.extend(Mark::of(*i, open));
            }
            self.next_mark = *i + self.gap;
        }
    }
}

/// [`valid_json_has_line_breaks`](super::valid_json_has_line_breaks) of `text`, resumed:
/// `start` (an earlier text's marks from its first up to the one to start after, which
/// `text` shares every byte before, and the byte after) begins the walk at its last mark;
/// `jumps` (sorted by where they start) skip shared bytes where the state allows. When
/// `marks` is given, it receives this text's marks (for a later text to resume from).
pub(crate) fn valid_json_resuming(
    text: &[u8],
    start: Option<&[Mark]>,
    jumps: &[Jump<'_>],
    mut marks: Option<&mut Vec<Mark>>,
) -> Option<bool> {
    let start_mark = start.and_then(<[Mark]>::last).copied();
    if let (Some(start), Some(marks)) = (start, marks.as_mut()) {
        marks.extend_from_slice(start);
    }
    let next_mark = match (&marks, start_mark) {
        (None, _) => usize::MAX,
        (Some(_), Some(m)) => m.at + MARK_GAP,
        (Some(_), None) => MARK_GAP,
    };
    let mut tracker = Tracker {
        jumps,
        next: 0,
        marks,
        next_mark,
        gap: MARK_GAP,
    };
    super::walk(text, start_mark, &mut tracker)
}

/// The marks of a walk of valid `text` after every value (not one in [`MARK_GAP`] bytes),
/// so tests can put a jump's ends on any value end.
#[cfg(test)]
pub(crate) fn marks_after_every_value(text: &[u8]) -> Vec<Mark> {
    let mut marks = Vec::new();
    let mut tracker = Tracker {
        jumps: &[],
        next: 0,
        marks: Some(&mut marks),
        next_mark: 0,
        gap: 0,
    };
    super::walk(text, None, &mut tracker);
    marks
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::json_check::valid_json_has_line_breaks;

    fn marks_of(text: &str) -> Vec<Mark> {
        let mut marks = Vec::new();
        assert_eq!(
            valid_json_resuming(text.as_bytes(), None, &[], Some(&mut marks)),
            Some(false)
        );
        marks
    }

    fn items(n: std::ops::Range<usize>) -> Vec<String> {
        n.map(|i| {
            format!(
                r#"{{"role":"user","content":[{{"text":"item {i} {}"}}]}}"#,
                "w".repeat(90)
            )
        })
        .collect()
    }

    /// A text that repeats an earlier one's first bytes starts after its last mark within
    /// them, and agrees with the walk from byte 0 whatever follows (valid or not).
    #[test]
    fn a_text_resumed_from_a_shared_prefix_is_judged_as_from_its_first_byte() {
        let first = format!(r#"{{"input":[{}],"model":"m"}}"#, items(0..40).join(","));
        let marks = marks_of(&first);
        assert!(marks.len() > 10, "{} marks", marks.len());
        let shared = format!(r#"{{"input":[{}"#, items(0..40).join(","));
        for tail in [
            r#"],"model":"m"}"#,
            r#",{"x":1}],"model":"m"}"#,
            r#",{"x":1]],"model":"m"}"#,
            r#"],"model":"m"}}"#,
            "]",
            r#",1.5e3,"s",null],"n":[]}"#,
        ] {
            let text = format!("{shared}{tail}");
            let last = marks.iter().rposition(|m| m.at < shared.len()).unwrap();
            let mut mine = Vec::new();
            let resumed =
                valid_json_resuming(text.as_bytes(), Some(&marks[..=last]), &[], Some(&mut mine));
            assert_eq!(
                resumed,
                valid_json_has_line_breaks(text.as_bytes()),
                "{tail}"
            );
            if resumed.is_some() {
                assert_eq!(mine[..=last], marks[..=last]);
            }
        }
    }

    /// A window that slid (first items dropped, new ones appended) jumps over the items it
    /// shares and carries their marks over; where the state differs the jump is not taken.
    /// (A byte broken inside the shared items shows whether it was: a jump skips it.)
    #[test]
    fn a_slid_window_jumps_over_the_items_it_shares_only_from_an_equal_state() {
        let before = format!(r#"{{"input":[{}]}}"#, items(0..30).join(","));
        let marks = marks_of(&before);
        let item = items(5..6).remove(0);
        let t = before.find(&item).unwrap();
        let shared_end = before.len() - 2;
        let first = marks.iter().position(|m| m.at > t).unwrap();
        let last = marks.iter().rposition(|m| m.at < shared_end).unwrap();
        let middle = (marks[first].at + marks[last].at) / 2;
        let broken = |text: &str, at: usize| {
            let mut bytes = text.as_bytes().to_vec();
            bytes[at] = b'"';
            bytes
        };
        for (wrap, open, close) in [(0, "", ""), (1, "[", "]")] {
            let after = format!(r#"{{"input":[{open}{}]{close}}}"#, items(5..40).join(","));
            let s = after.find(&item).unwrap();
            let shift = s as isize - t as isize;
            let jump = Jump {
                marks: &marks[first..=last],
                shift,
            };
            let mut mine = Vec::new();
            let got = valid_json_resuming(after.as_bytes(), None, &[jump], Some(&mut mine));
            assert_eq!(got, Some(false));
            let bad = broken(&after, middle.wrapping_add_signed(shift));
            let got = valid_json_resuming(&bad, None, &[jump], None);
            if wrap == 0 {
                assert_eq!(got, Some(false), "the jump is taken");
                for m in &marks[first + 1..=last] {
                    assert!(mine.contains(&m.shifted(shift)), "carried {m:?}");
                }
            } else {
                assert_eq!(got, None, "no jump from another state");
            }
        }
    }

    #[test]
    fn marks_round_trip_their_containers() {
        let mut open = b"{[{{[".to_vec();
        let mark = Mark::of(7, &open).unwrap();
        let mut back = Vec::new();
        mark.restore(&mut back);
        assert_eq!(back, open);
        assert!(mark.matches(&open));
        open.push(b'[');
        assert!(!mark.matches(&open));
        assert!(Mark::of(0, &[b'['; 65]).is_none());
    }
}
