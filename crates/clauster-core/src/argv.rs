//! The argv of a bridge: one builder for standard bridges (`claude remote-control …`,
//! bridges.md §3.2–§3.4, §9.3) and a separate one for pty bridges (`claude --remote-control
//! <name> …`, §3.5–§3.6, §9.2). They are kept apart on purpose (architecture invariant 1): the
//! two forms are parsed by different parsers in claude and share no flag order.
//!
//! Both return the arguments that follow the absolute claude path, long options only (short
//! options mean different things in claude's two parsers: `-v` is `--version` at the top
//! level and `--verbose` in `remote-control`). Every value passed in is already validated by
//! its type, so none of them can be read as a flag.

use std::num::NonZeroU32;

use crate::capability::Capabilities;
use crate::modes::{PermissionMode, SpawnMode, StandardResume};
use crate::names::{ConversationId, Label, SessionNamePrefix, WorktreeName};

/// Whether a standard launch is new or a resume of a recorded instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StandardKind {
    /// A fresh launch, a Start fresh, or the fallback after a failed `--continue`.
    Fresh,
    /// A Resume, with the `claude.standard_resume` policy in force.
    Resume(StandardResume),
}

/// Which of the two standard argv forms a launch uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StandardForm {
    /// `remote-control --name … --spawn …`.
    Fresh,
    /// `remote-control --continue --name …`: reattach the session last recorded for the
    /// directory. Never carries `--spawn`, `--capacity`, `--session-id` or
    /// `--[no-]create-session-in-dir` (claude refuses those with `--continue`).
    Continue,
}

/// Everything a standard bridge's argv depends on.
#[derive(Debug, Clone, Copy)]
pub struct StandardLaunch<'a> {
    /// `--name`: the custom name or the project name.
    pub label: &'a Label,
    /// `--debug-file`: the parse source of the log set (`<stem>.log` or `<stem>.raw.log`).
    pub debug_file: &'a str,
    pub spawn_mode: SpawnMode,
    pub permission_mode: PermissionMode,
    /// `instance_defaults.session_name_prefix`; only same-dir and worktree use it.
    pub session_name_prefix: Option<&'a SessionNamePrefix>,
    /// `instance_defaults.capacity`; only a fresh same-dir or worktree launch uses it.
    pub capacity: NonZeroU32,
    /// `instance_defaults.verbose`.
    pub verbose: bool,
    pub kind: StandardKind,
}

/// The form a standard launch takes (bridges.md §9.3): `--continue` for a resume when the
/// policy is `always`, or `auto` and the probe found `rc_continue`; never for spawn mode
/// `session` (a single-shot bridge has nothing to continue) and never with `never`.
pub fn standard_form(launch: &StandardLaunch<'_>, caps: &Capabilities) -> StandardForm {
    let StandardKind::Resume(policy) = launch.kind else {
        return StandardForm::Fresh;
    };
    let wanted = match policy {
        StandardResume::Auto => caps.rc_continue,
        StandardResume::Always => true,
        StandardResume::Never => false,
    };
    if wanted && launch.spawn_mode != SpawnMode::Session {
        StandardForm::Continue
    } else {
        StandardForm::Fresh
    }
}

/// The arguments of a standard bridge after `<claude-abs>`. Every flag follows
/// `remote-control`: current builds refuse a session-changing global flag before it.
pub fn standard(launch: &StandardLaunch<'_>, caps: &Capabilities) -> Vec<String> {
    let form = standard_form(launch, caps);
    let mut args = Argv::default();
    args.push("remote-control");
    if form == StandardForm::Continue {
        args.push("--continue");
    }
    args.pair("--name", launch.label.as_str());
    args.pair("--debug-file", launch.debug_file);
    if form == StandardForm::Fresh {
        args.pair("--spawn", launch.spawn_mode.as_token());
    }
    if let Some(token) = permission_token(launch.permission_mode, caps.rc_default_token.as_token())
    {
        args.pair("--permission-mode", token);
    }
    let multi_session = launch.spawn_mode != SpawnMode::Session;
    if let (true, Some(prefix)) = (multi_session, launch.session_name_prefix) {
        args.pair("--remote-control-session-name-prefix", prefix.as_str());
    }
    if multi_session && form == StandardForm::Fresh {
        args.pair("--capacity", &launch.capacity.to_string());
    }
    if launch.verbose {
        args.push("--verbose");
    }
    args.0
}

/// Which conversation a pty bridge opens (bridges.md §3.5, §3.6, §9.2). At most one of the
/// three resume forms appears in an argv.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PtyConversation<'a> {
    /// A new conversation (fresh launch, Start fresh, or the fallback after a failed resume).
    New,
    /// Resume: the instance's own conversation, whose uuid is known → `--resume <uuid>`.
    ResumeOwn(&'a ConversationId),
    /// Resume when the own uuid is unknown → `--continue` (the most recent conversation in the
    /// directory).
    ContinueLatest,
    /// Fresh launch forking a past conversation → `--resume <uuid> --fork-session`.
    Fork(&'a ConversationId),
}

impl<'a> PtyConversation<'a> {
    /// The conversation of a pty resume: the own uuid when known, `--continue` only otherwise,
    /// because `--continue` could pick another instance's conversation in a shared directory.
    pub fn for_resume(own: Option<&'a ConversationId>) -> Self {
        own.map_or(Self::ContinueLatest, Self::ResumeOwn)
    }

    /// Whether the launch continues a conversation, so that its early end may fall back to a
    /// fresh launch ([`crate::status::Context::resumes_conversation`]).
    pub fn resumes_conversation(self) -> bool {
        matches!(self, Self::ResumeOwn(_) | Self::ContinueLatest)
    }
}

/// Everything a pty bridge's argv depends on.
#[derive(Debug, Clone, Copy)]
pub struct PtyLaunch<'a> {
    /// The `--remote-control` value: the custom name or the project name.
    pub label: &'a Label,
    /// `--debug-file`: the parse source of the log set.
    pub debug_file: &'a str,
    pub permission_mode: PermissionMode,
    /// `Some` for spawn mode `worktree` → `--worktree <WT>`. Spawn mode `session` is coerced
    /// to same-dir by the spawn gate, so same-dir and session both pass `None`.
    pub worktree: Option<&'a WorktreeName>,
    pub conversation: PtyConversation<'a>,
}

/// The arguments of a pty bridge after `<claude-abs>`, handed to the keeper. Never `--spawn`,
/// `--capacity`, `--name`, `--verbose` or sandbox flags.
pub fn pty(launch: &PtyLaunch<'_>, caps: &Capabilities) -> Vec<String> {
    let mut args = Argv::default();
    args.pair("--remote-control", launch.label.as_str());
    args.pair("--debug-file", launch.debug_file);
    if let Some(token) =
        permission_token(launch.permission_mode, caps.flag_default_token.as_token())
    {
        args.pair("--permission-mode", token);
    }
    if let Some(worktree) = launch.worktree {
        args.pair("--worktree", worktree.as_str());
    }
    match launch.conversation {
        PtyConversation::New => {}
        PtyConversation::ResumeOwn(id) => args.pair("--resume", id.as_str()),
        PtyConversation::ContinueLatest => args.push("--continue"),
        PtyConversation::Fork(id) => {
            args.pair("--resume", id.as_str());
            args.push("--fork-session");
        }
    }
    args.0
}

/// The `--permission-mode` value, or `None` for `inherit` (no flag at all). Recorded `default`
/// is spelt the way the form's parser lists it (`default_token`).
fn permission_token(mode: PermissionMode, default_token: &'static str) -> Option<&'static str> {
    match mode {
        PermissionMode::Inherit => None,
        PermissionMode::Default => Some(default_token),
        other => Some(other.as_token()),
    }
}

#[derive(Default)]
struct Argv(Vec<String>);

impl Argv {
    fn push(&mut self, arg: &str) {
        self.0.push(arg.to_owned());
    }

    /// An option and its value as two separate arguments (never `--opt=value`, which the two
    /// claude parsers do not treat alike).
    fn pair(&mut self, option: &str, value: &str) {
        self.push(option);
        self.push(value);
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use super::*;
    use crate::capability::DefaultModeToken;
    use crate::names::ProjectName;

    const OWN_UUID: &str = "5d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6";
    const FORK_UUID: &str = "0f8c9d2e-1a2b-4c3d-9e4f-5a6b7c8d9e0f";

    /// A build with `remote-control --continue` that spells recorded `default` with these
    /// tokens in the flag and the subcommand form.
    fn caps_spelling(flag: DefaultModeToken, rc: DefaultModeToken) -> Capabilities {
        Capabilities {
            rc_continue: true,
            flag_default_token: flag,
            rc_default_token: rc,
            ..Capabilities::fallback()
        }
    }
    /// claude 2.1.328 as the probe reads it (bridges.md §3.1.1).
    fn caps_2_1_328() -> Capabilities {
        caps_spelling(DefaultModeToken::Manual, DefaultModeToken::Default)
    }
    /// 2.1.328, and the same build as if `remote-control --continue` were missing.
    fn caps_with_and_without_rc_continue() -> (Capabilities, Capabilities) {
        let caps = caps_2_1_328();
        let mut no_continue = caps.clone();
        no_continue.rc_continue = false;
        (caps, no_continue)
    }
    /// A hypothetical build whose subcommand also renamed `default` to `manual`.
    fn caps_all_manual() -> Capabilities {
        caps_spelling(DefaultModeToken::Manual, DefaultModeToken::Manual)
    }

    struct Fixture {
        label: Label,
        worktree: WorktreeName,
        own: ConversationId,
        fork: ConversationId,
        prefix: SessionNamePrefix,
    }

    fn fixture() -> Fixture {
        let alpha = ProjectName::new("alpha").expect("project");
        Fixture {
            label: Label::resolve(None, &alpha).expect("label"),
            worktree: WorktreeName::for_instance("1a2b3c4d-0000-4000-8000-000000000000")
                .expect("worktree"),
            own: ConversationId::new(OWN_UUID).expect("own uuid"),
            fork: ConversationId::new(FORK_UUID).expect("fork uuid"),
            prefix: SessionNamePrefix::new("box").expect("prefix"),
        }
    }

    fn std_launch(f: &Fixture, spawn_mode: SpawnMode, kind: StandardKind) -> StandardLaunch<'_> {
        StandardLaunch {
            label: &f.label,
            debug_file: "L",
            spawn_mode,
            permission_mode: PermissionMode::Plan,
            session_name_prefix: None,
            capacity: NonZeroU32::new(32).expect("non-zero"),
            verbose: false,
            kind,
        }
    }

    fn pty_launch<'a>(
        f: &'a Fixture,
        worktree: bool,
        conversation: PtyConversation<'a>,
    ) -> PtyLaunch<'a> {
        PtyLaunch {
            label: &f.label,
            debug_file: "L",
            permission_mode: PermissionMode::Plan,
            worktree: worktree.then_some(&f.worktree),
            conversation,
        }
    }

    const RESUME: StandardKind = StandardKind::Resume(StandardResume::Auto);

    /// bridges.md §3.7, row by row, exactly as the spec prints it.
    #[test]
    fn spec_matrix() {
        let f = fixture();
        let (caps, no_continue) = caps_with_and_without_rc_continue();
        let std_run = |spawn, kind, caps: &Capabilities| {
            standard(&std_launch(&f, spawn, kind), caps).join(" ")
        };
        let pty_run = |worktree, conv| pty(&pty_launch(&f, worktree, conv), &caps).join(" ");

        let fresh = StandardKind::Fresh;
        let same_dir_fresh = "remote-control --name alpha --debug-file L --spawn same-dir --permission-mode plan --capacity 32";
        let worktree_fresh = "remote-control --name alpha --debug-file L --spawn worktree --permission-mode plan --capacity 32";
        let session_fresh =
            "remote-control --name alpha --debug-file L --spawn session --permission-mode plan";
        let continued =
            "remote-control --continue --name alpha --debug-file L --permission-mode plan";
        assert_eq!(std_run(SpawnMode::SameDir, fresh, &caps), same_dir_fresh);
        assert_eq!(std_run(SpawnMode::Worktree, fresh, &caps), worktree_fresh);
        assert_eq!(std_run(SpawnMode::Session, fresh, &caps), session_fresh);
        assert_eq!(std_run(SpawnMode::SameDir, RESUME, &caps), continued);
        assert_eq!(std_run(SpawnMode::Worktree, RESUME, &caps), continued);
        // standard | session | resume → same as fresh.
        assert_eq!(std_run(SpawnMode::Session, RESUME, &caps), session_fresh);
        assert_eq!(
            std_run(
                SpawnMode::Session,
                StandardKind::Resume(StandardResume::Always),
                &caps
            ),
            session_fresh
        );
        // standard | any | resume without rc_continue, or with `never` → same as fresh.
        let never = StandardKind::Resume(StandardResume::Never);
        for (spawn, expected) in [
            (SpawnMode::SameDir, same_dir_fresh),
            (SpawnMode::Worktree, worktree_fresh),
            (SpawnMode::Session, session_fresh),
        ] {
            assert_eq!(std_run(spawn, RESUME, &no_continue), expected);
            assert_eq!(std_run(spawn, never, &caps), expected);
        }
        // `always` uses --continue even without the capability.
        assert_eq!(
            std_run(
                SpawnMode::SameDir,
                StandardKind::Resume(StandardResume::Always),
                &no_continue
            ),
            continued
        );

        // pty: the base, then `--worktree` and the conversation's flags.
        let pty_base = "--remote-control alpha --debug-file L --permission-mode plan";
        let wt = " --worktree clauster-1a2b3c4d";
        let own = " --resume 5d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6";
        let fork = " --resume 0f8c9d2e-1a2b-4c3d-9e4f-5a6b7c8d9e0f --fork-session";
        for (worktree, conversation, tail) in [
            (false, PtyConversation::New, String::new()),
            (true, PtyConversation::New, wt.to_owned()),
            (false, PtyConversation::ResumeOwn(&f.own), own.to_owned()),
            (
                false,
                PtyConversation::ContinueLatest,
                " --continue".to_owned(),
            ),
            (
                true,
                PtyConversation::ResumeOwn(&f.own),
                format!("{wt}{own}"),
            ),
            (
                true,
                PtyConversation::ContinueLatest,
                format!("{wt} --continue"),
            ),
            (false, PtyConversation::Fork(&f.fork), fork.to_owned()),
        ] {
            assert_eq!(
                pty_run(worktree, conversation),
                format!("{pty_base}{tail}"),
                "{worktree} {conversation:?}"
            );
        }
    }

    /// The notes under the §3.7 table: `default`, `inherit`, the prefix and `verbose`.
    #[test]
    fn spec_matrix_notes() {
        let f = fixture();
        let caps = caps_2_1_328();
        let mut launch = std_launch(&f, SpawnMode::SameDir, StandardKind::Fresh);
        launch.permission_mode = PermissionMode::Default;
        assert_eq!(
            standard(&launch, &caps).join(" "),
            "remote-control --name alpha --debug-file L --spawn same-dir --permission-mode default --capacity 32"
        );
        let mut p = pty_launch(&f, false, PtyConversation::New);
        p.permission_mode = PermissionMode::Default;
        assert_eq!(
            pty(&p, &caps).join(" "),
            "--remote-control alpha --debug-file L --permission-mode manual"
        );
        launch.permission_mode = PermissionMode::Inherit;
        p.permission_mode = PermissionMode::Inherit;
        assert_eq!(
            standard(&launch, &caps).join(" "),
            "remote-control --name alpha --debug-file L --spawn same-dir --capacity 32"
        );
        assert_eq!(
            pty(&p, &caps).join(" "),
            "--remote-control alpha --debug-file L"
        );

        let mut launch = std_launch(&f, SpawnMode::Worktree, StandardKind::Fresh);
        launch.session_name_prefix = Some(&f.prefix);
        launch.verbose = true;
        assert_eq!(
            standard(&launch, &caps).join(" "),
            "remote-control --name alpha --debug-file L --spawn worktree --permission-mode plan --remote-control-session-name-prefix box --capacity 32 --verbose"
        );
        launch.kind = RESUME;
        assert_eq!(
            standard(&launch, &caps).join(" "),
            "remote-control --continue --name alpha --debug-file L --permission-mode plan --remote-control-session-name-prefix box --verbose"
        );
        // Session mode takes neither capacity nor prefix.
        launch.spawn_mode = SpawnMode::Session;
        assert_eq!(
            standard(&launch, &caps).join(" "),
            "remote-control --name alpha --debug-file L --spawn session --permission-mode plan --verbose"
        );
    }

    #[test]
    fn forms_and_conversations() {
        let f = fixture();
        let caps = caps_2_1_328();
        assert_eq!(
            standard_form(&std_launch(&f, SpawnMode::SameDir, RESUME), &caps),
            StandardForm::Continue
        );
        assert_eq!(
            standard_form(
                &std_launch(&f, SpawnMode::SameDir, RESUME),
                &Capabilities::fallback()
            ),
            StandardForm::Fresh
        );
        assert_eq!(
            PtyConversation::for_resume(Some(&f.own)),
            PtyConversation::ResumeOwn(&f.own)
        );
        assert_eq!(
            PtyConversation::for_resume(None),
            PtyConversation::ContinueLatest
        );
        assert!(PtyConversation::ResumeOwn(&f.own).resumes_conversation());
        assert!(PtyConversation::ContinueLatest.resumes_conversation());
        assert!(!PtyConversation::Fork(&f.fork).resumes_conversation());
        assert!(!PtyConversation::New.resumes_conversation());
    }

    /// Invariants over every combination: long options only, no sandbox flags, the forbidden
    /// flags of each form absent, values as separate arguments.
    #[test]
    fn invariants_over_all_combinations() {
        let f = fixture();
        let all_caps = [caps_2_1_328(), caps_all_manual(), Capabilities::fallback()];
        let kinds = [
            StandardKind::Fresh,
            StandardKind::Resume(StandardResume::Auto),
            StandardKind::Resume(StandardResume::Always),
            StandardKind::Resume(StandardResume::Never),
        ];
        let check_common = |args: &[String]| {
            for arg in args {
                assert!(
                    arg.starts_with("--") || !arg.starts_with('-'),
                    "short option {arg} in {args:?}"
                );
                assert!(!arg.contains("sandbox"), "{args:?}");
                assert!(!arg.starts_with("--") || !arg.contains('='), "{args:?}");
            }
        };
        for caps in &all_caps {
            for spawn in SpawnMode::ALL {
                for perm in PermissionMode::ALL {
                    for kind in kinds {
                        for (prefix, verbose) in [(None, false), (Some(&f.prefix), true)] {
                            let mut launch = std_launch(&f, spawn, kind);
                            launch.permission_mode = perm;
                            launch.session_name_prefix = prefix;
                            launch.verbose = verbose;
                            let args = standard(&launch, caps);
                            check_common(&args);
                            assert_eq!(args[0], "remote-control");
                            let has = |flag: &str| args.iter().any(|a| a == flag);
                            if has("--continue") {
                                for forbidden in [
                                    "--spawn",
                                    "--capacity",
                                    "--session-id",
                                    "--create-session-in-dir",
                                    "--no-create-session-in-dir",
                                ] {
                                    assert!(!has(forbidden), "{args:?}");
                                }
                                assert_ne!(spawn, SpawnMode::Session);
                            }
                            assert_eq!(has("--permission-mode"), perm != PermissionMode::Inherit);
                            assert_eq!(has("--verbose"), verbose);
                            if verbose {
                                assert_eq!(args.last().map(String::as_str), Some("--verbose"));
                            }
                            if spawn == SpawnMode::Session {
                                assert!(
                                    !has("--capacity")
                                        && !has("--remote-control-session-name-prefix")
                                );
                            }
                        }
                    }
                }
            }
            for worktree in [false, true] {
                for perm in PermissionMode::ALL {
                    for conv in [
                        PtyConversation::New,
                        PtyConversation::ResumeOwn(&f.own),
                        PtyConversation::ContinueLatest,
                        PtyConversation::Fork(&f.fork),
                    ] {
                        let mut launch = pty_launch(&f, worktree, conv);
                        launch.permission_mode = perm;
                        let args = pty(&launch, caps);
                        check_common(&args);
                        let has = |flag: &str| args.iter().any(|a| a == flag);
                        for forbidden in [
                            "--spawn",
                            "--capacity",
                            "--name",
                            "--verbose",
                            "remote-control",
                        ] {
                            assert!(!has(forbidden), "{args:?}");
                        }
                        let resumes = args
                            .iter()
                            .filter(|a| *a == "--resume" || *a == "--continue")
                            .count();
                        assert!(resumes <= 1, "{args:?}");
                        assert_eq!(has("--worktree"), worktree);
                    }
                }
            }
        }
    }

    fn render_row(out: &mut String, cells: &[&str], args: &[String]) {
        let _ = writeln!(out, "| {} | `{}` |", cells.join(" | "), args.join(" "));
    }

    /// The §3.7 matrix with every concrete launch (permission `plan`, claude 2.1.328).
    #[test]
    fn snapshot_full_matrix() {
        let f = fixture();
        let (caps, no_continue) = caps_with_and_without_rc_continue();
        let mut out = String::from(
            "| Mode | Spawn | Launch | argv after `<claude-abs>` |\n|---|---|---|---|\n",
        );
        let kinds: [(&str, StandardKind, &Capabilities); 5] = [
            ("fresh", StandardKind::Fresh, &caps),
            ("resume, `rc_continue`", RESUME, &caps),
            ("resume, no `rc_continue`", RESUME, &no_continue),
            (
                "resume, `standard_resume: always`, no `rc_continue`",
                StandardKind::Resume(StandardResume::Always),
                &no_continue,
            ),
            (
                "resume, `standard_resume: never`",
                StandardKind::Resume(StandardResume::Never),
                &caps,
            ),
        ];
        for spawn in SpawnMode::ALL {
            for (name, kind, caps) in kinds {
                let args = standard(&std_launch(&f, spawn, kind), caps);
                render_row(&mut out, &["standard", spawn.as_token(), name], &args);
            }
        }
        let conversations = [
            ("fresh", PtyConversation::New),
            ("resume, own uuid known", PtyConversation::ResumeOwn(&f.own)),
            ("resume, uuid unknown", PtyConversation::ContinueLatest),
            ("fork", PtyConversation::Fork(&f.fork)),
        ];
        for (spawn, worktree) in [("same-dir", false), ("worktree", true)] {
            for (name, conv) in conversations {
                let args = pty(&pty_launch(&f, worktree, conv), &caps);
                render_row(&mut out, &["pty", spawn, name], &args);
            }
        }
        insta::assert_snapshot!("full_matrix", out);
    }

    /// Every permission mode in both forms, for the probe results that change its spelling.
    #[test]
    fn snapshot_permission_matrix() {
        let f = fixture();
        let mut out = String::from(
            "| Permission | Capabilities | Form | argv after `<claude-abs>` |\n|---|---|---|---|\n",
        );
        let all_caps = [
            ("2.1.328", caps_2_1_328()),
            ("manual in both", caps_all_manual()),
            ("fallback (no probe)", Capabilities::fallback()),
        ];
        for perm in PermissionMode::ALL {
            for (caps_name, caps) in &all_caps {
                let mut launch = std_launch(&f, SpawnMode::SameDir, StandardKind::Fresh);
                launch.permission_mode = perm;
                render_row(
                    &mut out,
                    &[perm.as_token(), caps_name, "standard same-dir fresh"],
                    &standard(&launch, caps),
                );
                launch.kind = RESUME;
                render_row(
                    &mut out,
                    &[perm.as_token(), caps_name, "standard same-dir resume"],
                    &standard(&launch, caps),
                );
                let mut launch = pty_launch(&f, false, PtyConversation::New);
                launch.permission_mode = perm;
                render_row(
                    &mut out,
                    &[perm.as_token(), caps_name, "pty same-dir fresh"],
                    &pty(&launch, caps),
                );
            }
        }
        insta::assert_snapshot!("permission_matrix", out);
    }

    /// The session-name prefix and `verbose` in every standard spawn mode and form.
    #[test]
    fn snapshot_prefix_and_verbose() {
        let f = fixture();
        let caps = caps_2_1_328();
        let mut out = String::from(
            "| Spawn | Launch | prefix / verbose | argv after `<claude-abs>` |\n|---|---|---|---|\n",
        );
        for spawn in SpawnMode::ALL {
            for (kind_name, kind) in [("fresh", StandardKind::Fresh), ("resume", RESUME)] {
                for (opt_name, prefix, verbose) in [
                    ("prefix box", Some(&f.prefix), false),
                    ("verbose", None, true),
                    ("prefix box, verbose", Some(&f.prefix), true),
                ] {
                    let mut launch = std_launch(&f, spawn, kind);
                    launch.session_name_prefix = prefix;
                    launch.verbose = verbose;
                    render_row(
                        &mut out,
                        &[spawn.as_token(), kind_name, opt_name],
                        &standard(&launch, &caps),
                    );
                }
            }
        }
        insta::assert_snapshot!("prefix_and_verbose", out);
    }

    #[test]
    fn custom_label_and_paths_are_single_arguments() {
        let alpha = ProjectName::new("alpha").expect("project");
        let label = Label::resolve(Some("my bridge"), &alpha).expect("label");
        let f = fixture();
        let mut launch = std_launch(&f, SpawnMode::SameDir, StandardKind::Fresh);
        launch.label = &label;
        launch.debug_file = "/srv/state dir/logs/alpha-1764083000000-1.log";
        let args = standard(&launch, &caps_2_1_328());
        assert_eq!(
            &args[1..5],
            [
                "--name",
                "my bridge",
                "--debug-file",
                "/srv/state dir/logs/alpha-1764083000000-1.log"
            ]
        );
        let p = PtyLaunch {
            label: &label,
            ..pty_launch(&f, false, PtyConversation::New)
        };
        assert_eq!(
            &pty(&p, &caps_2_1_328())[..2],
            ["--remote-control", "my bridge"]
        );
    }
}
