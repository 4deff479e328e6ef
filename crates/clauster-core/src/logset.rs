//! Log-set file names and the retention plan (bridges.md §5.1, §5.4).
//!
//! A log set is every file of one launch: `<project>-<epoch ms, 13 digits>-<seq>` plus a
//! suffix, optionally followed by a rotation number. The name is parsed with the anchored
//! pattern of §5.1, longest suffix first, so `app` never claims `app-staging` files.

use std::collections::{BTreeMap, HashSet};

/// The suffixes of a set, longest first (the order the pattern tries them).
const SUFFIXES: [&str; 6] = [
    ".stderr.log",
    ".keeper.json",
    ".screen.json",
    ".keeper.log",
    ".raw.log",
    ".log",
];

/// A file name of the log directory, taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFileName<'a> {
    /// `<project>-<ms>-<seq>`.
    pub stem: &'a str,
    pub project: &'a str,
    pub epoch_ms: u64,
    pub seq: u64,
    /// One of `.log`, `.raw.log`, `.stderr.log`, `.keeper.json`, `.keeper.log`,
    /// `.screen.json`.
    pub suffix: &'static str,
    /// `N` of a rotated copy `<stem><suffix>.N`.
    pub rotation: Option<u32>,
}

/// Parses a log directory file name; `None` for anything that does not match the pattern
/// (such files are never touched).
pub fn parse_log_file_name(name: &str) -> Option<LogFileName<'_>> {
    // The optional `.N` rotation number comes last.
    let (base, rotation) = match name.rsplit_once('.') {
        Some((base, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
            (base, Some(n.parse().ok()?))
        }
        _ => (name, None),
    };
    let (stem, suffix) = SUFFIXES
        .iter()
        .find_map(|suffix| base.strip_suffix(suffix).map(|stem| (stem, *suffix)))?;
    let (rest, seq) = stem.rsplit_once('-')?;
    let (project, ms) = rest.rsplit_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if project.is_empty() || ms.len() != 13 || !digits(ms) || !digits(seq) {
        return None;
    }
    Some(LogFileName {
        stem,
        project,
        epoch_ms: ms.parse().ok()?,
        seq: seq.parse().ok()?,
        suffix,
        rotation,
    })
}

/// One file of the log directory as retention sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileFact {
    pub name: String,
    /// Modification time, epoch seconds.
    pub mtime: u64,
    pub size: u64,
}

/// `logs.retention_*` (0 disables a rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub max_age_days: u64,
    pub max_files: u64,
    pub max_total_mb: u64,
}

/// The stems to delete, in the order of §5.4: sets older than the age limit, then sets beyond
/// the newest `max_files`, then the oldest sets until the directory total fits. A set's age is
/// its newest mtime; stems in `keep` (the current stem of every stored instance) are never
/// chosen, but still count toward the limits. `keep` says whether a stem must survive.
pub fn plan_retention(
    files: &[FileFact],
    keep: impl Fn(&str) -> bool,
    rules: Retention,
    now: u64,
) -> Vec<String> {
    struct Set {
        newest: u64,
        size: u64,
    }
    let mut sets: BTreeMap<&str, Set> = BTreeMap::new();
    let mut total: u64 = 0;
    for file in files {
        total = total.saturating_add(file.size);
        if let Some(parsed) = parse_log_file_name(&file.name) {
            let set = sets
                .entry(parsed.stem)
                .or_insert(Set { newest: 0, size: 0 });
            set.newest = set.newest.max(file.mtime);
            set.size = set.size.saturating_add(file.size);
        }
    }
    // Newest first; ties broken by name so the plan is deterministic.
    let mut order: Vec<(&str, &Set)> = sets.iter().map(|(s, set)| (*s, set)).collect();
    order.sort_by(|a, b| b.1.newest.cmp(&a.1.newest).then_with(|| b.0.cmp(a.0)));
    let mut doomed: Vec<String> = Vec::new();
    let mut gone: HashSet<&str> = HashSet::new();
    let delete = |stem: &str, size: u64, total: &mut u64, doomed: &mut Vec<String>| {
        *total = total.saturating_sub(size);
        doomed.push(stem.to_owned());
    };
    if rules.max_age_days > 0 {
        let cutoff = now.saturating_sub(rules.max_age_days.saturating_mul(86_400));
        for (stem, set) in &order {
            if set.newest < cutoff && !keep(stem) {
                gone.insert(stem);
                delete(stem, set.size, &mut total, &mut doomed);
            }
        }
    }
    if rules.max_files > 0 {
        let survivors: Vec<&(&str, &Set)> =
            order.iter().filter(|(s, _)| !gone.contains(s)).collect();
        let limit = usize::try_from(rules.max_files).unwrap_or(usize::MAX);
        for (stem, set) in survivors.into_iter().skip(limit) {
            if !keep(stem) {
                gone.insert(stem);
                delete(stem, set.size, &mut total, &mut doomed);
            }
        }
    }
    if rules.max_total_mb > 0 {
        let budget = rules.max_total_mb.saturating_mul(1024 * 1024);
        for (stem, set) in order.iter().rev() {
            if total <= budget {
                break;
            }
            if !gone.contains(stem) && !keep(stem) {
                gone.insert(stem);
                delete(stem, set.size, &mut total, &mut doomed);
            }
        }
    }
    doomed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_with_the_longest_suffix_and_rotation() {
        let names = [
            "alpha-1764083000000-1.log",
            "alpha-1764083000000-1.raw.log",
            "alpha-1764083000000-1.stderr.log.3",
            "app-staging-1764083000000-12.keeper.json",
            "my.app-1764083000000-2.screen.json",
            "alpha-1764083000000-1.keeper.log.10",
            // Not ours: wrong digit count, no seq, unknown suffix, no project.
            "alpha-176408300000-1.log",
            "alpha-1764083000000.log",
            "alpha-1764083000000-1.txt",
            "-1764083000000-1.log",
            "clauster.db",
        ];
        let parsed: Vec<String> = names
            .iter()
            .map(|n| format!("{n} → {:?}", parse_log_file_name(n)))
            .collect();
        insta::assert_snapshot!(parsed.join("\n"));
    }

    fn fact(name: &str, mtime: u64, size: u64) -> FileFact {
        FileFact {
            name: name.into(),
            mtime,
            size,
        }
    }

    const DAY: u64 = 86_400;
    const MIB: u64 = 1024 * 1024;

    #[test]
    fn retention_applies_age_then_count_then_size_and_spares_kept_stems() {
        let now = 100 * DAY;
        let files = [
            // Old: 40 days.
            fact("a-1000000000001-1.log", now - 40 * DAY, MIB),
            fact("a-1000000000001-1.stderr.log", now - 40 * DAY, MIB),
            // Old, but a stored instance's current stem.
            fact("a-1000000000002-1.log", now - 45 * DAY, MIB),
            // Recent ones; the newest mtime of a set decides.
            fact("b-1000000000003-1.log", now - 5 * DAY, 3 * MIB),
            fact("b-1000000000003-1.log.1", now - 9 * DAY, 3 * MIB),
            fact("c-1000000000004-1.log", now - 3 * DAY, 2 * MIB),
            fact("d-1000000000005-1.log", now - DAY, MIB),
            // Never touched.
            fact("notes.txt", 0, 50 * MIB),
        ];
        let keep = HashSet::from(["a-1000000000002-1".to_owned()]);
        let plan = |max_age_days, max_files, max_total_mb| {
            let retention = Retention {
                max_age_days,
                max_files,
                max_total_mb,
            };
            plan_retention(&files, |s| keep.contains(s), retention, now)
        };
        // Age only: 30 days.
        assert_eq!(plan(30, 0, 0), ["a-1000000000001-1"]);
        // Count only: the newest two are d and c; b and a-1 go; a-2 is kept.
        assert_eq!(plan(0, 2, 0), ["b-1000000000003-1", "a-1000000000001-1"]);
        // 62 MiB in all (50 of them not ours): deleting oldest first until ≤ 58 MiB.
        assert_eq!(plan(0, 0, 58), ["a-1000000000001-1", "b-1000000000003-1"]);
        // All off.
        assert!(plan(0, 0, 0).is_empty());
    }
}
