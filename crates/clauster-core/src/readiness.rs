//! The host's readiness (ui.md §2.1): which of the `clauster doctor` verdicts keep bridges
//! from starting, what to do about each, and the pill's colour. The verdicts themselves are
//! [`crate::doctor`]'s — the pill and `clauster doctor` never disagree about a fact — and the
//! server hands in what it read (the probe cache, the disk rows, the last `not_eligible`).

use crate::doctor::{self, LoginAnswer, Verdict};

/// What is known about the `claude` binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaudeBinary<'a> {
    /// Resolved, and the probe has not finished yet.
    Probing,
    /// Not found: the resolver's reason.
    Missing(&'a str),
    /// Resolved and probed: the first token of `--version`, `None` when it failed.
    Probed(Option<&'a str>),
}

/// Everything readiness is decided from.
#[derive(Debug, Clone)]
pub struct Inputs<'a> {
    pub claude: ClaudeBinary<'a>,
    /// `claude.min_version`.
    pub min_version: &'a str,
    /// The last `auth status --json` answer; `None` before the first.
    pub login: Option<LoginAnswer<'a>>,
    pub now_ms: i64,
    /// The doctor's `projects_root`, `state_dir` and `workspace-trust` rows.
    pub projects_root: Verdict,
    pub state_dir: Verdict,
    pub workspace_trust: Verdict,
    /// The `error_detail` of the last bridge that failed `not_eligible`, until a bridge runs.
    pub not_eligible: Option<&'a str>,
    /// Whether the dashboard can sign claude in (`login_shepherd.enabled`).
    pub sign_in_here: bool,
}

/// One row: the doctor's name, its verdict, the fix, whether it blocks Start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub name: &'static str,
    pub verdict: Verdict,
    pub fix: Option<String>,
    pub blocks_start: bool,
}

/// The pill's colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Ready,
    Warn,
    Blocked,
}

/// The readiness of the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assessment {
    pub items: Vec<Item>,
}

impl Assessment {
    pub fn failing(&self) -> usize {
        self.items
            .iter()
            .filter(|i| matches!(i.verdict, Verdict::Fail(_)))
            .count()
    }

    pub fn warnings(&self) -> usize {
        self.items
            .iter()
            .filter(|i| matches!(i.verdict, Verdict::Warn(_)))
            .count()
    }

    pub fn level(&self) -> Level {
        if self.failing() > 0 {
            Level::Blocked
        } else if self.warnings() > 0 {
            Level::Warn
        } else {
            Level::Ready
        }
    }

    /// Start's tooltip while it is disabled: the first blocking failure.
    pub fn start_blocked(&self) -> Option<String> {
        self.items
            .iter()
            .find(|i| i.blocks_start && matches!(i.verdict, Verdict::Fail(_)))
            .map(|i| i.verdict.detail().to_owned())
    }
}

const INSTALL: &str = "Install Claude Code for the service user (npm install -g \
                       @anthropic-ai/claude-code) or point claude.binary at it, then Re-check.";
const UPDATE: &str = "Update Claude Code (claude update, or npm install -g \
                      @anthropic-ai/claude-code@latest), then Re-check.";

/// Decides every row (ui.md §2.1).
pub fn assess(inputs: &Inputs<'_>) -> Assessment {
    let mut items = Vec::new();
    let claude_found = match inputs.claude {
        ClaudeBinary::Probing => {
            items.push(Item {
                name: "claude",
                verdict: Verdict::Ok("found; checking its version".to_owned()),
                fix: None,
                blocks_start: true,
            });
            true
        }
        ClaudeBinary::Missing(why) => {
            items.push(Item {
                name: "claude",
                verdict: Verdict::Fail(format!("claude not found: {why}")),
                fix: Some(INSTALL.to_owned()),
                blocks_start: true,
            });
            false
        }
        ClaudeBinary::Probed(version) => {
            let verdict = doctor::claude_version(version, inputs.min_version);
            let fix = match (&verdict, version) {
                (Verdict::Fail(_), Some(_)) => Some(UPDATE.to_owned()),
                (Verdict::Fail(_), None) => Some(INSTALL.to_owned()),
                _ => None,
            };
            items.push(Item {
                name: "claude",
                verdict,
                fix,
                blocks_start: true,
            });
            version.is_some()
        }
    };
    if claude_found {
        items.push(login_item(inputs));
    }
    items.push(disk_item(
        "projects_root",
        &inputs.projects_root,
        "Create the directory or point projects_root at one, then restart Clauster.",
    ));
    items.push(disk_item(
        "state_dir",
        &inputs.state_dir,
        "Make state_dir a directory the service user owns (mode 0700), then restart Clauster.",
    ));
    items.push(Item {
        name: "workspace-trust",
        fix: matches!(inputs.workspace_trust, Verdict::Warn(_))
            .then(|| "Trust a project from its card (or Trust all) before starting it.".to_owned()),
        verdict: inputs.workspace_trust.clone(),
        blocks_start: false,
    });
    if let Some(detail) = inputs.not_eligible {
        items.push(Item {
            name: "remote-control",
            verdict: Verdict::Warn(format!(
                "the last bridge was refused Remote Control: {detail}"
            )),
            fix: Some(
                "Remote Control needs a claude.ai subscription login (Pro or Max); API keys \
                 and setup-token tokens cannot run bridges. Sign claude in with a subscription \
                 account."
                    .to_owned(),
            ),
            blocks_start: false,
        });
    }
    Assessment { items }
}

/// `claude-login`: the doctor's verdict, except that a login that is missing or already
/// expired blocks (the doctor only warns: a server runs without one, bridges do not).
fn login_item(inputs: &Inputs<'_>) -> Item {
    let sign_in = if inputs.sign_in_here {
        "Sign in from this panel, or run claude auth login as the service user."
    } else {
        "Run claude auth login as the service user (or enable login_shepherd to sign in from \
         the dashboard)."
    };
    let Some(answer) = &inputs.login else {
        return Item {
            name: "claude-login",
            verdict: Verdict::Ok("not checked yet".to_owned()),
            fix: None,
            blocks_start: true,
        };
    };
    let expired = answer
        .expires_at_ms
        .is_some_and(|at| answer.logged_in && at <= inputs.now_ms);
    let verdict = if !answer.logged_in {
        Verdict::Fail("claude is not logged in".to_owned())
    } else if expired {
        Verdict::Fail("claude's login has expired".to_owned())
    } else {
        doctor::claude_login(Some(answer), inputs.now_ms)
    };
    let fix = (!matches!(verdict, Verdict::Ok(_))).then(|| sign_in.to_owned());
    Item {
        name: "claude-login",
        verdict,
        fix,
        blocks_start: true,
    }
}

fn disk_item(name: &'static str, verdict: &Verdict, fix: &str) -> Item {
    Item {
        name,
        fix: matches!(verdict, Verdict::Fail(_)).then(|| fix.to_owned()),
        verdict: verdict.clone(),
        blocks_start: matches!(verdict, Verdict::Fail(_)),
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    fn ready<'a>() -> Inputs<'a> {
        Inputs {
            claude: ClaudeBinary::Probed(Some("2.1.328")),
            min_version: "2.1.0",
            login: Some(LoginAnswer {
                logged_in: true,
                method: Some("claude.ai"),
                expires_at_ms: Some(NOW + 30 * 86_400_000),
            }),
            now_ms: NOW,
            projects_root: Verdict::Ok("/srv/projects (3 projects)".to_owned()),
            state_dir: Verdict::Ok("/var/lib/clauster (writable, 0700)".to_owned()),
            workspace_trust: Verdict::Ok("3/3 discovered projects trusted".to_owned()),
            not_eligible: None,
            sign_in_here: false,
        }
    }

    /// One line per case: level, counts, Start's tooltip, then each row.
    fn render(cases: &[(&str, Inputs<'_>)]) -> String {
        let mut out = String::new();
        for (label, inputs) in cases {
            let a = assess(inputs);
            let _ = writeln!(
                out,
                "## {label}: {:?}, {} failing, {} warnings, start blocked: {:?}",
                a.level(),
                a.failing(),
                a.warnings(),
                a.start_blocked()
            );
            for item in &a.items {
                let _ = writeln!(
                    out,
                    "  {} {:?}{}{}",
                    item.name,
                    item.verdict,
                    if item.blocks_start { " [blocks]" } else { "" },
                    item.fix
                        .as_deref()
                        .map(|f| format!("\n    fix: {f}"))
                        .unwrap_or_default()
                );
            }
        }
        out
    }

    #[test]
    fn the_pill_and_its_rows() {
        let logged_out = Some(LoginAnswer {
            logged_in: false,
            method: None,
            expires_at_ms: None,
        });
        let cases = vec![
            ("ready", ready()),
            (
                "no claude",
                Inputs {
                    claude: ClaudeBinary::Missing("claude is not on PATH"),
                    ..ready()
                },
            ),
            (
                "probing",
                Inputs {
                    claude: ClaudeBinary::Probing,
                    login: None,
                    ..ready()
                },
            ),
            (
                "too old",
                Inputs {
                    claude: ClaudeBinary::Probed(Some("2.0.1")),
                    ..ready()
                },
            ),
            (
                "version fails",
                Inputs {
                    claude: ClaudeBinary::Probed(None),
                    ..ready()
                },
            ),
            (
                "logged out, shepherd on",
                Inputs {
                    login: logged_out.clone(),
                    sign_in_here: true,
                    ..ready()
                },
            ),
            (
                "login expired",
                Inputs {
                    login: Some(LoginAnswer {
                        logged_in: true,
                        method: Some("claude.ai"),
                        expires_at_ms: Some(NOW - 1),
                    }),
                    ..ready()
                },
            ),
            (
                "login expires soon",
                Inputs {
                    login: Some(LoginAnswer {
                        logged_in: true,
                        method: Some("claude.ai"),
                        expires_at_ms: Some(NOW + 3_600_000),
                    }),
                    ..ready()
                },
            ),
            (
                "untrusted and not eligible",
                Inputs {
                    workspace_trust: Verdict::Warn("1/3 discovered projects trusted".to_owned()),
                    not_eligible: Some("Remote Control is not enabled for this account"),
                    ..ready()
                },
            ),
            (
                "disk problems",
                Inputs {
                    projects_root: Verdict::Fail(
                        "/srv/projects does not exist; create it".to_owned(),
                    ),
                    state_dir: Verdict::Fail("/var/lib/clauster is not writable".to_owned()),
                    login: logged_out,
                    ..ready()
                },
            ),
        ];
        insta::assert_snapshot!(render(&cases));
    }
}
