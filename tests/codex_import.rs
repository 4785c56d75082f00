//! `import::codex` on bundles written by hand (`support::codex::synth`) and on the recorded
//! corpus: what the import keeps (ids, every raw event and payload, history stored once),
//! what it tolerates (raw schema 1, unknown event types and payload kinds, a torn last line,
//! a bundle Codex is still writing), and the graph it leads to.

mod support;

use pretty_assertions::assert_eq;
use serde_json::json;
use tracing_rollout::import::codex::{self, Importer};
use tracing_rollout::import::{resolve_bundle_in, ImportError, LiveImport};
use tracing_rollout::reduce::{reduce_bundle, Requester, RolloutState, Status};

use support::codex::corpus_dir;
use support::codex::synth::{self, ROOT, TURN};

fn import_one(src: &std::path::Path) -> anyhow::Result<(codex::Imported, RolloutState)> {
    let out = src.with_extension("ours");
    let mut imported = codex::import(src, &out)?;
    anyhow::ensure!(imported.len() == 1, "{} bundles", imported.len());
    let imported = imported.remove(0);
    let state = reduce_bundle(&imported.bundle)?;
    Ok((imported, state))
}

#[test]
fn ids_usage_and_calls_survive_the_import() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let src = dir.path().join("codex");
    synth::web_search_rollout(&src, 2).write(None);
    let (imported, state) = import_one(&src)?;
    assert!(
        imported.ledger.diagnostics.is_empty(),
        "{:?}",
        imported.ledger.diagnostics
    );
    assert_eq!((state.status, state.complete), (Status::Completed, true));
    assert_eq!(state.rollout_id, ROOT);
    assert_eq!(state.trace_id.as_deref(), Some("trace-1"));
    let thread = &state.threads[ROOT];
    assert_eq!(thread.agent_path.as_deref(), Some("/root"));
    assert_eq!(thread.turns, [TURN]);
    let turn = &state.turns[TURN];
    let calls: Vec<_> = turn
        .inference_calls
        .iter()
        .map(|id| &state.inference_calls[id])
        .collect();
    let ids: Vec<_> = calls.iter().map(|c| c.response_id.as_deref()).collect();
    assert_eq!(ids, [Some("resp_1"), Some("resp_2")]);
    let upstream: Vec<_> = calls
        .iter()
        .map(|c| c.upstream_request_id.as_deref())
        .collect();
    assert_eq!(upstream, [Some("req_1"), Some("req_2")]);
    let usage = calls[0].usage.unwrap_or_default();
    assert_eq!(
        (
            usage.input_tokens,
            usage.cached_input_tokens,
            usage.cache_write_input_tokens
        ),
        (10, 2, 3)
    );
    let date = state
        .tool_calls
        .values()
        .find(|t| t.call_id.as_deref() == Some("call_date"))
        .ok_or_else(|| anyhow::anyhow!("no call_date"))?;
    assert_eq!(date.kind.as_deref(), Some("exec_command"));
    let op = &state.terminal_operations[&date.terminal_operations[0]];
    assert_eq!(
        (op.command.as_deref(), op.exit_code),
        (Some("bash -lc date"), Some(0))
    );
    assert_eq!(
        date.requester,
        Requester::Model {
            inference_call_id: Some(turn.inference_calls[0].clone())
        }
    );
    Ok(())
}

#[test]
fn a_hosted_web_search_in_a_codex_response_is_a_tool_call_the_provider_ran() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let src = dir.path().join("codex");
    synth::web_search_rollout(&src, 2).write(None);
    let (_, state) = import_one(&src)?;
    let search: Vec<_> = state
        .tool_calls
        .values()
        .filter(|t| t.runtime.as_deref() == Some("provider"))
        .collect();
    assert_eq!(search.len(), 1, "{:#?}", state.tool_calls);
    assert_eq!(search[0].call_id.as_deref(), Some("ws_1"));
    assert_eq!(search[0].execution.status, Status::Completed);
    let first = &state.turns[TURN].inference_calls[0];
    assert_eq!(
        search[0].requester,
        Requester::Model {
            inference_call_id: Some(first.clone())
        }
    );
    Ok(())
}

#[test]
fn a_raw_schema_1_bundle_imports_to_the_same_graph_as_schema_2() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (one, two) = (dir.path().join("one"), dir.path().join("two"));
    synth::web_search_rollout(&one, 1).write(None);
    synth::web_search_rollout(&two, 2).write(None);
    let (imported, one) = import_one(&one)?;
    let (_, two) = import_one(&two)?;
    assert!(
        imported.ledger.diagnostics.is_empty(),
        "{:?}",
        imported.ledger.diagnostics
    );
    let facts = |s: &RolloutState| {
        let mut f = support::codex::facts::our_facts(s);
        f.retain(|(entity, _), _| !entity.starts_with("rollout"));
        f
    };
    assert_eq!(facts(&one), facts(&two));
    assert_eq!((one.status, one.complete), (Status::Completed, true));
    Ok(())
}

#[test]
fn unknown_event_types_and_payload_kinds_are_diagnostics_and_kept_as_evidence() -> anyhow::Result<()>
{
    let dir = tempfile::tempdir()?;
    let src = dir.path().join("codex");
    let mut s = synth::web_search_rollout(&src, 2);
    let frame = s.payload("wire_frame", json!({"bytes": 12}));
    s.event(
        None,
        None,
        json!({"type": "frame_observed", "frame_payload": frame}),
    );
    s.event(None, None, json!({"type": "thread_ended"}));
    s.raw_line("not json at all");
    s.write(None);
    std::fs::write(src.join("payloads/99.json"), "{\"orphan\": true}")?;
    // A payload file that is not JSON (the thread's metadata) is kept as a JSON string.
    std::fs::write(src.join("payloads/1.json"), "model = gpt-5 {")?;
    let (imported, state) = import_one(&src)?;
    let diags = &imported.ledger.diagnostics;
    let has = |needle: &str| diags.iter().any(|d| d.contains(needle));
    assert!(has("unknown raw event type `frame_observed`"), "{diags:#?}");
    assert!(has("payload kind `wire_frame`"), "{diags:#?}");
    assert!(
        has("`thread_ended` event does not fit its schema"),
        "{diags:#?}"
    );
    assert!(has("not a Codex raw event"), "{diags:#?}");
    assert!(has("an event follows `recording_completed`"), "{diags:#?}");
    assert!(
        has("payloads/99.json is referenced by no event"),
        "{diags:#?}"
    );
    // Everything counted; the graph is the same rollout.
    assert_eq!(imported.ledger.events_total(), s.lines() as u64);
    let files = std::fs::read_dir(src.join("payloads"))?.count() as u64;
    assert_eq!(imported.ledger.payloads_total(), files);
    assert_eq!(state.threads.len(), 1);
    let trace = std::fs::read_to_string(imported.bundle.join("trace.jsonl"))?;
    assert!(trace.contains("frame_observed") && trace.contains("\"orphan\":true"));
    assert!(trace.contains("\"model = gpt-5 {\""));
    Ok(())
}

#[test]
fn a_torn_last_line_is_reported_and_everything_before_it_imported() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let src = dir.path().join("codex");
    let s = synth::web_search_rollout(&src, 2);
    s.write(Some(8));
    let mut trace = std::fs::read_to_string(src.join("trace.jsonl"))?;
    trace.push_str("{\"schema_version\":2,\"seq\":9,\"wall_ti");
    std::fs::write(src.join("trace.jsonl"), trace)?;
    let (imported, state) = import_one(&src)?;
    assert!(
        imported
            .ledger
            .diagnostics
            .iter()
            .any(|d| d.contains("torn line")),
        "{:?}",
        imported.ledger.diagnostics
    );
    assert_eq!(state.status, Status::Incomplete);
    assert_eq!(
        state.tool_calls.len(),
        2,
        "the search and the started command"
    );
    Ok(())
}

#[test]
fn a_live_import_follows_a_bundle_codex_is_still_writing() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let src = dir.path().join("codex");
    let dest = dir.path().join("ours");
    std::fs::create_dir(&dest)?;
    let s = synth::web_search_rollout(&src, 2);
    s.write(Some(6));
    let mut importer = Importer::start(&src, &dest)?;
    assert_eq!(importer.poll()?, 6);
    let early = reduce_bundle(&dest)?;
    assert_eq!(early.status, Status::Incomplete);
    assert_eq!(early.inference_calls.len(), 1);
    assert!(!importer.ended());
    s.write(None);
    assert_eq!(importer.poll()?, s.lines() as u64 - 6);
    assert!(importer.ended());
    let done = importer.finish()?;
    let state = reduce_bundle(&done.bundle)?;
    assert_eq!((state.status, state.complete), (Status::Completed, true));
    Ok(())
}

#[test]
fn what_is_not_a_codex_bundle_is_refused_with_the_reason() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let out = dir.path().join("out");
    let err = codex::import(dir.path(), &out).unwrap_err();
    assert!(matches!(err, ImportError::NotACodexBundle { .. }), "{err}");
    assert!(err.to_string().contains("no Codex bundle"), "{err}");
    // A bundle of ours is not one of Codex's.
    let src = dir.path().join("codex");
    synth::web_search_rollout(&src, 2).write(None);
    let (imported, _) = import_one(&src)?;
    let err = codex::import(&imported.bundle, &out)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("is a bundle of tracing-rollout, not of Codex"),
        "{err}"
    );
    Ok(())
}

#[test]
fn every_raw_event_and_payload_of_the_corpus_is_accounted_for() -> anyhow::Result<()> {
    let corpus = match corpus_dir() {
        Ok(found) => found,
        Err(why) => return support::skip::skipped("the Codex corpus accounting test", &why),
    };
    let out = tempfile::tempdir()?;
    let bundles = codex::find_bundles(&corpus);
    anyhow::ensure!(bundles.len() >= 13, "{} bundles", bundles.len());
    for bundle in bundles {
        let imported = codex::import(&bundle, out.path())?.remove(0);
        let lines = std::fs::read_to_string(bundle.join("trace.jsonl"))?
            .lines()
            .count();
        let files = std::fs::read_dir(bundle.join("payloads"))?.count();
        let ledger = &imported.ledger;
        assert_eq!(ledger.events_total(), lines as u64, "{}", bundle.display());
        assert_eq!(
            ledger.payloads_total(),
            files as u64,
            "{}\n{ledger}",
            bundle.display()
        );
        assert!(
            ledger.diagnostics.is_empty(),
            "{}\n{ledger}",
            bundle.display()
        );
        let diagnosed: u64 = ledger
            .events
            .values()
            .chain(ledger.payloads.values())
            .map(|t| t.diagnosed)
            .sum();
        assert_eq!(diagnosed, 0, "{ledger}");
    }
    Ok(())
}

#[test]
fn re_sent_history_is_stored_once_a_fifth_of_codexs_bytes_at_most() -> anyhow::Result<()> {
    let corpus = match corpus_dir() {
        Ok(found) => found,
        Err(why) => return support::skip::skipped("the Codex size test", &why),
    };
    let out = tempfile::tempdir()?;
    let bundle = codex::find_bundles(&corpus.join("long_session")).remove(0);
    let mut codex_bytes = std::fs::metadata(bundle.join("trace.jsonl"))?.len();
    for file in std::fs::read_dir(bundle.join("payloads"))? {
        codex_bytes += file?.metadata()?.len();
    }
    let imported = codex::import(&bundle, out.path())?.remove(0);
    let ours = std::fs::metadata(imported.bundle.join("trace.jsonl"))?.len();
    assert!(
        ours * 5 <= codex_bytes,
        "ours {ours} bytes, Codex's {codex_bytes}"
    );
    // And every body comes back whole.
    let state = reduce_bundle(&imported.bundle)?;
    assert_eq!(state.inference_calls.len(), 61);
    Ok(())
}

#[test]
fn a_codex_bundle_resolves_to_a_cached_import_reused_until_codex_writes_more() -> anyhow::Result<()>
{
    let dir = tempfile::tempdir()?;
    let (src, cache) = (dir.path().join("codex"), dir.path().join("cache"));
    let s = synth::web_search_rollout(&src, 2);
    s.write(Some(9));
    let first = resolve_bundle_in(&src, &cache)?;
    assert_eq!(first.codex, Some(std::fs::canonicalize(&src)?));
    assert!(first.bundle.starts_with(cache.join("codex")));
    let before = std::fs::metadata(first.bundle.join("trace.jsonl"))?.modified()?;
    let again = resolve_bundle_in(&src, &cache)?;
    assert_eq!(again, first);
    assert_eq!(
        std::fs::metadata(again.bundle.join("trace.jsonl"))?.modified()?,
        before
    );
    assert_eq!(reduce_bundle(&again.bundle)?.status, Status::Incomplete);
    s.write(None);
    let done = resolve_bundle_in(&src, &cache)?;
    assert_eq!(done.bundle, first.bundle);
    assert_eq!(reduce_bundle(&done.bundle)?.status, Status::Completed);
    // The source is never written to, and a bundle of ours resolves to itself.
    assert!(!src.join("state.json").exists());
    let ours = resolve_bundle_in(&done.bundle, &cache)?;
    assert_eq!((ours.bundle, ours.codex), (done.bundle, None));
    Ok(())
}

#[test]
fn a_live_import_appends_what_codex_wrote_since_the_last_refresh() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (src, cache) = (dir.path().join("codex"), dir.path().join("cache"));
    let s = synth::web_search_rollout(&src, 2);
    s.write(Some(5));
    assert!(
        LiveImport::open_in(&cache, &cache)?.is_none(),
        "not a Codex bundle"
    );
    let mut live = LiveImport::open_in(&src, &cache)?.ok_or_else(|| anyhow::anyhow!("none"))?;
    let bundle = live.refresh()?.to_path_buf();
    let lines = |p: &std::path::Path| {
        std::fs::read_to_string(p.join("trace.jsonl")).map(|t| t.lines().count())
    };
    let early = lines(&bundle)?;
    assert_eq!(reduce_bundle(&bundle)?.threads.len(), 1);
    s.write(None);
    assert_eq!(live.refresh()?, bundle);
    assert!(lines(&bundle)? > early);
    let state = reduce_bundle(&bundle)?;
    assert_eq!((state.status, state.complete), (Status::Completed, true));
    drop(live);
    assert!(!bundle.exists(), "a live import is removed with its owner");
    Ok(())
}

#[test]
fn a_resumed_child_mcp_correlation_and_terminal_sessions_survive_the_corpus_import(
) -> anyhow::Result<()> {
    let corpus = match corpus_dir() {
        Ok(found) => found,
        Err(why) => return support::skip::skipped("the Codex corpus import details", &why),
    };
    let out = tempfile::tempdir()?;
    let state = |entry: &str| -> anyhow::Result<RolloutState> {
        let bundle = codex::find_bundles(&corpus.join(entry)).remove(0);
        let imported = codex::import(&bundle, out.path().join(entry))?.remove(0);
        Ok(reduce_bundle(&imported.bundle)?)
    };
    // v1 `resume_agent`: the child is one thread, attached twice.
    let v1 = state("agent_messages_v1")?;
    let child = v1
        .threads
        .values()
        .find(|t| t.parent_thread_id.is_some())
        .ok_or_else(|| anyhow::anyhow!("no child"))?;
    assert_eq!(child.attachments, 2);
    // MCP: the server and the correlation id Codex gave the call.
    let mcp = state("mcp_tools")?;
    let echo = tool_named(&mcp, "call_mcp_echo")?;
    assert_eq!(echo.kind.as_deref(), Some("mcp"));
    assert_eq!(echo.mcp_server.as_deref(), Some("mockmcp"));
    assert!(echo.mcp_call_id.is_some());
    // Every exec's session ended with its process's exit.
    let single = state("single_tool")?;
    let mut ended: Vec<_> = single
        .terminals
        .values()
        .map(|t| (t.exit_code, t.status))
        .collect();
    ended.sort();
    assert_eq!(
        ended,
        [(Some(0), Status::Completed), (Some(1), Status::Failed)],
        "{:#?}",
        single.terminals
    );
    Ok(())
}

fn tool_named<'a>(
    state: &'a RolloutState,
    call_id: &str,
) -> anyhow::Result<&'a tracing_rollout::reduce::ToolCall> {
    state
        .tool_calls
        .values()
        .find(|t| t.call_id.as_deref() == Some(call_id))
        .ok_or_else(|| anyhow::anyhow!("no tool call {call_id}"))
}

#[test]
fn a_write_whose_target_codex_resolved_joins_the_exec_calls_session() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let src = dir.path().join("codex");
    let mut s = synth::Synth::new(&src, 2);
    let (root, turn) = (Some(ROOT), Some(TURN));
    s.event(
        None,
        None,
        json!({"type": "rollout_started", "root_thread_id": ROOT}),
    );
    s.event(
        None,
        None,
        json!({"type": "thread_started", "thread_id": ROOT, "agent_path": "/root"}),
    );
    s.event(
        root,
        turn,
        json!({"type": "codex_turn_started", "codex_turn_id": TURN, "thread_id": ROOT}),
    );
    let start = |s: &mut synth::Synth, id: &str, kind: &str, args: &str| {
        let invocation = s.payload(
            "tool_invocation",
            json!({"tool_name": kind, "payload": {"type": "function", "arguments": args}}),
        );
        s.event(root, turn, json!({"type": "tool_call_started", "tool_call_id": id, "model_visible_call_id": id, "requester": {"type": "model"}, "kind": {"type": kind}, "invocation_payload": invocation}));
    };
    start(&mut s, "c_exec", "exec_command", "{\"cmd\":\"python3\"}");
    let begin = s.payload(
        "tool_runtime_event",
        json!({"command": ["python3"], "cwd": "/w", "process_id": 7}),
    );
    s.event(root, turn, json!({"type": "tool_call_runtime_started", "tool_call_id": "c_exec", "kind": {"type": "exec_command"}, "runtime_payload": begin}));
    s.event(
        root,
        turn,
        json!({"type": "tool_call_ended", "tool_call_id": "c_exec", "status": "completed"}),
    );
    // The write names no session: only Codex's resolution says where it goes.
    start(
        &mut s,
        "c_write",
        "write_stdin",
        "{\"chars\":\"print(1)\\n\"}",
    );
    s.event(root, turn, json!({"type": "stdin_target_resolved", "tool_call_id": "c_write", "exec_tool_call_id": "c_exec"}));
    s.event(
        root,
        turn,
        json!({"type": "tool_call_ended", "tool_call_id": "c_write", "status": "completed"}),
    );
    s.event(
        root,
        turn,
        json!({"type": "codex_turn_ended", "codex_turn_id": TURN, "status": "completed"}),
    );
    s.write(None);
    let (imported, state) = import_one(&src)?;
    assert!(
        imported.ledger.diagnostics.is_empty(),
        "{:?}",
        imported.ledger.diagnostics
    );
    let session = &state.terminals["7"];
    let ops: Vec<_> = session
        .operations
        .iter()
        .map(|id| state.terminal_operations[id].op.clone().unwrap_or_default())
        .collect();
    assert_eq!(ops, ["exec", "write"]);
    Ok(())
}

#[cfg(unix)]
#[test]
fn a_payload_file_linked_out_of_its_bundle_is_not_read() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let src = dir.path().join("codex");
    synth::web_search_rollout(&src, 2).write(None);
    let secret = dir.path().join("secret.json");
    std::fs::write(&secret, "{\"password\": \"hunter2\"}")?;
    // The thread's metadata is a link to a file outside the bundle.
    std::fs::remove_file(src.join("payloads/1.json"))?;
    std::os::unix::fs::symlink(&secret, src.join("payloads/1.json"))?;
    let (imported, state) = import_one(&src)?;
    let diags = &imported.ledger.diagnostics;
    assert!(
        diags
            .iter()
            .any(|d| d.contains("payloads/1.json") && d.contains("outside")),
        "{diags:#?}"
    );
    let trace = std::fs::read_to_string(imported.bundle.join("trace.jsonl"))?;
    assert!(!trace.contains("hunter2"));
    assert_eq!(state.threads.len(), 1);
    Ok(())
}
