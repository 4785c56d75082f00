//! Lines whose values nest deeper than the JSON parser's recursion limit: the layer writes
//! them (a field given as `json(&v)` of any depth), so the reducer must reduce them.
//!
//! Invariant: a line that fails to parse only because it nests too deep is parsed again with
//! every value below [`KEEP_DEPTH`] replaced by a marker string naming the line, and the
//! reducer reports a diagnostic; the full value stays in `trace.jsonl` as evidence. The scan
//! is iterative (a depth counter, no recursion; strings and containers are skipped with the
//! crate's one scanner, `json_check::scan`), so no depth can overflow the stack.

use crate::json_check::scan::{container_end, string_end};

/// Containers nested deeper than this (the record's own object counts as 1) are replaced.
/// serde_json's limit is 128; this leaves room for the record envelope.
pub(super) const KEEP_DEPTH: usize = 100;

/// Whether a parse error is serde_json's recursion limit.
pub(super) fn is_too_deep(error: &impl std::fmt::Display) -> bool {
    error.to_string().contains("recursion limit exceeded")
}

/// `line` with every container deeper than [`KEEP_DEPTH`] replaced by `marker` (a JSON
/// string), and how many were replaced; `None` when the line is not valid enough to scan
/// (an unterminated string or container).
pub(super) fn flatten(line: &str, marker: &str) -> Option<(String, usize)> {
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
    fn an_unterminated_line_is_not_scanned() {
        assert_eq!(flatten(r#"{"a":"open"#, "m"), None);
        assert_eq!(flatten(&format!("{{\"a\":{}", "[".repeat(200)), "m"), None);
    }
}
