//! The demo bundle checked in under `tests/fixtures/demo` (written by
//! `examples/multi_agent`): read in place, or copied where a test may damage it.

use std::path::Path;

/// The demo bundle's directory.
pub const DEMO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/demo");

/// The demo bundle's directory, as a path.
pub fn demo() -> &'static Path {
    Path::new(DEMO)
}

/// A copy of the demo bundle (`trace.jsonl` and `manifest.json`) the test may damage.
pub fn demo_copy() -> anyhow::Result<tempfile::TempDir> {
    let dir = tempfile::tempdir()?;
    for file in ["trace.jsonl", "manifest.json"] {
        std::fs::copy(format!("{DEMO}/{file}"), dir.path().join(file))?;
    }
    Ok(dir)
}

/// The demo's `trace.jsonl`.
pub fn demo_trace() -> std::io::Result<String> {
    std::fs::read_to_string(format!("{DEMO}/trace.jsonl"))
}

/// The demo's `trace.jsonl`, one string a line, each with its newline.
pub fn demo_lines() -> anyhow::Result<Vec<String>> {
    Ok(demo_trace()?.lines().map(|l| format!("{l}\n")).collect())
}
