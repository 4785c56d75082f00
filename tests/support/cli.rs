//! The `tracing-rollout` binary this package builds (feature `cli`), run as a child process.

use std::process::{Command, Output};

/// A command running the binary.
pub fn cli() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tracing-rollout"))
}

/// An error with the child's stderr unless it exited 0.
pub fn succeeded(out: &Output) -> anyhow::Result<()> {
    anyhow::ensure!(
        out.status.code() == Some(0),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}
