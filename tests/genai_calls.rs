//! What GenAI producers beyond an agent framework's blocking loop set, recorded through the
//! real layer: model and tool calls made outside any agent (each a rollout of its own, with an
//! implicit thread and turn), every word the conventions and their producers use for a model
//! call, an operation name or usage recorded twice, statuses with and without captured
//! content (`otel.status_code`, `error.type`), tool calls attributed by order when no content
//! names them, the provider's finish reasons, time to first chunk, cache writes and tool
//! definitions in the graph, and GenAI events as payload evidence of their span.

mod support;

use anyhow::{Context as _, Result};
use pretty_assertions::assert_eq;
use serde_json::{json, Value};
use support::graph::{model_of, no_warnings, only_turn, turn_calls};
use support::layer::{record, record_into, reduce, trace_lines};
use tracing::field::Empty;
use tracing::{info, info_span};
use tracing_rollout::format::{Record, RecordBody};
use tracing_rollout::reduce::{reduce_bundle, InferenceCall, RolloutState, Status};
use tracing_rollout::{vocab, RolloutLayer};

const CALL_ID: &str = "call_weather_1";

/// A chat span as genai 0.7 writes it (`genai.chat`, every attribute declared at creation,
/// the answer recorded late); `content` records the opt-in content attributes.
fn genai_chat(content: bool, answer: &str, call: bool) -> tracing::Span {
    let span = info_span!(
        "genai.chat",
        otel.name = "chat gpt-mock",
        otel.kind = "client",
        otel.status_code = Empty,
        error.type = Empty,
        gen_ai.operation.name = "chat",
        gen_ai.provider.name = "openai",
        gen_ai.request.model = "gpt-mock",
        gen_ai.request.stream = false,
        gen_ai.response.id = Empty,
        gen_ai.response.finish_reasons = Empty,
        gen_ai.usage.input_tokens = Empty,
        gen_ai.usage.output_tokens = Empty,
        gen_ai.usage.cache_read.input_tokens = Empty,
        gen_ai.usage.cache_creation.input_tokens = Empty,
        gen_ai.response.time_to_first_chunk = Empty,
        gen_ai.input.messages = Empty,
        gen_ai.output.messages = Empty,
        gen_ai.tool.definitions = Empty,
    );
    if content {
        let ask =
            json!([{"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]}]);
        span.record("gen_ai.input.messages", ask.to_string());
        let tools = json!([{"type": "function", "name": "get_weather"}]);
        span.record("gen_ai.tool.definitions", tools.to_string());
    }
    let _entered = span.enter();
    span.record("gen_ai.response.time_to_first_chunk", 0.25);
    span.record(
        "gen_ai.response.finish_reasons",
        if call {
            r#"["tool_calls"]"#
        } else {
            r#"["stop"]"#
        },
    );
    span.record("gen_ai.usage.input_tokens", 31_i64);
    span.record("gen_ai.usage.output_tokens", 7_i64);
    span.record("gen_ai.usage.cache_read.input_tokens", 4_i64);
    span.record("gen_ai.usage.cache_creation.input_tokens", 3_i64);
    if content {
        let part = if call {
            json!({"type": "tool_call", "id": CALL_ID, "name": "get_weather", "arguments": {"city": "Paris"}})
        } else {
            json!({"type": "text", "content": answer})
        };
        let output = json!([{"role": "assistant", "parts": [part], "finish_reason": "stop"}]);
        span.record("gen_ai.output.messages", output.to_string());
    }
    drop(_entered);
    span
}

/// A tool span as genai's `execute_tool_span` writes it: the call id is not content.
fn genai_tool(content: bool) {
    let tool = info_span!(
        "genai.execute_tool",
        otel.status_code = Empty,
        error.type = Empty,
        gen_ai.operation.name = "execute_tool",
        gen_ai.tool.name = "get_weather",
        gen_ai.tool.call.id = Empty,
        gen_ai.tool.call.arguments = Empty,
        gen_ai.tool.call.result = Empty,
    );
    tool.record("gen_ai.tool.call.id", CALL_ID);
    if content {
        tool.record("gen_ai.tool.call.arguments", r#"{"city":"Paris"}"#);
        tool.record("gen_ai.tool.call.result", "rainy");
    }
}

/// An agent loop as a genai user writes it: invoke_agent → chat → execute_tool → chat.
fn genai_agent(content: bool) {
    let agent = info_span!(
        "genai.agent",
        gen_ai.operation.name = "invoke_agent",
        gen_ai.agent.name = Empty,
    );
    let _entered = agent.enter();
    agent.record("gen_ai.agent.name", "weather-bot");
    drop(genai_chat(content, "", true));
    genai_tool(content);
    drop(genai_chat(content, "Rainy.", false));
}

/// Every bundle written under a temporary root by `f`, reduced, in the order they ended.
fn rollouts(f: impl FnOnce()) -> Result<Vec<RolloutState>> {
    let root = tempfile::tempdir()?;
    let stats = record_into(root.path(), RolloutLayer::builder(), f)?;
    stats
        .bundles
        .iter()
        .map(|bundle| Ok(reduce_bundle(bundle)?))
        .collect()
}

/// The graph's one thread, its one turn and the turn's calls.
fn the_calls(state: &RolloutState) -> Result<Vec<&InferenceCall>> {
    let thread = state.threads.values().next().context("no thread")?;
    anyhow::ensure!(state.threads.len() == 1, "threads: {:?}", state.threads);
    Ok(turn_calls(state, only_turn(state, thread)?))
}

#[test]
fn a_model_or_tool_call_outside_any_agent_is_a_rollout_with_an_implicit_thread_and_turn(
) -> Result<()> {
    let states = rollouts(|| {
        // A hand-written root chat span, ours, and a tool called outside any agent.
        drop(genai_chat(false, "", false));
        let ours = info_span!("rollout.inference", model = "m", input_tokens = 5_u64);
        drop(ours);
        drop(info_span!(
            "execute_tool",
            gen_ai.operation.name = "execute_tool",
            gen_ai.tool.name = "ls"
        ));
        // A failed call fails its turn and its rollout.
        let failed = info_span!("chat", gen_ai.operation.name = "chat", error.type = Empty);
        failed.record("error.type", "timeout");
    })?;
    assert_eq!(states.len(), 4);
    for state in &states {
        no_warnings(state)?;
        assert!(state.complete);
        let thread = &state.threads[state.root_thread_id.as_deref().context("no root")?];
        let turn = only_turn(state, thread)?;
        let entities = turn.inference_calls.len() + turn.tool_calls.len();
        assert_eq!(entities, 1, "{turn:?}");
    }
    let statuses: Vec<_> = states
        .iter()
        .map(|s| {
            let turn = s.turns.values().next().map(|t| t.execution.status);
            (s.status, turn)
        })
        .collect();
    let done = (Status::Completed, Some(Status::Completed));
    let failed = (Status::Failed, Some(Status::Failed));
    assert_eq!(statuses, vec![done, done, done, failed]);
    assert_eq!(states[0].inference_calls.len(), 1);
    assert_eq!(states[2].tool_calls.len(), 1);
    Ok(())
}

#[test]
fn every_word_for_a_model_call_is_an_inference_and_a_late_operation_name_changes_nothing(
) -> Result<()> {
    let state = reduce(|| {
        let _agent = info_span!("invoke_agent", gen_ai.operation.name = "invoke_agent").entered();
        for operation in vocab::genai::INFERENCE_OPERATIONS {
            let span = info_span!("model", gen_ai.operation.name = operation);
            // rig adopts a span by recording the operation again; another word is ignored.
            span.record("gen_ai.operation.name", "chat");
            span.record("gen_ai.operation.name", "execute_tool");
        }
        let tool = info_span!("tool", gen_ai.operation.name = "execute_tool");
        tool.record("gen_ai.operation.name", "chat");
    })?;
    no_warnings(&state)?;
    let calls = the_calls(&state)?;
    assert_eq!(calls.len(), vocab::genai::INFERENCE_OPERATIONS.len());
    assert_eq!(state.tool_calls.len(), 1);
    Ok(())
}

#[test]
fn usage_recorded_twice_on_one_span_counts_once() -> Result<()> {
    let state = reduce(|| {
        let agent = info_span!(
            "invoke_agent",
            gen_ai.operation.name = "invoke_agent",
            gen_ai.usage.input_tokens = Empty,
        );
        let _entered = agent.enter();
        let chat = info_span!(
            "chat",
            gen_ai.operation.name = "chat",
            gen_ai.request.stream = true,
            gen_ai.usage.input_tokens = Empty,
            gen_ai.usage.output_tokens = Empty,
        );
        // The provider records the reply's usage, then the agent records it again.
        for _ in 0..2 {
            chat.record("gen_ai.usage.input_tokens", 31_u64);
            chat.record("gen_ai.usage.output_tokens", 7_u64);
        }
        drop(chat);
        // The agent's own total is not an inference's usage.
        agent.record("gen_ai.usage.input_tokens", 31_u64);
    })?;
    let usage = state.total_usage();
    assert_eq!((usage.input_tokens, usage.output_tokens), (31, 7));
    Ok(())
}

#[test]
fn a_closed_span_is_completed_without_content_and_an_error_status_fails_it_with_its_error(
) -> Result<()> {
    let state = reduce(|| {
        let _agent = info_span!("invoke_agent", gen_ai.operation.name = "invoke_agent").entered();
        // No content, no answer fields: a call that returned all the same.
        drop(info_span!("chat", gen_ai.operation.name = "chat"));
        // genai's failed call: `otel.status_code` and `error.type`.
        let failed = genai_chat(false, "", false);
        failed.record("otel.status_code", "error");
        failed.record("error.type", "500");
        drop(failed);
        // Only the bridge's status, with its description.
        let bridge = info_span!(
            "chat",
            gen_ai.operation.name = "chat",
            otel.status_code = Empty,
            otel.status_description = Empty
        );
        bridge.record("otel.status_code", "ERROR");
        bridge.record("otel.status_description", "rate limited");
        drop(bridge);
        // `ok` is evidence too.
        let ok = info_span!(
            "chat",
            gen_ai.operation.name = "chat",
            otel.status_code = "ok"
        );
        drop(ok);
    })?;
    no_warnings(&state)?;
    let ends: Vec<_> = the_calls(&state)?
        .iter()
        .map(|c| (c.execution.status, c.execution.error.clone()))
        .collect();
    assert_eq!(
        ends,
        vec![
            (Status::Completed, None),
            (Status::Failed, Some("500".to_owned())),
            (Status::Failed, Some("rate limited".to_owned())),
            (Status::Completed, None),
        ]
    );
    Ok(())
}

#[test]
fn without_content_a_tool_call_is_attributed_to_the_inference_before_it_and_marked_inferred(
) -> Result<()> {
    for content in [true, false] {
        let state = reduce(|| genai_agent(content))?;
        no_warnings(&state)?;
        let calls = the_calls(&state)?;
        assert_eq!(calls.len(), 2);
        let tool = state.tool_calls.values().next().context("no tool call")?;
        assert_eq!(tool.requester, model_of(calls[0]), "content: {content}");
        assert_eq!(tool.requester_inferred, !content);
        assert_eq!(calls[0].tool_calls, vec![tool.tool_call_id.clone()]);
        assert!(calls[1].tool_calls.is_empty());
        let statuses: Vec<_> = calls.iter().map(|c| c.execution.status).collect();
        assert_eq!(statuses, vec![Status::Completed; 2]);
        assert_eq!(state.payloads.is_empty(), !content);
    }
    Ok(())
}

#[test]
fn finish_reasons_first_chunk_cache_writes_and_tool_definitions_are_in_the_graph() -> Result<()> {
    let bundle = record(|| genai_agent(true))?;
    let state = bundle.reduce()?;
    no_warnings(&state)?;
    let calls = the_calls(&state)?;
    let facts: Vec<_> = calls
        .iter()
        .map(|c| {
            let usage = c.usage.map(|u| {
                (
                    u.input_tokens,
                    u.cached_input_tokens,
                    u.cache_write_input_tokens,
                )
            });
            (c.finish_reasons.clone(), c.time_to_first_chunk_ns, usage)
        })
        .collect();
    let ttfc = Some(250_000_000);
    assert_eq!(
        facts,
        vec![
            (vec!["tool_calls".to_owned()], ttfc, Some((31, 4, 3))),
            (vec!["stop".to_owned()], ttfc, Some((31, 4, 3))),
        ]
    );
    for call in &calls {
        let seq = call
            .tool_definitions_payload
            .context("no tool definitions")?;
        assert_eq!(state.payloads[&seq].role, vocab::role::TOOL_DEFINITIONS);
    }
    #[cfg(feature = "otlp")]
    {
        use tracing_rollout::export::otlp::{export_otlp, to_otlp_json, OtlpOptions};
        let request = export_otlp(&bundle.path, &OtlpOptions::new())?;
        let json: Value = serde_json::from_str(&to_otlp_json(&request)?)?;
        let mut reasons = Vec::new();
        for span in json["resourceSpans"][0]["scopeSpans"][0]["spans"]
            .as_array()
            .context("no spans")?
        {
            for kv in span["attributes"].as_array().into_iter().flatten() {
                if kv["key"] == "gen_ai.response.finish_reasons" {
                    reasons.push(kv["value"]["arrayValue"]["values"][0]["stringValue"].clone());
                }
            }
        }
        assert_eq!(reasons, vec![json!("tool_calls"), json!("stop")]);
    }
    Ok(())
}

#[test]
fn genai_events_are_payload_evidence_of_the_span_they_are_in() -> Result<()> {
    let bundle = record(|| {
        let _agent = info_span!("invoke_agent", gen_ai.operation.name = "invoke_agent").entered();
        let chat = info_span!("chat", gen_ai.operation.name = "chat").entered();
        let ask = json!([{"role": "user", "parts": [{"type": "text", "content": "Hi?"}]}]);
        let answer = json!([{"role": "assistant", "parts": [{"type": "text", "content": "Hello."}], "finish_reason": "stop"}]);
        tracing::event!(
            name: "gen_ai.client.inference.operation.details",
            tracing::Level::INFO,
            gen_ai.operation.name = "chat",
            gen_ai.input.messages = ask.to_string(),
            gen_ai.output.messages = answer.to_string(),
        );
        // An older instrumentation's per-message events, kept whole.
        tracing::event!(
            name: "gen_ai.user.message",
            tracing::Level::INFO,
            gen_ai.system = "openai",
            content = "Hi?"
        );
        info!(name: "gen_ai.choice", index = 0_u64, finish_reason = "stop");
        // Any other event is not recorded.
        info!(name: "gen_ai.unknown", content = "x");
        drop(chat);
    })?;
    let state = bundle.reduce()?;
    no_warnings(&state)?;
    let call = state.inference_calls.values().next().context("no call")?;
    let texts: Vec<_> = state
        .request_items(call)
        .iter()
        .chain(
            call.response_items
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .iter(),
        )
        .map(|id| state.conversation_items[*id].text.clone())
        .collect();
    assert_eq!(texts, ["Hi?", "Hello."]);
    let mut payloads = Vec::new();
    for line in trace_lines(&bundle.path)? {
        if let RecordBody::Payload { head, body } = Record::parse(&line)?.body {
            let body: Value = serde_json::from_str(body.get())?;
            payloads.push((head.role.into_owned(), body));
        }
    }
    let roles: Vec<_> = payloads.iter().map(|(role, _)| role.as_str()).collect();
    assert_eq!(roles, ["request", "response", "prompt", "completion"]);
    assert_eq!(
        payloads[2].1,
        json!({"provider": "openai", "content": "Hi?"})
    );
    assert_eq!(payloads[3].1, json!({"index": 0, "finish_reason": "stop"}));
    Ok(())
}
