//! `hash-password`, `hash-token`, `hash-metrics-token` and `api-token issue|list|rotate|revoke`
//! (cli.md §3). Token commands edit the store directly; a running server reads tokens on
//! every request, so a change applies at once.
#![allow(clippy::print_stdout)] // hashes and tokens are these commands' output

use std::io::{BufRead as _, IsTerminal as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clauster_server::credentials;
use serde_json::json;

/// Which `api-token` action to run.
#[derive(Clone, Copy, Debug)]
pub enum TokenAction {
    Issue,
    Rotate,
    Revoke,
}

/// `clauster hash-password`: two entries without echo on a terminal, else two stdin lines.
pub fn hash_password() -> ExitCode {
    let entries = if std::io::stdin().is_terminal() {
        rpassword::prompt_password("Password: ")
            .and_then(|first| rpassword::prompt_password("Confirm: ").map(|second| (first, second)))
    } else {
        read_two_lines()
    };
    let (first, second) = match entries {
        Ok(entries) => entries,
        Err(err) => {
            eprintln!("clauster: error: cannot read the password: {err}");
            return ExitCode::FAILURE;
        }
    };
    if first.is_empty() {
        eprintln!("clauster: error: the password is empty; type a password");
        return ExitCode::from(2);
    }
    if first != second {
        eprintln!("clauster: error: the two entries differ; run the command again");
        return ExitCode::from(2);
    }
    match credentials::hash_password(&first) {
        Ok(phc) => {
            println!("{phc}");
            ExitCode::SUCCESS
        }
        Err(err @ (credentials::HashError::Empty | credentials::HashError::TooLong)) => {
            eprintln!("clauster: error: {err}");
            ExitCode::from(2)
        }
        Err(err) => {
            eprintln!("clauster: error: {err}");
            ExitCode::FAILURE
        }
    }
}

fn read_two_lines() -> std::io::Result<(String, String)> {
    let mut lines = std::io::stdin().lock().lines();
    let mut next = || -> std::io::Result<String> {
        Ok(lines
            .next()
            .transpose()?
            .map(|line| line.trim_end_matches('\r').to_owned())
            .unwrap_or_default())
    };
    let first = next()?;
    let second = next()?;
    Ok((first, second))
}

/// `clauster hash-token` / `hash-metrics-token`: a new raw token on stdout, the config line
/// with its hash on stderr.
pub fn hash_token(key: &str) -> ExitCode {
    match credentials::new_token_with_hash() {
        Ok((token, hash)) => {
            println!("{token}");
            eprintln!("  {key}: {hash}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("clauster: error: {err}");
            ExitCode::FAILURE
        }
    }
}

/// The label given positionally or with `--label`; both and different is a usage error.
pub fn pick_label(positional: Option<String>, flag: Option<String>) -> Result<String, ExitCode> {
    match (positional, flag) {
        (Some(a), Some(b)) if a != b => {
            eprintln!(
                "clauster: error: two different labels given ('{a}' and --label '{b}'); give one"
            );
            Err(ExitCode::from(2))
        }
        (Some(label), _) | (None, Some(label)) => Ok(label),
        (None, None) => {
            eprintln!("clauster: error: a token label is required (positional or --label)");
            Err(ExitCode::from(2))
        }
    }
}

/// The state directory and whether `auth.api_token_hash` is set, from the config.
fn load(config_path: Option<&Path>) -> Result<(PathBuf, bool), ExitCode> {
    let loaded = crate::commands::load_config(config_path)?;
    Ok((
        loaded.config.state_dir.clone(),
        loaded.config.auth.api_token_hash.is_some(),
    ))
}

fn failed(err: &credentials::TokenCommandError) -> ExitCode {
    eprintln!("clauster: error: {err}");
    if err.is_usage() {
        ExitCode::from(2)
    } else {
        ExitCode::FAILURE
    }
}

/// `clauster api-token issue|rotate|revoke <label>`.
pub fn api_token(config_path: Option<&Path>, action: TokenAction, label: &str) -> ExitCode {
    let state_dir = match load(config_path) {
        Ok((state_dir, _)) => state_dir,
        Err(code) => return code,
    };
    let result = match action {
        TokenAction::Issue => credentials::issue_token(&state_dir, label).map(Some),
        TokenAction::Rotate => credentials::rotate_token(&state_dir, label).map(Some),
        TokenAction::Revoke => credentials::revoke_token(&state_dir, label).map(|()| None),
    };
    match result {
        Ok(Some(token)) => {
            println!("{token}");
            eprintln!(
                "clauster: this token is shown once; send it as `Authorization: Bearer <token>`"
            );
            ExitCode::SUCCESS
        }
        Ok(None) => {
            println!("revoked {label}");
            ExitCode::SUCCESS
        }
        Err(err) => failed(&err),
    }
}

/// `clauster api-token list [--json]`: labels and dates, never secrets.
pub fn api_token_list(config_path: Option<&Path>, as_json: bool) -> ExitCode {
    let (state_dir, config_token_set) = match load(config_path) {
        Ok(found) => found,
        Err(code) => return code,
    };
    let tokens = match credentials::list_tokens(&state_dir) {
        Ok(tokens) => tokens,
        Err(err) => return failed(&err),
    };
    if as_json {
        let tokens: Vec<_> = tokens
            .iter()
            .map(|t| {
                json!({"label": t.label, "created_at": t.created_at, "last_used_at": t.last_used_at})
            })
            .collect();
        let value = json!({"tokens": tokens, "config_token_set": config_token_set});
        println!(
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_else(|_| value.to_string())
        );
        return ExitCode::SUCCESS;
    }
    print!("{}", token_table(&tokens));
    if tokens.is_empty() {
        eprintln!("No API tokens.");
    }
    if config_token_set {
        eprintln!("clauster: note: auth.api_token_hash is also set in the config and accepted");
    }
    ExitCode::SUCCESS
}

fn token_table(tokens: &[credentials::TokenInfo]) -> String {
    use std::fmt::Write as _;
    if tokens.is_empty() {
        return String::new();
    }
    let rows: Vec<[&str; 3]> = tokens
        .iter()
        .map(|t| {
            [
                t.label.as_str(),
                t.created_at.as_str(),
                t.last_used_at.as_deref().unwrap_or("never"),
            ]
        })
        .collect();
    let width = |i: usize, title: &str| {
        rows.iter()
            .map(|r| r[i].chars().count())
            .chain([title.len()])
            .max()
            .unwrap_or(0)
    };
    let (w0, w1) = (width(0, "LABEL"), width(1, "CREATED"));
    let mut out = format!("{:w0$}  {:w1$}  LAST USED\n", "LABEL", "CREATED");
    for [label, created, used] in rows {
        let _ = writeln!(out, "{label:w0$}  {created:w1$}  {used}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{pick_label, token_table};
    use clauster_server::credentials::TokenInfo;

    #[test]
    fn labels_come_from_either_place_but_not_two_different_ones() {
        assert_eq!(pick_label(Some("a".into()), None), Ok("a".into()));
        assert_eq!(pick_label(None, Some("a".into())), Ok("a".into()));
        assert_eq!(
            pick_label(Some("a".into()), Some("a".into())),
            Ok("a".into())
        );
        assert!(pick_label(Some("a".into()), Some("b".into())).is_err());
        assert!(pick_label(None, None).is_err());
    }

    #[test]
    fn the_table_has_no_secrets() {
        let table = token_table(&[
            TokenInfo {
                label: "ci".into(),
                created_at: "2026-11-25T15:02:22.123Z".into(),
                last_used_at: None,
            },
            TokenInfo {
                label: "grafana-scraper".into(),
                created_at: "2026-11-25T16:00:00.000Z".into(),
                last_used_at: Some("2026-11-25T17:00:00.000Z".into()),
            },
        ]);
        insta::assert_snapshot!(table);
    }
}
