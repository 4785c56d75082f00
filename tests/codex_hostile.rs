//! A hostile Codex bundle (issue 26, items 1 and 6, for the importer): a payload file far
//! longer than a body of ours, and a line of `trace.jsonl` longer than a reader reads. The
//! import reads neither whole — what passed a limit is named by a diagnostic, everything else
//! is imported — and `import codex` stays within an address-space limit smaller than the line.
#![cfg(feature = "cli")]

mod support;

use std::io::{Seek, SeekFrom, Write};
use std::process::Command;

use anyhow::{ensure, Result};
use tracing_rollout::import::codex;
use tracing_rollout::reduce::reduce_bundle;

use support::codex::synth;

#[test]
fn a_payload_file_longer_than_a_body_of_ours_is_named_and_not_read() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let src = dir.path().join("codex");
    synth::web_search_rollout(&src, 2).write(None);
    // The inference request: 1 GiB (a hole after its first byte, so the disk holds nothing).
    let file = std::fs::File::create(src.join("payloads/2.json"))?;
    (&file).write_all(b"{")?;
    file.set_len(1 << 30)?;
    let mut imported = codex::import(&src, dir.path().join("ours"))?;
    ensure!(imported.len() == 1, "{} bundles", imported.len());
    let imported = imported.remove(0);
    let diags = &imported.ledger.diagnostics;
    ensure!(
        diags.iter().any(|d| d.contains("payloads/2.json")
            && d.contains("longer than the 16777216 bytes the importer reads")),
        "{diags:#?}"
    );
    let state = reduce_bundle(&imported.bundle)?;
    ensure!(state.inference_calls.len() == 2, "{state:#?}");
    ensure!(state.tool_calls.len() == 2, "the search and the command");
    Ok(())
}

#[test]
fn a_line_longer_than_a_reader_reads_is_skipped_without_being_held() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let src = dir.path().join("codex");
    synth::web_search_rollout(&src, 2).write(None);
    let trace = std::fs::read_to_string(src.join("trace.jsonl"))?;
    let lines: Vec<&str> = trace.lines().collect();
    // After line 3 (the turn's start): a 300 MiB line of NUL bytes (a hole), then the rest.
    let long = 300u64 << 20;
    let mut file = std::fs::File::create(src.join("trace.jsonl"))?;
    file.write_all(format!("{}\n", lines[..3].join("\n")).as_bytes())?;
    let at = file.stream_position()?;
    file.set_len(at + long)?;
    file.seek(SeekFrom::Start(at + long))?;
    file.write_all(format!("\n{}\n", lines[3..].join("\n")).as_bytes())?;
    drop(file);

    let ours = dir.path().join("ours");
    // 512 MiB of address space: less than the line would take to hold while it grows.
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v {} && exec \"$0\" \"$@\"", 512 * 1024))
        .arg(env!("CARGO_BIN_EXE_tracing-rollout"))
        .args(["import", "codex"])
        .arg(&src)
        .arg("-o")
        .arg(&ours)
        .env("TRACING_ROLLOUT_CACHE", dir.path().join("cache"))
        .output()?;
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    ensure!(out.status.success(), "{:?}\n{stderr}", out.status);
    let expected = format!(
        "line 4: {} bytes long, more than the {} a reader reads; skipped",
        long,
        128u64 << 20
    );
    ensure!(stderr.contains(&expected), "{stderr}");
    let bundle = stdout.lines().next().unwrap_or_default();
    let state = reduce_bundle(bundle)?;
    ensure!(state.inference_calls.len() == 2, "{state:#?}");
    ensure!(state.tool_calls.len() == 2, "the search and the command");
    ensure!(
        state
            .diagnostics
            .iter()
            .any(|d| d.message.contains(&expected)),
        "{:#?}",
        state.diagnostics
    );
    Ok(())
}
