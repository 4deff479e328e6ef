//! Rows 1–22: creating a project, spawn options, bypass, trust and the bridge cap.

use super::*;

// Rows 1–7: creating a project.
#[tokio::test]
async fn rows_01_to_07_create_project_refusals() {
    let bench = Bench::start(usual_sandbox(), &[]);
    let long = "a".repeat(65);
    let mut cases = vec![
        (
            1,
            post_raw("/api/projects", b"[]"),
            422,
            is("request body must be a JSON object"),
        ),
        (
            1,
            post_raw("/api/projects", b"\"x\""),
            422,
            is("request body must be a JSON object"),
        ),
        (
            1,
            post_raw("/api/projects", b"{nope"),
            422,
            is("request body must be a JSON object"),
        ),
        (
            3,
            post("/api/projects", json!({"name": ""})),
            422,
            is("name is required"),
        ),
        (
            3,
            post("/api/projects", json!({})),
            422,
            is("name is required"),
        ),
        (
            6,
            post("/api/projects", json!({"name": 5})),
            422,
            is("name must be a string"),
        ),
        (
            7,
            post("/api/projects", json!({"name": "alpha"})),
            409,
            is("a directory named 'alpha' already exists"),
        ),
    ];
    for name in ["../etc", "a/b", "a\\b"] {
        cases.push((
            2,
            post("/api/projects", json!({ "name": name })),
            422,
            invalid_name(name),
        ));
    }
    for name in ["CON", "nul", "Lpt1"] {
        cases.push((
            4,
            post("/api/projects", json!({ "name": name })),
            422,
            is(format!("'{name}' is a reserved device name")),
        ));
    }
    for name in [long.as_str(), "-rf", ".hidden", "é"] {
        cases.push((
            5,
            post("/api/projects", json!({ "name": name })),
            422,
            invalid_name(name),
        ));
    }
    bench.table(cases).await;
    assert!(
        !bench.sandbox.dir.path().join("etc").exists(),
        "nothing escaped the root"
    );
}

// Rows 8–11, 13–18, 58: spawn options, all refused before anything is launched.
#[tokio::test]
#[allow(clippy::too_many_lines)] // one table, one server
async fn rows_08_to_18_and_58_spawn_refusals() {
    let sandbox = usual_sandbox();
    // A conversation of `beta`: its id is a real transcript, just not `alpha`'s (row 17).
    let other = "0b7e7d3a-4a59-4f0e-9d43-5c1f2b7a9e10";
    let beta_slug = clauster_core::slug::slug(&canonical(&sandbox.projects_root().join("beta")));
    let transcripts = sandbox.home().join(".claude/projects").join(beta_slug);
    std::fs::create_dir_all(&transcripts).expect("transcripts dir");
    std::fs::write(
        transcripts.join(format!("{other}.jsonl")),
        "{\"type\":\"user\",\"message\":{\"role\":\"user\",\"content\":\"hi\"}}\n",
    )
    .expect("write a transcript");
    let bench = Bench::start(sandbox, &[]);
    let spawn = |body: Value| post("/api/instances", body);
    let long = "n".repeat(129);
    let cases = vec![
        (8, spawn(json!({})), 422, is("project is required")),
        (
            9,
            spawn(json!({"project": "nope"})),
            404,
            is("project 'nope' not found"),
        ),
        (
            10,
            spawn(json!({"project": "alpha", "spawn_mode": "turbo"})),
            422,
            is("invalid spawn_mode 'turbo'; expected same-dir, worktree or session"),
        ),
        (
            11,
            spawn(json!({"project": "alpha", "permission_mode": "yolo"})),
            422,
            is("invalid permission_mode 'yolo'"),
        ),
        (
            13,
            spawn(json!({"project": "alpha", "resume_mode": "tmux"})),
            422,
            is("invalid resume_mode 'tmux'; expected standard or pty"),
        ),
        (
            14,
            spawn(json!({"project": "beta", "spawn_mode": "worktree"})),
            422,
            is("worktree spawn mode needs a git repository; 'beta' is not one"),
        ),
        (
            15,
            spawn(json!({"project": "alpha", "name": long})),
            422,
            is("name is longer than 128 characters"),
        ),
        (
            15,
            spawn(json!({"project": "alpha", "name": "evil\u{202e}txt"})),
            422,
            is("name must not contain control or invisible characters"),
        ),
        (
            15,
            spawn(json!({"project": "alpha", "name": "two\nlines"})),
            422,
            is("name must not contain control or invisible characters"),
        ),
        (
            15,
            spawn(json!({"project": "alpha", "name": "--help"})),
            422,
            is("name must not start with '-'"),
        ),
        (
            16,
            spawn(json!({"project": "alpha", "name": 5})),
            422,
            is("name must be a string"),
        ),
        (
            17,
            spawn(
                json!({"project": "alpha", "resume_mode": "pty", "resume_session_id": "../../etc/passwd"}),
            ),
            422,
            is("resume_session_id must be a UUID"),
        ),
        (
            17,
            spawn(json!({"project": "alpha", "resume_mode": "pty", "resume_session_id": "x"})),
            422,
            is("resume_session_id must be a UUID"),
        ),
        (
            17,
            spawn(json!({"project": "alpha", "resume_session_id": other})),
            422,
            is("resume_session_id needs resume_mode pty"),
        ),
        (
            17,
            spawn(json!({"project": "alpha", "resume_mode": "pty", "resume_session_id": other})),
            422,
            is("no such conversation in 'alpha'"),
        ),
        (
            18,
            spawn(json!({"project": "alpha", "channel": "hosted"})),
            422,
            is("channel 'hosted' is not supported by this server"),
        ),
        (
            58,
            spawn(json!({"project": 5})),
            422,
            is("project must be a string"),
        ),
        (
            58,
            spawn(json!({"project": "nope", "trust": "yes"})),
            422,
            is("trust must be a boolean"),
        ),
        (
            58,
            post("/api/instances/zzz/resume", json!({"fresh": 1})),
            422,
            is("fresh must be a boolean"),
        ),
    ];
    bench.table(cases).await;
}

// Row 12: bypassPermissions without the project's opt-in, on spawn and on resume.
#[tokio::test]
async fn row_12_bypass_needs_the_project_opt_in() {
    let sandbox = usual_sandbox();
    write_config(
        &sandbox,
        "projects:\n  alpha:\n    allow_bypass_permissions: true\n",
    );
    let refused = is(
        "bypassPermissions is not enabled for project 'beta'. Set projects.beta.allow_bypass_permissions: true in clauster.yml first.",
    );
    let bench = Bench::start(sandbox, &[]);
    bench
        .refuses(
            12,
            post(
                "/api/instances",
                json!({"project": "beta", "permission_mode": "bypassPermissions"}),
            ),
            403,
            &refused,
        )
        .await;
    // With the opt-in it launches; stopped, it can be resumed only while the opt-in stays.
    let started = post(
        "/api/instances",
        json!({"project": "alpha", "permission_mode": "bypassPermissions"}),
    )
    .send(&bench.server.base)
    .await;
    assert_eq!(started.status, 201, "{}", started.body);
    let id = started.json()["instance_id"]
        .as_str()
        .expect("id")
        .to_owned();
    let stopped = delete(format!("/api/instances/{id}"))
        .send(&bench.server.base)
        .await;
    assert_eq!(stopped.status, 200, "{}", stopped.body);
    let Bench {
        sandbox, server, ..
    } = bench;
    drop(server);
    write_config(&sandbox, "projects: {}\n");
    let bench = Bench::start(sandbox, &[]);
    bench
        .refuses(
            12,
            post(format!("/api/instances/{id}/resume"), json!({})),
            403,
            &is(
                "bypassPermissions is not enabled for project 'alpha'. Set projects.alpha.allow_bypass_permissions: true in clauster.yml first.",
            ),
        )
        .await;
}

// Rows 19–22: trust and the cap.
#[tokio::test]
async fn rows_19_and_21_untrusted_projects_stay_untrusted() {
    let bench = Bench::start(usual_sandbox(), &[]);
    let path = canonical(&bench.sandbox.projects_root().join("untrusted"));
    bench
        .table(vec![
            (
                19,
                post("/api/instances", json!({"project": "untrusted"})),
                409,
                is(format!(
                    "directory not trusted: {path}. Use the Trust action before starting."
                )),
            ),
            (
                21,
                post(
                    "/api/instances",
                    json!({"project": "untrusted", "trust": true, "spawn_mode": "turbo"}),
                ),
                422,
                is("invalid spawn_mode 'turbo'; expected same-dir, worktree or session"),
            ),
            (
                21,
                post(
                    "/api/instances",
                    json!({"project": "untrusted", "trust": true, "permission_mode": "yolo"}),
                ),
                422,
                is("invalid permission_mode 'yolo'"),
            ),
        ])
        .await;
    let projects = get("/api/projects").send(&bench.server.base).await.json();
    let untrusted = projects
        .as_array()
        .expect("projects")
        .iter()
        .find(|p| p["name"] == "untrusted")
        .expect("listed");
    assert_eq!(untrusted["trust_state"], "untrusted", "{untrusted}");
}

#[tokio::test]
async fn row_20_spawn_over_max_bridges() {
    let bench = Bench::with_config("instance_defaults:\n  max_bridges: 1\n");
    let first = bench.server.start_bridge("alpha").await;
    assert_eq!(first.0, 201, "{}", first.1);
    bench
        .refuses(
            20,
            post("/api/instances", json!({"project": "beta"})),
            409,
            &is("max_bridges=1 reached (1 live); stop a bridge before starting another"),
        )
        .await;
}

#[tokio::test]
async fn row_22_trust_over_an_unusable_global_file() {
    let nested = format!("{}{}", "[".repeat(200), "]".repeat(200));
    for (shown, bytes) in [
        ("invalid JSON", b"{\"projects\": {\"/x\": \n".to_vec()),
        ("an array", b"[1, 2]\n".to_vec()),
        (
            "nested 200 deep",
            format!("{{\"projects\": {nested}}}").into_bytes(),
        ),
    ] {
        let sandbox = Sandbox::new();
        sandbox.project("alpha", &[]);
        std::fs::create_dir_all(sandbox.home()).expect("HOME");
        let file = sandbox.home().join(".claude.json");
        std::fs::write(&file, &bytes).expect("write the global file");
        let bench = Bench::start(sandbox, &[]);
        let cannot = format!("cannot update {}: ", file.display());
        // The trust routes carry 1.3.2's prefix (issue 18); a start names the file directly.
        let on_trust = starts(format!("could not update trust state: {cannot}"));
        let on_start = starts(cannot.clone());
        for (request, refused) in [
            (post("/api/projects/alpha/trust", json!({})), &on_trust),
            (post("/api/projects/trust-all", json!({})), &on_trust),
            (
                post("/api/instances", json!({"project": "alpha", "trust": true})),
                &on_start,
            ),
        ] {
            let answer = bench.refuses(22, request, 409, refused).await;
            assert!(
                detail_of(&answer).ends_with("Clauster did not change it"),
                "{shown}: {}",
                answer.body
            );
        }
        assert_eq!(std::fs::read(&file).expect("still there"), bytes, "{shown}");
    }
}
