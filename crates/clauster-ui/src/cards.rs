//! The projects zone (ui.md §3): the trust banner, the search box, the visible set of cards
//! with "Show all N", the empty-state orientation (§9), and one card per project.

use std::collections::BTreeMap;

use clauster_wire::{Instance, Project, SortMeta, TrustState, Usage};
use leptos::prelude::*;

use crate::badges::UsageBadge;
use crate::failure::CardFailure;
use crate::icons::{self, Icon};
use crate::launch::LaunchPopover;
use crate::live::{Store, ToastKind, is_live, request};
use crate::new_project::NewProject;
use crate::preflight::ReadinessPill;
use crate::sessions::ExternalNote;
use crate::widgets::{ConfirmedButton, focus_node};

/// Cards shown before "Show all N" when nothing is searched (ui.md §3).
pub const VISIBLE_CARDS: usize = 24;
/// `localStorage` key set by **Got it** on the orientation card (ui.md §9).
pub const ORIENTATION_KEY: &str = "clauster-orientation-dismissed";

/// `localStorage` key of the sort choice (ui.md §3).
pub const SORT_KEY: &str = "clauster-sort";

/// The orders of the project list (ui.md §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortBy {
    Name,
    LastUsed,
    Cost,
}

impl SortBy {
    /// The URL / storage spelling; anything else is `None`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "name" => Some(Self::Name),
            "last_used" => Some(Self::LastUsed),
            "cost" => Some(Self::Cost),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::LastUsed => "last_used",
            Self::Cost => "cost",
        }
    }
}

/// The projects in the chosen order: name (case-insensitive); last used, newest first (the
/// newer of the sort key and the project's newest instance start); cost, highest first (the
/// live usage, else the sort key). Projects without a key come last; ties go by name.
pub fn sort_projects(
    projects: &[Project],
    by: SortBy,
    meta: &BTreeMap<String, SortMeta>,
    usage: &BTreeMap<String, Usage>,
    instances: &[Instance],
) -> Vec<Project> {
    let mut list = projects.to_vec();
    let by_name = crate::live::by_name;
    match by {
        SortBy::Name => crate::live::sort_projects_with(&mut list, &by_name),
        SortBy::LastUsed => {
            let key = |p: &Project| {
                let started = instances
                    .iter()
                    .filter(|i| i.project == p.name)
                    .filter_map(|i| i.started_at.clone())
                    .max();
                let used = meta.get(&p.name).and_then(|m| m.last_used.clone());
                started.max(used)
            };
            // Newest first, `None` last.
            crate::live::sort_projects_with(&mut list, &|a, b| {
                key(b).cmp(&key(a)).then_with(|| by_name(a, b))
            });
        }
        SortBy::Cost => {
            let key = |p: &Project| {
                usage
                    .get(&p.name)
                    .map(|u| u.cost_usd)
                    .or_else(|| meta.get(&p.name).and_then(|m| m.cost_usd))
            };
            crate::live::sort_projects_with(&mut list, &|a, b| match (key(a), key(b)) {
                (Some(x), Some(y)) => y.total_cmp(&x).then_with(|| by_name(a, b)),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => by_name(a, b),
            });
        }
    }
    list
}

/// The page URL's query for a list view: `sort` unless it is the default, `q` when set.
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
pub fn view_query(sort: SortBy, q: &str) -> String {
    let mut parts = Vec::new();
    if sort != SortBy::Name {
        parts.push(format!("sort={}", sort.as_str()));
    }
    if !q.trim().is_empty() {
        parts.push(format!("q={}", encode_component(q.trim())));
    }
    parts.join("&")
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
fn encode_component(text: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// Whether a project name passes the search box: case-insensitive substring (ui.md §3).
/// Names are ASCII (`ProjectName`), so ASCII folding is exact: a non-ASCII search letter can
/// match no name either way.
pub fn matches_filter(name: &str, filter: &str) -> bool {
    let filter = filter.trim();
    filter.is_empty()
        || name
            .to_ascii_lowercase()
            .contains(&filter.to_ascii_lowercase())
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

/// The projects zone. `sort` and `q` come from the page URL (empty: none given); a URL sort
/// wins over the stored choice, which applies after hydration (ui.md §3).
// Component props are owned values; the toolbar's state, its effects and the list share the
// signals, so the component reads top to bottom (see `LaunchPopover`).
#[allow(clippy::needless_pass_by_value, clippy::too_many_lines)]
#[component]
pub fn Projects(
    store: Store,
    sort: String,
    q: String,
    meta: BTreeMap<String, SortMeta>,
) -> impl IntoView {
    let from_url = SortBy::parse(&sort);
    // The sort keys (`GET /api/projects/sortmeta`): from the page when the URL sort needed
    // them, else fetched when such a sort is chosen.
    let sort_meta = RwSignal::new(meta);
    let sort = RwSignal::new(from_url.unwrap_or(SortBy::Name));
    let filter = RwSignal::new(q);
    let show_all = RwSignal::new(false);
    let cost_mode = store.context.with_untracked(|c| c.usage.mode == "cost");
    #[cfg(feature = "hydrate")]
    {
        if from_url.is_none()
            && let Some(stored) = crate::dom::storage_get(SORT_KEY)
                .as_deref()
                .and_then(SortBy::parse)
            && (stored != SortBy::Cost || cost_mode)
        {
            Effect::new(move |_| sort.set(stored));
        }
        // The keys of a sort by use or cost, fetched when such a sort is chosen.
        Effect::new(move |_| {
            if sort.get() == SortBy::Name {
                return;
            }
            request(
                "GET",
                store.url("/api/projects/sortmeta"),
                None,
                move |result| {
                    if let Ok(text) = result
                        && let Ok(meta) = serde_json::from_str(&text)
                    {
                        sort_meta.set(meta);
                    }
                },
            );
        });
        // The URL says what is shown, so a reload or a shared link keeps it.
        Effect::new(move |first: Option<()>| {
            let query = view_query(sort.get(), &filter.get());
            if first.is_some() || !query.is_empty() {
                crate::dom::replace_query(&query);
            }
        });
    }
    let choose_sort = move |ev: leptos::ev::Event| {
        if let Some(by) = SortBy::parse(&event_target_value(&ev)) {
            sort.set(by);
            crate::dom::storage_set(SORT_KEY, by.as_str());
        }
    };
    let total = move || store.projects.with(Vec::len);
    let visible = Memo::new(move |_| {
        let ordered = store.projects.with(|projects| {
            sort_meta.with(|meta| {
                store.usage.with(|usage| {
                    store.instances.with(|instances| {
                        sort_projects(projects, sort.get(), meta, usage, instances)
                    })
                })
            })
        });
        store
            .instances
            .with(|instances| visible_names(&ordered, instances, &filter.get(), show_all.get()))
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
                        // The attribute for the server's HTML (a URL `q`), the property after.
                        value=filter.get_untracked()
                        prop:value=move || filter.get()
                        on:input=move |ev| filter.set(event_target_value(&ev))
                    />
                </label>
                <label class="sort">
                    <span class="sr-only">"Sort projects"</span>
                    <select name="project-sort" on:change=choose_sort>
                        <option value="name" selected=move || sort.get() == SortBy::Name>
                            "Name (A–Z)"
                        </option>
                        <option value="last_used" selected=move || sort.get() == SortBy::LastUsed>
                            "Last used"
                        </option>
                        {cost_mode
                            .then(|| {
                                view! {
                                    <option value="cost" selected=move || sort.get() == SortBy::Cost>
                                        "Cost"
                                    </option>
                                }
                            })}
                    </select>
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
    let busy = RwSignal::new(false);
    let untrusted = move || {
        store.projects.with(|list| {
            list.iter()
                .filter(|p| p.trust_state != TrustState::Trusted)
                .count()
        })
    };
    let trust_all = move || {
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
    // The banner stays while some project is untrusted (an open confirm with it); the count
    // in it and in the question follows the projects.
    let shown = Memo::new(move |_| untrusted() > 0);
    let question = Signal::derive(move || {
        format!(
            "Trust all {} directories? Sessions there will follow their CLAUDE.md and .claude/.",
            untrusted()
        )
    });
    move || {
        shown.get().then(|| {
            view! {
                <div class="banner trust-banner">
                    <span>
                        {move || {
                            let n = untrusted();
                            format!(
                                "{n} {} not trusted yet.",
                                if n == 1 { "project is" } else { "projects are" },
                            )
                        }}
                    </span>
                    <ConfirmedButton
                        class="trust-all"
                        label="Trust all"
                        busy=busy
                        question=question
                        confirm_label="Trust all"
                        confirm_class="primary confirm-trust-all"
                        on_confirm=Callback::new(move |()| trust_all())
                    />
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
    let (root, defaults_found, clone_enabled) = store.context.with_untracked(|c| {
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
    let project = store.project_named(&name);
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
                {p.is_git_repo.then(|| view! { <span class="chip"><Icon icon=icons::GIT />"git"</span> })}
                {p.has_claude_md.then(|| view! { <span class="chip"><Icon icon=icons::CLAUDE_MD />"CLAUDE.md"</span> })}
                {p.has_claude_dir.then(|| view! { <span class="chip"><Icon icon=icons::CLAUDE_DIR />".claude"</span> })}
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
    // The CLAUDE.md editor (ui.md §5.2): the item only closes the menu; `assets/settings.js`
    // loads `assets/claude_md.js` on its click, which opens the editor in this card.
    // The "Claude config" sheet (ui.md §5.3), only with `config_write.enabled`: the item only
    // closes the menu; `assets/settings.js` loads `assets/claude_config.js` on its click.
    let config_write = store.context.with_untracked(|c| c.config_write.enabled);
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
                {running_badge} <crate::restart_policy::RestartsBadge store=store project=name.clone() />
                <UsageBadge store=store project=name.clone() />
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
                    <Icon icon=icons::START />
                    "Start Claude ▾"
                </button>
                <details class="menu">
                    <summary aria-label=format!("More actions for {name}")>
                        <Icon icon=icons::MORE />
                    </summary>
                    <div class="menu-items">
                        <button type="button" class="edit-claude-md" aria-haspopup="dialog"
                            data-for=name.clone() on:click=|ev| close_menu(&ev)>
                            <Icon icon=icons::CLAUDE_MD />
                            "Edit CLAUDE.md"
                        </button>
                        {config_write.then(|| view! {
                            <button type="button" class="claude-config-open" aria-haspopup="dialog"
                                data-for=name.clone() on:click=|ev| close_menu(&ev)>
                                <Icon icon=icons::CLAUDE_MD />
                                "Claude config"
                            </button>
                        })}
                        <Show when=move || !trusted()>
                            <button type="button" class="trust-one" on:click=trust_one.clone()>
                                <Icon icon=icons::TRUST />
                                "Trust this directory"
                            </button>
                        </Show>
                        <button type="button" class="copy-path" on:click=copy_path>
                            <Icon icon=icons::COPY />
                            "Copy path"
                        </button>
                        <a class="button transcripts" href=store.url(&format!("/p/{name}/transcripts"))>
                            <Icon icon=icons::TRANSCRIPT />
                            "Transcripts"
                        </a>
                    </div>
                </details>
                <crate::restart_policy::PolicyControl store=store project=name.clone() />
            </div>
            <crate::host_readiness::StartBlockedNote store=store />
            {popover}
            {error_view}
            <CardFailure store=store project=name.clone() />
            <ExternalNote store=store project=name.clone() />
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
    fn sorts_put_unknown_keys_last_and_break_ties_by_name() {
        let projects: Vec<Project> = ["beta", "Alpha", "gamma", "delta"]
            .iter()
            .map(|n| project(n))
            .collect();
        let names = |list: Vec<Project>| list.into_iter().map(|p| p.name).collect::<Vec<_>>();
        let none = BTreeMap::new();
        assert_eq!(
            names(sort_projects(
                &projects,
                SortBy::Name,
                &none,
                &BTreeMap::new(),
                &[]
            )),
            ["Alpha", "beta", "delta", "gamma"]
        );
        let meta: BTreeMap<String, SortMeta> = [
            ("beta", Some("2026-12-01T10:00:00Z"), Some(2.0)),
            ("gamma", Some("2026-12-03T10:00:00Z"), Some(2.0)),
            ("delta", None, Some(9.5)),
        ]
        .into_iter()
        .map(|(n, used, cost)| {
            (
                n.to_owned(),
                SortMeta {
                    last_used: used.map(str::to_owned),
                    cost_usd: cost,
                },
            )
        })
        .collect();
        let mut started = crate::instances::tests::instance("running");
        started.project = "Alpha".into();
        started.started_at = Some("2026-12-02T10:00:00Z".into());
        assert_eq!(
            names(sort_projects(
                &projects,
                SortBy::LastUsed,
                &meta,
                &BTreeMap::new(),
                &[started]
            )),
            ["gamma", "Alpha", "beta", "delta"]
        );
        assert_eq!(
            names(sort_projects(
                &projects,
                SortBy::Cost,
                &meta,
                &BTreeMap::new(),
                &[]
            )),
            ["delta", "beta", "gamma", "Alpha"]
        );
    }

    #[test]
    fn the_url_carries_only_what_differs_from_the_default() {
        assert_eq!(view_query(SortBy::Name, "  "), "");
        assert_eq!(view_query(SortBy::Cost, ""), "sort=cost");
        assert_eq!(
            view_query(SortBy::LastUsed, " my app/ü "),
            "sort=last_used&q=my%20app%2F%C3%BC"
        );
        assert_eq!(SortBy::parse("last_used"), Some(SortBy::LastUsed));
        assert_eq!(SortBy::parse("size"), None);
    }

    #[test]
    fn the_filter_is_a_case_insensitive_substring() {
        assert!(matches_filter("Gamma-Alpine", "alp"));
        assert!(matches_filter("beta", "  "));
        assert!(!matches_filter("beta", "alp"));
    }
}
