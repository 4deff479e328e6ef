//! The current time in the shapes the store and the API write (`clauster_core::timestamp`
//! holds the formats and the tolerant reader the Python import needs).

use std::time::{SystemTime, UNIX_EPOCH};

pub(crate) use clauster_core::timestamp::{normalize as normalize_timestamp, unix_millis};

/// The current time as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub(crate) fn now_rfc3339() -> String {
    clauster_core::timestamp::rfc3339_millis(u64::try_from(since_epoch().as_millis()).unwrap_or(0))
}

/// Epoch milliseconds as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub(crate) fn rfc3339_from_unix_millis(ms: u128) -> String {
    clauster_core::timestamp::rfc3339_millis(u64::try_from(ms).unwrap_or(0))
}

/// The current time as `YYYYmmddTHHMMSSZ`, the stamp in backup file names (§10.1).
pub(crate) fn now_compact() -> String {
    clauster_core::timestamp::compact(i64::try_from(since_epoch().as_secs()).unwrap_or(0))
}

/// Seconds since the epoch (a JWT's `exp`).
pub(crate) fn unix_seconds() -> u64 {
    since_epoch().as_secs()
}

fn since_epoch() -> std::time::Duration {
    // A clock before 1970 is a broken clock; the epoch is as good an answer as any.
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_has_the_stored_shapes() {
        let now = now_rfc3339();
        assert_eq!(normalize_timestamp(&now).as_deref(), Some(now.as_str()));
        assert!(unix_millis(&now).is_some());
        assert_eq!(rfc3339_from_unix_millis(0), "1970-01-01T00:00:00.000Z");
        let compact = now_compact();
        assert_eq!(compact.len(), 16);
        assert!(compact.ends_with('Z') && compact.as_bytes()[8] == b'T');
    }
}
