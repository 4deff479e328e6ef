//! The "?" help drawer of the header (ui.md §2): what Server Mode and Interactive mean, the
//! permission modes, the keyboard shortcuts, and where the guide is.

use leptos::prelude::*;

use crate::icons::{self, Icon};
use crate::launch::PERMISSIONS;
use crate::live::Store;

/// The guide's pages the drawer links (served by this server at `/guide/…`).
const GUIDE: &[(&str, &str)] = &[
    ("first-run", "First run"),
    ("bridges-and-modes", "Bridges and modes"),
    ("phone", "From your phone"),
    ("costs", "Costs and tokens"),
    ("securing", "Securing it"),
    ("troubleshooting", "Troubleshooting"),
];

/// The header's "?" button and the drawer it opens; Escape and Close close it.
#[component]
pub fn HelpButton(store: Store) -> impl IntoView {
    let open = RwSignal::new(false);
    let opener = NodeRef::<leptos::html::Button>::new();
    let close_button = NodeRef::<leptos::html::Button>::new();
    let close = move || {
        open.set(false);
        crate::widgets::focus_node(opener);
    };
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        if open.get()
            && let Some(button) = close_button.get()
        {
            let _ = button.focus();
        }
    });
    let on_keydown = move |ev: leptos::ev::KeyboardEvent| {
        if ev.key() == "Escape" {
            ev.stop_propagation();
            close();
        }
    };
    let drawer = move || {
        open.get().then(|| {
            let modes = PERMISSIONS
                .iter()
                .map(|p| {
                    view! {
                        <dt>{p.long}</dt>
                        <dd>{p.effect}</dd>
                    }
                })
                .collect_view();
            view! {
                <div class="sheet-backdrop" on:click=move |_| close()></div>
                <aside
                    class="help-drawer"
                    role="dialog"
                    aria-modal="true"
                    aria-labelledby="help-title"
                    on:keydown=on_keydown
                >
                    <div class="editor-head">
                        <h2 id="help-title">"Help"</h2>
                        <button
                            type="button"
                            class="close-x"
                            aria-label="Close help"
                            node_ref=close_button
                            on:click=move |_| close()
                        >
                            <Icon icon=icons::CLOSE />
                        </button>
                    </div>
                    <h3>"Server Mode or Interactive"</h3>
                    <p>
                        <strong>"Server Mode"</strong>
                        " runs one Remote Control bridge that holds many sessions: open it with Open in Claude, or scan its QR code with the Claude app, and start new sessions from claude.ai. Best from a phone."
                    </p>
                    <p>
                        <strong>"Interactive"</strong>
                        " runs one claude session in a terminal on this host, with Remote Control on: one conversation, resumed exactly where it stopped, and a live terminal view here."
                    </p>
                    <h3>"Permission modes"</h3>
                    <dl class="help-modes">{modes}</dl>
                    <h3>"Keyboard"</h3>
                    <ul class="help-keys">
                        <li><kbd>"/"</kbd>" focuses the project search"</li>
                        <li><kbd>"Esc"</kbd>" closes a popover, dialog or this drawer"</li>
                        <li><kbd>"Ctrl"</kbd>"/"<kbd>"⌘"</kbd>" + "<kbd>"S"</kbd>" saves CLAUDE.md"</li>
                        <li><kbd>"Enter"</kbd>" in a gate's field confirms it"</li>
                    </ul>
                    <h3>"The guide"</h3>
                    <GuideLinks store=store />
                    <p>
                        "On this host, "
                        <code>"clauster doctor"</code>
                        " checks what a launch needs."
                    </p>
                </aside>
            }
        })
    };
    view! {
        <button
            type="button"
            class="help-toggle"
            aria-label="Help"
            title="Help"
            aria-haspopup="dialog"
            aria-expanded=move || open.get().to_string()
            node_ref=opener
            on:click=move |_| open.update(|o| *o = !*o)
        >
            <Icon icon=icons::HELP />
        </button>
        {drawer}
    }
}

/// The guide's pages, served by this server (http-api.md §3.5).
#[component]
fn GuideLinks(store: Store) -> impl IntoView {
    let pages = GUIDE
        .iter()
        .map(|(slug, title)| {
            view! {
                <li>
                    <a href=store.url(&format!("/guide/{slug}"))>{*title}</a>
                </li>
            }
        })
        .collect_view();
    view! {
        <ul class="help-guide">
            {pages}
            <li>
                <a href=store.url("/guide")>"Every page"</a>
            </li>
        </ul>
    }
}
