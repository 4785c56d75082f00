//! Payloads as a program emits them: `rollout.payload` events with a JSON text body, and
//! inference spans carrying a request and (optionally) a response.

use serde_json::Value;

/// Emits a `rollout.payload` event with a JSON string body.
pub fn payload(role: &str, body: &str) {
    tracing::info!(name: "rollout.payload", role = role, payload = body);
}

/// One `rollout.inference` span of `model` at `provider` with a request body and, if given, a
/// response body.
pub fn inference(model: &str, provider: &str, request: &str, response: Option<&str>) {
    let span = tracing::info_span!("rollout.inference", model = model, provider = provider);
    let _enter = span.enter();
    payload("request", request);
    if let Some(response) = response {
        payload("response", response);
    }
}

/// One inference span (model `test-model` at `openai`) with a request and (optionally) a
/// response payload.
pub fn infer(request: &Value, response: Option<&Value>) {
    inference(
        "test-model",
        "openai",
        &request.to_string(),
        response.map(Value::to_string).as_deref(),
    );
}
