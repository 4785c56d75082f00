//! The one module of helpers every test binary shares (`mod support;` at the top of a test
//! file), one submodule per concern: recording through the real layer, span scaffolds,
//! provider payloads, readers of the reduced graph, the demo fixture, files on disk, tasks
//! on a tokio runtime, the command-line binary, a headless browser and the viewer it drives,
//! and the synthetic bundle generator. Helpers set up and read; the assertions stay in the
//! tests.
//!
//! Each test binary compiles the whole module and uses only the part it needs, so items
//! unused in one binary are expected: that is what the `allow` below is for (and `pub` here
//! means "for the test files", never an API, hence `unreachable_pub`).
#![allow(dead_code, unreachable_pub)]

pub mod browser;
#[cfg(feature = "cli")]
pub mod cli;
pub mod files;
pub mod fixtures;
pub mod graph;
pub mod layer;
pub mod payloads;
pub mod receiver;
pub mod responses;
pub mod skip;
pub mod spans;
pub mod synthetic;
pub mod tasks;
pub mod viewer;
