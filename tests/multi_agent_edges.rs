//! Multi-agent edges through the real layer: spawns on OS threads, deliveries that never
//! happen, results from children that said nothing, child lifetimes, and many deliveries to
//! one thread.

mod support;

use pretty_assertions::assert_eq;
use support::graph::{edges_of, messages};
use support::layer::reduce;
use support::payloads::infer;
use support::responses::{call, msg, output, request, response};
use support::spans::{in_agent, in_rollout, in_thread, in_turn, spawn_agent};
use tracing::info_span;
use tracing_rollout::reduce::{Anchor, EdgeKind, RolloutState, Status};

/// The graph of a lead thread spawning `worker` with `task` through a `spawn_agent` tool;
/// `child_work` runs inside the worker's thread span on another OS thread, then `lead_after`
/// in the lead's turn.
fn lead_spawning(
    task: &'static str,
    child_work: fn(),
    lead_after: fn(),
) -> anyhow::Result<RolloutState> {
    reduce(|| {
        in_rollout("edges", || {
            in_agent("lead", "/lead", || {
                in_turn("lead-1", || {
                    let (_tool, span) = spawn_agent("call_spawn", "worker", task);
                    let dispatch = tracing::dispatcher::get_default(Clone::clone);
                    std::thread::spawn(move || {
                        tracing::dispatcher::with_default(&dispatch, || span.in_scope(child_work));
                    })
                    .join()
                    .unwrap_or_else(|_| panic!("the child thread panicked"));
                    lead_after();
                })
            })
        })
    })
}

#[test]
fn a_child_on_an_os_thread_gets_a_spawn_edge_to_the_item_carrying_its_task() -> anyhow::Result<()> {
    let state = lead_spawning(
        "Count the lines of main.rs.",
        || {
            info_span!("rollout.turn", turn_id = "worker-1").in_scope(|| {
            infer(
                &request(&[msg("system", "You count."), msg("user", "Count the lines of main.rs.")]),
                Some(&response("r1", &[msg("assistant", "42 lines.")], 5, 2)),
            );
            tracing::info!(name: "rollout.agent_result", parent_thread_id = "lead", message = "42 lines.");
        });
        },
        || {
            // The lead reads the result in its next request.
            infer(&request(&[msg("user", "Child says: 42 lines.")]), None);
        },
    )?;
    assert_eq!(
        state.threads["worker"].parent_thread_id.as_deref(),
        Some("lead")
    );
    assert_eq!(state.threads["lead"].children, vec!["worker"]);
    let spawn = edges_of(&state, EdgeKind::Spawn);
    assert_eq!(spawn.len(), 1);
    assert!(spawn[0].delivered);
    let Anchor::ConversationItem(item) = &spawn[0].to else {
        panic!("spawn edge not delivered to an item: {:?}", spawn[0].to);
    };
    assert_eq!(state.conversation_items[item].thread_id, "worker");
    assert_eq!(
        state.conversation_items[item].text,
        "Count the lines of main.rs."
    );
    let result = edges_of(&state, EdgeKind::Result);
    assert_eq!(result.len(), 1);
    assert!(result[0].delivered);
    let Anchor::ConversationItem(source) = &result[0].from else {
        panic!(
            "result source is not the child's answer: {:?}",
            result[0].from
        );
    };
    assert_eq!(state.conversation_items[source].text, "42 lines.");
    assert_eq!(state.diagnostics, vec![]);
    Ok(())
}

#[test]
fn a_task_that_never_reaches_the_child_points_at_the_thread_undelivered() -> anyhow::Result<()> {
    let state = lead_spawning(
        "Count the lines of main.rs.",
        || {
            // The child's model never sees the task text.
            info_span!("rollout.turn", turn_id = "worker-1")
                .in_scope(|| infer(&request(&[msg("user", "something else")]), None));
        },
        || {},
    )?;
    let spawn = edges_of(&state, EdgeKind::Spawn);
    assert_eq!(spawn[0].to, Anchor::Thread("worker".into()));
    assert!(!spawn[0].delivered);
    assert_eq!(state.diagnostics.len(), 1, "{:?}", state.diagnostics);
    assert!(state.diagnostics[0].message.contains("never delivered"));
    Ok(())
}

#[test]
fn a_result_from_a_child_with_no_answer_comes_from_the_child_thread() -> anyhow::Result<()> {
    let state = lead_spawning(
        "Try.",
        || {
            info_span!("rollout.turn", turn_id = "worker-1", status = "failed").in_scope(|| {
                tracing::info!(name: "rollout.agent_result", parent_thread_id = "lead",
                message = "worker failed: no model available", status = "failed");
            });
        },
        || {
            infer(
                &request(&[msg(
                    "user",
                    "Notification: worker failed: no model available",
                )]),
                None,
            );
        },
    )?;
    let result = edges_of(&state, EdgeKind::Result);
    assert_eq!(result[0].from, Anchor::Thread("worker".into()));
    assert!(result[0].delivered);
    assert_eq!(state.turns["worker-1"].execution.status, Status::Failed);
    Ok(())
}

#[test]
fn a_child_ending_does_not_end_the_rollout() -> anyhow::Result<()> {
    // The lead keeps working after its child ended.
    let state = lead_spawning(
        "Try.",
        || {},
        || {
            infer(&request(&[msg("user", "still here")]), None);
        },
    )?;
    let worker = &state.threads["worker"];
    let lead = &state.threads["lead"];
    assert_eq!(worker.execution.status, Status::Completed);
    assert!(worker.execution.ended_seq < lead.execution.ended_seq);
    let inference = state.inference_calls.values().next().expect("lead's call");
    assert!(inference.execution.started_seq > worker.execution.ended_seq.unwrap_or(0));
    assert_eq!(state.status, Status::Completed);
    Ok(())
}

/// A tool of `kind` that tells `target` the `message`, opened and closed at once.
fn tell(kind: &str, target: &str, message: &str) {
    info_span!(
        "rollout.tool",
        tool = kind,
        kind = kind,
        target_thread_id = target,
        message = message
    )
    .in_scope(|| {});
}

#[test]
fn messages_tasks_and_closes_target_the_named_threads() -> anyhow::Result<()> {
    let state = reduce(|| {
        in_rollout("collab", || {
            in_thread("lead", || {
                in_thread("helper", || {
                    in_turn("helper-1", || {
                        infer(&request(&[msg("user", "Hello helper")]), None)
                    })
                });
                in_turn("lead-1", || {
                    tell("send_message", "helper", "Ping from lead");
                    tell("assign_task", "helper", "Hello helper");
                    info_span!(
                        "rollout.tool",
                        tool = "close_agent",
                        kind = "close_agent",
                        target_thread_id = "ghost"
                    )
                    .in_scope(|| {});
                });
            })
        })
    })?;
    // The task text was already in the helper's input: delivered at once. The message never
    // arrives: undelivered, on the thread. The close names a thread absent from the bundle.
    let task = edges_of(&state, EdgeKind::Task);
    assert!(task[0].delivered);
    let message = edges_of(&state, EdgeKind::Message);
    assert!(!message[0].delivered);
    assert_eq!(message[0].to, Anchor::Thread("helper".into()));
    let close = edges_of(&state, EdgeKind::Close);
    assert_eq!(close[0].to, Anchor::Thread("ghost".into()));
    let messages = messages(&state);
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(messages.iter().any(|m| m.contains("never delivered")));
    assert!(messages
        .iter()
        .any(|m| m.contains("absent from this bundle")));
    Ok(())
}

/// The text child `i` reports: shared by every third child (first queued, first served must
/// tell them apart), unique otherwise, and never shown to the lead for every 25th.
fn child_result(i: usize) -> String {
    match i {
        _ if i % 25 == 24 => format!("Lost {i}."),
        _ if i.is_multiple_of(3) => "Done.".to_owned(),
        _ => format!("Result {i}."),
    }
}

const CHILDREN: usize = 120;
const BATCH: usize = 20;

/// The lead spawns `CHILDREN` children in batches of `BATCH`, each child answering its task;
/// every result but each 25th reaches the lead's next request.
fn fan_out() {
    in_rollout("fan-out", || {
        in_thread("lead", || {
            in_turn("lead-1", || {
                let mut history = vec![msg("user", "Check every shard.")];
                for (b, first) in (0..CHILDREN).step_by(BATCH).enumerate() {
                    spawn_batch(b, first, &mut history);
                }
            })
        })
    });
}

/// Batch `b` of the fan-out: children `first..first + BATCH`.
fn spawn_batch(b: usize, first: usize, history: &mut Vec<serde_json::Value>) {
    // Even batches: each result is queued before the lead's item carrying it appears.
    // Odd batches: the item is already there when the result comes (look-back).
    let queued_first = b.is_multiple_of(2);
    let batch: Vec<usize> = (first..first + BATCH).collect();
    let calls: Vec<_> = batch
        .iter()
        .map(|i| call(&format!("call_{i}"), "spawn_agent", "{}"))
        .collect();
    infer(
        &request(history),
        Some(&response(&format!("r{b}"), &calls, 1, 1)),
    );
    history.extend(calls);
    let mut children = Vec::new();
    for &i in &batch {
        let child = format!("child-{i}");
        let task = format!("Check shard {i}.");
        let (tool, span) = spawn_agent(&format!("call_{i}"), &child, &task);
        let child_turn =
            span.in_scope(|| info_span!("rollout.turn", turn_id = format!("{child}-1").as_str()));
        span.in_scope(|| {
            child_turn.in_scope(|| {
                infer(
                    &request(&[msg("user", &task)]),
                    Some(&response(
                        &format!("c{i}"),
                        &[msg("assistant", &child_result(i))],
                        1,
                        1,
                    )),
                );
            })
        });
        tool.in_scope(|| {});
        // An ordinary tool output: it could receive a delivery, but never does.
        history.push(output(&format!("call_{i}"), &format!("spawned {child}")));
        children.push((i, span, child_turn));
    }
    let report = |children: &[(usize, tracing::Span, tracing::Span)]| {
        for (i, span, child_turn) in children {
            span.in_scope(|| {
                child_turn.in_scope(|| {
                    tracing::info!(name: "rollout.agent_result", parent_thread_id = "lead",
                    message = child_result(*i).as_str());
                })
            });
        }
    };
    if queued_first {
        report(&children);
    }
    for &i in batch.iter().filter(|i| *i % 25 != 24) {
        history.push(msg("user", &format!("From child-{i}: {}", child_result(i))));
    }
    infer(&request(history), None);
    if !queued_first {
        report(&children);
    }
}

#[test]
fn many_deliveries_to_one_thread_land_on_their_items_first_queued_first_served(
) -> anyhow::Result<()> {
    let state = reduce(fan_out)?;

    let lost: Vec<usize> = (0..CHILDREN).filter(|i| i % 25 == 24).collect();
    let mut delivered_to = std::collections::HashSet::new();
    for kind in [EdgeKind::Spawn, EdgeKind::Result] {
        let edges = edges_of(&state, kind);
        assert_eq!(edges.len(), CHILDREN, "{kind:?} edges");
        for edge in edges {
            let child = match (&kind, &edge.from) {
                (EdgeKind::Spawn, Anchor::ToolCall(tool)) => state.tool_calls[tool]
                    .target_thread_id
                    .clone()
                    .unwrap_or_default(),
                (EdgeKind::Result, Anchor::ConversationItem(item)) => {
                    state.conversation_items[item].thread_id.clone()
                }
                _ => panic!("{} comes from {:?}", edge.edge_id, edge.from),
            };
            let i: usize = child.trim_start_matches("child-").parse()?;
            let expected = match kind {
                EdgeKind::Spawn => Some((child.clone(), format!("Check shard {i}."))),
                _ if lost.contains(&i) => None,
                _ => Some((
                    "lead".to_owned(),
                    format!("From child-{i}: {}", child_result(i)),
                )),
            };
            match (expected, &edge.to) {
                (Some((thread, text)), Anchor::ConversationItem(item)) => {
                    assert!(edge.delivered, "{}", edge.edge_id);
                    let landed = &state.conversation_items[item];
                    assert_eq!(
                        (&landed.thread_id, &landed.text),
                        (&thread, &text),
                        "{}",
                        edge.edge_id
                    );
                    assert!(
                        delivered_to.insert(item.clone()),
                        "{item} completes two deliveries"
                    );
                }
                (None, to) => {
                    assert_eq!(to, &Anchor::Thread("lead".into()), "{}", edge.edge_id);
                    assert!(!edge.delivered);
                }
                (Some(_), to) => panic!("{} points at {to:?}", edge.edge_id),
            }
        }
    }
    let never = messages(&state);
    assert_eq!(never.len(), lost.len(), "{never:?}");
    assert!(never.iter().all(|m| m.contains("never delivered")));
    Ok(())
}
