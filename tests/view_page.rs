//! The static viewer page (`tracing-rollout view`) in a real headless Chromium: lanes and edges
//! drawn, inspectors opened by real clicks, deep links, undelivered edges flagged, search and
//! keyboard, no JavaScript errors. Screenshots go to `target/screenshots/`.
//!
//! Without Chromium at `/usr/bin/chromium` (or `$CHROMIUM`) each test prints SKIPPED and
//! passes, except under CI (env `CI` set), where it fails.
#![cfg(feature = "cli")]

mod support;

use anyhow::Context;
use serde_json::Value;
use support::browser::Browser;
use support::fixtures::{demo, demo_trace, DEMO};
use support::viewer::{browser_or_skip, inspector_body, show, WAIT};
use tracing_rollout::reduce::{reduce_bundle, Requester};

/// Clicks the entity `id` where the timeline drew it.
fn click_entity(browser: &mut Browser, id: &str) -> anyhow::Result<()> {
    let at = browser.eval(&format!("window.rolloutView.rectOf({id:?})"))?;
    let (x, y) = (at["x"].as_f64(), at["y"].as_f64());
    let (Some(x), Some(y)) = (x, y) else {
        anyhow::bail!("{id} is not drawn on the timeline: {at}");
    };
    browser.click(x, y)?;
    browser.wait_for(
        &format!("document.getElementById('inspector').dataset.id === {id:?}"),
        WAIT,
    )?;
    Ok(())
}

#[test]
fn the_demo_page_is_self_contained_and_draws_three_lanes_and_eleven_edges() -> anyhow::Result<()> {
    let Some(mut browser) = browser_or_skip("the_demo_page_draws_three_lanes_and_eleven_edges")?
    else {
        return Ok(());
    };
    let (_dir, page) = show(&mut browser, demo(), "")?;
    support::viewer::self_contained(&std::fs::read_to_string(&page)?)?;
    let stats = browser.eval("window.rolloutView.stats()")?;
    assert_eq!(stats["lanes"], 3, "{stats}");
    assert_eq!(stats["edges"], 11, "{stats}");
    assert_eq!(stats["undelivered"], 0, "{stats}");
    browser.screenshot("view-demo")?;
    browser.no_js_errors()
}

#[test]
fn selecting_an_inference_shows_its_request_with_the_new_items_marked_and_its_response(
) -> anyhow::Result<()> {
    let Some(mut browser) = browser_or_skip("selecting_an_inference_shows_its_request")? else {
        return Ok(());
    };
    // The oracle: the graph itself. inference:10's previous request in its thread is
    // inference:6; the items of 10's request not in 6's are the new ones.
    let state = reduce_bundle(DEMO)?;
    let call = &state.inference_calls["inference:10"];
    let previous = &state.inference_calls["inference:6"];
    let before = state.request_items(previous);
    let new: Vec<&str> = state
        .request_items(call)
        .into_iter()
        .filter(|i| !before.contains(i))
        .collect();
    assert!(!new.is_empty());
    let _page = show(&mut browser, demo(), "")?;
    click_entity(&mut browser, "inference:10")?;
    let marked = browser.eval(
        "Array.from(document.querySelectorAll('#inspector .items.request .item.is-new')).map(e => e.dataset.item)",
    )?;
    let marked: Vec<String> = serde_json::from_value(marked)?;
    assert_eq!(
        marked,
        new.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    );
    let unmarked = browser
        .eval("document.querySelectorAll('#inspector .items.request .item:not(.is-new)').length")?;
    assert!(
        unmarked.as_u64() > Some(0),
        "old items are shown too, unmarked"
    );
    let response = browser.eval(
        "Array.from(document.querySelectorAll('#inspector .items.response .item')).map(e => e.dataset.item)",
    )?;
    let response: Vec<String> = serde_json::from_value(response)?;
    assert_eq!(response, call.response_items);
    // The raw request JSON is one click away.
    browser.eval("document.querySelector('#inspector button.raw').click()")?;
    let raw = browser.wait_for(
        "(document.querySelector('#inspector .raw-out pre') || {}).textContent !== 'loading…' && (document.querySelector('#inspector .raw-out pre') || {}).textContent",
        WAIT,
    )?;
    let raw = raw.as_str().context("raw text")?;
    let body: Value = serde_json::from_str(raw)?;
    assert!(body.get("input").is_some(), "the request body: {raw}");
    browser.screenshot("view-inference")?;
    browser.no_js_errors()
}

#[test]
fn selecting_a_tool_shows_who_requested_it() -> anyhow::Result<()> {
    let Some(mut browser) = browser_or_skip("selecting_a_tool_shows_who_requested_it")? else {
        return Ok(());
    };
    let state = reduce_bundle(DEMO)?;
    let Requester::Model {
        inference_call_id: Some(requester),
    } = &state.tool_calls["tool:11"].requester
    else {
        anyhow::bail!("tool:11 was requested by the model in the demo");
    };
    let _page = show(&mut browser, demo(), "")?;
    click_entity(&mut browser, "tool:11")?;
    let shown = browser.eval("document.querySelector('#inspector .requester').textContent")?;
    assert_eq!(shown.as_str(), Some(requester.as_str()));
    let linked = browser.eval(&format!(
        "!!document.querySelector('#inspector dd a[data-id={requester:?}]')"
    ))?;
    assert_eq!(linked, Value::Bool(true), "the requester is a link");
    // Its arguments are loaded from the embedded body.
    let args = inspector_body(&mut browser)?;
    assert!(args.contains("cargo test -p net"), "{args}");
    // Following the link opens the inference call.
    browser.eval(&format!(
        "document.querySelector('#inspector dd a[data-id={requester:?}]').click()"
    ))?;
    browser.wait_for(
        &format!("document.getElementById('inspector').dataset.id === {requester:?}"),
        WAIT,
    )?;
    click_entity(&mut browser, "tool:11")?;
    browser.screenshot("view-tool")?;
    browser.no_js_errors()
}

#[test]
fn a_deep_link_opens_the_right_inspector_and_survives_a_reload() -> anyhow::Result<()> {
    let Some(mut browser) = browser_or_skip("a_deep_link_opens_the_right_inspector")? else {
        return Ok(());
    };
    let _page = show(&mut browser, demo(), "#inference:10")?;
    let id = browser.eval("document.getElementById('inspector').dataset.id")?;
    assert_eq!(id, "inference:10");
    click_entity(&mut browser, "tool:11")?;
    assert_eq!(browser.eval("location.hash")?, "#tool:11");
    browser.call("Page.reload", serde_json::json!({}))?;
    browser.wait_for(
        "window.rolloutView && window.rolloutView.ready && document.getElementById('inspector').dataset.id === 'tool:11'",
        WAIT,
    )?;
    // Turns and threads have deep links too, followed as the address changes.
    browser.eval("location.hash = 'turn/fixer-turn-2'")?;
    browser.wait_for(
        "document.getElementById('inspector').dataset.id === 'turn/fixer-turn-2'",
        WAIT,
    )?;
    browser.no_js_errors()
}

#[test]
fn an_undelivered_edge_is_flagged_on_the_timeline_and_in_its_inspector() -> anyhow::Result<()> {
    let Some(mut browser) = browser_or_skip("an_undelivered_edge_is_flagged")? else {
        return Ok(());
    };
    // The demo with the fixer's request (seq 118) changed: the lead's message tool says it
    // sent a text the fixer's model then never saw (its user message is gone).
    let bundle = tempfile::tempdir()?;
    let text = demo_trace()?;
    let sent =
        r#",{"content":"Also add a regression test for the slow-lookup case.","role":"user"}"#;
    let mut changed = 0;
    let trace: String = text
        .lines()
        .map(|line| {
            let mut line = line.to_owned();
            if line.starts_with(r#"{"seq":118,"#) && line.contains(sent) {
                line = line.replace(sent, "");
                changed += 1;
            }
            line + "\n"
        })
        .collect();
    assert_eq!(
        changed, 1,
        "seq 118 is the fixer's request carrying the message"
    );
    std::fs::write(bundle.path().join("trace.jsonl"), trace)?;
    std::fs::copy(
        format!("{DEMO}/manifest.json"),
        bundle.path().join("manifest.json"),
    )?;
    let state = reduce_bundle(bundle.path())?;
    let undelivered: Vec<_> = state.edges.values().filter(|e| !e.delivered).collect();
    assert_eq!(undelivered.len(), 1, "the fixture has one undelivered edge");
    let edge_id = undelivered[0].edge_id.clone();
    let _page = show(&mut browser, bundle.path(), &format!("#{edge_id}"))?;
    let stats = browser.eval("window.rolloutView.stats()")?;
    assert_eq!(stats["undelivered"], 1, "{stats}");
    assert_eq!(stats["edges"], 11, "{stats}");
    let flagged = browser.eval("document.querySelector('#inspector .badge.warn').textContent")?;
    assert_eq!(flagged, "undelivered");
    let diagnostic = browser.eval("document.querySelector('#inspector .diag').textContent")?;
    assert!(
        diagnostic
            .as_str()
            .unwrap_or_default()
            .contains("never delivered"),
        "the reducer's diagnostic is shown with the edge: {diagnostic}"
    );
    browser.screenshot("view-undelivered")?;
    browser.no_js_errors()
}

#[test]
fn search_finds_text_and_the_keyboard_steps_through_turns_and_agents() -> anyhow::Result<()> {
    let Some(mut browser) = browser_or_skip("search_finds_text_and_the_keyboard_steps")? else {
        return Ok(());
    };
    let _page = show(&mut browser, demo(), "")?;
    browser.eval(
        "(s => { s.value = 'slow-lookup'; s.dispatchEvent(new Event('input')); })(document.getElementById('search'))",
    )?;
    let rows = browser.wait_for("document.querySelectorAll('#list-rows .row').length", WAIT)?;
    assert!(
        rows.as_u64() >= Some(2),
        "the message and its edge match: {rows}"
    );
    browser.screenshot("view-search")?;
    browser.eval("document.querySelector('#list-rows .row').click()")?;
    browser.wait_for("document.getElementById('inspector').dataset.id", WAIT)?;
    // Keyboard: from nothing selected, → opens the first turn of the first agent, ↓ moves to
    // the next agent.
    browser.eval(
        "document.getElementById('search').blur(); window.rolloutView.select('thread/lead')",
    )?;
    browser.key("ArrowRight")?;
    browser.wait_for(
        "document.getElementById('inspector').dataset.id === 'turn/lead-turn-1'",
        WAIT,
    )?;
    browser.key("ArrowRight")?;
    browser.wait_for(
        "document.getElementById('inspector').dataset.id === 'turn/lead-turn-2'",
        WAIT,
    )?;
    browser.key("ArrowDown")?;
    browser.wait_for(
        "(id => id && id.startsWith('turn/researcher'))(document.getElementById('inspector').dataset.id)",
        WAIT,
    )?;
    browser.no_js_errors()
}

#[test]
fn an_inference_shows_the_providers_finish_reasons_first_chunk_and_tool_definitions(
) -> anyhow::Result<()> {
    let Some(mut browser) = browser_or_skip("an_inference_shows_the_providers_finish_reasons")?
    else {
        return Ok(());
    };
    let bundle = support::layer::record(|| {
        let _agent =
            tracing::info_span!("invoke_agent", gen_ai.operation.name = "invoke_agent").entered();
        let chat = tracing::info_span!(
            "chat",
            gen_ai.operation.name = "chat",
            gen_ai.response.finish_reasons = r#"["tool_calls"]"#,
            gen_ai.response.time_to_first_chunk = 0.25,
            gen_ai.tool.definitions = tracing::field::Empty,
        );
        chat.record(
            "gen_ai.tool.definitions",
            r#"[{"type":"function","name":"get_weather"}]"#,
        );
    })?;
    let state = bundle.reduce()?;
    let id = state
        .inference_calls
        .keys()
        .next()
        .context("no call")?
        .clone();
    let _page = show(&mut browser, &bundle.path, &format!("#{id}"))?;
    let shown = browser.eval("document.getElementById('inspector').textContent")?;
    let shown = shown.as_str().unwrap_or_default();
    assert!(shown.contains("finish reasons"), "{shown}");
    assert!(
        shown.contains("tool_calls") && shown.contains("250.0 ms"),
        "{shown}"
    );
    assert!(shown.contains("Tool definitions"), "{shown}");
    let definitions = inspector_body(&mut browser)?;
    assert!(definitions.contains("get_weather"), "{definitions}");
    browser.no_js_errors()
}
