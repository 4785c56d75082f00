//! The viewer against markup and script injection (issue 26: "the viewer's escaping held
//! against every markup and script injection tried — keep it that way"), in a real headless
//! Chromium: a rollout whose ids, names, models, errors, messages, items and payload bodies
//! all carry injections is opened as a static page and as a served page; every entity's
//! inspector is opened with its bodies, search lists them, diagnostics are listed. No
//! injected script runs, no injected element or handler lands in the document, and the
//! page logs no error (a handler the policy had to block would log one: escaping holds on
//! its own, the policy is a second wall).
#![cfg(feature = "cli")]

mod support;

use anyhow::{ensure, Context, Result};
use serde_json::json;
use support::browser::{file_url, Browser};
use support::layer::record;
use support::responses::{call, msg, request, response};
use support::serve::Serve;
use support::viewer::{browser_or_skip, open, WAIT};
use tracing::{info, info_span};
use tracing_rollout::view::{render_html, ViewOptions};

/// Every injection tried, in one string (each would set `window.__pwned` if it ran).
const HOSTILE: &str = concat!(
    r#"<img src=x onerror="window.__pwned='img'">"#,
    r#"</script><script>window.__pwned='script'</script>"#,
    r#""><svg onload="window.__pwned='svg'">"#,
    r#"'><iframe srcdoc="<script>parent.__pwned='iframe'</script>"></iframe>"#,
    r#"<a href="javascript:window.__pwned='href'">x</a>"#,
    r#"javascript:window.__pwned='url'"#,
    r#"${window.__pwned='template'}{{SCRIPT}}{{DATA}}<!--]]>"#,
    "<style>*{display:none}</style>\u{2028}\u{2029}\u{202e}",
);

/// A rollout with [`HOSTILE`] in every string the viewer shows.
fn hostile_rollout() {
    let h = HOSTILE;
    let args = json!({ "q": h }).to_string();
    info_span!("rollout", rollout_id = h).in_scope(|| {
        let thread = info_span!("rollout.thread", thread_id = h, nickname = h, agent_path = "/lead", model = h);
        thread.in_scope(|| {
            info_span!("rollout.turn", turn_id = h).in_scope(|| {
                let inference = info_span!("rollout.inference", model = h, provider = h, response_id = h);
                inference.in_scope(|| {
                    let req = request(&[msg("system", h), msg("user", h)]);
                    info!(name: "rollout.payload", role = "request", payload = tracing_rollout::json(&req));
                    let out = response(h, &[msg("assistant", h), call(h, h, &args)], 7, 3);
                    info!(name: "rollout.payload", role = "response", payload = tracing_rollout::json(&out));
                });
                let tool = info_span!("rollout.tool", tool = h, call_id = h, kind = h, status = "failed", error = h);
                tool.in_scope(|| {
                    info!(name: "rollout.payload", role = "args", payload = args.as_str());
                    info!(name: "rollout.payload", role = "result", payload = h);
                    let op = info_span!("rollout.terminal", terminal_id = h, op = "exec", command = h, cwd = h);
                    op.in_scope(|| info!(name: "rollout.payload", role = "output", payload = h));
                });
                let cell = info_span!("rollout.code_cell", cell_id = h, call_id = "c-cell", language = h);
                cell.in_scope(|| info!(name: "rollout.payload", role = "source", payload = h));
                // A message to a thread that never reads it: an undelivered edge with the text,
                // and an unknown status word: a diagnostic quoting it.
                let send = info_span!("rollout.tool", tool = "send_message", kind = "send_message", call_id = "c-send", target_thread_id = h, message = h, status = h);
                send.in_scope(|| {});
            });
        });
    });
}

/// Opens every entity's inspector with its bodies, searches, lists diagnostics; then checks
/// that nothing injected ran or landed in the document.
fn walk_every_inspector(browser: &mut Browser, what: &str) -> Result<()> {
    let scripts = browser.eval("document.scripts.length")?;
    let mut opened = 0;
    for kind in [
        "turn",
        "inference",
        "tool",
        "cell",
        "terminal",
        "compaction",
    ] {
        let ids = browser.eval(&format!("window.rolloutView.ids({kind:?})"))?;
        for id in ids.as_array().cloned().unwrap_or_default() {
            let id = id.as_str().context("an id")?.to_owned();
            browser.eval(&format!("window.rolloutView.select({id:?})"))?;
            browser.wait_for(
                &format!("document.getElementById('inspector').dataset.id === {id:?}"),
                WAIT,
            )?;
            // Every raw body, opened.
            browser.eval(
                "document.querySelectorAll('#inspector button.raw').forEach(b => b.click())",
            )?;
            browser.wait_for(
                "![...document.querySelectorAll('#inspector pre')].some(p => p.textContent === 'loading…')",
                WAIT,
            )?;
            opened += 1;
        }
    }
    ensure!(opened >= 5, "{what}: only {opened} inspectors opened");
    browser.eval("window.rolloutView.select('thread/' + JSON.parse(document.getElementById('config').textContent).bundle)")?;
    let found = browser.eval("window.rolloutView.search('onerror')")?;
    ensure!(
        found.as_u64() > Some(0),
        "{what}: the search finds the injected text: {found}"
    );
    browser.eval("document.querySelectorAll('#list-rows .row').forEach(r => r.click())")?;
    browser.eval("document.getElementById('show-diags').click()")?;
    // The text is on the page as text.
    let shown = browser.eval("document.body.innerText.includes(\"<img src=x onerror=\")")?;
    ensure!(
        shown == json!(true),
        "{what}: the injected text is not shown as text"
    );
    let verdict = browser.eval(
        r#"({
            pwned: window.__pwned === undefined ? null : String(window.__pwned),
            handlers: [...document.querySelectorAll('*')].flatMap(e => [...e.attributes].map(a => a.name)).filter(n => n.startsWith('on')),
            elements: document.querySelectorAll('img, svg, iframe, object, embed, style:not(head style), a[href^="javascript:" i]').length,
            scripts: document.scripts.length
        })"#,
    )?;
    ensure!(
        verdict["pwned"].is_null(),
        "{what}: an injection ran: {verdict}"
    );
    ensure!(
        verdict["handlers"] == json!([]),
        "{what}: handlers landed: {verdict}"
    );
    ensure!(
        verdict["elements"] == json!(0),
        "{what}: elements landed: {verdict}"
    );
    ensure!(
        verdict["scripts"] == scripts,
        "{what}: scripts were added: {verdict}"
    );
    browser.no_js_errors()
}

#[test]
fn injected_markup_and_script_in_every_string_stay_text_in_the_static_and_the_served_page(
) -> Result<()> {
    let Some(mut browser) = browser_or_skip("the viewer against injection")? else {
        return Ok(());
    };
    let bundle = record(hostile_rollout)?;
    let state = bundle.reduce()?;
    ensure!(
        state.tool_calls.len() >= 2 && state.conversation_items.len() >= 3,
        "{state:?}"
    );

    let dir = tempfile::tempdir()?;
    let page = dir.path().join("view.html");
    std::fs::write(&page, render_html(&bundle.path, &ViewOptions::default())?)?;
    open(&mut browser, &file_url(&page))?;
    walk_every_inspector(&mut browser, "static page")?;
    browser.screenshot("view-hostile")?;

    let serve = Serve::start(bundle.root.path())?;
    browser.goto(&serve.url("/"))?;
    browser.wait_for("document.querySelectorAll('#rows a').length === 1", WAIT)?;
    let index = browser.eval(
        "({ pwned: window.__pwned === undefined ? null : String(window.__pwned), elements: document.querySelectorAll('img, svg, iframe').length })",
    )?;
    ensure!(
        index == json!({"pwned": null, "elements": 0}),
        "index: {index}"
    );
    browser.eval("document.querySelector('#rows a').click()")?;
    browser.wait_for("window.rolloutView && window.rolloutView.ready", WAIT)?;
    walk_every_inspector(&mut browser, "served page")?;
    Ok(())
}
