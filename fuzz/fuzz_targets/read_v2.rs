//! Format v2 bundles built from the fuzzer's bytes — bodies stored as references to earlier
//! bodies (forward, outside, overlapping, twice over: bombs), lengths that lie, values nested
//! thousands deep, garbage lines — or, when the input starts with `{`, the bytes themselves as
//! `trace.jsonl` (the seeds: the demo in v2, a bomb, deep lines). Every reader — the record
//! reader, the reducer, one payload's body — returns or fails with an error naming a line of
//! the input; none panics, overflows its stack, hangs or expands past its limits.
#![no_main]

use std::path::PathBuf;

use libfuzzer_sys::fuzz_target;
use tracing_rollout::format::{BundleReader, ReadError, MAX_BODY_BYTES, MAX_LINE_BYTES};
use tracing_rollout::reduce::{reduce_bundle, ReduceError};

#[path = "common.rs"]
mod common;

fn bundle_dir() -> &'static PathBuf {
    common::bundle_dir("v2")
}

/// The fuzzer's bytes, read as choices.
struct Choices<'a>(&'a [u8]);

impl Choices<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn u16(&mut self) -> Option<u64> {
        Some(u64::from(self.byte()?) << 8 | u64::from(self.byte()?))
    }
    fn bytes(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.0.len());
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head
    }
}

/// The rest of a payload record whose body is stored whole (`body`, JSON).
fn whole_body(role: &str, body: &str) -> String {
    format!(
        r#""type":"payload","span":2,"role":"{role}","bytes":{},"body":{body}"#,
        body.len()
    )
}

/// A v2 trace built from `data`: the header, then one record per choice.
fn build(data: &[u8]) -> Vec<u8> {
    let mut c = Choices(data);
    let mut out = String::new();
    let mut seq = 0u64;
    let line = |out: &mut String, seq: &mut u64, rest: &str| {
        *seq += 1;
        let s = *seq;
        out.push_str(&format!("{{\"seq\":{s},\"t\":{s},\"ns\":{s},{rest}}}\n"));
        s
    };
    line(
        &mut out,
        &mut seq,
        r#""type":"bundle_started","format":"tracing-rollout","format_version":2,"rollout_id":"fuzz","writer":"fuzz""#,
    );
    line(
        &mut out,
        &mut seq,
        r#""type":"span_started","span":1,"kind":"rollout","name":"rollout","fields":{"rollout_id":"fuzz"}"#,
    );
    line(
        &mut out,
        &mut seq,
        r#""type":"span_started","span":2,"parent":1,"thread":2,"kind":"thread","name":"rollout.thread","fields":{"thread_id":"t"}"#,
    );
    // Declared body length of every payload so far (seq → len).
    let mut lens: Vec<(u64, u64)> = Vec::new();
    let roles = ["request", "response", "args", "result", "metadata"];
    while let Some(op) = c.byte() {
        let role = roles[usize::from(c.byte().unwrap_or(0)) % roles.len()];
        match op % 6 {
            0 => {
                let n = usize::from(c.byte().unwrap_or(0)) * 4;
                let text = String::from_utf8_lossy(c.bytes(n)).into_owned();
                let body = serde_json::to_string(&text).unwrap_or_default();
                let s = line(&mut out, &mut seq, &whole_body(role, &body));
                lens.push((s, body.len() as u64));
            }
            1 | 2 => {
                // Parts: new text and references, most to earlier payloads within their
                // bodies, some anywhere; `len` the sum, or a lie.
                let mut parts = Vec::new();
                let mut total = 0u64;
                for _ in 0..=(c.byte().unwrap_or(0) % 8) {
                    let kind = c.byte().unwrap_or(0);
                    if kind % 3 == 0 || lens.is_empty() {
                        let n = usize::from(c.byte().unwrap_or(0));
                        let text = String::from_utf8_lossy(c.bytes(n)).into_owned();
                        total = total.saturating_add(text.len() as u64);
                        parts.push(serde_json::to_string(&text).unwrap_or_default());
                    } else {
                        let pick = usize::from(c.byte().unwrap_or(0)) % lens.len();
                        let (target, target_len) = lens[lens.len() - 1 - pick];
                        let (target, offset, len) = match kind % 5 {
                            0 => (
                                c.u16().unwrap_or(0),
                                c.u16().unwrap_or(0),
                                c.u16().unwrap_or(0),
                            ),
                            1 => (target, 0, target_len),
                            _ => {
                                let offset = c.u16().unwrap_or(0) % target_len.saturating_add(1);
                                let len =
                                    c.u16().unwrap_or(0) % (target_len - offset).saturating_add(1);
                                (target, offset, len)
                            }
                        };
                        total = total.saturating_add(len);
                        parts.push(format!("[{target},{offset},{len}]"));
                    }
                }
                let len = if op % 6 == 2 {
                    c.u16().unwrap_or(0) << (c.byte().unwrap_or(0) % 40)
                } else {
                    total
                };
                let s = line(
                    &mut out,
                    &mut seq,
                    &format!(
                        r#""type":"payload","span":2,"role":"{role}","bytes":{len},"len":{len},"parts":[{}]"#,
                        parts.join(",")
                    ),
                );
                lens.push((s, len));
            }
            3 => {
                // The previous payload twice: the doubling that makes a bomb.
                if let Some(&(target, target_len)) = lens.last() {
                    let len = target_len.saturating_mul(2);
                    let s = line(
                        &mut out,
                        &mut seq,
                        &format!(
                            r#""type":"payload","span":2,"role":"{role}","bytes":{len},"len":{len},"parts":[[{target},0,{target_len}],[{target},0,{target_len}]]"#
                        ),
                    );
                    lens.push((s, len));
                }
            }
            4 => {
                let depth = (c.u16().unwrap_or(0) % 6000) as usize;
                let body = format!("{}\"deep\"{}", "[".repeat(depth), "]".repeat(depth));
                let s = line(&mut out, &mut seq, &whole_body(role, &body));
                lens.push((s, body.len() as u64));
            }
            _ => {
                // A line of whatever comes next.
                let n = usize::from(c.byte().unwrap_or(0));
                out.push_str(&String::from_utf8_lossy(c.bytes(n)).replace('\n', " "));
                out.push('\n');
                seq += 1;
            }
        }
    }
    out.into_bytes()
}

fuzz_target!(|data: &[u8]| {
    let trace = if data.first() == Some(&b'{') {
        data.to_vec()
    } else {
        build(data)
    };
    let dir = bundle_dir();
    std::fs::write(dir.join("trace.jsonl"), &trace).expect("write trace.jsonl");
    let lines = trace.split(|&b| b == b'\n').count() as u64;
    let line_ok = |line: u64| assert!((1..=lines).contains(&line), "names line {line} of {lines}");

    // Every record, whole or left out.
    let mut last_payload = None;
    match BundleReader::open(dir) {
        Ok(mut reader) => loop {
            match reader.next_record() {
                Ok(Some(record)) => {
                    line_ok(record.line);
                    assert!(record.text.len() as u64 <= MAX_LINE_BYTES.max(MAX_BODY_BYTES) + 4096);
                    if record.text.contains("\"type\":\"payload\"") {
                        last_payload = record.record().ok().map(|r| r.seq);
                    }
                }
                Ok(None) => break,
                Err(ReadError::Parse { line, .. }) => {
                    line_ok(line);
                    break;
                }
                Err(e) => panic!("unexpected reader error: {e}"),
            }
        },
        Err(e) => panic!("open: {e}"),
    }
    match reduce_bundle(dir) {
        Ok(state) => {
            let _ = serde_json::to_vec(&state).expect("the graph serialises");
        }
        Err(ReduceError::Parse { line, .. }) | Err(ReduceError::Contradiction { line, .. }) => {
            line_ok(line)
        }
        Err(e) => panic!("unexpected reduce error: {e}"),
    }
    if let Some(seq) = last_payload {
        match tracing_rollout::format::payload_body(dir, seq) {
            Ok(body) => assert!(body.len() as u64 <= MAX_BODY_BYTES.max(MAX_LINE_BYTES)),
            Err(ReadError::Parse { line, .. }) | Err(ReadError::LeftOut { line, .. }) => {
                line_ok(line)
            }
            Err(ReadError::NotAPayload { .. }) => {}
            Err(e) => panic!("unexpected payload error: {e}"),
        }
    }
});
