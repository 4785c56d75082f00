//! What a rollout graph says, as normalised facts: Codex's own `state.json` (its reference
//! reducer) and our `RolloutState` of the imported bundle are both read into the same rows,
//! `(entity, attribute) → value`, so two graphs of one rollout compare row by row.
//!
//! Entities are named by the ids both sides keep: threads and turns by Codex's ids, inference
//! calls by their turn and start order, tool calls by the model-visible call id (a code
//! cell's call by the cell's call id and its start order in the cell), code cells by their
//! call id, compactions by thread and order, edges by kind and source. Values use our
//! vocabulary; the few words that only differ in spelling are translated here (Codex's
//! `assign_agent_task` is our `task` edge, `terminated` our `cancelled`), and nothing else.

use std::collections::BTreeMap;

use serde_json::Value;
use tracing_rollout::reduce::{Anchor, EdgeKind, Requester, RolloutState, Usage};

/// `(entity, attribute) → value`.
pub type Facts = BTreeMap<(String, String), String>;

fn put(facts: &mut Facts, entity: &str, attribute: &str, value: impl Into<String>) {
    facts.insert((entity.to_owned(), attribute.to_owned()), value.into());
}

fn s(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => "-".to_owned(),
        Some(other) => other.to_string(),
    }
}

fn usage_text(input: u64, cached: u64, write: u64, output: u64, reasoning: u64) -> String {
    format!("in={input} cached={cached} write={write} out={output} reasoning={reasoning}")
}

fn our_usage(u: &Option<Usage>) -> String {
    match u {
        Some(u) => usage_text(
            u.input_tokens,
            u.cached_input_tokens,
            u.cache_write_input_tokens,
            u.output_tokens,
            u.reasoning_tokens,
        ),
        None => "-".to_owned(),
    }
}

/// Codex's status words in ours.
fn status_word(word: &str) -> String {
    match word {
        "terminated" => "cancelled".to_owned(),
        other => other.to_owned(),
    }
}

/// Codex's tool kinds in ours (the kind `other` keeps the tool's name beside it).
fn kind_word(kind: &Value) -> String {
    match kind.get("type").and_then(Value::as_str).unwrap_or("-") {
        "assign_agent_task" => "assign_task".to_owned(),
        other => other.to_owned(),
    }
}

fn edge_word(kind: &str) -> &str {
    match kind {
        "spawn_agent" => "spawn",
        "send_message" => "message",
        "assign_agent_task" => "task",
        "close_agent" => "close",
        "agent_result" => "result",
        other => other,
    }
}

/// Map values sorted by their `execution.started_seq`.
fn by_start(map: Option<&Value>) -> Vec<&Value> {
    let mut values: Vec<&Value> = map
        .and_then(Value::as_object)
        .map(|m| m.values().collect())
        .unwrap_or_default();
    values.sort_by_key(|v| {
        v.pointer("/execution/started_seq")
            .and_then(Value::as_u64)
            .unwrap_or(0)
    });
    values
}

/// The facts of Codex's `state.json`.
pub fn codex_facts(state: &Value) -> Facts {
    let mut f = Facts::new();
    put(&mut f, "rollout", "status", s(state, "status"));
    put(&mut f, "rollout", "root_thread", s(state, "root_thread_id"));
    codex_threads(&mut f, state);
    let mut keys = codex_cells(&mut f, state);
    codex_tools(&mut f, state, &mut keys);
    codex_turns(&mut f, state, &keys);
    codex_compactions(&mut f, state);
    codex_edges(&mut f, state, &keys);
    f
}

fn codex_threads(f: &mut Facts, state: &Value) {
    for t in by_start(state.get("threads")) {
        let e = format!("thread {}", s(t, "thread_id"));
        put(f, &e, "agent_path", s(t, "agent_path"));
        put(f, &e, "nickname", s(t, "nickname"));
        let parent = t
            .pointer("/origin/parent_thread_id")
            .and_then(Value::as_str)
            .unwrap_or("-");
        put(f, &e, "parent", parent);
        put(f, &e, "status", s(&t["execution"], "status"));
    }
}

/// The code cells; returns the tool keys of the calls they made: `<cell call id>#<n>` for a
/// cell's n-th call.
fn codex_cells(f: &mut Facts, state: &Value) -> BTreeMap<String, String> {
    let mut tool_keys: BTreeMap<String, String> = BTreeMap::new();
    let cells = state.get("code_cells").and_then(Value::as_object);
    for c in cells.into_iter().flat_map(|m| m.values()) {
        let call = s(c, "model_visible_call_id");
        let nested = c["nested_tool_call_ids"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for (n, id) in nested.iter().enumerate() {
            let id = id.as_str().unwrap_or("-").to_owned();
            tool_keys.insert(id, format!("{call}#{}", n + 1));
        }
        let e = format!("code_cell {call}");
        put(f, &e, "thread", s(c, "thread_id"));
        put(f, &e, "turn", s(c, "codex_turn_id"));
        put(f, &e, "status", status_word(&s(c, "runtime_status")));
        put(f, &e, "nested_calls", nested.len().to_string());
    }
    tool_keys
}

/// The tool calls, keyed by the model-visible call id (`keys` has the cells' calls).
fn codex_tools(f: &mut Facts, state: &Value, tool_keys: &mut BTreeMap<String, String>) {
    let tools = state.get("tool_calls").and_then(Value::as_object);
    for t in tools.into_iter().flat_map(|m| m.values()) {
        let id = s(t, "tool_call_id");
        let key = match t.get("model_visible_call_id").and_then(Value::as_str) {
            Some(call) => call.to_owned(),
            None => tool_keys.get(&id).cloned().unwrap_or(id.clone()),
        };
        tool_keys.insert(id, key.clone());
        let e = format!("tool {key}");
        put(f, &e, "thread", s(t, "thread_id"));
        put(f, &e, "turn", s(t, "started_by_codex_turn_id"));
        put(f, &e, "kind", kind_word(&t["kind"]));
        let requester = match t["requester"]["type"].as_str() {
            Some("code_cell") => {
                let cell = s(&t["requester"], "code_cell_id");
                format!("code_cell {}", cell.trim_start_matches("code_cell:"))
            }
            other => other.unwrap_or("-").to_owned(),
        };
        put(f, &e, "requester", requester);
        put(f, &e, "status", s(&t["execution"], "status"));
        let op = t
            .get("terminal_operation_id")
            .and_then(Value::as_str)
            .and_then(|op| state["terminal_operations"].get(op));
        if let Some(op) = op {
            let kind = match s(op, "kind").as_str() {
                "exec_command" => "exec".to_owned(),
                "write_stdin" if s(&op["request"], "stdin").is_empty() => "poll".to_owned(),
                "write_stdin" => "write".to_owned(),
                other => other.to_owned(),
            };
            let command = s(&op["request"], "display_command");
            let exit = op
                .pointer("/result/exit_code")
                .map_or("-".to_owned(), |v| v.to_string().replace("null", "-"));
            let status = s(&op["execution"], "status");
            put(
                f,
                &e,
                "terminal",
                format!("{kind} `{command}` exit={exit} {status}"),
            );
        }
    }
}

fn codex_turns(f: &mut Facts, state: &Value, tool_keys: &BTreeMap<String, String>) {
    let mut turn_calls: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for c in by_start(state.get("inference_calls")) {
        turn_calls.entry(s(c, "codex_turn_id")).or_default().push(c);
    }
    for t in by_start(state.get("codex_turns")) {
        let turn = s(t, "codex_turn_id");
        let e = format!("turn {turn}");
        put(f, &e, "thread", s(t, "thread_id"));
        put(f, &e, "status", s(&t["execution"], "status"));
        let calls = turn_calls.remove(&turn).unwrap_or_default();
        put(f, &e, "inference_calls", calls.len().to_string());
        for (n, c) in calls.into_iter().enumerate() {
            let e = format!("inference {turn}#{}", n + 1);
            put(f, &e, "response_id", s(c, "response_id"));
            put(f, &e, "model", s(c, "model"));
            put(f, &e, "status", s(&c["execution"], "status"));
            let u = &c["usage"];
            let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
            let usage = if u.is_null() {
                "-".to_owned()
            } else {
                usage_text(
                    n("input_tokens"),
                    n("cached_input_tokens"),
                    n("cache_write_input_tokens"),
                    n("output_tokens"),
                    n("reasoning_output_tokens"),
                )
            };
            put(f, &e, "usage", usage);
            let len = |k: &str| c[k].as_array().map_or(0, Vec::len).to_string();
            put(f, &e, "request_items", len("request_item_ids"));
            put(f, &e, "response_items", len("response_item_ids"));
            let mut started: Vec<String> = c["tool_call_ids_started_by_response"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(|id| tool_keys.get(id).cloned().unwrap_or_else(|| id.to_owned()))
                .collect();
            started.sort();
            put(f, &e, "started_calls", started.join(" "));
        }
    }
}

fn codex_compactions(f: &mut Facts, state: &Value) {
    let mut per_thread: BTreeMap<String, usize> = BTreeMap::new();
    let compactions = state.get("compactions").and_then(Value::as_object);
    let mut compactions: Vec<&Value> = compactions.into_iter().flat_map(|m| m.values()).collect();
    compactions.sort_by_key(|c| c["installed_at_unix_ms"].as_u64().unwrap_or(0));
    for c in compactions {
        let thread = s(c, "thread_id");
        let n = per_thread.entry(thread.clone()).or_insert(0);
        *n += 1;
        let e = format!("compaction {thread}#{n}");
        let requests = c["request_ids"].as_array().cloned().unwrap_or_default();
        let status = requests
            .last()
            .and_then(Value::as_str)
            .and_then(|r| state["compaction_requests"].get(r))
            .map_or("completed".to_owned(), |r| s(&r["execution"], "status"));
        put(f, &e, "status", status);
        put(f, &e, "attempts", requests.len().max(1).to_string());
        let len = |k: &str| c[k].as_array().map_or(0, Vec::len).to_string();
        put(f, &e, "input_items", len("input_item_ids"));
        put(f, &e, "replacement_items", len("replacement_item_ids"));
    }
}

fn codex_edges(f: &mut Facts, state: &Value, tool_keys: &BTreeMap<String, String>) {
    let item_thread = |id: &str| {
        state["conversation_items"]
            .get(id)
            .map_or("-".to_owned(), |i| s(i, "thread_id"))
    };
    let anchor = |a: &Value| -> (String, bool) {
        match a["type"].as_str() {
            Some("tool_call") => (
                format!("tool {}", tool_key(tool_keys, &s(a, "tool_call_id"))),
                false,
            ),
            Some("conversation_item") => {
                (format!("thread {}", item_thread(&s(a, "item_id"))), true)
            }
            Some("thread") => (format!("thread {}", s(a, "thread_id")), false),
            _ => ("-".to_owned(), false),
        }
    };
    let mut edges: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let values = state.get("interaction_edges").and_then(Value::as_object);
    for e in values.into_iter().flat_map(|m| m.values()) {
        let kind = edge_word(e["kind"].as_str().unwrap_or("-"));
        let (source, _) = anchor(&e["source"]);
        let (target, delivered) = anchor(&e["target"]);
        let value = match kind {
            "close" => target,
            _ => format!(
                "{target} delivered={}",
                if delivered { "yes" } else { "no" }
            ),
        };
        edges
            .entry(format!("edge {kind} from {source}"))
            .or_default()
            .push(value);
    }
    for (e, mut targets) in edges {
        targets.sort();
        put(f, &e, "to", targets.join(", "));
    }
}

fn tool_key(keys: &BTreeMap<String, String>, id: &str) -> String {
    keys.get(id).cloned().unwrap_or_else(|| id.to_owned())
}

/// The facts of our graph of the imported bundle.
pub fn our_facts(state: &RolloutState) -> Facts {
    let mut f = Facts::new();
    put(&mut f, "rollout", "status", state.status.as_str());
    put(&mut f, "rollout", "root_thread", opt(&state.root_thread_id));
    our_threads(&mut f, state);
    let mut keys = our_cells(&mut f, state);
    our_tools(&mut f, state, &mut keys);
    our_turns(&mut f, state, &keys);
    our_compactions(&mut f, state);
    our_edges(&mut f, state, &keys);
    f
}

fn opt(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "-".to_owned())
}

fn our_threads(f: &mut Facts, state: &RolloutState) {
    for t in state.threads.values() {
        let e = format!("thread {}", t.thread_id);
        put(f, &e, "agent_path", opt(&t.agent_path));
        put(f, &e, "nickname", opt(&t.nickname));
        put(f, &e, "parent", opt(&t.parent_thread_id));
        put(f, &e, "status", t.execution.status.as_str());
    }
}

/// The code cells; returns the tool keys of the calls they made.
fn our_cells(f: &mut Facts, state: &RolloutState) -> BTreeMap<String, String> {
    let mut tool_keys: BTreeMap<String, String> = BTreeMap::new();
    for c in state.code_cells.values() {
        let call = opt(&c.call_id);
        for (n, id) in c.tool_calls.iter().enumerate() {
            tool_keys.insert(id.clone(), format!("{call}#{}", n + 1));
        }
        let e = format!("code_cell {call}");
        put(f, &e, "thread", opt(&c.thread_id));
        put(f, &e, "turn", opt(&c.turn_id));
        put(f, &e, "status", c.execution.status.as_str());
        put(f, &e, "nested_calls", c.tool_calls.len().to_string());
    }
    tool_keys
}

fn our_tools(f: &mut Facts, state: &RolloutState, tool_keys: &mut BTreeMap<String, String>) {
    for t in state.tool_calls.values() {
        let key = match &t.call_id {
            Some(call) => call.clone(),
            None => tool_keys
                .get(&t.tool_call_id)
                .cloned()
                .unwrap_or(t.tool_call_id.clone()),
        };
        tool_keys.insert(t.tool_call_id.clone(), key.clone());
        let e = format!("tool {key}");
        put(f, &e, "thread", opt(&t.thread_id));
        put(f, &e, "turn", opt(&t.turn_id));
        put(f, &e, "kind", opt(&t.kind));
        let requester = match &t.requester {
            Requester::Model { .. } => "model".to_owned(),
            Requester::CodeCell { code_cell_id } => {
                let call = state
                    .code_cells
                    .get(code_cell_id)
                    .and_then(|c| c.call_id.clone());
                format!("code_cell {}", call.unwrap_or_default())
            }
            Requester::Runtime => "runtime".to_owned(),
        };
        put(f, &e, "requester", requester);
        put(f, &e, "status", t.execution.status.as_str());
        if let Some(op) = t
            .terminal_operations
            .first()
            .and_then(|op| state.terminal_operations.get(op))
        {
            let exit = op.exit_code.map_or("-".to_owned(), |c| c.to_string());
            put(
                f,
                &e,
                "terminal",
                format!(
                    "{} `{}` exit={exit} {}",
                    opt(&op.op),
                    op.command.clone().unwrap_or_else(|| "-".to_owned()),
                    op.execution.status.as_str()
                ),
            );
        }
        if t.runtime.is_some() {
            put(f, &e, "runtime", opt(&t.runtime));
        }
    }
}

fn our_turns(f: &mut Facts, state: &RolloutState, tool_keys: &BTreeMap<String, String>) {
    for t in state.turns.values() {
        let e = format!("turn {}", t.turn_id);
        put(f, &e, "thread", &t.thread_id);
        put(f, &e, "status", t.execution.status.as_str());
        put(
            f,
            &e,
            "inference_calls",
            t.inference_calls.len().to_string(),
        );
        for (n, id) in t.inference_calls.iter().enumerate() {
            let Some(c) = state.inference_calls.get(id) else {
                continue;
            };
            let e = format!("inference {}#{}", t.turn_id, n + 1);
            put(f, &e, "response_id", opt(&c.response_id));
            put(f, &e, "model", opt(&c.model));
            put(f, &e, "status", c.execution.status.as_str());
            put(f, &e, "usage", our_usage(&c.usage));
            put(
                f,
                &e,
                "request_items",
                state.request_items(c).len().to_string(),
            );
            put(f, &e, "response_items", c.response_items.len().to_string());
            let mut started: Vec<String> = c
                .tool_calls
                .iter()
                // A hosted tool the provider ran is no call the program started.
                .filter(|id| {
                    state
                        .tool_calls
                        .get(*id)
                        .is_some_and(|t| t.runtime.is_none())
                })
                .map(|id| tool_key(tool_keys, id))
                .collect();
            started.sort();
            put(f, &e, "started_calls", started.join(" "));
        }
    }
}

fn our_compactions(f: &mut Facts, state: &RolloutState) {
    let mut per_thread: BTreeMap<String, usize> = BTreeMap::new();
    let mut compactions: Vec<_> = state.compactions.values().collect();
    compactions.sort_by_key(|c| c.execution.started_seq);
    for c in compactions {
        let thread = opt(&c.thread_id);
        let n = per_thread.entry(thread.clone()).or_insert(0);
        *n += 1;
        let e = format!("compaction {thread}#{n}");
        put(f, &e, "status", c.execution.status.as_str());
        put(f, &e, "attempts", c.attempts.len().max(1).to_string());
        put(f, &e, "input_items", c.input_items.len().to_string());
        put(
            f,
            &e,
            "replacement_items",
            c.replacement_items.len().to_string(),
        );
    }
}

fn our_edges(f: &mut Facts, state: &RolloutState, tool_keys: &BTreeMap<String, String>) {
    let anchor = |a: &Anchor| -> String {
        match a {
            Anchor::ToolCall(t) => format!("tool {}", tool_key(tool_keys, t)),
            Anchor::ConversationItem(i) => format!(
                "thread {}",
                state
                    .conversation_items
                    .get(i)
                    .map_or("-".to_owned(), |i| i.thread_id.clone())
            ),
            Anchor::Thread(t) => format!("thread {t}"),
            other => format!("{other:?}"),
        }
    };
    let mut edges: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for e in state.edges.values() {
        let kind = e.kind.as_str();
        let target = anchor(&e.to);
        let value = match e.kind {
            EdgeKind::Close | EdgeKind::Link => target,
            _ => format!(
                "{target} delivered={}",
                if e.delivered { "yes" } else { "no" }
            ),
        };
        edges
            .entry(format!("edge {kind} from {}", anchor(&e.from)))
            .or_default()
            .push(value);
    }
    for (e, mut targets) in edges {
        targets.sort();
        put(f, &e, "to", targets.join(", "));
    }
}
