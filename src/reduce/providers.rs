//! Model-facing payload bodies (OpenAI Responses, OpenAI Chat Completions, Anthropic Messages)
//! normalised into items the reducer can compare.
//!
//! Two items are equal iff their canonical content hashes are equal, and the hash covers the
//! full content: every text, the complete tool-call arguments, images and other non-text parts
//! by their whole JSON. It never looks at a truncated preview, so long arguments that share a
//! prefix stay distinct. What the hash deliberately ignores is representation: a string versus
//! a list holding one text part, the part type of a text part (`input_text`, `output_text`,
//! `text`), key order and whitespace inside JSON arguments, the provider a call came through,
//! and bookkeeping that moves between requests (Anthropic `cache_control`, Responses item
//! `id`/`status`). Reasoning that carries an opaque `encrypted_content` is identified by it
//! alone: providers return readable summaries in the response, but clients often drop them when
//! they send the item back, and the encrypted blob already is the full content.
//!
//! All three shapes share one message parser (their message fields never conflict), so a
//! payload parses to the same items whichever shape it is labelled with; detection only picks
//! the [`PayloadFormat`] label.
//!
//! The shape logic ([`request`], [`response`], [`checkpoint`]) reads a payload's top-level
//! object through [`Object`], and only the keys its payload kind lists in [`Keys`] (checked
//! in debug builds). The full parse (`parse_request`, …: one `Value` per body) is the
//! definition, and the fallback; the reducer normally goes through `raw`, whose shallow parse
//! hands over the item lists as raw elements, parsed one element at a time through its memo.
//! An element's items depend only on its JSON and its [`ListKind`].

use std::borrow::Cow;
use std::fmt;
use std::hash::{DefaultHasher, Hasher};
use std::rc::Rc;

use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::raw::ItemMemo;
use super::state::{ItemKind, Usage};

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

/// One normalised conversation item: what the model saw or produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ModelItem {
    /// Item kind.
    pub(crate) kind: ItemKind,
    /// `system`, `developer`, `user`, `assistant` or `tool` (calls and reasoning are
    /// `assistant`, call outputs `tool`, whatever message carried them).
    pub(crate) role: Option<String>,
    /// Model-visible call id on call and call-output items.
    pub(crate) call_id: Option<String>,
    /// Tool name on call items.
    pub(crate) name: Option<String>,
    /// Full readable text: message text parts joined by newlines, a call's arguments or input,
    /// an output's text, a reasoning item's summary and text, an unknown item's type.
    pub(crate) text: String,
    /// Canonical hash of kind, role, call id, name and full content; see the module docs.
    pub(crate) content_hash: u128,
}

/// Items in order, shared: the memo (`raw`) hands out the same items for every element it
/// has seen before.
pub(crate) type SharedItems = Vec<Rc<ModelItem>>;

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
    request(Object::full(obj), provider_hint, &mut ItemMemo::default())
}

/// Parses a response body (the full parse).
///
/// `output` (or the Codex-style `output_items`) makes it a Responses response, `choices` a
/// Chat one, an assistant `content` array an Anthropic one (`provider_hint` vouches for a
/// `content` array that says neither). A streaming event wrapping the response
/// (`{"type": "response.completed", "response": {…}}`) is unwrapped.
pub(crate) fn parse_response(
    body: &str,
    provider_hint: Option<&str>,
) -> Result<ModelResponse, ShapeError> {
    let root = parse_body(body, "response")?;
    let obj = as_payload_object(&root, "response")?;
    response(Object::full(obj), provider_hint, &mut ItemMemo::default())
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
    let memo = &mut ItemMemo::default();
    parse_list(
        Field::Value(items),
        "items",
        ListKind::Items,
        memo,
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

/// The top-level keys the shape logic reads from one kind of payload.
#[derive(Debug)]
pub(crate) struct Keys {
    /// Item lists: a shallow parse splits them into raw elements.
    pub(crate) lists: &'static [&'static str],
    /// Every other key the shape logic looks at.
    pub(crate) fields: &'static [&'static str],
}

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
    ],
};

/// What a checkpoint's histories are read from.
pub(crate) const CHECKPOINT_KEYS: Keys = Keys {
    lists: &["input_history", "replacement_history"],
    fields: &[],
};

/// A payload's top-level object as the shape logic sees it: every field as a value (the full
/// parse), or the item lists as raw elements beside the fields named in [`Keys`] (a shallow
/// parse, see `raw`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Object<'v, 'a> {
    /// Fields held as values.
    fields: &'v Map<String, Value>,
    /// Item lists held as raw elements (shallow parses only).
    lists: &'v [(&'static str, Vec<&'a RawValue>)],
    /// The keys a shallow parse kept; `None` for a full parse, which kept them all.
    keys: Option<&'static Keys>,
}

/// One top-level field.
#[derive(Debug, Clone, Copy)]
enum Field<'v, 'a> {
    /// A field held as a value.
    Value(&'v Value),
    /// An item list held as raw elements.
    Raw(&'v [&'a RawValue]),
}

impl<'v, 'a> Object<'v, 'a> {
    /// An object whose every field is a value.
    fn full(fields: &'v Map<String, Value>) -> Object<'v, 'a> {
        Object {
            fields,
            lists: &[],
            keys: None,
        }
    }

    /// A shallow parse's object.
    pub(crate) fn shallow(
        fields: &'v Map<String, Value>,
        lists: &'v [(&'static str, Vec<&'a RawValue>)],
        keys: &'static Keys,
    ) -> Object<'v, 'a> {
        Object {
            fields,
            lists,
            keys: Some(keys),
        }
    }

    /// The field `key`, a value or a raw list.
    fn get(&self, key: &str) -> Option<Field<'v, 'a>> {
        debug_assert!(
            self.keys
                .is_none_or(|keys| keys.lists.contains(&key) || keys.fields.contains(&key)),
            "`{key}` is not in the payload kind's `Keys`"
        );
        match self.lists.iter().find(|(name, _)| *name == key) {
            Some((_, elements)) => Some(Field::Raw(elements)),
            None => self.fields.get(key).map(Field::Value),
        }
    }

    /// The field `key` when it is held as a value.
    fn value(&self, key: &str) -> Option<&'v Value> {
        match self.get(key)? {
            Field::Value(value) => Some(value),
            Field::Raw(_) => None,
        }
    }

    /// Whether the object has the key `key`.
    fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }
}

/// A request's items, from a full or a shallow parse.
pub(crate) fn request(
    obj: Object<'_, '_>,
    provider_hint: Option<&str>,
    memo: &mut ItemMemo,
) -> Result<ModelRequest, ShapeError> {
    if let Some(input) = obj.get("input") {
        let items = match input {
            Field::Value(Value::String(text)) => {
                vec![Rc::new(message_item("user", &text_parts(text)))]
            }
            Field::Value(Value::Array(_)) | Field::Raw(_) => {
                let mut items = Vec::new();
                parse_list(input, "input", ListKind::Items, memo, &mut items)?;
                items
            }
            Field::Value(other) => {
                return Err(ShapeError(format!(
                    "`input` is {}; expected a string or an array of items",
                    json_kind(other)
                )))
            }
        };
        let previous_response_id = match obj.value("previous_response_id") {
            None | Some(Value::Null) => None,
            Some(Value::String(id)) => Some(id.clone()),
            Some(other) => {
                return Err(ShapeError(format!(
                    "`previous_response_id` is {}; expected a string",
                    json_kind(other)
                )))
            }
        };
        return Ok(ModelRequest {
            format: PayloadFormat::OpenAiResponses,
            items,
            previous_response_id,
        });
    }
    if let Some(messages) = obj.get("messages") {
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
        let evidence = parse_list(messages, "messages", ListKind::Messages, memo, &mut items)?;
        let evidence = Evidence {
            anthropic: evidence.anthropic || system.is_some_and(|system| !system.is_null()),
            ..evidence
        };
        return Ok(ModelRequest {
            format: evidence.format(provider_hint),
            items,
            previous_response_id: None,
        });
    }
    Err(ShapeError(
        "request payload has neither `input` nor `messages`".to_owned(),
    ))
}

/// A response's items, id and usage, from a full or a shallow parse.
pub(crate) fn response(
    root: Object<'_, '_>,
    provider_hint: Option<&str>,
    memo: &mut ItemMemo,
) -> Result<ModelResponse, ShapeError> {
    let mut obj = root;
    if !has_response_shape(obj) {
        if let Some(Value::Object(inner)) = obj.value("response") {
            if has_response_shape(Object::full(inner)) {
                obj = Object::full(inner);
            }
        }
    }
    if let Some((key, output)) = ["output", "output_items"]
        .into_iter()
        .find_map(|key| obj.get(key).map(|output| (key, output)))
    {
        return responses_response(obj, key, output, memo);
    }
    if let Some(choices) = obj.value("choices") {
        return chat_response(obj, choices);
    }
    let says_assistant_message = obj.value("role").and_then(Value::as_str) == Some("assistant")
        || obj.value("type").and_then(Value::as_str) == Some("message")
        || hint_says_anthropic(provider_hint);
    if matches!(obj.value("content"), Some(Value::Array(_))) && says_assistant_message {
        return anthropic_response(obj);
    }
    Err(ShapeError(
        "response payload has none of `output`, `output_items`, `choices` or an assistant \
         `content` array"
            .to_owned(),
    ))
}

/// A checkpoint's histories from a shallow parse, when both are item lists that parse.
pub(crate) fn checkpoint(
    obj: Object<'_, '_>,
    memo: &mut ItemMemo,
) -> Result<(SharedItems, SharedItems), ShapeError> {
    let mut histories = [Vec::new(), Vec::new()];
    for (key, items) in ["input_history", "replacement_history"]
        .into_iter()
        .zip(&mut histories)
    {
        let Some(list) = obj.get(key) else {
            return Err(ShapeError(format!("no `{key}`")));
        };
        parse_list(list, "items", ListKind::Items, memo, items)?;
    }
    let [input, replacement] = histories;
    Ok((input, replacement))
}

/// A Responses (or Codex-style) response: `output`/`output_items` and `usage`/`token_usage`.
fn responses_response(
    obj: Object<'_, '_>,
    key: &'static str,
    output: Field<'_, '_>,
    memo: &mut ItemMemo,
) -> Result<ModelResponse, ShapeError> {
    let mut items = Vec::new();
    if !matches!(output, Field::Value(Value::Null)) {
        parse_list(output, key, ListKind::Items, memo, &mut items)?;
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
    });
    Ok(ModelResponse {
        format: PayloadFormat::OpenAiResponses,
        items,
        response_id: string_field(obj, "id").or_else(|| string_field(obj, "response_id")),
        usage,
    })
}

/// A Chat Completions response: the first choice's message and `usage`.
fn chat_response(obj: Object<'_, '_>, choices: &Value) -> Result<ModelResponse, ShapeError> {
    let Value::Array(choices) = choices else {
        return Err(ShapeError(format!(
            "`choices` is {}; expected an array of choices",
            json_kind(choices)
        )));
    };
    let mut items = Vec::new();
    if let Some(choice) = choices.first() {
        let Some(message) = choice.get("message").filter(|message| message.is_object()) else {
            return Err(ShapeError(
                "`choices[0]` has no `message` object".to_owned(),
            ));
        };
        parse_message(
            message,
            Loc::field("choices[0].message"),
            Some("assistant"),
            &mut items,
        )?;
    }
    let usage = usage_object(obj, &["usage"]).map(|usage| Usage {
        input_tokens: counter(usage, &[&["prompt_tokens"]]),
        output_tokens: counter(usage, &[&["completion_tokens"]]),
        cached_input_tokens: counter(usage, &[&["prompt_tokens_details", "cached_tokens"]]),
        reasoning_tokens: counter(usage, &[&["completion_tokens_details", "reasoning_tokens"]]),
    });
    Ok(ModelResponse {
        format: PayloadFormat::OpenAiChat,
        items: items.into_iter().map(Rc::new).collect(),
        response_id: string_field(obj, "id"),
        usage,
    })
}

/// An Anthropic Messages response: the assistant message itself and `usage`.
fn anthropic_response(obj: Object<'_, '_>) -> Result<ModelResponse, ShapeError> {
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
        Usage {
            input_tokens: counter(usage, &[&["input_tokens"]])
                .saturating_add(cached)
                .saturating_add(counter(usage, &[&["cache_creation_input_tokens"]])),
            output_tokens: counter(usage, &[&["output_tokens"]]),
            cached_input_tokens: cached,
            reasoning_tokens: 0,
        }
    });
    Ok(ModelResponse {
        format: PayloadFormat::AnthropicMessages,
        items: items.into_iter().map(Rc::new).collect(),
        response_id: string_field(obj, "id"),
        usage,
    })
}

/// Which parser the elements of an item list go through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ListKind {
    /// Responses items or messages of any shape (`input`, `output`, checkpoint histories).
    Items,
    /// Chat or Anthropic messages (`messages`).
    Messages,
}

/// What one list element parses to; a function of the element's JSON and the list kind alone.
#[derive(Debug)]
pub(crate) struct Parsed {
    /// The element's items, in order.
    pub(crate) items: SharedItems,
    /// What the element says about the shape of a `messages` list.
    pub(crate) evidence: Evidence,
}

/// Parses one element of a list of `kind`.
fn parse_element(element: &Value, kind: ListKind, loc: Loc) -> Result<Parsed, ShapeError> {
    let mut items = Vec::new();
    let evidence = match kind {
        ListKind::Items => {
            parse_item(element, loc, &mut items)?;
            Evidence::default()
        }
        ListKind::Messages => {
            parse_message(element, loc, None, &mut items)?;
            message_evidence(element)
        }
    };
    Ok(Parsed {
        items: items.into_iter().map(Rc::new).collect(),
        evidence,
    })
}

/// Parses the list `list` (named `name` in errors) of `kind` into `out`; returns what its
/// elements say about the shape. Raw elements go through `memo`.
fn parse_list(
    list: Field<'_, '_>,
    name: &'static str,
    kind: ListKind,
    memo: &mut ItemMemo,
    out: &mut SharedItems,
) -> Result<Evidence, ShapeError> {
    let mut evidence = Evidence::default();
    match list {
        Field::Value(Value::Array(list)) => {
            out.reserve(list.len());
            for (index, element) in list.iter().enumerate() {
                let parsed = parse_element(element, kind, Loc::at(name, index))?;
                evidence = evidence.or(parsed.evidence);
                out.extend(parsed.items);
            }
        }
        Field::Value(other) => {
            return Err(ShapeError(format!(
                "`{name}` is {}; expected an array of items",
                json_kind(other)
            )))
        }
        Field::Raw(elements) => {
            out.reserve(elements.len());
            for (index, element) in elements.iter().enumerate() {
                let parsed = memo.element(element, kind, |element| {
                    parse_element(element, kind, Loc::at(name, index))
                })?;
                evidence = evidence.or(parsed.evidence);
                out.extend(parsed.items.iter().cloned());
            }
        }
    }
    Ok(evidence)
}

/// Where in the payload a piece sits, for error messages (`input[3]`, `choices[0].message`).
/// Formatted only when an error is built.
#[derive(Debug, Clone, Copy)]
struct Loc {
    /// The list or field name.
    name: &'static str,
    /// Index into the list, if `name` is a list.
    index: Option<usize>,
}

impl Loc {
    /// Element `index` of the list `name`.
    fn at(name: &'static str, index: usize) -> Loc {
        Loc {
            name,
            index: Some(index),
        }
    }

    /// A single field.
    fn field(name: &'static str) -> Loc {
        Loc { name, index: None }
    }
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)?;
        match self.index {
            Some(index) => write!(f, "[{index}]"),
            None => Ok(()),
        }
    }
}

/// One piece of an item's canonical content, borrowed from the parsed payload.
#[derive(Debug)]
enum Part<'a> {
    /// Readable text (message text, call input, output text, reasoning text).
    Text(&'a str),
    /// A reasoning summary.
    Summary(&'a str),
    /// Structured call arguments, compared as JSON values (key order and whitespace ignored).
    Json(Cow<'a, Value>),
    /// A non-text part (image, document, audio, …) or unknown item, compared by its whole JSON
    /// minus a top-level `cache_control`.
    Raw(&'a Value),
    /// A labelled opaque string: `encrypted_content`, a thinking `signature`, a `refusal`.
    Field {
        /// What the string is.
        label: &'static str,
        /// The string itself.
        value: &'a str,
    },
    /// An Anthropic `tool_result` with `is_error: true`.
    IsError,
}

/// Parses one element of a Responses `input`/`output` list or an item list: a typed Responses
/// item, or a message of any shape.
fn parse_item(item: &Value, loc: Loc, out: &mut Vec<ModelItem>) -> Result<(), ShapeError> {
    let Value::Object(obj) = item else {
        return Err(ShapeError(format!(
            "{loc} is {}; expected an item object",
            json_kind(item)
        )));
    };
    let item_type = match obj.get("type") {
        None | Some(Value::Null) => None,
        Some(Value::String(item_type)) => Some(item_type.as_str()),
        Some(other) => {
            return Err(ShapeError(format!(
                "{loc} has `type` {}; expected a string",
                json_kind(other)
            )))
        }
    };
    match item_type {
        None if !obj.contains_key("role") => {
            Err(ShapeError(format!("{loc} has neither `type` nor `role`")))
        }
        None | Some("message") => parse_message(item, loc, None, out),
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

/// Parses a message of any shape into its items, in block order.
///
/// A Chat `tool` message is one call output. Otherwise the content's text and other plain
/// parts form message items, split at Anthropic `tool_use`/`tool_result`/`thinking` blocks
/// (each its own item), followed by one call item per Chat `tool_calls` entry. A message that
/// yields nothing else is still one (empty) message item; an empty message beside calls is not.
fn parse_message(
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
fn parse_message_fields(
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

/// The item an Anthropic block stands for on its own (`tool_use`, `tool_result`, `thinking`,
/// `redacted_thinking`), or `None` for a block that is part of the message content.
fn block_item(block: &Value, at: &dyn Fn() -> String) -> Result<Option<ModelItem>, ShapeError> {
    let block_type = block.get("type").and_then(Value::as_str);
    if !matches!(
        block_type,
        Some("tool_use" | "tool_result" | "thinking" | "redacted_thinking")
    ) {
        return Ok(None);
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

/// Parses one Chat `tool_calls` entry: a `function` call, or a `custom` one.
fn chat_tool_call(call: &Value, at: &dyn Fn() -> String) -> Result<ModelItem, ShapeError> {
    let call = block_object(call, at)?;
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
    let encrypted = match obj.get("encrypted_content") {
        None | Some(Value::Null) => None,
        Some(Value::String(encrypted)) => Some(encrypted.as_str()),
        Some(other) => {
            return Err(ShapeError(format!(
                "{loc}.encrypted_content is {}; expected a string",
                json_kind(other)
            )))
        }
    };
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

/// Normalises message-like content: a string, an array of parts, or nothing.
fn content_parts<'a>(
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
fn content_part<'a>(
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

/// A string content as parts: one text part, none if empty.
fn text_parts(text: &str) -> Vec<Part<'_>> {
    if text.is_empty() {
        Vec::new()
    } else {
        vec![Part::Text(text)]
    }
}

/// Emits the accumulated message parts as one message item, if there are any.
fn flush_message(role: &str, pending: &mut Vec<Part<'_>>, out: &mut Vec<ModelItem>) {
    if !pending.is_empty() {
        out.push(message_item(role, pending));
        pending.clear();
    }
}

/// A message item.
fn message_item(role: &str, parts: &[Part<'_>]) -> ModelItem {
    build_item(ItemKind::Message, Some(role), None, None, parts)
}

/// A function call whose arguments are a JSON text (Responses, Chat) or, rarely, a value.
fn function_call_item(call_id: &str, name: &str, arguments: Option<&Value>) -> ModelItem {
    match arguments {
        Some(Value::String(arguments)) => {
            // Arguments that are JSON compare as JSON, so re-serialised calls still match.
            let parts = [match serde_json::from_str::<Value>(arguments) {
                Ok(value) => Part::Json(Cow::Owned(value)),
                Err(_) => Part::Text(arguments),
            }];
            item_with_text(
                ItemKind::FunctionCall,
                Some("assistant"),
                Some(call_id),
                Some(name),
                &parts,
                arguments.clone(),
            )
        }
        other => call_value_item(call_id, name, other),
    }
}

/// A function call whose arguments are a JSON value (Anthropic `tool_use` `input`).
fn call_value_item(call_id: &str, name: &str, input: Option<&Value>) -> ModelItem {
    let parts: Vec<Part<'_>> = match input {
        None | Some(Value::Null) => Vec::new(),
        Some(input) => vec![Part::Json(Cow::Borrowed(input))],
    };
    build_item(
        ItemKind::FunctionCall,
        Some("assistant"),
        Some(call_id),
        Some(name),
        &parts,
    )
}

/// A custom (free-form) tool call: its input is plain text, never parsed as JSON.
fn custom_call_item(call_id: &str, name: &str, input: Option<&Value>) -> ModelItem {
    let parts: Vec<Part<'_>> = match input {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(input)) => vec![Part::Text(input)],
        Some(input) => vec![Part::Json(Cow::Borrowed(input))],
    };
    build_item(
        ItemKind::CustomToolCall,
        Some("assistant"),
        Some(call_id),
        Some(name),
        &parts,
    )
}

/// A call output item (always role `tool`).
fn output_item(kind: ItemKind, call_id: &str, parts: &[Part<'_>]) -> ModelItem {
    build_item(kind, Some("tool"), Some(call_id), None, parts)
}

/// Builds an item, its text from the readable parts and its hash from all of them.
fn build_item(
    kind: ItemKind,
    role: Option<&str>,
    call_id: Option<&str>,
    name: Option<&str>,
    parts: &[Part<'_>],
) -> ModelItem {
    item_with_text(kind, role, call_id, name, parts, readable_text(parts))
}

/// Builds an item whose text is not simply its readable parts (verbatim arguments, an unknown
/// item's type, reasoning identified by its encrypted content).
fn item_with_text(
    kind: ItemKind,
    role: Option<&str>,
    call_id: Option<&str>,
    name: Option<&str>,
    parts: &[Part<'_>],
    text: String,
) -> ModelItem {
    ModelItem {
        kind,
        role: role.map(str::to_owned),
        call_id: call_id.map(str::to_owned),
        name: name.map(str::to_owned),
        text,
        content_hash: content_hash(kind, role, call_id, name, parts),
    }
}

/// Text and summary parts joined by newlines; structured parts render as compact JSON.
fn readable_text(parts: &[Part<'_>]) -> String {
    let mut text = String::new();
    for part in parts {
        let piece: Cow<'_, str> = match part {
            Part::Text(piece) | Part::Summary(piece) => Cow::Borrowed(piece),
            Part::Json(value) => Cow::Owned(value.to_string()),
            Part::Raw(_) | Part::Field { .. } | Part::IsError => continue,
        };
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&piece);
    }
    text
}

/// The canonical hash of an item; see the module docs for what it covers.
fn content_hash(
    kind: ItemKind,
    role: Option<&str>,
    call_id: Option<&str>,
    name: Option<&str>,
    parts: &[Part<'_>],
) -> u128 {
    let mut hasher = ContentHasher::new();
    hasher.str(kind_tag(kind));
    hasher.opt_str(role);
    hasher.opt_str(call_id);
    hasher.opt_str(name);
    hasher.len(parts.len());
    for part in parts {
        match part {
            Part::Text(text) => {
                hasher.tag(b't');
                hasher.str(text);
            }
            Part::Summary(text) => {
                hasher.tag(b's');
                hasher.str(text);
            }
            Part::Json(value) => {
                hasher.tag(b'j');
                hasher.value(value, None);
            }
            Part::Raw(value) => {
                hasher.tag(b'r');
                hasher.value(value, Some("cache_control"));
            }
            Part::Field { label, value } => {
                hasher.tag(b'f');
                hasher.str(label);
                hasher.str(value);
            }
            Part::IsError => hasher.tag(b'e'),
        }
    }
    hasher.finish()
}

/// A stable name for each kind, fed to the hash.
fn kind_tag(kind: ItemKind) -> &'static str {
    match kind {
        ItemKind::Message => "message",
        ItemKind::Reasoning => "reasoning",
        ItemKind::FunctionCall => "function_call",
        ItemKind::FunctionCallOutput => "function_call_output",
        ItemKind::CustomToolCall => "custom_tool_call",
        ItemKind::CustomToolCallOutput => "custom_tool_call_output",
        ItemKind::CompactionMarker => "compaction_marker",
        ItemKind::Other => "other",
    }
}

/// Two 64-bit hashers over the same canonical byte stream, seeded differently, for a 128-bit
/// hash.
///
/// The stream is an injective encoding (every variable-length piece is length-prefixed and
/// object keys are sorted), so equal hashes mean equal content up to a 2^-128-ish accident.
/// Hashing this encoding rather than `serde_json::to_string` keeps it canonical even if some
/// dependency turns on serde_json's `preserve_order`, and avoids cloning large images.
#[derive(Debug)]
struct ContentHasher {
    /// Low 64 bits.
    low: DefaultHasher,
    /// High 64 bits.
    high: DefaultHasher,
}

/// A pending step of the iterative JSON walk.
#[derive(Debug)]
enum Walk<'v> {
    /// An object key, emitted before its value.
    Key(&'v str),
    /// A value still to encode.
    Value(&'v Value),
}

impl ContentHasher {
    /// Two hashers with distinct seeds (a distinct first byte).
    fn new() -> ContentHasher {
        let mut low = DefaultHasher::new();
        low.write_u8(0x4c);
        let mut high = DefaultHasher::new();
        high.write_u8(0x48);
        ContentHasher { low, high }
    }

    /// Feeds raw bytes to both halves.
    fn bytes(&mut self, bytes: &[u8]) {
        self.low.write(bytes);
        self.high.write(bytes);
    }

    /// Feeds a one-byte tag.
    fn tag(&mut self, tag: u8) {
        self.bytes(&[tag]);
    }

    /// Feeds a length.
    fn len(&mut self, len: usize) {
        self.bytes(&(len as u64).to_le_bytes());
    }

    /// Feeds a length-prefixed string.
    fn str(&mut self, text: &str) {
        self.len(text.len());
        self.bytes(text.as_bytes());
    }

    /// Feeds an optional string.
    fn opt_str(&mut self, text: Option<&str>) {
        match text {
            None => self.tag(0),
            Some(text) => {
                self.tag(1);
                self.str(text);
            }
        }
    }

    /// Feeds a JSON value with sorted keys, skipping `skip_root_key` in a top-level object.
    /// Iterative, so no value is too deep for the stack.
    fn value(&mut self, root: &Value, skip_root_key: Option<&str>) {
        let mut stack = Vec::new();
        self.open(root, skip_root_key, &mut stack);
        while let Some(step) = stack.pop() {
            match step {
                Walk::Key(key) => self.str(key),
                Walk::Value(value) => self.open(value, None, &mut stack),
            }
        }
    }

    /// Encodes a scalar, or the header of a container and pushes its children.
    fn open<'v>(&mut self, value: &'v Value, skip_key: Option<&str>, stack: &mut Vec<Walk<'v>>) {
        match value {
            Value::Null => self.tag(b'n'),
            Value::Bool(flag) => {
                self.tag(b'b');
                self.tag(u8::from(*flag));
            }
            Value::Number(number) => {
                self.tag(b'#');
                self.str(&number.to_string());
            }
            Value::String(text) => {
                self.tag(b'"');
                self.str(text);
            }
            Value::Array(list) => {
                self.tag(b'[');
                self.len(list.len());
                stack.extend(list.iter().rev().map(Walk::Value));
            }
            Value::Object(map) => {
                let mut entries: Vec<(&'v String, &'v Value)> = map
                    .iter()
                    .filter(|(key, _)| Some(key.as_str()) != skip_key)
                    .collect();
                entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
                self.tag(b'{');
                self.len(entries.len());
                for (key, value) in entries.into_iter().rev() {
                    stack.push(Walk::Value(value));
                    stack.push(Walk::Key(key));
                }
            }
        }
    }

    /// The 128-bit hash.
    fn finish(&self) -> u128 {
        (u128::from(self.high.finish()) << 64) | u128::from(self.low.finish())
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
    fn or(self, other: Evidence) -> Evidence {
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
                Some("tool_use" | "tool_result" | "thinking" | "redacted_thinking") => {
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

/// Whether the span's `provider` field names Anthropic.
fn hint_says_anthropic(provider_hint: Option<&str>) -> bool {
    provider_hint.is_some_and(|hint| hint.to_ascii_lowercase().contains("anthropic"))
}

/// Whether an object has one of the top-level keys that identify a response shape.
fn has_response_shape(obj: Object<'_, '_>) -> bool {
    ["output", "output_items", "choices", "content"]
        .iter()
        .any(|key| obj.contains_key(key))
}

/// Parses a payload body as JSON.
fn parse_body(body: &str, what: &str) -> Result<Value, ShapeError> {
    serde_json::from_str(body)
        .map_err(|error| ShapeError(format!("parse {what} payload as json: {error}")))
}

/// The payload's top-level object.
fn as_payload_object<'a>(
    root: &'a Value,
    what: &str,
) -> Result<&'a Map<String, Value>, ShapeError> {
    root.as_object().ok_or_else(|| {
        ShapeError(format!(
            "{what} payload is {}; expected a json object",
            json_kind(root)
        ))
    })
}

/// A required string field of an item.
fn required_str<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    loc: Loc,
    what: &str,
) -> Result<&'a str, ShapeError> {
    match obj.get(key) {
        Some(Value::String(value)) => Ok(value),
        _ => Err(ShapeError(format!("{loc} ({what}) has no string `{key}`"))),
    }
}

/// A content block or part as an object.
fn block_object<'a>(
    block: &'a Value,
    at: &dyn Fn() -> String,
) -> Result<&'a Map<String, Value>, ShapeError> {
    block.as_object().ok_or_else(|| {
        ShapeError(format!(
            "{} is {}; expected an object",
            at(),
            json_kind(block)
        ))
    })
}

/// A required string field of a content block or part.
fn block_str<'a>(
    block: &'a Map<String, Value>,
    key: &str,
    at: &dyn Fn() -> String,
    what: &str,
) -> Result<&'a str, ShapeError> {
    match block.get(key) {
        Some(Value::String(value)) => Ok(value),
        _ => Err(ShapeError(format!(
            "{} ({what}) has no string `{key}`",
            at()
        ))),
    }
}

/// An optional string field, owned.
fn string_field(obj: Object<'_, '_>, key: &str) -> Option<String> {
    obj.value(key).and_then(Value::as_str).map(str::to_owned)
}

/// The first of `keys` that holds an object (a `null` usage is no usage).
fn usage_object<'v>(obj: Object<'v, '_>, keys: &[&str]) -> Option<&'v Value> {
    keys.iter()
        .filter_map(|key| obj.value(key))
        .find(|usage| usage.is_object())
}

/// The first counter found at one of `paths`; missing, negative or non-numeric counts are 0.
fn counter(usage: &Value, paths: &[&[&str]]) -> u64 {
    paths
        .iter()
        .find_map(|path| {
            path.iter()
                .try_fold(usage, |value, key| value.get(key))
                .and_then(|value| match value {
                    Value::Number(number) => Some(number),
                    _ => None,
                })
        })
        .map_or(0, |number| {
            number.as_u64().unwrap_or_else(|| match number.as_f64() {
                // Float counts (some proxies send `12.0`) truncate; negatives clamp to 0.
                Some(float) if float.is_finite() && float > 0.0 => float as u64,
                _ => 0,
            })
        })
}

/// `a string`, `an array`, … for error messages.
fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
#[path = "providers_tests.rs"]
mod tests;
