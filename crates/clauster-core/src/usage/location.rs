//! Where a project's transcripts are (data.md §1.1), as pure functions over paths and
//! directory listings the caller reads: the projects directory, slug directories, worktree
//! and shortened-slug candidates with their `cwd` proof, subagent files, slug collisions.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use super::record::line_cwd;

/// Claude Code shortens directory names past this many characters.
pub const SLUG_PREFIX_CHARS: usize = crate::slug::LONG_SLUG_PREFIX_CHARS;

/// How many leading lines of a file may carry the first `cwd`.
pub const CWD_SCAN_LINES: usize = 200;

/// Subagent transcripts are nested at most this many path components below the slug
/// directory (`<session uuid>/subagents/agent-<id>.jsonl` is 3).
pub const MAX_TRANSCRIPT_DEPTH: usize = 3;

/// Claude Code's directory name for a working directory (the rule lives in [`crate::slug`]).
fn slug(path: &Path) -> String {
    crate::slug::slug(&path.to_string_lossy())
}

/// The inputs that decide where Claude keeps its files (bridges.md §12.1). Blank values
/// count as unset.
#[derive(Debug, Clone, Copy)]
pub struct ClaudeDirInputs<'a> {
    pub home: &'a Path,
    /// `claude.env.CLAUDE_CONFIG_DIR`.
    pub env_config_dir: Option<&'a Path>,
    /// `claude.config_dir`.
    pub configured_config_dir: Option<&'a Path>,
    /// The server's own `CLAUDE_CONFIG_DIR`.
    pub server_config_dir: Option<&'a Path>,
    /// `configDirectory` from `claude auth status --json`.
    pub reported_config_dir: Option<&'a Path>,
    /// `projectsDirectory` from `claude auth status --json`.
    pub reported_projects_dir: Option<&'a Path>,
}

/// The directories whose children are slug directories.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranscriptRoots {
    /// `P`: an IO or permission error here is the 503 of §1.1; missing means zeros.
    pub projects: PathBuf,
    /// `~/.config/claude/projects`, when it differs from `projects`; read only if it exists.
    pub legacy: Option<PathBuf>,
}

fn set(path: Option<&Path>) -> Option<&Path> {
    path.filter(|p| !p.as_os_str().is_empty())
}

impl ClaudeDirInputs<'_> {
    /// Claude's config directory `D`.
    pub fn config_dir(&self) -> PathBuf {
        set(self.reported_config_dir)
            .or(set(self.env_config_dir))
            .or(set(self.configured_config_dir))
            .or(set(self.server_config_dir))
            .map_or_else(|| self.home.join(".claude"), Path::to_path_buf)
    }

    /// The projects directory `P` and the legacy one.
    pub fn transcript_roots(&self) -> TranscriptRoots {
        let projects = set(self.reported_projects_dir)
            .map_or_else(|| self.config_dir().join("projects"), Path::to_path_buf);
        let legacy = self.home.join(".config/claude/projects");
        let legacy = (lexical(&legacy) != lexical(&projects)).then_some(legacy);
        TranscriptRoots { projects, legacy }
    }
}

/// A project as Claude Code may have seen it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectLocation {
    /// The canonical path (what claude sees as its cwd).
    pub canonical: PathBuf,
    /// The path as configured, when it differs (a symlink under `projects_root`).
    pub configured: PathBuf,
}

/// Why a directory of `P` may hold a project's transcripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirClaim {
    /// `P/<slug>` itself: every transcript in it belongs to the project (unless the slug is
    /// shared, see [`slug_collisions`]).
    Slug,
    /// A worktree's directory: each file needs a first `cwd` inside
    /// `<project>/.claude/worktrees`.
    Worktree,
    /// A shortened long slug: each file needs a first `cwd` naming the project (or one of its
    /// worktrees).
    Shortened,
}

impl DirClaim {
    /// Whether a file of such a directory must prove its `cwd`.
    pub fn needs_cwd_proof(self) -> bool {
        !matches!(self, Self::Slug)
    }
}

impl ProjectLocation {
    /// The slug directory names: of the canonical path and, when different, the configured one.
    pub fn slugs(&self) -> Vec<String> {
        let mut slugs = vec![slug(&self.canonical)];
        let configured = slug(&self.configured);
        if configured != slugs[0] {
            slugs.push(configured);
        }
        slugs
    }

    /// `<canonical>/.claude/worktrees`.
    pub fn worktrees_dir(&self) -> PathBuf {
        self.canonical.join(".claude").join("worktrees")
    }

    /// Picks the children of `P` (by name) that may hold this project's transcripts.
    pub fn claim_dirs<'n>(&self, names: &[&'n str]) -> Vec<(&'n str, DirClaim)> {
        let slugs = self.slugs();
        let worktree_prefix = format!("{}-", slug(&self.worktrees_dir()));
        // Only slugs claude would have shortened are looked for by prefix; a short missing
        // slug just means claude never ran there.
        let shortened: Vec<String> = slugs
            .iter()
            .filter(|s| s.chars().count() > SLUG_PREFIX_CHARS && !names.contains(&s.as_str()))
            .map(|s| s.chars().take(SLUG_PREFIX_CHARS).collect())
            .collect();
        let mut claims = Vec::new();
        for &name in names {
            let claim = if slugs.iter().any(|s| s == name) {
                DirClaim::Slug
            } else if name.starts_with(&worktree_prefix) {
                DirClaim::Worktree
            } else if shortened
                .iter()
                .any(|prefix| name.starts_with(prefix.as_str()))
            {
                DirClaim::Shortened
            } else {
                continue;
            };
            claims.push((name, claim));
        }
        claims
    }

    /// The ownership proof of a file in a [`DirClaim::Worktree`] or [`DirClaim::Shortened`]
    /// directory, given the file's first `cwd` (see [`first_cwd`]). Paths are compared
    /// lexically; canonicalising `cwd` first is the caller's choice.
    pub fn owns(&self, claim: DirClaim, first_cwd: Option<&Path>) -> bool {
        let Some(cwd) = first_cwd.map(lexical) else {
            return matches!(claim, DirClaim::Slug);
        };
        let inside_worktrees = [&self.canonical, &self.configured].iter().any(|root| {
            let worktrees = lexical(&root.join(".claude").join("worktrees"));
            cwd != worktrees && cwd.starts_with(&worktrees)
        });
        match claim {
            DirClaim::Slug => true,
            DirClaim::Worktree => inside_worktrees,
            DirClaim::Shortened => {
                inside_worktrees
                    || cwd == lexical(&self.canonical)
                    || cwd == lexical(&self.configured)
            }
        }
    }
}

/// What a `.jsonl` file below a slug directory is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TranscriptKind {
    /// `P/<slug>/<session uuid>.jsonl`: a session (the stem is not checked to be a UUID).
    Session { stem: String },
    /// A nested file such as `<session uuid>/subagents/agent-<id>.jsonl`.
    Subagent,
}

/// Classifies a path relative to its slug directory; `None` when it is not a transcript the
/// rollup reads (wrong extension, too deep, hidden).
pub fn transcript_kind(relative: &Path) -> Option<TranscriptKind> {
    let mut parts = Vec::new();
    for component in relative.components() {
        match component {
            Component::Normal(part) => parts.push(part),
            _ => return None,
        }
    }
    let name = parts.last()?.to_str()?;
    let stem = name.strip_suffix(".jsonl")?;
    if stem.is_empty() || name.starts_with('.') || parts.len() > MAX_TRANSCRIPT_DEPTH {
        return None;
    }
    Some(if parts.len() == 1 {
        TranscriptKind::Session {
            stem: stem.to_owned(),
        }
    } else {
        TranscriptKind::Subagent
    })
}

/// The first non-empty string `cwd` within the first [`CWD_SCAN_LINES`] lines of `head` (the
/// beginning of a file; an unterminated last line is tried too).
pub fn first_cwd(head: &[u8]) -> Option<String> {
    head.split(|&b| b == b'\n')
        .take(CWD_SCAN_LINES)
        .find_map(line_cwd)
}

/// Groups projects by canonical slug; a group of more than one is a slug collision, whose
/// files are attributed with [`attribute_by_cwd`].
pub fn slug_collisions(projects: &[&Path]) -> BTreeMap<String, Vec<usize>> {
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (index, project) in projects.iter().enumerate() {
        groups.entry(slug(project)).or_default().push(index);
    }
    groups.retain(|_, members| members.len() > 1);
    groups
}

/// In a shared slug directory, the project (index into `canonical_paths`) a file belongs to:
/// the one whose canonical path equals the file's first `cwd`. `None` counts the file in
/// `ambiguous_transcripts`.
pub fn attribute_by_cwd(first_cwd: Option<&Path>, canonical_paths: &[&Path]) -> Option<usize> {
    let cwd = lexical(first_cwd?);
    canonical_paths.iter().position(|p| lexical(p) == cwd)
}

/// `.` and `..` resolved without touching the filesystem; trailing slashes dropped.
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(path: &str) -> ProjectLocation {
        ProjectLocation {
            canonical: path.into(),
            configured: path.into(),
        }
    }

    #[test]
    fn slugs_follow_claude() {
        assert_eq!(
            slug(Path::new("/srv/projects/my_app")),
            "-srv-projects-my-app"
        );
        assert_eq!(slug(Path::new("/home/a.b/x y")), "-home-a-b-x-y");
        assert_eq!(slug(Path::new("/p/café")), "-p-caf-");
        assert_eq!(slug(Path::new("/p/🦀")), "-p---");
        let p = ProjectLocation {
            canonical: "/data/p/app".into(),
            configured: "/srv/p/app".into(),
        };
        assert_eq!(p.slugs(), ["-data-p-app", "-srv-p-app"]);
        assert_eq!(project("/srv/p/app").slugs(), ["-srv-p-app"]);
    }

    #[test]
    fn config_and_projects_dirs() {
        let home = Path::new("/home/u");
        let base = ClaudeDirInputs {
            home,
            env_config_dir: None,
            configured_config_dir: None,
            server_config_dir: None,
            reported_config_dir: None,
            reported_projects_dir: None,
        };
        assert_eq!(base.config_dir(), Path::new("/home/u/.claude"));
        assert_eq!(
            base.transcript_roots(),
            TranscriptRoots {
                projects: "/home/u/.claude/projects".into(),
                legacy: Some("/home/u/.config/claude/projects".into()),
            }
        );
        let server = ClaudeDirInputs {
            server_config_dir: Some(Path::new("/srv/claude")),
            env_config_dir: Some(Path::new("")),
            ..base
        };
        assert_eq!(server.config_dir(), Path::new("/srv/claude"));
        let configured = ClaudeDirInputs {
            configured_config_dir: Some(Path::new("/etc/claude")),
            ..server
        };
        assert_eq!(configured.config_dir(), Path::new("/etc/claude"));
        let env = ClaudeDirInputs {
            env_config_dir: Some(Path::new("/env/claude")),
            ..configured
        };
        assert_eq!(env.config_dir(), Path::new("/env/claude"));
        let reported = ClaudeDirInputs {
            reported_config_dir: Some(Path::new("/reported")),
            ..env
        };
        assert_eq!(
            reported.transcript_roots().projects,
            Path::new("/reported/projects")
        );
        let legacy_is_primary = ClaudeDirInputs {
            reported_projects_dir: Some(Path::new("/home/u/.config/claude/./projects/")),
            ..reported
        };
        assert_eq!(legacy_is_primary.transcript_roots().legacy, None);
    }

    #[test]
    fn claims_slug_worktree_and_lookalike_dirs() {
        let p = project("/srv/p/app");
        let names = [
            "-srv-p-app",
            "-srv-p-app--claude-worktrees-feature-x",
            "-srv-p-app-2",
            "-srv-p-apple",
            "-srv-p-app--claude-worktrees",
        ];
        assert_eq!(
            p.claim_dirs(&names),
            [
                ("-srv-p-app", DirClaim::Slug),
                ("-srv-p-app--claude-worktrees-feature-x", DirClaim::Worktree),
            ]
        );
        let wt = Path::new("/srv/p/app/.claude/worktrees/feature-x");
        assert!(p.owns(DirClaim::Worktree, Some(wt)));
        assert!(p.owns(
            DirClaim::Worktree,
            Some(Path::new("/srv/p/app/.claude/worktrees/a/../b"))
        ));
        assert!(!p.owns(
            DirClaim::Worktree,
            Some(Path::new("/srv/p/app/.claude/worktrees"))
        ));
        assert!(!p.owns(
            DirClaim::Worktree,
            Some(Path::new("/srv/p/app/.claude/worktrees/../../x"))
        ));
        assert!(!p.owns(DirClaim::Worktree, Some(Path::new("/srv/p/app"))));
        assert!(!p.owns(DirClaim::Worktree, None));
        assert!(p.owns(DirClaim::Slug, None));
        assert!(DirClaim::Worktree.needs_cwd_proof() && !DirClaim::Slug.needs_cwd_proof());
    }

    #[test]
    fn long_slugs_are_found_by_prefix_only_when_missing() {
        let long = format!("/srv/{}", "x".repeat(220));
        let p = project(&long);
        let full = slug(Path::new(&long));
        let short = format!("{}-abc123", &full[..SLUG_PREFIX_CHARS]);
        let names = [short.as_str(), "-srv-other"];
        assert_eq!(
            p.claim_dirs(&names),
            [(short.as_str(), DirClaim::Shortened)]
        );
        assert!(p.owns(DirClaim::Shortened, Some(Path::new(&long))));
        assert!(!p.owns(DirClaim::Shortened, Some(Path::new("/srv/elsewhere"))));
        // With the full slug present, the prefix rule is off.
        let names = [full.as_str(), short.as_str()];
        assert_eq!(p.claim_dirs(&names), [(full.as_str(), DirClaim::Slug)]);
    }

    #[test]
    fn transcript_kinds() {
        let uuid = "0f8fad5b-d9cb-469f-a165-70867728950e";
        assert_eq!(
            transcript_kind(Path::new(&format!("{uuid}.jsonl"))),
            Some(TranscriptKind::Session {
                stem: uuid.to_owned()
            })
        );
        assert_eq!(
            transcript_kind(Path::new(&format!("{uuid}/subagents/agent-a1.jsonl"))),
            Some(TranscriptKind::Subagent)
        );
        for no in [
            "notes.txt",
            ".jsonl",
            "a/b/c/d.jsonl",
            "../x.jsonl",
            "/abs.jsonl",
            "x.jsonl.bak",
        ] {
            assert_eq!(transcript_kind(Path::new(no)), None, "{no}");
        }
    }

    #[test]
    fn first_cwd_scans_the_head() {
        let head = b"{\"type\":\"summary\"}\nnot json \"cwd\"\n{\"cwd\":\"\"}\n{\"cwd\":7}\n{\"message\":{\"cwd\":\"/nested\"}}\n{\"cwd\":\"/srv/p/app\",\"x\":1}\n{\"cwd\":\"/later\"}\n";
        assert_eq!(first_cwd(head).as_deref(), Some("/srv/p/app"));
        // Only the first 200 lines count.
        let mut late = "{}\n".repeat(CWD_SCAN_LINES);
        late.push_str("{\"cwd\":\"/srv/p/app\"}\n");
        assert_eq!(first_cwd(late.as_bytes()), None);
        assert_eq!(
            first_cwd(b"{\"cwd\":\"/unterminated\"}").as_deref(),
            Some("/unterminated")
        );
    }

    #[test]
    fn slug_collisions_are_attributed_by_cwd() {
        let a = Path::new("/srv/p/my_app");
        let b = Path::new("/srv/p/my-app");
        let c = Path::new("/srv/p/other");
        let groups = slug_collisions(&[a, b, c]);
        assert_eq!(groups.len(), 1);
        assert_eq!(groups["-srv-p-my-app"], [0, 1]);
        assert_eq!(
            attribute_by_cwd(Some(Path::new("/srv/p/my-app/")), &[a, b]),
            Some(1)
        );
        assert_eq!(
            attribute_by_cwd(Some(Path::new("/srv/p/my_app/sub")), &[a, b]),
            None
        );
        assert_eq!(attribute_by_cwd(None, &[a, b]), None);
    }
}
