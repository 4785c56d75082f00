//! SIGKILL at many points of a multi-thread rollout: every bundle left behind reduces, with
//! `complete: false`, and everything that reached the file before the kill is in the graph.
//!
//! The test binary re-executes itself as the child (`--exact crash_child`, selected by an
//! environment variable). The child records one rollout with several agent threads on
//! several OS threads, turn after turn, and prints a line after each finished turn; the
//! parent kills it after reading `k` lines, for many `k`. No sleeps: the kill points are
//! defined by the child's own progress.

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{ensure, Context as _, Result};
use serde_json::Value;
use tracing::{info, info_span};
use tracing_rollout::format::{Record, RecordBody, SpanKind};
use tracing_rollout::reduce::{reduce_bundle, Status};
use tracing_rollout::RolloutLayer;
use tracing_subscriber::prelude::*;

const CHILD_ENV: &str = "TRACING_ROLLOUT_CRASH_CHILD_ROOT";
const WORKERS: usize = 3;

/// Runs only as the child: records turns until killed (or until stdout is gone).
#[test]
fn crash_child() -> Result<()> {
    let Some(root) = std::env::var_os(CHILD_ENV) else {
        return Ok(());
    };
    let (layer, _guard) = RolloutLayer::builder().root_dir(root).build()?;
    tracing_subscriber::registry().with(layer).init();
    let body = serde_json::json!({"input": [{"type": "message", "role": "user", "content": "x".repeat(6_000)}]})
        .to_string();
    let _rollout = info_span!("rollout", rollout_id = "crash").entered();
    let root_thread = info_span!("rollout.thread", thread_id = "root", agent_path = "/root");
    std::thread::scope(|s| {
        for w in 0..WORKERS {
            let (root_thread, body) = (&root_thread, &body);
            s.spawn(move || {
                let thread_id = format!("worker-{w}");
                let _thread = info_span!(parent: root_thread, "rollout.thread",
                    thread_id = %thread_id, parent_thread_id = "root")
                .entered();
                let mut stdout = std::io::stdout();
                for turn in 0..100_000u64 {
                    {
                        let _turn =
                            info_span!("rollout.turn", turn_id = %format!("{thread_id}-{turn}"))
                                .entered();
                        info_span!("rollout.inference", model = "m").in_scope(|| {
                            info!(name: "rollout.payload", role = "request", payload = body.as_str());
                        });
                        info_span!("rollout.tool", tool = "t", call_id = %format!("c{turn}"))
                            .in_scope(|| {
                                info!(name: "rollout.payload", role = "result", payload = "ok");
                            });
                    }
                    // The parent is gone: stop instead of running forever.
                    if writeln!(stdout, "TURN {thread_id} {turn}")
                        .and_then(|()| stdout.flush())
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    Ok(())
}

/// Kills a child after it reported `k` finished turns; returns its root directory.
fn run_and_kill(k: usize) -> Result<tempfile::TempDir> {
    let root = tempfile::tempdir()?;
    let mut child = Command::new(std::env::current_exe()?)
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, root.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = child.stdout.take().context("child stdout")?;
    let mut seen = 0;
    for line in BufReader::new(stdout).lines() {
        if seen >= k {
            break;
        }
        // The harness prints `test crash_child ... ` before the first line.
        if line?.contains("TURN ") {
            seen += 1;
        }
    }
    child.kill()?; // SIGKILL on Unix
    let status = child.wait()?;
    ensure!(!status.success(), "the child ended on its own: {status}");
    ensure!(seen == k, "the child reported {seen} turns, not {k}");
    Ok(root)
}

/// The bundle reduces, is incomplete, and holds every span and payload of the intact lines.
fn check_bundle(dir: &Path) -> Result<(usize, usize)> {
    let state = reduce_bundle(dir)?;
    ensure!(!state.complete, "a killed rollout is never complete");
    ensure!(
        state.status == Status::Incomplete,
        "status {:?}",
        state.status
    );
    let bytes = std::fs::read(dir.join("trace.jsonl"))?;
    let mut intact = bytes.split_inclusive(|&b| b == b'\n').collect::<Vec<_>>();
    if intact.last().is_some_and(|l| !l.ends_with(b"\n")) {
        intact.pop();
    }
    let mut turns = 0;
    for line in &intact {
        let text = std::str::from_utf8(line)?;
        let record = Record::parse(text.trim_end())?;
        match record.body {
            RecordBody::SpanStarted {
                span, kind, fields, ..
            } => {
                let present = match kind {
                    SpanKind::Thread => fields
                        .get("thread_id")
                        .and_then(Value::as_str)
                        .is_some_and(|id| state.threads.contains_key(id)),
                    SpanKind::Turn => {
                        turns += 1;
                        fields
                            .get("turn_id")
                            .and_then(Value::as_str)
                            .is_some_and(|id| state.turns.contains_key(id))
                    }
                    SpanKind::Inference => state
                        .inference_calls
                        .contains_key(&format!("inference:{span}")),
                    SpanKind::Tool => state.tool_calls.contains_key(&format!("tool:{span}")),
                    _ => true,
                };
                ensure!(
                    present,
                    "{kind} span {span} (seq {}) is missing",
                    record.seq
                );
            }
            RecordBody::Payload { .. } => ensure!(
                state.payloads.contains_key(&record.seq),
                "payload seq {} is missing",
                record.seq
            ),
            _ => {}
        }
    }
    ensure!(state.turns.len() >= turns, "turns lost");
    Ok((intact.len(), bytes.len()))
}

#[cfg(unix)]
#[test]
fn a_sigkilled_rollout_leaves_a_reducible_bundle_at_every_kill_point() -> Result<()> {
    // Kill points spread from the first turn to a few hundred, on noisy cores.
    let points: Vec<usize> = (0..24).map(|i| 1 + i * i / 2).collect();
    let mut torn = 0;
    let mut report = Vec::new();
    for &k in &points {
        let root = run_and_kill(k)?;
        let dir = root.path().join("crash");
        if !dir.join("trace.jsonl").exists() {
            // Killed before the writer thread created the bundle: nothing to reduce.
            report.push((k, 0, 0));
            continue;
        }
        let (lines, bytes) = check_bundle(&dir).with_context(|| format!("killed after {k}"))?;
        let text = std::fs::read(dir.join("trace.jsonl"))?;
        torn += usize::from(!text.is_empty() && !text.ends_with(b"\n"));
        report.push((k, lines, bytes));
    }
    eprintln!("kill points (turns reported, intact lines, bytes): {report:?}; torn tails: {torn}");
    Ok(())
}
