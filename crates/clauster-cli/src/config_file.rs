//! The IO side of the configuration: finding and reading `clauster.yml`, collecting the
//! `CLAUSTER_*` variables with their `_FILE` twins, the session secret check, and the
//! directory checks that need the disk (config.md §1, §2, §6).
//!
//! Everything the process environment provides (variables, working directory, home) comes
//! in as parameters, so tests run against temporary directories; the rules themselves live
//! in `clauster_core::config`.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read as _};
use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use clauster_core::config::{
    self, CONFIG_HOME, CONFIG_PATH, Config, ConfigError, ConfigInput, Notice, NoticeLevel,
    SESSION_SECRET, Secret,
};

/// The largest config file, and the largest `_FILE` secret, that is read (config.md §1).
const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// The last place searched: the default config of the system unit (cli.md §5).
const SYSTEM_CONFIG: &str = "/etc/clauster/clauster.yml";

/// The session signing key's minimum length in bytes (security.md §3).
const MIN_SESSION_SECRET_BYTES: usize = 32;

/// A configuration ready for `run` and `doctor`.
#[derive(Debug)]
pub struct LoadedConfig {
    pub config: Config,
    /// Startup lines: deprecations, ignored sections, risky-but-allowed settings.
    pub notices: Vec<Notice>,
    /// The file's keys no setting reads (doctor's `config` row names them).
    pub unknown_keys: Vec<String>,
    /// The file that was read; `None` means built-in defaults.
    pub path: Option<PathBuf>,
    /// Every path tried, in order (for doctor's "searched: …").
    pub searched: Vec<PathBuf>,
    /// `CLAUSTER_SESSION_SECRET` (or its `_FILE`), already checked to be ≥ 32 bytes; `None`
    /// means the server uses `<state_dir>/session.secret`.
    pub session_secret: Option<Secret>,
    /// What [`config::load`] was given, without the file's text: the server's settings
    /// editor validates an edited file with it.
    pub input: ConfigInput,
}

/// Why the configuration could not be loaded. `Display` is the message printed after
/// `clauster: config error: `; none of them contains a secret's content.
#[derive(Debug, thiserror::Error)]
pub enum CliConfigError {
    /// `-c PATH` or `$CLAUSTER_CONFIG` names a file that does not exist.
    #[error("no such file: {}{}", path.display(), if *from_env { " (from CLAUSTER_CONFIG)" } else { "" })]
    NoSuchFile { path: PathBuf, from_env: bool },
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("{} is larger than 1 MiB; a configuration file is never that big", path.display())]
    TooLarge { path: PathBuf },
    #[error("{} is not valid UTF-8 (first bad byte at offset {offset})", path.display())]
    NotUtf8 { path: PathBuf, offset: usize },
    /// A `_FILE` twin that cannot be used; names the variable, never the content.
    #[error("{variable}: {reason}")]
    VariableFile { variable: String, reason: String },
    #[error(
        "{variable} must be at least {MIN_SESSION_SECRET_BYTES} bytes, but it has {len}; \
         generate one with `openssl rand -hex 32`"
    )]
    ShortSessionSecret { variable: String, len: usize },
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// `projects_root` or `state_dir` is unusable.
    #[error("{0}")]
    Directory(String),
}

/// Command-line values that override single keys (`run --port`), by dotted key path. They
/// win over the file and every variable, `_FILE` twins included.
pub type Flags = BTreeMap<String, String>;

/// Finds, reads and validates the configuration: `cli_path` is `-c`, `env` the process
/// environment (every variable; later duplicates win), `cwd` and `home` the process's.
pub fn load_config(
    cli_path: Option<&Path>,
    flags: Flags,
    env: impl IntoIterator<Item = (String, String)>,
    cwd: &Path,
    home: Option<&Path>,
) -> Result<LoadedConfig, CliConfigError> {
    load_lenient_with_system_file(cli_path, flags, env, cwd, home, Path::new(SYSTEM_CONFIG))
        .and_then(strict)
}

/// [`load_config`] for `clauster doctor` (no flags): a configuration whose keys all read is
/// returned even when rules over several keys fail (the network rule, …); those failures
/// come back beside it for the `config` row.
pub fn load_config_for_doctor(
    cli_path: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
    cwd: &Path,
    home: Option<&Path>,
) -> Result<(LoadedConfig, Vec<config::Problem>), CliConfigError> {
    load_lenient_with_system_file(
        cli_path,
        Flags::new(),
        env,
        cwd,
        home,
        Path::new(SYSTEM_CONFIG),
    )
}

/// The strict reading of [`load_config`]: a cross-key problem is an error.
fn strict(
    (loaded, cross): (LoadedConfig, Vec<config::Problem>),
) -> Result<LoadedConfig, CliConfigError> {
    if cross.is_empty() {
        Ok(loaded)
    } else {
        Err(ConfigError::Invalid(config::Problems(cross)).into())
    }
}

/// The search, the read and [`config::load_lenient`], with the last search location given
/// (so tests do not depend on the machine's `/etc`): the cross-key problems come back beside
/// the configuration.
fn load_lenient_with_system_file(
    cli_path: Option<&Path>,
    flags: Flags,
    env: impl IntoIterator<Item = (String, String)>,
    cwd: &Path,
    home: Option<&Path>,
    system_file: &Path,
) -> Result<(LoadedConfig, Vec<config::Problem>), CliConfigError> {
    let env: BTreeMap<String, String> = env.into_iter().collect();
    let variables = collect_variables(&env, cwd)?;
    let session_secret = session_secret(&variables)?;
    let search = find_config(cli_path, &env, cwd, home, system_file)?;
    let text = search.found.as_deref().map(read_config_file).transpose()?;
    let input = ConfigInput {
        text,
        source_name: search
            .found
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        env: variables.values,
        env_from_file: variables.from_file,
        flags,
        home: home.map(Path::to_path_buf),
        cwd: Some(cwd.to_path_buf()),
    };
    let (loaded, cross) = config::load_lenient(&input)?;
    Ok((
        LoadedConfig {
            config: loaded.config,
            notices: loaded.notices,
            unknown_keys: loaded.unknown_keys,
            path: search.found,
            searched: search.searched,
            session_secret,
            input: ConfigInput {
                text: None,
                ..input
            },
        },
        cross,
    ))
}

/// The outcome of the search of config.md §1.
#[derive(Debug, PartialEq, Eq)]
struct Search {
    found: Option<PathBuf>,
    searched: Vec<PathBuf>,
}

fn non_blank<'a>(env: &'a BTreeMap<String, String>, name: &str) -> Option<&'a str> {
    env.get(name)
        .map(String::as_str)
        .filter(|v| !v.trim().is_empty())
}

/// `-c`, else `$CLAUSTER_CONFIG` (only that file is tried, and it must exist), else the
/// first existing file of the list.
fn find_config(
    cli_path: Option<&Path>,
    env: &BTreeMap<String, String>,
    cwd: &Path,
    home: Option<&Path>,
    system_file: &Path,
) -> Result<Search, CliConfigError> {
    let explicit = cli_path
        .map(|p| (p.to_path_buf(), false))
        .or_else(|| non_blank(env, CONFIG_PATH).map(|p| (PathBuf::from(p), true)));
    if let Some((path, from_env)) = explicit {
        let resolved = cwd.join(&path);
        if !resolved.exists() {
            return Err(CliConfigError::NoSuchFile { path, from_env });
        }
        return Ok(Search {
            found: Some(resolved.clone()),
            searched: vec![resolved],
        });
    }
    let candidates = clauster_core::doctor::config_search_list(
        cwd,
        non_blank(env, CONFIG_HOME),
        non_blank(env, "XDG_CONFIG_HOME"),
        home,
        system_file,
    );
    let found = candidates.iter().find(|p| p.exists()).cloned();
    Ok(Search {
        found,
        searched: candidates,
    })
}

/// The file `clauster run` would read now with no `-c` (`$CLAUSTER_CONFIG`, else the first
/// existing file of the search list); `None` when there is none.
pub fn found_config_file(cwd: &Path, home: Option<&Path>) -> Option<PathBuf> {
    let env: BTreeMap<String, String> = std::env::vars().collect();
    find_config(None, &env, cwd, home, Path::new(SYSTEM_CONFIG))
        .ok()?
        .found
}

/// Reads up to the cap, then checks the size and the encoding.
/// A regular file's first `MAX_FILE_BYTES + 1` bytes. Anything else (a FIFO, a device, a
/// directory) is refused before it is opened: a FIFO would block the read for ever.
fn read_capped(path: &Path) -> Result<Vec<u8>, io::Error> {
    if !fs::metadata(path)?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    let mut bytes = Vec::new();
    fs::File::open(path)?
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

fn read_config_file(path: &Path) -> Result<String, CliConfigError> {
    let bytes = read_capped(path).map_err(|source| CliConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(CliConfigError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    let text = String::from_utf8(bytes).map_err(|e| CliConfigError::NotUtf8 {
        path: path.to_path_buf(),
        offset: e.utf8_error().valid_up_to(),
    })?;
    // Editors on some systems write a byte-order mark; it is not part of the YAML.
    Ok(text
        .strip_prefix('\u{feff}')
        .map(str::to_owned)
        .unwrap_or(text))
}

/// The `CLAUSTER_*` variables with every `_FILE` twin read into its plain name.
#[derive(Debug, Default, PartialEq, Eq)]
struct Variables {
    values: BTreeMap<String, String>,
    /// Plain name → the `_FILE` variable its value came from.
    from_file: BTreeMap<String, String>,
}

/// Collects the `CLAUSTER_*` variables (config.md §2). A twin `<NAME>_FILE` that is set and
/// non-blank wins over `<NAME>`: its file's content, surrounding whitespace stripped, is the
/// value; an unreadable, non-UTF-8 or empty file is an error naming the variable. Relative
/// twin paths are taken from `cwd`.
fn collect_variables(
    env: &BTreeMap<String, String>,
    cwd: &Path,
) -> Result<Variables, CliConfigError> {
    let mut out = Variables::default();
    let clauster = env.iter().filter(|(name, _)| name.starts_with("CLAUSTER_"));
    let mut twins = Vec::new();
    for (name, value) in clauster {
        match name.strip_suffix("_FILE") {
            Some(plain) if config::has_file_twin(plain) => twins.push((name, plain, value)),
            _ => {
                out.values.insert(name.clone(), value.clone());
            }
        }
    }
    for (variable, plain, path) in twins {
        if path.trim().is_empty() {
            continue;
        }
        let content = read_variable_file(variable, &cwd.join(path))?;
        out.values.insert(plain.to_owned(), content);
        out.from_file.insert(plain.to_owned(), variable.clone());
    }
    Ok(out)
}

fn read_variable_file(variable: &str, path: &Path) -> Result<String, CliConfigError> {
    let fail = |reason: String| CliConfigError::VariableFile {
        variable: variable.to_owned(),
        reason,
    };
    let shown = path.display();
    let bytes = read_capped(path).map_err(|e| fail(format!("cannot read {shown}: {e}")))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(fail(format!("{shown} is larger than 1 MiB")));
    }
    let text = String::from_utf8(bytes).map_err(|_| fail(format!("{shown} is not UTF-8")))?;
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(fail(format!("{shown} is empty")));
    }
    Ok(trimmed.to_owned())
}

/// `CLAUSTER_SESSION_SECRET` (or its twin) when set: at least 32 bytes, else refuse to start.
/// An empty plain variable counts as unset.
fn session_secret(variables: &Variables) -> Result<Option<Secret>, CliConfigError> {
    let Some(value) = variables
        .values
        .get(SESSION_SECRET)
        .filter(|v| !v.is_empty())
    else {
        return Ok(None);
    };
    if value.len() < MIN_SESSION_SECRET_BYTES {
        return Err(CliConfigError::ShortSessionSecret {
            variable: variables
                .from_file
                .get(SESSION_SECRET)
                .cloned()
                .unwrap_or_else(|| SESSION_SECRET.to_owned()),
            len: value.len(),
        });
    }
    Ok(Some(Secret::new(value.clone())))
}

/// Makes the directories usable before serving (config.md §3.1, §5, §6): `projects_root`
/// must exist, be a readable directory and not resolve to `/` — except that the built-in
/// default `~/projects` is created (one level, mode 0755); `state_dir` is created with mode
/// 0700, or tightened to 0700 when it is wider and ours. Returns the lines to log.
pub fn prepare_dirs(config: &Config) -> Result<Vec<Notice>, CliConfigError> {
    let mut notices = Vec::new();
    prepare_projects_root(config, &mut notices)?;
    prepare_state_dir(&config.state_dir, &mut notices)?;
    Ok(notices)
}

fn info(message: String) -> Notice {
    Notice {
        level: NoticeLevel::Info,
        message,
    }
}

fn prepare_projects_root(config: &Config, notices: &mut Vec<Notice>) -> Result<(), CliConfigError> {
    let root = &config.projects_root;
    let shown = root.display();
    let dir_error = |message: String| CliConfigError::Directory(message);
    match fs::metadata(root) {
        Err(e) if e.kind() == io::ErrorKind::NotFound && config.projects_root_is_default => {
            fs::DirBuilder::new()
                .mode(0o755)
                .create(root)
                .map_err(|e| {
                    dir_error(format!(
                        "cannot create the default projects_root {shown}: {e}; pass --projects-root"
                    ))
                })?;
            notices.push(info(format!("created projects_root {shown} (mode 0755)")));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(dir_error(format!(
                "projects_root {shown} does not exist; create it or point projects_root at an \
                 existing directory"
            )));
        }
        Err(e) => return Err(dir_error(format!("projects_root {shown}: {e}"))),
        Ok(meta) if !meta.is_dir() => {
            return Err(dir_error(format!(
                "projects_root {shown} is not a directory"
            )));
        }
        Ok(_) => {}
    }
    fs::read_dir(root)
        .map_err(|e| dir_error(format!("projects_root {shown} is not readable: {e}")))?;
    // The core refuses a literal `/`; a symlink or `..` path to it is caught here.
    if fs::canonicalize(root).is_ok_and(|real| real == Path::new("/")) {
        return Err(dir_error(format!(
            "projects_root {shown} resolves to / (every top-level directory would become a \
             project); point it at a directory that holds only projects"
        )));
    }
    Ok(())
}

fn prepare_state_dir(dir: &Path, notices: &mut Vec<Notice>) -> Result<(), CliConfigError> {
    let shown = dir.display();
    match fs::metadata(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| {
                    CliConfigError::Directory(format!("state_dir {shown} cannot be created: {e}"))
                })?;
            // The umask may have removed owner bits; the mode is ours to decide.
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(|e| {
                CliConfigError::Directory(format!("state_dir {shown}: cannot set mode 0700: {e}"))
            })?;
            notices.push(info(format!("created state_dir {shown} (mode 0700)")));
        }
        Err(e) => return Err(CliConfigError::Directory(format!("state_dir {shown}: {e}"))),
        Ok(meta) if !meta.is_dir() => {
            return Err(CliConfigError::Directory(format!(
                "state_dir {shown} is not a directory"
            )));
        }
        Ok(meta) => {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                // Only the owner (or root) may chmod, so success means "ours to fix".
                match fs::set_permissions(dir, fs::Permissions::from_mode(0o700)) {
                    Ok(()) => notices.push(info(format!(
                        "tightened state_dir {shown} from mode {mode:04o} to 0700"
                    ))),
                    Err(e) => notices.push(Notice {
                        level: NoticeLevel::Warning,
                        message: format!(
                            "state_dir {shown} has mode {mode:04o} and cannot be tightened to \
                             0700 ({e}); other users may read the store and the logs"
                        ),
                    }),
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    const HASH: &str = "$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHRzb21lc2FsdA$\
                        q0Jb9nHzY0tTZg0Vn0bGXbQ8Zr4cG1r5sWl0d8vJ2mQ";

    /// A temporary machine: a home, a working directory, a system config location.
    struct Machine {
        _dir: tempfile::TempDir,
        root: PathBuf,
        home: PathBuf,
        cwd: PathBuf,
        system: PathBuf,
    }

    impl Machine {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path().to_path_buf();
            let home = root.join("home");
            let cwd = root.join("work");
            fs::create_dir_all(&home).unwrap();
            fs::create_dir_all(&cwd).unwrap();
            Self {
                system: root.join("etc/clauster/clauster.yml"),
                _dir: dir,
                root,
                home,
                cwd,
            }
        }

        fn write(&self, relative: &str, text: &str) -> PathBuf {
            let path = self.root.join(relative);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(&path, text).unwrap();
            path
        }

        fn load(
            &self,
            cli_path: Option<&Path>,
            env: &[(&str, &str)],
        ) -> Result<LoadedConfig, CliConfigError> {
            let env = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned()));
            load_lenient_with_system_file(
                cli_path,
                Flags::new(),
                env,
                &self.cwd,
                Some(&self.home),
                &self.system,
            )
            .and_then(strict)
        }

        fn load_ok(&self, cli_path: Option<&Path>, env: &[(&str, &str)]) -> LoadedConfig {
            self.load(cli_path, env)
                .unwrap_or_else(|e| panic!("load failed: {e}"))
        }

        fn load_err(&self, cli_path: Option<&Path>, env: &[(&str, &str)]) -> String {
            self.load(cli_path, env)
                .expect_err("expected an error")
                .to_string()
        }

        /// A path relative to the machine root, for stable assertions.
        fn rel(&self, path: &Path) -> String {
            path.strip_prefix(&self.root).unwrap().display().to_string()
        }
    }

    #[test]
    fn search_order_and_defaults() {
        let m = Machine::new();
        let none = m.load_ok(None, &[]);
        assert_eq!(none.path, None);
        assert!(none.config.projects_root_is_default);
        assert_eq!(none.config.projects_root, m.home.join("projects"));
        let searched: Vec<String> = none.searched.iter().map(|p| m.rel(p)).collect();
        assert_eq!(
            searched,
            [
                "work/clauster.yml",
                "home/.config/clauster/clauster.yml",
                "etc/clauster/clauster.yml"
            ]
        );

        // Each location, from the last to the first, takes over once it exists.
        m.write("etc/clauster/clauster.yml", "port: 1001");
        assert_eq!(m.load_ok(None, &[]).config.port, 1001);
        m.write("home/.config/clauster/clauster.yml", "port: 1002");
        assert_eq!(m.load_ok(None, &[]).config.port, 1002);
        m.write("xdg/clauster/clauster.yml", "port: 1003");
        let xdg = m.root.join("xdg").display().to_string();
        let env = [("XDG_CONFIG_HOME", xdg.as_str())];
        assert_eq!(m.load_ok(None, &env).config.port, 1003);
        m.write("chome/clauster.yml", "port: 1004");
        let chome = m.root.join("chome").display().to_string();
        let env = [
            ("XDG_CONFIG_HOME", xdg.as_str()),
            ("CLAUSTER_HOME", chome.as_str()),
        ];
        let loaded = m.load_ok(None, &env);
        assert_eq!(loaded.config.port, 1004);
        assert_eq!(
            loaded.searched.iter().map(|p| m.rel(p)).collect::<Vec<_>>(),
            [
                "work/clauster.yml",
                "chome/clauster.yml",
                "xdg/clauster/clauster.yml",
                "etc/clauster/clauster.yml"
            ]
        );
        m.write("work/clauster.yml", "port: 1005");
        let loaded = m.load_ok(None, &env);
        assert_eq!(loaded.config.port, 1005);
        assert_eq!(loaded.path, Some(m.cwd.join("clauster.yml")));

        // $CLAUSTER_CONFIG, then -c, take over and are the only file tried.
        let named = m.write("named.yml", "port: 1006");
        let named_text = named.display().to_string();
        let env = [("CLAUSTER_CONFIG", named_text.as_str())];
        let loaded = m.load_ok(None, &env);
        assert_eq!(loaded.config.port, 1006);
        assert_eq!(loaded.searched, [named]);
        let cli = m.write("cli.yml", "port: 1007");
        assert_eq!(m.load_ok(Some(&cli), &env).config.port, 1007);
        // A relative -c is taken from the working directory.
        assert_eq!(
            m.load_ok(Some(Path::new("clauster.yml")), &env).config.port,
            1005
        );
        // A blank $CLAUSTER_CONFIG is as good as unset.
        assert_eq!(
            m.load_ok(None, &[("CLAUSTER_CONFIG", "  ")]).config.port,
            1005
        );
    }

    #[test]
    fn missing_named_files() {
        let m = Machine::new();
        m.write("work/clauster.yml", "port: 1");
        assert_eq!(
            m.load_err(Some(Path::new("/nonexistent/c.yml")), &[]),
            "no such file: /nonexistent/c.yml"
        );
        assert_eq!(
            m.load_err(None, &[("CLAUSTER_CONFIG", "/nonexistent/c.yml")]),
            "no such file: /nonexistent/c.yml (from CLAUSTER_CONFIG)"
        );
    }

    #[test]
    fn size_and_encoding() {
        let m = Machine::new();
        // Exactly 1 MiB of comments is an empty document.
        let line = format!("#{}\n", "x".repeat(1022));
        let exact = m.write("exact.yml", &line.repeat(1024));
        assert_eq!(fs::metadata(&exact).unwrap().len(), MAX_FILE_BYTES);
        assert_eq!(m.load_ok(Some(&exact), &[]).config.port, 7621);
        let big = m.write("big.yml", &format!("{}\n", line.repeat(1024)));
        assert_eq!(
            m.load_err(Some(&big), &[]),
            format!(
                "{} is larger than 1 MiB; a configuration file is never that big",
                big.display()
            )
        );
        let latin1 = m.root.join("latin1.yml");
        fs::write(&latin1, b"instance_name: caf\xe9\n").unwrap();
        assert_eq!(
            m.load_err(Some(&latin1), &[]),
            format!(
                "{} is not valid UTF-8 (first bad byte at offset 18)",
                latin1.display()
            )
        );
        let bom = m.write("bom.yml", "\u{feff}port: 1234\n");
        assert_eq!(m.load_ok(Some(&bom), &[]).config.port, 1234);
        let dir = m.root.join("a-directory.yml");
        fs::create_dir(&dir).unwrap();
        assert!(
            m.load_err(Some(&dir), &[])
                .starts_with(&format!("cannot read {}:", dir.display()))
        );
    }

    #[test]
    fn config_errors_name_the_file() {
        let m = Machine::new();
        let bad = m.write("bad.yml", "port: [1\n");
        assert_eq!(
            m.load_err(Some(&bad), &[]),
            format!(
                "{}: YAML syntax error at line 2, column 1: while parsing a flow sequence, \
                 expected ',' or ']'",
                bad.display()
            )
        );
        assert_eq!(
            m.load_err(None, &[("CLAUSTER_HOST", "0.0.0.0")]),
            "refusing non-loopback host='0.0.0.0' without enforced auth. Set auth.enabled: \
             true together with auth.password_required (+ auth.password_hash), \
             auth.reverse_proxy.enabled, or auth.api_token_hash — or, to opt out on a trusted \
             LAN, auth.allow_unauthenticated_network."
        );
    }

    #[test]
    fn file_twins() {
        let m = Machine::new();
        let hash_file = m.write("secrets/hash", &format!("\n  {HASH}\n"));
        let hash_path = hash_file.display().to_string();
        let yaml = m.write("c.yml", "auth: {enabled: true, password_required: true}");
        let loaded = m.load_ok(
            Some(&yaml),
            &[
                ("CLAUSTER_AUTH_PASSWORD_HASH", "$argon2id$plain-loses"),
                ("CLAUSTER_AUTH_PASSWORD_HASH_FILE", hash_path.as_str()),
            ],
        );
        assert_eq!(
            loaded
                .config
                .auth
                .password_hash
                .as_ref()
                .map(Secret::expose),
            Some(HASH)
        );

        // A relative twin path is taken from the working directory.
        m.write("work/port.txt", "4321\n");
        let loaded = m.load_ok(None, &[("CLAUSTER_PORT_FILE", "port.txt")]);
        assert_eq!(loaded.config.port, 4321);

        // A blank twin leaves the plain variable in charge.
        let loaded = m.load_ok(
            None,
            &[("CLAUSTER_PORT", "4000"), ("CLAUSTER_PORT_FILE", " ")],
        );
        assert_eq!(loaded.config.port, 4000);

        // CLAUSTER_TLS_CERT_FILE is a plain variable (tls.cert_file), not a twin.
        let loaded = m.load_ok(
            None,
            &[
                ("CLAUSTER_TLS_CERT_FILE", "/nonexistent/cert.pem"),
                ("CLAUSTER_TLS_KEY_FILE", "/nonexistent/key.pem"),
            ],
        );
        let tls = loaded.config.tls.expect("tls from the environment");
        assert_eq!(tls.cert_file, Some(PathBuf::from("/nonexistent/cert.pem")));
    }

    #[test]
    fn unusable_twins_name_the_variable_only() {
        let m = Machine::new();
        let missing = m.root.join("missing");
        let empty = m.write("empty", " \n\t\n");
        let binary = m.root.join("binary");
        fs::write(&binary, b"secret\xff\xfe").unwrap();
        // A FIFO would block the read for ever; it is refused unopened.
        let fifo = m.root.join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let cases = [
            (
                fifo.clone(),
                format!(
                    "CLAUSTER_AUTH_API_TOKEN_HASH_FILE: cannot read {}: not a regular file",
                    fifo.display()
                ),
            ),
            (
                missing.clone(),
                format!(
                    "CLAUSTER_AUTH_API_TOKEN_HASH_FILE: cannot read {}: No such file or \
                     directory (os error 2)",
                    missing.display()
                ),
            ),
            (
                empty.clone(),
                format!(
                    "CLAUSTER_AUTH_API_TOKEN_HASH_FILE: {} is empty",
                    empty.display()
                ),
            ),
            (
                binary.clone(),
                format!(
                    "CLAUSTER_AUTH_API_TOKEN_HASH_FILE: {} is not UTF-8",
                    binary.display()
                ),
            ),
        ];
        for (path, expected) in cases {
            let text = path.display().to_string();
            let message = m.load_err(
                None,
                &[("CLAUSTER_AUTH_API_TOKEN_HASH_FILE", text.as_str())],
            );
            assert_eq!(message, expected);
            assert!(!message.contains("secret\u{fffd}"));
        }
        // A readable twin whose content is invalid: the core's message, naming the twin the
        // value came from, without the value.
        let bad = m.write("bad-token", "not-a-hash-SECRET");
        let text = bad.display().to_string();
        let message = m.load_err(
            None,
            &[("CLAUSTER_AUTH_API_TOKEN_HASH_FILE", text.as_str())],
        );
        assert!(
            message.starts_with("auth.api_token_hash (from CLAUSTER_AUTH_API_TOKEN_HASH_FILE)"),
            "{message}"
        );
        assert!(!message.contains("SECRET"), "{message}");
    }

    #[test]
    fn session_secret_length() {
        let m = Machine::new();
        assert!(m.load_ok(None, &[]).session_secret.is_none());
        assert!(
            m.load_ok(None, &[("CLAUSTER_SESSION_SECRET", "")])
                .session_secret
                .is_none()
        );
        assert_eq!(
            m.load_err(None, &[("CLAUSTER_SESSION_SECRET", "short-secret")]),
            "CLAUSTER_SESSION_SECRET must be at least 32 bytes, but it has 12; generate one \
             with `openssl rand -hex 32`"
        );
        let long = "k".repeat(32);
        let loaded = m.load_ok(None, &[("CLAUSTER_SESSION_SECRET", long.as_str())]);
        assert_eq!(
            loaded.session_secret.as_ref().map(Secret::expose),
            Some(long.as_str())
        );
        let file = m.write("session", "0123456789\n");
        let text = file.display().to_string();
        assert_eq!(
            m.load_err(None, &[("CLAUSTER_SESSION_SECRET_FILE", text.as_str())]),
            "CLAUSTER_SESSION_SECRET_FILE must be at least 32 bytes, but it has 10; generate \
             one with `openssl rand -hex 32`"
        );
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn default_dirs_are_created() {
        let m = Machine::new();
        let loaded = m.load_ok(None, &[]);
        let notices: Vec<String> = prepare_dirs(&loaded.config)
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
        let projects = m.home.join("projects");
        let state = m.home.join(".clauster");
        assert_eq!(
            notices,
            [
                format!("created projects_root {} (mode 0755)", projects.display()),
                format!("created state_dir {} (mode 0700)", state.display()),
            ]
        );
        assert!(projects.is_dir());
        assert_eq!(mode(&state), 0o700);
        // A second start has nothing to say.
        assert!(prepare_dirs(&loaded.config).unwrap().is_empty());
    }

    #[test]
    fn state_dir_is_created_deep_and_tightened() {
        let m = Machine::new();
        let deep = m.root.join("var/lib/clauster/state");
        let deep_text = deep.display().to_string();
        let projects = m.root.join("projects");
        fs::create_dir(&projects).unwrap();
        let projects_text = projects.display().to_string();
        let env = [
            ("CLAUSTER_STATE_DIR", deep_text.as_str()),
            ("CLAUSTER_PROJECTS_ROOT", projects_text.as_str()),
        ];
        let config = m.load_ok(None, &env).config;
        prepare_dirs(&config).unwrap();
        assert_eq!(mode(&deep), 0o700);
        fs::set_permissions(&deep, fs::Permissions::from_mode(0o755)).unwrap();
        let notices: Vec<String> = prepare_dirs(&config)
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            notices,
            [format!(
                "tightened state_dir {} from mode 0755 to 0700",
                deep.display()
            )]
        );
        assert_eq!(mode(&deep), 0o700);
        // FIXME: the "not ours to tighten" warning needs a directory owned by another user,
        // which a test without privileges cannot create.
    }

    #[test]
    fn unusable_dirs() {
        let m = Machine::new();
        let file = m.write("a-file", "x");
        let to_root = m.root.join("to-root");
        symlink("/", &to_root).unwrap();
        let state = m.root.join("state").display().to_string();
        let cases = [
            (
                m.root.join("missing"),
                "does not exist; create it or point projects_root at an existing directory",
            ),
            (file.clone(), "is not a directory"),
            (
                to_root.clone(),
                "resolves to / (every top-level directory would become a project); point it \
                 at a directory that holds only projects",
            ),
        ];
        for (root, tail) in cases {
            let text = root.display().to_string();
            let env = [
                ("CLAUSTER_PROJECTS_ROOT", text.as_str()),
                ("CLAUSTER_STATE_DIR", state.as_str()),
            ];
            let config = m.load_ok(None, &env).config;
            assert!(!config.projects_root_is_default);
            let message = prepare_dirs(&config).unwrap_err().to_string();
            assert_eq!(message, format!("projects_root {} {tail}", root.display()));
        }
        // A state_dir that is a file, or under a file, cannot be used.
        let projects = m.root.join("projects");
        fs::create_dir(&projects).unwrap();
        let projects_text = projects.display().to_string();
        let file_text = file.display().to_string();
        let under = file.join("state").display().to_string();
        let env = [
            ("CLAUSTER_PROJECTS_ROOT", projects_text.as_str()),
            ("CLAUSTER_STATE_DIR", file_text.as_str()),
        ];
        let config = m.load_ok(None, &env).config;
        assert_eq!(
            prepare_dirs(&config).unwrap_err().to_string(),
            format!("state_dir {} is not a directory", file.display())
        );
        let env = [
            ("CLAUSTER_PROJECTS_ROOT", projects_text.as_str()),
            ("CLAUSTER_STATE_DIR", under.as_str()),
        ];
        let config = m.load_ok(None, &env).config;
        assert!(
            prepare_dirs(&config)
                .unwrap_err()
                .to_string()
                .starts_with(&format!("state_dir {under}: Not a directory"))
        );
    }

    #[test]
    fn relative_paths_follow_the_working_directory() {
        let m = Machine::new();
        m.write(
            "work/clauster.yml",
            "projects_root: mine\nstate_dir: .state",
        );
        fs::create_dir(m.cwd.join("mine")).unwrap();
        let loaded = m.load_ok(None, &[]);
        assert_eq!(loaded.config.projects_root, m.cwd.join("mine"));
        assert_eq!(loaded.config.state_dir, m.cwd.join(".state"));
        prepare_dirs(&loaded.config).unwrap();
        assert!(m.cwd.join(".state").is_dir());
    }

    #[test]
    fn home_unknown() {
        let m = Machine::new();
        let err =
            load_lenient_with_system_file(None, Flags::new(), Vec::new(), &m.cwd, None, &m.system)
                .and_then(strict)
                .unwrap_err()
                .to_string();
        assert!(
            err.contains("cannot determine a default projects_root; pass --projects-root"),
            "{err}"
        );
    }

    #[test]
    fn command_line_flags_beat_variables_and_their_file_twins() {
        let m = Machine::new();
        let port_file = m.cwd.join("port.txt");
        fs::write(&port_file, "8000\n").unwrap();
        fs::create_dir(m.cwd.join("root")).unwrap();
        let flags = Flags::from([
            ("port".to_owned(), "9000".to_owned()),
            (
                "projects_root".to_owned(),
                m.cwd.join("root").display().to_string(),
            ),
        ]);
        let env = vec![
            ("CLAUSTER_PORT".to_owned(), "7000".to_owned()),
            (
                "CLAUSTER_PORT_FILE".to_owned(),
                port_file.display().to_string(),
            ),
        ];
        let loaded =
            load_lenient_with_system_file(None, flags, env, &m.cwd, Some(&m.home), &m.system)
                .and_then(strict)
                .unwrap();
        assert_eq!(loaded.config.port, 9000);
        assert_eq!(loaded.config.projects_root, m.cwd.join("root"));
    }
}
