//! Project trust, the instance QR code, the widget summary and the login status end to end:
//! `clauster run` as a process, a temp HOME holding Claude's global file, the fake `claude`.

use crate::support;

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use support::{Sandbox, call, serve_fake};

fn global_file(sandbox: &Sandbox) -> PathBuf {
    sandbox.home().join(".claude.json")
}

fn write_global(sandbox: &Sandbox, bytes: &[u8]) {
    std::fs::create_dir_all(sandbox.home()).expect("create HOME");
    std::fs::write(global_file(sandbox), bytes).expect("write .claude.json");
}

fn canonical_key(path: &Path) -> String {
    std::fs::canonicalize(path)
        .expect("canonical project path")
        .to_string_lossy()
        .into_owned()
}

async fn post(url: &str) -> (u16, Value) {
    call(reqwest::Method::POST, url, None).await
}

async fn get(url: &str) -> (u16, Value) {
    call(reqwest::Method::GET, url, None).await
}

fn trust_state<'a>(projects: &'a Value, name: &str) -> &'a Value {
    &projects
        .as_array()
        .expect("a project list")
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("{name} listed in {projects}"))["trust_state"]
}

#[tokio::test]
async fn trust_one_project_then_all_of_them() {
    let sandbox = Sandbox::new();
    let alpha = sandbox.project("alpha", &[".git"]);
    let beta = sandbox.project("beta", &[]);
    let gamma = sandbox.project("gamma", &["CLAUDE.md"]);
    write_global(
        &sandbox,
        br#"{"numStartups": 7, "oauthAccount": {"emailAddress": "op@example.com"}, "projects": {"/elsewhere": {"allowedTools": []}}}"#,
    );
    let server = serve_fake(&sandbox, &[]);
    let projects_url = format!("{}/api/projects", server.base);

    let (status, listed) = get(&projects_url).await;
    assert_eq!(status, 200);
    assert_eq!(trust_state(&listed, "alpha"), "untrusted");

    let (status, trusted) = post(&format!("{projects_url}/alpha/trust")).await;
    assert_eq!(status, 200, "{trusted}\n{}", server.log());
    assert_eq!(trusted["name"], "alpha");
    assert_eq!(trusted["trust_state"], "trusted");
    assert_eq!(trusted["is_git_repo"], true);

    let (_, listed) = get(&projects_url).await;
    assert_eq!(trust_state(&listed, "alpha"), "trusted");
    assert_eq!(trust_state(&listed, "beta"), "untrusted");
    assert_eq!(trust_state(&listed, "gamma"), "untrusted");

    let global: Value =
        serde_json::from_slice(&std::fs::read(global_file(&sandbox)).unwrap()).unwrap();
    assert_eq!(global["numStartups"], 7, "other keys are kept: {global}");
    assert_eq!(global["oauthAccount"]["emailAddress"], "op@example.com");
    assert_eq!(
        global["projects"]["/elsewhere"],
        json!({"allowedTools": []})
    );
    assert_eq!(
        global["projects"][canonical_key(&alpha).as_str()],
        json!({"hasTrustDialogAccepted": true})
    );
    assert!(global["projects"].get(canonical_key(&beta)).is_none());

    for name in ["nope", "-flag", "a.b"] {
        let (status, body) = post(&format!("{projects_url}/{name}/trust")).await;
        assert_eq!(
            (status, body),
            (
                404,
                json!({"detail": format!("project '{name}' not found")})
            ),
            "for {name}"
        );
    }

    let (status, all) = post(&format!("{projects_url}/trust-all")).await;
    assert_eq!(status, 200, "{all}");
    let names = support::texts_of(&all, "name");
    assert_eq!(names, ["alpha", "beta", "gamma"]);
    for name in names {
        assert_eq!(trust_state(&all, name), "trusted");
    }
    let global: Value =
        serde_json::from_slice(&std::fs::read(global_file(&sandbox)).unwrap()).unwrap();
    assert_eq!(global["numStartups"], 7);
    for path in [&alpha, &beta, &gamma] {
        assert_eq!(
            global["projects"][canonical_key(path).as_str()]["hasTrustDialogAccepted"],
            true,
            "{global}"
        );
    }
    let (_, listed) = get(&projects_url).await;
    assert_eq!(listed, all);
}

#[tokio::test]
async fn an_unparseable_global_file_is_refused_and_left_unchanged() {
    let sandbox = Sandbox::new();
    sandbox.project("alpha", &[]);
    let original = b"{\"projects\": {\"/x\": \n";
    write_global(&sandbox, original);
    let server = serve_fake(&sandbox, &[]);
    let expected = json!({
        "detail": format!(
            "could not update trust state: cannot update {}: it is not a valid JSON object; \
             Clauster did not change it",
            global_file(&sandbox).display()
        )
    });

    let (status, body) = post(&format!("{}/api/projects/alpha/trust", server.base)).await;
    assert_eq!((status, &body), (409, &expected), "{}", server.log());
    let (status, body) = post(&format!("{}/api/projects/trust-all", server.base)).await;
    assert_eq!((status, &body), (409, &expected));
    assert_eq!(
        std::fs::read(global_file(&sandbox)).unwrap(),
        original,
        "the file is byte-identical"
    );
    let (_, listed) = get(&format!("{}/api/projects", server.base)).await;
    assert_eq!(trust_state(&listed, "alpha"), "untrusted");
}

#[tokio::test]
async fn widget_counts_and_qr_codes() {
    let sandbox = Sandbox::new();
    let alpha = sandbox.project("alpha", &[".git"]);
    let crashy = sandbox.project("crashy", &[]);
    std::fs::write(
        crashy.join(".fake-claude.json"),
        json!({"mode": "crash"}).to_string(),
    )
    .unwrap();
    let server = serve_fake(&sandbox, &[]);
    let base = &server.base;
    let (status, _) = post(&format!("{base}/api/projects/trust-all")).await;
    assert_eq!(status, 200);

    let (status, widget) = get(&format!("{base}/api/widget")).await;
    assert_eq!(status, 200, "{}", server.log());
    assert_eq!(
        widget,
        json!({
            "projects_total": 2,
            "bridges": {"starting": 0, "running": 0, "stopped": 0, "crashed": 0, "error": 0},
            "running_total": 0,
            "version": env!("CARGO_PKG_VERSION"),
        })
    );

    let instances = format!("{base}/api/instances");
    let (status, started) = server.start_bridge("alpha").await;
    assert_eq!(status, 201, "{started}\n{}", server.log());
    assert_eq!(started["status"], "running", "{started}");
    let (status, crashed) = call(
        reqwest::Method::POST,
        &instances,
        Some(json!({"project": "crashy"})),
    )
    .await;
    assert_eq!(status, 201, "{crashed}\n{}", server.log());
    assert_eq!(crashed["alive"], false, "{crashed}");
    assert_eq!(crashed["url"], Value::Null);
    assert_eq!(crashed["session_url"], Value::Null);

    let (status, widget) = get(&format!("{base}/api/widget")).await;
    assert_eq!(status, 200);
    assert_eq!(widget["projects_total"], 2);
    assert_eq!(widget["bridges"]["running"], 1, "{widget}");
    assert_eq!(widget["running_total"], 1);
    let bridges = widget["bridges"].as_object().expect("an object");
    let mut keys: Vec<&str> = bridges.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["crashed", "error", "running", "starting", "stopped"]);
    let total: u64 = bridges.values().map(|v| v.as_u64().unwrap()).sum();
    assert_eq!(total, 2, "{widget}");

    // The running bridge's link as an SVG.
    let response = reqwest::get(format!("{instances}/alpha/qr")).await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.headers()[reqwest::header::CONTENT_TYPE],
        "image/svg+xml"
    );
    let svg = response.text().await.unwrap();
    assert!(svg.contains("<svg"), "{svg}");
    assert!(svg.trim_end().ends_with("</svg>"), "{svg}");

    let (status, body) = get(&format!("{instances}/crashy/qr")).await;
    assert_eq!(
        (status, body),
        (409, json!({"detail": "no session URL available yet"}))
    );
    let (status, body) = get(&format!("{instances}/zzz/qr")).await;
    assert_eq!(
        (status, body),
        (404, json!({"detail": "no such instance: zzz"}))
    );

    // Leave no bridge behind: it would outlive the server.
    let (status, stopped) =
        call(reqwest::Method::DELETE, &format!("{instances}/alpha"), None).await;
    assert_eq!((status, &stopped["status"]), (200, &json!("stopped")));
    assert!(alpha.exists());
}

#[tokio::test]
async fn login_status_has_its_three_keys() {
    let sandbox = Sandbox::new();
    sandbox.project("alpha", &[]);
    let server = serve_fake(&sandbox, &[]);
    let base = &server.base;
    let (status, login) = get(&format!("{base}/api/login-status")).await;
    assert_eq!(status, 200);
    let login = login.as_object().expect("an object");
    let mut keys: Vec<&str> = login.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "claude_login_expires_at",
            "claude_login_method",
            "claude_login_ok"
        ]
    );
    assert!(login["claude_login_ok"].is_boolean());
    assert!(login["claude_login_method"].is_null() || login["claude_login_method"].is_string());
    assert!(
        login["claude_login_expires_at"].is_null() || login["claude_login_expires_at"].is_i64()
    );
}
