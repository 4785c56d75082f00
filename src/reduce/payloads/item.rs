//! The canonical item model: [`ModelItem`], the constructors every shape builds items with,
//! and the content hash that decides item identity.
//!
//! Two items are equal iff their canonical content hashes are equal, and the hash covers the
//! full content: every text, the complete tool-call arguments, images and other non-text parts
//! by their whole JSON. It never looks at a truncated preview, so long arguments that share a
//! prefix stay distinct. What the hash deliberately ignores is representation: a string versus
//! a list holding one text part, the part type of a text part (`input_text`, `output_text`,
//! `text`), key order and whitespace inside JSON arguments, the provider a call came through,
//! and bookkeeping that moves between requests (Anthropic `cache_control`, Responses item
//! `id`/`status`, the reference agent's top-level
//! `internal_chat_message_metadata_passthrough`). Reasoning that carries an opaque
//! `encrypted_content` is identified by it alone: providers return readable summaries in the
//! response, but clients often drop them when they send the item back, and the encrypted blob
//! already is the full content.
//!
//! Imports no sibling: it is the bottom of the layout.

use std::borrow::Cow;
use std::hash::{DefaultHasher, Hasher};
use std::rc::Rc;

use serde_json::Value;

use crate::reduce::state::{AgentMessage, ItemKind};

/// One normalised conversation item: what the model saw or produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ModelItem {
    /// Item kind.
    pub(crate) kind: ItemKind,
    /// `system`, `developer`, `user`, `assistant` or `tool` (calls and reasoning are
    /// `assistant`, call outputs `tool`, whatever message carried them).
    pub(crate) role: Option<String>,
    /// Model-visible call id on call and call-output items.
    pub(crate) call_id: Option<String>,
    /// Tool name on call items.
    pub(crate) name: Option<String>,
    /// Full readable text: message text parts joined by newlines, a call's arguments or input,
    /// an output's text, a reasoning item's summary and text, an unknown item's type.
    pub(crate) text: String,
    /// Canonical hash of kind, role, call id, name and full content; see the module docs.
    pub(crate) content_hash: u128,
    /// The provider's status of a hosted tool item (never part of its identity).
    pub(crate) status: Option<String>,
    /// Author and recipient of an `agent_message` item (boxed: rare, and every item pays
    /// for the field).
    pub(crate) agent_message: Option<Box<AgentMessage>>,
}

/// Items in order, shared: the memo hands out the same items for every element it
/// has seen before.
pub(crate) type SharedItems = Vec<Rc<ModelItem>>;

/// Top-level keys of a raw part that are bookkeeping, not content: Anthropic's `cache_control`,
/// and the metadata the reference agent passes through and strips before comparing items
/// (only at the top level: nested deeper, the same key is content).
pub(super) const RAW_BOOKKEEPING: &[&str] = &[
    "cache_control",
    "internal_chat_message_metadata_passthrough",
];

/// One piece of an item's canonical content, borrowed from the parsed payload.
#[derive(Debug)]
pub(super) enum Part<'a> {
    /// Readable text (message text, call input, output text, reasoning text).
    Text(&'a str),
    /// A reasoning summary.
    Summary(&'a str),
    /// Structured call arguments, compared as JSON values (key order and whitespace ignored).
    Json(Cow<'a, Value>),
    /// A non-text part (image, document, audio, …) or unknown item, compared by its whole JSON
    /// minus its top-level [`RAW_BOOKKEEPING`].
    Raw(&'a Value),
    /// A labelled opaque string: `encrypted_content`, a thinking `signature`, a `refusal`.
    Field {
        /// What the string is.
        label: &'static str,
        /// The string itself.
        value: &'a str,
    },
    /// An Anthropic `tool_result` with `is_error: true`.
    IsError,
}

/// A string content as parts: one text part, none if empty.
pub(super) fn text_parts(text: &str) -> Vec<Part<'_>> {
    if text.is_empty() {
        Vec::new()
    } else {
        vec![Part::Text(text)]
    }
}

/// A message item.
pub(super) fn message_item(role: &str, parts: &[Part<'_>]) -> ModelItem {
    build_item(ItemKind::Message, Some(role), None, None, parts)
}

/// A function call whose arguments are a JSON text (Responses, Chat) or, rarely, a value.
pub(super) fn function_call_item(
    call_id: &str,
    name: &str,
    arguments: Option<&Value>,
) -> ModelItem {
    match arguments {
        Some(Value::String(arguments)) => {
            // Arguments that are JSON compare as JSON, so re-serialised calls still match.
            let parts = [match serde_json::from_str::<Value>(arguments) {
                Ok(value) => Part::Json(Cow::Owned(value)),
                Err(_) => Part::Text(arguments),
            }];
            item_with_text(
                ItemKind::FunctionCall,
                Some("assistant"),
                Some(call_id),
                Some(name),
                &parts,
                arguments.clone(),
            )
        }
        other => call_value_item(call_id, name, other),
    }
}

/// A function call whose arguments are a JSON value (Anthropic `tool_use` `input`).
pub(super) fn call_value_item(call_id: &str, name: &str, input: Option<&Value>) -> ModelItem {
    call_item(ItemKind::FunctionCall, call_id, name, &value_parts(input))
}

/// A custom (free-form) tool call: its input is plain text, never parsed as JSON.
pub(super) fn custom_call_item(call_id: &str, name: &str, input: Option<&Value>) -> ModelItem {
    let parts = match input {
        Some(Value::String(input)) => vec![Part::Text(input)],
        other => value_parts(other),
    };
    call_item(ItemKind::CustomToolCall, call_id, name, &parts)
}

/// A call's input compared as JSON; nothing when it is absent or `null`.
fn value_parts(input: Option<&Value>) -> Vec<Part<'_>> {
    match input {
        None | Some(Value::Null) => Vec::new(),
        Some(input) => vec![Part::Json(Cow::Borrowed(input))],
    }
}

/// A call the model made (always role `assistant`).
fn call_item(kind: ItemKind, call_id: &str, name: &str, parts: &[Part<'_>]) -> ModelItem {
    build_item(kind, Some("assistant"), Some(call_id), Some(name), parts)
}

/// A call output item (always role `tool`).
pub(super) fn output_item(kind: ItemKind, call_id: &str, parts: &[Part<'_>]) -> ModelItem {
    build_item(kind, Some("tool"), Some(call_id), None, parts)
}

/// Builds an item, its text from the readable parts and its hash from all of them.
pub(super) fn build_item(
    kind: ItemKind,
    role: Option<&str>,
    call_id: Option<&str>,
    name: Option<&str>,
    parts: &[Part<'_>],
) -> ModelItem {
    item_with_text(kind, role, call_id, name, parts, readable_text(parts))
}

/// Builds an item whose text is not simply its readable parts (verbatim arguments, an unknown
/// item's type, reasoning identified by its encrypted content).
pub(super) fn item_with_text(
    kind: ItemKind,
    role: Option<&str>,
    call_id: Option<&str>,
    name: Option<&str>,
    parts: &[Part<'_>],
    text: String,
) -> ModelItem {
    ModelItem {
        kind,
        role: role.map(str::to_owned),
        call_id: call_id.map(str::to_owned),
        name: name.map(str::to_owned),
        text,
        content_hash: content_hash(kind, role, call_id, name, parts),
        status: None,
        agent_message: None,
    }
}

/// Text and summary parts joined by newlines; structured parts render as compact JSON.
pub(super) fn readable_text(parts: &[Part<'_>]) -> String {
    let mut text = String::new();
    for part in parts {
        let piece: Cow<'_, str> = match part {
            Part::Text(piece) | Part::Summary(piece) => Cow::Borrowed(piece),
            Part::Json(value) => Cow::Owned(value.to_string()),
            Part::Raw(_) | Part::Field { .. } | Part::IsError => continue,
        };
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&piece);
    }
    text
}

/// The canonical hash of an item; see the module docs for what it covers.
pub(super) fn content_hash(
    kind: ItemKind,
    role: Option<&str>,
    call_id: Option<&str>,
    name: Option<&str>,
    parts: &[Part<'_>],
) -> u128 {
    let mut hasher = ContentHasher::new();
    hasher.str(kind_tag(kind));
    hasher.opt_str(role);
    hasher.opt_str(call_id);
    hasher.opt_str(name);
    hasher.len(parts.len());
    for part in parts {
        match part {
            Part::Text(text) => {
                hasher.tag(b't');
                hasher.str(text);
            }
            Part::Summary(text) => {
                hasher.tag(b's');
                hasher.str(text);
            }
            Part::Json(value) => {
                hasher.tag(b'j');
                hasher.value(value, &[]);
            }
            Part::Raw(value) => {
                hasher.tag(b'r');
                hasher.value(value, RAW_BOOKKEEPING);
            }
            Part::Field { label, value } => {
                hasher.tag(b'f');
                hasher.str(label);
                hasher.str(value);
            }
            Part::IsError => hasher.tag(b'e'),
        }
    }
    hasher.finish()
}

/// A stable name for each kind, fed to the hash (the word `state.json` uses).
pub(crate) fn kind_tag(kind: ItemKind) -> &'static str {
    match kind {
        ItemKind::Message => "message",
        ItemKind::Reasoning => "reasoning",
        ItemKind::FunctionCall => "function_call",
        ItemKind::FunctionCallOutput => "function_call_output",
        ItemKind::CustomToolCall => "custom_tool_call",
        ItemKind::CustomToolCallOutput => "custom_tool_call_output",
        ItemKind::CompactionMarker => "compaction_marker",
        ItemKind::WebSearchCall => "web_search_call",
        ItemKind::FileSearchCall => "file_search_call",
        ItemKind::CodeInterpreterCall => "code_interpreter_call",
        ItemKind::ImageGenerationCall => "image_generation_call",
        ItemKind::McpCall => "mcp_call",
        ItemKind::McpListTools => "mcp_list_tools",
        ItemKind::McpApprovalRequest => "mcp_approval_request",
        ItemKind::McpApprovalResponse => "mcp_approval_response",
        ItemKind::ComputerCall => "computer_call",
        ItemKind::ComputerCallOutput => "computer_call_output",
        ItemKind::LocalShellCall => "local_shell_call",
        ItemKind::LocalShellCallOutput => "local_shell_call_output",
        ItemKind::ServerToolUse => "server_tool_use",
        ItemKind::ServerToolResult => "server_tool_result",
        ItemKind::Other => "other",
    }
}

/// Two 64-bit hashers over the same canonical byte stream, seeded differently, for a 128-bit
/// hash.
///
/// The stream is an injective encoding (every variable-length piece is length-prefixed and
/// object keys are sorted), so equal hashes mean equal content up to a 2^-128-ish accident.
/// Hashing this encoding rather than `serde_json::to_string` keeps it canonical even if some
/// dependency turns on serde_json's `preserve_order`, and avoids cloning large images.
#[derive(Debug)]
struct ContentHasher {
    /// Low 64 bits.
    low: DefaultHasher,
    /// High 64 bits.
    high: DefaultHasher,
}

/// A pending step of the iterative JSON walk.
#[derive(Debug)]
enum Walk<'v> {
    /// An object key, emitted before its value.
    Key(&'v str),
    /// A value still to encode.
    Value(&'v Value),
}

impl ContentHasher {
    /// Two hashers with distinct seeds (a distinct first byte).
    fn new() -> ContentHasher {
        let mut low = DefaultHasher::new();
        low.write_u8(0x4c);
        let mut high = DefaultHasher::new();
        high.write_u8(0x48);
        ContentHasher { low, high }
    }

    /// Feeds raw bytes to both halves.
    fn bytes(&mut self, bytes: &[u8]) {
        self.low.write(bytes);
        self.high.write(bytes);
    }

    /// Feeds a one-byte tag.
    fn tag(&mut self, tag: u8) {
        self.bytes(&[tag]);
    }

    /// Feeds a length.
    fn len(&mut self, len: usize) {
        self.bytes(&(len as u64).to_le_bytes());
    }

    /// Feeds a length-prefixed string.
    fn str(&mut self, text: &str) {
        self.len(text.len());
        self.bytes(text.as_bytes());
    }

    /// Feeds an optional string.
    fn opt_str(&mut self, text: Option<&str>) {
        match text {
            None => self.tag(0),
            Some(text) => {
                self.tag(1);
                self.str(text);
            }
        }
    }

    /// Feeds a JSON value with sorted keys, skipping `skip_root_keys` in a top-level object.
    /// Iterative, so no value is too deep for the stack.
    fn value(&mut self, root: &Value, skip_root_keys: &[&str]) {
        let mut stack = Vec::new();
        self.open(root, skip_root_keys, &mut stack);
        while let Some(step) = stack.pop() {
            match step {
                Walk::Key(key) => self.str(key),
                Walk::Value(value) => self.open(value, &[], &mut stack),
            }
        }
    }

    /// Encodes a scalar, or the header of a container and pushes its children.
    fn open<'v>(&mut self, value: &'v Value, skip_keys: &[&str], stack: &mut Vec<Walk<'v>>) {
        match value {
            Value::Null => self.tag(b'n'),
            Value::Bool(flag) => {
                self.tag(b'b');
                self.tag(u8::from(*flag));
            }
            Value::Number(number) => {
                self.tag(b'#');
                self.str(&number.to_string());
            }
            Value::String(text) => {
                self.tag(b'"');
                self.str(text);
            }
            Value::Array(list) => {
                self.tag(b'[');
                self.len(list.len());
                stack.extend(list.iter().rev().map(Walk::Value));
            }
            Value::Object(map) => {
                let mut entries: Vec<(&'v String, &'v Value)> = map
                    .iter()
                    .filter(|(key, _)| !skip_keys.contains(&key.as_str()))
                    .collect();
                entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
                self.tag(b'{');
                self.len(entries.len());
                for (key, value) in entries.into_iter().rev() {
                    stack.push(Walk::Value(value));
                    stack.push(Walk::Key(key));
                }
            }
        }
    }

    /// The 128-bit hash.
    fn finish(&self) -> u128 {
        (u128::from(self.high.finish()) << 64) | u128::from(self.low.finish())
    }
}

#[cfg(test)]
#[path = "item_tests.rs"]
mod tests;
