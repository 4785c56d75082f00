//! [`Redact`]: removing secrets from records on the writer thread, before their bytes reach
//! `trace.jsonl`.
//!
//! Invariant: when redaction is configured, every record body passes through [`redact_body`]
//! before it is appended, and the bytes written contain no value stored under a matching key
//! — whether the key is a span or event field name, a JSON object key at any depth of a field
//! value or payload body (including JSON text held in a string, such as OpenAI's
//! `arguments`), or a `key: value` / `key=value` pair inside plain or truncated text. Records
//! with nothing to redact are written byte for byte as the layer encoded them, and with no
//! redaction configured this module is never called: the cost is on the writer thread only,
//! and only when the user asked for it.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::Value;

use crate::format::push_json_str;

/// The text that replaces a redacted value.
pub(crate) const REDACTED: &str = "[REDACTED]";

/// Which keys hold secrets: matching values are replaced by the string `"[REDACTED]"` before
/// anything is written. Give it to
/// [`RolloutLayerBuilder::redact`](crate::RolloutLayerBuilder::redact).
///
/// A key matches when it names a span or event field, a JSON object key at any depth inside a
/// field value or a payload body, or a `key: value` / `key=value` pair inside text (Debug
/// output, truncated payloads, JSON text held in a string). Only the value is replaced; the
/// key and the structure around it stay, so the reducer still sees the shape of what was
/// sent.
///
/// The work happens on the writer thread, not on the instrumented program's threads: a record
/// is re-parsed there only when redaction is configured (and, for [`Redact::keys`], only when
/// one of the keys occurs in its bytes). Without a `redact` setting nothing is re-parsed.
///
/// Redaction is a safety net for known key names, not a data-loss-prevention scanner: a
/// secret stored under an innocuous key, or pasted into free text without a `key:` in front,
/// is written as it is. Use [`capture_payloads(false)`](crate::RolloutLayerBuilder::capture_payloads)
/// when bodies must never reach the disk.
///
/// # Examples
///
/// ```
/// use tracing_rollout::Redact;
///
/// let redact = Redact::keys(["authorization", "api_key"]);
/// assert!(redact.matches("Authorization"));
/// assert!(!redact.matches("model"));
///
/// let custom = Redact::with(|key| key.ends_with("_token"));
/// assert!(custom.matches("github_token"));
/// ```
#[derive(Clone)]
pub struct Redact {
    matcher: Matcher,
}

#[derive(Clone)]
enum Matcher {
    /// Lowercased key names, compared ASCII-case-insensitively.
    Keys(Arc<[String]>),
    Predicate(Arc<dyn Fn(&str) -> bool + Send + Sync>),
}

impl fmt::Debug for Redact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.matcher {
            Matcher::Keys(keys) => f.debug_tuple("Redact::keys").field(keys).finish(),
            Matcher::Predicate(_) => f.write_str("Redact::with(..)"),
        }
    }
}

impl Redact {
    /// Redacts the values of these keys, compared exactly but ASCII-case-insensitively
    /// (`"api_key"` matches `API_KEY`, not `api_key_id`).
    ///
    /// # Examples
    ///
    /// ```
    /// let (layer, guard) = tracing_rollout::RolloutLayer::builder()
    ///     .root_dir(tempfile::tempdir()?.path())
    ///     .redact(tracing_rollout::Redact::keys(["authorization", "api_key", "password"]))
    ///     .build()?;
    /// # drop(layer);
    /// # guard.finish()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn keys<I>(keys: I) -> Redact
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let keys: Vec<String> = keys
            .into_iter()
            .map(|k| k.as_ref().to_ascii_lowercase())
            .filter(|k| !k.is_empty())
            .collect();
        Redact {
            matcher: Matcher::Keys(keys.into()),
        }
    }

    /// Redacts the value of every key for which `matches` returns true. It is called on the
    /// writer thread for every key of every record, so keep it cheap, and it must not panic
    /// (a panic would stop the writer thread).
    ///
    /// # Examples
    ///
    /// ```
    /// let redact = tracing_rollout::Redact::with(|key| {
    ///     let key = key.to_ascii_lowercase();
    ///     key.contains("secret") || key.contains("token")
    /// });
    /// assert!(redact.matches("client_secret"));
    /// ```
    pub fn with(matches: impl Fn(&str) -> bool + Send + Sync + 'static) -> Redact {
        Redact {
            matcher: Matcher::Predicate(Arc::new(matches)),
        }
    }

    /// Whether the value stored under `key` is redacted.
    pub fn matches(&self, key: &str) -> bool {
        match &self.matcher {
            Matcher::Keys(keys) => keys.iter().any(|k| k.eq_ignore_ascii_case(key)),
            Matcher::Predicate(f) => f(key),
        }
    }

    /// Whether `bytes` may hold something to redact (a cheap scan that avoids parsing most
    /// records). A `\u` escape could spell a key in disguise, so it always says yes then.
    fn may_match(&self, bytes: &[u8]) -> bool {
        match &self.matcher {
            Matcher::Keys(keys) => {
                keys.iter()
                    .any(|k| contains_ignore_ascii_case(bytes, k.as_bytes()))
                    || bytes.windows(2).any(|w| w == b"\\u")
            }
            Matcher::Predicate(_) => true,
        }
    }
}

fn contains_ignore_ascii_case(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty()
        && haystack
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
}

/// The top-level keys of a record body, in their order, with unparsed values.
struct OrderedPairs<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> Deserialize<'de> for OrderedPairs<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PairsVisitor;
        impl<'de> Visitor<'de> for PairsVisitor {
            type Value = OrderedPairs<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut pairs = Vec::new();
                while let Some(pair) = map.next_entry::<Cow<'de, str>, &'de RawValue>()? {
                    pairs.push(pair);
                }
                Ok(OrderedPairs(pairs))
            }
        }
        deserializer.deserialize_map(PairsVisitor)
    }
}

/// Redacts a record body (`"type":…}` without its opening brace, as the layer frames it).
/// Returns `None` when nothing was redacted: the body is written as it is.
pub(crate) fn redact_body(redact: &Redact, body: &[u8]) -> Option<Vec<u8>> {
    if !redact.may_match(body) {
        return None;
    }
    let mut object = Vec::with_capacity(body.len() + 1);
    object.push(b'{');
    object.extend_from_slice(body);
    let pairs: OrderedPairs<'_> = serde_json::from_slice(&object).ok()?;
    let mut changed = false;
    let mut out = Vec::with_capacity(body.len());
    for (i, (key, raw)) in pairs.0.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_json_str(&mut out, key);
        out.push(b':');
        let rewritten = match key.as_ref() {
            // Field names are keys of `fields`; payload bodies may be any JSON value.
            "fields" | "body" => serde_json::from_str::<Value>(raw.get())
                .ok()
                .and_then(|mut value| redact_value(redact, &mut value).then_some(value)),
            _ => None,
        };
        match rewritten {
            Some(value) => {
                changed = true;
                // Serialising a `Value` into a Vec cannot fail; serde_json escapes every
                // control character, so the line stays one line.
                if serde_json::to_writer(&mut out, &value).is_err() {
                    return None;
                }
            }
            None => out.extend_from_slice(raw.get().as_bytes()),
        }
    }
    out.push(b'}');
    changed.then_some(out)
}

/// Redacts `value` in place; returns whether anything changed.
fn redact_value(redact: &Redact, value: &mut Value) -> bool {
    match value {
        Value::Object(map) => {
            let mut changed = false;
            for (key, v) in map.iter_mut() {
                if redact.matches(key) {
                    if v.as_str() != Some(REDACTED) {
                        *v = Value::String(REDACTED.to_owned());
                        changed = true;
                    }
                } else {
                    changed |= redact_value(redact, v);
                }
            }
            changed
        }
        Value::Array(items) => items
            .iter_mut()
            .fold(false, |changed, v| redact_value(redact, v) | changed),
        Value::String(text) => match redact_text(redact, text) {
            Some(new) => {
                *text = new;
                true
            }
            None => false,
        },
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

/// Redacts a string: JSON text held in the string is walked as JSON (and re-serialised only
/// if something inside was redacted); any other text is scanned for `key: value` pairs.
fn redact_text(redact: &Redact, text: &str) -> Option<String> {
    if !redact.may_match(text.as_bytes()) {
        return None;
    }
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        if let Ok(mut inner) = serde_json::from_str::<Value>(text) {
            return redact_value(redact, &mut inner)
                .then(|| serde_json::to_string(&inner).ok())
                .flatten();
        }
    }
    scrub_pairs(redact, text)
}

fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')
}

/// Replaces the value of every `key: value`, `"key": value` or `key=value` pair in free
/// text whose key matches (Debug output such as `Req { api_key: "…" }`, truncated JSON,
/// header dumps). A quoted value is replaced up to its closing quote (or the end of the
/// text when it is cut off); a bare value up to the next `,`, `;`, `&`, `}`, `]`, `)` or line
/// break.
fn scrub_pairs(redact: &Redact, text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = String::new();
    // Everything before `copied` is already in `out`.
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        if !is_key_byte(bytes[i]) || (i > 0 && is_key_byte(bytes[i - 1])) {
            i += 1;
            continue;
        }
        let key_start = i;
        while i < bytes.len() && is_key_byte(bytes[i]) {
            i += 1;
        }
        let key_end = i;
        let mut j = key_end;
        if j < bytes.len() && (bytes[j] == b'"' || bytes[j] == b'\'') {
            j += 1;
        }
        while j < bytes.len() && bytes[j] == b' ' {
            j += 1;
        }
        if j >= bytes.len() || !(bytes[j] == b':' || bytes[j] == b'=') {
            continue;
        }
        // `a::b` is a path, `a==b` a comparison: not pairs.
        if bytes.get(j + 1) == Some(&bytes[j]) {
            i = j + 2;
            continue;
        }
        if !redact.matches(&text[key_start..key_end]) {
            continue;
        }
        j += 1;
        while j < bytes.len() && (bytes[j] == b' ' || bytes[j] == b'\t') {
            j += 1;
        }
        let (value_start, value_end, quote) = match bytes.get(j) {
            Some(&q @ (b'"' | b'\'')) => {
                let mut k = j + 1;
                while k < bytes.len() && bytes[k] != q {
                    k += if bytes[k] == b'\\' { 2 } else { 1 };
                }
                (j, k.min(bytes.len()), Some(q))
            }
            _ => {
                let mut k = j;
                while k < bytes.len()
                    && !matches!(
                        bytes[k],
                        b',' | b';' | b'&' | b'}' | b']' | b')' | b'\n' | b'\r'
                    )
                {
                    k += 1;
                }
                (j, k, None)
            }
        };
        out.push_str(&text[copied..value_start]);
        match quote {
            Some(q) => {
                let q = char::from(q);
                out.push(q);
                out.push_str(REDACTED);
                out.push(q);
                // Skip the closing quote too, if the text has one.
                copied = (value_end + 1).min(bytes.len());
            }
            None => {
                out.push_str(REDACTED);
                copied = value_end;
            }
        }
        i = copied.max(key_end);
    }
    if copied == 0 {
        return None;
    }
    out.push_str(&text[copied..]);
    Some(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn body(redact: &Redact, body: &str) -> String {
        redact_body(redact, body.as_bytes())
            .map(|b| String::from_utf8(b).unwrap())
            .unwrap_or_else(|| body.to_owned())
    }

    #[test]
    fn field_names_and_nested_json_keys_are_redacted_in_place() {
        let r = Redact::keys(["Authorization", "api_key"]);
        assert_eq!(
            body(
                &r,
                r#""type":"span_started","span":1,"kind":"tool","name":"rollout.tool","fields":{"authorization":"Bearer sk-1","n":[{"API_KEY":7}]}}"#
            ),
            r#""type":"span_started","span":1,"kind":"tool","name":"rollout.tool","fields":{"authorization":"[REDACTED]","n":[{"API_KEY":"[REDACTED]"}]}}"#
        );
    }

    #[test]
    fn records_without_a_matching_key_are_left_byte_for_byte() {
        let r = Redact::keys(["api_key"]);
        let text = r#""type":"payload","span":2,"role":"args","bytes":9,"body":{"b":1,"a":2}}"#;
        assert_eq!(redact_body(&r, text.as_bytes()), None);
        let named =
            r#""type":"payload","span":2,"role":"args","bytes":9,"body":{"b":1,"a":"api_key"}}"#;
        assert_eq!(
            redact_body(&r, named.as_bytes()),
            None,
            "a value is not a key"
        );
    }

    #[test]
    fn json_text_inside_strings_and_plain_text_pairs_are_scrubbed() {
        let r = Redact::keys(["api_key", "password"]);
        let args = r#""type":"payload","span":2,"role":"x","bytes":1,"body":{"arguments":"{\"api_key\":\"sk-2\",\"q\":1}"}}"#;
        assert_eq!(
            body(&r, args),
            r#""type":"payload","span":2,"role":"x","bytes":1,"body":{"arguments":"{\"api_key\":\"[REDACTED]\",\"q\":1}"}}"#
        );
        let cases = [
            (
                r#"Req { api_key: "sk-3", n: 1 }"#,
                r#"Req { api_key: "[REDACTED]", n: 1 }"#,
            ),
            (
                r#"{"api_key":"sk-4…[truncated 9 bytes]"#,
                r#"{"api_key":"[REDACTED]""#,
            ),
            ("password=hunter2&user=me", "password=[REDACTED]&user=me"),
            ("PASSWORD : hunter2\nnext", "PASSWORD : [REDACTED]\nnext"),
            ("my_api_key: x, a::password", "my_api_key: x, a::password"),
        ];
        for (text, want) in cases {
            assert_eq!(
                scrub_pairs(&r, text).unwrap_or_else(|| text.to_owned()),
                want,
                "{text}"
            );
        }
    }

    #[test]
    fn a_predicate_decides_for_every_key() {
        let r = Redact::with(|k| k.ends_with("_token"));
        assert_eq!(
            body(
                &r,
                r#""type":"event","span":1,"name":"rollout.x","fields":{"gh_token":"t","ok":"gh_token=u"}}"#
            ),
            r#""type":"event","span":1,"name":"rollout.x","fields":{"gh_token":"[REDACTED]","ok":"gh_token=[REDACTED]"}}"#
        );
    }
}
