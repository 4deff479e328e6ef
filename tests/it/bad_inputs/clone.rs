//! Rows 35–43: cloning, under the real URL policy of `clauster run`.

use super::*;

// Rows 35–43: cloning, under the real URL policy of `clauster run`.
#[tokio::test]
async fn rows_35_to_40_and_42_clone_refusals() {
    let sandbox = usual_sandbox();
    let bench = Bench::start(sandbox, &[]);
    let clone = |url: &str| post("/api/projects/clone", json!({"name": "fresh", "url": url}));
    let schemes = "permitted: ['https', 'ssh']";
    let long = format!("https://example.com/{}", "a".repeat(2030));
    let mut cases = vec![
        (
            35,
            clone("http://example.com/x"),
            422,
            is(format!("scheme 'http' not allowed; {schemes}")),
        ),
        (
            35,
            clone("file:///etc"),
            422,
            is(format!("scheme 'file' not allowed; {schemes}")),
        ),
        (
            35,
            clone("git@host:x/y"),
            422,
            is("clone URL must have a scheme"),
        ),
        (
            38,
            clone("https://user:pw@host/x"),
            422,
            is("credentials in the clone URL are not allowed"),
        ),
        (
            39,
            clone("https://example.com/x\u{7}"),
            422,
            is("clone URL must not contain whitespace or control characters"),
        ),
        (
            39,
            clone(&long),
            422,
            is("clone URL is longer than 2048 characters"),
        ),
        (
            40,
            clone("https://does-not-exist.invalid/x"),
            422,
            is("could not resolve host 'does-not-exist.invalid'"),
        ),
        (
            42,
            post(
                "/api/projects/clone/0123456789abcdef0123456789abcdef/cancel",
                json!({}),
            ),
            404,
            starts("unknown or expired clone job"),
        ),
    ];
    for (url, host, ip) in support::inprocess::ALWAYS_BLOCKED {
        cases.push((
            36,
            clone(url),
            403,
            starts(format!("host '{host}' resolves to blocked address {ip}")),
        ));
    }
    cases.push((
        37,
        clone("https://10.0.0.5/x"),
        403,
        starts("host '10.0.0.5' resolves to blocked address 10.0.0.5"),
    ));
    bench.table(cases).await;
}

#[tokio::test]
async fn rows_36_37_and_42_with_private_hosts_allowed() {
    let bench = Bench::with_config("clone:\n  allow_private_hosts: true\n");
    let clone = |url: &str| post("/api/projects/clone", json!({"name": "fresh", "url": url}));
    for (url, host, ip) in support::inprocess::ALWAYS_BLOCKED {
        bench
            .refuses(
                36,
                clone(url),
                403,
                &starts(format!("host '{host}' resolves to blocked address {ip}")),
            )
            .await;
    }
    // Row 37's other half: a private address is admitted with the opt-in.
    let admitted = clone("https://10.0.0.5/x").send(&bench.server.base).await;
    assert_eq!(admitted.status, 202, "{}", admitted.body);
    let job = admitted.json()["job_id"]
        .as_str()
        .expect("job id")
        .to_owned();
    let cancel = format!("/api/projects/clone/{job}/cancel");
    let first = post(&cancel, json!({})).send(&bench.server.base).await;
    assert!(matches!(first.status, 202 | 409), "{}", first.body);
    let mut ended = None;
    for _ in 0..300 {
        let answer = post(&cancel, json!({})).send(&bench.server.base).await;
        if answer.status == 409 {
            ended = Some(answer);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Row 42: a finished job cannot be cancelled.
    let ended = ended.expect("the job ended");
    assert!(
        detail_of(&ended).starts_with("clone job is already "),
        "{}",
        ended.body
    );
    let again = bench
        .refuses(
            42,
            post(&cancel, json!({})),
            409,
            &starts("clone job is already "),
        )
        .await;
    assert_eq!(again.json(), ended.json());
    assert!(
        !bench.sandbox.projects_root().join("fresh").exists(),
        "a cancelled clone leaves nothing"
    );
}

#[tokio::test]
async fn row_41_clone_disabled() {
    let bench = Bench::with_config("clone:\n  enabled: false\n");
    for body in [
        json!({"name": "fresh", "url": "https://example.com/x"}),
        json!({}),
    ] {
        bench
            .refuses(
                41,
                post("/api/projects/clone", body),
                403,
                &is("clone is disabled in config"),
            )
            .await;
    }
}

/// Row 43 needs three clones that hang: served in process so the test URL policy can admit a
/// silent listener on 127.0.0.1 (the only seam for that, README §Workspace).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_43_a_fourth_concurrent_clone() {
    use clauster_core::clone::UrlPolicy;
    use clauster_core::config::{ConfigInput, IpNet};

    let sandbox = Sandbox::new();
    let claude = fake_claude(&sandbox);
    std::fs::create_dir_all(sandbox.projects_root()).expect("projects_root");
    std::fs::create_dir_all(sandbox.state_dir()).expect("state_dir");
    std::fs::set_permissions(
        sandbox.state_dir(),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .expect("chmod state_dir");
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let silent_port = silent.local_addr().expect("address").port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            held.push(stream);
        }
    });
    let text = format!(
        "projects_root: {root}\nstate_dir: {state}\nclaude:\n  binary: {claude}\n  config_dir: {home}/.claude\nclone:\n  allowed_schemes: [git]\n  timeout_seconds: 120\n",
        root = sandbox.projects_root().display(),
        state = sandbox.state_dir().display(),
        claude = claude.display(),
        home = sandbox.home().display(),
    );
    let loaded = clauster_core::config::load(&ConfigInput {
        text: Some(text),
        home: Some(sandbox.home()),
        ..ConfigInput::default()
    })
    .expect("a valid test config");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(clauster_server::serve(
        clauster_server::ServerConfig {
            config: loaded.config,
            config_file: None,
            session_secret: None,
            load_input: ConfigInput::default(),
        },
        listener,
        async move {
            let _ = stopped.await;
        },
        clauster_server::ServeOptions {
            clone_url_policy: UrlPolicy::real()
                .admitting(IpNet::parse("127.0.0.1").expect("a network")),
            ..clauster_server::ServeOptions::default()
        },
    ));
    let up = wait_for(Duration::from_secs(20), || {
        std::net::TcpStream::connect(base.trim_start_matches("http://")).ok()
    });
    assert!(up.is_some() && !served.is_finished(), "serve did not start");

    let clone = |name: &str| {
        post(
            "/api/projects/clone",
            json!({"name": name, "url": format!("git://127.0.0.1:{silent_port}/{name}.git")}),
        )
    };
    let mut jobs = Vec::new();
    for name in ["one", "two", "three"] {
        let answer = clone(name).send(&base).await;
        assert_eq!(answer.status, 202, "{}", answer.body);
        jobs.push(answer.json()["job_id"].as_str().expect("job").to_owned());
    }
    let refused = clone("four").send(&base).await;
    assert_eq!(
        (refused.status, refused.json()),
        (
            429,
            json!({"detail": "too many clones in progress; wait for one to finish"})
        )
    );
    let active = get("/api/projects/clone/active").send(&base).await.json();
    assert_eq!(active["jobs"].as_array().map(Vec::len), Some(3), "{active}");
    // The three running jobs make their own temporary directories; nothing is the fourth's.
    let fourth: Vec<String> = std::fs::read_dir(sandbox.projects_root())
        .expect("read")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains("four"))
        .collect();
    assert!(fourth.is_empty(), "{fourth:?}");
    for job in &jobs {
        let cancelled = post(format!("/api/projects/clone/{job}/cancel"), json!({}))
            .send(&base)
            .await;
        assert_eq!(cancelled.status, 202, "{}", cancelled.body);
    }
    drop(stop);
}
