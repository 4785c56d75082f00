//! Reading a bundle back: `trace.jsonl` line by line ([`TraceReader`], the reducer's input),
//! and every record in the v1 layout ([`BundleReader`]: what the CLI, the viewer and the
//! exporters read), with [`ReadError`] for what can go wrong on the way.
//!
//! Invariants: memory is one line (plus format v2's bounded cache of recent bodies, see
//! `expand`), whatever the file size. A last line without its newline that does not parse
//! is a torn tail (the end, not an error), while any other unreadable line is an error
//! naming its 1-based line number. Nothing outside this module (and the reducer's own
//! replay) knows how a body is stored on disk: every record comes out in the v1 layout —
//! payload bodies inline as JSON — so callers never slice `trace.jsonl` by hand and the
//! format can change under them.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use super::open::open_regular;
use super::{encode, Expander, PayloadHead, Record, RecordBody, RecordError};

/// Why a bundle could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// A file could not be opened, read or written.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done (`open`, `read`, `write`).
        action: &'static str,
        /// The file (`-` for the output of [`expand_bundle`]).
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

// ---- lines ----

/// One line as read: where it starts and what it holds.
#[derive(Debug)]
pub(crate) struct Line<'a> {
    /// 1-based line number.
    pub(crate) number: u64,
    /// Byte offset of the line's first byte.
    pub(crate) offset: u64,
    /// The line without its newline.
    pub(crate) text: &'a str,
    /// The line had no newline (it is the last line of the file).
    pub(crate) unterminated: bool,
}

/// Outcome of reading one line.
#[derive(Debug)]
pub(crate) enum Next<'a> {
    /// A line of text (maybe blank).
    Line(Line<'a>),
    /// The last line was cut mid-record: its bytes are not valid UTF-8.
    TornTail {
        /// 1-based line number.
        number: u64,
        /// Its length in bytes.
        len: usize,
    },
    /// End of file.
    End,
}

/// Reads `trace.jsonl` line by line into a reused buffer, with the byte offset of every line.
#[derive(Debug)]
pub(crate) struct TraceReader {
    path: PathBuf,
    inner: BufReader<File>,
    buf: Vec<u8>,
    number: u64,
    offset: u64,
}

impl TraceReader {
    /// Opens `path`, which must be a regular file (and, with `within`, one inside that
    /// canonical directory; see `open`).
    pub(crate) fn open(path: &Path, within: Option<&Path>) -> Result<TraceReader, ReadError> {
        let file = open_regular(path, within).map_err(|source| ReadError::Io {
            action: "open",
            path: path.to_path_buf(),
            source,
        })?;
        Ok(TraceReader {
            path: path.to_path_buf(),
            inner: BufReader::with_capacity(1 << 16, file),
            buf: Vec::new(),
            number: 0,
            offset: 0,
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Another handle on the file being read (for positioned re-reads of earlier lines, which
    /// must read this file, not whatever the path names by then).
    pub(crate) fn file_handle(&self) -> Option<File> {
        self.inner.get_ref().try_clone().ok()
    }

    /// Reads the next line.
    pub(crate) fn next_line(&mut self) -> Result<Next<'_>, ReadError> {
        self.buf.clear();
        let offset = self.offset;
        let n = self
            .inner
            .read_until(b'\n', &mut self.buf)
            .map_err(|source| ReadError::Io {
                action: "read",
                path: self.path.clone(),
                source,
            })?;
        if n == 0 {
            return Ok(Next::End);
        }
        self.number += 1;
        self.offset += n as u64;
        let unterminated = self.buf.last() != Some(&b'\n');
        if !unterminated {
            self.buf.pop();
            if self.buf.last() == Some(&b'\r') {
                self.buf.pop();
            }
        }
        match std::str::from_utf8(&self.buf) {
            Ok(text) => Ok(Next::Line(Line {
                number: self.number,
                offset,
                text,
                unterminated,
            })),
            Err(_) if unterminated => Ok(Next::TornTail {
                number: self.number,
                len: self.buf.len(),
            }),
            Err(e) => Err(ReadError::Parse {
                path: self.path.clone(),
                line: self.number,
                message: format!("line is not UTF-8: {e}"),
            }),
        }
    }
}

// ---- records in the v1 layout ----

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
/// let mut reader = tracing_rollout::format::BundleReader::open("traces/demo")?;
/// while let Some(record) = reader.next_record()? {
///     println!("{}", record.text);
/// }
/// # Ok::<(), tracing_rollout::format::ReadError>(())
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
    pub fn open(dir: impl AsRef<Path>) -> Result<BundleReader, ReadError> {
        BundleReader::open_within(dir.as_ref(), None)
    }

    /// Opens `<dir>/trace.jsonl` if it is a regular file inside `within` (a canonical
    /// directory), when given.
    pub(crate) fn open_within(
        dir: &Path,
        within: Option<&Path>,
    ) -> Result<BundleReader, ReadError> {
        let lines = TraceReader::open(&dir.join("trace.jsonl"), within)?;
        let mut expander = Expander::new(lines.path());
        expander.read_from(lines.file_handle());
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
    pub fn next_record(&mut self) -> Result<Option<ExpandedRecord>, ReadError> {
        loop {
            let path = self.lines.path().to_path_buf();
            let line = match self.lines.next_line()? {
                Next::End | Next::TornTail { .. } => return Ok(None),
                Next::Line(line) => line,
            };
            if line.text.trim().is_empty() {
                continue;
            }
            let record = match Record::parse(line.text) {
                Ok(record) => record,
                Err(_) if line.unterminated => return Ok(None),
                Err(e) => {
                    return Err(ReadError::Parse {
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
                    ref head,
                    len: body_len,
                    parts,
                } => {
                    let body =
                        self.expander
                            .expand(record.seq, body_len, parts)
                            .map_err(|message| ReadError::Parse {
                                path,
                                line: line.number,
                                message,
                            })?;
                    self.expander.remember(record.seq, line.offset, len, &body);
                    whole_payload_line(&record, head, &body)
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

/// The line a writer with dedup off would have written for a `parts` record whose whole
/// body is `body`.
fn whole_payload_line(record: &Record<'_>, head: &PayloadHead<'_>, body: &str) -> String {
    let mut out = Vec::with_capacity(body.len() + 160);
    let at = (record.seq, record.t, record.ns);
    encode::encode_whole_payload_line(&mut out, at, head, body);
    String::from_utf8(out).unwrap_or_default()
}

/// Calls `visit` with every record of the bundle in `dir`, in order and in the v1 layout,
/// until it breaks: the one loop of every reader that looks for records or bodies.
pub(crate) fn visit_records(
    dir: &Path,
    visit: impl FnMut(Record<'_>) -> ControlFlow<()>,
) -> Result<(), ReadError> {
    visit_records_within(dir, None, visit)
}

/// [`visit_records`] of a bundle whose `trace.jsonl` must lie inside `within`, when given.
fn visit_records_within(
    dir: &Path,
    within: Option<&Path>,
    mut visit: impl FnMut(Record<'_>) -> ControlFlow<()>,
) -> Result<(), ReadError> {
    let mut reader = BundleReader::open_within(dir, within)?;
    while let Some(expanded) = reader.next_record()? {
        let record = expanded.record().map_err(|e| ReadError::Parse {
            path: reader.path(),
            line: expanded.line,
            message: e.to_string(),
        })?;
        if visit(record).is_break() {
            break;
        }
    }
    Ok(())
}

/// Writes every record of the bundle in `dir` to `out` as JSON lines in the v1 layout (every
/// payload body whole), as `tracing-rollout expand` prints them. Returns the records written.
///
/// # Examples
///
/// ```no_run
/// let mut out = Vec::new();
/// let records = tracing_rollout::format::expand_bundle("traces/demo", &mut out)?;
/// # Ok::<(), tracing_rollout::format::ReadError>(())
/// ```
pub fn expand_bundle(dir: impl AsRef<Path>, mut out: impl Write) -> Result<u64, ReadError> {
    let write_error = |source| ReadError::Io {
        action: "write",
        path: PathBuf::from("-"),
        source,
    };
    let mut reader = BundleReader::open(dir)?;
    let mut records = 0;
    while let Some(record) = reader.next_record()? {
        out.write_all(record.text.as_bytes())
            .and_then(|()| out.write_all(b"\n"))
            .map_err(write_error)?;
        records += 1;
    }
    out.flush().map_err(write_error)?;
    Ok(records)
}

/// The whole body of the payload record `seq` of the bundle in `dir`, as JSON text.
///
/// # Examples
///
/// ```no_run
/// let body = tracing_rollout::format::payload_body("traces/demo", 6)?;
/// let value: serde_json::Value = serde_json::from_str(&body).unwrap();
/// # Ok::<(), tracing_rollout::format::ReadError>(())
/// ```
pub fn payload_body(dir: impl AsRef<Path>, seq: u64) -> Result<String, ReadError> {
    payload_body_within(dir.as_ref(), seq, None)
}

/// [`payload_body`] of a bundle whose `trace.jsonl` must lie inside `within`, when given.
pub(crate) fn payload_body_within(
    dir: &Path,
    seq: u64,
    within: Option<&Path>,
) -> Result<String, ReadError> {
    // The body, or the type of the record that stands at `seq` instead.
    let mut found: Option<Result<String, String>> = None;
    visit_records_within(dir, within, |record| {
        if record.seq != seq {
            return ControlFlow::Continue(());
        }
        found = Some(match record.body {
            RecordBody::Payload { body, .. } => Ok(body.get().to_owned()),
            _ => Err(record.record_type().to_owned()),
        });
        ControlFlow::Break(())
    })?;
    let found = match found {
        Some(Ok(body)) => return Ok(body),
        Some(Err(record_type)) => record_type,
        None => "nothing".to_owned(),
    };
    Err(ReadError::NotAPayload {
        path: dir.join("trace.jsonl"),
        seq,
        found,
    })
}
