//! `tracing-rollout serve` and `summary --follow`, through the real binary: the index lists a
//! rollout still being written, its viewer shows new turns without a reload (in headless
//! Chromium), paths outside the root are refused, and `--follow` ends with the final tree.
#![cfg(feature = "cli")]

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context;
use support::cli::cli;
use support::fixtures::{demo, demo_lines, DEMO};
use support::serve::Serve;
use support::viewer::{browser_or_skip, inspector_body, open, WAIT};

#[test]
fn serve_refuses_paths_outside_the_root() -> anyhow::Result<()> {
    let root = tempfile::tempdir()?;
    let outside = tempfile::tempdir()?;
    let secret = "SECRET-OUTSIDE-THE-ROOT";
    std::fs::write(
        outside.path().join("trace.jsonl"),
        format!("{{\"seq\":1,\"note\":\"{secret}\"}}\n"),
    )?;
    std::fs::write(outside.path().join("passwd"), secret)?;
    let bundle = root.path().join("runs/demo");
    std::fs::create_dir_all(&bundle)?;
    std::fs::copy(format!("{DEMO}/trace.jsonl"), bundle.join("trace.jsonl"))?;
    std::os::unix::fs::symlink(outside.path(), root.path().join("escape"))?;
    std::fs::create_dir_all(root.path().join("half"))?;
    std::os::unix::fs::symlink(
        outside.path().join("trace.jsonl"),
        root.path().join("half/trace.jsonl"),
    )?;
    let serve = Serve::start(root.path())?;
    let host = format!("127.0.0.1:{}", serve.port);
    let (status, index) = serve.get("/api/bundles", &host)?;
    assert_eq!(status, 200);
    assert!(index.contains("\"path\":\"runs/demo\""), "{index}");
    assert!(
        !index.contains("escape") && !index.contains("half"),
        "symlinks are not followed: {index}"
    );
    let (status, _) = serve.get("/b/runs/demo/", &host)?;
    assert_eq!(status, 200);
    let name = outside
        .path()
        .file_name()
        .context("temp name")?
        .to_string_lossy()
        .into_owned();
    for path in [
        "/b/../".to_owned(),
        format!("/b/../{name}/"),
        format!("/b/runs/../../{name}/"),
        format!("/b/%2e%2e/{name}/"),
        format!("/b/runs%2f..%2f..%2f{name}/"),
        "/b/%2E%2E%2F%2E%2E%2Fetc/".to_owned(),
        "/b/escape/".to_owned(),
        "/b/half/".to_owned(),
        "/api/state/escape".to_owned(),
        format!("/api/state/..%2f{name}"),
        "/api/payload/escape/1".to_owned(),
        "/api/payload/half/1".to_owned(),
        format!("/api/payload/..%2F{name}/1"),
        "/b/runs%5c..%5c..%5cetc/".to_owned(),
        "/b/runs/demo%00/".to_owned(),
        "/../../etc/passwd".to_owned(),
    ] {
        let (status, body) = serve.get(&path, &host)?;
        assert!(
            status == 403 || status == 404,
            "{path} answered {status}: {body}"
        );
        assert!(
            !body.contains(secret),
            "{path} leaked the file outside the root"
        );
    }
    // Symlinked and traversing names are refused as such, not merely not found.
    for path in ["/b/escape/", "/b/%2e%2e/x/", "/api/payload/..%2Fx/1"] {
        assert_eq!(serve.get(path, &host)?.0, 403, "{path}");
    }
    // A page of another site (DNS rebinding) cannot read it.
    assert_eq!(serve.get("/api/bundles", "attacker.example")?.0, 403);
    Ok(())
}

#[test]
fn a_rollout_still_being_written_appears_and_its_new_turns_show_without_a_reload(
) -> anyhow::Result<()> {
    let Some(mut browser) = browser_or_skip("serve: a rollout still being written")? else {
        return Ok(());
    };
    let root = tempfile::tempdir()?;
    let bundle = root.path().join("live");
    std::fs::create_dir_all(&bundle)?;
    let lines = demo_lines()?;
    // The first 40 lines hold one turn of the lead; the rest of the demo comes later.
    let mut trace = std::fs::File::create(bundle.join("trace.jsonl"))?;
    for line in &lines[..40] {
        trace.write_all(line.as_bytes())?;
    }
    trace.flush()?;
    let serve = Serve::start(root.path())?;
    browser.goto(&serve.url("/"))?;
    browser.wait_for(
        "!!document.querySelector('tr[data-path=\"live\"] .badge.running')",
        WAIT,
    )?;
    browser.screenshot("serve-index")?;
    open(&mut browser, &serve.url("/b/live/"))?;
    let before = browser.eval("window.rolloutView.facts().counts.turns")?;
    assert_eq!(before, 1, "one turn so far");
    assert_eq!(
        browser.eval("window.rolloutView.facts().status")?,
        "running"
    );
    browser.eval("window.stillTheSamePage = true")?;
    // More of the rollout lands: new turns appear within 2 s, in the same page.
    for line in &lines[40..120] {
        trace.write_all(line.as_bytes())?;
    }
    trace.flush()?;
    let appended = Instant::now();
    let turns = browser.wait_for(
        "window.stillTheSamePage && window.rolloutView.facts().counts.turns > 1 && window.rolloutView.facts().counts.turns",
        Duration::from_secs(2),
    )?;
    eprintln!(
        "new turns ({turns}) shown {:?} after the append",
        appended.elapsed()
    );
    let shown = browser.eval("document.getElementById('rollout-facts').textContent")?;
    assert!(
        shown
            .as_str()
            .unwrap_or_default()
            .contains(&format!("{turns} turns")),
        "the header shows them: {shown}"
    );
    browser.screenshot("serve-live")?;
    // The end of the rollout: the page says completed and draws every lane and edge.
    for line in &lines[120..] {
        trace.write_all(line.as_bytes())?;
    }
    trace.flush()?;
    browser.wait_for(
        "window.stillTheSamePage && window.rolloutView.facts().status === 'completed'",
        WAIT,
    )?;
    let facts = browser.eval("window.rolloutView.facts()")?;
    assert_eq!(facts["counts"]["turns"], 6, "{facts}");
    assert_eq!(facts["lanes"], 3, "{facts}");
    assert_eq!(facts["edges"], 11, "{facts}");
    // Bodies come from the server on demand.
    browser.eval("window.rolloutView.select('tool:11')")?;
    let args = inspector_body(&mut browser)?;
    assert!(args.contains("cargo test -p net"), "{args}");
    // Opened again once it has ended, the rollout comes as a whole page (no polling).
    browser.goto("about:blank")?;
    open(&mut browser, &serve.url("/b/live/#tool:11"))?;
    let config = browser.eval("JSON.parse(document.getElementById('config').textContent)")?;
    assert!(config.get("state_url").is_none(), "{config}");
    assert_eq!(browser.eval("window.rolloutView.facts().counts.turns")?, 6);
    let args = inspector_body(&mut browser)?;
    assert!(args.contains("cargo test -p net"), "{args}");
    browser.no_js_errors()
}

#[test]
fn summary_follow_prints_as_lines_land_and_ends_with_the_final_tree() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let lines = demo_lines()?;
    let mut trace = std::fs::File::create(dir.path().join("trace.jsonl"))?;
    for line in &lines[..60] {
        trace.write_all(line.as_bytes())?;
    }
    trace.flush()?;
    std::fs::copy(
        format!("{DEMO}/manifest.json"),
        dir.path().join("manifest.json"),
    )?;
    let mut child = cli()
        .args(["summary", "--follow"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().context("stdout")?;
    let mut reader = BufReader::new(stdout);
    let mut first = String::new();
    reader.read_line(&mut first)?;
    assert!(
        first.contains("running"),
        "the first print is of a running rollout: {first}"
    );
    // Half a line, then the rest: only complete lines are applied.
    let (rest, last) = lines[60..].split_at(lines.len() - 61);
    for line in rest {
        trace.write_all(line.as_bytes())?;
    }
    let (a, b) = last[0].split_at(last[0].len() / 2);
    trace.write_all(a.as_bytes())?;
    trace.flush()?;
    std::thread::sleep(Duration::from_millis(300));
    trace.write_all(b.as_bytes())?;
    trace.flush()?;
    let mut out = first;
    reader.read_to_string(&mut out)?;
    let status = child.wait()?;
    assert!(status.success(), "{status}");
    let golden = std::fs::read_to_string(format!("{DEMO}/summary.txt"))?;
    let (_, last_print) = out
        .rsplit_once("--- bundle ended ---\n")
        .context("a final print")?;
    assert_eq!(last_print, golden);
    Ok(())
}

#[test]
fn view_writes_one_page_and_leaves_bodies_out_past_the_budget() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let page = dir.path().join("demo.html");
    let out = cli().args(["view", DEMO, "-o"]).arg(&page).output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8(out.stdout)?.trim(),
        page.display().to_string()
    );
    let html = std::fs::read_to_string(&page)?;
    assert!(html.contains(r#"id="skeleton""#) && html.contains(r#"id="p6""#));
    assert!(html.contains(r#""omitted_bodies":0"#));
    let lean = dir.path().join("lean.html");
    let out = cli()
        .args(["view", DEMO, "--max-body-bytes", "0", "-o"])
        .arg(&lean)
        .output()?;
    assert!(out.status.success());
    let html = std::fs::read_to_string(&lean)?;
    assert!(!html.contains(r#"id="p6""#), "no body embedded");
    let payloads = tracing_rollout::reduce::reduce_bundle(DEMO)?.payloads.len();
    assert!(html.contains(&format!(r#""omitted_bodies":{payloads}"#)));
    // A missing bundle is an I/O error: exit 2, the path in the message.
    let out = cli().args(["view", "/nonexistent/bundle"]).output()?;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/bundle"));
    Ok(())
}

#[test]
fn a_root_that_is_itself_a_bundle_is_served_under_its_empty_name() -> anyhow::Result<()> {
    let serve = Serve::start(demo())?;
    let host = format!("127.0.0.1:{}", serve.port);
    let (status, index) = serve.get("/api/bundles", &host)?;
    assert_eq!(status, 200);
    assert!(index.contains(r#""path":".""#), "{index}");
    let (status, page) = serve.get("/b/", &host)?;
    assert_eq!(status, 200);
    assert!(
        page.contains(r#""payload_url":"/api/payload//""#),
        "a browser keeps these URLs"
    );
    let (status, body) = serve.get("/api/payload//6", &host)?;
    assert_eq!(status, 200);
    assert!(body.contains("\"input\""), "{body}");
    assert_eq!(serve.get("/b/..", &host)?.0, 403);
    Ok(())
}
