//! The message parser the three shapes share: a Chat, Anthropic or Responses message becomes
//! its items in block order, and a `messages` list says whether it is Chat or Anthropic.
//!
//! Invariant: the shapes' message fields never conflict, so a message parses to the same items
//! whichever shape it is labelled with; [`Evidence`] only picks the label.

use std::rc::Rc;

use serde_json::{Map, Value};

use super::anthropic::{block_item, hint_says_anthropic, system_item};
use super::chat::chat_tool_call;
use super::item::{message_item, output_item, text_parts, ModelItem, Part};
use super::object::{
    block_object, block_str, json_kind, parse_list, required_str, ElementCache, Field, ListKind,
    Loc, Object,
};
use super::{ModelRequest, PayloadFormat, ShapeError};
use crate::reduce::state::ItemKind;

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
    let evidence = parse_list(messages, "messages", ListKind::Messages, cache, &mut items)?;
    let evidence = Evidence {
        anthropic: evidence.anthropic || system.is_some_and(|system| !system.is_null()),
        ..evidence
    };
    Ok(ModelRequest {
        format: evidence.format(provider_hint),
        items,
        previous_response_id: None,
    })
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
    let Value::Object(obj) = message else {
        return Err(ShapeError(format!(
            "{loc} is {}; expected a message object",
            json_kind(message)
        )));
    };
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
    let part_obj = block_object(part, at)?;
    match part_obj.get("type").and_then(Value::as_str) {
        Some(part_type @ ("text" | "input_text" | "output_text")) => {
            Ok(text_parts(block_str(part_obj, "text", at, part_type)?).pop())
        }
        _ => Ok(Some(Part::Raw(part))),
    }
}

/// Emits the accumulated message parts as one message item, if there are any.
pub(super) fn flush_message(role: &str, pending: &mut Vec<Part<'_>>, out: &mut Vec<ModelItem>) {
    if !pending.is_empty() {
        out.push(message_item(role, pending));
        pending.clear();
    }
}

/// What a `messages` list says about its shape: Anthropic and Chat each have features the
/// other lacks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Evidence {
    /// A feature only Anthropic has (a `system` prompt, `tool_use`/`tool_result`/thinking
    /// blocks, `source` images or documents).
    anthropic: bool,
    /// A feature only Chat has (`system`/`developer`/`tool` roles, `tool_calls`,
    /// `tool_call_id`, `image_url` or `input_audio` parts).
    chat: bool,
}

impl Evidence {
    /// Evidence of both.
    pub(super) fn or(self, other: Evidence) -> Evidence {
        Evidence {
            anthropic: self.anthropic || other.anthropic,
            chat: self.chat || other.chat,
        }
    }

    /// The label: with evidence for both or neither, the provider hint decides (Chat by
    /// default).
    fn format(self, provider_hint: Option<&str>) -> PayloadFormat {
        match (self.anthropic, self.chat) {
            (true, false) => PayloadFormat::AnthropicMessages,
            (false, true) => PayloadFormat::OpenAiChat,
            (true, true) | (false, false) if hint_says_anthropic(provider_hint) => {
                PayloadFormat::AnthropicMessages
            }
            (true, true) | (false, false) => PayloadFormat::OpenAiChat,
        }
    }
}

/// What one message of a `messages` list says about the list's shape.
pub(super) fn message_evidence(message: &Value) -> Evidence {
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
