//! `diff` on pairs of rollouts recorded through the real layer that differ in one known way
//! (a tool result, an inserted retry, a sub-agent, the model, a failing tool) or not at all,
//! each asserted on the JSON report; and the `diff` command's output and exit codes, on
//! bundles of ours and on Codex bundles of the corpus (`shared/codex-traces`).

mod support;

use anyhow::Context;
use pretty_assertions::assert_eq;
use serde_json::{json, Value};
use support::layer::record;
use support::runs::diff_runs;
use support::scripted::Script;
use tracing_rollout::diff::{diff, DiffOptions};

/// Each aligned step's op, in order.
fn ops(thread: &Value) -> Vec<&str> {
    thread["steps"]
        .as_array()
        .map(|s| s.iter().filter_map(|s| s["op"].as_str()).collect())
        .unwrap_or_default()
}

/// The differing request items without their ids and texts (ids differ per run).
fn causes(divergence: &Value) -> Vec<Value> {
    divergence["differing_request_items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|c| {
                    let side = |s: &Value| {
                        if s.is_null() {
                            return Value::Null;
                        }
                        json!({"index": s["index"], "kind": s["kind"], "origin": s["origin"]
                            .as_object()
                            .map(|o| json!({"type": o["type"], "tool": o.get("tool"), "steps_before": o.get("steps_before")}))})
                    };
                    json!({"location": c["location"], "change": c["change"], "a": side(&c["a"]), "b": side(&c["b"])})
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn identical_runs_have_no_divergence_and_no_deltas() -> anyhow::Result<()> {
    let (report, _a, _b) = diff_runs(&Script::new("run-a"), &Script::new("run-b"))?;
    assert_eq!(report["first_divergence"], Value::Null);
    assert_eq!(report["threads"].as_array().map(Vec::len), Some(1));
    let root = &report["threads"][0];
    assert_eq!(
        (&root["agent_path"], &root["nickname"]),
        (&json!("/root"), &json!("fixer"))
    );
    assert_eq!(root["matched_by"], "root");
    assert_eq!(ops(root), vec!["same"; 5]);
    assert_eq!(root["divergences"], json!([]));
    let delta = &report["totals"]["delta"];
    for count in [
        "threads",
        "turns",
        "inference_calls",
        "tool_calls",
        "failed_tool_calls",
        "input_tokens",
        "cached_input_tokens",
        "output_tokens",
        "reasoning_tokens",
        "undelivered_edges",
    ] {
        assert_eq!(delta[count], 0, "{count}: {delta}");
    }
    assert_eq!(report["totals"]["a"]["inference_calls"], 5);
    Ok(())
}

#[test]
fn a_changed_tool_result_makes_the_next_response_diverge_and_is_named_as_the_cause(
) -> anyhow::Result<()> {
    let mut green = Script::new("run-b");
    green.ci_log = "test result: ok. 12 passed".to_owned();
    let (report, _a, _b) = diff_runs(&Script::new("run-a"), &green)?;
    let root = &report["threads"][0];
    // B answers at once: A's grep, edit and test steps have no counterpart, and the final
    // answers (both text) pair up as changed.
    assert_eq!(
        ops(root),
        vec!["same", "only_a", "only_a", "only_a", "changed"]
    );
    // The read_file call itself did the same; what it returned differs.
    let change = &root["steps"][0]["tool_changes"][0];
    assert_eq!(
        (
            &change["tool"],
            &change["a_status"],
            &change["b_status"],
            &change["result"]
        ),
        (
            &json!("read_file"),
            &json!("completed"),
            &json!("completed"),
            &json!("changed")
        )
    );
    let first = &report["first_divergence"];
    assert_eq!(first["agent_path"], "/root");
    assert_eq!(
        (&first["step"], &first["steps"], &first["kind"]),
        (&json!(1), &json!(4), &json!("only_a"))
    );
    assert!(
        first["a"]["summary"]
            .as_str()
            .unwrap_or_default()
            .starts_with("grep"),
        "{first}"
    );
    assert_eq!(first["b"], Value::Null);
    // Compared with the request B's model answered instead.
    assert_eq!(
        first["compared_requests"]["b"],
        root["steps"][4]["b"]["inference_call_id"]
    );
    // The cause: the tool result one step earlier, at item 3 of both requests (system,
    // user, the call, its output).
    let origin = json!({"type": "tool_result", "tool": "read_file", "steps_before": 1});
    let side = json!({"index": 3, "kind": "function_call_output", "origin": origin});
    assert_eq!(
        causes(first),
        vec![json!({"location": "item", "change": "changed", "a": side, "b": side})]
    );
    assert!(first["differing_request_items"][0]["b"]["text"]
        .as_str()
        .unwrap_or_default()
        .contains("12 passed"));
    assert_eq!(first["differing_request_items_total"], 1);
    assert_eq!(report["totals"]["delta"]["inference_calls"], -3);
    Ok(())
}

#[test]
fn an_inserted_retry_is_one_step_only_in_b_and_the_steps_after_it_stay_aligned(
) -> anyhow::Result<()> {
    let mut retried = Script::new("run-b");
    retried.retry_call = Some(2);
    let (report, _a, _b) = diff_runs(&Script::new("run-a"), &retried)?;
    let root = &report["threads"][0];
    assert_eq!(
        ops(root),
        vec!["same", "same", "only_b", "same", "same", "same"]
    );
    let first = &report["first_divergence"];
    assert_eq!(
        (&first["step"], &first["kind"]),
        (&json!(2), &json!("only_b"))
    );
    assert_eq!(first["a"], Value::Null);
    assert_eq!(first["b"]["status"], "failed");
    assert!(first["b"]["summary"]
        .as_str()
        .unwrap_or_default()
        .contains("overloaded_error"));
    // Compared with the step A made there: the same request, so no item differs.
    assert_eq!(
        first["compared_requests"]["a"],
        root["steps"][3]["a"]["inference_call_id"]
    );
    assert_eq!(first["differing_request_items"], json!([]));
    let delta = &report["totals"]["delta"];
    assert_eq!(
        (&delta["inference_calls"], &delta["failed_inference_calls"]),
        (&json!(1), &json!(1))
    );
    Ok(())
}

#[test]
fn a_sub_agent_only_in_b_is_a_thread_of_b_under_the_step_that_spawned_it() -> anyhow::Result<()> {
    let mut reviewed = Script::new("run-b");
    reviewed.spawn_reviewer = true;
    let (report, _a, _b) = diff_runs(&Script::new("run-a"), &reviewed)?;
    let threads = report["threads"].as_array().context("threads")?;
    assert_eq!(threads.len(), 2);
    let root = &threads[0];
    assert_eq!(ops(root), vec!["same", "same", "changed", "same", "same"]);
    assert_eq!(root["steps"][2]["kind"], "tool");
    let child = &threads[1];
    assert_eq!(
        (
            &child["agent_path"],
            &child["a_thread_id"],
            &child["b_thread_id"],
            &child["matched_by"]
        ),
        (
            &json!("/root/reviewer"),
            &Value::Null,
            &json!("reviewer"),
            &Value::Null
        )
    );
    assert_eq!(
        (&child["parent"], &child["spawned_at_step"]),
        (&json!(0), &json!(2))
    );
    assert_eq!(ops(child), vec!["only_b", "only_b"]);
    // The parent's edit step comes first in time: it is the first divergence.
    let first = &report["first_divergence"];
    assert_eq!(
        (&first["agent_path"], &first["step"], &first["kind"]),
        (&json!("/root"), &json!(2), &json!("tool"))
    );
    assert_eq!(report["totals"]["delta"]["threads"], 1);
    Ok(())
}

#[test]
fn a_different_model_is_the_cause_of_the_step_it_changes() -> anyhow::Result<()> {
    let mut small = Script::new("run-b");
    small.model = "small-model".to_owned();
    let (report, _a, _b) = diff_runs(&Script::new("run-a"), &small)?;
    let root = &report["threads"][0];
    assert_eq!(ops(root), vec!["same", "same", "changed", "same", "same"]);
    let first = &report["first_divergence"];
    assert_eq!(
        (&first["step"], &first["kind"]),
        (&json!(2), &json!("arguments"))
    );
    assert_eq!(
        first["differing_request_items"],
        json!([{"location": "model", "change": "changed", "a": {"text": "big-model"}, "b": {"text": "small-model"}}])
    );
    Ok(())
}

#[test]
fn a_tool_that_fails_only_in_b_is_a_status_change_and_the_cause_of_the_next_step(
) -> anyhow::Result<()> {
    let mut failing = Script::new("run-b");
    failing.failing_tool = Some("run_tests");
    let (report, _a, _b) = diff_runs(&Script::new("run-a"), &failing)?;
    let root = &report["threads"][0];
    assert_eq!(ops(root), vec!["same", "same", "same", "same", "changed"]);
    let change = &root["steps"][3]["tool_changes"][0];
    assert_eq!(
        (
            &change["tool"],
            &change["a_status"],
            &change["b_status"],
            &change["result"]
        ),
        (
            &json!("run_tests"),
            &json!("completed"),
            &json!("failed"),
            &json!("changed")
        )
    );
    assert_eq!(root["counts"]["tool_changes"], 1);
    let first = &report["first_divergence"];
    assert_eq!(
        (&first["step"], &first["kind"]),
        (&json!(4), &json!("text"))
    );
    let origin = json!({"type": "tool_result", "tool": "run_tests", "steps_before": 1});
    let side = json!({"index": 9, "kind": "function_call_output", "origin": origin});
    assert_eq!(
        causes(first),
        vec![json!({"location": "item", "change": "changed", "a": side, "b": side})]
    );
    assert_eq!(report["totals"]["delta"]["failed_tool_calls"], 1);
    Ok(())
}

#[test]
fn the_report_round_trips_through_its_json() -> anyhow::Result<()> {
    let mut green = Script::new("run-b");
    green.ci_log = "ok".to_owned();
    let a = record(|| Script::new("run-a").run())?.reduce()?;
    let b = record(|| green.run())?.reduce()?;
    let report = diff(&a, &b, &DiffOptions::default());
    let back: tracing_rollout::diff::Diff = serde_json::from_str(&serde_json::to_string(&report)?)?;
    assert_eq!(back, report);
    assert_eq!(
        serde_json::to_value(&report)?["format"],
        "tracing-rollout/diff"
    );
    Ok(())
}

#[cfg(feature = "cli")]
#[test]
fn the_diff_command_exits_1_on_a_divergence_and_0_without_and_prints_json_on_request(
) -> anyhow::Result<()> {
    let mut green = Script::new("run-b");
    green.ci_log = "test result: ok".to_owned();
    let a = record(|| Script::new("run-a").run())?;
    let b = record(|| green.run())?;
    let text = support::cli::cli()
        .arg("diff")
        .arg(&a.path)
        .arg(&b.path)
        .output()?;
    assert_eq!(
        text.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&text.stderr)
    );
    let text = String::from_utf8(text.stdout)?;
    assert!(
        text.contains("first divergence: /root, step 1 (only_a)"),
        "{text}"
    );
    assert!(
        text.contains("result of tool read_file, 1 step earlier"),
        "{text}"
    );
    let json = support::cli::cli()
        .arg("diff")
        .arg(&a.path)
        .arg(&b.path)
        .arg("--json")
        .output()?;
    assert_eq!(json.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&json.stdout)?;
    assert_eq!(report["first_divergence"]["step"], 1);
    let same = support::cli::cli()
        .arg("diff")
        .arg(&a.path)
        .arg(&a.path)
        .output()?;
    assert_eq!(same.status.code(), Some(0));
    assert!(String::from_utf8(same.stdout)?.contains("no divergence"));
    let missing = support::cli::cli()
        .arg("diff")
        .arg(&a.path)
        .arg(a.path.join("nope"))
        .output()?;
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8(missing.stderr)?.contains("error: reduce"));
    Ok(())
}

#[test]
fn with_prices_both_runs_are_costed_and_a_run_with_an_unpriced_model_has_no_total(
) -> anyhow::Result<()> {
    let prices = tracing_rollout::cost::Prices::from_json(
        r#"{"currency": "USD", "models": {
            "big-model": {"input": 2.0, "cached_input": 0.5, "output": 8.0, "reasoning": 8.0},
            "small-model": {"input": 0.2, "cached_input": 0.05, "output": 0.8, "reasoning": 0.8}}}"#,
    )?;
    let mut small = Script::new("run-b");
    small.model = "small-model".to_owned();
    let a = record(|| Script::new("run-a").run())?.reduce()?;
    let b = record(|| small.run())?.reduce()?;
    let options = DiffOptions::default().prices(prices.clone());
    let report = serde_json::to_value(diff(&a, &b, &options))?;
    let totals = &report["totals"];
    assert_eq!(totals["currency"], "USD");
    let (cost_a, cost_b) = (
        prices.rollout_cost(&a).complete_total(),
        prices.rollout_cost(&b).complete_total(),
    );
    assert!(cost_a.is_some_and(|c| c > 0.0) && cost_b.is_some_and(|c| c > 0.0));
    assert_eq!(totals["a"]["cost"].as_f64(), cost_a);
    assert_eq!(totals["b"]["cost"].as_f64(), cost_b);
    assert_eq!(
        totals["delta"]["cost"].as_f64(),
        cost_a.zip(cost_b).map(|(x, y)| y - x)
    );
    // A model the prices lack: its calls are counted as unpriced, and there is no total.
    let mut unknown = Script::new("run-c");
    unknown.model = "mystery-model".to_owned();
    let c = record(|| unknown.run())?.reduce()?;
    let report = diff(&a, &c, &options);
    assert_eq!(report.totals.b.cost, None);
    let priced = report.totals.b.priced.clone().context("priced totals")?;
    assert_eq!((priced.priced_calls, priced.unpriced_calls), (0, 5));
    assert_eq!(priced.unpriced_models, vec!["mystery-model".to_owned()]);
    assert_eq!(report.totals.delta.cost, None);
    let text = tracing_rollout::diff::render_text(&report);
    assert!(
        text.contains("cost (USD)") && text.contains("unpriced calls"),
        "{text}"
    );
    // Without prices there is no cost at all.
    let plain = serde_json::to_value(diff(&a, &b, &DiffOptions::default()))?;
    assert_eq!(plain["totals"]["a"].get("cost"), None);
    Ok(())
}

#[cfg(feature = "cli")]
#[test]
fn the_diff_command_takes_two_codex_bundles_through_the_import_cache() -> anyhow::Result<()> {
    let corpus = match support::codex::corpus_dir() {
        Ok(dir) => dir,
        Err(why) => return support::skip::skipped("diff of two Codex bundles", &why),
    };
    let bundle = |entry: &str| -> anyhow::Result<std::path::PathBuf> {
        tracing_rollout::import::codex::find_bundles(&corpus.join(entry))
            .into_iter()
            .next()
            .with_context(|| format!("no Codex bundle in {entry}"))
    };
    let (a, b) = (bundle("single_tool")?, bundle("tool_errors")?);
    let before = support::files::all_bytes(&a)?;
    let cache = tempfile::tempdir()?;
    let diff_cli = |x: &std::path::Path, y: &std::path::Path| {
        let mut command = support::cli::cli();
        command.env("TRACING_ROLLOUT_CACHE", cache.path());
        command.arg("diff").arg(x).arg(y);
        command
    };
    let out = diff_cli(&a, &b).arg("--json").output()?;
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout)?;
    let first = &report["first_divergence"];
    // B's first response runs a command A never ran, after another prompt.
    assert_eq!(
        (&first["agent_path"], &first["step"], &first["kind"]),
        (&json!("/root"), &json!(0), &json!("only_b"))
    );
    assert!(
        first["b"]["summary"]
            .as_str()
            .is_some_and(|s| s.starts_with("exec_command")),
        "{first}"
    );
    let prompts: Vec<_> = first["differing_request_items"]
        .as_array()
        .context("differing items")?
        .iter()
        .filter(|d| d["a"]["role"] == "user" && d["a"]["origin"]["type"] == "input")
        .map(|d| (d["a"]["text"].clone(), d["b"]["text"].clone()))
        .collect();
    assert!(
        prompts.contains(&(json!("Look at the files."), json!("Try these tools."))),
        "{prompts:?}"
    );
    assert_eq!(
        (
            &report["totals"]["a"]["tool_calls"],
            &report["totals"]["b"]["tool_calls"]
        ),
        (&json!(2), &json!(7))
    );
    // The compare page of the same two.
    let page = cache.path().join("compare.html");
    let mut view = support::cli::cli();
    view.env("TRACING_ROLLOUT_CACHE", cache.path());
    let out = view
        .arg("view")
        .arg(&a)
        .arg("--compare")
        .arg(&b)
        .arg("-o")
        .arg(&page)
        .output()?;
    support::cli::succeeded(&out)?;
    assert!(std::fs::read_to_string(&page)?.contains("Try these tools."));
    // The 60-step session against itself agrees step by step.
    let long = bundle("long_session")?;
    let same = diff_cli(&long, &long).output()?;
    assert_eq!(same.status.code(), Some(0));
    assert!(String::from_utf8(same.stdout)?.contains("no divergence"));
    // Multi-agent v1 gives the child its parent's path; its nickname tells it apart.
    let out = diff_cli(&bundle("multi_agent")?, &bundle("agents_v2")?)
        .arg("--json")
        .output()?;
    let report: Value = serde_json::from_slice(&out.stdout)?;
    let only_a: Vec<_> = report["threads"]
        .as_array()
        .context("threads")?
        .iter()
        .filter(|t| t["b_thread_id"].is_null())
        .map(|t| (t["agent_path"].clone(), t["nickname"].clone()))
        .collect();
    assert_eq!(only_a, vec![(json!("/root"), json!("Wegener"))]);
    // Codex's directories are read, never written.
    assert_eq!(support::files::all_bytes(&a)?, before);
    Ok(())
}
