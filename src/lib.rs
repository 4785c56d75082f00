//! `tracing-rollout`: record LLM-agent rollouts from ordinary `tracing` spans into replayable
//! bundles, and reduce a bundle into the rollout graph.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod format;

mod layer;
mod payload;
mod writer;

/// Why building a [`RolloutLayer`] failed.
pub use layer::InitError;
/// The `tracing_subscriber::Layer` that records rollouts into bundles.
pub use layer::RolloutLayer;
/// Configures a [`RolloutLayer`]; made by [`RolloutLayer::builder`].
pub use layer::RolloutLayerBuilder;
/// Marks a `serde::Serialize` value to be recorded as JSON.
pub use payload::json;
/// The `Debug`-as-JSON wrapper returned by [`json`].
pub use payload::Json;
/// Why [`RolloutGuard::finish`] could not confirm everything is on disk.
pub use writer::FinishError;
/// Writer statistics returned by [`RolloutGuard::finish`].
pub use writer::FinishStats;
/// Keeps the writer running; finishing it writes everything out.
pub use writer::RolloutGuard;
