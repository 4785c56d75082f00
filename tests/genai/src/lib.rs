//! What this crate's tests share: a mock of the OpenAI Chat Completions API on 127.0.0.1 (a
//! JSON reply, the same reply as Server-Sent Events when the request streams, or a 500), the
//! weather agent a genai user writes (genai performs no agent loop: the program opens the
//! `invoke_agent` and `execute_tool` spans with `genai::otel::agent`, genai opens the `chat`
//! spans), and a recorder that runs it under a fresh `RolloutLayer` and reduces every bundle.
//!
//! Invariant: a streamed reply says exactly what the JSON reply to the same request says (its
//! text and tool-call arguments split across deltas, then the finish reason, a usage chunk
//! and `[DONE]`), so a streamed run and a blocking run of the agent must reduce to the same
//! graph but for what only a stream has (time to first chunk).

#[path = "../../support/loopback.rs"]
mod loopback;

use std::future::Future;
use std::net::SocketAddr;

use anyhow::{Context as _, Result};
use futures::StreamExt;
use genai::adapter::AdapterKind;
use genai::chat::{
    ChatMessage, ChatOptions, ChatRequest, ChatStreamEvent, MessageContent, Tool, ToolResponse,
};
use genai::otel::agent::{execute_tool_span, set_genai_error, AgentSpan, ExecuteToolSpan};
use genai::resolver::{AuthData, Endpoint};
use genai::{Client, ModelIden, ServiceTarget};
pub use loopback::structure;
use loopback::{halves, saw, Answer, Seen};
use serde_json::{json, Value};
use tracing::Instrument;
use tracing_rollout::reduce::RolloutState;

/// The model every request names.
pub const MODEL: &str = "gpt-mock";
/// The weather call's id.
pub const CALL_ID: &str = "call_mock_weather_1";
/// The system prompt.
pub const PREAMBLE: &str = "Answer in one short sentence.";
/// The question.
pub const PROMPT: &str = "What is the weather in Paris?";
/// A question the mock answers with a 500.
pub const FAILING_PROMPT: &str = "Make the server fail.";
/// What the model says before it calls the tool.
pub const PREFACE: &str = "Let me check.";
/// The agent's answer.
pub const ANSWER: &str = "It is rainy in Paris, 14°C.";
/// What the weather tool returns for Paris.
pub const TOOL_RESULT: &str = "rainy, 14°C";
/// Input, output and cache-read tokens of the first and second reply.
pub const FIRST_USAGE: (u64, u64, u64) = (31, 7, 4);
/// See [`FIRST_USAGE`].
pub const SECOND_USAGE: (u64, u64, u64) = (52, 9, 30);

/// The mock's reply to a request, as `(finish reason, message, usage)`: a tool call (after a
/// short preface) until the request carries the tool's output, then the answer; `None` for a
/// request the mock fails with a 500.
pub fn reply(request: &Value) -> Option<(&'static str, Value, Value)> {
    let messages = request["messages"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    let says = |text: &str| messages.iter().any(|m| m["content"] == text);
    if says(FAILING_PROMPT) {
        return None;
    }
    let usage = |(input, output, cached): (u64, u64, u64)| {
        json!({"prompt_tokens": input, "completion_tokens": output,
            "total_tokens": input + output, "prompt_tokens_details": {"cached_tokens": cached}})
    };
    Some(if messages.iter().any(|m| m["role"] == "tool") {
        let message = json!({"role": "assistant", "content": ANSWER});
        ("stop", message, usage(SECOND_USAGE))
    } else {
        let call = json!({"id": CALL_ID, "type": "function",
            "function": {"name": "get_weather", "arguments": r#"{"city":"Paris"}"#}});
        let message = json!({"role": "assistant", "content": PREFACE, "tool_calls": [call]});
        ("tool_calls", message, usage(FIRST_USAGE))
    })
}

/// The JSON reply.
fn completion(finish: &str, message: &Value, usage: &Value) -> String {
    json!({
        "id": "chatcmpl-mock", "object": "chat.completion", "created": 1_760_000_000,
        "model": MODEL, "usage": usage,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
    })
    .to_string()
}

/// The same reply as Server-Sent Events: the role, the text in two deltas, the tool call's
/// name and then its arguments in two deltas, the finish reason, a usage chunk, `[DONE]`.
pub fn sse(finish: &str, message: &Value, usage: &Value) -> String {
    let chunk = |delta: Value, finish: Value| {
        json!({"id": "chatcmpl-mock", "object": "chat.completion.chunk",
            "created": 1_760_000_000, "model": MODEL,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    };
    let mut chunks = vec![chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    )];
    for piece in halves(message["content"].as_str().unwrap_or_default()) {
        chunks.push(chunk(json!({"content": piece}), Value::Null));
    }
    for (index, call) in message["tool_calls"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let head = json!({"index": index, "id": call["id"], "type": "function",
            "function": {"name": call["function"]["name"], "arguments": ""}});
        chunks.push(chunk(json!({"tool_calls": [head]}), Value::Null));
        let arguments = call["function"]["arguments"].as_str().unwrap_or_default();
        for piece in halves(arguments) {
            let delta = json!({"index": index, "function": {"arguments": piece}});
            chunks.push(chunk(json!({"tool_calls": [delta]}), Value::Null));
        }
    }
    chunks.push(chunk(json!({}), json!(finish)));
    chunks.push(
        json!({"id": "chatcmpl-mock", "object": "chat.completion.chunk",
        "created": 1_760_000_000, "model": MODEL, "choices": [], "usage": usage}),
    );
    let mut events: String = chunks.iter().map(|c| format!("data: {c}\n\n")).collect();
    events.push_str("data: [DONE]\n\n");
    events
}

/// Answers one request: [`reply`] to a `POST /v1/chat/completions` (as [`sse`] when it
/// streams, a 500 when the mock fails it), a 404 to anything else.
fn answer(head: &str, body: &[u8], seen: &Seen) -> Result<Answer> {
    if !head.starts_with("POST /v1/chat/completions ") {
        let error = json!({"error": {"message": head}}).to_string();
        return Ok(("404 Not Found", "application/json", error));
    }
    let request: Value = serde_json::from_slice(body)?;
    let streams = request["stream"] == json!(true);
    let reply = reply(&request);
    saw(seen, request)?;
    Ok(match reply {
        None => {
            let error = json!({"error": {"message": "the mock failed", "type": "server_error"}});
            (
                "500 Internal Server Error",
                "application/json",
                error.to_string(),
            )
        }
        Some((finish, message, usage)) if streams => {
            ("200 OK", "text/event-stream", sse(finish, &message, &usage))
        }
        Some((finish, message, usage)) => (
            "200 OK",
            "application/json",
            completion(finish, &message, &usage),
        ),
    })
}

/// The target genai sends to for the mock at `address`: the OpenAI adapter, the mock's
/// `/v1/`, a dummy key.
fn target(address: SocketAddr) -> ServiceTarget {
    ServiceTarget {
        endpoint: Endpoint::from_owned(format!("http://{address}/v1/")),
        auth: AuthData::from_single("sk-test"),
        model: ModelIden::new(AdapterKind::OpenAI, MODEL),
    }
}

/// The weather tool: its definition, and what it returns.
fn weather_tool() -> Tool {
    Tool::new("get_weather")
        .with_description("The current weather in a city")
        .with_schema(json!({
            "type": "object",
            "properties": {"city": {"type": "string", "description": "The city"}},
            "required": ["city"],
        }))
}

fn weather(arguments: &Value) -> String {
    match arguments["city"].as_str() {
        Some("Paris") => TOOL_RESULT.to_owned(),
        other => format!("no weather for {other:?}"),
    }
}

/// How the agent calls the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `Client::exec_chat`.
    Blocking,
    /// `Client::exec_chat_stream`, read to its end.
    Streamed,
}

/// One model call: the assistant message it answered with.
async fn ask(
    client: &Client,
    target: &ServiceTarget,
    request: &ChatRequest,
    mode: Mode,
) -> genai::Result<MessageContent> {
    let options = ChatOptions::default()
        .with_capture_usage(true)
        .with_capture_content(true)
        .with_capture_tool_calls(true);
    let (target, request) = (target.clone(), request.clone());
    if mode == Mode::Blocking {
        return Ok(client
            .exec_chat(target, request, Some(&options))
            .await?
            .content);
    }
    let mut stream = client
        .exec_chat_stream(target, request, Some(&options))
        .await?
        .stream;
    let mut content = MessageContent::default();
    while let Some(event) = stream.next().await {
        if let ChatStreamEvent::End(end) = event? {
            content = end.captured_content.unwrap_or_default();
        }
    }
    Ok(content)
}

/// The weather agent a genai user writes: an `invoke_agent` span (its name recorded after it
/// starts), then model calls and the tools they ask for, each in an `execute_tool` span,
/// until the model answers; a failure marks the agent span failed.
pub async fn weather_agent(target: ServiceTarget, prompt: &str, mode: Mode) -> Result<String> {
    let client = Client::new()?;
    let agent = AgentSpan::invoke_agent().internal().start();
    agent.record("gen_ai.agent.name", "weather-bot");
    let run: genai::Result<String> = async {
        let mut request = ChatRequest::new(vec![
            ChatMessage::system(PREAMBLE),
            ChatMessage::user(prompt),
        ])
        .with_tools(vec![weather_tool()]);
        for _ in 0..4 {
            let content = ask(&client, &target, &request, mode).await?;
            let calls: Vec<_> = content.tool_calls().into_iter().cloned().collect();
            if calls.is_empty() {
                return Ok(content.joined_texts().unwrap_or_default());
            }
            request = request.append_message(ChatMessage::assistant(content));
            for call in calls {
                let span = execute_tool_span(&call);
                let result = span.in_scope(|| weather(&call.fn_arguments));
                ExecuteToolSpan::record_result(&span, &result);
                request = request.append_message(ToolResponse::new(call.call_id, result));
            }
        }
        Ok(String::new())
    }
    .instrument(agent.clone())
    .await;
    if let Err(error) = &run {
        set_genai_error(&agent, error);
    }
    run.context("run the weather agent")
}

/// What one recorded run left (see `loopback::Recorded`); the answer is the run's outcome.
pub type Recorded = loopback::Recorded<Result<String>>;

/// Runs `run` (given the mock's target) on a fresh runtime under a fresh `RolloutLayer`,
/// finishes the guard, and reduces every bundle written.
pub fn record<F, Fut>(run: F) -> Result<Recorded>
where
    F: FnOnce(ServiceTarget) -> Fut,
    Fut: Future<Output = Result<String>>,
{
    loopback::record(answer, |address| run(target(address)))
}

/// The graph of a run that answered [`ANSWER`] (an error naming what went wrong otherwise).
pub fn answered_graph(recorded: &Recorded) -> Result<&RolloutState> {
    match &recorded.answer {
        Ok(answer) if answer == ANSWER => recorded.only_graph(),
        Ok(answer) => anyhow::bail!("the agent answered {answer:?}"),
        Err(e) => anyhow::bail!("the agent failed: {e:#}"),
    }
}

/// The [`structure`] the weather agent's run must have: `content` says whether content was
/// captured (without it the tool call is attributed to the first inference by order).
pub fn expected_structure(mode: Mode, content: bool) -> Value {
    let streamed = mode == Mode::Streamed;
    let call = |usage: (u64, u64, u64), finish: &str| {
        json!({
            "model": MODEL, "provider": "openai", "status": "completed", "error": null,
            "usage": [usage.0, usage.1, usage.2], "finish_reasons": [finish],
            "first_chunk": streamed,
        })
    };
    let tool = json!({"tool": "get_weather", "call_id": CALL_ID, "status": "completed",
        "asked_by": 0, "inferred": !content});
    let turn = json!({"status": "completed",
        "inferences": [call(FIRST_USAGE, "tool_calls"), call(SECOND_USAGE, "stop")],
        "tools": [tool]});
    json!({"status": "completed",
        "threads": [{"nickname": "weather-bot", "status": "completed", "turns": [turn]}]})
}

/// The [`structure`] of a run whose one model call got a 500: genai's `error.type` is the
/// HTTP status for a blocking call, `web_stream` for a stream whose response failed.
pub fn failed_structure(mode: Mode) -> Value {
    let error = match mode {
        Mode::Blocking => "500",
        Mode::Streamed => "web_stream",
    };
    let call = json!({"model": MODEL, "provider": "openai", "status": "failed", "error": error,
        "usage": null, "finish_reasons": [], "first_chunk": false});
    let turn = json!({"status": "failed", "inferences": [call], "tools": []});
    json!({"status": "failed",
        "threads": [{"nickname": "weather-bot", "status": "failed", "turns": [turn]}]})
}
