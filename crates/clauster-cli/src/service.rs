//! `clauster install-service systemd` (cli.md §3, §5): the unit that keeps bridges alive
//! across restarts (`KillMode=process`).
#![allow(clippy::print_stdout)] // the unit and the next steps are this command's output

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// What the unit is made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitSpec {
    pub exe: PathBuf,
    pub config: PathBuf,
    pub path: String,
    pub user_unit: bool,
    pub run_as: Option<String>,
}

/// systemd quoting: a value with spaces (or quotes) is double-quoted with `\` escapes.
fn quoted(value: &str) -> String {
    if value.contains([' ', '"', '\\']) {
        format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        value.to_owned()
    }
}

pub fn render(spec: &UnitSpec) -> String {
    let exe = quoted(&spec.exe.to_string_lossy());
    let config = quoted(&spec.config.to_string_lossy());
    // systemd takes WorkingDirectory= literally: quotes would be part of the path.
    let workdir = spec
        .config
        .parent()
        .map_or_else(|| "/".to_owned(), |d| d.to_string_lossy().into_owned());
    let mut unit = String::from(
        "[Unit]\nDescription=Clauster - remote-control bridges for Claude Code\n\
         After=network-online.target\nWants=network-online.target\n\n[Service]\nType=simple\n",
    );
    if let (false, Some(user)) = (spec.user_unit, &spec.run_as) {
        let _ = writeln!(unit, "User={user}");
    }
    let _ = write!(
        unit,
        "ExecStart={exe} run -c {config}\nWorkingDirectory={workdir}\n\
         Environment=CLAUSTER_CONFIG={config}\n"
    );
    let path_line = format!("PATH={}", spec.path)
        .replace('\\', "\\\\")
        .replace('"', "\\\"");
    let _ = write!(
        unit,
        "Environment=\"{path_line}\"\nRestart=on-failure\nRestartSec=5\n\
         # Bridges and PTY keepers are detached but live in this unit's cgroup. The default\n\
         # KillMode=control-group would kill them on every restart; process keeps them running\n\
         # so the next start finds them again.\nKillMode=process\n\
         # Room for max_connections (default 512) sockets plus the bridges' logs and pipes;\n\
         # clauster raises its soft descriptor limit to this hard one at start.\n\
         LimitNOFILE=65536\n\n[Install]\nWantedBy={}\n",
        if spec.user_unit {
            "default.target"
        } else {
            "multi-user.target"
        }
    );
    unit
}

/// The command: prints the unit, or writes it with `--write` (an empty path means the
/// default location).
pub fn install(
    kind: &str,
    config: Option<&Path>,
    user_unit: bool,
    write: Option<PathBuf>,
    run_as: Option<String>,
) -> ExitCode {
    if kind != "systemd" {
        eprintln!("clauster: error: only systemd is supported");
        return ExitCode::from(2);
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/root"), PathBuf::from);
    // `-c`, else the file `clauster run` reads here now, else the usual place for the unit.
    let given = config.is_some();
    let config = match config {
        Some(c) => std::path::absolute(c).unwrap_or_else(|_| c.to_path_buf()),
        None => std::env::current_dir()
            .ok()
            .and_then(|cwd| crate::config_file::found_config_file(&cwd, Some(&home)))
            .and_then(|found| std::path::absolute(found).ok())
            .unwrap_or_else(|| {
                if user_unit {
                    home.join(".config/clauster/clauster.yml")
                } else {
                    PathBuf::from("/etc/clauster/clauster.yml")
                }
            }),
    };
    if !config.exists() {
        let or_pass = if given {
            ""
        } else {
            " or pass -c with your config"
        };
        eprintln!(
            "clauster: warning: {} does not exist; the service cannot start until it does: \
             create it (an empty file means the defaults){or_pass}",
            config.display()
        );
    }
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/usr/local/bin/clauster"));
    let mut path = std::env::var("PATH").unwrap_or_default();
    let local_bin = home.join(".local/bin");
    if !path.split(':').any(|p| Path::new(p) == local_bin) {
        if !path.is_empty() {
            path.push(':');
        }
        path.push_str(&local_bin.to_string_lossy());
    }
    let unit = render(&UnitSpec {
        exe,
        config,
        path,
        user_unit,
        run_as,
    });
    let Some(target) = write else {
        print!("{unit}");
        return ExitCode::SUCCESS;
    };
    // `--write` without a path (empty here): the default location.
    let target = Some(target)
        .filter(|t| !t.as_os_str().is_empty())
        .unwrap_or_else(|| {
            if user_unit {
                home.join(".config/systemd/user/clauster.service")
            } else {
                PathBuf::from("/etc/systemd/system/clauster.service")
            }
        });
    let written = target
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::write(&target, &unit));
    if let Err(err) = written {
        eprintln!("clauster: error: cannot write {}: {err}", target.display());
        return ExitCode::FAILURE;
    }
    let ctl = if user_unit {
        "systemctl --user"
    } else {
        "systemctl"
    };
    let unit_name = target
        .file_name()
        .map_or_else(|| "clauster.service".into(), |n| n.to_string_lossy());
    println!("wrote {}", target.display());
    println!("{ctl} daemon-reload && {ctl} enable --now {unit_name}");
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_and_user_units() {
        let system = UnitSpec {
            exe: "/usr/local/bin/clauster".into(),
            config: "/etc/clauster/clauster.yml".into(),
            path: "/usr/bin:/bin:/root/.local/bin".into(),
            user_unit: false,
            run_as: Some("claude".into()),
        };
        insta::assert_snapshot!("system", render(&system));
        let user = UnitSpec {
            exe: "/home/me/my tools/clauster".into(),
            config: "/home/me/.config/clauster/clauster.yml".into(),
            path: "/usr/bin:/home/me/.local/bin".into(),
            user_unit: true,
            run_as: Some("ignored for user units".into()),
        };
        insta::assert_snapshot!("user", render(&user));
    }

    /// A space in the config's directory: ExecStart and Environment quote it, and
    /// WorkingDirectory= (which systemd takes literally) does not.
    #[test]
    fn a_config_path_with_a_space() {
        let unit = render(&UnitSpec {
            exe: "/usr/local/bin/clauster".into(),
            config: "/srv/a dir/c.yml".into(),
            path: "/usr/bin".into(),
            user_unit: true,
            run_as: None,
        });
        assert!(
            unit.contains("\nExecStart=/usr/local/bin/clauster run -c \"/srv/a dir/c.yml\"\n"),
            "{unit}"
        );
        assert!(unit.contains("\nWorkingDirectory=/srv/a dir\n"), "{unit}");
        assert!(
            unit.contains("\nEnvironment=CLAUSTER_CONFIG=\"/srv/a dir/c.yml\"\n"),
            "{unit}"
        );
    }
}
