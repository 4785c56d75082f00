//! `tracing-rollout serve` as a child process, and a raw HTTP/1.1 client for it: requests are
//! written byte for byte as the test gives them (paths unnormalised, hostile headers), every
//! read bounded by [`WAIT`].

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Stdio};

use anyhow::Context;

use super::cli::cli;
use super::viewer::WAIT;

/// A running `tracing-rollout serve ROOT …`, killed on drop.
pub struct Serve {
    /// The child.
    pub child: Child,
    /// The port it listens on.
    pub port: u16,
    /// The URL it printed (with its token, if any).
    pub url: String,
}

/// One answer: status, headers (names lowercase), body.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status code.
    pub status: u16,
    /// Header lines as `(lowercase name, value)`.
    pub headers: Vec<(String, String)>,
    /// The body as text (lossy).
    pub body: String,
}

impl Reply {
    /// The value of header `name` (lowercase), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

impl Serve {
    /// `serve ROOT --addr 127.0.0.1:0`.
    pub fn start(root: &Path) -> anyhow::Result<Serve> {
        Serve::start_with(root, &["--addr", "127.0.0.1:0"])
    }

    /// `serve ROOT ARGS…`; waits for the line that says where it listens.
    pub fn start_with(root: &Path, args: &[&str]) -> anyhow::Result<Serve> {
        let mut command = cli();
        command.arg("serve").arg(root).args(args);
        Serve::spawn(command)
    }

    /// `serve ROOT --addr 127.0.0.1:0` with its import cache (for Codex bundles) in `cache`.
    pub fn start_cached(root: &Path, cache: &Path) -> anyhow::Result<Serve> {
        let mut command = cli();
        command.env("TRACING_ROLLOUT_CACHE", cache);
        command
            .arg("serve")
            .arg(root)
            .args(["--addr", "127.0.0.1:0"]);
        Serve::spawn(command)
    }

    /// Runs `command` (a `serve`); waits for the line that says where it listens.
    fn spawn(mut command: std::process::Command) -> anyhow::Result<Serve> {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdout = child.stdout.take().context("serve stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let url = line
            .trim()
            .rsplit(' ')
            .next()
            .unwrap_or_default()
            .to_owned();
        let port = url
            .strip_prefix("http://")
            .and_then(|rest| rest.split('/').next())
            .and_then(|authority| authority.rsplit(':').next())
            .and_then(|p| p.parse().ok())
            .with_context(|| format!("serve printed {line:?}"))?;
        Ok(Serve { child, port, url })
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The `Host` value of this server by its loopback address.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// One raw GET (the path sent exactly as given); returns (status, body).
    pub fn get(&self, path: &str, host: &str) -> anyhow::Result<(u16, String)> {
        let reply = self.request(&format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        ))?;
        Ok((reply.status, reply.body))
    }

    /// Sends `raw` (a whole request) on a new connection and reads the answer to the end.
    pub fn request(&self, raw: &str) -> anyhow::Result<Reply> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(WAIT))?;
        stream.write_all(raw.as_bytes())?;
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply)?;
        parse_reply(&reply)
    }

    /// The child's resident set now and at its peak, in KiB (`VmRSS`, `VmHWM`).
    pub fn memory_kib(&self) -> anyhow::Result<(u64, u64)> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<u64>().ok())
                .with_context(|| format!("{name} in /proc/…/status"))
        };
        Ok((field("VmRSS:")?, field("VmHWM:")?))
    }

    /// The child is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

/// Status, headers and body of a whole HTTP/1.1 answer.
pub fn parse_reply(reply: &[u8]) -> anyhow::Result<Reply> {
    let text = String::from_utf8_lossy(reply);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("no status in {:?}", &text[..text.len().min(200)]))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Ok(Reply {
        status,
        headers,
        body: body.to_owned(),
    })
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
