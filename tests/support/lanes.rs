//! Rollouts for the timeline's readability, recorded through the real layer under the current
//! subscriber: a long one (a root agent whose every turn runs a code cell with nested tool
//! calls that finish within microseconds, as local tools and Codex's nested calls do, and a
//! child agent every so many turns), and one with many truly parallel tool calls.
//!
//! Compiled into an example too (`#[path]`), so it imports nothing from its siblings.

#![allow(dead_code, unreachable_pub)]

use tracing::info_span;

/// Tool calls each code cell makes, one after the other.
pub const NESTED: usize = 5;

/// Rollout `long`: `turns` turns of agent `/root`, each an inference call, a code cell with
/// [`NESTED`] sequential nested tool calls and one more tool call; every `child_every` turns
/// the turn also spawns a child agent (`/root/child-N`) that runs 3 turns of its own.
pub fn long_rollout(turns: usize, child_every: usize) {
    let rollout = info_span!("rollout", rollout_id = "long");
    let _rollout = rollout.enter();
    let root = info_span!(
        "rollout.thread",
        thread_id = "root",
        agent_path = "/root",
        nickname = "root"
    );
    let _root = root.enter();
    for turn in 0..turns {
        let span = info_span!("rollout.turn", turn_id = format!("t{turn}").as_str());
        let _turn = span.enter();
        inference("big-model");
        {
            let cell = info_span!(
                "rollout.code_cell",
                cell_id = format!("cell-{turn}").as_str(),
                language = "python"
            );
            let _cell = cell.enter();
            for n in 0..NESTED {
                let _tool = info_span!(
                    "rollout.tool",
                    tool = "read_file",
                    call_id = format!("c{turn}-{n}").as_str()
                )
                .entered();
            }
        }
        {
            let _tool = info_span!(
                "rollout.tool",
                tool = "apply_patch",
                call_id = format!("p{turn}").as_str()
            )
            .entered();
        }
        if child_every > 0 && turn % child_every == child_every - 1 {
            let n = turn / child_every;
            let id = format!("child-{n}");
            let task = format!("Check part {n} of the queue.");
            let tool = info_span!(
                "rollout.tool",
                tool = "spawn_agent",
                kind = "spawn_agent",
                call_id = format!("s{n}").as_str(),
                target_thread_id = id.as_str(),
                message = task.as_str()
            );
            let _tool = tool.enter();
            let child =
                tracing_rollout::child_thread_span(&id, "root", &format!("/root/{id}"), &tool);
            let _child = child.enter();
            for t in 0..3 {
                let _turn =
                    info_span!("rollout.turn", turn_id = format!("{id}-t{t}").as_str()).entered();
                // The child's model is given its task (the spawn edge is delivered).
                let _call = info_span!(
                    "rollout.inference",
                    model = "small-model",
                    status = "completed"
                )
                .entered();
                let request = serde_json::json!({"input": [{"type": "message", "role": "user", "content": task}]});
                tracing::info!(name: "rollout.payload", role = "request", payload = tracing_rollout::json(&request));
                drop(_call);
                let _tool = info_span!(
                    "rollout.tool",
                    tool = "grep",
                    call_id = format!("{id}-g{t}").as_str()
                )
                .entered();
            }
        }
    }
}

/// Rollout `parallel`: one turn whose response started `calls` tool calls that all run at
/// once (each starts before any ends).
pub fn parallel_rollout(calls: usize) {
    let rollout = info_span!("rollout", rollout_id = "parallel");
    let _rollout = rollout.enter();
    let _root = info_span!("rollout.thread", thread_id = "root", agent_path = "/root").entered();
    let _turn = info_span!("rollout.turn", turn_id = "t0").entered();
    inference("big-model");
    let spans: Vec<tracing::Span> = (0..calls)
        .map(|n| {
            info_span!(
                "rollout.tool",
                tool = "fetch",
                call_id = format!("f{n}").as_str()
            )
        })
        .collect();
    drop(spans);
}

/// An inference call with no payloads that says it completed.
fn inference(model: &str) {
    let _call = info_span!("rollout.inference", model = model, status = "completed").entered();
}
