//! The rollout graph as OTLP spans: one span per node of the export graph, named and
//! attributed after the GenAI semantic conventions and OpenInference, edges as links and
//! events, diagnostics as events on the rollout span.
//!
//! Invariant: a span's ids are hashes of the rollout id and its entity (or the program's own
//! trace id), so the same bundle always maps to the same spans; token usage sits on inference
//! spans only, so a backend that sums descendants counts every token once; content
//! (messages, arguments, results, code, delivered texts) appears only when the export's
//! options ask for it, cut at their byte limit.

use std::collections::{BTreeMap, BTreeSet};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, ArrayValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link, SpanKind};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::{Span, Status as SpanStatus};
use serde_json::Value;

use super::genai::{finish_reason, messages, output_messages};
use crate::export::graph::{
    anchor_text, delivered_text, thread_name, Entity, ExportGraph, Node, NodeKey,
};
use crate::reduce::{
    preview_within, CodeCell, Compaction, ConversationItem, DiagnosticLevel, InferenceCall,
    ItemKind, Requester, RolloutState, Status, TerminalOperation, Thread, ToolCall, Turn, Usage,
};

/// The payload bodies the spans show as content: tool arguments and results, code cells'
/// source and output, what terminal operations wrote and read.
pub(super) fn content_payloads(state: &RolloutState) -> BTreeSet<u64> {
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
    seqs
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

/// What content the spans carry (the export's options, as the spans read them).
#[derive(Debug, Clone, Copy)]
pub(super) struct Content {
    /// Messages, arguments, results, code and delivered texts are included.
    pub(super) include: bool,
    /// Longest content attribute, in bytes.
    pub(super) max_bytes: usize,
}

/// The spans of `graph` in its order (parents first), with its edges and diagnostics;
/// `bodies` holds the [`content_payloads`] when content is included.
pub(super) fn spans(
    graph: &ExportGraph<'_>,
    bodies: &BTreeMap<u64, String>,
    content: Content,
) -> Vec<Span> {
    let ids = Ids::new(graph.state);
    let builder = Builder {
        graph,
        bodies,
        content,
        ids: &ids,
    };
    let mut spans: Vec<Span> = graph.nodes.iter().map(|n| builder.span(n)).collect();
    builder.add_spawn_links(&mut spans);
    builder.add_edges(&mut spans);
    builder.add_diagnostics(&mut spans);
    spans
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
pub(super) struct Attrs(pub(super) Vec<KeyValue>);

impl Attrs {
    fn put(&mut self, key: &str, value: any_value::Value) {
        self.0.push(KeyValue {
            key: key.to_owned(),
            value: Some(AnyValue { value: Some(value) }),
            ..Default::default()
        });
    }
    pub(super) fn s(&mut self, key: &str, value: &str) {
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
    bodies: &'a BTreeMap<u64, String>,
    content: Content,
    ids: &'a Ids,
}

impl Builder<'_, '_> {
    fn span(&self, node: &Node<'_>) -> Span {
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
        let (name, kind) = self.entity(node, &mut a);
        if node.error.is_some() || node.status == Status::Failed {
            a.s("error.type", "_OTHER");
        }
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
            status: Some(span_status(node)),
            ..Default::default()
        }
    }

    /// The span's name and kind, after the attributes of what its entity is.
    fn entity(&self, node: &Node<'_>, a: &mut Attrs) -> (String, SpanKind) {
        let id = node.key.id();
        let name = match node.entity {
            Entity::Rollout => self.rollout(a),
            Entity::Thread(thread) => self.thread(id, thread, a),
            Entity::Turn(turn) => turn_attrs(id, turn, a),
            Entity::Inference(call) => return (self.inference(id, call, a), SpanKind::Client),
            Entity::Tool(tool) => self.tool(id, tool, a),
            Entity::CodeCell(cell) => self.code_cell(id, cell, a),
            Entity::TerminalOp(op) => self.terminal_op(id, op, a),
            Entity::Compaction(compaction) => self.compaction(id, compaction, a),
        };
        (name, SpanKind::Internal)
    }

    fn rollout(&self, a: &mut Attrs) -> String {
        let state = self.graph.state;
        a.s("gen_ai.operation.name", "invoke_workflow");
        a.s("gen_ai.workflow.name", "rollout");
        a.s("openinference.span.kind", "CHAIN");
        a.s("rollout.id", &state.rollout_id);
        a.opt("rollout.trace_id", state.trace_id.as_deref());
        a.b("rollout.complete", state.complete);
        a.opt("rollout.root_thread_id", state.root_thread_id.as_deref());
        if let Some(root) = &state.root_thread_id {
            self.thread_io(root, a);
        }
        "invoke_workflow rollout".to_owned()
    }

    fn thread(&self, id: &str, thread: &Thread, a: &mut Attrs) -> String {
        let state = self.graph.state;
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
        self.thread_io(id, a);
        format!("invoke_agent {name}")
    }

    fn inference(&self, id: &str, call: &InferenceCall, a: &mut Attrs) -> String {
        let state = self.graph.state;
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
            usage_attrs(u, a);
        }
        let response: Vec<&ConversationItem> = call
            .response_items
            .iter()
            .filter_map(|i| state.conversation_items.get(i))
            .collect();
        // The provider's own words when the span recorded them, else read from the graph.
        let finish = match call.finish_reasons.first() {
            Some(first) => first.as_str(),
            None => finish_reason(
                call.execution.status,
                &response,
                call.execution.ended_at_unix_ms.is_some(),
            ),
        };
        let reasons: Vec<&str> = match call.finish_reasons.is_empty() {
            true => vec![finish],
            false => call.finish_reasons.iter().map(String::as_str).collect(),
        };
        a.strings("gen_ai.response.finish_reasons", &reasons);
        if let Some(ns) = call.time_to_first_chunk_ns {
            a.put(
                "gen_ai.response.time_to_first_chunk",
                any_value::Value::DoubleValue(ns as f64 / 1e9),
            );
        }
        if self.content.include {
            self.inference_messages(call, &response, finish, a);
        }
        format!("chat {}", call.model.as_deref().unwrap_or("unknown"))
    }

    /// An inference call's content: what it was given (system instructions apart where the
    /// provider keeps them apart) and what it answered, as GenAI message JSON.
    fn inference_messages(
        &self,
        call: &InferenceCall,
        response: &[&ConversationItem],
        finish: &str,
        a: &mut Attrs,
    ) {
        let state = self.graph.state;
        let request: Vec<&ConversationItem> = state
            .request_items(call)
            .iter()
            .filter_map(|i| state.conversation_items.get(*i))
            .collect();
        // Anthropic carries the system prompt outside the messages: its leading system
        // items are `gen_ai.system_instructions`; elsewhere system text is in history.
        let split_system = call.payload_format.as_deref()
            == Some(crate::vocab::payload_format::ANTHROPIC_MESSAGES);
        let max = self.content.max_bytes;
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
        let output = preview_within(&output_messages(response, finish).to_string(), max);
        a.s("gen_ai.output.messages", &output);
        a.s("output.value", &output);
        a.s("output.mime_type", "application/json");
    }

    fn tool(&self, id: &str, tool: &ToolCall, a: &mut Attrs) -> String {
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
        if self.content.include {
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

    fn code_cell(&self, id: &str, cell: &CodeCell, a: &mut Attrs) -> String {
        a.s("openinference.span.kind", "CHAIN");
        a.s("rollout.code_cell_id", id);
        a.opt("rollout.cell_id", cell.cell_id.as_deref());
        a.opt("rollout.language", cell.language.as_deref());
        a.opt("gen_ai.tool.call.id", cell.call_id.as_deref());
        a.u("rollout.tool_calls", cell.tool_calls.len() as u64);
        if self.content.include {
            if let Some(code) = self.body(cell.source_payload, a) {
                a.s("rollout.code", &code);
                a.s("input.value", &code);
            }
            if let Some(out) = self.body(cell.output_payload, a) {
                a.s("output.value", &out);
            }
        }
        format!("code_cell {}", cell.cell_id.as_deref().unwrap_or(id))
    }

    fn terminal_op(&self, id: &str, op: &TerminalOperation, a: &mut Attrs) -> String {
        a.s("openinference.span.kind", "CHAIN");
        a.s("rollout.operation_id", id);
        a.opt("rollout.terminal_id", op.terminal_id.as_deref());
        a.opt("rollout.terminal.op", op.op.as_deref());
        a.opt("process.command_line", op.command.as_deref());
        a.opt("process.working_directory", op.cwd.as_deref());
        if let Some(code) = op.exit_code {
            a.i("process.exit.code", code);
        }
        if self.content.include {
            // What the operation wrote and read, in record order.
            let texts: Vec<String> = op
                .payloads
                .iter()
                .filter_map(|seq| self.body(Some(*seq), a))
                .collect();
            if !texts.is_empty() {
                let text = preview_within(&texts.join("\n"), self.content.max_bytes);
                a.s("output.value", &text);
            }
        }
        format!("terminal {}", op.op.as_deref().unwrap_or("operation"))
    }

    fn compaction(&self, id: &str, compaction: &Compaction, a: &mut Attrs) -> String {
        a.s("openinference.span.kind", "CHAIN");
        a.s("rollout.kind", "compaction");
        a.s("rollout.compaction_id", id);
        a.opt("gen_ai.request.model", compaction.model.as_deref());
        a.u(
            "rollout.compaction.input_items",
            compaction.input_items.len() as u64,
        );
        a.u(
            "rollout.compaction.replacement_items",
            compaction.replacement_items.len() as u64,
        );
        if self.content.include {
            let items: Vec<&ConversationItem> = compaction
                .replacement_items
                .iter()
                .filter_map(|i| self.graph.state.conversation_items.get(i))
                .collect();
            let (_, messages, _) = messages(&items, false, self.content.max_bytes);
            if !messages.is_empty() {
                a.s("output.value", &Value::Array(messages).to_string());
                a.s("output.mime_type", "application/json");
            }
        }
        format!("compaction {id}")
    }

    /// `input.value` / `output.value` of an agent (and of the rollout, from its root thread):
    /// the first user message it was given and the last assistant message it wrote, which
    /// Phoenix and Langfuse show as the trace's input and output.
    fn thread_io(&self, thread_id: &str, a: &mut Attrs) {
        let state = self.graph.state;
        let Some(thread) = state.threads.get(thread_id) else {
            return;
        };
        if !self.content.include {
            return;
        }
        let messages = thread
            .conversation
            .iter()
            .filter_map(|i| state.conversation_items.get(i))
            .filter(|i| i.kind == ItemKind::Message);
        let max = self.content.max_bytes;
        if let Some(first) = messages.clone().find(|i| i.role.as_deref() == Some("user")) {
            a.s("input.value", &preview_within(&first.text, max));
        }
        if let Some(last) = messages
            .rev()
            .find(|i| i.role.as_deref() == Some("assistant"))
        {
            a.s("output.value", &preview_within(&last.text, max));
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
        if text.len() > self.content.max_bytes {
            if !a.0.iter().any(|kv| kv.key == "rollout.content_truncated") {
                a.b("rollout.content_truncated", true);
            }
            return Some(preview_within(&text, self.content.max_bytes));
        }
        Some(text)
    }

    /// A spawned thread's link to the tool that spawned it.
    fn add_spawn_links(&self, spans: &mut [Span]) {
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
    }

    /// Edges as links (on the receiving span, pointing at the source) and span events (on
    /// the source, carrying the delivered text).
    fn add_edges(&self, spans: &mut [Span]) {
        let state = self.graph.state;
        for placed in self.graph.edges() {
            let (edge, from, to) = (placed.edge, placed.from, placed.to);
            let kind = edge.kind.as_str();
            let mut ea = Attrs::default();
            ea.s("rollout.edge.id", &edge.edge_id);
            ea.s("rollout.edge.kind", kind);
            ea.s("rollout.edge.from", &anchor_text(&edge.from));
            ea.s("rollout.edge.to", &anchor_text(&edge.to));
            ea.b("rollout.edge.delivered", edge.delivered);
            if let Some(thread) = to.and_then(|t| self.graph.nodes[t].thread_id.as_deref()) {
                ea.s("rollout.edge.to_thread", thread);
            }
            if self.content.include {
                if let Some(text) = delivered_text(state, edge) {
                    ea.s(
                        "rollout.edge.delivered_text",
                        &preview_within(text, self.content.max_bytes),
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

/// A turn's attributes; returns its span name.
fn turn_attrs(id: &str, turn: &Turn, a: &mut Attrs) -> String {
    a.s("openinference.span.kind", "CHAIN");
    a.s("rollout.turn_id", id);
    a.s("rollout.thread_id", &turn.thread_id);
    a.s("gen_ai.conversation.id", &turn.thread_id);
    format!("turn {id}")
}

/// An inference call's token usage, in the GenAI and the OpenInference names.
fn usage_attrs(u: &Usage, a: &mut Attrs) {
    a.u("gen_ai.usage.input_tokens", u.input_tokens);
    a.u("gen_ai.usage.output_tokens", u.output_tokens);
    a.u(
        "gen_ai.usage.cache_read.input_tokens",
        u.cached_input_tokens,
    );
    a.u("gen_ai.usage.reasoning.output_tokens", u.reasoning_tokens);
    if u.cache_write_input_tokens > 0 {
        a.u(
            "gen_ai.usage.cache_creation.input_tokens",
            u.cache_write_input_tokens,
        );
    }
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

/// A span's status: an error for a span that never ended or failed, else unset.
fn span_status(node: &Node<'_>) -> SpanStatus {
    if node.incomplete {
        SpanStatus {
            message: "span never ended".to_owned(),
            code: StatusCode::Error as i32,
        }
    } else if node.status == Status::Failed {
        SpanStatus {
            message: node.error.clone().unwrap_or_else(|| "failed".to_owned()),
            code: StatusCode::Error as i32,
        }
    } else {
        SpanStatus::default()
    }
}
