//! The public handle on the writer: [`RolloutGuard`], and what finishing it reports.
//!
//! Invariant: `finish` (or drop) returns only after the writer thread has written every
//! record admitted before it, synced the files and rewritten the manifests — or after
//! `finish_timeout`, saying so.

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing_appender::non_blocking::{NonBlocking, WorkerGuard};

use super::{admitted_bytes, post, unix_ms, Header, Op, Shared, HEADER_LEN};

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
    /// `rollout.thread` spans with no span tying them to a rollout whose bare
    /// `parent_thread_id` named a thread live in several rollouts at once: each was recorded
    /// as a rollout of its own rather than guessed into one (the first is also reported on
    /// stderr and in [`warnings`](Self::warnings)).
    pub ambiguous_threads: u64,
    /// Records that arrived for a bundle that had already ended (a thread joined by
    /// `parent_thread_id` that outlived its rollout's root span); also counted in
    /// [`dropped_records`](Self::dropped_records).
    pub late_records: u64,
    /// `Span::follows_from` calls between rollout spans that could not be recorded: one of
    /// the spans had already closed, was never recorded, or belongs to another bundle.
    pub unlinked_follows: u64,
    /// Values that redaction could not scan (JSON text held in strings nested more than 16
    /// levels deep) and so replaced by a marker, plus records it could not scan at all and
    /// so did not write (a `dropped` record stands in their place). Redaction fails closed.
    pub redaction_failures: u64,
    /// Everything the layer reported on stderr, once per kind, in order.
    pub warnings: Vec<String>,
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
    // The error carries the statistics (as large as the success value); `finish` runs once.
    #[allow(clippy::result_large_err)]
    pub fn finish(mut self) -> Result<FinishStats, FinishError> {
        match self.inner.take() {
            Some(inner) => inner.finish(),
            None => Ok(FinishStats::default()),
        }
    }
}

impl GuardInner {
    #[allow(clippy::result_large_err)]
    fn finish(mut self) -> Result<FinishStats, FinishError> {
        let started = Instant::now();
        // `Duration::MAX` overflows the deadline: wait for as long as it takes.
        let deadline = started.checked_add(self.timeout);
        self.shared.finished.store(true, Ordering::SeqCst);

        let mut msg = Vec::with_capacity(HEADER_LEN);
        Header::begin(&mut msg, Op::Barrier, 0, unix_ms(), 0);
        let outcome = if !self.shared.budget.acquire(admitted_bytes(&msg), deadline) {
            Err(false)
        } else if !post(&self.nb, &self.shared, &mut msg) {
            Err(true)
        } else if !self.shared.wait_barrier(deadline) {
            Err(false)
        } else {
            Ok(())
        };

        // Nothing is written after the barrier: wake senders still waiting for room.
        self.shared.budget.close();
        // After a completed barrier the channel is empty, so this returns at once; after a
        // timeout it waits at most ~1.1 s (see `writer::appender`, point 4).
        drop(self.worker.take());

        self.shared.warn_if_nothing_recorded();
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
