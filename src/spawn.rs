//! Multi-agent instrumentation helpers: the span of a child agent thread, attached to its
//! parent's rollout and to the tool call that spawned it.
//!
//! Invariant: a child thread span made here has no span parent — it joins the rollout through
//! its `parent_thread_id` (which names a live thread) and points back at its spawning tool
//! through `follows_from`. That makes it correct wherever the child runs: on another tokio
//! task, another OS thread, or long after the spawning tool's span closed.

use tracing::Span;

/// Creates the `rollout.thread` span of a child agent spawned by the tool call `spawned_by`.
///
/// The span carries `thread_id`, `parent_thread_id` and `agent_path`; `nickname`, `role`,
/// `model`, `status` and `error` are declared empty so they can be recorded later. It
/// `follows_from` `spawned_by`, which gives the graph a `spawn` edge from that tool call to
/// the child's first item carrying the task text.
///
/// Run the child's work inside it: `fut.instrument(span)` before `tokio::spawn` (a spawned
/// task does not inherit the current span), or `span.in_scope(..)` on an OS thread. The
/// parent thread's span must still be open when this is called, so the child is routed into
/// its bundle.
///
/// # Examples
///
/// ```
/// use tracing::Instrument;
///
/// # async fn demo() {
/// let tool = tracing::info_span!("rollout.tool", tool = "spawn_agent", kind = "spawn_agent",
///     call_id = "call_7", target_thread_id = "researcher", message = "Find the flaky test.");
/// let child = tracing_rollout::child_thread_span("researcher", "root", "/root/researcher", &tool);
/// child.record("nickname", "Ada");
/// let handle = tokio::spawn(async { /* the child agent's turns */ }.instrument(child));
/// # let _ = handle.await;
/// # }
/// ```
pub fn child_thread_span(
    thread_id: &str,
    parent_thread_id: &str,
    agent_path: &str,
    spawned_by: &Span,
) -> Span {
    let span = tracing::info_span!(
        parent: None,
        "rollout.thread",
        thread_id = thread_id,
        parent_thread_id = parent_thread_id,
        agent_path = agent_path,
        nickname = tracing::field::Empty,
        role = tracing::field::Empty,
        model = tracing::field::Empty,
        status = tracing::field::Empty,
        error = tracing::field::Empty,
    );
    span.follows_from(spawned_by);
    span
}
