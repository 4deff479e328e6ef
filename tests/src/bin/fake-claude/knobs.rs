//! The behaviour knobs: `FAKE_CLAUDE_*` variables, overridden per directory by
//! `.fake-claude.json` in the cwd (keys without the prefix, lower-cased).

use std::time::Duration;

use serde_json::{Map, Value};

pub struct Knobs {
    file: Map<String, Value>,
}

impl Knobs {
    pub fn load() -> Self {
        let file = std::fs::read_to_string(".fake-claude.json")
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .and_then(|v| match v {
                Value::Object(m) => Some(m),
                _ => None,
            })
            .unwrap_or_default();
        Knobs { file }
    }

    /// The value of `FAKE_CLAUDE_<name>` (`name` upper-case, without the prefix).
    pub fn get(&self, name: &str) -> Option<String> {
        match self.file.get(&name.to_ascii_lowercase()) {
            Some(Value::String(s)) => return Some(s.clone()),
            Some(Value::Bool(b)) => return Some(if *b { "1" } else { "0" }.to_string()),
            Some(Value::Null) | None => {}
            // Numbers, and arrays/objects (e.g. `"agents": [...]`) as their JSON text.
            Some(other) => return Some(other.to_string()),
        }
        std::env::var(format!("FAKE_CLAUDE_{name}")).ok()
    }

    pub fn string(&self, name: &str, default: &str) -> String {
        self.get(name)
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| default.to_string())
    }

    pub fn flag(&self, name: &str, default: bool) -> bool {
        match self.get(name).as_deref().map(str::trim) {
            Some("1" | "true" | "yes" | "on") => true,
            Some("0" | "false" | "no" | "off") => false,
            _ => default,
        }
    }

    pub fn u64(&self, name: &str) -> Option<u64> {
        self.get(name).and_then(|v| v.trim().parse().ok())
    }

    pub fn millis(&self, name: &str, default: u64) -> Duration {
        Duration::from_millis(self.u64(name).unwrap_or(default))
    }

    pub fn seconds_f64(&self, name: &str, default: f64) -> Duration {
        let secs = self
            .get(name)
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .unwrap_or(default);
        Duration::from_secs_f64(secs)
    }

    /// `FAKE_CLAUDE_HELP=old` selects the pre-2.1.200 CLI surface.
    pub fn old_help(&self) -> bool {
        self.string("HELP", "new") == "old"
    }

    pub fn version(&self) -> String {
        self.string("VERSION", "2.1.328")
    }

    /// The last `auth login` / `auth logout` wins over `FAKE_CLAUDE_LOGGED_IN`.
    pub fn logged_in(&self) -> bool {
        crate::util::remembered_login().unwrap_or_else(|| self.flag("LOGGED_IN", true))
    }

    pub fn max_lifetime(&self) -> Duration {
        Duration::from_secs(self.u64("MAX_SECONDS").unwrap_or(3600))
    }
}
