//! The host's readiness in the header (ui.md §2.1): the pill (green ready, amber warnings,
//! red with the count of failing checks), its panel (each check, what to do, **Re-check**),
//! and what keeps **Start Claude** disabled while `claude` is missing or signed out. Live from
//! the snapshot's `readiness` and each `readiness` frame.

use clauster_wire::{CheckStatus, Readiness, ReadinessLevel};
use leptos::prelude::*;

use crate::live::Store;

/// The pill's class suffix and text.
pub fn pill(readiness: Option<&Readiness>) -> (&'static str, String) {
    match readiness {
        None => ("checking", "Checking…".to_owned()),
        Some(r) => match r.level {
            ReadinessLevel::Ready => ("ready", "Ready".to_owned()),
            ReadinessLevel::Warn if r.warnings == 1 => ("warn", "1 warning".to_owned()),
            ReadinessLevel::Warn => ("warn", format!("{} warnings", r.warnings)),
            ReadinessLevel::Blocked if r.failing == 1 => ("blocked", "1 problem".to_owned()),
            ReadinessLevel::Blocked => ("blocked", format!("{} problems", r.failing)),
        },
    }
}

/// Start's tooltip while it is disabled, from the store.
pub fn start_blocked(store: Store) -> Option<String> {
    store
        .readiness
        .with(|r| r.current.as_ref().and_then(|r| r.start_blocked.clone()))
}

fn status_word(status: CheckStatus) -> &'static str {
    match status {
        CheckStatus::Ok => "ok",
        CheckStatus::Warn => "warn",
        CheckStatus::Fail => "fail",
    }
}

/// Opens the header panel and brings it into view (the disabled Start's "Fix" link).
pub fn open_panel(store: Store) {
    store.readiness.update(|r| r.panel_open = true);
    // After the panel rendered.
    #[cfg(feature = "hydrate")]
    set_timeout(
        || crate::dom::focus_css("#host-readiness-panel .recheck"),
        std::time::Duration::from_millis(0),
    );
}

/// The header pill and its panel.
#[component]
pub fn HostReadiness(store: Store) -> impl IntoView {
    let rechecking = RwSignal::new(false);
    let sign_in = store.context.with_untracked(|c| c.sign_in);
    let shown = move || store.readiness.with(|r| pill(r.current.as_ref()));
    let recheck = move |_| {
        if rechecking.get_untracked() {
            return;
        }
        rechecking.set(true);
        crate::live::request(
            "POST",
            store.url("/api/readiness/recheck"),
            None,
            move |answer| {
                rechecking.set(false);
                match answer.map(|text| serde_json::from_str::<Readiness>(&text)) {
                    Ok(Ok(fresh)) => store.readiness.update(|r| r.current = Some(fresh)),
                    Ok(Err(err)) => store.toast(
                        crate::live::ToastKind::Error,
                        format!("Re-check: unreadable answer ({err})"),
                    ),
                    Err(err) => {
                        store.toast(crate::live::ToastKind::Error, format!("Re-check: {err}"));
                    }
                }
            },
        );
    };
    // Redrawn when it opens or closes, not on every readiness change (its sign-in form keeps
    // what is being typed).
    let open = Memo::new(move |_| store.readiness.with(|r| r.panel_open));
    let panel = move || {
        open.get().then(|| {
            view! {
                <div
                    class="host-readiness-panel"
                    id="host-readiness-panel"
                    role="region"
                    aria-label="Host readiness"
                >
                    <ul class="host-checks"><CheckRows store=store /></ul>
                    {sign_in.then(|| view! { <crate::sign_in::SignIn store=store /> })}
                    <div class="host-readiness-actions">
                        <button
                            type="button"
                            class="recheck"
                            disabled=move || rechecking.get()
                            on:click=recheck
                        >
                            {move || if rechecking.get() { "Re-checking…" } else { "Re-check" }}
                        </button>
                        <button
                            type="button"
                            class="close"
                            on:click=move |_| store.readiness.update(|r| r.panel_open = false)
                        >
                            "Close"
                        </button>
                    </div>
                </div>
            }
        })
    };
    view! {
        <span class="host-readiness">
            <button
                type="button"
                class=move || format!("badge host-readiness-pill {}", shown().0)
                aria-expanded=move || store.readiness.with(|r| r.panel_open).to_string()
                aria-controls="host-readiness-panel"
                title="Host readiness: claude, its login, the directories"
                on:click=move |_| store.readiness.update(|r| r.panel_open = !r.panel_open)
            >
                {move || format!("● {}", shown().1)}
            </button>
            {panel}
        </span>
    }
}

/// The panel's rows: each check, its mark, detail and fix.
#[component]
fn CheckRows(store: Store) -> impl IntoView {
    move || {
        store.readiness.with(|r| {
            r.current.as_ref().map(|r| {
                r.checks
                    .iter()
                    .map(|c| {
                        let fix = c.fix.clone().map(|f| view! { <div class="fix">{f}</div> });
                        view! {
                            <li
                                class=format!("host-check check-{}", status_word(c.status))
                                data-check=c.name.clone()
                            >
                                <span class="check-mark" aria-hidden="true">
                                    {match c.status {
                                        CheckStatus::Ok => "✓",
                                        CheckStatus::Warn => "!",
                                        CheckStatus::Fail => "✗",
                                    }}
                                </span>
                                <strong>{c.name.clone()}</strong>
                                ": "
                                {c.detail.clone()}
                                {fix}
                            </li>
                        }
                    })
                    .collect_view()
            })
        })
    }
}

/// Under a disabled Start: the reason and the way to the fix.
#[component]
pub fn StartBlockedNote(store: Store) -> impl IntoView {
    move || {
        start_blocked(store).map(|reason| {
            view! {
                <p class="start-blocked">
                    {reason}
                    " "
                    <button type="button" class="link fix-readiness" on:click=move |_| open_panel(store)>
                        "Fix…"
                    </button>
                </p>
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn readiness(level: ReadinessLevel, failing: u32, warnings: u32) -> Readiness {
        Readiness {
            level,
            failing,
            warnings,
            checks: Vec::new(),
            start_blocked: None,
            checked_at: String::new(),
        }
    }

    #[test]
    fn the_pill_says_the_level_and_counts() {
        assert_eq!(pill(None), ("checking", "Checking…".into()));
        let r = readiness(ReadinessLevel::Ready, 0, 0);
        assert_eq!(pill(Some(&r)), ("ready", "Ready".into()));
        let r = readiness(ReadinessLevel::Warn, 0, 2);
        assert_eq!(pill(Some(&r)), ("warn", "2 warnings".into()));
        let r = readiness(ReadinessLevel::Blocked, 1, 2);
        assert_eq!(pill(Some(&r)), ("blocked", "1 problem".into()));
        let r = readiness(ReadinessLevel::Blocked, 3, 0);
        assert_eq!(pill(Some(&r)), ("blocked", "3 problems".into()));
    }
}
