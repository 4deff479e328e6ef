//! No descriptor of the server reaches a bridge or a keeper (issue 14, defect 11): the server
//! is started holding a descriptor its parent left open (not close-on-exec), and every process
//! it launches has only 0, 1, 2 and what it opened itself.

use crate::support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;
use support::{Sandbox, ServesApi, start_server_inheriting};

/// Every open descriptor of `pid` above 2, with what it points at.
fn descriptors(pid: i64) -> Vec<(u32, String)> {
    let mut fds: Vec<(u32, String)> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("read /proc/<pid>/fd")
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let fd: u32 = entry.file_name().to_str()?.parse().ok()?;
            let target = std::fs::read_link(entry.path()).ok()?;
            Some((fd, target.to_string_lossy().into_owned()))
        })
        .filter(|(fd, _)| *fd > 2)
        .collect();
    fds.sort();
    fds
}

/// The descriptors of `pid` above 2 that are not among what it opens itself.
fn foreign(pid: i64, own: impl Fn(&str) -> bool) -> Vec<(u32, String)> {
    descriptors(pid)
        .into_iter()
        .filter(|(_, target)| !own(target))
        .collect()
}

fn in_dir(dir: &Path) -> impl Fn(&str) -> bool + '_ {
    move |target: &str| Path::new(target).starts_with(dir)
}

fn setup() -> (Sandbox, PathBuf, PathBuf) {
    let (sandbox, claude) = support::alpha_and_fake();
    let inherited = sandbox.dir.path().join("left-open-by-the-parent");
    (sandbox, claude, inherited)
}

#[tokio::test]
async fn a_standard_bridge_holds_only_its_own_descriptors() {
    let (sandbox, claude, inherited) = setup();
    let server = start_server_inheriting(&sandbox, Some(&claude), &inherited);
    let name = inherited.to_string_lossy().into_owned();
    // The premise: the server itself holds the descriptor it was handed.
    let server_pid = i64::from(server.child.0.id());
    assert!(
        descriptors(server_pid).iter().any(|(_, t)| *t == name),
        "the server does not hold the inherited descriptor: {:?}",
        descriptors(server_pid)
    );

    let (status, started) = server.start_bridge("alpha").await;
    assert_eq!(status, 201, "{started}\n{}", server.log());
    let pid = started["bridge_pid"].as_i64().expect("a bridge pid");
    // The fake opens its own debug log and writes its pointer under ~/.claude (a temporary
    // file may be open at this moment); nothing else above 2 is its own.
    let logs = sandbox.state_dir().join("logs");
    let claude_home = sandbox.home().join(".claude");
    let leaked = foreign(pid, |t| in_dir(&logs)(t) || in_dir(&claude_home)(t));
    assert!(
        leaked.is_empty(),
        "the bridge holds descriptors it did not open: {leaked:?}"
    );
}

#[tokio::test]
async fn a_keeper_and_its_pty_bridge_hold_only_their_own_descriptors() {
    let (sandbox, claude, inherited) = setup();
    std::fs::write(
        sandbox.projects_root().join("alpha/.fake-claude.json"),
        json!({ "mode": "pty_ready" }).to_string(),
    )
    .unwrap();
    let server = start_server_inheriting(&sandbox, Some(&claude), &inherited);
    let (status, started) = server
        .post(
            "/api/instances",
            json!({ "project": "alpha", "resume_mode": "pty" }),
        )
        .await;
    assert_eq!(status, 201, "{started}\n{}", server.log());
    let id = started["instance_id"].as_str().expect("an id").to_owned();
    let running = support::wait_instance(&server, &id, Duration::from_secs(20), |i| {
        i["status"] == "running"
    })
    .await;
    let keeper = running["keeper_pid"].as_i64().expect("a keeper pid");
    let bridge = running["bridge_pid"].as_i64().expect("a bridge pid");

    // The keeper's own: its files in the log directory, the PTY, its signalfd.
    let logs = sandbox.state_dir().join("logs");
    let keeper_own = |target: &str| {
        in_dir(&logs)(target)
            || target == "/dev/ptmx"
            || target.starts_with("/dev/pts/")
            || target == "anon_inode:[signalfd]"
    };
    let leaked = foreign(keeper, keeper_own);
    assert!(
        leaked.is_empty(),
        "the keeper holds descriptors it did not open: {leaked:?}"
    );
    // The bridge on the PTY: its terminal and its `--debug-file`.
    let bridge_own = |target: &str| target.starts_with("/dev/pts/") || in_dir(&logs)(target);
    let leaked = foreign(bridge, bridge_own);
    assert!(
        leaked.is_empty(),
        "the pty bridge holds descriptors it did not open: {leaked:?}"
    );
}
