//! rig streamed, and rig without an agent: the weather agent run with `prompt(..).stream()`
//! against the mock's Server-Sent Events (rig names its chat span `chat` with
//! `gen_ai.request.stream = true` and records usage twice on it, as the provider and as the
//! agent) must reduce to the graph the blocking run reduces to; and a bare model call, blocking
//! (`Model::call`) or streamed (`Model::stream`), made outside any span, is a rollout of its own
//! with one thread, one turn and one inference call.

#[path = "../../support/graph.rs"]
mod graph;

use anyhow::{ensure, Context as _, Result};
use futures::StreamExt;
use graph::{conversation, model_of, only_turn, turn_calls};
use rig_agent::prelude::*;
use rig_core::completion::CompletionRequest;
use rig_core::providers::openai::OpenAIConfig;
use rig_rollout_test::{
    record, structure, weather_agent, Recorded, ANSWER, BARE_RESPONSE_ID, CALL_ID, FIRST_USAGE,
    MODEL, SECOND_USAGE,
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

/// The graph as values that do not depend on span keys (which differ between runs): its
/// structure, and per thread its conversation and per inference call its response id, payload
/// format and the texts of its request and response.
fn shape(state: &RolloutState) -> Value {
    let text = |id: &str| state.conversation_items[id].text.clone();
    let threads: Vec<Value> = state
        .threads
        .values()
        .map(|thread| {
            let calls: Vec<Value> = thread
                .turns
                .iter()
                .flat_map(|turn| turn_calls(state, &state.turns[turn]))
                .map(|c| {
                    let request: Vec<_> = state.request_items(c).into_iter().map(text).collect();
                    let response: Vec<_> = c.response_items.iter().map(|i| text(i)).collect();
                    json!({"response_id": c.response_id, "format": c.payload_format,
                        "request": request, "response": response})
                })
                .collect();
            json!({"conversation": conversation(state, thread), "calls": calls})
        })
        .collect();
    json!({"structure": structure(state), "threads": threads})
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
    let (state, trace) = (streamed.only_graph()?, &streamed.traces[0]);
    ensure!(
        trace.contains(r#""gen_ai.request.stream":true"#),
        "rig's chat spans no longer say they stream: {trace}"
    );
    assert_eq!(shape(state), shape(blocking.only_graph()?));
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
        let state = recorded.only_graph()?;
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
    assert_eq!(shape(streamed.only_graph()?), shape(blocking.only_graph()?));
    Ok(())
}
