//! What every handler shares about HTTP itself: response helpers (the JSON object and
//! project extractors and the websocket helpers join them here), with no feature imported.

mod csp;
mod extract;
mod html;
mod project;
mod responses;
mod routing;
pub(crate) mod ws;

pub use csp::CspNonce;
pub(crate) use extract::JsonObject;
pub(crate) use html::escape_html;
pub(crate) use project::{ProjectParam, ProjectRejection, find_project};
pub(crate) use responses::mark_no_store;
pub(crate) use routing::ApiAndV1;
