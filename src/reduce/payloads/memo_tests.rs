use pretty_assertions::assert_eq;
use serde_json::json;

use super::*;
use crate::format::{shared_ranges, Shared};
use crate::reduce::payloads::model::PayloadFormat;
use crate::reduce::payloads::{parse_checkpoint, parse_request, parse_response};
use crate::reduce::ItemKind;

/// Entries held, both generations.
fn entries(memo: &ItemMemo) -> usize {
    memo.young.len() + memo.old.len()
}

/// Asserts that the memoised parse of `body` equals the full parse, cold and then warm.
fn same_request(memo: &mut ItemMemo, body: &str, hint: Option<&str>) {
    let full = parse_request(body, hint);
    assert_eq!(memo.request(body, hint, None), full, "cold: {body}");
    assert_eq!(memo.request(body, hint, None), full, "warm: {body}");
}

fn same_response(memo: &mut ItemMemo, body: &str, hint: Option<&str>) {
    let full = parse_response(body, hint);
    assert_eq!(memo.response(body, hint, None), full, "cold: {body}");
    assert_eq!(memo.response(body, hint, None), full, "warm: {body}");
}

fn same_checkpoint(memo: &mut ItemMemo, body: &str) {
    let full = parse_checkpoint(body, None);
    assert_eq!(memo.checkpoint(body, None, None), full, "cold: {body}");
    assert_eq!(memo.checkpoint(body, None, None), full, "warm: {body}");
}

#[test]
fn a_repeated_element_is_parsed_once_and_a_hit_equals_a_fresh_parse() {
    let mut memo = ItemMemo::default();
    let first = json!({"model": "m", "input": [
        {"role": "user", "content": "hi"},
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{\"a\": 1}"},
    ]});
    same_request(&mut memo, &first.to_string(), None);
    assert_eq!(entries(&memo), 2);
    let second = json!({"model": "m", "input": [
        {"role": "user", "content": "hi"},
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{\"a\": 1}"},
        {"type": "function_call_output", "call_id": "c1", "output": "ok"},
    ]});
    same_request(&mut memo, &second.to_string(), None);
    assert_eq!(entries(&memo), 3, "only the new element is added");
}

#[test]
fn the_same_text_in_an_item_list_and_a_messages_list_parses_by_its_list() {
    // As an item this is a reasoning item; as a message, a user message.
    let element = json!({"type": "reasoning", "role": "user", "summary": []});
    let as_messages = json!({"messages": [element]}).to_string();
    let as_items = json!({"input": [element]}).to_string();
    let mut memo = ItemMemo::default();
    for body in [&as_messages, &as_items, &as_messages] {
        same_request(&mut memo, body, None);
    }
    let kinds: Vec<_> = [&as_messages, &as_items]
        .iter()
        .map(|body| memo.request(body, None, None).map(|r| r.items[0].kind))
        .collect();
    assert_eq!(
        kinds,
        vec![Ok(ItemKind::Message), Ok(ItemKind::Reasoning)],
        "the two parses differ, so a shared entry would be wrong"
    );
}

#[test]
fn the_format_follows_the_hint_and_the_evidence_of_memoised_messages() {
    let plain = json!({"messages": [{"role": "user", "content": "hi"}]}).to_string();
    let tool = json!({"messages": [{"role": "user", "content": "hi"},
        {"role": "tool", "tool_call_id": "c", "content": "ok"}]})
    .to_string();
    let mut memo = ItemMemo::default();
    for hint in [None, Some("anthropic"), Some("openai")] {
        same_request(&mut memo, &plain, hint);
        same_request(&mut memo, &tool, hint);
    }
    let formats: Vec<_> = [Some("openai"), Some("Anthropic")]
        .into_iter()
        .map(|hint| memo.request(&plain, hint, None).map(|r| r.format))
        .collect();
    assert_eq!(
        formats,
        vec![
            Ok(PayloadFormat::OpenAiChat),
            Ok(PayloadFormat::AnthropicMessages)
        ]
    );
    assert_eq!(
        memo.request(&tool, Some("anthropic"), None)
            .map(|r| r.format),
        Ok(PayloadFormat::OpenAiChat)
    );
}

#[test]
fn requests_of_every_shape_parse_as_the_full_parse_does() {
    let bodies = [
        json!({"input": "hello", "previous_response_id": null}).to_string(),
        json!({"input": [{"type": "function_call_output", "call_id": "c", "output": "ok"}],
            "previous_response_id": "resp_1"})
        .to_string(),
        json!({"input": [], "previous_response_id": 7}).to_string(),
        json!({"input": 7}).to_string(),
        json!({"input": [{"content": "no role"}]}).to_string(),
        json!({"input": [{"type": "mystery", "role": "user", "data": [1, 2.5, null, true]}]})
            .to_string(),
        json!({"system": [{"type": "text", "text": "be brief", "cache_control": {}}],
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": "a"},
                {"type": "tool_use", "id": "t", "name": "ls", "input": {"d": "."}},
                {"type": "image", "source": {"data": "..."}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t",
                    "content": "x", "is_error": true}]}]})
        .to_string(),
        json!({"messages": [{"role": "assistant", "content": null, "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}]})
        .to_string(),
        json!({"messages": "not a list"}).to_string(),
        json!({"messages": [{"role": "user", "content": 7}]}).to_string(),
        json!({"system": 7, "messages": []}).to_string(),
        json!({"prompt": "hi"}).to_string(),
        "[1, 2]".to_owned(),
        "\"text\"".to_owned(),
        "not json".to_owned(),
        // Repeated keys: the last one counts, and a repeated list is left to the full parse.
        r#"{"input": [{"role": "user", "content": "a"}], "input": [{"role": "user", "content": "b"}]}"#.to_owned(),
        r#"{"previous_response_id": 1, "input": [], "previous_response_id": "r"}"#.to_owned(),
        // An escaped key is the key it spells.
        r#"{"inp\u0075t": [{"role": "user", "content": "escaped"}]}"#.to_owned(),
        // JSON the full parse refuses, in an ignored field or in an element.
        r#"{"model": 1e400, "input": [{"role": "user", "content": "a"}]}"#.to_owned(),
        r#"{"model": "\ud800", "input": [{"role": "user", "content": "a"}]}"#.to_owned(),
        r#"{"input": [{"role": "user", "content": "a", "n": -1e999}]}"#.to_owned(),
        r#"{"input": [{"role": "user", "content": "\udc00"}]}"#.to_owned(),
        // Keys serde_json's `Value` treats specially.
        r#"{"$serde_json::private::RawValue": "{\"input\": \"inner\"}"}"#.to_owned(),
        r#"{"tools": {"$serde_json::private::RawValue": 5}, "input": "x"}"#.to_owned(),
        r#"{"input": [{"$serde_json::private::RawValue": "{\"role\": \"user\"}"}]}"#.to_owned(),
        r#"{"input": [{"role": "user", "content": "a"}]} trailing"#.to_owned(),
    ];
    let mut memo = ItemMemo::default();
    for body in &bodies {
        same_request(&mut memo, body, None);
        same_request(&mut memo, body, Some("anthropic"));
    }
}

#[test]
fn elements_are_accepted_exactly_as_deep_as_the_full_parse_allows() {
    let mut memo = ItemMemo::default();
    // Root object and list are two levels, the element a third: 124 more fit, 125 do not.
    for extra in [123, 124, 125, 126] {
        let nested = format!("{}{}", "[".repeat(extra), "]".repeat(extra));
        let body =
            format!(r#"{{"input": [{{"role": "user", "content": "a", "deep": {nested}}}]}}"#);
        same_request(&mut memo, &body, None);
        let ignored = format!(r#"{{"input": "a", "deep": {nested}}}"#);
        same_request(&mut memo, &ignored, None);
    }
    assert!(parse_request(
        &format!(
            r#"{{"input": [{{"role": "user", "content": "a", "deep": {}{}}}]}}"#,
            "[".repeat(125),
            "]".repeat(125)
        ),
        None
    )
    .is_err());
}

#[test]
fn responses_of_every_shape_parse_as_the_full_parse_does() {
    let bodies = [
        json!({"id": "r", "output": [{"type": "message", "role": "assistant",
            "content": [{"type": "output_text", "text": "done"}]}],
            "usage": {"input_tokens": 3, "output_tokens": 1}})
        .to_string(),
        json!({"response_id": "r", "output_items": [], "token_usage": {"input_tokens": 1}})
            .to_string(),
        json!({"id": "r", "output": null}).to_string(),
        json!({"type": "response.completed", "response": {"id": "r", "output": [
            {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"}]}})
        .to_string(),
        json!({"id": "c", "choices": [{"message": {"role": "assistant", "content": "hi",
            "tool_calls": [{"id": "t", "type": "function",
                "function": {"name": "f", "arguments": "{}"}}]}}],
            "usage": {"prompt_tokens": 4}})
        .to_string(),
        json!({"id": "m", "type": "message", "role": "assistant", "content": [
            {"type": "text", "text": "a"}, {"type": "tool_use", "id": "t", "name": "f",
            "input": {}}], "usage": {"input_tokens": 1, "cache_read_input_tokens": 2}})
        .to_string(),
        json!({"content": [{"type": "text", "text": "a"}]}).to_string(),
        json!({"output": "not a list"}).to_string(),
        json!({"result": "hi"}).to_string(),
        // Error bodies, hosted tools, streams (an event array, SSE text).
        json!({"error": {"type": "invalid_request_error", "message": "no"}}).to_string(),
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
            .to_string(),
        json!({"id": "r", "status": "failed", "error": {"code": "server_error"}, "output": []})
            .to_string(),
        json!({"id": "r", "error": null, "output": [
            {"id": "ws_1", "type": "web_search_call", "status": "completed",
             "action": {"type": "search", "query": "q"}}]})
        .to_string(),
        json!([{"type": "message_start", "message": {"id": "m", "role": "assistant", "content": []}},
               {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
               {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "hi"}}])
        .to_string(),
        json!("data: {\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n")
            .to_string(),
    ];
    let mut memo = ItemMemo::default();
    for body in &bodies {
        same_response(&mut memo, body, None);
        same_response(&mut memo, body, Some("anthropic"));
    }
}

#[test]
fn checkpoints_parse_as_the_full_parse_does() {
    let bodies = [
        json!({"input_history": [{"role": "user", "content": "a"}],
            "replacement_history": [{"role": "user", "content": "summary"}]})
        .to_string(),
        json!({"input_history": [{"role": "user", "content": "a"}]}).to_string(),
        json!({"input_history": {}, "replacement_history": []}).to_string(),
        json!({"input_history": [{"type": "function_call"}], "replacement_history": []})
            .to_string(),
        "[]".to_owned(),
    ];
    let mut memo = ItemMemo::default();
    for body in &bodies {
        same_checkpoint(&mut memo, body);
    }
}

#[test]
fn old_entries_are_dropped_once_a_generation_fills() {
    let mut memo = ItemMemo::default();
    let filler = "x".repeat(1000);
    let body = |n: usize| {
        json!({"input": [{"role": "user", "content": format!("{n} {filler}")}]}).to_string()
    };
    let elements = 3 * MIN_GENERATION_BYTES / 1000;
    for n in 0..elements {
        same_request(&mut memo, &body(n), None);
    }
    assert!(
        entries(&memo) <= 2 * MIN_GENERATION_BYTES / (1000 + ENTRY_OVERHEAD) + 2,
        "{} entries",
        entries(&memo)
    );
    assert!(memo.young_bytes <= MIN_GENERATION_BYTES);
}

#[test]
fn text_hash_depends_on_every_byte_and_the_length() {
    let texts: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"\0".to_vec(),
        b"\0\0".to_vec(),
        b"0123456789abcdef".to_vec(),
        b"0123456789abcdeg".to_vec(),
        b"0123456789abcdef0".to_vec(),
        b"1123456789abcdef0".to_vec(),
    ];
    let mut hashes: Vec<u64> = texts.iter().map(|text| text_hash(text)).collect();
    hashes.sort_unstable();
    hashes.dedup();
    assert_eq!(hashes.len(), texts.len());
}

/// The references each of `bodies` holds when the writer stores them as payload records
/// 1, 2, … (none for a body it writes whole).
fn references(bodies: &[String]) -> Vec<Vec<Shared>> {
    use crate::format::{PayloadStore, Record, RecordBody};
    let mut store = PayloadStore::default();
    bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            let record = format!(
                "\"type\":\"payload\",\"span\":1,\"role\":\"request\",\"bytes\":{},\"body\":{body}}}",
                body.len()
            );
            let mut encoded = b"{\"seq\":1,\"t\":0,\"ns\":0,".to_vec();
            if !store.encode_and_keep(i as u64 + 1, record.as_bytes(), &mut encoded) {
                return Vec::new();
            }
            let line = String::from_utf8(encoded).unwrap();
            match Record::parse(&line).unwrap().body {
                RecordBody::PayloadParts { parts, .. } => shared_ranges(parts).unwrap(),
                _ => Vec::new(),
            }
        })
        .collect()
}

/// Parses `bodies` in order with origins, each as the full parse does; returns how many took
/// elements from an earlier body's table.
fn same_requests_reusing(memo: &mut ItemMemo, bodies: &[String], shared: &[Vec<Shared>]) -> usize {
    let mut reused = 0;
    for (i, (body, shared)) in bodies.iter().zip(shared).enumerate() {
        let origin = Origin {
            seq: i as u64 + 1,
            shared,
        };
        reused += usize::from(memo.reusing(body, &REQUEST_KEYS, origin).is_some());
        let full = parse_request(body, None);
        assert_eq!(
            memo.request(body, None, Some(origin)),
            full,
            "body {i}: {body}"
        );
    }
    reused
}

/// A growing history stored by the writer: each request copies the last one's elements by
/// reference, the memo takes them from its table, and every body still parses as the full
/// parse does — through edits in the middle, escapes, non-ASCII text and a dropped prefix.
#[test]
fn elements_copied_by_reference_are_reused_and_parse_as_the_full_parse_does() {
    let mut items: Vec<serde_json::Value> = Vec::new();
    let mut bodies = Vec::new();
    for i in 0..60 {
        let text = format!(
            "turn {i}: {}",
            "lorem \"ipsum\" é dolor\n sit ".repeat(8 + i % 5)
        );
        items.push(json!({"role": if i % 2 == 0 { "user" } else { "assistant" }, "content": text}));
        if i % 7 == 3 {
            items[i / 2] = json!({"type": "function_call_output", "call_id": format!("c{i}"), "output": format!("edited {i}")});
        }
        if i == 40 {
            items.drain(..10);
        }
        bodies.push(
            json!({"model": "m", "input": items, "tools": [{"type": "function", "name": "f"}]})
                .to_string(),
        );
    }
    let shared = references(&bodies);
    let stored = shared.iter().filter(|s| !s.is_empty()).count();
    assert!(stored > 50, "{stored} bodies stored as parts");
    let reused = same_requests_reusing(&mut ItemMemo::default(), &bodies, &shared);
    assert!(reused > 50, "{reused} bodies reused elements");
}

/// References that put an earlier element's text where no list element stands — in a field
/// the shape logic ignores, nested in another element, or followed by what would continue a
/// number standing in its place — are not taken as elements: the body is read whole and
/// parses as the full parse does. Where an element does stand, it is taken.
#[test]
fn an_element_copied_where_no_element_stands_is_read_whole() {
    let element = r#"{"role": "user", "content": "a"}"#;
    let first = format!(r#"{{"input": [{element}]}}"#);
    let cases = [
        (format!(r#"{{"input": [{element}, {element}]}}"#), true),
        (format!(r#"{{"tools": [{element}], "input": []}}"#), false),
        (
            format!(r#"{{"input": [{{"role": "user", "content": [{element}]}}]}}"#),
            false,
        ),
        (format!(r#"{{"input": [{element}e5]}}"#), false),
        (format!(r#"{{"input": [{element}.5]}}"#), false),
        (format!(r#"{{"input": [{element}1]}}"#), false),
    ];
    for (body, reusable) in &cases {
        let mut memo = ItemMemo::default();
        let origin = Origin {
            seq: 1,
            shared: &[],
        };
        assert_eq!(
            memo.request(&first, None, Some(origin)),
            parse_request(&first, None)
        );
        let shared = [Shared {
            at: body.rfind(element).unwrap() as u64,
            seq: 1,
            offset: first.find(element).unwrap() as u64,
            len: element.len() as u64,
        }];
        let origin = Origin {
            seq: 2,
            shared: &shared,
        };
        let reused = memo.reusing(body, &REQUEST_KEYS, origin).is_some();
        assert_eq!(reused, *reusable, "{body}");
        assert_eq!(
            memo.request(body, None, Some(origin)),
            parse_request(body, None),
            "{body}"
        );
    }
}
