//! Any bundle a command is given → a bundle of ours: a bundle of ours as it is, a Codex
//! rollout-trace bundle imported on the fly into the import cache ([`resolve_bundle`]), or
//! followed while Codex is still writing it ([`LiveImport`]).
//!
//! Invariant: the source is never written to (Codex's `state.json` stays Codex's); a cached
//! import is reused only while the Codex bundle's `trace.jsonl` has the length and
//! modification time it was imported at, and is replaced whole (imported beside it, then
//! renamed over it), so a reader never sees half an import.
//!
//! The cache is `$TRACING_ROLLOUT_CACHE`, else `$XDG_CACHE_HOME/tracing-rollout`, else
//! `~/.cache/tracing-rollout`, else `tracing-rollout-cache` in the system's temporary
//! directory; imports live in its `codex/` directory (owner-only), one per Codex bundle,
//! named after the bundle's directory and a hash of its path.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::codex::{self, Importer};
use super::{io_error as io, ImportError};
use crate::writer::bundle_dir;

/// A bundle of ours standing for the path a command was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The bundle of ours to read.
    pub bundle: PathBuf,
    /// The Codex bundle it was imported from, if it was.
    pub codex: Option<PathBuf>,
}

/// What a cached import was made from.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Stamp {
    source: PathBuf,
    trace_len: u64,
    trace_modified_ns: u128,
    writer: String,
}

impl Stamp {
    fn of(source: &Path) -> Option<Stamp> {
        let meta = std::fs::metadata(source.join("trace.jsonl")).ok()?;
        let modified = meta.modified().ok()?.duration_since(UNIX_EPOCH).ok()?;
        Some(Stamp {
            source: source.to_path_buf(),
            trace_len: meta.len(),
            trace_modified_ns: modified.as_nanos(),
            writer: crate::format::WRITER.to_owned(),
        })
    }
}

/// The import cache's root (see the module docs).
pub fn cache_dir() -> PathBuf {
    let env = |name| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    env("TRACING_ROLLOUT_CACHE")
        .or_else(|| env("XDG_CACHE_HOME").map(|d| d.join("tracing-rollout")))
        .or_else(|| env("HOME").map(|d| d.join(".cache/tracing-rollout")))
        .unwrap_or_else(|| std::env::temp_dir().join("tracing-rollout-cache"))
}

/// Creates `dir` and its parents, owner-only.
fn create_private_dir(dir: &Path) -> Result<(), ImportError> {
    crate::format::create_dir_private(dir).map_err(io("create", dir))
}

/// `codex/<name>-<hash>` under `root` for the Codex bundle `source` (canonical).
fn entry_name(source: &Path) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    source.hash(&mut hasher);
    let name = source
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!("{}-{:016x}", bundle_dir::sanitize(&name), hasher.finish())
}

/// The bundle of ours for `path`: `path` itself unless it is a Codex rollout-trace bundle,
/// which is imported into the cache (or its up-to-date import reused).
///
/// # Errors
///
/// [`ImportError::Io`] when the cache cannot be written.
///
/// # Examples
///
/// ```no_run
/// use tracing_rollout::import::resolve_bundle;
/// // A Codex bundle (under CODEX_ROLLOUT_TRACE_ROOT) or one of ours: either reduces.
/// let resolved = resolve_bundle("codex-traces/trace-1234-abcd")?;
/// let state = tracing_rollout::reduce::reduce_bundle(&resolved.bundle)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn resolve_bundle(path: impl AsRef<Path>) -> Result<Resolved, ImportError> {
    resolve_bundle_in(path, &cache_dir())
}

/// [`resolve_bundle`] with the import cache at `cache` instead of [`cache_dir`].
///
/// # Errors
///
/// [`ImportError::Io`] when the cache cannot be written.
pub fn resolve_bundle_in(path: impl AsRef<Path>, cache: &Path) -> Result<Resolved, ImportError> {
    let path = path.as_ref();
    if !codex::is_codex_bundle(path) {
        return Ok(Resolved {
            bundle: path.to_path_buf(),
            codex: None,
        });
    }
    let source = std::fs::canonicalize(path).map_err(io("resolve", path))?;
    let root = cache.join("codex");
    create_private_dir(&root)?;
    let entry = entry_name(&source);
    let bundle = root.join(&entry);
    let stamp_path = root.join(format!("{entry}.stamp"));
    let stamp = Stamp::of(&source);
    let cached = std::fs::read(&stamp_path)
        .ok()
        .and_then(|b| serde_json::from_slice::<Stamp>(&b).ok());
    if stamp.is_some() && cached == stamp && bundle.join("trace.jsonl").is_file() {
        return Ok(Resolved {
            bundle,
            codex: Some(source),
        });
    }
    // Imported beside the old import, then renamed over it.
    let fresh = root.join(format!("{entry}.importing-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&fresh);
    create_private_dir(&fresh)?;
    let imported = Importer::start(&source, &fresh).and_then(|mut i| {
        i.poll()?;
        i.finish()
    });
    if let Err(e) = imported {
        let _ = std::fs::remove_dir_all(&fresh);
        return Err(e);
    }
    let _ = std::fs::remove_dir_all(&bundle);
    std::fs::rename(&fresh, &bundle).map_err(io("rename", &fresh))?;
    if let Some(stamp) = stamp {
        let text = serde_json::to_vec(&stamp).unwrap_or_default();
        std::fs::write(&stamp_path, text).map_err(io("write", &stamp_path))?;
    }
    Ok(Resolved {
        bundle,
        codex: Some(source),
    })
}

/// A Codex bundle followed while Codex writes it: each [`refresh`](LiveImport::refresh)
/// appends to the bundle of ours what Codex wrote since the last one, and ends it once Codex
/// ended the recording. The bundle lives in the cache's `codex-live/` directory and is
/// removed when this is dropped.
#[derive(Debug)]
pub struct LiveImport {
    dir: PathBuf,
    /// `None` once the import finished.
    importer: Option<Box<Importer>>,
}

impl LiveImport {
    /// Starts following `source` if it is a Codex bundle (`Ok(None)` if it is not), with
    /// the bundle of ours in [`cache_dir`].
    ///
    /// # Errors
    ///
    /// I/O errors.
    pub fn open(source: &Path) -> Result<Option<LiveImport>, ImportError> {
        LiveImport::open_in(source, &cache_dir())
    }

    /// [`LiveImport::open`] with the cache at `cache`.
    ///
    /// # Errors
    ///
    /// I/O errors.
    pub fn open_in(source: &Path, cache: &Path) -> Result<Option<LiveImport>, ImportError> {
        if !codex::is_codex_bundle(source) {
            return Ok(None);
        }
        let source = std::fs::canonicalize(source).map_err(io("resolve", source))?;
        let root = cache.join("codex-live");
        create_private_dir(&root)?;
        sweep_dead_processes(&root);
        let dir = root.join(format!("{}-{}", entry_name(&source), std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        create_private_dir(&dir)?;
        let importer = Importer::start(&source, &dir)?;
        Ok(Some(LiveImport {
            dir,
            importer: Some(Box::new(importer)),
        }))
    }

    /// The bundle of ours.
    pub fn bundle(&self) -> &Path {
        &self.dir
    }

    /// Imports what Codex wrote since the last refresh; returns the bundle of ours.
    ///
    /// # Errors
    ///
    /// I/O errors.
    pub fn refresh(&mut self) -> Result<&Path, ImportError> {
        if let Some(importer) = self.importer.as_mut() {
            importer.poll()?;
            if importer.ended() {
                if let Some(importer) = self.importer.take() {
                    importer.finish()?;
                }
            }
        }
        Ok(&self.dir)
    }
}

impl LiveImport {
    /// Refreshes on a thread of its own, every `every`, until [`Following::stop`]; returns
    /// the bundle of ours (which grows as Codex writes) and the handle. Errors stop the
    /// refreshing (the bundle then stays as it was).
    pub fn follow(self, every: Duration) -> (PathBuf, Following) {
        let dir = self.dir.clone();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut live = self;
            let mut failed = false;
            while !flag.load(Ordering::Relaxed) {
                if !failed && live.importer.is_some() {
                    failed = live.refresh().is_err();
                }
                std::thread::sleep(every);
            }
            // Dropped here, after the reader stopped: the bundle goes with it.
            drop(live);
        });
        (dir, Following { stop, thread })
    }
}

/// A [`LiveImport`] refreshing on its own thread ([`LiveImport::follow`]).
#[derive(Debug)]
pub struct Following {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl Following {
    /// Stops refreshing and removes the bundle of ours (once nothing reads it any more).
    pub fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
    }
}

impl Drop for LiveImport {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Removes the live imports of processes that are gone (a server killed before it could
/// clean up): a directory named `…-<pid>` whose process no longer exists. Only where `/proc`
/// says which processes exist; elsewhere they stay.
fn sweep_dead_processes(root: &Path) {
    let proc = Path::new("/proc");
    if !proc.join("self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    let me = std::process::id().to_string();
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some((_, pid)) = name.rsplit_once('-') else {
            continue;
        };
        let numeric = !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit());
        if numeric && pid != me && !proc.join(pid).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// A directory holding a bundle, read live: a bundle of ours as it is, or a Codex bundle
/// through a [`LiveImport`] that each [`refresh`](LiveSource::refresh) brings up to date —
/// what the viewer's server watches for every bundle it lists.
#[derive(Debug)]
pub struct LiveSource {
    found: PathBuf,
    import: Option<LiveImport>,
    /// Why the Codex bundle could not be imported, if it could not.
    failed: Option<String>,
}

impl LiveSource {
    /// The bundle in `found` (a Codex bundle starts being imported).
    pub fn new(found: PathBuf) -> LiveSource {
        let (import, failed) = match LiveImport::open(&found) {
            Ok(import) => (import, None),
            Err(e) => (None, Some(e.to_string())),
        };
        LiveSource {
            found,
            import,
            failed,
        }
    }

    /// The directory as found.
    pub fn found(&self) -> &Path {
        &self.found
    }

    /// The directory the files read for it must lie in: `root` (where it was found) for a
    /// bundle of ours, the import's own directory (canonical) for a Codex bundle.
    pub fn within(&self, root: &Path) -> PathBuf {
        match &self.import {
            Some(import) => {
                std::fs::canonicalize(import.bundle()).unwrap_or_else(|_| import.bundle().into())
            }
            None => root.to_path_buf(),
        }
    }

    /// The bundle of ours to read, as of the last refresh.
    pub fn bundle(&self) -> &Path {
        self.import.as_ref().map_or(&self.found, LiveImport::bundle)
    }

    /// The bundle of ours to read, with what Codex wrote since the last call imported.
    ///
    /// # Errors
    ///
    /// Why a Codex bundle could not be imported.
    pub fn refresh(&mut self) -> Result<&Path, ImportError> {
        if let Some(why) = &self.failed {
            return Err(ImportError::Io {
                action: "import",
                path: self.found.clone(),
                source: std::io::Error::other(why.clone()),
            });
        }
        match self.import.as_mut() {
            Some(import) => import.refresh(),
            None => Ok(&self.found),
        }
    }
}
