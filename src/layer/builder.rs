//! [`RolloutLayerBuilder`] and [`InitError`]: configuring the layer and starting its writer.
//!
//! Invariant: `build` either returns a working layer whose root directory exists, or a typed
//! error before any thread is started; every setting has one documented default.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::payload::PayloadOptions;
use super::RolloutLayer;
use crate::writer::redact::Redact;
use crate::writer::worker::{BundleEndHook, FileLimits, Sink};
use crate::writer::{Budget, RolloutGuard, Shared, Writer};

const DEFAULT_ROOT: &str = "traces";
const DEFAULT_MAX_BUFFERED_BYTES: usize = 16 * 1024 * 1024;
const DEFAULT_MAX_PAYLOAD_BYTES: usize = 8 * 1024 * 1024;
/// The most `max_payload_bytes` may be: a body escaped as JSON text (up to six bytes per
/// byte), and again inside format v2's `parts`, must fit the longest line a reader reads
/// ([`format::MAX_LINE_BYTES`](crate::format::MAX_LINE_BYTES), 128 MiB).
const MAX_PAYLOAD_BYTES_CAP: usize = 16 * 1024 * 1024;
const DEFAULT_FINISH_TIMEOUT: Duration = Duration::from_secs(60);
const DEFAULT_MAX_OPEN_FILES: usize = 64;

/// Configures a [`RolloutLayer`]; made by [`RolloutLayer::builder`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build()` is called"]
pub struct RolloutLayerBuilder {
    root_dir: PathBuf,
    lossy: bool,
    max_buffered_bytes: usize,
    max_payload_bytes: usize,
    capture_payloads: bool,
    finish_timeout: Duration,
    redact: Option<Redact>,
    max_open_files: usize,
    on_bundle_end: Option<BundleEndHook>,
    payload_dedup: bool,
}

impl Default for RolloutLayerBuilder {
    fn default() -> Self {
        RolloutLayerBuilder {
            root_dir: PathBuf::from(DEFAULT_ROOT),
            lossy: false,
            max_buffered_bytes: DEFAULT_MAX_BUFFERED_BYTES,
            max_payload_bytes: DEFAULT_MAX_PAYLOAD_BYTES,
            capture_payloads: true,
            finish_timeout: DEFAULT_FINISH_TIMEOUT,
            redact: None,
            max_open_files: DEFAULT_MAX_OPEN_FILES,
            on_bundle_end: None,
            payload_dedup: true,
        }
    }
}

/// Why [`RolloutLayerBuilder::build`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InitError {
    /// The root directory could not be created or resolved (for example a path component is a
    /// regular file, or permission is denied).
    #[error("create rollout root directory {}", path.display())]
    CreateRootDir {
        /// The root directory as configured.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The writer thread could not be started (the operating system refused a thread).
    #[error("start the rollout writer thread")]
    StartWriter {
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl RolloutLayerBuilder {
    /// The directory below which each rollout gets its own bundle directory. Created (with
    /// its missing parents, `0700` on Unix) by [`build`](Self::build).
    ///
    /// Default: `traces`, relative to the working directory at `build` time.
    pub fn root_dir(mut self, root_dir: impl Into<PathBuf>) -> Self {
        self.root_dir = root_dir.into();
        self
    }

    /// What happens when records arrive faster than they can be written and
    /// [`max_buffered_bytes`](Self::max_buffered_bytes) are in flight. `false`: the
    /// instrumented thread waits for room, nothing is lost. `true`: the record is dropped and
    /// counted; the bundle gets a `dropped` record with the counts where the loss happened,
    /// and its manifest the total. Bundle starts and ends are never dropped.
    ///
    /// Default: `false`.
    pub fn lossy(mut self, lossy: bool) -> Self {
        self.lossy = lossy;
        self
    }

    /// Memory bound for records on their way to disk, in bytes: the records queued for the
    /// writer thread (counted at their encoded size) get three quarters, the buffers of the
    /// open `trace.jsonl` files (at most [`max_open_files`](Self::max_open_files) of them)
    /// one quarter, shared: a file opened while `n` others are gets a quarter divided by
    /// `n + 1`, 4–128 KiB. A single record larger than the bound is still accepted when
    /// nothing else is in flight.
    ///
    /// Default: 16 MiB (12 MiB of queue; 4 MiB of file buffers: 128 KiB each for up to 32
    /// open files, 64 KiB each for 64).
    pub fn max_buffered_bytes(mut self, bytes: usize) -> Self {
        self.max_buffered_bytes = bytes.max(1);
        self
    }

    /// Largest payload body recorded in full, in bytes of its JSON (or text) form. A larger
    /// payload is stored as a JSON string holding its first `bytes` bytes (cut at a character
    /// boundary) followed by `…[truncated N bytes]`, with `"truncated": true`; its `bytes`
    /// key still gives the full size. At most 16 MiB (a larger value is lowered to it), so
    /// that every line the layer writes fits the longest line a reader reads
    /// ([`format::MAX_LINE_BYTES`](crate::format::MAX_LINE_BYTES)) even when every byte of
    /// the body needs escaping.
    ///
    /// Default: 8 MiB.
    pub fn max_payload_bytes(mut self, bytes: usize) -> Self {
        self.max_payload_bytes = bytes.min(MAX_PAYLOAD_BYTES_CAP);
        self
    }

    /// Whether payload bodies are recorded. `false` keeps every `payload` record with its
    /// role and size but writes `"body": null, "omitted": true`: the structure without the
    /// prompts and tool output.
    ///
    /// Default: `true`.
    pub fn capture_payloads(mut self, capture: bool) -> Self {
        self.capture_payloads = capture;
        self
    }

    /// How long [`RolloutGuard::finish`] (and dropping the guard) waits for the backlog to
    /// reach the disk before giving up with
    /// [`FinishError::Timeout`](crate::FinishError::Timeout). `Duration::MAX` waits for as
    /// long as it takes.
    ///
    /// Default: 60 seconds.
    pub fn finish_timeout(mut self, timeout: Duration) -> Self {
        self.finish_timeout = timeout;
        self
    }

    /// How many bundles' `trace.jsonl` files the writer keeps open at once. With more
    /// rollouts open than this, the least recently written file is flushed and closed, and
    /// reopened (append mode) when its next record arrives: the files are the same, the
    /// process holds at most this many descriptors for bundle logs (plus two, briefly, while
    /// a manifest is rewritten). When the process runs out of descriptors anyway, the writer
    /// closes half of its open files, lowers this limit to what remains, and tries again.
    ///
    /// Default: 64.
    pub fn max_open_files(mut self, files: usize) -> Self {
        self.max_open_files = files.max(1);
        self
    }

    /// Replaces the values of secret keys with `"[REDACTED]"` before any byte reaches the
    /// disk: span and event fields with a matching name, and matching JSON object keys at any
    /// depth inside field values and payload bodies (see [`Redact`] for exactly what is
    /// covered). The work runs on the writer thread, never on the instrumented program's
    /// threads, and only for records that may contain a matching key.
    ///
    /// Default: no redaction (records are written exactly as captured, at no extra cost).
    ///
    /// # Examples
    ///
    /// ```
    /// use tracing_rollout::{Redact, RolloutLayer};
    ///
    /// let root = tempfile::tempdir()?;
    /// let (layer, guard) = RolloutLayer::builder()
    ///     .root_dir(root.path())
    ///     .redact(Redact::keys(["authorization", "api_key"]))
    ///     .build()?;
    /// # drop(layer);
    /// guard.finish()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn redact(mut self, redact: Redact) -> Self {
        self.redact = Some(redact);
        self
    }

    /// Calls `hook` with each bundle's directory as its rollout ends — on the writer thread,
    /// after the bundle's last record is flushed and synced and its final `manifest.json`
    /// written — so a program can reduce or export every bundle without a CLI step (see
    /// [`export`](crate::export) for an example). Bundles still open when the guard finishes
    /// get it too, as `incomplete`.
    ///
    /// Other bundles' records wait while it runs, and [`RolloutGuard::finish`] waits for it:
    /// keep it short or hand the path to a thread of your own. A panic in it is caught and
    /// reported on stderr.
    ///
    /// [`RolloutGuard::finish`]: crate::RolloutGuard::finish
    pub fn on_bundle_end(
        mut self,
        hook: impl Fn(&std::path::Path) + Send + Sync + 'static,
    ) -> Self {
        self.on_bundle_end = Some(BundleEndHook(Arc::new(hook)));
        self
    }

    /// Whether payload bodies are stored once (format v2, the default): each body is written
    /// as references to bytes this bundle already holds plus the bytes that are new, so a
    /// conversation that re-sends its history in every request grows the bundle linearly.
    /// The encoding runs on the writer thread, after redaction; its state holds at most
    /// 8 MiB per open bundle (the last bodies it may refer to; what it forgets is written
    /// again), and payload text given as `&str` is validated only where it does not repeat
    /// a body already validated.
    /// `false` writes every body whole (format v1), as readers of the raw file may expect.
    ///
    /// Readers never see the difference: [`BundleReader`](crate::format::BundleReader) and
    /// `tracing-rollout expand` yield whole bodies either way.
    ///
    /// # Examples
    ///
    /// ```
    /// let root = tempfile::tempdir()?;
    /// let (layer, guard) = tracing_rollout::RolloutLayer::builder()
    ///     .root_dir(root.path())
    ///     .payload_dedup(false)
    ///     .build()?;
    /// # drop(layer);
    /// guard.finish()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn payload_dedup(mut self, dedup: bool) -> Self {
        self.payload_dedup = dedup;
        self
    }

    /// Creates the root directory, starts the writer thread (named `tracing-rollout`) and
    /// returns the layer with the guard that finishes it.
    ///
    /// # Errors
    ///
    /// [`InitError::CreateRootDir`] when the root directory cannot be created;
    /// [`InitError::StartWriter`] when the operating system refuses to start the writer
    /// thread. It never panics.
    ///
    /// # Examples
    ///
    /// ```
    /// let root = tempfile::tempdir()?;
    /// let (layer, guard) = tracing_rollout::RolloutLayer::builder()
    ///     .root_dir(root.path().join("traces"))
    ///     .lossy(true)
    ///     .build()?;
    /// # drop(layer);
    /// guard.finish()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn build(self) -> Result<(RolloutLayer, RolloutGuard), InitError> {
        let root = self
            .create_root()
            .map_err(|source| InitError::CreateRootDir {
                path: self.root_dir.clone(),
                source,
            })?;
        let (limits, queue_bytes) = FileLimits::new(self.max_open_files, self.max_buffered_bytes);
        let shared = Arc::new(Shared::new(Budget::new(queue_bytes)));
        let sink = Sink::new(Arc::clone(&shared), root, limits)
            .with_redact(self.redact.clone())
            .with_bundle_end_hook(self.on_bundle_end.clone())
            .with_dedup(self.payload_dedup);
        let (nb, worker) = crate::writer::appender::start(sink)
            .map_err(|source| InitError::StartWriter { source })?;
        let writer = Writer::new(nb.clone(), Arc::clone(&shared), self.lossy);
        let payload = PayloadOptions {
            max_bytes: self.max_payload_bytes,
            capture: self.capture_payloads,
        };
        let guard = RolloutGuard::new(nb, shared, worker, self.finish_timeout);
        Ok((RolloutLayer::new(writer, payload), guard))
    }

    fn create_root(&self) -> std::io::Result<PathBuf> {
        crate::format::create_dir_private(&self.root_dir)?;
        self.root_dir.canonicalize()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worst a capped body can become on one line: every byte escaped as `\u0001` (6
    /// bytes), that text escaped again inside format v2's `parts` (7 bytes), its marker and
    /// the record's keys — still shorter than the longest line a reader reads.
    #[test]
    fn the_largest_body_the_layer_writes_fits_a_readers_line() {
        let worst = (MAX_PAYLOAD_BYTES_CAP as u64) * 7 + 64 * 1024;
        assert!(worst < crate::format::MAX_LINE_BYTES, "{worst}");
        let builder = RolloutLayerBuilder::default().max_payload_bytes(usize::MAX);
        assert_eq!(builder.max_payload_bytes, MAX_PAYLOAD_BYTES_CAP);
    }
}
