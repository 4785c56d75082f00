//! A real rig agent (rig-agent 0.44 over rig-core's OpenAI Responses wire) with one tool,
//! against a mock of the OpenAI Responses API on 127.0.0.1, content telemetry on, recorded
//! by `RolloutLayer` with no change to the agent: the bundle must reduce to one thread and
//! turn, two inference calls with model, provider and the mock's usage, one tool call linked
//! by the mock's call id to the first inference and to the second request's output item,
//! the conversation in order, and no diagnostics above info.

// The graph readers the library's own GenAI tests use (tests/genai_dialect.rs).
#[path = "../../support/graph.rs"]
mod graph;

use std::sync::{Arc, Mutex};

use anyhow::{bail, ensure, Context as _, Result};
use graph::{conversation, model_of, no_warnings, only_turn, other_thread, texts, turn_calls};
use rig_agent::prelude::*;
use rig_agent::tool::{Tool, ToolContext};
use rig_core::providers::openai::OpenAIConfig;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tracing::Instrument;
use tracing_rollout::reduce::{reduce_bundle, Anchor, EdgeKind, InferenceCall, RolloutState, Turn};
use tracing_rollout::RolloutLayer;
use tracing_subscriber::prelude::*;

const MODEL: &str = "gpt-mock";
const CALL_ID: &str = "call_mock_weather_1";
const FIRST_USAGE: (u64, u64) = (31, 7);
const SECOND_USAGE: (u64, u64) = (52, 9);
const ANSWER: &str = "It is rainy in Paris, 14°C.";
const TOOL_RESULT: &str = "rainy, 14°C";
/// The lead agent's one tool: the weather agent.
const LEAD_TOOL: &str = "forecaster";
const LEAD_CALL_ID: &str = "call_mock_lead_1";
const LEAD_ANSWER: &str = "Take an umbrella.";

/// The one tool.
#[derive(Debug)]
struct Weather;

#[derive(Debug, serde::Deserialize)]
struct WeatherArgs {
    city: String,
}

impl Tool for Weather {
    const NAME: &'static str = "get_weather";
    type Args = WeatherArgs;
    type Output = String;
    type Error = std::io::Error;

    fn description(&self) -> String {
        "The current weather in a city".to_owned()
    }

    fn parameters(&self) -> Value {
        json!({
            "type": "object",
            "properties": {"city": {"type": "string", "description": "The city"}},
            "required": ["city"],
        })
    }

    async fn call(&self, _context: &mut ToolContext, args: WeatherArgs) -> std::io::Result<String> {
        if args.city != "Paris" {
            return Err(std::io::Error::other(format!(
                "no weather for {}",
                args.city
            )));
        }
        Ok(TOOL_RESULT.to_owned())
    }
}

/// The mock's reply to a request: a tool call until the request carries the tool's output,
/// then the answer.
fn reply(request: &Value) -> Value {
    let offers = |name: &str| {
        request["tools"]
            .as_array()
            .is_some_and(|tools| tools.iter().any(|tool| tool["name"] == name))
    };
    let answered = request["input"].as_array().is_some_and(|items| {
        items
            .iter()
            .any(|item| item["type"] == "function_call_output")
    });
    let usage = |(input, output): (u64, u64)| {
        json!({
            "input_tokens": input,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": output,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": input + output,
        })
    };
    let (id, output, usage) = if offers(LEAD_TOOL) {
        if answered {
            let message = json!({
                "type": "message", "id": "msg_lead_2", "status": "completed", "role": "assistant",
                "content": [{"type": "output_text", "text": LEAD_ANSWER, "annotations": []}],
            });
            ("resp_lead_2", message, usage((70, 5)))
        } else {
            let arguments = json!({"prompt": "What is the weather in Paris?"}).to_string();
            let call = json!({
                "type": "function_call", "id": "fc_lead_1", "status": "completed",
                "call_id": LEAD_CALL_ID, "name": LEAD_TOOL, "arguments": arguments,
            });
            ("resp_lead_1", call, usage((40, 8)))
        }
    } else if answered {
        let message = json!({
            "type": "message", "id": "msg_mock_2", "status": "completed", "role": "assistant",
            "content": [{"type": "output_text", "text": ANSWER, "annotations": []}],
        });
        ("resp_mock_2", message, usage(SECOND_USAGE))
    } else {
        let call = json!({
            "type": "function_call", "id": "fc_mock_1", "status": "completed",
            "call_id": CALL_ID, "name": "get_weather", "arguments": "{\"city\":\"Paris\"}",
        });
        ("resp_mock_1", call, usage(FIRST_USAGE))
    };
    json!({
        "id": id, "object": "response", "created_at": 1_760_000_000, "status": "completed",
        "model": MODEL, "output": [output], "usage": usage,
        "parallel_tool_calls": true, "tool_choice": "auto", "tools": [],
    })
}

/// Serves one HTTP/1.1 request per connection: reads it whole, answers with [`reply`].
async fn serve(stream: &mut TcpStream, seen: &Mutex<Vec<Value>>) -> Result<()> {
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
    let (status, body) = if head.starts_with("POST ") && head.contains("/responses ") {
        let request: Value = serde_json::from_slice(&buf[head_end..head_end + body_len])?;
        let body = reply(&request);
        seen.lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
            .push(request);
        ("200 OK", body.to_string())
    } else {
        (
            "404 Not Found",
            json!({"error": {"message": head}}).to_string(),
        )
    };
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await?;
    Ok(())
}

/// Starts the mock on a free loopback port; it lives as long as the runtime.
async fn mock_responses_api(seen: Arc<Mutex<Vec<Value>>>) -> Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            if let Err(e) = serve(&mut stream, &seen).await {
                eprintln!("mock responses api: {e:#}");
            }
        }
    });
    Ok(format!("http://{address}/v1"))
}

/// How the agent is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Around {
    /// Outside any span: rig opens its own `invoke_agent` span.
    Nothing,
    /// Inside a `rollout.thread` and `rollout.turn` of the program's: rig adopts the turn.
    OurThreadAndTurn,
    /// As the tool of a lead agent (`Agent::into_tool`): rig runs it inside the lead's
    /// `execute_tool` span, with no `invoke_agent` of its own.
    ToolOfALead,
}

/// Runs the agent once, recorded; returns the bundle's graph, its trace and what the mock saw.
fn record(around: Around) -> Result<(RolloutState, String, Vec<Value>)> {
    let root = tempfile::tempdir()?;
    let (layer, guard) = RolloutLayer::builder().root_dir(root.path()).build()?;
    let subscriber = tracing_subscriber::registry().with(layer);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let answer = tracing::subscriber::with_default(subscriber, || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async {
            let base_url = mock_responses_api(Arc::clone(&seen)).await?;
            let client = OpenAIConfig::new("sk-test")
                .with_base_url(base_url)
                .client();
            let agent = AgentBuilder::new(client.responses(MODEL))
                .name("weather-bot")
                .preamble("Answer in one short sentence.")
                .tool(Weather)
                .record_content_telemetry(true)
                .build();
            let run = agent
                .clone()
                .prompt("What is the weather in Paris?")
                .max_turns(4);
            let response = match around {
                Around::Nothing => run.await?,
                Around::ToolOfALead => {
                    drop(run);
                    let forecaster = AgentBuilder::new(client.responses(MODEL))
                        .name(LEAD_TOOL)
                        .preamble("Answer in one short sentence.")
                        .tool(Weather)
                        .record_content_telemetry(true)
                        .default_max_turns(4)
                        .build();
                    let lead = AgentBuilder::new(client.responses(MODEL))
                        .name("lead")
                        .preamble("Delegate weather questions.")
                        .dynamic_tool(forecaster.into_tool()?)
                        .record_content_telemetry(true)
                        .build();
                    lead.prompt("Do I need an umbrella in Paris?")
                        .max_turns(4)
                        .await?
                }
                Around::OurThreadAndTurn => {
                    let thread = tracing::info_span!("rollout.thread", thread_id = "main");
                    let turn =
                        thread.in_scope(|| tracing::info_span!("rollout.turn", turn_id = "t1"));
                    async move { run.await }
                        .instrument(turn)
                        .instrument(thread)
                        .await?
                }
            };
            anyhow::Ok(response.output().to_owned())
        })
    })?;
    let expected = if around == Around::ToolOfALead {
        LEAD_ANSWER
    } else {
        ANSWER
    };
    assert_eq!(answer, expected);
    let stats = guard.finish()?;
    ensure!(stats.bundles.len() == 1, "bundles: {:?}", stats.bundles);
    let bundle = &stats.bundles[0];
    let state = reduce_bundle(bundle)?;
    let trace = std::fs::read_to_string(bundle.join("trace.jsonl"))?;
    let seen = seen
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?
        .clone();
    Ok((state, trace, seen))
}

/// The graph the run must reduce to, whichever spans were around it.
fn check(state: &RolloutState, seen: &[Value], around: Around) -> Result<()> {
    no_warnings(state)?;
    ensure!(
        state.threads.len() == 1,
        "threads: {:?}",
        state.threads.keys()
    );
    let thread = state.threads.values().next().context("no thread")?;
    match around {
        Around::Nothing => assert_eq!(thread.nickname.as_deref(), Some("weather-bot")),
        Around::OurThreadAndTurn => assert_eq!(thread.thread_id, "main"),
        Around::ToolOfALead => bail!("the lead's graph is checked by check_lead"),
    }
    ensure!(
        thread.turns.len() == 1 && state.turns.len() == 1,
        "turns: {:?}",
        state.turns.keys()
    );
    let turn = &state.turns[&thread.turns[0]];
    let calls = check_calls(state, turn)?;
    check_tool(state, turn, &calls)?;
    let call = Some(CALL_ID.to_owned());
    assert_eq!(
        conversation(state, thread),
        vec![
            (
                "system".to_owned(),
                None,
                "Answer in one short sentence.".to_owned()
            ),
            (
                "user".to_owned(),
                None,
                "What is the weather in Paris?".to_owned()
            ),
            (
                "assistant".to_owned(),
                call.clone(),
                r#"{"city":"Paris"}"#.to_owned()
            ),
            ("tool".to_owned(), call, TOOL_RESULT.to_owned()),
            ("assistant".to_owned(), None, ANSWER.to_owned()),
        ]
    );
    // What the mock was sent agrees: two requests, the second carrying the output.
    ensure!(seen.len() == 2, "the mock saw {} requests", seen.len());
    let sent_output = seen[1]["input"].as_array().is_some_and(|items| {
        items
            .iter()
            .any(|i| i["call_id"] == CALL_ID && i["type"] == "function_call_output")
    });
    ensure!(sent_output, "the second request sent: {}", seen[1]);
    Ok(())
}

/// The turn's two inference calls, with the model, provider, usage and response ids the
/// mock answered with.
fn check_calls<'a>(state: &'a RolloutState, turn: &Turn) -> Result<Vec<&'a InferenceCall>> {
    let calls = turn_calls(state, turn);
    ensure!(
        calls.len() == 2,
        "inference calls: {:?}",
        turn.inference_calls
    );
    for call in &calls {
        assert_eq!(call.model.as_deref(), Some(MODEL));
        assert_eq!(call.provider.as_deref(), Some("openai"));
        assert_eq!(call.payload_format.as_deref(), Some("otel_genai"));
    }
    let usage: Vec<_> = calls
        .iter()
        .map(|c| c.usage.as_ref().map(|u| (u.input_tokens, u.output_tokens)))
        .collect();
    assert_eq!(usage, vec![Some(FIRST_USAGE), Some(SECOND_USAGE)]);
    let ids: Vec<_> = calls.iter().map(|c| c.response_id.as_deref()).collect();
    assert_eq!(ids, vec![Some("resp_mock_1"), Some("resp_mock_2")]);
    Ok(calls)
}

/// The one tool call: in the turn, asked for by the first call, its output carried by the
/// second request.
fn check_tool(state: &RolloutState, turn: &Turn, calls: &[&InferenceCall]) -> Result<()> {
    ensure!(
        state.tool_calls.len() == 1,
        "tool calls: {:?}",
        state.tool_calls.keys()
    );
    let tool = state.tool_calls.values().next().context("no tool call")?;
    assert_eq!(tool.tool.as_deref(), Some("get_weather"));
    assert_eq!(tool.call_id.as_deref(), Some(CALL_ID));
    assert_eq!(tool.turn_id.as_ref(), Some(&turn.turn_id));
    assert_eq!(tool.requester, model_of(calls[0]));
    assert_eq!(calls[0].tool_calls, vec![tool.tool_call_id.clone()]);
    ensure!(
        tool.output_items.len() == 1,
        "output items: {:?}",
        tool.output_items
    );
    ensure!(
        calls[1].request_items.contains(&tool.output_items[0]),
        "the second request does not carry the tool's output"
    );
    let output = &state.conversation_items[&tool.output_items[0]];
    assert_eq!(
        (output.call_id.as_deref(), output.text.as_str()),
        (Some(CALL_ID), TOOL_RESULT)
    );
    Ok(())
}

/// Records, checks, and on failure prints the whole trace, so a changed rig release is
/// diagnosable from the CI log.
fn record_and_check(
    around: Around,
    check: impl FnOnce(&RolloutState, &[Value]) -> Result<()>,
) -> Result<()> {
    let (state, trace, seen) = record(around)?;
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&state, &seen))) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => bail!("{e:#}\n--- trace.jsonl ---\n{trace}"),
        Err(panic) => {
            eprintln!("--- trace.jsonl ---\n{trace}");
            std::panic::resume_unwind(panic)
        }
    }
}

#[test]
fn a_rig_agent_with_one_tool_reduces_to_its_rollout_graph() -> Result<()> {
    record_and_check(Around::Nothing, |state, seen| {
        check(state, seen, Around::Nothing)
    })
}

/// The lead's graph: the weather agent is a child thread spawned by the lead's tool call,
/// with its own turn, inference calls, tool call and conversation.
fn check_lead(state: &RolloutState) -> Result<()> {
    no_warnings(state)?;
    ensure!(
        state.threads.len() == 2,
        "threads: {:?}",
        state.threads.keys()
    );
    let lead = &state.threads[state.root_thread_id.as_deref().context("no root thread")?];
    assert_eq!(lead.nickname.as_deref(), Some("lead"));
    let child = other_thread(state, lead)?;
    assert_eq!(
        child.parent_thread_id.as_deref(),
        Some(lead.thread_id.as_str())
    );
    let delegation = state
        .tool_calls
        .values()
        .find(|t| t.call_id.as_deref() == Some(LEAD_CALL_ID))
        .context("no delegation tool call")?;
    assert_eq!(delegation.thread_id.as_ref(), Some(&lead.thread_id));
    assert_eq!(delegation.spawned_threads, vec![child.thread_id.clone()]);
    let spawns: Vec<_> = state
        .edges
        .values()
        .filter(|e| e.kind == EdgeKind::Spawn)
        .map(|e| e.from.clone())
        .collect();
    assert_eq!(
        spawns,
        vec![Anchor::ToolCall(delegation.tool_call_id.clone())]
    );
    let weather = state
        .tool_calls
        .values()
        .find(|t| t.call_id.as_deref() == Some(CALL_ID))
        .context("no weather tool call")?;
    assert_eq!(weather.thread_id.as_ref(), Some(&child.thread_id));
    for (thread, calls) in [(lead, 2), (child, 2)] {
        let turn = only_turn(state, thread)?;
        assert_eq!(turn.inference_calls.len(), calls, "{}", thread.thread_id);
    }
    let prompt = json!({"prompt": "What is the weather in Paris?"}).to_string();
    assert_eq!(
        texts(state, lead),
        vec![
            "Delegate weather questions.".to_owned(),
            "Do I need an umbrella in Paris?".to_owned(),
            prompt,
            ANSWER.to_owned(),
            LEAD_ANSWER.to_owned(),
        ]
    );
    assert_eq!(
        texts(state, child),
        vec![
            "Answer in one short sentence.".to_owned(),
            "What is the weather in Paris?".to_owned(),
            r#"{"city":"Paris"}"#.to_owned(),
            TOOL_RESULT.to_owned(),
            ANSWER.to_owned(),
        ]
    );
    Ok(())
}

#[test]
fn a_rig_agent_used_as_a_tool_is_a_child_thread_spawned_by_that_tool_call() -> Result<()> {
    record_and_check(Around::ToolOfALead, |state, _| check_lead(state))
}

#[test]
fn a_rig_agent_inside_our_own_thread_and_turn_spans_reduces_to_the_same_graph() -> Result<()> {
    record_and_check(Around::OurThreadAndTurn, |state, seen| {
        check(state, seen, Around::OurThreadAndTurn)
    })
}
