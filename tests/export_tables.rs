//! `tracing-rollout export tables` as a user runs it: a few hundred rollouts written through
//! the layer (solo agents, failing tools, delegated sub-agents whose task arrives or not,
//! inferences cut off, resumed sessions, lossy bundles), exported by the real binary as
//! Parquet and as JSONL, and queried with DuckDB from the virtual environment `.ci/run`
//! installs under `target/duckdb-venv` (or `$DUCKDB_VENV`); and a Codex rollout-trace bundle
//! beside bundles of ours, exported through its import and again once Codex wrote more.
//!
//! Without the venv the DuckDB checks print `SKIPPED` and pass — except under CI (`CI` set),
//! where a missing DuckDB fails them.
#![cfg(feature = "cli")]

mod support;

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{ensure, Context, Result};
use pretty_assertions::assert_eq;
use serde_json::{json, Value};
use support::cli::{cli, succeeded};
use support::fleet;
use support::skip::skipped;

/// Rollouts in the fleet.
const ROLLOUTS: usize = 300;

const PRICES: &str = r#"{
  "source": "test rates", "as_of": "2025-10",
  "models": {
    "gpt-5": {"input": 1.0, "cached_input": 0.1, "output": 10.0, "reasoning": 10.0},
    "gpt-5-mini": {"input": 0.5, "cached_input": 0.05, "output": 2.0, "reasoning": 2.0}
  }
}"#;

/// Runs SQL over the tables in a directory; prints `{name: rows}` as JSON.
const DUCKDB: &str = r#"
import duckdb, json, os, sys
d, fmt = sys.argv[1], sys.argv[2]
queries = json.load(sys.stdin)
con = duckdb.connect()
reader = "read_parquet" if fmt == "parquet" else "read_json_auto"
for f in sorted(os.listdir(d)):
    path = os.path.join(d, f)
    if f.endswith("." + fmt) and os.path.getsize(path) > 0:
        con.execute(f"CREATE VIEW {f[:-len(fmt) - 1]} AS SELECT * FROM {reader}('{path}')")
def cell(v):
    return v if v is None or isinstance(v, (bool, int, float, str)) else str(v)
out = {name: [[cell(v) for v in row] for row in con.execute(sql).fetchall()] for name, sql in queries.items()}
json.dump(out, sys.stdout)
"#;

fn venv() -> PathBuf {
    std::env::var_os("DUCKDB_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/duckdb-venv"))
}

/// The queries a user would write, by name.
fn queries() -> BTreeMap<&'static str, &'static str> {
    BTreeMap::from([
        // Totals per rollout, from the rollouts table and from the entity tables.
        ("rollouts", "SELECT rollout_id, threads, turns, inference_calls, tool_calls, code_cells,
            terminal_operations, compactions, input_tokens, cached_input_tokens, output_tokens,
            reasoning_tokens, edges, diagnostics FROM rollouts ORDER BY rollout_id"),
        ("counted", "SELECT r.rollout_id,
            (SELECT count(*) FROM threads t WHERE t.rollout_id = r.rollout_id),
            (SELECT count(*) FROM turns t WHERE t.rollout_id = r.rollout_id),
            (SELECT count(*) FROM inference_calls c WHERE c.rollout_id = r.rollout_id),
            (SELECT count(*) FROM tool_calls c WHERE c.rollout_id = r.rollout_id),
            0, 0, 0,
            (SELECT coalesce(sum(input_tokens), 0)::BIGINT FROM inference_calls c WHERE c.rollout_id = r.rollout_id),
            (SELECT coalesce(sum(cached_input_tokens), 0)::BIGINT FROM inference_calls c WHERE c.rollout_id = r.rollout_id),
            (SELECT coalesce(sum(output_tokens), 0)::BIGINT FROM inference_calls c WHERE c.rollout_id = r.rollout_id),
            (SELECT coalesce(sum(reasoning_tokens), 0)::BIGINT FROM inference_calls c WHERE c.rollout_id = r.rollout_id),
            (SELECT count(*) FROM edges e WHERE e.rollout_id = r.rollout_id),
            (SELECT count(*) FROM diagnostics d WHERE d.rollout_id = r.rollout_id)
            FROM rollouts r ORDER BY r.rollout_id"),
        // tool call → the inference that asked for it → its turn → its thread → its rollout.
        ("joined", "SELECT count(*) AS calls, count(r.rollout_id) AS reached
            FROM tool_calls tc
            LEFT JOIN inference_calls ic ON ic.rollout_id = tc.rollout_id AND ic.inference_call_id = tc.requester_inference_call_id
            LEFT JOIN turns tu ON tu.rollout_id = ic.rollout_id AND tu.turn_id = ic.turn_id
            LEFT JOIN threads th ON th.rollout_id = tu.rollout_id AND th.thread_id = tu.thread_id
            LEFT JOIN rollouts r ON r.rollout_id = th.rollout_id
            WHERE tc.rollout_id NOT LIKE 'lossy-%'"),
        ("failure_rate", "SELECT tool, count(*) AS calls, sum((status = 'failed')::INT)::BIGINT AS failed,
            round(avg((status = 'failed')::INT), 4) AS rate
            FROM tool_calls WHERE rollout_id NOT LIKE 'lossy-%' GROUP BY tool ORDER BY tool"),
        ("tokens_per_agent", "SELECT th.agent_path, sum(ic.input_tokens)::BIGINT, sum(ic.cached_input_tokens)::BIGINT,
            sum(ic.output_tokens)::BIGINT, sum(ic.reasoning_tokens)::BIGINT
            FROM inference_calls ic JOIN threads th ON th.rollout_id = ic.rollout_id AND th.thread_id = ic.thread_id
            WHERE ic.rollout_id NOT LIKE 'lossy-%' GROUP BY th.agent_path ORDER BY th.agent_path"),
        ("undelivered", "SELECT e.kind, th.agent_path, count(*) FROM edges e
            JOIN threads th ON th.rollout_id = e.rollout_id AND th.thread_id = e.to_thread_id
            WHERE NOT e.delivered AND e.rollout_id NOT LIKE 'lossy-%' GROUP BY ALL ORDER BY ALL"),
        ("undelivered_rollouts", "SELECT count(*) FROM rollouts WHERE undelivered_edges > 0 AND rollout_id NOT LIKE 'lossy-%'"),
        ("cost_per_model", "SELECT model, round(sum(cost), 6), count(cost), count(*) - count(cost)
            FROM inference_calls WHERE rollout_id NOT LIKE 'lossy-%' GROUP BY model ORDER BY model"),
        ("unpriced", "SELECT unpriced, count(*) FROM inference_calls
            WHERE rollout_id NOT LIKE 'lossy-%' GROUP BY ALL ORDER BY ALL"),
        ("rollout_cost", "SELECT round(sum(cost), 6), sum(priced_calls)::BIGINT, sum(unpriced_calls)::BIGINT
            FROM rollouts WHERE rollout_id NOT LIKE 'lossy-%'"),
        ("sessions", "SELECT count(*) FROM (SELECT root_thread_id FROM rollouts WHERE root_thread_id IS NOT NULL GROUP BY 1 HAVING count(*) > 1)"),
        ("lossy", "SELECT count(*), sum((NOT complete)::INT)::BIGINT FROM rollouts WHERE rollout_id LIKE 'lossy-%'"),
    ])
}

/// Runs the queries over the tables in `dir` (format `fmt`) with DuckDB.
fn duckdb(python: &Path, dir: &Path, fmt: &str) -> Result<BTreeMap<String, Value>> {
    let mut child = Command::new(python)
        .args(["-c", DUCKDB])
        .arg(dir)
        .arg(fmt)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("start {}", python.display()))?;
    child
        .stdin
        .take()
        .context("stdin")?
        .write_all(serde_json::to_string(&queries())?.as_bytes())?;
    let out = child.wait_with_output()?;
    ensure!(
        out.status.success(),
        "duckdb over {fmt}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(serde_json::from_slice(&out.stdout)?)
}

/// What `summary` says of every bundle under `root`, as the `rollouts` query's rows.
fn summaries(root: &Path) -> Result<Value> {
    let mut rows = Vec::new();
    for entry in std::fs::read_dir(root)? {
        let dir = entry?.path();
        let out = cli().arg("summary").arg(&dir).output()?;
        succeeded(&out)?;
        let text = String::from_utf8(out.stdout)?;
        let mut lines = text.lines();
        let head = lines.next().context("summary line 1")?;
        let id = head.split_whitespace().nth(1).context("rollout id")?;
        let numbers = |line: Option<&str>| -> Vec<u64> {
            line.unwrap_or_default()
                .split(|c: char| !c.is_ascii_digit())
                .filter_map(|w| w.parse().ok())
                .collect()
        };
        let counts = numbers(lines.next());
        let tokens = numbers(lines.next());
        let edges: u64 = lines
            .next()
            .unwrap_or_default()
            .split(", ")
            .filter_map(|e| e.split_whitespace().rev().nth(2)?.parse::<u64>().ok())
            .sum();
        let diagnostics = numbers(lines.next());
        let mut row = vec![json!(id)];
        row.extend(counts.iter().map(|n| json!(n)));
        row.extend(tokens.iter().map(|n| json!(n)));
        row.push(json!(edges));
        row.extend(diagnostics.iter().map(|n| json!(n)));
        rows.push(Value::Array(row));
    }
    rows.sort_by_key(|r| r[0].as_str().unwrap_or_default().to_owned());
    Ok(Value::Array(rows))
}

/// What the fleet's plan says the analysis queries must give (lossy rollouts left out).
fn expected() -> BTreeMap<&'static str, Value> {
    let mut per_kind: BTreeMap<&str, u64> = BTreeMap::new();
    for i in 0..ROLLOUTS {
        *per_kind.entry(fleet::kind(i)).or_default() += 1;
    }
    let n = |k: &str| per_kind.get(k).copied().unwrap_or(0);
    let mut tools: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    let mut agents: BTreeMap<&str, [u64; 4]> = BTreeMap::new();
    let mut cost: BTreeMap<&str, (f64, u64)> = BTreeMap::new();
    let rates = |model: &str| match model {
        fleet::MODEL => [1.0, 0.1, 10.0, 10.0],
        _ => [0.5, 0.05, 2.0, 2.0],
    };
    for kind in fleet::KINDS.iter().filter(|k| **k != "lossy") {
        let (calls, called) = fleet::usage_plan(kind);
        for (tool, fails) in called {
            let t = tools.entry(tool).or_default();
            t.0 += n(kind);
            t.1 += if fails { n(kind) } else { 0 };
        }
        for (path, model, i, c, o, r) in calls {
            let a = agents.entry(path).or_default();
            for (slot, v) in a.iter_mut().zip([i, c, o, r]) {
                *slot += v * n(kind);
            }
            let [pi, pc, po, pr] = rates(model);
            let one =
                ((i - c) as f64 * pi + c as f64 * pc + (o - r) as f64 * po + r as f64 * pr) / 1e6;
            let m = cost.entry(model).or_default();
            m.0 += one * n(kind) as f64;
            m.1 += n(kind);
        }
    }
    let round = |x: f64| (x * 1e6).round() / 1e6;
    let total: f64 = cost.values().map(|(c, _)| c).sum();
    let priced: u64 = cost.values().map(|(_, n)| n).sum();
    BTreeMap::from([
        (
            "failure_rate",
            Value::Array(
                tools
                    .iter()
                    .map(|(t, (calls, failed))| {
                        json!([
                            t,
                            calls,
                            failed,
                            ((*failed as f64 / *calls as f64) * 1e4).round() / 1e4
                        ])
                    })
                    .collect(),
            ),
        ),
        (
            "tokens_per_agent",
            Value::Array(
                agents
                    .iter()
                    .map(|(p, [i, c, o, r])| json!([p, i, c, o, r]))
                    .collect(),
            ),
        ),
        (
            "undelivered",
            json!([["spawn", "/lead/worker", n("undelivered")]]),
        ),
        ("undelivered_rollouts", json!([[n("undelivered")]])),
        ("cost_per_model", {
            let mut rows: Vec<Value> = cost
                .iter()
                .map(|(m, (c, k))| {
                    // The incomplete rollouts' calls have the root model and no usage: unpriced.
                    let unpriced = if *m == fleet::MODEL {
                        n("incomplete")
                    } else {
                        0
                    };
                    json!([m, round(*c), k, unpriced])
                })
                .collect();
            rows.sort_by_key(|r| r[0].as_str().unwrap_or_default().to_owned());
            Value::Array(rows)
        }),
        (
            "unpriced",
            json!([["no_usage", n("incomplete")], [null, priced]]),
        ),
        (
            "rollout_cost",
            json!([[round(total), priced, n("incomplete")]]),
        ),
        ("sessions", json!([[n("resumed")]])),
    ])
}

#[test]
fn a_fleet_exported_as_parquet_and_jsonl_answers_duckdb_as_summary_and_the_plan_say() -> Result<()>
{
    let root = tempfile::tempdir()?;
    let written = fleet::write(root.path(), 0, ROLLOUTS, /*lossy*/ true)?;
    ensure!(
        written >= ROLLOUTS * 6 / 7,
        "only {written} bundles written"
    );
    let work = tempfile::tempdir()?;
    let prices_file = work.path().join("prices.json");
    std::fs::write(&prices_file, PRICES)?;
    for fmt in ["parquet", "jsonl"] {
        let out = cli()
            .args(["export", "tables"])
            .arg(root.path())
            .arg("-o")
            .arg(work.path().join(fmt))
            .args(["--format", fmt, "--prices"])
            .arg(&prices_file)
            .output()?;
        succeeded(&out)?;
        let text = String::from_utf8_lossy(&out.stdout);
        ensure!(
            text.contains(&format!(
                "{written} bundles ({written} reduced, 0 unchanged)"
            )),
            "{text}"
        );
        ensure!(work
            .path()
            .join(fmt)
            .join(format!("tool_calls.{fmt}"))
            .is_file());
    }
    let python = venv().join("bin/python");
    if !python.is_file() {
        return skipped(
            "the DuckDB queries over the exported tables",
            &format!(
                "{} does not exist (bash .ci/run installs it)",
                python.display()
            ),
        );
    }
    let parquet = duckdb(&python, &work.path().join("parquet"), "parquet")?;
    let jsonl = duckdb(&python, &work.path().join("jsonl"), "jsonl")?;
    assert_eq!(parquet, jsonl, "Parquet and JSONL answer alike");

    // Totals per rollout: the rollouts table, the entity tables and `summary` agree.
    let summary = summaries(root.path())?;
    assert_eq!(parquet["rollouts"], summary);
    assert_eq!(parquet["counted"], summary);

    // Every model-requested tool call reaches its rollout through inference → turn → thread.
    let joined = &parquet["joined"][0];
    ensure!(
        joined[0].as_u64() > Some(0) && joined[0] == joined[1],
        "{joined}"
    );

    for (name, want) in expected() {
        assert_eq!(parquet[name], want, "{name}");
    }
    let lossy = &parquet["lossy"][0];
    eprintln!("lossy bundles: {lossy} (count, incomplete)");
    Ok(())
}

/// The rows of one JSONL table.
fn jsonl_rows(dir: &Path, table: &str) -> Result<Vec<Value>> {
    let text = std::fs::read_to_string(dir.join(format!("{table}.jsonl")))?;
    text.lines()
        .map(|l| serde_json::from_str(l).with_context(|| format!("{table}: {l}")))
        .collect()
}

#[test]
fn a_codex_bundle_under_the_root_is_exported_through_its_import_and_again_when_it_grows(
) -> Result<()> {
    let root = tempfile::tempdir()?;
    let ours = fleet::write(&root.path().join("ours"), 0, 3, /*lossy*/ false)?;
    let codex_dir = root.path().join("codex/trace-x");
    let codex = support::codex::synth::web_search_rollout(&codex_dir, 2);
    // Half of the Codex recording first, as if Codex were still writing it.
    codex.write(Some(codex.lines() / 2));
    let work = tempfile::tempdir()?;
    let (cache, out_dir) = (work.path().join("cache"), work.path().join("tables"));
    let export = || -> Result<String> {
        let out = cli()
            .env("TRACING_ROLLOUT_CACHE", &cache)
            .args(["export", "tables"])
            .arg(root.path())
            .arg("-o")
            .arg(&out_dir)
            .args(["--format", "jsonl"])
            .output()?;
        succeeded(&out)?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let bundles = ours + 1;
    let first = export()?;
    ensure!(
        first.contains(&format!(
            "{bundles} bundles ({bundles} reduced, 0 unchanged)"
        )),
        "{first}"
    );
    codex.write(None);
    let before = support::files::all_bytes(&codex_dir)?;
    let second = export()?;
    ensure!(
        second.contains(&format!("{bundles} bundles (1 reduced, {ours} unchanged)")),
        "{second}"
    );
    assert_eq!(
        support::files::all_bytes(&codex_dir)?,
        before,
        "the Codex bundle is never written to"
    );

    // The Codex rollout's rows: its id as `summary` gives it, its usage split as Codex's.
    let out = cli()
        .env("TRACING_ROLLOUT_CACHE", &cache)
        .arg("summary")
        .arg(&codex_dir)
        .output()?;
    succeeded(&out)?;
    let summary = String::from_utf8(out.stdout)?;
    let id = summary
        .split_whitespace()
        .nth(1)
        .context("summary's rollout id")?;
    let rollouts = jsonl_rows(&out_dir, "rollouts")?;
    assert_eq!(rollouts.len(), bundles);
    let row = rollouts
        .iter()
        .find(|r| r["bundle"] == "codex/trace-x")
        .context("the Codex bundle's rollouts row")?;
    assert_eq!(row["rollout_id"], id);
    assert_eq!(row["error"], Value::Null);
    assert_eq!(row["complete"], true, "{row}");
    let of_codex = |table: &str| -> Result<Vec<Value>> {
        Ok(jsonl_rows(&out_dir, table)?
            .into_iter()
            .filter(|r| r["rollout_id"] == id)
            .collect())
    };
    let tools: Vec<Value> = of_codex("tool_calls")?
        .iter()
        .map(|r| json!([r["tool"], r["status"]]))
        .collect();
    ensure!(
        tools.contains(&json!(["exec_command", "completed"])),
        "{tools:?}"
    );
    let first_call = of_codex("inference_calls")?
        .into_iter()
        .find(|r| r["response_id"] == "resp_1")
        .context("the first inference call")?;
    let usage: Vec<&Value> = [
        "input_tokens",
        "cached_input_tokens",
        "cache_write_input_tokens",
        "output_tokens",
        "reasoning_tokens",
    ]
    .iter()
    .map(|c| &first_call[*c])
    .collect();
    assert_eq!(
        usage,
        [&json!(10), &json!(2), &json!(3), &json!(5), &json!(1)]
    );
    Ok(())
}
