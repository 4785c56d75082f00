//! How an entity (or the whole rollout) ended: the [`Status`] words of `state.json`.
//!
//! Invariant: each status has one word in `state.json` ([`Status::as_str`]); the words a
//! program may give (`status` fields) map onto these, unknown ones to `None`, never a guess.

use serde::{Deserialize, Serialize};

use crate::vocab::status;

/// How an entity (or the whole rollout) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Started and not ended yet (the bundle is still being written).
    Running,
    /// Ended normally.
    Completed,
    /// Ended with an error, or while panicking.
    Failed,
    /// Stopped on purpose before it finished (for example an interrupted turn).
    Cancelled,
    /// Stopped because something around it stopped.
    Aborted,
    /// Never ended: the log stops before its end (crash, torn file, guard finished early);
    /// or an inference whose span closed with a request but neither a response nor a status,
    /// so how it ended is unknown.
    Incomplete,
}

impl Status {
    /// Parses a program-given `status` field; unknown words are `None`.
    pub fn parse(word: &str) -> Option<Status> {
        Some(match word {
            "running" => Status::Running,
            status::COMPLETED | "complete" | "ok" | "success" | "succeeded" => Status::Completed,
            status::FAILED | "error" | "failure" => Status::Failed,
            status::CANCELLED | "canceled" | "interrupted" => Status::Cancelled,
            status::ABORTED => Status::Aborted,
            "incomplete" => Status::Incomplete,
            _ => return None,
        })
    }

    /// The word used in `state.json`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Running => "running",
            Status::Completed => status::COMPLETED,
            Status::Failed => status::FAILED,
            Status::Cancelled => status::CANCELLED,
            Status::Aborted => status::ABORTED,
            Status::Incomplete => "incomplete",
        }
    }
}
