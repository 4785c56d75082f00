//! Hash maps and sets keyed by numbers the reducer made itself ([`U64Map`], [`U64Set`]).
//!
//! Invariant: their keys are counted or computed by the reducer (item numbers, hashes it
//! computed), never taken from the log as they are, so no input chooses what collides; that
//! is what makes one multiply per key ([`U64Hasher`]) safe where the standard map pays for
//! SipHash.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// A map keyed by numbers the reducer made itself (item numbers, hashes it computed).
pub(crate) type U64Map<V> = HashMap<u64, V, BuildHasherDefault<U64Hasher>>;
/// A set of such numbers.
pub(crate) type U64Set = HashSet<u64, BuildHasherDefault<U64Hasher>>;

/// One multiply per key instead of SipHash, for [`U64Map`] / [`U64Set`] (see the module
/// comment for why that is safe here). The multiply spreads sequential numbers into the high
/// bits the map's probing uses.
#[derive(Debug, Default)]
pub(crate) struct U64Hasher(u64);

impl Hasher for U64Hasher {
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
