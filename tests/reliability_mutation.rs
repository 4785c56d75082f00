//! Damaged bundles never crash the reducer: starting from a real bundle
//! (`tests/fixtures/demo/trace.jsonl`), every line-boundary truncation, torn last line,
//! deleted, duplicated and swapped line, and (property-based) random byte flips, wrong types,
//! huge numbers, deep nesting and invalid UTF-8 either reduce to a graph with diagnostics or
//! fail with an error naming a line of the file. A panic fails the test with the input saved
//! next to the message so it can be replayed.
//!
//! The longer-running fuzz target over the same contract lives in `fuzz/`.

mod support;

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context as _, Result};
use proptest::prelude::*;
use serde_json::Value;
use support::fixtures::DEMO;
use tracing_rollout::format::{Record, RecordBody, SpanKind};
use tracing_rollout::reduce::{reduce_bundle, ReduceError, RolloutState};

/// The demo's `trace.jsonl` (empty if missing: the tests then say the fixture is missing).
fn demo() -> Vec<u8> {
    std::fs::read(format!("{DEMO}/trace.jsonl")).unwrap_or_default()
}

fn lines_of(bytes: &[u8]) -> Vec<Vec<u8>> {
    bytes
        .split_inclusive(|&b| b == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

/// Reduces `bytes` as a bundle's `trace.jsonl` in `dir`. A panic is turned into an error that
/// names a file holding the input.
fn reduce_bytes(dir: &Path, bytes: &[u8]) -> Result<Result<RolloutState, ReduceError>> {
    std::fs::write(dir.join("trace.jsonl"), bytes)?;
    match std::panic::catch_unwind(AssertUnwindSafe(|| reduce_bundle(dir))) {
        Ok(outcome) => Ok(outcome),
        Err(panic) => {
            let saved = save_crash(bytes)?;
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            bail!(
                "the reducer panicked ({message}); input saved as {}",
                saved.display()
            )
        }
    }
}

fn save_crash(bytes: &[u8]) -> Result<PathBuf> {
    let dir = std::env::temp_dir().join("tracing-rollout-reducer-crashes");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!(
        "crash-{}-{}.jsonl",
        std::process::id(),
        bytes.len()
    ));
    std::fs::write(&path, bytes)?;
    Ok(path)
}

/// The contract for any input: a graph, or an error naming a line that exists.
fn check_contract(dir: &Path, bytes: &[u8]) -> Result<Option<RolloutState>> {
    let lines = bytes.split(|&b| b == b'\n').count() as u64;
    match reduce_bytes(dir, bytes)? {
        Ok(state) => Ok(Some(state)),
        Err(ReduceError::Parse {
            line, ref message, ..
        })
        | Err(ReduceError::Contradiction {
            line, ref message, ..
        }) => {
            ensure!(
                (1..=lines).contains(&line),
                "error names line {line} of a {lines}-line file: {message}"
            );
            Ok(None)
        }
        Err(e) => bail!("unexpected error kind: {e:#}"),
    }
}

/// Everything the intact lines of a prefix recorded is in its graph (`exact`: and no other
/// turn; a torn last line that still parses as a record is applied too).
fn check_prefix_is_in_graph(state: &RolloutState, prefix: &[Vec<u8>], exact: bool) -> Result<()> {
    let mut turns = 0;
    for line in prefix {
        let Ok(text) = std::str::from_utf8(line) else {
            continue;
        };
        let Ok(record) = Record::parse(text.trim_end()) else {
            continue;
        };
        let seq = record.seq;
        match record.body {
            RecordBody::SpanStarted {
                span, kind, fields, ..
            } => {
                let present = match kind {
                    SpanKind::Thread => {
                        let id = fields.get("thread_id").and_then(Value::as_str);
                        id.is_some_and(|id| state.threads.contains_key(id))
                    }
                    SpanKind::Turn => {
                        turns += 1;
                        true
                    }
                    SpanKind::Inference => state
                        .inference_calls
                        .contains_key(&format!("inference:{span}")),
                    SpanKind::Tool => state.tool_calls.contains_key(&format!("tool:{span}")),
                    SpanKind::CodeCell => {
                        state.code_cells.contains_key(&format!("code_cell:{span}"))
                    }
                    SpanKind::Terminal => state
                        .terminal_operations
                        .contains_key(&format!("terminal_op:{span}")),
                    _ => true,
                };
                ensure!(present, "{kind} span {span} (seq {seq}) is missing");
            }
            RecordBody::Payload { .. } => {
                ensure!(
                    state.payloads.contains_key(&seq),
                    "payload seq {seq} is missing"
                );
            }
            _ => {}
        }
    }
    ensure!(
        state.turns.len() == turns || (!exact && state.turns.len() > turns),
        "{} turns in the graph, {turns} started",
        state.turns.len()
    );
    Ok(())
}

#[test]
fn every_line_boundary_prefix_reduces_with_everything_it_holds() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let lines = lines_of(&demo());
    ensure!(lines.len() > 100, "the demo fixture is missing");
    for k in 0..=lines.len() {
        let prefix = lines[..k].concat();
        let state =
            reduce_bytes(dir.path(), &prefix)?.with_context(|| format!("prefix of {k} lines"))?;
        ensure!(
            state.complete == (k == lines.len()),
            "prefix of {k} lines: complete = {}",
            state.complete
        );
        check_prefix_is_in_graph(&state, &lines[..k], true)
            .with_context(|| format!("prefix of {k} lines"))?;
    }
    Ok(())
}

#[test]
fn a_torn_last_line_anywhere_inside_it_is_ignored_not_fatal() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let lines = lines_of(&demo());
    for k in 0..lines.len() {
        let line = &lines[k];
        // Three cuts per line: just after its start, in the middle, just before its newline.
        for cut in [1, line.len() / 2, line.len() - 1] {
            let mut bytes = lines[..k].concat();
            bytes.extend_from_slice(&line[..cut]);
            let state = reduce_bytes(dir.path(), &bytes)?
                .with_context(|| format!("line {} cut after {cut} bytes", k + 1))?;
            // Only the final newline missing: `bundle_ended` is intact, the trace complete.
            let only_newline_lost = k + 1 == lines.len() && cut == line.len() - 1;
            ensure!(
                state.complete == only_newline_lost,
                "line {} cut after {cut} bytes: complete = {}",
                k + 1,
                state.complete
            );
            check_prefix_is_in_graph(&state, &lines[..k], false)?;
        }
    }
    Ok(())
}

#[test]
fn deleted_duplicated_and_swapped_lines_give_a_graph_or_an_error_naming_the_line() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let lines = lines_of(&demo());
    let mut errors = 0;
    for k in 0..lines.len() {
        let mut deleted = lines.clone();
        deleted.remove(k);
        let mut duplicated = lines.clone();
        duplicated.insert(k, lines[k].clone());
        let mut variants = vec![deleted, duplicated];
        if k + 1 < lines.len() {
            let mut swapped = lines.clone();
            swapped.swap(k, k + 1);
            variants.push(swapped);
        }
        for variant in variants {
            if check_contract(dir.path(), &variant.concat())?.is_none() {
                errors += 1;
            }
        }
    }
    // Each breaks the contiguous seq and is reported, never silently accepted, except
    // deleting the last line, which leaves a valid prefix.
    ensure!(errors == 3 * lines.len() - 2, "{errors} errors");
    Ok(())
}

/// Hostile replacements for a JSON value, as raw text (some are not expressible as a
/// `serde_json::Value`: huge numbers, deep nesting, invalid UTF-8).
fn hostile_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"null".to_vec()),
        Just(b"true".to_vec()),
        Just(b"\"\"".to_vec()),
        Just(b"\"a string\"".to_vec()),
        Just(b"[]".to_vec()),
        Just(b"{}".to_vec()),
        Just(b"-1".to_vec()),
        Just(b"0".to_vec()),
        Just(b"1.5".to_vec()),
        Just(b"18446744073709551615".to_vec()),
        Just(b"18446744073709551616".to_vec()),
        Just(b"1e400".to_vec()),
        Just(b"-9223372036854775809".to_vec()),
        Just(b"123456789012345678901234567890123456789".to_vec()),
        Just(b"\"\\ud800\"".to_vec()),
        Just(b"\"\xff\xfe\"".to_vec()),
        Just(b"\"\\u0000\\n../../etc\"".to_vec()),
        (1usize..20_000).prop_map(|depth| {
            let mut v = vec![b'['; depth];
            v.extend(vec![b']'; depth]);
            v
        }),
        (1usize..5_000).prop_map(|depth| {
            let mut v = b"{\"a\":".repeat(depth);
            v.extend_from_slice(b"1");
            v.extend(vec![b'}'; depth]);
            v
        }),
        (0usize..200_000).prop_map(|n| {
            let mut v = vec![b'"'];
            v.extend(vec![b'x'; n]);
            v.push(b'"');
            v
        }),
    ]
}

#[derive(Debug, Clone)]
enum Mutation {
    FlipByte {
        at: usize,
        xor: u8,
    },
    InsertBytes {
        at: usize,
        bytes: Vec<u8>,
    },
    Truncate {
        at: usize,
    },
    DeleteLine {
        line: usize,
    },
    DuplicateLine {
        line: usize,
    },
    SwapLines {
        a: usize,
        b: usize,
    },
    /// Replace the value at some key path of a line with a hostile value.
    ReplaceValue {
        line: usize,
        pick: usize,
        value: Vec<u8>,
    },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1u8..=255).prop_map(|(at, xor)| Mutation::FlipByte { at, xor }),
        (
            any::<usize>(),
            proptest::collection::vec(any::<u8>(), 1..16)
        )
            .prop_map(|(at, bytes)| Mutation::InsertBytes { at, bytes }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
        any::<usize>().prop_map(|line| Mutation::DeleteLine { line }),
        any::<usize>().prop_map(|line| Mutation::DuplicateLine { line }),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines { a, b }),
        (any::<usize>(), any::<usize>(), hostile_value())
            .prop_map(|(line, pick, value)| Mutation::ReplaceValue { line, pick, value }),
        (any::<usize>(), any::<usize>(), hostile_value())
            .prop_map(|(line, pick, value)| Mutation::ReplaceValue { line, pick, value }),
    ]
}

/// Every value position of `v` (as a path of keys / indices), depth first.
fn value_paths(v: &Value, path: &mut Vec<Value>, out: &mut Vec<Vec<Value>>) {
    out.push(path.clone());
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                path.push(Value::String(k.clone()));
                value_paths(child, path, out);
                path.pop();
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                path.push(Value::from(i));
                value_paths(child, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

fn value_at<'a>(v: &'a mut Value, path: &[Value]) -> Option<&'a mut Value> {
    path.iter().try_fold(v, |v, step| match step {
        Value::String(k) => v.get_mut(k.as_str()),
        Value::Number(i) => v.get_mut(usize::try_from(i.as_u64()?).ok()?),
        _ => None,
    })
}

const MARKER: &str = "\u{1}hostile\u{1}";

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let mut lines = lines_of(bytes);
    let pick = |i: usize, n: usize| if n == 0 { 0 } else { i % n };
    match m {
        Mutation::FlipByte { at, xor } => {
            if !bytes.is_empty() {
                let at = pick(*at, bytes.len());
                bytes[at] ^= xor;
            }
            return;
        }
        Mutation::InsertBytes { at, bytes: new } => {
            let at = pick(*at, bytes.len() + 1);
            bytes.splice(at..at, new.iter().copied());
            return;
        }
        Mutation::Truncate { at } => {
            bytes.truncate(pick(*at, bytes.len() + 1));
            return;
        }
        Mutation::DeleteLine { line } if !lines.is_empty() => {
            lines.remove(pick(*line, lines.len()));
        }
        Mutation::DuplicateLine { line } if !lines.is_empty() => {
            let l = pick(*line, lines.len());
            lines.insert(l, lines[l].clone());
        }
        Mutation::SwapLines { a, b } if !lines.is_empty() => {
            let (a, b) = (pick(*a, lines.len()), pick(*b, lines.len()));
            lines.swap(a, b);
        }
        Mutation::ReplaceValue {
            line,
            pick: p,
            value,
        } if !lines.is_empty() => {
            let l = pick(*line, lines.len());
            let Ok(mut v) = serde_json::from_slice::<Value>(&lines[l]) else {
                return;
            };
            let mut paths = Vec::new();
            value_paths(&v, &mut Vec::new(), &mut paths);
            let path = &paths[pick(*p, paths.len())];
            if let Some(slot) = value_at(&mut v, path) {
                *slot = Value::String(MARKER.to_owned());
            }
            let Ok(text) = serde_json::to_vec(&v) else {
                return;
            };
            let marker = serde_json::to_vec(MARKER).unwrap_or_default();
            let mut replaced = Vec::with_capacity(text.len() + value.len());
            let mut rest = &text[..];
            while let Some(i) = rest.windows(marker.len()).position(|w| w == marker) {
                replaced.extend_from_slice(&rest[..i]);
                replaced.extend_from_slice(value);
                rest = &rest[i + marker.len()..];
            }
            replaced.extend_from_slice(rest);
            replaced.push(b'\n');
            lines[l] = replaced;
        }
        _ => return,
    }
    *bytes = lines.concat();
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 384,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_damage_gives_a_graph_or_an_error_naming_a_line(
        mutations in proptest::collection::vec(mutation(), 1..5)
    ) {
        let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut bytes = demo();
        for m in &mutations {
            apply(&mut bytes, m);
        }
        check_contract(dir.path(), &bytes).map_err(|e| TestCaseError::fail(format!("{e:#}")))?;
    }
}

/// Inputs found by the property test and the fuzz target, kept as regression tests.
#[test]
fn known_hostile_inputs_reduce_or_fail_with_a_line() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let inputs: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"\n\n\n".to_vec(),
        b"\xff\xfe\n".to_vec(),
        b"\xff".to_vec(),
        b"{}\n".to_vec(),
        b"null\n".to_vec(),
        deep.into_bytes(),
        format!(
            "{{\"seq\":1,\"t\":0,\"ns\":0,\"type\":\"payload\",\"span\":1,\"role\":\"request\",\"body\":{}}}\n",
            "[".repeat(5_000)
        )
        .into_bytes(),
        b"{\"seq\":18446744073709551615,\"t\":0,\"ns\":0,\"type\":\"dropped\",\"records\":1}\n".to_vec(),
    ];
    for input in inputs {
        check_contract(dir.path(), &input)?;
    }
    Ok(())
}

/// Every fuzz seed reduces; the deep-nesting seeds (fields, a request body, event fields and
/// late fields nested 130, 300 and 5 000 deep, as the layer writes them) reduce complete,
/// with a diagnostic per line too deep to interpret and the request payload kept.
#[test]
fn every_fuzz_seed_reduces_and_deep_nesting_is_kept_as_evidence() -> Result<()> {
    let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/reduce_trace");
    let dir = tempfile::tempdir()?;
    let mut deep = 0;
    for entry in std::fs::read_dir(&seeds)? {
        let path = entry?.path();
        let bytes = std::fs::read(&path)?;
        let state = reduce_bytes(dir.path(), &bytes)?
            .with_context(|| format!("reduce seed {}", path.display()))?;
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        if name.as_deref().is_some_and(|n| n.starts_with("deep-")) {
            deep += 1;
            ensure!(
                state.complete,
                "{}: {:?}",
                path.display(),
                state.diagnostics
            );
            assert_eq!(state.threads.len(), 1);
            assert_eq!(state.inference_calls.len(), 1);
            assert_eq!(state.payloads.len(), 1);
            let too_deep = state
                .diagnostics
                .iter()
                .filter(|d| d.message.contains("nests deeper than"))
                .count();
            assert_eq!(too_deep, 3, "{}: {:?}", path.display(), state.diagnostics);
        }
    }
    assert_eq!(deep, 3, "deep seeds in {}", seeds.display());
    Ok(())
}
