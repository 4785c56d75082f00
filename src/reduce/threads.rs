//! Threads and turns: a thread per conversation history (attached again on a resume, adopted
//! by the thread that spawned it), its turns, its child threads and the rollout's root thread.
//!
//! Invariant: thread and turn ids are the program's own; a turn id another thread already
//! used is scoped by its thread (`<thread>/<turn>`), since programs number turns per thread,
//! and one thread's id met again is the same thread (a resume), never a second one.

use serde_json::{Map, Value};

use super::fields::{field_str, ThreadFields};
use super::reducer::Reducer;
use super::spans::reopen;
use super::state::{Execution, Thread, Turn};
use crate::format::SpanKind;
use crate::vocab::field;

impl Reducer {
    /// The lifetime of a thread or turn, for the span lifecycle (`spans.rs`), which sets it.
    pub(super) fn thread_execution_mut(
        &mut self,
        kind: SpanKind,
        id: &str,
    ) -> Option<&mut Execution> {
        match kind {
            SpanKind::Thread => self.state.threads.get_mut(id).map(|t| &mut t.execution),
            SpanKind::Turn => self.state.turns.get_mut(id).map(|t| &mut t.execution),
            SpanKind::Rollout
            | SpanKind::Inference
            | SpanKind::Tool
            | SpanKind::CodeCell
            | SpanKind::Terminal
            | SpanKind::Compaction => None,
        }
    }

    /// Starts (or resumes) a thread; returns its id.
    pub(super) fn thread_started(
        &mut self,
        key: u64,
        fields: &Map<String, Value>,
        enclosing_thread: Option<String>,
    ) -> String {
        let id = field_str(fields, field::THREAD_ID)
            .or_else(|| field_str(fields, field::AGENT_ID))
            .unwrap_or_else(|| format!("thread:{key}"));
        *self.live_threads.entry(id.clone()).or_insert(0) += 1;
        if let Some(thread) = self.state.threads.get_mut(&id) {
            // A resume: the same thread attached again.
            thread.attachments += 1;
            reopen(&mut thread.execution);
            return id;
        }
        let parent = field_str(fields, field::PARENT_THREAD_ID).or(enclosing_thread);
        if let Some(p) = parent.as_ref().and_then(|p| self.state.threads.get_mut(p)) {
            p.children.push(id.clone());
        }
        if parent.is_none() && self.state.root_thread_id.is_none() {
            self.state.root_thread_id = Some(id.clone());
        }
        let thread = Thread {
            thread_id: id.clone(),
            agent_path: None,
            parent_thread_id: parent,
            nickname: None,
            role: None,
            model: None,
            execution: self.execution(),
            turns: Vec::new(),
            conversation: Vec::new(),
            attachments: 1,
            children: Vec::new(),
        };
        self.state.threads.insert(id.clone(), thread);
        id
    }

    /// A `rollout.thread` span of thread `id` ended: true while another attachment of the
    /// thread is still open.
    pub(super) fn thread_detached(&mut self, id: &str) -> bool {
        let live = self.live_threads.entry(id.to_owned()).or_insert(1);
        *live = live.saturating_sub(1);
        *live > 0
    }

    /// Starts a turn; returns its id (the program's, made unique if another thread used it).
    pub(super) fn turn_started(
        &mut self,
        key: u64,
        fields: &Map<String, Value>,
        thread: Option<&str>,
    ) -> String {
        let mut id = field_str(fields, field::TURN_ID).unwrap_or_else(|| format!("turn:{key}"));
        if let Some(existing) = self.state.turns.get(&id) {
            if existing.thread_id.as_str() != thread.unwrap_or("") {
                // Programs number turns per thread (every child's turns are 0..n): the id is
                // scoped by its thread, `<thread>/<turn>`, which is nothing to warn about.
                id = format!("{}/{id}", thread.unwrap_or(""));
            } else {
                self.note(format!("turn `{id}` started again; its spans are merged"));
            }
        }
        if let Some((name, thread)) = thread.and_then(|t| Some((t, self.state.threads.get_mut(t)?)))
        {
            if self.thread_turns.insert((name.to_owned(), id.clone())) {
                thread.turns.push(id.clone());
            }
        }
        let turn = Turn {
            turn_id: id.clone(),
            thread_id: thread.unwrap_or_default().to_owned(),
            execution: self.execution(),
            inference_calls: Vec::new(),
            tool_calls: Vec::new(),
            code_cells: Vec::new(),
            compactions: Vec::new(),
        };
        match self.state.turns.get_mut(&id) {
            Some(existing) => existing.execution = turn.execution,
            None => {
                self.state.turns.insert(id.clone(), turn);
            }
        }
        id
    }

    /// The id of the turn the program calls `turn` in `thread` (scoped `<thread>/<turn>` if
    /// another thread used the id first), if it started.
    pub(super) fn turn_named(&self, turn: &str, thread: Option<&str>) -> Option<String> {
        let thread = thread.unwrap_or_default();
        match self.state.turns.get(turn) {
            Some(t) if t.thread_id == thread => Some(turn.to_owned()),
            _ => {
                let scoped = format!("{thread}/{turn}");
                self.state.turns.contains_key(&scoped).then_some(scoped)
            }
        }
    }

    pub(super) fn thread_fields(&mut self, id: &str, f: ThreadFields) {
        if let Some(t) = self.state.threads.get_mut(id) {
            t.agent_path = f.agent_path.or(t.agent_path.take());
            t.nickname = f.nickname.or(t.nickname.take());
            t.role = f.role.or(t.role.take());
            t.model = f.model.or(t.model.take());
        }
    }

    /// Turn `turn` (if any) started entity `id`, made by a span of `kind`: listed in start
    /// order.
    pub(super) fn turn_lists(&mut self, turn: Option<&str>, kind: SpanKind, id: &str) {
        let Some(t) = turn.and_then(|t| self.state.turns.get_mut(t)) else {
            return;
        };
        let list = match kind {
            SpanKind::Inference => &mut t.inference_calls,
            SpanKind::Tool => &mut t.tool_calls,
            SpanKind::CodeCell => &mut t.code_cells,
            SpanKind::Compaction => &mut t.compactions,
            SpanKind::Rollout | SpanKind::Thread | SpanKind::Turn | SpanKind::Terminal => return,
        };
        list.push(id.to_owned());
    }

    /// Appends items to the conversation of thread `id`.
    pub(super) fn thread_lists(&mut self, id: &str, items: Vec<String>) {
        if let Some(t) = self.state.threads.get_mut(id) {
            t.conversation.extend(items);
        }
    }

    /// Thread `child` was spawned from `parent`: a child that named no parent of its own is
    /// adopted (and is no longer the root).
    pub(super) fn adopt_thread(&mut self, child: &str, parent: String) {
        let Some(c) = self.state.threads.get_mut(child) else {
            return;
        };
        if c.parent_thread_id.is_some() {
            return;
        }
        c.parent_thread_id = Some(parent.clone());
        if let Some(p) = self.state.threads.get_mut(&parent) {
            p.children.push(child.to_owned());
        }
        if self.state.root_thread_id.as_deref() == Some(child) {
            self.state.root_thread_id = Some(parent);
        }
    }

    /// End of log: a graph whose threads all have parents still names a root (the first
    /// thread without one, if any).
    pub(super) fn root_thread_at_end(&mut self) {
        if self.state.root_thread_id.is_none() {
            self.state.root_thread_id = self
                .state
                .threads
                .values()
                .find(|t| t.parent_thread_id.is_none())
                .map(|t| t.thread_id.clone());
        }
    }
}
