//! The diff as text, read top-down like `summary`: the first divergence and its cause, the
//! totals side by side, then each thread pair with its steps (runs of equal steps folded).
//!
//! Invariant: the text is a pure function of the [`Diff`] (no clock, no paths).

use std::fmt::Write;

use super::report::{
    Change, Diff, Divergence, ItemSide, Location, Origin, RequestItemChange, StepDiff, StepOp,
    ThreadDiff,
};

/// Causes listed per divergence in the thread sections (the first divergence lists all the
/// report holds).
const CAUSES_PER_DIVERGENCE: usize = 5;

/// Renders `diff` as readable text.
///
/// # Examples
///
/// ```no_run
/// use tracing_rollout::{diff, reduce};
///
/// let a = reduce::reduce_bundle("traces/run-a")?;
/// let b = reduce::reduce_bundle("traces/run-b")?;
/// print!("{}", diff::render_text(&diff::diff(&a, &b, &diff::DiffOptions::default())));
/// # Ok::<(), tracing_rollout::reduce::ReduceError>(())
/// ```
pub fn render_text(diff: &Diff) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "diff  A {} ({})  ↔  B {} ({})",
        diff.a.rollout_id,
        diff.a.status.as_str(),
        diff.b.rollout_id,
        diff.b.status.as_str()
    );
    match &diff.first_divergence {
        None => {
            let _ = writeln!(out, "\nno divergence: every aligned step did the same");
        }
        Some(d) => {
            let _ = writeln!(
                out,
                "\nfirst divergence: {}, step {} ({})",
                d.agent_path.as_deref().unwrap_or("(no agent path)"),
                d.step,
                d.kind.as_str()
            );
            divergence(&mut out, d, "  ");
        }
    }
    totals(&mut out, diff);
    let _ = writeln!(out, "\nthreads");
    for thread in &diff.threads {
        thread_section(&mut out, diff, thread);
    }
    out
}

/// Both steps of a divergence and what their requests differ in.
fn divergence(out: &mut String, d: &Divergence, pad: &str) {
    for (side, step) in [("A", &d.a), ("B", &d.b)] {
        match step {
            Some(s) => {
                let turn = s.turn_id.as_deref().unwrap_or("-");
                let _ = writeln!(
                    out,
                    "{pad}{side} {} (turn {turn}): {}",
                    s.inference_call_id, s.summary
                );
            }
            None => {
                let next = if side == "A" {
                    &d.compared_requests.a
                } else {
                    &d.compared_requests.b
                };
                let next = next
                    .as_deref()
                    .map(|id| format!(" (compared with its step {id})"))
                    .unwrap_or_default();
                let _ = writeln!(out, "{pad}{side} has no such step{next}");
            }
        }
    }
    causes(out, d, pad, usize::MAX);
}

/// What the two requests of a divergence differ in, at most `max` differences.
fn causes(out: &mut String, d: &Divergence, pad: &str, max: usize) {
    let compared = |id: &Option<String>| id.as_deref().unwrap_or("-").to_owned();
    if d.differing_request_items.is_empty() {
        let _ = writeln!(
            out,
            "{pad}the requests ({} / {}) are alike: the models answered the same input differently",
            compared(&d.compared_requests.a),
            compared(&d.compared_requests.b)
        );
        return;
    }
    let _ = writeln!(
        out,
        "{pad}what the models saw differently ({} / {}; {} difference{}):",
        compared(&d.compared_requests.a),
        compared(&d.compared_requests.b),
        d.differing_request_items_total,
        if d.differing_request_items_total == 1 {
            ""
        } else {
            "s"
        }
    );
    for change in d.differing_request_items.iter().take(max) {
        cause(out, change, &format!("{pad}  "));
    }
    let listed = d.differing_request_items.len().min(max);
    if d.differing_request_items_total > listed {
        let _ = writeln!(
            out,
            "{pad}  … {} more",
            d.differing_request_items_total - listed
        );
    }
}

/// One difference between the requests.
fn cause(out: &mut String, change: &RequestItemChange, pad: &str) {
    let value = |s: &Option<ItemSide>| {
        s.as_ref()
            .map_or_else(|| "-".to_owned(), |s| format!("{:?}", s.text))
    };
    match change.location {
        Location::Model | Location::Provider => {
            let what = if change.location == Location::Model {
                "model"
            } else {
                "provider"
            };
            let _ = writeln!(
                out,
                "{pad}{what}: {} → {}",
                value(&change.a),
                value(&change.b)
            );
        }
        Location::Item => {
            let head = change.b.as_ref().or(change.a.as_ref());
            let (index, kind) = head.map_or((None, String::new()), |s| {
                (
                    s.index,
                    [
                        s.role.clone(),
                        s.kind.map(|k| crate::reduce::kind_tag(k).to_owned()),
                        s.name.clone(),
                    ]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" "),
                )
            });
            let what = match change.change {
                Change::Changed => "changed",
                Change::OnlyA => "only in A",
                Change::OnlyB => "only in B",
            };
            let origin = head
                .and_then(|s| s.origin.as_ref())
                .map(origin_text)
                .unwrap_or_default();
            let at = index.map(|i| format!("item {i} ")).unwrap_or_default();
            let _ = writeln!(out, "{pad}{at}{kind} ({what}{origin})");
            if let Some(a) = &change.a {
                let _ = writeln!(out, "{pad}  A: {:?}", super::steps::one_line(&a.text));
            }
            if let Some(b) = &change.b {
                let _ = writeln!(out, "{pad}  B: {:?}", super::steps::one_line(&b.text));
            }
        }
    }
}

fn origin_text(origin: &Origin) -> String {
    let earlier = |n: &Option<usize>| match n {
        Some(0) => " of this step".to_owned(),
        Some(1) => ", 1 step earlier".to_owned(),
        Some(n) => format!(", {n} steps earlier"),
        None => String::new(),
    };
    match origin {
        Origin::ToolResult {
            tool, steps_before, ..
        } => format!(
            "; result of tool {}{}",
            tool.as_deref().unwrap_or("?"),
            earlier(steps_before)
        ),
        Origin::Response { steps_before, .. } => {
            format!("; from a response{}", earlier(steps_before))
        }
        Origin::CodeCellOutput { code_cell_id } => format!("; output of {code_cell_id}"),
        Origin::Compaction { compaction_id } => format!("; compaction {compaction_id}"),
        Origin::Delivery { edge_id } => format!("; delivered by {edge_id}"),
        Origin::Instructions => "; system prompt".to_owned(),
        Origin::Input => "; input".to_owned(),
    }
}

/// The totals table.
fn totals(out: &mut String, diff: &Diff) {
    let (a, b, d) = (&diff.totals.a, &diff.totals.b, &diff.totals.delta);
    let _ = writeln!(
        out,
        "\n{:<24} {:>10} {:>14} {:>10}",
        "totals", "A", "B", "delta"
    );
    let row = |out: &mut String, name: &str, x: String, y: String, delta: String| {
        let line = format!("  {name:<22} {x:>10} {y:>14} {delta:>10}");
        let _ = writeln!(out, "{}", line.trim_end());
    };
    row(
        out,
        "status",
        a.status.as_str().to_owned(),
        b.status.as_str().to_owned(),
        String::new(),
    );
    let ms = |v: Option<u64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v}ms"));
    row(
        out,
        "duration",
        ms(a.duration_ms),
        ms(b.duration_ms),
        d.duration_ms
            .map(|v| format!("{v:+}ms"))
            .unwrap_or_default(),
    );
    let yes = |b: bool| if b { "yes" } else { "no" }.to_owned();
    row(
        out,
        "complete log",
        yes(a.complete),
        yes(b.complete),
        String::new(),
    );
    let counts: [(&str, u64, u64, i64); 11] = [
        ("threads", a.threads as u64, b.threads as u64, d.threads),
        ("turns", a.turns as u64, b.turns as u64, d.turns),
        (
            "inference calls",
            a.inference_calls as u64,
            b.inference_calls as u64,
            d.inference_calls,
        ),
        (
            "failed inference calls",
            a.failed_inference_calls as u64,
            b.failed_inference_calls as u64,
            d.failed_inference_calls,
        ),
        (
            "tool calls",
            a.tool_calls as u64,
            b.tool_calls as u64,
            d.tool_calls,
        ),
        (
            "failed tool calls",
            a.failed_tool_calls as u64,
            b.failed_tool_calls as u64,
            d.failed_tool_calls,
        ),
        (
            "input tokens",
            a.input_tokens,
            b.input_tokens,
            d.input_tokens,
        ),
        (
            "cached input tokens",
            a.cached_input_tokens,
            b.cached_input_tokens,
            d.cached_input_tokens,
        ),
        (
            "output tokens",
            a.output_tokens,
            b.output_tokens,
            d.output_tokens,
        ),
        (
            "reasoning tokens",
            a.reasoning_tokens,
            b.reasoning_tokens,
            d.reasoning_tokens,
        ),
        (
            "undelivered edges",
            a.undelivered_edges as u64,
            b.undelivered_edges as u64,
            d.undelivered_edges,
        ),
    ];
    for (name, x, y, delta) in counts {
        row(
            out,
            name,
            x.to_string(),
            y.to_string(),
            format!("{delta:+}"),
        );
    }
    if let (Some(pa), Some(pb)) = (&a.priced, &b.priced) {
        // A side with unpriced calls shows what could be priced, as a lower bound.
        let cost = |p: &crate::cost::CostTotals| match p.complete_total() {
            Some(total) => format!("{total:.4}"),
            None => format!("≥{:.4}", p.cost.total),
        };
        let name = format!("cost ({})", diff.totals.currency.as_deref().unwrap_or("?"));
        let delta = d.cost.map(|c| format!("{c:+.4}")).unwrap_or_default();
        row(out, &name, cost(pa), cost(pb), delta);
        if pa.unpriced_calls + pb.unpriced_calls > 0 {
            let n = |p: &crate::cost::CostTotals| p.unpriced_calls.to_string();
            row(out, "unpriced calls", n(pa), n(pb), String::new());
        }
    }
}

/// One thread pair: who it is, its counts, and its steps with runs of `same` folded.
fn thread_section(out: &mut String, diff: &Diff, t: &ThreadDiff) {
    let depth = {
        let mut depth = 1;
        let mut at = t.parent;
        while let Some(p) = at {
            depth += 1;
            at = diff.threads.get(p).and_then(|x| x.parent);
            if depth > diff.threads.len() {
                break;
            }
        }
        depth
    };
    let pad = "  ".repeat(depth);
    let id = |x: &Option<String>| x.as_deref().unwrap_or("–").to_owned();
    let status = |s: &Option<crate::reduce::Status>| s.map_or("–", |s| s.as_str());
    let how = match (t.matched_by, &t.a_thread_id, &t.b_thread_id) {
        (Some(by), _, _) => format!("matched by {}", by.as_str()),
        (None, Some(_), None) => "only in A".to_owned(),
        (None, _, _) => "only in B".to_owned(),
    };
    let _ = writeln!(
        out,
        "{pad}{}{}  {} ↔ {}  ({how})  {} ↔ {}",
        t.agent_path.as_deref().unwrap_or("(no agent path)"),
        t.nickname
            .as_deref()
            .map_or(String::new(), |n| format!(" ({n})")),
        id(&t.a_thread_id),
        id(&t.b_thread_id),
        status(&t.a_status),
        status(&t.b_status)
    );
    let c = &t.counts;
    let spawned = t
        .spawned_at_step
        .map(|s| format!("; spawned at the parent's step {s}"))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "{pad}  {} same, {} changed, {} only in A, {} only in B, {} tool changes{spawned}",
        c.same, c.changed, c.only_a, c.only_b, c.tool_changes
    );
    let mut row = 0;
    while row < t.steps.len() {
        let run = t.steps[row..]
            .iter()
            .take_while(|s| s.op == StepOp::Same && s.tool_changes.is_empty())
            .count();
        if run > 0 {
            let last = row + run - 1;
            let _ = if run == 1 {
                writeln!(out, "{pad}  step {row}  same")
            } else {
                writeln!(out, "{pad}  steps {row}–{last}  same ({run})")
            };
            row += run;
            continue;
        }
        step_lines(out, &t.steps[row], row, &pad);
        if let Some(d) = t.divergences.iter().find(|d| d.step == row) {
            causes(out, d, &format!("{pad}      "), CAUSES_PER_DIVERGENCE);
        }
        row += 1;
    }
}

fn step_lines(out: &mut String, s: &StepDiff, row: usize, pad: &str) {
    let kind = s
        .kind
        .map(|k| format!(" ({})", k.as_str()))
        .unwrap_or_default();
    let _ = writeln!(out, "{pad}  step {row}  {}{kind}", s.op.as_str());
    for (side, step) in [("A", &s.a), ("B", &s.b)] {
        if let Some(step) = step {
            let _ = writeln!(
                out,
                "{pad}    {side} {}  {}",
                step.inference_call_id, step.summary
            );
        }
    }
    for t in &s.tool_changes {
        let _ = writeln!(
            out,
            "{pad}    tool {}: {} → {}, result {}",
            t.tool,
            t.a_status.as_str(),
            t.b_status.as_str(),
            t.result.as_str()
        );
    }
}
