//! `cargo xtask docs`: the book of `docs/`, built with mdBook into `target/book`.
//!
//! mdBook is a Cargo package; it is installed once into `target/tools` with `cargo install
//! --locked --debug`, pinned to one version and without its `serve`/`watch` features. A
//! debug build of it compiles in about a minute of CPU on these machines and renders the
//! book in about a second; as a library inside xtask it would compile in the workspace
//! instead — three times in CI (clippy, the test build, `cargo run`), with its dependencies'
//! features unified into ours.
//!
//! `--update` first rewrites the generated reference pages (configuration keys, command
//! line) by running their drift tests with `UPDATE_DOCS=1`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Result, cargo, status, target_dir};

/// The pinned mdBook. Its `--version` answers `mdbook v<VERSION>`.
const MDBOOK_VERSION: &str = "0.5.4";

pub fn run(root: &Path, args: &[String]) -> Result {
    let mut update = false;
    for arg in args {
        match arg.as_str() {
            "--update" => update = true,
            other => return Err(format!("docs: unknown argument '{other}' (only --update)").into()),
        }
    }
    if update {
        regenerate()?;
    }
    let mdbook = install_mdbook(root)?;
    let out = target_dir(root).join("book");
    status(
        Command::new(&mdbook)
            .arg("build")
            .arg(root.join("docs"))
            .arg("--dest-dir")
            .arg(&out),
    )?;
    println!("the book: {}", out.join("index.html").display());
    Ok(())
}

/// The drift tests of the generated pages, in writing mode.
fn regenerate() -> Result {
    status(
        cargo()
            .args([
                "test",
                "--package",
                "clauster-core",
                "--lib",
                "config::reference",
            ])
            .env("UPDATE_DOCS", "1"),
    )?;
    status(
        cargo()
            .args([
                "test",
                "--package",
                "clauster-cli",
                "--bin",
                "clauster",
                "cli_reference",
            ])
            .env("UPDATE_DOCS", "1"),
    )
}

/// `target/tools/bin/mdbook` at the pinned version, installed when missing or different.
fn install_mdbook(root: &Path) -> Result<PathBuf> {
    let tools = target_dir(root).join("tools");
    let mdbook = tools.join("bin/mdbook");
    let current = Command::new(&mdbook)
        .arg("--version")
        .output()
        .ok()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned());
    if current.as_deref() == Some(format!("mdbook v{MDBOOK_VERSION}").as_str()) {
        return Ok(mdbook);
    }
    status(
        cargo()
            .args(["install", "--locked", "--debug", "--no-default-features"])
            .args([
                "--features",
                "search",
                "--version",
                MDBOOK_VERSION,
                "--root",
            ])
            .arg(&tools)
            .arg("mdbook"),
    )?;
    Ok(mdbook)
}
