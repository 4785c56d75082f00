//! The `tracing-rollout payload` and `expand` commands: whole bodies from v1 and v2 bundles.
#![cfg(feature = "cli")]

use std::path::PathBuf;
use std::process::Command;

use pretty_assertions::assert_eq;
use serde_json::json;
use tracing::info;
use tracing_rollout::format::{Record, RecordBody};
use tracing_rollout::RolloutLayer;
use tracing_subscriber::prelude::*;

const DEMO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/demo");

fn cli() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tracing-rollout"))
}

/// A v2 bundle of ten requests, each repeating the one before; returns it and the bodies.
fn v2_bundle(root: &std::path::Path) -> anyhow::Result<(PathBuf, Vec<String>)> {
    let (layer, guard) = RolloutLayer::builder().root_dir(root).build()?;
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let mut bodies = Vec::new();
    tracing::dispatcher::with_default(&dispatch, || {
        let _r = tracing::info_span!("rollout", rollout_id = "cli-v2").entered();
        let _t = tracing::info_span!("rollout.thread", thread_id = "main").entered();
        let mut input = Vec::new();
        for i in 0..10 {
            input.push(json!({"role": "user", "content": format!("question {i} {}", "words ".repeat(100))}));
            let body = json!({"model": "m", "input": input}).to_string();
            let _i = tracing::info_span!("rollout.inference").entered();
            info!(name: "rollout.payload", role = "request", payload = body.as_str());
            bodies.push(body);
        }
    });
    drop(dispatch);
    let stats = guard.finish()?;
    Ok((stats.bundles[0].clone(), bodies))
}

#[test]
fn payload_prints_one_whole_body_of_a_v2_bundle() -> anyhow::Result<()> {
    let root = tempfile::tempdir()?;
    let (dir, bodies) = v2_bundle(root.path())?;
    let text = std::fs::read_to_string(dir.join("trace.jsonl"))?;
    let mut checked = 0;
    for line in text.lines() {
        let record = Record::parse(line)?;
        if !matches!(record.body, RecordBody::PayloadParts { .. }) {
            continue;
        }
        let out = cli()
            .arg("payload")
            .arg(&dir)
            .arg(record.seq.to_string())
            .output()?;
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let body = String::from_utf8(out.stdout)?;
        assert!(
            bodies.contains(&body.trim_end().to_owned()),
            "seq {}",
            record.seq
        );
        checked += 1;
    }
    assert!(checked >= 5, "{checked} bodies stored as parts");
    let out = cli().arg("payload").arg(&dir).arg("1").output()?;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr)?.contains("bundle_started"));
    Ok(())
}

#[test]
fn expand_writes_the_v1_layout_of_any_bundle() -> anyhow::Result<()> {
    // A v1 bundle comes out as it is on disk.
    let out = cli().args(["expand", DEMO]).output()?;
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8(out.stdout)?,
        std::fs::read_to_string(format!("{DEMO}/trace.jsonl"))?
    );
    // A v2 bundle: every line parses, no `parts` is left, every body is whole.
    let root = tempfile::tempdir()?;
    let (dir, bodies) = v2_bundle(root.path())?;
    let out = cli().arg("expand").arg(&dir).output()?;
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout)?;
    let mut got = Vec::new();
    for line in text.lines() {
        if let RecordBody::Payload { body, .. } = Record::parse(line)?.body {
            got.push(body.get().to_owned());
        }
        assert!(!line.contains("\"parts\":"), "{line}");
    }
    assert_eq!(got, bodies);
    Ok(())
}
