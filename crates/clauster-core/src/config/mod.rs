//! The configuration: the `clauster.yml` schema, `CLAUSTER_*` overrides, defaults and every
//! validation that needs no IO (config.md).
//!
//! The edge (the CLI) finds and reads the file and collects the variables, resolving their
//! `_FILE` twins; [`load`] receives that text and map, builds the `config` crate's sources
//! from them (`File::from_str` for the text, `Environment` over a re-keyed map for the
//! variables), reads the merged tree into a typed [`Config`] and validates it. No
//! filesystem, no environment reads: the same function serves the CLI, the server and tests.
//! Checks that need the disk (does `projects_root` exist, can `state_dir` be created, do the
//! TLS files parse) belong to the edge.

pub mod editor;
mod env;
mod error;
pub mod host;
mod read;
mod reference;
mod schema;
pub(crate) mod validate;
mod yaml_guard;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::PathBuf;

use config::{Environment, File, FileFormat, Source, ValueKind};

pub use env::{CONFIG_HOME, CONFIG_PATH, SESSION_SECRET, has_file_twin, variable_name};
pub use error::{ConfigError, Notice, NoticeLevel, Problem, Problems};
pub use host::{HostName, HostRule};
pub use reference::{KeyDoc, reference, reference_markdown};
pub use schema::{
    ApiSettings, AuthSettings, ClaudeSettings, CloneSettings, Config, ConfigWriteSettings,
    CookieSecure, DbSettings, InstanceDefaults, IpNet, LOOPBACK_HOSTS, LogFormat, LogLevel,
    LoginShepherdSettings, LogsSettings, McpSettings, MetricsSettings, NotificationsSettings,
    ObservabilitySettings, PriceOverride, ProjectSettings, ReaperSettings, ReverseProxySettings,
    Secret, TlsProvision, TlsSettings, UiSettings, UsageMode, UsageSettings, WebhooksSettings,
};
pub use validate::normalize_origin;
pub use yaml_guard::ALIAS_EXPANSION_LIMIT;

/// What [`load`] reads. Build it with struct-update syntax over `Default`.
#[derive(Debug, Clone, Default)]
pub struct ConfigInput {
    /// The file's text; `None` when no file was found (built-in defaults, config.md §5).
    pub text: Option<String>,
    /// How messages name the file (its path); `clauster.yml` when empty.
    pub source_name: String,
    /// `CLAUSTER_*` name → value, `_FILE` twins already read into the plain name. Other
    /// names are ignored, so the caller may pass more than it needs.
    pub env: BTreeMap<String, String>,
    /// Plain name → the `_FILE` twin whose file gave its value in `env`: messages name the
    /// variable the user actually set.
    pub env_from_file: BTreeMap<String, String>,
    /// Command-line overrides by key path (`host`, `port`, `projects_root`): read like
    /// variables and winning over them; messages name them `--host` etc.
    pub flags: BTreeMap<String, String>,
    /// The home directory for `~` and the `~/projects`, `~/.clauster` defaults.
    pub home: Option<PathBuf>,
    /// Relative paths are joined to this when given.
    pub cwd: Option<PathBuf>,
}

/// A configuration that passed validation, with the lines to log at startup.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    pub notices: Vec<Notice>,
    /// The file's keys that no setting reads (misspelled, or from another product), dotted
    /// and sorted; ignored, and named in a warning notice and doctor's `config` row.
    pub unknown_keys: Vec<String>,
}

/// Loads and validates a configuration (config.md §1–§6, the parts without IO).
pub fn load(input: &ConfigInput) -> Result<Loaded, ConfigError> {
    let (loaded, cross) = load_lenient(input)?;
    if cross.is_empty() {
        Ok(loaded)
    } else {
        Err(ConfigError::Invalid(Problems(cross)))
    }
}

/// [`load`] for `clauster doctor`: when every key reads cleanly, the configuration comes
/// back even if rules over several keys (the network rule of config.md §4, the password and
/// proxy pairs, TLS) fail; those problems are returned beside it, so doctor can report them
/// and still run the other checks. A key that does not read is an error as in [`load`].
pub fn load_lenient(input: &ConfigInput) -> Result<(Loaded, Vec<Problem>), ConfigError> {
    let source_name = if input.source_name.is_empty() {
        "clauster.yml"
    } else {
        input.source_name.as_str()
    };
    let overrides = env::collect(&input.env, &input.env_from_file, &input.flags);
    let mut problems = overrides.problems;
    let mut notices = overrides.notices;

    let source_error = |e: config::ConfigError| ConfigError::Source {
        source_name: source_name.to_owned(),
        reason: e.to_string(),
    };
    let mut builder = config::Config::builder();
    let mut file_root = None;
    if let Some(text) = &input.text
        && yaml_guard::check(text, source_name)? == yaml_guard::Root::Mapping
    {
        let file = File::from_str(text, FileFormat::Yaml);
        // Sections are checked on the file alone: the environment's deep merge would
        // silently turn `auth: 5` into a mapping.
        let file_tree = file.collect().map_err(source_error)?;
        let file_root_value = config::Value::new(None, ValueKind::Table(file_tree));
        let sections = section_problems(&file_root_value);
        if !sections.is_empty() {
            problems.extend(sections);
            return Err(ConfigError::Invalid(Problems(problems)));
        }
        if file_root_has_database_url(&file_root_value) {
            notices.push(Notice::warning(
                "database_url is ignored: the store always lives in state_dir",
            ));
        }
        builder = builder.add_source(file);
        file_root = Some(file_root_value);
    }
    let merged = builder
        .add_source(
            Environment::default()
                .separator(env::SEPARATOR)
                .source(Some(overrides.rekeyed)),
        )
        .build()
        .map_err(source_error)?
        .cache;

    let mut reader = read::Reader::new(
        &merged,
        &overrides.origins,
        input.home.as_deref(),
        input.cwd.as_deref(),
    );
    let config = reader.config();
    let ignored = reader.ignored_sections();
    let unknown = file_root
        .as_ref()
        .map(|root| unknown_keys(root, &reader.seen))
        .unwrap_or_default();
    if !unknown.is_empty() {
        notices.push(Notice::warning(format!(
            "{}; check their spelling against the configuration reference",
            unknown_keys_ignored(&unknown)
        )));
    }
    problems.extend(reader.problems);
    notices.extend(reader.notices);
    if !problems.is_empty() {
        return Err(ConfigError::Invalid(Problems(problems)));
    }
    // Cross-key rules only once every key read cleanly, so a broken key does not also
    // surface as a misleading follow-up (an invalid token hash as "no enforced auth").
    let (cross, cross_notices) = validate::cross_checks(&config);
    notices.extend(cross_notices);
    if !ignored.is_empty() {
        notices.push(Notice::info(format!(
            "these settings are accepted for compatibility but have no effect in this \
             version: {}",
            ignored.join(", ")
        )));
    }
    Ok((
        Loaded {
            config,
            notices,
            unknown_keys: unknown,
        },
        cross,
    ))
}

/// Sections whose keys are names the user chooses (an environment variable, a model, an
/// event): the section's reader judges them, so none is unknown here. The names under
/// `projects` are chosen too, but the keys inside each have a schema
/// ([`read::PROJECT_KEYS`]).
const NAMED_ENTRIES: &[&str] = &["claude.env", "usage.prices", "webhooks.events"];

/// The keys of the file's tree `root` that the reader never asked for (`seen`): the
/// topmost such key of each branch, dotted, sorted. `database_url` is read apart.
fn unknown_keys(root: &config::Value, seen: &std::collections::BTreeSet<String>) -> Vec<String> {
    fn walk(
        node: &config::Value,
        path: &str,
        seen: &std::collections::BTreeSet<String>,
        out: &mut Vec<String>,
    ) {
        let is_section = path.is_empty() || read::SECTIONS.contains(&path);
        if (!is_section && seen.contains(path)) || NAMED_ENTRIES.contains(&path) {
            return;
        }
        if is_section && !matches!(node.kind, ValueKind::Table(_)) {
            return; // null; anything else was refused by the section check
        }
        if path == "projects" {
            if let ValueKind::Table(entries) = &node.kind {
                for (name, entry) in entries {
                    let ValueKind::Table(keys) = &entry.kind else {
                        continue; // null, or refused by the reader
                    };
                    out.extend(
                        keys.keys()
                            .filter(|key| !read::PROJECT_KEYS.contains(&key.as_str()))
                            .map(|key| format!("projects.{name}.{key}")),
                    );
                }
            }
            return;
        }
        let prefix = format!("{path}.");
        let leads_to_a_key = is_section || seen.iter().any(|key| key.starts_with(&prefix));
        match &node.kind {
            ValueKind::Table(children) if leads_to_a_key => {
                for (key, child) in children {
                    let child_path = if path.is_empty() {
                        key.clone()
                    } else {
                        format!("{path}.{key}")
                    };
                    walk(child, &child_path, seen, out);
                }
            }
            _ if path == "database_url" => {}
            _ => out.push(path.to_owned()),
        }
    }
    let mut out = Vec::new();
    walk(root, "", seen, &mut out);
    out.sort();
    out
}

/// `unknown keys ignored: a, b.c` (the first ten, then how many more).
pub fn unknown_keys_ignored(keys: &[String]) -> String {
    const SHOWN: usize = 10;
    let shown = keys.iter().take(SHOWN).cloned().collect::<Vec<_>>();
    let noun = if keys.len() == 1 { "key" } else { "keys" };
    let shown = shown.join(", ");
    match keys.len().saturating_sub(SHOWN) {
        0 => format!("unknown {noun} ignored: {shown}"),
        more => format!("unknown {noun} ignored: {shown} and {more} more"),
    }
}

fn section_problems(root: &config::Value) -> Vec<Problem> {
    read::SECTIONS
        .iter()
        .filter_map(|&path| {
            let value = read::lookup(root, path)?;
            match value.kind {
                ValueKind::Table(_) | ValueKind::Nil => None,
                _ => Some(Problem {
                    key: Some(path.to_owned()),
                    message: format!("{path} must be a mapping, got {}", describe(value)),
                }),
            }
        })
        .collect()
}

fn describe(value: &config::Value) -> &'static str {
    match value.kind {
        ValueKind::Array(_) => "a list",
        ValueKind::Boolean(_) => "a boolean",
        ValueKind::String(_) => "a string",
        ValueKind::Float(_) => "a number",
        ValueKind::Nil => "null",
        ValueKind::Table(_) => "a mapping",
        ValueKind::I64(_) | ValueKind::I128(_) | ValueKind::U64(_) | ValueKind::U128(_) => {
            "an integer"
        }
    }
}

fn file_root_has_database_url(root: &config::Value) -> bool {
    read::lookup(root, "database_url").is_some_and(|v| {
        !matches!(&v.kind, ValueKind::Nil)
            && !matches!(&v.kind, ValueKind::String(s) if s.trim().is_empty())
    })
}
