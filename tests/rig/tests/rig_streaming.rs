//! rig streamed, and rig without an agent: the weather agent run with `prompt(..).stream()`
//! against the mock's Server-Sent Events (rig names its chat span `chat` with
//! `gen_ai.request.stream = true` and records usage twice on it, as the provider and as the
//! agent) must reduce to the graph the blocking run reduces to; and a bare model call, blocking
//! (`Model::call`) or streamed (`Model::stream`), made outside any span, is a rollout of its own
//! with one thread, one turn and one inference call.

#[path = "../../support/graph.rs"]
mod graph;

use anyhow::{bail, ensure, Context as _, Result};
use futures::StreamExt;
use graph::{conversation, model_of, no_warnings, only_turn, turn_calls};
use rig_agent::prelude::*;
use rig_core::completion::CompletionRequest;
use rig_core::providers::openai::OpenAIConfig;
use rig_rollout_test::{
    record, weather_agent, Recorded, ANSWER, BARE_RESPONSE_ID, CALL_ID, FIRST_USAGE, MODEL,
    SECOND_USAGE,
};
use serde_json::{json, Value};
use tracing_rollout::reduce::{RolloutState, Status};

/// How the agent's run is consumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Blocking,
    Streamed,
}

/// Runs the weather agent once, recorded.
fn run_agent(mode: Mode) -> Result<Recorded> {
    record(|base_url| async move {
        let run = weather_agent(base_url)
            .prompt("What is the weather in Paris?")
            .max_turns(4);
        if mode == Mode::Blocking {
            return Ok(run.await?.output());
        }
        let mut stream = run.stream();
        let mut answer = None;
        while let Some(item) = stream.next().await {
            if let MultiTurnStreamItem::FinalResponse(response) = item? {
                answer = Some(response.output());
            }
        }
        answer.context("the stream ended without a final response")
    })
}

/// The graph as values that do not depend on span keys (which differ between runs): per
/// thread its name and conversation, per turn each inference call's model, provider, usage,
/// response id, status, request and response texts and the tools its response started, and
/// each tool call's name, call id, requester (by the call's position) and output.
fn shape(state: &RolloutState) -> Result<Value> {
    let mut threads = Vec::new();
    for thread in state.threads.values() {
        let turn = only_turn(state, thread)?;
        let calls = turn_calls(state, turn);
        let text = |id: &str| state.conversation_items[id].text.clone();
        let position = |id: &Option<String>| {
            calls
                .iter()
                .position(|c| Some(&c.inference_call_id) == id.as_ref())
        };
        let inferences: Vec<Value> = calls
            .iter()
            .map(|c| {
                let request: Vec<_> = state.request_items(c).into_iter().map(text).collect();
                let response: Vec<_> = c.response_items.iter().map(|i| text(i)).collect();
                let tools: Vec<_> = c
                    .tool_calls
                    .iter()
                    .map(|t| &state.tool_calls[t].call_id)
                    .collect();
                json!({
                    "model": c.model, "provider": c.provider, "response_id": c.response_id,
                    "usage": c.usage.map(|u| (u.input_tokens, u.output_tokens)),
                    "status": c.execution.status.as_str(), "format": c.payload_format,
                    "request": request, "response": response, "tools": tools,
                })
            })
            .collect();
        let tools: Vec<Value> = turn
            .tool_calls
            .iter()
            .map(|t| {
                let t = &state.tool_calls[t];
                let asked_by = match &t.requester {
                    tracing_rollout::reduce::Requester::Model { inference_call_id } => {
                        position(inference_call_id)
                    }
                    _ => None,
                };
                let outputs: Vec<_> = t.output_items.iter().map(|i| text(i)).collect();
                json!({
                    "tool": t.tool, "call_id": t.call_id, "asked_by": asked_by,
                    "inferred": t.requester_inferred, "status": t.execution.status.as_str(),
                    "outputs": outputs,
                })
            })
            .collect();
        threads.push(json!({
            "nickname": thread.nickname, "status": thread.execution.status.as_str(),
            "conversation": conversation(state, thread),
            "inferences": inferences, "tools": tools,
        }));
    }
    Ok(json!({"status": state.status.as_str(), "threads": threads}))
}

/// The run's one bundle, after checking it has no diagnostic above info; on failure the
/// trace is printed so a changed rig release is diagnosable from the CI log.
fn only_graph(recorded: &Recorded) -> Result<&RolloutState> {
    ensure!(
        recorded.states.len() == 1,
        "bundles: {}",
        recorded.states.len()
    );
    let state = &recorded.states[0];
    if let Err(e) = no_warnings(state) {
        bail!("{e:#}\n--- trace.jsonl ---\n{}", recorded.traces[0]);
    }
    Ok(state)
}

#[test]
fn a_streamed_rig_agent_with_a_tool_reduces_to_the_graph_of_the_blocking_one() -> Result<()> {
    let blocking = run_agent(Mode::Blocking)?;
    let streamed = run_agent(Mode::Streamed)?;
    assert_eq!(
        (blocking.answer.as_str(), streamed.answer.as_str()),
        (ANSWER, ANSWER)
    );
    // The mock saw the same conversation, asked to stream the second time.
    let streams: Vec<_> = streamed.seen.iter().map(|r| r["stream"].clone()).collect();
    assert_eq!(streams, vec![json!(true); 2]);
    let (state, trace) = (only_graph(&streamed)?, &streamed.traces[0]);
    ensure!(
        trace.contains(r#""gen_ai.request.stream":true"#),
        "rig's chat spans no longer say they stream: {trace}"
    );
    assert_eq!(shape(state)?, shape(only_graph(&blocking)?)?);
    // And that graph is the one the blocking test checks in detail.
    let thread = state.threads.values().next().context("no thread")?;
    let turn = only_turn(state, thread)?;
    let calls = turn_calls(state, turn);
    let usage: Vec<_> = calls
        .iter()
        .map(|c| c.usage.map(|u| (u.input_tokens, u.output_tokens)))
        .collect();
    assert_eq!(usage, vec![Some(FIRST_USAGE), Some(SECOND_USAGE)]);
    let total = state.total_usage();
    let expected = FIRST_USAGE.0 + SECOND_USAGE.0;
    assert_eq!(total.input_tokens, expected, "usage counted once");
    let tool = state.tool_calls.values().next().context("no tool call")?;
    assert_eq!(tool.call_id.as_deref(), Some(CALL_ID));
    assert_eq!(tool.requester, model_of(calls[0]));
    assert!(!tool.requester_inferred, "linked by its call id");
    let output = tool.output_items.first().context("no output item")?;
    ensure!(
        state.request_items(calls[1]).contains(&output.as_str()),
        "the second request does not carry the tool's output"
    );
    Ok(())
}

/// Calls the model directly, blocking or streamed, outside any span.
fn bare_call(mode: Mode) -> Result<Recorded> {
    record(|base_url| async move {
        let client = OpenAIConfig::new("sk-test")
            .with_base_url(base_url)
            .client();
        let model = client.responses(MODEL);
        let request = CompletionRequest::new("What is the weather in Paris?");
        let response = match mode {
            Mode::Blocking => model.call(request).await?,
            Mode::Streamed => {
                let mut stream = model.stream(request)?;
                let mut items = 0;
                while let Some(item) = stream.next().await {
                    item?;
                    items += 1;
                }
                ensure!(items > 1, "the reply came in {items} items");
                stream.finish().await?
            }
        };
        Ok(response.text().to_owned())
    })
}

#[test]
fn a_bare_rig_model_call_blocking_or_streamed_is_a_rollout_of_its_own() -> Result<()> {
    let blocking = bare_call(Mode::Blocking)?;
    let streamed = bare_call(Mode::Streamed)?;
    for recorded in [&blocking, &streamed] {
        assert_eq!(recorded.answer, ANSWER);
        let state = only_graph(recorded)?;
        assert!(state.complete);
        assert_eq!(state.status, Status::Completed);
        let thread = &state.threads[state.root_thread_id.as_deref().context("no root")?];
        let calls = turn_calls(state, only_turn(state, thread)?);
        ensure!(calls.len() == 1, "inference calls: {}", calls.len());
        let call = calls[0];
        assert_eq!(call.model.as_deref(), Some(MODEL));
        assert_eq!(call.provider.as_deref(), Some("openai"));
        assert_eq!(call.response_id.as_deref(), Some(BARE_RESPONSE_ID));
        let usage = call.usage.map(|u| (u.input_tokens, u.output_tokens));
        assert_eq!(usage, Some(FIRST_USAGE));
        // rig records no content on a bare call: the call returned, so it completed.
        assert_eq!(call.execution.status, Status::Completed);
    }
    assert_eq!(
        shape(only_graph(&streamed)?)?,
        shape(only_graph(&blocking)?)?
    );
    Ok(())
}
