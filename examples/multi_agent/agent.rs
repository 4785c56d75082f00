//! A deterministic multi-agent rollout with canned model responses (no network, no keys):
//! the instrumented "agent" that the `multi_agent` example runs and `tests/demo.rs` checks.
//!
//! The lead agent (OpenAI Responses payloads) reads a CI log, runs a code-mode cell with two
//! nested tool calls, runs a command in a terminal and then writes to the same terminal,
//! spawns two sub-agents (Anthropic Messages payloads) that work concurrently on tokio tasks
//! and report back, messages one and assigns a second task to the other, waits for their
//! results, closes both, compacts its history and writes a final answer. Every span and
//! payload is ordinary `tracing`; nothing here knows about bundles.

use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::mpsc;
use tracing::field::Empty;
use tracing::{info_span, Instrument, Span};

/// Thread id of the lead agent.
pub(crate) const LEAD: &str = "lead";

const LEAD_INSTRUCTIONS: &str =
    "You are the lead engineer. Use tools, delegate to sub-agents, and report back concisely.";

/// Records `value` as a payload of the current span. Large bodies the agent already holds as
/// JSON text are passed as `&str`; typed values go through `tracing_rollout::json`.
fn payload(role: &str, value: &Value) {
    tracing::info!(name: "rollout.payload", role = role, payload = tracing_rollout::json(value));
}

/// Simulated latency, so durations in the summary look like a real run.
async fn work(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

fn user(text: &str) -> Value {
    json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]})
}

fn developer(text: &str) -> Value {
    json!({"type": "message", "role": "developer", "content": [{"type": "input_text", "text": text}]})
}

fn assistant(text: &str) -> Value {
    json!({"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": text}]})
}

fn function_call(call_id: &str, name: &str, args: Value) -> Value {
    json!({"type": "function_call", "call_id": call_id, "name": name, "arguments": args.to_string()})
}

fn function_output(call_id: &str, output: &str) -> Value {
    json!({"type": "function_call_output", "call_id": call_id, "output": output})
}

/// The lead agent's conversation in OpenAI Responses form.
struct Lead {
    history: Vec<Value>,
    responses: u32,
}

impl Lead {
    /// One model call: the whole history goes out, `output` comes back and joins it.
    async fn infer(&mut self, output: Vec<Value>, input_tokens: u64, output_tokens: u64) {
        self.responses += 1;
        let response_id = format!("resp_{:03}", self.responses);
        let span = info_span!(
            "rollout.inference",
            model = "gpt-5",
            provider = "openai",
            response_id = Empty,
            upstream_request_id = Empty,
            output_tokens = Empty
        );
        async {
            // The agent already holds the request body it sent over HTTP: pass the bytes.
            let request = json!({"model": "gpt-5", "instructions": LEAD_INSTRUCTIONS, "input": self.history});
            tracing::info!(name: "rollout.payload", role = "request", payload = request.to_string().as_str());
            work(4).await;
            let cached = input_tokens / 2;
            payload("response", &json!({
                "id": response_id, "object": "response", "output": output,
                "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens,
                          "input_tokens_details": {"cached_tokens": cached},
                          "output_tokens_details": {"reasoning_tokens": output_tokens / 4}}
            }));
            let span = Span::current();
            span.record("response_id", response_id.as_str());
            span.record("upstream_request_id", format!("req-{}", self.responses).as_str());
        }
        .instrument(span)
        .await;
        self.history.extend(output);
    }
}

/// Runs one tool call span: args in, `run` executes, result out.
async fn tool<F>(name: &str, kind: &str, call_id: Option<&str>, args: Value, run: F) -> String
where
    F: std::future::Future<Output = String>,
{
    let span = info_span!(
        "rollout.tool",
        tool = name,
        kind = kind,
        call_id = call_id,
        target_thread_id = Empty,
        message = Empty,
        status = Empty,
        error = Empty
    );
    async {
        payload("args", &args);
        let result = run.await;
        payload("result", &json!(result));
        result
    }
    .instrument(span)
    .await
}

/// A sub-agent: one turn per task from its inbox, Anthropic Messages payloads, and its result
/// delivered to the lead's mailbox before `rollout.agent_result` says so.
async fn sub_agent(
    thread_id: &'static str,
    system: &'static str,
    replies: Vec<&'static str>,
    mut inbox: mpsc::Receiver<String>,
    lead_mailbox: mpsc::Sender<(String, String)>,
) {
    let mut messages: Vec<Value> = Vec::new();
    let mut replies = replies.into_iter();
    let mut turn_no = 0;
    while let Some(task) = inbox.recv().await {
        turn_no += 1;
        let reply = replies.next().unwrap_or("Nothing more to report.");
        let turn = info_span!(
            "rollout.turn",
            turn_id = format!("{thread_id}-turn-{turn_no}")
        );
        async {
            messages.push(json!({"role": "user", "content": task}));
            let inference = info_span!("rollout.inference", model = "claude-sonnet-4-5", provider = "anthropic");
            async {
                payload("request", &json!({"model": "claude-sonnet-4-5", "max_tokens": 1024,
                    "system": system, "messages": messages}));
                work(6 + 3 * turn_no).await;
                payload("response", &json!({"id": format!("msg_{thread_id}_{turn_no}"), "type": "message",
                    "role": "assistant", "content": [{"type": "text", "text": reply}],
                    "stop_reason": "end_turn",
                    "usage": {"input_tokens": 180 * turn_no, "output_tokens": 40, "cache_read_input_tokens": 64}}));
            }
            .instrument(inference)
            .await;
            messages.push(json!({"role": "assistant", "content": [{"type": "text", "text": reply}]}));
            // Only a delivered result is a result: emit the event after the send succeeded.
            if lead_mailbox.send((thread_id.to_owned(), reply.to_owned())).await.is_ok() {
                tracing::info!(name: "rollout.agent_result", parent_thread_id = LEAD, message = reply,
                    status = "completed");
            }
        }
        .instrument(turn)
        .await;
    }
}

/// A running sub-agent as the lead sees it.
struct Child {
    inbox: mpsc::Sender<String>,
    task: tokio::task::JoinHandle<()>,
}

/// Spawns a sub-agent from inside a `spawn_agent` tool span.
async fn spawn_child(
    call_id: &str,
    thread_id: &'static str,
    task: &str,
    system: &'static str,
    replies: Vec<&'static str>,
    lead_mailbox: &mpsc::Sender<(String, String)>,
) -> Child {
    let args = json!({"agent": thread_id, "task": task});
    let mut child = None;
    tool("spawn_agent", "spawn_agent", Some(call_id), args, async {
        let tool_span = Span::current();
        tool_span.record("target_thread_id", thread_id);
        tool_span.record("message", task);
        let (inbox, rx) = mpsc::channel(4);
        let path = format!("/{LEAD}/{thread_id}");
        let span = tracing_rollout::child_thread_span(thread_id, LEAD, &path, &tool_span);
        span.record("model", "claude-sonnet-4-5");
        span.record("role", "worker");
        let handle = tokio::spawn(
            sub_agent(thread_id, system, replies, rx, lead_mailbox.clone()).instrument(span),
        );
        let _ = inbox.send(task.to_owned()).await;
        child = Some(Child {
            inbox,
            task: handle,
        });
        format!("spawned {thread_id}")
    })
    .await;
    // `tool` always runs its future, which always sets `child`.
    child.unwrap_or_else(|| unreachable!("spawn tool did not run"))
}

/// Sends `text` to a running child through a collab tool (`send_message` or `assign_task`).
async fn tell(kind: &str, call_id: &str, child_id: &str, child: &Child, text: &str) {
    tool(
        kind,
        kind,
        Some(call_id),
        json!({"target": child_id, "message": text}),
        async {
            let span = Span::current();
            span.record("target_thread_id", child_id);
            span.record("message", text);
            match child.inbox.send(text.to_owned()).await {
                Ok(()) => "delivered".to_owned(),
                Err(_) => {
                    span.record("error", "the agent is gone");
                    "failed".to_owned()
                }
            }
        },
    )
    .await;
}

/// The lead agent's turns.
async fn lead_agent() {
    let mut lead = Lead {
        history: vec![developer(LEAD_INSTRUCTIONS)],
        responses: 0,
    };
    let (mailbox, mut results) = mpsc::channel::<(String, String)>(8);

    let turn = info_span!("rollout.turn", turn_id = "lead-turn-1");
    async {
        read_the_log(&mut lead).await;
        run_a_code_cell(&mut lead).await;
        use_a_terminal(&mut lead).await;
        let (researcher, fixer) = delegate(&mut lead, &mailbox).await;
        message_and_assign(&mut lead, &researcher, &fixer).await;
        wait_for_results(&mut lead, &mut results).await;
        close_children(&mut lead, researcher, fixer).await;
    }
    .instrument(turn)
    .await;

    // The history is long: replace it by a summary before the final turn.
    let compaction = info_span!(
        "rollout.compaction",
        compaction_id = "compaction-1",
        model = "gpt-5-mini",
        provider = "openai"
    );
    async {
        work(3).await;
        let replacement = vec![
            developer(LEAD_INSTRUCTIONS),
            user("Summary so far: nightly fails because net::retry has max_retries = 0. The fixer set max_retries = 3 with backoff and added a regression test; two other tests share the helper. Both sub-agents are closed."),
        ];
        payload("checkpoint", &json!({"input_history": lead.history, "replacement_history": replacement}));
        lead.history = replacement;
    }
    .instrument(compaction.clone())
    .await;

    let turn = info_span!("rollout.turn", turn_id = "lead-turn-2");
    // The final turn continues from the compacted history: a causal link, not containment.
    turn.follows_from(&compaction);
    drop(compaction);
    async {
        lead.history.push(user("Write the status update for the team."));
        lead.infer(vec![assistant(
            "Nightly is red because retries were disabled in net/retry.toml. Fix: 3 retries with exponential backoff, plus a regression test. net::pool and net::dns share the helper and pass.",
        )], 350, 64).await;
    }
    .instrument(turn)
    .await;
}

/// The first model call reads the CI log.
async fn read_the_log(lead: &mut Lead) {
    lead.history.push(user(
        "The nightly build is red. Find out why and get it fixed.",
    ));
    lead.infer(vec![
        json!({"type": "reasoning", "summary": [{"type": "summary_text", "text": "Start from the CI log."}]}),
        function_call("call_log", "read_file", json!({"path": "ci/nightly.log"})),
    ], 420, 38).await;
    let log = tool(
        "read_file",
        "function",
        Some("call_log"),
        json!({"path": "ci/nightly.log"}),
        async {
            work(2).await;
            "test net::retry::backs_off ... FAILED (timeout after 30s)".to_owned()
        },
    )
    .await;
    lead.history.push(function_output("call_log", &log));
}

/// Code mode: the model writes a script that calls two tools itself.
async fn run_a_code_cell(lead: &mut Lead) {
    let source = "const hits = await tools.grep({pattern: 'timeout', path: 'net/'});\nconst cfg = await tools.read_file({path: 'net/retry.toml'});\nreturn {hits, cfg};";
    lead.infer(vec![json!({"type": "custom_tool_call", "call_id": "call_exec", "name": "exec", "input": source})], 610, 72).await;
    let cell = info_span!(
        "rollout.code_cell",
        cell_id = "cell-1",
        call_id = "call_exec",
        language = "javascript"
    );
    let cell_output = async {
        payload("source", &json!(source));
        let hits = tool(
            "grep",
            "function",
            None,
            json!({"pattern": "timeout", "path": "net/"}),
            async {
                work(2).await;
                "net/retry.rs:42: const TIMEOUT: Duration = Duration::from_secs(30);".to_owned()
            },
        )
        .await;
        let cfg = tool(
            "read_file",
            "function",
            None,
            json!({"path": "net/retry.toml"}),
            async {
                work(1).await;
                "max_retries = 0".to_owned()
            },
        )
        .await;
        let output = format!("{{\"hits\": \"{hits}\", \"cfg\": \"{cfg}\"}}");
        payload("output", &json!(output));
        output
    }
    .instrument(cell)
    .await;
    lead.history.push(
        json!({"type": "custom_tool_call_output", "call_id": "call_exec", "output": cell_output}),
    );
}

/// A terminal: run the tests, then answer the prompt in the same session.
async fn use_a_terminal(lead: &mut Lead) {
    lead.infer(
        vec![function_call(
            "call_test",
            "exec_command",
            json!({"cmd": "cargo test -p net"}),
        )],
        760,
        30,
    )
    .await;
    let out = tool(
        "exec_command",
        "function",
        Some("call_test"),
        json!({"cmd": "cargo test -p net"}),
        async {
            let op = info_span!(
                "rollout.terminal",
                terminal_id = "pty-1",
                op = "exec",
                command = "cargo test -p net",
                cwd = "/work/repo",
                exit_code = Empty
            );
            async {
                work(5).await;
                let out =
                    "running 12 tests\ntest retry::backs_off ... FAILED\nRerun failed tests? [y/q]";
                payload("output", &json!(out));
                out.to_owned()
            }
            .instrument(op)
            .await
        },
    )
    .await;
    lead.history.push(function_output("call_test", &out));
    lead.infer(
        vec![function_call(
            "call_stdin",
            "write_stdin",
            json!({"session_id": "pty-1", "chars": "q\n"}),
        )],
        820,
        24,
    )
    .await;
    let out = tool(
        "write_stdin",
        "function",
        Some("call_stdin"),
        json!({"session_id": "pty-1", "chars": "q\n"}),
        async {
            let op = info_span!(
                "rollout.terminal",
                terminal_id = "pty-1",
                op = "write",
                exit_code = Empty
            );
            async {
                work(1).await;
                Span::current().record("exit_code", 101_i64);
                payload("output", &json!("process exited with code 101"));
                "process exited with code 101".to_owned()
            }
            .instrument(op)
            .await
        },
    )
    .await;
    lead.history.push(function_output("call_stdin", &out));
}

/// Delegate: two sub-agents work concurrently; returns (researcher, fixer).
async fn delegate(lead: &mut Lead, mailbox: &mpsc::Sender<(String, String)>) -> (Child, Child) {
    let research_task = "Find out why net::retry::backs_off times out on the nightly runner.";
    let fix_task = "Prepare a patch that makes the retry policy back off instead of failing.";
    lead.infer(
        vec![
            assistant("Delegating the investigation and the fix."),
            function_call(
                "call_spawn_r",
                "spawn_agent",
                json!({"agent": "researcher", "task": research_task}),
            ),
            function_call(
                "call_spawn_f",
                "spawn_agent",
                json!({"agent": "fixer", "task": fix_task}),
            ),
        ],
        900,
        90,
    )
    .await;
    let researcher = spawn_child("call_spawn_r", "researcher", research_task,
        "You investigate failures. Answer with the root cause only.",
        vec!["Root cause: retries are disabled (max_retries = 0), so one slow DNS lookup fails the test.",
             "Two other tests use the retry helper: net::pool::reconnects and net::dns::fallback."],
        mailbox).await;
    lead.history
        .push(function_output("call_spawn_r", "spawned researcher"));
    let fixer = spawn_child(
        "call_spawn_f",
        "fixer",
        fix_task,
        "You write minimal patches.",
        vec![
            "Patch ready: max_retries = 3 with exponential backoff from 200 ms.",
            "Added regression test net::retry::survives_one_slow_lookup.",
        ],
        mailbox,
    )
    .await;
    lead.history
        .push(function_output("call_spawn_f", "spawned fixer"));
    (researcher, fixer)
}

/// A message to the fixer and a second task for the researcher.
async fn message_and_assign(lead: &mut Lead, researcher: &Child, fixer: &Child) {
    let message = "Also add a regression test for the slow-lookup case.";
    let extra_task = "List the other tests that depend on the retry helper.";
    lead.infer(
        vec![
            function_call(
                "call_msg",
                "send_message",
                json!({"target": "fixer", "message": message}),
            ),
            function_call(
                "call_task",
                "assign_task",
                json!({"target": "researcher", "task": extra_task}),
            ),
        ],
        980,
        60,
    )
    .await;
    tell("send_message", "call_msg", "fixer", fixer, message).await;
    lead.history.push(function_output("call_msg", "delivered"));
    tell(
        "assign_task",
        "call_task",
        "researcher",
        researcher,
        extra_task,
    )
    .await;
    lead.history.push(function_output("call_task", "delivered"));
}

/// Waits for the four results; they reach the model as notifications in its next request.
async fn wait_for_results(lead: &mut Lead, results: &mut mpsc::Receiver<(String, String)>) {
    lead.infer(
        vec![function_call(
            "call_wait",
            "wait_agent",
            json!({"agents": ["researcher", "fixer"]}),
        )],
        1010,
        20,
    )
    .await;
    let mut notes = Vec::new();
    tool(
        "wait_agent",
        "wait_agent",
        Some("call_wait"),
        json!({"agents": ["researcher", "fixer"]}),
        async {
            for _ in 0..4 {
                if let Some((from, text)) = results.recv().await {
                    notes.push(format!("[{from}] {text}"));
                }
            }
            format!("{} results", notes.len())
        },
    )
    .await;
    lead.history.push(function_output(
        "call_wait",
        &format!("{} results", notes.len()),
    ));
    // Sub-agent results reach the model as notifications in its next request.
    for note in &notes {
        lead.history
            .push(user(&format!("Sub-agent notification: {note}")));
    }
}

/// Closes both sub-agents.
async fn close_children(lead: &mut Lead, researcher: Child, fixer: Child) {
    lead.infer(
        vec![
            function_call(
                "call_close_r",
                "close_agent",
                json!({"target": "researcher"}),
            ),
            function_call("call_close_f", "close_agent", json!({"target": "fixer"})),
        ],
        1400,
        30,
    )
    .await;
    for (call_id, id, child) in [
        ("call_close_r", "researcher", researcher),
        ("call_close_f", "fixer", fixer),
    ] {
        let close = async {
            let span = Span::current();
            span.record("target_thread_id", id);
            drop(child.inbox);
            let _ = child.task.await;
            format!("closed {id}")
        };
        let out = tool(
            "close_agent",
            "close_agent",
            Some(call_id),
            json!({"target": id}),
            close,
        )
        .await;
        lead.history.push(function_output(call_id, &out));
    }
}

/// Runs one whole rollout: the `rollout` span, the lead thread and everything it spawns.
pub(crate) async fn run_rollout(rollout_id: &str) {
    let rollout = info_span!(
        "rollout",
        rollout_id = rollout_id,
        trace_id = "demo-trace-0001"
    );
    let lead = info_span!(parent: &rollout, "rollout.thread", thread_id = LEAD, agent_path = "/lead",
        nickname = "Lead", role = "orchestrator", model = "gpt-5");
    lead_agent().instrument(lead).instrument(rollout).await;
}
