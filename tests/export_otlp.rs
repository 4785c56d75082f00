//! The OTLP export of real bundles (the demo fixture, recorded through the layer): the span
//! tree and GenAI attributes, the OTLP/JSON encoding rules, protobuf and JSON decoding back
//! into the same request, ids stable across exports, unended spans, and the HTTP client
//! against a loopback receiver that accepts, refuses, or is not there.
#![cfg(feature = "otlp-http")]

mod support;

use std::collections::BTreeMap;

use anyhow::{ensure, Context, Result};
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::trace::v1::span::Event;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use serde_json::Value;
use support::fixtures::demo;
use support::layer::record;
use support::receiver::{unused_port, Receiver};
use support::spans::undelivered_spawn;
use tracing_rollout::export::otlp::{
    export_otlp, export_otlp_file, post_otlp, to_otlp_json, to_otlp_protobuf, write_otlp_json,
    ExportTraceServiceRequest, OtlpOptions,
};
use tracing_rollout::export::ExportError;

fn spans(request: &ExportTraceServiceRequest) -> Vec<&Span> {
    request
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .collect()
}

/// The span named `name`.
fn named<'a>(spans: &[&'a Span], name: &str) -> Result<&'a Span> {
    spans
        .iter()
        .find(|s| s.name == name)
        .copied()
        .with_context(|| format!("no span named {name}"))
}

/// The event `name` of `span`.
fn event<'a>(span: &'a Span, name: &str) -> Result<&'a Event> {
    span.events
        .iter()
        .find(|e| e.name == name)
        .with_context(|| format!("no event {name} on {}", span.name))
}

fn attr<'a>(span: &'a Span, key: &str) -> Option<&'a Any> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

fn str_attr<'a>(span: &'a Span, key: &str) -> Option<&'a str> {
    match attr(span, key) {
        Some(Any::StringValue(s)) => Some(s),
        _ => None,
    }
}

fn int_attr(span: &Span, key: &str) -> Option<i64> {
    match attr(span, key) {
        Some(Any::IntValue(i)) => Some(*i),
        _ => None,
    }
}

/// The spans by id, after checking they form one tree: one trace, one root, every parent
/// present, no span ending before it starts.
fn span_tree<'a>(spans: &[&'a Span]) -> Result<BTreeMap<&'a [u8], &'a Span>> {
    // 1 rollout + 3 threads + 6 turns + 13 inference + 12 tools + 1 code cell + 2 terminal
    // operations + 1 compaction.
    assert_eq!(spans.len(), 39);
    let by_id: BTreeMap<&[u8], &Span> = spans.iter().map(|s| (&s.span_id[..], *s)).collect();
    assert_eq!(by_id.len(), spans.len(), "span ids are unique");
    let trace_id = &spans[0].trace_id;
    assert_eq!(trace_id.len(), 16);
    let roots: Vec<&&Span> = spans
        .iter()
        .filter(|s| s.parent_span_id.is_empty())
        .collect();
    assert_eq!(roots.len(), 1);
    assert_eq!(roots[0].name, "invoke_workflow rollout");
    for span in spans {
        assert_eq!(&span.trace_id, trace_id);
        assert!(
            span.end_time_unix_nano >= span.start_time_unix_nano,
            "{}",
            span.name
        );
        if !span.parent_span_id.is_empty() {
            assert!(
                by_id.contains_key(&span.parent_span_id[..]),
                "{} has a parent",
                span.name
            );
        }
    }
    Ok(by_id)
}

/// The span's parent in `by_id`.
fn parent_of<'a>(by_id: &BTreeMap<&[u8], &'a Span>, span: &Span) -> &'a Span {
    by_id[&span.parent_span_id[..]]
}

/// Each sub-agent's span hangs under the tool that spawned it, and links to it.
fn check_sub_agents(spans: &[&Span], by_id: &BTreeMap<&[u8], &Span>) -> Result<()> {
    for (agent, call_id) in [("researcher", "call_spawn_r"), ("fixer", "call_spawn_f")] {
        let thread = spans
            .iter()
            .find(|s| str_attr(s, "gen_ai.agent.id") == Some(agent))
            .context("the sub-agent's span")?;
        assert!(thread.name.starts_with("invoke_agent "));
        assert_eq!(
            str_attr(thread, "gen_ai.operation.name"),
            Some("invoke_agent")
        );
        assert_eq!(str_attr(thread, "gen_ai.conversation.id"), Some(agent));
        let tool = parent_of(by_id, thread);
        assert_eq!(tool.name, "execute_tool spawn_agent");
        assert_eq!(str_attr(tool, "gen_ai.tool.call.id"), Some(call_id));
        assert!(
            thread.links.iter().any(|l| l.span_id == tool.span_id),
            "{agent} links to its spawning tool"
        );
    }

    Ok(())
}

/// Inference calls: CLIENT `chat {model}` spans with the usage (there and nowhere else), the
/// messages and the finish reason.
fn check_inferences(spans: &[&Span]) -> Result<()> {
    // Inference: CLIENT `chat {model}`, usage there and nowhere else.
    let chats: Vec<&&Span> = spans
        .iter()
        .filter(|s| s.name.starts_with("chat "))
        .collect();
    assert_eq!(chats.len(), 13);
    let mut input_total = 0;
    for span in spans {
        let usage = int_attr(span, "gen_ai.usage.input_tokens");
        if span.name.starts_with("chat ") {
            assert_eq!(span.kind, 3, "CLIENT");
            input_total += usage.context("usage on inference")?;
        } else {
            assert_eq!(usage, None, "no usage on {}", span.name);
        }
    }
    assert_eq!(input_total, 8586, "the summary's total");

    // The inference that asked for the two spawns: messages and finish reason.
    let spawner = chats
        .iter()
        .find(|s| str_attr(s, "rollout.inference_call_id") == Some("inference:16"))
        .context("inference:16")?;
    assert_eq!(str_attr(spawner, "gen_ai.provider.name"), Some("openai"));
    assert_eq!(str_attr(spawner, "gen_ai.request.model"), Some("gpt-5"));
    assert_eq!(str_attr(spawner, "gen_ai.response.id"), Some("resp_005"));
    assert_eq!(int_attr(spawner, "gen_ai.usage.output_tokens"), Some(90));
    assert_eq!(
        int_attr(spawner, "gen_ai.usage.cache_read.input_tokens"),
        Some(450)
    );
    let output: Value = serde_json::from_str(
        str_attr(spawner, "gen_ai.output.messages").context("output messages")?,
    )?;
    assert_eq!(output[0]["finish_reason"], "tool_call");
    let calls: Vec<&str> = output[0]["parts"]
        .as_array()
        .context("parts")?
        .iter()
        .filter(|p| p["type"] == "tool_call")
        .filter_map(|p| p["id"].as_str())
        .collect();
    assert_eq!(calls, ["call_spawn_r", "call_spawn_f"]);
    let input: Value = serde_json::from_str(
        str_attr(spawner, "gen_ai.input.messages").context("input messages")?,
    )?;
    assert_eq!(input[0]["role"], "developer");
    assert_eq!(input[0]["parts"][0]["type"], "text");
    let responses: Vec<&Value> = input
        .as_array()
        .context("messages")?
        .iter()
        .flat_map(|m| m["parts"].as_array().into_iter().flatten())
        .filter(|p| p["type"] == "tool_call_response")
        .collect();
    assert!(responses.iter().any(|p| p["id"] == "call_stdin"), "{input}");

    // Anthropic's system prompt is outside the messages.
    let claude = chats
        .iter()
        .find(|s| str_attr(s, "gen_ai.provider.name") == Some("anthropic"))
        .context("an anthropic call")?;
    let system: Value = serde_json::from_str(
        str_attr(claude, "gen_ai.system_instructions").context("system instructions")?,
    )?;
    assert_eq!(system[0]["type"], "text");

    Ok(())
}

/// Tools carry arguments and results; terminal operations and a code cell's tools nest.
fn check_tools(spans: &[&Span], by_id: &BTreeMap<&[u8], &Span>) -> Result<()> {
    // Tools carry arguments and results; the exec tool has its terminal operation inside.
    let exec = named(spans, "execute_tool exec_command")?;
    assert!(str_attr(exec, "gen_ai.tool.call.arguments").is_some_and(|a| a.contains("cargo test")));
    assert!(str_attr(exec, "gen_ai.tool.call.result").is_some());
    let terminal = named(spans, "terminal exec")?;
    assert_eq!(parent_of(by_id, terminal).span_id, exec.span_id);
    assert_eq!(
        str_attr(terminal, "process.command_line"),
        Some("cargo test -p net")
    );

    // Code-cell tools nest in the cell.
    let grep = named(spans, "execute_tool grep")?;
    assert_eq!(parent_of(by_id, grep).name, "code_cell cell-1");

    Ok(())
}

/// A message edge is an event on the sending tool and a link on the receiver.
fn check_message_edge(spans: &[&Span]) -> Result<()> {
    let send = named(spans, "execute_tool send_message")?;
    let event = event(send, "rollout.edge.message")?;
    assert!(event
        .attributes
        .iter()
        .any(|kv| kv.key == "rollout.edge.delivered_text"));
    let receivers: Vec<&&Span> = spans
        .iter()
        .filter(|s| s.links.iter().any(|l| l.span_id == send.span_id))
        .collect();
    assert_eq!(receivers.len(), 1);
    assert_eq!(
        str_attr(receivers[0], "gen_ai.conversation.id"),
        Some("fixer")
    );
    Ok(())
}

#[test]
fn the_demo_exports_one_span_per_entity_with_sub_agents_under_their_spawning_tools() -> Result<()> {
    let request = export_otlp(demo(), &OtlpOptions::new())?;
    let spans = spans(&request);
    let by_id = span_tree(&spans)?;
    check_sub_agents(&spans, &by_id)?;
    check_inferences(&spans)?;
    check_tools(&spans, &by_id)?;
    check_message_edge(&spans)
}

#[test]
fn otlp_json_and_protobuf_decode_back_into_the_same_request() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let request = export_otlp(demo(), &OtlpOptions::new())?;
    let file = dir.path().join("demo.otlp.jsonl");
    write_otlp_json(&request, &file)?;
    let text = std::fs::read_to_string(&file)?;
    assert_eq!(text.lines().count(), 1, "one TracesData per line");
    let from_json: ExportTraceServiceRequest = serde_json::from_str(text.trim_end())?;
    assert_eq!(from_json, request);
    let from_proto = ExportTraceServiceRequest::decode(&to_otlp_protobuf(&request)[..])?;
    assert_eq!(from_proto, request);
    let pb = dir.path().join("demo.pb");
    assert_eq!(export_otlp_file(demo(), &pb, &OtlpOptions::new())?, 39);
    let from_file = ExportTraceServiceRequest::decode(&std::fs::read(&pb)?[..])?;
    assert_eq!(from_file, request);
    Ok(())
}

#[test]
fn otlp_json_follows_the_otlp_encoding_rules() -> Result<()> {
    let request = export_otlp(demo(), &OtlpOptions::new())?;
    let json: Value = serde_json::from_str(&to_otlp_json(&request)?)?;
    let spans = json["resourceSpans"][0]["scopeSpans"][0]["spans"]
        .as_array()
        .context("spans")?;
    let hex = |v: &Value, len: usize| {
        v.as_str()
            .is_some_and(|s| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit()))
    };
    let mut ints = 0;
    for span in spans {
        assert!(hex(&span["traceId"], 32), "{}", span["traceId"]);
        assert!(hex(&span["spanId"], 16), "{}", span["spanId"]);
        let parent = &span["parentSpanId"];
        assert!(parent == "" || hex(parent, 16), "{parent}");
        assert!(span["startTimeUnixNano"]
            .as_str()
            .is_some_and(|s| s.parse::<u64>().is_ok()));
        assert!(span["endTimeUnixNano"]
            .as_str()
            .is_some_and(|s| s.parse::<u64>().is_ok()));
        assert!(span["kind"].is_u64(), "enums are integers");
        assert!(span["status"]["code"].is_u64());
        for link in span["links"].as_array().context("links")? {
            assert!(
                hex(&link["spanId"], 16) && hex(&link["traceId"], 32),
                "{link}"
            );
        }
        for kv in span["attributes"].as_array().context("attributes")? {
            if let Some(i) = kv["value"].get("intValue") {
                assert!(i.as_str().is_some_and(|s| s.parse::<i64>().is_ok()), "{kv}");
                ints += 1;
            }
        }
    }
    assert!(ints > 0);
    // lowerCamelCase everywhere: no key anywhere has an underscore.
    fn keys(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                for (k, v) in map {
                    out.push(k.clone());
                    keys(v, out);
                }
            }
            Value::Array(items) => items.iter().for_each(|v| keys(v, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    keys(&json, &mut all);
    let snake: Vec<&String> = all.iter().filter(|k| k.contains('_')).collect();
    assert!(snake.is_empty(), "{snake:?}");
    Ok(())
}

#[test]
fn exporting_twice_gives_the_same_ids_and_the_same_bytes() -> Result<()> {
    let a = export_otlp(demo(), &OtlpOptions::new())?;
    let b = export_otlp(demo(), &OtlpOptions::new())?;
    assert_eq!(to_otlp_protobuf(&a), to_otlp_protobuf(&b));
    // Another rollout id gives other ids.
    let dir = tempfile::tempdir()?;
    let text = std::fs::read_to_string(demo().join("trace.jsonl"))?
        .replace("\"multi-agent-demo\"", "\"multi-agent-demo-2\"");
    std::fs::write(dir.path().join("trace.jsonl"), text)?;
    let c = export_otlp(dir.path(), &OtlpOptions::new())?;
    assert_ne!(spans(&a)[0].trace_id, spans(&c)[0].trace_id);
    assert_ne!(spans(&a)[1].span_id, spans(&c)[1].span_id);
    Ok(())
}

#[test]
fn spans_that_never_ended_are_errors_marked_incomplete() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let text = std::fs::read_to_string(demo().join("trace.jsonl"))?;
    let prefix: Vec<&str> = text.lines().take(70).collect();
    std::fs::write(dir.path().join("trace.jsonl"), prefix.join("\n") + "\n")?;
    let request = export_otlp(dir.path(), &OtlpOptions::new())?;
    let spans = spans(&request);
    let open: Vec<&&Span> = spans
        .iter()
        .filter(|s| str_attr(s, "rollout.status") == Some("incomplete"))
        .collect();
    ensure!(open.len() >= 3, "rollout, thread and turn never ended");
    for span in &open {
        let status = span.status.as_ref().context("status")?;
        assert_eq!(status.code, 2, "ERROR on {}", span.name);
        assert!(span.end_time_unix_nano >= span.start_time_unix_nano);
    }
    let root = spans
        .iter()
        .find(|s| s.parent_span_id.is_empty())
        .context("root")?;
    assert!(open.iter().any(|s| s.span_id == root.span_id));
    assert!(
        root.events.iter().any(|e| e.name == "rollout.diagnostic"),
        "diagnostics become events"
    );
    Ok(())
}

#[test]
fn without_content_no_message_or_argument_leaves_the_bundle() -> Result<()> {
    let request = export_otlp(demo(), &OtlpOptions::new().content(false))?;
    let json = to_otlp_json(&request)?;
    for key in [
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.system_instructions",
        "gen_ai.tool.call.arguments",
        "gen_ai.tool.call.result",
        "input.value",
        "output.value",
        "rollout.edge.delivered_text",
    ] {
        assert!(!json.contains(&format!("\"{key}\"")), "{key} left out");
    }
    assert!(!json.contains("Root cause"), "no delivered text");
    assert!(json.contains("gen_ai.usage.input_tokens"));
    Ok(())
}

/// The body the receiver got, after checking it came as a protobuf POST to `/v1/traces`.
fn posted_body(receiver: Receiver) -> Result<Vec<u8>> {
    let got = receiver.received()?;
    ensure!(
        got.request_line.starts_with("POST /v1/traces "),
        "{}",
        got.request_line
    );
    ensure!(
        got.content_type == "application/x-protobuf",
        "{}",
        got.content_type
    );
    Ok(got.body)
}

#[test]
fn posting_sends_the_protobuf_request_to_v1_traces() -> Result<()> {
    let request = export_otlp(demo(), &OtlpOptions::new())?;
    let receiver = Receiver::start("200 OK", "")?;
    let report = post_otlp(&request, &receiver.url)?;
    assert_eq!(report.status, 200);
    assert_eq!(report.spans, 39);
    let body = posted_body(receiver)?;
    assert_eq!(ExportTraceServiceRequest::decode(&body[..])?, request);
    Ok(())
}

#[test]
fn a_refusing_or_absent_receiver_is_a_clear_error() -> Result<()> {
    let request = export_otlp(demo(), &OtlpOptions::new())?;
    let receiver = Receiver::start("400 Bad Request", "bad spans")?;
    match post_otlp(&request, &receiver.url) {
        Err(ExportError::Refused { status, body, .. }) => {
            assert_eq!(status, 400);
            assert_eq!(body, "bad spans");
        }
        other => anyhow::bail!("expected a refusal, got {other:?}"),
    }
    posted_body(receiver)?;

    // A port nothing listens on.
    let port = unused_port()?;
    match post_otlp(&request, &format!("http://127.0.0.1:{port}")) {
        Err(e @ ExportError::Unreachable { .. }) => {
            assert!(
                e.to_string()
                    .starts_with("reach OTLP endpoint http://127.0.0.1:"),
                "{e}"
            );
        }
        other => anyhow::bail!("expected unreachable, got {other:?}"),
    }
    Ok(())
}

#[test]
fn an_undelivered_spawn_is_marked_on_its_event_and_link() -> Result<()> {
    // The child runs a turn but its model never sees the task.
    let bundle = record(undelivered_spawn)?;
    let request = export_otlp(&bundle.path, &OtlpOptions::new())?;
    let spans = spans(&request);
    let tool = named(&spans, "execute_tool spawn_agent")?;
    let worker = spans
        .iter()
        .find(|s| str_attr(s, "gen_ai.agent.id") == Some("worker"))
        .context("the worker")?;
    assert_eq!(
        worker.parent_span_id, tool.span_id,
        "nested under its spawning tool"
    );
    let spawn = event(tool, "rollout.edge.spawn")?;
    let delivered = |attrs: &[opentelemetry_proto::tonic::common::v1::KeyValue]| {
        attrs
            .iter()
            .find(|kv| kv.key == "rollout.edge.delivered")
            .and_then(|kv| kv.value.as_ref())
            .and_then(|v| v.value.clone())
    };
    assert_eq!(delivered(&spawn.attributes), Some(Any::BoolValue(false)));
    let link = worker
        .links
        .iter()
        .find(|l| l.span_id == tool.span_id && delivered(&l.attributes).is_some())
        .context("the edge's link on the worker")?;
    assert_eq!(delivered(&link.attributes), Some(Any::BoolValue(false)));
    let root = spans
        .iter()
        .find(|s| s.parent_span_id.is_empty())
        .context("root")?;
    let diagnostic = event(root, "rollout.diagnostic")?;
    assert!(format!("{:?}", diagnostic.attributes).contains("never delivered"));
    Ok(())
}

#[test]
fn a_failed_tool_is_an_error_span_with_its_message() -> Result<()> {
    use tracing::info_span;

    let bundle = record(|| {
        let rollout = info_span!("rollout", rollout_id = "failing");
        let thread = info_span!(parent: &rollout, "rollout.thread", thread_id = "main");
        let _tool = info_span!(
            parent: &thread,
            "rollout.tool",
            tool = "rm",
            call_id = "c-1",
            status = "failed",
            error = "permission denied"
        );
    })?;
    let request = export_otlp(&bundle.path, &OtlpOptions::new())?;
    let spans = spans(&request);
    let tool = named(&spans, "execute_tool rm")?;
    let status = tool.status.as_ref().context("status")?;
    assert_eq!(
        (status.code, status.message.as_str()),
        (2, "permission denied")
    );
    assert_eq!(str_attr(tool, "error.type"), Some("_OTHER"));
    assert_eq!(str_attr(tool, "rollout.status"), Some("failed"));
    let thread = named(&spans, "invoke_agent main")?;
    assert_eq!(thread.status.as_ref().map(|s| s.code), Some(0), "UNSET");
    Ok(())
}
