//! Many OS threads recording at once: bundles stay separate and complete in lossless mode,
//! and lossy mode accounts for every record as written or dropped.

mod support;

use std::collections::HashSet;
use std::sync::Barrier;

use anyhow::{ensure, Result};
use pretty_assertions::assert_eq;
use tracing::{info, info_span};
use tracing_rollout::format::{Record, RecordBody};
use tracing_rollout::RolloutLayer;

use support::layer::{dispatch, manifest, trace_lines, type_counts};

const OS_THREADS: usize = 8;
const ROLLOUTS_PER_THREAD: usize = 2;
const TURNS: usize = 40;

/// One rollout: a thread span with `TURNS` turns of one inference and two tools each.
/// Returns the records it emits besides `bundle_started`/`bundle_ended`.
fn rollout(id: &str) -> u64 {
    let _rollout = info_span!("rollout", rollout_id = id).entered();
    let _thread = info_span!("rollout.thread", thread_id = "main").entered();
    for turn in 0..TURNS {
        let _turn = info_span!("rollout.turn", turn_id = turn).entered();
        info_span!("rollout.inference", model = "m").in_scope(|| {
            info!(name: "rollout.payload", role = "request", payload = r#"{"input":[]}"#);
        });
        for call in 0..2 {
            info_span!("rollout.tool", call_id = call).in_scope(|| {
                info!(name: "rollout.payload", role = "args", payload = "x".repeat(200).as_str());
            });
        }
    }
    // spans: rollout + thread + turns × (turn + inference + 2 tools); each starts and ends.
    let spans = 2 + TURNS as u64 * 4;
    let payloads = TURNS as u64 * 3;
    spans * 2 + payloads
}

#[test]
fn eight_threads_with_two_rollouts_each_lose_nothing_with_a_64_kib_budget() -> Result<()> {
    sixteen_rollouts(RolloutLayer::builder().max_buffered_bytes(64 * 1024))
}

/// One open file for sixteen interleaved rollouts: every record closes one log and reopens
/// another, and every file is still exactly what it would have been.
#[test]
fn sixteen_rollouts_through_one_open_file_are_each_written_whole() -> Result<()> {
    sixteen_rollouts(RolloutLayer::builder().max_open_files(1))
}

fn sixteen_rollouts(builder: tracing_rollout::RolloutLayerBuilder) -> Result<()> {
    let root = tempfile::tempdir()?;
    let (dispatch, guard) = dispatch(builder.root_dir(root.path()))?;
    let start = Barrier::new(OS_THREADS);
    let emitted: Vec<u64> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..OS_THREADS)
            .map(|t| {
                let (dispatch, start) = (&dispatch, &start);
                s.spawn(move || {
                    tracing::dispatcher::with_default(dispatch, || {
                        start.wait();
                        (0..ROLLOUTS_PER_THREAD)
                            .map(|r| rollout(&format!("t{t}-r{r}")))
                            .sum::<u64>()
                    })
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0)).collect()
    });
    let stats = guard.finish()?;

    assert_eq!(stats.bundles.len(), OS_THREADS * ROLLOUTS_PER_THREAD);
    let per_rollout = emitted[0] / ROLLOUTS_PER_THREAD as u64;
    let mut names = Vec::new();
    for dir in &stats.bundles {
        names.push(dir.file_name().map(|n| n.to_string_lossy().into_owned()));
        let lines = trace_lines(dir)?;
        let mut open = HashSet::new();
        for line in &lines {
            match Record::parse(line)?.body {
                RecordBody::SpanStarted { span, .. } => {
                    ensure!(open.insert(span), "span {span} started twice")
                }
                RecordBody::SpanEnded { span, .. } => {
                    ensure!(open.remove(&span), "span {span} ended unstarted")
                }
                _ => {}
            }
        }
        ensure!(
            open.is_empty(),
            "{}: spans never ended: {open:?}",
            dir.display()
        );
        assert_eq!(lines.len() as u64, per_rollout + 2, "{}", dir.display());
        let m = manifest(dir)?;
        assert_eq!(
            (m.status.as_str(), m.records, m.dropped_records),
            ("completed", per_rollout + 2, 0)
        );
    }
    let mut expected_names: Vec<_> = (0..OS_THREADS)
        .flat_map(|t| (0..ROLLOUTS_PER_THREAD).map(move |r| Some(format!("t{t}-r{r}"))))
        .collect();
    names.sort();
    expected_names.sort();
    assert_eq!(names, expected_names);
    assert_eq!(
        (stats.records, stats.dropped_records, stats.io_errors),
        (
            emitted.iter().sum::<u64>() + 2 * stats.bundles.len() as u64,
            0,
            0
        )
    );
    Ok(())
}

#[test]
fn lossy_mode_accounts_for_every_record_as_written_or_dropped() -> Result<()> {
    const THREADS: usize = 4;
    const PAYLOADS: u64 = 3_000;
    let root = tempfile::tempdir()?;
    // A budget smaller than one record admits a record only when nothing else is in flight,
    // so several threads emitting at once must drop.
    let (dispatch, guard) = dispatch(
        RolloutLayer::builder()
            .root_dir(root.path())
            .lossy(true)
            .max_buffered_bytes(64),
    )?;
    let start = Barrier::new(THREADS);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (dispatch, start) = (&dispatch, &start);
            s.spawn(move || {
                tracing::dispatcher::with_default(dispatch, || {
                    let _rollout =
                        info_span!("rollout", rollout_id = format!("lossy-{t}")).entered();
                    start.wait();
                    for i in 0..PAYLOADS {
                        info!(name: "rollout.payload", role = "output", payload = i);
                    }
                });
            });
        }
    });
    let stats = guard.finish()?;
    assert_eq!(stats.bundles.len(), THREADS);

    let mut dropped_total = 0;
    for dir in &stats.bundles {
        let lines = trace_lines(dir)?;
        let counts = type_counts(&lines)?;
        let m = manifest(dir)?;
        let mut dropped_in_file = 0;
        for line in &lines {
            if let RecordBody::Dropped { records, .. } = Record::parse(line)?.body {
                dropped_in_file += records;
            }
        }
        let written = |t: &str| counts.get(t).copied().unwrap_or(0);
        // Emitted per rollout: span_started, PAYLOADS payloads, span_ended.
        assert_eq!(
            written("span_started")
                + written("payload")
                + written("span_ended")
                + m.dropped_records,
            PAYLOADS + 2,
            "{}: {counts:?}, manifest {m:?}",
            dir.display()
        );
        assert_eq!(dropped_in_file, m.dropped_records, "{}", dir.display());
        assert_eq!((written("bundle_started"), written("bundle_ended")), (1, 1));
        assert_eq!(m.records, lines.len() as u64);
        dropped_total += m.dropped_records;
    }
    assert!(dropped_total > 0, "expected drops with a 64-byte budget");
    assert_eq!(stats.dropped_records, dropped_total);
    Ok(())
}
