//! A bundle as OpenTelemetry traces: one `ExportTraceServiceRequest` (the OpenTelemetry
//! project's own message types from `opentelemetry-proto`, no SDK), written as OTLP/JSON or
//! protobuf, or posted to an OTLP/HTTP receiver (feature `otlp-http`).
//!
//! Invariant: the same bundle always exports to the same request — ids are hashes of the
//! rollout id and the entity id, spans are ordered as the graph's tree, and nothing depends on
//! the clock or the machine — so exporting twice never duplicates a span in a backend.
//!
//! Split by job: this file is the public API (options, entry points, the file forms);
//! `spans` maps the export graph to spans, `genai` builds the GenAI conventions' message JSON,
//! `http` posts to a receiver.
//!
//! The mapping follows the OpenTelemetry GenAI semantic conventions (1.42) and adds the
//! OpenInference attributes Phoenix and Langfuse read; the README's "Export" section has the
//! table. Token usage sits on inference spans only, so backends that sum descendants count
//! every token once.

mod genai;
#[cfg(feature = "otlp-http")]
mod http;
mod spans;

use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;
use std::path::Path;

use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;

#[cfg(feature = "otlp-http")]
pub use http::{post_otlp, PostReport};
/// The OTLP request type an export produces (re-exported from `opentelemetry-proto`).
pub use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
pub use spans::span_count;

use super::graph::ExportGraph;
use super::{write_json, ExportError};
use crate::reduce::{reduce_bundle, ReduceError, RolloutState};
use spans::{Attrs, Content};

/// What an OTLP export includes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OtlpOptions {
    /// Include content: messages (`gen_ai.input.messages`, `gen_ai.output.messages`,
    /// `gen_ai.system_instructions`), tool arguments and results, code, delivered texts and
    /// the OpenInference `input.value` / `output.value`. Default `true`.
    pub content: bool,
    /// Longest content attribute, in bytes: message lists keep their newest messages that fit
    /// (`rollout.input_messages_dropped` counts the others); a longer body becomes a cut text
    /// preview and `rollout.content_truncated = true`. Default 64 KiB.
    pub max_content_bytes: usize,
    /// `service.name` of the resource. Default `tracing-rollout`.
    pub service_name: String,
    /// `openinference.project.name` of the resource (the Phoenix project), if any.
    pub project_name: Option<String>,
}

impl Default for OtlpOptions {
    fn default() -> Self {
        OtlpOptions {
            content: true,
            max_content_bytes: 64 * 1024,
            service_name: "tracing-rollout".to_owned(),
            project_name: None,
        }
    }
}

impl OtlpOptions {
    /// The defaults: content included.
    pub fn new() -> OtlpOptions {
        OtlpOptions::default()
    }

    /// Includes content (`true`) or leaves it out (`false`).
    pub fn content(mut self, include: bool) -> OtlpOptions {
        self.content = include;
        self
    }

    /// Sets the longest content attribute, in bytes.
    pub fn max_content_bytes(mut self, bytes: usize) -> OtlpOptions {
        self.max_content_bytes = bytes;
        self
    }

    /// Sets `service.name`.
    pub fn service_name(mut self, name: impl Into<String>) -> OtlpOptions {
        self.service_name = name.into();
        self
    }

    /// Sets `openinference.project.name` (the Phoenix project the spans land in).
    pub fn project_name(mut self, name: impl Into<String>) -> OtlpOptions {
        self.project_name = Some(name.into());
        self
    }
}

/// Reduces the bundle in `dir` and exports it as one OTLP request.
///
/// # Examples
///
/// ```no_run
/// use tracing_rollout::export::otlp::{export_otlp, write_otlp_json, OtlpOptions};
///
/// let request = export_otlp("traces/demo", &OtlpOptions::new())?;
/// write_otlp_json(&request, "demo.otlp.jsonl")?;
/// # Ok::<(), tracing_rollout::export::ExportError>(())
/// ```
pub fn export_otlp(
    dir: impl AsRef<Path>,
    options: &OtlpOptions,
) -> Result<ExportTraceServiceRequest, ExportError> {
    let dir = dir.as_ref();
    let state = reduce_bundle(dir)?;
    otlp_request(&state, dir, options)
}

/// Exports an already reduced rollout; `dir` is its bundle (bodies are read from it).
pub fn otlp_request(
    state: &RolloutState,
    dir: impl AsRef<Path>,
    options: &OtlpOptions,
) -> Result<ExportTraceServiceRequest, ExportError> {
    let graph = ExportGraph::new(state);
    let bodies = if options.content {
        collect_bodies(dir.as_ref(), &spans::content_payloads(state))?
    } else {
        Default::default()
    };
    let content = Content {
        include: options.content,
        max_bytes: options.max_content_bytes,
    };
    let spans = spans::spans(&graph, &bodies, content);
    Ok(request(state, options, spans))
}

/// One resource (the service, the rollout, the Phoenix project) with one scope holding
/// `spans`.
fn request(
    state: &RolloutState,
    options: &OtlpOptions,
    spans: Vec<Span>,
) -> ExportTraceServiceRequest {
    let mut resource = Attrs::default();
    resource.s("service.name", &options.service_name);
    resource.s("rollout.id", &state.rollout_id);
    if let Some(project) = &options.project_name {
        resource.s("openinference.project.name", project);
    }
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: resource.0,
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "tracing-rollout".to_owned(),
                    version: env!("CARGO_PKG_VERSION").to_owned(),
                    ..Default::default()
                }),
                spans,
                schema_url: "https://opentelemetry.io/schemas/gen-ai/1.42.0".to_owned(),
            }],
            schema_url: String::new(),
        }],
    }
}

/// The request as OTLP/JSON (hex ids, 64-bit integers as strings, lowerCamelCase keys, enums
/// as integers), one line.
pub fn to_otlp_json(request: &ExportTraceServiceRequest) -> Result<String, ExportError> {
    serde_json::to_string(request).map_err(ExportError::Json)
}

/// The request as protobuf (`application/x-protobuf`).
pub fn to_otlp_protobuf(request: &ExportTraceServiceRequest) -> Vec<u8> {
    request.encode_to_vec()
}

/// Writes the request to `path` in the OTLP file form: one OTLP/JSON `TracesData` per line
/// (`.jsonl`); this file has one line.
pub fn write_otlp_json(
    request: &ExportTraceServiceRequest,
    path: impl AsRef<Path>,
) -> Result<(), ExportError> {
    write_json(request, path.as_ref())
}

/// Writes the request to `path` as protobuf (an `ExportTraceServiceRequest`, what an
/// OTLP/HTTP receiver takes: `curl --data-binary @FILE -H 'Content-Type:
/// application/x-protobuf' <URL>/v1/traces`).
pub fn write_otlp_protobuf(
    request: &ExportTraceServiceRequest,
    path: impl AsRef<Path>,
) -> Result<(), ExportError> {
    let path = path.as_ref();
    crate::format::create_private(path)
        .and_then(|mut file| std::io::Write::write_all(&mut file, &to_otlp_protobuf(request)))
        .map_err(|source| ExportError::Io {
            action: "write",
            path: path.to_path_buf(),
            source,
        })
}

/// Exports the bundle in `dir` to a file: protobuf when `path` ends in `.pb` or `.binpb`
/// (see [`write_otlp_protobuf`]), else OTLP/JSON (see [`write_otlp_json`]); returns the
/// number of spans written.
pub fn export_otlp_file(
    dir: impl AsRef<Path>,
    path: impl AsRef<Path>,
    options: &OtlpOptions,
) -> Result<usize, ExportError> {
    let path = path.as_ref();
    let request = export_otlp(dir, options)?;
    let protobuf = path.extension().is_some_and(|e| e == "pb" || e == "binpb");
    if protobuf {
        write_otlp_protobuf(&request, path)?;
    } else {
        write_otlp_json(&request, path)?;
    }
    Ok(span_count(&request))
}

/// Exports the bundle in `dir` and posts it to an OTLP/HTTP receiver (see [`post_otlp`]).
#[cfg(feature = "otlp-http")]
pub fn export_otlp_endpoint(
    dir: impl AsRef<Path>,
    endpoint: &str,
    options: &OtlpOptions,
) -> Result<PostReport, ExportError> {
    post_otlp(&export_otlp(dir, options)?, endpoint)
}

/// The whole bodies of the payload records `seqs` of the bundle in `dir`, in one pass.
fn collect_bodies(dir: &Path, seqs: &BTreeSet<u64>) -> Result<BTreeMap<u64, String>, ReduceError> {
    let mut bodies = BTreeMap::new();
    if seqs.is_empty() {
        return Ok(bodies);
    }
    crate::format::visit_records(dir, |record| {
        if !seqs.contains(&record.seq) {
            return ControlFlow::Continue(());
        }
        if let Some(body) = record.body {
            bodies.insert(record.seq, body.to_owned());
        }
        if bodies.len() == seqs.len() {
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    })?;
    Ok(bodies)
}
