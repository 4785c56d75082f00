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

use crate::format::push_json_str;
use crate::json_check::scan;

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
    /// [`Redact::common`]: keys compared by their [`normalized`] spelling.
    Common,
    Predicate(Arc<dyn Fn(&str) -> bool + Send + Sync>),
}

impl fmt::Debug for Redact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.matcher {
            Matcher::Keys(keys) => f.debug_tuple("Redact::keys").field(keys).finish(),
            Matcher::Common => f.write_str("Redact::common()"),
            Matcher::Predicate(_) => f.write_str("Redact::with(..)"),
        }
    }
}

/// [`Redact::common`]'s names, [`normalized`]: a key matches one exactly ...
const COMMON_KEYS: &[&str] = &[
    "authorization",
    "cookie",
    "setcookie",
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "apikey",
    "apitoken",
    "accesstoken",
    "refreshtoken",
    "idtoken",
    "authtoken",
    "sessiontoken",
    "sessionid",
    "bearertoken",
    "clientsecret",
    "privatekey",
    "secretkey",
    "accesskey",
    "credentials",
    "xamzsecuritytoken",
];

/// ... or ends with one of these (`x-api-key`, `openai_api_key`, `Proxy-Authorization`,
/// `http.request.header.authorization`, `client_secret`, `db_password`, …).
const COMMON_SUFFIXES: &[&str] = &[
    "authorization",
    "apikey",
    "apitoken",
    "accesstoken",
    "refreshtoken",
    "authtoken",
    "sessiontoken",
    "secret",
    "secretkey",
    "privatekey",
    "accesskey",
    "password",
    "passwd",
    "cookie",
];

/// Fragments one of which every [`Redact::common`] key holds (case aside): a record with none
/// of them (nor a `\u` escape) has nothing to redact.
const COMMON_FRAGMENTS: &[&str] = &[
    "auth",
    "key",
    "token",
    "secret",
    "pass",
    "cookie",
    "session",
    "credential",
];

/// A key's spelling with case and separators taken out: `X-Api-Key`, `x_api_key`,
/// `x.api.key` and `XApiKey` are all `xapikey`.
fn normalized(key: &str) -> String {
    key.chars()
        .filter(|c| !matches!(c, '-' | '_' | '.' | ' '))
        .flat_map(char::to_lowercase)
        .collect()
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

    /// The keys people actually leak, however they are spelled: names are compared with case,
    /// `-`, `_`, `.` and spaces taken out, and match a list of names (`authorization`,
    /// `api_key`, `token`, `password`, `secret`, `cookie`, …) or end with a secret's name
    /// (`…api_key`, `…authorization`, `…secret`, `…password`, `…access_token`, …). So
    /// `x-api-key` (Anthropic's header), `api-key`, `apikey`, `x_api_key`, `openai_api_key`,
    /// `Proxy-Authorization`, `http.request.header.authorization` and `client_secret` are
    /// all redacted, and so is a header block given as text (`Authorization: Bearer …` on a
    /// line of its own: a `key: value` pair). Token counts (`input_tokens`, `max_tokens`)
    /// are not secrets and are kept.
    ///
    /// To add keys of your own, combine it with [`Redact::with`].
    ///
    /// # Examples
    ///
    /// ```
    /// use tracing_rollout::Redact;
    ///
    /// let redact = Redact::common();
    /// for key in ["x-api-key", "X_API_KEY", "Proxy-Authorization", "http.request.header.authorization"] {
    ///     assert!(redact.matches(key), "{key}");
    /// }
    /// assert!(!redact.matches("input_tokens"));
    ///
    /// // Plus keys of your own:
    /// let common = Redact::common();
    /// let mine = Redact::with(move |key| common.matches(key) || key == "ssn");
    /// assert!(mine.matches("ssn") && mine.matches("apiKey"));
    /// ```
    pub fn common() -> Redact {
        Redact {
            matcher: Matcher::Common,
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
            Matcher::Common => {
                let key = normalized(key);
                COMMON_KEYS.contains(&key.as_str())
                    || COMMON_SUFFIXES.iter().any(|s| key.ends_with(s))
            }
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
            Matcher::Common => {
                COMMON_FRAGMENTS
                    .iter()
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

/// The marker that replaces a string holding JSON text nested in JSON text more than
/// [`MAX_TEXT_NESTING`] times: too deep to scan, so it fails closed.
pub(crate) const UNSCANNABLE_TEXT: &str = "[REDACTED: JSON text nested too deep to scan]";

/// How many levels of JSON text held in a string (held in a string …) are scanned. Each
/// level at least doubles the escaping, so real data never comes close.
const MAX_TEXT_NESTING: u32 = 8;

/// What [`redact_body`] made of a record body.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Redacted {
    /// Nothing to redact: write the body as it is.
    Unchanged,
    /// Write this instead; `unscannable` values were replaced by a marker (fail closed).
    Rewritten { body: Vec<u8>, unscannable: u64 },
    /// The body is not a JSON object this module can scan (the layer never writes one): it
    /// must not be written.
    Unscannable,
}

/// Redacts a record body (`"type":…}` without its opening brace, as the layer frames it):
/// the values of `fields` and `body`, at any depth. The scan is iterative (nesting lives in
/// a `Vec`, not on the call stack, and values are skipped with `json_check::scan`), so no
/// depth makes it fail open or overflow the stack; everything that is not redacted is
/// copied byte for byte.
pub(crate) fn redact_body(redact: &Redact, body: &[u8]) -> Redacted {
    if !redact.may_match(body) {
        return Redacted::Unchanged;
    }
    let mut object = Vec::with_capacity(body.len() + 1);
    object.push(b'{');
    object.extend_from_slice(body);
    let mut out = Vec::new();
    let mut scan = Scan {
        redact,
        text_nesting: 0,
        unscannable: 0,
    };
    match scan.walk(&object, &mut out, true) {
        Ok(false) => Redacted::Unchanged,
        Ok(true) => {
            // Drop the brace added above: the writer frames the body without it.
            out.remove(0);
            Redacted::Rewritten {
                body: out,
                unscannable: scan.unscannable,
            }
        }
        Err(_) => Redacted::Unscannable,
    }
}

/// One redaction pass: the matcher, how deep in JSON-text-in-strings it is, and how many
/// values it had to replace unscanned.
struct Scan<'r> {
    redact: &'r Redact,
    text_nesting: u32,
    unscannable: u64,
}

/// Why a text is not JSON (it is then treated as free text, or, for a record, not written).
#[derive(Debug)]
struct NotJson;

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// The index just past the string starting at `b[i] == b'"'`.
fn string_end(b: &[u8], i: usize) -> Result<usize, NotJson> {
    scan::string_end(b, i).ok_or(NotJson)
}

/// The index just past a number, `true`, `false` or `null` starting at `i`.
fn scalar_end(b: &[u8], i: usize) -> Result<usize, NotJson> {
    let mut j = i;
    while j < b.len() && !matches!(b[j], b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r') {
        if matches!(b[j], b'"' | b'[' | b'{' | b':') {
            return Err(NotJson);
        }
        j += 1;
    }
    if j == i {
        return Err(NotJson);
    }
    Ok(j)
}

/// The index just past the value starting at `i`, without recursion.
fn skip_value(b: &[u8], i: usize) -> Result<usize, NotJson> {
    match b.get(i) {
        Some(b'"') => string_end(b, i),
        Some(b'{' | b'[') => scan::container_end(b, i).ok_or(NotJson),
        Some(_) => scalar_end(b, i),
        None => Err(NotJson),
    }
}

/// Where the walk is in the JSON text.
enum At {
    Value,
    Key,
    AfterValue,
}

impl Scan<'_> {
    /// Walks the JSON text `b`, appending to `out` a copy in which every value under a
    /// matching key is `"[REDACTED]"` and every string is redacted as text; returns whether
    /// anything changed (`out` is complete either way). With `record`, `b` is a record: only
    /// its `fields` and `body` values are walked, its other keys are the format's own.
    fn walk(&mut self, b: &[u8], out: &mut Vec<u8>, record: bool) -> Result<bool, NotJson> {
        let start = out.len();
        // Bytes of `b` before `copied` are in `out` already.
        let mut copied = 0;
        let mut changed = false;
        let replace =
            |out: &mut Vec<u8>, copied: &mut usize, from: usize, to: usize, with: &[u8]| {
                out.extend_from_slice(&b[*copied..from]);
                out.extend_from_slice(with);
                *copied = to;
            };
        // Open containers, innermost last.
        let mut stack: Vec<u8> = Vec::new();
        let mut at = At::Value;
        let mut i = 0;
        loop {
            i = skip_ws(b, i);
            match at {
                At::Value => match b.get(i) {
                    Some(&c @ (b'{' | b'[')) => {
                        stack.push(c);
                        i = skip_ws(b, i + 1);
                        let close = if c == b'{' { b'}' } else { b']' };
                        if b.get(i) == Some(&close) {
                            stack.pop();
                            i += 1;
                            at = At::AfterValue;
                        } else {
                            at = if c == b'{' { At::Key } else { At::Value };
                        }
                    }
                    Some(b'"') => {
                        let end = string_end(b, i)?;
                        if let Some(new) = self.redact_string(&b[i..end]) {
                            replace(out, &mut copied, i, end, &new);
                            changed = true;
                        }
                        i = end;
                        at = At::AfterValue;
                    }
                    Some(_) => {
                        i = scalar_end(b, i)?;
                        at = At::AfterValue;
                    }
                    None => return Err(NotJson),
                },
                At::Key => {
                    if b.get(i) != Some(&b'"') {
                        return Err(NotJson);
                    }
                    let end = string_end(b, i)?;
                    let key: Cow<'_, str> =
                        serde_json::from_slice(&b[i..end]).map_err(|_| NotJson)?;
                    i = skip_ws(b, end);
                    if b.get(i) != Some(&b':') {
                        return Err(NotJson);
                    }
                    i = skip_ws(b, i + 1);
                    let top = record && stack.len() == 1;
                    if top && !matches!(key.as_ref(), "fields" | "body") {
                        i = skip_value(b, i)?;
                        at = At::AfterValue;
                    } else if !top && self.redact.matches(&key) {
                        let end = skip_value(b, i)?;
                        let marker = b"\"[REDACTED]\"";
                        if &b[i..end] != marker.as_slice() {
                            replace(out, &mut copied, i, end, marker);
                            changed = true;
                        }
                        i = end;
                        at = At::AfterValue;
                    } else {
                        at = At::Value;
                    }
                }
                At::AfterValue => match (stack.last(), b.get(i)) {
                    (None, None) => break,
                    (None, Some(_)) => return Err(NotJson),
                    (Some(b'{'), Some(b',')) => {
                        i += 1;
                        at = At::Key;
                    }
                    (Some(b'['), Some(b',')) => {
                        i += 1;
                        at = At::Value;
                    }
                    (Some(b'{'), Some(b'}')) | (Some(b'['), Some(b']')) => {
                        stack.pop();
                        i += 1;
                    }
                    _ => return Err(NotJson),
                },
            }
        }
        if !changed {
            out.truncate(start);
            return Ok(false);
        }
        out.extend_from_slice(&b[copied..]);
        Ok(true)
    }

    /// Redacts a JSON string (`raw`, with its quotes): JSON text held in it is walked as JSON,
    /// any other text is scanned for `key: value` pairs. Returns the new JSON string, or
    /// `None` when nothing changed.
    fn redact_string(&mut self, raw: &[u8]) -> Option<Vec<u8>> {
        if !self.redact.may_match(raw) {
            return None;
        }
        let Ok(text) = serde_json::from_slice::<Cow<'_, str>>(raw) else {
            // Not a valid string (the layer never writes one): fail closed.
            self.unscannable += 1;
            let mut out = Vec::new();
            push_json_str(&mut out, UNSCANNABLE_TEXT);
            return Some(out);
        };
        let trimmed = text.trim_start();
        let new = if trimmed.starts_with('{') || trimmed.starts_with('[') {
            if self.text_nesting >= MAX_TEXT_NESTING {
                self.unscannable += 1;
                Some(UNSCANNABLE_TEXT.to_owned())
            } else {
                self.text_nesting += 1;
                let mut inner = Vec::new();
                let walked = self.walk(text.as_bytes(), &mut inner, false);
                self.text_nesting -= 1;
                match walked {
                    Ok(true) => String::from_utf8(inner).ok(),
                    Ok(false) => None,
                    // Truncated or otherwise not JSON: free text.
                    Err(NotJson) => scrub_pairs(self.redact, &text),
                }
            }
        } else {
            scrub_pairs(self.redact, &text)
        }?;
        let mut out = Vec::with_capacity(new.len() + 2);
        push_json_str(&mut out, &new);
        Some(out)
    }
}

/// Where a value that opened with the quote `q` escaped by `escapes` backslashes closes:
/// the next `q` from `from` preceded by exactly `escapes` backslashes. Quotes inside the value
/// are escaped more often, so they do not end it; `None` (redact up to the end of the text)
/// when no such quote follows: when in doubt this redacts too much, never too little.
fn escaped_close(bytes: &[u8], from: usize, q: u8, escapes: usize) -> Option<usize> {
    (from..bytes.len()).find(|&k| {
        bytes[k] == q && bytes[..k].iter().rev().take_while(|&&b| b == b'\\').count() == escapes
    })
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
        // A closing quote, escaped any number of times (JSON text held in a string, held in
        // a string, …, then cut off: it no longer parses, so it is scanned as text here).
        while j < bytes.len() && bytes[j] == b'\\' {
            j += 1;
        }
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
        // An escaped opening quote: `n` backslashes, then the quote.
        let escapes = bytes[j..].iter().take_while(|&&b| b == b'\\').count();
        let escaped_quote = escapes > 0 && matches!(bytes.get(j + escapes), Some(b'"' | b'\''));
        let (value_start, value_end, quote) = match bytes.get(j) {
            Some(b'\\') if escaped_quote => {
                let closed = escaped_close(bytes, j + escapes + 1, bytes[j + escapes], escapes);
                out.push_str(&text[copied..j + escapes + 1]);
                out.push_str(REDACTED);
                copied = match closed {
                    Some(quote) => {
                        out.push_str(&text[quote - escapes..=quote]);
                        quote + 1
                    }
                    None => bytes.len(),
                };
                i = copied.max(key_end);
                continue;
            }
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
        match redact_body(redact, body.as_bytes()) {
            Redacted::Rewritten { body, .. } => String::from_utf8(body).unwrap(),
            Redacted::Unchanged => body.to_owned(),
            Redacted::Unscannable => panic!("unscannable: {body}"),
        }
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
        assert_eq!(redact_body(&r, text.as_bytes()), Redacted::Unchanged);
        let named =
            r#""type":"payload","span":2,"role":"args","bytes":9,"body":{"b":1,"a":"api_key"}}"#;
        assert_eq!(
            redact_body(&r, named.as_bytes()),
            Redacted::Unchanged,
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
    fn the_common_preset_matches_secret_keys_however_they_are_spelled() {
        let r = Redact::common();
        for key in [
            "x-api-key",
            "api-key",
            "apikey",
            "x_api_key",
            "X-API-KEY",
            "apiKey",
            "openai_api_key",
            "Proxy-Authorization",
            "http.request.header.authorization",
            "http.request.header.x-api-key",
            "client_secret",
            "db_password",
            "Set-Cookie",
            "access_token",
            "token",
        ] {
            assert!(r.matches(key), "{key}");
            assert!(r.may_match(key.as_bytes()), "{key}");
        }
        for key in [
            "input_tokens",
            "max_tokens",
            "model",
            "keyboard_layout",
            "author",
            "path",
        ] {
            assert!(!r.matches(key), "{key}");
        }
        assert_eq!(
            scrub_pairs(
                &r,
                "GET / HTTP/1.1\nAuthorization: Bearer sk-1\nX-Api-Key: sk-2\nAccept: */*"
            ),
            Some(
                "GET / HTTP/1.1\nAuthorization: [REDACTED]\nX-Api-Key: [REDACTED]\nAccept: */*"
                    .to_owned()
            )
        );
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
