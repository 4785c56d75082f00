//! The hot-path encoders: each record type's JSON text appended to a caller-owned buffer.
//!
//! Invariant: the writer assembles every line as `envelope + body`: the instrumented thread
//! encodes the body (everything after the envelope, from `"type":` to the closing `}`) and
//! the writer thread prepends the envelope, because only the writer thread knows `seq`.
//! Encoders append to a caller-owned `Vec<u8>` (a reused thread-local buffer), allocate
//! nothing else and never emit a raw newline, which is what makes "one record per line"
//! hold for arbitrary payload text.

use super::{PayloadHead, SpanKind, FORMAT};

/// Appends `n` in decimal.
pub(crate) fn push_u64(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// Appends `s` JSON-escaped, without surrounding quotes. Escapes `"`, `\` and every control
/// character, so the output never contains a raw newline.
pub(crate) fn push_escaped(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    let mut start = 0;
    loop {
        let i = crate::json_check::find_special(bytes, start);
        out.extend_from_slice(&bytes[start..i]);
        let Some(&b) = bytes.get(i) else {
            return;
        };
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            _ => {
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
            }
        }
        start = i + 1;
    }
}

/// Appends `s` as a quoted JSON string.
pub(crate) fn push_json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    push_escaped(out, s);
    out.push(b'"');
}

fn push_key_u64(out: &mut Vec<u8>, key: &str, value: u64) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
    push_u64(out, value);
}

fn push_type(out: &mut Vec<u8>, record_type: &str) {
    out.extend_from_slice(b"\"type\":\"");
    out.extend_from_slice(record_type.as_bytes());
    out.push(b'"');
}

/// The envelope of every line: `{"seq":N,"t":T,"ns":NS,` (the body follows).
pub(crate) fn encode_envelope(out: &mut Vec<u8>, seq: u64, t: u64, ns: u64) {
    out.extend_from_slice(b"{\"seq\":");
    push_u64(out, seq);
    push_key_u64(out, "t", t);
    push_key_u64(out, "ns", ns);
    out.push(b',');
}

/// Body of `bundle_started`.
pub(crate) fn encode_bundle_started(
    out: &mut Vec<u8>,
    format_version: u32,
    rollout_id: &str,
    trace_id: Option<&str>,
) {
    push_type(out, "bundle_started");
    out.extend_from_slice(b",\"format\":");
    push_json_str(out, FORMAT);
    push_key_u64(out, "format_version", u64::from(format_version));
    out.extend_from_slice(b",\"rollout_id\":");
    push_json_str(out, rollout_id);
    if let Some(trace_id) = trace_id {
        out.extend_from_slice(b",\"trace_id\":");
        push_json_str(out, trace_id);
    }
    out.extend_from_slice(b",\"writer\":\"");
    out.extend_from_slice(WRITER.as_bytes());
    out.extend_from_slice(b"\"}");
}

/// `tracing-rollout <version>`: the `writer` of `bundle_started` and `manifest.json`.
pub(crate) const WRITER: &str = concat!("tracing-rollout ", env!("CARGO_PKG_VERSION"));

/// Keys of a `span_started` body up to and including `"fields":{`; the field visitor writes
/// the pairs and [`end_fields`] closes the record.
pub(crate) fn begin_span_started(
    out: &mut Vec<u8>,
    span: u64,
    parent: Option<u64>,
    thread: Option<u64>,
    turn: Option<u64>,
    kind: SpanKind,
    name: &str,
) {
    push_type(out, "span_started");
    push_key_u64(out, "span", span);
    for (key, value) in [("parent", parent), ("thread", thread), ("turn", turn)] {
        if let Some(value) = value {
            push_key_u64(out, key, value);
        }
    }
    out.extend_from_slice(b",\"kind\":\"");
    out.extend_from_slice(kind.as_str().as_bytes());
    out.extend_from_slice(b"\",\"name\":");
    push_json_str(out, name);
    out.extend_from_slice(b",\"fields\":{");
}

/// Keys of a `span_recorded` body up to and including `"fields":{`.
pub(crate) fn begin_span_recorded(out: &mut Vec<u8>, span: u64) {
    push_type(out, "span_recorded");
    push_key_u64(out, "span", span);
    out.extend_from_slice(b",\"fields\":{");
}

/// Keys of an `event` body up to and including `"fields":{`.
pub(crate) fn begin_event(out: &mut Vec<u8>, span: u64, name: &str) {
    push_type(out, "event");
    push_key_u64(out, "span", span);
    out.extend_from_slice(b",\"name\":");
    push_json_str(out, name);
    out.extend_from_slice(b",\"fields\":{");
}

/// Closes the `fields` object and the record opened by a `begin_*` encoder.
pub(crate) fn end_fields(out: &mut Vec<u8>) {
    out.extend_from_slice(b"}}");
}

/// Body of `span_ended`.
pub(crate) fn encode_span_ended(out: &mut Vec<u8>, span: u64, panicking: bool) {
    push_type(out, "span_ended");
    push_key_u64(out, "span", span);
    if panicking {
        out.extend_from_slice(b",\"panicking\":true");
    }
    out.push(b'}');
}

/// Keys of a `payload` body up to and including `"body":`; the caller appends the body (one
/// JSON value without raw newlines) and then `}`. `truncated` and `cut_bytes` are written
/// when `head.cut_bytes` is not 0 (a cut always counts its bytes), whatever `head.truncated`
/// says.
pub(crate) fn begin_payload(out: &mut Vec<u8>, head: &PayloadHead<'_>) {
    push_type(out, "payload");
    push_key_u64(out, "span", head.span);
    out.extend_from_slice(b",\"role\":");
    push_json_str(out, &head.role);
    push_key_u64(out, "bytes", head.bytes);
    if head.cut_bytes > 0 {
        out.extend_from_slice(b",\"truncated\":true");
        push_key_u64(out, "cut_bytes", head.cut_bytes);
    }
    if head.omitted {
        out.extend_from_slice(b",\"omitted\":true");
    }
    out.extend_from_slice(b",\"body\":");
}

/// A whole `payload` line in the v1 layout (envelope, head, `body` inline), as a writer with
/// dedup off would have written it: how a v2 `parts` record is shown to readers.
pub(crate) fn encode_whole_payload_line(
    out: &mut Vec<u8>,
    (seq, t, ns): (u64, u64, u64),
    head: &PayloadHead<'_>,
    body: &str,
) {
    encode_envelope(out, seq, t, ns);
    begin_payload(out, head);
    out.extend_from_slice(body.as_bytes());
    out.push(b'}');
}

/// Body of `link`.
pub(crate) fn encode_link(out: &mut Vec<u8>, span: u64, follows: u64) {
    push_type(out, "link");
    push_key_u64(out, "span", span);
    push_key_u64(out, "follows", follows);
    out.push(b'}');
}

/// Body of `dropped`.
pub(crate) fn encode_dropped(out: &mut Vec<u8>, records: u64, bytes: u64) {
    push_type(out, "dropped");
    push_key_u64(out, "records", records);
    push_key_u64(out, "bytes", bytes);
    out.push(b'}');
}

/// Body of `bundle_ended`.
pub(crate) fn encode_bundle_ended(
    out: &mut Vec<u8>,
    status: &str,
    records: u64,
    dropped_records: u64,
) {
    push_type(out, "bundle_ended");
    out.extend_from_slice(b",\"status\":");
    push_json_str(out, status);
    push_key_u64(out, "records", records);
    push_key_u64(out, "dropped_records", dropped_records);
    out.push(b'}');
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::format::{Record, FORMAT_VERSION};
    use pretty_assertions::assert_eq;

    fn line(seq: u64, body: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        encode_envelope(&mut out, seq, 1_760_000_000_000, 42);
        body(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn every_encoded_record_type_parses_back_with_record_parse() {
        let lines = [
            line(1, |o| {
                encode_bundle_started(o, FORMAT_VERSION, "demo \"x\"\n", Some("tr-1"))
            }),
            line(2, |o| {
                begin_span_started(
                    o,
                    7,
                    Some(3),
                    Some(4),
                    None,
                    SpanKind::CodeCell,
                    "rollout.code_cell",
                );
                o.extend_from_slice(br#""cell_id":"c1","n":5"#);
                end_fields(o);
            }),
            line(3, |o| {
                begin_span_recorded(o, 7);
                o.extend_from_slice(br#""status":"failed""#);
                end_fields(o);
            }),
            line(4, |o| encode_span_ended(o, 7, true)),
            line(5, |o| {
                let head = PayloadHead {
                    span: 7,
                    role: "request".into(),
                    bytes: 100,
                    truncated: true,
                    cut_bytes: 60,
                    omitted: false,
                };
                begin_payload(o, &head);
                o.extend_from_slice(br#"{"a":[1,2]}"#);
                o.push(b'}');
            }),
            line(6, |o| {
                let head = PayloadHead {
                    span: 7,
                    role: "args".into(),
                    bytes: 3,
                    truncated: false,
                    cut_bytes: 0,
                    omitted: true,
                };
                begin_payload(o, &head);
                o.extend_from_slice(b"null}");
            }),
            line(7, |o| {
                begin_event(o, 7, "rollout.agent_result");
                end_fields(o);
            }),
            line(8, |o| encode_link(o, 7, 3)),
            line(9, |o| encode_dropped(o, 12, 3456)),
            line(10, |o| encode_bundle_ended(o, "completed", 10, 12)),
        ];
        for (i, l) in lines.iter().enumerate() {
            assert!(!l.contains('\n'), "line {i} holds a raw newline: {l}");
            let r = Record::parse(l).unwrap_or_else(|e| panic!("line {i} {l}: {e}"));
            assert_eq!((r.seq, r.t, r.ns), (i as u64 + 1, 1_760_000_000_000, 42));
        }
        let bodies: Vec<String> = lines
            .iter()
            .map(|l| format!("{:?}", Record::parse(l).unwrap().body))
            .collect();
        let expected = [
            format!("BundleStarted {{ format_version: {FORMAT_VERSION}, rollout_id: \"demo \\\"x\\\"\\n\", trace_id: Some(\"tr-1\"), writer: {WRITER:?} }}"),
            "SpanStarted { span: 7, parent: Some(3), thread: Some(4), turn: None, kind: CodeCell, name: \"rollout.code_cell\", fields: {\"cell_id\": String(\"c1\"), \"n\": Number(5)} }".to_owned(),
            "SpanRecorded { span: 7, fields: {\"status\": String(\"failed\")} }".to_owned(),
            "SpanEnded { span: 7, panicking: true }".to_owned(),
            "Payload { head: PayloadHead { span: 7, role: \"request\", bytes: 100, truncated: true, cut_bytes: 60, omitted: false }, body: RawValue({\"a\":[1,2]}) }".to_owned(),
            "Payload { head: PayloadHead { span: 7, role: \"args\", bytes: 3, truncated: false, cut_bytes: 0, omitted: true }, body: RawValue(null) }".to_owned(),
            "Event { span: 7, name: \"rollout.agent_result\", fields: {} }".to_owned(),
            "Link { span: 7, follows: 3 }".to_owned(),
            "Dropped { records: 12, bytes: 3456 }".to_owned(),
            "BundleEnded { status: \"completed\", records: 10, dropped_records: 12 }".to_owned(),
        ];
        assert_eq!(bodies, expected);
    }

    #[test]
    fn escaping_covers_quotes_backslashes_and_every_control_character() {
        let s: String = (0u8..0x20)
            .map(char::from)
            .chain("\"\\é\u{7f}".chars())
            .collect();
        let mut out = Vec::new();
        push_json_str(&mut out, &s);
        let text = String::from_utf8(out).unwrap();
        assert!(!text.contains('\n') && !text.contains('\r'));
        assert_eq!(serde_json::from_str::<String>(&text).unwrap(), s);
    }

    proptest::proptest! {
        /// Escaping scans eight bytes at a time: a special byte at any offset, in any mix,
        /// still round-trips and never leaves a raw line break.
        #[test]
        fn escaping_round_trips_any_text(
            s in proptest::string::string_regex("[a-z\"\\\\\n\t\u{1}\u{1f}é]{0,40}").unwrap(),
            any in proptest::prelude::any::<String>(),
        ) {
            for text in [&s, &any] {
                let mut out = Vec::new();
                push_json_str(&mut out, text);
                let out = String::from_utf8(out).unwrap();
                proptest::prop_assert!(!out.contains('\n') && !out.contains('\r'));
                proptest::prop_assert_eq!(&serde_json::from_str::<String>(&out).unwrap(), text);
            }
        }
    }

    #[test]
    fn push_u64_writes_zero_and_max() {
        let mut out = Vec::new();
        push_u64(&mut out, 0);
        out.push(b' ');
        push_u64(&mut out, u64::MAX);
        assert_eq!(out, b"0 18446744073709551615");
    }
}
