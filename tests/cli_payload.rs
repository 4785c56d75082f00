//! The `tracing-rollout payload` and `expand` commands: whole bodies from v1 and v2 bundles.
#![cfg(feature = "cli")]

mod support;

use pretty_assertions::assert_eq;
use serde_json::json;
use support::cli::{cli, succeeded};
use support::fixtures::{demo_trace, DEMO};
use support::layer::{record, Bundle};
use support::spans::{in_rollout, in_thread};
use tracing::info;
use tracing_rollout::format::{Record, RecordBody};

/// A v2 bundle of ten requests, each repeating the one before; returns it and the bodies.
fn v2_bundle() -> anyhow::Result<(Bundle, Vec<String>)> {
    let mut bodies = Vec::new();
    let bundle = record(|| {
        in_rollout("cli-v2", || {
            in_thread("main", || {
                let mut input = Vec::new();
                for i in 0..10 {
                    input.push(json!({"role": "user", "content": format!("question {i} {}", "words ".repeat(100))}));
                    let body = json!({"model": "m", "input": input}).to_string();
                    let _i = tracing::info_span!("rollout.inference").entered();
                    info!(name: "rollout.payload", role = "request", payload = body.as_str());
                    bodies.push(body);
                }
            })
        })
    })?;
    Ok((bundle, bodies))
}

#[test]
fn payload_prints_one_whole_body_of_a_v2_bundle() -> anyhow::Result<()> {
    let (bundle, bodies) = v2_bundle()?;
    let dir = &bundle.path;
    let text = std::fs::read_to_string(dir.join("trace.jsonl"))?;
    let mut checked = 0;
    for line in text.lines() {
        let record = Record::parse(line)?;
        if !matches!(record.body, RecordBody::PayloadParts { .. }) {
            continue;
        }
        let out = cli()
            .arg("payload")
            .arg(dir)
            .arg(record.seq.to_string())
            .output()?;
        succeeded(&out)?;
        let body = String::from_utf8(out.stdout)?;
        assert!(
            bodies.contains(&body.trim_end().to_owned()),
            "seq {}",
            record.seq
        );
        checked += 1;
    }
    assert!(checked >= 5, "{checked} bodies stored as parts");
    let out = cli().arg("payload").arg(dir).arg("1").output()?;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr)?.contains("bundle_started"));
    Ok(())
}

#[test]
fn expand_writes_the_v1_layout_of_any_bundle() -> anyhow::Result<()> {
    // A v1 bundle comes out as it is on disk.
    let out = cli().args(["expand", DEMO]).output()?;
    succeeded(&out)?;
    assert_eq!(String::from_utf8(out.stdout)?, demo_trace()?);
    // A v2 bundle: every line parses, no `parts` is left, every body is whole.
    let (bundle, bodies) = v2_bundle()?;
    let dir = &bundle.path;
    let out = cli().arg("expand").arg(dir).output()?;
    succeeded(&out)?;
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
