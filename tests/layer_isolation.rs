//! Many rollouts open at once in one process, all using the same thread ids (`main`,
//! `worker`, `helper`) and the same call ids, as a batch of RL rollouts of one agent does:
//! every child joins the rollout of the span that ties it to its parent, and every bundle
//! reduces to exactly its own threads, edges and items — on OS threads and on tokio tasks.
//! A bare `parent_thread_id` that is ambiguous is recorded as a rollout of its own and
//! reported, never guessed. Rendezvous are barriers, never sleeps.

mod support;

use std::collections::BTreeSet;
use std::sync::{Arc, Barrier};

use anyhow::{ensure, Context as _, Result};
use pretty_assertions::assert_eq;
use support::layer::dispatch;
use support::payloads::{infer, payload};
use support::responses::{msg, request, response};
use support::tasks::run_tasks;
use tracing::{info_span, Dispatch, Instrument as _, Span};
use tracing_rollout::reduce::{reduce_bundle, Anchor, EdgeKind, RolloutState, Status};
use tracing_rollout::{FinishStats, RolloutLayer};

const ROLLOUTS: usize = 8;

fn layer(root: &std::path::Path) -> Result<(Dispatch, tracing_rollout::RolloutGuard)> {
    dispatch(
        RolloutLayer::builder()
            .root_dir(root)
            .max_buffered_bytes(64 * 1024),
    )
}

fn task(i: usize) -> String {
    format!("Count the lines of file {i}.rs, rollout {i}.")
}

fn answer(i: usize) -> String {
    format!("{i}00 lines, rollout {i}.")
}

/// The spawning tool of rollout `i`: the same call id and target in every rollout.
fn spawn_tool(i: usize) -> Span {
    info_span!(
        "rollout.tool",
        tool = "spawn_agent",
        kind = "spawn_agent",
        call_id = "call_spawn",
        target_thread_id = "worker",
        message = task(i).as_str()
    )
}

/// The worker's work in rollout `i`: it reads its task, answers, reports its result.
fn worker_work(i: usize) {
    info_span!("rollout.turn", turn_id = "w1").in_scope(|| {
        infer(
            &request(&[msg("user", &task(i))]),
            Some(&response(
                &format!("rw{i}"),
                &[msg("assistant", &answer(i))],
                3,
                2,
            )),
        );
        tracing::info!(name: "rollout.agent_result", parent_thread_id = "main",
            message = answer(i).as_str());
    });
}

/// A helper thread whose span parent is `main` (and a bare `parent_thread_id`).
fn helper_span(main: &Span) -> Span {
    info_span!(parent: main, "rollout.thread", thread_id = "helper", parent_thread_id = "main")
}

fn helper_work(i: usize) {
    info_span!("rollout.turn", turn_id = "h1").in_scope(|| {
        infer(&request(&[msg("user", &format!("help rollout {i}"))]), None);
    });
}

/// The lead's first turn before the spawn, and a follow-up tool linked to its inference.
fn main_first_turn(i: usize) -> Span {
    let inference = info_span!("rollout.inference", model = "m", provider = "openai");
    inference.in_scope(|| {
        payload(
            "request",
            &request(&[msg("user", &format!("start rollout {i}"))]).to_string(),
        );
    });
    let checker = info_span!("rollout.tool", tool = "check", call_id = "call_check");
    checker.follows_from(&inference);
    checker.in_scope(|| payload("args", &format!("{{\"rollout\":{i}}}")));
    drop(checker);
    inference
}

/// The lead reads the worker's answer.
fn main_reads_answer(i: usize) {
    infer(
        &request(&[msg("user", &format!("Worker says: {}", answer(i)))]),
        None,
    );
}

/// Checks bundle `state` is rollout `i` and nothing else.
fn check_rollout(state: &RolloutState, i: usize) -> Result<()> {
    assert_eq!(state.rollout_id, format!("r{i}"));
    assert_eq!(
        state.status,
        Status::Completed,
        "rollout {i}: {:?}",
        state.diagnostics
    );
    ensure!(
        state.complete,
        "rollout {i} incomplete: {:?}",
        state.diagnostics
    );
    assert_eq!(state.diagnostics, vec![], "rollout {i}");
    let threads: Vec<&str> = state.threads.keys().map(String::as_str).collect();
    assert_eq!(threads, ["helper", "main", "worker"], "rollout {i}");
    assert_eq!(
        state.threads["worker"].parent_thread_id.as_deref(),
        Some("main")
    );
    assert_eq!(
        state.threads["helper"].parent_thread_id.as_deref(),
        Some("main")
    );
    assert_eq!(
        state.turns.len(),
        3,
        "rollout {i}: {:?}",
        state.turns.keys()
    );
    assert_eq!(state.tool_calls.len(), 2, "rollout {i}");
    assert_eq!(state.inference_calls.len(), 4, "rollout {i}");
    // Every item says which rollout it came from.
    for item in state.conversation_items.values() {
        ensure!(
            item.text.contains(&format!("rollout {i}")),
            "rollout {i} holds an item of another rollout: {:?}",
            item.text
        );
    }
    let kinds: Vec<EdgeKind> = state.edges.values().map(|e| e.kind).collect();
    let count = |k: EdgeKind| kinds.iter().filter(|&&x| x == k).count();
    assert_eq!(
        (
            count(EdgeKind::Spawn),
            count(EdgeKind::Result),
            count(EdgeKind::Link)
        ),
        (1, 1, 1),
        "rollout {i}: {kinds:?}"
    );
    for edge in state.edges.values() {
        ensure!(edge.delivered, "rollout {i}: {edge:?} not delivered");
        if let Anchor::ConversationItem(item) = &edge.to {
            let text = &state.conversation_items[item].text;
            match edge.kind {
                EdgeKind::Spawn => assert_eq!(text, &task(i)),
                EdgeKind::Result => assert_eq!(text, &format!("Worker says: {}", answer(i))),
                _ => {}
            }
        }
    }
    Ok(())
}

/// Every bundle below `root` reduces to exactly one of rollouts 0..n, each once.
fn check_all(stats: &FinishStats, n: usize) -> Result<()> {
    assert_eq!(stats.ambiguous_threads, 0);
    assert_eq!(stats.late_records, 0);
    assert_eq!(stats.dropped_records, 0);
    assert_eq!(stats.unlinked_follows, 0);
    assert_eq!(stats.bundles.len(), n, "{:?}", stats.bundles);
    let mut seen = BTreeSet::new();
    for dir in &stats.bundles {
        let state = reduce_bundle(dir).with_context(|| format!("reduce {}", dir.display()))?;
        let i: usize = state
            .rollout_id
            .strip_prefix('r')
            .and_then(|n| n.parse().ok())
            .with_context(|| format!("unexpected bundle {}", state.rollout_id))?;
        check_rollout(&state, i)?;
        ensure!(seen.insert(i), "rollout {i} twice");
    }
    Ok(())
}

/// Rollout `i` on this OS thread; its worker and helper on OS threads of their own. Every
/// child is created while all rollouts are open (`all_open`), and no rollout closes before
/// every child is done (`all_done`).
fn os_rollout(i: usize, dispatch: &Dispatch, all_open: &Barrier, all_done: &Barrier) {
    let rollout = info_span!("rollout", rollout_id = format!("r{i}").as_str());
    let _r = rollout.enter();
    let main = info_span!("rollout.thread", thread_id = "main");
    let _m = main.enter();
    all_open.wait();
    let turn = info_span!("rollout.turn", turn_id = "m1");
    let _t = turn.enter();
    drop(main_first_turn(i));
    let tool = spawn_tool(i);
    let worker = tool
        .in_scope(|| tracing_rollout::child_thread_span("worker", "main", "/main/worker", &tool));
    let helper = helper_span(&main);
    std::thread::scope(|s| {
        let d = dispatch.clone();
        // The spans are dropped inside `with_default`: the registry closes a parent whose
        // last child closes through the thread's default dispatcher.
        s.spawn(move || {
            tracing::dispatcher::with_default(&d, move || worker.in_scope(|| worker_work(i)))
        });
        let d = dispatch.clone();
        s.spawn(move || {
            tracing::dispatcher::with_default(&d, move || helper.in_scope(|| helper_work(i)))
        });
    });
    drop(tool);
    main_reads_answer(i);
    all_done.wait();
}

#[test]
fn eight_rollouts_on_os_threads_with_the_same_thread_ids_stay_apart() -> Result<()> {
    let root = tempfile::tempdir()?;
    let (dispatch, guard) = layer(root.path())?;
    let all_open = Barrier::new(ROLLOUTS);
    let all_done = Barrier::new(ROLLOUTS);
    std::thread::scope(|s| {
        for i in 0..ROLLOUTS {
            let (dispatch, all_open, all_done) = (&dispatch, &all_open, &all_done);
            s.spawn(move || {
                tracing::dispatcher::with_default(dispatch, || {
                    os_rollout(i, dispatch, all_open, all_done);
                });
            });
        }
    });
    check_all(&guard.finish()?, ROLLOUTS)
}

/// Rollout `i` as a tokio task; its worker and helper as tokio tasks of their own. Every
/// child is created while all rollouts are open, and none closes before all are done.
async fn task_rollout(i: usize, dispatch: Dispatch, barrier: Arc<tokio::sync::Barrier>) {
    use tracing::instrument::WithSubscriber as _;
    let d = dispatch.clone();
    async move {
        let rollout = info_span!("rollout", rollout_id = format!("r{i}").as_str());
        let main = info_span!(parent: &rollout, "rollout.thread", thread_id = "main");
        let body = {
            let main = main.clone();
            async move {
                barrier.wait().await;
                let turn = info_span!("rollout.turn", turn_id = "m1");
                let (worker, helper, tool) = turn.in_scope(|| {
                    drop(main_first_turn(i));
                    let tool = spawn_tool(i);
                    let worker = tool.in_scope(|| {
                        tracing_rollout::child_thread_span("worker", "main", "/main/worker", &tool)
                    });
                    (worker, helper_span(&main), tool)
                });
                // Each child yields once inside its span, then works; its span is dropped
                // inside the task's dispatcher (see `os_rollout`).
                let child = |span: Span, work: fn(usize)| {
                    async move {
                        tokio::task::yield_now().instrument(span.clone()).await;
                        span.in_scope(|| work(i));
                        drop(span);
                    }
                    .with_subscriber(d.clone())
                };
                let w = tokio::spawn(child(worker, worker_work));
                let h = tokio::spawn(child(helper, helper_work));
                let (w, h) = tokio::join!(w, h);
                assert!(w.is_ok() && h.is_ok(), "a child task panicked");
                drop(tool);
                turn.in_scope(|| main_reads_answer(i));
                barrier.wait().await;
            }
        };
        body.instrument(main).instrument(rollout).await;
    }
    .with_subscriber(dispatch)
    .await;
}

#[test]
fn eight_rollouts_on_tokio_tasks_with_the_same_thread_ids_stay_apart() -> Result<()> {
    let root = tempfile::tempdir()?;
    let (dispatch, guard) = layer(root.path())?;
    let all_open = Arc::new(tokio::sync::Barrier::new(ROLLOUTS));
    run_tasks(/*workers*/ 4, ROLLOUTS, |i| {
        task_rollout(i, dispatch.clone(), Arc::clone(&all_open))
    })?;
    check_all(&guard.finish()?, ROLLOUTS)
}

/// A bare `parent_thread_id` naming a thread live in two rollouts, with no span tying the
/// child to either, is recorded as a rollout of its own and counted — in neither of the two.
#[test]
fn an_ambiguous_bare_parent_thread_id_becomes_its_own_rollout_and_is_reported() -> Result<()> {
    let root = tempfile::tempdir()?;
    let (dispatch, guard) = layer(root.path())?;
    let all_open = Barrier::new(2);
    let orphan_done = Barrier::new(2);
    std::thread::scope(|s| {
        for i in 0..2 {
            let (dispatch, all_open, orphan_done) = (&dispatch, &all_open, &orphan_done);
            s.spawn(move || {
                tracing::dispatcher::with_default(dispatch, || {
                    let _r = info_span!("rollout", rollout_id = format!("r{i}").as_str()).entered();
                    let _m = info_span!("rollout.thread", thread_id = "main").entered();
                    all_open.wait();
                    if i == 0 {
                        let orphan = info_span!(parent: None, "rollout.thread",
                            thread_id = "stray", parent_thread_id = "main");
                        orphan.in_scope(|| infer(&request(&[msg("user", "who am I?")]), None));
                    }
                    orphan_done.wait();
                });
            });
        }
    });
    let stats = guard.finish()?;
    assert_eq!(stats.ambiguous_threads, 1);
    ensure!(
        stats
            .warnings
            .iter()
            .any(|w| w.contains("\"stray\"") && w.contains("live in 2 rollouts")),
        "{:?}",
        stats.warnings
    );
    let mut ids: Vec<(String, Vec<String>)> = Vec::new();
    for dir in &stats.bundles {
        let state = reduce_bundle(dir)?;
        ids.push((state.rollout_id, state.threads.keys().cloned().collect()));
    }
    ids.sort();
    assert_eq!(
        ids,
        vec![
            ("r0".to_owned(), vec!["main".to_owned()]),
            ("r1".to_owned(), vec!["main".to_owned()]),
            ("stray".to_owned(), vec!["stray".to_owned()]),
        ]
    );
    Ok(())
}

/// With one rollout live, a bare `parent_thread_id` still joins it (the documented routing
/// of an untied child), and a stray record after its root closed is counted as late.
#[test]
fn a_bare_parent_thread_id_joins_the_only_rollout_where_it_is_live() -> Result<()> {
    let root = tempfile::tempdir()?;
    let (dispatch, guard) = layer(root.path())?;
    let late = tracing::dispatcher::with_default(&dispatch, || {
        let rollout = info_span!("rollout", rollout_id = "r0");
        let main = info_span!(parent: &rollout, "rollout.thread", thread_id = "main");
        let child = main.in_scope(|| {
            info_span!(parent: None, "rollout.thread", thread_id = "kid", parent_thread_id = "main")
        });
        child.in_scope(|| infer(&request(&[msg("user", "hi")]), None));
        drop(main);
        drop(rollout);
        // The root is gone; the child outlives it.
        child.in_scope(|| infer(&request(&[msg("user", "late")]), None));
        child
    });
    drop(late);
    let stats = guard.finish()?;
    assert_eq!(stats.bundles.len(), 1);
    let state = reduce_bundle(&stats.bundles[0])?;
    let threads: Vec<&str> = state.threads.keys().map(String::as_str).collect();
    assert_eq!(threads, ["kid", "main"]);
    ensure!(stats.late_records > 0, "{stats:?}");
    ensure!(
        stats
            .warnings
            .iter()
            .any(|w| w.contains("root span had already closed")),
        "{:?}",
        stats.warnings
    );
    Ok(())
}
