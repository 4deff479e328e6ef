//! `clauster reaper` and its alias `reap-environments` (cli.md §3, bridges.md §15).
//!
//! The credentials are read here first (a bad login is exit 2 before anything else runs),
//! then the ghost list and the reap are the API's `GET /api/environments/ghosts` and
//! `POST /api/environments/reap`, called over the control socket of a running server or of
//! the engine this command runs for itself. The engine owns the live set, so the command
//! never races a server; over the socket the routes answer even with `reaper.ui_enabled`
//! off (the CLI reaper is always available, config.md §3.9).
#![allow(clippy::print_stdout)] // results are this command's output

use std::fmt::Write as _;
use std::io::{BufRead, IsTerminal, Write as _};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use clauster_core::reaper::{org_hint, token_hint};
use clauster_wire::{GhostsView, ReapAction, ReapResult};

use crate::commands::{Target, detail, load_config, malformed, print_json, request, target};
use crate::control_client::Answer;

/// A listing may follow many pages of 30 s calls; a reap acts on each id in turn.
const REAPER_TIMEOUT: Duration = Duration::from_mins(30);

/// What the command does after listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    DryRun,
    Archive,
    Delete,
}

impl Mode {
    /// The mode the flags ask for: delete wins over archive; neither is a dry run.
    pub fn of(archive: bool, delete: bool) -> Self {
        if delete {
            Self::Delete
        } else if archive {
            Self::Archive
        } else {
            Self::DryRun
        }
    }
}

/// `clauster reaper [--dry-run | --archive | --delete [--yes]] [--json]`.
pub fn run(config_path: Option<&Path>, mode: Mode, yes: bool, json: bool) -> ExitCode {
    // Refused before anything is read or asked: a script cannot type DELETE.
    if mode == Mode::Delete && !yes && !std::io::stdin().is_terminal() {
        eprintln!(
            "clauster: error: --delete asks to type DELETE, but stdin is not a terminal; \
             add --yes to delete without asking"
        );
        return ExitCode::from(2);
    }
    let config = match load_config(config_path) {
        Ok(loaded) => loaded.config,
        Err(code) => return code,
    };
    let credentials = match clauster_server::reaper::credentials_of_this_process(&config) {
        Ok(credentials) => credentials,
        Err(err) => {
            eprintln!("clauster: error: {err}");
            return ExitCode::from(2);
        }
    };
    eprintln!(
        "org {} · token {}",
        org_hint(&credentials.organization_uuid),
        token_hint(&credentials.access_token)
    );
    let target = match target(config_path) {
        Ok(target) => target,
        Err(code) => return code,
    };
    let (value, view) = match call::<GhostsView>(&target, "GET", "/api/environments/ghosts", None) {
        Ok(answer) => answer,
        Err(code) => return code,
    };
    eprintln!(
        "{} environments · {} live directories · {} ghosts",
        view.total,
        view.live_dirs,
        view.ghosts.len()
    );
    if json && mode == Mode::DryRun {
        print_json(&value);
        return ExitCode::SUCCESS;
    }
    if !json {
        for ghost in &view.ghosts {
            println!("{}  {}  ({})", ghost.id, ghost.directory, ghost.name);
        }
    }
    let action = match mode {
        Mode::DryRun => return ExitCode::SUCCESS,
        Mode::Archive => ReapAction::Archive,
        Mode::Delete => ReapAction::Delete,
    };
    reap(&target, &view, action, yes, json)
}

/// Archives or deletes every listed ghost (after the DELETE prompt when asked for) and
/// prints the outcome; 1 when any id failed.
fn reap(target: &Target, view: &GhostsView, action: ReapAction, yes: bool, json: bool) -> ExitCode {
    if view.ghosts.is_empty() {
        if json {
            print_reap_json(&ReapResult {
                action,
                reaped: Vec::new(),
                skipped: Vec::new(),
                errors: std::collections::BTreeMap::new(),
            });
        }
        return ExitCode::SUCCESS;
    }
    if action == ReapAction::Delete && !yes && !confirmed_delete(view.ghosts.len()) {
        eprintln!("clauster: error: not confirmed; nothing was deleted");
        return ExitCode::from(2);
    }
    let ids: Vec<&str> = view.ghosts.iter().map(|g| g.id.as_str()).collect();
    let body = serde_json::json!({
        "action": action,
        "ids": ids,
        "confirm": if action == ReapAction::Delete { "DELETE" } else { "archive" },
    })
    .to_string();
    let (value, result) = match call::<ReapResult>(
        target,
        "POST",
        "/api/environments/reap",
        Some(body.as_bytes()),
    ) {
        Ok(answer) => answer,
        Err(code) => return code,
    };
    if json {
        print_json(&value);
    } else {
        print!("{}", result_lines(&ids, &result));
    }
    if result.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// One reaper route over the control socket: the answer's JSON and its typed reading, or the
/// exit code once the failure is printed.
fn call<T: serde::de::DeserializeOwned>(
    target: &Target,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
) -> Result<(serde_json::Value, T), ExitCode> {
    let answer = request(target, method, path, body, REAPER_TIMEOUT)?;
    let value = success(&answer)?;
    let typed = serde_json::from_value::<T>(value.clone()).map_err(|_| malformed())?;
    Ok((value, typed))
}

/// The JSON of a 2xx answer. Otherwise the error is printed and the exit code returned:
/// credentials, live set and API failures (503, 502) and refusals are 2, the rest 1.
fn success(answer: &Answer) -> Result<serde_json::Value, ExitCode> {
    if (200..300).contains(&answer.status) {
        return serde_json::from_slice(&answer.body).map_err(|_| malformed());
    }
    let message = detail(&answer.body).unwrap_or_else(|| format!("HTTP {}", answer.status));
    eprintln!("clauster: error: {message}");
    Err(match answer.status {
        400 | 404 | 422 | 502 | 503 => ExitCode::from(2),
        _ => ExitCode::FAILURE,
    })
}

fn print_reap_json(result: &ReapResult) {
    match serde_json::to_value(result) {
        Ok(value) => print_json(&value),
        Err(_) => {
            malformed();
        }
    }
}

/// One line per id, in the order listed: `archived <id>` / `deleted <id>` /
/// `failed <id>: <msg>`, and `skipped <id>: no longer a ghost` for one that came into use.
fn result_lines(order: &[&str], result: &ReapResult) -> String {
    let verb = match result.action {
        ReapAction::Archive => "archived",
        ReapAction::Delete => "deleted",
    };
    let mut out = String::new();
    for id in order {
        if result.reaped.iter().any(|r| r == id) {
            let _ = writeln!(out, "{verb} {id}");
        } else if let Some(message) = result.errors.get(*id) {
            let _ = writeln!(out, "failed {id}: {message}");
        } else if result.skipped.iter().any(|s| s == id) {
            let _ = writeln!(out, "skipped {id}: no longer a ghost");
        }
    }
    out
}

/// Asks on the terminal to type `DELETE`.
fn confirmed_delete(count: usize) -> bool {
    eprint!("Type DELETE to permanently delete {count} environment(s): ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line).is_err() {
        return false;
    }
    line.trim() == "DELETE"
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn result_lines_follow_the_listing_order() {
        let result = ReapResult {
            action: ReapAction::Archive,
            reaped: vec!["env_3".into(), "env_1".into()],
            skipped: vec!["env_2".into()],
            errors: BTreeMap::from([("env_4".into(), "HTTP 500 boom".into())]),
        };
        insta::assert_snapshot!(
            result_lines(&["env_1", "env_2", "env_3", "env_4"], &result),
            @r"
        archived env_1
        skipped env_2: no longer a ghost
        archived env_3
        failed env_4: HTTP 500 boom
        "
        );
    }
}
