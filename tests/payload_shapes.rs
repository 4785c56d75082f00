//! Payload shapes beyond plain request/response pairs, through the real layer: provider API
//! error bodies, hosted (provider-run) tools, streams, and the reference agent's newer items.
//! Each body says where it came from: the real-payload corpus (`shared/real-payloads/`, see
//! its `SOURCES.md`), or the provider's API reference (realistic, hand-assembled from the
//! documented shape).

mod support;

use pretty_assertions::assert_eq;
use serde_json::{json, Value};
use support::{payload, reduce};
use tracing::info_span;
use tracing_rollout::reduce::{RolloutState, Status};

/// One thread, one turn, then `f`.
fn in_turn(f: impl FnOnce()) {
    let rollout = info_span!("rollout", rollout_id = "shapes");
    let _r = rollout.enter();
    let thread = info_span!("rollout.thread", thread_id = "main", agent_path = "/root");
    let _t = thread.enter();
    let turn = info_span!("rollout.turn", turn_id = "t1");
    let _u = turn.enter();
    f();
}

/// One inference span (provider `provider`) with these payload bodies, as `&str`.
fn infer(provider: &str, request: &Value, response: &str) {
    let span = info_span!("rollout.inference", model = "m", provider = provider);
    let _enter = span.enter();
    payload("request", &request.to_string());
    payload("response", response);
}

/// The only inference call of a state.
fn only_inference(state: &RolloutState) -> anyhow::Result<&tracing_rollout::reduce::InferenceCall> {
    anyhow::ensure!(
        state.inference_calls.len() == 1,
        "{:?}",
        state.inference_calls
    );
    state
        .inference_calls
        .values()
        .next()
        .ok_or_else(|| anyhow::anyhow!("no inference call"))
}

#[test]
fn an_api_error_body_fails_the_inference_with_the_providers_type_and_message() -> anyhow::Result<()>
{
    // (provider, body, expected type, expected message). The OpenAI body is the corpus's
    // chat/developer-role-error-400.response.json (HTTP 400, pydantic-ai cassette); the
    // Anthropic one is the error shape of Anthropic's API reference ("Errors": HTTP 529); the
    // Responses one is a `status: failed` response as the Responses API reference documents it.
    let cases = [
        (
            "openai",
            json!({"error": {"code": "unsupported_value", "message": "Unsupported value: 'messages[0].role' does not support 'developer' with this model.", "param": "messages[0].role", "type": "invalid_request_error"}}),
            "invalid_request_error",
            "Unsupported value: 'messages[0].role' does not support 'developer' with this model.",
        ),
        (
            "anthropic",
            json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}, "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy"}),
            "overloaded_error",
            "Overloaded",
        ),
        (
            "openai",
            json!({"id": "resp_67ccd2bed1ec8190b14f964abc054267", "object": "response", "status": "failed", "error": {"code": "server_error", "message": "The model failed to generate a response."}, "output": [], "usage": null}),
            "server_error",
            "The model failed to generate a response.",
        ),
    ];
    for (provider, body, kind, message) in cases {
        let state = reduce(|| {
            in_turn(|| {
                infer(
                    provider,
                    &json!({"model": "m", "messages": [{"role": "user", "content": "Hello"}]}),
                    &body.to_string(),
                )
            })
        })?;
        let call = only_inference(&state)?;
        assert_eq!(
            (
                call.execution.status,
                call.error_type.as_deref(),
                call.execution.error.as_deref(),
                call.response_items.len(),
            ),
            (
                Status::Failed,
                Some(kind),
                Some(format!("{kind}: {message}").as_str()),
                0
            ),
            "{body}"
        );
        assert_eq!(state.diagnostics, vec![], "{body}");
    }
    Ok(())
}

#[test]
fn a_status_the_program_records_wins_over_the_error_body() -> anyhow::Result<()> {
    // The corpus's chat/developer-role-error-400 body again; the program retried and says so.
    let body = json!({"error": {"code": "unsupported_value", "message": "no", "type": "invalid_request_error"}});
    let state = reduce(|| {
        in_turn(|| {
            let span = info_span!(
                "rollout.inference",
                provider = "openai",
                status = "cancelled"
            );
            let _enter = span.enter();
            payload("response", &body.to_string());
        })
    })?;
    assert_eq!(only_inference(&state)?.execution.status, Status::Cancelled);
    Ok(())
}
