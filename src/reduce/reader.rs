//! The format's reader as the reducer's API: the `reduce::` paths of the bundle reader
//! ([`BundleReader`], [`ExpandedRecord`], [`payload_body`], [`expand_bundle`]), with its
//! errors as [`ReduceError`]s.
//!
//! Invariant: reading lives in [`format`](crate::format) (`format/read.rs`); this file only
//! converts. A [`ReadError`] becomes the [`ReduceError`] variant of the same name with the
//! same fields, so every message, every match on a `ReduceError` variant (the CLI's exit
//! codes, the server's 404s) and every public signature stays as it was when the reader
//! lived in `reduce`.

use std::io::Write;
use std::path::Path;

pub use crate::format::{BundleReader, ExpandedRecord};
pub(super) use crate::format::{Next, TraceReader};

use super::ReduceError;
use crate::format::{self, ReadError};

impl From<ReadError> for ReduceError {
    fn from(error: ReadError) -> ReduceError {
        match error {
            ReadError::Io {
                action,
                path,
                source,
            } => ReduceError::Io {
                action,
                path,
                source,
            },
            ReadError::Parse {
                path,
                line,
                message,
            } => ReduceError::Parse {
                path,
                line,
                message,
            },
            ReadError::LeftOut {
                path,
                line,
                seq,
                message,
            } => ReduceError::LeftOut {
                path,
                line,
                seq,
                message,
            },
            ReadError::NotAPayload { path, seq, found } => {
                ReduceError::NotAPayload { path, seq, found }
            }
        }
    }
}

/// Writes every record of the bundle in `dir` to `out` as JSON lines in the v1 layout (every
/// payload body whole), as `tracing-rollout expand` prints them. Returns the records written.
/// The same as [`format::expand_bundle`], failing with a [`ReduceError`].
///
/// # Examples
///
/// ```no_run
/// let mut out = Vec::new();
/// let records = tracing_rollout::reduce::expand_bundle("traces/demo", &mut out)?;
/// # Ok::<(), tracing_rollout::reduce::ReduceError>(())
/// ```
pub fn expand_bundle(dir: impl AsRef<Path>, out: impl Write) -> Result<u64, ReduceError> {
    Ok(format::expand_bundle(dir, out)?)
}

/// The whole body of the payload record `seq` of the bundle in `dir`, as JSON text. The same
/// as [`format::payload_body`], failing with a [`ReduceError`] ([`ReduceError::NotAPayload`]
/// when no payload record has that seq).
///
/// # Examples
///
/// ```no_run
/// let body = tracing_rollout::reduce::payload_body("traces/demo", 6)?;
/// let value: serde_json::Value = serde_json::from_str(&body).unwrap();
/// # Ok::<(), tracing_rollout::reduce::ReduceError>(())
/// ```
pub fn payload_body(dir: impl AsRef<Path>, seq: u64) -> Result<String, ReduceError> {
    Ok(format::payload_body(dir, seq)?)
}
