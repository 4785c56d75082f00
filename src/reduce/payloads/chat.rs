//! OpenAI Chat Completions bodies: a response's first choice and `usage`, and the
//! `tool_calls` entries of an assistant message (requests are `messages`, read by
//! `message.rs`).
//!
//! Invariant: only the first choice is the model's answer (`n > 1` alternatives are not
//! conversation history).

use std::rc::Rc;

use serde_json::Value;

use super::item::{custom_call_item, function_call_item, ModelItem};
use super::message::parse_message;
use super::object::{
    block_object, block_str, counter, json_kind, string_field, usage_object, Loc, Object,
};
use super::{ModelResponse, PayloadFormat, ShapeError};
use crate::reduce::state::Usage;

/// A Chat Completions response: the first choice's message and `usage`.
pub(super) fn response(obj: Object<'_, '_>) -> Result<ModelResponse, ShapeError> {
    let Some(choices) = obj.value("choices") else {
        return Err(ShapeError("response payload has no `choices`".to_owned()));
    };
    let Value::Array(choices) = choices else {
        return Err(ShapeError(format!(
            "`choices` is {}; expected an array of choices",
            json_kind(choices)
        )));
    };
    let mut items = Vec::new();
    if let Some(choice) = choices.first() {
        let Some(message) = choice.get("message").filter(|message| message.is_object()) else {
            return Err(ShapeError(
                "`choices[0]` has no `message` object".to_owned(),
            ));
        };
        parse_message(
            message,
            Loc::field("choices[0].message"),
            Some("assistant"),
            &mut items,
        )?;
    }
    let usage = usage_object(obj, &["usage"]).map(|usage| Usage {
        input_tokens: counter(usage, &[&["prompt_tokens"]]),
        output_tokens: counter(usage, &[&["completion_tokens"]]),
        cached_input_tokens: counter(usage, &[&["prompt_tokens_details", "cached_tokens"]]),
        reasoning_tokens: counter(usage, &[&["completion_tokens_details", "reasoning_tokens"]]),
        cache_write_input_tokens: 0,
    });
    Ok(ModelResponse {
        format: PayloadFormat::OpenAiChat,
        items: items.into_iter().map(Rc::new).collect(),
        response_id: string_field(obj, "id"),
        usage,
        error: super::error::api_error(obj),
        ended_early: false,
    })
}

/// Parses one Chat `tool_calls` entry: a `function` call, or a `custom` one.
pub(super) fn chat_tool_call(
    call: &Value,
    at: &dyn Fn() -> String,
) -> Result<ModelItem, ShapeError> {
    let call = block_object(call, at)?;
    let call_id = block_str(call, "id", at, "tool call")?;
    let custom = call.get("type").and_then(Value::as_str) == Some("custom");
    let key = if custom { "custom" } else { "function" };
    let Some(Value::Object(inner)) = call.get(key) else {
        return Err(ShapeError(format!("{} has no `{key}` object", at())));
    };
    let name = match inner.get("name") {
        Some(Value::String(name)) => name.as_str(),
        _ => return Err(ShapeError(format!("{}.{key} has no string `name`", at()))),
    };
    Ok(if custom {
        custom_call_item(call_id, name, inner.get("input"))
    } else {
        function_call_item(call_id, name, inner.get("arguments"))
    })
}
