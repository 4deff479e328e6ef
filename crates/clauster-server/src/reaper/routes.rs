//! `GET /api/environments/ghosts` and `POST /api/environments/reap` (http-api.md §7).
//!
//! Both answer 404 `reaper UI is disabled` unless `reaper.ui_enabled`, except over the
//! control socket: that is how `clauster reaper` works with the dashboard panel switched off
//! (config.md §3.9: the CLI reaper is always available).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use clauster_wire::ReapAction;
use serde_json::Value;

use crate::control::ViaControlSocket;
use crate::error::ApiError;
use crate::state::AppState;

const DISABLED: &str = "reaper UI is disabled";
const CONFIRM_MISMATCH: &str = "confirm must be 'archive' for archive or 'DELETE' for delete";
const BAD_ACTION: &str = "action must be 'archive' or 'delete'";
const BAD_IDS: &str = "ids must be a non-empty list of strings";

/// The reaper's two routes, merged into the main router.
pub fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/api/environments/ghosts", axum::routing::get(ghosts))
        .route("/api/environments/reap", axum::routing::post(reap))
}

fn gate(
    state: &AppState,
    socket: Option<&axum::Extension<ViaControlSocket>>,
) -> Result<(), ApiError> {
    if state.config().reaper.ui_enabled || socket.is_some() {
        Ok(())
    } else {
        Err(ApiError::not_found(DISABLED))
    }
}

pub async fn ghosts(
    State(state): State<AppState>,
    socket: Option<axum::Extension<ViaControlSocket>>,
) -> Result<Response, ApiError> {
    gate(&state, socket.as_ref())?;
    let api = state.options().environments_api.clone();
    let scan = super::scan(&state, api.transport()).await.map_err(logged)?;
    Ok(Json(scan.view).into_response())
}

pub async fn reap(
    State(state): State<AppState>,
    socket: Option<axum::Extension<ViaControlSocket>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    gate(&state, socket.as_ref())?;
    let body =
        body.map_err(|_| ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "request body too large"))?;
    let (action, ids) = parse_request(&body)?;
    let api = state.options().environments_api.clone();
    let result = super::reap(&state, api.transport(), action, &ids)
        .await
        .map_err(logged)?;
    Ok(Json(result).into_response())
}

/// One warning per failed scan for the operator's log: the texts are already redacted
/// (excerpts go through the sanitizer, credentials errors name files, never the token).
fn logged(err: super::ReaperError) -> ApiError {
    tracing::warn!("reaper: {err}");
    err.into()
}

/// The body of a reap (http-api.md §7): an object; `action` `archive`/`delete` (422);
/// `ids` a non-empty list of non-empty strings (422); `confirm` exactly `archive` or `DELETE`
/// to match the action (400).
fn parse_request(body: &[u8]) -> Result<(ReapAction, Vec<String>), ApiError> {
    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) else {
        return Err(ApiError::invalid(
            "request body must be a JSON object",
            None,
        ));
    };
    let action = match map.get("action").and_then(Value::as_str) {
        Some("archive") => ReapAction::Archive,
        Some("delete") => ReapAction::Delete,
        _ => return Err(ApiError::invalid(BAD_ACTION, Some("action"))),
    };
    let ids: Option<Vec<String>> = match map.get("ids") {
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|item| item.as_str().filter(|s| !s.is_empty()).map(str::to_owned))
            .collect(),
        _ => None,
    };
    let ids = ids.ok_or_else(|| ApiError::invalid(BAD_IDS, Some("ids")))?;
    let expected = match action {
        ReapAction::Archive => "archive",
        ReapAction::Delete => "DELETE",
    };
    if map.get("confirm").and_then(Value::as_str) != Some(expected) {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, CONFIRM_MISMATCH));
    }
    Ok((action, ids))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reap_bodies_are_checked_in_the_spec_order() {
        type Expected = Result<(ReapAction, Vec<&'static str>), (u16, &'static str)>;
        let cases: [(&str, Expected); 16] = [
            (
                r#"{"action": "archive", "ids": ["env_1", "env_2"], "confirm": "archive"}"#,
                Ok((ReapAction::Archive, vec!["env_1", "env_2"])),
            ),
            (
                r#"{"action": "delete", "ids": ["env_1"], "confirm": "DELETE", "x": 1}"#,
                Ok((ReapAction::Delete, vec!["env_1"])),
            ),
            ("[]", Err((422, "request body must be a JSON object"))),
            ("not json", Err((422, "request body must be a JSON object"))),
            (
                r#"{"ids": ["a"], "confirm": "archive"}"#,
                Err((422, BAD_ACTION)),
            ),
            (
                r#"{"action": "purge", "ids": ["a"]}"#,
                Err((422, BAD_ACTION)),
            ),
            (
                r#"{"action": "Archive", "ids": ["a"]}"#,
                Err((422, BAD_ACTION)),
            ),
            (r#"{"action": 1, "ids": ["a"]}"#, Err((422, BAD_ACTION))),
            (
                r#"{"action": "archive", "ids": [], "confirm": "archive"}"#,
                Err((422, BAD_IDS)),
            ),
            (
                r#"{"action": "archive", "confirm": "archive"}"#,
                Err((422, BAD_IDS)),
            ),
            (
                r#"{"action": "archive", "ids": "env_1"}"#,
                Err((422, BAD_IDS)),
            ),
            (
                r#"{"action": "archive", "ids": ["a", 2]}"#,
                Err((422, BAD_IDS)),
            ),
            (r#"{"action": "archive", "ids": [""]}"#, Err((422, BAD_IDS))),
            (
                r#"{"action": "archive", "ids": ["a"], "confirm": "yes"}"#,
                Err((400, CONFIRM_MISMATCH)),
            ),
            (
                r#"{"action": "delete", "ids": ["a"], "confirm": "delete"}"#,
                Err((400, CONFIRM_MISMATCH)),
            ),
            (
                r#"{"action": "delete", "ids": ["a"], "confirm": "archive"}"#,
                Err((400, CONFIRM_MISMATCH)),
            ),
        ];
        for (body, expected) in cases {
            let got = parse_request(body.as_bytes()).map_err(|err| {
                let response = err.into_response();
                response.status().as_u16()
            });
            match (got, expected) {
                (Ok((action, ids)), Ok((want_action, want_ids))) => {
                    assert_eq!(action, want_action, "{body}");
                    assert_eq!(ids, want_ids, "{body}");
                }
                (Err(status), Err((want_status, want_detail))) => {
                    assert_eq!(status, want_status, "{body}");
                    let detail = parse_request(body.as_bytes()).unwrap_err();
                    assert_eq!(detail.detail(), want_detail, "{body}");
                }
                (got, want) => panic!("{body}: got {got:?}, want {want:?}"),
            }
        }
    }
}
