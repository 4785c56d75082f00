//! Tests of the validator: agreement with `serde_json` on hand-written edge cases, any
//! nesting depth, strings with a special byte at every offset and across 64-byte blocks,
//! arbitrary bytes and mutated JSON; and its throughput (ignored, by hand).

#![allow(clippy::unwrap_used)]

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
