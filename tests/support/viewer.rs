//! Driving the viewer page (`tracing-rollout view`, `serve`) in a [`Browser`]: start one (or
//! skip without Chromium), wait for the page's first frame, read the body its inspector
//! loads. Every wait is bounded by [`WAIT`].

use std::time::Duration;

use super::browser::{chromium_path, Browser};
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
