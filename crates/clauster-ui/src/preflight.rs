//! A project's readiness checks on its card (ui.md §3): the yellow "N check(s)" pill that
//! expands the list, and what the launch popover's MCP-approval gate asks (§4.4 gate 3).

use clauster_wire::{Check, CheckReport, CheckStatus};
use leptos::prelude::*;

use crate::live::Store;

/// The checks a card lists: everything that is not `ok`, failures first.
pub fn attention(report: &CheckReport) -> Vec<Check> {
    let mut list: Vec<Check> = report
        .checks
        .iter()
        .filter(|c| c.status != CheckStatus::Ok)
        .cloned()
        .collect();
    list.sort_by_key(|c| c.status != CheckStatus::Fail);
    list
}

/// The pill's text: "1 check", "N checks"; `None` when nothing needs attention.
pub fn pill_label(report: &CheckReport) -> Option<String> {
    match attention(report).len() {
        0 => None,
        1 => Some("1 check".to_owned()),
        n => Some(format!("{n} checks")),
    }
}

/// The `mcp-approval` warning of a report, if any: an interactive launch asks first.
pub fn mcp_warning(report: &CheckReport) -> Option<&Check> {
    report
        .checks
        .iter()
        .find(|c| c.name == "mcp-approval" && c.status != CheckStatus::Ok)
}

/// Whether `project`'s preflight, as the store holds it, has an `mcp-approval` warning.
pub fn needs_mcp_gate(store: Store, project: &str) -> bool {
    store
        .preflight
        .with_untracked(|all| all.get(project).is_some_and(|r| mcp_warning(r).is_some()))
}

/// The readiness pill of one card, and the list it expands. Live from the `preflight` of the
/// snapshot and of each `project` frame.
// Component props are owned values.
#[allow(clippy::needless_pass_by_value)]
#[component]
pub fn ReadinessPill(store: Store, project: String) -> impl IntoView {
    let open = RwSignal::new(false);
    let report = {
        let project = project.clone();
        Memo::new(move |_| store.preflight.with(|all| all.get(&project).cloned()))
    };
    let list_id = format!("preflight-{project}");
    move || {
        let report = report.get()?;
        let label = pill_label(&report)?;
        let failing = !report.ok;
        let checks = attention(&report);
        let list_id = list_id.clone();
        let controls = list_id.clone();
        let list = move || {
            open.get().then(|| {
                view! {
                    <ul class="preflight-list" id=list_id.clone()>
                        {checks
                            .iter()
                            .map(|c| {
                                view! {
                                    <li class=format!("preflight-check check-{}", status_word(c.status))>
                                        <strong>{c.name.clone()}</strong>
                                        ": "
                                        {c.detail.clone()}
                                    </li>
                                }
                            })
                            .collect_view()}
                    </ul>
                }
            })
        };
        Some(view! {
            <button
                type="button"
                class="badge readiness-pill"
                class:fail=failing
                aria-expanded=move || open.get().to_string()
                aria-controls=controls
                on:click=move |_| open.update(|o| *o = !*o)
            >
                {label}
            </button>
            {list}
        })
    }
}

fn status_word(status: CheckStatus) -> &'static str {
    match status {
        CheckStatus::Ok => "ok",
        CheckStatus::Warn => "warn",
        CheckStatus::Fail => "fail",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(checks: &[(&str, CheckStatus)]) -> CheckReport {
        CheckReport::from_checks(
            checks
                .iter()
                .map(|(name, status)| Check::new(*name, *status, format!("{name} detail")))
                .collect(),
        )
    }

    #[test]
    fn the_pill_counts_what_needs_attention() {
        assert_eq!(
            pill_label(&report(&[
                ("trust", CheckStatus::Ok),
                ("git", CheckStatus::Ok)
            ])),
            None
        );
        assert_eq!(
            pill_label(&report(&[
                ("trust", CheckStatus::Warn),
                ("git", CheckStatus::Ok)
            ])),
            Some("1 check".into())
        );
        let mixed = report(&[
            ("trust", CheckStatus::Warn),
            ("git", CheckStatus::Fail),
            ("mcp-approval", CheckStatus::Warn),
        ]);
        assert_eq!(pill_label(&mixed), Some("3 checks".into()));
        let names: Vec<String> = attention(&mixed).into_iter().map(|c| c.name).collect();
        assert_eq!(names, ["git", "trust", "mcp-approval"], "failures first");
    }

    #[test]
    fn only_an_mcp_warning_opens_the_gate() {
        assert!(mcp_warning(&report(&[("trust", CheckStatus::Warn)])).is_none());
        assert!(mcp_warning(&report(&[("mcp-approval", CheckStatus::Ok)])).is_none());
        assert_eq!(
            mcp_warning(&report(&[("mcp-approval", CheckStatus::Warn)])).map(|c| c.name.as_str()),
            Some("mcp-approval")
        );
    }
}
