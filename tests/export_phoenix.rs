//! The OTLP export against a real receiver: Arize Phoenix, from the virtual environment
//! `.ci/run` installs under `target/phoenix-venv` (or `$PHOENIX_VENV`), started on free
//! loopback ports with a temporary working directory and telemetry off. The demo bundle is
//! posted as OTLP/HTTP protobuf and read back through Phoenix's REST API.
//!
//! Without the venv the test prints `SKIPPED` and passes — except under CI (`CI` set), where
//! a missing receiver fails it.
#![cfg(feature = "otlp-http")]

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use serde_json::Value;
use support::fixtures::demo;
use support::receiver::unused_port;
use support::skip::skipped;
use tracing_rollout::export::otlp::{
    export_otlp, post_otlp, span_count, ExportTraceServiceRequest, OtlpOptions,
};

/// Readiness and ingest polls: at most this many, 250 ms apart (a bound, not a threshold).
const POLLS: u32 = 960;

/// Kills the server (by its own process id) when the test ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn venv() -> PathBuf {
    std::env::var_os("PHOENIX_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/phoenix-venv"))
}

fn get(agent: &ureq::Agent, url: &str) -> Option<Value> {
    let mut response = agent.get(url).call().ok()?;
    if response.status() != 200 {
        return None;
    }
    let text = response
        .body_mut()
        .with_config()
        .limit(64 * 1024 * 1024)
        .read_to_string()
        .ok()?;
    serde_json::from_str(&text).ok()
}

/// A Phoenix started from `phoenix` on free loopback ports, answering; with its working
/// directory (its log is `phoenix.log` there), its base URL and an HTTP agent.
/// The server is killed before its working directory is removed (fields drop in order).
struct Phoenix {
    _server: Server,
    _work: tempfile::TempDir,
    base: String,
    agent: ureq::Agent,
}

impl Phoenix {
    fn start(phoenix: &Path) -> Result<Phoenix> {
        let work = tempfile::tempdir()?;
        let port = unused_port()?;
        let grpc_port = unused_port()?;
        let log = std::fs::File::create(work.path().join("phoenix.log"))?;
        let child = Command::new(phoenix)
            .arg("serve")
            .env("PHOENIX_HOST", "127.0.0.1")
            .env("PHOENIX_PORT", port.to_string())
            .env("PHOENIX_GRPC_PORT", grpc_port.to_string())
            .env("PHOENIX_WORKING_DIR", work.path())
            .env("PHOENIX_TELEMETRY_ENABLED", "false")
            .env("DO_NOT_TRACK", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("start {}", phoenix.display()))?;
        let mut server = Server(child);
        let base = format!("http://127.0.0.1:{port}");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into();
        let server_log =
            || std::fs::read_to_string(work.path().join("phoenix.log")).unwrap_or_default();

        let mut ready = false;
        for _ in 0..POLLS {
            if let Some(status) = server.0.try_wait()? {
                bail!(
                    "phoenix exited ({status}) before it was ready:\n{}",
                    server_log()
                );
            }
            if get(&agent, &format!("{base}/v1/projects")).is_some() {
                ready = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        ensure!(
            ready,
            "phoenix never answered /v1/projects:\n{}",
            server_log()
        );
        Ok(Phoenix {
            _server: server,
            _work: work,
            base,
            agent,
        })
    }

    /// The spans of `project`, polled until `expected` are queryable (ingest is
    /// asynchronous) or the polls run out.
    fn spans(&self, project: &str, expected: usize) -> Vec<Value> {
        let url = format!("{}/v1/projects/{project}/spans?limit=1000", self.base);
        let mut spans: Vec<Value> = Vec::new();
        for _ in 0..POLLS {
            if let Some(page) = get(&self.agent, &url) {
                spans = page["data"].as_array().cloned().unwrap_or_default();
                if spans.len() >= expected {
                    break;
                }
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        spans
    }
}

/// The span names of `request` and of `spans`, as multisets, are the same.
fn check_names(request: &ExportTraceServiceRequest, spans: &[Value]) {
    let count = |names: Vec<String>| {
        let mut map: BTreeMap<String, usize> = BTreeMap::new();
        for n in names {
            *map.entry(n).or_default() += 1;
        }
        map
    };
    let exported = count(
        request.resource_spans[0].scope_spans[0]
            .spans
            .iter()
            .map(|s| s.name.clone())
            .collect(),
    );
    let received = count(
        spans
            .iter()
            .filter_map(|s| s["name"].as_str().map(str::to_owned))
            .collect(),
    );
    assert_eq!(received, exported, "span names");
}

/// One root; the sub-agents under their spawning tool calls.
fn check_tree(spans: &[Value]) -> Result<()> {
    let by_id: BTreeMap<&str, &Value> = spans
        .iter()
        .filter_map(|s| Some((s["context"]["span_id"].as_str()?, s)))
        .collect();
    let attr = |s: &Value, key: &str| s["attributes"][key].clone();
    let find = |key: &str, value: &str| {
        spans
            .iter()
            .find(|s| attr(s, key) == value)
            .with_context(|| format!("a span with {key} = {value}"))
    };

    let roots: Vec<&Value> = spans.iter().filter(|s| s["parent_id"].is_null()).collect();
    assert_eq!(roots.len(), 1);
    assert_eq!(roots[0]["name"], "invoke_workflow rollout");
    for (agent_id, call_id) in [("researcher", "call_spawn_r"), ("fixer", "call_spawn_f")] {
        let thread = find("gen_ai.agent.id", agent_id)?;
        assert_eq!(thread["span_kind"], "AGENT");
        let parent = thread["parent_id"].as_str().context("parent")?;
        let tool = by_id.get(parent).context("the parent span")?;
        assert_eq!(tool["name"], "execute_tool spawn_agent");
        assert_eq!(tool["span_kind"], "TOOL");
        assert_eq!(attr(tool, "gen_ai.tool.call.id"), call_id);
    }
    Ok(())
}

/// Token counts on the LLM spans (Phoenix's own keys) add up to the summary's; one
/// inference's input messages and its tool calls' call ids.
fn check_inferences(spans: &[Value]) -> Result<()> {
    let attr = |s: &Value, key: &str| s["attributes"][key].clone();
    let llm: Vec<&Value> = spans.iter().filter(|s| s["span_kind"] == "LLM").collect();
    assert_eq!(llm.len(), 13);
    let prompt: i64 = llm
        .iter()
        .map(|s| attr(s, "llm.token_count.prompt").as_i64().unwrap_or(0))
        .sum();
    let completion: i64 = llm
        .iter()
        .map(|s| attr(s, "llm.token_count.completion").as_i64().unwrap_or(0))
        .sum();
    assert_eq!((prompt, completion), (8586, 588));

    // One inference: its input messages and its tool calls' call ids.
    let chat = spans
        .iter()
        .find(|s| attr(s, "rollout.inference_call_id") == "inference:16")
        .context("a span with rollout.inference_call_id = inference:16")?;
    assert_eq!(attr(chat, "llm.input_messages.0.message.role"), "developer");
    assert_eq!(
        attr(chat, "llm.input_messages.0.message.content"),
        "You are the lead engineer. Use tools, delegate to sub-agents, and report back concisely."
    );
    assert_eq!(attr(chat, "gen_ai.usage.input_tokens"), 900);
    let asked: Vec<Value> = (0..2)
        .map(|i| {
            attr(
                chat,
                &format!("llm.output_messages.0.message.tool_calls.{i}.tool_call.id"),
            )
        })
        .collect();
    assert_eq!(asked, ["call_spawn_r", "call_spawn_f"]);
    let run: Vec<Value> = spans
        .iter()
        .filter(|s| attr(s, "rollout.requested_by") == "inference:16")
        .map(|s| attr(s, "gen_ai.tool.call.id"))
        .collect();
    assert_eq!(run.len(), 2);
    for id in &asked {
        assert!(run.contains(id), "{id} ran as a tool span: {run:?}");
    }
    Ok(())
}

#[test]
fn phoenix_receives_the_demo_with_sub_agents_under_their_spawning_tools() -> Result<()> {
    let phoenix = venv().join("bin/phoenix");
    if !phoenix.exists() {
        let why = format!(
            "{} does not exist (run the #15 step of .ci/run)",
            phoenix.display()
        );
        return skipped("phoenix_receives_the_demo", &why);
    }
    let phoenix = Phoenix::start(&phoenix)?;
    let project = "rollout-demo";
    let request = export_otlp(demo(), &OtlpOptions::new().project_name(project))?;
    let report = post_otlp(&request, &phoenix.base)?;
    assert_eq!(report.status, 200);
    assert_eq!(report.rejected_spans, 0, "{}", report.message);
    let expected = span_count(&request);
    let spans = phoenix.spans(project, expected);
    assert_eq!(spans.len(), expected, "span count");
    assert_eq!(expected, 39);
    check_names(&request, &spans);
    check_tree(&spans)?;
    check_inferences(&spans)?;
    drop(phoenix);
    Ok(())
}
