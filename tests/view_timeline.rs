//! The timeline stays readable on long and fast rollouts, in a real headless Chromium: calls
//! that follow each other within one millisecond share a row (packed by record order, not by
//! whole milliseconds), truly parallel calls get rows of their own up to a bound with the rest
//! summarised on an expandable row, and every agent lane of a 2 000-turn rollout with a child
//! every 100 turns is in the first view (lanes collapsed to a line); so is the 60-step Codex
//! session of the corpus (`shared/codex-traces`, skipped without it). Screenshots go to
//! `target/screenshots/`.
//!
//! Without Chromium at `/usr/bin/chromium` (or `$CHROMIUM`) each test prints SKIPPED and
//! passes, except under CI (env `CI` set), where it fails.
#![cfg(feature = "cli")]

mod support;

use serde_json::{json, Value};
use support::lanes::{long_rollout, parallel_rollout, NESTED};
use support::layer::record;
use support::viewer::{browser_or_skip, show, WAIT};
use tracing_rollout::import::codex;

/// The lanes as the page holds them.
fn lanes(browser: &mut support::browser::Browser) -> anyhow::Result<Vec<Value>> {
    let lanes = browser.eval("window.rolloutView.lanes()")?;
    Ok(serde_json::from_value(lanes)?)
}

#[test]
fn every_lane_of_a_2000_turn_rollout_with_a_child_every_100_turns_is_in_the_first_view(
) -> anyhow::Result<()> {
    let Some(mut browser) = browser_or_skip("every_lane_of_a_2000_turn_rollout")? else {
        return Ok(());
    };
    let bundle = record(|| long_rollout(2000, 100))?;
    let state = bundle.reduce()?;
    assert_eq!(state.threads.len(), 21);
    // Every nested call of a cell ends before the next starts, many within one millisecond.
    let same_ms = state
        .tool_calls
        .values()
        .filter(|c| c.execution.ended_at_unix_ms == Some(c.execution.started_at_unix_ms))
        .count();
    assert!(same_ms > 1000, "fast calls: {same_ms}");
    let _page = show(&mut browser, &bundle.path, "")?;
    let stats = browser.eval("window.rolloutView.redrawNow()")?;
    assert_eq!(stats["lanesTotal"], 21, "{stats}");
    assert_eq!(
        stats["lanes"], 21,
        "every lane is drawn in the first view: {stats}"
    );
    let height = browser.eval("document.getElementById('timeline').clientHeight")?;
    let lanes = lanes(&mut browser)?;
    for lane in &lanes {
        let bottom = lane["y"].as_f64().unwrap_or(f64::MAX) + lane["h"].as_f64().unwrap_or(0.0);
        assert!(
            bottom <= height.as_f64().unwrap_or(0.0),
            "{lane} below {height}"
        );
    }
    // The root lane stays open with one row per kind of call; its children are lines.
    let root = &lanes[0];
    assert_eq!(
        (&root["thread"], &root["name"]),
        (&json!("root"), &json!("root"))
    );
    assert_eq!(root["collapsed"], false);
    assert_eq!(
        root["rows"], 5,
        "turns, inference, code cells, cell tools, tools: {root}"
    );
    assert!(lanes[1..].iter().all(|l| l["collapsed"] == true));
    browser.screenshot("timeline-long")?;
    // A child's lane opens on a click on its caret, and on `c` again closes.
    let y = lanes[3]["y"].as_f64().unwrap_or(0.0) + 8.0;
    let top = browser.eval("document.getElementById('timeline').getBoundingClientRect().top")?;
    browser.click(8.0, top.as_f64().unwrap_or(0.0) + y)?;
    browser.wait_for("!window.rolloutView.lanes()[3].collapsed", WAIT)?;
    browser.screenshot("timeline-long-child-open")?;
    browser.no_js_errors()
}

#[test]
fn sequential_calls_within_one_millisecond_share_one_row() -> anyhow::Result<()> {
    let Some(mut browser) = browser_or_skip("sequential_calls_within_one_millisecond")? else {
        return Ok(());
    };
    let bundle = record(|| long_rollout(300, 0))?;
    let state = bundle.reduce()?;
    assert_eq!(state.tool_calls.len(), 300 * (NESTED + 1));
    let _page = show(&mut browser, &bundle.path, "")?;
    let lanes = lanes(&mut browser)?;
    assert_eq!(lanes.len(), 1);
    assert_eq!(
        (
            &lanes[0]["rows"],
            &lanes[0]["overflow"],
            &lanes[0]["collapsed"]
        ),
        (&Value::from(5), &Value::from(0), &Value::Bool(false)),
        "{lanes:?}"
    );
    browser.screenshot("timeline-fast-calls")?;
    browser.no_js_errors()
}

#[test]
fn parallel_calls_past_the_bound_are_summarised_on_one_row_that_expands() -> anyhow::Result<()> {
    let Some(mut browser) = browser_or_skip("parallel_calls_past_the_bound")? else {
        return Ok(());
    };
    let bundle = record(|| parallel_rollout(10))?;
    let _page = show(&mut browser, &bundle.path, "")?;
    // turns, inference, 4 rows of tools, the overflow row holding the other 6.
    let lane = &lanes(&mut browser)?[0];
    assert_eq!(
        (&lane["rows"], &lane["overflow"]),
        (&Value::from(7), &Value::from(6)),
        "{lane}"
    );
    browser.screenshot("timeline-parallel-bounded")?;
    browser.key("e")?;
    browser.wait_for("window.rolloutView.lanes()[0].expanded", WAIT)?;
    let lane = &lanes(&mut browser)?[0];
    assert_eq!(
        (&lane["rows"], &lane["overflow"]),
        (&Value::from(12), &Value::from(0)),
        "{lane}"
    );
    browser.key("e")?;
    browser.wait_for("!window.rolloutView.lanes()[0].expanded", WAIT)?;
    browser.no_js_errors()
}

#[test]
fn the_60_step_codex_session_is_one_lane_of_a_few_rows_in_the_first_view() -> anyhow::Result<()> {
    let corpus = match support::codex::corpus_dir() {
        Ok(dir) => dir,
        Err(why) => return support::skip::skipped("the 60-step Codex session", &why),
    };
    let Some(mut browser) = browser_or_skip("the_60_step_codex_session")? else {
        return Ok(());
    };
    let out = tempfile::tempdir()?;
    let source = codex::find_bundles(&corpus.join("long_session")).remove(0);
    let bundle = codex::import(&source, out.path())?.remove(0).bundle;
    let state = tracing_rollout::reduce::reduce_bundle(&bundle)?;
    assert_eq!(
        (state.inference_calls.len(), state.tool_calls.len()),
        (61, 60)
    );
    let _page = show(&mut browser, &bundle, "")?;
    let stats = browser.eval("window.rolloutView.redrawNow()")?;
    assert_eq!(
        (&stats["lanesTotal"], &stats["lanes"]),
        (&json!(1), &json!(1)),
        "{stats}"
    );
    let lanes = lanes(&mut browser)?;
    let height = browser.eval("document.getElementById('timeline').clientHeight")?;
    let lane = &lanes[0];
    let bottom = lane["y"].as_f64().unwrap_or(f64::MAX) + lane["h"].as_f64().unwrap_or(0.0);
    assert!(
        bottom <= height.as_f64().unwrap_or(0.0),
        "{lane} below {height}"
    );
    // Named by its agent path, not Codex's 36-character thread id.
    assert_eq!(lane["name"], "/root", "{lane}");
    // One command after another: one row per kind of entity (4), nothing overflows.
    assert_eq!(
        (&lane["rows"], &lane["overflow"], &lane["collapsed"]),
        (&json!(4), &json!(0), &json!(false)),
        "{lane}"
    );
    browser.screenshot("timeline-codex-long-session")?;
    browser.no_js_errors()
}
