//! `auth login`, `auth logout` (fake-claude.md §3.2): the browser-less sign-in as 2.1.328
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
