//! Agreement with the reference: every bundle of the recorded Codex corpus
//! (`shared/codex-traces`, each with Codex's own `state.json`) is imported, reduced, and
//! compared fact by fact with Codex's reduction (`codex_support`). Every difference must be
//! one of the deliberate differences the harness names; the table of differences per bundle
//! is printed (`cargo test --test codex_agreement -- --nocapture`).

mod support;

use std::collections::{BTreeMap, BTreeSet};

use support::codex::{agree, corpus_dir};

/// The deliberate differences each corpus entry must show (and no others).
const EXPECTED: &[(&str, &[&str])] = &[
    (
        "agent_messages_v1",
        &[
            "killed call ends with its turn",
            "send_input delivers a message",
            "task found in a user message",
        ],
    ),
    (
        "agents_v2",
        &[
            "killed call ends with its turn",
            "status derived from turns",
        ],
    ),
    ("code_mode", &["killed call ends with its turn"]),
    ("multi_agent", &["task found in a user message"]),
    ("stream_cut", &["status derived from turns"]),
];

#[test]
fn every_corpus_bundle_agrees_with_codexs_own_reduction_but_for_named_differences(
) -> anyhow::Result<()> {
    let corpus = match corpus_dir() {
        Ok(found) => found,
        Err(why) => return support::skip::skipped("the Codex agreement test", &why),
    };
    let out = tempfile::tempdir()?;
    let mut entries: Vec<_> = std::fs::read_dir(&corpus)?
        .filter_map(Result::ok)
        .filter(|e| e.path().join("traces").is_dir())
        .map(|e| e.path())
        .collect();
    entries.sort();
    anyhow::ensure!(
        entries.len() >= 12,
        "the corpus holds {} entries",
        entries.len()
    );
    let mut tables = String::new();
    let mut unexpected = 0;
    let mut seen: BTreeMap<String, BTreeSet<&'static str>> = BTreeMap::new();
    for entry in &entries {
        let name = entry
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        for bundle in tracing_rollout::import::codex::find_bundles(&entry.join("traces")) {
            let agreement = agree(&bundle, &out.path().join(&name))?;
            unexpected += agreement.unexpected().len();
            seen.entry(name.clone())
                .or_default()
                .extend(agreement.deliberate().keys());
            tables.push_str(&format!("[{name}] {}", agreement.table()));
        }
    }
    println!("{tables}");
    anyhow::ensure!(
        unexpected == 0,
        "{unexpected} unexpected differences:\n{tables}"
    );
    let expected: BTreeMap<String, BTreeSet<&str>> = EXPECTED
        .iter()
        .map(|(entry, names)| (entry.to_string(), names.iter().copied().collect()))
        .collect();
    seen.retain(|_, names| !names.is_empty());
    pretty_assertions::assert_eq!(seen, expected, "deliberate differences per entry");
    Ok(())
}
