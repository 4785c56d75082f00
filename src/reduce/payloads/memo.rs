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
//! - A format-v2 body's elements copied whole from a recent body by reference are taken from
//!   that body's table instead of being read again (`reuse.rs`, which says why that gives the
//!   same result); tables are kept only for bodies whose memoised parse succeeded.
//! - Memory is bounded by the recent past, not the log: entries live in two generations; a
//!   hit moves an entry to the young one, and when the young one holds more than the budget
//!   (element text plus [`ENTRY_OVERHEAD`] per entry; at least [`MIN_GENERATION_BYTES`], and
//!   twice what the largest body seen costs in the same measure, so the items of consecutive
//!   snapshots meet) it becomes the old one and the old one is dropped.
//!
//! Sits beside `mod.rs`: imports its dispatch (`request`, `response`, `checkpoint`), `reuse.rs`
//! and the bottom (`object.rs`, `model.rs`); nothing imports it but `mod.rs`, to re-export
//! [`ItemMemo`].

use std::borrow::Cow;
use std::collections::hash_map;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::model::{ModelRequest, ModelResponse, ShapeError};
use super::object::{Element, ElementCache, Keys, ListKind, Object, Parsed};
use super::reuse::{Compressed, Found, Origin, Tables};
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
    /// Where the elements of recent bodies stand, for the bodies that copy them.
    tables: Tables,
    /// The number the next entry gets (entries are told apart by it).
    next_entry: u64,
    /// The body being parsed: each element that went through the memo (by the address of its
    /// text) and the entry it found or made.
    body_entries: Vec<(usize, u64)>,
    /// The body being parsed: each element copied from a recent body (by the address of its
    /// text) and the entry that body's element had, which holds this very text.
    known: Vec<(usize, u64)>,
    /// Where in `known` the next element is looked for first.
    known_next: usize,
}

/// One memoised element.
#[derive(Debug)]
struct Entry {
    /// Its number, never reused: an element copied from a body that found this entry has
    /// this text without comparing it.
    id: u64,
    /// The element's JSON text.
    text: Box<str>,
    /// The parser it went through.
    kind: ListKind,
    /// What it parsed to.
    parsed: Parsed,
}

impl ItemMemo {
    /// [`parse_request`], memoised. `origin` (format v2 bodies) says where the body's
    /// bytes came from, so that elements copied from a recent body are not read again.
    pub(crate) fn request(
        &mut self,
        body: &str,
        provider_hint: Option<&str>,
        origin: Option<Origin<'_>>,
    ) -> Result<ModelRequest, ShapeError> {
        self.shallow(body, &REQUEST_KEYS, origin, |obj, memo| {
            request(obj, provider_hint, memo)
        })
        .or_else(|_| parse_request(body, provider_hint))
    }

    /// [`parse_response`], memoised (`origin` as for [`ItemMemo::request`]).
    pub(crate) fn response(
        &mut self,
        body: &str,
        provider_hint: Option<&str>,
        origin: Option<Origin<'_>>,
    ) -> Result<ModelResponse, ShapeError> {
        self.shallow(body, &RESPONSE_KEYS, origin, |obj, memo| {
            response(obj, provider_hint, memo)
        })
        .or_else(|_| parse_response(body, provider_hint))
    }

    /// [`parse_checkpoint`], memoised (`origin` as for [`ItemMemo::request`]).
    pub(crate) fn checkpoint(
        &mut self,
        body: &str,
        provider_hint: Option<&str>,
        origin: Option<Origin<'_>>,
    ) -> Option<Histories> {
        match self.shallow(body, &CHECKPOINT_KEYS, origin, checkpoint) {
            Ok((input, replacement)) => Some((Ok(input), Ok(replacement))),
            Err(_) => parse_checkpoint(body, provider_hint),
        }
    }

    /// Reads `body` with `read` through a shallow parse of `keys` and this memo; any error
    /// means "use the full parse". With an `origin`, elements copied from a recent body are
    /// taken from its table, and the body's own table is kept when the read succeeds.
    fn shallow<T>(
        &mut self,
        body: &str,
        keys: &'static Keys,
        origin: Option<Origin<'_>>,
        read: impl FnOnce(Object<'_, '_>, &mut dyn ElementCache) -> Result<T, ShapeError>,
    ) -> Result<T, ShapeError> {
        self.begin_body(body);
        let reused = origin.and_then(|origin| self.reusing(body, keys, origin));
        let shallow = match reused {
            Some((shallow, known)) => {
                self.known = known;
                shallow
            }
            None => Shallow::parse(body, keys)?,
        };
        let read = read(shallow.object(), self);
        if let (Ok(_), Some(origin)) = (&read, origin) {
            self.body_entries.sort_unstable();
            let entries = &self.body_entries;
            let mut next = 0;
            let elements = shallow
                .lists
                .iter()
                .flat_map(|(_, list)| list)
                .map(|element| {
                    let entry = find_entry(entries, element.text.as_ptr() as usize, &mut next);
                    (element, entry)
                });
            self.tables.remember(origin.seq, body, elements);
        }
        read
    }

    /// The shallow parse of `body` with the elements it copies whole from recent bodies
    /// (`origin`) taken from their tables, and the entries known to hold the copied texts
    /// (by the address of each in `body`); `None` when no element is copied, or when the
    /// placeholders standing for them were not all met as list elements (see `reuse.rs`).
    #[allow(clippy::type_complexity)]
    fn reusing<'b>(
        &self,
        body: &'b str,
        keys: &'static Keys,
        origin: Origin<'_>,
    ) -> Option<(Shallow<'b>, Vec<(usize, u64)>)> {
        let copied = self.tables.copied(origin.shared);
        if copied.is_empty() {
            return None;
        }
        let compressed = Compressed::new(body, &copied)?;
        let raw = RawShallow::parse(&compressed.text, keys).ok()?;
        let base = compressed.text.as_ptr() as usize;
        let mut met = 0;
        let mut cursor = (0, 0);
        let mut known = Vec::new();
        let mut lists = Vec::with_capacity(raw.lists.len());
        for (name, elements) in raw.lists {
            let mut list = Vec::with_capacity(elements.len());
            for element in elements {
                let text = element.get();
                list.push(
                    match compressed.find(text.as_ptr() as usize - base, &mut cursor) {
                        Found::Placeholder(i) if text == "0" && i == met => {
                            met += 1;
                            let element = copied[i].element(body)?;
                            if let Some(entry) = copied[i].entry() {
                                known.push((element.text.as_ptr() as usize, entry));
                            }
                            element
                        }
                        Found::Placeholder(_) => return None,
                        Found::Body(at) => {
                            let text = body.get(at..at + text.len())?;
                            Element {
                                text,
                                hash: text_hash(text.as_bytes()),
                            }
                        }
                    },
                );
            }
            lists.push((name, list));
        }
        let shallow = Shallow {
            fields: raw.fields,
            lists,
            keys,
        };
        (met == compressed.placeholders()).then_some((shallow, known))
    }

    /// Starts counting the cost of `body`'s elements.
    fn begin_body(&mut self, body: &str) {
        self.body_cost = 0;
        self.largest_body = self.largest_body.max(body.len());
        self.body_entries.clear();
        self.known.clear();
        self.known_next = 0;
    }

    /// The entry known to hold the text at address `text` of the body being parsed.
    fn known_entry(&mut self, text: usize) -> Option<u64> {
        find_entry(&self.known, text, &mut self.known_next)
    }
}

impl ElementCache for ItemMemo {
    /// The memoised result, or `parse` of the element's value, remembered when it succeeds.
    fn element(
        &mut self,
        element: &Element<'_>,
        kind: ListKind,
        parse: &dyn Fn(&Value) -> Result<Parsed, ShapeError>,
    ) -> Result<&Parsed, ShapeError> {
        let (text, hash) = (element.text, element.hash);
        let address = text.as_ptr() as usize;
        let known = self.known_entry(address);
        let is_it =
            |entry: &Entry| entry.kind == kind && (known == Some(entry.id) || *entry.text == *text);
        let cost = text.len() + ENTRY_OVERHEAD;
        self.body_cost += cost;
        self.largest_body = self.largest_body.max(self.body_cost);
        if self.young_bytes + cost > MIN_GENERATION_BYTES.max(2 * self.largest_body) {
            self.old = std::mem::take(&mut self.young);
            self.young_bytes = 0;
        }
        let slot = match self.young.entry(hash) {
            hash_map::Entry::Occupied(slot) if is_it(slot.get()) => {
                let entry = slot.into_mut();
                self.body_entries.push((address, entry.id));
                return Ok(&entry.parsed);
            }
            slot => slot,
        };
        let entry = match self.old.remove(&hash) {
            Some(entry) if is_it(&entry) => entry,
            _ => {
                self.next_entry += 1;
                Entry {
                    id: self.next_entry,
                    text: text.into(),
                    kind,
                    parsed: parse(&element_value(text)?)?,
                }
            }
        };
        self.body_entries.push((address, entry.id));
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

/// The entry paired with `address` in `entries` (sorted by address). Elements are asked for
/// in the order of their addresses, so `next` (where the last one was found, plus one) is
/// tried first; a binary search finds the others.
fn find_entry(entries: &[(usize, u64)], address: usize, next: &mut usize) -> Option<u64> {
    let i = match entries.get(*next) {
        Some(&(at, _)) if at == address => *next,
        _ => entries.binary_search_by_key(&address, |&(at, _)| at).ok()?,
    };
    *next = i + 1;
    Some(entries[i].1)
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
    lists: Vec<(&'static str, Vec<Element<'a>>)>,
    /// The payload kind's keys.
    keys: &'static Keys,
}

impl<'a> Shallow<'a> {
    /// Parses `body` shallowly; any error means "use the full parse".
    fn parse(body: &'a str, keys: &'static Keys) -> Result<Shallow<'a>, ShapeError> {
        let raw = RawShallow::parse(body, keys)?;
        let lists = raw
            .lists
            .into_iter()
            .map(|(name, elements)| {
                let elements = elements
                    .into_iter()
                    .map(|element| Element {
                        text: element.get(),
                        hash: text_hash(element.get().as_bytes()),
                    })
                    .collect();
                (name, elements)
            })
            .collect();
        Ok(Shallow {
            fields: raw.fields,
            lists,
            keys,
        })
    }

    /// The object the shape logic reads.
    fn object(&self) -> Object<'_, 'a> {
        Object::shallow(&self.fields, &self.lists, self.keys)
    }
}

/// What one pass of serde_json over a text gives: the fields, and the lists as raw values
/// of that text.
#[derive(Debug)]
struct RawShallow<'a> {
    fields: Map<String, Value>,
    lists: Vec<(&'static str, Vec<&'a RawValue>)>,
}

impl<'a> RawShallow<'a> {
    /// Parses `text` shallowly; any error means "use the full parse".
    fn parse(text: &'a str, keys: &'static Keys) -> Result<RawShallow<'a>, ShapeError> {
        let error = |e: serde_json::Error| ShapeError(e.to_string());
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let shallow = deserializer
            .deserialize_map(ShallowVisitor { keys })
            .map_err(error)?;
        deserializer.end().map_err(error)?;
        Ok(shallow)
    }
}

/// Reads the top-level object into a [`RawShallow`].
#[derive(Debug)]
struct ShallowVisitor {
    keys: &'static Keys,
}

impl<'de> Visitor<'de> for ShallowVisitor {
    type Value = RawShallow<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a payload object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawShallow<'de>, A::Error> {
        let mut shallow = RawShallow {
            fields: Map::new(),
            lists: Vec::new(),
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
