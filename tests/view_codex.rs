//! The viewer on imported Codex recordings, in a real headless Chromium: the multi-agent v2
//! rollout (four agents, every edge delivered) and the code-mode one (cells with the calls
//! they made), with no JavaScript errors. Screenshots go to `target/screenshots/`
//! (`codex-agents-v2.png`, `codex-code-mode.png`; the README shows copies).
//!
//! Skips loudly without Chromium or the Codex corpus (`shared/codex-traces`), and fails
//! instead under CI.
#![cfg(feature = "cli")]

mod support;

use std::path::{Path, PathBuf};

use support::browser::file_url;
use support::codex::corpus_dir;
use support::viewer::{browser_or_skip, open, WAIT};
use tracing_rollout::import::codex;
use tracing_rollout::reduce::{reduce_bundle, RolloutState};
use tracing_rollout::view::{render_html, ViewOptions};

/// The corpus entry `entry`, imported into `out`: its bundle of ours, its graph and its page.
fn imported(entry: &str, out: &Path) -> anyhow::Result<Option<(RolloutState, PathBuf)>> {
    let corpus = match corpus_dir() {
        Ok(dir) => dir,
        Err(why) => {
            support::skip::skipped(&format!("the {entry} viewer test"), &why)?;
            return Ok(None);
        }
    };
    let source = codex::find_bundles(&corpus.join(entry)).remove(0);
    let bundle = codex::import(&source, out)?.remove(0).bundle;
    let page = out.join(format!("{entry}.html"));
    std::fs::write(&page, render_html(&bundle, &ViewOptions::default())?)?;
    Ok(Some((reduce_bundle(&bundle)?, page)))
}

#[test]
fn the_imported_multi_agent_rollout_draws_four_agents_and_every_edge_delivered(
) -> anyhow::Result<()> {
    let out = tempfile::tempdir()?;
    let Some((state, page)) = imported("agents_v2", out.path())? else {
        return Ok(());
    };
    let Some(mut browser) = browser_or_skip("the imported multi-agent page")? else {
        return Ok(());
    };
    open(&mut browser, &file_url(&page))?;
    let stats = browser.eval("window.rolloutView.stats()")?;
    assert_eq!(stats["lanes"], 4, "{stats}");
    assert_eq!(
        stats["edges"].as_u64(),
        Some(state.edges.len() as u64),
        "{stats}"
    );
    assert_eq!(stats["undelivered"], 0, "{stats}");
    browser.screenshot("codex-agents-v2")?;
    browser.no_js_errors()
}

#[test]
fn the_imported_code_mode_rollout_shows_a_cell_with_the_calls_it_made() -> anyhow::Result<()> {
    let out = tempfile::tempdir()?;
    let Some((state, page)) = imported("code_mode", out.path())? else {
        return Ok(());
    };
    let Some(mut browser) = browser_or_skip("the imported code-mode page")? else {
        return Ok(());
    };
    // The first cell: two commands in parallel, a goal lookup and an MCP call.
    let cell = state
        .code_cells
        .values()
        .find(|c| c.call_id.as_deref() == Some("call_cell_1"))
        .ok_or_else(|| anyhow::anyhow!("no call_cell_1"))?;
    assert_eq!(cell.tool_calls.len(), 4);
    open(
        &mut browser,
        &format!("{}#{}", file_url(&page), cell.code_cell_id),
    )?;
    browser.wait_for(
        &format!(
            "document.getElementById('inspector').dataset.id === {:?}",
            cell.code_cell_id
        ),
        WAIT,
    )?;
    let shown = browser.eval("document.getElementById('inspector').textContent")?;
    let shown = shown.as_str().unwrap_or_default();
    assert!(shown.contains("exec_command"), "{shown}");
    browser.screenshot("codex-code-mode")?;
    browser.no_js_errors()
}
