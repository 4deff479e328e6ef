//! Live metrics through the real server and the fake claude (data.md §4, http-api.md §8.4 and
//! §9): `metrics` frames for a bridge with children and a CPU burner, a dead bridge dropping
//! out, the crash counter, the Prometheus scrape with its token, and metrics switched off.

use crate::support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{ServesApi, next_frame_within, serve_fake, trusted_project};

/// The scrape token; its SHA-256 is configured as `observability.metrics_token_hash`.
const TOKEN: &str = "scrape-token";

fn token_hash() -> String {
    support::sha256_hex(TOKEN)
}

/// Reads frames until a `metrics` frame satisfies `check`; returns its map.
async fn metrics_frame(socket: &mut support::EventSocket, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        let Some(frame) = next_frame_within(socket, Duration::from_secs(30)).await else {
            break;
        };
        if frame["type"] == "metrics" {
            if check(&frame["metrics"]) {
                return frame["metrics"].clone();
            }
            seen.push(frame["metrics"].clone());
        }
    }
    panic!("no matching metrics frame; saw {seen:#?}");
}

async fn scrape(server: &support::Server, authorization: Option<&str>) -> (u16, String, String) {
    let mut request = reqwest::Client::new().get(format!("{}/metrics", server.base));
    if let Some(value) = authorization {
        request = request.header("Authorization", value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let kind = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, kind, response.text().await.unwrap())
}

/// Every sample line of the scrape: `name{labels} value`, value a number.
fn samples(text: &str) -> Vec<(String, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').expect("`series value`");
            (series.to_owned(), value.parse().expect("a numeric value"))
        })
        .collect()
}

/// `/metrics` refuses a missing or wrong token and, with the right one, reports every series
/// for one running bridge of `alpha` among two projects.
async fn assert_scrape_of_one_running_bridge(server: &support::Server) {
    // The scrape: refused without or with a wrong token, complete with the right one.
    for (header, detail) in [
        (None, "authentication required"),
        (Some("Bearer wrong-token"), "invalid metrics token"),
        (Some("Basic c2NyYXBl"), "must be Bearer"),
    ] {
        let (status, _, body) = scrape(server, header).await;
        assert_eq!(status, 401, "{header:?}: {body}");
        assert!(body.contains(detail), "{header:?}: {body}");
    }
    let (status, kind, text) = scrape(server, Some(&format!("Bearer {TOKEN}"))).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(kind, "text/plain; version=0.0.4; charset=utf-8");
    let series = samples(&text);
    let value = |name: &str| {
        series
            .iter()
            .find(|(s, _)| s == name)
            .map_or_else(|| panic!("{name} missing from\n{text}"), |(_, v)| *v)
    };
    // 1.3.2's series keeps 1.3.2's version; this build's own is beside it (issue 18).
    assert!((value("clauster_build_info{version=\"1.3.2\"}") - 1.0).abs() < f64::EPSILON);
    let own = format!(
        "clauster_rs_build_info{{version=\"{}\"}}",
        env!("CARGO_PKG_VERSION")
    );
    assert!((value(&own) - 1.0).abs() < f64::EPSILON);
    assert!((value("clauster_bridges{status=\"running\"}") - 1.0).abs() < f64::EPSILON);
    for status in ["starting", "stopped", "crashed", "error"] {
        assert!(value(&format!("clauster_bridges{{status=\"{status}\"}}")).abs() < f64::EPSILON);
    }
    assert!((value("clauster_projects") - 2.0).abs() < f64::EPSILON);
    assert!(value("clauster_bridge_rss_bytes{project=\"alpha\"}") > 0.0);
    value("clauster_bridge_cpu_percent{project=\"alpha\"}");
    assert!(!text.contains("clauster_bridge_crashes_total{"), "{text}");
    for family in [
        "clauster_build_info gauge",
        "clauster_rs_build_info gauge",
        "clauster_bridges gauge",
        "clauster_projects gauge",
        "clauster_bridge_crashes_total counter",
        "clauster_bridge_cpu_percent gauge",
        "clauster_bridge_rss_bytes gauge",
        "clauster_project_cost_usd gauge",
    ] {
        assert!(
            text.contains(&format!("# TYPE {family}\n")),
            "{family}\n{text}"
        );
    }
}

#[tokio::test]
async fn a_running_bridge_tree_is_measured_pushed_and_scraped() {
    let (sandbox, _) = trusted_project("alpha", &[".git"]);
    sandbox.project("beta", &[]);
    let hash = token_hash();
    let server = serve_fake(
        &sandbox,
        &[
            ("CLAUSTER_METRICS_POLL_SECONDS", "1"),
            ("CLAUSTER_OBSERVABILITY_PROMETHEUS_ENABLED", "true"),
            ("CLAUSTER_OBSERVABILITY_METRICS_TOKEN_HASH", &hash),
            ("FAKE_CLAUDE_CHILDREN", "2"),
            ("FAKE_CLAUDE_BURN_MS", "20000"),
        ],
    );
    let (mut socket, snapshot) = support::open_events(&server).await;
    assert_eq!(snapshot["metrics"], json!({}));

    let (status, started) = server.start_bridge("alpha").await;
    assert_eq!(status, 201, "{started}\n{}", server.log());
    let id = started["instance_id"].as_str().unwrap().to_owned();
    let pid = started["bridge_pid"].as_i64().unwrap();

    let map = metrics_frame(&mut socket, |m| {
        m[&id]["cpu_percent"].as_f64().is_some_and(|c| c > 0.0) && m[&id]["procs"] == 3
    })
    .await;
    let mine = &map[&id];
    assert_eq!(mine["running"], true);
    assert!(mine["rss_bytes"].as_u64().unwrap() > 0, "{mine}");
    assert_eq!(mine["cpu_normalized"], false);
    // Disk counters of our own processes are readable here.
    assert!(mine["disk_read_bps"].is_u64(), "{mine}");
    assert!(mine["disk_write_bps"].is_u64(), "{mine}");

    let (status, all) = server.get("/api/metrics").await;
    assert_eq!(status, 200);
    assert_eq!(all[&id]["running"], true);
    let (status, project) = server.get("/api/projects/alpha/metrics").await;
    assert_eq!(status, 200);
    assert_eq!(
        (project["running"].clone(), project["bridges"].clone()),
        (json!(true), json!(1))
    );
    assert!(project["procs"].as_u64().unwrap() >= 3, "{project}");
    let (status, idle) = server.get("/api/projects/beta/metrics").await;
    assert_eq!((status, idle), (200, json!({"running": false})));

    assert_scrape_of_one_running_bridge(&server).await;

    // Killed from outside: crashed, counted, and gone from the next metrics frame.
    std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    let map = metrics_frame(&mut socket, |m| m.get(&id).is_none()).await;
    assert_eq!(map, json!({}));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, _, text) = scrape(&server, Some(&format!("Bearer {TOKEN}"))).await;
        if text.contains("clauster_bridge_crashes_total{project=\"alpha\"} 1\n") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no crash counted:\n{text}\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (_, project) = server.get("/api/projects/alpha/metrics").await;
    assert_eq!(project, json!({"running": false}));
}

#[tokio::test]
async fn metrics_off_means_no_frames_and_empty_maps() {
    let (sandbox, _) = trusted_project("alpha", &[".git"]);
    let server = serve_fake(
        &sandbox,
        &[
            ("CLAUSTER_METRICS_ENABLED", "false"),
            ("CLAUSTER_METRICS_POLL_SECONDS", "1"),
            ("FAKE_CLAUDE_CHILDREN", "1"),
            ("FAKE_CLAUDE_BURN_MS", "5000"),
        ],
    );
    let (mut socket, snapshot) = support::open_events(&server).await;
    assert_eq!(snapshot["metrics"], json!({}));
    let (status, started) = server.start_bridge("alpha").await;
    assert_eq!(status, 201, "{started}");
    assert_eq!(started["status"], "running", "{started}");

    // Several poll periods pass without a single metrics frame.
    let until = Instant::now() + Duration::from_secs(4);
    while let Some(frame) =
        next_frame_within(&mut socket, until.saturating_duration_since(Instant::now())).await
    {
        assert_ne!(frame["type"], "metrics", "{frame}");
    }
    let (status, all) = server.get("/api/metrics").await;
    assert_eq!((status, all), (200, json!({})));
    let (status, project) = server.get("/api/projects/alpha/metrics").await;
    assert_eq!((status, project), (200, json!({"running": false})));
    let (status, state) = server.get("/api/state").await;
    assert_eq!(status, 200);
    assert_eq!(state["metrics"], json!({}));

    // Prometheus is off by default: 404 with the spec's text, whatever the token.
    for header in [None, Some("Bearer anything")] {
        let (status, _, body) = scrape(&server, header).await;
        assert_eq!(status, 404);
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap(),
            json!({"detail": "metrics endpoint is disabled"})
        );
    }
    // A name that cannot be a project is refused and changes nothing.
    let (status, body) = server.get("/api/projects/-bad/metrics").await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        body,
        json!({"detail": "invalid project name: '-bad' (use 1–64 letters, digits, _ and -, not starting with -)", "field": "name"})
    );
    let (_, after) = server.get("/api/instances").await;
    assert_eq!(after.as_array().map(Vec::len), Some(1));
}
