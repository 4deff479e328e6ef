//! Clauster's dashboard as Leptos components.
//!
//! One set of components compiled twice: with `ssr` the server renders the page to HTML,
//! with `hydrate` the wasm bundle attaches to that HTML. Data arrives only as
//! `clauster-wire` types: the server hands the [`Bootstrap`] to [`App`] when rendering, and
//! embeds the same value in the page so hydration starts from identical state.
#![forbid(unsafe_code)]

mod cards;
mod header;

use clauster_wire::Bootstrap;
use leptos::prelude::*;

pub use cards::matches_filter;

/// The id of the `<script type="application/json">` element carrying the bootstrap data.
pub const BOOTSTRAP_ELEMENT_ID: &str = "clauster-bootstrap";

/// The whole `<body>` content of the dashboard.
#[component]
pub fn App(bootstrap: Bootstrap) -> impl IntoView {
    let Bootstrap { context, projects } = bootstrap;
    // Runs only in the browser, after hydration attached every listener: the marker tests
    // (and people) can wait for. The server never renders it.
    Effect::new(move |_| {
        #[cfg(feature = "hydrate")]
        if let Some(root) = document().document_element() {
            let _ = root.set_attribute("data-hydrated", "true");
        }
    });
    view! {
        <header::Header context=context.clone() />
        <main class="main">
            <cards::Projects
                projects=projects
                projects_root=context.projects_root
                config_file_found=context.config_file_found
            />
        </main>
    }
}
