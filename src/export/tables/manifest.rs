//! `_manifest.json` in the output directory: what the tables hold, so that a re-run reduces only
//! the bundles that are new or changed.
//!
//! Invariant: a bundle's rows are reused only when everything they were made from is as it
//! was: the bundle's `trace.jsonl` and `manifest.json` have the size and modification time
//! recorded (a growing or rewritten bundle changes one of them; a finished bundle's manifest
//! is rewritten when it ends), the export's options (table format, `--bodies`, the prices,
//! the schema version, the crate version) hash the same, and every table file is the one
//! the previous run wrote (same size and modification time). Anything else, including an
//! unreadable manifest, rebuilds every table: never a row from a stale source.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};

use super::schema::TABLES_SCHEMA_VERSION;
use super::{ExportError, Part};

/// Value of `format` in `_manifest.json`.
pub(super) const MANIFEST_FORMAT: &str = "tracing-rollout/tables";
/// The manifest's file name (a leading `_` keeps Spark/Hive-style readers of `DIR/*` off it).
pub(super) const MANIFEST_FILE: &str = "_manifest.json";

/// Size and modification time of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Stamp {
    pub(super) bytes: u64,
    pub(super) mtime_ns: u64,
}

impl Stamp {
    /// The stamp of `path`, `None` when it does not exist.
    pub(super) fn of(path: &Path) -> Option<Stamp> {
        let meta = std::fs::metadata(path).ok()?;
        let mtime_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        Some(Stamp {
            bytes: meta.len(),
            mtime_ns,
        })
    }
}

/// What a bundle's rows were made from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct BundleStamp {
    pub(super) trace: Option<Stamp>,
    pub(super) manifest: Option<Stamp>,
}

impl BundleStamp {
    pub(super) fn of(dir: &Path) -> BundleStamp {
        BundleStamp {
            trace: Stamp::of(&dir.join("trace.jsonl")),
            manifest: Stamp::of(&dir.join("manifest.json")),
        }
    }
}

/// One bundle in the tables.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct BundleEntry {
    /// The bundle's directory, canonical (the key).
    pub(super) path: PathBuf,
    /// As the `bundle` column shows it.
    pub(super) bundle: String,
    pub(super) rollout_id: String,
    pub(super) stamp: BundleStamp,
    /// The bundle could not be reduced (its `rollouts` row says why).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) error: Option<String>,
    /// Per table, in schema order: `[first_row, rows, offset, bytes]` (byte range in JSONL
    /// files; 0 in Parquet files).
    pub(super) parts: Vec<[u64; 4]>,
}

impl BundleEntry {
    pub(super) fn part(&self, table: usize) -> Part {
        let [first_row, rows, offset, bytes] = self.parts.get(table).copied().unwrap_or_default();
        Part {
            first_row,
            rows,
            offset,
            bytes,
        }
    }
}

/// The whole `_manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Manifest {
    pub(super) format: String,
    pub(super) schema_version: u32,
    pub(super) writer: String,
    /// `jsonl` or `parquet`.
    pub(super) table_format: String,
    /// Hash of everything besides the bundles that the rows depend on.
    pub(super) options: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) currency: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) prices_source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) prices_as_of: Option<String>,
    /// Each table file's name and stamp as this run left it.
    pub(super) tables: BTreeMap<String, Stamp>,
    pub(super) bundles: Vec<BundleEntry>,
}

impl Manifest {
    pub(super) fn new(table_format: &str, options: String) -> Manifest {
        Manifest {
            format: MANIFEST_FORMAT.to_owned(),
            schema_version: TABLES_SCHEMA_VERSION,
            writer: format!("tracing-rollout {}", env!("CARGO_PKG_VERSION")),
            table_format: table_format.to_owned(),
            options,
            currency: None,
            prices_source: None,
            prices_as_of: None,
            tables: BTreeMap::new(),
            bundles: Vec::new(),
        }
    }

    /// The previous run's manifest in `dir`, if its rows can be reused by a run with
    /// `expected`'s format and options (see the module docs): else `None`.
    pub(super) fn reusable(dir: &Path, expected: &Manifest) -> Option<Manifest> {
        let text = std::fs::read_to_string(dir.join(MANIFEST_FILE)).ok()?;
        let old: Manifest = serde_json::from_str(&text).ok()?;
        let same_run = old.format == expected.format
            && old.schema_version == expected.schema_version
            && old.writer == expected.writer
            && old.table_format == expected.table_format
            && old.options == expected.options;
        let tables_intact = !old.tables.is_empty()
            && old
                .tables
                .iter()
                .all(|(file, stamp)| Stamp::of(&dir.join(file)) == Some(*stamp));
        (same_run && tables_intact).then_some(old)
    }

    /// Writes the manifest atomically (temp file + rename): a crash leaves the old one, which
    /// no longer matches the tables, so the next run rebuilds.
    pub(super) fn write(&self, dir: &Path) -> Result<(), ExportError> {
        let path = dir.join(MANIFEST_FILE);
        let tmp = dir.join(format!(".{MANIFEST_FILE}.tmp"));
        super::super::write_json(self, &tmp)?;
        std::fs::rename(&tmp, &path).map_err(|source| ExportError::Io {
            action: "rename",
            path,
            source,
        })
    }
}

/// FNV-1a, 64 bits, as 16 hex digits: a stable hash of the export's options.
pub(super) fn fingerprint(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}
