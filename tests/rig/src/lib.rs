//! What this crate's tests share: a mock of the OpenAI Responses API on 127.0.0.1 (a JSON
//! reply, or the same reply as Server-Sent Events when the request asks to stream), rig's
//! weather tool, and a recorder that runs rig under a fresh `RolloutLayer` and reduces every
//! bundle it wrote.
//!
//! Invariant: a streamed reply says exactly what the JSON reply to the same request says (the
//! SSE events are cut from it: item by item, arguments and text split across deltas, then
//! `response.completed` with the whole response), so a streamed run and a blocking run of one
//! agent must reduce to the same graph.

#[path = "../../support/loopback.rs"]
mod loopback;

use std::future::Future;

use anyhow::Result;
pub use loopback::structure;
use loopback::{halves, saw, Answer, Seen};
use rig_agent::prelude::*;
use rig_agent::tool::{Tool, ToolContext};
use rig_core::providers::openai::OpenAIConfig;
use serde_json::{json, Value};

/// The model every request names.
pub const MODEL: &str = "gpt-mock";
/// The weather call's id.
pub const CALL_ID: &str = "call_mock_weather_1";
/// Input and output tokens of the first and second reply to the weather agent.
pub const FIRST_USAGE: (u64, u64) = (31, 7);
/// See [`FIRST_USAGE`].
pub const SECOND_USAGE: (u64, u64) = (52, 9);
/// The weather agent's answer (and the answer to a request offering no tool).
pub const ANSWER: &str = "It is rainy in Paris, 14°C.";
/// What the weather tool returns for Paris.
pub const TOOL_RESULT: &str = "rainy, 14°C";
/// The lead agent's one tool: the weather agent.
pub const LEAD_TOOL: &str = "forecaster";
/// The lead's delegation call id.
pub const LEAD_CALL_ID: &str = "call_mock_lead_1";
/// The lead's answer.
pub const LEAD_ANSWER: &str = "Take an umbrella.";
/// The response id of the answer to a request offering no tool (a bare model call).
pub const BARE_RESPONSE_ID: &str = "resp_bare_1";

/// The weather agent on the mock at `base_url`: named, with its preamble and the weather
/// tool, content telemetry on.
pub fn weather_agent(base_url: String) -> Agent {
    let client = OpenAIConfig::new("sk-test")
        .with_base_url(base_url)
        .client();
    AgentBuilder::new(client.responses(MODEL))
        .name("weather-bot")
        .preamble("Answer in one short sentence.")
        .tool(Weather)
        .record_content_telemetry(true)
        .build()
}

/// The one tool.
#[derive(Debug)]
pub struct Weather;

/// The weather tool's arguments.
#[derive(Debug, serde::Deserialize)]
pub struct WeatherArgs {
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

fn usage((input, output): (u64, u64)) -> Value {
    json!({
        "input_tokens": input,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input + output,
    })
}

fn message(id: &str, text: &str) -> Value {
    json!({
        "type": "message", "id": id, "status": "completed", "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    })
}

fn function_call(id: &str, call_id: &str, name: &str, arguments: &str) -> Value {
    json!({
        "type": "function_call", "id": id, "status": "completed",
        "call_id": call_id, "name": name, "arguments": arguments,
    })
}

/// The mock's reply to a request: a tool call until the request carries the tool's output,
/// then the answer; a request that offers no tool (a bare model call) gets the answer.
pub fn reply(request: &Value) -> Value {
    let tools = request["tools"].as_array().map_or(&[][..], Vec::as_slice);
    let offers = |name: &str| tools.iter().any(|tool| tool["name"] == name);
    let answered = request["input"].as_array().is_some_and(|items| {
        items
            .iter()
            .any(|item| item["type"] == "function_call_output")
    });
    let (id, output, usage) = if tools.is_empty() {
        let answer = message("msg_bare_1", ANSWER);
        (BARE_RESPONSE_ID, answer, usage(FIRST_USAGE))
    } else if offers(LEAD_TOOL) {
        if answered {
            let answer = message("msg_lead_2", LEAD_ANSWER);
            ("resp_lead_2", answer, usage((70, 5)))
        } else {
            let arguments = json!({"prompt": "What is the weather in Paris?"}).to_string();
            let call = function_call("fc_lead_1", LEAD_CALL_ID, LEAD_TOOL, &arguments);
            ("resp_lead_1", call, usage((40, 8)))
        }
    } else if answered {
        let answer = message("msg_mock_2", ANSWER);
        ("resp_mock_2", answer, usage(SECOND_USAGE))
    } else {
        let call = function_call("fc_mock_1", CALL_ID, "get_weather", r#"{"city":"Paris"}"#);
        ("resp_mock_1", call, usage(FIRST_USAGE))
    };
    json!({
        "id": id, "object": "response", "created_at": 1_760_000_000, "status": "completed",
        "model": MODEL, "output": [output], "usage": usage,
        "parallel_tool_calls": true, "tool_choice": "auto", "tools": [],
    })
}

/// The events one output item streams as: added (empty), its text or arguments in two
/// deltas, done, and the item done.
fn item_events(index: usize, item: &Value, events: &mut Vec<Value>) {
    let id = item["id"].clone();
    let mut empty = item.clone();
    if item["type"] == "function_call" {
        empty["arguments"] = json!("");
        events.push(
            json!({"type": "response.output_item.added", "output_index": index, "item": empty}),
        );
        let arguments = item["arguments"].as_str().unwrap_or_default();
        for delta in halves(arguments) {
            events.push(json!({"type": "response.function_call_arguments.delta",
                "output_index": index, "item_id": id, "delta": delta}));
        }
        events.push(json!({"type": "response.function_call_arguments.done",
            "output_index": index, "item_id": id, "arguments": arguments}));
    } else {
        empty["content"] = json!([]);
        empty["status"] = json!("in_progress");
        events.push(
            json!({"type": "response.output_item.added", "output_index": index, "item": empty}),
        );
        let part = json!({"type": "output_text", "text": "", "annotations": []});
        events.push(
            json!({"type": "response.content_part.added", "output_index": index,
            "item_id": id, "content_index": 0, "part": part}),
        );
        let text = item["content"][0]["text"].as_str().unwrap_or_default();
        for delta in halves(text) {
            events.push(
                json!({"type": "response.output_text.delta", "output_index": index,
                "item_id": id, "content_index": 0, "delta": delta}),
            );
        }
        events.push(
            json!({"type": "response.output_text.done", "output_index": index,
            "item_id": id, "content_index": 0, "text": text}),
        );
    }
    events.push(json!({"type": "response.output_item.done", "output_index": index, "item": item}));
}

/// `response` as the Server-Sent Events of a streamed reply.
pub fn sse(response: &Value) -> String {
    let mut started = response.clone();
    started["status"] = json!("in_progress");
    started["output"] = json!([]);
    let mut events = vec![json!({"type": "response.created", "response": started})];
    let output = response["output"].as_array().map_or(&[][..], Vec::as_slice);
    for (index, item) in output.iter().enumerate() {
        item_events(index, item, &mut events);
    }
    events.push(json!({"type": "response.completed", "response": response}));
    events
        .iter()
        .enumerate()
        .map(|(n, event)| {
            let mut event = event.clone();
            event["sequence_number"] = json!(n);
            format!(
                "event: {}\ndata: {event}\n\n",
                event["type"].as_str().unwrap_or("")
            )
        })
        .collect()
}

/// Answers one request: [`reply`] to a `POST …/responses` (as [`sse`] when it streams), a
/// 404 to anything else.
fn answer(head: &str, body: &[u8], seen: &Seen) -> Result<Answer> {
    if !(head.starts_with("POST ") && head.contains("/responses ")) {
        let error = json!({"error": {"message": head}}).to_string();
        return Ok(("404 Not Found", "application/json", error));
    }
    let request: Value = serde_json::from_slice(body)?;
    let response = reply(&request);
    let streams = request["stream"] == json!(true);
    saw(seen, request)?;
    Ok(match streams {
        true => ("200 OK", "text/event-stream", sse(&response)),
        false => ("200 OK", "application/json", response.to_string()),
    })
}

/// What one recorded run left (see `loopback::Recorded`); the answer is the run's output.
pub type Recorded = loopback::Recorded<String>;

/// Runs `run` (given the mock's base URL) on a fresh runtime under a fresh `RolloutLayer`,
/// finishes the guard, and reduces every bundle written; a run that fails fails this.
pub fn record<F, Fut>(run: F) -> Result<Recorded>
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = Result<String>>,
{
    let recorded = loopback::record(answer, |address| run(format!("http://{address}/v1")))?;
    Ok(Recorded {
        answer: recorded.answer?,
        states: recorded.states,
        traces: recorded.traces,
        seen: recorded.seen,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_streamed_reply_ends_with_the_whole_json_reply_and_splits_its_arguments() -> Result<()> {
        let request = json!({"tools": [{"name": "get_weather"}], "input": []});
        let response = reply(&request);
        let events: Vec<Value> = sse(&response)
            .split("\n\n")
            .filter_map(|event| event.lines().find_map(|l| l.strip_prefix("data: ")))
            .map(serde_json::from_str)
            .collect::<Result<_, _>>()?;
        let deltas: Vec<_> = events
            .iter()
            .filter(|e| e["type"] == "response.function_call_arguments.delta")
            .map(|e| e["delta"].as_str().unwrap_or_default().to_owned())
            .collect();
        assert_eq!(deltas.len(), 2);
        assert_eq!(deltas.concat(), r#"{"city":"Paris"}"#);
        let last = events.last().map(|e| e["response"].clone());
        assert_eq!(last, Some(response));
        Ok(())
    }
}
