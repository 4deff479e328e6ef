//! `/openapi.json` and `/docs` through the real `clauster run` process (http-api.md §3.3):
//! not served unless `api.openapi_enabled`, open with auth off, and with auth on a 401 (not a
//! login redirect) until a credential comes.

use crate::support;

use serde_json::Value;
use support::{Sandbox, sha256_hex, start_server, write_config};

async fn get(base: &str, path: &str, bearer: Option<&str>) -> (u16, String) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client");
    let mut request = client
        .get(format!("{base}{path}"))
        .header("accept", "text/html,application/json");
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("request");
    (
        response.status().as_u16(),
        response.text().await.unwrap_or_default(),
    )
}

#[tokio::test]
async fn the_openapi_document_is_served_only_when_enabled_and_gated_like_the_api() {
    const TOKEN: &str = "clauster_pat_openapi-test-token";
    let hash = sha256_hex(TOKEN);

    // Off (the default), even for a caller with a valid token: 404, as is /redoc always.
    let off = Sandbox::new();
    off.project("alpha", &[]);
    write_config(
        &off,
        &format!("auth:\n  enabled: true\n  api_token_hash: {hash}\n"),
    );
    let server = start_server(&off, None, &[], &[]);
    for path in ["/openapi.json", "/docs", "/redoc"] {
        assert_eq!(get(&server.base, path, Some(TOKEN)).await.0, 404, "{path}");
    }
    // Without a credential too, rather than a login redirect that hints at them.
    for path in ["/openapi.json", "/docs"] {
        assert_eq!(get(&server.base, path, None).await.0, 404, "{path}");
    }
    drop(server);

    // On with auth off: open; the document names the versioned routes and the wire types.
    let open = Sandbox::new();
    open.project("alpha", &[]);
    write_config(&open, "api:\n  openapi_enabled: true\n");
    let server = start_server(&open, None, &[], &[]);
    let (status, body) = get(&server.base, "/openapi.json", None).await;
    assert_eq!(status, 200, "{body}");
    let document: Value = serde_json::from_str(&body).expect("JSON");
    assert!(document["openapi"].as_str().unwrap().starts_with("3."));
    for path in ["/api/v1/projects", "/api/v1/agents", "/api/instances"] {
        assert!(document["paths"][path].is_object(), "{path}");
    }
    assert!(document["components"]["schemas"]["Instance"].is_object());
    let (status, page) = get(&server.base, "/docs", None).await;
    assert_eq!(status, 200);
    assert!(page.contains("<a href=\"/openapi.json\">"), "{page}");
    assert!(page.contains("<code>/api/v1/projects</code>"));
    assert!(!page.contains("<script"), "loads nothing");
    drop(server);

    // On with auth on: 401 JSON without a credential (also for the page), 200 with one.
    let gated = Sandbox::new();
    gated.project("alpha", &[]);
    write_config(
        &gated,
        &format!(
            "api:\n  openapi_enabled: true\nauth:\n  enabled: true\n  api_token_hash: {hash}\n"
        ),
    );
    let server = start_server(&gated, None, &[], &[]);
    for path in ["/openapi.json", "/docs"] {
        let (status, body) = get(&server.base, path, None).await;
        assert_eq!(status, 401, "{path}");
        assert_eq!(body, r#"{"detail":"authentication required"}"#, "{path}");
        assert_eq!(get(&server.base, path, Some(TOKEN)).await.0, 200, "{path}");
    }
}
