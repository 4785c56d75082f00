//! Nothing is lost at the end: `finish` (or dropping the guard) returns only when the whole
//! backlog is in the files, and any prefix of a trace is a valid trace.

mod support;

use anyhow::{ensure, Result};
use pretty_assertions::assert_eq;
use tracing::{info, info_span};
use tracing_rollout::format::{Record, RecordBody};
use tracing_rollout::RolloutLayer;

use support::layer::{dispatch, manifest, only_bundle, record_into, trace_lines};

#[test]
fn a_200_mb_payload_backlog_is_entirely_on_disk_when_finish_returns() -> Result<()> {
    const PAYLOADS: usize = 200;
    const SIZE: usize = 1 << 20;
    let root = tempfile::tempdir()?;
    // A budget above the whole backlog, so it is all queued when `finish` starts waiting.
    // Whole bodies (format 1): with payload dedup the 200 equal bodies would be stored once,
    // and this is about 200 MB reaching the disk.
    let builder = RolloutLayer::builder()
        .max_buffered_bytes(512 << 20)
        .finish_timeout(std::time::Duration::MAX)
        .payload_dedup(false);
    // Text that is not JSON: stored as a JSON string without validation work per byte.
    let text = "y".repeat(SIZE);
    let stats = record_into(root.path(), builder, || {
        let _rollout = info_span!("rollout", rollout_id = "big").entered();
        for _ in 0..PAYLOADS {
            info!(name: "rollout.payload", role = "output", payload = text.as_str());
        }
    })?;
    let dir = only_bundle(&stats)?;
    let lines = trace_lines(&dir)?;
    let mut payloads = 0;
    let mut body_bytes = 0;
    for line in &lines {
        if let RecordBody::Payload { head, body } = Record::parse(line)?.body {
            ensure!(
                head.bytes == SIZE as u64 && body.get().len() == SIZE + 2,
                "payload cut short"
            );
            payloads += 1;
            body_bytes += body.get().len() - 2;
        }
    }
    assert_eq!((payloads, body_bytes), (PAYLOADS, PAYLOADS * SIZE));
    assert_eq!(manifest(&dir)?.status, "completed");
    assert_eq!(
        stats.bytes,
        std::fs::metadata(dir.join("trace.jsonl"))?.len()
    );
    Ok(())
}

#[test]
fn dropping_the_guard_without_finish_still_writes_everything() -> Result<()> {
    let root = tempfile::tempdir()?;
    let (dispatch, guard) = dispatch(RolloutLayer::builder().root_dir(root.path()))?;
    tracing::dispatcher::with_default(&dispatch, || {
        let _rollout = info_span!("rollout", rollout_id = "dropped-guard").entered();
        for i in 0..1_000 {
            info_span!("rollout.tool", call_id = i).in_scope(|| {
                info!(name: "rollout.payload", role = "result", payload = "[1,2,3]");
            });
        }
    });
    drop(guard);
    let dir = root.path().canonicalize()?.join("dropped-guard");
    let lines = trace_lines(&dir)?;
    // bundle_started, rollout start/end, 1000 × (tool start, payload, tool end), bundle_ended
    assert_eq!(lines.len(), 4 + 3_000);
    let m = manifest(&dir)?;
    assert_eq!((m.status.as_str(), m.records), ("completed", 3_004));
    Ok(())
}

#[test]
fn a_rollout_still_open_at_finish_is_marked_incomplete() -> Result<()> {
    let root = tempfile::tempdir()?;
    let (dispatch, guard) = dispatch(RolloutLayer::builder().root_dir(root.path()))?;
    let rollout = tracing::dispatcher::with_default(&dispatch, || {
        let rollout = info_span!("rollout", rollout_id = "open");
        rollout.in_scope(|| info_span!("rollout.thread", thread_id = "main").in_scope(|| {}));
        rollout
    });
    let stats = guard.finish()?;
    drop(rollout); // after finish: ignored
    let dir = only_bundle(&stats)?;
    let lines = trace_lines(&dir)?;
    let m = manifest(&dir)?;
    assert_eq!(
        (m.status.as_str(), m.records, lines.len()),
        ("incomplete", 4, 4)
    );
    Ok(())
}

#[test]
fn every_prefix_of_a_trace_cut_at_any_byte_parses_up_to_its_last_complete_line() -> Result<()> {
    let root = tempfile::tempdir()?;
    let stats = record_into(root.path(), RolloutLayer::builder(), || {
        let _rollout = info_span!("rollout", rollout_id = "torn").entered();
        let _thread = info_span!("rollout.thread", thread_id = "main").entered();
        for i in 0..20 {
            info_span!(
                "rollout.tool",
                call_id = i,
                note = "multi\nline \"quoted\" é"
            )
            .in_scope(|| {
                info!(name: "rollout.payload", role = "args", payload = "{\"a\":\n1}");
                info!(name: "rollout.payload", role = "result", payload = "not\r\njson\u{2028}");
            });
        }
    })?;
    let dir = only_bundle(&stats)?;
    let full = std::fs::read(dir.join("trace.jsonl"))?;
    let lines = trace_lines(&dir)?;
    let mut complete = 0;
    for cut in 0..=full.len() {
        let prefix = &full[..cut];
        // Complete lines of the prefix are exactly the first lines of the whole trace.
        let newlines = prefix.iter().filter(|&&b| b == b'\n').count();
        if newlines > complete {
            complete = newlines;
            let last_start = prefix[..cut - 1]
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |i| i + 1);
            let last = std::str::from_utf8(&prefix[last_start..cut - 1])?;
            assert_eq!(last, lines[complete - 1]);
            ensure!(Record::parse(last)?.seq == complete as u64);
        }
    }
    assert_eq!(complete, lines.len());
    Ok(())
}
