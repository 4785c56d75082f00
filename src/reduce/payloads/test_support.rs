//! What the payload tests share: items as seen without their hash (for whole-value
//! comparisons), the item lists JSON parses to, and a response's label, id and usage.
//!
//! Invariant: test-only (`cfg(test)` in `mod.rs`); every helper goes through the parser the
//! reducer uses, so a test that compares what these return compares real parses.

use std::rc::Rc;

use serde_json::Value;

use super::item::ModelItem;
use super::model::{ModelResponse, PayloadFormat, ShapeError};
use super::responses::parse_items;
use crate::reduce::{ItemKind, Usage};

/// An item without its hash, for whole-value comparisons.
#[derive(Debug, PartialEq)]
pub(super) struct Seen {
    pub(super) kind: ItemKind,
    pub(super) role: Option<String>,
    pub(super) call_id: Option<String>,
    pub(super) name: Option<String>,
    pub(super) text: String,
}

/// [`Seen`] of each item.
pub(super) fn seen(items: &[Rc<ModelItem>]) -> Vec<Seen> {
    items
        .iter()
        .map(|item| Seen {
            kind: item.kind,
            role: item.role.clone(),
            call_id: item.call_id.clone(),
            name: item.name.clone(),
            text: item.text.clone(),
        })
        .collect()
}

/// An item of `kind` with a role.
pub(super) fn item(
    kind: ItemKind,
    role: &str,
    call_id: Option<&str>,
    name: Option<&str>,
    text: &str,
) -> Seen {
    Seen {
        kind,
        role: Some(role.to_owned()),
        call_id: call_id.map(str::to_owned),
        name: name.map(str::to_owned),
        text: text.to_owned(),
    }
}

/// A message item.
pub(super) fn message(role: &str, text: &str) -> Seen {
    item(ItemKind::Message, role, None, None, text)
}

/// A function call item.
pub(super) fn call(call_id: &str, name: &str, arguments: &str) -> Seen {
    item(
        ItemKind::FunctionCall,
        "assistant",
        Some(call_id),
        Some(name),
        arguments,
    )
}

/// A function call output item.
pub(super) fn output(call_id: &str, text: &str) -> Seen {
    item(
        ItemKind::FunctionCallOutput,
        "tool",
        Some(call_id),
        None,
        text,
    )
}

/// A reasoning item.
pub(super) fn reasoning(text: &str) -> Seen {
    item(ItemKind::Reasoning, "assistant", None, None, text)
}

/// Parses a list of items given as JSON.
pub(super) fn items(list: Value) -> Result<Vec<Rc<ModelItem>>, ShapeError> {
    parse_items(&list, None)
}

/// The hash of the only item `list` parses to.
pub(super) fn only_hash(list: Value) -> anyhow::Result<u128> {
    let parsed = items(list)?;
    anyhow::ensure!(parsed.len() == 1, "expected one item, got {parsed:?}");
    Ok(parsed[0].content_hash)
}

/// A response's label, id and usage.
pub(super) fn head(response: &ModelResponse) -> (PayloadFormat, Option<&str>, Option<Usage>) {
    (
        response.format,
        response.response_id.as_deref(),
        response.usage,
    )
}
