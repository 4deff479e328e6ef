//! The ghost-environment reaper's pure half (bridges.md §15): reading a page of the
//! environments list, following its cursor, the ghost rule, the claude.ai credentials, and
//! what of them may be shown.
//!
//! Nothing here touches the network or the filesystem. Where the ghost rule needs a path made
//! canonical, the caller hands in the function that asks the filesystem, so the rule itself
//! stays deterministic and table-testable.

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

use serde_json::{Map, Value};

use crate::claude_json::json_type_name;
use crate::sanitize::sanitize_text;

/// The most pages one listing follows (bridges.md §15).
pub const MAX_PAGES: usize = 10_000;
/// The longest error excerpt shown, in characters.
pub const EXCERPT_CHARS: usize = 200;

// ---------------------------------------------------------------------------------------------
// The list page
// ---------------------------------------------------------------------------------------------

/// One environment as the list reports it. Only the fields the rule needs are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    pub id: String,
    /// `""` when absent.
    pub name: String,
    /// `config.type` (`bridge`, `cloud`, …).
    pub kind: Option<String>,
    /// `config.directory`, as written (may start with `~`).
    pub directory: Option<String>,
}

/// A parsed page: the usable items, how many were skipped, and the cursor of the next page.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EnvironmentsPage {
    pub items: Vec<Environment>,
    /// Items that were not objects or had no usable `id`.
    pub skipped: usize,
    /// `next_page`; `None` when absent, null or empty.
    pub next_page: Option<String>,
}

/// A page that cannot be read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PageError {
    #[error("the environments list is not JSON ({0})")]
    NotJson(String),
    #[error("the environments list is a JSON {0}, not an object with a `data` array")]
    WrongShape(&'static str),
    #[error("the environments list has no `data` array")]
    NoData,
}

/// Reads one page of `GET /v1/environments`. Tolerant per item: an item that is not an
/// object or lacks a string `id` is skipped and counted; fields of the wrong type read as
/// absent. Only a body that is not a JSON object with a `data` array fails.
pub fn parse_page(body: &[u8]) -> Result<EnvironmentsPage, PageError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| PageError::NotJson(e.to_string()))?;
    let Value::Object(map) = &value else {
        return Err(PageError::WrongShape(json_type_name(&value)));
    };
    let Some(Value::Array(data)) = map.get("data") else {
        return Err(PageError::NoData);
    };
    let mut page = EnvironmentsPage {
        next_page: map
            .get("next_page")
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty())
            .map(str::to_owned),
        ..EnvironmentsPage::default()
    };
    for item in data {
        match item.as_object().and_then(environment_from) {
            Some(env) => page.items.push(env),
            None => page.skipped += 1,
        }
    }
    Ok(page)
}

fn environment_from(item: &Map<String, Value>) -> Option<Environment> {
    let id = item.get("id")?.as_str().filter(|id| !id.is_empty())?;
    let config = item.get("config").and_then(Value::as_object);
    let text = |key: &str| {
        config
            .and_then(|c| c.get(key))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    Some(Environment {
        id: id.to_owned(),
        name: item
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        kind: text("type"),
        directory: text("directory"),
    })
}

// ---------------------------------------------------------------------------------------------
// Pagination
// ---------------------------------------------------------------------------------------------

/// What to do after a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextStep {
    /// Ask for the page after this cursor (`after_id`).
    Fetch(String),
    /// The list is complete: no cursor, or one already followed.
    Done,
    /// [`MAX_PAGES`] were read; the rest is not listed.
    Truncated,
}

/// Follows `next_page` until it is empty or repeats, at most [`MAX_PAGES`] pages.
#[derive(Debug, Default)]
pub struct Pager {
    seen: HashSet<String>,
    pages: usize,
}

impl Pager {
    pub fn new() -> Self {
        Self::default()
    }

    /// Pages read so far.
    pub fn pages(&self) -> usize {
        self.pages
    }

    /// Records one page read and its `next_page`; says whether to fetch another.
    pub fn after_page(&mut self, next_page: Option<&str>) -> NextStep {
        self.pages += 1;
        let Some(cursor) = next_page.filter(|c| !c.is_empty()) else {
            return NextStep::Done;
        };
        if self.seen.contains(cursor) {
            return NextStep::Done;
        }
        if self.pages >= MAX_PAGES {
            return NextStep::Truncated;
        }
        self.seen.insert(cursor.to_owned());
        NextStep::Fetch(cursor.to_owned())
    }
}

// ---------------------------------------------------------------------------------------------
// The ghost rule
// ---------------------------------------------------------------------------------------------

/// Why an environment is, or is not, a ghost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A bridge environment under `projects_root` that nothing live uses; its directory,
    /// `~`-expanded and canonical.
    Ghost(PathBuf),
    /// Its directory is in the live set.
    Live,
    /// `config.type` is not `bridge` (cloud environments are never touched).
    NotBridge,
    NoDirectory,
    /// Outside `projects_root`, `projects_root` itself, relative, or `~user`.
    OutsideRoot,
}

/// What the rule compares against.
#[derive(Clone, Copy)]
pub struct GhostRule<'a> {
    /// `projects_root`, canonical.
    pub root: &'a Path,
    /// The live set, canonical directories.
    pub live: &'a HashSet<PathBuf>,
    /// The home directory `~` stands for; `None` leaves `~` paths unplaceable.
    pub home: Option<&'a Path>,
    /// The filesystem's canonical form of an existing path; `None` when it does not exist.
    pub canonicalize: &'a dyn Fn(&Path) -> Option<PathBuf>,
}

impl std::fmt::Debug for GhostRule<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GhostRule")
            .field("root", &self.root)
            .field("live", &self.live)
            .field("home", &self.home)
            .finish_non_exhaustive()
    }
}

impl GhostRule<'_> {
    /// Classifies one environment (bridges.md §15).
    pub fn classify(&self, env: &Environment) -> Verdict {
        if env.kind.as_deref() != Some("bridge") {
            return Verdict::NotBridge;
        }
        let Some(raw) = env.directory.as_deref() else {
            return Verdict::NoDirectory;
        };
        let Some(dir) = self.resolve(raw) else {
            return Verdict::OutsideRoot;
        };
        if dir == self.root || !dir.starts_with(self.root) {
            return Verdict::OutsideRoot;
        }
        if self.live.contains(&dir) {
            return Verdict::Live;
        }
        Verdict::Ghost(dir)
    }

    /// The canonical form of a directory as the API wrote it: `~` expanded, `.` and `..`
    /// resolved, then the deepest existing ancestor made canonical (a ghost's directory has
    /// often been deleted, so the whole path may not exist). `None` when it cannot be placed.
    pub fn resolve(&self, raw: &str) -> Option<PathBuf> {
        let expanded = expand_home(raw, self.home)?;
        let normal = normalize(&expanded)?;
        for ancestor in normal.ancestors() {
            if let Some(canonical) = (self.canonicalize)(ancestor) {
                let rest = normal.strip_prefix(ancestor).unwrap_or(Path::new(""));
                return Some(if rest.as_os_str().is_empty() {
                    canonical
                } else {
                    canonical.join(rest)
                });
            }
        }
        Some(normal)
    }
}

/// `~` and `~/…` become the home directory; `~user` is not expanded (`None`).
fn expand_home(raw: &str, home: Option<&Path>) -> Option<PathBuf> {
    match raw.strip_prefix('~') {
        None => Some(PathBuf::from(raw)),
        Some("") => home.map(Path::to_path_buf),
        Some(rest) => {
            let rest = rest.strip_prefix('/')?;
            home.map(|h| h.join(rest))
        }
    }
}

/// An absolute path with `.` removed and `..` applied; `None` for a relative path.
fn normalize(path: &Path) -> Option<PathBuf> {
    if !path.is_absolute() {
        return None;
    }
    let mut out = PathBuf::from("/");
    for component in path.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    Some(out)
}

/// The requested ids split into those still ghosts (each once, in request order) and the
/// rest (`skipped`).
pub fn split_requested<S: std::hash::BuildHasher>(
    requested: &[String],
    ghosts: &HashSet<&str, S>,
) -> (Vec<String>, Vec<String>) {
    let mut seen = HashSet::new();
    let (mut act, mut skipped) = (Vec::new(), Vec::new());
    for id in requested {
        if !seen.insert(id.as_str()) {
            continue;
        }
        if ghosts.contains(id.as_str()) {
            act.push(id.clone());
        } else {
            skipped.push(id.clone());
        }
    }
    (act, skipped)
}

// ---------------------------------------------------------------------------------------------
// Credentials
// ---------------------------------------------------------------------------------------------

/// What the environments API is called with. The token never appears in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiCredentials {
    pub access_token: String,
    pub organization_uuid: String,
    /// `expiresAt`, epoch milliseconds, when the file has one.
    pub expires_at: Option<i64>,
}

impl std::fmt::Debug for ApiCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiCredentials")
            .field("access_token", &token_hint(&self.access_token))
            .field("organization_uuid", &org_hint(&self.organization_uuid))
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Why the credentials cannot be used; the text follows `no usable claude.ai credentials: `.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsError {
    #[error(".credentials.json is not valid JSON; log in again with `claude auth login`")]
    CredentialsNotJson,
    #[error(
        ".credentials.json has no claudeAiOauth.accessToken; log in with `claude auth login` \
         (an API key cannot list environments)"
    )]
    NoAccessToken,
    #[error(
        ".credentials.json has a claudeAiOauth.expiresAt that is not a number; log in again \
         with `claude auth login`"
    )]
    BadExpiry,
    #[error(
        "the claude.ai login expired at {expired_at}; run any claude command (for example \
         `claude auth status`) to refresh it, or `claude auth login`"
    )]
    Expired { expired_at: String },
    #[error("Claude's global config file is not a JSON object; run `claude auth login`")]
    GlobalNotJson,
    #[error(
        "Claude's global config file has no oauthAccount.organizationUuid; log in with \
         `claude auth login`"
    )]
    NoOrganization,
}

/// Reads `<D>/.credentials.json` (`claudeAiOauth.accessToken`, `expiresAt`) and Claude's
/// global file `G` (`oauthAccount.organizationUuid`). A token that expired at or before
/// `now_ms` is refused.
pub fn parse_credentials(
    credentials: &str,
    global: &str,
    now_ms: i64,
) -> Result<ApiCredentials, CredentialsError> {
    let file: Value =
        serde_json::from_str(credentials).map_err(|_| CredentialsError::CredentialsNotJson)?;
    let oauth = file.get("claudeAiOauth").and_then(Value::as_object);
    let access_token = oauth
        .and_then(|o| o.get("accessToken"))
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(CredentialsError::NoAccessToken)?;
    let expires_at = match oauth.and_then(|o| o.get("expiresAt")) {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => Some(
            n.as_i64()
                // A float epoch is cut to whole milliseconds; out of range saturates.
                .or_else(|| {
                    #[allow(clippy::cast_possible_truncation)]
                    n.as_f64().map(|f| f as i64)
                })
                .ok_or(CredentialsError::BadExpiry)?,
        ),
        Some(_) => return Err(CredentialsError::BadExpiry),
    };
    if let Some(at) = expires_at
        && at <= now_ms
    {
        return Err(CredentialsError::Expired {
            expired_at: crate::pty_sidecar::rfc3339_millis(u64::try_from(at).unwrap_or(0)),
        });
    }
    let global: Value = serde_json::from_str(if global.trim().is_empty() {
        "{}"
    } else {
        global
    })
    .map_err(|_| CredentialsError::GlobalNotJson)?;
    if !global.is_object() {
        return Err(CredentialsError::GlobalNotJson);
    }
    let organization_uuid = global
        .get("oauthAccount")
        .and_then(|a| a.get("organizationUuid"))
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .ok_or(CredentialsError::NoOrganization)?;
    Ok(ApiCredentials {
        access_token: access_token.to_owned(),
        organization_uuid: organization_uuid.to_owned(),
        expires_at,
    })
}

/// The only form in which a token is shown: its first 6 characters and `…`.
pub fn token_hint(token: &str) -> String {
    first_chars(token, 6)
}

/// The organization uuid as the CLI shows it: its first 8 characters and `…`.
pub fn org_hint(uuid: &str) -> String {
    first_chars(uuid, 8)
}

fn first_chars(text: &str, n: usize) -> String {
    let mut out: String = text.chars().take(n).collect();
    out.push('…');
    out
}

// ---------------------------------------------------------------------------------------------
// Where the API is
// ---------------------------------------------------------------------------------------------

/// The environments API (bridges.md §15).
pub const DEFAULT_API_BASE: &str = "https://api.anthropic.com";

/// An API base that is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the environments API base {given:?} is refused: {why}; use an https:// URL, or http:// to \
     a loopback address (127.0.0.1, ::1)"
)]
pub struct ApiBaseError {
    pub given: String,
    pub why: &'static str,
}

/// Checks an API base URL: `https://` to any host, or `http://` to a loopback IP address
/// only (a local fake or proxy); no user name, password, query or fragment.
pub fn parse_api_base(text: &str) -> Result<url::Url, ApiBaseError> {
    let refuse = |why| ApiBaseError {
        given: text.chars().take(120).collect(),
        why,
    };
    let url = url::Url::parse(text.trim()).map_err(|_| refuse("not a URL"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refuse("it carries credentials"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(refuse("it has a query or fragment"));
    }
    match (url.scheme(), url.host()) {
        ("https", Some(_)) => Ok(url),
        ("http", Some(url::Host::Ipv4(ip))) if ip.is_loopback() => Ok(url),
        ("http", Some(url::Host::Ipv6(ip))) if ip.is_loopback() => Ok(url),
        ("http", _) => Err(refuse(
            "plain http to a host that is not a loopback address",
        )),
        _ => Err(refuse("the scheme is not https")),
    }
}

// ---------------------------------------------------------------------------------------------
// Errors from the API
// ---------------------------------------------------------------------------------------------

/// A body as an error may show it: `secrets` (the token) masked, then redacted like every
/// line that leaves the process (bridges.md §14.3), whitespace runs collapsed, and cut to
/// [`EXCERPT_CHARS`] characters. An empty body reads `(empty body)`.
pub fn error_excerpt(body: &[u8], secrets: &[&str]) -> String {
    let mut text = String::from_utf8_lossy(body).into_owned();
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        text = text.replace(secret, "<redacted>");
    }
    let clean = sanitize_text(&text);
    let collapsed = clean.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.is_empty() {
        return "(empty body)".into();
    }
    if collapsed.chars().count() > EXCERPT_CHARS {
        let mut cut: String = collapsed.chars().take(EXCERPT_CHARS).collect();
        cut.push('…');
        cut
    } else {
        collapsed
    }
}

#[cfg(test)]
mod tests;
