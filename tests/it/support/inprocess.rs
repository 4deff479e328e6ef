//! A server served inside the test process, so a test can hand it the clone URL policy
//! (data.md §3.6, README §Workspace), and the git fixtures the clone tests use: a bare
//! repository, `git daemon` on 127.0.0.1, and a slow proxy in front of it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use clauster_core::clone::UrlPolicy;
use clauster_core::config::{ConfigInput, IpNet};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::{KillOnDrop, Sandbox, fake_claude, free_port, listening};

/// A server running inside the test process; it stops when dropped.
pub struct InProcess {
    pub base: String,
    pub ws: String,
    stop: tokio::sync::oneshot::Sender<()>,
    served: tokio::task::JoinHandle<Result<(), clauster_server::ServeError>>,
}

impl InProcess {
    /// Shuts the server down as a signal would, and waits until serving has ended.
    pub async fn shut_down(self) {
        let _ = self.stop.send(());
        let ended = tokio::time::timeout(Duration::from_secs(30), self.served)
            .await
            .expect("the shutdown ended within 30 s");
        assert!(matches!(ended, Ok(Ok(()))), "{ended:?}");
    }
}

/// Starts `serve` on 127.0.0.1:0 with `extra` YAML appended to a config that points at the
/// sandbox, and `policy` as the clone URL policy.
pub async fn serve(sandbox: &Sandbox, extra: &str, policy: UrlPolicy) -> InProcess {
    serve_with(
        sandbox,
        extra,
        clauster_server::ServeOptions {
            clone_url_policy: policy,
            ..clauster_server::ServeOptions::default()
        },
    )
    .await
}

/// [`serve`] with every `ServeOptions` field chosen by the test (the built `clauster` as
/// `self_exe` for pty bridges, a URL policy).
pub async fn serve_with(
    sandbox: &Sandbox,
    extra: &str,
    options: clauster_server::ServeOptions,
) -> InProcess {
    let claude = fake_claude(sandbox);
    std::fs::create_dir_all(sandbox.projects_root()).expect("create projects_root");
    // `clauster run` creates the state directory before serving; so does this harness.
    std::fs::create_dir_all(sandbox.state_dir()).expect("create state_dir");
    std::fs::set_permissions(
        sandbox.state_dir(),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .expect("chmod state_dir");
    let text = format!(
        "projects_root: {root}\nstate_dir: {state}\n{extra}",
        root = sandbox.projects_root().display(),
        state = sandbox.state_dir().display(),
    );
    // The claude keys come as variables, so `extra` may have a `claude:` section of its own.
    let env = [
        ("CLAUSTER_CLAUDE_BINARY", claude.display().to_string()),
        (
            "CLAUSTER_CLAUDE_CONFIG_DIR",
            format!("{}/.claude", sandbox.home().display()),
        ),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value))
    .collect();
    let loaded = clauster_core::config::load(&ConfigInput {
        text: Some(text),
        env,
        home: Some(sandbox.home()),
        ..ConfigInput::default()
    })
    .expect("a valid test config");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let config = clauster_server::ServerConfig {
        config: loaded.config,
        config_file: None,
        session_secret: None,
        load_input: ConfigInput::default(),
    };
    let served = tokio::spawn(clauster_server::serve(
        config,
        listener,
        async move {
            let _ = stopped.await;
        },
        options,
    ));
    let health = format!("http://127.0.0.1:{port}/healthz");
    for _ in 0..200 {
        assert!(!served.is_finished(), "serve stopped: {:?}", served.await);
        // An answer, or a TLS listener hanging up on plain HTTP, means it accepts.
        match reqwest::get(&health).await {
            Ok(_) => break,
            Err(err) if !err.is_connect() && !err.is_timeout() => break,
            Err(_) => tokio::time::sleep(Duration::from_millis(25)).await,
        }
    }
    InProcess {
        base: format!("http://127.0.0.1:{port}"),
        ws: format!("ws://127.0.0.1:{port}"),
        stop,
        served,
    }
}

/// The real policy plus 127.0.0.1, as data.md §3.6 describes the test policy.
/// Clone URLs whose host is always blocked (loopback, link-local metadata, loopback in other
/// spellings; security.md §12 #36): the URL, the host the refusal names, the address it
/// names.
pub const ALWAYS_BLOCKED: [(&str, &str, &str); 5] = [
    ("https://127.0.0.1/x", "127.0.0.1", "127.0.0.1"),
    ("https://[::1]/x", "::1", "::1"),
    (
        "https://169.254.169.254/",
        "169.254.169.254",
        "169.254.169.254",
    ),
    ("https://0x7f000001/", "127.0.0.1", "127.0.0.1"),
    ("https://2130706433/", "127.0.0.1", "127.0.0.1"),
];

pub fn test_policy() -> UrlPolicy {
    UrlPolicy::real().admitting(IpNet::parse("127.0.0.1").expect("a network"))
}

pub fn git(args: &[&str], cwd: &Path) {
    let status = Command::new("git")
        .args(["-c", "user.name=Test", "-c", "user.email=test@example.com"])
        .args(args)
        .current_dir(cwd)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run git");
    assert!(status.success(), "git {args:?} failed");
}

/// A bare repository `<sandbox>/repos/<name>.git` with a README, a CLAUDE.md and
/// `random_bytes` of incompressible data.
pub fn bare_repo(sandbox: &Sandbox, name: &str, random_bytes: usize) -> PathBuf {
    let work = sandbox.dir.path().join(format!("work-{name}"));
    std::fs::create_dir_all(&work).expect("create the work tree");
    git(&["init", "-q", "-b", "main"], &work);
    std::fs::write(work.join("README.md"), "# demo\n").expect("write");
    std::fs::write(work.join("CLAUDE.md"), "Be brief.\n").expect("write");
    if random_bytes > 0 {
        let mut data = vec![0_u8; random_bytes];
        let mut urandom = std::fs::File::open("/dev/urandom").expect("open /dev/urandom");
        std::io::Read::read_exact(&mut urandom, &mut data).expect("read random bytes");
        std::fs::write(work.join("blob.bin"), data).expect("write");
    }
    git(&["add", "."], &work);
    git(&["commit", "-qm", "initial"], &work);
    let repos = sandbox.dir.path().join("repos");
    std::fs::create_dir_all(&repos).expect("create repos");
    let bare = repos.join(format!("{name}.git"));
    git(
        &[
            "clone",
            "-q",
            "--bare",
            &work.to_string_lossy(),
            &bare.to_string_lossy(),
        ],
        &repos,
    );
    bare
}

/// `git daemon` serving `<sandbox>/repos` on 127.0.0.1; returns the guard and the port.
pub fn git_daemon(sandbox: &Sandbox) -> (KillOnDrop, u16) {
    git_daemon_with(sandbox, &[])
}

pub fn git_daemon_with(sandbox: &Sandbox, extra: &[String]) -> (KillOnDrop, u16) {
    let repos = sandbox.dir.path().join("repos");
    std::fs::create_dir_all(&repos).expect("create repos");
    let port = free_port();
    let mut cmd = Command::new("git");
    cmd.arg("daemon")
        .arg("--reuseaddr")
        .arg("--export-all")
        .arg(format!("--base-path={}", repos.display()))
        .arg("--listen=127.0.0.1")
        .arg(format!("--port={port}"))
        .args(extra)
        .arg(repos.as_os_str());
    let daemon = super::spawn_logged(cmd, &sandbox.dir.path().join("git-daemon.log"));
    let up = listening(port, Duration::from_secs(10));
    assert!(up, "git daemon did not start");
    (daemon, port)
}

/// A proxy on 127.0.0.1 to `upstream` that passes the server's bytes on slowly
/// (16 KiB every 100 ms), so a clone of a few MiB takes many seconds and shows progress.
pub async fn slow_proxy(upstream: u16) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(server) = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await
                else {
                    return;
                };
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
                });
                let mut buf = vec![0_u8; 16 * 1024];
                loop {
                    let Ok(n) = server_read.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 || client_write.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            });
        }
    });
    port
}
