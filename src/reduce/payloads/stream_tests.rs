//! Streamed responses assembled into the bodies they stand for.

use pretty_assertions::assert_eq;
use serde_json::json;

use crate::reduce::payloads::model::PayloadFormat;
use crate::reduce::payloads::parse_response;
use crate::reduce::payloads::test_support::{call, message, seen};

#[test]
fn a_stream_whose_terminal_event_has_no_output_keeps_the_streamed_items() -> anyhow::Result<()> {
    // Some proxies send `response.completed` with `output: []` after the items (the shape of
    // OpenAI's streaming events otherwise).
    let events = json!([
        {"type": "response.created", "response": {"id": "resp_1", "output": []}},
        {"type": "response.output_item.added", "output_index": 0,
         "item": {"type": "message", "role": "assistant", "content": []}},
        {"type": "response.output_text.delta", "output_index": 0, "content_index": 0, "delta": "Hel"},
        {"type": "response.output_text.delta", "output_index": 0, "content_index": 0, "delta": "lo"},
        {"type": "response.completed", "response": {"id": "resp_1", "output": [],
         "usage": {"input_tokens": 5, "output_tokens": 2}}},
    ]);
    let response = parse_response(&events.to_string(), None)?;
    assert_eq!(seen(&response.items), vec![message("assistant", "Hello")]);
    assert_eq!(
        (
            response.ended_early,
            response.usage.map(|u| u.output_tokens)
        ),
        (false, Some(2))
    );
    Ok(())
}

#[test]
fn chat_sse_with_split_data_lines_and_done_assembles_tool_calls() -> anyhow::Result<()> {
    // `chat.completion.chunk`s as OpenAI streams them, one event's data split over two
    // `data:` lines (SSE joins them with a newline, which JSON allows as whitespace).
    let sse = "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"index\":0,\"id\":\"call_1\",\"type\":\"function\",\"function\":{\"name\":\"ls\",\"arguments\":\"\"}}]},\"finish_reason\":null}]}\n\n\
data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\n\
data: \"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{\\\"path\\\": \\\".\\\"}\"}}]},\"finish_reason\":null}]}\n\n\
data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n\
data: [DONE]\n\n";
    let response = parse_response(&serde_json::to_string(sse)?, None)?;
    assert_eq!(
        seen(&response.items),
        vec![call("call_1", "ls", "{\"path\": \".\"}")]
    );
    assert_eq!(
        (
            response.format,
            response.response_id.as_deref(),
            response.ended_early
        ),
        (PayloadFormat::OpenAiChat, Some("c1"), false)
    );
    Ok(())
}
