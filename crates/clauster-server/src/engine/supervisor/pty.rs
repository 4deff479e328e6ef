//! pty bridges in the engine: the keeper launch (bridges.md §4.2), the sidecar as the source of
//! the bridge's identity, link and end (pty.md §5), and the keeper's part of a stop (§8.2
//! T3–T4). The keeper itself is `clauster_pty::keeper`, run as `clauster __pty-keeper__`.

use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clauster_core::argv::{self, PtyConversation, PtyLaunch};
use clauster_core::capability::Capabilities;
use clauster_core::identity::{Gate, StartIdentity, parse_boot_id};
use clauster_core::markers::MarkerFacts;
use clauster_core::modes::{LaunchMode, SpawnMode};
use clauster_core::names::{ConversationId, WorktreeName};
use clauster_core::pty_sidecar::{KeeperState, PromptKind, ReadyReason, Sidecar, parse_sidecar};
use clauster_core::sanitize::sanitize_text;
use clauster_core::status::{Event, ExitStatus, PtyPrompt, Status};
use clauster_pty::proc::{self, Signal, SpawnSpec};

use super::{EngineError, LaunchPlan, Live, Supervisor, alive, invalid};
use crate::bridge_env;
use crate::engine::logs::LogSet;
use crate::store::InstanceRow;

/// This build can run pty bridges (pty.md §9: the keeper and `proc` are Unix only).
pub(super) const SUPPORTED: bool = cfg!(unix);

/// The longest notice mirrored from the sidecar's `note` (pty.md §5.2).
const NOTICE_MAX_CHARS: usize = 120;

/// Which conversation a pty launch continues (bridges.md §3.5, §9.2).
#[derive(Clone, Debug)]
pub(in crate::engine) enum Conversation {
    New,
    /// Resume with the instance's own conversation uuid known → `--resume <uuid>`.
    ResumeOwn(ConversationId),
    /// Resume while it is unknown → `--continue`.
    ContinueLatest,
    /// A fresh launch forking a past conversation → `--resume <uuid> --fork-session`.
    Fork(ConversationId),
}

impl Conversation {
    /// The resume form for a recorded uuid (never `--continue` when one is known).
    pub(super) fn resume(recorded: Option<&str>) -> Self {
        recorded
            .and_then(|uuid| ConversationId::new(uuid).ok())
            .map_or(Self::ContinueLatest, Self::ResumeOwn)
    }

    /// Whether the launch continues a conversation (so a failure may fall back, §9.2).
    pub(super) fn resumes(&self) -> bool {
        matches!(self, Self::ResumeOwn(_) | Self::ContinueLatest)
    }

    fn as_argv(&self) -> PtyConversation<'_> {
        match self {
            Self::New => PtyConversation::New,
            Self::ResumeOwn(id) => PtyConversation::ResumeOwn(id),
            Self::ContinueLatest => PtyConversation::ContinueLatest,
            Self::Fork(id) => PtyConversation::Fork(id),
        }
    }
}

/// §9.2: a resume whose conversation is unknown continues the directory's newest one, which
/// is another process's when another `claude` works there; then it starts a new conversation
/// and says why. Blocking (a `/proc` scan): run off the supervisor.
pub(super) fn continue_or_new(
    conversation: &mut Conversation,
    row: &InstanceRow,
    projects_root: &Path,
    warnings: &mut Vec<String>,
) {
    if !matches!(conversation, Conversation::ContinueLatest) {
        return;
    }
    let cwd = bridge_cwd(row, projects_root);
    if let Some(other) = other_claude_in(&cwd, &[]) {
        *conversation = Conversation::New;
        warnings.push(format!(
            "the conversation of '{}' is not known and another claude process (pid {other}) works in its directory, so --continue could pick that process's conversation; started a new one",
            row.label
        ));
    }
}

/// The spawn-mode rules of §3.4 for pty: `session` becomes same-dir, and same-dir warns.
pub(super) fn coerce_spawn_mode(mode: SpawnMode, warnings: &mut Vec<String>) -> SpawnMode {
    match mode {
        SpawnMode::Session => {
            warnings.push(
                "spawn_mode 'session' applies to standard bridges only; using same-dir".into(),
            );
            warnings.push(SAME_DIR_WARNING.into());
            SpawnMode::SameDir
        }
        SpawnMode::SameDir => {
            warnings.push(SAME_DIR_WARNING.into());
            SpawnMode::SameDir
        }
        SpawnMode::Worktree => SpawnMode::Worktree,
    }
}

const SAME_DIR_WARNING: &str =
    "interactive sessions in the same directory can make conflicting edits; consider worktree";

/// `clauster-` + the first 8 hex characters of the instance id (§3.4).
pub(super) fn worktree_name(instance_id: &str) -> String {
    WorktreeName::for_instance(instance_id)
        .map(|w| w.as_str().to_owned())
        .unwrap_or_default()
}

/// The bridge argv handed to the keeper (§3.5).
pub(super) fn bridge_argv(
    plan: &LaunchPlan,
    conversation: &Conversation,
    row: &InstanceRow,
    debug_file: &str,
    caps: &Capabilities,
) -> Vec<String> {
    let worktree = (plan.spawn_mode == SpawnMode::Worktree)
        .then(|| WorktreeName::resolve(row.worktree_name.as_deref(), &row.instance_id).ok())
        .flatten();
    argv::pty(
        &PtyLaunch {
            label: &plan.label,
            debug_file,
            permission_mode: plan.permission_mode,
            worktree: worktree.as_ref(),
            conversation: conversation.as_argv(),
        },
        caps,
    )
}

pub(super) fn prompt_of(prompt: PromptKind) -> PtyPrompt {
    match prompt {
        PromptKind::Trust => PtyPrompt::Trust,
        PromptKind::RcConsent => PtyPrompt::RcConsent,
        PromptKind::BypassConsent => PtyPrompt::BypassConsent,
        PromptKind::Login => PtyPrompt::Login,
    }
}

/// Reads the launch's sidecar; a missing or unreadable one keeps the last good read. The
/// bridge's identity is taken from it once (measured by the keeper, never by us). Returns
/// whether anything changed.
pub(super) fn read_sidecar(dir: &Path, live: &mut Live) -> bool {
    let Some(stem) = live.row.log_stem.as_deref() else {
        return false;
    };
    let path = dir.join(format!("{stem}.keeper.json"));
    let Some(sidecar) = std::fs::read(path).ok().and_then(|b| parse_sidecar(&b)) else {
        return false;
    };
    if live.sidecar.as_ref() == Some(&sidecar) {
        return false;
    }
    if live.identity.is_none()
        && let (Some(pid), Some(ticks)) = (sidecar.bridge_pid, sidecar.bridge_start_ticks)
    {
        let boot_id = sidecar
            .boot_id
            .as_deref()
            .and_then(|b| parse_boot_id(b).ok());
        live.row.bridge_pid = Some(i64::from(pid));
        live.row.bridge_start_ticks = i64::try_from(ticks).ok();
        live.row.bridge_proc_start = sidecar.bridge_proc_start;
        live.row.bridge_boot_id = boot_id.as_ref().map(|b| b.as_str().to_owned());
        live.identity = Some(StartIdentity {
            pid,
            start_ticks: Some(ticks),
            boot_id,
            proc_start: sidecar.bridge_proc_start,
        });
    }
    live.sidecar = Some(sidecar);
    true
}

/// The keeper's part of a terminate (§8.2 T3–T4), run after the bridge's signals.
pub(super) struct KeeperEnd {
    keeper: Option<StartIdentity>,
    /// The bridge was never named by the sidecar: the keeper must pass the stop on.
    bridge_unknown: bool,
    /// `(project dir, worktree name)` of a worktree launch.
    worktree: Option<(PathBuf, String)>,
}

impl KeeperEnd {
    pub(super) fn of(live: &Live, projects_root: &Path) -> Self {
        let worktree = (live.row.spawn_mode == SpawnMode::Worktree.as_token())
            .then(|| {
                let name =
                    WorktreeName::resolve(live.row.worktree_name.as_deref(), &live.row.instance_id)
                        .ok()?;
                Some((
                    projects_root.join(&live.row.project),
                    name.as_str().to_owned(),
                ))
            })
            .flatten();
        Self {
            keeper: live.keeper.clone(),
            bridge_unknown: live.identity.is_none(),
            worktree,
        }
    }

    /// Blocking: waits for the keeper, ends it only while it provably is ours, unlocks the
    /// worktree.
    pub(super) fn run(self) {
        if let Some(keeper) = &self.keeper {
            if self.bridge_unknown {
                // The keeper forwards a SIGTERM to its bridge as two interrupts (pty.md §3).
                proc::signal_if_ours(keeper, Gate::Keeper, Signal::SIGTERM);
            }
            let wait = if self.bridge_unknown {
                Duration::from_secs(7)
            } else {
                Duration::from_secs(2)
            };
            if !wait_gone(keeper, wait) {
                proc::signal_if_ours(keeper, Gate::Keeper, Signal::SIGTERM);
                if !wait_gone(keeper, Duration::from_secs(1)) {
                    proc::signal_if_ours(keeper, Gate::Keeper, Signal::SIGKILL);
                    // A Stop answers only once the keeper is gone (issue 14). SIGKILL cannot
                    // be ignored, but on a busy machine the exit can take seconds.
                    if !wait_gone(keeper, Duration::from_secs(10)) {
                        tracing::warn!("the pty keeper {} survived SIGKILL", keeper.pid);
                    }
                }
            }
        }
        if let Some((project, name)) = self.worktree {
            unlock_worktree(&project, &name);
        }
    }
}

/// Whether the keeper ended within `timeout`: a zombie or gone, not merely exiting (see
/// [`proc::has_ended`]).
fn wait_gone(identity: &StartIdentity, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if proc::has_ended(identity) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `git -C <project> worktree unlock <project>/.claude/worktrees/<WT>`, 10 s, result ignored.
fn unlock_worktree(project: &Path, name: &str) {
    let path = project.join(".claude/worktrees").join(name);
    let Ok(mut child) = Command::new("git")
        .arg("-C")
        .arg(project)
        .args(["worktree", "unlock"])
        .arg(&path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    else {
        return;
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if !matches!(child.try_wait(), Ok(None)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Takes the link, session, conversation uuid and notice from the sidecar and the markers.
/// Returns whether anything changed.
fn learn(live: &mut Live, sidecar: &Sidecar, facts: &MarkerFacts) -> bool {
    let mut changed = false;
    if live.row.url.is_none()
        && let Some(url) = &sidecar.connect_url
    {
        live.row.url = Some(url.clone());
        live.row.starter_session_id.clone_from(&sidecar.session_id);
        changed = true;
    }
    if live.row.starter_session_id.is_none() && facts.starter_session_id.is_some() {
        live.row
            .starter_session_id
            .clone_from(&facts.starter_session_id);
        changed = true;
    }
    if live.row.claude_session_uuid.is_none()
        && let Some(uuid) = sidecar
            .claude_session_uuid
            .as_deref()
            .filter(|u| ConversationId::new(u).is_ok())
    {
        live.row.claude_session_uuid = Some(uuid.to_owned());
        changed = true;
    }
    let url_ready = sidecar.connect_url.is_some();
    let markers_ready = facts.pty_ready_by_markers();
    let timeout_ready =
        sidecar.state == KeeperState::Ready && sidecar.ready_reason == Some(ReadyReason::Timeout);
    let notice = sidecar
        .note
        .as_deref()
        .map(|note| sanitize_text(note).chars().take(NOTICE_MAX_CHARS).collect::<String>())
        .or_else(|| {
        (timeout_ready && !url_ready && !markers_ready).then(|| {
            format!(
            "claude did not show a connect link; open claude.ai/code and pick the session named '{}'",
            live.row.label
            )
        })
        });
    if live.notice != notice {
        live.notice = notice;
        changed = true;
    }
    changed
}

impl Supervisor {
    /// Source 2 of §9.2: the agents item whose pid is the bridge's. The first UUID-shaped
    /// value is kept; a later one that disagrees is logged and ignored.
    pub(super) fn learn_conversation(&mut self, id: &str, uuid: &str) {
        let Some(live) = self.instances.get_mut(id) else {
            return;
        };
        if !live.is_pty() || ConversationId::new(uuid).is_err() {
            return;
        }
        match live.row.claude_session_uuid.as_deref() {
            None => {
                live.row.claude_session_uuid = Some(uuid.to_owned());
                self.persist(&self.instances[id]);
            }
            Some(known) if known != uuid => {
                tracing::info!(
                    "the agents poll names another conversation for a pty bridge; keeping the recorded one"
                );
            }
            Some(_) => {}
        }
    }

    /// Source 3 of §9.2, for a pty bridge whose conversation is still unknown: the only
    /// transcript created in its transcript directory since the launch, while no other pty
    /// instance shares that directory. Anything ambiguous yields nothing.
    pub(super) fn learn_from_transcript(&mut self, id: &str, projects_root: &Path) {
        let Some(live) = self.instances.get(id) else {
            return;
        };
        if !live.is_pty() || live.row.claude_session_uuid.is_some() || !live.is_live() {
            return;
        }
        let Some(launched) = live
            .row
            .launched_at
            .as_deref()
            .and_then(crate::time::unix_millis)
        else {
            return;
        };
        let cwd = bridge_cwd(&live.row, projects_root);
        let shared = self.instances.iter().any(|(other, l)| {
            other != id
                && l.is_pty()
                && bridge_cwd(&l.row, projects_root) == cwd
                && (l.is_live()
                    || l.row
                        .launched_at
                        .as_deref()
                        .and_then(crate::time::unix_millis)
                        > Some(launched))
        });
        if shared {
            return;
        }
        let dir = self.pointers.transcripts_dir(&cwd);
        let Some(uuid) = sole_new_transcript(&dir, launched) else {
            return;
        };
        // Any other `claude` in that directory (a standard bridge, a session started by hand)
        // could have written it: then the guess is ambiguous and nothing is learned (issue 14).
        let ours: Vec<i32> = [&live.identity, &live.keeper]
            .into_iter()
            .flatten()
            .map(|identity| identity.pid)
            .collect();
        if let Some(other) = other_claude_in(&cwd, &ours) {
            let live = self.instances.get_mut(id).expect("present above");
            if !std::mem::replace(&mut live.ambiguity_reported, true) {
                tracing::info!(
                    instance = %super::short(id),
                    "the conversation of pty instance {} is ambiguous: another claude process (pid {other}) runs in {}; learning nothing",
                    super::short(id),
                    cwd.display()
                );
            }
            return;
        }
        self.learn_conversation(id, &uuid);
    }

    /// Starts `clauster __pty-keeper__` for the bridge argv (§4.2): detached, cwd the project,
    /// stdout and stderr to `<stem>.keeper.log`.
    pub(super) fn launch_keeper(
        &self,
        set: &LogSet,
        cwd: &Path,
        bridge_args: &[String],
    ) -> Result<proc::Spawned, String> {
        if !self.self_exe.exists() {
            return Err(format!(
                "{} is gone: the clauster binary changed on disk; restart the server",
                self.self_exe.display()
            ));
        }
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let claude =
            bridge_env::resolve_binary(&self.config.claude.binary, &self.env, home.as_deref())?;
        let dir = self.logs.dir();
        let keeper_log = dir.join(format!("{}.keeper.log", set.stem));
        let mut args: Vec<std::ffi::OsString> = vec![
            "__pty-keeper__".into(),
            "--sidecar".into(),
            dir.join(format!("{}.keeper.json", set.stem)).into(),
            "--cwd".into(),
            cwd.into(),
        ];
        if self.config.claude.pty_screen_enabled {
            args.push("--screen-sidecar".into());
            args.push(dir.join(format!("{}.screen.json", set.stem)).into());
        }
        args.push("--url-timeout".into());
        args.push(
            self.config
                .claude
                .pty_url_timeout_seconds
                .to_string()
                .into(),
        );
        args.push("--".into());
        args.push(claude.into());
        args.extend(bridge_args.iter().map(Into::into));
        let spec = SpawnSpec {
            program: self.self_exe.clone(),
            args,
            cwd: cwd.to_path_buf(),
            env: self.env.vars().to_vec(),
            stdout_log: keeper_log.clone(),
            stderr_log: keeper_log,
        };
        proc::spawn_detached(&spec).map_err(|err| format!("cannot start the pty keeper: {err}"))
    }

    /// Step 8 of §6 (§3.6): the conversation to fork must be a UUID, the launch a pty one,
    /// and its transcript must exist in the project's transcript directory.
    pub(super) fn fork_target(
        &self,
        session: &str,
        mode: LaunchMode,
        project: &str,
        canonical: &Path,
    ) -> Result<ConversationId, EngineError> {
        let field = Some("resume_session_id");
        let id = ConversationId::new(session).map_err(|e| invalid(e.to_string(), field))?;
        if mode != LaunchMode::Pty {
            return Err(invalid(
                "resume_session_id needs resume_mode pty".into(),
                field,
            ));
        }
        let transcript = self
            .pointers
            .transcripts_dir(canonical)
            .join(format!("{}.jsonl", id.as_str()));
        if !transcript.is_file() {
            return Err(invalid(
                format!("no such conversation in '{project}'"),
                field,
            ));
        }
        Ok(id)
    }

    /// Reads a pty bridge's logs and sidecar and applies pty.md §5.2.
    pub(super) fn observe_pty(&mut self, id: &str) {
        let dir = self.logs.dir().to_path_buf();
        let keep = self.config.logs.keep_rotated;
        let Some(live) = self.instances.get_mut(id) else {
            return;
        };
        let Some(stem) = live.row.log_stem.clone() else {
            return;
        };
        super::read_logs(&LogSet::at(&dir, &stem), live, keep);
        let mut changed = read_sidecar(&dir, live);
        let facts = live.parser.facts().clone();
        for (slot, value) in [
            (&mut live.row.bridge_id, facts.bridge_id.clone()),
            (&mut live.row.environment_id, facts.environment_id.clone()),
        ] {
            if slot.is_none() && value.is_some() {
                *slot = value;
                changed = true;
            }
        }
        let Some(sidecar) = live.sidecar.clone() else {
            if changed {
                self.persist_and_publish(id);
            }
            return;
        };
        changed |= learn(live, &sidecar, &facts);
        let url_ready = sidecar.connect_url.is_some();
        let markers_ready = facts.pty_ready_by_markers();
        let timeout_ready = sidecar.state == KeeperState::Ready
            && sidecar.ready_reason == Some(ReadyReason::Timeout);
        // The bridge ended (or never started): the final sidecar says how.
        if matches!(sidecar.state, KeeperState::Exited | KeeperState::Error)
            && live.phase.exited().is_none()
            && !live.phase.is_stopping()
        {
            let status = live.sidecar_exit().unwrap_or(ExitStatus::Unknown);
            live.phase.set_exited(status);
            if changed {
                self.persist_and_publish(id);
            }
            self.settle_gone(id, status);
            return;
        }
        if !live.phase.is_stopping() && live.status == Status::Starting {
            if sidecar.prompt.is_some() {
                self.apply(id, Event::BlockingPrompt);
                return;
            }
            if facts.poison_reason.is_some() {
                self.apply(id, Event::PoisonMarker);
                return;
            }
        }
        let live = &self.instances[id];
        if (url_ready || markers_ready || timeout_ready)
            && !live.phase.is_stopping()
            && matches!(live.status, Status::Starting | Status::Error)
            && alive(live)
        {
            self.apply(id, Event::Ready);
            return;
        }
        if changed {
            self.persist_and_publish(id);
        }
    }
}

/// The directory a pty bridge runs in: its worktree, else the project (canonical when it
/// resolves, as Claude names transcript directories after the real path).
pub(super) fn bridge_cwd(row: &InstanceRow, projects_root: &Path) -> PathBuf {
    let project = projects_root.join(&row.project);
    let project = std::fs::canonicalize(&project).unwrap_or(project);
    match row.worktree_name.as_deref() {
        Some(name) if row.spawn_mode == SpawnMode::Worktree.as_token() => {
            project.join(".claude/worktrees").join(name)
        }
        _ => project,
    }
}

/// A `claude` process other than `ours` (and their descendants) whose working directory is
/// `dir`: its argv[0] or argv[1] names `claude`, and it is not a keeper (§16 keeper gate).
pub(super) fn other_claude_in(dir: &Path, ours: &[i32]) -> Option<i32> {
    let dir = std::fs::canonicalize(dir).ok()?;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<i32>().ok())
        else {
            continue;
        };
        if ours.contains(&pid) {
            continue;
        }
        if std::fs::read_link(format!("/proc/{pid}/cwd"))
            .ok()
            .as_deref()
            != Some(dir.as_path())
        {
            continue;
        }
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).take(2).collect();
        if args.get(1).is_some_and(|a| *a == b"__pty-keeper__") {
            continue;
        }
        let names_claude = args.iter().any(|arg| {
            Path::new(std::ffi::OsStr::from_bytes(arg))
                .file_name()
                .is_some_and(|name| name.to_string_lossy().contains("claude"))
        });
        if names_claude && !descends_from(pid, ours) {
            return Some(pid);
        }
    }
    None
}

/// Whether `pid` has one of `ancestors` above it (a child of our bridge is part of it).
pub(super) fn descends_from(pid: i32, ancestors: &[i32]) -> bool {
    let mut current = pid;
    for _ in 0..32 {
        let Some(parent) = std::fs::read_to_string(format!("/proc/{current}/stat"))
            .ok()
            .and_then(|stat| {
                let after = stat.rsplit_once(')')?.1.to_owned();
                after.split_whitespace().nth(1)?.parse::<i32>().ok()
            })
        else {
            return false;
        };
        if ancestors.contains(&parent) {
            return true;
        }
        if parent <= 1 {
            return false;
        }
        current = parent;
    }
    false
}

/// The uuid of the only `<uuid>.jsonl` in `dir` created (else last modified) at or after
/// `since_ms`; none or several → `None`.
fn sole_new_transcript(dir: &Path, since_ms: u128) -> Option<String> {
    let mut found = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let name = entry.file_name();
        let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".jsonl")) else {
            continue;
        };
        if ConversationId::new(stem).is_err() {
            continue;
        }
        let Ok(meta) = entry.metadata() else {
            continue;
        };
        let born = meta.created().or_else(|_| meta.modified()).ok()?;
        let born_ms = born
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        if born_ms + 1000 < since_ms {
            continue;
        }
        if found.replace(stem.to_owned()).is_some() {
            return None;
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::{other_claude_in, sole_new_transcript};

    #[test]
    fn another_claude_in_the_directory_is_found_and_ours_are_not() {
        let dir = tempfile::tempdir().expect("temp dir");
        let bin = dir.path().join("claude");
        std::os::unix::fs::symlink("/bin/sleep", &bin).expect("link");
        let mut child = std::process::Command::new(&bin)
            .arg("30")
            .current_dir(dir.path())
            .spawn()
            .expect("spawn a claude-named process");
        let pid = i32::try_from(child.id()).expect("pid");
        let found = (0..200).find_map(|_| {
            std::thread::sleep(std::time::Duration::from_millis(10));
            other_claude_in(dir.path(), &[])
        });
        assert_eq!(found, Some(pid));
        assert_eq!(other_claude_in(dir.path(), &[pid]), None, "our own bridge");
        child.kill().expect("kill");
        child.wait().expect("reap");
        assert_eq!(other_claude_in(dir.path(), &[]), None);
    }

    const A: &str = "5f0c1e2d-0000-4000-8000-00000000000a";
    const B: &str = "5f0c1e2d-0000-4000-8000-00000000000b";

    #[test]
    fn only_a_single_new_transcript_names_the_conversation() {
        let dir = tempfile::tempdir().expect("temp dir");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after the epoch")
            .as_millis();
        assert_eq!(sole_new_transcript(&dir.path().join("missing"), now), None);
        std::fs::write(dir.path().join("notes.jsonl"), "{}").expect("write");
        std::fs::write(dir.path().join("bridge-pointer.json"), "{}").expect("write");
        assert_eq!(sole_new_transcript(dir.path(), now), None);
        std::fs::write(dir.path().join(format!("{A}.jsonl")), "{}").expect("write");
        assert_eq!(sole_new_transcript(dir.path(), now).as_deref(), Some(A));
        // Launched well after it was written: not this launch's conversation.
        assert_eq!(sole_new_transcript(dir.path(), now + 60_000), None);
        std::fs::write(dir.path().join(format!("{B}.jsonl")), "{}").expect("write");
        assert_eq!(sole_new_transcript(dir.path(), now), None);
    }
}
