//! `cargo xtask bench`: build the release binaries once, install what we compare with, and run
//! `clauster-bench` (the `bench` package), which generates the data, measures and prints the
//! side-by-side table. Everything it writes stays under `target/bench/`.
//!
//! * the Python Clauster 1.3.2 from PyPI, into a private virtual environment
//!   (`target/bench/py`);
//! * ccusage from npm at a version whose package brings a native linux-x64 binary
//!   (`target/bench/ccusage`), run offline.
//!
//! Either install may fail on a machine without that registry; the table then says n/a with
//! the reason instead of a figure.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Result, bundle, cargo, setup, status, target_dir};

/// The Python Clauster this product replaces (spec README).
const PYTHON_CLAUSTER: &str = "clauster==1.3.2";
/// The newest ccusage whose `@ccusage/ccusage-linux-x64` native package is published.
const CCUSAGE: &str = "ccusage@20.0.24";
const CCUSAGE_NATIVE: &str = "node_modules/@ccusage/ccusage-linux-x64/bin/ccusage";

pub fn run(root: &Path, args: &[String]) -> Result {
    let quick = args.iter().any(|a| a == "--quick");
    let with_bundle = !args.iter().any(|a| a == "--no-bundle");
    if let Some(other) = args
        .iter()
        .find(|a| !matches!(a.as_str(), "--quick" | "--no-bundle"))
    {
        return Err(format!("bench: unknown option {other} (try --quick, --no-bundle)").into());
    }
    if with_bundle {
        // The release binary embeds the hydrate bundle, as `cargo xtask build --release` does.
        bundle::build(root, true, bundle::Budget::Enforce)?;
    }
    status(cargo().args([
        "build",
        "--release",
        "--package",
        "clauster-cli",
        "--package",
        "clauster-tests",
        "--package",
        "clauster-bench",
        "--bins",
    ]))?;
    let bin_dir = target_dir(root).join("release");
    let out = root.join("target/bench");
    std::fs::create_dir_all(&out)?;

    let mut cmd = Command::new(bin_dir.join("clauster-bench"));
    cmd.arg("run")
        .arg("--clauster")
        .arg(bin_dir.join("clauster"))
        .arg("--fake-claude")
        .arg(bin_dir.join("fake-claude"))
        .arg("--out")
        .arg(&out);
    match python_clauster(&out) {
        Ok(bin) => {
            cmd.arg("--python").arg(bin);
        }
        Err(err) => println!("Python Clauster unavailable, its column will say n/a: {err}"),
    }
    match ccusage(&out) {
        Ok(bin) => {
            cmd.arg("--ccusage").arg(bin);
        }
        Err(err) => println!("ccusage unavailable, its column will say n/a: {err}"),
    }
    if quick {
        cmd.arg("--quick");
    }
    if with_bundle {
        let wasm = root.join("target/site/pkg/clauster.wasm");
        let bytes = std::fs::read(&wasm).map_err(|e| {
            format!(
                "the bundle was built but {} is unreadable: {e}",
                wasm.display()
            )
        })?;
        cmd.arg("--bundle-gzip")
            .arg(crate::bundle::served_gzip_len(&bytes)?.to_string());
    }
    status(&mut cmd)
}

/// `target/bench/py/bin/clauster`, installing the venv and the package when missing.
fn python_clauster(out: &Path) -> Result<PathBuf> {
    let venv = out.join("py");
    let bin = venv.join("bin/clauster");
    if bin.exists() {
        return Ok(bin);
    }
    status(Command::new("python3").arg("-m").arg("venv").arg(&venv))?;
    status(Command::new(venv.join("bin/pip")).args([
        "install",
        "--quiet",
        "--disable-pip-version-check",
        PYTHON_CLAUSTER,
    ]))?;
    Ok(bin)
}

/// ccusage's native binary under `target/bench/ccusage`, installing it when missing.
fn ccusage(out: &Path) -> Result<PathBuf> {
    let prefix = out.join("ccusage");
    let bin = prefix.join(CCUSAGE_NATIVE);
    setup::npm_install_into(&prefix, CCUSAGE, &bin)?;
    if !bin.exists() {
        return Err(format!(
            "{CCUSAGE} installed without its native linux-x64 package ({})",
            bin.display()
        )
        .into());
    }
    // npm unpacks the native binary without its execute bit; the JS wrapper would set it.
    let mut perms = std::fs::metadata(&bin)?.permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&bin, perms)?;
    Ok(bin)
}
