//! Payload shapes beyond plain request/response pairs, through the real layer: provider API
//! error bodies, hosted (provider-run) tools, streams, and the reference agent's newer items.
//! Each body says where it came from: the real-payload corpus (`shared/real-payloads/`, see
//! its `SOURCES.md`), or the provider's API reference (realistic, hand-assembled from the
//! documented shape).

mod support;

use pretty_assertions::assert_eq;
use serde_json::{json, Value};
use support::graph::model_of;
use support::layer::reduce;
use support::payloads::{inference, payload};
use support::spans::in_main_turn;
use tracing::info_span;
use tracing_rollout::reduce::{ItemKind, Requester, RolloutState, Status};

/// Records `f` in one thread and one turn (rollout `shapes`) and reduces the bundle.
fn shapes(f: impl FnOnce()) -> anyhow::Result<RolloutState> {
    reduce(|| in_main_turn("shapes", f))
}

/// One inference span (provider `provider`) with these payload bodies, as `&str`.
fn infer(provider: &str, request: &Value, response: &str) {
    inference("m", provider, &request.to_string(), Some(response));
}

/// The only inference call of a state.
fn only_inference(state: &RolloutState) -> anyhow::Result<&tracing_rollout::reduce::InferenceCall> {
    anyhow::ensure!(
        state.inference_calls.len() == 1,
        "{:?}",
        state.inference_calls
    );
    state
        .inference_calls
        .values()
        .next()
        .ok_or_else(|| anyhow::anyhow!("no inference call"))
}

#[test]
fn an_api_error_body_fails_the_inference_with_the_providers_type_and_message() -> anyhow::Result<()>
{
    // (provider, body, expected type, expected message). The OpenAI body is the corpus's
    // chat/developer-role-error-400.response.json (HTTP 400, pydantic-ai cassette); the
    // Anthropic one is the error shape of Anthropic's API reference ("Errors": HTTP 529); the
    // Responses one is a `status: failed` response as the Responses API reference documents it.
    let cases = [
        (
            "openai",
            json!({"error": {"code": "unsupported_value", "message": "Unsupported value: 'messages[0].role' does not support 'developer' with this model.", "param": "messages[0].role", "type": "invalid_request_error"}}),
            "invalid_request_error",
            "Unsupported value: 'messages[0].role' does not support 'developer' with this model.",
        ),
        (
            "anthropic",
            json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}, "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy"}),
            "overloaded_error",
            "Overloaded",
        ),
        (
            "openai",
            json!({"id": "resp_67ccd2bed1ec8190b14f964abc054267", "object": "response", "status": "failed", "error": {"code": "server_error", "message": "The model failed to generate a response."}, "output": [], "usage": null}),
            "server_error",
            "The model failed to generate a response.",
        ),
    ];
    for (provider, body, kind, message) in cases {
        let state = shapes(|| {
            infer(
                provider,
                &json!({"model": "m", "messages": [{"role": "user", "content": "Hello"}]}),
                &body.to_string(),
            )
        })?;
        let call = only_inference(&state)?;
        assert_eq!(
            (
                call.execution.status,
                call.error_type.as_deref(),
                call.execution.error.as_deref(),
                call.response_items.len(),
            ),
            (
                Status::Failed,
                Some(kind),
                Some(format!("{kind}: {message}").as_str()),
                0
            ),
            "{body}"
        );
        assert_eq!(state.diagnostics, vec![], "{body}");
    }
    Ok(())
}

#[test]
fn a_status_the_program_records_wins_over_the_error_body() -> anyhow::Result<()> {
    // The corpus's chat/developer-role-error-400 body again; the program retried and says so.
    let body = json!({"error": {"code": "unsupported_value", "message": "no", "type": "invalid_request_error"}});
    let state = shapes(|| {
        let span = info_span!(
            "rollout.inference",
            provider = "openai",
            status = "cancelled"
        );
        let _enter = span.enter();
        payload("response", &body.to_string());
    })?;
    assert_eq!(only_inference(&state)?.execution.status, Status::Cancelled);
    Ok(())
}

#[test]
fn a_hosted_web_search_is_a_tool_call_the_inference_requested_and_the_provider_ran(
) -> anyhow::Result<()> {
    // Trimmed from the corpus's responses/web-search-annotations-replay pair: the response's
    // web_search_call and message, then the next request replaying them (the client adds
    // `"sources": null` to the action).
    let response = json!({"id": "resp_1", "object": "response", "status": "completed", "output": [
        {"id": "ws_0a79", "type": "web_search_call", "status": "completed",
         "action": {"type": "search", "queries": ["Ethereum price on January 1, 2026"], "query": "Ethereum price on January 1, 2026"}},
        {"id": "msg_1", "type": "message", "status": "completed", "role": "assistant",
         "content": [{"type": "output_text", "annotations": [], "text": "About $2,970."}]}],
        "usage": {"input_tokens": 17668, "output_tokens": 711}});
    let user = json!({"role": "user", "content": "Look up the price of Ethereum on Jan 1, 2026"});
    let replay = json!({"model": "gpt-4o", "input": [user,
        {"id": "ws_0a79", "action": {"query": "Ethereum price on January 1, 2026", "type": "search",
         "queries": ["Ethereum price on January 1, 2026"], "sources": null}, "status": "completed", "type": "web_search_call"},
        {"id": "msg_1", "role": "assistant", "type": "message", "status": "completed",
         "content": [{"type": "output_text", "annotations": [], "text": "About $2,970."}]},
        {"role": "user", "content": "Thanks"}]});
    let state = shapes(|| {
        infer(
            "openai",
            &json!({"model": "gpt-4o", "input": [user]}),
            &response.to_string(),
        );
        let span = info_span!("rollout.inference", provider = "openai");
        let _enter = span.enter();
        payload("request", &replay.to_string());
    })?;
    let mut calls: Vec<_> = state.inference_calls.values().collect();
    calls.sort_by_key(|c| c.execution.started_seq);
    let first = &calls[0];
    let tool_id = format!("tool:{}/ws_0a79", first.inference_call_id);
    let tool = &state.tool_calls[&tool_id];
    let item = &first.response_items[0];
    assert_eq!(
        (
            tool.tool.as_deref(),
            tool.kind.as_deref(),
            tool.call_id.as_deref(),
            tool.runtime.as_deref(),
            &tool.requester,
            tool.execution.status,
            &tool.call_items,
            &tool.output_items,
        ),
        (
            Some("web_search"),
            Some("web_search_call"),
            Some("ws_0a79"),
            Some("provider"),
            &model_of(first),
            Status::Completed,
            &vec![item.clone()],
            &vec![item.clone()],
        )
    );
    assert_eq!(first.tool_calls, vec![tool_id.clone()]);
    assert!(state.turns["t1"].tool_calls.contains(&tool_id));
    let seen = &state.conversation_items[item];
    assert_eq!(
        (seen.kind, seen.text.as_str(), seen.status.as_deref()),
        (
            ItemKind::WebSearchCall,
            "search: Ethereum price on January 1, 2026",
            Some("completed")
        )
    );
    // The replay reuses the items and makes no second tool call.
    assert_eq!(
        state.request_items(calls[1])[1..3],
        first.response_items[..]
    );
    assert_eq!(state.tool_calls.len(), 1);
    assert_eq!(state.diagnostics, vec![]);
    Ok(())
}

#[test]
fn an_anthropic_server_tool_is_a_provider_run_tool_call_with_its_result_block_as_output(
) -> anyhow::Result<()> {
    // Trimmed from the corpus's anthropic/web-search-server-tool-thinking response (encrypted
    // content shortened), plus a second search that failed, its error block as Anthropic's web
    // search tool documentation shows it.
    let response = json!({"id": "msg_01", "type": "message", "role": "assistant", "model": "claude-sonnet-4-0",
        "content": [
            {"id": "srvtoolu_01Eo", "input": {"query": "San Francisco weather today"}, "name": "web_search", "type": "server_tool_use"},
            {"content": [{"encrypted_content": "EroT", "page_age": null, "title": "San Francisco, CA Weather", "type": "web_search_result", "url": "https://weather.com/sf"}],
             "tool_use_id": "srvtoolu_01Eo", "type": "web_search_tool_result"},
            {"id": "srvtoolu_02", "input": {"query": "SF forecast"}, "name": "web_search", "type": "server_tool_use"},
            {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_02",
             "content": {"type": "web_search_tool_result_error", "error_code": "max_uses_exceeded"}},
            {"text": "It is sunny.", "type": "text"}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 8984, "output_tokens": 520, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                  "server_tool_use": {"web_search_requests": 2}}});
    let state = shapes(|| {
        infer(
            "anthropic",
            &json!({"model": "claude-sonnet-4-0", "max_tokens": 1024,
                    "messages": [{"role": "user", "content": "What is the weather in San Francisco?"}],
                    "tools": [{"type": "web_search_20250305", "name": "web_search"}]}),
            &response.to_string(),
        )
    })?;
    let call = only_inference(&state)?;
    let [use1, result1, use2, result2, _text] = &call.response_items[..] else {
        anyhow::bail!("response items {:?}", call.response_items);
    };
    let summary = |call_id: &str| {
        let t = &state.tool_calls[&format!("tool:{}/{call_id}", call.inference_call_id)];
        (
            t.runtime.clone(),
            t.execution.status,
            t.call_items.clone(),
            t.output_items.clone(),
        )
    };
    let provider = Some("provider".to_owned());
    assert_eq!(
        summary("srvtoolu_01Eo"),
        (
            provider.clone(),
            Status::Completed,
            vec![use1.clone()],
            vec![result1.clone()]
        )
    );
    assert_eq!(
        summary("srvtoolu_02"),
        (
            provider,
            Status::Failed,
            vec![use2.clone()],
            vec![result2.clone()]
        )
    );
    assert_eq!(
        state.conversation_items[result2].text,
        "error: max_uses_exceeded"
    );
    assert_eq!(call.tool_calls.len(), 2);
    assert_eq!(state.diagnostics, vec![]);
    Ok(())
}

#[test]
fn a_computer_call_the_program_runs_links_like_a_function_call() -> anyhow::Result<()> {
    // The computer_call / computer_call_output shapes of OpenAI's computer-use guide (the
    // corpus has no recording of them; see its SOURCES.md), ids and screenshot shortened.
    let call = json!({"id": "cu_1", "type": "computer_call", "call_id": "call_cu1", "status": "completed",
        "action": {"type": "click", "button": "left", "x": 156, "y": 50}, "pending_safety_checks": []});
    let output = json!({"type": "computer_call_output", "call_id": "call_cu1",
        "output": {"type": "computer_screenshot", "image_url": "data:image/png;base64,iVBORw0KGgo="}});
    let user = json!({"role": "user", "content": "Open the docs"});
    let state = shapes(|| {
        infer(
            "openai",
            &json!({"model": "computer-use-preview", "input": [user]}),
            &json!({"id": "resp_1", "output": [call]}).to_string(),
        );
        let _tool = info_span!("rollout.tool", call_id = "call_cu1", tool = "computer").entered();
        drop(_tool);
        let span = info_span!("rollout.inference", provider = "openai");
        let _enter = span.enter();
        payload(
            "request",
            &json!({"model": "computer-use-preview", "input": [user, call, output]}).to_string(),
        );
    })?;
    let tool = state
        .tool_calls
        .values()
        .find(|t| t.call_id.as_deref() == Some("call_cu1"))
        .ok_or_else(|| anyhow::anyhow!("no tool call"))?;
    let kinds: Vec<_> = tool
        .call_items
        .iter()
        .chain(&tool.output_items)
        .map(|id| state.conversation_items[id].kind)
        .collect();
    assert_eq!(
        kinds,
        vec![ItemKind::ComputerCall, ItemKind::ComputerCallOutput]
    );
    assert!(matches!(
        &tool.requester,
        Requester::Model {
            inference_call_id: Some(_)
        }
    ));
    assert_eq!(tool.runtime, None);
    assert_eq!(state.diagnostics, vec![]);
    Ok(())
}

#[test]
fn an_inference_closed_with_a_request_and_no_response_is_incomplete_not_completed(
) -> anyhow::Result<()> {
    // The request of the corpus's responses/image-url-input pair, trimmed; the agent's future
    // was dropped before any response arrived and nothing recorded a status.
    let state = shapes(|| {
        let span = info_span!("rollout.inference", provider = "openai");
        let _enter = span.enter();
        payload(
            "request",
            &json!({"model": "gpt-4o", "input": [{"role": "user", "content": "hello"}]})
                .to_string(),
        );
    })?;
    assert_eq!(only_inference(&state)?.execution.status, Status::Incomplete);
    Ok(())
}

#[test]
fn an_anthropic_stream_that_errors_midway_fails_with_the_items_it_delivered() -> anyhow::Result<()>
{
    // SSE as Anthropic's "Streaming Messages" reference shows it (ids shortened), cut by the
    // `error` event the reference documents for an overloaded API.
    let sse = "event: message_start\n\
data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"claude-sonnet-4-0\",\"stop_reason\":null,\"usage\":{\"input_tokens\":25,\"output_tokens\":1}}}\n\n\
event: content_block_start\n\
data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n\
event: ping\n\
data: {\"type\": \"ping\"}\n\n\
event: content_block_delta\n\
data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello\"}}\n\n\
event: error\n\
data: {\"type\": \"error\", \"error\": {\"type\": \"overloaded_error\", \"message\": \"Overloaded\"}}\n\n";
    let state = shapes(|| {
        infer(
            "anthropic",
            &json!({"model": "claude-sonnet-4-0", "max_tokens": 64, "stream": true,
                    "messages": [{"role": "user", "content": "Hi"}]}),
            sse,
        )
    })?;
    let call = only_inference(&state)?;
    let texts: Vec<_> = call
        .response_items
        .iter()
        .map(|id| state.conversation_items[id].text.as_str())
        .collect();
    assert_eq!(
        (
            call.execution.status,
            call.error_type.as_deref(),
            texts,
            call.payload_format.as_deref()
        ),
        (
            Status::Failed,
            Some("overloaded_error"),
            vec!["Hello"],
            Some("anthropic_messages")
        )
    );
    assert_eq!(state.diagnostics, vec![]);
    Ok(())
}

#[test]
fn a_responses_stream_torn_midway_is_cancelled_with_what_it_delivered() -> anyhow::Result<()> {
    // Responses SSE in the shape of OpenAI's "Streaming events" reference (ids shortened): the
    // first message is done, a function call's arguments were streaming when the agent dropped
    // the connection, mid-event.
    let sse = "event: response.created\n\
data: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_1\",\"object\":\"response\",\"status\":\"in_progress\",\"output\":[],\"usage\":null}}\n\n\
event: response.output_item.added\n\
data: {\"type\":\"response.output_item.added\",\"output_index\":0,\"item\":{\"id\":\"msg_1\",\"type\":\"message\",\"status\":\"in_progress\",\"role\":\"assistant\",\"content\":[]}}\n\n\
event: response.output_text.delta\n\
data: {\"type\":\"response.output_text.delta\",\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0,\"delta\":\"Let me check.\"}\n\n\
event: response.output_item.done\n\
data: {\"type\":\"response.output_item.done\",\"output_index\":0,\"item\":{\"id\":\"msg_1\",\"type\":\"message\",\"status\":\"completed\",\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\",\"annotations\":[],\"text\":\"Let me check.\"}]}}\n\n\
event: response.output_item.added\n\
data: {\"type\":\"response.output_item.added\",\"output_index\":1,\"item\":{\"id\":\"fc_1\",\"type\":\"function_call\",\"status\":\"in_progress\",\"call_id\":\"call_1\",\"name\":\"get_weather\",\"arguments\":\"\"}}\n\n\
event: response.function_call_arguments.delta\n\
data: {\"type\":\"response.function_call_arguments.delta\",\"output_index\":1,\"delta\":\"{\\\"city\\\":\"}\n\n\
event: response.function_call_arguments.delta\n\
data: {\"type\":\"response.function_ca";
    let state = shapes(|| {
        infer(
            "openai",
            &json!({"model": "gpt-4o", "stream": true, "input": "Weather in Paris?"}),
            sse,
        )
    })?;
    let call = only_inference(&state)?;
    let items: Vec<_> = call
        .response_items
        .iter()
        .map(|id| {
            let i = &state.conversation_items[id];
            (i.kind, i.text.as_str())
        })
        .collect();
    assert_eq!(
        (call.execution.status, items, call.response_id.as_deref()),
        (
            Status::Cancelled,
            vec![
                (ItemKind::Message, "Let me check."),
                (ItemKind::FunctionCall, "{\"city\":")
            ],
            Some("resp_1")
        )
    );
    assert_eq!(state.diagnostics, vec![]);
    Ok(())
}
