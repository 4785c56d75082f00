//! The writer thread's sink: routes framed messages to bundles, assigns `seq`, writes
//! `trace.jsonl` and `manifest.json`.
//!
//! Invariant: this is the only code that touches bundle files, and it runs on the one
//! `tracing-rollout` worker thread, so `seq` is assigned in file order and needs no lock.
//! It never returns an error to tracing-appender (whose worker would swallow it): failures
//! are counted in the shared statistics and the first is printed to stderr.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::bundle_dir::{self, MANIFEST_FILE, TRACE_FILE};
use super::check::check_text_body;
use super::dedup::{Buf, Dedup};
use super::message::OpenBody;
use super::redact::{self, Redact, Redacted};
use super::{lock, unix_ms, Header, Message, Op, Queued, Shared, Warning, HEADER_LEN};
use crate::format::{
    self, Manifest, PayloadStore, FORMAT, FORMAT_VERSION, FORMAT_VERSION_WHOLE_BODIES,
};

/// Largest buffer of an open `trace.jsonl`; payloads larger than its buffer bypass it. Large
/// enough that the kernel's per-`write` cost is paid rarely (measured with `dd`: writing
/// 66 MiB in 32 KiB writes took ~1.3× as long as in 128 KiB writes; larger buffers gained
/// nothing more). The buffers are taken out of `max_buffered_bytes` (see [`FileLimits`]).
pub(crate) const MAX_FILE_BUFFER: usize = 128 * 1024;
/// Smallest buffer of an open `trace.jsonl`.
pub(crate) const MIN_FILE_BUFFER: usize = 4 * 1024;

/// How many bundle logs the writer keeps open at once, and how much their buffers may hold.
///
/// Invariant: at most `max_open` `trace.jsonl` files are open (and buffered) at any time, and
/// their buffers' capacities add up to at most `buffer_bytes` (beyond one 4 KiB buffer when
/// the budget is smaller than that); a file is opened with a buffer of `buffer_bytes / n`
/// for `n` open files (4–128 KiB), so one rollout gets the largest buffer and many share.
/// A bundle whose file was closed to make room is reopened in append mode when its next
/// record arrives, after its buffer was flushed, so the file is the same as if it had stayed
/// open.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FileLimits {
    pub(crate) max_open: usize,
    pub(crate) buffer_bytes: usize,
}

impl FileLimits {
    /// Splits `max_buffered_bytes` between the queue (the byte budget, returned) and the file
    /// buffers, which get a quarter. A budget too small for `max_open` buffers of 4 KiB keeps
    /// fewer files open (at least one).
    pub(crate) fn new(max_open: usize, max_buffered_bytes: usize) -> (FileLimits, usize) {
        let quarter = max_buffered_bytes / 4;
        let max_open = max_open.clamp(1, (quarter / MIN_FILE_BUFFER).max(1));
        (
            FileLimits {
                max_open,
                buffer_bytes: quarter,
            },
            max_buffered_bytes.saturating_sub(quarter).max(1),
        )
    }

    /// The buffer of a file opened while `open` others are.
    fn buffer_for(self, open: usize) -> usize {
        (self.buffer_bytes / (open + 1)).clamp(MIN_FILE_BUFFER, MAX_FILE_BUFFER)
    }
}

/// EMFILE and ENFILE (the same numbers on Linux and macOS): out of file descriptors.
fn out_of_descriptors(e: &io::Error) -> bool {
    cfg!(unix) && matches!(e.raw_os_error(), Some(23 | 24))
}

/// The open bundle logs, least recently written first.
#[derive(Debug)]
struct OpenFiles {
    limits: FileLimits,
    /// Tick of last use → bundle id, for the bundles whose file is open.
    lru: BTreeMap<u64, u64>,
    tick: u64,
    /// Capacity of the open files' buffers, in all.
    buffered: usize,
}

impl OpenFiles {
    fn next_tick(&mut self) -> u64 {
        self.tick += 1;
        self.tick
    }
}

/// The `io::Write` handed to `tracing_appender::non_blocking`.
///
/// The worker calls `write` once per channel message and `flush` once per batch (pinned in
/// `writer::appender`). The channel carries only wake-ups (see `writer::post`):
/// [`Sink::write`] takes every message queued in `Parcels` and handles them in order (it
/// always reports the full length written, so one `write` here is one wake-up). `flush`
/// pushes every open bundle's buffer to the kernel.
pub(crate) struct Sink {
    out: Out,
    root: PathBuf,
    /// By the ids the layer mints (so no input chooses them: a fast hasher).
    bundles: HashMap<u64, OpenBundle, rustc_hash::FxBuildHasher>,
    /// A copy of a short message whose payload body must be checked before it is written.
    scratch: Vec<u8>,
    /// Set by the barrier: everything after it is ignored.
    finished: bool,
    /// Applied to every record body before it is written (`None`: bodies are written as
    /// the layer encoded them).
    redact: Option<Redact>,
    /// Payload dedup (format v2): each bundle gets a payload store; `false` writes every
    /// body whole (format v1).
    dedup: bool,
    /// The dedup path's reused buffers.
    payloads: Dedup,
    /// Messages handled since the last flush: the size of the batch the flush ends.
    batch: usize,
    /// The queue taken from `Parcels` on a wake-up (kept to reuse its allocation).
    queued: Queued,
    /// Which bundle logs are open (at most `limits.max_open`).
    files: OpenFiles,
}

/// A batch smaller than this makes the writer linger before it next waits for a message.
const SMALL_BATCH: usize = 64;
/// How long the writer lingers after a small batch. While it lingers it is not parked on
/// the channel, so the instrumented thread that sends the next wake-up makes no futex
/// syscall, and the queue it drains next is longer. Bounded and off the instrumented threads.
const LINGER: std::time::Duration = std::time::Duration::from_micros(500);

/// Appends lines to bundles and counts what happened (kept apart from the bundle map so a
/// bundle can be borrowed from the map while a line is appended to it).
struct Out {
    shared: Arc<Shared>,
    envelope: Vec<u8>,
    /// Run with the bundle's directory once its manifest is final (see `BundleEndHook`).
    on_end: Option<BundleEndHook>,
}

/// A program's callback for a finished bundle (`RolloutLayerBuilder::on_bundle_end`).
#[derive(Clone)]
pub(crate) struct BundleEndHook(pub(crate) Arc<dyn Fn(&Path) + Send + Sync>);

impl std::fmt::Debug for BundleEndHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BundleEndHook(..)")
    }
}

struct OpenBundle {
    dir: PathBuf,
    /// Whether `dir` was created for this bundle (false: creating it failed, so nothing may
    /// be written there, not even a manifest).
    created: bool,
    /// The open log, or `None`: closed to make room (reopened on demand) or, with `failed`,
    /// for good.
    file: Option<BufWriter<File>>,
    /// Set once the log failed to open or a write failed: later records are counted as I/O
    /// errors instead of being appended after a hole.
    failed: bool,
    /// Key of this bundle in `OpenFiles::lru` while its file is open.
    last_used: u64,
    /// Seq of the last record written.
    seq: u64,
    manifest: Manifest,
    /// The bodies this bundle's later payloads may refer to, for the v2 encoding (`None`:
    /// dedup off).
    store: Option<PayloadStore>,
}

impl Sink {
    pub(crate) fn new(shared: Arc<Shared>, root: PathBuf, limits: FileLimits) -> Sink {
        Sink {
            out: Out {
                shared,
                envelope: Vec::with_capacity(64),
                on_end: None,
            },
            root,
            bundles: HashMap::default(),
            scratch: Vec::new(),
            finished: false,
            redact: None,
            dedup: true,
            payloads: Dedup::default(),
            batch: 0,
            queued: Queued::default(),
            files: OpenFiles {
                limits,
                lru: BTreeMap::new(),
                tick: 0,
                buffered: 0,
            },
        }
    }

    /// Closes the least recently written log (flushing its buffer first); false if none is
    /// open.
    fn evict_one(&mut self) -> bool {
        let Some((_, id)) = self.files.lru.pop_first() else {
            return false;
        };
        if let Some(bundle) = self.bundles.get_mut(&id) {
            if let Some(mut file) = bundle.file.take() {
                self.files.buffered -= file.capacity();
                if let Err(e) = file.flush() {
                    bundle.failed = true;
                    self.out.io_error("flush", &bundle.dir.join(TRACE_FILE), &e);
                }
            }
        }
        true
    }

    /// Opens a log with `open`, first closing others until fewer than `max_open` are open;
    /// when the process is out of descriptors anyway, closes half of the open logs, lowers
    /// `max_open` to what remains and tries once more.
    fn open_log(&mut self, open: impl Fn() -> io::Result<File>) -> io::Result<BufWriter<File>> {
        let mut buffer = self.files.limits.buffer_for(self.files.lru.len());
        while !self.files.lru.is_empty()
            && (self.files.lru.len() >= self.files.limits.max_open
                || self.files.buffered + buffer > self.files.limits.buffer_bytes)
            && self.evict_one()
        {
            buffer = self.files.limits.buffer_for(self.files.lru.len());
        }
        let file = match open() {
            Err(e) if out_of_descriptors(&e) => {
                let keep = self.files.lru.len() / 2;
                while self.files.lru.len() > keep && self.evict_one() {}
                self.files.limits.max_open = keep.max(1);
                open()?
            }
            other => other?,
        };
        let file = BufWriter::with_capacity(buffer, file);
        self.files.buffered += file.capacity();
        Ok(file)
    }

    /// Makes bundle `id`'s log ready for appending: marks it most recently used, and reopens
    /// it (append mode) if it was closed to make room. On failure the bundle is `failed`.
    fn writable(&mut self, id: u64) {
        let Some(bundle) = self.bundles.get(&id) else {
            return;
        };
        if bundle.failed || !bundle.created {
            return;
        }
        if bundle.file.is_some() {
            if bundle.last_used != self.files.tick {
                let old = bundle.last_used;
                let tick = self.files.next_tick();
                self.files.lru.remove(&old);
                self.files.lru.insert(tick, id);
                if let Some(bundle) = self.bundles.get_mut(&id) {
                    bundle.last_used = tick;
                }
            }
            return;
        }
        let path = bundle.dir.join(TRACE_FILE);
        let opened = self.open_log(|| bundle_dir::reopen_for_append(&path));
        let tick = self.files.next_tick();
        let Some(bundle) = self.bundles.get_mut(&id) else {
            return;
        };
        match opened {
            Ok(file) => {
                bundle.file = Some(file);
                bundle.last_used = tick;
                self.files.lru.insert(tick, id);
            }
            Err(e) => {
                bundle.failed = true;
                self.out.io_error("reopen", &path, &e);
            }
        }
    }

    /// Takes bundle `id` out of the map and the open files, to finalise it.
    fn take_bundle(&mut self, id: u64) -> Option<OpenBundle> {
        let bundle = self.bundles.remove(&id)?;
        if let Some(file) = &bundle.file {
            self.files.lru.remove(&bundle.last_used);
            self.files.buffered -= file.capacity();
        }
        Some(bundle)
    }

    /// Redacts every record body with `redact` before writing it.
    pub(crate) fn with_redact(mut self, redact: Option<Redact>) -> Sink {
        self.redact = redact;
        self
    }

    /// Runs `hook` after each bundle's last record is flushed and its manifest written.
    pub(crate) fn with_bundle_end_hook(mut self, hook: Option<BundleEndHook>) -> Sink {
        self.out.on_end = hook;
        self
    }

    /// Stores payload bodies as references to bytes already written (format v2) when
    /// `dedup` is true, or every body whole (format v1).
    pub(crate) fn with_dedup(mut self, dedup: bool) -> Sink {
        self.dedup = dedup;
        self
    }

    /// Handles a message read in place (nothing in it is left to check).
    fn handle(&mut self, msg: &[u8]) {
        self.dispatch(Buf::Borrowed(msg));
    }

    /// Handles a message this thread owns (`whole`: its own buffer, which a payload store
    /// may keep), checking its payload body if the layer left that to the writer thread
    /// (JSON text given as `&str`: see [`check_text_body`]).
    fn handle_owned(&mut self, msg: &mut Vec<u8>, whole: bool) {
        self.dispatch(Buf::Owned(msg, whole));
    }

    fn dispatch(&mut self, mut buf: Buf<'_>) {
        let Some((header, _)) = Header::parse(buf.bytes()) else {
            return;
        };
        if self.finished {
            return;
        }
        match header.op {
            Op::Open => self.open(header, &buf.bytes()[HEADER_LEN..]),
            Op::Record => {
                let mut check = header.check as usize;
                // With a store and no redaction the check waits for the store's plan (it
                // resumes over bytes shared with kept bodies); otherwise it comes first.
                let deferred = self.dedup && self.redact.is_none();
                if let (Buf::Owned(msg, _), false, true) = (&mut buf, deferred, check != 0) {
                    check_text_body(msg, check);
                    check = 0;
                }
                self.record(header, buf, check);
            }
            Op::Close => self.close(header, &buf.bytes()[HEADER_LEN..]),
            Op::Barrier => self.barrier(),
        }
    }

    fn open(&mut self, header: Header, body: &[u8]) {
        let (rollout_id, trace_id) = match OpenBody::decode(body) {
            Some(b) => (b.rollout_id, b.trace_id),
            None => (format!("rollout-{}", header.bundle), None),
        };
        let format_version = if self.dedup {
            FORMAT_VERSION
        } else {
            FORMAT_VERSION_WHOLE_BODIES
        };
        let manifest = Manifest {
            format: FORMAT.to_owned(),
            format_version,
            rollout_id: rollout_id.clone(),
            trace_id: trace_id.clone(),
            started_at_unix_ms: header.t,
            ended_at_unix_ms: None,
            status: "running".to_owned(),
            records: 0,
            dropped_records: 0,
            writer: format::WRITER.to_owned(),
        };
        let dir = match bundle_dir::create_bundle_dir(&self.root, &rollout_id) {
            Ok(dir) => dir,
            Err(e) => {
                let path = self.root.join(bundle_dir::sanitize(&rollout_id));
                self.out.io_error("create bundle directory", &path, &e);
                let bundle = OpenBundle {
                    dir: path,
                    created: false,
                    file: None,
                    failed: true,
                    last_used: 0,
                    seq: 0,
                    manifest,
                    store: None,
                };
                self.bundles.insert(header.bundle, bundle);
                return;
            }
        };
        lock(&self.out.shared.bundle_dirs).push(dir.clone());
        if let Err(e) = bundle_dir::write_manifest(&dir, &manifest) {
            self.out
                .io_error("write manifest", &dir.join(MANIFEST_FILE), &e);
        }
        let trace = dir.join(TRACE_FILE);
        let file = match self.open_log(|| bundle_dir::create_file(&trace)) {
            Ok(f) => Some(f),
            Err(e) => {
                self.out.io_error("create", &trace, &e);
                None
            }
        };
        let last_used = self.files.next_tick();
        if file.is_some() {
            self.files.lru.insert(last_used, header.bundle);
        }
        let mut bundle = OpenBundle {
            dir,
            created: true,
            failed: file.is_none(),
            file,
            last_used,
            seq: 0,
            manifest,
            store: self.dedup.then(PayloadStore::default),
        };
        let mut line = Vec::with_capacity(256);
        format::encode_bundle_started(&mut line, format_version, &rollout_id, trace_id.as_deref());
        self.out.append(&mut bundle, header.t, 0, &line);
        self.bundles.insert(header.bundle, bundle);
    }

    /// Writes one record; `check`: where payload text left unchecked starts in `buf` (0:
    /// none), for the store's path to check.
    fn record(&mut self, header: Header, buf: Buf<'_>, check: usize) {
        self.writable(header.bundle);
        let Some(bundle) = self.bundles.get_mut(&header.bundle) else {
            // The bundle already ended (a thread that joined it outlived its root span).
            let shared = &self.out.shared;
            shared
                .dropped_records
                .fetch_add(1 + header.dropped_records, Ordering::Relaxed);
            shared.late_records.fetch_add(1, Ordering::Relaxed);
            shared.warn_once(Warning::LateRecords, || {
                "records arrived for a rollout whose root span had already closed (a thread \
                 that outlived it); they are not written (counted in \
                 FinishStats::late_records and dropped_records)"
                    .to_owned()
            });
            return;
        };
        self.out
            .append_dropped(bundle, header, header.dropped_records, header.dropped_bytes);
        let body_len = buf.bytes().len().saturating_sub(HEADER_LEN);
        let redacted = match &self.redact {
            Some(r) => redact::redact_body(r, &buf.bytes()[HEADER_LEN..]),
            None => Redacted::Unchanged,
        };
        let buf = match &redacted {
            Redacted::Unchanged => buf,
            Redacted::Rewritten { body, unscannable } => {
                if *unscannable > 0 {
                    self.out
                        .redaction_failed(*unscannable, "a value was replaced by a marker");
                }
                Buf::Borrowed(body.as_slice())
            }
            Redacted::Unscannable => {
                // Fail closed: a record that cannot be scanned is not written; its place
                // holds a `dropped` record, so the loss is visible where it happened.
                self.out
                    .redaction_failed(1, "a record was dropped in its place");
                self.out.append_dropped(bundle, header, 1, body_len as u64);
                return;
            }
        };
        let at = match &redacted {
            Redacted::Rewritten { .. } => 0,
            _ => HEADER_LEN,
        };
        // Format v2, after redaction: the store only ever sees (and points at) bytes that
        // are written.
        // The store is taken out of the bundle while a record is written to the bundle.
        match bundle.store.take() {
            Some(mut store) => {
                let out = &mut self.out;
                self.payloads.write(&mut store, buf, (at, check), |line| {
                    let before = bundle.seq;
                    out.append(bundle, header.t, header.ns, line);
                    (bundle.seq != before).then_some(bundle.seq)
                });
                for freed in store.freed() {
                    self.out.shared.recycle(freed);
                }
                bundle.store = Some(store);
            }
            None => {
                let mut buf = buf;
                if let (Buf::Owned(msg, _), true) = (&mut buf, check != 0) {
                    check_text_body(msg, check);
                }
                self.out
                    .append(bundle, header.t, header.ns, &buf.bytes()[at..]);
            }
        }
    }

    fn close(&mut self, header: Header, body: &[u8]) {
        self.writable(header.bundle);
        let Some(mut bundle) = self.take_bundle(header.bundle) else {
            return;
        };
        let (late_records, late_bytes) = self.take_unreported_drops(header.bundle);
        self.out.append_dropped(
            &mut bundle,
            header,
            header.dropped_records + late_records,
            header.dropped_bytes + late_bytes,
        );
        let status = String::from_utf8_lossy(body);
        let mut line = Vec::with_capacity(128);
        format::encode_bundle_ended(
            &mut line,
            &status,
            bundle.seq + 1,
            bundle.manifest.dropped_records,
        );
        self.out.append(&mut bundle, header.t, header.ns, &line);
        self.out.finalise(bundle, status.into_owned(), header.t);
    }

    fn barrier(&mut self) {
        let now = unix_ms();
        let ids: Vec<u64> = self.bundles.keys().copied().collect();
        for id in ids {
            if let Some(mut bundle) = self.take_bundle(id) {
                // No `dropped` record here: the file must stay a prefix of what would have
                // been written, and the manifest already carries the total.
                let (records, _) = self.take_unreported_drops(id);
                bundle.manifest.dropped_records += records;
                self.out
                    .shared
                    .dropped_records
                    .fetch_add(records, Ordering::Relaxed);
                self.out.finalise(bundle, "incomplete".to_owned(), now);
            }
        }
        self.finished = true;
        self.out.shared.signal_barrier();
    }

    /// Drops counted on the bundle's handle that no message carried (lossy mode).
    fn take_unreported_drops(&mut self, id: u64) -> (u64, u64) {
        match lock(&self.out.shared.open_bundles).remove(&id) {
            Some(handle) => handle.take_dropped(),
            None => (0, 0),
        }
    }
}

impl Out {
    fn append_dropped(
        &mut self,
        bundle: &mut OpenBundle,
        header: Header,
        records: u64,
        bytes: u64,
    ) {
        if records == 0 {
            return;
        }
        bundle.manifest.dropped_records += records;
        self.shared
            .dropped_records
            .fetch_add(records, Ordering::Relaxed);
        let mut line = Vec::with_capacity(96);
        format::encode_dropped(&mut line, records, bytes);
        self.append(bundle, header.t, header.ns, &line);
    }

    /// Appends one line: envelope with the next seq, `body`, newline.
    fn append(&mut self, bundle: &mut OpenBundle, t: u64, ns: u64, body: &[u8]) {
        let Some(file) = bundle.file.as_mut() else {
            self.shared.io_errors.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let seq = bundle.seq + 1;
        self.envelope.clear();
        format::encode_envelope(&mut self.envelope, seq, t, ns);
        let written = file
            .write_all(&self.envelope)
            .and_then(|()| file.write_all(body))
            .and_then(|()| file.write_all(b"\n"));
        match written {
            Ok(()) => {
                bundle.seq = seq;
                let len = (self.envelope.len() + body.len() + 1) as u64;
                self.shared.records.fetch_add(1, Ordering::Relaxed);
                self.shared.bytes.fetch_add(len, Ordering::Relaxed);
            }
            Err(e) => {
                bundle.file = None;
                bundle.failed = true;
                self.io_error("write", &bundle.dir.join(TRACE_FILE), &e);
            }
        }
    }

    /// Flushes and syncs the bundle's log, then rewrites its manifest with final counts.
    fn finalise(&mut self, mut bundle: OpenBundle, status: String, ended_at: u64) {
        let trace = bundle.dir.join(TRACE_FILE);
        let synced = match bundle.file.take() {
            Some(mut file) => file.flush().and_then(|()| file.get_ref().sync_data()),
            // Closed to make room (its buffer was flushed then): reopen it to sync it.
            None if !bundle.failed => {
                bundle_dir::reopen_for_append(&trace).and_then(|f| f.sync_data())
            }
            None => Ok(()),
        };
        if let Err(e) = synced {
            self.io_error("flush", &trace, &e);
        }
        bundle.manifest.status = status;
        bundle.manifest.ended_at_unix_ms = Some(ended_at);
        bundle.manifest.records = bundle.seq;
        if bundle.created {
            if let Err(e) = bundle_dir::write_manifest(&bundle.dir, &bundle.manifest) {
                self.io_error("write manifest", &bundle.dir.join(MANIFEST_FILE), &e);
            }
            if let Some(hook) = &self.on_end {
                // A panicking hook must not take the writer thread (and every later bundle)
                // down with it: report it once and go on.
                let run = std::panic::AssertUnwindSafe(|| (hook.0)(&bundle.dir));
                if std::panic::catch_unwind(run).is_err() {
                    eprintln!(
                        "tracing-rollout: the on_bundle_end hook panicked for {}",
                        bundle.dir.display()
                    );
                }
            }
        }
    }

    /// Counts values (or records) that redaction could not scan and so replaced.
    fn redaction_failed(&self, n: u64, what: &'static str) {
        self.shared
            .redaction_failures
            .fetch_add(n, Ordering::Relaxed);
        self.shared.warn_once(Warning::RedactionFailedClosed, || {
            format!(
                "redaction could not scan a value, so {what} (fail closed; counted in \
                 FinishStats::redaction_failures)"
            )
        });
    }

    fn io_error(&self, what: &str, path: &Path, e: &io::Error) {
        self.shared.io_errors.fetch_add(1, Ordering::Relaxed);
        if !self.shared.io_error_reported.swap(true, Ordering::Relaxed) {
            eprintln!(
                "tracing-rollout: cannot {what} {}: {e} (further I/O errors are counted, not printed)",
                path.display()
            );
        }
    }
}

impl Drop for Sink {
    /// Runs when the writer thread ends, normally after the barrier, or while unwinding if it
    /// ever panicked. Whatever is still queued will not be written and no wake-up will be
    /// answered, so nothing may wait for room any more: senders stop blocking, and memory
    /// stays bounded by the budget, which nothing releases now.
    fn drop(&mut self) {
        self.out.shared.budget.close();
    }
}

impl Write for Sink {
    /// A wake-up (see `writer::post`): handles every queued message, in order.
    fn write(&mut self, wake: &[u8]) -> io::Result<usize> {
        let mut queued = std::mem::take(&mut self.queued);
        let shared = Arc::clone(&self.out.shared);
        shared.parcels.drain(&mut queued);
        queued.drain_each(
            |msg| {
                self.batch += 1;
                // Read first: checking a long message's body may change its buffer.
                let admitted = msg.admitted();
                match msg {
                    Message::Short(msg) => {
                        if Header::parse(msg).is_some_and(|(header, _)| header.check != 0) {
                            let mut owned = std::mem::take(&mut self.scratch);
                            owned.clear();
                            owned.extend_from_slice(msg);
                            self.handle_owned(&mut owned, false);
                            self.scratch = owned;
                        } else {
                            self.handle(msg);
                        }
                    }
                    Message::Whole(mut msg) => {
                        self.handle_owned(&mut msg, true);
                        // Empty when a payload store kept the buffer.
                        if msg.capacity() > 0 {
                            shared.recycle(msg);
                        }
                    }
                }
                shared.budget.release(admitted);
            },
            |batch| shared.recycle(batch),
        );
        self.queued = queued;
        Ok(wake.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        let mut failed = Vec::new();
        for id in self.files.lru.values() {
            let Some(bundle) = self.bundles.get_mut(id) else {
                continue;
            };
            if let Some(file) = bundle.file.as_mut() {
                if let Err(e) = file.flush() {
                    bundle.file = None;
                    bundle.failed = true;
                    failed.push((bundle.dir.join(TRACE_FILE), e));
                }
            }
        }
        // Files dropped after a failed write or flush are no longer open.
        let bundles = &self.bundles;
        self.files
            .lru
            .retain(|_, id| bundles.get(id).is_some_and(|b| b.file.is_some()));
        self.files.buffered = self
            .files
            .lru
            .values()
            .filter_map(|id| bundles.get(id)?.file.as_ref().map(BufWriter::capacity))
            .sum();
        for (path, e) in failed {
            self.out.io_error("flush", &path, &e);
        }
        if std::mem::take(&mut self.batch) < SMALL_BATCH && !self.finished {
            std::thread::sleep(LINGER);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The file buffers' share and the queue add up to the budget, and a file's buffer is
    /// the share divided by the files open, within 4–128 KiB.
    #[test]
    fn file_buffers_are_taken_out_of_the_budget() {
        for max in [1, 100, 16 << 10, 64 << 10, 1 << 20, 16 << 20, 1 << 30] {
            for files in [1, 8, 64, 1000] {
                let (limits, queue) = FileLimits::new(files, max);
                assert_eq!(queue + limits.buffer_bytes, max);
                assert!(limits.max_open >= 1 && limits.max_open <= files);
                // A budget of at least 16 KiB holds max_open buffers of 4 KiB.
                if max >= 4 * MIN_FILE_BUFFER {
                    assert!(limits.max_open * MIN_FILE_BUFFER <= limits.buffer_bytes);
                }
            }
        }
        let (limits, queue) = FileLimits::new(64, 16 << 20);
        // The default budget: 12 MiB of queue, 4 MiB of file buffers.
        assert_eq!(
            (limits.max_open, limits.buffer_bytes, queue),
            (64, 4 << 20, 12 << 20)
        );
        assert_eq!(
            limits.buffer_for(0),
            MAX_FILE_BUFFER,
            "one rollout: the largest buffer"
        );
        assert_eq!(limits.buffer_for(63), 64 << 10, "64 rollouts share 4 MiB");
        assert_eq!(
            FileLimits::new(64, 1 << 20).0.buffer_for(0),
            MAX_FILE_BUFFER
        );
    }
}
