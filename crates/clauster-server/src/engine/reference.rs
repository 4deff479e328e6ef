//! Instance references (http-api.md §2): full id, project name, or a unique id prefix.

/// What the resolver needs to know about each record.
#[derive(Clone, Copy, Debug)]
pub struct Candidate<'a> {
    pub id: &'a str,
    pub project: &'a str,
    /// starting, running, or `error` with a live bridge.
    pub live: bool,
}

/// Why a reference named no single record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unresolved {
    NotFound,
    /// The 409 text.
    Ambiguous(String),
}

/// The longest instance reference (security.md §7.2).
pub const MAX_REFERENCE_CHARS: usize = 64;

/// security.md §7.2: 1–64 characters of `[A-Za-z0-9_-]`. Anything else names no instance
/// (every id, project name and prefix has this shape), so it is never compared at all.
pub fn is_valid_reference(reference: &str) -> bool {
    (1..=MAX_REFERENCE_CHARS).contains(&reference.len())
        && reference
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

pub fn resolve<'a>(reference: &str, candidates: &[Candidate<'a>]) -> Result<&'a str, Unresolved> {
    if !is_valid_reference(reference) {
        return Err(Unresolved::NotFound);
    }
    if let Some(exact) = candidates.iter().find(|c| c.id == reference) {
        return Ok(exact.id);
    }
    let of_project: Vec<&Candidate<'a>> = candidates
        .iter()
        .filter(|c| c.project == reference)
        .collect();
    if !of_project.is_empty() {
        if let [only] = of_project.as_slice() {
            return Ok(only.id);
        }
        let live: Vec<_> = of_project.iter().filter(|c| c.live).collect();
        if let [only] = live.as_slice() {
            return Ok(only.id);
        }
        let ids: Vec<&str> = of_project.iter().map(|c| c.id).collect();
        return Err(ambiguous(reference, &ids, "use an instance id directly"));
    }
    if reference.is_empty() {
        return Err(Unresolved::NotFound);
    }
    let prefixed: Vec<&str> = candidates
        .iter()
        .filter(|c| c.id.starts_with(reference))
        .map(|c| c.id)
        .collect();
    match prefixed.as_slice() {
        [] => Err(Unresolved::NotFound),
        [only] => Ok(only),
        many => Err(ambiguous(reference, many, "use more characters")),
    }
}

/// Names at most five candidates, then `…`.
fn ambiguous(reference: &str, ids: &[&str], advice: &str) -> Unresolved {
    let mut shown: Vec<&str> = ids.iter().take(5).copied().collect();
    if ids.len() > 5 {
        shown.push("…");
    }
    Unresolved::Ambiguous(format!(
        "ambiguous '{reference}' — matches {}; {advice}",
        shown.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::{Candidate, Unresolved, is_valid_reference, resolve};

    #[test]
    fn references_outside_the_shape_name_nothing() {
        let all = [Candidate {
            id: "aaaa1111",
            project: "alpha",
            live: true,
        }];
        assert_eq!(resolve("aaaa", &all), Ok("aaaa1111"));
        for bad in ["", "a/b", "aaaa\u{202e}", "a a", "é"] {
            assert!(!is_valid_reference(bad), "{bad:?}");
            assert_eq!(resolve(bad, &all), Err(Unresolved::NotFound));
        }
        let long = "a".repeat(65);
        assert_eq!(resolve(&long, &all), Err(Unresolved::NotFound));
        assert!(is_valid_reference(&"a".repeat(64)));
    }

    fn c<'a>(id: &'a str, project: &'a str, live: bool) -> Candidate<'a> {
        Candidate { id, project, live }
    }

    #[test]
    fn resolution_order_of_the_spec() {
        let all = [
            c("aaaa1111", "alpha", true),
            c("aaaa2222", "alpha", false),
            c("bbbb3333", "beta", false),
            c("cccc4444", "gamma", false),
            c("cccc5555", "gamma", false),
        ];
        assert_eq!(resolve("aaaa2222", &all), Ok("aaaa2222"), "full id");
        assert_eq!(
            resolve("alpha", &all),
            Ok("aaaa1111"),
            "the single live one of a project"
        );
        assert_eq!(
            resolve("beta", &all),
            Ok("bbbb3333"),
            "the single record of a project"
        );
        assert_eq!(
            resolve("gamma", &all),
            Err(Unresolved::Ambiguous(
                "ambiguous 'gamma' — matches cccc4444, cccc5555; use an instance id directly"
                    .into()
            ))
        );
        assert_eq!(resolve("b", &all), Ok("bbbb3333"), "unique prefix");
        assert_eq!(
            resolve("aaaa", &all),
            Err(Unresolved::Ambiguous(
                "ambiguous 'aaaa' — matches aaaa1111, aaaa2222; use more characters".into()
            ))
        );
        assert_eq!(resolve("zzz", &all), Err(Unresolved::NotFound));
        assert_eq!(resolve("", &all), Err(Unresolved::NotFound));
    }

    #[test]
    fn a_project_name_is_never_read_as_a_prefix() {
        let all = [c("delta-is-not-an-id", "x", false)];
        assert_eq!(
            resolve("delta", &all),
            Ok("delta-is-not-an-id"),
            "no project named delta: prefix"
        );
        let all = [c("abc123", "ab", false), c("abd456", "zz", false)];
        assert_eq!(
            resolve("ab", &all),
            Ok("abc123"),
            "project 'ab' wins over the prefix 'ab'"
        );
    }

    #[test]
    fn long_candidate_lists_are_cut_after_five() {
        let ids = ["p1", "p2", "p3", "p4", "p5", "p6"];
        let all: Vec<_> = ids.iter().map(|id| c(id, "proj", false)).collect();
        let Err(Unresolved::Ambiguous(text)) = resolve("p", &all) else {
            panic!("ambiguous expected")
        };
        assert_eq!(
            text,
            "ambiguous 'p' — matches p1, p2, p3, p4, p5, …; use more characters"
        );
    }
}
