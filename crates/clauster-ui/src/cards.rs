//! The projects zone (ui.md §3): the trust banner, the search box, the visible set of cards
//! with "Show all N", the empty-state orientation (§9), and one card per project.

use clauster_wire::{Instance, Project, TrustState};
use leptos::prelude::*;

use crate::badges::UsageBadge;
use crate::claude_md::ClaudeMdEditor;
use crate::instances::focus_node;
use crate::launch::LaunchPopover;
use crate::live::{Store, ToastKind, is_live, request};
use crate::new_project::NewProject;
use crate::preflight::ReadinessPill;
use crate::sessions::ExternalNote;
use crate::widgets::Confirm;

/// Cards shown before "Show all N" when nothing is searched (ui.md §3).
pub const VISIBLE_CARDS: usize = 24;
/// `localStorage` key set by **Got it** on the orientation card (ui.md §9).
pub const ORIENTATION_KEY: &str = "clauster-orientation-dismissed";

/// Whether a project name passes the search box: case-insensitive substring (ui.md §3).
pub fn matches_filter(name: &str, filter: &str) -> bool {
    let filter = filter.trim();
    filter.is_empty() || name.to_lowercase().contains(&filter.to_lowercase())
}

/// The names of the cards to render, in order: the search matches; without a search the
/// first [`VISIBLE_CARDS`] plus every project with a live instance, or all of them.
pub fn visible_names(
    projects: &[Project],
    instances: &[Instance],
    filter: &str,
    show_all: bool,
) -> Vec<String> {
    let searching = !filter.trim().is_empty();
    projects
        .iter()
        .enumerate()
        .filter(|(at, p)| {
            if searching {
                matches_filter(&p.name, filter)
            } else {
                show_all
                    || *at < VISIBLE_CARDS
                    || instances.iter().any(|i| i.project == p.name && is_live(i))
            }
        })
        .map(|(_, p)| p.name.clone())
        .collect()
}

fn plural<'a>(count: usize, one: &'a str, many: &'a str) -> &'a str {
    if count == 1 { one } else { many }
}

#[component]
pub fn Projects(store: Store) -> impl IntoView {
    let filter = RwSignal::new(String::new());
    let show_all = RwSignal::new(false);
    let total = move || store.projects.with(Vec::len);
    let visible = Memo::new(move |_| {
        store.projects.with(|projects| {
            store
                .instances
                .with(|instances| visible_names(projects, instances, &filter.get(), show_all.get()))
        })
    });
    let count_label = move || {
        let total = total();
        let searching = !filter.with(|f| f.trim().is_empty());
        let shown = visible.with(Vec::len);
        if searching && shown != total {
            format!(
                "{shown} of {total} {}",
                plural(total, "project", "projects")
            )
        } else {
            format!("{total} {}", plural(total, "project", "projects"))
        }
    };
    let show_all_button = move || {
        let total = total();
        let hidden = filter.with(|f| f.trim().is_empty()) && visible.with(Vec::len) < total;
        hidden.then(|| {
            view! {
                <button type="button" class="show-all" on:click=move |_| show_all.set(true)>
                    {format!("Show all {total}")}
                </button>
            }
        })
    };
    view! {
        <section class="projects" aria-labelledby="projects-heading">
            <h2 id="projects-heading" class="sr-only">"Projects"</h2>
            <TrustBanner store=store />
            <div class="toolbar">
                <label class="search">
                    <span class="sr-only">"Search projects"</span>
                    <input
                        type="search"
                        name="project-search"
                        placeholder="Search projects  ( / )"
                        autocomplete="off"
                        prop:value=move || filter.get()
                        on:input=move |ev| filter.set(event_target_value(&ev))
                    />
                </label>
                <span class="count">{count_label}</span>
            </div>
            <NewProject store=store />
            <Orientation store=store />
            <ul class="cards">
                <For each=move || visible.get() key=|name| name.clone() let(name)>
                    <ProjectCard store=store name=name />
                </For>
            </ul>
            {show_all_button}
        </section>
    }
}

/// "N projects are not trusted yet." with **Trust all** behind a confirm (ui.md §6).
#[component]
fn TrustBanner(store: Store) -> impl IntoView {
    let asking = RwSignal::new(false);
    let busy = RwSignal::new(false);
    let opener = NodeRef::<leptos::html::Button>::new();
    let untrusted = move || {
        store.projects.with(|list| {
            list.iter()
                .filter(|p| p.trust_state != TrustState::Trusted)
                .count()
        })
    };
    let trust_all = move || {
        asking.set(false);
        busy.set(true);
        request(
            "POST",
            store.url("/api/projects/trust-all"),
            None,
            move |result| {
                busy.set(false);
                match result {
                    Ok(text) => {
                        if let Ok(projects) = serde_json::from_str::<Vec<Project>>(&text) {
                            for project in projects {
                                store.upsert_project(project);
                            }
                        }
                    }
                    Err(detail) => store.toast(ToastKind::Error, detail),
                }
            },
        );
    };
    move || {
        let n = untrusted();
        (n > 0).then(|| {
            let confirm = move || {
                asking.get().then(|| {
                    view! {
                        <Confirm
                            text=format!(
                                "Trust all {n} directories? Sessions there will follow their CLAUDE.md and .claude/.",
                            )
                            confirm_label="Trust all"
                            confirm_class="primary confirm-trust-all"
                            on_confirm=Callback::new(move |()| trust_all())
                            on_cancel=Callback::new(move |()| {
                                asking.set(false);
                                focus_node(opener);
                            })
                        />
                    }
                })
            };
            view! {
                <div class="banner trust-banner">
                    <span>
                        {format!(
                            "{n} {} not trusted yet.",
                            if n == 1 { "project is" } else { "projects are" },
                        )}
                    </span>
                    <button
                        type="button"
                        class="trust-all"
                        node_ref=opener
                        disabled=move || busy.get()
                        on:click=move |_| asking.set(true)
                    >
                        "Trust all"
                    </button>
                    {confirm}
                </div>
            }
        })
    }
}

/// The "Getting started" card when there are no projects, or the one-line strip after
/// **Got it** (ui.md §9). Its create/clone buttons open the new-project panel (§7).
#[component]
fn Orientation(store: Store) -> impl IntoView {
    let dismissed = RwSignal::new(false);
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        if crate::dom::storage_get(ORIENTATION_KEY).as_deref() == Some("1") {
            dismissed.set(true);
        }
    });
    let (root, defaults_found, clone_enabled) = store.context.with_value(|c| {
        (
            c.projects_root.clone(),
            c.config_file_found,
            c.clone.enabled,
        )
    });
    move || {
        if store.projects.with(|p| !p.is_empty()) {
            return None;
        }
        if dismissed.get() {
            return Some(view! { <p class="strip">"No projects yet"</p> }.into_any());
        }
        let defaults_note = (!defaults_found).then(|| {
            view! {
                <p class="note">
                    "Running with built-in defaults — put a clauster.yml in ~/.config/clauster/ to change them"
                </p>
            }
        });
        Some(
            view! {
                <section class="card getting-started">
                    <h2>"Getting started"</h2>
                    <p>"Projects are the folders in " <code>{root.clone()}</code> "."</p>
                    {defaults_note}
                    <div class="actions">
                        <button
                            type="button"
                            class="primary create-first"
                            on:click=move |_| store.new_project.set(Some(false))
                        >
                            "Create a project"
                        </button>
                        {clone_enabled
                            .then(|| {
                                view! {
                                    <button
                                        type="button"
                                        class="clone-first"
                                        on:click=move |_| store.new_project.set(Some(true))
                                    >
                                        "Clone from a git URL"
                                    </button>
                                }
                            })}
                    </div>
                    <ol class="steps">
                        <li>"Start a bridge here, from a project card."</li>
                        <li>
                            "Open it with " <strong>"Open in Claude"</strong>
                            ", or scan its QR code with the Claude app."
                        </li>
                        <li>"Keep this machine on: the sessions run here."</li>
                    </ol>
                    <button
                        type="button"
                        class="got-it"
                        on:click=move |_| {
                            crate::dom::storage_set(ORIENTATION_KEY, "1");
                            dismissed.set(true);
                        }
                    >
                        "Got it"
                    </button>
                </section>
            }
            .into_any(),
        )
    }
}

#[component]
fn ProjectCard(store: Store, name: String) -> impl IntoView {
    let project = {
        let name = name.clone();
        Memo::new(move |_| {
            store
                .projects
                .with(|list| list.iter().find(|p| p.name == name).cloned())
        })
    };
    let error = RwSignal::new(None::<String>);
    let launching = RwSignal::new(false);
    let opener = NodeRef::<leptos::html::Button>::new();
    let running = {
        let name = name.clone();
        move || {
            store.instances.with(|list| {
                list.iter()
                    .filter(|i| i.project == name && is_live(i))
                    .count()
            })
        }
    };
    let first_launch = move || store.instances.with(Vec::is_empty);
    let trusted = move || {
        project.with(|p| {
            p.as_ref()
                .is_some_and(|p| p.trust_state == TrustState::Trusted)
        })
    };
    let shield = move || {
        if trusted() {
            ("shield trusted", "Trusted")
        } else {
            (
                "shield untrusted",
                "Not trusted yet (asked at first launch)",
            )
        }
    };
    let chips = move || {
        project.get().map(|p| {
            view! {
                {p.is_git_repo.then(|| view! { <span class="chip">"git"</span> })}
                {p.has_claude_md.then(|| view! { <span class="chip">"CLAUDE.md"</span> })}
                {p.has_claude_dir.then(|| view! { <span class="chip">".claude"</span> })}
            }
        })
    };
    let running_badge = move || {
        let n = running();
        (n > 0)
            .then(|| view! { <span class="badge running-badge">{format!("● {n} running")}</span> })
    };
    let trust_one = {
        let name = name.clone();
        move |_| {
            request(
                "POST",
                store.url(&format!("/api/projects/{name}/trust")),
                None,
                move |result| match result {
                    Ok(text) => {
                        if let Ok(project) = serde_json::from_str::<Project>(&text) {
                            store.upsert_project(project);
                        }
                    }
                    Err(detail) => error.set(Some(detail)),
                },
            );
        }
    };
    let copy_path = move |_| {
        if let Some(p) = project.get_untracked() {
            crate::dom::copy_text(&p.path);
            store.toast(ToastKind::Info, "Path copied");
        }
    };
    let error_view = move || {
        error.get().map(|detail| {
            view! {
                <div class="alert" role="alert">
                    <span>{detail}</span>
                    <button type="button" aria-label="Dismiss" on:click=move |_| error.set(None)>
                        "×"
                    </button>
                </div>
            }
        })
    };
    let close_popover = Callback::new(move |()| {
        launching.set(false);
        focus_node(opener);
    });
    let popover = move || {
        launching.get().then(|| {
            view! {
                <LaunchPopover
                    store=store
                    project=Signal::derive(move || project.get())
                    error=error
                    on_close=close_popover
                />
            }
        })
    };
    let edit_claude_md = {
        let name = name.clone();
        move |ev: leptos::ev::MouseEvent| {
            crate::claude_md::open(store, &name);
            close_menu(&ev);
        }
    };
    let claude_md_editor = {
        let name = name.clone();
        move || {
            let name = name.clone();
            store
                .claude_md_open
                .with(|open| open.contains(&name))
                .then(|| {
                    let closing = name.clone();
                    view! {
                        <ClaudeMdEditor
                            store=store
                            name=name
                            on_close=Callback::new(move |()| {
                                crate::claude_md::close(store, &closing);
                                focus_node(opener);
                            })
                        />
                    }
                })
        }
    };
    let title = name.clone();
    view! {
        <li class="card project" data-project=name.clone()>
            <div class="card-head">
                <svg
                    class=move || shield().0
                    viewBox="0 0 16 16"
                    width="16"
                    height="16"
                    role="img"
                    aria-label=move || shield().1
                >
                    <title>{move || shield().1}</title>
                    <path d="M8 1 2.5 3v4.6c0 3.3 2.3 6 5.5 7.4 3.2-1.4 5.5-4.1 5.5-7.4V3z" />
                </svg>
                <span class="name" title=title.clone()>{title.clone()}</span>
                <span class="chips">{chips}</span>
            </div>
            <div class="card-badges">
                {running_badge} <UsageBadge store=store project=name.clone() />
                <ReadinessPill store=store project=name.clone() />
            </div>
            <div class="card-actions">
                <button
                    type="button"
                    class="primary start"
                    class:pulse-once=first_launch
                    node_ref=opener
                    aria-haspopup="dialog"
                    aria-expanded=move || launching.get().to_string()
                    disabled=move || crate::host_readiness::start_blocked(store).is_some()
                    title=move || crate::host_readiness::start_blocked(store)
                    on:click=move |_| launching.set(true)
                >
                    "Start Claude ▾"
                </button>
                <details class="menu">
                    <summary aria-label=format!("More actions for {name}")>"⋯"</summary>
                    <div class="menu-items">
                        <button type="button" class="edit-claude-md" on:click=edit_claude_md>
                            "Edit CLAUDE.md"
                        </button>
                        <Show when=move || !trusted()>
                            <button type="button" class="trust-one" on:click=trust_one.clone()>
                                "Trust this directory"
                            </button>
                        </Show>
                        <button type="button" class="copy-path" on:click=copy_path>
                            "Copy path"
                        </button>
                        <a class="transcripts" href=store.url(&format!("/p/{name}/transcripts"))>
                            "Transcripts"
                        </a>
                    </div>
                </details>
            </div>
            <crate::host_readiness::StartBlockedNote store=store />
            {popover}
            {error_view}
            <ExternalNote store=store project=name.clone() />
            {claude_md_editor}
        </li>
    }
}

/// Closes the `<details>` menu an item was clicked in.
fn close_menu(ev: &leptos::ev::MouseEvent) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        if let Some(menu) = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
            .and_then(|e| e.closest("details").ok().flatten())
        {
            let _ = menu.remove_attribute("open");
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = ev;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(name: &str) -> Project {
        serde_json::from_value(
            serde_json::json!({"name": name, "path": format!("/p/{name}"),
            "is_git_repo": false, "has_claude_md": false, "has_claude_dir": false,
            "trust_state": "trusted", "allow_bypass_permissions": false}),
        )
        .expect("a valid project")
    }

    #[test]
    fn the_visible_set_is_the_first_24_plus_live_projects() {
        let projects: Vec<Project> = (1..=30).map(|n| project(&format!("p{n:02}"))).collect();
        let mut live = crate::instances::tests::instance("running");
        live.project = "p28".into();
        let shown = visible_names(&projects, &[live.clone()], "", false);
        assert_eq!(shown.len(), 25);
        assert_eq!(shown[23], "p24");
        assert_eq!(shown[24], "p28");
        assert_eq!(
            visible_names(&projects, &[live.clone()], "", true).len(),
            30
        );
        assert_eq!(visible_names(&projects, &[live], " P3 ", false), ["p30"]);
        let mut dead = crate::instances::tests::instance("stopped");
        dead.project = "p29".into();
        assert_eq!(visible_names(&projects, &[dead], "", false).len(), 24);
    }

    #[test]
    fn the_filter_is_a_case_insensitive_substring() {
        assert!(matches_filter("Gamma-Alpine", "alp"));
        assert!(matches_filter("beta", "  "));
        assert!(!matches_filter("beta", "alp"));
    }
}
