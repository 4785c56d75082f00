//! The message parser every shape shares: a Chat, Anthropic or Responses message becomes its
//! items in block order, whatever shape's fields it uses (Chat `tool_calls` and `tool`
//! messages, Anthropic content blocks and `system` prompt, typed content parts). Also the two
//! bodies that are messages: a `messages` list (a Chat or Anthropic request, labelled by what
//! its messages say and the provider hint), and a response that is one assistant message.
//!
//! Invariant: the shapes' message fields never conflict, so a message parses to the same items
//! whichever shape it is labelled with; [`Evidence`] and the provider hint only pick the label.
//!
//! Imports `hosted.rs` and the bottom (`item.rs`, `object.rs`, `model.rs`): the shapes build on
//! it, never the other way round.

use std::rc::Rc;

use serde_json::{Map, Value};

use super::hosted;
use super::item::{
    build_item, call_value_item, custom_call_item, function_call_item, message_item, output_item,
    text_parts, ModelItem, Part,
};
use super::model::{ModelRequest, ModelResponse, PayloadFormat, ShapeError};
use super::object::{
    api_error, block_str, expect_object, json_kind, parse_list, required_str, string_field,
    ElementCache, Evidence, Field, ListKind, ListParser, Loc, Object, Parsed,
};
use crate::reduce::state::{ItemKind, Usage};

/// The elements of a `messages` list: Chat or Anthropic messages, with their evidence.
pub(super) const MESSAGES: ListParser = ListParser {
    kind: ListKind::Messages,
    parse: message_element,
};

/// One element of a `messages` list.
fn message_element(element: &Value, loc: Loc) -> Result<Parsed, ShapeError> {
    let mut items = Vec::new();
    parse_message(element, loc, None, &mut items)?;
    Ok(Parsed::new(items, message_evidence(element)))
}

/// A Chat or Anthropic request: an optional Anthropic `system` prompt, then `messages`.
pub(super) fn request(
    obj: Object<'_, '_>,
    provider_hint: Option<&str>,
    cache: &mut dyn ElementCache,
) -> Result<ModelRequest, ShapeError> {
    let Some(messages) = obj.get("messages") else {
        return Err(ShapeError("request payload has no `messages`".to_owned()));
    };
    if let Field::Value(messages) = messages {
        if !messages.is_array() {
            return Err(ShapeError(format!(
                "`messages` is {}; expected an array of messages",
                json_kind(messages)
            )));
        }
    }
    let system = obj.value("system");
    let mut items: Vec<_> = system_item(system)?.map(Rc::new).into_iter().collect();
    let evidence = parse_list(messages, "messages", MESSAGES, cache, &mut items)?;
    let evidence = Evidence {
        anthropic: evidence.anthropic || system.is_some_and(|system| !system.is_null()),
        ..evidence
    };
    Ok(ModelRequest {
        format: label(evidence, provider_hint),
        items,
        previous_response_id: None,
    })
}

/// A response that is one assistant message (Chat's first choice, an Anthropic body): the
/// message's items, `usage`, and the body's `id` and `error`.
pub(super) fn message_response(
    format: PayloadFormat,
    obj: Object<'_, '_>,
    items: Vec<ModelItem>,
    usage: Option<Usage>,
) -> ModelResponse {
    ModelResponse {
        format,
        items: items.into_iter().map(Rc::new).collect(),
        response_id: string_field(obj, "id"),
        usage,
        error: api_error(obj),
        ended_early: false,
    }
}

/// Parses an Anthropic `system` prompt (a string or text blocks) into a system message item
/// (none for an absent or empty prompt).
fn system_item(system: Option<&Value>) -> Result<Option<ModelItem>, ShapeError> {
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

/// Parses a message of any shape into its items, in block order.
///
/// A Chat `tool` message is one call output. Otherwise the content's text and other plain
/// parts form message items, split at Anthropic `tool_use`/`tool_result`/`thinking` blocks
/// (each its own item), followed by one call item per Chat `tool_calls` entry. A message that
/// yields nothing else is still one (empty) message item; an empty message beside calls is not.
pub(super) fn parse_message(
    message: &Value,
    loc: Loc,
    default_role: Option<&'static str>,
    out: &mut Vec<ModelItem>,
) -> Result<(), ShapeError> {
    let obj = expect_object(message, &|| loc.to_string(), "a message object")?;
    parse_message_fields(obj, loc, default_role, out)
}

/// [`parse_message`] of a message object's fields.
pub(super) fn parse_message_fields(
    obj: &Map<String, Value>,
    loc: Loc,
    default_role: Option<&'static str>,
    out: &mut Vec<ModelItem>,
) -> Result<(), ShapeError> {
    let role = match (obj.get("role"), default_role) {
        (Some(Value::String(role)), _) => role.as_str(),
        (None | Some(Value::Null), Some(role)) => role,
        _ => return Err(ShapeError(format!("{loc} has no string `role`"))),
    };
    let content = obj.get("content");
    if role == "tool" {
        let call_id = required_str(obj, "tool_call_id", loc, "tool message")?;
        let parts = content_parts(content, &|| format!("{loc}.content"))?;
        out.push(output_item(ItemKind::FunctionCallOutput, call_id, &parts));
        return Ok(());
    }

    let start = out.len();
    let mut pending: Vec<Part<'_>> = Vec::new();
    match content {
        None | Some(Value::Null) => {}
        Some(Value::String(text)) => pending.extend(text_parts(text)),
        Some(Value::Array(blocks)) => {
            for (index, block) in blocks.iter().enumerate() {
                let at = || format!("{loc}.content[{index}]");
                match block_item(block, &at)? {
                    Some(item) => {
                        flush_message(role, &mut pending, out);
                        out.push(item);
                    }
                    None => pending.extend(content_part(block, &at)?),
                }
            }
        }
        Some(other) => {
            return Err(ShapeError(format!(
                "{loc}.content is {}; expected a string or an array of content parts",
                json_kind(other)
            )))
        }
    }
    if let Some(Value::String(refusal)) = obj.get("refusal") {
        pending.push(Part::Field {
            label: "refusal",
            value: refusal,
        });
    }
    flush_message(role, &mut pending, out);

    match obj.get("tool_calls") {
        None | Some(Value::Null) => {}
        Some(Value::Array(calls)) => {
            for (index, call) in calls.iter().enumerate() {
                out.push(chat_tool_call(call, &|| {
                    format!("{loc}.tool_calls[{index}]")
                })?);
            }
        }
        Some(other) => {
            return Err(ShapeError(format!(
                "{loc}.tool_calls is {}; expected an array of tool calls",
                json_kind(other)
            )))
        }
    }
    if out.len() == start {
        out.push(message_item(role, &[]));
    }
    Ok(())
}

/// Normalises message-like content: a string, an array of parts, or nothing.
pub(super) fn content_parts<'a>(
    content: Option<&'a Value>,
    at: &dyn Fn() -> String,
) -> Result<Vec<Part<'a>>, ShapeError> {
    match content {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(text)) => Ok(text_parts(text)),
        Some(Value::Array(list)) => {
            let mut parts = Vec::with_capacity(list.len());
            for (index, part) in list.iter().enumerate() {
                parts.extend(content_part(part, &|| format!("{}[{index}]", at()))?);
            }
            Ok(parts)
        }
        Some(other) => Err(ShapeError(format!(
            "{} is {}; expected a string or an array of content parts",
            at(),
            json_kind(other)
        ))),
    }
}

/// Normalises one content part: text parts of any type become their text (an empty text is
/// no part at all), everything else is kept whole.
pub(super) fn content_part<'a>(
    part: &'a Value,
    at: &dyn Fn() -> String,
) -> Result<Option<Part<'a>>, ShapeError> {
    let part_obj = expect_object(part, at, "an object")?;
    match part_obj.get("type").and_then(Value::as_str) {
        Some(part_type @ ("text" | "input_text" | "output_text")) => {
            Ok(text_parts(block_str(part_obj, "text", at, part_type)?).pop())
        }
        _ => Ok(Some(Part::Raw(part))),
    }
}

/// The item an Anthropic block stands for on its own (`tool_use`, `tool_result`, `thinking`,
/// `redacted_thinking`), or `None` for a block that is part of the message content.
fn block_item(block: &Value, at: &dyn Fn() -> String) -> Result<Option<ModelItem>, ShapeError> {
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
    let block = expect_object(block, at, "an object")?;
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

/// Parses one Chat `tool_calls` entry: a `function` call, or a `custom` one.
fn chat_tool_call(call: &Value, at: &dyn Fn() -> String) -> Result<ModelItem, ShapeError> {
    let call = expect_object(call, at, "an object")?;
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

/// Emits the accumulated message parts as one message item, if there are any.
pub(super) fn flush_message(role: &str, pending: &mut Vec<Part<'_>>, out: &mut Vec<ModelItem>) {
    if !pending.is_empty() {
        out.push(message_item(role, pending));
        pending.clear();
    }
}

/// The label of a `messages` list: with evidence for both shapes or neither, the provider
/// hint decides (Chat by default).
fn label(evidence: Evidence, provider_hint: Option<&str>) -> PayloadFormat {
    match (evidence.anthropic, evidence.chat) {
        (true, false) => PayloadFormat::AnthropicMessages,
        (false, true) => PayloadFormat::OpenAiChat,
        (true, true) | (false, false) if hint_says_anthropic(provider_hint) => {
            PayloadFormat::AnthropicMessages
        }
        (true, true) | (false, false) => PayloadFormat::OpenAiChat,
    }
}

/// Whether the span's `provider` field names Anthropic.
pub(super) fn hint_says_anthropic(provider_hint: Option<&str>) -> bool {
    provider_hint.is_some_and(|hint| hint.to_ascii_lowercase().contains("anthropic"))
}

/// What one message of a `messages` list says about the list's shape.
fn message_evidence(message: &Value) -> Evidence {
    let mut evidence = Evidence {
        anthropic: false,
        chat: matches!(
            message.get("role").and_then(Value::as_str),
            Some("system" | "developer" | "tool")
        ) || message
            .get("tool_calls")
            .is_some_and(|calls| !calls.is_null())
            || message.get("tool_call_id").is_some(),
    };
    if let Some(Value::Array(blocks)) = message.get("content") {
        for block in blocks {
            match block.get("type").and_then(Value::as_str) {
                Some(
                    "tool_use" | "tool_result" | "thinking" | "redacted_thinking"
                    | "server_tool_use" | "mcp_tool_use",
                ) => {
                    evidence.anthropic = true;
                }
                Some(block_type) if block_type.ends_with("_tool_result") => {
                    evidence.anthropic = true;
                }
                Some("image" | "document") if block.get("source").is_some() => {
                    evidence.anthropic = true;
                }
                Some("image_url" | "input_audio") => evidence.chat = true,
                _ => {}
            }
        }
    }
    evidence
}

#[cfg(test)]
#[path = "message_tests.rs"]
mod tests;
