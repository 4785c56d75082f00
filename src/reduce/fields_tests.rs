//! Reading span fields: leniency in what a value may be, and how a span ended.

use pretty_assertions::assert_eq;
use serde_json::{json, Map, Value};

use super::{end_status, field_i64, field_str, field_u64, unknown_status};
use crate::reduce::Status;

fn fields(value: Value) -> anyhow::Result<Map<String, Value>> {
    match value {
        Value::Object(map) => Ok(map),
        other => anyhow::bail!("not an object: {other}"),
    }
}

#[test]
fn numbers_and_numeric_strings_are_the_same_field_value() -> anyhow::Result<()> {
    let f = fields(json!({"a": 12, "b": "12", "c": 12.0, "d": " -3 ", "e": true, "f": null}))?;
    let u: Vec<_> = ["a", "b", "c", "d"].map(|n| field_u64(&f, n)).into();
    assert_eq!(u, [Some(12), Some(12), Some(12), None]);
    assert_eq!(field_i64(&f, "d"), Some(-3));
    let s: Vec<_> = ["a", "e", "f", "missing"].map(|n| field_str(&f, n)).into();
    assert_eq!(
        s,
        [Some("12".to_owned()), Some("true".to_owned()), None, None]
    );
    Ok(())
}

#[test]
fn an_explicit_status_beats_an_error_and_running_reads_as_completed() -> anyhow::Result<()> {
    let running = fields(json!({"status": "running", "error": "boom"}))?;
    assert_eq!(
        end_status(&running, /*panicking*/ true),
        (Status::Completed, true)
    );
    let cancelled = fields(json!({"status": "interrupted"}))?;
    assert_eq!(end_status(&cancelled, false), (Status::Cancelled, true));
    Ok(())
}

#[test]
fn an_error_or_a_panic_fails_a_span_and_nothing_at_all_is_an_unevidenced_completion(
) -> anyhow::Result<()> {
    let error = fields(json!({"error": "boom"}))?;
    assert_eq!(end_status(&error, false), (Status::Failed, true));
    let null_error = fields(json!({"error": null}))?;
    assert_eq!(end_status(&null_error, true), (Status::Failed, true));
    assert_eq!(end_status(&null_error, false), (Status::Completed, false));
    Ok(())
}

#[test]
fn a_status_word_no_status_parses_to_is_reported_and_ends_the_span_by_its_other_fields(
) -> anyhow::Result<()> {
    let f = fields(json!({"status": "yielded", "error": "boom"}))?;
    assert_eq!(unknown_status(&f), Some("yielded".to_owned()));
    assert_eq!(end_status(&f, false), (Status::Failed, true));
    assert_eq!(unknown_status(&fields(json!({"status": "ok"}))?), None);
    Ok(())
}
