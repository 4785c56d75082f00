//! Responses bodies and the shared item lists: requests, responses with their usage, typed
//! items (reasoning, unknown types), and lists mixing every shape.

use pretty_assertions::assert_eq;
use serde_json::json;

use crate::reduce::payloads::model::PayloadFormat;
use crate::reduce::payloads::test_support::{
    call, head, items, message, only_hash, output, reasoning, seen, Seen,
};
use crate::reduce::payloads::{parse_request, parse_response};
use crate::reduce::{ItemKind, Usage};

#[test]
fn responses_request_with_text_tool_call_and_output_parses_in_order() -> anyhow::Result<()> {
    let body = json!({
        "model": "gpt-5",
        "instructions": "be brief",
        "input": [
            {"role": "developer", "content": "rules"},
            {"type": "message", "role": "user", "content": [
                {"type": "input_text", "text": "list files"},
                {"type": "input_text", "text": "please"}
            ]},
            {"type": "function_call", "call_id": "call_1", "name": "shell",
             "arguments": "{\"cmd\":\"ls\"}"},
            {"type": "function_call_output", "call_id": "call_1", "output": "a.txt"},
            {"type": "custom_tool_call", "call_id": "call_2", "name": "exec", "input": "1+1"},
            {"type": "custom_tool_call_output", "call_id": "call_2",
             "output": [{"type": "input_text", "text": "2"}]}
        ]
    });
    let request = parse_request(&body.to_string(), Some("openai"))?;
    assert_eq!(request.format, PayloadFormat::OpenAiResponses);
    assert_eq!(request.previous_response_id, None);
    assert_eq!(
        seen(&request.items),
        vec![
            message("developer", "rules"),
            message("user", "list files\nplease"),
            call("call_1", "shell", "{\"cmd\":\"ls\"}"),
            output("call_1", "a.txt"),
            Seen {
                kind: ItemKind::CustomToolCall,
                ..call("call_2", "exec", "1+1")
            },
            Seen {
                kind: ItemKind::CustomToolCallOutput,
                ..output("call_2", "2")
            },
        ]
    );
    Ok(())
}

#[test]
fn responses_request_with_string_input_is_one_user_message() -> anyhow::Result<()> {
    let request = parse_request(r#"{"input": "hello"}"#, None)?;
    assert_eq!(seen(&request.items), vec![message("user", "hello")]);
    Ok(())
}

#[test]
fn previous_response_id_is_extracted_from_an_incremental_request() -> anyhow::Result<()> {
    let body = json!({
        "previous_response_id": "resp_1",
        "input": [{"type": "function_call_output", "call_id": "c", "output": "ok"}]
    });
    let request = parse_request(&body.to_string(), None)?;
    assert_eq!(request.previous_response_id.as_deref(), Some("resp_1"));
    assert_eq!(seen(&request.items), vec![output("c", "ok")]);
    Ok(())
}

#[test]
fn responses_response_carries_items_id_and_usage() -> anyhow::Result<()> {
    let body = json!({
        "id": "resp_9",
        "object": "response",
        "output": [
            {"type": "reasoning", "id": "rs_1",
             "summary": [{"type": "summary_text", "text": "thinking about it"}]},
            {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
             "content": [{"type": "output_text", "text": "done", "annotations": []}]},
            {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "shell",
             "arguments": "{}"}
        ],
        "usage": {
            "input_tokens": 100,
            "input_tokens_details": {"cached_tokens": 40},
            "output_tokens": 20,
            "output_tokens_details": {"reasoning_tokens": 5},
            "total_tokens": 120
        }
    });
    let response = parse_response(&body.to_string(), None)?;
    assert_eq!(
        head(&response),
        (
            PayloadFormat::OpenAiResponses,
            Some("resp_9"),
            Some(Usage {
                input_tokens: 100,
                output_tokens: 20,
                cached_input_tokens: 40,
                reasoning_tokens: 5,
                cache_write_input_tokens: 0,
            })
        )
    );
    assert_eq!(
        seen(&response.items),
        vec![
            reasoning("thinking about it"),
            message("assistant", "done"),
            call("call_1", "shell", "{}"),
        ]
    );
    Ok(())
}

#[test]
fn codex_style_response_reads_output_items_and_token_usage() -> anyhow::Result<()> {
    let body = json!({
        "response_id": "resp_c",
        "upstream_request_id": "req_1",
        "output_items": [{"type": "message", "role": "assistant",
                          "content": [{"type": "output_text", "text": "hi"}]}],
        "token_usage": {"input_tokens": 10, "cached_input_tokens": 4, "output_tokens": 3,
                        "reasoning_output_tokens": 2, "total_tokens": 13}
    });
    let response = parse_response(&body.to_string(), None)?;
    assert_eq!(
        head(&response),
        (
            PayloadFormat::OpenAiResponses,
            Some("resp_c"),
            Some(Usage {
                input_tokens: 10,
                output_tokens: 3,
                cached_input_tokens: 4,
                reasoning_tokens: 2,
                cache_write_input_tokens: 0,
            })
        )
    );
    assert_eq!(seen(&response.items), vec![message("assistant", "hi")]);
    Ok(())
}

#[test]
fn negative_or_missing_counters_are_zero_and_missing_usage_is_none() -> anyhow::Result<()> {
    let with = parse_response(
        r#"{"id": "r", "output": [], "usage": {"input_tokens": -5, "output_tokens": 2.0}}"#,
        None,
    )?;
    let without = parse_response(r#"{"id": "r", "output": []}"#, None)?;
    assert_eq!(
        (with.usage, without.usage),
        (
            Some(Usage {
                input_tokens: 0,
                output_tokens: 2,
                cached_input_tokens: 0,
                reasoning_tokens: 0,
                cache_write_input_tokens: 0,
            }),
            None
        )
    );
    Ok(())
}

#[test]
fn reasoning_with_encrypted_content_is_identified_by_it() -> anyhow::Result<()> {
    let in_response = json!([{"type": "reasoning", "id": "rs_1",
        "summary": [{"type": "summary_text", "text": "plan"}],
        "content": [{"type": "reasoning_text", "text": "step one"}],
        "encrypted_content": "gAAAA-1"}]);
    let sent_back = json!([{"type": "reasoning", "summary": [], "encrypted_content": "gAAAA-1"}]);
    let other_blob = json!([{"type": "reasoning", "summary": [], "encrypted_content": "gAAAA-2"}]);
    let readable_only = json!([{"type": "reasoning",
        "summary": [{"type": "summary_text", "text": "plan"}]}]);

    let parsed = items(in_response.clone())?;
    assert_eq!(seen(&parsed), vec![reasoning("plan\nstep one")]);
    let hash = parsed[0].content_hash;
    assert_eq!(hash, only_hash(sent_back)?);
    assert!(hash != only_hash(other_blob)?);
    assert!(hash != only_hash(readable_only)?);
    Ok(())
}

#[test]
fn unknown_responses_items_are_kept_as_other_with_their_type() -> anyhow::Result<()> {
    let parsed = items(json!([
        {"type": "some_future_call", "id": "fc_1", "status": "completed",
         "action": {"query": "rust"}}
    ]))?;
    assert_eq!(
        seen(&parsed),
        vec![Seen {
            kind: ItemKind::Other,
            role: None,
            call_id: None,
            name: None,
            text: "some_future_call".to_owned(),
        }]
    );
    Ok(())
}

#[test]
fn parse_items_accepts_a_mixed_array_of_all_three_shapes() -> anyhow::Result<()> {
    let parsed = items(json!([
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "go"}]},
        {"role": "assistant", "content": null, "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
        ]},
        {"role": "tool", "tool_call_id": "c1", "content": "done"},
        {"role": "assistant", "content": [
            {"type": "text", "text": "next"},
            {"type": "tool_use", "id": "c2", "name": "g", "input": {}}
        ]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "c2", "content": "ok"}]},
        {"type": "compaction", "encrypted_content": "zzz"}
    ]))?;
    assert_eq!(
        seen(&parsed),
        vec![
            message("user", "go"),
            call("c1", "f", "{}"),
            output("c1", "done"),
            message("assistant", "next"),
            call("c2", "g", "{}"),
            output("c2", "ok"),
            Seen {
                kind: ItemKind::Other,
                role: None,
                call_id: None,
                name: None,
                text: "compaction".to_owned(),
            },
        ]
    );
    Ok(())
}
