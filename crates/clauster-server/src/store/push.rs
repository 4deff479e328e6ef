//! The `push_subscriptions` table (notifications.md §8): one Web Push subscription per
//! device — its endpoint, the browser's keys and a label to tell devices apart.

use rusqlite::OptionalExtension;

use super::{Store, StoreError};
use crate::time;

/// One stored subscription. `endpoint`, `p256dh` and `auth` are what the browser's
/// `PushSubscription` carries (base64url keys); they never leave the server again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushSubscription {
    pub id: String,
    pub endpoint: String,
    pub p256dh: String,
    pub auth: String,
    pub device: String,
    pub created_at: String,
    pub last_success_at: Option<String>,
}

/// Whether a save added a device or refreshed one (same endpoint, or the same id).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Saved {
    Added,
    Replaced,
}

const COLUMNS: &str = "id, endpoint, p256dh, auth, device, created_at, last_success_at";

fn from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<PushSubscription> {
    Ok(PushSubscription {
        id: row.get(0)?,
        endpoint: row.get(1)?,
        p256dh: row.get(2)?,
        auth: row.get(3)?,
        device: row.get(4)?,
        created_at: row.get(5)?,
        last_success_at: row.get(6)?,
    })
}

impl Store {
    /// Every subscription, oldest first.
    pub fn list_push_subscriptions(&self) -> Result<Vec<PushSubscription>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM push_subscriptions ORDER BY created_at, id");
        self.select_all(&sql, from_row, "list the push subscriptions")
    }

    /// Saves `subscription`. A row with the same endpoint (the browser subscribed again) or
    /// the same id (the device re-subscribed with new keys) is replaced, keeping its id and
    /// `created_at`; the stored row is returned.
    pub fn save_push_subscription(
        &self,
        subscription: &PushSubscription,
    ) -> Result<(PushSubscription, Saved), StoreError> {
        let save = || -> rusqlite::Result<(PushSubscription, Saved)> {
            let tx = self.conn.unchecked_transaction()?;
            let existing: Option<(String, String)> = tx
                .query_row(
                    "SELECT id, created_at FROM push_subscriptions
                     WHERE endpoint = ?1 OR id = ?2 ORDER BY endpoint = ?1 DESC LIMIT 1",
                    (&subscription.endpoint, &subscription.id),
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()?;
            let (id, created_at, saved) = match existing {
                Some((id, created_at)) => (id, created_at, Saved::Replaced),
                None => (subscription.id.clone(), time::now_rfc3339(), Saved::Added),
            };
            // The other row a replaced device may have left (its old endpoint).
            tx.execute(
                "DELETE FROM push_subscriptions WHERE (id = ?1 OR endpoint = ?2)",
                (&id, &subscription.endpoint),
            )?;
            tx.execute(
                &format!("INSERT INTO push_subscriptions ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL)"),
                (
                    &id,
                    &subscription.endpoint,
                    &subscription.p256dh,
                    &subscription.auth,
                    &subscription.device,
                    &created_at,
                ),
            )?;
            tx.commit()?;
            Ok((
                PushSubscription {
                    id,
                    created_at,
                    last_success_at: None,
                    ..subscription.clone()
                },
                saved,
            ))
        };
        save().map_err(self.query_error("save a push subscription"))
    }

    /// Deletes the subscription `id`; `false` when there was none.
    pub fn delete_push_subscription(&self, id: &str) -> Result<bool, StoreError> {
        self.conn
            .execute("DELETE FROM push_subscriptions WHERE id = ?1", [id])
            .map(|deleted| deleted > 0)
            .map_err(self.query_error("delete a push subscription"))
    }

    /// Notes a delivery the push service accepted.
    pub fn touch_push_subscription(&self, id: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE push_subscriptions SET last_success_at = ?2 WHERE id = ?1",
                (id, time::now_rfc3339()),
            )
            .map(drop)
            .map_err(self.query_error("note a push delivery"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subscription(id: &str, endpoint: &str) -> PushSubscription {
        PushSubscription {
            id: id.into(),
            endpoint: endpoint.into(),
            p256dh: "key".into(),
            auth: "auth".into(),
            device: "phone".into(),
            created_at: String::new(),
            last_success_at: None,
        }
    }

    /// One row per device: the same endpoint or the same id replaces the row and keeps its
    /// id; deleting reports whether there was a row.
    #[test]
    fn a_device_keeps_one_row() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Store::open(dir.path(), false).unwrap();
        let save = |id, endpoint| {
            store
                .save_push_subscription(&subscription(id, endpoint))
                .unwrap()
        };
        let (first, saved) = save("a", "https://push.example/1");
        assert_eq!((first.id.as_str(), saved), ("a", Saved::Added));
        let (again, saved) = save("b", "https://push.example/1");
        assert_eq!((again.id.as_str(), saved), ("a", Saved::Replaced));
        assert_eq!(again.created_at, first.created_at);
        let (moved, saved) = save("a", "https://push.example/2");
        assert_eq!((moved.id.as_str(), saved), ("a", Saved::Replaced));
        let (other, _) = save("c", "https://push.example/3");
        let listed = store.list_push_subscriptions().unwrap();
        let endpoints: Vec<&str> = listed.iter().map(|s| s.endpoint.as_str()).collect();
        assert_eq!(
            endpoints,
            ["https://push.example/2", "https://push.example/3"]
        );
        store.touch_push_subscription(&other.id).unwrap();
        assert!(
            store.list_push_subscriptions().unwrap()[1]
                .last_success_at
                .is_some()
        );
        assert!(store.delete_push_subscription("a").unwrap());
        assert!(!store.delete_push_subscription("a").unwrap());
        assert_eq!(store.list_push_subscriptions().unwrap().len(), 1);
    }
}
