//! The texts of the live resource badges: the cost/token badge of a project card (ui.md §5.1)
//! and the metrics chip of a running instance row (ui.md §4.3). Pure functions, so the
//! formatting is tested without a browser; the components only place their output.

use std::fmt::Write as _;

use clauster_wire::{Metrics, MetricsContext, Usage, UsageContext};
use leptos::prelude::*;

use crate::live::Store;

const MIB: f64 = 1_048_576.0;

/// The visible text of a badge and its tooltip.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Badge {
    pub text: String,
    pub title: String,
}

/// `value` with `decimals` (at most 6) digits after the point, rounded half away from zero.
///
/// Written out here rather than with `format!("{:.2}")`: Rust's float formatting is the
/// largest single piece of the standard library the wasm bundle would carry (≈ 9 KB gzip,
/// issue 19's size budget), and every figure the badges show fits in integers.
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss,
    reason = "the value is checked to be finite and below 2^63 after scaling"
)]
pub fn fixed(value: f64, decimals: u32) -> String {
    let decimals = decimals.min(6);
    let scale = 10_u64.pow(decimals);
    let scaled = (value.abs() * scale as f64).round();
    if !scaled.is_finite() || scaled >= 9.2e18 {
        return if value.is_nan() { "NaN" } else { "∞" }.to_owned();
    }
    let n = scaled as u64;
    let sign = if value < 0.0 && n > 0 { "-" } else { "" };
    let (whole, part) = (n / scale, n % scale);
    if decimals == 0 {
        format!("{sign}{whole}")
    } else {
        format!("{sign}{whole}.{part:0width$}", width = decimals as usize)
    }
}

/// `value` with up to 6 decimals and no trailing zeros (`0.92`, `1`, `1.5`): an exchange
/// rate as the user wrote it, without Rust's float formatting (see [`fixed`]).
pub fn decimal(value: f64) -> String {
    let text = fixed(value, 6);
    match text.split_once('.') {
        Some((whole, part)) => {
            let part = part.trim_end_matches('0');
            if part.is_empty() {
                whole.to_owned()
            } else {
                format!("{whole}.{part}")
            }
        }
        None => text,
    }
}

/// `1234567` → `1,234,567` (the dashboard's English locale).
pub fn group_digits(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (at, c) in digits.chars().enumerate() {
        if at > 0 && (digits.len() - at).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A token count with `k`/`M`/`B` and one decimal (`950`, `1.5k`, `2.0M`); a value that
/// would round to 1000 of a unit moves up to the next one.
#[allow(clippy::cast_precision_loss)]
pub fn compact_tokens(n: u64) -> String {
    if n < 1000 {
        return n.to_string();
    }
    let mut value = n as f64;
    for unit in ["k", "M", "B"] {
        value /= 1000.0;
        if (value * 10.0).round() / 10.0 < 1000.0 || unit == "B" {
            return format!("{}{unit}", fixed(value, 1));
        }
    }
    unreachable!("the loop returns at the last unit")
}

fn sessions(n: u64) -> String {
    if n == 1 {
        "1 session".to_owned()
    } else {
        format!("{} sessions", group_digits(n))
    }
}

/// The card badge for a project's usage, or `None` when the mode is `off` (or unknown) or
/// the project has no transcripts.
pub fn usage_badge(usage: &Usage, settings: &UsageContext) -> Option<Badge> {
    if usage.transcripts == 0 {
        return None;
    }
    match settings.mode.as_str() {
        "cost" => Some(cost_badge(usage, settings)),
        "tokens" => Some(token_badge(usage, settings)),
        _ => None,
    }
}

/// `≈<symbol><amount>` with the conversion named in the tooltip. A non-USD currency whose
/// `fx_rate` is still 1.0 is not converted: the amount stays USD and shows with `$`.
fn cost_badge(usage: &Usage, settings: &UsageContext) -> Badge {
    let usd = settings.currency == "USD";
    #[allow(clippy::float_cmp)]
    let unconverted = !usd && settings.fx_rate == 1.0;
    let (symbol, amount, conversion) = if usd {
        (
            settings.currency_symbol.as_str(),
            usage.cost_usd,
            " · USD".to_owned(),
        )
    } else if unconverted {
        (
            "$",
            usage.cost_usd,
            " · shown in USD (no usage.fx_rate set)".to_owned(),
        )
    } else {
        (
            settings.currency_symbol.as_str(),
            usage.cost_usd * settings.fx_rate,
            format!(
                " · converted at {} USD→{}",
                decimal(settings.fx_rate),
                settings.currency
            ),
        )
    };
    let text = if amount > 0.0 && amount < 0.005 {
        format!("<{symbol}0.01")
    } else {
        format!("≈{symbol}{}", fixed(amount, 2))
    };
    let mut title = format!(
        "Estimated from {} tokens in {}{conversion}",
        group_digits(usage.total_tokens),
        sessions(usage.transcripts)
    );
    if !usage.unpriced_models.is_empty() {
        title.push_str(" · not priced: ");
        title.push_str(&usage.unpriced_models.join(", "));
    }
    if !usage.fallback_priced_models.is_empty() {
        title.push_str(" · estimated price: ");
        title.push_str(&usage.fallback_priced_models.join(", "));
    }
    title.push_str(" · prices of ");
    title.push_str(&usage.price_table_date);
    // How the figure is made (issue 19, cost honesty): each API message counts once, as
    // ccusage counts, where 1.3.2 summed every copy a resumed or forked transcript repeats.
    title.push_str(
        " · each message counted once (de-duplicated by message and request id, like ccusage)",
    );
    if usage.duplicates_skipped > 0 {
        let _ = write!(
            title,
            "; {} repeated {} skipped, so this is lower than Clauster 1.3.2 showed",
            group_digits(usage.duplicates_skipped),
            if usage.duplicates_skipped == 1 {
                "entry"
            } else {
                "entries"
            }
        );
    }
    Badge { text, title }
}

/// `<n> tok`, counting cache tokens only when `token_total_includes_cache`.
fn token_badge(usage: &Usage, settings: &UsageContext) -> Badge {
    let t = &usage.token_breakdown;
    let shown = if settings.token_total_includes_cache {
        usage.total_tokens
    } else {
        t.input + t.output
    };
    Badge {
        text: format!("{} tok", compact_tokens(shown)),
        title: format!(
            "Input {} · output {} · cache write {} (5 m {}, 1 h {}) · cache read {}",
            group_digits(t.input),
            group_digits(t.output),
            group_digits(t.cache_creation),
            group_digits(t.cache_creation_5m),
            group_digits(t.cache_creation_1h),
            group_digits(t.cache_read),
        ),
    }
}

/// A disk rate: `MB/s` with one decimal from 1 MiB/s up, else whole `KB/s`.
#[allow(clippy::cast_precision_loss)]
pub fn disk_rate(bytes_per_second: u64) -> String {
    let bps = bytes_per_second as f64;
    if bps >= MIB {
        format!("{} MB/s", fixed(bps / MIB, 1))
    } else {
        format!("{} KB/s", fixed(bps / 1024.0, 0))
    }
}

/// The instance row's chip: `<cpu>% CPU · <rss> MB`, plus the disk rates when `show_disk`
/// and both are known; `None` when metrics are off.
#[allow(clippy::cast_precision_loss)]
pub fn metrics_chip(metrics: &Metrics, settings: &MetricsContext) -> Option<Badge> {
    if !settings.enabled || !metrics.running {
        return None;
    }
    let mut text = format!(
        "{}% CPU · {} MB",
        fixed(metrics.cpu_percent, 1),
        fixed(metrics.rss_bytes as f64 / MIB, 0)
    );
    if settings.show_disk
        && let (Some(read), Some(write)) = (metrics.disk_read_bps, metrics.disk_write_bps)
    {
        let _ = write!(text, " · ⬇{} ⬆{}", disk_rate(read), disk_rate(write));
    }
    let title = if metrics.cpu_normalized {
        "CPU summed over the bridge's processes (normalised to all cores)"
    } else {
        "CPU summed over the bridge's processes (100% = one core)"
    };
    Some(Badge {
        text,
        title: title.to_owned(),
    })
}

/// The cost/token badge of the card of `project`, live from the store.
#[component]
pub fn UsageBadge(store: Store, project: String) -> impl IntoView {
    move || {
        let settings = store.context.with(|c| c.usage.clone());
        store
            .usage
            .with(|all| all.get(&project).and_then(|u| usage_badge(u, &settings)))
            .map(|badge| {
                // Screen readers get a name and a full stop, so the amount never runs into
                // the next badge's number ("≈$15.34" + "2 checks").
                let name = if settings.mode == "cost" {
                    "Estimated cost: "
                } else {
                    "Tokens used: "
                };
                view! {
                    <span class="badge usage-badge" title=badge.title>
                        <span class="sr-only">{name}</span>
                        <span class="amount">{badge.text}</span>
                        <span class="sr-only">". "</span>
                    </span>
                }
            })
    }
}

/// The metrics chip of the row of instance `id` while its bridge runs.
#[component]
pub fn MetricsChip(store: Store, id: String) -> impl IntoView {
    move || {
        let settings = store.context.with(|c| c.metrics.clone());
        let running = store.instances.with(|list| {
            list.iter()
                .any(|i| i.instance_id == id && i.status == "running")
        });
        if !running {
            return None;
        }
        store
            .metrics
            .with(|all| all.get(&id).and_then(|m| metrics_chip(m, &settings)))
            .map(|chip| {
                view! {
                    <span class="chip metrics" title=chip.title>
                        {chip.text}
                    </span>
                }
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage() -> Usage {
        serde_json::from_value(serde_json::json!({
            "project": "alpha", "transcripts": 2, "messages": 5, "total_tokens": 1_234_567,
            "token_breakdown": {"input": 1000, "output": 2345, "cache_creation": 31_222,
                "cache_read": 1_200_000, "cache_creation_5m": 30_000, "cache_creation_1h": 1222},
            "cost_usd": 0.2468, "approximate": true, "unpriced_models": [],
            "fallback_priced_models": [], "by_model": {}, "duplicates_skipped": 0,
            "ambiguous_transcripts": 0, "unreadable_files": 0, "price_table_date": "2026-10-01"
        }))
        .expect("a valid usage")
    }

    fn settings(mode: &str, currency: &str, symbol: &str, fx: f64) -> UsageContext {
        UsageContext {
            mode: mode.into(),
            currency: currency.into(),
            currency_symbol: symbol.into(),
            fx_rate: fx,
            token_total_includes_cache: true,
        }
    }

    fn metrics(cpu: f64, rss: u64, read: Option<u64>, write: Option<u64>) -> Metrics {
        Metrics {
            running: true,
            procs: 3,
            cpu_percent: cpu,
            cpu_normalized: false,
            rss_bytes: rss,
            disk_read_bps: read,
            disk_write_bps: write,
        }
    }

    fn metrics_settings(enabled: bool, show_disk: bool) -> MetricsContext {
        MetricsContext {
            enabled,
            show_disk,
            normalize_cpu: false,
            poll_seconds: 4.0,
        }
    }

    #[test]
    fn fixed_and_decimal_write_what_the_float_formatter_wrote() {
        for (value, decimals, want) in [
            (0.2468, 2, "0.25"),
            (15.342, 2, "15.34"),
            (0.0, 2, "0.00"),
            (1234.5, 0, "1235"),
            (12.25, 1, "12.3"),
            (-0.004, 2, "0.00"),
            (-3.5, 1, "-3.5"),
            (999.96, 1, "1000.0"),
        ] {
            assert_eq!(fixed(value, decimals), want, "{value} to {decimals}");
        }
        assert_eq!(fixed(f64::NAN, 2), "NaN");
        assert_eq!(fixed(f64::INFINITY, 2), "∞");
        assert_eq!(decimal(0.92), "0.92");
        assert_eq!(decimal(1.0), "1");
        assert_eq!(decimal(156.25), "156.25");
        assert_eq!(decimal(0.000_001), "0.000001");
    }

    #[test]
    fn digits_are_grouped_and_tokens_compacted() {
        for (n, grouped) in [
            (0, "0"),
            (999, "999"),
            (1000, "1,000"),
            (1_234_567, "1,234,567"),
        ] {
            assert_eq!(group_digits(n), grouped);
        }
        for (n, compact) in [
            (0, "0"),
            (999, "999"),
            (1000, "1.0k"),
            (1549, "1.5k"),
            (999_949, "999.9k"),
            (999_950, "1.0M"),
            (2_500_000, "2.5M"),
            (7_100_000_000, "7.1B"),
            (3_000_000_000_000, "3000.0B"),
        ] {
            assert_eq!(compact_tokens(n), compact, "{n}");
        }
    }

    #[test]
    fn cost_badges_in_usd_converted_and_unconverted() {
        let usd = usage_badge(&usage(), &settings("cost", "USD", "$", 1.0)).unwrap();
        insta::assert_debug_snapshot!("cost_usd", usd);
        let eur = usage_badge(&usage(), &settings("cost", "EUR", "€", 0.9)).unwrap();
        insta::assert_debug_snapshot!("cost_eur", eur);
        let mut odd = usage();
        odd.unpriced_models = vec!["mystery-1".into()];
        odd.fallback_priced_models = vec!["claude-next".into(), "claude-later".into()];
        odd.transcripts = 1;
        let unconverted = usage_badge(&odd, &settings("cost", "GBP", "£", 1.0)).unwrap();
        insta::assert_debug_snapshot!("cost_gbp_unconverted", unconverted);
    }

    #[test]
    fn tiny_and_zero_costs() {
        let mut tiny = usage();
        tiny.cost_usd = 0.004;
        let s = settings("cost", "USD", "$", 1.0);
        assert_eq!(usage_badge(&tiny, &s).unwrap().text, "<$0.01");
        tiny.cost_usd = 0.005;
        assert_eq!(usage_badge(&tiny, &s).unwrap().text, "≈$0.01");
        tiny.cost_usd = 0.0;
        assert_eq!(usage_badge(&tiny, &s).unwrap().text, "≈$0.00");
    }

    #[test]
    fn token_badges_with_and_without_cache() {
        let mut s = settings("tokens", "USD", "$", 1.0);
        let all = usage_badge(&usage(), &s).unwrap();
        insta::assert_debug_snapshot!("tokens_with_cache", all);
        s.token_total_includes_cache = false;
        assert_eq!(usage_badge(&usage(), &s).unwrap().text, "3.3k tok");
    }

    #[test]
    fn no_badge_when_off_or_without_transcripts() {
        assert_eq!(
            usage_badge(&usage(), &settings("off", "USD", "$", 1.0)),
            None
        );
        let mut none = usage();
        none.transcripts = 0;
        assert_eq!(usage_badge(&none, &settings("cost", "USD", "$", 1.0)), None);
    }

    #[test]
    fn metrics_chips() {
        let on = metrics_settings(true, true);
        let cases = [
            (
                metrics(12.5, 150 * 1_048_576, Some(2048), Some(3 * 1_048_576 / 2)),
                "12.5% CPU · 150 MB · ⬇2 KB/s ⬆1.5 MB/s",
            ),
            (
                metrics(0.0, 1_048_576 / 2, Some(0), Some(1_048_575)),
                "0.0% CPU · 1 MB · ⬇0 KB/s ⬆1024 KB/s",
            ),
            (
                metrics(250.0, 10 * 1_048_576, None, Some(4096)),
                "250.0% CPU · 10 MB",
            ),
        ];
        for (m, text) in cases {
            let chip = metrics_chip(&m, &on).unwrap();
            assert_eq!(chip.text, text);
            assert_eq!(
                chip.title,
                "CPU summed over the bridge's processes (100% = one core)"
            );
        }
        let no_disk = metrics_settings(true, false);
        let m = metrics(3.0, 5 * 1_048_576, Some(10), Some(10));
        assert_eq!(metrics_chip(&m, &no_disk).unwrap().text, "3.0% CPU · 5 MB");
        let mut normalized = m.clone();
        normalized.cpu_normalized = true;
        assert_eq!(
            metrics_chip(&normalized, &on).unwrap().title,
            "CPU summed over the bridge's processes (normalised to all cores)"
        );
        assert_eq!(metrics_chip(&m, &metrics_settings(false, true)), None);
    }
}
