//! Shared fixtures for the integration tests: record spans through the real layer into a
//! temporary bundle, and build provider payloads tersely.
#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;

use serde_json::{json, Value};
use tempfile::TempDir;
use tracing_rollout::reduce::{reduce_bundle, ReduceError, RolloutState};
use tracing_rollout::RolloutLayer;
use tracing_subscriber::prelude::*;

/// A bundle written in a temporary root (deleted on drop).
#[derive(Debug)]
pub struct Bundle {
    pub root: TempDir,
    pub path: PathBuf,
}

impl Bundle {
    pub fn reduce(&self) -> Result<RolloutState, ReduceError> {
        reduce_bundle(&self.path)
    }

    pub fn trace(&self) -> std::io::Result<String> {
        std::fs::read_to_string(self.path.join("trace.jsonl"))
    }
}

/// Runs `f` under a subscriber whose only layer is a fresh `RolloutLayer`, finishes the guard,
/// and returns the one bundle written.
pub fn record(f: impl FnOnce()) -> anyhow::Result<Bundle> {
    let root = tempfile::tempdir()?;
    let (layer, guard) = RolloutLayer::builder().root_dir(root.path()).build()?;
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), f);
    let stats = guard.finish()?;
    anyhow::ensure!(
        stats.bundles.len() == 1,
        "expected one bundle, got {:?}",
        stats.bundles
    );
    let path = stats.bundles[0].clone();
    Ok(Bundle { root, path })
}

/// Records `f` and reduces the bundle.
pub fn reduce(f: impl FnOnce()) -> anyhow::Result<RolloutState> {
    Ok(record(f)?.reduce()?)
}

/// Emits a `rollout.payload` event with a JSON string body.
pub fn payload(role: &str, body: &str) {
    tracing::info!(name: "rollout.payload", role = role, payload = body);
}

/// One inference span with a request and (optionally) a response payload.
pub fn infer(request: &Value, response: Option<&Value>) {
    let span = tracing::info_span!(
        "rollout.inference",
        model = "test-model",
        provider = "openai"
    );
    let _enter = span.enter();
    payload("request", &request.to_string());
    if let Some(response) = response {
        payload("response", &response.to_string());
    }
}

/// OpenAI Responses items and payloads.
pub mod responses {
    use super::*;

    pub fn msg(role: &str, text: &str) -> Value {
        json!({"type": "message", "role": role, "content": [{"type": if role == "assistant" { "output_text" } else { "input_text" }, "text": text}]})
    }

    pub fn call(call_id: &str, name: &str, arguments: &str) -> Value {
        json!({"type": "function_call", "call_id": call_id, "name": name, "arguments": arguments})
    }

    pub fn custom_call(call_id: &str, name: &str, input: &str) -> Value {
        json!({"type": "custom_tool_call", "call_id": call_id, "name": name, "input": input})
    }

    pub fn output(call_id: &str, text: &str) -> Value {
        json!({"type": "function_call_output", "call_id": call_id, "output": text})
    }

    pub fn custom_output(call_id: &str, text: &str) -> Value {
        json!({"type": "custom_tool_call_output", "call_id": call_id, "output": text})
    }

    pub fn request(items: &[Value]) -> Value {
        json!({"model": "test-model", "input": items})
    }

    pub fn incremental(previous_response_id: &str, items: &[Value]) -> Value {
        json!({"model": "test-model", "previous_response_id": previous_response_id, "input": items})
    }

    pub fn response(id: &str, items: &[Value], input_tokens: u64, output_tokens: u64) -> Value {
        json!({"id": id, "output": items, "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens, "input_tokens_details": {"cached_tokens": 0}, "output_tokens_details": {"reasoning_tokens": 0}}})
    }
}
