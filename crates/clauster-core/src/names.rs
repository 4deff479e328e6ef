//! Validated names and identifiers that end up as argv values: project names, bridge labels,
//! the session-name prefix, pty worktree names and conversation ids (security.md §7.1–§7.2,
//! bridges.md §3.4, §3.6, §3.8).
//!
//! Every type here can only hold a valid value, so an argv builder that receives one never has
//! to re-check it. None of them may start with `-`: claude would read such a value as a flag.

use std::fmt::{self, Write as _};
use std::str::FromStr;
use std::sync::LazyLock;

use regex::Regex;

/// Longest project name (security.md §7.1).
pub const PROJECT_NAME_MAX_CHARS: usize = 64;
/// Longest custom bridge label, in Unicode scalar values (bridges.md §3.8).
pub const LABEL_MAX_CHARS: usize = 128;
/// Longest `instance_defaults.session_name_prefix` (config.md §3.3).
pub const SESSION_NAME_PREFIX_MAX_CHARS: usize = 64;
/// How much of a request value an error message repeats (http-api.md §12).
pub const ECHO_MAX_CHARS: usize = 80;

/// Windows device names, refused as project names case-insensitively: a project directory is
/// also a clone target and a transcript slug, and these names break both on some filesystems.
const RESERVED_DEVICE_NAMES: [&str; 22] = [
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
    "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

/// Unicode "Other" (Cc, Cf, Cs, Co, Cn: controls, bidi overrides, zero-width characters,
/// private use, unassigned) plus the line and paragraph separators. The regex crate carries the
/// general-category tables, so no hand-kept list can drift from Unicode.
static INVISIBLE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[\p{C}\u{2028}\u{2029}]").expect("the invisible-character class compiles")
});

/// Why a name or identifier was refused. The messages are the `detail` texts of
/// http-api.md §12 where one exists.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// A project name that is empty (the request field was blank).
    #[error("name is required")]
    ProjectNameRequired,
    /// A project name outside `^[A-Za-z0-9_][A-Za-z0-9_-]{0,63}$`.
    #[error(
        "invalid project name: '{}' (use 1–64 letters, digits, _ and -, not starting with -)",
        echo(.0)
    )]
    InvalidProjectName(String),
    /// A project name that is a Windows device name.
    #[error("'{}' is a reserved device name", echo(.0))]
    ReservedDeviceName(String),
    /// A custom bridge label longer than 128 characters after trimming.
    #[error("name is longer than 128 characters")]
    LabelTooLong,
    /// A custom bridge label with a control, format or otherwise invisible character.
    #[error("name must not contain control or invisible characters")]
    LabelInvisibleCharacter,
    /// A custom bridge label that claude would read as a flag.
    #[error("name must not start with '-'")]
    LabelLeadingDash,
    /// An empty or whitespace-only session-name prefix (null is the way to say "none").
    #[error(
        "instance_defaults.session_name_prefix must not be blank; remove the key or set it to null to use claude's default"
    )]
    PrefixBlank,
    /// A session-name prefix over 64 characters.
    #[error("instance_defaults.session_name_prefix is longer than 64 characters; shorten it")]
    PrefixTooLong,
    /// A session-name prefix with a control or invisible character.
    #[error(
        "instance_defaults.session_name_prefix must not contain control or invisible characters"
    )]
    PrefixInvisibleCharacter,
    /// A session-name prefix that claude would read as a flag.
    #[error(
        "instance_defaults.session_name_prefix must not start with '-' (claude would read it as a flag)"
    )]
    PrefixLeadingDash,
    /// A `resume_session_id` that is not `8-4-4-4-12` hex.
    #[error("resume_session_id must be a UUID")]
    ConversationIdNotUuid,
    /// A worktree name that is not `clauster-` plus 8 lowercase hex characters.
    #[error(
        "worktree name '{}' is not 'clauster-' followed by 8 lowercase hex characters",
        echo(.0)
    )]
    InvalidWorktreeName(String),
    /// An instance id with fewer than 8 hex characters, so no worktree name can be derived.
    #[error(
        "instance id '{}' has fewer than 8 hex characters; cannot derive a worktree name",
        echo(.0)
    )]
    InstanceIdTooShort(String),
}

/// Repeats a request value inside an error message: cut to 80 characters, with control and
/// invisible characters escaped (`\n`, `\u{202e}`), so an error text can neither spoof the
/// dashboard with bidi overrides nor split a log line (http-api.md §12).
pub fn echo(value: &str) -> String {
    let mut out = String::with_capacity(value.len().min(ECHO_MAX_CHARS * 2));
    let mut buf = [0_u8; 4];
    for c in value.chars().take(ECHO_MAX_CHARS) {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            _ if is_invisible(c, &mut buf) => {
                // Writing to a String cannot fail.
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            _ => out.push(c),
        }
    }
    out
}

fn is_invisible(c: char, buf: &mut [u8; 4]) -> bool {
    INVISIBLE.is_match(c.encode_utf8(buf))
}

fn has_invisible(value: &str) -> bool {
    INVISIBLE.is_match(value)
}

/// Whether `value` holds a control, format (bidi overrides, zero-width characters) or
/// otherwise invisible character: refused in anything that reaches claude's argv.
pub fn has_invisible_characters(value: &str) -> bool {
    has_invisible(value)
}

/// A project name: 1–64 ASCII letters, digits, `_` and `-`, not starting with `-` (hence never
/// a flag and never hidden: `.` is not allowed at all), and not a Windows device name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProjectName(String);

impl ProjectName {
    /// Validates `name` exactly as given (no trimming: a directory name is what it is).
    pub fn new(name: &str) -> Result<Self, NameError> {
        if name.is_empty() {
            return Err(NameError::ProjectNameRequired);
        }
        let bytes = name.as_bytes();
        let first_ok = bytes[0].is_ascii_alphanumeric() || bytes[0] == b'_';
        let rest_ok = bytes[1..]
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-');
        if !first_ok || !rest_ok || bytes.len() > PROJECT_NAME_MAX_CHARS {
            return Err(NameError::InvalidProjectName(name.to_owned()));
        }
        if RESERVED_DEVICE_NAMES
            .iter()
            .any(|reserved| reserved.eq_ignore_ascii_case(name))
        {
            return Err(NameError::ReservedDeviceName(name.to_owned()));
        }
        Ok(Self(name.to_owned()))
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// A bridge label: `--name` of a standard bridge, the `--remote-control` value of a pty bridge
/// (bridges.md §3.8). Either the project name or a validated custom name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Label(String);

impl Label {
    /// Resolves the request's `name`: absent or blank gives the project name; otherwise the
    /// trimmed value, refused when longer than 128 characters, when it holds a control or
    /// invisible character, or when it starts with `-`.
    ///
    /// Invisible characters are looked for in the value *before* trimming, so `"alpha\n"` is
    /// refused rather than silently cleaned: the operator typed something that is not a name.
    pub fn resolve(requested: Option<&str>, project: &ProjectName) -> Result<Self, NameError> {
        let Some(raw) = requested else {
            return Ok(Self::from_project(project));
        };
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Ok(Self::from_project(project));
        }
        check_free_text(
            trimmed,
            raw,
            LABEL_MAX_CHARS,
            [
                NameError::LabelTooLong,
                NameError::LabelInvisibleCharacter,
                NameError::LabelLeadingDash,
            ],
        )?;
        Ok(Self(trimmed.to_owned()))
    }

    /// The default label: the project name, which is always a safe argv value.
    pub fn from_project(project: &ProjectName) -> Self {
        Self(project.as_str().to_owned())
    }
}

/// `instance_defaults.session_name_prefix`, the value of
/// `--remote-control-session-name-prefix` (config.md §3.3): 1–64 characters, no control or
/// invisible characters, no leading `-`. Not trimmed: a trailing space may be deliberate.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionNamePrefix(String);

impl SessionNamePrefix {
    pub fn new(prefix: &str) -> Result<Self, NameError> {
        if prefix.trim().is_empty() {
            return Err(NameError::PrefixBlank);
        }
        check_free_text(
            prefix,
            prefix,
            SESSION_NAME_PREFIX_MAX_CHARS,
            [
                NameError::PrefixTooLong,
                NameError::PrefixInvisibleCharacter,
                NameError::PrefixLeadingDash,
            ],
        )?;
        Ok(Self(prefix.to_owned()))
    }
}

/// The rules of a free-text argv value (a label, a session name prefix), in this order: at
/// most `max` characters, no control or invisible character anywhere in `raw` (the value as
/// given), and `text` (the value used) not starting with `-`, so never a flag. `refusals` are
/// the caller's errors for each rule, in the same order.
fn check_free_text(
    text: &str,
    raw: &str,
    max: usize,
    refusals: [NameError; 3],
) -> Result<(), NameError> {
    let [too_long, invisible, leading_dash] = refusals;
    if text.chars().count() > max {
        return Err(too_long);
    }
    if has_invisible(raw) {
        return Err(invisible);
    }
    if text.starts_with('-') {
        return Err(leading_dash);
    }
    Ok(())
}

/// A local conversation uuid (the `<uuid>.jsonl` transcript name): `8-4-4-4-12` hex,
/// normalised to lowercase (bridges.md §3.6, §9.2). Used by `--resume <uuid>`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConversationId(String);

impl ConversationId {
    pub fn new(value: &str) -> Result<Self, NameError> {
        let bytes = value.as_bytes();
        let shaped = bytes.len() == 36
            && bytes.iter().enumerate().all(|(i, b)| match i {
                8 | 13 | 18 | 23 => *b == b'-',
                _ => b.is_ascii_hexdigit(),
            });
        if shaped {
            Ok(Self(value.to_ascii_lowercase()))
        } else {
            Err(NameError::ConversationIdNotUuid)
        }
    }
}

/// A pty worktree name, `clauster-` + 8 lowercase hex characters (bridges.md §3.4); claude
/// places the worktree at `<project>/.claude/worktrees/<name>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WorktreeName(String);

impl WorktreeName {
    const PREFIX: &'static str = "clauster-";

    /// Accepts exactly `^clauster-[0-9a-f]{8}$`; a recorded name that fails is discarded by
    /// the caller (see [`WorktreeName::resolve`]).
    pub fn parse(value: &str) -> Result<Self, NameError> {
        let ok = value.strip_prefix(Self::PREFIX).is_some_and(|hex| {
            hex.len() == 8 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        });
        if ok {
            Ok(Self(value.to_owned()))
        } else {
            Err(NameError::InvalidWorktreeName(value.to_owned()))
        }
    }

    /// `clauster-` + the first 8 hex characters of `instance_id` (lowercased; the dashes of a
    /// UUID are skipped, though a v4 UUID has 8 hex characters before its first dash anyway).
    pub fn for_instance(instance_id: &str) -> Result<Self, NameError> {
        let hex: String = instance_id
            .chars()
            .filter(char::is_ascii_hexdigit)
            .take(8)
            .map(|c| c.to_ascii_lowercase())
            .collect();
        if hex.len() < 8 {
            return Err(NameError::InstanceIdTooShort(instance_id.to_owned()));
        }
        Ok(Self(format!("{}{hex}", Self::PREFIX)))
    }

    /// The instance's recorded name when it is valid, else the one derived from its id. A
    /// resume keeps the instance id, so it lands on the same worktree either way.
    pub fn resolve(recorded: Option<&str>, instance_id: &str) -> Result<Self, NameError> {
        match recorded.map(Self::parse) {
            Some(Ok(name)) => Ok(name),
            _ => Self::for_instance(instance_id),
        }
    }
}

/// The text of a validated name: `as_str`, `AsRef<str>` and `Display` (the text as is).
macro_rules! name_text {
    ($($name:ident),+ $(,)?) => {$(
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    )+};
}

name_text!(
    ProjectName,
    Label,
    SessionNamePrefix,
    ConversationId,
    WorktreeName
);

/// `FromStr` of the names built by validating the text as given (`new`).
macro_rules! parse_with_new {
    ($($name:ident),+ $(,)?) => {$(
        impl FromStr for $name {
            type Err = NameError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::new(s)
            }
        }
    )+};
}

parse_with_new!(ProjectName, SessionNamePrefix, ConversationId);

#[cfg(test)]
mod tests {
    use super::*;

    fn project(name: &str) -> ProjectName {
        ProjectName::new(name).expect("valid project name")
    }

    #[test]
    fn project_names_accepted() {
        for name in [
            "alpha", "a", "_x", "my-app", "my_app", "A1-b_2", "COM0", "CONSOLE", "LPT10",
        ] {
            assert_eq!(project(name).as_str(), name, "{name}");
        }
        let longest = "a".repeat(64);
        assert_eq!(project(&longest).as_str(), longest);
    }

    #[test]
    fn project_names_refused() {
        let cases: &[(&str, &str)] = &[
            (
                "../etc",
                "invalid project name: '../etc' (use 1–64 letters, digits, _ and -, not starting with -)",
            ),
            (
                "a/b",
                "invalid project name: 'a/b' (use 1–64 letters, digits, _ and -, not starting with -)",
            ),
            (
                "a\\b",
                "invalid project name: 'a\\b' (use 1–64 letters, digits, _ and -, not starting with -)",
            ),
            (
                "-rf",
                "invalid project name: '-rf' (use 1–64 letters, digits, _ and -, not starting with -)",
            ),
            (
                ".hidden",
                "invalid project name: '.hidden' (use 1–64 letters, digits, _ and -, not starting with -)",
            ),
            (
                "é",
                "invalid project name: 'é' (use 1–64 letters, digits, _ and -, not starting with -)",
            ),
            (
                "a b",
                "invalid project name: 'a b' (use 1–64 letters, digits, _ and -, not starting with -)",
            ),
            (
                "x\ny",
                "invalid project name: 'x\\ny' (use 1–64 letters, digits, _ and -, not starting with -)",
            ),
            ("", "name is required"),
            ("CON", "'CON' is a reserved device name"),
            ("nul", "'nul' is a reserved device name"),
            ("Lpt1", "'Lpt1' is a reserved device name"),
            ("com9", "'com9' is a reserved device name"),
            ("aux", "'aux' is a reserved device name"),
            ("PRN", "'PRN' is a reserved device name"),
        ];
        for (input, message) in cases {
            let err = ProjectName::new(input).expect_err(input);
            assert_eq!(err.to_string(), *message, "{input:?}");
        }
        let too_long = "a".repeat(65);
        assert!(matches!(
            ProjectName::new(&too_long),
            Err(NameError::InvalidProjectName(_))
        ));
    }

    #[test]
    fn echo_cuts_and_escapes() {
        for (text, shown) in [
            ("plain", "plain"),
            ("a\nb\r\tc", "a\\nb\\r\\tc"),
            ("evil\u{202e}txt", "evil\\u{202e}txt"),
            ("zero\u{200b}width", "zero\\u{200b}width"),
            ("nul\0", "nul\\u{0}"),
            ("line\u{2028}sep", "line\\u{2028}sep"),
        ] {
            assert_eq!(echo(text), shown, "{text:?}");
        }
        assert_eq!(echo(&"x".repeat(200)), "x".repeat(80));
        // The cut counts characters, not bytes.
        assert_eq!(echo(&"é".repeat(100)).chars().count(), 80);
    }

    #[test]
    fn label_defaults_to_project() {
        let alpha = project("alpha");
        for requested in [None, Some(""), Some("   "), Some("\t")] {
            assert_eq!(
                Label::resolve(requested, &alpha)
                    .expect("default label")
                    .as_str(),
                "alpha"
            );
        }
    }

    #[test]
    fn label_custom_values() {
        let alpha = project("alpha");
        let ok: &[(&str, &str)] = &[
            ("  my bridge  ", "my bridge"),
            ("Ünïcödé ✓", "Ünïcödé ✓"),
            ("a-b", "a-b"),
            ("x--help", "x--help"),
        ];
        for (input, expected) in ok {
            assert_eq!(
                Label::resolve(Some(input), &alpha).expect(input).as_str(),
                *expected
            );
        }
        let exactly_128 = "é".repeat(128);
        assert_eq!(
            Label::resolve(Some(&exactly_128), &alpha)
                .expect("128 chars")
                .as_str(),
            exactly_128
        );
    }

    #[test]
    fn label_refusals() {
        let alpha = project("alpha");
        let long = "a".repeat(129);
        let cases: &[(&str, &str)] = &[
            (&long, "name is longer than 128 characters"),
            (
                "evil\u{202e}gnp.exe",
                "name must not contain control or invisible characters",
            ),
            (
                "two\nlines",
                "name must not contain control or invisible characters",
            ),
            (
                "trailing newline\n",
                "name must not contain control or invisible characters",
            ),
            (
                "zero\u{200b}width",
                "name must not contain control or invisible characters",
            ),
            (
                "bell\u{7}",
                "name must not contain control or invisible characters",
            ),
            (
                "private\u{e000}",
                "name must not contain control or invisible characters",
            ),
            (
                "unassigned\u{0378}",
                "name must not contain control or invisible characters",
            ),
            (
                "para\u{2029}graph",
                "name must not contain control or invisible characters",
            ),
            ("--help", "name must not start with '-'"),
            ("  -x", "name must not start with '-'"),
        ];
        for (input, message) in cases {
            let err = Label::resolve(Some(input), &alpha).expect_err(input);
            assert_eq!(err.to_string(), *message, "{input:?}");
        }
    }

    #[test]
    fn session_name_prefix_rules() {
        assert_eq!(SessionNamePrefix::new("box").expect("box").as_str(), "box");
        assert_eq!(
            SessionNamePrefix::new(&"p".repeat(64))
                .expect("64")
                .as_str()
                .len(),
            64
        );
        let cases: &[(&str, NameError)] = &[
            ("", NameError::PrefixBlank),
            ("  ", NameError::PrefixBlank),
            ("-box", NameError::PrefixLeadingDash),
            ("--help", NameError::PrefixLeadingDash),
            ("a\u{1b}[31m", NameError::PrefixInvisibleCharacter),
            ("b\u{202e}", NameError::PrefixInvisibleCharacter),
        ];
        for (input, expected) in cases {
            assert_eq!(
                SessionNamePrefix::new(input).as_ref(),
                Err(expected),
                "{input:?}"
            );
        }
        assert_eq!(
            SessionNamePrefix::new(&"p".repeat(65)),
            Err(NameError::PrefixTooLong)
        );
    }

    #[test]
    fn conversation_ids() {
        let id = ConversationId::new("5D1E2F3A-4B5C-4D6E-8F70-8192A3B4C5D6").expect("uuid");
        assert_eq!(id.as_str(), "5d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6");
        for bad in [
            "",
            "x",
            "../../etc/passwd",
            "5d1e2f3a4b5c4d6e8f708192a3b4c5d6",
            "5d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d",
            "5d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6x",
            "5d1e2f3a_4b5c-4d6e-8f70-8192a3b4c5d6",
            "gd1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6",
        ] {
            let err = ConversationId::new(bad).expect_err(bad);
            assert_eq!(err.to_string(), "resume_session_id must be a UUID");
        }
    }

    #[test]
    fn worktree_names() {
        assert_eq!(
            WorktreeName::parse("clauster-1a2b3c4d")
                .expect("valid")
                .as_str(),
            "clauster-1a2b3c4d"
        );
        for bad in [
            "clauster-1A2B3C4D",
            "clauster-1a2b3c4",
            "clauster-1a2b3c4d5",
            "x-1a2b3c4d",
            "-rf",
        ] {
            assert!(WorktreeName::parse(bad).is_err(), "{bad}");
        }
        let instance = "1A2B3C4D-9e8f-4a6b-8c7d-0e1f2a3b4c5d";
        assert_eq!(
            WorktreeName::for_instance(instance)
                .expect("derived")
                .as_str(),
            "clauster-1a2b3c4d"
        );
        assert_eq!(
            WorktreeName::resolve(Some("clauster-00ff00ff"), instance)
                .expect("recorded")
                .as_str(),
            "clauster-00ff00ff"
        );
        // A recorded name that fails the shape is discarded in favour of the derived one.
        assert_eq!(
            WorktreeName::resolve(Some("../../escape"), instance)
                .expect("derived")
                .as_str(),
            "clauster-1a2b3c4d"
        );
        assert_eq!(
            WorktreeName::for_instance("abc")
                .expect_err("short")
                .to_string(),
            "instance id 'abc' has fewer than 8 hex characters; cannot derive a worktree name"
        );
    }
}
