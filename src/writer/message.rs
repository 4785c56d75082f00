//! The messages the instrumented threads hand to the writer thread through
//! `tracing_appender::non_blocking`: their framing, and the parcels that carry large ones.
//!
//! Invariant: every message is one `NonBlocking::write` call that starts with a fixed-size
//! [`Header`]; a message of `PARCEL_MIN_BYTES` or more travels as a ticket naming a buffer
//! parked in [`Parcels`], so the writer thread sees every message, in order, through the one
//! channel.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use super::lock;

// A message is one `NonBlocking::write` call: a fixed header, then the body.
// Header: op (1 byte), bundle id, t (unix ms), ns (since bundle start), dropped-before
// records, dropped-before bytes, check offset (six little-endian u64).
//
// A message of `PARCEL_MIN_BYTES` or more does not travel through the channel itself: it is
// parked in `Parcels` and the channel carries an `Op::Parcel` ticket naming it.
// `NonBlocking::write` copies every message into a new allocation that the writer thread
// frees; for payload-sized messages that copy, and glibc's arena lock contended between the
// `malloc` on the instrumented thread and the `free` on the writer thread, were most of the
// hot path (see BENCHMARKS.md). A parked buffer is handed over without a copy and comes back
// through a small pool, so in steady state the instrumented thread allocates nothing.

/// Message kinds the writer thread understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Op {
    /// Create a bundle. Body: JSON `{"rollout_id":…,"trace_id":…}`.
    Open = 1,
    /// One record. Body: the record without its envelope, from `"type":` to `}`.
    Record = 2,
    /// End a bundle. Body: the status text.
    Close = 3,
    /// Flush everything, finalise open bundles as `incomplete`, signal the guard.
    Barrier = 4,
    /// A parked message (see [`Parcels`]); the header's bundle word is its ticket. No body.
    Parcel = 5,
}

impl Op {
    fn from_u8(b: u8) -> Option<Op> {
        Some(match b {
            1 => Op::Open,
            2 => Op::Record,
            3 => Op::Close,
            4 => Op::Barrier,
            5 => Op::Parcel,
            _ => return None,
        })
    }
}

/// Bytes of the message header.
pub(crate) const HEADER_LEN: usize = 1 + 6 * 8;

/// The decoded header of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) op: Op,
    pub(crate) bundle: u64,
    pub(crate) t: u64,
    pub(crate) ns: u64,
    pub(crate) dropped_records: u64,
    pub(crate) dropped_bytes: u64,
    /// Non-zero: the message holds a `payload` record whose body, from this offset in the
    /// message to the record's closing `}`, is JSON text not yet checked (see
    /// [`crate::payload::check_text_body`]); the writer thread checks it.
    pub(crate) check: u64,
}

impl Header {
    /// Clears `buf` and writes a header with no dropped counts; the body follows.
    pub(crate) fn begin(buf: &mut Vec<u8>, op: Op, bundle: u64, t: u64, ns: u64) {
        buf.clear();
        // Room for the header and a typical record body: a fresh buffer (see
        // `Parcels::park`) then grows at most once.
        buf.reserve(HEADER_LEN + 256);
        buf.push(op as u8);
        for v in [bundle, t, ns, 0, 0, 0] {
            buf.extend_from_slice(&v.to_le_bytes());
        }
    }

    /// Marks the message in `buf` as holding an unchecked payload body from `offset`.
    pub(crate) fn set_check(buf: &mut [u8], offset: usize) {
        if buf.len() >= HEADER_LEN {
            buf[41..49].copy_from_slice(&(offset as u64).to_le_bytes());
        }
    }

    pub(crate) fn set_dropped(buf: &mut [u8], records: u64, bytes: u64) {
        if buf.len() >= HEADER_LEN {
            buf[25..33].copy_from_slice(&records.to_le_bytes());
            buf[33..41].copy_from_slice(&bytes.to_le_bytes());
        }
    }

    /// Splits a message into its header and body.
    pub(crate) fn parse(msg: &[u8]) -> Option<(Header, &[u8])> {
        let (head, body) = msg.split_at_checked(HEADER_LEN)?;
        let word = |i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&head[1 + 8 * i..9 + 8 * i]);
            u64::from_le_bytes(w)
        };
        let header = Header {
            op: Op::from_u8(head[0])?,
            bundle: word(0),
            t: word(1),
            ns: word(2),
            dropped_records: word(3),
            dropped_bytes: word(4),
            check: word(5),
        };
        Some((header, body))
    }
}

/// Messages at least this long are parked in [`Parcels`] instead of being copied by
/// `NonBlocking::write`; shorter ones are cheap to copy (glibc serves them from its per-thread
/// cache).
pub(crate) const PARCEL_MIN_BYTES: usize = 1024;
/// The bytes a message holds while in flight, as the budget counts them: a short message is
/// copied into an allocation of its length, a parked one keeps its buffer's whole capacity.
pub(crate) fn admitted_bytes(msg: &Vec<u8>) -> usize {
    if msg.len() < PARCEL_MIN_BYTES {
        msg.len()
    } else {
        msg.capacity()
    }
}

/// Spare buffers kept for reuse, and the largest capacity worth keeping.
const POOL_BUFFERS: usize = 32;
const POOL_BUFFER_MAX_BYTES: usize = 256 * 1024;

/// Parked messages by ticket, and spare buffers. One lock, held for a map insert or remove
/// and a `Vec` push or pop, never across formatting or I/O.
#[derive(Debug, Default)]
pub(crate) struct Parcels {
    next: AtomicU64,
    inner: Mutex<ParcelsInner>,
}

#[derive(Debug, Default)]
struct ParcelsInner {
    parked: HashMap<u64, Vec<u8>>,
    spare: Vec<Vec<u8>>,
}

impl Parcels {
    /// Parks `msg`, returning its ticket and a spare (empty) buffer to continue with.
    pub(crate) fn park(&self, msg: Vec<u8>) -> (u64, Vec<u8>) {
        let ticket = self.next.fetch_add(1, Ordering::Relaxed);
        let mut inner = lock(&self.inner);
        inner.parked.insert(ticket, msg);
        let spare = inner.spare.pop().unwrap_or_default();
        (ticket, spare)
    }

    /// Takes the message parked under `ticket` (writer thread).
    pub(crate) fn take(&self, ticket: u64) -> Option<Vec<u8>> {
        lock(&self.inner).parked.remove(&ticket)
    }

    /// Returns a written message's buffer for reuse.
    pub(crate) fn recycle(&self, mut buf: Vec<u8>) {
        if buf.capacity() > POOL_BUFFER_MAX_BYTES {
            return;
        }
        buf.clear();
        let mut inner = lock(&self.inner);
        if inner.spare.len() < POOL_BUFFERS {
            inner.spare.push(buf);
        }
    }
}
