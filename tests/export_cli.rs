//! `tracing-rollout export otlp|chrome`: outputs where told (or beside the trace), and exit
//! code 3 with the URL and the cause when an OTLP endpoint is unreachable or refuses.
#![cfg(feature = "cli")]

mod support;

use anyhow::Result;
use serde_json::Value;
use support::cli::{cli, succeeded};
use support::fixtures::{demo_copy, DEMO};
use support::receiver::{unused_port, Receiver};

#[test]
fn export_otlp_and_chrome_write_their_files_beside_the_trace_or_where_told() -> Result<()> {
    let dir = demo_copy()?;
    let out = cli().args(["export", "otlp"]).arg(dir.path()).output()?;
    succeeded(&out)?;
    let file = dir.path().join("otlp.jsonl");
    assert_eq!(
        String::from_utf8(out.stdout)?,
        format!("{} (39 spans)\n", file.display())
    );
    let json: Value = serde_json::from_str(std::fs::read_to_string(&file)?.trim_end())?;
    assert!(json["resourceSpans"][0]["scopeSpans"][0]["spans"].is_array());

    let chrome = dir.path().join("elsewhere.json");
    let out = cli()
        .args(["export", "chrome"])
        .arg(dir.path())
        .arg("-o")
        .arg(&chrome)
        .output()?;
    succeeded(&out)?;
    let trace: Value = serde_json::from_str(&std::fs::read_to_string(&chrome)?)?;
    assert!(trace["traceEvents"]
        .as_array()
        .is_some_and(|e| !e.is_empty()));

    let out = cli()
        .args(["export", "otlp", "--no-content", DEMO, "-o"])
        .arg(dir.path().join("bare.jsonl"))
        .output()?;
    succeeded(&out)?;
    assert!(
        !std::fs::read_to_string(dir.path().join("bare.jsonl"))?.contains("gen_ai.input.messages")
    );
    Ok(())
}

#[test]
fn an_unreachable_or_refusing_endpoint_exits_3_naming_the_url() -> Result<()> {
    let url = format!("http://127.0.0.1:{}", unused_port()?);
    let out = cli()
        .args(["export", "otlp", DEMO, "--endpoint", &url])
        .output()?;
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8(out.stderr)?;
    assert!(
        stderr.starts_with(&format!(
            "error: export {DEMO}: reach OTLP endpoint {url}/v1/traces: "
        )),
        "{stderr}"
    );

    let receiver = Receiver::start("415 Unsupported Media Type", "nope")?;
    let out = cli()
        .args(["export", "otlp", DEMO, "--endpoint", &receiver.url])
        .output()?;
    receiver.received()?;
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8(out.stderr)?;
    assert!(stderr.contains("refused with HTTP 415: nope"), "{stderr}");
    Ok(())
}
