//! The OpenTelemetry GenAI conventions' message JSON (semantic conventions 1.42): conversation
//! items as message parts, parts as role-grouped messages, and a response's finish reason.
//!
//! Invariant: a message list never exceeds its byte budget but for its newest message (the
//! list keeps its newest messages and counts the ones it dropped), and building it costs work
//! bounded by the budget, not by the history; an item kind the graph gains breaks the build
//! here until it has a part.

use serde_json::{json, Value};

use crate::reduce::{ConversationItem, ItemKind, Status};

/// The output messages of one response: one assistant message of every item's part, with
/// its finish reason.
pub(super) fn output_messages(response: &[&ConversationItem], finish: &str) -> Value {
    let parts: Vec<Value> = response.iter().filter_map(|i| part(i)).collect();
    json!([{"role": "assistant", "parts": parts, "finish_reason": finish}])
}

/// The finish reason of one response, from the graph: `error` for a failed call, `tool_call`
/// when the response called a tool, `length` for a call that never ended, else `stop`. Used
/// when the call recorded no finish reasons of the provider's (`InferenceCall::finish_reasons`).
pub(super) fn finish_reason(
    status: Status,
    response: &[&ConversationItem],
    ended: bool,
) -> &'static str {
    if status == Status::Failed {
        "error"
    } else if response.iter().any(|i| {
        matches!(
            i.kind,
            ItemKind::FunctionCall
                | ItemKind::CustomToolCall
                | ItemKind::ComputerCall
                | ItemKind::LocalShellCall
                | ItemKind::McpApprovalRequest
        )
    }) {
        "tool_call"
    } else if !ended {
        "length"
    } else {
        "stop"
    }
}

/// The GenAI message part of one item (`None` for nothing to show).
pub(super) fn part(item: &ConversationItem) -> Option<Value> {
    Some(match item.kind {
        ItemKind::Message => json!({"type": "text", "content": item.text}),
        ItemKind::Reasoning => json!({"type": "reasoning", "content": item.text}),
        ItemKind::FunctionCall | ItemKind::CustomToolCall => {
            let arguments = match item.kind {
                ItemKind::FunctionCall => serde_json::from_str::<Value>(&item.text)
                    .unwrap_or(Value::String(item.text.clone())),
                _ => Value::String(item.text.clone()),
            };
            json!({"type": "tool_call", "id": item.call_id, "name": item.name, "arguments": arguments})
        }
        ItemKind::FunctionCallOutput | ItemKind::CustomToolCallOutput => {
            json!({"type": "tool_call_response", "id": item.call_id, "response": item.text})
        }
        // Calls the program runs for the model, and what it sent back.
        ItemKind::ComputerCall | ItemKind::LocalShellCall | ItemKind::McpApprovalRequest => {
            json!({"type": "tool_call", "id": item.call_id, "name": item.name, "arguments": item.text})
        }
        ItemKind::ComputerCallOutput
        | ItemKind::LocalShellCallOutput
        | ItemKind::McpApprovalResponse => {
            json!({"type": "tool_call_response", "id": item.call_id, "response": item.text})
        }
        // Tools the provider ran (GenAI 1.42 `server_tool_call` / `_response`).
        ItemKind::WebSearchCall
        | ItemKind::FileSearchCall
        | ItemKind::CodeInterpreterCall
        | ItemKind::ImageGenerationCall
        | ItemKind::McpCall
        | ItemKind::McpListTools
        | ItemKind::ServerToolUse => {
            json!({"type": "server_tool_call", "id": item.call_id, "name": item.name, "content": item.text})
        }
        ItemKind::ServerToolResult => {
            json!({"type": "server_tool_call_response", "id": item.call_id, "response": item.text})
        }
        ItemKind::CompactionMarker => json!({"type": "compaction", "content": item.text}),
        ItemKind::Other => json!({"type": "other", "content": item.text}),
    })
}

/// The role an item speaks in.
fn role(item: &ConversationItem) -> &str {
    match item.kind {
        ItemKind::FunctionCallOutput
        | ItemKind::CustomToolCallOutput
        | ItemKind::ComputerCallOutput
        | ItemKind::LocalShellCallOutput => "tool",
        ItemKind::FunctionCall | ItemKind::CustomToolCall | ItemKind::Reasoning => {
            item.role.as_deref().unwrap_or("assistant")
        }
        _ => item.role.as_deref().unwrap_or("user"),
    }
}

/// Items as GenAI chat messages: consecutive items of one role (other than `tool`) are one
/// message. With `split_system`, leading system items become the system instructions. The
/// list keeps its newest messages within `max` bytes; returns how many older ones it dropped.
pub(super) fn messages(
    items: &[&ConversationItem],
    split_system: bool,
    max: usize,
) -> (Vec<Value>, Vec<Value>, usize) {
    let mut system = Vec::new();
    let mut rest = items;
    if split_system {
        while let Some((first, tail)) = rest.split_first() {
            if first.kind == ItemKind::Message && first.role.as_deref() == Some("system") {
                system.extend(part(first));
                rest = tail;
            } else {
                break;
            }
        }
    }
    // Group by role first (no JSON yet), then build messages from the newest back until the
    // budget is spent: the work per inference is bounded by `max`, not by the history.
    let mut groups: Vec<(&str, &[&ConversationItem])> = Vec::new();
    let mut begin = 0;
    for (i, item) in rest.iter().enumerate() {
        let role = role(item);
        let next = rest.get(i + 1).map(|n| self::role(n));
        if next != Some(role) || role == "tool" {
            groups.push((role, &rest[begin..=i]));
            begin = i + 1;
        }
    }
    let mut kept = Vec::new();
    let mut size = 2;
    for (role, items) in groups.iter().rev() {
        let parts: Vec<Value> = items.iter().filter_map(|i| part(i)).collect();
        let message = json!({"role": role, "parts": parts});
        let len = message.to_string().len() + 1;
        if size + len > max && !kept.is_empty() {
            break;
        }
        size += len;
        kept.push(message);
    }
    kept.reverse();
    let dropped = groups.len() - kept.len();
    (system, kept, dropped)
}
