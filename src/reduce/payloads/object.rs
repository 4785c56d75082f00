//! A body's top-level object as the shapes read it, its item lists, locations for errors, and
//! the small field readers every shape uses.
//!
//! Invariant: the shapes read a body only through [`Object`] (every field a value in a full
//! parse; in a shallow parse the item lists as raw elements beside the fields [`Keys`] names,
//! checked in debug builds), and raw elements only through an [`ElementCache`]: the memo
//! implements it, so it depends on the shapes and they never name it. A list's elements go
//! through the [`ListParser`] of its [`ListKind`], which the file owning that parser hands in:
//! this file imports only the bottom ones (`item.rs`, `model.rs`), never a shape.

use std::fmt;
use std::rc::Rc;

use serde_json::{Map, Value};

use super::item::{ModelItem, SharedItems};
use super::model::{ApiError, ShapeError};

/// One raw element of an item list in a shallow parse: its JSON text, and the memo's hash of
/// that text (computed once, or known from the earlier body it was copied from).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Element<'a> {
    /// The element's JSON text, a complete value.
    pub(crate) text: &'a str,
    /// The memo's hash of `text`.
    pub(crate) hash: u64,
}

/// Where the raw elements of a shallow parse's item lists are parsed: the reducer's memo,
/// or [`Uncached`].
pub(crate) trait ElementCache {
    /// What `element`, an element of a list of `kind`, parses to: a remembered result for
    /// the same text and kind, or `parse` of its value.
    fn element(
        &mut self,
        element: &Element<'_>,
        kind: ListKind,
        parse: &dyn Fn(&Value) -> Result<Parsed, ShapeError>,
    ) -> Result<&Parsed, ShapeError>;
}

/// An [`ElementCache`] that remembers nothing (the full parse, which holds no raw lists).
#[derive(Debug, Default)]
pub(super) struct Uncached(Option<Parsed>);

impl ElementCache for Uncached {
    fn element(
        &mut self,
        element: &Element<'_>,
        _kind: ListKind,
        parse: &dyn Fn(&Value) -> Result<Parsed, ShapeError>,
    ) -> Result<&Parsed, ShapeError> {
        let value: Value =
            serde_json::from_str(element.text).map_err(|e| ShapeError(e.to_string()))?;
        Ok(self.0.insert(parse(&value)?))
    }
}

/// The top-level keys the shape logic reads from one kind of payload.
#[derive(Debug)]
pub(crate) struct Keys {
    /// Item lists: a shallow parse splits them into raw elements.
    pub(crate) lists: &'static [&'static str],
    /// Every other key the shape logic looks at.
    pub(crate) fields: &'static [&'static str],
}

/// A payload's top-level object as the shape logic sees it: every field as a value (the full
/// parse), or the item lists as raw elements beside the fields named in [`Keys`] (a shallow
/// parse, see `memo.rs`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Object<'v, 'a> {
    /// Fields held as values.
    pub(super) fields: &'v Map<String, Value>,
    /// Item lists held as raw elements (shallow parses only).
    lists: &'v [(&'static str, Vec<Element<'a>>)],
    /// The keys a shallow parse kept; `None` for a full parse, which kept them all.
    keys: Option<&'static Keys>,
}

/// One top-level field.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Field<'v, 'a> {
    /// A field held as a value.
    Value(&'v Value),
    /// An item list held as raw elements.
    Raw(&'v [Element<'a>]),
}

impl<'v, 'a> Object<'v, 'a> {
    /// An object whose every field is a value.
    pub(super) fn full(fields: &'v Map<String, Value>) -> Object<'v, 'a> {
        Object {
            fields,
            lists: &[],
            keys: None,
        }
    }

    /// A full parse's top-level object: `root`, which must be an object (`what` names the
    /// payload in the error).
    pub(super) fn root(root: &'v Value, what: &str) -> Result<Object<'v, 'a>, ShapeError> {
        match root {
            Value::Object(fields) => Ok(Object::full(fields)),
            other => Err(ShapeError(format!(
                "{what} payload is {}; expected a json object",
                json_kind(other)
            ))),
        }
    }

    /// A shallow parse's object.
    pub(crate) fn shallow(
        fields: &'v Map<String, Value>,
        lists: &'v [(&'static str, Vec<Element<'a>>)],
        keys: &'static Keys,
    ) -> Object<'v, 'a> {
        Object {
            fields,
            lists,
            keys: Some(keys),
        }
    }

    /// The field `key`, a value or a raw list.
    pub(super) fn get(&self, key: &str) -> Option<Field<'v, 'a>> {
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
    pub(super) fn value(&self, key: &str) -> Option<&'v Value> {
        match self.get(key)? {
            Field::Value(value) => Some(value),
            Field::Raw(_) => None,
        }
    }

    /// Whether the object has the key `key`.
    pub(super) fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }
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

impl Parsed {
    /// An element's items and evidence.
    pub(super) fn new(items: Vec<ModelItem>, evidence: Evidence) -> Parsed {
        Parsed {
            items: items.into_iter().map(Rc::new).collect(),
            evidence,
        }
    }
}

/// What a `messages` list says about its shape: Anthropic and Chat each have features the
/// other lacks (`message.rs` reads them from a message and turns them into a label).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Evidence {
    /// A feature only Anthropic has (a `system` prompt, `tool_use`/`tool_result`/thinking
    /// blocks, `source` images or documents).
    pub(super) anthropic: bool,
    /// A feature only Chat has (`system`/`developer`/`tool` roles, `tool_calls`,
    /// `tool_call_id`, `image_url` or `input_audio` parts).
    pub(super) chat: bool,
}

impl Evidence {
    /// Evidence of both.
    pub(super) fn or(self, other: Evidence) -> Evidence {
        Evidence {
            anthropic: self.anthropic || other.anthropic,
            chat: self.chat || other.chat,
        }
    }
}

/// How the elements of one kind of list parse. There is one per [`ListKind`]
/// (`responses::ITEMS`, `message::MESSAGES`), since the memo files what an element parses to
/// under its text and kind.
#[derive(Debug, Clone, Copy)]
pub(super) struct ListParser {
    /// The kind of list.
    pub(super) kind: ListKind,
    /// Parses one element, at `loc` for errors.
    pub(super) parse: fn(&Value, Loc) -> Result<Parsed, ShapeError>,
}

/// Parses the list `list` (named `name` in errors) with `parser` into `out`; returns what its
/// elements say about the shape. Raw elements go through `cache`.
pub(super) fn parse_list(
    list: Field<'_, '_>,
    name: &'static str,
    parser: ListParser,
    cache: &mut dyn ElementCache,
    out: &mut SharedItems,
) -> Result<Evidence, ShapeError> {
    let mut evidence = Evidence::default();
    match list {
        Field::Value(Value::Array(list)) => {
            out.reserve(list.len());
            for (index, element) in list.iter().enumerate() {
                let parsed = (parser.parse)(element, Loc::at(name, index))?;
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
                let parsed = cache.element(element, parser.kind, &|element| {
                    (parser.parse)(element, Loc::at(name, index))
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
pub(super) struct Loc {
    /// The list or field name.
    name: &'static str,
    /// Index into the list, if `name` is a list.
    index: Option<usize>,
}

impl Loc {
    /// Element `index` of the list `name`.
    pub(super) fn at(name: &'static str, index: usize) -> Loc {
        Loc {
            name,
            index: Some(index),
        }
    }

    /// A single field.
    pub(super) fn field(name: &'static str) -> Loc {
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

/// Parses a payload body as JSON.
pub(super) fn parse_body(body: &str, what: &str) -> Result<Value, ShapeError> {
    serde_json::from_str(body)
        .map_err(|error| ShapeError(format!("parse {what} payload as json: {error}")))
}

/// A required string field of an item.
pub(super) fn required_str<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    loc: Loc,
    what: &str,
) -> Result<&'a str, ShapeError> {
    block_str(obj, key, &|| loc.to_string(), what)
}

/// `value` as an object, or an error saying where it is and what was expected there
/// (`input[3] is a string; expected an item object`).
pub(super) fn expect_object<'a>(
    value: &'a Value,
    at: &dyn Fn() -> String,
    expected: &str,
) -> Result<&'a Map<String, Value>, ShapeError> {
    value.as_object().ok_or_else(|| {
        ShapeError(format!(
            "{} is {}; expected {expected}",
            at(),
            json_kind(value)
        ))
    })
}

/// A required string field of a content block or part.
pub(super) fn block_str<'a>(
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
pub(super) fn string_field(obj: Object<'_, '_>, key: &str) -> Option<String> {
    obj.value(key).and_then(Value::as_str).map(str::to_owned)
}

/// The first of `keys` that holds an object (a `null` usage is no usage).
pub(super) fn usage_object<'v>(obj: Object<'v, '_>, keys: &[&str]) -> Option<&'v Value> {
    keys.iter()
        .filter_map(|key| obj.value(key))
        .find(|usage| usage.is_object())
}

/// The first counter found at one of `paths`; missing, negative or non-numeric counts are 0.
pub(super) fn counter(usage: &Value, paths: &[&[&str]]) -> u64 {
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

/// The provider error object of a body, if it has one (`"error": null` is none): an error
/// body's, or a failed Responses body's.
pub(super) fn api_error(obj: Object<'_, '_>) -> Option<ApiError> {
    let Some(Value::Object(error)) = obj.value("error") else {
        return None;
    };
    Some(read_api_error(error))
}

/// Reads one provider error object.
fn read_api_error(error: &Map<String, Value>) -> ApiError {
    let text = |key: &str| match error.get(key)? {
        Value::String(text) if !text.is_empty() => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    };
    ApiError {
        kind: text("type")
            .or_else(|| text("code"))
            .or_else(|| text("status")),
        message: text("message"),
    }
}

/// `a string`, `an array`, … for error messages.
pub(super) fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
