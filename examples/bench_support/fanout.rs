//! A deterministic fan-out rollout for the reducer benchmark, emitted with ordinary `tracing`
//! spans: one lead thread spawns `children` sub-agents in [`BATCHES`] batches and collects
//! each one's result, so the reducer matches one `spawn` and one `result` delivery per child.
//!
//! Per batch the lead makes one model call that asks for the batch's `spawn_agent` calls and
//! runs them (a `spawn_agent` tool span with `target_thread_id` and `message`, and a child
//! thread from [`tracing_rollout::child_thread_span`] on its own OS thread), then one model
//! call that asks for a `wait_agent` call per child and runs them; each `wait_agent` output
//! (`{"status":{"child-7":{"completed":"<result>"}}}`) carries one child's result into the
//! lead's history. Every lead request is the whole history (OpenAI Responses), so the lead's
//! conversation grows to ~4 items per child: the spawn call and its output (`spawned
//! child-7`, which never receives a delivery), the wait call and its output.
//!
//! A child runs one short turn: a model call asking for `run_tests`, the tool, and a model
//! call answering with its result, which it hands to the lead's mailbox before emitting
//! `rollout.agent_result` (the event says the delivery happened). In even batches it emits
//! the event at once, so the result edge is pending until the lead's next request lists the
//! `wait_agent` output (matched forward). In odd batches the child confirms only once the
//! lead's next request has gone out (the lead acknowledges after that model call), so the
//! lead's item is already recorded when the result edge appears (matched by look-back).
//!
//! Children run one at a time (a `spawn_agent` tool returns once its child has answered, and
//! the lead lets waiting children confirm one by one), so the records come in the same order
//! on every run: the bundle is the same but for its clocks.

use std::sync::mpsc;
use std::thread::ScopedJoinHandle;

use serde_json::{json, Value};
use tracing::field::Empty;
use tracing::{info, info_span};

/// The lead spawns its children in this many batches (fewer if it has fewer children).
pub const BATCHES: u64 = 20;

const LEAD: &str = "lead";

/// One lead spawning `children` sub-agents.
pub struct Fanout {
    pub children: u64,
}

impl Fanout {
    fn batches(&self) -> u64 {
        BATCHES.min(self.children).max(1)
    }

    /// Inference calls in the bundle: two per child, two per batch for the lead, and the
    /// lead's final answer.
    pub fn inference_calls(&self) -> u64 {
        2 * self.children + 2 * self.batches() + 1
    }

    /// Emits the whole rollout on this thread (each child on its own OS thread) to the
    /// current default subscriber.
    pub fn emit(&self) {
        let rollout = info_span!("rollout", rollout_id = "bench", trace_id = "trace-bench");
        let _rollout = rollout.enter();
        let thread = info_span!(
            "rollout.thread",
            thread_id = LEAD,
            agent_path = "/lead",
            model = "gpt-5",
            status = Empty
        );
        let _thread = thread.enter();
        let turn = info_span!("rollout.turn", turn_id = "lead-turn-1");
        let _turn = turn.enter();
        let mut lead = Lead {
            history: vec![message(
                "user",
                &format!(
                    "Run the tests of all {} shards, one sub-agent per shard, and report every failure.",
                    self.children
                ),
            )],
            responses: 0,
        };
        let dispatch = tracing::dispatcher::get_default(Clone::clone);
        std::thread::scope(|s| {
            // Look-back children waiting for the lead to acknowledge their result.
            let mut unconfirmed: Vec<(mpsc::Sender<()>, ScopedJoinHandle<'_, ()>)> = Vec::new();
            let batches = self.batches();
            for b in 0..batches {
                let ids = b * self.children / batches..(b + 1) * self.children / batches;
                let calls: Vec<Value> = ids
                    .clone()
                    .map(|i| {
                        function_call(
                            &format!("call_spawn_{i}"),
                            "spawn_agent",
                            &json!({"agent": child_id(i), "task": task(i)}),
                        )
                    })
                    .collect();
                lead.infer(calls);
                // The previous batch's results are in the request just sent.
                confirm(&mut unconfirmed);
                let forward = b % 2 == 0;
                let mut replies = Vec::new();
                for i in ids.clone() {
                    let (ack, confirmed) = mpsc::channel::<()>();
                    let (mailbox, result) = mpsc::channel::<String>();
                    let reply = spawn_child(i, |span| {
                        let dispatch = dispatch.clone();
                        let child = s.spawn(move || {
                            tracing::dispatcher::with_default(&dispatch, || {
                                span.in_scope(|| {
                                    run_child(i, mailbox, (!forward).then_some(confirmed));
                                });
                            });
                        });
                        // The child's result, before anything else is recorded (a fixed order).
                        let reply = result.recv().unwrap_or_default();
                        if forward {
                            let _ = child.join();
                        } else {
                            unconfirmed.push((ack, child));
                        }
                        reply
                    });
                    lead.history.push(function_output(
                        &format!("call_spawn_{i}"),
                        &format!("spawned {}", child_id(i)),
                    ));
                    replies.push(reply);
                }
                let calls: Vec<Value> = ids
                    .clone()
                    .map(|i| {
                        function_call(
                            &format!("call_wait_{i}"),
                            "wait_agent",
                            &json!({"agents": [child_id(i)], "timeout_ms": 600_000}),
                        )
                    })
                    .collect();
                lead.infer(calls);
                for (i, reply) in ids.zip(replies) {
                    let call_id = format!("call_wait_{i}");
                    let args = json!({"agents": [child_id(i)], "timeout_ms": 600_000});
                    let output = json!({"status": {child_id(i): {"completed": reply}}}).to_string();
                    let span = info_span!(
                        "rollout.tool",
                        tool = "wait_agent",
                        call_id = call_id.as_str(),
                        kind = "wait_agent",
                        status = Empty
                    );
                    span.in_scope(|| {
                        payload("args", &args.to_string());
                        payload("result", &json!(output).to_string());
                    });
                    lead.history.push(function_output(&call_id, &output));
                }
            }
            lead.infer(vec![message(
                "assistant",
                &format!("All {} shards reported.", self.children),
            )]);
            confirm(&mut unconfirmed);
        });
    }
}

/// The lead's conversation in OpenAI Responses form.
struct Lead {
    history: Vec<Value>,
    responses: u64,
}

impl Lead {
    /// One model call: the whole history goes out, `output` comes back and joins it.
    fn infer(&mut self, output: Vec<Value>) {
        self.responses += 1;
        let request = json!({"model": "gpt-5", "input": self.history}).to_string();
        let response_id = format!("resp_lead_{}", self.responses);
        let input_tokens = (request.len() / 4) as u64;
        let output_tokens = 40 * output.len() as u64;
        let response = json!({"id": response_id, "model": "gpt-5", "output": output,
            "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens}});
        inference("gpt-5", &request, &response.to_string());
        self.history.extend(output);
    }
}

/// Lets every waiting child emit its `rollout.agent_result`, one at a time.
fn confirm(unconfirmed: &mut Vec<(mpsc::Sender<()>, ScopedJoinHandle<'_, ()>)>) {
    for (ack, child) in unconfirmed.drain(..) {
        let _ = ack.send(());
        let _ = child.join();
    }
}

fn child_id(i: u64) -> String {
    format!("child-{i}")
}

fn task(i: u64) -> String {
    format!("Run the tests of shard {i} and report which fail.")
}

/// Child `i`'s answer: unique per child (no answer contains another).
fn reply(i: u64) -> String {
    let (tests, failed, line) = (40 + i % 17, i % 5, 10 + i * 37 % 900);
    match failed {
        0 => format!("Shard {i}: all {tests} tests pass."),
        _ => format!(
            "Shard {i}: {failed} of {tests} tests fail; the first at tests/shard_{i}.rs:{line}."
        ),
    }
}

/// The `spawn_agent` tool span for child `i`: `run` starts the child in the thread span it
/// is given and returns once the child has answered.
fn spawn_child<R>(i: u64, run: impl FnOnce(tracing::Span) -> R) -> R {
    let (child, task) = (child_id(i), task(i));
    let span = info_span!(
        "rollout.tool",
        tool = "spawn_agent",
        call_id = format!("call_spawn_{i}").as_str(),
        kind = "spawn_agent",
        target_thread_id = child.as_str(),
        message = task.as_str(),
        status = Empty
    );
    let _tool = span.enter();
    payload("args", &json!({"agent": child, "task": task}).to_string());
    let thread = tracing_rollout::child_thread_span(&child, LEAD, &format!("/lead/{child}"), &span);
    thread.record("model", "gpt-5-mini");
    let out = run(thread);
    payload("result", &json!(format!("spawned {child}")).to_string());
    out
}

/// Child `i`'s turn, inside its thread span: its result goes to `mailbox`, then (after
/// `confirmed`, when given) `rollout.agent_result` says it was delivered.
fn run_child(i: u64, mailbox: mpsc::Sender<String>, confirmed: Option<mpsc::Receiver<()>>) {
    let child = child_id(i);
    let turn = info_span!("rollout.turn", turn_id = format!("{child}-turn-1").as_str());
    let _turn = turn.enter();
    let call_id = format!("call_tests_{i}");
    let args = json!({"shard": i, "filter": "all"});
    let call = function_call(&call_id, "run_tests", &args);
    let mut input = vec![message("user", &task(i))];
    let response = |n: u64, output: &[Value]| {
        json!({"id": format!("resp_{child}_{n}"), "model": "gpt-5-mini", "output": output,
            "usage": {"input_tokens": 60 * n, "output_tokens": 30}})
        .to_string()
    };
    inference(
        "gpt-5-mini",
        &json!({"model": "gpt-5-mini", "input": input}).to_string(),
        &response(1, std::slice::from_ref(&call)),
    );
    let result = json!({"passed": 40 + i % 17 - i % 5, "failed": i % 5,
        "log": format!("target/shard_{i}/test.log")})
    .to_string();
    info_span!(
        "rollout.tool",
        tool = "run_tests",
        call_id = call_id.as_str(),
        kind = "function",
        status = Empty
    )
    .in_scope(|| {
        payload("args", &args.to_string());
        payload("result", &result);
    });
    input.push(call);
    input.push(function_output(&call_id, &result));
    let reply = reply(i);
    inference(
        "gpt-5-mini",
        &json!({"model": "gpt-5-mini", "input": input}).to_string(),
        &response(2, &[message("assistant", &reply)]),
    );
    if mailbox.send(reply.clone()).is_ok() {
        if let Some(confirmed) = confirmed {
            let _ = confirmed.recv();
        }
        info!(name: "rollout.agent_result", parent_thread_id = LEAD, message = reply.as_str(),
            status = "completed");
    }
}

fn inference(model: &str, request: &str, response: &str) {
    let span = info_span!("rollout.inference", model, provider = "openai");
    let _inference = span.enter();
    payload("request", request);
    payload("response", response);
}

fn payload(role: &'static str, text: &str) {
    info!(name: "rollout.payload", role, payload = text);
}

fn message(role: &str, text: &str) -> Value {
    let kind = if role == "assistant" {
        "output_text"
    } else {
        "input_text"
    };
    json!({"type": "message", "role": role, "content": [{"type": kind, "text": text}]})
}

fn function_call(call_id: &str, name: &str, args: &Value) -> Value {
    json!({"type": "function_call", "call_id": call_id, "name": name, "arguments": args.to_string()})
}

fn function_output(call_id: &str, output: &str) -> Value {
    json!({"type": "function_call_output", "call_id": call_id, "output": output})
}
