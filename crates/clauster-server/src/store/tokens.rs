//! The `api_tokens` table (security.md §4): labels and SHA-256 hashes, never raw tokens.

use rusqlite::OptionalExtension;

use super::{Store, StoreError};
use crate::time;

/// One named token as listed (no secret).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenInfo {
    pub label: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
}

/// What a token change can run into besides the store failing.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("a token labelled '{0}' already exists; choose another label or rotate it")]
    Exists(String),
    #[error("no token labelled '{0}'; `clauster api-token list` shows the labels")]
    Unknown(String),
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// `last_used_at` is written at most once a minute per token.
const TOUCH_INTERVAL_MS: u128 = 60_000;

impl Store {
    /// A second connection to a store this process already opened (and so migrated) with
    /// [`Store::open`]. It touches no file through std: closing any descriptor of the
    /// database would drop the process's POSIX locks that SQLite's WAL mode relies on.
    pub fn connect_again(state_dir: &std::path::Path) -> Result<Store, StoreError> {
        let path = state_dir.join(super::STORE_FILE);
        let open_error = |source| StoreError::Open {
            path: path.clone(),
            source,
        };
        let conn = rusqlite::Connection::open_with_flags(
            &path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(open_error)?;
        conn.busy_timeout(super::BUSY_TIMEOUT).map_err(open_error)?;
        Ok(Store { conn, path })
    }

    /// Adds a token row; the label must be new.
    pub fn insert_token(&self, label: &str, token_hash: &str) -> Result<(), TokenError> {
        let changed = self
            .conn
            .execute(
                "INSERT INTO api_tokens (label, token_hash, created_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (label) DO NOTHING",
                (label, token_hash, time::now_rfc3339()),
            )
            .map_err(self.query_error("add an API token"))?;
        if changed == 0 {
            return Err(TokenError::Exists(label.to_owned()));
        }
        Ok(())
    }

    /// Every token, oldest first.
    pub fn list_tokens(&self) -> Result<Vec<TokenInfo>, StoreError> {
        self.select_all(
            "SELECT label, created_at, last_used_at FROM api_tokens ORDER BY created_at, label",
            |row| {
                Ok(TokenInfo {
                    label: row.get(0)?,
                    created_at: row.get(1)?,
                    last_used_at: row.get(2)?,
                })
            },
            "list the API tokens",
        )
    }

    /// Replaces a token's hash; its label and creation date stay, `last_used_at` is cleared.
    pub fn rotate_token(&self, label: &str, token_hash: &str) -> Result<(), TokenError> {
        let changed = self
            .conn
            .execute(
                "UPDATE api_tokens SET token_hash = ?2, last_used_at = NULL WHERE label = ?1",
                (label, token_hash),
            )
            .map_err(self.query_error("rotate an API token"))?;
        if changed == 0 {
            return Err(TokenError::Unknown(label.to_owned()));
        }
        Ok(())
    }

    /// Deletes a token.
    pub fn revoke_token(&self, label: &str) -> Result<(), TokenError> {
        let changed = self
            .conn
            .execute("DELETE FROM api_tokens WHERE label = ?1", [label])
            .map_err(self.query_error("revoke an API token"))?;
        if changed == 0 {
            return Err(TokenError::Unknown(label.to_owned()));
        }
        Ok(())
    }

    /// Whether a row holds `token_hash`; a hit refreshes its `last_used_at` when that is
    /// older than a minute.
    pub fn use_token(&self, token_hash: &str) -> Result<bool, StoreError> {
        let found: Option<(i64, Option<String>)> = self
            .conn
            .query_row(
                "SELECT id, last_used_at FROM api_tokens WHERE token_hash = ?1",
                [token_hash],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()
            .map_err(self.query_error("look up an API token"))?;
        let Some((id, last_used)) = found else {
            return Ok(false);
        };
        let now = time::now_rfc3339();
        let stale = match last_used.as_deref().and_then(time::unix_millis) {
            None => true,
            Some(last) => time::unix_millis(&now)
                .is_some_and(|now| now.saturating_sub(last) >= TOUCH_INTERVAL_MS),
        };
        if stale {
            self.conn
                .execute(
                    "UPDATE api_tokens SET last_used_at = ?2 WHERE id = ?1",
                    (id, &now),
                )
                .map_err(self.query_error("record an API token's use"))?;
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::TokenError;
    use crate::store::Store;

    #[test]
    fn issue_list_use_rotate_revoke() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(dir.path(), false).unwrap();
        store.insert_token("ci", &"a".repeat(64)).unwrap();
        assert!(matches!(
            store.insert_token("ci", &"b".repeat(64)),
            Err(TokenError::Exists(label)) if label == "ci"
        ));
        let listed = store.list_tokens().unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].label, "ci");
        assert_eq!(listed[0].last_used_at, None);

        assert!(store.use_token(&"a".repeat(64)).unwrap());
        assert!(!store.use_token(&"b".repeat(64)).unwrap());
        let used = store.list_tokens().unwrap()[0].last_used_at.clone();
        assert!(used.is_some());
        // A second use within the minute does not write again.
        assert!(store.use_token(&"a".repeat(64)).unwrap());
        assert_eq!(store.list_tokens().unwrap()[0].last_used_at, used);

        let created = listed[0].created_at.clone();
        store.rotate_token("ci", &"c".repeat(64)).unwrap();
        assert!(!store.use_token(&"a".repeat(64)).unwrap(), "old hash gone");
        assert!(store.use_token(&"c".repeat(64)).unwrap());
        assert_eq!(store.list_tokens().unwrap()[0].created_at, created);
        assert!(matches!(
            store.rotate_token("nope", &"d".repeat(64)),
            Err(TokenError::Unknown(_))
        ));

        store.revoke_token("ci").unwrap();
        assert!(!store.use_token(&"c".repeat(64)).unwrap());
        assert!(matches!(
            store.revoke_token("ci"),
            Err(TokenError::Unknown(_))
        ));
    }
}

#[cfg(test)]
mod two_connections {
    use crate::store::Store;

    #[test]
    fn a_use_seen_through_another_connection() {
        let dir = tempfile::tempdir().unwrap();
        let (_engine, _) = Store::open(dir.path(), false).unwrap();
        let server = Store::connect_again(dir.path()).unwrap();
        let (cli, _) = Store::open(dir.path(), true).unwrap();
        cli.insert_token("ci", &"a".repeat(64)).unwrap();
        assert!(server.use_token(&"a".repeat(64)).unwrap());
        let (later, _) = Store::open(dir.path(), true).unwrap();
        assert!(later.list_tokens().unwrap()[0].last_used_at.is_some());
    }
}
