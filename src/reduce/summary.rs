//! The readable tree of a rollout graph: threads → turns → inference calls → the tool calls
//! their responses started (code cells with their nested calls), with statuses, durations,
//! token totals and edge counts.
//!
//! Invariant: the text is a pure function of the [`RolloutState`] (no clock, no paths), so
//! the same bundle always renders the same summary and it can be golden-tested. Every value
//! that comes from the bundle (ids, names, models, errors) goes through [`printable`], so a
//! bundle cannot put terminal escape sequences, line breaks or bidirectional overrides on
//! the screen of whoever reads its summary.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::fmt::Write;

use super::{Execution, Requester, RolloutState, Status, Usage};

/// `text` with every control character (C0 — line breaks and ESC included —, DEL, C1) and
/// every invisible direction or line-separator mark escaped as `\n`, `\t`, `\r` or
/// `\u{…}`: what any text output prints of a bundle's strings.
///
/// # Examples
///
/// ```
/// use tracing_rollout::reduce::printable;
///
/// assert_eq!(printable("call\u{1b}[2Jid\n"), "call\\u{1b}[2Jid\\n");
/// assert_eq!(printable("plain"), "plain");
/// ```
pub fn printable(text: &str) -> Cow<'_, str> {
    let hidden = |c: char| {
        c.is_control()
            || matches!(
                c,
                '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{2028}' | '\u{2029}'
            )
            || ('\u{202a}'..='\u{202e}').contains(&c)
            || ('\u{2066}'..='\u{2069}').contains(&c)
    };
    if !text.chars().any(hidden) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if hidden(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn duration(execution: &Execution) -> String {
    match execution.duration_ns {
        None => "-".to_owned(),
        Some(ns) if ns >= 1_000_000_000 => format!("{:.2}s", ns as f64 / 1e9),
        Some(ns) if ns >= 1_000_000 => format!("{:.1}ms", ns as f64 / 1e6),
        Some(ns) => format!("{:.1}µs", ns as f64 / 1e3),
    }
}

fn usage_text(usage: &Usage) -> String {
    format!(
        "in {} (cached {}) out {} (reasoning {})",
        usage.input_tokens, usage.cached_input_tokens, usage.output_tokens, usage.reasoning_tokens
    )
}

fn status(execution: &Execution) -> &'static str {
    execution.status.as_str()
}

/// Renders the summary tree of `state`.
///
/// # Examples
///
/// ```no_run
/// let state = tracing_rollout::reduce::reduce_bundle("traces/demo")?;
/// print!("{}", tracing_rollout::reduce::render_summary(&state));
/// # Ok::<(), tracing_rollout::reduce::ReduceError>(())
/// ```
pub fn render_summary(state: &RolloutState) -> String {
    let mut out = String::new();
    let total = state.total_usage();
    let wall = match (state.started_at_unix_ms, state.ended_at_unix_ms) {
        (Some(a), Some(b)) => format!("{:.2}s", b.saturating_sub(a) as f64 / 1000.0),
        _ => "-".to_owned(),
    };
    let _ = writeln!(
        out,
        "rollout {}  {}  {}{}",
        printable(&state.rollout_id),
        state.status.as_str(),
        wall,
        if state.complete {
            ""
        } else {
            "  (incomplete log)"
        }
    );
    let _ = writeln!(
        out,
        "  {} threads, {} turns, {} inference calls, {} tool calls, {} code cells, {} terminal ops, {} compactions",
        state.threads.len(),
        state.turns.len(),
        state.inference_calls.len(),
        state.tool_calls.len(),
        state.code_cells.len(),
        state.terminal_operations.len(),
        state.compactions.len()
    );
    let _ = writeln!(out, "  tokens: {}", usage_text(&total));
    let mut edge_counts: BTreeMap<&'static str, (usize, usize)> = BTreeMap::new();
    for edge in state.edges.values() {
        let entry = edge_counts.entry(edge.kind.as_str()).or_default();
        entry.0 += 1;
        entry.1 += usize::from(edge.delivered);
    }
    let edges: Vec<String> = edge_counts
        .iter()
        .map(|(k, (n, d))| format!("{k} {n} ({d} delivered)"))
        .collect();
    let _ = writeln!(
        out,
        "  edges: {}",
        if edges.is_empty() {
            "none".to_owned()
        } else {
            edges.join(", ")
        }
    );
    let _ = writeln!(out, "  diagnostics: {}", state.diagnostics.len());
    let mut shown = HashSet::new();
    let roots: Vec<&String> = state
        .threads
        .values()
        .filter(|t| {
            t.parent_thread_id
                .as_ref()
                .is_none_or(|p| !state.threads.contains_key(p))
        })
        .map(|t| &t.thread_id)
        .collect();
    for root in roots {
        render_thread(state, root, 1, &mut out, &mut shown);
    }
    out
}

fn render_thread(
    state: &RolloutState,
    id: &str,
    depth: usize,
    out: &mut String,
    shown: &mut HashSet<String>,
) {
    if !shown.insert(id.to_owned()) {
        return;
    }
    let Some(thread) = state.threads.get(id) else {
        return;
    };
    let pad = "  ".repeat(depth);
    let mut usage = Usage::default();
    for turn in &thread.turns {
        if let Some(t) = state.turns.get(turn) {
            for call in &t.inference_calls {
                if let Some(u) = state
                    .inference_calls
                    .get(call)
                    .and_then(|c| c.usage.as_ref())
                {
                    usage.add(u);
                }
            }
        }
    }
    let _ = writeln!(
        out,
        "{pad}thread {}{}  {}  {}  {} turns, {} items{}  tokens {}",
        printable(&thread.thread_id),
        thread
            .agent_path
            .as_ref()
            .map(|p| format!(" {}", printable(p)))
            .unwrap_or_default(),
        status(&thread.execution),
        duration(&thread.execution),
        thread.turns.len(),
        thread.conversation.len(),
        if thread.attachments > 1 {
            format!(", {} attachments", thread.attachments)
        } else {
            String::new()
        },
        usage_text(&usage)
    );
    for turn_id in &thread.turns {
        let Some(turn) = state.turns.get(turn_id) else {
            continue;
        };
        let _ = writeln!(
            out,
            "{pad}  turn {}  {}  {}",
            printable(&turn.turn_id),
            status(&turn.execution),
            duration(&turn.execution)
        );
        let mut listed = HashSet::new();
        for call_id in &turn.inference_calls {
            let Some(call) = state.inference_calls.get(call_id) else {
                continue;
            };
            let _ = writeln!(
                out,
                "{pad}    inference {}  {}  {}  {}  {} → {} items{}",
                printable(&call.inference_call_id),
                printable(call.model.as_deref().unwrap_or("?")),
                status(&call.execution),
                duration(&call.execution),
                state.request_items(call).len(),
                call.response_items.len(),
                call.usage
                    .as_ref()
                    .map(|u| format!("  {}", usage_text(u)))
                    .unwrap_or_default()
            );
            for tool in &call.tool_calls {
                render_tool(state, tool, depth + 3, out, &mut listed);
            }
        }
        for cell_id in &turn.code_cells {
            let Some(cell) = state.code_cells.get(cell_id) else {
                continue;
            };
            let _ = writeln!(
                out,
                "{pad}    code cell {}  {}  {}  {} nested tool calls",
                printable(cell.cell_id.as_deref().unwrap_or(&cell.code_cell_id)),
                status(&cell.execution),
                duration(&cell.execution),
                cell.tool_calls.len()
            );
            for tool in &cell.tool_calls {
                render_tool(state, tool, depth + 3, out, &mut listed);
            }
        }
        for tool in &turn.tool_calls {
            render_tool(state, tool, depth + 2, out, &mut listed);
        }
    }
    for child in &thread.children {
        render_thread(state, child, depth + 1, out, shown);
    }
}

fn render_tool(
    state: &RolloutState,
    id: &str,
    depth: usize,
    out: &mut String,
    listed: &mut HashSet<String>,
) {
    if !listed.insert(id.to_owned()) {
        return;
    }
    let Some(tool) = state.tool_calls.get(id) else {
        return;
    };
    let pad = "  ".repeat(depth);
    let requester = match &tool.requester {
        Requester::Model { .. } => "model",
        Requester::CodeCell { .. } => "code cell",
        Requester::Runtime => "runtime",
    };
    let mut extra = String::new();
    if let Some(target) = &tool.target_thread_id {
        let _ = write!(extra, "  → {}", printable(target));
    }
    if !tool.terminal_operations.is_empty() {
        let _ = write!(extra, "  {} terminal ops", tool.terminal_operations.len());
    }
    if let Some(runtime) = &tool.runtime {
        let _ = write!(extra, "  run by the {}", printable(runtime));
    }
    if let Some(cell) = &tool.waited_cell {
        let _ = write!(extra, "  waits on {}", printable(cell));
    }
    if tool.execution.status == Status::Failed {
        if let Some(error) = &tool.execution.error {
            let _ = write!(extra, "  error: {}", printable(error));
        }
    }
    let _ = writeln!(
        out,
        "{pad}tool {} {}{}  {}  {}  by {}{}",
        printable(tool.tool.as_deref().unwrap_or("?")),
        tool.kind
            .as_deref()
            .map(|k| format!("[{}] ", printable(k)))
            .unwrap_or_default(),
        printable(tool.call_id.as_deref().unwrap_or("-")),
        status(&tool.execution),
        duration(&tool.execution),
        requester,
        extra
    );
}
