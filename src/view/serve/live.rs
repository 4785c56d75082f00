//! One bundle as the server shows it: an incremental reducer fed what was appended since the
//! last request, the graph's JSON and index row, and its static page once it no longer
//! changes.
//!
//! Invariant: every file of the bundle is opened through the format's checked open with the
//! served root (`within`): a regular file whose opened path lies inside the root, or an error
//! — a `trace.jsonl` swapped for a link out of the root after indexing is refused when it is
//! next opened, and a reducer already tailing the bundle keeps reading the file it opened.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::super::{data, page, page_priced, PageConfig, PageForm};
use super::names::url_name;
use crate::cost::Prices;
use crate::reduce::{reduce_bundle_within, LiveBundle, ReduceError, RolloutState, Status};

/// A bundle that has not grown for this long and never ended is shown as its final
/// reduction (status `incomplete`) instead of `running`.
const IDLE: Duration = Duration::from_secs(15);

/// The graph as last served: its version, JSON, and index row.
pub(crate) type Current = (u64, Arc<String>, Row);

/// One bundle the server found, with its reducer.
#[derive(Debug)]
pub(crate) struct Watched {
    /// The directory found, and the bundle of ours read for it (a Codex bundle's import).
    source: crate::import::LiveSource,
    /// The served root: files are read only inside it.
    within: PathBuf,
    live: Option<LiveBundle>,
    current: Option<Current>,
    /// Once the graph is final: its static page, which opens faster than polling the JSON.
    page: Option<Arc<String>>,
    last_growth: Instant,
    /// Prices for the cost the pages show.
    prices: Option<Arc<Prices>>,
}

/// One line of the index.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Row {
    path: String,
    rollout_id: String,
    status: Status,
    complete: bool,
    pub(crate) started_at_unix_ms: Option<u64>,
    duration_ms: Option<u64>,
    threads: usize,
    turns: usize,
    inference_calls: usize,
    input_tokens: u64,
    output_tokens: u64,
    diagnostics: usize,
    warnings: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

impl Row {
    fn of(path: &str, state: &RolloutState) -> Row {
        let usage = state.total_usage();
        Row {
            path: path.to_owned(),
            rollout_id: state.rollout_id.clone(),
            status: state.status,
            complete: state.complete,
            started_at_unix_ms: state.started_at_unix_ms,
            duration_ms: state
                .started_at_unix_ms
                .zip(state.ended_at_unix_ms)
                .map(|(a, b)| b.saturating_sub(a)),
            threads: state.threads.len(),
            turns: state.turns.len(),
            inference_calls: state.inference_calls.len(),
            input_tokens: usage.input_tokens,
            output_tokens: usage.output_tokens,
            diagnostics: state.diagnostics.len(),
            warnings: state.warning_count(),
            error: None,
        }
    }

    /// The row of a bundle that could not be reduced.
    pub(crate) fn failed(path: &str, error: &ReduceError) -> Row {
        Row {
            path: path.to_owned(),
            rollout_id: String::new(),
            status: Status::Incomplete,
            complete: false,
            started_at_unix_ms: None,
            duration_ms: None,
            threads: 0,
            turns: 0,
            inference_calls: 0,
            input_tokens: 0,
            output_tokens: 0,
            diagnostics: 0,
            warnings: 0,
            error: Some(error.to_string()),
        }
    }

    /// The bundle's name.
    pub(crate) fn path(&self) -> &str {
        &self.path
    }
}

impl Watched {
    /// The bundle in `dir`, read only inside `within` (the canonical root).
    pub(crate) fn new(dir: PathBuf, within: &Path, prices: Option<Arc<Prices>>) -> Watched {
        Watched {
            source: crate::import::LiveSource::new(dir),
            within: within.to_path_buf(),
            live: None,
            current: None,
            page: None,
            last_growth: Instant::now(),
            prices,
        }
    }

    /// The static page, once the graph no longer changes.
    pub(crate) fn final_page(&self) -> Option<Arc<String>> {
        self.page.clone()
    }

    /// The bundle of ours to read and the directory its files must lie in: the bundle found
    /// and the served root, or (a Codex bundle) its import, brought up to date, and the
    /// import's own directory.
    pub(crate) fn reading(&mut self) -> Result<(PathBuf, PathBuf), ReduceError> {
        let dir = self.source.refresh()?.to_path_buf();
        let within = self.source.within(&self.within);
        Ok((dir, within))
    }

    /// Feeds what was appended and returns the graph's version, JSON and index row.
    pub(crate) fn state(&mut self, name: &str) -> Result<Current, ReduceError> {
        let (dir, within) = self.reading()?;
        if self.live.is_none() && self.current.is_none() {
            self.live = Some(LiveBundle::open_within(&dir, Some(&within))?);
        }
        let Some(live) = self.live.as_mut() else {
            // Ended and finished: the graph no longer changes.
            return self.current.clone().ok_or_else(|| ReduceError::Io {
                action: "reduce",
                path: dir,
                source: std::io::Error::other("no graph"),
            });
        };
        if live.poll()? {
            self.last_growth = Instant::now();
        }
        let lines = live.replay().lines();
        let ended = live.replay().is_ended();
        let idle = self.last_growth.elapsed() >= IDLE;
        // Version: twice the lines applied, plus one once the graph is final.
        let version = lines * 2 + u64::from(ended || idle);
        if let Some(current) = &self.current {
            if current.0 == version {
                return Ok(current.clone());
            }
        }
        let state = if ended {
            match self.live.take() {
                Some(live) => live.finish()?,
                None => reduce_bundle_within(&dir, Some(&within))?,
            }
        } else if idle {
            // Never ended and quiet: what the batch reducer says about it now.
            reduce_bundle_within(&dir, Some(&within))?
        } else {
            live.replay().state().clone()
        };
        let prices = self.prices.as_deref();
        let json = live_json(version, &state, prices);
        self.page = (ended || idle).then(|| {
            let payload_url = format!("/api/payload/{}/", url_name(name));
            Arc::new(final_page(name, &payload_url, &state, prices))
        });
        let current = (version, Arc::new(json), Row::of(name, &state));
        self.current = Some(current.clone());
        Ok(current)
    }
}

/// A served page: the same viewer, its data polled from `state_url` and bodies fetched from
/// `payload_url` + seq.
pub(crate) fn live_page(name: &str, state_url: &str, payload_url: &str) -> String {
    let config = PageConfig {
        bundle: name,
        state_url: Some(state_url),
        payload_url: Some(payload_url),
        omitted_bodies: 0,
    };
    page(name, &config, None, "", PageForm::Served)
}

/// A served page of a graph that no longer changes: the static page (skeleton and shards
/// inline, parsed as it loads), its bodies fetched from `payload_url` + seq.
fn final_page(
    name: &str,
    payload_url: &str,
    state: &RolloutState,
    prices: Option<&Prices>,
) -> String {
    let config = PageConfig {
        bundle: name,
        state_url: None,
        payload_url: Some(payload_url),
        omitted_bodies: 0,
    };
    page_priced(name, &config, Some(state), "", PageForm::Served, prices)
}

/// What a served page polls: `{"version", "skeleton", "shards": {"map:key": {...}}}`.
fn live_json(version: u64, state: &RolloutState, prices: Option<&Prices>) -> String {
    let mut out = format!("{{\"version\":{version},\"skeleton\":");
    let mut skeleton = data::skeleton(state);
    skeleton.cost = prices.map(|p| data::cost_view(state, p));
    out.push_str(&serde_json::to_string(&skeleton).unwrap_or_default());
    out.push_str(",\"shards\":{");
    for (i, (map, key, json)) in data::shards(state).into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "\"{map}:{key}\":{json}");
    }
    out.push_str("}}");
    out
}
