//! The genai agent of `genai_agent.rs` with content capture off (genai's default; the variable
//! is removed before genai reads it, once per process): the graph has the same structure and
//! statuses, every call closed normally is `completed` though no response body was captured,
//! the tool call is attributed to the inference before it (marked inferred, since no content
//! carries its call id), there are no payloads, and a 500 is still a failed inference.

use std::sync::Once;

use anyhow::{ensure, Result};
use genai_rollout_test::{
    answered_graph, expected_structure, failed_structure, record, structure, weather_agent, Mode,
    FAILING_PROMPT, PROMPT,
};

/// Makes sure content capture is off before genai first reads it.
fn capture_off() -> Result<()> {
    static OFF: Once = Once::new();
    OFF.call_once(|| std::env::remove_var(genai::otel::CAPTURE_CONTENT_ENV));
    ensure!(!genai::otel::capture_content(), "genai captures content");
    Ok(())
}

#[test]
fn with_capture_off_the_graph_has_the_same_structure_and_statuses_and_no_payloads() -> Result<()> {
    capture_off()?;
    for mode in [Mode::Blocking, Mode::Streamed] {
        let recorded = record(|target| weather_agent(target, PROMPT, mode))?;
        let state = answered_graph(&recorded)?;
        assert_eq!(
            structure(state),
            expected_structure(mode, false),
            "{mode:?}"
        );
        ensure!(state.payloads.is_empty(), "payloads: {:?}", state.payloads);
        ensure!(
            state.conversation_items.is_empty(),
            "items: {:?}",
            state.conversation_items
        );
    }
    Ok(())
}

#[test]
fn with_capture_off_a_500_is_still_a_failed_inference_with_its_error() -> Result<()> {
    capture_off()?;
    for mode in [Mode::Blocking, Mode::Streamed] {
        let recorded = record(|target| weather_agent(target, FAILING_PROMPT, mode))?;
        ensure!(
            recorded.answer.is_err(),
            "the run did not fail: {:?}",
            recorded.answer
        );
        assert_eq!(
            structure(recorded.only_graph()?),
            failed_structure(mode),
            "{mode:?}"
        );
    }
    Ok(())
}
