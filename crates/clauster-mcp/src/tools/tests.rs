//! The tools over a scripted API: what they ask, and how they shape the answers. The real
//! API behind them is exercised end to end in tests/it/mcp.rs.

use std::sync::Mutex;

use serde_json::{Map, Value, json};

use super::Tools;
use crate::api::{Answer, Api, CallError, Method};

/// Answers `(method, path)` from a table; records every call with its body.
#[derive(Default)]
struct Scripted {
    answers: Vec<(Method, String, u16, Value)>,
    calls: Mutex<Vec<(Method, String, Option<Value>)>>,
}

impl Scripted {
    fn on(mut self, method: Method, path: &str, status: u16, body: Value) -> Self {
        self.answers.push((method, path.to_owned(), status, body));
        self
    }

    fn calls(&self) -> Vec<(Method, String, Option<Value>)> {
        self.calls.lock().unwrap().clone()
    }
}

impl Api for Scripted {
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Answer, CallError> {
        self.calls
            .lock()
            .unwrap()
            .push((method, path.to_owned(), body));
        let (status, body) = self
            .answers
            .iter()
            .find(|(m, p, _, _)| *m == method && p == path)
            .map_or((404, json!({"detail": "Not Found"})), |(_, _, s, b)| {
                (*s, b.clone())
            });
        Ok(Answer {
            status,
            body: body.to_string().into_bytes(),
        })
    }
}

fn args(value: &Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

fn run<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(future)
}

fn instance(id: &str, project: &str, status: &str) -> Value {
    json!({
        "instance_id": id, "project": project, "label": project, "channel": "remote-control",
        "status": status, "alive": status == "running", "resume_mode": "standard",
        "spawn_mode": "same-dir", "permission_mode": "default", "bridge_pid": 42,
        "session_url": "https://claude.ai/code/session_01SECRET",
        "bridge_debug_log_path": "/state/logs/x.log", "error_detail": "stack trace",
        "launch_count": 1,
    })
}

#[test]
fn write_tools_refuse_without_allow_writes_and_never_reach_the_api() {
    let tools = Tools::new(Scripted::default(), false);
    for tool in ["spawn_session", "stop_session", "resume_session"] {
        let err =
            run(tools.call(tool, Some(&args(&json!({"project": "a", "id": "a"}))))).unwrap_err();
        assert!(err.contains("mcp: {allow_writes: true}"), "{err}");
        assert!(err.starts_with(tool), "{err}");
    }
    assert!(tools.api.calls().is_empty());
}

#[test]
fn bad_arguments_are_tool_errors() {
    let tools = Tools::new(Scripted::default(), true);
    let cases = [
        ("session_status", json!({"id": "  "}), "non-empty"),
        ("stop_session", json!({}), "non-empty"),
        (
            "spawn_session",
            json!({}),
            "project must be a non-empty string",
        ),
        (
            "spawn_session",
            json!({"project": "a", "mode": "pty"}),
            "unknown argument 'mode'",
        ),
        ("list_sessions", json!({"x": 1}), "takes no arguments"),
        (
            "instance_logs",
            json!({"id": "a", "lines": 0}),
            "lines must be an integer",
        ),
        (
            "resume_session",
            json!({"id": "a", "fresh": "yes"}),
            "fresh must be a boolean",
        ),
        (
            "project_usage",
            json!({"since": 7}),
            "since must be a string",
        ),
        ("no_such_tool", json!({}), "unknown tool: no_such_tool"),
    ];
    for (tool, given, expected) in cases {
        let err = run(tools.call(tool, Some(&args(&given)))).unwrap_err();
        assert!(err.contains(expected), "{tool} {given}: {err}");
    }
    assert!(tools.api.calls().is_empty());
}

#[test]
fn spawn_passes_the_options_to_the_api_and_its_refusal_back() {
    let api = Scripted::default().on(
        Method::Post,
        "/api/instances",
        409,
        json!({"detail": "directory not trusted: /p/alpha; pass trust"}),
    );
    let tools = Tools::new(api, true);
    let err = run(tools.call(
        "spawn_session",
        Some(&args(
            &json!({"project": "alpha", "resume_mode": "pty", "custom_name": "x"}),
        )),
    ))
    .unwrap_err();
    assert_eq!(err, "directory not trusted: /p/alpha; pass trust");
    let calls = tools.api.calls();
    assert_eq!(
        calls[0].2,
        Some(json!({"project": "alpha", "resume_mode": "pty", "name": "x", "trust": false}))
    );

    let mut outcome = instance("f2c456fd-1111", "alpha", "running");
    outcome["created"] = json!(true);
    outcome["reason"] = Value::Null;
    outcome["warnings"] = json!(["w"]);
    let api = Scripted::default().on(Method::Post, "/api/instances", 201, outcome);
    let reply = run(Tools::new(api, true).call(
        "spawn_session",
        Some(&args(&json!({"project": "alpha", "trust": true}))),
    ))
    .unwrap();
    assert_eq!(reply["created"], true);
    assert_eq!(reply["warnings"], json!(["w"]));
    assert_eq!(reply["session"]["id"], "f2c456fd-1111");
    assert_eq!(reply["session"]["kind"], "bridge");
    let text = reply.to_string();
    for secret in ["session_01SECRET", "/state/logs", "stack trace"] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
}

#[test]
fn stop_and_resume_report_unknown_ambiguous_and_declined() {
    let list = json!([
        instance("f2c456fd-bbbb", "beta", "stopped"),
        instance("f2c456fd-aaaa", "alpha", "stopped"),
        instance("0000", "gamma", "running"),
    ]);
    let ambiguous = json!({"detail": "ambiguous 'f2c456fd' — matches f2c456fd-aaaa, f2c456fd-bbbb; use more characters"});
    let mut declined = instance("0000", "gamma", "running");
    declined["created"] = json!(false);
    declined["reason"] = json!("a live standard bridge already exists for this project");
    declined["warnings"] = json!([]);
    let api = Scripted::default()
        .on(Method::Get, "/api/instances", 200, list)
        .on(
            Method::Delete,
            "/api/instances/f2c456fd",
            409,
            ambiguous.clone(),
        )
        .on(
            Method::Post,
            "/api/instances/f2c456fd/resume",
            409,
            ambiguous,
        )
        .on(Method::Post, "/api/instances/gamma/resume", 200, declined)
        .on(
            Method::Delete,
            "/api/instances/busy",
            409,
            json!({"detail": "a stop is already in progress"}),
        );
    let tools = Tools::new(api, true);
    let call = |tool: &str, id: &str| run(tools.call(tool, Some(&args(&json!({"id": id})))));
    assert_eq!(
        call("stop_session", "ghost").unwrap(),
        json!({"stopped": false, "id": "ghost"})
    );
    assert_eq!(
        call("stop_session", "f2c456fd").unwrap(),
        json!({"stopped": false, "id": "f2c456fd", "ambiguous": ["f2c456fd-aaaa", "f2c456fd-bbbb"]})
    );
    assert_eq!(
        call("resume_session", "f2c456fd").unwrap()["ambiguous"],
        json!(["f2c456fd-aaaa", "f2c456fd-bbbb"])
    );
    assert_eq!(
        call("resume_session", "ghost").unwrap(),
        json!({"resumed": false, "id": "ghost"})
    );
    let declined = call("resume_session", "gamma").unwrap();
    assert_eq!(declined["resumed"], false);
    assert_eq!(declined["id"], "gamma");
    assert_eq!(declined["session"]["id"], "0000");
    assert_eq!(
        declined["reason"],
        "a live standard bridge already exists for this project"
    );
    assert_eq!(
        call("stop_session", "busy").unwrap_err(),
        "a stop is already in progress"
    );
}

#[test]
fn sessions_join_working_sessions_to_their_bridges_and_drop_free_text() {
    let api = Scripted::default()
        .on(
            Method::Get,
            "/api/instances",
            200,
            json!([instance("i-1", "alpha", "running")]),
        )
        .on(
            Method::Get,
            "/api/agents",
            200,
            json!([{"id": "bg1", "state": "working", "detail": "SECRET prose",
                    "intent": "SECRET prompt", "name": "SECRET", "session_id": "s",
                    "worker_pid": 7, "worker_alive": true, "created_at": 0}]),
        )
        .on(
            Method::Get,
            "/api/sessions/all",
            200,
            json!([
                {"pid": 1, "cwd": "/p/alpha", "kind": "interactive", "state": "busy",
                 "started_at": 1_700_000_000_000_i64, "local_uuid": "u-1",
                 "parent_instance": "i-1", "attribution": "tracked"},
                {"pid": 2, "cwd": "/p/beta/sub", "kind": "", "state": "",
                 "started_at": 0, "local_uuid": "u-2", "parent_instance": null,
                 "attribution": "external"},
            ]),
        )
        .on(
            Method::Get,
            "/api/projects",
            200,
            json!([{"name": "beta", "path": "/p/beta"}, {"name": "be", "path": "/p/be"}]),
        );
    let tools = Tools::new(api, false);
    let reply = run(tools.call("list_sessions", None)).unwrap();
    assert_eq!(reply["count"], 4);
    let sessions = reply["sessions"].as_array().unwrap();
    let kinds: Vec<&str> = sessions
        .iter()
        .map(|s| s["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "bridge",
            "background-agent",
            "bridge-session",
            "external-session"
        ]
    );
    assert_eq!(sessions[2]["parent_instance"], sessions[0]["id"]);
    assert_eq!(sessions[2]["project"], "alpha");
    assert_eq!(sessions[2]["started_at"], "2023-11-14T22:13:20.000Z");
    assert_eq!(sessions[3]["project"], "beta");
    assert_eq!(sessions[1]["created_at"], "1970-01-01T00:00:00.000Z");
    assert!(!reply.to_string().contains("SECRET"), "{reply}");

    let found = run(tools.call("session_status", Some(&args(&json!({"id": "u-2"}))))).unwrap();
    assert_eq!(found["found"], true);
    assert_eq!(found["session"]["kind"], "external-session");
    let bg = run(tools.call("session_status", Some(&args(&json!({"id": "bg1"}))))).unwrap();
    assert_eq!(bg["session"]["kind"], "background-agent");
    let none = run(tools.call("session_status", Some(&args(&json!({"id": "zz"}))))).unwrap();
    assert_eq!(none, json!({"found": false, "id": "zz"}));
}

#[test]
fn usage_of_every_project_sums_exactly_and_merges_days() {
    let day = |date: &str, cost: f64, model: &str| {
        json!({"date": date, "messages": 1, "total_tokens": 10,
               "token_breakdown": {"input": 4, "output": 6}, "cost_usd": cost, "models": [model]})
    };
    let daily = |days: Vec<Value>, cost: f64| {
        json!({"project": "x", "since": "2026-11-01", "until": null, "days": days,
               "total": {"messages": 2, "total_tokens": 20, "token_breakdown": {"input": 8, "output": 12}, "cost_usd": cost},
               "price_table_date": "2026-01-01"})
    };
    let api = Scripted::default()
        .on(
            Method::Get,
            "/api/projects",
            200,
            json!([{"name": "a"}, {"name": "b"}]),
        )
        .on(
            Method::Get,
            "/api/projects/a/usage",
            200,
            json!({"project": "a", "messages": 5, "total_tokens": 50, "cost_usd": 0.1}),
        )
        .on(
            Method::Get,
            "/api/projects/b/usage",
            200,
            json!({"project": "b", "messages": 1, "total_tokens": 10, "cost_usd": 0.2}),
        )
        .on(
            Method::Get,
            "/api/projects/a/usage/daily?since=2026-11-01",
            200,
            daily(vec![day("2026-11-02", 0.1, "opus")], 0.1),
        )
        .on(
            Method::Get,
            "/api/projects/b/usage/daily?since=2026-11-01",
            200,
            daily(
                vec![
                    day("2026-11-01", 0.0001, "haiku"),
                    day("2026-11-02", 0.2, "sonnet"),
                ],
                0.2001,
            ),
        );
    let tools = Tools::new(api, false);
    let reply = run(tools.call(
        "project_usage",
        Some(&args(&json!({"since": "2026-11-01"}))),
    ))
    .unwrap();
    assert_eq!(reply["totals"]["cost_usd"], 0.3);
    assert_eq!(reply["totals"]["messages"], 6);
    assert_eq!(reply["range_total"]["cost_usd"], 0.3001);
    let days = reply["days"].as_array().unwrap();
    assert_eq!(days.len(), 2);
    assert_eq!(days[1]["date"], "2026-11-02");
    assert_eq!(days[1]["cost_usd"], 0.3);
    assert_eq!(days[1]["models"], json!(["opus", "sonnet"]));
    assert_eq!(days[1]["token_breakdown"]["output"], 12);
    assert_eq!(reply["projects"].as_array().unwrap().len(), 2);
}

/// `session_status` and `stop_session` refuse arguments they do not take, like every other
/// tool, and repeat a long or invisible id through the echo rule (80 characters, escaped).
#[test]
fn session_ids_are_echoed_bounded_and_unknown_arguments_refused() {
    let tools = Tools::new(Scripted::default(), true);
    for tool in ["session_status", "stop_session"] {
        let err =
            run(tools.call(tool, Some(&args(&json!({"id": "a", "force": true}))))).unwrap_err();
        assert_eq!(
            err,
            format!("{tool} takes id; got an unknown argument 'force'")
        );
    }
    let long = "a".repeat(5000);
    let status = run(tools.call("session_status", Some(&args(&json!({"id": long}))))).unwrap();
    assert_eq!(status, json!({"found": false, "id": "a".repeat(80)}));
    let stopped =
        run(tools.call("stop_session", Some(&args(&json!({"id": "ab\u{202e}cd"}))))).unwrap();
    assert_eq!(stopped, json!({"stopped": false, "id": "ab\\u{202e}cd"}));
}
