//! The maintenance panel (ui.md §10), shown only with `context.reaper_ui`: leftover
//! claude.ai bridge environments from `GET /api/environments/ghosts`, archived or deleted
//! with `POST /api/environments/reap` (http-api.md §7, bridges.md §15).

use std::collections::BTreeSet;

use clauster_wire::{GhostsView, ReapAction, ReapRequest, ReapResult};
use leptos::prelude::*;

use crate::live::{Store, request};

/// The word the delete confirmation must be typed as.
pub const DELETE_WORD: &str = "DELETE";

/// The line under the heading once a scan answered.
pub fn summary_line(view: &GhostsView) -> String {
    if view.ghosts.is_empty() {
        "Nothing to clean up.".to_owned()
    } else {
        format!(
            "{} leftover, {} in use and kept (cloud environments are never listed)",
            view.ghosts.len(),
            view.live_dirs
        )
    }
}

/// An environment id as listed: its first 12 characters, then `…`.
pub fn short_id(id: &str) -> String {
    let mut chars = id.chars();
    let head: String = chars.by_ref().take(12).collect();
    if chars.next().is_some() {
        format!("{head}…")
    } else {
        head
    }
}

/// **Delete permanently** is enabled only with something selected and `DELETE` typed exactly.
pub fn delete_enabled(typed: &str, selected: usize) -> bool {
    selected > 0 && typed == DELETE_WORD
}

/// "Archived N, skipped k, failed e" (or "Deleted …") after a reap.
pub fn result_line(result: &ReapResult) -> String {
    let verb = match result.action {
        ReapAction::Archive => "Archived",
        ReapAction::Delete => "Deleted",
    };
    format!(
        "{verb} {}, skipped {}, failed {}",
        result.reaped.len(),
        result.skipped.len(),
        result.errors.len()
    )
}

/// The reap body for the selected ids, with the confirmation word the server requires.
pub fn reap_request(action: ReapAction, ids: Vec<String>) -> ReapRequest {
    let confirm = match action {
        ReapAction::Archive => "archive",
        ReapAction::Delete => DELETE_WORD,
    };
    ReapRequest {
        action,
        ids,
        confirm: confirm.to_owned(),
    }
}

/// Where the panel stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scan {
    /// Not opened yet: nothing asked.
    Idle,
    Scanning,
    /// The scan's error `detail` (503 credentials / live set, 502 API error).
    Failed(String),
    Ready(GhostsView),
}

/// The panel: a collapsed section that scans on first open.
#[component]
pub fn MaintenancePanel(store: Store) -> impl IntoView {
    let scan = RwSignal::new(Scan::Idle);
    // The first open scans (a click on the summary, also from the keyboard).
    let first_open = move |_| {
        if scan.get_untracked() == Scan::Idle {
            rescan(store, scan);
        }
    };
    view! {
        <section class="card maintenance" aria-labelledby="maintenance-heading">
            <details>
                <summary on:click=first_open>
                    <h2 id="maintenance-heading">"Leftover claude.ai environments"</h2>
                </summary>
                <MaintenanceBody store=store scan=scan />
            </details>
        </section>
    }
}

/// Asks for the ghost list again.
fn rescan(store: Store, scan: RwSignal<Scan>) {
    scan.set(Scan::Scanning);
    request(
        "GET",
        store.url("/api/environments/ghosts"),
        None,
        move |result| {
            scan.set(match result {
                Ok(text) => serde_json::from_str::<GhostsView>(&text).map_or_else(
                    |_| Scan::Failed("The server's answer could not be read.".to_owned()),
                    Scan::Ready,
                ),
                Err(detail) => Scan::Failed(detail),
            });
        },
    );
}

/// Everything under the heading, for a given scan state.
// State, handlers and markup share the selection and the typed word.
#[allow(clippy::too_many_lines)]
#[component]
pub fn MaintenanceBody(store: Store, scan: RwSignal<Scan>) -> impl IntoView {
    let unchecked = RwSignal::new(BTreeSet::<String>::new());
    let typed = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let outcome = RwSignal::new(None::<Result<ReapResult, String>>);
    let selected = move || {
        scan.with(|s| match s {
            Scan::Ready(view) => unchecked.with(|off| {
                view.ghosts
                    .iter()
                    .filter(|g| !off.contains(&g.id))
                    .map(|g| g.id.clone())
                    .collect::<Vec<_>>()
            }),
            _ => Vec::new(),
        })
    };
    let reap = move |action: ReapAction| {
        let ids = selected();
        if ids.is_empty() {
            return;
        }
        busy.set(true);
        let body = serde_json::to_string(&reap_request(action, ids)).unwrap_or_default();
        request(
            "POST",
            store.url("/api/environments/reap"),
            Some(body),
            move |answer| {
                busy.set(false);
                typed.set(String::new());
                match answer.map(|text| serde_json::from_str::<ReapResult>(&text)) {
                    Ok(Ok(result)) => {
                        // What was reaped or is no longer a ghost leaves the list.
                        scan.update(|s| {
                            if let Scan::Ready(view) = s {
                                view.ghosts.retain(|g| {
                                    !result.reaped.contains(&g.id)
                                        && !result.skipped.contains(&g.id)
                                });
                            }
                        });
                        outcome.set(Some(Ok(result)));
                    }
                    Ok(Err(_)) => outcome.set(Some(Err(
                        "The server's answer could not be read.".to_owned()
                    ))),
                    Err(detail) => outcome.set(Some(Err(detail))),
                }
            },
        );
    };
    let outcome_view = move || {
        outcome.get().map(|answer| match answer {
            Ok(result) => {
                let errors = result
                    .errors
                    .iter()
                    .map(
                        |(id, message)| view! { <li>{format!("{}: {message}", short_id(id))}</li> },
                    )
                    .collect_view();
                view! {
                    <div class="reap-result" role="status">
                        <p>{result_line(&result)}</p>
                        <ul class="reap-errors">{errors}</ul>
                    </div>
                }
                .into_any()
            }
            Err(detail) => {
                view! { <p class="alert reap-error" role="alert">{detail}</p> }.into_any()
            }
        })
    };
    let list = move |view: &GhostsView| {
        view.ghosts
            .iter()
            .map(|g| {
                let id = g.id.clone();
                let toggled = id.clone();
                view! {
                    <li class="ghost">
                        <label class="ghost-pick">
                            <input
                                type="checkbox"
                                name="ghost"
                                value=id.clone()
                                prop:checked=move || unchecked.with(|off| !off.contains(&id))
                                on:change=move |ev| {
                                    let on = event_target_checked(&ev);
                                    unchecked.update(|off| {
                                        if on {
                                            off.remove(&toggled);
                                        } else {
                                            off.insert(toggled.clone());
                                        }
                                    });
                                }
                            />
                            <code title=g.id.clone()>{short_id(&g.id)}</code>
                            <span class="ghost-dir">{g.directory.clone()}</span>
                            <span class="ghost-name">{g.name.clone()}</span>
                        </label>
                    </li>
                }
            })
            .collect_view()
    };
    let body = move || match scan.get() {
        Scan::Idle | Scan::Scanning => view! { <p class="scan-note">"Scanning…"</p> }.into_any(),
        Scan::Failed(detail) => {
            view! { <p class="alert scan-error" role="alert">{detail}</p> }.into_any()
        }
        Scan::Ready(view) => {
            let any = !view.ghosts.is_empty();
            let actions = any.then(|| {
                view! {
                    <div class="actions reap-actions">
                        <button
                            type="button"
                            class="primary archive"
                            disabled=move || busy.get() || selected().is_empty()
                            on:click=move |_| reap(ReapAction::Archive)
                        >
                            {move || format!("Archive {} (can be undone)", selected().len())}
                        </button>
                        <label class="field delete-confirm">
                            <span>"Type DELETE to enable permanent deletion"</span>
                            <input
                                type="text"
                                name="delete_confirm"
                                autocomplete="off"
                                prop:value=move || typed.get()
                                on:input=move |ev| typed.set(event_target_value(&ev))
                            />
                        </label>
                        <button
                            type="button"
                            class="danger delete"
                            disabled=move || {
                                busy.get() || !delete_enabled(&typed.get(), selected().len())
                            }
                            on:click=move |_| reap(ReapAction::Delete)
                        >
                            "Delete permanently"
                        </button>
                    </div>
                }
            });
            view! {
                <p class="scan-summary">{summary_line(&view)}</p>
                <ul class="ghosts">{list(&view)}</ul>
                {actions}
            }
            .into_any()
        }
    };
    view! {
        <div class="maintenance-body">
            {body}
            {outcome_view}
            <button
                type="button"
                class="refresh"
                disabled=move || busy.get() || scan.with(|s| *s == Scan::Scanning)
                on:click=move |_| {
                    outcome.set(None);
                    unchecked.set(BTreeSet::new());
                    rescan(store, scan);
                }
            >
                "Refresh"
            </button>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use clauster_wire::Ghost;

    use super::*;

    fn ghosts(n: usize, live_dirs: u64) -> GhostsView {
        GhostsView {
            enabled: true,
            total: 10,
            live_dirs,
            ghosts: (1..=n)
                .map(|k| Ghost {
                    id: format!("env_01JGHOST{k:04}ABCDEF"),
                    directory: format!("/srv/projects/p{k}"),
                    name: format!("p{k}"),
                })
                .collect(),
        }
    }

    #[test]
    fn the_summary_says_what_was_found() {
        assert_eq!(summary_line(&ghosts(0, 3)), "Nothing to clean up.");
        assert_eq!(
            summary_line(&ghosts(2, 3)),
            "2 leftover, 3 in use and kept (cloud environments are never listed)"
        );
        assert_eq!(short_id("env_01JGHOST0001ABCDEF"), "env_01JGHOST…");
        assert_eq!(short_id("env_short"), "env_short");
    }

    #[test]
    fn delete_needs_the_typed_word_and_a_selection() {
        assert!(delete_enabled("DELETE", 1));
        assert!(!delete_enabled("DELETE", 0), "nothing selected");
        assert!(!delete_enabled("delete", 3), "the word is case-sensitive");
        assert!(!delete_enabled(" DELETE", 3), "exactly the word");
        assert!(!delete_enabled("", 3));
    }

    #[test]
    fn the_request_carries_the_matching_confirmation() {
        let archive = reap_request(ReapAction::Archive, vec!["env_1".into()]);
        assert_eq!(
            serde_json::to_value(&archive).unwrap(),
            serde_json::json!({"action": "archive", "ids": ["env_1"], "confirm": "archive"})
        );
        let delete = reap_request(ReapAction::Delete, vec!["env_1".into(), "env_2".into()]);
        assert_eq!(delete.confirm, "DELETE");
    }

    #[test]
    fn the_result_line_counts_each_outcome() {
        let result = ReapResult {
            action: ReapAction::Archive,
            reaped: vec!["env_1".into(), "env_2".into()],
            skipped: vec!["env_3".into()],
            errors: BTreeMap::from([("env_4".into(), "HTTP 500".into())]),
        };
        assert_eq!(result_line(&result), "Archived 2, skipped 1, failed 1");
        let deleted = ReapResult {
            action: ReapAction::Delete,
            reaped: vec![],
            skipped: vec![],
            errors: BTreeMap::new(),
        };
        assert_eq!(result_line(&deleted), "Deleted 0, skipped 0, failed 0");
    }

    fn context() -> clauster_wire::PageContext {
        let mut json = crate::fixtures::context_json();
        json["reaper_ui"] = true.into();
        crate::fixtures::context_from(json)
    }

    /// The body as the server would render it for `scan`, hydration markers removed.
    fn rendered(scan: Scan) -> String {
        let owner = Owner::new();
        owner.with(|| {
            let store = Store::new(context(), vec![], vec![]);
            let scan = RwSignal::new(scan);
            let html = view! { <MaintenanceBody store=store scan=scan /> }.to_html();
            html.replace("<!>", "").replace("<!---->", "")
        })
    }

    #[test]
    fn the_panel_renders_each_scan_state() {
        insta::assert_snapshot!("maintenance_scanning", rendered(Scan::Scanning));
        insta::assert_snapshot!(
            "maintenance_failed",
            rendered(Scan::Failed(
                "no usable claude.ai credentials: the token expired".into()
            ))
        );
        insta::assert_snapshot!("maintenance_nothing", rendered(Scan::Ready(ghosts(0, 2))));
        let listed = rendered(Scan::Ready(ghosts(2, 1)));
        assert!(listed.contains("Archive 2 (can be undone)"), "{listed}");
        insta::assert_snapshot!("maintenance_two_ghosts", listed);
    }
}
