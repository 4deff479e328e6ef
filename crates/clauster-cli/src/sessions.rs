//! `clauster sessions [--json]` (cli.md §3): the Claude Code sessions on this machine and
//! whose they are — from the running server's last `claude agents --json` poll, or from one
//! run of it by the engine this command starts when no server answers (cli.md §2).
#![allow(clippy::print_stdout)] // the table is this command's output

use std::path::Path;
use std::process::ExitCode;

use clauster_wire::WorkingSession;

use crate::commands::table;
use crate::commands::{id8, list, target};

pub fn sessions(config_path: Option<&Path>, json: bool) -> ExitCode {
    let target = match target(config_path) {
        Ok(target) => target,
        Err(code) => return code,
    };
    // Without a server nothing kept a poll: the command's own engine runs one now.
    let path = if target.runs_engine_here() {
        "/api/sessions/all?poll=1"
    } else {
        "/api/sessions/all"
    };
    list(&target, path, json, "No sessions.", render)
}

/// `SESSION  KIND  STATE  PID  CWD  ATTRIBUTION`; an empty kind or state shows as `-`.
fn render(sessions: &[WorkingSession]) -> String {
    let dash = |s: &str| {
        if s.is_empty() {
            "-".to_owned()
        } else {
            s.to_owned()
        }
    };
    let mut rows = vec![
        ["SESSION", "KIND", "STATE", "PID", "CWD", "ATTRIBUTION"]
            .map(String::from)
            .to_vec(),
    ];
    for s in sessions {
        let attribution = match &s.parent_instance {
            Some(parent) => format!("{} ({})", s.attribution, id8(parent)),
            None => s.attribution.clone(),
        };
        rows.push(vec![
            dash(id8(&s.local_uuid)),
            dash(&s.kind),
            dash(&s.state),
            s.pid.to_string(),
            s.cwd.clone(),
            attribution,
        ]);
    }
    table(&rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_names_the_session_by_its_first_eight_characters() {
        let session =
            |uuid: &str, kind: &str, attribution: &str, parent: Option<&str>| WorkingSession {
                pid: 4242,
                cwd: "/srv/projects/alpha".into(),
                kind: kind.into(),
                state: if kind.is_empty() {
                    String::new()
                } else {
                    "running".into()
                },
                started_at: 1_700_000_000_000,
                local_uuid: uuid.into(),
                parent_instance: parent.map(str::to_owned),
                attribution: attribution.into(),
            };
        insta::assert_snapshot!(render(&[
            session(
                "0b7e5a52-8f7c-4f7e-9d1e-4c1d2b3a4f5e",
                "interactive",
                "tracked",
                Some("5f0c2d1e-aaaa-bbbb-cccc-000000000000")
            ),
            session("1c8f6b63-0000-4000-8000-000000000000", "", "external", None),
            session(
                "2d906c74-0000-4000-8000-000000000000",
                "background",
                "untracked",
                None
            ),
        ]));
    }
}
