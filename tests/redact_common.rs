//! `Redact::common()` (issue 26, item 8), through the real layer: the keys people actually
//! leak — `x-api-key` (Anthropic's header), `api-key`, `apikey`, `x_api_key`,
//! `Proxy-Authorization`, `http.request.header.authorization`, and a header block given as
//! text — each in a span field, a JSON payload and a text payload, never reach the disk, while
//! the same rollout without redaction writes every one of them (so the test can fail) and
//! the bundle still reduces.

mod support;

use anyhow::{ensure, Result};
use serde_json::json;
use support::files::{all_bytes, contains};
use support::layer::record_into;
use support::spans::{in_rollout, in_thread};
use tracing::{info, info_span};
use tracing_rollout::reduce::reduce_bundle;
use tracing_rollout::{Redact, RolloutLayer};

/// One secret per spelling, so a miss names the spelling.
const FORMS: &[(&str, &str)] = &[
    ("x-api-key", "sk-ant-PLANTED-1"),
    ("api-key", "sk-PLANTED-2"),
    ("apikey", "sk-PLANTED-3"),
    ("x_api_key", "sk-PLANTED-4"),
    ("Proxy-Authorization", "Basic PLANTED-5"),
    ("http.request.header.authorization", "Bearer PLANTED-6"),
];

/// The header block secret, given as text.
const HEADER_SECRET: &str = "sk-PLANTED-7";

/// Plants every form: as a span field, as a key of a JSON payload, as a `key: value` line of
/// a text payload, and a header block as text.
fn plant() {
    in_rollout("common", || {
        in_thread("main", || {
            let tool = info_span!(
                "rollout.tool",
                call_id = "c1",
                "x-api-key" = FORMS[0].1,
                "api-key" = FORMS[1].1,
                "apikey" = FORMS[2].1,
                "x_api_key" = FORMS[3].1,
                "Proxy-Authorization" = FORMS[4].1,
                "http.request.header.authorization" = FORMS[5].1,
            );
            tool.in_scope(|| {
                let headers: serde_json::Map<String, serde_json::Value> = FORMS
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), json!(v)))
                    .collect();
                let args = json!({"url": "https://api.example.com", "headers": headers});
                info!(name: "rollout.payload", role = "args", payload = tracing_rollout::json(&args));
                let text: String = FORMS.iter().map(|(k, v)| format!("{k}: {v}\n")).collect();
                info!(name: "rollout.payload", role = "metadata", payload = text.as_str());
                let block = format!(
                    "POST /v1/messages HTTP/1.1\nHost: api.example.com\nAuthorization: Bearer {HEADER_SECRET}\nContent-Type: application/json\n"
                );
                info!(name: "rollout.payload", role = "request", payload = block.as_str());
            });
        })
    });
}

#[test]
fn the_common_preset_keeps_every_leaked_spelling_off_the_disk() -> Result<()> {
    // Without redaction every secret is written: the test can fail.
    let plain = tempfile::tempdir()?;
    record_into(plain.path(), RolloutLayer::builder(), plant)?;
    let written = all_bytes(plain.path())?;
    for (key, secret) in FORMS.iter().chain([&("header block", HEADER_SECRET)]) {
        ensure!(contains(&written, secret), "{key}: not planted");
    }

    let root = tempfile::tempdir()?;
    let builder = RolloutLayer::builder().redact(Redact::common());
    let stats = record_into(root.path(), builder, plant)?;
    assert_eq!(stats.redaction_failures, 0);
    let written = all_bytes(root.path())?;
    for (key, secret) in FORMS.iter().chain([&("header block", HEADER_SECRET)]) {
        assert!(
            !contains(&written, secret),
            "{key}: {secret} reached the disk"
        );
    }
    // What is not a secret stays, and the bundle reduces.
    assert!(contains(&written, "api.example.com"));
    assert!(contains(&written, "Content-Type: application/json"));
    let bundle = stats.bundles.first().cloned().unwrap_or_default();
    let state = reduce_bundle(&bundle)?;
    assert_eq!(state.tool_calls.len(), 1);
    assert_eq!(state.payloads.len(), 3);
    Ok(())
}
