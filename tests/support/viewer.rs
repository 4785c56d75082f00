//! Driving the viewer page (`tracing-rollout view`, `serve`) in a [`Browser`]: start one (or
//! skip without Chromium), wait for the page's first frame, read the body its inspector
//! loads. Every wait is bounded by [`WAIT`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::browser::{chromium_path, file_url, Browser};
use super::skip::skipped;

/// How long any one thing the page does may take.
pub const WAIT: Duration = Duration::from_secs(30);

/// A browser for `test`, or `None` (after a loud SKIPPED line) when Chromium is missing
/// outside CI. Under CI (env `CI` set) a missing Chromium is an error.
pub fn browser_or_skip(test: &str) -> anyhow::Result<Option<Browser>> {
    let path = chromium_path();
    if !path.exists() {
        let why = format!(
            "Chromium is not installed at {} (apt-get install -y chromium; .ci/run installs it)",
            path.display()
        );
        skipped(test, &why)?;
        return Ok(None);
    }
    Browser::launch(&path).map(Some)
}

/// Opens `url` and waits for the viewer's first frame.
pub fn open(browser: &mut Browser, url: &str) -> anyhow::Result<()> {
    browser.goto(url)?;
    browser.wait_for("window.rolloutView && window.rolloutView.ready", WAIT)?;
    Ok(())
}

/// The body the open inspector shows, once it has loaded (embedded or fetched).
pub fn inspector_body(browser: &mut Browser) -> anyhow::Result<String> {
    let body = browser.wait_for(
        "(t => t !== 'loading…' && t)((document.querySelector('#inspector pre.body') || {}).textContent)",
        WAIT,
    )?;
    Ok(body.as_str().unwrap_or_default().to_owned())
}

/// Writes the viewer of `bundle` into a temp dir and opens it at `fragment` (`""`, or `#` and
/// an entity id); returns the dir (the page lives as long as it) and the page's path.
pub fn show(
    browser: &mut Browser,
    bundle: &Path,
    fragment: &str,
) -> anyhow::Result<(tempfile::TempDir, PathBuf)> {
    let html = tracing_rollout::view::render_html(bundle, &Default::default())?;
    show_html(browser, &html, fragment)
}

/// Writes `html` into a temp dir as a page and opens it at `fragment`; returns the dir and
/// the page's path.
pub fn show_html(
    browser: &mut Browser,
    html: &str,
    fragment: &str,
) -> anyhow::Result<(tempfile::TempDir, PathBuf)> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("view.html");
    std::fs::write(&path, html)?;
    open(browser, &format!("{}{fragment}", file_url(&path)))?;
    Ok((dir, path))
}

/// An error unless `html` refers to nothing outside itself (no script or style source, no
/// link, no URL).
pub fn self_contained(html: &str) -> anyhow::Result<()> {
    for external in [
        "<script src",
        "<link",
        "http://",
        "https://",
        "@import",
        "url(",
    ] {
        anyhow::ensure!(
            !html.contains(external),
            "the page refers outside itself: {external}"
        );
    }
    Ok(())
}
