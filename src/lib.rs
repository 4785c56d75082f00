//! `tracing-rollout`: record LLM-agent rollouts from ordinary `tracing` spans into replayable
//! bundles, and reduce a bundle into the rollout graph.
//!
//! Where things live:
//! - [`format`](mod@format): the on-disk bundle format — a spec, with its hot-path encoders,
//!   the parser, the readers ([`format::BundleReader`]) and format v2's payload store;
//! - `layer`: spans and events → records, on the instrumented program's threads, and payload
//!   capture ([`json`] values, Debug text) in `layer/payload.rs`;
//! - `json_check`: the exact validator for JSON text (its 64-byte masks, the crate's only
//!   `unsafe`, in `json_check/masks.rs`) and the one iterative depth scanner
//!   (`json_check/scan.rs`);
//! - `writer`: the byte budget, the message framing and queue, the writer thread (`worker`),
//!   the check of payload text, bundle directories, redaction and the public guard;
//! - `spawn`: the multi-agent helper [`child_thread_span`];
//! - [`vocab`]: span, event, field, role, status and collab names as constants, and the
//!   OpenTelemetry GenAI names (and field aliases) the layer also reads;
//! - [`reduce`]: a bundle → the rollout graph (`state.json`), the summary tree, and the
//!   incremental reducer ([`reduce::Replay`]);
//! - [`view`]: the HTML viewer (`assets/`) and, with `cli`, the local server;
//! - [`diff`](mod@diff): where two rollouts diverge — threads and steps aligned, the first
//!   divergence with what the model saw differently, totals side by side;
//! - [`export`]: the graph → OTLP traces (feature `otlp`) and Chrome Trace Event JSON;
//! - [`cost`]: inference calls priced from a prices file the user gives (never guessed);
//! - [`import`]: other systems' recordings (OpenAI Codex rollout traces) → bundles of ours.
//!
//! The README follows.
//!
#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod cost;
pub mod diff;
pub mod export;
pub mod format;
pub mod import;
pub mod reduce;
pub mod view;
pub mod vocab;

mod json_check;
mod layer;
mod spawn;
mod writer;

/// Marks a `serde::Serialize` value to be recorded as JSON.
pub use layer::payload::json;
/// The `Debug`-as-JSON wrapper returned by [`json`].
pub use layer::payload::Json;
/// Why building a [`RolloutLayer`] failed.
pub use layer::InitError;
/// The `tracing_subscriber::Layer` that records rollouts into bundles.
pub use layer::RolloutLayer;
/// Configures a [`RolloutLayer`]; made by [`RolloutLayer::builder`].
pub use layer::RolloutLayerBuilder;
/// The span of a child agent thread, joined to its parent and its spawning tool call.
pub use spawn::child_thread_span;
/// Which keys' values are replaced by `"[REDACTED]"` before records reach the disk.
pub use writer::redact::Redact;
/// Why [`RolloutGuard::finish`] could not confirm everything is on disk.
pub use writer::FinishError;
/// Writer statistics returned by [`RolloutGuard::finish`].
pub use writer::FinishStats;
/// Keeps the writer running; finishing it writes everything out.
pub use writer::RolloutGuard;
