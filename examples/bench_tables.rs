//! Fleet measurements for BENCHMARKS.md: writes N bundles through the layer (the shapes of
//! `tests/support/fleet.rs`, lossy ones left out), then, with the release binary as a child
//! process (so its peak memory is its own):
//! - `export tables` as Parquet and as JSONL: wall time, peak RSS, bytes per table;
//! - the re-run after 100 more rollouts (only those are reduced);
//! - `serve`'s index: the time until every row is summarised (polling `/api/index` as the page
//!   does), and the page's first render with every row in headless Chromium, cold and warm.
//!
//! Everything it writes is in a temporary directory, deleted at the end.
//!
//! `cargo build --release --features cli && cargo run --release --example bench_tables -- [N]`

#[path = "../tests/support/browser.rs"]
mod browser;
#[path = "../tests/support/fleet.rs"]
mod fleet;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};

/// The release binary beside this example (`target/release/tracing-rollout`).
fn binary() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .context("target dir")?
        .join("tracing-rollout");
    ensure!(
        bin.is_file(),
        "build it first: cargo build --release --features cli ({})",
        bin.display()
    );
    Ok(bin)
}

/// Runs the binary with `args`; returns (wall time, peak RSS in MiB, stdout). The peak is the
/// child's `VmHWM` (a high-water mark) read every 10 ms until it exits: no `unsafe` getrusage.
fn run(bin: &Path, args: &[&str]) -> anyhow::Result<(Duration, f64, String)> {
    let started = Instant::now();
    let mut child = Command::new(bin)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let status_file = format!("/proc/{}/status", child.id());
    let mut stdout = child.stdout.take().context("stdout")?;
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let mut peak_kib = 0u64;
    let status = loop {
        if let Ok(text) = std::fs::read_to_string(&status_file) {
            if let Some(kib) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            {
                peak_kib = peak_kib.max(kib);
            }
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let wall = started.elapsed();
    let out = reader.join().unwrap_or_default();
    ensure!(status.success(), "{args:?} failed");
    Ok((wall, peak_kib as f64 / 1024.0, out))
}

/// One GET on 127.0.0.1:`port`; the body.
fn get(port: u16, path: &str) -> anyhow::Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )?;
    let mut text = String::new();
    stream.read_to_string(&mut text)?;
    Ok(text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default())
}

fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(10_000);
    let bin = binary()?;
    let work = tempfile::tempdir()?;
    let root = work.path().join("fleet");
    let started = Instant::now();
    let end = plan_end(0, n);
    let mut written = 0;
    for from in (0..end).step_by(1000) {
        written += fleet::write(&root, from, (from + 1000).min(end), /*lossy*/ false)?;
    }
    let trace_bytes: u64 = walk_bytes(&root)?;
    println!(
        "wrote {written} bundles ({:.1} MiB of trace.jsonl and manifests) in {:.1} s",
        trace_bytes as f64 / (1 << 20) as f64,
        started.elapsed().as_secs_f64()
    );
    let root_arg = root.to_string_lossy().into_owned();
    for format in ["parquet", "jsonl"] {
        let out = work.path().join(format);
        let out_arg = out.to_string_lossy().into_owned();
        let args = [
            "export", "tables", &root_arg, "-o", &out_arg, "--format", format,
        ];
        let (wall, rss, stdout) = run(&bin, &args)?;
        println!(
            "export tables --format {format}: {:.2} s, peak RSS {rss:.0} MiB",
            wall.as_secs_f64()
        );
        print!("{stdout}");
        if format == "parquet" {
            fleet::write(&root, end, plan_end(end, 100), /*lossy*/ false)?;
        }
        let (wall, _, stdout) = run(&bin, &args)?;
        println!(
            "  re-run {}: {:.2} s — {}",
            if format == "parquet" {
                "after 100 new bundles"
            } else {
                "(100 new since the Parquet run)"
            },
            wall.as_secs_f64(),
            stdout.lines().next().unwrap_or_default()
        );
    }
    index(&bin, &root)?;
    Ok(())
}

/// `serve`'s index over the root: summarised cold (every row), then the page rendered.
fn index(bin: &Path, root: &Path) -> anyhow::Result<()> {
    let mut child = Command::new(bin)
        .arg("serve")
        .arg(root)
        .args(["--addr", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()?;
    let result = (|| -> anyhow::Result<()> {
        let mut line = String::new();
        BufReader::new(child.stdout.take().context("stdout")?).read_line(&mut line)?;
        let url = line
            .trim()
            .rsplit(' ')
            .next()
            .unwrap_or_default()
            .to_owned();
        let port: u16 = url
            .trim_start_matches("http://")
            .split(['/', ':'])
            .nth(1)
            .context("port")?
            .parse()?;
        let started = Instant::now();
        let mut version = 0;
        let mut rows = 0;
        loop {
            let body = get(port, &format!("/api/index?since={version}"))?;
            let v: serde_json::Value = serde_json::from_str(&body)?;
            rows += v["rows"].as_array().map_or(0, Vec::len);
            version = v["version"].as_u64().unwrap_or(version);
            if v["pending"] == 0 && v["bundles"].as_u64() > Some(0) {
                break;
            }
            ensure!(
                started.elapsed() < Duration::from_secs(1800),
                "the index never filled"
            );
        }
        println!(
            "index: {rows} rows summarised cold in {:.2} s (polling /api/index)",
            started.elapsed().as_secs_f64()
        );
        let started = Instant::now();
        let body = get(port, "/api/index?since=0")?;
        println!(
            "index: every row again (warm, {} KiB of JSON) in {:.0} ms",
            body.len() / 1024,
            started.elapsed().as_secs_f64() * 1e3
        );
        for attempt in ["first", "second"] {
            let mut browser = browser::Browser::launch(&browser::chromium_path())?;
            let started = Instant::now();
            browser.goto(&url)?;
            browser.wait_for(
                "document.body.dataset.ready === '1'",
                Duration::from_secs(120),
            )?;
            let shown = browser.eval("window.rolloutIndex.size()")?;
            println!(
                "index page ({attempt} browser): {shown} rollouts, first render with every row in {:.0} ms",
                started.elapsed().as_secs_f64() * 1e3
            );
        }
        Ok(())
    })();
    let _ = child.kill();
    let _ = child.wait();
    result
}

/// The end of the fleet's plan from `from` that holds `count` bundles written (the plan's lossy
/// shapes are left out).
fn plan_end(from: usize, count: usize) -> usize {
    let mut end = from;
    let mut bundles = 0;
    while bundles < count {
        if fleet::kind(end) != "lossy" {
            bundles += 1;
        }
        end += 1;
    }
    end
}

fn walk_bytes(dir: &Path) -> std::io::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            walk_bytes(&entry.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}
