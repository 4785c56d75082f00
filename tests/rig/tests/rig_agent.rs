//! A real rig agent (rig-agent 0.44 over rig-core's OpenAI Responses wire) with one tool,
//! against a mock of the OpenAI Responses API on 127.0.0.1, content telemetry on, recorded
//! by `RolloutLayer` with no change to the agent: the bundle must reduce to one thread and
//! turn, two inference calls with model, provider and the mock's usage, one tool call linked
//! by the mock's call id to the first inference and to the second request's output item,
//! the conversation in order, and no diagnostics above info.

// The graph readers the library's own GenAI tests use (tests/genai_dialect.rs).
#[path = "../../support/graph.rs"]
mod graph;

use anyhow::{bail, ensure, Context as _, Result};
use graph::{conversation, model_of, no_warnings, only_turn, other_thread, texts, turn_calls};
use rig_agent::prelude::*;
use rig_core::providers::openai::OpenAIConfig;
use rig_rollout_test::{
    record, weather_agent, Weather, ANSWER, CALL_ID, FIRST_USAGE, LEAD_ANSWER, LEAD_CALL_ID,
    LEAD_TOOL, MODEL, SECOND_USAGE, TOOL_RESULT,
};
use serde_json::{json, Value};
use tracing::Instrument;
use tracing_rollout::reduce::{Anchor, EdgeKind, InferenceCall, RolloutState, Turn};

/// How the agent is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Around {
    /// Outside any span: rig opens its own `invoke_agent` span.
    Nothing,
    /// Inside a `rollout.thread` and `rollout.turn` of the program's: rig adopts the turn.
    OurThreadAndTurn,
    /// As the tool of a lead agent (`Agent::into_tool`): rig runs it inside the lead's
    /// `execute_tool` span, with no `invoke_agent` of its own.
    ToolOfALead,
}

/// Runs the agent once, recorded; returns the bundle's graph, its trace and what the mock saw.
fn record_agent(around: Around) -> Result<(RolloutState, String, Vec<Value>)> {
    let mut recorded = record(|base_url| async move {
        let agent = weather_agent(base_url.clone());
        let run = agent
            .clone()
            .prompt("What is the weather in Paris?")
            .max_turns(4);
        let response = match around {
            Around::Nothing => run.await?,
            Around::ToolOfALead => {
                drop(run);
                let client = OpenAIConfig::new("sk-test")
                    .with_base_url(base_url)
                    .client();
                let forecaster = AgentBuilder::new(client.responses(MODEL))
                    .name(LEAD_TOOL)
                    .preamble("Answer in one short sentence.")
                    .tool(Weather)
                    .record_content_telemetry(true)
                    .default_max_turns(4)
                    .build();
                let lead = AgentBuilder::new(client.responses(MODEL))
                    .name("lead")
                    .preamble("Delegate weather questions.")
                    .dynamic_tool(forecaster.into_tool()?)
                    .record_content_telemetry(true)
                    .build();
                lead.prompt("Do I need an umbrella in Paris?")
                    .max_turns(4)
                    .await?
            }
            Around::OurThreadAndTurn => {
                let thread = tracing::info_span!("rollout.thread", thread_id = "main");
                let turn = thread.in_scope(|| tracing::info_span!("rollout.turn", turn_id = "t1"));
                async move { run.await }
                    .instrument(turn)
                    .instrument(thread)
                    .await?
            }
        };
        anyhow::Ok(response.output().to_owned())
    })?;
    let expected = if around == Around::ToolOfALead {
        LEAD_ANSWER
    } else {
        ANSWER
    };
    assert_eq!(recorded.answer, expected);
    ensure!(
        recorded.states.len() == 1,
        "bundles: {}",
        recorded.states.len()
    );
    let (state, trace) = (recorded.states.remove(0), recorded.traces.remove(0));
    Ok((state, trace, recorded.seen))
}

/// The graph the run must reduce to, whichever spans were around it.
fn check(state: &RolloutState, seen: &[Value], around: Around) -> Result<()> {
    no_warnings(state)?;
    ensure!(
        state.threads.len() == 1,
        "threads: {:?}",
        state.threads.keys()
    );
    let thread = state.threads.values().next().context("no thread")?;
    match around {
        Around::Nothing => assert_eq!(thread.nickname.as_deref(), Some("weather-bot")),
        Around::OurThreadAndTurn => assert_eq!(thread.thread_id, "main"),
        Around::ToolOfALead => bail!("the lead's graph is checked by check_lead"),
    }
    ensure!(
        thread.turns.len() == 1 && state.turns.len() == 1,
        "turns: {:?}",
        state.turns.keys()
    );
    let turn = &state.turns[&thread.turns[0]];
    let calls = check_calls(state, turn)?;
    check_tool(state, turn, &calls)?;
    let call = Some(CALL_ID.to_owned());
    assert_eq!(
        conversation(state, thread),
        vec![
            (
                "system".to_owned(),
                None,
                "Answer in one short sentence.".to_owned()
            ),
            (
                "user".to_owned(),
                None,
                "What is the weather in Paris?".to_owned()
            ),
            (
                "assistant".to_owned(),
                call.clone(),
                r#"{"city":"Paris"}"#.to_owned()
            ),
            ("tool".to_owned(), call, TOOL_RESULT.to_owned()),
            ("assistant".to_owned(), None, ANSWER.to_owned()),
        ]
    );
    // What the mock was sent agrees: two requests, the second carrying the output.
    ensure!(seen.len() == 2, "the mock saw {} requests", seen.len());
    let sent_output = seen[1]["input"].as_array().is_some_and(|items| {
        items
            .iter()
            .any(|i| i["call_id"] == CALL_ID && i["type"] == "function_call_output")
    });
    ensure!(sent_output, "the second request sent: {}", seen[1]);
    Ok(())
}

/// The turn's two inference calls, with the model, provider, usage and response ids the
/// mock answered with.
fn check_calls<'a>(state: &'a RolloutState, turn: &Turn) -> Result<Vec<&'a InferenceCall>> {
    let calls = turn_calls(state, turn);
    ensure!(
        calls.len() == 2,
        "inference calls: {:?}",
        turn.inference_calls
    );
    for call in &calls {
        assert_eq!(call.model.as_deref(), Some(MODEL));
        assert_eq!(call.provider.as_deref(), Some("openai"));
        assert_eq!(call.payload_format.as_deref(), Some("otel_genai"));
    }
    let usage: Vec<_> = calls
        .iter()
        .map(|c| c.usage.as_ref().map(|u| (u.input_tokens, u.output_tokens)))
        .collect();
    assert_eq!(usage, vec![Some(FIRST_USAGE), Some(SECOND_USAGE)]);
    let ids: Vec<_> = calls.iter().map(|c| c.response_id.as_deref()).collect();
    assert_eq!(ids, vec![Some("resp_mock_1"), Some("resp_mock_2")]);
    Ok(calls)
}

/// The one tool call: in the turn, asked for by the first call, its output carried by the
/// second request.
fn check_tool(state: &RolloutState, turn: &Turn, calls: &[&InferenceCall]) -> Result<()> {
    ensure!(
        state.tool_calls.len() == 1,
        "tool calls: {:?}",
        state.tool_calls.keys()
    );
    let tool = state.tool_calls.values().next().context("no tool call")?;
    assert_eq!(tool.tool.as_deref(), Some("get_weather"));
    assert_eq!(tool.call_id.as_deref(), Some(CALL_ID));
    assert_eq!(tool.turn_id.as_ref(), Some(&turn.turn_id));
    assert_eq!(tool.requester, model_of(calls[0]));
    assert_eq!(calls[0].tool_calls, vec![tool.tool_call_id.clone()]);
    ensure!(
        tool.output_items.len() == 1,
        "output items: {:?}",
        tool.output_items
    );
    ensure!(
        state
            .request_items(calls[1])
            .contains(&tool.output_items[0].as_str()),
        "the second request does not carry the tool's output"
    );
    let output = &state.conversation_items[&tool.output_items[0]];
    assert_eq!(
        (output.call_id.as_deref(), output.text.as_str()),
        (Some(CALL_ID), TOOL_RESULT)
    );
    Ok(())
}

/// Records, checks, and on failure prints the whole trace, so a changed rig release is
/// diagnosable from the CI log.
fn record_and_check(
    around: Around,
    check: impl FnOnce(&RolloutState, &[Value]) -> Result<()>,
) -> Result<()> {
    let (state, trace, seen) = record_agent(around)?;
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&state, &seen))) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => bail!("{e:#}\n--- trace.jsonl ---\n{trace}"),
        Err(panic) => {
            eprintln!("--- trace.jsonl ---\n{trace}");
            std::panic::resume_unwind(panic)
        }
    }
}

#[test]
fn a_rig_agent_with_one_tool_reduces_to_its_rollout_graph() -> Result<()> {
    record_and_check(Around::Nothing, |state, seen| {
        check(state, seen, Around::Nothing)
    })
}

/// The lead's graph: the weather agent is a child thread spawned by the lead's tool call,
/// with its own turn, inference calls, tool call and conversation.
fn check_lead(state: &RolloutState) -> Result<()> {
    no_warnings(state)?;
    ensure!(
        state.threads.len() == 2,
        "threads: {:?}",
        state.threads.keys()
    );
    let lead = &state.threads[state.root_thread_id.as_deref().context("no root thread")?];
    assert_eq!(lead.nickname.as_deref(), Some("lead"));
    let child = other_thread(state, lead)?;
    assert_eq!(
        child.parent_thread_id.as_deref(),
        Some(lead.thread_id.as_str())
    );
    let delegation = state
        .tool_calls
        .values()
        .find(|t| t.call_id.as_deref() == Some(LEAD_CALL_ID))
        .context("no delegation tool call")?;
    assert_eq!(delegation.thread_id.as_ref(), Some(&lead.thread_id));
    assert_eq!(delegation.spawned_threads, vec![child.thread_id.clone()]);
    let spawns: Vec<_> = state
        .edges
        .values()
        .filter(|e| e.kind == EdgeKind::Spawn)
        .map(|e| e.from.clone())
        .collect();
    assert_eq!(
        spawns,
        vec![Anchor::ToolCall(delegation.tool_call_id.clone())]
    );
    let weather = state
        .tool_calls
        .values()
        .find(|t| t.call_id.as_deref() == Some(CALL_ID))
        .context("no weather tool call")?;
    assert_eq!(weather.thread_id.as_ref(), Some(&child.thread_id));
    for (thread, calls) in [(lead, 2), (child, 2)] {
        let turn = only_turn(state, thread)?;
        assert_eq!(turn.inference_calls.len(), calls, "{}", thread.thread_id);
    }
    let prompt = json!({"prompt": "What is the weather in Paris?"}).to_string();
    assert_eq!(
        texts(state, lead),
        vec![
            "Delegate weather questions.".to_owned(),
            "Do I need an umbrella in Paris?".to_owned(),
            prompt,
            ANSWER.to_owned(),
            LEAD_ANSWER.to_owned(),
        ]
    );
    assert_eq!(
        texts(state, child),
        vec![
            "Answer in one short sentence.".to_owned(),
            "What is the weather in Paris?".to_owned(),
            r#"{"city":"Paris"}"#.to_owned(),
            TOOL_RESULT.to_owned(),
            ANSWER.to_owned(),
        ]
    );
    Ok(())
}

#[test]
fn a_rig_agent_used_as_a_tool_is_a_child_thread_spawned_by_that_tool_call() -> Result<()> {
    record_and_check(Around::ToolOfALead, |state, _| check_lead(state))
}

#[test]
fn a_rig_agent_inside_our_own_thread_and_turn_spans_reduces_to_the_same_graph() -> Result<()> {
    record_and_check(Around::OurThreadAndTurn, |state, seen| {
        check(state, seen, Around::OurThreadAndTurn)
    })
}
