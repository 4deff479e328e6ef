//! The Web Push routes (notifications.md §8.2): the VAPID public key, the devices' list, a
//! subscription, a revocation; and the service worker itself at the root of the app.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use clauster_core::names::echo;
use clauster_core::notify::apprise::mask_url;

use super::push::{MAX_DEVICES, NewSubscription, PushError, valid_id};
use crate::error::ApiError;
use crate::http::JsonObject;
use crate::state::AppState;
use crate::store::{PushSubscription, Saved};

/// The service worker: served from the app's root so its scope covers the dashboard.
const SERVICE_WORKER_JS: &str = include_str!("../../assets/sw.js");

pub fn router() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/api/push/vapid-public-key", get(public_key))
        .route("/api/push/subscriptions", get(list).post(subscribe))
        .route("/api/push/subscriptions/{id}", delete(revoke))
        .route("/sw.js", get(service_worker))
}

const OFF: &str = "Web Push is off: set notifications.browser_enabled to true";

fn off() -> ApiError {
    ApiError::new(StatusCode::CONFLICT, OFF)
}

fn failed(err: &PushError) -> ApiError {
    ApiError::internal(err.to_string())
}

/// Runs a blocking push operation off the async workers.
async fn blocking<T: Send + 'static>(
    state: &AppState,
    run: impl FnOnce(&super::push::Devices) -> Result<T, PushError> + Send + 'static,
) -> Result<T, ApiError> {
    let notify = state.notify().clone();
    tokio::task::spawn_blocking(move || run(notify.push()))
        .await
        .map_err(|_| ApiError::internal("the push store panicked; see the server log"))?
        .map_err(|err| failed(&err))
}

/// `GET /api/push/vapid-public-key` → `{"public_key"}` (base64url, the uncompressed P-256
/// point for `applicationServerKey`); the key is made on the first call. 409 when off.
async fn public_key(State(state): State<AppState>) -> Result<Response, ApiError> {
    if !state.notify().push().enabled {
        return Err(off());
    }
    let vapid = blocking(&state, super::push::Devices::vapid).await?;
    Ok(Json(serde_json::json!({ "public_key": vapid.public_key() })).into_response())
}

/// A device as listed: never its endpoint's path or keys.
fn listed(subscription: &PushSubscription) -> serde_json::Value {
    serde_json::json!({
        "id": subscription.id,
        "device": subscription.device,
        "service": mask_url(&subscription.endpoint),
        "created_at": subscription.created_at,
        "last_success_at": subscription.last_success_at,
    })
}

/// `GET /api/push/subscriptions` → `{"enabled", "max", "subscriptions": [{"id", "device",
/// "service", "created_at", "last_success_at"}]}`, oldest first.
async fn list(State(state): State<AppState>) -> Response {
    let push = state.notify().push();
    let devices: Vec<serde_json::Value> = push.list().iter().map(listed).collect();
    Json(serde_json::json!({
        "enabled": push.enabled,
        "max": MAX_DEVICES,
        "subscriptions": devices,
    }))
    .into_response()
}

/// `POST /api/push/subscriptions {"endpoint", "keys": {"p256dh", "auth"}, "device"?, "id"?}`
/// → 201 (a new device) or 200 (the same endpoint or `id`: the row is replaced) with the
/// device as listed. 422 for a bad field, 409 when off or at the device limit.
async fn subscribe(
    State(state): State<AppState>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let fields = JsonObject::parse(&body)?;
    let push = state.notify().push();
    let new = NewSubscription::check(fields.fields(), push.allow_private)
        .map_err(|refused| ApiError::invalid(refused.detail, Some(refused.field)))?;
    if !push.enabled {
        return Err(off());
    }
    let saved = blocking(&state, move |push| push.save(new)).await?;
    let Some((row, how)) = saved else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "this server already has {MAX_DEVICES} push devices; revoke one (DELETE \
                 /api/push/subscriptions/{{id}}) first"
            ),
        ));
    };
    let status = match how {
        Saved::Added => StatusCode::CREATED,
        Saved::Replaced => StatusCode::OK,
    };
    Ok((status, Json(listed(&row))).into_response())
}

/// `DELETE /api/push/subscriptions/{id}` → `{"id", "deleted": true}`; 404 when unknown.
/// Allowed when off, so a device can always be revoked.
async fn revoke(
    State(state): State<AppState>,
    UrlPath(id): UrlPath<String>,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::not_found(format!("no push device '{}'", echo(&id)));
    if !valid_id(&id) {
        return Err(not_found());
    }
    let key = id.clone();
    let removed = blocking(&state, move |push| push.remove(&key)).await?;
    if !removed {
        return Err(not_found());
    }
    Ok(Json(serde_json::json!({ "id": id, "deleted": true })).into_response())
}

/// `GET /sw.js`: the service worker (JavaScript, never cached stale: `no-cache`).
async fn service_worker() -> Response {
    let mut response = (StatusCode::OK, Body::from(SERVICE_WORKER_JS)).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}
