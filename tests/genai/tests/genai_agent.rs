//! A genai agent (genai 0.7 with its `otel` feature) with content capture on
//! (`OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true`, set before genai reads it), against
//! a mock of `/v1/chat/completions` on 127.0.0.1, recorded by `RolloutLayer` with no change to
//! the agent: invoke_agent → chat → execute_tool → chat reduces to one thread and turn, two
//! inference calls with model, provider, usage with cache reads, the provider's finish reasons
//! and (streamed) time to first chunk, the tool call linked by its call id to the first
//! inference and to the tool output item of the second request, no diagnostic above info; the
//! streamed run reduces to the blocking graph; a 500 is a failed inference with its error.
//! Content capture off is `genai_capture_off.rs`: genai reads the variable once per process.

#[path = "../../support/graph.rs"]
mod graph;

use std::sync::Once;

use anyhow::{ensure, Context as _, Result};
use genai_rollout_test::{
    answered_graph, expected_structure, failed_structure, record, structure, weather_agent, Mode,
    Recorded, ANSWER, CALL_ID, FAILING_PROMPT, PREAMBLE, PREFACE, PROMPT, TOOL_RESULT,
};
use graph::{conversation, only_turn, turn_calls};
use serde_json::json;
use tracing_rollout::reduce::RolloutState;
use tracing_rollout::vocab::role;

/// Turns content capture on before genai first reads it (every test calls this first).
fn capture_on() -> Result<()> {
    static ON: Once = Once::new();
    ON.call_once(|| std::env::set_var(genai::otel::CAPTURE_CONTENT_ENV, "true"));
    ensure!(
        genai::otel::capture_content(),
        "genai does not capture content"
    );
    Ok(())
}

fn run(mode: Mode) -> Result<Recorded> {
    capture_on()?;
    record(|target| weather_agent(target, PROMPT, mode))
}

/// Everything the blocking and the streamed run must both show.
fn check(recorded: &Recorded, mode: Mode) -> Result<()> {
    let state = answered_graph(recorded)?;
    assert!(state.complete);
    assert_eq!(structure(state), expected_structure(mode, true));
    let thread = state.threads.values().next().context("no thread")?;
    let calls = turn_calls(state, only_turn(state, thread)?);
    for call in &calls {
        assert_eq!(call.payload_format.as_deref(), Some("otel_genai"));
        let definitions = call
            .tool_definitions_payload
            .context("no tool definitions")?;
        assert_eq!(state.payloads[&definitions].role, role::TOOL_DEFINITIONS);
    }
    let tool = state.tool_calls.values().next().context("no tool call")?;
    assert_eq!(calls[0].tool_calls, vec![tool.tool_call_id.clone()]);
    assert!(tool.args_payload.is_some() && tool.result_payload.is_some());
    let output = tool.output_items.first().context("no tool output item")?;
    ensure!(
        state.request_items(calls[1]).contains(&output.as_str()),
        "the second request does not carry the tool's output"
    );
    let call = Some(CALL_ID.to_owned());
    let said = |role: &str, call: &Option<String>, text: &str| {
        (role.to_owned(), call.clone(), text.to_owned())
    };
    assert_eq!(
        conversation(state, thread),
        vec![
            said("system", &None, PREAMBLE),
            said("user", &None, PROMPT),
            said("assistant", &None, PREFACE),
            said("assistant", &call, r#"{"city":"Paris"}"#),
            said("tool", &call, TOOL_RESULT),
            said("assistant", &None, ANSWER),
        ]
    );
    // The mock was asked twice, the second time with the tool's output.
    ensure!(
        recorded.seen.len() == 2,
        "the mock saw {} requests",
        recorded.seen.len()
    );
    let streams: Vec<_> = recorded.seen.iter().map(|r| r["stream"].clone()).collect();
    let expected = match mode {
        Mode::Blocking => vec![json!(false); 2],
        Mode::Streamed => vec![json!(true); 2],
    };
    assert_eq!(streams, expected);
    Ok(())
}

#[test]
fn a_blocking_genai_agent_reduces_to_one_thread_one_turn_two_inferences_and_a_linked_tool(
) -> Result<()> {
    check(&run(Mode::Blocking)?, Mode::Blocking)
}

#[test]
fn a_streamed_genai_agent_reduces_to_the_graph_of_the_blocking_one() -> Result<()> {
    let streamed = run(Mode::Streamed)?;
    check(&streamed, Mode::Streamed)?;
    let blocking = run(Mode::Blocking)?;
    let (streamed, blocking) = (streamed.only_graph()?, blocking.only_graph()?);
    let conversations = |state: &RolloutState| -> Vec<_> {
        state
            .threads
            .values()
            .map(|t| conversation(state, t))
            .collect()
    };
    assert_eq!(conversations(streamed), conversations(blocking));
    // All but what only a stream has: its time to first chunk.
    let mut shape = structure(streamed);
    for call in shape["threads"][0]["turns"][0]["inferences"]
        .as_array_mut()
        .context("no inferences")?
    {
        call["first_chunk"] = json!(false);
    }
    assert_eq!(shape, structure(blocking));
    Ok(())
}

#[test]
fn a_500_from_the_model_is_a_failed_inference_with_its_error() -> Result<()> {
    capture_on()?;
    let recorded = record(|target| weather_agent(target, FAILING_PROMPT, Mode::Blocking))?;
    ensure!(
        recorded.answer.is_err(),
        "the run did not fail: {:?}",
        recorded.answer
    );
    let state = recorded.only_graph()?;
    assert_eq!(structure(state), failed_structure(Mode::Blocking));
    // The request was captured; the failure, not a missing response, decides its status.
    let call = state.inference_calls.values().next().context("no call")?;
    assert!(call.request_payload.is_some() && call.response_payload.is_none());
    Ok(())
}
