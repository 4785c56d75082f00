//! Delivery matching on a recipient thread, driven as the reducer drives it.

use pretty_assertions::assert_eq;
use serde_json::json;

use super::{LOOKBACK_ITEMS, PREVIEW_BYTES};
use crate::reduce::test_support::{items, Recipient};

#[test]
fn a_delivery_lands_in_the_first_open_item_that_carries_its_text() -> anyhow::Result<()> {
    let mut thread = Recipient::default();
    let list = items(json!([
        {"role": "user", "content": "start the survey"},
        // What the model says never carries a delivery to it.
        {"role": "assistant", "content": "report back by noon"},
        {"role": "user", "content": "report back by noon, please"},
        {"role": "user", "content": "report back by noon"},
    ]))?;
    for item in &list {
        thread.arrives(item);
    }
    assert_eq!(
        thread.delivers("edge:message:1", "report back by noon"),
        Some(3)
    );
    // The item completed its delivery: the same text again takes the next one.
    assert_eq!(
        thread.delivers("edge:message:2", "report back by noon"),
        Some(4)
    );
    Ok(())
}

#[test]
fn a_delivery_no_item_carries_yet_lands_in_the_first_item_that_does() -> anyhow::Result<()> {
    let mut thread = Recipient::default();
    assert_eq!(thread.delivers("edge:task:1", "count the files"), None);
    let list = items(json!([
        {"role": "user", "content": "something else"},
        {"role": "user", "content": "your task: count the files"},
        {"role": "user", "content": "count the files"},
    ]))?;
    let arrived: Vec<_> = list.iter().map(|item| thread.arrives(item)).collect();
    let task = Some("edge:task:1".to_owned());
    assert_eq!(arrived, [(1, None), (2, task), (3, None)]);
    assert_eq!(thread.deliveries.take_waiting(), Vec::<String>::new());
    Ok(())
}

#[test]
fn an_item_completes_one_delivery_and_the_next_one_keeps_waiting() -> anyhow::Result<()> {
    let mut thread = Recipient::default();
    assert_eq!(thread.delivers("edge:message:1", "stop"), None);
    assert_eq!(thread.delivers("edge:message:2", "stop"), None);
    let list = items(json!([{"role": "user", "content": "stop"}]))?;
    assert_eq!(
        thread.arrives(&list[0]),
        (1, Some("edge:message:1".to_owned()))
    );
    assert_eq!(thread.deliveries.take_waiting(), ["edge:message:2"]);
    Ok(())
}

#[test]
fn a_look_back_matches_an_item_on_its_full_text_beyond_the_preview() -> anyhow::Result<()> {
    let mut thread = Recipient::default();
    let long = format!("{} and the answer is 42", "word ".repeat(PREVIEW_BYTES));
    let list = items(json!([{"role": "user", "content": long}]))?;
    thread.arrives(&list[0]);
    assert_eq!(
        thread.delivers("edge:result:1", "the answer is 42"),
        Some(1)
    );
    assert_eq!(thread.deliveries.evicted(), 0);
    Ok(())
}

#[test]
fn past_the_kept_full_texts_a_look_back_sees_the_preview_and_counts_what_it_missed(
) -> anyhow::Result<()> {
    let mut thread = Recipient::default();
    let padding = "word ".repeat(PREVIEW_BYTES);
    let texts: Vec<String> = (0..=LOOKBACK_ITEMS)
        .map(|i| format!("{padding} answer {i}."))
        .collect();
    let list = items(json!(texts
        .iter()
        .map(|text| json!({"role": "user", "content": text}))
        .collect::<Vec<_>>()))?;
    for item in &list {
        thread.arrives(item);
    }
    // The oldest item's full text was let go: its preview does not reach the answer.
    assert_eq!(thread.delivers("edge:result:1", "answer 0."), None);
    assert_eq!(thread.deliveries.evicted(), 1);
    // The newest are still matched on their full text.
    let last = format!("answer {LOOKBACK_ITEMS}.");
    assert_eq!(
        thread.delivers("edge:result:2", &last),
        Some(LOOKBACK_ITEMS as u64 + 1)
    );
    Ok(())
}
