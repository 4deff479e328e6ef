//! The few browser calls the components make (storage, clipboard, focus, title, theme, the
//! log socket), in one place. With `hydrate` they reach the DOM; on the server every one is
//! a no-op, because event handlers and effects never run there.

#[cfg(feature = "hydrate")]
pub use browser::*;
#[cfg(not(feature = "hydrate"))]
pub use server::*;

/// The `localStorage` key of the explicit theme choice (ui.md §8).
pub const THEME_KEY: &str = "clauster-theme";

#[cfg(not(feature = "hydrate"))]
#[allow(
    clippy::needless_pass_by_value,
    clippy::unnecessary_wraps,
    clippy::unused_self
)]
mod server {
    pub fn storage_set(_key: &str, _value: &str) {}
    pub fn copy_text(_text: &str) {}
    pub fn current_theme() -> &'static str {
        "light"
    }
    pub fn set_theme(_theme: &str) {}
    pub fn ws_url(_path: &str) -> Option<String> {
        None
    }

    /// Stands in for the browser's socket on the server, where none is ever opened.
    pub struct LogSocket;
    impl LogSocket {
        pub fn open(
            _url: &str,
            _on_line: impl FnMut(String) + 'static,
            _on_close: impl FnOnce(u16) + 'static,
        ) -> Option<Self> {
            None
        }
        pub fn close(&self) {}
    }
}

#[cfg(feature = "hydrate")]
mod browser {
    use wasm_bindgen::JsCast;
    use wasm_bindgen::prelude::Closure;
    use web_sys::{CloseEvent, HtmlElement, MessageEvent, WebSocket};

    fn document() -> Option<web_sys::Document> {
        web_sys::window()?.document()
    }

    pub fn storage_get(key: &str) -> Option<String> {
        web_sys::window()?
            .local_storage()
            .ok()??
            .get_item(key)
            .ok()?
    }

    pub fn storage_set(key: &str, value: &str) {
        if let Some(Ok(Some(storage))) = web_sys::window().map(|w| w.local_storage()) {
            let _ = storage.set_item(key, value);
        }
    }

    pub fn copy_text(text: &str) {
        if let Some(window) = web_sys::window() {
            let _ = window.navigator().clipboard().write_text(text);
        }
    }

    /// Focuses the first element matching `css`, if any.
    pub fn focus_css(css: &str) {
        if let Some(element) = document()
            .and_then(|d| d.query_selector(css).ok().flatten())
            .and_then(|e| e.dyn_into::<HtmlElement>().ok())
        {
            let _ = element.focus();
        }
    }

    pub fn set_title(title: &str) {
        if let Some(document) = document() {
            document.set_title(title);
        }
    }

    /// The theme in effect: the `data-theme` attribute the pre-paint script set, else the
    /// system preference.
    pub fn current_theme() -> &'static str {
        let explicit = document()
            .and_then(|d| d.document_element())
            .and_then(|e| e.get_attribute("data-theme"));
        match explicit.as_deref() {
            Some("dark") => "dark",
            Some("light") => "light",
            _ => {
                let dark = web_sys::window()
                    .and_then(|w| w.match_media("(prefers-color-scheme: dark)").ok().flatten())
                    .is_some_and(|m| m.matches());
                if dark { "dark" } else { "light" }
            }
        }
    }

    pub fn set_theme(theme: &str) {
        if let Some(root) = document().and_then(|d| d.document_element()) {
            let _ = root.set_attribute("data-theme", theme);
        }
        storage_set(super::THEME_KEY, theme);
    }

    /// `ws://` or `wss://` for `path` on the page's own host.
    pub fn ws_url(path: &str) -> Option<String> {
        let location = web_sys::window()?.location();
        let scheme = if location.protocol().ok()? == "https:" {
            "wss"
        } else {
            "ws"
        };
        Some(format!("{scheme}://{}{path}", location.host().ok()?))
    }

    /// Replaces the page URL's query (`""` drops it) without a reload or a history entry.
    pub fn replace_query(query: &str) {
        let Some(window) = web_sys::window() else {
            return;
        };
        let Ok(path) = window.location().pathname() else {
            return;
        };
        let url = if query.is_empty() {
            path
        } else {
            format!("{path}?{query}")
        };
        if let Ok(history) = window.history() {
            let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&url));
        }
    }

    pub fn redirect(url: &str) {
        if let Some(window) = web_sys::window() {
            let _ = window.location().set_href(url);
        }
    }

    /// A text socket that hands each message to `on_line` and its close code to `on_close`.
    pub struct LogSocket {
        socket: WebSocket,
    }

    impl LogSocket {
        pub fn open(
            url: &str,
            mut on_line: impl FnMut(String) + 'static,
            on_close: impl FnOnce(u16) + 'static,
        ) -> Option<Self> {
            let socket = WebSocket::new(url).ok()?;
            let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
                if let Some(text) = event.data().as_string() {
                    on_line(text);
                }
            });
            socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
            on_message.forget();
            let on_close = Closure::once(move |event: CloseEvent| on_close(event.code()));
            socket.set_onclose(Some(on_close.as_ref().unchecked_ref()));
            on_close.forget();
            Some(Self { socket })
        }

        /// Closes without reporting: the handlers are detached first.
        pub fn close(&self) {
            self.socket.set_onmessage(None);
            self.socket.set_onclose(None);
            let _ = self.socket.close();
        }
    }
}
