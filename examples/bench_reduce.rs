//! Reducer benchmark: time and peak heap to reduce bundles against the floor of parsing every
//! line of the same `trace.jsonl` into `serde_json::Value`, at three sizes to show growth.
//!
//! Three workloads: `synthetic` (5k/10k/20k inference calls written directly, see
//! `tests/support/synthetic.rs`), `agent` (the agent rollout of `bench_layers` at 5k/10k/20k
//! turns, recorded through `RolloutLayer` with string payloads) and `fanout` (one lead thread
//! spawning 1k/2k/4k child agents in 20 batches, each child's result coming back to the lead,
//! recorded through `RolloutLayer`, see `examples/bench_support/fanout.rs`). `fanout` times
//! the matching of deliveries to the recipient's items (`src/reduce/edges.rs`): half the
//! batches deliver results before the lead's item carrying them is recorded, half after; every
//! run checks that each child's spawn and result edges were delivered.
//!
//! A fourth, `formats`, answers whether format v2 makes reducing cheaper: the agent workload of
//! `bench_layers` in both shapes (`capped`, 2 000 turns; `uncapped`, 400 turns, issue 13's
//! long-history workload) recorded by a default `RolloutLayer` (format v2: bodies as
//! references to earlier ones) and the same records with every body whole (format v1, what
//! `payload_dedup(false)` writes: `expand_bundle`'s output), each reduced `REPEATS` times
//! interleaved; it checks that both give the same graph (the payload index aside: its
//! offsets are each file's own) and prints the ratio, each reduction's peak heap and each
//! `state.json`'s size (`BENCH_KEEP=1` keeps them). Under callgrind, `--toggle-collect='*reduce_v2*'` (or `v1`) counts
//! one side: `valgrind --tool=callgrind --toggle-collect='*reduce_v2*'
//! target/release/examples/bench_reduce 1 formats`.
//!
//! `cargo run --release --example bench_reduce [-- REPEATS [synthetic|agent|fanout|formats[-capped|-uncapped] [SIZE]]]` —
//! prints Markdown tables (every workload unless one is named), e.g. `cargo run --release
//! --example bench_reduce -- 3 fanout`. Peak heap comes from a counting global allocator,
//! reset before each measurement; repetitions interleave floor and reduce.
//!
//! For profiling, SIZE runs the named workload at that one size (calls, turns or children)
//! instead of the default three, e.g. `valgrind --tool=callgrind --toggle-collect='*parse_floor*'
//! --toggle-collect='*reduce_bundle*' target/release/examples/bench_reduce 1 agent 1000`.

#[path = "bench_support/mod.rs"]
mod bench_support;
#[path = "../tests/support/synthetic.rs"]
mod synthetic;

use std::path::{Path, PathBuf};
use std::time::Duration;

use bench_support::fanout::Fanout;
use bench_support::workload::{Mode, Shape, Workload};
use bench_support::{measure, median_min, mib, ms, parse_floor};
use synthetic::Synthetic;
use tracing_rollout::reduce::{EdgeKind, RolloutState};
use tracing_subscriber::prelude::*;

#[global_allocator]
static ALLOC: bench_support::Counting = bench_support::Counting;

/// Prints a table's title and header: its rows are sized in `unit`s (one row per size).
fn header(title: &str, unit: &str, units: &str) {
    println!("### {title}\n");
    println!("| {units} | trace.jsonl | parse floor (median / min) | reduce (median / min) | reduce ÷ floor | floor peak heap | reduce peak heap | reduce µs per {unit} |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
}

/// Records `emit` through a `RolloutLayer` with default settings under `root`; returns the
/// bundle.
fn record(root: &Path, emit: impl FnOnce()) -> anyhow::Result<PathBuf> {
    let (layer, guard) = tracing_rollout::RolloutLayer::builder()
        .root_dir(root)
        .build()?;
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), emit);
    guard.finish()?;
    Ok(root.join("bench"))
}

/// The row of size `count` for a rollout `emit` records under `dir/name` (what it captures is
/// dropped once it has run, before anything is measured); `check` runs on every reduced
/// state. The recording is deleted afterwards.
fn recorded_row(
    dir: &Path,
    name: String,
    count: u64,
    repeats: usize,
    emit: impl FnOnce(),
    check: impl Fn(&RolloutState) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let root = dir.join(name);
    let bundle = record(&root, emit)?;
    row(count, &bundle, repeats, check)?;
    std::fs::remove_dir_all(&root)?;
    Ok(())
}

/// Measures floor and reduce on `bundle`, `repeats` times interleaved, and prints the row of
/// size `count`; `check` runs on every reduced state, untimed.
fn row(
    count: u64,
    bundle: &Path,
    repeats: usize,
    check: impl Fn(&RolloutState) -> anyhow::Result<()>,
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
        check(&state?)?;
        reduce.push(t);
        reduce_peak = reduce_peak.max(peak);
    }
    let (fm, fmin) = median_min(&mut floor);
    let (rm, rmin) = median_min(&mut reduce);
    println!(
        "| {count} | {:.1} MiB | {:.0} / {:.0} ms | {:.0} / {:.0} ms | {:.2} | {:.1} MiB | {:.1} MiB | {:.1} |",
        mib(bytes),
        ms(fm),
        ms(fmin),
        ms(rm),
        ms(rmin),
        rm.as_secs_f64() / fm.as_secs_f64(),
        mib(floor_peak as u64),
        mib(reduce_peak as u64),
        rm.as_secs_f64() * 1e6 / count as f64,
    );
    Ok(())
}

/// Records `workload` (string payloads) under `root` with a default `RolloutLayer` (format
/// v2); returns the bundle.
fn record_v2(root: &Path, workload: &Workload) -> anyhow::Result<PathBuf> {
    record(root, || workload.emit(Mode::Str))
}

/// Writes at `v1` the v1 bundle of the rollout in the v2 bundle `v2`: every body whole, as
/// `payload_dedup(false)` writes it (`expand_bundle`'s lines, the format version set to 1),
/// so both hold the same records with the same clocks.
fn write_v1(v2: &Path, v1: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(v1)?;
    let mut trace = Vec::new();
    tracing_rollout::format::expand_bundle(v2, &mut trace)?;
    let first = trace
        .iter()
        .position(|&b| b == b'\n')
        .unwrap_or(trace.len());
    let mut started: serde_json::Value = serde_json::from_slice(&trace[..first])?;
    started["format_version"] = 1.into();
    let mut v1_trace = serde_json::to_vec(&started)?;
    v1_trace.extend_from_slice(&trace[first..]);
    std::fs::write(v1.join("trace.jsonl"), v1_trace)?;
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(v2.join("manifest.json"))?)?;
    manifest["format_version"] = 1.into();
    std::fs::write(
        v1.join("manifest.json"),
        serde_json::to_vec_pretty(&manifest)?,
    )?;
    Ok(())
}

/// Reduces a v2 bundle (a function of its own, for `--toggle-collect='*reduce_v2*'`).
#[inline(never)]
fn reduce_v2(bundle: &Path) -> Result<RolloutState, tracing_rollout::reduce::ReduceError> {
    // Distinct bodies, so that the two are never merged into one symbol.
    std::hint::black_box(2);
    tracing_rollout::reduce::reduce_bundle(bundle)
}

/// Reduces a v1 bundle (a function of its own, for `--toggle-collect='*reduce_v1*'`).
#[inline(never)]
fn reduce_v1(bundle: &Path) -> Result<RolloutState, tracing_rollout::reduce::ReduceError> {
    std::hint::black_box(1);
    tracing_rollout::reduce::reduce_bundle(bundle)
}

/// The graph without its payload index, whose offsets and lengths are each file's own.
fn without_payload_index(mut state: RolloutState) -> RolloutState {
    state.payloads.clear();
    state
}

/// `BENCH_KEEP=1`: the `formats` workload keeps its bundles and their `state.json`.
fn keep() -> bool {
    std::env::var_os("BENCH_KEEP").is_some()
}

/// Size of the `state.json` the reducer writes for `bundle` (deleted afterwards unless
/// [`keep`]).
fn state_bytes(bundle: &Path) -> anyhow::Result<u64> {
    let path = tracing_rollout::reduce::write_state(bundle)?;
    let bytes = std::fs::metadata(&path)?.len();
    if !keep() {
        std::fs::remove_file(path)?;
    }
    Ok(bytes)
}

/// One row per shape: the same rollout as a v2 and a v1 bundle, reduced interleaved.
fn formats_rows(
    dir: &Path,
    repeats: usize,
    shapes: &[&str],
    size: Option<u64>,
) -> anyhow::Result<()> {
    println!(
        "### The same rollout as a v2 and a v1 bundle
"
    );
    println!("| workload | trace.jsonl v2 / v1 | reduce v2 (median / min) | reduce v1 (median / min) | v2 ÷ v1 | peak heap v2 / v1 | state.json v2 / v1 |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (name, shape, turns) in [
        ("capped", Shape::capped(), size.unwrap_or(2_000)),
        ("uncapped", Shape::uncapped(), size.unwrap_or(400)),
    ] {
        if !shapes.contains(&name) {
            continue;
        }
        let workload = Workload::generate_shaped(turns, shape);
        let v2 = record_v2(&dir.join(format!("{name}-v2")), &workload)?;
        drop(workload);
        let v1 = dir.join(format!("{name}-v1"));
        write_v1(&v2, &v1)?;
        let (mut times, mut peaks) = ([Vec::new(), Vec::new()], [0usize; 2]);
        let mut graphs: [Option<RolloutState>; 2] = [None, None];
        for _ in 0..repeats {
            for (i, reduce) in [reduce_v2, reduce_v1].into_iter().enumerate() {
                let bundle = [&v2, &v1][i];
                let (t, peak, state) = measure(|| reduce(bundle));
                times[i].push(t);
                peaks[i] = peaks[i].max(peak);
                graphs[i] = Some(without_payload_index(state?));
            }
        }
        anyhow::ensure!(
            graphs[0] == graphs[1],
            "{name}: the v2 and v1 bundles reduce to different graphs"
        );
        let bytes = |b: &Path| std::fs::metadata(b.join("trace.jsonl")).map(|m| m.len());
        let [t2, t1] = &mut times;
        let ((m2, min2), (m1, min1)) = (median_min(t2), median_min(t1));
        println!(
            "| {name}, {turns} turns | {:.1} / {:.1} MiB | {:.0} / {:.0} ms | {:.0} / {:.0} ms | {:.2} | {:.1} / {:.1} MiB | {:.1} / {:.1} MiB |",
            mib(bytes(&v2)?),
            mib(bytes(&v1)?),
            ms(m2),
            ms(min2),
            ms(m1),
            ms(min1),
            m2.as_secs_f64() / m1.as_secs_f64(),
            mib(peaks[0] as u64),
            mib(peaks[1] as u64),
            mib(state_bytes(&v2)?),
            mib(state_bytes(&v1)?),
        );
        if !keep() {
            std::fs::remove_dir_all(dir.join(format!("{name}-v2")))?;
            std::fs::remove_dir_all(dir.join(format!("{name}-v1")))?;
        }
    }
    println!();
    Ok(())
}

/// The graph has `calls` inference calls.
fn has_calls(state: &RolloutState, calls: u64) -> anyhow::Result<()> {
    anyhow::ensure!(
        state.inference_calls.len() as u64 == calls,
        "wrong graph: {} inference calls, expected {calls}",
        state.inference_calls.len()
    );
    Ok(())
}

fn synthetic_rows(dir: &Path, repeats: usize, sizes: &[u64]) -> anyhow::Result<()> {
    header("Synthetic rollouts", "call", "inference calls");
    for &calls in sizes {
        let shape = Synthetic {
            turns: calls / 20,
            calls_per_turn: 20,
        };
        let bundle = dir.join(format!("synthetic-{calls}"));
        shape.write(&bundle)?;
        row(calls, &bundle, repeats, |state| {
            has_calls(state, shape.inference_calls())
        })?;
        std::fs::remove_dir_all(&bundle)?;
    }
    println!();
    Ok(())
}

fn agent_rows(dir: &Path, repeats: usize, sizes: &[u64]) -> anyhow::Result<()> {
    header(
        "The agent workload of `bench_layers`, recorded by `RolloutLayer`",
        "turn",
        "turns",
    );
    for &turns in sizes {
        let workload = Workload::generate(turns);
        let children = workload.turns.iter().filter(|t| t.child.is_some()).count();
        let calls = turns + children as u64;
        let emit = move || workload.emit(Mode::Str);
        recorded_row(
            dir,
            format!("agent-{turns}"),
            turns,
            repeats,
            emit,
            |state| has_calls(state, calls),
        )?;
    }
    println!();
    Ok(())
}

/// Every child's spawn and result edges point at the item carrying their text.
fn all_delivered(state: &RolloutState, children: u64) -> anyhow::Result<()> {
    for kind in [EdgeKind::Spawn, EdgeKind::Result] {
        let edges: Vec<_> = state.edges.values().filter(|e| e.kind == kind).collect();
        anyhow::ensure!(
            edges.len() as u64 == children,
            "{} {kind:?} edges, expected {children}",
            edges.len()
        );
        if let Some(edge) = edges.iter().find(|e| !e.delivered) {
            anyhow::bail!(
                "{} was not delivered: it points at {:?}",
                edge.edge_id,
                edge.to
            );
        }
    }
    Ok(())
}

fn fanout_rows(dir: &Path, repeats: usize, sizes: &[u64]) -> anyhow::Result<()> {
    header(
        "One lead fanning out to child agents, recorded by `RolloutLayer`",
        "child",
        "children",
    );
    for &children in sizes {
        let fanout = Fanout { children };
        let calls = fanout.inference_calls();
        let emit = move || fanout.emit();
        recorded_row(
            dir,
            format!("fanout-{children}"),
            children,
            repeats,
            emit,
            |state| {
                has_calls(state, calls)?;
                all_delivered(state, children)
            },
        )?;
    }
    println!();
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let repeats: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(5);
    let only = args.next();
    let size: Option<u64> = args.next().map(|a| a.parse()).transpose()?;
    let sizes = |default: [u64; 3]| size.map_or(default.to_vec(), |size| vec![size]);
    let run = |name: &str| only.as_deref().is_none_or(|only| only == name);
    let shapes: &[&str] = match only.as_deref() {
        Some("formats-capped") => &["capped"],
        Some("formats-uncapped") => &["uncapped"],
        _ => &["capped", "uncapped"],
    };
    if let Some(only) = only.as_deref() {
        anyhow::ensure!(
            ["synthetic", "agent", "fanout"].contains(&only) || only.starts_with("formats"),
            "unknown workload {only}: synthetic, agent, fanout, formats (formats-capped, \
             formats-uncapped)"
        );
    }
    let mut dir = tempfile::Builder::new()
        .prefix("bench-reduce-")
        .tempdir_in(std::env::current_dir()?)?;
    if keep() {
        dir.disable_cleanup(true);
        eprintln!(
            "keeping the formats workload's bundles under {}",
            dir.path().display()
        );
    }
    if run("synthetic") {
        synthetic_rows(dir.path(), repeats, &sizes([5_000, 10_000, 20_000]))?;
    }
    if run("agent") {
        agent_rows(dir.path(), repeats, &sizes([5_000, 10_000, 20_000]))?;
    }
    if run("fanout") {
        fanout_rows(dir.path(), repeats, &sizes([1_000, 2_000, 4_000]))?;
    }
    if only
        .as_deref()
        .is_none_or(|only| only.starts_with("formats"))
    {
        formats_rows(dir.path(), repeats, shapes, size)?;
    }
    Ok(())
}
