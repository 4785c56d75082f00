//! The writer thread's check of payload text the layer copied unchecked: JSON given as a
//! `&str` (or Debug text) is validated here, off the instrumented threads.
//!
//! Invariant: after [`check_text_body`] the body of the record is one valid JSON value
//! without a raw line break — the text itself when it is JSON (its CR/LF, which can only be
//! whitespace between tokens, turned into spaces), otherwise a JSON string holding it — so
//! the line written stays one record whatever the program passed.

use crate::format::push_json_str;
use crate::json_check::valid_json_has_line_breaks;

/// Finishes a record whose unchecked body starts at `start` and ends before the record's
/// closing `}` (the layer marks it with `Header::set_check`): valid JSON is kept with CR/LF
/// turned into spaces, anything else is stored as a JSON string.
pub(crate) fn check_text_body(rec: &mut Vec<u8>, start: usize) {
    let end = rec.len().saturating_sub(1);
    if start >= end {
        return;
    }
    match valid_json_has_line_breaks(&rec[start..end]) {
        Some(false) => {}
        Some(true) => {
            for b in &mut rec[start..end] {
                if matches!(*b, b'\n' | b'\r') {
                    *b = b' ';
                }
            }
        }
        None => {
            let text = rec.split_off(start);
            push_json_str(rec, &String::from_utf8_lossy(&text[..text.len() - 1]));
            rec.push(b'}');
        }
    }
}
