//! Reducer benchmark: time and peak heap to reduce synthetic bundles of 5k/10k/20k inference
//! calls, against the floor of parsing every line of the same `trace.jsonl` into
//! `serde_json::Value`.
//!
//! `cargo run --release --example bench_reduce [-- REPEATS]` — prints a Markdown table.
//! Peak heap comes from a counting global allocator, reset before each measurement.

#[path = "../tests/support/synthetic.rs"]
mod synthetic;

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::BufRead;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use synthetic::Synthetic;

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator; only adds bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = CURRENT.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Runs `f`, returning its wall time and the peak heap above what was live before it.
fn measure<T>(f: impl FnOnce() -> T) -> (Duration, usize, T) {
    let base = CURRENT.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let start = Instant::now();
    let out = f();
    let elapsed = start.elapsed();
    (elapsed, PEAK.load(Ordering::Relaxed) - base, out)
}

fn parse_floor(path: &std::path::Path) -> anyhow::Result<usize> {
    let file = std::io::BufReader::with_capacity(1 << 16, std::fs::File::open(path)?);
    let mut n = 0;
    for line in file.lines() {
        let value: serde_json::Value = serde_json::from_str(&line?)?;
        n += usize::from(!value.is_null());
    }
    Ok(n)
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn main() -> anyhow::Result<()> {
    let repeats: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(5);
    let dir = tempfile::tempdir()?;
    println!("| inference calls | trace.jsonl | parse floor (median / min) | reduce (median / min) | reduce ÷ floor | floor peak heap | reduce peak heap | reduce µs per call |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    for calls in [5_000u64, 10_000, 20_000] {
        let shape = Synthetic {
            turns: calls / 20,
            calls_per_turn: 20,
        };
        let bundle = dir.path().join(format!("synthetic-{calls}"));
        let bytes = shape.write(&bundle)?;
        let trace = bundle.join("trace.jsonl");
        let (mut floor, mut reduce) = (Vec::new(), Vec::new());
        let (mut floor_peak, mut reduce_peak) = (0, 0);
        // Interleaved repetitions, so both see the same machine conditions.
        for _ in 0..repeats {
            let (t, peak, lines) = measure(|| parse_floor(&trace));
            lines?;
            floor.push(t);
            floor_peak = floor_peak.max(peak);
            let (t, peak, state) = measure(|| tracing_rollout::reduce::reduce_bundle(&bundle));
            let state = state?;
            anyhow::ensure!(state.inference_calls.len() as u64 == calls, "wrong graph");
            drop(state);
            reduce.push(t);
            reduce_peak = reduce_peak.max(peak);
        }
        floor.sort();
        reduce.sort();
        let (fm, rm) = (floor[floor.len() / 2], reduce[reduce.len() / 2]);
        println!(
            "| {calls} | {:.1} MiB | {:.0} / {:.0} ms | {:.0} / {:.0} ms | {:.2} | {:.1} MiB | {:.1} MiB | {:.1} |",
            mib(bytes as usize),
            fm.as_secs_f64() * 1e3,
            floor[0].as_secs_f64() * 1e3,
            rm.as_secs_f64() * 1e3,
            reduce[0].as_secs_f64() * 1e3,
            rm.as_secs_f64() / fm.as_secs_f64(),
            mib(floor_peak),
            mib(reduce_peak),
            rm.as_secs_f64() * 1e6 / calls as f64,
        );
    }
    Ok(())
}
