//! Clauster's dashboard as Leptos components.
//!
//! One set of components compiled twice: with `ssr` the server renders the page to HTML,
//! with `hydrate` the wasm bundle attaches to that HTML. Data arrives only as
//! `clauster-wire` types: the server hands the [`Bootstrap`] to [`App`] when rendering, and
//! embeds the same value in the page so hydration starts from identical state.
#![forbid(unsafe_code)]

mod badges;
mod cards;
mod dom;
mod failure;
mod failure_text;
#[cfg(test)]
mod fixtures;
mod follow;
mod header;
mod help;
mod host_readiness;
mod icons;
mod instances;
mod launch;
mod live;
mod logs;
mod maintenance;
mod new_project;
mod preflight;
mod restart_policy;
mod sessions;
mod sign_in;
mod status;
mod terminal;
mod widgets;

use clauster_wire::Bootstrap;
use leptos::prelude::*;

pub use badges::{Badge, compact_tokens, group_digits, metrics_chip, usage_badge};
pub use cards::{VISIBLE_CARDS, matches_filter, visible_names};
pub use dom::THEME_KEY;
pub use instances::open_link;
pub use launch::fork_choices;
pub use live::{Store, apply_frame, is_live, upsert};
pub use status::status_pill;

/// The id of the `<script type="application/json">` element carrying the bootstrap data.
pub const BOOTSTRAP_ELEMENT_ID: &str = "clauster-bootstrap";

/// The page title: `Clauster` or `Clauster · <instance_name>`, prefixed with `(N)` while N
/// bridges run (ui.md §2).
pub fn page_title(instance_name: Option<&str>, running: usize) -> String {
    let base = match instance_name {
        Some(name) => format!("Clauster · {name}"),
        None => "Clauster".to_owned(),
    };
    if running > 0 {
        format!("({running}) {base}")
    } else {
        base
    }
}

/// The whole `<body>` content of the dashboard.
#[component]
pub fn App(bootstrap: Bootstrap) -> impl IntoView {
    let Bootstrap {
        context,
        projects,
        instances,
        view,
        badges,
    } = bootstrap;
    // The one store: seeded from the page, then kept current by `/ws/events`.
    let reaper_ui = context.reaper_ui;
    let user_config = context.config_write.enabled && context.config_write.allow_user_scope;
    let store = Store::new(context, projects, instances);
    store.seed_badges(badges);
    // Runs only in the browser, after hydration attached every listener: opens the push
    // stream, whose first open sets the `data-hydrated` marker tests (and people) can wait
    // for. The server never renders it.
    #[cfg(feature = "hydrate")]
    {
        Effect::new(move |_| live::connect(store));
        Effect::new(move |_| {
            let name = store.context.with_untracked(|c| c.instance_name.clone());
            let running = store
                .instances
                .with(|list| list.iter().filter(|i| is_live(i)).count());
            dom::set_title(&page_title(name.as_deref(), running));
        });
        // The login badge follows the snapshot's `login` and the `login` frames.
        // `/` focuses the project search (ui.md §13).
        Effect::new(move |_| {
            let handle = window_event_listener(leptos::ev::keydown, |ev| {
                use wasm_bindgen::JsCast;
                let typing = ev
                    .target()
                    .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
                    .is_some_and(|e| {
                        matches!(e.tag_name().as_str(), "INPUT" | "TEXTAREA" | "SELECT")
                    });
                if ev.key() == "/" && !typing {
                    ev.prevent_default();
                    dom::focus_css("input[name='project-search']");
                }
            });
            on_cleanup(move || handle.remove());
        });
    }
    view! {
        <header::Header store=store />
        <widgets::ConnectionBanner store=store />
        <main
            class="main"
            class:stale=move || store.conn.get().is_stale()
            aria-busy=move || store.conn.get().is_stale().to_string()
        >
            <instances::InstanceZones store=store />
            <cards::Projects store=store sort=view.sort q=view.q meta=view.meta />
            {reaper_ui.then(|| view! { <maintenance::MaintenancePanel /> })}
            {user_config.then(|| view! { <UserConfigOpener /> })}
        </main>
        <widgets::Toasts store=store />
    }
}

/// The User scope's "Claude config" opener (only with `config_write.allow_user_scope`):
/// `assets/settings.js` loads the sheet, `assets/claude_config.js`, on its click (ui.md §5.3).
#[component]
fn UserConfigOpener() -> impl IntoView {
    view! {
        <section class="user-claude-config">
            <button type="button" class="open-user-config" aria-haspopup="dialog">
                "Claude config for all projects (User scope)"
            </button>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::page_title;

    #[test]
    fn the_title_counts_running_bridges() {
        assert_eq!(page_title(None, 0), "Clauster");
        assert_eq!(page_title(Some("lab"), 2), "(2) Clauster · lab");
    }
}
