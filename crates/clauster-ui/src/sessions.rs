//! Claude sessions Clauster does not manage (ui.md §3, §4.1): the card's external-session
//! note, the compact external rows of the active zone, and **Adopt**, which turns an
//! unmanaged standard bridge into a managed instance (`POST /api/projects/<name>/adopt`,
//! bridges.md §9.6). Live from the `sessions` of the snapshot and the `sessions` frames.

use clauster_wire::{Instance, WorkingSession};
use leptos::prelude::*;

use crate::live::{Store, ToastKind, insert_if_absent, request};
use crate::widgets::ConfirmedButton;

/// How long something has run, from epoch milliseconds: `42s`, `7m`, `3h 5m`, `2d 4h`.
pub fn uptime(started_ms: i64, now_ms: i64) -> String {
    let seconds = (now_ms - started_ms).max(0) / 1_000;
    let (minutes, hours, days) = (seconds / 60, seconds / 3_600, seconds / 86_400);
    if days > 0 {
        format!("{days}d {}h", hours % 24)
    } else if hours > 0 {
        format!("{hours}h {}m", minutes % 60)
    } else if minutes > 0 {
        format!("{minutes}m")
    } else {
        format!("{seconds}s")
    }
}

/// The card's note: "Claude is running here outside Clauster", or "N sessions running here
/// outside Clauster" when several are listed.
pub fn external_note(listed: usize) -> String {
    if listed > 1 {
        format!("{listed} sessions running here outside Clauster")
    } else {
        "Claude is running here outside Clauster".to_owned()
    }
}

/// The confirm text of **Adopt**.
pub fn adopt_question(project: &str) -> String {
    format!(
        "Let Clauster manage the bridge already running in {project}? It will then be able to stop it."
    )
}

/// What the dashboard shows as external for one project: the listed sessions and whether an
/// unmanaged standard bridge can be adopted there.
fn external_of(store: Store, project: &str) -> (Vec<WorkingSession>, bool) {
    store.sessions.with(|view| {
        (
            view.external.get(project).cloned().unwrap_or_default(),
            view.adoptable.iter().any(|p| p == project),
        )
    })
}

#[cfg(feature = "hydrate")]
fn now_ms() -> i64 {
    #[allow(clippy::cast_possible_truncation)]
    let now = js_sys::Date::now() as i64;
    now
}

#[cfg(not(feature = "hydrate"))]
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Sends the adoption; the new instance shows at once, the frames follow.
fn adopt(store: Store, project: String, busy: RwSignal<bool>) {
    busy.set(true);
    let url = store.url(&format!("/api/projects/{project}/adopt"));
    request("POST", url, None, move |result| {
        busy.set(false);
        match result {
            Ok(text) => {
                if let Ok(instance) = serde_json::from_str::<Instance>(&text) {
                    insert_if_absent(store.instances, instance);
                }
                store
                    .sessions
                    .update(|view| view.adoptable.retain(|p| *p != project));
                store.toast(
                    ToastKind::Ok,
                    format!("{project} is now managed by Clauster"),
                );
            }
            Err(detail) => store.toast(ToastKind::Error, format!("{project}: {detail}")),
        }
    });
}

/// **Adopt** behind its confirm dialog.
#[component]
fn AdoptButton(store: Store, project: String) -> impl IntoView {
    let busy = RwSignal::new(false);
    view! {
        <ConfirmedButton
            class="adopt"
            label="Adopt"
            busy=busy
            question=adopt_question(&project)
            confirm_label="Adopt"
            confirm_class="primary confirm-adopt"
            on_confirm=Callback::new(move |()| adopt(store, project.clone(), busy))
        />
    }
}

/// One listed session's facts: state, pid, uptime and directory.
fn session_facts(session: &WorkingSession, now: i64) -> String {
    format!(
        "{} · pid {} · up {} · {}",
        if session.state.is_empty() {
            "running"
        } else {
            session.state.as_str()
        },
        session.pid,
        uptime(session.started_at, now),
        session.cwd
    )
}

/// The card's external-session note, expandable to each session, with **Adopt** when the
/// project has an adoptable bridge.
#[component]
pub fn ExternalNote(store: Store, project: String) -> impl IntoView {
    move || {
        let (listed, adoptable) = external_of(store, &project);
        if listed.is_empty() && !adoptable {
            return None;
        }
        let now = now_ms();
        let details = (!listed.is_empty()).then(|| {
            view! {
                <ul class="external-list">
                    {listed
                        .iter()
                        .map(|s| view! { <li>{session_facts(s, now)}</li> })
                        .collect_view()}
                </ul>
            }
        });
        Some(view! {
            <div class="external-note">
                <details>
                    <summary>{external_note(listed.len())}</summary>
                    {details}
                </details>
                {adoptable.then(|| view! { <AdoptButton store=store project=project.clone() /> })}
            </div>
        })
    }
}

/// The active zone's compact external rows: each listed session (project, pid, uptime), and
/// each adoptable project, with **Adopt** where it applies.
#[component]
pub fn ExternalRows(store: Store, filter: RwSignal<&'static str>) -> impl IntoView {
    let rows = Memo::new(move |_| {
        store.sessions.with(|view| {
            let mut rows: Vec<(String, Option<WorkingSession>)> = view
                .external
                .iter()
                .flat_map(|(project, list)| list.iter().map(|s| (project.clone(), Some(s.clone()))))
                .collect();
            for project in &view.adoptable {
                if view.external.get(project).is_none_or(Vec::is_empty) {
                    rows.push((project.clone(), None));
                }
            }
            rows
        })
    });
    move || {
        let rows = rows.get();
        let shown = matches!(filter.get(), "all" | "External");
        (shown && !rows.is_empty()).then(|| {
            let now = now_ms();
            let mut offered = Vec::new();
            let items = rows
                .into_iter()
                .map(|(project, session)| {
                    let adoptable = store.sessions.with(|v| v.adoptable.contains(&project));
                    // One Adopt per project, on its first row.
                    let adopt = (adoptable && !offered.contains(&project)).then(|| {
                        offered.push(project.clone());
                        view! { <AdoptButton store=store project=project.clone() /> }
                    });
                    let facts = session.map_or_else(
                        || "a bridge started outside Clauster".to_owned(),
                        |s| format!("pid {} · up {}", s.pid, uptime(s.started_at, now)),
                    );
                    view! {
                        <li class="instance external" data-external-project=project.clone()>
                            <div class="row-head">
                                <span class="chip mode">"External"</span>
                                <span class="label">{project.clone()}</span>
                                <span class="facts">{facts}</span>
                            </div>
                            <div class="row-actions">{adopt}</div>
                        </li>
                    }
                })
                .collect_view();
            view! { <ul class="instances external-rows" aria-label="Sessions outside Clauster">{items}</ul> }
        })
    }
}

/// Whether `text` has the shape of a UUID (8-4-4-4-12 hex digits), so it can open
/// `https://claude.ai/code/<uuid>`.
pub fn is_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()))
}

/// "1 live session" / "N live sessions".
pub fn live_sessions_label(n: usize) -> String {
    if n == 1 {
        "1 live session".to_owned()
    } else {
        format!("{n} live sessions")
    }
}

/// A standard bridge's tracked sessions (ui.md §4.3): an expander "N live session(s)" with
/// each session's short uuid, uptime and **Open** when the uuid is UUID-shaped.
#[component]
pub fn TrackedSessions(store: Store, id: String) -> impl IntoView {
    let listed = Memo::new(move |_| {
        let standard = store.instances.with(|list| {
            list.iter()
                .any(|i| i.instance_id == id && i.resume_mode != "pty")
        });
        if !standard {
            return Vec::new();
        }
        store
            .sessions
            .with(|view| view.tracked.get(&id).cloned().unwrap_or_default())
    });
    move || {
        let list = listed.get();
        (!list.is_empty()).then(|| {
            let now = now_ms();
            let items = list
                .iter()
                .map(|s| {
                    let short: String = s.local_uuid.chars().take(8).collect();
                    let open = is_uuid(&s.local_uuid).then(|| {
                        view! {
                            <a
                                class="button open-session"
                                href=format!("https://claude.ai/code/{}", s.local_uuid)
                                target="_blank"
                                rel="noopener noreferrer"
                            >
                                "Open"
                            </a>
                        }
                    });
                    view! {
                        <li class="tracked-session">
                            <code title=s.local_uuid.clone()>{short}</code>
                            <span>{format!("up {}", uptime(s.started_at, now))}</span>
                            {open}
                        </li>
                    }
                })
                .collect_view();
            view! {
                <details class="tracked-sessions">
                    <summary>{live_sessions_label(list.len())}</summary>
                    <ul>{items}</ul>
                </details>
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptime_reads_in_the_largest_units() {
        assert_eq!(uptime(0, 42_999), "42s");
        assert_eq!(uptime(0, 7 * 60_000 + 5_000), "7m");
        assert_eq!(uptime(0, (3 * 3_600 + 5 * 60) * 1_000), "3h 5m");
        assert_eq!(uptime(0, (2 * 86_400 + 4 * 3_600) * 1_000), "2d 4h");
        assert_eq!(
            uptime(10_000, 0),
            "0s",
            "a clock behind the start is no uptime"
        );
    }

    #[test]
    fn only_uuid_shaped_ids_open_a_session_link() {
        assert!(is_uuid("7d1c2b9e-0000-4000-8000-000000000001"));
        assert!(!is_uuid("session_01ABC"));
        assert!(!is_uuid("7d1c2b9e-0000-4000-8000-00000000000g"));
        assert!(!is_uuid("7d1c2b9e-0000-4000-8000"));
        assert_eq!(live_sessions_label(1), "1 live session");
        assert_eq!(live_sessions_label(3), "3 live sessions");
    }

    #[test]
    fn the_note_counts_sessions_and_adopt_asks_first() {
        assert_eq!(external_note(0), "Claude is running here outside Clauster");
        assert_eq!(external_note(1), "Claude is running here outside Clauster");
        assert_eq!(external_note(3), "3 sessions running here outside Clauster");
        assert_eq!(
            adopt_question("alpha"),
            "Let Clauster manage the bridge already running in alpha? It will then be able to stop it."
        );
    }
}
