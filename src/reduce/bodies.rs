//! Whole payload bodies, whatever the bundle's encoding: the one reader the CLI, the viewer and
//! the exporters use to get at `trace.jsonl` records and payload bodies.
//!
//! Invariant: nothing outside this module (and the reducer's own replay) knows how a body is
//! stored on disk. Every record comes out in the v1 layout — payload bodies inline as JSON —
//! so callers never slice `trace.jsonl` by hand and the format can change under them.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::format::{self, Expander, PayloadHead, Record, RecordBody, RecordError};

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
    /// The bundle is format v2 (bodies may be stored as references to earlier ones).
    stores_parts: bool,
    expander: Expander,
}

impl BundleReader {
    /// Opens `<dir>/trace.jsonl`.
    pub fn open(dir: impl AsRef<Path>) -> Result<BundleReader, ReduceError> {
        let lines = TraceReader::open(&dir.as_ref().join("trace.jsonl"))?;
        let expander = Expander::new(lines.path());
        Ok(BundleReader {
            lines,
            stores_parts: false,
            expander,
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
                    let record = match Record::parse(line.text) {
                        Ok(record) => record,
                        Err(_) if line.unterminated => return Ok(None),
                        Err(e) => {
                            return Err(ReduceError::Parse {
                                path,
                                line: line.number,
                                message: e.to_string(),
                            })
                        }
                    };
                    let len = line.text.len() as u64;
                    let text = match record.body {
                        RecordBody::BundleStarted { format_version, .. } => {
                            self.stores_parts = format_version >= 2;
                            line.text.to_owned()
                        }
                        RecordBody::Payload { body, .. } => {
                            if self.stores_parts {
                                self.expander
                                    .remember(record.seq, line.offset, len, body.get());
                            }
                            line.text.to_owned()
                        }
                        RecordBody::PayloadParts {
                            span,
                            ref role,
                            bytes,
                            cut_bytes,
                            omitted,
                            len: body_len,
                            parts,
                            ..
                        } => {
                            let body = self.expander.expand(record.seq, body_len, parts).map_err(
                                |message| ReduceError::Parse {
                                    path,
                                    line: line.number,
                                    message,
                                },
                            )?;
                            self.expander.remember(record.seq, line.offset, len, &body);
                            let mut out = Vec::with_capacity(body.len() + 160);
                            let head = PayloadHead {
                                bytes,
                                cut_bytes,
                                omitted,
                            };
                            let at = (record.seq, record.t, record.ns);
                            format::encode_whole_payload_line(
                                &mut out, at, span, role, head, &body,
                            );
                            String::from_utf8(out).unwrap_or_default()
                        }
                        _ => line.text.to_owned(),
                    };
                    return Ok(Some(ExpandedRecord {
                        line: line.number,
                        offset: line.offset,
                        text,
                    }));
                }
            }
        }
    }
}

/// Writes every record of the bundle in `dir` to `out` as JSON lines in the v1 layout (every
/// payload body whole), as `tracing-rollout expand` prints them. Returns the records written.
///
/// # Examples
///
/// ```no_run
/// let mut out = Vec::new();
/// let records = tracing_rollout::reduce::expand_bundle("traces/demo", &mut out)?;
/// # Ok::<(), tracing_rollout::reduce::ReduceError>(())
/// ```
pub fn expand_bundle(dir: impl AsRef<Path>, mut out: impl Write) -> Result<u64, ReduceError> {
    let mut reader = BundleReader::open(dir)?;
    let mut records = 0;
    while let Some(record) = reader.next_record()? {
        out.write_all(record.text.as_bytes())
            .and_then(|()| out.write_all(b"\n"))
            .map_err(|source| ReduceError::Io {
                action: "write",
                path: PathBuf::from("-"),
                source,
            })?;
        records += 1;
    }
    out.flush().map_err(|source| ReduceError::Io {
        action: "write",
        path: PathBuf::from("-"),
        source,
    })?;
    Ok(records)
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
