//! Any bytes as a bundle's `trace.jsonl`: the reducer returns a graph or an error naming a
//! line of the input, and never panics, overflows its stack or hangs.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tracing_rollout::reduce::{reduce_bundle, ReduceError};

/// One bundle directory per fuzzing process, in memory when `/dev/shm` exists.
fn bundle_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = if std::path::Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let dir = base.join(format!("tracing-rollout-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the fuzz bundle directory");
        dir
    })
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
