//! Bridge latencies with the fake `claude`: spawn → running, stop → stopped, and the push of
//! each status change on `/ws/events`.
//!
//! Ours, precisely: the fake stamps each debug-log line with a millisecond UTC time; the
//! server records `ready_at` / `ended_at` when the status changes; the `/ws/events` reader
//! stamps each frame when it arrives. So
//! * spawn → running = `ready_at` − the fake's "Starting poll loop" line,
//! * stop → stopped = `ended_at` − the fake's "… received, shutting down" line (it exits right
//!   after writing it),
//! * push = frame arrival − `ready_at` (or `ended_at`).
//!
//! End to end (request sent → status seen by the client) is measured for both programs; the
//! Python Clauster has no event stream, so its client polls the instance every 5 ms.

use std::net::TcpStream;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::http::Client;

/// Milliseconds since the epoch of an RFC 3339 timestamp.
pub fn rfc3339_ms(text: &str) -> Option<i128> {
    let at =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    Some(at.unix_timestamp_nanos() / 1_000_000)
}

fn now_ms_f64() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// The timestamp of the last debug-log line containing `needle`.
pub fn log_line_ms(log: &str, needle: &str) -> Option<i128> {
    log.lines()
        .rfind(|l| l.contains(needle))
        .and_then(|l| l.split_whitespace().next())
        .and_then(rfc3339_ms)
}

/// One spawn/stop cycle's figures, in milliseconds.
#[derive(Debug, Clone, Default)]
pub struct Cycle {
    pub spawn_precise: Option<f64>,
    pub stop_precise: Option<f64>,
    pub push_running: Option<f64>,
    pub push_stopped: Option<f64>,
    pub spawn_e2e: f64,
    pub stop_e2e: f64,
}

#[allow(
    clippy::cast_precision_loss,
    reason = "millisecond timestamps fit an f64 exactly"
)]
fn ms(v: i128) -> f64 {
    v as f64
}

/// Frames from `/ws/events`, each with its arrival time (ms since the epoch).
struct Events {
    rx: mpsc::Receiver<(f64, Value)>,
}

impl Events {
    fn connect(port: u16) -> Result<Self, String> {
        let stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        let (mut socket, _) =
            tungstenite::client(format!("ws://127.0.0.1:{port}/ws/events"), stream)
                .map_err(|e| format!("/ws/events handshake failed: {e}"))?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            while let Ok(message) = socket.read() {
                let at = now_ms_f64();
                if let tungstenite::Message::Text(text) = message
                    && let Ok(frame) = serde_json::from_str::<Value>(text.as_str())
                    && tx.send((at, frame)).is_err()
                {
                    break;
                }
            }
        });
        Ok(Self { rx })
    }

    /// Waits for the `instance` frame of `id` with `status`; its arrival time.
    fn wait_status(&self, id: &str, status: &str) -> Result<f64, String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let (at, frame) = self
                .rx
                .recv_timeout(left)
                .map_err(|_| format!("no `{status}` frame for {id} within 30 s"))?;
            if frame["type"] == "instance"
                && frame["instance"]["instance_id"] == id
                && frame["instance"]["status"] == status
            {
                return Ok(at);
            }
        }
    }
}

fn instance(client: &mut Client, id: &str) -> Result<Value, String> {
    let response = client
        .get(&format!("/api/instances/{id}"))
        .map_err(|e| e.to_string())?;
    response
        .json()
        .filter(|_| response.status == 200)
        .ok_or_else(|| format!("GET /api/instances/{id} answered {}", response.status))
}

fn start_instance(client: &mut Client, project: &str) -> Result<String, String> {
    let response = client
        .request(
            "POST",
            "/api/instances",
            Some(&json!({ "project": project })),
        )
        .map_err(|e| e.to_string())?;
    let body = response.json().unwrap_or(Value::Null);
    if !(200..300).contains(&response.status) {
        return Err(format!(
            "POST /api/instances answered {}: {body}",
            response.status
        ));
    }
    body["instance_id"]
        .as_str()
        .or_else(|| body["id"].as_str())
        .map(str::to_owned)
        .ok_or_else(|| format!("no instance_id in {body}"))
}

/// For the instance `row`: when its bridge's debug log last says `needle`, and the server's
/// time stamp `field` (`ready_at`, `ended_at`), both in epoch ms.
fn logged_and_stamped(row: &Value, needle: &str, field: &str) -> (Option<i128>, Option<i128>) {
    let log = row["bridge_debug_log_path"]
        .as_str()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_default();
    (
        log_line_ms(&log, needle),
        row[field].as_str().and_then(rfc3339_ms),
    )
}

/// `runs` spawn/stop cycles of `project` on our server.
pub fn ours(port: u16, project: &str, runs: usize) -> Result<Vec<Cycle>, String> {
    let events = Events::connect(port)?;
    let mut client = Client::new(port);
    let mut cycles = Vec::new();
    for _ in 0..runs {
        let sent = now_ms_f64();
        let id = start_instance(&mut client, project)?;
        let running_seen = events.wait_status(&id, "running")?;
        let row = instance(&mut client, &id)?;
        let (marker, ready) = logged_and_stamped(&row, "Starting poll loop", "ready_at");

        let stop_sent = now_ms_f64();
        let response = client
            .request("DELETE", &format!("/api/instances/{id}"), None)
            .map_err(|e| e.to_string())?;
        if response.status != 200 {
            return Err(format!("DELETE answered {}", response.status));
        }
        let stopped_seen = events.wait_status(&id, "stopped")?;
        let row = instance(&mut client, &id)?;
        let (shutdown, ended) = logged_and_stamped(&row, "received, shutting down", "ended_at");
        cycles.push(Cycle {
            spawn_precise: marker.zip(ready).map(|(m, r)| ms(r - m)),
            stop_precise: shutdown.zip(ended).map(|(s, e)| ms(e - s)),
            push_running: ready.map(|r| running_seen - ms(r)),
            push_stopped: ended.map(|e| stopped_seen - ms(e)),
            spawn_e2e: running_seen - sent,
            stop_e2e: stopped_seen - stop_sent,
        });
        let _ = client.request("POST", &format!("/api/instances/{id}/forget"), None);
    }
    Ok(cycles)
}

/// Polls `GET /api/instances/{id}` every 5 ms until `status`; the time it was seen.
fn poll_status(client: &mut Client, id: &str, status: &str) -> Result<f64, String> {
    let deadline = Instant::now() + Duration::from_mins(1);
    loop {
        let row = instance(client, id)?;
        if row["status"] == status {
            return Ok(now_ms_f64());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{id} did not reach `{status}` within 60 s (last: {})",
                row["status"]
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// `runs` spawn/stop cycles on the Python Clauster, end to end only.
pub fn python(port: u16, project: &str, runs: usize) -> Result<Vec<Cycle>, String> {
    let mut client = Client::new(port);
    let mut cycles = Vec::new();
    for _ in 0..runs {
        let sent = now_ms_f64();
        let id = start_instance(&mut client, project)?;
        let running_seen = poll_status(&mut client, &id, "running")?;
        let stop_sent = now_ms_f64();
        let response = client
            .request("DELETE", &format!("/api/instances/{id}"), None)
            .map_err(|e| e.to_string())?;
        if !(200..300).contains(&response.status) {
            return Err(format!("DELETE answered {}", response.status));
        }
        let stopped_seen = poll_status(&mut client, &id, "stopped")?;
        cycles.push(Cycle {
            spawn_e2e: running_seen - sent,
            stop_e2e: stopped_seen - stop_sent,
            ..Cycle::default()
        });
        let _ = client.request("POST", &format!("/api/instances/{id}/forget"), None);
    }
    Ok(cycles)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fake_log_lines_give_their_millisecond_time() {
        let log = "2026-11-25T19:30:01.120Z [DEBUG] [bridge:init] Created initial session s\n\
                   2026-11-25T19:30:01.123Z [DEBUG] [bridge:work] Starting poll loop spawnMode=same-dir\n";
        let marker = log_line_ms(log, "Starting poll loop").expect("found");
        let ready = rfc3339_ms("2026-11-25T19:30:01.140Z").expect("parses");
        assert_eq!(ready - marker, 17);
        assert_eq!(log_line_ms(log, "shutting down"), None);
        assert_eq!(rfc3339_ms("yesterday"), None);
    }
}
