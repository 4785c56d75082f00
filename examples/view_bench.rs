//! Viewer measurements for BENCHMARKS.md: renders a bundle's page (`view::render_html`), opens
//! it in headless Chromium (`/usr/bin/chromium`, or `$CHROMIUM`) and prints the HTML size and
//! the time to first render: from navigation start to the first frame of the timeline
//! (`performance.now()` in the animation frame after the first draw), and to the end of
//! parsing (every shard and body in; the page is drawn and usable before), medians of REPEATS
//! fresh browsers.
//!
//! `cargo run --release --example view_bench -- BUNDLE|PAGE.html [REPEATS]`

#[path = "../tests/support/browser.rs"]
mod browser;

use std::time::Duration;

use anyhow::Context;
use tracing_rollout::view::{render_html, ViewOptions};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let bundle = args.next().context("usage: view_bench BUNDLE [REPEATS]")?;
    let repeats: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(3);
    let dir = tempfile::tempdir()?;
    let page = dir.path().join("view.html");
    // A page already written (`tracing-rollout view … -o X.html`) is opened as it is.
    let html = if bundle.ends_with(".html") {
        std::fs::read_to_string(&bundle)?
    } else {
        render_html(&bundle, &ViewOptions::default())?
    };
    std::fs::write(&page, &html)?;
    let mut times = Vec::new();
    let mut completes = Vec::new();
    let mut redraws = Vec::new();
    let mut inspects = Vec::new();
    let mut searches = Vec::new();
    let mut searches_again = Vec::new();
    for _ in 0..repeats {
        let mut browser = browser::Browser::launch(&browser::chromium_path())?;
        browser.goto(&browser::file_url(&page))?;
        let ready = browser.wait_for(
            "window.rolloutView && window.rolloutView.readyAt",
            Duration::from_secs(300),
        )?;
        times.push(ready.as_f64().unwrap_or(f64::NAN));
        let complete =
            browser.wait_for("window.rolloutView.completeAt", Duration::from_secs(300))?;
        completes.push(complete.as_f64().unwrap_or(f64::NAN));
        let script = browser.eval("window.rolloutView.scriptAt")?;
        let timings = browser.eval("window.rolloutView.timings")?;
        // Responsiveness once loaded: a whole-rollout redraw, and opening the inspector of the
        // last inference call (its request transcript; shards parsed on the way).
        let redraw = browser.eval(
            "(() => { const t = performance.now(); for (let i = 0; i < 5; i++) window.rolloutView.redrawNow(); return (performance.now() - t) / 5; })()",
        )?;
        let inspect = browser.eval(
            "(() => { const ids = window.rolloutView.ids('inference'); const t = performance.now(); window.rolloutView.select(ids[ids.length - 1]); return performance.now() - t; })()",
        )?;
        // Search: the first one parses every shard of text; the second reuses the index.
        let search = browser.eval(
            "(() => { const t0 = performance.now(); const n = window.rolloutView.search('retry'); const t1 = performance.now(); window.rolloutView.search('timeout'); return [n, t1 - t0, performance.now() - t1]; })()",
        )?;
        searches.push(search[1].as_f64().unwrap_or(f64::NAN));
        searches_again.push(search[2].as_f64().unwrap_or(f64::NAN));
        redraws.push(redraw.as_f64().unwrap_or(f64::NAN));
        inspects.push(inspect.as_f64().unwrap_or(f64::NAN));
        eprintln!("  script started at {script} ms, first frame at {ready} ms, parsed at {complete} ms; {timings}; redraw {redraw} ms, inspector {inspect} ms");
        browser.no_js_errors()?;
    }
    times.sort_by(f64::total_cmp);
    completes.sort_by(f64::total_cmp);
    redraws.sort_by(f64::total_cmp);
    inspects.sort_by(f64::total_cmp);
    searches.sort_by(f64::total_cmp);
    searches_again.sort_by(f64::total_cmp);
    println!(
        "{bundle}: HTML {:.1} MiB, first render median {:.0} ms (min {:.0}, max {:.0}), every shard parsed median {:.0} ms, whole-rollout redraw median {:.1} ms, inspector median {:.1} ms, first search {:.0} ms, next search {:.0} ms, over {repeats} loads",
        html.len() as f64 / (1 << 20) as f64,
        times[times.len() / 2],
        times[0],
        times[times.len() - 1],
        completes[completes.len() / 2],
        redraws[redraws.len() / 2],
        inspects[inspects.len() / 2],
        searches[searches.len() / 2],
        searches_again[searches_again.len() / 2],
    );
    Ok(())
}
