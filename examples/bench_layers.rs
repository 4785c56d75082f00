//! Layer benchmark: what recording an agent rollout costs with `RolloutLayer`, side by side
//! with what users would otherwise install, on the same deterministic workload
//! (`examples/bench_support/workload.rs`).
//!
//! `cargo run --release --example bench_layers [-- REPEATS [TURNS [uncapped]]]` (default 5
//! repetitions of 2 000 turns of the capped workload; `uncapped` selects issue 13's workload,
//! whose requests keep the whole history) — prints Markdown tables. Every configuration runs in this one process
//! under `tracing::subscriber::with_default`, interleaved repetition by repetition after one
//! warm-up round, and each figure is reported as median / minimum.

#[path = "bench_support/mod.rs"]
mod bench_support;

use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use bench_support::workload::{Mode, Shape, Workload};
use bench_support::{
    dir_bytes, heap_baseline, heap_peak_above, measure, median_min, mib, ms, process_cpu,
    thread_cpu,
};
use tracing_subscriber::prelude::*;

#[global_allocator]
static ALLOC: bench_support::Counting = bench_support::Counting;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Config {
    NoSubscriber,
    Registry,
    FmtJson,
    Chrome,
    RolloutLossless,
    RolloutLossy,
    /// Lossless with a buffer larger than the whole workload: what the agent pays when the
    /// writer thread never makes it wait (not a default; shows where lossless wall time goes).
    RolloutLosslessUnbounded,
    /// Lossless, `payload_dedup(false)`: every body whole (format v1, as before issue 13).
    RolloutWhole,
    /// Lossy, `payload_dedup(false)`.
    RolloutLossyWhole,
}

const CONFIGS: [Config; 9] = [
    Config::NoSubscriber,
    Config::Registry,
    Config::FmtJson,
    Config::Chrome,
    Config::RolloutLossless,
    Config::RolloutLossy,
    Config::RolloutLosslessUnbounded,
    Config::RolloutWhole,
    Config::RolloutLossyWhole,
];

impl Config {
    /// Key for the `BENCH_ONLY` filter.
    fn key(self) -> &'static str {
        match self {
            Config::NoSubscriber => "none",
            Config::Registry => "registry",
            Config::FmtJson => "fmt",
            Config::Chrome => "chrome",
            Config::RolloutLossless => "rollout",
            Config::RolloutLossy => "rollout-lossy",
            Config::RolloutLosslessUnbounded => "rollout-unbounded",
            Config::RolloutWhole => "rollout-v1",
            Config::RolloutLossyWhole => "rollout-lossy-v1",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Config::NoSubscriber => "no subscriber",
            Config::Registry => "`registry()` alone",
            Config::FmtJson => "registry + `fmt::layer().json()` over `non_blocking` file",
            Config::Chrome => "registry + tracing-chrome `include_args(true)`",
            Config::RolloutLossless => "registry + `RolloutLayer` (lossless)",
            Config::RolloutLossy => "registry + `RolloutLayer` (lossy)",
            Config::RolloutLosslessUnbounded => {
                "registry + `RolloutLayer` (lossless, `max_buffered_bytes` 1 GiB)"
            }
            Config::RolloutWhole => "registry + `RolloutLayer` (lossless, `payload_dedup(false)`)",
            Config::RolloutLossyWhole => {
                "registry + `RolloutLayer` (lossy, `payload_dedup(false)`)"
            }
        }
    }
}

/// One run of one configuration.
#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    /// Wall time on the agent thread to emit the workload (children joined).
    emit: Duration,
    /// CPU time of the agent's main thread while emitting (children excluded: 20 short threads).
    emit_cpu: Duration,
    /// Wall time from the start of emission until the guard finished / flushed.
    on_disk: Duration,
    /// Process user + system CPU over the same interval.
    cpu: Duration,
    bytes: u64,
    lost: u64,
    /// Peak heap above what was live before the subscriber was built.
    peak: u64,
}

/// What [`timed`] measures of one run.
struct Timing {
    emit: Duration,
    emit_cpu: Duration,
    on_disk: Duration,
    cpu: Duration,
    lost: u64,
}

/// Times `emit`, then `finish` (which flushes the configuration's writer and returns the
/// records it lost): wall and CPU time of the emitting thread, and of the whole process until
/// `finish` returned.
fn timed(
    emit: impl FnOnce(),
    finish: impl FnOnce() -> anyhow::Result<u64>,
) -> anyhow::Result<Timing> {
    let (thread0, cpu0, t0) = (thread_cpu(), process_cpu(), Instant::now());
    emit();
    let (emit, emit_cpu) = (t0.elapsed(), thread_cpu() - thread0);
    let lost = finish()?;
    Ok(Timing {
        emit,
        emit_cpu,
        on_disk: t0.elapsed(),
        cpu: process_cpu() - cpu0,
        lost,
    })
}

/// Builds the configuration's subscriber, emits the workload under it, finishes its writer;
/// removes what it wrote unless `keep`.
fn run(
    config: Config,
    mode: Mode,
    workload: &Workload,
    dir: &Path,
    keep: bool,
) -> anyhow::Result<Sample> {
    use tracing::subscriber::with_default;
    std::fs::create_dir_all(dir)?;
    let base = heap_baseline();
    let emit = || workload.emit(mode);
    let timing = match config {
        Config::NoSubscriber => timed(emit, || Ok(0))?,
        Config::Registry => timed(
            || with_default(tracing_subscriber::registry(), emit),
            || Ok(0),
        )?,
        Config::FmtJson => {
            let file = std::fs::File::create(dir.join("fmt.jsonl"))?;
            let (writer, guard) = tracing_appender::non_blocking(file);
            let counter = writer.error_counter();
            let subscriber = tracing_subscriber::registry()
                .with(tracing_subscriber::fmt::layer().json().with_writer(writer));
            timed(
                || with_default(subscriber, emit),
                || {
                    drop(guard);
                    Ok(counter.dropped_lines() as u64)
                },
            )?
        }
        Config::Chrome => {
            let (layer, guard) = tracing_chrome::ChromeLayerBuilder::new()
                .file(dir.join("trace.json"))
                .include_args(true)
                .build();
            let subscriber = tracing_subscriber::registry().with(layer);
            timed(
                || with_default(subscriber, emit),
                || {
                    drop(guard);
                    Ok(0)
                },
            )?
        }
        Config::RolloutLossless
        | Config::RolloutLossy
        | Config::RolloutLosslessUnbounded
        | Config::RolloutWhole
        | Config::RolloutLossyWhole => {
            let mut builder = tracing_rollout::RolloutLayer::builder()
                .root_dir(dir)
                .lossy(matches!(
                    config,
                    Config::RolloutLossy | Config::RolloutLossyWhole
                ))
                .payload_dedup(!matches!(
                    config,
                    Config::RolloutWhole | Config::RolloutLossyWhole
                ));
            if config == Config::RolloutLosslessUnbounded {
                builder = builder.max_buffered_bytes(1 << 30);
            }
            let (layer, guard) = builder.build()?;
            let subscriber = tracing_subscriber::registry().with(layer);
            timed(
                || with_default(subscriber, emit),
                || {
                    let stats = guard.finish()?;
                    anyhow::ensure!(stats.io_errors == 0, "I/O errors: {stats:?}");
                    Ok(stats.dropped_records)
                },
            )?
        }
    };
    let peak = heap_peak_above(base) as u64;
    let bytes = dir_bytes(dir);
    if !keep && std::env::var_os("BENCH_KEEP").is_none() {
        std::fs::remove_dir_all(dir)?;
    }
    let Timing {
        emit,
        emit_cpu,
        on_disk,
        cpu,
        lost,
    } = timing;
    Ok(Sample {
        emit,
        emit_cpu,
        on_disk,
        cpu,
        bytes,
        lost,
        peak,
    })
}

/// The disk floor: `bytes` written in 32 KiB chunks to a new file, then `sync_data` (the
/// rollout writer syncs each bundle when it ends).
fn raw_write(bytes: u64, dir: &Path) -> anyhow::Result<Duration> {
    std::fs::create_dir_all(dir)?;
    let chunk = vec![b'x'; 32 * 1024];
    let t0 = Instant::now();
    let mut file = std::fs::File::create(dir.join("raw"))?;
    let mut left = bytes;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        file.write_all(&chunk[..n])?;
        left -= n as u64;
    }
    file.sync_data()?;
    let elapsed = t0.elapsed();
    std::fs::remove_dir_all(dir)?;
    Ok(elapsed)
}

/// A budget's verdict.
fn check(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "**missed**"
    }
}

fn fmt_pair(v: (Duration, Duration)) -> String {
    format!("{:.0} / {:.0}", ms(v.0), ms(v.1))
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let repeats: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(5);
    let turns: u64 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(2_000);
    let uncapped = match args.next().as_deref() {
        None | Some("capped") => false,
        Some("uncapped") => true,
        Some(other) => anyhow::bail!("unknown workload `{other}` (capped, uncapped)"),
    };

    // For profiling: `BENCH_ONLY=rollout,str` runs only the matching configurations (by key:
    // none, registry, fmt, chrome, rollout, rollout-lossy; modes str, json) and prints
    // only their rows. `BENCH_KEEP=1` keeps what each run wrote, under `./bench-layers-*`.
    let only: Vec<String> = std::env::var("BENCH_ONLY")
        .unwrap_or_default()
        .split(',')
        .filter(|k| !k.is_empty())
        .map(str::to_owned)
        .collect();
    let shape = if uncapped {
        Shape::uncapped()
    } else {
        Shape::capped()
    };
    let workload = Workload::generate_shaped(turns, shape);
    let unique = workload.unique_bytes;
    println!(
        "Workload ({}): {turns} turns, {} rollout spans, {} payload events, {:.1} MiB of payload JSON, {:.2} MiB of it unique; {repeats} repetitions after 1 warm-up.\n",
        if uncapped { "uncapped" } else { "capped" },
        workload.spans(),
        workload.payload_events(),
        mib(workload.payload_bytes()),
        mib(unique),
    );

    let mut root = tempfile::Builder::new()
        .prefix("bench-layers-")
        .tempdir_in(std::env::current_dir()?)?;
    if std::env::var_os("BENCH_KEEP").is_some() {
        root.disable_cleanup(true);
        eprintln!("keeping runs under {}", root.path().display());
    }
    let mut runs = run_all(&workload, root.path(), repeats, &only)?;
    let medians = print_tables(&runs.samples, unique);
    if !only.is_empty() {
        return Ok(());
    }
    print_budgets(&medians, &mut runs, &workload, uncapped)?;
    if let [Some(v2), Some(v1)] = &runs.kept {
        print_reduce_comparison(v2, v1, repeats)?;
    }
    let rollout = medians[0][4];
    let raw = median_min(&mut runs.raw);
    println!(
        "\nRaw write + sync_data of {:.1} MiB: {} ms (median / min).",
        mib(rollout.bytes),
        fmt_pair(raw)
    );
    Ok(())
}

const MODES: [Mode; 2] = [Mode::Str, Mode::Json];

/// What the repetitions measured: samples by mode and configuration (the warm-up left out),
/// the raw-write floor of each repetition, and the last repetition's v2 and v1 bundles
/// (string payloads) for the reduce comparison.
struct Runs {
    samples: Vec<Vec<Vec<Sample>>>,
    raw: Vec<Duration>,
    kept: [Option<std::path::PathBuf>; 2],
}

/// One warm-up round and `repeats` repetitions of every selected configuration and mode,
/// interleaved, each writing below `root`.
fn run_all(
    workload: &Workload,
    root: &Path,
    repeats: usize,
    only: &[String],
) -> anyhow::Result<Runs> {
    let modes = MODES;
    let mut samples = vec![vec![Vec::<Sample>::new(); CONFIGS.len()]; modes.len()];
    let mut raw = Vec::new();
    let mut run_no = 0;
    // The last repetition's v2 and v1 bundles (string payloads), for the reduce comparison.
    let mut kept: [Option<std::path::PathBuf>; 2] = [None, None];
    for rep in 0..=repeats {
        for (m, &mode) in modes.iter().enumerate() {
            for (c, &config) in CONFIGS.iter().enumerate() {
                let has = |key: &str| only.iter().any(|k| k == key);
                let mode_given = has("str") || has("json");
                if !only.is_empty() && !(has(config.key()) && (!mode_given || has(mode.key()))) {
                    continue;
                }
                run_no += 1;
                let dir = root.join(format!("run-{run_no}"));
                let slot = match config {
                    Config::RolloutLossless => Some(0),
                    Config::RolloutWhole => Some(1),
                    _ => None,
                };
                let keep = rep == repeats && m == 0 && slot.is_some();
                let sample = run(config, mode, workload, &dir, keep)?;
                if keep {
                    if let Some(slot) = slot {
                        // The bundle directory below the root (its sanitised rollout id).
                        let bundle = std::fs::read_dir(&dir)?
                            .flatten()
                            .map(|e| e.path())
                            .find(|p| p.is_dir());
                        kept[slot] = bundle;
                    }
                }
                if rep > 0 {
                    samples[m][c].push(sample);
                }
            }
        }
        // The floor for writing what the lossless rollout wrote.
        let bytes = samples[0][4].last().map_or(0, |s| s.bytes);
        if rep > 0 {
            raw.push(raw_write(bytes, &root.join("raw"))?);
        }
    }
    Ok(Runs { samples, raw, kept })
}

/// Prints a table per payload mode; returns the medians by mode and configuration.
fn print_tables(samples: &[Vec<Vec<Sample>>], unique: u64) -> Vec<Vec<Sample>> {
    let modes = MODES;
    let mut medians = vec![vec![Sample::default(); CONFIGS.len()]; modes.len()];
    for (m, mode) in modes.iter().enumerate() {
        println!("### Payloads as {}\n", mode.name());
        println!("| configuration | agent thread, ms | overhead vs no subscriber, ms | agent-thread CPU, ms | on disk, ms | process CPU, ms | other threads' CPU (writer), ms | bytes written | bytes ÷ unique | records lost | peak heap |");
        println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        let none_emit = samples[m][0]
            .iter()
            .map(|s| s.emit)
            .min()
            .unwrap_or_default();
        for (c, config) in CONFIGS.iter().enumerate() {
            let s = &samples[m][c];
            if s.is_empty() {
                continue;
            }
            let emit = median_min(&mut s.iter().map(|s| s.emit).collect::<Vec<_>>());
            let emit_cpu = median_min(&mut s.iter().map(|s| s.emit_cpu).collect::<Vec<_>>());
            let on_disk = median_min(&mut s.iter().map(|s| s.on_disk).collect::<Vec<_>>());
            let cpu = median_min(&mut s.iter().map(|s| s.cpu).collect::<Vec<_>>());
            let bytes = median_min(&mut s.iter().map(|s| s.bytes).collect::<Vec<_>>()).0;
            let lost = s.iter().map(|s| s.lost).max().unwrap_or(0);
            let peak = s.iter().map(|s| s.peak).max().unwrap_or(0);
            medians[m][c] = Sample {
                emit: emit.0,
                emit_cpu: emit_cpu.0,
                on_disk: on_disk.0,
                cpu: cpu.0,
                bytes,
                lost,
                peak,
            };
            let others = median_min(
                &mut s
                    .iter()
                    .map(|s| s.cpu.saturating_sub(s.emit_cpu))
                    .collect::<Vec<_>>(),
            );
            let (disk, bytes_col, ratio_col, lost_col) = if c < 2 {
                (
                    "–".to_owned(),
                    "–".to_owned(),
                    "–".to_owned(),
                    "–".to_owned(),
                )
            } else {
                (
                    fmt_pair(on_disk),
                    format!("{:.1} MiB", mib(bytes)),
                    format!("{:.2}", bytes as f64 / unique as f64),
                    lost.to_string(),
                )
            };
            println!(
                "| {} | {} | {:.0} | {} | {disk} | {} | {} | {bytes_col} | {ratio_col} | {lost_col} | {:.1} MiB |",
                config.name(),
                fmt_pair(emit),
                ms(emit.0.saturating_sub(none_emit)),
                fmt_pair(emit_cpu),
                fmt_pair(cpu),
                fmt_pair(others),
                mib(peak),
            );
        }
        println!();
    }
    medians
}

/// The budgets, from the medians with string payloads.
fn print_budgets(
    medians: &[Vec<Sample>],
    runs: &mut Runs,
    workload: &Workload,
    uncapped: bool,
) -> anyhow::Result<()> {
    let (samples, unique, spans) = (&runs.samples, workload.unique_bytes, workload.spans());
    let s = &medians[0];
    let (fmt, rollout, lossy, whole, lossy_whole) = (s[2], s[4], s[5], s[7], s[8]);
    // Overheads subtract the no-subscriber minimum: its median is mostly scheduling noise.
    let none_min = samples[0][0]
        .iter()
        .map(|s| s.emit)
        .min()
        .unwrap_or_default();
    let none_cpu_min = samples[0][0]
        .iter()
        .map(|s| s.emit_cpu)
        .min()
        .unwrap_or_default();
    let overhead = |x: Sample| x.emit.saturating_sub(none_min).as_secs_f64();
    let raw = median_min(&mut runs.raw);
    println!("### Budgets (string payloads, lossless RolloutLayer, medians)\n");
    println!("| budget | measured | |");
    println!("|---|---|---|");
    let cpu_overhead = |x: Sample| x.emit_cpu.saturating_sub(none_cpu_min).as_secs_f64();
    let (ro, fo) = (overhead(rollout), overhead(fmt));
    let (rc, fc, wc) = (
        cpu_overhead(rollout),
        cpu_overhead(fmt),
        cpu_overhead(whole),
    );
    let ratio = if uncapped { 20.0 } else { 10.0 };
    println!(
        "| agent-thread overhead ≤ 1/{ratio} of fmt-json | {:.0} ms vs {:.0} ms (1/{:.1}) | {} |",
        ro * 1e3,
        fo * 1e3,
        fo / ro,
        check(ro * ratio <= fo)
    );
    println!(
        "| same, agent-thread CPU (robust to other load) | {:.0} ms vs {:.0} ms (1/{:.1}) | {} |",
        rc * 1e3,
        fc * 1e3,
        fc / rc,
        check(rc * ratio <= fc)
    );
    println!(
        "| agent-thread CPU no higher than with whole bodies (v1) | {:.0} ms vs {:.0} ms | {} |",
        rc * 1e3,
        wc * 1e3,
        check(rc <= wc * 1.1)
    );
    println!(
        "| process CPU ≤ 1/2 of fmt-json | {:.0} ms vs {:.0} ms ({:.2}) | {} |",
        ms(rollout.cpu),
        ms(fmt.cpu),
        rollout.cpu.as_secs_f64() / fmt.cpu.as_secs_f64(),
        check(rollout.cpu * 2 <= fmt.cpu)
    );
    let drain_budget = (rollout.emit + raw.0).mul_f64(1.5);
    println!(
        "| on disk ≤ 1.5 × (emit + raw write of the bytes) | {:.0} ms vs 1.5 × ({:.0} + {:.0}) = {:.0} ms | {} |",
        ms(rollout.on_disk),
        ms(rollout.emit),
        ms(raw.0),
        ms(drain_budget),
        check(rollout.on_disk <= drain_budget)
    );
    let mem_budget = 16 * 1024 * 1024 + 12 * 1024 * 1024 + 16 * 1024 * 1024;
    println!(
        "| peak heap ≤ `max_buffered_bytes` (16 MiB) + dedup state (12 MiB) + 16 MiB | {:.1} MiB (lossy {:.1} MiB; v1 {:.1} MiB) | {} |",
        mib(rollout.peak),
        mib(lossy.peak),
        mib(whole.peak),
        check(rollout.peak.max(lossy.peak) <= mem_budget)
    );
    let bytes_budget = unique as f64 * 1.2 + 200.0 * spans as f64;
    println!(
        "| bundle bytes ≤ 1.2 × unique content + 200 B per span | {:.2} MiB vs {:.2} MiB ({:.2} MiB unique, {spans} spans; v1 {:.1} MiB) | {} |",
        mib(rollout.bytes),
        bytes_budget / (1024.0 * 1024.0),
        mib(unique),
        mib(whole.bytes),
        check(rollout.bytes as f64 <= bytes_budget)
    );
    println!(
        "| lossy mode with the default buffer loses nothing | {} records lost (v1: {}) | {} |",
        lossy.lost,
        lossy_whole.lost,
        check(lossy.lost == 0)
    );
    Ok(())
}

/// The last row of the budgets: reducing the v2 bundle against the v1 bundle of the same
/// rollout; and the size of each one's `state.json`.
fn print_reduce_comparison(v2: &Path, v1: &Path, repeats: usize) -> anyhow::Result<()> {
    let (v2_time, v2_peak, v1_time, v1_peak) = reduce_pair(v2, v1, repeats.max(3))?;
    println!(
        "| reducing the v2 bundle ≤ 0.5 × the time of the v1 bundle | {:.0} ms vs {:.0} ms ({:.2}×); peak heap {:.1} MiB vs {:.1} MiB | {} |",
        ms(v2_time),
        ms(v1_time),
        v2_time.as_secs_f64() / v1_time.as_secs_f64(),
        mib(v2_peak as u64),
        mib(v1_peak as u64),
        check(v2_time.as_secs_f64() <= 0.5 * v1_time.as_secs_f64())
    );
    let state = |dir: &Path| -> anyhow::Result<u64> {
        let path = tracing_rollout::reduce::write_state(dir)?;
        Ok(std::fs::metadata(path)?.len())
    };
    println!(
        "\nstate.json: {:.1} MiB from the v2 bundle, {:.1} MiB from the v1 bundle.",
        mib(state(v2)?),
        mib(state(v1)?)
    );
    Ok(())
}

/// Reduces the v2 and the v1 bundle of the same rollout `rounds` times, interleaved: median
/// time and largest peak heap of each.
fn reduce_pair(
    v2: &Path,
    v1: &Path,
    rounds: usize,
) -> anyhow::Result<(Duration, usize, Duration, usize)> {
    let mut times = [Vec::new(), Vec::new()];
    let mut peaks = [0usize, 0];
    for _ in 0..rounds {
        for (i, dir) in [v2, v1].into_iter().enumerate() {
            let (time, peak, state) = measure(|| tracing_rollout::reduce::reduce_bundle(dir));
            let state = state?;
            anyhow::ensure!(
                !state.threads.is_empty(),
                "nothing reduced from {}",
                dir.display()
            );
            times[i].push(time);
            peaks[i] = peaks[i].max(peak);
        }
    }
    let [t2, t1] = &mut times;
    Ok((median_min(t2).0, peaks[0], median_min(t1).0, peaks[1]))
}
