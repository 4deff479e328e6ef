//! Running the fake `claude` (spec: fake-claude.md) from tests: install it as `<dir>/bin/claude`
//! and build commands with an isolated environment.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Installs the built fake (`env!("CARGO_BIN_EXE_fake-claude")` in an integration test) as
/// `<dir>/bin/claude` (a symlink: its command line then starts with `…/bin/claude`), and
/// returns that path. Put `<dir>/bin` first on PATH or use the path as `claude.binary`.
pub fn install_fake_claude(fake_bin: &Path, dir: &Path) -> std::io::Result<PathBuf> {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin)?;
    let claude = bin.join("claude");
    if claude.symlink_metadata().is_ok() {
        std::fs::remove_file(&claude)?;
    }
    std::os::unix::fs::symlink(fake_bin, &claude)?;
    Ok(claude)
}

/// A command running `claude` with `HOME` set to `home`, in `cwd`, with every inherited
/// `FAKE_CLAUDE_*` knob and `CLAUDE_CONFIG_DIR` removed (set them per test).
pub fn fake_command(claude: &Path, home: &Path, cwd: &Path) -> Command {
    let mut cmd = Command::new(claude);
    cmd.current_dir(cwd)
        .env("HOME", home)
        .env_remove("CLAUDE_CONFIG_DIR");
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("FAKE_CLAUDE_") {
            cmd.env_remove(name);
        }
    }
    cmd
}

/// Field 22 of `/proc/<pid>/stat` (start ticks), parsed after the last `)`.
pub fn start_ticks(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19).map(str::to_string)
}
