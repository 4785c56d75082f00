//! Model-facing payload bodies (OpenAI Responses, OpenAI Chat Completions, Anthropic Messages)
//! normalised into items the reducer can compare: one file per shape, the canonical item
//! model and its hash apart ([`item`]), and the memo ([`memo`]) on top.
//!
//! Invariant: a body's items depend only on its JSON (and, for the label, the provider hint),
//! whichever way it is read. Two items are equal iff their canonical content hashes are equal;
//! what the hash covers and deliberately ignores is documented in [`item`].
//!
//! # Layout (every arrow points down; nothing below imports back up)
//!
//! ```text
//! memo.rs        ItemMemo: the reducer's memoised, shallow parse. Depends on the shapes
//!                through `request` / `response` / `checkpoint` here; the shapes only see
//!                the `ElementCache` trait it implements.
//! mod.rs         Shape + `detect` (the one place a body's shape is decided), the entry
//!                points, and the `Keys` each payload kind reads.
//! responses.rs   OpenAI Responses: `input`, `output` / `output_items`, typed items.
//! chat.rs        OpenAI Chat Completions: `choices`, `tool_calls`.
//! anthropic.rs   Anthropic Messages: `system`, content blocks, the response message.
//! error.rs       Provider API error bodies (`{"error": {…}}`), from any of the three.
//! stream.rs      Streamed responses (event arrays, SSE text) assembled into the body they
//!                stand for, which the shape's file then reads.
//! hosted.rs      Hosted tool items (Responses web/file search, code interpreter, image
//!                generation, MCP, computer use, local shell; Anthropic server tools).
//! message.rs     The message parser all three share (their message fields never conflict,
//!                so a message parses to the same items whichever shape it is labelled).
//! object.rs      A body's top-level object as the shapes read it (full or shallow), item
//!                lists, locations for errors, small field readers.
//! item.rs        ModelItem, its constructors, and the canonical content hash.
//! ```
//!
//! # Adding a shape
//!
//! A fourth shape (say the OpenTelemetry GenAI message JSON) is one file beside the others
//! that builds [`ModelItem`]s with `item.rs`'s constructors (`message_item`,
//! `function_call_item`, `output_item`, …) and returns a [`ModelRequest`] / [`ModelResponse`];
//! then one [`Shape`] variant, one test in [`detect`] (which sees the top-level object; the
//! order of its tests is the precedence between shapes), one arm each in [`request`] and
//! [`response`], one [`PayloadFormat`] label, and the keys it reads in [`REQUEST_KEYS`] /
//! [`RESPONSE_KEYS`] (a shallow parse keeps only those; debug builds check). Bodies that are
//! not objects (a top-level array, a string) never take the shallow path: [`parse_request`] /
//! [`parse_response`] see them whole, and that is where such a shape is recognised, beside
//! `stream::is_stream` (the GenAI message JSON, a top-level array of messages, would be one more
//! test there). A shape's streamed form is one more assembler in `stream.rs`.
//!
//! The shape logic reads a payload's top-level object through [`Object`], and only the keys its
//! payload kind lists in [`Keys`]. The full parse (`parse_request`, …: one `Value` per body) is
//! the definition, and the fallback; the reducer normally goes through the memo, whose shallow
//! parse hands over the item lists as raw elements, parsed one element at a time through it.
//! An element's items depend only on its JSON and its [`ListKind`].

mod anthropic;
mod chat;
mod error;
mod hosted;
mod item;
pub(crate) mod memo;
mod message;
mod object;
mod responses;
mod stream;

use std::rc::Rc;

use serde_json::Value;

use super::state::Usage;

pub(crate) use error::ApiError;
pub(crate) use hosted::is_provider_run;
pub(crate) use item::{kind_tag, ModelItem, SharedItems};
pub(crate) use memo::ItemMemo;
pub(crate) use object::{ElementCache, Keys, ListKind, Object, Parsed};

use message::Evidence;
use object::{as_payload_object, parse_body, parse_list, Field, Loc, Uncached};

/// The provider shape a payload was understood as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PayloadFormat {
    /// OpenAI Responses (`input` / `output` items), including the Codex-style response.
    OpenAiResponses,
    /// OpenAI Chat Completions (`messages` / `choices`).
    OpenAiChat,
    /// Anthropic Messages (`system` / `messages` / `content` blocks).
    AnthropicMessages,
}

impl PayloadFormat {
    /// The word used in `state.json` (`payload_format`).
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            PayloadFormat::OpenAiResponses => "openai_responses",
            PayloadFormat::OpenAiChat => "openai_chat",
            PayloadFormat::AnthropicMessages => "anthropic_messages",
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

/// A payload body that is not one of the understood shapes, or has a malformed piece.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct ShapeError(pub(crate) String);

/// Parses a request body (the full parse: one `Value` for the whole body).
///
/// `input` makes it a Responses request; `messages` a Chat or Anthropic one (told apart by
/// the features only one of them has; `provider_hint` breaks ties).
pub(crate) fn parse_request(
    body: &str,
    provider_hint: Option<&str>,
) -> Result<ModelRequest, ShapeError> {
    let root = parse_body(body, "request")?;
    let obj = as_payload_object(&root, "request")?;
    request(Object::full(obj), provider_hint, &mut Uncached::default())
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
    let root = parse_body(body, "response")?;
    if stream::is_stream(&root) {
        let assembled = stream::assemble(stream::events(root)?)?;
        let obj = as_payload_object(&assembled.body, "assembled stream")?;
        let mut response = response(Object::full(obj), provider_hint, &mut Uncached::default())?;
        response.ended_early = assembled.ended_early;
        return Ok(response);
    }
    let obj = as_payload_object(&root, "response")?;
    response(Object::full(obj), provider_hint, &mut Uncached::default())
}

/// Parses a list of items in any of the three shapes (compaction checkpoints:
/// `input_history` / `replacement_history`).
///
/// Each element may be a Responses item, a Chat message or an Anthropic message. Every shape
/// parses to the same items, so there is never a tie for `_provider_hint` to break.
pub(crate) fn parse_items(
    items: &Value,
    _provider_hint: Option<&str>,
) -> Result<SharedItems, ShapeError> {
    let mut out = Vec::new();
    let cache = &mut Uncached::default();
    parse_list(
        Field::Value(items),
        "items",
        ListKind::Items,
        cache,
        &mut out,
    )?;
    Ok(out)
}

/// A compaction checkpoint's input and replacement histories (the full parse); `None` unless
/// the body is an object holding both keys.
pub(crate) fn parse_checkpoint(body: &str, provider_hint: Option<&str>) -> Option<Histories> {
    let root: Value = serde_json::from_str(body).ok()?;
    let input = parse_items(root.get("input_history")?, provider_hint);
    let replacement = parse_items(root.get("replacement_history")?, provider_hint);
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
    lists: &["input_history", "replacement_history"],
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
                || anthropic::hint_says_anthropic(provider_hint);
            if matches!(obj.value("content"), Some(Value::Array(_))) && says_assistant_message {
                return Some(Shape::Anthropic);
            }
            error::api_error(obj).map(|_| Shape::ApiError)
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
    for (key, items) in ["input_history", "replacement_history"]
        .into_iter()
        .zip(&mut histories)
    {
        let Some(list) = obj.get(key) else {
            return Err(ShapeError(format!("no `{key}`")));
        };
        parse_list(list, "items", ListKind::Items, cache, items)?;
    }
    let [input, replacement] = histories;
    Ok((input, replacement))
}

/// Parses one element of a list of `kind`: a Responses item or a message of any shape
/// (`Items`), or a Chat / Anthropic message (`Messages`).
fn parse_element(element: &Value, kind: ListKind, loc: Loc) -> Result<Parsed, ShapeError> {
    let mut items = Vec::new();
    let evidence = match kind {
        ListKind::Items => {
            responses::parse_item(element, loc, &mut items)?;
            Evidence::default()
        }
        ListKind::Messages => {
            message::parse_message(element, loc, None, &mut items)?;
            message::message_evidence(element)
        }
    };
    Ok(Parsed {
        items: items.into_iter().map(Rc::new).collect(),
        evidence,
    })
}

/// Whether an object has one of the top-level keys that identify a response shape.
fn has_response_shape(obj: Object<'_, '_>) -> bool {
    ["output", "output_items", "choices", "content"]
        .iter()
        .any(|key| obj.contains_key(key))
        || error::api_error(obj).is_some()
}

#[cfg(test)]
#[path = "payloads_tests.rs"]
mod tests;
