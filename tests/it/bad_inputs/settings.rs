//! Rows 91–98: the settings editor (issue 23.1).

use super::*;

#[tokio::test]
async fn rows_91_to_95_settings_editor_refusals() {
    let bench = Bench::with_config(SETTINGS_FILE);
    let hash = settings_hash(&bench).await;
    let edit =
        |key: &str, value: Value| put("/api/config", json!({"edits": {key: value}, "hash": hash}));
    let outside = |key: &str| {
        is(format!(
            "\"{key}\" is not an editable setting here; GET /api/config lists those that are"
        ))
    };
    bench
        .table(vec![
            // Row 91: keys outside the list, secret or not, known or not.
            (91, edit("auth.enabled", json!(false)), 400, outside("auth.enabled")),
            (91, edit("host", json!("0.0.0.0")), 400, outside("host")),
            (91, edit("claude.binary", json!("/bin/sh")), 400, outside("claude.binary")),
            (91, edit("webhooks.urls", json!([])), 400, outside("webhooks.urls")),
            (91, edit("clone.enabled", json!(true)), 400, outside("clone.enabled")),
            (91, edit("usage", json!({})), 400, outside("usage")),
            // Row 92: the body's shape.
            (92, put("/api/config", json!({"hash": hash})), 422, is("edits is required")),
            (
                92,
                put("/api/config", json!({"edits": {"usage.fx_rate": 2.0}})),
                422,
                is("hash is required: send the hash of the GET this edit is based on"),
            ),
            (
                92,
                put("/api/config", json!({"edits": [], "hash": hash})),
                422,
                is("edits must be an object of dotted keys to values"),
            ),
            (
                92,
                put("/api/config", json!({"edits": {}, "hash": hash})),
                422,
                is("edits must name at least one key"),
            ),
            (92, put("/api/config", json!([1])), 422, is("request body must be a JSON object")),
            // Row 93: types and ranges.
            (
                93,
                edit("instance_defaults.capacity", json!(0)),
                422,
                is("instance_defaults.capacity must be at least 1, got 0"),
            ),
            (
                93,
                edit("claude.startup_grace_seconds", json!(0)),
                422,
                is("claude.startup_grace_seconds must be above 0, got 0"),
            ),
            (
                93,
                edit("usage.currency", json!("EUR\nauth: {enabled: false}")),
                422,
                is("usage.currency must be one line of at most 200 characters"),
            ),
            (93, edit("usage.mode", json!("never")), 422, is("usage.mode must be one of cost, tokens, off")),
            (93, edit("metrics.show_disk", json!("yes")), 422, is("metrics.show_disk must be a boolean")),
            // Row 94: a value only the loader's rules refuse.
            (
                94,
                edit("usage.currency", json!("EURO")),
                422,
                starts("the edited configuration is not valid: usage.currency must be a three-letter currency code"),
            ),
            // Row 95: the file changed since the GET.
            (
                95,
                put("/api/config", json!({"edits": {"usage.fx_rate": 2.0}, "hash": "stale"})),
                409,
                is("clauster.yml changed on disk since it was loaded; reload to see the new file, or save again over it"),
            ),
        ])
        .await;
}

/// Rows 96–97: files the settings editor will not write, and no file at all.
#[tokio::test]
async fn rows_96_97_settings_files_the_editor_will_not_write() {
    let bench = Bench::with_config(SETTINGS_FILE);
    // Row 96: the edited key is in flow style, behind an anchor, or the file does not parse.
    for (text, reason) in [
        (
            "usage: {fx_rate: 1.0}\n",
            "usage.fx_rate is written in YAML flow style",
        ),
        (
            "base: &b\n  fx_rate: 2.0\nusage: *b\n",
            "usage.fx_rate is behind a YAML anchor",
        ),
        (
            "usage:\n  fx_rate: [1.0\n",
            "clauster.yml does not parse as YAML",
        ),
    ] {
        std::fs::write(bench.sandbox.dir.path().join("clauster.yml"), text).expect("write");
        let answer = get("/api/config").send(&bench.server.base).await;
        assert_eq!(
            answer.status, 200,
            "a file that does not edit still opens: {}",
            answer.body
        );
        let hash = answer.json()["hash"].as_str().expect("a hash").to_owned();
        bench
            .refuses(
                96,
                put(
                    "/api/config",
                    json!({"edits": {"usage.fx_rate": 2.0}, "hash": hash}),
                ),
                409,
                &starts(reason),
            )
            .await;
    }
    // Row 97: the configuration came from no file (built-in defaults).
    let bare = Bench::start(usual_sandbox(), &[]);
    let answer = get("/api/config").send(&bare.server.base).await;
    assert_eq!(answer.json()["hash"], Value::Null, "{}", answer.body);
    bare.refuses(
        97,
        put(
            "/api/config",
            json!({"edits": {"usage.fx_rate": 2.0}, "hash": "x"}),
        ),
        409,
        &is("config has no on-disk source to edit"),
    )
    .await;
    // The hash the GET gave (null) sent back as it is gets the same answer.
    bare.refuses(
        97,
        put(
            "/api/config",
            json!({"edits": {"usage.fx_rate": 2.0}, "hash": null}),
        ),
        409,
        &is("config has no on-disk source to edit"),
    )
    .await;
}

/// Row 98: the advanced list's GET and PUT from the session `cookie` are both refused with
/// `status` and `detail`.
async fn advanced_refused(bench: &Bench, cookie: &str, status: u16, detail: &str) {
    for request in [
        get("/api/config/advanced"),
        put(
            "/api/config/advanced",
            json!({"edits": {"clone.max_mb": 5}, "hash": "x"}),
        ),
    ] {
        let request = request.session(cookie, &bench.server.base);
        bench.refuses(98, request, status, &is(detail)).await;
    }
}

/// Row 98: the advanced list is invisible without `config_write.enabled`, and needs the
/// step-up from a cookie session; its own list only.
#[tokio::test]
async fn row_98_the_advanced_settings_are_gated() {
    let off = Bench::start(password_sandbox(""), &[]);
    let session = session_cookie(&off).await;
    advanced_refused(&off, &session, 404, "Not Found").await;
    let on = Bench::start(password_sandbox("config_write:\n  enabled: true\n"), &[]);
    let session = session_cookie(&on).await;
    let origin = on.server.base.clone();
    advanced_refused(&on, &session, 403, "reauth_required").await;
    // Stepped up: the basic list's keys (and anything else) are still outside it.
    let ok = reauth(
        &on,
        Some(&session),
        json!({ "password": PASSWORD }).to_string().as_bytes(),
    )
    .send(&on.server.base)
    .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let elevation = ok
        .header("set-cookie")
        .split(';')
        .next()
        .expect("cookie")
        .to_owned();
    let cookies = format!("{session}; {elevation}");
    let view = get("/api/config/advanced")
        .header("cookie", &cookies)
        .send(&on.server.base)
        .await;
    assert_eq!(view.status, 200, "{}", view.body);
    let hash = view.json()["hash"].as_str().expect("a hash").to_owned();
    for key in ["usage.fx_rate", "auth.enabled", "webhooks.secret"] {
        on.refuses(
            98,
            put("/api/config/advanced", json!({"edits": {key: true}, "hash": hash}))
                .session(&cookies, &origin),
            400,
            &is(format!(
                "\"{key}\" is not an editable setting here; GET /api/config/advanced lists those that are"
            )),
        )
        .await;
    }
    on.refuses(
        98,
        put(
            "/api/config/advanced",
            json!({"edits": {"clone.allowed_private_cidrs": ["not-a-cidr"]}, "hash": hash}),
        )
        .session(&cookies, &origin),
        422,
        &starts("the edited configuration is not valid: clone.allowed_private_cidrs"),
    )
    .await;
}
