//! Format v2 through the real layer and files: every body comes back byte for byte, the cases
//! that blow up whole-body bundles stay linear, a torn tail loses at most one line, lossy
//! bundles never refer to what was dropped, and redaction happens before any byte is shared.

mod support;

use std::path::{Path, PathBuf};

use anyhow::{ensure, Context as _, Result};
use proptest::prelude::*;
use serde_json::{json, Value};
use support::layer::{only_bundle, record_into};
use support::spans::{in_agent, in_rollout, in_turn};
use tracing::info;
use tracing_rollout::format::{Record, RecordBody};
use tracing_rollout::reduce::{self, payload_body, BundleReader};
use tracing_rollout::{Redact, RolloutLayer, RolloutLayerBuilder};

/// Records one rollout whose payloads are `bodies` (JSON text, in order, each in a turn of
/// its own of thread `main`, in an inference span or, for a checkpoint, a compaction span),
/// and returns the bundle directory.
fn record(root: &Path, builder: RolloutLayerBuilder, bodies: &[Payload]) -> Result<PathBuf> {
    let stats = record_into(root, builder, || {
        in_rollout("v2", || {
            in_agent("main", "/main", || {
                for (i, p) in bodies.iter().enumerate() {
                    in_turn(&format!("turn-{i}"), || {
                        let span = match p.kind {
                            Kind::Checkpoint => tracing::info_span!("rollout.compaction"),
                            _ => tracing::info_span!(
                                "rollout.inference",
                                model = "gpt-5",
                                provider = "openai"
                            ),
                        };
                        let _s = span.enter();
                        info!(name: "rollout.payload", role = p.role(), payload = p.text.as_str());
                    });
                }
            })
        })
    })?;
    only_bundle(&stats)
}

/// Records `payloads` with the default builder, checks that every body reads back exactly,
/// and returns the bundle directory and the size of its `trace.jsonl`.
fn round_trip(root: &Path, payloads: &[Payload]) -> Result<(PathBuf, u64)> {
    let dir = record(root, RolloutLayer::builder(), payloads)?;
    assert_eq!(bodies(&dir)?, texts(payloads));
    let bytes = trace_bytes(&dir)?;
    Ok((dir, bytes))
}

#[derive(Debug, Clone)]
enum Kind {
    Request,
    Response,
    Checkpoint,
}

#[derive(Debug, Clone)]
struct Payload {
    kind: Kind,
    text: String,
}

impl Payload {
    fn role(&self) -> &'static str {
        match self.kind {
            Kind::Request => "request",
            Kind::Response => "response",
            Kind::Checkpoint => "checkpoint",
        }
    }
}

fn request(input: &[Value]) -> Payload {
    Payload {
        kind: Kind::Request,
        text: json!({"model": "gpt-5", "input": input}).to_string(),
    }
}

/// `n` requests of a history that grows by one item of `len` bytes of filler each (filler
/// seeds from `seed` up).
fn growing(n: usize, seed: u64, len: usize) -> Vec<Payload> {
    let mut history = Vec::new();
    let mut payloads = Vec::new();
    for i in 0..n {
        history.push(item(i, &filler(seed + i as u64, len)));
        payloads.push(request(&history));
    }
    payloads
}

/// A bundle of `bytes` stores the repeated `history` about once: at most 1.2 times its size
/// and 10 000 bytes of records around it.
fn stored_about_once(bytes: u64, history: &Payload) {
    assert!(
        (bytes as f64) < 1.2 * history.text.len() as f64 + 10_000.0,
        "{bytes} bytes for a {} byte history",
        history.text.len()
    );
}

/// The text of each payload, in order.
fn texts(payloads: &[Payload]) -> Vec<String> {
    payloads.iter().map(|p| p.text.clone()).collect()
}

/// Every payload body the public reader yields, in order, and checks that `payload_body`
/// agrees for each.
fn bodies(dir: &Path) -> Result<Vec<String>> {
    let mut reader = BundleReader::open(dir)?;
    let mut out = Vec::new();
    while let Some(expanded) = reader.next_record()? {
        let record = expanded.record()?;
        if let RecordBody::Payload { body, .. } = record.body {
            out.push(body.get().to_owned());
        }
    }
    Ok(out)
}

fn trace_bytes(dir: &Path) -> Result<u64> {
    Ok(std::fs::metadata(dir.join("trace.jsonl"))?.len())
}

fn item(i: usize, text: &str) -> Value {
    json!({"type": "message", "role": if i.is_multiple_of(2) { "user" } else { "assistant" },
        "content": [{"type": "input_text", "text": format!("message {i}: {text}")}]})
}

/// Deterministic filler that does not repeat itself (so only what the test repeats can be
/// shared).
fn filler(seed: u64, n: usize) -> String {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Words, digits and the odd quote or backslash, as prose and code have.
            char::from(
                b"abcdefghijklmnopqrstuvwxyz      0123456789.,:;()=-_/abcdeinorst\"\\"
                    [(x % 64) as usize],
            )
        })
        .collect()
}

/// The v2 bundle's records, expanded, equal the v1 bundle's lines (clocks and the
/// `format_version` aside), and both reduce to the same graph.
fn same_as_whole_bodies(v2: &Path, v1: &Path) -> Result<()> {
    let norm = |dir: &Path| -> Result<Vec<Value>> {
        let mut reader = BundleReader::open(dir)?;
        let mut lines = Vec::new();
        while let Some(r) = reader.next_record()? {
            lines.push(r.text);
        }
        let mut out = support::layer::normalized(&lines)?;
        for v in &mut out {
            v.as_object_mut()
                .context("object")?
                .remove("format_version");
        }
        Ok(out)
    };
    let (a, b) = (norm(v2)?, norm(v1)?);
    ensure!(a.len() == b.len(), "{} records vs {}", a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        ensure!(x == y, "expanded v2 differs from v1:\n{x}\n{y}");
    }
    // The reducer reads the v2 bundle as it reads its whole-body expansion.
    let expanded = v2.with_file_name("expanded");
    std::fs::create_dir_all(&expanded)?;
    std::fs::copy(v2.join("manifest.json"), expanded.join("manifest.json"))?;
    reduce::expand_bundle(v2, std::fs::File::create(expanded.join("trace.jsonl"))?)?;
    let strip = |dir: &Path| -> Result<Value> {
        let mut state = serde_json::to_value(reduce::reduce_bundle(dir)?)?;
        for (_, p) in state["payloads"]
            .as_object_mut()
            .context("payloads")?
            .iter_mut()
        {
            p.as_object_mut()
                .context("payload")?
                .retain(|k, _| k != "offset" && k != "len");
        }
        Ok(state)
    };
    let (a, b) = (strip(v2)?, strip(&expanded)?);
    ensure!(a == b, "the v2 bundle and its expansion reduce differently");
    Ok(())
}

#[test]
fn append_only_growth_is_stored_once_and_reads_back_byte_for_byte() -> Result<()> {
    let root = tempfile::tempdir()?;
    let mut history = Vec::new();
    let mut payloads = Vec::new();
    let mut unique = 0;
    for i in 0..60 {
        let it = item(i, &filler(i as u64, 900));
        unique += it.to_string().len();
        history.push(it);
        payloads.push(request(&history));
    }
    let v2 = record(&root.path().join("v2"), RolloutLayer::builder(), &payloads)?;
    let v1 = record(
        &root.path().join("v1"),
        RolloutLayer::builder().payload_dedup(false),
        &payloads,
    )?;
    let texts = texts(&payloads);
    assert_eq!(bodies(&v2)?, texts);
    assert_eq!(bodies(&v1)?, texts);
    let (b2, b1) = (trace_bytes(&v2)?, trace_bytes(&v1)?);
    // 60 records of overhead (spans, envelopes) are ~25 KB; whole bodies are ~30× unique.
    assert!(
        (b2 as f64) < 1.25 * unique as f64 + 30_000.0,
        "v2 {b2} bytes for {unique} unique (v1 {b1})"
    );
    assert!(
        b1 > 20 * unique as u64,
        "v1 {b1} vs {unique}: the test is not vacuous"
    );
    let manifest = std::fs::read_to_string(v2.join("manifest.json"))?;
    assert!(
        manifest.contains("\"format_version\": 2") || manifest.contains("\"format_version\":2")
    );
    same_as_whole_bodies(&v2, &v1)
}

#[test]
fn a_sub_agent_request_carrying_its_parents_history_refers_to_it() -> Result<()> {
    let root = tempfile::tempdir()?;
    let history: Vec<Value> = (0..40)
        .map(|i| item(i, &filler(100 + i as u64, 1000)))
        .collect();
    let parent = request(&history);
    let mut child_input = history.clone();
    child_input.push(item(99, "you are a sub-agent: investigate"));
    let child = Payload {
        kind: Kind::Request,
        text: json!({"model": "gpt-5-mini", "instructions": "be brief", "input": child_input})
            .to_string(),
    };
    let (_, bytes) = round_trip(root.path(), &[parent.clone(), child])?;
    stored_about_once(bytes, &parent);
    Ok(())
}

#[test]
fn a_large_image_re_sent_in_every_request_is_stored_once() -> Result<()> {
    let root = tempfile::tempdir()?;
    let image: String = filler(7, 200 * 1024)
        .bytes()
        .map(|b| {
            char::from(
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
                    [usize::from(b) % 64],
            )
        })
        .collect();
    let first = json!({"type": "message", "role": "user", "content": [
        {"type": "input_text", "text": "what is in this picture?"},
        {"type": "input_image", "image_url": format!("data:image/png;base64,{image}")}]});
    let mut history = vec![first];
    let mut payloads = Vec::new();
    for i in 0..20 {
        history.push(item(i, &filler(300 + i as u64, 300)));
        payloads.push(request(&history));
    }
    let (_, bytes) = round_trip(root.path(), &payloads)?;
    assert!(
        bytes < 300 * 1024,
        "{bytes} bytes for one 200 KiB image sent 20 times"
    );
    Ok(())
}

#[test]
fn a_compaction_checkpoint_repeating_the_history_refers_to_it() -> Result<()> {
    let root = tempfile::tempdir()?;
    let history: Vec<Value> = (0..40)
        .map(|i| item(i, &filler(500 + i as u64, 1000)))
        .collect();
    let last = request(&history);
    let summary = item(1000, "summary of everything so far");
    let checkpoint = Payload {
        kind: Kind::Checkpoint,
        text: json!({"input_history": history, "replacement_history": [summary]}).to_string(),
    };
    let after = request(&[summary.clone(), item(1001, "next question")]);
    let (_, bytes) = round_trip(root.path(), &[last.clone(), checkpoint, after])?;
    stored_about_once(bytes, &last);
    Ok(())
}

#[test]
fn every_prefix_of_a_v2_log_cut_at_a_line_reads_and_a_torn_tail_loses_one_line() -> Result<()> {
    let root = tempfile::tempdir()?;
    let payloads = growing(12, 900, 700);
    let dir = record(
        &root.path().join("full"),
        RolloutLayer::builder(),
        &payloads,
    )?;
    let full = std::fs::read(dir.join("trace.jsonl"))?;
    let all = bodies(&dir)?;
    let ends: Vec<usize> = full
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .map(|(i, _)| i + 1)
        .collect();
    let cut_dir = root.path().join("cut");
    std::fs::create_dir_all(&cut_dir)?;
    let mut cuts: Vec<usize> = ends.clone();
    // Torn: in the middle of every line after the first.
    cuts.extend(ends.windows(2).map(|w| (w[0] + w[1]) / 2));
    for cut in cuts {
        std::fs::write(cut_dir.join("trace.jsonl"), &full[..cut])?;
        let whole_lines = ends.iter().filter(|&&e| e <= cut).count();
        let got = bodies(&cut_dir).with_context(|| format!("cut at {cut}"))?;
        let expected_payloads = {
            let text = std::str::from_utf8(&full[..ends[whole_lines.max(1) - 1]])?;
            text.lines()
                .take(whole_lines)
                .filter(|l| l.contains("\"type\":\"payload\""))
                .count()
        };
        assert_eq!(got.len(), expected_payloads, "cut at {cut}");
        assert_eq!(got[..], all[..got.len()], "cut at {cut}");
        let state = reduce::reduce_bundle(&cut_dir).with_context(|| format!("reduce cut {cut}"))?;
        assert_eq!(state.payloads.len(), expected_payloads, "cut at {cut}");
    }
    Ok(())
}

#[test]
fn a_lossy_bundle_never_refers_to_a_dropped_record() -> Result<()> {
    let root = tempfile::tempdir()?;
    let payloads = growing(150, 2000, 1500);
    // A buffer smaller than one late request: records are dropped while the writer works.
    let builder = RolloutLayer::builder()
        .lossy(true)
        .max_buffered_bytes(64 * 1024);
    let dir = record(root.path(), builder, &payloads)?;
    let got = bodies(&dir)?;
    let texts = texts(&payloads);
    // What was kept is a subsequence of what was sent, each body exact.
    let mut sent = texts.iter();
    for body in &got {
        ensure!(
            sent.any(|t| t == body),
            "a body that was never sent, or out of order"
        );
    }
    // Payloads whose span start was dropped are diagnosed, not interpreted.
    let state = reduce::reduce_bundle(&dir)?;
    assert!(state.payloads.len() <= got.len() && !state.payloads.is_empty());
    let text = std::fs::read_to_string(dir.join("trace.jsonl"))?;
    let dropped = text
        .lines()
        .filter(|l| l.contains("\"type\":\"dropped\""))
        .count();
    eprintln!(
        "kept {} of {} bodies, {dropped} dropped records",
        got.len(),
        texts.len()
    );
    Ok(())
}

#[test]
fn redaction_runs_before_dedup_so_no_secret_reaches_the_disk() -> Result<()> {
    let root = tempfile::tempdir()?;
    let secret = "sk-live-0123456789abcdef";
    let mut history = vec![json!({"type": "message", "role": "user", "api_key": secret,
        "content": filler(42, 2000)})];
    let mut payloads = Vec::new();
    for i in 0..8 {
        history.push(item(i, &filler(4000 + i as u64, 800)));
        payloads.push(request(&history));
    }
    let builder = RolloutLayer::builder().redact(Redact::keys(["api_key"]));
    let dir = record(root.path(), builder, &payloads)?;
    for entry in std::fs::read_dir(&dir)? {
        let bytes = std::fs::read(entry?.path())?;
        assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()));
    }
    let got = bodies(&dir)?;
    assert_eq!(got.len(), payloads.len());
    for (body, sent) in got.iter().zip(&payloads) {
        let mut expected: Value = serde_json::from_str(&sent.text)?;
        expected["input"][0]["api_key"] = json!("[REDACTED]");
        assert_eq!(serde_json::from_str::<Value>(body)?, expected);
    }
    let text = std::fs::read_to_string(dir.join("trace.jsonl"))?;
    assert!(
        text.contains("\"parts\":["),
        "later requests share the redacted bytes"
    );
    Ok(())
}

#[test]
fn payload_body_by_seq_decodes_a_v2_body() -> Result<()> {
    let root = tempfile::tempdir()?;
    let payloads = growing(10, 7000, 600);
    let dir = record(root.path(), RolloutLayer::builder(), &payloads)?;
    let text = std::fs::read_to_string(dir.join("trace.jsonl"))?;
    let mut found = 0;
    for line in text.lines() {
        let record = Record::parse(line)?;
        if let RecordBody::PayloadParts { .. } = record.body {
            let body = payload_body(&dir, record.seq)?;
            ensure!(payloads.iter().any(|p| p.text == body));
            found += 1;
        }
    }
    assert!(found >= 8, "{found} bodies stored as parts");
    Ok(())
}

/// A random edit of a JSON list of strings: insert, delete, replace or append items, or edit
/// inside one.
#[derive(Debug, Clone)]
enum Edit {
    Insert(usize, String),
    Delete(usize),
    Replace(usize, String),
    Append(String),
    Splice(usize, usize, String),
}

fn edit() -> impl Strategy<Value = Edit> {
    let text = "[a-z0-9 \"\\\\é€\n]{0,400}";
    prop_oneof![
        (any::<usize>(), text).prop_map(|(i, s)| Edit::Insert(i, s)),
        any::<usize>().prop_map(Edit::Delete),
        (any::<usize>(), text).prop_map(|(i, s)| Edit::Replace(i, s)),
        text.prop_map(Edit::Append),
        text.prop_map(Edit::Append),
        (any::<usize>(), any::<usize>(), "[a-z€]{0,30}")
            .prop_map(|(i, at, s)| Edit::Splice(i, at, s)),
    ]
}

fn apply(items: &mut Vec<String>, edit: &Edit) {
    let at = |i: usize, n: usize| if n == 0 { 0 } else { i % n };
    match edit {
        Edit::Insert(i, s) => {
            let i = at(*i, items.len() + 1);
            items.insert(i, s.clone());
        }
        Edit::Delete(i) if !items.is_empty() => {
            let i = at(*i, items.len());
            items.remove(i);
        }
        Edit::Replace(i, s) if !items.is_empty() => {
            let i = at(*i, items.len());
            items[i] = s.clone();
        }
        Edit::Append(s) => items.push(s.clone()),
        Edit::Splice(i, pos, s) if !items.is_empty() => {
            let i = at(*i, items.len());
            let chars: Vec<char> = items[i].chars().collect();
            let p = at(*pos, chars.len() + 1);
            items[i] = chars[..p]
                .iter()
                .chain(s.chars().collect::<Vec<_>>().iter())
                .chain(chars[p..].iter())
                .collect();
        }
        _ => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Any sequence of edited JSON bodies, some sent as requests and some as responses,
    /// comes back exactly, with dedup on and with a cold cache.
    #[test]
    fn random_edit_sequences_of_json_bodies_round_trip_exactly(
        seed in proptest::collection::vec("[a-z é\"\\\\]{50,600}", 1..20),
        edits in proptest::collection::vec(edit(), 1..40),
    ) {
        let root = tempfile::tempdir().unwrap();
        let mut items = seed;
        let mut payloads = Vec::new();
        for (n, e) in edits.iter().enumerate() {
            apply(&mut items, e);
            let kind = if n % 3 == 2 { Kind::Response } else { Kind::Request };
            payloads.push(Payload { kind, text: json!({"n": n % 2, "input": items}).to_string() });
        }
        let dir = record(root.path(), RolloutLayer::builder(), &payloads).unwrap();
        prop_assert_eq!(bodies(&dir).unwrap(), texts(&payloads));
    }
}

/// One way a request's text may come out of a program, to be checked on the writer thread.
#[derive(Debug, Clone)]
enum Text {
    /// Compact JSON.
    Compact,
    /// Pretty JSON: raw line breaks between tokens.
    Pretty,
    /// Whitespace (line breaks, a form feed or not) around compact JSON.
    Around(&'static str, &'static str),
    /// Compact JSON cut short, or broken at a byte.
    Cut(usize),
    Broken(usize, char),
    /// A number where the previous body's last value was, continued by a digit.
    Digits(u32),
}

fn text_kind() -> impl Strategy<Value = Text> {
    prop_oneof![
        3 => Just(Text::Compact),
        1 => Just(Text::Pretty),
        1 => prop_oneof![Just(" \n"), Just("\r\n\t"), Just("\u{c}"), Just("")]
            .prop_flat_map(|a| prop_oneof![Just(" \r\n"), Just("\u{c}"), Just("\n")]
                .prop_map(move |b| Text::Around(a, b))),
        1 => any::<usize>().prop_map(Text::Cut),
        1 => (any::<usize>(), prop_oneof![Just(']'), Just('}'), Just('"'), Just(','), Just('\n')])
            .prop_map(|(i, c)| Text::Broken(i, c)),
        1 => (0u32..1000).prop_map(Text::Digits),
    ]
}

fn render(items: &[String], kind: &Text) -> String {
    let value = json!({"input": items, "model": "gpt-5"});
    let compact = value.to_string();
    let at = |i: usize| {
        let mut i = i % compact.len();
        while !compact.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    match kind {
        Text::Compact => compact,
        Text::Pretty => serde_json::to_string_pretty(&value).unwrap_or_default(),
        Text::Around(a, b) => format!("{a}{compact}{b}"),
        Text::Cut(i) => compact[..at(*i)].to_owned(),
        Text::Broken(i, c) => {
            let i = at(*i);
            format!("{}{c}{}", &compact[..i], &compact[i..])
        }
        Text::Digits(n) => format!("{{\"input\":{},\"n\":12{n}}}", json!(items)),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Request text checked on the writer thread, resuming the validator over bytes the
    /// previous request shares, is written exactly as without dedup: valid JSON kept (raw
    /// line breaks turned into spaces), anything else stored as a JSON string — whatever
    /// the edits, the line breaks, the whitespace around and the breakage.
    #[test]
    fn text_checked_while_resuming_over_shared_bytes_is_written_as_without_dedup(
        seed in proptest::collection::vec("[a-z é\"\\\\\n]{50,400}", 2..12),
        steps in proptest::collection::vec((edit(), text_kind()), 1..30),
    ) {
        let root = tempfile::tempdir().unwrap();
        let mut items = seed;
        let mut payloads = Vec::new();
        for (e, kind) in &steps {
            apply(&mut items, e);
            payloads.push(Payload { kind: Kind::Request, text: render(&items, kind) });
        }
        let v2 = record(&root.path().join("v2"), RolloutLayer::builder(), &payloads).unwrap();
        let v1 = record(
            &root.path().join("v1"),
            RolloutLayer::builder().payload_dedup(false),
            &payloads,
        )
        .unwrap();
        same_as_whole_bodies(&v2, &v1).unwrap();
    }
}
