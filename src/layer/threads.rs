//! The live threads: for each `thread_id`, the bundles in which a thread span of that id is
//! open, so a thread span routed by its bare `parent_thread_id` joins the right rollout.
//!
//! Invariant: a thread id is live in a bundle exactly while at least one of its thread spans
//! there is open (registered in `on_new_span`, unregistered in `on_close`), and an id that is
//! live in several bundles (a batch of rollouts of one agent reuses thread ids) never
//! resolves to one of them. One lock, taken only when a thread span starts or closes, never
//! while anything is formatted or sent.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::writer::{lock, BundleHandle};

/// `thread_id` → every bundle it is live in and how many of its spans are open there.
#[derive(Default)]
pub(super) struct LiveThreads(Mutex<HashMap<String, Vec<LiveThread>>>);

struct LiveThread {
    bundle: Arc<BundleHandle>,
    open_spans: usize,
}

/// Where a bare `parent_thread_id` leads (see [`LiveThreads::resolve`]).
pub(super) enum ParentThread {
    /// Live in exactly one bundle.
    One(Arc<BundleHandle>),
    /// Not live anywhere.
    None,
    /// Live in several bundles: nothing says which one is meant.
    Ambiguous(usize),
}

impl LiveThreads {
    /// The bundle of the live thread `thread_id`, if exactly one bundle has it live.
    pub(super) fn resolve(&self, thread_id: &str) -> ParentThread {
        match lock(&self.0).get(thread_id).map(Vec::as_slice) {
            None | Some([]) => ParentThread::None,
            Some([one]) => ParentThread::One(Arc::clone(&one.bundle)),
            Some(many) => ParentThread::Ambiguous(many.len()),
        }
    }

    /// A thread span of `thread_id` opened in `bundle`.
    pub(super) fn register(&self, thread_id: &str, bundle: &Arc<BundleHandle>) {
        let mut live = lock(&self.0);
        let entries = live.entry(thread_id.to_owned()).or_default();
        match entries.iter_mut().find(|e| e.bundle.id == bundle.id) {
            Some(entry) => entry.open_spans += 1,
            None => entries.push(LiveThread {
                bundle: Arc::clone(bundle),
                open_spans: 1,
            }),
        }
    }

    /// A thread span of `thread_id` in bundle `bundle` closed.
    pub(super) fn unregister(&self, thread_id: &str, bundle: u64) {
        let mut live = lock(&self.0);
        if let Some(entries) = live.get_mut(thread_id) {
            if let Some(pos) = entries.iter().position(|e| e.bundle.id == bundle) {
                entries[pos].open_spans = entries[pos].open_spans.saturating_sub(1);
                if entries[pos].open_spans == 0 {
                    entries.swap_remove(pos);
                }
            }
            if entries.is_empty() {
                live.remove(thread_id);
            }
        }
    }
}
