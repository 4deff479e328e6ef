//! The `clauster` command: argument parsing, the config file search, and composition.
#![forbid(unsafe_code)]

#[cfg(test)]
mod cli_reference;
mod commands;
mod config_file;
mod credentials;
mod doctor;
mod headless;
mod instance_verbs;
mod login;
mod mcp;
mod notify;
mod policy;
mod reaper;
mod recap_hook;
mod service;
mod sessions;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use clauster_server::control_client;

const AFTER_HELP: &str = "\
Configuration is read from the first file found of: -c PATH; $CLAUSTER_CONFIG; ./clauster.yml;
$CLAUSTER_HOME/clauster.yml; $XDG_CONFIG_HOME/clauster/clauster.yml (~/.config/clauster/);
/etc/clauster/clauster.yml. Without one, built-in defaults serve 127.0.0.1:7621 with
projects in ~/projects. CLAUSTER_* variables override single keys.";

#[derive(Debug, Parser)]
#[command(
    name = "clauster",
    version,
    about = "Run Claude Code bridges on your server and drive them from your phone"
)]
#[command(after_help = AFTER_HELP)]
struct Cli {
    /// Use only this config file.
    #[arg(short, long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the dashboard and the API (the default when no subcommand is given).
    Run(RunArgs),
    /// List the bridge instances of the running server.
    Status {
        /// Print the API's JSON instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Start a bridge in a project (or every kept project with --all-kept).
    Start {
        /// The project's name.
        #[arg(required_unless_present = "all_kept")]
        project: Option<String>,
        /// Bring up every kept, wanted project that has no live bridge (as at start-up).
        #[arg(long, conflicts_with_all = ["project", "trust", "mode", "spawn_mode", "permission_mode", "name", "session", "wait"])]
        all_kept: bool,
        #[command(flatten)]
        choices: commands::StartChoices,
        /// Print the API's JSON instead of the summary line.
        #[arg(long)]
        json: bool,
    },
    /// Show or change a project's restart policy and keep-running setting.
    Policy {
        /// The project's name.
        project: String,
        /// `never` or `on-failure`.
        #[arg(long, value_name = "POLICY")]
        restart: Option<String>,
        /// `yes` or `no`: bring the project's bridge back after Clauster restarts.
        #[arg(long, value_name = "YES|NO", value_parser = parse_yes_no)]
        keep_running: Option<bool>,
        /// Print the API's JSON instead of the summary line.
        #[arg(long)]
        json: bool,
    },
    /// Stop a bridge (through the running server).
    Stop {
        /// An instance id, a project name, or a unique id prefix.
        instance: String,
        /// Print the API's JSON instead of the summary line.
        #[arg(long)]
        json: bool,
    },
    /// List the projects under projects_root.
    Projects {
        /// Print the API's JSON instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Resume a stopped bridge (or start a fresh session in it).
    Resume {
        /// An instance id, a project name, or a unique id prefix.
        instance: String,
        #[command(flatten)]
        choices: instance_verbs::ResumeChoices,
        /// Print the API's JSON instead of the summary line.
        #[arg(long)]
        json: bool,
    },
    /// Forget a bridge that is not running.
    Forget {
        /// An instance id, a project name, or a unique id prefix.
        instance: String,
        /// Print the API's JSON instead of the summary line.
        #[arg(long)]
        json: bool,
    },
    /// Print the link that opens a bridge in claude.ai/code or the app.
    Open {
        /// An instance id, a project name, or a unique id prefix.
        instance: String,
        /// Also draw it as a QR code.
        #[arg(long)]
        qr: bool,
        /// Also open it with the desktop opener.
        #[arg(long)]
        launch: bool,
    },
    /// Print a bridge's debug log (redacted).
    Logs {
        /// An instance id, a project name, or a unique id prefix.
        instance: String,
        /// Keep printing new lines as they come.
        #[arg(short, long)]
        follow: bool,
        /// Only the last N lines.
        #[arg(short = 'n', long, value_name = "N")]
        lines: Option<usize>,
    },
    /// Print (or write) a service unit that keeps bridges alive across restarts.
    InstallService {
        /// The service manager: only `systemd`
        #[arg(default_value = "systemd")]
        kind: String,
        /// A user unit instead of a system unit.
        #[arg(long)]
        user: bool,
        /// Write the unit (to PATH, or the default location) instead of printing it.
        #[arg(long, value_name = "PATH", num_args = 0..=1)]
        #[expect(
            clippy::option_option,
            reason = "clap's flag with an optional value: absent, bare, or with a path"
        )]
        write: Option<Option<PathBuf>>,
        /// The user a system unit runs as.
        #[arg(long, value_name = "USER")]
        run_as: Option<String>,
    },
    /// List leftover claude.ai bridge environments under projects_root; archive or delete them.
    Reaper {
        /// Only list the ghosts (the default).
        #[arg(long, conflicts_with_all = ["archive", "delete"])]
        dry_run: bool,
        /// Archive the ghosts (can be undone).
        #[arg(long, conflicts_with = "delete")]
        archive: bool,
        /// Delete the ghosts permanently (asks to type DELETE unless --yes).
        #[arg(long)]
        delete: bool,
        /// Delete without asking.
        #[arg(long, requires = "delete")]
        yes: bool,
        /// Print the API's JSON instead of the lines.
        #[arg(long)]
        json: bool,
    },
    /// Compatibility alias of `reaper`: a dry run, --archive, or --force-delete.
    ReapEnvironments {
        /// Archive the ghosts (can be undone).
        #[arg(long, conflicts_with = "force_delete")]
        archive: bool,
        /// Delete the ghosts permanently, without asking (= reaper --delete --yes).
        #[arg(long)]
        force_delete: bool,
    },
    /// List the Claude Code sessions on this machine and whose they are.
    Sessions {
        /// Print `[WorkingSession]` JSON instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Notifications: `notify test` sends a test to every webhook and Apprise URL.
    #[command(subcommand)]
    Notify(NotifyCommand),
    /// Sign claude in for this user: prints a link and its QR code, reads the code back.
    Login {
        /// Sign in with an Anthropic Console account instead of a Claude subscription.
        #[arg(long)]
        console: bool,
        /// The account's email address, to pre-fill the sign-in page.
        #[arg(long, value_name = "EMAIL")]
        email: Option<String>,
    },
    /// Check the configuration, claude, the directories and the service setup.
    Doctor {
        /// Print the checks as JSON (`{"ok", "checks"}`).
        #[arg(long)]
        json: bool,
    },
    /// Serve the MCP tools (sessions, projects, usage, logs, doctor; writes with
    /// mcp.allow_writes) on stdin/stdout, for an MCP client such as Claude Code.
    Mcp,
    /// Print the version.
    Version {
        /// Print `{"version", "commit", "build_date", "target"}`.
        #[arg(long)]
        json: bool,
    },
    /// The PTY keeper of one pty-mode bridge (started by the server, never by hand).
    #[command(name = "__pty-keeper__", hide = true)]
    PtyKeeper(PtyKeeperArgs),
    /// Hash a password for auth.password_hash (reads it twice, without echo on a terminal).
    HashPassword,
    /// Make a new bearer token and print the auth.api_token_hash line for it.
    HashToken,
    /// Make a new metrics scrape token and print the observability.metrics_token_hash line.
    HashMetricsToken,
    /// Manage named bearer tokens (stored as SHA-256 hashes in the store).
    #[command(subcommand)]
    ApiToken(ApiTokenCommand),
}

/// `clauster __pty-keeper__` (pty.md §2).
#[derive(Debug, Args)]
struct PtyKeeperArgs {
    /// The discovery sidecar to write.
    #[arg(long, value_name = "PATH")]
    sidecar: PathBuf,
    /// The bridge's working directory (default: the current directory).
    #[arg(long, value_name = "DIR")]
    cwd: Option<PathBuf>,
    /// The screen sidecar to write frames to (live terminal view).
    #[arg(long, value_name = "PATH")]
    screen_sidecar: Option<PathBuf>,
    /// Seconds to wait for a connect URL before reporting ready by timeout.
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0)]
    url_timeout: f64,
    /// The bridge argv, after `--`.
    #[arg(last = true, value_name = "ARGV")]
    argv: Vec<String>,
}

#[derive(Debug, Subcommand)]
enum NotifyCommand {
    /// Send a test notification to every configured target and report each outcome
    /// (exit 1 unless every one was delivered).
    Test {
        /// Print `{"queued", "deliveries"}` JSON instead of one line per target.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum ApiTokenCommand {
    /// Issue a token; the raw token is printed once.
    Issue(LabelArgs),
    /// List the tokens (labels and dates, never secrets).
    List {
        /// Print JSON instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Replace a token's secret, keeping its label and creation date.
    Rotate(LabelArgs),
    /// Delete a token.
    Revoke(LabelArgs),
}

#[derive(Debug, Args)]
struct LabelArgs {
    /// 1–64 characters of letters, digits, '_', '.' and '-'.
    label: Option<String>,
    /// The same, as a flag.
    #[arg(long = "label", value_name = "L")]
    label_flag: Option<String>,
}

#[derive(Debug, Args)]
struct RunArgs {
    /// Address to bind (overrides `host`).
    #[arg(long, value_name = "H")]
    host: Option<String>,
    /// Port to bind (overrides `port`).
    #[arg(long, value_name = "P")]
    port: Option<u16>,
    /// Directory whose children are the projects (overrides `projects_root`).
    #[arg(long, value_name = "DIR")]
    projects_root: Option<PathBuf>,
}

#[allow(clippy::too_many_lines)] // one dispatch arm per subcommand
fn main() -> ExitCode {
    // Claude Code's SessionStart hook (bridges.md §13.2): hidden, and before clap so that no
    // argument or parse error can ever fail a session.
    if std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == "__recap-hook__")
    {
        return recap_hook::run();
    }
    let cli = match Cli::try_parse_from(with_implied_run(std::env::args_os().collect())) {
        Ok(cli) => cli,
        Err(err) => exit_on_usage_error(&err),
    };
    // A one-shot command piped into `head` ends quietly when the reader goes away; the
    // server, the keeper and the MCP stdio server keep treating EPIPE as an error.
    if !matches!(
        cli.command,
        Command::Run(_) | Command::PtyKeeper(_) | Command::Mcp
    ) {
        clauster_pty::restore_default_sigpipe();
    }
    match cli.command {
        Command::Run(args) => run(cli.config.as_deref(), args),
        Command::Status { json } => commands::status(cli.config.as_deref(), json),
        Command::Start {
            all_kept: true,
            json,
            ..
        } => policy::start_all_kept(cli.config.as_deref(), json),
        Command::Policy {
            project,
            restart,
            keep_running,
            json,
        } => policy::policy(
            cli.config.as_deref(),
            &project,
            restart.as_deref(),
            keep_running,
            json,
        ),
        Command::Start {
            all_kept: false,
            project,
            choices,
            json,
        } => {
            let project = project.unwrap_or_default();
            commands::start(cli.config.as_deref(), &project, &choices, json)
        }
        Command::Projects { json } => commands::projects(cli.config.as_deref(), json),
        Command::Resume {
            instance,
            choices,
            json,
        } => instance_verbs::resume(cli.config.as_deref(), &instance, choices, json),
        Command::Forget { instance, json } => {
            instance_verbs::forget(cli.config.as_deref(), &instance, json)
        }
        Command::Open {
            instance,
            qr,
            launch,
        } => instance_verbs::open(cli.config.as_deref(), &instance, qr, launch),
        Command::Logs {
            instance,
            follow,
            lines,
        } => instance_verbs::logs(cli.config.as_deref(), &instance, lines, follow),
        Command::InstallService {
            kind,
            user,
            write,
            run_as,
        } => service::install(
            &kind,
            cli.config.as_deref(),
            user,
            write.map(Option::unwrap_or_default),
            run_as,
        ),
        Command::Stop { instance, json } => commands::stop(cli.config.as_deref(), &instance, json),
        Command::Reaper {
            dry_run: _,
            archive,
            delete,
            yes,
            json,
        } => reaper::run(
            cli.config.as_deref(),
            reaper::Mode::of(archive, delete),
            yes,
            json,
        ),
        Command::ReapEnvironments {
            archive,
            force_delete,
        } => reaper::run(
            cli.config.as_deref(),
            reaper::Mode::of(archive, force_delete),
            force_delete,
            false,
        ),
        Command::Doctor { json } => doctor::doctor(cli.config.as_deref(), json),
        Command::Login { console, email } => {
            login::login(cli.config.as_deref(), console, email.as_deref())
        }
        Command::Sessions { json } => sessions::sessions(cli.config.as_deref(), json),
        Command::Notify(NotifyCommand::Test { json }) => notify::test(cli.config.as_deref(), json),
        Command::PtyKeeper(args) => pty_keeper(args),
        Command::HashPassword => credentials::hash_password(),
        Command::HashToken => credentials::hash_token("api_token_hash"),
        Command::HashMetricsToken => credentials::hash_token("metrics_token_hash"),
        Command::ApiToken(action) => api_token(cli.config.as_deref(), action),
        Command::Version { json } => version(json),
        Command::Mcp => mcp::run(cli.config.as_deref()),
    }
}

/// `--keep-running yes|no`.
fn parse_yes_no(text: &str) -> Result<bool, String> {
    match text {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err("expected yes or no".into()),
    }
}

/// `clauster version [--json]`.
#[allow(clippy::print_stdout)] // the version is this command's output
fn version(json: bool) -> ExitCode {
    if json {
        let facts = serde_json::json!({
            "version": env!("CARGO_PKG_VERSION"),
            "commit": env!("BUILD_COMMIT"),
            "build_date": env!("BUILD_DATE"),
            "target": env!("BUILD_TARGET"),
        });
        commands::print_json(&facts);
    } else {
        println!("clauster {}", env!("CARGO_PKG_VERSION"));
    }
    ExitCode::SUCCESS
}

fn api_token(config: Option<&Path>, command: ApiTokenCommand) -> ExitCode {
    let (action, args) = match command {
        ApiTokenCommand::List { json } => return credentials::api_token_list(config, json),
        ApiTokenCommand::Issue(args) => (credentials::TokenAction::Issue, args),
        ApiTokenCommand::Rotate(args) => (credentials::TokenAction::Rotate, args),
        ApiTokenCommand::Revoke(args) => (credentials::TokenAction::Revoke, args),
    };
    match credentials::pick_label(args.label, args.label_flag) {
        Ok(label) => credentials::api_token(config, action, &label),
        Err(code) => code,
    }
}

/// Help and version go to stdout (exit 0); a usage error goes to stderr with the `clauster: `
/// prefix every error has (cli.md §1), and exit 2.
fn exit_on_usage_error(err: &clap::Error) -> ! {
    use clap::error::ErrorKind;
    if matches!(
        err.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
    ) || matches!(
        err.kind(),
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        err.exit();
    }
    // A closed stderr (`2>&1 | head -1`) is no reason to panic: the exit code still says it.
    let _ = std::io::Write::write_fmt(
        &mut std::io::stderr(),
        format_args!("clauster: {}", err.render()),
    );
    std::process::exit(2);
}

/// `clauster -c x.yml` means `clauster run -c x.yml` (cli.md §1): when there is no first
/// argument, or it is a flag other than help/version, `run` is inserted. A word is left to
/// clap as a subcommand (`run` takes none), so a typo gets clap's "similar subcommand" tip
/// instead of being read as an argument of `run`.
fn with_implied_run(mut args: Vec<OsString>) -> Vec<OsString> {
    const TOP_FLAGS: [&str; 4] = ["-h", "--help", "-V", "--version"];
    // The global `-c FILE` / `--config FILE` may come before the subcommand (issue 16 §10):
    // the first argument after them decides.
    let mut first = 1;
    while let Some(arg) = args.get(first).and_then(|a| a.to_str()) {
        if arg == "-c" || arg == "--config" {
            first += 2;
        } else if arg.starts_with("--config=") || (arg.starts_with("-c") && arg.len() > 2) {
            first += 1;
        } else {
            break;
        }
    }
    let implied = match args.get(first) {
        None => true,
        Some(arg) => {
            let arg = arg.to_string_lossy();
            arg.starts_with('-') && !TOP_FLAGS.contains(&arg.as_ref())
        }
    };
    if implied {
        args.insert(1.min(args.len()), OsString::from("run"));
    }
    args
}

/// Runs the PTY keeper in this process: no config, no async runtime (pty.md §1–§3).
#[cfg(target_os = "linux")]
fn pty_keeper(args: PtyKeeperArgs) -> ExitCode {
    use std::time::Duration;

    use clauster_pty::keeper;
    if !(args.url_timeout.is_finite() && args.url_timeout >= 0.0) {
        eprintln!(
            "--url-timeout must be a number of seconds (0 or more), got {}",
            args.url_timeout
        );
        return ExitCode::from(64);
    }
    let cwd = args
        .cwd
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_else(|| PathBuf::from("."));
    let code = keeper::run(keeper::KeeperArgs {
        sidecar: args.sidecar,
        cwd,
        screen_sidecar: args.screen_sidecar,
        url_timeout: Duration::from_secs_f64(args.url_timeout.min(1e9)),
        argv: args.argv,
    });
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

#[cfg(not(target_os = "linux"))]
fn pty_keeper(_args: PtyKeeperArgs) -> ExitCode {
    eprintln!("the PTY keeper is only built for Linux in this release");
    ExitCode::from(70)
}

fn run(config_path: Option<&Path>, args: RunArgs) -> ExitCode {
    // Flags override the file and the environment; validation (the network rule included)
    // sees the final values.
    let mut flags = config_file::Flags::new();
    if let Some(host) = args.host {
        flags.insert("host".into(), host);
    }
    if let Some(port) = args.port {
        flags.insert("port".into(), port.to_string());
    }
    if let Some(root) = args.projects_root {
        flags.insert("projects_root".into(), root.to_string_lossy().into_owned());
    }
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from);
    let loaded =
        match config_file::load_config(config_path, flags, std::env::vars(), &cwd, home.as_deref())
        {
            Ok(loaded) => loaded,
            Err(err) => {
                eprintln!("clauster: config error: {err}");
                return ExitCode::from(2);
            }
        };
    let dir_notices = match config_file::prepare_dirs(&loaded.config) {
        Ok(notices) => notices,
        Err(err) => {
            eprintln!("clauster: config error: {err}");
            return ExitCode::from(2);
        }
    };
    init_tracing(&loaded.config);
    // Before the runtime starts: on the main thread, the process's own name.
    #[cfg(target_os = "linux")]
    if let Some(name) = &loaded.config.instance_name {
        clauster_pty::set_process_name(name);
    }
    if loaded.path.is_none() {
        let searched: Vec<String> = loaded
            .searched
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        tracing::info!(
            "no clauster.yml found; using defaults (searched: {})",
            searched.join(", ")
        );
    }
    for notice in loaded.notices.iter().chain(&dir_notices) {
        eprintln!("clauster: {notice}");
    }

    let runtime = match headless::runtime_or_exit(None) {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    let code = runtime.block_on(serve(loaded));
    // A task still running (a request past the shutdown's grace) does not hold the exit up.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    code
}

async fn serve(loaded: config_file::LoadedConfig) -> ExitCode {
    // Before the port is bound: a signal from then on is a graceful stop, never the default
    // action that ends the process on the spot.
    let shutdown = shutdown_signal();
    let config = loaded.config;
    let (host, port) = (config.host.clone(), config.port);
    // TLS problems stop startup before the banner (cli.md §3 `run`: exit 2).
    let tls = match clauster_server::tls::prepare(&config) {
        Ok(tls) => tls,
        Err(err) => {
            eprintln!("clauster: TLS error: {err}");
            return ExitCode::from(2);
        }
    };
    if let Some(tls) = &tls {
        if let Some(reason) = &tls.generated {
            eprintln!(
                "clauster: generated a self-signed certificate ({reason}): {}",
                config
                    .state_dir
                    .join("tls")
                    .join(clauster_server::tls::CERT_NAME)
                    .display()
            );
        }
        for warning in &tls.warnings {
            tracing::warn!("{warning}");
        }
    }
    let Some(listener) = listen(&host, port, &config.state_dir).await else {
        return ExitCode::from(2);
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let bound = listener.local_addr().map_or(port, |a| a.port());
    let shown_host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.clone()
    };
    // Printed by the server once it holds the engine lock and serves.
    let banner = format!(
        "clauster {} | claude probing… | projects_root={} | {scheme}://{shown_host}:{bound}{}",
        env!("CARGO_PKG_VERSION"),
        config.projects_root.display(),
        config.root_path,
    );
    // The probe runs in the background (bridges.md §11); its outcome gets one line.
    let socket = clauster_server::control_socket_for(&config.state_dir);
    let root_path = config.root_path.clone();
    let binary = config.claude.binary.clone();
    std::thread::spawn(move || announce_probe(&socket, &root_path, &binary));
    let server_config = clauster_server::ServerConfig {
        config,
        config_file: loaded.path,
        session_secret: loaded.session_secret,
        load_input: loaded.input,
    };
    let options = clauster_server::ServeOptions {
        tls,
        banner: Some(banner),
        ..clauster_server::ServeOptions::default()
    };
    match clauster_server::serve(server_config, listener, shutdown, options).await {
        Ok(()) => ExitCode::SUCCESS,
        // Refusals the user settles before starting again: exit 2, as for the port.
        Err(
            err @ (clauster_server::ServeError::Lock(_) | clauster_server::ServeError::Control(_)),
        ) => {
            eprintln!("clauster: error: {err}");
            ExitCode::from(2)
        }
        Err(err @ clauster_server::ServeError::Tls(_)) => {
            eprintln!("clauster: {err}");
            ExitCode::from(2)
        }
        Err(err) => {
            eprintln!("clauster: error: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Binds `host:port`, or says on stderr why not (cli.md §3 `run`, exit 2). A port held by a
/// server that has exited (its engine lock still held: a child it forked a moment before
/// keeps both until it execs) is waited for, as the engine lock is (bridges.md §10.4).
async fn listen(host: &str, port: u16, state_dir: &Path) -> Option<tokio::net::TcpListener> {
    let started = std::time::Instant::now();
    let mut announced = false;
    loop {
        let err = match tokio::net::TcpListener::bind((host, port)).await {
            Ok(listener) => return Some(listener),
            Err(err) => err,
        };
        if err.kind() != std::io::ErrorKind::AddrInUse {
            eprintln!("clauster: error: cannot listen on {host}:{port}: {err}");
            return None;
        }
        match clauster_server::held_by_exited_server(state_dir) {
            Some(pid) if started.elapsed() < clauster_server::EXITED_HOLDER_WAIT => {
                if !std::mem::replace(&mut announced, true) {
                    tracing::info!(
                        "port {port} and the engine lock are still held for pid {pid}, which \
                         has exited; waiting up to {} s for them to be released",
                        clauster_server::EXITED_HOLDER_WAIT.as_secs()
                    );
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
            Some(pid) => eprintln!(
                "clauster: error: port {port} and the engine lock are still held for pid {pid}, \
                 which has exited (a process it started keeps them); stop that process or try \
                 again in a moment"
            ),
            // Most often the server of this state directory is already up (bridges.md §11).
            None => match clauster_server::server_running(state_dir) {
                Some(busy) => eprintln!("clauster: error: {busy}"),
                None => eprintln!(
                    "clauster: error: cannot listen on {host}:{port}: {err}; stop the program \
                     that uses it or set port to a free one (see clauster doctor)"
                ),
            },
        }
        return None;
    }
}

/// Prints `clauster: claude <ver>` or `clauster: warning: claude not found (<reason>)` once
/// the server's first probe finished (cli.md §3 `run`), read from `/healthz` over the control
/// socket. The reason is the readiness `claude` check's. Gives up silently after a minute.
fn announce_probe(socket: &Path, root_path: &str, binary: &str) {
    use std::time::{Duration, Instant};
    let healthz = format!("{root_path}/healthz");
    let deadline = Instant::now() + Duration::from_mins(1);
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        let Ok(answer) =
            control_client::call(socket, "GET", &healthz, None, Duration::from_secs(2))
        else {
            continue;
        };
        let Ok(health) = serde_json::from_slice::<serde_json::Value>(&answer.body) else {
            continue;
        };
        match health.get("claude_ok").and_then(serde_json::Value::as_bool) {
            Some(true) => {
                let version = health
                    .get("claude_version")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or("(unknown version)");
                eprintln!("clauster: claude {version}");
                return;
            }
            Some(false) => {
                let reason = why_claude_failed(socket, root_path).unwrap_or_else(|| {
                    format!("claude.binary '{binary}' did not answer --version")
                });
                eprintln!("clauster: warning: claude not found ({reason}; run clauster doctor)");
                return;
            }
            None => {}
        }
    }
}

/// The detail of the server's readiness `claude` check (`does not exist`, `is not an
/// executable file`, `printed nothing`), without its `claude not found: ` lead.
fn why_claude_failed(socket: &Path, root_path: &str) -> Option<String> {
    let path = format!("{root_path}/api/readiness");
    let answer = control_client::call(
        socket,
        "GET",
        &path,
        None,
        std::time::Duration::from_secs(5),
    )
    .ok()?;
    let readiness: serde_json::Value = serde_json::from_slice(&answer.body).ok()?;
    let detail = readiness["checks"]
        .as_array()?
        .iter()
        .find(|check| check["name"] == "claude")?["detail"]
        .as_str()?;
    Some(
        detail
            .strip_prefix("claude not found: ")
            .unwrap_or(detail)
            .to_owned(),
    )
}

/// Completes on SIGINT or SIGTERM (cli.md §7). Bridges are detached and keep running.
/// SIGHUP is ignored (the configuration is read at start only); a second SIGINT during the
/// shutdown exits at once with 130. The handlers are installed when this is called, not when
/// the future is first polled.
fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{SignalKind, signal};
    let handlers = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    );
    async move {
        let (Ok(mut term), Ok(mut int), Ok(mut hup)) = handlers else {
            // Without signal handlers the server can still be stopped by SIGKILL.
            std::future::pending::<()>().await;
            return;
        };
        loop {
            tokio::select! {
                _ = term.recv() => break,
                _ = int.recv() => break,
                _ = hup.recv() => {
                    tracing::info!(
                        "SIGHUP ignored: restart clauster to read its configuration again"
                    );
                }
            }
        }
        tracing::info!("shutting down; bridges keep running (a second Ctrl-C exits at once)");
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = int.recv() => {
                        eprintln!("clauster: second interrupt: exiting now");
                        std::process::exit(130);
                    }
                    _ = hup.recv() => {
                        tracing::info!("SIGHUP ignored: the server is shutting down");
                    }
                }
            }
        });
    }
}

fn init_tracing(config: &clauster_core::config::Config) {
    use clauster_core::config::{LogFormat, LogLevel};
    let level = match config.log_level {
        LogLevel::Debug => "debug",
        LogLevel::Info => "info",
        LogLevel::Warning => "warn",
        LogLevel::Error => "error",
    };
    let filter = tracing_subscriber::EnvFilter::new(format!("{level},hyper=warn,tower=warn"));
    // Colours only on a terminal and without NO_COLOR (cli.md §1): log files stay plain.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

#[cfg(test)]
mod tests {
    use super::with_implied_run;
    use std::ffi::OsString;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn run_is_implied_unless_a_subcommand_or_help_comes_first() {
        let cases: [(&[&str], &[&str]); 12] = [
            (&["clauster"], &["clauster", "run"]),
            (
                &["clauster", "-c", "x.yml", "status"],
                &["clauster", "-c", "x.yml", "status"],
            ),
            (
                &["clauster", "--config", "x.yml", "projects", "--json"],
                &["clauster", "--config", "x.yml", "projects", "--json"],
            ),
            (
                &["clauster", "--config=x.yml", "doctor"],
                &["clauster", "--config=x.yml", "doctor"],
            ),
            (
                &["clauster", "-cx.yml", "stop"],
                &["clauster", "-cx.yml", "stop"],
            ),
            (
                &["clauster", "-c", "x.yml", "--port", "1"],
                &["clauster", "run", "-c", "x.yml", "--port", "1"],
            ),
            (
                &["clauster", "-c", "x.yml"],
                &["clauster", "run", "-c", "x.yml"],
            ),
            (
                &["clauster", "--port", "1"],
                &["clauster", "run", "--port", "1"],
            ),
            (
                &["clauster", "run", "--port", "1"],
                &["clauster", "run", "--port", "1"],
            ),
            (&["clauster", "version"], &["clauster", "version"]),
            (&["clauster", "--help"], &["clauster", "--help"]),
            (&["clauster", "statu"], &["clauster", "statu"]),
        ];
        for (input, expected) in cases {
            assert_eq!(
                with_implied_run(args(input)),
                args(expected),
                "for {input:?}"
            );
        }
    }
}
