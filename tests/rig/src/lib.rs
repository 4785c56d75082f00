//! Empty: this crate exists for its test (`tests/rig_agent.rs`), which records a real rig
//! agent with `tracing-rollout` and checks the graph the reducer rebuilds.
