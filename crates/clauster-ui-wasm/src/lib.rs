//! The hydrate entry point of the wasm bundle.
//!
//! Compiled only for wasm32 (the whole file is cfg'd out elsewhere) so a host build of the
//! workspace never unifies leptos' `ssr` and `hydrate` features.
#![cfg(target_arch = "wasm32")]
#![forbid(unsafe_code)]

use clauster_ui::{App, BOOTSTRAP_ELEMENT_ID};
use clauster_wire::Bootstrap;
use wasm_bindgen::prelude::wasm_bindgen;

/// Called by `boot.js` once the module is instantiated: reads the bootstrap data the server
/// embedded and attaches the components to the server-rendered `<body>`.
#[wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    let Some(bootstrap) = read_bootstrap() else {
        web_sys::console::error_1(&"clauster: bootstrap data missing or malformed".into());
        return;
    };
    leptos::mount::hydrate_body(move || leptos::view! { <App bootstrap=bootstrap /> });
}

fn read_bootstrap() -> Option<Bootstrap> {
    let text = web_sys::window()?
        .document()?
        .get_element_by_id(BOOTSTRAP_ELEMENT_ID)?
        .text_content()?;
    serde_json::from_str(&text).ok()
}
