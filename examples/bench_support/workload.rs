//! A deterministic agent rollout for benchmarks, emitted with ordinary `tracing` spans.
//!
//! Two shapes. The default ([`Shape::capped`]): per turn one inference whose request (an
//! OpenAI Responses body, a sliding window over the thread's history) grows to ~16 KiB, with
//! a ~1 KiB response; three tool calls with ~200 B
//! arguments and ~2 KiB results; one code cell whose code makes two nested tool calls. Every
//! 100 turns one of the tools is `spawn_agent`, and a child thread, on its own OS thread,
//! follows from it. The uncapped one ([`Shape::uncapped`], the case format v2 is for): the
//! request keeps the whole history (growing ~1 KiB a turn), the first user message carries a
//! 200 KiB base64 image that every request re-sends, each child's first request carries the
//! parent's history, and one compaction replaces the history with a summary. Payloads are
//! generated up front, so timing the emission measures the instrumentation, not the agent.

use std::ops::Range;

use serde::Serialize;
use serde_json::{json, Value};
use tracing::field::Empty;
use tracing::{info, info_span};

/// Requests are cut to the newest history items that fit in this many bytes.
pub const REQUEST_CAP: usize = 16 * 1024;
/// A child thread is spawned on every turn `n` with `n % CHILD_EVERY == CHILD_EVERY / 2`.
pub const CHILD_EVERY: u64 = 100;

/// What the history looks like over the rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Requests are cut to the newest items that fit in this many bytes (`None`: whole
    /// history).
    pub cap: Option<usize>,
    /// Bytes of a base64 image in the first user message (0: none).
    pub image_bytes: usize,
    /// A child's first request carries the parent's history (the default: only its task).
    pub child_history: bool,
    /// The turn at which one compaction replaces the history with a summary.
    pub compact_at: Option<u64>,
}

impl Shape {
    /// The default workload: requests capped at [`REQUEST_CAP`].
    pub fn capped() -> Shape {
        Shape {
            cap: Some(REQUEST_CAP),
            image_bytes: 0,
            child_history: false,
            compact_at: None,
        }
    }

    /// The uncapped workload of issue 13.
    pub fn uncapped() -> Shape {
        Shape {
            cap: None,
            image_bytes: 200 * 1024,
            child_history: true,
            compact_at: Some(300),
        }
    }
}

/// How payloads are handed to `tracing`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `payload = text.as_str()`: the JSON the agent already holds.
    Str,
    /// `payload = tracing_rollout::json(&value)`.
    Json,
}

impl Mode {
    pub fn key(self) -> &'static str {
        match self {
            Mode::Str => "str",
            Mode::Json => "json",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Mode::Str => "JSON string",
            Mode::Json => "json(&value)",
        }
    }
}

/// A payload in both forms, with the same JSON text.
pub struct Payload {
    pub text: String,
    pub value: Value,
}

impl Payload {
    fn new(value: Value) -> Payload {
        Payload {
            text: value.to_string(),
            value,
        }
    }
}

pub struct ToolCall {
    pub tool: &'static str,
    pub call_id: Option<String>,
    pub args: Payload,
    pub result: Payload,
}

pub struct Child {
    pub thread_id: String,
    pub agent_path: String,
    pub task: String,
    pub request: Payload,
    pub response: Payload,
    pub tool: ToolCall,
}

pub struct Turn {
    pub turn_id: String,
    /// The request is `{"model":"gpt-5","input": history[request]}`.
    pub request: Range<usize>,
    pub request_text: String,
    pub response: Payload,
    pub response_id: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub tools: Vec<ToolCall>,
    pub cell_id: String,
    pub cell_call_id: String,
    pub cell_source: Payload,
    pub nested: Vec<ToolCall>,
    pub cell_output: Payload,
    /// Spawned by `tools[0]` (a `spawn_agent` call).
    pub child: Option<Child>,
    /// A compaction before this turn's inference: its checkpoint body.
    pub compaction: Option<Payload>,
}

#[derive(Serialize)]
struct Request<'a> {
    model: &'static str,
    input: &'a [Value],
}

/// Deterministic filler text.
struct Words(u64);

const WORDS: &[&str] = &[
    "the",
    "agent",
    "reads",
    "file",
    "config",
    "retry",
    "timeout",
    "\"quoted\"",
    "fn",
    "let",
    "match",
    "Result<(), Error>",
    "self",
    "tests",
    "passed",
    "failed",
    "0x7f3a",
    "path/to/mod.rs",
    "{",
    "}",
    "=>",
    "\\n",
    "async",
    "await",
    "tokio::spawn",
    "42",
    "line",
    "é",
    "TODO:",
    "\t",
];

impl Words {
    fn next(&mut self) -> &'static str {
        // A 64-bit LCG (Knuth's MMIX constants): deterministic and cheap.
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        WORDS[(self.0 >> 33) as usize % WORDS.len()]
    }

    /// About `n` bytes of words, with a newline every dozen words.
    fn text(&mut self, n: usize) -> String {
        let mut s = String::with_capacity(n + 24);
        let mut i = 0;
        while s.len() < n {
            s.push_str(self.next());
            i += 1;
            s.push(if i % 12 == 0 { '\n' } else { ' ' });
        }
        s
    }
}

/// The whole rollout, generated up front.
pub struct Workload {
    /// Every item the main thread's history ever held; requests are windows into it.
    pub history: Vec<Value>,
    pub turns: Vec<Turn>,
    /// Bytes of content that appear for the first time: every payload except requests and
    /// checkpoints, plus the history items no response carried (user messages with the
    /// image, tool outputs, the summary, children's tasks) — what a store that keeps each
    /// byte once must keep.
    pub unique_bytes: u64,
}

/// [`Workload::generate_shaped`] between turns: the main thread's history, the window of it
/// the next request sends, and the bytes seen for the first time so far. Each turn draws its
/// words in one fixed order, so a workload is the same on every run.
struct Generator {
    words: Words,
    shape: Shape,
    cap: usize,
    history: Vec<Value>,
    /// `sizes[i]`: the bytes `history[i]` takes in a request (its JSON and a comma).
    sizes: Vec<usize>,
    /// The next request sends `history[start..]`, `window` bytes of it.
    start: usize,
    window: usize,
    /// Bytes of history items no response carried.
    unique: usize,
}

impl Generator {
    fn push(&mut self, item: Value) {
        self.sizes.push(item.to_string().len() + 1);
        self.history.push(item);
    }

    /// [`Generator::push`], counting the item as content seen for the first time.
    fn push_new(&mut self, item: Value) {
        self.push(item);
        self.unique += self.sizes[self.sizes.len() - 1];
    }

    /// Turn `n`: its compaction, user message, inference, tools, code cell and child.
    fn turn(&mut self, n: u64) -> Turn {
        let compaction = self.compaction(n);
        self.user_message(n);
        let request = self.start..self.history.len();
        let request_text = serde_json::to_string(&Request {
            model: "gpt-5",
            input: &self.history[request.clone()],
        })
        .unwrap_or_default();

        let spawn = n % CHILD_EVERY == CHILD_EVERY / 2;
        let (calls, tools) = self.tool_calls(n, spawn);
        let cell_call_id = format!("exec_{n}");
        let source = format!(
            "const hits = await tools.grep({{pattern: 'retry_{n}', path: 'src/'}});\nconst cfg = await tools.read_file({{path: 'config/{n}.toml'}});\nreturn {{hits, cfg}};"
        );
        let message = json!({"type": "message", "role": "assistant", "content": [
            {"type": "output_text", "text": self.words.text(80)}]});
        let code = json!({"type": "custom_tool_call", "call_id": cell_call_id, "name": "exec", "input": source});
        let mut output = vec![message];
        output.extend(calls);
        output.push(code);
        let response_id = format!("resp_{n}");
        let (input_tokens, output_tokens) = ((request_text.len() / 4) as u64, 260);
        let response = Payload::new(
            json!({"id": response_id, "model": "gpt-5", "output": output,
            "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens}}),
        );
        for item in output {
            self.push(item);
        }

        let nested = self.nested(n);
        let cell_output = json!({"hits": truncate(&nested[0].result.text, 100),
            "cfg": truncate(&nested[1].result.text, 100)});
        self.outputs(&tools, &cell_call_id, &cell_output, request.end);
        let child = spawn.then(|| self.child(n, request.clone()));
        Turn {
            turn_id: format!("turn-{n}"),
            request,
            request_text,
            response,
            response_id,
            input_tokens,
            output_tokens,
            tools,
            cell_id: format!("cell-{n}"),
            cell_call_id,
            cell_source: Payload::new(json!(source)),
            nested,
            cell_output: Payload::new(cell_output),
            child,
            compaction,
        }
    }

    /// At the shape's compaction turn, the history is replaced by a summary; the checkpoint.
    fn compaction(&mut self, n: u64) -> Option<Payload> {
        if self.shape.compact_at != Some(n) || n == 0 {
            return None;
        }
        let summary = json!({"type": "message", "role": "assistant", "content": [
            {"type": "output_text", "text": format!("Summary of turns 0-{n}: {}", self.words.text(2000))}]});
        let checkpoint = Payload::new(json!({"input_history": &self.history[self.start..],
            "replacement_history": [&summary]}));
        self.push_new(summary);
        self.start = self.history.len() - 1;
        self.window = self.sizes[self.start];
        Some(checkpoint)
    }

    /// Turn `n`'s user message (with the image at turn 0); the window then slides, dropping
    /// the oldest items until the newest ones fit.
    fn user_message(&mut self, n: u64) {
        let mut content = vec![
            json!({"type": "input_text", "text": format!("Turn {n}: {}", self.words.text(120))}),
        ];
        if n == 0 && self.shape.image_bytes > 0 {
            let image: String = (0..self.shape.image_bytes)
                .map(|i| {
                    char::from(
                        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
                            [(i * 7 + i / 64 * 13 + (i * i) % 61) % 64],
                    )
                })
                .collect();
            content.push(json!({"type": "input_image", "image_url": format!("data:image/png;base64,{image}")}));
        }
        self.push_new(json!({"type": "message", "role": "user", "content": content}));
        self.window += self.sizes[self.sizes.len() - 1];
        while self.window > self.cap - 32 && self.start + 1 < self.history.len() {
            self.window -= self.sizes[self.start];
            self.start += 1;
        }
    }

    /// Turn `n`'s three tool calls (the first a `spawn_agent` when `spawn`): the response's
    /// items, and the calls with their arguments and results.
    fn tool_calls(&mut self, n: u64, spawn: bool) -> (Vec<Value>, Vec<ToolCall>) {
        let mut calls = Vec::new();
        let mut tools = Vec::new();
        for i in 0..3 {
            let call_id = format!("call_{n}_{i}");
            let (tool, args) = if spawn && i == 0 {
                let child = format!("child-{n}");
                let args = json!({"agent": child, "task": format!("Investigate {}", self.words.text(150))});
                ("spawn_agent", args)
            } else {
                let args = json!({"path": format!("src/module_{n}_{i}.rs"), "start_line": n % 400,
                    "end_line": n % 400 + 60, "reason": self.words.text(110)});
                ("read_file", args)
            };
            let result = json!({"output": self.words.text(1950), "exit_code": 0});
            calls.push(
                json!({"type": "function_call", "call_id": call_id, "name": tool,
                "arguments": args.to_string()}),
            );
            tools.push(ToolCall {
                tool,
                call_id: Some(call_id),
                args: Payload::new(args),
                result: Payload::new(result),
            });
        }
        (calls, tools)
    }

    /// The two tool calls nested in turn `n`'s code cell.
    fn nested(&mut self, n: u64) -> Vec<ToolCall> {
        (0..2)
            .map(|i| {
                let tool = if i == 0 { "grep" } else { "read_file" };
                ToolCall {
                    tool,
                    call_id: None,
                    args: Payload::new(json!({"pattern": format!("retry_{n}"), "path": "src/",
                        "reason": self.words.text(140)})),
                    result: Payload::new(json!({"output": self.words.text(1950), "exit_code": 0})),
                }
            })
            .collect()
    }

    /// The outputs of the turn's tools and code cell join the history, and everything since
    /// the request (`request_end`) the window.
    fn outputs(
        &mut self,
        tools: &[ToolCall],
        cell_call_id: &str,
        cell_output: &Value,
        request_end: usize,
    ) {
        for tool in tools {
            let call_id = tool.call_id.clone().unwrap_or_default();
            let output = truncate(&tool.result.text, 150);
            self.push_new(
                json!({"type": "function_call_output", "call_id": call_id, "output": output}),
            );
        }
        self.push_new(json!({"type": "custom_tool_call_output",
            "call_id": cell_call_id, "output": cell_output.to_string()}));
        for size in &self.sizes[request_end..] {
            self.window += size;
        }
    }

    /// The child agent turn `n` spawns: its task (after the main thread's `request` window
    /// when the shape says so), one model call and one tool call.
    fn child(&mut self, n: u64, request: Range<usize>) -> Child {
        let thread_id = format!("child-{n}");
        let task = format!("Investigate the failure of turn {n}.");
        let task_item = json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": task}]});
        self.unique += task_item.to_string().len();
        let mut input: Vec<Value> = if self.shape.child_history {
            self.history[request].to_vec()
        } else {
            Vec::new()
        };
        input.push(task_item);
        let request = json!({"model": "gpt-5-mini", "input": input});
        let call_id = format!("call_{thread_id}_0");
        let args = json!({"path": format!("logs/{n}.txt"), "reason": self.words.text(150)});
        let response = json!({"id": format!("resp_{thread_id}"), "model": "gpt-5-mini", "output": [
            {"type": "function_call", "call_id": call_id, "name": "read_file", "arguments": args.to_string()}],
            "usage": {"input_tokens": 40, "output_tokens": 60}});
        Child {
            agent_path: format!("/main/{thread_id}"),
            thread_id,
            task,
            request: Payload::new(request),
            response: Payload::new(response),
            tool: ToolCall {
                tool: "read_file",
                call_id: Some(call_id),
                args: Payload::new(args),
                result: Payload::new(json!({"output": self.words.text(1950), "exit_code": 0})),
            },
        }
    }
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

impl Workload {
    pub fn generate(turns: u64) -> Workload {
        Workload::generate_shaped(turns, Shape::capped())
    }

    pub fn generate_shaped(turns: u64, shape: Shape) -> Workload {
        let mut generator = Generator {
            words: Words(0x5eed),
            shape,
            cap: shape.cap.unwrap_or(usize::MAX),
            history: Vec::new(),
            sizes: Vec::new(),
            start: 0,
            window: 0,
            unique: 0,
        };
        let out: Vec<Turn> = (0..turns).map(|n| generator.turn(n)).collect();
        let mut workload = Workload {
            history: generator.history,
            turns: out,
            unique_bytes: 0,
        };
        let requests: usize = workload
            .turns
            .iter()
            .map(|t| {
                t.request_text.len()
                    + t.child.as_ref().map_or(0, |c| c.request.text.len())
                    + t.compaction.as_ref().map_or(0, |c| c.text.len())
            })
            .sum();
        workload.unique_bytes =
            workload.payload_bytes() - requests as u64 + generator.unique as u64;
        workload
    }

    /// Bytes of every payload's JSON text.
    pub fn payload_bytes(&self) -> u64 {
        let tool = |t: &ToolCall| t.args.text.len() + t.result.text.len();
        self.turns
            .iter()
            .map(|t| {
                let child = t.child.as_ref().map_or(0, |c| {
                    c.request.text.len() + c.response.text.len() + tool(&c.tool)
                });
                t.request_text.len()
                    + t.compaction.as_ref().map_or(0, |c| c.text.len())
                    + t.response.text.len()
                    + t.tools.iter().map(tool).sum::<usize>()
                    + t.cell_source.text.len()
                    + t.nested.iter().map(tool).sum::<usize>()
                    + t.cell_output.text.len()
                    + child
            })
            .sum::<usize>() as u64
    }

    /// Every payload's JSON text, in the order `emit` records them (children after the
    /// spawning tool's arguments).
    pub fn payload_texts(&self) -> Vec<&str> {
        fn tool<'a>(out: &mut Vec<&'a str>, t: &'a ToolCall) {
            out.push(t.args.text.as_str());
            out.push(t.result.text.as_str());
        }
        let mut out = Vec::new();
        for turn in &self.turns {
            out.extend(turn.compaction.as_ref().map(|c| c.text.as_str()));
            out.push(turn.request_text.as_str());
            out.push(turn.response.text.as_str());
            for (i, t) in turn.tools.iter().enumerate() {
                if let (0, Some(child)) = (i, &turn.child) {
                    out.push(t.args.text.as_str());
                    out.push(child.request.text.as_str());
                    out.push(child.response.text.as_str());
                    tool(&mut out, &child.tool);
                    out.push(t.result.text.as_str());
                } else {
                    tool(&mut out, t);
                }
            }
            out.push(turn.cell_source.text.as_str());
            for t in &turn.nested {
                tool(&mut out, t);
            }
            out.push(turn.cell_output.text.as_str());
        }
        out
    }

    /// Rollout spans: the rollout and its thread, per turn 8 (turn, inference, 3 tools, cell,
    /// 2 nested tools), per child 4 (thread, turn, inference, tool), per compaction 1.
    pub fn spans(&self) -> u64 {
        let children = self.turns.iter().filter(|t| t.child.is_some()).count() as u64;
        2 + 8 * self.turns.len() as u64 + 4 * children + self.compactions()
    }

    fn compactions(&self) -> u64 {
        self.turns.iter().filter(|t| t.compaction.is_some()).count() as u64
    }

    /// Payload events (`rollout.payload`).
    pub fn payload_events(&self) -> u64 {
        let children = self.turns.iter().filter(|t| t.child.is_some()).count() as u64;
        14 * self.turns.len() as u64 + 4 * children + self.compactions()
    }

    /// Emits the whole rollout on this thread (children on their own threads, joined) to the
    /// current default subscriber.
    pub fn emit(&self, mode: Mode) {
        let rollout = info_span!("rollout", rollout_id = "bench", trace_id = "trace-bench");
        let _rollout = rollout.enter();
        let thread = info_span!(
            "rollout.thread",
            thread_id = "main",
            agent_path = "/main",
            model = "gpt-5",
            status = Empty
        );
        let _thread = thread.enter();
        for turn in &self.turns {
            self.emit_turn(turn, mode);
        }
    }

    fn emit_turn(&self, turn: &Turn, mode: Mode) {
        let span = info_span!("rollout.turn", turn_id = turn.turn_id.as_str());
        let _turn = span.enter();
        if let Some(checkpoint) = &turn.compaction {
            let compaction = info_span!("rollout.compaction", trigger = "auto");
            let _compaction = compaction.enter();
            payload(mode, "checkpoint", checkpoint);
        }
        {
            let inference = info_span!(
                "rollout.inference",
                model = "gpt-5",
                provider = "openai",
                response_id = Empty,
                input_tokens = Empty,
                output_tokens = Empty
            );
            let _inference = inference.enter();
            match mode {
                Mode::Str => {
                    info!(name: "rollout.payload", role = "request", payload = turn.request_text.as_str())
                }
                Mode::Json => {
                    let request = Request {
                        model: "gpt-5",
                        input: &self.history[turn.request.clone()],
                    };
                    info!(name: "rollout.payload", role = "request", payload = tracing_rollout::json(&request));
                }
            }
            payload(mode, "response", &turn.response);
            inference.record("response_id", turn.response_id.as_str());
            inference.record("input_tokens", turn.input_tokens);
            inference.record("output_tokens", turn.output_tokens);
        }
        for (i, tool) in turn.tools.iter().enumerate() {
            let child = if i == 0 { turn.child.as_ref() } else { None };
            emit_tool(tool, mode, child);
        }
        let cell = info_span!(
            "rollout.code_cell",
            cell_id = turn.cell_id.as_str(),
            call_id = turn.cell_call_id.as_str(),
            language = "javascript",
            status = Empty
        );
        let _cell = cell.enter();
        payload(mode, "source", &turn.cell_source);
        for tool in &turn.nested {
            emit_tool(tool, mode, None);
        }
        payload(mode, "output", &turn.cell_output);
        cell.record("status", "completed");
    }
}

fn payload(mode: Mode, role: &'static str, payload: &Payload) {
    match mode {
        Mode::Str => info!(name: "rollout.payload", role, payload = payload.text.as_str()),
        Mode::Json => {
            info!(name: "rollout.payload", role, payload = tracing_rollout::json(&payload.value))
        }
    }
}

fn emit_tool(tool: &ToolCall, mode: Mode, child: Option<&Child>) {
    let kind = if child.is_some() {
        "spawn_agent"
    } else {
        "function"
    };
    let span = info_span!(
        "rollout.tool",
        tool = tool.tool,
        call_id = tool.call_id.as_deref(),
        kind,
        target_thread_id = Empty,
        message = Empty,
        status = Empty
    );
    let _tool = span.enter();
    payload(mode, "args", &tool.args);
    if let Some(child) = child {
        span.record("target_thread_id", child.thread_id.as_str());
        span.record("message", child.task.as_str());
        let thread =
            tracing_rollout::child_thread_span(&child.thread_id, "main", &child.agent_path, &span);
        let dispatch = tracing::dispatcher::get_default(Clone::clone);
        std::thread::scope(|s| {
            s.spawn(|| {
                tracing::dispatcher::with_default(&dispatch, || {
                    thread.in_scope(|| emit_child(child, mode));
                });
            });
        });
    }
    payload(mode, "result", &tool.result);
    span.record("status", "completed");
}

fn emit_child(child: &Child, mode: Mode) {
    let turn_id = format!("{}-turn-0", child.thread_id);
    let turn = info_span!("rollout.turn", turn_id = turn_id.as_str());
    let _turn = turn.enter();
    {
        let inference = info_span!(
            "rollout.inference",
            model = "gpt-5-mini",
            provider = "openai"
        );
        let _inference = inference.enter();
        payload(mode, "request", &child.request);
        payload(mode, "response", &child.response);
    }
    emit_tool(&child.tool, mode, None);
}
