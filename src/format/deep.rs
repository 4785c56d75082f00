//! Lines whose values nest deeper than the JSON parser's recursion limit: the layer writes
//! them (a field given as `json(&v)` of any depth), so every reader must read them — the
//! reducer, and the readers of records and bodies (`read`, `expand`).
//!
//! Invariant: a line that fails to parse only because it nests too deep is parsed again with
//! every value below [`KEEP_DEPTH`] replaced by a marker string naming the line (the reducer
//! reports a diagnostic; the full value stays in `trace.jsonl` as evidence), and a payload's
//! exact body is cut out of the line itself ([`top_level_value`]), never re-serialised. The
//! scans are iterative (a depth counter, no recursion; strings and containers are skipped with
//! the crate's one scanner, `json_check::scan`), so no depth can overflow the stack.

use super::{Record, RecordBody};
use crate::json_check::scan::{container_end, string_end};

/// Containers nested deeper than this (the record's own object counts as 1) are replaced.
/// serde_json's limit is 128; this leaves room for the record envelope.
pub(crate) const KEEP_DEPTH: usize = 100;

/// Whether a parse error is serde_json's recursion limit.
pub(crate) fn is_too_deep(error: &impl std::fmt::Display) -> bool {
    error.to_string().contains("recursion limit exceeded")
}

/// The text of the value under `key` in the JSON object `line` (a record), exactly as
/// written; `None` when the object has no such key or is not valid enough to scan.
pub(crate) fn top_level_value<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let b = line.as_bytes();
    let mut i = b.iter().position(|&c| c == b'{')? + 1;
    loop {
        i += b[i..].iter().position(|c| !c.is_ascii_whitespace())?;
        match b[i] {
            b'}' => return None,
            b',' => {
                i += 1;
                continue;
            }
            b'"' => {}
            _ => return None,
        }
        let name_end = string_end(b, i)?;
        let name: String = serde_json::from_str(&line[i..name_end]).ok()?;
        i = name_end;
        i += b[i..].iter().position(|&c| c == b':')? + 1;
        i += b[i..].iter().position(|c| !c.is_ascii_whitespace())?;
        let end = match b[i] {
            b'"' => string_end(b, i)?,
            b'{' | b'[' => container_end(b, i)?,
            _ => i + b[i..].iter().position(|&c| matches!(c, b',' | b'}'))?,
        };
        if name == key {
            return Some(line[i..end].trim_end());
        }
        i = end;
    }
}

/// `line` with every container deeper than [`KEEP_DEPTH`] replaced by `marker` (a JSON
/// string), and how many were replaced; `None` when the line is not valid enough to scan
/// (an unterminated string or container).
pub(crate) fn flatten(line: &str, marker: &str) -> Option<(String, usize)> {
    let b = line.as_bytes();
    let mut out = String::with_capacity(line.len().min(1 << 20));
    let quoted = serde_json::to_string(marker).ok()?;
    let mut copied = 0;
    let mut replaced = 0;
    let mut depth = 0usize;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i = string_end(b, i)?;
                continue;
            }
            b'{' | b'[' => {
                depth += 1;
                if depth > KEEP_DEPTH {
                    let end = container_end(b, i)?;
                    out.push_str(&line[copied..i]);
                    out.push_str(&quoted);
                    copied = end;
                    replaced += 1;
                    depth -= 1;
                    i = end;
                    continue;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    out.push_str(&line[copied..]);
    Some((out, replaced))
}

/// Calls `f` with the record on `text` (one line) and, for a payload, its exact body. A line
/// nested deeper than the parser goes is parsed with its deep values replaced by a marker,
/// and the body is cut out of the line as written. `Ok(None)`: an unterminated last line
/// that does not parse (a torn tail); `Err`: a line that is not a record.
pub(crate) fn with_record<R>(
    text: &str,
    unterminated: bool,
    f: impl FnOnce(Record<'_>, Option<&str>) -> R,
) -> Result<Option<R>, String> {
    match Record::parse(text) {
        Ok(record) => {
            let body = match &record.body {
                RecordBody::Payload { body, .. } => Some(body.get()),
                _ => None,
            };
            Ok(Some(f(record, body)))
        }
        Err(_) if unterminated => Ok(None),
        Err(e) if is_too_deep(&e) => {
            let marker = format!("[nested deeper than {KEEP_DEPTH} levels: see trace.jsonl]");
            let (flat, _) = flatten(text, &marker).ok_or_else(|| e.to_string())?;
            let record = Record::parse(&flat).map_err(|e| e.to_string())?;
            let body = match &record.body {
                RecordBody::Payload { .. } => top_level_value(text, "body"),
                _ => None,
            };
            Ok(Some(f(record, body)))
        }
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn containers_below_the_kept_depth_become_one_marker_and_the_line_parses() {
        for depth in [KEEP_DEPTH, KEEP_DEPTH + 1, 130, 300, 100_000] {
            let value = format!("{}\"x\\\"]{{\"{}", "[".repeat(depth), "]".repeat(depth));
            let line = format!(r#"{{"a":{value},"b":"[not a container]"}}"#);
            let (flat, replaced) = flatten(&line, "deep").unwrap();
            let parsed: serde_json::Value = serde_json::from_str(&flat).unwrap();
            assert_eq!(
                replaced,
                usize::from(depth + 1 > KEEP_DEPTH),
                "depth {depth}"
            );
            assert_eq!(parsed["b"], "[not a container]");
            if depth + 1 > KEEP_DEPTH {
                assert!(flat.contains("\"deep\""));
            } else {
                assert_eq!(flat, line);
            }
        }
    }

    #[test]
    fn a_top_level_value_is_cut_out_exactly_at_any_depth() {
        let deep = format!("{}1{}", "[".repeat(5000), "]".repeat(5000));
        let line = format!(
            r#"{{"seq":3, "type":"payload","x":{{"body":0}},"s":"a\",\"body\":1","body":{deep} ,"after":true}}"#
        );
        assert_eq!(top_level_value(&line, "body"), Some(deep.as_str()));
        assert_eq!(top_level_value(&line, "seq"), Some("3"));
        assert_eq!(top_level_value(&line, "after"), Some("true"));
        assert_eq!(top_level_value(&line, "missing"), None);
        assert_eq!(top_level_value(r#"{"body":"#, "body"), None);
    }

    #[test]
    fn an_unterminated_line_is_not_scanned() {
        assert_eq!(flatten(r#"{"a":"open"#, "m"), None);
        assert_eq!(flatten(&format!("{{\"a\":{}", "[".repeat(200)), "m"), None);
    }
}
