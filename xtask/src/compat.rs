//! `cargo xtask compat`: the Python Clauster 1.3.2's own HTTP tests, re-pointed at a real
//! `clauster run` process by our pytest plugin (`compat/clauster_compat.py`, issue 18).
//!
//! Everything is fetched into `target/compat` from PyPI with pip: the sdist (for its
//! `tests/`), and a venv holding the 1.3.2 wheel (its `conftest.py` imports it, and its
//! `clauster` binary is the control), pytest and what the conftest needs. Ours runs against
//! the committed baseline (`compat/baseline.txt`, the tests that pass against 1.3.2) and
//! fails only on a baseline test that fails against ours and is not in
//! `compat/allowlist.toml`. `--control` runs the same tests against the original binary and
//! rewrites the baseline (by hand, not in CI: about 40 minutes).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Result, cargo, status, target_dir};

const PYTHON_CLAUSTER: &str = "clauster==1.3.2";
const SDIST_DIR: &str = "clauster-1.3.2";
/// Pinned so a new release of a test dependency cannot move the baseline.
const TEST_REQUIREMENTS: &[&str] = &[
    PYTHON_CLAUSTER,
    "pytest==9.2.0",
    "pytest-asyncio==1.5.0",
    "pytest-timeout==2.4.0",
    "pytest-xdist==3.8.0",
    "hypothesis==6.170.27",
    "websockets==17.4",
    "pyyaml==6.0.4",
    "pyte==0.8.2",
];

/// The test files of the features we serve. Files of later issues' features (login
/// shepherd, config-write, transcripts, notifications) join when their issue lands.
pub const FILES: &[&str] = &[
    "test_app_public_api",
    "test_app_routes",
    "test_app_instances",
    "test_app_auth",
    "test_app_security_headers",
    "test_claude_md",
    "test_app",
    "test_app_ui_kill_switch",
    "test_app_root_path_guards",
    "test_app_ws_pty_screen",
    "test_app_shutdown",
    "test_app_help",
    "test_app_advanced_config",
    "test_app_config",
    "test_clone_pipeline",
    "test_logtail",
    "test_spawn_controls",
    "test_launch_popover",
    "test_permission_labels",
    "test_form_field_a11y",
    "test_urls",
    "test_supervisor",
    "test_provisioning",
    "test_dependencies",
    // Claude Code's configuration (issue 23, config-write.md); plugins and the MCP CLI path
    // are not served.
    "test_config_write",
    "test_config_write_claude_md",
    "test_config_write_hooks",
    "test_config_write_mcp",
    "test_config_write_permissions",
    "test_config_write_settings",
    "test_config_write_skills",
    "test_config_write_subagents",
];

/// pytest-xdist workers for a run against ours. The suite is bound by waiting, not by CPU:
/// on 2 cores, 4 workers take about a third of the serial time.
const WORKERS: usize = 4;

pub struct Options {
    /// Run against the original binary and rewrite the baseline.
    pub control: bool,
    /// Test ours as a release build (fat LTO: minutes more to build, same behaviour).
    pub release: bool,
    /// Passed to pytest (`-k`, a node id, `--tb=short`); any makes the run a partial one.
    pub pytest_args: Vec<String>,
    /// Only fetch what the run needs (the venv and the sdist's tests), run nothing: CI does
    /// this in the background while it compiles.
    pub prepare: bool,
}

impl Options {
    pub fn parse(args: &[String]) -> Result<Self> {
        let (ours, pytest_args) = match args.iter().position(|a| a == "--") {
            Some(at) => (&args[..at], args[at + 1..].to_vec()),
            None => (args, Vec::new()),
        };
        let mut options = Self {
            control: false,
            release: false,
            pytest_args,
            prepare: false,
        };
        for arg in ours {
            match arg.as_str() {
                "--control" => options.control = true,
                "--release" => options.release = true,
                "--prepare" => options.prepare = true,
                other => return Err(format!("compat: unknown argument '{other}'").into()),
            }
        }
        Ok(options)
    }
}

/// Builds what is missing and runs the suite; `Ok` when no baseline test regressed.
pub fn run(root: &Path, options: &Options) -> Result {
    let dir = target_dir(root).join("compat");
    std::fs::create_dir_all(&dir)?;
    let venv = venv(&dir)?;
    let tests = sdist(&dir, &venv)?;
    if options.prepare {
        return Ok(());
    }
    let server = if options.control {
        venv.join("bin/clauster")
    } else {
        let mut cmd = cargo();
        cmd.args(["build", "--package", "clauster-cli", "--bin", "clauster"]);
        if options.release {
            cmd.arg("--release");
        }
        status(&mut cmd)?;
        target_dir(root)
            .join(if options.release { "release" } else { "debug" })
            .join("clauster")
    };
    let mode = if options.control { "control" } else { "ours" };
    // `-- tests/test_app.py::test_x` runs just that; `-- -k word` filters the whole list.
    let names_tests = options.pytest_args.iter().any(|a| a.starts_with("tests/"));
    let mut cmd = Command::new(venv.join("bin/python"));
    cmd.current_dir(&tests)
        .args([
            "-m",
            "pytest",
            "-p",
            "clauster_compat",
            "-p",
            "no:cacheprovider",
        ])
        // The sdist's addopts run coverage and xdist with its own options; we set ours.
        .args([
            "-o",
            "addopts=",
            "-o",
            "asyncio_default_fixture_loop_scope=function",
        ])
        // The tests mostly wait on processes and sockets: ours runs on several workers (the
        // plugin keeps their ports apart). The control run stays serial: it records the
        // baseline test by test as it goes.
        .args(if options.control {
            vec![]
        } else {
            vec!["-n".to_owned(), WORKERS.to_string()]
        })
        .args([
            "-q",
            "--tb=line",
            "-rN",
            "--timeout=180",
            "-W",
            "ignore::DeprecationWarning",
        ])
        // Short (unix-socket paths live under it) and one per mode, so a control run and
        // ours can run at once without pytest pruning each other's directories.
        .arg(format!("--basetemp=/tmp/clauster-compat-{mode}"))
        .args(
            FILES
                .iter()
                .filter(|_| !names_tests)
                .map(|f| format!("tests/{f}.py")),
        )
        .args(&options.pytest_args)
        .env("PYTHONPATH", root.join("compat"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("COMPAT_SERVER", &server)
        .env("COMPAT_BASELINE", root.join("compat/baseline.txt"))
        .env("COMPAT_ALLOWLIST", root.join("compat/allowlist.toml"))
        .env("COMPAT_RESULTS", dir.join(format!("results-{mode}.json")))
        .env_remove("CLAUSTER_CONFIG")
        .env_remove("CLAUSTER_HOME");
    if options.control {
        cmd.env("COMPAT_RECORD", root.join("compat/baseline.txt"))
            .env("COMPAT_FORK", "1");
    }
    if !options.pytest_args.is_empty() {
        cmd.env("COMPAT_FILTERED", "1");
    }
    status(&mut cmd).map_err(|e| {
        format!("{e}\ncompat: a test that passes against the Python Clauster 1.3.2 fails against ours (listed above)").into()
    })
}

/// `target/compat/venv` with the pinned requirements, reinstalled when the list changes.
fn venv(dir: &Path) -> Result<PathBuf> {
    let venv = dir.join("venv");
    let stamp = venv.join("compat-requirements.txt");
    let wanted = TEST_REQUIREMENTS.join("\n");
    if std::fs::read_to_string(&stamp).is_ok_and(|have| have == wanted) {
        return Ok(venv);
    }
    if !venv.join("bin/python").exists() {
        let python = if Command::new("python3.11").arg("--version").output().is_ok() {
            "python3.11"
        } else {
            "python3"
        };
        status(Command::new(python).arg("-m").arg("venv").arg(&venv))?;
    }
    status(
        Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check"])
            .args(TEST_REQUIREMENTS),
    )?;
    std::fs::write(&stamp, wanted)?;
    Ok(venv)
}

/// The unpacked sdist (`target/compat/clauster-1.3.2`), downloaded when missing.
fn sdist(dir: &Path, venv: &Path) -> Result<PathBuf> {
    let tree = dir.join(SDIST_DIR);
    if tree.join("tests/conftest.py").exists() {
        return Ok(tree);
    }
    let download = dir.join("download");
    status(
        Command::new(venv.join("bin/pip"))
            .args([
                "download",
                "--quiet",
                "--disable-pip-version-check",
                "--no-deps",
            ])
            .args(["--no-binary", ":all:", "--dest"])
            .arg(&download)
            .arg(PYTHON_CLAUSTER),
    )?;
    let archive = download.join(format!("{SDIST_DIR}.tar.gz"));
    status(
        Command::new("tar")
            .arg("-xzf")
            .arg(&archive)
            .arg("-C")
            .arg(dir),
    )?;
    if tree.join("tests/conftest.py").exists() {
        Ok(tree)
    } else {
        Err(format!("{} holds no tests/conftest.py", archive.display()).into())
    }
}
