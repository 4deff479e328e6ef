//! Build, run, test and bench automation: `cargo xtask <task>`.
//!
//! Everything a fresh machine needs is installed here, from the package registries the
//! machines reach (rustup's wasm target, Debian's chromium + chromedriver, npm's `claude`
//! and `binaryen`), never from ad-hoc downloads.
// Printing progress is this program's job.
#![allow(clippy::print_stdout)]
#![forbid(unsafe_code)]

mod bench;
mod bundle;
mod compat;
mod docs;
mod fuzz;
mod setup;
mod tidy;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

type Result<T = (), E = Box<dyn std::error::Error>> = std::result::Result<T, E>;

const USAGE: &str = "\
usage: cargo xtask <task> [args]

tasks:
  run [-- ARGS]     build the release bundle and binary, then `clauster run ARGS`
                    (no config needed: 127.0.0.1:7621, projects in ~/projects)
  build [--release] build the hydrate bundle and the clauster binary
  bundle [--release] build only the hydrate bundle into target/site/pkg
  test [ARGS]       install what the tests need, build the bundle, run every test
  screenshots       run the browser tests, which save the dashboard's main states (first view,
                    running, failed launch, editor, server down, login; 1440 and 375 px wide,
                    light and dark) under target/test-artifacts, and list them
  it [FILTER...]    build `clauster` and run only the end-to-end binary (tests/it), filtered:
                    `cargo xtask it bridges::` (no bundle rebuild, no installs)
  torture [--seeds N] [--steps M] [--seed S]
                    the engine's torture test (tests/it/torture.rs) on N fresh seeds (default
                    5) of M steps (default 200), or replay seed S; reports steps per second
  ci                fmt --check, clippy -D warnings, tidy, docs, then test
  tidy              check that section citations (bridges.md §7.7) resolve in docs/,
                    no grab-bag module names, no import cycle between a crate's modules
  docs [--update]   build the book (docs/) into target/book; --update first regenerates
                    the generated reference pages (configuration, command line)
  setup             install what the tests need (wasm target, chromium, chromedriver, claude,
                    the MCP TypeScript SDK)
  fake-claude       build the fake `claude` and print its path
  bench [--quick] [--no-bundle]
                    build release binaries, install the Python Clauster 1.3.2 and ccusage
                    under target/bench, and print ours side by side with theirs
  compat [--control] [--release] [--prepare] [-- PYTEST_ARGS]
                    the Python Clauster 1.3.2's own HTTP tests against our `clauster run`
                    (fetched into target/compat); fails on a test that passes against 1.3.2
                    (compat/baseline.txt) unless compat/allowlist.toml names it. --control
                    runs them against the original instead and rewrites the baseline;
                    --prepare only fetches the venv and the tests
  fuzz [--seconds N] [TARGET...]
                    run the cargo-fuzz targets of fuzz/ for N seconds each (default 60);
                    installs cargo-fuzz under target/tools/cargo; needs the nightly toolchain
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((task, rest)) = args.split_first() else {
        eprint!("{USAGE}");
        return ExitCode::from(2);
    };
    let task = task.as_str();
    let result = match task {
        "run" => run(rest),
        "build" => build(rest.iter().any(|a| a == "--release")),
        "bundle" => bundle::build(
            &workspace_root(),
            rest.iter().any(|a| a == "--release"),
            bundle::Budget::Enforce,
        ),
        "test" => test(rest),
        "it" => it(rest),
        "torture" => torture(rest),
        "screenshots" => screenshots(),
        "ci" => ci(),
        "tidy" => tidy::run(&workspace_root()),
        "docs" => docs::run(&workspace_root(), rest),
        "setup" => setup::for_tests(&workspace_root()),
        "fake-claude" => fake_claude().map(|path| println!("{}", path.display())),
        "bench" => bench::run(&workspace_root(), rest),
        "fuzz" => fuzz::run(&workspace_root(), rest),
        "compat" => compat::Options::parse(rest).and_then(|o| compat::run(&workspace_root(), &o)),
        "help" | "--help" | "-h" => {
            print!("{USAGE}");
            Ok(())
        }
        other => {
            eprint!("unknown task '{other}'\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask {task}: {err}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root: xtask's manifest lives one level below it. `cargo run` sets the
/// variable at run time too; that value wins, so a binary built from another checkout of the
/// same workspace (sharing a target directory) still works on this one.
fn workspace_root() -> PathBuf {
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    manifest
        .parent()
        .expect("xtask sits inside the workspace")
        .to_path_buf()
}

/// Where cargo puts build output: `$CARGO_TARGET_DIR` (relative to the workspace when it is
/// relative) or `<root>/target`.
fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), |dir| root.join(dir))
}

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(workspace_root());
    cmd
}

/// Runs a command to completion, failing with its rendering when it does not succeed.
fn status(cmd: &mut Command) -> Result {
    let shown = format!("{cmd:?}");
    println!("$ {shown}");
    let status = cmd
        .status()
        .map_err(|e| format!("could not start {shown}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{shown} failed with {status}").into())
    }
}

fn build(release: bool) -> Result {
    let root = workspace_root();
    setup::wasm_target()?;
    bundle::build(&root, release, bundle::Budget::Warn)?;
    let mut cmd = cargo();
    cmd.args(["build", "--package", "clauster-cli"]);
    if release {
        cmd.arg("--release");
    }
    status(&mut cmd)
}

fn run(args: &[String]) -> Result {
    build(true)?;
    let args = args.strip_prefix(&["--".to_string()]).unwrap_or(args);
    let exe = workspace_root().join("target/release/clauster");
    status(Command::new(exe).arg("run").args(args))
}

fn fake_claude() -> Result<PathBuf> {
    status(cargo().args([
        "build",
        "--package",
        "clauster-tests",
        "--bin",
        "fake-claude",
    ]))?;
    Ok(workspace_root().join("target/debug/fake-claude"))
}

fn test(args: &[String]) -> Result {
    let root = workspace_root();
    setup::for_tests(&root)?;
    // The server embeds the bundle at compile time; the browser tests need it there.
    bundle::build(&root, false, bundle::Budget::Warn)?;
    let workspace = [
        "--no-fail-fast",
        "--workspace",
        "--exclude",
        "clauster-ui-wasm",
    ];
    if !args.is_empty() {
        let mut cmd = cargo_test_with_clauster(&root, &workspace)?;
        cmd.args(args);
        return run_counting_tests(&mut cmd).and_then(TestCount::verdict);
    }
    // Everything is compiled first, so the two runs below start at once; cargo's lock on
    // the target directory is held while it builds, not while tests run.
    status(cargo_test_with_clauster(&root, &workspace)?.arg("--no-run"))?;
    // The torture test is the longest (about 100 s) and sorts last: it runs beside the
    // rest from the start instead of after it, its output shown after theirs.
    let mut torture = cargo_test_with_clauster(&root, &IT_BINARY)?;
    torture.arg(TORTURE);
    println!("$ {torture:?} (beside the run below)");
    let torture = std::thread::spawn(move || torture.output());
    let mut rest = cargo_test_with_clauster(&root, &workspace)?;
    rest.args(["--", "--skip", TORTURE]);
    end_to_end_threads(&mut rest);
    let rest = run_counting_tests(&mut rest)?;
    let torture = torture.join().map_err(|_| "the torture run panicked")??;
    std::io::Write::write_all(&mut std::io::stderr(), &torture.stderr)?;
    let mut count = TestCount::default();
    for line in String::from_utf8_lossy(&torture.stdout).lines() {
        println!("{line}");
        count.line(line);
    }
    count.exit = Some(torture.status);
    count.add(rest).verdict()
}

/// The torture test's module path, as a libtest filter.
const TORTURE: &str = "torture::";

/// The end-to-end tests mostly wait on processes, sockets and browsers: at libtest's default
/// of one thread per core they kept two cores 13 % busy for six minutes. Six threads end
/// them in a third of the time. `RUST_TEST_THREADS` set by the caller wins.
fn end_to_end_threads(cmd: &mut Command) {
    if std::env::var_os("RUST_TEST_THREADS").is_none() {
        cmd.env("RUST_TEST_THREADS", "6");
    }
}

/// `cargo test <args>` in the tests' environment, against a `clauster` binary built first
/// (`TEST_CLAUSTER_BIN`). The end-to-end tests run the real binary. Built here, once, rather
/// than by each test binary: a nested `cargo build -p clauster-cli` resolves other features
/// than `cargo test --workspace` and would rebuild half the tree while tests wait.
fn cargo_test_with_clauster(root: &Path, args: &[&str]) -> Result<Command> {
    status(cargo().args(["build", "--package", "clauster-cli", "--bin", "clauster"]))?;
    let mut cmd = cargo();
    cmd.arg("test").args(args);
    setup::test_environment(root, &mut cmd);
    cmd.env("TEST_CLAUSTER_BIN", root.join("target/debug/clauster"));
    Ok(cmd)
}

/// `cargo test` arguments that run the end-to-end binary alone; what follows are its own.
const IT_BINARY: [&str; 5] = ["--package", "clauster-tests", "--test", "it", "--"];

/// The end-to-end binary alone, for the edit-build-test loop: what `test` sets up, minus the
/// installs and the bundle (the server embeds whatever bundle `target/site/pkg` holds).
fn it(filters: &[String]) -> Result {
    let root = workspace_root();
    let mut cmd = cargo_test_with_clauster(&root, &IT_BINARY)?;
    cmd.args(filters);
    end_to_end_threads(&mut cmd);
    run_counting_tests(&mut cmd)?.verdict()
}

/// `cargo xtask torture`: the torture test with its seeds and length from the command line
/// (`CLAUSTER_TORTURE_*`), its report printed; a failing seed prints how to replay it.
fn torture(args: &[String]) -> Result {
    let mut seeds = "5".to_owned();
    let mut steps = "200".to_owned();
    let mut replay = None;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let mut value = |name: &str| {
            rest.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match arg.as_str() {
            "--seeds" => seeds = value("--seeds")?,
            "--steps" => steps = value("--steps")?,
            "--seed" => replay = Some(value("--seed")?),
            other => return Err(format!("torture: unknown argument '{other}'").into()),
        }
    }
    for (name, number) in [("--seeds", &seeds), ("--steps", &steps)] {
        if number.parse::<u64>().map_or(true, |n| n == 0) {
            return Err(format!("torture: {name} takes a positive number, not '{number}'").into());
        }
    }
    let root = workspace_root();
    let mut cmd = cargo_test_with_clauster(&root, &IT_BINARY)?;
    cmd.args(["torture::", "--nocapture"])
        .env("CLAUSTER_TORTURE_STEPS", &steps);
    match replay {
        Some(seed) => cmd.env("CLAUSTER_TORTURE_SEED", seed),
        None => cmd.env("CLAUSTER_TORTURE_SEEDS", &seeds),
    };
    run_counting_tests(&mut cmd)?.verdict()
}

/// The browser tests, for their screenshots (issue 19): they save every main state under
/// `target/test-artifacts`; this lists what they wrote.
fn screenshots() -> Result {
    bundle::build(&workspace_root(), false, bundle::Budget::Warn)?;
    it(&["browser".to_owned()])?;
    let dir = workspace_root().join("target/test-artifacts");
    let mut shots: Vec<_> = std::fs::read_dir(&dir)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|e| e == "png"))
        .collect();
    shots.sort();
    for shot in shots {
        println!("{}", shot.display());
    }
    Ok(())
}

/// Runs `cargo test`, passing its output through, and closes with one line that totals every
/// test binary (cargo's own last line is often a doc-test binary with nothing in it).
fn run_counting_tests(cmd: &mut Command) -> Result<TestCount> {
    use std::io::BufRead;
    println!("$ {cmd:?}");
    let mut child = cmd.stdout(Stdio::piped()).spawn()?;
    let mut count = TestCount::default();
    if let Some(stdout) = child.stdout.take() {
        for line in std::io::BufReader::new(stdout).lines() {
            let line = line?;
            println!("{line}");
            count.line(&line);
        }
    }
    count.exit = Some(child.wait()?);
    Ok(count)
}

/// What a `cargo test` run printed and how it ended.
#[derive(Debug, Default)]
struct TestCount {
    passed: u64,
    failed: u64,
    /// `None` only for a sum whose every part succeeded.
    exit: Option<std::process::ExitStatus>,
    /// Every `thread '…' panicked at …` line with the first lines of its message: shown
    /// again above the total, so the tail of a long log says why a run failed.
    panics: Vec<String>,
    /// Message lines still to keep for the last panic.
    message_lines: usize,
}

/// How much of a panic's message [`TestCount`] keeps (an assertion may print a whole log).
const MESSAGE_LINES: usize = 6;
const MESSAGE_LINE_CHARS: usize = 300;

impl TestCount {
    /// Adds a binary's `test result:` line and keeps panics; other lines change nothing.
    fn line(&mut self, line: &str) {
        if let Some((passed, failed)) = parse_test_result(line) {
            self.passed += passed;
            self.failed += failed;
        }
        if line.starts_with("thread '") && line.contains(" panicked at ") {
            self.panics.push(line.to_owned());
            self.message_lines = MESSAGE_LINES;
        } else if self.message_lines > 0 {
            if line.is_empty() || line.starts_with("note: ") || line == "stack backtrace:" {
                self.message_lines = 0;
            } else if let Some(panic) = self.panics.last_mut() {
                panic.push('\n');
                panic.extend(line.chars().take(MESSAGE_LINE_CHARS));
                self.message_lines -= 1;
            }
        }
    }

    /// Both runs' tests and panics; the first failing exit if either failed.
    fn add(mut self, other: Self) -> Self {
        let exit = [self.exit, other.exit]
            .into_iter()
            .flatten()
            .find(|exit| !exit.success());
        self.panics.extend(other.panics);
        Self {
            passed: self.passed + other.passed,
            failed: self.failed + other.failed,
            exit,
            panics: self.panics,
            message_lines: 0,
        }
    }

    /// Prints the panics again and the total (CI reads this last line), and fails when a run
    /// did.
    fn verdict(self) -> Result {
        if !self.panics.is_empty() {
            println!("panics, again ({}):", self.panics.len());
            for panic in &self.panics {
                println!("{panic}");
            }
        }
        println!("tests: {self}");
        match self.exit {
            Some(exit) if !exit.success() => Err(format!("cargo test failed with {exit}").into()),
            _ => Ok(()),
        }
    }
}

impl std::fmt::Display for TestCount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} passed, {} failed", self.passed, self.failed)
    }
}

/// `test result: ok. 12 passed; 0 failed; …` → (12, 0).
fn parse_test_result(line: &str) -> Option<(u64, u64)> {
    let rest = line.strip_prefix("test result: ")?;
    let count = |word: &str| -> Option<u64> {
        rest.split(';').find_map(|part| {
            part.trim()
                .strip_suffix(word)?
                .rsplit(' ')
                .next()?
                .parse()
                .ok()
        })
    };
    Some((count(" passed")?, count(" failed")?))
}

fn ci() -> Result {
    status(cargo().args(["fmt", "--all", "--", "--check"]))?;
    status(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    // The wasm crate is empty off wasm32; lint it where it is real.
    status(cargo().args([
        "clippy",
        "--package",
        "clauster-ui-wasm",
        "--target",
        "wasm32-unknown-unknown",
        "--",
        "-D",
        "warnings",
    ]))?;
    let root = workspace_root();
    tidy::run(&root)?;
    docs::run(&root, &[])?;
    test(&[])?;
    compat::run(&root, &compat::Options::parse(&[])?)
}

#[cfg(test)]
mod tests {
    #[test]
    fn test_result_lines_are_totalled() {
        let line =
            "test result: ok. 172 passed; 0 failed; 0 ignored; 0 measured; finished in 1.66s";
        assert_eq!(super::parse_test_result(line), Some((172, 0)));
        let line = "test result: FAILED. 3 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out";
        assert_eq!(super::parse_test_result(line), Some((3, 1)));
        assert_eq!(super::parse_test_result("running 3 tests"), None);
    }

    #[test]
    fn two_runs_add_up_and_either_failing_fails_the_sum() {
        use std::os::unix::process::ExitStatusExt;
        let run = |passed, code| super::TestCount {
            passed,
            failed: u64::from(code != 0),
            exit: Some(std::process::ExitStatus::from_raw(code << 8)),
            ..Default::default()
        };
        let both = run(2, 0).add(run(3, 0));
        assert_eq!(both.to_string(), "5 passed, 0 failed");
        assert!(both.verdict().is_ok());
        for sum in [run(2, 101).add(run(3, 0)), run(2, 0).add(run(3, 101))] {
            assert_eq!(sum.to_string(), "5 passed, 1 failed");
            assert!(sum.verdict().is_err());
        }
    }

    #[test]
    fn panics_are_kept_with_the_start_of_their_message() {
        let mut count = super::TestCount::default();
        let long = "x".repeat(1_000);
        let lines = [
            "---- attacks::flood stdout ----",
            "thread 'attacks::flood' (31804) panicked at tests/it/attacks.rs:530:9:",
            "/healthz took 1.2s under the flood",
            long.as_str(),
            "stack backtrace:",
            "   0: __rustc::rust_begin_unwind",
            "a later line of the captured output",
            "thread 'torture::seeded' panicked at tests/it/torture.rs:12:5:",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
        ];
        for line in lines {
            count.line(line);
        }
        let torture = count.panics.pop().expect("the second panic");
        assert_eq!(
            torture,
            "thread 'torture::seeded' panicked at tests/it/torture.rs:12:5:\none\ntwo\nthree\nfour\nfive\nsix"
        );
        let flood = count.panics.pop().expect("the first panic");
        assert_eq!(
            flood,
            format!(
                "thread 'attacks::flood' (31804) panicked at tests/it/attacks.rs:530:9:\n/healthz took 1.2s under the flood\n{}",
                "x".repeat(300)
            )
        );
        let sum = super::TestCount::default().add(super::TestCount {
            panics: vec!["thread 'a' panicked at b".to_owned()],
            ..Default::default()
        });
        assert_eq!(sum.panics, ["thread 'a' panicked at b"]);
    }
}
