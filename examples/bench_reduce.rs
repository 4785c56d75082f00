//! Reducer benchmark: time and peak heap to reduce bundles against the floor of parsing every
//! line of the same `trace.jsonl` into `serde_json::Value`, at three sizes to show growth.
//!
//! Two workloads: `synthetic` (5k/10k/20k inference calls written directly, see
//! `tests/support/synthetic.rs`) and `agent` (the agent rollout of `bench_layers` at
//! 5k/10k/20k turns, recorded through `RolloutLayer` with string payloads).
//!
//! `cargo run --release --example bench_reduce [-- REPEATS [synthetic|agent [SIZE]]]` — prints
//! Markdown tables (both workloads unless one is named). Peak heap comes from a counting
//! global allocator, reset before each measurement; repetitions interleave floor and reduce.
//!
//! For profiling, SIZE runs the named workload at that one size (calls or turns) instead of
//! 5k/10k/20k, e.g. `valgrind --tool=callgrind --toggle-collect='*parse_floor*'
//! --toggle-collect='*reduce_bundle*' target/release/examples/bench_reduce 1 agent 1000`.

#[path = "bench_support/mod.rs"]
mod bench_support;
#[path = "../tests/support/synthetic.rs"]
mod synthetic;

use std::path::Path;
use std::time::Duration;

use bench_support::workload::{Mode, Workload};
use bench_support::{measure, median_min, mib, ms, parse_floor};
use synthetic::Synthetic;
use tracing_subscriber::prelude::*;

#[global_allocator]
static ALLOC: bench_support::Counting = bench_support::Counting;

/// Measures floor and reduce on `bundle`, `repeats` times interleaved, and prints one row.
fn row(
    label: u64,
    unit_count: u64,
    bundle: &Path,
    calls: u64,
    repeats: usize,
) -> anyhow::Result<()> {
    let trace = bundle.join("trace.jsonl");
    let bytes = std::fs::metadata(&trace)?.len();
    let (mut floor, mut reduce) = (Vec::<Duration>::new(), Vec::<Duration>::new());
    let (mut floor_peak, mut reduce_peak) = (0, 0);
    for _ in 0..repeats {
        let (t, peak, lines) = measure(|| parse_floor(&trace));
        lines?;
        floor.push(t);
        floor_peak = floor_peak.max(peak);
        let (t, peak, state) = measure(|| tracing_rollout::reduce::reduce_bundle(bundle));
        let state = state?;
        anyhow::ensure!(
            state.inference_calls.len() as u64 == calls,
            "wrong graph: {} inference calls, expected {calls}",
            state.inference_calls.len()
        );
        drop(state);
        reduce.push(t);
        reduce_peak = reduce_peak.max(peak);
    }
    let (fm, fmin) = median_min(&mut floor);
    let (rm, rmin) = median_min(&mut reduce);
    println!(
        "| {label} | {:.1} MiB | {:.0} / {:.0} ms | {:.0} / {:.0} ms | {:.2} | {:.1} MiB | {:.1} MiB | {:.1} |",
        mib(bytes),
        ms(fm),
        ms(fmin),
        ms(rm),
        ms(rmin),
        rm.as_secs_f64() / fm.as_secs_f64(),
        mib(floor_peak as u64),
        mib(reduce_peak as u64),
        rm.as_secs_f64() * 1e6 / unit_count as f64,
    );
    Ok(())
}

fn synthetic_rows(dir: &Path, repeats: usize, sizes: &[u64]) -> anyhow::Result<()> {
    println!("### Synthetic rollouts\n");
    println!("| inference calls | trace.jsonl | parse floor (median / min) | reduce (median / min) | reduce ÷ floor | floor peak heap | reduce peak heap | reduce µs per call |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    for &calls in sizes {
        let shape = Synthetic {
            turns: calls / 20,
            calls_per_turn: 20,
        };
        let bundle = dir.join(format!("synthetic-{calls}"));
        shape.write(&bundle)?;
        row(calls, calls, &bundle, shape.inference_calls(), repeats)?;
        std::fs::remove_dir_all(&bundle)?;
    }
    println!();
    Ok(())
}

fn agent_rows(dir: &Path, repeats: usize, sizes: &[u64]) -> anyhow::Result<()> {
    println!("### The agent workload of `bench_layers`, recorded by `RolloutLayer`\n");
    println!("| turns | trace.jsonl | parse floor (median / min) | reduce (median / min) | reduce ÷ floor | floor peak heap | reduce peak heap | reduce µs per turn |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    for &turns in sizes {
        let root = dir.join(format!("agent-{turns}"));
        let calls = {
            let workload = Workload::generate(turns);
            let (layer, guard) = tracing_rollout::RolloutLayer::builder()
                .root_dir(&root)
                .build()?;
            tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
                workload.emit(Mode::Str)
            });
            guard.finish()?;
            turns + workload.turns.iter().filter(|t| t.child.is_some()).count() as u64
        };
        row(turns, turns, &root.join("bench"), calls, repeats)?;
        std::fs::remove_dir_all(&root)?;
    }
    println!();
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let repeats: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(5);
    let only = args.next();
    let size: Option<u64> = args.next().map(|a| a.parse()).transpose()?;
    let sizes = match size {
        Some(size) => vec![size],
        None => vec![5_000, 10_000, 20_000],
    };
    let dir = tempfile::Builder::new()
        .prefix("bench-reduce-")
        .tempdir_in(std::env::current_dir()?)?;
    if only.as_deref() != Some("agent") {
        synthetic_rows(dir.path(), repeats, &sizes)?;
    }
    if only.as_deref() != Some("synthetic") {
        agent_rows(dir.path(), repeats, &sizes)?;
    }
    Ok(())
}
