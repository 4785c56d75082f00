//! Bundles of our format written record by record, as a program other than the layer (an
//! importer, another language's writer) may write them: spans that outlive the span they
//! ran in, events the layer never makes. The lines are the format's own (`format` docs).

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

/// A `trace.jsonl` being written.
pub struct Records {
    lines: Vec<String>,
    t: u64,
}

impl Records {
    /// A bundle of rollout `rollout_id` (its `bundle_started`).
    pub fn new(rollout_id: &str) -> Records {
        let mut r = Records {
            lines: Vec::new(),
            t: 1_760_000_000_000,
        };
        r.push(json!({"type": "bundle_started", "format": "tracing-rollout", "format_version": 2, "rollout_id": rollout_id}));
        r
    }

    fn push(&mut self, mut body: Value) -> &mut Records {
        self.t += 10;
        let seq = self.lines.len() + 1;
        let mut line = json!({"seq": seq, "t": self.t, "ns": seq * 1000});
        if let (Some(line), Some(body)) = (line.as_object_mut(), body.as_object_mut()) {
            line.append(body);
        }
        self.lines.push(line.to_string());
        self
    }

    /// `span_started` of `span` (of `kind`) under `parent`, in thread `thread` and turn `turn`.
    pub fn start(
        &mut self,
        span: u64,
        (parent, thread, turn): (Option<u64>, Option<u64>, Option<u64>),
        kind: &str,
        fields: Value,
    ) -> &mut Records {
        self.push(
            json!({"type": "span_started", "span": span, "parent": parent, "thread": thread,
            "turn": turn, "kind": kind, "name": format!("rollout.{kind}"), "fields": fields}),
        )
    }

    /// `span_recorded`.
    pub fn record(&mut self, span: u64, fields: Value) -> &mut Records {
        self.push(json!({"type": "span_recorded", "span": span, "fields": fields}))
    }

    /// `span_ended`.
    pub fn end(&mut self, span: u64) -> &mut Records {
        self.push(json!({"type": "span_ended", "span": span}))
    }

    /// `event` named `name` in `span`.
    pub fn event(&mut self, span: u64, name: &str, fields: Value) -> &mut Records {
        self.push(json!({"type": "event", "span": span, "name": name, "fields": fields}))
    }

    /// `bundle_ended` with `status`.
    pub fn finish(&mut self, status: &str) -> &mut Records {
        let records = self.lines.len() + 1;
        self.push(json!({"type": "bundle_ended", "status": status, "records": records, "dropped_records": 0}))
    }

    /// Writes `trace.jsonl` into `dir` (created) and returns `dir`.
    pub fn write(&self, dir: &Path) -> std::io::Result<PathBuf> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("trace.jsonl"), self.lines.join("\n") + "\n")?;
        Ok(dir.to_path_buf())
    }
}
