//! The CLAUDE.md editor through the real server (data.md §2, security.md §12 #28–#34): reads,
//! writes with the lost-update guard, every refusal with its status and text leaving the file
//! and the audit log unchanged, the audit lines, and concurrent writers.

use crate::support;

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use support::{
    Sandbox, call, over_control_socket, serve_fake, sha256_hex, start_server, trusted_project,
};

fn audit_log(sandbox: &Sandbox) -> PathBuf {
    sandbox.state_dir().join("config_audit.log")
}

/// The bytes of a file, `None` when missing (a symlink is read through).
fn bytes(path: &Path) -> Option<Vec<u8>> {
    std::fs::read(path).ok()
}

struct Editor {
    url: String,
}

impl Editor {
    fn new(server: &support::Server, project: &str) -> Self {
        Self {
            url: format!("{}/api/projects/{project}/claude-md", server.base),
        }
    }

    async fn get(&self) -> (u16, Value) {
        call(reqwest::Method::GET, &self.url, None).await
    }

    async fn put(&self, body: Value) -> (u16, Value) {
        call(reqwest::Method::PUT, &self.url, Some(body)).await
    }

    async fn put_raw(&self, body: Vec<u8>) -> (u16, Value) {
        let response = reqwest::Client::new()
            .put(&self.url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

#[tokio::test]
async fn create_update_and_the_audit_trail() {
    let (sandbox, alpha) = trusted_project("alpha", &[".git"]);
    let server = start_server(&sandbox, None, &[], &[]);
    let editor = Editor::new(&server, "alpha");

    let (status, doc) = editor.get().await;
    assert_eq!(status, 200);
    assert_eq!(
        doc,
        json!({"exists": false, "content": "", "sha256": null, "size": 0, "bridge_running": false})
    );

    // Create: CRLF and lone CR become LF.
    let (status, doc) = editor
        .put(json!({"content": "# Alpha\r\nline\rend\n"}))
        .await;
    assert_eq!(status, 200, "{doc}");
    let content = "# Alpha\nline\nend\n";
    let hash = sha256_hex(content.as_bytes());
    assert_eq!(
        doc,
        json!({"exists": true, "content": content, "sha256": hash, "size": content.len(),
               "bridge_running": false})
    );
    assert_eq!(
        std::fs::read_to_string(alpha.join("CLAUDE.md")).unwrap(),
        content
    );
    assert_eq!(editor.get().await.1, doc);

    // Update with the right base; an existing file keeps its mode.
    std::fs::set_permissions(
        alpha.join("CLAUDE.md"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    let (status, updated) = editor
        .put(json!({"content": "é updated\n", "base_sha256": hash}))
        .await;
    assert_eq!(status, 200, "{updated}");
    let new_hash = sha256_hex("é updated\n".as_bytes());
    assert_eq!(updated["sha256"], new_hash);
    assert_eq!(updated["size"], 11);
    let meta = std::fs::metadata(alpha.join("CLAUDE.md")).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o640);
    // No temp file is left behind.
    let leftovers: Vec<_> = std::fs::read_dir(&alpha)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty());

    // Without a base the write is last-write-wins.
    let (status, _) = editor.put(json!({"content": "overwrite\n"})).await;
    assert_eq!(status, 200);

    let log = std::fs::read_to_string(audit_log(&sandbox)).unwrap();
    let lines: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{log}");
    let target = std::fs::canonicalize(&alpha).unwrap().join("CLAUDE.md");
    let expect = |line: &Value, action: &str, size: usize, sha: &str| {
        assert_eq!(line["actor"], "admin");
        assert_eq!(line["surface"], "claude-md");
        assert_eq!(line["scope"], "project");
        assert_eq!(line["target"], target.to_string_lossy().as_ref());
        assert_eq!(line["action"], action);
        assert_eq!(line["size"], size);
        assert_eq!(line["sha256"], sha);
        let ts = line["ts"].as_str().unwrap();
        assert!(ts.ends_with('Z') && ts.len() == 24, "{ts}");
    };
    expect(&lines[0], "create", content.len(), &hash);
    expect(&lines[1], "update", 11, &new_hash);
    expect(&lines[2], "update", 10, &sha256_hex(b"overwrite\n"));
    let mode = std::fs::metadata(audit_log(&sandbox))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[tokio::test]
async fn every_bad_write_is_refused_and_changes_nothing() {
    let (sandbox, alpha) = trusted_project("alpha", &[]);
    std::fs::write(alpha.join("CLAUDE.md"), "original\n").unwrap();
    let server = start_server(&sandbox, None, &[], &[]);
    let editor = Editor::new(&server, "alpha");
    // One accepted write first, so the audit log exists and must stay the same.
    let (status, doc) = editor.put(json!({"content": "original\n"})).await;
    assert_eq!(status, 200, "{doc}");
    let file = alpha.join("CLAUDE.md");
    let before = (bytes(&file), bytes(&audit_log(&sandbox)));
    let hash = sha256_hex(b"original\n");

    let cases: Vec<(Value, u16, Value)> = vec![
        (
            json!([]),
            422,
            json!({"detail": "request body must be a JSON object"}),
        ),
        (
            json!("x"),
            422,
            json!({"detail": "request body must be a JSON object"}),
        ),
        (
            json!({"content": 5}),
            422,
            json!({"detail": "content must be a string", "field": "content"}),
        ),
        (
            json!({}),
            422,
            json!({"detail": "content must be a string", "field": "content"}),
        ),
        (
            json!({"content": "x", "base_sha256": 1}),
            422,
            json!({"detail": "base_sha256 must be a string", "field": "base_sha256"}),
        ),
        (
            json!({"content": "a\u{0}b"}),
            422,
            json!({"detail": "content must not contain NUL characters", "field": "content"}),
        ),
        (
            json!({"content": "x".repeat(65_537)}),
            413,
            json!({"detail": "CLAUDE.md is 65537 bytes, over the 65536 byte cap"}),
        ),
        // The cap counts bytes of UTF-8, not characters.
        (
            json!({"content": "é".repeat(32_769)}),
            413,
            json!({"detail": "CLAUDE.md is 65538 bytes, over the 65536 byte cap"}),
        ),
        (
            json!({"content": "stale", "base_sha256": sha256_hex(b"something else")}),
            409,
            json!({"detail": "CLAUDE.md changed on disk since it was loaded", "current_sha256": hash}),
        ),
        (
            json!({"content": "stale", "base_sha256": "not hex at all"}),
            409,
            json!({"detail": "CLAUDE.md changed on disk since it was loaded", "current_sha256": hash}),
        ),
    ];
    for (body, status, answer) in cases {
        let (got, detail) = editor.put(body.clone()).await;
        let shown = body.to_string().chars().take(80).collect::<String>();
        assert_eq!((got, &detail), (status, &answer), "{shown}");
        assert_eq!(
            (bytes(&file), bytes(&audit_log(&sandbox))),
            before,
            "{shown}"
        );
    }

    // Not JSON at all, and a body over the 512 KiB request limit.
    let (status, detail) = editor.put_raw(b"{nope".to_vec()).await;
    assert_eq!(
        (status, detail["detail"].as_str()),
        (422, Some("request body must be a JSON object"))
    );
    let huge = serde_json::to_vec(&json!({"content": "x".repeat(600 << 10)})).unwrap();
    let (status, detail) = editor.put_raw(huge).await;
    assert_eq!(
        (status, detail["detail"].as_str()),
        (413, Some("request body too large"))
    );
    assert_eq!((bytes(&file), bytes(&audit_log(&sandbox))), before);

    // Exactly at the cap is accepted, and the cap applies after CRLF became LF.
    let (status, doc) = editor.put(json!({"content": "x".repeat(65_536)})).await;
    assert_eq!((status, doc["size"].clone()), (200, json!(65_536)));
    let (status, doc) = editor.put(json!({"content": "\r\n".repeat(40_000)})).await;
    assert_eq!((status, doc["size"].clone()), (200, json!(40_000)));
}

#[tokio::test]
async fn untrusted_unknown_and_invalid_projects_are_refused() {
    let sandbox = Sandbox::new();
    let untrusted = sandbox.project("beta", &[]);
    std::fs::write(untrusted.join("CLAUDE.md"), "beta\n").unwrap();
    let server = start_server(&sandbox, None, &[], &[]);

    // Untrusted project: 403 naming the directory, file unchanged.
    let beta_before = bytes(&untrusted.join("CLAUDE.md"));
    let (status, detail) = Editor::new(&server, "beta")
        .put(json!({"content": "pwned"}))
        .await;
    let canonical = std::fs::canonicalize(&untrusted).unwrap();
    assert_eq!(
        (status, detail["detail"].as_str().unwrap()),
        (
            403,
            format!("{} is not a trusted directory", canonical.display()).as_str()
        )
    );
    assert_eq!(bytes(&untrusted.join("CLAUDE.md")), beta_before);
    assert!(!audit_log(&sandbox).exists());

    // Unknown and invalid names: 404.
    for name in ["nope", "..%2Fetc", "-rf"] {
        let (status, detail) = Editor::new(&server, name)
            .put(json!({"content": "x"}))
            .await;
        assert_eq!(status, 404, "{name}: {detail}");
        let (status, _) = Editor::new(&server, name).get().await;
        assert_eq!(status, 404, "{name}");
    }
    assert_eq!(
        Editor::new(&server, "nope").get().await.1["detail"],
        "project 'nope' not found"
    );
    assert!(!audit_log(&sandbox).exists());
}

#[tokio::test]
async fn a_base_hash_conflicts_with_a_missing_file() {
    let (sandbox, alpha) = trusted_project("alpha", &[]);
    let server = start_server(&sandbox, None, &[], &[]);
    let (status, body) = Editor::new(&server, "alpha")
        .put(json!({"content": "x", "base_sha256": sha256_hex(b"")}))
        .await;
    assert_eq!(
        (status, body),
        (
            409,
            json!({"detail": "CLAUDE.md changed on disk since it was loaded", "current_sha256": null})
        )
    );
    assert!(!alpha.join("CLAUDE.md").exists());
    assert!(!audit_log(&sandbox).exists());
}

/// A `null` base is the GET's `sha256` of a missing file: it creates the file, and conflicts
/// once someone else has (release review 10: two `null` saves both landed).
#[tokio::test]
async fn a_null_base_means_no_file_and_conflicts_with_one() {
    let (sandbox, alpha) = trusted_project("alpha", &[]);
    let server = start_server(&sandbox, None, &[], &[]);
    let editor = Editor::new(&server, "alpha");
    let (status, loaded) = editor.get().await;
    assert_eq!((status, &loaded["sha256"]), (200, &Value::Null), "{loaded}");
    let first = editor
        .put(json!({"content": "# A\n", "base_sha256": null}))
        .await;
    assert_eq!(first.0, 200, "{}", first.1);
    let (status, body) = editor
        .put(json!({"content": "# B\n", "base_sha256": null}))
        .await;
    assert_eq!(
        (status, body),
        (
            409,
            json!({
                "detail": "CLAUDE.md changed on disk since it was loaded",
                "current_sha256": sha256_hex(b"# A\n")
            })
        )
    );
    assert_eq!(bytes(&alpha.join("CLAUDE.md")).unwrap(), b"# A\n");
    // Without a base the write is last-write-wins, as before.
    let (status, _) = editor.put(json!({"content": "# C\n"})).await;
    assert_eq!(status, 200);
    assert_eq!(bytes(&alpha.join("CLAUDE.md")).unwrap(), b"# C\n");
}

#[tokio::test]
async fn hostile_paths_are_refused_on_read_and_write() {
    let sandbox = Sandbox::new();
    let outside = sandbox.dir.path().join("outside.txt");
    std::fs::write(&outside, "secret\n").unwrap();
    let linked = sandbox.project("linked", &[]);
    std::os::unix::fs::symlink(&outside, linked.join("CLAUDE.md")).unwrap();
    // A link that climbs out and back in under another name is still not `CLAUDE.md`.
    let renamed = sandbox.project("renamed", &[]);
    std::fs::write(renamed.join("notes.md"), "notes\n").unwrap();
    std::os::unix::fs::symlink("../renamed/notes.md", renamed.join("CLAUDE.md")).unwrap();
    let dangling = sandbox.project("dangling", &[]);
    std::os::unix::fs::symlink("/nonexistent/dir/CLAUDE.md", dangling.join("CLAUDE.md")).unwrap();
    let directory = sandbox.project("directory", &[]);
    std::fs::create_dir(directory.join("CLAUDE.md")).unwrap();
    let latin1 = sandbox.project("latin1", &[]);
    std::fs::write(latin1.join("CLAUDE.md"), b"caf\xe9\n").unwrap();
    sandbox_trust_all(
        &sandbox,
        &[&linked, &renamed, &dangling, &directory, &latin1],
    );
    let server = start_server(&sandbox, None, &[], &[]);

    let outside_msg = "CLAUDE.md resolves outside the project directory";
    for (name, detail) in [
        ("linked", outside_msg),
        ("renamed", outside_msg),
        ("dangling", outside_msg),
        ("directory", "CLAUDE.md is not a regular file"),
    ] {
        let editor = Editor::new(&server, name);
        let (status, body) = editor.get().await;
        assert_eq!(
            (status, body["detail"].as_str()),
            (422, Some(detail)),
            "GET {name}"
        );
        let (status, body) = editor.put(json!({"content": "pwned\n"})).await;
        assert_eq!(
            (status, body["detail"].as_str()),
            (422, Some(detail)),
            "PUT {name}"
        );
    }
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "secret\n");
    assert_eq!(
        std::fs::read_to_string(renamed.join("notes.md")).unwrap(),
        "notes\n"
    );
    assert!(
        std::fs::symlink_metadata(linked.join("CLAUDE.md"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(!Path::new("/nonexistent/dir/CLAUDE.md").exists());
    assert!(!audit_log(&sandbox).exists());

    let (status, body) = Editor::new(&server, "latin1").get().await;
    assert_eq!(
        (status, body["detail"].as_str()),
        (422, Some("CLAUDE.md is not valid UTF-8"))
    );
    assert_eq!(
        std::fs::read(latin1.join("CLAUDE.md")).unwrap(),
        b"caf\xe9\n"
    );
}

/// Trusts several directories in one global file (the sandbox helper writes one).
fn sandbox_trust_all(sandbox: &Sandbox, paths: &[&PathBuf]) {
    std::fs::create_dir_all(sandbox.home()).unwrap();
    let mut projects = serde_json::Map::new();
    for path in paths {
        let key = std::fs::canonicalize(path)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        projects.insert(key, json!({"hasTrustDialogAccepted": true}));
    }
    std::fs::write(
        sandbox.home().join(".claude.json"),
        json!({ "projects": projects }).to_string(),
    )
    .unwrap();
}

#[tokio::test]
async fn concurrent_writers_from_the_same_base_lose_cleanly() {
    let (sandbox, alpha) = trusted_project("alpha", &[]);
    std::fs::write(alpha.join("CLAUDE.md"), "base\n").unwrap();
    let server = start_server(&sandbox, None, &[], &[]);
    let base = sha256_hex(b"base\n");

    let writers = (0..8).map(|n| {
        let url = format!("{}/api/projects/alpha/claude-md", server.base);
        let base = base.clone();
        tokio::spawn(async move {
            let content = format!("writer {n}\n");
            let (status, body) = call(
                reqwest::Method::PUT,
                &url,
                Some(json!({"content": content, "base_sha256": base})),
            )
            .await;
            (status, body, content)
        })
    });
    let mut results = Vec::new();
    for writer in writers {
        results.push(writer.await.unwrap());
    }
    let winners: Vec<_> = results.iter().filter(|(s, _, _)| *s == 200).collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    let (_, _, won) = winners[0];
    let won_hash = sha256_hex(won.as_bytes());
    for (status, body, _) in results.iter().filter(|(s, _, _)| *s != 200) {
        assert_eq!(*status, 409, "{body}");
        assert_eq!(body["current_sha256"], won_hash.as_str());
    }
    assert_eq!(
        std::fs::read_to_string(alpha.join("CLAUDE.md")).unwrap(),
        *won
    );
    let log = std::fs::read_to_string(audit_log(&sandbox)).unwrap();
    assert_eq!(log.lines().count(), 1, "{log}");
}

#[tokio::test]
async fn a_write_pushes_the_project_card() {
    use futures_util::StreamExt as _;
    use tokio_tungstenite::tungstenite::Message;
    let (sandbox, _) = trusted_project("alpha", &[]);
    let server = start_server(&sandbox, None, &[], &[]);
    // Subscribed once its snapshot came (the server subscribes after the handshake).
    let (mut socket, _) = support::open_events(&server).await;
    let (status, _) = Editor::new(&server, "alpha")
        .put(json!({"content": "# new\n"}))
        .await;
    assert_eq!(status, 200);
    let card = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        while let Some(Ok(message)) = socket.next().await {
            if let Message::Text(text) = message {
                let frame: Value = serde_json::from_str(&text).unwrap();
                if frame["type"] == "project" {
                    return frame;
                }
            }
        }
        panic!("the socket closed");
    })
    .await
    .expect("a project frame within 20 s");
    assert_eq!(card["project"]["name"], "alpha");
    assert_eq!(card["project"]["has_claude_md"], true);
}

#[tokio::test]
async fn a_running_bridge_is_reported() {
    let (sandbox, _) = trusted_project("alpha", &[".git", "CLAUDE.md"]);
    let server = serve_fake(&sandbox, &[]);
    let editor = Editor::new(&server, "alpha");
    assert_eq!(editor.get().await.1["bridge_running"], false);
    let (_, started) = server.start_bridge("alpha").await;
    assert_eq!(started["status"], "running", "{started}");
    let (status, doc) = editor.get().await;
    assert_eq!(
        (status, doc["bridge_running"].clone()),
        (200, json!(true)),
        "{doc}"
    );
    assert_eq!(doc["content"], "# notes\n");
    let (status, doc) = editor
        .put(json!({"content": "new\n", "base_sha256": sha256_hex(b"# notes\n")}))
        .await;
    assert_eq!(
        (status, doc["bridge_running"].clone()),
        (200, json!(true)),
        "{doc}"
    );
}

#[tokio::test]
async fn a_write_over_the_control_socket_is_audited_as_cli() {
    let (sandbox, _) = trusted_project("alpha", &[]);
    let _server = start_server(&sandbox, None, &[], &[]);
    let socket = sandbox.state_dir().join("control.sock");
    let body = json!({"content": "from the cli\n"}).to_string();
    let (status, answer) = tokio::task::spawn_blocking(move || {
        over_control_socket(&socket, "PUT", "/api/projects/alpha/claude-md", &body)
    })
    .await
    .unwrap();
    assert_eq!(status, 200, "{answer}");
    let log = std::fs::read_to_string(audit_log(&sandbox)).unwrap();
    let line: Value = serde_json::from_str(log.trim()).unwrap();
    assert_eq!(
        (line["actor"].as_str(), line["action"].as_str()),
        (Some("cli"), Some("create"))
    );
}
