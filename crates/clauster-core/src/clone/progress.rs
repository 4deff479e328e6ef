//! git's progress lines (data.md §3.5): the phase word and the first percentage.

use std::sync::LazyLock;

use regex::Regex;

/// The leading words that name a phase, in the order git prints them.
pub const PHASES: [&str; 7] = [
    "Enumerating",
    "Counting",
    "Compressing",
    "Receiving",
    "Resolving",
    "Updating",
    "Total",
];

static PERCENT: LazyLock<Regex> = LazyLock::new(|| {
    // The first 1–3 digit number directly followed by `%`.
    Regex::new(r"(\d{1,3})%").unwrap_or_else(|_| unreachable!("a constant pattern"))
});

/// Where a clone is, as the progress frames show it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    pub phase: Option<&'static str>,
    pub percent: Option<u8>,
}

impl Progress {
    /// The progress after `line` (one piece of stderr split on CR or LF). A value the line
    /// does not carry is kept from `self`, except that a new phase without a percentage has
    /// none yet (the old phase's 100 % would be wrong for it).
    #[must_use]
    pub fn after(&self, line: &str) -> Progress {
        let percent = PERCENT.captures(line).and_then(|c| {
            c.get(1)
                .and_then(|m| m.as_str().parse::<u16>().ok())
                .map(|p| u8::try_from(p.min(100)).unwrap_or(100))
        });
        match phase_of(line) {
            Some(phase) if Some(phase) != self.phase => Progress {
                phase: Some(phase),
                percent,
            },
            _ => Progress {
                phase: self.phase,
                percent: percent.or(self.percent),
            },
        }
    }
}

fn phase_of(line: &str) -> Option<&'static str> {
    let line = line.trim_start();
    let line = line.strip_prefix("remote:").map_or(line, str::trim_start);
    let word = line.split(|c: char| !c.is_ascii_alphabetic()).next()?;
    PHASES.iter().copied().find(|p| *p == word)
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use super::*;

    /// Feeds the lines in order and prints the progress after each.
    fn check(lines: &[&str]) -> String {
        let mut progress = Progress::default();
        let mut out = String::new();
        for line in lines {
            progress = progress.after(line);
            let _ = writeln!(
                out,
                "{line:?} -> phase={} percent={}",
                progress.phase.unwrap_or("null"),
                progress
                    .percent
                    .map_or_else(|| "null".to_owned(), |p| p.to_string())
            );
        }
        out
    }

    #[test]
    fn the_spec_example() {
        let p = Progress::default().after("Receiving objects:  42% (123/456), 1.2 MiB | 3.4 MiB/s");
        assert_eq!(
            p,
            Progress {
                phase: Some("Receiving"),
                percent: Some(42)
            }
        );
    }

    #[test]
    fn a_whole_clone() {
        insta::assert_snapshot!(check(&[
            "Cloning into '/srv/projects/.demo.0a1b2c3d.clone-tmp'...",
            "remote: Enumerating objects: 1204, done.",
            "remote: Counting objects:   3% (2/60)",
            "remote: Counting objects: 100% (60/60), done.",
            "remote: Compressing objects:  50% (20/40)",
            "remote: Total 1204 (delta 3), reused 0 (delta 0), pack-reused 1144",
            "Receiving objects:   0% (1/1204)",
            "Receiving objects:  42% (506/1204), 1.2 MiB | 3.4 MiB/s",
            "Receiving objects: 100% (1204/1204), 3.1 MiB | 3.4 MiB/s, done.",
            "Resolving deltas:  33% (1/3)",
            "Resolving deltas: 100% (3/3), done.",
            "warning: some unrelated line",
            "Updating files:  12% (30/250)",
            "Updating files: 100% (250/250), done.",
        ]));
    }

    #[test]
    fn odd_lines() {
        insta::assert_snapshot!(check(&[
            "",
            "Receiving objects: 999% (1/1)",
            "Receiving objects: 1234% nonsense",
            "remote:Counting objects: 7%",
            "  Resolving deltas: 5%",
            "Receivingobjects 9%",
            "fatal: unable to connect to 203.0.113.9:",
            "remote: Receiving 12%, then 80%",
        ]));
    }
}
