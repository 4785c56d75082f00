//! Which handler answers which path: the server's one table of routes.
//!
//! Invariant: every path the server answers is in [`ROUTES`], matched in order, exact paths
//! before prefixes; anything else is 404. A handler is a plain function of the bundles, the
//! admitted [`Request`] and the rest of the path after its prefix, so adding a page is one
//! line here and a handler in a file of its own (see `pages` for the server's own).

use super::bundles::Bundles;
use super::compare;
use super::message::{Request, Response};
use super::{pages, rollouts};

/// A page handler: the bundles, the request, and the path after the route's prefix (empty
/// for an exact route).
pub(crate) type Handler = fn(&Bundles, &Request, &str) -> Response;

/// How a route matches a request's path.
#[derive(Debug, Clone, Copy)]
pub(crate) enum At {
    /// This path exactly.
    Exact(&'static str),
    /// Every path that starts with this; the handler gets the rest.
    Prefix(&'static str),
}

/// One route.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Route {
    /// Where it applies.
    pub(crate) at: At,
    /// Who answers.
    pub(crate) handler: Handler,
}

/// Every route of the server.
pub(crate) const ROUTES: &[Route] = &[
    Route {
        at: At::Exact("/"),
        handler: pages::index_page,
    },
    Route {
        at: At::Exact("/index.html"),
        handler: pages::index_page,
    },
    Route {
        at: At::Exact("/api/bundles"),
        handler: pages::bundles_json,
    },
    Route {
        at: At::Exact("/api/index"),
        handler: rollouts::index_json,
    },
    Route {
        at: At::Exact("/compare"),
        handler: compare::page,
    },
    Route {
        at: At::Exact("/api/compare"),
        handler: compare::data,
    },
    Route {
        at: At::Exact("/assets/compare.js"),
        handler: compare::script,
    },
    Route {
        at: At::Exact("/assets/compare.css"),
        handler: compare::style,
    },
    Route {
        at: At::Prefix("/assets/"),
        handler: pages::asset,
    },
    Route {
        at: At::Prefix("/b/"),
        handler: pages::viewer,
    },
    Route {
        at: At::Prefix("/api/state/"),
        handler: pages::state_json,
    },
    Route {
        at: At::Prefix("/api/payload/"),
        handler: pages::payload,
    },
];

/// The answer of the route that matches `request`, or 404.
pub(crate) fn answer(bundles: &Bundles, request: &Request) -> Response {
    let path = request.path.as_str();
    let exact = ROUTES.iter().find_map(|route| match route.at {
        At::Exact(p) if p == path => Some((route.handler, "")),
        _ => None,
    });
    let found = exact.or_else(|| {
        ROUTES.iter().find_map(|route| match route.at {
            At::Prefix(p) => path.strip_prefix(p).map(|rest| (route.handler, rest)),
            At::Exact(_) => None,
        })
    });
    match found {
        Some((handler, rest)) => handler(bundles, request, rest),
        None => Response::not_found("not found"),
    }
}
