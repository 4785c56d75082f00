//! A fast validator for payload text given as JSON, used on the writer thread.
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
    let b = text;
    // Open containers, innermost last: `[` or `{`. Nesting lives here, not on the call stack.
    let mut open: Vec<u8> = Vec::new();
    let mut breaks = false;
    let mut i = skip_ws(b, 0, &mut breaks);
    'value: loop {
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
        // A value ends before `i`: the next token continues or closes its container.
        loop {
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

mod masks;
use masks::BLOCK;

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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde::de::IgnoredAny;
    use serde_json::Value;

    /// The lowest mark of `specials` is the first special byte, whatever its neighbours:
    /// every byte value at every position, next to fillers that would carry or borrow.
    #[test]
    fn specials_lowest_mark_is_the_first_special_byte() {
        let is_special = |c: u8| c == b'"' || c == b'\\' || c < 0x20;
        for filler in [0x00, 0x1f, 0x20, 0x21, b'"', b'\\', b'a', 0x7f, 0x80, 0xff] {
            for pos in 0..8 {
                for c in 0..=255u8 {
                    let mut bytes = [filler; 8];
                    bytes[pos] = c;
                    let marks = specials(u64::from_le_bytes(bytes));
                    let first = bytes.iter().position(|&x| is_special(x));
                    let lowest = (marks != 0).then(|| (marks.trailing_zeros() / 8) as usize);
                    assert_eq!(lowest, first, "{bytes:?}");
                }
            }
        }
    }

    fn serde_accepts(text: &[u8]) -> bool {
        serde_json::from_slice::<IgnoredAny>(text).is_ok()
    }

    /// Asserts agreement with `serde_json` (both its `&str` and `&[u8]` entry points).
    fn agrees(text: &str) -> bool {
        let ours = is_valid_json(text.as_bytes());
        let theirs = serde_json::from_str::<IgnoredAny>(text).is_ok();
        assert_eq!(
            ours, theirs,
            "is_valid_json disagrees with serde_json on {text:?}"
        );
        assert_eq!(theirs, serde_accepts(text.as_bytes()));
        let breaks = valid_json_has_line_breaks(text.as_bytes());
        let expected = ours.then(|| text.contains(['\n', '\r']));
        assert_eq!(breaks, expected, "line breaks in {text:?}");
        ours
    }

    #[test]
    fn hand_written_edge_cases_match_serde_json() {
        let cases: &[(&str, bool)] = &[
            ("", false),
            (" \t\r\n", false),
            ("null", true),
            (" \n\ttrue\r ", true),
            ("false", true),
            ("nul", false),
            ("nulll", false),
            ("True", false),
            ("-", false),
            ("-0", true),
            ("0", true),
            ("01", false),
            ("-01", false),
            ("00", false),
            ("1.", false),
            (".5", false),
            ("1.5", true),
            ("-0.0e-0", true),
            ("1e", false),
            ("1e+", false),
            ("1E-7", true),
            ("1e5.5", false),
            ("+1", false),
            ("1 2", false),
            ("0x10", false),
            ("123456789012345678901234567890e999999", true),
            (r#""""#, true),
            (r#"""#, false),
            (r#""abc"#, false),
            (r#""\"#, false),
            (r#""\u00""#, false),
            (r#""\u00e""#, false),
            (r#""\u00e9""#, true),
            (r#""\u00E9\uABCD\uabcd""#, true),
            (r#""\u00g9""#, false),
            (r#""\ud800""#, true),
            (r#""\udc00""#, true),
            (r#""\ud800\udc00""#, true),
            (r#""\"\\\/\b\f\n\r\t""#, true),
            (r#""\a""#, false),
            (r#""\x41""#, false),
            (r#""\'""#, false),
            ("\"a\u{0}b\"", false),
            ("\"a\nb\"", false),
            ("\"a\tb\"", false),
            ("\"a\u{1f}b\"", false),
            ("\"a\u{7f}b\"", true),
            ("\"é😀\"", true),
            ("[]", true),
            ("{}", true),
            ("[ ]", true),
            ("{ }", true),
            ("[,]", false),
            ("[1,]", false),
            ("[1,,2]", false),
            ("[1 2]", false),
            ("[1,2", false),
            ("[", false),
            ("]", false),
            ("[}", false),
            ("{]", false),
            (r#"{"a":1,}"#, false),
            (r#"{"a":1,"b":[true,{"c":null}]}"#, true),
            (r#"{"a"}"#, false),
            (r#"{"a":}"#, false),
            (r#"{"a" 1}"#, false),
            (r#"{a:1}"#, false),
            (r#"{1:1}"#, false),
            (r#"{"a":1 "b":2}"#, false),
            (r#"{"a":1,"a":2}"#, true),
            (r#" { "a" : [ 1 , 2 ] } "#, true),
            ("[1]x", false),
            ("[1] [2]", false),
            ("{}}", false),
            ("null,", false),
            (r#""a" "b""#, false),
            ("truefalse", false),
            ("[truefalse]", false),
            ("1\u{0}", false),
            ("\u{feff}1", false),
            ("\u{a0}1", false),
            ("\u{b}1", false),
            ("// c\n1", false),
            ("NaN", false),
            ("Infinity", false),
            ("-Infinity", false),
        ];
        for &(text, expected) in cases {
            assert_eq!(agrees(text), expected, "{text:?}");
        }
    }

    #[test]
    fn nesting_has_no_limit_like_serde_json_ignoring_a_value() {
        let nested = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        for depth in [1, 127, 128, 129, 130, 1000, 100_000] {
            assert!(agrees(&nested(depth)), "depth {depth}");
            let objects = format!("{}1{}", r#"{"a":"#.repeat(depth), "}".repeat(depth));
            assert!(agrees(&objects), "depth {depth}");
        }
        // Unclosed and mis-closed deep nesting.
        assert!(!agrees(&"[".repeat(100_000)));
        assert!(!agrees(&format!(
            "{}{}",
            "[".repeat(100_000),
            "]".repeat(99_999)
        )));
        assert!(!agrees(&format!(
            "{}{}",
            "[".repeat(100_000),
            "]".repeat(100_001)
        )));
        assert!(!agrees(&format!(
            "{}{}}}",
            "[".repeat(1000),
            "]".repeat(999)
        )));
        // Building a `Value` is limited (127 levels); the reducer reads bodies as raw values,
        // so a deeper body stored as is still parses there.
        assert!(serde_json::from_str::<Value>(&nested(127)).is_ok());
        assert!(serde_json::from_str::<Value>(&nested(128)).is_err());
        let line = format!(
            r#"{{"seq":1,"t":1,"ns":1,"type":"payload","span":1,"role":"r","bytes":1,"body":{}}}"#,
            nested(10_000)
        );
        assert!(crate::format::Record::parse(&line).is_ok());
    }

    #[test]
    fn long_strings_with_a_special_byte_at_every_offset() {
        let specials: &[(&str, bool)] = &[
            (r#"\""#, true),
            (r"\\", true),
            (r"\/", true),
            (r"\n", true),
            (r"\u00e9", true),
            (r"\uD83D\uDE00", true),
            (r"\u12x", false),
            (r"\q", false),
            ("\u{0}", false),
            ("\n", false),
            ("\u{1f}", false),
            ("\u{20}", true),
            ("é", true),
            ("😀", true),
            ("\"", false), // ends the string early: the rest is trailing garbage
        ];
        for &(special, valid) in specials {
            for before in 0..20 {
                for after in [0, 1, 7, 8, 9, 23] {
                    let text = format!("\"{}{special}{}\"", "a".repeat(before), "b".repeat(after));
                    assert_eq!(agrees(&text), valid, "{text:?}");
                    if valid {
                        // Unterminated (the last few bytes go bytewise).
                        assert!(!agrees(&text[..text.len() - 1]), "{text:?}");
                    }
                    let in_array = format!("[{text},{text}]");
                    assert_eq!(agrees(&in_array), valid, "{in_array:?}");
                }
            }
        }
        // Every escape in a row, and one escape per eight-byte chunk at each phase.
        let all = r#"\"\\\/\b\f\n\r\t\u0041"#.repeat(50);
        assert!(agrees(&format!("\"{all}\"")));
        for phase in 0..8 {
            let text = format!("\"{}{}\"", "x".repeat(phase), "abcdef\\n".repeat(100));
            assert!(agrees(&text));
        }
    }

    #[test]
    fn any_bytes_are_safe_and_agree_with_serde_json() {
        // Not UTF-8: `serde_json` does not check it inside ignored strings either.
        let cases: &[&[u8]] = &[
            b"\"\xff\"",
            b"\"\xc3\"",
            b"\"\x80abcdefgh\xfe\"",
            b"\xff",
            b"[\xc3\xa9]",
            b"{\"a\xff\":1}",
            b"\"\\\xff\"",
            b"\"\\u\xff\xff\xff\xff\"",
        ];
        for &bytes in cases {
            assert_eq!(is_valid_json(bytes), serde_accepts(bytes), "{bytes:?}");
        }
    }

    /// Characters for building near-JSON text.
    const ALPHABET: &[char] = &[
        '[', ']', '{', '}', ',', ':', '"', '"', '"', '\\', '\\', '/', 'b', 'f', 'n', 'r', 't', 'u',
        'a', 'e', 'E', 'l', 's', 'D', '8', '0', '0', '1', '9', '-', '+', '.', ' ', ' ', '\t', '\n',
        '\r', '\u{0}', '\u{1f}', '\u{7f}', 'é', '😀', 'x',
    ];

    fn json_value() -> impl Strategy<Value = Value> {
        let text = prop_oneof![
            any::<String>(),
            proptest::collection::vec(proptest::sample::select(ALPHABET), 0..24)
                .prop_map(|chars| chars.into_iter().collect::<String>()),
        ];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>()
                .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
            text.clone().prop_map(Value::String),
        ];
        leaf.prop_recursive(6, 96, 8, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                proptest::collection::vec((text.clone(), inner), 0..8)
                    .prop_map(|members| Value::Object(members.into_iter().collect())),
            ]
        })
    }

    #[derive(Debug, Clone)]
    enum Mutation {
        Replace(proptest::sample::Index, char),
        Insert(proptest::sample::Index, char),
        Delete(proptest::sample::Index),
        Truncate(proptest::sample::Index),
    }

    fn mutation() -> impl Strategy<Value = Mutation> {
        let at = any::<proptest::sample::Index>();
        let ch = proptest::sample::select(ALPHABET);
        prop_oneof![
            (at.clone(), ch.clone()).prop_map(|(at, c)| Mutation::Replace(at, c)),
            (at.clone(), ch).prop_map(|(at, c)| Mutation::Insert(at, c)),
            at.clone().prop_map(Mutation::Delete),
            at.prop_map(Mutation::Truncate),
        ]
    }

    fn mutate(text: &str, mutations: &[Mutation]) -> String {
        let mut chars: Vec<char> = text.chars().collect();
        for m in mutations {
            let len = chars.len();
            match *m {
                Mutation::Replace(at, c) if len > 0 => chars[at.index(len)] = c,
                Mutation::Insert(at, c) => chars.insert(at.index(len + 1), c),
                Mutation::Delete(at) if len > 0 => {
                    chars.remove(at.index(len));
                }
                Mutation::Truncate(at) => chars.truncate(at.index(len + 1)),
                _ => {}
            }
        }
        chars.into_iter().collect()
    }

    /// Pieces of long strings: plain runs, escapes, backslash runs of both parities (so
    /// runs cross 64-byte block boundaries at every parity), and mistakes.
    const PIECES: &[&str] = &[
        "a",
        "bcdefghijklmnopq",
        r"\\",
        r#"\""#,
        r"\n",
        r"\u00e9",
        r"\\\\\\",
        r"\",
        r"\\\",
        "é😀",
        "\"",
        "\n",
        "\u{1f}",
        r"\x",
        r"\u12",
        r"\u12g4",
        r"\U0000",
    ];

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 4000,
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        /// Long strings at every alignment, in a container, agree with `serde_json`.
        #[test]
        fn long_strings_across_blocks_agree_with_serde_json(
            lead in 0usize..70,
            pieces in proptest::collection::vec(
                prop_oneof![
                    8 => proptest::sample::select(&PIECES[..10]),
                    1 => proptest::sample::select(PIECES),
                ],
                0..160,
            ),
        ) {
            let text = format!(
                "[{}\"{}\",\"x\"]",
                "1,".repeat(lead / 2) + &" ".repeat(lead % 2),
                pieces.concat()
            );
            agrees(&text);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 2000,
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn valid_json_is_accepted_compact_and_pretty(value in json_value()) {
            let compact = serde_json::to_string(&value).unwrap();
            let pretty = serde_json::to_string_pretty(&value).unwrap();
            prop_assert!(agrees(&compact));
            prop_assert!(agrees(&pretty));
            let padded = format!(" \r\n{pretty}\t ");
            prop_assert!(agrees(&padded));
        }

        #[test]
        fn mutated_json_agrees_with_serde_json(
            value in json_value(),
            pretty in any::<bool>(),
            mutations in proptest::collection::vec(mutation(), 1..4),
        ) {
            let text = if pretty {
                serde_json::to_string_pretty(&value).unwrap()
            } else {
                serde_json::to_string(&value).unwrap()
            };
            agrees(&mutate(&text, &mutations));
        }

        #[test]
        fn json_ish_text_agrees_with_serde_json(
            chars in proptest::collection::vec(proptest::sample::select(ALPHABET), 0..32)
        ) {
            agrees(&chars.into_iter().collect::<String>());
        }

        #[test]
        fn arbitrary_bytes_agree_with_serde_json(
            bytes in proptest::collection::vec(
                prop_oneof![
                    proptest::sample::select(b"[]{},:\"\\/bfnrtu0159-+.eE \n\x00\x1f".to_vec()),
                    any::<u8>(),
                ],
                0..32,
            )
        ) {
            prop_assert_eq!(is_valid_json(&bytes), serde_accepts(&bytes));
        }
    }

    /// Throughput against `serde_json`:
    /// `cargo test --release --lib json_check -- --ignored --nocapture`.
    #[test]
    #[ignore = "timing; run in release by hand"]
    fn throughput() {
        use std::time::Instant;
        let plain = format!("\"{}\"", "lorem ipsum dolor sit amet é ".repeat(2_000_000));
        // Like examples/bench_support/workload.rs: agent text with escapes every few words,
        // and tool arguments as JSON inside strings.
        let words: Vec<&str> = "the agent reads file config retry timeout \"quoted\" fn let \
            match Result<(),Error> self tests passed failed 0x7f3a path/to/mod.rs { } => \\n \
            async await tokio::spawn 42 line é TODO: \t"
            .split_whitespace()
            .collect();
        let mut seed = 0x5eed_u64;
        let mut text = |n: usize| {
            let mut s = String::new();
            for i in 1.. {
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                s.push_str(words[(seed >> 33) as usize % words.len()]);
                s.push(if i % 12 == 0 { '\n' } else { ' ' });
                if s.len() >= n {
                    break;
                }
            }
            s
        };
        let items: Vec<Value> = (0..4000)
            .map(|i| {
                let args = serde_json::json!({"path": format!("src/m_{i}.rs"), "reason": text(110)});
                serde_json::json!([
                    {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text(1950)}]},
                    {"type": "function_call", "call_id": format!("call_{i}"), "arguments": args.to_string()},
                    {"exit_code": 0, "n": 1.5e-3},
                ])
            })
            .collect();
        let payload = serde_json::to_string(&items).unwrap();
        for (name, input) in [("long plain string", &plain), ("agent payload", &payload)] {
            let bytes = input.as_bytes();
            let time = |f: &dyn Fn(&[u8]) -> bool| {
                let mut best = f64::INFINITY;
                for _ in 0..5 {
                    let start = Instant::now();
                    assert!(std::hint::black_box(f(std::hint::black_box(bytes))));
                    best = best.min(start.elapsed().as_secs_f64());
                }
                bytes.len() as f64 / best / 1e9
            };
            let ours = time(&is_valid_json);
            let theirs = time(&serde_accepts);
            println!(
                "{name} ({:.1} MiB): is_valid_json {ours:.2} GB/s, serde_json IgnoredAny {theirs:.2} GB/s",
                bytes.len() as f64 / (1 << 20) as f64
            );
        }
    }
}
