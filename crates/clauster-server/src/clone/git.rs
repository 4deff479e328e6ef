//! Running git for create and clone (data.md §3.2, §3.4): the locked-down environment, the
//! binary lookup, and stopping a git process group.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use clauster_core::clone::{CloneHost, CloneUrl};
use clauster_core::config::Config;
use clauster_core::sanitize::sanitize_line;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use crate::bridge_env::BridgeEnv;

/// How long git gets after SIGTERM before its group is killed (data.md §3.4).
pub const TERM_GRACE: Duration = Duration::from_secs(2);

/// The scrubbed child environment (bridges.md §4.3 steps 1–4) plus the git variables of
/// data.md §3.4. `ssh_pin` adds the checked address to ssh's options so ssh connects to
/// it and nowhere else, while host keys stay filed under the name.
pub fn git_env(
    config: &Config,
    ssh_pin: Option<(&str, std::net::IpAddr)>,
) -> Vec<(OsString, OsString)> {
    let base = BridgeEnv::build(config, std::env::vars_os(), None);
    let mut ssh = String::from("ssh -oBatchMode=yes -oStrictHostKeyChecking=accept-new");
    if let Some((host, ip)) = ssh_pin {
        // Both values passed the host-name rules of the URL check (letters, digits, `.-_`)
        // or are address literals, so the shell git runs this through sees no metacharacter.
        let _ = write!(ssh, " -oHostName={ip} -oHostKeyAlias={host}");
    }
    let git_vars = [
        ("GIT_ALLOW_PROTOCOL", config.clone.allowed_schemes.join(":")),
        ("GIT_TERMINAL_PROMPT", "0".to_owned()),
        ("GIT_ASKPASS", String::new()),
        ("SSH_ASKPASS", String::new()),
        ("GIT_SSH_COMMAND", ssh),
        ("GIT_CONFIG_NOSYSTEM", "1".to_owned()),
        ("GIT_CONFIG_GLOBAL", "/dev/null".to_owned()),
        ("GIT_LFS_SKIP_SMUDGE", "1".to_owned()),
    ];
    let mut vars: Vec<(OsString, OsString)> = base
        .vars()
        .iter()
        // Anything git reads from the environment that could point it elsewhere goes: the
        // scrubbed environment is the server's, and the server may have been started from
        // inside a repository or with git variables of its own.
        .filter(|(name, _)| !name.to_string_lossy().starts_with("GIT_"))
        .cloned()
        .collect();
    for (name, value) in git_vars {
        vars.retain(|(n, _)| n != name);
        vars.push((name.into(), value.into()));
    }
    vars
}

/// `git` on the PATH of the child environment, as an absolute path.
pub fn git_binary(env: &[(OsString, OsString)]) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt as _;
    let (_, path) = env.iter().find(|(n, _)| n == "PATH")?;
    std::env::split_paths(path)
        // Empty and relative entries name the server's cwd, which is no place to look.
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join("git"))
        .find(|candidate| {
            std::fs::metadata(candidate)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// The `-c` options and URL that make git connect only to `ip`, the address the guard
/// checked: `git://` gets the address in the URL, `http(s)://` a curl resolve entry (TLS still
/// checks the name), `ssh://` the ssh options of [`git_env`]. Redirects are never followed.
pub fn pinned_invocation(url: &CloneUrl, ip: std::net::IpAddr) -> (Vec<String>, String) {
    let mut config = vec!["http.followRedirects=false".to_owned()];
    let CloneHost::Name(host) = url.host() else {
        return (config, url.as_str().to_owned());
    };
    match url.scheme() {
        "git" => (config, url.with_host_ip(ip)),
        "http" | "https" => {
            let addr = match ip {
                std::net::IpAddr::V4(v4) => v4.to_string(),
                std::net::IpAddr::V6(v6) => format!("[{v6}]"),
            };
            config.push(format!("http.curloptResolve={host}:{}:{addr}", url.port()));
            (config, url.as_str().to_owned())
        }
        _ => (config, url.as_str().to_owned()),
    }
}

/// SIGTERM to git's process group, SIGKILL after [`TERM_GRACE`] if `exited` has not
/// resolved by then. Called only while git has not been reaped: its pid, which is the group
/// id, cannot have been reused, so the signals reach git and its helpers and nothing else
/// (security.md §9).
pub async fn stop_group(pgid: i32, exited: impl std::future::Future<Output = ()>) {
    let group = Pid::from_raw(pgid);
    let _ = killpg(group, Signal::SIGTERM);
    if tokio::time::timeout(TERM_GRACE, exited).await.is_err() {
        let _ = killpg(group, Signal::SIGKILL);
    }
}

/// The last lines git printed, as an error tail: joined by ` / `, the last `max` characters,
/// sanitized, and with the clone URL (any spelling git was given) replaced by `<url>`.
pub fn error_tail(lines: &[String], max: usize, urls: &[&str]) -> String {
    let mut joined = lines.join(" / ");
    for url in urls {
        if !url.is_empty() {
            joined = joined.replace(url, "<url>");
            joined = joined.replace(url.trim_end_matches('/'), "<url>");
        }
    }
    let clean = sanitize_line(&joined).into_owned();
    let count = clean.chars().count();
    if count <= max {
        clean
    } else {
        clean.chars().skip(count - max).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> CloneUrl {
        let schemes = ["https", "http", "ssh", "git"].map(str::to_owned);
        CloneUrl::parse(text, &schemes).expect("a valid URL")
    }

    #[test]
    fn git_connects_only_to_the_checked_address() {
        let ip: std::net::IpAddr = "140.82.112.3".parse().expect("ip");
        let v6: std::net::IpAddr = "2606:4700::1111".parse().expect("ip");
        assert_eq!(
            pinned_invocation(&url("https://github.com/org/repo.git"), ip),
            (
                vec![
                    "http.followRedirects=false".to_owned(),
                    "http.curloptResolve=github.com:443:140.82.112.3".to_owned()
                ],
                "https://github.com/org/repo.git".to_owned()
            )
        );
        assert_eq!(
            pinned_invocation(&url("http://example.com:8080/r"), v6).0[1],
            "http.curloptResolve=example.com:8080:[2606:4700::1111]"
        );
        assert_eq!(
            pinned_invocation(&url("git://example.com/r.git"), ip).1,
            "git://140.82.112.3/r.git"
        );
        // An address literal needs no pin: it is what was checked.
        assert_eq!(
            pinned_invocation(&url("https://140.82.112.3/r"), ip),
            (
                vec!["http.followRedirects=false".to_owned()],
                "https://140.82.112.3/r".to_owned()
            )
        );
    }

    #[test]
    fn the_git_environment_is_locked_down_and_pins_ssh() {
        let mut config = crate::test_fixtures::config("");
        config
            .claude
            .env
            .insert("GIT_DIR".into(), "/elsewhere".into());
        let ip: std::net::IpAddr = "140.82.112.3".parse().expect("ip");
        let env = git_env(&config, Some(("github.com", ip)));
        let get = |name: &str| {
            env.iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.to_string_lossy().into_owned())
        };
        assert_eq!(get("GIT_ALLOW_PROTOCOL").as_deref(), Some("https:ssh"));
        assert_eq!(get("GIT_TERMINAL_PROMPT").as_deref(), Some("0"));
        assert_eq!(get("GIT_ASKPASS").as_deref(), Some(""));
        assert_eq!(get("SSH_ASKPASS").as_deref(), Some(""));
        assert_eq!(get("GIT_CONFIG_NOSYSTEM").as_deref(), Some("1"));
        assert_eq!(get("GIT_CONFIG_GLOBAL").as_deref(), Some("/dev/null"));
        assert_eq!(get("GIT_LFS_SKIP_SMUDGE").as_deref(), Some("1"));
        assert_eq!(
            get("GIT_SSH_COMMAND").as_deref(),
            Some(
                "ssh -oBatchMode=yes -oStrictHostKeyChecking=accept-new -oHostName=140.82.112.3 -oHostKeyAlias=github.com"
            )
        );
        assert_eq!(
            get("GIT_DIR"),
            None,
            "no git variable of the server's reaches git"
        );
        assert!(env.iter().all(|(n, _)| {
            !n.to_string_lossy()
                .to_ascii_uppercase()
                .starts_with("CLAUSTER_")
        }));
        let plain = git_env(&config, None);
        assert_eq!(
            plain
                .iter()
                .find(|(n, _)| n == "GIT_SSH_COMMAND")
                .map(|(_, v)| v.to_string_lossy().into_owned())
                .as_deref(),
            Some("ssh -oBatchMode=yes -oStrictHostKeyChecking=accept-new")
        );
    }

    #[test]
    fn error_tails_are_cut_redacted_and_never_show_the_url() {
        let lines = vec![
            "Cloning into '.x.0a1b2c3d.clone-tmp'...".to_owned(),
            "fatal: repository 'https://example.com/r.git/' not found".to_owned(),
        ];
        assert_eq!(
            error_tail(&lines, 400, &["https://example.com/r.git"]),
            "Cloning into '.x.0a1b2c3d.clone-tmp'... / fatal: repository '<url>/' not found"
        );
        let long = vec!["x".repeat(1000)];
        assert_eq!(error_tail(&long, 400, &[]).chars().count(), 400);
    }
}
