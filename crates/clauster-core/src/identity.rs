//! Process start identity (pid, start ticks, boot id) and the command-line gates of
//! bridges.md §16, computed from `/proc` texts the caller read.
//!
//! The reads themselves (and macOS's kernel process info) live in `clauster-pty`'s `proc`
//! module; this module only parses what it is handed and decides, so every rule is testable
//! without a process.

use std::fmt;

/// Why a `/proc` text could not be parsed. The message names the file and what was wrong, so
/// the caller can log it and treat the process as not provably ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error(
        "/proc/<pid>/stat has no `(comm)` part; the process probably vanished mid-read — treat it as not running"
    )]
    StatNoComm,
    #[error(
        "/proc/<pid>/stat has an unreadable field {field} ({reason}); treat the process as not provably ours"
    )]
    StatField { field: usize, reason: &'static str },
    #[error(
        "boot id is not a UUID (read from /proc/sys/kernel/random/boot_id); compare start ticks without it"
    )]
    BootId,
}

/// The parts of `/proc/<pid>/stat` the engine uses. Field numbers are those of proc(5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcStat {
    /// Field 1.
    pub pid: i32,
    /// Field 2 without its parentheses (may contain spaces and parentheses itself).
    pub comm: String,
    /// Field 3 (`R`, `S`, `D`, `Z`, `T`, …).
    pub state: char,
    /// Field 4.
    pub ppid: i32,
    /// Field 5.
    pub pgrp: i32,
    /// Field 6: the session id, used by the session sweep (bridges.md §8.2).
    pub session: i32,
    /// Field 22: start time in clock ticks since boot — the core of the start identity.
    pub start_ticks: u64,
}

impl ProcStat {
    /// A zombie (`Z`) or dead (`X`/`x`) process is not live whatever its identity says.
    pub fn is_defunct(&self) -> bool {
        matches!(self.state, 'Z' | 'X' | 'x')
    }
}

/// Parses the text of `/proc/<pid>/stat`.
///
/// The command name is parenthesised and may itself contain spaces and `)`, so the fields
/// after it are read after the **last** `)` (bridges.md §16).
pub fn parse_proc_stat(text: &str) -> Result<ProcStat, IdentityError> {
    let open = text.find('(').ok_or(IdentityError::StatNoComm)?;
    let close = text.rfind(')').ok_or(IdentityError::StatNoComm)?;
    if close < open {
        return Err(IdentityError::StatNoComm);
    }
    let pid = parse_field(text[..open].trim(), 1)?;
    let comm = text[open + 1..close].to_owned();
    // Fields 3.. follow the `)`; index 0 of this iterator is field 3.
    let rest: Vec<&str> = text[close + 1..].split_ascii_whitespace().collect();
    let field = |n: usize| -> Result<&str, IdentityError> {
        rest.get(n - 3).copied().ok_or(IdentityError::StatField {
            field: n,
            reason: "missing",
        })
    };
    let state_text = field(3)?;
    let mut state_chars = state_text.chars();
    let (Some(state), None) = (state_chars.next(), state_chars.next()) else {
        return Err(IdentityError::StatField {
            field: 3,
            reason: "not a single state letter",
        });
    };
    Ok(ProcStat {
        pid,
        comm,
        state,
        ppid: parse_field(field(4)?, 4)?,
        pgrp: parse_field(field(5)?, 5)?,
        session: parse_field(field(6)?, 6)?,
        start_ticks: parse_field(field(22)?, 22)?,
    })
}

fn parse_field<T: std::str::FromStr>(text: &str, field: usize) -> Result<T, IdentityError> {
    text.parse().map_err(|_| IdentityError::StatField {
        field,
        reason: "not a number",
    })
}

/// The kernel's boot id (`/proc/sys/kernel/random/boot_id`), normalised to lowercase. Two
/// start identities with different boot ids name different processes whatever their ticks.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BootId(String);

impl BootId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BootId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Parses the boot id file: one `8-4-4-4-12` hex UUID, surrounding whitespace ignored.
pub fn parse_boot_id(text: &str) -> Result<BootId, IdentityError> {
    let t = text.trim();
    let groups: Vec<&str> = t.split('-').collect();
    let shape_ok = groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()));
    if shape_ok {
        Ok(BootId(t.to_ascii_lowercase()))
    } else {
        Err(IdentityError::BootId)
    }
}

/// The boot time in epoch seconds from the `btime` line of the system-wide `/proc/stat`,
/// needed to turn start ticks into `proc_start`.
pub fn parse_btime(proc_stat: &str) -> Option<u64> {
    proc_stat
        .lines()
        .find_map(|line| line.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// `proc_start` (epoch seconds, float; kept for JSON compatibility with the Python store) =
/// boot time + ticks / `CLK_TCK` (bridges.md §16). `clk_tck` 0 is treated as the usual 100.
#[allow(clippy::cast_precision_loss)] // ticks and epoch seconds stay far below 2^52
pub fn proc_start_seconds(boot_time: u64, start_ticks: u64, clk_tck: u64) -> f64 {
    let hz = if clk_tck == 0 { 100 } else { clk_tck };
    boot_time as f64 + start_ticks as f64 / hz as f64
}

/// The subcommand that marks a keeper's argv (`clauster __pty-keeper__ … -- <bridge argv>`).
pub const KEEPER_SUBCOMMAND: &str = "__pty-keeper__";

/// A process's argv, from `/proc/<pid>/cmdline` (NUL-separated, decoded lossily).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cmdline {
    args: Vec<String>,
}

impl Cmdline {
    /// Parses `/proc/<pid>/cmdline`: arguments separated by NUL, with one trailing NUL. An
    /// empty text (a kernel thread or a zombie) gives no arguments.
    pub fn parse(bytes: &[u8]) -> Self {
        let trimmed = bytes.strip_suffix(b"\0").unwrap_or(bytes);
        if trimmed.is_empty() {
            return Self::default();
        }
        let args = trimmed
            .split(|&b| b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        Self { args }
    }

    /// Builds a command line from arguments (macOS reads argv differently; tests).
    pub fn from_args<I, S>(args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            args: args.into_iter().map(Into::into).collect(),
        }
    }

    pub fn args(&self) -> &[String] {
        &self.args
    }

    /// Whether the arguments pass `--debug-file <path>`: what ties a bridge (and its pty
    /// keeper) to the log set of one launch, whose stem no other launch uses (bridges.md §11
    /// step 3).
    pub fn names_debug_file(&self, path: &str) -> bool {
        self.args
            .windows(2)
            .any(|pair| pair[0] == "--debug-file" && pair[1] == path)
    }

    fn is_keeper_argv(&self) -> bool {
        self.args.get(1).is_some_and(|a| a == KEEPER_SUBCOMMAND)
    }

    fn mentions_claude(&self) -> bool {
        // "the joined argv contains `claude`": joining with spaces cannot create the word
        // across two arguments that neither contains, so checking each argument is the same.
        self.args.iter().any(|a| a.contains("claude"))
    }
}

/// The command-line gates of bridges.md §16: what a live process's argv must look like
/// before a recorded pid is believed to still name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Any bridge, standard or pty: not a keeper, mentions `claude` and `remote-control`
    /// (the subcommand and the `--remote-control` flag both contain it).
    Bridge,
    /// Adoption candidates: not a keeper, mentions `claude`, has an element exactly
    /// `remote-control` and none starting with `--remote-control`.
    StandardOnly,
    /// `argv[1]` is `__pty-keeper__` and the basename of `argv[0]` contains `clauster`.
    Keeper,
}

impl Gate {
    pub fn admits(self, cmdline: &Cmdline) -> bool {
        let args = cmdline.args();
        match self {
            Gate::Bridge => {
                !cmdline.is_keeper_argv()
                    && cmdline.mentions_claude()
                    && args.iter().any(|a| a.contains("remote-control"))
            }
            Gate::StandardOnly => {
                !cmdline.is_keeper_argv()
                    && cmdline.mentions_claude()
                    && args.iter().any(|a| a == "remote-control")
                    && !args.iter().any(|a| a.starts_with("--remote-control"))
            }
            Gate::Keeper => {
                cmdline.is_keeper_argv()
                    && args.first().is_some_and(|argv0| {
                        let base = argv0.rsplit('/').next().unwrap_or(argv0);
                        base.contains("clauster")
                    })
            }
        }
    }
}

/// What Clauster recorded about a process it launched (or adopted).
#[derive(Debug, Clone, PartialEq)]
pub struct StartIdentity {
    pub pid: i32,
    /// Start ticks (Linux) or start microseconds (macOS); absent for rows imported from a
    /// store that only kept `proc_start`.
    pub start_ticks: Option<u64>,
    pub boot_id: Option<BootId>,
    /// Epoch seconds; the fallback comparison when no ticks were recorded.
    pub proc_start: Option<f64>,
}

/// What the caller observed about the live process with that pid, all from one read.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedProcess {
    pub stat: ProcStat,
    pub boot_id: Option<BootId>,
    pub proc_start: Option<f64>,
    pub cmdline: Cmdline,
}

/// How far apart two `proc_start` values may be and still name the same process (the float
/// round-trips through JSON and two clock reads).
pub const PROC_START_TOLERANCE_SECONDS: f64 = 0.05;

/// bridges.md §16 `is_live`. `observed` is `None` when the process is missing or could not
/// be read — both mean "not ours".
///
/// With recorded and live ticks, the ticks must be equal, and the boot ids too when both are
/// known. Without recorded ticks, the recorded `proc_start` must be within
/// [`PROC_START_TOLERANCE_SECONDS`] of the live one. With neither recorded, nothing proves
/// the pid still names our process, so the answer is false (a false "live" could make the
/// engine signal a stranger).
pub fn is_live(recorded: &StartIdentity, observed: Option<&ObservedProcess>, gate: Gate) -> bool {
    let Some(obs) = observed else {
        return false;
    };
    if recorded.pid <= 0 || obs.stat.pid != recorded.pid || obs.stat.is_defunct() {
        return false;
    }
    gate.admits(&obs.cmdline) && same_start(recorded, obs)
}

/// The start part of [`is_live`], without its pid, state and gate checks: whether
/// `observed` started when `recorded` did (the terminator asks it of a zombie leader, which
/// has no command line to gate).
pub fn same_start(recorded: &StartIdentity, observed: &ObservedProcess) -> bool {
    match recorded.start_ticks {
        Some(ticks) => {
            ticks == observed.stat.start_ticks
                && match (&recorded.boot_id, &observed.boot_id) {
                    (Some(a), Some(b)) => a == b,
                    _ => true,
                }
        }
        None => match (recorded.proc_start, observed.proc_start) {
            (Some(a), Some(b)) => (a - b).abs() <= PROC_START_TOLERANCE_SECONDS,
            _ => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat_line(comm: &str, state: char, ticks: u64) -> String {
        // A real-shaped line: 52 fields, field 22 = ticks.
        let mut fields: Vec<String> =
            vec![state.to_string(), "1".into(), "4242".into(), "4242".into()];
        for n in 7..=52 {
            fields.push(if n == 22 {
                ticks.to_string()
            } else {
                format!("{n}0")
            });
        }
        format!("4243 ({comm}) {}\n", fields.join(" "))
    }

    #[test]
    fn parses_a_plain_stat_line() {
        let text = "81750 (claude) S 1 81750 81750 0 -1 4194560 12345 0 0 0 120 30 0 0 20 0 11 0 2590192 1234567168 45678 18446744073709551615 1 1 0 0 0 0 0 16781312 134235650 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n";
        let s = parse_proc_stat(text).unwrap();
        assert_eq!(
            s,
            ProcStat {
                pid: 81750,
                comm: "claude".into(),
                state: 'S',
                ppid: 1,
                pgrp: 81750,
                session: 81750,
                start_ticks: 2_590_192,
            }
        );
        assert!(!s.is_defunct());
    }

    #[test]
    fn comm_with_spaces_and_parentheses() {
        for comm in ["a b", "x) S 9 (", "((", ")", "node (v22) )) R 1"] {
            let s = parse_proc_stat(&stat_line(comm, 'R', 777)).unwrap();
            assert_eq!(s.comm, comm);
            assert_eq!(s.state, 'R');
            assert_eq!(s.ppid, 1);
            assert_eq!(s.session, 4242);
            assert_eq!(s.start_ticks, 777);
        }
    }

    #[test]
    fn zombie_is_defunct() {
        assert!(
            parse_proc_stat(&stat_line("claude", 'Z', 1))
                .unwrap()
                .is_defunct()
        );
        assert!(
            parse_proc_stat(&stat_line("claude", 'X', 1))
                .unwrap()
                .is_defunct()
        );
    }

    #[test]
    fn malformed_stat_lines() {
        assert_eq!(parse_proc_stat(""), Err(IdentityError::StatNoComm));
        assert_eq!(
            parse_proc_stat("12 claude S 1"),
            Err(IdentityError::StatNoComm)
        );
        assert_eq!(
            parse_proc_stat("12 (claude) S 1 2 3"),
            Err(IdentityError::StatField {
                field: 22,
                reason: "missing"
            })
        );
        assert!(matches!(
            parse_proc_stat(&stat_line("c", 'S', 5).replace("4243", "x")),
            Err(IdentityError::StatField { field: 1, .. })
        ));
        assert!(matches!(
            parse_proc_stat("1 (c) SS 1 1 1"),
            Err(IdentityError::StatField { field: 3, .. })
        ));
        let err = parse_proc_stat("").unwrap_err().to_string();
        assert!(err.contains("/proc/<pid>/stat"), "{err}");
    }

    #[test]
    fn boot_id() {
        let b = parse_boot_id("9F1C2B3A-0000-4abc-8def-0123456789AB\n").unwrap();
        assert_eq!(b.as_str(), "9f1c2b3a-0000-4abc-8def-0123456789ab");
        assert_eq!(b.to_string(), b.as_str());
        for bad in [
            "",
            "not-a-uuid",
            "9f1c2b3a00004abc8def0123456789ab",
            "9f1c2b3a-0000-4abc-8def-0123456789ag",
        ] {
            assert_eq!(parse_boot_id(bad), Err(IdentityError::BootId), "{bad}");
        }
    }

    #[test]
    fn btime_and_proc_start() {
        let text = "cpu  1 2 3\nintr 5\nbtime 1764000000\nprocesses 9\n";
        assert_eq!(parse_btime(text), Some(1_764_000_000));
        assert_eq!(parse_btime("cpu 1\n"), None);
        let ps = proc_start_seconds(1_764_000_000, 2_590_192, 100);
        assert!((ps - 1_764_025_901.92).abs() < 1e-6);
        assert!((proc_start_seconds(10, 250, 0) - 12.5).abs() < 1e-9);
    }

    #[test]
    fn cmdline_parsing() {
        let c = Cmdline::parse(b"/usr/bin/claude\0remote-control\0--name\0a b\0");
        assert_eq!(
            c.args(),
            ["/usr/bin/claude", "remote-control", "--name", "a b"]
        );
        assert!(Cmdline::parse(b"").args().is_empty());
        assert!(Cmdline::parse(b"\0").args().is_empty());
        let lossy = Cmdline::parse(b"claude\0\xffremote-control\0");
        assert_eq!(lossy.args()[1], "\u{fffd}remote-control");
    }

    fn gates(args: &[&str]) -> [bool; 3] {
        let c = Cmdline::from_args(args.iter().copied());
        [Gate::Bridge, Gate::StandardOnly, Gate::Keeper].map(|g| g.admits(&c))
    }

    #[test]
    fn a_launch_is_named_by_its_debug_file_argument() {
        let bridge = Cmdline::from_args([
            "/usr/bin/claude",
            "remote-control",
            "--debug-file",
            "/s/logs/a-1-1.log",
        ]);
        assert!(bridge.names_debug_file("/s/logs/a-1-1.log"));
        assert!(
            !bridge.names_debug_file("/s/logs/a-1-2.log"),
            "another launch"
        );
        let as_a_value = Cmdline::from_args(["claude", "--name", "/s/logs/a-1-1.log"]);
        assert!(!as_a_value.names_debug_file("/s/logs/a-1-1.log"));
        assert!(!Cmdline::default().names_debug_file(""));
    }

    #[test]
    fn gate_table() {
        // [bridge, standard-only, keeper]
        let cases: &[(&[&str], [bool; 3])] = &[
            (
                &["/usr/bin/claude", "remote-control", "--spawn", "same-dir"],
                [true, true, false],
            ),
            (
                &["node", "/opt/claude-code/cli.js", "remote-control"],
                [true, true, false],
            ),
            (
                &["claude", "--remote-control", "alpha"],
                [true, false, false],
            ),
            (
                &["claude", "remote-control", "--remote-control-x"],
                [true, false, false],
            ),
            (&["claude", "--remote-control=alpha"], [true, false, false]),
            (
                &[
                    "/usr/bin/clauster",
                    "__pty-keeper__",
                    "--",
                    "claude",
                    "--remote-control",
                ],
                [false, false, true],
            ),
            (
                &["/opt/bin/my-clauster-build", "__pty-keeper__"],
                [false, false, true],
            ),
            (
                &["/opt/clauster/bin/keeper", "__pty-keeper__"],
                [false, false, false],
            ),
            (&["/usr/bin/claude"], [false, false, false]),
            (
                &["/usr/bin/python3", "remote-control"],
                [false, false, false],
            ),
            (&["vim", "claude-notes.txt"], [false, false, false]),
            (&[], [false, false, false]),
        ];
        for (args, want) in cases {
            assert_eq!(gates(args), *want, "{args:?}");
        }
    }

    fn observed(
        pid: i32,
        ticks: u64,
        boot: Option<&str>,
        proc_start: Option<f64>,
    ) -> ObservedProcess {
        ObservedProcess {
            stat: parse_proc_stat(
                &stat_line("claude", 'S', ticks).replace("4243 (", &format!("{pid} (")),
            )
            .unwrap(),
            boot_id: boot.map(|b| parse_boot_id(b).unwrap()),
            proc_start,
            cmdline: Cmdline::from_args(["claude", "remote-control"]),
        }
    }

    const BOOT_A: &str = "11111111-1111-1111-1111-111111111111";
    const BOOT_B: &str = "22222222-2222-2222-2222-222222222222";

    #[test]
    fn liveness_rules() {
        let rec = |ticks: Option<u64>, boot: Option<&str>, ps: Option<f64>| StartIdentity {
            pid: 4243,
            start_ticks: ticks,
            boot_id: boot.map(|b| parse_boot_id(b).unwrap()),
            proc_start: ps,
        };
        let live = observed(4243, 900, Some(BOOT_A), Some(1000.0));
        let g = Gate::Bridge;
        assert!(is_live(&rec(Some(900), Some(BOOT_A), None), Some(&live), g));
        assert!(
            is_live(&rec(Some(900), None, None), Some(&live), g),
            "boot id unknown on one side"
        );
        assert!(
            !is_live(&rec(Some(901), Some(BOOT_A), None), Some(&live), g),
            "recycled pid"
        );
        assert!(
            !is_live(&rec(Some(900), Some(BOOT_B), None), Some(&live), g),
            "other boot"
        );
        assert!(is_live(&rec(None, None, Some(1000.04)), Some(&live), g));
        assert!(!is_live(&rec(None, None, Some(1000.06)), Some(&live), g));
        assert!(
            !is_live(&rec(None, None, None), Some(&live), g),
            "nothing recorded proves nothing"
        );
        assert!(
            !is_live(&rec(Some(900), None, None), None, g),
            "missing process"
        );
        assert!(
            !is_live(&rec(Some(900), None, None), Some(&live), Gate::Keeper),
            "gate fails"
        );
        let mut zombie = live.clone();
        zombie.stat.state = 'Z';
        assert!(!is_live(&rec(Some(900), None, None), Some(&zombie), g));
        let mut bad_pid = rec(Some(900), None, None);
        bad_pid.pid = 0;
        assert!(!is_live(&bad_pid, Some(&live), g));
        let other = observed(4244, 900, None, None);
        assert!(
            !is_live(&rec(Some(900), None, None), Some(&other), g),
            "observed another pid"
        );
    }
}
