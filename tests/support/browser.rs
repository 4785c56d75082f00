//! A headless Chromium driven through the DevTools protocol over a pipe
//! (`--remote-debugging-pipe`: JSON messages, NUL-terminated, on the browser's fds 3 and 4),
//! for the viewer's browser tests and its benchmark. Std only: no WebSocket, no download.
//!
//! Invariant: every wait is bounded (a hung browser fails the test with what it was waiting
//! for, it never hangs it), the browser runs in a fresh profile directory, and it is killed
//! when the [`Browser`] drops. JavaScript errors (exceptions, `console.error`, error log
//! entries) are collected for the tests to assert on.

#![allow(dead_code, unreachable_pub)] // also compiled into examples/view_bench.rs (`#[path]`)

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use serde_json::{json, Value};

/// Where Chromium is: `$CHROMIUM`, else `/usr/bin/chromium`.
pub fn chromium_path() -> PathBuf {
    std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// One headless Chromium with one page.
pub struct Browser {
    child: Child,
    input: ChildStdin,
    messages: Receiver<Value>,
    next_id: u64,
    session: String,
    /// Events seen while waiting for replies.
    pub events: Vec<Value>,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts Chromium and opens a blank page of 1400×860 CSS pixels.
    pub fn launch(path: &Path) -> anyhow::Result<Browser> {
        let profile = tempfile::tempdir()?;
        let log = std::fs::File::create(profile.path().join("chromium.log"))?;
        // The shell hands our stdin/stdout pipes to Chromium as fds 3 and 4.
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(r#"exec "$0" "$@" 3<&0 4>&1 0</dev/null 1>/dev/null"#)
            .arg(path)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--hide-scrollbars",
                "--mute-audio",
                "--remote-debugging-pipe",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .with_context(|| format!("start {}", path.display()))?;
        let input = child.stdin.take().context("chromium stdin")?;
        let output = child.stdout.take().context("chromium stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(output);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match reader.read_until(0, &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        if buf.last() == Some(&0) {
                            buf.pop();
                        }
                        if let Ok(v) = serde_json::from_slice::<Value>(&buf) {
                            if tx.send(v).is_err() {
                                break;
                            }
                        }
                    }
                }
            }
        });
        let mut browser = Browser {
            child,
            input,
            messages: rx,
            next_id: 0,
            session: String::new(),
            events: Vec::new(),
            _profile: profile,
        };
        let target = browser.call_browser("Target.createTarget", json!({"url": "about:blank"}))?;
        let target_id = target["targetId"].as_str().context("targetId")?.to_owned();
        let attached = browser.call_browser(
            "Target.attachToTarget",
            json!({"targetId": target_id, "flatten": true}),
        )?;
        browser.session = attached["sessionId"]
            .as_str()
            .context("sessionId")?
            .to_owned();
        for method in ["Page.enable", "Runtime.enable", "Log.enable"] {
            browser.call(method, json!({}))?;
        }
        browser.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": 1400, "height": 860, "deviceScaleFactor": 1, "mobile": false}),
        )?;
        Ok(browser)
    }

    fn send(&mut self, method: &str, params: Value, session: bool) -> anyhow::Result<u64> {
        self.next_id += 1;
        let mut message = json!({"id": self.next_id, "method": method, "params": params});
        if session {
            message["sessionId"] = Value::String(self.session.clone());
        }
        let mut bytes = serde_json::to_vec(&message)?;
        bytes.push(0);
        self.input.write_all(&bytes)?;
        self.input.flush()?;
        Ok(self.next_id)
    }

    fn reply(&mut self, id: u64, method: &str) -> anyhow::Result<Value> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.messages.recv_timeout(left) {
                Ok(v) if v["id"].as_u64() == Some(id) => {
                    if let Some(e) = v.get("error") {
                        bail!("{method}: {e}");
                    }
                    return Ok(v["result"].clone());
                }
                Ok(v) => self.events.push(v),
                Err(RecvTimeoutError::Timeout) => bail!("{method}: no reply from Chromium in 60 s"),
                Err(RecvTimeoutError::Disconnected) => bail!("{method}: Chromium went away"),
            }
        }
    }

    fn call_browser(&mut self, method: &str, params: Value) -> anyhow::Result<Value> {
        let id = self.send(method, params, false)?;
        self.reply(id, method)
    }

    /// Calls `method` on the page.
    pub fn call(&mut self, method: &str, params: Value) -> anyhow::Result<Value> {
        let id = self.send(method, params, true)?;
        self.reply(id, method)
    }

    /// Opens `url` and waits for its `load` event.
    pub fn goto(&mut self, url: &str) -> anyhow::Result<()> {
        let seen = self.events.len();
        self.call("Page.navigate", json!({"url": url}))?;
        self.wait_event("Page.loadEventFired", seen, Duration::from_secs(120))
    }

    fn wait_event(&mut self, method: &str, seen: usize, limit: Duration) -> anyhow::Result<()> {
        if self.events[seen..].iter().any(|e| e["method"] == method) {
            return Ok(());
        }
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.messages.recv_timeout(left) {
                Ok(v) => {
                    let hit = v["method"] == method;
                    self.events.push(v);
                    if hit {
                        return Ok(());
                    }
                }
                Err(_) => bail!("no {method} within {limit:?}"),
            }
        }
    }

    /// Evaluates `expression` in the page (promises awaited) and returns its value.
    pub fn eval(&mut self, expression: &str) -> anyhow::Result<Value> {
        let result = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
        )?;
        if let Some(e) = result.get("exceptionDetails") {
            bail!("evaluate `{expression}`: {e}");
        }
        Ok(result["result"]["value"].clone())
    }

    /// Polls `expression` until it is truthy, for at most `limit`; returns its last value.
    pub fn wait_for(&mut self, expression: &str, limit: Duration) -> anyhow::Result<Value> {
        let deadline = Instant::now() + limit;
        loop {
            let v = self.eval(expression)?;
            let truthy =
                !matches!(v, Value::Null | Value::Bool(false)) && v != json!(0) && v != json!("");
            if truthy {
                return Ok(v);
            }
            if Instant::now() >= deadline {
                return Err(anyhow!("`{expression}` was still {v} after {limit:?}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A real mouse click at viewport coordinates.
    pub fn click(&mut self, x: f64, y: f64) -> anyhow::Result<()> {
        self.call(
            "Input.dispatchMouseEvent",
            json!({"type": "mouseMoved", "x": x, "y": y}),
        )?;
        for kind in ["mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}),
            )?;
        }
        Ok(())
    }

    /// A key press (`key` as in `KeyboardEvent.key`, e.g. `ArrowRight`).
    pub fn key(&mut self, key: &str) -> anyhow::Result<()> {
        for kind in ["keyDown", "keyUp"] {
            self.call(
                "Input.dispatchKeyEvent",
                json!({"type": kind, "key": key, "code": key}),
            )?;
        }
        Ok(())
    }

    /// Saves a PNG of the page under `target/screenshots/NAME.png`; returns its path.
    pub fn screenshot(&mut self, name: &str) -> anyhow::Result<PathBuf> {
        let shot = self.call("Page.captureScreenshot", json!({"format": "png"}))?;
        let data = base64_decode(shot["data"].as_str().context("screenshot data")?)?;
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, data)?;
        Ok(path)
    }

    /// An error listing the JavaScript errors seen so far, if there are any.
    pub fn no_js_errors(&mut self) -> anyhow::Result<()> {
        let errors = self.js_errors()?;
        anyhow::ensure!(errors.is_empty(), "JavaScript errors: {errors:#?}");
        Ok(())
    }

    /// JavaScript errors seen so far: uncaught exceptions, `console.error`, error log entries.
    pub fn js_errors(&mut self) -> anyhow::Result<Vec<String>> {
        // Drain what has arrived.
        while let Ok(v) = self.messages.try_recv() {
            self.events.push(v);
        }
        Ok(self
            .events
            .iter()
            .filter_map(|e| match e["method"].as_str() {
                Some("Runtime.exceptionThrown") => {
                    Some(e["params"]["exceptionDetails"].to_string())
                }
                Some("Runtime.consoleAPICalled") if e["params"]["type"] == "error" => {
                    Some(e["params"]["args"].to_string())
                }
                Some("Log.entryAdded") if e["params"]["entry"]["level"] == "error" => {
                    Some(e["params"]["entry"]["text"].to_string())
                }
                _ => None,
            })
            .collect())
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Standard base64 (with padding) to bytes.
pub fn base64_decode(text: &str) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let mut acc = 0u32;
    let mut bits = 0;
    for &c in text.as_bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' | b'\n' | b'\r' => continue,
            _ => bail!("not base64: {c}"),
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Ok(out)
}

/// `file://` URL of a local path.
pub fn file_url(path: &Path) -> String {
    format!("file://{}", path.display())
}
