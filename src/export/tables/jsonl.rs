//! A table as JSON Lines: one object per row, every column present (`null` when empty), in the
//! schema's order.
//!
//! Invariant: the file is written only forwards, so a bundle's rows are one byte range; a
//! re-run copies the ranges of unchanged bundles from the previous file byte for byte.

use std::fs::File;
use std::io::{BufWriter, Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

use super::rows::Cell;
use super::schema::Table;
use super::{create_private, ExportError, Part, Position, TableFile};

/// One table's `.jsonl` file being written.
#[derive(Debug)]
pub(super) struct JsonlTable {
    table: &'static Table,
    path: PathBuf,
    out: BufWriter<File>,
    line: Vec<u8>,
    at: Position,
}

impl JsonlTable {
    pub(super) fn create(table: &'static Table, path: &Path) -> Result<JsonlTable, ExportError> {
        Ok(JsonlTable {
            table,
            path: path.to_path_buf(),
            out: BufWriter::with_capacity(256 * 1024, create_private(path)?),
            line: Vec::with_capacity(4096),
            at: Position::default(),
        })
    }

    fn io(&self, action: &'static str) -> impl FnOnce(std::io::Error) -> ExportError + '_ {
        move |source| ExportError::Io {
            action,
            path: self.path.clone(),
            source,
        }
    }
}

impl TableFile for JsonlTable {
    fn position(&self) -> Position {
        self.at
    }

    fn row(&mut self, cells: &[Cell<'_>]) -> Result<(), ExportError> {
        self.line.clear();
        self.line.push(b'{');
        for (i, (column, cell)) in self.table.columns.iter().zip(cells).enumerate() {
            if i > 0 {
                self.line.push(b',');
            }
            push_json_string(&mut self.line, column.name);
            self.line.push(b':');
            match cell {
                Cell::Null => self.line.extend_from_slice(b"null"),
                Cell::Text(s) => push_json_string(&mut self.line, s),
                Cell::Int(n) => self
                    .line
                    .extend_from_slice(itoa::Buffer::new().format(*n).as_bytes()),
                Cell::Float(x) if x.is_finite() => {
                    // `{:?}` keeps a `.0` on whole numbers, so readers type the column as a
                    // float from any row.
                    self.line.extend_from_slice(format!("{x:?}").as_bytes())
                }
                Cell::Float(_) => self.line.extend_from_slice(b"null"),
                Cell::Bool(b) => self
                    .line
                    .extend_from_slice(if *b { b"true" } else { b"false" }),
            }
        }
        self.line.extend_from_slice(b"}\n");
        let len = self.line.len() as u64;
        self.out
            .write_all(&self.line)
            .map_err(|e| ExportError::Io {
                action: "write",
                path: self.path.clone(),
                source: e,
            })?;
        self.at.rows += 1;
        self.at.bytes += len;
        Ok(())
    }

    fn copy_from(&mut self, old: &Path, parts: &[Part]) -> Result<(), ExportError> {
        let read_error = |source| ExportError::Io {
            action: "read",
            path: old.to_path_buf(),
            source,
        };
        let mut file = File::open(old).map_err(read_error)?;
        let mut ranges: Vec<(u64, u64, u64)> = Vec::new();
        for part in parts {
            match ranges.last_mut() {
                Some((start, len, rows)) if *start + *len == part.offset => {
                    *len += part.bytes;
                    *rows += part.rows;
                }
                _ => ranges.push((part.offset, part.bytes, part.rows)),
            }
        }
        for (start, len, rows) in ranges {
            file.seek(SeekFrom::Start(start)).map_err(read_error)?;
            let copied = std::io::copy(&mut (&mut file).take(len), &mut self.out)
                .map_err(self.io("copy into"))?;
            if copied != len {
                return Err(read_error(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("the previous table ends before byte {}", start + len),
                )));
            }
            self.at.rows += rows;
            self.at.bytes += len;
        }
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<(), ExportError> {
        let path = self.path.clone();
        let io = |source| ExportError::Io {
            action: "write",
            path: path.clone(),
            source,
        };
        let file = self.out.into_inner().map_err(|e| io(e.into_error()))?;
        file.sync_all().map_err(io)
    }
}

/// `s` as a JSON string.
fn push_json_string(out: &mut Vec<u8>, s: &str) {
    // Writing JSON into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}
