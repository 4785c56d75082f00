//! Chat Completions responses.

use pretty_assertions::assert_eq;
use serde_json::json;

use crate::reduce::payloads::model::PayloadFormat;
use crate::reduce::payloads::parse_response;
use crate::reduce::payloads::test_support::{call, head, seen};
use crate::reduce::Usage;

#[test]
fn chat_response_reads_the_first_choice_and_usage() -> anyhow::Result<()> {
    let body = json!({
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
            "role": "assistant", "content": null, "refusal": null,
            "tool_calls": [{"id": "call_x", "type": "function",
                            "function": {"name": "f", "arguments": "{\"a\": 1}"}}]
        }}],
        "usage": {
            "prompt_tokens": 50,
            "completion_tokens": 7,
            "prompt_tokens_details": {"cached_tokens": 30},
            "completion_tokens_details": {"reasoning_tokens": 3}
        }
    });
    let response = parse_response(&body.to_string(), None)?;
    assert_eq!(
        head(&response),
        (
            PayloadFormat::OpenAiChat,
            Some("chatcmpl-1"),
            Some(Usage {
                input_tokens: 50,
                output_tokens: 7,
                cached_input_tokens: 30,
                reasoning_tokens: 3,
                cache_write_input_tokens: 0,
            })
        )
    );
    assert_eq!(
        seen(&response.items),
        vec![call("call_x", "f", "{\"a\": 1}")]
    );
    Ok(())
}
