//! Payload records: indexed by seq (`payloads`), then routed by their span's kind and their
//! role — a model request or response to the conversation, a compaction checkpoint to the
//! compaction's history, tool, code cell and terminal evidence to its entity.
//!
//! Invariant: every payload record is indexed, interpreted or not, so raw evidence is always
//! reachable from the graph; only a whole body is interpreted (a truncated or omitted one is
//! said and kept as evidence), and a body the reducer cannot read, or a role outside the
//! vocabulary, is said in a diagnostic, never dropped in silence.

use std::fmt::Display;

use serde_json::Value;

use super::calls::CallPayload;
use super::error::ReduceError;
use super::fields::field_str;
use super::payloads::{prepend_instructions, Origin};
use super::reducer::Reducer;
use super::state::PayloadRef;
use crate::format::PayloadHead;
use crate::format::SpanKind;
use crate::vocab::{field, genai, role};

/// The entity a payload belongs to, as routing needs it.
#[derive(Debug)]
struct Target {
    /// The span's key and its entity's id.
    key: u64,
    id: String,
    thread: Option<String>,
    turn: Option<String>,
    /// The span's `provider` field: which dialect to try first.
    hint: Option<String>,
}

/// What reads a parsed model payload into the conversation: the reducer, the inference call,
/// its thread and turn, and what was parsed.
type Interpret<T> = fn(&mut Reducer, &str, &str, Option<String>, T) -> Result<(), ReduceError>;

impl Reducer {
    /// The payload record being applied, with its whole body.
    pub(super) fn payload_record(
        &mut self,
        head: &PayloadHead<'_>,
        body: &str,
    ) -> Result<(), ReduceError> {
        let PayloadHead {
            span,
            ref role,
            bytes,
            truncated,
            omitted,
            cut_bytes: _,
        } = *head;
        let Some(owner) = self.span_ref(span, "payload")? else {
            return Ok(());
        };
        let payload = PayloadRef {
            role: role.to_string(),
            owner: owner.anchor(span),
            bytes,
            offset: self.offset,
            len: self.line_len,
            truncated,
        };
        self.state.payloads.insert(self.seq, payload);
        if truncated || omitted {
            self.warn(format!(
                "{role} payload of span {span} was {} by the writer; not interpreted",
                if omitted { "omitted" } else { "truncated" }
            ));
            return Ok(());
        }
        self.route_payload(span, role, body)
    }

    /// A payload record whose body a reader's limit left out (`why` names the record): kept
    /// in the graph as not whole, not interpreted, reported.
    pub(super) fn payload_left_out(
        &mut self,
        head: &PayloadHead<'_>,
        why: String,
    ) -> Result<(), ReduceError> {
        self.state.complete = false;
        self.warn(why);
        let Some(owner) = self.span_ref(head.span, "payload")? else {
            return Ok(());
        };
        let payload = PayloadRef {
            role: head.role.to_string(),
            owner: owner.anchor(head.span),
            bytes: head.bytes,
            offset: self.offset,
            len: self.line_len,
            truncated: true,
        };
        self.state.payloads.insert(self.seq, payload);
        Ok(())
    }

    /// Which payload role on which span kind goes where: attached to its entity, and
    /// interpreted when it is model-facing.
    fn route_payload(&mut self, key: u64, role: &str, body: &str) -> Result<(), ReduceError> {
        let Some(entry) = self.spans.get(&key) else {
            return Ok(());
        };
        let kind = entry.kind;
        let target = Target {
            key,
            id: entry.id.clone(),
            thread: entry.thread_id.clone(),
            turn: entry.turn_id.clone(),
            hint: field_str(&entry.fields, field::PROVIDER),
        };
        let (id, seq) = (target.id.as_str(), self.seq);
        match (kind, role) {
            (SpanKind::Inference, role::SYSTEM_INSTRUCTIONS) => {
                // Joins the request that follows (GenAI spans record both apart).
                let body = Value::String(body.to_owned());
                self.span_field_put(key, genai::SYSTEM_INSTRUCTIONS, body);
            }
            (SpanKind::Inference, role::REQUEST) => {
                self.inference_request_payload(id, seq);
                self.request_payload(&target, body)?;
            }
            (SpanKind::Inference, role::TOOL_DEFINITIONS) => {
                self.inference_tool_definitions_payload(id, seq);
            }
            (SpanKind::Inference, role::RESPONSE) => {
                self.inference_response_payload(id, seq);
                self.response_payload(&target, body)?;
            }
            (SpanKind::Compaction, role::CHECKPOINT) => {
                self.compaction_checkpoint_payload(id, seq);
                self.checkpoint_payload(&target, body)?;
            }
            (SpanKind::Tool, role::ARGS) => self.call_payload(id, CallPayload::ToolArgs, seq),
            (SpanKind::Tool, role::RESULT | role::OUTPUT) => {
                self.call_payload(id, CallPayload::ToolResult, seq)
            }
            (SpanKind::CodeCell, role::SOURCE) => {
                self.call_payload(id, CallPayload::CellSource, seq)
            }
            (SpanKind::CodeCell, role::OUTPUT | role::RESULT) => {
                self.call_payload(id, CallPayload::CellOutput, seq)
            }
            (SpanKind::Terminal, _) => self.call_payload(id, CallPayload::Terminal, seq),
            // A role outside the vocabulary: kept, but said, since a misspelt `reponse`
            // would otherwise vanish from the graph.
            (_, role) if !role::ALL.contains(&role) => {
                self.warn(format!(
                    "payload {seq} of {kind} {id} has role `{role}`, which is not one of {}; \
                     kept as raw evidence only",
                    role::ALL.join(", ")
                ));
            }
            // Everything else (thread metadata, compaction requests, …) stays raw evidence,
            // reachable through the payload index.
            (
                SpanKind::Rollout
                | SpanKind::Thread
                | SpanKind::Turn
                | SpanKind::Inference
                | SpanKind::Tool
                | SpanKind::CodeCell
                | SpanKind::Compaction,
                _,
            ) => {}
        }
        Ok(())
    }

    /// A model request: its items join the conversation, behind the system instructions
    /// recorded apart before it.
    fn request_payload(&mut self, target: &Target, body: &str) -> Result<(), ReduceError> {
        let instructions = self.span_field_take(target.key, genai::SYSTEM_INSTRUCTIONS);
        let origin = self.stores_parts.then_some(Origin {
            seq: self.seq,
            shared: &self.shared,
        });
        let request = self
            .memo
            .request(body, target.hint.as_deref(), origin)
            .and_then(
                |mut request| match instructions.as_ref().and_then(Value::as_str) {
                    Some(text) => prepend_instructions(&mut request, text).map(|()| request),
                    None => Ok(request),
                },
            );
        self.interpret(role::REQUEST, target, request, Reducer::model_request)
    }

    /// A model response: its items join the conversation.
    fn response_payload(&mut self, target: &Target, body: &str) -> Result<(), ReduceError> {
        let origin = self.stores_parts.then_some(Origin {
            seq: self.seq,
            shared: &self.shared,
        });
        let response = self.memo.response(body, target.hint.as_deref(), origin);
        self.interpret(role::RESPONSE, target, response, Reducer::model_response)
    }

    /// A model-facing payload (`what`: its role) parsed as `parsed`: applied to the thread
    /// it belongs to, or said why not.
    fn interpret<T, E: Display>(
        &mut self,
        what: &str,
        target: &Target,
        parsed: Result<T, E>,
        apply: Interpret<T>,
    ) -> Result<(), ReduceError> {
        let id = &target.id;
        match (parsed, &target.thread) {
            (Ok(parsed), Some(thread)) => apply(self, id, thread, target.turn.clone(), parsed)?,
            (Ok(_), None) => self.warn(format!(
                "{what} of {id} is outside any thread; its items are not tracked"
            )),
            (Err(e), _) => self.warn(format!(
                "{what} payload of {id} is not a model {what} this reducer knows ({e}); kept as raw evidence"
            )),
        }
        Ok(())
    }

    /// A compaction checkpoint: the history the compaction replaced, and what replaced it.
    fn checkpoint_payload(&mut self, target: &Target, body: &str) -> Result<(), ReduceError> {
        let id = &target.id;
        let origin = self.stores_parts.then_some(Origin {
            seq: self.seq,
            shared: &self.shared,
        });
        match (
            self.memo.checkpoint(body, target.hint.as_deref(), origin),
            &target.thread,
        ) {
            (Some((Ok(input), Ok(replacement))), Some(thread)) => {
                let turn = target.turn.clone();
                self.compaction_checkpoint(id, thread, turn, input, replacement)?
            }
            (Some((Err(e), _) | (_, Err(e))), _) => self.warn(format!(
                "checkpoint of compaction {id} has items this reducer does not know ({e})"
            )),
            (None, _) => self.warn(format!(
                "checkpoint of compaction {id} lacks `input_history`/`replacement_history` arrays"
            )),
            (Some(_), None) => self.warn(format!(
                "checkpoint of compaction {id} is outside any thread"
            )),
        }
        Ok(())
    }
}
