//! Claude Code's directory name for a working directory (the "slug") and the prefix rules
//! used to find transcript and pointer directories under its projects directory.
//!
//! The slug is the absolute path with every character other than an ASCII letter or digit
//! replaced by `-` (README glossary, data.md §1.1): `/srv/p/my_app` → `-srv-p-my-app`.
//! Claude computes it in JavaScript, where a "character" is a UTF-16 code unit, so a
//! character outside the Basic Multilingual Plane (an emoji) becomes two dashes; we do the
//! same, because the only purpose of the slug is to name the directory claude created.

/// How many leading characters of a long slug claude keeps before it shortens the rest
/// (data.md §1.1 "Missing slug directory").
pub const LONG_SLUG_PREFIX_CHARS: usize = 200;

/// The slug of `abs_path`: every character other than `[A-Za-z0-9]` becomes `-` (one dash per
/// UTF-16 code unit, like claude). The path is used as given; canonicalising it is the
/// caller's job (the slug of the canonical path is what claude sees as its cwd).
pub fn slug(abs_path: &str) -> String {
    let mut out = String::with_capacity(abs_path.len());
    for c in abs_path.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else {
            for _ in 0..c.len_utf16() {
                out.push('-');
            }
        }
    }
    out
}

/// The prefix of `slug` that a shortened directory name still starts with: its first
/// [`LONG_SLUG_PREFIX_CHARS`] characters (the whole slug when it is shorter). A slug is
/// ASCII, so characters and bytes coincide.
pub fn long_slug_prefix(slug: &str) -> &str {
    // A slug is ASCII by construction, but a caller may hand any string: cut on a char
    // boundary so this never panics.
    match slug.char_indices().nth(LONG_SLUG_PREFIX_CHARS) {
        Some((byte, _)) => &slug[..byte],
        None => slug,
    }
}

/// Whether a directory named `dir_name` under the projects directory may belong to `slug`
/// when no directory named exactly `slug` exists: it starts with [`long_slug_prefix`]. Only a
/// candidate — data.md §1.1 still asks for the `cwd` proof inside its files.
pub fn is_shortened_slug_candidate(dir_name: &str, slug: &str) -> bool {
    dir_name != slug && dir_name.starts_with(long_slug_prefix(slug))
}

/// The name prefix of a project's worktree transcript directories:
/// `slug(<canonical project>/.claude/worktrees) + "-"` (data.md §1.1 item 3).
pub fn worktree_slug_prefix(canonical_project: &str) -> String {
    // `/srv/p/alpha/` and `/srv/p/alpha` name the same directory; claude's cwd never has the
    // trailing slash, so neither does the worktree root it derives from it.
    let base = canonical_project.trim_end_matches('/');
    let mut prefix = slug(&format!("{base}/.claude/worktrees"));
    prefix.push('-');
    prefix
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The glossary's examples; every non-alphanumeric becomes a dash; non-ASCII counts in
    /// UTF-16 code units (é is one unit, 😀 is two, a surrogate pair, as in JavaScript's
    /// replace).
    #[test]
    fn slug_examples() {
        for (path, expected) in [
            ("/srv/p/my_app", "-srv-p-my-app"),
            ("/srv/projects/my_app", "-srv-projects-my-app"),
            ("/home/a.b/x y/Z9", "-home-a-b-x-y-Z9"),
            ("/", "-"),
            ("", ""),
            ("/café", "-caf-"),
            ("/a😀b", "-a--b"),
        ] {
            assert_eq!(slug(path), expected, "{path:?}");
        }
        // `my_app` and `my-app` collide (bridges.md §3.6): that is the rule, not a bug.
        assert_eq!(slug("/p/my_app"), slug("/p/my-app"));
    }

    #[test]
    fn long_slug_prefix_cuts_at_200() {
        let long = format!("/{}", "a".repeat(300));
        let s = slug(&long);
        assert_eq!(long_slug_prefix(&s).len(), LONG_SLUG_PREFIX_CHARS);
        assert!(long_slug_prefix(&s).starts_with("-aaa"));
        assert_eq!(long_slug_prefix("-short"), "-short");
        // Never panics on non-ASCII input even though a real slug is ASCII.
        let odd = "é".repeat(250);
        assert_eq!(
            long_slug_prefix(&odd).chars().count(),
            LONG_SLUG_PREFIX_CHARS
        );
    }

    #[test]
    fn shortened_slug_candidates() {
        let s = slug(&format!("/{}", "b".repeat(260)));
        let shortened = format!("{}-1a2b3c", long_slug_prefix(&s));
        assert!(is_shortened_slug_candidate(&shortened, &s));
        assert!(
            !is_shortened_slug_candidate(&s, &s),
            "the exact name is not a shortened one"
        );
        assert!(!is_shortened_slug_candidate("-other", &s));
    }

    #[test]
    fn worktree_prefix() {
        assert_eq!(
            worktree_slug_prefix("/srv/p/alpha"),
            "-srv-p-alpha--claude-worktrees-"
        );
        assert_eq!(
            worktree_slug_prefix("/srv/p/alpha/"),
            worktree_slug_prefix("/srv/p/alpha")
        );
    }
}
