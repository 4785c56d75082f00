//! What a page handler sees of a request and gives back: plain structs, independent of the
//! HTTP library, so a handler is a function of the server's bundles and a path.
//!
//! Invariant: a [`Request`] reaches a handler only after the engine admitted it (GET or HEAD,
//! no body, headers within their limits, the Host and token checks passed); a [`Response`] is
//! whole (its body in memory) and carries no security headers of its own — the engine adds
//! the same ones to every response, so no handler can forget them.

/// An admitted request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Request {
    /// The path as sent, still percent-encoded (`/b/runs%2Fdemo/`).
    pub(crate) path: String,
    /// What follows `?`, if anything (without the `?`).
    pub(crate) query: String,
}

impl Request {
    /// The value of `name=` in the query, if present (not decoded).
    pub(crate) fn query_param(&self, name: &str) -> Option<&str> {
        self.query.split('&').find_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (key == name).then_some(value)
        })
    }
}

/// A whole response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Response {
    /// HTTP status code.
    pub(crate) status: u16,
    /// `Content-Type`.
    pub(crate) content_type: &'static str,
    /// The body.
    pub(crate) body: Body,
}

/// A response body: compiled in, or made for this request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Body {
    /// Bytes compiled into the binary (the viewer's assets).
    Static(&'static [u8]),
    /// Bytes made for this response.
    Owned(Vec<u8>),
}

impl Body {
    /// The bytes.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            Body::Static(bytes) => bytes,
            Body::Owned(bytes) => bytes,
        }
    }
}

/// `Content-Type` of HTML.
pub(crate) const HTML: &str = "text/html; charset=utf-8";
/// `Content-Type` of JSON.
pub(crate) const JSON: &str = "application/json";
/// `Content-Type` of plain text.
pub(crate) const TEXT: &str = "text/plain; charset=utf-8";

impl Response {
    /// `status` with `body` of type `content_type`.
    pub(crate) fn new(status: u16, content_type: &'static str, body: Vec<u8>) -> Response {
        Response {
            status,
            content_type,
            body: Body::Owned(body),
        }
    }

    /// 200 with a compiled-in body.
    pub(crate) fn asset(content_type: &'static str, body: &'static str) -> Response {
        Response {
            status: 200,
            content_type,
            body: Body::Static(body.as_bytes()),
        }
    }

    /// `status` with a plain-text message.
    pub(crate) fn text(status: u16, message: &str) -> Response {
        Response::new(status, TEXT, message.as_bytes().to_vec())
    }

    /// 404 with a plain-text message.
    pub(crate) fn not_found(message: &str) -> Response {
        Response::text(404, message)
    }

    /// 403 for a name that is not a path inside the root.
    pub(crate) fn outside() -> Response {
        Response::text(403, "refused: not a path inside the root")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_are_found_by_exact_name() {
        let request = Request {
            path: "/".to_owned(),
            query: "after=12&token=abc&x".to_owned(),
        };
        assert_eq!(request.query_param("after"), Some("12"));
        assert_eq!(request.query_param("token"), Some("abc"));
        assert_eq!(request.query_param("x"), Some(""));
        assert_eq!(request.query_param("tok"), None);
    }
}
