//! The public reader: every record in the v1 layout, whole payload bodies by seq.

mod support;

use support::fixtures::{demo_trace, DEMO};
use tracing_rollout::format::RecordBody;
use tracing_rollout::reduce::{payload_body, BundleReader, ReduceError};

#[test]
fn reader_yields_every_line_of_a_v1_bundle_and_bodies_by_seq() -> anyhow::Result<()> {
    let file = demo_trace()?;
    let mut reader = BundleReader::open(DEMO)?;
    let mut lines = file.lines();
    let mut payloads = 0;
    while let Some(expanded) = reader.next_record()? {
        assert_eq!(Some(expanded.text.as_str()), lines.next());
        let record = expanded.record()?;
        if let RecordBody::Payload { body, .. } = record.body {
            assert_eq!(payload_body(DEMO, record.seq)?, body.get());
            payloads += 1;
        }
    }
    assert_eq!(lines.next(), None);
    assert!(
        payloads > 10,
        "the demo has many payloads, found {payloads}"
    );
    Ok(())
}

#[test]
fn payload_body_of_a_record_that_is_no_payload_says_what_stands_there() {
    let err = payload_body(DEMO, 1).unwrap_err();
    assert!(
        matches!(err, ReduceError::NotAPayload { seq: 1, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("bundle_started"), "{err}");
    let err = payload_body(DEMO, 1_000_000).unwrap_err();
    assert!(err.to_string().contains("nothing"), "{err}");
}
