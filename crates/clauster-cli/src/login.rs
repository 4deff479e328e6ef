//! `clauster login [--console] [--email E]` (cli.md §3): signs `claude` in for the service
//! user through the server's sign-in routes (http-api.md §3.2) over the control socket —
//! the running server's, or the engine this command starts when none runs (cli.md §2). Prints
//! the authorize URL and its QR code, reads the code from stdin, prints claude's answer.
#![allow(clippy::print_stdout)] // the link is this command's output

use std::io::{BufRead as _, Write as _};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use serde_json::{Value, json};

use crate::commands::{Target, request, success_json, target};
use crate::control_client::Answer;

/// A code answer can take 45 s before it says `pending`.
const CODE_TIMEOUT: Duration = Duration::from_secs(90);
/// How long `pending` is polled before giving up (the server kills the flow at 10 minutes).
const PENDING_POLLS: u32 = 300;

/// `POST /api/login-shepherd/<action>`, with `body` as JSON when given.
fn shepherd(target: &Target, action: &str, body: Option<&Value>) -> Result<Answer, ExitCode> {
    let body = body.map(Value::to_string);
    request(
        target,
        "POST",
        &format!("/api/login-shepherd/{action}"),
        body.as_deref().map(str::as_bytes),
        CODE_TIMEOUT,
    )
}

pub fn login(config_path: Option<&Path>, console: bool, email: Option<&str>) -> ExitCode {
    // Before any thread exists (the command's own engine is one), so every thread inherits
    // the mask and only the watcher below takes the signals.
    let signals = block_interrupts();
    let target = match target(config_path) {
        Ok(target) => target,
        Err(code) => return code,
    };
    if let Some(signals) = signals {
        cancel_on_interrupt(signals, &target.socket, &target.root_path);
    }
    let mut body = json!({"mode": "login", "method": if console { "console" } else { "claudeai" }});
    if let Some(email) = email {
        body["email"] = json!(email);
    }
    let Ok(answer) = shepherd(&target, "start", Some(&body)) else {
        return ExitCode::FAILURE;
    };
    let Some(started) = success_json(&answer) else {
        return ExitCode::from(if answer.status == 409 { 2 } else { 1 });
    };
    let Some(url) = started.get("authorize_url").and_then(Value::as_str) else {
        eprintln!("clauster: error: the server sent no sign-in link");
        return ExitCode::FAILURE;
    };
    print_link(url);
    print!("Code: ");
    let _ = std::io::stdout().flush();
    let mut code = String::new();
    let read = std::io::stdin().lock().read_line(&mut code).unwrap_or(0);
    let code = code.trim();
    if read == 0 || code.is_empty() {
        eprintln!("clauster: no code given; the sign-in was cancelled");
        let _ = shepherd(&target, "cancel", None);
        return ExitCode::FAILURE;
    }
    let Ok(answer) = shepherd(&target, "code", Some(&json!({"code": code}))) else {
        return ExitCode::FAILURE;
    };
    let Some(mut result) = success_json(&answer) else {
        return ExitCode::FAILURE;
    };
    let mut polls = 0;
    while result.get("pending").and_then(Value::as_bool) == Some(true) && polls < PENDING_POLLS {
        polls += 1;
        std::thread::sleep(Duration::from_secs(2));
        let Ok(answer) = shepherd(&target, "status", None) else {
            return ExitCode::FAILURE;
        };
        let Some(next) = success_json(&answer) else {
            return ExitCode::FAILURE;
        };
        result = next;
    }
    // Retire the finished flow (its result is read once).
    let _ = shepherd(&target, "status", None);
    let message = result
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("no answer");
    if result.get("ok").and_then(Value::as_bool) == Some(true) {
        println!("{message}");
        ExitCode::SUCCESS
    } else {
        eprintln!("clauster: sign-in failed: {message}");
        ExitCode::FAILURE
    }
}

/// Blocks SIGINT and SIGTERM on this thread (and the threads it starts): they are taken by
/// [`cancel_on_interrupt`]'s thread instead of ending the process mid-flow.
fn block_interrupts() -> Option<nix::sys::signal::SigSet> {
    use nix::sys::signal::{SigSet, Signal};
    let mut set = SigSet::empty();
    set.add(Signal::SIGINT);
    set.add(Signal::SIGTERM);
    set.thread_block().ok().map(|()| set)
}

/// Ctrl-C or SIGTERM while the flow is open cancels it on the server, then ends the command
/// (issue 20: an abandoned sign-in never lingers until its 10-minute timeout).
fn cancel_on_interrupt(signals: nix::sys::signal::SigSet, socket: &Path, root_path: &str) {
    let socket = socket.to_owned();
    let cancel = format!("{root_path}/api/login-shepherd/cancel");
    std::thread::spawn(move || {
        let Ok(signal) = signals.wait() else { return };
        let _ = clauster_server::control_client::call(
            &socket,
            "POST",
            &cancel,
            None,
            Duration::from_secs(10),
        );
        eprintln!("\nclauster: interrupted; the sign-in was cancelled");
        std::process::exit(128 + signal as i32);
    });
}

/// The authorize link and its QR code, for a phone's camera.
fn print_link(url: &str) {
    println!("Open this link, sign in, and paste the code it shows:\n\n{url}\n");
    if let Ok(code) = qrcode::QrCode::new(url.as_bytes()) {
        print!(
            "{}",
            code.render::<qrcode::render::unicode::Dense1x2>()
                .quiet_zone(true)
                .build()
        );
        println!();
    }
}
