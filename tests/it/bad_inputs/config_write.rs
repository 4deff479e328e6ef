//! Rows 100–119, 151–153 and 162–165: Claude Code's configuration routes (issue 23.2–4, issue 18).

use super::*;

/// Writes `project`'s `.mcp.json`.
fn write_mcp(project: &Path, text: &str) {
    std::fs::write(project.join(".mcp.json"), text).expect("write .mcp.json");
}

#[tokio::test]
async fn rows_100_and_101_a_disabled_surface_is_invisible() {
    let bench = Bench::start(usual_sandbox(), &[]);
    // Row 100: with config-write off, every route answers 404.
    let routes = [
        get(cw("status")),
        get(cw("settings?scope=bogus")),
        put(
            cw("permissions"),
            json!({"project": "alpha", "confirm": "alpha", "permissions": {}}),
        ),
        post(
            cw("mcp/server"),
            json!({"scope": "user", "confirm": "USER SCOPE", "op": "remove", "name": "x"}),
        ),
        delete(cw("subagents/x?project=alpha&confirm=alpha")),
        post(cw("skills/delete"), json!({})),
    ];
    let disabled = "config-write is disabled";
    let mut cases: Vec<_> = routes
        .into_iter()
        .map(|request| (100, request, 404, is(disabled)))
        .collect();
    cases.push((100, get(cw("plugins")), 404, Detail::Any));
    bench.table(cases).await;
    drop(bench);
    let bench = Bench::start(
        usual_sandbox(),
        &[("CLAUSTER_CONFIG_WRITE_ENABLED", "true")],
    );
    let user = || is("config-write user scope is disabled");
    bench
        .table(vec![
            (101, get(cw("settings?scope=user")), 404, user()),
            (
                101,
                put(
                    cw("hooks"),
                    json!({"scope": "user", "confirm": "USER SCOPE", "hooks": {}}),
                ),
                404,
                user(),
            ),
            (100, get(cw("plugins")), 404, Detail::Any),
            (100, get(cw("marketplaces")), 404, Detail::Any),
        ])
        .await;
}

#[tokio::test]
#[allow(clippy::too_many_lines)] // the table of rows 102–119
async fn rows_102_to_119_config_write_refusals() {
    let sandbox = usual_sandbox();
    let alpha = sandbox.projects_root().join("alpha");
    std::fs::create_dir_all(alpha.join(".claude/agents")).unwrap();
    write_mcp(&alpha, r#"{"mcpServers": {"db": {"command": "db"}}}"#);
    let beta = sandbox.projects_root().join("beta");
    std::fs::create_dir_all(beta.join(".claude")).unwrap();
    std::fs::write(beta.join(".claude/settings.json"), "{\"model\": 1,, }").unwrap();
    let outside = sandbox.home().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let linked = sandbox.project("linked", &[]);
    std::os::unix::fs::symlink(&outside, linked.join(".claude")).unwrap();
    trust_all(&sandbox, &[&alpha, &beta, &linked]);
    let bench = Bench::start(sandbox, &[("CLAUSTER_CONFIG_WRITE_ENABLED", "true")]);
    let hash_now = sha256_hex(std::fs::read(alpha.join(".mcp.json")).unwrap());
    let w = |extra: Value| {
        let mut body = json!({"project": "alpha", "confirm": "alpha"});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let perms = |p: Value| put(cw("permissions"), w(json!({ "permissions": p })));
    let hooks = |h: Value| put(cw("hooks"), w(json!({ "hooks": h })));
    let server = |op: &str, name: &str, entry: Value| {
        post(
            cw("mcp/server"),
            w(json!({"op": op, "name": name, "entry": entry})),
        )
    };
    let agent = |name: &str, content: &str| {
        put(
            cw(&format!("subagents/{name}")),
            w(json!({ "content": content })),
        )
    };
    let untrusted_path = canonical(&bench.sandbox.projects_root().join("untrusted"));
    let big = format!(
        "---\nname: big\ndescription: d\n---\n{}",
        "x".repeat(65_536)
    );
    let too_big = format!("content is {} bytes, over the 65536 byte cap", big.len());
    // Release review F1: under 1 KiB of aliases that a copying loader expands to gigabytes.
    let levels = ["a", "b", "c", "d", "e", "f", "g", "h"];
    let nested: Vec<String> = levels
        .windows(2)
        .map(|w| {
            format!(
                "{1}: &{1} [{0}]\n",
                vec![format!("*{}", w[0]); 9].join(","),
                w[1]
            )
        })
        .collect();
    let mut bomb = String::from("---\nname: bomb\ndescription: d\na: &a [x,x,x,x,x,x,x,x,x]\n");
    bomb.push_str(&nested.concat());
    bomb.push_str("---\n");
    bench
        .table(vec![
            (102, get(cw("settings?scope=global&project=alpha")), 422, is("scope must be 'project', 'user', or 'local'")),
            (102, get(cw("subagents?scope=local&project=alpha")), 422, is("scope must be 'project' or 'user'")),
            (103, perms(json!({})).with_body(json!({"project": "alpha", "permissions": {}})), 400, is("confirmation text must be 'alpha'")),
            (103, put(cw("permissions"), json!({"project": "alpha", "confirm": "Alpha", "permissions": {}})), 400, is("confirmation text must be 'alpha'")),
            (103, put(cw("hooks"), json!({"scope": "local", "project": "alpha", "confirm": "alpha", "hooks": {}})), 400, is("confirmation text must be 'alpha (local)'")),
            (104, put(cw("permissions"), json!({"confirm": "", "permissions": {}})), 400, is("project-scope write requires a project")),
            (105, put(cw("permissions"), json!({"project": "nope", "confirm": "nope", "permissions": {}})), 404, is("project 'nope' not found")),
            (105, get(cw("settings?project=-rf")), 400, is("invalid project name: '-rf'")),
            (105, get(cw("hooks?project=..")), 400, is("invalid project name: '..'")),
            (106, post_raw(cw("mcp/server"), b"[]"), 422, is("request body must be a JSON object")),
            (106, put(cw("permissions"), w(json!({"permissions": []}))), 422, is("body must include a 'permissions' object")),
            (107, put(cw("permissions"), w(json!({"permissions": {}, "hash": 5}))), 422, is("'hash' must be a string when present")),
            (108, put(cw("mcp"), w(json!({"servers": {}, "hash": "0".repeat(64)}))), 409, starts(canonical(&alpha))),
            (109, put(cw("permissions"), json!({"project": "untrusted", "confirm": "untrusted", "permissions": {}})), 403, is(format!("{untrusted_path} is not a trusted directory; trust the project first"))),
            (110, put(cw("settings"), w(json!({"settings": {"hooks": {}}}))), 422, is(r#"settings may not name ["hooks"]: each has its own tab (permissions, hooks, MCP)"#)),
            (110, put(cw("settings"), w(json!({"settings": {"env": {"A": 1}}}))), 422, is("env.A must be a string")),
            (111, perms(json!({"defaultMode": "bypassPermissions"})), 422, is("permissions.defaultMode cannot be 'bypassPermissions' here: it is a launch option behind its own gate")),
            (111, perms(json!({"allow": ["Read", ""]})), 422, starts("permissions.allow holds \"\"")),
            (112, hooks(json!({"OnBoot": []})), 422, starts("hooks.OnBoot is not a hook event")),
            (112, hooks(json!({"Stop": [{"hooks": [{"type": "http", "command": "x"}]}]})), 422, is("hooks.Stop[0].hooks[0].type must be \"command\"")),
            (112, hooks(json!({"Stop": [{"hooks": [{"type": "command", "command": "${CLAUDE_PLUGIN_ROOT}/x"}]}]})), 422, starts("hooks.Stop[0].hooks[0].command refers to CLAUDE_PLUGIN_ROOT")),
            (113, server("add", "../x", json!({"command": "x"})), 422, starts("MCP server name \"../x\" must be")),
            (113, server("add", "web", json!({"type": "http", "url": "file:///etc/passwd"})), 422, is("mcpServers.web.url must be an http:// or https:// URL")),
            (113, server("add", "x", json!({"command": " "})), 422, is("mcpServers.x.command must be a non-empty string")),
            (113, server("add", "db", json!({"command": "db"})), 409, is("MCP server 'db' already exists; edit it instead")),
            (113, post(cw("mcp/server"), w(json!({"op": "remove", "name": "nope"}))), 404, is("MCP server 'nope' not found")),
            (113, post(cw("mcp/server"), w(json!({"op": "rename", "name": "db"}))), 422, is("op must be 'add', 'remove', or 'edit'")),
            (114, server("edit", "db", json!({"command": "db", "env": {"TOKEN": "********"}})), 422, is("mcpServers.db.env.TOKEN is the mask '********' but no value is stored there; type the value itself")),
            (115, put(cw("permissions"), json!({"project": "beta", "confirm": "beta", "permissions": {"allow": ["Read"]}})), 409, starts("cannot update")),
            (116, get(cw("hooks?project=linked")), 400, is(".claude/settings.json resolves outside the project directory; Clauster does not follow it")),
            (116, agent("x", "---\nname: x\ndescription: y\n---\n").with_body(json!({"project": "linked", "confirm": "linked", "content": "---\nname: x\ndescription: y\n---\n"})), 400, is(".claude/agents/x.md resolves outside the project directory; Clauster does not follow it")),
            (117, agent("Reviewer", "---\nname: Reviewer\ndescription: y\n---\n"), 422, starts("invalid subagent name \"Reviewer\"")),
            (117, agent("rev", "no front matter"), 422, is("subagent: the file must start with a '---' line opening the front matter")),
            (117, agent("rev", "---\nname: rev\n---\n"), 422, is("subagent: the front matter needs a non-empty 'description' string")),
            (117, agent("bomb", &bomb), 422, is("subagent: YAML aliases are not accepted in front matter")),
            (117, agent("general-purpose", "---\nname: general-purpose\ndescription: y\n---\n"), 403, is("'general-purpose' is built into Claude Code and has no file to edit")),
            (118, put(cw("skills"), w(json!({"name": "s", "files": {"SKILL.md": "---\nname: s\ndescription: d\n---\n", "run.sh": "rm -rf ~"}}))), 422, is("only a skill's SKILL.md is written here; add scripts on the host")),
            (118, get(cw("skills/file?project=alpha&name=s&relative=../../x")), 422, is("only a skill's SKILL.md is read or written here")),
            (119, post_raw(cw("mcp/server"), &vec![b' '; 600 << 10]), 413, is("request body too large")),
            (119, agent("big", &big), 413, is(too_big)),
        ])
        .await;
    // The stale hash of row 108 was the real one a moment ago: the guard is by content.
    assert_ne!(hash_now, "0".repeat(64));
}

#[tokio::test]
async fn rows_151_to_153_what_1_3_2_refuses_and_a_gitignore_link() {
    let sandbox = usual_sandbox();
    let alpha = sandbox.projects_root().join("alpha");
    std::fs::create_dir_all(alpha.join(".claude")).unwrap();
    write_mcp(
        &alpha,
        r#"{"mcpServers": {"db": {"command": "db", "timeout": 30}}}"#,
    );
    let outside = sandbox.home().join("outside.gitignore");
    std::fs::write(&outside, "x\n").unwrap();
    let linked = sandbox.project("linked", &[]);
    std::os::unix::fs::symlink(&outside, linked.join(".gitignore")).unwrap();
    trust_all(&sandbox, &[&alpha, &linked]);
    let bench = Bench::start(sandbox, &[("CLAUSTER_CONFIG_WRITE_ENABLED", "true")]);
    let w = |extra: Value| {
        let mut body = json!({"project": "alpha", "confirm": "alpha"});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let server = |op: &str, name: &str, entry: Value| {
        post(
            cw("mcp/server"),
            w(json!({"op": op, "name": name, "entry": entry})),
        )
    };
    let known = "(known: command, args, env, type, transport)";
    let bad_skill = "invalid skill name: '../escape' (use 1–64 letters, digits, '-' or '_', starting with a letter or digit)";
    let skill_md = "---\ndescription: d\n---\n";
    bench
        .table(vec![
            (151, server("add", "web", json!({"command": "x", "bogus": 1})), 422, is(format!("mcpServers.web has keys an MCP server entry does not have: [\"bogus\"] {known}"))),
            (151, server("edit", "db", json!({"command": "db", "timeout": 60})), 422, is(format!("mcpServers.db has keys an MCP server entry does not have: [\"timeout\"] {known}"))),
            (151, put(cw("mcp"), w(json!({"servers": {"s": {"command": "x", "bogus": 1}}}))), 422, starts("mcpServers.s has keys an MCP server entry does not have")),
            (151, server("add", "web", json!({"type": "http", "transport": "sse", "url": "https://x"})), 422, is("mcpServers.web.type and .transport disagree; give one of them")),
            (152, put(cw("skills"), w(json!({"name": "../escape", "files": {"SKILL.md": skill_md}}))), 400, is(bad_skill)),
            (152, get(cw("skills/file?project=alpha&name=../escape")), 400, is(bad_skill)),
            (152, post(cw("skills/delete"), w(json!({"name": "../escape"}))), 400, is(bad_skill)),
            (152, put(cw("skills"), w(json!({"name": "x", "files": {"SKILL.md": "---\nname: y\ndescription: d\n---\n"}}))), 422, is("skill: the front matter name 'y' must be the skill's name 'x'")),
            (152, put(cw("skills"), w(json!({"name": "x", "files": {"SKILL.md": "---\ndescription: d\n---\n${CLAUDE_PLUGIN_ROOT}/run\n"}}))), 422, starts("skill: SKILL.md refers to CLAUDE_PLUGIN_ROOT")),
            (153, put(cw("claude-md"), json!({"scope": "local", "project": "linked", "confirm": "linked (local)", "content": "x"})), 400, is(".gitignore resolves outside the project directory; Clauster does not follow it")),
        ])
        .await;
    // The stored `timeout` (not a key 1.3.2 knows) stayed as it was; nothing left the project.
    let mcp =
        std::fs::read_to_string(bench.sandbox.projects_root().join("alpha/.mcp.json")).unwrap();
    assert!(mcp.contains("\"timeout\": 30"), "{mcp}");
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "x\n");
    let linked = bench.sandbox.projects_root().join("linked");
    assert!(!linked.join("CLAUDE.local.md").exists());
}

#[tokio::test]
#[allow(clippy::too_many_lines)] // three sandboxes' worth of files, then four tables
async fn rows_162_to_165_surface_keys_of_the_wrong_type_masked_url_passwords_and_a_broken_global() {
    let sandbox = usual_sandbox();
    let alpha = sandbox.projects_root().join("alpha");
    let beta = sandbox.projects_root().join("beta");
    let gamma = sandbox.project("gamma", &[]);
    trust_all(&sandbox, &[&alpha, &beta, &gamma]);
    let gamma_mcp = r#"{"mcpServers": {"gh": {"type": "http", "url": "https://u:pw@api.example/mcp"}, "open": {"type": "http", "url": "https://api.example/mcp"}}}"#;
    write_mcp(&gamma, gamma_mcp);
    std::fs::create_dir_all(alpha.join(".claude")).unwrap();
    let settings_text = r#"{"hooks": [1, 2], "env": "notobj"}"#;
    std::fs::write(alpha.join(".claude/settings.json"), settings_text).unwrap();
    write_mcp(&alpha, r#"{"mcpServers": [1]}"#);
    write_mcp(
        &beta,
        r#"{"mcpServers": {"a": "notobj", "b": {"command": "b"}}}"#,
    );
    let bench = Bench::start(sandbox, &[("CLAUSTER_CONFIG_WRITE_ENABLED", "true")]);
    let w = |project: &str, extra: Value| {
        let mut body = json!({"project": project, "confirm": project});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let fault = |key: &str, kind: &str| {
        is(format!(
            "{key} is a JSON {kind} in the file, not an object; fix it by hand"
        ))
    };
    let add = |project: &str| {
        post(
            cw("mcp/server"),
            w(
                project,
                json!({"op": "add", "name": "x", "entry": {"command": "x"}}),
            ),
        )
    };
    let url_edit = |name: &str, url: &str| {
        post(
            cw("mcp/server"),
            w(
                "gamma",
                json!({"op": "edit", "name": name, "entry": {"type": "http", "url": url}}),
            ),
        )
    };
    bench
        .table(vec![
            (
                162,
                put(cw("hooks"), w("alpha", json!({"hooks": {}}))),
                409,
                fault("hooks", "array"),
            ),
            (
                162,
                put(cw("settings"), w("alpha", json!({"settings": {}}))),
                409,
                fault("env", "string"),
            ),
            (162, add("alpha"), 409, fault("mcpServers", "array")),
            (
                162,
                put(cw("mcp"), w("alpha", json!({"servers": {}}))),
                409,
                fault("mcpServers", "array"),
            ),
            (162, add("beta"), 409, fault("mcpServers.a", "string")),
        ])
        .await;
    assert_eq!(
        std::fs::read_to_string(alpha.join(".claude/settings.json")).unwrap(),
        settings_text
    );
    assert_eq!(
        std::fs::read_to_string(alpha.join(".mcp.json")).unwrap(),
        r#"{"mcpServers": [1]}"#
    );

    // Rows 163 and 165 in a project whose server map is sound.
    let new_host = "mcpServers.gh.url points to a new host with the masked password; retype the \
                    password (a stored password is never sent to another host)";
    bench
        .table(vec![
            (163, url_edit("gh", "https://u:********@evil.example/mcp"), 422, is(new_host)),
            (163, url_edit("gh", "https://u:********@api.example:8443/mcp"), 422, is(new_host)),
            (163, url_edit("gh", "http://u:********@api.example/mcp"), 422, is(new_host)),
            (165, url_edit("open", "https://u:********@api.example/mcp"), 422, is("mcpServers.open.url holds the mask but no password is stored; type the password")),
        ])
        .await;
    assert_eq!(
        std::fs::read_to_string(gamma.join(".mcp.json")).unwrap(),
        gamma_mcp
    );

    // Row 164: `~/.claude.json` unparseable.
    let g = bench.sandbox.home().join(".claude.json");
    std::fs::write(&g, "{,").unwrap();
    let broken = || starts("cannot update ");
    bench
        .table(vec![
            (
                164,
                put(
                    cw("mcp/approvals"),
                    w("alpha", json!({"enabled": [], "disabled": []})),
                ),
                409,
                broken(),
            ),
            (
                164,
                post(cw("mcp/reset-project-choices"), w("alpha", json!({}))),
                409,
                broken(),
            ),
        ])
        .await;
    assert_eq!(std::fs::read_to_string(&g).unwrap(), "{,");
}
