//! The binary on Codex rollout-trace bundles: `import codex`, and every command that takes a
//! bundle taking a Codex bundle as it is (imported on the fly into the import cache, which
//! each test points at a directory of its own with `TRACING_ROLLOUT_CACHE`).
#![cfg(feature = "cli")]

mod support;

use std::path::Path;
use std::process::Command;

use support::cli::{cli, succeeded};
use support::codex::synth;

/// The binary with its import cache in `cache`.
fn cli_in(cache: &Path) -> Command {
    let mut command = cli();
    command.env("TRACING_ROLLOUT_CACHE", cache);
    command
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn import_codex_writes_one_bundle_per_codex_bundle_and_prints_its_path() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let root = dir.path().join("codex-root");
    synth::web_search_rollout(&root.join("trace-a"), 2).write(None);
    synth::web_search_rollout(&root.join("nested/trace-b"), 1).write(None);
    let out_dir = dir.path().join("ours");
    let out = cli()
        .args(["import", "codex"])
        .arg(&root)
        .arg("-o")
        .arg(&out_dir)
        .output()?;
    succeeded(&out)?;
    let printed: Vec<String> = stdout(&out).lines().map(str::to_owned).collect();
    assert_eq!(printed.len(), 2, "{printed:?}");
    for path in &printed {
        assert!(Path::new(path).starts_with(&out_dir), "{path}");
        let state = tracing_rollout::reduce::reduce_bundle(path)?;
        assert_eq!(state.threads.len(), 1);
    }
    assert!(String::from_utf8_lossy(&out.stderr).is_empty());
    Ok(())
}

#[test]
fn import_codex_of_something_else_exits_2_with_the_reason() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let out = cli()
        .args(["import", "codex"])
        .arg(dir.path())
        .arg("-o")
        .arg(dir.path().join("out"))
        .output()?;
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is not a Codex rollout-trace bundle"), "{err}");
    assert!(err.contains("no Codex bundle"), "{err}");
    Ok(())
}

#[test]
fn every_command_that_takes_a_bundle_takes_a_codex_bundle() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (src, cache) = (dir.path().join("trace-x"), dir.path().join("cache"));
    synth::web_search_rollout(&src, 2).write(None);
    let before = support::files::all_bytes(&src)?;
    let run = |args: &[&str]| -> anyhow::Result<String> {
        let out = cli_in(&cache).args(args).arg(&src).output()?;
        succeeded(&out)?;
        Ok(stdout(&out))
    };
    let state_path = run(&["reduce"])?;
    assert!(
        state_path
            .trim()
            .starts_with(cache.to_string_lossy().as_ref()),
        "{state_path}"
    );
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(state_path.trim())?)?;
    assert_eq!(state["rollout_id"], synth::ROOT);
    assert!(run(&["validate"])?.starts_with("valid: 1 threads, 2 inference calls"));
    assert!(run(&["summary"])?.contains(synth::TURN));
    assert!(run(&["view"])?.trim().ends_with("view.html"));
    assert!(run(&["export", "chrome"])?.contains("slices"));
    assert!(run(&["export", "otlp"])?.contains("spans"));
    assert!(run(&["expand"])?.contains("\"type\":\"bundle_started\""));
    // Record 3 is Codex's manifest, kept as the rollout's metadata.
    let out = cli_in(&cache).arg("payload").arg(&src).arg("3").output()?;
    succeeded(&out)?;
    assert!(stdout(&out).contains("\"root_thread_id\":\"thread-root\""));
    // Codex's directory is read, never written.
    assert_eq!(support::files::all_bytes(&src)?, before);
    Ok(())
}

#[test]
fn summary_follow_of_a_finished_codex_bundle_prints_its_tree_and_returns() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (src, cache) = (dir.path().join("trace-x"), dir.path().join("cache"));
    synth::web_search_rollout(&src, 2).write(None);
    let out = cli_in(&cache)
        .args(["summary", "--follow"])
        .arg(&src)
        .output()?;
    succeeded(&out)?;
    assert!(stdout(&out).contains(synth::TURN));
    // The live import is gone with the command.
    let live = cache.join("codex-live");
    let left = std::fs::read_dir(&live).map(|d| d.count()).unwrap_or(0);
    assert_eq!(left, 0);
    Ok(())
}
