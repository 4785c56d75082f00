//! The compare page (`tracing-rollout view A --compare B`) in a real headless Chromium: the
//! first divergence selected on load with both requests shown as a diff of their items, the
//! keyboard stepping from divergence to divergence in the report's order, a click selecting
//! a pair, a sub-agent's lane under its spawning step, identical runs showing the totals;
//! and `serve`'s compare page, on bundles of ours and on Codex bundles (through their imports).
//! Screenshots go to `target/screenshots/`.
//!
//! Without Chromium at `/usr/bin/chromium` (or `$CHROMIUM`) each test prints SKIPPED and
//! passes, except under CI (env `CI` set), where it fails.
#![cfg(feature = "cli")]

mod support;

use serde_json::{json, Value};
use support::browser::Browser;
use support::codex::synth;
use support::fixtures::demo;
use support::layer::Bundle;
use support::runs::diff_runs;
use support::scripted::Script;
use support::viewer::{browser_or_skip, WAIT};
use tracing_rollout::diff::DiffOptions;
use tracing_rollout::view::render_compare_html;

/// Records both scripts, opens their compare page; returns the bundles, the page's dir and
/// the report (as JSON) the page must show.
fn compare(
    browser: &mut Browser,
    a: &Script,
    b: &Script,
) -> anyhow::Result<(Bundle, Bundle, tempfile::TempDir, Value)> {
    let (report, bundle_a, bundle_b) = diff_runs(a, b)?;
    let html = render_compare_html(&bundle_a.path, &bundle_b.path, &DiffOptions::default())?;
    let (dir, _) = open_compare(browser, &html)?;
    Ok((bundle_a, bundle_b, dir, report))
}

fn open_compare(
    browser: &mut Browser,
    html: &str,
) -> anyhow::Result<(tempfile::TempDir, std::path::PathBuf)> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("compare.html");
    std::fs::write(&path, html)?;
    browser.goto(&support::browser::file_url(&path))?;
    browser.wait_for("window.rolloutCompare && window.rolloutCompare.ready", WAIT)?;
    Ok((dir, path))
}

fn selected(browser: &mut Browser) -> anyhow::Result<Value> {
    browser.eval("window.rolloutCompare.selected()")
}

/// The small model (edits the wrong file, so its test run fails) after a retried call.
fn small_model() -> Script {
    let mut b = Script::new("ci-fix-small");
    b.model = "small-model".to_owned();
    b.retry_call = Some(1);
    b.failing_tool = Some("run_tests");
    b
}

#[test]
fn the_first_divergence_is_selected_on_load_with_both_requests_shown_as_a_diff(
) -> anyhow::Result<()> {
    let Some(mut browser) = browser_or_skip("the_first_divergence_is_selected_on_load")? else {
        return Ok(());
    };
    let mut green = Script::new("run-b");
    green.ci_log = "test result: ok. 12 passed".to_owned();
    let (_a, _b, _dir, report) = compare(&mut browser, &Script::new("run-a"), &green)?;
    let first = &report["first_divergence"];
    assert_eq!(
        selected(&mut browser)?,
        json!({"lane": 0, "step": first["step"], "op": "only_a", "kind": null})
    );
    // Both steps side by side, and the cause: the tool result that differed, A's and B's.
    let pair = browser.eval("document.querySelectorAll('#inspector .pair > div').length")?;
    assert_eq!(pair, 2);
    let cause = browser.eval("document.querySelector('#inspector .cause .where').textContent")?;
    let cause = cause.as_str().unwrap_or_default();
    assert!(
        cause.contains("function_call_output")
            && cause.contains("result of tool read_file, 1 step earlier"),
        "{cause}"
    );
    let b_text = browser.eval("document.querySelector('#inspector .cause .txt.b').textContent")?;
    assert!(
        b_text.as_str().unwrap_or_default().contains("12 passed"),
        "{b_text}"
    );
    let a_text = browser.eval("document.querySelector('#inspector .cause .txt.a').textContent")?;
    assert!(
        a_text.as_str().unwrap_or_default().contains("FAILED"),
        "{a_text}"
    );
    assert_eq!(browser.eval("location.hash")?, "#step/0/1");
    browser.screenshot("compare-first-divergence")?;
    browser.no_js_errors()
}

#[test]
fn n_and_p_step_through_the_divergences_in_the_reports_order() -> anyhow::Result<()> {
    let Some(mut browser) = browser_or_skip("n_and_p_step_through_the_divergences")? else {
        return Ok(());
    };
    let mut big = Script::new("ci-fix-big");
    big.spawn_reviewer = true;
    let mut small = small_model();
    small.spawn_reviewer = true;
    let (_a, _b, _dir, report) = compare(&mut browser, &big, &small)?;
    let expected: Vec<Value> = report["threads"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
        .flat_map(|(lane, t)| {
            t["divergences"]
                .as_array()
                .into_iter()
                .flatten()
                .map(move |d| json!([lane, d["step"]]))
        })
        .collect();
    assert!(expected.len() >= 3, "{expected:?}");
    let shown = browser.eval("window.rolloutCompare.divergences()")?;
    assert_eq!(shown["all"], Value::from(expected.clone()));
    assert_eq!(shown["first"], 0);
    let mut visited = vec![];
    for _ in 0..expected.len() {
        let s = selected(&mut browser)?;
        visited.push(json!([s["lane"], s["step"]]));
        browser.key("n")?;
    }
    assert_eq!(visited, expected);
    browser.key("p")?;
    let s = selected(&mut browser)?;
    assert_eq!(json!([s["lane"], s["step"]]), expected[expected.len() - 2]);
    browser.key("f")?;
    let s = selected(&mut browser)?;
    assert_eq!(json!([s["lane"], s["step"]]), expected[0]);
    browser.screenshot("compare-keyboard")?;
    // The root's last divergence: the final answers, caused by the edit and the failed tests.
    let last = expected
        .iter()
        .rev()
        .find(|d| d[0] == 0)
        .cloned()
        .unwrap_or_default();
    browser.eval(&format!(
        "window.rolloutCompare.select({}, {})",
        last[0], last[1]
    ))?;
    let causes = browser.eval("document.querySelectorAll('#inspector .cause').length")?;
    assert!(
        causes.as_u64() >= Some(3),
        "model, edit call, its output, the test result: {causes}"
    );
    browser.screenshot("compare-cause")?;
    browser.no_js_errors()
}

#[test]
fn a_click_selects_a_pair_and_a_sub_agent_of_b_starts_under_its_spawning_step() -> anyhow::Result<()>
{
    let Some(mut browser) = browser_or_skip("a_click_selects_a_pair")? else {
        return Ok(());
    };
    let mut reviewed = Script::new("run-b");
    reviewed.spawn_reviewer = true;
    let (_a, _b, _dir, report) = compare(&mut browser, &Script::new("run-a"), &reviewed)?;
    assert_eq!(report["threads"][1]["spawned_at_step"], 2);
    browser.eval("window.rolloutCompare.select(0, 0)")?;
    browser.eval("window.rolloutCompare.redrawNow()")?;
    // The child's first step sits in the column of the parent's spawning step.
    let parent = browser.eval("window.rolloutCompare.rectOf(0, 2)")?;
    let child = browser.eval("window.rolloutCompare.rectOf(1, 0)")?;
    assert_eq!(parent["x"], child["x"], "{parent} {child}");
    let (Some(x), Some(y)) = (child["x"].as_f64(), child["y"].as_f64()) else {
        anyhow::bail!("the child's step is not drawn: {child}");
    };
    browser.click(x, y)?;
    browser.wait_for("window.rolloutCompare.selected().lane === 1", WAIT)?;
    assert_eq!(
        selected(&mut browser)?,
        json!({"lane": 1, "step": 0, "op": "only_b", "kind": null})
    );
    let missing =
        browser.eval("document.querySelector('#inspector .pair .missing').textContent")?;
    assert!(missing
        .as_str()
        .unwrap_or_default()
        .contains("run A made no call here"));
    browser.screenshot("compare-sub-agent")?;
    browser.no_js_errors()
}

#[test]
fn the_demo_compared_with_itself_shows_no_divergence_and_the_totals() -> anyhow::Result<()> {
    let Some(mut browser) = browser_or_skip("the_demo_compared_with_itself")? else {
        return Ok(());
    };
    let html = render_compare_html(demo(), demo(), &DiffOptions::default())?;
    let (_dir, _) = open_compare(&mut browser, &html)?;
    let divergences = browser.eval("window.rolloutCompare.divergences()")?;
    assert_eq!(divergences, json!({"all": [], "first": -1}));
    let stats = browser.eval("window.rolloutCompare.redrawNow()")?;
    assert_eq!(
        (&stats["lanes"], &stats["lanesTotal"]),
        (&json!(3), &json!(3)),
        "{stats}"
    );
    let note = browser.eval("document.querySelector('#inspector .divnote').textContent")?;
    assert!(
        note.as_str().unwrap_or_default().contains("No divergence"),
        "{note}"
    );
    browser.no_js_errors()
}

#[test]
fn the_compare_page_is_self_contained_and_binds_no_inline_handlers() -> anyhow::Result<()> {
    let html = render_compare_html(demo(), demo(), &DiffOptions::default())?;
    support::viewer::self_contained(&html)?;
    // No inline event handlers: the script binds its own (a CSP without 'unsafe-inline'
    // for handlers holds).
    for handler in [
        "onclick=",
        "onload=",
        "onerror=",
        "onkeydown=",
        "onmouse",
        "oninput=",
    ] {
        anyhow::ensure!(!html.contains(handler), "an inline handler: {handler}");
    }
    Ok(())
}

/// Polls `expression` until it is truthy, tolerating the errors of a page being replaced.
fn wait_across_navigation(browser: &mut Browser, expression: &str) -> anyhow::Result<Value> {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        if let Ok(v) = browser.eval(expression) {
            if !matches!(v, Value::Null | Value::Bool(false)) {
                return Ok(v);
            }
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "`{expression}` not true after {WAIT:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn serve_lets_the_reader_choose_two_rollouts_and_compares_them_under_its_policy(
) -> anyhow::Result<()> {
    let Some(mut browser) = browser_or_skip("serve_lets_the_reader_choose_two_rollouts")? else {
        return Ok(());
    };
    let root = tempfile::tempdir()?;
    let mut green = Script::new("run-b");
    green.ci_log = "test result: ok. 12 passed".to_owned();
    for script in [Script::new("run-a"), green.clone()] {
        support::layer::record_into(
            root.path(),
            tracing_rollout::RolloutLayer::builder(),
            || script.run(),
        )?;
    }
    let (report, _a, _b) = diff_runs(&Script::new("run-a"), &green)?;
    let serve = support::serve::Serve::start(root.path())?;
    let host = serve.host();
    // Names outside the root, or that are not bundles, are refused as on every route.
    assert_eq!(serve.get("/compare?a=..%2F..&b=run-b", &host)?.0, 403);
    assert_eq!(serve.get("/api/compare?a=nope&b=run-b", &host)?.0, 404);
    assert_eq!(serve.get("/api/compare", &host)?.0, 400);
    let page = serve.request(&format!(
        "GET /compare?a=run-a&b=run-b HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    ))?;
    assert_eq!(page.status, 200);
    let policy = page.header("content-security-policy").unwrap_or_default();
    assert!(
        policy.contains("script-src 'self'") && !policy.contains("unsafe-inline"),
        "{policy}"
    );
    assert!(!page.body.contains("<script>"), "no inline script runs");
    // The index links to the chooser, which lists both bundles.
    browser.goto(&serve.url("/"))?;
    browser.wait_for("document.body.dataset.ready === '1'", WAIT)?;
    browser.eval("document.querySelector('a[href=\"/compare\"]').click()")?;
    wait_across_navigation(
        &mut browser,
        "document.querySelectorAll('#pick-b option').length === 2",
    )?;
    browser.eval("document.getElementById('pick-a').value = 'run-a'; document.getElementById('pick-b').value = 'run-b'")?;
    browser.screenshot("serve-compare-choose")?;
    browser.eval("setTimeout(function () { document.getElementById('pick-go').click(); }, 0)")?;
    wait_across_navigation(
        &mut browser,
        "window.rolloutCompare && window.rolloutCompare.ready",
    )?;
    assert_eq!(browser.eval("location.search")?, "?a=run-a&b=run-b");
    let first = &report["first_divergence"];
    assert_eq!(
        selected(&mut browser)?,
        json!({"lane": 0, "step": first["step"], "op": first["kind"], "kind": null})
    );
    let cause = browser.eval("document.querySelector('#inspector .cause .txt.b').textContent")?;
    assert!(
        cause.as_str().unwrap_or_default().contains("12 passed"),
        "{cause}"
    );
    browser.screenshot("serve-compare")?;
    browser.no_js_errors()
}

#[test]
fn serve_compares_two_codex_bundles_through_their_imports() -> anyhow::Result<()> {
    let root = tempfile::tempdir()?;
    let cache = tempfile::tempdir()?;
    // A whole recording, and one that Codex stopped writing after its first response.
    synth::web_search_rollout(&root.path().join("trace-a"), 2).write(None);
    synth::web_search_rollout(&root.path().join("trace-b"), 2).write(Some(7));
    let before = support::files::all_bytes(root.path())?;
    let serve = support::serve::Serve::start_cached(root.path(), cache.path())?;
    let host = serve.host();
    // The page's data: the library's diff, and the calls its steps name.
    let data = |query: &str| -> anyhow::Result<Value> {
        let (status, body) = serve.get(&format!("/api/compare?{query}"), &host)?;
        anyhow::ensure!(status == 200, "{status}: {body}");
        let data: Value = serde_json::from_str(&body)?;
        Ok(data["diff"].clone())
    };
    let report = data("a=trace-a&b=trace-b")?;
    assert_eq!(report["format"], "tracing-rollout/diff");
    let first = &report["first_divergence"];
    assert_eq!(
        (&first["agent_path"], &first["step"], &first["kind"]),
        (&json!("/root"), &json!(1), &json!("only_a")),
        "{first}"
    );
    assert_eq!(
        (
            &report["totals"]["a"]["inference_calls"],
            &report["totals"]["b"]["inference_calls"]
        ),
        (&json!(2), &json!(1))
    );
    assert_eq!(
        data("a=trace-a&b=trace-a")?["first_divergence"],
        Value::Null
    );
    assert_eq!(serve.get("/compare?a=trace-a&b=trace-b", &host)?.0, 200);
    // The imports went to the cache; Codex's directories are read, never written.
    assert!(std::fs::read_dir(cache.path())?.next().is_some());
    assert_eq!(support::files::all_bytes(root.path())?, before);
    Ok(())
}
