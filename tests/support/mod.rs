//! The one module of helpers every test binary shares (`mod support;` at the top of a test
//! file), one submodule per concern: `layer` (recording through the real layer, and the
//! readers every bundle must satisfy), `spans` (the rollout, thread, turn and spawn scaffolds
//! scenarios run in), `payloads` and `responses` (provider bodies), `graph` (readers of the
//! reduced graph, shared with `tests/rig`), `fixtures` (the demo bundle), `files`, `tasks`
//! (rollouts on a tokio runtime), `cli` (the binary), `serve` (the binary's server and a raw
//! HTTP client for it), `receiver` (a one-shot OTLP/HTTP receiver), `skip` (what a machine may
//! lack), `browser` and `viewer` (headless Chromium and the viewer page), `synthetic` (bundles
//! written directly, for scale), `records` (bundles written record by record, for what the
//! layer never writes), `codex` (Codex rollout-trace bundles: the corpus, hand-written ones,
//! and the agreement with Codex's own reducer), `scripted` and `runs` (a scripted agent whose
//! runs differ in known ways, and two of its runs diffed), `lanes` (long, fast and parallel
//! rollouts for the timeline) and `fleet` (many rollouts of fixed shapes through the layer, for
//! the tables and the index). Helpers set up and read; the assertions stay in the tests.
//!
//! Each test binary compiles the whole module and uses only the part it needs, so items
//! unused in one binary are expected: that is what the `allow` below is for (and `pub` here
//! means "for the test files", never an API, hence `unreachable_pub`). `browser.rs`,
//! `synthetic.rs`, `scripted.rs` and `fleet.rs` are also compiled into examples (`#[path]`), so
//! they import nothing from their siblings.
#![allow(dead_code, unreachable_pub)]

pub mod browser;
#[cfg(feature = "cli")]
pub mod cli;
pub mod codex;
pub mod files;
pub mod fixtures;
pub mod fleet;
pub mod graph;
pub mod lanes;
pub mod layer;
pub mod payloads;
pub mod receiver;
pub mod records;
pub mod responses;
pub mod runs;
pub mod scripted;
#[cfg(feature = "cli")]
pub mod serve;
pub mod skip;
pub mod spans;
pub mod synthetic;
pub mod tasks;
pub mod viewer;
