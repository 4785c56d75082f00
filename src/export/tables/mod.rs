//! Many rollouts as tables any engine can query: one table per entity (rollouts, threads,
//! turns, inference calls, tool calls, code cells, terminal operations, compactions, edges,
//! conversation items, diagnostics, payloads), as `DIR/<table>.jsonl` or, with the feature
//! `parquet`, `DIR/<table>.parquet` — read by DuckDB (`read_parquet`, `read_json_auto`),
//! Spark, ClickHouse, pandas or polars.
//!
//! ```no_run
//! use tracing_rollout::export::tables::{export_tables, TableFormat, TablesOptions};
//!
//! let report = export_tables(&["traces"], "tables", &TablesOptions::new(TableFormat::Jsonl))?;
//! println!("{} bundles, {} reduced again", report.bundles, report.reduced);
//! # Ok::<(), tracing_rollout::export::ExportError>(())
//! ```
//!
//! ```sql
//! -- DuckDB: which tool fails most?
//! SELECT tool, count(*) AS calls, avg((status = 'failed')::int) AS failure_rate
//! FROM 'tables/tool_calls.parquet' GROUP BY tool ORDER BY failure_rate DESC;
//! ```
//!
//! Invariant: memory is bounded by one bundle at a time (its graph, and one payload body with
//! `--bodies`), not by the root: bundles are reduced one after another and their rows streamed
//! to the table files. A re-run over a root that gained bundles reduces only the bundles that
//! are new or changed and copies the others' rows from the previous files; `_manifest.json`
//! (see `manifest.rs`) records, per bundle, what its rows were made from (sizes and
//! modification times of `trace.jsonl` and `manifest.json`) and where they are in each table.
//! Table files are written beside the old ones and renamed over them, then the manifest: an
//! interrupted run leaves files the next run does not trust, so it rebuilds.
//!
//! Every row carries `rollout_id` and its entity's id, and the ids of its parents (thread, turn,
//! requesting inference call or code cell, spawning tool call), so joins need nothing else.
//! Bundles read through the library only ([`reduce_bundle`] and the format's reader for
//! bodies); a Codex rollout-trace bundle under the root is read through its import
//! ([`crate::import::resolve_bundle`], as every command reads it), its stamp taken from the
//! Codex bundle's own files, which are never written to.
//!
//! # Schema
//!
#![doc = include_str!("../../../docs/tables.md")]

mod jsonl;
mod manifest;
#[cfg(feature = "parquet")]
mod parquet;
mod rows;
mod schema;

use std::collections::{BTreeMap, HashMap};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

pub use schema::{
    schema_markdown, table, Column, ColumnType, Table, TABLES, TABLES_SCHEMA_VERSION,
};

use super::ExportError;
use crate::cost::Prices;
use crate::format::discover::{find_bundles, is_bundle, Walk};
use crate::reduce::reduce_bundle;
use manifest::{BundleEntry, BundleStamp, Manifest, Stamp};
use rows::{failed_rollout, Cell, Rollout, Sink};

/// Directories below a root searched for bundles, at most.
const MAX_DEPTH: usize = 32;

/// The file format of the tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TableFormat {
    /// JSON Lines: one object per row (`DIR/<table>.jsonl`).
    #[default]
    Jsonl,
    /// Apache Parquet, Snappy-compressed (`DIR/<table>.parquet`); needs the feature `parquet`.
    Parquet,
}

impl TableFormat {
    /// The file extension (and the word `--format` takes).
    pub fn extension(self) -> &'static str {
        match self {
            TableFormat::Jsonl => "jsonl",
            TableFormat::Parquet => "parquet",
        }
    }
}

/// What [`export_tables`] writes.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct TablesOptions {
    /// JSONL or Parquet.
    pub format: TableFormat,
    /// Fill `payloads.body` with every payload's whole body, and keep edge messages whole.
    pub bodies: bool,
    /// Prices for the cost columns (null without).
    pub prices: Option<Prices>,
}

impl TablesOptions {
    /// Tables in `format`, without bodies or prices.
    pub fn new(format: TableFormat) -> TablesOptions {
        TablesOptions {
            format,
            ..TablesOptions::default()
        }
    }

    /// With or without payload bodies.
    pub fn bodies(mut self, bodies: bool) -> TablesOptions {
        self.bodies = bodies;
        self
    }

    /// With prices for the cost columns.
    pub fn prices(mut self, prices: Prices) -> TablesOptions {
        self.prices = Some(prices);
        self
    }

    /// Everything besides the bundles that rows depend on, as text to hash.
    fn fingerprint(&self) -> String {
        manifest::fingerprint(&format!(
            "{TABLES_SCHEMA_VERSION}|{}|{}|{:?}",
            self.format.extension(),
            self.bodies,
            self.prices
        ))
    }
}

/// What an export did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TablesReport {
    /// The output directory.
    pub dir: PathBuf,
    /// Bundles in the tables.
    pub bundles: usize,
    /// Bundles reduced by this run (new, changed, or all when nothing could be reused).
    pub reduced: usize,
    /// Bundles whose rows were copied from the previous run.
    pub reused: usize,
    /// Bundles that could not be reduced, with why (each has a `rollouts` row with `error`).
    pub failed: Vec<(String, String)>,
    /// Rollout ids that more than one bundle carries (joins on `rollout_id` would mix them).
    pub duplicate_rollout_ids: Vec<String>,
    /// Per table file: rows and bytes.
    pub tables: Vec<(String, u64, u64)>,
}

/// One table file being written.
trait TableFile: std::fmt::Debug {
    /// Rows and bytes written so far.
    fn position(&self) -> Position;
    /// Appends one row (cells checked against the schema by the caller).
    fn row(&mut self, cells: &[Cell<'_>]) -> Result<(), ExportError>;
    /// Appends the rows of `parts` (in file order) from the previous file `old`.
    fn copy_from(&mut self, old: &Path, parts: &[Part]) -> Result<(), ExportError>;
    /// Finishes the file and syncs it.
    fn finish(self: Box<Self>) -> Result<(), ExportError>;
}

/// Rows and bytes written to a table file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Position {
    rows: u64,
    bytes: u64,
}

/// Where one bundle's rows are in one table file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Part {
    first_row: u64,
    rows: u64,
    offset: u64,
    bytes: u64,
}

impl Part {
    fn between(from: Position, to: Position) -> Part {
        Part {
            first_row: from.rows,
            rows: to.rows - from.rows,
            offset: from.bytes,
            bytes: to.bytes - from.bytes,
        }
    }

    fn as_array(self) -> [u64; 4] {
        [self.first_row, self.rows, self.offset, self.bytes]
    }
}

/// Creates (truncating) a file readable by its owner only: tables hold conversation text.
fn create_private(path: &Path) -> Result<std::fs::File, ExportError> {
    crate::format::create_private(path).map_err(|source| ExportError::Io {
        action: "create",
        path: path.to_path_buf(),
        source,
    })
}

/// Every table's file, routed to by table number; checks each row against the schema.
#[derive(Debug)]
struct Files {
    files: Vec<Box<dyn TableFile>>,
}

impl Sink for Files {
    fn row(&mut self, table: usize, cells: &[Cell<'_>]) -> Result<(), ExportError> {
        let spec = &TABLES[table];
        let fits = cells.len() == spec.columns.len()
            && spec.columns.iter().zip(cells).all(|(c, cell)| {
                matches!(
                    (c.ty, cell),
                    (_, Cell::Null)
                        | (ColumnType::Text, Cell::Text(_))
                        | (ColumnType::Int, Cell::Int(_))
                        | (ColumnType::Float, Cell::Float(_))
                        | (ColumnType::Bool, Cell::Bool(_))
                )
            });
        if !fits {
            return Err(ExportError::Schema {
                table: spec.name,
                message: format!("a row of {} cells does not fit the schema", cells.len()),
            });
        }
        self.files[table].row(cells)
    }
}

/// A bundle found under the inputs.
#[derive(Debug)]
struct Found {
    /// Canonical directory.
    path: PathBuf,
    /// As the `bundle` column shows it.
    bundle: String,
}

/// Bundles named by `inputs` (each a bundle or a root searched for bundles), in input order
/// and, under a root, in name order; each bundle once.
fn discover(inputs: &[PathBuf]) -> Result<Vec<Found>, ExportError> {
    let mut found = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for input in inputs {
        let canonical = std::fs::canonicalize(input).map_err(|source| ExportError::Io {
            action: "open",
            path: input.clone(),
            source,
        })?;
        let bundles = if is_bundle(&canonical) {
            let name = canonical
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| ".".to_owned());
            vec![(name, canonical)]
        } else {
            let walk = Walk {
                max_depth: MAX_DEPTH,
                max_bundles: usize::MAX,
            };
            find_bundles(&canonical, walk)
        };
        for (bundle, path) in bundles {
            if seen.insert(path.clone()) {
                found.push(Found { path, bundle });
            }
        }
    }
    Ok(found)
}

/// Exports every bundle named by `inputs` (bundles, or roots searched for bundles without
/// following symlinks) as tables in `dir`, reducing only what changed since the last export
/// into `dir` (see the [module docs](self)).
///
/// A bundle that cannot be reduced does not stop the export: its `rollouts` row carries the
/// error and the report lists it.
pub fn export_tables(
    inputs: &[impl AsRef<Path>],
    dir: impl AsRef<Path>,
    options: &TablesOptions,
) -> Result<TablesReport, ExportError> {
    let dir = dir.as_ref();
    let inputs: Vec<PathBuf> = inputs.iter().map(|p| p.as_ref().to_path_buf()).collect();
    if cfg!(not(feature = "parquet")) && options.format == TableFormat::Parquet {
        return Err(ExportError::Unsupported {
            what: "Parquet tables need the crate feature `parquet`",
        });
    }
    let found = discover(&inputs)?;
    create_dir_private(dir)?;
    let mut next = Manifest::new(options.format.extension(), options.fingerprint());
    if let Some(prices) = &options.prices {
        next.currency = Some(prices.currency.clone());
        next.prices_source = prices.source.clone();
        next.prices_as_of = prices.as_of.clone();
    }
    let previous = Manifest::reusable(dir, &next);
    let result = write_all(&found, dir, options, previous.as_ref(), &mut next);
    if result.is_err() {
        for table in TABLES {
            let _ = std::fs::remove_file(temp_path(dir, table, options.format));
        }
    }
    result
}

fn create_dir_private(dir: &Path) -> Result<(), ExportError> {
    crate::format::create_dir_private(dir).map_err(|source| ExportError::Io {
        action: "create",
        path: dir.to_path_buf(),
        source,
    })
}

fn table_path(dir: &Path, table: &Table, format: TableFormat) -> PathBuf {
    dir.join(format!("{}.{}", table.name, format.extension()))
}

fn temp_path(dir: &Path, table: &Table, format: TableFormat) -> PathBuf {
    dir.join(format!(".{}.{}.tmp", table.name, format.extension()))
}

fn open_files(dir: &Path, format: TableFormat) -> Result<Files, ExportError> {
    let mut files: Vec<Box<dyn TableFile>> = Vec::with_capacity(TABLES.len());
    for table in TABLES {
        let path = temp_path(dir, table, format);
        files.push(match format {
            TableFormat::Jsonl => Box::new(jsonl::JsonlTable::create(table, &path)?),
            #[cfg(feature = "parquet")]
            TableFormat::Parquet => Box::new(parquet::ParquetTable::create(table, &path)?),
            #[cfg(not(feature = "parquet"))]
            TableFormat::Parquet => {
                return Err(ExportError::Unsupported {
                    what: "Parquet tables need the crate feature `parquet`",
                })
            }
        });
    }
    Ok(Files { files })
}

/// One run: copy the reusable rows, reduce the rest, rename the files into place, write the
/// manifest.
fn write_all(
    found: &[Found],
    dir: &Path,
    options: &TablesOptions,
    previous: Option<&Manifest>,
    next: &mut Manifest,
) -> Result<TablesReport, ExportError> {
    let old: HashMap<&Path, &BundleEntry> = previous
        .map(|m| m.bundles.iter().map(|b| (b.path.as_path(), b)).collect())
        .unwrap_or_default();
    let mut reused = Vec::new();
    let mut fresh = Vec::new();
    for f in found {
        let stamp = BundleStamp::of(&f.path);
        match old.get(f.path.as_path()) {
            Some(entry) if entry.stamp == stamp => reused.push((f, *entry)),
            _ => fresh.push((f, stamp)),
        }
    }
    let mut files = open_files(dir, options.format)?;
    let mut entries = match copy_reused(&mut files, dir, options.format, &reused) {
        Ok(entries) => entries,
        // The previous files cannot be copied from after all (changed under us, another
        // schema): rebuild everything from the bundles.
        Err(_) if !reused.is_empty() => {
            drop(files);
            return write_all(found, dir, options, None, next);
        }
        Err(e) => return Err(e),
    };
    let mut failed = Vec::new();
    for (f, stamp) in &fresh {
        let entry = write_bundle(&mut files, f, *stamp, options)?;
        if let Some(error) = &entry.error {
            failed.push((f.bundle.clone(), error.clone()));
        }
        entries.push(entry);
    }
    let mut tables = Vec::new();
    let positions: Vec<Position> = files.files.iter().map(|f| f.position()).collect();
    for file in files.files {
        file.finish()?;
    }
    next.tables.clear();
    for (table, at) in TABLES.iter().zip(positions) {
        let path = table_path(dir, table, options.format);
        std::fs::rename(temp_path(dir, table, options.format), &path).map_err(|source| {
            ExportError::Io {
                action: "rename",
                path: path.clone(),
                source,
            }
        })?;
        let stamp = Stamp::of(&path).unwrap_or(Stamp {
            bytes: 0,
            mtime_ns: 0,
        });
        let name = format!("{}.{}", table.name, options.format.extension());
        next.tables.insert(name.clone(), stamp);
        tables.push((name, at.rows, stamp.bytes));
    }
    failed.extend(
        reused
            .iter()
            .filter_map(|(f, e)| Some((f.bundle.clone(), e.error.clone()?))),
    );
    let mut ids: BTreeMap<&str, usize> = BTreeMap::new();
    for entry in &entries {
        *ids.entry(entry.rollout_id.as_str()).or_default() += 1;
    }
    let duplicate_rollout_ids = ids
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(id, _)| id.to_owned())
        .collect();
    next.bundles = entries;
    next.write(dir)?;
    Ok(TablesReport {
        dir: dir.to_path_buf(),
        bundles: found.len(),
        reduced: fresh.len(),
        reused: reused.len(),
        failed,
        duplicate_rollout_ids,
        tables,
    })
}

/// Copies the rows of the reused bundles from the previous files, table by table, in the order
/// they were there; returns their entries with their new places.
fn copy_reused(
    files: &mut Files,
    dir: &Path,
    format: TableFormat,
    reused: &[(&Found, &BundleEntry)],
) -> Result<Vec<BundleEntry>, ExportError> {
    let mut entries: Vec<BundleEntry> = reused
        .iter()
        .map(|(f, e)| BundleEntry {
            bundle: f.bundle.clone(),
            parts: vec![[0; 4]; TABLES.len()],
            ..(*e).clone()
        })
        .collect();
    if reused.is_empty() {
        return Ok(entries);
    }
    for (t, table) in TABLES.iter().enumerate() {
        let mut order: Vec<usize> = (0..reused.len()).collect();
        order.sort_by_key(|&i| reused[i].1.part(t).first_row);
        let mut at = files.files[t].position();
        let mut parts = Vec::with_capacity(order.len());
        for &i in &order {
            let old = reused[i].1.part(t);
            let next = Position {
                rows: at.rows + old.rows,
                bytes: at.bytes + old.bytes,
            };
            entries[i].parts[t] = Part::between(at, next).as_array();
            at = next;
            if old.rows > 0 {
                parts.push(old);
            }
        }
        files.files[t].copy_from(&table_path(dir, table, format), &parts)?;
        if files.files[t].position().rows != at.rows {
            return Err(ExportError::Schema {
                table: table.name,
                message: "the previous file holds other rows than its manifest says".to_owned(),
            });
        }
    }
    Ok(entries)
}

/// Reduces one bundle (a Codex bundle through its import) and writes its rows; a bundle that
/// does not reduce gets a `rollouts` row with its error.
fn write_bundle(
    files: &mut Files,
    found: &Found,
    stamp: BundleStamp,
    options: &TablesOptions,
) -> Result<BundleEntry, ExportError> {
    let start: Vec<Position> = files.files.iter().map(|f| f.position()).collect();
    // A Codex bundle is read through its import, as every command reads it.
    let reduced = match crate::import::resolve_bundle(&found.path) {
        Ok(resolved) => reduce_bundle(&resolved.bundle)
            .map(|state| (state, resolved.bundle))
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    let (rollout_id, error) = match reduced {
        Ok((state, ours)) => {
            let rollout = Rollout {
                state: &state,
                bundle: &found.bundle,
                prices: options.prices.as_ref(),
                bodies: options.bodies,
            };
            rollout.write(files)?;
            write_payloads(&rollout, &ours, options.bodies, files)?;
            (state.rollout_id.clone(), None)
        }
        Err(error) => {
            let rollout_id = manifest_rollout_id(&found.path).unwrap_or_else(|| {
                found
                    .path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            });
            failed_rollout(&rollout_id, &found.bundle, &error, files)?;
            (rollout_id, Some(error))
        }
    };
    let parts = files
        .files
        .iter()
        .zip(start)
        .map(|(f, from)| Part::between(from, f.position()).as_array())
        .collect();
    Ok(BundleEntry {
        path: found.path.clone(),
        bundle: found.bundle.clone(),
        rollout_id,
        stamp,
        error,
        parts,
    })
}

/// The `rollout_id` a bundle's `manifest.json` names, if it can be read.
fn manifest_rollout_id(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("manifest.json")).ok()?;
    let manifest: crate::format::Manifest = serde_json::from_str(&text).ok()?;
    Some(manifest.rollout_id)
}

/// The `payloads` rows: from the graph's index, or with `bodies` from the format's reader, one
/// body at a time (a body the reader cannot reach is left null, its row kept).
fn write_payloads(
    rollout: &Rollout<'_>,
    dir: &Path,
    bodies: bool,
    sink: &mut dyn Sink,
) -> Result<(), ExportError> {
    let mut done: Option<u64> = None;
    if bodies {
        let mut failure = None;
        // A torn or unreadable tail ends the walk: the graph's remaining payloads are written
        // below, without bodies.
        let _ = crate::format::visit_records(dir, |record| {
            if record.record_type == "payload" {
                // Role, size and truncation from the graph; a body left out stays null.
                if let Err(e) = rollout.payload_row(record.seq, None, record.body, sink) {
                    failure = Some(e);
                    return ControlFlow::Break(());
                }
                done = Some(record.seq);
            }
            ControlFlow::Continue(())
        });
        if let Some(e) = failure {
            return Err(e);
        }
    }
    for seq in rollout.state.payloads.keys() {
        if done.is_none_or(|d| *seq > d) {
            rollout.payload_row(*seq, None, None, sink)?;
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "tables_tests.rs"]
mod tests;
