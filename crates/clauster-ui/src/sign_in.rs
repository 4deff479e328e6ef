//! Signing claude in and out from the readiness panel (ui.md §2.2, issue 20), shown when
//! `login_shepherd.enabled`: the method (claude.ai, Console, or the long-lived token when
//! `allow_setup_token`), an optional email, **Start** → the authorize link and its QR code →
//! the pasted code → the outcome in claude's own words; **Cancel** at any point. Where the
//! flow is comes from the `login_flow` frames (every open page follows it, no polling). The
//! long-lived token is shown once, with a copy button and what it cannot do. **Sign out…**
//! asks for the words `sign out` first.

use clauster_wire::{CheckStatus, LoginFlowFrame, Readiness};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::live::{Failure, Store, ToastKind, call};

/// The words the sign-out must be confirmed with (the server checks them too).
pub const SIGN_OUT_WORDS: &str = "sign out";

/// The body of `POST /api/login-shepherd/start` for a choice of the method list, as JSON
/// text (typed, not `serde_json::Value`, whose encoder and decoder would only grow the wasm
/// bundle).
pub fn start_body(choice: &str, email: &str) -> String {
    #[derive(Serialize)]
    struct Start<'a> {
        mode: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        method: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        email: Option<&'a str>,
    }
    let email = Some(email.trim()).filter(|e| !e.is_empty());
    let body = match choice {
        "setup-token" => Start {
            mode: "setup-token",
            method: None,
            email: None,
        },
        method => Start {
            mode: "login",
            method: Some(method),
            email,
        },
    };
    serde_json::to_string(&body).unwrap_or_default()
}

/// A one-field JSON object (`{"password": …}`, `{"code": …}`, `{"confirm": …}`) as text.
fn one_field(name: &'static str, value: &str) -> String {
    let value = serde_json::to_string(value).unwrap_or_default();
    format!("{{\"{name}\":{value}}}")
}

/// What the sign-in routes answer, as far as the panel reads them (`GET state`, `POST
/// start`, `POST status`); everything else in the answers is ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct FlowAnswer {
    active: bool,
    pending: bool,
    authorize_url: Option<String>,
    outcome: Option<String>,
    token: Option<String>,
}

/// Why **Start** cannot run: `claude` itself is missing or unusable (its check's detail).
pub fn start_blocked(readiness: Option<&Readiness>) -> Option<String> {
    readiness?
        .checks
        .iter()
        .find(|c| c.name == "claude" && c.status == CheckStatus::Fail)
        .map(|c| c.detail.clone())
}

/// Whether claude is signed in, as far as the readiness knows.
pub fn signed_in(readiness: Option<&Readiness>) -> bool {
    readiness.is_some_and(|r| {
        r.checks
            .iter()
            .any(|c| c.name == "claude-login" && c.status != CheckStatus::Fail)
    })
}

/// What the panel shows for a finished flow: its class suffix and words.
pub fn outcome_line(flow: &LoginFlowFrame) -> (String, String) {
    let outcome = flow.outcome.clone().unwrap_or_else(|| "failed".to_owned());
    let words = flow
        .detail
        .clone()
        .unwrap_or_else(|| match outcome.as_str() {
            "signed_in" => "Signed in.".to_owned(),
            "cancelled" => "The sign-in was cancelled.".to_owned(),
            "timeout" => "No answer within 10 minutes; the sign-in was stopped.".to_owned(),
            _ => "claude ended the sign-in without signing in.".to_owned(),
        });
    (outcome, words)
}

/// The readiness panel's sign-in and sign-out.
// One flow: its signals and handlers are shared by the three stages (start, code, result).
#[allow(clippy::too_many_lines)]
#[component]
pub fn SignIn(store: Store) -> impl IntoView {
    let setup_token = store.context.with_untracked(|c| c.setup_token);
    let choice = RwSignal::new("claudeai".to_owned());
    let email = RwSignal::new(String::new());
    let code = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    // The long-lived token, once; cleared when the panel starts over.
    let token = RwSignal::new(None::<String>);
    let need_step_up = RwSignal::new(false);
    let password = RwSignal::new(String::new());
    // Set while this page sent the code: it then collects the result (and any token).
    let mine = RwSignal::new(false);
    // Memos: a readiness frame that changes neither must not redraw the form being typed in.
    let flow = Memo::new(move |_| store.readiness.with(|r| r.flow.clone()));
    let blocked = Memo::new(move |_| store.readiness.with(|r| start_blocked(r.current.as_ref())));
    let is_signed_in = Memo::new(move |_| store.readiness.with(|r| signed_in(r.current.as_ref())));

    // After a reload, a flow still open on the server is shown again.
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        crate::live::request(
            "GET",
            store.url("/api/login-shepherd/state"),
            None,
            move |answer| {
                let Ok(Ok(open)) = answer.map(|t| serde_json::from_str::<FlowAnswer>(&t)) else {
                    return;
                };
                if open.active && open.outcome.is_none() {
                    let url = open.authorize_url;
                    let state = if open.pending {
                        "verifying"
                    } else {
                        "waiting_for_code"
                    };
                    store.readiness.update(|r| {
                        r.flow.get_or_insert(LoginFlowFrame {
                            state: state.to_owned(),
                            url,
                            outcome: None,
                            detail: None,
                        });
                    });
                }
            },
        );
    });

    let collect = move |answer: Result<String, Failure>| {
        if let Ok(Ok(FlowAnswer {
            token: Some(minted),
            ..
        })) = answer.map(|t| serde_json::from_str::<FlowAnswer>(&t))
        {
            token.set(Some(minted));
        }
    };
    // The flow finished: the page that sent the code reads the result once (which retires
    // the flow on the server and hands out a long-lived token).
    Effect::new(move |_| {
        let finished = store
            .readiness
            .with(|r| r.flow.as_ref().is_some_and(|f| f.state == "finished"));
        if finished && mine.get_untracked() {
            mine.set(false);
            call(
                "POST",
                store.url("/api/login-shepherd/status"),
                None,
                collect,
            );
        }
    });

    let start = move || {
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        error.set(None);
        token.set(None);
        let body = start_body(&choice.get_untracked(), &email.get_untracked());
        call(
            "POST",
            store.url("/api/login-shepherd/start"),
            Some(body),
            move |answer| {
                busy.set(false);
                match answer.map(|t| serde_json::from_str::<FlowAnswer>(&t)) {
                    Ok(Ok(started)) => {
                        let url = started.authorize_url;
                        store.readiness.update(|r| {
                            r.flow = Some(LoginFlowFrame {
                                state: "waiting_for_code".to_owned(),
                                url,
                                outcome: None,
                                detail: None,
                            });
                        });
                        code.set(String::new());
                    }
                    Ok(Err(err)) => error.set(Some(format!("Unreadable answer: {err}"))),
                    Err(failure) if failure.status == 403 => need_step_up.set(true),
                    Err(failure) => error.set(Some(failure.detail)),
                }
            },
        );
    };
    let step_up = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let body = one_field("password", &password.get_untracked());
        call(
            "POST",
            store.url("/api/reauth"),
            Some(body),
            move |answer| match answer {
                Ok(_) => {
                    need_step_up.set(false);
                    password.set(String::new());
                    start();
                }
                Err(failure) => error.set(Some(failure.detail)),
            },
        );
    };
    let send_code = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let typed = code.get_untracked().trim().to_owned();
        if typed.is_empty() || busy.get_untracked() {
            return;
        }
        busy.set(true);
        error.set(None);
        mine.set(true);
        call(
            "POST",
            store.url("/api/login-shepherd/code"),
            Some(one_field("code", &typed)),
            move |answer| {
                busy.set(false);
                code.set(String::new());
                match answer {
                    Err(failure) => {
                        mine.set(false);
                        error.set(Some(failure.detail));
                    }
                    ok => collect(ok),
                }
            },
        );
    };
    let cancel = move |_| {
        mine.set(false);
        call(
            "POST",
            store.url("/api/login-shepherd/cancel"),
            None,
            move |answer| {
                if let Err(failure) = answer {
                    error.set(Some(failure.detail));
                }
            },
        );
    };
    let start_over = move |_| {
        store.readiness.update(|r| r.flow = None);
        token.set(None);
        error.set(None);
    };

    let form = move || {
        let open = flow.get();
        if let Some(open) = open.filter(|f| f.state != "finished") {
            let waiting = open.state == "waiting_for_code";
            let link = open.url.clone().map(|url| {
                let qr = store.url("/api/login-shepherd/qr");
                view! {
                    <a class="sign-in-link" href=url target="_blank" rel="noopener noreferrer">
                        "Open the sign-in page"
                    </a>
                    <img class="sign-in-qr" src=qr alt="QR code of the sign-in page" width="192" height="192" />
                }
            });
            return view! {
                <div class="sign-in-flow">
                    <p>"Sign in on the page below, then paste the code it shows."</p>
                    {link}
                    <form class="sign-in-code" on:submit=send_code>
                        <label>
                            "Code "
                            <input
                                type="text"
                                name="sign-in-code"
                                autocomplete="off"
                                spellcheck="false"
                                maxlength="4096"
                                disabled=move || !waiting || busy.get()
                                prop:value=move || code.get()
                                on:input=move |ev| code.set(event_target_value(&ev))
                            />
                        </label>
                        <button type="submit" class="send-code" disabled=move || !waiting || busy.get()>
                            {if waiting { "Send code" } else { "Checking…" }}
                        </button>
                        <button type="button" class="cancel-sign-in" on:click=cancel>
                            "Cancel"
                        </button>
                    </form>
                </div>
            }
            .into_any();
        }
        let finished = flow.get().map(|f| {
            let (outcome, words) = outcome_line(&f);
            view! {
                <p class=format!("sign-in-outcome outcome-{outcome}") role="status">{words}</p>
            }
        });
        let minted = token
            .get()
            .map(|minted| view! { <TokenBox store=store token=minted /> });
        let again = finished
            .is_some()
            .then(|| view! { <button type="button" class="start-over" on:click=start_over>"Start over"</button> });
        let chooser = finished.is_none().then(|| {
            view! {
                <form
                    class="sign-in-start"
                    on:submit=move |ev: leptos::ev::SubmitEvent| {
                        ev.prevent_default();
                        start();
                    }
                >
                    <label>
                        "Sign in with "
                        <select
                            name="sign-in-method"
                            prop:value=move || choice.get()
                            on:change=move |ev| choice.set(event_target_value(&ev))
                        >
                            <option value="claudeai">"claude.ai (subscription)"</option>
                            <option value="console">"Console (API billing)"</option>
                            {setup_token
                                .then(|| view! { <option value="setup-token">"Long-lived token (setup-token)"</option> })}
                        </select>
                    </label>
                    <label class:hidden=move || choice.get() == "setup-token">
                        "Email (optional) "
                        <input
                            type="email"
                            name="sign-in-email"
                            autocomplete="email"
                            prop:value=move || email.get()
                            on:input=move |ev| email.set(event_target_value(&ev))
                        />
                    </label>
                    <button
                        type="submit"
                        class="start-sign-in"
                        disabled=move || busy.get() || blocked.with(Option::is_some)
                        title=move || blocked.get().unwrap_or_default()
                    >
                        {move || if busy.get() { "Starting…" } else { "Start" }}
                    </button>
                    {move || blocked.get().map(|reason| view! { <p class="sign-in-blocked">{reason}</p> })}
                </form>
            }
        });
        view! {
            <div class="sign-in-result">{finished} {minted} {again}</div>
            {chooser}
        }
        .into_any()
    };
    let step_up_form = move || {
        need_step_up.get().then(|| {
            view! {
                <form class="step-up" on:submit=step_up>
                    <label>
                        "Your Clauster password, to confirm "
                        <input
                            type="password"
                            name="step-up-password"
                            autocomplete="current-password"
                            prop:value=move || password.get()
                            on:input=move |ev| password.set(event_target_value(&ev))
                        />
                    </label>
                    <button type="submit">"Confirm"</button>
                </form>
            }
        })
    };
    let show_sign_in = Memo::new(move |_| {
        !is_signed_in.get()
            || flow.with(Option::is_some)
            || token.with(Option::is_some)
            || setup_token
    });
    view! {
        <section class="sign-in" aria-label="Sign claude in">
            {move || show_sign_in.get().then(|| view! { <h3>"Sign claude in"</h3> {form} })}
            {step_up_form}
            {move || error.get().map(|e| view! { <p class="sign-in-error" role="alert">{e}</p> })}
            <SignOut store=store />
        </section>
    }
}

/// The long-lived token, shown once: selectable, **Copy**, and what it cannot do.
#[component]
fn TokenBox(store: Store, token: String) -> impl IntoView {
    let copy = token.clone();
    view! {
        <div class="minted-token">
            <code class="token-value">{token}</code>
            <button
                type="button"
                class="copy-token"
                on:click=move |_| {
                    crate::dom::copy_text(&copy);
                    store.toast(ToastKind::Ok, "Token copied");
                }
            >
                "Copy"
            </button>
            <p class="token-warning">
                "Shown once: copy it now and keep it secret. It cannot run Remote Control \
                 bridges (they need a claude.ai subscription login); use it as \
                 CLAUDE_CODE_OAUTH_TOKEN for non-interactive claude."
            </p>
        </div>
    }
}

/// **Sign out…**: `claude auth logout` once `sign out` is typed.
#[component]
fn SignOut(store: Store) -> impl IntoView {
    let confirm = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let sign_out = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        busy.set(true);
        call(
            "POST",
            store.url("/api/login-shepherd/logout"),
            Some(one_field("confirm", &confirm.get_untracked())),
            move |answer| {
                busy.set(false);
                confirm.set(String::new());
                match answer {
                    Ok(_) => {
                        store.readiness.update(|r| r.flow = None);
                        store.toast(ToastKind::Ok, "claude is signed out");
                    }
                    Err(failure) => {
                        store.toast(ToastKind::Error, format!("Sign out: {}", failure.detail));
                    }
                }
            },
        );
    };
    let shown = Memo::new(move |_| {
        store
            .readiness
            .with(|r| signed_in(r.current.as_ref()) && r.flow.is_none())
    });
    move || {
        shown.get().then(|| {
            view! {
                <details class="sign-out">
                    <summary>"Sign claude out…"</summary>
                    <form on:submit=sign_out>
                        <label>
                            {format!("Type \"{SIGN_OUT_WORDS}\" to confirm ")}
                            <input
                                type="text"
                                name="sign-out-confirm"
                                autocomplete="off"
                                prop:value=move || confirm.get()
                                on:input=move |ev| confirm.set(event_target_value(&ev))
                            />
                        </label>
                        <button
                            type="submit"
                            class="sign-out-button danger"
                            disabled=move || busy.get() || confirm.get().trim() != SIGN_OUT_WORDS
                        >
                            "Sign out"
                        </button>
                    </form>
                </details>
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clauster_wire::{ReadinessCheck, ReadinessLevel};

    fn readiness(checks: &[(&str, CheckStatus, &str)]) -> Readiness {
        Readiness {
            level: ReadinessLevel::Ready,
            failing: 0,
            warnings: 0,
            checks: checks
                .iter()
                .map(|(name, status, detail)| ReadinessCheck {
                    name: (*name).to_owned(),
                    status: *status,
                    detail: (*detail).to_owned(),
                    fix: None,
                    blocks_start: false,
                })
                .collect(),
            start_blocked: None,
            checked_at: String::new(),
        }
    }

    #[test]
    fn the_start_body_follows_the_choice() {
        use serde_json::{Value, json};
        let json = |text: String| serde_json::from_str::<Value>(&text).unwrap();
        assert_eq!(
            json(start_body("claudeai", "  ")),
            json!({"mode": "login", "method": "claudeai"})
        );
        assert_eq!(
            json(start_body("console", " op@example.com ")),
            json!({"mode": "login", "method": "console", "email": "op@example.com"})
        );
        assert_eq!(
            json(start_body("setup-token", "op@example.com")),
            json!({"mode": "setup-token"})
        );
        assert_eq!(json(one_field("code", "a\"b")), json!({"code": "a\"b"}));
    }

    #[test]
    fn the_flow_answers_read_what_the_panel_needs() {
        let open: FlowAnswer = serde_json::from_str(
            r#"{"active": true, "pending": false, "authorize_url": "https://claude.ai/x", "outcome": null, "extra": 1}"#,
        )
        .unwrap();
        assert!(open.active && !open.pending && open.outcome.is_none());
        assert_eq!(open.authorize_url.as_deref(), Some("https://claude.ai/x"));
        let minted: FlowAnswer = serde_json::from_str(r#"{"token": "sk-ant-oat01-x"}"#).unwrap();
        assert_eq!(minted.token.as_deref(), Some("sk-ant-oat01-x"));
    }

    #[test]
    fn start_waits_for_claude_and_sign_out_for_a_login() {
        let missing = readiness(&[
            ("claude", CheckStatus::Fail, "claude not found at /x"),
            ("claude-login", CheckStatus::Ok, "not checked yet"),
        ]);
        assert_eq!(
            start_blocked(Some(&missing)).as_deref(),
            Some("claude not found at /x")
        );
        let out = readiness(&[
            ("claude", CheckStatus::Ok, "2.1.328"),
            ("claude-login", CheckStatus::Fail, "claude is not logged in"),
        ]);
        assert_eq!(start_blocked(Some(&out)), None);
        assert!(!signed_in(Some(&out)));
        assert!(!signed_in(None));
        let r#in = readiness(&[("claude-login", CheckStatus::Ok, "claude.ai")]);
        assert!(signed_in(Some(&r#in)));
    }

    #[test]
    fn a_finished_flow_says_what_happened_in_claudes_words() {
        let finished = |outcome: &str, detail: Option<&str>| LoginFlowFrame {
            state: "finished".into(),
            url: None,
            outcome: Some(outcome.into()),
            detail: detail.map(str::to_owned),
        };
        assert_eq!(
            outcome_line(&finished("wrong_code", Some("Couldn't log in: 400"))),
            ("wrong_code".into(), "Couldn't log in: 400".into())
        );
        assert_eq!(
            outcome_line(&finished("cancelled", None)),
            ("cancelled".into(), "The sign-in was cancelled.".into())
        );
    }
}
