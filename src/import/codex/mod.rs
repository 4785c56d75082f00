//! OpenAI Codex rollout-trace bundles (`CODEX_ROLLOUT_TRACE_ROOT`,
//! `trace-<trace_id>-<thread_id>/{manifest.json, trace.jsonl, payloads/N.json}`) → bundles
//! of ours (format v2), which every reader of this crate then opens as its own.
//!
//! Invariant: an import is a pure function of the Codex bundle as it is on disk, applied in
//! Codex's line order; it writes one bundle of ours per Codex bundle and never fails on what
//! Codex wrote — only on I/O. What it cannot map is kept as evidence and named by a
//! diagnostic ([`Ledger`]), so nothing Codex recorded is lost silently. A bundle may come
//! from a stranger: files are read only inside it and only if regular, its log a chunk at a
//! time (a line past [`MAX_LINE_BYTES`](crate::format::MAX_LINE_BYTES) skipped without being
//! held) and a payload file only up to 16 MiB, each with a diagnostic naming what was left.
//!
//! # The mapping
//!
//! | Codex raw event | becomes |
//! |---|---|
//! | `rollout_started` / `rollout_ended` | the `rollout` span (ids kept) / its end and `bundle_ended`, with the status derived from the root thread (Codex's word kept as `reported_status`) |
//! | `thread_started` (+ `session_metadata`) | a `rollout.thread` span: `thread_id`, `agent_path`, `nickname`, `role`, `model`, `parent_thread_id` of a spawned thread; a second start after the thread ended (`thread_resumed`) is a resume |
//! | `thread_ended` | the thread's end, `failed`/`cancelled` when its last turn was |
//! | `codex_turn_started` / `_ended` | a `rollout.turn` span (`turn_id` = Codex's turn id) and its status |
//! | `inference_started` / `_completed` / `_failed` / `_cancelled` | a `rollout.inference` span: `model`, `provider`, `response_id`, `upstream_request_id`, the request and (partial) response bodies as `request` / `response` payloads, the error or cancel reason as `error` |
//! | `tool_call_started` (+ invocation) | a `rollout.tool` span (child of the cell for a code cell's call): `tool`, `kind` (Codex's, refined by `tool_call_runtime_started.kind`), `call_id` = the model-visible call id, `mcp_server`; the invocation as `args` |
//! | `tool_call_runtime_started` / `_ended` | for `exec_command` / `write_stdin`, a `rollout.terminal` span (`op`, `command`, `cwd`, `terminal_id`, `exit_code`); for collab tools, `target_thread_id` and `message` (the reducer's spawn, message, task and close edges) |
//! | `tool_call_ended` | the call's status, `error`, and its `result` payload |
//! | `mcp_tool_call_correlation_assigned` | the call's `mcp_call_id` field |
//! | `stdin_target_resolved` | a `write_stdin`'s operation joins the session of the `exec_command` call whose process it writes to |
//! | `code_cell_started` / `_initial_response` / `_ended` | a `rollout.code_cell` span (`cell_id`, `call_id`, the source as `source`, responses as `output`), `yielded`, and its end (`terminated` → `cancelled`) |
//! | `compaction_request_*` / `compaction_installed` | a `rollout.compaction` span per request (attempts of one `compaction_id`), the checkpoint as `checkpoint` |
//! | `agent_result_observed` | a `rollout.agent_result` event in the child's turn |
//! | `protocol_event_observed`, `history_item_accepted`, `recording_completed` | evidence: `metadata` payloads and `rollout.codex.*` events |
//! | anything else | evidence, and a `rollout.diagnostic` event naming it |

mod ledger;
mod lifecycle;
mod map;
mod model;
mod raw;
mod tools;

use std::fs::File;
use std::io::{self, Read as _, Seek as _};
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use ledger::{Ledger, Tally};

use super::sink::Sink;
use super::{io_error as io, ImportError};
use crate::writer::bundle_dir;

/// How deep below a root directory [`find_bundles`] looks.
const MAX_DEPTH: usize = 6;

/// One Codex bundle, imported.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The Codex bundle.
    pub source: PathBuf,
    /// The bundle of ours written for it.
    pub bundle: PathBuf,
    /// What became of every raw event and payload.
    pub ledger: Ledger,
}

/// Codex's `manifest.json` (every key optional: the reducer of Codex needs none of them
/// but `root_thread_id`, and older versions wrote fewer).
#[derive(Debug, Default, Deserialize)]
struct CodexManifest {
    #[serde(default)]
    trace_id: Option<String>,
    #[serde(default)]
    rollout_id: Option<String>,
    #[serde(default)]
    root_thread_id: Option<String>,
    #[serde(default)]
    started_at_unix_ms: Option<u64>,
    /// Ours has `format`; Codex's does not.
    #[serde(default)]
    format: Option<String>,
}

/// Opens `name` in the bundle `dir` for reading: a regular file (never waiting on a FIFO)
/// that lies inside the bundle, whatever links led there (a hostile bundle under a served
/// root cannot make the importer read a file outside it).
fn open_in(dir: &Path, name: &str) -> io::Result<File> {
    let within = std::fs::canonicalize(dir)?;
    crate::format::open_regular(&dir.join(name), Some(&within))
}

/// `manifest.json` of the bundle `dir`, if there is one (read up to the format's limit).
fn read_manifest(dir: &Path) -> Option<String> {
    let within = std::fs::canonicalize(dir).ok()?;
    let path = dir.join("manifest.json");
    let bytes =
        crate::format::read_limited(&path, crate::format::MAX_MANIFEST_BYTES, Some(&within));
    String::from_utf8(bytes.ok()?).ok()
}

/// The first bytes of the bundle's `trace.jsonl` (at most `limit`), as text.
fn trace_head(dir: &Path, limit: usize) -> io::Result<String> {
    let mut file = open_in(dir, "trace.jsonl")?;
    let mut buf = vec![0u8; limit];
    let n = file.read(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// Whether `dir` holds a Codex rollout-trace bundle (and why not).
pub fn check_bundle(dir: &Path) -> Result<(), String> {
    let trace = dir.join("trace.jsonl");
    if !trace.is_file() {
        return Err(format!("{} has no trace.jsonl", dir.display()));
    }
    if let Some(text) = read_manifest(dir) {
        if let Ok(m) = serde_json::from_str::<CodexManifest>(&text) {
            if m.format.is_some() {
                return Err(format!(
                    "{} is a bundle of tracing-rollout, not of Codex",
                    dir.display()
                ));
            }
            if m.root_thread_id.is_some() || m.rollout_id.is_some() {
                return Ok(());
            }
        }
    }
    // No manifest of Codex's shape: the first line decides.
    let head = trace_head(dir, 4096).map_err(|e| format!("open {}: {e}", trace.display()))?;
    let line = head.lines().next().unwrap_or("");
    match serde_json::from_str::<raw::Envelope>(line) {
        Ok(_) => Ok(()),
        Err(_) => Err(format!(
            "{} holds no Codex manifest and its first line is no Codex raw event",
            dir.display()
        )),
    }
}

/// Whether `dir` holds a Codex rollout-trace bundle.
pub fn is_codex_bundle(dir: &Path) -> bool {
    check_bundle(dir).is_ok()
}

/// The Codex bundles at or below `root` (a bundle itself, or a `CODEX_ROLLOUT_TRACE_ROOT`),
/// sorted by path. Symlinks are not followed.
pub fn find_bundles(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    find(root, 0, &mut out);
    out.sort();
    out
}

fn find(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    if is_codex_bundle(dir) {
        out.push(dir.to_path_buf());
        return;
    }
    if depth >= MAX_DEPTH {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            find(&entry.path(), depth + 1, out);
        }
    }
}

/// Imports every Codex bundle at or below `src` into a new bundle of ours under `out_dir`
/// (named after the Codex bundle's directory, with a suffix if taken).
///
/// # Errors
///
/// [`ImportError::NotACodexBundle`] when `src` holds no Codex bundle; [`ImportError::Io`]
/// when a file cannot be read or written.
///
/// # Examples
///
/// ```no_run
/// let imported = tracing_rollout::import::codex::import("codex-traces", "traces")?;
/// for bundle in &imported {
///     let state = tracing_rollout::reduce::reduce_bundle(&bundle.bundle)?;
///     println!("{}: {} threads", bundle.bundle.display(), state.threads.len());
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn import(
    src: impl AsRef<Path>,
    out_dir: impl AsRef<Path>,
) -> Result<Vec<Imported>, ImportError> {
    let (src, out_dir) = (src.as_ref(), out_dir.as_ref());
    let bundles = find_bundles(src);
    if bundles.is_empty() {
        let why = match check_bundle(src) {
            Err(why) if src.join("trace.jsonl").is_file() => why,
            _ => format!(
                "no Codex bundle (a directory with trace.jsonl) at or below {}",
                src.display()
            ),
        };
        return Err(ImportError::NotACodexBundle {
            path: src.to_path_buf(),
            why,
        });
    }
    std::fs::create_dir_all(out_dir).map_err(io("create", out_dir))?;
    bundles
        .iter()
        .map(|bundle| {
            let name = bundle
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "codex".to_owned());
            let dest =
                bundle_dir::create_bundle_dir(out_dir, &name).map_err(io("create", out_dir))?;
            let mut importer = Importer::start(bundle, &dest)?;
            importer.poll()?;
            importer.finish()
        })
        .collect()
}

/// Bytes of Codex's log read at a time.
const POLL_CHUNK: usize = 1 << 20;

/// An import that can continue as Codex appends to its log: [`poll`](Importer::poll)
/// applies the lines written since the last poll, [`finish`](Importer::finish) ends it.
#[derive(Debug)]
pub struct Importer {
    source: PathBuf,
    file: File,
    offset: u64,
    /// Bytes after the last newline read so far (a line Codex is still writing), at most
    /// [`MAX_LINE_BYTES`](crate::format::MAX_LINE_BYTES).
    partial: Vec<u8>,
    /// Bytes of a line longer than a reader reads, skipped so far without being held (0
    /// when none is being skipped).
    skipped: u64,
    line: u64,
    mapper: map::Mapper,
}

impl Importer {
    /// Starts importing the Codex bundle `src` into `dest`, an empty directory that becomes
    /// the bundle of ours (nothing is applied until the first [`poll`](Importer::poll)).
    ///
    /// # Errors
    ///
    /// [`ImportError::NotACodexBundle`] when `src` is not a Codex bundle; I/O errors.
    pub fn start(src: &Path, dest: &Path) -> Result<Importer, ImportError> {
        check_bundle(src).map_err(|why| ImportError::NotACodexBundle {
            path: src.to_path_buf(),
            why,
        })?;
        // Files are read only inside the bundle as it really is.
        let src = &std::fs::canonicalize(src).map_err(io("resolve", src))?;
        let manifest_text = read_manifest(src);
        let manifest: CodexManifest = manifest_text
            .as_deref()
            .and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or_default();
        let trace = src.join("trace.jsonl");
        let file = open_in(src, "trace.jsonl").map_err(io("open", &trace))?;
        let first = first_envelope(src);
        let rollout_id = manifest
            .rollout_id
            .clone()
            .or_else(|| first.as_ref().and_then(|(_, id)| id.clone()))
            .unwrap_or_else(|| "codex".to_owned());
        let started = manifest
            .started_at_unix_ms
            .or(first.as_ref().map(|(t, _)| *t))
            .unwrap_or(0);
        let sink = Sink::create(dest, &rollout_id, manifest.trace_id.as_deref(), started)
            .map_err(io("create bundle in", dest))?;
        let compact = manifest_text
            .as_deref()
            .filter(|t| serde_json::from_str::<serde::de::IgnoredAny>(t).is_ok())
            .map(raw::minify);
        let mapper = map::Mapper::new(
            src,
            sink,
            (&rollout_id, manifest.root_thread_id.clone()),
            compact.as_deref(),
        )
        .map_err(io("write", dest))?;
        Ok(Importer {
            source: src.to_path_buf(),
            file,
            offset: 0,
            partial: Vec::new(),
            skipped: 0,
            line: 0,
            mapper,
        })
    }

    /// The bundle of ours being written.
    pub fn bundle(&self) -> &Path {
        self.mapper.sink.dir()
    }

    /// Whether Codex finished the recording (`recording_completed`; the rollout's end in raw
    /// schema 1): [`finish`](Importer::finish) may follow.
    pub fn ended(&self) -> bool {
        self.mapper.recording_done()
    }

    /// Applies every whole line Codex appended since the last poll; returns how many. The
    /// log is read 1 MiB at a time, and a line longer than
    /// [`MAX_LINE_BYTES`](crate::format::MAX_LINE_BYTES) is skipped without being held (with
    /// a diagnostic), so memory is bounded whatever Codex's log holds.
    ///
    /// # Errors
    ///
    /// I/O errors reading Codex's files or writing ours.
    pub fn poll(&mut self) -> Result<u64, ImportError> {
        let trace = self.source.join("trace.jsonl");
        self.file
            .seek(io::SeekFrom::Start(self.offset))
            .map_err(io("read", &trace))?;
        let mut chunk = vec![0u8; POLL_CHUNK];
        let mut applied = 0;
        loop {
            let n = match self.file.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io("read", &trace)(e)),
            };
            self.offset += n as u64;
            applied += self
                .take(&chunk[..n])
                .map_err(io("write", self.mapper.sink.dir()))?;
        }
        self.mapper
            .flush()
            .map_err(io("write", self.mapper.sink.dir()))?;
        Ok(applied)
    }

    /// Applies the whole lines `bytes` ends (after what [`Importer::partial`] holds), keeps
    /// its unfinished tail; returns how many lines ended.
    fn take(&mut self, mut bytes: &[u8]) -> io::Result<u64> {
        let limit = crate::format::MAX_LINE_BYTES;
        let mut ended = 0;
        while let Some(end) = bytes.iter().position(|&b| b == b'\n') {
            let (head, rest) = (&bytes[..end], &bytes[end + 1..]);
            bytes = rest;
            self.line += 1;
            ended += 1;
            let len = self.skipped + (self.partial.len() + head.len()) as u64;
            if len > limit {
                self.skipped = 0;
                self.partial.clear();
                self.mapper.skip_line(self.line, len)?;
            } else if self.partial.is_empty() {
                self.mapper
                    .apply_line(self.line, &String::from_utf8_lossy(head))?;
            } else {
                self.partial.extend_from_slice(head);
                let line = std::mem::take(&mut self.partial);
                self.mapper
                    .apply_line(self.line, &String::from_utf8_lossy(&line))?;
            }
        }
        if self.skipped > 0 || (self.partial.len() + bytes.len()) as u64 > limit {
            self.skipped += (self.partial.len() + bytes.len()) as u64;
            self.partial = Vec::new();
        } else {
            self.partial.extend_from_slice(bytes);
        }
        Ok(ended)
    }

    /// Ends the import: a last line without its newline is applied if it is whole, payload
    /// files no event named are kept (with a diagnostic), and the bundle ends if the rollout
    /// did.
    ///
    /// # Errors
    ///
    /// I/O errors.
    pub fn finish(mut self) -> Result<Imported, ImportError> {
        self.poll()?;
        let dir = self.mapper.sink.dir().to_path_buf();
        if self.skipped > 0 {
            self.line += 1;
            self.mapper
                .skip_line(self.line, self.skipped)
                .map_err(io("write", &dir))?;
        } else if !self.partial.is_empty() {
            self.line += 1;
            let text = String::from_utf8_lossy(&self.partial).into_owned();
            if serde_json::from_str::<raw::Envelope>(&text).is_ok() {
                self.mapper
                    .apply_line(self.line, &text)
                    .map_err(io("write", &dir))?;
            } else {
                self.mapper.ledger.event("line", ledger::Fate::Diagnosed);
                self.mapper
                    .diagnose(format!(
                        "the log ends in a torn line ({} bytes without a newline); ignored",
                        self.partial.len()
                    ))
                    .map_err(io("write", &dir))?;
            }
        }
        self.mapper.finish().map_err(io("write", &dir))?;
        Ok(Imported {
            source: self.source,
            bundle: dir,
            ledger: self.mapper.ledger,
        })
    }
}

/// Wall clock and rollout id of the first line of the bundle's `trace.jsonl`, if it is a raw
/// event.
fn first_envelope(dir: &Path) -> Option<(u64, Option<String>)> {
    let text = trace_head(dir, 64 << 10).ok()?;
    let line = text.lines().next()?;
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    let t = value.get("wall_time_unix_ms")?.as_u64()?;
    let id = value
        .get("rollout_id")
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    Some((t, id))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_without_codex_bundles_is_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let out = tempfile::tempdir().unwrap();
        let err = import(dir.path(), out.path()).unwrap_err();
        assert!(matches!(err, ImportError::NotACodexBundle { .. }), "{err}");
        std::fs::write(dir.path().join("trace.jsonl"), "{\"seq\":1}\n").unwrap();
        let err = import(dir.path(), out.path()).unwrap_err().to_string();
        assert!(err.contains("first line is no Codex raw event"), "{err}");
    }
}
