//! Delivery truth does not depend on record order: a `send_message` whose text the
//! recipient's model reads is `delivered: true`, to the item carrying it, whether the tool
//! record comes before the recipient's request or after it — for long texts (past the
//! 2 000-byte preview), short ones, the same text sent twice, and texts that share a prefix.

mod support;

use anyhow::{ensure, Result};
use pretty_assertions::assert_eq;
use support::graph::edges_of;
use support::layer::reduce;
use support::payloads::infer;
use support::responses::{msg, request};
use tracing::info_span;
use tracing_rollout::reduce::{Anchor, EdgeKind, RolloutState};

#[derive(Clone, Copy, Debug)]
enum Order {
    /// The sender's tool is recorded first, then the recipient reads the text.
    ToolFirst,
    /// The recipient's request is recorded first, then the sender's tool.
    RequestFirst,
}

/// The lead sends each of `messages` to the worker with a `send_message` tool; the worker's
/// one request holds `items` as user messages. Returns the graph.
fn run(order: Order, messages: &[String], items: &[String]) -> Result<RolloutState> {
    reduce(|| {
        let rollout = info_span!("rollout", rollout_id = "delivery");
        let _r = rollout.enter();
        let lead = info_span!("rollout.thread", thread_id = "lead");
        let worker = info_span!(parent: &rollout, "rollout.thread", thread_id = "worker",
            parent_thread_id = "lead");
        let send = || {
            lead.in_scope(|| {
                info_span!("rollout.turn", turn_id = "lead-1").in_scope(|| {
                    for (k, m) in messages.iter().enumerate() {
                        info_span!(
                            "rollout.tool",
                            tool = "send_message",
                            kind = "send_message",
                            call_id = format!("call_{k}").as_str(),
                            target_thread_id = "worker",
                            message = m.as_str()
                        )
                        .in_scope(|| {});
                    }
                });
            });
        };
        let read = || {
            worker.in_scope(|| {
                info_span!("rollout.turn", turn_id = "worker-1").in_scope(|| {
                    let items: Vec<_> = items.iter().map(|t| msg("user", t)).collect();
                    infer(&request(&items), None);
                });
            });
        };
        match order {
            Order::ToolFirst => {
                send();
                read();
            }
            Order::RequestFirst => {
                read();
                send();
            }
        }
    })
}

/// The text of the item each message edge was delivered to, in call order.
fn delivered_to(state: &RolloutState) -> Result<Vec<String>> {
    let mut edges = edges_of(state, EdgeKind::Message);
    edges.sort_by_key(|e| e.edge_id.clone());
    let mut out = Vec::new();
    for e in edges {
        ensure!(
            e.delivered,
            "{} not delivered: {:?}",
            e.edge_id,
            state.diagnostics
        );
        let Anchor::ConversationItem(item) = &e.to else {
            anyhow::bail!("{} points at {:?}", e.edge_id, e.to);
        };
        out.push(item.clone());
    }
    Ok(out)
}

fn long(tag: &str) -> String {
    format!(
        "{tag}: {}",
        "the quick brown fox jumps over the lazy dog. ".repeat(120)
    )
}

#[test]
fn a_long_message_is_delivered_in_both_record_orders() -> Result<()> {
    let text = long("report");
    ensure!(text.len() > 5_000);
    for order in [Order::ToolFirst, Order::RequestFirst] {
        let state = run(
            order,
            std::slice::from_ref(&text),
            &["hello".to_owned(), format!("Lead says: {text}")],
        )?;
        let to = delivered_to(&state)?;
        assert_eq!(to.len(), 1, "{order:?}");
        let item = &state.conversation_items[&to[0]];
        ensure!(
            item.text.starts_with("Lead says: report:"),
            "{order:?}: {}",
            item.text
        );
        assert_eq!(state.diagnostics, vec![], "{order:?}");
    }
    Ok(())
}

#[test]
fn a_short_message_is_delivered_in_both_record_orders() -> Result<()> {
    for order in [Order::ToolFirst, Order::RequestFirst] {
        let state = run(
            order,
            &["Run the tests.".to_owned()],
            &["Run the tests.".to_owned()],
        )?;
        assert_eq!(delivered_to(&state)?.len(), 1, "{order:?}");
        assert_eq!(state.diagnostics, vec![], "{order:?}");
    }
    Ok(())
}

/// The same text sent twice lands in two different items (first queued, first served), in
/// both orders and whether it is short or long.
#[test]
fn a_repeated_message_lands_in_one_item_each_in_both_orders() -> Result<()> {
    for text in ["again".to_owned(), long("again")] {
        for order in [Order::ToolFirst, Order::RequestFirst] {
            let state = run(
                order,
                &[text.clone(), text.clone()],
                &[format!("1: {text}"), format!("2: {text}")],
            )?;
            let to = delivered_to(&state)?;
            assert_eq!(to.len(), 2, "{order:?}");
            ensure!(to[0] != to[1], "{order:?}: both in {}", to[0]);
            assert_eq!(state.diagnostics, vec![], "{order:?}");
        }
    }
    Ok(())
}

/// Two long texts that share their first 3 000 bytes (past the preview) and differ after:
/// each lands in the item carrying it, never in the other, in both orders.
#[test]
fn long_messages_sharing_a_prefix_past_the_preview_land_in_their_own_items() -> Result<()> {
    let shared = "x".repeat(3_000);
    let a = format!("{shared} ending A");
    let b = format!("{shared} ending B");
    for order in [Order::ToolFirst, Order::RequestFirst] {
        let state = run(order, &[b.clone(), a.clone()], &[a.clone(), b.clone()])?;
        let to = delivered_to(&state)?;
        assert_eq!(to.len(), 2, "{order:?}");
        let order_of = |id: &String| {
            state.threads["worker"]
                .conversation
                .iter()
                .position(|c| c == id)
        };
        // call_0 sent B, which is the worker's second item; call_1 sent A, its first.
        assert_eq!(
            (order_of(&to[0]), order_of(&to[1])),
            (Some(1), Some(0)),
            "{order:?}"
        );
        assert_eq!(state.diagnostics, vec![], "{order:?}");
    }
    Ok(())
}

/// A message the recipient never reads stays undelivered in both orders.
#[test]
fn a_long_message_the_recipient_never_reads_is_undelivered_in_both_orders() -> Result<()> {
    let text = long("lost");
    for order in [Order::ToolFirst, Order::RequestFirst] {
        let state = run(order, std::slice::from_ref(&text), &[long("other")])?;
        let edge = state.edges.values().find(|e| e.kind == EdgeKind::Message);
        ensure!(edge.is_some_and(|e| !e.delivered), "{order:?}");
        ensure!(state
            .diagnostics
            .iter()
            .any(|d| d.message.contains("never delivered")));
    }
    Ok(())
}
