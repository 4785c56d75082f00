//! Agents instrumented with the OpenTelemetry GenAI conventions, recorded with no rollout
//! vocabulary at all: spans recognised by `gen_ai.operation.name`, `gen_ai.*` fields read
//! (most of them recorded late), content attributes as payloads, the GenAI message JSON as
//! the conversation, and the structure such agents emit (tools beside inferences, no turn
//! spans, sub-agents nested in tools).

mod support;

use anyhow::{ensure, Context as _, Result};
use pretty_assertions::assert_eq;
use serde_json::{json, Value};
use support::graph::{
    conversation, edges_of, model_of, no_warnings, only_turn, other_thread, texts, turn_calls,
};
use support::layer::{record, record_with, reduce, trace_lines};
use tracing::field::Empty;
use tracing::info_span;
use tracing_rollout::format::{Record, RecordBody};
use tracing_rollout::reduce::{Anchor, EdgeKind};
use tracing_rollout::{vocab, Redact, RolloutLayer};

const CALL_ID: &str = "call_weather_1";

fn user_asks() -> Value {
    json!([{"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]}])
}

fn forecaster_asked() -> Value {
    json!([{"role": "user", "parts": [{"type": "text", "content": "Forecast for Paris?"}]}])
}

fn model_calls_the_tool() -> Value {
    json!([{"role": "assistant", "parts": [
        {"type": "tool_call", "id": CALL_ID, "name": "get_weather", "arguments": {"city": "Paris"}}
    ], "finish_reason": "tool_call"}])
}

fn second_request() -> Value {
    json!([
        {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]},
        {"role": "assistant", "parts": [
            {"type": "tool_call", "id": CALL_ID, "name": "get_weather", "arguments": {"city": "Paris"}}
        ]},
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": CALL_ID, "response": "rainy, 14°C"}]}
    ])
}

fn model_answers() -> Value {
    json!([{"role": "assistant", "parts": [{"type": "text", "content": "Rainy, 14°C."}], "finish_reason": "stop"}])
}

/// One chat span the way the conventions (and rig) write it: operation at creation,
/// everything else recorded late.
fn chat(input: &Value, output: &Value, usage: (u64, u64)) {
    let span = info_span!(
        "chat",
        gen_ai.operation.name = "chat",
        gen_ai.provider.name = Empty,
        gen_ai.request.model = Empty,
        gen_ai.system_instructions = r#"[{"type":"text","content":"Be brief."}]"#,
        gen_ai.response.id = Empty,
        gen_ai.response.finish_reasons = Empty,
        gen_ai.usage.input_tokens = Empty,
        gen_ai.usage.output_tokens = Empty,
        gen_ai.usage.cache_read.input_tokens = Empty,
        gen_ai.input.messages = Empty,
        gen_ai.output.messages = Empty,
    );
    span.record("gen_ai.provider.name", "openai");
    span.record("gen_ai.request.model", "gpt-test");
    span.record("gen_ai.input.messages", input.to_string());
    span.record("gen_ai.output.messages", output.to_string());
    span.record("gen_ai.response.id", "resp_1");
    span.record("gen_ai.usage.input_tokens", usage.0);
    span.record("gen_ai.usage.output_tokens", usage.1);
    span.record("gen_ai.usage.cache_read.input_tokens", 2_u64);
}

/// The tool span, a sibling of the chat spans; its call id arrives late.
/// How the tool works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ToolBody {
    /// Plain code.
    Code,
    /// An agent of its own, with its own `invoke_agent` span.
    Agent,
    /// Model calls straight inside the tool span (rig runs an agent used as a tool this way).
    ModelCalls,
}

fn execute_tool(body: ToolBody) {
    let tool = info_span!(
        "execute_tool",
        gen_ai.operation.name = "execute_tool",
        gen_ai.tool.type = "function",
        gen_ai.tool.name = Empty,
        gen_ai.tool.call.id = Empty,
        gen_ai.tool.call.arguments = Empty,
        gen_ai.tool.call.result = Empty,
    );
    let _entered = tool.enter();
    tool.record("gen_ai.tool.name", "get_weather");
    tool.record("gen_ai.tool.call.id", tracing::field::display(CALL_ID));
    tool.record(
        "gen_ai.tool.call.arguments",
        r#"{"city":"Paris","api_key":"sk-secret"}"#,
    );
    match body {
        ToolBody::Code => {}
        ToolBody::Agent => {
            let helper = info_span!(
                "invoke_agent",
                gen_ai.operation.name = "invoke_agent",
                gen_ai.agent.name = "forecaster",
            );
            helper.in_scope(|| chat(&forecaster_asked(), &model_answers(), (3, 1)));
        }
        ToolBody::ModelCalls => {
            chat(&forecaster_asked(), &model_answers(), (3, 1));
            let follow_up = json!([
                {"role": "user", "parts": [{"type": "text", "content": "Forecast for Paris?"}]},
                {"role": "assistant", "parts": [{"type": "text", "content": "Rainy, 14°C."}]},
                {"role": "user", "parts": [{"type": "text", "content": "And tomorrow?"}]}
            ]);
            let sunny =
                json!([{"role": "assistant", "parts": [{"type": "text", "content": "Sunny."}]}]);
            chat(&follow_up, &sunny, (4, 1));
        }
    }
    tool.record("gen_ai.tool.call.result", "rainy, 14°C");
}

/// A whole agent run, as an agent framework instrumented with the conventions emits it.
fn agent(tool: ToolBody) {
    let agent = info_span!(
        "invoke_agent",
        gen_ai.operation.name = "invoke_agent",
        gen_ai.agent.name = "weather-bot",
        gen_ai.usage.input_tokens = Empty,
    );
    let _entered = agent.enter();
    chat(&user_asks(), &model_calls_the_tool(), (10, 5));
    execute_tool(tool);
    chat(&second_request(), &model_answers(), (20, 6));
    agent.record("gen_ai.usage.input_tokens", 30_u64);
}

#[test]
fn a_genai_agent_reduces_to_one_thread_one_turn_two_inferences_and_a_linked_tool() -> Result<()> {
    let state = reduce(|| agent(ToolBody::Code))?;
    no_warnings(&state)?;
    assert!(state.complete);

    let thread = state.threads.values().next().context("no thread")?;
    assert_eq!(state.threads.len(), 1);
    assert_eq!(thread.nickname.as_deref(), Some("weather-bot"));
    assert_eq!(
        state.root_thread_id.as_deref(),
        Some(thread.thread_id.as_str())
    );
    assert_eq!(thread.turns.len(), 1, "one turn per agent invocation");
    let turn = &state.turns[&thread.turns[0]];

    let calls = turn_calls(&state, turn);
    assert_eq!(calls.len(), 2);
    for call in &calls {
        assert_eq!(call.model.as_deref(), Some("gpt-test"));
        assert_eq!(call.provider.as_deref(), Some("openai"));
        assert_eq!(call.payload_format.as_deref(), Some("otel_genai"));
        assert_eq!(call.response_id.as_deref(), Some("resp_1"));
    }
    let usage: Vec<_> = calls
        .iter()
        .map(|c| {
            c.usage
                .as_ref()
                .map(|u| (u.input_tokens, u.output_tokens, u.cached_input_tokens))
        })
        .collect();
    assert_eq!(usage, vec![Some((10, 5, 2)), Some((20, 6, 2))]);

    assert_eq!(turn.tool_calls.len(), 1);
    let tool = &state.tool_calls[&turn.tool_calls[0]];
    assert_eq!(tool.tool.as_deref(), Some("get_weather"));
    assert_eq!(tool.call_id.as_deref(), Some(CALL_ID));
    assert_eq!(tool.kind.as_deref(), Some("function"));
    assert_eq!(tool.requester, model_of(calls[0]));
    assert!(tool.args_payload.is_some() && tool.result_payload.is_some());
    let output = tool
        .output_items
        .first()
        .context("tool has no output item")?;
    assert!(
        state.request_items(calls[1]).contains(&output.as_str()),
        "the second request carries the output"
    );

    let call_id = Some(CALL_ID.to_owned());
    assert_eq!(
        conversation(&state, thread),
        vec![
            ("system".to_owned(), None, "Be brief.".to_owned()),
            ("user".to_owned(), None, "Weather in Paris?".to_owned()),
            (
                "assistant".to_owned(),
                call_id.clone(),
                r#"{"city":"Paris"}"#.to_owned()
            ),
            ("tool".to_owned(), call_id, "rainy, 14°C".to_owned()),
            ("assistant".to_owned(), None, "Rainy, 14°C.".to_owned()),
        ]
    );
    Ok(())
}

#[test]
fn content_attributes_are_payload_records_never_fields() -> Result<()> {
    let bundle = record(|| agent(ToolBody::Code))?;
    let mut roles = Vec::new();
    for line in trace_lines(&bundle.path)? {
        match Record::parse(&line)?.body {
            RecordBody::SpanStarted { fields, .. } | RecordBody::SpanRecorded { fields, .. } => {
                let content: Vec<_> = fields
                    .keys()
                    .filter(|k| vocab::genai::CONTENT.iter().any(|(name, _)| name == k))
                    .collect();
                ensure!(
                    content.is_empty(),
                    "content in fields: {content:?} in {line}"
                );
            }
            RecordBody::Payload { head, .. } => roles.push(head.role.into_owned()),
            _ => {}
        }
    }
    let chat = ["system_instructions", "request", "response"];
    let expected: Vec<&str> = chat
        .iter()
        .chain(&["args", "result"])
        .chain(&chat)
        .copied()
        .collect();
    assert_eq!(roles, expected);
    Ok(())
}

#[test]
fn capture_payloads_false_max_payload_bytes_and_redaction_apply_to_content_attributes() -> Result<()>
{
    let bodies = |builder: tracing_rollout::RolloutLayerBuilder| -> Result<Vec<Value>> {
        let bundle = record_with(builder, || agent(ToolBody::Code))?;
        let mut out = Vec::new();
        for line in trace_lines(&bundle.path)? {
            let mut record: Value = serde_json::from_str(&line)?;
            if record["type"] == "payload" && record["role"] == "args" {
                for key in ["seq", "t", "ns", "span"] {
                    record.as_object_mut().map(|o| o.remove(key));
                }
                out.push(record);
            }
        }
        Ok(out)
    };
    let args = r#"{"city":"Paris","api_key":"sk-secret"}"#;
    let omitted = bodies(RolloutLayer::builder().capture_payloads(false))?;
    assert_eq!(
        omitted,
        vec![
            json!({"type": "payload", "role": "args", "bytes": args.len(), "omitted": true, "body": null})
        ]
    );
    let cut = bodies(RolloutLayer::builder().max_payload_bytes(8))?;
    let cut_bytes = args.len() - 8;
    assert_eq!(
        cut,
        vec![
            json!({"type": "payload", "role": "args", "bytes": args.len(), "truncated": true,
                    "cut_bytes": cut_bytes, "body": format!("{{\"city\":…[truncated {cut_bytes} bytes]")})
        ]
    );
    let redacted = bodies(RolloutLayer::builder().redact(Redact::keys(["api_key"])))?;
    assert_eq!(
        redacted[0]["body"],
        json!({"city": "Paris", "api_key": "[REDACTED]"})
    );
    Ok(())
}

#[test]
fn an_agent_invoked_inside_a_tool_call_is_a_sub_agent_spawned_by_that_tool() -> Result<()> {
    let state = reduce(|| agent(ToolBody::Agent))?;
    no_warnings(&state)?;
    assert_eq!(state.threads.len(), 2);
    let parent = state.root_thread_id.clone().context("no root thread")?;
    let child = state
        .threads
        .values()
        .find(|t| t.nickname.as_deref() == Some("forecaster"))
        .context("no sub-agent thread")?;
    assert_eq!(child.parent_thread_id.as_deref(), Some(parent.as_str()));
    assert_eq!(child.turns.len(), 1);
    let tool = state.tool_calls.values().next().context("no tool")?;
    assert_eq!(tool.spawned_threads, vec![child.thread_id.clone()]);
    let spawns = edges_of(&state, EdgeKind::Spawn);
    assert_eq!(spawns.len(), 1);
    assert_eq!(spawns[0].from, Anchor::ToolCall(tool.tool_call_id.clone()));
    // Delivered: the spawn lands in the sub-agent's first input.
    let Anchor::ConversationItem(item) = &spawns[0].to else {
        anyhow::bail!("spawn edge not delivered: {:?}", spawns[0]);
    };
    assert_eq!(state.conversation_items[item].thread_id, child.thread_id);
    assert_eq!(state.conversation_items[item].role.as_deref(), Some("user"));
    Ok(())
}

#[test]
fn model_calls_inside_a_tool_call_are_a_sub_agent_of_that_tool_not_the_callers_conversation(
) -> Result<()> {
    let state = reduce(|| agent(ToolBody::ModelCalls))?;
    no_warnings(&state)?;
    assert_eq!(state.threads.len(), 2);
    let parent = &state.threads[state.root_thread_id.as_deref().context("no root")?];
    let child = other_thread(&state, parent)?;
    assert_eq!(
        child.parent_thread_id.as_deref(),
        Some(parent.thread_id.as_str())
    );
    let tool = state.tool_calls.values().next().context("no tool")?;
    assert_eq!(tool.spawned_threads, vec![child.thread_id.clone()]);
    // Each thread has its own turn and its own calls.
    let calls = |thread| -> Result<usize> { Ok(only_turn(&state, thread)?.inference_calls.len()) };
    assert_eq!((calls(parent)?, calls(child)?), (2, 2));
    // One spawn edge, and no other: the model calls inside the tool link nothing else.
    let kinds: Vec<_> = state.edges.values().map(|e| e.kind).collect();
    assert_eq!(kinds, vec![EdgeKind::Spawn]);
    assert!(
        !texts(&state, parent).contains(&"Forecast for Paris?".to_owned()),
        "{:?}",
        texts(&state, parent)
    );
    let expected = [
        "Be brief.",
        "Forecast for Paris?",
        "Rainy, 14°C.",
        "And tomorrow?",
        "Sunny.",
    ];
    assert_eq!(texts(&state, child), expected);
    Ok(())
}

#[test]
fn a_tool_span_before_the_response_that_asked_for_it_still_links_to_it() -> Result<()> {
    let state = reduce(|| {
        let _agent = info_span!("invoke_agent", gen_ai.operation.name = "invoke_agent").entered();
        let first = info_span!(
            "chat",
            gen_ai.operation.name = "chat",
            gen_ai.input.messages = Empty,
            gen_ai.output.messages = Empty
        );
        first.record("gen_ai.input.messages", user_asks().to_string());
        // The tool runs (a sibling, streamed call) before the response is recorded.
        drop(info_span!(
            "execute_tool",
            gen_ai.operation.name = "execute_tool",
            gen_ai.tool.call.id = CALL_ID
        ));
        first.record("gen_ai.output.messages", model_calls_the_tool().to_string());
        drop(first);
        chat(&second_request(), &model_answers(), (1, 1));
    })?;
    no_warnings(&state)?;
    let tool = state.tool_calls.values().next().context("no tool")?;
    let first = state
        .inference_calls
        .values()
        .find(|c| c.tool_calls.contains(&tool.tool_call_id))
        .context("no inference lists the tool")?;
    assert_eq!(tool.requester, model_of(first));
    assert_eq!((tool.call_items.len(), tool.output_items.len()), (1, 1));
    Ok(())
}

#[test]
fn our_names_win_other_operations_are_not_recorded_and_a_late_operation_name_records_nothing(
) -> Result<()> {
    let bundle = record(|| {
        let _thread = info_span!("rollout.thread", thread_id = "main").entered();
        // Ours wins over the operation it also names.
        drop(info_span!(
            "rollout.tool",
            gen_ai.operation.name = "chat",
            call_id = "c1"
        ));
        // Not part of the rollout graph: not recorded, but what is below it still is.
        let embeddings = info_span!("embeddings", gen_ai.operation.name = "embeddings").entered();
        drop(info_span!(
            "execute_tool",
            gen_ai.operation.name = "execute_tool"
        ));
        drop(embeddings);
        // The kind is decided at creation: an operation name recorded later is too late.
        let late = info_span!("llm", gen_ai.operation.name = Empty);
        late.record("gen_ai.operation.name", "chat");
        drop(late);
    })?;
    let mut started = Vec::new();
    for line in trace_lines(&bundle.path)? {
        if let RecordBody::SpanStarted { kind, name, .. } = Record::parse(&line)?.body {
            started.push((kind.as_str(), name.into_owned()));
        }
    }
    assert_eq!(
        started,
        vec![
            ("thread", "rollout.thread".to_owned()),
            ("tool", "rollout.tool".to_owned()),
            ("tool", "execute_tool".to_owned()),
        ]
    );
    Ok(())
}

#[test]
fn genai_thread_identity_comes_from_the_conversation_id_then_the_agent_id() -> Result<()> {
    let state = reduce(|| {
        let _outer = info_span!("rollout", rollout_id = "ids").entered();
        drop(info_span!(
            "invoke_agent",
            gen_ai.operation.name = "invoke_agent",
            gen_ai.conversation.id = "conv-1",
            gen_ai.agent.id = "asst-1",
        ));
        drop(info_span!(
            "create_agent",
            gen_ai.operation.name = "create_agent",
            gen_ai.agent.id = "asst-2"
        ));
    })?;
    let ids: Vec<_> = state.threads.keys().cloned().collect();
    assert_eq!(ids, vec!["asst-2".to_owned(), "conv-1".to_owned()]);
    // `create_agent` makes a thread, not a turn.
    assert_eq!(
        (
            state.threads["conv-1"].turns.len(),
            state.threads["asst-2"].turns.len()
        ),
        (1, 0)
    );
    Ok(())
}

#[test]
fn error_type_fails_the_span_it_is_recorded_on() -> Result<()> {
    let state = reduce(|| {
        let _agent = info_span!("invoke_agent", gen_ai.operation.name = "invoke_agent").entered();
        for (name, error) in [
            ("a", "error.type"),
            ("b", "gen_ai.tool.error.type"),
            ("c", ""),
        ] {
            let tool = info_span!(
                "execute_tool",
                gen_ai.operation.name = "execute_tool",
                gen_ai.tool.name = name,
                error.type = Empty,
                gen_ai.tool.error.type = Empty,
            );
            if !error.is_empty() {
                tool.record(error, "timeout");
            }
        }
    })?;
    let mut statuses: Vec<_> = state
        .tool_calls
        .values()
        .map(|t| {
            (
                t.tool.clone().unwrap_or_default(),
                t.execution.status.as_str(),
            )
        })
        .collect();
    statuses.sort();
    let expected = [("a", "failed"), ("b", "failed"), ("c", "completed")];
    let expected: Vec<_> = expected
        .iter()
        .map(|(n, s)| ((*n).to_owned(), *s))
        .collect();
    assert_eq!(statuses, expected);
    Ok(())
}
