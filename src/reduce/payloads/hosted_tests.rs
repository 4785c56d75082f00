//! Hosted tool items: Responses hosted and computer-use items, Anthropic server tool blocks.

use std::rc::Rc;

use pretty_assertions::assert_eq;
use serde_json::json;

use crate::reduce::payloads::test_support::{items, only_hash};
use crate::reduce::payloads::ModelItem;
use crate::reduce::ItemKind;

/// `(kind, call id, name, text, status)` of an item.
type Hosted<'a> = (
    ItemKind,
    Option<&'a str>,
    Option<&'a str>,
    &'a str,
    Option<&'a str>,
);

/// [`Hosted`] of each item.
fn hosted(items: &[Rc<ModelItem>]) -> Vec<Hosted<'_>> {
    items
        .iter()
        .map(|i| {
            (
                i.kind,
                i.call_id.as_deref(),
                i.name.as_deref(),
                i.text.as_str(),
                i.status.as_deref(),
            )
        })
        .collect()
}

#[test]
fn responses_hosted_tool_items_have_their_own_kinds_call_ids_status_and_text() -> anyhow::Result<()>
{
    // The web and file search items are the corpus's (responses/web-search-annotations-replay
    // and file-search-citation responses); the others follow the output-item examples of
    // OpenAI's Responses API reference, ids shortened.
    let parsed = items(json!([
        {"id": "ws_0a79", "type": "web_search_call", "status": "completed",
         "action": {"type": "search", "queries": ["Ethereum price on January 1, 2026"], "query": "Ethereum price on January 1, 2026"}},
        {"id": "fs_019d", "queries": ["Eiffel Tower"], "results": null, "status": "completed", "type": "file_search_call"},
        {"id": "ci_12", "type": "code_interpreter_call", "status": "completed", "container_id": "cntr_1",
         "code": "print(2 + 2)", "outputs": [{"type": "logs", "logs": "4"}]},
        {"id": "ig_7", "type": "image_generation_call", "status": "completed", "revised_prompt": "a gray tabby cat", "result": "iVBORw0KGgo="},
        {"id": "mcp_3", "type": "mcp_call", "server_label": "deepwiki", "name": "ask_question",
         "arguments": "{\"repoName\":\"openai/codex\"}", "output": "It is a CLI.", "error": null},
        {"id": "mcpl_1", "type": "mcp_list_tools", "server_label": "deepwiki",
         "tools": [{"name": "read_wiki_structure", "input_schema": {}}, {"name": "ask_question", "input_schema": {}}]},
        {"id": "mcpr_1", "type": "mcp_approval_request", "server_label": "deepwiki", "name": "ask_question", "arguments": "{}"},
        {"type": "mcp_approval_response", "approval_request_id": "mcpr_1", "approve": true},
        {"id": "cu_1", "type": "computer_call", "call_id": "call_cu1", "status": "completed",
         "action": {"type": "click", "button": "left", "x": 156, "y": 50}, "pending_safety_checks": []},
        {"type": "computer_call_output", "call_id": "call_cu1",
         "output": {"type": "computer_screenshot", "image_url": "data:image/png;base64,iVBORw0KGgo="}},
        {"id": "ls_1", "type": "local_shell_call", "call_id": "call_ls1", "status": "completed",
         "action": {"type": "exec", "command": ["ls", "-la"], "env": {}}},
        {"type": "local_shell_call_output", "call_id": "call_ls1", "output": "total 0"},
        {"type": "custom_tool_call", "call_id": "call_ct1", "name": "code_exec", "input": "print(1)"},
        {"type": "custom_tool_call_output", "call_id": "call_ct1", "output": "1"},
    ]))?;
    use ItemKind::*;
    assert_eq!(
        hosted(&parsed),
        vec![
            (
                WebSearchCall,
                Some("ws_0a79"),
                Some("web_search"),
                "search: Ethereum price on January 1, 2026",
                Some("completed")
            ),
            (
                FileSearchCall,
                Some("fs_019d"),
                Some("file_search"),
                "file_search: Eiffel Tower",
                Some("completed")
            ),
            (
                CodeInterpreterCall,
                Some("ci_12"),
                Some("code_interpreter"),
                "print(2 + 2)\n4",
                Some("completed")
            ),
            (
                ImageGenerationCall,
                Some("ig_7"),
                Some("image_generation"),
                "image_generation: a gray tabby cat",
                Some("completed")
            ),
            (
                McpCall,
                Some("mcp_3"),
                Some("ask_question"),
                "deepwiki.ask_question({\"repoName\":\"openai/codex\"})\n→ It is a CLI.",
                None
            ),
            (
                McpListTools,
                Some("mcpl_1"),
                None,
                "deepwiki: read_wiki_structure, ask_question",
                None
            ),
            (
                McpApprovalRequest,
                Some("mcpr_1"),
                Some("ask_question"),
                "deepwiki.ask_question({})",
                None
            ),
            (McpApprovalResponse, Some("mcpr_1"), None, "approve", None),
            (
                ComputerCall,
                Some("call_cu1"),
                Some("computer"),
                r#"{"button":"left","type":"click","x":156,"y":50}"#,
                Some("completed")
            ),
            (
                ComputerCallOutput,
                Some("call_cu1"),
                None,
                "computer_screenshot",
                None
            ),
            (
                LocalShellCall,
                Some("call_ls1"),
                Some("local_shell"),
                "ls -la",
                Some("completed")
            ),
            (
                LocalShellCallOutput,
                Some("call_ls1"),
                None,
                "total 0",
                None
            ),
            (
                CustomToolCall,
                Some("call_ct1"),
                Some("code_exec"),
                "print(1)",
                None
            ),
            (CustomToolCallOutput, Some("call_ct1"), None, "1", None),
        ]
    );
    Ok(())
}

#[test]
fn a_replayed_hosted_item_is_the_same_item_whatever_fields_the_client_adds() -> anyhow::Result<()> {
    // The corpus's responses/web-search-annotations-replay request replays a web_search_call
    // with `"sources": null` added and keys reordered; its status moves too.
    let returned = only_hash(
        json!([{"id": "ws_0a79", "type": "web_search_call", "status": "completed",
        "action": {"type": "search", "query": "Bitcoin price on January 1, 2026"}}]),
    )?;
    let replayed = only_hash(
        json!([{"id": "ws_0a79", "action": {"query": "Bitcoin price on January 1, 2026",
        "type": "search", "queries": ["Bitcoin price on January 1, 2026"], "sources": null},
        "status": "searching", "type": "web_search_call"}]),
    )?;
    assert_eq!(returned, replayed);
    let other = only_hash(
        json!([{"id": "ws_0b00", "type": "web_search_call", "status": "completed",
        "action": {"type": "search", "query": "Bitcoin price on January 1, 2026"}}]),
    )?;
    assert!(other != returned);
    Ok(())
}

#[test]
fn anthropic_server_tool_blocks_are_items_of_their_own() -> anyhow::Result<()> {
    // From the corpus's anthropic/web-search-server-tool-thinking response (encrypted content
    // shortened), and the error result of Anthropic's web search tool documentation.
    let parsed = items(json!([{"role": "assistant", "content": [
        {"type": "text", "text": "Let me search."},
        {"id": "srvtoolu_01Eo", "input": {"query": "San Francisco weather today"}, "name": "web_search", "type": "server_tool_use"},
        {"content": [{"encrypted_content": "EroT", "page_age": null, "title": "San Francisco, CA Weather", "type": "web_search_result", "url": "https://weather.com/sf"}],
         "tool_use_id": "srvtoolu_01Eo", "type": "web_search_tool_result"},
        {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_02",
         "content": {"type": "web_search_tool_result_error", "error_code": "max_uses_exceeded"}},
        {"type": "text", "text": "It is sunny."},
    ]}]))?;
    use ItemKind::*;
    assert_eq!(
        hosted(&parsed),
        vec![
            (Message, None, None, "Let me search.", None),
            (
                ServerToolUse,
                Some("srvtoolu_01Eo"),
                Some("web_search"),
                r#"{"query":"San Francisco weather today"}"#,
                None
            ),
            (
                ServerToolResult,
                Some("srvtoolu_01Eo"),
                Some("web_search_tool_result"),
                "San Francisco, CA Weather <https://weather.com/sf>",
                Some("completed")
            ),
            (
                ServerToolResult,
                Some("srvtoolu_02"),
                Some("web_search_tool_result"),
                "error: max_uses_exceeded",
                Some("failed")
            ),
            (Message, None, None, "It is sunny.", None),
        ]
    );
    Ok(())
}
