//! The index of the bundles under the served root: which names exist, refreshed by a walk
//! that re-reads only the directories that changed, and each name's [`Watched`] bundle.
//!
//! Invariant: requests never walk the root. A name is answered from the index as it stood
//! after the last refresh (at start, then every [`REFRESH`] in the background); a name not
//! in it is 404 (or 403 when it resolves outside the root), found at most one refresh later
//! if it appears (refreshes are [`REFRESH`] apart, or twenty times as long as the last one
//! took, whichever is longer). The walk does not follow symlinks, visits at most [`MAX_DIRS`] directories
//! [`MAX_DEPTH`] deep and lists at most [`MAX_BUNDLES`]; a directory whose modification time
//! is unchanged (and not recent) is not listed again. What a name's files are is checked
//! again when they are opened (`format::open_regular` with the root), not here. Each bundle's
//! reducer lives on one of [`WORKERS`] threads (`workers`); this index only names them.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use super::live::Watched;
use super::message::Response;
use super::names::{decode_path, is_plain_relative};
use super::workers::Workers;
use crate::cost::Prices;
use crate::view::index::Index as RolloutIndex;

/// How often the background refresh walks the root, at most.
pub(crate) const REFRESH: Duration = Duration::from_secs(2);
/// Directories below the root searched for bundles, at most.
const MAX_DEPTH: usize = 8;
/// Bundles listed, at most.
const MAX_BUNDLES: usize = 10_000;
/// Directories visited by one walk, at most.
const MAX_DIRS: usize = 100_000;
/// A directory modified this recently is listed again even if its time looks unchanged
/// (timestamps are coarse on some file systems).
const RECENT: Duration = Duration::from_secs(2);

/// Worker threads that own the bundles' reducers.
const WORKERS: usize = 4;

/// A bundle the index names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Found {
    /// Its name: the path relative to the root with `/`, `.` for the root itself.
    pub(crate) name: String,
    /// Its directory.
    pub(crate) dir: PathBuf,
}

/// The bundles under one root.
#[derive(Debug)]
pub(crate) struct Bundles {
    root: PathBuf,
    index: Mutex<Index>,
    workers: Workers,
    /// Prices for the cost the pages show (`serve --prices`).
    prices: Option<Arc<Prices>>,
    /// The rollouts page's summary rows (`view::index`), kept between requests.
    rollouts: Mutex<RolloutIndex>,
}

/// What the last walk found.
#[derive(Debug, Default)]
struct Index {
    /// Bundle name → its directory.
    by_name: HashMap<String, PathBuf>,
    /// Every directory walked, with what it held then.
    dirs: HashMap<PathBuf, Listing>,
    /// Which limit stopped the last walk, if one did (so what it names is not all there is).
    cut: Option<&'static str>,
}

/// One directory as last listed.
#[derive(Debug, Clone)]
struct Listing {
    modified: Option<SystemTime>,
    /// It held a regular `trace.jsonl`.
    has_trace: bool,
    /// Its subdirectories (not symlinks), sorted.
    subdirs: Vec<OsString>,
}

impl Bundles {
    /// The bundles under `root` (canonical), found by a first walk, with the worker threads
    /// that will reduce them.
    pub(crate) fn new(root: PathBuf, prices: Option<Arc<Prices>>) -> std::io::Result<Bundles> {
        let bundles = Bundles {
            rollouts: Mutex::new(RolloutIndex::new(root.clone(), prices.clone())),
            root,
            index: Mutex::new(Index::default()),
            workers: Workers::start(WORKERS)?,
            prices,
        };
        bundles.refresh();
        Ok(bundles)
    }

    /// The canonical root served.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// The rollouts page's summary rows, locked.
    pub(crate) fn rollouts(&self) -> MutexGuard<'_, RolloutIndex> {
        // A refresh that panicked leaves usable rows: take them as they are.
        self.rollouts.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn index(&self) -> MutexGuard<'_, Index> {
        // A walk that panicked mid-update leaves a usable map: take it as it is.
        self.index.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Walks the root again, listing only directories that changed, and updates the index:
    /// new bundles are added, vanished ones dropped (with their reducers).
    pub(crate) fn refresh(&self) {
        let old_dirs = std::mem::take(&mut self.index().dirs);
        let mut walk = Walk {
            root: &self.root,
            old: old_dirs,
            new: HashMap::new(),
            found: Vec::new(),
            cut: None,
        };
        walk.dir(&self.root, 0);
        let Walk {
            new, found, cut, ..
        } = walk;
        let by_name: HashMap<String, PathBuf> = found.into_iter().collect();
        let mut index = self.index();
        for name in index.by_name.keys().filter(|n| !by_name.contains_key(*n)) {
            let name = name.clone();
            self.workers.post(self.workers.of(&name), move |shelf| {
                shelf.remove(&name);
            });
        }
        index.by_name = by_name;
        index.dirs = new;
        index.cut = cut;
    }

    /// Which limit stopped the last walk (the bundles listed are not all under the root),
    /// in words; `None` when it saw everything.
    pub(crate) fn cut(&self) -> Option<&'static str> {
        self.index().cut
    }

    /// Every bundle the index names.
    pub(crate) fn all(&self) -> Vec<Found> {
        let index = self.index();
        index
            .by_name
            .iter()
            .map(|(name, dir)| Found {
                name: name.clone(),
                dir: dir.clone(),
            })
            .collect()
    }

    /// The bundle a URL path segment names (percent-encoded, relative to the root), from the
    /// index; else 403 (not a plain path inside the root) or 404.
    pub(crate) fn find(&self, encoded: &str) -> Result<Found, Response> {
        let Some(mut name) = decode_path(encoded) else {
            return Err(Response::outside());
        };
        if name.is_empty() {
            name = ".".to_owned();
        }
        if !is_plain_relative(&name) {
            return Err(Response::outside());
        }
        let known = self.index().by_name.get(&name).cloned();
        match known {
            Some(dir) => Ok(Found { name, dir }),
            None => {
                // A name that resolves outside the root (through a symlink) is refused as
                // such: a few system calls, not a walk.
                let outside = std::fs::canonicalize(self.root.join(&name))
                    .is_ok_and(|real| !real.starts_with(&self.root));
                Err(if outside {
                    Response::outside()
                } else {
                    Response::not_found("no bundle there")
                })
            }
        }
    }

    /// Runs `job` with the bundle's [`Watched`] state on the worker that owns it, and waits
    /// for its result (`None` if that worker failed).
    pub(crate) fn with<R: Send + 'static>(
        &self,
        found: &Found,
        job: impl FnOnce(&str, &mut Watched) -> R + Send + 'static,
    ) -> Option<R> {
        let (name, dir, root) = (found.name.clone(), found.dir.clone(), self.root.clone());
        let prices = self.prices.clone();
        self.workers.run(self.workers.of(&name), move |shelf| {
            let watched = shelf
                .entry(name.clone())
                .or_insert_with(|| Watched::new(dir, &root, prices));
            job(&name, watched)
        })
    }

    /// Runs `job` on every bundle of `list`, each on its worker, the workers in parallel;
    /// results in no particular order (a failed worker's bundles are missing).
    pub(crate) fn each<R: Send + 'static>(
        &self,
        list: Vec<Found>,
        job: fn(&str, &mut Watched) -> R,
    ) -> Vec<R> {
        let mut per_worker: Vec<Vec<Found>> = vec![Vec::new(); self.workers.len()];
        for found in list {
            per_worker[self.workers.of(&found.name)].push(found);
        }
        let (tx, rx) = std::sync::mpsc::channel();
        for (worker, list) in per_worker.into_iter().enumerate() {
            let (tx, root) = (tx.clone(), self.root.clone());
            let prices = self.prices.clone();
            self.workers.post(worker, move |shelf| {
                for Found { name, dir } in list {
                    let watched = shelf
                        .entry(name.clone())
                        .or_insert_with(|| Watched::new(dir, &root, prices.clone()));
                    let _ = tx.send(job(&name, watched));
                }
            });
        }
        drop(tx);
        rx.into_iter().collect()
    }
}

/// One walk of the root.
struct Walk<'a> {
    root: &'a Path,
    old: HashMap<PathBuf, Listing>,
    new: HashMap<PathBuf, Listing>,
    found: Vec<(String, PathBuf)>,
    /// The limit that stopped the walk somewhere, if one did.
    cut: Option<&'static str>,
}

impl Walk<'_> {
    fn dir(&mut self, dir: &Path, depth: usize) {
        let limit = if depth > MAX_DEPTH {
            Some("directories more than 8 levels below the root are not searched")
        } else if self.found.len() >= MAX_BUNDLES {
            Some("at most 10000 bundles are listed")
        } else if self.new.len() >= MAX_DIRS {
            Some("at most 100000 directories are searched")
        } else {
            None
        };
        if limit.is_some() {
            self.cut = self.cut.or(limit);
            return;
        }
        let Some(listing) = self.listing(dir) else {
            return;
        };
        if listing.has_trace {
            if let Some(name) = bundle_name(self.root, dir) {
                self.found.push((name, dir.to_path_buf()));
            }
        }
        let subdirs = listing.subdirs.clone();
        self.new.insert(dir.to_path_buf(), listing);
        for sub in subdirs {
            self.dir(&dir.join(sub), depth + 1);
        }
    }

    /// What `dir` holds: the last listing if its modification time has not changed (and is
    /// not recent), else a new one; `None` if it is no longer a directory.
    fn listing(&mut self, dir: &Path) -> Option<Listing> {
        let meta = std::fs::symlink_metadata(dir).ok()?;
        if !meta.is_dir() {
            return None;
        }
        let modified = meta.modified().ok();
        let settled = modified.is_some_and(|m| {
            SystemTime::now()
                .duration_since(m)
                .is_ok_and(|age| age >= RECENT)
        });
        if let Some(old) = self.old.remove(dir) {
            if settled && old.modified == modified {
                return Some(old);
            }
        }
        let mut listing = Listing {
            modified,
            has_trace: false,
            subdirs: Vec::new(),
        };
        for entry in std::fs::read_dir(dir).ok()?.filter_map(Result::ok) {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                listing.subdirs.push(entry.file_name());
            } else if kind.is_file() && entry.file_name() == "trace.jsonl" {
                listing.has_trace = true;
            }
        }
        listing.subdirs.sort();
        Some(listing)
    }
}

/// The name of the bundle in `dir`: its path relative to `root` with `/` separators (`.` for
/// the root itself), if that is a plain relative path.
fn bundle_name(root: &Path, dir: &Path) -> Option<String> {
    let rel = dir.strip_prefix(root).ok()?;
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let name = parts.join("/");
    if name.is_empty() {
        Some(".".to_owned())
    } else {
        is_plain_relative(&name).then_some(name)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Bundles added, removed and nested after the first walk are found by the next
    /// refresh, and a name not in the index is not looked for on disk.
    #[test]
    fn a_refresh_finds_new_bundles_and_forgets_removed_ones() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        for name in ["a", "b/c"] {
            std::fs::create_dir_all(root.join(name)).unwrap();
            std::fs::write(root.join(name).join("trace.jsonl"), "").unwrap();
        }
        let bundles = Bundles::new(root.clone(), None).unwrap();
        let mut names: Vec<String> = bundles.all().into_iter().map(|f| f.name).collect();
        names.sort();
        assert_eq!(names, ["a", "b/c"]);
        std::fs::create_dir_all(root.join("b/d/e")).unwrap();
        std::fs::write(root.join("b/d/e/trace.jsonl"), "").unwrap();
        std::fs::remove_dir_all(root.join("a")).unwrap();
        assert_eq!(bundles.find("b/d/e").unwrap_err().status, 404, "not yet");
        bundles.refresh();
        let mut names: Vec<String> = bundles.all().into_iter().map(|f| f.name).collect();
        names.sort();
        assert_eq!(names, ["b/c", "b/d/e"]);
        assert!(bundles.find("b%2Fd/e").is_ok());
        assert_eq!(bundles.find("..").unwrap_err().status, 403);
    }

    /// A bundle deeper than the walk goes is not listed, and the index says it stopped.
    #[test]
    fn a_walk_stopped_by_a_limit_says_which() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::create_dir_all(root.join("a")).unwrap();
        std::fs::write(root.join("a/trace.jsonl"), "").unwrap();
        let bundles = Bundles::new(root.clone(), None).unwrap();
        assert_eq!(bundles.cut(), None);
        let deep = root.join("1/2/3/4/5/6/7/8/9/10");
        std::fs::create_dir_all(&deep).unwrap();
        std::fs::write(deep.join("trace.jsonl"), "").unwrap();
        bundles.refresh();
        let names: Vec<String> = bundles.all().into_iter().map(|f| f.name).collect();
        assert_eq!(names, ["a"]);
        assert_eq!(
            bundles.cut(),
            Some("directories more than 8 levels below the root are not searched")
        );
    }
}
