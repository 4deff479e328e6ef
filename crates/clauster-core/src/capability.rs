//! What the installed `claude` can do, read from its `--version`, `--help` and
//! `remote-control --help` texts (bridges.md §3.1, §3.1.1), and claude version comparison.
//!
//! The engine runs the probe commands and hands their stdout here; nothing in this module runs
//! a process. The help parser is tolerant: it returns whatever options it recognised and never
//! fails, because an unreadable help text must degrade to the safe defaults, not block spawns.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use crate::names::echo;

/// The most a line may be indented and still be an option line (bridges.md §3.1.1 rule 1):
/// descriptions sit further right and may start with `--` themselves.
const OPTION_LINE_MAX_INDENT: usize = 4;

/// Fewest items a bare `(a, b)` list needs to count as choices: a single parenthesised word is
/// an aside (`(default)`, `(recommended)`), not a list.
const BARE_LIST_MIN_ITEMS: usize = 2;

/// The first claude build whose `remote-control` has `--continue`; used only when the
/// subcommand help was unavailable (bridges.md §3.1).
pub const RC_CONTINUE_SINCE: Version = Version::new(2, 1, 200);

/// One option of a help text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelpOption {
    /// Every spelling on the option line: `-c, --continue` → `-c`, `--continue`;
    /// `--[no-]chrome` → `--chrome`, `--no-chrome`.
    pub names: Vec<String>,
    /// The argument placeholder as printed (`<mode>`, `[value]`, `[=<filter>]`), if any.
    pub placeholder: Option<String>,
    /// The choice list of the option's block, if it has one.
    pub choices: Option<Vec<String>>,
}

impl HelpOption {
    pub fn has_name(&self, name: &str) -> bool {
        self.names.iter().any(|n| n == name)
    }

    pub fn has_choice(&self, choice: &str) -> bool {
        self.choices
            .as_ref()
            .is_some_and(|choices| choices.iter().any(|c| c == choice))
    }
}

/// The options found in one help text, in the order printed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HelpText {
    pub options: Vec<HelpOption>,
}

impl HelpText {
    /// Parses a help text in either of claude's layouts (bridges.md §3.1.1).
    pub fn parse(text: &str) -> Self {
        let mut options = Vec::new();
        // The option whose block is open: its parsed head and the block's lines so far.
        let mut open: Option<(Vec<String>, Option<String>, Vec<&str>)> = None;
        for line in text.lines() {
            let line = line.trim_end();
            let indent = indentation(line);
            let body = line.trim_start();
            let is_option_line = body.starts_with('-') && indent <= OPTION_LINE_MAX_INDENT;
            let ends_block = is_option_line || body.is_empty() || indent == 0;
            if ends_block && let Some((names, placeholder, block)) = open.take() {
                options.push(finish_option(names, placeholder, &block));
            }
            if is_option_line {
                let (names, placeholder) = parse_option_head(body);
                // A dash line without option names (a bulleted note) opens no block.
                if !names.is_empty() {
                    open = Some((names, placeholder, vec![body]));
                }
            } else if !ends_block && let Some((_, _, block)) = open.as_mut() {
                block.push(body);
            }
        }
        if let Some((names, placeholder, block)) = open.take() {
            options.push(finish_option(names, placeholder, &block));
        }
        Self { options }
    }

    /// The option spelt `name` (any of its spellings).
    pub fn option(&self, name: &str) -> Option<&HelpOption> {
        self.options.iter().find(|o| o.has_name(name))
    }

    pub fn has_option(&self, name: &str) -> bool {
        self.option(name).is_some()
    }

    /// The choices of `name`, when the option exists and lists any.
    pub fn choices(&self, name: &str) -> Option<&[String]> {
        self.option(name)?.choices.as_deref()
    }
}

/// Columns of leading whitespace; a tab counts as 8, so a tab-indented line is a description.
fn indentation(line: &str) -> usize {
    line.chars()
        .take_while(|c| c.is_whitespace())
        .map(|c| if c == '\t' { 8 } else { 1 })
        .sum()
}

/// Splits an option line into its names and placeholder. The head ends at the first run of two
/// spaces (where the description column starts) or at the end of the line.
fn parse_option_head(body: &str) -> (Vec<String>, Option<String>) {
    let head = body.split("  ").next().unwrap_or(body);
    let mut names = Vec::new();
    let mut rest: Vec<&str> = Vec::new();
    for token in head.split_whitespace() {
        let token = token.trim_end_matches(',');
        if rest.is_empty()
            && let Some((spellings, tail)) = parse_name_token(token)
        {
            names.extend(spellings);
            if !tail.is_empty() {
                rest.push(tail);
            }
            continue;
        }
        rest.push(token);
    }
    let placeholder = (!rest.is_empty()).then(|| rest.join(" "));
    (names, placeholder)
}

/// Reads one `-x` / `--long` / `--[no-]long` token, returning its spellings and whatever
/// follows the name inside the token (`--debug[=<filter>]` → `[=<filter>]`).
fn parse_name_token(token: &str) -> Option<(Vec<String>, &str)> {
    let is_name_char = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if let Some(after) = token.strip_prefix("--[no-]") {
        let end = after.find(|c| !is_name_char(c)).unwrap_or(after.len());
        let (word, tail) = after.split_at(end);
        if word.is_empty() || !word.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return None;
        }
        return Some((vec![format!("--{word}"), format!("--no-{word}")], tail));
    }
    let dashes = if token.starts_with("--") {
        2
    } else if token.starts_with('-') {
        1
    } else {
        return None;
    };
    let after = &token[dashes..];
    if !after.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return None;
    }
    let end = after.find(|c| !is_name_char(c)).unwrap_or(after.len());
    let name_len = dashes + end;
    Some((vec![token[..name_len].to_owned()], &token[name_len..]))
}

fn finish_option(names: Vec<String>, placeholder: Option<String>, block: &[&str]) -> HelpOption {
    let joined = block.join(" ");
    let choices = quoted_choices(&joined).or_else(|| bare_choices(&joined));
    HelpOption {
        names,
        placeholder,
        choices,
    }
}

/// `(choices: "a", "b", …)`: every double-quoted item up to the closing `)` or up to a
/// `default:` / `preset:` key inside the parentheses.
fn quoted_choices(block: &str) -> Option<Vec<String>> {
    let start = block.find("(choices:")? + "(choices:".len();
    let mut items = Vec::new();
    let mut rest = &block[start..];
    loop {
        let trimmed = rest.trim_start_matches([' ', ',']);
        if let Some(after_quote) = trimmed.strip_prefix('"') {
            let close = after_quote.find('"')?;
            items.push(after_quote[..close].to_owned());
            rest = &after_quote[close + 1..];
        } else {
            // `)`, `default: …`, `preset: …`, or anything else ends the list.
            break;
        }
    }
    (!items.is_empty()).then_some(items)
}

/// The first `(a, b, c)` group without nested parentheses whose items are all bare words
/// matching `[A-Za-z][A-Za-z-]*`.
fn bare_choices(block: &str) -> Option<Vec<String>> {
    let is_word = |item: &str| {
        item.starts_with(|c: char| c.is_ascii_alphabetic())
            && item.chars().all(|c| c.is_ascii_alphabetic() || c == '-')
    };
    let mut rest = block;
    while let Some(open) = rest.find('(') {
        let inner_start = open + 1;
        let len = rest[inner_start..].find([')', '('])?;
        let inner = &rest[inner_start..inner_start + len];
        if rest[inner_start + len..].starts_with(')') {
            let items: Vec<&str> = inner.split(',').map(str::trim).collect();
            if items.len() >= BARE_LIST_MIN_ITEMS && items.iter().all(|item| is_word(item)) {
                return Some(items.into_iter().map(str::to_owned).collect());
            }
        }
        rest = &rest[inner_start + len..];
    }
    None
}

/// A claude version, numeric `major.minor.patch`; missing parts are 0 (`2` = `2.0.0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Version {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
}

/// A version text that is not numeric dotted `major[.minor[.patch]]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot compare: {}", echo(.0))]
pub struct VersionError(pub String);

impl Version {
    pub const fn new(major: u64, minor: u64, patch: u64) -> Self {
        Self {
            major,
            minor,
            patch,
        }
    }

    /// Reads the first whitespace-separated token of `claude --version` output
    /// (`2.1.328 (Claude Code)` → 2.1.328).
    pub fn from_version_output(output: &str) -> Result<Self, VersionError> {
        let token = output.split_whitespace().next().unwrap_or("");
        token.parse()
    }
}

impl FromStr for Version {
    type Err = VersionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || VersionError(s.to_owned());
        let mut parts = [0_u64; 3];
        for (index, part) in s.split('.').enumerate() {
            let slot = parts.get_mut(index).ok_or_else(err)?;
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err());
            }
            *slot = part.parse().map_err(|_| err())?;
        }
        Ok(Self::new(parts[0], parts[1], parts[2]))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// Why `clauster doctor` fails its claude version row (cli.md §4, `claude.min_version`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionCheckError {
    #[error("{found} < required {floor}")]
    TooOld { found: String, floor: String },
    #[error(transparent)]
    CannotCompare(#[from] VersionError),
}

/// Checks the installed version against `claude.min_version` (a doctor-only floor). Both are
/// numeric dotted versions with missing parts read as 0, so a floor of `2` means `2.0.0`.
pub fn check_min_version(found: &str, floor: &str) -> Result<(), VersionCheckError> {
    let found_version: Version = found.parse()?;
    let floor_version: Version = floor.parse()?;
    match found_version.cmp(&floor_version) {
        Ordering::Less => Err(VersionCheckError::TooOld {
            found: echo(found),
            floor: echo(floor),
        }),
        Ordering::Equal | Ordering::Greater => Ok(()),
    }
}

/// How a claude build spells the recorded permission mode `default` on its command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DefaultModeToken {
    #[default]
    Default,
    /// Builds that renamed `default` to `manual` in their choice list.
    Manual,
}

impl DefaultModeToken {
    pub fn as_token(self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::Manual => "manual",
        }
    }
}

/// The stdout of the probe commands, `None` where a command failed, timed out or (for
/// `remote-control --help`) exited non-zero, which it does when the account is not logged in.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProbeOutput<'a> {
    pub version: Option<&'a str>,
    pub help: Option<&'a str>,
    pub remote_control_help: Option<&'a str>,
}

/// What the installed claude supports (bridges.md §3.1). Cached by the engine per binary path
/// and mtime and shown by `/api/doctor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    /// `None` until a probe succeeded, or when `--version` printed something unparseable.
    pub claude_version: Option<Version>,
    /// `remote-control --continue` exists (standard true resume, §9.3).
    pub rc_continue: bool,
    /// The token for recorded `default` in the flag form (`claude --remote-control …`).
    pub flag_default_token: DefaultModeToken,
    /// The token for recorded `default` in the subcommand form (`claude remote-control …`).
    pub rc_default_token: DefaultModeToken,
    /// `remote-control --session-id` exists (informational; never emitted by Clauster).
    pub rc_session_id: bool,
    /// `remote-control --sandbox` exists (informational: 2.1.328 has none, and no sandbox
    /// flag is emitted in this release either way).
    pub rc_sandbox: bool,
    /// `--permission-mode` choices of the flag form, when its help listed any.
    pub flag_permission_choices: Option<Vec<String>>,
    /// `--permission-mode` choices of the subcommand, when its help listed any.
    pub rc_permission_choices: Option<Vec<String>>,
}

impl Default for Capabilities {
    fn default() -> Self {
        Self::fallback()
    }
}

impl Capabilities {
    /// The value used before the first probe finished or when every probe command failed:
    /// no `--continue` (an unknown build may not have it; a fresh start always works) and the
    /// `default` token in both forms (every known build accepts it, listed or not).
    pub fn fallback() -> Self {
        Self {
            claude_version: None,
            rc_continue: false,
            flag_default_token: DefaultModeToken::Default,
            rc_default_token: DefaultModeToken::Default,
            rc_session_id: false,
            rc_sandbox: false,
            flag_permission_choices: None,
            rc_permission_choices: None,
        }
    }

    /// Derives the capabilities from whatever the probe commands printed.
    pub fn from_probe(probe: &ProbeOutput<'_>) -> Self {
        let claude_version = probe
            .version
            .and_then(|out| Version::from_version_output(out).ok());
        let help = probe
            .help
            .map(HelpText::parse)
            .filter(|h| !h.options.is_empty());
        // A subcommand "help" without a single option line is an error text, not help: read it
        // as unavailable so the version rule decides `rc_continue`.
        let rc_help = probe
            .remote_control_help
            .map(HelpText::parse)
            .filter(|h| !h.options.is_empty());

        let flag_permission_choices = help
            .as_ref()
            .and_then(|h| h.choices("--permission-mode"))
            .map(<[String]>::to_vec);
        let rc_permission_choices = rc_help
            .as_ref()
            .and_then(|h| h.choices("--permission-mode"))
            .map(<[String]>::to_vec);

        let lists = |choices: &Option<Vec<String>>, token: &str| {
            choices
                .as_ref()
                .is_some_and(|c| c.iter().any(|item| item == token))
        };
        // `manual` only when the list names it and not `default`: 2.1.328 lists `manual` yet
        // still accepts `default`, but a build listing both keeps the historical token.
        let flag_default_token = if lists(&flag_permission_choices, "manual")
            && !lists(&flag_permission_choices, "default")
        {
            DefaultModeToken::Manual
        } else {
            DefaultModeToken::Default
        };
        let rc_default_token = if !lists(&rc_permission_choices, "default")
            && lists(&rc_permission_choices, "manual")
        {
            DefaultModeToken::Manual
        } else {
            DefaultModeToken::Default
        };

        let rc_continue = match &rc_help {
            Some(h) => h.has_option("--continue"),
            None => claude_version.is_some_and(|v| v >= RC_CONTINUE_SINCE),
        };

        Self {
            claude_version,
            rc_continue,
            flag_default_token,
            rc_default_token,
            rc_session_id: rc_help
                .as_ref()
                .is_some_and(|h| h.has_option("--session-id")),
            rc_sandbox: rc_help.as_ref().is_some_and(|h| h.has_option("--sandbox")),
            flag_permission_choices,
            rc_permission_choices,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOP_HELP: &str = include_str!("../tests/fixtures/capability/top-help-new.txt");
    const TOP_HELP_OLD: &str = include_str!("../tests/fixtures/capability/top-help-old.txt");
    const RC_HELP: &str = include_str!("../tests/fixtures/capability/rc-help-new.txt");
    const RC_HELP_OLD: &str = include_str!("../tests/fixtures/capability/rc-help-old.txt");
    const RC_NOT_LOGGED_IN: &str =
        include_str!("../tests/fixtures/capability/rc-not-logged-in.txt");

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn top_level_help_quoted_wrapped_choices() {
        let help = HelpText::parse(TOP_HELP);
        assert_eq!(
            help.choices("--permission-mode"),
            Some(
                &strings(&[
                    "acceptEdits",
                    "auto",
                    "bypassPermissions",
                    "manual",
                    "dontAsk",
                    "plan"
                ])[..]
            )
        );
        for name in [
            "--continue",
            "-c",
            "--session-id",
            "--fork-session",
            "--resume",
            "-r",
            "--remote-control",
            "--remote-control-session-name-prefix",
            "--worktree",
            "-w",
            "--version",
            "-v",
            "--debug-file",
            "--chrome",
            "--no-chrome",
            "--allowedTools",
            "--allowed-tools",
        ] {
            assert!(help.has_option(name), "{name} missing");
        }
        // `--tmux=classic …` is a description line (indented past 4), not an option.
        assert!(!help.options.iter().any(|o| o.has_name("--tmux=classic")));
        assert_eq!(
            help.option("--tmux").map(|o| o.names.clone()),
            Some(strings(&["--tmux"]))
        );
        // `default:` / `preset:` keys end a quoted list.
        assert_eq!(
            help.choices("--permission-prompts"),
            Some(&strings(&["host", "none"])[..])
        );
        assert_eq!(
            help.choices("--prompt-suggestions"),
            Some(&strings(&["true", "false", "on", "off"])[..])
        );
        // The quoted list wins over quoted words of the description.
        assert_eq!(
            help.choices("--output-format"),
            Some(&strings(&["text", "json", "stream-json"])[..])
        );
        // Bare list at the end of a description; asides in parentheses are not lists.
        assert_eq!(
            help.choices("--effort"),
            Some(&strings(&["low", "medium", "high", "max"])[..])
        );
        assert_eq!(help.choices("--remote-control"), None);
        assert_eq!(help.choices("--autocompact"), None);
        // The `Commands:` section header ends the last option's block.
        assert_eq!(
            help.options.last().map(|o| o.names.clone()),
            Some(strings(&["-w", "--worktree"]))
        );
    }

    #[test]
    fn option_heads() {
        let (top, rc) = (HelpText::parse(TOP_HELP), HelpText::parse(RC_HELP));
        // (help, option, its names, its placeholder)
        let cases: [(&HelpText, &str, &[&str], Option<&str>); 7] = [
            (&top, "--continue", &["-c", "--continue"], None),
            (&top, "--resume", &["-r", "--resume"], Some("[value]")),
            (&top, "--debug", &["-d", "--debug"], Some("[filter]")),
            (
                &top,
                "--allowed-tools",
                &["--allowedTools", "--allowed-tools"],
                Some("<tools...>"),
            ),
            (
                &top,
                "--remote-control-session-name-prefix",
                &["--remote-control-session-name-prefix"],
                Some("<prefix>"),
            ),
            (&rc, "--debug", &["-d", "--debug"], Some("[=<filter>]")),
            (
                &rc,
                "--no-create-session-in-dir",
                &["--create-session-in-dir", "--no-create-session-in-dir"],
                None,
            ),
        ];
        for (help, name, names, placeholder) in cases {
            let o = help.option(name).expect(name);
            assert_eq!(o.names, strings(names), "{name}");
            assert_eq!(o.placeholder.as_deref(), placeholder, "{name}");
        }
    }

    #[test]
    fn subcommand_help_bare_choices_on_next_line() {
        let help = HelpText::parse(RC_HELP);
        assert_eq!(
            help.choices("--permission-mode"),
            Some(
                &strings(&[
                    "acceptEdits",
                    "auto",
                    "bypassPermissions",
                    "default",
                    "dontAsk",
                    "plan"
                ])[..]
            )
        );
        for name in [
            "--continue",
            "--session-id",
            "--name",
            "--spawn",
            "--capacity",
            "--debug-file",
            "--verbose",
            "--chrome",
            "--no-chrome",
            "--create-session-in-dir",
            "--remote-control-session-name-prefix",
        ] {
            assert!(help.has_option(name), "{name} missing");
        }
        assert!(!help.has_option("--sandbox"));
        assert!(!help.has_option("--no-sandbox"));
        // `(default: same-dir)` is not a choice list.
        assert_eq!(help.choices("--spawn"), None);
        // The NOTES bullets (`  - You must …`) are not options.
        assert!(help.options.iter().all(|o| !o.names.is_empty()));
        assert_eq!(
            help.options.last().map(|o| o.names.clone()),
            Some(strings(&[
                "--create-session-in-dir",
                "--no-create-session-in-dir"
            ]))
        );
    }

    /// What a probe with these three answers reports.
    fn probe(
        version: Option<&str>,
        help: Option<&str>,
        remote_control_help: Option<&str>,
    ) -> Capabilities {
        Capabilities::from_probe(&ProbeOutput {
            version,
            help,
            remote_control_help,
        })
    }

    /// `(claude_version, flag_default_token, rc_default_token, rc_continue, rc_session_id,
    /// rc_sandbox)` of a probe.
    fn facts(
        caps: &Capabilities,
    ) -> (
        Option<Version>,
        DefaultModeToken,
        DefaultModeToken,
        bool,
        bool,
        bool,
    ) {
        (
            caps.claude_version,
            caps.flag_default_token,
            caps.rc_default_token,
            caps.rc_continue,
            caps.rc_session_id,
            caps.rc_sandbox,
        )
    }

    #[test]
    fn capabilities_of_a_new_and_an_old_build() {
        use DefaultModeToken::{Default as D, Manual as M};
        let new = probe(
            Some("2.1.328 (Claude Code)\n"),
            Some(TOP_HELP),
            Some(RC_HELP),
        );
        let old = probe(
            Some("2.1.150 (Claude Code)"),
            Some(TOP_HELP_OLD),
            Some(RC_HELP_OLD),
        );
        assert_eq!(
            facts(&new),
            (Some(Version::new(2, 1, 328)), M, D, true, true, false)
        );
        assert_eq!(
            facts(&old),
            (Some(Version::new(2, 1, 150)), D, D, false, false, false)
        );
        assert_eq!(new.flag_default_token.as_token(), "manual");
        assert_eq!(new.rc_default_token.as_token(), "default");
    }

    #[test]
    fn rc_continue_falls_back_to_the_version() {
        let cases: &[(Option<&str>, Option<&str>, bool)] = &[
            (Some("2.1.200 (Claude Code)"), None, true),
            (Some("2.1.199"), None, false),
            (Some("3"), None, true),
            (None, None, false),
            (Some("garbage"), None, false),
            // Not logged in: the subcommand printed an error instead of help.
            (Some("2.1.328 (Claude Code)"), Some(RC_NOT_LOGGED_IN), true),
            (Some("2.1.100"), Some(RC_NOT_LOGGED_IN), false),
            // Real help decides over the version.
            (Some("2.1.328"), Some(RC_HELP_OLD), false),
            (Some("2.1.100"), Some(RC_HELP), true),
        ];
        for (version, rc_help, expected) in cases {
            assert_eq!(
                probe(*version, None, *rc_help).rc_continue,
                *expected,
                "{version:?} {:?}",
                rc_help.map(|h| &h[..20])
            );
        }
    }

    #[test]
    fn default_tokens() {
        use DefaultModeToken::{Default as D, Manual as M};
        let tokens = |help: &str, rc_help: &str| {
            let caps = probe(None, Some(help), Some(rc_help));
            (caps.flag_default_token, caps.rc_default_token)
        };
        let flag = |list: &str| {
            format!(
                "Options:\n  --permission-mode <mode>   Mode\n                             (choices: {list})\n"
            )
        };
        let rc =
            |list: &str| format!("OPTIONS\n  --permission-mode <mode>   Mode\n      ({list})\n");
        let cases: &[(&str, &str, (DefaultModeToken, DefaultModeToken))] = &[
            (r#""manual", "plan""#, "manual, plan", (M, M)),
            (r#""default", "plan""#, "default, plan", (D, D)),
            (r#""manual", "default""#, "manual, default", (D, D)),
            (r#""plan", "auto""#, "plan, auto", (D, D)),
        ];
        for (flag_list, rc_list, expected) in cases {
            assert_eq!(
                tokens(&flag(flag_list), &rc(rc_list)),
                *expected,
                "{flag_list} / {rc_list}"
            );
        }
    }

    #[test]
    fn fallback_capabilities() {
        let fallback = Capabilities::fallback();
        assert_eq!(Capabilities::default(), fallback);
        assert_eq!(Capabilities::from_probe(&ProbeOutput::default()), fallback);
        assert!(!fallback.rc_continue);
        assert_eq!(fallback.flag_default_token, DefaultModeToken::Default);
        assert_eq!(fallback.rc_default_token, DefaultModeToken::Default);
        assert_eq!(fallback.claude_version, None);
    }

    #[test]
    fn version_parsing() {
        let ok: &[(&str, Version)] = &[
            ("2.1.328", Version::new(2, 1, 328)),
            ("2", Version::new(2, 0, 0)),
            ("2.1", Version::new(2, 1, 0)),
            ("0.0.1", Version::new(0, 0, 1)),
            ("10.20.30", Version::new(10, 20, 30)),
        ];
        for (text, expected) in ok {
            assert_eq!(text.parse::<Version>().as_ref(), Ok(expected), "{text}");
        }
        for bad in [
            "",
            "v2.1.0",
            "2.1.x",
            "2..1",
            "2.1.328.4",
            "2.1.328-beta",
            "-1",
            " 2",
        ] {
            assert!(bad.parse::<Version>().is_err(), "{bad:?}");
        }
        assert_eq!(
            Version::from_version_output("2.1.328 (Claude Code)"),
            Ok(Version::new(2, 1, 328))
        );
        assert_eq!(
            Version::from_version_output("  2.1.145\n"),
            Ok(Version::new(2, 1, 145))
        );
        assert!(Version::from_version_output("").is_err());
        assert_eq!(Version::new(2, 1, 0).to_string(), "2.1.0");
    }

    #[test]
    fn version_ordering_is_numeric() {
        let v = |s: &str| s.parse::<Version>().expect(s);
        assert!(v("2.1.328") > v("2.1.200"));
        assert!(v("2.1.10") > v("2.1.9"));
        assert!(v("2.10") > v("2.9.999"));
        assert_eq!(v("2"), v("2.0.0"));
        assert!(v("3") > v("2.99.99"));
    }

    #[test]
    fn min_version_checks() {
        assert_eq!(check_min_version("2.1.328", "2.1.145"), Ok(()));
        assert_eq!(check_min_version("2.1.145", "2.1.145"), Ok(()));
        assert_eq!(check_min_version("2.0.0", "2"), Ok(()));
        assert_eq!(check_min_version("2", "2.0.0"), Ok(()));
        assert_eq!(
            check_min_version("2.1.100", "2.1.145")
                .expect_err("too old")
                .to_string(),
            "2.1.100 < required 2.1.145"
        );
        assert_eq!(
            check_min_version("1.9", "2")
                .expect_err("too old")
                .to_string(),
            "1.9 < required 2"
        );
        assert_eq!(
            check_min_version("nightly", "2.1.145")
                .expect_err("unparseable")
                .to_string(),
            "cannot compare: nightly"
        );
        assert_eq!(
            check_min_version("2.1.328", "latest")
                .expect_err("unparseable floor")
                .to_string(),
            "cannot compare: latest"
        );
    }

    #[test]
    fn parser_is_tolerant() {
        assert_eq!(HelpText::parse("").options, vec![]);
        assert_eq!(
            HelpText::parse("no options here\n  at all\n").options,
            vec![]
        );
        // A quoted list that never closes its quote yields the items before it.
        let help = HelpText::parse("  --x <v>  (choices: \"a\", \"b\n");
        assert_eq!(help.choices("--x"), None);
        let help = HelpText::parse("  --x <v>  (choices: \"a\", \"b\", oops)\n");
        assert_eq!(help.choices("--x"), Some(&strings(&["a", "b"])[..]));
        // Unclosed bare list.
        let help = HelpText::parse("  --y  (a, b\n");
        assert_eq!(help.choices("--y"), None);
        // Nested parentheses are not a bare list; the inner group is.
        let help = HelpText::parse("  --z  Mode (one of (a, b))\n");
        assert_eq!(help.choices("--z"), Some(&strings(&["a", "b"])[..]));
        // A blank line ends a block: the list after it belongs to nobody.
        let help = HelpText::parse("  --w  Mode\n\n        (a, b)\n");
        assert_eq!(help.choices("--w"), None);
        // A line without indentation ends a block too.
        let help = HelpText::parse("  --v  Mode\nHEADER\n        (a, b)\n");
        assert_eq!(help.choices("--v"), None);
        // Prose indented like an option line and starting with `--` is read as one (rule 1),
        // but lookups take the first spelling, so it never shadows the real option.
        let help = HelpText::parse(
            "OPTIONS\n  --spawn <mode>  Spawn mode (same-dir, worktree)\n\nDESCRIPTION\n  --spawn=worktree isolates sessions\n",
        );
        assert_eq!(
            help.option("--spawn").map(|o| o.placeholder.clone()),
            Some(Some("<mode>".to_owned()))
        );
        assert_eq!(
            help.choices("--spawn"),
            Some(&strings(&["same-dir", "worktree"])[..])
        );
        // An option line indented 5 is a description line of the previous option.
        let help = HelpText::parse("    --u  Mode\n     --not-an-option (a, b)\n");
        assert!(!help.has_option("--not-an-option"));
        assert_eq!(help.choices("--u"), Some(&strings(&["a", "b"])[..]));
    }
}
