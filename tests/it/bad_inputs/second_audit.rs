//! Rows 60–78: the second security audit (issue 16) and the dashboard URL.

use super::*;

// Rows 60–75: the second security audit (issue 16). The rows that need a flood, a second
// user or a wrapped server are run at full size by `attacks.rs` (named per row below); the
// rest are here with the world compared before and after.
#[tokio::test]
#[allow(clippy::too_many_lines)] // one table
async fn rows_62_to_64_and_72_to_74_the_second_audit() {
    let sandbox = usual_sandbox();
    let alpha = sandbox.projects_root().join("alpha");
    let beta = sandbox.projects_root().join("beta");
    std::fs::write(beta.join(".mcp.json"), vec![b' '; 2 * 1024 * 1024]).expect("write");
    std::fs::write(beta.join("CLAUDE.md"), vec![b'x'; 70_000]).expect("write");
    let bench = Bench::start(sandbox, &[]);
    // Planted after startup: only the request below looks at it.
    std::os::unix::fs::symlink("/dev/zero", alpha.join(".mcp.json")).expect("symlink");

    // Row 62: `.mcp.json` linked out of the project, or over the 1 MiB cap: a warning, and
    // nothing read.
    for (project, expected) in [
        (
            "alpha",
            ".mcp.json resolves outside the project directory; Clauster does not read it",
        ),
        (
            "beta",
            ".mcp.json is 2097152 bytes, over the 1048576 byte cap; Clauster does not read it",
        ),
    ] {
        let answer = bench
            .refuses(
                62,
                get(format!("/api/projects/{project}/preflight")),
                200,
                &Detail::Any,
            )
            .await;
        let check = answer.json()["checks"]
            .as_array()
            .expect("checks")
            .iter()
            .find(|c| c["name"] == "mcp-approval")
            .cloned()
            .expect("an mcp-approval check");
        assert_eq!(check["status"], "warn", "row 62 {project}");
        assert_eq!(check["detail"], expected, "row 62 {project}");
    }

    let long = "a".repeat(3000);
    let mut cases = vec![
        // Row 63: a CLAUDE.md over the cap on disk.
        (
            63,
            get("/api/projects/beta/claude-md"),
            413,
            is("CLAUDE.md is 70000 bytes, over the 65536 byte cap"),
        ),
        // Row 73: references are bounded and echoed through the echo rule.
        (
            73,
            get(format!("/api/instances/{long}")),
            404,
            is(format!("no such instance: {}", "a".repeat(80))),
        ),
        (
            73,
            get("/api/instances/ab%E2%80%AEcd"),
            404,
            is("no such instance: ab\\u{202e}cd"),
        ),
        (
            73,
            delete(format!("/api/instances/{long}")),
            404,
            starts("no managed instance"),
        ),
    ];
    // Row 73 (release review): a query value is echoed bounded too, not only escaped.
    let since = format!("\u{1b}{}", "a".repeat(3000));
    cases.push((
        73,
        get(format!(
            "/api/projects/alpha/usage/daily?since=%1B{}",
            "a".repeat(3000)
        )),
        422,
        is(format!(
            "since must be a date like 2026-11-25 (YYYY-MM-DD, UTC), got '{}'",
            clauster_core::names::echo(&since)
        )),
    ));
    // Row 64: a Host that is not this server's, on any route.
    for path in ["/api/state", "/healthz", "/"] {
        cases.push((
            64,
            get(path).header("host", "evil.example:7621"),
            421,
            is(
                "Host 'evil.example' is not one this server answers to; add its origin to \
                auth.allowed_origins",
            ),
        ));
    }
    // Row 72: translated IPv6 spellings of loopback and link-local.
    for (host, ip) in [
        ("[64:ff9b:1::7f00:1]", "64:ff9b:1::7f00:1"),
        ("[::ffff:0:a9fe:a9fe]", "169.254.169.254"),
        (
            "[2001:0:4136:e378:8000:63bf:80ff:fffe]",
            "2001:0:4136:e378:8000:63bf:80ff:fffe",
        ),
    ] {
        cases.push((
            72,
            post(
                "/api/projects/clone",
                json!({"name": "x", "url": format!("https://{host}/x.git")}),
            ),
            403,
            starts(format!(
                "host '{}' resolves to blocked address {ip} ",
                host.trim_matches(['[', ']'])
            )),
        ));
    }
    // Row 74: invisible formatting characters in what reaches claude's argv.
    for (field, value) in [("rc_name", "deploy\u{202e}gnp"), ("model", "opus\u{200b}")] {
        cases.push((
            74,
            post(
                "/api/agents",
                json!({"project": "alpha", "prompt": "hi", field: value}),
            ),
            422,
            is(format!(
                "{field} must not start with '-' or contain control or invisible characters"
            )),
        ));
    }
    bench.table(cases).await;
}

/// Row 67: a forward-auth caller with a foreign `Origin` (a cross-site `text/plain` form
/// through the proxy) is refused; one without an `Origin` (a script) passes the rule.
#[tokio::test]
async fn row_67_forward_auth_is_held_to_a_present_origin() {
    let bench = Bench::with_config(
        "auth:\n  enabled: true\n  allowed_origins: ['https://dash.example.net']\n  reverse_proxy:\n    enabled: true\n    trusted_ips: ['127.0.0.1']\n    require_hmac: false\n",
    );
    let form = |origin: Option<&str>| {
        let request = Request::new(
            reqwest::Method::POST,
            "/api/instances",
            Body::Raw(br#"{"project": "alpha"}"#.to_vec()),
        )
        .header("remote-user", "alice");
        match origin {
            Some(origin) => request.header("origin", origin),
            None => request,
        }
    };
    bench
        .refuses(
            67,
            form(Some("https://evil.example")),
            403,
            &is("origin check failed"),
        )
        .await;
    let scripted = form(None).send(&bench.server.base).await;
    assert_eq!(scripted.status, 201, "row 67, no Origin: {}", scripted.body);
}

/// Row 78: the dashboard's `sort` and `q` come from the URL (issue 19): an unknown sort is
/// the default order, and the search text is cut and never reaches the page as markup.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_78_the_dashboard_url_carries_no_markup_and_no_unknown_sort() {
    let sandbox = Sandbox::new();
    sandbox.project("alpha", &[]);
    sandbox.project("beta", &[]);
    let server = start_server(&sandbox, None, &[], &[]);
    let page = |query: String| {
        let base = server.base.clone();
        async move {
            let response = reqwest::get(format!("{base}/?{query}")).await.unwrap();
            assert_eq!(response.status(), 200, "row 78: {query}");
            response.text().await.unwrap()
        }
    };
    let html = page("sort=..%2F..%2Fetc&q=%3Cscript%3Ealert(1)%3C%2Fscript%3E".to_owned()).await;
    assert!(
        !html.contains("<script>alert(1)"),
        "row 78: markup from q reached the page"
    );
    assert!(
        html.contains("\"sort\":\"\""),
        "row 78: an unknown sort was kept"
    );
    let html = page(format!("q={}", "a".repeat(5_000))).await;
    assert!(
        html.contains(&format!("\"q\":\"{}\"", "a".repeat(200))),
        "row 78: q not cut"
    );
    assert!(
        !html.contains(&"a".repeat(201)),
        "row 78: q longer than 200 characters"
    );
}
