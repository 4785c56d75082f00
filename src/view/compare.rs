//! The compare page (`tracing-rollout view A --compare B`): the two rollouts' threads as lanes
//! of aligned steps, the first divergence marked and selected on load, the diverging pair's
//! two requests shown as a diff of their items, the keyboard stepping from divergence to
//! divergence.
//!
//! Invariant: the page draws the library's [`diff`](crate::diff::diff) of the two graphs and
//! computes no alignment of its own, so the page and `tracing-rollout diff --json` never
//! disagree; beside the report it is given only what each step's inspector shows (the call's
//! model, usage, timing and response items). Like the viewer it is self-contained: styles,
//! script and data inline, nothing fetched from the network.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{
    bundle_name, fill, page_assets, push_html_text, push_script_json, write_page, PageForm,
};
use crate::diff::{diff, Diff, DiffOptions};
use crate::reduce::{self, ItemKind, ReduceError, RolloutState, Status, Usage};

const TEMPLATE: &str = include_str!("assets/compare.html");
pub(super) const STYLE: &str = concat!(
    include_str!("assets/viewer.css"),
    include_str!("assets/compare.css")
);
/// The compare page's script: the viewer's common helpers and `compare.js`, in one function
/// scope.
pub(super) const SCRIPT: &str = concat!(
    "(function () {\n'use strict';\n",
    include_str!("assets/common.js"),
    include_str!("assets/compare.js"),
    "})();\n"
);

/// Differences between two requests the page lists per divergence, at most.
const PAGE_REQUEST_ITEMS: usize = 200;

/// What the page is given: the report, and per side the inference calls its steps name.
#[derive(Debug, Serialize)]
struct CompareData<'a> {
    diff: Diff,
    calls: [BTreeMap<&'a str, CallInfo<'a>>; 2],
}

/// One inference call as a step's inspector shows it.
#[derive(Debug, Serialize)]
struct CallInfo<'a> {
    model: Option<&'a str>,
    provider: Option<&'a str>,
    status: Status,
    error: Option<&'a str>,
    /// Start, ms since its rollout's start (from the ns clock where the graph has it).
    started_ms: f64,
    duration_ns: Option<u64>,
    usage: Option<&'a Usage>,
    request_items: usize,
    response: Vec<ItemInfo<'a>>,
}

/// One response item.
#[derive(Debug, Serialize)]
struct ItemInfo<'a> {
    kind: ItemKind,
    role: Option<&'a str>,
    name: Option<&'a str>,
    text: &'a str,
}

/// What a compare page knows about where its data is.
#[derive(Debug, Serialize)]
struct CompareConfig<'a> {
    a: &'a str,
    b: &'a str,
    /// Served page: where to fetch the data (`None`: it is inline).
    #[serde(skip_serializing_if = "Option::is_none")]
    data_url: Option<&'a str>,
}

/// Reduces the bundles in `a` and `b` and renders the page comparing them as one
/// self-contained HTML page.
///
/// # Examples
///
/// ```no_run
/// use tracing_rollout::diff::DiffOptions;
/// use tracing_rollout::view::render_compare_html;
///
/// let html = render_compare_html("traces/run-a", "traces/run-b", &DiffOptions::default())?;
/// std::fs::write("compare.html", html).unwrap();
/// # Ok::<(), tracing_rollout::reduce::ReduceError>(())
/// ```
pub fn render_compare_html(
    a: impl AsRef<Path>,
    b: impl AsRef<Path>,
    options: &DiffOptions,
) -> Result<String, ReduceError> {
    let (a, b) = (a.as_ref(), b.as_ref());
    let (state_a, state_b) = (reduce::reduce_bundle(a)?, reduce::reduce_bundle(b)?);
    let json = compare_json(&state_a, &state_b, options);
    Ok(compare_page(
        &bundle_name(a),
        &bundle_name(b),
        Some(&json),
        None,
        PageForm::Static,
    ))
}

/// Renders the page comparing `a` with `b` to `out` (default `<a>/compare.html`); returns the
/// path written.
pub fn write_compare_html(
    a: impl AsRef<Path>,
    b: impl AsRef<Path>,
    out: Option<&Path>,
    options: &DiffOptions,
) -> Result<PathBuf, ReduceError> {
    let a = a.as_ref();
    let html = render_compare_html(a, b, options)?;
    write_page(
        out.map_or_else(|| a.join("compare.html"), Path::to_path_buf),
        &html,
    )
}

/// The page's data as JSON: the diff of `a` and `b` (listing up to [`PAGE_REQUEST_ITEMS`]
/// request differences per divergence), and the calls its steps name.
pub(super) fn compare_json(a: &RolloutState, b: &RolloutState, options: &DiffOptions) -> String {
    let mut options = options.clone();
    options.max_request_items = options.max_request_items.max(PAGE_REQUEST_ITEMS);
    let report = diff(a, b, &options);
    let mut calls = [BTreeMap::new(), BTreeMap::new()];
    for thread in &report.threads {
        for step in &thread.steps {
            for (side, (state, at)) in [(a, &step.a), (b, &step.b)].into_iter().enumerate() {
                if let Some(info) = at
                    .as_ref()
                    .and_then(|s| call_info(state, &s.inference_call_id))
                {
                    calls[side].insert(info.0, info.1);
                }
            }
        }
    }
    let data = CompareData {
        diff: report,
        calls,
    };
    serde_json::to_string(&data).unwrap_or_else(|_| "{}".to_owned())
}

fn call_info<'a>(state: &'a RolloutState, id: &str) -> Option<(&'a str, CallInfo<'a>)> {
    let (key, call) = state.inference_calls.get_key_value(id)?;
    let e = &call.execution;
    let response = call
        .response_items
        .iter()
        .filter_map(|i| state.conversation_items.get(i))
        .map(|i| ItemInfo {
            kind: i.kind,
            role: i.role.as_deref(),
            name: i.name.as_deref(),
            text: &i.text,
        })
        .collect();
    let info = CallInfo {
        model: call.model.as_deref(),
        provider: call.provider.as_deref(),
        status: e.status,
        error: e.error.as_deref(),
        started_ms: match e.started_ns {
            Some(ns) => ns as f64 / 1e6,
            None => e
                .started_at_unix_ms
                .saturating_sub(state.started_at_unix_ms.unwrap_or(e.started_at_unix_ms))
                as f64,
        },
        duration_ns: e.duration_ns,
        usage: call.usage.as_ref(),
        request_items: state.request_items(call).len(),
        response,
    };
    Some((key.as_str(), info))
}

/// The page: its config, and (static page) its data inline; its script and styles inline
/// (`Static`) or from the server (`Served`, `/assets/compare.js` and `compare.css`).
pub(super) fn compare_page(
    name_a: &str,
    name_b: &str,
    data: Option<&str>,
    data_url: Option<&str>,
    form: PageForm,
) -> String {
    let config = CompareConfig {
        a: name_a,
        b: name_b,
        data_url,
    };
    let mut inline = String::from("<script type=\"application/json\" id=\"config\">");
    push_script_json(
        &mut inline,
        &serde_json::to_string(&config).unwrap_or_default(),
    );
    inline.push_str("</script>\n");
    if let Some(data) = data {
        inline.push_str("<script type=\"application/json\" id=\"data\">");
        push_script_json(&mut inline, data);
        inline.push_str("</script>\n");
    }
    let (policy, style, script) = page_assets(form, "compare", STYLE, SCRIPT);
    let (mut title, mut escaped_policy) = (String::new(), String::new());
    push_html_text(&mut title, &format!("{name_a} ↔ {name_b}"));
    push_html_text(&mut escaped_policy, &policy);
    fill(
        TEMPLATE,
        &[
            ("TITLE", &title),
            ("POLICY", &escaped_policy),
            ("STYLE", &style),
            ("SCRIPT", &script),
            ("DATA", &inline),
        ],
    )
}
