use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::*;

// --- the list page ---------------------------------------------------------------------------

fn render_page(body: &str) -> String {
    match parse_page(body.as_bytes()) {
        Err(err) => format!("error: {err}\n"),
        Ok(page) => {
            let mut out = String::new();
            for env in &page.items {
                let _ = writeln!(
                    out,
                    "{} name={:?} type={:?} directory={:?}",
                    env.id, env.name, env.kind, env.directory
                );
            }
            let _ = writeln!(
                out,
                "skipped={} next_page={:?}",
                page.skipped, page.next_page
            );
            out
        }
    }
}

#[test]
fn list_pages_are_read_tolerantly() {
    let cases = [
        r#"{"data": [], "next_page": null}"#,
        r#"{"data": [
            {"id": "env_01A", "name": "alpha", "config": {"type": "bridge", "directory": "/srv/p/alpha"}},
            {"id": "env_01B", "name": "cloudy", "config": {"type": "cloud"}},
            {"id": "env_01C", "config": {"type": "bridge", "directory": "~/projects/beta"}, "extra": 1},
            {"id": "env_01D", "name": 7, "config": {"type": 3, "directory": ["x"]}},
            {"id": "env_01E", "name": "no config"},
            {"id": "env_01F", "config": "bridge"},
            {"name": "no id"},
            {"id": "", "name": "empty id"},
            {"id": 12},
            "a string",
            null
        ], "next_page": "env_01F"}"#,
        r#"{"data": [{"id": "env_01A", "config": {"type": "bridge", "directory": ""}}], "next_page": ""}"#,
        r#"{"data": [], "next_page": 5}"#,
        r#"{"data": {"id": "env_01A"}}"#,
        r#"{"items": []}"#,
        r#"[{"id": "env_01A"}]"#,
        r#""data""#,
        "<html>bad gateway</html>",
        "",
    ];
    let mut out = String::new();
    for case in cases {
        let _ = writeln!(
            out,
            "--- {}",
            case.split_whitespace().collect::<Vec<_>>().join(" ")
        );
        out.push_str(&render_page(case));
    }
    insta::assert_snapshot!(out);
}

// --- pagination ------------------------------------------------------------------------------

#[test]
fn the_pager_follows_cursors_until_empty() {
    let mut pager = Pager::new();
    assert_eq!(pager.after_page(Some("a")), NextStep::Fetch("a".into()));
    assert_eq!(pager.after_page(Some("b")), NextStep::Fetch("b".into()));
    assert_eq!(pager.after_page(None), NextStep::Done);
    assert_eq!(pager.pages(), 3);

    let mut pager = Pager::new();
    assert_eq!(pager.after_page(Some("")), NextStep::Done);
    assert_eq!(pager.pages(), 1);
}

#[test]
fn the_pager_stops_at_a_repeated_cursor() {
    let mut pager = Pager::new();
    assert_eq!(pager.after_page(Some("a")), NextStep::Fetch("a".into()));
    assert_eq!(pager.after_page(Some("b")), NextStep::Fetch("b".into()));
    // A server that hands back an earlier cursor would loop for ever.
    assert_eq!(pager.after_page(Some("a")), NextStep::Done);
}

#[test]
fn the_pager_reads_at_most_ten_thousand_pages() {
    let mut pager = Pager::new();
    for page in 1..MAX_PAGES {
        assert_eq!(
            pager.after_page(Some(&format!("c{page}"))),
            NextStep::Fetch(format!("c{page}"))
        );
    }
    assert_eq!(pager.after_page(Some("one more")), NextStep::Truncated);
    assert_eq!(pager.pages(), MAX_PAGES);
}

// --- the ghost rule --------------------------------------------------------------------------

/// A pretend filesystem: existing paths and their canonical forms. `/home/op/projects` is a
/// symlink to `/srv/projects`.
fn filesystem() -> HashMap<PathBuf, PathBuf> {
    [
        ("/", "/"),
        ("/srv", "/srv"),
        ("/srv/projects", "/srv/projects"),
        ("/srv/projects/alpha", "/srv/projects/alpha"),
        ("/srv/projects/beta", "/srv/projects/beta"),
        ("/srv/projects/link-to-other", "/srv/other"),
        ("/srv/other", "/srv/other"),
        ("/home", "/home"),
        ("/home/op", "/home/op"),
        ("/home/op/projects", "/srv/projects"),
        ("/tmp", "/tmp"),
    ]
    .into_iter()
    .map(|(a, b)| (PathBuf::from(a), PathBuf::from(b)))
    .collect()
}

fn env(kind: Option<&str>, directory: Option<&str>) -> Environment {
    Environment {
        id: "env_01X".into(),
        name: "x".into(),
        kind: kind.map(str::to_owned),
        directory: directory.map(str::to_owned),
    }
}

#[test]
fn the_ghost_rule_table() {
    let fs = filesystem();
    let canonicalize = move |p: &Path| fs.get(p).cloned();
    let live: HashSet<PathBuf> = [PathBuf::from("/srv/projects/beta")].into();
    let rule = GhostRule {
        root: Path::new("/srv/projects"),
        live: &live,
        home: Some(Path::new("/home/op")),
        canonicalize: &canonicalize,
    };
    let ghost = |p: &str| Verdict::Ghost(PathBuf::from(p));
    let cases: [(Option<&str>, Option<&str>, Verdict); 20] = [
        (
            Some("bridge"),
            Some("/srv/projects/alpha"),
            ghost("/srv/projects/alpha"),
        ),
        // Deleted directories are the usual ghost: the missing tail is kept as written.
        (
            Some("bridge"),
            Some("/srv/projects/gone"),
            ghost("/srv/projects/gone"),
        ),
        (
            Some("bridge"),
            Some("/srv/projects/gone/deeper"),
            ghost("/srv/projects/gone/deeper"),
        ),
        (
            Some("bridge"),
            Some("/srv/projects/alpha/.claude/worktrees/w1"),
            ghost("/srv/projects/alpha/.claude/worktrees/w1"),
        ),
        // Through a symlinked root, and through `~`.
        (
            Some("bridge"),
            Some("/home/op/projects/alpha"),
            ghost("/srv/projects/alpha"),
        ),
        (
            Some("bridge"),
            Some("~/projects/alpha"),
            ghost("/srv/projects/alpha"),
        ),
        (
            Some("bridge"),
            Some("~/projects/gone"),
            ghost("/srv/projects/gone"),
        ),
        (
            Some("bridge"),
            Some("/srv/projects/./alpha/"),
            ghost("/srv/projects/alpha"),
        ),
        // The live set wins, however the directory is spelled.
        (Some("bridge"), Some("/srv/projects/beta"), Verdict::Live),
        (Some("bridge"), Some("~/projects/beta"), Verdict::Live),
        (
            Some("bridge"),
            Some("/srv/projects/alpha/../beta"),
            Verdict::Live,
        ),
        // Never a ghost.
        (
            Some("cloud"),
            Some("/srv/projects/alpha"),
            Verdict::NotBridge,
        ),
        (None, Some("/srv/projects/alpha"), Verdict::NotBridge),
        (
            Some("Bridge"),
            Some("/srv/projects/alpha"),
            Verdict::NotBridge,
        ),
        (Some("bridge"), None, Verdict::NoDirectory),
        (Some("bridge"), Some("/srv/projects"), Verdict::OutsideRoot),
        (
            Some("bridge"),
            Some("/srv/projects/../other/x"),
            Verdict::OutsideRoot,
        ),
        // A symlink inside the root that leads out of it.
        (
            Some("bridge"),
            Some("/srv/projects/link-to-other"),
            Verdict::OutsideRoot,
        ),
        (Some("bridge"), Some("projects/alpha"), Verdict::OutsideRoot),
        (
            Some("bridge"),
            Some("~someone/projects/alpha"),
            Verdict::OutsideRoot,
        ),
    ];
    for (kind, directory, expected) in cases {
        assert_eq!(
            rule.classify(&env(kind, directory)),
            expected,
            "type {kind:?}, directory {directory:?}"
        );
    }
}

#[test]
fn without_a_home_tilde_paths_are_never_ghosts() {
    let live = HashSet::new();
    let canonicalize = |_: &Path| None;
    let rule = GhostRule {
        root: Path::new("/srv/projects"),
        live: &live,
        home: None,
        canonicalize: &canonicalize,
    };
    assert_eq!(
        rule.classify(&env(Some("bridge"), Some("~/x"))),
        Verdict::OutsideRoot
    );
    // With nothing on disk the lexical form is used.
    assert_eq!(
        rule.classify(&env(Some("bridge"), Some("/srv/projects/a"))),
        Verdict::Ghost("/srv/projects/a".into())
    );
}

#[test]
fn requested_ids_split_into_ghosts_and_skipped() {
    let ghosts: HashSet<&str> = ["env_1", "env_2"].into();
    let requested: Vec<String> = ["env_2", "env_9", "env_1", "env_2"]
        .map(str::to_owned)
        .into();
    let (act, skipped) = split_requested(&requested, &ghosts);
    assert_eq!(act, ["env_2", "env_1"]);
    assert_eq!(skipped, ["env_9"]);
}

// --- credentials -----------------------------------------------------------------------------

const NOW: i64 = 1_790_000_000_000;
const GLOBAL: &str =
    r#"{"oauthAccount": {"organizationUuid": "0f0e0d0c-0000-4000-8000-000000000001"}}"#;

#[test]
fn credentials_table() {
    let creds = |oauth: &str| format!(r#"{{"claudeAiOauth": {oauth}}}"#);
    let ok_token = r#"{"accessToken": "sk-ant-oat01-SECRETSECRET", "expiresAt": 1790000600000}"#;
    let cases: Vec<(String, &str)> = vec![
        (creds(ok_token), GLOBAL),
        (
            creds(r#"{"accessToken": "sk-ant-oat01-SECRETSECRET"}"#),
            GLOBAL,
        ),
        (
            creds(r#"{"accessToken": "sk-ant-oat01-SECRETSECRET", "expiresAt": null}"#),
            GLOBAL,
        ),
        (
            creds(r#"{"accessToken": "sk-ant-oat01-SECRETSECRET", "expiresAt": 1790000600000.5}"#),
            GLOBAL,
        ),
        (
            creds(r#"{"accessToken": "sk-ant-oat01-SECRETSECRET", "expiresAt": 1790000000000}"#),
            GLOBAL,
        ),
        (
            creds(r#"{"accessToken": "sk-ant-oat01-SECRETSECRET", "expiresAt": "soon"}"#),
            GLOBAL,
        ),
        (creds(r#"{"accessToken": "  "}"#), GLOBAL),
        (creds(r#"{"refreshToken": "x"}"#), GLOBAL),
        (r#"{"other": {}}"#.into(), GLOBAL),
        ("{not json".into(), GLOBAL),
        (creds(ok_token), "{}"),
        (creds(ok_token), ""),
        (
            creds(ok_token),
            r#"{"oauthAccount": {"organizationUuid": 5}}"#,
        ),
        (creds(ok_token), "[1]"),
        (creds(ok_token), "{broken"),
    ];
    let mut out = String::new();
    for (credentials, global) in &cases {
        let _ = writeln!(out, "--- {credentials} | {global}");
        match parse_credentials(credentials, global, NOW) {
            Ok(c) => {
                let _ = writeln!(out, "{c:?}");
            }
            Err(err) => {
                let _ = writeln!(out, "error: {err}");
            }
        }
    }
    assert!(
        !out.contains("SECRETSECRET\n"),
        "Debug never prints the token"
    );
    insta::assert_snapshot!(out);
}

#[test]
fn the_token_is_only_ever_shown_as_six_characters() {
    assert_eq!(token_hint("sk-ant-oat01-SECRET"), "sk-ant…");
    assert_eq!(token_hint("abc"), "abc…");
    assert_eq!(token_hint("ééééééééé"), "éééééé…");
    assert_eq!(org_hint("0f0e0d0c-0000-4000"), "0f0e0d0c…");
    let creds = parse_credentials(
        r#"{"claudeAiOauth": {"accessToken": "sk-ant-oat01-SECRETSECRET"}}"#,
        GLOBAL,
        NOW,
    )
    .unwrap();
    assert!(!format!("{creds:?}").contains("SECRETSECRET"));
}

// --- error excerpts --------------------------------------------------------------------------

#[test]
fn error_excerpts_are_redacted_collapsed_and_cut() {
    let token = "tok-PLAINSECRET";
    let long = "x".repeat(500);
    let cases: Vec<Vec<u8>> = vec![
        br#"{"type": "error", "error": {"type": "not_found_error", "message": "no env_01ABCDEFGHIJ"}}"#.to_vec(),
        b"<html>\n  <body>502   Bad\tGateway</body>\n</html>".to_vec(),
        format!("echo {token} and Authorization: Bearer sk-ant-oat01-AAAAAAAAAAAAAAAAAAAA").into_bytes(),
        b"uuid 0f0e0d0c-0000-4000-8000-000000000001 \x1b[31mred\x1b[0m".to_vec(),
        b"\xff\xfe not utf-8".to_vec(),
        b"   \n ".to_vec(),
        Vec::new(),
        long.into_bytes(),
    ];
    let mut out = String::new();
    for body in &cases {
        let _ = writeln!(out, "{}", error_excerpt(body, &[token]));
    }
    assert!(!out.contains("PLAINSECRET"));
    insta::assert_snapshot!(out);
}

// --- the API base ----------------------------------------------------------------------------

#[test]
fn api_bases_are_https_or_loopback_http() {
    let cases = [
        (DEFAULT_API_BASE, true),
        ("https://proxy.internal:8443/anthropic", true),
        ("http://127.0.0.1:4321", true),
        ("http://127.9.9.9:4321/", true),
        ("http://[::1]:4321", true),
        ("http://localhost:4321", false),
        ("http://10.0.0.5", false),
        ("http://api.anthropic.com", false),
        ("ftp://127.0.0.1", false),
        ("https://user:pw@api.anthropic.com", false),
        ("https://api.anthropic.com/?x=1", false),
        ("https://api.anthropic.com/#f", false),
        ("file:///etc/passwd", false),
        ("not a url", false),
        ("", false),
    ];
    for (base, accepted) in cases {
        assert_eq!(parse_api_base(base).is_ok(), accepted, "{base}");
    }
    insta::assert_snapshot!(
        parse_api_base("http://10.0.0.5").unwrap_err().to_string(),
        @r#"the environments API base "http://10.0.0.5" is refused: plain http to a host that is not a loopback address; use an https:// URL, or http:// to a loopback address (127.0.0.1, ::1)"#
    );
}
