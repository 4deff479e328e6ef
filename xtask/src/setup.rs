//! Installing what builds and tests need, each from the registry that carries it.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Result, status};

/// The real `claude` the integration tests parse the help texts of and fail to log in with.
/// Pinned: the captures in the spec were taken with this version.
pub const CLAUDE_NPM: &str = "@anthropic-ai/claude-code@2.1.328";
/// wasm-opt 123+ (older ones emit bundles that never hydrate, toolchain.md).
pub const BINARYEN_NPM: &str = "binaryen@132";

/// The official TypeScript MCP SDK: the client nobody here wrote, of the MCP end-to-end
/// test (issue 24, tests/it/mcp.rs).
pub const MCP_SDK_NPM: &str = "@modelcontextprotocol/sdk@1.32.2";

/// axe-core, the accessibility engine the browser tests run in both themes (issue 19).
pub const AXE_NPM: &str = "axe-core@4.14.1";

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Where npm packages for the build and tests go: inside `target/`, never global.
pub fn npm_prefix(root: &Path) -> PathBuf {
    root.join("target/tools/npm")
}

/// The MCP SDK's own prefix: `npm install --no-save` into a shared prefix prunes the
/// packages an earlier call installed there.
pub fn mcp_sdk_modules(root: &Path) -> PathBuf {
    root.join("target/tools/npm-mcp/node_modules")
}

pub fn real_claude(root: &Path) -> PathBuf {
    npm_prefix(root).join("node_modules/.bin/claude")
}

/// axe-core's browser build, injected into pages by the browser tests. Its own prefix, like
/// the MCP SDK's: an install into a shared prefix would prune the other packages.
pub fn axe_script(root: &Path) -> PathBuf {
    root.join("target/tools/npm-axe/node_modules/axe-core/axe.min.js")
}

/// binaryen's prefix, its own like the MCP SDK's: a release build installing it into the
/// claude prefix pruned the real `claude` from under a test run beside it.
fn binaryen_prefix(root: &Path) -> PathBuf {
    root.join("target/tools/npm-binaryen")
}

pub fn wasm_opt(root: &Path) -> PathBuf {
    binaryen_prefix(root).join("node_modules/.bin/wasm-opt")
}

/// Installs binaryen (for `wasm-opt`) in its own prefix unless it is there.
pub fn install_binaryen(root: &Path) -> Result {
    npm_install_into(&binaryen_prefix(root), BINARYEN_NPM, &wasm_opt(root))
}

pub fn wasm_target() -> Result {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()?;
    if String::from_utf8_lossy(&installed.stdout)
        .lines()
        .any(|l| l == "wasm32-unknown-unknown")
    {
        return Ok(());
    }
    status(Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]))
}

/// Everything the test suite runs: the wasm target, Chromium and ChromeDriver, git, the
/// pinned real `claude`, and the MCP SDK.
pub fn for_tests(root: &Path) -> Result {
    wasm_target()?;
    let mut missing = Vec::new();
    if !Path::new(CHROMIUM).exists() {
        missing.push("chromium");
    }
    if !Path::new(CHROMEDRIVER).exists() {
        missing.push("chromium-driver");
    }
    if Command::new("git").arg("--version").output().is_err() {
        missing.push("git");
    }
    if !missing.is_empty() {
        apt_install(&missing)?;
    }
    npm_install(root, CLAUDE_NPM, &real_claude(root))?;
    let modules = mcp_sdk_modules(root);
    let marker = modules.join("@modelcontextprotocol/sdk/package.json");
    npm_install_into(
        modules.parent().expect("node_modules has a parent"),
        MCP_SDK_NPM,
        &marker,
    )?;
    npm_install_into(
        &root.join("target/tools/npm-axe"),
        AXE_NPM,
        &axe_script(root),
    )
}

/// Installs an npm package under `target/tools/npm` unless its binary is already there.
pub fn npm_install(root: &Path, package: &str, binary: &Path) -> Result {
    npm_install_into(&npm_prefix(root), package, binary)
}

/// Installs an npm package under `prefix` unless `marker` (a file it brings) exists.
pub(crate) fn npm_install_into(prefix: &Path, package: &str, marker: &Path) -> Result {
    if marker.exists() {
        return Ok(());
    }
    std::fs::create_dir_all(prefix)?;
    status(
        Command::new("npm")
            .args([
                "install",
                "--no-audit",
                "--no-fund",
                "--no-save",
                "--prefix",
            ])
            .arg(prefix)
            .arg(package),
    )
}

fn apt_install(packages: &[&str]) -> Result {
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !is_root {
        return Err(format!(
            "the tests need {} from Debian; install them with `sudo apt-get install -y {}`",
            packages.join(", "),
            packages.join(" ")
        )
        .into());
    }
    status(Command::new("apt-get").arg("update").arg("-qq"))?;
    status(
        Command::new("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(packages)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}

/// Points the tests at the tools installed above.
pub fn test_environment(root: &Path, cmd: &mut Command) {
    cmd.env("CHROMIUM_BIN", CHROMIUM)
        .env("CHROMEDRIVER_BIN", CHROMEDRIVER)
        .env("REAL_CLAUDE_BIN", real_claude(root))
        .env("MCP_SDK_NODE_MODULES", mcp_sdk_modules(root))
        .env("AXE_CORE_JS", axe_script(root));
}
