//! Many rollouts at once in one process: 1 000 concurrent rollouts on tokio tasks, each with
//! a sub-agent on a task of its own, run to completion with the bundle logs' descriptors
//! bounded by `max_open_files` and memory by `max_buffered_bytes` (which the file buffers are
//! part of); and 400 rollouts open at once under `ulimit -n 256` lose nothing (the test
//! re-executes itself in a shell with that limit).
//!
//! Descriptors are counted in `/proc/self/fd` and memory is the peak resident set
//! (`VmHWM`, reset through `/proc/self/clear_refs`): where those are missing the tests print
//! SKIPPED (and fail when `CI` is set).

mod support;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use anyhow::{ensure, Context as _, Result};
use support::layer::dispatch;
use support::responses::{msg, request};
use support::skip::skipped;
use support::tasks::run_tasks;
use tracing::{info_span, Dispatch, Instrument as _};
use tracing_rollout::reduce::{reduce_bundle, Status};
use tracing_rollout::{FinishStats, RolloutLayer};

const MAX_OPEN_FILES: usize = 64;

/// The tests of this file measure the whole process: one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
const MAX_BUFFERED: usize = 8 << 20;

/// Descriptors open in this process, if `/proc` says.
fn open_fds() -> Option<usize> {
    Some(std::fs::read_dir("/proc/self/fd").ok()?.count())
}

/// Peak resident set in bytes since the last reset, if `/proc` says.
fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// A request of about `len` bytes, the same text for every rollout (so the test itself holds
/// one copy, not one per task).
fn request_text(len: usize) -> String {
    let filler = "lorem ipsum dolor sit amet ".repeat(len / 27 + 1);
    request(&[msg("user", &filler)]).to_string()
}

/// Runs `n` rollouts as tokio tasks, all open at once (two barriers), each spawning a
/// sub-agent task; samples the descriptors each rollout sees while all are open. Returns the
/// stats and the largest sample.
fn run_rollouts(root: &Path, n: usize, max_open: usize) -> Result<(FinishStats, usize)> {
    let (dispatch, guard) = dispatch(
        RolloutLayer::builder()
            .root_dir(root)
            .max_open_files(max_open)
            .max_buffered_bytes(MAX_BUFFERED),
    )?;
    let parent_request: Arc<str> = request_text(8 << 10).into();
    let child_request: Arc<str> = request_text(2 << 10).into();
    let peak_fds = Arc::new(AtomicUsize::new(0));
    let all_open = Arc::new(tokio::sync::Barrier::new(n));
    run_tasks(/*workers*/ 2, n, |i| {
        rollout_task(
            i,
            Arc::clone(&all_open),
            dispatch.clone(),
            Arc::clone(&parent_request),
            Arc::clone(&child_request),
            Arc::clone(&peak_fds),
        )
    })?;
    let stats = guard.finish()?;
    Ok((stats, peak_fds.load(Ordering::SeqCst)))
}

async fn rollout_task(
    i: usize,
    all_open: Arc<tokio::sync::Barrier>,
    dispatch: Dispatch,
    parent_request: Arc<str>,
    child_request: Arc<str>,
    peak_fds: Arc<AtomicUsize>,
) {
    use tracing::instrument::WithSubscriber as _;
    let d = dispatch.clone();
    async move {
        let rollout = info_span!("rollout", rollout_id = format!("r{i}").as_str());
        let main = info_span!(parent: &rollout, "rollout.thread", thread_id = "main");
        let body = async move {
            all_open.wait().await;
            let turn = info_span!("rollout.turn", turn_id = "t1");
            let (child, tool) = turn.in_scope(|| {
                info_span!("rollout.inference", model = "m").in_scope(|| {
                    tracing::info!(name: "rollout.payload", role = "request", payload = &*parent_request);
                });
                let tool = info_span!("rollout.tool", tool = "spawn_agent", kind = "spawn_agent",
                    call_id = "call_1", target_thread_id = "worker", message = "go");
                let child = tracing_rollout::child_thread_span("worker", "main", "/main/worker", &tool);
                (child, tool)
            });
            let child_task = async move {
                tokio::task::yield_now().instrument(child.clone()).await;
                child.in_scope(|| {
                    info_span!("rollout.turn", turn_id = "w1").in_scope(|| {
                        info_span!("rollout.inference", model = "m").in_scope(|| {
                            tracing::info!(name: "rollout.payload", role = "request", payload = &*child_request);
                        });
                    });
                });
                drop(child);
            };
            let joined = tokio::spawn(child_task.with_subscriber(d)).await;
            assert!(joined.is_ok(), "a sub-agent task panicked");
            drop(tool);
            drop(turn);
            if let Some(fds) = open_fds() {
                peak_fds.fetch_max(fds, Ordering::SeqCst);
            }
            all_open.wait().await;
        };
        body.instrument(main).instrument(rollout).await;
    }
    .with_subscriber(dispatch)
    .await;
}

/// Every one of the `n` bundles is complete, with its two threads and payloads.
fn check_bundles(stats: &FinishStats, n: usize) -> Result<()> {
    assert_eq!(stats.io_errors, 0, "{stats:?}");
    assert_eq!(stats.dropped_records, 0);
    assert_eq!(stats.ambiguous_threads, 0);
    ensure!(
        stats.bundles.len() == n,
        "{} bundles of {n}",
        stats.bundles.len()
    );
    for dir in &stats.bundles {
        let state = reduce_bundle(dir).with_context(|| format!("reduce {}", dir.display()))?;
        ensure!(
            state.complete && state.status == Status::Completed,
            "{}: {:?}",
            dir.display(),
            state.diagnostics
        );
        ensure!(
            state.threads.len() == 2,
            "{}: {:?}",
            dir.display(),
            state.threads.keys()
        );
        ensure!(state.payloads.len() == 2, "{}", dir.display());
    }
    Ok(())
}

#[test]
fn a_thousand_concurrent_rollouts_with_sub_agents_keep_descriptors_and_memory_bounded() -> Result<()>
{
    let _serial = serial();
    let (Some(before), true) = (open_fds(), reset_peak_rss()) else {
        return skipped(
            "the scale test",
            "/proc/self/fd or /proc/self/clear_refs is missing",
        );
    };
    let base_rss = peak_rss().unwrap_or(0);
    let root = tempfile::tempdir()?;
    let (stats, peak) = run_rollouts(root.path(), 1000, MAX_OPEN_FILES)?;
    let grown = peak_rss().unwrap_or(0).saturating_sub(base_rss);
    println!(
        "1000 rollouts: {} descriptors before, at most {peak} while all were open \
         (max_open_files {MAX_OPEN_FILES}); peak RSS grew by {:.1} MiB \
         (max_buffered_bytes {} MiB); {} records, {:.1} MiB written",
        before,
        grown as f64 / (1 << 20) as f64,
        MAX_BUFFERED >> 20,
        stats.records,
        stats.bytes as f64 / (1 << 20) as f64
    );
    check_bundles(&stats, 1000)?;
    // The bundle logs, plus a few for the runtime (epoll, eventfd, pipes) and for manifests
    // being rewritten; each open bundle held one before.
    ensure!(
        peak <= before + MAX_OPEN_FILES + 16,
        "{peak} descriptors open with {before} before and max_open_files {MAX_OPEN_FILES}"
    );
    // The documented bound (queue + file buffers ≤ max_buffered_bytes), plus what the test
    // itself holds: 1 000 tasks' spans and futures, the registry, per-thread buffers.
    let slack = 48 << 20;
    ensure!(
        grown <= (MAX_BUFFERED + slack) as u64,
        "peak RSS grew by {grown} bytes (bound {MAX_BUFFERED} + {slack} of test overhead)"
    );
    Ok(())
}

/// Run by `four_hundred_rollouts_under_ulimit_n_256_lose_nothing` in a child with
/// `ulimit -n 256`; does nothing otherwise.
#[test]
fn ulimit_child() -> Result<()> {
    let Some(root) = std::env::var_os("ROLLOUT_SCALE_CHILD_ROOT") else {
        return Ok(());
    };
    let (stats, peak) = run_rollouts(Path::new(&root), 400, MAX_OPEN_FILES)?;
    println!(
        "CHILD bundles={} io_errors={} records={} peak_fds={peak}",
        stats.bundles.len(),
        stats.io_errors,
        stats.records
    );
    Ok(())
}

#[test]
fn four_hundred_rollouts_under_ulimit_n_256_lose_nothing() -> Result<()> {
    let _serial = serial();
    if open_fds().is_none() {
        return skipped("the scale test", "/proc/self/fd is missing");
    }
    let root = tempfile::tempdir()?;
    let exe = std::env::current_exe()?;
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(r#"ulimit -n 256 && exec "$0" --exact ulimit_child --nocapture --test-threads=1"#)
        .arg(&exe)
        .env("ROLLOUT_SCALE_CHILD_ROOT", root.path())
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(out.status.success(), "child failed: {stdout}\n{stderr}");
    let line = stdout
        .lines()
        .find_map(|l| l.find("CHILD ").map(|at| &l[at..]))
        .with_context(|| format!("no CHILD line in {stdout}\n{stderr}"))?;
    println!("under ulimit -n 256: {line}");
    ensure!(line.contains("bundles=400 io_errors=0"), "{line}\n{stderr}");
    // Every bundle is on disk, whole.
    let mut dirs = 0;
    for entry in std::fs::read_dir(root.path())? {
        let dir = entry?.path();
        let state = reduce_bundle(&dir).with_context(|| format!("reduce {}", dir.display()))?;
        ensure!(state.complete, "{}: {:?}", dir.display(), state.diagnostics);
        ensure!(state.threads.len() == 2);
        dirs += 1;
    }
    assert_eq!(dirs, 400);
    Ok(())
}
