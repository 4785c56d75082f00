//! The README's main job: run a deterministic multi-agent rollout (canned model responses, no
//! network), record it with `RolloutLayer` under `./traces/`, reduce the bundle into
//! `state.json`, and print the summary tree.
//!
//! `cargo run --example multi_agent [-- ROOT_DIR]`

mod agent;

use std::path::PathBuf;

use anyhow::Context;
use tracing_rollout::reduce;
use tracing_rollout::RolloutLayer;
use tracing_subscriber::prelude::*;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let root: PathBuf = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| "traces".into());
    let (layer, guard) = RolloutLayer::builder()
        .root_dir(&root)
        .build()
        .with_context(|| format!("set up the rollout layer under {}", root.display()))?;
    tracing_subscriber::registry().with(layer).init();

    agent::run_rollout("multi-agent-demo").await;

    // Everything is on disk once `finish` returns.
    let stats = guard.finish().context("finish the rollout writer")?;
    for bundle in &stats.bundles {
        let state = reduce::reduce_bundle(bundle)
            .with_context(|| format!("reduce {}", bundle.display()))?;
        let state_path = bundle.join("state.json");
        reduce::write_state_to(&state, &state_path)?;
        print!("{}", reduce::render_summary(&state));
        println!();
        println!("bundle:     {}", bundle.display());
        println!("trace:      {}", bundle.join("trace.jsonl").display());
        println!("state.json: {}", state_path.display());
    }
    println!(
        "writer: {} records, {} bytes, {} dropped, {} I/O errors",
        stats.records, stats.bytes, stats.dropped_records, stats.io_errors
    );
    Ok(())
}
