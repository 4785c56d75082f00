//! The public handle on the writer thread ([`RolloutGuard`], [`FinishStats`]), the message
//! framing shared with the writer thread, and the byte budget that bounds memory.
//!
//! Invariant: every message handed to `NonBlocking` was first admitted by the [`Budget`], and
//! the writer thread releases exactly that many bytes once the message is written. So the
//! bytes in flight never exceed `max_buffered_bytes` (except one oversized message admitted
//! alone), and the message count never exceeds the channel's capacity, which is why a lossy
//! sender never blocks inside the channel.

pub(crate) mod bundle_dir;
pub(crate) mod redact;
pub(crate) mod worker;

use std::collections::HashMap;
use std::fmt;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tracing_appender::non_blocking::{NonBlocking, WorkerGuard};

/// Locks `m`, recovering the data of a poisoned mutex: every critical section in this crate
/// leaves its data consistent, and the host must never be panicked by a poisoned lock.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Wall clock in unix milliseconds (0 if the clock is before 1970).
pub(crate) fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

// ---- message framing ----
//
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

    fn set_dropped(buf: &mut [u8], records: u64, bytes: u64) {
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

// ---- the byte budget ----

const BYTES_BITS: u32 = 44;
const BYTES_MASK: u64 = (1 << BYTES_BITS) - 1;

/// Bytes and messages in flight between the instrumented threads and the writer thread,
/// packed in one atomic (messages in the high 20 bits) so admission is a single CAS. The
/// mutex and condvar are only the slow path of a blocked sender.
pub(crate) struct Budget {
    max_bytes: u64,
    max_msgs: u64,
    in_flight: AtomicU64,
    waiters: AtomicU64,
    closed: AtomicBool,
    lock: Mutex<()>,
    freed: Condvar,
}

impl fmt::Debug for Budget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cur = self.in_flight.load(Ordering::Relaxed);
        f.debug_struct("Budget")
            .field("max_bytes", &self.max_bytes)
            .field("max_msgs", &self.max_msgs)
            .field("bytes_in_flight", &(cur & BYTES_MASK))
            .field("msgs_in_flight", &(cur >> BYTES_BITS))
            .finish()
    }
}

impl Budget {
    pub(crate) fn new(max_bytes: usize, max_msgs: usize) -> Budget {
        Budget {
            max_bytes: (max_bytes as u64).clamp(1, BYTES_MASK / 2),
            max_msgs: (max_msgs as u64).clamp(1, (1 << (64 - BYTES_BITS)) - 1),
            in_flight: AtomicU64::new(0),
            waiters: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            lock: Mutex::new(()),
            freed: Condvar::new(),
        }
    }

    /// Admits `n` bytes if they fit, or if nothing is in flight (so one message larger than
    /// the whole budget still gets through, alone).
    pub(crate) fn try_acquire(&self, n: usize) -> bool {
        let n = (n as u64).min(self.max_bytes);
        let mut cur = self.in_flight.load(Ordering::SeqCst);
        loop {
            let (bytes, msgs) = (cur & BYTES_MASK, cur >> BYTES_BITS);
            if msgs >= self.max_msgs || (bytes != 0 && bytes + n > self.max_bytes) {
                return false;
            }
            let new = cur + (1 << BYTES_BITS) + n;
            match self
                .in_flight
                .compare_exchange_weak(cur, new, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => return true,
                Err(actual) => cur = actual,
            }
        }
    }

    /// Waits until `n` bytes fit. Returns false if the budget was closed (the guard finished)
    /// or `deadline` passed first.
    pub(crate) fn acquire(&self, n: usize, deadline: Option<Instant>) -> bool {
        if self.try_acquire(n) {
            return true;
        }
        // Registering as a waiter before retrying under the lock pairs with `release`, which
        // frees before it reads `waiters`: either we see the freed bytes or it sees us.
        self.waiters.fetch_add(1, Ordering::SeqCst);
        let mut guard = lock(&self.lock);
        let admitted = loop {
            if self.closed.load(Ordering::SeqCst) {
                break false;
            }
            if self.try_acquire(n) {
                break true;
            }
            guard = match deadline {
                None => self
                    .freed
                    .wait(guard)
                    .unwrap_or_else(|poisoned| poisoned.into_inner()),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        break false;
                    }
                    self.freed
                        .wait_timeout(guard, deadline - now)
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .0
                }
            };
        };
        drop(guard);
        self.waiters.fetch_sub(1, Ordering::SeqCst);
        admitted
    }

    /// Returns `n` bytes (one message) admitted earlier.
    pub(crate) fn release(&self, n: usize) {
        let n = (n as u64).min(self.max_bytes);
        self.in_flight
            .fetch_sub((1 << BYTES_BITS) + n, Ordering::SeqCst);
        if self.waiters.load(Ordering::SeqCst) > 0 {
            let _guard = lock(&self.lock);
            self.freed.notify_all();
        }
    }

    /// Makes every current and future blocking `acquire` fail: after finishing, nothing is
    /// written any more, so nobody may wait for room.
    fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        let _guard = lock(&self.lock);
        self.freed.notify_all();
    }
}

// ---- per-bundle state shared by the layer and the writer thread ----

/// One bundle as the instrumented threads see it.
#[derive(Debug)]
pub(crate) struct BundleHandle {
    pub(crate) id: u64,
    start: Instant,
    dropped_records: AtomicU64,
    dropped_bytes: AtomicU64,
}

impl BundleHandle {
    /// Nanoseconds since the bundle started.
    pub(crate) fn ns(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn take_dropped(&self) -> (u64, u64) {
        let records = self.dropped_records.swap(0, Ordering::SeqCst);
        if records == 0 {
            return (0, 0);
        }
        (records, self.dropped_bytes.swap(0, Ordering::SeqCst))
    }
}

// ---- parcels: large messages handed over by ownership ----

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
    fn park(&self, msg: Vec<u8>) -> (u64, Vec<u8>) {
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

/// State shared by the layer, the guard and the writer thread.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) budget: Budget,
    /// Set by `finish`: callbacks return at once after it.
    pub(crate) finished: AtomicBool,
    pub(crate) records: AtomicU64,
    pub(crate) bytes: AtomicU64,
    pub(crate) dropped_records: AtomicU64,
    pub(crate) io_errors: AtomicU64,
    /// Whether the first I/O error was printed already.
    pub(crate) io_error_reported: AtomicBool,
    pub(crate) bundle_dirs: Mutex<Vec<PathBuf>>,
    /// Bundles opened and not yet closed, so the writer thread can collect drops that no
    /// later message carried.
    pub(crate) open_bundles: Mutex<HashMap<u64, Arc<BundleHandle>>>,
    /// Large messages on their way to the writer thread.
    pub(crate) parcels: Parcels,
    barrier_done: Mutex<bool>,
    barrier_cv: Condvar,
}

impl Shared {
    pub(crate) fn new(budget: Budget) -> Shared {
        Shared {
            budget,
            finished: AtomicBool::new(false),
            records: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            dropped_records: AtomicU64::new(0),
            io_errors: AtomicU64::new(0),
            io_error_reported: AtomicBool::new(false),
            bundle_dirs: Mutex::new(Vec::new()),
            open_bundles: Mutex::new(HashMap::new()),
            parcels: Parcels::default(),
            barrier_done: Mutex::new(false),
            barrier_cv: Condvar::new(),
        }
    }

    /// Called by the writer thread once the barrier is handled.
    pub(crate) fn signal_barrier(&self) {
        *lock(&self.barrier_done) = true;
        self.barrier_cv.notify_all();
    }

    fn wait_barrier(&self, deadline: Option<Instant>) -> bool {
        let mut done = lock(&self.barrier_done);
        while !*done {
            done = match deadline {
                None => self
                    .barrier_cv
                    .wait(done)
                    .unwrap_or_else(|poisoned| poisoned.into_inner()),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return false;
                    }
                    self.barrier_cv
                        .wait_timeout(done, deadline - now)
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .0
                }
            };
        }
        true
    }

    fn stats(&self) -> FinishStats {
        FinishStats {
            records: self.records.load(Ordering::SeqCst),
            bytes: self.bytes.load(Ordering::SeqCst),
            dropped_records: self.dropped_records.load(Ordering::SeqCst),
            io_errors: self.io_errors.load(Ordering::SeqCst),
            bundles: lock(&self.bundle_dirs).clone(),
        }
    }
}

/// The layer's side of the writer: frames messages, applies the budget, sends.
#[derive(Debug)]
pub(crate) struct Writer {
    nb: NonBlocking,
    shared: Arc<Shared>,
    lossy: bool,
    next_bundle: AtomicU64,
}

impl Writer {
    pub(crate) fn new(nb: NonBlocking, shared: Arc<Shared>, lossy: bool) -> Writer {
        Writer {
            nb,
            shared,
            lossy,
            next_bundle: AtomicU64::new(1),
        }
    }

    pub(crate) fn is_finished(&self) -> bool {
        self.shared.finished.load(Ordering::Relaxed)
    }

    /// Mints a bundle and registers it as open. The caller sends its [`Op::Open`] next.
    pub(crate) fn new_bundle(&self) -> Arc<BundleHandle> {
        let handle = Arc::new(BundleHandle {
            id: self.next_bundle.fetch_add(1, Ordering::Relaxed),
            start: Instant::now(),
            dropped_records: AtomicU64::new(0),
            dropped_bytes: AtomicU64::new(0),
        });
        lock(&self.shared.open_bundles).insert(handle.id, Arc::clone(&handle));
        handle
    }

    /// Sends an [`Op::Record`] message. In lossy mode a record that does not fit the budget
    /// is dropped and counted on its bundle; the next admitted message of that bundle carries
    /// the count, so the `dropped` record lands where the loss happened.
    pub(crate) fn send_record(&self, msg: &mut Vec<u8>, bundle: &BundleHandle) {
        let admitted = if self.lossy {
            self.shared.budget.try_acquire(admitted_bytes(msg))
        } else {
            self.shared.budget.acquire(admitted_bytes(msg), None)
        };
        if !admitted {
            if self.lossy && !self.is_finished() {
                bundle.dropped_bytes.fetch_add(
                    (msg.len().saturating_sub(HEADER_LEN)) as u64,
                    Ordering::SeqCst,
                );
                bundle.dropped_records.fetch_add(1, Ordering::SeqCst);
            }
            return;
        }
        self.send_admitted(msg, bundle);
    }

    /// Sends a control message ([`Op::Open`], [`Op::Close`]): never dropped, waits for room.
    pub(crate) fn send_control(&self, msg: &mut Vec<u8>, bundle: &BundleHandle) {
        if self.shared.budget.acquire(admitted_bytes(msg), None) {
            self.send_admitted(msg, bundle);
        }
    }

    /// Sends an admitted message. A large one is parked and replaced in `msg` by a spare
    /// buffer (its contents are gone either way: callers rebuild `msg` for every message).
    fn send_admitted(&self, msg: &mut Vec<u8>, bundle: &BundleHandle) {
        let (records, bytes) = bundle.take_dropped();
        if records > 0 {
            Header::set_dropped(msg, records, bytes);
        }
        if msg.len() < PARCEL_MIN_BYTES {
            if self.nb.clone().write_all(msg).is_err() {
                // The writer thread is gone (after finishing): nobody else will release these.
                self.shared.budget.release(admitted_bytes(msg));
            }
            return;
        }
        let (ticket, spare) = self.shared.parcels.park(std::mem::take(msg));
        *msg = spare;
        let mut ticket_msg = [0u8; HEADER_LEN];
        ticket_msg[0] = Op::Parcel as u8;
        ticket_msg[1..9].copy_from_slice(&ticket.to_le_bytes());
        if self.nb.clone().write_all(&ticket_msg).is_err() {
            if let Some(parked) = self.shared.parcels.take(ticket) {
                self.shared.budget.release(admitted_bytes(&parked));
            }
        }
    }
}

// ---- the public guard ----

/// Writer statistics returned by [`RolloutGuard::finish`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FinishStats {
    /// Records written to `trace.jsonl` files, over all bundles (`bundle_started`,
    /// `dropped` and `bundle_ended` included).
    pub records: u64,
    /// Bytes written to `trace.jsonl` files, over all bundles.
    pub bytes: u64,
    /// Records that were not written because the budget was full in lossy mode, or because
    /// they arrived for a bundle that had already ended.
    pub dropped_records: u64,
    /// Failed file operations (creating a bundle, writing or flushing a record, writing a
    /// manifest). The first one is also printed to stderr.
    pub io_errors: u64,
    /// Every bundle directory created, in creation order.
    pub bundles: Vec<PathBuf>,
}

/// Why [`RolloutGuard::finish`] could not confirm that everything is on disk.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FinishError {
    /// The writer did not drain its backlog within the builder's `finish_timeout`. Records
    /// still queued may be written later or lost at process exit.
    #[error("timed out after {waited:?} waiting for the rollout writer to drain its backlog")]
    Timeout {
        /// How long `finish` waited.
        waited: Duration,
        /// What had been written when `finish` gave up.
        stats: FinishStats,
    },
    /// The writer thread is no longer running, so nothing queued can be confirmed written.
    #[error("the rollout writer thread is gone; queued records may be lost")]
    WriterGone {
        /// What had been written.
        stats: FinishStats,
    },
}

/// Keeps the rollout writer running; finishing it writes everything out.
///
/// Returned next to the layer by [`RolloutLayerBuilder::build`](crate::RolloutLayerBuilder::build)
/// and [`RolloutLayer::from_env`](crate::RolloutLayer::from_env). Keep it alive for as long
/// as the program records (typically a local in `main`), then call [`finish`](Self::finish)
/// or drop it. Either way it waits until every record queued before is written and every
/// bundle's `manifest.json` is final (bundles whose root span is still open are marked
/// `incomplete`), bounded only by the builder's `finish_timeout`. Unlike
/// `tracing_appender::non_blocking::WorkerGuard`, whose drop gives up after about a second,
/// it does not abandon a large backlog.
///
/// **`let _ = guard;` drops the guard at once** and so stops recording immediately; bind it
/// to a named variable (`let _guard = …`) instead. Records emitted after the guard finished
/// are ignored, and `std::process::exit` or an aborting panic skips `Drop`: call `finish`
/// first.
#[must_use = "dropping the guard stops recording at once: keep it alive, then call `finish()`"]
pub struct RolloutGuard {
    inner: Option<GuardInner>,
}

struct GuardInner {
    nb: NonBlocking,
    shared: Arc<Shared>,
    worker: Option<WorkerGuard>,
    timeout: Duration,
}

impl fmt::Debug for RolloutGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RolloutGuard");
        match &self.inner {
            Some(inner) => d
                .field("enabled", &true)
                .field("finish_timeout", &inner.timeout)
                .field("budget", &inner.shared.budget),
            None => d.field("enabled", &false),
        };
        d.finish()
    }
}

impl RolloutGuard {
    pub(crate) fn new(
        nb: NonBlocking,
        shared: Arc<Shared>,
        worker: WorkerGuard,
        timeout: Duration,
    ) -> RolloutGuard {
        RolloutGuard {
            inner: Some(GuardInner {
                nb,
                shared,
                worker: Some(worker),
                timeout,
            }),
        }
    }

    /// The guard of a disabled layer: finishing it does nothing.
    pub(crate) fn disabled() -> RolloutGuard {
        RolloutGuard { inner: None }
    }

    /// Stops recording, waits until every record queued so far is written and every
    /// manifest is final, and returns what the writer did.
    ///
    /// Callbacks that run after this started are ignored. Bundles whose root span has not
    /// closed get `status: "incomplete"` in their manifest (their `trace.jsonl` has no
    /// `bundle_ended`). I/O errors do not fail `finish`: they are counted in
    /// [`FinishStats::io_errors`]. A disabled layer's guard returns empty statistics.
    ///
    /// # Errors
    ///
    /// [`FinishError::Timeout`] when the backlog was not written within `finish_timeout`;
    /// [`FinishError::WriterGone`] when the writer thread no longer runs.
    ///
    /// # Examples
    ///
    /// ```
    /// use tracing_subscriber::prelude::*;
    ///
    /// let root = tempfile::tempdir()?;
    /// let (layer, guard) = tracing_rollout::RolloutLayer::builder()
    ///     .root_dir(root.path())
    ///     .build()?;
    /// tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
    ///     let _rollout = tracing::info_span!("rollout", rollout_id = "demo").entered();
    /// });
    /// let stats = guard.finish()?;
    /// assert_eq!(stats.bundles, vec![root.path().canonicalize()?.join("demo")]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn finish(mut self) -> Result<FinishStats, FinishError> {
        match self.inner.take() {
            Some(inner) => inner.finish(),
            None => Ok(FinishStats::default()),
        }
    }
}

impl GuardInner {
    fn finish(mut self) -> Result<FinishStats, FinishError> {
        let started = Instant::now();
        // `Duration::MAX` overflows the deadline: wait for as long as it takes.
        let deadline = started.checked_add(self.timeout);
        self.shared.finished.store(true, Ordering::SeqCst);

        let mut msg = Vec::with_capacity(HEADER_LEN);
        Header::begin(&mut msg, Op::Barrier, 0, unix_ms(), 0);
        let outcome = if !self.shared.budget.acquire(msg.len(), deadline) {
            Err(false)
        } else if self.nb.write_all(&msg).is_err() {
            self.shared.budget.release(msg.len());
            Err(true)
        } else if !self.shared.wait_barrier(deadline) {
            Err(false)
        } else {
            Ok(())
        };

        // Nothing is written after the barrier: wake senders still waiting for room.
        self.shared.budget.close();
        // After a completed barrier the channel is empty, so this returns at once; after a
        // timeout it waits at most ~1.1 s (tracing-appender's own bound).
        drop(self.worker.take());

        let stats = self.shared.stats();
        match outcome {
            Ok(()) => Ok(stats),
            Err(true) => Err(FinishError::WriterGone { stats }),
            Err(false) => Err(FinishError::Timeout {
                waited: started.elapsed(),
                stats,
            }),
        }
    }
}

impl Drop for RolloutGuard {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.take() {
            // Errors were counted or are unreportable here; `finish` exists to see them.
            let _ = inner.finish();
        }
    }
}
