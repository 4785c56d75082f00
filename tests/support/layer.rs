//! Recording through the real layer: a fresh `RolloutLayer` on a fresh registry, the local
//! default for one closure, its guard finished before anything is read; and the readers that
//! check what every bundle must hold (each line parses, `seq` runs 1, 2, 3, …, no torn tail).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{ensure, Context as _, Result};
use serde_json::Value;
use tempfile::TempDir;
use tracing::Dispatch;
use tracing_rollout::format::{Manifest, Record};
use tracing_rollout::reduce::{reduce_bundle, ReduceError, RolloutState};
use tracing_rollout::{FinishStats, RolloutGuard, RolloutLayer, RolloutLayerBuilder};
use tracing_subscriber::prelude::*;

/// A layer built from `builder` on a fresh registry, as a `Dispatch` for `with_default`.
pub fn dispatch(builder: RolloutLayerBuilder) -> Result<(Dispatch, RolloutGuard)> {
    let (layer, guard) = builder.build()?;
    Ok((
        Dispatch::new(tracing_subscriber::registry().with(layer)),
        guard,
    ))
}

/// Runs `f` with a fresh layer recording below `root` and finishes the guard.
pub fn record_into(
    root: &Path,
    builder: RolloutLayerBuilder,
    f: impl FnOnce(),
) -> Result<FinishStats> {
    let (dispatch, guard) = dispatch(builder.root_dir(root))?;
    tracing::dispatcher::with_default(&dispatch, f);
    Ok(guard.finish()?)
}

/// A bundle written in a temporary root (deleted on drop).
#[derive(Debug)]
pub struct Bundle {
    pub root: TempDir,
    pub path: PathBuf,
}

impl Bundle {
    pub fn reduce(&self) -> Result<RolloutState, ReduceError> {
        reduce_bundle(&self.path)
    }

    pub fn trace(&self) -> std::io::Result<String> {
        std::fs::read_to_string(self.path.join("trace.jsonl"))
    }
}

/// Runs `f` with a fresh layer of `builder` recording into a new temporary root, finishes
/// the guard, and returns the one bundle written.
pub fn record_with(builder: RolloutLayerBuilder, f: impl FnOnce()) -> Result<Bundle> {
    let root = tempfile::tempdir()?;
    let stats = record_into(root.path(), builder, f)?;
    let path = only_bundle(&stats)?;
    Ok(Bundle { root, path })
}

/// [`record_with`] the default builder.
pub fn record(f: impl FnOnce()) -> Result<Bundle> {
    record_with(RolloutLayer::builder(), f)
}

/// Records `f` and reduces the bundle.
pub fn reduce(f: impl FnOnce()) -> Result<RolloutState> {
    Ok(record(f)?.reduce()?)
}

/// The lines of `<dir>/trace.jsonl`, after checking that every line parses and that `seq`
/// runs 1, 2, 3, … in file order.
pub fn trace_lines(dir: &Path) -> Result<Vec<String>> {
    let path = dir.join("trace.jsonl");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
    ensure!(
        text.is_empty() || text.ends_with('\n'),
        "{} ends in a torn line",
        path.display()
    );
    let lines: Vec<String> = text.lines().map(str::to_owned).collect();
    for (i, line) in lines.iter().enumerate() {
        let record = Record::parse(line).with_context(|| {
            format!("parse trace record at line {} of {}", i + 1, path.display())
        })?;
        ensure!(
            record.seq == i as u64 + 1,
            "line {} has seq {}",
            i + 1,
            record.seq
        );
    }
    Ok(lines)
}

/// `<dir>/manifest.json`.
pub fn manifest(dir: &Path) -> Result<Manifest> {
    let path = dir.join("manifest.json");
    let text = std::fs::read(&path).with_context(|| format!("read {}", path.display()))?;
    Ok(serde_json::from_slice(&text)?)
}

/// Every line as JSON with the clock keys (`t`, `ns`) removed and span keys renumbered
/// 1, 2, 3, … in `span_started` order, so whole traces compare across runs.
pub fn normalized(lines: &[String]) -> Result<Vec<Value>> {
    let mut keys: HashMap<u64, u64> = HashMap::new();
    let mut out = Vec::new();
    for line in lines {
        let mut v: Value = serde_json::from_str(line)?;
        let obj = v.as_object_mut().context("record is not an object")?;
        obj.remove("t");
        obj.remove("ns");
        if obj.get("type").and_then(Value::as_str) == Some("span_started") {
            let key = obj
                .get("span")
                .and_then(Value::as_u64)
                .context("span key")?;
            let next = keys.len() as u64 + 1;
            keys.insert(key, next);
        }
        for name in ["span", "parent", "thread", "turn", "follows"] {
            if let Some(key) = obj.get(name).and_then(Value::as_u64) {
                let mapped = keys
                    .get(&key)
                    .copied()
                    .with_context(|| format!("`{name}` {key} refers to no earlier span_started"))?;
                obj.insert(name.to_owned(), Value::from(mapped));
            }
        }
        out.push(v);
    }
    Ok(out)
}

/// The one bundle `stats` names (an error when there are none or several).
pub fn only_bundle(stats: &FinishStats) -> Result<PathBuf> {
    ensure!(
        stats.bundles.len() == 1,
        "expected one bundle, got {:?}",
        stats.bundles
    );
    Ok(stats.bundles[0].clone())
}

/// Counts of each record `type` in `lines`.
pub fn type_counts(lines: &[String]) -> Result<HashMap<String, u64>> {
    let mut counts = HashMap::new();
    for line in lines {
        let record = Record::parse(line)?;
        *counts.entry(record.record_type().to_owned()).or_insert(0) += 1;
    }
    Ok(counts)
}
