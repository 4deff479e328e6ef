//! One clone job from the second address check to the landed directory (data.md §3.4).

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use clauster_core::clone::{CloneHost, CloneUrl, Progress, UrlPolicy};
use clauster_core::config::CloneSettings;
use clauster_core::names::ProjectName;
use tokio::io::AsyncReadExt as _;
use tokio::sync::watch;

use super::git;
use super::jobs::Outcome;
use crate::state::AppState;

/// Lines of git's stderr kept for the error text.
const TAIL_LINES: usize = 20;
/// How long the rest of git's stderr is read after it exited.
const STDERR_DRAIN: Duration = Duration::from_secs(2);
/// Characters of that tail shown.
const TAIL_CHARS: usize = 400;

/// What the request handler hands the job task.
pub struct CloneRequest {
    pub job_id: String,
    pub name: ProjectName,
    pub url: CloneUrl,
    pub shallow: bool,
}

/// Why a destination was refused by [`checked_addresses`].
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No address: a 422 in the request.
    Unresolvable(String),
    /// An address the policy refuses: a 403 in the request.
    Blocked(String),
}

impl Refusal {
    pub fn into_text(self) -> String {
        match self {
            Refusal::Unresolvable(text) | Refusal::Blocked(text) => text,
        }
    }
}

/// Step 6 of data.md §3.3, run by the request handler and again by the job right before git
/// starts: resolves the host (an address literal is itself) and checks every address.
/// Returns the addresses, the first of which git is pinned to.
pub async fn checked_addresses(
    policy: &UrlPolicy,
    settings: &CloneSettings,
    url: &CloneUrl,
) -> Result<Vec<IpAddr>, Refusal> {
    let addresses = match url.host() {
        CloneHost::Ip(ip) => vec![*ip],
        CloneHost::Name(name) => {
            let unresolvable = || {
                Refusal::Unresolvable(format!(
                    "could not resolve host '{}'",
                    clauster_core::names::echo(name)
                ))
            };
            let found = tokio::net::lookup_host((name.as_str(), url.port()))
                .await
                .map_err(|_| unresolvable())?;
            let mut addresses: Vec<IpAddr> = Vec::new();
            for address in found {
                if !addresses.contains(&address.ip()) {
                    addresses.push(address.ip());
                }
            }
            if addresses.is_empty() {
                return Err(unresolvable());
            }
            addresses
        }
    };
    policy
        .check_all(&url.host().to_string(), &addresses, settings)
        .map_err(|blocked| Refusal::Blocked(blocked.to_string()))?;
    Ok(addresses)
}

/// The temp directory of a clone: `projects_root/.<name>.<8 hex>.clone-tmp`.
fn temp_dir(root: &Path, name: &ProjectName) -> PathBuf {
    let tag = &uuid::Uuid::new_v4().simple().to_string()[..8];
    root.join(format!(".{}.{tag}.clone-tmp", name.as_str()))
}

/// Runs the job to its end and publishes the outcome.
pub async fn run(state: AppState, request: CloneRequest, cancel: watch::Receiver<bool>) {
    let root = state.config().projects_root.clone();
    let temp = temp_dir(&root, &request.name);
    let target = root.join(request.name.as_str());
    let mut outcome = clone_into(&state, &request, &temp, cancel).await;
    if outcome == Outcome::Done {
        outcome = land(&temp, &target, &request.name).await;
    }
    if outcome != Outcome::Done {
        remove_all(&temp).await;
    }
    let jobs = state.clones();
    let frame = if let Some(frame) = jobs.finish(&request.job_id, outcome.clone()) {
        frame
    } else {
        // Cancelled after git finished: the landed directory goes too.
        remove_all(&target).await;
        outcome = Outcome::Cancelled;
        let Some(frame) = jobs.finish(&request.job_id, Outcome::Cancelled) else {
            return;
        };
        frame
    };
    state.engine().publish(frame);
    if outcome == Outcome::Done {
        super::publish_project(&state, request.name.as_str()).await;
    }
}

/// Everything up to a complete clone in `temp`, which is left for the caller to land or
/// remove.
async fn clone_into(
    state: &AppState,
    request: &CloneRequest,
    temp: &Path,
    mut cancel: watch::Receiver<bool>,
) -> Outcome {
    let settings = &state.config().clone;
    // The second check, right before git runs (security.md §8).
    let addresses = match checked_addresses(state.clone_policy(), settings, &request.url).await {
        Ok(addresses) => addresses,
        Err(refusal) => return Outcome::Error(refusal.into_text()),
    };
    if *cancel.borrow() {
        return Outcome::Cancelled;
    }
    let (mut child, url_arg) = match spawn_git(state, request, temp, addresses[0]) {
        Ok(spawned) => spawned,
        Err(outcome) => return outcome,
    };
    let stopped = supervise(state, request, &mut child, &url_arg, &mut cancel).await;
    if let Some(outcome) = stopped {
        return outcome;
    }
    if settings.max_mb > 0 {
        let dir = temp.to_path_buf();
        let size = tokio::task::spawn_blocking(move || tree_size(&dir))
            .await
            .unwrap_or(u64::MAX);
        if size > settings.max_mb.saturating_mul(1024 * 1024) {
            return Outcome::Error(format!("clone exceeds the {} MB size cap", settings.max_mb));
        }
    }
    if state.clones().cancel_requested(&request.job_id) {
        return Outcome::Cancelled;
    }
    Outcome::Done
}

/// Starts git for `request` with the checked address `pinned`; returns the child and the URL
/// git was given (for scrubbing it from error texts).
fn spawn_git(
    state: &AppState,
    request: &CloneRequest,
    temp: &Path,
    pinned: IpAddr,
) -> Result<(tokio::process::Child, String), Outcome> {
    let ssh_pin = match (request.url.scheme(), request.url.host()) {
        ("ssh", CloneHost::Name(name)) => Some((name.as_str(), pinned)),
        _ => None,
    };
    let env = git::git_env(&state.config(), ssh_pin);
    let Some(git_bin) = git::git_binary(&env) else {
        return Err(Outcome::Error("git is not installed".into()));
    };
    let (extra_config, url_arg) = git::pinned_invocation(&request.url, pinned);
    let mut command = tokio::process::Command::new(&git_bin);
    command
        .args(["-c", "protocol.file.allow=never"])
        .args(["-c", "credential.helper="])
        .args(["-c", "core.hooksPath=/dev/null"]);
    for option in &extra_config {
        command.arg("-c").arg(option);
    }
    command.args([
        "clone",
        "--progress",
        "--no-tags",
        "--no-recurse-submodules",
    ]);
    if request.shallow {
        command.args(["--depth", "1"]);
    }
    command
        .arg("--")
        .arg(&url_arg)
        .arg(temp)
        .env_clear()
        .envs(env.iter().map(|(n, v)| (n, v)))
        .current_dir(&state.config().projects_root)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        // Its own group, so a stop reaches the helpers git starts (remote-https, index-pack).
        .process_group(0)
        .kill_on_drop(true);
    let child = command
        .spawn()
        .map_err(|err| Outcome::Error(format!("could not start git: {err}")))?;
    Ok((child, url_arg))
}

/// Feeds git's progress to the job until git exits, is cancelled or times out. `None` when
/// git succeeded; otherwise how the job ends.
async fn supervise(
    state: &AppState,
    request: &CloneRequest,
    child: &mut tokio::process::Child,
    url_arg: &str,
    cancel: &mut watch::Receiver<bool>,
) -> Option<Outcome> {
    let settings = &state.config().clone;

    let Some(pgid) = child.id().and_then(|p| i32::try_from(p).ok()) else {
        return Some(Outcome::Error(
            "git exited before it could be watched".into(),
        ));
    };
    let Some(mut stderr) = child.stderr.take() else {
        return Some(Outcome::Error("git's stderr was not captured".into()));
    };

    let timeout = Duration::from_secs(settings.timeout_seconds);
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    let mut lines = LineSplitter::default();
    let mut tail: Vec<String> = Vec::new();
    let mut progress = Progress::default();
    let mut buf = vec![0_u8; 8192];
    let mut stderr_open = true;
    loop {
        tokio::select! {
            read = stderr.read(&mut buf), if stderr_open => match read {
                Ok(0) | Err(_) => stderr_open = false,
                Ok(n) => {
                    for line in lines.push(&buf[..n]) {
                        progress = progress.after(&line);
                        if let Some(frame) = state.clones().progress(&request.job_id, progress.clone()) {
                            state.engine().publish(frame);
                        }
                        tail.push(line);
                        if tail.len() > TAIL_LINES {
                            tail.remove(0);
                        }
                    }
                }
            },
            status = child.wait() => {
                // Drain what is left of stderr for the error tail.
                let mut rest = Vec::new();
                // Bounded: a helper that outlived git could hold the pipe open.
                let _ = tokio::time::timeout(STDERR_DRAIN, stderr.read_to_end(&mut rest)).await;
                for line in lines.push(&rest).into_iter().chain(lines.finish()) {
                    tail.push(line);
                }
                let keep = tail.len().saturating_sub(TAIL_LINES);
                tail.drain(..keep);
                break match status {
                    Ok(s) if s.success() => None,
                    _ => Some(Outcome::Error(format!(
                        "git clone failed: {}",
                        git::error_tail(&tail, TAIL_CHARS, &[request.url.as_str(), url_arg])
                    ))),
                };
            }
            changed = cancel.changed() => {
                if changed.is_err() || *cancel.borrow() {
                    git::stop_group(pgid, async { let _ = child.wait().await; }).await;
                    let _ = child.wait().await;
                    break Some(Outcome::Cancelled);
                }
            }
            () = &mut deadline => {
                git::stop_group(pgid, async { let _ = child.wait().await; }).await;
                let _ = child.wait().await;
                break Some(Outcome::Error(format!(
                    "clone timed out after {}s",
                    settings.timeout_seconds
                )));
            }
        }
    }
}

/// Renames the finished clone into place, never over something that appeared meanwhile.
async fn land(temp: &Path, target: &Path, name: &ProjectName) -> Outcome {
    let (temp, target) = (temp.to_path_buf(), target.to_path_buf());
    let exists = || {
        Outcome::Error(format!(
            "a directory named '{}' already exists",
            name.as_str()
        ))
    };
    let renamed = tokio::task::spawn_blocking(move || {
        nix::fcntl::renameat2(
            nix::fcntl::AT_FDCWD,
            &temp,
            nix::fcntl::AT_FDCWD,
            &target,
            nix::fcntl::RenameFlags::RENAME_NOREPLACE,
        )
    })
    .await;
    match renamed {
        Ok(Ok(())) => Outcome::Done,
        Ok(Err(nix::errno::Errno::EEXIST | nix::errno::Errno::ENOTEMPTY)) => exists(),
        Ok(Err(err)) => Outcome::Error(format!(
            "could not move the clone into place: {err}; check projects_root"
        )),
        Err(_) => Outcome::Error("moving the clone into place panicked; see the server log".into()),
    }
}

/// Removes `dir` and everything in it; a helper git started may still be writing for a
/// moment after it was killed, so a directory that is back is removed again.
pub async fn remove_all(dir: &Path) {
    for _ in 0..10 {
        let path = dir.to_path_buf();
        let _ = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(&path)).await;
        if std::fs::symlink_metadata(dir).is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tracing::warn!(dir = %dir.display(), "could not remove a clone directory; remove it by hand");
}

/// The sum of the sizes of the regular files under `dir`, not following symlinks.
fn tree_size(dir: &Path) -> u64 {
    let mut total = 0_u64;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.path().symlink_metadata() else {
                continue;
            };
            if meta.is_dir() {
                stack.push(entry.path());
            } else if meta.is_file() {
                total = total.saturating_add(meta.len());
            }
        }
    }
    total
}

/// Splits git's stderr into lines on CR or LF; empty lines are dropped.
#[derive(Default)]
struct LineSplitter {
    partial: Vec<u8>,
}

impl LineSplitter {
    fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        for &b in bytes {
            if b == b'\r' || b == b'\n' {
                self.flush_into(&mut out);
            } else {
                self.partial.push(b);
            }
        }
        out
    }

    fn finish(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        self.flush_into(&mut out);
        out
    }

    fn flush_into(&mut self, out: &mut Vec<String>) {
        if !self.partial.is_empty() {
            let line = String::from_utf8_lossy(&self.partial).into_owned();
            self.partial.clear();
            if !line.trim().is_empty() {
                out.push(line);
            }
        }
    }
}

/// Removes `.<name>.<8 hex>.clone-tmp` directories older than an hour (left by a crash).
pub fn sweep_leftovers(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !is_temp_name(name) {
            continue;
        }
        let old = entry
            .path()
            .symlink_metadata()
            .ok()
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > Duration::from_hours(1));
        if old {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn is_temp_name(name: &str) -> bool {
    let Some(inner) = name
        .strip_prefix('.')
        .and_then(|n| n.strip_suffix(".clone-tmp"))
    else {
        return false;
    };
    let Some((project, tag)) = inner.rsplit_once('.') else {
        return false;
    };
    tag.len() == 8
        && tag.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        && ProjectName::new(project).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(allow_private_hosts: bool) -> CloneSettings {
        CloneSettings {
            enabled: true,
            allowed_schemes: vec!["https".into(), "ssh".into(), "git".into()],
            allow_private_hosts,
            allowed_private_cidrs: Vec::new(),
            timeout_seconds: 300,
            max_mb: 0,
        }
    }

    fn url(text: &str) -> CloneUrl {
        CloneUrl::parse(text, &settings(false).allowed_schemes).expect("a valid URL")
    }

    /// The check the job repeats before git runs: a name is resolved afresh and every
    /// address it has is judged, so a name that now points at loopback is refused.
    #[tokio::test]
    async fn the_worker_check_resolves_names_and_refuses_blocked_addresses() {
        let real = UrlPolicy::real();
        for (text, host) in [
            ("https://localhost/x", "localhost"),
            ("ssh://git@localhost/x", "localhost"),
            ("git://0x7f000001/x", "0x7f000001"),
        ] {
            let refused = checked_addresses(&real, &settings(true), &url(text))
                .await
                .expect_err("loopback");
            assert_eq!(
                refused,
                Refusal::Blocked(format!(
                    "host '{host}' resolves to blocked address 127.0.0.1 (private/loopback/link-local). Set clone.allow_private_hosts to permit."
                ))
            );
        }
        let refused = checked_addresses(&real, &settings(true), &url("https://nope.invalid/x"))
            .await
            .expect_err("unresolvable");
        assert_eq!(
            refused,
            Refusal::Unresolvable("could not resolve host 'nope.invalid'".into())
        );
        let test_policy = UrlPolicy::real()
            .admitting(clauster_core::config::IpNet::parse("127.0.0.1").expect("net"));
        let admitted = checked_addresses(&test_policy, &settings(false), &url("git://localhost/x"))
            .await
            .expect("admitted by the test policy");
        assert_eq!(admitted, vec![IpAddr::from([127, 0, 0, 1])]);
    }

    #[test]
    fn splits_on_cr_and_lf_and_keeps_partial_lines() {
        let mut s = LineSplitter::default();
        assert_eq!(
            s.push(b"Receiving objects:  1%\rReceiving objects:  2%\r\nRes"),
            vec!["Receiving objects:  1%", "Receiving objects:  2%"]
        );
        assert_eq!(
            s.push(b"olving deltas: 5%\n\n  \n"),
            vec!["Resolving deltas: 5%"]
        );
        assert_eq!(s.push(b"fatal: x"), Vec::<String>::new());
        assert_eq!(s.finish(), vec!["fatal: x"]);
    }

    #[test]
    fn temp_names() {
        assert!(is_temp_name(".demo.0a1b2c3d.clone-tmp"));
        assert!(is_temp_name(".my-repo_2.ffffffff.clone-tmp"));
        assert!(!is_temp_name(".demo.0A1B2C3D.clone-tmp"));
        assert!(!is_temp_name(".demo.0a1b2c3.clone-tmp"));
        assert!(!is_temp_name("demo.0a1b2c3d.clone-tmp"));
        assert!(!is_temp_name(".git"));
        assert!(!is_temp_name("..0a1b2c3d.clone-tmp"));
    }

    #[test]
    fn tree_size_counts_regular_files_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("a"), vec![0_u8; 1000]).expect("write");
        std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
        std::fs::write(dir.path().join("sub/b"), vec![0_u8; 24]).expect("write");
        let big = dir.path().join("outside");
        std::fs::write(&big, vec![0_u8; 5000]).expect("write");
        let inner = tempfile::tempdir().expect("tempdir");
        std::os::unix::fs::symlink(&big, inner.path().join("link")).expect("symlink");
        std::fs::write(inner.path().join("c"), vec![0_u8; 7]).expect("write");
        assert_eq!(tree_size(inner.path()), 7);
        assert_eq!(tree_size(dir.path()), 6024);
    }
}
