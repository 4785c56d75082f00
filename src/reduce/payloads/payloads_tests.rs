use pretty_assertions::assert_eq;
use serde_json::json;

use super::*;
use crate::reduce::{ItemKind, Usage};

/// An item without its hash, for whole-value comparisons.
#[derive(Debug, PartialEq)]
struct Seen {
    kind: ItemKind,
    role: Option<String>,
    call_id: Option<String>,
    name: Option<String>,
    text: String,
}

fn seen(items: &[Rc<ModelItem>]) -> Vec<Seen> {
    items
        .iter()
        .map(|item| Seen {
            kind: item.kind,
            role: item.role.clone(),
            call_id: item.call_id.clone(),
            name: item.name.clone(),
            text: item.text.clone(),
        })
        .collect()
}

fn message(role: &str, text: &str) -> Seen {
    Seen {
        kind: ItemKind::Message,
        role: Some(role.to_owned()),
        call_id: None,
        name: None,
        text: text.to_owned(),
    }
}

fn call(call_id: &str, name: &str, arguments: &str) -> Seen {
    Seen {
        kind: ItemKind::FunctionCall,
        role: Some("assistant".to_owned()),
        call_id: Some(call_id.to_owned()),
        name: Some(name.to_owned()),
        text: arguments.to_owned(),
    }
}

fn output(call_id: &str, text: &str) -> Seen {
    Seen {
        kind: ItemKind::FunctionCallOutput,
        role: Some("tool".to_owned()),
        call_id: Some(call_id.to_owned()),
        name: None,
        text: text.to_owned(),
    }
}

fn reasoning(text: &str) -> Seen {
    Seen {
        kind: ItemKind::Reasoning,
        role: Some("assistant".to_owned()),
        call_id: None,
        name: None,
        text: text.to_owned(),
    }
}

/// Parses a list of items given as JSON.
fn items(list: serde_json::Value) -> Result<Vec<Rc<ModelItem>>, ShapeError> {
    parse_items(&list, None)
}

/// The hash of the only item `list` parses to.
fn only_hash(list: serde_json::Value) -> anyhow::Result<u128> {
    let parsed = items(list)?;
    anyhow::ensure!(parsed.len() == 1, "expected one item, got {parsed:?}");
    Ok(parsed[0].content_hash)
}

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
        (
            response.format,
            response.response_id.as_deref(),
            response.usage
        ),
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
        (
            response.format,
            response.response_id.as_deref(),
            response.usage
        ),
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
fn streamed_completion_event_is_unwrapped_to_its_response() -> anyhow::Result<()> {
    let body = json!({
        "type": "response.completed",
        "response": {"id": "resp_s", "output": [], "usage": null}
    });
    let response = parse_response(&body.to_string(), None)?;
    assert_eq!(
        (
            response.format,
            response.response_id.as_deref(),
            response.usage,
            response.items
        ),
        (PayloadFormat::OpenAiResponses, Some("resp_s"), None, vec![])
    );
    Ok(())
}

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
        (
            response.format,
            response.response_id.as_deref(),
            response.usage
        ),
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
        (
            response.format,
            response.response_id.as_deref(),
            response.usage
        ),
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

/// `(kind, call id, name, text, status)` of an item.
type Hosted<'a> = (
    ItemKind,
    Option<&'a str>,
    Option<&'a str>,
    &'a str,
    Option<&'a str>,
);

/// [`Hosted`] of each item.
fn hosted(items: &[Rc<ModelItem>]) -> Vec<Hosted<'_>> {
    items
        .iter()
        .map(|i| {
            (
                i.kind,
                i.call_id.as_deref(),
                i.name.as_deref(),
                i.text.as_str(),
                i.status.as_deref(),
            )
        })
        .collect()
}

#[test]
fn responses_hosted_tool_items_have_their_own_kinds_call_ids_status_and_text() -> anyhow::Result<()>
{
    // The web and file search items are the corpus's (responses/web-search-annotations-replay
    // and file-search-citation responses); the others follow the output-item examples of
    // OpenAI's Responses API reference, ids shortened.
    let parsed = items(json!([
        {"id": "ws_0a79", "type": "web_search_call", "status": "completed",
         "action": {"type": "search", "queries": ["Ethereum price on January 1, 2026"], "query": "Ethereum price on January 1, 2026"}},
        {"id": "fs_019d", "queries": ["Eiffel Tower"], "results": null, "status": "completed", "type": "file_search_call"},
        {"id": "ci_12", "type": "code_interpreter_call", "status": "completed", "container_id": "cntr_1",
         "code": "print(2 + 2)", "outputs": [{"type": "logs", "logs": "4"}]},
        {"id": "ig_7", "type": "image_generation_call", "status": "completed", "revised_prompt": "a gray tabby cat", "result": "iVBORw0KGgo="},
        {"id": "mcp_3", "type": "mcp_call", "server_label": "deepwiki", "name": "ask_question",
         "arguments": "{\"repoName\":\"openai/codex\"}", "output": "It is a CLI.", "error": null},
        {"id": "mcpl_1", "type": "mcp_list_tools", "server_label": "deepwiki",
         "tools": [{"name": "read_wiki_structure", "input_schema": {}}, {"name": "ask_question", "input_schema": {}}]},
        {"id": "mcpr_1", "type": "mcp_approval_request", "server_label": "deepwiki", "name": "ask_question", "arguments": "{}"},
        {"type": "mcp_approval_response", "approval_request_id": "mcpr_1", "approve": true},
        {"id": "cu_1", "type": "computer_call", "call_id": "call_cu1", "status": "completed",
         "action": {"type": "click", "button": "left", "x": 156, "y": 50}, "pending_safety_checks": []},
        {"type": "computer_call_output", "call_id": "call_cu1",
         "output": {"type": "computer_screenshot", "image_url": "data:image/png;base64,iVBORw0KGgo="}},
        {"id": "ls_1", "type": "local_shell_call", "call_id": "call_ls1", "status": "completed",
         "action": {"type": "exec", "command": ["ls", "-la"], "env": {}}},
        {"type": "local_shell_call_output", "call_id": "call_ls1", "output": "total 0"},
        {"type": "custom_tool_call", "call_id": "call_ct1", "name": "code_exec", "input": "print(1)"},
        {"type": "custom_tool_call_output", "call_id": "call_ct1", "output": "1"},
    ]))?;
    use ItemKind::*;
    assert_eq!(
        hosted(&parsed),
        vec![
            (
                WebSearchCall,
                Some("ws_0a79"),
                Some("web_search"),
                "search: Ethereum price on January 1, 2026",
                Some("completed")
            ),
            (
                FileSearchCall,
                Some("fs_019d"),
                Some("file_search"),
                "file_search: Eiffel Tower",
                Some("completed")
            ),
            (
                CodeInterpreterCall,
                Some("ci_12"),
                Some("code_interpreter"),
                "print(2 + 2)\n4",
                Some("completed")
            ),
            (
                ImageGenerationCall,
                Some("ig_7"),
                Some("image_generation"),
                "image_generation: a gray tabby cat",
                Some("completed")
            ),
            (
                McpCall,
                Some("mcp_3"),
                Some("ask_question"),
                "deepwiki.ask_question({\"repoName\":\"openai/codex\"})\n→ It is a CLI.",
                None
            ),
            (
                McpListTools,
                Some("mcpl_1"),
                None,
                "deepwiki: read_wiki_structure, ask_question",
                None
            ),
            (
                McpApprovalRequest,
                Some("mcpr_1"),
                Some("ask_question"),
                "deepwiki.ask_question({})",
                None
            ),
            (McpApprovalResponse, Some("mcpr_1"), None, "approve", None),
            (
                ComputerCall,
                Some("call_cu1"),
                Some("computer"),
                r#"{"button":"left","type":"click","x":156,"y":50}"#,
                Some("completed")
            ),
            (
                ComputerCallOutput,
                Some("call_cu1"),
                None,
                "computer_screenshot",
                None
            ),
            (
                LocalShellCall,
                Some("call_ls1"),
                Some("local_shell"),
                "ls -la",
                Some("completed")
            ),
            (
                LocalShellCallOutput,
                Some("call_ls1"),
                None,
                "total 0",
                None
            ),
            (
                CustomToolCall,
                Some("call_ct1"),
                Some("code_exec"),
                "print(1)",
                None
            ),
            (CustomToolCallOutput, Some("call_ct1"), None, "1", None),
        ]
    );
    Ok(())
}

#[test]
fn a_replayed_hosted_item_is_the_same_item_whatever_fields_the_client_adds() -> anyhow::Result<()> {
    // The corpus's responses/web-search-annotations-replay request replays a web_search_call
    // with `"sources": null` added and keys reordered; its status moves too.
    let returned = only_hash(
        json!([{"id": "ws_0a79", "type": "web_search_call", "status": "completed",
        "action": {"type": "search", "query": "Bitcoin price on January 1, 2026"}}]),
    )?;
    let replayed = only_hash(
        json!([{"id": "ws_0a79", "action": {"query": "Bitcoin price on January 1, 2026",
        "type": "search", "queries": ["Bitcoin price on January 1, 2026"], "sources": null},
        "status": "searching", "type": "web_search_call"}]),
    )?;
    assert_eq!(returned, replayed);
    let other = only_hash(
        json!([{"id": "ws_0b00", "type": "web_search_call", "status": "completed",
        "action": {"type": "search", "query": "Bitcoin price on January 1, 2026"}}]),
    )?;
    assert!(other != returned);
    Ok(())
}

#[test]
fn anthropic_server_tool_blocks_are_items_of_their_own() -> anyhow::Result<()> {
    // From the corpus's anthropic/web-search-server-tool-thinking response (encrypted content
    // shortened), and the error result of Anthropic's web search tool documentation.
    let parsed = items(json!([{"role": "assistant", "content": [
        {"type": "text", "text": "Let me search."},
        {"id": "srvtoolu_01Eo", "input": {"query": "San Francisco weather today"}, "name": "web_search", "type": "server_tool_use"},
        {"content": [{"encrypted_content": "EroT", "page_age": null, "title": "San Francisco, CA Weather", "type": "web_search_result", "url": "https://weather.com/sf"}],
         "tool_use_id": "srvtoolu_01Eo", "type": "web_search_tool_result"},
        {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_02",
         "content": {"type": "web_search_tool_result_error", "error_code": "max_uses_exceeded"}},
        {"type": "text", "text": "It is sunny."},
    ]}]))?;
    use ItemKind::*;
    assert_eq!(
        hosted(&parsed),
        vec![
            (Message, None, None, "Let me search.", None),
            (
                ServerToolUse,
                Some("srvtoolu_01Eo"),
                Some("web_search"),
                r#"{"query":"San Francisco weather today"}"#,
                None
            ),
            (
                ServerToolResult,
                Some("srvtoolu_01Eo"),
                Some("web_search_tool_result"),
                "San Francisco, CA Weather <https://weather.com/sf>",
                Some("completed")
            ),
            (
                ServerToolResult,
                Some("srvtoolu_02"),
                Some("web_search_tool_result"),
                "error: max_uses_exceeded",
                Some("failed")
            ),
            (Message, None, None, "It is sunny.", None),
        ]
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

#[test]
fn unknown_shapes_are_shape_errors() {
    assert_eq!(
        parse_request(r#"{"prompt": "hi"}"#, None),
        Err(ShapeError(
            "request payload has neither `input` nor `messages`".to_owned()
        ))
    );
    assert_eq!(
        parse_response(r#"{"result": "hi"}"#, None),
        Err(ShapeError(
            "response payload has none of `output`, `output_items`, `choices`, an assistant \
             `content` array or an `error` object"
                .to_owned()
        ))
    );
    assert_eq!(
        parse_request("[1, 2]", None),
        Err(ShapeError(
            "request payload is an array; expected a json object".to_owned()
        ))
    );
    assert_eq!(
        parse_items(&json!({"input_history": []}), None),
        Err(ShapeError(
            "`items` is an object; expected an array of items".to_owned()
        ))
    );
}

#[test]
fn malformed_items_are_shape_errors_naming_the_index() {
    let cases = [
        (
            json!({"input": [{"role": "user", "content": "a"}, {"type": "function_call", "name": "f"}]}),
            "input[1] (function_call) has no string `call_id`",
        ),
        (
            json!({"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": 7}]}),
            "messages[1].content is a number; expected a string or an array of content parts",
        ),
        (
            json!({"messages": [{"role": "assistant", "content": null, "tool_calls": [
                {"type": "function", "function": {"name": "f", "arguments": "{}"}}
            ]}]}),
            "messages[0].tool_calls[0] (tool call) has no string `id`",
        ),
        (
            json!({"messages": [{"role": "user", "content": [
                {"type": "text", "text": "a"}, {"type": "tool_result", "content": "x"}
            ]}]}),
            "messages[0].content[1] (tool_result) has no string `tool_use_id`",
        ),
        (
            json!({"input": [{"content": "no role"}]}),
            "input[0] has neither `type` nor `role`",
        ),
        (
            json!({"messages": [{"role": "user", "content": ["bare string"]}]}),
            "messages[0].content[0] is a string; expected an object",
        ),
        (
            json!({"input": [{"type": "reasoning", "summary": [{"type": "summary_text"}]}]}),
            "input[0].summary[0] has no string `text`",
        ),
    ];
    for (body, message) in cases {
        assert_eq!(
            parse_request(&body.to_string(), None),
            Err(ShapeError(message.to_owned())),
            "{body}"
        );
    }
}

#[test]
fn bodies_that_are_not_json_or_too_deep_are_shape_errors() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    for body in ["not json", deep.as_str()] {
        let error = parse_request(body, None).err();
        assert!(
            error
                .as_ref()
                .is_some_and(|error| error.0.starts_with("parse request payload as json: ")),
            "{error:?}"
        );
    }
}

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
