//! Anthropic Messages responses: the response is itself an assistant message (read by
//! `message.rs`, which also reads the requests' `system` prompt and content blocks), with its
//! `id`, `usage` and `error`.
//!
//! Invariant: `cached_input_tokens <= input_tokens` as for every provider: Anthropic counts
//! cache reads and writes apart from `input_tokens`, so they are folded in.
//!
//! Imports `message.rs` and the bottom (`object.rs`, `model.rs`); no other shape imports it.

use super::message::{message_response, parse_message_fields};
use super::model::{ModelResponse, PayloadFormat, ShapeError};
use super::object::{counter, usage_object, Loc, Object};
use crate::reduce::state::Usage;
use crate::vocab::role;

/// An Anthropic Messages response: the assistant message itself and `usage`.
pub(super) fn response(obj: Object<'_, '_>) -> Result<ModelResponse, ShapeError> {
    let mut items = Vec::new();
    parse_message_fields(
        obj.fields,
        Loc::field(role::RESPONSE),
        Some("assistant"),
        &mut items,
    )?;
    // Anthropic counts cached prompt tokens apart from `input_tokens`; fold them in so
    // `cached_input_tokens <= input_tokens` holds for every provider, as in OpenAI usage and
    // the OpenTelemetry GenAI conventions.
    let usage = usage_object(obj, &["usage"]).map(|usage| {
        let cached = counter(usage, &[&["cache_read_input_tokens"]]);
        let written = counter(usage, &[&["cache_creation_input_tokens"]]);
        Usage {
            input_tokens: counter(usage, &[&["input_tokens"]])
                .saturating_add(cached)
                .saturating_add(written),
            output_tokens: counter(usage, &[&["output_tokens"]]),
            cached_input_tokens: cached,
            reasoning_tokens: 0,
            cache_write_input_tokens: written,
        }
    });
    Ok(message_response(
        PayloadFormat::AnthropicMessages,
        obj,
        items,
        usage,
    ))
}

#[cfg(test)]
#[path = "anthropic_tests.rs"]
mod tests;
