//! An idle server stays idle (issue 14, defect 12): with a bridge running, a live log tail
//! open, and after the bridge stopped, `clauster run` uses under 5 % of one core.
//!
//! The figure is the server process's own CPU time (`utime + stime` of `/proc/<pid>/stat`,
//! children excluded) over a 5 s window: a measurement over a fixed window, not a wait.

use crate::support;

use std::time::Duration;

use support::{call, serve_fake, trusted_project};

/// The server's own CPU time so far, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc/<pid>/stat");
    // Fields after the command name (which may hold spaces) start at field 3 (`state`):
    // utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').expect("a stat line").1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| -> u64 { fields[n - 3].parse().expect("a tick count") };
    field(14) + field(15)
}

fn ticks_per_second() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(100)
}

/// The share of one core the server used over a 5 s window, in per cent: the lowest of up
/// to three windows, so a moment of work right after a start (or another test's load on a
/// busy machine) is not taken for a spin, which shows in every window.
async fn idle_share(pid: u32) -> f64 {
    const WINDOW: Duration = Duration::from_secs(5);
    let mut lowest = f64::INFINITY;
    for _ in 0..3 {
        let before = cpu_ticks(pid);
        tokio::time::sleep(WINDOW).await;
        let used = cpu_ticks(pid) - before;
        #[allow(clippy::cast_precision_loss, reason = "tick counts are small")]
        let share = used as f64 * 100.0 / (ticks_per_second() as f64 * WINDOW.as_secs_f64());
        lowest = lowest.min(share);
        if lowest < MAX_IDLE_SHARE {
            break;
        }
    }
    lowest
}

const MAX_IDLE_SHARE: f64 = 5.0;

#[tokio::test]
async fn an_idle_server_with_a_bridge_uses_under_five_per_cent_of_a_core() {
    let (sandbox, _) = trusted_project("alpha", &[".git"]);
    let server = serve_fake(&sandbox, &[]);
    let pid = server.child.0.id();

    let (status, started) = server.start_bridge("alpha").await;
    assert_eq!(status, 201, "{started}\n{}", server.log());
    assert_eq!(started["status"], "running", "{started}");
    let id = started["instance_id"].as_str().expect("an id").to_owned();
    // A live log tail reads the same files on every change it is told about.
    let (tail, _) = tokio_tungstenite::connect_async(format!("{}/ws/bridge-log/{id}", server.ws))
        .await
        .expect("the log tail's handshake");

    let running = idle_share(pid).await;
    assert!(
        running < MAX_IDLE_SHARE,
        "with one bridge running the idle server used {running:.1} % of a core in each of three 5 s windows\n{}",
        server.log()
    );

    // Stop answers once the bridge is gone.
    let instance = format!("{}/api/instances/{id}", server.base);
    let (status, stopped) = call(reqwest::Method::DELETE, &instance, None).await;
    assert_eq!(status, 200, "{stopped}");
    assert_eq!(stopped["status"], "stopped", "{stopped}");

    let after = idle_share(pid).await;
    assert!(
        after < MAX_IDLE_SHARE,
        "after its bridge stopped the idle server used {after:.1} % of a core in each of three 5 s windows\n{}",
        server.log()
    );
    drop(tail);
}
