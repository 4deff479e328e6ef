//! The module graph of each crate target, from its source: which module uses which.
//!
//! Every `crate::…`, `super::…` and `self::…` path (in `use` items and in code alike) is an
//! edge from the module it is written in to the module it names. Parents and children may
//! use each other freely (a parent re-exports, a child reaches its parent's helpers); what
//! counts is the edge between the two *siblings* under the nearest common ancestor:
//! `engine::supervisor` using `routes::no_store` is an edge `engine -> routes` among the
//! crate's top-level modules. A cycle among siblings means neither can be read, moved or
//! deleted without the other.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use syn::visit::Visit;

use crate::Result;

/// One crate target to check: a package's library, binary or test root.
#[derive(Debug)]
pub struct Package {
    /// The package name (the allowlist's key).
    pub name: String,
    pub roots: Vec<PathBuf>,
}

/// Every workspace package with Rust sources, and its target roots.
pub fn packages(root: &Path) -> Result<Vec<Package>> {
    let mut dirs = Vec::new();
    for entry in std::fs::read_dir(root.join("crates"))? {
        dirs.push(entry?.path());
    }
    dirs.sort();
    dirs.extend(["xtask", "tests", "bench"].map(|d| root.join(d)));
    let mut out = Vec::new();
    for dir in dirs {
        let manifest = dir.join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else {
            continue;
        };
        let name = text
            .lines()
            .find_map(|line| {
                let value = line.trim().strip_prefix("name")?.trim().strip_prefix('=')?;
                Some(value.trim().trim_matches('"').to_owned())
            })
            .ok_or_else(|| format!("{}: no package name", manifest.display()))?;
        let mut roots: Vec<PathBuf> = ["src/lib.rs", "src/main.rs", "it/main.rs"]
            .iter()
            .map(|p| dir.join(p))
            .filter(|p| p.is_file())
            .collect();
        if let Ok(bins) = std::fs::read_dir(dir.join("src/bin")) {
            for bin in bins {
                let bin = bin?.path();
                if bin.is_dir() && bin.join("main.rs").is_file() {
                    roots.push(bin.join("main.rs"));
                } else if bin.extension().is_some_and(|e| e == "rs") {
                    roots.push(bin);
                }
            }
        }
        roots.sort();
        out.push(Package { name, roots });
    }
    Ok(out)
}

/// A module by its path from the crate root (`["engine", "supervisor"]`); the root is `[]`.
type ModPath = Vec<String>;

#[derive(Debug, Default)]
pub struct ModuleGraph {
    /// Every module of every root, keyed by (root index, path).
    modules: BTreeSet<(usize, ModPath)>,
    /// Sibling edges: (root index, parent path) → from → to.
    edges: BTreeMap<(usize, ModPath), BTreeMap<String, BTreeSet<String>>>,
}

impl ModuleGraph {
    pub fn load(package: &Package) -> Result<Self> {
        let mut graph = Self::default();
        for (index, root) in package.roots.iter().enumerate() {
            let mut uses = Vec::new();
            graph.walk_file(index, root, &root_dir(root), &[], &mut uses)?;
            for (from, target) in uses {
                graph.add_edge(index, &from, &target);
            }
        }
        Ok(graph)
    }

    /// Modules named `misc` or `more_*`.
    pub fn grab_bags(&self) -> BTreeSet<String> {
        self.modules
            .iter()
            .filter(|(_, path)| {
                path.last()
                    .is_some_and(|name| name == "misc" || name.starts_with("more_"))
            })
            .map(|(_, path)| path.join("::"))
            .collect()
    }

    /// Each set of siblings that reach one another through their uses (a strongly
    /// connected component of more than one module), as full module paths.
    pub fn cycles(&self) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        for ((_, parent), edges) in &self.edges {
            for component in components(edges) {
                let named: Vec<String> = component
                    .iter()
                    .map(|name| {
                        let mut path = parent.clone();
                        path.push(name.clone());
                        path.join("::")
                    })
                    .collect();
                if !out.contains(&named) {
                    out.push(named);
                }
            }
        }
        out
    }

    fn walk_file(
        &mut self,
        index: usize,
        file: &Path,
        dir: &Path,
        path: &[String],
        uses: &mut Vec<(ModPath, ModPath)>,
    ) -> Result {
        let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
        let parsed = syn::parse_file(&text)
            .map_err(|e| format!("{}: does not parse: {e}", file.display()))?;
        self.walk_items(index, &parsed.items, dir, path, uses)
    }

    fn walk_items(
        &mut self,
        index: usize,
        items: &[syn::Item],
        dir: &Path,
        path: &[String],
        uses: &mut Vec<(ModPath, ModPath)>,
    ) -> Result {
        self.modules.insert((index, path.to_vec()));
        let mut collector = PathCollector {
            module: path,
            found: Vec::new(),
        };
        for item in items {
            if !matches!(item, syn::Item::Mod(_)) {
                collector.visit_item(item);
            }
        }
        uses.append(&mut collector.found);
        for item in items {
            let syn::Item::Mod(module) = item else {
                continue;
            };
            let name = module.ident.to_string();
            let mut child = path.to_vec();
            child.push(name.clone());
            if let Some((_, inner)) = &module.content {
                self.walk_items(index, inner, &dir.join(&name), &child, uses)?;
                continue;
            }
            let file = [
                dir.join(format!("{name}.rs")),
                dir.join(&name).join("mod.rs"),
            ]
            .into_iter()
            .find(|f| f.is_file())
            .ok_or_else(|| {
                format!(
                    "module {} has no file under {}",
                    child.join("::"),
                    dir.display()
                )
            })?;
            self.walk_file(index, &file, &dir.join(&name), &child, uses)?;
        }
        Ok(())
    }

    /// Records `from` using `target` as an edge between their siblings under the nearest
    /// common ancestor; nothing when one contains the other.
    fn add_edge(&mut self, index: usize, from: &[String], target: &[String]) {
        // The target path may run on into an item (`routes::no_store`): keep the part that
        // names a module.
        let mut target = target.to_vec();
        while !target.is_empty() && !self.modules.contains(&(index, target.clone())) {
            target.pop();
        }
        let common = from.iter().zip(&target).take_while(|(a, b)| a == b).count();
        if common == from.len() || common == target.len() {
            return;
        }
        self.edges
            .entry((index, from[..common].to_vec()))
            .or_default()
            .entry(from[common].clone())
            .or_default()
            .insert(target[common].clone());
    }
}

/// The directory a root's child modules live in: `src/` for `src/lib.rs`.
fn root_dir(root: &Path) -> PathBuf {
    root.parent().map(Path::to_path_buf).unwrap_or_default()
}

/// Collects the absolute module paths of `crate::`, `super::` and `self::` paths.
struct PathCollector<'a> {
    module: &'a [String],
    found: Vec<(ModPath, ModPath)>,
}

impl PathCollector<'_> {
    fn record(&mut self, segments: &[String]) {
        let Some(first) = segments.first() else {
            return;
        };
        let mut base: Vec<String> = match first.as_str() {
            "crate" => Vec::new(),
            "self" => self.module.to_vec(),
            "super" => {
                let mut base = self.module.to_vec();
                base.pop();
                base
            }
            _ => return,
        };
        let mut rest = &segments[1..];
        while let Some(("super", tail)) = rest.split_first().map(|(h, t)| (h.as_str(), t)) {
            base.pop();
            rest = tail;
        }
        base.extend(rest.iter().cloned());
        self.found.push((self.module.to_vec(), base));
    }
}

impl<'ast> Visit<'ast> for PathCollector<'_> {
    fn visit_path(&mut self, path: &'ast syn::Path) {
        let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
        self.record(&segments);
        syn::visit::visit_path(self, path);
    }

    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        let mut stack = vec![(Vec::new(), &item.tree)];
        while let Some((prefix, tree)) = stack.pop() {
            match tree {
                syn::UseTree::Path(p) => {
                    let mut next = prefix.clone();
                    next.push(p.ident.to_string());
                    stack.push((next, &p.tree));
                }
                syn::UseTree::Name(n) => {
                    let mut full = prefix.clone();
                    if n.ident != "self" {
                        full.push(n.ident.to_string());
                    }
                    self.record(&full);
                }
                syn::UseTree::Rename(r) => {
                    let mut full = prefix.clone();
                    full.push(r.ident.to_string());
                    self.record(&full);
                }
                syn::UseTree::Glob(_) => self.record(&prefix),
                syn::UseTree::Group(g) => {
                    for tree in &g.items {
                        stack.push((prefix.clone(), tree));
                    }
                }
            }
        }
    }
}

/// The strongly connected components of more than one node of a small directed graph
/// (a few dozen modules: reachability from every node is cheap enough).
fn components(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    let reach = |start: &String| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut pending = vec![start.clone()];
        while let Some(node) = pending.pop() {
            for next in edges.get(&node).into_iter().flatten() {
                if seen.insert(next.clone()) {
                    pending.push(next.clone());
                }
            }
        }
        seen
    };
    let reachable: BTreeMap<&String, BTreeSet<String>> =
        edges.keys().map(|node| (node, reach(node))).collect();
    let mut out: Vec<Vec<String>> = Vec::new();
    for (node, from_node) in &reachable {
        if out.iter().any(|c| c.contains(*node)) {
            continue;
        }
        let component: Vec<String> = from_node
            .iter()
            .filter(|other| {
                reachable
                    .get(other)
                    .is_some_and(|back| back.contains(*node))
            })
            .cloned()
            .collect();
        if component.len() > 1 {
            out.push(component);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::components;

    #[test]
    fn modules_that_reach_each_other_are_one_cycle() {
        let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (from, to) in [
            ("routes", "auth"),
            ("auth", "state"),
            ("state", "routes"),
            ("state", "usage"),
            ("usage", "store"),
        ] {
            edges.entry(from.into()).or_default().insert(to.into());
        }
        assert_eq!(components(&edges), vec![vec!["auth", "routes", "state"]]);
    }
}
