//! Rows 52–59: agent bodies, discovery, `clauster run`'s config refusals, a planted log symlink and the control socket.

use super::*;

// Rows 52, 56, 57.
#[tokio::test]
async fn rows_52_56_and_57_agents_bodies_and_discovery() {
    let sandbox = usual_sandbox();
    let root = sandbox.projects_root();
    for name in ["CON", "-x", ".git"] {
        std::fs::create_dir_all(root.join(name)).expect("create");
    }
    std::fs::write(root.join("notes"), "a regular file\n").expect("write");
    let bench = Bench::start(sandbox, &[]);
    bench
        .table(vec![
            (
                52,
                delete("/api/agents/..%2F.."),
                422,
                is("invalid job id '../..'; expected 8 lowercase hex characters"),
            ),
            (
                52,
                delete("/api/agents/ABCDEF12"),
                422,
                is("invalid job id 'ABCDEF12'; expected 8 lowercase hex characters"),
            ),
            (
                52,
                delete("/api/agents/abc"),
                422,
                is("invalid job id 'abc'; expected 8 lowercase hex characters"),
            ),
            (
                56,
                post_raw("/api/instances", &vec![b' '; 1024 * 1024 + 1]),
                413,
                is("request body too large"),
            ),
            (
                56,
                Request::new(
                    reqwest::Method::PUT,
                    "/api/projects/alpha/claude-md",
                    Body::Raw(vec![b' '; 512 * 1024 + 1]),
                ),
                413,
                is("request body too large"),
            ),
        ])
        .await;
    // Row 57: only valid directories are projects.
    let listed = get("/api/projects").send(&bench.server.base).await.json();
    let names: Vec<&str> = listed
        .as_array()
        .expect("projects")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(names, ["alpha", "beta", "untrusted"], "{listed}");
    for name in ["CON", "-x", ".git", "notes"] {
        let answer = get(format!("/api/projects/{name}/claude-md"))
            .send(&bench.server.base)
            .await;
        assert_eq!(answer.status, 404, "{name}: {}", answer.body);
    }
}

#[test]
fn row_53_a_network_host_without_enforced_auth() {
    let sandbox = usual_sandbox();
    let before = std::fs::read(sandbox.home().join(".claude.json")).ok();
    let stderr = run_refused(&sandbox, &["--host", "0.0.0.0"]);
    assert_eq!(
        stderr.trim_end(),
        "clauster: config error: refusing non-loopback host='0.0.0.0' without enforced auth. \
         Set auth.enabled: true together with auth.password_required (+ auth.password_hash), \
         auth.reverse_proxy.enabled, or auth.api_token_hash — or, to opt out on a trusted LAN, \
         auth.allow_unauthenticated_network."
    );
    assert_eq!(
        std::fs::read(sandbox.home().join(".claude.json")).ok(),
        before
    );
}

#[test]
fn row_54_a_malformed_api_token_hash() {
    let sandbox = usual_sandbox();
    write_config(
        &sandbox,
        "auth:\n  enabled: true\n  api_token_hash: \"ABC\"\n",
    );
    let stderr = run_refused(&sandbox, &[]);
    assert!(stderr.starts_with("clauster: config error: "), "{stderr}");
    assert!(stderr.contains("auth.api_token_hash"), "{stderr}");
}

// Row 55: a planted symlink where the next log set goes.
#[tokio::test]
async fn row_55_a_planted_symlink_at_the_next_log_path() {
    let sandbox = usual_sandbox();
    let target = sandbox.dir.path().join("target.txt");
    std::fs::write(&target, "do not touch\n").expect("write the target");
    let bench = Bench::start(sandbox, &[]);
    // The first launch of this server is `alpha-<epoch ms>-1`: every name of the next
    // seconds is a link to the target, at each file of the set.
    let logs = bench.sandbox.state_dir().join("logs");
    std::fs::create_dir_all(&logs).expect("logs");
    let start = u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("after 1970")
            .as_millis(),
    )
    .expect("ms fit");
    for ms in start..start + 20_000 {
        for file in ["log", "stderr.log"] {
            std::os::unix::fs::symlink(&target, logs.join(format!("alpha-{ms:013}-1.{file}")))
                .expect("plant a link");
        }
    }
    let (status, body) = bench.server.start_bridge("alpha").await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["status"], "error", "{body}");
    assert_eq!(body["error_kind"], "launch_failed", "{body}");
    assert_eq!(body["alive"], false, "{body}");
    assert_eq!(
        std::fs::read_to_string(&target).expect("the target"),
        "do not touch\n"
    );
    assert!(bench.launches().is_empty(), "no bridge was launched");
}

// Row 59: the control socket authenticates by its file mode.
#[test]
fn row_59_the_cli_over_the_control_socket_with_auth_on_and_no_ui() {
    let sandbox = usual_sandbox();
    let crashy = sandbox.project("crashy", &[]);
    fake_mode(&crashy, "crash");
    let alpha = sandbox.projects_root().join("alpha");
    trust_all(&sandbox, &[&alpha, &crashy]);
    let hash = hash_password(&sandbox, PASSWORD);
    write_config(
        &sandbox,
        &format!(
            "auth:\n  enabled: true\n  password_required: true\n  password_hash: '{hash}'\nui:\n  enabled: false\n"
        ),
    );
    let bench = Bench::start(sandbox, &[]);
    // Over TCP the same request is refused.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let refused = runtime
        .block_on(post("/api/instances", json!({"project": "crashy"})).send(&bench.server.base));
    assert_eq!(refused.status, 403, "{}", refused.body);
    let cli = |args: &[&str]| {
        let output = bench
            .sandbox
            .command(clauster_bin())
            .args(args)
            .output()
            .expect("run the CLI");
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (code, out, err) = cli(&["start", "crashy", "--json"]);
    assert!(code.is_some(), "{out}{err}");
    let started: Value = serde_json::from_str(&out).unwrap_or(Value::Null);
    let id = started["instance_id"]
        .as_str()
        .unwrap_or_else(|| panic!("start answered: {out}{err}"))
        .to_owned();
    let (code, out, err) = cli(&["forget", &id]);
    assert_eq!(code, Some(0), "{out}{err}");
    let socket = bench.socket();
    let (status, listed) = over_control_socket(&socket, "GET", "/api/instances", "");
    assert_eq!((status, listed.as_str()), (200, "[]"));
}
