//! Golden output: the checked-in demo bundle (clocks made deterministic) always renders the
//! same summary, and reduces to a graph that round-trips through `state.json`.
//!
//! To refresh after an intended change: `cargo run --features cli --bin tracing-rollout --
//! summary tests/fixtures/demo > tests/fixtures/demo/summary.txt`, and review the diff.

mod support;

use pretty_assertions::assert_eq;
use support::fixtures::DEMO;
use tracing_rollout::reduce::{
    reduce_bundle, render_summary, write_state_to, RequestItems, RolloutState,
};

#[test]
fn the_demo_bundle_renders_the_golden_summary() -> anyhow::Result<()> {
    let state = reduce_bundle(DEMO)?;
    let expected = std::fs::read_to_string(format!("{DEMO}/summary.txt"))?;
    assert_eq!(render_summary(&state), expected);
    Ok(())
}

#[test]
fn state_json_round_trips_to_the_same_graph() -> anyhow::Result<()> {
    let state = reduce_bundle(DEMO)?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("state.json");
    write_state_to(&state, &path)?;
    let back: RolloutState = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
    assert_eq!(back, state);
    let value: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
    assert_eq!(value["format"], "tracing-rollout/state");
    assert_eq!(value["format_version"], 2);
    Ok(())
}

/// A `state.json` of format version 1 (every request list whole) still reads: the same graph
/// but for the stored form of the lists, and the same request items through the accessor.
#[test]
fn a_version_1_state_json_reads_the_same_request_items() -> anyhow::Result<()> {
    let state = reduce_bundle(DEMO)?;
    let mut value = serde_json::to_value(&state)?;
    value["format_version"] = 1.into();
    for (id, call) in &state.inference_calls {
        value["inference_calls"][id]["request_items"] =
            serde_json::to_value(state.request_items(call))?;
    }
    let old: RolloutState = serde_json::from_value(value)?;
    assert_eq!(old.format_version, 1);
    for (id, call) in &state.inference_calls {
        let old_call = &old.inference_calls[id];
        assert!(matches!(old_call.request_items, RequestItems::List(_)));
        assert_eq!(old.request_items(old_call), state.request_items(call));
    }
    Ok(())
}

/// `--out /dev/null` and friends: a path that is not a regular file is written in place,
/// never replaced by a renamed temp file (as root that turned `/dev/null` into a regular
/// file, which then handed its accumulated contents to every reader). A FIFO stands in for
/// the device here; a symlink keeps pointing at the file it named.
#[cfg(unix)]
#[test]
fn writing_state_keeps_fifos_and_symlinks_what_they_are() -> anyhow::Result<()> {
    use std::io::Read;
    use std::os::unix::fs::FileTypeExt;

    let state = reduce_bundle(DEMO)?;
    let dir = tempfile::tempdir()?;

    let fifo = dir.path().join("pipe");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status()?;
    anyhow::ensure!(made.success(), "mkfifo failed");
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || -> std::io::Result<String> {
            let mut text = String::new();
            std::fs::File::open(fifo)?.read_to_string(&mut text)?;
            Ok(text)
        })
    };
    write_state_to(&state, &fifo)?;
    // Checked before joining: a replaced FIFO would leave the reader waiting forever.
    assert!(std::fs::symlink_metadata(&fifo)?.file_type().is_fifo());
    let text = reader
        .join()
        .map_err(|_| anyhow::anyhow!("reader panicked"))??;
    assert_eq!(serde_json::from_str::<RolloutState>(&text)?, state);

    let target = dir.path().join("target.json");
    std::fs::write(&target, "old")?;
    let link = dir.path().join("link.json");
    std::os::unix::fs::symlink(&target, &link)?;
    write_state_to(&state, &link)?;
    assert!(std::fs::symlink_metadata(&link)?.file_type().is_symlink());
    let back: RolloutState = serde_json::from_str(&std::fs::read_to_string(&target)?)?;
    assert_eq!(back, state);

    // No temp file is left behind.
    let mut names: Vec<String> = std::fs::read_dir(dir.path())?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()?;
    names.sort();
    assert_eq!(names, ["link.json", "pipe", "target.json"]);
    Ok(())
}

#[test]
fn payload_offsets_point_at_their_records_in_trace_jsonl() -> anyhow::Result<()> {
    let state = reduce_bundle(DEMO)?;
    let trace = std::fs::read(format!("{DEMO}/trace.jsonl"))?;
    assert!(!state.payloads.is_empty());
    for (seq, payload) in &state.payloads {
        let line = &trace[payload.offset as usize..(payload.offset + payload.len) as usize];
        let record: serde_json::Value = serde_json::from_slice(line)?;
        assert_eq!(record["seq"], *seq);
        assert_eq!(record["type"], "payload");
        assert_eq!(record["role"], payload.role.as_str());
    }
    Ok(())
}
