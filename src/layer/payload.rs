//! Payload capture: [`json`] for `serde::Serialize` values, and the rules that turn any
//! payload (JSON text, `json(&T)`, Debug text, `valuable` values) into one inline JSON body.
//!
//! Invariant: whatever the program passes, the body written is exactly one valid JSON value
//! without raw newlines, so the record stays one line: JSON is copied (validated unless it
//! came from [`json`]), anything else becomes a JSON string, oversized payloads become a
//! truncated JSON string with a marker. Nothing panics and nothing is silently lost.

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;
use std::io;

use serde::Serialize;

use crate::format::{self, PayloadHead};

/// Marks a value to be recorded as JSON: `payload = tracing_rollout::json(&value)`.
///
/// `tracing` field values are a sealed set of types, so this goes through `fmt::Debug`:
/// formatting the returned value serialises `value` with `serde_json` straight into the
/// output, with no intermediate `String`. [`RolloutLayer`](crate::RolloutLayer) recognises
/// the output as trusted JSON and embeds it without re-validating, both as a
/// `rollout.payload` body and as an ordinary span or event field (where it becomes a nested
/// JSON value instead of a string). Other layers see compact JSON text (`{:#?}` gives pretty
/// JSON). If serialisation fails (for example a map with non-string keys), the text written
/// so far is followed by `…[json error: …]` and recorded as a string.
///
/// # Examples
///
/// ```
/// #[derive(serde::Serialize)]
/// struct Args<'a> { path: &'a str, limit: u32 }
///
/// let args = Args { path: "/tmp", limit: 3 };
/// tracing::info!(name: "rollout.payload", role = "args", payload = tracing_rollout::json(&args));
/// assert_eq!(format!("{:?}", tracing_rollout::json(&args)), r#"{"path":"/tmp","limit":3}"#);
/// ```
pub fn json<T: Serialize + ?Sized>(value: &T) -> tracing::field::DebugValue<Json<'_, T>> {
    tracing::field::debug(Json(value))
}

/// A `serde::Serialize` value whose `Debug` output is its JSON text; made by [`json`].
pub struct Json<'a, T: ?Sized>(&'a T);

impl<T: ?Sized> Clone for Json<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: ?Sized> Copy for Json<'_, T> {}

/// Progress of the innermost [`Json`] formatting on this thread, read by the field and
/// payload writers to tell trusted JSON from arbitrary Debug text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JsonState {
    Idle,
    Writing,
    Done,
    Failed,
}

thread_local! {
    static JSON_STATE: Cell<JsonState> = const { Cell::new(JsonState::Idle) };
}

pub(crate) fn json_state() -> JsonState {
    JSON_STATE.try_with(Cell::get).unwrap_or(JsonState::Idle)
}

pub(crate) fn set_json_state(state: JsonState) {
    let _ = JSON_STATE.try_with(|s| s.set(state));
}

impl<T: Serialize + ?Sized> fmt::Debug for Json<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Only a `Json` that starts and ends a capture on its own is trusted: one formatted
        // after another (a Debug impl writing two) or inside another ends as `Failed`, so
        // concatenated or nested output is never embedded as if it were one JSON value.
        let alone = json_state() == JsonState::Idle;
        set_json_state(JsonState::Writing);
        let pretty = f.alternate();
        // A nested `Json` (a `Serialize` impl that formats one) finds the slot empty and
        // uses a fresh buffer, so the take / put back pair needs no borrow tracking.
        let mut buf = JSON_BUF.try_with(Cell::take).unwrap_or_default();
        buf.clear();
        let mut out = Chunked {
            buf: &mut buf,
            f,
            failed: false,
        };
        let mut result = if pretty {
            serde_json::to_writer_pretty(&mut out, self.0)
        } else {
            serde_json::to_writer(&mut out, self.0)
        };
        if result.is_ok() {
            result = io::Write::flush(&mut out).map_err(serde_json::Error::io);
        } else {
            // The text written before the error stays in front of its marker.
            let _ = io::Write::flush(&mut out);
        }
        let fmt_failed = out.failed;
        if buf.capacity() <= JSON_BUF_KEEP_BYTES {
            let _ = JSON_BUF.try_with(|slot| slot.set(buf));
        }
        match result {
            Ok(()) => {
                let clean = alone && json_state() == JsonState::Writing;
                set_json_state(if clean {
                    JsonState::Done
                } else {
                    JsonState::Failed
                });
                Ok(())
            }
            Err(_) if fmt_failed => {
                set_json_state(JsonState::Failed);
                Err(fmt::Error)
            }
            Err(e) => {
                set_json_state(JsonState::Failed);
                write!(f, "…[json error: {e}]")
            }
        }
    }
}

/// Bytes `Json::fmt` gathers before handing them to the formatter.
const JSON_CHUNK_BYTES: usize = 64 * 1024;
/// The largest gathering buffer kept for the thread's next `Json` (one `serde_json` write
/// can exceed a chunk: a long string without escapes arrives in one piece).
const JSON_BUF_KEEP_BYTES: usize = 2 * JSON_CHUNK_BYTES;

thread_local! {
    /// The gathering buffer of [`Chunked`], kept between `Json` values.
    static JSON_BUF: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// Lets `serde_json` write into a `fmt::Formatter`, gathering its many small writes (every
/// key, punctuation mark and piece of string between escapes) into chunks: each formatter
/// write costs a UTF-8 check and a dynamic call into whatever the formatter writes to, which
/// per piece dominated profiles of `json(&value)` payloads.
struct Chunked<'a, 'b, 'c> {
    buf: &'a mut Vec<u8>,
    f: &'b mut fmt::Formatter<'c>,
    failed: bool,
}

impl io::Write for Chunked<'_, '_, '_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        // Flushing only between writes keeps UTF-8 sequences whole: serde_json writes
        // whole sequences per call.
        if self.buf.len() >= JSON_CHUNK_BYTES {
            self.flush()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        // The lossy path is a safety net: serde_json only writes UTF-8.
        let written = match std::str::from_utf8(self.buf) {
            Ok(text) => self.f.write_str(text),
            Err(_) => self.f.write_str(&String::from_utf8_lossy(self.buf)),
        };
        self.buf.clear();
        written.map_err(|fmt::Error| {
            self.failed = true;
            io::Error::other("formatter error")
        })
    }
}

/// Where payload capture stops storing text.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PayloadOptions {
    /// Larger payloads are truncated.
    pub(crate) max_bytes: usize,
    /// False: bodies are omitted (`null`), sizes still recorded.
    pub(crate) capture: bool,
}

impl PayloadOptions {
    fn store_limit(self) -> usize {
        if self.capture {
            self.max_bytes
        } else {
            0
        }
    }
}

/// Collects formatted or serialised text up to a limit while counting all of it, and notes
/// whether it all came from one successful [`Json`] (trusted JSON).
pub(crate) struct Capture<'a> {
    out: &'a mut Vec<u8>,
    limit: usize,
    total: u64,
    mode: CaptureMode,
    tainted: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CaptureMode {
    Empty,
    /// The first text came from a `Json` being written.
    Json,
    Text,
}

impl<'a> Capture<'a> {
    /// Starts capturing into `out` (cleared), storing at most `limit` bytes.
    pub(crate) fn new(out: &'a mut Vec<u8>, limit: usize) -> Capture<'a> {
        out.clear();
        set_json_state(JsonState::Idle);
        Capture {
            out,
            limit,
            total: 0,
            mode: CaptureMode::Empty,
            tainted: false,
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        let in_json = json_state() == JsonState::Writing;
        match self.mode {
            CaptureMode::Empty => {
                self.mode = if in_json {
                    CaptureMode::Json
                } else {
                    CaptureMode::Text
                }
            }
            CaptureMode::Json if !in_json => self.tainted = true,
            CaptureMode::Json | CaptureMode::Text => {}
        }
        self.total += bytes.len() as u64;
        let room = self.limit.saturating_sub(self.out.len());
        self.out.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    /// Ends the capture: (total bytes seen, whether the text is trusted JSON).
    pub(crate) fn finish(self) -> (u64, bool) {
        let trusted =
            self.mode == CaptureMode::Json && !self.tainted && json_state() == JsonState::Done;
        set_json_state(JsonState::Idle);
        (self.total, trusted)
    }
}

impl fmt::Write for Capture<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.push(s.as_bytes());
        Ok(())
    }
}

impl io::Write for Capture<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.push(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Room for a `payload` record's keys before its body, and its closing `}`.
const PAYLOAD_HEAD_BYTES: usize = 128;

/// The bytes [`write_payload_record`] appends at most for a payload of `len` bytes stored
/// whole (a truncated or omitted one takes less), to reserve them at once.
pub(crate) fn record_room(len: usize, options: PayloadOptions) -> usize {
    PAYLOAD_HEAD_BYTES + len.min(options.store_limit())
}

/// Appends the `payload` record from `"type":` to its closing `}` for a payload whose text
/// (up to `max_bytes` of it) is `text`, `total` bytes in all. `trusted`: the text is JSON
/// produced by `serde_json` and is written as is.
///
/// Untrusted text stored whole is copied unchecked: validating it would be the most
/// expensive step on the instrumented thread. The returned offset is where that body starts
/// in `rec`; the writer thread finishes it (`writer::check`) before anything is written. `None`: the record is already final (trusted, empty, truncated or omitted).
pub(crate) fn write_payload_record(
    rec: &mut Vec<u8>,
    span: u64,
    role: &str,
    text: &[u8],
    total: u64,
    trusted: bool,
    options: PayloadOptions,
) -> Option<usize> {
    let mut head = PayloadHead {
        span,
        role: Cow::Borrowed(role),
        bytes: total,
        truncated: false,
        cut_bytes: 0,
        omitted: false,
    };
    if !options.capture {
        head.omitted = true;
        format::begin_payload(rec, &head);
        rec.extend_from_slice(b"null}");
        return None;
    }
    if total > options.max_bytes as u64 {
        let stored = &text[..text.len().min(options.max_bytes)];
        let kept = match std::str::from_utf8(stored) {
            Ok(s) => s,
            // Cut inside a character: keep the complete ones.
            Err(e) => std::str::from_utf8(&stored[..e.valid_up_to()]).unwrap_or_default(),
        };
        head.truncated = true;
        head.cut_bytes = total - kept.len() as u64;
        format::begin_payload(rec, &head);
        rec.push(b'"');
        format::push_escaped(rec, kept);
        format::push_escaped(rec, &format!("…[truncated {} bytes]", head.cut_bytes));
        rec.extend_from_slice(b"\"}");
        return None;
    }
    // One allocation for the whole record, not a chain of doublings that each copy it.
    rec.reserve(PAYLOAD_HEAD_BYTES + text.len());
    format::begin_payload(rec, &head);
    if text.is_empty() && !trusted {
        // Not JSON, and nothing for the writer thread to check.
        rec.extend_from_slice(b"\"\"}");
        return None;
    }
    let start = rec.len();
    rec.extend_from_slice(text);
    rec.push(b'}');
    (!trusted).then_some(start)
}

/// Formats a Debug payload into `scratch`, then appends its `payload` record to `rec`;
/// returns [`write_payload_record`]'s offset of an unchecked body.
pub(crate) fn write_debug_payload(
    rec: &mut Vec<u8>,
    scratch: &mut Vec<u8>,
    span: u64,
    role: &str,
    value: &dyn fmt::Debug,
    options: PayloadOptions,
) -> Option<usize> {
    let mut capture = Capture::new(scratch, options.store_limit());
    let formatted = fmt::Write::write_fmt(&mut capture, format_args!("{value:?}"));
    let (total, trusted) = capture.finish();
    let trusted = trusted && formatted.is_ok();
    write_payload_record(rec, span, role, scratch, total, trusted, options)
}

/// Serialises a `valuable` payload into `scratch`, then appends its `payload` record.
#[cfg(all(tracing_unstable, feature = "valuable"))]
pub(crate) fn write_valuable_payload(
    rec: &mut Vec<u8>,
    scratch: &mut Vec<u8>,
    span: u64,
    role: &str,
    value: valuable::Value<'_>,
    options: PayloadOptions,
) -> Option<usize> {
    let mut capture = Capture::new(scratch, options.store_limit());
    let serialised = serde_json::to_writer(&mut capture, &valuable_serde::Serializable::new(value));
    let (total, _) = capture.finish();
    if serialised.is_ok() {
        write_payload_record(
            rec, span, role, scratch, total, /*trusted*/ true, options,
        )
    } else {
        write_debug_payload(rec, scratch, span, role, &value, options)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::writer::check::check_text_body;
    use pretty_assertions::assert_eq;
    use std::collections::BTreeMap;

    const OPTIONS: PayloadOptions = PayloadOptions {
        max_bytes: 64,
        capture: true,
    };

    /// The record as the writer thread writes it: instrumented-thread part, then the check.
    fn finished(mut rec: Vec<u8>, unchecked: Option<usize>) -> String {
        if let Some(start) = unchecked {
            check_text_body(&mut rec, start);
        }
        String::from_utf8(rec).unwrap()
    }

    fn str_payload(text: &str, options: PayloadOptions) -> String {
        let mut rec = Vec::new();
        let total = text.len() as u64;
        let unchecked = write_payload_record(
            &mut rec,
            1,
            "r",
            text.as_bytes(),
            total,
            /*trusted*/ false,
            options,
        );
        finished(rec, unchecked)
    }

    fn debug_payload(value: &dyn fmt::Debug, options: PayloadOptions) -> String {
        let (mut rec, mut scratch) = (Vec::new(), Vec::new());
        let unchecked = write_debug_payload(&mut rec, &mut scratch, 1, "r", value, options);
        finished(rec, unchecked)
    }

    const HEAD: &str = r#""type":"payload","span":1,"role":"r","#;

    #[test]
    fn valid_json_text_is_copied_with_line_breaks_turned_into_spaces() {
        let text = "{\"a\":\n[1,\r\n2],\"s\":\"x\\ny\"}";
        assert_eq!(
            str_payload(text, OPTIONS),
            format!(
                "{HEAD}\"bytes\":{},\"body\":{{\"a\": [1,  2],\"s\":\"x\\ny\"}}}}",
                text.len()
            )
        );
    }

    #[test]
    fn only_untrusted_text_stored_whole_is_left_for_the_writer_thread_to_check() {
        let cases: [(&str, Option<&str>); 6] = [
            (
                "{\"a\":\n[1,\r\n2],\"s\":\"x\\ny\"}",
                Some(r#"{"a": [1,  2],"s":"x\ny"}"#),
            ),
            ("hello \"world\"\n", Some(r#""hello \"world\"\n""#)),
            ("", None),
            ("[1, 2", Some(r#""[1, 2""#)),
            ("\"é\"", Some("\"é\"")),
            (&"x".repeat(100), None), // truncated: final on the instrumented thread
        ];
        for (text, checked_body) in cases {
            let mut rec = Vec::new();
            let total = text.len() as u64;
            let unchecked =
                write_payload_record(&mut rec, 1, "r", text.as_bytes(), total, false, OPTIONS);
            assert_eq!(unchecked.is_some(), checked_body.is_some(), "{text:?}");
            if let Some(body) = checked_body {
                assert_eq!(
                    finished(rec, unchecked),
                    format!("{HEAD}\"bytes\":{total},\"body\":{body}}}")
                );
            }
        }
        let mut rec = Vec::new();
        let trusted =
            write_payload_record(&mut rec, 1, "r", b"[1]", 3, /*trusted*/ true, OPTIONS);
        assert_eq!(trusted, None);
    }

    #[test]
    fn text_that_is_not_json_is_stored_as_a_string() {
        assert_eq!(
            str_payload("hello \"world\"\n", OPTIONS),
            format!(r#"{HEAD}"bytes":14,"body":"hello \"world\"\n"}}"#)
        );
    }

    #[test]
    fn oversized_payloads_are_cut_at_a_char_boundary_with_a_marker() {
        let text = format!("{}é{}", "a".repeat(63), "b".repeat(36)); // é straddles byte 64
        let rec = str_payload(&text, OPTIONS);
        let cut = text.len() - 63;
        assert_eq!(
            rec,
            format!(
                r#"{HEAD}"bytes":{},"truncated":true,"cut_bytes":{cut},"body":"{}…[truncated {cut} bytes]"}}"#,
                text.len(),
                "a".repeat(63)
            )
        );
    }

    #[test]
    fn omitted_payloads_keep_their_size_and_a_null_body() {
        let options = PayloadOptions {
            capture: false,
            ..OPTIONS
        };
        assert_eq!(
            debug_payload(&json(&[1, 2, 3]), options),
            format!(r#"{HEAD}"bytes":7,"omitted":true,"body":null}}"#)
        );
    }

    #[test]
    fn json_values_are_embedded_as_json_and_other_debug_text_as_strings() {
        let map: BTreeMap<&str, Vec<u8>> = [("k", vec![1, 2])].into_iter().collect();
        assert_eq!(
            debug_payload(&json(&map), OPTIONS),
            format!(r#"{HEAD}"bytes":11,"body":{{"k":[1,2]}}}}"#)
        );
        assert_eq!(
            debug_payload(&Some(3), OPTIONS),
            format!(r#"{HEAD}"bytes":7,"body":"Some(3)"}}"#)
        );
        // Debug text that happens to be JSON is validated and embedded.
        assert_eq!(
            debug_payload(&[1, 2], OPTIONS),
            format!(r#"{HEAD}"bytes":6,"body":[1, 2]}}"#)
        );
    }

    #[test]
    fn a_failing_serialisation_is_kept_as_a_string_with_the_error() {
        let bad: BTreeMap<(u8, u8), u8> = [((1, 2), 3)].into_iter().collect();
        let rec = debug_payload(&json(&bad), OPTIONS);
        let body = rec.split_once("\"body\":").unwrap().1.trim_end_matches('}');
        let text: String = serde_json::from_str(body).unwrap();
        assert!(text.contains("…[json error: "), "{text}");
    }

    #[test]
    fn json_text_wrapped_in_other_debug_output_is_not_trusted() {
        struct Wrapper<'a>(Json<'a, [u8; 2]>);
        impl fmt::Debug for Wrapper<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:?} and more", self.0)
            }
        }
        let rec = debug_payload(&Wrapper(Json(&[1, 2])), OPTIONS);
        assert_eq!(
            rec,
            format!(r#"{HEAD}"bytes":14,"body":"[1,2] and more"}}"#)
        );
    }

    /// Two `Json` values written back to back by one Debug impl are not one JSON value:
    /// their text is stored as a string, never embedded raw (which would break the line).
    #[test]
    fn consecutive_json_values_in_one_debug_output_are_not_trusted() {
        struct Two;
        impl fmt::Debug for Two {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&json(&BTreeMap::from([("a", 1)])), f)?;
                fmt::Debug::fmt(&json(&BTreeMap::from([("b", 2)])), f)
            }
        }
        let rec = debug_payload(&Two, OPTIONS);
        assert_eq!(
            rec,
            format!(r#"{HEAD}"bytes":14,"body":"{{\"a\":1}}{{\"b\":2}}"}}"#)
        );
    }

    /// Output longer than a gathering chunk reaches the formatter in several writes, whole
    /// and in order, and a value after a long one on the same thread starts clean.
    #[test]
    fn json_longer_than_a_chunk_is_written_whole() {
        let long: Vec<String> = (0..3 * JSON_CHUNK_BYTES / 10)
            .map(|i| format!("é{i}\n"))
            .collect();
        let expected = serde_json::to_string(&long).unwrap();
        assert!(expected.len() > 2 * JSON_CHUNK_BYTES);
        assert_eq!(format!("{:?}", json(&long)), expected);
        assert_eq!(
            format!("{:#?}", json(&long)),
            serde_json::to_string_pretty(&long).unwrap()
        );
        let options = PayloadOptions {
            max_bytes: 1 << 20,
            capture: true,
        };
        let rec = debug_payload(&json(&long), options);
        assert!(
            rec.ends_with(&format!(r#""body":{expected}}}"#)),
            "{}",
            &rec[..200]
        );
        assert_eq!(format!("{:?}", json(&[1, 2])), "[1,2]");
    }

    /// A serialisation that fails after more than a chunk keeps the text before the error
    /// in front of the marker.
    #[test]
    fn a_late_serialisation_error_follows_the_text_written_before_it() {
        #[derive(Serialize)]
        struct Late {
            text: String,
            bad: BTreeMap<(u8, u8), u8>,
        }
        let late = Late {
            text: "x".repeat(JSON_CHUNK_BYTES + 10),
            bad: [((1, 2), 3)].into_iter().collect(),
        };
        let text = format!("{:?}", json(&late));
        // serde_json opens the map before it meets the bad key.
        let prefix = format!(r#"{{"text":"{}","bad":{{"#, late.text);
        assert!(text.starts_with(&prefix), "{}", &text[..40]);
        assert!(
            text[prefix.len()..].starts_with("…[json error: "),
            "{}",
            &text[prefix.len()..]
        );
    }
}
