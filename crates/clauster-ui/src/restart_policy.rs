//! The card's restart policy (bridges.md §7.9, §11.1; issue 25): the automatic-restart count
//! of the project's bridges, and a small menu that shows and changes the project's policy
//! (`GET/PUT /api/projects/{name}/policy`). Loaded when the menu is first opened, so a page
//! of many cards sends no request for it.

use clauster_wire::ProjectPolicy;
use leptos::prelude::*;

use crate::icons::{self, Icon};
use crate::live::{Store, request};

/// `↻ N restarts` while any of the project's bridges was restarted within the window (or one
/// is about to be); its title says when the next restart is due.
#[component]
pub fn RestartsBadge(store: Store, project: String) -> impl IntoView {
    let facts = move || {
        store.instances.with(|list| {
            let mine = list.iter().filter(|i| i.project == project);
            let restarts: u32 = mine.clone().map(|i| i.restarts).sum();
            let next = mine.filter_map(|i| i.next_restart_at.clone()).min();
            (restarts, next)
        })
    };
    move || {
        let (restarts, next) = facts();
        (restarts > 0 || next.is_some()).then(|| {
            let text = if restarts == 1 {
                "↻ 1 restart".to_owned()
            } else {
                format!("↻ {restarts} restarts")
            };
            let title = next.map_or_else(
                || "Automatic restarts in the current window".to_owned(),
                |at| format!("Next automatic restart at {at}"),
            );
            view! { <span class="badge restarts-badge" title=title>{text}</span> }
        })
    }
}

/// The "Policy" menu: restart `never` / `on failure` and "keep running across restarts".
#[allow(clippy::needless_pass_by_value)] // component props are owned
#[component]
pub fn PolicyControl(store: Store, project: String) -> impl IntoView {
    let policy = RwSignal::new(None::<ProjectPolicy>);
    let error = RwSignal::new(None::<String>);
    let url = store.url(&format!("/api/projects/{project}/policy"));
    let answer = move |result: Result<String, String>| match result {
        Ok(text) => match serde_json::from_str::<ProjectPolicy>(&text) {
            Ok(read) => {
                error.set(None);
                policy.set(Some(read));
            }
            Err(_) => error.set(Some(
                "the server sent a policy this page cannot read".into(),
            )),
        },
        Err(detail) => error.set(Some(detail)),
    };
    let load = {
        let url = url.clone();
        move |_| {
            if policy.get_untracked().is_none() {
                request("GET", url.clone(), None, answer);
            }
        }
    };
    let save = move |body: serde_json::Value| {
        request("PUT", url.clone(), Some(body.to_string()), answer);
    };
    let save_restart = save.clone();
    let controls = move || {
        policy.get().map(|p| {
            let save_restart = save_restart.clone();
            let save_keep = save.clone();
            view! {
                <label class="policy-field">
                    "Restart "
                    <select
                        class="policy-restart"
                        on:change=move |ev| save_restart(serde_json::json!({ "restart": event_target_value(&ev) }))
                    >
                        <option value="never" selected=p.restart == "never">"never"</option>
                        <option value="on-failure" selected=p.restart == "on-failure">"on failure"</option>
                    </select>
                </label>
                <label class="policy-field">
                    <input
                        type="checkbox"
                        class="policy-keep"
                        prop:checked=p.keep_running
                        on:change=move |ev| save_keep(serde_json::json!({ "keep_running": event_target_checked(&ev) }))
                    />
                    " Keep running across restarts"
                </label>
                {(p.keep_running && !p.wanted).then(|| view! {
                    <p class="policy-note">"Stopped by you: not brought back until the next Start."</p>
                })}
            }
        })
    };
    view! {
        <details class="menu policy">
            <summary class="policy-open" aria-label=format!("Restart policy for {project}") on:click=load>
                <Icon icon=icons::RETRY />
                "Policy"
            </summary>
            <div class="menu-items policy-items">
                {controls}
                {move || error.get().map(|detail| view! { <p class="policy-error" role="alert">{detail}</p> })}
            </div>
        </details>
    }
}
