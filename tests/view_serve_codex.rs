//! `serve` on a `CODEX_ROLLOUT_TRACE_ROOT`: Codex bundles are listed beside bundles of ours,
//! and one that Codex is still writing is followed — what Codex appends shows on the next
//! request, until the recording ends.
#![cfg(feature = "cli")]

mod support;

use std::sync::mpsc;

use serde_json::Value;
use support::codex::synth;
use support::fixtures::DEMO;

/// A server for `root` on its own thread (it lives until the test process ends); its URL.
fn serve(root: &std::path::Path) -> anyhow::Result<String> {
    let (tx, rx) = mpsc::channel();
    let root = root.to_path_buf();
    std::thread::spawn(
        move || match tracing_rollout::view::serve(&root, "127.0.0.1:0") {
            Ok(server) => {
                let _ = tx.send(Ok(server.addr()));
                let _ = server.run();
            }
            Err(e) => {
                let _ = tx.send(Err(e.to_string()));
            }
        },
    );
    let addr = rx.recv()?.map_err(anyhow::Error::msg)?;
    Ok(format!("http://{addr}"))
}

fn get_json(url: &str) -> anyhow::Result<Value> {
    let mut reply = ureq::get(url).call()?;
    Ok(serde_json::from_str(&reply.body_mut().read_to_string()?)?)
}

#[test]
fn serve_lists_codex_bundles_beside_ours_and_follows_one_codex_is_writing() -> anyhow::Result<()> {
    let root = tempfile::tempdir()?;
    let cache = tempfile::tempdir()?;
    // The cache is where live imports go; this process is the server's.
    std::env::set_var("TRACING_ROLLOUT_CACHE", cache.path());
    std::fs::create_dir(root.path().join("ours"))?;
    for file in ["trace.jsonl", "manifest.json"] {
        std::fs::copy(
            format!("{DEMO}/{file}"),
            root.path().join("ours").join(file),
        )?;
    }
    let codex = root.path().join("trace-live");
    let s = synth::web_search_rollout(&codex, 2);
    s.write(Some(7));
    let url = serve(root.path())?;
    let rows = get_json(&format!("{url}/api/bundles"))?;
    let row = |rows: &Value, path: &str| {
        rows.as_array()
            .and_then(|r| r.iter().find(|row| row["path"] == path).cloned())
            .unwrap_or(Value::Null)
    };
    assert_eq!(row(&rows, "ours")["rollout_id"], "multi-agent-demo");
    let live = row(&rows, "trace-live");
    assert_eq!(live["rollout_id"], synth::ROOT, "{rows:#}");
    assert_eq!(
        (live["status"].as_str(), live["inference_calls"].as_u64()),
        (Some("running"), Some(1))
    );
    // Codex writes the rest; the next request shows it.
    s.write(None);
    let rows = get_json(&format!("{url}/api/bundles"))?;
    let done = row(&rows, "trace-live");
    assert_eq!(
        (done["status"].as_str(), done["inference_calls"].as_u64()),
        (Some("completed"), Some(2))
    );
    let (status, _) = (
        ureq::get(&format!("{url}/b/trace-live/")).call()?.status(),
        (),
    );
    assert_eq!(status, 200);
    Ok(())
}
