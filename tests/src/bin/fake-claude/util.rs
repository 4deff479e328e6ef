//! Small helpers shared by every behaviour: ids, clocks, paths, files.

use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

/// `N` random bytes from the kernel (no crate needed for a test double).
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    if let Ok(mut f) = File::open("/dev/urandom")
        && f.read_exact(&mut buf).is_ok()
    {
        return buf;
    }
    // No /dev/urandom: mix the clock and the pid, good enough for unique test ids.
    let seed = format!("{:?}{}", SystemTime::now(), std::process::id());
    let digest = sha256(seed.as_bytes());
    for (i, b) in buf.iter_mut().enumerate() {
        *b = digest[i % digest.len()];
    }
    buf
}

/// `value` when it is one of `allowed`; else the refusal the CLI's option parser prints for
/// `option` (its name and placeholder, `--spawn <mode>`).
pub fn choice(option: &str, value: String, allowed: &[&str]) -> Result<String, String> {
    if allowed.contains(&value.as_str()) {
        Ok(value)
    } else {
        Err(format!(
            "option '{option}' argument '{value}' is invalid. Allowed choices are {}.",
            allowed.join(", ")
        ))
    }
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// Formats 16 bytes as a version-4 UUID (the version and variant bits are forced).
pub fn uuid_v4_from(mut bytes: [u8; 16]) -> String {
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = bytes.iter().fold(String::new(), |mut acc, b| {
        let _ = write!(acc, "{b:02x}");
        acc
    });
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

pub fn random_uuid() -> String {
    uuid_v4_from(random_bytes::<16>())
}

/// A UUID derived deterministically from `seed`.
pub fn derived_uuid(seed: &str) -> String {
    let digest = sha256(seed.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid_v4_from(bytes)
}

/// RFC 4648 base32 (upper case, no padding): only `[A-Z2-7]`, so it fits an id.
pub fn base32(data: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &b in data {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((acc >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((acc << (5 - bits)) & 31) as usize]));
    }
    out
}

/// The first `n` base32 characters of sha256(`seed`).
pub fn hashed_id(seed: &str, n: usize) -> String {
    base32(&sha256(seed.as_bytes()))[..n].to_string()
}

pub fn unix_ms(t: SystemTime) -> u128 {
    t.duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_millis()
}

/// `2026-11-25T15:02:22.123Z`.
pub fn rfc3339_ms(t: SystemTime) -> String {
    let shape = time::format_description::parse_borrowed::<1>(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z",
    )
    .expect("a valid format description");
    time::OffsetDateTime::from(t)
        .format(&shape)
        .unwrap_or_default()
}

fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn home() -> PathBuf {
    env_nonempty("HOME").map_or_else(|| PathBuf::from("/"), PathBuf::from)
}

/// Claude's config directory `D`: `CLAUDE_CONFIG_DIR`, else `~/.claude`.
pub fn config_dir() -> PathBuf {
    env_nonempty("CLAUDE_CONFIG_DIR").map_or_else(|| home().join(".claude"), PathBuf::from)
}

pub fn projects_dir() -> PathBuf {
    config_dir().join("projects")
}

/// The global file `G`: `~/.claude.json`, or `<D>/.claude.json` when the variable is set.
pub fn global_config_path() -> PathBuf {
    match env_nonempty("CLAUDE_CONFIG_DIR") {
        Some(d) => PathBuf::from(d).join(".claude.json"),
        None => home().join(".claude.json"),
    }
}

/// Claude's project slug: every character that is not an ASCII letter or digit becomes `-`.
pub fn slug(path: &Path) -> String {
    path.to_string_lossy()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

pub fn canonical_cwd() -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    fs::canonicalize(&cwd).unwrap_or(cwd)
}

pub fn project_dir(cwd: &Path) -> PathBuf {
    projects_dir().join(slug(cwd))
}

/// Field 22 of `/proc/self/stat` (start time in clock ticks), as Clauster reads it.
pub fn own_start_ticks() -> String {
    fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| {
            let after = &stat[stat.rfind(')')? + 1..];
            // Fields after the command name start at field 3 (the state).
            after.split_whitespace().nth(22 - 3).map(str::to_string)
        })
        .unwrap_or_else(|| "0".to_string())
}

/// Writes `data` to a temporary file next to `path` and renames it over `path`.
pub fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Appends one line in a single `write` (O_APPEND keeps concurrent writers' lines whole).
pub fn append_line(path: &Path, line: &str) {
    if let Ok(mut f) = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
    {
        let _ = f.write_all(format!("{line}\n").as_bytes());
    }
}

/// `<debug-file><suffix>`, e.g. `F.argv.json`.
pub fn sibling(debug_file: &Path, suffix: &str) -> PathBuf {
    let mut s = debug_file.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Records `<debug-file>.argv.json` and `<debug-file>.env.json` (fake-claude.md §4.1).
pub fn record_invocation(debug_file: &Path, args: &[String]) {
    let argv = serde_json::to_string(args).unwrap_or_default();
    let _ = write_atomic(&sibling(debug_file, ".argv.json"), argv.as_bytes());
    let mut names: Vec<String> = std::env::vars_os()
        .map(|(k, _)| k.to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut values = serde_json::Map::new();
    for key in [
        "CLAUSTER_RESUME_RECAP",
        "CLAUSTER_RESUME_RECAP_MAX_CHARS",
        "PATH",
        "TERM",
    ] {
        let v = std::env::var(key).map_or(serde_json::Value::Null, serde_json::Value::String);
        values.insert(key.to_string(), v);
    }
    let env = serde_json::json!({"names": names, "values": values});
    let _ = write_atomic(
        &sibling(debug_file, ".env.json"),
        env.to_string().as_bytes(),
    );
}

/// The debug file claude appends to (`--debug-file`); absent → lines go nowhere.
pub struct DebugLog {
    file: Option<File>,
}

impl DebugLog {
    pub fn open(path: Option<&Path>) -> Self {
        let file = path.and_then(|p| {
            OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(p)
                .ok()
        });
        DebugLog { file }
    }

    /// Appends `<RFC 3339 ms> [<level>] <text>` as one write.
    pub fn line(&mut self, level: &str, text: &str) {
        if let Some(f) = self.file.as_mut() {
            let line = format!("{} [{level}] {text}\n", rfc3339_ms(SystemTime::now()));
            let _ = f.write_all(line.as_bytes());
        }
    }

    pub fn debug(&mut self, text: &str) {
        self.line("DEBUG", text);
    }
}

/// Reads a JSON file; `None` when missing or unparseable.
pub fn read_json(path: &Path) -> Option<serde_json::Value> {
    let text = fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

/// Trust as bridges.md §12.2 reads it.
pub fn is_trusted(cwd: &Path) -> bool {
    let Some(global) = read_json(&global_config_path()) else {
        return false;
    };
    let Some(projects) = global
        .get("projects")
        .and_then(serde_json::Value::as_object)
    else {
        return false;
    };
    let trusted = |p: &Path| {
        projects
            .get(&*p.to_string_lossy())
            .and_then(serde_json::Value::as_object)
            .and_then(|o| o.get("hasTrustDialogAccepted"))
            .and_then(serde_json::Value::as_bool)
            == Some(true)
    };
    if cwd.join(".git").exists() {
        return trusted(cwd);
    }
    cwd.ancestors().any(trusted)
}

/// Both acknowledgement flags of bridges.md §12.3 are `true` in `G`.
pub fn is_acknowledged() -> bool {
    let Some(global) = read_json(&global_config_path()) else {
        return false;
    };
    ["hasUsedRemoteControl", "remoteDialogSeen"]
        .iter()
        .all(|k| global.get(*k).and_then(serde_json::Value::as_bool) == Some(true))
}

/// True when `dir` or an ancestor holds `.git`.
pub fn in_git_repo(dir: &Path) -> bool {
    dir.ancestors().any(|d| d.join(".git").exists())
}

/// The file that remembers the last sign-in (`in`) or sign-out (`out`).
pub fn login_state_file() -> std::path::PathBuf {
    config_dir().join(".fake-login")
}

/// `Some(true|false)` once `auth login` or `auth logout` ran.
pub fn remembered_login() -> Option<bool> {
    match std::fs::read_to_string(login_state_file()).ok()?.trim() {
        "in" => Some(true),
        "out" => Some(false),
        _ => None,
    }
}
