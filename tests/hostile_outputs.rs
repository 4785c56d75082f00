//! What the readers write and print about a stranger's bundle (issue 26, item 7): terminal
//! escapes and other invisible characters from the bundle are escaped in every text output,
//! pages and exports are owner-only like the bundle, `reduce`'s temporary file cannot be
//! redirected by a planted link, and an empty log is called empty.
#![cfg(feature = "cli")]

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::{ensure, Result};
use support::cli::cli;
use support::fixtures::DEMO;

/// One record line: the envelope for `seq`, then `rest`.
fn line(seq: u64, rest: &str) -> String {
    format!("{{\"seq\":{seq},\"t\":{seq},\"ns\":{seq},{rest}}}\n")
}

/// What a hostile id carries: a terminal escape that clears the screen, a carriage return
/// that rewrites the line, a line break that forges a line, a right-to-left override.
const HOSTILE: &str = r#"x\u001b[2J\u001b]0;pwned\u0007\rFAKE\nthread ok\u202egnp.exe"#;

/// A bundle whose rollout, thread, turn, tool and call ids are [`HOSTILE`].
fn hostile_bundle(dir: &Path) -> Result<()> {
    let mut trace = String::new();
    trace += &line(
        1,
        &format!(
            r#""type":"bundle_started","format":"tracing-rollout","format_version":1,"rollout_id":"{HOSTILE}","writer":"test""#
        ),
    );
    trace += &line(
        2,
        &format!(
            r#""type":"span_started","span":1,"kind":"rollout","name":"rollout","fields":{{"rollout_id":"{HOSTILE}"}}"#
        ),
    );
    trace += &line(
        3,
        &format!(
            r#""type":"span_started","span":2,"parent":1,"thread":2,"kind":"thread","name":"rollout.thread","fields":{{"thread_id":"{HOSTILE}","agent_path":"/{HOSTILE}"}}"#
        ),
    );
    trace += &line(
        4,
        &format!(
            r#""type":"span_started","span":3,"parent":2,"thread":2,"turn":3,"kind":"turn","name":"rollout.turn","fields":{{"turn_id":"{HOSTILE}"}}"#
        ),
    );
    trace += &line(
        5,
        &format!(
            r#""type":"span_started","span":4,"parent":3,"thread":2,"turn":3,"kind":"tool","name":"rollout.tool","fields":{{"tool":"{HOSTILE}","call_id":"{HOSTILE}","kind":"{HOSTILE}"}}"#
        ),
    );
    trace += &line(
        6,
        &format!(
            r#""type":"span_recorded","span":4,"fields":{{"status":"failed","error":"{HOSTILE}"}}"#
        ),
    );
    trace += &line(7, r#""type":"span_ended","span":4"#);
    trace += &line(
        8,
        &format!(r#""type":"span_recorded","span":3,"fields":{{"status":"{HOSTILE}"}}"#),
    );
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("trace.jsonl"), trace)?;
    Ok(())
}

/// No byte of `text` is a control character but `\n`, and no invisible direction mark.
fn shows_nothing_hidden(what: &str, text: &str) -> Result<()> {
    for c in text.chars() {
        ensure!(
            c == '\n' || !(c.is_control() || ('\u{202a}'..='\u{202e}').contains(&c)),
            "{what} printed {c:?} raw:\n{text}"
        );
    }
    Ok(())
}

#[test]
fn escapes_and_invisible_characters_from_a_bundle_are_escaped_in_every_text_output() -> Result<()> {
    let root = tempfile::tempdir()?;
    let dir = root.path().join("hostile");
    hostile_bundle(&dir)?;
    for command in ["summary", "validate"] {
        let out = cli().arg(command).arg(&dir).output()?;
        ensure!(out.status.success(), "{command}: {out:?}");
        let text = String::from_utf8(out.stdout)?;
        shows_nothing_hidden(command, &text)?;
        assert!(
            text.contains(r"x\u{1b}[2J\u{1b}]0;pwned\u{7}\rFAKE\nthread ok\u{202e}gnp.exe"),
            "{command}: {text}"
        );
        shows_nothing_hidden(command, &String::from_utf8(out.stderr)?)?;
    }
    // Errors name paths and what the bundle said: escaped as well.
    let bad = root.path().join("bad\u{1b}[31mdir");
    let out = cli().arg("validate").arg(&bad).output()?;
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr)?;
    shows_nothing_hidden("an error", &stderr)?;
    assert!(stderr.contains(r"bad\u{1b}[31mdir"), "{stderr}");
    // The summary a library user prints, too.
    let state = tracing_rollout::reduce::reduce_bundle(&dir)?;
    shows_nothing_hidden(
        "render_summary",
        &tracing_rollout::reduce::render_summary(&state),
    )?;
    Ok(())
}

fn mode(path: &Path) -> Result<u32> {
    Ok(std::fs::metadata(path)?.permissions().mode() & 0o777)
}

#[test]
fn pages_exports_and_graphs_are_owner_only_like_the_bundle() -> Result<()> {
    let root = tempfile::tempdir()?;
    let bundle = root.path().join("demo");
    std::fs::create_dir_all(&bundle)?;
    std::fs::copy(format!("{DEMO}/trace.jsonl"), bundle.join("trace.jsonl"))?;
    // One output existed already, world-readable: it is made owner-only too.
    let stale = root.path().join("page.html");
    std::fs::write(&stale, "old")?;
    std::fs::set_permissions(&stale, std::fs::Permissions::from_mode(0o644))?;
    let outputs: [(&[&str], &str); 6] = [
        (&["view"], "page.html"),
        (&["view"], ""),
        (&["export", "chrome"], "trace.chrome.json"),
        (&["export", "otlp"], "otlp.jsonl"),
        (&["export", "otlp"], "otlp.pb"),
        (&["reduce"], "state.json"),
    ];
    for (command, file) in outputs {
        let mut run = cli();
        run.args(command).arg(&bundle);
        let path = if file.is_empty() {
            bundle.join("view.html")
        } else {
            run.arg("-o").arg(root.path().join(file));
            root.path().join(file)
        };
        let out = run.output()?;
        ensure!(out.status.success(), "{command:?}: {out:?}");
        assert_eq!(mode(&path)?, 0o600, "{command:?} wrote {}", path.display());
    }
    Ok(())
}

#[test]
fn a_link_planted_at_the_old_temporary_name_does_not_redirect_reduce() -> Result<()> {
    let root = tempfile::tempdir()?;
    let victim = root.path().join("victim.txt");
    std::fs::write(&victim, "keep me")?;
    let out = root.path().join("state.json");
    // The name the graph's temporary file used to have: predictable from the process id.
    let planted = root
        .path()
        .join(format!(".state.json.tmp-{}", std::process::id()));
    std::os::unix::fs::symlink(&victim, &planted)?;
    let state = tracing_rollout::reduce::reduce_bundle(DEMO)?;
    tracing_rollout::reduce::write_state_to(&state, &out)?;
    assert_eq!(std::fs::read_to_string(&victim)?, "keep me");
    let written: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out)?)?;
    assert_eq!(written["rollout_id"], "multi-agent-demo");
    assert_eq!(mode(&out)?, 0o600);
    // Only the link planted and the two files are left: no temporary file behind.
    assert_eq!(std::fs::read_dir(root.path())?.count(), 3);
    Ok(())
}

#[test]
fn an_empty_log_is_called_empty() -> Result<()> {
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("trace.jsonl"), "")?;
    let out = cli().arg("validate").arg(dir.path()).output()?;
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout)?;
    assert!(
        stdout.starts_with("empty: ") && stdout.contains("holds no record"),
        "{stdout}"
    );
    let state = tracing_rollout::reduce::reduce_bundle(dir.path())?;
    assert!(!state.complete);
    assert!(
        state
            .diagnostics
            .iter()
            .any(|d| d.message.starts_with("trace.jsonl holds no record")),
        "{:?}",
        state.diagnostics
    );
    Ok(())
}
