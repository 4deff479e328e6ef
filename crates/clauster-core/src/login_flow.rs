//! The pure half of signing `claude` in from the dashboard (issue 20, http-api.md §3.2): the
//! authorize URL from the OSC 8 hyperlink targets of the raw output or, failing that, from
//! the rendered screen's logical lines (soft-wrapped rows joined — never from wrapped text
//! read row by row); the outcome from the exit status and claude's own last error line; and
//! the redaction that keeps the pasted code and the URL's `state` out of every log.

/// At most this many bytes of one hyperlink target are kept.
const MAX_LINK: usize = 8 * 1024;

/// Every OSC 8 hyperlink target in `raw` (`ESC ] 8 ; params ; URI` ended by BEL or `ESC \`),
/// in order; empty targets (the closing half of a link) are skipped, as are unterminated or
/// oversized ones.
pub fn osc8_targets(raw: &[u8]) -> Vec<String> {
    const OPEN: &[u8] = b"\x1b]8;";
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(start) = find(&raw[at..], OPEN).map(|i| at + i + OPEN.len()) {
        // params ; URI
        let Some(semi) = raw[start..].iter().position(|b| *b == b';') else {
            break;
        };
        let uri_start = start + semi + 1;
        let end = raw[uri_start..]
            .iter()
            .enumerate()
            .find(|(i, b)| {
                **b == 0x07 || (**b == 0x1b && raw.get(uri_start + i + 1) == Some(&b'\\'))
            })
            .map(|(i, _)| uri_start + i);
        let Some(end) = end else {
            break;
        };
        let uri = &raw[uri_start..end];
        if !uri.is_empty()
            && uri.len() <= MAX_LINK
            && let Ok(text) = std::str::from_utf8(uri)
        {
            found.push(text.to_owned());
        }
        at = end + 1;
    }
    found
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Whether `url` is an OAuth authorize URL of the sign-in (`https://…/oauth/authorize?…`).
pub fn is_authorize_url(url: &str) -> bool {
    url.starts_with("https://")
        && url.contains("/oauth/authorize?")
        && !url.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// The authorize URL: the first OSC 8 target that is one, else the first one written out in
/// the rendered logical lines.
pub fn authorize_url(links: &[String], lines: &[String]) -> Option<String> {
    if let Some(link) = links.iter().find(|l| is_authorize_url(l)) {
        return Some(link.clone());
    }
    lines.iter().find_map(|line| {
        let start = line.find("https://")?;
        let url: String = line[start..]
            .chars()
            .take_while(|c| !c.is_whitespace())
            .collect();
        is_authorize_url(&url).then_some(url)
    })
}

/// How a sign-in ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    SignedIn,
    WrongCode,
    NetworkError,
    Failed,
    Timeout,
    Cancelled,
    /// `setup-token` printed its long-lived token.
    TokenCreated,
}

impl Outcome {
    pub fn as_token(self) -> &'static str {
        match self {
            Self::SignedIn => "signed_in",
            Self::WrongCode => "wrong_code",
            Self::NetworkError => "network_error",
            Self::Failed => "failed",
            Self::Timeout => "timeout",
            Self::Cancelled => "cancelled",
            Self::TokenCreated => "token_created",
        }
    }
}

/// Whether `text` (a screen line with its leading glyphs and blanks removed) opens a failure
/// message of the sign-in.
fn opens_error(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    lower.starts_with("couldn't log in")
        || lower.starts_with("could not log in")
        || lower.starts_with("oauth error")
        || lower.starts_with("error")
        || lower.starts_with("login failed")
}

/// claude's own last error line on the screen: the last line that says the sign-in failed
/// (`Couldn't log in…`, `OAuth error…`, `Error…`, `Login failed…`), after any status glyph
/// the full-screen `setup-token` draws before it (`✘ OAuth error…`). The lines below it that
/// start in its text's column are its continuation (the TUI breaks long messages itself)
/// and are joined to it.
pub fn error_line(lines: &[String]) -> Option<String> {
    let (at, column, text) = lines.iter().enumerate().rev().find_map(|(i, line)| {
        let start = line.find(|c: char| c.is_alphanumeric())?;
        let text = line[start..].trim_end();
        opens_error(text).then(|| (i, line[..start].chars().count(), text.to_owned()))
    })?;
    let mut joined = text;
    for next in &lines[at + 1..] {
        let indent = next.chars().take_while(|c| *c == ' ').count();
        let rest = next.trim();
        if column == 0 || indent != column || rest.is_empty() {
            break;
        }
        joined.push(' ');
        joined.push_str(rest);
    }
    Some(joined)
}

/// The long-lived token `claude setup-token` printed (`sk-ant-oat…`, or the value after
/// `CLAUDE_CODE_OAUTH_TOKEN=` when it is not a placeholder), read from the rendered logical
/// lines so a wrapped token is whole.
pub fn minted_token(lines: &[String]) -> Option<String> {
    let is_token_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_');
    let take = |from: &str| -> Option<String> {
        let token: String = from.chars().take_while(|c| is_token_char(*c)).collect();
        (token.len() >= 20).then_some(token)
    };
    lines.iter().find_map(|line| {
        if let Some(i) = line.find("sk-ant-oat") {
            return take(&line[i..]);
        }
        let i = line.find("CLAUDE_CODE_OAUTH_TOKEN=")?;
        take(&line[i + "CLAUDE_CODE_OAUTH_TOKEN=".len()..])
    })
}

/// The outcome of a process that exited with `code` (`None`: killed by a signal) after
/// drawing `lines`, and the detail to show (claude's words).
pub fn outcome(code: Option<u32>, lines: &[String]) -> (Outcome, Option<String>) {
    if code == Some(0) {
        return (Outcome::SignedIn, None);
    }
    let detail = error_line(lines).or_else(|| {
        lines
            .iter()
            .rev()
            .map(|l| l.trim())
            .find(|l| !l.is_empty())
            .map(str::to_owned)
    });
    let lower = detail.as_deref().unwrap_or_default().to_ascii_lowercase();
    let kind = if [
        "enotfound",
        "econnrefused",
        "etimedout",
        "eai_again",
        "getaddrinfo",
        "couldn't get an answer",
        "network",
    ]
    .iter()
    .any(|w| lower.contains(w))
    {
        Outcome::NetworkError
    } else if [
        "invalid_grant",
        "status code 400",
        "invalid code",
        "code is invalid",
    ]
    .iter()
    .any(|w| lower.contains(w))
    {
        Outcome::WrongCode
    } else {
        Outcome::Failed
    };
    (kind, detail)
}

/// `text` with the values of `state` and `code_challenge` and every occurrence of `secrets`
/// (the pasted code) replaced by `[redacted]`: what may reach a log.
pub fn redact(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_owned();
    for secret in secrets.iter().filter(|s| s.len() >= 4) {
        out = out.replace(secret, "[redacted]");
    }
    for key in ["state=", "code_challenge=", "code="] {
        let mut result = String::with_capacity(out.len());
        let mut rest = out.as_str();
        while let Some(i) = rest.find(key) {
            let boundary = i == 0 || matches!(rest.as_bytes()[i - 1], b'?' | b'&');
            result.push_str(&rest[..i + key.len()]);
            rest = &rest[i + key.len()..];
            if boundary {
                let end = rest
                    .find(|c: char| c == '&' || c.is_whitespace())
                    .unwrap_or(rest.len());
                if rest[..end] != *"true" && end > 0 {
                    result.push_str("[redacted]");
                    rest = &rest[end..];
                }
            }
        }
        result.push_str(rest);
        out = result;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Laid out like 2.1.328's offline sign-in (shared/reference), with made-up values.
    const SIGN_IN: &[u8] = b"Opening browser to sign in\xe2\x80\xa6\r\nIf the browser didn't open, visit: \x1b]8;;https://claude.com/cai/oauth/authorize?code=true&client_id=c1&response_type=code&code_challenge=CHALLENGE123&code_challenge_method=S256&state=STATE456\x07\x1b[94mhttps://claude.com/cai/oauth/authorize?code=true&client_id=c1&response_type=code&code_challenge=CHALLENGE123&code_challenge_method=S256&state=STATE456\x1b[39m\x1b]8;;\x07\r\nPaste code here if prompted > ";

    #[test]
    fn the_url_comes_from_the_hyperlink_target() {
        let links = osc8_targets(SIGN_IN);
        assert_eq!(links.len(), 1, "the closing half is skipped: {links:?}");
        let url = authorize_url(&links, &[]).expect("a URL");
        assert!(url.starts_with("https://claude.com/cai/oauth/authorize?code=true"));
        assert!(url.ends_with("&state=STATE456"));
        // ST-terminated too; unterminated is nothing.
        assert_eq!(
            osc8_targets(b"\x1b]8;id=1;https://x.example/oauth/authorize?a=1\x1b\\text"),
            vec!["https://x.example/oauth/authorize?a=1".to_owned()]
        );
        assert!(osc8_targets(b"\x1b]8;;https://x.example/oauth/authorize?a=1").is_empty());
    }

    #[test]
    fn without_a_hyperlink_the_logical_line_is_read_never_a_wrapped_row() {
        // A logical line as the emulator joins soft-wrapped rows.
        let lines = vec![
            "Opening browser to sign in…".to_owned(),
            "If the browser didn't open, visit: https://claude.com/cai/oauth/authorize?code=true&state=S1".to_owned(),
        ];
        assert_eq!(
            authorize_url(&[], &lines).as_deref(),
            Some("https://claude.com/cai/oauth/authorize?code=true&state=S1")
        );
        // Other links are not the authorize URL.
        assert_eq!(
            authorize_url(&["https://claude.ai/docs".to_owned()], &[]),
            None
        );
    }

    #[test]
    fn outcomes_use_claudes_own_words() {
        let lines = |text: &str| text.lines().map(str::to_owned).collect::<Vec<_>>();
        insta::assert_debug_snapshot!([
            outcome(Some(0), &lines("Signing in…\nLogin successful.")),
            outcome(
                Some(1),
                &lines("Signing in…\nCouldn't log in: getaddrinfo ENOTFOUND platform.claude.com\n")
            ),
            outcome(
                Some(1),
                &lines(
                    "Signing in…\nCouldn't log in: Request failed with status code 400 (invalid_grant: the code is invalid or expired)"
                )
            ),
            outcome(
                None,
                &lines(
                    " OAuth error: Couldn't get an answer from the sign-in service (ENOTFOUND)\nPress Enter to retry"
                )
            ),
            outcome(Some(1), &lines("Signing in…\nsomething else entirely")),
            outcome(Some(2), &[]),
        ]);
    }

    #[test]
    fn the_full_screen_error_is_read_past_its_glyph_and_across_its_break() {
        // As 2.1.328's `setup-token` draws it offline: a glyph, the message broken by the TUI
        // itself at its width, its continuation in the text's column, then the retry prompt.
        let screen = [
            " ✘ OAuth error: Couldn't get an answer from the sign-in service (ENOTFOUND). Check your internet connection, then try",
            "   again.",
            "",
            " Press Enter to retry",
        ]
        .map(str::to_owned);
        let (kind, detail) = outcome(None, &screen);
        assert_eq!(kind, Outcome::NetworkError);
        assert_eq!(
            detail.as_deref(),
            Some(
                "OAuth error: Couldn't get an answer from the sign-in service (ENOTFOUND). Check \
                 your internet connection, then try again."
            )
        );
        // A flush-left error line takes nothing below it.
        let plain = ["Couldn't log in: x", "next"].map(str::to_owned);
        assert_eq!(error_line(&plain).as_deref(), Some("Couldn't log in: x"));
    }

    #[test]
    fn the_minted_token_is_found_whole_and_placeholders_are_not_tokens() {
        let lines = |text: &str| text.lines().map(str::to_owned).collect::<Vec<_>>();
        let token = format!("sk-ant-oat01-{}", "Ab3_-".repeat(18));
        let shown = lines(&format!(
            "✓ Long-lived authentication token created successfully!\n\n{token}\n\nexport CLAUDE_CODE_OAUTH_TOKEN=<token>"
        ));
        assert_eq!(minted_token(&shown), Some(token.clone()));
        let env_form = lines(&format!("CLAUDE_CODE_OAUTH_TOKEN={}", "z".repeat(40)));
        assert_eq!(minted_token(&env_form), Some("z".repeat(40)));
        assert_eq!(
            minted_token(&lines("Use it as CLAUDE_CODE_OAUTH_TOKEN=<token>")),
            None
        );
        assert_eq!(minted_token(&lines("Paste code here if prompted")), None);
    }

    #[test]
    fn the_code_and_the_state_never_reach_a_log() {
        let line = "visit: https://claude.com/cai/oauth/authorize?code=true&code_challenge=CH&state=ST4567 then typed abcd-1234#ST4567";
        insta::assert_snapshot!(redact(line, &["abcd-1234#ST4567"]));
    }
}
