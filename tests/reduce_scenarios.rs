//! Reducer scenarios: spans through the real layer in, rollout graph out — one behaviour each.

mod support;

use pretty_assertions::assert_eq;
use serde_json::json;
use support::graph::{messages, model_of};
use support::layer::{record, reduce, Bundle};
use support::payloads::{infer, payload};
use support::responses::{
    call, custom_call, custom_output, incremental, msg, output, request, response,
};
use support::spans::{in_main_turn, in_rollout, in_thread, in_turn};
use tracing::info_span;
use tracing_rollout::reduce::{Anchor, ItemKind, Producer, Requester, RolloutState, Status, Usage};

/// Records `f` in the scenario frame (rollout `scenario`, thread `main`, turn `t1`).
fn scenario_bundle(f: impl FnOnce()) -> anyhow::Result<Bundle> {
    record(|| in_main_turn("scenario", f))
}

/// Records `f` in the scenario frame and reduces the bundle.
fn scenario(f: impl FnOnce()) -> anyhow::Result<RolloutState> {
    Ok(scenario_bundle(f)?.reduce()?)
}

/// What a call reports: `input` tokens (`cached` of them read from the cache) and `output`
/// tokens, no reasoning tokens, no cache writes.
fn usage(input: u64, output: u64, cached: u64) -> Option<Usage> {
    Some(Usage {
        input_tokens: input,
        output_tokens: output,
        cached_input_tokens: cached,
        ..Usage::default()
    })
}

fn texts(state: &RolloutState, ids: &[&str]) -> Vec<String> {
    ids.iter()
        .map(|id| state.conversation_items[*id].text.clone())
        .collect()
}

#[test]
fn a_repeated_snapshot_reuses_items_but_a_new_identical_item_is_new() -> anyhow::Result<()> {
    let state = scenario(|| {
        infer(&request(&[msg("user", "hi")]), None);
        // Same history plus a second, identical "hi": the first reuses, the second is new.
        infer(&request(&[msg("user", "hi"), msg("user", "hi")]), None);
    })?;
    let calls: Vec<_> = state.inference_calls.values().collect();
    assert_eq!(state.request_items(calls[0]), vec!["item:1"]);
    assert_eq!(state.request_items(calls[1]), vec!["item:1", "item:2"]);
    assert_eq!(state.threads["main"].conversation, vec!["item:1", "item:2"]);
    Ok(())
}

#[test]
fn response_items_join_the_thread_and_the_next_request_reuses_them() -> anyhow::Result<()> {
    let state = scenario(|| {
        infer(
            &request(&[msg("user", "hi")]),
            Some(&response("r1", &[msg("assistant", "hello")], 10, 2)),
        );
        infer(
            &request(&[
                msg("user", "hi"),
                msg("assistant", "hello"),
                msg("user", "bye"),
            ]),
            None,
        );
    })?;
    let calls: Vec<_> = state.inference_calls.values().collect();
    assert_eq!(calls[0].response_items, vec!["item:2".to_owned()]);
    assert_eq!(
        state.request_items(calls[1]),
        vec!["item:1", "item:2", "item:3"]
    );
    assert_eq!(
        state.conversation_items["item:2"].produced_by,
        vec![Producer::Inference(calls[0].inference_call_id.clone())]
    );
    assert_eq!(calls[0].usage, usage(10, 2, /*cached*/ 0));
    Ok(())
}

#[test]
fn an_incremental_request_rebuilds_the_omitted_prefix() -> anyhow::Result<()> {
    let state = scenario(|| {
        infer(
            &request(&[msg("user", "hi")]),
            Some(&response("resp_1", &[msg("assistant", "hello")], 1, 1)),
        );
        infer(&incremental("resp_1", &[msg("user", "more")]), None);
    })?;
    let calls: Vec<_> = state.inference_calls.values().collect();
    assert_eq!(calls[1].previous_response_id.as_deref(), Some("resp_1"));
    assert_eq!(
        texts(&state, &state.request_items(calls[1])),
        vec!["hi", "hello", "more"]
    );
    assert!(state.diagnostics.is_empty(), "{:?}", state.diagnostics);
    Ok(())
}

#[test]
fn a_reordered_snapshot_reuses_each_item_once() -> anyhow::Result<()> {
    let state = scenario(|| {
        infer(
            &request(&[msg("system", "sys"), msg("user", "a"), msg("user", "b")]),
            None,
        );
        infer(
            &request(&[msg("user", "b"), msg("system", "sys"), msg("user", "a")]),
            None,
        );
    })?;
    let calls: Vec<_> = state.inference_calls.values().collect();
    assert_eq!(
        state.request_items(calls[0]),
        vec!["item:1", "item:2", "item:3"]
    );
    assert_eq!(
        state.request_items(calls[1]),
        vec!["item:3", "item:1", "item:2"]
    );
    assert_eq!(state.conversation_items.len(), 3);
    Ok(())
}

#[test]
fn a_call_id_reused_with_different_content_is_an_error_naming_the_line() -> anyhow::Result<()> {
    let bundle = scenario_bundle(|| {
        infer(
            &request(&[msg("user", "go")]),
            Some(&response(
                "r1",
                &[call("c1", "shell", r#"{"cmd":"ls"}"#)],
                1,
                1,
            )),
        );
        infer(
            &request(&[
                msg("user", "go"),
                call("c1", "shell", r#"{"cmd":"rm -rf /"}"#),
            ]),
            None,
        );
    })?;
    let err = bundle.reduce().expect_err("contradiction must fail");
    let text = err.to_string();
    assert!(text.contains("call id `c1`"), "{text}");
    assert!(text.contains("at line "), "{text}");
    Ok(())
}

#[test]
fn an_unknown_payload_shape_is_a_diagnostic_not_a_crash() -> anyhow::Result<()> {
    let state = scenario(|| {
        infer(
            &json!({"prompt": "completion-style"}),
            Some(&json!({"text": "??"})),
        );
    })?;
    let call = state.inference_calls.values().next().expect("one call");
    assert!(state.request_items(call).is_empty());
    assert_eq!(call.request_payload.is_some(), true);
    let messages = messages(&state);
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(messages[0].contains("kept as raw evidence"), "{messages:?}");
    assert_eq!(state.status, Status::Completed);
    Ok(())
}

#[test]
fn a_compaction_replaces_the_baseline_of_the_next_request() -> anyhow::Result<()> {
    let state = scenario(|| {
        infer(
            &request(&[msg("developer", "rules"), msg("user", "long task")]),
            Some(&response("r1", &[msg("assistant", "working")], 1, 1)),
        );
        {
            let compaction = info_span!("rollout.compaction", compaction_id = "cmp1");
            let _c = compaction.enter();
            let checkpoint = json!({
                "input_history": [msg("developer", "rules"), msg("user", "long task"), msg("assistant", "working")],
                "replacement_history": [msg("user", "summary: working on long task")],
            });
            payload("checkpoint", &checkpoint.to_string());
        }
        infer(
            &request(&[
                msg("developer", "rules"),
                msg("user", "summary: working on long task"),
                msg("user", "continue"),
            ]),
            None,
        );
    })?;
    let compaction = &state.compactions["cmp1"];
    assert_eq!(compaction.input_items, vec!["item:1", "item:2", "item:3"]);
    let marker = compaction.marker_item.clone().expect("marker");
    assert_eq!(
        state.conversation_items[&marker].kind,
        ItemKind::CompactionMarker
    );
    assert_eq!(compaction.replacement_items, vec!["item:5"]);
    let last = state.inference_calls.values().last().expect("call");
    // The developer prefix is new after the boundary; the summary is reused.
    assert_eq!(
        state.request_items(last),
        vec!["item:6", "item:5", "item:7"]
    );
    assert_eq!(
        state.conversation_items["item:5"].produced_by,
        vec![Producer::Compaction("cmp1".into())]
    );
    Ok(())
}

#[allow(clippy::expect_used)] // a test body shared by two tests
fn tool_and_response(tool_first: bool) -> anyhow::Result<()> {
    let state = scenario(|| {
        let inference = info_span!("rollout.inference", model = "m");
        let tool = || {
            info_span!(
                "rollout.tool",
                tool = "shell",
                call_id = "c1",
                kind = "function"
            )
        };
        let mut tool_span = None;
        {
            let _i = inference.enter();
            payload("request", &request(&[msg("user", "ls")]).to_string());
            if tool_first {
                tool_span = Some(tool());
            }
            payload(
                "response",
                &response("r1", &[call("c1", "shell", r#"{"cmd":"ls"}"#)], 5, 3).to_string(),
            );
        }
        drop(inference);
        let tool_span = tool_span.unwrap_or_else(tool);
        tool_span.in_scope(|| payload("result", r#""a.txt""#));
        drop(tool_span);
        infer(
            &request(&[
                msg("user", "ls"),
                call("c1", "shell", r#"{"cmd":"ls"}"#),
                output("c1", "a.txt"),
            ]),
            None,
        );
    })?;
    let inference = state.inference_calls.values().next().expect("call");
    let tool = state.tool_calls.values().next().expect("tool");
    assert_eq!(tool.requester, model_of(inference));
    assert_eq!(tool.call_items, vec!["item:2"]);
    assert_eq!(tool.output_items, vec!["item:3"]);
    assert_eq!(inference.tool_calls, vec![tool.tool_call_id.clone()]);
    assert_eq!(
        state.conversation_items["item:3"].produced_by,
        vec![Producer::ToolCall(tool.tool_call_id.clone())]
    );
    Ok(())
}

#[test]
fn a_tool_started_before_its_response_record_still_links_to_it() -> anyhow::Result<()> {
    tool_and_response(true)
}

#[test]
fn a_tool_started_after_its_response_links_to_it() -> anyhow::Result<()> {
    tool_and_response(false)
}

#[test]
fn a_code_cell_started_before_its_source_item_gets_it_and_its_nested_tools() -> anyhow::Result<()> {
    let state = scenario(|| {
        let inference = info_span!("rollout.inference", model = "m");
        let cell = {
            let _i = inference.enter();
            payload("request", &request(&[msg("user", "compute")]).to_string());
            // The runtime starts the cell while the response is still streaming.
            let cell = info_span!(
                "rollout.code_cell",
                cell_id = "cell-1",
                call_id = "exec1",
                language = "javascript"
            );
            payload(
                "response",
                &response(
                    "r1",
                    &[custom_call(
                        "exec1",
                        "exec",
                        "await tools.a(); await tools.b();",
                    )],
                    1,
                    1,
                )
                .to_string(),
            );
            cell
        };
        drop(inference);
        cell.in_scope(|| {
            info_span!("rollout.tool", tool = "a", kind = "function").in_scope(|| {});
            info_span!("rollout.tool", tool = "b", kind = "function").in_scope(|| {});
        });
        drop(cell);
        infer(
            &request(&[
                msg("user", "compute"),
                custom_call("exec1", "exec", "await tools.a(); await tools.b();"),
                custom_output("exec1", "done"),
            ]),
            None,
        );
    })?;
    let cell = state.code_cells.values().next().expect("cell");
    assert_eq!(cell.cell_id.as_deref(), Some("cell-1"));
    assert_eq!(cell.source_item.as_deref(), Some("item:2"));
    assert_eq!(cell.output_items, vec!["item:3"]);
    assert_eq!(cell.tool_calls.len(), 2);
    for tool in &cell.tool_calls {
        assert_eq!(
            state.tool_calls[tool].requester,
            Requester::CodeCell {
                code_cell_id: cell.code_cell_id.clone()
            }
        );
    }
    assert_eq!(
        state.conversation_items["item:3"].produced_by,
        vec![Producer::CodeCell(cell.code_cell_id.clone())]
    );
    Ok(())
}

#[test]
fn a_cancelled_turn_cancels_the_inference_it_dropped_mid_stream() -> anyhow::Result<()> {
    let state = reduce(|| {
        in_rollout("cancel", || {
            in_thread("main", || {
                let turn = info_span!(
                    "rollout.turn",
                    turn_id = "t1",
                    status = tracing::field::Empty
                );
                turn.in_scope(|| {
                    // The request went out; the future was dropped before any response.
                    let inference = info_span!("rollout.inference", model = "m");
                    inference.in_scope(|| {
                        payload("request", &request(&[msg("user", "hi")]).to_string())
                    });
                });
                turn.record("status", "cancelled");
            })
        })
    })?;
    let call = state.inference_calls.values().next().expect("call");
    assert_eq!(call.execution.status, Status::Cancelled);
    assert_eq!(state.turns["t1"].execution.status, Status::Cancelled);
    Ok(())
}

#[test]
fn chat_completions_payloads_link_tools_and_usage() -> anyhow::Result<()> {
    let state = scenario(|| {
        let inference = info_span!("rollout.inference", model = "gpt-4o", provider = "openai");
        inference.in_scope(|| {
            payload("request", &json!({"model": "gpt-4o", "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "weather?"}
            ]}).to_string());
            payload("response", &json!({"id": "chatcmpl-1", "choices": [{"index": 0, "message": {
                "role": "assistant", "content": null,
                "tool_calls": [{"id": "call_w", "type": "function", "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}}]
            }}], "usage": {"prompt_tokens": 20, "completion_tokens": 7, "prompt_tokens_details": {"cached_tokens": 4}}}).to_string());
        });
        info_span!("rollout.tool", tool = "weather", call_id = "call_w").in_scope(|| {});
        info_span!("rollout.inference", model = "gpt-4o").in_scope(|| {
            payload("request", &json!({"model": "gpt-4o", "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "weather?"},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "call_w", "type": "function", "function": {"name": "weather", "arguments": "{\"city\": \"Paris\"}"}}]},
                {"role": "tool", "tool_call_id": "call_w", "content": "sunny"}
            ]}).to_string());
        });
    })?;
    let calls: Vec<_> = state.inference_calls.values().collect();
    assert_eq!(calls[0].payload_format.as_deref(), Some("openai_chat"));
    assert_eq!(calls[0].usage, usage(20, 7, /*cached*/ 4));
    let tool = state.tool_calls.values().next().expect("tool");
    assert_eq!(tool.requester, model_of(calls[0]));
    assert_eq!(tool.call_items, calls[0].response_items);
    assert_eq!(tool.output_items.len(), 1);
    assert_eq!(state.request_items(calls[1]).len(), 4);
    assert_eq!(state.request_items(calls[1])[2], calls[0].response_items[0]);
    Ok(())
}

#[test]
fn anthropic_messages_payloads_link_tools_and_usage() -> anyhow::Result<()> {
    let state = scenario(|| {
        info_span!(
            "rollout.inference",
            model = "claude",
            provider = "anthropic"
        )
        .in_scope(|| {
            payload(
                "request",
                &json!({"model": "claude", "system": "be brief", "max_tokens": 100,
                "messages": [{"role": "user", "content": "read a.txt"}]})
                .to_string(),
            );
            payload(
                "response",
                &json!({"id": "msg_1", "type": "message", "role": "assistant", "content": [
                {"type": "text", "text": "Reading."},
                {"type": "tool_use", "id": "toolu_1", "name": "read", "input": {"path": "a.txt"}}
            ], "usage": {"input_tokens": 30, "output_tokens": 9, "cache_read_input_tokens": 12}})
                .to_string(),
            );
        });
        info_span!("rollout.tool", tool = "read", call_id = "toolu_1").in_scope(|| {});
        info_span!("rollout.inference", model = "claude", provider = "anthropic").in_scope(|| {
            payload("request", &json!({"model": "claude", "system": "be brief", "max_tokens": 100, "messages": [
                {"role": "user", "content": "read a.txt"},
                {"role": "assistant", "content": [
                    {"type": "text", "text": "Reading."},
                    {"type": "tool_use", "id": "toolu_1", "name": "read", "input": {"path": "a.txt"}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "hello"}]}
            ]}).to_string());
        });
    })?;
    let calls: Vec<_> = state.inference_calls.values().collect();
    assert_eq!(
        calls[0].payload_format.as_deref(),
        Some("anthropic_messages")
    );
    // Anthropic counts cache reads apart from `input_tokens`; the graph uses OpenAI's
    // convention (input includes cached) so totals compare across providers.
    assert_eq!(calls[0].usage, usage(42, 9, /*cached*/ 12));
    let tool = state.tool_calls.values().next().expect("tool");
    assert_eq!(tool.requester, model_of(calls[0]));
    assert_eq!(tool.output_items.len(), 1);
    // system, user, assistant text, tool_use, tool_result: the first four are reused.
    assert_eq!(state.request_items(calls[1]).len(), 5);
    assert_eq!(
        state.request_items(calls[1])[2..4],
        calls[0].response_items[..]
    );
    Ok(())
}

#[test]
fn openai_responses_usage_is_overridden_by_span_fields() -> anyhow::Result<()> {
    let state = scenario(|| {
        let span = info_span!(
            "rollout.inference",
            model = "m",
            output_tokens = tracing::field::Empty
        );
        span.in_scope(|| {
            payload("request", &request(&[msg("user", "hi")]).to_string());
            payload(
                "response",
                &response("r1", &[msg("assistant", "yo")], 11, 5).to_string(),
            );
        });
        span.record("output_tokens", 6_u64);
    })?;
    let call = state.inference_calls.values().next().expect("call");
    assert_eq!(call.payload_format.as_deref(), Some("openai_responses"));
    assert_eq!(call.usage, usage(11, 6, /*cached*/ 0));
    Ok(())
}

#[test]
fn an_exec_and_a_write_to_the_same_terminal_share_one_session() -> anyhow::Result<()> {
    let state = scenario(|| {
        info_span!("rollout.tool", tool = "exec_command", call_id = "c1").in_scope(|| {
            info_span!(
                "rollout.terminal",
                terminal_id = "pty-7",
                op = "exec",
                command = "python3",
                cwd = "/tmp"
            )
            .in_scope(|| payload("output", r#"">>> ""#));
        });
        info_span!("rollout.tool", tool = "write_stdin", call_id = "c2").in_scope(|| {
            let op = info_span!(
                "rollout.terminal",
                terminal_id = "pty-7",
                op = "write",
                exit_code = tracing::field::Empty
            );
            op.record("exit_code", 0_i64);
        });
    })?;
    let terminal = &state.terminals["pty-7"];
    assert_eq!(terminal.operations.len(), 2);
    let ops: Vec<_> = terminal
        .operations
        .iter()
        .map(|id| &state.terminal_operations[id])
        .collect();
    assert_eq!(ops[0].op.as_deref(), Some("exec"));
    assert_eq!(ops[0].command.as_deref(), Some("python3"));
    assert_eq!(ops[0].payloads.len(), 1);
    assert_eq!(ops[1].op.as_deref(), Some("write"));
    assert_eq!(ops[1].exit_code, Some(0));
    for op in ops {
        let tool = op.tool_call_id.as_ref().expect("tool");
        assert_eq!(
            state.tool_calls[tool].terminal_operations,
            vec![op.operation_id.clone()]
        );
    }
    Ok(())
}

/// A bundle with one request and its response, to damage.
fn one_exchange() -> anyhow::Result<Bundle> {
    scenario_bundle(|| {
        infer(
            &request(&[msg("user", "hi")]),
            Some(&response("r1", &[msg("assistant", "yo")], 1, 1)),
        )
    })
}

#[test]
fn a_torn_log_reduces_to_an_incomplete_graph() -> anyhow::Result<()> {
    let bundle = one_exchange()?;
    let trace = bundle.path.join("trace.jsonl");
    let text = std::fs::read_to_string(&trace)?;
    // Cut in the middle of the response payload record.
    let cut = text.find(r#""role":"response""#).expect("response record") + 10;
    std::fs::write(&trace, &text[..cut])?;
    let state = bundle.reduce()?;
    assert!(!state.complete);
    assert_eq!(state.status, Status::Incomplete);
    let call = state.inference_calls.values().next().expect("call");
    assert_eq!(call.execution.status, Status::Incomplete);
    assert_eq!(state.request_items(call).len(), 1);
    assert!(
        state.diagnostics.iter().any(|d| d.message.contains("torn")),
        "{:?}",
        state.diagnostics
    );
    Ok(())
}

#[test]
fn a_span_named_before_it_started_is_an_error_in_a_lossless_bundle() -> anyhow::Result<()> {
    let bundle = scenario_bundle(|| {})?;
    let trace = bundle.path.join("trace.jsonl");
    let mut text = std::fs::read_to_string(&trace)?;
    let n = text.lines().count() as u64;
    // Insert a record naming span 999999 just before `bundle_ended`.
    let last_start = text.trim_end().rfind('\n').expect("lines") + 1;
    let ended =
        text[last_start..].replace(&format!(r#""seq":{n}"#), &format!(r#""seq":{}"#, n + 1));
    text.truncate(last_start);
    text.push_str(&format!(
        r#"{{"seq":{n},"t":0,"ns":0,"type":"span_ended","span":999999}}"#
    ));
    text.push('\n');
    text.push_str(&ended);
    std::fs::write(&trace, text)?;
    let err = bundle.reduce().expect_err("unknown span");
    assert!(err.to_string().contains(&format!("line {n}")), "{err}");
    assert!(err.to_string().contains("never started"), "{err}");
    Ok(())
}

#[test]
fn a_resumed_thread_is_one_thread_with_two_attachments() -> anyhow::Result<()> {
    let state = reduce(|| {
        in_rollout("resume", || {
            for turn in ["t1", "t2"] {
                in_thread("main", || in_turn(turn, || {}));
            }
        })
    })?;
    let thread = &state.threads["main"];
    assert_eq!(thread.attachments, 2);
    assert_eq!(thread.turns, vec!["t1", "t2"]);
    assert_eq!(thread.execution.status, Status::Completed);
    assert_eq!(state.root_thread_id.as_deref(), Some("main"));
    Ok(())
}

#[test]
fn follows_from_between_spans_becomes_a_link_edge() -> anyhow::Result<()> {
    let state = scenario(|| {
        let first = info_span!("rollout.tool", tool = "a");
        let second = info_span!("rollout.tool", tool = "b");
        second.follows_from(&first);
    })?;
    let edge = state.edges.values().next().expect("edge");
    assert_eq!(edge.kind, tracing_rollout::reduce::EdgeKind::Link);
    assert!(matches!(edge.from, Anchor::ToolCall(_)));
    assert!(matches!(edge.to, Anchor::ToolCall(_)));
    Ok(())
}

#[test]
fn a_lossy_bundle_reduces_with_diagnostics_for_what_was_dropped() -> anyhow::Result<()> {
    let bundle = one_exchange()?;
    let trace = bundle.path.join("trace.jsonl");
    let text = std::fs::read_to_string(&trace)?;
    // What the writer leaves when the inference span's start was dropped in lossy mode: a
    // `dropped` record in its place (seq stays contiguous), later records still naming it.
    let lines: Vec<String> = text
        .lines()
        .map(|line| {
            if line.contains(r#""kind":"inference""#) {
                let seq = &line[..line.find(r#","type""#).expect("envelope")];
                format!(r#"{seq},"type":"dropped","records":1,"bytes":120}}"#)
            } else {
                line.to_owned()
            }
        })
        .collect();
    std::fs::write(&trace, lines.join("\n") + "\n")?;
    let state = bundle.reduce()?;
    assert!(state.inference_calls.is_empty());
    assert!(!state.complete);
    let messages = messages(&state);
    assert!(messages[0].contains("dropped 1 records"), "{messages:?}");
    assert!(
        messages
            .iter()
            .filter(|m| m.contains("whose start was dropped"))
            .count()
            >= 3,
        "{messages:?}"
    );
    Ok(())
}
