//! Provider API error bodies: `{"error": {…}}` as OpenAI (Responses and Chat) and Anthropic
//! (`{"type": "error", "error": {…}}`) return them with an HTTP 4xx/5xx, and the `error`
//! object of a Responses body whose `status` is `failed`.
//!
//! Invariant: an error body is a response, not an unknown shape: it makes the inference
//! `failed` with the provider's error type and message, and carries no items.

use serde_json::{Map, Value};

use super::object::Object;
use super::{ModelResponse, PayloadFormat, ShapeError};

/// What the provider said went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    /// The error's type (`invalid_request_error`, `overloaded_error`, `server_error`, …): its
    /// `type`, else `code`, else `status` (the Google-style word).
    pub(crate) kind: Option<String>,
    /// The provider's message.
    pub(crate) message: Option<String>,
}

impl ApiError {
    /// `type: message`, or whichever of them there is.
    pub(crate) fn describe(&self) -> String {
        match (&self.kind, &self.message) {
            (Some(kind), Some(message)) => format!("{kind}: {message}"),
            (Some(text), None) | (None, Some(text)) => text.clone(),
            (None, None) => "the provider returned an error".to_owned(),
        }
    }
}

/// The error object of a body, if it has one (`"error": null` is none).
pub(super) fn api_error(obj: Object<'_, '_>) -> Option<ApiError> {
    let Some(Value::Object(error)) = obj.value("error") else {
        return None;
    };
    Some(read(error))
}

/// Reads one error object.
fn read(error: &Map<String, Value>) -> ApiError {
    let text = |key: &str| match error.get(key)? {
        Value::String(text) if !text.is_empty() => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    };
    ApiError {
        kind: text("type")
            .or_else(|| text("code"))
            .or_else(|| text("status")),
        message: text("message"),
    }
}

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
        || super::anthropic::hint_says_anthropic(provider_hint);
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
