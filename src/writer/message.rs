//! The messages the instrumented threads hand to the writer thread: their framing, and
//! [`Parcels`], the queue they wait in.
//!
//! Invariant: every message is queued in [`Parcels`] in the order its callback sent it, and
//! starts with a fixed-size [`Header`]; whenever a message is queued and no wake-up is
//! pending, one is sent through `tracing_appender::non_blocking`, and the writer thread
//! drains the whole queue on each wake-up, so nothing queued waits for a later callback.

use std::collections::VecDeque;
use std::sync::Mutex;

use serde::Deserialize;

use super::lock;
use crate::format::push_json_str;

// A message: a fixed header, then the body.
// Header: op (1 byte), bundle id, t (unix ms), ns (since bundle start), dropped-before
// records, dropped-before bytes, check offset (six little-endian u64).
//
// Why a queue beside the channel instead of one channel message per record:
// `NonBlocking::write` copies every message into a new allocation that the writer thread
// frees. For payload-sized messages that copy, and glibc's arena lock contended between the
// `malloc` on the instrumented thread and the `free` on the writer thread, were most of the
// hot path (see BENCHMARKS.md); for the many small records the allocation, the channel send
// and the wake-up of a parked writer thread were. Here a short message is copied into a
// shared batch buffer, a long one is handed over by ownership, and both buffers come back
// through small pools, so in steady state the instrumented threads allocate nothing and
// send one wake-up per batch the writer thread takes.

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
}

impl Op {
    fn from_u8(b: u8) -> Option<Op> {
        Some(match b {
            1 => Op::Open,
            2 => Op::Record,
            3 => Op::Close,
            4 => Op::Barrier,
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
    /// [`check_text_body`](super::check::check_text_body)); the writer thread checks it.
    pub(crate) check: u64,
}

impl Header {
    /// Clears `buf` and writes a header with no dropped counts; the body follows.
    pub(crate) fn begin(buf: &mut Vec<u8>, op: Op, bundle: u64, t: u64, ns: u64) {
        buf.clear();
        // Room for the header and a typical record body: a fresh spare buffer (see
        // `Parcels::push_whole`) then grows at most once.
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

/// Appends the body of an [`Op::Open`] message: `{"rollout_id":…,"trace_id":…}`.
pub(crate) fn encode_open(buf: &mut Vec<u8>, rollout_id: &str, trace_id: Option<&str>) {
    buf.extend_from_slice(b"{\"rollout_id\":");
    push_json_str(buf, rollout_id);
    if let Some(trace_id) = trace_id {
        buf.extend_from_slice(b",\"trace_id\":");
        push_json_str(buf, trace_id);
    }
    buf.push(b'}');
}

/// The body of an [`Op::Open`] message as [`encode_open`] wrote it.
#[derive(Debug, Deserialize)]
pub(crate) struct OpenBody {
    pub(crate) rollout_id: String,
    #[serde(default)]
    pub(crate) trace_id: Option<String>,
}

impl OpenBody {
    /// Reads an [`Op::Open`] body; `None` if it is not one.
    pub(crate) fn decode(body: &[u8]) -> Option<OpenBody> {
        serde_json::from_slice(body).ok()
    }
}

/// Messages at least this long are handed over whole (their buffer moves to the writer
/// thread and the sending thread continues with a spare); shorter ones are copied into a
/// shared batch. Up to a few KiB the copy is cheaper than what moving costs: the spare is
/// usually too small for the next payload and has to be reallocated (callgrind: 1 KiB here
/// left 12.7 k reallocations per 500 agent turns, 4 KiB 1.1 k, and 4 % fewer instructions).
pub(crate) const PARCEL_MIN_BYTES: usize = 4096;
/// Bytes of a frame's length prefix in a batch.
const FRAME_BYTES: usize = 4;
/// The length prefix of a frame that stands for the next whole message.
const WHOLE_MARK: u32 = u32::MAX;
/// Capacity of a batch buffer.
const BATCH_BYTES: usize = 64 * 1024;

/// The bytes a message holds while queued, as the budget counts them: a short message its
/// framed length in a batch, a long one its buffer's whole capacity.
pub(crate) fn admitted_bytes(msg: &Vec<u8>) -> usize {
    if msg.len() < PARCEL_MIN_BYTES {
        batched_bytes(msg)
    } else {
        msg.capacity()
    }
}

/// Spare buffers of long messages kept for reuse, the largest capacity worth keeping, and
/// spare batches kept (idle memory is at most ~4.5 MiB in all).
const POOL_BUFFERS: usize = 16;
const POOL_BUFFER_MAX_BYTES: usize = 256 * 1024;
const POOL_BATCHES: usize = 8;

/// The queue of messages on their way to the writer thread, and spare buffers.
///
/// The queue is one stream of frames in batch buffers: a short message is copied in as a
/// frame; a long one moves to `wholes` and a marker frame holds its place, so batches fill
/// up whatever the mix. The memory held beyond what the budget counts: the end of a batch
/// too short for the next frame (under `PARCEL_MIN_BYTES` + 4 per 64 KiB batch, ~6 % at
/// worst), a 4-byte marker per long message, the last, partly filled batch, and the pools.
/// One lock, held for a copy of at most `PARCEL_MIN_BYTES`, a `VecDeque` push, a swap or a
/// pool push or pop — never across formatting or I/O.
#[derive(Debug, Default)]
pub(crate) struct Parcels {
    inner: Mutex<ParcelsInner>,
}

#[derive(Debug, Default)]
struct ParcelsInner {
    queued: Queued,
    /// A wake-up was sent and the writer thread has not drained the queue since.
    wake_pending: bool,
    spare: Vec<Vec<u8>>,
    spare_batches: Vec<Vec<u8>>,
}

/// Queued messages: batches of frames, and the long messages their markers stand for.
#[derive(Debug, Default)]
pub(crate) struct Queued {
    batches: VecDeque<Vec<u8>>,
    wholes: VecDeque<Vec<u8>>,
}

/// A message taken from [`Queued`].
pub(crate) enum Message<'a> {
    /// A short message, inside its batch.
    Short(&'a [u8]),
    /// A long message.
    Whole(Vec<u8>),
}

impl Message<'_> {
    /// The bytes the budget admitted for this message (what [`admitted_bytes`] counted when
    /// it was sent): its framed length in a batch, or a long message's capacity — read this
    /// before anything changes the buffer.
    pub(crate) fn admitted(&self) -> usize {
        match self {
            Message::Short(msg) => batched_bytes(msg),
            Message::Whole(msg) => msg.capacity(),
        }
    }
}

impl Queued {
    /// Calls `handle` with every message, in order, and `done` with each buffer afterwards.
    pub(crate) fn drain_each(
        &mut self,
        mut handle: impl FnMut(Message<'_>),
        mut done: impl FnMut(Vec<u8>),
    ) {
        while let Some(batch) = self.batches.pop_front() {
            let mut rest = batch.as_slice();
            while let Some((prefix, after)) = rest.split_first_chunk::<FRAME_BYTES>() {
                let len = u32::from_le_bytes(*prefix);
                if len == WHOLE_MARK {
                    if let Some(msg) = self.wholes.pop_front() {
                        handle(Message::Whole(msg));
                    }
                    rest = after;
                    continue;
                }
                let Some((msg, after)) = after.split_at_checked(len as usize) else {
                    break;
                };
                handle(Message::Short(msg));
                rest = after;
            }
            done(batch);
        }
    }

    /// Appends a frame, starting a batch (from `spare`) when the last one is full.
    fn push_frame(&mut self, spare: &mut Vec<Vec<u8>>, prefix: u32, msg: &[u8]) {
        let needed = FRAME_BYTES + msg.len();
        let fits = matches!(self.batches.back(),
            Some(batch) if batch.len() + needed <= batch.capacity());
        if !fits {
            let fresh = spare
                .pop()
                .unwrap_or_else(|| Vec::with_capacity(BATCH_BYTES));
            self.batches.push_back(fresh);
        }
        if let Some(batch) = self.batches.back_mut() {
            batch.extend_from_slice(&prefix.to_le_bytes());
            batch.extend_from_slice(msg);
        }
    }
}

/// The bytes the budget admits for a short message.
fn batched_bytes(msg: &[u8]) -> usize {
    FRAME_BYTES + msg.len()
}

impl ParcelsInner {
    /// Whether the caller that just queued a message must send a wake-up.
    fn needs_wake(&mut self) -> bool {
        !std::mem::replace(&mut self.wake_pending, true)
    }
}

impl Parcels {
    /// Queues a copy of a short message (shorter than `PARCEL_MIN_BYTES`); returns whether
    /// the caller must send a wake-up.
    pub(crate) fn push_short(&self, msg: &[u8]) -> bool {
        let mut inner = lock(&self.inner);
        let inner = &mut *inner;
        inner
            .queued
            .push_frame(&mut inner.spare_batches, msg.len() as u32, msg);
        inner.needs_wake()
    }

    /// Queues a long message by ownership; returns a spare (empty) buffer to continue with
    /// and whether the caller must send a wake-up.
    pub(crate) fn push_whole(&self, msg: Vec<u8>) -> (Vec<u8>, bool) {
        let mut inner = lock(&self.inner);
        let inner = &mut *inner;
        inner
            .queued
            .push_frame(&mut inner.spare_batches, WHOLE_MARK, &[]);
        inner.queued.wholes.push_back(msg);
        let spare = inner.spare.pop().unwrap_or_default();
        (spare, inner.needs_wake())
    }

    /// Takes every queued message into `into` (writer thread; `into` is empty).
    pub(crate) fn drain(&self, into: &mut Queued) {
        let mut inner = lock(&self.inner);
        std::mem::swap(&mut inner.queued, into);
        inner.wake_pending = false;
    }

    /// Returns a handled batch or long message's buffer for reuse.
    pub(crate) fn recycle(&self, mut buf: Vec<u8>) {
        let mut inner = lock(&self.inner);
        if buf.capacity() == BATCH_BYTES {
            if inner.spare_batches.len() < POOL_BATCHES {
                buf.clear();
                inner.spare_batches.push(buf);
            }
        } else if inner.spare.len() < POOL_BUFFERS && buf.capacity() <= POOL_BUFFER_MAX_BYTES {
            buf.clear();
            inner.spare.push(buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drained(parcels: &Parcels) -> Vec<Vec<u8>> {
        let mut queued = Queued::default();
        parcels.drain(&mut queued);
        let mut out = Vec::new();
        queued.drain_each(
            |msg| match msg {
                Message::Short(msg) => out.push(msg.to_vec()),
                Message::Whole(msg) => out.push(msg),
            },
            drop,
        );
        out
    }

    /// Short and long messages come out in the order they went in, across batch boundaries,
    /// and a wake-up is asked for exactly when none is pending since the last drain.
    #[test]
    fn messages_keep_their_order_and_wake_ups_are_sent_once_per_drain() {
        let parcels = Parcels::default();
        let mut sent = Vec::new();
        let mut wakes = 0;
        for i in 0..2000usize {
            let len = if i % 7 == 0 {
                PARCEL_MIN_BYTES + i
            } else {
                i % 300
            };
            let msg: Vec<u8> = (0..len).map(|j| (i + j) as u8).collect();
            let wake = if msg.len() < PARCEL_MIN_BYTES {
                parcels.push_short(&msg)
            } else {
                parcels.push_whole(msg.clone()).1
            };
            wakes += usize::from(wake);
            sent.push(msg);
        }
        assert_eq!(wakes, 1);
        assert!(
            lock(&parcels.inner).queued.batches.len() > 1,
            "several batches"
        );
        assert_eq!(drained(&parcels), sent);
        assert!(drained(&parcels).is_empty());
        assert!(
            parcels.push_short(b"after"),
            "the first message after a drain wakes"
        );
        assert!(!parcels.push_short(b"again"));
        assert_eq!(
            drained(&parcels),
            vec![b"after".to_vec(), b"again".to_vec()]
        );
    }

    /// The budget's count of a queued message is what the writer thread releases for it.
    #[test]
    fn admitted_bytes_match_what_is_released() {
        let short = vec![1u8; 100];
        assert_eq!(admitted_bytes(&short), Message::Short(&short).admitted());
        let mut long = Vec::with_capacity(2 * PARCEL_MIN_BYTES);
        long.resize(PARCEL_MIN_BYTES, 0);
        assert_eq!(admitted_bytes(&long), 2 * PARCEL_MIN_BYTES);
        assert_eq!(Message::Whole(long).admitted(), 2 * PARCEL_MIN_BYTES);
    }
}
