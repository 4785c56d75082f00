//! The loopback pieces the producer crates share (`tests/rig` and `tests/genai` compile it in
//! through `#[path]`; the library's own tests do not, so it is not in `mod.rs` and may use
//! tokio): a mock server on 127.0.0.1 that reads one HTTP/1.1 request per connection and
//! answers it whole, text cut in two for streamed deltas, a recorder that runs a program
//! under a fresh `RolloutLayer` and reduces every bundle it wrote, and the graph's structure
//! as a value two runs can be compared by.
//!
//! Invariant: a recording is self-contained — its own temporary root, layer, subscriber (the
//! local default for the run only), runtime and mock port — so tests in one binary run in
//! parallel without seeing each other's spans or requests.
#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use anyhow::{bail, ensure, Result};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tracing_rollout::reduce::{reduce_bundle, DiagnosticLevel, Requester, RolloutState};
use tracing_rollout::RolloutLayer;
use tracing_subscriber::prelude::*;

/// The requests a mock received, in order.
pub type Seen = Arc<Mutex<Vec<Value>>>;

/// A mock's answer: status line (`200 OK`), content type, body.
pub type Answer = (&'static str, &'static str, String);

/// How a mock answers one request: given its head (request line and headers) and body, and
/// the requests seen so far (to which it adds the ones it parses).
pub type Answerer = fn(&str, &[u8], &Seen) -> Result<Answer>;

/// `text` in two pieces, cut on a character boundary near its middle.
pub fn halves(text: &str) -> [&str; 2] {
    let mut cut = text.len() / 2;
    while !text.is_char_boundary(cut) {
        cut += 1;
    }
    [&text[..cut], &text[cut..]]
}

/// Adds `request` to what the mock saw.
pub fn saw(seen: &Seen, request: Value) -> Result<()> {
    seen.lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .push(request);
    Ok(())
}

/// Reads one request whole and writes `answer`'s reply to it.
async fn serve(stream: &mut TcpStream, seen: &Seen, answer: Answerer) -> Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let (head_end, body_len) = loop {
        let n = stream.read(&mut chunk).await?;
        ensure!(n > 0, "connection closed before the request ended");
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .map(|v| v.trim().parse::<usize>())
                .transpose()?
                .unwrap_or(0);
            break (end + 4, len);
        }
    };
    while buf.len() < head_end + body_len {
        let n = stream.read(&mut chunk).await?;
        ensure!(n > 0, "connection closed inside the request body");
        buf.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let (status, kind, body) = answer(&head, &buf[head_end..head_end + body_len], seen)?;
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {kind}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await?;
    Ok(())
}

/// Starts a mock answering with `answer` on a free loopback port; it lives as long as the
/// runtime. Returns its address.
pub async fn start_mock(seen: Seen, answer: Answerer) -> Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            if let Err(e) = serve(&mut stream, &seen, answer).await {
                eprintln!("mock server: {e:#}");
            }
        }
    });
    Ok(address)
}

/// What one recorded run left: every bundle's graph and trace (in the order the bundles
/// ended), what the mock was sent, and what the run returned.
#[derive(Debug)]
pub struct Recorded<T> {
    /// Each bundle's graph.
    pub states: Vec<RolloutState>,
    /// Each bundle's `trace.jsonl`.
    pub traces: Vec<String>,
    /// The requests the mock received, in order.
    pub seen: Vec<Value>,
    /// What the run returned.
    pub answer: T,
}

impl<T> Recorded<T> {
    /// The run's one graph, with no diagnostic above info; otherwise an error carrying the
    /// trace, so a changed producer release is diagnosable from the CI log.
    pub fn only_graph(&self) -> Result<&RolloutState> {
        ensure!(self.states.len() == 1, "bundles: {}", self.states.len());
        let state = &self.states[0];
        let loud: Vec<_> = state
            .diagnostics
            .iter()
            .filter(|d| d.level != DiagnosticLevel::Info)
            .collect();
        if !loud.is_empty() {
            bail!(
                "diagnostics above info: {loud:#?}\n--- trace.jsonl ---\n{}",
                self.traces[0]
            );
        }
        Ok(state)
    }
}

/// Runs `run` on a fresh runtime under a fresh `RolloutLayer`, given the mock at `address`
/// (answering with `answer`), finishes the guard, and reduces every bundle written.
pub fn record<T, F, Fut>(answer: Answerer, run: F) -> Result<Recorded<T>>
where
    F: FnOnce(SocketAddr) -> Fut,
    Fut: Future<Output = T>,
{
    let root = tempfile::tempdir()?;
    let (layer, guard) = RolloutLayer::builder().root_dir(root.path()).build()?;
    let subscriber = tracing_subscriber::registry().with(layer);
    let seen = Seen::default();
    let returned = tracing::subscriber::with_default(subscriber, || -> Result<T> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async {
            let address = start_mock(Arc::clone(&seen), answer).await?;
            Ok(run(address).await)
        })
    })?;
    let stats = guard.finish()?;
    let mut states = Vec::new();
    let mut traces = Vec::new();
    for bundle in &stats.bundles {
        states.push(reduce_bundle(bundle)?);
        traces.push(std::fs::read_to_string(bundle.join("trace.jsonl"))?);
    }
    let seen = seen
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .clone();
    Ok(Recorded {
        states,
        traces,
        seen,
        answer: returned,
    })
}

/// The graph as values that do not depend on span keys or content: per thread its name and
/// status, per turn its status and each inference call's model, provider, status, error,
/// usage (input, output, cache reads), finish reasons and whether it has a time to first
/// chunk, and each tool call's name, call id, status, the position of the inference that asked
/// for it and whether that was inferred.
pub fn structure(state: &RolloutState) -> Value {
    let threads: Vec<Value> = state
        .threads
        .values()
        .map(|thread| {
            let turns: Vec<Value> = thread
                .turns
                .iter()
                .map(|turn| {
                    let turn = &state.turns[turn];
                    let calls: Vec<_> = turn
                        .inference_calls
                        .iter()
                        .map(|c| &state.inference_calls[c])
                        .collect();
                    let inferences: Vec<Value> = calls
                        .iter()
                        .map(|c| {
                            let usage = c
                                .usage
                                .map(|u| (u.input_tokens, u.output_tokens, u.cached_input_tokens));
                            json!({
                                "model": c.model, "provider": c.provider,
                                "status": c.execution.status.as_str(), "error": c.execution.error,
                                "usage": usage, "finish_reasons": c.finish_reasons,
                                "first_chunk": c.time_to_first_chunk_ns.is_some(),
                            })
                        })
                        .collect();
                    let tools: Vec<Value> = turn
                        .tool_calls
                        .iter()
                        .map(|t| {
                            let t = &state.tool_calls[t];
                            let asked_by = match &t.requester {
                                Requester::Model {
                                    inference_call_id: Some(id),
                                } => calls.iter().position(|c| &c.inference_call_id == id),
                                _ => None,
                            };
                            json!({
                                "tool": t.tool, "call_id": t.call_id,
                                "status": t.execution.status.as_str(),
                                "asked_by": asked_by, "inferred": t.requester_inferred,
                            })
                        })
                        .collect();
                    json!({"status": turn.execution.status.as_str(),
                        "inferences": inferences, "tools": tools})
                })
                .collect();
            json!({"nickname": thread.nickname, "status": thread.execution.status.as_str(),
                "turns": turns})
        })
        .collect();
    json!({"status": state.status.as_str(), "threads": threads})
}
