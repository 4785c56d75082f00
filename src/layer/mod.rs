//! [`RolloutLayer`]: the `tracing_subscriber::Layer` that turns rollout spans and events into
//! framed messages for the writer thread.
//!
//! Invariant: a callback for anything outside the rollout vocabulary costs one name check
//! and one lookup of what its callsite declared (see `genai`) — in `on_record` and
//! `on_close` after the registry lookup that yields the name — and returns; a recorded
//! callback serialises into a reused thread-local buffer, holds no lock while it does, emits
//! no `tracing` events, and hands the writer one message per record (one, except when a span's
//! GenAI content attributes, spawn link, agent turn or implicit thread (`implicit.rs`) go with
//! its own record). An event outside `rollout.*` costs one more prefix check (`gen_ai.`).
//! A span's own state (its minted key, bundle, thread and turn keys) lives in its span
//! extensions, so `span_started` is always sent before anything that refers to the span.

mod builder;
mod fields;
mod genai;
mod implicit;
pub(crate) mod payload;
mod placement;
mod threads;

pub use builder::{InitError, RolloutLayerBuilder};

use std::cell::RefCell;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use crate::format::{self, SpanKind};
use crate::vocab::PAYLOAD_EVENT;
use crate::writer::{unix_ms, BundleHandle, Op, RolloutGuard, Writer};
use fields::{FieldWriter, PayloadWriter, Role, Routing};
use payload::PayloadOptions;
use placement::{nearest_recorded, Placement};
use threads::LiveThreads;

/// Environment variable read by [`RolloutLayer::from_env`]: the root directory of bundles.
const ROOT_ENV: &str = "ROLLOUT_TRACE_ROOT";

/// Span keys are minted process-wide: `tracing` span ids are reused after a span closes.
static NEXT_SPAN_KEY: AtomicU64 = AtomicU64::new(1);
/// Suffix of generated rollout ids.
static NEXT_ROLLOUT: AtomicU64 = AtomicU64::new(1);

/// A `tracing_subscriber::Layer` that records rollout spans into one bundle per rollout.
///
/// Build it with [`RolloutLayer::builder`] (or [`RolloutLayer::from_env`]) and add it to a
/// `tracing_subscriber::registry()`. Only spans named in the rollout vocabulary (`rollout`,
/// `rollout.thread`, `rollout.turn`, `rollout.inference`, `rollout.tool`,
/// `rollout.code_cell`, `rollout.terminal`, `rollout.compaction`; constants in
/// [`vocab`](crate::vocab)), spans carrying an OpenTelemetry GenAI `gen_ai.operation.name`
/// this crate maps (see the README's "Already using OpenTelemetry GenAI conventions?"), and
/// events named `rollout.*` are recorded; other spans are skipped (rollout spans below them
/// still attach to their nearest rollout ancestor), at the cost of a name comparison and a
/// lock-free callsite lookup when they start, and a registry lookup plus those checks when a
/// field is recorded into them or they close. The layer never filters: other layers see every
/// span and event as before.
///
/// Where a span is recorded:
/// - a `rollout` span starts a new bundle, named by the `rollout_id` field it is created
///   with (or a generated `rollout-<unix ms>-<n>`), and ended when the span closes;
/// - a `rollout.thread` span inside a recorded span joins that span's bundle; one made by
///   [`child_thread_span`](crate::child_thread_span) joins the bundle of its spawning tool
///   span. With no such tie, its bare `parent_thread_id` decides: it joins the one bundle in
///   which a thread of that id is live; where none is, it starts a bundle of its own (named
///   by its `thread_id`) that ends when it closes; and where several concurrent rollouts have
///   that thread live (a batch of rollouts of one agent reuses thread ids), it is not guessed
///   into one: it starts a bundle of its own, counted in
///   [`FinishStats::ambiguous_threads`](crate::FinishStats::ambiguous_threads) and reported
///   once on stderr;
/// - an inference or tool span with no recorded ancestor (a model called directly, outside
///   any agent) starts a bundle of its own, in a thread and a turn the layer records around
///   it (named like the span), which end with it and with its status;
/// - any other rollout span joins the bundle of its nearest recorded ancestor, and is
///   ignored without one.
///
/// The bundle's final status is the root span's recorded `status` field, else `failed` when
/// it recorded an `error` field or closed while its thread was panicking, else `completed`.
/// Declare fields recorded later as `tracing::field::Empty`: `tracing` drops values recorded
/// into undeclared fields before any layer sees them.
///
/// Records for a bundle that already ended (a thread that joined by `parent_thread_id` and
/// outlived the root) are not written; they are counted in
/// [`FinishStats::late_records`](crate::FinishStats::late_records) (and `dropped_records`)
/// and reported once on stderr.
///
/// The layer must see the rollout spans: a filter applied to the whole subscriber
/// (`registry().with(EnvFilter::from_default_env())` under `RUST_LOG=warn`, a global
/// `LevelFilter`) disables the `info` rollout spans for every layer. Filter the other layers
/// instead (`fmt::layer().with_filter(EnvFilter::from_default_env())`) and add this one
/// unfiltered. When no rollout was recorded and either the subscriber disables info-level
/// `rollout` spans for every layer (asked once, when the layer is installed) or rollout span
/// callsites reached the layer, finishing says so once on stderr and in
/// [`FinishStats::warnings`](crate::FinishStats::warnings).
///
/// ```
/// use tracing_subscriber::filter::LevelFilter;
/// use tracing_subscriber::prelude::*;
///
/// let root = tempfile::tempdir()?;
/// let (layer, guard) = tracing_rollout::RolloutLayer::builder().root_dir(root.path()).build()?;
/// let subscriber = tracing_subscriber::registry()
///     .with(layer) // unfiltered: sees every rollout span
///     .with(tracing_subscriber::fmt::layer().with_filter(LevelFilter::WARN)); // e.g. EnvFilter
/// tracing::subscriber::with_default(subscriber, || {
///     let _rollout = tracing::info_span!("rollout", rollout_id = "r1").entered();
/// });
/// let stats = guard.finish()?;
/// assert_eq!(stats.bundles.len(), 1);
/// assert!(stats.warnings.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct RolloutLayer {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    writer: Writer,
    payload: PayloadOptions,
    /// The thread ids live in each bundle (concurrent rollouts reuse thread ids).
    live_threads: LiveThreads,
}

/// What the layer keeps in each recorded span's extensions (a private type, so no other
/// layer can read or clobber it).
struct SpanState {
    key: u64,
    kind: SpanKind,
    bundle: Arc<BundleHandle>,
    thread: Option<u64>,
    turn: Option<u64>,
    /// The `thread_id` this span registered as live, to unregister on close.
    live_thread_id: Option<String>,
    /// Present on the span that started the bundle: what its final status will be.
    root: Option<RootStatus>,
    /// Present on a GenAI agent invocation: the turn the layer records for it.
    agent_turn: Option<implicit::AgentTurn>,
    /// Present on a tool call that GenAI model calls were made in: their thread.
    sub_agent: Option<implicit::ImplicitThread>,
    /// Present on a root model or tool call: the thread and turn recorded around it.
    implicit_root: Option<implicit::ImplicitThread>,
}

#[derive(Default)]
struct RootStatus {
    status: Option<String>,
    error: bool,
}

/// A `rollout` span callsite at `info` that no code ever hits: [`RolloutLayer`] asks the
/// subscriber it is installed in whether it would be enabled (`on_register_dispatch`).
static PROBE_CALLSITE: tracing_core::callsite::DefaultCallsite =
    tracing_core::callsite::DefaultCallsite::new(&PROBE_METADATA);
static PROBE_METADATA: tracing::Metadata<'static> = tracing::Metadata::new(
    "rollout",
    "tracing_rollout::probe",
    tracing::Level::INFO,
    Some(file!()),
    Some(line!()),
    Some(module_path!()),
    tracing_core::field::FieldSet::new(&[], tracing_core::identify_callsite!(&PROBE_CALLSITE)),
    tracing_core::metadata::Kind::SPAN,
);

/// Per-thread buffers reused by every callback on that thread.
#[derive(Default)]
struct Bufs {
    /// The message being built: header + record body.
    rec: Vec<u8>,
    /// Payload text before it is placed in `rec`.
    scratch: Vec<u8>,
}

/// Buffers larger than this are freed after use, so one huge payload does not pin memory on
/// every thread that ever logged one.
const KEEP_BUFFER_BYTES: usize = 256 * 1024;

thread_local! {
    static BUFS: RefCell<Bufs> = RefCell::new(Bufs::default());
}

/// Runs `f` with this thread's buffers, or with fresh ones when they are busy (a field's
/// `Debug` impl re-entered the layer) or gone (thread-local destruction).
fn with_bufs(f: impl FnOnce(&mut Bufs)) {
    let mut f = Some(f);
    let _ = BUFS.try_with(|cell| {
        if let Ok(mut bufs) = cell.try_borrow_mut() {
            if let Some(f) = f.take() {
                f(&mut bufs);
            }
            let Bufs { rec, scratch } = &mut *bufs;
            for buf in [rec, scratch] {
                if buf.capacity() > KEEP_BUFFER_BYTES {
                    *buf = Vec::new();
                }
            }
        }
    });
    if let Some(f) = f.take() {
        f(&mut Bufs::default());
    }
}

impl fmt::Debug for RolloutLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RolloutLayer");
        d.field("enabled", &self.inner.is_some());
        if let Some(inner) = &self.inner {
            d.field("writer", &inner.writer)
                .field("max_payload_bytes", &inner.payload.max_bytes)
                .field("capture_payloads", &inner.payload.capture);
        }
        d.finish()
    }
}

impl RolloutLayer {
    /// Starts configuring a layer.
    ///
    /// # Examples
    ///
    /// ```
    /// use tracing_subscriber::prelude::*;
    ///
    /// let root = tempfile::tempdir()?;
    /// let (layer, guard) = tracing_rollout::RolloutLayer::builder()
    ///     .root_dir(root.path())
    ///     .max_payload_bytes(1 << 20)
    ///     .build()?;
    /// let subscriber = tracing_subscriber::registry().with(layer);
    /// tracing::subscriber::with_default(subscriber, || {
    ///     let _rollout = tracing::info_span!("rollout", rollout_id = "r1").entered();
    ///     let _thread = tracing::info_span!("rollout.thread", thread_id = "main").entered();
    /// });
    /// let stats = guard.finish()?;
    /// assert_eq!(stats.bundles.len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn builder() -> RolloutLayerBuilder {
        RolloutLayerBuilder::default()
    }

    /// A layer configured from the environment: recording into the directory named by
    /// `ROLLOUT_TRACE_ROOT` with default settings when it is set and not
    /// empty.
    ///
    /// Otherwise, or when setting up fails (the directory cannot be created), the layer is
    /// disabled: every callback returns at once and the guard's `finish` does nothing. A
    /// failed set-up prints one warning to stderr; an unset variable prints nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use tracing_subscriber::prelude::*;
    ///
    /// let (layer, guard) = tracing_rollout::RolloutLayer::from_env();
    /// let subscriber = tracing_subscriber::registry().with(layer);
    /// tracing::subscriber::with_default(subscriber, || {
    ///     let _rollout = tracing::info_span!("rollout").entered();
    /// });
    /// guard.finish()?;
    /// # Ok::<(), tracing_rollout::FinishError>(())
    /// ```
    pub fn from_env() -> (RolloutLayer, RolloutGuard) {
        let disabled = || (RolloutLayer { inner: None }, RolloutGuard::disabled());
        match std::env::var_os(ROOT_ENV) {
            Some(root) if !root.is_empty() => match Self::builder().root_dir(root).build() {
                Ok(pair) => pair,
                Err(e) => {
                    eprintln!("tracing-rollout: recording disabled: {e}");
                    disabled()
                }
            },
            _ => disabled(),
        }
    }

    /// Whether this layer records anything (false for a disabled [`from_env`](Self::from_env)
    /// layer).
    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    fn new(writer: Writer, payload: PayloadOptions) -> RolloutLayer {
        RolloutLayer {
            inner: Some(Arc::new(Inner {
                writer,
                payload,
                live_threads: LiveThreads::default(),
            })),
        }
    }
}

impl Inner {
    fn open_bundle(&self, rollout_id: Option<String>, trace_id: Option<&str>) -> Arc<BundleHandle> {
        let rollout_id = rollout_id.unwrap_or_else(|| {
            let n = NEXT_ROLLOUT.fetch_add(1, Ordering::Relaxed);
            format!("rollout-{}-{n}", unix_ms())
        });
        self.writer.open_bundle(&rollout_id, trace_id)
    }

    /// The visitor that sends a span's content attributes as payloads.
    fn content_payloads<'a>(
        &'a self,
        bufs: &'a mut Bufs,
        span: u64,
        bundle: &'a BundleHandle,
    ) -> genai::ContentPayloads<'a> {
        genai::ContentPayloads {
            rec: &mut bufs.rec,
            scratch: &mut bufs.scratch,
            span,
            options: self.payload,
            writer: &self.writer,
            bundle,
        }
    }
}

impl<S> Layer<S> for RolloutLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_register_dispatch(&self, subscriber: &tracing::Dispatch) {
        // Would an `info_span!("rollout")` reach this layer in that subscriber? Asked once,
        // through the same path a real callsite takes, for a probe callsite no code hits.
        if let Some(inner) = &self.inner {
            if subscriber.register_callsite(&PROBE_METADATA).is_never() {
                inner.writer.rollouts_disabled();
            }
        }
    }

    /// Notes whether the callsite's spans are GenAI candidates (see `genai`), and stays as
    /// permissive as the default: this layer never filters.
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        genai::register_callsite(metadata);
        // Once per callsite: counted so that `finish` can say when a filter in front of this
        // layer disabled every rollout span.
        if let Some(inner) = &self.inner {
            if metadata.is_span()
                && !std::ptr::eq(metadata, &PROBE_METADATA)
                && matches!(
                    SpanKind::from_span_name(metadata.name()),
                    Some(SpanKind::Rollout | SpanKind::Thread)
                )
            {
                inner.writer.rollout_callsite();
            }
        }
        Interest::always()
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(inner) = &self.inner else { return };
        let name = attrs.metadata().name();
        let Some((kind, dialect)) = genai::recognise(attrs) else {
            return;
        };
        if inner.writer.is_finished() {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        let ancestor = span
            .parent()
            .and_then(|parent| nearest_recorded(parent.scope()));
        let ancestor = match ancestor {
            Some(a) if a.kind == SpanKind::Tool && dialect.inference_in_tool_is_sub_agent() => {
                inner.sub_agent(&span, a)
            }
            other => other,
        };

        let mut routing = Routing::default();
        if matches!(kind, SpanKind::Rollout | SpanKind::Thread) {
            attrs.record(&mut routing);
        }
        let key = NEXT_SPAN_KEY.fetch_add(1, Ordering::Relaxed);
        let spawned_by = ancestor
            .as_ref()
            .filter(|a| a.kind == SpanKind::Tool && dialect.nesting_is_spawn(kind))
            .map(|a| a.key);
        let Some(Placement {
            bundle,
            parent,
            thread,
            turn,
            is_root,
            implicit,
        }) = inner.place(kind, name, key, ancestor, &mut routing, &ctx)
        else {
            return;
        };

        let live_thread_id = match (kind, routing.thread_id) {
            (SpanKind::Thread, Some(thread_id)) => {
                inner.live_threads.register(&thread_id, &bundle);
                Some(thread_id)
            }
            _ => None,
        };

        let mut root = is_root.then(RootStatus::default);
        let mut implicit = implicit;
        let agent_turn = dialect
            .opens_turn()
            .then(|| implicit::AgentTurn::new(&NEXT_SPAN_KEY));
        let turn = agent_turn.as_ref().map_or(turn, |t| Some(t.key));
        with_bufs(|bufs| {
            bundle.begin(&mut bufs.rec, Op::Record);
            format::begin_span_started(&mut bufs.rec, key, parent, thread, turn, kind, name);
            let mut fields = FieldWriter::new(&mut bufs.rec);
            let mut fields = genai::WithoutContent::new(&mut fields);
            attrs.record(&mut fields);
            let saw_content = fields.saw_content;
            if let Some(root) = root.as_mut() {
                root.status = fields.fields.status.take();
                root.error = fields.fields.error;
                if let Some(implicit) = implicit.as_mut() {
                    implicit.noted(root.status.clone(), root.error);
                }
            }
            format::end_fields(&mut bufs.rec);
            inner.writer.send_record(&mut bufs.rec, &bundle);
            if saw_content {
                attrs.record(&mut inner.content_payloads(bufs, key, &bundle));
            }
            if let Some(tool) = spawned_by {
                bundle.begin(&mut bufs.rec, Op::Record);
                format::encode_link(&mut bufs.rec, key, tool);
                inner.writer.send_record(&mut bufs.rec, &bundle);
            }
            if let Some(agent_turn) = &agent_turn {
                bundle.begin(&mut bufs.rec, Op::Record);
                agent_turn.encode_started(&mut bufs.rec, key, name);
                inner.writer.send_record(&mut bufs.rec, &bundle);
            }
        });

        span.extensions_mut().replace(SpanState {
            key,
            kind,
            bundle,
            thread,
            turn,
            live_thread_id,
            root,
            agent_turn,
            sub_agent: None,
            implicit_root: implicit,
        });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(inner) = &self.inner else { return };
        let Some(span) = ctx.span(id) else { return };
        if !genai::may_record(span.metadata()) || values.is_empty() || inner.writer.is_finished() {
            return;
        }
        // Copy what is needed and release the extensions lock before formatting values: a
        // field's Debug impl may touch this span again.
        let (key, bundle, is_root, has_turn) = {
            let extensions = span.extensions();
            let Some(state) = extensions.get::<SpanState>() else {
                return;
            };
            let has_turn = state.agent_turn.is_some() || state.implicit_root.is_some();
            (
                state.key,
                Arc::clone(&state.bundle),
                state.root.is_some(),
                has_turn,
            )
        };
        let mut status = None;
        let mut error = false;
        with_bufs(|bufs| {
            bundle.begin(&mut bufs.rec, Op::Record);
            format::begin_span_recorded(&mut bufs.rec, key);
            let empty = bufs.rec.len();
            let mut fields = FieldWriter::new(&mut bufs.rec);
            let mut fields = genai::WithoutContent::new(&mut fields);
            values.record(&mut fields);
            let saw_content = fields.saw_content;
            status = fields.fields.status.take();
            error = fields.fields.error;
            // Values that were all content make no `span_recorded`.
            if bufs.rec.len() > empty || !saw_content {
                format::end_fields(&mut bufs.rec);
                inner.writer.send_record(&mut bufs.rec, &bundle);
            }
            if saw_content {
                values.record(&mut inner.content_payloads(bufs, key, &bundle));
            }
        });
        if (is_root || has_turn) && (status.is_some() || error) {
            if let Some(state) = span.extensions_mut().get_mut::<SpanState>() {
                if let Some(root) = state.root.as_mut() {
                    root.status = status.clone().or(root.status.take());
                    root.error |= error;
                }
                if let Some(implicit) = state.implicit_root.as_mut() {
                    implicit.noted(status.clone(), error);
                }
                if let Some(turn) = state.agent_turn.as_mut() {
                    turn.noted(status, error);
                }
            }
        }
    }

    fn on_follows_from(&self, id: &Id, follows: &Id, ctx: Context<'_, S>) {
        let Some(inner) = &self.inner else { return };
        let key_of = |id: &Id| {
            let span = ctx.span(id)?;
            genai::may_record(span.metadata()).then_some(())?;
            let extensions = span.extensions();
            let state = extensions.get::<SpanState>()?;
            Some((state.key, Arc::clone(&state.bundle)))
        };
        let Some((key, bundle)) = key_of(id) else {
            return;
        };
        let Some((follows, follows_bundle)) = key_of(follows) else {
            // A recorded span follows one that is gone (closed), or a rollout span that is
            // not recorded: say so. Following a span outside the vocabulary is not a loss.
            let outside = ctx
                .span(follows)
                .is_some_and(|s| SpanKind::from_span_name(s.name()).is_none());
            if !outside && !inner.writer.is_finished() {
                inner
                    .writer
                    .unlinked_follows("the span it follows has closed or is not recorded");
            }
            return;
        };
        if inner.writer.is_finished() {
            return;
        }
        if bundle.id != follows_bundle.id {
            inner
                .writer
                .unlinked_follows("the two spans are in different rollouts");
            return;
        }
        with_bufs(|bufs| {
            bundle.begin(&mut bufs.rec, Op::Record);
            format::encode_link(&mut bufs.rec, key, follows);
            inner.writer.send_record(&mut bufs.rec, &bundle);
        });
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let Some(inner) = &self.inner else { return };
        let name = event.metadata().name();
        // Ours, or else a GenAI event (one more prefix test), or else nothing to record.
        let genai_event = match name.starts_with(crate::vocab::EVENT_PREFIX) {
            true => None,
            false => match genai::GenAiEvent::from_name(name) {
                Some(genai_event) => Some(genai_event),
                None => return,
            },
        };
        if inner.writer.is_finished() {
            return;
        }
        let Some(scope) = ctx.event_scope(event) else {
            return;
        };
        let Some(owner) = nearest_recorded(scope) else {
            return;
        };
        let bundle = owner.bundle;
        if let Some(genai_event) = genai_event {
            with_bufs(|bufs| {
                let (writer, options) = (&inner.writer, inner.payload);
                genai_event.send_payloads(event, bufs, owner.key, options, writer, &bundle);
            });
        } else if name == PAYLOAD_EVENT {
            let mut role = Role::default();
            event.record(&mut role);
            let role = role.0.unwrap_or_default();
            with_bufs(|bufs| {
                bundle.begin(&mut bufs.rec, Op::Record);
                let mut payload = PayloadWriter {
                    rec: &mut bufs.rec,
                    writer: &inner.writer,
                    scratch: &mut bufs.scratch,
                    span: owner.key,
                    role: &role,
                    options: inner.payload,
                    written: false,
                };
                event.record(&mut payload);
                payload.finish();
                inner.writer.send_record(&mut bufs.rec, &bundle);
            });
        } else {
            with_bufs(|bufs| {
                bundle.begin(&mut bufs.rec, Op::Record);
                format::begin_event(&mut bufs.rec, owner.key, name);
                event.record(&mut FieldWriter::new(&mut bufs.rec));
                format::end_fields(&mut bufs.rec);
                inner.writer.send_record(&mut bufs.rec, &bundle);
            });
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(inner) = &self.inner else { return };
        let Some(span) = ctx.span(&id) else { return };
        if !genai::may_record(span.metadata()) {
            return;
        }
        let Some(state) = span.extensions_mut().remove::<SpanState>() else {
            return;
        };
        if let Some(thread_id) = &state.live_thread_id {
            inner.live_threads.unregister(thread_id, state.bundle.id);
        }
        if inner.writer.is_finished() {
            return;
        }
        let panicking = std::thread::panicking();
        let bundle = state.bundle;
        with_bufs(|bufs| {
            for span in state.sub_agent.iter().flat_map(|s| s.ends()) {
                span.end(bufs, panicking, &inner.writer, &bundle);
            }
            if let Some(turn) = &state.agent_turn {
                turn.end(bufs, panicking, &inner.writer, &bundle);
            }
            bundle.begin(&mut bufs.rec, Op::Record);
            format::encode_span_ended(&mut bufs.rec, state.key, panicking);
            inner.writer.send_record(&mut bufs.rec, &bundle);
            for span in state.implicit_root.iter().flat_map(|s| s.ends()) {
                span.end(bufs, panicking, &inner.writer, &bundle);
            }
        });
        if let Some(root) = state.root {
            let status = match root.status {
                Some(status) => status,
                None if root.error || panicking => "failed".to_owned(),
                None => "completed".to_owned(),
            };
            inner.writer.close_bundle(&bundle, &status);
        }
    }
}
