//! The maintenance panel (ui.md §10), shown only with `context.reaper_ui`: leftover
//! claude.ai bridge environments from `GET /api/environments/ghosts`, archived or deleted
//! with `POST /api/environments/reap` (http-api.md §7, bridges.md §15). The app renders the
//! collapsed section; its body is `assets/maintenance.js`, outside the wasm bundle, which
//! `assets/settings.js` imports when the summary is first clicked (issue 19's size budget).

use leptos::prelude::*;

/// The panel: a collapsed section whose body the module fills on first open.
#[component]
pub fn MaintenancePanel() -> impl IntoView {
    view! {
        <section class="card maintenance" aria-labelledby="maintenance-heading">
            <details>
                <summary>
                    <h2 id="maintenance-heading">"Leftover claude.ai environments"</h2>
                </summary>
                <div class="maintenance-body"></div>
            </details>
        </section>
    }
}
