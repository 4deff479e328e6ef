//! The launch popover of a project card (ui.md §4.4): mode, permissions, session name and
//! spawn mode, then the gates in order (trust, bypass confirmation, MCP approval), then the
//! request.

use clauster_wire::{PageContext, Project, Transcripts};
use leptos::prelude::*;

use crate::live::{Store, ToastKind, request};
use crate::widgets::{CancelButton, Checkbox};

/// One permission mode with its copy (ui.md §4.4 table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Permission {
    pub mode: &'static str,
    pub long: &'static str,
    pub short: &'static str,
    pub effect: &'static str,
}

pub const BYPASS: &str = "bypassPermissions";

pub const PERMISSIONS: [Permission; 7] = [
    Permission {
        mode: "default",
        long: "Ask before acting (default)",
        short: "Ask first",
        effect: "Claude asks before editing files or running commands.",
    },
    Permission {
        mode: "plan",
        long: "Read and plan only",
        short: "Plan only",
        effect: "Claude can read and plan but cannot change files or run commands.",
    },
    Permission {
        mode: "acceptEdits",
        long: "Accept edits automatically",
        short: "Auto-edit",
        effect: "File edits are applied without asking; commands still ask.",
    },
    Permission {
        mode: "auto",
        long: "Approve safe actions automatically",
        short: "Auto-safe",
        effect: "Actions judged safe run without asking; risky ones still ask.",
    },
    Permission {
        mode: "dontAsk",
        long: "Never ask — refuse anything not pre-approved",
        short: "Never ask",
        effect: "Nothing prompts; anything not pre-approved in settings is refused.",
    },
    Permission {
        mode: BYPASS,
        long: "Bypass all checks ⚠",
        short: "Bypass ⚠",
        effect: "Every action runs without any check. Only for disposable sandboxes.",
    },
    Permission {
        mode: "inherit",
        long: "No forced mode (use the session's settings)",
        short: "No forced mode",
        effect: "No flag is passed; the session uses whatever its settings choose — which can be any mode.",
    },
];

pub fn permission(mode: &str) -> Permission {
    PERMISSIONS
        .iter()
        .find(|p| p.mode == mode)
        .copied()
        .unwrap_or(PERMISSIONS[0])
}

/// The permission modes offered for `project`: bypass only with its opt-in.
pub fn offered_permissions(project: &Project) -> Vec<Permission> {
    PERMISSIONS
        .iter()
        .filter(|p| p.mode != BYPASS || project.allow_bypass_permissions)
        .copied()
        .collect()
}

/// The fields the popover opens with, from the page context (never a guessed default).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LaunchDefaults {
    pub resume_mode: &'static str,
    pub permission_mode: String,
    pub spawn_mode: String,
    /// "worktree needs a git repository" when the configured worktree default cannot apply.
    pub spawn_note: Option<&'static str>,
}

pub fn launch_defaults(context: &PageContext, project: &Project) -> LaunchDefaults {
    let resume_mode = if context.pty_supported && context.launch_mode == "pty" {
        "pty"
    } else {
        "standard"
    };
    let wanted = context.instance_defaults.permission_mode.as_str();
    let permission_mode = if offered_permissions(project)
        .iter()
        .any(|p| p.mode == wanted)
    {
        wanted.to_owned()
    } else {
        "default".to_owned()
    };
    let (spawn_mode, spawn_note) = match context.instance_defaults.spawn_mode.as_str() {
        "worktree" if !project.is_git_repo => ("same-dir", Some("worktree needs a git repository")),
        "session" if resume_mode == "pty" => ("same-dir", None),
        "worktree" => ("worktree", None),
        "session" => ("session", None),
        _ => ("same-dir", None),
    };
    LaunchDefaults {
        resume_mode,
        permission_mode,
        spawn_mode: spawn_mode.to_owned(),
        spawn_note,
    }
}

/// The session name as sent: newlines flattened to spaces, trimmed; `Err` with the inline
/// message for a name the server would refuse.
pub fn session_name(raw: &str) -> Result<Option<String>, &'static str> {
    let flat: String = raw
        .chars()
        .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
        .collect();
    let name = flat.trim();
    if name.is_empty() {
        Ok(None)
    } else if name.starts_with('-') {
        Err("The session name must not start with '-'.")
    } else if name.chars().count() > 128 {
        Err("The session name is longer than 128 characters.")
    } else {
        Ok(Some(name.to_owned()))
    }
}

/// The `POST /api/instances` body as JSON text (typed, not `serde_json::Value`, whose
/// encoder would only grow the wasm bundle).
pub fn launch_body(
    project: &str,
    resume_mode: &str,
    spawn_mode: &str,
    permission_mode: &str,
    name: Option<&str>,
    fork: Option<&str>,
) -> String {
    #[derive(serde::Serialize)]
    struct Launch<'a> {
        project: &'a str,
        resume_mode: &'a str,
        spawn_mode: &'a str,
        permission_mode: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        name: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        resume_session_id: Option<&'a str>,
    }
    serde_json::to_string(&Launch {
        project,
        resume_mode,
        spawn_mode,
        permission_mode,
        name,
        resume_session_id: fork,
    })
    .unwrap_or_default()
}

/// The past conversations an Interactive launch can fork (ui.md §4.4): not live, not a
/// subagent's, with turns; as `(uuid, label)` in the server's order (newest first).
pub fn fork_choices(list: &Transcripts, now_ms: i64) -> Vec<(String, String)> {
    list.sessions
        .iter()
        .filter(|s| !s.live && !s.is_subagent && s.turn_count > 0)
        .map(|s| {
            let age = parse_ms(&s.mtime).map_or_else(String::new, |at| {
                format!(" · {} ago", crate::sessions::uptime(at, now_ms))
            });
            (
                s.session.clone(),
                format!("{}{age}", prompt_label(s.first_prompt.as_deref())),
            )
        })
        .collect()
}

/// The first prompt on one line, at most 80 characters.
fn prompt_label(prompt: Option<&str>) -> String {
    let flat = prompt
        .unwrap_or_default()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if flat.is_empty() {
        return "(no prompt)".to_owned();
    }
    if flat.chars().count() <= 80 {
        return flat;
    }
    let mut cut: String = flat.chars().take(79).collect();
    cut.push('…');
    cut
}

#[cfg(feature = "hydrate")]
fn now_ms() -> i64 {
    #[allow(clippy::cast_possible_truncation)]
    let now = js_sys::Date::now() as i64;
    now
}

#[cfg(feature = "hydrate")]
fn parse_ms(rfc3339: &str) -> Option<i64> {
    let ms = js_sys::Date::parse(rfc3339);
    #[allow(clippy::cast_possible_truncation)]
    (!ms.is_nan()).then_some(ms as i64)
}

/// Only the browser renders the picker; the server never parses dates for it.
#[cfg(not(feature = "hydrate"))]
fn parse_ms(_rfc3339: &str) -> Option<i64> {
    None
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Form,
    Trust,
    Bypass,
    /// Interactive launch with undecided MCP servers (ui.md §4.4 gate 3).
    Mcp,
}

/// The popover. `on_close` runs on Cancel, Escape, an outside click and after a launch; the
/// card returns focus to its opener there.
// A component reads top to bottom as state, handlers, then markup; splitting it would only
// scatter the signals it shares.
#[allow(clippy::too_many_lines)]
#[component]
pub fn LaunchPopover(
    store: Store,
    project: Signal<Option<Project>>,
    error: RwSignal<Option<String>>,
    on_close: Callback<()>,
) -> impl IntoView {
    let Some(initial) = project.get_untracked() else {
        return ().into_any();
    };
    let name = initial.name.clone();
    let context = store.context.get_untracked();
    let defaults = launch_defaults(&context, &initial);
    let pty_supported = context.pty_supported;
    let resume_mode = RwSignal::new(defaults.resume_mode);
    let permission_mode = RwSignal::new(defaults.permission_mode.clone());
    let spawn_mode = RwSignal::new(defaults.spawn_mode.clone());
    let spawn_note = defaults.spawn_note;
    let session = RwSignal::new(String::new());
    // Interactive only: "" is a new conversation, else the uuid of one to fork.
    let fork = RwSignal::new(String::new());
    let fork_list = RwSignal::new(None::<Vec<(String, String)>>);
    let step = RwSignal::new(Step::Form);
    let trust_ticked = RwSignal::new(false);
    let typed = RwSignal::new(String::new());
    let mismatch = RwSignal::new(false);
    let busy = RwSignal::new(false);
    let panel = NodeRef::<leptos::html::Div>::new();
    let first = NodeRef::<leptos::html::Select>::new();
    let typed_input = NodeRef::<leptos::html::Input>::new();
    let trust_box = NodeRef::<leptos::html::Input>::new();
    let mcp_button = NodeRef::<leptos::html::Button>::new();

    let is_git = initial.is_git_repo;
    let name_error = move || session.with(|raw| session_name(raw).err());
    let trusted = move || {
        project.with(|p| {
            p.as_ref()
                .is_some_and(|p| p.trust_state == clauster_wire::TrustState::Trusted)
        })
    };

    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        if let Some(select) = first.get() {
            let _ = select.focus();
        }
    });
    // The fork picker's list, fetched the first time Interactive is chosen.
    #[cfg(feature = "hydrate")]
    {
        let project_name = name.clone();
        Effect::new(move |_| {
            if resume_mode.get() != "pty" || fork_list.with_untracked(Option::is_some) {
                return;
            }
            fork_list.set(Some(Vec::new()));
            let url = store.url(&format!("/api/projects/{project_name}/transcripts"));
            request("GET", url, None, move |result| {
                if let Ok(text) = result
                    && let Ok(list) = serde_json::from_str::<Transcripts>(&text)
                {
                    fork_list.set(Some(fork_choices(&list, now_ms())));
                }
            });
        });
    }
    // Each gate replaces the form, whose focused button goes with it: focus moves into the
    // gate, so Escape and Tab keep working inside the dialog (issue 19 bug 4).
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| match step.get() {
        Step::Bypass => {
            if let Some(input) = typed_input.get() {
                let _ = input.focus();
            }
        }
        Step::Trust => {
            if let Some(input) = trust_box.get() {
                let _ = input.focus();
            }
        }
        Step::Mcp => {
            if let Some(button) = mcp_button.get() {
                let _ = button.focus();
            }
        }
        Step::Form => {}
    });

    let send = {
        let name = name.clone();
        move || {
            let Ok(label) = session.with_untracked(|raw| session_name(raw)) else {
                step.set(Step::Form);
                return;
            };
            busy.set(true);
            error.set(None);
            let body = launch_body(
                &name,
                resume_mode.get_untracked(),
                &spawn_mode.get_untracked(),
                &permission_mode.get_untracked(),
                label.as_deref(),
                fork.with_untracked(|uuid| {
                    (resume_mode.get_untracked() == "pty" && !uuid.is_empty()).then(|| uuid.clone())
                })
                .as_deref(),
            );
            let project_name = name.clone();
            request(
                "POST",
                store.url("/api/instances"),
                Some(body),
                move |result| match result {
                    Ok(text) => store.take_outcome(&text),
                    Err(detail) => {
                        store.toast(
                            ToastKind::Error,
                            format!("{project_name} could not start: {detail}"),
                        );
                        error.set(Some(detail));
                    }
                },
            );
            // The popover's work is done once the request is out: the row appears from the
            // answer and the frames, a failure on the card and in a toast. Closing now keeps
            // no dialog over the page while the server starts claude (issue 19 bug 4).
            on_close.run(());
        }
    };
    // After the bypass gate: the MCP-approval gate for an interactive launch whose project
    // has undecided MCP servers, else the launch.
    let after_bypass = {
        let send = send.clone();
        let name = name.clone();
        move || {
            if resume_mode.get_untracked() == "pty"
                && crate::preflight::needs_mcp_gate(store, &name)
            {
                step.set(Step::Mcp);
            } else {
                send();
            }
        }
    };
    // After the trust gate: the bypass gate when bypass is chosen, else on.
    let after_trust = {
        let after_bypass = after_bypass.clone();
        move || {
            if permission_mode.get_untracked() == BYPASS {
                typed.set(String::new());
                mismatch.set(false);
                step.set(Step::Bypass);
            } else {
                after_bypass();
            }
        }
    };
    let submit_form = {
        let after_trust = after_trust.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            if name_error().is_some() || busy.get_untracked() {
                return;
            }
            if trusted() {
                after_trust();
            } else {
                trust_ticked.set(false);
                step.set(Step::Trust);
            }
        }
    };
    let trust_and_continue = {
        let name = name.clone();
        let after_trust = after_trust.clone();
        move |_| {
            busy.set(true);
            let after_trust = after_trust.clone();
            request(
                "POST",
                store.url(&format!("/api/projects/{name}/trust")),
                None,
                move |result| {
                    busy.set(false);
                    match result {
                        Ok(text) => {
                            if let Ok(project) = serde_json::from_str::<Project>(&text) {
                                store.upsert_project(project);
                            }
                            after_trust();
                        }
                        Err(detail) => {
                            error.set(Some(detail.clone()));
                            store.toast(ToastKind::Error, detail);
                            on_close.run(());
                        }
                    }
                },
            );
        }
    };
    let submit_bypass = {
        let name = name.clone();
        let after_bypass = after_bypass.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            if typed.get_untracked() == name {
                after_bypass();
            } else {
                mismatch.set(true);
            }
        }
    };
    let on_keydown = move |ev: leptos::ev::KeyboardEvent| {
        if ev.key() == "Escape" {
            ev.stop_propagation();
            on_close.run(());
        } else if ev.key() == "Tab" {
            #[cfg(feature = "hydrate")]
            if let Some(panel) = panel.get_untracked() {
                trap_tab(&panel, &ev);
            }
        }
    };

    let offered = offered_permissions(&initial);
    let effect = move || permission(&permission_mode.get()).effect;
    let launch_label = move || format!("Launch · {}", permission(&permission_mode.get()).short);
    let mode_field =
        move || {
            pty_supported.then(|| view! {
            <label class="field">
                <span>"Mode"</span>
                <select
                    name="resume_mode"
                    on:change=move |ev| {
                        let pty = event_target_value(&ev) == "pty";
                        resume_mode.set(if pty { "pty" } else { "standard" });
                        if pty && spawn_mode.get_untracked() == "session" {
                            spawn_mode.set("same-dir".to_owned());
                        }
                    }
                >
                    <option value="standard" selected=move || resume_mode.get() == "standard">
                        "Server Mode — many sessions, phone-friendly"
                    </option>
                    <option value="pty" selected=move || resume_mode.get() == "pty">
                        "Interactive Session — one session, true resume"
                    </option>
                </select>
            </label>
        })
        };
    let spawn_options = move || {
        let mut modes = vec![("same-dir", "Same directory")];
        if is_git {
            modes.push(("worktree", "New git worktree"));
        }
        if resume_mode.get() == "standard" {
            modes.push(("session", "Session per connection"));
        }
        modes
            .into_iter()
            .map(|(value, text)| {
                view! {
                    <option value=value selected=move || spawn_mode.get() == value>
                        {text}
                    </option>
                }
            })
            .collect_view()
    };
    // Copy, so the picker closure stays `Copy` like the rest of the form's parts.
    let viewed = StoredValue::new(name.clone());
    let fork_picker = move || {
        (resume_mode.get() == "pty").then(|| {
            let choices = fork_list.get().unwrap_or_default();
            view! {
                <label class="field">
                    <span>"Conversation"</span>
                    <select
                        name="conversation"
                        on:change=move |ev| fork.set(event_target_value(&ev))
                    >
                        <option value="" selected=move || fork.with(String::is_empty)>
                            "New conversation"
                        </option>
                        {choices
                            .into_iter()
                            .map(|(uuid, label)| {
                                let value = uuid.clone();
                                view! {
                                    <option
                                        value=uuid
                                        selected=move || fork.with(|f| *f == value)
                                    >
                                        {label}
                                    </option>
                                }
                            })
                            .collect_view()}
                    </select>
                    {move || {
                        let project_name = viewed.get_value();
                        let uuid = fork.get();
                        (!uuid.is_empty()).then(|| {
                            let href = store.url(&format!("/p/{project_name}/s/{uuid}"));
                            view! {
                                <a class="view-conversation" href=href target="_blank" rel="noopener">
                                    "view"
                                </a>
                            }
                        })
                    }}
                </label>
            }
        })
    };
    let collide_hint = move || {
        (resume_mode.get() == "pty" && is_git && spawn_mode.get() != "worktree").then(|| {
            view! {
                <p class="note">"Edits from this session and others in the same directory can collide."</p>
            }
        })
    };

    let form_name = name.clone();
    let form = move || {
        let offered = offered.clone();
        let submit_form = submit_form.clone();
        view! {
            <form class="launch-form" on:submit=submit_form>
                {mode_field()}
                <label class="field">
                    <span>"Permissions"</span>
                    <select
                        name="permission_mode"
                        node_ref=first
                        on:change=move |ev| permission_mode.set(event_target_value(&ev))
                    >
                        {offered
                            .into_iter()
                            .map(|p| {
                                view! {
                                    <option
                                        value=p.mode
                                        selected=move || permission_mode.get() == p.mode
                                    >
                                        {p.long}
                                    </option>
                                }
                            })
                            .collect_view()}
                    </select>
                </label>
                <p class="effect">{effect}</p>
                <details class="more">
                    <summary>"More options"</summary>
                    <label class="field">
                        <span>"Session name"</span>
                        <input
                            type="text"
                            name="session_name"
                            maxlength="128"
                            placeholder=form_name.clone()
                            autocomplete="off"
                            prop:value=move || session.get()
                            on:input=move |ev| session.set(event_target_value(&ev))
                        />
                    </label>
                    {move || name_error().map(|e| view! { <p class="field-error" role="alert">{e}</p> })}
                    <label class="field">
                        <span>"Spawn mode"</span>
                        <select
                            name="spawn_mode"
                            on:change=move |ev| spawn_mode.set(event_target_value(&ev))
                        >
                            {spawn_options}
                        </select>
                    </label>
                    {spawn_note.map(|note| view! { <p class="note">{note}</p> })}
                    {collide_hint}
                    {fork_picker}
                </details>
                <div class="actions">
                    <button
                        type="submit"
                        class="primary launch"
                        disabled=move || busy.get() || name_error().is_some()
                    >
                        {launch_label}
                    </button>
                    <CancelButton on_cancel=on_close />
                </div>
            </form>
        }
    };
    let trust_name = name.clone();
    let trust_gate = move || {
        let trust_and_continue = trust_and_continue.clone();
        view! {
            <div class="gate trust-gate" role="group" aria-label="Trust this directory">
                <p>
                    {format!(
                        "First launch in {trust_name}: do you trust this directory? Claude will run tools here and follow the instructions in its CLAUDE.md and .claude/.",
                    )}
                </p>
                <Checkbox
                    name="trust"
                    checked=trust_ticked
                    label=" I trust this directory"
                    input_ref=trust_box
                />
                <div class="actions">
                    <button
                        type="button"
                        class="primary confirm-trust"
                        disabled=move || !trust_ticked.get() || busy.get()
                        on:click=trust_and_continue
                    >
                        "Trust and launch"
                    </button>
                    <CancelButton on_cancel=on_close />
                </div>
            </div>
        }
    };
    let bypass_name = name.clone();
    let send_bypass = after_bypass.clone();
    let bypass_gate = move || {
        let submit_bypass = submit_bypass.clone();
        let matches = {
            let name = bypass_name.clone();
            move || typed.get() == name
        };
        // Enter submits even while the button is disabled, so a mismatch can be explained.
        let on_enter = {
            let send = send_bypass.clone();
            let name = bypass_name.clone();
            move |ev: leptos::ev::KeyboardEvent| {
                if ev.key() == "Enter" {
                    ev.prevent_default();
                    if typed.get_untracked() == name {
                        send();
                    } else {
                        mismatch.set(true);
                    }
                }
            }
        };
        view! {
            <form class="gate bypass-gate" on:submit=submit_bypass>
                <p>
                    {format!(
                        "With bypassPermissions, Claude runs every tool in {bypass_name} without asking first. Type the project name to enable it.",
                    )}
                </p>
                <label class="field">
                    <span class="sr-only">"Project name"</span>
                    <input
                        type="text"
                        name="bypass_confirm"
                        autocomplete="off"
                        node_ref=typed_input
                        prop:value=move || typed.get()
                        on:input=move |ev| {
                            mismatch.set(false);
                            typed.set(event_target_value(&ev));
                        }
                        on:keydown=on_enter
                    />
                </label>
                {move || {
                    mismatch
                        .get()
                        .then(|| view! { <p class="field-error" role="alert">"The name does not match."</p> })
                }}
                <div class="actions">
                    <button
                        type="submit"
                        class="primary danger confirm-bypass"
                        disabled=move || busy.get() || !matches()
                    >
                        "Launch with bypass"
                    </button>
                    <CancelButton on_cancel=on_close />
                </div>
            </form>
        }
    };
    let mcp_gate = move || {
        let send = send.clone();
        view! {
            <div class="gate mcp-gate" role="group" aria-label="MCP approval">
                <p>
                    "This project has MCP servers you have not approved yet; an interactive session would stop at that prompt."
                </p>
                <div class="actions">
                    <button
                        type="button"
                        class="primary launch-anyway"
                        node_ref=mcp_button
                        disabled=move || busy.get()
                        on:click=move |_| send()
                    >
                        "Launch anyway"
                    </button>
                    <CancelButton on_cancel=on_close />
                </div>
            </div>
        }
    };
    let body = move || match step.get() {
        Step::Form => form().into_any(),
        Step::Trust => trust_gate().into_any(),
        Step::Bypass => bypass_gate().into_any(),
        Step::Mcp => mcp_gate().into_any(),
    };
    view! {
        <div class="popover-backdrop" on:click=move |_| on_close.run(())></div>
        <div
            class="popover launch-popover"
            role="dialog"
            aria-modal="true"
            aria-label=format!("Start Claude in {name}")
            node_ref=panel
            on:keydown=on_keydown
        >
            <h3 class="popover-title">{format!("Start Claude in {name}")}</h3>
            {body}
        </div>
    }
    .into_any()
}

/// Keeps Tab inside the dialog: from the last focusable control back to the first, and
/// Shift+Tab the other way.
#[cfg(feature = "hydrate")]
fn trap_tab(panel: &web_sys::HtmlDivElement, ev: &leptos::ev::KeyboardEvent) {
    use wasm_bindgen::JsCast;
    let Ok(nodes) = panel.query_selector_all(
        "button:not([disabled]), select, input, summary, a[href], [tabindex='0']",
    ) else {
        return;
    };
    let focusable: Vec<web_sys::HtmlElement> = (0..nodes.length())
        .filter_map(|n| nodes.item(n))
        .filter_map(|n| n.dyn_into::<web_sys::HtmlElement>().ok())
        .filter(|e| e.offset_parent().is_some())
        .collect();
    let (Some(first), Some(last)) = (focusable.first(), focusable.last()) else {
        return;
    };
    let active = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.active_element());
    let is = |e: &web_sys::HtmlElement| {
        active
            .as_ref()
            .is_some_and(|a| a == e.unchecked_ref::<web_sys::Element>())
    };
    if ev.shift_key() && is(first) {
        ev.prevent_default();
        let _ = last.focus();
    } else if !ev.shift_key() && is(last) {
        ev.prevent_default();
        let _ = first.focus();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(git: bool, bypass: bool) -> Project {
        serde_json::from_value(serde_json::json!({"name": "alpha", "path": "/p/alpha",
            "is_git_repo": git, "has_claude_md": false, "has_claude_dir": false,
            "trust_state": "trusted", "allow_bypass_permissions": bypass}))
        .expect("a valid project")
    }

    fn context(launch_mode: &str, pty: bool, spawn: &str, permission: &str) -> PageContext {
        let mut json = crate::fixtures::context_json();
        json["launch_mode"] = launch_mode.into();
        json["pty_supported"] = pty.into();
        json["instance_defaults"]["spawn_mode"] = spawn.into();
        json["instance_defaults"]["permission_mode"] = permission.into();
        crate::fixtures::context_from(json)
    }

    #[test]
    fn bypass_is_offered_only_with_the_opt_in() {
        let modes = |p: &Project| {
            offered_permissions(p)
                .iter()
                .map(|p| p.mode)
                .collect::<Vec<_>>()
        };
        assert!(!modes(&project(false, false)).contains(&BYPASS));
        assert!(modes(&project(false, true)).contains(&BYPASS));
        assert!(modes(&project(false, false)).contains(&"inherit"));
        assert_eq!(permission("inherit").short, "No forced mode");
        assert_eq!(permission("nonsense").mode, "default");
    }

    #[test]
    fn defaults_come_from_the_context_and_fit_the_project() {
        let d = launch_defaults(
            &context("pty", false, "worktree", BYPASS),
            &project(false, false),
        );
        assert_eq!(
            d.resume_mode, "standard",
            "pty is not offered without support"
        );
        assert_eq!(d.permission_mode, "default", "bypass without the opt-in");
        assert_eq!(d.spawn_mode, "same-dir");
        assert_eq!(d.spawn_note, Some("worktree needs a git repository"));

        let d = launch_defaults(
            &context("pty", true, "session", "plan"),
            &project(true, true),
        );
        assert_eq!(d.resume_mode, "pty");
        assert_eq!(d.permission_mode, "plan");
        assert_eq!(d.spawn_mode, "same-dir", "session is Server Mode only");

        let d = launch_defaults(
            &context("standard", true, "worktree", BYPASS),
            &project(true, true),
        );
        assert_eq!((d.spawn_mode.as_str(), d.spawn_note), ("worktree", None));
        assert_eq!(d.permission_mode, BYPASS);
    }

    #[test]
    fn session_names_are_flattened_and_checked() {
        assert_eq!(session_name("  "), Ok(None));
        assert_eq!(
            session_name("fix\nthe bug "),
            Ok(Some("fix the bug".into()))
        );
        assert!(session_name("-rf").is_err());
        assert!(session_name(&"x".repeat(129)).is_err());
        assert_eq!(session_name(&"é".repeat(128)), Ok(Some("é".repeat(128))));
    }

    #[test]
    fn the_body_names_every_choice() {
        // Compared as JSON: key order depends on serde_json features unified across a build.
        let json = |text: String| serde_json::from_str::<serde_json::Value>(&text).unwrap();
        assert_eq!(
            json(launch_body(
                "alpha",
                "standard",
                "same-dir",
                "inherit",
                Some("triage"),
                None
            )),
            serde_json::json!({
                "name": "triage", "permission_mode": "inherit", "project": "alpha",
                "resume_mode": "standard", "spawn_mode": "same-dir"
            })
        );
        let bare = json(launch_body(
            "alpha", "standard", "worktree", "plan", None, None,
        ));
        assert!(bare.get("name").is_none());
        assert!(bare.get("resume_session_id").is_none());
        let fork = json(launch_body(
            "alpha",
            "pty",
            "same-dir",
            "plan",
            None,
            Some("u-1"),
        ));
        assert_eq!(fork["resume_session_id"], "u-1");
    }

    #[test]
    fn the_fork_picker_lists_finished_top_level_conversations_with_a_short_prompt() {
        let session = |id: &str, prompt: Option<&str>, turns: u64, live: bool, sub: bool| {
            clauster_wire::TranscriptSession {
                session: id.into(),
                mtime: "2026-11-25T10:00:00.000Z".into(),
                turn_count: turns,
                live,
                first_prompt: prompt.map(str::to_owned),
                first_ts: None,
                last_ts: None,
                is_subagent: sub,
                models: Vec::new(),
                cost_usd: None,
                subagents: Vec::new(),
            }
        };
        let long = "word ".repeat(30);
        let list = Transcripts {
            project: "alpha".into(),
            sessions: vec![
                session("a", Some("fix the\n  build"), 3, false, false),
                session("b", Some("live one"), 2, true, false),
                session("c", Some("a subagent"), 2, false, true),
                session("d", Some("no turns"), 0, false, false),
                session("e", Some(&long), 1, false, false),
                session("f", None, 1, false, false),
            ],
        };
        let choices = fork_choices(&list, 0);
        let ids: Vec<_> = choices.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, ["a", "e", "f"]);
        // The server build has no clock for the age; the browser appends " · <age> ago".
        assert_eq!(choices[0].1, "fix the build");
        assert_eq!(choices[1].1.chars().count(), 80);
        assert!(choices[1].1.ends_with('…'));
        assert_eq!(choices[2].1, "(no prompt)");
    }
}
