//! The PTY keeper and detached-process plumbing (the only crate allowed `unsafe`).
#![deny(unsafe_code)]

#[cfg(unix)]
pub mod atomic_write;
#[cfg(target_os = "linux")]
pub mod keeper;
#[cfg(unix)]
pub mod proc;
#[cfg(target_os = "linux")]
pub mod signin;

/// Gives `SIGPIPE` back its default disposition (the process ends quietly, as `cat` or `ls`
/// do) so a one-shot command whose output goes to a closed pipe (`clauster status --json |
/// head -1`) stops instead of panicking in `println!`: the Rust runtime ignores `SIGPIPE`
/// before `main`. Not for the long-lived server, whose sockets and children's pipes must see
/// `EPIPE` as an error. Call it at the start of `main`, before any thread exists.
#[cfg(unix)]
#[allow(unsafe_code)]
pub fn restore_default_sigpipe() {
    use nix::sys::signal::{SigHandler, Signal, signal};
    // SAFETY: `SigDfl` installs no handler of ours, so no code of ours runs in a signal
    // context; the caller calls this first thing in `main`, when no other thread exists to
    // change the disposition concurrently.
    if let Err(err) = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) } {
        eprintln!("clauster: cannot restore the default SIGPIPE disposition: {err}");
    }
}

/// Names the calling thread — on the main thread, the process as `ps`, `top` and
/// `/proc/<pid>/comm` show it — `clauster[<name>]`, cut to the kernel's 15 bytes at a
/// character boundary (config.md §3.1 `instance_name`). argv is left alone.
#[cfg(target_os = "linux")]
pub fn set_process_name(instance_name: &str) {
    let mut name = format!("clauster[{instance_name}]");
    let mut end = name.len().min(15);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    name.truncate(end);
    let Ok(name) = std::ffi::CString::new(name) else {
        return;
    };
    if let Err(err) = nix::sys::prctl::set_name(&name) {
        eprintln!("clauster: cannot set the process name: {err}");
    }
}
