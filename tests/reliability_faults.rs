//! Faults in the host's environment and in the host itself: a full disk, a bundle directory
//! deleted or made read-only mid-run, panics inside spans and while the guard finishes,
//! `std::process::exit` after `finish()`. The host keeps running, I/O errors are counted and
//! reported once, and what reached the disk stays reducible.
//!
//! Disk-full and read-only tests mount a small tmpfs and are skipped (printing `SKIPPED: …`;
//! a failure when `CI` is set)
//! where mounting is not permitted. Scenarios that must observe stderr or the exit code run
//! in a child: the test binary re-executes itself with `--exact <child test>`.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{ensure, Context as _, Result};
use pretty_assertions::assert_eq;
use support::layer::{dispatch, record_into};
use support::skip::skipped;
use support::spans::{in_rollout, in_thread};
use tracing::{info, info_span};
use tracing_rollout::reduce::{reduce_bundle, Status};
use tracing_rollout::RolloutLayer;
use tracing_subscriber::prelude::*;

const CHILD_ROOT: &str = "TRACING_ROLLOUT_FAULT_CHILD_ROOT";

/// One turn with a request payload of `payload_bytes`.
fn turn(n: u64, payload_bytes: usize) {
    let _turn = info_span!("rollout.turn", turn_id = n).entered();
    info_span!("rollout.inference", model = "m").in_scope(|| {
        let text = "p".repeat(payload_bytes);
        info!(name: "rollout.payload", role = "request", payload = text.as_str());
    });
}

/// Runs the child test `name` with the fault root set; returns its output.
fn run_child(name: &str, root: &Path) -> Result<Output> {
    Ok(Command::new(std::env::current_exe()?)
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(CHILD_ROOT, root)
        .output()?)
}

fn child_root() -> Option<PathBuf> {
    std::env::var_os(CHILD_ROOT).map(PathBuf::from)
}

/// A tmpfs of `size` mounted on a fresh directory, unmounted on drop.
struct Tmpfs {
    _parent: tempfile::TempDir,
    mount: PathBuf,
}

impl Tmpfs {
    fn mount(size: &str) -> Result<Option<Tmpfs>> {
        let parent = tempfile::tempdir()?;
        let mount = parent.path().join("mnt");
        std::fs::create_dir(&mount)?;
        let status = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(&mount)
            .stderr(std::process::Stdio::null())
            .status();
        if !status.is_ok_and(|s| s.success()) {
            skipped(
                "the disk-full test",
                "a tmpfs cannot be mounted here (not root, or no CAP_SYS_ADMIN)",
            )?;
            return Ok(None);
        }
        Ok(Some(Tmpfs {
            _parent: parent,
            mount,
        }))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.mount).status();
    }
}

/// Child of the disk-full test: records 4 MiB of payloads into a 1 MiB file system.
#[test]
fn disk_full_child() -> Result<()> {
    let Some(root) = child_root() else {
        return Ok(());
    };
    // Whole bodies: the repeated payloads here would dedup to far less than the 1 MiB disk.
    let builder = RolloutLayer::builder().payload_dedup(false);
    let stats = record_into(&root, builder, || {
        in_rollout("full", || {
            in_thread("main", || {
                for n in 0..64 {
                    turn(n, 64 * 1024);
                }
            })
        })
    })?;
    println!(
        "HOST DONE records={} io_errors={}",
        stats.records, stats.io_errors
    );
    Ok(())
}

#[cfg(unix)]
#[test]
fn a_full_disk_is_counted_reported_once_and_leaves_a_reducible_prefix() -> Result<()> {
    let Some(fs) = Tmpfs::mount("1m")? else {
        return Ok(());
    };
    let out = run_child("disk_full_child", &fs.mount)?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(out.status.success(), "the host failed: {stderr}");
    let done = stdout
        .lines()
        .find(|l| l.contains("HOST DONE"))
        .with_context(|| format!("the host did not finish: {stdout}\n{stderr}"))?;
    let io_errors: u64 = done
        .rsplit_once("io_errors=")
        .and_then(|(_, n)| n.trim().parse().ok())
        .context("io_errors")?;
    ensure!(io_errors > 0, "{done}");
    let reports: Vec<_> = stderr
        .lines()
        .filter(|l| l.starts_with("tracing-rollout:"))
        .collect();
    assert_eq!(reports.len(), 1, "stderr: {stderr}");
    ensure!(
        reports[0].contains("No space left on device"),
        "{}",
        reports[0]
    );
    let state = reduce_bundle(fs.mount.join("full"))?;
    ensure!(!state.complete, "a bundle cut by a full disk is incomplete");
    ensure!(state.threads.contains_key("main"), "the thread is lost");
    ensure!(!state.turns.is_empty(), "no turn reached the disk");
    Ok(())
}

#[cfg(unix)]
#[test]
fn a_root_made_read_only_mid_run_fails_new_bundles_only_and_the_host_carries_on() -> Result<()> {
    let Some(fs) = Tmpfs::mount("8m")? else {
        return Ok(());
    };
    let root = fs.mount.join("root");
    // The first bundle must be on disk, ended, before the root turns read-only: the writer
    // thread says so through the hook.
    let (ended_tx, ended_rx) = std::sync::mpsc::channel();
    let ended_tx = std::sync::Mutex::new(ended_tx);
    let builder = RolloutLayer::builder()
        .root_dir(&root)
        .on_bundle_end(move |dir| {
            if let Ok(tx) = ended_tx.lock() {
                let _ = tx.send(dir.to_path_buf());
            }
        });
    let (dispatch, guard) = dispatch(builder)?;
    let remounted = tracing::dispatcher::with_default(&dispatch, || -> Result<bool> {
        let before = info_span!("rollout", rollout_id = "before");
        before.in_scope(|| turn(0, 100));
        drop(before);
        ended_rx.recv_timeout(std::time::Duration::from_secs(60))?;
        // A read-only bind mount over the root: new bundles cannot be created below it.
        let bound = Command::new("mount")
            .arg("--bind")
            .arg(&root)
            .arg(&root)
            .status()?;
        let ro = Command::new("mount")
            .args(["-o", "remount,bind,ro"])
            .arg(&root)
            .status()?;
        let _after = info_span!("rollout", rollout_id = "after").entered();
        turn(1, 100);
        Ok(bound.success() && ro.success())
    })?;
    let stats = guard.finish()?;
    let _ = Command::new("umount").arg("-l").arg(&root).status();
    if !remounted {
        return skipped(
            "the read-only root test",
            "the root cannot be remounted read-only here",
        );
    }
    // Creating the second bundle failed, then each of its records was counted.
    ensure!(stats.io_errors >= 1, "{stats:?}");
    assert_eq!(stats.bundles, vec![root.canonicalize()?.join("before")]);
    let state = reduce_bundle(root.join("before"))?;
    ensure!(state.complete && state.status == Status::Completed);
    Ok(())
}

#[test]
fn deleting_the_bundle_directory_mid_run_never_reaches_the_host() -> Result<()> {
    let root = tempfile::tempdir()?;
    // A one-byte budget admits one message at a time, so when a callback returns, every
    // earlier message has been handled by the writer: the bundle directory exists below.
    let (dispatch, guard) = dispatch(
        RolloutLayer::builder()
            .root_dir(root.path())
            .max_buffered_bytes(1),
    )?;
    let host = tracing::dispatcher::with_default(&dispatch, || {
        in_rollout("doomed", || {
            in_thread("main", || {
                turn(0, 10);
                assert!(root.path().join("doomed").is_dir());
                // Delete everything below the root while the bundle is open (as root, chmod
                // would not stop the writer; deletion does).
                let _ = std::fs::remove_dir_all(root.path().join("doomed"));
                for n in 1..50 {
                    turn(n, 1_000);
                }
                "still running"
            })
        })
    });
    let stats = guard.finish()?;
    assert_eq!(host, "still running");
    // The open log keeps absorbing writes into the unlinked file; the final manifest cannot
    // be written into the deleted directory, and that is counted.
    ensure!(stats.io_errors >= 1, "{stats:?}");
    Ok(())
}

#[test]
fn a_panic_inside_a_span_fails_that_span_and_recording_continues() -> Result<()> {
    let root = tempfile::tempdir()?;
    let stats = record_into(root.path(), RolloutLayer::builder(), || {
        in_rollout("panicky", || {
            in_thread("main", || {
                let caught = std::panic::catch_unwind(|| {
                    let _tool =
                        info_span!("rollout.tool", tool = "explodes", call_id = "c1").entered();
                    panic!("tool exploded");
                });
                assert!(caught.is_err());
                info_span!("rollout.tool", tool = "fine", call_id = "c2").in_scope(|| {});
            })
        })
    })?;
    let state = reduce_bundle(&stats.bundles[0])?;
    ensure!(state.complete && state.status == Status::Completed);
    let statuses: Vec<_> = state
        .tool_calls
        .values()
        .map(|t| (t.call_id.clone().unwrap_or_default(), t.execution.status))
        .collect();
    assert_eq!(
        statuses,
        vec![
            ("c1".to_owned(), Status::Failed),
            ("c2".to_owned(), Status::Completed)
        ]
    );
    Ok(())
}

#[test]
fn a_guard_dropped_while_unwinding_still_writes_everything() -> Result<()> {
    let root = tempfile::tempdir()?;
    let root_path = root.path().to_path_buf();
    let caught = std::panic::catch_unwind(move || -> Result<()> {
        let (dispatch, _guard) = dispatch(RolloutLayer::builder().root_dir(&root_path))?;
        tracing::dispatcher::with_default(&dispatch, || {
            in_rollout("unwound", || {
                in_thread("main", || {
                    for n in 0..200 {
                        turn(n, 1_000);
                    }
                    panic!("the host panics with the rollout open");
                })
            })
        })
    });
    ensure!(caught.is_err(), "the closure was meant to panic");
    let state = reduce_bundle(root.path().join("unwound"))?;
    // The spans closed during the unwind, before the guard: the rollout failed, and it is
    // all on disk.
    ensure!(state.complete, "diagnostics: {:?}", state.diagnostics);
    assert_eq!(state.status, Status::Failed);
    assert_eq!(state.turns.len(), 200);
    Ok(())
}

/// Child of the exit tests: one rollout, then `finish()` (or not), then `process::exit(3)`.
#[test]
fn exit_child() -> Result<()> {
    let Some(root) = child_root() else {
        return Ok(());
    };
    let finish = root.ends_with("finish");
    let (layer, guard) = RolloutLayer::builder().root_dir(&root).build()?;
    tracing_subscriber::registry().with(layer).init();
    in_rollout("exiting", || {
        in_thread("main", || {
            for n in 0..100 {
                turn(n, 1_000);
            }
        })
    });
    if finish {
        guard.finish()?;
    } else {
        // `exit` skips destructors: the guard never finishes.
        std::mem::forget(guard);
    }
    std::process::exit(3);
}

#[test]
fn process_exit_after_finish_keeps_the_whole_bundle() -> Result<()> {
    let parent = tempfile::tempdir()?;
    let root = parent.path().join("finish");
    let out = run_child("exit_child", &root)?;
    assert_eq!(out.status.code(), Some(3));
    let state = reduce_bundle(root.join("exiting"))?;
    ensure!(state.complete && state.status == Status::Completed);
    assert_eq!(state.turns.len(), 100);
    Ok(())
}

#[test]
fn process_exit_without_finish_loses_at_most_the_tail_and_stays_reducible() -> Result<()> {
    let parent = tempfile::tempdir()?;
    let root = parent.path().join("no-finish");
    let out = run_child("exit_child", &root)?;
    assert_eq!(out.status.code(), Some(3));
    let dir = root.join("exiting");
    if dir.join("trace.jsonl").exists() {
        // Whatever the writer thread had written when the process exited is a valid prefix.
        let state = reduce_bundle(&dir)?;
        ensure!(state.turns.len() <= 100);
    }
    Ok(())
}
