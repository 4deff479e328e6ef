use super::*;

/// A transcript as Claude Code writes it: summaries, tool use and results, thinking, a
/// previous recap, an unparseable line.
const TRANSCRIPT: &str = r#"{"type":"summary","summary":"Fix the parser"}
{"type":"user","message":{"role":"user","content":"Why does the parser drop the last line?"},"uuid":"u1"}
{"type":"assistant","message":{"role":"assistant","content":[{"type":"thinking","thinking":"hmm"},{"type":"text","text":"The loop stops one early."},{"type":"tool_use","id":"t1","name":"Read","input":{}}]}}
{"type":"user","message":{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"fn main() {}"}]}}
not json at all
{"type":"user","message":{"role":"user","content":"⟦clauster-recap⟧ Recap of the previous conversation in this directory"}}
{"type":"assistant","message":{"role":"assistant","content":[{"type":"text","text":"Fixed it:"},{"type":"text","text":"`for i in 0..=n`"}]}}
{"type":"user","content":"Thanks, ship it."}
{"type":"system","content":"Compacted"}
"#;

#[test]
fn turns_keep_text_and_drop_the_rest() {
    insta::assert_debug_snapshot!(turns(TRANSCRIPT));
}

#[test]
fn the_recap_of_a_whole_conversation() {
    let recap = render(&turns(TRANSCRIPT), DEFAULT_MAX_CHARS).unwrap();
    insta::assert_snapshot!(recap);
    assert!(recap.chars().count() <= DEFAULT_MAX_CHARS);
    insta::assert_snapshot!("hook_output", hook_output(&recap));
}

#[test]
fn a_small_budget_keeps_the_newest_turns_and_says_so() {
    let many: Vec<Turn> = (1..=40)
        .map(|i| Turn {
            role: if i % 2 == 1 {
                Role::User
            } else {
                Role::Assistant
            },
            text: format!("turn number {i} {}", "x".repeat(20)),
        })
        .collect();
    let recap = render(&many, 600).unwrap();
    assert!(recap.chars().count() <= 600, "{}", recap.chars().count());
    assert!(recap.contains(OMITTED));
    assert!(recap.contains("turn number 40 "));
    assert!(!recap.contains("turn number 1 "));
    insta::assert_snapshot!(recap);
}

#[test]
fn a_newest_turn_longer_than_the_budget_is_truncated() {
    let long = vec![
        Turn {
            role: Role::User,
            text: "first".into(),
        },
        Turn {
            role: Role::Assistant,
            text: "é".repeat(9_000),
        },
    ];
    for max in [500, 1_000, 8_000] {
        let recap = render(&long, max).unwrap();
        assert!(
            recap.chars().count() <= max,
            "{max}: {}",
            recap.chars().count()
        );
        assert!(recap.contains(TRUNCATED), "{max}");
        assert!(recap.contains(OMITTED), "{max}");
        assert!(recap.ends_with("⟦clauster-recap⟧ end of recap"));
    }
}

#[test]
fn the_sentinel_inside_a_rendered_turn_is_neutralised() {
    let turn = Turn {
        role: Role::User,
        text: format!("say {SENTINEL} twice"),
    };
    assert_eq!(
        render_turn(&turn),
        "**User:** say [recap-marker removed] twice"
    );
}

#[test]
fn no_turns_no_recap() {
    assert_eq!(render(&[], 8_000), None);
    assert!(turns("{\"type\":\"summary\"}\n").is_empty());
}

#[test]
fn payloads() {
    let ok = |s: &str| parse_payload(s.as_bytes()).map(|p| p.transcript_path);
    assert_eq!(
        ok(
            r#"{"session_id":"s","transcript_path":"/t/a.jsonl","source":"startup","hook_event_name":"SessionStart"}"#
        ),
        Some("/t/a.jsonl".into())
    );
    assert_eq!(
        ok(r#"{"transcript_path":"/t/a.jsonl","source":"resume"}"#),
        Some("/t/a.jsonl".into())
    );
    assert_eq!(
        ok(r#"{"transcript_path":"/t/a.jsonl","source":""}"#),
        Some("/t/a.jsonl".into())
    );
    assert_eq!(
        ok(r#"{"transcript_path":"/t/a.jsonl"}"#),
        Some("/t/a.jsonl".into())
    );
    for bad in [
        r#"{"transcript_path":"/t/a.jsonl","source":"compact"}"#,
        r#"{"transcript_path":"/t/a.jsonl","source":"clear"}"#,
        r#"{"transcript_path":"/t/a.jsonl","source":7}"#,
        r#"{"transcript_path":"","source":"startup"}"#,
        r#"{"transcript_path":3}"#,
        r#"{"source":"startup"}"#,
        r#"["/t/a.jsonl"]"#,
        "not json",
        "",
    ] {
        assert_eq!(ok(bad), None, "{bad}");
    }
    let huge = format!(
        r#"{{"transcript_path":"/t/a.jsonl","pad":"{}"}}"#,
        "x".repeat(MAX_PAYLOAD_BYTES)
    );
    assert_eq!(ok(&huge), None);
}

#[test]
fn budgets() {
    assert_eq!(budget(None), 8_000);
    assert_eq!(budget(Some("500")), 500);
    assert_eq!(budget(Some("12000")), 12_000);
    for bad in ["499", "-1", "1e4", "", "lots"] {
        assert_eq!(budget(Some(bad)), 8_000, "{bad}");
    }
}

#[test]
fn candidates_need_a_turn_in_their_first_lines() {
    assert!(has_turn(TRANSCRIPT));
    let late = format!(
        "{}{{\"type\":\"user\",\"message\":{{\"content\":\"late\"}}}}\n",
        "{\"type\":\"summary\"}\n".repeat(CANDIDATE_PROBE_LINES)
    );
    assert!(!has_turn(&late));
    assert!(!has_turn(""));
}
