//! The checks of `clauster doctor` and `GET /api/doctor` (cli.md §4, http-api.md §3): the
//! probing half. Commands run as tokio processes with timeouts, file and store reads on a
//! blocking thread; every verdict comes from `clauster_core::doctor`. The CLI calls
//! [`checks`] in its own process and adds `port` and `server`; the route serves the same
//! list.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use clauster_core::config::Config;
use clauster_core::doctor::{self, Verdict};
use clauster_wire::{Check, CheckReport, CheckStatus};

use crate::bridge_env::{self, BridgeEnv};
use crate::probe;
use crate::projects;
use crate::state::{AppState, ProcessEnv};
use crate::store;
use crate::trust;

/// The last place the config search looks (cli.md §4: the list ends with it).
pub const SYSTEM_CONFIG: &str = "/etc/clauster/clauster.yml";
/// How long `systemctl show` may take.
const SYSTEMCTL_TIMEOUT: Duration = Duration::from_secs(5);

/// One row as the wire carries it.
pub fn check(name: &str, verdict: Verdict) -> Check {
    let (status, detail) = match verdict {
        Verdict::Ok(d) => (CheckStatus::Ok, d),
        Verdict::Warn(d) => (CheckStatus::Warn, d),
        Verdict::Fail(d) => (CheckStatus::Fail, d),
    };
    Check::new(name, status, detail)
}

/// The file the server's configuration came from (`None`: built-in defaults), for the
/// `config` row of `/api/doctor`.
#[derive(Clone, Debug)]
pub struct ConfigOrigin(pub Option<PathBuf>);

/// The `config` row for a configuration that loaded: `loaded <path>` (a warning when the
/// file has `unknown` keys, named), or the defaults warning with the list searched from
/// this process's directory and environment.
pub fn config_row(file: Option<&Path>, unknown: &[String]) -> Check {
    let verdict = if let Some(path) = file {
        let loaded = format!("loaded {}", path.display());
        if unknown.is_empty() {
            Verdict::Ok(loaded)
        } else {
            let ignored = clauster_core::config::unknown_keys_ignored(unknown);
            Verdict::Warn(format!("{loaded}; {ignored}"))
        }
    } else {
        let env = |name: &str| std::env::var(name).ok();
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
        let home = env("HOME").filter(|h| !h.is_empty()).map(PathBuf::from);
        doctor::no_config_file(&doctor::config_search_list(
            &cwd,
            env(clauster_core::config::CONFIG_HOME).as_deref(),
            env("XDG_CONFIG_HOME").as_deref(),
            home.as_deref(),
            Path::new(SYSTEM_CONFIG),
        ))
    };
    check("config", verdict)
}

/// `GET /api/doctor`: every check but `port` and `server`. The `config` row re-reads the
/// file the server started from, so an edit that broke it since shows here (1.3.2 does the
/// same, issue 18); the other checks use the configuration the server runs with.
pub async fn api_doctor(
    State(state): State<AppState>,
    Extension(origin): Extension<ConfigOrigin>,
) -> Response {
    let first = match origin.0.clone() {
        Some(path) => tokio::task::spawn_blocking(move || reread_config_row(&path))
            .await
            .unwrap_or_else(|_| config_row(origin.0.as_deref(), &[])),
        None => config_row(None, &[]),
    };
    let rows = checks(&state.config(), first).await;
    Json(CheckReport::from_checks(rows)).into_response()
}

/// The `config` row of the file as it is now: `loaded <path>`, or a failure that names the
/// problem's position but never echoes the file's content (it may hold secrets).
fn reread_config_row(path: &Path) -> Check {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) => {
            return check(
                "config",
                Verdict::Fail(format!("cannot read {}: {err}", path.display())),
            );
        }
    };
    // The variables as the CLI hands them to the loader: `_FILE` twins read into the plain
    // name (config.md §2); a twin that cannot be read leaves its key to the file.
    let mut env = std::collections::BTreeMap::new();
    let mut env_from_file = std::collections::BTreeMap::new();
    for (name, value) in std::env::vars().filter(|(name, _)| name.starts_with("CLAUSTER_")) {
        match name.strip_suffix("_FILE") {
            Some(plain) if clauster_core::config::has_file_twin(plain) => {
                if let Ok(content) = fs::read_to_string(&value) {
                    env.insert(plain.to_owned(), content.trim().to_owned());
                    env_from_file.insert(plain.to_owned(), name.clone());
                }
            }
            _ => {
                env.insert(name, value);
            }
        }
    }
    let input = clauster_core::config::ConfigInput {
        text: Some(text),
        source_name: path.display().to_string(),
        env,
        env_from_file,
        flags: std::collections::BTreeMap::new(),
        home: std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from),
        cwd: std::env::current_dir().ok(),
    };
    match clauster_core::config::load_lenient(&input) {
        Ok((loaded, problems)) if problems.is_empty() => {
            config_row(Some(path), &loaded.unknown_keys)
        }
        Ok((_, problems)) => check(
            "config",
            Verdict::Fail(
                clauster_core::config::ConfigError::Invalid(clauster_core::config::Problems(
                    problems,
                ))
                .to_string(),
            ),
        ),
        Err(clauster_core::config::ConfigError::Syntax { line, column, .. }) => check(
            "config",
            Verdict::Fail(format!(
                "config is not valid YAML (line {line}, column {column}); fix {} and restart",
                path.display()
            )),
        ),
        Err(err) => check("config", Verdict::Fail(err.to_string())),
    }
}

/// Every check of cli.md §4 except `port` and `server`, in the table's order, `config_row`
/// first.
pub async fn checks(config: &Config, config_row: Check) -> Vec<Check> {
    let server_env: Vec<(OsString, OsString)> = std::env::vars_os().collect();
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from);
    let nvm_bin = bridge_env::find_nvm_default_bin(&server_env, home.as_deref()).await;
    let nvm_present = server_env
        .iter()
        .find(|(name, value)| name == "NVM_DIR" && !value.is_empty())
        .map(|(_, value)| PathBuf::from(value))
        .or_else(|| home.as_ref().map(|h| h.join(".nvm")))
        .is_some_and(|dir| dir.join("nvm.sh").is_file());
    let env = BridgeEnv::build(config, server_env, nvm_bin.clone());

    let mut rows = vec![config_row];
    rows.extend(claude_rows(config, &env, home.as_deref()).await);
    let api_key = env
        .get("ANTHROPIC_API_KEY")
        .is_some_and(|value| !value.is_empty());
    rows.push(check("api-key-env", doctor::api_key_env(api_key)));

    let disk = {
        let config = config.clone();
        let env = env.clone();
        let home = home.clone();
        tokio::task::spawn_blocking(move || disk_rows(&config, &env, home.as_deref()))
            .await
            .unwrap_or_default()
    };
    // projects_root, state_dir, store, git, then auth, then workspace-trust.
    let mut disk = disk.into_iter();
    rows.extend(disk.by_ref().take(4));
    rows.push(check("auth", doctor::auth(config)));
    rows.push(check("notifications", doctor::notifications(config)));
    rows.extend(disk.by_ref().take(1));
    let orphans = disk.next();

    rows.push(check("systemd", systemd(&env, home.as_deref()).await));
    let bridge_path = env.get("PATH").map(|p| p.to_string_lossy().into_owned());
    rows.push(check(
        "node-toolchain",
        doctor::node_toolchain(&doctor::NvmFindings {
            nvm_present,
            default_node_dir: nvm_bin.as_deref(),
            node_from_nvm: config.claude.node_from_nvm,
            bridge_path: bridge_path.as_deref(),
        }),
    ));
    rows.extend(orphans);
    rows.push(check("platform", platform()));
    rows
}

/// `claude`, `claude-capabilities`, `claude-login`, `claude-paths`.
async fn claude_rows(config: &Config, env: &BridgeEnv, home: Option<&Path>) -> Vec<Check> {
    let paths_row = |login: Option<&probe::LoginState>| {
        let config_dir = env
            .get("CLAUDE_CONFIG_DIR")
            .filter(|d| !d.is_empty())
            .map_or_else(
                || home.unwrap_or(Path::new("/")).join(".claude"),
                PathBuf::from,
            );
        let projects_dir = login
            .and_then(|l| l.projects_directory.as_deref())
            .map_or_else(|| config_dir.join("projects"), PathBuf::from);
        let reported = login
            .and_then(|l| l.config_directory.as_deref())
            .map(PathBuf::from);
        check(
            "claude-paths",
            doctor::claude_paths(&doctor::ClaudePaths {
                config_dir: &config_dir,
                global_file: &trust::global_config_file(config, &ProcessEnv),
                settings_file: &trust::settings_file(config, &ProcessEnv),
                projects_dir: &projects_dir,
                reported_config_dir: reported.as_deref(),
            }),
        )
    };
    let claude = match bridge_env::resolve_binary(&config.claude.binary, env, home) {
        Ok(path) => path,
        Err(not_found) => {
            return vec![
                check("claude", Verdict::Fail(not_found)),
                check(
                    "claude-capabilities",
                    Verdict::Warn("probe failed: claude not found".to_owned()),
                ),
                check(
                    "claude-login",
                    Verdict::Warn("cannot check: claude not found".to_owned()),
                ),
                paths_row(None),
            ];
        }
    };
    let cwd = if config.state_dir.is_dir() {
        config.state_dir.clone()
    } else {
        home.map_or_else(|| PathBuf::from("/"), Path::to_path_buf)
    };
    let report = probe::probe(&claude, env, &cwd).await;
    let version_row = match &report.version {
        Some(found) => doctor::claude_version(Some(found), &config.claude.min_version),
        None => Verdict::Fail(format!(
            "{} --version failed or printed nothing",
            claude.display()
        )),
    };
    let capabilities = if report.version.is_some() {
        let caps = &report.capabilities;
        Verdict::Ok(format!(
            "remote-control --continue: {} · default mode token: {}",
            if caps.rc_continue { "yes" } else { "no" },
            caps.rc_default_token.as_token()
        ))
    } else {
        Verdict::Warn(format!(
            "probe failed: {} --version did not answer",
            claude.display()
        ))
    };
    let login = report.login_answered.then_some(&report.login);
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let login_row = doctor::claude_login(
        login
            .map(|l| doctor::LoginAnswer {
                logged_in: l.ok,
                method: l.method.as_deref(),
                expires_at_ms: l.expires_at_ms,
            })
            .as_ref(),
        now_ms,
    );
    vec![
        check("claude", version_row),
        check("claude-capabilities", capabilities),
        check("claude-login", login_row),
        paths_row(login),
    ]
}

/// `projects_root`, `state_dir`, `store`, `git`, `workspace-trust`, `orphan-keepers`.
fn disk_rows(config: &Config, env: &BridgeEnv, home: Option<&Path>) -> Vec<Check> {
    let discovered = projects::discover(&config.projects_root).ok();
    let root = check("projects_root", projects_root(config));
    // Discovery after the row: the default root may just have been created.
    let discovered = discovered.or_else(|| projects::discover(&config.projects_root).ok());
    let state = check("state_dir", state_dir(&config.state_dir));
    let summary = store::inspect(&config.state_dir);
    let store_row = check(
        "store",
        match &summary {
            Ok(s) if !s.exists => {
                Verdict::Ok("not created yet; the first start creates it".to_owned())
            }
            Ok(s) if s.schema < s.supported => Verdict::Ok(format!(
                "schema v{}, {} instances (migrates to v{} on the next start)",
                s.schema, s.instances, s.supported
            )),
            Ok(s) => Verdict::Ok(format!("schema v{}, {} instances", s.schema, s.instances)),
            Err(err) => Verdict::Fail(err.to_string()),
        },
    );
    let git = check(
        "git",
        match bridge_env::resolve_binary("git", env, home) {
            Ok(path) => Verdict::Ok(path.display().to_string()),
            Err(_) => Verdict::Warn(
                "git not on PATH — create with git init, clone and worktree mode unavailable"
                    .to_owned(),
            ),
        },
    );
    let trust_row = check(
        "workspace-trust",
        workspace_trust(config, discovered.as_deref().unwrap_or_default()),
    );
    let known: Vec<i64> = summary.map(|s| s.keeper_pids).unwrap_or_default();
    let orphans = check(
        "orphan-keepers",
        doctor::orphan_keepers(&unknown_keepers(&config.state_dir, &known)),
    );
    vec![root, state, store_row, git, trust_row, orphans]
}

/// The rows the header's readiness shares with the doctor (ui.md §2.1): `projects_root`,
/// `state_dir` and `workspace-trust`. Blocking: run it off the async threads.
pub fn readiness_rows(config: &Config) -> (Verdict, Verdict, Verdict) {
    let root = projects_root(config);
    let state = state_dir(&config.state_dir);
    let discovered = projects::discover(&config.projects_root).unwrap_or_default();
    (root, state, workspace_trust(config, &discovered))
}

fn projects_root(config: &Config) -> Verdict {
    let root = &config.projects_root;
    let shown = root.display();
    match fs::metadata(root) {
        Err(e) if e.kind() == io::ErrorKind::NotFound && config.projects_root_is_default => {
            match fs::DirBuilder::new().mode(0o755).create(root) {
                Ok(()) => Verdict::Warn(format!("{shown} created by default just now")),
                Err(e) => Verdict::Fail(format!(
                    "cannot create the default projects_root {shown}: {e}; pass --projects-root"
                )),
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Verdict::Fail(format!(
            "{shown} does not exist; create it or point projects_root at an existing directory"
        )),
        Err(e) => Verdict::Fail(format!("{shown}: {e}")),
        Ok(meta) if !meta.is_dir() => Verdict::Fail(format!("{shown} is not a directory")),
        Ok(_) => match projects::discover(root) {
            Ok(list) => Verdict::Ok(format!("{shown} ({} projects)", list.len())),
            Err(e) => Verdict::Fail(format!("{shown} is not readable: {e}")),
        },
    }
}

/// The state directory's row: the directory itself, then a session secret others may read
/// (a warning that outranks an `ok`, never a failure or another warning).
fn state_dir(dir: &Path) -> Verdict {
    match state_dir_itself(dir) {
        Verdict::Ok(_) if let Some(warning) = readable_session_secret(dir) => {
            Verdict::Warn(warning)
        }
        verdict => verdict,
    }
}

fn readable_session_secret(dir: &Path) -> Option<String> {
    let secret = dir.join(crate::auth::session::SECRET_FILE);
    let mode = fs::symlink_metadata(&secret).ok()?.permissions().mode() & 0o777;
    let readable_by_others = mode & 0o077;
    (readable_by_others != 0).then(|| {
        format!(
            "{} has mode {mode:04o}: others may read the session secret; remove it so a new one \
             is made at the next start (every session is then logged out)",
            secret.display()
        )
    })
}

fn state_dir_itself(dir: &Path) -> Verdict {
    let shown = dir.display();
    let meta = match fs::metadata(dir) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if let Err(e) = fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
            {
                return Verdict::Fail(format!("{shown} cannot be created: {e}"));
            }
            match fs::metadata(dir) {
                Ok(meta) => meta,
                Err(e) => return Verdict::Fail(format!("{shown}: {e}")),
            }
        }
        Err(e) => return Verdict::Fail(format!("{shown}: {e}")),
    };
    if !meta.is_dir() {
        return Verdict::Fail(format!("{shown} is not a directory"));
    }
    let probe_file = dir.join(format!(".doctor-{}", std::process::id()));
    let writable = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe_file)
        .map(|_| fs::remove_file(&probe_file));
    if let Err(e) = writable {
        return Verdict::Fail(format!("{shown} is not writable: {e}"));
    }
    let mode = meta.permissions().mode() & 0o777;
    let wider = mode & 0o077 != 0;
    if !wider {
        return Verdict::Ok(format!("{shown} (writable, 0700)"));
    }
    if meta.uid() == nix::unistd::geteuid().as_raw()
        && fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).is_ok()
    {
        return Verdict::Ok(format!(
            "{shown} (writable, 0700; tightened from {mode:04o})"
        ));
    }
    Verdict::Warn(format!(
        "{shown} has mode {mode:04o}, wider than 0700, and is not ours to fix; run chmod 700 \
         on it as its owner"
    ))
}

fn workspace_trust(config: &Config, discovered: &[projects::Discovered]) -> Verdict {
    let global = trust::global_config_file(config, &ProcessEnv);
    if let Ok(text) = fs::read_to_string(&global)
        && !text.trim().is_empty()
        && let Err(err) = clauster_core::claude_json::parse_config_text(&text)
    {
        return Verdict::Fail(format!(
            "{} cannot be read as Claude's config: {err}; fix it, or move it aside and let \
             claude write a new one",
            global.display()
        ));
    }
    let trusted_paths = trust::load_trusted(&global);
    let trusted = discovered
        .iter()
        .filter(|p| {
            projects::describe(p, &trusted_paths, false).trust_state
                == clauster_wire::TrustState::Trusted
        })
        .count();
    doctor::workspace_trust(trusted, discovered.len())
}

/// Live PTY keepers (`clauster __pty-keeper__ --sidecar <state_dir>/…`) whose pid no store
/// row records, read through the engine's own `/proc` parser ([`clauster_pty::proc`]).
fn unknown_keepers(state_dir: &Path, known: &[i64]) -> Vec<i32> {
    let state_dir = fs::canonicalize(state_dir).unwrap_or_else(|_| state_dir.to_path_buf());
    let mut keepers: Vec<(i32, i32)> = Vec::new();
    for pid in clauster_pty::proc::pids() {
        let Ok(Some(observed)) = clauster_pty::proc::read_identity(pid) else {
            continue;
        };
        let args = observed.cmdline.args();
        if args.get(1).map(String::as_str) != Some(clauster_core::identity::KEEPER_SUBCOMMAND) {
            continue;
        }
        let sidecar = args
            .iter()
            .position(|a| a == "--sidecar")
            .and_then(|i| args.get(i + 1))
            .map(PathBuf::from);
        if sidecar.is_some_and(|s| s.starts_with(&state_dir)) {
            keepers.push((pid, observed.stat.ppid));
        }
    }
    // A keeper's child between fork and exec still shows the keeper's command line.
    let pids: Vec<i32> = keepers.iter().map(|(pid, _)| *pid).collect();
    let mut unknown: Vec<i32> = keepers
        .into_iter()
        .filter(|(pid, parent)| !pids.contains(parent) && !known.contains(&i64::from(*pid)))
        .map(|(pid, _)| pid)
        .collect();
    unknown.sort_unstable();
    unknown
}

/// The `systemd` row: `systemctl show` of the system unit, then the user unit; without an
/// answering systemd, the unit files themselves.
async fn systemd(env: &BridgeEnv, home: Option<&Path>) -> Verdict {
    const UNIT: &str = "clauster.service";
    if let Ok(systemctl) = bridge_env::resolve_binary("systemctl", env, home) {
        for (user, label) in [(false, UNIT.to_owned()), (true, format!("{UNIT} (user)"))] {
            let mut args: Vec<&str> = Vec::new();
            if user {
                args.push("--user");
            }
            args.extend(["show", "-p", "KillMode", "-p", "LoadState", UNIT]);
            let Some(finished) =
                probe::run(&systemctl, &args, env, Path::new("/"), SYSTEMCTL_TIMEOUT).await
            else {
                continue;
            };
            let shown = doctor::parse_systemctl_show(&finished.stdout);
            if finished.success && shown.load_state.as_deref() == Some("loaded") {
                let mode = shown.kill_mode.as_deref().unwrap_or("control-group");
                return doctor::systemd_kill_mode(&label, mode);
            }
        }
    }
    let mut files = vec![(
        PathBuf::from("/etc/systemd/system").join(UNIT),
        UNIT.to_owned(),
    )];
    if let Some(home) = home {
        files.push((
            home.join(".config/systemd/user").join(UNIT),
            format!("{UNIT} (user)"),
        ));
    }
    for (file, label) in files {
        if let Ok(text) = fs::read_to_string(&file) {
            return doctor::systemd_kill_mode(&label, &doctor::kill_mode_of_unit_file(&text));
        }
    }
    Verdict::Ok("no clauster unit installed".to_owned())
}

fn platform() -> Verdict {
    if cfg!(target_os = "linux") {
        Verdict::Ok("pty supported".to_owned())
    } else {
        Verdict::Warn(
            "pty not supported on this platform; Interactive Sessions start in standard mode"
                .to_owned(),
        )
    }
}
