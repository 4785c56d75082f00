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

/// Spare buffers of long messages kept for reuse, and spare batches kept. Long buffers of any
/// size are kept, as long as the spares and the bytes in flight fit the byte budget together
/// (the `room` callers pass): a request of a long conversation is hundreds of KiB, a fresh
/// allocation that large costs the instrumented thread a page fault per 4 KiB written into
/// it, and the writer thread hands buffers back in bursts (when it catches up), so the pool
/// must hold what a burst returns for the next requests to find.
const POOL_BUFFERS: usize = 64;
const POOL_BATCHES: usize = 8;
/// A fresh long buffer gets `1 / SLACK` more room than its message needs.
const SLACK: usize = 4;

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
    /// Capacity of the `spare` buffers, in all.
    spare_bytes: usize,
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

    /// The smallest spare long buffer of at least `min` bytes and at most `max`.
    fn take_spare(&mut self, min: usize, max: usize) -> Option<Vec<u8>> {
        let (i, _) = self
            .spare
            .iter()
            .enumerate()
            .filter(|(_, b)| (min..=max).contains(&b.capacity()))
            .min_by_key(|(_, b)| b.capacity())?;
        let buf = self.spare.swap_remove(i);
        self.spare_bytes -= buf.capacity();
        Some(buf)
    }

    /// The largest spare long buffer of at least `min` bytes and less than `below`.
    fn take_largest(&mut self, min: usize, below: usize) -> Option<Vec<u8>> {
        let (i, _) = self
            .spare
            .iter()
            .enumerate()
            .filter(|(_, b)| (min..below).contains(&b.capacity()))
            .max_by_key(|(_, b)| b.capacity())?;
        let buf = self.spare.swap_remove(i);
        self.spare_bytes -= buf.capacity();
        Some(buf)
    }

    /// Keeps `buf` (empty) as a spare long buffer if the spares then hold at most `room`
    /// bytes, making room by dropping smaller ones; drops it when it cannot fit.
    fn keep_spare(&mut self, buf: Vec<u8>, room: usize) {
        let cap = buf.capacity();
        if !(PARCEL_MIN_BYTES..=room).contains(&cap) {
            return;
        }
        while self.spare.len() >= POOL_BUFFERS || self.spare_bytes + cap > room {
            let Some((i, _)) = self
                .spare
                .iter()
                .enumerate()
                .min_by_key(|(_, b)| b.capacity())
            else {
                break;
            };
            if self.spare[i].capacity() >= cap {
                return;
            }
            self.spare_bytes -= self.spare.swap_remove(i).capacity();
        }
        self.spare_bytes += cap;
        self.spare.push(buf);
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

    /// Queues a long message by ownership; returns an empty buffer to continue with and
    /// whether the caller must send a wake-up.
    pub(crate) fn push_whole(&self, msg: Vec<u8>) -> (Vec<u8>, bool) {
        let mut inner = lock(&self.inner);
        let inner = &mut *inner;
        inner
            .queued
            .push_frame(&mut inner.spare_batches, WHOLE_MARK, &[]);
        inner.queued.wholes.push_back(msg);
        // No spare: the next message is usually short (copied into a batch) and needs a few
        // hundred bytes; a long one gets a spare of its size from `reserve`.
        (Vec::new(), inner.needs_wake())
    }

    /// Makes room for `additional` more bytes in `buf`, the message being built: a message
    /// that will be long continues in the smallest spare buffer that holds it (at most
    /// twice its size), or else in the largest spare of at least half its size (or a new
    /// one) grown to a quarter more than it needs, so that later, longer messages of the
    /// kind (a conversation's requests grow) still fit when it comes back; `buf`'s old
    /// buffer becomes a spare. `room`: the bytes the spares may hold (see
    /// [`Parcels::recycle`]).
    pub(crate) fn reserve(&self, buf: &mut Vec<u8>, additional: usize, room: usize) {
        let needed = buf.len().saturating_add(additional);
        if buf.capacity() >= needed {
            return;
        }
        if needed < PARCEL_MIN_BYTES {
            buf.reserve(additional);
            return;
        }
        let spare = {
            let mut inner = lock(&self.inner);
            // The smallest that holds it, or else the largest of at least half its size:
            // growing a large allocation (`realloc`, which moves its pages) writes only the
            // new part into fresh memory.
            inner
                .take_spare(needed, needed.saturating_mul(2))
                .or_else(|| inner.take_largest(needed / 2, needed))
        };
        let mut fresh = spare.unwrap_or_default();
        fresh.clear();
        if fresh.capacity() < needed {
            fresh.reserve_exact(needed.saturating_add(needed / SLACK));
        }
        fresh.extend_from_slice(buf);
        let old = std::mem::replace(buf, fresh);
        if old.capacity() >= PARCEL_MIN_BYTES {
            self.recycle(old, room);
        }
    }

    /// Takes every queued message into `into` (writer thread; `into` is empty).
    pub(crate) fn drain(&self, into: &mut Queued) {
        let mut inner = lock(&self.inner);
        std::mem::swap(&mut inner.queued, into);
        inner.wake_pending = false;
    }

    /// Returns a handled batch or long message's buffer for reuse; a long one is kept only
    /// while the spares hold at most `room` bytes (what the byte budget does not hold in
    /// flight: spares and messages then fit the budget together).
    pub(crate) fn recycle(&self, mut buf: Vec<u8>, room: usize) {
        buf.clear();
        let mut inner = lock(&self.inner);
        if buf.capacity() == BATCH_BYTES {
            if inner.spare_batches.len() < POOL_BATCHES {
                inner.spare_batches.push(buf);
            }
        } else {
            inner.keep_spare(buf, room);
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

    /// A long message being built continues in the smallest spare buffer that holds it
    /// (not one more than twice its size), or in a fresh one with room to grow; its old
    /// buffer becomes a spare; the spares never hold more than their bound.
    #[test]
    fn a_long_message_continues_in_a_spare_buffer_of_its_size() {
        let parcels = Parcels::default();
        let room = 8 << 20;
        for cap in [64 << 10, 300 << 10, 600 << 10, 2 << 20] {
            parcels.recycle(Vec::with_capacity(cap + 1), room);
        }
        let mut buf = Vec::with_capacity(512);
        buf.extend_from_slice(b"header");
        parcels.reserve(&mut buf, 280 << 10, room);
        assert_eq!(buf.capacity(), (300 << 10) + 1);
        assert_eq!(buf, b"header");
        let mut big = b"h".to_vec();
        parcels.reserve(&mut big, 3 << 20, room);
        assert!(
            big.capacity() >= (3 << 20) + (3 << 20) / SLACK,
            "grown, with room"
        );
        assert!(!lock(&parcels.inner)
            .spare
            .iter()
            .any(|b| b.capacity() == (2 << 20) + 1));
        let mut short = Vec::new();
        parcels.reserve(&mut short, 100, room);
        assert!(short.capacity() >= 100 && short.capacity() < PARCEL_MIN_BYTES);
        for _ in 0..40 {
            parcels.recycle(Vec::with_capacity(1 << 20), room);
        }
        let inner = lock(&parcels.inner);
        assert!(inner.spare.len() <= POOL_BUFFERS && inner.spare_bytes <= room);
        let held: usize = inner.spare.iter().map(Vec::capacity).sum();
        assert_eq!(held, inner.spare_bytes);
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
