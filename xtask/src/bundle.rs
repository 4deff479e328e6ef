//! The hydrate bundle: `clauster-ui-wasm` compiled to wasm32, bound with wasm-bindgen used as
//! a library (no CLI install, toolchain.md), size-optimised with wasm-opt for release.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use wasm_bindgen_cli_support::Bindgen;

use crate::{Result, cargo, setup, status};

/// The bundle's file stem; the server asks for `pkg/clauster.js` and `pkg/clauster.wasm`.
const OUTPUT_NAME: &str = "clauster";

pub fn site_pkg_dir(root: &Path) -> PathBuf {
    root.join("target/site/pkg")
}

pub fn build(root: &Path, release: bool) -> Result {
    setup::wasm_target()?;
    let profile = if release { "wasm-release" } else { "dev" };
    status(cargo().args([
        "build",
        "--package",
        "clauster-ui-wasm",
        "--target",
        "wasm32-unknown-unknown",
        "--profile",
        profile,
    ]))?;
    let profile_dir = if release { "wasm-release" } else { "debug" };
    let input = crate::target_dir(root)
        .join("wasm32-unknown-unknown")
        .join(profile_dir)
        .join("clauster_ui_wasm.wasm");

    let staging = root.join("target/site/staging");
    if staging.exists() {
        std::fs::remove_dir_all(&staging)?;
    }
    Bindgen::new()
        .input_path(&input)
        .out_name(OUTPUT_NAME)
        .web(true)?
        .typescript(false)
        .keep_debug(false)
        .generate(&staging)
        .map_err(|e| format!("wasm-bindgen failed on {}: {e}", input.display()))?;
    let wasm = staging.join(format!("{OUTPUT_NAME}.wasm"));
    std::fs::rename(staging.join(format!("{OUTPUT_NAME}_bg.wasm")), &wasm)?;
    if release {
        optimise(root, &wasm);
    }
    sync_dir(&staging, &site_pkg_dir(root))?;
    std::fs::remove_dir_all(&staging)?;
    report_sizes(&site_pkg_dir(root))
}

/// Runs wasm-opt -Oz when it can be installed; a bundle without it is still correct, only
/// larger, so a failure here is a warning.
fn optimise(root: &Path, wasm: &Path) {
    let wasm_opt = setup::wasm_opt(root);
    if let Err(err) = setup::npm_install(root, setup::BINARYEN_NPM, &wasm_opt) {
        println!("warning: wasm-opt unavailable ({err}); the bundle stays unoptimised");
        return;
    }
    let optimised = wasm.with_extension("opt.wasm");
    let ran = status(
        Command::new(&wasm_opt)
            .arg("-Oz")
            .arg("--enable-bulk-memory")
            .arg("--enable-nontrapping-float-to-int")
            .arg("--enable-sign-ext")
            .arg("--enable-reference-types")
            .arg("--enable-multivalue")
            .arg(wasm)
            .arg("-o")
            .arg(&optimised),
    );
    match ran.and_then(|()| Ok(std::fs::rename(&optimised, wasm)?)) {
        Ok(()) => {}
        Err(err) => println!("warning: wasm-opt failed ({err}); the bundle stays unoptimised"),
    }
}

/// Makes `dest` hold exactly the files of `src`, rewriting only files whose bytes changed:
/// the server's build script watches these mtimes, and an untouched bundle must not force a
/// server rebuild.
fn sync_dir(src: &Path, dest: &Path) -> Result {
    std::fs::create_dir_all(dest)?;
    let wanted = relative_files(src)?;
    for rel in &wanted {
        let new = std::fs::read(src.join(rel))?;
        let target = dest.join(rel);
        if std::fs::read(&target).ok().as_deref() != Some(new.as_slice()) {
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&target, new)?;
        }
    }
    for rel in relative_files(dest)? {
        if !wanted.contains(&rel) {
            std::fs::remove_file(dest.join(rel))?;
        }
    }
    Ok(())
}

fn relative_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        for entry in std::fs::read_dir(&current)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path.strip_prefix(dir)?.to_path_buf());
            }
        }
    }
    out.sort();
    Ok(out)
}

fn report_sizes(pkg: &Path) -> Result {
    for name in [format!("{OUTPUT_NAME}.wasm"), format!("{OUTPUT_NAME}.js")] {
        let bytes = std::fs::read(pkg.join(&name))?;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&bytes)?;
        let gzipped = gz.finish()?.len();
        println!("bundle: {name} {} bytes, {gzipped} bytes gzip", bytes.len());
    }
    Ok(())
}
