//! Claude Code's configuration from the dashboard through the real server (config-write.md):
//! the 404 gates, each surface's read and write keeping what it does not own, masking and
//! reveal, the effective view, subagents and skills, malformed files shown read-only and never
//! overwritten, symlinks leaving the project, the step-up, and `~/.claude.json`'s lock.

use crate::support;

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use support::{Sandbox, Server, call, sha256_hex, start_server};

const ON: &[(&str, &str)] = &[("CLAUSTER_CONFIG_WRITE_ENABLED", "true")];
const ON_WITH_USER: &[(&str, &str)] = &[
    ("CLAUSTER_CONFIG_WRITE_ENABLED", "true"),
    ("CLAUSTER_CONFIG_WRITE_ALLOW_USER_SCOPE", "true"),
];

struct Api<'a> {
    server: &'a Server,
}

impl Api<'_> {
    fn url(&self, path: &str) -> String {
        format!("{}/api/config-write/{path}", self.server.base)
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        call(reqwest::Method::GET, &self.url(path), None).await
    }

    async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        call(reqwest::Method::PUT, &self.url(path), Some(body)).await
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        call(reqwest::Method::POST, &self.url(path), Some(body)).await
    }

    async fn delete(&self, path: &str) -> (u16, Value) {
        call(reqwest::Method::DELETE, &self.url(path), None).await
    }
}

/// The project's `.gitignore`.
fn gitignore(project: &Path) -> String {
    std::fs::read_to_string(project.join(".gitignore")).expect("read .gitignore")
}

/// Asserts that alpha's MCP approvals list exactly the server `name`, with `approval`.
async fn assert_alpha_approvals(api: &Api<'_>, name: &str, approval: &str) {
    let (_, approvals) = api.get("mcp/approvals?project=alpha").await;
    assert_eq!(
        approvals["servers"],
        json!([{"name": name, "approval": approval}])
    );
}

fn trusted_alpha(sandbox: &Sandbox) -> PathBuf {
    let alpha = sandbox.project("alpha", &[".git"]);
    sandbox.trust(&alpha);
    alpha
}

fn audit_lines(sandbox: &Sandbox) -> Vec<Value> {
    std::fs::read_to_string(sandbox.state_dir().join("config_audit.log"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[tokio::test]
async fn the_surface_is_invisible_until_enabled_and_the_user_scope_needs_its_own_opt_in() {
    let sandbox = Sandbox::new();
    trusted_alpha(&sandbox);
    let off = start_server(&sandbox, None, &[], &[]);
    let api = Api { server: &off };
    for path in [
        "status",
        "settings?project=alpha",
        "settings?scope=bogus",
        "permissions?project=alpha",
        "hooks?project=alpha",
        "mcp?project=alpha",
        "mcp/approvals?project=alpha",
        "settings/effective?project=alpha",
        "subagents?project=alpha",
        "skills?project=alpha",
        "claude-md?project=alpha",
    ] {
        let (status, body) = api.get(path).await;
        assert_eq!(
            (status, &body["detail"]),
            (404, &json!("config-write is disabled")),
            "{path}"
        );
    }
    let (status, body) = api
        .put(
            "permissions",
            json!({"project": "alpha", "confirm": "alpha", "permissions": {}}),
        )
        .await;
    assert_eq!(
        (status, &body["detail"]),
        (404, &json!("config-write is disabled"))
    );
    drop(off);

    let on = start_server(&sandbox, None, &[], ON);
    let api = Api { server: &on };
    assert_eq!(
        api.get("status").await,
        (200, json!({"enabled": true, "allow_user_scope": false}))
    );
    let (status, body) = api.get("settings?scope=user").await;
    assert_eq!(
        (status, &body["detail"]),
        (404, &json!("config-write user scope is disabled"))
    );
    let (status, _) = api.get("settings?project=alpha").await;
    assert_eq!(status, 200);
    // Plugins and marketplaces are not served.
    assert_eq!(api.get("plugins").await.0, 404);
    assert_eq!(api.get("marketplaces").await.0, 404);
}

#[tokio::test]
#[allow(clippy::too_many_lines)] // one file edited through three surfaces, step by step
async fn settings_permissions_and_hooks_keep_what_they_do_not_own() {
    let sandbox = Sandbox::new();
    let alpha = trusted_alpha(&sandbox);
    let file = alpha.join(".claude/settings.json");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(
        &file,
        r#"{"model": "opus", "env": {"GITHUB_TOKEN": "ghp_secret", "NODE_ENV": "dev"},
  "permissions": {"allow": ["Read"], "additionalDirectories": ["../shared"]},
  "futureKey": {"nested": [1, 2]}}"#,
    )
    .unwrap();
    let server = start_server(&sandbox, None, &[], ON);
    let api = Api { server: &server };

    let (status, read) = api.get("settings?project=alpha").await;
    assert_eq!(status, 200, "{read}");
    let on_disk = std::fs::read(&file).unwrap();
    assert_eq!(read["hash"], sha256_hex(&on_disk));
    assert_eq!(
        read["settings"],
        json!({"model": "opus", "env": {"GITHUB_TOKEN": "********", "NODE_ENV": "dev"},
               "futureKey": {"nested": [1, 2]}})
    );
    assert_eq!(read["masked"], json!(["env.GITHUB_TOKEN"]));

    // Every write asks for the typed project name.
    let mut settings = read["settings"].clone();
    settings["model"] = json!("sonnet");
    settings["env"]["DEBUG"] = json!("1");
    let body = json!({"project": "alpha", "settings": settings, "hash": read["hash"]});
    let (status, refused) = api.put("settings", body.clone()).await;
    assert_eq!(status, 400);
    assert_eq!(refused["detail"], "confirmation text must be 'alpha'");
    let mut confirmed = body.clone();
    confirmed["confirm"] = json!("alpha");
    let (status, written) = api.put("settings", confirmed.clone()).await;
    assert_eq!(status, 200, "{written}");
    let after = read_json(&file);
    assert_eq!(
        after["env"]["GITHUB_TOKEN"], "ghp_secret",
        "the mask kept the secret"
    );
    assert_eq!(after["env"]["DEBUG"], "1");
    assert_eq!(after["model"], "sonnet");
    assert_eq!(after["futureKey"], json!({"nested": [1, 2]}));
    assert_eq!(after["permissions"]["allow"], json!(["Read"]));
    assert_eq!(written["hash"], sha256_hex(std::fs::read(&file).unwrap()));

    // The old hash is stale now: 409, nothing written.
    let before = std::fs::read(&file).unwrap();
    let (status, stale) = api.put("settings", confirmed).await;
    assert_eq!(status, 409, "{stale}");
    assert!(
        stale["detail"].as_str().unwrap().ends_with(
            "changed on disk since it was loaded; reload it, or overwrite with the new hash"
        ),
        "{stale}"
    );
    assert_eq!(std::fs::read(&file).unwrap(), before);

    // Permissions: a rule added, the directory list kept.
    let (_, perms) = api.get("permissions?project=alpha").await;
    assert_eq!(
        perms["permissions"],
        json!({"allow": ["Read"], "additionalDirectories": ["../shared"]})
    );
    let (status, answer) = api
        .put(
            "permissions",
            json!({"project": "alpha", "confirm": "alpha", "hash": perms["hash"],
                   "permissions": {"allow": ["Read", "Bash(npm test:*)"], "deny": ["Bash(rm:*)"]}}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let after = read_json(&file);
    assert_eq!(
        after["permissions"],
        json!({"allow": ["Read", "Bash(npm test:*)"], "additionalDirectories": ["../shared"],
               "deny": ["Bash(rm:*)"]})
    );

    // Hooks in the Local scope: its own file and its own confirmation.
    let hooks = json!({"PreToolUse": [{"matcher": "Bash",
        "hooks": [{"type": "command", "command": "./guard.sh"}]}]});
    let (status, refused) = api
        .put(
            "hooks",
            json!({"scope": "local", "project": "alpha", "confirm": "alpha", "hooks": hooks}),
        )
        .await;
    assert_eq!(
        (status, &refused["detail"]),
        (400, &json!("confirmation text must be 'alpha (local)'"))
    );
    let (status, answer) = api
        .put(
            "hooks",
            json!({"scope": "local", "project": "alpha", "confirm": "alpha (local)", "hooks": hooks}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let local = read_json(&alpha.join(".claude/settings.local.json"));
    assert_eq!(local, json!({"hooks": hooks}));
    assert_eq!(
        api.get("hooks?scope=local&project=alpha").await.1["hooks"],
        hooks
    );

    // Revealing the secret is its own confirmed action.
    let (status, shown) = api
        .post(
            "settings/reveal",
            json!({"project": "alpha", "confirm": "alpha", "key": "GITHUB_TOKEN"}),
        )
        .await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["value"], "ghp_secret");

    // The audit log names surfaces and keys, never values.
    let lines = audit_lines(&sandbox);
    let summary: Vec<(String, String, String)> = lines
        .iter()
        .map(|l| {
            (
                l["surface"].as_str().unwrap().to_owned(),
                l["scope"].as_str().unwrap().to_owned(),
                l["action"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let owned = |a: &str, b: &str, c: &str| (a.to_owned(), b.to_owned(), c.to_owned());
    assert_eq!(
        summary,
        [
            owned("settings", "project", "update"),
            owned("permissions", "project", "update"),
            owned("hooks", "local", "update"),
            owned("settings", "project", "reveal"),
        ]
    );
    let log = std::fs::read_to_string(sandbox.state_dir().join("config_audit.log")).unwrap();
    assert!(
        !log.contains("ghp_secret") && !log.contains("guard.sh"),
        "{log}"
    );
}

#[tokio::test]
#[allow(clippy::too_many_lines)] // three scopes, approvals and the merged view
async fn mcp_servers_approvals_and_the_effective_view() {
    let sandbox = Sandbox::new();
    let alpha = trusted_alpha(&sandbox);
    std::fs::write(
        alpha.join(".mcp.json"),
        r#"{"mcpServers": {"repo-db": {"command": "db-mcp", "env": {"DB_PASSWORD": "pw"}}}}"#,
    )
    .unwrap();
    let claude_dir = sandbox.home().join(".claude");
    std::fs::create_dir_all(&claude_dir).unwrap();
    std::fs::write(
        claude_dir.join("settings.json"),
        r#"{"model": "opus", "env": {"A": "user"}, "permissions": {"allow": ["Read"]}}"#,
    )
    .unwrap();
    let server = start_server(&sandbox, None, &[], ON_WITH_USER);
    let api = Api { server: &server };
    let global = sandbox.home().join(".claude.json");

    let (status, project) = api.get("mcp?project=alpha").await;
    assert_eq!(status, 200, "{project}");
    assert_eq!(
        project["servers"],
        json!({"repo-db": {"command": "db-mcp", "env": {"DB_PASSWORD": "********"}}})
    );
    // Add, edit (the masked password kept), and remove in the Project scope.
    let add = json!({"project": "alpha", "confirm": "alpha", "op": "add", "name": "fs",
        "entry": {"command": "npx", "args": ["-y", "fs-mcp"]}});
    let (status, answer) = api.post("mcp/server", add.clone()).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer,
        json!({"scope": "project", "project": "alpha", "name": "fs", "op": "add", "ok": true})
    );
    let (status, dup) = api.post("mcp/server", add).await;
    assert_eq!(
        (status, &dup["detail"]),
        (
            409,
            &json!("MCP server 'fs' already exists; edit it instead")
        )
    );
    let (status, _) = api
        .post(
            "mcp/server",
            json!({"project": "alpha", "confirm": "alpha", "op": "edit", "name": "repo-db",
                   "entry": {"command": "db-mcp", "args": ["--ro"], "env": {"DB_PASSWORD": "********"}}}),
        )
        .await;
    assert_eq!(status, 200);
    let mcp_json = read_json(&alpha.join(".mcp.json"));
    assert_eq!(
        mcp_json["mcpServers"]["repo-db"]["env"]["DB_PASSWORD"],
        "pw"
    );
    assert_eq!(mcp_json["mcpServers"]["repo-db"]["args"], json!(["--ro"]));
    let (status, _) = api
        .post(
            "mcp/server",
            json!({"project": "alpha", "confirm": "alpha", "op": "remove", "name": "fs"}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        read_json(&alpha.join(".mcp.json"))["mcpServers"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["repo-db"]
    );

    // User and Local servers live in ~/.claude.json, beside the trust entry.
    let (status, answer) = api
        .post(
            "mcp/server",
            json!({"scope": "user", "confirm": "USER SCOPE", "op": "add", "name": "docs",
                   "entry": {"type": "http", "url": "https://docs.example/mcp"}}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = api
        .post(
            "mcp/server",
            json!({"scope": "local", "project": "alpha", "confirm": "alpha (local)", "op": "add",
                   "name": "repo-db", "entry": {"command": "db-mcp", "args": ["--local"]}}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let g = read_json(&global);
    let key = std::fs::canonicalize(&alpha).unwrap().display().to_string();
    assert_eq!(g["projects"][&key]["hasTrustDialogAccepted"], true);
    assert_eq!(g["mcpServers"]["docs"]["url"], "https://docs.example/mcp");
    assert_eq!(
        g["projects"][&key]["mcpServers"]["repo-db"]["args"],
        json!(["--local"])
    );

    // Approvals of the project's .mcp.json servers.
    assert_alpha_approvals(&api, "repo-db", "pending").await;
    let (status, _) = api
        .put(
            "mcp/approvals",
            json!({"project": "alpha", "confirm": "alpha", "enabled": ["repo-db"], "disabled": []}),
        )
        .await;
    assert_eq!(status, 200);
    assert_alpha_approvals(&api, "repo-db", "approved").await;

    // The effective view: Local over Project over User, each value with its scope.
    let (status, effective) = api.get("settings/effective?project=alpha").await;
    assert_eq!(status, 200, "{effective}");
    assert_eq!(effective["scopes"], json!(["user", "project", "local"]));
    assert_eq!(
        effective["effective"]["model"],
        json!({"value": "opus", "source": "user"})
    );
    assert_eq!(
        effective["env"]["A"],
        json!({"value": "user", "source": "user"})
    );
    // 1.3.2's `effective` member carries `env` whole, from the highest scope setting it.
    assert_eq!(effective["effective"]["env"]["source"], "user");
    assert_eq!(effective["errors"], json!([]));
    assert_eq!(
        effective["permissions"]["allow"],
        json!([{"rule": "Read", "source": "user"}])
    );
    assert_eq!(
        effective["mcp_servers"],
        json!([
            {"name": "docs", "source": "user", "type": "http"},
            {"name": "repo-db", "source": "local", "type": "stdio"},
        ])
    );

    // Reset forgets the decisions.
    let (status, _) = api
        .post(
            "mcp/reset-project-choices",
            json!({"project": "alpha", "confirm": "alpha"}),
        )
        .await;
    assert_eq!(status, 200);
    assert_alpha_approvals(&api, "repo-db", "pending").await;
}

#[tokio::test]
async fn subagents_and_skills_are_created_edited_and_deleted() {
    let sandbox = Sandbox::new();
    let alpha = trusted_alpha(&sandbox);
    let server = start_server(&sandbox, None, &[], ON);
    let api = Api { server: &server };
    let text =
        "---\nname: reviewer\ndescription: Reviews diffs\ntools: [Read, Grep]\n---\nReview.\n";
    let (status, answer) = api
        .put(
            "subagents/reviewer",
            json!({"project": "alpha", "confirm": "alpha", "content": text}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let file = alpha.join(".claude/agents/reviewer.md");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text);
    let (_, list) = api.get("subagents?project=alpha").await;
    assert_eq!(
        list["agents"][0],
        json!({"name": "reviewer", "source": "project", "editable": true, "description": "Reviews diffs"})
    );
    assert_eq!(list["agents"][1]["source"], "built-in");
    let (_, doc) = api.get("subagents/reviewer?project=alpha").await;
    assert_eq!(doc["frontmatter"]["tools"], json!(["Read", "Grep"]));
    assert_eq!(doc["hash"], sha256_hex(text.as_bytes()));
    // The front matter must name the file.
    let (status, refused) = api
        .put(
            "subagents/reviewer",
            json!({"project": "alpha", "confirm": "alpha",
                   "content": "---\nname: other\ndescription: x\n---\n"}),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(
        refused["detail"],
        "subagent: the front matter name 'other' must be the subagent's name 'reviewer'"
    );
    let edited = text.replace("Review.", "Review carefully.");
    let (status, _) = api
        .put(
            "subagents/reviewer",
            json!({"project": "alpha", "confirm": "alpha", "content": edited, "hash": doc["hash"]}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), edited);
    let (status, answer) = api
        .delete("subagents/reviewer?project=alpha&confirm=alpha")
        .await;
    assert_eq!((status, &answer["deleted"]), (200, &json!(true)));
    assert!(!file.exists());

    let put_skill = |name: &str, text: &str| {
        let body = json!({"project": "alpha", "confirm": "alpha", "name": name,
                          "files": {"SKILL.md": text}});
        api.put("skills", body)
    };
    let skill = "---\nname: release\ndescription: Cut a release\n---\nSteps.\n";
    let (status, answer) = put_skill("release", skill).await;
    assert_eq!(status, 200, "{answer}");
    let (_, list) = api.get("skills?project=alpha").await;
    assert_eq!(
        list["skills"],
        json!([{"name": "release", "editable": true, "description": "Cut a release"}])
    );
    let (_, file) = api.get("skills/file?project=alpha&name=release").await;
    assert_eq!(file["content"], skill);
    let (status, answer) = api
        .post(
            "skills/delete",
            json!({"project": "alpha", "confirm": "alpha", "name": "release"}),
        )
        .await;
    assert_eq!((status, &answer["existed"]), (200, &json!(true)));
    assert!(!alpha.join(".claude/skills/release").exists());

    // 1.3.2's skill names: either case, and `name` may be left out of the front matter.
    let skill = "---\ndescription: Makes PDFs\n---\nSteps.\n";
    let (status, answer) = put_skill("PDF_tools", skill).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        std::fs::read_to_string(alpha.join(".claude/skills/PDF_tools/SKILL.md")).unwrap(),
        skill
    );
    let (_, list) = api.get("skills?project=alpha").await;
    assert_eq!(list["skills"][0]["editable"], true, "{list}");
}

#[tokio::test]
async fn malformed_files_are_shown_read_only_and_never_overwritten() {
    let sandbox = Sandbox::new();
    let alpha = trusted_alpha(&sandbox);
    let settings = alpha.join(".claude/settings.json");
    std::fs::create_dir_all(alpha.join(".claude/agents")).unwrap();
    std::fs::write(&settings, "{\"model\": \"opus\",, }").unwrap();
    std::fs::write(alpha.join(".claude/agents/broken.md"), "no front matter\n").unwrap();
    let server = start_server(&sandbox, None, &[], ON);
    let api = Api { server: &server };

    for surface in ["settings", "permissions", "hooks"] {
        let (status, read) = api.get(&format!("{surface}?project=alpha")).await;
        assert_eq!(status, 200, "{read}");
        assert_eq!(read["read_only"], true, "{surface}");
        let error = read["error"].as_str().unwrap();
        assert!(error.contains("is not valid JSON"), "{error}");
        assert!(error.ends_with("Clauster will not overwrite it"), "{error}");
    }
    let (status, refused) = api
        .put(
            "permissions",
            json!({"project": "alpha", "confirm": "alpha", "permissions": {"allow": ["Read"]}}),
        )
        .await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(
        std::fs::read(&settings).unwrap(),
        b"{\"model\": \"opus\",, }"
    );

    let (_, list) = api.get("subagents?project=alpha").await;
    assert_eq!(list["agents"][0]["name"], "broken");
    assert_eq!(
        list["agents"][0]["error"],
        "the file must start with a '---' line opening the front matter"
    );
    let (_, doc) = api.get("subagents/broken?project=alpha").await;
    assert_eq!(doc["content"], "no front matter\n");
    assert!(doc["error"].is_string());

    // The effective view does not pass the malformed scope off as empty: it names it.
    let (status, effective) = api.get("settings/effective?project=alpha").await;
    assert_eq!(status, 200, "{effective}");
    let errors = effective["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{effective}");
    assert_eq!(errors[0]["scope"], "project");
    assert!(
        errors[0]["error"]
            .as_str()
            .unwrap()
            .contains("settings.json is not valid JSON"),
        "{effective}"
    );
    assert_eq!(effective["effective"], json!({}));
}

#[tokio::test]
async fn the_local_scope_keeps_claude_local_md_and_its_files_out_of_git() {
    let sandbox = Sandbox::new();
    let alpha = trusted_alpha(&sandbox);
    std::fs::write(alpha.join(".gitignore"), "target/\n*.log").unwrap();
    std::fs::write(alpha.join("CLAUDE.md"), "# shared\n").unwrap();
    let server = start_server(&sandbox, None, &[], ON);
    let api = Api { server: &server };

    // CLAUDE.local.md is the Local scope's memory, at the project root, with its own token.
    let (status, read) = api.get("claude-md?scope=local&project=alpha").await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(
        read,
        json!({"scope": "local", "project": "alpha", "content": "", "hash": null, "exists": false})
    );
    let write = |confirm: &str, content: &str| json!({"scope": "local", "project": "alpha", "confirm": confirm, "content": content});
    let (status, refused) = api.put("claude-md", write("alpha", "mine\n")).await;
    assert_eq!(
        (status, &refused["detail"]),
        (400, &json!("confirmation text must be 'alpha (local)'"))
    );
    let (status, answer) = api.put("claude-md", write("alpha (local)", "mine\n")).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        std::fs::read_to_string(alpha.join("CLAUDE.local.md")).unwrap(),
        "mine\n"
    );
    assert_eq!(
        std::fs::read_to_string(alpha.join("CLAUDE.md")).unwrap(),
        "# shared\n",
        "the Project scope's file is another one"
    );
    assert!(!alpha.join(".claude/CLAUDE.local.md").exists());
    // Appended once, after a newline the file lacked; a second write adds nothing.
    let (status, _) = api
        .put("claude-md", write("alpha (local)", "mine, v2\n"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(gitignore(&alpha), "target/\n*.log\nCLAUDE.local.md\n");

    // A Local settings write ignores its file and the one backup before writing.
    let hooks = json!({"Stop": [{"hooks": [{"type": "command", "command": "notify"}]}]});
    let body = json!({"scope": "local", "project": "alpha", "confirm": "alpha (local)",
                      "hooks": hooks});
    let (status, answer) = api.put("hooks", body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        gitignore(&alpha),
        "target/\n*.log\nCLAUDE.local.md\n.claude/settings.local.json\n.claude/settings.local.json.bak\n"
    );

    // A rule that already covers the files (git's own matching: a directory rule) adds none.
    let beta = sandbox.project("beta", &[".git"]);
    sandbox.trust(&beta);
    std::fs::write(beta.join(".gitignore"), "/.claude/\nCLAUDE.*.md\n").unwrap();
    for (surface, body) in [
        ("claude-md", json!({"content": "x\n"})),
        ("permissions", json!({"permissions": {"allow": ["Read"]}})),
    ] {
        let mut body = body;
        body["scope"] = json!("local");
        body["project"] = json!("beta");
        body["confirm"] = json!("beta (local)");
        let (status, answer) = api.put(surface, body).await;
        assert_eq!(status, 200, "{surface}: {answer}");
    }
    assert_eq!(gitignore(&beta), "/.claude/\nCLAUDE.*.md\n");
    // A refused edit (422) touches no .gitignore.
    let gamma = sandbox.project("gamma", &[".git"]);
    sandbox.trust(&gamma);
    let body = json!({"scope": "local", "project": "gamma", "confirm": "gamma (local)",
                      "permissions": {"defaultMode": "bypassPermissions"}});
    assert_eq!(api.put("permissions", body).await.0, 422);
    assert!(!gamma.join(".gitignore").exists());
}

#[tokio::test]
async fn links_leaving_the_project_are_refused() {
    let sandbox = Sandbox::new();
    let alpha = trusted_alpha(&sandbox);
    let outside = sandbox.home().join("elsewhere");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("settings.json"), "{\"keep\": true}").unwrap();
    std::os::unix::fs::symlink(&outside, alpha.join(".claude")).unwrap();
    std::os::unix::fs::symlink(outside.join("settings.json"), alpha.join(".mcp.json")).unwrap();
    let server = start_server(&sandbox, None, &[], ON);
    let api = Api { server: &server };
    let expected =
        ".claude/settings.json resolves outside the project directory; Clauster does not follow it";
    let (status, body) = api.get("settings?project=alpha").await;
    assert_eq!((status, body["detail"].as_str().unwrap()), (400, expected));
    let (status, body) = api
        .put(
            "settings",
            json!({"project": "alpha", "confirm": "alpha", "settings": {"x": 1}}),
        )
        .await;
    assert_eq!((status, body["detail"].as_str().unwrap()), (400, expected));
    let (status, body) = api
        .post(
            "mcp/server",
            json!({"project": "alpha", "confirm": "alpha", "op": "add", "name": "x",
                   "entry": {"command": "x"}}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        std::fs::read_to_string(outside.join("settings.json")).unwrap(),
        "{\"keep\": true}"
    );
    assert!(!outside.join("agents").exists());
}

/// A cookie session must step up before a write (security.md §3.2); a disabled surface still
/// answers 404 first.
#[tokio::test]
async fn a_cookie_session_writes_only_after_the_step_up() {
    const PASSWORD: &str = "correct horse battery";
    let sandbox = Sandbox::new();
    trusted_alpha(&sandbox);
    support::password_config(&sandbox, PASSWORD, "config_write:\n  enabled: true\n");
    let server = start_server(&sandbox, None, &[], &[]);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let origin = server.base.clone();
    let session = support::cookie_set_by(&support::log_in(&client, &server.base, PASSWORD).await);
    let write = |cookie: String| {
        client
            .put(format!("{}/api/config-write/permissions", server.base))
            .header("origin", &origin)
            .header("cookie", cookie)
            .json(&json!({"project": "alpha", "confirm": "alpha", "permissions": {"allow": ["Read"]}}))
            .send()
    };
    let refused = write(session.clone()).await.unwrap();
    assert_eq!(refused.status().as_u16(), 403);
    assert_eq!(
        refused.json::<Value>().await.unwrap()["detail"],
        "reauth_required"
    );
    // Reads need no step-up.
    let read = client
        .get(format!(
            "{}/api/config-write/permissions?project=alpha",
            server.base
        ))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status().as_u16(), 200);
    let elevated = client
        .post(format!("{}/api/reauth", server.base))
        .header("origin", &origin)
        .header("cookie", &session)
        .json(&json!({"password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let elevation = support::cookie_set_by(&elevated);
    let granted = write(format!("{session}; {elevation}")).await.unwrap();
    assert_eq!(granted.status().as_u16(), 200);
}

/// `~/.claude.json` edits take the engine's lock with its 5 s deadline: held by another
/// process, a write answers 503 and changes nothing; released, it goes through.
#[tokio::test]
async fn claude_json_writes_wait_for_the_engines_lock() {
    let sandbox = Sandbox::new();
    trusted_alpha(&sandbox);
    let server = start_server(&sandbox, None, &[], ON_WITH_USER);
    let api = Api { server: &server };
    let global = sandbox.home().join(".claude.json");
    let lock = support::torture::lock_claude_json(&sandbox.state_dir(), &global);
    let before = std::fs::read(&global).unwrap();
    let add = json!({"scope": "user", "confirm": "USER SCOPE", "op": "add", "name": "docs",
        "entry": {"type": "http", "url": "https://docs.example/mcp"}});
    let (status, body) = api.post("mcp/server", add.clone()).await;
    assert_eq!(
        (status, &body["detail"]),
        (503, &json!("~/.claude.json is locked by another process"))
    );
    assert_eq!(std::fs::read(&global).unwrap(), before);
    lock.unlock().unwrap();
    let (status, body) = api.post("mcp/server", add).await;
    assert_eq!(status, 200, "{body}");
}

/// A surface key of the wrong JSON type (config-write.md §5–§7) is not an empty surface: the
/// read names the fault read-only, the effective view lists it, and every write is refused
/// (409) with the file left byte-identical.
#[tokio::test]
#[allow(clippy::too_many_lines)] // two files, each through its read, its writes and the merged view
async fn surface_keys_of_the_wrong_type_are_shown_read_only_and_never_overwritten() {
    let sandbox = Sandbox::new();
    let alpha = trusted_alpha(&sandbox);
    let settings = alpha.join(".claude/settings.json");
    std::fs::create_dir_all(settings.parent().unwrap()).unwrap();
    let settings_text = r#"{"hooks": [1, 2], "env": "notobj", "model": "opus"}"#;
    std::fs::write(&settings, settings_text).unwrap();
    let mcp_json = alpha.join(".mcp.json");
    std::fs::write(&mcp_json, r#"{"mcpServers": [1]}"#).unwrap();
    let server = start_server(&sandbox, None, &[], ON);
    let api = Api { server: &server };
    let w = |extra: Value| {
        let mut body = json!({"project": "alpha", "confirm": "alpha"});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };

    for (surface, fault) in [
        (
            "hooks",
            "hooks is a JSON array in the file, not an object; fix it by hand",
        ),
        (
            "settings",
            "env is a JSON string in the file, not an object; fix it by hand",
        ),
    ] {
        let (status, read) = api.get(&format!("{surface}?project=alpha")).await;
        assert_eq!(status, 200, "{read}");
        assert_eq!(
            (&read["error"], &read["read_only"]),
            (&json!(fault), &json!(true))
        );
    }
    // Permissions are of the right type here: that surface stays editable.
    let (_, read) = api.get("permissions?project=alpha").await;
    assert!(read.get("read_only").is_none(), "{read}");
    let (status, refused) = api.put("hooks", w(json!({"hooks": {}}))).await;
    assert_eq!(
        (status, &refused["detail"]),
        (
            409,
            &json!("hooks is a JSON array in the file, not an object; fix it by hand")
        )
    );
    let (status, refused) = api
        .put("settings", w(json!({"settings": {"model": "sonnet"}})))
        .await;
    assert_eq!(
        (status, &refused["detail"]),
        (
            409,
            &json!("env is a JSON string in the file, not an object; fix it by hand")
        )
    );
    assert_eq!(std::fs::read_to_string(&settings).unwrap(), settings_text);

    let array_fault = "mcpServers is a JSON array in the file, not an object; fix it by hand";
    let (status, read) = api.get("mcp?project=alpha").await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(
        (&read["error"], &read["read_only"]),
        (&json!(array_fault), &json!(true))
    );
    let add = w(json!({"op": "add", "name": "fs", "entry": {"command": "npx"}}));
    let (status, refused) = api.post("mcp/server", add.clone()).await;
    assert_eq!((status, &refused["detail"]), (409, &json!(array_fault)));
    let (status, refused) = api.put("mcp", w(json!({"servers": {}}))).await;
    assert_eq!((status, &refused["detail"]), (409, &json!(array_fault)));
    assert_eq!(
        std::fs::read_to_string(&mcp_json).unwrap(),
        r#"{"mcpServers": [1]}"#
    );

    let (status, effective) = api.get("settings/effective?project=alpha").await;
    assert_eq!(status, 200, "{effective}");
    assert_eq!(
        effective["errors"],
        json!([
            {"scope": "project", "error": "env is a JSON string in the file, not an object; fix it by hand"},
            {"scope": "project", "error": "hooks is a JSON array in the file, not an object; fix it by hand"},
            {"scope": "project", "error": array_fault},
        ])
    );

    // A server that is not an object: named, never listed as a stdio server, never replaced.
    let one_bad = r#"{"mcpServers": {"a": "notobj", "b": {"command": "b"}}}"#;
    std::fs::write(&mcp_json, one_bad).unwrap();
    let entry_fault = "mcpServers.a is a JSON string in the file, not an object; fix it by hand";
    let (_, read) = api.get("mcp?project=alpha").await;
    assert_eq!(
        (&read["error"], &read["read_only"]),
        (&json!(entry_fault), &json!(true))
    );
    let (status, refused) = api.post("mcp/server", add).await;
    assert_eq!((status, &refused["detail"]), (409, &json!(entry_fault)));
    let (_, effective) = api.get("settings/effective?project=alpha").await;
    assert_eq!(
        effective["mcp_servers"],
        json!([{"name": "b", "source": "project", "type": "stdio", "approval": "pending"}])
    );
    assert_eq!(effective["errors"][2]["error"], entry_fault);
    assert_eq!(std::fs::read_to_string(&mcp_json).unwrap(), one_bad);
}

/// Editing a server whose URL holds the masked password (config-write.md §6): on the same
/// scheme, host and port the stored password stays and the rest of the edit applies; on a
/// new host the edit is refused (422) so the stored password never leaves for it.
#[tokio::test]
async fn a_masked_url_password_stays_on_its_host_and_is_never_sent_to_a_new_one() {
    let sandbox = Sandbox::new();
    let alpha = trusted_alpha(&sandbox);
    let mcp_json = alpha.join(".mcp.json");
    std::fs::write(
        &mcp_json,
        r#"{"mcpServers": {"gh": {"type": "http", "url": "https://u:s3cret@api.example/mcp"}}}"#,
    )
    .unwrap();
    let server = start_server(&sandbox, None, &[], ON);
    let api = Api { server: &server };
    let (_, read) = api.get("mcp?project=alpha").await;
    assert_eq!(
        read["servers"]["gh"]["url"],
        "https://u:********@api.example/mcp"
    );
    let edit = |url: &str| {
        json!({"project": "alpha", "confirm": "alpha", "op": "edit", "name": "gh",
               "entry": {"type": "http", "url": url, "headers": {"X-Team": "core"}}})
    };
    let (status, answer) = api
        .post("mcp/server", edit("https://u:********@api.example/v2/mcp"))
        .await;
    assert_eq!(status, 200, "{answer}");
    let stored = read_json(&mcp_json);
    assert_eq!(
        stored["mcpServers"]["gh"]["url"],
        "https://u:s3cret@api.example/v2/mcp"
    );
    assert_eq!(stored["mcpServers"]["gh"]["headers"]["X-Team"], "core");

    let before = std::fs::read(&mcp_json).unwrap();
    let (status, refused) = api
        .post(
            "mcp/server",
            edit("https://u:********@elsewhere.example/mcp"),
        )
        .await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(
        refused["detail"],
        "mcpServers.gh.url points to a new host with the masked password; retype the password \
         (a stored password is never sent to another host)"
    );
    assert_eq!(std::fs::read(&mcp_json).unwrap(), before);
    // Retyped, the new host is fine.
    let (status, _) = api
        .post("mcp/server", edit("https://u:typed@elsewhere.example/mcp"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        read_json(&mcp_json)["mcpServers"]["gh"]["url"],
        "https://u:typed@elsewhere.example/mcp"
    );
}

/// With `~/.claude.json` unparseable the approval writes answer the 409 of every write to it
/// (not a 403 about trust), and the read says the decisions are unknown rather than pending.
#[tokio::test]
async fn approvals_with_an_unparseable_global_file_are_unknown_and_not_written() {
    let sandbox = Sandbox::new();
    let alpha = trusted_alpha(&sandbox);
    std::fs::write(
        alpha.join(".mcp.json"),
        r#"{"mcpServers": {"db": {"command": "db"}}}"#,
    )
    .unwrap();
    let server = start_server(&sandbox, None, &[], ON);
    let api = Api { server: &server };
    let global = sandbox.home().join(".claude.json");
    std::fs::write(&global, "{\"projects\": ,}").unwrap();

    let (status, read) = api.get("mcp/approvals?project=alpha").await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(
        read["servers"],
        json!([{"name": "db", "approval": "unknown"}])
    );
    assert_eq!(read["read_only"], true);
    assert!(
        read["error"].as_str().unwrap().contains(".claude.json"),
        "{read}"
    );
    for (status, refused) in [
        api.put(
            "mcp/approvals",
            json!({"project": "alpha", "confirm": "alpha", "enabled": ["db"], "disabled": []}),
        )
        .await,
        api.post(
            "mcp/reset-project-choices",
            json!({"project": "alpha", "confirm": "alpha"}),
        )
        .await,
    ] {
        assert_eq!(status, 409, "{refused}");
        let detail = refused["detail"].as_str().unwrap();
        assert!(
            detail.starts_with("cannot update ")
                && detail.ends_with(
                    ".claude.json: it is not a valid JSON object; Clauster did not change it"
                ),
            "{detail}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(&global).unwrap(),
        "{\"projects\": ,}"
    );
}
