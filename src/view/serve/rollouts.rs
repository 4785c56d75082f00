//! `/api/index`: the index page's rows (`view::index`), brought up to date for at most a
//! short budget per request and sent as what changed since the version the page has.
//!
//! Invariant: the rows are made from the bundles the server's index names (`bundles`), never
//! from a walk of its own, and read inside the served root; a request waits at most
//! [`BUDGET`] of summarising (plus another request's, which holds the rows meanwhile).

use std::time::Duration;

use super::bundles::Bundles;
use super::message::{Request, Response, JSON};

/// Summarising done per request, at most: a root of new bundles fills in over several polls.
const BUDGET: Duration = Duration::from_millis(250);

/// `/api/index?since=<version>`: `{"version", "full", "bundles", "pending", "currency",
/// "cut", "rows", "removed"}` (see `view::index`; `cut`: the limit that kept the server's walk
/// from listing every bundle under the root, or null).
pub(crate) fn index_json(bundles: &Bundles, request: &Request, _: &str) -> Response {
    let since: u64 = request
        .query_param("since")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let found = bundles.all().into_iter().map(|f| (f.name, f.dir));
    let mut rollouts = bundles.rollouts();
    let progress = rollouts.refresh(found, BUDGET);
    Response::new(
        200,
        JSON,
        rollouts.json(since, progress, bundles.cut()).into_bytes(),
    )
}
