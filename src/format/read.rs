//! Reading a bundle back: `trace.jsonl` line by line ([`TraceReader`], the reducer's input),
//! and every record in the v1 layout ([`BundleReader`]: what the CLI, the viewer and the
//! exporters read), with [`ReadError`] for what can go wrong on the way.
//!
//! Invariants: memory is one line of at most [`MAX_LINE_BYTES`] (a longer one is skipped
//! without being held), plus format v2's bounded cache of recent bodies (see `expand`),
//! whatever the file size; files are opened through `open` (regular files only). A last line
//! without its newline that does not parse is a torn tail (the end, not an error), while any
//! other unreadable line is an error naming its 1-based line number; what passes a limit is
//! left out with a [`ReadDiagnostic`], and the rest is read. Nothing outside this module
//! (and the reducer's own replay) knows how a body is stored on disk: every record comes out
//! in the v1 layout — payload bodies inline as JSON — so callers never slice `trace.jsonl` by
//! hand and the format can change under them.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use super::deep::with_record;
use super::open::open_regular;
use super::{encode, ExpandError, Expander, PayloadHead, Record, RecordBody, RecordError};

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
    /// The payload record was left out: its body is past a reader's limit (see
    /// [`MAX_BODY_BYTES`](super::MAX_BODY_BYTES) and the work limits), or its line is longer
    /// than [`MAX_LINE_BYTES`].
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

/// The longest line of `trace.jsonl` a reader reads (bytes, without its newline): a longer
/// one is skipped with a diagnostic naming it, its bytes never held. The layer never writes
/// one: its payload cap is at most 16 MiB
/// ([`max_payload_bytes`](crate::RolloutLayerBuilder::max_payload_bytes)), whose text fits
/// however it is escaped.
///
/// 128 MiB (1 MiB in a build for the fuzzer, `--cfg fuzzing`, so that it reaches every limit
/// thousands of times a minute).
pub const MAX_LINE_BYTES: u64 = if cfg!(fuzzing) { 1 << 20 } else { 128 << 20 };

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
    /// A line longer than [`MAX_LINE_BYTES`], skipped.
    TooLong {
        /// 1-based line number.
        number: u64,
        /// Byte offset of its first byte.
        offset: u64,
        /// Its length in bytes (with its newline, if it had one).
        len: u64,
    },
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

    /// Reads the next line (at most [`MAX_LINE_BYTES`] of it are held).
    pub(crate) fn next_line(&mut self) -> Result<Next<'_>, ReadError> {
        self.buf.clear();
        let offset = self.offset;
        let io = |source| ReadError::Io {
            action: "read",
            path: self.path.clone(),
            source,
        };
        // The line, its `\r\n` and one byte more: a line that fills this is too long.
        let cap = MAX_LINE_BYTES + 3;
        let n = (&mut self.inner)
            .take(cap)
            .read_until(b'\n', &mut self.buf)
            .map_err(io)? as u64;
        if n == 0 {
            return Ok(Next::End);
        }
        self.number += 1;
        if n == cap && self.buf.last() != Some(&b'\n') {
            // Skip the rest without keeping it.
            self.buf = Vec::new();
            let mut len = n;
            loop {
                let chunk = self.inner.fill_buf().map_err(io)?;
                if chunk.is_empty() {
                    break;
                }
                let (used, end) = match chunk.iter().position(|&b| b == b'\n') {
                    Some(at) => (at + 1, true),
                    None => (chunk.len(), false),
                };
                self.inner.consume(used);
                len += used as u64;
                if end {
                    break;
                }
            }
            self.offset += len;
            return Ok(Next::TooLong {
                number: self.number,
                offset,
                len,
            });
        }
        self.offset += n;
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

/// Something a [`BundleReader`] could not give whole, and went on past.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReadDiagnostic {
    /// 1-based line of `trace.jsonl`.
    pub line: u64,
    /// The record's seq, when its line could be read.
    pub seq: Option<u64>,
    /// What was left out and why.
    pub message: String,
}

/// Reads a bundle's records in order, each with its whole payload body.
///
/// A torn last line (a crash mid-write) ends the iteration quietly, as it ends reduction; any
/// other unreadable line is an error naming its 1-based line. What passes a reader's limits
/// is left out and the rest read: a line longer than [`MAX_LINE_BYTES`] is skipped, and a
/// body stored as references whose expansion passes [`MAX_BODY_BYTES`](super::MAX_BODY_BYTES)
/// or the work limits comes as `"omitted":true,"body":null`; each is a
/// [`ReadDiagnostic`] naming the line. A line nested deeper than the JSON parser goes comes
/// exactly as written.
///
/// # Examples
///
/// ```no_run
/// let mut reader = tracing_rollout::format::BundleReader::open("traces/demo")?;
/// while let Some(record) = reader.next_record()? {
///     println!("{}", record.text);
/// }
/// for left_out in reader.diagnostics() {
///     eprintln!("line {}: {}", left_out.line, left_out.message);
/// }
/// # Ok::<(), tracing_rollout::format::ReadError>(())
/// ```
#[derive(Debug)]
pub struct BundleReader {
    lines: TraceReader,
    /// The bundle is format v2 (bodies may be stored as references to earlier ones).
    stores_parts: bool,
    expander: Expander,
    diagnostics: Vec<ReadDiagnostic>,
    /// The record last returned was left out (its diagnostic is the last one).
    left_out: bool,
    /// What the record last returned is: its seq, type, and where a payload's body lies in
    /// its text (so visiting it needs no second parse, which a body that is not JSON would
    /// fail).
    current: Option<(u64, String, Option<std::ops::Range<usize>>)>,
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
            diagnostics: Vec::new(),
            left_out: false,
            current: None,
        })
    }

    /// `trace.jsonl` of the bundle.
    pub fn path(&self) -> PathBuf {
        self.lines.path().to_path_buf()
    }

    /// What was left out so far (lines too long, bodies past a limit), in file order.
    pub fn diagnostics(&self) -> &[ReadDiagnostic] {
        &self.diagnostics
    }

    /// Why the record last returned came without its body, if it did.
    pub(crate) fn left_out(&self) -> Option<&ReadDiagnostic> {
        self.left_out.then(|| self.diagnostics.last()).flatten()
    }

    /// The next record, or `None` at the end (or at a torn last line).
    pub fn next_record(&mut self) -> Result<Option<ExpandedRecord>, ReadError> {
        self.left_out = false;
        loop {
            let path = self.lines.path().to_path_buf();
            let line = match self.lines.next_line()? {
                Next::End | Next::TornTail { .. } => return Ok(None),
                Next::TooLong { number, len, .. } => {
                    self.expander.skipped_a_line();
                    self.diagnostics.push(ReadDiagnostic {
                        line: number,
                        seq: None,
                        message: format!(
                            "line {number} is {len} bytes, longer than the {MAX_LINE_BYTES} a reader reads; skipped"
                        ),
                    });
                    continue;
                }
                Next::Line(line) => line,
            };
            if line.text.trim().is_empty() {
                continue;
            }
            let (number, offset, len) = (line.number, line.offset, line.text.len() as u64);
            let parse_error = |message: String| ReadError::Parse {
                path: path.clone(),
                line: number,
                message,
            };
            let (stores_parts, expander) = (&mut self.stores_parts, &mut self.expander);
            let read = with_record(line.text, line.unterminated, |record, exact_body| {
                let at = (record.seq, offset, len);
                let kind = (record.seq, record.record_type().to_owned());
                // Where the body lies in the line, for a payload stored whole.
                let body_at = exact_body.map(|b| {
                    let start = b.as_ptr() as usize - line.text.as_ptr() as usize;
                    start..start + b.len()
                });
                let whole = match record.body {
                    RecordBody::BundleStarted { format_version, .. } => {
                        *stores_parts = format_version >= 2;
                        Ok(Whole::Line)
                    }
                    RecordBody::Payload { .. } => {
                        if *stores_parts {
                            match exact_body {
                                Some(body) => expander.remember(at.0, at.1, at.2, body),
                                None => expander.note_line(at.0, at.1, at.2),
                            }
                        }
                        Ok(Whole::Line)
                    }
                    RecordBody::PayloadParts {
                        ref head,
                        len: body_len,
                        parts,
                    } => match expander.expand(at.0, body_len, parts) {
                        Ok(body) => {
                            expander.remember(at.0, at.1, at.2, &body);
                            let text = whole_payload_line(&record, head, &body);
                            Ok(Whole::Text(text, body.len()))
                        }
                        Err(ExpandError::Limit(message)) => {
                            expander.note_line(at.0, at.1, at.2);
                            let mut head = head.clone();
                            head.omitted = true;
                            let text = whole_payload_line(&record, &head, "null");
                            Ok(Whole::LeftOut(text, message))
                        }
                        Err(ExpandError::Invalid(message)) => Err(message),
                    },
                    _ => Ok(Whole::Line),
                };
                whole.map(|whole| (whole, kind, body_at))
            });
            let (whole, (seq, record_type), body_at) = match read {
                Ok(Some(Ok(read))) => read,
                Ok(None) => return Ok(None),
                Ok(Some(Err(message))) | Err(message) => return Err(parse_error(message)),
            };
            let (text, body_at) = match whole {
                Whole::Line => (line.text.to_owned(), body_at),
                Whole::Text(text, body_len) => {
                    // The body is the text's end, before its closing `}`.
                    let end = text.len() - 1;
                    (text, Some(end - body_len..end))
                }
                Whole::LeftOut(text, message) => {
                    self.diagnostics.push(ReadDiagnostic {
                        line: number,
                        seq: Some(seq),
                        message,
                    });
                    self.left_out = true;
                    (text, None)
                }
            };
            self.current = Some((seq, record_type, body_at));
            return Ok(Some(ExpandedRecord {
                line: number,
                offset,
                text,
            }));
        }
    }
}

/// What a record becomes in the v1 layout.
enum Whole {
    /// Its line as written.
    Line,
    /// A whole-body line made from its parts, and its body's length (the body ends the line,
    /// before its closing `}`).
    Text(String, usize),
    /// A line saying its body was left out, and why.
    LeftOut(String, String),
}

/// The line a writer with dedup off would have written for a `parts` record whose whole
/// body is `body`.
fn whole_payload_line(record: &Record<'_>, head: &PayloadHead<'_>, body: &str) -> String {
    let mut out = Vec::with_capacity(body.len() + 160);
    let at = (record.seq, record.t, record.ns);
    encode::encode_whole_payload_line(&mut out, at, head, body);
    String::from_utf8(out).unwrap_or_default()
}

/// One record as [`visit_records`] gives it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Visit<'a> {
    /// Its seq.
    pub(crate) seq: u64,
    /// Its 1-based line in `trace.jsonl`.
    pub(crate) line: u64,
    /// Its type (`payload`, `span_started`, …).
    pub(crate) record_type: &'a str,
    /// A payload's whole body, exactly as written (`None` for other records, and for a body
    /// left out).
    pub(crate) body: Option<&'a str>,
    /// Why a payload's body was left out.
    pub(crate) left_out: Option<&'a str>,
}

/// Calls `visit` with every record of the bundle in `dir`, in order and in the v1 layout,
/// until it breaks: the one loop of every reader that looks for records or bodies.
pub(crate) fn visit_records(
    dir: &Path,
    visit: impl FnMut(Visit<'_>) -> ControlFlow<()>,
) -> Result<(), ReadError> {
    visit_records_within(dir, None, visit)
}

/// [`visit_records`] of a bundle whose `trace.jsonl` must lie inside `within`, when given.
fn visit_records_within(
    dir: &Path,
    within: Option<&Path>,
    mut visit: impl FnMut(Visit<'_>) -> ControlFlow<()>,
) -> Result<(), ReadError> {
    let mut reader = BundleReader::open_within(dir, within)?;
    while let Some(expanded) = reader.next_record()? {
        let Some((seq, record_type, body_at)) = &reader.current else {
            continue;
        };
        let flow = visit(Visit {
            seq: *seq,
            line: expanded.line,
            record_type,
            body: body_at.clone().and_then(|at| expanded.text.get(at)),
            left_out: reader.left_out().map(|d| d.message.as_str()),
        });
        if flow.is_break() {
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
    // The body, or why there is none.
    let mut found: Option<Result<String, ReadError>> = None;
    let trace = dir.join("trace.jsonl");
    visit_records_within(dir, within, |record| {
        if record.seq != seq {
            return ControlFlow::Continue(());
        }
        found = Some(match (record.body, record.left_out) {
            (_, Some(why)) => Err(ReadError::LeftOut {
                path: trace.clone(),
                line: record.line,
                seq,
                message: why.to_owned(),
            }),
            (Some(body), None) => Ok(body.to_owned()),
            (None, None) => Err(ReadError::NotAPayload {
                path: trace.clone(),
                seq,
                found: record.record_type.to_owned(),
            }),
        });
        ControlFlow::Break(())
    })?;
    found.unwrap_or_else(|| {
        Err(ReadError::NotAPayload {
            path: trace,
            seq,
            found: "nothing".to_owned(),
        })
    })
}
