//! OpenAI Responses bodies: a request's `input` (a string or typed items), a response's
//! `output` (or the Codex-style `output_items`) with `usage` / `token_usage`, and the typed
//! items of those lists, which are also the item lists every shape shares (checkpoint
//! histories, the GenAI rewrite): [`ITEMS`], [`parse_items`].
//!
//! Invariant: a typed item's identity is its content, not its bookkeeping: item `id` and
//! `status` move between a response and the requests that replay it, so they stay out of
//! the hash (see `item.rs`); an item type this file does not know is kept as `other`,
//! compared by its whole JSON. An element without a `type` is a message of any shape
//! (`message.rs`).
//!
//! Imports `message.rs`, `hosted.rs` and the bottom (`item.rs`, `object.rs`, `model.rs`);
//! of the shapes only `genai.rs` imports it.

use std::borrow::Cow;
use std::rc::Rc;

use serde_json::{Map, Value};

use super::hosted;
use super::item::{
    custom_call_item, function_call_item, item_with_text, message_item, output_item, readable_text,
    text_parts, ModelItem, Part, SharedItems,
};
use super::message::{content_part, content_parts, parse_message};
use super::model::{ModelRequest, ModelResponse, PayloadFormat, ShapeError};
use super::object::{
    api_error, counter, expect_object, json_kind, parse_list, required_str, string_field,
    usage_object, ElementCache, Evidence, Field, ListKind, ListParser, Loc, Object, Parsed,
    Uncached,
};
use crate::reduce::state::{AgentMessage, ItemKind, Usage};

/// The elements of an item list (`input`, `output`, checkpoint histories): Responses items or
/// messages of any shape.
pub(super) const ITEMS: ListParser = ListParser {
    kind: ListKind::Items,
    parse: item_element,
};

/// One element of an item list.
fn item_element(element: &Value, loc: Loc) -> Result<Parsed, ShapeError> {
    let mut items = Vec::new();
    parse_item(element, loc, &mut items)?;
    Ok(Parsed::new(items, Evidence::default()))
}

/// Parses a list of items in any of the three shapes (compaction checkpoints:
/// `input_history` / `replacement_history`, the GenAI rewrite).
///
/// Each element may be a Responses item, a Chat message or an Anthropic message. Every shape
/// parses to the same items, so there is never a tie for `_provider_hint` to break.
pub(crate) fn parse_items(
    items: &Value,
    _provider_hint: Option<&str>,
) -> Result<SharedItems, ShapeError> {
    let mut out = Vec::new();
    parse_list(
        Field::Value(items),
        "items",
        ITEMS,
        &mut Uncached::default(),
        &mut out,
    )?;
    Ok(out)
}

/// A Responses request: `input` and `previous_response_id`.
pub(super) fn request(
    obj: Object<'_, '_>,
    cache: &mut dyn ElementCache,
) -> Result<ModelRequest, ShapeError> {
    let Some(input) = obj.get("input") else {
        return Err(ShapeError("request payload has no `input`".to_owned()));
    };
    let items = match input {
        Field::Value(Value::String(text)) => {
            vec![Rc::new(message_item("user", &text_parts(text)))]
        }
        Field::Value(Value::Array(_)) | Field::Raw(_) => {
            let mut items = Vec::new();
            parse_list(input, "input", ITEMS, cache, &mut items)?;
            items
        }
        Field::Value(other) => {
            return Err(ShapeError(format!(
                "`input` is {}; expected a string or an array of items",
                json_kind(other)
            )))
        }
    };
    let previous_response_id = optional_str(obj.value("previous_response_id"), |kind| {
        format!("`previous_response_id` is {kind}; expected a string")
    })?
    .map(str::to_owned);
    Ok(ModelRequest {
        format: PayloadFormat::OpenAiResponses,
        items,
        previous_response_id,
    })
}

/// A Responses (or Codex-style) response: `output`/`output_items` and `usage`/`token_usage`.
pub(super) fn response(
    obj: Object<'_, '_>,
    cache: &mut dyn ElementCache,
) -> Result<ModelResponse, ShapeError> {
    let Some((key, output)) = ["output", "output_items"]
        .into_iter()
        .find_map(|key| obj.get(key).map(|output| (key, output)))
    else {
        return Err(ShapeError("response payload has no `output`".to_owned()));
    };
    let mut items = Vec::new();
    if !matches!(output, Field::Value(Value::Null)) {
        parse_list(output, key, ITEMS, cache, &mut items)?;
    }
    let usage = usage_object(obj, &["usage", "token_usage"]).map(|usage| Usage {
        input_tokens: counter(usage, &[&["input_tokens"]]),
        output_tokens: counter(usage, &[&["output_tokens"]]),
        cached_input_tokens: counter(
            usage,
            &[
                &["input_tokens_details", "cached_tokens"],
                &["cached_input_tokens"],
            ],
        ),
        reasoning_tokens: counter(
            usage,
            &[
                &["output_tokens_details", "reasoning_tokens"],
                &["reasoning_output_tokens"],
            ],
        ),
        // The reference agent's `token_usage` counts cache writes apart.
        cache_write_input_tokens: counter(usage, &[&["cache_write_input_tokens"]]),
    });
    Ok(ModelResponse {
        format: PayloadFormat::OpenAiResponses,
        items,
        response_id: string_field(obj, "id").or_else(|| string_field(obj, "response_id")),
        usage,
        error: api_error(obj),
        ended_early: false,
    })
}

/// Parses one element of a Responses `input`/`output` list or an item list: a typed Responses
/// item, or a message of any shape.
pub(super) fn parse_item(
    item: &Value,
    loc: Loc,
    out: &mut Vec<ModelItem>,
) -> Result<(), ShapeError> {
    let obj = expect_object(item, &|| loc.to_string(), "an item object")?;
    let item_type = optional_str(obj.get("type"), |kind| {
        format!("{loc} has `type` {kind}; expected a string")
    })?;
    match item_type {
        None if !obj.contains_key("role") => {
            Err(ShapeError(format!("{loc} has neither `type` nor `role`")))
        }
        None | Some("message") => parse_message(item, loc, None, out),
        // Tool declarations sent as input (the reference agent's Responses Lite): not
        // conversation, and the same tools again in every request.
        Some("additional_tools") => Ok(()),
        Some("agent_message") => {
            out.push(agent_message_item(obj, loc)?);
            Ok(())
        }
        Some("reasoning") => {
            out.push(reasoning_item(obj, loc)?);
            Ok(())
        }
        Some(item_type @ ("function_call" | "custom_tool_call")) => {
            let call_id = required_str(obj, "call_id", loc, item_type)?;
            let name = required_str(obj, "name", loc, item_type)?;
            out.push(if item_type == "function_call" {
                function_call_item(call_id, name, obj.get("arguments"))
            } else {
                custom_call_item(call_id, name, obj.get("input"))
            });
            Ok(())
        }
        Some(item_type @ ("function_call_output" | "custom_tool_call_output")) => {
            let call_id = required_str(obj, "call_id", loc, item_type)?;
            let kind = if item_type == "function_call_output" {
                ItemKind::FunctionCallOutput
            } else {
                ItemKind::CustomToolCallOutput
            };
            let parts = match obj.get("output") {
                Some(output @ (Value::Object(_) | Value::Bool(_) | Value::Number(_))) => {
                    vec![Part::Json(Cow::Borrowed(output))]
                }
                output => content_parts(output, &|| format!("{loc}.output"))?,
            };
            out.push(output_item(kind, call_id, &parts));
            Ok(())
        }
        Some(item_type) => {
            if let Some(hosted) = hosted::responses_item(item_type, obj, loc) {
                out.push(hosted?);
                return Ok(());
            }
            let parts = [Part::Raw(item)];
            out.push(item_with_text(
                ItemKind::Other,
                obj.get("role").and_then(Value::as_str),
                obj.get("call_id").and_then(Value::as_str),
                None,
                &parts,
                item_type.to_owned(),
            ));
            Ok(())
        }
    }
}

/// An optional string: absent or `null` is none; any other value but a string is an error,
/// worded by `wrong` from the value's kind (`a number`, …).
fn optional_str(
    value: Option<&Value>,
    wrong: impl FnOnce(&str) -> String,
) -> Result<Option<&str>, ShapeError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(other) => Err(ShapeError(wrong(json_kind(other)))),
    }
}

/// Parses a Responses `reasoning` item.
fn reasoning_item(obj: &Map<String, Value>, loc: Loc) -> Result<ModelItem, ShapeError> {
    let mut readable = Vec::new();
    for (key, summary) in [("summary", true), ("content", false)] {
        let list = match obj.get(key) {
            None | Some(Value::Null) => continue,
            Some(Value::Array(list)) => list,
            Some(other) => {
                return Err(ShapeError(format!(
                    "{loc}.{key} is {}; expected an array of parts",
                    json_kind(other)
                )))
            }
        };
        for (index, part) in list.iter().enumerate() {
            let Some(text) = part.get("text").and_then(Value::as_str) else {
                return Err(ShapeError(format!(
                    "{loc}.{key}[{index}] has no string `text`"
                )));
            };
            readable.push(if summary {
                Part::Summary(text)
            } else {
                Part::Text(text)
            });
        }
    }
    let encrypted = optional_str(obj.get("encrypted_content"), |kind| {
        format!("{loc}.encrypted_content is {kind}; expected a string")
    })?;
    let text = readable_text(&readable);
    let identity = match encrypted {
        Some(encrypted) => vec![Part::Field {
            label: "encrypted_content",
            value: encrypted,
        }],
        None => readable,
    };
    Ok(item_with_text(
        ItemKind::Reasoning,
        Some("assistant"),
        None,
        None,
        &identity,
        text,
    ))
}

/// The reference agent's `agent_message` item (a message from one agent to another): an
/// assistant message with its author and recipient. Its content is plaintext `input_text`, or
/// a plaintext envelope header followed by an `encrypted_content` part; the ciphertext is part
/// of its readable text (on its own line, after the header) because deliveries of encrypted
/// messages match on it exactly, and of its identity.
fn agent_message_item(obj: &Map<String, Value>, loc: Loc) -> Result<ModelItem, ShapeError> {
    let field = |key: &str| obj.get(key).and_then(Value::as_str);
    let mut parts = Vec::new();
    for (key, label) in [("author", "author"), ("recipient", "recipient")] {
        if let Some(value) = field(key) {
            parts.push(Part::Field { label, value });
        }
    }
    let content = obj.get("content");
    let mut encrypted = Vec::new();
    for (index, part) in content
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        match part.get("encrypted_content").and_then(Value::as_str) {
            Some(ciphertext) => encrypted.push(ciphertext),
            None => parts.extend(content_part(part, &|| format!("{loc}.content[{index}]"))?),
        }
    }
    if let Some(Value::String(text)) = content {
        parts.extend(text_parts(text));
    }
    let mut text = readable_text(&parts);
    for ciphertext in &encrypted {
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(ciphertext);
        parts.push(Part::Field {
            label: "encrypted_content",
            value: ciphertext,
        });
    }
    let item = item_with_text(
        ItemKind::Message,
        Some("assistant"),
        None,
        None,
        &parts,
        text,
    );
    Ok(ModelItem {
        agent_message: Some(Box::new(AgentMessage {
            author: field("author").map(str::to_owned),
            recipient: field("recipient").map(str::to_owned),
        })),
        ..item
    })
}

#[cfg(test)]
#[path = "responses_tests.rs"]
mod tests;
