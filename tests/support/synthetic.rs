//! A synthetic bundle generator for scaling tests and the reducer benchmark: one thread whose
//! context grows by a tool call and its output per inference call, compacted every turn.
//!
//! Writes `trace.jsonl` directly (not through the layer) so a 20 000-call bundle takes well
//! under a second to produce, with the exact record shapes the layer writes.

#![allow(dead_code, unreachable_pub)] // shared by a test and an example, each using part of it

use std::io::Write;
use std::path::Path;

use serde_json::{json, Value};

/// Shape of a synthetic rollout.
#[derive(Debug, Clone, Copy)]
pub struct Synthetic {
    pub turns: u64,
    pub calls_per_turn: u64,
}

impl Synthetic {
    pub fn inference_calls(&self) -> u64 {
        self.turns * self.calls_per_turn
    }

    /// Items the reducer must create: the first user message, a call and an output per
    /// inference call, and per compaction its marker and the one-item summary.
    pub fn expected_items(&self) -> u64 {
        1 + 2 * self.inference_calls() + 2 * self.turns
    }

    /// Writes `manifest.json` and `trace.jsonl` into `dir`; returns the trace size in bytes.
    pub fn write(&self, dir: &Path) -> std::io::Result<u64> {
        std::fs::create_dir_all(dir)?;
        let file = std::fs::File::create(dir.join("trace.jsonl"))?;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
        let seq = std::cell::Cell::new(0u64);
        let mut key = 2u64;
        let line = |out: &mut std::io::BufWriter<std::fs::File>,
                    body: Value|
         -> std::io::Result<()> {
            seq.set(seq.get() + 1);
            let seq = seq.get();
            let mut record = json!({"seq": seq, "t": 1_767_225_600_000u64 + seq, "ns": seq * 1000});
            if let (Some(r), Value::Object(b)) = (record.as_object_mut(), body) {
                r.extend(b);
            }
            serde_json::to_writer(&mut *out, &record)?;
            out.write_all(b"\n")
        };
        line(
            &mut out,
            json!({"type": "bundle_started", "format": "tracing-rollout", "format_version": 1, "rollout_id": "synthetic", "writer": "synthetic"}),
        )?;
        line(
            &mut out,
            json!({"type": "span_started", "span": 1, "kind": "rollout", "name": "rollout", "fields": {"rollout_id": "synthetic"}}),
        )?;
        line(
            &mut out,
            json!({"type": "span_started", "span": 2, "parent": 1, "thread": 2, "kind": "thread", "name": "rollout.thread", "fields": {"thread_id": "main"}}),
        )?;
        let mut history = vec![
            json!({"type": "message", "role": "user", "content": "Process the whole queue, one item per call."}),
        ];
        let mut call_no = 0u64;
        for turn in 0..self.turns {
            key += 1;
            let turn_key = key;
            line(
                &mut out,
                json!({"type": "span_started", "span": turn_key, "parent": 2, "thread": 2, "turn": turn_key, "kind": "turn", "name": "rollout.turn", "fields": {"turn_id": format!("turn-{turn}")}}),
            )?;
            for _ in 0..self.calls_per_turn {
                call_no += 1;
                key += 1;
                let inference = key;
                let call_id = format!("call_{call_no}");
                let call = json!({"type": "function_call", "call_id": call_id, "name": "process", "arguments": format!("{{\"item\":{call_no}}}")});
                line(
                    &mut out,
                    json!({"type": "span_started", "span": inference, "parent": turn_key, "thread": 2, "turn": turn_key, "kind": "inference", "name": "rollout.inference", "fields": {"model": "m"}}),
                )?;
                line(
                    &mut out,
                    json!({"type": "payload", "span": inference, "role": "request", "bytes": 0, "body": {"model": "m", "input": history}}),
                )?;
                line(
                    &mut out,
                    json!({"type": "payload", "span": inference, "role": "response", "bytes": 0, "body": {"id": format!("resp_{call_no}"), "output": [call], "usage": {"input_tokens": 10 * history.len(), "output_tokens": 12}}}),
                )?;
                line(&mut out, json!({"type": "span_ended", "span": inference}))?;
                key += 1;
                let tool = key;
                line(
                    &mut out,
                    json!({"type": "span_started", "span": tool, "parent": turn_key, "thread": 2, "turn": turn_key, "kind": "tool", "name": "rollout.tool", "fields": {"tool": "process", "call_id": call_id}}),
                )?;
                line(
                    &mut out,
                    json!({"type": "payload", "span": tool, "role": "result", "bytes": 0, "body": format!("processed {call_no}")}),
                )?;
                line(&mut out, json!({"type": "span_ended", "span": tool}))?;
                history.push(call);
                history.push(json!({"type": "function_call_output", "call_id": call_id, "output": format!("processed {call_no}")}));
            }
            key += 1;
            let compaction = key;
            let summary = json!({"type": "message", "role": "user", "content": format!("Summary: {call_no} items processed after turn {turn}.")});
            line(
                &mut out,
                json!({"type": "span_started", "span": compaction, "parent": turn_key, "thread": 2, "turn": turn_key, "kind": "compaction", "name": "rollout.compaction", "fields": {}}),
            )?;
            line(
                &mut out,
                json!({"type": "payload", "span": compaction, "role": "checkpoint", "bytes": 0, "body": {"input_history": history, "replacement_history": [summary]}}),
            )?;
            line(&mut out, json!({"type": "span_ended", "span": compaction}))?;
            line(&mut out, json!({"type": "span_ended", "span": turn_key}))?;
            history = vec![summary];
        }
        line(&mut out, json!({"type": "span_ended", "span": 2}))?;
        line(&mut out, json!({"type": "span_ended", "span": 1}))?;
        let records = seq.get() + 1;
        line(
            &mut out,
            json!({"type": "bundle_ended", "status": "completed", "records": records, "dropped_records": 0}),
        )?;
        out.flush()?;
        drop(out);
        let manifest = json!({"format": "tracing-rollout", "format_version": 1, "rollout_id": "synthetic",
            "started_at_unix_ms": 1_767_225_600_000u64, "ended_at_unix_ms": 1_767_225_600_000u64 + records,
            "status": "completed", "records": records, "dropped_records": 0, "writer": "synthetic"});
        std::fs::write(
            dir.join("manifest.json"),
            serde_json::to_vec_pretty(&manifest)?,
        )?;
        Ok(std::fs::metadata(dir.join("trace.jsonl"))?.len())
    }
}
