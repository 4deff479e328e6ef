//! Why a configuration was refused, and the warnings a loaded one carries.
//!
//! Every text here is printed after `clauster: config error: ` (or logged as a warning), so
//! it names the key or variable and the rule, and never the value of a key whose name says
//! it is a hash, secret, password or token.

use std::fmt;

/// A refused configuration. `Display` is the whole message after `clauster: config error: `.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The YAML parser rejected the text.
    #[error("{source_name}: YAML syntax error at line {line}, column {column}: {reason}")]
    Syntax {
        source_name: String,
        line: usize,
        column: usize,
        reason: String,
    },
    /// Aliases would expand into more nodes than the cap (a "billion laughs" document).
    #[error(
        "{source_name}: YAML aliases would expand beyond {limit} nodes; refusing to load it \
         (write the values out instead of repeating anchors)"
    )]
    AliasExpansion { source_name: String, limit: u64 },
    /// Collections nested deeper than any real configuration needs.
    #[error("{source_name}: YAML nesting is deeper than {limit} levels")]
    TooDeep { source_name: String, limit: usize },
    /// More than one YAML document (`---`) in the file.
    #[error("{source_name} holds {count} YAML documents; expected one")]
    MultipleDocuments { source_name: String, count: usize },
    /// The document is a scalar or a list.
    #[error("config root must be a mapping, got {got}")]
    RootNotMapping { got: &'static str },
    /// The `config` crate refused the sources (not expected after the checks above).
    #[error("{source_name}: {reason}")]
    Source { source_name: String, reason: String },
    /// Keys or variables that break a rule; all of them, in schema order.
    #[error("{0}")]
    Invalid(Problems),
}

/// One broken rule, as a sentence that starts with the key path or variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The dotted key path or the variable name concerned, when there is one.
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The problems of one load: one is printed as is, several one per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problems(pub Vec<Problem>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_slice() {
            [one] => write!(f, "{one}"),
            many => {
                write!(f, "{} problems:", many.len())?;
                for problem in many {
                    write!(f, "\n  - {problem}")?;
                }
                Ok(())
            }
        }
    }
}

/// How loud a notice is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeLevel {
    /// Something the operator should fix or know is unsafe.
    Warning,
    /// Worth one startup line, nothing to fix.
    Info,
}

/// A startup line about a configuration that loaded: deprecations, ignored sections,
/// risky but allowed combinations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub level: NoticeLevel,
    pub message: String,
}

impl Notice {
    pub(crate) fn warning(message: impl Into<String>) -> Self {
        Self {
            level: NoticeLevel::Warning,
            message: message.into(),
        }
    }

    pub(crate) fn info(message: impl Into<String>) -> Self {
        Self {
            level: NoticeLevel::Info,
            message: message.into(),
        }
    }
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.level {
            NoticeLevel::Warning => write!(f, "warning: {}", self.message),
            NoticeLevel::Info => f.write_str(&self.message),
        }
    }
}

/// Whether a key or variable name says its value must never be printed.
pub(crate) fn is_sensitive_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    ["hash", "secret", "password", "token"]
        .iter()
        .any(|word| lower.contains(word))
}
