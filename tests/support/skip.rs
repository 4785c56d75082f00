//! Tests that need what a machine may lack (Chromium, a tmpfs, `/proc`, Phoenix's venv, the
//! real-payload corpus) skip loudly outside CI and fail under it (env `CI` set), where
//! `.ci/run` installs what they need.

/// Says `SKIPPED: {what} because {why}` straight to the process's stderr (the harness
/// captures `println!`/`eprintln!` of passing tests, and a skip must show); an error instead
/// when `CI` is set.
pub fn skipped(what: &str, why: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    anyhow::ensure!(
        std::env::var_os("CI").is_none(),
        "{what} must run when CI is set, but {why}"
    );
    let _ = writeln!(std::io::stderr(), "SKIPPED: {what} because {why}");
    Ok(())
}
