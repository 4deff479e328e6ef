//! Rows 23–34 and 150: instance references, the CLAUDE.md editor and the row route.

use super::*;

// Rows 23–27: instance references.
#[tokio::test]
#[allow(clippy::too_many_lines)] // one table, one server
async fn rows_23_to_27_references() {
    let sandbox = usual_sandbox();
    let crashy = sandbox.project("crashy", &[]);
    fake_mode(&crashy, "crash");
    let stall = sandbox.project("stall", &[]);
    fake_mode(&stall, "stall");
    let alpha = sandbox.projects_root().join("alpha");
    let beta = sandbox.projects_root().join("beta");
    trust_all(&sandbox, &[&alpha, &beta, &crashy, &stall]);
    let bench = Bench::start(sandbox, &[]);

    bench
        .refuses(
            23,
            get("/api/instances/zzz"),
            404,
            &is("no such instance: zzz"),
        )
        .await;

    // Dead records in `crashy` until two ids share a first character (at most 17).
    let mut ids: Vec<String> = Vec::new();
    let shared = loop {
        let (status, body) = bench.server.start_bridge("crashy").await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["status"], "error", "{body}");
        let id = body["instance_id"].as_str().expect("id").to_owned();
        if let Some(twin) = ids.iter().find(|other| other[..1] == id[..1]) {
            break (twin.clone(), id);
        }
        ids.push(id);
        assert!(ids.len() <= 16, "pigeonhole");
    };
    let prefix = &shared.0[..1];
    let mut matching: Vec<&str> = ids
        .iter()
        .map(String::as_str)
        .chain([shared.1.as_str()])
        .filter(|id| id.starts_with(prefix))
        .collect();
    matching.sort_unstable();
    let answer = bench
        .refuses(
            24,
            get(format!("/api/instances/{prefix}")),
            409,
            &starts(format!("ambiguous '{prefix}' — matches ")),
        )
        .await;
    let detail = answer.json()["detail"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(detail.ends_with("; use more characters"), "{detail}");
    for id in &matching {
        assert!(detail.contains(id), "{detail} names {id}");
    }
    // Row 25: a project name with several dead instances.
    let answer = bench
        .refuses(
            25,
            get("/api/instances/crashy"),
            409,
            &starts("ambiguous 'crashy' — matches "),
        )
        .await;
    assert!(
        detail_of(&answer).ends_with("; use an instance id directly"),
        "{}",
        answer.body
    );
    for request in [
        delete("/api/instances/crashy"),
        post("/api/instances/crashy/forget", json!({})),
    ] {
        bench
            .refuses(25, request, 409, &starts("ambiguous 'crashy' — matches "))
            .await;
    }

    // One live and one dead in `alpha`: the name means the live one.
    let (status, first) = bench.server.start_bridge("alpha").await;
    assert_eq!(status, 201, "{first}");
    let first_id = first["instance_id"].as_str().expect("id").to_owned();
    let stopped = delete(format!("/api/instances/{first_id}"))
        .send(&bench.server.base)
        .await;
    assert_eq!(stopped.status, 200, "{}", stopped.body);
    let (status, live) = bench.server.start_bridge("alpha").await;
    assert_eq!(status, 201, "{live}");
    let live_id = live["instance_id"].as_str().expect("id").to_owned();
    let pid = live["bridge_pid"].as_i64().expect("pid");
    let resolved = get("/api/instances/alpha").send(&bench.server.base).await;
    assert_eq!(resolved.status, 200, "{}", resolved.body);
    assert_eq!(resolved.json()["instance_id"], live_id.as_str());

    // Row 26: forget a running instance.
    bench
        .refuses(
            26,
            post(format!("/api/instances/{live_id}/forget"), json!({})),
            409,
            &is(format!("instance '{live_id}' is still live; stop it first")),
        )
        .await;
    assert!(process_exists(pid), "the bridge was not touched");

    // Row 27: a bridge that never registers has no link yet.
    let (status, stalled) = bench.server.start_bridge("stall").await;
    assert_eq!(status, 201, "{stalled}");
    let stalled_id = stalled["instance_id"].as_str().expect("id").to_owned();
    bench
        .refuses(
            27,
            get(format!("/api/instances/{stalled_id}/qr")),
            409,
            &is("no session URL available yet"),
        )
        .await;
}

// Rows 28–34: the CLAUDE.md editor.
#[tokio::test]
async fn rows_28_to_34_claude_md() {
    let sandbox = usual_sandbox();
    let alpha = sandbox.projects_root().join("alpha");
    std::fs::write(alpha.join("CLAUDE.md"), "# alpha\n").expect("write CLAUDE.md");
    let linked = sandbox.project("linked", &[]);
    std::os::unix::fs::symlink("/etc/passwd", linked.join("CLAUDE.md")).expect("symlink");
    let latin1 = sandbox.project("latin1", &[]);
    std::fs::write(latin1.join("CLAUDE.md"), b"caf\xe9\n").expect("write");
    let beta = sandbox.projects_root().join("beta");
    trust_all(&sandbox, &[&alpha, &beta, &linked, &latin1]);
    let passwd = std::fs::read("/etc/passwd").ok();
    let bench = Bench::start(sandbox, &[]);
    let hash = sha256_hex(b"# alpha\n");
    let md = "/api/projects/alpha/claude-md";
    let untrusted = canonical(&bench.sandbox.projects_root().join("untrusted"));
    let cases = vec![
        (
            28,
            put(md, json!({"content": 5})),
            422,
            is("content must be a string"),
        ),
        (
            28,
            put(md, json!({"content": "x", "base_sha256": 1})),
            422,
            is("base_sha256 must be a string"),
        ),
        (
            29,
            put(md, json!({"content": "a".repeat(65_537)})),
            413,
            is("CLAUDE.md is 65537 bytes, over the 65536 byte cap"),
        ),
        (
            30,
            put(
                md,
                json!({"content": "x", "base_sha256": sha256_hex(b"stale")}),
            ),
            409,
            is("CLAUDE.md changed on disk since it was loaded"),
        ),
        (
            31,
            put("/api/projects/untrusted/claude-md", json!({"content": "x"})),
            403,
            is(format!("{untrusted} is not a trusted directory")),
        ),
        (
            32,
            get("/api/projects/linked/claude-md"),
            422,
            is("CLAUDE.md resolves outside the project directory"),
        ),
        (
            32,
            put(
                "/api/projects/linked/claude-md",
                json!({"content": "pwned\n"}),
            ),
            422,
            is("CLAUDE.md resolves outside the project directory"),
        ),
        (
            33,
            get("/api/projects/latin1/claude-md"),
            422,
            is("CLAUDE.md is not valid UTF-8"),
        ),
        (
            34,
            put(md, json!({"content": "a\u{0}b"})),
            422,
            is("content must not contain NUL characters"),
        ),
    ];
    bench.table(cases).await;
    let stale = bench
        .refuses(
            30,
            put(md, json!({"content": "x", "base_sha256": "not-a-hash"})),
            409,
            &is("CLAUDE.md changed on disk since it was loaded"),
        )
        .await;
    assert_eq!(stale.json()["current_sha256"], hash.as_str());
    assert_eq!(
        std::fs::read("/etc/passwd").ok(),
        passwd,
        "the link target is untouched"
    );
    // Row 29's other half: exactly the cap is accepted.
    let at_cap = "b".repeat(65_536);
    let accepted = put(md, json!({"content": at_cap, "base_sha256": hash}))
        .send(&bench.server.base)
        .await;
    assert_eq!(accepted.status, 200, "{}", accepted.body);
    assert_eq!(
        std::fs::read(bench.sandbox.projects_root().join("alpha/CLAUDE.md")).expect("written"),
        at_cap.as_bytes()
    );
}

/// Row 150: `GET /api/projects/{name}/row` (1.3.2's card fragment, not served here) checks
/// the name first like every project route: an invalid one is 422, an unknown one 404 with
/// the project-not-found wording, and a known one is still 404 (issue 18).
#[tokio::test]
async fn row_150_the_row_fragment_route_checks_the_name_first() {
    let bench = Bench::start(usual_sandbox(), &[]);
    bench
        .table(vec![
            (
                150,
                get("/api/projects/bad%20name!/row"),
                422,
                invalid_name("bad name!"),
            ),
            (
                150,
                get("/api/projects/ghostproj/row"),
                404,
                is("project 'ghostproj' not found"),
            ),
            (
                150,
                get("/api/projects/alpha/row"),
                404,
                is("project rows are rendered by the dashboard in the browser; this route is not served"),
            ),
        ])
        .await;
}
