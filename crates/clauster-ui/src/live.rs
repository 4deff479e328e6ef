//! The client's store of instances and what keeps it current: API calls and the
//! `/ws/events` push stream (http-api.md §8.4). The browser parts exist only with `hydrate`;
//! on the server nothing here runs (event handlers never fire during SSR).

use clauster_wire::{Frame, Instance, Sequenced};
use leptos::prelude::*;

/// Every instance the dashboard knows of, keyed by `instance_id`, in arrival order.
pub type Instances = RwSignal<Vec<Instance>>;

/// Inserts or replaces `instance` by its id.
pub fn upsert(list: &mut Vec<Instance>, instance: Instance) {
    match list
        .iter_mut()
        .find(|known| known.instance_id == instance.instance_id)
    {
        Some(known) => *known = instance,
        None => list.push(instance),
    }
}

/// Adds `instance` from an API answer unless a frame already delivered it: frames are the
/// truth, and an answer can arrive after a newer frame.
pub fn insert_if_absent(store: Instances, instance: Instance) {
    store.update(|list| {
        if !list.iter().any(|i| i.instance_id == instance.instance_id) {
            list.push(instance);
        }
    });
}

/// Applies one `/ws/events` text frame to the store; frames of other kinds are ignored.
pub fn apply_frame(store: Instances, text: &str) {
    let Ok(Sequenced { frame, .. }) = serde_json::from_str::<Sequenced>(text) else {
        return;
    };
    match frame {
        Frame::Snapshot(snapshot) => store.set(snapshot.instances),
        Frame::Instance { instance } => store.update(|list| upsert(list, instance)),
        Frame::InstanceRemoved { instance_id } => {
            store.update(|list| list.retain(|i| i.instance_id != instance_id));
        }
        _ => {}
    }
}

/// Sends one API request with an optional JSON body; `done` gets the response text on a 2xx
/// status, else the error's `detail`.
#[cfg(feature = "hydrate")]
pub fn request(
    method: &'static str,
    url: String,
    body: Option<String>,
    done: impl FnOnce(Result<String, String>) + 'static,
) {
    wasm_bindgen_futures::spawn_local(async move {
        let result = browser::fetch(method, &url, body.as_deref()).await;
        done(result);
    });
}

/// On the server no event handler runs, so no request is ever sent from here.
#[cfg(not(feature = "hydrate"))]
#[allow(clippy::needless_pass_by_value)]
pub fn request(
    _method: &'static str,
    _url: String,
    _body: Option<String>,
    _done: impl FnOnce(Result<String, String>) + 'static,
) {
}

#[cfg(feature = "hydrate")]
pub use browser::connect;

#[cfg(feature = "hydrate")]
mod browser {
    use std::cell::Cell;
    use std::rc::Rc;

    use leptos::prelude::*;
    use wasm_bindgen::JsCast;
    use wasm_bindgen::prelude::Closure;
    use wasm_bindgen_futures::JsFuture;
    use web_sys::{Headers, MessageEvent, RequestInit, Response, WebSocket};

    use super::{Instances, apply_frame};

    const FIRST_DELAY_MS: i32 = 500;
    const MAX_DELAY_MS: i32 = 10_000;

    /// The `detail` of an error body, or a generic sentence with the status.
    fn error_detail(status: u16, body: &str) -> String {
        serde_json::from_str::<clauster_wire::ErrorBody>(body).map_or_else(
            |_| format!("The request failed (HTTP {status})."),
            |e| e.detail,
        )
    }

    pub async fn fetch(method: &str, url: &str, body: Option<&str>) -> Result<String, String> {
        let failed = |_| "The request could not be sent; is the server running?".to_owned();
        let window = web_sys::window().ok_or("no window")?;
        let init = RequestInit::new();
        init.set_method(method);
        if let Some(body) = body {
            let headers = Headers::new().map_err(failed)?;
            headers
                .set("content-type", "application/json")
                .map_err(failed)?;
            init.set_headers(&headers);
            init.set_body(&body.into());
        }
        let response = JsFuture::from(window.fetch_with_str_and_init(url, &init))
            .await
            .map_err(failed)?;
        let response: Response = response.dyn_into().map_err(failed)?;
        let text = match response.text() {
            Ok(promise) => JsFuture::from(promise)
                .await
                .ok()
                .and_then(|t| t.as_string())
                .unwrap_or_default(),
            Err(_) => String::new(),
        };
        if response.ok() {
            Ok(text)
        } else {
            Err(error_detail(response.status(), &text))
        }
    }

    /// Opens the one `/ws/events` socket of the page and keeps it open: each message patches
    /// the store; after a close it reconnects with backoff (0.5 s doubling to 10 s). The first
    /// open marks `<html data-hydrated="true">`.
    pub fn connect(root_path: String, store: Instances) {
        let delay = Rc::new(Cell::new(FIRST_DELAY_MS));
        open(Rc::new(root_path), store, delay);
    }

    fn events_url(root_path: &str) -> Option<String> {
        let location = web_sys::window()?.location();
        let scheme = if location.protocol().ok()? == "https:" {
            "wss"
        } else {
            "ws"
        };
        Some(format!(
            "{scheme}://{}{root_path}/ws/events",
            location.host().ok()?
        ))
    }

    fn open(root_path: Rc<String>, store: Instances, delay: Rc<Cell<i32>>) {
        let Some(socket) = events_url(&root_path).and_then(|url| WebSocket::new(&url).ok()) else {
            retry(root_path, store, delay);
            return;
        };
        let on_open = {
            let delay = Rc::clone(&delay);
            Closure::<dyn FnMut()>::new(move || {
                delay.set(FIRST_DELAY_MS);
                if let Some(root) = document().document_element() {
                    let _ = root.set_attribute("data-hydrated", "true");
                }
            })
        };
        socket.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        on_open.forget();

        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            if let Some(text) = event.data().as_string() {
                apply_frame(store, &text);
            }
        });
        socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        on_message.forget();

        // `close` follows every failed or ended connection, so reconnecting here is enough.
        let on_close = Closure::once(move || retry(root_path, store, delay));
        socket.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        on_close.forget();
    }

    fn retry(root_path: Rc<String>, store: Instances, delay: Rc<Cell<i32>>) {
        let wait = delay.get();
        delay.set((wait * 2).min(MAX_DELAY_MS));
        let again = Closure::once_into_js(move || open(root_path, store, delay));
        if let Some(window) = web_sys::window() {
            let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(
                again.unchecked_ref::<js_sys::Function>(),
                wait,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(id: &str, status: &str) -> Instance {
        let mut value = serde_json::json!({
            "instance_id": id, "project": "alpha", "label": "alpha",
            "channel": "remote-control", "status": status, "alive": true,
            "resume_mode": "standard", "spawn_mode": "same-dir", "permission_mode": "default",
            "sandbox_mode": "default", "intentional_stop": false,
            "stopping": false, "resumed_conversation": false, "launch_count": 1
        });
        for key in [
            "started_at",
            "bridge_pid",
            "bridge_proc_start",
            "bridge_start_ticks",
            "bridge_boot_id",
            "keeper_pid",
            "keeper_proc_start",
            "keeper_start_ticks",
            "worktree_name",
            "bridge_id",
            "environment_id",
            "starter_session_id",
            "url",
            "session_url",
            "bridge_debug_log_path",
            "bridge_raw_log_path",
            "error_detail",
            "notice",
            "claude_version",
            "error_kind",
            "error_hint",
            "ready_at",
            "ended_at",
        ] {
            value[key] = serde_json::Value::Null;
        }
        serde_json::from_value(value).expect("a valid instance")
    }

    #[test]
    fn frames_replace_upsert_and_remove() {
        let owner = Owner::new();
        owner.with(|| {
            let store: Instances = RwSignal::new(vec![instance("a", "running")]);
            let snapshot = serde_json::json!({
                "seq": 2, "type": "snapshot", "projects": [],
                "instances": [instance("b", "starting")],
                "health": {"claude_ok": null, "claude_version": null, "store_ok": true, "engine_ready": true}
            });
            apply_frame(store, &snapshot.to_string());
            assert_eq!(store.with_untracked(|l| l[0].instance_id.clone()), "b");
            assert_eq!(store.with_untracked(Vec::len), 1);

            let upsert = serde_json::json!({"seq": 3, "type": "instance", "instance": instance("b", "running")});
            apply_frame(store, &upsert.to_string());
            assert_eq!(store.with_untracked(|l| l[0].status.clone()), "running");
            let added = serde_json::json!({"seq": 4, "type": "instance", "instance": instance("c", "starting")});
            apply_frame(store, &added.to_string());
            assert_eq!(store.with_untracked(Vec::len), 2);

            apply_frame(store, r#"{"seq": 5, "type": "metrics", "metrics": {}}"#);
            apply_frame(store, r#"{"seq": 6, "type": "instance_removed", "instance_id": "b"}"#);
            assert_eq!(store.with_untracked(|l| l[0].instance_id.clone()), "c");
            assert_eq!(store.with_untracked(Vec::len), 1);

            insert_if_absent(store, instance("c", "stopped"));
            assert_eq!(store.with_untracked(|l| l[0].status.clone()), "starting");
        });
    }
}
