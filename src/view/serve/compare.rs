//! serve's compare page: `/compare` lets the reader choose two of the bundles under the root,
//! `/compare?a=<bundle>&b=<bundle>` compares them (the page `view A --compare B` writes, its
//! data fetched from `/api/compare`), and `/assets/compare.{js,css}` are its script and
//! styles.
//!
//! Invariant: both bundles are named through the index ([`Bundles::find`]: 403 for a name
//! outside the root, 404 for one that is not a bundle, as on every route) and read only inside
//! the root (a Codex bundle: its import, read as every route reads it, through the bundle's
//! worker); the page runs nothing inline (its script and styles come from `/assets/`), and
//! its data is the library's diff, as `tracing-rollout diff --json` would print it.

use super::bundles::{Bundles, Found};
use super::message::{Request, Response, HTML, JSON};
use super::names::url_name;
use crate::diff::DiffOptions;
use crate::reduce::{reduce_bundle_within, ReduceError, RolloutState};
use crate::view::compare::{compare_json, compare_page, SCRIPT, STYLE};
use crate::view::PageForm;

/// `/compare`: with `a` and `b`, the page comparing those bundles; without, the page that
/// lists the bundles to choose two.
pub(crate) fn page(bundles: &Bundles, request: &Request, _: &str) -> Response {
    let (Some(a), Some(b)) = (request.query_param("a"), request.query_param("b")) else {
        let chooser = compare_page("", "", None, None, PageForm::Served);
        return Response::new(200, HTML, chooser.into_bytes());
    };
    let (a, b) = match (bundles.find(a), bundles.find(b)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(refused), _) | (_, Err(refused)) => return refused,
    };
    let data_url = format!(
        "/api/compare?a={}&b={}",
        url_name(&a.name),
        url_name(&b.name)
    );
    let html = compare_page(&a.name, &b.name, None, Some(&data_url), PageForm::Served);
    Response::new(200, HTML, html.into_bytes())
}

/// `/api/compare?a=<bundle>&b=<bundle>`: both bundles reduced (on this handler's thread) and
/// diffed, as the page's data.
pub(crate) fn data(bundles: &Bundles, request: &Request, _: &str) -> Response {
    let (Some(a), Some(b)) = (request.query_param("a"), request.query_param("b")) else {
        return Response::text(400, "name two bundles: /api/compare?a=<bundle>&b=<bundle>");
    };
    let (a, b) = match (bundles.find(a), bundles.find(b)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(refused), _) | (_, Err(refused)) => return refused,
    };
    let states = reduced(bundles, &a).and_then(|sa| Ok((sa, reduced(bundles, &b)?)));
    match states {
        Ok((sa, sb)) => {
            let json = compare_json(&sa, &sb, &DiffOptions::default());
            Response::new(200, JSON, json.into_bytes())
        }
        Err(e) => Response::text(500, &e.to_string()),
    }
}

/// The graph of one bundle found, reduced on this handler's thread from the bundle of ours
/// its worker reads for it: the bundle itself inside the root, or (a Codex bundle) its
/// import, brought up to date, inside the import's own directory.
fn reduced(bundles: &Bundles, found: &Found) -> Result<RolloutState, ReduceError> {
    let reading = bundles.with(found, |_, watched| watched.reading());
    let (dir, within) = match reading {
        Some(reading) => reading?,
        None => (found.dir.clone(), bundles.root().to_path_buf()),
    };
    reduce_bundle_within(&dir, Some(&within))
}

/// `/assets/compare.js`.
pub(crate) fn script(_: &Bundles, _: &Request, _: &str) -> Response {
    Response::asset("text/javascript; charset=utf-8", SCRIPT)
}

/// `/assets/compare.css`.
pub(crate) fn style(_: &Bundles, _: &Request, _: &str) -> Response {
    Response::asset("text/css; charset=utf-8", STYLE)
}
