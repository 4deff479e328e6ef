//! The readiness checks of one project (http-api.md §4 "preflight"): `trust`, `git` and
//! `mcp-approval`. Blocking and free of the server state: the `preflight` routes serve them
//! and the projects cache puts them into every `project` frame it publishes.

use std::collections::BTreeMap;
use std::path::Path;

use clauster_core::claude_json;
use clauster_wire::{Check, CheckReport, CheckStatus, Project, TrustState};
use serde_json::Value;

/// The checks of one project. `global` is Claude's global config file, parsed once by the
/// caller (`{}` when it is missing or unreadable: nothing was decided there). Blocking: it
/// reads the project's `.mcp.json`.
pub fn check_project(project: &Project, global: &Value) -> CheckReport {
    let path = Path::new(&project.path);
    let trust = ok_or_warn(
        "trust",
        project.trust_state == TrustState::Trusted,
        "Claude trusts this directory",
        "not trusted yet: Clauster asks at first launch (or use Trust this directory)",
    );
    let git = ok_or_warn(
        "git",
        project.is_git_repo,
        "a git repository",
        "not a git repository: the worktree spawn mode is unavailable",
    );
    let mut checks = vec![trust, git];
    checks.extend(mcp_approval(path, global));
    CheckReport::from_checks(checks)
}

/// The check `name`: ok with `ok_detail` when `ok`, else a warning with `warn_detail`.
fn ok_or_warn(name: &str, ok: bool, ok_detail: &str, warn_detail: &str) -> Check {
    if ok {
        Check::new(name, CheckStatus::Ok, ok_detail)
    } else {
        Check::new(name, CheckStatus::Warn, warn_detail)
    }
}

/// `mcp-approval`: the servers of `.mcp.json` the global file's project entry has not
/// decided. The entry is keyed by the directory Claude runs in, the symlink-resolved path.
/// Without a `.mcp.json` there is nothing to approve and no check, as in 1.3.2 (issue 18).
fn mcp_approval(path: &Path, global: &Value) -> Option<Check> {
    let text = match read_mcp_json(path) {
        Ok(Some(text)) => text,
        Ok(None) => return None,
        Err(detail) => return Some(Check::new("mcp-approval", CheckStatus::Warn, detail)),
    };
    let Ok(mcp) = serde_json::from_slice::<Value>(&text) else {
        return Some(Check::new(
            "mcp-approval",
            CheckStatus::Warn,
            ".mcp.json is not valid JSON; claude will report it when a session starts",
        ));
    };
    let key = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let undecided = claude_json::undecided_mcp_servers(&mcp, global, &key.to_string_lossy());
    Some(if undecided.is_empty() {
        Check::new(
            "mcp-approval",
            CheckStatus::Ok,
            "every MCP server of .mcp.json is approved or declined",
        )
    } else {
        Check::new(
            "mcp-approval",
            CheckStatus::Warn,
            format!(
                "MCP servers not approved yet: {}. Run `claude` once in {} and approve or decline them; an interactive session would stop at that prompt",
                undecided.join(", "),
                path.display()
            ),
        )
    })
}

/// The project's `.mcp.json` (issue 16 §2): `None` when there is none; the warning when it
/// resolves outside the project, is not a regular file or is over the 1 MiB cap — a cloned
/// repository may plant any of those, and none is read.
fn read_mcp_json(project: &Path) -> Result<Option<Vec<u8>>, String> {
    use crate::bounded_read::{JSON_FILE_CAP, Refused, read_regular};
    let path = project.join(".mcp.json");
    match std::fs::symlink_metadata(&path) {
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => {
            return Err(format!(
                "cannot read .mcp.json ({err}); check its permissions"
            ));
        }
        Ok(_) => {}
    }
    let outside =
        || ".mcp.json resolves outside the project directory; Clauster does not read it".to_owned();
    let project = std::fs::canonicalize(project).map_err(|_| outside())?;
    let target = std::fs::canonicalize(&path).map_err(|_| outside())?;
    if !target.starts_with(&project) {
        return Err(outside());
    }
    match read_regular(&target, JSON_FILE_CAP) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(Refused::Missing) => Ok(None),
        Err(Refused::NotRegular) => {
            Err(".mcp.json is not a regular file; Clauster does not read it".to_owned())
        }
        Err(Refused::TooLarge { size, cap }) => Err(format!(
            ".mcp.json is {size} bytes, over the {cap} byte cap; Clauster does not read it"
        )),
        Err(Refused::Io(err)) => Err(format!(
            "cannot read .mcp.json ({err}); check its permissions"
        )),
    }
}

/// Claude's global config as the checks read it: `{}` when missing or not an object.
pub fn read_global(file: &Path) -> Value {
    std::fs::read_to_string(file)
        .ok()
        .and_then(|text| claude_json::parse_config_text(&text).ok())
        .unwrap_or_else(|| Value::Object(serde_json::Map::new()))
}

/// The preflight of every project in `projects`, by name. Blocking.
pub fn check_all(global_file: &Path, projects: &[Project]) -> BTreeMap<String, CheckReport> {
    let global = read_global(global_file);
    projects
        .iter()
        .map(|p| (p.name.clone(), check_project(p, &global)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(path: &Path, trusted: bool, git: bool) -> Project {
        crate::test_fixtures::project("alpha", &path.to_string_lossy(), git, trusted)
    }

    fn statuses(report: &CheckReport) -> Vec<(String, CheckStatus)> {
        report
            .checks
            .iter()
            .map(|c| (c.name.clone(), c.status))
            .collect()
    }

    #[test]
    fn a_trusted_git_project_without_mcp_servers_passes_everything() {
        let dir = tempfile::tempdir().expect("temp dir");
        let report = check_project(&project(dir.path(), true, true), &Value::Null);
        assert!(report.ok);
        assert_eq!(report.warnings(), 0);
        assert_eq!(
            statuses(&report),
            [
                ("trust".to_owned(), CheckStatus::Ok),
                ("git".to_owned(), CheckStatus::Ok)
            ]
        );
    }

    #[test]
    fn undecided_servers_warn_and_name_the_servers() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(
            dir.path().join(".mcp.json"),
            r#"{"mcpServers": {"db": {}, "web": {}, "fs": {}}}"#,
        )
        .expect("write");
        let key = std::fs::canonicalize(dir.path()).expect("canonical");
        let global = serde_json::json!({"projects": {key.to_string_lossy(): {
            "enabledMcpjsonServers": ["web"], "disabledMcpjsonServers": ["fs"]}}});
        let report = check_project(&project(dir.path(), false, false), &global);
        assert!(report.ok, "warnings keep the verdict ok");
        assert_eq!(report.warnings(), 3);
        let mcp = &report.checks[2];
        assert!(
            mcp.detail
                .starts_with("MCP servers not approved yet: db. Run `claude` once in"),
            "{}",
            mcp.detail
        );
        let global = serde_json::json!({"projects": {key.to_string_lossy(): {
            "enableAllProjectMcpServers": true}}});
        let report = check_project(&project(dir.path(), true, true), &global);
        assert_eq!(report.warnings(), 0);
    }

    #[test]
    fn a_broken_mcp_file_warns_without_failing() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join(".mcp.json"), "{not json").expect("write");
        let report = check_project(&project(dir.path(), true, true), &Value::Null);
        assert!(report.ok);
        assert_eq!(report.checks[2].status, CheckStatus::Warn);
        assert!(report.checks[2].detail.contains("not valid JSON"));
    }
}
