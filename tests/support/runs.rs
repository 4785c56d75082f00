//! Two runs of the scripted agent recorded through the real layer and diffed: what every
//! diff and compare test starts from.

use serde_json::Value;
use tracing_rollout::diff::{diff, DiffOptions};

use super::layer::{record, Bundle};
use super::scripted::Script;

/// Records both scripts and diffs them; the report as JSON, and the bundles.
pub fn diff_runs(a: &Script, b: &Script) -> anyhow::Result<(Value, Bundle, Bundle)> {
    let bundle_a = record(|| a.run())?;
    let bundle_b = record(|| b.run())?;
    let report = diff(
        &bundle_a.reduce()?,
        &bundle_b.reduce()?,
        &DiffOptions::default(),
    );
    Ok((serde_json::to_value(&report)?, bundle_a, bundle_b))
}
