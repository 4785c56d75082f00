//! Anthropic Messages bodies: the `system` prompt, the content blocks that stand for items of
//! their own (`tool_use`, `tool_result`, `thinking`, `redacted_thinking`), and the response,
//! which is itself an assistant message, with its `usage`.
//!
//! Invariant: `cached_input_tokens <= input_tokens` as for every provider: Anthropic counts
//! cache reads and writes apart from `input_tokens`, so they are folded in.

use std::rc::Rc;

use serde_json::Value;

use super::hosted;
use super::item::{build_item, call_value_item, message_item, output_item, ModelItem, Part};
use super::message::{content_parts, parse_message_fields};
use super::object::{
    block_object, block_str, counter, json_kind, string_field, usage_object, Loc, Object,
};
use super::{ModelResponse, PayloadFormat, ShapeError};
use crate::reduce::state::{ItemKind, Usage};

/// An Anthropic Messages response: the assistant message itself and `usage`.
pub(super) fn response(obj: Object<'_, '_>) -> Result<ModelResponse, ShapeError> {
    let mut items = Vec::new();
    parse_message_fields(
        obj.fields,
        Loc::field("response"),
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
    Ok(ModelResponse {
        format: PayloadFormat::AnthropicMessages,
        items: items.into_iter().map(Rc::new).collect(),
        response_id: string_field(obj, "id"),
        usage,
        error: super::error::api_error(obj),
        ended_early: false,
    })
}

/// The item an Anthropic block stands for on its own (`tool_use`, `tool_result`, `thinking`,
/// `redacted_thinking`), or `None` for a block that is part of the message content.
pub(super) fn block_item(
    block: &Value,
    at: &dyn Fn() -> String,
) -> Result<Option<ModelItem>, ShapeError> {
    let block_type = block.get("type").and_then(Value::as_str);
    if !matches!(
        block_type,
        Some("tool_use" | "tool_result" | "thinking" | "redacted_thinking")
    ) {
        return match (block_type, block.as_object()) {
            (Some(block_type), Some(obj)) => {
                hosted::anthropic_block(block_type, obj, at).transpose()
            }
            _ => Ok(None),
        };
    }
    let block = block_object(block, at)?;
    let item = match block_type {
        Some("tool_use") => {
            let call_id = block_str(block, "id", at, "tool_use")?;
            let name = block_str(block, "name", at, "tool_use")?;
            call_value_item(call_id, name, block.get("input"))
        }
        Some("tool_result") => {
            let call_id = block_str(block, "tool_use_id", at, "tool_result")?;
            let mut parts = content_parts(block.get("content"), &|| format!("{}.content", at()))?;
            if block.get("is_error").and_then(Value::as_bool) == Some(true) {
                parts.push(Part::IsError);
            }
            output_item(ItemKind::FunctionCallOutput, call_id, &parts)
        }
        Some("thinking") => {
            let mut parts = vec![Part::Text(block_str(block, "thinking", at, "thinking")?)];
            if let Some(signature) = block.get("signature").and_then(Value::as_str) {
                parts.push(Part::Field {
                    label: "signature",
                    value: signature,
                });
            }
            build_item(ItemKind::Reasoning, Some("assistant"), None, None, &parts)
        }
        _ => {
            let parts = [Part::Field {
                label: "redacted_thinking",
                value: block_str(block, "data", at, "redacted_thinking")?,
            }];
            build_item(ItemKind::Reasoning, Some("assistant"), None, None, &parts)
        }
    };
    Ok(Some(item))
}

/// Parses an Anthropic `system` prompt (a string or text blocks) into a system message item
/// (none for an absent or empty prompt).
pub(super) fn system_item(system: Option<&Value>) -> Result<Option<ModelItem>, ShapeError> {
    let parts = match system {
        None | Some(Value::Null) => return Ok(None),
        Some(system @ (Value::String(_) | Value::Array(_))) => {
            content_parts(Some(system), &|| "system".to_owned())?
        }
        Some(other) => {
            return Err(ShapeError(format!(
                "`system` is {}; expected a string or an array of text blocks",
                json_kind(other)
            )))
        }
    };
    Ok((!parts.is_empty()).then(|| message_item("system", &parts)))
}

/// Whether the span's `provider` field names Anthropic.
pub(super) fn hint_says_anthropic(provider_hint: Option<&str>) -> bool {
    provider_hint.is_some_and(|hint| hint.to_ascii_lowercase().contains("anthropic"))
}
