//! Tests of the prices file and of pricing a call: the split by token kind, the matching of
//! model keys, and every way a call stays unpriced.

use super::*;

fn usage(input: u64, cached: u64, written: u64, output: u64, reasoning: u64) -> Usage {
    Usage {
        input_tokens: input,
        cached_input_tokens: cached,
        cache_write_input_tokens: written,
        output_tokens: output,
        reasoning_tokens: reasoning,
    }
}

fn prices() -> Prices {
    let text = r#"{
        "format": "tracing-rollout/prices", "format_version": 1,
        "currency": "USD", "source": "test rates", "as_of": "2025-10-01",
        "models": {
            "full": {"input": 3, "cached_input": 0.3, "cache_write_input": 3.75, "output": 15, "reasoning": 15},
            "plain": {"input": 1, "output": 2},
            "claude-sonnet-4*": {"input": 3, "output": 15},
            "claude-sonnet-4-5*": {"input": 4, "output": 16}
        }
    }"#;
    match Prices::from_json(text) {
        Ok(prices) => prices,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn each_token_kind_is_priced_at_its_own_rate() {
    let cost = prices().cost(
        Some("full"),
        Some(&usage(1_000_000, 500_000, 100_000, 200_000, 50_000)),
    );
    let expected = Cost {
        input: 0.4 * 3.0,
        cached_input: 0.5 * 0.3,
        cache_write_input: 0.1 * 3.75,
        output: 0.15 * 15.0,
        reasoning: 0.05 * 15.0,
        total: 0.4 * 3.0 + 0.5 * 0.3 + 0.1 * 3.75 + 0.15 * 15.0 + 0.05 * 15.0,
    };
    let Ok(cost) = cost else {
        panic!("unpriced: {cost:?}")
    };
    for (got, want) in [
        (cost.input, expected.input),
        (cost.cached_input, expected.cached_input),
        (cost.cache_write_input, expected.cache_write_input),
        (cost.output, expected.output),
        (cost.reasoning, expected.reasoning),
        (cost.total, expected.total),
    ] {
        assert!((got - want).abs() < 1e-12, "{got} != {want}");
    }
}

#[test]
fn tokens_without_a_rate_leave_the_call_unpriced_rather_than_priced_as_input() {
    let p = prices();
    assert_eq!(
        p.cost(Some("plain"), Some(&usage(100, 10, 0, 5, 0))),
        Err(Unpriced::NoRate {
            model: "plain".to_owned(),
            rate: "cached_input"
        })
    );
    assert_eq!(
        p.cost(Some("plain"), Some(&usage(100, 0, 0, 5, 2))),
        Err(Unpriced::NoRate {
            model: "plain".to_owned(),
            rate: "reasoning"
        })
    );
    // No such tokens: the missing rates are not needed.
    assert!(p.cost(Some("plain"), Some(&usage(100, 0, 0, 5, 0))).is_ok());
}

#[test]
fn a_call_without_model_usage_or_price_is_unpriced_and_says_why() {
    let p = prices();
    let u = usage(1, 0, 0, 1, 0);
    assert_eq!(p.cost(None, Some(&u)), Err(Unpriced::NoModel));
    assert_eq!(p.cost(Some("full"), None), Err(Unpriced::NoUsage));
    assert_eq!(
        p.cost(Some("gpt-9"), Some(&u)),
        Err(Unpriced::NoPrice {
            model: "gpt-9".to_owned()
        })
    );
}

#[test]
fn an_exact_key_wins_and_then_the_longest_prefix() {
    let p = prices();
    assert_eq!(
        p.price("claude-sonnet-4-5-20250929").map(|r| r.input),
        Some(4.0)
    );
    assert_eq!(
        p.price("claude-sonnet-4-20250514").map(|r| r.input),
        Some(3.0)
    );
    assert_eq!(p.price("plain").map(|r| r.input), Some(1.0));
    assert_eq!(p.price("plain-2"), None);
    assert_eq!(p.len(), 4);
}

#[test]
fn totals_count_unpriced_calls_and_name_models_without_a_price() {
    let p = prices();
    let mut totals = CostTotals::default();
    let u = usage(1_000_000, 0, 0, 0, 0);
    totals.add_call(&p.cost(Some("plain"), Some(&u)));
    totals.add_call(&p.cost(Some("zeta"), Some(&u)));
    totals.add_call(&p.cost(Some("alpha"), Some(&u)));
    totals.add_call(&p.cost(Some("zeta"), Some(&u)));
    totals.add_call(&p.cost(Some("plain"), None));
    assert_eq!(totals.priced_calls, 1);
    assert_eq!(totals.unpriced_calls, 4);
    assert_eq!(totals.unpriced_models, vec!["alpha", "zeta"]);
    assert_eq!(totals.cost.total, 1.0);
    assert_eq!(totals.complete_total(), None);
}

#[test]
fn a_misspelt_rate_or_a_bad_price_is_an_error_not_an_unused_key() {
    for (text, says) in [
        (
            r#"{"models": {"m": {"input": 1, "output": 2, "cache_input": 1}}}"#,
            "unknown field `cache_input`",
        ),
        (
            r#"{"models": {"m": {"input": -1, "output": 2}}}"#,
            "input rate -1 is not a finite price",
        ),
        (
            r#"{"models": {"a*b": {"input": 1, "output": 2}}}"#,
            "`*` may only end a model key",
        ),
        (
            r#"{"models": {"*": {"input": 1, "output": 2}}}"#,
            "names a model",
        ),
        (
            r#"{"format_version": 2, "models": {}}"#,
            "format_version 2 is not 1",
        ),
        (
            r#"{"models": {"m": {"input": 1}}}"#,
            "missing field `output`",
        ),
    ] {
        match Prices::from_json(text) {
            Ok(p) => panic!("{text} parsed as {p:?}"),
            Err(e) => assert!(e.to_string().contains(says), "{e} lacks {says:?}"),
        }
    }
}

#[test]
fn the_example_prices_file_parses_and_names_its_source_and_date() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/prices.json");
    let p = match Prices::load(path) {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    };
    assert!(p.source.as_deref().is_some_and(|s| !s.is_empty()));
    assert!(p.as_of.as_deref().is_some_and(|s| s.len() >= 7));
    assert!(p.len() >= 5);
}
