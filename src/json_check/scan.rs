//! The one iterative scanner of JSON text's structure: where a string or a container that
//! starts at a given byte ends, without parsing it and without recursion. Redaction
//! (`writer::redact`) skips values with it, and the reducer (`reduce::deep`) finds the
//! containers nested too deep to parse.
//!
//! Invariant: nesting is a counter, never the call stack, so no depth can overflow it. The
//! scan only pairs quotes (a backslash skips the byte after it) and brackets: it does not
//! check what lies between, so callers that need valid JSON check it otherwise (redaction
//! walks the grammar around it, the reducer parses what it rewrote). `None` means the text
//! ends before the string or container does.

/// The index just past the string starting at `b[i] == b'"'`.
pub(crate) fn string_end(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    while j < b.len() {
        match b[j] {
            b'\\' => j += 2,
            b'"' => return Some(j + 1),
            _ => j += 1,
        }
    }
    None
}

/// The index just past the container opening at `b[i]` (`{` or `[`).
pub(crate) fn container_end(b: &[u8], i: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut j = i;
    while j < b.len() {
        match b[j] {
            b'"' => {
                j = string_end(b, j)?;
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return Some(j + 1);
                }
            }
            _ => {}
        }
        j += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_end_after_their_closing_quote_and_escapes_are_skipped() {
        let text = br#""a\"b\\" rest"#;
        assert_eq!(string_end(text, 0), Some(8));
        assert_eq!(string_end(br#""open\""#, 0), None);
    }

    #[test]
    fn containers_end_at_their_own_closing_bracket_whatever_strings_hold() {
        let text = br#"{"a":[1,"]}",{"b":"{"}],"c":{}} tail"#;
        assert_eq!(container_end(text, 0), Some(text.len() - 5));
        assert_eq!(container_end(text, 5), Some(23));
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(container_end(deep.as_bytes(), 0), Some(deep.len()));
        assert_eq!(container_end(&deep.as_bytes()[..deep.len() - 1], 0), None);
    }
}
