//! The CLAUDE.md editor of a project card (ui.md §5.2, data.md §2): load, edit with a byte
//! counter against the cap, save with the lost-update guard, and the conflict, trust and
//! error answers with their choices.

use clauster_wire::{ClaudeMdConflict, ClaudeMdDoc, Project};
use leptos::prelude::*;

use crate::live::{Failure, Store, call};
use crate::widgets::Confirm;

/// The server's size cap in UTF-8 bytes (data.md §2).
pub const CAP: usize = 65_536;

/// The counter under the text: `N / 65536 bytes`.
pub fn counter_text(bytes: usize) -> String {
    format!("{bytes} / {CAP} bytes")
}

/// The `PUT` body: `base_sha256` only when the file existed at load (or the conflict named
/// a current hash to overwrite).
pub fn save_body(content: &str, base_sha256: Option<&str>) -> String {
    #[derive(serde::Serialize)]
    struct Save<'a> {
        content: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        base_sha256: Option<&'a str>,
    }
    serde_json::to_string(&Save {
        content,
        base_sha256,
    })
    .unwrap_or_default()
}

/// What the editor shows under the text after a save or a load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notice {
    /// "Saved" with a tick.
    Saved,
    /// The file changed on disk since it was loaded: Reload or Overwrite. `current` is the
    /// hash now on disk (`None`: the file was deleted).
    Conflict { current: Option<String> },
    /// The project is not trusted: the server's sentence and a Trust button.
    Untrusted(String),
    /// Anything else the server refused (413 over the cap, 422, 500), as its sentence.
    Error(String),
}

/// Reads a failed save: 409 is the lost-update conflict, 403 the trust gate, the rest an
/// error to show as it is.
pub fn save_failure(failure: &Failure) -> Notice {
    match failure.status {
        409 => Notice::Conflict {
            current: serde_json::from_str::<ClaudeMdConflict>(&failure.body)
                .ok()
                .and_then(|c| c.current_sha256),
        },
        403 => Notice::Untrusted(failure.detail.clone()),
        _ => Notice::Error(failure.detail.clone()),
    }
}

/// The editor, shown under its card while `name` is in `store.claude_md_open`.
// State, handlers, then markup, as the other panels; splitting would scatter the signals.
// Component props are owned values.
#[allow(clippy::too_many_lines, clippy::needless_pass_by_value)]
#[component]
pub fn ClaudeMdEditor(store: Store, name: String, on_close: Callback<()>) -> impl IntoView {
    let url = store.url(&format!("/api/projects/{name}/claude-md"));
    let doc = RwSignal::new(None::<ClaudeMdDoc>);
    let load_error = RwSignal::new(None::<String>);
    let text = RwSignal::new(String::new());
    // The content as last loaded or saved, to know whether there is anything to lose.
    let clean = RwSignal::new(String::new());
    // The hash `Save` sends; `None` while the file did not exist at load.
    let base = RwSignal::new(None::<String>);
    let notice = RwSignal::new(None::<Notice>);
    let busy = RwSignal::new(false);
    let asking_close = RwSignal::new(false);
    let area = NodeRef::<leptos::html::Textarea>::new();

    let take_doc = move |loaded: ClaudeMdDoc| {
        text.set(loaded.content.clone());
        clean.set(loaded.content.clone());
        base.set(loaded.sha256.clone());
        doc.set(Some(loaded));
    };
    let load = {
        let url = url.clone();
        move || {
            busy.set(true);
            call("GET", url.clone(), None, move |result| {
                busy.set(false);
                match result {
                    Ok(body) => match serde_json::from_str::<ClaudeMdDoc>(&body) {
                        Ok(loaded) => {
                            notice.set(None);
                            load_error.set(None);
                            take_doc(loaded);
                        }
                        Err(_) => load_error.set(Some(
                            "The server's answer was not a CLAUDE.md document.".to_owned(),
                        )),
                    },
                    Err(failure) => load_error.set(Some(failure.detail)),
                }
            });
        }
    };
    load();
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        if doc.with(Option::is_some)
            && let Some(area) = area.get()
        {
            let _ = area.focus();
        }
    });

    let bytes = move || text.with(String::len);
    let over_cap = move || bytes() > CAP;
    let dirty = move || text.with(|t| clean.with(|c| t != c));
    // `base_sha256` is whatever the caller decides: the loaded hash, or the conflict's.
    let put = {
        let url = url.clone();
        move |base_sha256: Option<String>| {
            if busy.get_untracked() {
                return;
            }
            busy.set(true);
            let content = text.get_untracked();
            let body = save_body(&content, base_sha256.as_deref());
            call("PUT", url.clone(), Some(body), move |result| {
                busy.set(false);
                match result {
                    Ok(body) => {
                        if let Ok(saved) = serde_json::from_str::<ClaudeMdDoc>(&body) {
                            // What the server wrote (CRLF normalised) is the new clean text;
                            // keep what is in the box unless it is only that normalisation.
                            if text.with_untracked(|t| t.replace("\r\n", "\n") == saved.content) {
                                text.set(saved.content.clone());
                            }
                            clean.set(saved.content.clone());
                            base.set(saved.sha256.clone());
                            doc.set(Some(saved));
                        }
                        notice.set(Some(Notice::Saved));
                    }
                    Err(failure) => notice.set(Some(save_failure(&failure))),
                }
            });
        }
    };
    let save = {
        let put = put.clone();
        move || {
            if !over_cap() {
                put(base.get_untracked());
            }
        }
    };
    let overwrite = {
        let put = put.clone();
        move |current: Option<String>| put(current)
    };
    let trust_then_save = {
        let name = name.clone();
        let save = save.clone();
        move || {
            busy.set(true);
            let save = save.clone();
            call(
                "POST",
                store.url(&format!("/api/projects/{name}/trust")),
                None,
                move |result| {
                    busy.set(false);
                    match result {
                        Ok(body) => {
                            if let Ok(project) = serde_json::from_str::<Project>(&body) {
                                store.upsert_project(project);
                            }
                            save();
                        }
                        Err(failure) => notice.set(Some(Notice::Error(failure.detail))),
                    }
                },
            );
        }
    };
    let close = move || {
        if dirty() {
            asking_close.set(true);
        } else {
            on_close.run(());
        }
    };
    let on_keydown = {
        let save = save.clone();
        move |ev: leptos::ev::KeyboardEvent| {
            if (ev.ctrl_key() || ev.meta_key()) && ev.key().eq_ignore_ascii_case("s") {
                ev.prevent_default();
                save();
            } else if ev.key() == "Escape" && !asking_close.get_untracked() {
                ev.stop_propagation();
                close();
            }
        }
    };

    let head = move || {
        doc.get().map(|d| {
            view! {
                {(!d.exists).then(|| view! { <span class="badge new-file">"new file"</span> })}
                <span class="byte-counter" class:over=over_cap aria-live="polite">
                    {move || counter_text(bytes())}
                </span>
            }
        })
    };
    let running_note = move || {
        doc.with(|d| d.as_ref().is_some_and(|d| d.bridge_running)).then(|| {
            view! {
                <p class="note bridge-note">
                    "Running sessions keep the version they started with; new sessions read your changes."
                </p>
            }
        })
    };
    let notice_view = {
        let trust_then_save = trust_then_save.clone();
        let load = load.clone();
        move || {
            let trust_then_save = trust_then_save.clone();
            let load = load.clone();
            let overwrite = overwrite.clone();
            notice.get().map(|n| match n {
                Notice::Saved => view! {
                    <p class="saved" role="status">
                        <span aria-hidden="true">"✓ "</span>
                        "Saved"
                    </p>
                }
                .into_any(),
                Notice::Conflict { current } => view! {
                    <div class="alert conflict" role="alert">
                        <span>"CLAUDE.md changed on disk since you opened it."</span>
                        <button type="button" class="reload" on:click=move |_| load()>
                            "Reload"
                        </button>
                        <button
                            type="button"
                            class="danger overwrite"
                            on:click=move |_| overwrite(current.clone())
                        >
                            "Overwrite"
                        </button>
                    </div>
                }
                .into_any(),
                Notice::Untrusted(detail) => view! {
                    <div class="alert untrusted" role="alert">
                        <span>{detail}</span>
                        <button type="button" class="trust" on:click=move |_| trust_then_save()>
                            "Trust"
                        </button>
                    </div>
                }
                .into_any(),
                Notice::Error(detail) => view! {
                    <div class="alert" role="alert">
                        <span>{detail}</span>
                    </div>
                }
                .into_any(),
            })
        }
    };
    let confirm_close = move || {
        asking_close.get().then(|| {
            view! {
                <Confirm
                    text="Discard your unsaved changes to CLAUDE.md?".to_owned()
                    confirm_label="Discard"
                    confirm_class="danger discard"
                    on_confirm=Callback::new(move |()| {
                        asking_close.set(false);
                        on_close.run(());
                    })
                    on_cancel=Callback::new(move |()| {
                        asking_close.set(false);
                        #[cfg(feature = "hydrate")]
                        if let Some(area) = area.get_untracked() {
                            let _ = area.focus();
                        }
                    })
                />
            }
        })
    };
    let label = format!("CLAUDE.md of {name}");
    let body = {
        let label = label.clone();
        let save = save.clone();
        move || {
            if let Some(detail) = load_error.get() {
                return view! { <div class="alert" role="alert"><span>{detail}</span></div> }
                    .into_any();
            }
            if doc.with(Option::is_none) {
                return view! { <p class="note">"Loading…"</p> }.into_any();
            }
            let save = save.clone();
            view! {
                <textarea
                    class="claude-md-text"
                    name="claude-md"
                    rows="16"
                    spellcheck="false"
                    aria-label=label.clone()
                    node_ref=area
                    prop:value=move || text.get()
                    on:input=move |ev| {
                        text.set(event_target_value(&ev));
                        if notice.with_untracked(|n| n == &Some(Notice::Saved)) {
                            notice.set(None);
                        }
                    }
                ></textarea>
                <div class="actions">
                    <button
                        type="button"
                        class="primary save"
                        aria-keyshortcuts="Control+S Meta+S"
                        disabled=move || busy.get() || over_cap()
                        on:click=move |_| save()
                    >
                        "Save"
                    </button>
                    <button type="button" class="close" on:click=move |_| close()>
                        "Close"
                    </button>
                </div>
            }
            .into_any()
        }
    };
    // A sheet over the page on every width (a card-wide textarea is too narrow to edit in):
    // the backdrop is inert (a stray click must not discard edits); Close and Escape close.
    let title = format!("CLAUDE.md · {name}");
    view! {
        <div class="sheet-backdrop" aria-hidden="true"></div>
        <section
            class="claude-md-editor sheet"
            role="dialog"
            aria-modal="true"
            aria-label=label
            on:keydown=on_keydown
        >
            <div class="editor-head">
                <h3>{title}</h3>
                {head}
                <button
                    type="button"
                    class="icon close-x"
                    aria-label="Close the editor"
                    on:click=move |_| close()
                >
                    "×"
                </button>
            </div>
            {running_note}
            {body}
            {notice_view}
            {confirm_close}
        </section>
    }
}

/// Opens the editor of `name` (at most once).
pub fn open(store: Store, name: &str) {
    store.claude_md_open.update(|open| {
        if !open.iter().any(|n| n == name) {
            open.push(name.to_owned());
        }
    });
}

/// Closes the editor of `name`.
pub fn close(store: Store, name: &str) {
    store
        .claude_md_open
        .update(|open| open.retain(|n| n != name));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(status: u16, body: &str) -> Failure {
        let detail = serde_json::from_str::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v["detail"].as_str().map(str::to_owned))
            .unwrap_or_default();
        Failure {
            status,
            detail,
            body: body.to_owned(),
        }
    }

    #[test]
    fn the_counter_counts_utf8_bytes_against_the_cap() {
        assert_eq!(counter_text("héllo".len()), "6 / 65536 bytes");
        assert_eq!(counter_text(0), "0 / 65536 bytes");
    }

    #[test]
    fn the_body_carries_the_base_only_when_there_is_one() {
        let json = |text: String| serde_json::from_str::<serde_json::Value>(&text).unwrap();
        assert_eq!(
            json(save_body("# hi\n", Some("ab12"))),
            serde_json::json!({"content": "# hi\n", "base_sha256": "ab12"})
        );
        assert_eq!(
            json(save_body("", None)),
            serde_json::json!({"content": ""})
        );
    }

    #[test]
    fn failures_become_the_right_notice() {
        let conflict = failure(
            409,
            r#"{"detail": "CLAUDE.md changed on disk since it was loaded", "current_sha256": "ff00"}"#,
        );
        assert_eq!(
            save_failure(&conflict),
            Notice::Conflict {
                current: Some("ff00".into())
            }
        );
        let deleted = failure(
            409,
            r#"{"detail": "CLAUDE.md changed on disk since it was loaded", "current_sha256": null}"#,
        );
        assert_eq!(save_failure(&deleted), Notice::Conflict { current: None });
        let untrusted = failure(403, r#"{"detail": "/p/alpha is not a trusted directory"}"#);
        assert_eq!(
            save_failure(&untrusted),
            Notice::Untrusted("/p/alpha is not a trusted directory".into())
        );
        let big = failure(
            413,
            r#"{"detail": "CLAUDE.md is 65537 bytes, over the 65536 byte cap"}"#,
        );
        assert_eq!(
            save_failure(&big),
            Notice::Error("CLAUDE.md is 65537 bytes, over the 65536 byte cap".into())
        );
    }
}
