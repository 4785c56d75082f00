//! Bundle directories and files on disk: sanitised names, owner-only permissions, atomic
//! manifest writes.
//!
//! Invariant: a bundle directory is always a fresh directory directly below the root, created
//! by this process with `create_dir` (never reused: a taken name gets a `-2`, `-3`, …
//! suffix), whatever the rollout id says. Files are `0600` and directories `0700` on Unix.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use crate::format::Manifest;

/// Longest directory name derived from a rollout id, in bytes (suffixes come on top).
const MAX_NAME_BYTES: usize = 100;

/// How many suffixed names are tried before giving up on a taken directory name.
const MAX_ATTEMPTS: u32 = 10_000;

/// Name of the bundle's record log.
pub(crate) const TRACE_FILE: &str = "trace.jsonl";
/// Name of the bundle's manifest.
pub(crate) const MANIFEST_FILE: &str = "manifest.json";
const MANIFEST_TMP: &str = ".manifest.json.tmp";

/// Maps a rollout id to a directory name that stays inside the root: only `[A-Za-z0-9._-]`
/// (anything else becomes `_`), no leading dot (so never `.`, `..` or hidden), at most
/// [`MAX_NAME_BYTES`], never empty.
pub(crate) fn sanitize(rollout_id: &str) -> String {
    let mut name: String = rollout_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .take(MAX_NAME_BYTES)
        .collect();
    let dots = name.len() - name.trim_start_matches('.').len();
    if dots > 0 {
        name.replace_range(..dots, &"_".repeat(dots));
    }
    if name.is_empty() {
        name.push_str("rollout");
    }
    name
}

/// Creates a fresh directory for `rollout_id` below `root` and returns its path.
pub(crate) fn create_bundle_dir(root: &Path, rollout_id: &str) -> io::Result<PathBuf> {
    let base = sanitize(rollout_id);
    let mut builder = fs::DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    for attempt in 1..=MAX_ATTEMPTS {
        let path = if attempt == 1 {
            root.join(&base)
        } else {
            root.join(format!("{base}-{attempt}"))
        };
        match builder.create(&path) {
            Ok(()) => return Ok(path),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!("{MAX_ATTEMPTS} directories named after `{base}` exist already"),
    ))
}

/// Opens a new owner-only file for writing.
pub(crate) fn create_file(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options.open(path)
}

/// Reopens a bundle's log (created by [`create_file`]) to append to it.
pub(crate) fn reopen_for_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().append(true).open(path)
}

/// Writes `manifest.json` atomically: a temporary file is written and synced, then renamed
/// over the old manifest and the directory synced, so a reader sees the old or the new
/// manifest, never a torn one, and the new one survives a power loss once this returns.
pub(crate) fn write_manifest(dir: &Path, manifest: &Manifest) -> io::Result<()> {
    replace_manifest(dir, manifest, /*durable*/ true)
}

/// Writes `manifest.json` atomically (temporary file, then rename), synced first when
/// `durable` (an importer, which can import again, skips the syncs).
pub(crate) fn replace_manifest(dir: &Path, manifest: &Manifest, durable: bool) -> io::Result<()> {
    let tmp = dir.join(MANIFEST_TMP);
    let mut text = serde_json::to_vec_pretty(manifest).map_err(io::Error::other)?;
    text.push(b'\n');
    let mut file = create_file(&tmp)?;
    file.write_all(&text)?;
    if durable {
        file.sync_all()?;
    }
    drop(file);
    fs::rename(&tmp, dir.join(MANIFEST_FILE))?;
    if durable {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Makes a rename inside `dir` durable: without this a power loss can bring back the old
/// manifest (or none) even though the new one was synced.
#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn sanitize_keeps_safe_names_and_neutralises_paths() {
        let cases = [
            ("demo-1_a.b", "demo-1_a.b"),
            ("../../x", "___.._x"),
            ("/abs", "_abs"),
            ("..", "__"),
            (".", "_"),
            (".hidden", "_hidden"),
            ("", "rollout"),
            ("a\0b", "a_b"),
            ("héllo wörld", "h_llo_w_rld"),
        ];
        for (id, want) in cases {
            assert_eq!(sanitize(id), want, "rollout id {id:?}");
        }
        assert_eq!(sanitize(&"x".repeat(10_000)).len(), MAX_NAME_BYTES);
    }

    #[test]
    fn a_taken_directory_name_gets_a_numeric_suffix() {
        let root = tempfile::tempdir().unwrap();
        let a = create_bundle_dir(root.path(), "same").unwrap();
        let b = create_bundle_dir(root.path(), "same").unwrap();
        let c = create_bundle_dir(root.path(), "same").unwrap();
        let names: Vec<_> = [a, b, c]
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["same", "same-2", "same-3"]);
    }
}
