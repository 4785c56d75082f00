//! The entry points and the dispatch: what no shape claims, malformed pieces named by their
//! place, bodies that are not JSON, and a streaming event wrapping its response.

use pretty_assertions::assert_eq;
use serde_json::json;

use super::model::PayloadFormat;
use super::{parse_items, parse_request, parse_response, ShapeError};

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
