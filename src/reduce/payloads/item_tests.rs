//! Item identity: what the canonical content hash ignores and what it tells apart.

use pretty_assertions::assert_eq;
use serde_json::json;

use crate::reduce::payloads::test_support::{items, message, only_hash, seen};

#[test]
fn equal_content_in_different_representations_hashes_equal() -> anyhow::Result<()> {
    let pairs = [
        (
            json!([{"role": "user", "content": "hi"}]),
            json!([{"role": "user", "content": [{"type": "text", "text": "hi"}]}]),
        ),
        (
            json!([{"type": "message", "role": "assistant",
                    "content": [{"type": "input_text", "text": "done"}]}]),
            json!([{"type": "message", "role": "assistant", "id": "msg_1", "status": "completed",
                    "content": [{"type": "output_text", "text": "done", "annotations": []}]}]),
        ),
        (
            json!([{"type": "function_call", "call_id": "c", "name": "f",
                    "arguments": "{\"b\": 2, \"a\": [1, 2]}"}]),
            json!([{"role": "assistant", "content": [
                {"type": "tool_use", "id": "c", "name": "f", "input": {"a": [1, 2], "b": 2}}
            ]}]),
        ),
        (
            json!([{"role": "assistant", "content": "", "tool_calls": [{"id": "c", "type": "function",
                    "function": {"name": "f", "arguments": "{\"a\":[1,2],\"b\":2}"}}]}]),
            json!([{"type": "function_call", "call_id": "c", "name": "f",
                    "arguments": "{\n  \"a\": [1, 2],\n  \"b\": 2\n}"}]),
        ),
        (
            json!([{"role": "tool", "tool_call_id": "c", "content": "ok"}]),
            json!([{"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "c",
                 "content": [{"type": "text", "text": "ok"}], "cache_control": {"type": "ephemeral"}}
            ]}]),
        ),
        (
            json!([{"type": "function_call_output", "call_id": "c", "output": "ok"}]),
            json!([{"role": "tool", "tool_call_id": "c", "content": [{"type": "text", "text": "ok"}]}]),
        ),
        (
            json!([{"role": "user", "content": [
                {"type": "image", "source": {"type": "base64", "data": "AAAA"}}
            ]}]),
            json!([{"role": "user", "content": [
                {"type": "image", "source": {"type": "base64", "data": "AAAA"},
                 "cache_control": {"type": "ephemeral"}}
            ]}]),
        ),
    ];
    for (left, right) in pairs {
        assert_eq!(
            only_hash(left.clone())?,
            only_hash(right.clone())?,
            "{left} vs {right}"
        );
    }
    Ok(())
}

#[test]
fn different_items_hash_different() -> anyhow::Result<()> {
    let variants = [
        json!([{"role": "user", "content": "hi"}]),
        json!([{"role": "assistant", "content": "hi"}]),
        json!([{"role": "user", "content": "hi!"}]),
        json!([{"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"}]),
        json!([{"type": "function_call", "call_id": "d", "name": "f", "arguments": "{}"}]),
        json!([{"type": "function_call", "call_id": "c", "name": "g", "arguments": "{}"}]),
        json!([{"type": "custom_tool_call", "call_id": "c", "name": "f", "input": "{}"}]),
        json!([{"type": "function_call_output", "call_id": "c", "output": "{}"}]),
        json!([{"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "c", "content": "{}", "is_error": true}
        ]}]),
        json!([{"type": "web_search_call", "id": "ws_1", "status": "completed"}]),
    ];
    let mut hashes = Vec::new();
    for variant in variants {
        hashes.push(only_hash(variant)?);
    }
    let mut unique = hashes.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), hashes.len());
    Ok(())
}

#[test]
fn long_arguments_sharing_a_240_byte_prefix_hash_different() -> anyhow::Result<()> {
    let prefix = "é".repeat(150);
    let arguments = |tail: &str| json!({"text": format!("{prefix}{tail}")}).to_string();
    let call = |arguments: String| json!([{"type": "function_call", "call_id": "c", "name": "write", "arguments": arguments}]);
    let first = items(call(arguments("one")))?;
    let second = items(call(arguments("two")))?;
    assert_eq!(first[0].text, arguments("one"));
    assert!(first[0].content_hash != second[0].content_hash);
    Ok(())
}

#[test]
fn images_compare_by_their_full_content() -> anyhow::Result<()> {
    let with_image = |url: &str| {
        json!([{"role": "user", "content": [
            {"type": "input_text", "text": "what is this?"},
            {"type": "input_image", "image_url": url, "detail": "auto"}
        ]}])
    };
    let cat = only_hash(with_image("data:image/png;base64,Q0FU"))?;
    assert_eq!(cat, only_hash(with_image("data:image/png;base64,Q0FU"))?);
    assert!(cat != only_hash(with_image("data:image/png;base64,RE9H"))?);
    assert!(cat != only_hash(json!([{"role": "user", "content": "what is this?"}]))?);
    let parsed = items(with_image("data:image/png;base64,Q0FU"))?;
    assert_eq!(seen(&parsed), vec![message("user", "what is this?")]);
    Ok(())
}
