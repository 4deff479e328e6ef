//! Medians, ranges, percentiles and the side-by-side table.

use std::fmt::Write as _;
use std::time::Duration;

/// Several runs of one figure.
#[derive(Debug, Clone, Default)]
pub struct Runs(pub Vec<f64>);

impl Runs {
    pub fn push(&mut self, v: f64) {
        self.0.push(v);
    }

    fn sorted(&self) -> Vec<f64> {
        let mut v = self.0.clone();
        v.sort_by(f64::total_cmp);
        v
    }

    pub fn median(&self) -> Option<f64> {
        let v = self.sorted();
        if v.is_empty() {
            return None;
        }
        let mid = v.len() / 2;
        Some(if v.len().is_multiple_of(2) {
            f64::midpoint(v[mid - 1], v[mid])
        } else {
            v[mid]
        })
    }

    pub fn range(&self) -> Option<(f64, f64)> {
        let v = self.sorted();
        Some((*v.first()?, *v.last()?))
    }
}

/// The `p`-th percentile (0–100, nearest rank) of durations, in milliseconds.
pub fn percentile_ms(times: &[Duration], p: f64) -> f64 {
    let mut ms: Vec<f64> = times.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
    ms.sort_by(f64::total_cmp);
    if ms.is_empty() {
        return f64::NAN;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "a rank within a small vector"
    )]
    let rank = ((p / 100.0) * ms.len() as f64).ceil() as usize;
    ms[rank.clamp(1, ms.len()) - 1]
}

/// Units a figure is shown in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Ms,
    MiB,
    KiB,
    Kb,
    Mb,
    /// Per cent (of a core, for CPU shares).
    Pct,
}

impl Unit {
    fn show(self, v: f64) -> String {
        match self {
            Unit::Ms if v < 10.0 => format!("{v:.2} ms"),
            Unit::Ms => format!("{v:.1} ms"),
            Unit::Kb => format!("{:.1} KB", v / 1_000.0),
            Unit::MiB => format!("{:.1} MiB", v / 1_048_576.0),
            Unit::KiB => format!("{:.1} KiB", v / 1024.0),
            Unit::Mb => format!("{:.2} MB", v / 1_000_000.0),
            Unit::Pct => format!("{v:.1} %"),
        }
    }
}

/// One figure for one or more programs.
#[derive(Debug, Clone)]
pub struct Row {
    pub measure: String,
    pub unit: Unit,
    pub ours: Runs,
    /// The other program's name and its runs, or why it has none.
    pub theirs: Option<(String, Result<Runs, String>)>,
    /// The spec's target, as text, and the bound in the figure's raw unit (smaller is better).
    pub target: Option<(String, f64)>,
}

impl Row {
    pub fn new(measure: impl Into<String>, unit: Unit, ours: Runs) -> Self {
        Self {
            measure: measure.into(),
            unit,
            ours,
            theirs: None,
            target: None,
        }
    }

    pub fn vs(mut self, who: &str, theirs: Result<Runs, String>) -> Self {
        self.theirs = Some((who.to_owned(), theirs));
        self
    }

    pub fn target(mut self, text: &str, bound: f64) -> Self {
        self.target = Some((text.to_owned(), bound));
        self
    }

    fn cell(&self, runs: &Runs) -> String {
        match (runs.median(), runs.range()) {
            (Some(m), Some((lo, hi))) if runs.0.len() > 1 => format!(
                "{} [{}–{}]",
                self.unit.show(m),
                self.unit.show(lo),
                self.unit.show(hi)
            ),
            (Some(m), _) => self.unit.show(m),
            _ => "n/a".to_owned(),
        }
    }

    /// Whether the median meets the target: `None` without a target or a figure.
    pub fn met(&self) -> Option<bool> {
        Some(self.ours.median()? <= self.target.as_ref()?.1)
    }
}

/// The side-by-side table as Markdown (printed, and pasted into BENCHMARKS.md).
pub fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| Measure | Ours: median [range] | Theirs | Ours/theirs | Target | Met |\n|---|---|---|---|---|---|\n",
    );
    for row in rows {
        let (theirs, ratio) = match &row.theirs {
            None => ("—".to_owned(), "—".to_owned()),
            Some((who, Err(why))) => (format!("{who}: n/a ({why})"), "n/a".to_owned()),
            Some((who, Ok(runs))) => {
                let ratio = match (row.ours.median(), runs.median()) {
                    (Some(a), Some(b)) if b > 0.0 => format!("{:.3}", a / b),
                    _ => "n/a".to_owned(),
                };
                (format!("{who}: {}", row.cell(runs)), ratio)
            }
        };
        let (target, met) = match (&row.target, row.met()) {
            (Some((text, _)), Some(true)) => (text.clone(), "yes".to_owned()),
            (Some((text, bound)), Some(false)) => {
                let m = row.ours.median().unwrap_or(f64::NAN);
                (
                    text.clone(),
                    format!("**no** (+{:.0} %)", (m / bound - 1.0) * 100.0),
                )
            }
            (Some((text, _)), None) => (text.clone(), "n/a".to_owned()),
            (None, _) => ("—".to_owned(), "—".to_owned()),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {theirs} | {ratio} | {target} | {met} |",
            row.measure,
            row.cell(&row.ours)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_range_and_percentiles() {
        let runs = Runs(vec![3.0, 1.0, 2.0, 10.0]);
        assert_eq!(runs.median(), Some(2.5));
        assert_eq!(runs.range(), Some((1.0, 10.0)));
        assert_eq!(Runs::default().median(), None);
        let times: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert!((percentile_ms(&times, 50.0) - 50.0).abs() < 1e-9);
        assert!((percentile_ms(&times, 99.0) - 99.0).abs() < 1e-9);
    }

    #[test]
    fn the_table_shows_ratio_target_and_gap() {
        let rows = vec![
            Row::new(
                "Cold start, N=1000",
                Unit::Ms,
                Runs(vec![120.0, 130.0, 125.0]),
            )
            .vs("python", Ok(Runs(vec![1250.0])))
            .target("≤ 110 ms", 110.0),
            Row::new("Push latency", Unit::Ms, Runs(vec![4.0]))
                .vs("python", Err("no /ws/events".into())),
        ];
        let text = table(&rows);
        assert!(text.contains("| Cold start, N=1000 | 125.0 ms [120.0 ms–130.0 ms] | python: 1250.0 ms | 0.100 | ≤ 110 ms | **no** (+14 %) |"), "{text}");
        assert!(
            text.contains("python: n/a (no /ws/events) | n/a |"),
            "{text}"
        );
    }
}
