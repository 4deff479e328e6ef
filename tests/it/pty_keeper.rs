//! The PTY keeper end to end (pty.md §10): `clauster __pty-keeper__` as a real process in its
//! own process group, the fake claude's pty modes (fake-claude.md §5) on a real PTY, and the
//! sidecar files polled the way the server will read them.
#![cfg(target_os = "linux")]

use crate::support;

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use clauster_core::pty_sidecar::{
    FrameState, KeeperState, PromptKind, ReadyReason, ScreenFrame, Sidecar, parse_frame,
    parse_sidecar,
};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use support::{KillOnDrop, Sandbox, clauster_bin, fake_claude, wait_for};

struct Keeper {
    sandbox: Sandbox,
    sidecar: PathBuf,
    screen: PathBuf,
    debug: PathBuf,
    log: PathBuf,
    child: KillOnDrop,
}

/// Options of one keeper run.
struct Launch<'a> {
    mode: &'a str,
    env: &'a [(&'a str, &'a str)],
    url_timeout: &'a str,
    /// Occupy descriptors 3..=1100 first, so the keeper's PTY master lands above 1024.
    high_fds: bool,
}

impl Default for Launch<'_> {
    fn default() -> Self {
        Self {
            mode: "pty_ready",
            env: &[],
            url_timeout: "30",
            high_fds: false,
        }
    }
}

/// [`start`] with the fake in `mode` and every other default.
fn start_mode(mode: &str) -> Keeper {
    start(&Launch {
        mode,
        ..Launch::default()
    })
}

fn start(launch: &Launch<'_>) -> Keeper {
    let sandbox = Sandbox::new();
    let claude = fake_claude(&sandbox);
    let project = sandbox.project("alpha", &[".git"]);
    let state = sandbox.state_dir();
    fs::create_dir_all(&state).unwrap();
    let sidecar = state.join("i1.keeper.json");
    let screen = state.join("i1.screen.json");
    let debug = state.join("i1.debug.log");
    let log = state.join("i1.keeper.log");
    let keeper_args: Vec<String> = [
        "__pty-keeper__",
        "--sidecar",
        &sidecar.to_string_lossy(),
        "--cwd",
        &project.to_string_lossy(),
        "--screen-sidecar",
        &screen.to_string_lossy(),
        "--url-timeout",
        launch.url_timeout,
        "--",
        &claude.to_string_lossy(),
        "--remote-control",
        "alpha",
        "--debug-file",
        &debug.to_string_lossy(),
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let mut cmd = if launch.high_fds {
        let mut cmd = sandbox.command(Path::new("/bin/bash"));
        cmd.arg("-c")
            .arg(r#"for i in $(seq 3 1100); do eval "exec $i</dev/null"; done; exec "$0" "$@""#)
            .arg(clauster_bin())
            .args(&keeper_args);
        cmd
    } else {
        let mut cmd = sandbox.command(clauster_bin());
        cmd.args(&keeper_args);
        cmd
    };
    cmd.env("FAKE_CLAUDE_MODE", launch.mode).process_group(0);
    for (k, v) in launch.env {
        cmd.env(k, v);
    }
    let out = fs::File::create(&log).unwrap();
    cmd.stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out);
    let child = KillOnDrop(cmd.spawn().expect("spawn the keeper"));
    Keeper {
        sandbox,
        sidecar,
        screen,
        debug,
        log,
        child,
    }
}

impl Keeper {
    fn pid(&self) -> i32 {
        i32::try_from(self.child.0.id()).unwrap()
    }

    fn read(&self) -> Option<Sidecar> {
        parse_sidecar(&fs::read(&self.sidecar).ok()?)
    }

    fn frame(&self) -> Option<ScreenFrame> {
        parse_frame(&fs::read(&self.screen).ok()?)
    }

    fn wait_until(&self, secs: u64, what: impl Fn(&Sidecar) -> bool) -> Sidecar {
        wait_for(Duration::from_secs(secs), || self.read().filter(&what)).unwrap_or_else(|| {
            panic!(
                "sidecar never matched; last: {:?}\nkeeper log:\n{}",
                self.read(),
                fs::read_to_string(&self.log).unwrap_or_default()
            )
        })
    }

    fn signal(&self, sig: Signal) {
        kill(Pid::from_raw(self.pid()), sig).unwrap();
    }

    /// The keeper's exit code, waiting up to `secs`.
    fn exit_code(&mut self, secs: u64) -> i32 {
        let child = &mut self.child.0;
        let status = wait_for(Duration::from_secs(secs), || child.try_wait().unwrap())
            .expect("the keeper exits");
        status.code().expect("the keeper exits normally")
    }

    fn tty_report(&self) -> serde_json::Value {
        let path = PathBuf::from(format!("{}.tty.json", self.debug.display()));
        let text = wait_for(Duration::from_secs(5), || fs::read_to_string(&path).ok())
            .expect("the fake reports its terminal queries");
        serde_json::from_str(&text).unwrap()
    }
}

fn is_url_ready(s: &Sidecar) -> bool {
    s.state == KeeperState::Ready && s.ready_reason == Some(ReadyReason::Url)
}

fn vm_rss_kib(pid: i32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn unix_ms(t: SystemTime) -> u128 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis()
}

/// The default mode draws the URL fragmented (colour changes, a jump to the status line and
/// back, `on` placed with `ESC[<n>G` right after the id); the keeper reads the right id from
/// the screen, answers the DA1 and DSR queries, publishes redacted frames, and a SIGTERM to it
/// sends the two interrupts the TUI needs.
#[test]
fn ready_from_the_fragmented_url_then_sigterm_stops_the_bridge() {
    let mut k = start(&Launch::default());
    let starting = k.wait_until(10, |s| s.bridge_pid.is_some());
    assert_eq!(starting.keeper_pid, k.pid());
    assert_eq!(starting.schema, 2);
    let ready = k.wait_until(10, is_url_ready);
    let id = ready.session_id.clone().unwrap();
    assert!(id.starts_with("session_01FAKEPTY"), "{id}");
    assert_eq!(id.len(), "session_01FAKEPTY".len() + 17, "{id}");
    assert!(
        !id.ends_with("on"),
        "the word after the URL is not part of the id"
    );
    assert_eq!(
        ready.connect_url.as_deref(),
        Some(format!("https://claude.ai/code/{id}").as_str())
    );
    assert_eq!(ready.prompt, None);

    // The bridge's identity, measured right after the spawn.
    let bridge = ready.bridge_pid.unwrap();
    let stat = fs::read_to_string(format!("/proc/{bridge}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(ready.bridge_start_ticks, fields[19].parse().ok());
    assert!(ready.bridge_proc_start.is_some() && ready.boot_id.is_some());
    // The bridge runs in a session of its own, with the PTY as its terminal.
    assert_eq!(fields[3], bridge.to_string(), "session id = bridge pid");
    assert_ne!(fields[3], k.pid().to_string());

    // The DA1 sentinel and the cursor report were answered.
    let tty = k.tty_report();
    assert_eq!(tty["da1_reply"], true, "{tty}");
    assert_eq!(tty["cursor_report"], true, "{tty}");

    // Measurements for the report: latency from the draw to the sidecar, and memory.
    let drawn = fs::metadata(format!("{}.tty.json", k.debug.display()))
        .and_then(|m| m.modified())
        .map(unix_ms)
        .unwrap();
    let sidecar_at = fs::metadata(&k.sidecar)
        .and_then(|m| m.modified())
        .map(unix_ms)
        .unwrap();
    eprintln!(
        "measure: URL drawn → sidecar ready ≈ {} ms",
        sidecar_at.saturating_sub(drawn)
    );
    eprintln!("measure: keeper VmRSS {:?} KiB", vm_rss_kib(k.pid()));

    // Live frames: 40 rows of 120 cells, ids redacted, only on change.
    let frame = wait_for(Duration::from_secs(10), || {
        k.frame().filter(|f| {
            f.screen
                .as_ref()
                .is_some_and(|g| g.rows.concat().contains("claude.ai"))
        })
    })
    .expect("a live frame with the connect row");
    assert_eq!(frame.state, FrameState::Live);
    let grid = frame.screen.unwrap();
    assert_eq!((grid.cols, grid.rows_count, grid.rows.len()), (120, 40, 40));
    assert!(grid.rows.iter().all(|r| r.chars().count() == 120));
    let all = grid.rows.concat();
    assert!(
        all.contains("https://claude.ai/code/session_<redacted> on any device"),
        "{all}"
    );
    assert!(!all.contains("FAKEPTY"));
    assert!(!all.contains('\x1b'));
    let seq_then = frame.seq;
    // The spinner redraws every 500 ms: new frames, at most 4 per second. The frames of a
    // 1.2 s window are counted; on a busy machine the first new one may come later.
    std::thread::sleep(Duration::from_millis(1200));
    let later = wait_for(Duration::from_secs(10), || {
        k.frame().filter(|f| f.seq > seq_then)
    })
    .expect("a new frame as the spinner redraws");
    assert!(
        later.seq > seq_then && later.seq - seq_then <= 5,
        "{} → {}",
        seq_then,
        later.seq
    );

    let stop = Instant::now();
    k.signal(Signal::SIGTERM);
    let code = k.exit_code(8);
    let elapsed = stop.elapsed();
    let last = k.read().unwrap();
    assert_eq!(last.state, KeeperState::Exited);
    let exit = last.exit.expect("bridge_exit once exited");
    assert_eq!(
        exit.bridge_exit,
        Some(0),
        "two interrupts end the TUI cleanly"
    );
    assert_eq!(code, 0);
    // The grace would have ended the bridge 5 s after the signal at the earliest.
    assert!(
        elapsed < Duration::from_secs(5),
        "{elapsed:?}: no 5 s grace was needed"
    );
    assert_eq!(last.connect_url, ready.connect_url, "the URL stays");
    assert!(!support::process_exists(i64::from(bridge)));
    let final_frame = k.frame().unwrap();
    assert_eq!(final_frame.state, FrameState::Exited);
    let log = fs::read_to_string(&k.log).unwrap();
    assert!(log.contains("stop requested"), "{log}");
    drop(k.sandbox);
}

/// A bridge that ignores interrupts is killed with its group after the 5 s grace.
#[test]
fn sigterm_kills_a_bridge_that_ignores_interrupts() {
    let mut k = start(&Launch {
        env: &[("FAKE_CLAUDE_IGNORE_SIGINT", "1")],
        ..Launch::default()
    });
    let ready = k.wait_until(10, is_url_ready);
    let bridge = ready.bridge_pid.unwrap();
    let stop = Instant::now();
    k.signal(Signal::SIGTERM);
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        support::process_exists(i64::from(bridge)),
        "still in its grace"
    );
    let code = k.exit_code(10);
    assert!(stop.elapsed() >= Duration::from_secs(5));
    let last = k.read().unwrap();
    assert_eq!(last.exit.unwrap().bridge_exit, Some(-9));
    assert_eq!(code, 128 + 9);
    assert!(!support::process_exists(i64::from(bridge)));
}

/// SIGHUP is ignored by the keeper; SIGINT is a stop request like SIGTERM.
#[test]
fn sighup_is_ignored_and_sigint_stops() {
    let mut k = start(&Launch::default());
    k.wait_until(10, is_url_ready);
    k.signal(Signal::SIGHUP);
    std::thread::sleep(Duration::from_millis(700));
    assert!(
        k.child.0.try_wait().unwrap().is_none(),
        "SIGHUP does not end the keeper"
    );
    assert_eq!(k.read().unwrap().state, KeeperState::Ready);
    k.signal(Signal::SIGINT);
    assert_eq!(k.exit_code(8), 0);
    assert_eq!(k.read().unwrap().exit.unwrap().bridge_exit, Some(0));
}

/// Other layouts of the connect row: contiguous, soft-wrapped at column 120, in two chunks.
#[test]
fn other_url_layouts_are_read() {
    for mode in ["pty_contiguous", "pty_wrapped", "pty_late_url"] {
        let k = start_mode(mode);
        let ready = k.wait_until(10, is_url_ready);
        let id = ready.session_id.unwrap();
        assert!(id.starts_with("session_01FAKEPTY"), "{mode}: {id}");
        assert_eq!(id.len(), "session_01FAKEPTY".len() + 17, "{mode}: {id}");
    }
}

#[test]
fn no_url_means_ready_by_timeout() {
    let t0 = Instant::now();
    let k = start(&Launch {
        mode: "pty_no_url",
        url_timeout: "1.5",
        ..Launch::default()
    });
    k.wait_until(10, |s| s.bridge_pid.is_some());
    std::thread::sleep(Duration::from_millis(600));
    let mid = k.read().unwrap();
    // The keeper's clock started after `t0`: a read done within 1.5 s of it came before the
    // timeout (on a busy machine it may not, and then it proves nothing).
    if t0.elapsed() < Duration::from_millis(1500) {
        assert_eq!(mid.state, KeeperState::Starting);
    }
    let ready = k.wait_until(10, |s| s.state == KeeperState::Ready);
    assert!(t0.elapsed() >= Duration::from_millis(1400));
    assert_eq!(ready.ready_reason, Some(ReadyReason::Timeout));
    assert_eq!(ready.connect_url, None);
    assert_eq!(ready.note, None, "no emulator fault, no note");
}

#[test]
fn slow_url_arrives_after_starting() {
    let t0 = Instant::now();
    let k = start(&Launch {
        mode: "pty_slow",
        env: &[("FAKE_CLAUDE_SLOW", "2")],
        ..Launch::default()
    });
    k.wait_until(10, |s| s.bridge_pid.is_some());
    std::thread::sleep(Duration::from_millis(1500));
    let mid = k.read().unwrap();
    // The fake started its 2 s after `t0`: a read done within 2 s of it came before the URL
    // (on a busy machine it may not, and then it proves nothing).
    if t0.elapsed() < Duration::from_secs(2) {
        assert_eq!(mid.state, KeeperState::Starting);
        assert_eq!(mid.connect_url, None);
    }
    let ready = k.wait_until(10, is_url_ready);
    assert!(ready.session_id.unwrap().starts_with("session_01FAKEPTY"));
}

#[test]
fn crash_is_reported_with_its_exit_code() {
    let mut k = start_mode("pty_crash");
    assert_eq!(k.exit_code(10), 1);
    let last = k.read().unwrap();
    assert_eq!(last.state, KeeperState::Exited);
    assert_eq!(last.exit.unwrap().bridge_exit, Some(1));
    assert_eq!(last.connect_url, None);
    assert!(last.bridge_pid.is_some());
}

/// The TUI's "Unable to connect" screen reaches `exit_screen` with its spaces (the server
/// classifies it `offline`).
#[test]
fn offline_screen_becomes_the_exit_screen() {
    let mut k = start_mode("pty_offline");
    assert_eq!(k.exit_code(10), 1);
    let last = k.read().unwrap();
    let exit = last.exit.unwrap();
    assert_eq!(exit.bridge_exit, Some(1));
    let screen = exit.exit_screen.expect("the screen at exit");
    assert!(
        screen.contains("Unable to connect to Anthropic services"),
        "{screen}"
    );
    assert!(screen.contains("Failed to connect to api.anthropic.com: ENOTFOUND"));
    assert!(screen.lines().count() <= 15);
    assert!(!screen.contains('\x1b'));
    assert_eq!(k.frame().unwrap().state, FrameState::Exited);
}

#[test]
fn trust_prompt_is_reported() {
    let mut k = start(&Launch {
        mode: "pty_trust_prompt",
        url_timeout: "1",
        ..Launch::default()
    });
    let s = k.wait_until(10, |s| s.prompt.is_some());
    assert_eq!(s.prompt, Some(PromptKind::Trust));
    assert_eq!(s.state, KeeperState::Starting);
    // Waiting at the prompt past the URL timeout: no readiness, and the keeper sleeps in
    // poll() rather than spinning.
    let cpu = || {
        let stat = fs::read_to_string(format!("/proc/{}/stat", k.pid())).unwrap();
        let f: Vec<u64> = stat
            .rsplit(')')
            .next()
            .unwrap()
            .split_whitespace()
            .skip(11)
            .take(2)
            .map(|v| v.parse().unwrap())
            .collect();
        f[0] + f[1]
    };
    let before = cpu();
    std::thread::sleep(Duration::from_millis(2500));
    let used = cpu() - before;
    assert!(used < 25, "{used} clock ticks of CPU in 2.5 s");
    let s = k.read().unwrap();
    assert_eq!((s.state, s.ready_reason), (KeeperState::Starting, None));
    k.signal(Signal::SIGTERM);
    assert_eq!(k.exit_code(10), 0);
}

/// The keeper works when its PTY master descriptor is above 1024 (`poll`, never `select`).
#[test]
fn master_descriptor_above_1024() {
    let k = start(&Launch {
        high_fds: true,
        ..Launch::default()
    });
    let ready = k.wait_until(15, is_url_ready);
    assert!(ready.session_id.is_some());
    let ptmx: Vec<i32> = fs::read_dir(format!("/proc/{}/fd", k.pid()))
        .unwrap()
        .flatten()
        .filter(|e| fs::read_link(e.path()).is_ok_and(|t| t.to_string_lossy().contains("ptmx")))
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    assert!(
        !ptmx.is_empty() && ptmx.iter().all(|fd| *fd > 1024),
        "{ptmx:?}"
    );
    // The bridge got none of those descriptors.
    let bridge_fds = fs::read_dir(format!("/proc/{}/fd", ready.bridge_pid.unwrap()))
        .unwrap()
        .count();
    assert!(
        bridge_fds < 20,
        "{bridge_fds} descriptors leaked into the bridge"
    );
    assert_eq!(k.tty_report()["da1_reply"], true);
}

fn run_keeper(args: &[&str]) -> (i32, String) {
    let sandbox = Sandbox::new();
    let out = sandbox
        .command(clauster_bin())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn empty_bridge_argv_is_refused_without_a_sidecar() {
    let dir = tempfile::tempdir().unwrap();
    let sidecar = dir.path().join("x.keeper.json");
    let s = sidecar.to_string_lossy().into_owned();
    for args in [
        vec!["__pty-keeper__", "--sidecar", &s, "--"],
        vec!["__pty-keeper__", "--sidecar", &s],
    ] {
        let (code, stderr) = run_keeper(&args);
        assert_eq!(code, 64, "{stderr}");
        assert_eq!(stderr.trim(), "bridge argv required after --");
        assert!(!sidecar.exists(), "nothing written");
    }
    let (code, stderr) = run_keeper(&["__pty-keeper__", "--", "/bin/true"]);
    assert_eq!(code, 2, "--sidecar is required: {stderr}");
    let (code, stderr) = run_keeper(&[
        "__pty-keeper__",
        "--sidecar",
        &s,
        "--url-timeout",
        "-3",
        "--",
        "/bin/true",
    ]);
    assert_ne!(code, 0, "{stderr}");
    assert!(!sidecar.exists(), "nothing written");
}

#[test]
fn keeper_is_hidden_from_help() {
    let out = Command::new(clauster_bin()).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("status"), "{help}");
    assert!(!help.contains("pty-keeper"), "{help}");
}

#[test]
fn spawn_failures_are_reported_in_the_sidecar() {
    let dir = tempfile::tempdir().unwrap();
    let sidecar = dir.path().join("x.keeper.json");
    let s = sidecar.to_string_lossy().into_owned();
    let missing = dir.path().join("no-such-claude");
    let (code, _) = run_keeper(&[
        "__pty-keeper__",
        "--sidecar",
        &s,
        "--cwd",
        &dir.path().to_string_lossy(),
        "--",
        &missing.to_string_lossy(),
    ]);
    assert_eq!(code, 71);
    let side = parse_sidecar(&fs::read(&sidecar).unwrap()).unwrap();
    assert_eq!(side.state, KeeperState::Error);
    assert!(
        side.error.as_deref().unwrap().starts_with("spawn failed: "),
        "{side:?}"
    );
    assert_eq!(side.bridge_pid, None);
    let mode = fs::metadata(&sidecar).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
        0o600
    );

    // A sidecar path must be new: the first run's is refused and kept.
    let before = fs::read(&sidecar).unwrap();
    let (code, stderr) = run_keeper(&[
        "__pty-keeper__",
        "--sidecar",
        &s,
        "--cwd",
        &dir.path().to_string_lossy(),
        "--",
        "/bin/true",
    ]);
    assert_eq!(code, 64, "{stderr}");
    assert!(
        stderr.contains("already exists; a sidecar path must be new"),
        "{stderr}"
    );
    assert_eq!(fs::read(&sidecar).unwrap(), before);

    let second = dir.path().join("y.keeper.json");
    let (code, _) = run_keeper(&[
        "__pty-keeper__",
        "--sidecar",
        &second.to_string_lossy(),
        "--cwd",
        &dir.path().join("gone").to_string_lossy(),
        "--",
        "/bin/true",
    ]);
    assert_eq!(code, 71);
    let side = parse_sidecar(&fs::read(&second).unwrap()).unwrap();
    assert!(side.error.unwrap().contains("is not a directory"));
}
