//! Messages of every shape: Chat and Anthropic requests, their label, Anthropic blocks, and
//! empty messages.

use pretty_assertions::assert_eq;
use serde_json::json;

use crate::reduce::payloads::model::PayloadFormat;
use crate::reduce::payloads::parse_request;
use crate::reduce::payloads::test_support::{
    call, items, message, only_hash, output, reasoning, seen, Seen,
};
use crate::reduce::ItemKind;

#[test]
fn chat_request_with_text_tool_calls_and_tool_message_parses_in_order() -> anyhow::Result<()> {
    let body = json!({
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "sys"},
            {"role": "user", "content": [{"type": "text", "text": "weather?"}]},
            {"role": "assistant", "content": "checking", "tool_calls": [
                {"id": "call_a", "type": "function",
                 "function": {"name": "weather", "arguments": "{\"city\":\"Oslo\"}"}},
                {"id": "call_b", "type": "function",
                 "function": {"name": "time", "arguments": "{}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_a", "content": "rain"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_c", "type": "custom", "custom": {"name": "exec", "input": "x"}}
            ]},
            {"role": "tool", "tool_call_id": "call_c", "content": [{"type": "text", "text": "y"}]}
        ]
    });
    let request = parse_request(&body.to_string(), Some("openai"))?;
    assert_eq!(request.format, PayloadFormat::OpenAiChat);
    assert_eq!(
        seen(&request.items),
        vec![
            message("system", "sys"),
            message("user", "weather?"),
            message("assistant", "checking"),
            call("call_a", "weather", "{\"city\":\"Oslo\"}"),
            call("call_b", "time", "{}"),
            output("call_a", "rain"),
            Seen {
                kind: ItemKind::CustomToolCall,
                ..call("call_c", "exec", "x")
            },
            output("call_c", "y"),
        ]
    );
    Ok(())
}

#[test]
fn anthropic_request_splits_messages_at_tool_and_thinking_blocks() -> anyhow::Result<()> {
    let body = json!({
        "model": "claude-sonnet-4-5",
        "system": [{"type": "text", "text": "sys", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {"role": "user", "content": "list files"},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "use ls", "signature": "sig"},
                {"type": "text", "text": "sure"},
                {"type": "text", "text": "running"},
                {"type": "tool_use", "id": "toolu_1", "name": "shell", "input": {"cmd": "ls"}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "a.txt"},
                {"type": "text", "text": "thanks"}
            ]},
            {"role": "assistant", "content": [{"type": "redacted_thinking", "data": "opaque"}]}
        ]
    });
    let request = parse_request(&body.to_string(), None)?;
    assert_eq!(request.format, PayloadFormat::AnthropicMessages);
    assert_eq!(
        seen(&request.items),
        vec![
            message("system", "sys"),
            message("user", "list files"),
            reasoning("use ls"),
            message("assistant", "sure\nrunning"),
            call("toolu_1", "shell", "{\"cmd\":\"ls\"}"),
            output("toolu_1", "a.txt"),
            message("user", "thanks"),
            reasoning(""),
        ]
    );
    Ok(())
}

#[test]
fn plain_messages_are_chat_unless_the_provider_hint_says_anthropic() -> anyhow::Result<()> {
    let body = json!({"messages": [{"role": "user", "content": "hi"}]}).to_string();
    let chat = parse_request(&body, Some("openai"))?;
    let anthropic = parse_request(&body, Some("Anthropic"))?;
    assert_eq!(chat.format, PayloadFormat::OpenAiChat);
    assert_eq!(anthropic.format, PayloadFormat::AnthropicMessages);
    assert_eq!(chat.items, anthropic.items);
    Ok(())
}

#[test]
fn anthropic_thinking_signature_is_part_of_identity() -> anyhow::Result<()> {
    let thinking = |signature: &str| {
        json!([{"role": "assistant", "content": [
            {"type": "thinking", "thinking": "hmm", "signature": signature}
        ]}])
    };
    assert!(only_hash(thinking("a"))? != only_hash(thinking("b"))?);
    Ok(())
}

#[test]
fn an_empty_message_without_calls_is_still_an_item() -> anyhow::Result<()> {
    let parsed =
        items(json!([{"role": "user", "content": ""}, {"role": "assistant", "content": []}]))?;
    assert_eq!(
        seen(&parsed),
        vec![message("user", ""), message("assistant", "")]
    );
    Ok(())
}
