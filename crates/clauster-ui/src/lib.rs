//! Clauster's dashboard as Leptos components.
//!
//! One set of components compiled twice: with `ssr` the server renders the page to HTML,
//! with `hydrate` the wasm bundle attaches to that HTML. Data arrives only as
//! `clauster-wire` types: the server hands the [`Bootstrap`] to [`App`] when rendering, and
//! embeds the same value in the page so hydration starts from identical state.
#![forbid(unsafe_code)]

mod cards;
mod header;
mod live;

use clauster_wire::Bootstrap;
use leptos::prelude::*;

pub use cards::{is_live, matches_filter, open_link, status_pill};
pub use live::{apply_frame, upsert};

/// The id of the `<script type="application/json">` element carrying the bootstrap data.
pub const BOOTSTRAP_ELEMENT_ID: &str = "clauster-bootstrap";

/// The whole `<body>` content of the dashboard.
#[component]
pub fn App(bootstrap: Bootstrap) -> impl IntoView {
    let Bootstrap {
        context,
        projects,
        instances,
    } = bootstrap;
    // The one store of instances: seeded from the page, then kept current by `/ws/events`.
    let instances = RwSignal::new(instances);
    // Runs only in the browser, after hydration attached every listener: opens the push
    // stream, whose first open sets the `data-hydrated` marker tests (and people) can wait
    // for. The server never renders it.
    #[cfg(feature = "hydrate")]
    {
        let root_path = context.root_path.clone();
        Effect::new(move |_| live::connect(root_path.clone(), instances));
    }
    view! {
        <header::Header context=context.clone() />
        <main class="main">
            <cards::Projects
                projects=projects
                projects_root=context.projects_root
                config_file_found=context.config_file_found
                instances=instances
                root_path=context.root_path.clone()
            />
        </main>
    }
}
