//! What a payload body parses to: a [`ModelRequest`] or a [`ModelResponse`], labelled with
//! the [`PayloadFormat`] it was understood as and carrying the provider's [`ApiError`], or a
//! [`ShapeError`] saying why the body is not one.
//!
//! Invariant: these are plain data that every file of `payloads` builds or returns, so they sit
//! at the bottom: this file imports nothing of its siblings but the item list ([`SharedItems`]),
//! and reads no JSON (`object.rs` reads an [`ApiError`], the shapes build the rest).

use super::item::SharedItems;
use crate::reduce::state::Usage;
use crate::vocab::payload_format;

/// The provider shape a payload was understood as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PayloadFormat {
    /// OpenAI Responses (`input` / `output` items), including the Codex-style response.
    OpenAiResponses,
    /// OpenAI Chat Completions (`messages` / `choices`).
    OpenAiChat,
    /// Anthropic Messages (`system` / `messages` / `content` blocks).
    AnthropicMessages,
    /// OpenTelemetry GenAI messages (`[{"role", "parts"}]`; see `genai.rs`).
    OtelGenAi,
}

impl PayloadFormat {
    /// The word used in `state.json` (`payload_format`).
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            PayloadFormat::OpenAiResponses => payload_format::OPENAI_RESPONSES,
            PayloadFormat::OpenAiChat => payload_format::OPENAI_CHAT,
            PayloadFormat::AnthropicMessages => payload_format::ANTHROPIC_MESSAGES,
            PayloadFormat::OtelGenAi => payload_format::OTEL_GENAI,
        }
    }
}

/// A model request: the complete input the model saw (or the delta after
/// `previous_response_id`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ModelRequest {
    /// Shape the body was understood as.
    pub(crate) format: PayloadFormat,
    /// Input items in order (an Anthropic `system` prompt is the first item).
    pub(crate) items: SharedItems,
    /// The response this request continues, when the request is incremental.
    pub(crate) previous_response_id: Option<String>,
}

/// A model response: the items the model produced and what it cost.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ModelResponse {
    /// Shape the body was understood as.
    pub(crate) format: PayloadFormat,
    /// Output items in order (Chat: from the first choice only).
    pub(crate) items: SharedItems,
    /// Provider response id.
    pub(crate) response_id: Option<String>,
    /// Token counts; `None` when the body has no usage object.
    pub(crate) usage: Option<Usage>,
    /// The provider's error, when the body is (or carries) an API error: the inference failed.
    pub(crate) error: Option<ApiError>,
    /// The body is a stream that stopped before its terminal event (the agent dropped it): the
    /// items are those it had delivered, and the inference was cancelled.
    pub(crate) ended_early: bool,
}

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

/// A payload body that is not one of the understood shapes, or has a malformed piece.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct ShapeError(pub(crate) String);
