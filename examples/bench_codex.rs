//! Codex rollout traces, ours against Codex's: the bytes of a Codex bundle (`trace.jsonl` +
//! `payloads/`) against the bundle of ours imported from it, and the time of `tracing-rollout
//! reduce <codex bundle>` (import on the fly, reduce, write `state.json`) against `codex debug
//! trace-reduce <bundle>` (reduce, write `state.json`) — both as processes, on the same
//! bundle, interleaved round by round after one warm-up round, each figure median / minimum:
//! the CPU time each process used (user + system, which other load on the machine does not
//! inflate) and its wall time.
//!
//! ```text
//! cargo build --release --features cli --bin tracing-rollout
//! cargo run --release --example bench_codex -- \
//!     --ours target/release/tracing-rollout \
//!     --codex target/codex/node_modules/@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl/bin/codex \
//!     [--rounds 15] BUNDLE...
//! ```
//!
//! `--codex` is best the native binary the npm package ships (its `codex` script is a Node
//! launcher that adds Node's start-up to every run). Each run of ours gets a fresh import
//! cache, so every round imports; each run of Codex's reduces a copy of the bundle (it writes
//! `state.json` into it). Prints a Markdown table.

#[path = "bench_support/mod.rs"]
mod bench_support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context;
use bench_support::{children_cpu, dir_bytes, median_min, ms};

struct Args {
    ours: PathBuf,
    codex: PathBuf,
    rounds: usize,
    bundles: Vec<PathBuf>,
}

fn args() -> anyhow::Result<Args> {
    let mut it = std::env::args().skip(1);
    let (mut ours, mut codex, mut rounds, mut bundles) = (None, None, 15, Vec::new());
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--ours" => ours = it.next().map(PathBuf::from),
            "--codex" => codex = it.next().map(PathBuf::from),
            "--rounds" => rounds = it.next().context("--rounds N")?.parse()?,
            _ => bundles.push(PathBuf::from(arg)),
        }
    }
    Ok(Args {
        ours: ours.context("--ours BIN")?,
        codex: codex.context("--codex BIN")?,
        rounds,
        bundles,
    })
}

/// Runs `command` to completion; the CPU time it used and its wall time.
fn timed(command: &mut Command) -> anyhow::Result<(Duration, Duration)> {
    let cpu = children_cpu();
    let started = Instant::now();
    let out = command.output()?;
    let took = started.elapsed();
    anyhow::ensure!(
        out.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok((children_cpu().saturating_sub(cpu), took))
}

/// `median / minimum` of `samples`, in ms.
fn figure(samples: &mut [Duration]) -> (String, f64) {
    let (median, min) = median_min(samples);
    (format!("{:.1} / {:.1}", ms(median), ms(min)), ms(median))
}

fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

/// Bytes of Codex's bundle as Codex wrote it: `trace.jsonl` and `payloads/`.
fn codex_bytes(bundle: &Path) -> u64 {
    let trace = std::fs::metadata(bundle.join("trace.jsonl")).map_or(0, |m| m.len());
    trace + dir_bytes(&bundle.join("payloads"))
}

fn bench(args: &Args, bundle: &Path) -> anyhow::Result<String> {
    let scratch = tempfile::tempdir()?;
    let imported = tracing_rollout::import::codex::import(bundle, scratch.path().join("ours"))?;
    let ours_bytes = std::fs::metadata(imported[0].bundle.join("trace.jsonl"))?.len();
    let (mut ours, mut theirs) = ((Vec::new(), Vec::new()), (Vec::new(), Vec::new()));
    for round in 0..=args.rounds {
        let cache = scratch.path().join(format!("cache-{round}"));
        let t_ours = timed(
            Command::new(&args.ours)
                .arg("reduce")
                .arg(bundle)
                .env("TRACING_ROLLOUT_CACHE", &cache),
        )?;
        let copy = scratch.path().join(format!("codex-{round}"));
        copy_dir(bundle, &copy)?;
        let _ = std::fs::remove_file(copy.join("state.json"));
        let t_codex = timed(
            Command::new(&args.codex)
                .args(["debug", "trace-reduce"])
                .arg(&copy)
                .env("CODEX_HOME", scratch.path()),
        )?;
        std::fs::remove_dir_all(&copy)?;
        std::fs::remove_dir_all(&cache)?;
        // Round 0 warms the page cache and the binaries up.
        if round > 0 {
            ours.0.push(t_ours.0);
            ours.1.push(t_ours.1);
            theirs.0.push(t_codex.0);
            theirs.1.push(t_codex.1);
        }
    }
    let (ours_cpu, ours_median) = figure(&mut ours.0);
    let (codex_cpu, codex_median) = figure(&mut theirs.0);
    let (ours_wall, _) = figure(&mut ours.1);
    let (codex_wall, _) = figure(&mut theirs.1);
    let codex = codex_bytes(bundle);
    let name = bundle
        .parent()
        .and_then(Path::parent)
        .and_then(Path::file_name)
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(format!(
        "| {name} | {codex} | {ours_bytes} | {:.3} | {ours_cpu} | {codex_cpu} | {:.2} | {ours_wall} | {codex_wall} |",
        ours_bytes as f64 / codex as f64,
        ours_median / codex_median,
    ))
}

fn main() -> anyhow::Result<()> {
    let args = args()?;
    println!(
        "{} rounds after one warm-up round; times median / minimum, ms\n",
        args.rounds
    );
    println!("| entry | Codex bytes | ours bytes | ours / Codex | CPU: import + reduce (ours) | CPU: trace-reduce (Codex) | CPU ours / Codex | wall: ours | wall: Codex |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for bundle in &args.bundles {
        println!("{}", bench(&args, bundle)?);
    }
    Ok(())
}
