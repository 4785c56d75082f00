//! Golden output: the checked-in demo bundle (clocks made deterministic) always renders the
//! same summary, and reduces to a graph that round-trips through `state.json`.
//!
//! To refresh after an intended change: `cargo run --features cli --bin tracing-rollout --
//! summary tests/fixtures/demo > tests/fixtures/demo/summary.txt`, and review the diff.

use pretty_assertions::assert_eq;
use tracing_rollout::reduce::{reduce_bundle, render_summary, write_state_to, RolloutState};

const DEMO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/demo");

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
    assert_eq!(value["format_version"], 1);
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
