//! Tests of the index beside its code: only new or changed bundles are summarised again, a page
//! is sent only what changed since its version, and the time budget leaves the rest pending.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use super::*;

const DEMO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/demo");

fn copy_demo(root: &Path, name: &str) -> std::io::Result<()> {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir)?;
    for file in ["trace.jsonl", "manifest.json"] {
        std::fs::copy(Path::new(DEMO).join(file), dir.join(file))?;
    }
    Ok(())
}

fn paths(json: &str) -> Vec<String> {
    let v: Value = serde_json::from_str(json).unwrap_or_default();
    v["rows"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .filter_map(|r| r["path"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn field(json: &str, key: &str) -> Value {
    let v: Value = serde_json::from_str(json).unwrap_or_default();
    v[key].clone()
}

fn index_of(root: &Path) -> Index {
    let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    Index::new(root, None)
}

/// The bundles directly under the index's root, as the server's index would name them.
fn found(index: &Index) -> Vec<(String, std::path::PathBuf)> {
    let mut list: Vec<(String, std::path::PathBuf)> = std::fs::read_dir(&index.root)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
                .collect()
        })
        .unwrap_or_default();
    list.sort();
    list
}

/// A refresh that stamps every bundle again and has all the time it needs.
fn refresh(index: &mut Index) -> Progress {
    index.last_scan = None;
    let list = found(index);
    index.refresh(list.into_iter(), Duration::from_secs(60))
}

#[test]
fn only_new_and_changed_bundles_are_summarised_again() -> std::io::Result<()> {
    let root = tempfile::tempdir()?;
    for name in ["a", "b", "c"] {
        copy_demo(root.path(), name)?;
    }
    let mut index = index_of(root.path());
    let first = refresh(&mut index);
    assert_eq!((first.bundles, first.summarised, first.pending), (3, 3, 0));
    let all = index.json(0, first, None);
    assert_eq!(paths(&all), ["a", "b", "c"]);
    let version = field(&all, "version").as_u64().unwrap_or(0);

    let quiet = refresh(&mut index);
    assert_eq!(quiet.summarised, 0);
    assert_eq!(
        paths(&index.json(version, quiet, None)),
        Vec::<String>::new()
    );

    // b grows by one torn line: only b is reduced again, and only b is sent.
    let mut text = std::fs::read_to_string(root.path().join("b/trace.jsonl"))?;
    text.push_str("{\"seq\":");
    std::fs::write(root.path().join("b/trace.jsonl"), text)?;
    let grown = refresh(&mut index);
    assert_eq!(grown.summarised, 1);
    let changed = index.json(version, grown, None);
    assert_eq!(paths(&changed), ["b"]);
    let version = field(&changed, "version").as_u64().unwrap_or(0);

    // c goes away: the page is told.
    std::fs::remove_dir_all(root.path().join("c"))?;
    let gone = refresh(&mut index);
    let after = index.json(version, gone, None);
    assert_eq!(field(&after, "removed"), serde_json::json!(["c"]));
    assert_eq!(gone.bundles, 2);
    Ok(())
}

#[test]
fn work_beyond_the_time_budget_is_left_pending_for_the_next_request() -> std::io::Result<()> {
    let root = tempfile::tempdir()?;
    for name in ["a", "b"] {
        copy_demo(root.path(), name)?;
    }
    let mut index = index_of(root.path());
    let list = found(&index);
    let none = index.refresh(list.into_iter(), Duration::ZERO);
    assert_eq!((none.bundles, none.summarised, none.pending), (2, 0, 2));
    assert_eq!(field(&index.json(0, none, None), "pending"), 2);
    assert_eq!(field(&index.json(0, none, None), "cut"), Value::Null);
    let cut = index.json(0, none, Some("at most 10000 bundles are listed"));
    assert_eq!(field(&cut, "cut"), "at most 10000 bundles are listed");
    let rest = refresh(&mut index);
    assert_eq!((rest.summarised, rest.pending), (2, 0));
    Ok(())
}

#[test]
fn a_row_carries_what_the_page_shows_and_filters_on() -> Result<(), ReduceError> {
    let state = crate::reduce::reduce_bundle(DEMO)?;
    let prices = Prices::from_json(r#"{"models": {"gpt-5*": {"input": 1, "cached_input": 0.25, "output": 4, "reasoning": 4}}}"#)
        .ok();
    let row = IndexRow::of("demo", &state, prices.as_ref(), false);
    assert_eq!(row.rollout_id, state.rollout_id);
    assert_eq!(row.agents, state.threads.len());
    assert_eq!(row.inference_calls, state.inference_calls.len());
    assert_eq!(row.input_tokens, state.total_usage().input_tokens);
    assert!(!row.tools.is_empty() && !row.agent_names.is_empty() && !row.models.is_empty());
    let totals = prices.as_ref().map(|p| p.rollout_cost(&state));
    assert_eq!(row.cost, totals.as_ref().map(|t| t.cost.total));
    assert_eq!(
        row.unpriced_calls,
        totals.as_ref().map(|t| t.unpriced_calls)
    );
    Ok(())
}
