use super::*;

fn argv(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn exited() -> Sidecar {
    let mut s = Sidecar::starting(
        4100,
        &argv(&[
            "/usr/bin/claude",
            "--remote-control",
            "alpha",
            "--worktree",
            "clauster-1a2b3c4d",
            "--resume",
            "5d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6",
        ]),
        rfc3339_millis(1_764_083_000_420),
    );
    s.bridge_pid = Some(4101);
    s.bridge_proc_start = Some(1_764_083_000.42);
    s.bridge_start_ticks = Some(2_590_192);
    s.boot_id = Some("4f0c6a3e-0000-4000-8000-000000000000".into());
    s.connect_url = Some("https://claude.ai/code/session_01JABC".into());
    s.session_id = Some("session_01JABC".into());
    s.state = KeeperState::Exited;
    s.ready_reason = Some(ReadyReason::Url);
    s.exit = Some(BridgeExit {
        bridge_exit: Some(0),
        exit_screen: None,
    });
    s
}

#[test]
fn sidecar_file_layout() {
    let s = exited();
    let text = String::from_utf8(s.to_json()).unwrap();
    insta::assert_snapshot!(text);
    assert_eq!(parse_sidecar(text.as_bytes()), Some(s));
}

#[test]
fn starting_sidecar_has_no_exit_keys() {
    let s = Sidecar::starting(7, &argv(&["/c", "--remote-control"]), "t".into());
    let value: serde_json::Value = serde_json::from_slice(&s.to_json()).unwrap();
    let keys: Vec<&str> = value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert!(!keys.contains(&"bridge_exit") && !keys.contains(&"exit_screen"));
    assert_eq!(value["state"], "starting");
    assert_eq!(value["schema"], 2);
    assert_eq!(value["worktree_name"], serde_json::Value::Null);
    assert_eq!(value["claude_session_uuid"], serde_json::Value::Null);
}

#[test]
fn doubtful_files_are_no_data() {
    let good = exited().to_json();
    let nested = |n: usize| {
        let mut t = String::from(r#"{"schema":2,"keeper_pid":1,"state":"starting","x":"#);
        t.push_str(&"[".repeat(n));
        t.push_str(&"]".repeat(n));
        t.push('}');
        t
    };
    let mut non_utf8 = good.clone();
    let at = non_utf8.iter().position(|b| *b == b'J').unwrap();
    non_utf8[at] = 0xff;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("partial", good[..good.len() / 2].to_vec()),
        ("non-utf8", non_utf8),
        ("invalid", b"{not json}".to_vec()),
        ("array", b"[2, 4100, null]".to_vec()),
        ("string", b"\"schema\"".to_vec()),
        ("too deep", nested(16).into_bytes()),
        ("no state", br#"{"schema":2,"keeper_pid":1}"#.to_vec()),
        (
            "bad state",
            br#"{"schema":2,"keeper_pid":1,"state":"gone"}"#.to_vec(),
        ),
    ];
    for (what, bytes) in cases {
        assert_eq!(parse_sidecar(&bytes), None, "{what}");
    }
    // 15 array levels inside the object make 16 in all: still read.
    let ok = parse_sidecar(nested(15).as_bytes()).expect("16 levels are allowed");
    assert_eq!(ok.state, KeeperState::Starting);
    // Brackets inside strings do not count.
    let quoted = format!(
        r#"{{"schema":2,"keeper_pid":1,"state":"ready","note":"{}"}}"#,
        "[{".repeat(40)
    );
    assert!(parse_sidecar(quoted.as_bytes()).is_some());
}

#[test]
fn screen_frame_layout() {
    let frame = ScreenFrame {
        seq: 17,
        state: FrameState::Live,
        error: None,
        screen: Some(PtyScreen {
            rows: vec!["ab  ".into(), "    ".into()],
            cursor: PtyCursor { x: 3, y: 1 },
            cols: 4,
            rows_count: 2,
        }),
    };
    let text = String::from_utf8(frame.to_json()).unwrap();
    insta::assert_snapshot!(text);
    assert_eq!(parse_frame(text.as_bytes()), Some(frame));
    assert_eq!(parse_frame(b"[17]"), None);
    let error = parse_frame(br#"{"seq":2,"state":"error","error":"x","screen":null}"#).unwrap();
    assert_eq!(error.state, FrameState::Error);
    assert_eq!(error.screen, None);
}

#[test]
fn prompts_match_case_insensitively() {
    assert_eq!(
        detect_prompt("  do you TRUST the files in this folder?"),
        Some(PromptKind::Trust)
    );
    assert_eq!(
        detect_prompt("Enable Remote Control? (y/n)"),
        Some(PromptKind::RcConsent)
    );
    assert_eq!(
        detect_prompt("WARNING: Claude Code running in Bypass Permissions mode"),
        Some(PromptKind::BypassConsent)
    );
    assert_eq!(
        detect_prompt("Select login method:"),
        Some(PromptKind::Login)
    );
    assert_eq!(detect_prompt("/remote-control is active"), None);
}

#[test]
fn facts_from_the_bridge_argv() {
    let base = ["/c", "--remote-control", "a"];
    let with = |extra: &[&str]| {
        let mut v = argv(&base);
        v.extend(argv(extra));
        v
    };
    assert_eq!(
        worktree_from_argv(&with(&["--worktree", "clauster-0a1b2c3d"])).as_deref(),
        Some("clauster-0a1b2c3d")
    );
    assert_eq!(
        worktree_from_argv(&with(&["--worktree=clauster-0a1b2c3d"])).as_deref(),
        Some("clauster-0a1b2c3d")
    );
    assert_eq!(worktree_from_argv(&with(&["--worktree", "mine"])), None);
    assert_eq!(worktree_from_argv(&with(&["--worktree"])), None);
    let uuid = "5d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6";
    assert_eq!(
        resumed_conversation(&with(&["--resume", uuid])).as_deref(),
        Some(uuid)
    );
    assert_eq!(
        resumed_conversation(&with(&["--resume", uuid, "--fork-session"])),
        None
    );
    assert_eq!(resumed_conversation(&with(&["--continue"])), None);
}
