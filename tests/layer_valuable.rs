//! `tracing::field::valuable(&v)` payloads and fields (needs `--cfg tracing_unstable` and the
//! `valuable` feature; compiled to nothing otherwise).
#![cfg(all(tracing_unstable, feature = "valuable"))]

mod support;

use std::collections::BTreeMap;

use anyhow::Result;
use pretty_assertions::assert_eq;
use serde_json::{json, Value};
use tracing::{info, info_span};
use tracing_rollout::RolloutLayer;

use support::layer::{only_bundle, record_into, trace_lines};

#[test]
fn valuable_payloads_and_fields_are_recorded_as_nested_json() -> Result<()> {
    let root = tempfile::tempdir()?;
    // A map of lists (no derive: the `valuable` crate's derive feature is not enabled).
    let args: BTreeMap<String, Vec<String>> = [
        ("path".to_owned(), vec!["/tmp/a\nb".to_owned()]),
        ("tags".to_owned(), vec!["x".to_owned(), "y".to_owned()]),
    ]
    .into_iter()
    .collect();
    let stats = record_into(root.path(), RolloutLayer::builder(), || {
        info_span!("rollout", rollout_id = "v", args = tracing::field::valuable(&args)).in_scope(|| {
            info!(name: "rollout.payload", role = "args", payload = tracing::field::valuable(&args));
        });
    })?;
    let lines = trace_lines(&only_bundle(&stats)?)?;
    let started: Value = serde_json::from_str(&lines[1])?;
    let payload: Value = serde_json::from_str(&lines[2])?;
    let expected = json!({"path": ["/tmp/a\nb"], "tags": ["x", "y"]});
    assert_eq!(started["fields"]["args"], expected);
    assert_eq!(payload["body"], expected);
    assert_eq!(
        payload["bytes"],
        json!(r#"{"path":["/tmp/a\nb"],"tags":["x","y"]}"#.len())
    );
    Ok(())
}

/// A value nested `depth` levels deep, with a secret at the bottom (no derive: a hand-written
/// `Valuable` that is a list or a map).
enum Deep {
    Leaf(BTreeMap<String, String>),
    Level(Vec<Deep>),
}

impl valuable::Valuable for Deep {
    fn as_value(&self) -> valuable::Value<'_> {
        match self {
            Deep::Leaf(map) => map.as_value(),
            Deep::Level(list) => list.as_value(),
        }
    }

    fn visit(&self, visit: &mut dyn valuable::Visit) {
        match self {
            Deep::Leaf(map) => map.visit(visit),
            Deep::Level(list) => list.visit(visit),
        }
    }
}

/// Redaction holds for `valuable` fields and payloads nested 300 deep (past serde_json's
/// recursion limit of 128), and the bundle reduces.
#[test]
fn a_secret_in_a_valuable_value_300_deep_is_redacted_and_the_bundle_reduces() -> Result<()> {
    const SECRET: &str = "sk-valuable-deep-42";
    let leaf: BTreeMap<String, String> = [
        ("API_KEY".to_owned(), SECRET.to_owned()),
        ("note".to_owned(), "kept".to_owned()),
    ]
    .into_iter()
    .collect();
    let deep = (0..300).fold(Deep::Leaf(leaf), |v, _| Deep::Level(vec![v]));
    let root = tempfile::tempdir()?;
    let builder = RolloutLayer::builder().redact(tracing_rollout::Redact::keys(["api_key"]));
    let stats = record_into(root.path(), builder, || {
        let _r = info_span!("rollout", rollout_id = "v").entered();
        info_span!("rollout.tool", call_id = "c", config = tracing::field::valuable(&deep))
            .in_scope(|| {
                info!(name: "rollout.payload", role = "args", payload = tracing::field::valuable(&deep));
            });
    })?;
    let dir = only_bundle(&stats)?;
    let text = std::fs::read_to_string(dir.join("trace.jsonl"))?;
    anyhow::ensure!(!text.contains(SECRET), "the secret reached the disk");
    anyhow::ensure!(text.contains("[REDACTED]") && text.contains("kept"));
    let state = tracing_rollout::reduce::reduce_bundle(&dir)?;
    assert_eq!(state.tool_calls.len(), 1);
    assert_eq!(state.payloads.len(), 1);
    Ok(())
}
