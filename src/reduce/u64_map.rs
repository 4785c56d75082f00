//! Hash maps and sets keyed by numbers the reducer made itself ([`U64Map`], [`U64Set`]).
//!
//! Invariant: their keys are counted or computed by the reducer (item numbers, hashes it
//! computed), never taken from the log as they are, so no input chooses what collides; that
//! is what makes `rustc-hash`'s multiply-and-rotate hasher safe where the standard map pays
//! for SipHash. (It replaced a hand-written one, equally fast: `examples/bench_parts.rs`.)

use std::collections::{HashMap, HashSet};

use rustc_hash::FxBuildHasher;

/// A map keyed by numbers the reducer made itself (item numbers, hashes it computed).
pub(crate) type U64Map<V> = HashMap<u64, V, FxBuildHasher>;
/// A set of such numbers.
pub(crate) type U64Set = HashSet<u64, FxBuildHasher>;
