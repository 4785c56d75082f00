//! `tracing-rollout export otlp|chrome`: outputs where told (or beside the trace), and exit
//! code 3 with the URL and the cause when an OTLP endpoint is unreachable or refuses.
#![cfg(feature = "cli")]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;

use anyhow::{Context, Result};
use serde_json::Value;

const DEMO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/demo");

fn cli() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tracing-rollout"))
}

#[test]
fn export_otlp_and_chrome_write_their_files_beside_the_trace_or_where_told() -> Result<()> {
    let dir = tempfile::tempdir()?;
    for file in ["trace.jsonl", "manifest.json"] {
        std::fs::copy(format!("{DEMO}/{file}"), dir.path().join(file))?;
    }
    let out = cli().args(["export", "otlp"]).arg(dir.path()).output()?;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file = dir.path().join("otlp.jsonl");
    assert_eq!(
        String::from_utf8(out.stdout)?,
        format!("{} (39 spans)\n", file.display())
    );
    let json: Value = serde_json::from_str(std::fs::read_to_string(&file)?.trim_end())?;
    assert!(json["resourceSpans"][0]["scopeSpans"][0]["spans"].is_array());

    let chrome = dir.path().join("elsewhere.json");
    let out = cli()
        .args(["export", "chrome"])
        .arg(dir.path())
        .arg("-o")
        .arg(&chrome)
        .output()?;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let trace: Value = serde_json::from_str(&std::fs::read_to_string(&chrome)?)?;
    assert!(trace["traceEvents"]
        .as_array()
        .is_some_and(|e| !e.is_empty()));

    let out = cli()
        .args(["export", "otlp", "--no-content", DEMO, "-o"])
        .arg(dir.path().join("bare.jsonl"))
        .output()?;
    assert_eq!(out.status.code(), Some(0));
    assert!(
        !std::fs::read_to_string(dir.path().join("bare.jsonl"))?.contains("gen_ai.input.messages")
    );
    Ok(())
}

#[test]
fn an_unreachable_or_refusing_endpoint_exits_3_naming_the_url() -> Result<()> {
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let url = format!("http://127.0.0.1:{port}");
    let out = cli()
        .args(["export", "otlp", DEMO, "--endpoint", &url])
        .output()?;
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8(out.stderr)?;
    assert!(
        stderr.starts_with(&format!(
            "error: export {DEMO}: reach OTLP endpoint {url}/v1/traces: "
        )),
        "{stderr}"
    );

    let listener = TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}", listener.local_addr()?);
    let server = std::thread::spawn(move || -> Result<()> {
        let (mut stream, _) = listener.accept()?;
        // Read the request head and body (the Content-Length is known from the head).
        let mut seen = Vec::new();
        let mut buf = [0; 65536];
        loop {
            let n = stream.read(&mut buf)?;
            seen.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&seen);
            if let Some(head_end) = text.find("\r\n\r\n") {
                let length: usize = text[..head_end]
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().to_owned())
                    })
                    .context("content-length")?
                    .parse()?;
                if seen.len() >= head_end + 4 + length {
                    break;
                }
            }
            if n == 0 {
                break;
            }
        }
        stream.write_all(b"HTTP/1.1 415 Unsupported Media Type\r\nContent-Length: 4\r\nConnection: close\r\n\r\nnope")?;
        Ok(())
    });
    let out = cli()
        .args(["export", "otlp", DEMO, "--endpoint", &url])
        .output()?;
    server
        .join()
        .map_err(|_| anyhow::anyhow!("server panicked"))??;
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8(out.stderr)?;
    assert!(stderr.contains("refused with HTTP 415: nope"), "{stderr}");
    Ok(())
}
