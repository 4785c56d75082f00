//! `tracing-rollout serve`: a local HTTP server with an index of every bundle under a root and
//! each bundle's viewer, live while the bundle is being written.
//!
//! Invariant: the server reads only bundles it found itself by walking the root without
//! following symlinks (a directory holding a regular `trace.jsonl`), named by their path
//! relative to the root; a request names one of those or gets 403 (a `.`/`..`/empty component,
//! a backslash or NUL, a resolved path outside the root) or 404. Each bundle has one
//! incremental reducer ([`LiveBundle`]) fed only the lines appended since the last request;
//! bodies come through [`payload_body`]. On a loopback address, requests whose `Host` is not
//! a loopback name are refused (no DNS rebinding).

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tiny_http::{Header, Method, Request, Response};

use super::{data, page, PageConfig};
use crate::reduce::{self, payload_body, LiveBundle, ReduceError, RolloutState, Status};

const INDEX: &str = include_str!("assets/index.html");

/// A response with its body in memory.
type Reply = Response<std::io::Cursor<Vec<u8>>>;
/// A bundle the server watches.
type Shared = Rc<RefCell<Watched>>;
/// Directories below the root searched for bundles, at most.
const MAX_DEPTH: usize = 8;
/// Bundles listed, at most.
const MAX_BUNDLES: usize = 10_000;
/// A bundle that has not grown for this long and never ended is shown as its final
/// reduction (status `incomplete`) instead of `running`.
const IDLE: Duration = Duration::from_secs(15);

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The root is not a readable directory.
    #[error("open root {}: {source}", path.display())]
    Root {
        /// The root given.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The address could not be bound.
    #[error("listen on {addr}: {message}")]
    Bind {
        /// The address asked for.
        addr: String,
        /// What went wrong.
        message: String,
    },
}

/// A bound server; [`run`](Self::run) answers requests until the process ends.
pub struct Server {
    http: tiny_http::Server,
    addr: SocketAddr,
    root: PathBuf,
    bundles: RefCell<HashMap<String, Shared>>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.addr)
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

/// Binds `addr` (e.g. `127.0.0.1:8040`; port 0 picks a free one) to serve the bundles under
/// `root`.
///
/// # Examples
///
/// ```no_run
/// let server = tracing_rollout::view::serve("traces", "127.0.0.1:0")?;
/// println!("http://{}/", server.addr());
/// server.run();
/// # Ok::<(), tracing_rollout::view::ServeError>(())
/// ```
pub fn serve(root: impl AsRef<Path>, addr: &str) -> Result<Server, ServeError> {
    let root = root.as_ref();
    let canonical = std::fs::canonicalize(root).map_err(|source| ServeError::Root {
        path: root.to_path_buf(),
        source,
    })?;
    if !canonical.is_dir() {
        return Err(ServeError::Root {
            path: root.to_path_buf(),
            source: std::io::Error::other("not a directory"),
        });
    }
    let http = tiny_http::Server::http(addr).map_err(|e| ServeError::Bind {
        addr: addr.to_owned(),
        message: e.to_string(),
    })?;
    let bound = http.server_addr().to_ip().ok_or_else(|| ServeError::Bind {
        addr: addr.to_owned(),
        message: "not an IP address".to_owned(),
    })?;
    Ok(Server {
        http,
        addr: bound,
        root: canonical,
        bundles: RefCell::new(HashMap::new()),
    })
}

/// One bundle the server found, with its reducer.
#[derive(Debug)]
struct Watched {
    /// The directory found, and the bundle of ours read for it (a Codex bundle's import).
    source: crate::import::LiveSource,
    live: Option<LiveBundle>,
    /// The graph as last served: version, JSON, and the index row.
    current: Option<(u64, Arc<String>, Row)>,
    /// Once the graph is final: its static page, which opens faster than polling the JSON.
    page: Option<Arc<String>>,
    last_growth: Instant,
    /// The error that stopped reduction, if any (shown in the index).
    error: Option<String>,
}

/// One line of the index.
#[derive(Debug, Clone, Serialize)]
struct Row {
    path: String,
    rollout_id: String,
    status: Status,
    complete: bool,
    started_at_unix_ms: Option<u64>,
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
    fn failed(path: &str, error: &ReduceError) -> Row {
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
}

impl Watched {
    fn new(dir: PathBuf) -> Watched {
        Watched {
            source: crate::import::LiveSource::new(dir),
            live: None,
            current: None,
            page: None,
            last_growth: Instant::now(),
            error: None,
        }
    }

    /// Feeds what was appended and returns the graph's version, JSON and index row.
    fn state(&mut self, path: &str) -> Result<(u64, Arc<String>, Row), ReduceError> {
        let result = self.refresh(path);
        if let Err(e) = &result {
            self.error = Some(e.to_string());
        }
        result
    }

    fn refresh(&mut self, path: &str) -> Result<(u64, Arc<String>, Row), ReduceError> {
        // A Codex bundle: what Codex wrote since the last request is imported first.
        let dir = match self.source.refresh() {
            Ok(dir) => dir.to_path_buf(),
            Err(e) => {
                let source = std::io::Error::other(e.to_string());
                let path = self.source.found().to_path_buf();
                let action = "import";
                return Err(ReduceError::Io {
                    action,
                    path,
                    source,
                });
            }
        };
        if self.live.is_none() && self.current.is_none() {
            self.live = Some(LiveBundle::open(&dir)?);
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
                None => reduce::reduce_bundle(&dir)?,
            }
        } else if idle {
            // Never ended and quiet: what the batch reducer says about it now.
            reduce::reduce_bundle(&dir)?
        } else {
            match &self.live {
                Some(live) => live.replay().state().clone(),
                None => reduce::reduce_bundle(&dir)?,
            }
        };
        let json = live_json(version, &state);
        self.page = (ended || idle).then(|| {
            let payload_url = format!("/api/payload/{}/", url_name(path));
            Arc::new(final_page(path, &payload_url, &state))
        });
        let current = (version, Arc::new(json), Row::of(path, &state));
        self.current = Some(current.clone());
        Ok(current)
    }
}

impl Server {
    /// The address bound.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The canonical root served.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Answers requests, one at a time, until the process ends (the reducers are not shared
    /// between threads; a page asks for little at once).
    pub fn run(self) {
        while let Ok(request) = self.http.recv() {
            self.answer(request);
        }
    }

    fn answer(&self, request: Request) {
        let response = self.route(&request);
        // A client that went away is not the server's problem.
        let _ = request.respond(response);
    }

    fn route(&self, request: &Request) -> Reply {
        if *request.method() != Method::Get && *request.method() != Method::Head {
            return text(405, "only GET");
        }
        if self.addr.ip().is_loopback() && !loopback_host(request) {
            return text(403, "refused: the Host header is not a loopback name");
        }
        let url = request.url();
        let (path, query) = url.split_once('?').unwrap_or((url, ""));
        if path == "/" || path == "/index.html" {
            return body(200, "text/html; charset=utf-8", INDEX.as_bytes().to_vec());
        }
        if path == "/api/bundles" {
            return self.index();
        }
        if let Some(rest) = path.strip_prefix("/b/") {
            return self.viewer(rest.strip_suffix('/').unwrap_or(rest));
        }
        if let Some(rest) = path.strip_prefix("/api/state/") {
            let after: Option<u64> = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("after="))
                .and_then(|v| v.parse().ok());
            return self.state_json(rest, after);
        }
        if let Some(rest) = path.strip_prefix("/api/payload/") {
            return self.payload(rest);
        }
        text(404, "not found")
    }

    /// `/b/<bundle>/`: the bundle's final page once its graph no longer changes, else a live
    /// page that polls the graph.
    fn viewer(&self, rel: &str) -> Reply {
        let (key, watched) = match self.bundle(rel) {
            Ok(found) => found,
            Err(response) => return response,
        };
        let mut watched = watched.borrow_mut();
        if watched.state(&key).is_ok() {
            if let Some(page) = &watched.page {
                return body(200, "text/html; charset=utf-8", page.as_bytes().to_vec());
            }
        }
        let enc = url_name(&key);
        let page = live_page(
            &key,
            &format!("/api/state/{enc}"),
            &format!("/api/payload/{enc}/"),
        );
        body(200, "text/html; charset=utf-8", page.into_bytes())
    }

    /// `/api/state/<bundle>?after=<version>`: the graph, or 204 while it is still the
    /// version the page has.
    fn state_json(&self, rel: &str, after: Option<u64>) -> Reply {
        let (key, watched) = match self.bundle(rel) {
            Ok(found) => found,
            Err(response) => return response,
        };
        let mut watched = watched.borrow_mut();
        match watched.state(&key) {
            Ok((version, _, _)) if Some(version) == after => text(204, ""),
            Ok((_, json, _)) => body(200, "application/json", json.as_bytes().to_vec()),
            Err(e) => text(500, &e.to_string()),
        }
    }

    /// `/api/payload/<bundle>/<seq>`: one payload's whole body.
    fn payload(&self, rest: &str) -> Reply {
        let Some((rel, seq)) = rest.rsplit_once('/') else {
            return text(404, "no such payload");
        };
        let Ok(seq) = seq.parse::<u64>() else {
            return text(404, "no such payload");
        };
        let dir = match self.bundle(rel) {
            Ok((_, watched)) => watched.borrow().source.bundle().to_path_buf(),
            Err(response) => return response,
        };
        match payload_body(&dir, seq) {
            Ok(text) => body(200, "application/json", text.into_bytes()),
            Err(ReduceError::NotAPayload { .. }) => text(404, "no such payload"),
            Err(e) => text(500, &e.to_string()),
        }
    }

    /// The index: every bundle under the root with its figures.
    fn index(&self) -> Reply {
        let found = self.rescan();
        let mut rows = Vec::new();
        for (key, watched) in found {
            let mut watched = watched.borrow_mut();
            match watched.state(&key) {
                Ok((_, _, row)) => rows.push(row),
                Err(e) => rows.push(Row::failed(&key, &e)),
            }
        }
        rows.sort_by(|a, b| {
            b.started_at_unix_ms
                .cmp(&a.started_at_unix_ms)
                .then_with(|| a.path.cmp(&b.path))
        });
        let json = serde_json::to_vec(&rows).unwrap_or_else(|_| b"[]".to_vec());
        body(200, "application/json", json)
    }

    /// Walks the root for bundles; returns them all, keeping the reducers already made.
    fn rescan(&self) -> Vec<(String, Shared)> {
        let mut found = Vec::new();
        find_bundles(&self.root, &self.root, 0, &mut found);
        let mut bundles = self.bundles.borrow_mut();
        found
            .into_iter()
            .map(|(key, dir)| {
                let watched = bundles
                    .entry(key.clone())
                    .or_insert_with(|| Rc::new(RefCell::new(Watched::new(dir))));
                (key, Rc::clone(watched))
            })
            .collect()
    }

    /// The bundle a URL path segment names (percent-encoded, relative to the root).
    fn bundle(&self, encoded: &str) -> Result<(String, Shared), Reply> {
        let Some(mut rel) = decode_path(encoded) else {
            return Err(text(403, "refused: not a path inside the root"));
        };
        if rel.is_empty() {
            rel = ".".to_owned();
        }
        if !is_plain_relative(&rel) {
            return Err(text(403, "refused: not a path inside the root"));
        }
        let known = self.bundles.borrow().get(&rel).cloned();
        let watched = match known {
            Some(w) => w,
            None => match self.rescan().into_iter().find(|(key, _)| *key == rel) {
                Some((_, w)) => w,
                None => {
                    // A name that resolves outside the root (through a symlink) is refused as such.
                    let outside = std::fs::canonicalize(self.root.join(&rel))
                        .is_ok_and(|real| !real.starts_with(&self.root));
                    return Err(if outside {
                        text(403, "refused: not a path inside the root")
                    } else {
                        text(404, "no bundle there")
                    });
                }
            },
        };
        // Belt and braces: the directory must still resolve inside the root.
        let dir = watched.borrow().source.found().to_path_buf();
        match std::fs::canonicalize(&dir) {
            Ok(real) if real.starts_with(&self.root) => Ok((rel, watched)),
            _ => Err(text(403, "refused: not a path inside the root")),
        }
    }
}

/// A served page: the same viewer, its data polled from `state_url` and bodies fetched from
/// `payload_url` + seq.
fn live_page(name: &str, state_url: &str, payload_url: &str) -> String {
    let config = PageConfig {
        bundle: name,
        state_url: Some(state_url),
        payload_url: Some(payload_url),
        omitted_bodies: 0,
    };
    page(name, &config, None, "")
}

/// A served page of a graph that no longer changes: the static page (skeleton and shards
/// inline, parsed as it loads), its bodies fetched from `payload_url` + seq.
fn final_page(name: &str, payload_url: &str, state: &RolloutState) -> String {
    let config = PageConfig {
        bundle: name,
        state_url: None,
        payload_url: Some(payload_url),
        omitted_bodies: 0,
    };
    page(name, &config, Some(state), "")
}

/// What a served page polls: `{"version", "skeleton", "shards": {"map:key": {...}}}`.
fn live_json(version: u64, state: &RolloutState) -> String {
    let mut out = format!("{{\"version\":{version},\"skeleton\":");
    out.push_str(&serde_json::to_string(&data::skeleton(state)).unwrap_or_default());
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

/// Directories under `dir` holding a regular `trace.jsonl`, keyed by their path relative to
/// `root` with `/` separators. Symlinks are not followed.
fn find_bundles(root: &Path, dir: &Path, depth: usize, out: &mut Vec<(String, PathBuf)>) {
    if depth > MAX_DEPTH || out.len() >= MAX_BUNDLES {
        return;
    }
    let trace = dir.join("trace.jsonl");
    if std::fs::symlink_metadata(&trace).is_ok_and(|m| m.file_type().is_file()) {
        if let Ok(rel) = dir.strip_prefix(root) {
            let key: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            let key = key.join("/");
            if key.is_empty() {
                out.push((".".to_owned(), dir.to_path_buf()));
            } else if is_plain_relative(&key) {
                out.push((key, dir.to_path_buf()));
            }
        }
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    dirs.sort();
    for sub in dirs {
        find_bundles(root, &sub, depth + 1, out);
    }
}

/// A `/`-separated relative path of plain names (`.` alone names the root itself).
fn is_plain_relative(rel: &str) -> bool {
    if rel == "." {
        return true;
    }
    !rel.is_empty()
        && !rel.contains(['\\', '\0'])
        && rel.split('/').all(|part| {
            !part.is_empty()
                && part != "."
                && part != ".."
                && matches!(
                    Path::new(part).components().next(),
                    Some(Component::Normal(_))
                )
        })
}

/// Percent-decodes a URL path (`None` when the result is not UTF-8 or an escape is bad).
fn decode_path(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// A bundle's name in URLs: the root itself is `.`, which a browser drops from a path, so
/// its URLs name it by nothing (`/api/state/`, `/api/payload//6`).
fn url_name(key: &str) -> String {
    if key == "." {
        String::new()
    } else {
        encode_path(key)
    }
}

/// Percent-encodes each path segment, keeping `/` between them.
fn encode_path(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The request's `Host` is a loopback name (or absent, as from HTTP/1.0 clients).
fn loopback_host(request: &Request) -> bool {
    let Some(host) = request
        .headers()
        .iter()
        .find(|h| h.field.equiv("Host"))
        .map(|h| h.value.as_str().to_ascii_lowercase())
    else {
        return true;
    };
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.split(':').next().unwrap_or("")
    };
    name == "localhost"
        || name == "::1"
        || name
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn body(status: u16, content_type: &str, data: Vec<u8>) -> Reply {
    let mut response = Response::from_data(data).with_status_code(status);
    for (name, value) in [
        ("Content-Type", content_type),
        ("Cache-Control", "no-store"),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
    ] {
        if let Ok(header) = Header::from_bytes(name.as_bytes(), value.as_bytes()) {
            response.add_header(header);
        }
    }
    response
}

fn text(status: u16, message: &str) -> Reply {
    body(
        status,
        "text/plain; charset=utf-8",
        message.as_bytes().to_vec(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_relative_paths_name_bundles() {
        for good in [".", "a", "a/b", "run-1/bench", "a.b/c_d"] {
            assert!(is_plain_relative(good), "{good}");
        }
        for bad in [
            "", "..", "a/..", "../a", "a//b", "/a", "a/./b", "a\\b", "a\0b", "./a",
        ] {
            assert!(!is_plain_relative(bad), "{bad:?}");
        }
    }

    #[test]
    fn percent_decoding_rejects_bad_escapes() {
        assert_eq!(decode_path("a%2Fb").as_deref(), Some("a/b"));
        assert_eq!(decode_path("%2e%2e").as_deref(), Some(".."));
        assert_eq!(decode_path("%zz"), None);
        assert_eq!(decode_path("%2"), None);
        assert_eq!(decode_path("%ff"), None);
        assert_eq!(encode_path("a b/c"), "a%20b/c");
    }
}
