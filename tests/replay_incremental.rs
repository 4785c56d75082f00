//! The incremental reducer (`reduce::Replay`, `reduce::LiveBundle`): fed the demo bundle in any
//! chunking, or tailed while it is written, it ends with the graph `reduce_bundle` gives.

mod support;

use std::io::Write;

use pretty_assertions::assert_eq;
use support::fixtures::{demo_trace, DEMO};
use tracing_rollout::reduce::{reduce_bundle, LiveBundle, Replay, Status};

#[test]
fn feeding_the_demo_in_any_chunking_gives_the_batch_graph() -> anyhow::Result<()> {
    let batch = reduce_bundle(DEMO)?;
    let bytes = std::fs::read(format!("{DEMO}/trace.jsonl"))?;
    for chunk in [1, 7, 64, 1000, bytes.len()] {
        let mut replay = Replay::new(DEMO);
        for piece in bytes.chunks(chunk) {
            replay.feed(piece)?;
        }
        assert!(replay.is_ended(), "chunk {chunk}: bundle_ended applied");
        assert_eq!(replay.finish()?, batch, "chunk {chunk}");
    }
    Ok(())
}

#[test]
fn the_state_so_far_shows_open_spans_as_running() -> anyhow::Result<()> {
    let text = demo_trace()?;
    let lines: Vec<&str> = text.lines().collect();
    let mut replay = Replay::new(DEMO);
    for line in &lines[..lines.len() / 2] {
        replay.feed_line(line)?;
    }
    let state = replay.state();
    assert_eq!(state.status, Status::Running);
    assert!(!replay.is_ended());
    assert!(state
        .turns
        .values()
        .any(|t| t.execution.status == Status::Running));
    assert_eq!(replay.lines(), (lines.len() / 2) as u64);
    Ok(())
}

#[test]
fn a_half_written_last_line_waits_for_its_newline() -> anyhow::Result<()> {
    let text = demo_trace()?;
    let first = text.lines().next().unwrap_or_default();
    let mut replay = Replay::new(DEMO);
    replay.feed(&first.as_bytes()[..first.len() / 2])?;
    assert_eq!(replay.lines(), 0);
    assert!(replay.state().rollout_id.is_empty());
    replay.feed(&first.as_bytes()[first.len() / 2..])?;
    replay.feed(b"\n")?;
    assert_eq!(replay.lines(), 1);
    assert_eq!(replay.state().rollout_id, "multi-agent-demo");
    Ok(())
}

#[test]
fn a_torn_tail_at_finish_is_a_diagnostic_as_in_batch() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let text = demo_trace()?;
    let cut = &text[..text.len() - 40];
    std::fs::write(dir.path().join("trace.jsonl"), cut)?;
    let batch = reduce_bundle(dir.path())?;
    let mut replay = Replay::new(dir.path());
    replay.feed(cut.as_bytes())?;
    let live = replay.finish()?;
    assert_eq!(live, batch);
    assert!(!live.complete);
    assert!(live.diagnostics.iter().any(|d| d.message.contains("torn")));
    Ok(())
}

#[test]
fn a_live_bundle_picks_up_lines_as_they_are_appended() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let text = demo_trace()?;
    std::fs::copy(
        format!("{DEMO}/manifest.json"),
        dir.path().join("manifest.json"),
    )?;
    let path = dir.path().join("trace.jsonl");
    let mut live = LiveBundle::open(dir.path())?;
    assert!(!live.poll()?, "no trace.jsonl yet: nothing to apply");
    let mut file = std::fs::File::create(&path)?;
    let mut turns_seen = Vec::new();
    for (n, line) in text.lines().enumerate() {
        // Every line is written in two pieces with a poll between them.
        let (a, b) = line.split_at(line.len() / 2);
        file.write_all(a.as_bytes())?;
        file.flush()?;
        live.poll()?;
        assert_eq!(live.replay().lines(), n as u64);
        file.write_all(b.as_bytes())?;
        file.write_all(b"\n")?;
        file.flush()?;
        assert!(live.poll()?);
        turns_seen.push(live.replay().state().turns.len());
    }
    assert!(live.replay().is_ended());
    assert!(turns_seen.windows(2).all(|w| w[0] <= w[1]));
    assert_eq!(turns_seen.last().copied(), Some(6));
    assert_eq!(live.finish()?, reduce_bundle(DEMO)?);
    Ok(())
}
