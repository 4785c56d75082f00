//! Any bytes as a bundle's `trace.jsonl`: the reducer returns a graph or an error naming a
//! line of the input, and never panics, overflows its stack or hangs.
#![no_main]

use std::path::PathBuf;

use libfuzzer_sys::fuzz_target;
use tracing_rollout::reduce::{reduce_bundle, ReduceError};

#[path = "common.rs"]
mod common;

fn bundle_dir() -> &'static PathBuf {
    common::bundle_dir("reduce")
}

fuzz_target!(|data: &[u8]| {
    let dir = bundle_dir();
    std::fs::write(dir.join("trace.jsonl"), data).expect("write trace.jsonl");
    let lines = data.split(|&b| b == b'\n').count() as u64;
    match reduce_bundle(dir) {
        Ok(state) => {
            // The graph must serialise (it becomes state.json).
            write_state(&state);
        }
        Err(ReduceError::Parse { line, .. }) | Err(ReduceError::Contradiction { line, .. }) => {
            assert!(
                (1..=lines).contains(&line),
                "error names line {line} of {lines}"
            );
        }
        Err(e) => panic!("unexpected error kind: {e}"),
    }
});

fn write_state(state: &tracing_rollout::reduce::RolloutState) {
    let path = bundle_dir().join("state.json");
    tracing_rollout::reduce::write_state_to(state, &path).expect("write state.json");
}
