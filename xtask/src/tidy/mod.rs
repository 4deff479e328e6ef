//! `cargo xtask tidy`: the checks that keep the house in order, run by CI before the tests.
//!
//! - every section citation in the code (a chapter's file name, then `§` and a section
//!   number or a heading's first word) resolves to a section heading of that file under
//!   `docs/`; `README` names `docs/spec/README.md` ([`citations`]);
//! - no module is named `misc` or `more_*` (a grab bag says nothing about what it holds);
//! - no import cycle between sibling modules of a crate ([`modules`]), except in the crates
//!   listed in `xtask/tidy-cycles-allowed.txt`.

mod citations;
mod modules;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::Result;

/// The folders whose source must cite resolvable sections and hold no grab-bag modules.
const CODE_DIRS: &[&str] = &["crates", "tests", "xtask", "bench", "fuzz"];

/// The crates whose import cycles are reported but tolerated, one package name a line.
const CYCLES_ALLOWED: &str = "xtask/tidy-cycles-allowed.txt";

pub fn run(root: &Path) -> Result {
    let docs = citations::Docs::load(&root.join("docs"))?;
    let mut problems = Vec::new();

    let mut files = Vec::new();
    for dir in CODE_DIRS {
        collect_files(&root.join(dir), &mut files)?;
    }
    files.sort();
    let mut cited = 0_usize;
    // The tidy's own sources hold example citations in their tests.
    files.retain(|file| !file.starts_with(root.join("xtask/src/tidy")));
    for file in &files {
        let text = std::fs::read_to_string(file)
            .map_err(|e| format!("could not read {}: {e}", file.display()))?;
        let shown = file
            .strip_prefix(root)
            .unwrap_or(file)
            .display()
            .to_string();
        for citation in citations::find(&text) {
            cited += 1;
            if let Err(why) = docs.resolve(&citation) {
                problems.push(format!("{shown}:{}: {why}", citation.line));
            }
        }
    }

    let allowed = allowed_cycles(root)?;
    let mut cycle_report = Vec::new();
    for package in modules::packages(root)? {
        let graph = modules::ModuleGraph::load(&package)?;
        for name in graph.grab_bags() {
            problems.push(format!(
                "{}: module `{name}` is a grab bag; name it by what it holds",
                package.name
            ));
        }
        for cycle in graph.cycles() {
            let line = format!(
                "{}: import cycle among {} (each uses another, directly or not)",
                package.name,
                cycle.join(", ")
            );
            if allowed.contains(&package.name) {
                cycle_report.push(line);
            } else {
                problems.push(format!(
                    "{line}\n    (a module may use a sibling or be used by it, not both: move \
                     the shared part into a module that both use)"
                ));
            }
        }
    }

    println!("tidy: {} files, {cited} section citations", files.len());
    if !cycle_report.is_empty() {
        println!(
            "tidy: {} import cycles tolerated by {CYCLES_ALLOWED}:",
            cycle_report.len()
        );
        for line in &cycle_report {
            println!("  {line}");
        }
    }
    for name in &allowed {
        if !cycle_report
            .iter()
            .any(|line| line.starts_with(&format!("{name}:")))
        {
            problems.push(format!(
                "{CYCLES_ALLOWED} lists {name}, which has no import cycle any more: remove it"
            ));
        }
    }
    if problems.is_empty() {
        println!("tidy: ok");
        return Ok(());
    }
    let mut message = format!("{} problems:\n", problems.len());
    for problem in &problems {
        let _ = writeln!(message, "  {problem}");
    }
    Err(message.into())
}

fn allowed_cycles(root: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(root.join(CYCLES_ALLOWED))
        .map_err(|e| format!("could not read {CYCLES_ALLOWED}: {e}"))?;
    Ok(text
        .lines()
        .map(|line| line.split('#').next().unwrap_or("").trim())
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect())
}

/// Every `.rs` and `.toml` file under `dir`, skipping build output and snapshots.
fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result {
    if !dir.exists() {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() {
            if !matches!(name, "target" | "snapshots" | "corpus" | "artifacts") {
                collect_files(&path, out)?;
            }
        } else if path
            .extension()
            .is_some_and(|ext| ext == "rs" || ext == "toml")
        {
            out.push(path);
        }
    }
    Ok(())
}
