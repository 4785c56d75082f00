//! Codex tool calls, terminal operations and code cells → tool, terminal and code-cell spans.
//!
//! Invariant: a tool call's kind is two-stage in Codex (`tool_call_started.kind`, refined by
//! `tool_call_runtime_started.kind`: `send_input` becomes `send_message`, an MCP tool `mcp`);
//! the span carries the latest, in our vocabulary, and a collab tool gets its target thread
//! and delivered text as the fields our reducer builds edges from (`target_thread_id`,
//! `message`), taken from whichever runtime payload names them first. A tool a code cell
//! asked for is a child of the cell's span; a terminal operation is a child of its tool's.

use std::io;

use serde_json::Value;

use super::ledger::Fate;
use super::map::{our_status, Ctx, Mapper, ToolSpan};
use super::raw::{
    CellResponse, CellStarted, McpCorrelation, PayloadRef, RuntimeStarted, StdinTarget,
    ToolCallEnded, ToolCallStarted, ToolKind,
};
use crate::format::SpanKind;
use crate::import::sink::Fields;
use crate::vocab::{collab, field, role};

/// Codex's tool kind in our vocabulary (collab kinds as in [`collab`]).
fn our_kind(kind: &ToolKind) -> String {
    match kind.kind.as_str() {
        "assign_agent_task" => collab::ASSIGN_TASK.to_owned(),
        other => other.to_owned(),
    }
}

fn is_collab(kind: &str) -> bool {
    matches!(
        kind,
        collab::SPAWN_AGENT | collab::SEND_MESSAGE | collab::ASSIGN_TASK | collab::CLOSE_AGENT
    )
}

fn is_terminal(kind: &str) -> bool {
    matches!(kind, "exec_command" | "write_stdin")
}

/// A JSON value as text: strings as they are, numbers printed.
fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The call's arguments from its invocation payload (`payload.arguments`, a JSON string).
fn arguments(invocation: &Value) -> Option<Value> {
    match invocation.pointer("/payload/arguments")? {
        Value::String(s) => serde_json::from_str(s).ok(),
        other => Some(other.clone()),
    }
}

/// A command as one line (`["bash", "-lc", "ls"]` → `bash -lc ls`).
fn command_line(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::Array(parts) => Some(
            parts
                .iter()
                .map(|p| text(Some(p)).unwrap_or_default())
                .collect::<Vec<_>>()
                .join(" "),
        ),
        other => text(Some(other)),
    }
}

impl Mapper {
    pub(super) fn tool_started(&mut self, ctx: Ctx, s: ToolCallStarted) -> io::Result<Fate> {
        if self.tools.get(&s.tool_call_id).is_some_and(|t| t.open) {
            self.diagnose(format!(
                "tool call {} started again while running; ignored",
                s.tool_call_id
            ))?;
            return Ok(Fate::Diagnosed);
        }
        let mut parent = ctx.span();
        if let Some(r) = s.requester.as_ref().filter(|r| r.name == "code_cell") {
            let cell = r.runtime_cell_id.clone().unwrap_or_default();
            match self.cell_key(ctx.thread_id.as_deref(), &cell) {
                Some((key, _)) => parent = Some(key),
                None => self.diagnose(format!(
                    "tool call {} names code cell {cell}, which never started; requested by \
                     the model as far as the graph knows",
                    s.tool_call_id
                ))?,
            }
        }
        let kind = s.kind.as_ref().map(our_kind);
        let key = self.key();
        // The invocation is read first so the span can carry the tool's name.
        let invocation = self.peek(s.invocation_payload.as_ref());
        let name = invocation
            .as_ref()
            .and_then(|i| text(i.get("tool_name")))
            .or_else(|| {
                s.kind
                    .as_ref()
                    .and_then(|k| k.name.clone().or(k.tool.clone()))
            })
            .or_else(|| kind.clone());
        let fields = Fields::new()
            .opt(field::TOOL, name)
            .opt(field::KIND, kind.clone())
            .opt(field::CALL_ID, s.model_visible_call_id)
            .opt(
                field::MCP_SERVER,
                s.kind.as_ref().and_then(|k| k.server.clone()),
            )
            .put("codex_tool_call_id", s.tool_call_id.clone())
            .opt("code_mode_runtime_tool_id", s.code_mode_runtime_tool_id)
            .opt(
                "tool_namespace",
                invocation
                    .as_ref()
                    .and_then(|i| text(i.get("tool_namespace"))),
            );
        self.sink.span_started(
            key,
            (parent.or(Some(self.rollout)), ctx.thread, ctx.turn),
            SpanKind::Tool,
            &fields,
        )?;
        self.attach(key, role::ARGS, s.invocation_payload.as_ref(), Fate::Mapped)?;
        let args = invocation.as_ref().and_then(arguments);
        let mut tool = ToolSpan {
            key,
            ctx,
            kind: kind.unwrap_or_default(),
            args,
            terminal: None,
            terminal_id: None,
            runtime_seen: false,
            target_done: false,
            open: true,
        };
        if tool.kind == "write_stdin" {
            // Codex builds a write's terminal operation from its arguments: the session is
            // known before (and whether or not) the runtime reports on it.
            let session = tool.args.as_ref().and_then(|a| text(a.get("session_id")));
            let chars = tool.args.as_ref().and_then(|a| text(a.get("chars")));
            let op = if chars.as_deref().unwrap_or("").is_empty() {
                "poll"
            } else {
                "write"
            };
            let fields = Fields::new()
                .put(field::OP, op)
                .opt(field::TERMINAL_ID, session.clone());
            tool.terminal = Some(self.open_terminal(&tool, &fields)?);
            tool.terminal_id = session;
        }
        self.tools.insert(s.tool_call_id, tool);
        Ok(Fate::Mapped)
    }

    fn open_terminal(&mut self, tool: &ToolSpan, fields: &Fields) -> io::Result<u64> {
        let key = self.key();
        self.sink.span_started(
            key,
            (Some(tool.key), tool.ctx.thread, tool.ctx.turn),
            SpanKind::Terminal,
            fields,
        )?;
        Ok(key)
    }

    pub(super) fn mcp_correlation(&mut self, e: McpCorrelation) -> io::Result<Fate> {
        let Some(key) = self.tools.get(&e.tool_call_id).map(|t| t.key) else {
            return self.unknown_entity("tool call", &e.tool_call_id);
        };
        let fields = Fields::new().opt(field::MCP_CALL_ID, e.mcp_call_id);
        self.sink.span_recorded(key, &fields)?;
        Ok(Fate::Mapped)
    }

    /// `stdin_target_resolved`: the write's operation runs in the session of the exec call
    /// that started the process it writes to.
    pub(super) fn stdin_target(&mut self, e: StdinTarget) -> io::Result<Fate> {
        let Some(write) = self.tools.get(&e.tool_call_id) else {
            return self.unknown_entity("tool call", &e.tool_call_id);
        };
        let (write_key, write_terminal) = (write.key, write.terminal);
        let exec = e.exec_tool_call_id.as_deref();
        let session = exec.and_then(|id| self.tools.get(id)?.terminal_id.clone());
        let fields = Fields::new().opt("stdin_target_tool_call_id", e.exec_tool_call_id.clone());
        self.sink.span_recorded(write_key, &fields)?;
        if let (Some(terminal), Some(session)) = (write_terminal, session.clone()) {
            let fields = Fields::new().put(field::TERMINAL_ID, session);
            self.sink.span_recorded(terminal, &fields)?;
        }
        if let Some(write) = self.tools.get_mut(&e.tool_call_id) {
            write.terminal_id = write.terminal_id.take().or(session);
        }
        Ok(Fate::Mapped)
    }

    pub(super) fn runtime_started(&mut self, e: RuntimeStarted) -> io::Result<Fate> {
        let (tool_id, payload) = (e.tool_call_id.as_str(), e.runtime_payload.as_ref());
        let Some(mut tool) = self.tools.remove(tool_id) else {
            return self.unknown_entity("tool call", tool_id);
        };
        if let Some(kind) = e.kind.as_ref() {
            let ours = our_kind(kind);
            if ours != tool.kind {
                let fields = Fields::new()
                    .put(field::KIND, ours.clone())
                    .opt(field::TOOL, kind.tool.clone())
                    .opt(field::MCP_SERVER, kind.server.clone());
                self.sink.span_recorded(tool.key, &fields)?;
                tool.kind = ours;
            }
        }
        tool.runtime_seen = true;
        let done = self.runtime_begin(tool_id, &mut tool, payload);
        self.tools.insert(tool_id.to_owned(), tool);
        done?;
        Ok(Fate::Mapped)
    }

    fn runtime_begin(
        &mut self,
        tool_id: &str,
        tool: &mut ToolSpan,
        payload: Option<&PayloadRef>,
    ) -> io::Result<()> {
        let begin = self.peek(payload);
        if !is_terminal(&tool.kind) {
            self.attach(tool.key, role::METADATA, payload, Fate::Mapped)?;
            if is_collab(&tool.kind) {
                self.collab_target(tool, begin.as_ref())?;
            }
            return Ok(());
        }
        let get = |key: &str| begin.as_ref().and_then(|b| b.get(key));
        let command = command_line(get("command"));
        let cwd = text(get("cwd"));
        let fields = match tool.terminal {
            Some(_) => Fields::new()
                .opt(field::COMMAND, command)
                .opt(field::CWD, cwd),
            None => {
                // Without a process id the operation is its own session, named after it.
                let session = text(get("process_id")).unwrap_or_else(|| tool_id.to_owned());
                tool.terminal_id.get_or_insert_with(|| session.clone());
                Fields::new()
                    .put(field::OP, "exec")
                    .opt(field::COMMAND, command)
                    .opt(field::CWD, cwd)
                    .put(field::TERMINAL_ID, session)
            }
        };
        let key = match tool.terminal {
            Some(key) => {
                self.sink.span_recorded(key, &fields)?;
                key
            }
            None => self.open_terminal(tool, &fields)?,
        };
        tool.terminal = Some(key);
        self.attach(key, role::METADATA, payload, Fate::Mapped)?;
        Ok(())
    }

    /// A collab tool's target thread and delivered text, recorded once both are known
    /// (the text may be the runtime payload's `prompt` or the arguments' `message`).
    fn collab_target(&mut self, tool: &mut ToolSpan, runtime: Option<&Value>) -> io::Result<()> {
        if tool.target_done {
            return Ok(());
        }
        let get = |key: &str| runtime.and_then(|r| text(r.get(key)));
        let target = get("new_thread_id")
            .or_else(|| get("receiver_thread_id"))
            .or_else(|| get("agent_thread_id"));
        let Some(target) = target else {
            return Ok(());
        };
        let message = get("prompt")
            .or_else(|| tool.args.as_ref().and_then(|a| text(a.get("message"))))
            .filter(|_| tool.kind != collab::CLOSE_AGENT);
        let fields = Fields::new()
            .opt(field::MESSAGE, message)
            .put(field::TARGET_THREAD_ID, target);
        tool.target_done = true;
        self.sink.span_recorded(tool.key, &fields)
    }

    pub(super) fn runtime_ended(&mut self, e: ToolCallEnded) -> io::Result<Fate> {
        let tool_id = e.tool_call_id.as_str();
        let Some(mut tool) = self.tools.remove(tool_id) else {
            return self.unknown_entity("tool call", tool_id);
        };
        tool.runtime_seen = true;
        let done = self.runtime_end(&mut tool, e.status, e.runtime_payload.as_ref());
        self.tools.insert(tool_id.to_owned(), tool);
        done?;
        Ok(Fate::Mapped)
    }

    fn runtime_end(
        &mut self,
        tool: &mut ToolSpan,
        status: Option<String>,
        payload: Option<&PayloadRef>,
    ) -> io::Result<()> {
        let end = self.peek(payload);
        if !is_terminal(&tool.kind) {
            self.attach(tool.key, role::METADATA, payload, Fate::Mapped)?;
            if is_collab(&tool.kind) {
                self.collab_target(tool, end.as_ref())?;
            }
            return Ok(());
        }
        let key = match tool.terminal {
            Some(key) => key,
            None => {
                let fields = Fields::new().put(field::OP, "exec");
                self.open_terminal(tool, &fields)?
            }
        };
        self.attach(key, role::METADATA, payload, Fate::Mapped)?;
        let exit_code = end.as_ref().and_then(|e| e.get("exit_code")).cloned();
        let fields = Fields::new()
            .opt(field::EXIT_CODE, exit_code.filter(Value::is_number))
            .opt(field::STATUS, status.as_deref().map(our_status));
        self.sink.span_recorded(key, &fields)?;
        self.sink.span_ended(key)?;
        tool.terminal = None;
        Ok(())
    }

    pub(super) fn tool_ended(&mut self, e: ToolCallEnded) -> io::Result<Fate> {
        let (tool_id, status) = (e.tool_call_id.as_str(), e.status);
        let result = e.result_payload.as_ref();
        let Some(mut tool) = self.tools.remove(tool_id) else {
            return self.unknown_entity("tool call", tool_id);
        };
        if !tool.open {
            self.tools.insert(tool_id.to_owned(), tool);
            self.diagnose(format!(
                "tool call {tool_id} ended twice; the second end is ignored"
            ))?;
            return Ok(Fate::Diagnosed);
        }
        let outcome = self.peek(result);
        if let Err(e) = self.attach(tool.key, role::RESULT, result, Fate::Mapped) {
            self.tools.insert(tool_id.to_owned(), tool);
            return Err(e);
        }
        let error = outcome
            .as_ref()
            .filter(|o| o.get("type").and_then(Value::as_str) == Some("error"))
            .and_then(|o| text(o.get("error")));
        let status = status.as_deref().map(our_status).map(str::to_owned);
        if let Some(terminal) = tool.terminal.take_if(|_| !tool.runtime_seen) {
            // A write the runtime never reported on ends with its call.
            let fields = Fields::new().opt(field::STATUS, status.clone());
            self.sink.span_recorded(terminal, &fields)?;
            self.sink.span_ended(terminal)?;
        }
        let fields = Fields::new()
            .opt(field::STATUS, status)
            .opt(field::ERROR, error);
        self.sink.span_recorded(tool.key, &fields)?;
        self.sink.span_ended(tool.key)?;
        tool.open = false;
        self.tools.insert(tool_id.to_owned(), tool);
        Ok(Fate::Mapped)
    }

    /// The span of runtime cell `cell` in `thread` (any thread when the event names none),
    /// and whether it is still open.
    fn cell_key(&self, thread: Option<&str>, cell: &str) -> Option<(u64, bool)> {
        match thread {
            Some(thread) => self
                .cells
                .get(&(thread.to_owned(), cell.to_owned()))
                .copied(),
            None => self
                .cells
                .iter()
                .find(|((_, id), _)| id == cell)
                .map(|(_, v)| *v),
        }
    }

    pub(super) fn cell_started(&mut self, ctx: Ctx, e: CellStarted) -> io::Result<Fate> {
        let (cell, call_id, source) = (e.runtime_cell_id, e.model_visible_call_id, e.source_js);
        let thread = ctx.thread_id.clone().unwrap_or_default();
        if self
            .cells
            .get(&(thread.clone(), cell.clone()))
            .is_some_and(|(_, open)| *open)
        {
            self.diagnose(format!(
                "code cell {cell} started again while running; ignored"
            ))?;
            return Ok(Fate::Diagnosed);
        }
        // The cell is a child of the model's call that carried its code.
        let carrier = call_id
            .as_deref()
            .and_then(|c| self.tools.get(c))
            .filter(|t| t.ctx.thread_id == ctx.thread_id)
            .map(|t| t.key);
        let key = self.key();
        let fields = Fields::new()
            .put(field::CELL_ID, cell.clone())
            .opt(field::CALL_ID, call_id)
            .put(field::LANGUAGE, "javascript");
        let parent = carrier.or(ctx.span()).or(Some(self.rollout));
        self.sink.span_started(
            key,
            (parent, ctx.thread, ctx.turn),
            SpanKind::CodeCell,
            &fields,
        )?;
        if let Some(source) = source {
            let json = Value::String(source).to_string();
            self.sink.payload(key, role::SOURCE, &json)?;
        }
        self.cells.insert((thread, cell), (key, true));
        Ok(Fate::Mapped)
    }

    pub(super) fn cell_initial(
        &mut self,
        thread: Option<&str>,
        e: CellResponse,
    ) -> io::Result<Fate> {
        let (cell, status, payload) = (
            e.runtime_cell_id.as_str(),
            e.status,
            e.response_payload.as_ref(),
        );
        let Some((key, _)) = self.cell_key(thread, cell) else {
            return self.unknown_entity("code cell", cell);
        };
        self.attach(key, role::OUTPUT, payload, Fate::Mapped)?;
        let fields = match status.as_deref() {
            // A runtime state, not an end: the reducer keeps the cell running.
            Some("yielded") => Fields::new().put(field::STATUS, "yielded"),
            _ => Fields::new().opt("initial_status", status),
        };
        self.sink.span_recorded(key, &fields)?;
        Ok(Fate::Mapped)
    }

    pub(super) fn cell_ended(&mut self, thread: Option<&str>, e: CellResponse) -> io::Result<Fate> {
        let (cell, status, payload) = (
            e.runtime_cell_id.as_str(),
            e.status,
            e.response_payload.as_ref(),
        );
        let found = match thread {
            Some(t) => self.cells.get_mut(&(t.to_owned(), cell.to_owned())),
            None => self
                .cells
                .iter_mut()
                .find(|((_, id), _)| id == cell)
                .map(|(_, v)| v),
        };
        let Some((key, open)) = found else {
            return self.unknown_entity("code cell", cell);
        };
        let key = *key;
        if !std::mem::replace(open, false) {
            self.diagnose(format!(
                "code cell {cell} ended twice; the second end is ignored"
            ))?;
            return Ok(Fate::Diagnosed);
        }
        self.attach(key, role::OUTPUT, payload, Fate::Mapped)?;
        let fields = Fields::new()
            .opt(field::STATUS, status.as_deref().map(our_status))
            .opt("runtime_status", status.clone());
        self.sink.span_recorded(key, &fields)?;
        self.sink.span_ended(key)?;
        Ok(Fate::Mapped)
    }
}
