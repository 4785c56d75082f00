//! One rollout graph → the rows of every table, in the schema's column order.
//!
//! Invariant: a row is a pure function of the graph (and the prices): it reads the graph's maps
//! and accessors only, adds no interpretation of payloads, and emits its cells in exactly the
//! order and types `schema.rs` lists (`rows_tests.rs` checks every table against it). Payload
//! rows are written by the caller, which may stream bodies (`payload_row`).

use std::borrow::Cow;
use std::collections::HashMap;

use super::ExportError;
use crate::cost::{Prices, Unpriced};
use crate::reduce::{
    preview_within, Anchor, DiagnosticLevel, Execution, ItemKind, PayloadRef, Producer, Requester,
    RolloutState, Status,
};

/// Table numbers: positions in [`TABLES`](super::schema::TABLES).
pub(super) mod id {
    pub(in super::super) const ROLLOUTS: usize = 0;
    pub(in super::super) const THREADS: usize = 1;
    pub(in super::super) const TURNS: usize = 2;
    pub(in super::super) const INFERENCE_CALLS: usize = 3;
    pub(in super::super) const TOOL_CALLS: usize = 4;
    pub(in super::super) const CODE_CELLS: usize = 5;
    pub(in super::super) const TERMINAL_OPERATIONS: usize = 6;
    pub(in super::super) const COMPACTIONS: usize = 7;
    pub(in super::super) const EDGES: usize = 8;
    pub(in super::super) const CONVERSATION_ITEMS: usize = 9;
    pub(in super::super) const DIAGNOSTICS: usize = 10;
    pub(in super::super) const PAYLOADS: usize = 11;
}

/// Longest edge message kept without `--bodies` (the graph's item preview length).
const MESSAGE_PREVIEW_BYTES: usize = 2000;

/// One cell of a row.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell<'a> {
    Null,
    Text(Cow<'a, str>),
    Int(i64),
    Float(f64),
    Bool(bool),
}

/// Where rows go: one writer per table.
pub(crate) trait Sink {
    /// Appends one row to table number `table`.
    fn row(&mut self, table: usize, cells: &[Cell<'_>]) -> Result<(), ExportError>;
}

fn text(s: &str) -> Cell<'_> {
    Cell::Text(Cow::Borrowed(s))
}

fn opt(s: Option<&str>) -> Cell<'_> {
    s.map_or(Cell::Null, text)
}

fn int(n: u64) -> Cell<'static> {
    Cell::Int(i64::try_from(n).unwrap_or(i64::MAX))
}

fn count(n: usize) -> Cell<'static> {
    int(n as u64)
}

fn opt_int(n: Option<u64>) -> Cell<'static> {
    n.map_or(Cell::Null, int)
}

fn float(x: Option<f64>) -> Cell<'static> {
    x.map_or(Cell::Null, Cell::Float)
}

fn status(s: Status) -> Cell<'static> {
    Cell::Text(Cow::Borrowed(s.as_str()))
}

/// Status, error, start, end and duration of a timed entity.
fn lifetime(e: &Execution) -> [Cell<'_>; 5] {
    [
        status(e.status),
        opt(e.error.as_deref()),
        int(e.started_at_unix_ms),
        opt_int(e.ended_at_unix_ms),
        float(duration_ms(e)),
    ]
}

fn duration_ms(e: &Execution) -> Option<f64> {
    match (e.duration_ns, e.ended_at_unix_ms) {
        (Some(ns), _) => Some(ns as f64 / 1e6),
        (None, Some(end)) => Some(end.saturating_sub(e.started_at_unix_ms) as f64),
        (None, None) => None,
    }
}

/// The type word and id of an edge end or payload owner.
fn anchor(a: &Anchor) -> (&'static str, Cow<'_, str>) {
    match a {
        Anchor::ToolCall(id) => ("tool_call", Cow::Borrowed(id.as_str())),
        Anchor::Thread(id) => ("thread", Cow::Borrowed(id.as_str())),
        Anchor::ConversationItem(id) => ("conversation_item", Cow::Borrowed(id.as_str())),
        Anchor::Turn(id) => ("turn", Cow::Borrowed(id.as_str())),
        Anchor::InferenceCall(id) => ("inference_call", Cow::Borrowed(id.as_str())),
        Anchor::CodeCell(id) => ("code_cell", Cow::Borrowed(id.as_str())),
        Anchor::Span(key) => ("span", Cow::Owned(key.to_string())),
    }
}

/// The word `state.json` uses for an item kind.
fn item_kind(kind: ItemKind, words: &mut HashMap<ItemKind, String>) -> String {
    words
        .entry(kind)
        .or_insert_with(|| {
            serde_json::to_value(kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        })
        .clone()
}

/// One rollout as rows: the graph, where the bundle is, and the export's options.
#[derive(Debug)]
pub(crate) struct Rollout<'a> {
    pub(crate) state: &'a RolloutState,
    pub(crate) bundle: &'a str,
    pub(crate) prices: Option<&'a Prices>,
    pub(crate) bodies: bool,
}

impl Rollout<'_> {
    /// Writes every row of every table but `payloads`.
    pub(crate) fn write(&self, sink: &mut dyn Sink) -> Result<(), ExportError> {
        self.rollout(sink)?;
        self.threads(sink)?;
        self.turns(sink)?;
        self.inference_calls(sink)?;
        self.tool_calls(sink)?;
        self.code_cells(sink)?;
        self.terminal_operations(sink)?;
        self.compactions(sink)?;
        self.edges(sink)?;
        self.conversation_items(sink)?;
        self.diagnostics(sink)
    }

    fn rid(&self) -> Cell<'_> {
        text(&self.state.rollout_id)
    }

    fn rollout(&self, sink: &mut dyn Sink) -> Result<(), ExportError> {
        let s = self.state;
        let usage = s.total_usage();
        let totals = self.prices.map(|p| p.rollout_cost(s));
        let root_path = s
            .root_thread_id
            .as_ref()
            .and_then(|id| s.threads.get(id))
            .and_then(|t| t.agent_path.as_deref());
        let failed_tools = s
            .tool_calls
            .values()
            .filter(|t| t.execution.status == Status::Failed)
            .count();
        let undelivered = s.edges.values().filter(|e| !e.delivered).count();
        let duration = s
            .started_at_unix_ms
            .zip(s.ended_at_unix_ms)
            .map(|(a, b)| b.saturating_sub(a) as f64);
        let row = [
            self.rid(),
            text(self.bundle),
            opt(s.trace_id.as_deref()),
            status(s.status),
            Cell::Bool(s.complete),
            Cell::Null,
            opt_int(s.started_at_unix_ms),
            opt_int(s.ended_at_unix_ms),
            float(duration),
            opt(s.root_thread_id.as_deref()),
            opt(root_path),
            count(s.threads.len()),
            count(s.turns.len()),
            count(s.inference_calls.len()),
            count(s.tool_calls.len()),
            count(failed_tools),
            count(s.code_cells.len()),
            count(s.terminal_operations.len()),
            count(s.compactions.len()),
            count(s.conversation_items.len()),
            count(s.edges.len()),
            count(undelivered),
            count(s.diagnostics.len()),
            count(s.warning_count()),
            int(usage.input_tokens),
            int(usage.cached_input_tokens),
            int(usage.cache_write_input_tokens),
            int(usage.output_tokens),
            int(usage.reasoning_tokens),
            float(totals.as_ref().map(|t| t.cost.total)),
            opt_int(totals.as_ref().map(|t| t.priced_calls)),
            opt_int(totals.as_ref().map(|t| t.unpriced_calls)),
        ];
        sink.row(id::ROLLOUTS, &row)
    }

    fn threads(&self, sink: &mut dyn Sink) -> Result<(), ExportError> {
        let s = self.state;
        let mut spawner: HashMap<&str, &str> = HashMap::new();
        for tool in s.tool_calls.values() {
            for thread in &tool.spawned_threads {
                spawner.entry(thread).or_insert(&tool.tool_call_id);
            }
        }
        for t in s.threads.values() {
            let [st, err, start, end, dur] = lifetime(&t.execution);
            let row = [
                self.rid(),
                text(&t.thread_id),
                opt(t.parent_thread_id.as_deref()),
                opt(spawner.get(t.thread_id.as_str()).copied()),
                opt(t.agent_path.as_deref()),
                opt(t.nickname.as_deref()),
                opt(t.role.as_deref()),
                opt(t.model.as_deref()),
                st,
                err,
                start,
                end,
                dur,
                count(t.turns.len()),
                count(t.children.len()),
                count(t.conversation.len()),
                int(u64::from(t.attachments)),
            ];
            sink.row(id::THREADS, &row)?;
        }
        Ok(())
    }

    fn turns(&self, sink: &mut dyn Sink) -> Result<(), ExportError> {
        for t in self.state.turns.values() {
            let [st, err, start, end, dur] = lifetime(&t.execution);
            let row = [
                self.rid(),
                text(&t.turn_id),
                text(&t.thread_id),
                st,
                err,
                start,
                end,
                dur,
                count(t.inference_calls.len()),
                count(t.tool_calls.len()),
                count(t.code_cells.len()),
                count(t.compactions.len()),
            ];
            sink.row(id::TURNS, &row)?;
        }
        Ok(())
    }

    fn inference_calls(&self, sink: &mut dyn Sink) -> Result<(), ExportError> {
        let s = self.state;
        for c in s.inference_calls.values() {
            let [st, err, start, end, dur] = lifetime(&c.execution);
            let u = c.usage.as_ref();
            let tokens = |f: fn(&crate::reduce::Usage) -> u64| opt_int(u.map(f));
            let priced = self.prices.map(|p| p.call_cost(c));
            let cost = priced.as_ref().and_then(|r| r.as_ref().ok());
            let unpriced = match &priced {
                None => Some("no_prices"),
                Some(Ok(_)) => None,
                Some(Err(why)) => Some(unpriced_word(why)),
            };
            let row = [
                self.rid(),
                text(&c.inference_call_id),
                opt(c.thread_id.as_deref()),
                opt(c.turn_id.as_deref()),
                opt(c.model.as_deref()),
                opt(c.provider.as_deref()),
                opt(c.response_id.as_deref()),
                opt(c.previous_response_id.as_deref()),
                opt(c.upstream_request_id.as_deref()),
                opt(c.payload_format.as_deref()),
                st,
                err,
                opt(c.error_type.as_deref()),
                start,
                end,
                dur,
                tokens(|u| u.input_tokens),
                tokens(|u| u.cached_input_tokens),
                tokens(|u| u.cache_write_input_tokens),
                tokens(|u| u.output_tokens),
                tokens(|u| u.reasoning_tokens),
                count(s.request_items(c).len()),
                count(c.response_items.len()),
                count(c.tool_calls.len()),
                opt_int(c.request_payload),
                opt_int(c.response_payload),
                float(cost.map(|c| c.input)),
                float(cost.map(|c| c.cached_input)),
                float(cost.map(|c| c.cache_write_input)),
                float(cost.map(|c| c.output)),
                float(cost.map(|c| c.reasoning)),
                float(cost.map(|c| c.total)),
                opt(unpriced),
            ];
            sink.row(id::INFERENCE_CALLS, &row)?;
        }
        Ok(())
    }

    fn payload_bytes(&self, seq: Option<u64>) -> Cell<'static> {
        opt_int(
            seq.and_then(|s| self.state.payloads.get(&s))
                .map(|p| p.bytes),
        )
    }

    fn tool_calls(&self, sink: &mut dyn Sink) -> Result<(), ExportError> {
        for t in self.state.tool_calls.values() {
            let [st, err, start, end, dur] = lifetime(&t.execution);
            let (requester, inference, cell) = match &t.requester {
                Requester::Model { inference_call_id } => {
                    ("model", inference_call_id.as_deref(), None)
                }
                Requester::CodeCell { code_cell_id } => {
                    ("code_cell", None, Some(code_cell_id.as_str()))
                }
                Requester::Runtime => ("runtime", None, None),
            };
            let row = [
                self.rid(),
                text(&t.tool_call_id),
                opt(t.thread_id.as_deref()),
                opt(t.turn_id.as_deref()),
                text(requester),
                opt(inference),
                opt(cell),
                opt(t.tool.as_deref()),
                opt(t.kind.as_deref()),
                opt(t.call_id.as_deref()),
                opt(t.mcp_server.as_deref()),
                opt(t.target_thread_id.as_deref()),
                opt(t.runtime.as_deref()),
                st,
                err,
                start,
                end,
                dur,
                Cell::Bool(!t.output_items.is_empty()),
                count(t.terminal_operations.len()),
                count(t.spawned_threads.len()),
                opt(t.waited_cell.as_deref()),
                opt_int(t.args_payload),
                opt_int(t.result_payload),
                self.payload_bytes(t.args_payload),
                self.payload_bytes(t.result_payload),
            ];
            sink.row(id::TOOL_CALLS, &row)?;
        }
        Ok(())
    }

    fn code_cells(&self, sink: &mut dyn Sink) -> Result<(), ExportError> {
        for c in self.state.code_cells.values() {
            let [st, err, start, end, dur] = lifetime(&c.execution);
            let row = [
                self.rid(),
                text(&c.code_cell_id),
                opt(c.cell_id.as_deref()),
                opt(c.call_id.as_deref()),
                opt(c.language.as_deref()),
                opt(c.thread_id.as_deref()),
                opt(c.turn_id.as_deref()),
                st,
                err,
                start,
                end,
                dur,
                count(c.tool_calls.len()),
                count(c.waits.len()),
                opt_int(c.yielded_at_unix_ms),
                opt(c.source_item.as_deref()),
                opt_int(c.source_payload),
                opt_int(c.output_payload),
            ];
            sink.row(id::CODE_CELLS, &row)?;
        }
        Ok(())
    }

    fn terminal_operations(&self, sink: &mut dyn Sink) -> Result<(), ExportError> {
        for o in self.state.terminal_operations.values() {
            let [st, err, start, end, dur] = lifetime(&o.execution);
            let row = [
                self.rid(),
                text(&o.operation_id),
                opt(o.terminal_id.as_deref()),
                opt(o.tool_call_id.as_deref()),
                opt(o.thread_id.as_deref()),
                opt(o.op.as_deref()),
                opt(o.command.as_deref()),
                opt(o.cwd.as_deref()),
                o.exit_code.map_or(Cell::Null, Cell::Int),
                st,
                err,
                start,
                end,
                dur,
            ];
            sink.row(id::TERMINAL_OPERATIONS, &row)?;
        }
        Ok(())
    }

    fn compactions(&self, sink: &mut dyn Sink) -> Result<(), ExportError> {
        for c in self.state.compactions.values() {
            let [st, err, start, end, dur] = lifetime(&c.execution);
            let row = [
                self.rid(),
                text(&c.compaction_id),
                opt(c.thread_id.as_deref()),
                opt(c.turn_id.as_deref()),
                opt(c.model.as_deref()),
                st,
                err,
                start,
                end,
                dur,
                count(c.attempts.len().max(1)),
                count(c.input_items.len()),
                count(c.replacement_items.len()),
                opt(c.marker_item.as_deref()),
                opt_int(c.checkpoint_payload),
            ];
            sink.row(id::COMPACTIONS, &row)?;
        }
        Ok(())
    }

    /// The thread an edge end belongs to.
    fn thread_of<'s>(&'s self, a: &'s Anchor) -> Option<&'s str> {
        let s = self.state;
        match a {
            Anchor::Thread(id) => Some(id),
            Anchor::ToolCall(id) => s.tool_calls.get(id)?.thread_id.as_deref(),
            Anchor::ConversationItem(id) => Some(&s.conversation_items.get(id)?.thread_id),
            Anchor::Turn(id) => Some(&s.turns.get(id)?.thread_id),
            Anchor::InferenceCall(id) => s.inference_calls.get(id)?.thread_id.as_deref(),
            Anchor::CodeCell(id) => s.code_cells.get(id)?.thread_id.as_deref(),
            // A span the reducer did not map: no entity, so no thread.
            Anchor::Span(_) => None,
        }
    }

    fn edges(&self, sink: &mut dyn Sink) -> Result<(), ExportError> {
        for e in self.state.edges.values() {
            let (from_type, from_id) = anchor(&e.from);
            let (to_type, to_id) = anchor(&e.to);
            let message = e.message.as_deref().map(|m| {
                if self.bodies {
                    Cow::Borrowed(m)
                } else {
                    Cow::Owned(preview_within(m, MESSAGE_PREVIEW_BYTES))
                }
            });
            let row = [
                self.rid(),
                text(&e.edge_id),
                text(e.kind.as_str()),
                text(from_type),
                Cell::Text(from_id),
                opt(self.thread_of(&e.from)),
                text(to_type),
                Cell::Text(to_id),
                opt(self.thread_of(&e.to)),
                Cell::Bool(e.delivered),
                int(e.started_at_unix_ms),
                message.map_or(Cell::Null, Cell::Text),
            ];
            sink.row(id::EDGES, &row)?;
        }
        Ok(())
    }

    fn conversation_items(&self, sink: &mut dyn Sink) -> Result<(), ExportError> {
        let mut words = HashMap::new();
        for i in self.state.conversation_items.values() {
            let (producer_type, producer_id) = match i.produced_by.first() {
                None => (None, None),
                Some(Producer::Inference(id)) => (Some("inference"), Some(id.as_str())),
                Some(Producer::ToolCall(id)) => (Some("tool_call"), Some(id.as_str())),
                Some(Producer::CodeCell(id)) => (Some("code_cell"), Some(id.as_str())),
                Some(Producer::Compaction(id)) => (Some("compaction"), Some(id.as_str())),
                Some(Producer::Edge(id)) => (Some("edge"), Some(id.as_str())),
            };
            let row = [
                self.rid(),
                text(&i.item_id),
                text(&i.thread_id),
                opt(i.turn_id.as_deref()),
                Cell::Text(Cow::Owned(item_kind(i.kind, &mut words))),
                opt(i.role.as_deref()),
                opt(i.call_id.as_deref()),
                opt(i.name.as_deref()),
                opt(i.status.as_deref()),
                text(&i.text),
                int(i.first_seen_at_unix_ms),
                int(i.first_seen_seq),
                opt(producer_type),
                opt(producer_id),
            ];
            sink.row(id::CONVERSATION_ITEMS, &row)?;
        }
        Ok(())
    }

    fn diagnostics(&self, sink: &mut dyn Sink) -> Result<(), ExportError> {
        for (n, d) in self.state.diagnostics.iter().enumerate() {
            let level = match d.level {
                DiagnosticLevel::Info => "info",
                DiagnosticLevel::Warning => "warning",
            };
            let row = [
                self.rid(),
                count(n),
                text(level),
                text(&d.message),
                opt_int(d.seq),
            ];
            sink.row(id::DIAGNOSTICS, &row)?;
        }
        Ok(())
    }

    /// One `payloads` row: the graph's index entry for `seq` (when it has one), the role and
    /// size the record states, and the body when given.
    pub(crate) fn payload_row(
        &self,
        seq: u64,
        head: Option<(&str, u64, bool)>,
        body: Option<&str>,
        sink: &mut dyn Sink,
    ) -> Result<(), ExportError> {
        let known: Option<&PayloadRef> = self.state.payloads.get(&seq);
        let (role, bytes, truncated) = match (head, known) {
            (Some(head), _) => head,
            (None, Some(p)) => (p.role.as_str(), p.bytes, p.truncated),
            (None, None) => return Ok(()),
        };
        let owner = known.map(|p| anchor(&p.owner));
        let (owner_type, owner_id) = match owner {
            Some((t, id)) => (text(t), Cell::Text(id)),
            None => (Cell::Null, Cell::Null),
        };
        let row = [
            self.rid(),
            int(seq),
            text(role),
            owner_type,
            owner_id,
            int(bytes),
            Cell::Bool(truncated),
            opt(body),
        ];
        sink.row(id::PAYLOADS, &row)
    }
}

/// The `unpriced` column's word for why a call has no cost.
fn unpriced_word(why: &Unpriced) -> &'static str {
    match why {
        Unpriced::NoModel => "no_model",
        Unpriced::NoUsage => "no_usage",
        Unpriced::NoPrice { .. } => "no_price",
        Unpriced::NoRate { .. } => "no_rate",
    }
}

/// The `rollouts` row of a bundle that could not be reduced: its id, where it is, and why.
pub(crate) fn failed_rollout(
    rollout_id: &str,
    bundle: &str,
    error: &str,
    sink: &mut dyn Sink,
) -> Result<(), ExportError> {
    let table = &super::schema::TABLES[id::ROLLOUTS];
    let mut row = vec![Cell::Null; table.columns.len()];
    let mut set = |name: &str, cell: Cell<'static>| {
        if let Some(at) = table.column(name) {
            row[at] = cell;
        }
    };
    set("status", status(Status::Incomplete));
    set("complete", Cell::Bool(false));
    row[0] = text(rollout_id);
    if let Some(at) = table.column("bundle") {
        row[at] = text(bundle);
    }
    if let Some(at) = table.column("error") {
        row[at] = text(error);
    }
    sink.row(id::ROLLOUTS, &row)
}
