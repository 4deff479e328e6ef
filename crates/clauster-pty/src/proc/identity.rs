//! Start-identity reads: `/proc/<pid>/stat`, `/proc/<pid>/cmdline` and the boot id, turned
//! into `clauster_core::identity` values (bridges.md §16).

use std::io;
use std::path::Path;
use std::sync::OnceLock;

use clauster_core::identity::{
    BootId, Cmdline, ObservedProcess, StartIdentity, parse_boot_id, parse_btime, parse_proc_stat,
    proc_start_seconds,
};
use nix::unistd::{SysconfVar, sysconf};

const BOOT_ID_PATH: &str = "/proc/sys/kernel/random/boot_id";

/// Reads what the kernel says about `pid` right now.
///
/// `Ok(None)` means there is no such process (or it vanished mid-read); an unparsable stat
/// line is `InvalidData`. A zombie is returned as it is (its state says so and its command
/// line is empty), so `clauster_core::identity::is_live` can reject it.
pub fn read_identity(pid: i32) -> io::Result<Option<ObservedProcess>> {
    if pid <= 0 {
        return Ok(None);
    }
    let dir = format!("/proc/{pid}");
    let Some(stat_bytes) = read_if_present(Path::new(&dir).join("stat").as_path())? else {
        return Ok(None);
    };
    let stat = parse_proc_stat(&String::from_utf8_lossy(&stat_bytes))
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    let Some(cmdline) = read_if_present(Path::new(&dir).join("cmdline").as_path())? else {
        return Ok(None);
    };
    let proc_start = boot_time().map(|bt| proc_start_seconds(bt, stat.start_ticks, clk_tck()));
    Ok(Some(ObservedProcess {
        stat,
        boot_id: boot_id().cloned(),
        proc_start,
        cmdline: Cmdline::parse(&cmdline),
    }))
}

/// The pids of the process table now (the numeric entries of `/proc`); empty when `/proc`
/// cannot be read.
pub fn pids() -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| *pid > 0)
        .collect()
}

/// The start identity to record for an observed process (ticks, boot id and `proc_start`
/// from that one read).
pub fn start_identity_of(observed: &ObservedProcess) -> StartIdentity {
    StartIdentity {
        pid: observed.stat.pid,
        start_ticks: Some(observed.stat.start_ticks),
        boot_id: observed.boot_id.clone(),
        proc_start: observed.proc_start,
    }
}

/// A file under `/proc/<pid>`, or `None` when the process is gone: `ENOENT` before the read,
/// `ESRCH` when it exits during it.
fn read_if_present(path: &Path) -> io::Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e)
            if e.kind() == io::ErrorKind::NotFound
                || e.raw_os_error() == Some(nix::libc::ESRCH) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

// The boot id, boot time and tick rate cannot change while this process runs; read them once.

fn boot_id() -> Option<&'static BootId> {
    static BOOT_ID: OnceLock<Option<BootId>> = OnceLock::new();
    BOOT_ID
        .get_or_init(|| {
            std::fs::read_to_string(BOOT_ID_PATH)
                .ok()
                .and_then(|t| parse_boot_id(&t).ok())
        })
        .as_ref()
}

fn boot_time() -> Option<u64> {
    static BTIME: OnceLock<Option<u64>> = OnceLock::new();
    *BTIME.get_or_init(|| {
        std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|t| parse_btime(&t))
    })
}

fn clk_tck() -> u64 {
    static CLK_TCK: OnceLock<u64> = OnceLock::new();
    // 0 makes `proc_start_seconds` use the usual 100.
    *CLK_TCK.get_or_init(|| {
        sysconf(SysconfVar::CLK_TCK)
            .ok()
            .flatten()
            .and_then(|v| u64::try_from(v).ok())
            .unwrap_or(0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proc::test_support::{Guard, spawn_sh, wait_until};
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    #[test]
    fn reads_this_process() {
        let pid = i32::try_from(std::process::id()).unwrap();
        let obs = read_identity(pid).unwrap().expect("own process exists");
        assert_eq!(obs.stat.pid, pid);
        assert!(!obs.stat.is_defunct());
        assert_eq!(
            obs.stat.session,
            nix::unistd::getsid(None).unwrap().as_raw(),
            "session field"
        );
        assert!(!obs.cmdline.args().is_empty());
        assert!(obs.boot_id.is_some(), "Linux has a boot id");
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let started = obs.proc_start.expect("btime is readable");
        assert!(
            started <= now + 1.0 && now - started < 3600.0,
            "{started} vs {now}"
        );

        let rec = start_identity_of(&obs);
        assert_eq!(rec.pid, pid);
        assert_eq!(rec.start_ticks, Some(obs.stat.start_ticks));
        assert_eq!(rec.boot_id, obs.boot_id);
        // A second read names the same process.
        let again = read_identity(pid).unwrap().unwrap();
        assert_eq!(again.stat.start_ticks, obs.stat.start_ticks);
    }

    #[test]
    fn missing_and_invalid_pids_are_none() {
        assert!(read_identity(0).unwrap().is_none());
        assert!(read_identity(-5).unwrap().is_none());
        // Above any pid_max Linux allows (2^22).
        assert!(read_identity(0x7fff_fff0).unwrap().is_none());
    }

    #[test]
    fn reads_a_child_and_then_its_zombie() {
        let mut g = Guard::new(spawn_sh("sleep 0.5; exit 0", &[]));
        let obs = read_identity(g.pid).unwrap().unwrap();
        assert_eq!(obs.stat.pid, g.pid);
        assert_eq!(obs.stat.session, g.pid, "spawned in its own session");
        assert_eq!(obs.cmdline.args()[0], "/bin/sh");
        // Once it exits, unreaped, it stays a zombie.
        assert!(wait_until(Duration::from_secs(5), || {
            read_identity(g.pid)
                .unwrap()
                .is_some_and(|o| o.stat.is_defunct())
        }));
        let zombie = read_identity(g.pid).unwrap().unwrap();
        assert!(zombie.cmdline.args().is_empty());
        assert_eq!(zombie.stat.start_ticks, obs.stat.start_ticks);
        assert!(g.wait(Duration::from_secs(5)).unwrap().success());
        assert!(read_identity(g.pid).unwrap().is_none(), "reaped");
    }
}
