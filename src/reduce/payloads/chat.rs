//! OpenAI Chat Completions responses: the first choice's message (read by `message.rs`, which
//! also reads the requests' `messages` and their `tool_calls`), with its `id`, `usage` and
//! `error`.
//!
//! Invariant: only the first choice is the model's answer (`n > 1` alternatives are not
//! conversation history).
//!
//! Imports `message.rs` and the bottom (`object.rs`, `model.rs`); no other shape imports it.

use serde_json::Value;

use super::message::{message_response, parse_message};
use super::model::{ModelResponse, PayloadFormat, ShapeError};
use super::object::{counter, json_kind, usage_object, Loc, Object};
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
    Ok(message_response(
        PayloadFormat::OpenAiChat,
        obj,
        items,
        usage,
    ))
}

#[cfg(test)]
#[path = "chat_tests.rs"]
mod tests;
