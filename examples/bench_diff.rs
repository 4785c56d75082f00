//! Diff benchmark: the time and peak heap of `diff::diff` on two reduced rollouts against
//! reducing them, at 1 000, 2 000 and 4 000 turns to show growth.
//!
//! Run A is the agent workload of `bench_layers` (`examples/bench_support/workload.rs`),
//! recorded through `RolloutLayer`. Run B is the same workload recorded again: `identical`;
//! `perturbed`: every 250th turn dropped and the arguments of one tool call changed in every
//! 100th turn's response (local divergences, realigned after each); `all changed`: the
//! arguments changed in every turn's response (no step agrees, so no anchor: the worst case of
//! the alignment, one divergence as long as the thread). Repetitions interleave reducing and
//! diffing; wall time and the thread's CPU time are both reported (CPU time is not inflated
//! when other processes take the cores); the recordings are written to a temporary directory
//! and deleted.
//!
//! `cargo run --release --example bench_diff [-- REPEATS [TURNS]]` prints a Markdown table (at
//! the three sizes, or at TURNS only).

#[path = "bench_support/mod.rs"]
mod bench_support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use bench_support::workload::{Mode, Workload};
use bench_support::{measure, median_min, mib, ms, thread_cpu};
use serde_json::Value;
use tracing_rollout::diff::{diff, DiffOptions};
use tracing_rollout::reduce::reduce_bundle;
use tracing_subscriber::prelude::*;

#[global_allocator]
static ALLOC: bench_support::Counting = bench_support::Counting;

/// How run B differs from run A.
#[derive(Debug, Clone, Copy)]
enum Variant {
    Identical,
    Perturbed,
    AllChanged,
}

impl Variant {
    fn name(self) -> &'static str {
        match self {
            Variant::Identical => "identical",
            Variant::Perturbed => "perturbed",
            Variant::AllChanged => "all changed",
        }
    }

    /// Run B's workload.
    fn apply(self, mut workload: Workload) -> Workload {
        let changed = |n: usize| match self {
            Variant::Identical => false,
            Variant::Perturbed => n % 100 == 71,
            Variant::AllChanged => true,
        };
        if matches!(self, Variant::Identical) {
            return workload;
        }
        for n in 0..workload.turns.len() {
            if changed(n) {
                change_arguments(&mut workload, n);
            }
        }
        // Requests are windows of the history: sent again with the changed calls in them.
        for turn in &mut workload.turns {
            let input =
                serde_json::to_string(&workload.history[turn.request.clone()]).unwrap_or_default();
            turn.request_text = format!("{{\"model\":\"gpt-5\",\"input\":{input}}}");
        }
        if matches!(self, Variant::Perturbed) {
            let mut n = 0;
            workload.turns.retain(|_| {
                n += 1;
                (n - 1) % 250 != 37
            });
        }
        workload
    }
}

/// Changes the arguments of the last function call of turn `n`'s response, there and in the
/// history later requests carry.
fn change_arguments(workload: &mut Workload, n: usize) {
    let turn = &mut workload.turns[n];
    let calls = turn.response.value["output"]
        .as_array_mut()
        .into_iter()
        .flatten();
    let Some(call) = calls.filter(|i| i["type"] == "function_call").last() else {
        return;
    };
    let args = call["arguments"].as_str().unwrap_or("{}");
    let mut args: Value = serde_json::from_str(args).unwrap_or(Value::Null);
    args["path"] = Value::from("src/elsewhere.rs");
    call["arguments"] = Value::from(args.to_string());
    let (call_id, arguments) = (call["call_id"].clone(), call["arguments"].clone());
    turn.response.text = turn.response.value.to_string();
    for item in &mut workload.history {
        if item["type"] == "function_call" && item["call_id"] == call_id {
            item["arguments"] = arguments.clone();
        }
    }
}

/// Records `workload` through a `RolloutLayer` under `root`; returns the bundle.
fn record(root: &Path, workload: &Workload) -> anyhow::Result<PathBuf> {
    let (layer, guard) = tracing_rollout::RolloutLayer::builder()
        .root_dir(root)
        .build()?;
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        workload.emit(Mode::Str)
    });
    let stats = guard.finish()?;
    stats
        .bundles
        .first()
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("no bundle written"))
}

fn main() -> anyhow::Result<()> {
    let repeats: usize = match std::env::args().nth(1) {
        Some(n) => n.parse()?,
        None => 5,
    };
    let sizes: Vec<u64> = match std::env::args().nth(2) {
        Some(n) => vec![n.parse()?],
        None => vec![1000, 2000, 4000],
    };
    println!("| turns | run B | steps (A / B) | divergences | reduce A + B, wall (median / min) | diff, wall (median / min) | reduce A + B, CPU | diff, CPU | diff ÷ reduce (CPU) | reduce peak heap | diff peak heap |");
    println!("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for turns in sizes {
        for variant in [Variant::Identical, Variant::Perturbed, Variant::AllChanged] {
            row(turns, variant, repeats)?;
        }
    }
    Ok(())
}

/// One row: records A and B (deleted afterwards), then interleaves reductions and diffs.
fn row(turns: u64, variant: Variant, repeats: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let a = record(&dir.path().join("a"), &Workload::generate(turns))?;
    let b = record(
        &dir.path().join("b"),
        &variant.apply(Workload::generate(turns)),
    )?;
    let (mut reduce_times, mut diff_times) = (Vec::new(), Vec::new());
    let (mut reduce_cpu, mut diff_cpu) = (Vec::new(), Vec::new());
    let (mut reduce_heap, mut diff_heap) = (0, 0);
    let mut shape = (0, 0, 0);
    for _ in 0..repeats {
        let cpu = thread_cpu();
        let (t, heap, states) = measure(|| (reduce_bundle(&a), reduce_bundle(&b)));
        reduce_cpu.push(thread_cpu() - cpu);
        let (state_a, state_b) = (states.0?, states.1?);
        reduce_times.push(t);
        reduce_heap = reduce_heap.max(heap);
        let cpu = thread_cpu();
        let (t, heap, report) = measure(|| diff(&state_a, &state_b, &DiffOptions::default()));
        diff_cpu.push(thread_cpu() - cpu);
        diff_times.push(t);
        diff_heap = diff_heap.max(heap);
        let root = &report.threads[0];
        let steps = |side: fn(&tracing_rollout::diff::StepDiff) -> bool| {
            report
                .threads
                .iter()
                .flat_map(|t| &t.steps)
                .filter(|s| side(s))
                .count()
        };
        shape = (
            steps(|s| s.a.is_some()),
            steps(|s| s.b.is_some()),
            report
                .threads
                .iter()
                .map(|t| t.divergences.len())
                .sum::<usize>(),
        );
        assert!(!root.steps.is_empty());
    }
    let (rm, rmin) = median_min(&mut reduce_times);
    let (dm, dmin) = median_min(&mut diff_times);
    let (rc, _) = median_min(&mut reduce_cpu);
    let (dc, _) = median_min(&mut diff_cpu);
    println!(
        "| {turns} | {} | {} / {} | {} | {:.0} / {:.0} ms | {:.1} / {:.1} ms | {:.0} ms | {:.1} ms | {:.3} | {:.1} MiB | {:.1} MiB |",
        variant.name(),
        shape.0,
        shape.1,
        shape.2,
        ms(rm),
        ms(rmin),
        ms(dm),
        ms(dmin),
        ms(rc),
        ms(dc),
        dc.as_secs_f64() / rc.as_secs_f64().max(Duration::from_nanos(1).as_secs_f64()),
        mib(reduce_heap as u64),
        mib(diff_heap as u64),
    );
    Ok(())
}
