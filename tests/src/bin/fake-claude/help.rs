//! The informational commands: help texts, `auth status --json`, `agents --json`.
//!
//! The help texts are the fake's own words, laid out the way claude 2.1.328 lays out its
//! help (bridges.md §3.1.1 must parse both): top level with descriptions in a column at 40,
//! the `--permission-mode` choices quoted and wrapped; the subcommand with a column at 35 and
//! the choices as a bare list on the line after the option.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use crate::knobs::Knobs;
use crate::util;

/// One option: `  <left><padding><first line>` and the other lines in the description column;
/// a left part too wide for the column puts the description on the next lines, indented 6.
fn option(out: &mut String, column: usize, left: &str, lines: &[&str]) {
    let width = column - 2;
    if left.len() + 2 <= width {
        let _ = writeln!(
            out,
            "  {left:<width$}{}",
            lines.first().copied().unwrap_or("")
        );
        for line in lines.iter().skip(1) {
            let _ = writeln!(out, "{:column$}{line}", "");
        }
    } else if column == 40 {
        let _ = writeln!(out, "  {left}");
        let _ = writeln!(out, "      {}", lines.join(" "));
    } else {
        let _ = writeln!(out, "  {left}");
        for line in lines {
            let _ = writeln!(out, "{:column$}{line}", "");
        }
    }
}

/// [`option`] for each of `entries` (the left part and the description lines), in order.
fn options(out: &mut String, column: usize, entries: &[(&str, &[&str])]) {
    for (left, lines) in entries {
        option(out, column, left, lines);
    }
}

#[allow(clippy::too_many_lines)] // a help text is long by nature
pub fn top_level_help(knobs: &Knobs) -> String {
    let default_token = if knobs.old_help() {
        "default"
    } else {
        "manual"
    };
    let mut s = String::new();
    s.push_str("Usage: claude [options] [command] [prompt]\n\n");
    s.push_str("Fake Claude Code (a test double): opens an interactive session unless told\n");
    s.push_str("otherwise; -p/--print answers once and exits\n\n");
    s.push_str("Arguments:\n");
    option(&mut s, 40, "prompt", &["Your first message"]);
    s.push_str("\nOptions:\n");
    let choices_mid = format!("\"bypassPermissions\", \"{default_token}\",");
    options(
        &mut s,
        40,
        &[
            (
                "--add-dir <directories...>",
                &["Extra directories the session may read"],
            ),
            (
                "--bg, --background",
                &[
                    "Start the session detached and print its",
                    "short id; `claude stop` and `claude rm`",
                    "take that id. Combined with",
                    "--resume <id>, the resumed session runs",
                    "detached as well",
                ],
            ),
            (
                "-c, --continue",
                &["Pick up the latest conversation of this", "directory"],
            ),
            (
                "-d, --debug [filter]",
                &[
                    "Turn on debug output, optionally limited",
                    "to some categories (e.g. --debug=api)",
                ],
            ),
            (
                "--debug-file <path>",
                &[
                    "Append debug output to the given file",
                    "(turns debug mode on)",
                ],
            ),
            (
                "--fork-session",
                &[
                    "With --resume or --continue, start a new",
                    "session id instead of reusing the old one",
                ],
            ),
            ("-h, --help", &["Show this help"]),
            ("--model <model>", &["Model to use for this session"]),
            ("-n, --name <name>", &["Display name of this session"]),
            (
                "--permission-mode <mode>",
                &[
                    "Permission handling for the session",
                    "(choices: \"acceptEdits\", \"auto\",",
                    &choices_mid,
                    "\"dontAsk\", \"plan\")",
                ],
            ),
            ("-p, --print", &["Answer once and exit (for scripts)"]),
            (
                "--remote-control [name]",
                &[
                    "Start an interactive session reachable",
                    "through Remote Control (optional name)",
                ],
            ),
            (
                "--remote-control-session-name-prefix <prefix>",
                &["Prefix of generated Remote Control session names (default: host name)"],
            ),
            (
                "-r, --resume [value]",
                &[
                    "Resume a conversation by id or name, or",
                    "choose one from a list",
                ],
            ),
            (
                "--session-id <uuid>",
                &["Use this UUID as the conversation id"],
            ),
            (
                "--settings <file-or-json>",
                &["Extra settings, as a file or JSON text"],
            ),
            ("--verbose", &["Print more detail"]),
            ("-v, --version", &["Print the version number"]),
            (
                "-w, --worktree [name]",
                &[
                    "Run the session in a new git worktree",
                    "(optionally named)",
                ],
            ),
        ],
    );
    s.push_str("\nCommands:\n");
    options(
        &mut s,
        40,
        &[
            ("agents [options]", &["List background sessions"]),
            ("auth", &["Log in, log out, show the login state"]),
            ("mcp", &["Manage MCP servers"]),
            ("plugin|plugins", &["Manage plugins"]),
            (
                "remote-control [options]",
                &["Serve this directory to claude.ai/code"],
            ),
            ("rm <id>", &["Forget a finished background session"]),
            ("setup-token", &["Create a long-lived token"]),
            ("stop|kill <id>", &["Stop a background session"]),
        ],
    );
    s
}

pub fn remote_control_help(knobs: &Knobs) -> String {
    let mut s = String::new();
    s.push_str(
        "Remote Control (fake) - drive sessions on this machine from a browser or phone\n\n",
    );
    s.push_str("USAGE\n  claude remote-control [options]\n");
    s.push_str("OPTIONS\n");
    options(
        &mut s,
        35,
        &[
            ("--name <name>", &["Session name shown in the web app"]),
            (
                "--remote-control-session-name-prefix <prefix>",
                &[
                    "Prefix of generated session names",
                    "(default: the host name)",
                ],
            ),
        ],
    );
    if !knobs.old_help() {
        options(
            &mut s,
            35,
            &[
                (
                    "-c, --continue",
                    &[
                        "Reattach to the session this directory last",
                        "recorded instead of creating one; fails when",
                        "nothing was recorded in the last 4 hours",
                    ],
                ),
                (
                    "--session-id <id>",
                    &[
                        "Reattach to the given session (not with the",
                        "spawn flags or --continue)",
                    ],
                ),
            ],
        );
    }
    options(
        &mut s,
        35,
        &[
            (
                "--permission-mode <mode>",
                &[
                    "Permission handling of new sessions",
                    "(acceptEdits, auto, bypassPermissions, default, dontAsk, plan)",
                ],
            ),
            ("--debug-file <path>", &["Append debug output to this file"]),
            ("-v, --verbose", &["Print more detail"]),
            ("-h, --help", &["Show this help"]),
            (
                "--spawn <mode>",
                &[
                    "Where sessions run: same-dir, worktree or",
                    "session (default: same-dir)",
                ],
            ),
            (
                "--capacity <N>",
                &[
                    "Concurrent sessions in same-dir or worktree",
                    "mode (default: 32)",
                ],
            ),
            (
                "--[no-]create-session-in-dir",
                &[
                    "Create a first session in this directory at",
                    "start (default: on)",
                ],
            ),
        ],
    );
    s.push_str("\nDESCRIPTION\n");
    s.push_str("  A test double: it registers nothing anywhere and only writes the lines a\n");
    s.push_str("  real bridge would write, so Clauster's tests can watch it.\n");
    s.push_str("\nNOTES\n");
    s.push_str("  - Behaviour is chosen with FAKE_CLAUDE_* variables or .fake-claude.json\n");
    s
}

/// What both bridge forms print (stderr) when logged out, after claude 2.1.328's shape.
pub fn logged_out_error() -> String {
    let mut s = String::new();
    s.push_str("Error: You must be logged in to use Remote Control.\n\n");
    s.push_str("Remote Control is only available with claude.ai subscriptions. ");
    s.push_str("Run `claude auth login` to sign in with your claude.ai account.\n");
    s.push_str("[debug] Remote Control auth state:\n");
    let api_key = if std::env::var_os("ANTHROPIC_API_KEY").is_some() {
        "set"
    } else {
        "unset"
    };
    for line in [
        "isBareMode=false",
        "hasOAuthAccessToken=false",
        "isClaudeAISubscriber=false",
        &format!("ANTHROPIC_API_KEY={api_key}"),
        "ANTHROPIC_AUTH_TOKEN=unset",
        "CLAUDE_CODE_OAUTH_TOKEN=unset",
        "fakeClaude=true",
    ] {
        let _ = writeln!(s, "  {line}");
    }
    s
}

fn json_str(v: &str) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "\"\"".to_string())
}

/// `auth status --json`; returns (stdout, exit code).
pub fn auth_status(knobs: &Knobs) -> (String, i32) {
    let dir = util::config_dir();
    let config = json_str(&dir.to_string_lossy());
    let projects = json_str(&dir.join("projects").to_string_lossy());
    let (mut out, mut code) = if knobs.logged_in() {
        let expires = util::unix_ms(SystemTime::now() + Duration::from_hours(30 * 24));
        (
            format!(
                "{{\n  \"loggedIn\": true,\n  \"authMethod\": \"claude.ai\",\n  \"apiProvider\": \"firstParty\",\n  \"projectsDirectory\": {projects},\n  \"configDirectory\": {config},\n  \"loginExpiresAt\": {expires}\n}}\n"
            ),
            0,
        )
    } else {
        (
            format!(
                "{{\n  \"loggedIn\": false,\n  \"authMethod\": \"none\",\n  \"apiProvider\": \"firstParty\",\n  \"analyticsDisabled\": false,\n  \"projectsDirectory\": {projects},\n  \"configDirectory\": {config},\n  \"loginExpiresAt\": null,\n  \"consoleProfileSignInOffered\": true\n}}\n"
            ),
            1,
        )
    };
    if let Some(text) = knobs.get("AUTH_STDOUT") {
        out = text;
    }
    if let Some(c) = knobs
        .get("AUTH_EXIT_CODE")
        .and_then(|v| v.trim().parse().ok())
    {
        code = c;
    }
    (out, code)
}

/// `agents --json`: the file's content (re-read each call), else the literal knob, else `[]`.
pub fn agents(knobs: &Knobs) -> String {
    let text = match knobs.get("AGENTS_FILE").filter(|p| !p.is_empty()) {
        Some(path) => std::fs::read_to_string(path).unwrap_or_default(),
        None => knobs.get("AGENTS").unwrap_or_default(),
    };
    if text.trim().is_empty() {
        "[]".to_string()
    } else {
        text
    }
}
