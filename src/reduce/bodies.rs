//! Whole payload bodies, whatever the bundle's encoding: the one reader the CLI, the viewer and
//! the exporters use to get at `trace.jsonl` records and payload bodies.
//!
//! Invariant: nothing outside this module (and the reducer's own replay) knows how a body is
//! stored on disk. Every record comes out in the v1 layout — payload bodies inline as JSON —
//! so callers never slice `trace.jsonl` by hand and the format can change under them.

use std::path::{Path, PathBuf};

use crate::format::{Record, RecordBody, RecordError};

use super::reader::{Next, TraceReader};
use super::ReduceError;

/// One record of a bundle in the v1 layout (payload body inline).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpandedRecord {
    /// 1-based line number in `trace.jsonl`.
    pub line: u64,
    /// Byte offset of the line in `trace.jsonl`.
    pub offset: u64,
    /// The record as one JSON line (no newline), payload body inline.
    pub text: String,
}

impl ExpandedRecord {
    /// Parses [`text`](Self::text) into a typed record borrowing from it.
    pub fn record(&self) -> Result<Record<'_>, RecordError> {
        Record::parse(&self.text)
    }
}

/// Reads a bundle's records in order, each with its whole payload body.
///
/// A torn last line (a crash mid-write) ends the iteration quietly, as it ends reduction; any
/// other unreadable line is an error naming its 1-based line.
///
/// # Examples
///
/// ```no_run
/// let mut reader = tracing_rollout::reduce::BundleReader::open("traces/demo")?;
/// while let Some(record) = reader.next_record()? {
///     println!("{}", record.text);
/// }
/// # Ok::<(), tracing_rollout::reduce::ReduceError>(())
/// ```
#[derive(Debug)]
pub struct BundleReader {
    lines: TraceReader,
}

impl BundleReader {
    /// Opens `<dir>/trace.jsonl`.
    pub fn open(dir: impl AsRef<Path>) -> Result<BundleReader, ReduceError> {
        Ok(BundleReader {
            lines: TraceReader::open(&dir.as_ref().join("trace.jsonl"))?,
        })
    }

    /// `trace.jsonl` of the bundle.
    pub fn path(&self) -> PathBuf {
        self.lines.path().to_path_buf()
    }

    /// The next record, or `None` at the end (or at a torn last line).
    pub fn next_record(&mut self) -> Result<Option<ExpandedRecord>, ReduceError> {
        loop {
            let path = self.lines.path().to_path_buf();
            match self.lines.next_line()? {
                Next::End | Next::TornTail { .. } => return Ok(None),
                Next::Line(line) => {
                    if line.text.trim().is_empty() {
                        continue;
                    }
                    if let Err(e) = Record::parse(line.text) {
                        if line.unterminated {
                            return Ok(None);
                        }
                        return Err(ReduceError::Parse {
                            path,
                            line: line.number,
                            message: e.to_string(),
                        });
                    }
                    return Ok(Some(ExpandedRecord {
                        line: line.number,
                        offset: line.offset,
                        text: line.text.to_owned(),
                    }));
                }
            }
        }
    }
}

/// The whole body of the payload record `seq` of the bundle in `dir`, as JSON text.
///
/// # Examples
///
/// ```no_run
/// let body = tracing_rollout::reduce::payload_body("traces/demo", 6)?;
/// let value: serde_json::Value = serde_json::from_str(&body).unwrap();
/// # Ok::<(), tracing_rollout::reduce::ReduceError>(())
/// ```
pub fn payload_body(dir: impl AsRef<Path>, seq: u64) -> Result<String, ReduceError> {
    let mut reader = BundleReader::open(dir)?;
    while let Some(expanded) = reader.next_record()? {
        let record = expanded.record().map_err(|e| ReduceError::Parse {
            path: reader.path(),
            line: expanded.line,
            message: e.to_string(),
        })?;
        if record.seq != seq {
            continue;
        }
        return match record.body {
            RecordBody::Payload { body, .. } => Ok(body.get().to_owned()),
            _ => Err(ReduceError::NotAPayload {
                path: reader.path(),
                seq,
                found: record.record_type().to_owned(),
            }),
        };
    }
    Err(ReduceError::NotAPayload {
        path: reader.path(),
        seq,
        found: "nothing".to_owned(),
    })
}
