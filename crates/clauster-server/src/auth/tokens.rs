//! Bearer tokens (security.md §4): the raw token's shape, its stored SHA-256, the
//! `Authorization` header's grammar and token labels.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

const PREFIX: &str = "clauster_pat_";
const MAX_LABEL_CHARS: usize = 64;

/// A new raw token: `clauster_pat_` + 43 base64url characters (32 random bytes).
pub fn new_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

/// What is stored: lowercase hex SHA-256 of the raw token.
pub fn token_hash(token: &str) -> String {
    to_hex(&Sha256::digest(token.as_bytes()))
}

/// Lowercase hex of `bytes`.
pub fn to_hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

/// The credential of `Authorization: Bearer <token>`: the scheme in any case, a non-empty
/// credential without spaces. `None` for another scheme or a malformed value.
pub fn bearer_credential(header: &str) -> Option<&str> {
    let (scheme, credential) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let credential = credential.trim_matches(' ');
    (!credential.is_empty() && !credential.contains(char::is_whitespace)).then_some(credential)
}

/// Why a token label was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LabelError {
    #[error("the token label is empty; use 1–64 characters of letters, digits, '_', '.' and '-'")]
    Empty,
    #[error(
        "the token label '{0}' is invalid; use 1–64 characters of letters, digits, '_', '.' and '-'"
    )]
    Invalid(String),
}

/// Labels are 1–64 characters of `[A-Za-z0-9_.-]`.
pub fn check_label(label: &str) -> Result<(), LabelError> {
    if label.is_empty() {
        return Err(LabelError::Empty);
    }
    let valid = label.chars().count() <= MAX_LABEL_CHARS
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if valid {
        Ok(())
    } else {
        let shown: String = label
            .chars()
            .take(80)
            .flat_map(char::escape_default)
            .collect();
        Err(LabelError::Invalid(shown))
    }
}

#[cfg(test)]
mod tests {
    use super::{LabelError, bearer_credential, check_label, new_token, token_hash};

    #[test]
    fn tokens_have_the_documented_shape_and_hash() {
        let token = new_token().unwrap();
        assert!(token.starts_with("clauster_pat_"));
        assert_eq!(token.len(), "clauster_pat_".len() + 43);
        assert_ne!(token, new_token().unwrap());
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn the_bearer_grammar() {
        assert_eq!(bearer_credential("Bearer abc"), Some("abc"));
        assert_eq!(bearer_credential("bEaReR abc"), Some("abc"));
        assert_eq!(bearer_credential("Bearer "), None);
        assert_eq!(bearer_credential("Bearer"), None);
        assert_eq!(bearer_credential("Bearer a b"), None);
        assert_eq!(bearer_credential("Basic abc"), None);
    }

    #[test]
    fn labels() {
        assert_eq!(check_label("ci-bot_1.x"), Ok(()));
        assert_eq!(check_label(&"a".repeat(64)), Ok(()));
        assert_eq!(check_label(""), Err(LabelError::Empty));
        for bad in ["a b", "é", "a/b", &"a".repeat(65)] {
            assert!(
                matches!(check_label(bad), Err(LabelError::Invalid(_))),
                "{bad}"
            );
        }
    }
}
