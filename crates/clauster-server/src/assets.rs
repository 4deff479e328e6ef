//! Static assets: the embedded hydrate bundle plus the hand-written `boot.js`, `theme.js`, the
//! stylesheet, the transcript viewer's `transcript.js` and `transcript.css`, and the sheets
//! and panels outside the app (`settings.*`, `claude_config.*`, `claude_md.js`, `maintenance.js`)
//! with the helpers they share (`page.js`).

use axum::body::Body;
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::error::ApiError;

/// The bundle's files and the favicons.
pub fn routes<S: Clone + Send + Sync + 'static>() -> axum::Router<S> {
    use axum::routing::get;
    axum::Router::new()
        .route("/pkg/{*path}", get(serve))
        .route("/favicon.svg", get(favicon_svg))
        .route("/favicon.ico", get(favicon_ico))
}

/// One file of the wasm-bindgen output, embedded by the build script, with its gzip form.
#[derive(Debug)]
pub struct BundleFile {
    pub path: &'static str,
    pub raw: &'static [u8],
    pub gzip: &'static [u8],
}

static BUNDLE: &[BundleFile] = include!(concat!(env!("OUT_DIR"), "/bundle_files.rs"));

/// Changes whenever the bundle's or the hand-written assets' bytes change: asset URLs carry
/// it as `?v=` so browsers may cache them forever.
pub const BUNDLE_VERSION: &str = include_str!(concat!(env!("OUT_DIR"), "/bundle_hash.txt"));

/// The logo, also the page icon (ui.md §2, §11).
pub const FAVICON_SVG: &str = include_str!("../assets/favicon.svg");
/// The same logo as a 32 px PNG inside an ICO, for browsers that ask for `/favicon.ico`
/// whatever the page links.
const FAVICON_ICO: &[u8] = include_bytes!("../assets/favicon.ico");

const BOOT_JS: &str = include_str!("../assets/boot.js");
const STYLE_CSS: &str = include_str!("../assets/style.css");
const THEME_JS: &str = include_str!("../assets/theme.js");
const TRANSCRIPT_CSS: &str = include_str!("../assets/transcript.css");
const TRANSCRIPT_JS: &str = include_str!("../assets/transcript.js");
/// Browser notifications (notifications.md §7), outside the hydrated app.
const NOTIFY_JS: &str = include_str!("../assets/notify.js");
/// The settings sheet (config.md §8), outside the hydrated app; its CSS is loaded on open.
const SETTINGS_JS: &str = include_str!("../assets/settings.js");
const SETTINGS_CSS: &str = include_str!("../assets/settings.css");
/// The "Claude config" sheet (ui.md §5.3), outside the hydrated app: settings.js imports it
/// when an opener is clicked; its CSS is loaded on open.
const CLAUDE_CONFIG_JS: &str = include_str!("../assets/claude_config.js");
const CLAUDE_CONFIG_CSS: &str = include_str!("../assets/claude_config.css");
/// The maintenance panel's body (ui.md §10), outside the hydrated app: settings.js imports
/// it when the panel is first opened.
const MAINTENANCE_JS: &str = include_str!("../assets/maintenance.js");
/// The CLAUDE.md editor (ui.md §5.2), outside the hydrated app: settings.js imports it when
/// "Edit CLAUDE.md" or "Open CLAUDE.md" is clicked.
const CLAUDE_MD_JS: &str = include_str!("../assets/claude_md.js");
/// What the modules above share: the root path, the element builder, the JSON request.
const PAGE_JS: &str = include_str!("../assets/page.js");

/// Whether this binary was built with the hydrate bundle (`cargo xtask build`).
pub fn bundle_embedded() -> bool {
    BUNDLE.iter().any(|f| {
        std::path::Path::new(f.path)
            .extension()
            .is_some_and(|e| e == "wasm")
    })
}

#[derive(Debug, Deserialize)]
pub struct VersionQuery {
    v: Option<String>,
}

/// `GET /pkg/{*path}`.
pub async fn serve(
    Path(path): Path<String>,
    Query(query): Query<VersionQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let accepts_gzip = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|enc| enc.trim().starts_with("gzip")));
    let (body, gzipped): (&'static [u8], bool) = match path.as_str() {
        "boot.js" => (BOOT_JS.as_bytes(), false),
        "style.css" => (STYLE_CSS.as_bytes(), false),
        "theme.js" => (THEME_JS.as_bytes(), false),
        "transcript.css" => (TRANSCRIPT_CSS.as_bytes(), false),
        "transcript.js" => (TRANSCRIPT_JS.as_bytes(), false),
        "notify.js" => (NOTIFY_JS.as_bytes(), false),
        "settings.js" => (SETTINGS_JS.as_bytes(), false),
        "settings.css" => (SETTINGS_CSS.as_bytes(), false),
        "claude_config.js" => (CLAUDE_CONFIG_JS.as_bytes(), false),
        "claude_config.css" => (CLAUDE_CONFIG_CSS.as_bytes(), false),
        "maintenance.js" => (MAINTENANCE_JS.as_bytes(), false),
        "claude_md.js" => (CLAUDE_MD_JS.as_bytes(), false),
        "page.js" => (PAGE_JS.as_bytes(), false),
        other => {
            let file = BUNDLE
                .iter()
                .find(|f| f.path == other)
                .ok_or_else(|| ApiError::not_found("Not Found"))?;
            if accepts_gzip {
                (file.gzip, true)
            } else {
                (file.raw, false)
            }
        }
    };
    let mut response = (StatusCode::OK, Body::from(body)).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(&path)),
    );
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if gzipped {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    let immutable = query.v.as_deref() == Some(BUNDLE_VERSION);
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if immutable {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        }),
    );
    Ok(response)
}

/// `GET /favicon.svg`.
pub async fn favicon_svg() -> Response {
    icon_response(FAVICON_SVG.as_bytes(), "image/svg+xml")
}

/// `GET /favicon.ico`.
pub async fn favicon_ico() -> Response {
    icon_response(FAVICON_ICO, "image/x-icon")
}

fn icon_response(body: &'static [u8], content_type: &'static str) -> Response {
    let mut response = (StatusCode::OK, Body::from(body)).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    response
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("js") => "text/javascript; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("css") => "text/css; charset=utf-8",
        _ => "application/octet-stream",
    }
}
