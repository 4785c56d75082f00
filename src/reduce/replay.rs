//! The incremental reducer: [`Replay`] is fed a bundle's `trace.jsonl` as it grows and keeps the
//! rollout graph of everything fed so far; [`LiveBundle`] tails the file into one.
//!
//! Invariant: a line is applied exactly once, when it is complete (its newline has been fed);
//! the bytes of an unfinished last line are kept until the rest arrives, or judged at
//! [`Replay::finish`] as the batch reducer judges a last line (parsed if it parses, else a torn
//! tail). Feeding a file in any chunking therefore gives the same graph as
//! [`reduce_bundle`](super::reduce_bundle), which is itself a `Replay` fed the whole file.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::format::{open_regular, read_limited, Manifest, Record, MAX_MANIFEST_BYTES};

use super::error::ReduceError;
use super::reducer::Reducer;
use super::state::RolloutState;
use super::summary::render_summary;

/// Rebuilds the rollout graph one line at a time, keeping its state between calls.
///
/// [`state`](Self::state) borrows the graph of everything applied so far: entities whose span
/// has not ended yet are `running`, and the end-of-log checks (spans never ended, deliveries
/// never matched, a missing `bundle_ended`) wait for [`finish`](Self::finish).
///
/// # Examples
///
/// ```no_run
/// use tracing_rollout::reduce::Replay;
///
/// let mut replay = Replay::new("traces/demo");
/// replay.feed(&std::fs::read("traces/demo/trace.jsonl").unwrap())?;
/// println!("{} turns so far", replay.state().turns.len());
/// let state = replay.finish()?;
/// # Ok::<(), tracing_rollout::reduce::ReduceError>(())
/// ```
#[derive(Debug)]
pub struct Replay {
    dir: PathBuf,
    reducer: Reducer,
    /// Lines seen (blank ones included): the 1-based number of the last one.
    lines: u64,
    /// Bytes of `trace.jsonl` consumed by complete lines.
    offset: u64,
    /// The bytes of an unfinished last line.
    pending: Vec<u8>,
    /// A torn line was met: nothing after it is applied.
    torn: bool,
    /// Bytes of a line longer than a reader reads, being skipped (none kept).
    skipping: Option<u64>,
    /// Files are read only inside this canonical directory (the server's root), when set.
    within: Option<PathBuf>,
}

impl Replay {
    /// A replay of the bundle in `dir` with nothing fed yet. Nothing is read: `dir` names the
    /// bundle in errors and is where [`finish`](Self::finish) reads `manifest.json`.
    pub fn new(dir: impl AsRef<Path>) -> Replay {
        let dir = dir.as_ref().to_path_buf();
        Replay {
            reducer: Reducer::new(dir.join("trace.jsonl")),
            dir,
            lines: 0,
            offset: 0,
            pending: Vec::new(),
            torn: false,
            skipping: None,
            within: None,
        }
    }

    /// Reads `manifest.json` only if it lies inside `within`, and re-reads earlier lines of
    /// `trace.jsonl` from `file` (the handle being fed from) rather than by path.
    pub(super) fn confine(&mut self, within: Option<&Path>, file: Option<File>) {
        self.within = within.map(Path::to_path_buf);
        self.reducer.read_from(file);
    }

    /// Feeds the next bytes of `trace.jsonl` (any chunking): every line they complete is
    /// applied; an unfinished last line waits for the rest.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<(), ReduceError> {
        let mut rest = bytes;
        while let Some(end) = rest.iter().position(|&b| b == b'\n') {
            let (line, tail) = rest.split_at(end + 1);
            rest = tail;
            if let Some(skipped) = self.skipping.take() {
                self.skip_line(skipped + line.len() as u64);
            } else if self.pending.len() + line.len() > LINE_CAP {
                let len = (self.pending.len() + line.len()) as u64;
                self.pending = Vec::new();
                self.skip_line(len);
            } else if self.pending.is_empty() {
                self.feed_line_bytes(line)?;
            } else {
                let mut whole = std::mem::take(&mut self.pending);
                whole.extend_from_slice(line);
                self.feed_line_bytes(&whole)?;
            }
        }
        if let Some(skipped) = self.skipping.as_mut() {
            *skipped += rest.len() as u64;
        } else if self.pending.len() + rest.len() > LINE_CAP {
            // Too long already: stop keeping it.
            self.skipping = Some((self.pending.len() + rest.len()) as u64);
            self.pending = Vec::new();
        } else {
            self.pending.extend_from_slice(rest);
        }
        Ok(())
    }

    /// A whole line of `len` bytes (with its newline) longer than a reader reads: skipped, as
    /// [`reduce_bundle`](super::reduce_bundle) skips it.
    fn skip_line(&mut self, len: u64) {
        let offset = self.offset;
        self.offset += len;
        self.lines += 1;
        self.too_long(self.lines, offset, len);
    }

    /// Line `number`, at `offset` and `len` bytes long, was too long to read.
    pub(super) fn too_long(&mut self, number: u64, offset: u64, len: u64) {
        if !self.torn {
            self.reducer.too_long(number, offset, len);
        }
    }

    /// Feeds one complete line (without its newline).
    pub fn feed_line(&mut self, line: &str) -> Result<(), ReduceError> {
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        self.feed(&bytes)
    }

    /// One whole line with its `\n`.
    fn feed_line_bytes(&mut self, line: &[u8]) -> Result<(), ReduceError> {
        let offset = self.offset;
        self.offset += line.len() as u64;
        self.lines += 1;
        let mut text = &line[..line.len() - 1];
        if text.last() == Some(&b'\r') {
            text = &text[..text.len() - 1];
        }
        match std::str::from_utf8(text) {
            Ok(text) => self.apply_line(self.lines, offset, text, false),
            Err(e) => Err(ReduceError::Parse {
                path: self.reducer.path.clone(),
                line: self.lines,
                message: format!("line is not UTF-8: {e}"),
            }),
        }
    }

    /// Applies one line as read (`unterminated`: the file's last line, without a newline).
    pub(super) fn apply_line(
        &mut self,
        number: u64,
        offset: u64,
        text: &str,
        unterminated: bool,
    ) -> Result<(), ReduceError> {
        if self.torn || text.trim().is_empty() {
            return Ok(());
        }
        match Record::parse(text) {
            Ok(record) => self.reducer.apply(&record, number, offset, text),
            Err(e) if crate::format::is_too_deep(&e) && !unterminated => {
                self.reducer.apply_too_deep(number, offset, text, &e)
            }
            Err(_) if unterminated => {
                self.torn_tail(number, text.len());
                Ok(())
            }
            Err(e) => Err(ReduceError::Parse {
                path: self.reducer.path.clone(),
                line: number,
                message: e.to_string(),
            }),
        }
    }

    /// The last line is cut mid-record: reported, and nothing after it is applied.
    pub(super) fn torn_tail(&mut self, number: u64, len: usize) {
        self.torn = true;
        self.reducer.torn_tail(number, len);
    }

    /// The graph of everything applied so far (cheap: a borrow).
    pub fn state(&self) -> &RolloutState {
        &self.reducer.state
    }

    /// `bundle_ended` has been applied: nothing more will come.
    pub fn is_ended(&self) -> bool {
        self.reducer.ended
    }

    /// Complete lines applied so far (blank ones included).
    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// Bytes of `trace.jsonl` consumed by complete lines: where the next feed starts.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Ends the replay: judges an unfinished last line, runs the end-of-log checks and
    /// returns the graph, as [`reduce_bundle`](super::reduce_bundle) would for the bytes fed.
    pub fn finish(mut self) -> Result<RolloutState, ReduceError> {
        if let Some(len) = self.skipping.take() {
            self.skip_line(len);
        }
        if !self.pending.is_empty() {
            let pending = std::mem::take(&mut self.pending);
            let number = self.lines + 1;
            match std::str::from_utf8(&pending) {
                Ok(text) => self.apply_line(number, self.offset, text, true)?,
                Err(_) => self.torn_tail(number, pending.len()),
            }
        }
        let manifest = read_manifest(&self.dir, self.within.as_deref());
        Ok(self.reducer.finish(manifest))
    }
}

/// The bundle's manifest: `Ok(None)` when there is none (the reducer does not depend on it),
/// `Err` with what is wrong when it exists but cannot be read or parsed.
fn read_manifest(dir: &Path, within: Option<&Path>) -> Result<Option<Manifest>, String> {
    let path = dir.join("manifest.json");
    let text = match read_limited(&path, MAX_MANIFEST_BYTES, within) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}; ignored", path.display())),
    };
    serde_json::from_slice(&text)
        .map(Some)
        .map_err(|e| format!("cannot parse {}: {e}; ignored", path.display()))
}

/// A line with its newline (`\r\n`) longer than this is skipped, as the line reader does.
const LINE_CAP: usize = crate::format::MAX_LINE_BYTES as usize + 2;

/// Bytes read from `trace.jsonl` at a time by [`LiveBundle::poll`].
const CHUNK: usize = 1 << 20;

/// A bundle being written, tailed into a [`Replay`]: each [`poll`](Self::poll) reads what was
/// appended to `trace.jsonl` since the last one and applies its complete lines.
///
/// # Examples
///
/// ```no_run
/// let mut live = tracing_rollout::reduce::LiveBundle::open("traces/demo")?;
/// while !live.replay().is_ended() {
///     if live.poll()? {
///         println!("{} turns", live.replay().state().turns.len());
///     }
///     std::thread::sleep(std::time::Duration::from_millis(200));
/// }
/// # Ok::<(), tracing_rollout::reduce::ReduceError>(())
/// ```
#[derive(Debug)]
pub struct LiveBundle {
    path: PathBuf,
    /// Files are read only inside this canonical directory, when set.
    within: Option<PathBuf>,
    file: Option<File>,
    /// Bytes of `trace.jsonl` read so far.
    read: u64,
    replay: Replay,
}

impl LiveBundle {
    /// Starts tailing the bundle in `dir` and applies what is already there. A bundle whose
    /// `trace.jsonl` does not exist yet is waited for (the first polls find nothing).
    pub fn open(dir: impl AsRef<Path>) -> Result<LiveBundle, ReduceError> {
        LiveBundle::open_within(dir.as_ref(), None)
    }

    /// [`LiveBundle::open`] reading only files that lie inside `within` (a canonical
    /// directory), when given: what the server uses.
    pub(crate) fn open_within(
        dir: &Path,
        within: Option<&Path>,
    ) -> Result<LiveBundle, ReduceError> {
        let mut live = LiveBundle {
            path: dir.join("trace.jsonl"),
            within: within.map(Path::to_path_buf),
            file: None,
            read: 0,
            replay: Replay::new(dir),
        };
        live.poll()?;
        Ok(live)
    }

    /// Reads what was appended since the last poll and applies its complete lines; true when
    /// at least one new line was applied.
    pub fn poll(&mut self) -> Result<bool, ReduceError> {
        let io = |action, source| ReduceError::Io {
            action,
            path: self.path.clone(),
            source,
        };
        if self.file.is_none() {
            match open_regular(&self.path, self.within.as_deref()) {
                Ok(file) => {
                    self.replay
                        .confine(self.within.as_deref(), file.try_clone().ok());
                    self.file = Some(file);
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
                Err(e) => return Err(io("open", e)),
            }
        }
        let Some(file) = self.file.as_mut() else {
            return Ok(false);
        };
        let len = file.metadata().map_err(|e| io("stat", e))?.len();
        if len <= self.read {
            return Ok(false);
        }
        file.seek(SeekFrom::Start(self.read))
            .map_err(|e| io("seek", e))?;
        let before = self.replay.lines();
        // In pieces: a big bundle opened late is not read into memory at once.
        let mut chunk = vec![0u8; CHUNK.min((len - self.read) as usize)];
        while self.read < len {
            let want = CHUNK.min((len - self.read) as usize);
            let n = file.read(&mut chunk[..want]).map_err(|e| io("read", e))?;
            if n == 0 {
                break;
            }
            self.read += n as u64;
            self.replay.feed(&chunk[..n])?;
        }
        Ok(self.replay.lines() > before)
    }

    /// The replay of everything read so far.
    pub fn replay(&self) -> &Replay {
        &self.replay
    }

    /// Ends tailing: the graph as [`Replay::finish`] gives it.
    pub fn finish(self) -> Result<RolloutState, ReduceError> {
        self.replay.finish()
    }
}

/// How long [`follow_summary`] waits for a bundle's `trace.jsonl` to appear.
pub const FOLLOW_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Prints the summary tree of the bundle in `dir` to `out`, then again each time new lines
/// land (checking every `every`), until `bundle_ended` is applied; returns the final graph.
/// Each print after the first is preceded by a `--- after line N ---` rule. A `trace.jsonl`
/// that does not exist yet is waited for up to [`FOLLOW_WAIT`], then it is an error (a
/// directory that does not exist is one at once); once it exists, runs until the bundle ends:
/// a caller that wants to stop earlier interrupts the process.
pub fn follow_summary(
    dir: impl AsRef<Path>,
    out: &mut dyn std::io::Write,
    every: std::time::Duration,
) -> Result<RolloutState, ReduceError> {
    follow_summary_waiting(dir, out, every, FOLLOW_WAIT)
}

/// [`follow_summary`], waiting up to `wait` (not [`FOLLOW_WAIT`]) for `trace.jsonl` to
/// appear.
pub fn follow_summary_waiting(
    dir: impl AsRef<Path>,
    out: &mut dyn std::io::Write,
    every: std::time::Duration,
    wait: std::time::Duration,
) -> Result<RolloutState, ReduceError> {
    let dir = dir.as_ref();
    wait_for_trace(dir, every, wait)?;
    let write = |out: &mut dyn std::io::Write, text: &str| {
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|source| ReduceError::Io {
                action: "write",
                path: PathBuf::from("<output>"),
                source,
            })
    };
    let mut live = LiveBundle::open(dir)?;
    let mut printed = false;
    loop {
        let grew = live.poll()?;
        if grew || !printed {
            let mut text = String::new();
            if printed {
                text.push_str(&format!("--- after line {} ---\n", live.replay().lines()));
            }
            text.push_str(&render_summary(live.replay().state()));
            write(out, &text)?;
            printed = true;
        }
        if live.replay().is_ended() {
            break;
        }
        std::thread::sleep(every);
    }
    let state = live.finish()?;
    write(out, "--- bundle ended ---\n")?;
    write(out, &render_summary(&state))?;
    Ok(state)
}

/// Returns once `<dir>/trace.jsonl` exists; an error if `dir` is not a directory, or if it
/// has not appeared within `wait` (checking every `every`).
fn wait_for_trace(
    dir: &Path,
    every: std::time::Duration,
    wait: std::time::Duration,
) -> Result<(), ReduceError> {
    let trace = dir.join("trace.jsonl");
    let started = std::time::Instant::now();
    loop {
        match std::fs::symlink_metadata(&trace) {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(ReduceError::Io {
                    action: "open",
                    path: trace,
                    source: e,
                })
            }
            Err(_) => {}
        }
        if let Err(source) = std::fs::metadata(dir).and_then(|m| {
            if m.is_dir() {
                Ok(())
            } else {
                Err(std::io::Error::other("not a directory"))
            }
        }) {
            return Err(ReduceError::Io {
                action: "follow",
                path: dir.to_path_buf(),
                source,
            });
        }
        let waited = started.elapsed();
        if waited >= wait {
            return Err(ReduceError::Io {
                action: "follow",
                path: trace,
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("no trace.jsonl appeared in {} s", wait.as_secs_f64()),
                ),
            });
        }
        std::thread::sleep(every.min(wait - waited));
    }
}
