//! Multi-agent instrumentation helpers: the span of a child agent thread, attached to its
//! parent's rollout and to the tool call that spawned it.
//!
//! Invariant: a child thread span made here has no span parent — it points back at its
//! spawning tool through `follows_from` — and it joins the rollout of that tool span, never
//! another rollout that happens to have a live thread with the same `parent_thread_id`. The
//! tie is handed to the layer through [`SPAWNED_BY`], a thread-local set only while the
//! child's span is being created (the layer's `on_new_span` runs synchronously inside
//! `info_span!`, on this thread). That makes it correct wherever the child runs: on another
//! tokio task, another OS thread, or long after the spawning tool's span closed, and with
//! many concurrent rollouts that reuse the same thread ids.

use std::cell::Cell;

use tracing::span::Id;
use tracing::{Metadata, Span};

/// The spawning span of a child thread span being created on this thread: its id and its
/// callsite's metadata (checked by the layer, so an id of another subscriber that happens to
/// name a different span is not taken for it).
#[derive(Clone, Copy)]
pub(crate) struct Spawner {
    pub(crate) id: u64,
    pub(crate) metadata: &'static Metadata<'static>,
}

thread_local! {
    static SPAWNED_BY: Cell<Option<Spawner>> = const { Cell::new(None) };
}

/// The spawning span of the child thread span being created now, if any (taken: a second
/// call returns `None`). Called by the layer's `on_new_span` for thread spans.
pub(crate) fn take_spawner() -> Option<Spawner> {
    SPAWNED_BY.try_with(Cell::take).ok().flatten()
}

/// Clears the hand-off when the span was created (or its creation unwound), so it never
/// leaks into a later, unrelated thread span.
struct ClearOnDrop;

impl Drop for ClearOnDrop {
    fn drop(&mut self) {
        let _ = SPAWNED_BY.try_with(|cell| cell.set(None));
    }
}

/// Creates the `rollout.thread` span of a child agent spawned by the tool call `spawned_by`.
///
/// The span carries `thread_id`, `parent_thread_id` and `agent_path`; `nickname`, `role`,
/// `model`, `status` and `error` are declared empty so they can be recorded later. It
/// `follows_from` `spawned_by`, which gives the graph a `spawn` edge from that tool call to
/// the child's first item carrying the task text.
///
/// The child is recorded in the bundle of `spawned_by` (the rollout the spawning tool belongs
/// to), whatever other rollouts are open in the process with the same thread ids. When
/// `spawned_by` is not recorded (disabled, or no rollout span above it), the child is routed
/// by its bare `parent_thread_id`, as a plain `rollout.thread` span would be (see
/// [`RolloutLayer`](crate::RolloutLayer)).
///
/// Run the child's work inside it: `fut.instrument(span)` before `tokio::spawn` (a spawned
/// task does not inherit the current span), or `span.in_scope(..)` on an OS thread.
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
    let spawner = spawned_by
        .id()
        .zip(spawned_by.metadata())
        .map(|(id, metadata)| Spawner {
            id: id.into_u64(),
            metadata,
        });
    let _clear = ClearOnDrop;
    let _ = SPAWNED_BY.try_with(|cell| cell.set(spawner));
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
    drop(_clear);
    span.follows_from(spawned_by);
    span
}

impl Spawner {
    /// The span id this spawner names.
    pub(crate) fn span_id(self) -> Id {
        Id::from_u64(self.id)
    }
}
