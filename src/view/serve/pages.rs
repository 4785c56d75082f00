//! The server's own pages: the index of bundles, each bundle's viewer, the graph it polls, a
//! payload's body, and the compiled-in assets the pages load.
//!
//! Invariant: a handler reads a bundle only through the index ([`Bundles::find`]) and the
//! library's readers with the served root as `within`; an error reading a bundle is an answer
//! (404 for a seq that is not a payload, 500 with the reader's message otherwise), never a
//! panic or a dropped connection.

use super::bundles::Bundles;
use super::live::{live_page, Row};
use super::message::{Request, Response, HTML, JSON};
use super::names::url_name;
use crate::format::{payload_body_within, ReadError};

const INDEX: &str = include_str!("../assets/index.html");
const INDEX_SCRIPT: &str = include_str!("../assets/index.js");
const INDEX_STYLE: &str = include_str!("../assets/index.css");

/// The answer when the worker owning a bundle failed mid-request.
fn worker_failed() -> Response {
    Response::text(500, "reading the bundle failed; try again")
}

/// `/`: the index page (its rows come from `/api/bundles`).
pub(crate) fn index_page(_: &Bundles, _: &Request, _: &str) -> Response {
    Response::asset(HTML, INDEX)
}

/// `/assets/<name>`: the script and style sheets of the pages.
pub(crate) fn asset(_: &Bundles, _: &Request, name: &str) -> Response {
    match name {
        "viewer.js" => Response::asset("text/javascript; charset=utf-8", super::super::SCRIPT),
        "viewer.css" => Response::asset("text/css; charset=utf-8", super::super::STYLE),
        "index.js" => Response::asset("text/javascript; charset=utf-8", INDEX_SCRIPT),
        "index.css" => Response::asset("text/css; charset=utf-8", INDEX_STYLE),
        _ => Response::not_found("no such asset"),
    }
}

/// `/api/bundles`: every bundle under the root with its figures, newest first.
pub(crate) fn bundles_json(bundles: &Bundles, _: &Request, _: &str) -> Response {
    let mut rows: Vec<Row> =
        bundles.each(bundles.all(), |name, watched| match watched.state(name) {
            Ok((_, _, row)) => row,
            Err(e) => Row::failed(name, &e),
        });
    rows.sort_by(|a, b| {
        b.started_at_unix_ms
            .cmp(&a.started_at_unix_ms)
            .then_with(|| a.path().cmp(b.path()))
    });
    let json = serde_json::to_vec(&rows).unwrap_or_else(|_| b"[]".to_vec());
    Response::new(200, JSON, json)
}

/// `/b/<bundle>/`: the bundle's final page once its graph no longer changes, else a live
/// page that polls the graph.
pub(crate) fn viewer(bundles: &Bundles, _: &Request, rest: &str) -> Response {
    let found = match bundles.find(rest.strip_suffix('/').unwrap_or(rest)) {
        Ok(found) => found,
        Err(response) => return response,
    };
    let page = bundles.with(&found, |name, watched| {
        if watched.state(name).is_ok() {
            if let Some(page) = watched.final_page() {
                return page.as_bytes().to_vec();
            }
        }
        let enc = url_name(name);
        live_page(
            name,
            &format!("/api/state/{enc}"),
            &format!("/api/payload/{enc}/"),
        )
        .into_bytes()
    });
    match page {
        Some(page) => Response::new(200, HTML, page),
        None => worker_failed(),
    }
}

/// `/api/state/<bundle>?after=<version>`: the graph, or 204 while it is still the version
/// the page has.
pub(crate) fn state_json(bundles: &Bundles, request: &Request, rest: &str) -> Response {
    let found = match bundles.find(rest) {
        Ok(found) => found,
        Err(response) => return response,
    };
    let after: Option<u64> = request.query_param("after").and_then(|v| v.parse().ok());
    let answer = bundles.with(&found, move |name, watched| match watched.state(name) {
        Ok((version, _, _)) if Some(version) == after => Response::text(204, ""),
        Ok((_, json, _)) => Response::new(200, JSON, json.as_bytes().to_vec()),
        Err(e) => Response::text(500, &e.to_string()),
    });
    answer.unwrap_or_else(worker_failed)
}

/// `/api/payload/<bundle>/<seq>`: one payload's whole body, read on the request's own thread
/// (no reducer needed).
pub(crate) fn payload(bundles: &Bundles, _: &Request, rest: &str) -> Response {
    let Some((name, seq)) = rest.rsplit_once('/') else {
        return Response::not_found("no such payload");
    };
    let Ok(seq) = seq.parse::<u64>() else {
        return Response::not_found("no such payload");
    };
    let found = match bundles.find(name) {
        Ok(found) => found,
        Err(response) => return response,
    };
    // A Codex bundle's payloads are its import's (the worker holding it brings it up to date).
    let reading = bundles.with(&found, |_, watched| watched.reading().ok());
    let (dir, within) = match reading.flatten() {
        Some(target) => target,
        None => (found.dir.clone(), bundles.root().to_path_buf()),
    };
    match payload_body_within(&dir, seq, Some(&within)) {
        Ok(text) => Response::new(200, JSON, text.into_bytes()),
        Err(ReadError::NotAPayload { .. }) => Response::not_found("no such payload"),
        Err(e) => Response::text(500, &e.to_string()),
    }
}
