//! The viewer: one self-contained HTML page per bundle (`tracing-rollout view`), and the local
//! server that shows every bundle under a root live (`tracing-rollout serve`, feature `cli`).
//!
//! Invariant: the page is the plain files of `assets/` (embedded with `include_str!`, no build
//! step) plus data, and nothing in it reaches the network: a static page carries the reduced
//! graph and the payload bodies inline, a served page asks only the server it came from. Bodies
//! come from the library's reader ([`BundleReader`](crate::format::BundleReader)) and are
//! embedded as separate inert `<script type="application/json">` elements, so the page parses
//! one only when an inspector opens it.
//!
//! This file owns the page (the template filled with styles, script and data, escaped for
//! `<script>` and HTML) and the static page's embedded bodies; `data` owns what the page is
//! given of the graph (skeleton and shards); `compare` owns the page comparing two rollouts
//! (`view A --compare B`), drawn from the library's diff; `serve` owns the server and the
//! forms of the page it serves.

mod compare;
mod data;
#[cfg(feature = "cli")]
mod index;
#[cfg(feature = "cli")]
mod serve;

use std::fmt::Write as _;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::cost::Prices;
use crate::reduce::{self, ReduceError, RolloutState};

pub use compare::{render_compare_html, write_compare_html};
#[cfg(feature = "cli")]
pub use serve::{serve, serve_with, ServeError, ServeOptions, Server};

const TEMPLATE: &str = include_str!("assets/viewer.html");
const STYLE: &str = include_str!("assets/viewer.css");
/// The viewer's script: the files of `assets/` by concern, in one function scope (declarations
/// shared, nothing global but `window.rolloutView`), `viewer.js` last because it starts the
/// page. `scriptAt` is the moment the script starts running.
const SCRIPT: &str = concat!(
    "(function () {\n'use strict';\nvar scriptAt = performance.now();\n",
    include_str!("assets/common.js"),
    include_str!("assets/model.js"),
    include_str!("assets/timeline.js"),
    include_str!("assets/inspector.js"),
    include_str!("assets/viewer.js"),
    "})();\n"
);

/// The policy of a served page: scripts and styles from the server only, nothing inline
/// runs. The page carries it in a `<meta>` element; every response of the server carries it
/// as a header, with `frame-ancestors 'none'` added (which a `<meta>` policy cannot hold).
macro_rules! served_policy {
    () => {
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src data:; connect-src 'self'; base-uri 'none'; form-action 'none'"
    };
}
#[cfg_attr(not(feature = "cli"), allow(dead_code))]
const SERVED_POLICY: &str = served_policy!();
/// [`SERVED_POLICY`] as the server's header: no page of another site may frame it.
#[cfg_attr(not(feature = "cli"), allow(dead_code))]
const SERVED_POLICY_HEADER: &str = concat!(served_policy!(), "; frame-ancestors 'none'");

/// Where a page's script and styles are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PageForm {
    /// Inline, allowed by their hashes (a static page is one self-contained file).
    Static,
    /// Loaded from the server's `/assets/`.
    #[cfg_attr(not(feature = "cli"), allow(dead_code))]
    Served,
}

/// Payload bodies embedded in a static page, at most, by default (64 MiB): a bigger bundle's
/// later bodies are left out, and the page says so where one is asked for.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 64 << 20;

/// What [`render_html`] embeds.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ViewOptions {
    /// Payload bodies embedded, at most, in bytes, in seq order; the rest are listed as left
    /// out. `0` embeds none.
    pub max_body_bytes: u64,
    /// Prices: the page shows each inference call's cost and the total (unpriced calls say
    /// why). Default: none.
    pub prices: Option<Arc<Prices>>,
}

impl Default for ViewOptions {
    fn default() -> Self {
        ViewOptions {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            prices: None,
        }
    }
}

/// What a page knows about where its data is.
#[derive(Debug, serde::Serialize)]
struct PageConfig<'a> {
    /// The bundle's directory name, for the title.
    bundle: &'a str,
    /// Served page: where to poll the graph (`None` in a static page, which has it inline).
    #[serde(skip_serializing_if = "Option::is_none")]
    state_url: Option<&'a str>,
    /// Served page: the URL a payload's seq is appended to.
    #[serde(skip_serializing_if = "Option::is_none")]
    payload_url: Option<&'a str>,
    /// Static page: bodies left out by [`ViewOptions::max_body_bytes`].
    omitted_bodies: u64,
}

/// Reduces the bundle in `dir` and renders its viewer as one self-contained HTML page.
///
/// # Examples
///
/// ```no_run
/// use tracing_rollout::view::{render_html, ViewOptions};
///
/// let html = render_html("traces/demo", &ViewOptions::default())?;
/// std::fs::write("demo.html", html).unwrap();
/// # Ok::<(), tracing_rollout::reduce::ReduceError>(())
/// ```
pub fn render_html(dir: impl AsRef<Path>, options: &ViewOptions) -> Result<String, ReduceError> {
    let dir = dir.as_ref();
    let state = reduce::reduce_bundle(dir)?;
    let mut bodies = String::new();
    let mut embedded = 0u64;
    let mut omitted = 0u64;
    crate::format::visit_records(dir, |record| {
        if record.left_out.is_some() {
            omitted += 1;
        }
        if let Some(body) = record.body {
            if embedded + body.len() as u64 > options.max_body_bytes {
                omitted += 1;
                return ControlFlow::Continue(());
            }
            embedded += body.len() as u64;
            let _ = write!(
                bodies,
                "<script type=\"application/json\" id=\"p{}\">",
                record.seq
            );
            push_script_json(&mut bodies, body);
            bodies.push_str("</script>\n");
        }
        ControlFlow::Continue(())
    })?;
    let name = bundle_name(dir);
    let config = PageConfig {
        bundle: &name,
        state_url: None,
        payload_url: None,
        omitted_bodies: omitted,
    };
    let prices = options.prices.as_deref();
    Ok(page_priced(
        &name,
        &config,
        Some(&state),
        &bodies,
        PageForm::Static,
        prices,
    ))
}

/// Renders the viewer of `dir` to `out` (default `<dir>/view.html`); returns the path written.
pub fn write_html(
    dir: impl AsRef<Path>,
    out: Option<&Path>,
    options: &ViewOptions,
) -> Result<PathBuf, ReduceError> {
    let dir = dir.as_ref();
    let html = render_html(dir, options)?;
    write_page(
        out.map_or_else(|| dir.join("view.html"), Path::to_path_buf),
        &html,
    )
}

/// Writes a page to `path`, owner-only (it holds every prompt); returns the path.
fn write_page(path: PathBuf, html: &str) -> Result<PathBuf, ReduceError> {
    crate::format::create_private(&path)
        .and_then(|mut file| std::io::Write::write_all(&mut file, html.as_bytes()))
        .map_err(|source| ReduceError::Io {
            action: "write",
            path: path.clone(),
            source,
        })?;
    Ok(path)
}

fn bundle_name(dir: &Path) -> String {
    std::fs::canonicalize(dir)
        .ok()
        .as_deref()
        .unwrap_or(dir)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "bundle".to_owned())
}

/// The template with its styles, script and data put in: the config and (static page) the
/// skeleton before the script, every shard and embedded body after it, each in its own inert
/// script element.
#[cfg(feature = "cli")]
fn page(
    title: &str,
    config: &PageConfig<'_>,
    state: Option<&RolloutState>,
    bodies: &str,
    form: PageForm,
) -> String {
    page_priced(title, config, state, bodies, form, None)
}

/// [`page`], with each inference call's cost when there are prices.
fn page_priced(
    title: &str,
    config: &PageConfig<'_>,
    state: Option<&RolloutState>,
    bodies: &str,
    form: PageForm,
    prices: Option<&Prices>,
) -> String {
    let mut data = String::new();
    data.push_str("<script type=\"application/json\" id=\"config\">");
    push_script_json(
        &mut data,
        &serde_json::to_string(config).unwrap_or_default(),
    );
    data.push_str("</script>\n");
    if let Some(state) = state {
        data.push_str("<script type=\"application/json\" id=\"skeleton\">");
        let mut skeleton = data::skeleton(state);
        skeleton.cost = prices.map(|p| data::cost_view(state, p));
        let skeleton = serde_json::to_string(&skeleton).unwrap_or_default();
        push_script_json(&mut data, &skeleton);
        data.push_str("</script>\n");
    }
    let mut shards = String::new();
    if let Some(state) = state {
        for (map, key, json) in data::shards(state) {
            let _ = write!(
                shards,
                "<script type=\"application/json\" id=\"s:{map}:{key}\">"
            );
            push_script_json(&mut shards, &json);
            shards.push_str("</script>\n");
        }
    }
    shards.push_str(bodies);
    let (policy, style, script) = page_assets(form, "viewer", STYLE, SCRIPT);
    let (mut escaped_title, mut escaped_policy) = (String::new(), String::new());
    push_html_text(&mut escaped_title, title);
    push_html_text(&mut escaped_policy, &policy);
    fill(
        TEMPLATE,
        &[
            ("TITLE", &escaped_title),
            ("POLICY", &escaped_policy),
            ("STYLE", &style),
            ("SCRIPT", &script),
            ("DATA", &data),
            ("SHARDS", &shards),
        ],
    )
}

/// A page's policy and its style and script elements: inline and allowed by their hashes (a
/// static page), or loaded from the server's `/assets/<name>.css` and `<name>.js` (a served
/// page, under [`SERVED_POLICY`]).
fn page_assets(form: PageForm, name: &str, style: &str, script: &str) -> (String, String, String) {
    match form {
        PageForm::Static => {
            let style = format!("\n{style}\n");
            let script = format!("\n{script}\n");
            let policy = format!(
                "default-src 'none'; script-src '{}'; style-src '{}'; img-src data:; connect-src 'self'; base-uri 'none'; form-action 'none'",
                csp_hash(&script),
                csp_hash(&style)
            );
            (
                policy,
                format!("<style>{style}</style>"),
                format!("<script>{script}</script>"),
            )
        }
        PageForm::Served => (
            SERVED_POLICY.to_owned(),
            format!("<link rel=\"stylesheet\" href=\"/assets/{name}.css\">"),
            format!("<script src=\"/assets/{name}.js\"></script>"),
        ),
    }
}

/// `template` with each `{{NAME}}` replaced by the value `parts` gives NAME (an unknown name
/// is left as it is).
fn fill(template: &str, parts: &[(&str, &str)]) -> String {
    let size: usize = parts.iter().map(|(_, v)| v.len()).sum();
    let mut out = String::with_capacity(template.len() + size);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let Some(len) = rest[start..].find("}}") else {
            rest = &rest[start..];
            break;
        };
        let name = &rest[start + 2..start + len];
        match parts.iter().find(|(n, _)| *n == name) {
            Some((_, value)) => out.push_str(value),
            None => {
                out.push_str("{{");
                out.push_str(name);
                out.push_str("}}");
            }
        }
        rest = &rest[start + len + 2..];
    }
    out.push_str(rest);
    out
}

/// A CSP source allowing exactly the inline element whose text is `text`: `sha256-…`.
fn csp_hash(text: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(text.as_bytes());
    format!(
        "sha256-{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// JSON text made safe inside `<script>`: a `<` occurs only inside strings, where `\u003c`
/// means the same, so no `</script>` or `<!--` can end the element early.
fn push_script_json(out: &mut String, json: &str) {
    let mut rest = json;
    while let Some(at) = rest.find('<') {
        out.push_str(&rest[..at]);
        out.push_str("\\u003c");
        rest = &rest[at + 1..];
    }
    out.push_str(rest);
}

/// Text escaped for HTML content and attribute values.
fn push_html_text(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_json_never_closes_its_element() {
        let mut out = String::new();
        push_script_json(&mut out, r#"{"a":"</script><!--"}"#);
        assert_eq!(out, r#"{"a":"\u003c/script>\u003c!--"}"#);
        let back: serde_json::Value = serde_json::from_str(&out).unwrap_or_default();
        assert_eq!(back["a"], "</script><!--");
    }
}
