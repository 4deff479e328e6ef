//! The projects zone: the search box and one card per project.

use clauster_wire::{Instance, Project, SpawnOutcome, TrustState};
use leptos::prelude::*;

use crate::live::{Instances, insert_if_absent, request};

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
    instances: Instances,
    root_path: String,
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
                    .map(move |project| {
                        let name = project.name.clone();
                        let hidden = move || !matches_filter(&name, &filter.get());
                        view! {
                            <ProjectCard
                                project=project
                                hidden=Signal::derive(hidden)
                                instances=instances
                                root_path=root_path.clone()
                            />
                        }
                    })
                    .collect_view()}
            </ul>
        </section>
    }
}

/// The pill of ui.md §4.2: its text and its style class.
pub fn status_pill(instance: &Instance) -> (&'static str, &'static str) {
    if instance.stopping {
        return ("Stopping…", "pill stopping");
    }
    match instance.status.as_str() {
        "starting" => ("Starting", "pill starting"),
        "running" => ("Running", "pill running"),
        "stopped" if instance.intentional_stop => ("Stopped", "pill stopped"),
        "stopped" => ("Interrupted", "pill interrupted"),
        "crashed" => ("Crashed", "pill crashed"),
        _ => ("Failed to start", "pill failed"),
    }
}

/// Whether the bridge still runs (or is still coming up): it can be stopped, not resumed.
pub fn is_live(instance: &Instance) -> bool {
    instance.alive || matches!(instance.status.as_str(), "starting" | "running")
}

/// The link **Open in Claude** points at: `session_url`, else `url`, only on claude.ai.
pub fn open_link(instance: &Instance) -> Option<String> {
    [&instance.session_url, &instance.url]
        .into_iter()
        .flatten()
        .find(|url| url.starts_with("https://claude.ai/"))
        .cloned()
}

/// Adds the instance of a start or resume answer to the store.
fn take_outcome(instances: Instances, text: &str) {
    if let Ok(outcome) = serde_json::from_str::<SpawnOutcome>(text) {
        insert_if_absent(instances, outcome.instance);
    }
}

#[component]
fn ProjectCard(
    project: Project,
    hidden: Signal<bool>,
    instances: Instances,
    root_path: String,
) -> impl IntoView {
    let Project {
        name,
        is_git_repo,
        has_claude_md,
        has_claude_dir,
        trust_state,
        ..
    } = project;
    let trusted = RwSignal::new(trust_state == TrustState::Trusted);
    let error = RwSignal::new(None::<String>);
    let asking_trust = RwSignal::new(false);
    let trust_ticked = RwSignal::new(false);
    let busy = RwSignal::new(false);

    let launch = {
        let name = name.clone();
        let root_path = root_path.clone();
        move |trust: bool| {
            busy.set(true);
            error.set(None);
            let mut body = serde_json::json!({ "project": name.as_str() });
            if trust {
                body["trust"] = serde_json::Value::Bool(true);
            }
            request(
                "POST",
                format!("{root_path}/api/instances"),
                Some(body.to_string()),
                move |result| {
                    busy.set(false);
                    match result {
                        Ok(text) => {
                            if trust {
                                trusted.set(true);
                            }
                            asking_trust.set(false);
                            take_outcome(instances, &text);
                        }
                        Err(detail) => error.set(Some(detail)),
                    }
                },
            );
        }
    };
    let start_click = {
        let launch = launch.clone();
        move |_| {
            if trusted.get_untracked() {
                launch(false);
            } else {
                trust_ticked.set(false);
                asking_trust.set(true);
            }
        }
    };
    let confirm_click = move |_| launch(true);

    let shield = move || {
        if trusted.get() {
            ("shield trusted", "Trusted")
        } else {
            (
                "shield untrusted",
                "Not trusted yet (asked at first launch)",
            )
        }
    };
    let trust_gate = {
        let name = name.clone();
        move || {
            asking_trust.get().then(|| {
                view! {
                    <div class="gate" role="group" aria-label="Trust this directory">
                        <p>
                            {format!(
                                "First launch in {name}: do you trust this directory? Claude will run tools here and follow the instructions in its CLAUDE.md and .claude/.",
                            )}
                        </p>
                        <label class="check">
                            <input
                                type="checkbox"
                                name="trust"
                                prop:checked=move || trust_ticked.get()
                                on:change=move |ev| trust_ticked.set(event_target_checked(&ev))
                            />
                            " I trust this directory"
                        </label>
                        <div class="actions">
                            <button
                                type="button"
                                class="primary confirm-trust"
                                disabled=move || !trust_ticked.get() || busy.get()
                                on:click=confirm_click.clone()
                            >
                                "Trust and launch"
                            </button>
                            <button type="button" on:click=move |_| asking_trust.set(false)>
                                "Cancel"
                            </button>
                        </div>
                    </div>
                }
            })
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
    let rows = {
        let name = name.clone();
        move || {
            instances
                .get()
                .into_iter()
                .filter(|i| i.project == name)
                .map(|instance| {
                    view! {
                        <InstanceRow
                            instance=instance
                            instances=instances
                            error=error
                            root_path=root_path.clone()
                        />
                    }
                })
                .collect_view()
        }
    };
    view! {
        <li class="card project" data-project=name.clone() hidden=move || hidden.get()>
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
                <span class="name" title=name.clone()>{name.clone()}</span>
                <span class="chips">
                    {is_git_repo.then(|| view! { <span class="chip">"git"</span> })}
                    {has_claude_md.then(|| view! { <span class="chip">"CLAUDE.md"</span> })}
                    {has_claude_dir.then(|| view! { <span class="chip">".claude"</span> })}
                </span>
            </div>
            <div class="card-actions">
                <button
                    type="button"
                    class="primary start"
                    disabled=move || busy.get()
                    on:click=start_click
                >
                    "Start Claude"
                </button>
            </div>
            {trust_gate}
            {error_view}
            <ul class="instances">{rows}</ul>
        </li>
    }
}

#[component]
fn InstanceRow(
    instance: Instance,
    instances: Instances,
    error: RwSignal<Option<String>>,
    root_path: String,
) -> impl IntoView {
    let (label, pill_class) = status_pill(&instance);
    let live = is_live(&instance);
    let link = open_link(&instance);
    let id = instance.instance_id.clone();
    let hint = (instance.status == "error")
        .then(|| instance.error_hint.clone())
        .flatten();
    let action = if live {
        let url = format!("{root_path}/api/instances/{id}");
        let stop = move |_| {
            error.set(None);
            request("DELETE", url.clone(), None, move |result| match result {
                Ok(text) => {
                    if let Ok(stopped) = serde_json::from_str::<Instance>(&text) {
                        insert_if_absent(instances, stopped);
                    }
                }
                Err(detail) => error.set(Some(detail)),
            });
        };
        view! {
            <button type="button" class="stop" disabled=instance.stopping on:click=stop>
                "Stop"
            </button>
        }
        .into_any()
    } else {
        let url = format!("{root_path}/api/instances/{id}/resume");
        let resume = move |_| {
            error.set(None);
            request(
                "POST",
                url.clone(),
                Some("{}".to_owned()),
                move |result| match result {
                    Ok(text) => take_outcome(instances, &text),
                    Err(detail) => error.set(Some(detail)),
                },
            );
        };
        view! {
            <button type="button" class="resume" on:click=resume>
                "Resume"
            </button>
        }
        .into_any()
    };
    view! {
        <li class="instance" data-instance-id=id>
            <span class=pill_class>{label}</span>
            <span class="label">{instance.label.clone()}</span>
            {hint.map(|hint| view! { <span class="hint">{hint}</span> })}
            <span class="row-actions">
                {link
                    .map(|href| {
                        view! {
                            <a class="open" href=href target="_blank" rel="noopener noreferrer">
                                "Open in Claude"
                            </a>
                        }
                    })}
                {action}
            </span>
        </li>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(status: &str) -> Instance {
        serde_json::from_value(serde_json::json!({
            "instance_id": "i-1", "project": "alpha", "label": "alpha",
            "channel": "remote-control", "status": status, "alive": false,
            "resume_mode": "standard", "spawn_mode": "same-dir", "permission_mode": "default",
            "sandbox_mode": "default", "intentional_stop": false, "started_at": null,
            "bridge_pid": null, "bridge_proc_start": null, "bridge_start_ticks": null,
            "bridge_boot_id": null, "keeper_pid": null, "keeper_proc_start": null,
            "keeper_start_ticks": null, "worktree_name": null, "bridge_id": null,
            "environment_id": null, "starter_session_id": null, "url": null,
            "session_url": null, "bridge_debug_log_path": null, "bridge_raw_log_path": null,
            "error_detail": null, "notice": null, "claude_version": null, "error_kind": null,
            "error_hint": null, "ready_at": null, "ended_at": null, "stopping": false,
            "resumed_conversation": false, "launch_count": 1
        }))
        .expect("a valid instance")
    }

    #[test]
    fn pills_follow_the_status_table() {
        let label = |i: &Instance| status_pill(i).0;
        assert_eq!(label(&instance("starting")), "Starting");
        assert_eq!(label(&instance("running")), "Running");
        assert_eq!(label(&instance("stopped")), "Interrupted");
        assert_eq!(label(&instance("crashed")), "Crashed");
        assert_eq!(label(&instance("error")), "Failed to start");
        let mut stopped = instance("stopped");
        stopped.intentional_stop = true;
        assert_eq!(label(&stopped), "Stopped");
        let mut stopping = instance("running");
        stopping.stopping = true;
        assert_eq!(label(&stopping), "Stopping…");
    }

    #[test]
    fn live_rows_stop_and_dead_rows_resume() {
        assert!(is_live(&instance("starting")));
        assert!(is_live(&instance("running")));
        assert!(!is_live(&instance("crashed")));
        let mut kept = instance("error");
        kept.alive = true;
        assert!(is_live(&kept));
    }

    #[test]
    fn the_link_prefers_the_session_and_stays_on_claude_ai() {
        let mut i = instance("running");
        assert_eq!(open_link(&i), None);
        i.url = Some("https://claude.ai/code?environment=env_1".into());
        assert_eq!(open_link(&i).as_deref(), i.url.as_deref());
        i.session_url = Some("https://claude.ai/code/session_1".into());
        assert_eq!(
            open_link(&i).as_deref(),
            Some("https://claude.ai/code/session_1")
        );
        i.session_url = Some("javascript:alert(1)".into());
        assert_eq!(open_link(&i).as_deref(), i.url.as_deref());
    }
}
