//! The projects zone: the search box and one card per project.

use clauster_wire::{Project, TrustState};
use leptos::prelude::*;

/// Whether a project name passes the search box: case-insensitive substring (ui.md §3).
pub fn matches_filter(name: &str, filter: &str) -> bool {
    let filter = filter.trim();
    filter.is_empty() || name.to_lowercase().contains(&filter.to_lowercase())
}

fn plural<'a>(count: usize, one: &'a str, many: &'a str) -> &'a str {
    if count == 1 { one } else { many }
}

#[component]
pub fn Projects(
    projects: Vec<Project>,
    projects_root: String,
    config_file_found: bool,
) -> impl IntoView {
    let filter = RwSignal::new(String::new());
    let total = projects.len();
    let names: Vec<String> = projects.iter().map(|p| p.name.clone()).collect();
    let count_label = move || {
        let filter = filter.get();
        let shown = names
            .iter()
            .filter(|name| matches_filter(name, &filter))
            .count();
        if shown == total {
            format!("{total} {}", plural(total, "project", "projects"))
        } else {
            format!(
                "{shown} of {total} {}",
                plural(total, "project", "projects")
            )
        }
    };
    let empty = projects.is_empty().then(|| {
        let defaults_note = (!config_file_found).then(|| {
            view! {
                <p class="note">
                    "Running with built-in defaults — put a clauster.yml in ~/.config/clauster/ to change them"
                </p>
            }
        });
        view! {
            <section class="card getting-started">
                <h2>"Getting started"</h2>
                <p>"Projects are the folders in " <code>{projects_root}</code> "."</p>
                {defaults_note}
            </section>
        }
    });
    view! {
        <section class="projects" aria-label="Projects">
            <div class="toolbar">
                <label class="search">
                    <span class="sr-only">"Search projects"</span>
                    <input
                        type="search"
                        name="project-search"
                        placeholder="Search projects"
                        autocomplete="off"
                        prop:value=move || filter.get()
                        on:input=move |ev| filter.set(event_target_value(&ev))
                    />
                </label>
                <span class="count" aria-live="polite">{count_label}</span>
            </div>
            {empty}
            <ul class="cards">
                {projects
                    .into_iter()
                    .map(|project| {
                        let name = project.name.clone();
                        let hidden = move || !matches_filter(&name, &filter.get());
                        view! { <ProjectCard project=project hidden=Signal::derive(hidden) /> }
                    })
                    .collect_view()}
            </ul>
        </section>
    }
}

#[component]
fn ProjectCard(project: Project, hidden: Signal<bool>) -> impl IntoView {
    let Project {
        name,
        is_git_repo,
        has_claude_md,
        has_claude_dir,
        trust_state,
        ..
    } = project;
    let (shield_class, shield_label) = match trust_state {
        TrustState::Trusted => ("shield trusted", "Trusted"),
        TrustState::Untrusted => (
            "shield untrusted",
            "Not trusted yet (asked at first launch)",
        ),
    };
    view! {
        <li class="card project" data-project=name.clone() hidden=move || hidden.get()>
            <svg class=shield_class viewBox="0 0 16 16" width="16" height="16" role="img" aria-label=shield_label>
                <title>{shield_label}</title>
                <path d="M8 1 2.5 3v4.6c0 3.3 2.3 6 5.5 7.4 3.2-1.4 5.5-4.1 5.5-7.4V3z" />
            </svg>
            <span class="name" title=name.clone()>{name.clone()}</span>
            <span class="chips">
                {is_git_repo.then(|| view! { <span class="chip">"git"</span> })}
                {has_claude_md.then(|| view! { <span class="chip">"CLAUDE.md"</span> })}
                {has_claude_dir.then(|| view! { <span class="chip">".claude"</span> })}
            </span>
        </li>
    }
}
