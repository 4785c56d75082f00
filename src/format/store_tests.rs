//! Tests of format v2's writer side: references to earlier bodies (same role, a window that
//! slid, another role's body), that every reference stands for equal bytes, the bound on
//! what the store holds, and the validator jumps it plans.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use super::*;
use crate::format::expand::{parse_parts, WirePart};
use crate::json_check::resume::marks_after_every_value;
use crate::json_check::{valid_json_has_line_breaks, valid_json_resuming};

fn record(role: &str, body: &str) -> Vec<u8> {
    format!(
        "\"type\":\"payload\",\"span\":3,\"role\":\"{role}\",\"bytes\":{},\"body\":{body}}}",
        body.len()
    )
    .into_bytes()
}

/// What the writer does with one trusted record written as `seq`: plan, encode, keep. Returns
/// the v2 form, if the store chose it.
fn write(store: &mut Store, seq: u64, role: &str, body: &str) -> Option<String> {
    let mut out = Vec::new();
    let encoded = store.encode_and_keep(seq, &record(role, body), &mut out);
    encoded.then(|| String::from_utf8(out).unwrap())
}

/// Resolves a v2 record's parts against the bodies written before it.
fn decode(written: &HashMap<u64, String>, line: &str) -> String {
    let value: serde_json::Value = serde_json::from_str(&format!("{{{line}")).unwrap();
    let parts = serde_json::value::to_raw_value(&value["parts"]).unwrap();
    let mut body = String::new();
    for part in parse_parts(&parts).unwrap() {
        match part {
            WirePart::New(text) => body.push_str(&text),
            WirePart::Ref { seq, offset, len } => {
                let (offset, len) = (offset as usize, len as usize);
                body.push_str(&written[&seq][offset..offset + len]);
            }
        }
    }
    assert_eq!(body.len() as u64, value["len"].as_u64().unwrap());
    body
}

fn items(n: std::ops::Range<usize>) -> Vec<String> {
    n.map(|i| {
        format!(
            "{{\"type\":\"message\",\"content\":[{{\"text\":\"item {i} {}\"}}]}}",
            "w".repeat(100 + i % 50)
        )
    })
    .collect()
}

#[test]
fn an_appended_body_refers_to_the_previous_one_in_one_reference() {
    let mut store = Store::default();
    let all = items(0..200);
    let first = format!("[{}]", all[..100].join(","));
    let second = format!("[{}]", all.join(","));
    assert!(write(&mut store, 2, "request", &first).is_none());
    let text = write(&mut store, 3, "request", &second).unwrap();
    assert!(text.contains("\"parts\":[[2,0,"), "{text}");
    assert_eq!(text.matches("[2,").count(), 1, "{text}");
}

/// A sliding window (oldest items dropped, new ones appended) is one reference to the
/// previous window plus the new items.
#[test]
fn a_slid_window_refers_to_the_previous_window_in_one_reference() {
    let mut store = Store::default();
    let all = items(0..300);
    let mut written = HashMap::new();
    for (n, seq) in (10..40).zip(2u64..) {
        let body = format!(
            "{{\"model\":\"gpt-5\",\"input\":[{}]}}",
            all[n / 2..n * 2].join(",")
        );
        let stored = write(&mut store, seq, "request", &body);
        if n > 10 {
            let text = stored.unwrap_or_else(|| panic!("window {n} written whole"));
            assert!(text.len() < 700, "window {n}: {} bytes: {text}", text.len());
            assert_eq!(decode(&written, &text), body);
        }
        written.insert(seq, body);
    }
}

/// A request that repeats the items of the response before it (another role) refers to
/// that response for them.
#[test]
fn a_request_refers_to_the_items_of_the_response_before_it() {
    let mut store = Store::default();
    let history = items(0..20);
    let answer = items(100..103);
    let request = format!("{{\"input\":[{}],\"model\":\"m\"}}", history.join(","));
    let response = format!("{{\"id\":\"r1\",\"output\":[{}]}}", answer.join(","));
    let next = format!(
        "{{\"input\":[{},{},{{\"type\":\"message\",\"content\":\"new\"}}],\"model\":\"m\"}}",
        history.join(","),
        answer.join(",")
    );
    let mut written = HashMap::new();
    for (seq, role, body) in [(2, "request", &request), (3, "response", &response)] {
        assert!(write(&mut store, seq, role, body).is_none());
        written.insert(seq, body.clone());
    }
    let text = write(&mut store, 4, "request", &next).unwrap();
    assert!(text.contains("[3,"), "the response's items: {text}");
    assert!(text.len() < 300, "{text}");
    assert_eq!(decode(&written, &text), next);
}

proptest::proptest! {
    /// Whatever the bodies (random edits of a shared history, any role), every v2 record
    /// decodes to its body: references stand for equal bytes, on character boundaries.
    #[test]
    fn every_encoded_body_decodes_to_itself(
        edits in proptest::collection::vec((0usize..4, 0usize..30, 0usize..30, 0u8..3), 1..25),
    ) {
        let pool: Vec<String> = (0..60)
            .map(|i| format!("{{\"t\":\"é{i} {}\"}}", "€x".repeat(40 + i % 7)))
            .collect();
        let mut store = Store::with_limit(64 * 1024);
        let mut written = HashMap::new();
        let mut history: Vec<String> = Vec::new();
        for (seq, (op, a, b, role)) in (2u64..).zip(edits) {
            match op {
                0 => history.extend(pool[a..(a + b % 5).min(60)].iter().cloned()),
                1 => { history.drain(..a.min(history.len())); }
                2 => history.insert(a.min(history.len()), pool[b].clone()),
                _ => history.truncate(b),
            }
            let body = format!("[{}]", history.join(","));
            let role = ["request", "response", "checkpoint"][role as usize];
            if let Some(text) = write(&mut store, seq, role, &body) {
                proptest::prop_assert_eq!(decode(&written, &text), body.clone());
            }
            written.insert(seq, body);
        }
    }
}

#[test]
fn the_store_stays_within_its_bytes() {
    let mut store = Store::with_limit(64 * 1024);
    for i in 0..400u64 {
        let body = format!("\"{}\"", format!("{i:08} ").repeat(2000));
        write(&mut store, i + 2, "result", &body);
        assert!(store.held_bytes() <= 64 * 1024, "{}", store.held_bytes());
    }
}

/// The jumps planned for a slid window, over a validated kept body, give the validator's
/// verdict from the first byte, and skip most of the shared bytes.
#[test]
fn jumps_over_a_validated_body_give_the_plain_verdict() {
    let mut store = Store::default();
    let all = items(0..60);
    let mut previous: Option<usize> = None;
    for (n, seq) in (10..30).zip(2u64..) {
        let body = format!(
            "{{\"input\":[{}],\"model\":\"m\"}}",
            all[n - 10..n * 2].join(",")
        );
        let rec = record("request", &body);
        let mut plan = Plan::default();
        let range = store.plan(&rec, &mut plan).unwrap();
        let mut start = None;
        let mut jumps = Vec::new();
        store.jumps(&plan, &mut start, &mut jumps);
        if previous.is_some() {
            assert!(!jumps.is_empty() || start.is_some(), "window {n}: no jump");
        }
        let mut marks = Vec::new();
        let verdict = valid_json_resuming(&rec[range.clone()], start, &jumps, Some(&mut marks));
        assert_eq!(verdict, valid_json_has_line_breaks(body.as_bytes()));
        drop(jumps);
        let mut out = Vec::new();
        store.encode(&rec, &mut plan, &mut out);
        store.keep_copy(seq, &plan, &rec[range], marks);
        previous = Some(n);
    }
}

/// A body and the one before it: a list of values (numbers, strings, literals, nested
/// containers) edited, then broken or not.
fn texts() -> impl proptest::strategy::Strategy<Value = (String, String)> {
    use proptest::prelude::*;
    let value = prop_oneof![
        "-?[1-9][0-9]{0,3}(\\.[0-9]{1,2})?(e[0-9])?",
        "\"([a-z é]|\\\\n|\\\\\"){0,12}\"",
        Just("true".to_owned()),
        Just("null".to_owned()),
        "\\[([0-9]{1,2}(,[0-9]{1,2}){0,3})?\\]",
        "\\{\"k\":[0-9]{1,3}\\}",
    ];
    let list = proptest::collection::vec(value, 20..60);
    (list, 0usize..60, 0usize..4, "[0-9\\]\\}\",\\[ ]{0,3}").prop_map(|(items, cut, how, tail)| {
        let pad = "x".repeat(300);
        let prev = format!("{{\"a\":\"{pad}\",\"v\":[{}]}}", items.join(","));
        let keep = cut.min(items.len());
        let next = match how {
            0 => format!("{{\"a\":\"{pad}\",\"v\":[{}]}}", items[..keep].join(",")),
            1 => format!(
                "{{\"a\":\"{pad}\",\"v\":[{}{tail}]}}",
                items[..keep].join(",")
            ),
            2 => format!("{{\"a\":\"{pad}\",\"v\":[{}{tail}", items.join(",")),
            _ => format!(
                "{{\"b\":[{}],\"v\":[{}]}}",
                items[keep..].join(","),
                items.join(",")
            ),
        };
        (prev, next)
    })
}

proptest::proptest! {
    /// With a mark after every value of the kept body (so a jump may start or land on any
    /// value end, numbers included), the validator resumed by the store's jumps judges the
    /// next body exactly as a walk from its first byte does.
    #[test]
    fn jumps_from_marks_anywhere_give_the_plain_verdict((prev, next) in texts()) {
        proptest::prop_assume!(valid_json_has_line_breaks(prev.as_bytes()).is_some());
        let mut store = Store::default();
        let rec = record("request", &prev);
        let mut plan = Plan::default();
        let range = store.plan(&rec, &mut plan).unwrap();
        let mut out = Vec::new();
        store.encode(&rec, &mut plan, &mut out);
        store.keep_copy(2, &plan, &rec[range], marks_after_every_value(prev.as_bytes()));
        let rec = record("request", &next);
        let mut plan = Plan::default();
        let Some(range) = store.plan(&rec, &mut plan) else {
            return Ok(()); // too short to be planned
        };
        let mut start = None;
        let mut jumps = Vec::new();
        store.jumps(&plan, &mut start, &mut jumps);
        let resumed = valid_json_resuming(&rec[range], start, &jumps, None);
        proptest::prop_assert_eq!(resumed, valid_json_has_line_breaks(next.as_bytes()));
    }
}
