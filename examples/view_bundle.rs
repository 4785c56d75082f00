//! Writes a large bundle for the viewer's measurements: the agent workload of `bench_layers`
//! (`examples/bench_support/workload.rs`) at TURNS turns, recorded through `RolloutLayer` under
//! ROOT (bundle `ROOT/bench`), then prints its path.
//!
//! `cargo run --release --example view_bundle -- ROOT [TURNS]` (TURNS defaults to 20000), then
//! `tracing-rollout view ROOT/bench -o big.html`.

#[path = "bench_support/mod.rs"]
mod bench_support;

use std::path::PathBuf;

use anyhow::Context;
use bench_support::workload::{Mode, Workload};
use tracing_subscriber::prelude::*;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args_os().skip(1);
    let root: PathBuf = args
        .next()
        .context("usage: view_bundle ROOT [TURNS]")?
        .into();
    let turns: u64 = match args.next() {
        Some(n) => n.to_string_lossy().parse()?,
        None => 20_000,
    };
    let workload = Workload::generate(turns);
    let (layer, guard) = tracing_rollout::RolloutLayer::builder()
        .root_dir(&root)
        .build()?;
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        workload.emit(Mode::Str)
    });
    let stats = guard.finish()?;
    for bundle in &stats.bundles {
        println!("{}", bundle.display());
    }
    Ok(())
}
