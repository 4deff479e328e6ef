//! The per-response CSP nonce (security.md §6), made by the security-headers middleware and
//! read by the handlers that render HTML.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The nonce of this response's inline `<script>`/`<style>` elements, put in the request's
/// extensions for the handlers that render HTML.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CspNonce(pub String);

impl CspNonce {
    /// 16 random bytes, base64url.
    pub(crate) fn fresh() -> Self {
        let mut bytes = [0u8; 16];
        // The OS generator does not fail on supported platforms; an all-zero nonce would
        // still be a valid (if guessable) policy, never an open one.
        let _ = getrandom::fill(&mut bytes);
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }
}
