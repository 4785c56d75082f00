//! The index of many rollouts (`serve`'s front page): one summary row per bundle under a root
//! — status, start, duration, agents, turns, inference calls, tokens, cost, failed tool calls,
//! undelivered edges, diagnostics, and what the page filters on (models, tools, agent names) —
//! kept between requests and brought up to date a little at a time.
//!
//! Invariant: a bundle is summarised again only when it changed: each refresh stamps the bundles
//! the server's index names (size and modification time of `trace.jsonl` and `manifest.json`, at
//! most once per [`RESTAMP`]) and only a new stamp costs a reduction, of the whole bundle, read
//! only inside the root (a Codex rollout-trace bundle through its import, as every command reads
//! it: stamped by the Codex bundle's files, read inside the import). A bundle being written is
//! therefore reduced again at most once per [`RESTAMP`] while it grows (the viewer's incremental
//! reducers live on the server's worker threads and cannot leave them; the index keeps no reducer
//! and no graph, so it can be shared between request threads), and once more when it has been quiet
//! for [`IDLE`]. Only the rows are kept, so 10 000 bundles cost a few megabytes. Work per request
//! is bounded by a time budget, so a root of 10 000 new bundles fills in over a few requests
//! instead of holding one; every row carries the version at which it last changed, so a page asks
//! only for what changed since the version it has.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use serde::Serialize;

use crate::cost::Prices;
use crate::reduce::{LiveBundle, ReduceError, RolloutState, Status};

/// Bundles are stamped again at most this often.
const RESTAMP: Duration = Duration::from_secs(1);
/// A bundle that has not grown for this long and never ended is summarised as the batch
/// reducer sees it (status `incomplete`) instead of `running`, as its viewer shows it.
const IDLE: Duration = Duration::from_secs(15);
/// Distinct tool names, models and agent names a row lists for filtering, at most.
const MAX_NAMES: usize = 64;
/// Removed bundles remembered for pages that ask what changed.
const MAX_REMOVED: usize = 10_000;

/// One row of the index.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct IndexRow {
    /// The bundle's path relative to the root.
    pub(crate) path: String,
    pub(crate) rollout_id: String,
    pub(crate) status: Status,
    pub(crate) complete: bool,
    /// Still being written: the row will change.
    pub(crate) live: bool,
    pub(crate) started_at_unix_ms: Option<u64>,
    pub(crate) duration_ms: Option<u64>,
    pub(crate) root_thread_id: Option<String>,
    pub(crate) agents: usize,
    pub(crate) turns: usize,
    pub(crate) inference_calls: usize,
    pub(crate) tool_calls: usize,
    pub(crate) failed_tool_calls: usize,
    pub(crate) undelivered_edges: usize,
    pub(crate) diagnostics: usize,
    pub(crate) warnings: usize,
    pub(crate) input_tokens: u64,
    pub(crate) cached_input_tokens: u64,
    pub(crate) output_tokens: u64,
    /// The priced calls' cost (with prices).
    pub(crate) cost: Option<f64>,
    /// Calls left out of `cost` (with prices).
    pub(crate) unpriced_calls: Option<u64>,
    /// Agent paths and nicknames (text search).
    pub(crate) agent_names: Vec<String>,
    /// Models of threads and inference calls.
    pub(crate) models: Vec<String>,
    /// Tool names called.
    pub(crate) tools: Vec<String>,
    /// Why the bundle could not be summarised.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<String>,
}

/// Sorted distinct names, at most [`MAX_NAMES`].
fn names<'a>(all: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut set = std::collections::BTreeSet::new();
    for name in all {
        if set.len() >= MAX_NAMES {
            break;
        }
        set.insert(name);
    }
    set.into_iter().map(str::to_owned).collect()
}

impl IndexRow {
    /// The row of a graph (`live`: the bundle is still being written).
    pub(crate) fn of(
        path: &str,
        state: &RolloutState,
        prices: Option<&Prices>,
        live: bool,
    ) -> IndexRow {
        let usage = state.total_usage();
        let totals = prices.map(|p| p.rollout_cost(state));
        let threads = state.threads.values();
        IndexRow {
            path: path.to_owned(),
            rollout_id: state.rollout_id.clone(),
            status: state.status,
            complete: state.complete,
            live,
            started_at_unix_ms: state.started_at_unix_ms,
            duration_ms: state
                .started_at_unix_ms
                .zip(state.ended_at_unix_ms)
                .map(|(a, b)| b.saturating_sub(a)),
            root_thread_id: state.root_thread_id.clone(),
            agents: state.threads.len(),
            turns: state.turns.len(),
            inference_calls: state.inference_calls.len(),
            tool_calls: state.tool_calls.len(),
            failed_tool_calls: state
                .tool_calls
                .values()
                .filter(|t| t.execution.status == Status::Failed)
                .count(),
            undelivered_edges: state.edges.values().filter(|e| !e.delivered).count(),
            diagnostics: state.diagnostics.len(),
            warnings: state.warning_count(),
            input_tokens: usage.input_tokens,
            cached_input_tokens: usage.cached_input_tokens,
            output_tokens: usage.output_tokens,
            cost: totals.as_ref().map(|t| t.cost.total),
            unpriced_calls: totals.as_ref().map(|t| t.unpriced_calls),
            agent_names: names(threads.clone().flat_map(|t| {
                [t.agent_path.as_deref(), t.nickname.as_deref()]
                    .into_iter()
                    .flatten()
            })),
            models: names(
                threads.filter_map(|t| t.model.as_deref()).chain(
                    state
                        .inference_calls
                        .values()
                        .filter_map(|c| c.model.as_deref()),
                ),
            ),
            tools: names(state.tool_calls.values().filter_map(|t| t.tool.as_deref())),
            error: None,
        }
    }

    /// The row of a bundle that could not be summarised.
    fn failed(path: &str, error: &str) -> IndexRow {
        IndexRow {
            path: path.to_owned(),
            rollout_id: String::new(),
            status: Status::Incomplete,
            complete: false,
            live: false,
            started_at_unix_ms: None,
            duration_ms: None,
            root_thread_id: None,
            agents: 0,
            turns: 0,
            inference_calls: 0,
            tool_calls: 0,
            failed_tool_calls: 0,
            undelivered_edges: 0,
            diagnostics: 0,
            warnings: 0,
            input_tokens: 0,
            cached_input_tokens: 0,
            output_tokens: 0,
            cost: None,
            unpriced_calls: None,
            agent_names: Vec::new(),
            models: Vec::new(),
            tools: Vec::new(),
            error: Some(error.to_owned()),
        }
    }
}

/// Size and modification time of a bundle's two files.
type Stamp = [(u64, u64); 2];

fn stamp(dir: &Path) -> Stamp {
    let of = |name: &str| {
        std::fs::metadata(dir.join(name)).map_or((u64::MAX, 0), |m| {
            let mtime = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
            (m.len(), mtime)
        })
    };
    [of("trace.jsonl"), of("manifest.json")]
}

/// One bundle of the index.
#[derive(Debug)]
struct Entry {
    dir: PathBuf,
    /// The stamp the row was made from (`None`: never summarised).
    summarised: Option<Stamp>,
    /// The stamp the last walk saw.
    seen: Stamp,
    /// When `seen` last changed.
    changed_at: Instant,
    /// The row is of a bundle still being written (not ended, not idle).
    live: bool,
    /// The row as JSON, and the version at which it last changed.
    row: Option<(Arc<str>, u64)>,
}

impl Entry {
    /// Not ended, and unchanged for [`IDLE`]: summarised once more as the batch reducer sees it.
    fn idle(&self) -> bool {
        self.live && self.changed_at.elapsed() >= IDLE
    }

    fn needs_work(&self) -> bool {
        self.summarised != Some(self.seen) || self.idle()
    }
}

/// What [`Index::refresh`] left to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Progress {
    /// Bundles in the index.
    pub(crate) bundles: usize,
    /// Bundles not summarised yet (new or changed, beyond the time budget).
    pub(crate) pending: usize,
    /// Bundles summarised by this refresh.
    pub(crate) summarised: usize,
}

/// The index of every bundle under a root.
#[derive(Debug)]
pub(crate) struct Index {
    root: PathBuf,
    prices: Option<Arc<Prices>>,
    entries: HashMap<String, Entry>,
    /// Bumped whenever a row changes or a bundle goes away.
    version: u64,
    /// Bundles that went away, with the version at which they did.
    removed: Vec<(u64, String)>,
    /// The version of the last removal no longer remembered (0: none forgotten).
    forgot_before: u64,
    last_scan: Option<Instant>,
}

impl Index {
    /// An empty index of `root` (canonical), priced with `prices`.
    pub(crate) fn new(root: PathBuf, prices: Option<Arc<Prices>>) -> Index {
        Index {
            root,
            prices,
            entries: HashMap::new(),
            version: 0,
            removed: Vec::new(),
            forgot_before: 0,
            last_scan: None,
        }
    }

    /// Takes the bundles `found` (name, directory; stamped at most once per [`RESTAMP`]) and
    /// summarises what changed, in name order, for at most `budget`.
    pub(crate) fn refresh(
        &mut self,
        found: impl Iterator<Item = (String, PathBuf)>,
        budget: Duration,
    ) -> Progress {
        let started = Instant::now();
        if self.last_scan.is_none_or(|at| at.elapsed() >= RESTAMP) {
            self.restamp(found);
        }
        let mut work: Vec<String> = self
            .entries
            .iter()
            .filter(|(_, e)| e.needs_work())
            .map(|(k, _)| k.clone())
            .collect();
        work.sort();
        let mut summarised = 0;
        let mut pending = 0;
        for key in work {
            if started.elapsed() >= budget {
                pending += 1;
                continue;
            }
            self.summarise(&key);
            summarised += 1;
        }
        Progress {
            bundles: self.entries.len(),
            pending,
            summarised,
        }
    }

    fn restamp(&mut self, found: impl Iterator<Item = (String, PathBuf)>) {
        self.last_scan = Some(Instant::now());
        let mut present = std::collections::HashSet::new();
        for (key, dir) in found {
            let seen = stamp(&dir);
            present.insert(key.clone());
            self.entries
                .entry(key)
                .and_modify(|e| {
                    if e.seen != seen {
                        e.seen = seen;
                        e.changed_at = Instant::now();
                    }
                })
                .or_insert_with(|| Entry {
                    dir,
                    summarised: None,
                    seen,
                    changed_at: Instant::now(),
                    live: false,
                    row: None,
                });
        }
        let gone: Vec<String> = self
            .entries
            .keys()
            .filter(|k| !present.contains(*k))
            .cloned()
            .collect();
        for key in gone {
            self.entries.remove(&key);
            self.version += 1;
            self.removed.push((self.version, key));
        }
        if self.removed.len() > MAX_REMOVED {
            let extra = self.removed.len() - MAX_REMOVED;
            self.forgot_before = self.removed[extra - 1].0;
            self.removed.drain(..extra);
        }
    }

    /// Brings one bundle's row up to date.
    fn summarise(&mut self, key: &str) {
        let prices = self.prices.clone();
        let Some(entry) = self.entries.get_mut(key) else {
            return;
        };
        if !entry.needs_work() {
            return;
        }
        let idle = entry.idle();
        // The replay's graph while the bundle is written (status `running`), the finished one
        // once it ended or went quiet (unended spans then `incomplete`).
        let outcome = graph(&entry.dir, &self.root, idle);
        let row = match outcome {
            Ok((state, live)) => {
                entry.live = live;
                IndexRow::of(key, &state, prices.as_deref(), live)
            }
            Err(e) => {
                entry.live = false;
                IndexRow::failed(key, &e)
            }
        };
        entry.summarised = Some(entry.seen);
        let json: Arc<str> = serde_json::to_string(&row).unwrap_or_default().into();
        if entry.row.as_ref().is_none_or(|(old, _)| *old != json) {
            self.version += 1;
            entry.row = Some((json, self.version));
        }
    }

    /// The index as JSON for a page that has `since` (0: nothing): the rows that changed
    /// after it and the bundles removed after it, with the version to ask from next; `cut`:
    /// the limit that kept the bundles found from being all there are, if one did.
    pub(crate) fn json(&self, since: u64, progress: Progress, cut: Option<&str>) -> String {
        // The page may have missed a removal no longer remembered: it must start over.
        let since = if since < self.forgot_before { 0 } else { since };
        let mut out = String::with_capacity(256 + self.entries.len() * 64);
        let currency = self
            .prices
            .as_ref()
            .map(|p| serde_json::to_string(&p.currency).unwrap_or_default());
        let _ = write!(
            out,
            "{{\"version\":{},\"full\":{},\"bundles\":{},\"pending\":{},\"currency\":{},\"cut\":{},\"rows\":[",
            self.version,
            since == 0,
            progress.bundles,
            progress.pending,
            currency.as_deref().unwrap_or("null"),
            cut.map_or_else(|| "null".to_owned(), |c| serde_json::Value::from(c).to_string())
        );
        let mut first = true;
        let mut keys: Vec<&String> = self.entries.keys().collect();
        keys.sort();
        for key in keys {
            if let Some((json, version)) = self.entries.get(key).and_then(|e| e.row.as_ref()) {
                if *version > since {
                    if !first {
                        out.push(',');
                    }
                    first = false;
                    out.push_str(json);
                }
            }
        }
        out.push_str("],\"removed\":");
        let removed: Vec<&str> = self
            .removed
            .iter()
            .filter(|(v, _)| *v > since && since != 0)
            .map(|(_, k)| k.as_str())
            .collect();
        out.push_str(&serde_json::to_string(&removed).unwrap_or_else(|_| "[]".to_owned()));
        out.push('}');
        out
    }
}

/// The graph of the bundle in `dir` (a Codex bundle through its import, as every command reads
/// it), and whether it is still being written: the replay's graph while it is (status
/// `running`), the finished one once it ended or went quiet (`idle`; unended spans are then
/// `incomplete`). Files are read only inside `root` (a Codex import: inside the import).
fn graph(dir: &Path, root: &Path, idle: bool) -> Result<(RolloutState, bool), String> {
    let resolved = crate::import::resolve_bundle(dir).map_err(|e| e.to_string())?;
    let within = match resolved.codex {
        Some(_) => std::fs::canonicalize(&resolved.bundle).map_err(|e| e.to_string())?,
        None => root.to_path_buf(),
    };
    let read = |e: ReduceError| e.to_string();
    let live = LiveBundle::open_within(&resolved.bundle, Some(&within)).map_err(read)?;
    if live.replay().is_ended() || idle {
        Ok((live.finish().map_err(read)?, false))
    } else {
        Ok((live.replay().state().clone(), true))
    }
}

#[cfg(test)]
#[path = "index_tests.rs"]
mod tests;
