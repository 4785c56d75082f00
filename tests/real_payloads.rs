//! The real-payload corpus (`shared/real-payloads/`, described in its `SOURCES.md`: bodies
//! recorded by other projects' test suites, nobody here wrote them) through the real layer:
//! every request/response pair is recorded as `&str` payloads of one inference span, the way an
//! agent passes the bodies it sent and received, and the bundle is reduced.
//!
//! For every pair: items on both sides (a provider error body has none on the response side
//! and fails the inference instead), usage equal to the body's own counters, every tool call
//! the model requested linked to the inference whose response carried it (the test opens a
//! `rollout.tool` span per requested call id, as an agent dispatching it would), every tool the
//! provider ran (web and file search, Anthropic server tools) a tool call of that inference run
//! by the provider, no item kept as `other`, and exactly
//! the diagnostics listed in [`EXPECTED_DIAGNOSTICS`] — each one something a person reading
//! the bodies agrees with.
//!
//! The corpus is found at `$ROLLOUT_SHARED_DIR/real-payloads`, else
//! `$CARGO_MANIFEST_DIR/../shared/real-payloads` (CI's layout: `shared/` beside the clone).
//! Absent, the test prints a loud SKIPPED line and passes — unless `CI` is set, then it fails.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use pretty_assertions::assert_eq;
use serde_json::{json, Value};
use support::layer::reduce;
use support::payloads::inference;
use support::skip::skipped;
use support::spans::{in_agent, in_rollout};
use tracing::info_span;
use tracing_rollout::reduce::{ItemKind, Requester, RolloutState, Status, Usage};

/// Pairs recorded from one conversation (one cassette), replayed in order in one thread, one
/// turn each: later requests replay earlier responses, and `previous_response_id` chains
/// resolve. Every other pair runs alone.
const CONVERSATIONS: &[(&str, &[&str])] = &[
    (
        "responses",
        &[
            "prev-id-chain-1-plain-text",
            "prev-id-chain-2-function-call",
            "prev-id-chain-3-retry-output",
            "prev-id-chain-4-final-answer",
        ],
    ),
    (
        "responses",
        &[
            "reasoning-summary-function-call",
            "reasoning-replay-cached-tokens",
        ],
    ),
    ("chat", &["parallel-tool-calls", "parallel-tool-results"]),
    ("anthropic", &["parallel-tool-use", "parallel-tool-results"]),
];

/// The diagnostics a conversation (named by its first pair) reduces with; every other
/// conversation reduces with none.
const EXPECTED_DIAGNOSTICS: &[(&str, &[&str])] = &[];

/// The corpus directory, or why it is absent.
fn corpus_dir() -> Result<PathBuf, String> {
    let shared = match std::env::var_os("ROLLOUT_SHARED_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"),
    };
    let dir = shared.join("real-payloads");
    if dir.join("SOURCES.md").is_file() {
        Ok(dir)
    } else {
        Err(format!(
            "{} has no SOURCES.md (set ROLLOUT_SHARED_DIR to the directory holding real-payloads/)",
            dir.display()
        ))
    }
}

/// The corpus directory; absent, a loud SKIPPED line (straight to the process's stderr: the
/// harness captures `println!` of passing tests) and `None` — an error when `CI` is set.
fn corpus_or_skip(test: &str) -> anyhow::Result<Option<PathBuf>> {
    match corpus_dir() {
        Ok(dir) => Ok(Some(dir)),
        Err(why) => {
            skipped(test, &why)?;
            Ok(None)
        }
    }
}

/// One request/response pair of the corpus.
#[derive(Debug)]
struct Pair {
    provider: String,
    name: String,
    request: String,
    response: String,
}

impl Pair {
    fn load(dir: &Path, provider: &str, name: &str) -> anyhow::Result<Pair> {
        let read = |side: &str| {
            let path = dir.join(provider).join(format!("{name}.{side}.json"));
            std::fs::read_to_string(&path)
                .map_err(|e| anyhow::anyhow!("read {}: {e}", path.display()))
        };
        Ok(Pair {
            provider: provider.to_owned(),
            name: name.to_owned(),
            request: read("request")?,
            response: read("response")?,
        })
    }

    fn response_json(&self) -> anyhow::Result<Value> {
        Ok(serde_json::from_str(&self.response)?)
    }

    /// The `provider` field an agent would record.
    fn provider_field(&self) -> &'static str {
        if self.provider == "anthropic" {
            "anthropic"
        } else {
            "openai"
        }
    }
}

/// Every conversation of the corpus: the listed ones, then each remaining pair alone.
fn conversations(dir: &Path) -> anyhow::Result<Vec<Vec<Pair>>> {
    let mut grouped = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for (provider, names) in CONVERSATIONS {
        let mut pairs = Vec::new();
        for name in *names {
            grouped.insert((provider.to_string(), name.to_string()));
            pairs.push(Pair::load(dir, provider, name)?);
        }
        out.push(pairs);
    }
    for provider in ["responses", "chat", "anthropic"] {
        let mut names: Vec<String> = std::fs::read_dir(dir.join(provider))?
            .filter_map(|entry| {
                let name = entry.ok()?.file_name().into_string().ok()?;
                Some(name.strip_suffix(".request.json")?.to_owned())
            })
            .collect();
        names.sort();
        for name in names {
            if !grouped.contains(&(provider.to_owned(), name.clone())) {
                out.push(vec![Pair::load(dir, provider, &name)?]);
            }
        }
    }
    Ok(out)
}

/// The call ids of the tools the model asked the program to run, in the response body's own
/// terms (read here independently of the reducer).
fn requested_calls(pair: &Pair) -> anyhow::Result<Vec<String>> {
    let body = pair.response_json()?;
    let ids = |list: Option<&Value>, types: &[&str], key: &str| -> Vec<String> {
        list.and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|item| {
                types.is_empty()
                    || item
                        .get("type")
                        .and_then(Value::as_str)
                        .is_some_and(|t| types.contains(&t))
            })
            .filter_map(|item| item.get(key)?.as_str().map(str::to_owned))
            .collect()
    };
    Ok(match pair.provider.as_str() {
        "responses" => ids(
            body.get("output"),
            &[
                "function_call",
                "custom_tool_call",
                "computer_call",
                "local_shell_call",
            ],
            "call_id",
        ),
        "chat" => ids(body.pointer("/choices/0/message/tool_calls"), &[], "id"),
        _ => ids(body.get("content"), &["tool_use"], "id"),
    })
}

/// The ids of the tools the provider ran itself (hosted tools), in the body's own terms.
fn hosted_calls(pair: &Pair) -> anyhow::Result<Vec<String>> {
    let body = pair.response_json()?;
    let (list, types): (_, &[&str]) = match pair.provider.as_str() {
        "responses" => (
            body.get("output"),
            &[
                "web_search_call",
                "file_search_call",
                "code_interpreter_call",
                "image_generation_call",
                "mcp_call",
                "mcp_list_tools",
            ],
        ),
        "chat" => (None, &[]),
        _ => (body.get("content"), &["server_tool_use", "mcp_tool_use"]),
    };
    Ok(list
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|item| {
            item.get("type")
                .and_then(Value::as_str)
                .is_some_and(|t| types.contains(&t))
        })
        .filter_map(|item| item.get("id")?.as_str().map(str::to_owned))
        .collect())
}

/// The usage the response body states, in the graph's terms (Anthropic's cache reads and
/// writes are part of the prompt: `input_tokens` counts them, as OpenAI's does; the writes
/// are also `cache_write_input_tokens`).
fn stated_usage(pair: &Pair) -> anyhow::Result<Option<Usage>> {
    let body = pair.response_json()?;
    let Some(usage) = body.get("usage").filter(|u| u.is_object()) else {
        return Ok(None);
    };
    let n = |path: &str| usage.pointer(path).and_then(Value::as_u64).unwrap_or(0);
    let mut expected = Usage::default();
    match pair.provider.as_str() {
        "responses" => {
            expected.input_tokens = n("/input_tokens");
            expected.output_tokens = n("/output_tokens");
            expected.cached_input_tokens = n("/input_tokens_details/cached_tokens");
            expected.reasoning_tokens = n("/output_tokens_details/reasoning_tokens");
        }
        "chat" => {
            expected.input_tokens = n("/prompt_tokens");
            expected.output_tokens = n("/completion_tokens");
            expected.cached_input_tokens = n("/prompt_tokens_details/cached_tokens");
            expected.reasoning_tokens = n("/completion_tokens_details/reasoning_tokens");
        }
        _ => {
            expected.input_tokens = n("/input_tokens")
                + n("/cache_read_input_tokens")
                + n("/cache_creation_input_tokens");
            expected.output_tokens = n("/output_tokens");
            expected.cached_input_tokens = n("/cache_read_input_tokens");
            expected.cache_write_input_tokens = n("/cache_creation_input_tokens");
        }
    }
    Ok(Some(expected))
}

/// Records one conversation: one thread, one turn and one inference per pair, then a tool
/// span per call the response requested.
fn record(pairs: &[Pair]) -> anyhow::Result<RolloutState> {
    let bodies: Vec<&str> = pairs.iter().map(|p| p.response.as_str()).collect();
    record_with(pairs, &bodies)
}

/// [`record`], with `responses[i]` recorded as pair `i`'s response body.
fn record_with(pairs: &[Pair], responses: &[&str]) -> anyhow::Result<RolloutState> {
    let mut requested = Vec::new();
    for pair in pairs {
        requested.push(requested_calls(pair)?);
    }
    let first = &pairs[0];
    reduce(|| {
        in_rollout(&first.name, || {
            in_agent("main", "/root", || {
                for (turn, ((pair, calls), response)) in
                    pairs.iter().zip(&requested).zip(responses).enumerate()
                {
                    let turn = info_span!("rollout.turn", turn_id = turn + 1);
                    let _u = turn.enter();
                    // The bodies exactly as the agent sent and received them, as `&str`.
                    inference(
                        "recorded",
                        pair.provider_field(),
                        &pair.request,
                        Some(response),
                    );
                    for call_id in calls {
                        let _tool = info_span!(
                            "rollout.tool",
                            call_id = call_id.as_str(),
                            kind = "function"
                        )
                        .entered();
                    }
                }
            })
        })
    })
}

/// What is wrong with one reduced conversation, as readable lines (empty: all holds).
fn check(pairs: &[Pair], state: &RolloutState) -> anyhow::Result<Vec<String>> {
    let mut problems = Vec::new();
    let mut calls: Vec<_> = state.inference_calls.values().collect();
    calls.sort_by_key(|c| c.execution.started_seq);
    if calls.len() != pairs.len() {
        problems.push(format!(
            "{} inference calls for {} pairs",
            calls.len(),
            pairs.len()
        ));
        return Ok(problems);
    }
    for (pair, call) in pairs.iter().zip(&calls) {
        let at = format!("{}/{}", pair.provider, pair.name);
        let body = pair.response_json()?;
        let is_error = body.get("error").is_some_and(Value::is_object);
        if state.request_items(call).is_empty() {
            problems.push(format!("{at}: no request items"));
        }
        if is_error {
            let kind = body.pointer("/error/type").and_then(Value::as_str);
            let message = body.pointer("/error/message").and_then(Value::as_str);
            let stated = kind.zip(message).map(|(k, m)| format!("{k}: {m}"));
            if call.error_type.as_deref() != kind || call.execution.error != stated {
                problems.push(format!(
                    "{at}: error {:?} / {:?}, the body says {kind:?} / {stated:?}",
                    call.error_type, call.execution.error
                ));
            }
            if !call.response_items.is_empty() || call.execution.status != Status::Failed {
                problems.push(format!(
                    "{at}: an error body should fail the inference with no items, got {:?} and {:?}",
                    call.execution.status, call.response_items
                ));
            }
        } else if call.response_items.is_empty() {
            problems.push(format!("{at}: no response items"));
        }
        let usage = stated_usage(pair)?;
        if call.usage != usage {
            problems.push(format!(
                "{at}: usage {:?}, the body says {:?}",
                call.usage, usage
            ));
        }
        for call_id in requested_calls(pair)? {
            let tools: Vec<_> = state
                .tool_calls
                .values()
                .filter(|t| t.call_id.as_deref() == Some(call_id.as_str()))
                .collect();
            let linked = tools.iter().any(|t| {
                t.requester
                    == Requester::Model {
                        inference_call_id: Some(call.inference_call_id.clone()),
                    }
                    && !t.call_items.is_empty()
                    && call.tool_calls.contains(&t.tool_call_id)
            });
            if !linked {
                problems.push(format!(
                    "{at}: tool call `{call_id}` is not linked to {}: {tools:?}",
                    call.inference_call_id
                ));
            }
        }
        for call_id in hosted_calls(pair)? {
            let id = format!("tool:{}/{call_id}", call.inference_call_id);
            let ok = state.tool_calls.get(&id).is_some_and(|t| {
                t.runtime.as_deref() == Some("provider")
                    && t.requester
                        == Requester::Model {
                            inference_call_id: Some(call.inference_call_id.clone()),
                        }
                    && !t.call_items.is_empty()
                    && call.tool_calls.contains(&id)
            });
            if !ok {
                problems.push(format!(
                    "{at}: hosted tool `{call_id}` is not a provider-run tool call of {}: {:?}",
                    call.inference_call_id,
                    state.tool_calls.get(&id)
                ));
            }
        }
    }
    for item in state.conversation_items.values() {
        if item.kind == ItemKind::Other {
            problems.push(format!(
                "{}: {} is kept as `other` ({})",
                pairs[0].name, item.item_id, item.text
            ));
        }
    }
    Ok(problems)
}

#[test]
fn every_recorded_pair_reduces_with_items_usage_links_and_only_agreed_diagnostics(
) -> anyhow::Result<()> {
    let Some(dir) = corpus_or_skip("the real-payload corpus test")? else {
        return Ok(());
    };
    let expected: BTreeMap<&str, Vec<String>> = EXPECTED_DIAGNOSTICS
        .iter()
        .map(|(name, messages)| (*name, messages.iter().map(|m| m.to_string()).collect()))
        .collect();
    let mut problems = Vec::new();
    let mut pairs_seen = 0;
    let (mut requested_seen, mut hosted_seen) = (0, 0);
    for pairs in conversations(&dir)? {
        pairs_seen += pairs.len();
        for pair in &pairs {
            requested_seen += requested_calls(pair)?.len();
            hosted_seen += hosted_calls(pair)?.len();
        }
        let name = pairs[0].name.as_str();
        let state = match record(&pairs) {
            Ok(state) => state,
            Err(e) => {
                problems.push(format!("{}/{name}: {e:#}", pairs[0].provider));
                continue;
            }
        };
        problems.extend(check(&pairs, &state)?);
        let diagnostics: Vec<String> = state
            .diagnostics
            .iter()
            .map(|d| format!("{:?}: {}", d.level, d.message))
            .collect();
        let want = expected.get(name).cloned().unwrap_or_default();
        if diagnostics != want {
            problems.push(format!(
                "{}/{name}: diagnostics {diagnostics:#?}, expected {want:#?}",
                pairs[0].provider
            ));
        }
    }
    // What the corpus held when this test was written (SOURCES.md): 31 pairs, 15 tool calls
    // the model requested, 3 tools the provider ran.
    assert!(
        pairs_seen >= 31,
        "only {pairs_seen} pairs in {}",
        dir.display()
    );
    assert!(
        requested_seen >= 15 && hosted_seen >= 3,
        "{requested_seen} requested and {hosted_seen} hosted tool calls"
    );
    assert_eq!(problems, Vec::<String>::new());
    Ok(())
}

/// How a stream is recorded.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Encoding {
    /// A JSON array of the event objects.
    Array,
    /// The SSE text, as the agent read it off the wire.
    Sse,
}

/// `text` in `n` pieces (at char boundaries), as a provider streams it.
fn pieces(text: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let size = chars.len().div_ceil(n).max(1);
    chars.chunks(size).map(|c| c.iter().collect()).collect()
}

/// The events the provider would have streamed for a non-streamed response body (following
/// each provider's streaming reference: OpenAI "Streaming events" for Responses, the
/// `chat.completion.chunk` object for Chat, Anthropic "Streaming Messages"), and the index
/// of its first terminal event.
fn stream_of(provider: &str, body: &Value) -> (Vec<Value>, usize) {
    match provider {
        "responses" => responses_stream(body),
        "chat" => chat_stream(body),
        _ => anthropic_stream(body),
    }
}

/// [`stream_of`] a Responses body.
fn responses_stream(body: &Value) -> (Vec<Value>, usize) {
    let mut events = Vec::new();
    let mut created = body.clone();
    created["status"] = json!("in_progress");
    created["output"] = json!([]);
    created["usage"] = Value::Null;
    events.push(json!({"type": "response.created", "response": created}));
    let output = body["output"].as_array().cloned().unwrap_or_default();
    for (i, item) in output.iter().enumerate() {
        let mut added = item.clone();
        match item["type"].as_str() {
            Some("message") => added["content"] = json!([]),
            Some("function_call") => added["arguments"] = json!(""),
            Some("reasoning") => added["summary"] = json!([]),
            _ => {}
        }
        events
            .push(json!({"type": "response.output_item.added", "output_index": i, "item": added}));
        for (j, part) in item["content"].as_array().into_iter().flatten().enumerate() {
            let (kind, key) = match part["type"].as_str() {
                Some("refusal") => ("response.refusal.delta", "refusal"),
                _ => ("response.output_text.delta", "text"),
            };
            events.push(
                json!({"type": "response.content_part.added", "output_index": i, "content_index": j,
                "part": {"type": part["type"], key: ""}}),
            );
            for piece in pieces(part[key].as_str().unwrap_or_default(), 3) {
                events.push(
                    json!({"type": kind, "output_index": i, "content_index": j, "delta": piece}),
                );
            }
        }
        if let Some(arguments) = item["arguments"].as_str() {
            for piece in pieces(arguments, 2) {
                events.push(json!({"type": "response.function_call_arguments.delta", "output_index": i, "delta": piece}));
            }
        }
        for (j, part) in item["summary"].as_array().into_iter().flatten().enumerate() {
            for piece in pieces(part["text"].as_str().unwrap_or_default(), 2) {
                events.push(json!({"type": "response.reasoning_summary_text.delta", "output_index": i, "summary_index": j, "delta": piece}));
            }
        }
        events.push(json!({"type": "response.output_item.done", "output_index": i, "item": item}));
    }
    let terminal = if body["status"] == "incomplete" {
        "response.incomplete"
    } else {
        "response.completed"
    };
    let at = events.len();
    events.push(json!({"type": terminal, "response": body}));
    (events, at)
}

/// [`stream_of`] a Chat Completions body.
fn chat_stream(body: &Value) -> (Vec<Value>, usize) {
    let mut events = Vec::new();
    let base = |choices: Value| {
        json!({"id": body["id"], "object": "chat.completion.chunk", "created": body["created"],
               "model": body["model"], "choices": choices})
    };
    let message = &body["choices"][0]["message"];
    let content = if message["content"].is_string() {
        json!("")
    } else {
        Value::Null
    };
    events.push(base(json!([{"index": 0, "delta": {"role": "assistant", "content": content, "refusal": null}, "finish_reason": null}])));
    for key in ["content", "refusal"] {
        for piece in pieces(message[key].as_str().unwrap_or_default(), 3) {
            events.push(base(
                json!([{"index": 0, "delta": {key: piece}, "finish_reason": null}]),
            ));
        }
    }
    for (j, call) in message["tool_calls"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        events.push(base(json!([{"index": 0, "delta": {"tool_calls": [{"index": j, "id": call["id"], "type": call["type"],
            "function": {"name": call["function"]["name"], "arguments": ""}}]}, "finish_reason": null}])));
        for piece in pieces(
            call["function"]["arguments"].as_str().unwrap_or_default(),
            2,
        ) {
            events.push(base(json!([{"index": 0, "delta": {"tool_calls": [{"index": j, "function": {"arguments": piece}}]}, "finish_reason": null}])));
        }
    }
    let at = events.len();
    events.push(base(
        json!([{"index": 0, "delta": {}, "finish_reason": body["choices"][0]["finish_reason"]}]),
    ));
    let mut usage = base(json!([]));
    usage["usage"] = body["usage"].clone();
    events.push(usage);
    (events, at)
}

/// [`stream_of`] an Anthropic Messages body.
fn anthropic_stream(body: &Value) -> (Vec<Value>, usize) {
    let mut events = Vec::new();
    let mut start = body.clone();
    start["content"] = json!([]);
    start["stop_reason"] = Value::Null;
    start["stop_sequence"] = Value::Null;
    let usage = &body["usage"];
    start["usage"] = json!({"input_tokens": usage["input_tokens"], "cache_creation_input_tokens": usage["cache_creation_input_tokens"],
        "cache_read_input_tokens": usage["cache_read_input_tokens"], "output_tokens": 1});
    events.push(json!({"type": "message_start", "message": start}));
    for (i, block) in body["content"].as_array().into_iter().flatten().enumerate() {
        let delta =
            |delta: Value| json!({"type": "content_block_delta", "index": i, "delta": delta});
        match block["type"].as_str() {
            Some("text") => {
                events.push(json!({"type": "content_block_start", "index": i, "content_block": {"type": "text", "text": ""}}));
                for citation in block["citations"].as_array().into_iter().flatten() {
                    events.push(delta(
                        json!({"type": "citations_delta", "citation": citation}),
                    ));
                }
                for piece in pieces(block["text"].as_str().unwrap_or_default(), 3) {
                    events.push(delta(json!({"type": "text_delta", "text": piece})));
                }
            }
            Some(kind @ ("tool_use" | "server_tool_use")) => {
                events.push(json!({"type": "content_block_start", "index": i,
                    "content_block": {"type": kind, "id": block["id"], "name": block["name"], "input": {}}}));
                for piece in pieces(&block["input"].to_string(), 2) {
                    events.push(delta(
                        json!({"type": "input_json_delta", "partial_json": piece}),
                    ));
                }
            }
            Some("thinking") => {
                events.push(json!({"type": "content_block_start", "index": i, "content_block": {"type": "thinking", "thinking": ""}}));
                for piece in pieces(block["thinking"].as_str().unwrap_or_default(), 3) {
                    events.push(delta(json!({"type": "thinking_delta", "thinking": piece})));
                }
                events.push(delta(
                    json!({"type": "signature_delta", "signature": block["signature"]}),
                ));
            }
            _ => events
                .push(json!({"type": "content_block_start", "index": i, "content_block": block})),
        }
        events.push(json!({"type": "content_block_stop", "index": i}));
    }
    events.push(json!({"type": "message_delta", "delta": {"stop_reason": body["stop_reason"], "stop_sequence": body["stop_sequence"]},
        "usage": {"output_tokens": usage["output_tokens"]}}));
    let at = events.len();
    events.push(json!({"type": "message_stop"}));
    (events, at)
}

/// A stream's events as a recorded body.
fn encode(provider: &str, events: &[Value], encoding: Encoding, done: bool) -> String {
    match encoding {
        Encoding::Array => Value::Array(events.to_vec()).to_string(),
        Encoding::Sse => {
            let mut text = String::new();
            for event in events {
                if provider != "chat" {
                    text.push_str(&format!(
                        "event: {}\n",
                        event["type"].as_str().unwrap_or_default()
                    ));
                }
                text.push_str(&format!("data: {event}\n\n"));
            }
            if provider == "chat" && done {
                text.push_str("data: [DONE]\n\n");
            }
            text
        }
    }
}

/// What a reduction says about each inference, in order: status, usage, and the response
/// items as the graph shows them.
fn outcome(state: &RolloutState) -> Vec<(Status, Option<Usage>, Vec<String>, usize)> {
    let mut calls: Vec<_> = state.inference_calls.values().collect();
    calls.sort_by_key(|c| c.execution.started_seq);
    calls
        .iter()
        .map(|c| {
            let items = c
                .response_items
                .iter()
                .map(|id| {
                    let i = &state.conversation_items[id];
                    format!(
                        "{:?} {:?} {:?} {:?} {}",
                        i.kind, i.role, i.call_id, i.name, i.text
                    )
                })
                .collect();
            (c.execution.status, c.usage, items, c.tool_calls.len())
        })
        .collect()
}

#[test]
fn every_recorded_response_streamed_reduces_to_the_same_items_and_usage_and_cut_short_is_cancelled(
) -> anyhow::Result<()> {
    let Some(dir) = corpus_or_skip("the re-streamed corpus test")? else {
        return Ok(());
    };
    let mut problems = Vec::new();
    let mut streams = 0;
    for pairs in conversations(&dir)? {
        if pairs
            .iter()
            .any(|p| p.response_json().is_ok_and(|b| b["error"].is_object()))
        {
            continue;
        }
        let name = format!("{}/{}", pairs[0].provider, pairs[0].name);
        let whole = outcome(&record(&pairs)?);
        let mut built = Vec::new();
        for pair in &pairs {
            built.push(stream_of(&pair.provider, &pair.response_json()?));
        }
        for encoding in [Encoding::Array, Encoding::Sse] {
            let bodies: Vec<String> = pairs
                .iter()
                .zip(&built)
                .map(|(p, (events, _))| encode(&p.provider, events, encoding, true))
                .collect();
            let refs: Vec<&str> = bodies.iter().map(String::as_str).collect();
            streams += pairs.len();
            let streamed = outcome(&record_with(&pairs, &refs)?);
            if streamed != whole {
                problems.push(format!(
                    "{name} as {encoding:?}: {streamed:#?}\nunstreamed: {whole:#?}"
                ));
            }
            // The last response cut before its terminal event: the same items as far as they
            // were streamed, and the inference cancelled.
            let Some((events, at)) = built.last() else {
                continue;
            };
            let at = *at;
            let last = pairs.len() - 1;
            let cut = encode(&pairs[last].provider, &events[..at], encoding, false);
            let mut refs = refs.clone();
            refs[last] = &cut;
            let partial = outcome(&record_with(&pairs, &refs)?);
            let (status, _, items, _) = &partial[last];
            let want = &whole[last].2;
            if *status != Status::Cancelled
                || items.len() != want.len()
                || items[..items.len().saturating_sub(1)] != want[..want.len().saturating_sub(1)]
            {
                problems.push(format!(
                    "{name} cut short as {encoding:?}: {:#?}\nunstreamed: {:#?}",
                    partial[last], whole[last]
                ));
            }
        }
    }
    assert!(streams >= 60, "only {streams} streams");
    assert_eq!(problems, Vec::<String>::new());
    Ok(())
}
