//! Exports of a bundle into the systems teams already run: OpenTelemetry traces
//! ([`otlp`], feature `otlp`; posting to a receiver needs `otlp-http`) and Chrome Trace Event
//! JSON for Perfetto and `chrome://tracing` ([`chrome`]).
//!
//! Invariant: exporters read the rollout graph (the reducer's [`RolloutState`]) and bodies
//! through the public reader, and add no interpretation of their own: both exports take the
//! shape of a rollout (which entities there are, which span is whose child, where an edge
//! starts and lands) from one place, `graph`, and write their files through one
//! `write_json`. This file owns [`ExportError`] and that writer.
//!
//! To export each bundle as its rollout ends, without a CLI step, give the layer a hook:
//!
//! ```no_run
//! # #[cfg(feature = "otlp")] {
//! use tracing_rollout::export::otlp::{export_otlp, write_otlp_json, OtlpOptions};
//! use tracing_rollout::RolloutLayer;
//!
//! let (layer, guard) = RolloutLayer::builder()
//!     .root_dir("traces")
//!     .on_bundle_end(|bundle| {
//!         // Runs on the writer thread once the bundle's manifest is written.
//!         match export_otlp(bundle, &OtlpOptions::new()) {
//!             Ok(request) => {
//!                 let _ = write_otlp_json(&request, bundle.join("otlp.jsonl"));
//!             }
//!             Err(e) => eprintln!("export {}: {e}", bundle.display()),
//!         }
//!     })
//!     .build()?;
//! # drop((layer, guard)); }
//! # Ok::<(), tracing_rollout::InitError>(())
//! ```
//!
//! [`RolloutState`]: crate::reduce::RolloutState

pub mod chrome;
mod graph;
#[cfg(feature = "otlp")]
#[cfg_attr(docsrs, doc(cfg(feature = "otlp")))]
pub mod otlp;
pub mod tables;

use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::reduce::ReduceError;

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// The bundle could not be reduced or read.
    #[error(transparent)]
    Reduce(#[from] ReduceError),
    /// The output could not be written.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done (`write`, `create`, …).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The export could not be serialised as JSON.
    #[error("serialise the export as JSON: {0}")]
    Json(#[source] serde_json::Error),
    /// The OTLP endpoint could not be reached (connection refused, no such host, timeout).
    #[error("reach OTLP endpoint {url}: {message}")]
    Unreachable {
        /// The URL posted to.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// The tables' Parquet writer or reader failed.
    #[error("parquet {}: {message}", path.display())]
    Parquet {
        /// The table file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A table's rows or previous file do not fit its schema.
    #[error("table {table}: {message}")]
    Schema {
        /// The table.
        table: &'static str,
        /// What does not fit.
        message: String,
    },
    /// This build cannot do what was asked.
    #[error("{what}")]
    Unsupported {
        /// What is missing.
        what: &'static str,
    },
    /// The OTLP endpoint answered with a non-2xx status.
    #[error("send to OTLP endpoint {url}: refused with HTTP {status}: {body}")]
    Refused {
        /// The URL posted to.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The start of the answer's body.
        body: String,
    },
}

/// Writes `value` to `path` as one line of JSON and a newline (what both exports' files are);
/// an I/O failure while serialising is [`ExportError::Io`], not [`ExportError::Json`].
pub(crate) fn write_json(value: &impl serde::Serialize, path: &Path) -> Result<(), ExportError> {
    let io = |source| ExportError::Io {
        action: "write",
        path: path.to_path_buf(),
        source,
    };
    let file = crate::format::create_private(path).map_err(io)?;
    let mut out = std::io::BufWriter::new(file);
    serde_json::to_writer(&mut out, value).map_err(|e| match e.io_error_kind() {
        Some(kind) => io(std::io::Error::new(kind, e)),
        None => ExportError::Json(e),
    })?;
    out.write_all(b"\n").map_err(io)?;
    out.flush().map_err(io)
}
