//! Nothing vanishes silently (SPEC §5): an unknown `status`, an unknown payload `role`, an
//! unreadable manifest and a `follows_from` to a span that is gone each become a diagnostic
//! in the graph or a counted, reported loss.

mod support;

use anyhow::{ensure, Result};
use support::layer::{record, record_into};
use support::payloads::payload;
use support::spans::{in_rollout, in_thread};
use tracing::info_span;
use tracing_rollout::reduce::{reduce_bundle, Status};
use tracing_rollout::RolloutLayer;

fn has(state: &tracing_rollout::reduce::RolloutState, needle: &str) -> bool {
    state.diagnostics.iter().any(|d| d.message.contains(needle))
}

#[test]
fn an_unknown_status_word_is_a_diagnostic_not_a_silent_completed() -> Result<()> {
    let bundle = record(|| {
        let _r = info_span!("rollout", rollout_id = "s", status = "finished-ish").entered();
        in_thread("main", || {
            info_span!("rollout.tool", call_id = "c", status = "half-done").in_scope(|| {});
        })
    })?;
    let state = bundle.reduce()?;
    ensure!(
        has(&state, "status `half-done`, which is not a known status"),
        "{:?}",
        state.diagnostics
    );
    ensure!(
        has(&state, "`bundle_ended` has status `finished-ish`"),
        "{:?}",
        state.diagnostics
    );
    assert_eq!(state.status, Status::Completed);
    Ok(())
}

#[test]
fn an_unknown_payload_role_is_a_diagnostic_and_the_payload_is_kept() -> Result<()> {
    let bundle = record(|| {
        in_rollout("s", || {
            in_thread("main", || {
                info_span!("rollout.inference", model = "m").in_scope(|| payload("reponse", "{}"));
            })
        })
    })?;
    let state = bundle.reduce()?;
    ensure!(has(&state, "has role `reponse`"), "{:?}", state.diagnostics);
    assert_eq!(state.payloads.len(), 1);
    Ok(())
}

#[test]
fn an_unreadable_manifest_is_a_diagnostic() -> Result<()> {
    let bundle = record(|| in_rollout("s", || {}))?;
    let clean = bundle.reduce()?;
    ensure!(!has(&clean, "manifest.json"), "{:?}", clean.diagnostics);
    std::fs::write(bundle.path.join("manifest.json"), b"{not json")?;
    let state = bundle.reduce()?;
    ensure!(
        has(&state, "cannot parse") && has(&state, "manifest.json"),
        "{:?}",
        state.diagnostics
    );
    std::fs::remove_file(bundle.path.join("manifest.json"))?;
    std::fs::create_dir(bundle.path.join("manifest.json"))?;
    let state = bundle.reduce()?;
    ensure!(has(&state, "cannot read"), "{:?}", state.diagnostics);
    Ok(())
}

#[test]
fn a_follows_from_to_a_span_that_is_gone_is_counted_and_reported() -> Result<()> {
    let root = tempfile::tempdir()?;
    let stats = record_into(root.path(), RolloutLayer::builder(), || {
        in_rollout("s", || {
            in_thread("main", || {
                let gone = info_span!("rollout.inference", model = "m");
                let gone_id = gone.id();
                drop(gone);
                let tool = info_span!("rollout.tool", call_id = "c");
                tool.follows_from(gone_id);
                // Following a span outside the vocabulary is not a loss.
                let other = tracing::info_span!("http.request");
                tool.follows_from(&other);
            })
        })
    })?;
    assert_eq!(stats.unlinked_follows, 1);
    ensure!(
        stats.warnings.iter().any(|w| w.contains("follows_from")),
        "{:?}",
        stats.warnings
    );
    reduce_bundle(&stats.bundles[0])?;
    Ok(())
}
