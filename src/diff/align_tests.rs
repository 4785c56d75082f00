//! Tests of the sequence alignment: insertions and deletions stay local, unlike elements at
//! one place pair as changed, and long sequences (gaps past the exact limit) still align.

use super::*;

/// Aligns two strings of letters: equal letters cost 0, letters of one case SIMILAR, others
/// DIFFERENT.
fn letters(a: &str, b: &str) -> String {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let key = |c: char| c as u64;
    let ka: Vec<u64> = a.iter().map(|&c| key(c)).collect();
    let kb: Vec<u64> = b.iter().map(|&c| key(c)).collect();
    let cost = |i: usize, j: usize| {
        if a[i] == b[j] {
            0
        } else if a[i].is_uppercase() == b[j].is_uppercase() {
            SIMILAR
        } else {
            DIFFERENT
        }
    };
    render(&align(&ka, &kb, &cost))
}

fn render(ops: &[Op]) -> String {
    ops.iter()
        .map(|op| match op {
            Op::Pair(i, j) => format!("{i}={j}"),
            Op::OnlyA(i) => format!("{i}-"),
            Op::OnlyB(j) => format!("+{j}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Checks that `ops` covers both sequences once each, in order.
fn covers(ops: &[Op], n: usize, m: usize) -> bool {
    let (mut i, mut j) = (0, 0);
    for op in ops {
        match *op {
            Op::Pair(a, b) if a == i && b == j => {
                i += 1;
                j += 1;
            }
            Op::OnlyA(a) if a == i => i += 1,
            Op::OnlyB(b) if b == j => j += 1,
            _ => return false,
        }
    }
    i == n && j == m
}

#[test]
fn equal_sequences_pair_every_element() {
    assert_eq!(letters("abc", "abc"), "0=0 1=1 2=2");
}

#[test]
fn an_inserted_element_is_only_in_b_and_the_rest_stays_paired() {
    assert_eq!(letters("abcd", "abXcd"), "0=0 1=1 +2 2=3 3=4");
}

#[test]
fn a_missing_element_is_only_in_a() {
    assert_eq!(letters("abcd", "acd"), "0=0 1- 2=1 3=2");
}

#[test]
fn unlike_elements_at_one_place_pair_as_changed() {
    assert_eq!(letters("abc", "aXc"), "0=0 1=1 2=2");
    assert_eq!(letters("ab", "xy"), "0=0 1=1");
}

#[test]
fn a_repeated_element_inserted_before_a_run_of_it_stays_local() {
    // No unique anchors in the middle: the exact edit distance decides.
    assert_eq!(letters("aaab", "aaaab"), "0=0 1=1 2=2 +3 3=4");
}

#[test]
fn anchors_realign_after_a_long_insertion() {
    // 2 000 distinct elements with 300 inserted after the 1 000th: a band around the main
    // diagonal alone would not reach back; the unique elements after it are anchors.
    let n = 2000u64;
    let ka: Vec<u64> = (0..n).collect();
    let mut kb: Vec<u64> = (0..1000).collect();
    kb.extend(100_000..100_300);
    kb.extend(1000..n);
    let cost = |i: usize, j: usize| if ka[i] == kb[j] { 0 } else { DIFFERENT };
    let ops = align(&ka, &kb, &cost);
    assert!(covers(&ops, ka.len(), kb.len()));
    let only_b = ops.iter().filter(|o| matches!(o, Op::OnlyB(_))).count();
    let paired_equal = ops
        .iter()
        .filter(|o| matches!(o, Op::Pair(i, j) if ka[*i] == kb[*j]))
        .count();
    assert_eq!(only_b, 300);
    assert_eq!(paired_equal, n as usize);
}

#[test]
fn a_gap_past_the_exact_limit_is_aligned_within_the_band() {
    // Every element repeats (no anchors) and the gap has 1 200 × 1 201 cells, past
    // FULL_CELLS: the band still finds the one insertion.
    let ka: Vec<u64> = (0..1200).map(|i| i % 2).collect();
    let mut kb = ka.clone();
    kb.insert(600, 7);
    let cost = |i: usize, j: usize| if ka[i] == kb[j] { 0 } else { DIFFERENT };
    let ops = align(&ka, &kb, &cost);
    assert!(covers(&ops, ka.len(), kb.len()));
    let changed = ops
        .iter()
        .filter(|o| matches!(o, Op::Pair(i, j) if ka[*i] != kb[*j]))
        .count();
    let only_b = ops.iter().filter(|o| matches!(o, Op::OnlyB(_))).count();
    assert_eq!((changed, only_b), (0, 1), "{}", render(&ops));
}

#[test]
fn very_unequal_lengths_still_cover_both_sides() {
    let ka: Vec<u64> = (0..50).map(|i| i % 3).collect();
    let kb: Vec<u64> = (0..5000).map(|i| i % 5).collect();
    let cost = |i: usize, j: usize| if ka[i] == kb[j] { 0 } else { DIFFERENT };
    let ops = align(&ka, &kb, &cost);
    assert!(covers(&ops, ka.len(), kb.len()));
    let ops = align(&kb, &ka, &|i, j| cost(j, i));
    assert!(covers(&ops, kb.len(), ka.len()));
}

#[test]
fn empty_sides_are_all_on_one_side() {
    assert_eq!(letters("", "ab"), "+0 +1");
    assert_eq!(letters("ab", ""), "0- 1-");
    assert_eq!(letters("", ""), "");
}
