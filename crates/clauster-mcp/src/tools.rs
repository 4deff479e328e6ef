//! What each tool does: API calls and the shaping of their answers (issue 24 §1). A tool
//! that fails answers a tool error (`isError`) carrying the API's own text, never a protocol
//! error, and never an empty success.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clauster_core::names::echo;
use serde_json::{Map, Value, json};

use crate::api::{Api, Method, query_value, segment};
use crate::catalog::{WRITE_TOOLS, writes_off};

/// A tool's answer: its JSON, or the text of a tool error.
pub type Reply = Result<Value, String>;

/// The lines `instance_logs` returns unless told otherwise, and the most it returns.
const DEFAULT_LOG_LINES: u64 = 100;
const MAX_LOG_LINES: u64 = 2000;

/// The tools over one [`Api`].
#[derive(Debug)]
pub struct Tools<A> {
    api: A,
    allow_writes: bool,
}

impl<A: Api> Tools<A> {
    pub fn new(api: A, allow_writes: bool) -> Self {
        Self { api, allow_writes }
    }

    /// Runs the tool `name` with `arguments` (absent = `{}`).
    pub async fn call(&self, name: &str, arguments: Option<&Map<String, Value>>) -> Reply {
        let empty = Map::new();
        let args = arguments.unwrap_or(&empty);
        if WRITE_TOOLS.contains(&name) && !self.allow_writes {
            return Err(writes_off(name));
        }
        match name {
            "list_sessions" => {
                no_arguments(name, args)?;
                self.list_sessions().await
            }
            "session_status" => {
                allow_only(name, args, &["id"])?;
                self.session_status(&required_id(args)?).await
            }
            "list_projects" => {
                no_arguments(name, args)?;
                self.list_projects().await
            }
            "project_usage" => self.project_usage(args).await,
            "instance_logs" => self.instance_logs(args).await,
            "doctor" => {
                no_arguments(name, args)?;
                self.get("/api/doctor").await
            }
            "spawn_session" => self.spawn_session(args).await,
            "stop_session" => {
                allow_only(name, args, &["id"])?;
                self.stop_session(&required_id(args)?).await
            }
            "resume_session" => self.resume_session(args).await,
            other => Err(format!(
                "unknown tool: {other}; tools/list names the tools this server has"
            )),
        }
    }

    async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<crate::api::Answer, String> {
        self.api
            .call(method, path, body)
            .await
            .map_err(|err| err.to_string())
    }

    /// A GET whose failure is the tool's failure, with the API's text.
    async fn get(&self, path: &str) -> Reply {
        let answer = self.request(Method::Get, path, None).await?;
        if answer.is_success() {
            Ok(answer.json())
        } else {
            Err(answer.detail())
        }
    }

    /// A GET whose failure leaves a part of an answer out rather than failing all of it.
    async fn get_list(&self, path: &str) -> Vec<Value> {
        match self.get(path).await {
            Ok(Value::Array(items)) => items,
            Ok(_) => Vec::new(),
            Err(err) => {
                tracing::debug!("{path}: {err}");
                Vec::new()
            }
        }
    }

    async fn list_sessions(&self) -> Reply {
        let Value::Array(instances) = self.get("/api/instances").await? else {
            return Err("the API sent an instance list this server does not understand".into());
        };
        let agents = self.get_list("/api/agents").await;
        let working = self.get_list("/api/sessions/all").await;
        let projects = if working.iter().any(|s| s["parent_instance"].is_null()) {
            self.get_list("/api/projects").await
        } else {
            Vec::new()
        };
        let mut sessions: Vec<Value> = instances.iter().map(bridge_summary).collect();
        sessions.extend(agents.iter().map(agent_summary));
        sessions.extend(
            working
                .iter()
                .map(|s| working_summary(s, &instances, &projects)),
        );
        Ok(json!({ "count": sessions.len(), "sessions": sessions }))
    }

    async fn session_status(&self, id: &str) -> Reply {
        let path = format!("/api/instances/{}", segment(id));
        let answer = self.request(Method::Get, &path, None).await?;
        match answer.status {
            200 => return Ok(json!({ "found": true, "session": bridge_summary(&answer.json()) })),
            409 => return self.ambiguous("found", id).await,
            404 | 422 => {}
            _ => return Err(answer.detail()),
        }
        if let Some(agent) = self
            .get_list("/api/agents")
            .await
            .iter()
            .find(|a| a["id"] == id)
        {
            return Ok(json!({ "found": true, "session": agent_summary(agent) }));
        }
        let working = self.get_list("/api/sessions/all").await;
        if let Some(session) = working.iter().find(|s| s["local_uuid"] == id) {
            let instances = self.get_list("/api/instances").await;
            let projects = self.get_list("/api/projects").await;
            return Ok(json!({
                "found": true,
                "session": working_summary(session, &instances, &projects),
            }));
        }
        Ok(json!({ "found": false, "id": echo(id) }))
    }

    /// `{<flag>: false, id, ambiguous: [ids]}`: the bridges a reference could mean, by the
    /// rule of http-api.md §2 (the project's records, else the ids it prefixes).
    async fn ambiguous(&self, flag: &str, id: &str) -> Reply {
        let instances = self.get_list("/api/instances").await;
        let ids_where = |keep: &dyn Fn(&Value) -> bool| -> Vec<String> {
            instances
                .iter()
                .filter(|i| keep(i))
                .filter_map(|i| i["instance_id"].as_str().map(str::to_owned))
                .collect()
        };
        let mut ids = ids_where(&|i| i["project"] == id);
        if ids.is_empty() {
            ids = ids_where(&|i| i["instance_id"].as_str().is_some_and(|x| x.starts_with(id)));
        }
        ids.sort();
        Ok(json!({ flag: false, "id": echo(id), "ambiguous": ids }))
    }

    async fn list_projects(&self) -> Reply {
        let Value::Array(projects) = self.get("/api/projects").await? else {
            return Err("the API sent a project list this server does not understand".into());
        };
        let preflight = self
            .get("/api/projects/preflight")
            .await
            .unwrap_or(Value::Null);
        let listed: Vec<Value> = projects
            .iter()
            .map(|p| project_summary(p, preflight.get(p["name"].as_str().unwrap_or(""))))
            .collect();
        Ok(json!({ "count": listed.len(), "projects": listed }))
    }

    async fn project_usage(&self, args: &Map<String, Value>) -> Reply {
        allow_only("project_usage", args, &["project", "since", "until"])?;
        let project = optional_string(args, "project")?;
        let since = optional_string(args, "since")?;
        let until = optional_string(args, "until")?;
        let mut query = Vec::new();
        if let Some(since) = &since {
            query.push(format!("since={}", query_value(since)));
        }
        if let Some(until) = &until {
            query.push(format!("until={}", query_value(until)));
        }
        let query = if query.is_empty() {
            String::new()
        } else {
            format!("?{}", query.join("&"))
        };
        let names: Vec<String> = match &project {
            Some(name) if !name.trim().is_empty() => vec![name.trim().to_owned()],
            _ => self
                .get_list("/api/projects")
                .await
                .iter()
                .filter_map(|p| p["name"].as_str().map(str::to_owned))
                .collect(),
        };
        let mut per_project = Vec::new();
        for name in &names {
            let base = format!("/api/projects/{}/usage", segment(name));
            let totals = self.get(&base).await?;
            let daily = self.get(&format!("{base}/daily{query}")).await?;
            per_project.push((totals, daily));
        }
        if let (Some(_), [(totals, daily)]) = (&project, per_project.as_slice()) {
            return Ok(json!({
                "project": totals["project"],
                "totals": totals,
                "since": daily["since"],
                "until": daily["until"],
                "days": daily["days"],
                "range_total": daily["total"],
            }));
        }
        Ok(combine_usage(
            &per_project,
            since.as_deref(),
            until.as_deref(),
        ))
    }

    async fn instance_logs(&self, args: &Map<String, Value>) -> Reply {
        allow_only("instance_logs", args, &["id", "lines"])?;
        let id = required_id(args)?;
        let lines = match args.get("lines") {
            None | Some(Value::Null) => DEFAULT_LOG_LINES,
            Some(value) => value
                .as_u64()
                .filter(|n| (1..=MAX_LOG_LINES).contains(n))
                .ok_or_else(|| format!("lines must be an integer from 1 to {MAX_LOG_LINES}"))?,
        };
        let instance = self
            .get(&format!("/api/instances/{}", segment(&id)))
            .await?;
        let existing = |key: &str| {
            instance[key]
                .as_str()
                .map(PathBuf::from)
                .filter(|p| p.exists())
        };
        let Some(path) =
            existing("bridge_raw_log_path").or_else(|| existing("bridge_debug_log_path"))
        else {
            return Err(format!("instance '{id}' has no log yet"));
        };
        let count = usize::try_from(lines).unwrap_or(usize::MAX);
        let read = tokio::task::spawn_blocking(move || crate::logs::tail(&path, count))
            .await
            .map_err(|_| "reading the log failed; see the server log".to_owned())?
            .map_err(|err| format!("cannot read the bridge log: {err}"))?;
        Ok(json!({
            "id": instance["instance_id"],
            "project": instance["project"],
            "status": instance["status"],
            "lines": read,
        }))
    }

    async fn spawn_session(&self, args: &Map<String, Value>) -> Reply {
        const KEYS: [&str; 8] = [
            "project",
            "resume_mode",
            "spawn_mode",
            "permission_mode",
            "custom_name",
            "sandbox",
            "resume_session_id",
            "trust",
        ];
        allow_only("spawn_session", args, &KEYS)?;
        match args.get("project") {
            Some(Value::String(p)) if !p.trim().is_empty() => {}
            _ => {
                return Err(
                    "project must be a non-empty string (a name from list_projects)".into(),
                );
            }
        }
        // The API checks the rest and answers in its own words.
        let mut body = Map::new();
        for key in KEYS {
            if let Some(value) = args.get(key) {
                let key = if key == "custom_name" { "name" } else { key };
                body.insert(key.to_owned(), value.clone());
            }
        }
        body.entry("trust").or_insert(Value::Bool(false));
        let answer = self
            .request(Method::Post, "/api/instances", Some(Value::Object(body)))
            .await?;
        if !answer.is_success() {
            return Err(answer.detail());
        }
        let outcome = answer.json();
        Ok(json!({
            "created": outcome["created"],
            "reason": outcome["reason"],
            "warnings": warnings(&outcome),
            "session": bridge_summary(&outcome),
        }))
    }

    async fn stop_session(&self, id: &str) -> Reply {
        let path = format!("/api/instances/{}", segment(id));
        let answer = self.request(Method::Delete, &path, None).await?;
        match answer.status {
            200..=299 => Ok(json!({
                "stopped": true,
                "id": id,
                "session": bridge_summary(&answer.json()),
            })),
            404 => Ok(json!({ "stopped": false, "id": echo(id) })),
            409 if is_ambiguity(&answer) => self.ambiguous("stopped", id).await,
            _ => Err(answer.detail()),
        }
    }

    async fn resume_session(&self, args: &Map<String, Value>) -> Reply {
        allow_only("resume_session", args, &["id", "fresh", "trust"])?;
        let id = required_id(args)?;
        let flag = |key: &str| match args.get(key) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(format!("{key} must be a boolean")),
        };
        let body = json!({ "fresh": flag("fresh")?, "trust": flag("trust")? });
        let path = format!("/api/instances/{}/resume", segment(&id));
        let answer = self.request(Method::Post, &path, Some(body)).await?;
        match answer.status {
            200..=299 => {
                let outcome = answer.json();
                let resumed = outcome["created"].as_bool().unwrap_or(false);
                let mut reply = json!({
                    "resumed": resumed,
                    "id": id,
                    "warnings": warnings(&outcome),
                    "session": bridge_summary(&outcome),
                });
                if !resumed {
                    reply["reason"] = outcome["reason"].clone();
                }
                Ok(reply)
            }
            404 => Ok(json!({ "resumed": false, "id": id })),
            409 if is_ambiguity(&answer) => self.ambiguous("resumed", &id).await,
            _ => Err(answer.detail()),
        }
    }
}

/// The 409 of an ambiguous reference (http-api.md §2), not another conflict.
fn is_ambiguity(answer: &crate::api::Answer) -> bool {
    answer.detail().starts_with("ambiguous '")
}

fn warnings(outcome: &Value) -> Value {
    match &outcome["warnings"] {
        Value::Array(items) => Value::Array(items.clone()),
        _ => Value::Array(Vec::new()),
    }
}

fn no_arguments(tool: &str, args: &Map<String, Value>) -> Result<(), String> {
    allow_only(tool, args, &[])
}

/// Refuses arguments the tool does not take: a misspelt option must not be ignored silently.
fn allow_only(tool: &str, args: &Map<String, Value>, known: &[&str]) -> Result<(), String> {
    match args.keys().find(|k| !known.contains(&k.as_str())) {
        None => Ok(()),
        Some(unknown) if known.is_empty() => {
            Err(format!("{tool} takes no arguments, got '{unknown}'"))
        }
        Some(unknown) => Err(format!(
            "{tool} takes {}; got an unknown argument '{unknown}'",
            known.join(", ")
        )),
    }
}

fn required_id(args: &Map<String, Value>) -> Result<String, String> {
    match args.get("id") {
        Some(Value::String(id)) if !id.trim().is_empty() => Ok(id.trim().to_owned()),
        _ => Err("id must be a non-empty string (an id from list_sessions)".into()),
    }
}

fn optional_string(args: &Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(format!("{key} must be a string")),
    }
}

/// Copies `keys` of `from` that are present (nulls included) into a new object.
fn pick(from: &Value, keys: &[&str]) -> Map<String, Value> {
    keys.iter()
        .filter_map(|k| from.get(*k).map(|v| ((*k).to_owned(), v.clone())))
        .collect()
}

/// A bridge as the tools show it: structural and lifecycle fields only — no links, log
/// paths or error detail (as the Python Clauster's tools).
pub fn bridge_summary(instance: &Value) -> Value {
    let mut summary = Map::new();
    summary.insert("id".into(), instance["instance_id"].clone());
    summary.insert("kind".into(), "bridge".into());
    summary.extend(pick(
        instance,
        &[
            "channel",
            "project",
            "label",
            "status",
            "alive",
            "resume_mode",
            "spawn_mode",
            "permission_mode",
            "worktree_name",
            "started_at",
            "ready_at",
            "ended_at",
            "bridge_pid",
            "keeper_pid",
            "environment_id",
            "error_kind",
            "error_hint",
            "notice",
            "stopping",
            "intentional_stop",
            "launch_count",
        ],
    ));
    Value::Object(summary)
}

/// A background agent: lifecycle fields only, none of its free text.
fn agent_summary(job: &Value) -> Value {
    let mut summary = Map::new();
    summary.insert("id".into(), job["id"].clone());
    summary.insert("kind".into(), "background-agent".into());
    summary.extend(pick(
        job,
        &[
            "state",
            "session_id",
            "worker_pid",
            "worker_alive",
            "created_at",
            "updated_at",
        ],
    ));
    for key in ["created_at", "updated_at"] {
        if let Some(ms) = job[key].as_u64() {
            summary.insert(
                key.into(),
                clauster_core::timestamp::rfc3339_millis(ms).into(),
            );
        }
    }
    Value::Object(summary)
}

/// A live Claude Code session: `bridge-session` under its bridge, `external-session`
/// otherwise; its project from the bridge, else from the project directory it runs in.
fn working_summary(session: &Value, instances: &[Value], projects: &[Value]) -> Value {
    let parent = session["parent_instance"].as_str();
    let project = if let Some(parent) = parent {
        instances
            .iter()
            .find(|i| i["instance_id"] == parent)
            .map_or(Value::Null, |i| i["project"].clone())
    } else {
        let cwd = session["cwd"].as_str().unwrap_or("");
        projects
            .iter()
            .find(|p| {
                p["path"].as_str().is_some_and(|path| {
                    cwd == path || cwd.strip_prefix(path).is_some_and(|r| r.starts_with('/'))
                })
            })
            .map_or(Value::Null, |p| p["name"].clone())
    };
    let kind = if parent.is_some() {
        "bridge-session"
    } else {
        "external-session"
    };
    let mut summary = Map::new();
    summary.insert("id".into(), session["local_uuid"].clone());
    summary.insert("kind".into(), kind.into());
    summary.insert("project".into(), project);
    summary.extend(pick(
        session,
        &["attribution", "parent_instance", "state", "pid", "cwd"],
    ));
    // The session's own kind (interactive, background…); `kind` is the list's.
    summary.insert("session_kind".into(), session["kind"].clone());
    if let Some(ms) = session["started_at"].as_u64() {
        summary.insert(
            "started_at".into(),
            clauster_core::timestamp::rfc3339_millis(ms).into(),
        );
    }
    Value::Object(summary)
}

/// A project with its badges: the facts the dashboard's card shows, and the preflight.
fn project_summary(project: &Value, preflight: Option<&Value>) -> Value {
    let flag = |key: &str| project[key].as_bool().unwrap_or(false);
    let trusted = project["trust_state"] == "trusted";
    let mut badges = Vec::new();
    if flag("is_git_repo") {
        badges.push("git");
    }
    badges.push(if trusted { "trusted" } else { "untrusted" });
    if flag("has_claude_md") {
        badges.push("CLAUDE.md");
    }
    if flag("has_claude_dir") {
        badges.push(".claude");
    }
    if flag("allow_bypass_permissions") {
        badges.push("bypass-allowed");
    }
    let warnings: Vec<Value> = preflight
        .and_then(|p| p["checks"].as_array())
        .map(|checks| {
            checks
                .iter()
                .filter(|c| c["status"] != "ok")
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    json!({
        "name": project["name"],
        "path": project["path"],
        "git": flag("is_git_repo"),
        "trust": project["trust_state"],
        "has_claude_md": flag("has_claude_md"),
        "has_claude_dir": flag("has_claude_dir"),
        "allow_bypass_permissions": flag("allow_bypass_permissions"),
        "badges": badges,
        "preflight": preflight.cloned().unwrap_or(Value::Null),
        "preflight_warnings": warnings,
    })
}

/// Ten-thousandths of a dollar: the API's costs are already rounded to 4 decimals, so sums
/// in this unit are exact.
fn units(cost: &Value) -> i64 {
    #[allow(
        clippy::cast_possible_truncation,
        reason = "costs are far below 2^53 units"
    )]
    let units = (cost.as_f64().unwrap_or(0.0) * 10_000.0).round() as i64;
    units
}

fn usd(units: i64) -> Value {
    #[allow(clippy::cast_precision_loss, reason = "exact below 2^53 units")]
    let usd = units as f64 / 10_000.0;
    json!(usd)
}

/// Adds the counters of `from` (messages, tokens, cost) into `into`.
#[derive(Debug, Default)]
struct Sum {
    messages: u64,
    tokens: BTreeMap<String, u64>,
    total_tokens: u64,
    cost: i64,
    models: std::collections::BTreeSet<String>,
}

impl Sum {
    fn add(&mut self, from: &Value) {
        self.messages += from["messages"].as_u64().unwrap_or(0);
        self.total_tokens += from["total_tokens"].as_u64().unwrap_or(0);
        self.cost += units(&from["cost_usd"]);
        if let Some(breakdown) = from["token_breakdown"].as_object() {
            for (key, value) in breakdown {
                *self.tokens.entry(key.clone()).or_default() += value.as_u64().unwrap_or(0);
            }
        }
        if let Some(models) = from["models"].as_array() {
            self.models
                .extend(models.iter().filter_map(|m| m.as_str().map(str::to_owned)));
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "messages": self.messages,
            "total_tokens": self.total_tokens,
            "token_breakdown": self.tokens,
            "cost_usd": usd(self.cost),
        })
    }
}

/// Every project's usage in one answer: per-project figures, the days merged by date.
fn combine_usage(
    per_project: &[(Value, Value)],
    since: Option<&str>,
    until: Option<&str>,
) -> Value {
    let mut totals = Sum::default();
    let mut range = Sum::default();
    let mut days: BTreeMap<String, Sum> = BTreeMap::new();
    let mut projects = Vec::new();
    for (all_time, daily) in per_project {
        totals.add(all_time);
        range.add(&daily["total"]);
        for day in daily["days"].as_array().into_iter().flatten() {
            let date = day["date"].as_str().unwrap_or_default().to_owned();
            days.entry(date).or_default().add(day);
        }
        projects.push(json!({
            "project": all_time["project"],
            "cost_usd": all_time["cost_usd"],
            "messages": all_time["messages"],
            "total_tokens": all_time["total_tokens"],
            "range_total": daily["total"],
        }));
    }
    let days: Vec<Value> = days
        .iter()
        .map(|(date, sum)| {
            let mut day = sum.to_json();
            day["date"] = json!(date);
            day["models"] = json!(sum.models);
            day
        })
        .collect();
    json!({
        "project": null,
        "projects": projects,
        "totals": totals.to_json(),
        "since": since,
        "until": until,
        "days": days,
        "range_total": range.to_json(),
    })
}

#[cfg(test)]
mod tests;
