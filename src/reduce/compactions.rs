//! Compactions: one history compaction each, with every attempt of it (the reference agent
//! retries a failed compaction under the same id, often with another model), its checkpoint
//! payload and the items it replaced and left.
//!
//! Invariant: a compaction id is scoped by its thread, as turn ids are; the same id started
//! again in the same thread is another attempt of that compaction, never a second one.

use super::fields::field_str;
use super::reducer::{Reducer, SpanEntry};
use super::spans::reopen;
use super::state::{Compaction, CompactionAttempt, Execution};
use crate::format::SpanKind;
use crate::vocab::field;

impl Reducer {
    /// The lifetime of compaction `id`, for the span lifecycle (`spans.rs`), which sets it.
    pub(super) fn compaction_execution_mut(&mut self, id: &str) -> Option<&mut Execution> {
        self.state.compactions.get_mut(id).map(|c| &mut c.execution)
    }

    /// The lifetime of the attempt of compaction `id` whose span started at `start_seq`, for
    /// the span lifecycle.
    pub(super) fn attempt_execution_mut(
        &mut self,
        id: &str,
        start_seq: u64,
    ) -> Option<&mut Execution> {
        let c = self.state.compactions.get_mut(id)?;
        let attempt = c
            .attempts
            .iter_mut()
            .find(|a| a.execution.started_seq == start_seq)?;
        Some(&mut attempt.execution)
    }

    /// Starts a compaction, or another attempt of one (the same `compaction_id` again in the
    /// same thread); returns its id.
    pub(super) fn compaction_started(&mut self, key: u64, entry: &SpanEntry) -> String {
        let mut id = field_str(&entry.fields, field::COMPACTION_ID)
            .unwrap_or_else(|| format!("compaction:{key}"));
        let scoped = format!("{}/{id}", entry.thread_id.as_deref().unwrap_or(""));
        let retry_of = [&id, &scoped].into_iter().find(|k| {
            self.state
                .compactions
                .get(*k)
                .is_some_and(|c| c.thread_id == entry.thread_id)
        });
        if let Some(retried) = retry_of.cloned() {
            self.compaction_retried(&retried);
            return retried;
        }
        if self.state.compactions.contains_key(&id) {
            // Another thread's compaction (programs may number them per thread): the id is
            // scoped by its thread, as turn ids are; only a clash within that scope is worth
            // a warning.
            id = if self.state.compactions.contains_key(&scoped) {
                self.warn(format!(
                    "compaction id `{id}` seen twice; the second is `{id}#{key}`"
                ));
                format!("{id}#{key}")
            } else {
                scoped
            };
        }
        self.turn_lists(entry.turn_id.as_deref(), SpanKind::Compaction, &id);
        let compaction = Compaction {
            compaction_id: id.clone(),
            thread_id: entry.thread_id.clone(),
            turn_id: entry.turn_id.clone(),
            model: None,
            execution: self.execution(),
            input_items: Vec::new(),
            marker_item: None,
            replacement_items: Vec::new(),
            checkpoint_payload: None,
            attempts: Vec::new(),
        };
        self.state.compactions.insert(id.clone(), compaction);
        id
    }

    /// Compaction `id` is attempted again: its first attempt is kept as one, and it runs again.
    fn compaction_retried(&mut self, id: &str) {
        let attempt = CompactionAttempt {
            model: None,
            execution: self.execution(),
        };
        if let Some(c) = self.state.compactions.get_mut(id) {
            if c.attempts.is_empty() {
                c.attempts.push(CompactionAttempt {
                    model: c.model.clone(),
                    execution: c.execution.clone(),
                });
            }
            c.attempts.push(attempt);
            reopen(&mut c.execution);
        }
    }

    /// A compaction attempt's span (started at `start_seq`) names its model.
    pub(super) fn compaction_fields(&mut self, id: &str, start_seq: u64, model: Option<String>) {
        if let Some(c) = self.state.compactions.get_mut(id) {
            c.model = model.clone().or(c.model.take());
            if let Some(attempt) = c
                .attempts
                .iter_mut()
                .find(|a| a.execution.started_seq == start_seq)
            {
                attempt.model = model.or(attempt.model.take());
            }
        }
    }

    /// Payload `seq` is the checkpoint of compaction `id`.
    pub(super) fn compaction_checkpoint_payload(&mut self, id: &str, seq: u64) {
        if let Some(c) = self.state.compactions.get_mut(id) {
            c.checkpoint_payload = Some(seq);
        }
    }

    /// The items compaction `id` replaced, its marker, and what replaced them.
    pub(super) fn compaction_items(
        &mut self,
        id: &str,
        input: Vec<String>,
        marker: String,
        replacement: Vec<String>,
    ) {
        if let Some(c) = self.state.compactions.get_mut(id) {
            c.input_items = input;
            c.marker_item = Some(marker);
            c.replacement_items = replacement;
        }
    }
}
