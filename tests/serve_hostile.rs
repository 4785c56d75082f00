//! `tracing-rollout serve` against hostile clients (issue 26, items 2–4), through the real
//! binary on 127.0.0.1: requests that once stopped or stalled it (a huge `Content-Length`, a
//! body that never comes, a header line that never ends, a client that never reads, slow
//! headers, more connections than allowed) while well-behaved clients keep asking; names
//! answered from the index; a `trace.jsonl` swapped for a link out of the root after it was
//! indexed; the `Host` check and token off loopback; the security headers and policy.
#![cfg(feature = "cli")]

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use support::cli::cli;
use support::fixtures::DEMO;
use support::serve::{parse_reply, Serve};
use support::viewer::WAIT;

/// The body of the big payload (seq 3 of bundle `big`): larger than every socket buffer.
const BIG: usize = 32 << 20;
/// What the server answers while a write waits for a client that does not read (its
/// `write_stall`), plus a margin: how long the test lets a non-reader sit.
const PAST_THE_WRITE_STALL: Duration = Duration::from_secs(14);

/// A root with the demo bundle at `demo` and a bundle `big` whose payload 3 is [`BIG`] bytes.
fn root_with_demo_and_big() -> anyhow::Result<tempfile::TempDir> {
    let root = tempfile::tempdir()?;
    let demo = root.path().join("demo");
    std::fs::create_dir_all(&demo)?;
    for file in ["trace.jsonl", "manifest.json"] {
        std::fs::copy(format!("{DEMO}/{file}"), demo.join(file))?;
    }
    let big = root.path().join("big");
    std::fs::create_dir_all(&big)?;
    let mut trace = std::io::BufWriter::new(std::fs::File::create(big.join("trace.jsonl"))?);
    writeln!(
        trace,
        r#"{{"seq":1,"t":1,"ns":1,"type":"bundle_started","format":"tracing-rollout","format_version":1,"rollout_id":"big","writer":"test"}}"#
    )?;
    writeln!(
        trace,
        r#"{{"seq":2,"t":2,"ns":2,"type":"span_started","span":1,"kind":"rollout","name":"rollout","fields":{{"rollout_id":"big"}}}}"#
    )?;
    write!(
        trace,
        r#"{{"seq":3,"t":3,"ns":3,"type":"payload","span":1,"role":"metadata","bytes":{},"body":""#,
        BIG + 2
    )?;
    trace.write_all(&vec![b'x'; BIG])?;
    writeln!(trace, "\"}}")?;
    trace.flush()?;
    Ok(root)
}

/// Sends `raw` and keeps the connection open without reading.
fn open_and_hold(port: u16, raw: &[u8]) -> anyhow::Result<TcpStream> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.write_all(raw)?;
    Ok(stream)
}

/// Well-behaved clients: `threads` threads asking for the pages of `demo` in turn until
/// `stop`; counts answers and failures, and the slowest answer.
struct Load {
    answered: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    slowest_us: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<Vec<String>>>,
}

impl Load {
    fn start(port: u16, threads: usize) -> Load {
        let load = Load {
            answered: Arc::default(),
            failed: Arc::default(),
            slowest_us: Arc::default(),
            stop: Arc::default(),
            threads: Vec::new(),
        };
        let paths = [
            "/",
            "/api/bundles",
            "/b/demo/",
            "/api/state/demo",
            "/api/payload/demo/6",
            "/assets/viewer.js",
        ];
        let mut handles = Vec::new();
        for i in 0..threads {
            let (answered, failed, slowest, stop) = (
                Arc::clone(&load.answered),
                Arc::clone(&load.failed),
                Arc::clone(&load.slowest_us),
                Arc::clone(&load.stop),
            );
            handles.push(std::thread::spawn(move || {
                let mut errors = Vec::new();
                let mut n = i;
                while !stop.load(Ordering::Relaxed) {
                    let path = paths[n % paths.len()];
                    n += 1;
                    let started = Instant::now();
                    match get(port, path) {
                        Ok(200) => {
                            answered.fetch_add(1, Ordering::Relaxed);
                            let us = started.elapsed().as_micros() as u64;
                            slowest.fetch_max(us, Ordering::Relaxed);
                        }
                        other => {
                            failed.fetch_add(1, Ordering::Relaxed);
                            errors.push(format!("{path}: {other:?}"));
                        }
                    }
                }
                errors
            }));
        }
        Load {
            threads: handles,
            ..load
        }
    }

    /// Waits until at least `more` further answers came (bounded by [`WAIT`]).
    fn wait_for(&self, more: u64) -> anyhow::Result<()> {
        let target = self.answered.load(Ordering::Relaxed) + more;
        let deadline = Instant::now() + WAIT;
        while self.answered.load(Ordering::Relaxed) < target {
            anyhow::ensure!(
                Instant::now() < deadline,
                "well-behaved clients were not answered ({} answered, {} failed)",
                self.answered.load(Ordering::Relaxed),
                self.failed.load(Ordering::Relaxed)
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }

    fn stop(self) -> anyhow::Result<(u64, Vec<String>, Duration)> {
        self.stop.store(true, Ordering::Relaxed);
        let mut errors = Vec::new();
        for t in self.threads {
            errors.extend(t.join().map_err(|_| anyhow::anyhow!("a client panicked"))?);
        }
        let slowest = Duration::from_micros(self.slowest_us.load(Ordering::Relaxed));
        Ok((self.answered.load(Ordering::Relaxed), errors, slowest))
    }
}

/// One GET with `Connection: close`; the status.
fn get(port: u16, path: &str) -> anyhow::Result<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(WAIT))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )?;
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply)?;
    Ok(parse_reply(&reply)?.status)
}

#[test]
fn no_single_request_stops_or_stalls_the_server_while_others_are_answered() -> anyhow::Result<()> {
    let root = root_with_demo_and_big()?;
    let mut serve = Serve::start(root.path())?;
    let port = serve.port;
    let (rss_start, _) = serve.memory_kib()?;
    let load = Load::start(port, 6);
    load.wait_for(50)?;

    // A header line that never ends: refused once past the head limit, its bytes not kept.
    let sent = {
        let mut stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_write_timeout(Some(WAIT))?;
        stream.write_all(b"GET / HTTP/1.1\r\nX-Long: ")?;
        let chunk = vec![b'a'; 64 << 10];
        let mut sent = 0u64;
        // Up to 1 GiB, until the server closes the connection.
        while sent < 1 << 30 {
            match stream.write(&chunk) {
                Ok(n) => sent += n as u64,
                Err(_) => break,
            }
        }
        sent
    };
    let (_, peak_after_flood) = serve.memory_kib()?;
    eprintln!(
        "header flood: {} KiB accepted by the socket before the server closed it; server peak RSS {} KiB (started at {} KiB)",
        sent >> 10,
        peak_after_flood,
        rss_start
    );
    assert!(
        sent < 1 << 30,
        "the server read a 1 GiB header line to its end"
    );
    load.wait_for(20)?;

    // A Content-Length of 100 GB: refused at once (it used to abort the process).
    let reply = serve
        .request("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000000000\r\n\r\n")?;
    assert_eq!(reply.status, 413, "{reply:?}");
    assert!(serve.alive());

    // A body of 1 GB announced and never sent, slow headers, and a client that asks for
    // 32 MiB and reads none of it: held open while the others keep being answered.
    let _no_body = open_and_hold(
        port,
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000000000\r\n\r\n",
    )?;
    let _slow_headers: Vec<TcpStream> = (0..40)
        .map(|_| open_and_hold(port, b"GET / HTTP/1.1\r\nHost: 127.0"))
        .collect::<Result<_, _>>()?;
    let mut non_reader = open_and_hold(
        port,
        b"GET /api/payload/big/3 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    )?;
    let held_since = Instant::now();
    load.wait_for(200)?;
    eprintln!(
        "200 answers to the others while the attackers were held: {:?}",
        held_since.elapsed()
    );

    // The non-reader's connection is dropped once its write stalled: it gets only what the
    // socket buffers held, never the whole body.
    std::thread::sleep(PAST_THE_WRITE_STALL.saturating_sub(held_since.elapsed()));
    non_reader.set_read_timeout(Some(WAIT))?;
    let mut got = Vec::new();
    let _ = non_reader.read_to_end(&mut got);
    eprintln!(
        "non-reader: got {} KiB of the {} KiB answer before the server let it go",
        got.len() >> 10,
        (BIG + 2) >> 10
    );
    assert!(got.len() < BIG, "a stalled write was never given up");

    load.wait_for(20)?;
    let (answered, errors, slowest) = load.stop()?;
    let (rss_end, peak) = serve.memory_kib()?;
    eprintln!(
        "load: {answered} answers to 6 clients, {} failures, slowest {slowest:?}; server RSS {rss_start} KiB at start, {rss_end} KiB at the end, peak {peak} KiB",
        errors.len()
    );
    assert!(errors.is_empty(), "well-behaved clients failed: {errors:?}");
    assert!(serve.alive(), "the server died");
    Ok(())
}

#[test]
fn connections_past_the_limit_are_answered_503_and_the_server_recovers() -> anyhow::Result<()> {
    let root = root_with_demo_and_big()?;
    let serve = Serve::start(root.path())?;
    let port = serve.port;
    // Idle connections fill every slot (the limit is 256); the next ones are told so.
    let mut held = Vec::new();
    for _ in 0..256 {
        held.push(open_and_hold(port, b"")?);
    }
    let deadline = Instant::now() + WAIT;
    let refused = loop {
        let mut stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(WAIT))?;
        let mut reply = Vec::new();
        let _ = stream.read_to_end(&mut reply);
        if let Ok(reply) = parse_reply(&reply) {
            break reply;
        }
        anyhow::ensure!(Instant::now() < deadline, "no 503 past the limit");
    };
    assert_eq!(refused.status, 503);
    drop(held);
    let deadline = Instant::now() + WAIT;
    while get(port, "/api/bundles").ok() != Some(200) {
        anyhow::ensure!(Instant::now() < deadline, "the server did not recover");
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

#[test]
fn unknown_names_are_answered_from_the_index_and_new_bundles_join_it() -> anyhow::Result<()> {
    let root = tempfile::tempdir()?;
    for i in 0..2_000 {
        std::fs::create_dir_all(root.path().join(format!("d{}/e{i}", i % 50)))?;
    }
    let serve = Serve::start(root.path())?;
    let host = serve.host();
    let started = Instant::now();
    for i in 0..200 {
        let (status, _) = serve.get(&format!("/b/nope-{i}/"), &host)?;
        assert_eq!(status, 404);
    }
    eprintln!(
        "200 unknown names under 2 050 directories: {:?}",
        started.elapsed()
    );
    // A bundle that appears is not looked for on disk per request: it joins at the next
    // refresh of the index.
    let late = root.path().join("d7/late");
    std::fs::create_dir_all(&late)?;
    std::fs::copy(format!("{DEMO}/trace.jsonl"), late.join("trace.jsonl"))?;
    let deadline = Instant::now() + WAIT;
    loop {
        let (status, _) = serve.get("/b/d7/late/", &host)?;
        if status == 200 {
            break;
        }
        assert_eq!(status, 404);
        anyhow::ensure!(Instant::now() < deadline, "the new bundle never joined");
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// The secret planted outside the root, in a valid trace whose payload 6 holds it.
fn outside_trace(dir: &Path, secret: &str) -> anyhow::Result<()> {
    let demo = std::fs::read_to_string(format!("{DEMO}/trace.jsonl"))?;
    let planted = demo.replacen("You are the lead engineer", secret, 1);
    anyhow::ensure!(planted != demo, "the demo changed");
    std::fs::write(dir.join("trace.jsonl"), planted)?;
    Ok(())
}

#[test]
fn a_trace_swapped_for_a_link_out_of_the_root_after_indexing_is_not_read() -> anyhow::Result<()> {
    let root = tempfile::tempdir()?;
    let outside = tempfile::tempdir()?;
    let secret = "SECRET-OUTSIDE-THE-ROOT";
    outside_trace(outside.path(), secret)?;
    let bundle = root.path().join("run");
    std::fs::create_dir_all(&bundle)?;
    std::fs::copy(format!("{DEMO}/trace.jsonl"), bundle.join("trace.jsonl"))?;
    let mut serve = Serve::start(root.path())?;
    let host = serve.host();
    let (status, body) = serve.get("/api/payload/run/6", &host)?;
    assert_eq!(status, 200);
    assert!(body.contains("You are the lead engineer"), "{body}");
    // Swapped for a link after the index and a first read.
    std::fs::remove_file(bundle.join("trace.jsonl"))?;
    std::os::unix::fs::symlink(
        outside.path().join("trace.jsonl"),
        bundle.join("trace.jsonl"),
    )?;
    for path in ["/api/payload/run/6", "/b/run/", "/api/state/run"] {
        let (status, body) = serve.get(path, &host)?;
        assert!(
            !body.contains(secret),
            "{path} answered {status} with the outside file"
        );
    }
    let (status, body) = serve.get("/api/payload/run/6", &host)?;
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("outside the served root"), "{body}");
    // The same with the bundle's directory swapped for a link.
    std::fs::remove_dir_all(&bundle)?;
    std::os::unix::fs::symlink(outside.path(), &bundle)?;
    let (status, body) = serve.get("/api/payload/run/6", &host)?;
    assert!(
        !body.contains(secret),
        "answered {status} with the outside file"
    );
    // A FIFO in its place is refused at once, not waited on.
    std::fs::remove_file(&bundle)?;
    std::fs::create_dir_all(&bundle)?;
    let fifo = bundle.join("trace.jsonl");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status()?;
    anyhow::ensure!(made.success(), "mkfifo");
    let (status, body) = serve.get("/api/payload/run/6", &host)?;
    assert_eq!(status, 500);
    assert!(body.contains("not a regular file (a FIFO)"), "{body}");
    assert!(serve.alive());
    Ok(())
}

#[test]
fn every_answer_carries_the_policy_and_served_pages_run_no_inline_script() -> anyhow::Result<()> {
    let root = root_with_demo_and_big()?;
    let serve = Serve::start(root.path())?;
    for path in [
        "/",
        "/b/demo/",
        "/api/bundles",
        "/assets/viewer.js",
        "/nope",
    ] {
        let reply = serve.request(&format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            serve.host()
        ))?;
        let policy = reply.header("content-security-policy").unwrap_or_default();
        assert!(
            policy.contains("script-src 'self'") && !policy.contains("unsafe-inline"),
            "{path}: {policy}"
        );
        assert!(
            policy.contains("frame-ancestors 'none'"),
            "{path}: {policy}"
        );
        assert_eq!(reply.header("x-frame-options"), Some("DENY"), "{path}");
        assert_eq!(
            reply.header("x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        if reply.header("content-type") == Some("text/html; charset=utf-8") {
            for script in reply.body.split("<script").skip(1) {
                let tag = script.split('>').next().unwrap_or_default();
                assert!(
                    tag.contains(" src=") || tag.contains("type=\"application/json\""),
                    "{path}: an inline script <script{tag}>"
                );
            }
            assert!(!reply.body.contains("unsafe-inline"), "{path}");
        }
    }
    // Anything but GET and HEAD is refused before any handler runs.
    let reply = serve.request(&format!(
        "DELETE /b/demo/ HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        serve.host()
    ))?;
    assert_eq!(reply.status, 405);
    Ok(())
}

#[test]
fn off_loopback_the_host_check_stays_and_a_token_is_required() -> anyhow::Result<()> {
    let root = root_with_demo_and_big()?;
    // Not without asking.
    let out = cli()
        .arg("serve")
        .arg(root.path())
        .args(["--addr", "0.0.0.0:0"])
        .output()?;
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--allow-remote"), "{stderr}");

    let serve = Serve::start_with(
        root.path(),
        &[
            "--addr",
            "0.0.0.0:0",
            "--allow-remote",
            "--allow-host",
            "box.lan",
        ],
    )?;
    let token = serve
        .url
        .split_once("?token=")
        .map(|(_, t)| t.to_owned())
        .context("a token in the printed URL")?;
    assert_eq!(token.len(), 32, "{}", serve.url);
    let ask = |path: &str, host: &str, cookie: Option<&str>| {
        let cookie = cookie
            .map(|c| format!("Cookie: {c}\r\n"))
            .unwrap_or_default();
        serve.request(&format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\n{cookie}Connection: close\r\n\r\n"
        ))
    };
    let port = serve.port;
    // Without the token: refused, whatever the name.
    assert_eq!(
        ask("/api/bundles", &format!("127.0.0.1:{port}"), None)?.status,
        403
    );
    // A rebinding page sends its own name: refused even with the token.
    let with_token = format!("/api/bundles?token={token}");
    assert_eq!(ask(&with_token, "attacker.example", None)?.status, 403);
    // The bound address, an allowed name, an IP literal: admitted with the token, which the
    // answer sets as a cookie for the page's own requests.
    let first = ask(&format!("/?token={token}"), "box.lan:8040", None)?;
    assert_eq!(first.status, 200);
    let cookie = first
        .header("set-cookie")
        .context("the token cookie")?
        .split(';')
        .next()
        .unwrap_or_default()
        .to_owned();
    assert!(first
        .header("set-cookie")
        .is_some_and(|c| c.contains("HttpOnly")));
    let reply = ask("/api/bundles", &format!("10.1.2.3:{port}"), Some(&cookie))?;
    assert_eq!(reply.status, 200);
    assert!(reply.body.contains("\"path\":\"demo\""), "{}", reply.body);
    assert_eq!(
        ask("/api/bundles", "attacker.example", Some(&cookie))?.status,
        403
    );
    assert_eq!(
        ask(
            "/api/bundles",
            "box.lan",
            Some("tracing_rollout_token=0000")
        )?
        .status,
        403
    );
    Ok(())
}
