//! Small Codex rollout-trace bundles written by hand, in Codex's own layout (a pretty-printed
//! `payloads/N.json` per payload, one raw event per line of `trace.jsonl`), for the cases the
//! recorded corpus does not hold: raw schema 1, a hosted web search, unknown event types and
//! payload kinds, a torn last line, a bundle still being written.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

/// A Codex bundle being built.
pub struct Synth {
    pub dir: PathBuf,
    pub schema: u32,
    lines: Vec<String>,
    payloads: u64,
    t: u64,
}

pub const ROOT: &str = "thread-root";
pub const TURN: &str = "turn-1";

impl Synth {
    pub fn new(dir: &Path, schema: u32) -> Synth {
        std::fs::create_dir_all(dir.join("payloads")).unwrap_or_default();
        Synth {
            dir: dir.to_path_buf(),
            schema,
            lines: Vec::new(),
            payloads: 0,
            t: 1_796_000_000_000,
        }
    }

    /// Writes `body` as the next payload file (pretty, as Codex does) and returns its ref.
    pub fn payload(&mut self, kind: &str, body: Value) -> Value {
        self.payloads += 1;
        let n = self.payloads;
        let text = serde_json::to_string_pretty(&body).unwrap_or_default();
        std::fs::write(self.dir.join(format!("payloads/{n}.json")), text).unwrap_or_default();
        json!({"raw_payload_id": format!("raw_payload:{n}"), "kind": {"type": kind}, "path": format!("payloads/{n}.json")})
    }

    /// Appends one raw event with the given envelope context.
    pub fn event(&mut self, thread: Option<&str>, turn: Option<&str>, payload: Value) {
        self.t += 7;
        let line = json!({
            "schema_version": self.schema, "seq": self.lines.len() + 1,
            "wall_time_unix_ms": self.t, "rollout_id": ROOT,
            "thread_id": thread, "codex_turn_id": turn, "payload": payload,
        });
        self.lines.push(line.to_string());
    }

    /// Appends a line as it is (for broken input).
    pub fn raw_line(&mut self, line: &str) {
        self.lines.push(line.to_owned());
    }

    /// Writes `manifest.json` and the first `lines` lines of `trace.jsonl` (all by default).
    pub fn write(&self, lines: Option<usize>) {
        let manifest = json!({
            "schema_version": self.schema, "trace_id": "trace-1", "rollout_id": ROOT,
            "root_thread_id": ROOT, "started_at_unix_ms": 1_796_000_000_000u64,
            "raw_event_log": "trace.jsonl", "payloads_dir": "payloads",
        });
        let text = serde_json::to_string_pretty(&manifest).unwrap_or_default();
        std::fs::write(self.dir.join("manifest.json"), text).unwrap_or_default();
        let n = lines.unwrap_or(self.lines.len());
        let mut trace = self.lines[..n].join("\n");
        if n > 0 {
            trace.push('\n');
        }
        std::fs::write(self.dir.join("trace.jsonl"), trace).unwrap_or_default();
    }

    pub fn lines(&self) -> usize {
        self.lines.len()
    }
}

/// A one-turn rollout: the model searches the web (a hosted tool the provider runs inside
/// the response), runs one command, and answers. Schema 2 adds Codex 0.169's breadcrumbs.
pub fn web_search_rollout(dir: &Path, schema: u32) -> Synth {
    let mut s = Synth::new(dir, schema);
    let (root, turn) = (Some(ROOT), Some(TURN));
    s.event(
        None,
        None,
        json!({"type": "rollout_started", "trace_id": "trace-1", "root_thread_id": ROOT}),
    );
    let meta = s.payload(
        "session_metadata",
        json!({"thread_id": ROOT, "agent_path": "/root", "model": "gpt-5", "nickname": null}),
    );
    s.event(None, None, json!({"type": "thread_started", "thread_id": ROOT, "agent_path": "/root", "metadata_payload": meta}));
    s.event(
        root,
        turn,
        json!({"type": "codex_turn_started", "codex_turn_id": TURN, "thread_id": ROOT}),
    );
    let user = json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": "What is new?"}]});
    let request = s.payload(
        "inference_request",
        json!({"model": "gpt-5", "input": [user]}),
    );
    s.event(root, turn, json!({"type": "inference_started", "inference_call_id": "inf-1", "thread_id": ROOT, "codex_turn_id": TURN, "model": "gpt-5", "provider_name": "openai", "request_payload": request}));
    let search = json!({"type": "web_search_call", "id": "ws_1", "status": "completed", "action": {"type": "search", "query": "news"}});
    let call = json!({"type": "function_call", "id": "fc_1", "name": "exec_command", "arguments": "{\"cmd\":\"date\"}", "call_id": "call_date"});
    let usage = json!({"input_tokens": 10, "cached_input_tokens": 2, "cache_write_input_tokens": 3, "output_tokens": 5, "reasoning_output_tokens": 1});
    let response = s.payload("inference_response", json!({"response_id": "resp_1", "upstream_request_id": "req_1", "token_usage": usage, "output_items": [search, call]}));
    s.event(root, turn, json!({"type": "inference_completed", "inference_call_id": "inf-1", "response_id": "resp_1", "upstream_request_id": "req_1", "response_payload": response}));
    if schema >= 2 {
        s.event(
            root,
            turn,
            json!({"type": "history_item_accepted", "item_id": "fc_1"}),
        );
    }
    let invocation = s.payload("tool_invocation", json!({"tool_name": "exec_command", "tool_namespace": null, "payload": {"type": "function", "arguments": "{\"cmd\":\"date\"}"}}));
    s.event(root, turn, json!({"type": "tool_call_started", "tool_call_id": "call_date", "model_visible_call_id": "call_date", "code_mode_runtime_tool_id": null, "requester": {"type": "model"}, "kind": {"type": "exec_command"}, "summary": {"type": "generic", "label": "exec_command"}, "invocation_payload": invocation}));
    let begin = s.payload("tool_runtime_event", json!({"call_id": "call_date", "command": ["bash", "-lc", "date"], "cwd": "/w", "process_id": null}));
    let mut runtime = json!({"type": "tool_call_runtime_started", "tool_call_id": "call_date", "runtime_payload": begin});
    if schema >= 2 {
        runtime["kind"] = json!({"type": "exec_command"});
    }
    s.event(root, turn, runtime);
    let end = s.payload(
        "tool_runtime_event",
        json!({"call_id": "call_date", "exit_code": 0, "stdout": "today\n"}),
    );
    s.event(root, turn, json!({"type": "tool_call_runtime_ended", "tool_call_id": "call_date", "status": "completed", "runtime_payload": end}));
    let output =
        json!({"type": "function_call_output", "call_id": "call_date", "output": "today\n"});
    let result = s.payload(
        "tool_result",
        json!({"type": "direct_response", "response_item": output}),
    );
    s.event(root, turn, json!({"type": "tool_call_ended", "tool_call_id": "call_date", "status": "completed", "result_payload": result}));
    let answer = json!({"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "It is today."}]});
    let request = s.payload(
        "inference_request",
        json!({"model": "gpt-5", "input": [user, search, call, output]}),
    );
    s.event(root, turn, json!({"type": "inference_started", "inference_call_id": "inf-2", "thread_id": ROOT, "codex_turn_id": TURN, "model": "gpt-5", "provider_name": "openai", "request_payload": request}));
    let response = s.payload("inference_response", json!({"response_id": "resp_2", "upstream_request_id": "req_2", "token_usage": usage, "output_items": [answer]}));
    s.event(root, turn, json!({"type": "inference_completed", "inference_call_id": "inf-2", "response_id": "resp_2", "upstream_request_id": "req_2", "response_payload": response}));
    s.event(
        root,
        turn,
        json!({"type": "codex_turn_ended", "codex_turn_id": TURN, "status": "completed"}),
    );
    s.event(
        None,
        None,
        json!({"type": "thread_ended", "thread_id": ROOT, "status": "completed"}),
    );
    s.event(
        None,
        None,
        json!({"type": "rollout_ended", "status": "completed"}),
    );
    if schema >= 2 {
        s.event(None, None, json!({"type": "recording_completed"}));
    }
    s
}
