//! Small status bodies: the COMPAT widget summary and the login status (http-api.md §3).

use serde::{Deserialize, Serialize};

/// `GET /api/widget`: counts for a desktop widget.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Widget {
    pub projects_total: u32,
    pub bridges: WidgetBridges,
    pub running_total: u32,
    pub version: String,
}

/// Instances per status; every key is always present, zero included.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WidgetBridges {
    pub starting: u32,
    pub running: u32,
    pub stopped: u32,
    pub crashed: u32,
    pub error: u32,
}

/// `GET /api/login-status`: the cached answer of `claude auth status`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginStatus {
    pub claude_login_ok: bool,
    pub claude_login_method: Option<String>,
    /// Epoch milliseconds.
    pub claude_login_expires_at: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widget_lists_every_status_key() {
        let value = serde_json::to_value(Widget::default()).expect("serialises");
        assert_eq!(
            value,
            serde_json::json!({
                "projects_total": 0,
                "bridges": {"starting": 0, "running": 0, "stopped": 0, "crashed": 0, "error": 0},
                "running_total": 0,
                "version": "",
            })
        );
    }

    #[test]
    fn login_status_keeps_null_fields() {
        let value = serde_json::to_value(LoginStatus {
            claude_login_ok: true,
            ..LoginStatus::default()
        })
        .expect("serialises");
        assert_eq!(
            value,
            serde_json::json!({
                "claude_login_ok": true,
                "claude_login_method": null,
                "claude_login_expires_at": null,
            })
        );
    }
}
