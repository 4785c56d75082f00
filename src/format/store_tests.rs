//! Tests of format v2's writer side: chunking, references to earlier bodies, the bound on
//! the index, and the fast path for a window that slid.

#![allow(clippy::unwrap_used)]

use super::*;

fn record(body: &str) -> Vec<u8> {
    format!(
        "\"type\":\"payload\",\"span\":3,\"role\":\"request\",\"bytes\":{},\"body\":{body}}}",
        body.len()
    )
    .into_bytes()
}

#[test]
fn chunks_cover_the_body_and_end_on_character_boundaries() {
    let text: String = (0..5000u64)
        .map(|i| {
            ['a', 'é', '€', '𝄞', '"'][(i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 61) as usize % 5]
        })
        .collect();
    let data = text.as_bytes();
    let mut start = 0;
    let mut count = 0;
    while start < data.len() {
        let end = chunk_end(data, start);
        assert!(end > start && end - start <= MAX_CHUNK + 3);
        assert!(std::str::from_utf8(&data[start..end]).is_ok());
        start = end;
        count += 1;
    }
    assert!(count > 3, "{count} chunks");
}

#[test]
fn an_appended_body_refers_to_the_previous_one_in_one_reference() {
    let mut index = Index::new(Keys::default());
    let items: Vec<String> = (0..200)
        .map(|i| {
            format!(
                "{{\"type\":\"message\",\"text\":\"item {i} {}\"}}",
                "x".repeat(i % 50)
            )
        })
        .collect();
    let first = format!("[{}]", items[..100].join(","));
    let second = format!("[{}]", items.join(","));
    let mut out = Vec::new();
    assert!(!index.encode(2, &record(&first), &mut out));
    assert!(index.encode(3, &record(&second), &mut out));
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("\"parts\":[[2,0,"), "{text}");
    assert_eq!(text.matches("[2,").count(), 1, "{text}");
}

#[test]
fn the_index_stays_within_its_bytes() {
    let mut index = Index::with_bytes(Keys::default(), 64 * 1024);
    let mut out = Vec::new();
    for i in 0..400u64 {
        let body = format!("\"{}\"", format!("{i:08} ").repeat(2000));
        out.clear();
        index.encode(i + 2, &record(&body), &mut out);
        assert!(index.held_bytes() <= 64 * 1024, "{}", index.held_bytes());
    }
}

/// A sliding window (oldest items dropped, new ones appended) is one reference to the
/// previous window plus the new items, found without chunking the shared bytes.
#[test]
fn a_slid_window_refers_to_the_previous_window_in_one_reference() {
    let mut index = Index::new(Keys::default());
    let items: Vec<String> = (0..300)
        .map(|i| {
            format!(
                "{{\"type\":\"message\",\"content\":[{{\"text\":\"item {i} {}\"}}]}}",
                "w".repeat(100 + i % 50)
            )
        })
        .collect();
    let mut out = Vec::new();
    for (n, seq) in (10..40).zip(2u64..) {
        let body = format!(
            "{{\"model\":\"gpt-5\",\"input\":[{}]}}",
            items[n / 2..n * 2].join(",")
        );
        out.clear();
        let stored = index.encode(seq, &record(&body), &mut out);
        if n > 10 {
            assert!(stored, "window {n}");
            let text = String::from_utf8(out.clone()).unwrap();
            assert!(text.len() < 700, "window {n}: {} bytes: {text}", text.len());
        }
    }
}
