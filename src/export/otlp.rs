//! A bundle as OpenTelemetry traces: one `ExportTraceServiceRequest` (the OpenTelemetry
//! project's own message types from `opentelemetry-proto`, no SDK), written as OTLP/JSON or
//! protobuf, or posted to an OTLP/HTTP receiver (feature `otlp-http`).
//!
//! Invariant: the same bundle always exports to the same request — ids are hashes of the
//! rollout id and the entity id, spans are ordered as the graph's tree, and nothing depends on
//! the clock or the machine — so exporting twice never duplicates a span in a backend.
//!
//! The mapping follows the OpenTelemetry GenAI semantic conventions (1.42) and adds the
//! OpenInference attributes Phoenix and Langfuse read; the README's "Export" section has the
//! table. Token usage sits on inference spans only, so backends that sum descendants count
//! every token once.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::ops::ControlFlow;
use std::path::Path;

use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link, SpanKind};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{
    ResourceSpans, ScopeSpans, Span, Status as SpanStatus,
};
use prost::Message;
use serde_json::{json, Value};

/// The OTLP request type an export produces (re-exported from `opentelemetry-proto`).
pub use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

use super::graph::{
    anchor_text, delivered_text, edge_word, preview, thread_name, ExportGraph, Node, NodeKey,
};
use super::ExportError;
use crate::format::RecordBody;
use crate::reduce::{
    reduce_bundle, ConversationItem, DiagnosticLevel, ItemKind, ReduceError, Requester,
    RolloutState, Status,
};

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
        let mut seqs = BTreeSet::new();
        for tool in state.tool_calls.values() {
            seqs.extend(tool.args_payload);
            seqs.extend(tool.result_payload);
        }
        for cell in state.code_cells.values() {
            seqs.extend(cell.source_payload);
            seqs.extend(cell.output_payload);
        }
        for op in state.terminal_operations.values() {
            seqs.extend(op.payloads.iter().copied());
        }
        collect_bodies(dir.as_ref(), &seqs)?
    } else {
        Default::default()
    };
    let ids = Ids::new(state);
    let mut builder = Builder {
        graph: &graph,
        bodies: &bodies,
        options,
        ids: &ids,
    };
    let mut spans: Vec<Span> = graph.nodes.iter().map(|n| builder.span(n)).collect();
    builder.add_edges(&mut spans);
    builder.add_diagnostics(&mut spans);

    let mut resource = Attrs::default();
    resource.s("service.name", &options.service_name);
    resource.s("rollout.id", &state.rollout_id);
    if let Some(project) = &options.project_name {
        resource.s("openinference.project.name", project);
    }
    Ok(ExportTraceServiceRequest {
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
    })
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
    let path = path.as_ref();
    let io = |source| ExportError::Io {
        action: "write",
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::create(path).map_err(io)?;
    let mut out = std::io::BufWriter::new(file);
    serde_json::to_writer(&mut out, request).map_err(|e| match e.io_error_kind() {
        Some(kind) => io(std::io::Error::new(kind, e)),
        None => ExportError::Json(e),
    })?;
    out.write_all(b"\n").map_err(io)?;
    out.flush().map_err(io)
}

/// Writes the request to `path` as protobuf (an `ExportTraceServiceRequest`, what an
/// OTLP/HTTP receiver takes: `curl --data-binary @FILE -H 'Content-Type:
/// application/x-protobuf' <URL>/v1/traces`).
pub fn write_otlp_protobuf(
    request: &ExportTraceServiceRequest,
    path: impl AsRef<Path>,
) -> Result<(), ExportError> {
    let path = path.as_ref();
    std::fs::write(path, to_otlp_protobuf(request)).map_err(|source| ExportError::Io {
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

/// Spans in a request.
pub fn span_count(request: &ExportTraceServiceRequest) -> usize {
    request
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .map(|s| s.spans.len())
        .sum()
}

/// What a receiver answered to [`post_otlp`].
#[cfg(feature = "otlp-http")]
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
#[cfg(feature = "otlp-http")]
pub fn post_otlp(
    request: &ExportTraceServiceRequest,
    endpoint: &str,
) -> Result<PostReport, ExportError> {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;

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
    let body = to_otlp_protobuf(request);
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
            body: preview(&String::from_utf8_lossy(&bytes), 500),
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
        if let RecordBody::Payload { body, .. } = record.body {
            bodies.insert(record.seq, body.get().to_owned());
        }
        if bodies.len() == seqs.len() {
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    })?;
    Ok(bodies)
}

/// Deterministic ids: 16-byte trace id, 8-byte span ids, hashed from the bundle's identity.
struct Ids {
    trace_id: Vec<u8>,
    rollout_id: String,
}

impl Ids {
    fn new(state: &RolloutState) -> Ids {
        // A program-given 32-hex-digit trace id is used as is, so the export joins the
        // program's own OpenTelemetry trace; anything else is hashed with the rollout id.
        let given = state
            .trace_id
            .as_deref()
            .filter(|t| t.len() == 32 && t.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|t| {
                (0..16)
                    .map(|i| u8::from_str_radix(&t[2 * i..2 * i + 2], 16).ok())
                    .collect::<Option<Vec<u8>>>()
            })
            .filter(|bytes| bytes.iter().any(|b| *b != 0));
        let trace_id = given.unwrap_or_else(|| {
            let parts: [&[u8]; 2] = [
                state.rollout_id.as_bytes(),
                state.trace_id.as_deref().unwrap_or("").as_bytes(),
            ];
            let mut id = hash64(&parts, 1).to_be_bytes().to_vec();
            id.extend_from_slice(&hash64(&parts, 2).to_be_bytes());
            id
        });
        Ids {
            trace_id,
            rollout_id: state.rollout_id.clone(),
        }
    }

    fn span_id(&self, key: &NodeKey) -> Vec<u8> {
        let parts: [&[u8]; 3] = [
            self.rollout_id.as_bytes(),
            key.kind().as_bytes(),
            key.id().as_bytes(),
        ];
        hash64(&parts, 0).to_be_bytes().to_vec()
    }
}

/// FNV-1a over length-delimited parts, finished with splitmix64; never 0 (an invalid id).
fn hash64(parts: &[&[u8]], salt: u64) -> u64 {
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    for part in parts {
        for b in (part.len() as u64).to_le_bytes().iter().chain(part.iter()) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(PRIME);
        }
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^= h >> 31;
    if h == 0 {
        1
    } else {
        h
    }
}

/// Span attributes under construction.
#[derive(Default)]
struct Attrs(Vec<KeyValue>);

impl Attrs {
    fn put(&mut self, key: &str, value: any_value::Value) {
        self.0.push(KeyValue {
            key: key.to_owned(),
            value: Some(AnyValue { value: Some(value) }),
            ..Default::default()
        });
    }
    fn s(&mut self, key: &str, value: &str) {
        self.put(key, any_value::Value::StringValue(value.to_owned()));
    }
    fn opt(&mut self, key: &str, value: Option<&str>) {
        if let Some(v) = value {
            self.s(key, v);
        }
    }
    fn i(&mut self, key: &str, value: i64) {
        self.put(key, any_value::Value::IntValue(value));
    }
    fn u(&mut self, key: &str, value: u64) {
        self.i(key, i64::try_from(value).unwrap_or(i64::MAX));
    }
    fn b(&mut self, key: &str, value: bool) {
        self.put(key, any_value::Value::BoolValue(value));
    }
    fn strings(&mut self, key: &str, values: &[&str]) {
        self.put(
            key,
            any_value::Value::ArrayValue(ArrayValue {
                values: values
                    .iter()
                    .map(|v| AnyValue {
                        value: Some(any_value::Value::StringValue((*v).to_owned())),
                    })
                    .collect(),
            }),
        );
    }
}

struct Builder<'a, 's> {
    graph: &'a ExportGraph<'s>,
    bodies: &'a std::collections::BTreeMap<u64, String>,
    options: &'a OtlpOptions,
    ids: &'a Ids,
}

impl Builder<'_, '_> {
    fn span(&mut self, node: &Node) -> Span {
        let state = self.graph.state;
        let mut a = Attrs::default();
        a.s("rollout.entity", node.key.kind());
        if !node.key.id().is_empty() {
            a.s("rollout.entity_id", node.key.id());
        }
        a.s(
            "rollout.status",
            if node.incomplete {
                Status::Incomplete.as_str()
            } else {
                node.status.as_str()
            },
        );
        if let Some(d) = node.duration_ns {
            a.u("rollout.duration_ns", d);
        }
        let mut kind = SpanKind::Internal;
        let name = match &node.key {
            NodeKey::Rollout => {
                a.s("gen_ai.operation.name", "invoke_workflow");
                a.s("gen_ai.workflow.name", "rollout");
                a.s("openinference.span.kind", "CHAIN");
                a.s("rollout.id", &state.rollout_id);
                a.opt("rollout.trace_id", state.trace_id.as_deref());
                a.b("rollout.complete", state.complete);
                a.opt("rollout.root_thread_id", state.root_thread_id.as_deref());
                if let Some(root) = &state.root_thread_id {
                    self.thread_io(root, &mut a);
                }
                "invoke_workflow rollout".to_owned()
            }
            NodeKey::Thread(id) => {
                let thread = &state.threads[id];
                let name = thread_name(state, id);
                a.s("gen_ai.operation.name", "invoke_agent");
                a.s("openinference.span.kind", "AGENT");
                if let Some(provider) = state
                    .inference_calls
                    .values()
                    .filter(|c| c.thread_id.as_deref() == Some(id))
                    .find_map(|c| c.provider.as_deref())
                {
                    a.s("gen_ai.provider.name", provider);
                }
                a.s("gen_ai.agent.id", id);
                a.s("gen_ai.agent.name", &name);
                a.s("agent.name", &name);
                a.s("gen_ai.conversation.id", id);
                a.opt("gen_ai.request.model", thread.model.as_deref());
                a.opt("rollout.agent_path", thread.agent_path.as_deref());
                a.opt("rollout.agent_role", thread.role.as_deref());
                a.opt(
                    "rollout.parent_thread_id",
                    thread.parent_thread_id.as_deref(),
                );
                a.i("rollout.attachments", i64::from(thread.attachments));
                a.u("rollout.turns", thread.turns.len() as u64);
                self.thread_io(id, &mut a);
                format!("invoke_agent {name}")
            }
            NodeKey::Turn(id) => {
                let turn = &state.turns[id];
                a.s("openinference.span.kind", "CHAIN");
                a.s("rollout.turn_id", id);
                a.s("rollout.thread_id", &turn.thread_id);
                a.s("gen_ai.conversation.id", &turn.thread_id);
                format!("turn {id}")
            }
            NodeKey::Inference(id) => {
                kind = SpanKind::Client;
                self.inference(id, &mut a)
            }
            NodeKey::Tool(id) => self.tool(id, &mut a),
            NodeKey::CodeCell(id) => {
                let cell = &state.code_cells[id];
                a.s("openinference.span.kind", "CHAIN");
                a.s("rollout.code_cell_id", id);
                a.opt("rollout.cell_id", cell.cell_id.as_deref());
                a.opt("rollout.language", cell.language.as_deref());
                a.opt("gen_ai.tool.call.id", cell.call_id.as_deref());
                a.u("rollout.tool_calls", cell.tool_calls.len() as u64);
                if self.options.content {
                    if let Some(code) = self.body(cell.source_payload, &mut a) {
                        a.s("rollout.code", &code);
                        a.s("input.value", &code);
                    }
                    if let Some(out) = self.body(cell.output_payload, &mut a) {
                        a.s("output.value", &out);
                    }
                }
                format!(
                    "code_cell {}",
                    cell.cell_id.as_deref().unwrap_or(id.as_str())
                )
            }
            NodeKey::TerminalOp(id) => {
                let op = &state.terminal_operations[id];
                a.s("openinference.span.kind", "CHAIN");
                a.s("rollout.operation_id", id);
                a.opt("rollout.terminal_id", op.terminal_id.as_deref());
                a.opt("rollout.terminal.op", op.op.as_deref());
                a.opt("process.command_line", op.command.as_deref());
                a.opt("process.working_directory", op.cwd.as_deref());
                if let Some(code) = op.exit_code {
                    a.i("process.exit.code", code);
                }
                if self.options.content {
                    // What the operation wrote and read, in record order.
                    let texts: Vec<String> = op
                        .payloads
                        .iter()
                        .filter_map(|seq| self.body(Some(*seq), &mut a))
                        .collect();
                    if !texts.is_empty() {
                        let text = preview(&texts.join("\n"), self.options.max_content_bytes);
                        a.s("output.value", &text);
                    }
                }
                format!("terminal {}", op.op.as_deref().unwrap_or("operation"))
            }
            NodeKey::Compaction(id) => {
                let c = &state.compactions[id];
                a.s("openinference.span.kind", "CHAIN");
                a.s("rollout.kind", "compaction");
                a.s("rollout.compaction_id", id);
                a.opt("gen_ai.request.model", c.model.as_deref());
                a.u("rollout.compaction.input_items", c.input_items.len() as u64);
                a.u(
                    "rollout.compaction.replacement_items",
                    c.replacement_items.len() as u64,
                );
                if self.options.content {
                    let items: Vec<&ConversationItem> = c
                        .replacement_items
                        .iter()
                        .filter_map(|i| state.conversation_items.get(i))
                        .collect();
                    let (_, messages, _) = messages(&items, false, self.options.max_content_bytes);
                    if !messages.is_empty() {
                        a.s("output.value", &Value::Array(messages).to_string());
                        a.s("output.mime_type", "application/json");
                    }
                }
                format!("compaction {id}")
            }
        };
        if node.error.is_some() || node.status == Status::Failed {
            a.s("error.type", "_OTHER");
        }
        let status = if node.incomplete {
            Some(SpanStatus {
                message: "span never ended".to_owned(),
                code: StatusCode::Error as i32,
            })
        } else if node.status == Status::Failed {
            Some(SpanStatus {
                message: node.error.clone().unwrap_or_else(|| "failed".to_owned()),
                code: StatusCode::Error as i32,
            })
        } else {
            Some(SpanStatus::default())
        };
        Span {
            trace_id: self.ids.trace_id.clone(),
            span_id: self.ids.span_id(&node.key),
            parent_span_id: node
                .parent
                .map(|p| self.ids.span_id(&self.graph.nodes[p].key))
                .unwrap_or_default(),
            name,
            kind: kind as i32,
            start_time_unix_nano: node.start_ns,
            end_time_unix_nano: node.end_ns,
            attributes: a.0,
            status,
            ..Default::default()
        }
    }

    fn inference(&mut self, id: &str, a: &mut Attrs) -> String {
        let state = self.graph.state;
        let call = &state.inference_calls[id];
        let provider = call.provider.as_deref().unwrap_or("_OTHER");
        a.s("gen_ai.operation.name", "chat");
        a.s("gen_ai.provider.name", provider);
        a.opt("gen_ai.request.model", call.model.as_deref());
        a.opt("gen_ai.response.id", call.response_id.as_deref());
        a.opt("gen_ai.conversation.id", call.thread_id.as_deref());
        a.s("openinference.span.kind", "LLM");
        a.opt("llm.model_name", call.model.as_deref());
        a.s("llm.provider", provider);
        a.s("llm.system", provider);
        a.s("rollout.inference_call_id", id);
        a.opt(
            "rollout.upstream_request_id",
            call.upstream_request_id.as_deref(),
        );
        a.opt(
            "rollout.previous_response_id",
            call.previous_response_id.as_deref(),
        );
        a.opt("rollout.payload_format", call.payload_format.as_deref());
        if let Some(seq) = call.request_payload {
            a.u("rollout.request_payload_seq", seq);
        }
        if let Some(seq) = call.response_payload {
            a.u("rollout.response_payload_seq", seq);
        }
        if let Some(u) = &call.usage {
            a.u("gen_ai.usage.input_tokens", u.input_tokens);
            a.u("gen_ai.usage.output_tokens", u.output_tokens);
            a.u(
                "gen_ai.usage.cache_read.input_tokens",
                u.cached_input_tokens,
            );
            a.u("gen_ai.usage.reasoning.output_tokens", u.reasoning_tokens);
            a.u("llm.token_count.prompt", u.input_tokens);
            a.u("llm.token_count.completion", u.output_tokens);
            a.u("llm.token_count.total", u.input_tokens + u.output_tokens);
            a.u(
                "llm.token_count.prompt_details.cache_read",
                u.cached_input_tokens,
            );
            a.u(
                "llm.token_count.completion_details.reasoning",
                u.reasoning_tokens,
            );
        }
        let response: Vec<&ConversationItem> = call
            .response_items
            .iter()
            .filter_map(|i| state.conversation_items.get(i))
            .collect();
        let finish = finish_reason(
            call.execution.status,
            &response,
            call.execution.ended_at_unix_ms.is_some(),
        );
        a.strings("gen_ai.response.finish_reasons", &[finish]);
        if self.options.content {
            let request: Vec<&ConversationItem> = call
                .request_items
                .iter()
                .filter_map(|i| state.conversation_items.get(i))
                .collect();
            // Anthropic carries the system prompt outside the messages: its leading system
            // items are `gen_ai.system_instructions`; elsewhere system text is in history.
            let split_system = call.payload_format.as_deref() == Some("anthropic_messages");
            let max = self.options.max_content_bytes;
            let (system, input, dropped) = messages(&request, split_system, max);
            if !system.is_empty() {
                a.s(
                    "gen_ai.system_instructions",
                    &Value::Array(system).to_string(),
                );
            }
            if dropped > 0 {
                a.u("rollout.input_messages_dropped", dropped as u64);
            }
            let input = Value::Array(input).to_string();
            a.s("gen_ai.input.messages", &input);
            a.s("input.value", &input);
            a.s("input.mime_type", "application/json");
            let parts: Vec<Value> = response.iter().filter_map(|i| part(i)).collect();
            let output = json!([{"role": "assistant", "parts": parts, "finish_reason": finish}]);
            let output = preview(&output.to_string(), max);
            a.s("gen_ai.output.messages", &output);
            a.s("output.value", &output);
            a.s("output.mime_type", "application/json");
        }
        format!("chat {}", call.model.as_deref().unwrap_or("unknown"))
    }

    fn tool(&mut self, id: &str, a: &mut Attrs) -> String {
        let state = self.graph.state;
        let tool = &state.tool_calls[id];
        let name = tool.tool.as_deref().unwrap_or("unknown");
        a.s("gen_ai.operation.name", "execute_tool");
        a.s("gen_ai.tool.name", name);
        a.opt("gen_ai.tool.call.id", tool.call_id.as_deref());
        a.s(
            "gen_ai.tool.type",
            if tool.mcp_server.is_some() {
                "extension"
            } else {
                "function"
            },
        );
        a.s("openinference.span.kind", "TOOL");
        a.s("tool.name", name);
        a.opt("tool_call.id", tool.call_id.as_deref());
        a.s("rollout.tool_call_id", id);
        a.opt("rollout.tool_kind", tool.kind.as_deref());
        a.opt("rollout.mcp_server", tool.mcp_server.as_deref());
        a.opt("rollout.target_thread_id", tool.target_thread_id.as_deref());
        match &tool.requester {
            Requester::Model { inference_call_id } => {
                a.s("rollout.requester", "model");
                a.opt("rollout.requested_by", inference_call_id.as_deref());
            }
            Requester::CodeCell { code_cell_id } => {
                a.s("rollout.requester", "code_cell");
                a.s("rollout.requested_by", code_cell_id);
            }
            Requester::Runtime => a.s("rollout.requester", "runtime"),
        }
        if !tool.spawned_threads.is_empty() {
            let spawned: Vec<&str> = tool.spawned_threads.iter().map(String::as_str).collect();
            a.strings("rollout.spawned_threads", &spawned);
        }
        if self.options.content {
            if let Some(args) = self.body(tool.args_payload, a) {
                a.s("gen_ai.tool.call.arguments", &args);
                a.s("input.value", &args);
            }
            if let Some(result) = self.body(tool.result_payload, a) {
                a.s("gen_ai.tool.call.result", &result);
                a.s("output.value", &result);
            }
        }
        format!("execute_tool {name}")
    }

    /// `input.value` / `output.value` of an agent (and of the rollout, from its root thread):
    /// the first user message it was given and the last assistant message it wrote, which
    /// Phoenix and Langfuse show as the trace's input and output.
    fn thread_io(&self, thread_id: &str, a: &mut Attrs) {
        let state = self.graph.state;
        let Some(thread) = state.threads.get(thread_id) else {
            return;
        };
        if !self.options.content {
            return;
        }
        let messages = thread
            .conversation
            .iter()
            .filter_map(|i| state.conversation_items.get(i))
            .filter(|i| i.kind == ItemKind::Message);
        let max = self.options.max_content_bytes;
        if let Some(first) = messages.clone().find(|i| i.role.as_deref() == Some("user")) {
            a.s("input.value", &preview(&first.text, max));
        }
        if let Some(last) = messages
            .rev()
            .find(|i| i.role.as_deref() == Some("assistant"))
        {
            a.s("output.value", &preview(&last.text, max));
        }
    }

    /// A payload body as attribute text: a JSON string body as its string, anything else as
    /// its JSON; cut at the content limit (then `rollout.content_truncated`).
    fn body(&self, seq: Option<u64>, a: &mut Attrs) -> Option<String> {
        let text = self.bodies.get(&seq?)?;
        let text = match serde_json::from_str::<Value>(text) {
            Ok(Value::String(s)) => s,
            _ => text.clone(),
        };
        if text.len() > self.options.max_content_bytes {
            if !a.0.iter().any(|kv| kv.key == "rollout.content_truncated") {
                a.b("rollout.content_truncated", true);
            }
            return Some(preview(&text, self.options.max_content_bytes));
        }
        Some(text)
    }

    /// Edges as links (on the receiving span, pointing at the source) and span events (on
    /// the source, carrying the delivered text); a spawned thread also links to its tool.
    fn add_edges(&self, spans: &mut [Span]) {
        let state = self.graph.state;
        for (i, node) in self.graph.nodes.iter().enumerate() {
            if let (NodeKey::Thread(_), Some(p)) = (&node.key, node.parent) {
                if matches!(self.graph.nodes[p].key, NodeKey::Tool(_)) {
                    let mut la = Attrs::default();
                    la.s("rollout.edge.kind", "spawn");
                    spans[i].links.push(Link {
                        trace_id: self.ids.trace_id.clone(),
                        span_id: self.ids.span_id(&self.graph.nodes[p].key),
                        attributes: la.0,
                        ..Default::default()
                    });
                }
            }
        }
        for edge in state.edges.values() {
            let kind = edge_word(edge.kind);
            let from = self.graph.source_node(&edge.from);
            let to = self.graph.target_node(&edge.to);
            let mut ea = Attrs::default();
            ea.s("rollout.edge.id", &edge.edge_id);
            ea.s("rollout.edge.kind", kind);
            ea.s("rollout.edge.from", &anchor_text(&edge.from));
            ea.s("rollout.edge.to", &anchor_text(&edge.to));
            ea.b("rollout.edge.delivered", edge.delivered);
            if let Some(thread) = to.and_then(|t| self.graph.nodes[t].thread_id.as_deref()) {
                ea.s("rollout.edge.to_thread", thread);
            }
            if self.options.content {
                if let Some(text) = delivered_text(state, edge) {
                    ea.s(
                        "rollout.edge.delivered_text",
                        &preview(text, self.options.max_content_bytes),
                    );
                }
            }
            let time = edge.started_at_unix_ms * 1_000_000;
            let event = Event {
                time_unix_nano: time,
                name: format!("rollout.edge.{kind}"),
                attributes: ea.0,
                dropped_attributes_count: 0,
            };
            match (from, to) {
                (Some(f), Some(t)) if f != t => {
                    let mut la = Attrs::default();
                    la.s("rollout.edge.id", &edge.edge_id);
                    la.s("rollout.edge.kind", kind);
                    la.b("rollout.edge.delivered", edge.delivered);
                    spans[t].links.push(Link {
                        trace_id: self.ids.trace_id.clone(),
                        span_id: self.ids.span_id(&self.graph.nodes[f].key),
                        attributes: la.0,
                        ..Default::default()
                    });
                    spans[f].events.push(event);
                }
                (Some(f), _) => spans[f].events.push(event),
                (None, Some(t)) => spans[t].events.push(event),
                (None, None) => spans[0].events.push(event),
            }
        }
    }

    /// The reducer's diagnostics as events on the rollout span, at its end.
    fn add_diagnostics(&self, spans: &mut [Span]) {
        let end = self.graph.nodes[0].end_ns;
        for d in &self.graph.state.diagnostics {
            let mut a = Attrs::default();
            a.s(
                "rollout.diagnostic.level",
                match d.level {
                    DiagnosticLevel::Info => "info",
                    DiagnosticLevel::Warning => "warning",
                },
            );
            a.s("rollout.diagnostic.message", &d.message);
            if let Some(seq) = d.seq {
                a.u("rollout.diagnostic.seq", seq);
            }
            spans[0].events.push(Event {
                time_unix_nano: end,
                name: "rollout.diagnostic".to_owned(),
                attributes: a.0,
                dropped_attributes_count: 0,
            });
        }
    }
}

/// The finish reason of one response, from the graph: `error` for a failed call, `tool_call`
/// when the response called a tool, `length` for a call that never ended, else `stop`. (The
/// provider's own word is not in `state.json`.)
fn finish_reason(status: Status, response: &[&ConversationItem], ended: bool) -> &'static str {
    if status == Status::Failed {
        "error"
    } else if response.iter().any(|i| {
        matches!(
            i.kind,
            ItemKind::FunctionCall
                | ItemKind::CustomToolCall
                | ItemKind::ComputerCall
                | ItemKind::LocalShellCall
                | ItemKind::McpApprovalRequest
        )
    }) {
        "tool_call"
    } else if !ended {
        "length"
    } else {
        "stop"
    }
}

/// The GenAI message part of one item (`None` for nothing to show).
fn part(item: &ConversationItem) -> Option<Value> {
    Some(match item.kind {
        ItemKind::Message => json!({"type": "text", "content": item.text}),
        ItemKind::Reasoning => json!({"type": "reasoning", "content": item.text}),
        ItemKind::FunctionCall | ItemKind::CustomToolCall => {
            let arguments = match item.kind {
                ItemKind::FunctionCall => serde_json::from_str::<Value>(&item.text)
                    .unwrap_or(Value::String(item.text.clone())),
                _ => Value::String(item.text.clone()),
            };
            json!({"type": "tool_call", "id": item.call_id, "name": item.name, "arguments": arguments})
        }
        ItemKind::FunctionCallOutput | ItemKind::CustomToolCallOutput => {
            json!({"type": "tool_call_response", "id": item.call_id, "response": item.text})
        }
        // Calls the program runs for the model, and what it sent back.
        ItemKind::ComputerCall | ItemKind::LocalShellCall | ItemKind::McpApprovalRequest => {
            json!({"type": "tool_call", "id": item.call_id, "name": item.name, "arguments": item.text})
        }
        ItemKind::ComputerCallOutput
        | ItemKind::LocalShellCallOutput
        | ItemKind::McpApprovalResponse => {
            json!({"type": "tool_call_response", "id": item.call_id, "response": item.text})
        }
        // Tools the provider ran (GenAI 1.42 `server_tool_call` / `_response`).
        ItemKind::WebSearchCall
        | ItemKind::FileSearchCall
        | ItemKind::CodeInterpreterCall
        | ItemKind::ImageGenerationCall
        | ItemKind::McpCall
        | ItemKind::McpListTools
        | ItemKind::ServerToolUse => {
            json!({"type": "server_tool_call", "id": item.call_id, "name": item.name, "content": item.text})
        }
        ItemKind::ServerToolResult => {
            json!({"type": "server_tool_call_response", "id": item.call_id, "response": item.text})
        }
        ItemKind::CompactionMarker => json!({"type": "compaction", "content": item.text}),
        ItemKind::Other => json!({"type": "other", "content": item.text}),
    })
}

/// The role an item speaks in.
fn role(item: &ConversationItem) -> &str {
    match item.kind {
        ItemKind::FunctionCallOutput
        | ItemKind::CustomToolCallOutput
        | ItemKind::ComputerCallOutput
        | ItemKind::LocalShellCallOutput => "tool",
        ItemKind::FunctionCall | ItemKind::CustomToolCall | ItemKind::Reasoning => {
            item.role.as_deref().unwrap_or("assistant")
        }
        _ => item.role.as_deref().unwrap_or("user"),
    }
}

/// Items as GenAI chat messages: consecutive items of one role (other than `tool`) are one
/// message. With `split_system`, leading system items become the system instructions. The
/// list keeps its newest messages within `max` bytes; returns how many older ones it dropped.
fn messages(
    items: &[&ConversationItem],
    split_system: bool,
    max: usize,
) -> (Vec<Value>, Vec<Value>, usize) {
    let mut system = Vec::new();
    let mut rest = items;
    if split_system {
        while let Some((first, tail)) = rest.split_first() {
            if first.kind == ItemKind::Message && first.role.as_deref() == Some("system") {
                system.extend(part(first));
                rest = tail;
            } else {
                break;
            }
        }
    }
    // Group by role first (no JSON yet), then build messages from the newest back until the
    // budget is spent: the work per inference is bounded by `max`, not by the history.
    let mut groups: Vec<(&str, &[&ConversationItem])> = Vec::new();
    let mut begin = 0;
    for (i, item) in rest.iter().enumerate() {
        let role = role(item);
        let next = rest.get(i + 1).map(|n| self::role(n));
        if next != Some(role) || role == "tool" {
            groups.push((role, &rest[begin..=i]));
            begin = i + 1;
        }
    }
    let mut kept = Vec::new();
    let mut size = 2;
    for (role, items) in groups.iter().rev() {
        let parts: Vec<Value> = items.iter().filter_map(|i| part(i)).collect();
        let message = json!({"role": role, "parts": parts});
        let len = message.to_string().len() + 1;
        if size + len > max && !kept.is_empty() {
            break;
        }
        size += len;
        kept.push(message);
    }
    kept.reverse();
    let dropped = groups.len() - kept.len();
    (system, kept, dropped)
}
