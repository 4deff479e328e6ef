//! The new-project panel (ui.md §7, data.md §3): create an empty directory (optionally a git
//! repository) or clone a git URL with streamed progress and cancel; server refusals shown
//! under the field they name.

use clauster_wire::{CloneAccepted, CloneProgressFrame, Project};
use leptos::prelude::*;

use crate::live::{Failure, Store, ToastKind, call};
use crate::widgets::Checkbox;

/// The hint under the URL field, naming the schemes the server allows.
pub fn scheme_hint(schemes: &[String]) -> String {
    let listed = match schemes {
        [] => "git".to_owned(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    };
    format!("{listed} URLs; hosts on a private network need clone.allow_private_hosts")
}

/// The `POST /api/projects` body as JSON text. Typed bodies, never `serde_json::Value`: the
/// value type would add its own encoder to the wasm bundle (issue 19's size budget).
pub fn create_body(name: &str, git_init: bool) -> String {
    #[derive(serde::Serialize)]
    struct Create<'a> {
        name: &'a str,
        git_init: bool,
    }
    serde_json::to_string(&Create { name, git_init }).unwrap_or_default()
}

/// The `POST /api/projects/clone` body as JSON text.
pub fn clone_body(name: &str, url: &str, shallow: bool) -> String {
    #[derive(serde::Serialize)]
    struct Clone<'a> {
        name: &'a str,
        url: &'a str,
        shallow: bool,
    }
    serde_json::to_string(&Clone { name, url, shallow }).unwrap_or_default()
}

/// The line over the progress bar: the phase (or "Starting…") and the percent when known.
pub fn progress_label(phase: Option<&str>, percent: Option<u8>) -> String {
    let phase = phase.unwrap_or("Starting…");
    match percent {
        Some(p) => format!("{phase} {p}%"),
        None => phase.to_owned(),
    }
}

/// Where a refusal is shown: under the field the 422 names, else above the submit button.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    Name,
    Url,
    Form,
}

pub fn place_of(failure: &Failure) -> Place {
    match failure.field().as_deref() {
        Some("name") if failure.status == 422 => Place::Name,
        Some("url") if failure.status == 422 => Place::Url,
        _ => Place::Form,
    }
}

/// The terminal sentence of a clone that did not finish.
pub fn ended_text(status: &str, error: Option<&str>) -> String {
    match (status, error) {
        ("cancelled", _) => "The clone was cancelled; nothing was kept.".to_owned(),
        (_, Some(error)) => error.to_owned(),
        _ => "The clone failed; see the server log.".to_owned(),
    }
}

/// The clone this panel started and is following.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Following {
    job_id: String,
    name: String,
    phase: Option<String>,
    percent: Option<u8>,
    /// The progress socket closed before the terminal frame.
    interrupted: bool,
}

// State, handlers, then markup, as the other panels; splitting would scatter the signals.
#[allow(clippy::too_many_lines)]
#[component]
pub fn NewProject(store: Store) -> impl IntoView {
    let (clone_enabled, schemes) = store
        .context
        .with_untracked(|c| (c.clone.enabled, c.clone.allowed_schemes.clone()));
    let open = RwSignal::new(false);
    let cloning = RwSignal::new(false);
    let name = RwSignal::new(String::new());
    let url = RwSignal::new(String::new());
    let git_init = RwSignal::new(false);
    let shallow = RwSignal::new(false);
    let busy = RwSignal::new(false);
    let name_error = RwSignal::new(None::<String>);
    let url_error = RwSignal::new(None::<String>);
    let form_error = RwSignal::new(None::<String>);
    let following = RwSignal::new(None::<Following>);
    let asking_cancel = RwSignal::new(false);
    // A clone that landed with CLAUDE.md or .claude/: the warning and its project.
    let landed = RwSignal::new(None::<String>);
    let toggle = NodeRef::<leptos::html::Button>::new();
    let name_input = NodeRef::<leptos::html::Input>::new();

    let clear_errors = move || {
        name_error.set(None);
        url_error.set(None);
        form_error.set(None);
    };
    let show = move |failure: &Failure| match place_of(failure) {
        Place::Name => name_error.set(Some(failure.detail.clone())),
        Place::Url => url_error.set(Some(failure.detail.clone())),
        Place::Form => form_error.set(Some(failure.detail.clone())),
    };
    let reset = move || {
        name.set(String::new());
        url.set(String::new());
        git_init.set(false);
        shallow.set(false);
        clear_errors();
    };
    let close_panel = move || {
        open.set(false);
        reset();
        crate::widgets::focus_node(toggle);
    };
    // Openers elsewhere (the orientation card) ask through the store.
    Effect::new(move |_| {
        if let Some(clone) = store.new_project.get() {
            store.new_project.set(None);
            cloning.set(clone && clone_enabled);
            open.set(true);
        }
    });
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        if open.get()
            && let Some(input) = name_input.get()
        {
            let _ = input.focus();
        }
    });

    // The project is listed once the clone landed; its markers decide the message.
    let finished = move |project_name: String| {
        call("GET", store.url("/api/projects"), None, move |result| {
            let project = result.ok().and_then(|body| {
                serde_json::from_str::<Vec<Project>>(&body)
                    .ok()?
                    .into_iter()
                    .find(|p| p.name == project_name)
            });
            let risky = project
                .as_ref()
                .is_some_and(|p| p.has_claude_md || p.has_claude_dir);
            if let Some(project) = project {
                store.upsert_project(project);
            }
            if risky {
                landed.set(Some(project_name));
            } else {
                store.toast(ToastKind::Ok, format!("{project_name} cloned"));
            }
        });
    };
    let on_progress = move |text: String| {
        let Ok(frame) = clauster_wire::decode::clone_progress(&text) else {
            return;
        };
        match frame {
            CloneProgressFrame::Progress { phase, percent } => following.update(|f| {
                if let Some(f) = f {
                    f.phase = phase;
                    f.percent = percent;
                }
            }),
            CloneProgressFrame::Overflow { .. } => {}
            CloneProgressFrame::Done { status, error } => {
                let Some(job) = following.get_untracked() else {
                    return;
                };
                following.set(None);
                asking_cancel.set(false);
                if status == "done" {
                    open.set(false);
                    reset();
                    finished(job.name);
                } else {
                    form_error.set(Some(ended_text(&status, error.as_deref())));
                }
            }
        }
    };
    let follow = move |accepted: CloneAccepted| {
        let job_id = accepted.job_id.clone();
        following.set(Some(Following {
            job_id: accepted.job_id,
            name: accepted.name,
            phase: None,
            percent: None,
            interrupted: false,
        }));
        let socket_url = crate::dom::ws_url(&store.url(&format!("/ws/clone-progress/{job_id}")));
        let opened = socket_url.and_then(|socket_url| {
            crate::dom::LogSocket::open(&socket_url, on_progress, move |_code| {
                // Still following after the close: the terminal frame never came.
                following.update(|f| {
                    if let Some(f) = f.as_mut().filter(|f| f.job_id == job_id) {
                        f.interrupted = true;
                    }
                });
            })
        });
        if opened.is_none() {
            following.update(|f| {
                if let Some(f) = f {
                    f.interrupted = true;
                }
            });
        }
    };
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        clear_errors();
        let project_name = name.get_untracked().trim().to_owned();
        busy.set(true);
        if cloning.get_untracked() {
            let body = clone_body(
                &project_name,
                url.get_untracked().trim(),
                shallow.get_untracked(),
            );
            call(
                "POST",
                store.url("/api/projects/clone"),
                Some(body),
                move |result| {
                    busy.set(false);
                    match result {
                        Ok(body) => match serde_json::from_str::<CloneAccepted>(&body) {
                            Ok(accepted) => follow(accepted),
                            Err(_) => form_error
                                .set(Some("The server's answer did not name a clone job.".into())),
                        },
                        Err(failure) => show(&failure),
                    }
                },
            );
        } else {
            let body = create_body(&project_name, git_init.get_untracked());
            call(
                "POST",
                store.url("/api/projects"),
                Some(body),
                move |result| {
                    busy.set(false);
                    match result {
                        Ok(body) => {
                            if let Ok(project) = serde_json::from_str::<Project>(&body) {
                                store.upsert_project(project);
                            }
                            store.toast(ToastKind::Ok, format!("{project_name} created"));
                            close_panel();
                        }
                        Err(failure) => show(&failure),
                    }
                },
            );
        }
    };
    let stop_clone = move || {
        asking_cancel.set(false);
        let Some(job) = following.get_untracked() else {
            return;
        };
        call(
            "POST",
            store.url(&format!("/api/projects/clone/{}/cancel", job.job_id)),
            None,
            move |result| {
                // 409: it ended meanwhile; its terminal frame says how.
                if let Err(failure) = result
                    && failure.status != 409
                {
                    form_error.set(Some(failure.detail));
                }
            },
        );
    };

    let field_error = |error: RwSignal<Option<String>>| {
        move || {
            error
                .get()
                .map(|e| view! { <p class="field-error" role="alert">{e}</p> })
        }
    };
    let hint = scheme_hint(&schemes);
    let choice = move || {
        clone_enabled.then(|| {
            view! {
                <fieldset class="choice">
                    <legend class="sr-only">"What to create"</legend>
                    <label class="check">
                        <input
                            type="radio"
                            name="new-project-kind"
                            value="create"
                            prop:checked=move || !cloning.get()
                            on:change=move |_| {
                                cloning.set(false);
                                clear_errors();
                            }
                        />
                        " Create empty"
                    </label>
                    <label class="check">
                        <input
                            type="radio"
                            name="new-project-kind"
                            value="clone"
                            prop:checked=move || cloning.get()
                            on:change=move |_| {
                                cloning.set(true);
                                clear_errors();
                            }
                        />
                        " Clone from git URL"
                    </label>
                </fieldset>
            }
        })
    };
    let kind_fields = move || {
        if cloning.get() {
            let hint = hint.clone();
            view! {
                <label class="field">
                    <span>"Git URL"</span>
                    <input
                        type="text"
                        name="clone-url"
                        inputmode="url"
                        autocomplete="off"
                        spellcheck="false"
                        prop:value=move || url.get()
                        on:input=move |ev| url.set(event_target_value(&ev))
                    />
                </label>
                <p class="hint">{hint}</p>
                {field_error(url_error)}
                <Checkbox name="shallow" checked=shallow label=" Shallow (latest commit only)" />
            }
            .into_any()
        } else {
            view! {
                <Checkbox name="git_init" checked=git_init label=" Initialise a git repository" />
            }
            .into_any()
        }
    };
    let submit_label = move || match (cloning.get(), busy.get()) {
        (false, false) => "Create",
        (false, true) => "Creating…",
        (true, false) => "Clone",
        (true, true) => "Cloning…",
    };
    let form = move || {
        let kind_fields = kind_fields.clone();
        view! {
            <form class="new-project-panel" aria-label="New project" on:submit=submit>
                <label class="field">
                    <span>"Name"</span>
                    <input
                        type="text"
                        name="new-project-name"
                        maxlength="64"
                        autocomplete="off"
                        spellcheck="false"
                        node_ref=name_input
                        prop:value=move || name.get()
                        on:input=move |ev| name.set(event_target_value(&ev))
                    />
                </label>
                <p class="hint">"letters, digits, _ and -; up to 64"</p>
                {field_error(name_error)}
                {choice}
                {kind_fields}
                {field_error(form_error)}
                <div class="actions">
                    <button type="submit" class="primary submit-new" disabled=move || busy.get()>
                        {submit_label}
                    </button>
                </div>
            </form>
        }
    };
    // Built once per job; only its text, bar and note follow the frames, so the buttons keep
    // their identity (and focus) while progress arrives.
    let job_id = Memo::new(move |_| following.with(|f| f.as_ref().map(|f| f.job_id.clone())));
    let progress = move || {
        let job_name =
            following.with_untracked(|f| f.as_ref().map(|f| f.name.clone()).unwrap_or_default());
        let line = move || {
            following.with(|f| {
                f.as_ref().map(|f| {
                    format!(
                        "Cloning {}: {}",
                        f.name,
                        progress_label(f.phase.as_deref(), f.percent)
                    )
                })
            })
        };
        let percent =
            move || following.with(|f| f.as_ref().and_then(|f| f.percent).map(|p| p.to_string()));
        let interrupted = move || following.with(|f| f.as_ref().is_some_and(|f| f.interrupted));
        let ask = move || {
            if asking_cancel.get() {
                view! {
                    <div class="confirm" role="alertdialog" aria-label="Stop this clone?">
                        <p>"Stop this clone and delete what was downloaded so far?"</p>
                        <div class="actions">
                            <button type="button" class="danger stop-clone" on:click=move |_| stop_clone()>
                                "Stop clone"
                            </button>
                            <button
                                type="button"
                                class="keep-going"
                                on:click=move |_| asking_cancel.set(false)
                            >
                                "Keep going"
                            </button>
                        </div>
                    </div>
                }
                .into_any()
            } else {
                view! {
                    <button
                        type="button"
                        class="cancel-clone"
                        on:click=move |_| asking_cancel.set(true)
                    >
                        "Cancel clone"
                    </button>
                }
                .into_any()
            }
        };
        view! {
            <div class="clone-progress" role="group" aria-label=format!("Cloning {job_name}")>
                <p class="phase">{line}</p>
                <progress max="100" value=percent></progress>
                {move || {
                    interrupted()
                        .then(|| {
                        view! {
                            <p class="note interrupted">
                                "Progress updates were interrupted; the clone may still be running."
                            </p>
                        }
                    })
                }}
                {ask}
            </div>
        }
    };
    let panel = move || {
        if job_id.with(Option::is_some) {
            Some(progress().into_any())
        } else {
            open.get().then(|| form().into_any())
        }
    };
    // Jobs the server reports that this panel is not following: another tab's, or one
    // started before a reload.
    let elsewhere = move || {
        let mine = following.with(|f| f.as_ref().map(|f| f.job_id.clone()));
        store
            .clone_jobs
            .get()
            .into_iter()
            .filter(|job| job.status == "running" && Some(&job.job_id) != mine.as_ref())
            .map(|job| {
                view! {
                    <p class="note clone-elsewhere" role="status">
                        {format!(
                            "A clone started in another window is still running: {} · {}",
                            job.name,
                            progress_label(job.phase.as_deref(), job.percent),
                        )}
                    </p>
                }
            })
            .collect_view()
    };
    let on_keydown = move |ev: leptos::ev::KeyboardEvent| {
        if ev.key() == "Escape" && open.get_untracked() && following.with_untracked(Option::is_none)
        {
            ev.stop_propagation();
            close_panel();
        }
    };
    let landed_warning = move || {
        landed.get().map(|project| {
            let opening = project.clone();
            view! {
                <div class="alert warn landed" role="alert">
                    <span>
                        {format!(
                            "{project} contains CLAUDE.md or .claude/. Read them before you trust it — sessions follow their instructions.",
                        )}
                    </span>
                    // `assets/settings.js` opens the editor (`assets/claude_md.js`) on its click.
                    <button
                        type="button"
                        class="open-claude-md"
                        aria-haspopup="dialog"
                        data-for=opening
                        on:click=move |_| landed.set(None)
                    >
                        "Open CLAUDE.md"
                    </button>
                    <button type="button" aria-label="Dismiss" on:click=move |_| landed.set(None)>
                        "×"
                    </button>
                </div>
            }
        })
    };
    view! {
        <div class="new-project" on:keydown=on_keydown>
            <button
                type="button"
                class="new-project-toggle"
                node_ref=toggle
                aria-expanded=move || open.get().to_string()
                disabled=move || following.with(Option::is_some)
                on:click=move |_| {
                    if open.get_untracked() {
                        close_panel();
                    } else {
                        open.set(true);
                    }
                }
            >
                {move || if open.get() { "Cancel" } else { "New project" }}
            </button>
            {elsewhere}
            {landed_warning}
            {panel}
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(status: u16, body: &serde_json::Value) -> Failure {
        Failure {
            status,
            detail: body["detail"].as_str().unwrap_or_default().to_owned(),
            body: body.to_string(),
        }
    }

    #[test]
    fn the_hint_lists_the_allowed_schemes() {
        let list = |s: &[&str]| s.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            scheme_hint(&list(&["https", "ssh"])),
            "https and ssh URLs; hosts on a private network need clone.allow_private_hosts"
        );
        assert!(scheme_hint(&list(&["git"])).starts_with("git URLs;"));
        assert!(
            scheme_hint(&list(&["https", "ssh", "git"])).starts_with("https, ssh and git URLs;")
        );
    }

    #[test]
    fn bodies_name_every_choice() {
        let json = |text: String| serde_json::from_str::<serde_json::Value>(&text).unwrap();
        assert_eq!(
            json(create_body("alpha", true)),
            serde_json::json!({"name": "alpha", "git_init": true})
        );
        assert_eq!(
            json(clone_body("beta", "https://example.com/r.git", false)),
            serde_json::json!({"name": "beta", "url": "https://example.com/r.git", "shallow": false})
        );
    }

    #[test]
    fn progress_reads_phase_and_percent() {
        assert_eq!(progress_label(Some("Receiving"), Some(42)), "Receiving 42%");
        assert_eq!(progress_label(Some("Cloning"), None), "Cloning");
        assert_eq!(progress_label(None, None), "Starting…");
    }

    #[test]
    fn refusals_go_under_the_field_they_name() {
        let name = failure(
            422,
            &serde_json::json!({"detail": "name is required", "field": "name"}),
        );
        assert_eq!(place_of(&name), Place::Name);
        let url = failure(
            422,
            &serde_json::json!({"detail": "clone URL must have a scheme", "field": "url"}),
        );
        assert_eq!(place_of(&url), Place::Url);
        let exists = failure(
            409,
            &serde_json::json!({"detail": "a directory named 'a' already exists"}),
        );
        assert_eq!(place_of(&exists), Place::Form);
        let unanswered = Failure {
            status: 0,
            detail: "The request could not be sent; is the server running?".into(),
            body: String::new(),
        };
        assert_eq!(place_of(&unanswered), Place::Form);
    }

    #[test]
    fn unfinished_clones_say_why() {
        assert_eq!(
            ended_text("cancelled", None),
            "The clone was cancelled; nothing was kept."
        );
        assert_eq!(
            ended_text("error", Some("clone timed out after 5s")),
            "clone timed out after 5s"
        );
        assert_eq!(
            ended_text("error", None),
            "The clone failed; see the server log."
        );
    }
}
