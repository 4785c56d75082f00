//! Codex rollout traces in tests: the agreement harness: import a Codex bundle, reduce it, read
//! Codex's own `state.json` and ours into the same facts ([`facts`]), and list every
//! difference — each one either a deliberate difference named in [`DELIBERATE`] (where our
//! graph says more than the reference, or the reference is wrong) or unexpected.
//!
//! The corpus is `$ROLLOUT_SHARED_DIR/codex-traces`, else `../shared/codex-traces` beside the
//! repository (CI's layout); the Codex CLI for fresh recordings is `$CODEX_BIN`, else
//! `target/codex/node_modules/.bin/codex` (what `.ci/run` installs).

pub mod facts;
pub mod synth;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use facts::Facts;

/// The shared directory (`../shared` beside the repository, or `$ROLLOUT_SHARED_DIR`).
pub fn shared_dir() -> PathBuf {
    match std::env::var_os("ROLLOUT_SHARED_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"),
    }
}

/// The recorded corpus, `shared/codex-traces`.
pub fn corpus_dir() -> Result<PathBuf, String> {
    let dir = shared_dir().join("codex-traces");
    if dir.join("README.md").is_file() {
        Ok(dir)
    } else {
        Err(format!(
            "{} is absent (set ROLLOUT_SHARED_DIR to the directory holding codex-traces/)",
            dir.display()
        ))
    }
}

/// A difference we make on purpose, and how to recognise it.
pub struct Deliberate {
    /// Short name, printed in the table.
    pub name: &'static str,
    /// Whether a difference (entity, attribute, Codex's value, ours) is this one; both
    /// graphs' facts are at hand for context.
    pub matches: fn(&Row, &Facts, &Facts) -> bool,
}

fn is_end_status(v: Option<&str>) -> bool {
    matches!(v, Some("failed" | "cancelled" | "aborted"))
}

/// Every deliberate difference (each documented in the README, "Codex rollout traces").
pub const DELIBERATE: &[Deliberate] = &[
    Deliberate {
        // Upstream keeps the v1 `send_input` edge pending until an inter-agent item appears,
        // which v1 never writes, and drops it at the end.
        name: "send_input delivers a message",
        matches: |r, _, _| {
            r.entity.starts_with("edge message from tool")
                && r.codex.is_none()
                && r.ours
                    .as_deref()
                    .is_some_and(|v| v.contains("delivered=yes"))
        },
    },
    Deliberate {
        // Upstream leaves a call whose turn was interrupted (or whose cell was terminated)
        // `running` forever.
        name: "killed call ends with its turn",
        matches: |r, _, _| {
            r.entity.starts_with("tool ")
                && r.attribute == "status"
                && r.codex.as_deref() == Some("running")
                && is_end_status(r.ours.as_deref())
        },
    },
    Deliberate {
        // Upstream's `thread_ended`/`rollout_ended` say `completed` whatever the turns did.
        name: "status derived from turns",
        matches: |r, _, _| {
            (r.entity.starts_with("thread ") || r.entity == "rollout")
                && r.attribute == "status"
                && r.codex.as_deref() == Some("completed")
                && is_end_status(r.ours.as_deref())
        },
    },
    Deliberate {
        // A v1 task arrives as a plain user message, which upstream does not recognise as a
        // delivery (its edge falls back to the thread); ours finds the message.
        name: "task found in a user message",
        matches: |r, _, _| {
            r.entity.starts_with("edge spawn from")
                && r.codex
                    .as_deref()
                    .map(|v| v.replace("delivered=no", "delivered=yes"))
                    == r.ours
        },
    },
    Deliberate {
        // Upstream has no tool call for a tool the provider ran (a hosted web search).
        name: "hosted tool is a call",
        matches: |r, _, ours| {
            r.entity.starts_with("tool ")
                && r.codex.is_none()
                && ours
                    .get(&(r.entity.clone(), "runtime".to_owned()))
                    .map(String::as_str)
                    == Some("provider")
        },
    },
];

/// One compared fact.
#[derive(Debug, Clone)]
pub struct Row {
    pub entity: String,
    pub attribute: String,
    pub codex: Option<String>,
    pub ours: Option<String>,
    /// `None`: equal; `Some(Ok(name))`: a deliberate difference; `Some(Err(()))`: unexpected.
    pub verdict: Option<Result<&'static str, ()>>,
}

/// Every fact of both sides, with its verdict.
pub fn compare(codex: &Facts, ours: &Facts) -> Vec<Row> {
    let keys: BTreeSet<&(String, String)> = codex.keys().chain(ours.keys()).collect();
    keys.into_iter()
        .map(|key| {
            let mut row = Row {
                entity: key.0.clone(),
                attribute: key.1.clone(),
                codex: codex.get(key).cloned(),
                ours: ours.get(key).cloned(),
                verdict: None,
            };
            if row.codex != row.ours {
                row.verdict = Some(
                    DELIBERATE
                        .iter()
                        .find(|d| (d.matches)(&row, codex, ours))
                        .map(|d| d.name)
                        .ok_or(()),
                );
            }
            row
        })
        .collect()
}

/// The comparison of one bundle: its rows and counts.
pub struct Agreement {
    pub bundle: String,
    pub rows: Vec<Row>,
}

impl Agreement {
    pub fn equal(&self) -> usize {
        self.rows.iter().filter(|r| r.verdict.is_none()).count()
    }

    pub fn unexpected(&self) -> Vec<&Row> {
        self.rows
            .iter()
            .filter(|r| matches!(r.verdict, Some(Err(()))))
            .collect()
    }

    /// Deliberate differences by name, with their counts.
    pub fn deliberate(&self) -> BTreeMap<&'static str, usize> {
        let mut out = BTreeMap::new();
        for r in &self.rows {
            if let Some(Ok(name)) = r.verdict {
                *out.entry(name).or_insert(0) += 1;
            }
        }
        out
    }

    /// The differences as a table: entity, attribute, Codex, ours, verdict.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{}: {} facts, {} equal, {} deliberate, {} unexpected",
            self.bundle,
            self.rows.len(),
            self.equal(),
            self.deliberate().values().sum::<usize>(),
            self.unexpected().len()
        );
        for r in self.rows.iter().filter(|r| r.verdict.is_some()) {
            let verdict = match r.verdict {
                Some(Ok(name)) => format!("deliberate: {name}"),
                _ => "UNEXPECTED".to_owned(),
            };
            let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "(none)".to_owned());
            let _ = writeln!(
                out,
                "  {} | {} | codex: {} | ours: {} | {verdict}",
                r.entity,
                r.attribute,
                show(&r.codex),
                show(&r.ours)
            );
        }
        out
    }
}

/// Imports the Codex bundle `codex` into `out`, reduces it and compares it with Codex's
/// `state.json` in the bundle.
pub fn agree(codex: &Path, out: &Path) -> anyhow::Result<Agreement> {
    let imported = tracing_rollout::import::codex::import(codex, out)?;
    anyhow::ensure!(
        imported.len() == 1,
        "one bundle expected, got {}",
        imported.len()
    );
    let name = codex
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ours = match tracing_rollout::reduce::reduce_bundle(&imported[0].bundle) {
        Ok(ours) => ours,
        Err(e) => {
            let row = Row {
                entity: "bundle".to_owned(),
                attribute: "reduce".to_owned(),
                codex: Some("reduced".to_owned()),
                ours: Some(format!("error: {e}")),
                verdict: Some(Err(())),
            };
            return Ok(Agreement {
                bundle: name,
                rows: vec![row],
            });
        }
    };
    let state_path = codex.join("state.json");
    let text = std::fs::read_to_string(&state_path)
        .map_err(|e| anyhow::anyhow!("read {}: {e}", state_path.display()))?;
    let reference: serde_json::Value = serde_json::from_str(&text)?;
    Ok(Agreement {
        bundle: name,
        rows: compare(&facts::codex_facts(&reference), &facts::our_facts(&ours)),
    })
}
