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
}
