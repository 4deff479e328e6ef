//! The user guide served by the binary (`/guide`, the help drawer's links): every page of the
//! book's guide and references, links between them rewritten, behind the same auth as the
//! dashboard.

use crate::support::{Sandbox, sha256_hex, start_server};

async fn get(url: &str, token: Option<&str>) -> (u16, String) {
    let mut request = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(url)
        .header("Accept", "text/html");
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

#[tokio::test]
async fn the_guide_is_served_with_its_links_and_404s_unknown_pages() {
    let sandbox = Sandbox::new();
    sandbox.project("alpha", &[]);
    let server = start_server(&sandbox, None, &[], &[]);

    let (status, index) = get(&format!("{}/guide", server.base), None).await;
    assert_eq!(status, 200, "{index}");
    for page in [
        "/guide/first-run",
        "/guide/securing",
        "/guide/config-keys",
        "/guide/commands",
    ] {
        assert!(
            index.contains(&format!("href=\"{page}\"")),
            "index lacks {page}"
        );
    }

    let (status, page) = get(&format!("{}/guide/securing", server.base), None).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("<h1 id=\"securing-it\">Securing it</h1>"),
        "{page}"
    );
    assert!(!page.contains(".md\""), "a link still points at Markdown");
    assert!(page.contains("href=\"/\""), "no way back to the dashboard");

    let (status, missing) = get(&format!("{}/guide/nope", server.base), None).await;
    assert_eq!(status, 404);
    assert!(missing.contains("No such page"), "{missing}");
    let (status, _) = get(&format!("{}/guide/..%2F..%2FCargo.toml", server.base), None).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn the_guide_needs_the_same_credentials_as_the_dashboard() {
    let sandbox = Sandbox::new();
    sandbox.project("alpha", &[]);
    let token = "guide-test-token";
    let hash = sha256_hex(token);
    let server = start_server(
        &sandbox,
        None,
        &[],
        &[
            ("CLAUSTER_AUTH_ENABLED", "true"),
            ("CLAUSTER_AUTH_API_TOKEN_HASH", &hash),
        ],
    );
    let (dashboard, _) = get(&format!("{}/", server.base), None).await;
    let (guide, _) = get(&format!("{}/guide/first-run", server.base), None).await;
    assert_ne!(dashboard, 200);
    assert_eq!(
        guide, dashboard,
        "the guide answers a stranger like the dashboard does"
    );
    let (status, page) = get(&format!("{}/guide/first-run", server.base), Some(token)).await;
    assert_eq!(status, 200, "{page}");
}

/// Behind a path prefix, `<root>/` (where the login and every "back" link go) redirects to the
/// dashboard at `<root>` (release review F2: it was an empty 404), keeping the query; the
/// guide's links carry the prefix.
#[tokio::test]
async fn behind_a_root_path_the_slash_leads_to_the_dashboard() {
    let sandbox = Sandbox::new();
    sandbox.project("alpha", &[]);
    let server = start_server(&sandbox, None, &[], &[("CLAUSTER_ROOT_PATH", "/cl")]);
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/cl/?q=alpha", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 308);
    assert_eq!(response.headers()["location"], "/cl?q=alpha");
    let (status, page) = get(&format!("{}/cl", server.base), None).await;
    assert_eq!(status, 200);
    assert!(page.contains("<html"), "{page}");
    let (status, guide) = get(&format!("{}/cl/guide/first-run", server.base), None).await;
    assert_eq!(status, 200);
    assert!(
        guide.contains("href=\"/cl/\""),
        "no way back under the prefix"
    );
    assert!(guide.contains("href=\"/cl/guide\""));
}

/// The guide is part of the UI: with `ui.enabled` off it is 404 like the dashboard (F7).
#[tokio::test]
async fn without_the_ui_the_guide_is_not_served() {
    let sandbox = Sandbox::new();
    sandbox.project("alpha", &[]);
    let server = start_server(&sandbox, None, &[], &[("CLAUSTER_UI_ENABLED", "false")]);
    for path in ["/guide", "/guide/first-run", "/"] {
        let (status, _) = get(&format!("{}{path}", server.base), None).await;
        assert_eq!(status, 404, "{path}");
    }
}
