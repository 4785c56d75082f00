//! Provider API error bodies: `{"error": {…}}` as OpenAI (Responses and Chat) and Anthropic
//! (`{"type": "error", "error": {…}}`) return them with an HTTP 4xx/5xx.
//!
//! Invariant: an error body is a response, not an unknown shape: it makes the inference
//! `failed` with the provider's error type and message, and carries no items. Its `error`
//! object is read as every shape reads one (`object::api_error`, which also reads the `error`
//! of a Responses body whose `status` is `failed`).
//!
//! Imports `message.rs` (the provider hint) and the bottom (`object.rs`, `model.rs`); no
//! other shape imports it.

use serde_json::Value;

use super::message::hint_says_anthropic;
use super::model::{ModelResponse, PayloadFormat, ShapeError};
use super::object::{api_error, Object};

/// An error body: no items, no usage, the error. Its label is the provider the body's own
/// shape names (Anthropic's `"type": "error"`), else the provider hint's, else OpenAI's.
pub(super) fn response(
    obj: Object<'_, '_>,
    provider_hint: Option<&str>,
) -> Result<ModelResponse, ShapeError> {
    let Some(error) = api_error(obj) else {
        return Err(ShapeError(
            "response payload has no `error` object".to_owned(),
        ));
    };
    let anthropic = obj.value("type").and_then(Value::as_str) == Some("error")
        || hint_says_anthropic(provider_hint);
    Ok(ModelResponse {
        format: if anthropic {
            PayloadFormat::AnthropicMessages
        } else {
            PayloadFormat::OpenAiChat
        },
        items: Vec::new(),
        response_id: None,
        usage: None,
        error: Some(error),
        ended_early: false,
    })
}
