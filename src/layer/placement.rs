//! Where a new span is recorded: the bundle it joins (or starts), and the keys of its parent,
//! thread and turn, found from its nearest recorded ancestor.
//!
//! Invariant: every recorded span has a bundle and sits under a thread when it is not a
//! rollout: a span with no recorded ancestor either starts a bundle of its own (a `rollout`,
//! a thread, or a model or tool call, which gets an implicit thread and turn around it: see
//! `implicit.rs`) or is not recorded at all (a turn, code cell, terminal operation or
//! compaction outside any rollout). Whatever a placement sends (a bundle's start, an implicit
//! thread) is sent before the span's own `span_started`.

use std::sync::Arc;

use tracing::Subscriber;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::{LookupSpan, SpanRef};

use super::fields::Routing;
use super::implicit::ImplicitThread;
use super::threads::ParentThread;
use super::{with_bufs, Inner, SpanState, NEXT_SPAN_KEY};
use crate::format::SpanKind;
use crate::writer::BundleHandle;

/// The nearest recorded ancestor of a new span.
pub(super) struct Ancestor {
    pub(super) key: u64,
    pub(super) kind: SpanKind,
    pub(super) bundle: Arc<BundleHandle>,
    pub(super) thread: Option<u64>,
    pub(super) turn: Option<u64>,
}

/// Where a new span is recorded: its bundle, the keys of its parent, thread and turn, and
/// whether it is the root of its bundle (its close ends the bundle).
pub(super) struct Placement {
    pub(super) bundle: Arc<BundleHandle>,
    pub(super) parent: Option<u64>,
    pub(super) thread: Option<u64>,
    pub(super) turn: Option<u64>,
    pub(super) is_root: bool,
    /// The thread and turn recorded around a root model or tool call (already sent).
    pub(super) implicit: Option<ImplicitThread>,
}

impl Inner {
    /// Where a new span of `kind` named `name`, minted `key`, is recorded (see
    /// [`RolloutLayer`](super::RolloutLayer)), opening a bundle when it starts one; `None`
    /// when it is not part of any rollout.
    pub(super) fn place<S>(
        &self,
        kind: SpanKind,
        name: &str,
        key: u64,
        ancestor: Option<Ancestor>,
        routing: &mut Routing,
        ctx: &Context<'_, S>,
    ) -> Option<Placement>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let under = |a: Ancestor, thread: Option<u64>, turn: Option<u64>| Placement {
            bundle: a.bundle,
            parent: Some(a.key),
            thread,
            turn,
            is_root: false,
            implicit: None,
        };
        Some(match (kind, ancestor) {
            (SpanKind::Rollout, _) => {
                let trace_id = routing.trace_id.as_deref();
                let bundle = self.open_bundle(routing.rollout_id.take(), trace_id);
                Placement {
                    bundle,
                    parent: None,
                    thread: None,
                    turn: None,
                    is_root: true,
                    implicit: None,
                }
            }
            (SpanKind::Thread, Some(a)) => under(a, Some(key), None),
            (SpanKind::Thread, None) => self.place_unattached_thread(key, routing, ctx),
            (SpanKind::Turn, Some(a)) => {
                let thread = a.thread;
                under(a, thread, Some(key))
            }
            (_, Some(a)) => {
                let (thread, turn) = (a.thread, a.turn);
                under(a, thread, turn)
            }
            (SpanKind::Inference | SpanKind::Tool, None) => self.place_root_call(name),
            // A turn, code cell, terminal operation or compaction with nothing to attach to:
            // not part of any rollout.
            (
                SpanKind::Turn | SpanKind::CodeCell | SpanKind::Terminal | SpanKind::Compaction,
                None,
            ) => return None,
        })
    }

    /// Where a thread span with no recorded ancestor goes. A child thread made by
    /// `child_thread_span` joins the rollout of its spawning tool span; only a thread with no
    /// such tie is routed by its bare `parent_thread_id`, and only when exactly one rollout has
    /// that thread live. Otherwise it starts a bundle of its own.
    fn place_unattached_thread<S>(
        &self,
        key: u64,
        routing: &Routing,
        ctx: &Context<'_, S>,
    ) -> Placement
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let spawner =
            crate::spawn::take_spawner().and_then(|spawner| spawner_ancestor(spawner, ctx));
        let joined = match (spawner, routing.parent_thread_id.as_deref()) {
            (Some(a), _) => Some(a.bundle),
            (None, Some(parent)) => match self.live_threads.resolve(parent) {
                ParentThread::One(bundle) => Some(bundle),
                ParentThread::None => None,
                ParentThread::Ambiguous(n) => {
                    self.writer.ambiguous_thread(
                        routing.thread_id.as_deref().unwrap_or(""),
                        parent,
                        n,
                    );
                    None
                }
            },
            (None, None) => None,
        };
        let (bundle, is_root) = match joined {
            Some(bundle) => (bundle, false),
            None => {
                let trace_id = routing.trace_id.as_deref();
                (self.open_bundle(routing.thread_id.clone(), trace_id), true)
            }
        };
        Placement {
            bundle,
            parent: None,
            thread: Some(key),
            turn: None,
            is_root,
            implicit: None,
        }
    }

    /// Where a model or tool call named `name` with no thread and no rollout around it goes:
    /// a bundle of its own, in a thread and turn the layer records around it (a program that
    /// calls a model directly, or rig's `completion()` / `stream()` outside an agent).
    fn place_root_call(&self, name: &str) -> Placement {
        let bundle = self.open_bundle(None, None);
        let implicit = ImplicitThread::new(&NEXT_SPAN_KEY);
        with_bufs(|bufs| implicit.send_started(bufs, None, name, &self.writer, &bundle));
        Placement {
            bundle,
            parent: Some(implicit.turn.key),
            thread: Some(implicit.thread.key),
            turn: Some(implicit.turn.key),
            is_root: true,
            implicit: Some(implicit),
        }
    }

    /// The ancestor a GenAI model call inside the tool call `tool` attaches to: the tool's
    /// sub-agent thread, opened with the first such call (see `implicit::ImplicitThread`).
    pub(super) fn sub_agent<'a, R>(&self, span: &SpanRef<'a, R>, tool: Ancestor) -> Option<Ancestor>
    where
        R: LookupSpan<'a>,
    {
        let tool_span = span.scope().skip(1).find(|s| {
            s.extensions()
                .get::<SpanState>()
                .is_some_and(|state| state.key == tool.key)
        })?;
        // The lock is held while the thread's records are sent, so a model call starting in
        // the same tool on another thread cannot refer to the thread before it exists.
        let mut extensions = tool_span.extensions_mut();
        let state = extensions.get_mut::<SpanState>()?;
        if state.sub_agent.is_none() {
            let sub_agent = ImplicitThread::new(&NEXT_SPAN_KEY);
            with_bufs(|bufs| {
                let (name, spawned_by) = (tool_span.name(), Some(state.key));
                sub_agent.send_started(bufs, spawned_by, name, &self.writer, &tool.bundle);
            });
            state.thread = Some(sub_agent.thread.key);
            state.turn = Some(sub_agent.turn.key);
            state.sub_agent = Some(sub_agent);
        }
        Some(Ancestor {
            thread: state.thread,
            turn: state.turn,
            ..tool
        })
    }
}

/// The recorded span that `spawner` names, as an ancestor (see `spawn::take_spawner`).
pub(super) fn spawner_ancestor<S>(
    spawner: crate::spawn::Spawner,
    ctx: &Context<'_, S>,
) -> Option<Ancestor>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let span = ctx.span(&spawner.span_id())?;
    if !std::ptr::eq(span.metadata(), spawner.metadata) {
        return None;
    }
    nearest_recorded(span.scope())
}

/// The key and bundle of the nearest span in `scope` that this layer records.
pub(super) fn nearest_recorded<'a, R>(
    scope: impl Iterator<Item = SpanRef<'a, R>>,
) -> Option<Ancestor>
where
    R: LookupSpan<'a> + 'a,
{
    for span in scope {
        if let Some(state) = span.extensions().get::<SpanState>() {
            return Some(Ancestor {
                key: state.key,
                kind: state.kind,
                bundle: Arc::clone(&state.bundle),
                thread: state.thread,
                turn: state.turn,
            });
        }
    }
    None
}
