//! What the CLI's `hash-password` and `api-token` commands call (cli.md §3): they edit the
//! store directly, and the server reads tokens on every request, so changes apply at once.

use std::path::Path;

use super::{password, tokens};
use crate::store::{Store, StoreError, TokenError};

pub use super::password::HashError;
pub use crate::store::TokenInfo;

/// Why a token command failed; the CLI exits 2 for the label problems, 1 otherwise.
#[derive(Debug, thiserror::Error)]
pub enum TokenCommandError {
    #[error("{0}")]
    Label(#[from] tokens::LabelError),
    #[error("{0}")]
    Token(#[from] TokenError),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("cannot generate a token: {0}")]
    Random(String),
}

impl TokenCommandError {
    /// A refused request (bad, taken or unknown label) rather than a failure.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            Self::Label(_) | Self::Token(TokenError::Exists(_) | TokenError::Unknown(_))
        )
    }
}

/// The argon2id PHC string of a password, with the Python tool's parameters.
pub fn hash_password(password: &str) -> Result<String, HashError> {
    password::hash_password(password)
}

/// A new raw token and the lowercase hex SHA-256 that config files hold.
pub fn new_token_with_hash() -> Result<(String, String), TokenCommandError> {
    let token = tokens::new_token().map_err(|err| TokenCommandError::Random(err.to_string()))?;
    let hash = tokens::token_hash(&token);
    Ok((token, hash))
}

fn open(state_dir: &Path) -> Result<Store, StoreError> {
    Store::open(state_dir, true).map(|(store, _)| store)
}

/// Issues a named token: returns the raw token (shown once).
pub fn issue_token(state_dir: &Path, label: &str) -> Result<String, TokenCommandError> {
    tokens::check_label(label)?;
    let (token, hash) = new_token_with_hash()?;
    open(state_dir)?.insert_token(label, &hash)?;
    Ok(token)
}

/// Replaces a named token's secret: returns the new raw token.
pub fn rotate_token(state_dir: &Path, label: &str) -> Result<String, TokenCommandError> {
    tokens::check_label(label)?;
    let (token, hash) = new_token_with_hash()?;
    open(state_dir)?.rotate_token(label, &hash)?;
    Ok(token)
}

pub fn revoke_token(state_dir: &Path, label: &str) -> Result<(), TokenCommandError> {
    tokens::check_label(label)?;
    open(state_dir)?.revoke_token(label)?;
    Ok(())
}

pub fn list_tokens(state_dir: &Path) -> Result<Vec<TokenInfo>, TokenCommandError> {
    Ok(open(state_dir)?.list_tokens()?)
}
