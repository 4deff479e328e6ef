//! Starting a dashboard server (ours or the Python Clauster) on a generated projects root with
//! one `clauster.yml` both read, and measuring it from outside: cold start, RSS, latency,
//! page size.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::http::Client;

/// Which program serves.
#[derive(Debug, Clone)]
pub enum Flavor {
    /// Our `clauster` binary.
    Ours(PathBuf),
    /// The Python Clauster's `clauster` entry point inside its virtual environment.
    Python(PathBuf),
}

impl Flavor {
    pub fn name(&self) -> &'static str {
        match self {
            Flavor::Ours(_) => "ours",
            Flavor::Python(_) => "python",
        }
    }
}

/// A sandbox: HOME, state dir and projects root under one directory.
#[derive(Debug, Clone)]
pub struct Sandbox {
    pub dir: PathBuf,
}

impl Sandbox {
    pub fn home(&self) -> PathBuf {
        self.dir.join("home")
    }

    pub fn projects_root(&self) -> PathBuf {
        self.dir.join("projects")
    }

    /// A fresh sandbox with `n` projects: every third a git repository, every fourth with a
    /// CLAUDE.md, every fifth with `.claude/`, as a real projects root mixes them.
    pub fn create(dir: &Path, n: usize) -> std::io::Result<Self> {
        if dir.exists() {
            std::fs::remove_dir_all(dir)?;
        }
        let sandbox = Self {
            dir: dir.to_path_buf(),
        };
        std::fs::create_dir_all(sandbox.home())?;
        for i in 0..n {
            let project = sandbox.projects_root().join(format!("p{i:04}"));
            std::fs::create_dir_all(&project)?;
            if i % 3 == 0 {
                std::fs::create_dir_all(project.join(".git"))?;
            }
            if i % 4 == 0 {
                std::fs::write(project.join("CLAUDE.md"), "# notes\n")?;
            }
            if i % 5 == 0 {
                std::fs::create_dir_all(project.join(".claude"))?;
            }
        }
        Ok(sandbox)
    }

    /// Marks `projects` trusted in `~/.claude.json`, as claude itself would.
    pub fn trust(&self, projects: &[&str]) -> std::io::Result<()> {
        let mut map = serde_json::Map::new();
        for name in projects {
            let path = std::fs::canonicalize(self.projects_root().join(name))?;
            map.insert(
                path.to_string_lossy().into_owned(),
                serde_json::json!({ "hasTrustDialogAccepted": true }),
            );
        }
        std::fs::write(
            self.home().join(".claude.json"),
            serde_json::json!({ "projects": map }).to_string(),
        )
    }

    /// The one `clauster.yml` both servers read (config.md §3: the keys are shared).
    pub fn write_config(&self, port: u16, claude: &Path) -> std::io::Result<PathBuf> {
        let path = self.dir.join("clauster.yml");
        let text = format!(
            "host: 127.0.0.1\nport: {port}\nprojects_root: {root}\nstate_dir: {state}\n\
             claude:\n  binary: {claude}\n  stop_grace_seconds: 2\n\
             auth:\n  enabled: false\n",
            root = self.projects_root().display(),
            state = self.home().join(".clauster").display(),
            claude = claude.display(),
        );
        std::fs::write(&path, text)?;
        Ok(path)
    }
}

/// A running server, killed with its process group when dropped.
#[derive(Debug)]
pub struct Running {
    pub child: Child,
    pub port: u16,
    /// From spawn to the first `200` on `/healthz`.
    pub cold_start: Duration,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Running {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

pub fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Starts `flavor` on the sandbox and waits for the first `200` on `/healthz` (polled every
/// millisecond), or fails after 60 s with the server's output.
pub fn start(
    flavor: &Flavor,
    sandbox: &Sandbox,
    claude: &Path,
    extra_env: &[(&str, String)],
) -> Result<Running, String> {
    let port = free_port().map_err(|e| format!("no free port: {e}"))?;
    // Installed as `<sandbox>/bin/claude`, as the end-to-end tests do: the bridge's command
    // line then starts with `…/bin/claude`, like the real CLI's.
    let bin = sandbox.dir.join("bin");
    let installed = bin.join("claude");
    std::fs::create_dir_all(&bin).map_err(|e| format!("{}: {e}", bin.display()))?;
    let _ = std::fs::remove_file(&installed);
    std::os::unix::fs::symlink(claude, &installed)
        .map_err(|e| format!("could not link {}: {e}", installed.display()))?;
    let config = sandbox
        .write_config(port, &installed)
        .map_err(|e| format!("could not write clauster.yml: {e}"))?;
    let (exe, args): (&Path, Vec<String>) = match flavor {
        Flavor::Ours(bin) => (
            bin,
            vec![
                "run".into(),
                "--config".into(),
                config.display().to_string(),
            ],
        ),
        Flavor::Python(bin) => (
            bin,
            vec!["run".into(), "-c".into(), config.display().to_string()],
        ),
    };
    let log_path = sandbox
        .dir
        .join(format!("server-{}-{port}.log", flavor.name()));
    let log = std::fs::File::create(&log_path).map_err(|e| format!("log file: {e}"))?;
    let mut cmd = Command::new(exe);
    cmd.args(&args)
        .env_clear()
        .env("HOME", sandbox.home())
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("FAKE_CLAUDE_MAX_SECONDS", "600")
        .current_dir(&sandbox.dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log);
    for (name, value) in extra_env {
        cmd.env(name, value);
    }
    let started = Instant::now();
    let child = cmd
        .spawn()
        .map_err(|e| format!("could not start {}: {e}", exe.display()))?;
    let mut running = Running {
        child,
        port,
        cold_start: Duration::ZERO,
    };
    let deadline = started + Duration::from_mins(1);
    loop {
        if let Ok(response) = Client::new(port).get("/healthz")
            && response.status == 200
        {
            running.cold_start = started.elapsed();
            return Ok(running);
        }
        if let Ok(Some(status)) = running.child.try_wait() {
            return Err(format!(
                "{} exited with {status} before answering /healthz:\n{}",
                flavor.name(),
                std::fs::read_to_string(&log_path).unwrap_or_default()
            ));
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{} did not answer /healthz within 60 s:\n{}",
                flavor.name(),
                std::fs::read_to_string(&log_path).unwrap_or_default()
            ));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// `VmRSS:   1234 kB` → 1234.
pub fn status_kib(status: &str, key: &str) -> u64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// RSS in bytes of `pid` and its descendants that are not `claude` bridges (the Python
/// server may run helper processes; bridges are measured separately).
pub fn tree_rss(pid: u32) -> u64 {
    let mut total = 0;
    let mut stack = vec![pid];
    while let Some(p) = stack.pop() {
        let Ok(status) = std::fs::read_to_string(format!("/proc/{p}/status")) else {
            continue;
        };
        let name = status
            .lines()
            .find_map(|l| l.strip_prefix("Name:"))
            .unwrap_or("")
            .trim();
        if name == "claude" || name == "fake-claude" {
            continue;
        }
        total += status_kib(&status, "VmRSS:") * 1024;
        if let Ok(children) = std::fs::read_to_string(format!("/proc/{p}/task/{p}/children")) {
            stack.extend(
                children
                    .split_whitespace()
                    .filter_map(|c| c.parse::<u32>().ok()),
            );
        }
    }
    total
}

/// `count` timed GETs of `path` on one kept-alive connection, after `warmup` untimed ones;
/// the durations and the last body's size. Stops early once `budget` is spent and at least 10
/// were timed (a page that takes a second to render would otherwise hold the run for
/// minutes). Any non-200 answer is an error.
pub fn timed_gets(
    port: u16,
    path: &str,
    warmup: usize,
    count: usize,
    budget: Duration,
) -> Result<(Vec<Duration>, usize), String> {
    let begun = Instant::now();
    let mut client = Client::new(port);
    let mut size = 0;
    let mut times = Vec::with_capacity(count);
    for i in 0..warmup + count {
        let started = Instant::now();
        let response = client.get(path).map_err(|e| e.to_string())?;
        let took = started.elapsed();
        if response.status != 200 {
            return Err(format!(
                "GET {path} answered {}: {}",
                response.status,
                String::from_utf8_lossy(&response.body)
            ));
        }
        size = response.body.len();
        if i >= warmup {
            times.push(took);
            if times.len() >= 10 && begun.elapsed() > budget {
                break;
            }
        }
    }
    Ok((times, size))
}

/// How many project cards `GET /api/projects` lists (a check that the server saw them all).
pub fn project_count(port: u16) -> Result<usize, String> {
    let response = Client::new(port)
        .get("/api/projects")
        .map_err(|e| e.to_string())?;
    let json = response
        .json()
        .ok_or_else(|| "GET /api/projects did not answer JSON".to_owned())?;
    // Ours answers an array; tolerate an object with a `projects` array too.
    json.as_array()
        .or_else(|| json.get("projects").and_then(|p| p.as_array()))
        .map(Vec::len)
        .ok_or_else(|| format!("unexpected /api/projects shape: {json:.200}"))
}
