//! The keeper's `updated_at` clock (its files are written with
//! [`crate::atomic_write::write_private`]).

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, as `updated_at` writes it.
pub fn now_rfc3339() -> String {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    clauster_core::pty_sidecar::rfc3339_millis(ms)
}
