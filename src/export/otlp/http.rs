//! Posting an export to an OTLP/HTTP receiver (feature `otlp-http`): protobuf over plain
//! HTTP, blocking, with `ureq`.
//!
//! Invariant: a post either returns what the receiver answered (its partial-success count
//! included) or says why it failed — unreachable, or refused with the status and the start
//! of the answer — and never waits longer than its timeout.

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;

use super::spans::span_count;

use crate::export::ExportError;

/// What a receiver answered to [`post_otlp`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostReport {
    /// The URL posted to (`<endpoint>/v1/traces`).
    pub url: String,
    /// The HTTP status (2xx).
    pub status: u16,
    /// Spans sent.
    pub spans: usize,
    /// Spans the receiver said it rejected (OTLP partial success), with its message.
    pub rejected_spans: i64,
    /// The receiver's message about a partial success, if any.
    pub message: String,
}

/// Posts the request as OTLP/HTTP protobuf to `<endpoint>/v1/traces` (or to `endpoint` itself
/// when it already ends in `/v1/traces`). Plain `http://` only; blocking; 30 s timeout.
///
/// An unreachable endpoint is [`ExportError::Unreachable`]; a non-2xx answer is
/// [`ExportError::Refused`] with the status and the start of the body.
pub fn post_otlp(
    request: &ExportTraceServiceRequest,
    endpoint: &str,
) -> Result<PostReport, ExportError> {
    let trimmed = endpoint.trim_end_matches('/');
    let url = if trimmed.ends_with("/v1/traces") {
        trimmed.to_owned()
    } else {
        format!("{trimmed}/v1/traces")
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(30)))
        .build()
        .into();
    let body = request.encode_to_vec();
    let unreachable = |e: ureq::Error| ExportError::Unreachable {
        url: url.clone(),
        message: e.to_string(),
    };
    let mut response = agent
        .post(&url)
        .header("Content-Type", "application/x-protobuf")
        .send(&body[..])
        .map_err(unreachable)?;
    let status = response.status().as_u16();
    let bytes = response
        .body_mut()
        .with_config()
        .limit(1024 * 1024)
        .read_to_vec()
        .unwrap_or_default();
    if !(200..300).contains(&status) {
        return Err(ExportError::Refused {
            url,
            status,
            body: crate::reduce::preview_within(&String::from_utf8_lossy(&bytes), 500),
        });
    }
    let partial = ExportTraceServiceResponse::decode(&bytes[..])
        .ok()
        .and_then(|r| r.partial_success)
        .unwrap_or_default();
    Ok(PostReport {
        url,
        status,
        spans: span_count(request),
        rejected_spans: partial.rejected_spans,
        message: partial.error_message,
    })
}
