//! Span identity and bundle routing: minted keys survive span-id reuse, threads find their
//! rollout, and the root span decides the bundle's status.

mod support;

use std::collections::HashSet;

use anyhow::{ensure, Result};
use pretty_assertions::assert_eq;
use serde_json::json;
use tracing::field::Empty;
use tracing::{info, info_span};
use tracing_rollout::format::{Record, RecordBody};
use tracing_rollout::RolloutLayer;

use support::layer::{manifest, normalized, record_into, trace_lines};

#[test]
fn span_keys_stay_distinct_when_tracing_reuses_span_ids() -> Result<()> {
    const SPANS: usize = 2_000;
    let root = tempfile::tempdir()?;
    let stats = record_into(root.path(), RolloutLayer::builder(), || {
        let _rollout = info_span!("rollout", rollout_id = "reuse").entered();
        let _thread = info_span!("rollout.thread", thread_id = "main").entered();
        let _turn = info_span!("rollout.turn", turn_id = "t").entered();
        for i in 0..SPANS {
            // Each span closes at once, so the registry reuses its slot for the next one.
            drop(info_span!("rollout.tool", call_id = i));
        }
    })?;

    let lines = trace_lines(&stats.bundles[0])?;
    let mut keys = HashSet::new();
    let mut turn_key = None;
    let mut tools = 0;
    for line in &lines {
        if let RecordBody::SpanStarted {
            span, parent, kind, ..
        } = Record::parse(line)?.body
        {
            ensure!(keys.insert(span), "span key {span} minted twice");
            match kind.as_str() {
                "turn" => turn_key = Some(span),
                "tool" => {
                    ensure!(
                        parent.is_some() && parent == turn_key,
                        "tool parent {parent:?}"
                    );
                    tools += 1;
                }
                _ => {}
            }
        }
    }
    assert_eq!(tools, SPANS);
    Ok(())
}

#[test]
fn a_thread_without_a_rollout_starts_its_own_bundle_and_children_join_by_parent_thread_id(
) -> Result<()> {
    let root = tempfile::tempdir()?;
    let stats = record_into(root.path(), RolloutLayer::builder(), || {
        let main = info_span!("rollout.thread", thread_id = "main", agent_path = "/root");
        let spawn = main.in_scope(|| info_span!("rollout.tool", tool = "spawn_agent"));
        // A child with no span parent: it finds its rollout through `parent_thread_id`.
        let child = info_span!(parent: None, "rollout.thread", thread_id = "kid", parent_thread_id = "main");
        child.follows_from(&spawn);
        child.in_scope(|| info!(name: "rollout.payload", role = "request", payload = "{}"));
        drop(child);
        // Resumed: the same thread id again, recorded again.
        let resumed = info_span!(parent: None, "rollout.thread", thread_id = "kid", parent_thread_id = "main");
        drop(resumed);
        drop(spawn);
        drop(main);
        // Unknown parent thread and no span parent: a rollout of its own.
        let _orphan = info_span!(parent: None, "rollout.thread", thread_id = "orphan", parent_thread_id = "gone").entered();
        // A turn outside any rollout is not recorded anywhere.
        let _stray = info_span!(parent: None, "rollout.turn", turn_id = "stray").entered();
    })?;
    let names: Vec<_> = stats
        .bundles
        .iter()
        .filter_map(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    assert_eq!(names, ["main", "orphan"]);

    let lines = trace_lines(&stats.bundles[0])?;
    let expected = vec![
        json!({"seq":1,"type":"bundle_started","format":"tracing-rollout","format_version":tracing_rollout::format::FORMAT_VERSION,"rollout_id":"main","writer":concat!("tracing-rollout ", env!("CARGO_PKG_VERSION"))}),
        json!({"seq":2,"type":"span_started","span":1,"thread":1,"kind":"thread","name":"rollout.thread","fields":{"thread_id":"main","agent_path":"/root"}}),
        json!({"seq":3,"type":"span_started","span":2,"parent":1,"thread":1,"kind":"tool","name":"rollout.tool","fields":{"tool":"spawn_agent"}}),
        json!({"seq":4,"type":"span_started","span":3,"thread":3,"kind":"thread","name":"rollout.thread","fields":{"thread_id":"kid","parent_thread_id":"main"}}),
        json!({"seq":5,"type":"link","span":3,"follows":2}),
        json!({"seq":6,"type":"payload","span":3,"role":"request","bytes":2,"body":{}}),
        json!({"seq":7,"type":"span_ended","span":3}),
        json!({"seq":8,"type":"span_started","span":4,"thread":4,"kind":"thread","name":"rollout.thread","fields":{"thread_id":"kid","parent_thread_id":"main"}}),
        json!({"seq":9,"type":"span_ended","span":4}),
        json!({"seq":10,"type":"span_ended","span":2}),
        json!({"seq":11,"type":"span_ended","span":1}),
        json!({"seq":12,"type":"bundle_ended","status":"completed","records":12,"dropped_records":0}),
    ];
    assert_eq!(normalized(&lines)?, expected);
    assert_eq!(trace_lines(&stats.bundles[1])?.len(), 4);
    Ok(())
}

#[test]
fn the_root_span_decides_the_bundle_status() -> Result<()> {
    let root = tempfile::tempdir()?;
    let stats = record_into(root.path(), RolloutLayer::builder(), || {
        let cancelled = info_span!("rollout", rollout_id = "cancelled", status = Empty);
        cancelled.record("status", "cancelled");
        drop(cancelled);
        let failed = info_span!("rollout", rollout_id = "failed", error = Empty);
        failed.record("error", "model unavailable");
        drop(failed);
        // A child's error does not fail the rollout.
        info_span!("rollout", rollout_id = "completed").in_scope(|| {
            let _tool = info_span!("rollout.tool", error = "tool broke").entered();
        });
        let panicked = std::panic::catch_unwind(|| {
            let _rollout = info_span!("rollout", rollout_id = "panicked").entered();
            panic!("agent crashed (expected by this test)");
        });
        assert!(panicked.is_err());
    })?;
    let mut statuses = Vec::new();
    for dir in &stats.bundles {
        statuses.push(manifest(dir)?.status);
    }
    assert_eq!(statuses, ["cancelled", "failed", "completed", "failed"]);
    let panicked = trace_lines(&stats.bundles[3])?;
    let ended = Record::parse(&panicked[2])?;
    assert!(
        matches!(
            ended.body,
            RecordBody::SpanEnded {
                panicking: true,
                ..
            }
        ),
        "{ended:?}"
    );
    Ok(())
}

#[test]
fn spans_and_events_outside_the_vocabulary_are_not_recorded() -> Result<()> {
    let root = tempfile::tempdir()?;
    let stats = record_into(root.path(), RolloutLayer::builder(), || {
        let _app = info_span!("app", rollout_id = "not-a-rollout").entered();
        info!(name: "rollout.payload", role = "request", payload = "outside any rollout");
        info_span!("rollout", rollout_id = "only").in_scope(|| {
            info!(name: "other.event", x = 1);
            info!(x = 2, "plain event");
            let _other = info_span!("rollouts", y = 3).entered();
        });
    })?;
    assert_eq!(stats.bundles.len(), 1);
    assert_eq!(trace_lines(&stats.bundles[0])?.len(), 4);
    Ok(())
}

#[test]
fn a_disabled_layer_from_env_records_nothing_and_finishes_empty() -> Result<()> {
    if std::env::var_os("ROLLOUT_TRACE_ROOT").is_some() {
        return Ok(()); // the environment enables it; nothing to check here
    }
    let (layer, guard) = RolloutLayer::from_env();
    assert!(!layer.is_enabled());
    let dispatch = tracing::Dispatch::new(tracing_subscriber::layer::SubscriberExt::with(
        tracing_subscriber::registry(),
        layer,
    ));
    tracing::dispatcher::with_default(&dispatch, || {
        let _rollout = info_span!("rollout", rollout_id = "x").entered();
    });
    assert_eq!(guard.finish()?, tracing_rollout::FinishStats::default());
    Ok(())
}
