//! `tracing::field::valuable(&v)` payloads and fields (needs `--cfg tracing_unstable` and the
//! `valuable` feature; compiled to nothing otherwise).
#![cfg(all(tracing_unstable, feature = "valuable"))]

mod layer_support;

use std::collections::BTreeMap;

use anyhow::Result;
use pretty_assertions::assert_eq;
use serde_json::{json, Value};
use tracing::{info, info_span};
use tracing_rollout::RolloutLayer;

use layer_support::{only_bundle, record_into, trace_lines};

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
