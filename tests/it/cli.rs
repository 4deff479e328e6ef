//! The `clauster` commands that talk to a running server over its control socket
//! (`status`, `start`, `stop`), or run the engine themselves when none runs, with `clauster
//! run` and the fake `claude` as real processes.

use crate::support;

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::time::Duration;

use serde_json::Value;
use support::{alpha_and_fake as setup, lossy as text, run_clauster as clauster};
use support::{clauster_bin, free_port, start_server, wait_for};

#[test]
fn start_status_and_stop_go_through_the_control_socket() {
    let (sandbox, claude) = setup();
    let server = start_server(&sandbox, Some(&claude), &[], &[]);

    let socket = sandbox.state_dir().join("control.sock");
    let meta = wait_for(Duration::from_secs(10), || {
        std::fs::symlink_metadata(&socket).ok()
    })
    .expect("the control socket exists");
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);

    // Nothing yet: the note goes to stderr, stdout stays empty.
    let none = clauster(&sandbox, &["status"], &[]);
    support::assert_exit(&none, 0);
    assert_eq!(text(&none.stdout), "");
    assert_eq!(text(&none.stderr), "No bridge instances.\n");

    let started = clauster(&sandbox, &["start", "alpha"], &[]);
    let out = text(&started.stdout);
    assert_eq!(
        started.status.code(),
        Some(0),
        "{out}{}\n{}",
        text(&started.stderr),
        server.log()
    );
    assert!(out.starts_with("started "), "{out}");
    assert!(
        out.ends_with(" (alpha) mode=standard status=running\n"),
        "{out}"
    );
    let id8 = out["started ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(id8.len(), 8);

    let again = clauster(&sandbox, &["start", "alpha"], &[]);
    let out = text(&again.stdout);
    support::assert_exit(&again, 0);
    assert!(
        out.starts_with(&format!("already running: {id8} (alpha) — ")),
        "{out}"
    );

    let listed = clauster(&sandbox, &["status"], &[]);
    let out = text(&listed.stdout);
    support::assert_exit(&listed, 0);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        header,
        ["INSTANCE", "PROJECT", "CHANNEL", "MODE", "STATUS", "LABEL"]
    );
    let row: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(&row[..2], [id8.as_str(), "alpha"], "{out}");
    assert_eq!(&row[3..5], ["standard", "running"], "{out}");

    let json = clauster(&sandbox, &["status", "--json"], &[]);
    let out = text(&json.stdout);
    assert!(out.starts_with("[\n  {\n    \""), "{out}");
    let value: Value = serde_json::from_str(&out).expect("status --json is JSON");
    assert_eq!(value[0]["project"], "alpha");

    let unknown = clauster(&sandbox, &["stop", "nope"], &[]);
    support::assert_exit(&unknown, 2);
    assert!(
        text(&unknown.stderr).starts_with("clauster: error: "),
        "{}",
        text(&unknown.stderr)
    );
    // A misspelled command is not taken for an argument of the implied `run`.
    let typo = clauster(&sandbox, &["statu"], &[]);
    support::assert_exit(&typo, 2);
    assert!(
        text(&typo.stderr).contains("similar subcommands exist: 'start', 'status'"),
        "{}",
        text(&typo.stderr)
    );

    let stopped = clauster(&sandbox, &["stop", "alpha"], &[]);
    support::assert_exit(&stopped, 0);
    assert_eq!(
        text(&stopped.stdout),
        format!("stopped {id8} (alpha) status=stopped\n")
    );

    // A crashed server leaves its socket behind: nothing answers there, so the command runs
    // the engine itself (on a socket of its own) and removes the stale one.
    drop(server.child);
    let down = support::stdout_after(&clauster(&sandbox, &["status"], &[]), 0);
    assert!(down.contains(&format!("{id8}  alpha")), "{down}");
    assert!(!socket.exists(), "the in-process engine left its socket");

    // The next server replaces the stale socket and removes it on a clean shutdown.
    let server = start_server(&sandbox, Some(&claude), &[], &[]);
    let listed = clauster(&sandbox, &["status"], &[]);
    support::assert_exit(&listed, 0);
    let mut child = server.child;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(child.0.id()).unwrap()),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let exited = wait_for(Duration::from_secs(10), || child.0.try_wait().unwrap());
    assert_eq!(exited.and_then(|s| s.code()), Some(0));
    assert!(!socket.exists(), "the socket outlived a clean shutdown");
}

/// The engine lock taken by the test, its file naming a holder as `holder_lines` do.
fn hold_engine_lock(sandbox: &support::Sandbox, holder_lines: &str) -> std::fs::File {
    use std::io::Write as _;
    std::fs::create_dir_all(sandbox.state_dir()).unwrap();
    let mut lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(sandbox.state_dir().join("engine.lock"))
        .unwrap();
    lock.write_all(holder_lines.as_bytes()).unwrap();
    lock.lock().unwrap();
    lock
}

/// The engine lock held here, in the name of a server process that has exited: its pid and
/// the lock.
fn hold_lock_of_an_exited_server(sandbox: &support::Sandbox) -> (u32, std::fs::File) {
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let pid = gone.id();
    gone.wait().unwrap();
    (pid, hold_engine_lock(sandbox, &format!("{pid}\nserver\n")))
}

/// A server started while a CLI command runs the engine says that it waits (its port already
/// accepts, `/healthz` does not answer yet), and serves once the command is done.
#[tokio::test]
async fn a_server_waiting_for_a_command_says_so_then_serves() {
    use support::ServesApi as _;
    let (sandbox, claude) = setup();
    let lock = hold_engine_lock(&sandbox, "4242\ncommand\n");
    let server = start_server(&sandbox, Some(&claude), &[], &[]);
    let said = wait_for(Duration::from_secs(20), || {
        server
            .log()
            .contains(
                "a clauster command (pid 4242) is using the engine; waiting up to 30 s for it \
                 to finish",
            )
            .then_some(())
    });
    assert!(said.is_some(), "{}", server.log());
    drop(lock);
    let (status, health) = server.get("/healthz").await;
    assert_eq!(status, 200, "{health}\n{}", server.log());
}

/// A lock still held for a server that has exited (a child it forked had not exec'd yet) is
/// waited for, not refused as "another clauster server is running".
#[tokio::test]
async fn a_lock_left_by_an_exited_server_is_waited_for() {
    use support::ServesApi as _;
    let (sandbox, claude) = setup();
    let (pid, lock) = hold_lock_of_an_exited_server(&sandbox);
    let server = start_server(&sandbox, Some(&claude), &[], &[]);
    let said = wait_for(Duration::from_secs(20), || {
        server
            .log()
            .contains(&format!(
                "the engine lock is still held for pid {pid}, which has exited"
            ))
            .then_some(())
    });
    assert!(said.is_some(), "{}", server.log());
    drop(lock);
    let (status, health) = server.get("/healthz").await;
    assert_eq!(status, 200, "{health}\n{}", server.log());
}

/// The same for the port: a server killed while a child it forked had not exec'd yet leaves
/// both its port and its lock with that child for a moment. A start right then waits for
/// them, not refuses with "another clauster server is running" (release review 14).
#[tokio::test]
async fn a_port_left_by_an_exited_server_is_waited_for() {
    let (sandbox, claude) = setup();
    let (pid, lock) = hold_lock_of_an_exited_server(&sandbox);
    let port_holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = port_holder.local_addr().unwrap().port();
    let server = support::start_server_on(&sandbox, port, Some(&claude), &[], &[]);
    let said = wait_for(Duration::from_secs(20), || {
        server
            .log()
            .contains(&format!(
                "port {port} and the engine lock are still held for pid {pid}, which has exited"
            ))
            .then_some(())
    });
    assert!(said.is_some(), "{}", server.log());
    drop((port_holder, lock));
    let healthz = format!("http://127.0.0.1:{port}/healthz");
    let served = support::wait_for_async(Duration::from_secs(20), || async {
        let answer = reqwest::get(&healthz).await.ok()?;
        (answer.status() == 200).then_some(())
    })
    .await;
    assert!(served.is_some(), "{}", server.log());
}

/// Another program on the port while a CLI command runs the engine: the port is named, not
/// the command (a command listens on no port; release review 15).
#[test]
fn a_port_taken_by_another_program_is_named_while_a_command_holds_the_engine() {
    let (sandbox, _) = setup();
    let _lock = hold_engine_lock(&sandbox, "4242\ncommand\n");
    let other = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = other.local_addr().unwrap().port().to_string();
    let refused = clauster(&sandbox, &["run", "--port", &port], &[]);
    let stderr = text(&refused.stderr);
    support::assert_exit(&refused, 2);
    assert!(
        stderr.contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{stderr}"
    );
    assert!(!stderr.contains("a clauster command"), "{stderr}");
}

/// Something else than a socket at the control socket's path, or at the name it is staged
/// under, is never removed: the start is refused (exit 2) and names it (bridges.md §10.4).
#[test]
fn a_file_where_the_control_socket_goes_is_refused_and_kept() {
    let (sandbox, _) = setup();
    std::fs::create_dir_all(sandbox.state_dir()).unwrap();
    for name in ["control.sock", "control.tmp"] {
        let planted = sandbox.state_dir().join(name);
        std::fs::write(&planted, "notes").unwrap();
        let port = free_port().to_string();
        let refused = clauster(&sandbox, &["run", "--port", &port], &[]);
        let stderr = text(&refused.stderr);
        support::assert_exit(&refused, 2);
        assert!(
            stderr.contains(&format!(
                "{} exists and is not a socket; clauster never removes it",
                planted.display()
            )),
            "{stderr}"
        );
        assert_eq!(std::fs::read_to_string(&planted).unwrap(), "notes");
        std::fs::remove_file(&planted).unwrap();
    }
}

#[test]
fn a_second_server_on_the_same_state_dir_refuses() {
    let (sandbox, claude) = setup();
    let server = start_server(&sandbox, Some(&claude), &[], &[]);
    let port = free_port().to_string();
    let second = clauster(&sandbox, &["run", "--port", &port], &[]);
    support::assert_exit(&second, 2);
    let expected = format!(
        "clauster: error: another clauster server is running (pid {})",
        server.child.0.id()
    );
    assert!(
        text(&second.stderr).contains(&expected),
        "{}",
        text(&second.stderr)
    );
    // On the first one's port too: the port is taken by that server, and it is named.
    let taken = server.base.rsplit(':').next().unwrap().to_owned();
    let same_port = clauster(&sandbox, &["run", "--port", &taken], &[]);
    support::assert_exit(&same_port, 2);
    let stderr = text(&same_port.stderr);
    assert!(stderr.ends_with(&format!("{expected}\n")), "{stderr}");
    assert!(!stderr.contains("cannot listen"), "{stderr}");
    // It never announced an address it does not serve (the banner comes once serving).
    assert!(
        !text(&second.stderr).contains("://127.0.0.1:"),
        "{}",
        text(&second.stderr)
    );
    // The refused server left the first one's socket alone.
    let listed = clauster(&sandbox, &["status"], &[]);
    support::assert_exit(&listed, 0);
}

#[test]
fn a_long_state_dir_puts_the_socket_under_tmp() {
    let (sandbox, claude) = setup();
    let long = sandbox.dir.path().join("s".repeat(120));
    let long_str = long.to_str().unwrap().to_owned();
    let env = [("CLAUSTER_STATE_DIR", long_str.as_str())];
    let _server = start_server(&sandbox, Some(&claude), &[], &env);

    let canonical = std::fs::canonicalize(&long).unwrap();
    // The sandbox was created by this user.
    let uid = std::fs::metadata(sandbox.dir.path()).unwrap().uid();
    let socket = clauster_server::control_socket_path(&canonical, uid);
    assert!(
        socket.starts_with(format!("/tmp/clauster-{uid}")),
        "{socket:?}"
    );
    // `run` listens on TCP first; the socket follows once it holds the engine lock.
    let meta = wait_for(Duration::from_secs(10), || {
        std::fs::symlink_metadata(&socket).ok()
    })
    .expect("the fallback socket exists");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let dir = std::fs::metadata(socket.parent().unwrap()).unwrap();
    assert_eq!(dir.permissions().mode() & 0o777, 0o700);

    let none = clauster(&sandbox, &["status"], &env);
    support::assert_exit(&none, 0);
    assert_eq!(text(&none.stderr), "No bridge instances.\n");
}

#[test]
fn without_a_server_commands_run_the_engine_themselves() {
    let (sandbox, claude) = setup();
    let claude_env = [("CLAUSTER_CLAUDE_BINARY", claude.to_str().unwrap())];
    let started = clauster(&sandbox, &["start", "alpha", "--json"], &claude_env);
    support::assert_exit(&started, 0);
    let outcome: Value = serde_json::from_slice(&started.stdout).unwrap();
    assert_eq!(outcome["status"], "running", "{outcome}");
    let pid = outcome["bridge_pid"].as_i64().unwrap();
    assert!(support::process_exists(pid));
    let socket = sandbox.state_dir().join("control.sock");
    assert!(!socket.exists(), "the command's engine left its socket");
    // Its store is one file once it ends: a copy of that file alone has the bridge.
    let id = outcome["instance_id"].as_str().unwrap().to_owned();
    assert_eq!(
        support::instances_in_a_copy_of_the_store(&sandbox.state_dir()),
        vec![id]
    );

    // The next server finds it running.
    let server = start_server(&sandbox, Some(&claude), &[], &[]);
    let found = wait_for(Duration::from_secs(20), || {
        let listed = clauster(&sandbox, &["status", "--json"], &[]);
        let value: Value = serde_json::from_slice(&listed.stdout).ok()?;
        (value[0]["status"] == "running").then_some(value)
    });
    assert!(found.is_some(), "{}", server.log());
    // The bridge is detached: it outlived the command that started it.
    assert!(support::process_exists(pid));
    drop(server);

    // And with no server again, stop takes the engine lock and ends it.
    let stopped = clauster(&sandbox, &["stop", "alpha"], &claude_env);
    support::assert_exit(&stopped, 0);
    assert!(text(&stopped.stdout).ends_with("(alpha) status=stopped\n"));
    assert!(support::ends_within(pid, Duration::from_secs(5)));
}

/// A store that cannot open is each command's own error (cli.md §2), said as `clauster run`
/// says it, and kept: never "no server is running", never a silent end.
#[test]
fn without_a_server_a_broken_store_is_named_by_every_command() {
    let (sandbox, claude) = setup();
    let claude_env = [("CLAUSTER_CLAUDE_BINARY", claude.to_str().unwrap())];
    std::fs::create_dir_all(sandbox.state_dir()).unwrap();
    let store = sandbox.state_dir().join("clauster.sqlite3");
    let garbage = b"garbage garbage garbage, not a database".repeat(200);
    std::fs::write(&store, &garbage).unwrap();
    for args in [
        &["status"][..],
        &["start", "alpha"],
        &["logs", "alpha"],
        &["stop", "alpha"],
    ] {
        let out = clauster(&sandbox, args, &claude_env);
        support::assert_exit(&out, 1);
        let said = text(&out.stderr);
        assert!(
            said.contains(&format!("cannot open the store {}", store.display()))
                && said.contains("move it aside"),
            "{args:?}: {said}"
        );
        assert!(!said.contains("no clauster server is running"), "{said}");
    }
    assert_eq!(std::fs::read(&store).unwrap(), garbage);
}

/// `start --trust` with claude's global config unreadable: claude's file is kept as it was,
/// and the command says what to do about it.
#[test]
fn start_with_trust_over_a_broken_claude_json_says_how_to_mend_it() {
    let (sandbox, claude) = setup();
    sandbox.project("beta", &[]);
    let claude_env = [("CLAUSTER_CLAUDE_BINARY", claude.to_str().unwrap())];
    let global = sandbox.home().join(".claude.json");
    std::fs::write(&global, b"{\"projects\": {").unwrap();
    let out = clauster(&sandbox, &["start", "beta", "--trust"], &claude_env);
    support::assert_exit(&out, 1);
    let said = text(&out.stderr);
    assert!(
        said.contains(&format!(
            "cannot update {}: it is not a valid JSON object; Clauster did not change it",
            global.display()
        )) && said.contains("hint: mend that file (or move it aside"),
        "{said}"
    );
    assert_eq!(std::fs::read(&global).unwrap(), b"{\"projects\": {");
}

#[test]
fn a_command_during_a_server_start_waits_for_it() {
    let (sandbox, claude) = setup();
    // The server is started without waiting for it to listen; the command races it.
    let port = free_port().to_string();
    let mut cmd = support::clauster_run(&sandbox, Some(&port));
    cmd.env("CLAUSTER_CLAUDE_BINARY", &claude);
    let log = sandbox.dir.path().join("racing-server.log");
    let _server = support::spawn_logged(cmd, &log);
    let listed = clauster(&sandbox, &["status"], &[]);
    support::assert_exit(&listed, 0);
    assert_eq!(text(&listed.stderr), "No bridge instances.\n");
    // Whichever took the lock first, the server is serving now.
    let up = wait_for(Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", port.parse::<u16>().unwrap())).ok()
    });
    assert!(
        up.is_some(),
        "{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}

#[test]
fn projects_resume_open_logs_and_forget_from_the_command_line() {
    let (sandbox, claude) = setup();
    sandbox.project("beta", &[]);
    let env = [("CLAUSTER_CLAUDE_BINARY", claude.to_str().unwrap())];

    let listed = clauster(&sandbox, &["projects"], &env);
    support::assert_exit(&listed, 0);
    let table = text(&listed.stdout);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("PROJECT  GIT  TRUST"), "{table}");
    assert!(lines[1].starts_with("alpha    git  trusted"), "{table}");
    assert!(lines[2].starts_with("beta     -    untrusted"), "{table}");

    let started = clauster(&sandbox, &["start", "alpha"], &env);
    support::assert_exit(&started, 0);
    let opened = clauster(&sandbox, &["open", "alpha", "--qr"], &env);
    support::assert_exit(&opened, 0);
    let out = text(&opened.stdout);
    assert!(out.starts_with("https://claude.ai/code/session_"), "{out}");
    assert!(
        out.contains('▀') || out.contains('▄') || out.contains('█'),
        "a QR code: {out}"
    );

    let logs = clauster(&sandbox, &["logs", "alpha", "-n", "3"], &env);
    support::assert_exit(&logs, 0);
    let logged = text(&logs.stdout);
    assert_eq!(logged.lines().count(), 3, "{logged}");
    assert!(!logged.contains("session_01FAKE"), "redacted: {logged}");

    // Forget refuses a live bridge (exit 1), then works once it is stopped.
    let live = clauster(&sandbox, &["forget", "alpha"], &env);
    support::assert_exit(&live, 1);
    support::assert_exit(&clauster(&sandbox, &["stop", "alpha"], &env), 0);
    let resumed = support::stdout_after(
        &clauster(&sandbox, &["resume", "alpha", "--fresh"], &env),
        0,
    );
    assert!(
        resumed.contains("(alpha) mode=standard status=running"),
        "{resumed}"
    );
    support::assert_exit(&clauster(&sandbox, &["stop", "alpha"], &env), 0);
    let forgot = clauster(&sandbox, &["forget", "alpha"], &env);
    support::assert_exit(&forgot, 0);
    assert!(text(&forgot.stdout).starts_with("forgot "));
    assert!(text(&forgot.stdout).ends_with(" (alpha)\n"));
    let unknown = clauster(&sandbox, &["open", "alpha"], &env);
    support::assert_exit(&unknown, 2);
}

#[test]
fn install_service_prints_a_unit_that_keeps_bridges_alive() {
    let (sandbox, _claude) = setup();
    let printed = clauster(&sandbox, &["install-service", "systemd"], &[]);
    support::assert_exit(&printed, 0);
    let unit = text(&printed.stdout);
    // systemd is the default kind, as the guide runs it bare.
    let bare = clauster(&sandbox, &["install-service"], &[]);
    support::assert_exit(&bare, 0);
    assert_eq!(text(&bare.stdout), unit);
    assert!(unit.contains("\nKillMode=process\n"), "{unit}");
    assert!(unit.contains("\nLimitNOFILE=65536\n"), "{unit}");
    assert!(
        unit.contains(" run -c /etc/clauster/clauster.yml\n"),
        "{unit}"
    );
    // No config file anywhere: the unit could not start, and the command says so.
    assert_eq!(
        text(&printed.stderr),
        "clauster: warning: /etc/clauster/clauster.yml does not exist; the service cannot \
         start until it does: create it (an empty file means the defaults) or pass -c with \
         your config\n"
    );
    // With one, the unit runs the file `clauster run` reads here now.
    let found = sandbox.home().join(".config/clauster/clauster.yml");
    std::fs::create_dir_all(found.parent().unwrap()).unwrap();
    std::fs::write(&found, "port: 7621\n").unwrap();
    let printed = clauster(&sandbox, &["install-service", "systemd"], &[]);
    support::assert_exit(&printed, 0);
    assert!(
        text(&printed.stdout).contains(&format!(" run -c {}\n", found.display())),
        "{}",
        text(&printed.stdout)
    );
    assert_eq!(text(&printed.stderr), "");
    std::fs::remove_file(&found).unwrap();
    let path = sandbox.dir.path().join("units/clauster.service");
    let written = clauster(
        &sandbox,
        &[
            "install-service",
            "systemd",
            "--user",
            "--write",
            path.to_str().unwrap(),
        ],
        &[],
    );
    support::assert_exit(&written, 0);
    assert!(
        std::fs::read_to_string(&path)
            .unwrap()
            .contains("WantedBy=default.target")
    );
    // A bare `--write`, before or after another flag: the default place of a user unit.
    for args in [["--user", "--write"], ["--write", "--user"]] {
        let bare = clauster(
            &sandbox,
            &["install-service", "systemd", args[0], args[1]],
            &[],
        );
        support::assert_exit(&bare, 0);
        let default = sandbox.home().join(".config/systemd/user/clauster.service");
        assert!(
            text(&bare.stdout).starts_with(&format!("wrote {}\n", default.display())),
            "{}",
            text(&bare.stdout)
        );
        assert!(
            std::fs::read_to_string(&default)
                .unwrap()
                .contains("KillMode=process")
        );
        std::fs::remove_file(&default).unwrap();
    }
    let other = clauster(&sandbox, &["install-service", "launchd"], &[]);
    assert_eq!(other.status.code(), Some(2));
    assert_eq!(
        text(&other.stderr),
        "clauster: error: only systemd is supported\n"
    );
}

/// The race behind a once-seen "Connection reset by peer" (issue 14): a command that runs the
/// engine itself used to serve it on the control socket, so another command (or a starting
/// server's probe) could connect to it while it was still being built, or as it shut down,
/// and have its request dropped. Now a command's engine is private to it: while one runs,
/// nothing answers on the control socket, and a second command waits for the engine lock
/// and then runs its own.
#[test]
fn a_command_running_the_engine_cannot_be_reached_by_another() {
    let (sandbox, claude) = setup();
    // A start that takes seconds: the bridge's markers come 3 s after its launch.
    std::fs::write(
        sandbox.projects_root().join("alpha/.fake-claude.json"),
        r#"{"mode": "slow", "slow": "3"}"#,
    )
    .unwrap();
    let claude_env = [("CLAUSTER_CLAUDE_BINARY", claude.to_str().unwrap())];
    let spawn = |args: &[&str], name: &str| {
        let mut cmd = sandbox.command(clauster_bin());
        cmd.args(args)
            .env("CLAUSTER_PROJECTS_ROOT", sandbox.projects_root())
            .env("CLAUSTER_CLAUDE_BINARY", &claude);
        let out = std::fs::File::create(sandbox.dir.path().join(format!("{name}.out"))).unwrap();
        let err = std::fs::File::create(sandbox.dir.path().join(format!("{name}.err"))).unwrap();
        cmd.stdin(std::process::Stdio::null())
            .stdout(out)
            .stderr(err);
        support::KillOnDrop(cmd.spawn().expect("spawn clauster"))
    };
    let read =
        |name: &str| std::fs::read_to_string(sandbox.dir.path().join(name)).unwrap_or_default();

    let mut first = spawn(&["start", "alpha", "--json"], "first");
    let first_pid = first.0.id().to_string();
    let lock = sandbox.state_dir().join("engine.lock");
    let held = wait_for(Duration::from_secs(20), || {
        (std::fs::read_to_string(&lock).ok()?.lines().next()? == first_pid).then_some(())
    });
    assert!(
        held.is_some(),
        "the first command never took the engine lock: {}",
        read("first.err")
    );
    let mut second = spawn(&["status", "--json"], "second");

    // For as long as the first command runs its engine, nobody can reach that engine.
    let socket = sandbox.state_dir().join("control.sock");
    let ended = wait_for(Duration::from_mins(1), || {
        assert!(
            std::os::unix::net::UnixStream::connect(&socket).is_err(),
            "a command's engine answers on the control socket"
        );
        first.0.try_wait().ok().flatten()
    });
    let status = ended.expect("the first command ends");
    assert_eq!(status.code(), Some(0), "{}", read("first.err"));
    let outcome: Value = serde_json::from_str(&read("first.out")).expect("start --json");
    assert_eq!(outcome["status"], "running", "{outcome}");

    // The second command waited for the lock and ran its own engine.
    let status = wait_for(Duration::from_mins(1), || {
        second.0.try_wait().ok().flatten()
    })
    .expect("the second command ends");
    assert_eq!(status.code(), Some(0), "{}", read("second.err"));
    let listed: Value = serde_json::from_str(&read("second.out")).expect("status --json");
    assert_eq!(listed[0]["status"], "running", "{listed}");
    assert!(!socket.exists(), "a command left a socket behind");
    let stopped = clauster(&sandbox, &["stop", "alpha"], &claude_env);
    support::assert_exit(&stopped, 0);
}

/// A command whose stdout is a pipe nobody reads any more (`clauster status --json | head
/// -1` after `head` exited) ends by SIGPIPE like any Unix tool, not with a panic and exit 101
/// ("failed printing to stdout: Broken pipe").
#[test]
fn a_closed_stdout_pipe_ends_a_command_quietly() {
    use std::os::unix::process::ExitStatusExt as _;
    let (sandbox, _claude) = setup();
    for args in [
        &["status", "--json"][..],
        &["version", "--json"],
        &["projects", "--json"],
    ] {
        let (reader, writer) = std::io::pipe().expect("a pipe");
        drop(reader);
        let mut cmd = sandbox.command(clauster_bin());
        cmd.args(args)
            .env("CLAUSTER_PROJECTS_ROOT", sandbox.projects_root())
            .stdout(writer);
        let output = cmd.output().expect("run clauster");
        let stderr = text(&output.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(
            (output.status.code(), output.status.signal()),
            (None, Some(13)),
            "{args:?} ended by SIGPIPE: {stderr}"
        );
    }
    // A usage error with stderr closed (`2>&1 | head -1`) is still exit 2, not a panic.
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let mut cmd = sandbox.command(clauster_bin());
    cmd.arg("start").stderr(writer);
    let output = cmd.output().expect("run clauster");
    assert_eq!(output.status.code(), Some(2), "{output:?}");
}
