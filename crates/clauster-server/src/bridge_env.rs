//! The environment bridges, keepers and probes run with (bridges.md §4.3), the nvm lookup that
//! feeds its PATH, and the resolution of `claude.binary` against that PATH (§4.1).

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use clauster_core::config::Config;

/// Every variable with this prefix is removed from what a child sees (§4.3 step 2), except
/// the two recap variables [`BridgeEnv::with_recap`] adds.
const CLAUSTER_PREFIX: &str = "CLAUSTER_";

/// How long `nvm which default` may take (§4.3 step 4).
const NVM_TIMEOUT: Duration = Duration::from_secs(5);

/// The script run to find nvm's default node (§4.3 step 4). `NVM_DIR` comes from the
/// environment handed to bash.
const NVM_SCRIPT: &str = r#". "$NVM_DIR/nvm.sh" >/dev/null 2>&1 && nvm which default"#;

/// The complete environment of a child process: callers `env_clear()` and pass [`vars`]
/// (`BridgeEnv::vars`), so nothing of the server's environment leaks past these rules.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BridgeEnv {
    vars: Vec<(OsString, OsString)>,
}

fn is_clauster_name(name: &OsStr) -> bool {
    name.as_bytes()
        .get(..CLAUSTER_PREFIX.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(CLAUSTER_PREFIX.as_bytes()))
}

impl BridgeEnv {
    /// §4.3 steps 1–4: the server's environment without `CLAUSTER_*`, overlaid with
    /// `claude.env`, `CLAUDE_CONFIG_DIR` from `claude.config_dir` when `claude.env` does not
    /// name one, and PATH composed from `nvm_dir_bin` (used only when
    /// `claude.node_from_nvm`), `claude.env.PATH` or the inherited PATH, and
    /// `claude.path_append`.
    ///
    /// `nvm_dir_bin` is the directory [`find_nvm_default_bin`] found, looked up once per
    /// server process.
    pub fn build(
        config: &Config,
        server_env: impl IntoIterator<Item = (OsString, OsString)>,
        nvm_dir_bin: Option<PathBuf>,
    ) -> BridgeEnv {
        let claude = &config.claude;
        // Steps 1–2. Matching is ASCII case-insensitive, like the check `claude.env` gets.
        let mut env = BridgeEnv {
            vars: server_env
                .into_iter()
                .filter(|(name, _)| !is_clauster_name(name))
                .collect(),
        };
        let inherited_path = env.get("PATH").map(OsStr::to_os_string);

        // Step 3. The config loader already dropped `CLAUSTER_*` keys (with its warning);
        // the filter repeats it so no other constructor of `Config` can smuggle one in.
        for (name, value) in &claude.env {
            if !is_clauster_name(OsStr::new(name)) {
                env.set(name, value);
            }
        }
        let env_config_dir = claude
            .env
            .get("CLAUDE_CONFIG_DIR")
            .filter(|v| !v.is_empty());
        // An empty `claude.env.CLAUDE_CONFIG_DIR` counts as absent, as in
        // `trust::global_config_file`, so claude and Clauster agree on `D` (§12.1).
        if env_config_dir.is_none()
            && let Some(dir) = &claude.config_dir
        {
            env.set("CLAUDE_CONFIG_DIR", dir);
        }

        // Step 4.
        let prefix = nvm_dir_bin.filter(|_| claude.node_from_nvm);
        if prefix.is_some() || !claude.path_append.is_empty() {
            let middle = claude
                .env
                .get("PATH")
                .map(OsString::from)
                .or(inherited_path);
            let mut parts: Vec<OsString> = Vec::new();
            parts.extend(prefix.map(PathBuf::into_os_string));
            // An empty PATH part would mean "the current directory"; it is left out.
            parts.extend(middle.filter(|m| !m.is_empty()));
            parts.extend(
                claude
                    .path_append
                    .iter()
                    .map(|p| p.as_os_str().to_os_string()),
            );
            env.set("PATH", parts.join(OsStr::new(":")));
        }
        env
    }

    /// §4.3 step 5, for standard bridges launched fresh when `claude.resume_recap` is true:
    /// the only `CLAUSTER_*` names a child ever sees.
    pub fn with_recap(&self, max_chars: u64) -> BridgeEnv {
        let mut env = self.clone();
        env.set("CLAUSTER_RESUME_RECAP", "1");
        env.set("CLAUSTER_RESUME_RECAP_MAX_CHARS", max_chars.to_string());
        env
    }

    /// The value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<&OsStr> {
        self.vars
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_os_str())
    }

    /// Every variable, for `Command::env_clear().envs(env.vars().iter().cloned())`.
    pub fn vars(&self) -> &[(OsString, OsString)] {
        &self.vars
    }

    /// Sets `name`, replacing it in place when present so the order stays stable.
    fn set(&mut self, name: impl AsRef<OsStr>, value: impl AsRef<OsStr>) {
        let (name, value) = (name.as_ref(), value.as_ref().to_os_string());
        match self.vars.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = value,
            None => self.vars.push((name.to_os_string(), value)),
        }
    }
}

/// nvm's default node directory (§4.3 step 4): runs `nvm which default` through bash with
/// `NVM_DIR` from `server_env` (else `<home>/.nvm`) and returns the parent directory of the
/// answer when that is an executable file. `None` without running anything when `nvm.sh` is
/// absent; `None` on any failure or after 5 s.
pub async fn find_nvm_default_bin(
    server_env: &[(OsString, OsString)],
    home: Option<&Path>,
) -> Option<PathBuf> {
    find_nvm_default_bin_within(server_env, home, NVM_TIMEOUT).await
}

async fn find_nvm_default_bin_within(
    server_env: &[(OsString, OsString)],
    home: Option<&Path>,
    timeout: Duration,
) -> Option<PathBuf> {
    let nvm_dir = server_env
        .iter()
        .find(|(name, value)| name == "NVM_DIR" && !value.is_empty())
        .map(|(_, value)| PathBuf::from(value))
        .or_else(|| home.map(|h| h.join(".nvm")))?;
    if !nvm_dir.join("nvm.sh").is_file() {
        return None;
    }
    let mut command = tokio::process::Command::new("bash");
    command
        .arg("-c")
        .arg(NVM_SCRIPT)
        .env_clear()
        .envs(
            server_env
                .iter()
                .filter(|(name, _)| !is_clauster_name(name) && name != "NVM_DIR")
                .cloned(),
        )
        .env("NVM_DIR", &nvm_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    let output = tokio::time::timeout(timeout, command.output())
        .await
        .ok()?
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?;
    let node = PathBuf::from(text.lines().next()?.trim());
    if !node.is_absolute() || !is_executable_file(&node) {
        return None;
    }
    node.parent().map(Path::to_path_buf)
}

/// A regular file (after following links) with some execute bit set.
fn is_executable_file(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// `~` and `~/…` against `home`; `None` when the path needs a home that is unknown.
fn expand_home(text: &str, home: Option<&Path>) -> Option<PathBuf> {
    if text == "~" {
        return home.map(Path::to_path_buf);
    }
    match text.strip_prefix("~/") {
        Some(rest) => home.map(|h| h.join(rest)),
        None => Some(PathBuf::from(text)),
    }
}

/// Resolves `claude.binary` (§4.1): a value with a `/` is `~`-expanded and must be an
/// executable regular file; a bare name is searched on the PATH of `env` (the bridge's
/// PATH, not the server's). The result is absolute. The error is the instance's
/// `launch_failed` detail.
pub fn resolve_binary(
    binary: &str,
    env: &BridgeEnv,
    home: Option<&Path>,
) -> Result<PathBuf, String> {
    let not_found = || format!("claude binary '{binary}' not found on PATH");
    if binary.is_empty() {
        return Err(not_found());
    }
    if binary.contains('/') {
        // A path: no PATH is involved, so the message says what is wrong with the file.
        let path = expand_home(binary, home)
            .ok_or_else(|| format!("claude binary '{binary}' names ~ but HOME is not set"))?;
        if !path.exists() {
            return Err(format!("claude binary '{binary}' does not exist"));
        }
        if !is_executable_file(&path) {
            return Err(format!(
                "claude binary '{binary}' is not an executable file"
            ));
        }
        return std::path::absolute(&path)
            .map_err(|err| format!("claude binary '{binary}': {err}"));
    }
    let path_var = env.get("PATH").ok_or_else(not_found)?;
    std::env::split_paths(path_var)
        // Empty and relative entries name the server's cwd, which is no place to look.
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(binary))
        .find(|candidate| is_executable_file(candidate))
        .ok_or_else(not_found)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::fs;

    use clauster_core::config::{ConfigInput, load};

    use super::*;

    fn config() -> Config {
        load(&ConfigInput {
            home: Some(PathBuf::from("/home/op")),
            ..ConfigInput::default()
        })
        .expect("defaults load")
        .config
    }

    fn os(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs
            .iter()
            .map(|(n, v)| (OsString::from(n), OsString::from(v)))
            .collect()
    }

    fn get(env: &BridgeEnv, name: &str) -> Option<String> {
        env.get(name).map(|v| v.to_string_lossy().into_owned())
    }

    fn make_executable(path: &Path, mode: u32) {
        fs::write(path, "#!/bin/sh\nexit 0\n").expect("write");
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
    }

    #[test]
    fn drops_clauster_variables_and_keeps_the_rest() {
        let mut config = config();
        config.claude.node_from_nvm = false;
        let env = BridgeEnv::build(
            &config,
            os(&[
                ("HOME", "/home/op"),
                ("CLAUSTER_SESSION_SECRET", "s3cret"),
                ("CLAUSTER_AUTH_PASSWORD_HASH", "$argon2id$"),
                ("clauster_lower", "x"),
                ("ANTHROPIC_API_KEY", "sk-ant"),
                ("PATH", "/usr/bin:/bin"),
                ("MY_CLAUSTER_THING", "kept"),
            ]),
            None,
        );
        assert_eq!(
            env.vars(),
            &os(&[
                ("HOME", "/home/op"),
                ("ANTHROPIC_API_KEY", "sk-ant"),
                ("PATH", "/usr/bin:/bin"),
                ("MY_CLAUSTER_THING", "kept"),
            ])[..]
        );
    }

    #[test]
    fn overlays_claude_env_and_config_dir() {
        let mut config = config();
        config.claude.env = BTreeMap::from([
            ("LANG".to_owned(), "C.UTF-8".to_owned()),
            ("HOME".to_owned(), "/srv/op".to_owned()),
            ("CLAUSTER_SNEAKY".to_owned(), "no".to_owned()),
        ]);
        config.claude.config_dir = Some(PathBuf::from("/srv/claude"));
        let env = BridgeEnv::build(
            &config,
            os(&[("HOME", "/home/op"), ("PATH", "/usr/bin")]),
            None,
        );
        assert_eq!(get(&env, "HOME").as_deref(), Some("/srv/op"));
        assert_eq!(get(&env, "LANG").as_deref(), Some("C.UTF-8"));
        assert_eq!(get(&env, "CLAUSTER_SNEAKY"), None);
        assert_eq!(
            get(&env, "CLAUDE_CONFIG_DIR").as_deref(),
            Some("/srv/claude")
        );
        // PATH untouched: no prefix, no suffix.
        assert_eq!(get(&env, "PATH").as_deref(), Some("/usr/bin"));

        // claude.env's own CLAUDE_CONFIG_DIR wins over claude.config_dir and the server's.
        config
            .claude
            .env
            .insert("CLAUDE_CONFIG_DIR".to_owned(), "/from/env".to_owned());
        let env = BridgeEnv::build(&config, os(&[("CLAUDE_CONFIG_DIR", "/server/value")]), None);
        assert_eq!(get(&env, "CLAUDE_CONFIG_DIR").as_deref(), Some("/from/env"));

        // Neither set: the server's variable passes through.
        let mut config = self::config();
        config.claude.config_dir = None;
        let env = BridgeEnv::build(&config, os(&[("CLAUDE_CONFIG_DIR", "/server/value")]), None);
        assert_eq!(
            get(&env, "CLAUDE_CONFIG_DIR").as_deref(),
            Some("/server/value")
        );
    }

    #[test]
    fn path_composition() {
        let check = |node_from_nvm: bool,
                     env_path: Option<&str>,
                     inherited: Option<&str>,
                     append: &[&str],
                     nvm: Option<&str>,
                     expected: Option<&str>| {
            let mut config = config();
            config.claude.node_from_nvm = node_from_nvm;
            if let Some(p) = env_path {
                config.claude.env.insert("PATH".to_owned(), p.to_owned());
            }
            config.claude.path_append = append.iter().map(PathBuf::from).collect();
            let server: Vec<_> = inherited
                .map(|p| (OsString::from("PATH"), OsString::from(p)))
                .into_iter()
                .collect();
            let env = BridgeEnv::build(&config, server, nvm.map(PathBuf::from));
            assert_eq!(
                get(&env, "PATH").as_deref(),
                expected,
                "{node_from_nvm} {env_path:?} {inherited:?} {append:?} {nvm:?}"
            );
        };
        let nvm = Some("/n/v22/bin");
        check(
            true,
            None,
            Some("/usr/bin"),
            &[],
            nvm,
            Some("/n/v22/bin:/usr/bin"),
        );
        check(
            true,
            Some("/opt/bin"),
            Some("/usr/bin"),
            &["/x", "/y"],
            nvm,
            Some("/n/v22/bin:/opt/bin:/x:/y"),
        );
        check(
            false,
            None,
            Some("/usr/bin"),
            &["/x"],
            nvm,
            Some("/usr/bin:/x"),
        );
        check(false, None, Some("/usr/bin"), &[], nvm, Some("/usr/bin"));
        check(true, None, Some("/usr/bin"), &[], None, Some("/usr/bin"));
        check(
            true,
            Some("/opt/bin"),
            Some("/usr/bin"),
            &[],
            None,
            Some("/opt/bin"),
        );
        check(true, None, None, &[], None, None);
        check(true, None, None, &["/x"], nvm, Some("/n/v22/bin:/x"));
        check(true, None, Some(""), &["/x"], None, Some("/x"));
    }

    #[test]
    fn recap_variables() {
        let base = BridgeEnv::build(&config(), os(&[("PATH", "/usr/bin")]), None);
        let env = base.with_recap(8000);
        assert_eq!(get(&env, "CLAUSTER_RESUME_RECAP").as_deref(), Some("1"));
        assert_eq!(
            get(&env, "CLAUSTER_RESUME_RECAP_MAX_CHARS").as_deref(),
            Some("8000")
        );
        assert_eq!(get(&base, "CLAUSTER_RESUME_RECAP"), None);
        assert_eq!(env.vars().len(), base.vars().len() + 2);
    }

    #[test]
    fn resolves_on_the_bridge_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        fs::create_dir_all(&a).expect("mkdir");
        fs::create_dir_all(&b).expect("mkdir");
        // Not executable in `a`, executable in `b`: `b` wins.
        make_executable(&a.join("claude"), 0o644);
        make_executable(&b.join("claude"), 0o755);
        fs::create_dir(a.join("dir-claude")).expect("mkdir");
        let path = std::env::join_paths([&a, &b]).expect("join");
        let env = BridgeEnv {
            vars: vec![(OsString::from("PATH"), path)],
        };
        assert_eq!(resolve_binary("claude", &env, None), Ok(b.join("claude")));
        assert_eq!(
            resolve_binary("dir-claude", &env, None),
            Err("claude binary 'dir-claude' not found on PATH".to_owned())
        );
        assert_eq!(
            resolve_binary("missing", &env, None),
            Err("claude binary 'missing' not found on PATH".to_owned())
        );
        assert_eq!(
            resolve_binary("claude", &BridgeEnv::default(), None),
            Err("claude binary 'claude' not found on PATH".to_owned())
        );
    }

    #[test]
    fn resolves_a_path_value() {
        let home = tempfile::tempdir().expect("tempdir");
        let bin = home.path().join("bin");
        fs::create_dir_all(&bin).expect("mkdir");
        make_executable(&bin.join("claude"), 0o700);
        make_executable(&bin.join("plain"), 0o600);
        let empty = BridgeEnv::default();
        assert_eq!(
            resolve_binary("~/bin/claude", &empty, Some(home.path())),
            Ok(bin.join("claude"))
        );
        let abs = bin.join("claude");
        let abs = abs.to_str().expect("utf-8");
        assert_eq!(resolve_binary(abs, &empty, None), Ok(bin.join("claude")));
        assert_eq!(
            resolve_binary("~/bin/claude", &empty, None),
            Err("claude binary '~/bin/claude' names ~ but HOME is not set".to_owned())
        );
        assert_eq!(
            resolve_binary("~/bin/plain", &empty, Some(home.path())),
            Err("claude binary '~/bin/plain' is not an executable file".to_owned())
        );
        assert_eq!(
            resolve_binary("~/bin", &empty, Some(home.path())),
            Err("claude binary '~/bin' is not an executable file".to_owned())
        );
        assert_eq!(
            resolve_binary("/nonexistent/claude", &empty, None),
            Err("claude binary '/nonexistent/claude' does not exist".to_owned())
        );
    }

    fn fake_nvm(dir: &Path, body: &str) {
        fs::write(dir.join("nvm.sh"), body).expect("write nvm.sh");
    }

    #[tokio::test]
    async fn nvm_lookup() {
        let home = tempfile::tempdir().expect("tempdir");
        let nvm_dir = home.path().join(".nvm");
        let node_bin = nvm_dir.join("versions/node/v22.1.0/bin");
        fs::create_dir_all(&node_bin).expect("mkdir");
        make_executable(&node_bin.join("node"), 0o755);
        let path_env = os(&[("PATH", "/usr/bin:/bin")]);

        // No nvm.sh: nothing is run.
        assert_eq!(
            find_nvm_default_bin(&path_env, Some(home.path())).await,
            None
        );
        fake_nvm(
            &nvm_dir,
            &format!(
                "nvm() {{ [ \"$1\" = which ] && [ \"$2\" = default ] && echo '{}'; }}\n",
                node_bin.join("node").display()
            ),
        );
        assert_eq!(
            find_nvm_default_bin(&path_env, Some(home.path())).await,
            Some(node_bin.clone())
        );
        // NVM_DIR from the environment wins over ~/.nvm.
        let mut with_dir = path_env.clone();
        with_dir.push((OsString::from("NVM_DIR"), nvm_dir.clone().into_os_string()));
        assert_eq!(find_nvm_default_bin(&with_dir, None).await, Some(node_bin));
        let elsewhere = tempfile::tempdir().expect("tempdir");
        let mut other_dir = path_env.clone();
        other_dir.push((
            OsString::from("NVM_DIR"),
            elsewhere.path().as_os_str().to_os_string(),
        ));
        assert_eq!(
            find_nvm_default_bin(&other_dir, Some(home.path())).await,
            None
        );

        // The answer must be an executable file.
        fake_nvm(&nvm_dir, "nvm() { echo /nonexistent/node; }\n");
        assert_eq!(
            find_nvm_default_bin(&path_env, Some(home.path())).await,
            None
        );
        // nvm fails.
        fake_nvm(&nvm_dir, "nvm() { return 3; }\n");
        assert_eq!(
            find_nvm_default_bin(&path_env, Some(home.path())).await,
            None
        );
        // Hangs: the timeout ends it.
        fake_nvm(&nvm_dir, "nvm() { exec sleep 30; }\n");
        let started = std::time::Instant::now();
        assert_eq!(
            find_nvm_default_bin_within(&path_env, Some(home.path()), Duration::from_millis(200))
                .await,
            None
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
