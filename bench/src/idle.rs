//! The idle server's CPU with running bridges (issue 14 defect 12): the server's own user +
//! system time from `/proc/<pid>/stat` over a quiet window, as a share of one core. The
//! bridges are the fake `claude`, idle once ready, so whatever the server spends is its own
//! watching and polling.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::http::Client;
use crate::server::{self, Flavor, Sandbox};

/// The server's user + system clock ticks so far (fields 14 and 15 of `/proc/<pid>/stat`).
fn cpu_ticks(pid: u32) -> Result<u64, String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|e| format!("/proc/{pid}/stat: {e}"))?;
    // The command name may hold spaces; the fields after its closing parenthesis do not.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let field = |n: usize| -> Result<u64, String> {
        fields
            .get(n)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("/proc/{pid}/stat has no field {}", n + 3))
    };
    // `fields[0]` is field 3 (the state): utime is field 14, stime field 15.
    Ok(field(11)? + field(12)?)
}

/// Clock ticks per second, as `getconf CLK_TCK` says (100 on every Linux we run on).
fn ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(100.0)
}

/// Starts `bridges` bridges (one per project) on a fresh server of `flavor`, waits until all
/// run, lets it settle, then returns the server's CPU share of one core (in per cent) over
/// `window`.
pub fn measure(
    flavor: &Flavor,
    claude: &std::path::Path,
    out: &std::path::Path,
    bridges: usize,
    window: Duration,
) -> Result<f64, String> {
    let dir = out.join(format!("idle-{}-{bridges}", flavor.name()));
    let sandbox = Sandbox::create(&dir, bridges).map_err(|e| format!("projects root: {e}"))?;
    let names: Vec<String> = (0..bridges).map(|i| format!("p{i:04}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    sandbox.trust(&refs).map_err(|e| format!("trust: {e}"))?;
    let running = server::start(flavor, &sandbox, claude, &[])?;
    let mut client = Client::new(running.port);
    let mut ids = Vec::new();
    for name in &names {
        let response = client
            .request("POST", "/api/instances", Some(&json!({ "project": name })))
            .map_err(|e| e.to_string())?;
        let answer: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
        match answer["instance_id"].as_str() {
            Some(id) if (200..300).contains(&response.status) => ids.push(id.to_owned()),
            _ => {
                return Err(format!(
                    "starting {name} answered {}: {answer}",
                    response.status
                ));
            }
        }
    }
    let deadline = Instant::now() + Duration::from_mins(3);
    loop {
        let response = client.get("/api/instances").map_err(|e| e.to_string())?;
        let list: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
        let up = list
            .as_array()
            .map_or(0, |l| l.iter().filter(|i| i["status"] == "running").count());
        if up >= bridges {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!(
                "only {up} of {bridges} bridges ran within 3 minutes"
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    // Readiness work, first metrics polls and log reads end well within this.
    std::thread::sleep(Duration::from_secs(3));
    let pid = running.pid();
    let before = cpu_ticks(pid)?;
    let started = Instant::now();
    std::thread::sleep(window);
    let spent = cpu_ticks(pid)? - before;
    let seconds = started.elapsed().as_secs_f64();
    #[allow(clippy::cast_precision_loss, reason = "tick counts are small")]
    let share = spent as f64 / ticks_per_second() / seconds * 100.0;
    // The bridges are detached: stop them, or they would outlive the bench.
    for id in &ids {
        let _ = client.request("DELETE", &format!("/api/instances/{id}"), None);
    }
    Ok(share)
}
