//! Per-project preflight (http-api.md §4) end to end: both routes, their refusals, the
//! `preflight` map of the `/ws/events` snapshot and the `project` frame a trust pushes.

use crate::support;

use std::path::Path;

use serde_json::{Value, json};
use support::{Sandbox, ServesApi, call, fake_claude, serve_fake, start_server};

async fn get(url: &str) -> (u16, Value) {
    call(reqwest::Method::GET, url, None).await
}

fn canonical_key(path: &Path) -> String {
    std::fs::canonicalize(path)
        .expect("canonical project path")
        .to_string_lossy()
        .into_owned()
}

/// `(name, status)` of each check.
fn statuses(report: &Value) -> Vec<(String, String)> {
    report["checks"]
        .as_array()
        .expect("a check list")
        .iter()
        .map(|c| {
            (
                c["name"].as_str().expect("name").to_owned(),
                c["status"].as_str().expect("status").to_owned(),
            )
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

/// Three projects: `alpha` trusted git with its MCP servers decided, `beta` untrusted plain
/// directory with one undecided server of two, `gamma` trusted without `.mcp.json`.
fn three_projects(sandbox: &Sandbox) {
    let alpha = sandbox.project("alpha", &[".git"]);
    let beta = sandbox.project("beta", &[]);
    let gamma = sandbox.project("gamma", &[".git"]);
    std::fs::write(
        alpha.join(".mcp.json"),
        r#"{"mcpServers": {"db": {"command": "db"}}}"#,
    )
    .expect("write alpha/.mcp.json");
    std::fs::write(
        beta.join(".mcp.json"),
        r#"{"mcpServers": {"search": {"command": "s"}, "files": {"command": "f"}}}"#,
    )
    .expect("write beta/.mcp.json");
    std::fs::create_dir_all(sandbox.home()).expect("HOME");
    let global = json!({"projects": {
        canonical_key(&alpha): {"hasTrustDialogAccepted": true, "enabledMcpjsonServers": ["db"]},
        canonical_key(&beta): {"disabledMcpjsonServers": ["files"]},
        canonical_key(&gamma): {"hasTrustDialogAccepted": true},
    }});
    std::fs::write(sandbox.home().join(".claude.json"), global.to_string())
        .expect("write .claude.json");
}

#[tokio::test]
async fn preflight_reports_trust_git_and_undecided_mcp_servers() {
    let sandbox = Sandbox::new();
    three_projects(&sandbox);
    let claude = fake_claude(&sandbox);
    let server = start_server(&sandbox, Some(&claude), &[], &[]);

    let (status, all) = get(&format!("{}/api/projects/preflight", server.base)).await;
    assert_eq!(status, 200, "{all}\n{}", server.log());
    let names: Vec<&String> = all.as_object().expect("a map").keys().collect();
    assert_eq!(names, ["alpha", "beta", "gamma"]);
    assert_eq!(all["alpha"]["ok"], true);
    assert_eq!(
        statuses(&all["alpha"]),
        pairs(&[("trust", "ok"), ("git", "ok"), ("mcp-approval", "ok")])
    );
    assert_eq!(all["beta"]["ok"], true, "warnings keep ok true");
    assert_eq!(
        statuses(&all["beta"]),
        pairs(&[("trust", "warn"), ("git", "warn"), ("mcp-approval", "warn")])
    );
    let detail = all["beta"]["checks"][2]["detail"].as_str().expect("detail");
    assert!(
        detail.starts_with("MCP servers not approved yet: search. Run `claude` once in"),
        "{detail}"
    );
    assert!(
        !detail.contains("files"),
        "a declined server is decided: {detail}"
    );
    // No .mcp.json, no mcp-approval check (1.3.2's shape, issue 18).
    assert_eq!(
        statuses(&all["gamma"]),
        pairs(&[("trust", "ok"), ("git", "ok")])
    );

    let (status, one) = get(&format!("{}/api/projects/beta/preflight", server.base)).await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["project"], "beta");
    assert_eq!(one["ok"], true);
    assert_eq!(one["checks"], all["beta"]["checks"]);

    // The v1-less COMPAT callers and the dashboard read the same report.
    let (status, alpha) = get(&format!("{}/api/projects/alpha/preflight", server.base)).await;
    assert_eq!(
        (status, alpha["checks"].clone()),
        (200, all["alpha"]["checks"].clone())
    );
}

#[tokio::test]
async fn preflight_refuses_invalid_and_unknown_names() {
    let sandbox = Sandbox::new();
    three_projects(&sandbox);
    let global_before = std::fs::read(sandbox.home().join(".claude.json")).expect("global");
    let claude = fake_claude(&sandbox);
    let server = start_server(&sandbox, Some(&claude), &[], &[]);

    let (status, body) = get(&format!("{}/api/projects/-rf/preflight", server.base)).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        body["detail"],
        "invalid project name: '-rf' (use 1–64 letters, digits, _ and -, not starting with -)"
    );
    let (status, body) = get(&format!("{}/api/projects/nope/preflight", server.base)).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["detail"], "project 'nope' not found");

    // Nothing changed: the global file and the listing are as before.
    assert_eq!(
        std::fs::read(sandbox.home().join(".claude.json")).expect("global"),
        global_before
    );
    let (_, all) = get(&format!("{}/api/projects/preflight", server.base)).await;
    assert_eq!(all.as_object().map(serde_json::Map::len), Some(3));
}

#[tokio::test]
async fn the_snapshot_carries_preflight_and_a_trust_pushes_the_new_report() {
    let sandbox = Sandbox::new();
    three_projects(&sandbox);
    let server = serve_fake(&sandbox, &[]);

    let (mut socket, snapshot) = support::open_events(&server).await;
    assert_eq!(
        statuses(&snapshot["preflight"]["beta"]),
        pairs(&[("trust", "warn"), ("git", "warn"), ("mcp-approval", "warn")])
    );
    assert_eq!(snapshot["preflight"]["alpha"]["ok"], true);

    let (status, trusted) = server.post_empty("/api/projects/beta/trust").await;
    assert_eq!(status, 200, "{trusted}");
    let frame = support::next_frame_of(&mut socket, &["project"]).await;
    assert_eq!(frame["project"]["name"], "beta");
    assert_eq!(frame["project"]["trust_state"], "trusted");
    assert_eq!(
        statuses(&frame["preflight"]),
        pairs(&[("trust", "ok"), ("git", "warn"), ("mcp-approval", "warn")])
    );
}
