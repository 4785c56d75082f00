//! Streaming reader of `trace.jsonl`: one line at a time into a reused buffer, with the byte
//! offset of every line.
//!
//! Invariant: memory is one line, whatever the file size; a last line without its newline
//! that does not parse is a torn tail (reported, not fatal), while any other unparsable line
//! is an error naming its 1-based line number.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use super::ReduceError;

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

/// Reads `trace.jsonl` line by line.
#[derive(Debug)]
pub(crate) struct TraceReader {
    path: PathBuf,
    inner: BufReader<File>,
    buf: Vec<u8>,
    number: u64,
    offset: u64,
}

impl TraceReader {
    pub(crate) fn open(path: &Path) -> Result<TraceReader, ReduceError> {
        let file = File::open(path).map_err(|source| ReduceError::Io {
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

    /// Reads the next line.
    pub(crate) fn next_line(&mut self) -> Result<Next<'_>, ReduceError> {
        self.buf.clear();
        let offset = self.offset;
        let n = self
            .inner
            .read_until(b'\n', &mut self.buf)
            .map_err(|source| ReduceError::Io {
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
            Err(e) => Err(ReduceError::Parse {
                path: self.path.clone(),
                line: self.number,
                message: format!("line is not UTF-8: {e}"),
            }),
        }
    }
}
