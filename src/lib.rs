//! `tracing-rollout`: record LLM-agent rollouts from ordinary `tracing` spans into replayable
//! bundles, and reduce a bundle into the rollout graph.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod format;
