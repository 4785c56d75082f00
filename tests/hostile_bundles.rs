//! Bundles from a stranger (issue 26, items 1, 5 and 6), through the real binary: a format v2
//! decompression bomb, values nested deeper than the JSON parser goes, special files in place
//! of `trace.jsonl` and `manifest.json`, a line longer than a reader reads, and `summary
//! --follow` on a directory with no trace. Every command runs under an address-space limit,
//! so a reader that expands or buffers without bound fails the test by aborting; each must
//! end promptly with the bundle read (what passed a limit left out, by name) or a clear error.
#![cfg(feature = "cli")]

mod support;

use std::ffi::OsStr;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{ensure, Context, Result};
use serde_json::{json, Value};
use support::fixtures::{demo_lines, DEMO};
use support::layer::record;
use support::serve::Serve;
use support::spans::{in_rollout, in_thread};
use support::viewer::WAIT;
use tracing::{info, info_span};

/// What a run printed: standard output up to its first MiB (and how many lines it had in
/// all), standard error whole.
struct Ran {
    code: Option<i32>,
    stdout: String,
    lines: u64,
    stderr: String,
}

/// Runs the binary with `args` under an address-space limit of `limit_mib` MiB (`ulimit -v`),
/// reading its output as it comes (a bomb's expansion is not kept), killed if it has not
/// ended within [`WAIT`].
fn run_limited(limit_mib: u64, args: &[&OsStr]) -> Result<Ran> {
    run_in_shell(
        &format!("ulimit -v {} && exec \"$0\" \"$@\"", limit_mib * 1024),
        args,
    )
}

/// [`run_limited`] with standard output counted in lines by `wc -l` (a bomb's expansion is
/// a gigabyte: not for the test to read byte by byte); the exit code comes on stderr.
fn run_limited_counting(limit_mib: u64, args: &[&OsStr]) -> Result<Ran> {
    let script = format!(
        "ulimit -v {} && {{ \"$0\" \"$@\"; echo \"exit status $?\" >&2; }} | wc -l",
        limit_mib * 1024
    );
    let mut ran = run_in_shell(&script, args)?;
    ran.lines = ran.stdout.trim().parse()?;
    ran.code = ran
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("exit status "))
        .and_then(|c| c.parse().ok());
    Ok(ran)
}

/// Runs the binary with `args` through `sh -c script` (the script gets the binary as `$0`).
fn run_in_shell(script: &str, args: &[&OsStr]) -> Result<Ran> {
    use std::io::Read;
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_tracing-rollout"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut out = child.stdout.take().context("stdout")?;
    let mut err = child.stderr.take().context("stderr")?;
    let reading = std::thread::spawn(move || {
        let (mut head, mut lines, mut chunk) = (Vec::new(), 0u64, vec![0u8; 1 << 16]);
        while let Ok(n) = out.read(&mut chunk) {
            if n == 0 {
                break;
            }
            lines += chunk[..n].iter().filter(|&&b| b == b'\n').count() as u64;
            let room = (1usize << 20).saturating_sub(head.len());
            head.extend_from_slice(&chunk[..n.min(room)]);
        }
        (head, lines)
    });
    let reading_err = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = err.read_to_string(&mut text);
        text
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() > WAIT {
            let _ = child.kill();
            anyhow::bail!("{args:?} was still running after {WAIT:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let (head, lines) = reading
        .join()
        .map_err(|_| anyhow::anyhow!("reader panicked"))?;
    let stderr = reading_err
        .join()
        .map_err(|_| anyhow::anyhow!("reader panicked"))?;
    eprintln!(
        "{:?}: exit {:?} in {:?}",
        args.iter().map(|a| a.to_string_lossy()).collect::<Vec<_>>(),
        status.code(),
        started.elapsed()
    );
    Ok(Ran {
        code: status.code(),
        stdout: String::from_utf8_lossy(&head).into_owned(),
        lines,
        stderr,
    })
}

/// One record line: the envelope for `seq`, then `rest` (keys after `ns`).
fn line(seq: u64, rest: &str) -> String {
    format!("{{\"seq\":{seq},\"t\":{seq},\"ns\":{seq},{rest}}}\n")
}

/// The last seq of the doubling chain: payload `k` (4..=BOMB_TOP) is payload `k - 1` twice.
const BOMB_TOP: u64 = 33;
/// The payload the 100 "wide" records each repeat twice (16.9 MB, so each is 33.8 MB).
const WIDE_OF: u64 = 20;

/// A format v2 bundle whose payload bodies reference earlier bodies twice over: payload 33
/// would be 138 GB from a 258-byte base (a 29-level doubling chain), then 100 records of
/// 33.8 MB each (3.4 GB), then an ordinary tool call with its arguments. The file is 19 KB.
fn write_bomb(dir: &Path) -> Result<u64> {
    let mut trace = String::new();
    trace += &line(
        1,
        r#""type":"bundle_started","format":"tracing-rollout","format_version":2,"rollout_id":"bomb","writer":"test""#,
    );
    trace += &line(
        2,
        r#""type":"span_started","span":1,"kind":"rollout","name":"rollout","fields":{"rollout_id":"bomb"}"#,
    );
    trace += &line(
        3,
        r#""type":"span_started","span":2,"parent":1,"thread":2,"kind":"thread","name":"rollout.thread","fields":{"thread_id":"main"}"#,
    );
    let base = format!("\"{}\"", "x".repeat(256));
    trace += &line(
        4,
        &format!(
            r#""type":"payload","span":2,"role":"metadata","bytes":{},"body":{base}"#,
            base.len()
        ),
    );
    let mut len = base.len() as u64;
    let mut lens = vec![0, 0, 0, 0, len];
    for seq in 5..=BOMB_TOP {
        let prev = seq - 1;
        trace += &line(
            seq,
            &format!(
                r#""type":"payload","span":2,"role":"metadata","bytes":{0},"len":{0},"parts":[[{prev},0,{len}],[{prev},0,{len}]]"#,
                2 * len
            ),
        );
        len *= 2;
        lens.push(len);
    }
    let wide = lens[WIDE_OF as usize];
    let mut seq = BOMB_TOP;
    for _ in 0..100 {
        seq += 1;
        trace += &line(
            seq,
            &format!(
                r#""type":"payload","span":2,"role":"metadata","bytes":{0},"len":{0},"parts":[[{WIDE_OF},0,{wide}],[{WIDE_OF},0,{wide}]]"#,
                2 * wide
            ),
        );
    }
    trace += &line(
        seq + 1,
        r#""type":"span_started","span":3,"parent":2,"thread":2,"kind":"tool","name":"rollout.tool","fields":{"tool":"read_file","call_id":"c1"}"#,
    );
    trace += &line(
        seq + 2,
        r#""type":"payload","span":3,"role":"args","bytes":19,"body":{"path":"README"}"#,
    );
    trace += &line(seq + 3, r#""type":"span_ended","span":3"#);
    trace += &line(seq + 4, r#""type":"span_ended","span":2"#);
    trace += &line(seq + 5, r#""type":"span_ended","span":1"#);
    trace += &line(
        seq + 6,
        &format!(
            r#""type":"bundle_ended","status":"completed","records":{},"dropped_records":0"#,
            seq + 6
        ),
    );
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("trace.jsonl"), &trace)?;
    eprintln!("bomb: {} bytes of trace.jsonl", trace.len());
    Ok(seq + 2)
}

#[test]
fn a_decompression_bomb_is_left_out_record_by_record_and_the_rest_is_read() -> Result<()> {
    let root = tempfile::tempdir()?;
    let dir = root.path().join("bomb");
    let args_seq = write_bomb(&dir)?;
    let d = dir.as_os_str();
    let limit = 2048;

    let out = run_limited(limit, &[OsStr::new("validate"), d])?;
    let text = out.stdout;
    ensure!(out.code == Some(0), "validate: {text}{}", out.stderr);
    assert!(text.contains("1 tool calls"), "{text}");
    // Bodies past 128 MiB are left out by their length, the wide ones once the bundle's
    // expansion allowance is spent; each warning names its record.
    assert!(
        text.contains(&format!("payload {BOMB_TOP} left out: its body would be")),
        "{text}"
    );
    assert!(
        text.contains("left out: the bundle's bodies have cost"),
        "{text}"
    );

    let out = run_limited(limit, &[OsStr::new("summary"), d])?;
    ensure!(out.code == Some(0), "summary: {}", out.stderr);
    assert!(out.stdout.contains("1 tool calls"), "{}", out.stdout);

    let out = run_limited_counting(limit, &[OsStr::new("expand"), d])?;
    ensure!(out.code == Some(0), "expand: {}", out.stderr);
    assert_eq!(out.lines, args_seq + 4);
    assert!(out.stderr.contains(&format!("payload {BOMB_TOP} left out")));

    let out = run_limited(
        limit,
        &[OsStr::new("payload"), d, OsStr::new(&BOMB_TOP.to_string())],
    )?;
    assert_eq!(out.code, Some(2));
    assert!(
        out.stderr
            .contains(&format!("read payload {BOMB_TOP} at line {BOMB_TOP}")),
        "{}",
        out.stderr
    );
    let out = run_limited(
        limit,
        &[OsStr::new("payload"), d, OsStr::new(&args_seq.to_string())],
    )?;
    ensure!(out.code == Some(0), "payload: {}", out.stderr);
    assert_eq!(out.stdout.trim(), r#"{"path":"README"}"#);

    let page = root.path().join("bomb.html");
    let out = run_limited(
        limit,
        &[OsStr::new("view"), d, OsStr::new("-o"), page.as_os_str()],
    )?;
    ensure!(out.code == Some(0), "view: {}", out.stderr);
    let chrome = root.path().join("bomb.chrome.json");
    let out = run_limited(
        limit,
        &[
            OsStr::new("export"),
            OsStr::new("chrome"),
            d,
            OsStr::new("-o"),
            chrome.as_os_str(),
        ],
    )?;
    ensure!(out.code == Some(0), "export chrome: {}", out.stderr);

    // The server indexes it and keeps answering.
    let mut serve = Serve::start(root.path())?;
    let (status, body) = serve.get("/api/bundles", &serve.host())?;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"path\":\"bomb\""), "{body}");
    let (status, _) = serve.get(&format!("/api/payload/bomb/{BOMB_TOP}"), &serve.host())?;
    assert_eq!(status, 500);
    let (_, peak) = serve.memory_kib()?;
    eprintln!("serve: peak RSS {peak} KiB after indexing the bomb");
    assert!(serve.alive());
    Ok(())
}

/// `leaf` inside `depth` arrays.
fn nested(depth: usize, leaf: Value) -> Value {
    (0..depth).fold(leaf, |v, _| json!([v]))
}

#[test]
fn a_value_nested_deeper_than_the_parser_goes_is_read_by_every_reader() -> Result<()> {
    let field = nested(130, json!("field-leaf"));
    let body = nested(300, json!({"leaf": "payload-leaf"}));
    let bundle = record(|| {
        in_rollout("deep", || {
            in_thread("main", || {
                let tool = info_span!(
                    "rollout.tool",
                    call_id = "c1",
                    config = tracing_rollout::json(&field)
                );
                tool.in_scope(|| {
                    info!(name: "rollout.payload", role = "args", payload = tracing_rollout::json(&body));
                });
            })
        })
    })?;
    let state = bundle.reduce()?;
    let seq = *state.payloads.keys().next().context("one payload")?;
    let expected = serde_json::to_string(&body)?;
    // The library's reader gives the body exactly as written.
    assert_eq!(
        tracing_rollout::format::payload_body(&bundle.path, seq)?,
        expected
    );
    let d = bundle.path.as_os_str();
    let out = run_limited(
        2048,
        &[OsStr::new("payload"), d, OsStr::new(&seq.to_string())],
    )?;
    ensure!(out.code == Some(0), "payload: {}", out.stderr);
    assert_eq!(out.stdout.trim(), expected);
    let out = run_limited(2048, &[OsStr::new("expand"), d])?;
    ensure!(out.code == Some(0), "expand: {}", out.stderr);
    assert_eq!(
        out.stdout,
        bundle.trace()?,
        "v1 bundle: expand prints it as written"
    );
    let page = bundle.root.path().join("deep.html");
    let out = run_limited(
        2048,
        &[OsStr::new("view"), d, OsStr::new("-o"), page.as_os_str()],
    )?;
    ensure!(out.code == Some(0), "view: {}", out.stderr);
    assert!(std::fs::read_to_string(&page)?.contains("payload-leaf"));
    for (what, file) in [("chrome", "deep.chrome.json"), ("otlp", "deep.otlp.jsonl")] {
        let file = bundle.root.path().join(file);
        let out = run_limited(
            2048,
            &[
                OsStr::new("export"),
                OsStr::new(what),
                d,
                OsStr::new("-o"),
                file.as_os_str(),
            ],
        )?;
        ensure!(out.code == Some(0), "export {what}: {}", out.stderr);
    }
    let serve = Serve::start(bundle.root.path())?;
    let name = bundle
        .path
        .file_name()
        .context("name")?
        .to_string_lossy()
        .into_owned();
    let (status, served) = serve.get(&format!("/api/payload/{name}/{seq}"), &serve.host())?;
    assert_eq!(status, 200, "{served}");
    assert_eq!(served, expected);
    Ok(())
}

/// Makes a special file at a path.
type MakeFile = fn(&Path) -> Result<()>;

/// Puts a FIFO at `path`.
fn mkfifo(path: &Path) -> Result<()> {
    let made = Command::new("mkfifo").arg(path).status()?;
    ensure!(made.success(), "mkfifo {}", path.display());
    Ok(())
}

#[test]
fn special_files_in_a_bundle_are_refused_saying_what_they_are() -> Result<()> {
    let root = tempfile::tempdir()?;
    let cases: [(&str, MakeFile, &str); 3] = [
        (
            "zero",
            |p| Ok(std::os::unix::fs::symlink("/dev/zero", p)?),
            "a character device",
        ),
        ("fifo", mkfifo, "a FIFO"),
        ("dir", |p| Ok(std::fs::create_dir(p)?), "a directory"),
    ];
    for (name, make, kind) in cases {
        let dir = root.path().join(name);
        std::fs::create_dir_all(&dir)?;
        make(&dir.join("trace.jsonl"))?;
        for command in [
            &["validate"][..],
            &["summary"],
            &["expand"],
            &["view"],
            &["payload", "6"],
            &["summary", "--follow"],
        ] {
            let mut args = vec![OsStr::new(command[0]), dir.as_os_str()];
            args.extend(command[1..].iter().map(OsStr::new));
            let out = run_limited(1024, &args)?;
            assert_eq!(out.code, Some(2), "{name} {command:?}: {}", out.stderr);
            assert!(
                out.stderr.contains(&format!("not a regular file ({kind})")),
                "{name} {command:?}: {}",
                out.stderr
            );
        }
    }
    // A manifest that is a device, or too long: ignored with a warning naming it.
    let dir = root.path().join("manifests");
    std::fs::create_dir_all(&dir)?;
    std::fs::copy(format!("{DEMO}/trace.jsonl"), dir.join("trace.jsonl"))?;
    std::os::unix::fs::symlink("/dev/zero", dir.join("manifest.json"))?;
    let out = run_limited(1024, &[OsStr::new("validate"), dir.as_os_str()])?;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stdout
            .contains("manifest.json: not a regular file (a character device)"),
        "{}",
        out.stdout
    );
    std::fs::remove_file(dir.join("manifest.json"))?;
    std::fs::write(dir.join("manifest.json"), vec![b' '; 2 << 20])?;
    let out = run_limited(1024, &[OsStr::new("validate"), dir.as_os_str()])?;
    assert_eq!(out.code, Some(0));
    assert!(
        out.stdout
            .contains("longer than the 1048576 bytes read at most"),
        "{}",
        out.stdout
    );
    Ok(())
}

#[test]
fn a_line_longer_than_a_reader_reads_is_skipped_and_costs_no_more_than_the_limit() -> Result<()> {
    let root = tempfile::tempdir()?;
    let dir = root.path().join("long");
    std::fs::create_dir_all(&dir)?;
    let lines = demo_lines()?;
    let mut trace = std::fs::File::create(dir.join("trace.jsonl"))?;
    for l in &lines[..50] {
        trace.write_all(l.as_bytes())?;
    }
    // 400 MiB of NUL bytes without a newline (a hole: no disk is written), then the rest.
    let at = trace.stream_position()?;
    trace.set_len(at + (400 << 20))?;
    trace.seek(SeekFrom::End(0))?;
    trace.write_all(b"\n")?;
    for l in &lines[50..] {
        trace.write_all(l.as_bytes())?;
    }
    drop(trace);
    let d = dir.as_os_str();
    let out = run_limited(768, &[OsStr::new("validate"), d])?;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert!(
        out.stdout.contains("line 51 is 419430401 bytes"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("complete: false"), "{}", out.stdout);
    let out = run_limited(768, &[OsStr::new("expand"), d])?;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    assert_eq!(out.lines, lines.len() as u64);
    assert!(out.stderr.contains("line 51 is 419430401 bytes"));
    let out = run_limited(
        768,
        &[
            OsStr::new("view"),
            d,
            OsStr::new("-o"),
            root.path().join("long.html").as_os_str(),
        ],
    )?;
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    // Fed in pieces (as `serve` and `summary --follow` read a growing file), the same graph.
    let whole = tracing_rollout::reduce::reduce_bundle(&dir)?;
    let mut live = tracing_rollout::reduce::LiveBundle::open(&dir)?;
    live.poll()?;
    assert_eq!(
        serde_json::to_value(live.finish()?)?,
        serde_json::to_value(&whole)?
    );
    Ok(())
}

#[test]
fn summary_follow_on_a_directory_without_a_trace_ends_with_an_error() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let out = run_limited(
        1024,
        &[
            OsStr::new("summary"),
            OsStr::new("--follow"),
            OsStr::new("--wait"),
            OsStr::new("0.5"),
            dir.path().as_os_str(),
        ],
    )?;
    assert_eq!(out.code, Some(2));
    assert!(out.stderr.contains("waiting up to 0.5 s"), "{}", out.stderr);
    assert!(
        out.stderr.contains("no trace.jsonl appeared in 0.5 s"),
        "{}",
        out.stderr
    );
    let missing = dir.path().join("missing");
    let out = run_limited(
        1024,
        &[
            OsStr::new("summary"),
            OsStr::new("--follow"),
            missing.as_os_str(),
        ],
    )?;
    assert_eq!(out.code, Some(2));
    assert!(out.stderr.contains("missing"), "{}", out.stderr);
    Ok(())
}

/// About a minute in a debug build (96 MiB escaped, chunked and read back twice): run with
/// `--ignored` (the cap's arithmetic is a unit test of the layer's builder).
#[test]
#[ignore]
fn the_longest_line_the_layer_can_write_is_read_whole() -> Result<()> {
    // Asked for more, the layer caps bodies at 16 MiB; text that is all control characters
    // is escaped six bytes for one: the longest body it can write, twice (the second stored
    // as a reference to the first, format v2).
    let text = "\u{1}".repeat(17 << 20);
    let builder = tracing_rollout::RolloutLayer::builder().max_payload_bytes(usize::MAX);
    let bundle = support::layer::record_with(builder, || {
        in_rollout("long", || {
            in_thread("main", || {
                let tool = info_span!("rollout.tool", call_id = "c1");
                tool.in_scope(|| {
                    info!(name: "rollout.payload", role = "args", payload = text.as_str());
                    info!(name: "rollout.payload", role = "result", payload = text.as_str());
                });
            })
        })
    })?;
    let state = bundle.reduce()?;
    let left_out: Vec<_> = state
        .diagnostics
        .iter()
        .filter(|d| d.message.contains("left out") || d.message.contains("skipped"))
        .collect();
    assert!(left_out.is_empty(), "{left_out:?}");
    let seqs: Vec<u64> = state.payloads.keys().copied().collect();
    assert_eq!(seqs.len(), 2);
    let first = tracing_rollout::format::payload_body(&bundle.path, seqs[0])?;
    let second = tracing_rollout::format::payload_body(&bundle.path, seqs[1])?;
    assert!(first.len() > 96 << 20, "{} bytes", first.len());
    assert_eq!(first, second);
    Ok(())
}
