//! Test helpers: spawn real processes and make sure none outlives its test.

use std::ffi::OsString;
use std::ops::Deref;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use super::{Signal, SpawnSpec, Spawned, kill_session, spawn_detached};

/// Owns a spawned process; on drop, kills its whole session and reaps it.
pub struct Guard {
    spawned: Spawned,
    status: Option<ExitStatus>,
}

impl Guard {
    pub fn new(spawned: Spawned) -> Self {
        Self {
            spawned,
            status: None,
        }
    }

    /// Waits up to `timeout` for the process to exit and reaps it.
    pub fn wait(&mut self, timeout: Duration) -> Option<ExitStatus> {
        if self.status.is_none() {
            let child = &mut self.spawned.child;
            wait_until(timeout, || child.try_wait().ok().flatten().is_some());
            // try_wait reaped it above if it exited; wait() now returns the kept status.
            if let Ok(Some(status)) = self.spawned.child.try_wait() {
                self.status = Some(status);
            }
        }
        self.status
    }
}

impl Deref for Guard {
    type Target = Spawned;
    fn deref(&self) -> &Spawned {
        &self.spawned
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        // Members keep the session id from being reused, so the sweep reaches only ours.
        kill_session(self.spawned.pid, Signal::SIGKILL);
        if self.status.is_none() {
            let _ = self.spawned.child.kill();
            let _ = self.spawned.child.wait();
        }
    }
}

/// `/bin/sh -c <script> <args…>` in a new session, output discarded.
pub fn spawn_sh(script: &str, args: &[&str]) -> Spawned {
    let mut argv: Vec<OsString> = vec!["-c".into(), script.into()];
    argv.extend(args.iter().map(OsString::from));
    spawn_detached(&SpawnSpec {
        program: "/bin/sh".into(),
        args: argv,
        cwd: "/".into(),
        env: vec![("PATH".into(), "/usr/bin:/bin".into())],
        stdout_log: "/dev/null".into(),
        stderr_log: "/dev/null".into(),
    })
    .expect("spawn /bin/sh")
}

/// A shell whose argv passes the bridge gate (`claude`, `remote-control`): `$0` and `$1`.
pub fn spawn_bridge_sh(script: &str) -> Spawned {
    spawn_sh(script, &["claude", "remote-control"])
}

/// Polls `cond` every 10 ms until it holds or `timeout` passes; returns whether it held.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
