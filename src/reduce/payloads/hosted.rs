//! Hosted tool items: tools the provider runs inside an inference (Responses `web_search_call`,
//! `file_search_call`, `code_interpreter_call`, `image_generation_call`, `mcp_call`,
//! `mcp_list_tools`; Anthropic `server_tool_use` / `mcp_tool_use` and their `*_tool_result`
//! blocks), the MCP approval round trip, and the computer-use and local-shell calls the program
//! runs (`computer_call` / `computer_call_output`, `local_shell_call` / `_output`).
//!
//! Invariant: a provider-run item is identified by its kind and the provider's id alone
//! (`call_id` = the item's `id`, or a result block's `tool_use_id`): clients replay these items
//! with fields added, dropped or re-serialised (`"sources": null`, an `encrypted_content`
//! round trip), and the provider's id already names one run. A program-run call is identified
//! like a function call: its call id and its action, and its output by the call id and the
//! output. The readable text says what ran (`search: …`, the code, the command) and never
//! holds base64 images or encrypted blobs.
//!
//! Imports only the bottom (`item.rs`, `object.rs`, `model.rs`); `message.rs` and
//! `responses.rs` hand it the blocks and items it knows.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::item::{item_with_text, ModelItem, Part};
use super::model::ShapeError;
use super::object::{required_str, Loc};
use crate::reduce::state::ItemKind;

/// Whether items of `kind` are run by the provider (a tool call in the graph whose requester
/// is the inference and whose runtime is the provider).
pub(crate) fn is_provider_run(kind: ItemKind) -> bool {
    matches!(
        kind,
        ItemKind::WebSearchCall
            | ItemKind::FileSearchCall
            | ItemKind::CodeInterpreterCall
            | ItemKind::ImageGenerationCall
            | ItemKind::McpCall
            | ItemKind::McpListTools
            | ItemKind::ServerToolUse
    )
}

/// A Responses hosted or computer-use item of type `item_type`, or `None` for another type.
pub(super) fn responses_item(
    item_type: &str,
    obj: &Map<String, Value>,
    loc: Loc,
) -> Option<Result<ModelItem, ShapeError>> {
    let kind = match item_type {
        "web_search_call" => ItemKind::WebSearchCall,
        "file_search_call" => ItemKind::FileSearchCall,
        "code_interpreter_call" => ItemKind::CodeInterpreterCall,
        "image_generation_call" => ItemKind::ImageGenerationCall,
        "mcp_call" => ItemKind::McpCall,
        "mcp_list_tools" => ItemKind::McpListTools,
        "mcp_approval_request" => ItemKind::McpApprovalRequest,
        "mcp_approval_response" => ItemKind::McpApprovalResponse,
        "computer_call" => ItemKind::ComputerCall,
        "computer_call_output" => ItemKind::ComputerCallOutput,
        "local_shell_call" => ItemKind::LocalShellCall,
        "local_shell_call_output" => ItemKind::LocalShellCallOutput,
        _ => return None,
    };
    Some(responses_hosted(kind, item_type, obj, loc))
}

fn responses_hosted(
    kind: ItemKind,
    item_type: &str,
    obj: &Map<String, Value>,
    loc: Loc,
) -> Result<ModelItem, ShapeError> {
    let s = |key: &str| obj.get(key).and_then(Value::as_str);
    let status = s("status");
    let item = match kind {
        ItemKind::ComputerCall | ItemKind::LocalShellCall => {
            let call_id = required_str(obj, "call_id", loc, item_type)?;
            let action = obj.get("action").unwrap_or(&Value::Null);
            let text = match kind {
                ItemKind::LocalShellCall => command_text(action),
                _ => compact(action),
            };
            let name = if kind == ItemKind::ComputerCall {
                "computer"
            } else {
                "local_shell"
            };
            let parts = [Part::Json(Cow::Borrowed(action))];
            item_with_text(
                kind,
                Some("assistant"),
                Some(call_id),
                Some(name),
                &parts,
                text,
            )
        }
        ItemKind::ComputerCallOutput | ItemKind::LocalShellCallOutput => {
            let call_id = match s("call_id").or_else(|| s("id")) {
                Some(id) => id,
                None => required_str(obj, "call_id", loc, item_type)?,
            };
            let output = obj.get("output").unwrap_or(&Value::Null);
            let text = match output {
                Value::String(text) => text.clone(),
                // A screenshot: say what it is, not its base64.
                Value::Object(o) => o
                    .get("type")
                    .and_then(Value::as_str)
                    .unwrap_or("output")
                    .to_owned(),
                other => compact(other),
            };
            let parts = [Part::Json(Cow::Borrowed(output))];
            item_with_text(kind, Some("tool"), Some(call_id), None, &parts, text)
        }
        ItemKind::McpApprovalResponse => {
            let call_id = required_str(obj, "approval_request_id", loc, item_type)?;
            let approve = obj.get("approve").and_then(Value::as_bool) == Some(true);
            let mut text = if approve { "approve" } else { "deny" }.to_owned();
            if let Some(reason) = s("reason") {
                text.push_str(": ");
                text.push_str(reason);
            }
            let parts = [Part::Json(Cow::Owned(Value::Bool(approve)))];
            item_with_text(kind, Some("user"), Some(call_id), None, &parts, text)
        }
        _ => {
            let id = s("id");
            let (name, text) = provider_run_text(kind, obj);
            // Without an id (a hand-built replay), the whole item is its identity.
            let parts: Vec<Part<'_>> = match id {
                Some(_) => Vec::new(),
                None => vec![Part::Json(Cow::Owned(Value::Object(without_bookkeeping(
                    obj,
                ))))],
            };
            item_with_text(kind, Some("assistant"), id, name.as_deref(), &parts, text)
        }
    };
    Ok(ModelItem {
        status: status.map(str::to_owned),
        ..item
    })
}

/// A provider-run item's tool name and readable text.
fn provider_run_text(kind: ItemKind, obj: &Map<String, Value>) -> (Option<String>, String) {
    let s = |key: &str| obj.get(key).and_then(Value::as_str).unwrap_or_default();
    let strings = |key: &str| -> Vec<String> {
        obj.get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect()
    };
    match kind {
        ItemKind::WebSearchCall => {
            let action = obj.get("action");
            let a = |key: &str| {
                action
                    .and_then(|a| a.get(key))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
            };
            let text = match action.and_then(|a| a.get("type")).and_then(Value::as_str) {
                Some("open_page") => format!("open_page: {}", a("url")),
                Some("find") => format!("find: {} in {}", a("pattern"), a("url")),
                Some(other) if a("query").is_empty() => other.to_owned(),
                _ => format!("search: {}", a("query")),
            };
            (Some("web_search".to_owned()), text)
        }
        ItemKind::FileSearchCall => {
            let mut text = format!("file_search: {}", strings("queries").join(" | "));
            for name in each_str(obj, "results", "filename") {
                text.push_str("\n→ ");
                text.push_str(name);
            }
            (Some("file_search".to_owned()), text)
        }
        ItemKind::CodeInterpreterCall => {
            let mut text = s("code").to_owned();
            for logs in each_str(obj, "outputs", "logs") {
                text.push('\n');
                text.push_str(logs);
            }
            (Some("code_interpreter".to_owned()), text)
        }
        ItemKind::ImageGenerationCall => {
            let prompt = s("revised_prompt");
            let text = if prompt.is_empty() {
                "image_generation".to_owned()
            } else {
                format!("image_generation: {prompt}")
            };
            (Some("image_generation".to_owned()), text)
        }
        ItemKind::McpCall => {
            let mut text = format!("{}.{}({})", s("server_label"), s("name"), s("arguments"));
            match (obj.get("output"), obj.get("error")) {
                (Some(Value::String(output)), _) => {
                    text.push_str("\n→ ");
                    text.push_str(output);
                }
                (_, Some(error)) if !error.is_null() => {
                    text.push_str("\n→ error: ");
                    text.push_str(&error.as_str().map_or_else(|| compact(error), str::to_owned));
                }
                _ => {}
            }
            (Some(s("name").to_owned()), text)
        }
        ItemKind::McpListTools => {
            let tools: Vec<&str> = each_str(obj, "tools", "name").collect();
            (None, format!("{}: {}", s("server_label"), tools.join(", ")))
        }
        ItemKind::McpApprovalRequest => (
            Some(s("name").to_owned()),
            format!("{}.{}({})", s("server_label"), s("name"), s("arguments")),
        ),
        _ => (None, String::new()),
    }
}

/// The string `key` of each element of the array `list` that has one.
fn each_str<'a>(
    obj: &'a Map<String, Value>,
    list: &str,
    key: &'a str,
) -> impl Iterator<Item = &'a str> {
    obj.get(list)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(move |element| element.get(key).and_then(Value::as_str))
}

/// An Anthropic server tool block (`server_tool_use`, `mcp_tool_use`, a `*_tool_result` other
/// than `tool_result`), or `None` for another block type.
pub(super) fn anthropic_block(
    block_type: &str,
    block: &Map<String, Value>,
    at: &dyn Fn() -> String,
) -> Option<Result<ModelItem, ShapeError>> {
    let id = |key: &str| match block.get(key) {
        Some(Value::String(id)) => Ok(id.as_str()),
        _ => Err(ShapeError(format!(
            "{} ({block_type}) has no string `{key}`",
            at()
        ))),
    };
    if matches!(block_type, "server_tool_use" | "mcp_tool_use") {
        let item = id("id").map(|call_id| {
            let name = block
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let input = block.get("input").unwrap_or(&Value::Null);
            let mut text = compact(input);
            if let Some(server) = block.get("server_name").and_then(Value::as_str) {
                text = format!("{server}.{name}({text})");
            }
            item_with_text(
                ItemKind::ServerToolUse,
                Some("assistant"),
                Some(call_id),
                Some(name),
                &[],
                text,
            )
        });
        return Some(item);
    }
    if block_type == "tool_result" || !block_type.ends_with("_tool_result") {
        return None;
    }
    let item = id("tool_use_id").map(|call_id| {
        let content = block.get("content").unwrap_or(&Value::Null);
        let failed = block.get("is_error").and_then(Value::as_bool) == Some(true)
            || error_code(content).is_some();
        let text = match error_code(content) {
            Some(code) => format!("error: {code}"),
            None => result_text(content),
        };
        ModelItem {
            status: Some(if failed { "failed" } else { "completed" }.to_owned()),
            ..item_with_text(
                ItemKind::ServerToolResult,
                Some("tool"),
                Some(call_id),
                Some(block_type),
                &[],
                text,
            )
        }
    });
    Some(item)
}

/// The `error_code` of a server tool result's error content.
fn error_code(content: &Value) -> Option<&str> {
    content.get("error_code").and_then(Value::as_str)
}

/// A server tool result's readable text: each result's title and URL, or the text and
/// output streams it carries (never `encrypted_content`).
fn result_text(content: &Value) -> String {
    let mut lines = Vec::new();
    let mut push = |value: &Value| {
        let get = |key: &str| value.get(key).and_then(Value::as_str);
        match (get("title"), get("url")) {
            (Some(title), Some(url)) => lines.push(format!("{title} <{url}>")),
            (None, Some(url)) => lines.push(url.to_owned()),
            _ => {}
        }
        for key in ["text", "stdout", "stderr"] {
            if let Some(text) = get(key).filter(|t| !t.is_empty()) {
                lines.push(text.to_owned());
            }
        }
    };
    match content {
        Value::Array(list) => list.iter().for_each(&mut push),
        Value::String(text) => lines.push(text.clone()),
        other => push(other),
    }
    lines.join("\n")
}

/// A shell action's command line.
fn command_text(action: &Value) -> String {
    match action.get("command") {
        Some(Value::Array(words)) => words
            .iter()
            .map(|w| w.as_str().map_or_else(|| w.to_string(), str::to_owned))
            .collect::<Vec<_>>()
            .join(" "),
        Some(Value::String(command)) => command.clone(),
        _ => compact(action),
    }
}

/// An item's fields without the bookkeeping that moves between sightings.
fn without_bookkeeping(obj: &Map<String, Value>) -> Map<String, Value> {
    obj.iter()
        .filter(|(key, _)| {
            !matches!(
                key.as_str(),
                "id" | "status" | "internal_chat_message_metadata_passthrough"
            )
        })
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect()
}

/// Compact JSON, `""` for null.
fn compact(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
#[path = "hosted_tests.rs"]
mod tests;
