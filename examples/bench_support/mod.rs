//! What the benchmarks share: a counting global allocator (peak heap above a baseline),
//! process CPU time, medians, the parse floor, the agent workload and the fan-out workload.
//!
//! One mechanism for every benchmark, so figures in BENCHMARKS.md are comparable: each
//! measurement resets the peak to what is live before it, and repetitions are interleaved
//! across configurations so they all see the same machine conditions.

#![allow(dead_code, unreachable_pub)]
// shared by two examples, each using part of it
// The counting allocator wraps `System` and reading process CPU time calls libc.
#![allow(unsafe_code)]

pub mod fanout;
pub mod workload;

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::BufRead;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Forwards to the system allocator, counting bytes live and their peak.
pub struct Counting;

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

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                let grow = new_size - layout.size();
                let now = CURRENT.fetch_add(grow, Ordering::Relaxed) + grow;
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                CURRENT.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

/// Starts a peak-heap measurement: returns the baseline (bytes live now).
pub fn heap_baseline() -> usize {
    let base = CURRENT.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    base
}

/// Peak heap since [`heap_baseline`] returned `base`, above `base`.
pub fn heap_peak_above(base: usize) -> usize {
    PEAK.load(Ordering::Relaxed).saturating_sub(base)
}

/// Runs `f`, returning its wall time and the peak heap above what was live before it.
pub fn measure<T>(f: impl FnOnce() -> T) -> (Duration, usize, T) {
    let base = heap_baseline();
    let start = Instant::now();
    let out = f();
    let elapsed = start.elapsed();
    (elapsed, heap_peak_above(base), out)
}

/// User + system CPU time of the whole process so far (every thread, writer threads
/// included), from `getrusage(RUSAGE_SELF)`.
pub fn process_cpu() -> Duration {
    rusage(libc::RUSAGE_SELF)
}

/// User + system CPU time of the calling thread so far (`getrusage(RUSAGE_THREAD)`): unlike
/// wall time, not inflated when other processes take the cores.
pub fn thread_cpu() -> Duration {
    rusage(libc::RUSAGE_THREAD)
}

/// User + system CPU time of the child processes waited for so far
/// (`getrusage(RUSAGE_CHILDREN)`).
pub fn children_cpu() -> Duration {
    rusage(libc::RUSAGE_CHILDREN)
}

fn rusage(who: libc::c_int) -> Duration {
    // SAFETY: `rusage` is plain data; getrusage fills it and cannot fail for these `who`.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(who, &mut usage);
        usage
    };
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// The parse floor: every line of `trace.jsonl` into `serde_json::Value`, one at a time.
pub fn parse_floor(path: &Path) -> anyhow::Result<usize> {
    let file = std::io::BufReader::with_capacity(1 << 16, std::fs::File::open(path)?);
    let mut n = 0;
    for line in file.lines() {
        let value: serde_json::Value = serde_json::from_str(&line?)?;
        n += usize::from(!value.is_null());
    }
    Ok(n)
}

/// Median and minimum of `samples` (sorted in place).
pub fn median_min<T: Ord + Copy>(samples: &mut [T]) -> (T, T) {
    samples.sort();
    (samples[samples.len() / 2], samples[0])
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Total size of the regular files below `dir`.
pub fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&e.path()),
            Ok(_) => e.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}
