//! The settings editor's bodies (http-api.md §3.4): `GET/PUT /api/config` and
//! `/api/config/advanced`, in 1.3.2's shapes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `GET /api/config` (and `/advanced`): the allowlisted values, which of them the form
/// shows, how to render each, and the file's hash for the lost-update check.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConfigView {
    /// Dotted key → value, for every key of the list.
    pub fields: BTreeMap<String, Value>,
    /// The keys the form shows, in its order (a deprecated key the file no longer has is
    /// left out).
    pub editable: Vec<String>,
    pub specs: BTreeMap<String, FieldSpec>,
    /// sha256 of the file's bytes; `null` when there is no file to edit.
    pub hash: Option<String>,
}

/// How the form renders one key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FieldSpec {
    /// The key within its section (`fx_rate`).
    pub key: String,
    /// The section (`usage`; `""` for top-level keys) and its title.
    pub section: String,
    pub section_label: String,
    pub label: String,
    /// `bool`, `int`, `float`, `choice`, `str`, `list` or `map`.
    #[serde(rename = "type")]
    pub kind: String,
    pub choices: Option<Vec<String>>,
    /// The rule a value must meet, in the loader's words.
    pub description: String,
    /// The default, as the reference page writes it.
    pub default: String,
    pub deprecated: bool,
    /// A deprecated key the file does not spell out: not shown.
    pub hidden: bool,
    pub is_group: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<Value>,
    /// Set (to `min`) when the value must be above `min`, not at least it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclusive_min: Option<Value>,
    /// `1` for whole numbers, `"any"` for others.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<Value>,
    /// Whether a null (unset) value is allowed.
    #[serde(default)]
    pub nullable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub map_keys: Option<Vec<MapKey>>,
    /// Whether a saved change takes effect without a restart.
    pub applies_live: bool,
}

/// One key of a fixed-key boolean map (`webhooks.events`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MapKey {
    pub key: String,
    pub default: bool,
}

/// `PUT /api/config` (and `/advanced`): the new file's hash, the keys that took effect at
/// once, and whether any other needs a restart.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConfigSaved {
    pub hash: String,
    pub applied_live: Vec<String>,
    pub restart_required: bool,
}
