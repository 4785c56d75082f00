//! Bundle names in URLs: a bundle is named by its path relative to the served root, with `/`
//! between plain components, percent-encoded in URLs.
//!
//! Invariant: a name that decodes to anything but plain relative components (`.`, `..`, an
//! empty component, a backslash, NUL, an absolute path, bad escapes or non-UTF-8) is never a
//! bundle's name, so no name can leave the root by its spelling.

use std::path::{Component, Path};

/// A `/`-separated relative path of plain names (`.` alone names the root itself).
pub(crate) fn is_plain_relative(rel: &str) -> bool {
    if rel == "." {
        return true;
    }
    !rel.is_empty()
        && !rel.contains(['\\', '\0'])
        && rel.split('/').all(|part| {
            !part.is_empty()
                && part != "."
                && part != ".."
                && matches!(
                    Path::new(part).components().next(),
                    Some(Component::Normal(_))
                )
        })
}

/// Percent-decodes a URL path (`None` when the result is not UTF-8 or an escape is bad).
pub(crate) fn decode_path(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// A bundle's name in URLs: the root itself is `.`, which a browser drops from a path, so
/// its URLs name it by nothing (`/api/state/`, `/api/payload//6`).
pub(crate) fn url_name(name: &str) -> String {
    if name == "." {
        String::new()
    } else {
        encode_path(name)
    }
}

/// Percent-encodes each path segment, keeping `/` between them.
fn encode_path(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_relative_paths_name_bundles() {
        for good in [".", "a", "a/b", "run-1/bench", "a.b/c_d"] {
            assert!(is_plain_relative(good), "{good}");
        }
        for bad in [
            "", "..", "a/..", "../a", "a//b", "/a", "a/./b", "a\\b", "a\0b", "./a",
        ] {
            assert!(!is_plain_relative(bad), "{bad:?}");
        }
    }

    #[test]
    fn percent_decoding_rejects_bad_escapes() {
        assert_eq!(decode_path("a%2Fb").as_deref(), Some("a/b"));
        assert_eq!(decode_path("%2e%2e").as_deref(), Some(".."));
        assert_eq!(decode_path("%zz"), None);
        assert_eq!(decode_path("%2"), None);
        assert_eq!(decode_path("%ff"), None);
        assert_eq!(encode_path("a b/c"), "a%20b/c");
    }
}
