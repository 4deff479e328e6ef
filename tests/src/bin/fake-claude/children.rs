//! `FAKE_CLAUDE_CHILDREN` / `FAKE_CLAUDE_BURN_MS`: helper processes that look like claude's
//! own children (`… claude __fake_child`), and the `__fake_child` entry point itself.

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{SigSet, Signal};

use crate::knobs::Knobs;

/// Spawns `FAKE_CLAUDE_CHILDREN` idle children; the first burns CPU for
/// `FAKE_CLAUDE_BURN_MS` (one burning child is spawned even when no count is set).
pub fn spawn_children(knobs: &Knobs) {
    let count = knobs.u64("CHILDREN").unwrap_or(0);
    let burn_ms = knobs.u64("BURN_MS").unwrap_or(0);
    let count = if burn_ms > 0 { count.max(1) } else { count };
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    // The parent's own argv[0] (the `claude` it was started as, under the test's sandbox),
    // not the resolved executable: the children look like claude's, and a sandbox that kills
    // every process naming it finds them too.
    let argv0 = std::env::args_os()
        .next()
        .unwrap_or_else(|| exe.clone().into());
    for i in 0..count {
        let mut cmd = Command::new(&exe);
        cmd.arg0(&argv0).arg("__fake_child");
        if i == 0 && burn_ms > 0 {
            cmd.arg(burn_ms.to_string());
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Ok(mut child) = cmd.spawn() {
            // Reap it if it dies while we live; it is never waited on otherwise.
            std::thread::spawn(move || {
                let _ = child.wait();
            });
        }
    }
}

/// `__fake_child [burn_ms]`: burn CPU for that long, then idle until killed. SIGHUP stays
/// blocked so a closing terminal does not take the child with its parent: only a tree kill
/// (or the `FAKE_CLAUDE_MAX_SECONDS` safety) ends it.
pub fn run_child(burn_ms: Option<&str>) -> ! {
    let mut hup = SigSet::empty();
    hup.add(Signal::SIGHUP);
    let _ = hup.thread_block();
    let mut others = SigSet::empty();
    others.add(Signal::SIGINT);
    others.add(Signal::SIGTERM);
    let _ = others.thread_unblock();

    let started = Instant::now();
    let max = Knobs::load().max_lifetime();
    if let Some(ms) = burn_ms.and_then(|v| v.parse::<u64>().ok()) {
        let until = started + Duration::from_millis(ms);
        let mut x: u64 = 1;
        while Instant::now() < until {
            for _ in 0..100_000 {
                x = std::hint::black_box(x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1));
            }
        }
    }
    let remaining = max.saturating_sub(started.elapsed());
    std::thread::sleep(remaining);
    std::process::exit(0);
}
