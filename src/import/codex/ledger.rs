//! The import's accounting: what became of every raw event and every payload file, and the
//! diagnostics that explain what could not be mapped.
//!
//! Invariant: every raw event line and every payload file the importer reads is counted
//! exactly once, as mapped (it became records the reducer interprets), kept as evidence
//! (written into the bundle, which the reducer indexes but does not interpret), or diagnosed
//! (a diagnostic names it); nothing is dropped without one of the three.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

/// What became of one raw event or payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fate {
    /// Became records the reducer interprets.
    Mapped,
    /// Written into the bundle as evidence only.
    Evidence,
    /// Not understood: a diagnostic names it (it is still kept as evidence where possible).
    Diagnosed,
}

/// Counts per fate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// Became records the reducer interprets.
    pub mapped: u64,
    /// Written into the bundle as evidence only (protocol events, accepted history, …).
    pub evidence: u64,
    /// Named by a diagnostic.
    pub diagnosed: u64,
}

impl Tally {
    /// All counted.
    pub fn total(&self) -> u64 {
        self.mapped + self.evidence + self.diagnosed
    }

    fn add(&mut self, fate: Fate) {
        match fate {
            Fate::Mapped => self.mapped += 1,
            Fate::Evidence => self.evidence += 1,
            Fate::Diagnosed => self.diagnosed += 1,
        }
    }
}

/// The accounting of one imported Codex bundle.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Ledger {
    /// Raw events by `type` (`line` for a line that is no raw event at all).
    pub events: BTreeMap<String, Tally>,
    /// Payload files by kind (`unreferenced` for a file no event names).
    pub payloads: BTreeMap<String, Tally>,
    /// What could not be mapped, and why (also written into the bundle as
    /// `rollout.diagnostic` events, so the reduced graph lists them).
    pub diagnostics: Vec<String>,
}

impl Ledger {
    pub(crate) fn event(&mut self, event_type: &str, fate: Fate) {
        self.events
            .entry(event_type.to_owned())
            .or_default()
            .add(fate);
    }

    pub(crate) fn payload(&mut self, kind: &str, fate: Fate) {
        self.payloads.entry(kind.to_owned()).or_default().add(fate);
    }

    /// Raw events counted.
    pub fn events_total(&self) -> u64 {
        self.events.values().map(Tally::total).sum()
    }

    /// Payload files counted.
    pub fn payloads_total(&self) -> u64 {
        self.payloads.values().map(Tally::total).sum()
    }
}

impl fmt::Display for Ledger {
    /// One line per event type and payload kind: `name  mapped evidence diagnosed`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self
            .events
            .keys()
            .chain(self.payloads.keys())
            .map(String::len)
            .max()
            .unwrap_or(0);
        for (title, map) in [("raw event", &self.events), ("payload", &self.payloads)] {
            writeln!(
                f,
                "{title:<width$}  mapped evidence diagnosed",
                width = width
            )?;
            for (name, t) in map {
                writeln!(
                    f,
                    "{name:<width$}  {:>6} {:>8} {:>9}",
                    t.mapped, t.evidence, t.diagnosed
                )?;
            }
        }
        for d in &self.diagnostics {
            writeln!(f, "diagnostic: {d}")?;
        }
        Ok(())
    }
}
