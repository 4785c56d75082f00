//! JSON text checks without a parser: [`valid_json_has_line_breaks`], the exact validator
//! for payload text given as JSON (used on the writer thread), the eight-bytes-at-a-time
//! search for bytes a JSON string cannot hold raw ([`find_special`], shared with the string
//! encoder), and in [`scan`] the one iterative scanner of string and container ends that
//! redaction and the reducer's handling of deep lines use.
//!
//! Invariant: [`is_valid_json`] accepts exactly the texts `serde_json` accepts as one JSON
//! value with optional surrounding whitespace (`serde_json::from_slice::<IgnoredAny>`, the
//! check it replaces); it never panics, never recurses and never reads out of bounds,
//! whatever the bytes.
//!
//! What that means in detail (checked against `serde_json` by the tests below):
//! - RFC 8259 grammar: objects, arrays, strings, numbers
//!   `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, `true`, `false`, `null`; whitespace is
//!   space, tab, `\n` and `\r`; no trailing commas, nothing after the value.
//! - Strings: escapes `\" \\ \/ \b \f \n \r \t \uXXXX`; raw bytes below 0x20 are invalid.
//!   `\u` escapes are not checked for surrogate pairs: `serde_json` ignores a value without
//!   decoding them, so `"\ud800"` is accepted.
//! - No nesting limit: `serde_json` skips an ignored value iteratively, without the
//!   recursion limit it applies when building values (a `Value` nested 128 deep fails). The
//!   reducer reads payload bodies as `RawValue` (also unlimited), so deeply nested bodies
//!   still parse there.
//!
//! How: the grammar is walked one token at a time, with an explicit stack; strings, where
//! payload text spends nearly all its bytes, are searched eight bytes at a time up to their
//! first special byte, and past a backslash scanned 64 bytes at a time as bit masks (`masks`,
//! SSE2 on x86_64), so escapes cost no branch (see `skip_str`). The eight-bytes-at-a-time
//! search is shared with the string encoder.

mod masks;
pub(crate) mod resume;
pub(crate) mod scan;
#[cfg(test)]
mod tests;

use masks::BLOCK;
pub(crate) use resume::{valid_json_resuming, Jump, Mark};

/// Whether `text` is one JSON value, optionally surrounded by whitespace: exactly
/// `serde_json::from_slice::<serde::de::IgnoredAny>(text).is_ok()`, only faster.
///
/// Callers pass the bytes of a `&str`, so UTF-8 is not checked again: bytes of 0x80 and
/// above are accepted inside strings (as `serde_json` does when it ignores a string) and
/// rejected elsewhere. Any bytes are safe to pass: the function never panics.
#[cfg(test)]
pub(crate) fn is_valid_json(text: &[u8]) -> bool {
    valid_json_has_line_breaks(text).is_some()
}

/// [`is_valid_json`], telling more: `None` when `text` is not valid, otherwise whether it
/// holds a raw `\n` or `\r` (in valid JSON these can only be whitespace between tokens), so
/// a caller replacing them need not pass over the text again when there are none.
pub(crate) fn valid_json_has_line_breaks(text: &[u8]) -> Option<bool> {
    walk(text, None, &mut resume::Plain)
}

/// The validator itself, with `hooks` told of every value end at or after the position they
/// watch (see [`resume`]); `start` begins after a value instead of at byte 0.
fn walk<H: resume::Hooks>(b: &[u8], start: Option<Mark>, hooks: &mut H) -> Option<bool> {
    // Open containers, innermost last: `[` or `{`. Nesting lives here, not on the call stack.
    let mut open: Vec<u8> = Vec::new();
    let mut breaks = false;
    let (mut i, mut after_value) = match start {
        Some(mark) => {
            mark.restore(&mut open);
            (mark.at, true)
        }
        None => (skip_ws(b, 0, &mut breaks), false),
    };
    let mut watch = hooks.watch();
    'value: loop {
        if !after_value {
            // A value starts at `i` (whitespace before it already skipped).
            match *b.get(i)? {
                b'"' => i = skip_str(b, i + 1)?,
                b'{' => {
                    i = skip_ws(b, i + 1, &mut breaks);
                    if b.get(i) == Some(&b'}') {
                        i += 1;
                    } else {
                        open.push(b'{');
                        i = skip_key(b, i, &mut breaks)?;
                        continue 'value;
                    }
                }
                b'[' => {
                    i = skip_ws(b, i + 1, &mut breaks);
                    if b.get(i) == Some(&b']') {
                        i += 1;
                    } else {
                        open.push(b'[');
                        continue 'value;
                    }
                }
                b't' => i = skip_literal(b, i, b"true")?,
                b'f' => i = skip_literal(b, i, b"false")?,
                b'n' => i = skip_literal(b, i, b"null")?,
                b'-' | b'0'..=b'9' => i = skip_number(b, i)?,
                _ => return None,
            }
        }
        after_value = false;
        // A value ends before `i`: the next token continues or closes its container.
        loop {
            if i >= watch {
                hooks.after_value(&mut i, &mut open);
                watch = hooks.watch();
            }
            i = skip_ws(b, i, &mut breaks);
            let Some(&frame) = open.last() else {
                return (i == b.len()).then_some(breaks);
            };
            match (*b.get(i)?, frame) {
                (b',', b'[') => {
                    i = skip_ws(b, i + 1, &mut breaks);
                    continue 'value;
                }
                (b',', _) => {
                    i = skip_key(b, skip_ws(b, i + 1, &mut breaks), &mut breaks)?;
                    continue 'value;
                }
                (b']', b'[') | (b'}', b'{') => {
                    open.pop();
                    i += 1;
                }
                _ => return None,
            }
        }
    }
}

/// Index of the first byte at or after `i` that is not JSON whitespace; sets `breaks` if the
/// whitespace holds `\n` or `\r`.
#[inline]
fn skip_ws(b: &[u8], mut i: usize, breaks: &mut bool) -> usize {
    while let Some(&c @ (b' ' | b'\n' | b'\r' | b'\t')) = b.get(i) {
        *breaks |= c == b'\n' || c == b'\r';
        i += 1;
    }
    i
}

/// Skips an object key at `i` (whitespace before it already skipped), the colon and the
/// whitespace around it; returns where the member's value starts.
#[inline]
fn skip_key(b: &[u8], i: usize, breaks: &mut bool) -> Option<usize> {
    if b.get(i) != Some(&b'"') {
        return None;
    }
    let i = skip_ws(b, skip_str(b, i + 1)?, breaks);
    if b.get(i) != Some(&b':') {
        return None;
    }
    Some(skip_ws(b, i + 1, breaks))
}

/// Skips `word` at `i`.
#[inline]
fn skip_literal(b: &[u8], i: usize, word: &[u8]) -> Option<usize> {
    (b.get(i..i + word.len())? == word).then_some(i + word.len())
}

/// Skips a number starting at `i` (a `-` or a digit).
#[inline]
fn skip_number(b: &[u8], mut i: usize) -> Option<usize> {
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    match *b.get(i)? {
        // A leading zero stands alone: a digit after it is left to fail as the next token.
        b'0' => i += 1,
        b'1'..=b'9' => i = skip_digits(b, i + 1),
        _ => return None,
    }
    if b.get(i) == Some(&b'.') {
        i = skip_some_digits(b, i + 1)?;
    }
    if let Some(b'e' | b'E') = b.get(i) {
        i += 1;
        if let Some(b'+' | b'-') = b.get(i) {
            i += 1;
        }
        i = skip_some_digits(b, i)?;
    }
    Some(i)
}

#[inline]
fn skip_digits(b: &[u8], mut i: usize) -> usize {
    while let Some(b'0'..=b'9') = b.get(i) {
        i += 1;
    }
    i
}

/// Skips one or more digits.
#[inline]
fn skip_some_digits(b: &[u8], i: usize) -> Option<usize> {
    let end = skip_digits(b, i);
    (end > i).then_some(end)
}

/// 0x01 in every byte of a `u64`.
const ONES: u64 = u64::MAX / 255;
/// 0x80 in every byte.
const HIGHS: u64 = ONES << 7;

/// Marks (0x80) the bytes of `w` that are `"`, `\` or below 0x20; others may be marked only
/// above a marked byte (borrows move up), so the lowest mark is always a real one.
#[inline(always)]
fn specials(w: u64) -> u64 {
    let quote = w ^ (ONES * u64::from(b'"'));
    let backslash = w ^ (ONES * u64::from(b'\\'));
    let has_control = w.wrapping_sub(ONES * 0x20);
    let has_quote = quote.wrapping_sub(ONES) & !quote;
    let has_backslash = backslash.wrapping_sub(ONES) & !backslash;
    ((has_control & !w) | has_quote | has_backslash) & HIGHS
}

/// The index of the first byte at or after `i` that is `"`, `\\` or below 0x20 — the bytes
/// a JSON string cannot hold raw — or `b.len()` if there is none. Eight bytes at a time;
/// shared by the validator (the start of each string) and the encoder that escapes strings
/// (`format::push_escaped`), which stops at each.
#[inline]
pub(crate) fn find_special(b: &[u8], mut i: usize) -> usize {
    while let Some(chunk) = b.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        // Read little-endian, so the lowest mark is the first byte.
        let marks = specials(u64::from_le_bytes(word));
        if marks != 0 {
            return i + (marks.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while let Some(&c) = b.get(i) {
        if c == b'"' || c == b'\\' || c < 0x20 {
            return i;
        }
        i += 1;
    }
    b.len()
}

/// Skips the rest of a string whose opening quote is before `i`; returns the index after the
/// closing quote.
///
/// Most strings of a payload are keys and short values that end before any escape: the
/// eight-bytes-at-a-time search finds their end at once. A string that goes on past a
/// backslash continues in [`skip_str_blocks`].
fn skip_str(b: &[u8], i: usize) -> Option<usize> {
    let first = find_special(b, i);
    match *b.get(first)? {
        b'"' => Some(first + 1),
        b'\\' => skip_str_blocks(b, first),
        _ => None,
    }
}

/// [`skip_str`] from `i`, which is inside the string and not escaped, 64 bytes at a time as
/// bit masks (see [`masks`]), without stopping at each escape: which bytes a backslash
/// escapes follows from the backslash mask by integer arithmetic (runs of backslashes pair up
/// from their start; simdjson's method), the string ends at the first quote not escaped, and
/// every escaped byte before that end must be an escape letter. Only `\u` escapes, whose
/// four hex digits are checked one by one, cost a branch each.
fn skip_str_blocks(b: &[u8], mut i: usize) -> Option<usize> {
    // Bit 0: the byte at `i` is escaped by a backslash run that ended the previous block.
    let mut carry = 0u64;
    loop {
        let padded;
        let block: &[u8; BLOCK] = match b.get(i..i + BLOCK) {
            Some(block) => block.try_into().ok()?,
            None => {
                // The last bytes, padded with spaces: no string ends in the padding.
                let rest = b.get(i..)?;
                padded = {
                    let mut block = [b' '; BLOCK];
                    block[..rest.len()].copy_from_slice(rest);
                    block
                };
                &padded
            }
        };
        let specials = masks::specials(block);
        if specials.quote | specials.backslash | specials.control | carry == 0 {
            i += BLOCK;
            continue;
        }
        let escaped = escaped(specials.backslash, carry);
        let quote = specials.quote & !escaped;
        let end = quote | specials.control;
        let first_end = end & end.wrapping_neg();
        // The bytes before the end (all of them when the string goes on).
        let inside = first_end.wrapping_sub(1);
        let escaped_inside = escaped & inside;
        let mut unicode = 0;
        if escaped_inside != 0 {
            let escapes = masks::escapes(block);
            if escaped_inside & !escapes.valid != 0 {
                return None;
            }
            unicode = escaped_inside & escapes.unicode;
        }
        while unicode != 0 {
            let at = i + unicode.trailing_zeros() as usize;
            if !b.get(at + 1..at + 5)?.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            unicode &= unicode - 1;
        }
        if end != 0 {
            // A raw control byte ends the scan too, and makes the text invalid.
            return (quote & first_end != 0).then_some(i + first_end.trailing_zeros() as usize + 1);
        }
        // The backslash run at the top of the block (not counting an escaped first byte)
        // escapes the next block's first byte when its length is odd.
        let run = (!(specials.backslash & !carry)).leading_zeros();
        carry = u64::from(run & 1);
        i += BLOCK;
    }
}

/// The bits of the bytes escaped by a backslash, given the block's backslash bits and
/// `carry` (bit 0: the first byte is escaped from the previous block). A run of backslashes
/// pairs up from its start: its odd-numbered members escape the byte after them.
#[inline]
fn escaped(backslash: u64, carry: u64) -> u64 {
    const EVEN: u64 = 0x5555_5555_5555_5555;
    // An escaped backslash starts nothing.
    let backslash = backslash & !carry;
    let follows_backslash = (backslash << 1) | carry;
    let odd_starts = backslash & !EVEN & !follows_backslash;
    // simdjson's branch-free pairing: adding the first bit of each run that starts on an odd
    // bit carries across that run, which switches, for those runs only, the parity of
    // `EVEN` that marks their escaped bytes.
    let even_runs = odd_starts.wrapping_add(backslash);
    (EVEN ^ (even_runs << 1)) & follows_backslash
}
