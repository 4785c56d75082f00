//! The Chrome Trace Event export, checked structurally on real bundles (the demo fixture and
//! a rollout recorded through the layer with parallel tool calls): slices nest strictly on
//! every track, every flow event binds to a slice that exists, and each edge has one arrow.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{ensure, Context, Result};
use serde_json::Value;
use support::fixtures::demo;
use support::layer::record;
use support::spans::undelivered_spawn;
use tracing::info_span;
use tracing_rollout::export::chrome::{chrome_trace, export_chrome, export_chrome_file};
use tracing_rollout::reduce::reduce_bundle;

const EPS: f64 = 1e-6;

/// Complete events of each `(pid, tid)` track, as `(start, end, name)`.
type Tracks = BTreeMap<(u64, u64), Vec<(f64, f64, String)>>;

/// The complete events of `trace` by track.
fn slices(trace: &Value) -> Result<Tracks> {
    let mut tracks = Tracks::new();
    for e in trace["traceEvents"].as_array().context("traceEvents")? {
        if e["ph"] == "X" {
            let ts = e["ts"].as_f64().context("ts")?;
            let dur = e["dur"].as_f64().context("dur")?;
            ensure!(dur >= 0.0, "negative duration: {e}");
            tracks
                .entry((
                    e["pid"].as_u64().context("pid")?,
                    e["tid"].as_u64().context("tid")?,
                ))
                .or_default()
                .push((ts, ts + dur, e["name"].as_str().unwrap_or("").to_owned()));
        }
    }
    Ok(tracks)
}

/// Slices nest per track; every `s`/`f` pair shares an id and sits inside a slice of its
/// track; returns the number of flows.
fn check_structure(trace: &Value) -> Result<usize> {
    let tracks = slices(trace)?;
    for (track, list) in &tracks {
        let mut sorted = list.clone();
        sorted.sort_by(|a, b| a.0.total_cmp(&b.0).then(b.1.total_cmp(&a.1)));
        let mut stack: Vec<(f64, f64, String)> = Vec::new();
        for slice in sorted {
            while stack
                .last()
                .is_some_and(|top| top.1 <= slice.0 + EPS && top.1 < slice.1)
            {
                stack.pop();
            }
            if let Some(top) = stack.last() {
                ensure!(
                    slice.0 >= top.0 - EPS && slice.1 <= top.1 + EPS,
                    "on track {track:?}, {slice:?} overlaps {top:?} without nesting"
                );
            }
            stack.push(slice);
        }
    }
    let mut starts = BTreeSet::new();
    let mut finishes = BTreeSet::new();
    for e in trace["traceEvents"].as_array().context("traceEvents")? {
        let ph = e["ph"].as_str().unwrap_or("");
        if ph != "s" && ph != "f" {
            continue;
        }
        let id = e["id"].as_u64().context("flow id")?;
        let track = (
            e["pid"].as_u64().context("pid")?,
            e["tid"].as_u64().context("tid")?,
        );
        let ts = e["ts"].as_f64().context("ts")?;
        let binds = tracks
            .get(&track)
            .is_some_and(|list| list.iter().any(|s| s.0 - EPS <= ts && ts <= s.1 + EPS));
        ensure!(
            binds,
            "flow {ph} {id} at {ts} on {track:?} binds to no slice"
        );
        if ph == "f" {
            ensure!(
                e["bp"] == "e",
                "a flow end binds to its enclosing slice: {e}"
            );
            ensure!(finishes.insert(id), "flow {id} ends twice");
        } else {
            ensure!(starts.insert(id), "flow {id} starts twice");
        }
    }
    ensure!(
        starts == finishes,
        "unpaired flows: {starts:?} vs {finishes:?}"
    );
    Ok(starts.len())
}

fn thread_names(trace: &Value) -> Result<BTreeMap<u64, String>> {
    Ok(trace["traceEvents"]
        .as_array()
        .context("traceEvents")?
        .iter()
        .filter(|e| e["ph"] == "M" && e["name"] == "thread_name")
        .filter_map(|e| Some((e["tid"].as_u64()?, e["args"]["name"].as_str()?.to_owned())))
        .collect())
}

#[test]
fn the_demo_trace_nests_per_track_and_draws_one_bound_arrow_per_edge() -> Result<()> {
    let demo = demo();
    let out = tempfile::tempdir()?;
    let file = out.path().join("demo.trace.json");
    let slices_written = export_chrome_file(demo, &file)?;
    let trace: Value = serde_json::from_str(&std::fs::read_to_string(&file)?)?;
    assert_eq!(slices_written, 39);
    let flows = check_structure(&trace)?;
    let state = reduce_bundle(demo)?;
    assert_eq!(flows, state.edges.len(), "one arrow per edge");

    let names = thread_names(&trace)?;
    for agent in ["Lead /lead", "/lead/researcher", "/lead/fixer"] {
        assert!(
            names.values().any(|n| n == agent),
            "a track for {agent}: {names:?}"
        );
    }
    // Every slice of an agent is on one of its lanes: thread names share the agent's label.
    let tracks = slices(&trace)?;
    for (&(_, tid), list) in &tracks {
        let name = &names[&tid];
        for (_, _, slice) in list {
            if slice.contains("claude") {
                assert!(name.starts_with("/lead/"), "{slice} on {name}");
            }
        }
    }
    // Args carry ids, tokens and previews.
    let chat = trace["traceEvents"]
        .as_array()
        .context("events")?
        .iter()
        .find(|e| e["ph"] == "X" && e["args"]["id"] == "inference:16")
        .context("inference:16")?;
    assert_eq!(chat["args"]["input_tokens"], 900);
    assert_eq!(chat["args"]["response_id"], "resp_005");
    assert!(chat["args"]["output"][0]
        .as_str()
        .is_some_and(|s| s.starts_with("Delegating")));
    Ok(())
}

#[test]
fn parallel_tool_calls_get_their_own_lanes_and_still_nest() -> Result<()> {
    let pause = || std::thread::sleep(std::time::Duration::from_millis(3));
    let bundle = record(|| {
        let rollout = info_span!("rollout", rollout_id = "parallel");
        let thread = info_span!(parent: &rollout, "rollout.thread", thread_id = "main", agent_path = "/main");
        let turn = info_span!(parent: &thread, "rollout.turn", turn_id = "t1");
        // Three tools, each started before the previous one ended.
        let a = info_span!(parent: &turn, "rollout.tool", tool = "fetch", call_id = "c-a");
        pause();
        let b = info_span!(parent: &turn, "rollout.tool", tool = "fetch", call_id = "c-b");
        pause();
        let c = info_span!(parent: &turn, "rollout.tool", tool = "fetch", call_id = "c-c");
        pause();
        drop(a);
        pause();
        drop(b);
        pause();
        drop(c);
        drop(turn);
        drop(thread);
        drop(rollout);
    })?;
    let state = bundle.reduce()?;
    assert_eq!(state.tool_calls.len(), 3);
    let trace = export_chrome(&bundle.path)?;
    assert_eq!(trace, chrome_trace(&state));
    check_structure(&trace)?;
    let tracks = slices(&trace)?;
    let names = thread_names(&trace)?;
    let lanes: BTreeSet<&String> = tracks
        .iter()
        .filter(|(_, list)| list.iter().any(|s| s.2 == "tool fetch"))
        .map(|((_, tid), _)| &names[tid])
        .collect();
    assert_eq!(
        lanes.into_iter().cloned().collect::<Vec<_>>(),
        ["/main", "/main · lane 2", "/main · lane 3"].map(String::from),
        "three overlapping tools, three lanes of the agent"
    );
    Ok(())
}

#[test]
fn an_undelivered_edge_keeps_its_arrow_and_says_so() -> Result<()> {
    let bundle = record(undelivered_spawn)?;
    let trace = export_chrome(&bundle.path)?;
    assert_eq!(check_structure(&trace)?, 1);
    let start = trace["traceEvents"]
        .as_array()
        .context("events")?
        .iter()
        .find(|e| e["ph"] == "s")
        .context("the flow")?;
    assert_eq!(start["name"], "spawn (undelivered)");
    assert_eq!(start["args"]["delivered"], false);
    assert_eq!(start["args"]["message"], "Count the lines of main.rs.");
    Ok(())
}
