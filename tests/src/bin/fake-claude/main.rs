#![allow(clippy::print_stdout)] // printing is this program's job
#![forbid(unsafe_code)]
//! The project's test double of `claude` (spec: fake-claude.md).
//!
//! One process for its whole life (no fork-and-exit, no re-exec): the pid that tests and
//! Clauster see is the pid that writes the pointer and receives the signals. Behaviour is
//! chosen by `FAKE_CLAUDE_*` knobs (`knobs`), dispatched on argv here.
//!
//! Code map: `standard` (the `remote-control` subcommand), `pty` (the `--remote-control`
//! TUI), `help` (help texts, `auth status`, `agents`), `login` (`auth login` / `logout`), `transcript`, `hooks`, `children`,
//! `signals` (signals as channel events), `util` (ids, paths, files).

mod children;
mod help;
mod hooks;
mod knobs;
mod login;
mod pty;
mod signals;
mod standard;
mod transcript;
mod util;

use std::io::Write;

use knobs::Knobs;

fn main() {
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    if args.first().map(String::as_str) == Some("__fake_child") {
        children::run_child(args.get(1).map(String::as_str));
    }
    let knobs = Knobs::load();
    if let Some(path) = knobs.get("ARGV_LOG").filter(|p| !p.is_empty()) {
        log_invocation(std::path::Path::new(&path), &args);
    }
    let code = dispatch(&knobs, &args);
    let _ = std::io::stdout().flush();
    std::process::exit(code);
}

/// `FAKE_CLAUDE_ARGV_LOG`: one JSON line per invocation (arguments after the program name).
fn log_invocation(path: &std::path::Path, args: &[String]) {
    let mut env_names: Vec<String> = std::env::vars_os()
        .map(|(k, _)| k.to_string_lossy().into_owned())
        .collect();
    env_names.sort();
    let line = serde_json::json!({
        "argv": args,
        "cwd": std::env::current_dir().map(|d| d.to_string_lossy().into_owned()).unwrap_or_default(),
        "pid": std::process::id(),
        "env_names": env_names,
    });
    util::append_line(path, &line.to_string());
}

fn dispatch(knobs: &Knobs, args: &[String]) -> i32 {
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    match argv.as_slice() {
        ["--version" | "-v"] => {
            println!("{} (Claude Code)", knobs.version());
            0
        }
        ["--help" | "-h"] => {
            print!("{}", help::top_level_help(knobs));
            0
        }
        ["remote-control", "--help" | "-h"] => {
            if knobs.logged_in() {
                print!("{}", help::remote_control_help(knobs));
                0
            } else {
                eprint!("{}", help::logged_out_error());
                1
            }
        }
        ["auth", "status", "--json"] => auth_status(knobs),
        ["auth", "login", ..] => login::login(knobs, args),
        ["auth", "logout"] => login::logout(),
        ["setup-token"] => login::setup_token(knobs),
        ["agents", "--json"] => {
            let out = help::agents(knobs);
            print!("{out}");
            if !out.ends_with('\n') {
                println!();
            }
            0
        }
        ["remote-control", ..] => standard::run(knobs, args),
        ["--bg" | "--background", ..] => {
            println!("backgrounded · 3c509237");
            0
        }
        _ if pty::is_flag_form(args) => pty::run(knobs, args),
        _ if is_noop(&argv) => 0,
        _ => {
            eprintln!("fake-claude: unsupported arguments: {}", args.join(" "));
            2
        }
    }
}

/// Commands the fake accepts and does nothing for.
fn is_noop(argv: &[&str]) -> bool {
    matches!(
        argv,
        ["stop" | "kill" | "rm", _] | ["mcp" | "plugin" | "plugins", ..]
    )
}

fn auth_status(knobs: &Knobs) -> i32 {
    if knobs.flag("AUTH_HANG", false) {
        // Hangs like an unreachable auth server; the safety deadline still ends it.
        std::thread::sleep(knobs.max_lifetime());
        return 0;
    }
    let (out, code) = help::auth_status(knobs);
    print!("{out}");
    code
}
