//! Small shared pieces: the inline confirm dialog, the toast stack, the connection banner, a
//! failure's collapsed detail and a closed stream's note.

use leptos::prelude::*;

use crate::live::{Conn, Store, ToastKind};

/// An inline confirm dialog: focus moves to its confirm button, Escape cancels, and the
/// caller returns focus to the opener in `on_cancel` (ui.md §13).
// Component props are owned values.
#[allow(clippy::needless_pass_by_value)]
#[component]
pub fn Confirm(
    text: String,
    confirm_label: &'static str,
    confirm_class: &'static str,
    on_confirm: Callback<()>,
    on_cancel: Callback<()>,
) -> impl IntoView {
    let confirm_button = NodeRef::<leptos::html::Button>::new();
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        if let Some(button) = confirm_button.get() {
            let _ = button.focus();
        }
    });
    let on_keydown = move |ev: leptos::ev::KeyboardEvent| {
        if ev.key() == "Escape" {
            ev.stop_propagation();
            on_cancel.run(());
        }
    };
    view! {
        <div class="confirm" role="alertdialog" aria-label=text.clone() on:keydown=on_keydown>
            <p>{text.clone()}</p>
            <div class="actions">
                <button
                    type="button"
                    class=confirm_class
                    node_ref=confirm_button
                    on:click=move |_| on_confirm.run(())
                >
                    {confirm_label}
                </button>
                <CancelButton on_cancel=on_cancel />
            </div>
        </div>
    }
}

/// Returns focus to the control that opened a dialog (ui.md §13).
pub fn focus_node(node: NodeRef<leptos::html::Button>) {
    #[cfg(feature = "hydrate")]
    if let Some(button) = node.get_untracked() {
        let _ = button.focus();
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = node;
}

/// A button that asks first: a click opens a [`Confirm`] with `question`; its confirm button
/// closes it and runs `on_confirm`, Cancel or Escape closes it and gives the focus back to
/// the button (ui.md §13). `busy` disables the button while the action runs.
#[component]
pub fn ConfirmedButton(
    class: &'static str,
    label: &'static str,
    busy: RwSignal<bool>,
    #[prop(into)] question: Signal<String>,
    confirm_label: &'static str,
    confirm_class: &'static str,
    on_confirm: Callback<()>,
) -> impl IntoView {
    let asking = RwSignal::new(false);
    let opener = NodeRef::<leptos::html::Button>::new();
    let confirm = move || {
        asking.get().then(|| {
            view! {
                <Confirm
                    text=question.get()
                    confirm_label=confirm_label
                    confirm_class=confirm_class
                    on_confirm=Callback::new(move |()| {
                        asking.set(false);
                        on_confirm.run(());
                    })
                    on_cancel=Callback::new(move |()| {
                        asking.set(false);
                        focus_node(opener);
                    })
                />
            }
        })
    };
    view! {
        <button
            type="button"
            class=class
            node_ref=opener
            disabled=move || busy.get()
            on:click=move |_| asking.set(true)
        >
            {label}
        </button>
        {confirm}
    }
}

/// The **Cancel** button beside a dialog's or a gate's primary action.
#[component]
pub fn CancelButton(on_cancel: Callback<()>) -> impl IntoView {
    view! {
        <button type="button" class="cancel" on:click=move |_| on_cancel.run(())>
            "Cancel"
        </button>
    }
}

/// A checkbox bound to `checked`, its words after it; `input_ref` for a caller that moves
/// the focus to it.
#[component]
pub fn Checkbox(
    name: &'static str,
    checked: RwSignal<bool>,
    label: &'static str,
    #[prop(optional)] input_ref: NodeRef<leptos::html::Input>,
) -> impl IntoView {
    view! {
        <label class="check">
            <input
                type="checkbox"
                name=name
                node_ref=input_ref
                prop:checked=move || checked.get()
                on:change=move |ev| checked.set(event_target_checked(&ev))
            />
            {label}
        </label>
    }
}

/// The toast stack: errors in an assertive live region, everything else in a polite one
/// (ui.md §13).
#[component]
pub fn Toasts(store: Store) -> impl IntoView {
    let list = move |errors: bool| {
        store
            .toasts
            .get()
            .into_iter()
            .filter(move |t| (t.kind == ToastKind::Error) == errors)
            .map(move |toast| {
                let class = match toast.kind {
                    ToastKind::Info => "toast info",
                    ToastKind::Ok => "toast ok",
                    ToastKind::Warn => "toast warn",
                    ToastKind::Error => "toast error",
                };
                let id = toast.id;
                view! {
                    <div class=class>
                        <span>{toast.text}</span>
                        <button
                            type="button"
                            aria-label="Dismiss"
                            on:click=move |_| store.dismiss(id)
                        >
                            "×"
                        </button>
                    </div>
                }
            })
            .collect_view()
    };
    view! {
        <div class="toasts">
            <div role="status" aria-live="polite">{move || list(false)}</div>
            <div role="alert" aria-live="assertive">{move || list(true)}</div>
        </div>
    }
}

/// "Live updates paused — reconnecting…", the fallback's "refreshing every N s", or, when
/// nothing answers, that the server is unreachable and how old the shown state is.
#[component]
pub fn ConnectionBanner(store: Store) -> impl IntoView {
    let seconds = store.context.with_untracked(|c| c.metrics.poll_seconds);
    // Seconds since the server last answered, ticking only while the page is stale.
    let age = RwSignal::new(0_u64);
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        if !store.conn.get().is_stale() {
            return;
        }
        let tick = move || {
            let since = (js_sys::Date::now() - store.last_contact()).max(0.0) / 1000.0;
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            age.set(since as u64);
        };
        tick();
        if let Ok(handle) = set_interval_with_handle(tick, std::time::Duration::from_secs(1)) {
            on_cleanup(move || handle.clear());
        }
    });
    move || {
        match store.conn.get() {
        Conn::Reconnecting => Some(
            view! {
                <div class="banner conn" role="status">
                    <span>
                        "Live updates paused — reconnecting… "
                        <span class="stale-age">{move || format!("(last known, {} s ago)", age.get())}</span>
                    </span>
                </div>
            }
            .into_any(),
        ),
        Conn::Polling => Some(
            view! {
                <div class="banner conn" role="status">
                    {format!(
                        "Live updates unavailable — refreshing every {} s",
                        crate::badges::decimal(seconds)
                    )}
                </div>
            }
            .into_any(),
        ),
        Conn::Unreachable => Some(
            view! {
                <div class="banner conn unreachable" role="alert">
                    // One flex item, so the banner's gap does not split the sentence.
                    <span>
                        <strong>"Server unreachable"</strong>
                        " — showing the last known state "
                        <span class="stale-age">{move || format!("({} s ago)", age.get())}</span>
                        ". Retrying…"
                    </span>
                </div>
            }
            .into_any(),
        ),
        Conn::Connecting | Conn::Up => None,
    }
    }
}

/// A failure's full detail, collapsed under **Details** (none without one).
pub fn error_detail(detail: Option<String>) -> Option<impl IntoView> {
    detail.map(|detail| {
        view! {
            <details class="error-detail">
                <summary>"Details"</summary>
                <pre>{detail}</pre>
            </details>
        }
    })
}

/// The note of a follow stream that closed: `text`, then **Reconnect**.
pub fn stream_closed(
    text: &'static str,
    reconnect: impl Fn(leptos::ev::MouseEvent) + 'static,
) -> AnyView {
    view! {
        <p class="log-note warn">
            {text}
            <button type="button" class="reconnect" on:click=reconnect>
                "Reconnect"
            </button>
        </p>
    }
    .into_any()
}
