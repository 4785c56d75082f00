//! The offline reducer: replays a bundle's `trace.jsonl` into the rollout graph
//! ([`RolloutState`], written as `state.json`).
//!
//! Invariant: records are applied once, in file (= seq) order, and every lookup is through an
//! index keyed by id (span key, `(thread, call_id)`, `(thread, response_id)`, content hash), so
//! reduction is linear in the records plus the payload bytes it must parse. The exception is
//! matching a delivered text to the item that carries it, a substring search no id can key:
//! per delivery and per new item it is linear in what is still unmatched in the recipient
//! thread (see `deliveries`). Evidence that contradicts itself is an error naming the 1-based
//! line; evidence that is merely missing (torn tail, unended spans, dropped records, unknown
//! payload shapes, undelivered messages) becomes a [`Diagnostic`] and `complete: false` where
//! it applies.
//!
//! The work is split by concern over one private state (`reducer`, which also says which file
//! writes which part of it): `spans` turns span records into entities and ends them; `fields`
//! reads span fields; `threads` keeps threads and turns, `inference` inference calls,
//! `compactions` compactions; `calls` keeps tool calls, code cells and terminal operations and
//! links them through the model-visible call id; `route` indexes payloads and sends them where
//! they are read; `conversation` turns model-facing payloads into conversation items; `edges`
//! builds spawn, message, task, result, close and link edges (`deliveries` matches delivered
//! texts); `state` is the graph's schema, `requests` the linear form of a call's request items
//! in it; `summary` renders the readable tree; `replay` is
//! the incremental form ([`Replay`], fed lines as a bundle grows), which [`reduce_bundle`] runs
//! over the whole file.

mod calls;
mod compactions;
mod conversation;
mod deliveries;
mod edges;
mod error;
mod fields;
mod inference;
mod payloads;
mod reader;
mod reducer;
mod replay;
mod requests;
mod route;
mod spans;
mod state;
mod status;
mod summary;
#[cfg(test)]
mod test_support;
mod threads;
mod u64_map;

use std::io::Write;
use std::path::{Path, PathBuf};

pub use error::ReduceError;
pub use reader::{expand_bundle, payload_body, BundleReader, ExpandedRecord};
pub use replay::{follow_summary, follow_summary_waiting, LiveBundle, Replay, FOLLOW_WAIT};
pub use state::*;
pub use summary::{printable, render_summary};
// The payload memo keys its caches by hashes it computes.
pub(crate) use u64_map::U64Map;
// The word `state.json` uses for an item kind, for the diff's summaries.
pub(crate) use payloads::kind_tag;

use reader::{Next, TraceReader};

/// Reduces the bundle in `dir` into its rollout graph.
///
/// Reads `trace.jsonl` once, streaming; payload bodies are parsed only when a semantic step
/// needs them (model requests and responses, compaction checkpoints).
///
/// # Examples
///
/// ```no_run
/// let state = tracing_rollout::reduce::reduce_bundle("traces/demo")?;
/// for (id, thread) in &state.threads {
///     println!("{id}: {} turns", thread.turns.len());
/// }
/// # Ok::<(), tracing_rollout::reduce::ReduceError>(())
/// ```
pub fn reduce_bundle(dir: impl AsRef<Path>) -> Result<RolloutState, ReduceError> {
    reduce_bundle_within(dir.as_ref(), None)
}

/// [`reduce_bundle`] reading only files that lie inside `within` (a canonical directory),
/// when given: what the server uses.
pub(crate) fn reduce_bundle_within(
    dir: &Path,
    within: Option<&Path>,
) -> Result<RolloutState, ReduceError> {
    let mut reader = TraceReader::open(&dir.join("trace.jsonl"), within)?;
    let mut replay = Replay::new(dir);
    replay.confine(within, reader.file_handle());
    loop {
        match reader.next_line()? {
            Next::End => break,
            Next::TornTail { number, len } => {
                replay.torn_tail(number, len);
                break;
            }
            Next::TooLong {
                number,
                offset,
                len,
            } => replay.too_long(number, offset, len),
            Next::Line(line) => {
                replay.apply_line(line.number, line.offset, line.text, line.unterminated)?
            }
        }
    }
    replay.finish()
}

/// Reduces the bundle in `dir` and writes `<dir>/state.json` atomically (temp file + rename;
/// see [`write_state_to`]).
/// Returns the path written.
///
/// # Examples
///
/// ```no_run
/// let path = tracing_rollout::reduce::write_state("traces/demo")?;
/// assert!(path.ends_with("state.json"));
/// # Ok::<(), tracing_rollout::reduce::ReduceError>(())
/// ```
pub fn write_state(dir: impl AsRef<Path>) -> Result<PathBuf, ReduceError> {
    let dir = dir.as_ref();
    let state = reduce_bundle(dir)?;
    let path = dir.join("state.json");
    write_state_to(&state, &path)?;
    Ok(path)
}

/// Writes `state` as compact JSON (one line) to `path`: indentation alone made the file of a
/// long rollout about a third larger (`tracing-rollout reduce -o -` prints it pretty).
///
/// A regular file (or a path that does not exist yet) is replaced atomically: the JSON goes
/// to a temp file beside it (owner-only, created exclusively under a random name, so no link
/// planted beside it can redirect the write), which is then renamed over it, so a reader
/// never sees half a graph. A symlink is followed and its target replaced that way (the link stays a link).
/// Anything else that exists — `/dev/null`, `/dev/stdout`, a FIFO — is written in place:
/// renaming over it would replace the device or pipe with a regular file (as root, for the
/// whole system).
pub fn write_state_to(state: &RolloutState, path: &Path) -> Result<(), ReduceError> {
    let io = |action, source| ReduceError::Io {
        action,
        path: path.to_path_buf(),
        source,
    };
    let write = |file: std::fs::File| -> std::io::Result<()> {
        let mut out = std::io::BufWriter::new(file);
        serde_json::to_writer(&mut out, state)?;
        out.write_all(b"\n")?;
        out.flush()
    };
    // What the path names, following symlinks (`None`: nothing yet, or a dangling link).
    let target = std::fs::metadata(path).ok();
    if target.as_ref().is_some_and(|m| !m.is_file()) {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|e| io("open", e))?;
        return write(file).map_err(|e| io("write", e));
    }
    let path = match target {
        Some(_) => std::fs::canonicalize(path).map_err(|e| io("resolve", e))?,
        None => path.to_path_buf(),
    };
    // A random name, created exclusively: a link planted at a predictable name cannot
    // redirect the write.
    let (file, tmp) = crate::format::create_temp_beside(&path).map_err(|e| io("create", e))?;
    if let Err(e) = write(file) {
        let _ = std::fs::remove_file(&tmp);
        return Err(io("write", e));
    }
    std::fs::rename(&tmp, &path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io("rename", e)
    })
}
