//! The reference agent's newer shapes and runtimes (`shared/reference/codex-upstream-notes.md`,
//! §1.7 and §2.4), through the real layer: agent tool names, item-identity rules, cache-write
//! tokens, compaction retries, reasoning enrichment, per-thread turn ids, and code-mode waits.
//! The bodies follow the shapes those notes describe from the reference's sources (no
//! recorded bodies of them exist in the corpus).

mod support;

use pretty_assertions::assert_eq;
use serde_json::{json, Value};
use support::graph::messages;
use support::layer::reduce;
use support::payloads::{inference, payload};
use support::spans::{in_agent, in_rollout, in_thread, in_turn};
use tracing::info_span;
use tracing_rollout::reduce::{Anchor, CodeCell, EdgeKind, RolloutState, Status, Usage};

/// Runs `f` in turn `t1` of thread `main`.
fn main_turn(f: impl FnOnce()) {
    in_thread("main", || in_turn("t1", f));
}

/// Records `f(thread)` in thread `lead`, then in thread `helper`, of rollout `rollout_id`,
/// and reduces the bundle.
fn in_lead_then_helper(rollout_id: &str, f: impl Fn(&str)) -> anyhow::Result<RolloutState> {
    reduce(|| {
        in_rollout(rollout_id, || {
            for thread in ["lead", "helper"] {
                in_thread(thread, || f(thread));
            }
        })
    })
}

fn infer(provider: &str, request: &Value, response: Option<&Value>) {
    inference(
        "m",
        provider,
        &request.to_string(),
        response.map(Value::to_string).as_deref(),
    );
}

fn first_cell(state: &RolloutState) -> anyhow::Result<&CodeCell> {
    state
        .code_cells
        .values()
        .next()
        .ok_or_else(|| anyhow::anyhow!("no code cell"))
}

fn user(text: &str) -> Value {
    json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]})
}

fn inferences(state: &RolloutState) -> Vec<&tracing_rollout::reduce::InferenceCall> {
    let mut calls: Vec<_> = state.inference_calls.values().collect();
    calls.sort_by_key(|c| c.execution.started_seq);
    calls
}

#[test]
fn followup_task_is_a_task_edge_and_interrupt_agent_a_close_edge() -> anyhow::Result<()> {
    // The reference maps `followup_task` to AssignAgentTask (#25267) and `interrupt_agent` to
    // CloseAgent (#27007).
    let state = reduce(|| {
        in_rollout("agents", || {
            in_thread("lead", || {
                in_thread("helper", || {
                    in_turn("h1", || {
                        infer(
                            "openai",
                            &json!({"input": [user("Now check the tests")]}),
                            None,
                        )
                    })
                });
                in_turn("l1", || {
                    for (kind, message) in [
                        ("followup_task", Some("Now check the tests")),
                        ("interrupt_agent", None),
                    ] {
                        let span = info_span!(
                            "rollout.tool",
                            tool = kind,
                            kind = kind,
                            target_thread_id = "helper",
                            message = tracing::field::Empty
                        );
                        if let Some(message) = message {
                            span.record("message", message);
                        }
                        span.in_scope(|| {});
                    }
                });
            });
        })
    })?;
    let kinds: Vec<(EdgeKind, bool)> = {
        let mut edges: Vec<_> = state.edges.values().collect();
        edges.sort_by_key(|e| e.edge_id.clone());
        edges.iter().map(|e| (e.kind, e.delivered)).collect()
    };
    assert_eq!(kinds, vec![(EdgeKind::Task, true), (EdgeKind::Close, true)]);
    let close = state
        .edges
        .values()
        .find(|e| e.kind == EdgeKind::Close)
        .ok_or_else(|| anyhow::anyhow!("no close edge"))?;
    assert_eq!(close.to, Anchor::Thread("helper".into()));
    Ok(())
}

#[test]
fn internal_metadata_and_additional_tools_do_not_change_or_add_items() -> anyhow::Result<()> {
    // #28968/#36221: a top-level `internal_chat_message_metadata_passthrough` is stripped
    // before items are compared; #27946: `additional_tools` input items are not conversation.
    let first = json!({"input": [
        user("hi"),
        {"type": "additional_tools", "tools": [{"type": "function", "name": "shell"}]},
        {"type": "tool_search_output", "id": "ts_1", "tools": [], "internal_chat_message_metadata_passthrough": {"turn": 1}},
    ]});
    let second = json!({"input": [
        user("hi"),
        {"type": "additional_tools", "tools": [{"type": "function", "name": "shell"}, {"type": "function", "name": "apply_patch"}]},
        {"type": "tool_search_output", "id": "ts_1", "tools": [], "internal_chat_message_metadata_passthrough": {"turn": 2}},
        user("again"),
    ]});
    let state = reduce(|| {
        main_turn(|| {
            infer("openai", &first, None);
            infer("openai", &second, None);
        })
    })?;
    let calls = inferences(&state);
    assert_eq!(state.request_items(calls[0]).len(), 2);
    assert_eq!(
        state.request_items(calls[1])[..2],
        state.request_items(calls[0])[..]
    );
    assert_eq!(state.threads["main"].conversation.len(), 3);
    Ok(())
}

#[test]
fn cache_write_tokens_are_counted_apart_and_in_the_input() -> anyhow::Result<()> {
    // The corpus's anthropic/multi-turn-cache-creation-read usage, and the reference's Codex
    // `token_usage` with `cache_write_input_tokens` (#33454).
    let anthropic = json!({"id": "msg_1", "type": "message", "role": "assistant",
        "content": [{"type": "text", "text": "ok"}],
        "usage": {"input_tokens": 3, "cache_creation_input_tokens": 598, "cache_read_input_tokens": 4597, "output_tokens": 350}});
    let codex = json!({"response_id": "resp_1", "output_items": [{"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "ok"}]}],
        "token_usage": {"input_tokens": 5000, "cached_input_tokens": 4000, "cache_write_input_tokens": 600, "output_tokens": 20, "reasoning_output_tokens": 5}});
    let state = reduce(|| {
        main_turn(|| {
            infer(
                "anthropic",
                &json!({"messages": [{"role": "user", "content": "hi"}]}),
                Some(&anthropic),
            );
            infer("openai", &json!({"input": [user("hi")]}), Some(&codex));
        })
    })?;
    let usage: Vec<_> = inferences(&state).iter().map(|c| c.usage).collect();
    assert_eq!(
        usage,
        vec![
            Some(Usage {
                input_tokens: 5198,
                output_tokens: 350,
                cached_input_tokens: 4597,
                cache_write_input_tokens: 598,
                ..Usage::default()
            }),
            Some(Usage {
                input_tokens: 5000,
                output_tokens: 20,
                cached_input_tokens: 4000,
                reasoning_tokens: 5,
                cache_write_input_tokens: 600,
            })
        ]
    );
    Ok(())
}

#[test]
fn a_compaction_retried_with_another_model_is_one_compaction_with_two_attempts(
) -> anyhow::Result<()> {
    // #30319: a compaction retried with another model writes several requests under one
    // `compaction_id`.
    let state = reduce(|| {
        main_turn(|| {
            info_span!(
                "rollout.compaction",
                compaction_id = "cmp-1",
                model = "gpt-5",
                error = "context_length_exceeded"
            )
            .in_scope(|| {});
            info_span!(
                "rollout.compaction",
                compaction_id = "cmp-1",
                model = "gpt-5-mini"
            )
            .in_scope(|| {
                payload(
                    "checkpoint",
                    &json!({"input_history": [user("a long history")],
                            "replacement_history": [user("summary")]})
                    .to_string(),
                );
            });
        })
    })?;
    assert_eq!(state.compactions.len(), 1);
    let c = &state.compactions["cmp-1"];
    let attempts: Vec<_> = c
        .attempts
        .iter()
        .map(|a| (a.model.as_deref(), a.execution.status))
        .collect();
    assert_eq!(
        attempts,
        vec![
            (Some("gpt-5"), Status::Failed),
            (Some("gpt-5-mini"), Status::Completed)
        ]
    );
    assert_eq!(
        (
            c.model.as_deref(),
            c.execution.status,
            c.replacement_items.len()
        ),
        (Some("gpt-5-mini"), Status::Completed, 1)
    );
    assert_eq!(state.turns["t1"].compactions, vec!["cmp-1"]);
    assert_eq!(state.diagnostics, vec![]);
    Ok(())
}

#[test]
fn reasoning_is_identified_by_its_encrypted_content_and_keeps_the_richest_text(
) -> anyhow::Result<()> {
    // #20123. The shapes of the corpus's responses/reasoning-summary-function-call (a response
    // reasoning item with a summary) and reasoning-encrypted-interleaved-tools (replayed with
    // an empty summary): first seen without text, then with it, then without again.
    let bare = json!({"type": "reasoning", "summary": [], "encrypted_content": "gAAAAB-opaque"});
    let rich = json!({"type": "reasoning", "id": "rs_1",
        "summary": [{"type": "summary_text", "text": "**Planning the lookup**"}], "encrypted_content": "gAAAAB-opaque"});
    let state = reduce(|| {
        main_turn(|| {
            infer("openai", &json!({"input": [user("hi"), bare]}), None);
            infer("openai", &json!({"input": [user("hi"), rich]}), None);
            infer(
                "openai",
                &json!({"input": [user("hi"), bare, user("more")]}),
                None,
            );
        })
    })?;
    let calls = inferences(&state);
    let reasoning = state.request_items(calls[0])[1];
    assert_eq!(state.request_items(calls[1])[1], reasoning);
    assert_eq!(state.request_items(calls[2])[1], reasoning);
    assert_eq!(
        state.conversation_items[reasoning].text,
        "**Planning the lookup**"
    );
    Ok(())
}

#[test]
fn turn_ids_every_thread_numbers_from_zero_are_scoped_without_a_warning() -> anyhow::Result<()> {
    // The reference numbers turns per thread: every child's turns are 0..n.
    let state = reduce(|| {
        in_rollout("turns", || {
            in_thread("lead", || {
                info_span!("rollout.turn", turn_id = 0).in_scope(|| {});
                for child in ["a", "b"] {
                    in_thread(child, || {
                        info_span!("rollout.turn", turn_id = 0).in_scope(|| {});
                        info_span!("rollout.turn", turn_id = 1).in_scope(|| {});
                    });
                }
            });
        })
    })?;
    assert_eq!(state.threads["a"].turns, vec!["a/0", "1"]);
    assert_eq!(state.threads["b"].turns, vec!["b/0", "b/1"]);
    assert_eq!(state.diagnostics, vec![]);
    Ok(())
}

/// Responses function call / custom call items and outputs, as the reference's code mode
/// sends them (`exec` carries the cell's code, `wait` names the cell by its runtime id).
mod code_mode {
    use serde_json::{json, Value};

    pub(super) fn exec(call_id: &str, code: &str) -> Value {
        json!({"type": "custom_tool_call", "call_id": call_id, "name": "exec", "input": code})
    }
    pub(super) fn exec_output(call_id: &str, text: &str) -> Value {
        json!({"type": "custom_tool_call_output", "call_id": call_id, "output": text})
    }
    pub(super) fn wait(call_id: &str, cell_id: &str) -> Value {
        json!({"type": "function_call", "call_id": call_id, "name": "wait",
               "arguments": json!({"cell_id": cell_id, "yield_time_ms": 1000}).to_string()})
    }
    pub(super) fn wait_output(call_id: &str, text: &str) -> Value {
        json!({"type": "function_call_output", "call_id": call_id, "output": text})
    }
    pub(super) fn respond(items: Value) -> Value {
        json!({"id": format!("resp_{}", items.to_string().len()), "output": items})
    }
}

#[test]
fn a_yielded_code_cell_lists_its_waits_and_outputs_in_order_and_outlives_its_turn(
) -> anyhow::Result<()> {
    // The reference's `code_cell_lifecycle_links_nested_tools_waits_and_outputs` (§2.4): the
    // cell yields with its initial output, the model waits on it twice (once the reference's
    // way, the cell id in the `wait` call's arguments; once with `kind = "wait"` and a
    // `cell_id` field), and the cell ends in the next turn.
    use code_mode::*;
    let u = user("run the build");
    let e = exec(
        "call_exec",
        "const r = await tools.shell('make'); yield_control(); ...",
    );
    let (o1, w1) = (exec_output("call_exec", "building…"), wait("call_w1", "7"));
    let (o2, w2) = (wait_output("call_w1", "50%"), wait("call_w2", "7"));
    let o3 = wait_output("call_w2", "done: 0 errors");
    let state = reduce(|| {
        in_thread("main", || {
            let turn1 = info_span!("rollout.turn", turn_id = "t1");
            // Outliving its turn, the cell is the thread's child and names its turn.
            let cell = info_span!(
                "rollout.code_cell",
                turn_id = "t1",
                cell_id = "7",
                call_id = "call_exec",
                language = "javascript",
                status = tracing::field::Empty
            );
            turn1.in_scope(|| {
                infer("openai", &json!({"input": [u]}), Some(&respond(json!([e]))));
                cell.record("status", "yielded");
                infer(
                    "openai",
                    &json!({"input": [u, e, o1]}),
                    Some(&respond(json!([w1]))),
                );
                info_span!("rollout.tool", tool = "wait", call_id = "call_w1").in_scope(|| {});
            });
            drop(turn1);
            in_turn("t2", || {
                infer(
                    "openai",
                    &json!({"input": [u, e, o1, w1, o2]}),
                    Some(&respond(json!([w2]))),
                );
                info_span!(
                    "rollout.tool",
                    tool = "wait_for_cell",
                    kind = "wait",
                    cell_id = "7",
                    call_id = "call_w2"
                )
                .in_scope(|| {});
                drop(cell);
                infer(
                    "openai",
                    &json!({"input": [u, e, o1, w1, o2, w2, o3]}),
                    None,
                );
            });
        })
    })?;
    let cell = first_cell(&state)?;
    let text = |id: &String| state.conversation_items[id].text.clone();
    assert_eq!(
        cell.output_items.iter().map(text).collect::<Vec<_>>(),
        vec!["building…", "50%", "done: 0 errors"]
    );
    let waits: Vec<_> = cell
        .waits
        .iter()
        .map(|t| state.tool_calls[t].call_id.clone().unwrap_or_default())
        .collect();
    assert_eq!(waits, vec!["call_w1", "call_w2"]);
    for t in &cell.waits {
        assert_eq!(
            state.tool_calls[t].waited_cell.as_ref(),
            Some(&cell.code_cell_id)
        );
    }
    let turn1_end = state.turns["t1"].execution.ended_seq.unwrap_or(u64::MAX);
    assert!(cell.yielded_seq.is_some_and(|s| s < turn1_end));
    assert!(cell.yielded_at_unix_ms.is_some());
    assert_eq!(cell.turn_id.as_deref(), Some("t1"));
    assert_eq!(
        state.turns["t1"].code_cells,
        vec![cell.code_cell_id.clone()]
    );
    assert_eq!(cell.execution.status, Status::Completed);
    assert!(cell.execution.ended_seq.is_some_and(|s| s > turn1_end));
    assert_eq!(state.diagnostics, vec![]);
    Ok(())
}

#[test]
fn a_cell_still_running_when_its_turn_is_cancelled_ends_cancelled() -> anyhow::Result<()> {
    // The reference's `cancelled_turn_terminates_unfinished_code_cell`: the runtime closes the
    // cell after the turn was interrupted, without a status of its own.
    let state = reduce(|| {
        in_thread("main", || {
            let turn = info_span!("rollout.turn", turn_id = "t1", status = "cancelled");
            let cell = info_span!(
                "rollout.code_cell",
                turn_id = "t1",
                cell_id = "1",
                status = "yielded"
            );
            drop(turn);
            drop(cell);
        })
    })?;
    let cell = first_cell(&state)?;
    assert_eq!(cell.execution.status, Status::Cancelled);
    Ok(())
}

#[test]
fn runtime_cell_ids_repeat_across_threads_as_two_cells_each_with_its_own_waits(
) -> anyhow::Result<()> {
    // The reference's `runtime_code_cell_ids_can_repeat_across_threads`: every thread's
    // runtime numbers its cells from 1.
    let state = in_lead_then_helper("cells", |thread| {
        info_span!("rollout.turn", turn_id = format!("{thread}-1")).in_scope(|| {
            info_span!("rollout.code_cell", cell_id = "1").in_scope(|| {});
            info_span!(
                "rollout.tool",
                kind = "wait",
                cell_id = "1",
                call_id = format!("w-{thread}")
            )
            .in_scope(|| {});
        })
    })?;
    assert_eq!(state.code_cells.len(), 2);
    for cell in state.code_cells.values() {
        let waits: Vec<_> = cell
            .waits
            .iter()
            .map(|t| state.tool_calls[t].thread_id.clone())
            .collect();
        assert_eq!(waits, vec![cell.thread_id.clone()]);
    }
    Ok(())
}

#[test]
fn agent_messages_carry_author_and_recipient_and_take_deliveries_by_exact_ciphertext(
) -> anyhow::Result<()> {
    // The v2 delivery of #26210/#27830/#28368 (notes §1.7): an `agent_message` input item with
    // author and recipient; one plaintext, one an envelope header plus encrypted content, the
    // sender's tool carrying the ciphertext as its message.
    let plain = json!({"type": "agent_message", "author": "/root", "recipient": "/root/worker",
        "content": [{"type": "input_text", "text": "Summarise the failing tests"}]});
    // The same words from another agent: not the root's delivery.
    let decoy = json!({"type": "agent_message", "author": "/root/other", "recipient": "/root/worker",
        "content": [{"type": "input_text", "text": "Summarise the failing tests"}]});
    let sealed = json!({"type": "agent_message", "author": "/root", "recipient": "/root/worker",
        "content": [{"type": "input_text", "text": "Message Type: MESSAGE\nFrom: /root"},
                    {"type": "encrypted_content", "encrypted_content": "gAAAAB-ciphertext-7f3a"}]});
    let state = reduce(|| {
        in_rollout("v2", || {
            in_agent("root", "/root", || {
                in_turn("r1", || {
                    // A prefix of the ciphertext is not its content: never delivered.
                    for (tool, message) in [
                        ("send_message", "gAAAAB-ciphertext"),
                        ("send_message", "Summarise the failing tests"),
                        ("send_message", "gAAAAB-ciphertext-7f3a"),
                    ] {
                        info_span!(
                            "rollout.tool",
                            kind = tool,
                            target_thread_id = "worker",
                            message = message
                        )
                        .in_scope(|| {});
                    }
                });
                in_agent("worker", "/root/worker", || {
                    in_turn("w1", || {
                        infer("openai", &json!({"input": [decoy, plain, sealed]}), None)
                    })
                });
            });
        })
    })?;
    let items = &state.request_items(inferences(&state)[0])[1..];
    let meta: Vec<_> = items
        .iter()
        .map(|id| {
            let i = &state.conversation_items[*id];
            let m = i.agent_message.as_deref().cloned().unwrap_or(
                tracing_rollout::reduce::AgentMessage {
                    author: None,
                    recipient: None,
                },
            );
            (i.role.clone(), m.author, m.recipient)
        })
        .collect();
    let expected = (
        Some("assistant".to_owned()),
        Some("/root".to_owned()),
        Some("/root/worker".to_owned()),
    );
    assert_eq!(meta, vec![expected.clone(), expected]);
    let mut edges: Vec<_> = state.edges.values().collect();
    edges.sort_by_key(|e| (e.started_at_unix_ms, e.edge_id.len(), e.edge_id.clone()));
    let targets: Vec<_> = edges.iter().map(|e| (e.delivered, e.to.clone())).collect();
    assert_eq!(
        targets,
        vec![
            (false, Anchor::Thread("worker".into())),
            (true, Anchor::ConversationItem(items[0].to_owned())),
            (true, Anchor::ConversationItem(items[1].to_owned()))
        ]
    );
    let diagnostics = messages(&state);
    assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
    assert!(
        diagnostics[0].contains("was never delivered"),
        "{diagnostics:?}"
    );
    Ok(())
}

#[test]
fn compaction_ids_every_thread_numbers_alike_are_scoped_and_retries_stay_in_their_thread(
) -> anyhow::Result<()> {
    let state = in_lead_then_helper("compactions", |_| {
        for model in ["gpt-5", "gpt-5-mini"] {
            info_span!("rollout.compaction", compaction_id = "c0", model = model).in_scope(|| {});
        }
    })?;
    let ids: Vec<_> = state.compactions.keys().cloned().collect();
    assert_eq!(ids, vec!["c0", "helper/c0"]);
    for c in state.compactions.values() {
        assert_eq!(c.attempts.len(), 2, "{c:?}");
    }
    assert_eq!(state.diagnostics, vec![]);
    Ok(())
}
