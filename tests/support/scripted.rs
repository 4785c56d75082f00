//! A scripted coding agent recorded through the real layer: one task ("make CI green") run by
//! a deterministic model policy against a scripted tool world, with knobs that change one
//! thing at a time — a tool's result, a failed and retried model call, a sub-agent, the
//! model, a failing tool — for the diff tests and `examples/diff_runs.rs`.
//!
//! The policy reads only what the model is sent (the request's history), so a changed tool
//! result changes the next response exactly as it would with a real model. Call ids and
//! response ids carry the rollout id: two runs never share an id, as two real runs would not.
//! Compiled into an example too (`#[path]`), so it imports nothing from its siblings.

#![allow(dead_code, unreachable_pub)]

use serde_json::{json, Value};
use tracing::field::Empty;
use tracing::info_span;

/// What one run does differently.
#[derive(Debug, Clone)]
pub struct Script {
    /// The rollout id (names the bundle).
    pub rollout_id: String,
    /// The model the agent asks; `small-model` edits another file.
    pub model: String,
    /// What `read_file ci.log` returns; without `FAILED` the agent stops at once.
    pub ci_log: String,
    /// The model call (0-based, in the root thread) whose first attempt fails with an API
    /// error and is retried.
    pub retry_call: Option<usize>,
    /// Whether the agent spawns a reviewer sub-agent along with its edit.
    pub spawn_reviewer: bool,
    /// A tool whose call fails (status `failed`, an error the model is shown).
    pub failing_tool: Option<&'static str>,
}

impl Script {
    /// The baseline run: CI failed, the agent finds the parser, edits it, runs the tests.
    pub fn new(rollout_id: &str) -> Script {
        Script {
            rollout_id: rollout_id.to_owned(),
            model: "big-model".to_owned(),
            ci_log: "error: test parse::tests::empty FAILED at src/parse.rs:12".to_owned(),
            retry_call: None,
            spawn_reviewer: false,
            failing_tool: None,
        }
    }

    /// Runs the scripted agent under the current subscriber (rollout, thread `main` of agent
    /// `/root`, one turn).
    pub fn run(&self) {
        let rollout = info_span!("rollout", rollout_id = self.rollout_id.as_str());
        let _rollout = rollout.enter();
        let thread = info_span!(
            "rollout.thread",
            thread_id = "main",
            agent_path = "/root",
            nickname = "fixer"
        );
        let _thread = thread.enter();
        let turn = info_span!("rollout.turn", turn_id = "t1");
        let _turn = turn.enter();
        let mut agent = Agent {
            script: self,
            history: vec![
                message("system", "You fix failing CI runs. Use the tools."),
                message("user", "CI is red on main. Make it green."),
            ],
            calls: 0,
            prefix: self.rollout_id.clone(),
            root: true,
        };
        agent.run_loop(policy_root);
    }
}

/// One agent's conversation and the model calls it has made.
struct Agent<'s> {
    script: &'s Script,
    history: Vec<Value>,
    calls: usize,
    prefix: String,
    /// The root agent (the script's retry applies to it only).
    root: bool,
}

type Policy = fn(&Script, &[Value]) -> Vec<Value>;

impl Agent<'_> {
    /// Asks the model, runs the tools it calls, until it answers with text only.
    fn run_loop(&mut self, policy: Policy) {
        for _ in 0..16 {
            let output = self.infer(policy);
            let calls: Vec<Value> = output
                .iter()
                .filter(|i| i["type"] == "function_call")
                .cloned()
                .collect();
            self.history.extend(output);
            if calls.is_empty() {
                return;
            }
            for call in calls {
                let result = self.tool(&call);
                self.history.push(json!({"type": "function_call_output", "call_id": call["call_id"], "output": result}));
            }
        }
    }

    /// One model call (and, when the script says so, a failed attempt before it).
    fn infer(&mut self, policy: Policy) -> Vec<Value> {
        let request = json!({"model": self.script.model, "input": self.history});
        if self.root && self.script.retry_call == Some(self.calls) {
            let error = json!({"error": {"type": "overloaded_error", "message": "Overloaded, retry later"}});
            inference(&self.script.model, &request, &error);
        }
        let index = self.calls;
        self.calls += 1;
        let mut output = policy(self.script, &self.history);
        for (n, item) in output.iter_mut().enumerate() {
            if item["type"] == "function_call" {
                item["call_id"] = json!(format!("call_{}_{index}_{n}", self.prefix));
            }
        }
        let input_tokens = 40 * self.history.len() as u64;
        let response = json!({"id": format!("resp_{}_{index}", self.prefix), "output": output,
            "usage": {"input_tokens": input_tokens, "output_tokens": 20,
                      "input_tokens_details": {"cached_tokens": input_tokens / 2},
                      "output_tokens_details": {"reasoning_tokens": 5}}});
        inference(&self.script.model, &request, &response);
        output
    }

    /// Runs one tool call; returns what the model is shown.
    fn tool(&mut self, call: &Value) -> String {
        let name = call["name"].as_str().unwrap_or_default();
        let args: Value =
            serde_json::from_str(call["arguments"].as_str().unwrap_or("{}")).unwrap_or(Value::Null);
        let kind = if name == "spawn_agent" {
            "spawn_agent"
        } else {
            "function"
        };
        let span = info_span!(
            "rollout.tool",
            tool = name,
            call_id = call["call_id"].as_str().unwrap_or_default(),
            kind = kind,
            status = Empty,
            error = Empty
        );
        let _span = span.enter();
        payload("args", &args);
        if self.script.failing_tool == Some(name) {
            let error = format!("{name}: exit status 101");
            span.record("status", "failed");
            span.record("error", error.as_str());
            payload("result", &json!(error));
            return error;
        }
        let result = match name {
            "read_file" if args["path"] == "ci.log" => self.script.ci_log.clone(),
            "read_file" => "fn parse(input: &str) -> Ast { /* … */ }".to_owned(),
            "grep" => "src/parse.rs:12: fn parse(input: &str) -> Ast".to_owned(),
            "edit" => format!("patched {}", args["file"].as_str().unwrap_or("?")),
            "run_tests" => "test result: ok. 12 passed; 0 failed".to_owned(),
            "spawn_agent" => {
                self.reviewer(&span);
                "reviewer spawned and done".to_owned()
            }
            _ => format!("unknown tool {name}"),
        };
        payload("result", &json!(result));
        result
    }

    /// The reviewer sub-agent, spawned by the current tool call.
    fn reviewer(&self, spawned_by: &tracing::Span) {
        let thread =
            tracing_rollout::child_thread_span("reviewer", "main", "/root/reviewer", spawned_by);
        let _thread = thread.enter();
        let turn = info_span!("rollout.turn", turn_id = "r1");
        let _turn = turn.enter();
        let mut agent = Agent {
            script: self.script,
            history: vec![message("user", "Review the patch to src/parse.rs.")],
            calls: 0,
            prefix: format!("{}_reviewer", self.prefix),
            root: false,
        };
        agent.run_loop(policy_reviewer);
    }
}

/// The root agent's model: read the CI log; if it failed, find the parser, edit it (the small
/// model edits the wrong file; the reviewer is spawned alongside), run the tests, report.
fn policy_root(script: &Script, history: &[Value]) -> Vec<Value> {
    let called = |name: &str| {
        history
            .iter()
            .any(|i| i["type"] == "function_call" && i["name"] == name)
    };
    if !called("read_file") {
        return vec![call("read_file", json!({"path": "ci.log"}))];
    }
    let log = output_of(history, "read_file").unwrap_or_default();
    if !log.contains("FAILED") {
        return vec![message("assistant", "CI is green already; nothing to fix.")];
    }
    if !called("grep") {
        return vec![call("grep", json!({"pattern": "fn parse"}))];
    }
    if !called("edit") {
        let file = if script.model == "small-model" {
            "src/lib.rs"
        } else {
            "src/parse.rs"
        };
        let mut out = vec![call(
            "edit",
            json!({"file": file, "patch": "handle empty input"}),
        )];
        if script.spawn_reviewer {
            out.push(call(
                "spawn_agent",
                json!({"agent": "reviewer", "task": "Review the patch."}),
            ));
        }
        return out;
    }
    if !called("run_tests") {
        return vec![call("run_tests", json!({}))];
    }
    let tests = output_of(history, "run_tests").unwrap_or_default();
    if tests.contains("exit status") {
        return vec![message("assistant", "The tests still fail; I need help.")];
    }
    vec![message(
        "assistant",
        "Fixed the empty-input case in the parser; CI is green.",
    )]
}

/// The reviewer's model: read the file, approve.
fn policy_reviewer(_script: &Script, history: &[Value]) -> Vec<Value> {
    if !history.iter().any(|i| i["type"] == "function_call") {
        return vec![call("read_file", json!({"path": "src/parse.rs"}))];
    }
    vec![message("assistant", "The patch looks right.")]
}

/// The output the model was shown for the last call of tool `name`.
fn output_of(history: &[Value], name: &str) -> Option<String> {
    let call = history
        .iter()
        .rev()
        .find(|i| i["type"] == "function_call" && i["name"] == name)?;
    history
        .iter()
        .find(|i| i["type"] == "function_call_output" && i["call_id"] == call["call_id"])
        .and_then(|i| i["output"].as_str())
        .map(str::to_owned)
}

fn call(name: &str, args: Value) -> Value {
    json!({"type": "function_call", "call_id": "", "name": name, "arguments": args.to_string()})
}

fn message(role: &str, text: &str) -> Value {
    let part = if role == "assistant" {
        "output_text"
    } else {
        "input_text"
    };
    json!({"type": "message", "role": role, "content": [{"type": part, "text": text}]})
}

/// One inference span of `model` with its request and response payloads.
fn inference(model: &str, request: &Value, response: &Value) {
    let span = info_span!("rollout.inference", model = model, provider = "openai");
    let _span = span.enter();
    payload("request", request);
    payload("response", response);
}

fn payload(role: &str, body: &Value) {
    tracing::info!(name: "rollout.payload", role = role, payload = tracing_rollout::json(body));
}
