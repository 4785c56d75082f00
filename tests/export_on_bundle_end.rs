//! `RolloutLayerBuilder::on_bundle_end`: the hook a program uses to reduce or export each
//! bundle as its rollout ends. Runs through the real layer and writer: the hook sees the
//! final manifest and the whole log, runs once per bundle (also for one left open at
//! finish), and a panicking hook does not stop the writer.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use tracing::info_span;
use tracing_rollout::format::Manifest;
use tracing_rollout::reduce::reduce_bundle;
use tracing_rollout::RolloutLayer;
use tracing_subscriber::prelude::*;

/// What the hook saw for one bundle.
#[derive(Debug, Clone)]
struct Seen {
    dir: PathBuf,
    manifest_status: String,
    threads: usize,
    complete: bool,
}

#[test]
fn the_hook_runs_once_per_bundle_after_its_manifest_is_final() -> Result<()> {
    let root = tempfile::tempdir()?;
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let sink = Arc::clone(&seen);
    let (layer, guard) = RolloutLayer::builder()
        .root_dir(root.path())
        .on_bundle_end(move |dir| {
            if dir.ends_with("boom") {
                panic!("a hook that panics");
            }
            let manifest: Option<Manifest> = std::fs::read_to_string(dir.join("manifest.json"))
                .ok()
                .and_then(|t| serde_json::from_str(&t).ok());
            let state = reduce_bundle(dir).ok();
            if let Ok(mut seen) = sink.lock() {
                seen.push(Seen {
                    dir: dir.to_path_buf(),
                    manifest_status: manifest.map(|m| m.status).unwrap_or_default(),
                    threads: state.as_ref().map_or(0, |s| s.threads.len()),
                    complete: state.is_some_and(|s| s.complete),
                });
            }
        })
        .build()?;
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let open = tracing::dispatcher::with_default(&dispatch, || {
        for id in ["first", "boom", "second"] {
            let rollout = info_span!("rollout", rollout_id = id);
            let _thread = info_span!(parent: &rollout, "rollout.thread", thread_id = "main");
        }
        // Still open when the guard finishes.
        let open = info_span!("rollout", rollout_id = "left-open");
        let thread = info_span!(parent: &open, "rollout.thread", thread_id = "main");
        (open, thread)
    });
    let stats = guard.finish()?;
    drop(open);
    assert_eq!(stats.bundles.len(), 4);

    let seen = seen
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .clone();
    let name = |s: &Seen| s.dir.file_name().map(|n| n.to_string_lossy().into_owned());
    let names: Vec<Option<String>> = seen.iter().map(name).collect();
    assert_eq!(
        names,
        ["first", "second", "left-open"].map(|n| Some(n.to_owned())),
        "once per bundle, in end order; the panicking hook reported nothing"
    );
    for s in &seen[..2] {
        assert_eq!(s.manifest_status, "completed", "{s:?}");
        assert_eq!(s.threads, 1);
        assert!(s.complete, "the whole log is on disk: {s:?}");
    }
    let left = seen.last().context("left-open")?;
    assert_eq!(left.manifest_status, "incomplete");
    assert!(!left.complete);
    Ok(())
}

#[cfg(feature = "otlp")]
#[test]
fn the_hook_can_export_each_bundle_to_otlp_as_it_ends() -> Result<()> {
    use tracing_rollout::export::otlp::{export_otlp, write_otlp_json, OtlpOptions};

    let root = tempfile::tempdir()?;
    let (layer, guard) = RolloutLayer::builder()
        .root_dir(root.path())
        .on_bundle_end(|dir| {
            if let Ok(request) = export_otlp(dir, &OtlpOptions::new()) {
                let _ = write_otlp_json(&request, dir.join("otlp.jsonl"));
            }
        })
        .build()?;
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&dispatch, || {
        let rollout = info_span!("rollout", rollout_id = "exported");
        let thread = info_span!(parent: &rollout, "rollout.thread", thread_id = "main");
        let _tool = info_span!(parent: &thread, "rollout.tool", tool = "ls", call_id = "c-1");
    });
    let stats = guard.finish()?;
    let bundle = stats.bundles.first().context("a bundle")?;
    let text = std::fs::read_to_string(bundle.join("otlp.jsonl"))?;
    assert!(text.contains("\"execute_tool ls\""), "{text}");
    assert!(text.contains("\"invoke_agent main\""));
    Ok(())
}
