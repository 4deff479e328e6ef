//! Masking of secret-looking values (config-write.md §4): what the browser sees in place of
//! a credential, and the restore that keeps the stored value when a write sends the mask
//! back untouched.

use serde_json::{Map, Value};

use super::{EditError, invalid};

/// What a masked value reads as (1.3.2's sentinel).
pub const MASK: &str = "********";

/// Parts of a key name that mark its value as a credential (compared upper-cased).
const SECRET_KEY_PARTS: &[&str] = &[
    "KEY",
    "TOKEN",
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "PASSPHRASE",
    "CREDENTIAL",
    "AUTH",
    "COOKIE",
    "PRIVATE",
    "SESSION",
    "BEARER",
    "DSN",
];

/// Prefixes of well-known credential formats.
const SECRET_PREFIXES: &[&str] = &[
    "sk-",
    "sk_",
    "pk_",
    "rk_",
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "github_pat_",
    "glpat-",
    "xox",
    "AKIA",
    "ASIA",
    "AIza",
    "Bearer ",
    "Basic ",
    "eyJ",
];

/// Whether the value under `key` looks like a credential: a secret-sounding key name, a
/// known credential prefix, a URL carrying a password, or a long unbroken run of letters
/// and digits. An empty value is never masked (there is nothing to hide).
pub fn looks_secret(key: &str, value: &str) -> bool {
    if value.is_empty() {
        return false;
    }
    let upper = key.to_ascii_uppercase();
    if SECRET_KEY_PARTS.iter().any(|part| upper.contains(part)) {
        return true;
    }
    if SECRET_PREFIXES
        .iter()
        .any(|prefix| value.starts_with(prefix))
    {
        return true;
    }
    if let Ok(url) = url::Url::parse(value)
        && url.password().is_some()
    {
        return true;
    }
    looks_random(value)
}

/// 24+ characters without whitespace, mixing letters and digits: a token, not a word.
fn looks_random(value: &str) -> bool {
    value.len() >= 24
        && !value.chars().any(char::is_whitespace)
        && value.chars().any(|c| c.is_ascii_digit())
        && value.chars().any(|c| c.is_ascii_alphabetic())
        && !value.contains('/')
}

/// `map` with every secret-looking string value replaced by [`MASK`], and the keys masked.
pub fn mask_strings(map: &Map<String, Value>) -> (Map<String, Value>, Vec<String>) {
    let mut masked = Vec::new();
    let out = map
        .iter()
        .map(|(key, value)| match value {
            Value::String(text) if looks_secret(key, text) => {
                masked.push(key.clone());
                (key.clone(), Value::String(MASK.to_owned()))
            }
            other => (key.clone(), other.clone()),
        })
        .collect();
    (out, masked)
}

/// Puts the stored value back wherever `incoming` still holds the mask. A mask with no
/// stored value under the same key is refused: the client never saw a value there.
pub fn restore_masked(
    incoming: &mut Map<String, Value>,
    stored: Option<&Map<String, Value>>,
    label: &str,
) -> Result<(), EditError> {
    for (key, value) in incoming.iter_mut() {
        if value.as_str() != Some(MASK) {
            continue;
        }
        match stored.and_then(|s| s.get(key)) {
            Some(original) => *value = original.clone(),
            None => {
                return Err(invalid(format!(
                    "{label}.{key} is the mask '{MASK}' but no value is stored there; type the \
                     value itself"
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_counts_as_a_secret() {
        let cases = [
            ("ANTHROPIC_API_KEY", "x", true),
            ("GITHUB_TOKEN", "abc", true),
            ("DB_PASSWORD", "hunter2", true),
            ("PLAIN", "sk-ant-api03-abc", true),
            ("PLAIN", "ghp_abcdef", true),
            ("DATABASE_URL", "postgres://u:pw@db/x", true),
            ("PLAIN", "a1b2c3d4e5f6a7b8c9d0e1f2a3b4", true),
            ("NODE_ENV", "production", false),
            ("DEBUG", "1", false),
            ("PATH_HINT", "/usr/local/bin/some/long/path/123", false),
            ("HOME_URL", "https://example.com/docs", false),
            ("API_KEY", "", false),
        ];
        for (key, value, secret) in cases {
            assert_eq!(looks_secret(key, value), secret, "{key}={value}");
        }
    }

    #[test]
    fn an_untouched_mask_keeps_the_stored_value() {
        let stored: Map<String, Value> =
            serde_json::from_str(r#"{"TOKEN": "real", "A": "1"}"#).unwrap();
        let (view, masked) = mask_strings(&stored);
        assert_eq!(masked, ["TOKEN"]);
        assert_eq!(view["TOKEN"], MASK);
        let mut incoming = view.clone();
        incoming.insert("A".into(), "2".into());
        restore_masked(&mut incoming, Some(&stored), "env").unwrap();
        assert_eq!(incoming["TOKEN"], "real");
        assert_eq!(incoming["A"], "2");
        let mut unknown: Map<String, Value> =
            serde_json::from_str(r#"{"NEW": "********"}"#).unwrap();
        let err = restore_masked(&mut unknown, Some(&stored), "env").unwrap_err();
        assert_eq!(
            err.to_string(),
            "env.NEW is the mask '********' but no value is stored there; type the value itself"
        );
    }
}
