//! The structure the layer records that no span of the program stands for: the turn of a GenAI
//! agent invocation ([`AgentTurn`]), and a thread with one turn ([`ImplicitThread`]) around
//! model calls made inside a tool call (a sub-agent) or around a model or tool call made
//! outside any thread (a root call, which starts a rollout of its own).
//!
//! Invariant: these are ordinary records with keys minted like any span's, sent in the order a
//! real span would produce them — a parent's `span_started` before its children's, its
//! `span_ended` after theirs — so the reducer builds them like any thread and turn and needs
//! no knowledge of why they exist. Each ends with the status the span it stands for recorded
//! (an `error` becomes `"error": true`), else as a span that closed without one.

use std::sync::atomic::{AtomicU64, Ordering};

use super::Bufs;
use crate::format::{self, SpanKind};
use crate::vocab;
use crate::writer::{BundleHandle, Op, Writer};

/// A span the layer records that no span of the program stands for (a turn or a thread): its
/// key, and how it ends — the `status` or `error` the span it stands for recorded.
#[derive(Debug)]
pub(super) struct ImplicitSpan {
    pub(super) key: u64,
    status: Option<String>,
    error: bool,
}

/// The turn the layer records for a GenAI agent invocation: the conventions have no turn span,
/// so each `invoke_agent` span is also one turn of its thread (named like the agent span, no
/// fields of its own). It ends just before the agent span, with the agent span's `status` /
/// `error`.
pub(super) type AgentTurn = ImplicitSpan;

impl ImplicitSpan {
    /// A span with a freshly minted key.
    pub(super) fn new(keys: &AtomicU64) -> ImplicitSpan {
        ImplicitSpan {
            key: keys.fetch_add(1, Ordering::Relaxed),
            status: None,
            error: false,
        }
    }

    /// The body of the `span_started` of this span as a turn, inside the thread span `thread`.
    pub(super) fn encode_started(&self, rec: &mut Vec<u8>, thread: u64, name: &str) {
        let key = Some(self.key);
        format::begin_span_started(
            rec,
            self.key,
            Some(thread),
            Some(thread),
            key,
            SpanKind::Turn,
            name,
        );
        format::end_fields(rec);
    }

    /// The span this one stands for recorded a `status` or an `error`.
    pub(super) fn noted(&mut self, status: Option<String>, error: bool) {
        self.status = status.or(self.status.take());
        self.error |= error;
    }

    /// Sends the span's end: its status first when one was noted.
    pub(super) fn end(
        &self,
        bufs: &mut Bufs,
        panicking: bool,
        writer: &Writer,
        bundle: &BundleHandle,
    ) {
        if self.status.is_some() || self.error {
            bundle.begin(&mut bufs.rec, Op::Record);
            format::begin_span_recorded(&mut bufs.rec, self.key);
            match &self.status {
                Some(status) => {
                    format::push_json_str(&mut bufs.rec, vocab::field::STATUS);
                    bufs.rec.push(b':');
                    format::push_json_str(&mut bufs.rec, status);
                }
                None => {
                    format::push_json_str(&mut bufs.rec, vocab::field::ERROR);
                    bufs.rec.extend_from_slice(b":true");
                }
            }
            format::end_fields(&mut bufs.rec);
            writer.send_record(&mut bufs.rec, bundle);
        }
        bundle.begin(&mut bufs.rec, Op::Record);
        format::encode_span_ended(&mut bufs.rec, self.key, panicking);
        writer.send_record(&mut bufs.rec, bundle);
    }
}

/// A thread and its one turn that no span of the program stands for:
/// - a sub-agent: model calls made inside a tool call with no agent span of their own are a
///   child thread spawned by the tool (a `link` from it, as `follows_from` would make),
///   started with the first such call and ended just before the tool span;
/// - a root call: a model or tool call with no thread and no rollout around it runs in a thread
///   and turn of its own, the rollout's root, started just before the call and ended just
///   after it with the call's status.
#[derive(Debug)]
pub(super) struct ImplicitThread {
    pub(super) thread: ImplicitSpan,
    pub(super) turn: ImplicitSpan,
}

impl ImplicitThread {
    /// A thread and turn with freshly minted keys.
    pub(super) fn new(keys: &AtomicU64) -> ImplicitThread {
        ImplicitThread {
            thread: ImplicitSpan::new(keys),
            turn: ImplicitSpan::new(keys),
        }
    }

    /// Sends the thread's start (inside the tool span `spawned_by`, with a link to it, for a
    /// sub-agent; at the root otherwise) and its turn's start.
    pub(super) fn send_started(
        &self,
        bufs: &mut Bufs,
        spawned_by: Option<u64>,
        name: &str,
        writer: &Writer,
        bundle: &BundleHandle,
    ) {
        let thread = self.thread.key;
        bundle.begin(&mut bufs.rec, Op::Record);
        format::begin_span_started(
            &mut bufs.rec,
            thread,
            spawned_by,
            Some(thread),
            None,
            SpanKind::Thread,
            name,
        );
        format::end_fields(&mut bufs.rec);
        writer.send_record(&mut bufs.rec, bundle);
        if let Some(tool) = spawned_by {
            bundle.begin(&mut bufs.rec, Op::Record);
            format::encode_link(&mut bufs.rec, thread, tool);
            writer.send_record(&mut bufs.rec, bundle);
        }
        bundle.begin(&mut bufs.rec, Op::Record);
        self.turn.encode_started(&mut bufs.rec, thread, name);
        writer.send_record(&mut bufs.rec, bundle);
    }

    /// The call the thread stands around recorded a `status` or an `error`: its turn and
    /// thread end with it.
    pub(super) fn noted(&mut self, status: Option<String>, error: bool) {
        self.turn.noted(status.clone(), error);
        self.thread.noted(status, error);
    }

    /// The spans to end, in the order they end: the turn, then the thread.
    pub(super) fn ends(&self) -> [&ImplicitSpan; 2] {
        [&self.turn, &self.thread]
    }
}
