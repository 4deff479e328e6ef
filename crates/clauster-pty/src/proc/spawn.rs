//! Detached spawns: a new session, a given environment, stdin from `/dev/null` and output
//! appended to log files (bridges.md §4.1, §4.2).

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use clauster_core::identity::StartIdentity;
use nix::fcntl::OFlag;
use nix::sys::signal::{SigHandler, Signal, signal};

use super::identity::{read_identity, start_identity_of};

/// What to launch and where its output goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpawnSpec {
    /// Run as given: the caller resolves it (bridges.md §4.1) — with a `PATH` in `env`, a bare
    /// name is looked up on that `PATH`, never the server's.
    pub program: PathBuf,
    /// `argv[1..]`, passed as a vector, never through a shell.
    pub args: Vec<OsString>,
    pub cwd: PathBuf,
    /// The child's whole environment: nothing of this process's environment is inherited.
    pub env: Vec<(OsString, OsString)>,
    /// Opened create + append + no-follow, mode 0600 when created.
    pub stdout_log: PathBuf,
    /// May be the same path as `stdout_log`; the file is then opened once and shared.
    pub stderr_log: PathBuf,
}

/// A launched process. Keep `child` to wait on it: its exit status is only known to the
/// parent (bridges.md §4.1).
#[derive(Debug)]
pub struct Spawned {
    pub pid: i32,
    pub child: Child,
    /// Read right after the spawn; also the session id of the new session.
    pub identity: StartIdentity,
}

/// Launches `spec` in a new session (`setsid`), so it survives this process and receives none
/// of the signals aimed at this process group. SIGINT and SIGTERM start at their default
/// action even when this process ignores them.
///
/// When this returns, the program has been executed (std waits for `exec` to succeed or
/// fail), so the identity read names the new program.
pub fn spawn_detached(spec: &SpawnSpec) -> io::Result<Spawned> {
    let stdout = open_log(&spec.stdout_log)?;
    let stderr = if spec.stderr_log == spec.stdout_log {
        stdout.try_clone()?
    } else {
        open_log(&spec.stderr_log)?
    };
    let mut command = Command::new(&spec.program);
    command
        .args(&spec.args)
        .current_dir(&spec.cwd)
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr);
    new_session_on_exec(&mut command);
    let mut child = command.spawn()?;
    let pid = i32::try_from(child.id()).map_err(|_| io::Error::other("pid out of range"))?;
    // Unreaped, the child cannot vanish from /proc, so a failed read is a real error; do not
    // leave a process behind that nobody tracks.
    let observed = match read_identity(pid) {
        Ok(Some(observed)) => observed,
        Ok(None) => {
            reap(&mut child);
            return Err(io::Error::other(format!(
                "spawned pid {pid} is missing from /proc"
            )));
        }
        Err(e) => {
            reap(&mut child);
            return Err(e);
        }
    };
    Ok(Spawned {
        pid,
        child,
        identity: start_identity_of(&observed),
    })
}

#[allow(unsafe_code)]
fn new_session_on_exec(command: &mut Command) {
    // SAFETY: the closure runs in the forked child before `exec`, where only
    // async-signal-safe calls are allowed. It calls only `setsid(2)`, `signal(2)` with
    // `SIG_DFL`, `close_range(2)`, `getrlimit(2)` and `fcntl(2)` (all plain system calls: no
    // allocation, no locks) and builds an `io::Error` from an errno, which does not allocate.
    // Installing `SIG_DFL` runs no handler code.
    unsafe {
        command.pre_exec(|| {
            nix::unistd::setsid().map_err(errno_to_io)?;
            // An ignored disposition survives `exec`: a server started with SIGINT ignored
            // (a background job of a script) would otherwise launch bridges that the
            // graceful steps of terminate (bridges.md §8.2) can never reach.
            for sig in [Signal::SIGINT, Signal::SIGTERM] {
                signal(sig, SigHandler::SigDfl).map_err(errno_to_io)?;
            }
            close_inherited_on_exec();
            Ok(())
        });
    }
}

/// Marks every descriptor above 2 close-on-exec, so the program starts with only stdin,
/// stdout and stderr: nothing the server holds (a descriptor its own parent left open, a
/// library's descriptor opened without `O_CLOEXEC`) reaches a bridge or a keeper, which
/// outlive the server and would keep those files, sockets and pipes open (issue 14).
///
/// Marking instead of closing keeps std's exec-error pipe (already close-on-exec) working,
/// so a failed `exec` is still reported to the parent. Runs in the forked child.
#[allow(unsafe_code)]
fn close_inherited_on_exec() {
    use nix::libc;
    const FIRST: libc::c_uint = 3;
    // SAFETY: `close_range` (Linux 5.11 for the flag) only changes descriptor flags.
    #[cfg(target_os = "linux")]
    if unsafe {
        libc::syscall(
            libc::SYS_close_range,
            FIRST,
            libc::c_uint::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    } == 0
    {
        return;
    }
    // Older kernels and other systems: one `fcntl` per possible descriptor, up to the soft
    // limit (capped: a huge limit would make every launch slow).
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `getrlimit` writes into the struct handed to it.
    let last = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut limit) } == 0 {
        limit.rlim_cur.min(65_536)
    } else {
        1024
    };
    for fd in FIRST..libc::c_uint::try_from(last).unwrap_or(1024) {
        let Ok(fd) = libc::c_int::try_from(fd) else {
            break;
        };
        // SAFETY: `fcntl` on a number that may not be open fails with EBADF, nothing else.
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFD);
            if flags >= 0 {
                libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC);
            }
        }
    }
}

fn errno_to_io(e: nix::errno::Errno) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

fn open_log(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .custom_flags(OFlag::O_NOFOLLOW.bits())
        .open(path)
}

fn reap(child: &mut Child) {
    // Already exited is fine; either way the wait collects it.
    let _ = child.kill();
    let _ = child.wait();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proc::test_support::Guard;
    use std::os::unix::fs::PermissionsExt;
    use std::time::Duration;

    fn spec(dir: &Path, script: &str) -> SpawnSpec {
        SpawnSpec {
            program: "/bin/sh".into(),
            args: vec!["-c".into(), script.into()],
            cwd: dir.to_path_buf(),
            env: vec![("FOO".into(), "bar baz".into())],
            stdout_log: dir.join("out.log"),
            stderr_log: dir.join("err.log"),
        }
    }

    #[test]
    fn runs_with_given_cwd_env_stdin_and_logs() {
        let dir = tempfile::tempdir().unwrap();
        let cwd = dir.path().canonicalize().unwrap();
        std::fs::write(cwd.join("out.log"), "earlier\n").unwrap();
        let script = "echo out; echo err >&2; pwd; echo \"$FOO|${HOME-unset}\"; cat; echo eof";
        let s = spec(&cwd, script);
        let spawned = spawn_detached(&s).unwrap();
        let pid = spawned.pid;
        assert_eq!(spawned.identity.pid, pid);
        assert!(spawned.identity.start_ticks.is_some());
        let mut g = Guard::new(spawned);
        assert!(g.wait(Duration::from_secs(10)).unwrap().success());
        let out = std::fs::read_to_string(cwd.join("out.log")).unwrap();
        assert_eq!(
            out,
            format!("earlier\nout\n{}\nbar baz|unset\neof\n", cwd.display()),
            "appended; cwd set; environment cleared then set; stdin at EOF"
        );
        assert_eq!(
            std::fs::read_to_string(cwd.join("err.log")).unwrap(),
            "err\n"
        );
        let mode = std::fs::metadata(cwd.join("err.log"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn new_session_and_shared_log() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = spec(dir.path(), "echo one; echo two >&2; exec sleep 30");
        s.stderr_log = s.stdout_log.clone();
        let spawned = spawn_detached(&s).unwrap();
        let ticks = spawned.identity.start_ticks;
        let g = Guard::new(spawned);
        let obs = read_identity(g.pid).unwrap().unwrap();
        assert_eq!(obs.stat.session, g.pid, "session leader");
        assert_eq!(obs.stat.pgrp, g.pid, "group leader");
        assert_ne!(
            obs.stat.session,
            nix::unistd::getsid(None).unwrap().as_raw()
        );
        assert_eq!(obs.stat.start_ticks, ticks.unwrap());
        assert!(crate::proc::test_support::wait_until(
            Duration::from_secs(5),
            || std::fs::read_to_string(&s.stdout_log).unwrap() == "one\ntwo\n"
        ));
    }

    #[test]
    fn descriptors_of_this_process_do_not_reach_the_child() {
        use nix::fcntl::{FcntlArg, FdFlag, fcntl};
        use std::os::fd::AsRawFd;
        let dir = tempfile::tempdir().unwrap();
        // A descriptor opened without close-on-exec, as a careless parent hands one down.
        let held = File::create(dir.path().join("held")).unwrap();
        fcntl(&held, FcntlArg::F_SETFD(FdFlag::empty())).unwrap();
        let fd = held.as_raw_fd();
        let script = format!("test -e /proc/$$/fd/{fd} && echo leaked || echo closed");
        let mut g = Guard::new(spawn_detached(&spec(dir.path(), &script)).unwrap());
        assert!(g.wait(Duration::from_secs(10)).unwrap().success());
        assert_eq!(
            std::fs::read_to_string(dir.path().join("out.log")).unwrap(),
            "closed\n"
        );
        drop(held);
    }

    #[test]
    fn bare_program_is_found_on_the_given_path() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = spec(dir.path(), "");
        s.program = "sh".into();
        s.args = vec!["-c".into(), "echo \"$PATH\"".into()];
        s.env.push(("PATH".into(), "/usr/bin:/bin".into()));
        let mut g = Guard::new(spawn_detached(&s).unwrap());
        assert!(g.wait(Duration::from_secs(10)).unwrap().success());
        assert_eq!(
            std::fs::read_to_string(&s.stdout_log).unwrap(),
            "/usr/bin:/bin\n"
        );
    }

    #[test]
    fn failures_spawn_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut missing = spec(dir.path(), "");
        missing.program = dir.path().join("no-such-binary");
        let err = spawn_detached(&missing).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);

        let mut no_path = spec(dir.path(), "");
        no_path.program = "definitely-not-a-program-xyz".into();
        no_path.env.push(("PATH".into(), dir.path().into()));
        assert_eq!(
            spawn_detached(&no_path).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );

        let mut bad_cwd = spec(dir.path(), "");
        bad_cwd.cwd = dir.path().join("gone");
        assert!(spawn_detached(&bad_cwd).is_err());

        // A log path that is a symlink is refused (no-follow), before anything runs.
        let target = dir.path().join("target.log");
        std::fs::write(&target, "").unwrap();
        let link = dir.path().join("link.log");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let mut via_link = spec(dir.path(), "echo should-not-run > ran");
        via_link.stdout_log = link;
        assert!(spawn_detached(&via_link).is_err());
        assert!(!dir.path().join("ran").exists());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "");
    }
}
