//! The rollout, its threads (with resumes) and their turns: Codex's lifecycle events → the
//! `rollout`, `rollout.thread` and `rollout.turn` spans, and the end of the bundle.
//!
//! Invariant: a status we write is one the reducer reads as Codex meant it, except where
//! Codex's word says nothing: `thread_ended` and `rollout_ended` report `completed` whatever
//! happened, so a thread ends with the status of its last turn when that turn failed or was
//! cancelled, the rollout with its root thread's, and Codex's own word is kept beside it as
//! `reported_status`.

use std::io;

use serde_json::Value;

use super::ledger::Fate;
use super::map::{our_status, Mapper, ThreadSpan, TurnSpan};
use super::raw::{RolloutStarted, ThreadStarted};
use crate::format::SpanKind;
use crate::import::sink::Fields;
use crate::vocab::{field, role};

impl Mapper {
    pub(super) fn rollout_started(&mut self, e: RolloutStarted) -> io::Result<Fate> {
        if let Some(root) = &e.root_thread_id {
            self.root_thread_id.get_or_insert_with(|| root.clone());
        }
        let fields = Fields::new()
            .opt(field::TRACE_ID, e.trace_id)
            .opt("root_thread_id", e.root_thread_id);
        self.sink.span_recorded(self.rollout, &fields)?;
        Ok(Fate::Mapped)
    }

    /// The rollout ends with its root thread's status (its word kept as `reported_status`).
    pub(super) fn rollout_ended(&mut self, status: Option<String>) -> io::Result<Fate> {
        let derived = self
            .root_thread_id
            .as_deref()
            .and_then(|root| self.threads.get(root))
            .and_then(|t| t.derived_status.or(t.last_turn_status))
            .unwrap_or("completed");
        self.rollout_ended = Some(derived);
        let fields = Fields::new()
            .put(field::STATUS, derived)
            .opt("reported_status", status);
        self.sink.span_recorded(self.rollout, &fields)?;
        self.sink.span_ended(self.rollout)?;
        Ok(Fate::Mapped)
    }

    /// `bundle_ended` at the end of the import, if the rollout ended.
    pub(super) fn finish_bundle(&mut self) -> io::Result<()> {
        match self.rollout_ended {
            Some(status) if !self.sink.ended() => self.sink.end(status),
            _ => Ok(()),
        }
    }

    /// The span of `thread`; one is opened (with a diagnostic) for a thread never started.
    pub(super) fn thread_key(&mut self, thread: &str) -> io::Result<u64> {
        if let Some(t) = self.threads.get(thread) {
            return Ok(t.key);
        }
        self.diagnose(format!(
            "an event names thread {thread}, which never started; a thread was opened for it"
        ))?;
        self.open_thread(thread, Fields::new(), None)
    }

    /// Opens a thread span (a new thread, or another attachment of a known one).
    fn open_thread(
        &mut self,
        thread_id: &str,
        fields: Fields,
        parent: Option<u64>,
    ) -> io::Result<u64> {
        let key = self.key();
        let fields = Fields::new()
            .put(field::THREAD_ID, thread_id.to_owned())
            .extend(fields);
        let parent = parent.or(Some(self.rollout));
        self.sink
            .span_started(key, (parent, Some(key), None), SpanKind::Thread, &fields)?;
        let entry = self
            .threads
            .entry(thread_id.to_owned())
            .or_insert(ThreadSpan {
                key,
                open: true,
                last_turn_status: None,
                derived_status: None,
            });
        entry.key = key;
        entry.open = true;
        Ok(key)
    }

    pub(super) fn thread_started(&mut self, e: ThreadStarted) -> io::Result<Fate> {
        let metadata = e.metadata_payload.as_ref();
        if let Some(key) = self
            .threads
            .get(&e.thread_id)
            .filter(|t| t.open)
            .map(|t| t.key)
        {
            self.diagnose(format!(
                "thread {} started again while open; ignored",
                e.thread_id
            ))?;
            self.attach(key, role::METADATA, metadata, Fate::Evidence)?;
            return Ok(Fate::Diagnosed);
        }
        // Read first (the span carries what it says), written after the span opens (so the
        // thread owns it).
        let meta = self.peek(metadata);
        let text = |key: &str| {
            meta.as_ref()
                .and_then(|m| m.get(key))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        let parent = meta
            .as_ref()
            .and_then(|m| m.pointer("/session_source/subagent/thread_spawn/parent_thread_id"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let fields = Fields::new()
            .opt(
                field::AGENT_PATH,
                e.agent_path.or_else(|| text("agent_path")),
            )
            .opt(field::NICKNAME, text("nickname"))
            .opt(field::ROLE, text("agent_role"))
            .opt(field::MODEL, text("model"))
            .opt(field::PARENT_THREAD_ID, parent.clone())
            .opt("task_name", text("task_name"));
        let parent_key = parent
            .as_deref()
            .and_then(|p| self.threads.get(p))
            .map(|t| t.key);
        let key = self.open_thread(&e.thread_id, fields, parent_key)?;
        self.attach(key, role::METADATA, metadata, Fate::Mapped)?;
        Ok(Fate::Mapped)
    }

    /// `thread_resumed` (multi-agent v1 `resume_agent`): a closed thread attached again,
    /// which the reducer counts as a resume.
    pub(super) fn thread_resumed(&mut self, thread_id: &str) -> io::Result<Fate> {
        match self.threads.get(thread_id) {
            Some(t) if t.open => {
                let span = t.key;
                let fields = Fields::new().put(field::THREAD_ID, thread_id.to_owned());
                self.evidence("thread_resumed", span, &fields)?;
                Ok(Fate::Evidence)
            }
            // Closed, or started before this recording: a new attachment.
            Some(_) | None => {
                self.open_thread(thread_id, Fields::new(), None)?;
                Ok(Fate::Mapped)
            }
        }
    }

    pub(super) fn thread_ended(
        &mut self,
        thread_id: &str,
        status: Option<String>,
    ) -> io::Result<Fate> {
        let Some(t) = self.threads.get_mut(thread_id) else {
            return self.unknown_entity("thread", thread_id);
        };
        if !t.open {
            let span = t.key;
            let fields = Fields::new().opt("reported_status", status);
            self.evidence("thread_ended_again", span, &fields)?;
            return Ok(Fate::Evidence);
        }
        t.open = false;
        // The last turn's word is `completed`, `failed`, `cancelled` or `aborted`.
        let derived = t.last_turn_status.unwrap_or("completed");
        t.derived_status = Some(derived);
        let key = t.key;
        let fields = Fields::new()
            .put(field::STATUS, derived)
            .opt("reported_status", status);
        self.sink.span_recorded(key, &fields)?;
        self.sink.span_ended(key)?;
        Ok(Fate::Mapped)
    }

    pub(super) fn turn_started(&mut self, turn_id: &str, thread: Option<&str>) -> io::Result<Fate> {
        let Some(thread) = thread else {
            self.diagnose(format!("turn {turn_id} names no thread; ignored"))?;
            return Ok(Fate::Diagnosed);
        };
        if self.turns.get(turn_id).is_some_and(|t| t.open) {
            self.diagnose(format!("turn {turn_id} started again while open; ignored"))?;
            return Ok(Fate::Diagnosed);
        }
        let thread_key = self.thread_key(thread)?;
        let key = self.key();
        let fields = Fields::new().put(field::TURN_ID, turn_id.to_owned());
        let keys = (Some(thread_key), Some(thread_key), Some(key));
        self.sink.span_started(key, keys, SpanKind::Turn, &fields)?;
        let turn = TurnSpan {
            key,
            thread_id: thread.to_owned(),
            thread_key,
            open: true,
        };
        self.turns.insert(turn_id.to_owned(), turn);
        Ok(Fate::Mapped)
    }

    pub(super) fn turn_ended(&mut self, turn_id: &str, status: Option<String>) -> io::Result<Fate> {
        let Some(turn) = self.turns.get_mut(turn_id) else {
            return self.unknown_entity("turn", turn_id);
        };
        if !turn.open {
            let span = turn.key;
            let fields = Fields::new().opt("reported_status", status);
            self.evidence("turn_ended_again", span, &fields)?;
            return Ok(Fate::Evidence);
        }
        turn.open = false;
        let (key, thread) = (turn.key, turn.thread_id.clone());
        let word: &'static str = match status.as_deref().map(our_status) {
            Some("failed") => "failed",
            Some("cancelled") => "cancelled",
            Some("aborted") => "aborted",
            _ => "completed",
        };
        if let Some(t) = self.threads.get_mut(&thread) {
            t.last_turn_status = Some(word);
        }
        let fields = Fields::new().opt(field::STATUS, status.as_deref().map(our_status));
        self.sink.span_recorded(key, &fields)?;
        self.sink.span_ended(key)?;
        Ok(Fate::Mapped)
    }
}
