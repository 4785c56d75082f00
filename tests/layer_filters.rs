//! A filter applied to the whole subscriber disables the `info` rollout spans for every layer;
//! finishing then says so (stderr and `FinishStats::warnings`) instead of leaving an empty
//! traces folder without a word. Filtering the other layers per layer records as usual.
//!
//! One test function: the global maximum level is process-wide, so no other test may run
//! beside these cases (it decides whether `info_span!` even reaches the subscribers).

mod support;

use anyhow::{ensure, Result};
use support::spans::{in_rollout, in_thread};
use tracing::Subscriber;
use tracing_rollout::{FinishStats, RolloutLayer};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::prelude::*;

fn rollout() {
    in_rollout("filtered", || {
        in_thread("main", || tracing::warn!("a warning other layers see"))
    });
}

/// Records [`rollout`] under the subscriber `compose` builds around a fresh rollout layer.
fn record_composed<S>(compose: impl FnOnce(RolloutLayer) -> S) -> Result<FinishStats>
where
    S: Subscriber + Send + Sync + 'static,
{
    let root = tempfile::tempdir()?;
    let (layer, guard) = RolloutLayer::builder().root_dir(root.path()).build()?;
    tracing::subscriber::with_default(compose(layer), rollout);
    Ok(guard.finish()?)
}

/// No bundle was written, and a warning says the filter disables the rollout spans.
fn disabled_and_said_so(stats: &FinishStats, composition: &str) -> Result<()> {
    ensure!(stats.bundles.is_empty(), "{:?}", stats.bundles);
    ensure!(
        stats
            .warnings
            .iter()
            .any(|w| w.contains("disables info-level `rollout` spans")),
        "{composition}: {:?}",
        stats.warnings
    );
    Ok(())
}

#[test]
fn a_global_filter_that_disables_rollout_spans_is_reported_and_a_per_layer_filter_is_not(
) -> Result<()> {
    // Filter first, then the rollout layer: the rollout callsites reach the layer, the spans
    // never do.
    let stats = record_composed(|layer| {
        tracing_subscriber::registry()
            .with(LevelFilter::WARN)
            .with(layer)
    })?;
    disabled_and_said_so(&stats, "filter, then layer")?;

    // The rollout layer first, then the filter: the layer never hears of the callsites; the
    // subscriber says so when asked at installation.
    let stats = record_composed(|layer| {
        tracing_subscriber::registry()
            .with(layer)
            .with(LevelFilter::WARN)
    })?;
    disabled_and_said_so(&stats, "layer, then filter")?;

    // The composition that works: the filter on the other layer only.
    let stats = record_composed(|layer| {
        tracing_subscriber::registry().with(layer).with(
            tracing_subscriber::fmt::layer()
                .with_test_writer()
                .with_filter(LevelFilter::WARN),
        )
    })?;
    assert_eq!(stats.bundles.len(), 1);
    assert_eq!(stats.warnings, Vec::<String>::new());

    // A layer never installed in a subscriber says nothing.
    let root = tempfile::tempdir()?;
    let (layer, guard) = RolloutLayer::builder().root_dir(root.path()).build()?;
    drop(layer);
    assert_eq!(guard.finish()?.warnings, Vec::<String>::new());
    Ok(())
}
