//! Viewer measurements for BENCHMARKS.md: renders a bundle's page (`view::render_html`), opens
//! it in headless Chromium (`/usr/bin/chromium`, or `$CHROMIUM`) and prints the HTML size and
//! the time to first render: from navigation start to the first frame of the timeline
//! (`performance.now()` when the viewer is ready), median of REPEATS fresh loads.
//!
//! `cargo run --release --example view_bench -- BUNDLE [REPEATS]`

#[path = "../tests/view_support/mod.rs"]
mod view_support;

use std::time::Duration;

use anyhow::Context;
use tracing_rollout::view::{render_html, ViewOptions};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let bundle = args.next().context("usage: view_bench BUNDLE [REPEATS]")?;
    let repeats: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(3);
    let dir = tempfile::tempdir()?;
    let page = dir.path().join("view.html");
    let html = render_html(&bundle, &ViewOptions::default())?;
    std::fs::write(&page, &html)?;
    let mut times = Vec::new();
    for _ in 0..repeats {
        let mut browser = view_support::Browser::launch(&view_support::chromium_path())?;
        browser.goto(&view_support::file_url(&page))?;
        let ready = browser.wait_for(
            "window.rolloutView && window.rolloutView.readyAt",
            Duration::from_secs(300),
        )?;
        times.push(ready.as_f64().unwrap_or(f64::NAN));
        let errors = browser.js_errors()?;
        anyhow::ensure!(errors.is_empty(), "JavaScript errors: {errors:?}");
    }
    times.sort_by(f64::total_cmp);
    println!(
        "{bundle}: HTML {:.1} MiB, first render median {:.0} ms (min {:.0}, max {:.0}) over {repeats} loads",
        html.len() as f64 / (1 << 20) as f64,
        times[times.len() / 2],
        times[0],
        times[times.len() - 1]
    );
    Ok(())
}
