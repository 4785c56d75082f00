//! `serve`'s index of many rollouts in headless Chromium, through the real binary: one row per
//! rollout with its figures and cost, sorting by a column, filtering by tool, model, status and
//! text, rollouts that resume one root thread grouped as a session with its totals, and the
//! page under the server's CSP with no script error; a Codex rollout-trace bundle's row (through
//! its import) running while Codex writes it, then completed.
#![cfg(feature = "cli")]

mod support;

use anyhow::{ensure, Context};
use serde_json::{json, Value};
use support::browser::Browser;
use support::fleet;
use support::serve::Serve;
use support::viewer::{browser_or_skip, WAIT};

/// Rollouts: three blocks of the fleet's shapes, without the lossy ones.
const ROLLOUTS: usize = 21;

const PRICES: &str = r#"{"models": {
    "gpt-5": {"input": 1.0, "cached_input": 0.1, "output": 10.0, "reasoning": 10.0},
    "gpt-5-mini": {"input": 0.5, "cached_input": 0.05, "output": 2.0, "reasoning": 2.0}}}"#;

fn visible(browser: &mut Browser) -> anyhow::Result<Vec<String>> {
    let rows = browser.eval("window.rolloutIndex.visible()")?;
    Ok(serde_json::from_value(rows)?)
}

/// A real click in the middle of the element `selector` selects.
fn click(browser: &mut Browser, selector: &str) -> anyhow::Result<()> {
    let rect = browser.eval(&format!(
        "(r => r && [r.left + r.width / 2, r.top + r.height / 2])(document.querySelector({})?.getBoundingClientRect())",
        json!(selector)
    ))?;
    let x = rect[0].as_f64().with_context(|| format!("no {selector}"))?;
    let y = rect[1].as_f64().context("y")?;
    browser.click(x, y)
}

/// Sets a filter control as a user would (value, then the event the page listens to).
fn set(browser: &mut Browser, id: &str, value: &str, event: &str) -> anyhow::Result<()> {
    browser.eval(&format!(
        "(e => {{ e.value = {}; e.dispatchEvent(new Event({})); }})(document.getElementById({}))",
        json!(value),
        json!(event),
        json!(id)
    ))?;
    Ok(())
}

/// The text of column `n` (from 1) of the row `selector`.
fn cell(browser: &mut Browser, selector: &str, n: usize) -> anyhow::Result<String> {
    let text = browser.eval(&format!(
        "document.querySelector({}).children[{}].textContent",
        json!(selector),
        n - 1
    ))?;
    Ok(text.as_str().unwrap_or_default().to_owned())
}

#[test]
fn the_index_sorts_filters_and_groups_sessions_with_their_totals() -> anyhow::Result<()> {
    let Some(mut browser) = browser_or_skip("serve: the index of many rollouts")? else {
        return Ok(());
    };
    let root = tempfile::tempdir()?;
    let written = fleet::write(root.path(), 0, ROLLOUTS, /*lossy*/ false)?;
    let prices = tempfile::NamedTempFile::new()?;
    std::fs::write(prices.path(), PRICES)?;
    let prices_path = prices.path().to_string_lossy().into_owned();
    let serve = Serve::start_with(
        root.path(),
        &["--addr", "127.0.0.1:0", "--prices", &prices_path],
    )?;
    browser.goto(&serve.url("/"))?;
    browser.wait_for(
        &format!("document.body.dataset.ready === '1' && window.rolloutIndex.size() === {written}"),
        WAIT,
    )?;

    // Grouped: each resumed rollout and the solo one it resumes are one session.
    let sessions = ROLLOUTS / fleet::KINDS.len();
    let rows = visible(&mut browser)?;
    let session_rows: Vec<&String> = rows.iter().filter(|r| r.starts_with("session:")).collect();
    assert_eq!(session_rows.len(), sessions, "{rows:?}");
    assert_eq!(rows.len(), written - sessions, "{rows:?}");
    // A session's totals: its two rollouts' inference calls (2 each) and their cost.
    let session = format!("tr.session[data-session=\"{}\"]", fleet::root_thread(0));
    assert_eq!(cell(&mut browser, &session, 7)?, "4");
    let cost = cell(&mut browser, &session, 11)?;
    let one = (800.0 * 1.0
        + 200.0 * 0.1
        + 40.0 * 10.0
        + 10.0 * 10.0
        + 200.0 * 1.0
        + 1000.0 * 0.1
        + 30.0 * 10.0)
        / 1e6;
    assert_eq!(cost, format!("{:.6}", 2.0 * one), "session cost");
    // Its rollouts show when it is opened.
    let members = format!("{session} ~ tr.member:not([hidden])");
    let count = |b: &mut Browser| -> anyhow::Result<Value> {
        b.eval(&format!(
            "document.querySelectorAll({}).length",
            json!(members)
        ))
    };
    assert_eq!(count(&mut browser)?, 0);
    click(&mut browser, &session)?;
    browser.wait_for(
        &format!("document.querySelectorAll({}).length === 2", json!(members)),
        WAIT,
    )?;
    browser.screenshot("serve-rollouts")?;

    // Sorted by inference calls, most first: the solo/failing pairs (4 per session) lead.
    click(&mut browser, "th[data-sort=\"inference_calls\"]")?;
    browser.wait_for(
        "document.querySelector('th.sorted.desc[data-sort=\"inference_calls\"]') !== null",
        WAIT,
    )?;
    let rows = visible(&mut browser)?;
    ensure!(rows[0].starts_with("session:"), "{rows:?}");
    click(&mut browser, "th[data-sort=\"inference_calls\"]")?;
    browser.wait_for(
        "document.querySelector('th.sorted.asc[data-sort=\"inference_calls\"]') !== null",
        WAIT,
    )?;
    let first = visible(&mut browser)?[0].clone();
    ensure!(
        first.starts_with("incomplete-"),
        "fewest calls first: {first}"
    );

    // Filters: by tool, by model, by text, by status; then none.
    set(&mut browser, "f-tool", "run_tests", "change")?;
    let failing = visible(&mut browser)?;
    ensure!(
        failing.len() == ROLLOUTS / fleet::KINDS.len()
            && failing.iter().all(|r| r.starts_with("failing-")),
        "{failing:?}"
    );
    set(&mut browser, "f-tool", "", "change")?;
    set(&mut browser, "f-model", fleet::WORKER_MODEL, "change")?;
    let delegating = visible(&mut browser)?;
    ensure!(
        delegating.len() == 2 * ROLLOUTS / fleet::KINDS.len()
            && delegating
                .iter()
                .all(|r| r.starts_with("delegated-") || r.starts_with("undelivered-")),
        "{delegating:?}"
    );
    // Undelivered edges show in their column.
    let undelivered = format!("tr[data-path=\"{}\"]", fleet::rollout_id(3));
    assert_eq!(cell(&mut browser, &undelivered, 13)?, "1");
    set(&mut browser, "f-model", "", "change")?;
    set(&mut browser, "f-text", "/lead/worker", "input")?;
    assert_eq!(
        visible(&mut browser)?.len(),
        2 * ROLLOUTS / fleet::KINDS.len()
    );
    set(&mut browser, "f-text", "", "input")?;
    set(&mut browser, "f-status", "completed", "change")?;
    let completed = visible(&mut browser)?;
    ensure!(
        !completed.is_empty() && completed.len() <= rows.len(),
        "{completed:?}"
    );
    set(&mut browser, "f-status", "", "change")?;
    browser.eval("document.getElementById('f-group').checked = false; document.getElementById('f-group').dispatchEvent(new Event('change'))")?;
    assert_eq!(
        visible(&mut browser)?.len(),
        written,
        "ungrouped: one row per rollout"
    );

    // The header totals every rollout's cost.
    let totals = browser.eval("document.getElementById('totals').textContent")?;
    ensure!(
        totals.as_str().unwrap_or_default().contains("cost"),
        "{totals}"
    );
    browser.no_js_errors()
}

#[test]
fn the_index_shows_a_rollout_as_it_is_written_and_updates_it() -> anyhow::Result<()> {
    let Some(mut browser) = browser_or_skip("serve: the index while rollouts run")? else {
        return Ok(());
    };
    let root = tempfile::tempdir()?;
    fleet::write(root.path(), 0, 1, /*lossy*/ false)?;
    let serve = Serve::start(root.path())?;
    browser.goto(&serve.url("/"))?;
    browser.wait_for(
        "window.rolloutIndex && window.rolloutIndex.size() === 1",
        WAIT,
    )?;
    // Another rollout lands while the page is open: it appears without a reload.
    browser.eval("window.stillTheSamePage = true")?;
    fleet::write(root.path(), 1, 2, /*lossy*/ false)?;
    browser.wait_for(
        "window.stillTheSamePage && window.rolloutIndex.size() === 2",
        WAIT,
    )?;
    let rows = visible(&mut browser)?;
    assert_eq!(
        rows,
        vec![fleet::rollout_id(1), fleet::rollout_id(0)],
        "newest first"
    );
    browser.no_js_errors()
}

/// The index's row of `path`, once the server has summarised every bundle and `done` holds
/// for it (asked again until then, at most [`WAIT`]).
fn index_row(serve: &Serve, path: &str, done: impl Fn(&Value) -> bool) -> anyhow::Result<Value> {
    let start = std::time::Instant::now();
    loop {
        let (status, body) = serve.get("/api/index?since=0", &serve.host())?;
        ensure!(status == 200, "{status}: {body}");
        let index: Value = serde_json::from_str(&body)?;
        let row = index["rows"]
            .as_array()
            .and_then(|rows| rows.iter().find(|r| r["path"] == path))
            .cloned();
        match row {
            Some(row) if index["pending"] == 0 && done(&row) => return Ok(row),
            _ if start.elapsed() > WAIT => anyhow::bail!("no such row of {path} in {index:#}"),
            _ => std::thread::sleep(std::time::Duration::from_millis(100)),
        }
    }
}

#[test]
fn a_codex_bundle_has_its_row_through_its_import_running_while_codex_writes_it(
) -> anyhow::Result<()> {
    let root = tempfile::tempdir()?;
    let cache = tempfile::tempdir()?;
    fleet::write(&root.path().join("ours"), 0, 2, /*lossy*/ false)?;
    let codex = support::codex::synth::web_search_rollout(&root.path().join("codex/trace-x"), 2);
    codex.write(Some(7));
    let serve = Serve::start_cached(root.path(), cache.path())?;
    let running = index_row(&serve, "codex/trace-x", |_| true)?;
    assert_eq!(
        (&running["rollout_id"], &running["status"], &running["live"]),
        (
            &json!(support::codex::synth::ROOT),
            &json!("running"),
            &json!(true)
        ),
        "{running:#}"
    );
    assert_eq!(running["error"], Value::Null);
    assert_eq!(running["inference_calls"], 1);
    // Codex writes the rest; the row follows.
    codex.write(None);
    let done = index_row(&serve, "codex/trace-x", |r| r["status"] != "running")?;
    assert_eq!(
        (&done["status"], &done["live"], &done["complete"]),
        (&json!("completed"), &json!(false), &json!(true)),
        "{done:#}"
    );
    assert_eq!(done["inference_calls"], 2);
    ensure!(done["tool_calls"].as_u64() >= Some(1), "{done:#}");
    ensure!(done["input_tokens"].as_u64() >= Some(10), "{done:#}");
    Ok(())
}
