//! Span scaffolds the scenarios run inside: a rollout, a thread (an agent), a turn, and a
//! spawn from one thread to another. Each `in_*` helper enters its span around `f` and closes
//! it as `f` returns, in the order a program's nested `let _x = span.enter();` guards would.

use tracing::{info_span, Span};

/// Runs `f` inside a `rollout` span.
pub fn in_rollout<R>(rollout_id: &str, f: impl FnOnce() -> R) -> R {
    info_span!("rollout", rollout_id = rollout_id).in_scope(f)
}

/// Runs `f` inside a `rollout.thread` span.
pub fn in_thread<R>(thread_id: &str, f: impl FnOnce() -> R) -> R {
    info_span!("rollout.thread", thread_id = thread_id).in_scope(f)
}

/// Runs `f` inside a `rollout.thread` span that names its agent path.
pub fn in_agent<R>(thread_id: &str, agent_path: &str, f: impl FnOnce() -> R) -> R {
    info_span!(
        "rollout.thread",
        thread_id = thread_id,
        agent_path = agent_path
    )
    .in_scope(f)
}

/// Runs `f` inside a `rollout.turn` span.
pub fn in_turn<R>(turn_id: &str, f: impl FnOnce() -> R) -> R {
    info_span!("rollout.turn", turn_id = turn_id).in_scope(f)
}

/// Runs `f` in the frame most scenarios need: rollout `rollout_id`, thread `main` of agent
/// `/root`, turn `t1`.
pub fn in_main_turn<R>(rollout_id: &str, f: impl FnOnce() -> R) -> R {
    in_rollout(rollout_id, || {
        in_agent("main", "/root", || in_turn("t1", f))
    })
}

/// A `spawn_agent` tool call `call_id` of the current thread `lead`, asking for `child` with
/// `task`, and the child's thread span below it (agent path `/lead/<child>`). Returned as
/// (tool, child): bind both, the tool span must outlive its child's start.
pub fn spawn_agent(call_id: &str, child: &str, task: &str) -> (Span, Span) {
    let tool = info_span!(
        "rollout.tool",
        tool = "spawn_agent",
        kind = "spawn_agent",
        call_id = call_id,
        target_thread_id = child,
        message = task
    );
    let thread =
        tracing_rollout::child_thread_span(child, "lead", &format!("/lead/{child}"), &tool);
    (tool, thread)
}

/// Rollout `undelivered`: the lead (agent `/lead`) spawns `worker` with "Count the lines of
/// main.rs.", and the worker runs a turn in which its model never sees that task.
pub fn undelivered_spawn() {
    in_rollout("undelivered", || {
        in_agent("lead", "/lead", || {
            let (_tool, child) = spawn_agent("call_spawn", "worker", "Count the lines of main.rs.");
            child.in_scope(|| in_turn("worker-1", || {}));
        })
    });
}
