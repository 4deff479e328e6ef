//! A failed launch, where it cannot be missed (issue 19 bug 1): on the card of the project
//! that launched it — what kind of failure, claude's own words, the hint, the full detail and
//! **Retry** — and as a toast when it happens.

use clauster_wire::Instance;
use leptos::prelude::*;

use crate::failure_text::{claude_words, failure_title, is_failure};
use crate::live::{Store, ToastKind, request};

/// The newest instance of `project` (by start, then arrival), when it is a failure.
pub fn latest_failure(list: &[Instance], project: &str) -> Option<Instance> {
    list.iter()
        .enumerate()
        .filter(|(_, i)| i.project == project)
        .max_by(|(a_at, a), (b_at, b)| a.started_at.cmp(&b.started_at).then(a_at.cmp(b_at)))
        .map(|(_, i)| i)
        .filter(|i| is_failure(i))
        .cloned()
}

/// The failure block on a project card: title, claude's words, hint, Details, Retry, dismiss.
#[component]
pub fn CardFailure(store: Store, project: String) -> impl IntoView {
    // (instance id, launch count) the user dismissed: a later failure shows again.
    let dismissed = RwSignal::new(None::<(String, i64)>);
    let busy = RwSignal::new(false);
    let failure = Memo::new(move |_| {
        store
            .instances
            .with(|list| latest_failure(list, &project))
            .filter(|i| {
                dismissed.with(|d| d.as_ref() != Some(&(i.instance_id.clone(), i.launch_count)))
            })
    });
    move || {
        failure.get().map(|i| {
            let retry_url = store.url(&format!("/api/instances/{}/resume", i.instance_id));
            let retry = move |_| {
                busy.set(true);
                let body = r#"{"fresh":false}"#.to_owned();
                request("POST", retry_url.clone(), Some(body), move |result| {
                    busy.set(false);
                    match result {
                        Ok(text) => store.take_outcome(&text),
                        Err(detail) => store.toast(ToastKind::Error, detail),
                    }
                });
            };
            let key = (i.instance_id.clone(), i.launch_count);
            let detail = crate::widgets::error_detail(i.error_detail.clone());
            view! {
                <div class="card-failure" role="alert" data-failed-instance=i.instance_id.clone()>
                    <div class="failure-text">
                        <strong class="failure-title">{failure_title(&i)}</strong>
                        {claude_words(&i).map(|w| view! { <q class="claude-words">{w}</q> })}
                        {i.error_hint.clone().map(|h| view! { <p class="hint">{h}</p> })}
                        {detail}
                    </div>
                    <div class="failure-actions">
                        <button
                            type="button"
                            class="retry"
                            disabled=move || busy.get()
                            on:click=retry
                        >
                            <crate::icons::Icon icon=crate::icons::RETRY />
                            "Retry"
                        </button>
                        <button
                            type="button"
                            class="dismiss"
                            aria-label="Dismiss this failure"
                            on:click=move |_| dismissed.set(Some(key.clone()))
                        >
                            <crate::icons::Icon icon=crate::icons::CLOSE />
                        </button>
                    </div>
                </div>
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failure_text::failure_toast;

    fn failed(status: &str, kind: Option<&str>, detail: Option<&str>) -> Instance {
        let mut i = crate::instances::tests::instance(status);
        i.alive = false;
        i.error_kind = kind.map(str::to_owned);
        i.error_detail = detail.map(str::to_owned);
        i.error_hint = kind.map(|_| "Log in once on this host.".to_owned());
        i
    }

    #[test]
    fn a_failure_names_its_kind_and_claudes_words() {
        let i = failed(
            "error",
            Some("not_logged_in"),
            Some("starting\nError: You must be logged in to use Remote Control\n\n"),
        );
        assert_eq!(
            failure_title(&i),
            "Failed to start: claude is not logged in"
        );
        assert_eq!(
            claude_words(&i).as_deref(),
            Some("Error: You must be logged in to use Remote Control")
        );
        assert_eq!(
            failure_toast(Some("starting"), &i).as_deref(),
            Some("alpha could not start: Log in once on this host.")
        );
        assert_eq!(failure_toast(Some("error"), &i), None, "only on the change");
        let crash = failed("crashed", None, None);
        assert_eq!(
            failure_toast(Some("running"), &crash).as_deref(),
            Some("alpha crashed: Crashed")
        );
        let long = failed("error", None, Some(&"x".repeat(400)));
        assert_eq!(claude_words(&long).unwrap().chars().count(), 301);
    }

    #[test]
    fn only_the_newest_instance_of_a_project_counts() {
        let mut old = failed("error", Some("offline"), None);
        old.instance_id = "old".into();
        old.started_at = Some("2026-12-01T10:00:00Z".into());
        let mut new = crate::instances::tests::instance("running");
        new.instance_id = "new".into();
        new.started_at = Some("2026-12-01T11:00:00Z".into());
        assert!(latest_failure(&[old.clone(), new.clone()], "alpha").is_none());
        assert_eq!(
            latest_failure(&[new, old.clone()], "alpha").map(|i| i.instance_id),
            None
        );
        assert_eq!(
            latest_failure(std::slice::from_ref(&old), "alpha").map(|i| i.instance_id),
            Some("old".to_owned())
        );
        assert!(latest_failure(&[old], "beta").is_none());
    }
}
