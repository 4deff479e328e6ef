//! Checks as `clauster doctor`, `/api/doctor` and the per-project preflight report them
//! (cli.md §4, http-api.md §3 and §4).

use serde::{Deserialize, Serialize};

/// How a check came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Ok,
    Warn,
    Fail,
}

/// One check: `{"name", "status", "detail"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    pub name: String,
    pub status: CheckStatus,
    pub detail: String,
}

impl Check {
    pub fn new(name: impl Into<String>, status: CheckStatus, detail: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            status,
            detail: detail.into(),
        }
    }
}

/// A list of checks with its verdict: `GET /api/doctor` and a project's preflight
/// (`{"ok", "checks"}`). `ok` means no check failed; warnings keep it true.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckReport {
    pub ok: bool,
    pub checks: Vec<Check>,
}

impl CheckReport {
    /// The report of `checks`, its verdict derived from them.
    pub fn from_checks(checks: Vec<Check>) -> Self {
        let ok = checks.iter().all(|c| c.status != CheckStatus::Fail);
        Self { ok, checks }
    }

    /// How many checks warn.
    pub fn warnings(&self) -> usize {
        self.checks
            .iter()
            .filter(|c| c.status == CheckStatus::Warn)
            .count()
    }
}

/// `GET /api/projects/{name}/preflight`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectPreflight {
    pub project: String,
    pub ok: bool,
    pub checks: Vec<Check>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_warning_keeps_the_report_ok_and_a_failure_does_not() {
        let warn = CheckReport::from_checks(vec![
            Check::new("trust", CheckStatus::Warn, "untrusted"),
            Check::new("git", CheckStatus::Ok, "repository"),
        ]);
        assert!(warn.ok);
        assert_eq!(warn.warnings(), 1);
        let fail = CheckReport::from_checks(vec![Check::new("claude", CheckStatus::Fail, "x")]);
        assert!(!fail.ok);
        assert_eq!(
            serde_json::to_value(&fail).expect("serialises"),
            serde_json::json!({"ok": false, "checks": [
                {"name": "claude", "status": "fail", "detail": "x"}]})
        );
    }
}
