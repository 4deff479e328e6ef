//! The hydrate bundle: `clauster-ui-wasm` compiled to wasm32, bound with wasm-bindgen used as
//! a library (no CLI install, toolchain.md), size-optimised with wasm-opt for release.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use walrus::FunctionId;
use wasm_bindgen_cli_support::Bindgen;

use crate::{Result, cargo, setup, status};

/// The bundle's file stem; the server asks for `pkg/clauster.js` and `pkg/clauster.wasm`.
const OUTPUT_NAME: &str = "clauster";

pub fn site_pkg_dir(root: &Path) -> PathBuf {
    root.join("target/site/pkg")
}

pub fn build(root: &Path, release: bool, budget: Budget) -> Result {
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
    drop_async_hydration(&wasm)?;
    if release {
        optimise(root, &wasm);
    }
    sync_dir(&staging, &site_pkg_dir(root))?;
    std::fs::remove_dir_all(&staging)?;
    let served = report_sizes(&site_pkg_dir(root))?;
    if release && served > BUDGET_BYTES {
        let over = format!(
            "the bundle is {served} bytes gzip as served, over the {BUDGET_BYTES} byte budget \
             (docs/spec/README.md, Performance targets): trim it (BENCHMARKS.md lists what \
             weighs most) before it ships"
        );
        match budget {
            Budget::Enforce => return Err(over.into()),
            Budget::Warn => eprintln!("bundle: warning: {over}"),
        }
    }
    Ok(())
}

/// What a release bundle over [`BUDGET_BYTES`] does: `bundle --release` and the bench fail;
/// `build --release` and `run` warn and go on, so the server still builds and starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Budget {
    Enforce,
    Warn,
}

/// The release bundle's budget, gzip as served (the spec's ≤ 400 KB): `bundle --release`
/// and the bench fail above it, `build --release` warns.
const BUDGET_BYTES: usize = 400_000;

/// Name fragment of Leptos' asynchronous hydration path (`RenderHtml::hydrate_async` and its
/// futures), entered only through `leptos::mount::hydrate_from_async` (islands, lazy routes).
const ASYNC_HYDRATION: &str = "hydrate_async";

/// Replaces the body of every function of the asynchronous hydration path with `unreachable`.
///
/// The page hydrates synchronously (`hydrate_body`), so that path never runs, yet every
/// type-erased view keeps a pointer to its `hydrate_async`, which keeps the code (≈ 8 % of the
/// bundle) alive through the function table. With the bodies gone, wasm-opt drops everything
/// only they reached.
///
/// LLVM merges functions with identical bodies under one of their names, so a name alone does
/// not prove a function is only on that path (a small helper of the synchronous path was once
/// merged into its async twin). A function is therefore kept when anything outside the set
/// calls it directly, and when its body is too small for a merge to be unlikely. Done for debug
/// bundles too, so the browser tests run what ships; a Leptos that renamed the path makes this
/// find nothing, which fails the build rather than silently growing the bundle.
fn drop_async_hydration(wasm: &Path) -> Result {
    /// Bodies below this many instructions are left alone (see above).
    const MIN_INSTRUCTIONS: u64 = 24;
    let mut module = walrus::Module::from_file(wasm).map_err(|e| {
        format!(
            "cannot read {} for the async-hydration pass: {e}",
            wasm.display()
        )
    })?;
    let mut stubs: HashSet<FunctionId> = module
        .funcs
        .iter()
        .filter(|f| {
            f.name
                .as_deref()
                .is_some_and(|name| own_path(name).contains(ASYNC_HYDRATION))
                && matches!(&f.kind, walrus::FunctionKind::Local(l) if l.size() >= MIN_INSTRUCTIONS)
        })
        .map(walrus::Function::id)
        .collect();
    let callees: Vec<(FunctionId, Vec<FunctionId>)> = module
        .funcs
        .iter_local()
        .map(|(id, local)| {
            let mut refs = References::default();
            walrus::ir::dfs_in_order(&mut refs, local, local.entry_block());
            (id, refs.0)
        })
        .collect();
    // Until nothing changes: drop every candidate that a function outside the set references.
    loop {
        let before = stubs.len();
        for (caller, called) in &callees {
            if !stubs.contains(caller) {
                for callee in called {
                    stubs.remove(callee);
                }
            }
        }
        if stubs.len() == before {
            break;
        }
    }
    if stubs.is_empty() {
        return Err(format!(
            "no `{ASYNC_HYDRATION}` function in {}: the bundle has no name section, or Leptos \
             renamed its async hydration path (update ASYNC_HYDRATION in xtask/src/bundle.rs)",
            wasm.display()
        )
        .into());
    }
    for id in &stubs {
        if let walrus::FunctionKind::Local(local) = &mut module.funcs.get_mut(*id).kind {
            let mut body = local.builder_mut().func_body();
            body.instrs_mut().clear();
            body.instr(walrus::ir::Unreachable {});
        }
    }
    module
        .emit_wasm_file(wasm)
        .map_err(|e| format!("cannot write {}: {e}", wasm.display()))?;
    println!("bundle: {} async-hydration functions stubbed", stubs.len());
    Ok(())
}

/// The functions an instruction sequence calls or takes a reference to.
#[derive(Default)]
struct References(Vec<FunctionId>);

impl walrus::ir::Visitor<'_> for References {
    fn visit_function_id(&mut self, function: &FunctionId) {
        self.0.push(*function);
    }
}

/// A symbol's path without its generic arguments: `core::ptr::drop_in_place<F>` names drop
/// glue, not `F`, and drop glue of equal layouts may have been merged with other types' — so
/// only functions that are themselves on the path count, never ones merely mentioning it.
fn own_path(symbol: &str) -> String {
    let (mut depth, mut previous) = (0_usize, ' ');
    let mut path = String::new();
    for c in symbol.chars() {
        match c {
            '<' => depth += 1,
            // The arrow of `dyn Fn() -> T` closes nothing.
            '>' if previous != '-' => depth = depth.saturating_sub(1),
            _ if depth == 0 => path.push(c),
            _ => {}
        }
        previous = c;
    }
    path
}

/// Runs wasm-opt -Oz when it can be installed; a bundle without it is still correct, only
/// larger, so a failure here is a warning.
fn optimise(root: &Path, wasm: &Path) {
    let wasm_opt = setup::wasm_opt(root);
    if let Err(err) = setup::install_binaryen(root) {
        println!("warning: wasm-opt unavailable ({err}); the bundle stays unoptimised");
        return;
    }
    let optimised = wasm.with_extension("opt.wasm");
    let ran = status(
        Command::new(&wasm_opt)
            .arg("-Oz")
            // Passes again until nothing shrinks: ≈ 2.5 KB gzip (issue 19's size budget).
            .arg("--converge")
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

/// Prints each file's raw, gzip -9 and served sizes; returns the wasm's served size.
fn report_sizes(pkg: &Path) -> Result<usize> {
    let mut wasm_served = 0;
    for (name, is_wasm) in [
        (format!("{OUTPUT_NAME}.wasm"), true),
        (format!("{OUTPUT_NAME}.js"), false),
    ] {
        let bytes = std::fs::read(pkg.join(&name))?;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&bytes)?;
        let gzipped = gz.finish()?.len();
        let served = served_gzip_len(&bytes)?;
        println!(
            "bundle: {name} {} bytes, {gzipped} bytes gzip -9, {served} bytes gzip as served (zopfli)",
            bytes.len(),
        );
        if is_wasm {
            wasm_served = served;
        }
    }
    Ok(wasm_served)
}

/// The size of `bytes` gzipped as the server's build script does for the release bundle
/// (zopfli, the gzip format; `clauster-server/build.rs`): what a browser downloads.
pub fn served_gzip_len(bytes: &[u8]) -> Result<usize> {
    let mut out = Vec::new();
    zopfli::compress(
        zopfli::Options::default(),
        zopfli::Format::Gzip,
        bytes,
        &mut out,
    )?;
    Ok(out.len())
}
