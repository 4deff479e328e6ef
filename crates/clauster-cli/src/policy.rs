//! `clauster policy` and `clauster start --all-kept` (cli.md §3, bridges.md §7.9 and §11.1):
//! a project's restart policy and keep-running wish, and the by-hand bring-up of kept
//! projects, over the control socket of the server or of this command's own engine.
#![allow(clippy::print_stdout)] // results are these commands' output

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clauster_wire::{Instance, ProjectPolicy};
use serde_json::Value;

use crate::commands::{
    CALL_TIMEOUT, exit_for, malformed, print_json, request, success_json, target,
};
use crate::control_client;

/// How often `start --all-kept` looks at the bridges it asked for.
const POLL: Duration = Duration::from_millis(250);

fn unix_ms_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// `project`'s newest instance, by start.
fn newest<'a>(project: &str, instances: &'a [Instance]) -> Option<&'a Instance> {
    instances
        .iter()
        .filter(|i| i.project == project)
        .max_by(|a, b| a.started_at.cmp(&b.started_at))
}

/// Whether `project`'s newest instance ended at or after `since` (epoch ms): its launch was
/// tried and failed, so waiting longer brings nothing.
fn ended_since(project: &str, instances: &[Instance], since: i64) -> bool {
    newest(project, instances).is_some_and(|i| {
        !matches!(i.status.as_str(), "starting" | "running")
            && i.ended_at
                .as_deref()
                .and_then(clauster_core::timestamp::parse_rfc3339_ms)
                .is_some_and(|at| at >= since)
    })
}

/// Why `project` has no live bridge, from its newest instance: the engine's refusal (the
/// bridge cap, trust), or how the launch ended, on one line.
fn why_no_bridge(project: &str, instances: &[Instance]) -> String {
    let reason = newest(project, instances).and_then(|i| {
        i.notice
            .as_deref()
            .filter(|notice| notice.starts_with("automatic launch refused"))
            .or(i.error_detail.as_deref())
    });
    // One line: a detail may end with the bridge's own newline, or hold several lines.
    reason.map_or_else(
        || "see clauster status and the server's log".to_owned(),
        |text| text.trim().lines().collect::<Vec<_>>().join(" / "),
    )
}

/// `clauster policy PROJECT [--restart never|on-failure] [--keep-running yes|no] [--json]`:
/// shows the policy, or changes the given parts first.
pub fn policy(
    config_path: Option<&Path>,
    project: &str,
    restart: Option<&str>,
    keep_running: Option<bool>,
    json: bool,
) -> ExitCode {
    let target = match target(config_path) {
        Ok(target) => target,
        Err(code) => return code,
    };
    let path = format!(
        "/api/projects/{}/policy",
        control_client::encode_segment(project)
    );
    let answer = if restart.is_none() && keep_running.is_none() {
        request(&target, "GET", &path, None, CALL_TIMEOUT)
    } else {
        let mut body = serde_json::Map::new();
        if let Some(restart) = restart {
            body.insert("restart".into(), Value::String(restart.to_owned()));
        }
        if let Some(keep) = keep_running {
            body.insert("keep_running".into(), Value::Bool(keep));
        }
        let body = Value::Object(body).to_string();
        request(&target, "PUT", &path, Some(body.as_bytes()), CALL_TIMEOUT)
    };
    let answer = match answer {
        Ok(answer) => answer,
        Err(code) => return code,
    };
    let Some(value) = success_json(&answer) else {
        return exit_for(&answer, |status| matches!(status, 400 | 404 | 422));
    };
    let Ok(policy) = serde_json::from_value::<ProjectPolicy>(value.clone()) else {
        return malformed();
    };
    if json {
        print_json(&value);
    } else {
        println!(
            "{}: restart={} keep_running={} wanted={}",
            policy.project,
            policy.restart,
            yes_no(policy.keep_running),
            yes_no(policy.wanted)
        );
    }
    ExitCode::SUCCESS
}

fn yes_no(value: bool) -> &'static str {
    if value { "yes" } else { "no" }
}

/// `clauster start --all-kept [--json]`: brings up every kept, wanted project without a
/// live bridge (staggered by the engine), then waits until each runs or its launch has
/// ended — a command that runs its own engine must not end before the last staggered launch.
pub fn start_all_kept(config_path: Option<&Path>, json: bool) -> ExitCode {
    let target = match target(config_path) {
        Ok(target) => target,
        Err(code) => return code,
    };
    // The server is on this host (the control socket): its clock is ours.
    let asked_at = unix_ms_now();
    let answer = match request(&target, "POST", "/api/kept/start", None, CALL_TIMEOUT) {
        Ok(answer) => answer,
        Err(code) => return code,
    };
    let Some(value) = success_json(&answer) else {
        return exit_for(&answer, |status| matches!(status, 400 | 404 | 422));
    };
    let Some(projects) = value["projects"].as_array().map(|list| {
        list.iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect::<Vec<_>>()
    }) else {
        return malformed();
    };
    // The engine spaces the launches 0.5 s apart; each then needs its spawn.
    let deadline = Instant::now()
        + CALL_TIMEOUT
        + Duration::from_millis(500) * u32::try_from(projects.len()).unwrap_or(u32::MAX);
    let mut launched: Vec<Instance> = Vec::new();
    let mut every: Vec<Instance> = Vec::new();
    while !projects.is_empty() {
        let answer = match request(&target, "GET", "/api/instances", None, CALL_TIMEOUT) {
            Ok(answer) => answer,
            Err(code) => return code,
        };
        let Some(list) = success_json(&answer) else {
            return ExitCode::FAILURE;
        };
        let Ok(instances) = serde_json::from_value::<Vec<Instance>>(list) else {
            return malformed();
        };
        launched = instances
            .iter()
            .filter(|i| {
                projects.contains(&i.project) && matches!(i.status.as_str(), "starting" | "running")
            })
            .cloned()
            .collect();
        every = instances;
        // Settled once running, or ended: a launch that fails does so while `starting`, and
        // only the deadline lets a bridge that is still starting count as started.
        let all_settled = projects.iter().all(|p| {
            launched
                .iter()
                .any(|i| &i.project == p && i.status == "running")
                || ended_since(p, &every, asked_at)
        });
        if all_settled || Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(POLL);
    }
    let missing: Vec<&String> = projects
        .iter()
        .filter(|p| !launched.iter().any(|i| &i.project == *p))
        .collect();
    if json {
        print_json(&serde_json::json!({ "projects": projects, "instances": launched }));
    } else if projects.is_empty() {
        println!("no kept project is waiting for a bridge");
    } else {
        for instance in &launched {
            println!(
                "started {} ({}) status={}",
                crate::commands::id8(&instance.instance_id),
                instance.project,
                instance.status
            );
        }
        for project in &missing {
            eprintln!(
                "clauster: {project}: no bridge came up: {}",
                why_no_bridge(project, &every)
            );
        }
    }
    if missing.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
