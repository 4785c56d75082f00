//! Inference calls, compactions, agent results and Codex's breadcrumbs: the raw events about
//! what the model saw and produced → `rollout.inference` and `rollout.compaction` spans with
//! their bodies, `rollout.agent_result` events, and evidence.
//!
//! Invariant: the bodies the reducer reads to rebuild the conversation are written unchanged
//! (whitespace aside) under the roles it interprets — a request as `request`, a (partial)
//! response as `response`, a checkpoint as `checkpoint` — so the items, usage and call links
//! it derives are the ones Codex's own payloads imply; everything else Codex wrote about a
//! model call travels as fields (`response_id`, `upstream_request_id`, `error`) or evidence.

use std::io;

use serde_json::Value;

use super::ledger::Fate;
use super::map::{Ctx, Mapper};
use super::raw::{
    AgentResult, CompactionInstalled, CompactionRequestEnded, CompactionRequestStarted,
    HistoryItem, InferenceEnded, InferenceStarted, ProtocolEvent,
};
use crate::format::SpanKind;
use crate::import::sink::Fields;
use crate::vocab::{field, role, AGENT_RESULT_EVENT};

/// A thread and a turn id as an event gives them (its own, else the envelope's).
type Names<'a> = (Option<&'a str>, Option<&'a str>);

impl Mapper {
    pub(super) fn inference_started(
        &mut self,
        e: InferenceStarted,
        (thread, turn): Names<'_>,
    ) -> io::Result<Fate> {
        let ctx = self.ctx(
            e.thread_id.as_deref().or(thread),
            e.codex_turn_id.as_deref().or(turn),
        )?;
        if self.inferences.contains_key(&e.inference_call_id) {
            self.diagnose(format!(
                "inference call {} started again while running; ignored",
                e.inference_call_id
            ))?;
            return Ok(Fate::Diagnosed);
        }
        let key = self.key();
        let fields = Fields::new()
            .opt(field::MODEL, e.model)
            .opt(field::PROVIDER, e.provider_name)
            .put("inference_call_id", e.inference_call_id.clone());
        self.start(key, &ctx, SpanKind::Inference, &fields)?;
        self.inferences.insert(e.inference_call_id, key);
        self.attach(key, role::REQUEST, e.request_payload.as_ref(), Fate::Mapped)?;
        Ok(Fate::Mapped)
    }

    /// `inference_completed` / `_failed` / `_cancelled`: the (partial) response, the ids,
    /// the status, and the error or cancel reason as `error` (an explicit status wins over
    /// it in the reducer).
    pub(super) fn inference_ended(&mut self, e: InferenceEnded, status: &str) -> io::Result<Fate> {
        let Some(key) = self.inferences.remove(&e.inference_call_id) else {
            return self.unknown_entity("inference call", &e.inference_call_id);
        };
        let response = e
            .response_payload
            .as_ref()
            .or(e.partial_response_payload.as_ref());
        self.attach(key, role::RESPONSE, response, Fate::Mapped)?;
        let fields = Fields::new()
            .opt(field::RESPONSE_ID, e.response_id)
            .opt(field::UPSTREAM_REQUEST_ID, e.upstream_request_id)
            .put(field::STATUS, status.to_owned())
            .opt(field::ERROR, e.error.or(e.reason));
        self.sink.span_recorded(key, &fields)?;
        self.sink.span_ended(key)?;
        Ok(Fate::Mapped)
    }

    /// Opens a span for one compaction request (an attempt); the reducer joins the attempts
    /// that share a `compaction_id` in one thread into one compaction.
    fn compaction_attempt(
        &mut self,
        compaction_id: &str,
        ctx: &Ctx,
        fields: &Fields,
    ) -> io::Result<u64> {
        if let Some(open) = self.compactions.remove(compaction_id) {
            // The previous attempt never said how it ended; the new one replaces it.
            self.sink.span_ended(open)?;
        }
        let key = self.key();
        self.start(key, ctx, SpanKind::Compaction, fields)?;
        self.compactions.insert(compaction_id.to_owned(), key);
        Ok(key)
    }

    pub(super) fn compaction_started(
        &mut self,
        e: CompactionRequestStarted,
        (thread, turn): Names<'_>,
    ) -> io::Result<Fate> {
        let ctx = self.ctx(
            e.thread_id.as_deref().or(thread),
            e.codex_turn_id.as_deref().or(turn),
        )?;
        let fields = Fields::new()
            .put(field::COMPACTION_ID, e.compaction_id.clone())
            .opt(field::MODEL, e.model)
            .opt(field::PROVIDER, e.provider_name)
            .opt("compaction_request_id", e.compaction_request_id);
        let key = self.compaction_attempt(&e.compaction_id, &ctx, &fields)?;
        self.attach(
            key,
            role::REQUEST,
            e.request_payload.as_ref(),
            Fate::Evidence,
        )?;
        Ok(Fate::Mapped)
    }

    pub(super) fn compaction_responded(&mut self, e: CompactionRequestEnded) -> io::Result<Fate> {
        let Some(&key) = self.compactions.get(&e.compaction_id) else {
            return self.unknown_entity("compaction", &e.compaction_id);
        };
        self.attach(
            key,
            role::RESPONSE,
            e.response_payload.as_ref(),
            Fate::Evidence,
        )?;
        Ok(Fate::Mapped)
    }

    pub(super) fn compaction_failed(&mut self, e: CompactionRequestEnded) -> io::Result<Fate> {
        let Some(key) = self.compactions.remove(&e.compaction_id) else {
            return self.unknown_entity("compaction", &e.compaction_id);
        };
        let fields = Fields::new()
            .put(field::STATUS, "failed")
            .opt(field::ERROR, e.error);
        self.sink.span_recorded(key, &fields)?;
        self.sink.span_ended(key)?;
        Ok(Fate::Mapped)
    }

    /// The replacement history became live: the checkpoint on the open attempt (or on a
    /// compaction of this moment, when no request was traced), which then ends.
    pub(super) fn compaction_installed(
        &mut self,
        e: CompactionInstalled,
        (thread, turn): Names<'_>,
    ) -> io::Result<Fate> {
        let key = match self.compactions.remove(&e.compaction_id) {
            Some(key) => key,
            None => {
                let ctx = self.ctx(thread, turn)?;
                let fields = Fields::new().put(field::COMPACTION_ID, e.compaction_id.clone());
                let key = self.compaction_attempt(&e.compaction_id, &ctx, &fields)?;
                self.compactions.remove(&e.compaction_id);
                key
            }
        };
        let checkpoint = e.checkpoint_payload.as_ref();
        self.attach(key, role::CHECKPOINT, checkpoint, Fate::Mapped)?;
        let fields = Fields::new().put(field::STATUS, "completed");
        self.sink.span_recorded(key, &fields)?;
        self.sink.span_ended(key)?;
        Ok(Fate::Mapped)
    }

    /// A child's result delivered to its parent: `rollout.agent_result` in the child's turn.
    pub(super) fn agent_result(&mut self, e: AgentResult) -> io::Result<Fate> {
        let ctx = self.ctx(Some(&e.child_thread_id), e.child_codex_turn_id.as_deref())?;
        let span = ctx.span().unwrap_or(self.rollout);
        let carried = e.carried_payload.as_ref();
        // `{"completed": "…"}`, `{"errored": "…"}`, or a word.
        let status = self.peek(carried).and_then(|v| match v.get("status")? {
            Value::String(s) => Some(s.clone()),
            Value::Object(map) => map.keys().next().cloned(),
            _ => None,
        });
        self.attach(span, role::RESULT, carried, Fate::Evidence)?;
        let fields = Fields::new()
            .put(field::PARENT_THREAD_ID, e.parent_thread_id)
            .opt(field::MESSAGE, e.message)
            .opt(field::STATUS, status)
            .opt("edge_id", e.edge_id);
        self.sink.event(span, AGENT_RESULT_EVENT, &fields)?;
        Ok(Fate::Mapped)
    }

    /// A protocol event Codex kept as a breadcrumb: its payload, as `metadata` of the rollout.
    pub(super) fn protocol_event(&mut self, e: ProtocolEvent) -> io::Result<Fate> {
        if e.event_payload.is_none() {
            let fields = Fields::new().opt("event_type", e.event_type);
            self.evidence("protocol_event", self.rollout, &fields)?;
        }
        let payload = e.event_payload.as_ref();
        self.attach(self.rollout, role::METADATA, payload, Fate::Evidence)?;
        Ok(Fate::Evidence)
    }

    /// An item accepted into a thread's history: evidence in its turn.
    pub(super) fn history_item(
        &mut self,
        e: HistoryItem,
        (thread, turn): Names<'_>,
    ) -> io::Result<Fate> {
        let ctx = self.ctx(thread, turn)?;
        let span = ctx.span().unwrap_or(self.rollout);
        let fields = Fields::new().opt("item_id", e.item_id);
        self.evidence("history_item_accepted", span, &fields)?;
        let payload = e.agent_message_payload.as_ref();
        self.attach(span, role::METADATA, payload, Fate::Evidence)?;
        Ok(Fate::Evidence)
    }
}
