//! `auth login`, `auth logout`, `setup-token` (fake-claude.md §3.2, §3.3): the browser-less
//! sign-in as 2.1.328
//! prints it — the authorize URL as an OSC 8 hyperlink target and as visible text far wider
//! than any terminal, a prompt, one line of code read back — and its outcomes, chosen by
//! `FAKE_CLAUDE_LOGIN`. A sign-in or sign-out is remembered in `<config dir>/.fake-login`,
//! which `auth status` and both bridge forms then believe over `FAKE_CLAUDE_LOGGED_IN`.

use std::io::{BufRead as _, Write as _};

use crate::knobs::Knobs;
use crate::util;

fn remember(logged_in: bool) {
    let path = util::login_state_file();
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let _ = util::write_atomic(&path, if logged_in { b"in" } else { b"out" });
}

/// 43 URL-safe characters, like a PKCE challenge or an OAuth state.
fn token() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    util::random_bytes::<43>()
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect()
}

fn authorize_url(console: bool, email: Option<&str>) -> String {
    let host = if console {
        "https://platform.claude.com/oauth/authorize"
    } else {
        "https://claude.com/cai/oauth/authorize"
    };
    let mut url = format!(
        "{host}?code=true&client_id=00000000-fake-4c1a-8e11-000000000000&response_type=code\
         &redirect_uri=https%3A%2F%2Fplatform.claude.com%2Foauth%2Fcode%2Fcallback\
         &scope=user%3Aprofile+user%3Ainference+user%3Asessions%3Aclaude_code\
         &code_challenge={}&code_challenge_method=S256&state={}",
        token(),
        token()
    );
    if let Some(email) = email {
        url.push_str("&login_hint=");
        url.push_str(&email.replace('@', "%40"));
    }
    url
}

/// `auth login [--claudeai|--console] [--email <e>]`.
pub fn login(knobs: &Knobs, args: &[String]) -> i32 {
    let console = args.iter().any(|a| a == "--console");
    let email = args
        .iter()
        .position(|a| a == "--email")
        .and_then(|i| args.get(i + 1))
        .map(String::as_str);
    let url = authorize_url(console, email);
    let mut out = std::io::stdout();
    let _ = write!(
        out,
        "Opening browser to sign in…\r\nIf the browser didn't open, visit: \x1b]8;;{url}\x07\x1b[94m{url}\x1b[39m\x1b]8;;\x07\r\nPaste code here if prompted > "
    );
    let _ = out.flush();
    let mode = knobs.string("LOGIN", "ok");
    let mut code = String::new();
    if std::io::stdin().lock().read_line(&mut code).unwrap_or(0) == 0 {
        let _ = write!(out, "\r\nCouldn't log in: no code was entered\r\n");
        return 1;
    }
    let code = code.trim();
    let _ = write!(out, "\r\nSigning in…\r\n");
    let _ = out.flush();
    let expected = knobs.get("LOGIN_CODE").filter(|c| !c.is_empty());
    match mode.as_str() {
        "hang" => {
            std::thread::sleep(knobs.max_lifetime());
            0
        }
        "network" => {
            let _ = write!(
                out,
                "Couldn't log in: getaddrinfo ENOTFOUND platform.claude.com\r\n"
            );
            1
        }
        "wrong_code" => wrong_code(&mut out),
        _ if code.is_empty() || expected.is_some_and(|e| e != code) => wrong_code(&mut out),
        _ => {
            remember(true);
            let _ = write!(out, "Login successful.\r\n");
            0
        }
    }
}

fn wrong_code(out: &mut std::io::Stdout) -> i32 {
    let _ = write!(
        out,
        "Couldn't log in: Request failed with status code 400 (invalid_grant: the code is invalid or expired)\r\n"
    );
    1
}

/// `auth logout`.
pub fn logout() -> i32 {
    remember(false);
    println!("Successfully logged out from your Anthropic account.");
    0
}

/// Writes `words` from column `col` with each word placed by a cursor-column escape, as the
/// real full-screen TUI does (stripping escapes from the bytes runs the words together).
fn placed(out: &mut impl std::io::Write, col: usize, words: &str) {
    let mut at = col;
    for word in words.split(' ') {
        let _ = write!(out, "\x1b[{at}G{word}");
        at += word.chars().count() + 1;
    }
    let _ = write!(out, "\r\n");
}

/// `setup-token` (fake-claude.md §3.3): the full-screen form of the sign-in. The link is cut
/// into rows of the visible text, each inside its own OSC 8 hyperlink to the whole URL; after
/// the code, `FAKE_CLAUDE_LOGIN` decides: the token (`FAKE_CLAUDE_SETUP_TOKEN`, else a fresh
/// `sk-ant-oat01-…`), or an `OAuth error` and "Press Enter to retry" — and, like the real
/// one, it does not exit by itself then.
pub fn setup_token(knobs: &Knobs) -> i32 {
    let url = authorize_url(false, None);
    let mut out = std::io::stdout();
    let _ = write!(out, "\x1b[?25l\x1b[?2004h");
    placed(&mut out, 1, "Welcome to Claude Code");
    let _ = write!(out, "\r\n");
    placed(
        &mut out,
        2,
        "This will guide you through long-lived (1-year) auth token setup for your Claude account.",
    );
    placed(
        &mut out,
        2,
        "Browser didn't open? Use the URL below to sign in",
    );
    let chars: Vec<char> = url.chars().collect();
    for row in chars.chunks(110) {
        let row: String = row.iter().collect();
        let _ = write!(
            out,
            "\x1b]8;id=fk1;{url}\x07\x1b[2m{row}\x1b[22m\x1b]8;;\x07\r\n"
        );
    }
    let _ = write!(out, "\r\n");
    placed(&mut out, 2, "Paste code here if prompted");
    let _ = write!(out, " > ");
    let _ = out.flush();
    let mut code = String::new();
    if std::io::stdin().lock().read_line(&mut code).unwrap_or(0) == 0 {
        return 1;
    }
    let code = code.trim();
    let _ = write!(out, "\r\n * Finishing sign-in…\r\n");
    let _ = out.flush();
    let expected = knobs.get("LOGIN_CODE").filter(|c| !c.is_empty());
    let error = match knobs.string("LOGIN", "ok").as_str() {
        "hang" => {
            std::thread::sleep(knobs.max_lifetime());
            return 0;
        }
        "network" => Some(
            "OAuth error: Couldn't get an answer from the sign-in service (ENOTFOUND). Check \
             your internet connection, then try",
        ),
        "wrong_code" => Some("OAuth error: Request failed with status code 400"),
        _ if code.is_empty() || expected.is_some_and(|e| e != code) => {
            Some("OAuth error: Request failed with status code 400")
        }
        _ => None,
    };
    if let Some(error) = error {
        let _ = write!(out, "\x1b[2G\u{2718}\x1b[4G{error}\r\n");
        if error.ends_with("then try") {
            let _ = write!(out, "\x1b[4Gagain.\r\n");
        }
        let _ = write!(out, "\r\n");
        placed(&mut out, 2, "Press Enter to retry");
    } else {
        let token = knobs
            .get("SETUP_TOKEN")
            .unwrap_or_else(|| format!("sk-ant-oat01-{}{}", token(), token()));
        let _ = write!(
            out,
            "\x1b[2G\u{2713} Long-lived authentication token created successfully!\r\n\r\n\
             \x1b[2GYour OAuth token (valid for 1 year):\r\n\r\n{token}\r\n\r\n\
             \x1b[2GStore this token securely. You won't be able to see it again.\r\n\r\n\
             \x1b[2GUse this token by setting: export CLAUDE_CODE_OAUTH_TOKEN=<token>\r\n"
        );
        placed(&mut out, 2, "Press Enter to continue");
    }
    let _ = out.flush();
    // Waits for a key like the TUI; Enter after a success ends it.
    let mut key = String::new();
    let _ = std::io::stdin().lock().read_line(&mut key);
    i32::from(error.is_some())
}
