//! `status`, `projects`, `stop` and `start` (cli.md §3): calls to the API over the control socket, of a
//! running server or, when none answers, of the engine run in-process for the command
//! (cli.md §2, [`crate::headless`]).
#![allow(clippy::print_stdout)] // results are these commands' output

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clauster_core::modes::{LaunchMode, PermissionMode, SpawnMode};
use clauster_wire::{Instance, Project, SpawnOutcome};
use serde_json::Value;

use crate::config_file;
use crate::control_client::{self, Answer};

/// How long `--wait` keeps reading past `claude.startup_grace_seconds`.
const WAIT_SLACK: Duration = Duration::from_secs(3);
/// How often `--wait` reads the instance again.
const WAIT_POLL: Duration = Duration::from_millis(250);

/// How long a read-only call or a stop may take before the CLI gives up on the server.
pub(crate) const CALL_TIMEOUT: Duration = Duration::from_mins(1);

/// What every command needs: the socket and the API prefix.
pub(crate) struct Target {
    pub(crate) socket: PathBuf,
    pub(crate) root_path: String,
    /// `claude.ready_wait_seconds`: how long a start request itself may wait.
    pub(crate) ready_wait: Duration,
    /// `claude.startup_grace_seconds`: how long `--wait` waits from the launch.
    pub(crate) startup_grace: Duration,
    /// `claude.stop_grace_seconds`: how long a stop may wait for the bridge to end before it
    /// is killed; a stop request is answered only after that.
    pub(crate) stop_grace: Duration,
    /// The engine this command runs when no server does; shut down when the command ends.
    engine: Option<crate::headless::InProcess>,
}

/// The configuration a command runs with (no flags layer); a bad one is exit 2.
pub(crate) fn load_config(
    config_path: Option<&Path>,
) -> Result<config_file::LoadedConfig, ExitCode> {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from);
    config_file::load_config(
        config_path,
        config_file::Flags::new(),
        std::env::vars(),
        &cwd,
        home.as_deref(),
    )
    .map_err(|err| {
        eprintln!("clauster: config error: {err}");
        ExitCode::from(2)
    })
}

impl Target {
    /// Whether this command runs the engine itself (no server answered).
    pub(crate) fn runs_engine_here(&self) -> bool {
        self.engine.is_some()
    }
}

pub(crate) fn target(config_path: Option<&Path>) -> Result<Target, ExitCode> {
    let config = load_config(config_path)?.config;
    let socket = clauster_server::control_socket_for(&config.state_dir);
    // A socket someone else owns is never spoken to (security.md §10, issue 16 §7).
    clauster_server::check_socket_owner(&socket).map_err(|err| {
        eprintln!("clauster: error: {err}");
        ExitCode::FAILURE
    })?;
    let engine = crate::headless::reach(&config, &socket).map_err(|err| {
        eprintln!("clauster: error: {err}");
        ExitCode::FAILURE
    })?;
    // Our own engine answers on its private socket, never on the control socket.
    let socket = engine
        .as_ref()
        .map_or(socket, |engine| engine.socket().to_owned());
    Ok(Target {
        socket,
        root_path: config.root_path.clone(),
        ready_wait: Duration::from_secs_f64(config.claude.ready_wait_seconds.max(0.0)),
        startup_grace: Duration::from_secs_f64(config.claude.startup_grace_seconds.max(0.0)),
        stop_grace: Duration::from_secs_f64(config.claude.stop_grace_seconds.max(0.0)),
        engine,
    })
}

/// `clauster status [--json]`.
pub fn status(config_path: Option<&Path>, json: bool) -> ExitCode {
    let target = match target(config_path) {
        Ok(target) => target,
        Err(code) => return code,
    };
    list(
        &target,
        "/api/instances",
        json,
        "No bridge instances.",
        status_table,
    )
}

/// What the list commands (`status`, `projects`, `sessions`) do with `GET path`: the API's
/// JSON with `--json`; otherwise `empty` (on stderr) for no rows, or `render`'s table.
pub(crate) fn list<T: serde::de::DeserializeOwned>(
    target: &Target,
    path: &str,
    json: bool,
    empty: &str,
    render: impl FnOnce(&[T]) -> String,
) -> ExitCode {
    let answer = match request(target, "GET", path, None, CALL_TIMEOUT) {
        Ok(answer) => answer,
        Err(code) => return code,
    };
    let Some(value) = success_json(&answer) else {
        return ExitCode::FAILURE;
    };
    let Ok(rows) = serde_json::from_value::<Vec<T>>(value.clone()) else {
        return malformed();
    };
    if json {
        print_json(&value);
    } else if rows.is_empty() {
        eprintln!("{empty}");
    } else {
        print!("{}", render(&rows));
    }
    ExitCode::SUCCESS
}

/// `clauster stop <instance> [--json]`.
pub fn stop(config_path: Option<&Path>, reference: &str, json: bool) -> ExitCode {
    let target = match target(config_path) {
        Ok(target) => target,
        Err(code) => return code,
    };
    let path = format!(
        "/api/instances/{}",
        control_client::encode_segment(reference)
    );
    // The answer comes once the process tree is gone: after up to the grace period, then
    // the kill (bridges.md §8.1).
    let answer = match request(
        &target,
        "DELETE",
        &path,
        None,
        target.stop_grace + CALL_TIMEOUT,
    ) {
        Ok(answer) => answer,
        Err(code) => return code,
    };
    // Unknown or ambiguous (404, 409) and invalid references are usage errors; the rest
    // means the stop was attempted and failed.
    let Some(value) = success_json(&answer) else {
        return exit_for(&answer, |status| matches!(status, 400 | 404 | 409 | 422));
    };
    let Ok(instance) = serde_json::from_value::<Instance>(value.clone()) else {
        return malformed();
    };
    if json {
        print_json(&value);
    } else if instance.stopping && instance.status != "stopped" {
        // Another stop of this bridge was already under way; it finishes the job.
        println!(
            "stopping {} ({}) status={}: another stop is in progress",
            id8(&instance.instance_id),
            instance.project,
            instance.status
        );
    } else {
        println!(
            "stopped {} ({}) status={}",
            id8(&instance.instance_id),
            instance.project,
            instance.status
        );
    }
    ExitCode::SUCCESS
}

/// A flag's value parser for a token enum: the text as given when `T` accepts it (an alias
/// too), else which tokens to use, so clap's message names the flag and the choices.
fn token<T: std::str::FromStr>(
    tokens: &'static [&'static str],
) -> impl Fn(&str) -> Result<String, String> + Clone + Send + Sync + 'static {
    move |text| {
        text.parse::<T>()
            .map(|_| text.to_owned())
            .map_err(|_| format!("use one of {}", tokens.join(", ")))
    }
}

/// The choices of `clauster start` beyond the project (cli.md §3); `None` leaves the
/// server's default. The field docs are the flags' help.
#[derive(Debug, Default, clap::Args)]
pub struct StartChoices {
    /// Mark the project's directory trusted in Claude's config first.
    #[arg(long)]
    pub trust: bool,
    /// `standard` (a multi-session server) or `pty` (an interactive session).
    #[arg(long, value_name = "MODE", value_parser = token::<LaunchMode>(&LaunchMode::TOKENS))]
    pub mode: Option<String>,
    /// `same-dir`, `worktree` or `session`.
    #[arg(long, value_name = "M", value_parser = token::<SpawnMode>(&SpawnMode::TOKENS))]
    pub spawn_mode: Option<String>,
    /// A permission mode, or `inherit` for none.
    #[arg(
        long,
        value_name = "M",
        value_parser = token::<PermissionMode>(&PermissionMode::TOKENS)
    )]
    pub permission_mode: Option<String>,
    /// The bridge's name (default: the project's).
    #[arg(long, value_name = "N")]
    pub name: Option<String>,
    /// pty: fork this past conversation.
    #[arg(long, value_name = "UUID")]
    pub session: Option<String>,
    /// Wait for `running` or a terminal status (at most claude.startup_grace_seconds),
    /// then print the link.
    #[arg(long)]
    pub wait: bool,
}

/// `clauster start <project> [--trust] [--json]`.
pub fn start(
    config_path: Option<&Path>,
    project: &str,
    choices: &StartChoices,
    json: bool,
) -> ExitCode {
    let target = match target(config_path) {
        Ok(target) => target,
        Err(code) => return code,
    };
    let launched = Instant::now();
    let mut body = serde_json::json!({ "project": project, "trust": choices.trust });
    for (key, value) in [
        ("resume_mode", &choices.mode),
        ("spawn_mode", &choices.spawn_mode),
        ("permission_mode", &choices.permission_mode),
        ("name", &choices.name),
        ("resume_session_id", &choices.session),
    ] {
        if let Some(value) = value {
            body[key] = Value::String(value.clone());
        }
    }
    let body = body.to_string();
    // The request itself waits up to ready_wait_seconds; leave room for the launch around it.
    let timeout = target.ready_wait + CALL_TIMEOUT;
    let answer = match request(
        &target,
        "POST",
        "/api/instances",
        Some(body.as_bytes()),
        timeout,
    ) {
        Ok(answer) => answer,
        Err(code) => return code,
    };
    let Some(value) = success_json(&answer) else {
        return exit_for(&answer, |status| start_refusal(status, &answer.body));
    };
    if choices.wait {
        let (value, lost) = wait_settled(&target, value, launched);
        return report_waited("started", &value, json, lost.as_deref());
    }
    report_launch("started", &value, json)
}

/// `--wait` (cli.md §3): polls the instance until it is `running` or terminal (`stopped`,
/// `crashed`, `error`), at most `claude.startup_grace_seconds` from `launched`. The outcome
/// keeps `created`, `reason` and `warnings`; the instance fields are the last ones read.
/// Beside it, why the wait was cut short when the server stopped answering.
pub(crate) fn wait_settled(
    target: &Target,
    mut value: Value,
    launched: Instant,
) -> (Value, Option<String>) {
    // The engine's own startup deadline falls at the same moment; a little slack lets its
    // verdict (`error`) be seen instead of a last `starting`.
    let deadline = launched + target.startup_grace + WAIT_SLACK;
    loop {
        let status = value.get("status").and_then(Value::as_str).unwrap_or("");
        if status != "starting" || Instant::now() >= deadline {
            return (value, None);
        }
        std::thread::sleep(WAIT_POLL);
        let Some(id) = value.get("instance_id").and_then(Value::as_str) else {
            return (value, None);
        };
        let path = format!(
            "{}/api/instances/{}",
            target.root_path,
            control_client::encode_segment(id)
        );
        let answer = match control_client::call(&target.socket, "GET", &path, None, CALL_TIMEOUT) {
            Ok(answer) => answer,
            Err(err) => return (value, Some(err.to_string())),
        };
        let fresh: Option<serde_json::Map<String, Value>> = (200..300)
            .contains(&answer.status)
            .then(|| serde_json::from_slice(&answer.body).ok())
            .flatten();
        let Some(fresh) = fresh else {
            let lost = format!(
                "the server answered {} to {path}; see clauster status",
                answer.status
            );
            return (value, Some(lost));
        };
        let Some(outcome) = value.as_object_mut() else {
            return (value, None);
        };
        for (key, field) in fresh {
            outcome.insert(key, field);
        }
    }
}

/// The summary after `--wait`, then the link (`session_url`, else `url`) on its own line;
/// 1 when the bridge ended in `error` or `crashed`, or when the wait `lost` the server.
pub(crate) fn report_waited(verb: &str, value: &Value, json: bool, lost: Option<&str>) -> ExitCode {
    let code = report_launch(verb, value, json);
    if let Some(lost) = lost {
        eprintln!("clauster: error: while waiting for the bridge: {lost}");
        return ExitCode::FAILURE;
    }
    let status = value.get("status").and_then(Value::as_str).unwrap_or("");
    if !json {
        let link = ["session_url", "url"]
            .iter()
            .find_map(|key| value.get(*key).and_then(Value::as_str));
        match link {
            Some(link) => println!("{link}"),
            None if status == "starting" => eprintln!(
                "clauster: warning: still starting after claude.startup_grace_seconds; no link yet"
            ),
            None => {}
        }
    }
    if status == "crashed" {
        return ExitCode::FAILURE;
    }
    code
}

/// Prints a start's or resume's outcome (`<verb> <id8> (<project>) mode=… status=…` or
/// `already running: …`, warnings on stderr); 1 when the launch ended in `error`.
pub(crate) fn report_launch(verb: &str, value: &Value, json: bool) -> ExitCode {
    let Ok(outcome) = serde_json::from_value::<SpawnOutcome>(value.clone()) else {
        return malformed();
    };
    for warning in &outcome.warnings {
        eprintln!("clauster: warning: {warning}");
    }
    let instance = &outcome.instance;
    if json {
        print_json(value);
    } else if outcome.created {
        println!(
            "{verb} {} ({}) mode={} status={}",
            id8(&instance.instance_id),
            instance.project,
            instance.resume_mode,
            instance.status
        );
    } else {
        println!(
            "already running: {} ({}) — {}",
            id8(&instance.instance_id),
            instance.project,
            outcome
                .reason
                .as_deref()
                .unwrap_or("a bridge is already running")
        );
    }
    if instance.status == "error" {
        if !json {
            report_error(instance);
        }
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// Why a bridge is in `error`, as the dashboard's card says it: the detail, then the hint.
pub(crate) fn report_error(instance: &Instance) {
    for line in [&instance.error_detail, &instance.error_hint]
        .into_iter()
        .flatten()
        .filter(|line| !line.trim().is_empty())
    {
        eprintln!("clauster: {line}");
    }
}

/// Whether a failed start was refused (exit 2: unknown project, untrusted, bad option,
/// forbidden mode) rather than attempted (exit 1: cap reached, launch failure).
pub(crate) fn start_refusal(status: u16, body: &[u8]) -> bool {
    match status {
        400 | 403 | 404 | 422 => true,
        409 => detail(body).is_some_and(|d| d.starts_with("directory not trusted")),
        _ => false,
    }
}

pub(crate) fn request(
    target: &Target,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
    timeout: Duration,
) -> Result<Answer, ExitCode> {
    let full = format!("{}{path}", target.root_path);
    control_client::call(&target.socket, method, &full, body, timeout).map_err(|err| {
        eprintln!("clauster: error: {err}");
        ExitCode::FAILURE
    })
}

/// The JSON of a 2xx answer; otherwise prints the error and returns `None`.
pub(crate) fn success_json(answer: &Answer) -> Option<Value> {
    if (200..300).contains(&answer.status) {
        let value = serde_json::from_slice(&answer.body).ok();
        if value.is_none() {
            eprintln!("clauster: error: the server sent an answer that is not JSON");
        }
        return value;
    }
    let message = detail(&answer.body).unwrap_or_else(|| format!("HTTP {}", answer.status));
    eprintln!("clauster: error: {message}");
    if message.starts_with("directory not trusted") {
        // The server's text names the dashboard's action; the command line has a flag.
        eprintln!("clauster: hint: add --trust to mark the directory trusted and start");
    } else if message.ends_with("is not a valid JSON object; Clauster did not change it") {
        eprintln!(
            "clauster: hint: mend that file (or move it aside: claude makes a new one), then \
             try again"
        );
    }
    None
}

/// The exit code after `success_json` returned `None`: 2 for refusals, 1 otherwise.
pub(crate) fn exit_for(answer: &Answer, refused: impl Fn(u16) -> bool) -> ExitCode {
    if (200..300).contains(&answer.status) || !refused(answer.status) {
        ExitCode::FAILURE
    } else {
        ExitCode::from(2)
    }
}

pub(crate) fn detail(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    value.get("detail")?.as_str().map(str::to_owned)
}

pub(crate) fn malformed() -> ExitCode {
    eprintln!("clauster: error: the server sent an answer this clauster does not understand");
    ExitCode::FAILURE
}

pub(crate) fn print_json(value: &Value) {
    // serde_json's pretty printer indents with two spaces.
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(_) => println!("{value}"),
    }
}

pub(crate) fn id8(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

/// `INSTANCE  PROJECT  CHANNEL  MODE  STATUS  LABEL`, columns padded to their widest cell.
fn status_table(instances: &[Instance]) -> String {
    let header = ["INSTANCE", "PROJECT", "CHANNEL", "MODE", "STATUS", "LABEL"];
    let mut rows: Vec<[&str; 6]> = vec![header];
    for i in instances {
        rows.push([
            id8(&i.instance_id),
            &i.project,
            &i.channel,
            &i.resume_mode,
            &i.status,
            &i.label,
        ]);
    }
    let mut widths = [0usize; 6];
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (column, cell) in row.iter().enumerate() {
            if column + 1 == row.len() {
                line.push_str(cell);
            } else {
                let pad = widths[column] - cell.chars().count();
                line.push_str(cell);
                line.push_str(&" ".repeat(pad + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Columns padded to their widest cell, two spaces apart.
pub(crate) fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if c + 1 < columns {
                line.push_str(&" ".repeat(widths[c] - cell.chars().count() + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `clauster projects [--json]`: `PROJECT  GIT  TRUST  BYPASS  PATH`.
pub fn projects(config_path: Option<&Path>, json: bool) -> ExitCode {
    let target = match target(config_path) {
        Ok(target) => target,
        Err(code) => return code,
    };
    list(
        &target,
        "/api/projects",
        json,
        "No projects found.",
        projects_table,
    )
}

fn projects_table(projects: &[Project]) -> String {
    let mut rows = vec![
        ["PROJECT", "GIT", "TRUST", "BYPASS", "PATH"]
            .map(String::from)
            .to_vec(),
    ];
    for p in projects {
        let trust = serde_json::to_value(p.trust_state)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        rows.push(vec![
            p.name.clone(),
            if p.is_git_repo { "git" } else { "-" }.into(),
            trust,
            if p.allow_bypass_permissions {
                "yes"
            } else {
                "-"
            }
            .into(),
            p.path.clone(),
        ]);
    }
    table(&rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_pad_every_column_but_the_last() {
        let rows = vec![
            vec!["PROJECT".into(), "GIT".into(), "PATH".into()],
            vec!["alpha".into(), "git".into(), "/srv/alpha".into()],
            vec!["a-much-longer-name".into(), "-".into(), "/srv/x".into()],
        ];
        insta::assert_snapshot!(table(&rows));
    }

    /// `--wait` reports a server it lost instead of waiting out the grace or calling it a
    /// timeout: no server on the socket, or one that no longer knows the instance.
    #[test]
    fn a_wait_that_loses_the_server_says_why() {
        use std::io::{Read as _, Write as _};
        let dir = tempfile::tempdir().unwrap();
        let target = |socket: PathBuf| Target {
            socket,
            root_path: String::new(),
            ready_wait: Duration::from_secs(1),
            startup_grace: Duration::from_mins(1),
            stop_grace: Duration::from_secs(1),
            engine: None,
        };
        let starting = serde_json::json!({"instance_id": "abc", "status": "starting"});

        let gone = target(dir.path().join("absent.sock"));
        let (value, lost) = wait_settled(&gone, starting.clone(), Instant::now());
        assert_eq!(value, starting);
        let lost = lost.expect("the wait lost the server");
        assert!(lost.starts_with("no clauster server is running"), "{lost}");

        let socket = dir.path().join("control.sock");
        let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = [0_u8; 1024];
            let _ = stream.read(&mut request);
            let body = r#"{"detail":"no such instance: abc"}"#;
            let answer = format!(
                "HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\n\
                 content-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            stream.write_all(answer.as_bytes()).unwrap();
        });
        let (_, lost) = wait_settled(&target(socket), starting, Instant::now());
        server.join().unwrap();
        assert_eq!(
            lost.as_deref(),
            Some("the server answered 404 to /api/instances/abc; see clauster status")
        );
    }
}
