//! Cost of inference calls from a prices file the user gives (`--prices FILE`): never
//! guessed.
//!
//! Invariant: a call is priced only when every token count it has is covered by a rate the
//! file states for its model; otherwise its cost is unknown ([`Unpriced`], `null` in every
//! output) and totals count it as unpriced rather than as zero. No rate falls back on another
//! (cached input is not priced as input, reasoning not as output) unless the file says so.
//!
//! How the reducer's [`Usage`] splits tokens (every provider is normalised to this): the input
//! count includes cached and cache-write tokens, the output count includes reasoning tokens.
//! So a call costs
//!
//! ```text
//!   (input − cached − cache_write) × input
//! + cached                         × cached_input
//! + cache_write                    × cache_write_input
//! + (output − reasoning)           × output
//! + reasoning                      × reasoning
//! ```
//!
//! with each rate per million tokens. Counting cached tokens as plain input (a well-known way to
//! over-report cost several times over on a cache-heavy agent) is what the split avoids.
//!
//! # The prices file
//!
//! JSON, one object (`format_version` 1):
//!
//! ```json
//! {
//!   "format": "tracing-rollout/prices",
//!   "format_version": 1,
//!   "currency": "USD",
//!   "source": "where the rates come from",
//!   "as_of": "2025-10-01",
//!   "models": {
//!     "gpt-4.1": { "input": 2.0, "cached_input": 0.5, "output": 8.0, "reasoning": 8.0 },
//!     "claude-sonnet-4-5*": {
//!       "input": 3.0, "cached_input": 0.3, "cache_write_input": 3.75,
//!       "output": 15.0, "reasoning": 15.0
//!     }
//!   }
//! }
//! ```
//!
//! - `models`: rates per model, in `currency` per **million** tokens: `input` and `output`
//!   (required), `cached_input`, `cache_write_input`, `reasoning` (each needed only by calls
//!   that have such tokens). Unknown keys are an error, so a misspelt rate never goes unused.
//! - A model key matches the call's `model` exactly; a key ending in `*` matches every model
//!   that starts with what precedes the `*` (dated snapshots: `claude-sonnet-4-5*` matches
//!   `claude-sonnet-4-5-20250929`). An exact key wins over patterns, a longer pattern over a
//!   shorter one.
//! - `format`, `currency`, `source` and `as_of` are optional; `source` and `as_of` say where
//!   and when the rates were read (prices change: a file without them is hard to trust).
//!   `format_version`, when given, must be 1.
//!
//! The repository's `examples/prices.json` is such a file, with its source and date.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::reduce::{InferenceCall, RolloutState, Usage};

/// Value of `format` in a prices file.
pub const PRICES_FORMAT: &str = "tracing-rollout/prices";
/// The prices file schema this crate reads.
pub const PRICES_FORMAT_VERSION: u32 = 1;

/// Why a prices file could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PricesError {
    /// The file could not be read.
    #[error("read prices {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a prices file of this schema (bad JSON, unknown key, wrong type).
    #[error("parse prices{}: {message}", path.as_ref().map(|p| format!(" {}", p.display())).unwrap_or_default())]
    Parse {
        /// The file, when read from one.
        path: Option<PathBuf>,
        /// What is wrong, with serde's line and column.
        message: String,
    },
    /// A rate or a model key is unusable (negative or not finite, `*` not at the end).
    #[error("price of model {model:?}: {message}")]
    Invalid {
        /// The model key.
        model: String,
        /// What is wrong.
        message: String,
    },
}

/// Rates of one model, in the file's currency per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelPrice {
    /// Input tokens not served from or written to the cache.
    pub input: f64,
    /// Input tokens served from the provider's cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_input: Option<f64>,
    /// Input tokens written to the provider's cache (Anthropic's cache creation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_input: Option<f64>,
    /// Output tokens that are not reasoning.
    pub output: f64,
    /// Reasoning tokens (part of the output count).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<f64>,
}

/// The prices file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PricesFile {
    #[serde(default)]
    format: Option<String>,
    #[serde(default)]
    format_version: Option<u32>,
    #[serde(default)]
    currency: Option<String>,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    as_of: Option<String>,
    models: BTreeMap<String, ModelPrice>,
}

/// Per-model rates read from a prices file; prices inference calls and rollouts.
///
/// # Examples
///
/// ```
/// use tracing_rollout::cost::Prices;
/// use tracing_rollout::reduce::Usage;
///
/// let prices = Prices::from_json(r#"{"models": {"m": {"input": 2, "cached_input": 0.5, "output": 8}}}"#)?;
/// let usage = Usage { input_tokens: 1_000_000, cached_input_tokens: 400_000, output_tokens: 100_000, ..Usage::default() };
/// let cost = prices.cost(Some("m"), Some(&usage)).ok().map(|c| c.total);
/// // 600 000 uncached × 2 + 400 000 cached × 0.5 + 100 000 output × 8, per million.
/// assert!(cost.is_some_and(|c| (c - 2.2).abs() < 1e-9));
/// # Ok::<(), tracing_rollout::cost::PricesError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Prices {
    /// The currency the rates are in (`USD` unless the file says).
    pub currency: String,
    /// Where the rates come from, as the file says.
    pub source: Option<String>,
    /// When the rates were read, as the file says.
    pub as_of: Option<String>,
    exact: BTreeMap<String, ModelPrice>,
    /// `(prefix, rates)`, longest prefix first.
    prefixes: Vec<(String, ModelPrice)>,
}

/// Why a call has no cost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Unpriced {
    /// The call names no model.
    NoModel,
    /// The call reported no token counts.
    NoUsage,
    /// The prices file has no rates for the call's model.
    NoPrice {
        /// The model.
        model: String,
    },
    /// The call has tokens of a kind whose rate the model's entry does not state.
    NoRate {
        /// The model.
        model: String,
        /// The missing rate: `cached_input`, `cache_write_input` or `reasoning`.
        rate: &'static str,
    },
}

impl std::fmt::Display for Unpriced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unpriced::NoModel => f.write_str("the call names no model"),
            Unpriced::NoUsage => f.write_str("the call reported no token counts"),
            Unpriced::NoPrice { model } => write!(f, "no price for model {model:?}"),
            Unpriced::NoRate { model, rate } => {
                write!(f, "model {model:?} has tokens but no {rate} rate")
            }
        }
    }
}

/// The cost of one call (or a sum), split by token kind, in the prices' currency.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Cost {
    /// Uncached input tokens.
    pub input: f64,
    /// Cached input tokens.
    pub cached_input: f64,
    /// Cache-write input tokens.
    pub cache_write_input: f64,
    /// Output tokens that are not reasoning.
    pub output: f64,
    /// Reasoning tokens.
    pub reasoning: f64,
    /// The sum of the above.
    pub total: f64,
}

impl Cost {
    /// Adds another cost to this one.
    pub fn add(&mut self, other: &Cost) {
        self.input += other.input;
        self.cached_input += other.cached_input;
        self.cache_write_input += other.cache_write_input;
        self.output += other.output;
        self.reasoning += other.reasoning;
        self.total += other.total;
    }
}

/// The cost of many calls: the priced ones summed, and how many could not be priced.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CostTotals {
    /// The priced calls' cost, summed.
    pub cost: Cost,
    /// Calls with a cost.
    pub priced_calls: u64,
    /// Calls whose cost is unknown (no model, no token counts, no price or no rate): `cost`
    /// leaves them out.
    pub unpriced_calls: u64,
    /// The models of unpriced calls that have no price in the file, sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unpriced_models: Vec<String>,
}

impl CostTotals {
    /// Counts one call's outcome.
    pub fn add_call(&mut self, outcome: &Result<Cost, Unpriced>) {
        match outcome {
            Ok(cost) => {
                self.cost.add(cost);
                self.priced_calls += 1;
            }
            Err(unpriced) => {
                self.unpriced_calls += 1;
                if let Unpriced::NoPrice { model } = unpriced {
                    if let Err(at) = self.unpriced_models.binary_search(model) {
                        self.unpriced_models.insert(at, model.clone());
                    }
                }
            }
        }
    }

    /// Adds other totals to these.
    pub fn add(&mut self, other: &CostTotals) {
        self.cost.add(&other.cost);
        self.priced_calls += other.priced_calls;
        self.unpriced_calls += other.unpriced_calls;
        for model in &other.unpriced_models {
            if let Err(at) = self.unpriced_models.binary_search(model) {
                self.unpriced_models.insert(at, model.clone());
            }
        }
    }

    /// The total when every call was priced; `None` when any was not (the sum would be a
    /// lower bound, not the cost).
    pub fn complete_total(&self) -> Option<f64> {
        (self.unpriced_calls == 0).then_some(self.cost.total)
    }
}

impl Prices {
    /// Reads a prices file (JSON; see the [module docs](self)).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// let prices = tracing_rollout::cost::Prices::load("examples/prices.json")?;
    /// println!("{} models, {}", prices.len(), prices.source.as_deref().unwrap_or("no source"));
    /// # Ok::<(), tracing_rollout::cost::PricesError>(())
    /// ```
    pub fn load(path: impl AsRef<Path>) -> Result<Prices, PricesError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| PricesError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Prices::parse(&text, Some(path))
    }

    /// Reads prices from JSON text (see the [module docs](self)).
    pub fn from_json(text: &str) -> Result<Prices, PricesError> {
        Prices::parse(text, None)
    }

    fn parse(text: &str, path: Option<&Path>) -> Result<Prices, PricesError> {
        let parse_error = |message: String| PricesError::Parse {
            path: path.map(Path::to_path_buf),
            message,
        };
        let file: PricesFile =
            serde_json::from_str(text).map_err(|e| parse_error(e.to_string()))?;
        if let Some(format) = &file.format {
            if format != PRICES_FORMAT {
                return Err(parse_error(format!(
                    "format is {format:?}, not {PRICES_FORMAT:?}"
                )));
            }
        }
        if let Some(version) = file.format_version {
            if version != PRICES_FORMAT_VERSION {
                return Err(parse_error(format!(
                    "format_version {version} is not {PRICES_FORMAT_VERSION}, the one this version reads"
                )));
            }
        }
        let mut prices = Prices {
            currency: file.currency.unwrap_or_else(|| "USD".to_owned()),
            source: file.source,
            as_of: file.as_of,
            ..Prices::default()
        };
        for (key, price) in file.models {
            check_rates(&key, &price)?;
            match key.strip_suffix('*') {
                Some(prefix) if !prefix.contains('*') => {
                    prices.prefixes.push((prefix.to_owned(), price))
                }
                _ if key.contains('*') => {
                    return Err(PricesError::Invalid {
                        model: key,
                        message: "`*` may only end a model key".to_owned(),
                    })
                }
                _ => {
                    prices.exact.insert(key, price);
                }
            }
        }
        prices
            .prefixes
            .sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        Ok(prices)
    }

    /// How many model keys the file prices.
    pub fn len(&self) -> usize {
        self.exact.len() + self.prefixes.len()
    }

    /// True when the file prices no model.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The rates of `model`: its exact key, else the longest `prefix*` key it starts with.
    pub fn price(&self, model: &str) -> Option<&ModelPrice> {
        self.exact.get(model).or_else(|| {
            self.prefixes
                .iter()
                .find(|(prefix, _)| model.starts_with(prefix.as_str()))
                .map(|(_, price)| price)
        })
    }

    /// The cost of `usage` on `model`, or why it has none.
    pub fn cost(&self, model: Option<&str>, usage: Option<&Usage>) -> Result<Cost, Unpriced> {
        let model = model.ok_or(Unpriced::NoModel)?;
        let usage = usage.ok_or(Unpriced::NoUsage)?;
        let price = self.price(model).ok_or_else(|| Unpriced::NoPrice {
            model: model.to_owned(),
        })?;
        let rate = |tokens: u64, rate: Option<f64>, name: &'static str| match (tokens, rate) {
            (0, _) => Ok(0.0),
            (n, Some(r)) => Ok(per_million(n, r)),
            (_, None) => Err(Unpriced::NoRate {
                model: model.to_owned(),
                rate: name,
            }),
        };
        let uncached = usage
            .input_tokens
            .saturating_sub(usage.cached_input_tokens)
            .saturating_sub(usage.cache_write_input_tokens);
        let visible_output = usage.output_tokens.saturating_sub(usage.reasoning_tokens);
        let mut cost = Cost {
            input: per_million(uncached, price.input),
            cached_input: rate(
                usage.cached_input_tokens,
                price.cached_input,
                "cached_input",
            )?,
            cache_write_input: rate(
                usage.cache_write_input_tokens,
                price.cache_write_input,
                "cache_write_input",
            )?,
            output: per_million(visible_output, price.output),
            reasoning: rate(usage.reasoning_tokens, price.reasoning, "reasoning")?,
            total: 0.0,
        };
        cost.total =
            cost.input + cost.cached_input + cost.cache_write_input + cost.output + cost.reasoning;
        Ok(cost)
    }

    /// The cost of one inference call of a graph (its own `model` and `usage`).
    pub fn call_cost(&self, call: &InferenceCall) -> Result<Cost, Unpriced> {
        self.cost(call.model.as_deref(), call.usage.as_ref())
    }

    /// The cost of every inference call of a rollout.
    pub fn rollout_cost(&self, state: &RolloutState) -> CostTotals {
        let mut totals = CostTotals::default();
        for call in state.inference_calls.values() {
            totals.add_call(&self.call_cost(call));
        }
        totals
    }
}

/// An amount as the CLI prints it: 4 decimals, 6 below a cent.
pub fn format_amount(amount: f64) -> String {
    if amount != 0.0 && amount.abs() < 0.01 {
        format!("{amount:.6}")
    } else {
        format!("{amount:.4}")
    }
}

/// The cost of a rollout as text (what `tracing-rollout summary --prices` appends): the total,
/// how many calls were priced and why the others were not, and the cost by model and by
/// thread.
///
/// # Examples
///
/// ```no_run
/// use tracing_rollout::cost::{render_cost, Prices};
///
/// let prices = Prices::load("examples/prices.json")?;
/// let state = tracing_rollout::reduce::reduce_bundle("traces/demo").unwrap();
/// print!("{}", render_cost(&state, &prices));
/// # Ok::<(), tracing_rollout::cost::PricesError>(())
/// ```
pub fn render_cost(state: &RolloutState, prices: &Prices) -> String {
    use std::fmt::Write as _;
    let mut totals = CostTotals::default();
    let mut reasons: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_model: BTreeMap<&str, (f64, u64)> = BTreeMap::new();
    let mut by_thread: BTreeMap<&str, f64> = BTreeMap::new();
    for call in state.inference_calls.values() {
        let outcome = prices.call_cost(call);
        totals.add_call(&outcome);
        match &outcome {
            Ok(cost) => {
                let model = by_model
                    .entry(call.model.as_deref().unwrap_or("?"))
                    .or_default();
                model.0 += cost.total;
                model.1 += 1;
                let thread = call
                    .thread_id
                    .as_deref()
                    .and_then(|t| state.threads.get(t))
                    .map(|t| t.agent_path.as_deref().unwrap_or(&t.thread_id))
                    .unwrap_or("?");
                *by_thread.entry(thread).or_default() += cost.total;
            }
            Err(why) => *reasons.entry(why.to_string()).or_default() += 1,
        }
    }
    let mut out = String::new();
    let as_of = prices
        .as_of
        .as_deref()
        .map(|d| format!("; prices as of {d}"))
        .unwrap_or_default();
    let _ = write!(
        out,
        "cost ({}{as_of}): {} for {} of {} inference calls",
        prices.currency,
        format_amount(totals.cost.total),
        totals.priced_calls,
        totals.priced_calls + totals.unpriced_calls
    );
    if totals.unpriced_calls > 0 {
        let why: Vec<String> = reasons.iter().map(|(r, n)| format!("{n} {r}")).collect();
        let _ = write!(
            out,
            "; {} unpriced ({})",
            totals.unpriced_calls,
            why.join(", ")
        );
    }
    out.push('\n');
    let list = |items: Vec<String>| items.join(", ");
    if !by_model.is_empty() {
        let models = by_model
            .iter()
            .map(|(m, (c, n))| format!("{m} {} ({n} calls)", format_amount(*c)))
            .collect();
        let _ = writeln!(out, "  by model: {}", list(models));
        let threads = by_thread
            .iter()
            .map(|(t, c)| format!("{t} {}", format_amount(*c)))
            .collect();
        let _ = writeln!(out, "  by thread: {}", list(threads));
    }
    out
}

fn per_million(tokens: u64, rate: f64) -> f64 {
    tokens as f64 * rate / 1_000_000.0
}

fn check_rates(model: &str, price: &ModelPrice) -> Result<(), PricesError> {
    let rates = [
        ("input", Some(price.input)),
        ("cached_input", price.cached_input),
        ("cache_write_input", price.cache_write_input),
        ("output", Some(price.output)),
        ("reasoning", price.reasoning),
    ];
    for (name, rate) in rates {
        if let Some(rate) = rate {
            if !rate.is_finite() || rate < 0.0 {
                return Err(PricesError::Invalid {
                    model: model.to_owned(),
                    message: format!("{name} rate {rate} is not a finite price ≥ 0"),
                });
            }
        }
    }
    if model.is_empty() || model == "*" {
        return Err(PricesError::Invalid {
            model: model.to_owned(),
            message: "a model key names a model (or a prefix before `*`)".to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
#[path = "cost_tests.rs"]
mod tests;
