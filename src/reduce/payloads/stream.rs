//! Streamed responses: the events a provider sent (Responses `response.*` events, Chat
//! Completions `chat.completion.chunk`s, Anthropic `message_start` / `content_block_*` /
//! `message_delta` / `message_stop`), recorded as a JSON array of event objects or as the SSE
//! text itself (a JSON string of `event:` / `data:` lines), assembled into the body the same
//! request would have returned unstreamed.
//!
//! Invariant: a complete stream assembles into exactly the non-streamed body's items and usage
//! (the body is rebuilt and read by the shape's own file, so nothing here interprets items). A
//! stream without its terminal event (Responses `response.completed` / `.incomplete` /
//! `.failed`, a Chat `finish_reason` or `[DONE]`, Anthropic `message_stop`) ended early — the
//! agent dropped it — and assembles into the items it had delivered, marked
//! [`Assembled::ended_early`]: the inference is then `cancelled`, as the reference does. An error
//! event becomes the body's `error` object (read as any body's, `object::api_error`).
//!
//! Imports only `model.rs`: it rebuilds JSON, and `mod.rs` hands the body to the shapes.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::model::ShapeError;

/// A stream assembled into a response body.
#[derive(Debug)]
pub(super) struct Assembled {
    /// The body an unstreamed request would have returned (as far as the stream got).
    pub(super) body: Value,
    /// The stream stopped before its terminal event.
    pub(super) ended_early: bool,
}

/// Whether `root` is a recorded stream: a JSON array of event objects, or a string of SSE
/// text.
pub(super) fn is_stream(root: &Value) -> bool {
    match root {
        Value::Array(list) => list.first().is_some_and(is_event),
        Value::String(text) => looks_like_sse(text),
        _ => false,
    }
}

/// The events of a recorded stream (see [`is_stream`]).
pub(super) fn events(root: Value) -> Result<Events, ShapeError> {
    match root {
        Value::Array(list) => Ok(Events {
            list,
            done: false,
            torn: false,
        }),
        Value::String(text) => sse(&text),
        _ => Err(ShapeError(
            "response payload is not a stream of events".to_owned(),
        )),
    }
}

/// A stream's events in order.
#[derive(Debug)]
pub(super) struct Events {
    list: Vec<Value>,
    /// SSE `data: [DONE]` was seen (Chat's end marker).
    done: bool,
    /// The last SSE event was cut (its `data` is not JSON).
    torn: bool,
}

/// Whether a value is one provider stream event.
fn is_event(value: &Value) -> bool {
    let kind = value
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    kind.starts_with("response.")
        || kind.starts_with("message_")
        || kind.starts_with("content_block_")
        || kind == "ping"
        || value.get("object").and_then(Value::as_str) == Some("chat.completion.chunk")
}

/// Whether a text is SSE (a `data:` field at the start of a line).
fn looks_like_sse(text: &str) -> bool {
    text.lines()
        .take(4)
        .any(|line| line.starts_with("data:") || line.starts_with("event:"))
}

/// Parses SSE text into its `data` payloads, in order.
fn sse(text: &str) -> Result<Events, ShapeError> {
    let mut events = Events {
        list: Vec::new(),
        done: false,
        torn: false,
    };
    let mut data = String::new();
    let flush = |data: &mut String, events: &mut Events| {
        if data.is_empty() {
            return;
        }
        if data.trim() == "[DONE]" {
            events.done = true;
        } else {
            match serde_json::from_str::<Value>(data) {
                Ok(event) => events.list.push(event),
                Err(_) => events.torn = true,
            }
        }
        data.clear();
    };
    for line in text.lines() {
        if line.is_empty() {
            flush(&mut data, &mut events);
        } else if let Some(value) = line.strip_prefix("data:") {
            if !data.is_empty() {
                data.push('\n');
            }
            data.push_str(value.strip_prefix(' ').unwrap_or(value));
        }
        // `event:`, `id:`, `retry:` and `:` comments carry nothing the data does not.
    }
    flush(&mut data, &mut events);
    if events.list.is_empty() {
        return Err(ShapeError(
            "response payload is SSE text without JSON events".to_owned(),
        ));
    }
    Ok(events)
}

/// Assembles a stream's events into a response body.
pub(super) fn assemble(events: Events) -> Result<Assembled, ShapeError> {
    let first = events
        .list
        .iter()
        .find(|e| e.get("type").and_then(Value::as_str) != Some("ping"));
    let kind = first
        .and_then(|e| e.get("type"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut assembled = if kind.starts_with("response.") || kind == "error" && is_responses(&events)
    {
        responses(&events.list)
    } else if kind.starts_with("message_") || kind.starts_with("content_block_") || kind == "error"
    {
        anthropic(&events.list)
    } else if first.is_some_and(|e| e.get("choices").is_some() || e.get("object").is_some()) {
        chat(&events)
    } else {
        return Err(ShapeError(
            "response payload is a list of events of no known stream".to_owned(),
        ));
    };
    assembled.ended_early |= events.torn && !has_error(&assembled.body);
    Ok(assembled)
}

fn is_responses(events: &Events) -> bool {
    events.list.iter().any(|e| {
        e.get("type")
            .and_then(Value::as_str)
            .is_some_and(|t| t.starts_with("response."))
    })
}

fn has_error(body: &Value) -> bool {
    body.get("error").is_some_and(Value::is_object)
}

/// `event[key]` as text.
fn text<'a>(event: &'a Value, key: &str) -> &'a str {
    event.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// `event[key]` as an index.
fn index(event: &Value, key: &str) -> usize {
    event.get(key).and_then(Value::as_u64).unwrap_or(0) as usize
}

/// Appends `piece` to the string at `target[key]` (made a string if it is not one).
fn append(target: &mut Value, key: &str, piece: &str) {
    let Some(obj) = target.as_object_mut() else {
        return;
    };
    match obj.get_mut(key) {
        Some(Value::String(text)) => text.push_str(piece),
        _ => {
            obj.insert(key.to_owned(), Value::String(piece.to_owned()));
        }
    }
}

/// The list at `target[key]`, made one if it is not.
fn list<'a>(target: &'a mut Value, key: &str) -> Option<&'a mut Vec<Value>> {
    let obj = target.as_object_mut()?;
    if !obj.get(key).is_some_and(Value::is_array) {
        obj.insert(key.to_owned(), Value::Array(Vec::new()));
    }
    obj.get_mut(key)?.as_array_mut()
}

/// Element `at` of `list`, padded with `fill` up to it.
fn slot<'a>(list: &'a mut Vec<Value>, at: usize, fill: &dyn Fn() -> Value) -> &'a mut Value {
    while list.len() <= at {
        list.push(fill());
    }
    &mut list[at]
}

/// Responses events: the terminal event's response when it has its output, else the
/// created response with the output items as far as they got (`output_item.done` items whole,
/// the others from `output_item.added` plus their deltas).
fn responses(events: &[Value]) -> Assembled {
    let mut body = json!({"object": "response", "output": []});
    let mut items: BTreeMap<usize, Value> = BTreeMap::new();
    let mut terminal = None;
    let mut error = None;
    for event in events {
        let kind = text(event, "type");
        match kind {
            "response.created" | "response.in_progress" | "response.queued" => {
                if let Some(response) = event.get("response").filter(|r| r.is_object()) {
                    body = response.clone();
                }
            }
            "response.completed" | "response.incomplete" | "response.failed" => {
                terminal = event.get("response").cloned();
            }
            "response.output_item.added" | "response.output_item.done" => {
                if let Some(item) = event.get("item") {
                    items.insert(index(event, "output_index"), item.clone());
                }
            }
            "error" => {
                error = Some(json!({
                    "type": event.get("code").cloned().unwrap_or(Value::Null),
                    "message": event.get("message").cloned().unwrap_or(Value::Null),
                }));
            }
            _ => {
                let Some(item) = items.get_mut(&index(event, "output_index")) else {
                    continue;
                };
                let delta = text(event, "delta");
                match kind {
                    "response.output_text.delta" | "response.refusal.delta" => {
                        let key = if kind == "response.refusal.delta" {
                            "refusal"
                        } else {
                            "text"
                        };
                        if let Some(parts) = list(item, "content") {
                            let part = slot(
                                parts,
                                index(event, "content_index"),
                                &|| json!({"type": "output_text", "text": ""}),
                            );
                            if key == "refusal" {
                                part["type"] = json!("refusal");
                            }
                            append(part, key, delta);
                        }
                    }
                    "response.function_call_arguments.delta"
                    | "response.custom_tool_call_input.delta" => {
                        let key = if kind.contains("custom") {
                            "input"
                        } else {
                            "arguments"
                        };
                        append(item, key, delta);
                    }
                    "response.reasoning_summary_text.delta" | "response.reasoning_text.delta" => {
                        let (key, part_type, at) = if kind.contains("summary") {
                            ("summary", "summary_text", index(event, "summary_index"))
                        } else {
                            ("content", "reasoning_text", index(event, "content_index"))
                        };
                        if let Some(parts) = list(item, key) {
                            let part = slot(parts, at, &|| json!({"type": part_type, "text": ""}));
                            append(part, "text", delta);
                        }
                    }
                    // `.done` events repeat what the deltas built; other events (content
                    // part boundaries, hosted tools' progress) add nothing to the items.
                    _ => {}
                }
            }
        }
    }
    let ended_early = terminal.is_none() && error.is_none();
    if let Some(response) = terminal.filter(|r| r.is_object()) {
        let has_output = response
            .get("output")
            .and_then(Value::as_array)
            .is_some_and(|o| !o.is_empty());
        body = response;
        if has_output || items.is_empty() {
            return Assembled { body, ended_early };
        }
    }
    if let Some(obj) = body.as_object_mut() {
        obj.insert(
            "output".to_owned(),
            Value::Array(items.into_values().collect()),
        );
        if let Some(error) = error {
            obj.insert("error".to_owned(), error);
        }
    }
    Assembled { body, ended_early }
}

/// Chat chunks: the first choice's deltas joined into one message (`content`, `refusal`,
/// `tool_calls` by their `index`), the last `finish_reason`, and the usage chunk.
fn chat(events: &Events) -> Assembled {
    let mut body = Map::new();
    let mut message = json!({"role": "assistant", "content": null});
    let mut calls: BTreeMap<usize, Value> = BTreeMap::new();
    let mut finish = Value::Null;
    for chunk in &events.list {
        if let Some(error) = chunk.get("error").filter(|e| e.is_object()) {
            body.insert("error".to_owned(), error.clone());
            continue;
        }
        for key in ["id", "model", "created", "system_fingerprint"] {
            if let Some(value) = chunk.get(key) {
                body.entry(key.to_owned()).or_insert_with(|| value.clone());
            }
        }
        if let Some(usage) = chunk.get("usage").filter(|u| u.is_object()) {
            body.insert("usage".to_owned(), usage.clone());
        }
        let Some(choice) = chunk
            .get("choices")
            .and_then(Value::as_array)
            .and_then(|choices| choices.iter().find(|c| index(c, "index") == 0))
        else {
            continue;
        };
        if let Some(reason) = choice.get("finish_reason").filter(|r| !r.is_null()) {
            finish = reason.clone();
        }
        let Some(delta) = choice.get("delta") else {
            continue;
        };
        if let Some(role) = delta.get("role").filter(|r| r.is_string()) {
            message["role"] = role.clone();
        }
        for key in ["content", "refusal"] {
            if let Some(piece) = delta.get(key).and_then(Value::as_str) {
                append(&mut message, key, piece);
            }
        }
        for call in delta
            .get("tool_calls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let entry = calls.entry(index(call, "index")).or_insert_with(
                || json!({"id": "", "type": "function", "function": {"name": "", "arguments": ""}}),
            );
            if let Some(id) = call.get("id").and_then(Value::as_str) {
                entry["id"] = json!(id);
            }
            if let Some(kind) = call.get("type").and_then(Value::as_str) {
                entry["type"] = json!(kind);
            }
            if let Some(function) = call.get("function") {
                for key in ["name", "arguments"] {
                    if let Some(piece) = function.get(key).and_then(Value::as_str) {
                        append(&mut entry["function"], key, piece);
                    }
                }
            }
        }
    }
    if !calls.is_empty() {
        message["tool_calls"] = Value::Array(calls.into_values().collect());
    }
    let ended_early = finish.is_null() && !events.done && !body.contains_key("error");
    body.insert("object".to_owned(), json!("chat.completion"));
    if !body.contains_key("error") || message.get("content").is_some_and(|c| !c.is_null()) {
        body.insert(
            "choices".to_owned(),
            json!([{"index": 0, "message": message, "finish_reason": finish}]),
        );
    }
    Assembled {
        body: Value::Object(body),
        ended_early,
    }
}

/// Anthropic events: `message_start`'s message, its content blocks from `content_block_start`
/// plus their deltas (a `tool_use` input from its `input_json_delta`s), `message_delta`'s stop
/// reason and usage over the start's.
fn anthropic(events: &[Value]) -> Assembled {
    let mut body = json!({"type": "message", "role": "assistant", "content": []});
    let mut blocks: BTreeMap<usize, Value> = BTreeMap::new();
    let mut inputs: BTreeMap<usize, String> = BTreeMap::new();
    let mut stopped = false;
    let mut error = None;
    for event in events {
        match text(event, "type") {
            "message_start" => {
                if let Some(message) = event.get("message").filter(|m| m.is_object()) {
                    body = message.clone();
                }
            }
            "content_block_start" => {
                if let Some(block) = event.get("content_block") {
                    blocks.insert(index(event, "index"), block.clone());
                }
            }
            "content_block_delta" => {
                let at = index(event, "index");
                let (Some(block), Some(delta)) = (blocks.get_mut(&at), event.get("delta")) else {
                    continue;
                };
                match text(delta, "type") {
                    "text_delta" => append(block, "text", text(delta, "text")),
                    "thinking_delta" => append(block, "thinking", text(delta, "thinking")),
                    "signature_delta" => append(block, "signature", text(delta, "signature")),
                    "input_json_delta" => inputs
                        .entry(at)
                        .or_default()
                        .push_str(text(delta, "partial_json")),
                    "citations_delta" => {
                        if let (Some(citations), Some(citation)) =
                            (list(block, "citations"), delta.get("citation"))
                        {
                            citations.push(citation.clone());
                        }
                    }
                    _ => {}
                }
            }
            "message_delta" => {
                if let Some(delta) = event.get("delta").and_then(Value::as_object) {
                    for (key, value) in delta {
                        body[key] = value.clone();
                    }
                }
                if let Some(usage) = event.get("usage").and_then(Value::as_object) {
                    if !body.get("usage").is_some_and(Value::is_object) {
                        body["usage"] = json!({});
                    }
                    for (key, value) in usage.iter().filter(|(_, v)| !v.is_null()) {
                        body["usage"][key] = value.clone();
                    }
                }
            }
            "message_stop" => stopped = true,
            "error" => error = event.get("error").cloned(),
            // `content_block_stop` and `ping` add nothing.
            _ => {}
        }
    }
    for (at, json_text) in inputs {
        if let Some(block) = blocks.get_mut(&at) {
            // A cut stream leaves partial JSON: keep the text the model had produced.
            block["input"] = match serde_json::from_str::<Value>(&json_text) {
                Ok(input) => input,
                Err(_) if json_text.is_empty() => json!({}),
                Err(_) => Value::String(json_text),
            };
        }
    }
    let content = Value::Array(blocks.into_values().collect());
    body["content"] = content;
    if let Some(error) = error {
        body["error"] = error;
    }
    let ended_early = !stopped && !has_error(&body);
    Assembled { body, ended_early }
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
