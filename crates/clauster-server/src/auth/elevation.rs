//! Step-up re-authentication (security.md §3.2): the [`Elevated`] extractor a privileged
//! route takes, so a cookie session must have re-proved the password through
//! `POST /api/reauth` within the last ten minutes.

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;

use super::Caller;
use crate::control::ViaControlSocket;
use crate::error::ApiError;
use crate::mcp::ViaMcp;

/// How long a step-up lasts: the `Max-Age` of the cookie and the age its MAC is accepted at.
pub const ELEVATION_MAX_AGE_SECONDS: u64 = 600;

/// The `detail` of the 403 a route answers without a fresh step-up (1.3.2's text, which its
/// page matches to show the password prompt).
pub const REAUTH_REQUIRED: &str = "reauth_required";

/// Proof that the request may use a privileged route: a cookie session with a valid step-up
/// cookie, or a caller the step-up does not apply to — bearer tokens, forward-auth, auth off,
/// the control socket and MCP. Anything else is refused with 403 `reauth_required`.
#[derive(Clone, Copy, Debug)]
#[cfg_attr(
    not(test),
    allow(
        dead_code,
        reason = "the advanced config tier and the config-write routes take it (security.md \
                  §3.2); until they land only the tests below do"
    )
)]
pub struct Elevated;

impl Elevated {
    /// The verdict for a request's extensions; `Err` is the refusal.
    pub fn of(extensions: &axum::http::Extensions) -> Result<Self, ApiError> {
        let inside =
            extensions.get::<ViaControlSocket>().is_some() || extensions.get::<ViaMcp>().is_some();
        match extensions.get::<Caller>() {
            Some(
                Caller::Cookie { elevated: true, .. }
                | Caller::Open
                | Caller::Bearer
                | Caller::Proxy { .. },
            ) => Ok(Self),
            // The TCP gate puts a `Caller` in every request it lets through; without one the
            // request must come from inside — and is refused when it cannot say so.
            None if inside => Ok(Self),
            Some(
                Caller::Cookie {
                    elevated: false, ..
                }
                | Caller::Anonymous,
            )
            | None => Err(refusal()),
        }
    }
}

fn refusal() -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, REAUTH_REQUIRED)
}

impl<S: Send + Sync> FromRequestParts<S> for Elevated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        Self::of(&parts.extensions)
    }
}

#[cfg(test)]
mod tests {
    use axum::http::Extensions;

    use super::{Caller, Elevated, ViaControlSocket, ViaMcp};

    fn verdict(caller: Option<Caller>, inside: Option<&str>) -> Result<(), String> {
        let mut extensions = Extensions::new();
        if let Some(caller) = caller {
            extensions.insert(caller);
        }
        match inside {
            Some("control") => {
                extensions.insert(ViaControlSocket);
            }
            Some("mcp") => {
                extensions.insert(ViaMcp);
            }
            _ => {}
        }
        Elevated::of(&extensions)
            .map(drop)
            .map_err(|e| format!("{} {}", e.status().as_u16(), e.detail()))
    }

    #[test]
    fn only_a_cookie_session_needs_the_step_up() {
        let cookie = |elevated| Caller::Cookie {
            issued_at: 1,
            epoch: 0,
            elevated,
        };
        let refused = Err("403 reauth_required".to_owned());
        assert_eq!(verdict(Some(cookie(false)), None), refused);
        assert_eq!(verdict(Some(cookie(true)), None), Ok(()));
        assert_eq!(verdict(Some(Caller::Bearer), None), Ok(()));
        let proxy = Caller::Proxy { user: "ops".into() };
        assert_eq!(verdict(Some(proxy), None), Ok(()));
        assert_eq!(verdict(Some(Caller::Open), None), Ok(()));
        assert_eq!(verdict(Some(Caller::Anonymous), None), refused);
        assert_eq!(verdict(None, Some("control")), Ok(()));
        assert_eq!(verdict(None, Some("mcp")), Ok(()));
        assert_eq!(verdict(None, None), refused, "fails closed");
        // A marker does not lift the step-up of a browser's cookie session.
        assert_eq!(verdict(Some(cookie(false)), Some("mcp")), refused);
    }

    /// A real listener with the real gate, `/api/reauth` and `/logout`, and one route that
    /// takes [`Elevated`]: the step-up as a browser and a script meet it.
    #[tokio::test]
    #[allow(clippy::too_many_lines)] // one session, step by step
    async fn a_cookie_session_steps_up_and_a_logout_ends_it() {
        use std::sync::Arc;

        use axum::routing::{get, post};

        use crate::auth::{Auth, gate, login, tokens};

        let dir = tempfile::tempdir().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hash = crate::auth::password::hash_password("correct horse").unwrap();
        let token_hash = tokens::token_hash("script-token");
        let yaml = format!(
            "projects_root: {root}\nstate_dir: {root}\nauth:\n  enabled: true\n  \
             password_required: true\n  password_hash: '{hash}'\n  api_token_hash: {token_hash}\n",
            root = dir.path().display()
        );
        let config = clauster_core::config::load(&clauster_core::config::ConfigInput {
            text: Some(yaml),
            ..Default::default()
        })
        .unwrap()
        .config;
        // The store the server made at startup; token lookups open their own connection.
        let _store = crate::store::Store::open(dir.path(), true).unwrap();
        let auth = Auth::new(Arc::new(config), None, addr.port()).unwrap();
        let app = axum::Router::new()
            .route("/api/reauth", post(login::reauth).with_state(auth.clone()))
            .route("/logout", post(login::logout).with_state(auth.clone()))
            .route("/api/privileged", get(|_: Elevated| async { "granted" }))
            .layer(axum::middleware::from_fn_with_state(auth.clone(), gate));
        let server = tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .await
        });
        let base = format!("http://{addr}");
        let origin = base.clone();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let session = auth.session_cookie(false);
        let session = session.split(';').next().unwrap().to_owned();
        let privileged = |cookies: String| {
            let client = client.clone();
            let url = format!("{base}/api/privileged");
            async move {
                let response = client
                    .get(url)
                    .header("cookie", cookies)
                    .send()
                    .await
                    .unwrap();
                (response.status().as_u16(), response.text().await.unwrap())
            }
        };
        let reauth = |password: &str| {
            client
                .post(format!("{base}/api/reauth"))
                .header("cookie", session.clone())
                .header("origin", origin.clone())
                .json(&serde_json::json!({ "password": password }))
                .send()
        };

        // A session without a step-up is refused; so is one with a wrong password.
        let (status, body) = privileged(session.clone()).await;
        assert_eq!(
            (status, body.as_str()),
            (403, r#"{"detail":"reauth_required"}"#)
        );
        let wrong = reauth("wrong").await.unwrap();
        assert_eq!(wrong.status().as_u16(), 401);
        assert!(wrong.headers().get("set-cookie").is_none());

        // The right password sets the step-up cookie; with it the route answers.
        let granted = reauth("correct horse").await.unwrap();
        assert_eq!(granted.status().as_u16(), 200);
        let set_cookie = granted.headers()["set-cookie"].to_str().unwrap().to_owned();
        let step_up = set_cookie.split(';').next().unwrap().to_owned();
        assert!(step_up.starts_with("clauster_elevation_"), "{set_cookie}");
        let both = format!("{session}; {step_up}");
        assert_eq!(privileged(both.clone()).await, (200, "granted".to_owned()));

        // Neither cookie passes for the other, and a step-up alone is no session.
        let (name, value) = step_up.split_once('=').unwrap();
        let (session_name, session_value) = session.split_once('=').unwrap();
        let swapped = format!("{session}; {name}={session_value}");
        assert_eq!(privileged(swapped).await.0, 403);
        assert_eq!(
            privileged(format!("{session_name}={value}; {step_up}"))
                .await
                .0,
            401
        );

        // A bearer token needs no step-up.
        let bearer = client
            .get(format!("{base}/api/privileged"))
            .bearer_auth("script-token")
            .send()
            .await
            .unwrap();
        assert_eq!(bearer.status().as_u16(), 200);

        // A logout ends the step-up with the session, everywhere: a new session must step
        // up again even when it still sends the old step-up cookie.
        let logout = client
            .post(format!("{base}/logout"))
            .header("cookie", both)
            .header("origin", origin.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(logout.status().as_u16(), 303);
        let fresh = auth.session_cookie(false);
        let fresh = fresh.split(';').next().unwrap();
        assert_eq!(privileged(format!("{fresh}; {step_up}")).await.0, 403);
        server.abort();
    }
}
