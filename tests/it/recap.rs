//! The resume-recap hook (bridges.md §13): `clauster __recap-hook__` fed recorded SessionStart
//! payloads and transcript fixtures, its budget and its refusals (always exit 0, silent), and
//! end to end: installed at launch next to other hooks, run by the fake claude, and an
//! unparseable settings file left alone while the bridge still starts.

use crate::support;

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use support::{
    Sandbox, ServesApi, clauster_bin, fake_claude, serve_fake, start_server, trusted_project,
    wait_for,
};

const CURRENT: &str = "9d0c7a52-5d3e-4a8b-8f0e-2c6b1e4d7a90";

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/recap")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Writes `text` to `dir/name` with its mtime `age_s` seconds in the past.
fn put(dir: &Path, name: &str, text: &str, age_s: u64) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    let file = File::options().write(true).open(&path).unwrap();
    file.set_modified(SystemTime::now() - Duration::from_secs(age_s))
        .unwrap();
    path
}

/// The sandbox's directory `name`, holding the current session's transcript (`text`, written
/// now).
fn current_session_dir(sandbox: &Sandbox, name: &str, text: &str) -> PathBuf {
    let dir = sandbox.dir.path().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    put(&dir, &format!("{CURRENT}.jsonl"), text, 0);
    dir
}

/// A transcript directory as Claude Code leaves it: the current session's file (newest), a
/// file without turns (newer than the previous one), the previous conversation, an older one,
/// and a non-transcript file.
fn transcript_dir(sandbox: &Sandbox) -> PathBuf {
    let dir = current_session_dir(
        sandbox,
        "transcripts",
        "{\"type\":\"user\",\"message\":{\"content\":\"the current session\"}}\n",
    );
    put(&dir, "no-turns.jsonl", &fixture("no-turns.jsonl"), 10);
    put(&dir, "previous.jsonl", &fixture("previous.jsonl"), 100);
    put(&dir, "older.jsonl", &fixture("older.jsonl"), 1_000);
    put(
        &dir,
        "notes.txt",
        "{\"type\":\"user\",\"content\":\"not a transcript\"}\n",
        0,
    );
    dir
}

/// Runs the hook with `payload` on stdin and `env`: (exit code, stdout, stderr).
fn run_hook(sandbox: &Sandbox, payload: &[u8], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = sandbox.command(clauster_bin());
    cmd.arg("__recap-hook__")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, value) in env {
        cmd.env(name, value);
    }
    let mut child = cmd.spawn().expect("run clauster __recap-hook__");
    // A hook that stops reading early must not fail us either: ignore a broken pipe.
    let _ = child.stdin.take().unwrap().write_all(payload);
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn payload(name: &str, dir: &Path) -> Vec<u8> {
    fixture(name)
        .replace("TRANSCRIPT_DIR", &dir.to_string_lossy())
        .into_bytes()
}

const ARMED: (&str, &str) = ("CLAUSTER_RESUME_RECAP", "1");

/// Variables set for one run of the hook.
type Env = Vec<(&'static str, &'static str)>;

/// The hook's stdout as the SessionStart envelope; returns the recap.
fn recap_of(stdout: &str) -> String {
    let output: Value = serde_json::from_str(stdout.trim_end()).expect("one JSON object");
    assert_eq!(
        output["hookSpecificOutput"]["hookEventName"],
        "SessionStart"
    );
    assert_eq!(
        output.as_object().map(serde_json::Map::len),
        Some(1),
        "only hookSpecificOutput: {output}"
    );
    output["hookSpecificOutput"]["additionalContext"]
        .as_str()
        .expect("additionalContext is a string")
        .to_owned()
}

#[test]
fn a_startup_payload_gets_the_previous_conversation() {
    let sandbox = Sandbox::new();
    let dir = transcript_dir(&sandbox);
    let (code, stdout, stderr) = run_hook(&sandbox, &payload("startup.json", &dir), &[ARMED]);
    assert_eq!((code, stderr.as_str()), (0, ""));
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    insta::assert_snapshot!(recap_of(&stdout));
    // A resume payload and one without `source` are served the same way.
    for source in ["resume", ""] {
        let body = String::from_utf8(payload("startup.json", &dir))
            .unwrap()
            .replace("\"startup\"", &format!("\"{source}\""));
        let (code, again, _) = run_hook(&sandbox, body.as_bytes(), &[ARMED]);
        assert_eq!((code, again.as_str()), (0, stdout.as_str()), "{source}");
    }
}

#[test]
fn the_recap_stays_within_the_configured_budget() {
    let sandbox = Sandbox::new();
    let dir = transcript_dir(&sandbox);
    let long = json!({"type": "user", "message": {"content": "word ".repeat(3_000)}});
    let short = json!({"type": "assistant", "message": {"content": [{"type": "text", "text": "short answer"}]}});
    put(
        &dir,
        "previous.jsonl",
        &format!("{long}\n{short}\n{long}\n"),
        100,
    );
    for (max, expect) in [
        ("500", 500),
        ("2000", 2_000),
        ("499", 8_000),
        ("many", 8_000),
    ] {
        let (code, stdout, _) = run_hook(
            &sandbox,
            &payload("startup.json", &dir),
            &[ARMED, ("CLAUSTER_RESUME_RECAP_MAX_CHARS", max)],
        );
        assert_eq!(code, 0);
        let recap = recap_of(&stdout);
        let chars = recap.chars().count();
        assert!(chars <= expect, "{max}: {chars}");
        assert!(recap.contains("… [turn truncated]"), "{max}");
        assert!(recap.contains("(earlier turns omitted)"), "{max}");
        assert!(!recap.contains("short answer"), "{max}");
        assert!(recap.ends_with("⟦clauster-recap⟧ end of recap"), "{max}");
    }
    insta::assert_snapshot!(recap_of(
        &run_hook(
            &sandbox,
            &payload("startup.json", &dir),
            &[ARMED, ("CLAUSTER_RESUME_RECAP_MAX_CHARS", "500")],
        )
        .1
    ));
}

#[test]
fn anything_wrong_means_exit_zero_and_no_output() {
    let sandbox = Sandbox::new();
    let dir = transcript_dir(&sandbox);
    let startup = payload("startup.json", &dir);
    let empty_dir =
        current_session_dir(&sandbox, "empty", "{\"type\":\"user\",\"content\":\"x\"}\n");
    let huge = format!(
        "{{\"transcript_path\":\"{}/{CURRENT}.jsonl\",\"pad\":\"{}\"}}",
        dir.display(),
        "x".repeat(1024 * 1024)
    );
    let cases: Vec<(&str, Vec<u8>, Env)> = vec![
        ("not armed", startup.clone(), vec![]),
        (
            "armed with 0",
            startup.clone(),
            vec![("CLAUSTER_RESUME_RECAP", "0")],
        ),
        ("compact", payload("compact.json", &dir), vec![ARMED]),
        ("not json", b"{\"transcript_path\": ".to_vec(), vec![ARMED]),
        ("not an object", b"[1, 2]".to_vec(), vec![ARMED]),
        ("no path", b"{\"source\":\"startup\"}".to_vec(), vec![ARMED]),
        ("empty stdin", Vec::new(), vec![ARMED]),
        ("binary", vec![0xff, 0xfe, 0x00, 0x01], vec![ARMED]),
        ("over 1 MiB", huge.into_bytes(), vec![ARMED]),
        (
            "missing directory",
            br#"{"transcript_path":"/nonexistent/x/y.jsonl","source":"startup"}"#.to_vec(),
            vec![ARMED],
        ),
        (
            "no other transcript",
            payload("startup.json", &empty_dir),
            vec![ARMED],
        ),
    ];
    for (name, input, env) in cases {
        let (code, stdout, stderr) = run_hook(&sandbox, &input, &env);
        assert_eq!(
            (code, stdout.as_str(), stderr.as_str()),
            (0, "", ""),
            "{name}"
        );
    }
    // Extra arguments do not turn into a usage error either.
    let mut cmd = sandbox.command(clauster_bin());
    let out = cmd
        .args(["__recap-hook__", "--bogus"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!((out.status.code(), out.stdout.len()), (Some(0), 0));
    // The transcripts were only read.
    assert_eq!(
        std::fs::read_to_string(dir.join("previous.jsonl")).unwrap(),
        fixture("previous.jsonl")
    );
}

/// Claude Code's directory name for a path.
fn settings_path(sandbox: &Sandbox) -> PathBuf {
    sandbox.home().join(".claude/settings.json")
}

const RECAP_ENV: [(&str, &str); 2] = [
    ("CLAUSTER_CLAUDE_RESUME_RECAP", "true"),
    ("FAKE_CLAUDE_RUN_HOOKS", "1"),
];

#[tokio::test]
async fn installed_at_launch_next_to_other_hooks_and_run_by_claude() {
    let (sandbox, alpha) = trusted_project("alpha", &[".git"]);
    let claude = fake_claude(&sandbox);
    let settings = settings_path(&sandbox);
    std::fs::create_dir_all(settings.parent().unwrap()).unwrap();
    let other = json!({
        "theme": "dark",
        "hooks": {
            "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "true"}]}],
            "SessionStart": [{"matcher": "", "hooks": [{"type": "command", "command": "echo other-hook"}]}]
        }
    });
    std::fs::write(&settings, serde_json::to_string_pretty(&other).unwrap()).unwrap();
    let transcripts = sandbox.claude_project_dir(&alpha);
    std::fs::create_dir_all(&transcripts).unwrap();
    put(
        &transcripts,
        "previous.jsonl",
        &fixture("previous.jsonl"),
        100,
    );

    let server = start_server(&sandbox, Some(&claude), &[], &RECAP_ENV);
    let (status, started) = server.start_bridge("alpha").await;
    assert_eq!(status, 201, "{started}\n{}", server.log());
    assert_eq!(started["status"], "running", "{started}");
    assert_eq!(started["warnings"], json!([]), "{started}");

    let after: Value = serde_json::from_str(&std::fs::read_to_string(&settings).unwrap()).unwrap();
    let bin = std::fs::canonicalize(clauster_bin()).unwrap();
    let ours = format!("\"{}\" __recap-hook__", bin.display());
    assert_eq!(after["theme"], "dark");
    assert_eq!(after["hooks"]["PreToolUse"], other["hooks"]["PreToolUse"]);
    assert_eq!(
        after["hooks"]["SessionStart"],
        json!([
            {"matcher": "", "hooks": [{"type": "command", "command": "echo other-hook"}]},
            {"matcher": "", "hooks": [{"type": "command", "command": ours}]}
        ])
    );
    assert!(settings.with_file_name("settings.json.bak").exists());

    // The fake ran both hooks in a fresh session armed with CLAUSTER_RESUME_RECAP=1.
    let logs = sandbox.home().join(".clauster/logs");
    let lines =
        hook_runs(&logs, 2).unwrap_or_else(|| panic!("the fake ran no hooks\n{}", server.log()));
    let other_run = lines
        .iter()
        .find(|l| l["command"] == "echo other-hook")
        .unwrap();
    assert_eq!(other_run["stdout"], "other-hook\n");
    let our_run = lines
        .iter()
        .find(|l| l["command"] == ours.as_str())
        .unwrap();
    assert_eq!(our_run["exit"], 0, "{our_run}");
    let recap = recap_of(our_run["stdout"].as_str().unwrap());
    assert!(
        recap.starts_with("⟦clauster-recap⟧ Recap of the previous conversation"),
        "{recap}"
    );
    assert!(
        recap.contains("**User:** Great. Next time: rate limits."),
        "{recap}"
    );

    // The fresh launch was armed (§4.3 step 5).
    let fresh = launch_env(&logs, false);
    assert_eq!(fresh["CLAUSTER_RESUME_RECAP"], "1", "{fresh}");
    assert_eq!(fresh["CLAUSTER_RESUME_RECAP_MAX_CHARS"], "8000", "{fresh}");

    // A resume that continues the conversation finds the entry in place, changes nothing, and
    // is not armed: the conversation is already there.
    let before = std::fs::read(&settings).unwrap();
    let id = started["instance_id"].as_str().unwrap();
    let (status, _) = server.delete(&format!("/api/instances/{id}")).await;
    assert_eq!(status, 200);
    let (status, resumed) = server
        .post_empty(&format!("/api/instances/{id}/resume"))
        .await;
    assert_eq!(status, 200, "{resumed}"); // 1.3.2 answers 200 (issue 18 reverses http-api.md §5)
    assert_eq!(resumed["resumed_conversation"], true, "{resumed}");
    assert_eq!(std::fs::read(&settings).unwrap(), before);
    let continued = launch_env(&logs, true);
    assert_eq!(
        continued["CLAUSTER_RESUME_RECAP"],
        Value::Null,
        "{continued}"
    );
    assert_eq!(
        continued["CLAUSTER_RESUME_RECAP_MAX_CHARS"],
        Value::Null,
        "{continued}"
    );
}

/// The hook runs the fake recorded in `<debug-file>.hooks.jsonl`, once there are `count`.
fn hook_runs(logs: &Path, count: usize) -> Option<Vec<Value>> {
    wait_for(Duration::from_secs(15), || {
        let file = std::fs::read_dir(logs)
            .ok()?
            .flatten()
            .find(|e| e.file_name().to_string_lossy().ends_with(".hooks.jsonl"))?;
        let text = std::fs::read_to_string(file.path()).ok()?;
        let lines: Vec<Value> = text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        (lines.len() == count).then_some(lines)
    })
}

/// The recorded `values` of the environment of the launch whose argv does (or does not)
/// contain `--continue` (fake-claude.md §4.1).
fn launch_env(logs: &Path, continued: bool) -> Value {
    let found = wait_for(Duration::from_secs(10), || {
        std::fs::read_dir(logs).ok()?.flatten().find_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let stem = name.strip_suffix(".argv.json")?;
            let argv: Vec<String> =
                serde_json::from_str(&std::fs::read_to_string(entry.path()).ok()?).ok()?;
            if argv.iter().any(|a| a == "--continue") != continued {
                return None;
            }
            let env = std::fs::read_to_string(logs.join(format!("{stem}.env.json"))).ok()?;
            serde_json::from_str::<Value>(&env).ok()
        })
    });
    found.expect("the launch recorded its environment")["values"].clone()
}

#[tokio::test]
async fn an_unparseable_settings_file_is_left_alone_and_the_bridge_still_runs() {
    let (sandbox, _) = trusted_project("alpha", &[".git"]);
    let settings = settings_path(&sandbox);
    std::fs::create_dir_all(settings.parent().unwrap()).unwrap();
    let broken = b"{\"hooks\": {\"SessionStart\": [ // hand-edited\n";
    std::fs::write(&settings, broken).unwrap();

    let server = serve_fake(&sandbox, &RECAP_ENV);
    let (status, started) = server.start_bridge("alpha").await;
    assert_eq!(status, 201, "{started}\n{}", server.log());
    assert_eq!(started["status"], "running", "{started}");
    let warnings = started["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{started}");
    let warning = warnings[0].as_str().unwrap();
    assert!(
        warning.starts_with("could not install the resume-recap hook: cannot update "),
        "{warning}"
    );
    assert!(warning.contains("settings.json"), "{warning}");
    assert!(
        !warning.contains("hand-edited"),
        "the content never leaks: {warning}"
    );
    assert_eq!(std::fs::read(&settings).unwrap(), broken);
    assert!(!settings.with_file_name("settings.json.bak").exists());
}
