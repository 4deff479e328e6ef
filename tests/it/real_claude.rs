//! The real `claude` CLI (the pinned npm package that `cargo xtask test` installs): its help
//! texts parse into the capabilities the argv builders rely on. It cannot log in here, so
//! nothing beyond `--version` and `--help` is asked of it in this file.

use crate::support;

use std::path::PathBuf;
use std::process::Command;

use clauster_core::capability::{Capabilities, DefaultModeToken, ProbeOutput};
use support::Sandbox;

pub(crate) fn real_claude() -> PathBuf {
    let path = std::env::var_os("REAL_CLAUDE_BIN").map_or_else(
        || {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../target/tools/npm/node_modules/.bin/claude")
        },
        PathBuf::from,
    );
    assert!(
        path.exists(),
        "the real claude is not installed at {}; run `cargo xtask setup`",
        path.display()
    );
    path
}

fn stdout_of(sandbox: &Sandbox, args: &[&str]) -> String {
    let mut cmd: Command = sandbox.command(&real_claude());
    let output = cmd.args(args).output().expect("run the real claude");
    assert!(
        output.status.success(),
        "claude {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("claude prints UTF-8")
}

#[test]
fn the_pinned_claude_help_texts_parse_into_its_capabilities() {
    let sandbox = Sandbox::new();
    let version = stdout_of(&sandbox, &["--version"]);
    let help = stdout_of(&sandbox, &["--help"]);
    let rc_help = stdout_of(&sandbox, &["remote-control", "--help"]);
    let caps = Capabilities::from_probe(&ProbeOutput {
        version: Some(&version),
        help: Some(&help),
        remote_control_help: Some(&rc_help),
    });
    assert_eq!(
        caps.claude_version.map(|v| v.to_string()).as_deref(),
        Some("2.1.328")
    );
    assert!(
        caps.rc_continue,
        "2.1.328's remote-control lists --continue"
    );
    assert!(
        !caps.rc_sandbox,
        "2.1.328's remote-control has no --sandbox"
    );
    assert_eq!(
        caps.flag_default_token,
        DefaultModeToken::Manual,
        "the flag form lists `manual`"
    );
    assert_eq!(
        caps.rc_default_token,
        DefaultModeToken::Default,
        "the subcommand lists `default`"
    );
    let flag_choices = caps
        .flag_permission_choices
        .expect("the flag form lists its choices");
    assert!(
        flag_choices.iter().any(|c| c == "bypassPermissions"),
        "{flag_choices:?}"
    );
    let rc_choices = caps
        .rc_permission_choices
        .expect("the subcommand lists its choices");
    assert!(rc_choices.iter().any(|c| c == "dontAsk"), "{rc_choices:?}");
}
