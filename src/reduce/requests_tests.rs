use std::collections::BTreeMap;

use pretty_assertions::assert_eq;
use proptest::prelude::*;

use super::*;
use crate::reduce::state::item_id;

/// Stores `lists` the way the reducer does, each against the one before (`call:0`, `call:1`,
/// …), and returns the stored forms by call id.
fn store(lists: &[Vec<u64>]) -> BTreeMap<String, RequestItems> {
    let mut stored = BTreeMap::new();
    for (n, list) in lists.iter().enumerate() {
        let items = match n.checked_sub(1) {
            Some(previous) => RequestItems::Delta(RequestDelta {
                base: format!("call:{previous}"),
                parts: delta_parts(&lists[previous], list, item_id),
            }),
            None => RequestItems::List(list.iter().map(|&i| item_id(i)).collect()),
        };
        stored.insert(format!("call:{n}"), items);
    }
    stored
}

/// Every call's whole list, resolved from `stored`.
fn resolve_all(stored: &BTreeMap<String, RequestItems>) -> Vec<Vec<String>> {
    (0..stored.len())
        .map(|n| {
            resolve(
                &stored[&format!("call:{n}")],
                |id| stored.get(id),
                stored.len(),
            )
            .into_iter()
            .map(str::to_owned)
            .collect()
        })
        .collect()
}

fn ids(list: &[u64]) -> Vec<String> {
    list.iter().map(|&i| item_id(i)).collect()
}

#[test]
fn an_appended_history_is_one_range_and_the_new_items() {
    let parts = delta_parts(&[1, 2, 3], &[1, 2, 3, 4, 5], item_id);
    assert_eq!(
        parts,
        vec![
            RequestPart::Range(0, 3),
            RequestPart::Item("item:4".to_owned()),
            RequestPart::Item("item:5".to_owned()),
        ]
    );
}

#[test]
fn a_sliding_window_and_a_replaced_first_item_are_ranges_too() {
    assert_eq!(
        delta_parts(&[1, 2, 3, 4], &[3, 4, 5], item_id),
        vec![
            RequestPart::Range(2, 2),
            RequestPart::Item("item:5".to_owned())
        ]
    );
    // A system prompt made anew for each request, before the same history.
    assert_eq!(
        delta_parts(&[1, 2, 3, 4], &[9, 2, 3, 4, 10], item_id),
        vec![
            RequestPart::Item("item:9".to_owned()),
            RequestPart::Range(1, 3),
            RequestPart::Item("item:10".to_owned()),
        ]
    );
}

#[test]
fn the_stored_form_reads_as_a_list_or_a_base_with_parts() -> anyhow::Result<()> {
    let delta = RequestItems::Delta(RequestDelta {
        base: "inference:7".to_owned(),
        parts: vec![
            RequestPart::Range(0, 57),
            RequestPart::Item("item:90".to_owned()),
        ],
    });
    let text = serde_json::to_string(&delta)?;
    assert_eq!(text, r#"{"base":"inference:7","parts":[[0,57],"item:90"]}"#);
    assert_eq!(serde_json::from_str::<RequestItems>(&text)?, delta);
    // State format 1: an array of ids.
    let list: RequestItems = serde_json::from_str(r#"["item:1","item:2"]"#)?;
    assert_eq!(list, RequestItems::List(ids(&[1, 2])));
    Ok(())
}

#[test]
fn a_chain_resolves_to_every_list_it_stored() {
    let lists = vec![
        vec![1, 2],
        vec![1, 2, 3, 4],
        vec![1, 2, 3, 4, 5, 6],
        vec![7, 3, 4, 5, 6, 8],
        vec![3, 4, 5, 6, 8, 9],
        vec![],
        vec![10, 11],
    ];
    let stored = store(&lists);
    let whole: Vec<Vec<String>> = lists.iter().map(|l| ids(l)).collect();
    assert_eq!(resolve_all(&stored), whole);
}

#[test]
fn missing_bases_cycles_and_ranges_past_the_end_resolve_to_what_exists() {
    let mut stored = BTreeMap::new();
    let delta = |base: &str, parts: Vec<RequestPart>| {
        RequestItems::Delta(RequestDelta {
            base: base.to_owned(),
            parts,
        })
    };
    let item = |n: u64| RequestPart::Item(item_id(n));
    stored.insert("a".to_owned(), RequestItems::List(ids(&[1, 2])));
    stored.insert(
        "b".to_owned(),
        delta("a", vec![RequestPart::Range(1, 5), item(3)]),
    );
    stored.insert(
        "c".to_owned(),
        delta("gone", vec![RequestPart::Range(0, 2), item(4)]),
    );
    stored.insert(
        "d".to_owned(),
        delta("e", vec![item(5), RequestPart::Range(0, 9)]),
    );
    stored.insert(
        "e".to_owned(),
        delta("d", vec![item(6), RequestPart::Range(0, 9)]),
    );
    let read = |id: &str| -> Vec<&str> { resolve(&stored[id], |id| stored.get(id), stored.len()) };
    assert_eq!(read("b"), vec!["item:2", "item:3"]);
    assert_eq!(read("c"), vec!["item:4"]);
    // A cycle ends after as many steps as there are calls.
    let cyclic = read("d");
    assert_eq!(cyclic.len(), 6);
    assert_eq!(cyclic[..3], ["item:5", "item:6", "item:5"]);
}

#[test]
fn ranges_whose_lengths_add_up_past_u64_resolve_to_what_exists() {
    let mut stored = BTreeMap::new();
    stored.insert("a".to_owned(), RequestItems::List(ids(&[1, 2, 3])));
    stored.insert(
        "b".to_owned(),
        RequestItems::Delta(RequestDelta {
            base: "a".to_owned(),
            parts: vec![
                RequestPart::Range(1, u64::MAX),
                RequestPart::Range(0, u64::MAX),
                RequestPart::Item(item_id(4)),
            ],
        }),
    );
    let read = resolve(&stored["b"], |id| stored.get(id), stored.len());
    // Past u64::MAX the parts' positions are approximate; what resolves is what exists.
    assert!(read
        .iter()
        .all(|id| ["item:1", "item:2", "item:3", "item:4"].contains(id)));
    assert_eq!(read.last(), Some(&"item:4"));
}

/// One edit of a history: what agents do to the list they send.
#[derive(Debug, Clone)]
enum Edit {
    Append(u8),
    DropFront(u8),
    ReplaceAt(u8),
    Remove(u8),
    Reverse,
    Repeat,
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        4 => (1u8..6).prop_map(Edit::Append),
        1 => (1u8..4).prop_map(Edit::DropFront),
        1 => any::<u8>().prop_map(Edit::ReplaceAt),
        1 => any::<u8>().prop_map(Edit::Remove),
        1 => Just(Edit::Reverse),
        1 => Just(Edit::Repeat),
    ]
}

proptest! {
    /// Whatever the edits between requests, every stored list resolves to the list itself.
    #[test]
    fn every_stored_list_resolves_to_itself(edits in prop::collection::vec(edit(), 1..40)) {
        let mut next = 0u64;
        let mut list: Vec<u64> = Vec::new();
        let mut lists = Vec::new();
        for edit in edits {
            match edit {
                Edit::Append(n) => {
                    for _ in 0..n {
                        next += 1;
                        list.push(next);
                    }
                }
                Edit::DropFront(n) => {
                    list.drain(..usize::from(n).min(list.len()));
                }
                Edit::ReplaceAt(at) if !list.is_empty() => {
                    next += 1;
                    let at = usize::from(at) % list.len();
                    list[at] = next;
                }
                Edit::Remove(at) if !list.is_empty() => {
                    list.remove(usize::from(at) % list.len());
                }
                Edit::Reverse => list.reverse(),
                Edit::Repeat | Edit::ReplaceAt(_) | Edit::Remove(_) => {
                    if let Some(&first) = list.first() {
                        list.push(first);
                    }
                }
            }
            lists.push(list.clone());
        }
        let whole: Vec<Vec<String>> = lists.iter().map(|l| ids(l)).collect();
        prop_assert_eq!(resolve_all(&store(&lists)), whole);
    }
}
