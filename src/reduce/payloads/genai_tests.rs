//! The GenAI message shape, on the conventions' own examples (the schema test cases of
//! open-telemetry/semantic-conventions-genai, `docs/gen-ai/non-normative/tests/cases/`) and
//! one body per part type.

use std::rc::Rc;

use pretty_assertions::assert_eq;
use serde_json::{json, Value};

use super::super::{self as providers, ModelItem};
use super::*;
use crate::reduce::payloads::model::PayloadFormat;
use crate::reduce::payloads::test_support::{item, seen};
use crate::reduce::ItemKind;

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn parse_request(body: &Value) -> Result<providers::ModelRequest, providers::ShapeError> {
    providers::parse_request(&body.to_string(), None)
}

fn parse_response(body: &Value) -> Result<providers::ModelResponse, providers::ShapeError> {
    providers::parse_response(&body.to_string(), None)
}

/// `input-messages-tool-call-round-trip.yaml`.
fn round_trip() -> Value {
    json!([
        {"role": "user", "parts": [{"type": "text", "content": "What's the weather in Paris?"}]},
        {"role": "assistant", "parts": [{
            "type": "tool_call",
            "id": "call_VSPygqKTWdrhaFErNvMV18Yl",
            "name": "get_weather",
            "arguments": {"location": "Paris"}
        }]},
        {"role": "tool", "parts": [{
            "type": "tool_call_response",
            "id": "call_VSPygqKTWdrhaFErNvMV18Yl",
            "response": "rainy, 57°F"
        }]}
    ])
}

#[test]
fn the_conventions_tool_call_round_trip_is_a_message_a_call_and_its_output() -> TestResult {
    let request = parse_request(&round_trip())?;
    assert_eq!(request.format, PayloadFormat::OtelGenAi);
    assert_eq!(request.format.as_str(), "otel_genai");
    let id = Some("call_VSPygqKTWdrhaFErNvMV18Yl");
    assert_eq!(
        seen(&request.items),
        vec![
            item(
                ItemKind::Message,
                "user",
                None,
                None,
                "What's the weather in Paris?"
            ),
            item(
                ItemKind::FunctionCall,
                "assistant",
                id,
                Some("get_weather"),
                r#"{"location":"Paris"}"#
            ),
            item(
                ItemKind::FunctionCallOutput,
                "tool",
                id,
                None,
                "rainy, 57°F"
            ),
        ]
    );
    Ok(())
}

#[test]
fn genai_items_have_the_identity_of_the_same_items_in_the_responses_shape() -> TestResult {
    let genai = parse_request(&round_trip())?;
    // The same conversation as an OpenAI Responses request, arguments as a JSON text.
    let responses = parse_request(&json!({"input": [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "What's the weather in Paris?"}]},
        {"type": "function_call", "call_id": "call_VSPygqKTWdrhaFErNvMV18Yl", "name": "get_weather",
         "arguments": "{\"location\": \"Paris\"}"},
        {"type": "function_call_output", "call_id": "call_VSPygqKTWdrhaFErNvMV18Yl", "output": "rainy, 57°F"}
    ]}))?;
    let hashes = |items: &[Rc<ModelItem>]| items.iter().map(|i| i.content_hash).collect::<Vec<_>>();
    assert_eq!(hashes(&genai.items), hashes(&responses.items));
    Ok(())
}

#[test]
fn the_conventions_output_with_reasoning_and_a_provider_block_is_two_reasoning_items() -> TestResult
{
    // `output-messages-reasoning-and-generic-parts.yaml`.
    let body = json!([{
        "role": "assistant",
        "parts": [
            {"type": "reasoning", "content": "The user wants a short answer."},
            {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLt..."}
        ],
        "finish_reason": "stop"
    }]);
    let response = parse_response(&body)?;
    assert_eq!(response.format, PayloadFormat::OtelGenAi);
    assert_eq!((response.response_id.clone(), response.usage), (None, None));
    assert_eq!(
        seen(&response.items),
        vec![
            item(
                ItemKind::Reasoning,
                "assistant",
                None,
                None,
                "The user wants a short answer."
            ),
            // A generic part of a type another shape knows means what it means there: this is
            // Anthropic's redacted thinking, identified by its data.
            item(ItemKind::Reasoning, "assistant", None, None, ""),
        ]
    );
    Ok(())
}

#[test]
fn the_conventions_generic_part_stays_in_its_message_beside_the_text() -> TestResult {
    // `input-messages-generic-part.yaml`.
    let body = json!([{
        "role": "user",
        "parts": [
            {"type": "text", "content": "Answer using the attached search result."},
            {"type": "generic", "generic_type": "search_result", "source": "https://example.com/docs/otel",
             "title": "OpenTelemetry overview",
             "content": [{"type": "text", "text": "OpenTelemetry is an observability framework."}],
             "citations": {"enabled": true}}
        ]
    }]);
    let request = parse_request(&body)?;
    assert_eq!(
        seen(&request.items),
        vec![item(
            ItemKind::Message,
            "user",
            None,
            None,
            "Answer using the attached search result."
        )]
    );
    // The generic part is part of the message's identity.
    let text_only = parse_request(&json!([{"role": "user", "parts": [
        {"type": "text", "content": "Answer using the attached search result."}
    ]}]))?;
    assert_ne!(
        request.items[0].content_hash,
        text_only.items[0].content_hash
    );
    Ok(())
}

#[test]
fn the_conventions_system_instructions_become_a_leading_system_message() -> TestResult {
    // `system-instructions-text-and-generic-parts.yaml`.
    let instructions = json!([
        {"type": "text", "content": "You are a helpful bot"},
        {"type": "generic", "generic_type": "cache_control", "cache_control": {"type": "ephemeral"}}
    ]);
    let mut request =
        parse_request(&json!([{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]))?;
    prepend_instructions(&mut request, &instructions.to_string())?;
    assert_eq!(
        seen(&request.items),
        vec![
            item(
                ItemKind::Message,
                "system",
                None,
                None,
                "You are a helpful bot"
            ),
            item(ItemKind::Message, "user", None, None, "hi"),
        ]
    );
    // Instructions the request already starts with (rig records its preamble in both) are
    // not repeated.
    let mut request = parse_request(&json!([
        {"role": "system", "parts": [{"type": "text", "content": "You are a helpful bot"}]},
        {"role": "user", "parts": [{"type": "text", "content": "hi"}]}
    ]))?;
    prepend_instructions(
        &mut request,
        r#"[{"type": "text", "content": "You are a helpful bot"}]"#,
    )?;
    assert_eq!(request.items.len(), 2);
    // Plain text instructions (a payload that was not JSON is stored as a JSON string).
    let mut request = parse_request(&json!([]))?;
    prepend_instructions(&mut request, "\"Be brief.\"")?;
    assert_eq!(
        seen(&request.items),
        vec![item(ItemKind::Message, "system", None, None, "Be brief.")]
    );
    Ok(())
}

#[test]
fn every_part_type_becomes_the_item_the_module_docs_promise() -> TestResult {
    let body = json!([
        {"role": "user", "parts": [
            {"type": "text", "content": "look"},
            {"type": "blob", "mime_type": "image/png", "modality": "image", "content": "iVBORw0KGgo="},
            {"type": "file", "mime_type": "application/pdf", "modality": "document", "file_id": "file-abc"},
            {"type": "uri", "mime_type": "image/jpeg", "modality": "image", "uri": "https://example.com/a.jpg"},
            {"type": "some_future_part", "anything": [1, 2]}
        ]},
        {"role": "assistant", "parts": [
            {"type": "reasoning", "content": "thinking"},
            {"type": "text", "content": "calling"},
            {"type": "tool_call", "id": "call_1", "name": "search", "arguments": "{\"q\": \"x\"}"},
            {"type": "server_tool_call", "id": "srv_1", "name": "code_interpreter",
             "server_tool_call": {"type": "code_interpreter", "code": "1+1"}},
            {"type": "server_tool_call_response", "id": "srv_1",
             "server_tool_call_response": {"type": "code_interpreter", "output": "2"}}
        ]},
        {"role": "tool", "parts": [
            {"type": "tool_call_response", "id": "call_1", "response": {"hits": 3}}
        ]},
        {"role": "assistant", "parts": []}
    ]);
    let request = parse_request(&body)?;
    let call = Some("call_1");
    assert_eq!(
        seen(&request.items),
        vec![
            // Text and media parts: one message.
            item(ItemKind::Message, "user", None, None, "look"),
            item(ItemKind::Reasoning, "assistant", None, None, "thinking"),
            item(ItemKind::Message, "assistant", None, None, "calling"),
            item(
                ItemKind::FunctionCall,
                "assistant",
                call,
                Some("search"),
                "{\"q\": \"x\"}"
            ),
            item(
                ItemKind::Other,
                "assistant",
                Some("srv_1"),
                None,
                "genai.server_tool_call"
            ),
            item(
                ItemKind::Other,
                "assistant",
                Some("srv_1"),
                None,
                "genai.server_tool_call_response"
            ),
            item(
                ItemKind::FunctionCallOutput,
                "tool",
                call,
                None,
                r#"{"hits":3}"#
            ),
            // A message without parts is still one (empty) message.
            item(ItemKind::Message, "assistant", None, None, ""),
        ]
    );
    // Media parts are part of the message's identity, whole.
    let without_uri = {
        let mut body = body.clone();
        if let Some(parts) = body[0]["parts"].as_array_mut() {
            parts.remove(3);
        }
        parse_request(&body)?
    };
    assert_ne!(
        request.items[0].content_hash,
        without_uri.items[0].content_hash
    );
    Ok(())
}

#[test]
fn calls_and_responses_without_an_id_are_kept_whole_as_other_items() -> TestResult {
    let body = json!([
        {"role": "assistant", "parts": [{"type": "tool_call", "name": "now"}]},
        {"role": "tool", "parts": [
            {"type": "tool_call_response", "response": "12:00"},
            {"type": "text", "content": "stray text"}
        ]}
    ]);
    let request = parse_request(&body)?;
    assert_eq!(
        seen(&request.items),
        vec![
            item(ItemKind::Other, "assistant", None, None, "genai.tool_call"),
            item(
                ItemKind::Other,
                "assistant",
                None,
                None,
                "genai.tool_call_response"
            ),
            item(ItemKind::Other, "tool", None, None, "genai.tool_message"),
        ]
    );
    Ok(())
}

#[test]
fn a_response_list_that_is_not_parts_is_compared_as_its_json_text() -> TestResult {
    let body = |response: Value| json!([{"role": "tool", "parts": [{"type": "tool_call_response", "id": "c", "response": response}]}]);
    let list = parse_request(&body(json!([1, "two"])))?;
    assert_eq!(
        seen(&list.items),
        vec![item(
            ItemKind::FunctionCallOutput,
            "tool",
            Some("c"),
            None,
            r#"[1,"two"]"#
        )]
    );
    let parts = parse_request(&body(
        json!([{"type": "text", "content": "a"}, {"type": "text", "content": "b"}]),
    ))?;
    assert_eq!(
        seen(&parts.items),
        vec![item(
            ItemKind::FunctionCallOutput,
            "tool",
            Some("c"),
            None,
            "a\nb"
        )]
    );
    Ok(())
}

#[test]
fn only_the_first_output_message_continues_the_conversation() -> TestResult {
    let body = json!([
        {"role": "assistant", "parts": [{"type": "text", "content": "one"}], "finish_reason": "stop"},
        {"role": "assistant", "parts": [{"type": "text", "content": "two"}], "finish_reason": "stop"}
    ]);
    let response = parse_response(&body)?;
    assert_eq!(
        seen(&response.items),
        vec![item(ItemKind::Message, "assistant", None, None, "one")]
    );
    Ok(())
}

#[test]
fn malformed_messages_are_shape_errors_naming_the_place() {
    let cases = [
        // `input-messages-message-missing-required.yaml`: a message without `role`.
        (
            json!([{"parts": []}]),
            "input.messages[0] has no string `role`",
        ),
        (
            json!([{"role": "user", "parts": "hi"}]),
            "input.messages[0].parts is not an array",
        ),
        (
            json!([{"role": "user", "parts": [{"content": "x"}]}]),
            "input.messages[0].parts[0] has no string `type`",
        ),
        (
            json!([{"role": "user", "parts": [{"type": "text"}]}]),
            "input.messages[0].parts[0] (text) has no string `content`",
        ),
        (
            json!([{"role": "assistant", "parts": [{"type": "tool_call", "id": "c"}]}]),
            "input.messages[0].parts[0] (tool_call) has no string `name`",
        ),
    ];
    for (body, expected) in cases {
        let error = parse_request(&body).err().map(|e| e.0);
        assert_eq!(error.as_deref(), Some(expected), "{body}");
    }
}

#[test]
fn other_shapes_are_not_mistaken_for_genai_messages() {
    // An array whose elements lack `parts` is no GenAI body (and no other shape either).
    let error = parse_request(&json!([{"role": "user", "content": "hi"}]))
        .err()
        .map(|e| e.0);
    assert_eq!(
        error.as_deref(),
        Some("request payload is an array; expected a json object")
    );
    assert!(request(&json!({"input": []})).is_none());
    assert!(response(&json!({"output": []})).is_none());
}

/// JSON shaped like GenAI messages, with every field possibly of the wrong type.
fn message_like() -> impl proptest::strategy::Strategy<Value = Value> {
    use proptest::prelude::*;
    let scalar = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        "[a-z_]{0,6}".prop_map(Value::String),
    ];
    let part_type = prop_oneof![
        Just("text"),
        Just("tool_call"),
        Just("tool_call_response"),
        Just("reasoning"),
        Just("server_tool_call"),
        Just("server_tool_call_response"),
        Just("blob"),
        Just("file"),
        Just("uri"),
        Just("thinking"),
        Just("tool_use"),
        Just("other"),
    ];
    let value = scalar.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map("[a-z_]{1,9}", inner, 0..4)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    });
    let keys = prop_oneof![
        Just("content"),
        Just("id"),
        Just("name"),
        Just("arguments"),
        Just("response"),
        Just("text"),
        Just("data"),
        Just("input"),
        Just("thinking"),
    ];
    let part = (
        part_type,
        proptest::collection::vec((keys, value.clone()), 0..4),
    )
        .prop_map(|(kind, fields)| {
            let mut part: serde_json::Map<String, Value> =
                fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
            part.insert("type".to_owned(), Value::String(kind.to_owned()));
            Value::Object(part)
        });
    let role = prop_oneof![
        Just("user"),
        Just("assistant"),
        Just("tool"),
        Just("system")
    ];
    let message = (
        role,
        proptest::collection::vec(prop_oneof![part, value], 0..5),
    )
        .prop_map(|(role, parts)| json!({"role": role, "parts": parts}));
    proptest::collection::vec(message, 0..4).prop_map(Value::Array)
}

proptest::proptest! {
    /// Whatever a GenAI body holds, parsing it returns items or a shape error, never a panic,
    /// and prepending any body as system instructions to a parsed request does not panic either.
    #[test]
    fn any_message_like_body_parses_or_is_a_shape_error(body in message_like()) {
        let request = parse_request(&body);
        let _ = parse_response(&body);
        if let Ok(mut request) = request {
            let _ = prepend_instructions(&mut request, &body.to_string());
        }
    }
}
