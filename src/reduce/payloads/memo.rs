//! The memoised parse of model payloads. Requests are mostly full snapshots that repeat the
//! previous request's items byte for byte, so each item-list element is parsed once and
//! recognised by its JSON text afterwards, and no `serde_json::Value` is built for the body.
//!
//! Invariants:
//! - Same result as the full parse (`parse_request` and friends: one `Value` per
//!   body), or the full parse itself. A shallow parse reads the body's top-level object once:
//!   the item lists ([`Keys::lists`]) split into raw elements, the fields the shape logic reads
//!   ([`Keys::fields`]) as values, every other field only validated in place, as strictly as
//!   the full parse would. The shape logic is the full parse's own (`payloads::request`, …).
//!   Anything unusual (not an object, a list that is not an array, a repeated list key, a key
//!   serde_json treats specially) and every error, shape or JSON, reruns the full parse, which
//!   decides and names it.
//! - A memo entry maps an element's exact text and list kind to what parsing it gives. A
//!   lookup compares the whole text (the 64-bit hash only picks the slot), and entries come
//!   only from successful parses, so a hit is exactly a fresh parse; it hands out the entry's
//!   items themselves (`Rc`: one thread replays the log), not copies of their strings.
//!   Elements sit two levels below the root (`{"input": [element]}`), and an element is
//!   accepted only within the nesting depth serde_json allows there, so a hit also vouches
//!   that the full parse accepts the element.
//! - Memory is bounded by the recent past, not the log: entries live in two generations; a
//!   hit moves an entry to the young one, and when the young one holds more than the budget
//!   (element text plus [`ENTRY_OVERHEAD`] per entry; at least [`MIN_GENERATION_BYTES`], and
//!   twice what the largest body seen costs in the same measure, so the items of consecutive
//!   snapshots meet) it becomes the old one and the old one is dropped.
//!
//! Sits beside `mod.rs`: imports its dispatch (`request`, `response`, `checkpoint`) and the
//! bottom (`object.rs`, `model.rs`); nothing imports it but `mod.rs`, to re-export [`ItemMemo`].

use std::borrow::Cow;
use std::collections::hash_map;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::model::{ModelRequest, ModelResponse, ShapeError};
use super::object::{ElementCache, Keys, ListKind, Object, Parsed};
use super::{
    checkpoint, parse_checkpoint, parse_request, parse_response, request, response, Histories,
    CHECKPOINT_KEYS, REQUEST_KEYS, RESPONSE_KEYS,
};
use crate::reduce::U64Map;

/// Smallest budget per generation.
const MIN_GENERATION_BYTES: usize = 1 << 20;

/// What an entry costs beyond its text, roughly (its item, strings and slot), in the budget.
const ENTRY_OVERHEAD: usize = 256;

/// Deepest an element may nest (itself at depth 1): serde_json parses at most 127 levels, and
/// an element is the third (root object, list, element).
const MAX_ELEMENT_DEPTH: usize = 125;

/// Keys with this prefix make serde_json's `Value` deserialisation special-case the object.
const SERDE_JSON_PRIVATE: &str = "$serde_json::private::";

/// Parsed list elements by their JSON text; see the module docs.
#[derive(Debug, Default)]
pub(crate) struct ItemMemo {
    /// Entries used since the last generation change.
    young: U64Map<Entry>,
    /// Entries of the generation before.
    old: U64Map<Entry>,
    /// Budget used by `young`.
    young_bytes: usize,
    /// What the elements of the body being parsed have cost so far, in the budget's measure.
    body_cost: usize,
    /// The most a body has cost so far: its text, or its elements' text plus overhead if that
    /// is more (many small elements), so that a generation holds two snapshots whatever their
    /// elements' size.
    largest_body: usize,
}

/// One memoised element.
#[derive(Debug)]
struct Entry {
    /// The element's JSON text.
    text: Box<str>,
    /// The parser it went through.
    kind: ListKind,
    /// What it parsed to.
    parsed: Parsed,
}

impl ItemMemo {
    /// [`parse_request`], memoised.
    pub(crate) fn request(
        &mut self,
        body: &str,
        provider_hint: Option<&str>,
    ) -> Result<ModelRequest, ShapeError> {
        self.shallow(body, &REQUEST_KEYS, |obj, memo| {
            request(obj, provider_hint, memo)
        })
        .or_else(|_| parse_request(body, provider_hint))
    }

    /// [`parse_response`], memoised.
    pub(crate) fn response(
        &mut self,
        body: &str,
        provider_hint: Option<&str>,
    ) -> Result<ModelResponse, ShapeError> {
        self.shallow(body, &RESPONSE_KEYS, |obj, memo| {
            response(obj, provider_hint, memo)
        })
        .or_else(|_| parse_response(body, provider_hint))
    }

    /// [`parse_checkpoint`], memoised.
    pub(crate) fn checkpoint(
        &mut self,
        body: &str,
        provider_hint: Option<&str>,
    ) -> Option<Histories> {
        match self.shallow(body, &CHECKPOINT_KEYS, checkpoint) {
            Ok((input, replacement)) => Some((Ok(input), Ok(replacement))),
            Err(_) => parse_checkpoint(body, provider_hint),
        }
    }

    /// Reads `body` with `read` through a shallow parse of `keys` and this memo; any error
    /// means "use the full parse".
    fn shallow<T>(
        &mut self,
        body: &str,
        keys: &'static Keys,
        read: impl FnOnce(Object<'_, '_>, &mut dyn ElementCache) -> Result<T, ShapeError>,
    ) -> Result<T, ShapeError> {
        self.begin_body(body);
        Shallow::parse(body, keys).and_then(|shallow| read(shallow.object(), self))
    }

    /// Starts counting the cost of `body`'s elements.
    fn begin_body(&mut self, body: &str) {
        self.body_cost = 0;
        self.largest_body = self.largest_body.max(body.len());
    }
}

impl ElementCache for ItemMemo {
    /// The memoised result, or `parse` of the element's value, remembered when it succeeds.
    fn element(
        &mut self,
        element: &RawValue,
        kind: ListKind,
        parse: &dyn Fn(&Value) -> Result<Parsed, ShapeError>,
    ) -> Result<&Parsed, ShapeError> {
        let text = element.get();
        let hash = text_hash(text.as_bytes());
        let is_it = |entry: &Entry| entry.kind == kind && *entry.text == *text;
        let cost = text.len() + ENTRY_OVERHEAD;
        self.body_cost += cost;
        self.largest_body = self.largest_body.max(self.body_cost);
        if self.young_bytes + cost > MIN_GENERATION_BYTES.max(2 * self.largest_body) {
            self.old = std::mem::take(&mut self.young);
            self.young_bytes = 0;
        }
        let slot = match self.young.entry(hash) {
            hash_map::Entry::Occupied(slot) if is_it(slot.get()) => {
                return Ok(&slot.into_mut().parsed)
            }
            slot => slot,
        };
        let entry = match self.old.remove(&hash) {
            Some(entry) if is_it(&entry) => entry,
            _ => Entry {
                text: text.into(),
                kind,
                parsed: parse(&element_value(text)?)?,
            },
        };
        self.young_bytes += cost;
        let entry = match slot {
            hash_map::Entry::Occupied(mut slot) => {
                slot.insert(entry);
                slot.into_mut()
            }
            hash_map::Entry::Vacant(slot) => slot.insert(entry),
        };
        Ok(&entry.parsed)
    }
}

/// An element's value, if the full parse would accept it two levels below the root.
fn element_value(text: &str) -> Result<Value, ShapeError> {
    let value: Value = serde_json::from_str(text).map_err(|e| ShapeError(e.to_string()))?;
    let mut stack = vec![(&value, 1)];
    while let Some((value, depth)) = stack.pop() {
        let is_container = matches!(value, Value::Array(_) | Value::Object(_));
        if is_container && depth > MAX_ELEMENT_DEPTH {
            return Err(ShapeError("element nests too deep".to_owned()));
        }
        match value {
            Value::Array(list) => stack.extend(list.iter().map(|child| (child, depth + 1))),
            Value::Object(map) => stack.extend(map.values().map(|child| (child, depth + 1))),
            _ => {}
        }
    }
    Ok(value)
}

/// A fast 64-bit hash of an element's text (a folded multiply over 16-byte blocks). Lookups
/// compare the text itself, so a collision costs a parse, never a wrong item.
fn text_hash(bytes: &[u8]) -> u64 {
    const P0: u64 = 0xa076_1d64_78bd_642f;
    const P1: u64 = 0xe703_7ed1_a0b4_28db;
    fn fold(a: u64, b: u64) -> u64 {
        let product = u128::from(a) * u128::from(b);
        (product as u64) ^ ((product >> 64) as u64)
    }
    fn words(block: &[u8; 16]) -> (u64, u64) {
        let mut low = [0; 8];
        let mut high = [0; 8];
        low.copy_from_slice(&block[..8]);
        high.copy_from_slice(&block[8..]);
        (u64::from_le_bytes(low), u64::from_le_bytes(high))
    }
    let mut hash = P0 ^ bytes.len() as u64;
    let mut blocks = bytes.chunks_exact(16);
    for block in &mut blocks {
        let mut array = [0; 16];
        array.copy_from_slice(block);
        let (low, high) = words(&array);
        hash = fold(low ^ P1, high ^ hash);
    }
    let mut tail = [0; 16];
    tail[..blocks.remainder().len()].copy_from_slice(blocks.remainder());
    let (low, high) = words(&tail);
    fold(fold(low ^ P1, high ^ hash) ^ P0, P1 ^ bytes.len() as u64)
}

/// A body's top-level object, shallow: see the module docs.
#[derive(Debug)]
struct Shallow<'a> {
    /// The [`Keys::fields`] present.
    fields: Map<String, Value>,
    /// The [`Keys::lists`] present, as raw elements.
    lists: Vec<(&'static str, Vec<&'a RawValue>)>,
    /// The payload kind's keys.
    keys: &'static Keys,
}

impl<'a> Shallow<'a> {
    /// Parses `body` shallowly; any error means "use the full parse".
    fn parse(body: &'a str, keys: &'static Keys) -> Result<Shallow<'a>, ShapeError> {
        let error = |e: serde_json::Error| ShapeError(e.to_string());
        let mut deserializer = serde_json::Deserializer::from_str(body);
        let shallow = deserializer
            .deserialize_map(ShallowVisitor { keys })
            .map_err(error)?;
        deserializer.end().map_err(error)?;
        Ok(shallow)
    }

    /// The object the shape logic reads.
    fn object(&self) -> Object<'_, 'a> {
        Object::shallow(&self.fields, &self.lists, self.keys)
    }
}

/// Reads the top-level object into a [`Shallow`].
#[derive(Debug)]
struct ShallowVisitor {
    keys: &'static Keys,
}

impl<'de> Visitor<'de> for ShallowVisitor {
    type Value = Shallow<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a payload object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Shallow<'de>, A::Error> {
        let mut shallow = Shallow {
            fields: Map::new(),
            lists: Vec::new(),
            keys: self.keys,
        };
        while let Some(Key(key)) = map.next_key()? {
            if let Some(list) = self.keys.lists.iter().find(|list| **list == key) {
                if shallow.lists.iter().any(|(seen, _)| seen == list) {
                    return Err(de::Error::custom("repeated item list"));
                }
                let elements = map.next_value_seed(Elements)?;
                shallow.lists.push((list, elements));
            } else if self.keys.fields.contains(&&*key) {
                shallow.fields.insert(key.into_owned(), map.next_value()?);
            } else {
                map.next_value::<Valid>()?;
            }
        }
        Ok(shallow)
    }
}

/// An object key, borrowed unless it has escapes. Keys serde_json's `Value` treats specially
/// are refused, so the full parse decides about them.
#[derive(Debug)]
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Key<'de>, D::Error> {
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// Visits a [`Key`].
#[derive(Debug)]
struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_borrowed_str<E: de::Error>(self, key: &'de str) -> Result<Key<'de>, E> {
        Key::checked(Cow::Borrowed(key))
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Key<'de>, E> {
        Key::checked(Cow::Owned(key.to_owned()))
    }
}

impl<'de> Key<'de> {
    fn checked<E: de::Error>(key: Cow<'de, str>) -> Result<Key<'de>, E> {
        if key.starts_with(SERDE_JSON_PRIVATE) {
            return Err(E::custom("serde_json private key"));
        }
        Ok(Key(key))
    }
}

/// An item list's elements, raw; anything but an array is refused.
#[derive(Debug)]
struct Elements;

impl<'de> DeserializeSeed<'de> for Elements {
    type Value = Vec<&'de RawValue>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Elements {
    type Value = Vec<&'de RawValue>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut elements = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(element) = seq.next_element()? {
            elements.push(element);
        }
        Ok(elements)
    }
}

/// Any JSON value, checked as strictly as deserialising it into a `Value` would (numbers in
/// range, strings without lone surrogates, nesting within the limit) without building it.
#[derive(Debug)]
struct Valid;

impl<'de> Deserialize<'de> for Valid {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Valid, D::Error> {
        deserializer.deserialize_any(Valid)
    }
}

impl<'de> Visitor<'de> for Valid {
    type Value = Valid;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Valid, E> {
        Ok(Valid)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Valid, E> {
        Ok(Valid)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Valid, E> {
        Ok(Valid)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Valid, E> {
        Ok(Valid)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Valid, E> {
        Ok(Valid)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Valid, E> {
        Ok(Valid)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Valid, A::Error> {
        while seq.next_element::<Valid>()?.is_some() {}
        Ok(Valid)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Valid, A::Error> {
        while map.next_key::<Key<'de>>()?.is_some() {
            map.next_value::<Valid>()?;
        }
        Ok(Valid)
    }
}

#[cfg(test)]
#[path = "memo_tests.rs"]
mod tests;
