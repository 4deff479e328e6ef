//! The Prometheus text exposition of `GET /metrics` (http-api.md §9): a pure renderer over
//! the values the handler gathers.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The Python Clauster release this server is a drop-in for: `clauster_build_info` carries it,
/// as 1.3.2's own scrape does, so dashboards and alerts built on that series keep matching
/// (issue 18, `test_prometheus_enabled_returns_exposition`); this build's own version is
/// `clauster_rs_build_info`'s (the way Valkey keeps reporting `redis_version`).
pub const COMPATIBLE_VERSION: &str = "1.3.2";

/// The five bridge statuses, each reported even when zero.
pub const STATUSES: [&str; 5] = ["starting", "running", "stopped", "crashed", "error"];

/// Everything one scrape reports.
#[derive(Clone, Debug, Default)]
pub struct Scrape {
    pub version: String,
    /// Bridges by status; statuses not listed count zero.
    pub bridges: BTreeMap<String, u64>,
    pub projects: u64,
    /// `crashed` transitions seen since the server started, by project.
    pub crashes: BTreeMap<String, u64>,
    /// Sums over each project's running bridges.
    pub cpu_percent: BTreeMap<String, f64>,
    pub rss_bytes: BTreeMap<String, u64>,
    /// Only when `usage.mode` is `cost`: the cached rollups.
    pub cost_usd: Option<BTreeMap<String, f64>>,
}

/// Renders the scrape in the text format, version 0.0.4.
pub fn render(scrape: &Scrape) -> String {
    let mut out = String::new();
    family(
        &mut out,
        "clauster_build_info",
        "gauge",
        "The Clauster release whose API this server serves.",
    );
    let _ = writeln!(
        out,
        "clauster_build_info{{version=\"{COMPATIBLE_VERSION}\"}} 1"
    );
    family(
        &mut out,
        "clauster_rs_build_info",
        "gauge",
        "This build of Clauster (the Rust rewrite).",
    );
    let _ = writeln!(
        out,
        "clauster_rs_build_info{{version=\"{}\"}} 1",
        escape(&scrape.version)
    );
    family(&mut out, "clauster_bridges", "gauge", "Bridges by status.");
    for status in STATUSES {
        let count = scrape.bridges.get(status).copied().unwrap_or(0);
        let _ = writeln!(out, "clauster_bridges{{status=\"{status}\"}} {count}");
    }
    family(
        &mut out,
        "clauster_projects",
        "gauge",
        "Discovered projects.",
    );
    let _ = writeln!(out, "clauster_projects {}", scrape.projects);
    family(
        &mut out,
        "clauster_bridge_crashes_total",
        "counter",
        "Bridges that crashed since the server started.",
    );
    per_project(&mut out, "clauster_bridge_crashes_total", &scrape.crashes);
    // The sampled families appear once there is a sample, as in 1.3.2 (an empty family
    // reads as "no such series" to promtool anyway).
    if !scrape.cpu_percent.is_empty() {
        family(
            &mut out,
            "clauster_bridge_cpu_percent",
            "gauge",
            "CPU percent of the project's running bridges and their descendants.",
        );
        per_project(&mut out, "clauster_bridge_cpu_percent", &scrape.cpu_percent);
    }
    if !scrape.rss_bytes.is_empty() {
        family(
            &mut out,
            "clauster_bridge_rss_bytes",
            "gauge",
            "Resident memory of the project's running bridges and their descendants.",
        );
        per_project(&mut out, "clauster_bridge_rss_bytes", &scrape.rss_bytes);
    }
    // 1.3.2's hosted-channel gauge; this product has no hosted sessions, so it is always 0,
    // kept so dashboards and alerts built on it still find the series (issue 18).
    family(
        &mut out,
        "clauster_hosted_sessions",
        "gauge",
        "Live hosted sessions (always 0: this version has no hosted channel).",
    );
    let _ = writeln!(out, "clauster_hosted_sessions 0");
    if let Some(cost) = &scrape.cost_usd {
        family(
            &mut out,
            "clauster_project_cost_usd",
            "gauge",
            "Approximate cost of the project's Claude Code transcripts in USD.",
        );
        per_project(&mut out, "clauster_project_cost_usd", cost);
    }
    out
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn per_project<V: std::fmt::Display>(out: &mut String, name: &str, values: &BTreeMap<String, V>) {
    for (project, value) in values {
        let _ = writeln!(out, "{name}{{project=\"{}\"}} {value}", escape(project));
    }
}

/// Label values escape backslash, double quote and newline (the text format's rule).
pub fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_the_three_characters() {
        assert_eq!(escape(r#"a\b"c"#), r#"a\\b\"c"#);
        assert_eq!(escape("x\ny"), "x\\ny");
        assert_eq!(escape("plain-name_1.2"), "plain-name_1.2");
    }

    #[test]
    fn a_scrape_with_every_series() {
        let scrape = Scrape {
            version: "0.1.0".into(),
            bridges: BTreeMap::from([("running".into(), 2), ("crashed".into(), 1)]),
            projects: 3,
            crashes: BTreeMap::from([("beta".into(), 1)]),
            cpu_percent: BTreeMap::from([("alpha".into(), 12.5), ("we\"ird\\\n".into(), 0.0)]),
            rss_bytes: BTreeMap::from([("alpha".into(), 1_048_576), ("we\"ird\\\n".into(), 0)]),
            cost_usd: Some(BTreeMap::from([("alpha".into(), 1.2345)])),
        };
        insta::assert_snapshot!(render(&scrape));
    }

    #[test]
    fn an_idle_server_still_reports_every_status_and_no_cost_without_cost_mode() {
        let text = render(&Scrape {
            version: "0.1.0".into(),
            ..Scrape::default()
        });
        for status in STATUSES {
            assert!(text.contains(&format!("clauster_bridges{{status=\"{status}\"}} 0\n")));
        }
        assert!(text.contains("clauster_projects 0\n"));
        assert!(!text.contains("clauster_project_cost_usd"));
    }
}
