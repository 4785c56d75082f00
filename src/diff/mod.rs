//! Where two rollouts diverge: threads aligned by agent, steps aligned as sequences, the first
//! divergence with what the model saw differently just before, and the totals side by side.
//!
//! Invariant: [`diff`] reads only the two graphs (request items through
//! [`RolloutState::request_items`]) and its result is a pure function of them; its cost is
//! linear in the graphs plus, per thread, an alignment bounded as `align` explains (anchors
//! first, then a banded edit distance in the gaps), never quadratic in a long thread.
//!
//! The work is split by concern: `steps` turns a thread into steps (an inference call and
//! what its response did) and compares two; `align` aligns two sequences; `pair` aligns one
//! pair of threads and finds its divergences; `cause` compares the two requests of a
//! divergence item by item; `threads` matches threads and walks them parent first; `totals`
//! counts; [`report`](Diff) is the schema (documented as a spec in [`Diff`]'s module, see
//! [`DIFF_FORMAT`]); `text` renders it.
//!
//! # The JSON report
//!
//! `tracing-rollout diff A B --json` prints a [`Diff`] as one JSON object:
//!
//! | key | meaning |
//! |---|---|
//! | `format` | [`DIFF_FORMAT`] (`"tracing-rollout/diff"`) |
//! | `format_version` | [`DIFF_FORMAT_VERSION`] |
//! | `a`, `b` | the two rollouts ([`RunRef`]: `rollout_id`, `status`) |
//! | `first_divergence` | the earliest [`Divergence`] of any thread (by time since each rollout's start), or `null` when every aligned step agrees |
//! | `threads` | one [`ThreadDiff`] per aligned pair of threads (or thread of one side only), parents before their children |
//! | `totals` | [`Totals`]: `{a, b, delta}`, each side's counts and `b − a` |
//!
//! A **step** is one inference call together with what its response did: the tool calls it
//! started (name and arguments) and its message text, or how it failed; ids, timings and
//! reasoning are not part of it. A thread's steps are listed in the order the two threads
//! align ([`StepDiff`] `{op, kind, a, b, tool_changes}`): `same`, `changed` (aligned, the
//! responses differ in `kind`: `outcome`, `tool`, `arguments` or `text`), `only_a` /
//! `only_b` (a step the other side has no counterpart for, such as a retried call). A
//! **divergence** is a run of consecutive steps that are not `same`; its cause is what the
//! two calls at its start were shown differently ([`RequestItemChange`]): a different model
//! or provider, and the request items that differ, each located by position and
//! [`Origin`] (the tool result of a step two steps earlier, the system prompt, a delivered
//! message, …). Fields are only ever added; `format_version` changes when a meaning does.
//!
//! ```json
//! {"format":"tracing-rollout/diff","format_version":1,
//!  "a":{"rollout_id":"run-a","status":"completed"},"b":{"rollout_id":"run-b","status":"completed"},
//!  "first_divergence":{"agent_path":"/root","a_thread_id":"main","b_thread_id":"main",
//!    "step":1,"steps":1,"kind":"tool",
//!    "a":{"index":1,"inference_call_id":"inference:9","turn_id":"t1","model":"m","status":"completed","summary":"grep {\"pattern\":\"fn parse\"}"},
//!    "b":{"index":1,"inference_call_id":"inference:9","turn_id":"t1","model":"m","status":"completed","summary":"message \"CI is green.\""},
//!    "compared_requests":{"a":"inference:9","b":"inference:9"},
//!    "differing_request_items":[{"location":"item","change":"changed",
//!      "a":{"index":2,"item_id":"item:3","kind":"function_call_output","text":"FAILED test_parse",
//!           "origin":{"type":"tool_result","tool":"read_file","tool_call_id":"tool:7","step":0,"steps_before":1}},
//!      "b":{"index":2,"item_id":"item:3","kind":"function_call_output","text":"all tests passed",
//!           "origin":{"type":"tool_result","tool":"read_file","tool_call_id":"tool:7","step":0,"steps_before":1}}}],
//!    "differing_request_items_total":1},
//!  "threads":[{"agent_path":"/root","a_thread_id":"main","b_thread_id":"main","matched_by":"root",
//!    "a_status":"completed","b_status":"completed","parent":null,"spawned_at_step":null,
//!    "counts":{"same":1,"changed":1,"only_a":3,"only_b":0,"tool_changes":1},
//!    "steps":[{"op":"same","a":{"index":0,…},"b":{"index":0,…},
//!              "tool_changes":[{"tool":"read_file","a_tool_call_id":"tool:7","b_tool_call_id":"tool:7",
//!                               "a_status":"completed","b_status":"completed","result":"changed"}]},
//!             {"op":"changed","kind":"tool","a":{…},"b":{…}},
//!             {"op":"only_a","a":{…},"b":null}],
//!    "divergences":[{"step":1,…}]}],
//!  "totals":{"a":{"status":"completed","duration_ms":41,"turns":1,"inference_calls":5,…},
//!            "b":{…},"delta":{"duration_ms":-20,"inference_calls":-3,…}}}
//! ```

mod align;
mod cause;
mod pair;
mod report;
mod steps;
mod text;
mod threads;
mod totals;

pub use report::*;
pub use text::render_text;

use crate::cost::Prices;
use crate::reduce::RolloutState;

/// What [`diff`] reports.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct DiffOptions {
    /// Differences between two requests listed per divergence, at most (the total is
    /// always given). Default 50.
    pub max_request_items: usize,
    /// Prices to cost both rollouts with (`--prices FILE`); without them the totals have no
    /// cost (it is never guessed). Default none.
    pub prices: Option<Prices>,
}

impl Default for DiffOptions {
    fn default() -> Self {
        DiffOptions {
            max_request_items: 50,
            prices: None,
        }
    }
}

impl DiffOptions {
    /// Costs both rollouts with `prices`.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tracing_rollout::{cost::Prices, diff::DiffOptions};
    ///
    /// let options = DiffOptions::default().prices(Prices::load("examples/prices.json")?);
    /// # Ok::<(), tracing_rollout::cost::PricesError>(())
    /// ```
    pub fn prices(mut self, prices: Prices) -> DiffOptions {
        self.prices = Some(prices);
        self
    }
}

/// Compares rollout `a` with rollout `b`: threads aligned by agent path (then nickname, then
/// the steps that spawned them, then spawn order), each thread's steps aligned as a
/// sequence, every divergence with the request items its two calls differ in, and the
/// totals.
///
/// # Examples
///
/// ```no_run
/// use tracing_rollout::{diff, reduce};
///
/// let a = reduce::reduce_bundle("traces/run-a")?;
/// let b = reduce::reduce_bundle("traces/run-b")?;
/// let report = diff::diff(&a, &b, &diff::DiffOptions::default());
/// match &report.first_divergence {
///     None => println!("the runs agree"),
///     Some(d) => println!("{:?} diverges at step {}", d.agent_path, d.step),
/// }
/// # Ok::<(), tracing_rollout::reduce::ReduceError>(())
/// ```
pub fn diff(a: &RolloutState, b: &RolloutState, options: &DiffOptions) -> Diff {
    let (threads, found) = threads::walk(a, b, options.max_request_items);
    // The earliest in time; a divergence with no time after those with one; then thread
    // order (parents first) and step order.
    let first_divergence = found
        .into_iter()
        .min_by_key(|(d, at, thread)| (at.is_none(), *at, *thread, d.step))
        .map(|(d, _, _)| d);
    Diff {
        format: DIFF_FORMAT.to_owned(),
        format_version: DIFF_FORMAT_VERSION,
        a: RunRef {
            rollout_id: a.rollout_id.clone(),
            status: a.status,
        },
        b: RunRef {
            rollout_id: b.rollout_id.clone(),
            status: b.status,
        },
        first_divergence,
        threads,
        totals: totals::totals(a, b, options.prices.as_ref()),
    }
}
