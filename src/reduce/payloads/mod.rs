//! Model-facing payload bodies (OpenAI Responses, OpenAI Chat Completions, Anthropic Messages,
//! the OpenTelemetry GenAI message JSON) normalised into items the reducer can compare: the
//! entry points and the dispatch here, one file per shape, the canonical item model and its
//! hash apart ([`item`]), and the memo ([`memo`]) beside.
//!
//! Invariant: a body's items depend only on its JSON (and, for the label, the provider hint),
//! whichever way it is read. Two items are equal iff their canonical content hashes are equal;
//! what the hash covers and deliberately ignores is documented in [`item`].
//!
//! # Layout (every arrow points down; nothing below imports back up)
//!
//! ```text
//! mod.rs         `detect` (the one place a body's shape is decided), the dispatch to the
//!                shapes (`request` / `response` / `checkpoint`, full or shallow), the entry
//!                points of the full parse, and the `Keys` each payload kind reads. Imports
//!                every file below; no file imports it but memo.rs.
//! memo.rs        ItemMemo: the reducer's memoised, shallow parse. Beside mod.rs: it calls the
//!                dispatch there; the shapes only see the `ElementCache` trait it implements.
//! reuse.rs       The element tables of recent bodies, and the shorter text a v2 body's
//!                elements copied from them are left out of (memo.rs drives it; it imports
//!                only object.rs and the format's `Shared`).
//! ── shapes: each imports only what is below it (genai.rs also responses.rs)
//! genai.rs       The GenAI message JSON, rewritten as Responses items (imports responses.rs).
//! responses.rs   OpenAI Responses: `input`, `output` / `output_items`, typed items, and the
//!                item lists every shape shares (`ITEMS`, `parse_items`).
//! chat.rs        OpenAI Chat Completions responses: the first choice, `usage`.
//! anthropic.rs   Anthropic Messages responses: the message itself, `usage`.
//! error.rs       Provider API error bodies.
//! stream.rs      Streamed responses (event arrays, SSE text) assembled into the body they
//!                stand for, which mod.rs hands to the shape's file (imports only model.rs).
//! ── shared by the shapes
//! message.rs     The message parser every shape shares (Chat `tool_calls` and `tool`
//!                messages, Anthropic blocks and `system`: their fields never conflict), the
//!                `messages` request and its label (`MESSAGES`, the provider hint), and the
//!                response that is one message.
//! hosted.rs      Hosted tool items (Responses web/file search, code interpreter, image
//!                generation, MCP, computer use, local shell; Anthropic server tools).
//! ── bottom
//! object.rs      A body's top-level object as the shapes read it (full or shallow), item
//!                lists (`parse_list` through a `ListParser`), locations for errors, field
//!                readers (strings, usage counters, the provider's `error` object).
//! model.rs       What a body parses to: ModelRequest, ModelResponse, PayloadFormat,
//!                ApiError, ShapeError.
//! item.rs        ModelItem, its constructors, and the canonical content hash.
//! ```
//!
//! `test_support.rs` (tests only) holds what the `*_tests.rs` files beside each file share.
//!
//! # Adding a shape
//!
//! A further shape is one file beside the others that builds [`ModelItem`]s with `item.rs`'s
//! constructors (`message_item`, `function_call_item`, `output_item`, …) and returns a
//! [`ModelRequest`] / [`ModelResponse`]; then one [`Shape`] variant, one test in [`detect`]
//! (which sees the top-level object; the order of its tests is the precedence between shapes),
//! one arm each in [`request`] and [`response`], one `PayloadFormat` label (and its word in
//! [`vocab::payload_format`](crate::vocab::payload_format)), and the keys it reads in
//! [`REQUEST_KEYS`] / [`RESPONSE_KEYS`] (a shallow parse keeps only those; debug builds
//! check). Bodies that are not objects (a top-level array, a string) never take the shallow
//! path: [`parse_request`] / [`parse_response`] see them whole, and that is where such a shape
//! is recognised, beside `stream::is_stream` and `genai.rs` (a top-level array of GenAI
//! messages). A shape's streamed form is one more assembler in `stream.rs`.
//!
//! The shape logic reads a payload's top-level object through [`Object`], and only the keys its
//! payload kind lists in [`Keys`]. The full parse (`parse_request`, …: one `Value` per body) is
//! the definition, and the fallback; the reducer normally goes through the memo, whose shallow
//! parse hands over the item lists as raw elements, parsed one element at a time through it.
//! An element's items depend only on its JSON and its [`ListKind`](object::ListKind).

mod anthropic;
mod chat;
mod error;
mod genai;
mod hosted;
mod item;
pub(crate) mod memo;
mod message;
mod model;
mod object;
mod responses;
mod reuse;
mod stream;

use serde_json::Value;

pub(crate) use genai::prepend_instructions;
pub(crate) use hosted::is_provider_run;
pub(crate) use item::{kind_tag, ModelItem, SharedItems};
pub(crate) use memo::ItemMemo;
pub(crate) use model::{ModelRequest, ModelResponse, ShapeError};
pub(crate) use responses::parse_items;
pub(crate) use reuse::Origin;

use crate::vocab::{checkpoint as history, role};
use object::{parse_body, parse_list, ElementCache, Keys, Object, Uncached};

/// Parses a request body (the full parse: one `Value` for the whole body).
///
/// `input` makes it a Responses request; `messages` a Chat or Anthropic one (told apart by
/// the features only one of them has; `provider_hint` breaks ties).
pub(crate) fn parse_request(
    body: &str,
    provider_hint: Option<&str>,
) -> Result<ModelRequest, ShapeError> {
    let root = parse_body(body, role::REQUEST)?;
    if let Some(request) = genai::request(&root) {
        return request;
    }
    let obj = Object::root(&root, role::REQUEST)?;
    request(obj, provider_hint, &mut Uncached::default())
}

/// Parses a response body (the full parse).
///
/// `output` (or the Codex-style `output_items`) makes it a Responses response, `choices` a
/// Chat one, an assistant `content` array an Anthropic one (`provider_hint` vouches for a
/// `content` array that says neither). A streaming event wrapping the response
/// (`{"type": "response.completed", "response": {…}}`) is unwrapped. A stream (a JSON array
/// of events, or SSE text as a JSON string) is assembled into the body it stands for
/// (`stream.rs`) and read as that.
pub(crate) fn parse_response(
    body: &str,
    provider_hint: Option<&str>,
) -> Result<ModelResponse, ShapeError> {
    let root = parse_body(body, role::RESPONSE)?;
    if let Some(response) = genai::response(&root) {
        return response;
    }
    if !stream::is_stream(&root) {
        let obj = Object::root(&root, role::RESPONSE)?;
        return response(obj, provider_hint, &mut Uncached::default());
    }
    let assembled = stream::assemble(stream::events(root)?)?;
    let obj = Object::root(&assembled.body, "assembled stream")?;
    let mut response = response(obj, provider_hint, &mut Uncached::default())?;
    response.ended_early = assembled.ended_early;
    Ok(response)
}

/// A compaction checkpoint's input and replacement histories (the full parse); `None` unless
/// the body is an object holding both keys.
pub(crate) fn parse_checkpoint(body: &str, provider_hint: Option<&str>) -> Option<Histories> {
    let root: Value = serde_json::from_str(body).ok()?;
    let input = parse_items(root.get(history::INPUT_HISTORY)?, provider_hint);
    let replacement = parse_items(root.get(history::REPLACEMENT_HISTORY)?, provider_hint);
    Some((input, replacement))
}

/// A checkpoint's parsed input and replacement histories.
pub(crate) type Histories = (
    Result<SharedItems, ShapeError>,
    Result<SharedItems, ShapeError>,
);

/// What [`request`] reads.
pub(crate) const REQUEST_KEYS: Keys = Keys {
    lists: &["input", "messages"],
    fields: &["system", "previous_response_id"],
};

/// What [`response`] reads (an Anthropic response is itself a message).
pub(crate) const RESPONSE_KEYS: Keys = Keys {
    lists: &["output", "output_items"],
    fields: &[
        "choices",
        "content",
        "response",
        "role",
        "type",
        "id",
        "response_id",
        "usage",
        "token_usage",
        "refusal",
        "tool_calls",
        "tool_call_id",
        "error",
    ],
};

/// What a checkpoint's histories are read from.
pub(crate) const CHECKPOINT_KEYS: Keys = Keys {
    lists: &[history::INPUT_HISTORY, history::REPLACEMENT_HISTORY],
    fields: &[],
};

/// How a body is read: which shape's file takes it. Decided by [`detect`] alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// `input` (request), `output` / `output_items` (response): `responses.rs`.
    Responses,
    /// `messages` (request): Chat or Anthropic, labelled by what the messages say
    /// (`message.rs`; `provider_hint` breaks ties).
    Messages,
    /// `choices` (response): `chat.rs`.
    Chat,
    /// An assistant message with a `content` array (response): `anthropic.rs`.
    Anthropic,
    /// A provider API error, `{"error": {…}}` (response): `error.rs`.
    ApiError,
}

/// Which side of an inference a body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    /// What the program sent.
    Request,
    /// What the provider returned.
    Response,
}

/// The shape of a body's top-level object, or `None` when no shape claims it. The order of
/// the tests is the precedence between shapes.
pub(crate) fn detect(
    obj: Object<'_, '_>,
    side: Side,
    provider_hint: Option<&str>,
) -> Option<Shape> {
    match side {
        Side::Request => {
            if obj.contains_key("input") {
                Some(Shape::Responses)
            } else if obj.contains_key("messages") {
                Some(Shape::Messages)
            } else {
                None
            }
        }
        Side::Response => {
            if obj.contains_key("output") || obj.contains_key("output_items") {
                return Some(Shape::Responses);
            }
            if obj.value("choices").is_some() {
                return Some(Shape::Chat);
            }
            let says_assistant_message = obj.value("role").and_then(Value::as_str)
                == Some("assistant")
                || obj.value("type").and_then(Value::as_str) == Some("message")
                || message::hint_says_anthropic(provider_hint);
            if matches!(obj.value("content"), Some(Value::Array(_))) && says_assistant_message {
                return Some(Shape::Anthropic);
            }
            object::api_error(obj).map(|_| Shape::ApiError)
        }
    }
}

/// A request's items, from a full or a shallow parse.
pub(crate) fn request(
    obj: Object<'_, '_>,
    provider_hint: Option<&str>,
    cache: &mut dyn ElementCache,
) -> Result<ModelRequest, ShapeError> {
    match detect(obj, Side::Request, provider_hint) {
        Some(Shape::Responses) => responses::request(obj, cache),
        Some(Shape::Messages) => message::request(obj, provider_hint, cache),
        Some(Shape::Chat | Shape::Anthropic | Shape::ApiError) | None => Err(ShapeError(
            "request payload has neither `input` nor `messages`".to_owned(),
        )),
    }
}

/// A response's items, id and usage, from a full or a shallow parse. A streaming event
/// wrapping the response (`{"type": "response.completed", "response": {…}}`) is unwrapped.
pub(crate) fn response(
    root: Object<'_, '_>,
    provider_hint: Option<&str>,
    cache: &mut dyn ElementCache,
) -> Result<ModelResponse, ShapeError> {
    let mut obj = root;
    if !has_response_shape(obj) {
        if let Some(Value::Object(inner)) = obj.value("response") {
            if has_response_shape(Object::full(inner)) {
                obj = Object::full(inner);
            }
        }
    }
    match detect(obj, Side::Response, provider_hint) {
        Some(Shape::Responses) => responses::response(obj, cache),
        Some(Shape::Chat) => chat::response(obj),
        Some(Shape::Anthropic) => anthropic::response(obj),
        Some(Shape::ApiError) => error::response(obj, provider_hint),
        Some(Shape::Messages) | None => Err(ShapeError(
            "response payload has none of `output`, `output_items`, `choices`, an assistant \
             `content` array or an `error` object"
                .to_owned(),
        )),
    }
}

/// A checkpoint's histories from a shallow parse, when both are item lists that parse.
pub(crate) fn checkpoint(
    obj: Object<'_, '_>,
    cache: &mut dyn ElementCache,
) -> Result<(SharedItems, SharedItems), ShapeError> {
    let mut histories = [Vec::new(), Vec::new()];
    for (key, items) in CHECKPOINT_KEYS.lists.iter().zip(&mut histories) {
        let Some(list) = obj.get(key) else {
            return Err(ShapeError(format!("no `{key}`")));
        };
        parse_list(list, "items", responses::ITEMS, cache, items)?;
    }
    let [input, replacement] = histories;
    Ok((input, replacement))
}

/// Whether an object has one of the top-level keys that identify a response shape.
fn has_response_shape(obj: Object<'_, '_>) -> bool {
    ["output", "output_items", "choices", "content"]
        .iter()
        .any(|key| obj.contains_key(key))
        || object::api_error(obj).is_some()
}

#[cfg(test)]
#[path = "payloads_tests.rs"]
mod tests;

#[cfg(test)]
mod test_support;
