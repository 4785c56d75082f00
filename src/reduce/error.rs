//! [`ReduceError`]: why a bundle could not be reduced.
//!
//! Invariant: every error names the file and, for what a line of `trace.jsonl` says, its
//! 1-based line, so a reader can open the evidence; evidence that is merely missing is not an
//! error but a diagnostic in the graph.

use std::path::PathBuf;

/// Why a bundle could not be reduced.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReduceError {
    /// A file could not be opened, read or written.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done (`open`, `read`, `write`, …).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A line of `trace.jsonl` is not a valid record.
    #[error("parse trace record at line {line} of {}: {message}", path.display())]
    Parse {
        /// `trace.jsonl`.
        path: PathBuf,
        /// 1-based line.
        line: u64,
        /// What is wrong.
        message: String,
    },
    /// The records contradict each other (a call id reused with different content, a record
    /// naming a span that never started in a lossless bundle, a seq out of order, …).
    #[error("invalid trace at line {line} of {}: {message}", path.display())]
    Contradiction {
        /// `trace.jsonl`.
        path: PathBuf,
        /// 1-based line.
        line: u64,
        /// What contradicts what.
        message: String,
    },
    /// The payload record was left out: its body is past a reader's limit (see
    /// [`format::MAX_BODY_BYTES`](crate::format::MAX_BODY_BYTES) and the work limits), or its
    /// line is longer than [`format::MAX_LINE_BYTES`](crate::format::MAX_LINE_BYTES).
    #[error("read payload {seq} at line {line} of {}: {message}", path.display())]
    LeftOut {
        /// `trace.jsonl`.
        path: PathBuf,
        /// 1-based line.
        line: u64,
        /// The seq asked for.
        seq: u64,
        /// Why it was left out.
        message: String,
    },
    /// No payload record has the asked-for seq.
    #[error("read payload {seq} of {}: the record with that seq is {found}", path.display())]
    NotAPayload {
        /// `trace.jsonl`.
        path: PathBuf,
        /// The seq asked for.
        seq: u64,
        /// What stands there instead (a record type, or `nothing`).
        found: String,
    },
}
