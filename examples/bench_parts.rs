//! The crate's hand-written parts measured against the crates that could replace them, on
//! the benchmark's own payload bodies (`examples/bench_support/workload.rs`): the JSON
//! validator of `src/json_check` (compiled in here from its source) against `serde_json`
//! (`IgnoredAny`, `&RawValue`), `simd-json` and `sonic-rs`; and the number-keyed hash maps
//! of the reducer and the writer with the multiply hasher this crate used to have (kept here
//! as it was) against `rustc-hash`, `foldhash` and the standard SipHash.
//!
//! `cargo run --release --example bench_parts [-- REPEATS]` (default 7) — prints Markdown
//! tables; every contender runs once per repetition, interleaved, reported as median /
//! minimum. It writes nothing.

#[path = "bench_support/mod.rs"]
mod bench_support;

#[path = "../src/json_check/mod.rs"]
#[allow(dead_code, unreachable_pub, unused_imports)]
mod json_check;

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::time::{Duration, Instant};

use bench_support::workload::{Shape, Workload};
use bench_support::{median_min, mib};
use serde::de::IgnoredAny;

fn main() -> anyhow::Result<()> {
    let repeats: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(7);
    println!("### JSON validation of every payload body\n");
    println!("| bodies | validator | median / min ms | GB/s (median) |");
    println!("|---|---|---:|---:|");
    for (name, turns, shape) in [
        ("capped, 2 000 turns", 2000, Shape::capped()),
        ("uncapped, 400 turns", 400, Shape::uncapped()),
    ] {
        let workload = Workload::generate_shaped(turns, shape);
        let bodies = workload.payload_texts();
        validators(name, &bodies, repeats)?;
    }
    println!();
    hashers(repeats);
    Ok(())
}

/// A validator: whether `text` is one JSON value (its cost includes whatever the crate needs
/// first, such as a mutable copy for `simd-json`).
type Validate = fn(&[u8], &mut Vec<u8>) -> bool;

const VALIDATORS: [(&str, Validate); 6] = [
    ("json_check (this crate)", |t, _| {
        json_check::valid_json_has_line_breaks(t).is_some()
    }),
    ("serde_json `IgnoredAny`", |t, _| {
        serde_json::from_slice::<IgnoredAny>(t).is_ok()
    }),
    ("serde_json `&RawValue`", |t, _| {
        serde_json::from_slice::<&serde_json::value::RawValue>(t).is_ok()
    }),
    ("simd-json `to_tape` (on a copy)", |t, copy| {
        copy.clear();
        copy.extend_from_slice(t);
        simd_json::to_tape(copy).is_ok()
    }),
    ("sonic-rs `IgnoredAny`", |t, _| {
        sonic_rs::from_slice::<IgnoredAny>(t).is_ok()
    }),
    ("sonic-rs `LazyValue`", |t, _| {
        sonic_rs::from_slice::<sonic_rs::LazyValue<'_>>(t).is_ok()
    }),
];

fn validators(name: &str, bodies: &[&str], repeats: usize) -> anyhow::Result<()> {
    let bytes: usize = bodies.iter().map(|b| b.len()).sum();
    let mut copy = Vec::new();
    // Every contender accepts every body, and rejects the same broken ones.
    for (label, validate) in VALIDATORS {
        for body in bodies {
            anyhow::ensure!(
                validate(body.as_bytes(), &mut copy),
                "{label} rejects a body"
            );
        }
        for broken in [&b"{\"a\":[1,2}"[..], b"[\"x\" 1]", b"{\"a\":tru}", b"[1,]"] {
            anyhow::ensure!(!validate(broken, &mut copy), "{label} accepts {broken:?}");
        }
    }
    let mut times = vec![Vec::new(); VALIDATORS.len()];
    for _ in 0..=repeats {
        for (i, (_, validate)) in VALIDATORS.iter().enumerate() {
            let t0 = Instant::now();
            let ok = bodies
                .iter()
                .filter(|b| validate(b.as_bytes(), &mut copy))
                .count();
            times[i].push(t0.elapsed());
            anyhow::ensure!(ok == bodies.len());
        }
    }
    for ((label, _), samples) in VALIDATORS.iter().zip(&mut times) {
        samples.remove(0);
        let (median, min) = median_min(samples);
        println!(
            "| {name}: {} bodies, {:.1} MiB | {label} | {:.1} / {:.1} | {:.2} |",
            bodies.len(),
            mib(bytes as u64),
            ms(median),
            ms(min),
            bytes as f64 / median.as_secs_f64() / 1e9
        );
    }
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The hasher this crate's `U64Map` used before this comparison, as it was: one rotate, xor
/// and multiply per word (FxHash's first version).
#[derive(Default)]
struct Ours(u64);

impl Hasher for Ours {
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64(u64::from(byte));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x517c_c1b7_2722_0a95);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// splitmix64: the reducer's item hashes look like this (spread over all 64 bits).
fn mix(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The three uses: the reducer's memo (keys are 64-bit content hashes: insert 1M, then look
/// each up and miss 1M), its sets of item numbers (sequential: insert 1M, look up 2M), and the
/// writer's map of open bundles (sequential ids, 8 of them, 4M lookups).
fn workloads<S: BuildHasher + Default>() -> [Duration; 3] {
    const N: u64 = 1 << 20;
    let t0 = Instant::now();
    let mut memo: HashMap<u64, u64, S> = HashMap::default();
    for i in 0..N {
        memo.insert(mix(i), i);
    }
    let mut hits = 0u64;
    for i in 0..2 * N {
        hits += u64::from(memo.contains_key(&mix(i)));
    }
    assert_eq!(hits, N);
    let memo_time = t0.elapsed();
    let t0 = Instant::now();
    let mut set: HashSet<u64, S> = HashSet::default();
    for i in 0..N {
        set.insert(i);
    }
    let found = (0..2 * N).filter(|i| set.contains(i)).count();
    assert_eq!(found as u64, N);
    let set_time = t0.elapsed();
    let t0 = Instant::now();
    let bundles: HashMap<u64, u64, S> = (1..=8).map(|i| (i, i)).collect();
    let mut sum = 0u64;
    for i in 0..4 * N {
        sum += bundles.get(&(1 + (i & 7))).copied().unwrap_or(0);
    }
    assert!(sum > 0);
    [memo_time, set_time, t0.elapsed()]
}

fn hashers(repeats: usize) {
    type Run = fn() -> [Duration; 3];
    let contenders: [(&str, Run); 5] = [
        (
            "ours (FxHash v1, removed)",
            workloads::<BuildHasherDefault<Ours>>,
        ),
        (
            "rustc-hash 2 `FxBuildHasher`",
            workloads::<rustc_hash::FxBuildHasher>,
        ),
        (
            "foldhash `fast::FixedState`",
            workloads::<foldhash::fast::FixedState>,
        ),
        (
            "foldhash `fast::RandomState`",
            workloads::<foldhash::fast::RandomState>,
        ),
        (
            "std `RandomState` (SipHash-1-3)",
            workloads::<std::hash::RandomState>,
        ),
    ];
    let mut times = vec![[Vec::new(), Vec::new(), Vec::new()]; contenders.len()];
    for _ in 0..=repeats {
        for (i, (_, run)) in contenders.iter().enumerate() {
            for (k, d) in run().into_iter().enumerate() {
                times[i][k].push(d);
            }
        }
    }
    println!("### u64-keyed hash maps\n");
    println!("| hasher | memo: 1M content hashes, 2M lookups, ms | item numbers: 1M inserts, 2M lookups, ms | open bundles: 4M lookups among 8, ms |");
    println!("|---|---:|---:|---:|");
    for ((label, _), samples) in contenders.iter().zip(&mut times) {
        let cells: Vec<String> = samples
            .iter_mut()
            .map(|s| {
                s.remove(0);
                let (median, min) = median_min(s);
                format!("{:.1} / {:.1}", ms(median), ms(min))
            })
            .collect();
        println!("| {label} | {} |", cells.join(" | "));
    }
}
