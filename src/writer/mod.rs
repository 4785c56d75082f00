//! The writer: what the instrumented threads share with the writer thread ([`Shared`]) and
//! the sending side ([`Writer`], which frames every message it sends: the layer hands it
//! record bodies, rollout ids and statuses, never a framed control message); the thread
//! itself is `worker`, the message framing `message`, the memory bound `budget`, the check
//! of payload text left to the writer thread `check`, the public handle `guard`.
//!
//! Invariant: every message is queued in [`Parcels`] in the order its callback sent it,
//! after the [`Budget`] admitted its bytes, and the writer thread — tracing-appender's
//! `non_blocking` worker, woken through its channel — is the only one that takes messages
//! from the queue and the only one that touches bundle files.

pub(crate) mod appender;
mod budget;
pub(crate) mod bundle_dir;
pub(crate) mod check;
mod dedup;
mod guard;
mod message;
pub(crate) mod redact;
pub(crate) mod worker;

pub(crate) use budget::Budget;
pub use guard::{FinishError, FinishStats, RolloutGuard};
pub(crate) use message::{
    admitted_bytes, Header, Message, Op, Parcels, Queued, HEADER_LEN, PARCEL_MIN_BYTES,
};

use std::collections::HashMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use tracing_appender::non_blocking::NonBlocking;

/// Locks `m`, recovering the data of a poisoned mutex: every critical section in this crate
/// leaves its data consistent, and the host must never be panicked by a poisoned lock.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Waits on `cv` with `guard` held, until `deadline` if there is one: `Ok` with the guard
/// once woken (callers loop on their condition: wake-ups may be spurious), `Err` with it,
/// without waiting, when the deadline has passed. Recovers from poisoning as [`lock`] does.
pub(crate) fn wait_until<'a, T>(
    cv: &Condvar,
    guard: MutexGuard<'a, T>,
    deadline: Option<Instant>,
) -> Result<MutexGuard<'a, T>, MutexGuard<'a, T>> {
    let Some(deadline) = deadline else {
        return Ok(cv
            .wait(guard)
            .unwrap_or_else(|poisoned| poisoned.into_inner()));
    };
    let now = Instant::now();
    if now >= deadline {
        return Err(guard);
    }
    Ok(cv
        .wait_timeout(guard, deadline - now)
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .0)
}

/// Wall clock in unix milliseconds (0 if the clock is before 1970).
pub(crate) fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Things that are reported once per process on stderr (and in [`FinishStats::warnings`]),
/// then only counted.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Warning {
    /// A thread span's bare `parent_thread_id` was live in several rollouts.
    AmbiguousThread,
    /// Records arrived for a bundle that had already ended.
    LateRecords,
    /// A `follows_from` could not be recorded.
    UnlinkedFollows,
    /// Rollout callsites exist but no rollout was ever recorded (a global filter).
    NothingRecorded,
    /// A value could not be scanned for redaction and was replaced.
    RedactionFailedClosed,
}

// ---- per-bundle state shared by the layer and the writer thread ----

/// One bundle as the instrumented threads see it.
#[derive(Debug)]
pub(crate) struct BundleHandle {
    pub(crate) id: u64,
    start: Instant,
    /// Wall clock at `start`: a record's `t` is this plus its monotonic offset, so one clock
    /// read per record serves both, and `t` never runs backwards within a bundle.
    start_unix_ms: u64,
    dropped_records: AtomicU64,
    dropped_bytes: AtomicU64,
}

impl BundleHandle {
    /// Clears `buf` and starts a message of this bundle stamped now (see [`Header::begin`]).
    pub(crate) fn begin(&self, buf: &mut Vec<u8>, op: Op) {
        let ns = u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let t = self.start_unix_ms.saturating_add(ns / 1_000_000);
        Header::begin(buf, op, self.id, t, ns);
    }

    fn take_dropped(&self) -> (u64, u64) {
        let records = self.dropped_records.swap(0, Ordering::SeqCst);
        if records == 0 {
            return (0, 0);
        }
        (records, self.dropped_bytes.swap(0, Ordering::SeqCst))
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
    /// Thread spans whose bare `parent_thread_id` was live in several rollouts.
    pub(crate) ambiguous_threads: AtomicU64,
    /// Records that arrived for a bundle that had already ended (also in `dropped_records`).
    pub(crate) late_records: AtomicU64,
    /// Values (or whole records) that redaction could not scan and replaced.
    pub(crate) redaction_failures: AtomicU64,
    /// `follows_from` calls that could not be recorded (see [`FinishStats::unlinked_follows`]).
    pub(crate) unlinked_follows: AtomicU64,
    /// Rollout and thread span callsites registered with the layer (a filter may have
    /// disabled them all: see [`Shared::warn_if_nothing_recorded`]).
    pub(crate) rollout_callsites: AtomicU64,
    /// Bundles opened so far.
    pub(crate) bundles_opened: AtomicU64,
    /// The layer was installed in a subscriber that disables `info` rollout spans for every
    /// layer (see [`Shared::warn_if_nothing_recorded`]).
    pub(crate) rollouts_disabled: AtomicBool,
    /// Which [`Warning`]s were reported already (one bit each).
    warned: std::sync::atomic::AtomicU32,
    /// Every warning printed, for [`FinishStats::warnings`].
    warnings: Mutex<Vec<String>>,
    pub(crate) bundle_dirs: Mutex<Vec<PathBuf>>,
    /// Bundles opened and not yet closed, so the writer thread can collect drops that no
    /// later message carried.
    pub(crate) open_bundles: Mutex<HashMap<u64, Arc<BundleHandle>>>,
    /// Messages on their way to the writer thread.
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
            ambiguous_threads: AtomicU64::new(0),
            late_records: AtomicU64::new(0),
            unlinked_follows: AtomicU64::new(0),
            redaction_failures: AtomicU64::new(0),
            rollout_callsites: AtomicU64::new(0),
            bundles_opened: AtomicU64::new(0),
            rollouts_disabled: AtomicBool::new(false),
            warned: std::sync::atomic::AtomicU32::new(0),
            warnings: Mutex::new(Vec::new()),
            bundle_dirs: Mutex::new(Vec::new()),
            open_bundles: Mutex::new(HashMap::new()),
            parcels: Parcels::default(),
            barrier_done: Mutex::new(false),
            barrier_cv: Condvar::new(),
        }
    }

    /// Prints `message` to stderr and keeps it for [`FinishStats::warnings`], the first time
    /// `kind` happens (later ones are only counted where they are counted).
    pub(crate) fn warn_once(&self, kind: Warning, message: impl FnOnce() -> String) {
        let bit = 1u32 << kind as u32;
        if self.warned.fetch_or(bit, Ordering::Relaxed) & bit != 0 {
            return;
        }
        let message = message();
        eprintln!("tracing-rollout: {message}");
        lock(&self.warnings).push(message);
    }

    /// At finish: when not one rollout was recorded although the subscriber the layer was
    /// installed in disables `info` rollout spans for every layer, or rollout span callsites
    /// reached the layer, say so: a new user would otherwise find an empty traces folder
    /// without a word.
    pub(crate) fn warn_if_nothing_recorded(&self) {
        if self.bundles_opened.load(Ordering::SeqCst) > 0 {
            return;
        }
        let callsites = self.rollout_callsites.load(Ordering::SeqCst);
        let disabled = self.rollouts_disabled.load(Ordering::SeqCst);
        if callsites == 0 && !disabled {
            return;
        }
        self.warn_once(Warning::NothingRecorded, || {
            let why = if disabled {
                "the subscriber disables info-level `rollout` spans for every layer: a filter \
                 applied to the whole subscriber (a global `LevelFilter` or `EnvFilter`)"
                    .to_owned()
            } else {
                format!(
                    "{callsites} rollout span callsite(s) were registered but none was recorded"
                )
            };
            format!(
                "no rollout was recorded: {why}; filter the other layers instead, e.g. \
                 `fmt::layer().with_filter(EnvFilter::from_default_env())`, and add the \
                 rollout layer unfiltered"
            )
        });
    }

    /// Returns a handled message's (or a batch's) buffer to the spares.
    pub(crate) fn recycle(&self, buf: Vec<u8>) {
        self.parcels.recycle(buf, self.budget.room());
    }

    fn reserve(&self, buf: &mut Vec<u8>, additional: usize) {
        self.parcels.reserve(buf, additional, self.budget.room());
    }

    /// Called by the writer thread once the barrier is handled.
    pub(crate) fn signal_barrier(&self) {
        *lock(&self.barrier_done) = true;
        self.barrier_cv.notify_all();
    }

    fn wait_barrier(&self, deadline: Option<Instant>) -> bool {
        let mut done = lock(&self.barrier_done);
        while !*done {
            match wait_until(&self.barrier_cv, done, deadline) {
                Ok(woken) => done = woken,
                Err(_) => return false,
            }
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
            ambiguous_threads: self.ambiguous_threads.load(Ordering::SeqCst),
            late_records: self.late_records.load(Ordering::SeqCst),
            unlinked_follows: self.unlinked_follows.load(Ordering::SeqCst),
            redaction_failures: self.redaction_failures.load(Ordering::SeqCst),
            warnings: lock(&self.warnings).clone(),
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

    /// Makes room for `additional` more bytes in `buf`, a message being built: a long one
    /// continues in a spare buffer its size (see `Parcels::reserve`).
    pub(crate) fn reserve(&self, buf: &mut Vec<u8>, additional: usize) {
        self.shared.reserve(buf, additional);
    }

    pub(crate) fn is_finished(&self) -> bool {
        self.shared.finished.load(Ordering::Relaxed)
    }

    /// The layer was installed in a subscriber that disables info-level rollout spans.
    pub(crate) fn rollouts_disabled(&self) {
        self.shared.rollouts_disabled.store(true, Ordering::SeqCst);
    }

    /// Counts a rollout or thread span callsite (see [`Shared::warn_if_nothing_recorded`]).
    pub(crate) fn rollout_callsite(&self) {
        self.shared
            .rollout_callsites
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Counts (and reports once) a `follows_from` between rollout spans that is not recorded.
    pub(crate) fn unlinked_follows(&self, why: &'static str) {
        self.shared.unlinked_follows.fetch_add(1, Ordering::Relaxed);
        self.shared.warn_once(Warning::UnlinkedFollows, || {
            format!(
                "a follows_from between rollout spans was not recorded: {why} (further cases \
                 are counted in FinishStats::unlinked_follows)"
            )
        });
    }

    /// Counts (and reports once) a thread span whose bare `parent_thread_id` named a thread
    /// live in `live_in` rollouts: it is recorded as a rollout of its own.
    pub(crate) fn ambiguous_thread(&self, thread_id: &str, parent: &str, live_in: usize) {
        self.shared
            .ambiguous_threads
            .fetch_add(1, Ordering::Relaxed);
        self.shared.warn_once(Warning::AmbiguousThread, || {
            format!(
                "thread {thread_id:?} names parent thread {parent:?}, which is live in \
                 {live_in} rollouts, and no span ties it to one: recorded as a rollout of its \
                 own (create it inside the parent's span, or with child_thread_span; further \
                 cases are counted in FinishStats::ambiguous_threads)"
            )
        });
    }

    /// Mints a bundle, registers it as open and sends its [`Op::Open`] (never dropped: waits
    /// for room). `rollout_id` names its directory; `trace_id` goes to its manifest.
    pub(crate) fn open_bundle(
        &self,
        rollout_id: &str,
        trace_id: Option<&str>,
    ) -> Arc<BundleHandle> {
        let handle = Arc::new(BundleHandle {
            id: self.next_bundle.fetch_add(1, Ordering::Relaxed),
            start: Instant::now(),
            start_unix_ms: unix_ms(),
            dropped_records: AtomicU64::new(0),
            dropped_bytes: AtomicU64::new(0),
        });
        lock(&self.shared.open_bundles).insert(handle.id, Arc::clone(&handle));
        self.shared.bundles_opened.fetch_add(1, Ordering::Relaxed);
        let mut msg = Vec::with_capacity(HEADER_LEN + 64 + rollout_id.len());
        handle.begin(&mut msg, Op::Open);
        message::encode_open(&mut msg, rollout_id, trace_id);
        self.send_control(&mut msg, &handle);
        handle
    }

    /// Sends the [`Op::Close`] that ends `bundle` with its final `status` (never dropped:
    /// waits for room).
    pub(crate) fn close_bundle(&self, bundle: &BundleHandle, status: &str) {
        let mut msg = Vec::with_capacity(HEADER_LEN + status.len());
        bundle.begin(&mut msg, Op::Close);
        msg.extend_from_slice(status.as_bytes());
        self.send_control(&mut msg, bundle);
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
    fn send_control(&self, msg: &mut Vec<u8>, bundle: &BundleHandle) {
        if self.shared.budget.acquire(admitted_bytes(msg), None) {
            self.send_admitted(msg, bundle);
        }
    }

    /// Queues an admitted message (see [`post`]).
    fn send_admitted(&self, msg: &mut Vec<u8>, bundle: &BundleHandle) {
        let (records, bytes) = bundle.take_dropped();
        if records > 0 {
            Header::set_dropped(msg, records, bytes);
        }
        post(&self.nb, &self.shared, msg);
    }
}

/// What the channel carries: a wake-up; the messages wait in [`Parcels`].
const WAKE: &[u8] = b"w";

/// Queues an admitted message and, if no wake-up is pending, wakes the writer thread. A long
/// message moves into the queue and `msg` becomes a spare buffer (its contents are gone
/// either way: callers rebuild `msg` for every message). Returns false if the writer thread
/// is gone, after releasing everything still queued (nobody else will).
pub(crate) fn post(nb: &NonBlocking, shared: &Shared, msg: &mut Vec<u8>) -> bool {
    let wake = if msg.len() < PARCEL_MIN_BYTES {
        shared.parcels.push_short(msg)
    } else {
        let (spare, wake) = shared.parcels.push_whole(std::mem::take(msg));
        *msg = spare;
        wake
    };
    if wake && nb.clone().write_all(WAKE).is_err() {
        let mut queued = Queued::default();
        shared.parcels.drain(&mut queued);
        queued.drain_each(|msg| shared.budget.release(msg.admitted()), drop);
        return false;
    }
    true
}
