//! `cargo xtask fuzz [--seconds N] [TARGET…]`: the cargo-fuzz targets of `fuzz/` over
//! clauster-core's parsers and validators, each for a bounded time. Needs the nightly
//! toolchain (`rustup toolchain install nightly`); not part of CI.

use std::path::Path;
use std::process::Command;

use crate::{Result, status, target_dir};

/// Every target in `fuzz/fuzz_targets`, in the order they run.
pub const TARGETS: [&str; 7] = [
    "debug_log",
    "sanitize_line",
    "transcript",
    "config_text",
    "origin",
    "clone_url",
    "host_origin",
];

pub fn run(root: &Path, args: &[String]) -> Result {
    let mut seconds = 60_u64;
    let mut targets = Vec::new();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        if arg == "--seconds" {
            let value = rest.next().ok_or("--seconds needs a number")?;
            seconds = value
                .parse()
                .map_err(|_| format!("--seconds needs a whole number of seconds, not '{value}'"))?;
        } else if TARGETS.contains(&arg.as_str()) {
            targets.push(arg.clone());
        } else {
            return Err(format!(
                "unknown fuzz target '{arg}'; the targets are {}",
                TARGETS.join(", ")
            )
            .into());
        }
    }
    if targets.is_empty() {
        targets = TARGETS.map(String::from).to_vec();
    }
    let tools = target_dir(root).join("tools/cargo");
    let cargo_fuzz = tools.join("bin/cargo-fuzz");
    if !cargo_fuzz.exists() {
        status(
            Command::new("cargo")
                .args(["install", "--locked", "cargo-fuzz", "--root"])
                .arg(&tools),
        )?;
    }
    for target in &targets {
        // cargo-fuzz builds with the nightly toolchain into fuzz/target.
        status(
            Command::new(&cargo_fuzz)
                .args(["fuzz", "run", target, "--", &format!("-max_total_time={seconds}")])
                .current_dir(root)
                .env("RUSTUP_TOOLCHAIN", "nightly")
                .env_remove("CARGO")
                .env_remove("CARGO_TARGET_DIR"),
        )
        .map_err(|err| {
            format!("{err} (cargo xtask fuzz needs the nightly toolchain: rustup toolchain install nightly)")
        })?;
    }
    Ok(())
}
