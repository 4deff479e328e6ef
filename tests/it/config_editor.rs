//! The settings editor through the real server (config.md §8, http-api.md §3.4): a save that
//! applies live reaches open pages and new ones without a restart, a restart key says so,
//! the file keeps its comments and unknown keys, the audit log names keys only, and the
//! advanced list round-trips its list and map keys. Refusals are rows 91–98 of
//! `bad_inputs/`.

use crate::support;

use serde_json::{Value, json};
use support::{call, next_frame_of};

const FILE: &str = "\
# Clauster on the test box
usage:
  # shown on every card
  currency: USD   # until the EUR rate is agreed
  fx_rate: 1.0
  some_future_key: [1, 2]   # a key this version does not know
logs:
  keep_rotated: 5
";

async fn get_config(base: &str, path: &str) -> Value {
    let (status, view) = call(reqwest::Method::GET, &format!("{base}{path}"), None).await;
    assert_eq!(status, 200, "{view}");
    view
}

async fn put_config(base: &str, path: &str, edits: Value, hash: &Value) -> (u16, Value) {
    call(
        reqwest::Method::PUT,
        &format!("{base}{path}"),
        Some(json!({"edits": edits, "hash": hash})),
    )
    .await
}

#[tokio::test]
async fn a_live_setting_reaches_open_pages_and_a_restart_key_says_so() {
    let (sandbox, server) = support::serve_config(FILE);
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("{}/ws/events", server.ws))
        .await
        .expect("connect /ws/events");
    next_frame_of(&mut socket, &["snapshot"]).await;

    let view = get_config(&server.base, "/api/config").await;
    assert_eq!(view["fields"]["usage.currency"], "USD");
    assert_eq!(view["fields"]["usage.fx_rate"], 1.0);
    assert_eq!(view["specs"]["usage.currency"]["applies_live"], true);
    assert_eq!(view["specs"]["usage.fx_rate"]["exclusive_min"], 0.0);
    assert_eq!(view["specs"]["logs.keep_rotated"]["applies_live"], false);
    // The deprecated `usage.show_cost` is not in the file: not shown.
    assert_eq!(view["specs"]["usage.show_cost"]["hidden"], true);
    assert!(
        !view["editable"]
            .as_array()
            .expect("a list")
            .contains(&json!("usage.show_cost"))
    );
    let hash = view["hash"].clone();
    assert_eq!(
        hash,
        support::sha256_hex(FILE.as_bytes()),
        "the hash is the file's bytes"
    );

    // Live: the currency and its rate.
    let (status, saved) = put_config(
        &server.base,
        "/api/config",
        json!({"usage.currency": "EUR", "usage.fx_rate": 0.92}),
        &hash,
    )
    .await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved["restart_required"], false);
    assert_eq!(
        saved["applied_live"],
        json!(["usage.currency", "usage.fx_rate"])
    );
    let frame = next_frame_of(&mut socket, &["settings"]).await;
    assert_eq!(frame["usage"]["currency"], "EUR");
    assert_eq!(frame["usage"]["currency_symbol"], "EUR ");
    assert_eq!(frame["usage"]["fx_rate"], 0.92);
    // A page loaded now carries it too.
    let page = reqwest::get(format!("{}/", server.base))
        .await
        .expect("the page")
        .text()
        .await
        .expect("its text");
    assert!(page.contains("\"currency\":\"EUR\""), "the page context");

    let text = std::fs::read_to_string(sandbox.dir.path().join("clauster.yml")).expect("read");
    assert_eq!(
        text,
        FILE.replace("currency: USD   #", "currency: EUR   #")
            .replace("fx_rate: 1.0", "fx_rate: 0.92"),
        "only the two values changed"
    );
    assert_eq!(saved["hash"], support::sha256_hex(text.as_bytes()));

    // A restart key: saved, shown by the next GET, not applied.
    let (status, saved) = put_config(
        &server.base,
        "/api/config",
        json!({"logs.keep_rotated": 2, "usage.currency_symbol": "€"}),
        &saved["hash"],
    )
    .await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved["restart_required"], true);
    assert_eq!(saved["applied_live"], json!(["usage.currency_symbol"]));
    let view = get_config(&server.base, "/api/config").await;
    assert_eq!(view["fields"]["logs.keep_rotated"], 2);
    assert_eq!(view["fields"]["usage.currency_symbol"], "€");
    assert_eq!(view["hash"], saved["hash"]);

    // Audit: one line per save, key names only.
    let audit =
        std::fs::read_to_string(sandbox.state_dir().join("config_audit.log")).expect("audit");
    let lines: Vec<Value> = audit
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON lines"))
        .collect();
    assert_eq!(lines.len(), 2, "{audit}");
    assert_eq!(lines[0]["surface"], "config");
    assert_eq!(lines[0]["keys"], json!(["usage.currency", "usage.fx_rate"]));
    assert_eq!(
        lines[1]["keys"],
        json!(["logs.keep_rotated", "usage.currency_symbol"])
    );
    assert!(!audit.contains("0.92") && !audit.contains('€'), "{audit}");
    // The file before each save is kept beside it.
    let backups = std::fs::read_dir(sandbox.dir.path())
        .expect("list")
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("clauster.yml.bak-")
        })
        .count();
    assert_eq!(backups, 2);
}

#[tokio::test]
async fn the_advanced_list_round_trips_lists_and_the_events_map() {
    // Auth is off: the step-up does not apply (security.md §3.2).
    let (sandbox, server) = support::serve_config(
        "config_write:\n  enabled: true\nclone:\n  timeout_seconds: 300  # slow mirror\n",
    );
    let view = get_config(&server.base, "/api/config/advanced").await;
    assert_eq!(view["fields"]["clone.timeout_seconds"], 300);
    assert_eq!(
        view["fields"]["clone.allowed_schemes"],
        json!(["https", "ssh"])
    );
    assert_eq!(view["specs"]["webhooks.events"]["type"], "map");
    assert_eq!(
        view["specs"]["webhooks.events"]["map_keys"][3],
        json!({"key": "crash", "default": true})
    );
    assert!(
        view["fields"]
            .as_object()
            .expect("fields")
            .keys()
            .all(|k| k.starts_with("clone.") || k.starts_with("webhooks."))
    );
    let (status, saved) = put_config(
        &server.base,
        "/api/config/advanced",
        json!({
            "clone.allowed_schemes": ["https"],
            "clone.timeout_seconds": 137,
            "webhooks.events": {"crash": false, "permission-needed": true},
        }),
        &view["hash"],
    )
    .await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved["restart_required"], true);
    let view = get_config(&server.base, "/api/config/advanced").await;
    assert_eq!(view["fields"]["clone.allowed_schemes"], json!(["https"]));
    assert_eq!(view["fields"]["clone.timeout_seconds"], 137);
    assert_eq!(view["fields"]["webhooks.events"]["crash"], false);
    assert_eq!(view["fields"]["webhooks.events"]["permission-needed"], true);
    assert_eq!(view["fields"]["webhooks.events"]["spawn"], true);
    let text = std::fs::read_to_string(sandbox.dir.path().join("clauster.yml")).expect("read");
    assert!(
        text.contains("timeout_seconds: 137  # slow mirror"),
        "{text}"
    );
    let audit =
        std::fs::read_to_string(sandbox.state_dir().join("config_audit.log")).expect("audit");
    assert!(audit.contains("\"surface\":\"config-advanced\""), "{audit}");
    assert!(!audit.contains("137"), "{audit}");
}
