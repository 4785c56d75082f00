//! The OpenTelemetry GenAI message JSON (`gen_ai.input.messages`, `gen_ai.output.messages`,
//! `gen_ai.system_instructions`) as a payload shape: a top-level array of
//! `{"role", "parts": [...]}` messages.
//!
//! Invariant: a GenAI message means exactly what the same content means in the other shapes.
//! Each message is rewritten as the equivalent OpenAI Responses items and parsed by the one
//! item parser every shape shares (`responses::parse_items`), so an item's identity (its
//! canonical hash) is the same whichever shape carried it: a `text` part is a text part, a
//! `tool_call` is a `function_call` (arguments compared as JSON), a `tool_call_response` is a
//! `function_call_output`, `reasoning` is a reasoning item. Parts split a message the way
//! Anthropic blocks do: text and media parts (`blob`, `file`, `uri`, any other `type`, each
//! kept whole; a generic part whose type another shape knows, such as Anthropic's
//! `redacted_thinking`, means what it means there) form message items; `tool_call`,
//! `tool_call_response`, `reasoning`, `server_tool_call` and `server_tool_call_response` are
//! items of their own, in part order.
//! What has no counterpart (server tool calls, a call or response without an `id`, text in a
//! `tool` message) is an `other` item identified by its whole JSON.
//!
//! The interface is narrow on purpose: [`request`] and [`response`] take the parsed body and
//! return `None` when it is not this shape, and [`prepend_instructions`] adds the system
//! instructions that arrive as a payload of their own. The rewrite builds one `Value` per
//! body, outside the element memo: every request is parsed whole, history included, which is
//! linear in its bytes like the other shapes' shallow parse but with a larger constant
//! (memoising messages like list elements needs a list kind of their own in the memo).
//!
//! Imports `responses.rs` (whose item parser it rewrites into) and the bottom (`item.rs`,
//! `object.rs`, `model.rs`); no other shape imports it.

use std::rc::Rc;

use serde_json::{json, Map, Value};

use super::item::ModelItem;
use super::model::{ModelRequest, ModelResponse, PayloadFormat, ShapeError};
use super::object::{expect_object, json_kind};
use super::responses::parse_items;

/// A request body (`gen_ai.input.messages`) as a model request; `None` when the body is not
/// an array of GenAI messages.
pub(crate) fn request(root: &Value) -> Option<Result<ModelRequest, ShapeError>> {
    let messages = messages_of(root)?;
    Some(
        items_of(messages, "input.messages").map(|items| ModelRequest {
            format: PayloadFormat::OtelGenAi,
            items,
            previous_response_id: None,
        }),
    )
}

/// A response body (`gen_ai.output.messages`) as a model response; `None` when the body is
/// not an array of GenAI messages. One output message per choice: the first is the
/// conversation's continuation, like the first choice of a Chat response. Usage and the
/// response id are span attributes in this dialect, never in the body.
pub(crate) fn response(root: &Value) -> Option<Result<ModelResponse, ShapeError>> {
    let messages = messages_of(root)?;
    let first = &messages[..messages.len().min(1)];
    Some(
        items_of(first, "output.messages").map(|items| ModelResponse {
            format: PayloadFormat::OtelGenAi,
            items,
            response_id: None,
            usage: None,
            error: None,
            ended_early: false,
        }),
    )
}

/// Puts the system instructions (`gen_ai.system_instructions`: an array of parts, or plain
/// text) before a request's items, as one `system` message, unless the request already
/// starts with that very message: the conventions keep in-history system messages out of the
/// instructions, but some instrumentations (rig 0.44) record the preamble in both.
pub(crate) fn prepend_instructions(
    request: &mut ModelRequest,
    instructions: &str,
) -> Result<(), ShapeError> {
    let parts = match serde_json::from_str::<Value>(instructions) {
        Ok(Value::Array(parts)) => parts,
        Ok(Value::String(text)) => vec![json!({"type": "text", "content": text})],
        Ok(other) => {
            return Err(ShapeError(format!(
                "system instructions are {}; expected an array of parts",
                json_kind(&other)
            )))
        }
        Err(e) => {
            return Err(ShapeError(format!(
                "parse system instructions as json: {e}"
            )))
        }
    };
    let message = json!({"role": "system", "parts": parts});
    let mut items = items_of(std::slice::from_ref(&message), "system_instructions")?;
    let hashes = |items: &[Rc<ModelItem>]| {
        items
            .iter()
            .map(|item| item.content_hash)
            .collect::<Vec<_>>()
    };
    if request.items.len() >= items.len() && hashes(&request.items[..items.len()]) == hashes(&items)
    {
        return Ok(());
    }
    items.append(&mut request.items);
    request.items = items;
    Ok(())
}

/// The messages of a body of this shape: an array whose elements are all objects with
/// `parts` (an empty array counts: no other shape is an array).
fn messages_of(root: &Value) -> Option<&[Value]> {
    let Value::Array(messages) = root else {
        return None;
    };
    messages
        .iter()
        .all(|message| message.get("parts").is_some())
        .then_some(messages.as_slice())
}

/// Every message's items, in order.
fn items_of(messages: &[Value], list: &str) -> Result<Vec<Rc<ModelItem>>, ShapeError> {
    let mut rewritten = Vec::new();
    for (index, message) in messages.iter().enumerate() {
        rewrite_message(message, &format!("{list}[{index}]"), &mut rewritten)?;
    }
    parse_items(&Value::Array(rewritten), None)
}

/// Appends the Responses items one GenAI message stands for.
fn rewrite_message(message: &Value, at: &str, out: &mut Vec<Value>) -> Result<(), ShapeError> {
    let message = expect_object(message, &|| at.to_owned(), "a message object")?;
    let Some(role) = message.get("role").and_then(Value::as_str) else {
        return Err(ShapeError(format!("{at} has no string `role`")));
    };
    let Some(parts) = message.get("parts").and_then(Value::as_array) else {
        return Err(ShapeError(format!("{at}.parts is not an array")));
    };
    let start = out.len();
    let mut pending = Vec::new();
    for (index, part) in parts.iter().enumerate() {
        let at = || format!("{at}.parts[{index}]");
        let obj = expect_object(part, &at, "a part object")?;
        let Some(part_type) = obj.get("type").and_then(Value::as_str) else {
            return Err(ShapeError(format!("{} has no string `type`", at())));
        };
        match standalone_item(part_type, obj, &at)? {
            Some(item) => {
                flush(role, &mut pending, out);
                out.push(item);
            }
            None => pending.extend(content_part(part_type, obj, part, &at)?),
        }
    }
    flush(role, &mut pending, out);
    if out.len() == start {
        out.push(message_item(role, Vec::new()));
    }
    Ok(())
}

/// The item a part stands for on its own, or `None` for a part of the message's content.
fn standalone_item(
    part_type: &str,
    part: &Map<String, Value>,
    at: &dyn Fn() -> String,
) -> Result<Option<Value>, ShapeError> {
    let id = part.get("id").and_then(Value::as_str);
    Ok(Some(match (part_type, id) {
        ("tool_call", Some(id)) => {
            let Some(name) = part.get("name").and_then(Value::as_str) else {
                return Err(ShapeError(format!(
                    "{} (tool_call) has no string `name`",
                    at()
                )));
            };
            let mut call = json!({"type": "function_call", "call_id": id, "name": name});
            match part.get("arguments") {
                None | Some(Value::Null) => {}
                // Arguments as a JSON text or as a value compare equal, as in the other shapes.
                Some(arguments) => {
                    call["arguments"] = arguments.clone();
                }
            }
            call
        }
        ("tool_call_response", Some(id)) => {
            let response = part.get("response").or_else(|| part.get("result"));
            let output = match response {
                None | Some(Value::Null) => Value::String(String::new()),
                // A list of parts is content; any other list is kept as its JSON text.
                Some(Value::Array(list)) if list.iter().all(is_typed_part) => {
                    Value::Array(list.iter().map(shared_part).collect())
                }
                Some(list @ Value::Array(_)) => Value::String(list.to_string()),
                Some(output) => output.clone(),
            };
            json!({"type": "function_call_output", "call_id": id, "output": output})
        }
        ("reasoning", _) => {
            let text = part
                .get("content")
                .and_then(Value::as_str)
                .unwrap_or_default();
            json!({"type": "reasoning", "content": [{"type": "reasoning_text", "text": text}]})
        }
        // No counterpart in the other shapes (or no id to link by): kept whole.
        (
            "tool_call" | "tool_call_response" | "server_tool_call" | "server_tool_call_response",
            _,
        ) => {
            let mut item = part.clone();
            item.insert(
                "type".to_owned(),
                Value::String(format!("genai.{part_type}")),
            );
            if let Some(id) = id {
                item.insert("call_id".to_owned(), Value::String(id.to_owned()));
            }
            item.insert("role".to_owned(), Value::String("assistant".to_owned()));
            Value::Object(item)
        }
        _ => return Ok(None),
    }))
}

/// A content part in the shared parser's terms: `text` becomes a text part (empty text is no
/// part), anything else is kept whole.
fn content_part(
    part_type: &str,
    part: &Map<String, Value>,
    whole: &Value,
    at: &dyn Fn() -> String,
) -> Result<Option<Value>, ShapeError> {
    if part_type != "text" {
        return Ok(Some(whole.clone()));
    }
    match part.get("content") {
        Some(Value::String(text)) if text.is_empty() => Ok(None),
        Some(Value::String(text)) => Ok(Some(json!({"type": "text", "text": text}))),
        _ => Err(ShapeError(format!(
            "{} (text) has no string `content`",
            at()
        ))),
    }
}

/// Emits the pending content parts as one message item.
fn flush(role: &str, pending: &mut Vec<Value>, out: &mut Vec<Value>) {
    if !pending.is_empty() {
        out.push(message_item(role, std::mem::take(pending)));
    }
}

/// A Responses message item; text in a `tool` message (which the shared parser reads as a
/// Chat tool message needing a call id) is kept as an `other` item.
fn message_item(role: &str, content: Vec<Value>) -> Value {
    if role == "tool" {
        return json!({"type": "genai.tool_message", "role": "tool", "content": content});
    }
    json!({"type": "message", "role": role, "content": content})
}

/// A content part inside a call response, in the shared parser's terms (`text` parts carry
/// `text`, not `content`).
fn shared_part(part: &Value) -> Value {
    match (
        part.get("type").and_then(Value::as_str),
        part.get("content"),
    ) {
        (Some("text"), Some(Value::String(text))) => json!({"type": "text", "text": text}),
        _ => part.clone(),
    }
}

/// Whether a list element looks like a content part (an object with a string `type`).
fn is_typed_part(value: &Value) -> bool {
    value.get("type").is_some_and(Value::is_string)
}

#[cfg(test)]
#[path = "genai_tests.rs"]
mod tests;
