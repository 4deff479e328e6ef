//! The instance zones (ui.md §4.1): active bridges, the collapsed "Recent / resumable"
//! list, and one row per instance with its status pill, links, QR and actions (§4.2–§4.3).

use clauster_wire::Instance;
use leptos::prelude::*;

use crate::badges::MetricsChip;
use crate::icons::{self, Icon};
use crate::live::{Store, ToastKind, insert_if_absent, is_live, request};
use crate::logs::LogPanel;
use crate::sessions::{ExternalRows, TrackedSessions};
pub use crate::status::{status_note, status_pill};
use crate::terminal::TerminalPanel;
use crate::widgets::{Confirm, focus_node};

/// The link **Open in Claude** points at: `session_url`, else `url`, only on claude.ai.
pub fn open_link(instance: &Instance) -> Option<String> {
    [&instance.session_url, &instance.url]
        .into_iter()
        .flatten()
        .find(|url| url.starts_with("https://claude.ai/"))
        .cloned()
}

/// The mode chip: "Server Mode" for standard bridges, "Interactive" for pty ones.
pub fn mode_label(instance: &Instance) -> &'static str {
    if instance.resume_mode == "pty" {
        "Interactive"
    } else {
        "Server Mode"
    }
}

/// Why **Resume** is disabled for a dead row: another standard bridge of the same project
/// is live (only one Server Mode bridge per directory).
pub fn resume_blocker(instance: &Instance, all: &[Instance]) -> Option<&'static str> {
    let sibling_live = instance.resume_mode != "pty"
        && all.iter().any(|other| {
            other.instance_id != instance.instance_id
                && other.project == instance.project
                && other.resume_mode != "pty"
                && is_live(other)
        });
    sibling_live
        .then_some("Another Server Mode bridge of this project is running; stop that one first.")
}

/// Live instances first by newest launch (ui.md §4.1 orders the active zone newest first).
fn newest_first(mut list: Vec<Instance>) -> Vec<Instance> {
    list.sort_by(|a, b| b.started_at.cmp(&a.started_at));
    list
}

/// The active zone: live rows, the mode filter chips, the log panels, and the recent list.
#[component]
pub fn InstanceZones(store: Store) -> impl IntoView {
    let filter = RwSignal::new("all");
    let live = Memo::new(move |_| {
        newest_first(
            store
                .instances
                .with(|list| list.iter().filter(|i| is_live(i)).cloned().collect()),
        )
    });
    let dead = Memo::new(move |_| {
        newest_first(
            store
                .instances
                .with(|list| list.iter().filter(|i| !is_live(i)).cloned().collect()),
        )
    });
    let shown_ids = move || {
        let wanted = filter.get();
        live.with(|list| {
            list.iter()
                .filter(|i| wanted == "all" || mode_label(i) == wanted)
                .map(|i| i.instance_id.clone())
                .collect::<Vec<_>>()
        })
    };
    let dead_ids = move || {
        dead.with(|list| {
            list.iter()
                .map(|i| i.instance_id.clone())
                .collect::<Vec<_>>()
        })
    };
    let dead_count = move || dead.with(Vec::len);
    // A row whose log panel is open and that just ended moves to Recent: open the list, so
    // the row (with Resume) stays in sight next to its panel (issue 19 bug 5).
    let recent_open = RwSignal::new(false);
    Effect::new(move |_| {
        let ended_with_logs = dead.with(|list| {
            store
                .open_logs
                .with(|open| list.iter().any(|i| open.contains(&i.instance_id)))
        });
        if ended_with_logs {
            recent_open.set(true);
        }
    });
    view! {
        <section class="zone active" aria-labelledby="active-heading">
            <div class="zone-head">
                <h2 id="active-heading">"Active sessions"</h2>
                <FilterChips store=store live=live filter=filter />
            </div>
            <Show
                when=move || live.with(|l| !l.is_empty())
                fallback=|| {
                    view! {
                        <p class="empty-note">
                            "No bridges running. Start one from a project card below."
                        </p>
                    }
                }
            >
                <ul class="instances">
                    <For each=shown_ids key=|id| id.clone() let(id)>
                        <InstanceRow store=store id=id />
                    </For>
                </ul>
            </Show>
            <ExternalRows store=store filter=filter />
            <LogDock store=store />
            <Show when=move || { dead_count() > 0 }>
                <details
                    class="recent"
                    prop:open=move || recent_open.get()
                    on:toggle=move |ev| {
                        #[cfg(feature = "hydrate")]
                        {
                            use wasm_bindgen::JsCast;
                            if let Some(details) = ev
                                .target()
                                .and_then(|t| t.dyn_into::<web_sys::HtmlDetailsElement>().ok())
                            {
                                recent_open.set(details.open());
                            }
                        }
                        #[cfg(not(feature = "hydrate"))]
                        let _ = ev;
                    }
                >
                    <summary>{move || format!("Recent / resumable ({})", dead_count())}</summary>
                    <ul class="instances">
                        <For each=dead_ids key=|id| id.clone() let(id)>
                            <InstanceRow store=store id=id />
                        </For>
                    </ul>
                </details>
            </Show>
        </section>
    }
}

/// The filter chips of the active zone (ui.md §4.1): All plus one chip per kind present
/// (Server Mode, Interactive, External), shown only when two kinds or more are.
#[component]
fn FilterChips(
    store: Store,
    live: Memo<Vec<Instance>>,
    filter: RwSignal<&'static str>,
) -> impl IntoView {
    let kinds = Memo::new(move |_| {
        live.with(|list| {
            let server = list.iter().any(|i| mode_label(i) == "Server Mode");
            let interactive = list.iter().any(|i| mode_label(i) == "Interactive");
            let external = store
                .sessions
                .with(|v| !v.adoptable.is_empty() || v.external.values().any(|l| !l.is_empty()));
            (server, interactive, external)
        })
    });
    // A chosen kind that is gone (or chips that are hidden) falls back to All, so no row
    // stays filtered out behind a chip nobody can see.
    Effect::new(move |_| {
        let (server, interactive, external) = kinds.get();
        let present = [server, interactive, external]
            .iter()
            .filter(|k| **k)
            .count();
        let still = match filter.get_untracked() {
            "Server Mode" => server,
            "Interactive" => interactive,
            "External" => external,
            _ => true,
        };
        if (present < 2 || !still) && filter.get_untracked() != "all" {
            filter.set("all");
        }
    });
    let chip = move |key: &'static str, text: &'static str| {
        view! {
            <button
                type="button"
                class="filter-chip"
                aria-pressed=move || (filter.get() == key).to_string()
                on:click=move |_| filter.set(key)
            >
                {text}
            </button>
        }
    };
    move || {
        let (server, interactive, external) = kinds.get();
        // Filtering only means something when two kinds or more are present; a chip is
        // offered only for a kind that is.
        let present = [server, interactive, external]
            .iter()
            .filter(|k| **k)
            .count();
        (present >= 2).then(|| {
            view! {
                <div class="filter-chips" role="group" aria-label="Filter bridges">
                    {chip("all", "All")}
                    {server.then(|| chip("Server Mode", "Server Mode"))}
                    {interactive.then(|| chip("Interactive", "Interactive"))}
                    {external.then(|| chip("External", "External"))}
                </div>
            }
        })
    }
}

/// The open log panels, outside the rows so a panel survives its row moving from the active
/// zone to the recent list when the bridge ends (and can then say "The bridge ended.").
#[component]
fn LogDock(store: Store) -> impl IntoView {
    view! {
        <div class="log-dock">
            <For each=move || store.open_logs.get() key=|id| id.clone() let(id)>
                <LogPanel store=store id=id />
            </For>
        </div>
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Asking {
    Nothing,
    Stop,
    Forget,
}

/// The viewer page of a running row (issue 21): its conversation when the agents poll names
/// exactly one, else the project's conversations.
fn transcript_path(store: Store, i: &Instance) -> String {
    let one = store.sessions.with(|view| {
        view.tracked
            .get(&i.instance_id)
            .filter(|sessions| sessions.len() == 1)
            .map(|sessions| sessions[0].local_uuid.clone())
    });
    match one {
        Some(uuid) => format!("/p/{}/s/{uuid}", i.project),
        None => format!("/p/{}/transcripts", i.project),
    }
}

#[component]
fn InstanceRow(store: Store, id: String) -> impl IntoView {
    let instance = store.instance_with_id(&id);
    let qr_open = RwSignal::new(false);
    let terminal_open = RwSignal::new(false);
    let pty_screen = store.context.with_untracked(|c| c.pty_screen);
    let asking = RwSignal::new(Asking::Nothing);
    let busy = RwSignal::new(false);
    let stop_button = NodeRef::<leptos::html::Button>::new();
    let forget_button = NodeRef::<leptos::html::Button>::new();
    let logs_open = {
        let id = id.clone();
        Memo::new(move |_| store.open_logs.with(|list| list.contains(&id)))
    };
    let toggle_logs = {
        let id = id.clone();
        move |_| {
            store.open_logs.update(|list| {
                if let Some(at) = list.iter().position(|x| *x == id) {
                    list.remove(at);
                } else {
                    list.push(id.clone());
                }
            });
        }
    };

    let stop = {
        let url = store.url(&format!("/api/instances/{id}"));
        move || {
            asking.set(Asking::Nothing);
            busy.set(true);
            request("DELETE", url.clone(), None, move |result| {
                busy.set(false);
                match result {
                    Ok(text) => {
                        if let Ok(stopped) = serde_json::from_str::<Instance>(&text) {
                            insert_if_absent(store.instances, stopped);
                        }
                    }
                    Err(detail) => store.toast(ToastKind::Error, detail),
                }
            });
        }
    };
    let resume = {
        let url = store.url(&format!("/api/instances/{id}/resume"));
        move |fresh: bool| {
            busy.set(true);
            let body = format!("{{\"fresh\":{fresh}}}");
            request("POST", url.clone(), Some(body), move |result| {
                busy.set(false);
                match result {
                    Ok(text) => store.take_outcome(&text),
                    Err(detail) => store.toast(ToastKind::Error, detail),
                }
            });
        }
    };
    let forget = {
        let url = store.url(&format!("/api/instances/{id}/forget"));
        let id = id.clone();
        move || {
            asking.set(Asking::Nothing);
            busy.set(true);
            let id = id.clone();
            request("POST", url.clone(), None, move |result| {
                busy.set(false);
                match result {
                    Ok(_) => {
                        store
                            .instances
                            .update(|list| list.retain(|i| i.instance_id != id));
                        store.open_logs.update(|list| list.retain(|x| *x != id));
                    }
                    Err(detail) => store.toast(ToastKind::Error, detail),
                }
            });
        }
    };

    let head = move || {
        instance.get().map(|i| {
            let (label, pill_class) = status_pill(&i);
            let project = (i.project != i.label).then(|| i.project.clone());
            view! {
                <span class="chip mode">{mode_label(&i)}</span>
                {(i.spawn_mode == "worktree").then(|| view! { <span class="chip">"worktree"</span> })}
                <span class="label" title=i.label.clone()>{i.label.clone()}</span>
                {project.map(|p| view! { <span class="project-of">{p}</span> })}
                <span class=pill_class>{label}</span>
                {i
                    .claude_version
                    .clone()
                    .map(|v| view! { <span class="chip version">{format!("claude {v}")}</span> })}
                {i
                    .resumed_conversation
                    .then(|| view! { <span class="chip">"resumed conversation"</span> })}
                <MetricsChip store=store id=i.instance_id.clone() />
            }
        })
    };
    let notes = move || {
        instance.get().map(|i| {
            let failed = (i.status == "error").then(|| {
                let detail = crate::widgets::error_detail(i.error_detail.clone());
                view! {
                    <div class="row-error">
                        {i.error_hint.clone().map(|hint| view! { <p class="hint">{hint}</p> })}
                        {detail}
                    </div>
                }
            });
            view! {
                {status_note(&i).map(|note| view! { <p class="note">{note}</p> })}
                {failed}
            }
        })
    };
    let live_actions = move |i: &Instance| {
        let link = open_link(i);
        let waiting = (link.is_none() && i.status != "error").then(|| {
            let text = i
                .notice
                .clone()
                .unwrap_or_else(|| "Waiting for the connect link…".to_owned());
            let spinner = i.notice.is_none();
            view! {
                <span class="waiting" class:spinner=spinner>{text}</span>
                <a class="button" href="https://claude.ai/code" target="_blank" rel="noopener noreferrer">
                    <Icon icon=icons::OPEN />
                    "Open claude.ai/code"
                </a>
            }
        });
        let open = link.clone().map(|href| {
            view! {
                <a class="button open" href=href target="_blank" rel="noopener noreferrer">
                    <Icon icon=icons::OPEN />
                    "Open in Claude"
                </a>
                <button
                    type="button"
                    class="qr-toggle"
                    aria-expanded=move || qr_open.get().to_string()
                    on:click=move |_| qr_open.update(|o| *o = !*o)
                >
                    <Icon icon=icons::QR />
                    "QR"
                </button>
            }
        });
        let composer = i
            .url
            .clone()
            .filter(|u| {
                i.resume_mode != "pty"
                    && i.status == "running"
                    && u.starts_with("https://claude.ai/")
            })
            .map(|href| {
                view! {
                    <a
                        class="button new-session"
                        href=href
                        target="_blank"
                        rel="noopener noreferrer"
                        title="claude.ai creates another session inside this bridge"
                    >
                        <Icon icon=icons::NEW_SESSION />
                        "New session"
                    </a>
                }
            });
        let stopping = i.stopping;
        let transcript = store.url(&transcript_path(store, i));
        view! {
            {open}
            {waiting}
            {composer}
            <a class="button transcript" href=transcript>
                <Icon icon=icons::TRANSCRIPT />
                "Transcript"
            </a>
            <button
                type="button"
                class="stop"
                node_ref=stop_button
                disabled=move || stopping || busy.get()
                on:click=move |_| asking.set(Asking::Stop)
            >
                <Icon icon=icons::STOP />
                "Stop"
            </button>
        }
        .into_any()
    };
    let dead_actions = move |i: &Instance| {
        let blocker = store.instances.with(|all| resume_blocker(i, all));
        let resume_again = resume.clone();
        let resume_fresh = resume.clone();
        view! {
            <button
                type="button"
                class="resume"
                disabled=move || blocker.is_some() || busy.get()
                on:click=move |_| resume_again(false)
            >
                <Icon icon=icons::RESUME />
                "Resume"
            </button>
            <button
                type="button"
                class="fresh"
                disabled=move || busy.get()
                on:click=move |_| resume_fresh(true)
            >
                <Icon icon=icons::NEW_SESSION />
                "Start new session"
            </button>
            <button
                type="button"
                class="forget"
                node_ref=forget_button
                disabled=move || busy.get()
                on:click=move |_| asking.set(Asking::Forget)
            >
                <Icon icon=icons::FORGET />
                "Forget"
            </button>
            {blocker.map(|reason| view! { <p class="note blocker">{reason}</p> })}
        }
        .into_any()
    };
    let actions = move || {
        instance.get().map(|i| {
            let specific = if is_live(&i) {
                live_actions(&i)
            } else {
                dead_actions(&i)
            };
            view! {
                {specific}
                <button
                    type="button"
                    class="logs"
                    aria-expanded=move || logs_open.get().to_string()
                    on:click=toggle_logs.clone()
                >
                    // One "Hide logs" on the page: the panel's own close button. Here the
                    // pressed state says whether the panel is open.
                    <Icon icon=icons::LOGS />
                    "Logs"
                </button>
                {(pty_screen && i.resume_mode == "pty").then(|| {
                    view! {
                        <button
                            type="button"
                            class="terminal-toggle"
                            aria-expanded=move || terminal_open.get().to_string()
                            on:click=move |_| terminal_open.update(|o| *o = !*o)
                        >
                            <Icon icon=icons::TERMINAL />
                            {move || if terminal_open.get() { "Hide terminal" } else { "Live terminal" }}
                        </button>
                    }
                })}
            }
        })
    };
    let qr = {
        let id = id.clone();
        move || {
            let i = instance.get()?;
            let link = open_link(&i)?;
            (qr_open.get() && is_live(&i)).then(|| {
                let src = store.url(&format!("/api/instances/{id}/qr?t={}", i.launch_count));
                let copied = link.clone();
                // Copying says so: on the button for a moment, and in a toast (issue 19 bug 8).
                let done = RwSignal::new(false);
                let copy = move |_| {
                    crate::dom::copy_text(&copied);
                    done.set(true);
                    store.toast(ToastKind::Ok, "Link copied");
                    #[cfg(feature = "hydrate")]
                    set_timeout(move || done.set(false), std::time::Duration::from_secs(2));
                };
                view! {
                    <div class="qr">
                        <img src=src width="160" height="160" alt="QR code for the session link" />
                        <code class="qr-link">{link}</code>
                        <button type="button" class="copy-link" on:click=copy>
                            {move || if done.get() {
                                view! { <Icon icon=icons::CHECK /> "Copied" }.into_any()
                            } else {
                                view! { <Icon icon=icons::COPY /> "Copy link" }.into_any()
                            }}
                        </button>
                    </div>
                }
            })
        }
    };
    let confirm = move || {
        let i = instance.get()?;
        match asking.get() {
            Asking::Nothing => None,
            Asking::Stop => {
                let stop = stop.clone();
                Some(
                    view! {
                        <Confirm
                            text=format!("Stop {}? Its sessions on claude.ai end too.", i.label)
                            confirm_label="Stop"
                            confirm_class="danger confirm-stop"
                            on_confirm=Callback::new(move |()| stop())
                            on_cancel=Callback::new(move |()| {
                                asking.set(Asking::Nothing);
                                focus_node(stop_button);
                            })
                        />
                    }
                    .into_any(),
                )
            }
            Asking::Forget => {
                let forget = forget.clone();
                Some(
                    view! {
                        <Confirm
                            text="Forget this record? Its logs stay on disk.".to_owned()
                            confirm_label="Forget"
                            confirm_class="danger confirm-forget"
                            on_confirm=Callback::new(move |()| forget())
                            on_cancel=Callback::new(move |()| {
                                asking.set(Asking::Nothing);
                                focus_node(forget_button);
                            })
                        />
                    }
                    .into_any(),
                )
            }
        }
    };
    view! {
        <li class="instance" data-instance-id=id.clone()>
            <div class="row-head">{head}</div>
            {notes}
            <div class="row-actions">{actions}</div>
            <TrackedSessions store=store id=id.clone() />
            {confirm}
            {qr}
            {
                let id = id.clone();
                move || {
                    terminal_open
                        .get()
                        .then(|| view! { <TerminalPanel store=store id=id.clone() /> })
                }
            }
        </li>
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn instance(status: &str) -> Instance {
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
        assert_eq!(status_note(&stopped), None);
        let mut stopping = instance("running");
        stopping.stopping = true;
        assert_eq!(label(&stopping), "Stopping…");
        assert!(
            status_note(&instance("stopped"))
                .unwrap()
                .contains("Resume picks it up")
        );
        assert!(
            status_note(&instance("crashed"))
                .unwrap()
                .contains("Resume starts it")
        );
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

    #[test]
    fn resume_waits_for_a_live_server_mode_sibling() {
        let dead = instance("stopped");
        let mut sibling = instance("running");
        sibling.instance_id = "i-2".into();
        assert!(resume_blocker(&dead, &[dead.clone(), sibling.clone()]).is_some());
        sibling.resume_mode = "pty".into();
        assert_eq!(
            resume_blocker(&dead, &[dead.clone(), sibling.clone()]),
            None
        );
        sibling.resume_mode = "standard".into();
        sibling.project = "beta".into();
        assert_eq!(resume_blocker(&dead, &[dead.clone(), sibling]), None);
    }
}
