//! Inference calls: one model request/response attempt each — what its span's fields say
//! (model, provider, usage, response id), its payloads, how its response says it ended, and
//! the tool calls its response started.
//!
//! Invariant: a thread's response ids (its replay state's `responses`) name the inference call
//! that produced each, so an incremental request (`previous_response_id`) finds the history
//! it continues with one lookup; the first response id a call is given stands. A call's
//! request items are stored against its thread's previous request list (`requests.rs`), and a
//! list others are stored against never changes under them: asked again, its dependents are
//! stored whole first.

use super::fields::InferenceFields;
use super::payloads::{ModelRequest, ModelResponse};
use super::reducer::{Reducer, RequestChain, SpanEntry, ThreadRef};
use super::requests::delta_parts;
use super::state::{item_id, Execution, InferenceCall, RequestDelta, RequestItems, Status, Usage};

/// What one step of a request chain costs to walk, beyond its parts (a lookup of its base).
const CHAIN_STEP_COST: usize = 4;

/// A request list is stored whole once walking back to the last whole one would cost more
/// than this many steps per item it holds: resolving a call stays within a few times its
/// length, and the whole lists stored add at most about as much as the changes do.
const CHAIN_COST_PER_ITEM: usize = 4;
use crate::format::SpanKind;

impl Reducer {
    /// The lifetime of inference call `id`, for the span lifecycle (`spans.rs`), which sets it.
    pub(super) fn inference_execution_mut(&mut self, id: &str) -> Option<&mut Execution> {
        self.state
            .inference_calls
            .get_mut(id)
            .map(|c| &mut c.execution)
    }

    /// Whether inference call `id` sent a request the reducer saw (a request payload), and
    /// whether anything says it was answered: a response payload, or the span's response id,
    /// usage, finish reasons or time to first chunk (all a provider's answer carries, content
    /// captured or not).
    pub(super) fn inference_outcome(&self, id: &str) -> Option<(bool, bool)> {
        let c = self.state.inference_calls.get(id)?;
        let answered = c.response_payload.is_some()
            || c.response_id.is_some()
            || c.usage.is_some()
            || !c.finish_reasons.is_empty()
            || c.time_to_first_chunk_ns.is_some();
        Some((c.request_payload.is_some(), answered))
    }

    /// A `rollout.inference` span started: a call of the turn it runs in.
    pub(super) fn inference_started(&mut self, entry: &SpanEntry) {
        self.turn_lists(entry.turn_id.as_deref(), SpanKind::Inference, &entry.id);
        let call = InferenceCall {
            inference_call_id: entry.id.clone(),
            thread_id: entry.thread_id.clone(),
            turn_id: entry.turn_id.clone(),
            model: None,
            provider: None,
            response_id: None,
            previous_response_id: None,
            upstream_request_id: None,
            error_type: None,
            payload_format: None,
            execution: self.execution(),
            usage: None,
            request_items: RequestItems::default(),
            response_items: Vec::new(),
            tool_calls: Vec::new(),
            request_payload: None,
            response_payload: None,
            finish_reasons: Vec::new(),
            time_to_first_chunk_ns: None,
            tool_definitions_payload: None,
        };
        self.state.inference_calls.insert(entry.id.clone(), call);
    }

    pub(super) fn inference_fields(
        &mut self,
        id: &str,
        thread: Option<String>,
        f: InferenceFields,
    ) {
        let Some(c) = self.state.inference_calls.get_mut(id) else {
            return;
        };
        c.model = f.model.or(c.model.take());
        c.provider = f.provider.or(c.provider.take());
        c.previous_response_id = f.previous_response_id.or(c.previous_response_id.take());
        c.upstream_request_id = f.upstream_request_id.or(c.upstream_request_id.take());
        // Each count is the span's latest value of it: usage recorded twice on one span (rig
        // records it as the agent and as the provider) counts once.
        if f.tokens.iter().any(Option::is_some) {
            let usage = c.usage.get_or_insert_with(Usage::default);
            let [i, o, ci, r, cw] = f.tokens;
            usage.input_tokens = i.unwrap_or(usage.input_tokens);
            usage.output_tokens = o.unwrap_or(usage.output_tokens);
            usage.cached_input_tokens = ci.unwrap_or(usage.cached_input_tokens);
            usage.reasoning_tokens = r.unwrap_or(usage.reasoning_tokens);
            usage.cache_write_input_tokens = cw.unwrap_or(usage.cache_write_input_tokens);
        }
        if let Some(reasons) = f.finish_reasons {
            c.finish_reasons = reasons;
        }
        c.time_to_first_chunk_ns = f.time_to_first_chunk_ns.or(c.time_to_first_chunk_ns);
        if let Some(response_id) = f.response_id {
            c.response_id = Some(response_id.clone());
            if let Some(thread) = thread {
                let thread = self.thread(&thread);
                self.replays[thread.no]
                    .responses
                    .insert(response_id, id.to_owned());
            }
        }
    }

    /// Payload `seq` is the request of inference call `id`.
    pub(super) fn inference_request_payload(&mut self, id: &str, seq: u64) {
        if let Some(c) = self.state.inference_calls.get_mut(id) {
            c.request_payload = Some(seq);
        }
    }

    /// Payload `seq` lists the tools offered to inference call `id`.
    pub(super) fn inference_tool_definitions_payload(&mut self, id: &str, seq: u64) {
        if let Some(c) = self.state.inference_calls.get_mut(id) {
            c.tool_definitions_payload = Some(seq);
        }
    }

    /// Payload `seq` is the response of inference call `id`: it no longer ends by default.
    pub(super) fn inference_response_payload(&mut self, id: &str, seq: u64) {
        if let Some(c) = self.state.inference_calls.get_mut(id) {
            c.response_payload = Some(seq);
        }
        self.inference_answered(id);
    }

    /// Inference call `id` sent `request`: its shape, and the response it continues (the
    /// span's `previous_response_id` field first), which is returned.
    pub(super) fn inference_requested(
        &mut self,
        id: &str,
        request: &ModelRequest,
    ) -> Option<String> {
        let call = self.state.inference_calls.get_mut(id)?;
        call.payload_format = Some(request.format.as_str().to_owned());
        if call.previous_response_id.is_none() {
            call.previous_response_id = request.previous_response_id.clone();
        }
        call.previous_response_id.clone()
    }

    /// Inference call `id` got `response` in `thread`: its shape, usage, how it ended (an API
    /// error fails it, a stream that stopped early cancels it) and its response id.
    pub(super) fn inference_responded(
        &mut self,
        id: &str,
        thread: ThreadRef<'_>,
        response: &ModelResponse,
    ) {
        let Some(call) = self.state.inference_calls.get_mut(id) else {
            return;
        };
        call.payload_format
            .get_or_insert_with(|| response.format.as_str().to_owned());
        call.usage = response.usage.or(call.usage);
        if response.ended_early && call.execution.status == Status::Running {
            call.execution.status = Status::Cancelled;
        }
        if let Some(error) = &response.error {
            call.execution.status = Status::Failed;
            call.error_type = error.kind.clone();
            call.execution.error.get_or_insert_with(|| error.describe());
        }
        if call.response_id.is_none() {
            if let Some(response_id) = response.response_id.clone() {
                call.response_id = Some(response_id.clone());
                self.replays[thread.no]
                    .responses
                    .insert(response_id, id.to_owned());
            }
        }
    }

    /// The items of inference call `id`'s request in `thread` (by number): stored against
    /// the thread's previous request list when that is smaller (see `requests.rs`). A list
    /// stored whole starts the chain again once walking the chain back to the last one
    /// would cost more than [`CHAIN_COST_PER_ITEM`] steps per item of the list.
    pub(super) fn inference_request_items(
        &mut self,
        id: &str,
        thread: ThreadRef<'_>,
        items: Vec<u64>,
    ) {
        if !self.state.inference_calls.contains_key(id) {
            return;
        }
        // A call asked again after others were stored against its list: they keep the list
        // they had, stored whole.
        for dependent in self.request_dependents.remove(id).unwrap_or_default() {
            let whole: Vec<String> = match self.state.inference_calls.get(&dependent) {
                Some(call) => self
                    .state
                    .request_items(call)
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
                None => continue,
            };
            if let Some(call) = self.state.inference_calls.get_mut(&dependent) {
                call.request_items = RequestItems::List(whole);
            }
        }
        let chain = self.replays[thread.no].requests.take();
        let stored = chain.filter(|chain| chain.call != id).and_then(|chain| {
            let parts = delta_parts(&chain.items, &items, item_id);
            let cost = chain.cost + CHAIN_STEP_COST + parts.len();
            let cheaper = parts.len() < items.len();
            let walkable = cost <= CHAIN_COST_PER_ITEM * items.len() + CHAIN_STEP_COST;
            (cheaper && walkable).then_some((chain.call, parts, cost))
        });
        let (request_items, cost) = match stored {
            Some((base, parts, cost)) => {
                self.request_dependents
                    .entry(base.clone())
                    .or_default()
                    .push(id.to_owned());
                (RequestItems::Delta(RequestDelta { base, parts }), cost)
            }
            None => (
                RequestItems::List(items.iter().map(|&n| item_id(n)).collect()),
                0,
            ),
        };
        if let Some(call) = self.state.inference_calls.get_mut(id) {
            call.request_items = request_items;
        }
        self.replays[thread.no].requests = Some(RequestChain {
            call: id.to_owned(),
            items,
            cost,
        });
    }

    /// The items of inference call `id`'s response.
    pub(super) fn inference_response_items(&mut self, id: &str, items: Vec<String>) {
        if let Some(call) = self.state.inference_calls.get_mut(id) {
            call.response_items = items;
        }
    }

    /// Inference call `inference` started tool call `tool` (its response carried the call).
    pub(super) fn inference_started_tool(&mut self, inference: &str, tool: &str) {
        if let Some(call) = self.state.inference_calls.get_mut(inference) {
            if !call.tool_calls.iter().any(|x| x == tool) {
                call.tool_calls.push(tool.to_owned());
            }
        }
    }
}
