//! The `tracing-rollout` binary: exit codes, outputs, and error messages.
#![cfg(feature = "cli")]

mod support;

use pretty_assertions::assert_eq;
use support::cli::{cli, succeeded};
use support::fixtures::{demo_copy, DEMO};

#[test]
fn summary_prints_the_golden_tree() -> anyhow::Result<()> {
    let out = cli().args(["summary", DEMO]).output()?;
    succeeded(&out)?;
    let expected = std::fs::read_to_string(format!("{DEMO}/summary.txt"))?;
    assert_eq!(String::from_utf8(out.stdout)?, expected);
    Ok(())
}

#[test]
fn reduce_writes_state_json_beside_the_trace_or_where_told() -> anyhow::Result<()> {
    let dir = demo_copy()?;
    let out = cli().arg("reduce").arg(dir.path()).output()?;
    succeeded(&out)?;
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("state.json"))?)?;
    assert_eq!(state["rollout_id"], "multi-agent-demo");
    let other = dir.path().join("elsewhere.json");
    let out = cli()
        .arg("reduce")
        .arg(dir.path())
        .arg("-o")
        .arg(&other)
        .output()?;
    succeeded(&out)?;
    assert!(other.exists());
    Ok(())
}

#[test]
fn validate_exits_0_for_a_valid_bundle_1_for_an_invalid_one_2_for_io_errors() -> anyhow::Result<()>
{
    assert_eq!(
        cli().args(["validate", DEMO]).output()?.status.code(),
        Some(0)
    );

    let dir = demo_copy()?;
    let trace = dir.path().join("trace.jsonl");
    let text = std::fs::read_to_string(&trace)?;
    let mut lines: Vec<&str> = text.lines().collect();
    lines.swap(5, 6);
    std::fs::write(&trace, lines.join("\n") + "\n")?;
    let out = cli().arg("validate").arg(dir.path()).output()?;
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout)?;
    assert!(
        stdout.contains("invalid") && stdout.contains("line 6"),
        "{stdout}"
    );

    let out = cli().args(["validate", "/nonexistent/bundle"]).output()?;
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr)?;
    assert!(
        stderr.contains("open /nonexistent/bundle/trace.jsonl"),
        "{stderr}"
    );
    Ok(())
}

#[test]
fn usage_errors_exit_2() -> anyhow::Result<()> {
    assert_eq!(cli().arg("frobnicate").output()?.status.code(), Some(2));
    assert_eq!(cli().output()?.status.code(), Some(2));
    Ok(())
}

#[cfg(unix)]
#[test]
fn a_closed_stdout_is_not_an_error() -> anyhow::Result<()> {
    use std::process::Stdio;
    let mut child = cli()
        .args(["reduce", DEMO, "-o", "-"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    drop(child.stdout.take());
    let out = child.wait_with_output()?;
    succeeded(&out)?;
    Ok(())
}
