//! `clauster notify test [--json]` (cli.md §3, notifications.md §6): sends a test notice to
//! every configured target through the running server (or this command's own engine) and
//! reports each target's outcome from the delivery log.
#![allow(clippy::print_stdout)] // the outcomes are this command's output

use std::collections::BTreeSet;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::commands::{CALL_TIMEOUT, malformed, print_json, request, success_json, target};

/// How long the command waits for every target's outcome (a webhook may retry with back-off).
const OUTCOME_WAIT: Duration = Duration::from_mins(2);
const LOG: &str = "/api/notifications/deliveries";

/// The test deliveries already in the log: (time, target).
fn test_entries(log: &Value) -> Vec<(String, String, Value)> {
    log["deliveries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|d| d["event"] == "test")
        .map(|d| {
            (
                d["at"].as_str().unwrap_or_default().to_owned(),
                d["target"].as_str().unwrap_or_default().to_owned(),
                d.clone(),
            )
        })
        .collect()
}

pub fn test(config_path: Option<&Path>, json: bool) -> ExitCode {
    let target = match target(config_path) {
        Ok(target) => target,
        Err(code) => return code,
    };
    let read_log = || -> Result<Value, ExitCode> {
        let answer = request(&target, "GET", LOG, None, CALL_TIMEOUT)?;
        success_json(&answer).ok_or(ExitCode::FAILURE)
    };
    let before: BTreeSet<(String, String)> = match read_log() {
        Ok(log) => test_entries(&log)
            .into_iter()
            .map(|(at, target, _)| (at, target))
            .collect(),
        Err(code) => return code,
    };
    let answer = match request(
        &target,
        "POST",
        "/api/notifications/test",
        None,
        CALL_TIMEOUT,
    ) {
        Ok(answer) => answer,
        Err(code) => return code,
    };
    let Some(queued) = success_json(&answer) else {
        return ExitCode::FAILURE;
    };
    let Some(count) = queued["queued"].as_u64() else {
        return malformed();
    };
    if count == 0 {
        eprintln!(
            "clauster: error: {}",
            queued["detail"]
                .as_str()
                .unwrap_or("no notification target is configured")
        );
        return ExitCode::FAILURE;
    }
    let deadline = Instant::now() + OUTCOME_WAIT;
    let outcomes = loop {
        let log = match read_log() {
            Ok(log) => log,
            Err(code) => return code,
        };
        let new: Vec<Value> = test_entries(&log)
            .into_iter()
            .filter(|(at, target, _)| !before.contains(&(at.clone(), target.clone())))
            .map(|(_, _, entry)| entry)
            .collect();
        if new.len() as u64 >= count || Instant::now() >= deadline {
            break new;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let all_delivered =
        outcomes.len() as u64 >= count && outcomes.iter().all(|d| d["outcome"] == "delivered");
    if json {
        print_json(&serde_json::json!({ "queued": count, "deliveries": outcomes }));
    } else {
        for entry in &outcomes {
            let mark = if entry["outcome"] == "delivered" {
                "✓"
            } else {
                "✗"
            };
            let status = entry["http_status"]
                .as_u64()
                .map(|s| format!(" ({s})"))
                .unwrap_or_default();
            let error = entry["error"]
                .as_str()
                .map(|e| format!(": {e}"))
                .unwrap_or_default();
            println!(
                "  {mark} {:<8} {} {}{status}{error}",
                entry["channel"].as_str().unwrap_or(""),
                entry["target"].as_str().unwrap_or(""),
                entry["outcome"].as_str().unwrap_or("")
            );
        }
        let missing = count.saturating_sub(outcomes.len() as u64);
        if missing > 0 {
            println!(
                "  … {missing} target(s) gave no outcome within {} s",
                OUTCOME_WAIT.as_secs()
            );
        }
    }
    if all_delivered {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
