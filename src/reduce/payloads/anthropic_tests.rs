//! Anthropic Messages responses.

use pretty_assertions::assert_eq;
use serde_json::json;

use crate::reduce::payloads::model::PayloadFormat;
use crate::reduce::payloads::parse_response;
use crate::reduce::payloads::test_support::{call, head, message, seen};
use crate::reduce::Usage;

#[test]
fn anthropic_response_counts_cached_tokens_as_part_of_the_input() -> anyhow::Result<()> {
    let body = json!({
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [
            {"type": "text", "text": "let me look"},
            {"type": "tool_use", "id": "toolu_9", "name": "read", "input": {"path": "a"}}
        ],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 12, "cache_creation_input_tokens": 8,
                  "cache_read_input_tokens": 1000, "output_tokens": 30}
    });
    let response = parse_response(&body.to_string(), Some("anthropic"))?;
    assert_eq!(
        head(&response),
        (
            PayloadFormat::AnthropicMessages,
            Some("msg_01"),
            Some(Usage {
                input_tokens: 1020,
                output_tokens: 30,
                cached_input_tokens: 1000,
                reasoning_tokens: 0,
                cache_write_input_tokens: 8,
            })
        )
    );
    assert_eq!(
        seen(&response.items),
        vec![
            message("assistant", "let me look"),
            call("toolu_9", "read", "{\"path\":\"a\"}"),
        ]
    );
    Ok(())
}
