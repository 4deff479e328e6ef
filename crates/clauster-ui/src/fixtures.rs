//! What the unit tests of several views start from.

use clauster_wire::PageContext;

/// A standard-mode page context as JSON, for a test to change a field before
/// [`context_from`].
pub fn context_json() -> serde_json::Value {
    serde_json::json!({
        "version": "0.1.0", "instance_name": null, "projects_root": "/p", "root_path": "",
        "config_file_found": true, "auth_enabled": false, "launch_mode": "standard",
        "instance_defaults": {"spawn_mode": "same-dir", "permission_mode": "default",
            "verbose": false, "capacity": 32, "max_bridges": null, "session_name_prefix": null},
        "pty_supported": false, "pty_screen": false,
        "usage": {"mode": "off", "currency": "USD", "currency_symbol": "$", "fx_rate": 1.0,
            "token_total_includes_cache": true},
        "metrics": {"enabled": true, "show_disk": true, "normalize_cpu": false, "poll_seconds": 4.0},
        "clone": {"enabled": true, "allowed_schemes": ["https"]},
        "reaper_ui": false
    })
}

/// `json` as a page context.
pub fn context_from(json: serde_json::Value) -> PageContext {
    serde_json::from_value(json).expect("a valid context")
}
