//! The standard bridge, `claude remote-control …` (fake-claude.md §4): argument checking like
//! the real CLI, the debug-log markers, the banner, the bridge pointer, and the modes.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use nix::sys::signal::Signal;

use crate::children;
use crate::help;
use crate::hooks::{self, HookRun};
use crate::knobs::Knobs;
use crate::signals::{Signals, Wake};
use crate::transcript;
use crate::util::{self, DebugLog, choice};

const PERMISSION_MODES: [&str; 7] = [
    "acceptEdits",
    "auto",
    "bypassPermissions",
    "default",
    "manual",
    "dontAsk",
    "plan",
];
const SPAWN_MODES: [&str; 3] = ["same-dir", "worktree", "session"];
/// How recent a pointer must be for `--continue` (claude: "roughly the last 4 hours").
const CONTINUE_WINDOW: Duration = Duration::from_hours(4);
const CONTINUE_MISSING: &str =
    "Error: no Remote Control session was recorded in this directory in the last 4 hours";

#[derive(Default, Debug)]
struct Args {
    debug_file: Option<PathBuf>,
    spawn: Option<String>,
    capacity: Option<u32>,
    permission_mode: Option<String>,
    create_session_in_dir: Option<bool>,
    continue_: bool,
    session_id: Option<String>,
    help: bool,
}

/// Options that take a value, with their placeholder (for commander-style messages).
fn placeholder(name: &str, old: bool) -> Option<&'static str> {
    Some(match name {
        "--name" => "<name>",
        "--debug-file" => "<path>",
        "--spawn" | "--permission-mode" => "<mode>",
        "--capacity" => "<N>",
        "--remote-control-session-name-prefix" => "<prefix>",
        "--session-id" if !old => "<id>",
        _ => return None,
    })
}

/// Parses the arguments after `remote-control`; `Err` is the message after `error: `.
fn parse(args: &[String], old: bool) -> Result<Args, String> {
    let mut out = Args::default();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        if let Some(ph) = placeholder(name, old) {
            let value = match inline {
                Some(v) => v,
                None if i < args.len() => {
                    i += 1;
                    args[i - 1].clone()
                }
                None => return Err(format!("option '{name} {ph}' argument missing")),
            };
            match name {
                "--debug-file" => out.debug_file = Some(PathBuf::from(value)),
                "--spawn" => out.spawn = Some(choice("--spawn <mode>", value, &SPAWN_MODES)?),
                "--capacity" => match value.parse::<u32>() {
                    Ok(n) if n > 0 => out.capacity = Some(n),
                    _ => {
                        return Err(format!(
                            "option '--capacity <N>' argument '{value}' is invalid. Expected a positive integer."
                        ));
                    }
                },
                "--permission-mode" => {
                    out.permission_mode = Some(choice(
                        "--permission-mode <mode>",
                        value,
                        &PERMISSION_MODES,
                    )?);
                }
                "--session-id" => out.session_id = Some(value),
                _ => {} // --name, --remote-control-session-name-prefix: accepted, unused
            }
            continue;
        }
        if inline.is_some() && name.starts_with("--") {
            return Err(format!("unknown option '{arg}'"));
        }
        match name {
            "-h" | "--help" => out.help = true,
            "-v" | "--verbose" => {}
            "--create-session-in-dir" => out.create_session_in_dir = Some(true),
            "--no-create-session-in-dir" => out.create_session_in_dir = Some(false),
            "-c" | "--continue" if !old => out.continue_ = true,
            _ if name.starts_with('-') => return Err(format!("unknown option '{arg}'")),
            _ => {
                return Err(format!(
                    "too many arguments for 'remote-control'. Expected 0 arguments but got 1: '{arg}'."
                ));
            }
        }
    }
    if out.capacity.is_some() && out.spawn.as_deref() == Some("session") {
        return Err("--capacity cannot be used with --spawn session".to_string());
    }
    if out.continue_ && out.session_id.is_some() {
        return Err("--continue cannot be used with --session-id".to_string());
    }
    let reattach = if out.continue_ {
        Some("--continue")
    } else if out.session_id.is_some() {
        Some("--session-id")
    } else {
        None
    };
    if let Some(flag) = reattach {
        let conflict = if out.spawn.is_some() {
            Some("--spawn")
        } else if out.capacity.is_some() {
            Some("--capacity")
        } else {
            out.create_session_in_dir.map(|on| {
                if on {
                    "--create-session-in-dir"
                } else {
                    "--no-create-session-in-dir"
                }
            })
        };
        if let Some(other) = conflict {
            return Err(format!("{flag} cannot be used with {other}"));
        }
    }
    Ok(out)
}

/// The `--debug-file` value, found leniently (before validation) for the argv/env records.
pub fn find_debug_file(args: &[String]) -> Option<PathBuf> {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--debug-file" {
            return it.next().map(PathBuf::from);
        }
        if let Some(v) = a.strip_prefix("--debug-file=") {
            return Some(PathBuf::from(v));
        }
    }
    None
}

pub fn environment_id(cwd: &Path) -> String {
    format!("env_01FAKE{}", util::hashed_id(&cwd.to_string_lossy(), 20))
}

fn fresh_session_id() -> String {
    let launch = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!(
        "session_01FAKE{}",
        util::hashed_id(&format!("{}:{launch}", std::process::id()), 20)
    )
}

fn pointer_path(cwd: &Path) -> PathBuf {
    util::project_dir(cwd).join("bridge-pointer.json")
}

/// (sessionId, environmentId, age) of the directory's pointer.
fn read_pointer(cwd: &Path) -> Option<(String, String, Duration)> {
    let path = pointer_path(cwd);
    let value = util::read_json(&path)?;
    let field = |k: &str| {
        value
            .get(k)
            .and_then(serde_json::Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let age = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .unwrap_or(Duration::ZERO);
    Some((field("sessionId"), field("environmentId"), age))
}

fn write_pointer(cwd: &Path, session: &str, env: &str) {
    let js = |v: &str| serde_json::to_string(v).unwrap_or_default();
    let text = format!(
        "{{\"sessionId\": {}, \"environmentId\": {}, \"source\": \"standalone\", \"pid\": {}, \"procStart\": {}}}",
        js(session),
        js(env),
        std::process::id(),
        js(&util::own_start_ticks())
    );
    let _ = util::write_atomic(&pointer_path(cwd), text.as_bytes());
}

/// How the starter session comes about.
enum Start {
    /// "Created initial session".
    Fresh,
    /// A reattach: `[remote-bridge] Unarchive`, ids from the pointer or `--session-id`.
    Reattach {
        session: Option<String>,
        env: Option<String>,
    },
}

struct Bridge<'a> {
    knobs: &'a Knobs,
    log: DebugLog,
    signals: Signals,
    ignore_interrupts: bool,
}

impl Bridge<'_> {
    /// Waits until `deadline` while answering signals; returns when the deadline passes.
    fn sleep_until(&mut self, deadline: Instant) {
        while Instant::now() < deadline {
            if let Wake::Signal(sig) = self.signals.wait_until(Some(deadline)) {
                self.on_signal(sig);
            }
        }
    }

    fn on_signal(&mut self, sig: Signal) {
        if self.ignore_interrupts && matches!(sig, Signal::SIGINT | Signal::SIGTERM) {
            return;
        }
        self.log.debug(&format!(
            "[bridge:shutdown] {} received, shutting down",
            sig.as_str()
        ));
        std::process::exit(0);
    }
}

/// `args`: everything after the program name, starting with `remote-control`.
pub fn run(knobs: &Knobs, args: &[String]) -> i32 {
    let debug_file = find_debug_file(args);
    if let Some(path) = &debug_file {
        util::record_invocation(path, args);
    }
    // Like 2.1.328, the login check comes before argument validation in this form.
    if !knobs.logged_in() {
        eprint!("{}", help::logged_out_error());
        return 1;
    }
    let parsed = match parse(&args[1..], knobs.old_help()) {
        Ok(p) => p,
        Err(msg) => {
            eprintln!("error: {msg}");
            return 1;
        }
    };
    if parsed.help {
        print!("{}", help::remote_control_help(knobs));
        return 0;
    }
    let mode = knobs.string("MODE", "ready");
    let mode = if mode.starts_with("pty_") {
        "ready".to_string()
    } else {
        mode
    };
    let cwd = util::canonical_cwd();
    let mut log = DebugLog::open(parsed.debug_file.as_deref());

    match mode.as_str() {
        "crash" => return 1,
        "stderr_error" => {
            eprintln!("Error: failed to authenticate bridge to controller (HTTP 401)");
            return 1;
        }
        "not_eligible" => {
            eprintln!("Error: Remote Control is not yet enabled for your account.");
            return 1;
        }
        "trust_error" => return not_trusted(&mut log),
        _ => {}
    }
    if knobs.flag("CHECK_TRUST", false) && !util::is_trusted(&cwd) {
        return not_trusted(&mut log);
    }
    if knobs.flag("CHECK_ACK", false) && !util::is_acknowledged() && !ask_enable() {
        eprintln!("Remote Control was not enabled");
        return 1;
    }

    let start = match decide_start(&parsed, &mode, &cwd) {
        Ok(start) => start,
        Err(code) => return code,
    };

    let mut bridge = Bridge {
        knobs,
        log,
        signals: Signals::install(knobs.max_lifetime()),
        ignore_interrupts: knobs.flag("IGNORE_SIGINT", false),
    };
    children::spawn_children(knobs);

    let delay = knobs.millis("DELAY_MS", 0);
    if !delay.is_zero() {
        bridge.sleep_until(Instant::now() + delay);
    }
    if mode == "stall" {
        bridge
            .log
            .debug("[bridge:init] waiting for OAuth token permissions");
        loop {
            if let Wake::Signal(sig) = bridge.signals.wait_until(None) {
                bridge.on_signal(sig);
            }
        }
    }
    if mode == "slow" {
        let slow = knobs.seconds_f64("SLOW", 1.0);
        bridge.sleep_until(Instant::now() + slow);
    }
    let spawn = parsed
        .spawn
        .clone()
        .unwrap_or_else(|| "same-dir".to_string());
    let capacity = parsed.capacity.unwrap_or(1);
    run_ready(
        &mut bridge,
        &mode,
        &cwd,
        start,
        &spawn,
        capacity,
        parsed.debug_file,
    )
}

/// Fresh, or a reattach (`--continue`, `--session-id`, mode `resume`); `Err` is the exit code.
fn decide_start(parsed: &Args, mode: &str, cwd: &Path) -> Result<Start, i32> {
    let start = if parsed.continue_ {
        let pointer =
            read_pointer(cwd).filter(|(s, _, age)| !s.is_empty() && *age <= CONTINUE_WINDOW);
        match pointer {
            Some((session, env, _)) if mode != "continue_missing" => Start::Reattach {
                session: Some(session),
                env: Some(env).filter(|e| !e.is_empty()),
            },
            _ => {
                eprintln!("{CONTINUE_MISSING}");
                return Err(1);
            }
        }
    } else if let Some(id) = parsed.session_id.clone() {
        let env = read_pointer(cwd)
            .map(|(_, e, _)| e)
            .filter(|e| !e.is_empty());
        Start::Reattach {
            session: Some(id),
            env,
        }
    } else if mode == "resume" {
        let pointer = read_pointer(cwd);
        Start::Reattach {
            session: pointer
                .as_ref()
                .map(|p| p.0.clone())
                .filter(|s| !s.is_empty()),
            env: pointer.map(|p| p.1).filter(|e| !e.is_empty()),
        }
    } else {
        Start::Fresh
    };

    Ok(start)
}

fn not_trusted(log: &mut DebugLog) -> i32 {
    log.line("ERROR", "Workspace not trusted");
    eprintln!("Error: Workspace not trusted. Run `claude` in this directory once to trust it.");
    1
}

/// The one-time consent prompt; `true` only for an explicit yes.
fn ask_enable() -> bool {
    print!("Enable Remote Control? (y/n) ");
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    match std::io::stdin().lock().read_line(&mut line) {
        Ok(n) if n > 0 => matches!(line.trim(), "y" | "Y" | "yes"),
        _ => false,
    }
}

fn run_ready(
    bridge: &mut Bridge<'_>,
    mode: &str,
    cwd: &Path,
    start: Start,
    spawn: &str,
    capacity: u32,
    debug_file: Option<PathBuf>,
) -> i32 {
    let knobs = bridge.knobs;
    let (session, env, fresh) = match start {
        Start::Fresh => (fresh_session_id(), environment_id(cwd), true),
        Start::Reattach { session, env } => (
            session.unwrap_or_else(fresh_session_id),
            env.unwrap_or_else(|| environment_id(cwd)),
            false,
        ),
    };
    let log = &mut bridge.log;
    log.debug(&format!(
        "[bridge:init] bridgeId={} dir={} branch=HEAD gitRepoUrl=null machine=fake",
        util::random_uuid(),
        cwd.display()
    ));
    log.debug(&format!(
        "[bridge:api] POST /v1/environments/bridge -> 200 environment_id={env}"
    ));
    let uuid = transcript::uuid_for_session(&session);
    let transcript_on = knobs.flag("TRANSCRIPT", false);
    let transcript_path = transcript::path_for(cwd, &uuid);
    if fresh && mode != "poison" {
        log.debug(&format!("[bridge:init] Created initial session {session}"));
        if transcript_on {
            transcript::write_fixture(&uuid, cwd);
        }
    } else if !fresh {
        log.debug(&format!("[remote-bridge] Unarchive {session}"));
    }
    if mode == "no_marker" {
        return 0;
    }
    log.debug(&format!(
        "[bridge:work] Starting poll loop spawnMode={spawn} maxSessions={capacity} environmentId={env}"
    ));
    if mode == "poison" {
        log.debug(
            r#"{"type":"control_request","request":{"subtype":"end_session","reason":"archived"}}"#,
        );
    }
    if mode == "log_extra" || knobs.flag("LOG_EXTRA", false) {
        log.debug(&format!(
            "\x1b[33mContinue at https://claude.ai/code/{session} Authorization: Bearer sk-FAKEFAKEFAKEFAKE0123\x1b[0m"
        ));
    }
    println!(
        "Remote Control active · Continue coding in the Claude mobile app or https://claude.ai/code?environment={env}"
    );
    println!("https://claude.ai/code/{session}?environment={env}");
    let _ = std::io::stdout().flush();
    if knobs.flag("WRITE_POINTER", true) {
        write_pointer(cwd, &session, &env);
    }
    if knobs.flag("RUN_HOOKS", false) {
        hooks::spawn(HookRun {
            session_uuid: uuid.clone(),
            transcript_path: transcript_path.clone(),
            cwd: cwd.to_path_buf(),
            source: if fresh { "startup" } else { "resume" },
            debug_file,
        });
    }

    let ready_at = Instant::now();
    let exit_after = match knobs.u64("EXIT_AFTER_MS") {
        Some(0) | None if mode == "session_end" => Some(Duration::from_millis(500)),
        Some(0) | None => None,
        Some(ms) => Some(Duration::from_millis(ms)),
    }
    .map(|d| ready_at + d);
    let append_every = knobs.millis("TRANSCRIPT_APPEND_MS", 0);
    let append_every = (transcript_on && !append_every.is_zero()).then_some(append_every);
    let mut next_append = append_every.map(|d| ready_at + d);
    let mut reply = 2;
    loop {
        let deadline = [exit_after, next_append].into_iter().flatten().min();
        match bridge.signals.wait_until(deadline) {
            Wake::Signal(sig) => bridge.on_signal(sig),
            Wake::Timeout => {
                let now = Instant::now();
                if exit_after.is_some_and(|t| now >= t) {
                    bridge
                        .log
                        .debug(&format!("[bridge:work] Session {session} ended, exiting"));
                    return 0;
                }
                if let (Some(t), Some(every)) = (next_append, append_every)
                    && now >= t
                {
                    transcript::append_reply(&transcript_path, &uuid, cwd, reply);
                    reply += 1;
                    next_append = Some(t + every);
                }
            }
        }
    }
}
