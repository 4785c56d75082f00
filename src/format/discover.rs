//! Finding bundles under a root: every directory that holds a regular `trace.jsonl`.
//!
//! Invariant: the walk never follows a symlink (a link to `/` or a loop cannot widen or hang
//! it), stops at a depth and a count, lists directories in name order (so two walks of the same
//! tree agree), and names each bundle by its path relative to the root with `/` separators
//! (`.` alone for the root itself): directory entries, so never `.` or `..` components.

use std::path::{Path, PathBuf};

/// The limits of a walk.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Walk {
    /// Directories below the root searched, at most.
    pub(crate) max_depth: usize,
    /// Bundles listed, at most.
    pub(crate) max_bundles: usize,
}

/// True when `dir` holds a regular (not symlinked) `trace.jsonl`.
pub(crate) fn is_bundle(dir: &Path) -> bool {
    std::fs::symlink_metadata(dir.join("trace.jsonl")).is_ok_and(|m| m.file_type().is_file())
}

/// The bundles under `root` (the root itself included), as `(relative name, directory)`.
pub(crate) fn find_bundles(root: &Path, walk: Walk) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    visit(root, root, 0, walk, &mut out);
    out
}

fn visit(root: &Path, dir: &Path, depth: usize, walk: Walk, out: &mut Vec<(String, PathBuf)>) {
    if depth > walk.max_depth || out.len() >= walk.max_bundles {
        return;
    }
    if is_bundle(dir) {
        if let Ok(rel) = dir.strip_prefix(root) {
            let key: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            let key = key.join("/");
            if key.is_empty() {
                out.push((".".to_owned(), dir.to_path_buf()));
            } else {
                out.push((key, dir.to_path_buf()));
            }
        }
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    dirs.sort();
    for sub in dirs {
        visit(root, &sub, depth + 1, walk, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundles_are_found_in_name_order_without_following_symlinks() -> std::io::Result<()> {
        let root = tempfile::tempdir()?;
        for dir in ["b", "a/x", "a/y/z"] {
            std::fs::create_dir_all(root.path().join(dir))?;
            std::fs::write(root.path().join(dir).join("trace.jsonl"), "")?;
        }
        std::fs::create_dir_all(root.path().join("empty"))?;
        #[cfg(unix)]
        std::os::unix::fs::symlink(root.path().join("b"), root.path().join("link"))?;
        let walk = Walk {
            max_depth: 8,
            max_bundles: 100,
        };
        let names: Vec<String> = find_bundles(root.path(), walk)
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(names, ["a/x", "a/y/z", "b"]);
        let shallow = Walk {
            max_depth: 1,
            max_bundles: 100,
        };
        assert_eq!(find_bundles(root.path(), shallow).len(), 1);
        Ok(())
    }
}
