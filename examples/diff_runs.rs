//! Two recordings of one task with different model behaviour, for `tracing-rollout diff` and
//! `view --compare`: the scripted coding agent of `tests/support/scripted.rs` fixing a red CI
//! run, once with `big-model` and once with `small-model`, which edits the wrong file (so its
//! test run fails) after a model call that had to be retried. Both spawn a reviewer.
//!
//! `cargo run --example diff_runs -- ROOT` writes `ROOT/ci-fix-big` and `ROOT/ci-fix-small`
//! and prints their paths; then `tracing-rollout diff ROOT/ci-fix-big ROOT/ci-fix-small`.

#[path = "../tests/support/scripted.rs"]
mod scripted;

use std::path::PathBuf;

use anyhow::Context;
use scripted::Script;
use tracing_subscriber::prelude::*;

fn main() -> anyhow::Result<()> {
    let root: PathBuf = std::env::args_os()
        .nth(1)
        .context("usage: diff_runs ROOT")?
        .into();
    let mut big = Script::new("ci-fix-big");
    big.spawn_reviewer = true;
    let mut small = Script::new("ci-fix-small");
    small.spawn_reviewer = true;
    small.model = "small-model".to_owned();
    small.retry_call = Some(1);
    small.failing_tool = Some("run_tests");
    for script in [big, small] {
        let (layer, guard) = tracing_rollout::RolloutLayer::builder()
            .root_dir(&root)
            .build()?;
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            script.run()
        });
        for bundle in guard.finish()?.bundles {
            println!("{}", bundle.display());
        }
    }
    Ok(())
}
