//! `clauster doctor [--json]` (cli.md §3, §4): the server crate's checks computed in this
//! process, plus the two rows only the command line has (`port`, `server`).
#![allow(clippy::print_stdout)] // the rows are this command's output

use std::fmt::Write as _;
use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream, ToSocketAddrs as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clauster_core::config::{Config, ConfigError, Problems};
use clauster_core::doctor::{self as verdicts, Verdict};
use clauster_server::doctor::{check, checks, config_row};
use clauster_wire::{Check, CheckReport, CheckStatus};

use crate::config_file;

/// How long the `/healthz` probe of the `server` row may take.
const HEALTHZ_TIMEOUT: Duration = Duration::from_secs(2);

pub fn doctor(config_path: Option<&Path>, json: bool) -> ExitCode {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from);
    let loaded =
        config_file::load_config_for_doctor(config_path, std::env::vars(), &cwd, home.as_deref());
    let rows = match loaded {
        Err(err) => vec![
            check("config", Verdict::Fail(err.to_string())),
            check(
                "platform",
                if cfg!(target_os = "linux") {
                    Verdict::Ok("pty supported".to_owned())
                } else {
                    Verdict::Warn(
                        "pty not supported on this platform; Interactive Sessions start in \
                         standard mode"
                            .to_owned(),
                    )
                },
            ),
        ],
        Ok((loaded, problems)) => {
            let first = if !problems.is_empty() {
                check(
                    "config",
                    Verdict::Fail(ConfigError::Invalid(Problems(problems)).to_string()),
                )
            } else if loaded.path.is_some() {
                config_row(loaded.path.as_deref(), &loaded.unknown_keys)
            } else {
                check("config", verdicts::no_config_file(&loaded.searched))
            };
            match computed(&loaded.config, first) {
                Ok(rows) => rows,
                Err(code) => return code,
            }
        }
    };
    let report = CheckReport::from_checks(rows);
    if json {
        match serde_json::to_string_pretty(&report) {
            Ok(text) => println!("{text}"),
            Err(err) => {
                eprintln!("clauster: error: cannot render the report: {err}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        print!("{}", render(&report.checks));
    }
    eprintln!("clauster: {}", summary(&report));
    if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn computed(config: &Config, first: Check) -> Result<Vec<Check>, ExitCode> {
    let runtime = crate::headless::runtime_or_exit(Some(2))?;
    let mut rows = runtime.block_on(checks(config, first));
    let (port, server) = listener_rows(config);
    rows.push(check("port", port));
    rows.push(check("server", server));
    Ok(rows)
}

/// `port` and `server`: whether the configured port is free, and whether a server answers.
/// A port held by the Clauster that answers on it is fine; held by anything else, a warning.
fn listener_rows(config: &Config) -> (Verdict, Verdict) {
    let port = config.port;
    // A wildcard bind is reached on loopback.
    let host = match config.host.as_str() {
        "0.0.0.0" => "127.0.0.1",
        "::" => "::1",
        other => other,
    };
    let control_answers = std::os::unix::net::UnixStream::connect(
        clauster_server::control_socket_for(&config.state_dir),
    )
    .is_ok();
    // Over TLS a plain-HTTP probe cannot be answered; the Clauster of this state directory
    // answering on its control socket is what shows the port is its own.
    let answers = if config.tls.is_some() {
        control_answers
    } else {
        healthz_answers(host, port, &config.root_path)
    };
    let port_row = match TcpListener::bind((config.host.as_str(), port)) {
        Ok(listener) => {
            drop(listener);
            Verdict::Ok(format!("{port} free"))
        }
        Err(err) if err.kind() == std::io::ErrorKind::AddrInUse && answers => {
            Verdict::Ok(format!("{port} in use by the running Clauster"))
        }
        Err(err) if err.kind() == std::io::ErrorKind::AddrInUse => Verdict::Warn(format!(
            "{port} in use by another program; stop it or set port to a free one"
        )),
        Err(err) => Verdict::Warn(format!("{port}: cannot bind {}: {err}", config.host)),
    };
    let server_row = if answers && config.tls.is_none() {
        Verdict::Ok(format!(
            "running server on {port} answers {}/healthz",
            config.root_path
        ))
    } else if control_answers {
        Verdict::Ok("a running server answers on the control socket".to_owned())
    } else {
        Verdict::Ok("no server running".to_owned())
    };
    (port_row, server_row)
}

/// One plain-HTTP `GET <root_path>/healthz`; true on a 200 whose body has `"status"`.
fn healthz_answers(host: &str, port: u16, root_path: &str) -> bool {
    let Some(address) = (host, port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
    else {
        return false;
    };
    let Ok(mut stream) = TcpStream::connect_timeout(&address, HEALTHZ_TIMEOUT) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(HEALTHZ_TIMEOUT));
    let _ = stream.set_write_timeout(Some(HEALTHZ_TIMEOUT));
    let request = format!(
        "GET {root_path}/healthz HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\
         Accept: application/json\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut answer = Vec::new();
    let _ = stream.take(64 * 1024).read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    text.starts_with("HTTP/1.1 200") && text.contains("\"status\"")
}

/// `  ✓ <name:16> <detail>` per row (`!` warn, `✗` fail).
fn render(rows: &[Check]) -> String {
    let mut out = String::new();
    for row in rows {
        let mark = match row.status {
            CheckStatus::Ok => '✓',
            CheckStatus::Warn => '!',
            CheckStatus::Fail => '✗',
        };
        let _ = writeln!(out, "  {mark} {:<16} {}", row.name, row.detail);
    }
    out
}

fn summary(report: &CheckReport) -> String {
    if !report.ok {
        "FAILURES above".to_owned()
    } else if report.warnings() > 0 {
        format!("{} warning(s)", report.warnings())
    } else {
        "all checks passed".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_and_summaries_render_as_the_spec_shows() {
        let report = CheckReport::from_checks(vec![
            Check::new(
                "config",
                CheckStatus::Ok,
                "loaded /etc/clauster/clauster.yml",
            ),
            Check::new("git", CheckStatus::Warn, "git not on PATH"),
            Check::new(
                "claude",
                CheckStatus::Fail,
                "claude binary 'claude' not found on PATH",
            ),
        ]);
        insta::assert_snapshot!(render(&report.checks));
        assert_eq!(summary(&report), "FAILURES above");
        let warned = CheckReport::from_checks(report.checks[..2].to_vec());
        assert_eq!(summary(&warned), "1 warning(s)");
        let clean = CheckReport::from_checks(report.checks[..1].to_vec());
        assert_eq!(summary(&clean), "all checks passed");
    }
}
