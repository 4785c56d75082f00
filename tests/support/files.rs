//! What a test reads back from disk as raw bytes: every file below a root, and whether a
//! string stands anywhere in them.

use std::path::Path;

/// Every byte of every file below `root`.
pub fn all_bytes(root: &Path) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                out.extend(std::fs::read(&path)?);
            }
        }
    }
    Ok(out)
}

/// Whether `needle` stands anywhere in `haystack`.
pub fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}
