//! The OpenTelemetry GenAI dialect on the hot path: which spans outside our vocabulary are
//! recorded (by their `gen_ai.operation.name`), and which fields are content, written as
//! payloads instead of attributes.
//!
//! Invariants:
//! - A span whose name is not ours costs one name match and one lookup in a lock-free table
//!   filled when its callsite was registered: whether the callsite declares
//!   `gen_ai.operation.name` is decided once per callsite, never per span. Only spans of such
//!   callsites have their operation name read (one more visit of their creation values).
//! - A span's kind is decided when it starts, because `span_started` (which carries the kind)
//!   precedes every record about the span. An operation name that only arrives later through
//!   `Span::record` therefore records nothing: the span stays unrecorded, and rollout spans
//!   below it attach to its nearest recorded ancestor. The conventions list
//!   `gen_ai.operation.name` among the attributes set at creation, and every instrumentation
//!   we know (rig included) does.
//! - A content attribute ([`vocab::genai::CONTENT`]) never appears among a span's fields; each
//!   value becomes one `payload` record of its role, after the record that carries the span's
//!   other fields, so redaction, `capture_payloads(false)` and `max_payload_bytes` apply to it
//!   exactly as to a `rollout.payload` event.
//! - The structure the conventions leave implicit is recorded as ordinary records with keys
//!   minted like any span's (`implicit.rs`): a turn per agent invocation, a child thread for
//!   model calls made inside a tool call, and a `link` from a tool call to the agent nested in
//!   it, so the reducer needs no knowledge of the dialect to build the graph.
//! - A GenAI event (`gen_ai.client.inference.operation.details`, the older per-message
//!   events) is evidence of the span it is in: its content attributes become that span's
//!   payloads exactly as they would on the span, and a per-message event is kept whole as one
//!   payload. An event costs one more prefix test before it is known not to be one.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};

use tracing::field::{Field, Visit};
use tracing::span::Attributes;
use tracing::Metadata;

use super::fields::FieldWriter;
use super::payload::{self, PayloadOptions};
use super::Bufs;
use crate::format::SpanKind;
use crate::vocab::{self, genai};
use crate::writer::{BundleHandle, Header, Op, Writer};

/// How a recorded span was recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dialect {
    /// By its name in our vocabulary.
    Ours,
    /// By its `gen_ai.operation.name`, with the operation it names.
    GenAi(Operation),
}

/// The GenAI operations the layer records, and what each becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Operation {
    /// `invoke_agent`, `invoke_workflow`: a thread, and one turn per invocation.
    Invoke,
    /// `create_agent`: a thread without a turn.
    Create,
    /// `chat`, `text_completion`, `generate_content`, and the other words instrumentations
    /// use for one model call ([`genai::INFERENCE_OPERATIONS`]): an inference call.
    Inference,
    /// `execute_tool`: a tool call.
    Tool,
}

impl Operation {
    /// The operation an operation name selects. Every other well-known operation
    /// (`embeddings`, `retrieval`, `plan`, the memory family, rig's `rerank`, …) is not
    /// recorded: it has no counterpart in the rollout graph, and its recorded descendants still
    /// attach to the nearest recorded ancestor.
    fn from_name(name: &str) -> Option<Operation> {
        Some(match name {
            genai::INVOKE_AGENT | genai::INVOKE_WORKFLOW => Operation::Invoke,
            genai::CREATE_AGENT => Operation::Create,
            genai::EXECUTE_TOOL => Operation::Tool,
            _ if genai::INFERENCE_OPERATIONS.contains(&name) => Operation::Inference,
            _ => return None,
        })
    }

    /// The span kind the operation is recorded as.
    pub(super) fn kind(self) -> SpanKind {
        match self {
            Operation::Invoke | Operation::Create => SpanKind::Thread,
            Operation::Inference => SpanKind::Inference,
            Operation::Tool => SpanKind::Tool,
        }
    }
}

impl Dialect {
    /// Whether a span of this dialect and kind opens a turn of its own: a GenAI agent
    /// invocation is one turn of its thread (the conventions have no turn span).
    pub(super) fn opens_turn(self) -> bool {
        self == Dialect::GenAi(Operation::Invoke)
    }

    /// Whether an inference span of this dialect whose nearest recorded ancestor is a tool call
    /// belongs to a sub-agent of that tool rather than to the calling agent's conversation
    /// (rig runs an agent used as a tool inside the `execute_tool` span, with no
    /// `invoke_agent` of its own; a tool that asks a model something is the same case).
    pub(super) fn inference_in_tool_is_sub_agent(self) -> bool {
        self == Dialect::GenAi(Operation::Inference)
    }

    /// Whether a span of this dialect and kind nested in a tool call was spawned by that tool:
    /// a GenAI thread (the conventions express sub-agents by nesting `invoke_agent` in
    /// `execute_tool`; ours ask for `follows_from`).
    pub(super) fn nesting_is_spawn(self, kind: SpanKind) -> bool {
        matches!(self, Dialect::GenAi(_)) && kind == SpanKind::Thread
    }
}

/// What a new span is recorded as, if anything: our name first, then its GenAI operation.
pub(super) fn recognise(attrs: &Attributes<'_>) -> Option<(SpanKind, Dialect)> {
    let metadata = attrs.metadata();
    if let Some(kind) = SpanKind::from_span_name(metadata.name()) {
        return Some((kind, Dialect::Ours));
    }
    if !is_genai_callsite(metadata) {
        return None;
    }
    let mut visitor = OperationName(None);
    attrs.record(&mut visitor);
    let operation = visitor.0?;
    Some((operation.kind(), Dialect::GenAi(operation)))
}

/// Whether spans of this callsite may be recorded (callbacks other than `on_new_span` use
/// this before looking at a span's extensions).
pub(super) fn may_record(metadata: &'static Metadata<'static>) -> bool {
    SpanKind::from_span_name(metadata.name()).is_some() || is_genai_callsite(metadata)
}

/// Reads `gen_ai.operation.name` from creation values.
struct OperationName(Option<Operation>);

impl Visit for OperationName {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == genai::OPERATION_NAME {
            self.0 = Operation::from_name(value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == genai::OPERATION_NAME {
            // `display("chat")` prints `chat`, `debug("chat")` prints `"chat"`.
            let text = format!("{value:?}");
            self.0 = Operation::from_name(text.trim_matches('"'));
        }
    }
}

// ---- the callsite table ----
//
// `register_callsite` runs once per callsite (and again when interest is rebuilt, e.g. when a
// dispatcher is set), before any span of it exists. It stores each span callsite's metadata
// address with bit 0 saying "declares `gen_ai.operation.name` and is not one of our names".
// `Metadata` is a static with alignment above 1, so bit 0 of its address is free. Slots are
// claimed with a compare-and-swap and never freed (callsites are statics), so a lookup is a
// hash and a few relaxed loads, with no lock. Callsites are process-wide, so the table is too;
// what it stores depends only on the static metadata, never on a layer's configuration. When
// the probe window is full the callsite is not stored, and a lookup that misses falls back to
// scanning the field names: slower, never wrong.

/// Slots in the table (a power of two); each holds 0 (empty) or an address with its flag.
const TABLE_SLOTS: usize = 4096;
/// How many consecutive slots a callsite may occupy.
const PROBES: usize = 32;

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY_SLOT: AtomicUsize = AtomicUsize::new(0);
static CALLSITES: [AtomicUsize; TABLE_SLOTS] = [EMPTY_SLOT; TABLE_SLOTS];

/// Where the probe for `address` starts.
fn slot_of(address: usize) -> usize {
    // Fibonacci hashing of the address without its alignment bits.
    let hash = (address >> 3).wrapping_mul(0x9e37_79b9_7f4a_7c15_u64 as usize);
    (hash >> (usize::BITS - TABLE_SLOTS.trailing_zeros())) & (TABLE_SLOTS - 1)
}

/// Whether a callsite's spans are GenAI candidates, computed from its field set.
fn declares_operation(metadata: &'static Metadata<'static>) -> bool {
    SpanKind::from_span_name(metadata.name()).is_none()
        && metadata.fields().field(genai::OPERATION_NAME).is_some()
}

/// Notes a callsite as it is registered (see the table's comment).
pub(super) fn register_callsite(metadata: &'static Metadata<'static>) {
    if !metadata.is_span() {
        return;
    }
    let address = metadata as *const Metadata<'static> as usize;
    let entry = address | usize::from(declares_operation(metadata));
    let start = slot_of(address);
    for probe in 0..PROBES {
        let slot = &CALLSITES[(start + probe) & (TABLE_SLOTS - 1)];
        match slot.compare_exchange(0, entry, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return,
            Err(seen) if seen & !1 == address => return,
            Err(_) => {}
        }
    }
}

/// Whether spans of this callsite declare `gen_ai.operation.name` (and are not ours).
fn is_genai_callsite(metadata: &'static Metadata<'static>) -> bool {
    // Not registered with this layer (or the window was full): decide from the fields.
    registered(metadata).unwrap_or_else(|| declares_operation(metadata))
}

/// What the table holds for a callsite, if it holds it.
fn registered(metadata: &'static Metadata<'static>) -> Option<bool> {
    let address = metadata as *const Metadata<'static> as usize;
    let start = slot_of(address);
    for probe in 0..PROBES {
        let entry = CALLSITES[(start + probe) & (TABLE_SLOTS - 1)].load(Ordering::Acquire);
        if entry == 0 {
            return None;
        }
        if entry & !1 == address {
            return Some(entry & 1 == 1);
        }
    }
    None
}

// ---- content attributes ----

/// The payload role of a content attribute ([`genai::CONTENT`]), or `None` for an ordinary
/// field.
#[inline]
fn content_role(name: &str) -> Option<&'static str> {
    if !name.starts_with("gen_ai.") {
        return None;
    }
    genai::CONTENT
        .iter()
        .find(|&&(attribute, _)| attribute == name)
        .map(|&(_, role)| role)
}

/// A [`FieldWriter`] that leaves content attributes out and notes that it saw one.
pub(super) struct WithoutContent<'w, 'a> {
    pub(super) fields: &'w mut FieldWriter<'a>,
    /// A content attribute was skipped: run [`ContentPayloads`] over the same values.
    pub(super) saw_content: bool,
}

impl<'w, 'a> WithoutContent<'w, 'a> {
    pub(super) fn new(fields: &'w mut FieldWriter<'a>) -> WithoutContent<'w, 'a> {
        WithoutContent {
            fields,
            saw_content: false,
        }
    }

    /// Whether `field` goes to the field writer.
    fn keep(&mut self, field: &Field) -> bool {
        let content = content_role(field.name()).is_some();
        self.saw_content |= content;
        !content
    }
}

/// `Visit` methods that hand the value to the field writer unless the field is content.
macro_rules! forward_unless_content {
    ($($(#[$attr:meta])* $method:ident($value:ty);)*) => {
        $(
            $(#[$attr])*
            fn $method(&mut self, field: &Field, value: $value) {
                if self.keep(field) {
                    self.fields.$method(field, value);
                }
            }
        )*
    };
}

impl Visit for WithoutContent<'_, '_> {
    forward_unless_content! {
        record_f64(f64);
        record_i64(i64);
        record_u64(u64);
        record_i128(i128);
        record_u128(u128);
        record_bool(bool);
        record_str(&str);
        record_bytes(&[u8]);
        record_error(&(dyn std::error::Error + 'static));
        record_debug(&dyn fmt::Debug);
        #[cfg(all(tracing_unstable, feature = "valuable"))]
        record_value(valuable::Value<'_>);
    }
}

/// Second pass over values that held content attributes: sends one `payload` record per
/// content attribute, each a message of its own.
pub(super) struct ContentPayloads<'a> {
    pub(super) rec: &'a mut Vec<u8>,
    pub(super) scratch: &'a mut Vec<u8>,
    pub(super) span: u64,
    pub(super) options: PayloadOptions,
    pub(super) writer: &'a Writer,
    pub(super) bundle: &'a BundleHandle,
}

impl ContentPayloads<'_> {
    /// Writes and sends one payload record; `write` appends its body and returns the offset
    /// of an unchecked body (see `payload::write_payload_record`).
    fn send(&mut self, write: impl FnOnce(&mut Vec<u8>, &mut Vec<u8>) -> Option<usize>) {
        self.bundle.begin(self.rec, Op::Record);
        if let Some(start) = write(self.rec, self.scratch) {
            Header::set_check(self.rec, start);
        }
        self.writer.send_record(self.rec, self.bundle);
    }
}

impl Visit for ContentPayloads<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        let Some(role) = content_role(field.name()) else {
            return;
        };
        let (span, options) = (self.span, self.options);
        self.send(|rec, _| {
            payload::write_payload_record(
                rec,
                span,
                role,
                value.as_bytes(),
                value.len() as u64,
                /*trusted*/ false,
                options,
            )
        });
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let Some(role) = content_role(field.name()) else {
            return;
        };
        let (span, options) = (self.span, self.options);
        self.send(|rec, scratch| {
            payload::write_debug_payload(rec, scratch, span, role, value, options)
        });
    }

    #[cfg(all(tracing_unstable, feature = "valuable"))]
    fn record_value(&mut self, field: &Field, value: valuable::Value<'_>) {
        let Some(role) = content_role(field.name()) else {
            return;
        };
        let (span, options) = (self.span, self.options);
        self.send(|rec, scratch| {
            payload::write_valuable_payload(rec, scratch, span, role, value, options)
        });
    }
}

// ---- GenAI events ----

/// What a GenAI event is evidence of, by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum GenAiEvent {
    /// `gen_ai.client.inference.operation.details`: its content attributes are payloads.
    Details,
    /// One of the older per-message events: kept whole as a payload of this role.
    Message(&'static str),
}

impl GenAiEvent {
    /// The GenAI event an event name selects (`None` for every other event).
    pub(super) fn from_name(name: &str) -> Option<GenAiEvent> {
        if !name.starts_with(genai::EVENT_PREFIX) {
            return None;
        }
        if name == genai::INFERENCE_DETAILS_EVENT {
            return Some(GenAiEvent::Details);
        }
        genai::MESSAGE_EVENTS.contains(&name).then(|| {
            GenAiEvent::Message(if name == genai::CHOICE_EVENT {
                vocab::role::COMPLETION
            } else {
                vocab::role::PROMPT
            })
        })
    }

    /// Sends the payloads the event carries, as evidence of the span `span` it is in.
    pub(super) fn send_payloads(
        self,
        event: &tracing::Event<'_>,
        bufs: &mut Bufs,
        span: u64,
        options: PayloadOptions,
        writer: &Writer,
        bundle: &BundleHandle,
    ) {
        match self {
            GenAiEvent::Details => event.record(&mut ContentPayloads {
                rec: &mut bufs.rec,
                scratch: &mut bufs.scratch,
                span,
                options,
                writer,
                bundle,
            }),
            GenAiEvent::Message(role) => {
                // The event's fields as one JSON object: what the field writer appends is
                // valid JSON, so the body needs no check on the writer thread.
                bufs.scratch.clear();
                bufs.scratch.push(b'{');
                event.record(&mut FieldWriter::new(&mut bufs.scratch));
                bufs.scratch.push(b'}');
                bundle.begin(&mut bufs.rec, Op::Record);
                let (text, total) = (&bufs.scratch, bufs.scratch.len() as u64);
                let unchecked = payload::write_payload_record(
                    &mut bufs.rec,
                    span,
                    role,
                    text,
                    total,
                    /*trusted*/ true,
                    options,
                );
                if let Some(start) = unchecked {
                    Header::set_check(&mut bufs.rec, start);
                }
                writer.send_record(&mut bufs.rec, bundle);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_content_attribute_has_the_role_the_vocabulary_lists() {
        for (attribute, role) in genai::CONTENT {
            assert_eq!(content_role(attribute), Some(role), "{attribute}");
        }
        assert_eq!(content_role("gen_ai.request.model"), None);
        assert_eq!(content_role("payload"), None);
    }

    #[test]
    fn operations_select_their_kinds_and_the_rest_are_not_recorded() {
        let kinds: Vec<_> = [
            "invoke_agent",
            "create_agent",
            "invoke_workflow",
            "chat",
            "text_completion",
            "generate_content",
            "execute_tool",
            "embeddings",
            "retrieval",
            "search_memory",
            "plan",
        ]
        .into_iter()
        .map(|name| Operation::from_name(name).map(Operation::kind))
        .collect();
        let (t, i) = (Some(SpanKind::Thread), Some(SpanKind::Inference));
        let expected = [
            t,
            t,
            t,
            i,
            i,
            i,
            Some(SpanKind::Tool),
            None,
            None,
            None,
            None,
        ];
        assert_eq!(kinds, expected);
    }

    #[test]
    fn the_callsite_table_answers_like_a_scan_of_the_field_names() {
        let dispatch = tracing::Dispatch::new(tracing_subscriber::registry());
        tracing::dispatcher::with_default(&dispatch, || {
            let spans = [
                (
                    tracing::info_span!("llm", gen_ai.operation.name = "chat"),
                    true,
                ),
                (
                    tracing::info_span!("http", gen_ai.request.model = "m"),
                    false,
                ),
                // Ours by name: never a GenAI candidate.
                (
                    tracing::info_span!("rollout.tool", gen_ai.operation.name = "chat"),
                    false,
                ),
            ];
            for (span, expected) in spans {
                let Some(metadata) = span.metadata() else {
                    panic!("span disabled");
                };
                // This subscriber is not ours, so the fallback decides (unless a test running
                // beside this one set a dispatcher with our layer, which registers every
                // callsite again: either answer must be the same).
                assert_eq!(is_genai_callsite(metadata), expected);
                register_callsite(metadata);
                register_callsite(metadata);
                assert_eq!(registered(metadata), Some(expected));
                assert_eq!(is_genai_callsite(metadata), expected);
            }
        });
    }

    #[test]
    fn probe_starts_stay_inside_the_table() {
        for address in (0..100_000usize).step_by(8).chain([usize::MAX & !7]) {
            assert!(slot_of(address) < TABLE_SLOTS);
        }
    }
}
