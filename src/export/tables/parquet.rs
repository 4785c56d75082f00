//! A table as Parquet (feature `parquet`): the arrow-rs writer, Snappy-compressed, one Arrow
//! column per schema column (`text` → Utf8, `int64` → Int64, `double` → Float64, `bool` →
//! Boolean, all nullable).
//!
//! Invariant: memory is bounded by a constant, not by the root: rows are gathered into batches
//! of at most [`BATCH_ROWS`], and the writer closes a row group at [`ROW_GROUP_ROWS`] rows or
//! [`ROW_GROUP_BYTES`] bytes, whichever comes first. Rows are only appended, so a bundle's rows
//! are one run of row numbers; a re-run copies the runs of unchanged bundles from the previous
//! file (decoded and encoded again: Parquet has no byte ranges to copy).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::{BooleanBuilder, Float64Builder, Int64Builder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::arrow_reader::{ParquetRecordBatchReaderBuilder, RowSelection};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;

use super::rows::Cell;
use super::schema::{ColumnType, Table, TABLES_SCHEMA_VERSION};
use super::{create_private, ExportError, Part, Position, TableFile};

/// Rows gathered before they are handed to the writer as one batch.
const BATCH_ROWS: usize = 8192;
/// Rows per row group, at most.
const ROW_GROUP_ROWS: usize = 128 * 1024;
/// Bytes per row group, at most (the writer's estimate).
const ROW_GROUP_BYTES: usize = 16 << 20;

enum Builder {
    Text(StringBuilder),
    Int(Int64Builder),
    Float(Float64Builder),
    Bool(BooleanBuilder),
}

impl std::fmt::Debug for Builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Builder::Text(_) => "Text",
            Builder::Int(_) => "Int",
            Builder::Float(_) => "Float",
            Builder::Bool(_) => "Bool",
        })
    }
}

impl Builder {
    fn new(ty: ColumnType) -> Builder {
        match ty {
            ColumnType::Text => Builder::Text(StringBuilder::new()),
            ColumnType::Int => Builder::Int(Int64Builder::new()),
            ColumnType::Float => Builder::Float(Float64Builder::new()),
            ColumnType::Bool => Builder::Bool(BooleanBuilder::new()),
        }
    }

    /// Appends a cell whose type the caller checked against the column's.
    fn append(&mut self, cell: &Cell<'_>) {
        match (self, cell) {
            (Builder::Text(b), Cell::Text(s)) => b.append_value(s),
            (Builder::Int(b), Cell::Int(n)) => b.append_value(*n),
            (Builder::Float(b), Cell::Float(x)) => b.append_value(*x),
            (Builder::Bool(b), Cell::Bool(v)) => b.append_value(*v),
            (Builder::Text(b), _) => b.append_null(),
            (Builder::Int(b), _) => b.append_null(),
            (Builder::Float(b), _) => b.append_null(),
            (Builder::Bool(b), _) => b.append_null(),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Builder::Text(b) => Arc::new(b.finish()),
            Builder::Int(b) => Arc::new(b.finish()),
            Builder::Float(b) => Arc::new(b.finish()),
            Builder::Bool(b) => Arc::new(b.finish()),
        }
    }
}

/// The Arrow schema of a table.
fn arrow_schema(table: &Table) -> SchemaRef {
    let fields: Vec<Field> = table
        .columns
        .iter()
        .map(|c| {
            let ty = match c.ty {
                ColumnType::Text => DataType::Utf8,
                ColumnType::Int => DataType::Int64,
                ColumnType::Float => DataType::Float64,
                ColumnType::Bool => DataType::Boolean,
            };
            Field::new(c.name, ty, true)
        })
        .collect();
    Arc::new(Schema::new(fields))
}

/// One table's `.parquet` file being written.
pub(super) struct ParquetTable {
    path: PathBuf,
    schema: SchemaRef,
    writer: ArrowWriter<File>,
    builders: Vec<Builder>,
    pending: usize,
    at: Position,
}

impl std::fmt::Debug for ParquetTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParquetTable")
            .field("path", &self.path)
            .field("pending", &self.pending)
            .field("at", &self.at)
            .finish_non_exhaustive()
    }
}

impl ParquetTable {
    pub(super) fn create(table: &'static Table, path: &Path) -> Result<ParquetTable, ExportError> {
        let schema = arrow_schema(table);
        let properties = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .set_max_row_group_bytes(Some(ROW_GROUP_BYTES))
            .set_created_by(format!("tracing-rollout {}", env!("CARGO_PKG_VERSION")))
            .set_key_value_metadata(Some(vec![
                KeyValue::new(
                    "tracing_rollout.tables_schema_version".to_owned(),
                    TABLES_SCHEMA_VERSION.to_string(),
                ),
                KeyValue::new("tracing_rollout.table".to_owned(), table.name.to_owned()),
            ]))
            .build();
        let file = create_private(path)?;
        let writer = ArrowWriter::try_new(file, Arc::clone(&schema), Some(properties))
            .map_err(|e| parquet_error(path, e))?;
        Ok(ParquetTable {
            path: path.to_path_buf(),
            schema,
            writer,
            builders: table.columns.iter().map(|c| Builder::new(c.ty)).collect(),
            pending: 0,
            at: Position::default(),
        })
    }

    /// Hands the gathered rows to the writer as one batch.
    fn flush_batch(&mut self) -> Result<(), ExportError> {
        if self.pending == 0 {
            return Ok(());
        }
        let columns: Vec<ArrayRef> = self.builders.iter_mut().map(Builder::finish).collect();
        let batch = RecordBatch::try_new(Arc::clone(&self.schema), columns)
            .map_err(|e| parquet_error(&self.path, e))?;
        self.pending = 0;
        self.writer
            .write(&batch)
            .map_err(|e| parquet_error(&self.path, e))
    }
}

impl TableFile for ParquetTable {
    fn position(&self) -> Position {
        self.at
    }

    fn row(&mut self, cells: &[Cell<'_>]) -> Result<(), ExportError> {
        for (builder, cell) in self.builders.iter_mut().zip(cells) {
            builder.append(cell);
        }
        self.pending += 1;
        self.at.rows += 1;
        if self.pending >= BATCH_ROWS {
            self.flush_batch()?;
        }
        Ok(())
    }

    fn copy_from(&mut self, old: &Path, parts: &[Part]) -> Result<(), ExportError> {
        self.flush_batch()?;
        let file = File::open(old).map_err(|source| ExportError::Io {
            action: "read",
            path: old.to_path_buf(),
            source,
        })?;
        let builder =
            ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| parquet_error(old, e))?;
        if builder.schema().fields() != self.schema.fields() {
            return Err(ExportError::Parquet {
                path: old.to_path_buf(),
                message: "the previous file has another schema".to_owned(),
            });
        }
        let total = usize::try_from(builder.metadata().file_metadata().num_rows()).unwrap_or(0);
        let ranges = parts.iter().map(|p| {
            let start = usize::try_from(p.first_row).unwrap_or(usize::MAX);
            start..start.saturating_add(usize::try_from(p.rows).unwrap_or(0))
        });
        if parts
            .iter()
            .any(|p| p.first_row.saturating_add(p.rows) > total as u64)
        {
            return Err(ExportError::Parquet {
                path: old.to_path_buf(),
                message: format!(
                    "the previous file has {total} rows, fewer than its manifest says"
                ),
            });
        }
        let selection = RowSelection::from_consecutive_ranges(ranges, total);
        let reader = builder
            .with_row_selection(selection)
            .with_batch_size(BATCH_ROWS)
            .build()
            .map_err(|e| parquet_error(old, e))?;
        for batch in reader {
            let batch = batch.map_err(|e| parquet_error(old, e))?;
            self.at.rows += batch.num_rows() as u64;
            self.writer
                .write(&batch)
                .map_err(|e| parquet_error(&self.path, e))?;
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<(), ExportError> {
        self.flush_batch()?;
        let path = self.path.clone();
        let file = self
            .writer
            .into_inner()
            .map_err(|e| parquet_error(&path, e))?;
        file.sync_all().map_err(|source| ExportError::Io {
            action: "write",
            path,
            source,
        })
    }
}

fn parquet_error(path: &Path, e: impl std::fmt::Display) -> ExportError {
    ExportError::Parquet {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}
