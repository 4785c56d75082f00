//! Live agreement: a fresh multi-agent rollout recorded now by the real Codex CLI (against the
//! scripted Responses API on 127.0.0.1 of `shared/codex/`, through its `record_all.sh`), then
//! imported, reduced and compared with the `state.json` Codex's own reducer wrote for it.
//!
//! The Codex CLI is `$CODEX_BIN`, else `target/codex/node_modules/.bin/codex` (what `.ci/run`
//! installs with npm). Without it, or without the shared directory, the test prints a loud
//! SKIPPED line and passes — unless `CI` is set, then it fails.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::codex::{agree, shared_dir};

/// The entries recorded: multi-agent v2 (two children and a grandchild, messages, a
/// follow-up task, an interrupt) and v1 (spawn, wait, close).
const ENTRIES: [&str; 2] = ["agents_v2", "multi_agent"];

fn codex_bin() -> Result<PathBuf, String> {
    let bin = match std::env::var_os("CODEX_BIN") {
        Some(bin) => PathBuf::from(bin),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("target/codex/node_modules/.bin/codex"),
    };
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(format!(
            "no Codex CLI at {} (install it: npm install --prefix target/codex \
             @openai/codex@0.169.0, or set CODEX_BIN)",
            bin.display()
        ))
    }
}

fn recorder() -> Result<PathBuf, String> {
    let script = shared_dir().join("codex/record_all.sh");
    if script.is_file() {
        Ok(script)
    } else {
        Err(format!("{} is absent", script.display()))
    }
}

#[test]
fn a_fresh_multi_agent_recording_agrees_with_codexs_own_reduction() -> anyhow::Result<()> {
    let test = "the live Codex agreement test";
    let bin = match codex_bin() {
        Ok(found) => found,
        Err(why) => return support::skip::skipped(test, &why),
    };
    let script = match recorder() {
        Ok(found) => found,
        Err(why) => return support::skip::skipped(test, &why),
    };
    let out = tempfile::tempdir()?;
    let recorded = Command::new("bash")
        .arg(&script)
        .arg(out.path())
        .args(ENTRIES)
        .env("CODEX_BIN", &bin)
        .env("TMP_BASE", out.path().join("tmp"))
        .output()?;
    let log = |entry: &str| {
        std::fs::read_to_string(out.path().join(entry).join("codex.log")).unwrap_or_default()
    };
    // record_all.sh also checks each recording against what its scenario means to show
    // (timing-dependent, on a busy machine); the comparison needs only that Codex recorded
    // and reduced each entry, so a miss there is printed, not fatal.
    let report = format!(
        "record_all.sh ({}):\n{}\n{}\n{}",
        recorded.status,
        String::from_utf8_lossy(&recorded.stdout),
        String::from_utf8_lossy(&recorded.stderr),
        ENTRIES
            .iter()
            .map(|e| log(e))
            .collect::<Vec<_>>()
            .join("\n")
    );
    if !recorded.status.success() {
        println!("{report}");
    }
    let mut tables = String::new();
    let mut unexpected = 0;
    let mut bundles = 0;
    for entry in ENTRIES {
        let traces = out.path().join(entry).join("traces");
        for bundle in tracing_rollout::import::codex::find_bundles(&traces) {
            anyhow::ensure!(
                bundle.join("state.json").is_file(),
                "Codex did not reduce {}:\n{report}",
                bundle.display()
            );
            bundles += 1;
            let agreement = agree(&bundle, &out.path().join("ours").join(entry))?;
            unexpected += agreement.unexpected().len();
            tables.push_str(&format!("[{entry}] {}", agreement.table()));
        }
    }
    println!("{tables}");
    anyhow::ensure!(
        bundles == ENTRIES.len(),
        "{bundles} bundles recorded:\n{report}"
    );
    anyhow::ensure!(
        unexpected == 0,
        "{unexpected} unexpected differences:\n{tables}"
    );
    Ok(())
}
