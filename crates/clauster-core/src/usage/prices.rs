//! Model prices: the dated built-in table, operator overrides, model id normalisation and the
//! exact integer cost of one record (data.md §1.4–§1.5).
//!
//! Rates are kept as nano-dollars per token: `r` USD per million tokens is `r × 1 000`
//! nano-dollars per token, an integer because every price has at most three decimals. No
//! floating point is used except to read operator overrides, which config hands over as
//! numbers and which are rounded here once.

use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;

use super::record::Tokens;
use crate::timestamp::parse_date_ms;

/// The shipped table; see its header for the format.
const BUILTIN_TABLE: &str = include_str!("prices.txt");

/// Families priced by their newest row when an id matches no row exactly, checked in this
/// order (data.md §1.5), so an unknown `claude-opus-9` is not silently free.
const FALLBACK_FAMILIES: [(&str, &str); 5] = [
    ("fable", "claude-fable-5-1"),
    ("mythos", "claude-mythos-5-1"),
    ("opus", "claude-opus-5-5"),
    ("sonnet", "claude-sonnet-5-5"),
    ("haiku", "claude-haiku-5-5"),
];

const PROVIDER_PREFIXES: [&str; 5] = [
    "us.anthropic.",
    "eu.anthropic.",
    "apac.anthropic.",
    "global.anthropic.",
    "anthropic.",
];

/// The five rates of one price row, in nano-dollars per token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rates {
    pub input: u64,
    pub cache_write_5m: u64,
    pub cache_write_1h: u64,
    pub cache_read: u64,
    pub output: u64,
}

impl Rates {
    /// Cost of one record at these rates, saturating at `u64::MAX` nano-dollars (about
    /// 18 billion USD, so only nonsense token counts can reach it).
    fn cost(&self, tokens: &Tokens) -> u64 {
        let sum = u128::from(tokens.input) * u128::from(self.input)
            + u128::from(tokens.output) * u128::from(self.output)
            + u128::from(tokens.cache_write_5m) * u128::from(self.cache_write_5m)
            + u128::from(tokens.cache_write_1h) * u128::from(self.cache_write_1h)
            + u128::from(tokens.cache_read) * u128::from(self.cache_read);
        u64::try_from(sum).unwrap_or(u64::MAX)
    }
}

/// A long-prompt surcharge: above `above_prompt_tokens`, all five rates are replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tier {
    pub above_prompt_tokens: u64,
    pub rates: Rates,
}

/// The rates of a model from one effective date on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatedRates {
    /// Unix milliseconds of 00:00 UTC on the effective date; `None` = since always.
    pub effective_from_ms: Option<i64>,
    pub base: Rates,
    pub tier: Option<Tier>,
}

/// Everything needed to price one model: its rows, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelPrice {
    rows: Vec<DatedRates>,
}

impl ModelPrice {
    fn flat(rates: Rates) -> Self {
        Self {
            rows: vec![DatedRates {
                effective_from_ms: None,
                base: rates,
                tier: None,
            }],
        }
    }

    /// The rows of this model, oldest first.
    pub fn rows(&self) -> &[DatedRates] {
        &self.rows
    }

    /// The newest row whose date is not after `timestamp_ms`; without a timestamp, the newest.
    pub fn row_at(&self, timestamp_ms: Option<i64>) -> &DatedRates {
        let newest = self
            .rows
            .last()
            .expect("a model price has at least one row");
        let Some(ts) = timestamp_ms else {
            return newest;
        };
        self.rows
            .iter()
            .rev()
            .find(|row| row.effective_from_ms.is_none_or(|from| from <= ts))
            // Older than every dated row and no undated one: the oldest row is the best guess.
            .unwrap_or(&self.rows[0])
    }

    /// The exact cost of one record in nano-dollars (data.md §1.4).
    pub fn cost_nanos(&self, timestamp_ms: Option<i64>, tokens: &Tokens) -> u64 {
        let row = self.row_at(timestamp_ms);
        let rates = match &row.tier {
            Some(tier) if tokens.prompt() > tier.above_prompt_tokens => &tier.rates,
            _ => &row.base,
        };
        rates.cost(tokens)
    }
}

/// How a model id was priced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PriceLookup {
    /// The normalised id equals an override or a built-in row id.
    Exact(ModelPrice),
    /// No exact match; priced as the newest model of its family (`fallback_priced_models`).
    Fallback(ModelPrice),
    /// Not a known family: cost 0 (`unpriced_models`).
    Unpriced,
}

impl PriceLookup {
    pub fn price(&self) -> Option<&ModelPrice> {
        match self {
            Self::Exact(price) | Self::Fallback(price) => Some(price),
            Self::Unpriced => None,
        }
    }
}

/// An operator's `usage.prices` entry, in USD per million tokens, as config read it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PriceOverride {
    pub input: f64,
    pub output: f64,
    pub cache_write_5m: f64,
    pub cache_write_1h: f64,
    pub cache_read: f64,
}

/// An override value that rounding to 0.001 USD per million changed (a startup warning).
#[derive(Debug, Clone, PartialEq)]
pub struct RoundedPrice {
    pub model: String,
    pub field: &'static str,
    pub given: f64,
    /// The rate used, in thousandths of a USD per million tokens (= nano-dollars per token).
    pub used_thousandths: u64,
}

impl fmt::Display for RoundedPrice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "usage.prices.{}.{}: {} rounded to {}.{:03} USD per million tokens",
            self.model,
            self.field,
            self.given,
            self.used_thousandths / 1_000,
            self.used_thousandths % 1_000
        )
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PriceError {
    #[error("usage.prices.{model}.{field} must be a finite number >= 0 (got {value})")]
    InvalidOverride {
        model: String,
        field: &'static str,
        value: f64,
    },
    #[error("usage.prices: {model:?} is not a model id")]
    EmptyModelId { model: String },
    #[error("price table line {line}: {reason}")]
    Table { line: usize, reason: String },
}

/// The built-in rows plus the operator's overrides (consulted first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceTable {
    date: String,
    builtin: HashMap<String, ModelPrice>,
    overrides: HashMap<String, ModelPrice>,
}

impl PriceTable {
    /// The table shipped with this build (`price_table_date` = [`PriceTable::date`]).
    pub fn builtin() -> Self {
        static TABLE: OnceLock<PriceTable> = OnceLock::new();
        TABLE
            .get_or_init(|| parse_table(BUILTIN_TABLE).expect("the shipped price table parses"))
            .clone()
    }

    /// The date the built-in prices were read (`YYYY-MM-DD`).
    pub fn date(&self) -> &str {
        &self.date
    }

    /// Adds or replaces rows from `usage.prices`. Keys are normalised like transcript ids;
    /// an override is flat (no effective dates, no long-prompt tier). Values are rounded to
    /// the nearest 0.001 USD per million; each value that rounding changed is returned so the
    /// caller can warn at startup.
    pub fn with_overrides<I, K>(
        mut self,
        overrides: I,
    ) -> Result<(Self, Vec<RoundedPrice>), PriceError>
    where
        I: IntoIterator<Item = (K, PriceOverride)>,
        K: AsRef<str>,
    {
        let mut rounded = Vec::new();
        for (key, given) in overrides {
            let model = normalize_model_id(key.as_ref());
            if model.is_empty() {
                return Err(PriceError::EmptyModelId {
                    model: key.as_ref().to_owned(),
                });
            }
            let mut field = |name: &'static str, value: f64| {
                let used =
                    usd_per_million_to_nanos(value).ok_or_else(|| PriceError::InvalidOverride {
                        model: model.clone(),
                        field: name,
                        value,
                    })?;
                if !thousandths_equal(used, value) {
                    rounded.push(RoundedPrice {
                        model: model.clone(),
                        field: name,
                        given: value,
                        used_thousandths: used,
                    });
                }
                Ok::<u64, PriceError>(used)
            };
            let rates = Rates {
                input: field("input", given.input)?,
                output: field("output", given.output)?,
                cache_write_5m: field("cache_write_5m", given.cache_write_5m)?,
                cache_write_1h: field("cache_write_1h", given.cache_write_1h)?,
                cache_read: field("cache_read", given.cache_read)?,
            };
            self.overrides.insert(model, ModelPrice::flat(rates));
        }
        Ok((self, rounded))
    }

    /// Prices a model id as it appears in a transcript (data.md §1.5).
    pub fn lookup(&self, model: &str) -> PriceLookup {
        let id = normalize_model_id(model);
        if let Some(price) = self.exact(&id) {
            return PriceLookup::Exact(price.clone());
        }
        for (family, fallback_id) in FALLBACK_FAMILIES {
            if id.contains(family) {
                return match self.exact(fallback_id) {
                    Some(price) => PriceLookup::Fallback(price.clone()),
                    None => PriceLookup::Unpriced,
                };
            }
        }
        PriceLookup::Unpriced
    }

    fn exact(&self, normalised: &str) -> Option<&ModelPrice> {
        self.overrides
            .get(normalised)
            .or_else(|| self.builtin.get(normalised))
    }
}

/// Normalises a model id before price lookup (data.md §1.5): lower-case; no provider prefix
/// (`us.anthropic.` …); no Vertex `@…`, Bedrock `-v<n>[:<n>]`, bracketed (`[1m]`), `-latest`
/// or `-YYYYMMDD` suffix.
pub fn normalize_model_id(model: &str) -> String {
    let mut id = model.trim().to_ascii_lowercase();
    if let Some(prefix) = PROVIDER_PREFIXES.iter().find(|p| id.starts_with(**p)) {
        id.drain(..prefix.len());
    }
    if let Some(at) = id.find('@') {
        id.truncate(at);
    }
    // Suffixes can stack (`…-20250514-v1:0`, `…[1m]`); strip until none is left.
    loop {
        let before = id.len();
        if id.ends_with(']')
            && let Some(open) = id.rfind('[')
        {
            id.truncate(open);
        }
        if let Some(cut) = bedrock_suffix_start(&id) {
            id.truncate(cut);
        }
        if let Some(stripped) = id.strip_suffix("-latest") {
            id.truncate(stripped.len());
        }
        if let Some(cut) = date_suffix_start(&id) {
            id.truncate(cut);
        }
        if id.len() == before {
            return id;
        }
    }
}

/// Start of a trailing `-v<digits>` or `-v<digits>:<digits>`.
fn bedrock_suffix_start(id: &str) -> Option<usize> {
    let start = id.rfind("-v")?;
    let rest = &id[start + 2..];
    let (version, revision) = match rest.split_once(':') {
        Some((v, r)) => (v, Some(r)),
        None => (rest, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (all_digits(version) && revision.is_none_or(all_digits)).then_some(start)
}

/// Start of a trailing `-YYYYMMDD`.
fn date_suffix_start(id: &str) -> Option<usize> {
    let start = id.len().checked_sub(9)?;
    let tail = id.as_bytes().get(start..)?;
    (tail[0] == b'-' && tail[1..].iter().all(u8::is_ascii_digit)).then_some(start)
}

/// `value` USD per million as nano-dollars per token, rounded to the nearest integer
/// (= nearest 0.001 USD per million); `None` for negative, non-finite or absurd values.
fn usd_per_million_to_nanos(value: f64) -> Option<u64> {
    // Above this a single million tokens would cost more than any real price; also keeps the
    // cast below exact.
    const LIMIT: f64 = 1e15;
    if !(0.0..=LIMIT).contains(&value) {
        return None;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "checked above: finite, non-negative and far below u64::MAX"
    )]
    let nanos = (value * 1_000.0).round() as u64;
    Some(nanos)
}

/// Whether `thousandths / 1000` reads back as exactly `value` (i.e. rounding changed nothing).
fn thousandths_equal(thousandths: u64, value: f64) -> bool {
    #[allow(
        clippy::cast_precision_loss,
        reason = "values are below 2^53 (see usd_per_million_to_nanos), so the cast is exact"
    )]
    let back = thousandths as f64 / 1_000.0;
    // Correctly rounded division gives the double nearest the decimal, which is what parsing
    // the decimal text gave config.
    back.to_bits() == value.to_bits() || (back == 0.0 && value == 0.0)
}

/// A decimal price text (`12.50`, `0.125`) as nano-dollars per token, exactly.
fn parse_price(text: &str) -> Option<u64> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty()
        || fraction.len() > 3
        || !whole
            .bytes()
            .chain(fraction.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let mut nanos: u64 = whole.parse::<u64>().ok()?.checked_mul(1_000)?;
    let mut scale = 100;
    for digit in fraction.bytes() {
        nanos = nanos.checked_add(u64::from(digit - b'0') * scale)?;
        scale /= 10;
    }
    Some(nanos)
}

fn parse_rates(fields: &[&str]) -> Option<Rates> {
    let [input, cache_write_5m, cache_write_1h, cache_read, output] = fields else {
        return None;
    };
    Some(Rates {
        input: parse_price(input)?,
        cache_write_5m: parse_price(cache_write_5m)?,
        cache_write_1h: parse_price(cache_write_1h)?,
        cache_read: parse_price(cache_read)?,
        output: parse_price(output)?,
    })
}

fn parse_table(text: &str) -> Result<PriceTable, PriceError> {
    let mut date = None;
    let mut builtin: HashMap<String, ModelPrice> = HashMap::new();
    for (index, raw) in text.lines().enumerate() {
        let line_no = index + 1;
        let err = |reason: &str| PriceError::Table {
            line: line_no,
            reason: reason.to_owned(),
        };
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(value) = line.strip_prefix("date ") {
            let value = value.trim();
            parse_date_ms(value).ok_or_else(|| err("bad date"))?;
            date = Some(value.to_owned());
            continue;
        }
        let parts: Vec<&str> = line.split('|').map(str::trim).collect();
        let [ids, from, rates, tier] = parts.as_slice() else {
            return Err(err("expected 4 `|`-separated columns"));
        };
        let effective_from_ms = match *from {
            "-" => None,
            day => Some(parse_date_ms(day).ok_or_else(|| err("bad effective_from"))?),
        };
        let rate_fields: Vec<&str> = rates.split_whitespace().collect();
        let base = parse_rates(&rate_fields).ok_or_else(|| err("bad rates"))?;
        let tier = match *tier {
            "-" => None,
            spec => {
                let fields: Vec<&str> = spec.split_whitespace().collect();
                let (threshold, rates) = fields.split_first().ok_or_else(|| err("bad tier"))?;
                let above_prompt_tokens = threshold
                    .strip_prefix('>')
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(|| err("bad tier threshold"))?;
                let rates = parse_rates(rates).ok_or_else(|| err("bad tier rates"))?;
                Some(Tier {
                    above_prompt_tokens,
                    rates,
                })
            }
        };
        let row = DatedRates {
            effective_from_ms,
            base,
            tier,
        };
        for id in ids.split(',').map(str::trim) {
            if id.is_empty() || normalize_model_id(id) != id {
                return Err(err("model ids must be normalised"));
            }
            let rows = &mut builtin
                .entry(id.to_owned())
                .or_insert(ModelPrice { rows: Vec::new() })
                .rows;
            if rows
                .iter()
                .any(|r| r.effective_from_ms == effective_from_ms)
            {
                return Err(err("two rows with the same id and effective date"));
            }
            rows.push(row);
            rows.sort_by_key(|r| r.effective_from_ms);
        }
    }
    Ok(PriceTable {
        date: date.ok_or(PriceError::Table {
            line: 0,
            reason: "no `date` line".to_owned(),
        })?,
        builtin,
        overrides: HashMap::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timestamp::parse_rfc3339_ms;

    fn tokens(input: u64, output: u64, w5: u64, w1: u64, read: u64) -> Tokens {
        Tokens {
            input,
            output,
            cache_write_5m: w5,
            cache_write_1h: w1,
            cache_read: read,
        }
    }

    fn exact(model: &str) -> ModelPrice {
        match PriceTable::builtin().lookup(model) {
            PriceLookup::Exact(price) => price,
            other => panic!("{model}: {other:?}"),
        }
    }

    #[test]
    fn builtin_table_parses_with_its_date() {
        let table = PriceTable::builtin();
        assert_eq!(table.date(), "2026-11-25");
        assert_eq!(table.builtin.len(), 26);
        let haiku = exact("claude-haiku-5-5");
        assert_eq!(
            haiku.rows()[0].base,
            Rates {
                input: 100,
                cache_write_5m: 125,
                cache_write_1h: 200,
                cache_read: 10,
                output: 500
            }
        );
    }

    #[test]
    fn normalisation_strips_prefixes_and_suffixes() {
        for (raw, want) in [
            ("claude-opus-4-8", "claude-opus-4-8"),
            ("Claude-Opus-4-8", "claude-opus-4-8"),
            ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
            (
                "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
                "claude-sonnet-4-5",
            ),
            ("anthropic.claude-3-haiku-20240307-v1", "claude-3-haiku"),
            (
                "global.anthropic.claude-opus-4-1-20250805-v2:0",
                "claude-opus-4-1",
            ),
            ("claude-opus-4-1@20250805", "claude-opus-4-1"),
            ("claude-opus-4-8[1m]", "claude-opus-4-8"),
            ("claude-3-7-sonnet-latest", "claude-3-7-sonnet"),
            ("  claude-haiku-4-5  ", "claude-haiku-4-5"),
            // A version-like word is not a Bedrock suffix unless it is `-v<digits>`.
            ("claude-vision-x", "claude-vision-x"),
            ("<synthetic>", "<synthetic>"),
        ] {
            assert_eq!(normalize_model_id(raw), want, "{raw}");
        }
    }

    #[test]
    fn exact_match_only_then_family_fallback() {
        let table = PriceTable::builtin();
        // A future minor version is never priced as the .0 release.
        assert_eq!(
            table.lookup("claude-opus-4-9"),
            PriceLookup::Fallback(exact("claude-opus-5-5"))
        );
        assert_eq!(
            table.lookup("claude-mythos-7"),
            PriceLookup::Fallback(exact("claude-mythos-5-1"))
        );
        // Families are checked in spec order: fable before opus.
        assert_eq!(
            table.lookup("fable-opus-hybrid"),
            PriceLookup::Fallback(exact("claude-fable-5-1"))
        );
        assert_eq!(table.lookup("gpt-4o"), PriceLookup::Unpriced);
        assert_eq!(table.lookup("unknown"), PriceLookup::Unpriced);
    }

    #[test]
    fn worked_example_of_the_spec() {
        let opus = exact("claude-opus-4-8");
        // data.md §1.7: 1-hour writes → 0.126119 USD; the same at the 5-minute rate → 0.0822.
        assert_eq!(
            opus.cost_nanos(None, &tokens(6, 13, 0, 11_715, 17_228)),
            126_119_000
        );
        assert_eq!(
            opus.cost_nanos(None, &tokens(6, 13, 11_715, 0, 17_228)),
            82_187_750
        );
    }

    #[test]
    fn effective_dates_pick_the_newest_row_not_after_the_record() {
        let sonnet = exact("claude-sonnet-5-5");
        let read = tokens(0, 0, 0, 0, 1_000_000);
        let before = parse_rfc3339_ms("2026-10-06T23:59:59.999Z");
        let on = parse_rfc3339_ms("2026-10-07T00:00:00Z");
        assert_eq!(sonnet.cost_nanos(before, &read), 200_000_000);
        assert_eq!(sonnet.cost_nanos(on, &read), 100_000_000);
        assert_eq!(sonnet.cost_nanos(None, &read), 100_000_000);
    }

    #[test]
    fn long_prompt_tier_applies_to_all_five_rates() {
        let sonnet45 = exact("claude-sonnet-4-5");
        let at_limit = tokens(100_000, 1_000, 50_000, 0, 50_000);
        let above = tokens(100_001, 1_000, 50_000, 0, 50_000);
        assert_eq!(
            sonnet45.cost_nanos(None, &at_limit),
            100_000 * 3_000 + 1_000 * 15_000 + 50_000 * 3_750 + 50_000 * 300
        );
        assert_eq!(
            sonnet45.cost_nanos(None, &above),
            100_001 * 6_000 + 1_000 * 22_500 + 50_000 * 7_500 + 50_000 * 600
        );
        // The 3.x Sonnets share the base row but not the tier.
        let sonnet37 = exact("claude-3-7-sonnet");
        assert_eq!(
            sonnet37.cost_nanos(None, &above),
            sonnet45.cost_nanos(None, &at_limit) + 3_000
        );
    }

    #[test]
    fn overrides_come_first_and_are_rounded_with_a_warning() {
        let over = PriceOverride {
            input: 1.0,
            output: 2.5,
            cache_write_5m: 0.1,
            cache_write_1h: 0.123_456,
            cache_read: 0.0,
        };
        let (table, rounded) = PriceTable::builtin()
            .with_overrides([("Claude-Opus-4-8-20260101", over), ("my-local-model", over)])
            .unwrap();
        let want = ModelPrice::flat(Rates {
            input: 1_000,
            cache_write_5m: 100,
            cache_write_1h: 123,
            cache_read: 0,
            output: 2_500,
        });
        assert_eq!(
            table.lookup("claude-opus-4-8"),
            PriceLookup::Exact(want.clone())
        );
        assert_eq!(table.lookup("my-local-model"), PriceLookup::Exact(want));
        assert_eq!(rounded.len(), 2);
        assert_eq!(
            rounded[0].to_string(),
            "usage.prices.claude-opus-4-8.cache_write_1h: 0.123456 rounded to 0.123 USD per million tokens"
        );
        // An overridden fallback row is what unknown family members get.
        let (table, _) = PriceTable::builtin()
            .with_overrides([("claude-haiku-5-5", over)])
            .unwrap();
        assert!(
            matches!(table.lookup("claude-haiku-9"), PriceLookup::Fallback(p) if p.rows()[0].base.input == 1_000)
        );
    }

    #[test]
    fn bad_overrides_are_errors() {
        let mut over = PriceOverride {
            input: -1.0,
            output: 0.0,
            cache_write_5m: 0.0,
            cache_write_1h: 0.0,
            cache_read: 0.0,
        };
        let err = PriceTable::builtin()
            .with_overrides([("x", over)])
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "usage.prices.x.input must be a finite number >= 0 (got -1)"
        );
        over.input = f64::NAN;
        assert!(PriceTable::builtin().with_overrides([("x", over)]).is_err());
        over.input = 1.0;
        assert_eq!(
            PriceTable::builtin()
                .with_overrides([("[1m]", over)])
                .unwrap_err(),
            PriceError::EmptyModelId {
                model: "[1m]".to_owned()
            }
        );
    }

    #[test]
    fn price_texts_are_exact() {
        assert_eq!(parse_price("0.125"), Some(125));
        assert_eq!(parse_price("12.5"), Some(12_500));
        assert_eq!(parse_price("75"), Some(75_000));
        assert_eq!(parse_price("0.0001"), None);
        assert_eq!(parse_price(".5"), None);
        assert_eq!(parse_price("1e3"), None);
    }

    #[test]
    fn broken_tables_are_rejected() {
        for (text, reason) in [
            ("a | - | 1 2 3 4 5 | -\n", "no `date` line"),
            (
                "date 2026-01-01\nA | - | 1 2 3 4 5 | -\n",
                "model ids must be normalised",
            ),
            ("date 2026-01-01\na | - | 1 2 3 4 | -\n", "bad rates"),
            (
                "date 2026-01-01\na | 2026-02-30 | 1 2 3 4 5 | -\n",
                "bad effective_from",
            ),
            (
                "date 2026-01-01\na | - | 1 2 3 4 5 | 100 1 2 3 4 5\n",
                "bad tier threshold",
            ),
            (
                "date 2026-01-01\na | - | 1 2 3 4 5 | -\na | - | 1 2 3 4 5 | -\n",
                "two rows with the same id and effective date",
            ),
        ] {
            match parse_table(text) {
                Err(PriceError::Table { reason: got, .. }) => assert_eq!(got, reason, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }
}
