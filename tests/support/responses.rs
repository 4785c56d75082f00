//! OpenAI Responses items and payloads, built tersely.

use serde_json::{json, Value};

pub fn msg(role: &str, text: &str) -> Value {
    json!({"type": "message", "role": role, "content": [{"type": if role == "assistant" { "output_text" } else { "input_text" }, "text": text}]})
}

pub fn call(call_id: &str, name: &str, arguments: &str) -> Value {
    json!({"type": "function_call", "call_id": call_id, "name": name, "arguments": arguments})
}

pub fn custom_call(call_id: &str, name: &str, input: &str) -> Value {
    json!({"type": "custom_tool_call", "call_id": call_id, "name": name, "input": input})
}

pub fn output(call_id: &str, text: &str) -> Value {
    json!({"type": "function_call_output", "call_id": call_id, "output": text})
}

pub fn custom_output(call_id: &str, text: &str) -> Value {
    json!({"type": "custom_tool_call_output", "call_id": call_id, "output": text})
}

pub fn request(items: &[Value]) -> Value {
    json!({"model": "test-model", "input": items})
}

pub fn incremental(previous_response_id: &str, items: &[Value]) -> Value {
    json!({"model": "test-model", "previous_response_id": previous_response_id, "input": items})
}

pub fn response(id: &str, items: &[Value], input_tokens: u64, output_tokens: u64) -> Value {
    json!({"id": id, "output": items, "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens, "input_tokens_details": {"cached_tokens": 0}, "output_tokens_details": {"reasoning_tokens": 0}}})
}
