//! Recorded byte fixtures (pty.md §10): what the screen renders, which URL the scanner accepts
//! and when, and what the raw scan finds in the same bytes once the emulator is dropped.
//! The fixtures are written here by hand in the layouts the real TUI uses; timing is
//! simulated, so the acceptance times in the snapshots are exact.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use clauster_core::pty_sidecar::PromptKind;

use super::scrape::{UrlScanner, raw_scan};
use super::screen::Screen;

const ID: &str = "session_01JQ7ZKX4M2B9V8N6C5D3F1GHT";

/// A chunk of output and when (ms after the start) it arrives.
type Chunk = (u64, Vec<u8>);

fn at(row: u16, col: u16) -> String {
    format!("\x1b[{row};{col}H")
}

/// Words placed with `ESC[<n>G` and no space characters, as 2.1.328 draws them.
fn words_cha(col: u16, text: &str) -> String {
    let mut out = String::new();
    let mut c = col;
    for word in text.split(' ') {
        let _ = write!(out, "\x1b[{c}G{word}");
        c += u16::try_from(word.chars().count()).unwrap() + 1;
    }
    out
}

fn frame_bytes() -> String {
    format!(
        "\x1b[?25l\x1b[2J{}{}",
        at(1, 1),
        words_cha(4, "Claude Code v2.1.328 · alpha")
    )
}

/// What a fixture produced: the rendered screen, the acceptance (time and id), the raw scan.
struct Outcome {
    screen: Screen,
    accepted: Option<(u64, String)>,
    rendered: String,
}

/// Feeds the chunks at their times and scans every 100 ms (and after each chunk) for 2 s,
/// like the keeper's loop does.
fn play(chunks: &[Chunk]) -> Outcome {
    let t0 = Instant::now();
    let mut screen = Screen::new();
    let mut scanner = UrlScanner::default();
    let mut accepted = None;
    let mut pending: Vec<&Chunk> = chunks.iter().collect();
    for ms in (0..=2000).step_by(50) {
        let mut fed = false;
        while let Some(chunk) = pending.first().filter(|c| c.0 <= ms) {
            let _ = screen.feed(&chunk.1);
            pending.remove(0);
            fed = true;
        }
        if (fed || ms % 100 == 0) && accepted.is_none() {
            let lines = screen.lines().expect("the emulator works");
            if let Some(id) = scanner.scan(&lines, t0 + Duration::from_millis(ms)) {
                accepted = Some((ms, id));
            }
        }
    }
    let rendered = render(&mut screen);
    Outcome {
        screen,
        accepted,
        rendered,
    }
}

fn render(screen: &mut Screen) -> String {
    let mut out = String::new();
    for (i, line) in screen.lines().unwrap().iter().enumerate() {
        if !line.is_empty() {
            let _ = writeln!(out, "{i:>3}|{line}");
        }
    }
    out
}

fn all_bytes(chunks: &[Chunk]) -> Vec<u8> {
    chunks.iter().flat_map(|c| c.1.clone()).collect()
}

/// The snapshot text: screen, accepted URL, raw-scan result for the same bytes.
fn report(chunks: &[Chunk]) -> (Outcome, String) {
    let outcome = play(chunks);
    let mut text = outcome.rendered.clone();
    let _ = writeln!(
        text,
        "accepted: {}",
        outcome
            .accepted
            .as_ref()
            .map_or("none".to_owned(), |(ms, id)| format!(
                "https://claude.ai/code/{id} at +{ms} ms"
            ))
    );
    let _ = writeln!(
        text,
        "raw scan: {}",
        raw_scan(&all_bytes(chunks)).unwrap_or_else(|| "none".to_owned())
    );
    (outcome, text)
}

fn one(bytes: String) -> Vec<Chunk> {
    vec![(0, bytes.into_bytes())]
}

#[test]
fn contiguous_url() {
    let chunks = one(format!(
        "{}{}/remote-control is active · Continue at https://claude.ai/code/{ID} on any device",
        frame_bytes(),
        at(5, 3)
    ));
    let (outcome, text) = report(&chunks);
    insta::assert_snapshot!(text);
    // Followed by a space: only stability accepts it, after 500 ms.
    assert_eq!(outcome.accepted, Some((500, ID.to_owned())));
    assert_eq!(raw_scan(&all_bytes(&chunks)).as_deref(), Some(ID));
}

#[test]
fn url_followed_by_punctuation_is_accepted_at_once() {
    let chunks = one(format!("{}(https://claude.ai/code/{ID})", at(3, 3)));
    let (outcome, _) = report(&chunks);
    assert_eq!(outcome.accepted, Some((0, ID.to_owned())));
}

#[test]
fn url_split_by_cursor_moves_and_colours() {
    let (head, tail) = ID.split_at(ID.len() - 9);
    // The second part of the id goes back to exactly where the first stopped.
    let resume_col = 23 + 3 + u16::try_from(head.len()).unwrap();
    let after = resume_col + u16::try_from(tail.len()).unwrap() + 1;
    let bytes = format!(
        "{}{}{}{}https://cla\x1b[94mude.ai/co{}de/{head}{}{}{}\x1b[96m{}\x1b[94m{}\x1b[39m{}",
        frame_bytes(),
        at(4, 1),
        words_cha(3, "/remote-control is active · Continue at"),
        at(5, 3),
        at(5, 23),
        at(1, 1),
        words_cha(4, "Claude Code v2.1.328 · alpha"),
        at(5, resume_col),
        &tail[..4],
        &tail[4..],
        words_cha(after, "on any device"),
    );
    let chunks = one(bytes);
    let (outcome, text) = report(&chunks);
    insta::assert_snapshot!(text);
    assert_eq!(outcome.accepted, Some((500, ID.to_owned())));
    assert_eq!(
        raw_scan(&all_bytes(&chunks)),
        None,
        "the raw bytes hold no whole URL"
    );
}

#[test]
fn cha_placed_words_after_the_url() {
    // 2.1.328's layout: no space characters, every word placed with ESC[<n>G, `on` right
    // after the id. Stripping the escapes would read the id as `…GHTon`.
    let line = format!(
        "/remote-control is active · Continue at https://claude.ai/code/{ID} on any device"
    );
    let chunks = one(format!("{}{}", frame_bytes(), {
        let mut s = at(5, 1);
        s.push_str(&words_cha(3, &line));
        s
    }));
    let (outcome, text) = report(&chunks);
    insta::assert_snapshot!(text);
    assert_eq!(outcome.accepted, Some((500, ID.to_owned())));
    let naive: Vec<u8> = String::from_utf8(all_bytes(&chunks))
        .unwrap()
        .split('\x1b')
        .map(|p| p.trim_start_matches(|c: char| c == '[' || c.is_ascii_digit() || c == ';'))
        .map(|p| p.get(1..).unwrap_or(""))
        .collect::<String>()
        .into_bytes();
    assert!(
        String::from_utf8_lossy(&naive).contains(&format!("{ID}on")),
        "a naive strip glues the next word onto the id"
    );
    assert_eq!(raw_scan(&all_bytes(&chunks)), None);
}

#[test]
fn id_split_across_rows_arrives_later_and_is_never_accepted_truncated() {
    let (head, tail) = ID.split_at(14);
    let col = 3 + u16::try_from("https://claude.ai/code/".len() + head.len()).unwrap();
    let chunks = vec![
        (
            0,
            format!(
                "{}{}https://claude.ai/code/{head}{}working",
                frame_bytes(),
                at(5, 3),
                at(9, 3)
            )
            .into_bytes(),
        ),
        (
            300,
            format!(
                "{}{tail}{}",
                at(5, col),
                words_cha(
                    col + u16::try_from(tail.len()).unwrap() + 1,
                    "on any device"
                )
            )
            .into_bytes(),
        ),
    ];
    let (outcome, text) = report(&chunks);
    insta::assert_snapshot!(text);
    // The truncated id was seen from 0 to 300 ms: never long enough.
    assert_eq!(outcome.accepted, Some((800, ID.to_owned())));
}

#[test]
fn url_soft_wrapped_at_column_120() {
    let chunks = one(format!(
        "{}{}{}https://claude.ai/code/{ID}{}",
        frame_bytes(),
        at(5, 1),
        at(5, 100),
        words_cha(38, "on any device")
    ));
    let (mut outcome, text) = report(&chunks);
    insta::assert_snapshot!(text);
    assert_eq!(outcome.accepted, Some((500, ID.to_owned())));
    // The frame redacts the id although it spans two rows.
    let grid = outcome.screen.grid().unwrap();
    assert_eq!(grid.rows.len(), 40);
    assert!(grid.rows.iter().all(|r| r.chars().count() == 120));
    let joined = format!("{}{}", grid.rows[4], grid.rows[5]);
    assert!(
        joined.contains("https://claude.ai/code/session_<redacted>"),
        "{joined}"
    );
    assert!(!joined.contains("01JQ7"));
}

#[test]
fn url_in_two_chunks_150_ms_apart() {
    let (head, tail) = ID.split_at(ID.len() - 9);
    let chunks = vec![
        (
            0,
            format!(
                "{}{}{}https://claude.ai/code/{head}",
                frame_bytes(),
                at(4, 1),
                at(5, 3)
            )
            .into_bytes(),
        ),
        (
            150,
            format!("{tail}{}", words_cha(61, "on any device")).into_bytes(),
        ),
    ];
    let (outcome, text) = report(&chunks);
    insta::assert_snapshot!(text);
    // Reset by the second chunk at 150 ms; 500 ms of stability from there, on the 100 ms grid.
    assert_eq!(outcome.accepted, Some((700, ID.to_owned())));
}

#[test]
fn screen_without_url() {
    let chunks = one(format!(
        "{}{}{}",
        frame_bytes(),
        at(4, 1),
        words_cha(3, "/remote-control is active")
    ));
    let (outcome, text) = report(&chunks);
    insta::assert_snapshot!(text);
    assert_eq!(outcome.accepted, None);
}

#[test]
fn malformed_escape_sequences() {
    let bytes = [
        b"\x1b[99999999999;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;;Z"
            .to_vec(),
        b"\x1b[5;3Hbad \xff\xfe utf8 \x1b[?;;;;;x".to_vec(),
        b"\x1b]8;;unterminated osc \x1b[6;3Hafter".to_vec(),
        b"\x1bP?junk dcs\x1b\\\x1b[7;3H".to_vec(),
        format!("https://claude.ai/code/{ID}).").into_bytes(),
        b"\x1b[".to_vec(),
    ]
    .concat();
    let chunks = vec![(0, bytes)];
    let (outcome, text) = report(&chunks);
    insta::assert_snapshot!(text);
    assert_eq!(outcome.accepted, Some((0, ID.to_owned())));
}

/// The raw scan over every fixture's bytes, with the emulator dropped: only the contiguous
/// URL (and the one ended by punctuation) is found; split and glued ones never are.
#[test]
fn dropped_emulator_raw_scan() {
    let contiguous = format!("{}https://claude.ai/code/{ID} on any device", at(5, 3));
    let glued = words_cha(3, &format!("Continue at https://claude.ai/code/{ID} on"));
    let split = format!(
        "{}https://claude.ai/code/{}{}{}",
        at(5, 3),
        &ID[..12],
        at(5, 38),
        &ID[12..]
    );
    let coloured = format!(
        "https://claude.ai/code/{}\x1b[94m{} on",
        &ID[..20],
        &ID[20..]
    );
    let truncated_at_end = format!("https://claude.ai/code/{}", &ID[..20]);
    let mut text = String::new();
    for (name, bytes) in [
        ("contiguous", contiguous),
        ("cha-glued", glued),
        ("split by a move", split),
        ("split by a colour", coloured),
        ("truncated at the end", truncated_at_end),
    ] {
        let mut screen = Screen::new();
        screen.drop_emulator("test");
        let _ = screen.feed(bytes.as_bytes());
        assert!(screen.lines().is_none());
        assert!(screen.grid().is_none());
        let found = raw_scan(screen.raw());
        let _ = writeln!(text, "{name}: {}", found.unwrap_or_else(|| "none".into()));
    }
    insta::assert_snapshot!(text);
}

/// Our fixture in the layout of the reference capture (claude-2.1.328-pty-offline.raw): the
/// start-up queries, then every word placed with `ESC[<n>G`.
fn offline_bytes() -> Vec<u8> {
    let mut s = String::from("\x1b7\x1b[r\x1b8\x1b[?25h\x1b[?25l\x1b[?2004h\x1b[?2031h\x1b[?1004h");
    s.push_str("\x1b[31mWelcome\x1b[9Gto\x1b[12GClaude\x1b[19GCode\x1b[24G\x1b[37m\x1b[2mv2.1.328\x1b[22m\x1b[39m\r\r\n\r\r\n");
    s.push_str("\x1b]11;?\x07\x1b[c\x1b[>0q\x1b[?u\x1b]7501;?\x07\x1b[c");
    s.push_str("\x1b[2G\x1b[95mUnable\x1b[9Gto\x1b[12Gconnect\x1b[20Gto\x1b[23GAnthropic\x1b[33Gservices\x1b[39m\r\r\n\r\r\n");
    s.push_str("\x1b[2G\x1b[95mFailed\x1b[9Gto\x1b[12Gconnect\x1b[20Gto\x1b[23Gapi.anthropic.com:\x1b[42GENOTFOUND\x1b[39m\r\r\n\r\r\n");
    s.push_str(&words_cha(
        2,
        "Check your internet connection and network settings.",
    ));
    s.push_str("\r\r\n\x1b[?25h\x1b[?1004l\x1b[>4m\x1b[<u\x1b[?2031l\x1b[?2004l\x1b(B\x0f\x1b[?7h\x1b7\x1b[r\x1b8");
    s.into_bytes()
}

#[test]
fn reference_layout_renders_with_spaces() {
    let mut screen = Screen::new();
    let replies = screen.feed(&offline_bytes());
    // Two DA1 queries, two answers; OSC 11, XTVERSION, the kitty query and OSC 7501 get none.
    assert_eq!(replies, b"\x1b[?1;2c\x1b[?1;2c");
    let text = render(&mut screen);
    assert!(
        text.contains("Unable to connect to Anthropic services"),
        "{text}"
    );
    insta::assert_snapshot!(text);
    let exit = screen.exit_screen().unwrap();
    insta::assert_snapshot!("offline_exit_screen", exit);
    // Nothing in it was rejected.
    assert_eq!(screen.fault_note(), None);
    // The glued raw form the spec warns about.
    let visible = clauster_core::sanitize::visible_text(&String::from_utf8_lossy(&offline_bytes()))
        .into_owned();
    assert!(visible.contains("UnabletoconnecttoAnthropicservices"));
}

#[test]
fn cursor_report_answers_the_position() {
    let mut screen = Screen::new();
    assert_eq!(screen.feed(b"\x1b[3;7H\x1b[6n"), b"\x1b[3;7R");
    assert_eq!(screen.feed(b"abc\x1b[6n\x1b[0c"), b"\x1b[3;10R\x1b[?1;2c");
    assert_eq!(screen.cursor(), Some((3, 10)));
    // Secondary DA and other private queries are not answered.
    assert_eq!(screen.feed(b"\x1b[>c\x1b[>0q\x1b[?u\x1b[5n"), b"");
}

#[test]
fn prompts_on_screen() {
    let mut screen = Screen::new();
    let _ = screen.feed(
        format!(
            "{}{}",
            at(3, 1),
            words_cha(2, "Do you trust the files in this folder?")
        )
        .as_bytes(),
    );
    let lines = screen.lines().unwrap().join("\n");
    assert_eq!(
        clauster_core::pty_sidecar::detect_prompt(&lines),
        Some(PromptKind::Trust)
    );
}

#[test]
fn rejected_sequence_sets_the_note() {
    let mut screen = Screen::new();
    let _ = screen.feed(b"\x1b#8text");
    assert_eq!(
        screen.fault_note(),
        Some("The connect link may be missing: some terminal output could not be interpreted.")
    );
    screen.drop_emulator("test");
    assert_eq!(
        screen.fault_note(),
        Some("No connect link: this session's terminal output could not be read.")
    );
    assert_eq!(screen.dropped(), Some("test"));
}

#[test]
fn exit_screen_keeps_the_last_15_rows_redacted() {
    let mut screen = Screen::new();
    let mut bytes = String::new();
    for i in 1..=20 {
        let _ = write!(bytes, "{}row {i}   ", at(i * 2 - 1, 1));
    }
    let _ = write!(bytes, "{}secret https://claude.ai/code/{ID}", at(40, 1));
    let _ = screen.feed(bytes.as_bytes());
    let exit = screen.exit_screen().unwrap();
    insta::assert_snapshot!(exit);
    assert_eq!(exit.lines().count(), 15);
    assert!(!exit.contains("01JQ7"));
    assert!(Screen::new().exit_screen().is_none());
}

#[test]
fn scrollback_is_scanned() {
    let mut screen = Screen::new();
    let mut bytes = format!("https://claude.ai/code/{ID}/\r\n");
    for i in 0..60 {
        let _ = write!(bytes, "line {i}\r\n");
    }
    let _ = screen.feed(bytes.as_bytes());
    let lines = screen.lines().unwrap();
    assert!(lines.len() > 40);
    let mut scanner = UrlScanner::default();
    assert_eq!(scanner.scan(&lines, Instant::now()), Some(ID.to_owned()));
}

mod keeper_state {
    use std::path::Path;
    use std::time::{Duration, Instant};

    use clauster_core::pty_sidecar::{
        FrameState, KeeperState, ReadyReason, Sidecar, parse_frame, parse_sidecar,
    };

    use super::super::{Keeper, KeeperArgs};

    fn keeper(dir: &Path, url_timeout: Duration) -> Keeper {
        Keeper::new(KeeperArgs {
            sidecar: dir.join("k.keeper.json"),
            cwd: dir.to_path_buf(),
            screen_sidecar: Some(dir.join("k.screen.json")),
            url_timeout,
            argv: vec!["/bin/claude".into(), "--remote-control".into()],
        })
    }

    /// One tick of `k` now, then the sidecar it wrote under `dir`.
    fn tick_and_read_sidecar(k: &mut Keeper, dir: &Path) -> Sidecar {
        k.tick(1, Instant::now());
        parse_sidecar(&std::fs::read(dir.join("k.keeper.json")).unwrap()).unwrap()
    }

    fn frame_seq(dir: &Path) -> Option<u64> {
        parse_frame(&std::fs::read(dir.join("k.screen.json")).ok()?).map(|f| f.seq)
    }

    /// Frames only on change, at most one per 250 ms, seq +1 each; the error frame once the
    /// emulator is gone, and nothing after it.
    #[test]
    fn frames_are_throttled_and_only_on_change() {
        let dir = tempfile::tempdir().unwrap();
        let mut k = keeper(dir.path(), Duration::from_secs(30));
        let mut answers = Vec::new();
        let t0 = Instant::now();
        k.consume(b"hello", &mut answers);
        k.tick(1, t0);
        assert_eq!(frame_seq(dir.path()), Some(1));
        // Changed 100 ms later: held back until 250 ms have passed.
        k.consume(b" world", &mut answers);
        k.tick(1, t0 + Duration::from_millis(100));
        assert_eq!(frame_seq(dir.path()), Some(1));
        k.tick(1, t0 + Duration::from_millis(260));
        assert_eq!(frame_seq(dir.path()), Some(2));
        // Output that changes nothing on screen (a cursor hide) writes no frame.
        k.consume(b"\x1b[?25l", &mut answers);
        k.tick(1, t0 + Duration::from_millis(600));
        assert_eq!(frame_seq(dir.path()), Some(2));
        let frame = parse_frame(&std::fs::read(dir.path().join("k.screen.json")).unwrap()).unwrap();
        let grid = frame.screen.unwrap();
        assert_eq!(grid.rows[0].trim_end(), "hello world");
        assert_eq!((grid.cursor.x, grid.cursor.y), (11, 0));

        k.screen
            .drop_emulator("the terminal emulator failed repeatedly on the output");
        k.consume(b"more", &mut answers);
        k.tick(1, t0 + Duration::from_millis(900));
        let error = parse_frame(&std::fs::read(dir.path().join("k.screen.json")).unwrap()).unwrap();
        assert_eq!((error.seq, error.state), (3, FrameState::Error));
        assert_eq!(error.screen, None);
        assert!(error.error.unwrap().contains("emulator"));
        k.consume(b"again", &mut answers);
        k.tick(1, t0 + Duration::from_millis(1500));
        assert_eq!(
            frame_seq(dir.path()),
            Some(3),
            "nothing after the error frame"
        );
        assert!(answers.is_empty());
        // No temporary files left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert_eq!(names.len(), 1);
    }

    /// At the URL timeout a fault in force becomes the note (pty.md §5.4).
    #[test]
    fn url_timeout_with_a_rejected_sequence_sets_the_note() {
        let dir = tempfile::tempdir().unwrap();
        let mut k = keeper(dir.path(), Duration::ZERO);
        let mut answers = Vec::new();
        k.consume(b"\x1b#8x", &mut answers);
        let s = tick_and_read_sidecar(&mut k, dir.path());
        assert_eq!(s.state, KeeperState::Ready);
        assert_eq!(s.ready_reason, Some(ReadyReason::Timeout));
        assert_eq!(
            s.note.as_deref(),
            Some("The connect link may be missing: some terminal output could not be interpreted.")
        );
    }

    /// With the emulator dropped, the raw scan finds a contiguous URL, and the note at the
    /// timeout says the output could not be read.
    #[test]
    fn dropped_emulator_uses_the_raw_scan() {
        let dir = tempfile::tempdir().unwrap();
        let mut k = keeper(dir.path(), Duration::from_secs(30));
        k.screen.drop_emulator("test");
        let mut answers = Vec::new();
        k.consume(
            format!(
                "\x1b[5;3HContinue at https://claude.ai/code/{} on",
                super::ID
            )
            .as_bytes(),
            &mut answers,
        );
        let s = tick_and_read_sidecar(&mut k, dir.path());
        assert_eq!(s.session_id.as_deref(), Some(super::ID));
        assert_eq!(s.ready_reason, Some(ReadyReason::Url));

        let dir = tempfile::tempdir().unwrap();
        let mut k = keeper(dir.path(), Duration::ZERO);
        k.screen.drop_emulator("test");
        k.consume(b"\x1b[3Gnothing", &mut answers);
        let s = tick_and_read_sidecar(&mut k, dir.path());
        assert_eq!(s.ready_reason, Some(ReadyReason::Timeout));
        assert_eq!(
            s.note.as_deref(),
            Some("No connect link: this session's terminal output could not be read.")
        );
    }
}

/// ECHILD (the bridge was reaped by someone else) is an unknown end, never a signal death
/// that would show the bridge as crashed (issue 14).
#[test]
fn a_bridge_reaped_by_someone_else_ends_unknown() {
    // pid 1 is never our child: waitpid answers ECHILD.
    assert_eq!(super::reap(1), Some(super::Ended::Unknown));
}

#[test]
fn a_sidecar_path_that_exists_is_refused_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let taken = dir.path().join("old.log");
    std::fs::write(&taken, b"a stopped bridge's log").unwrap();
    let link = dir.path().join("link.json");
    std::os::unix::fs::symlink(&taken, &link).unwrap();
    let fresh = dir.path().join("k.keeper.json");
    let args = |sidecar: &std::path::Path, screen: Option<&std::path::Path>| super::KeeperArgs {
        sidecar: sidecar.to_path_buf(),
        cwd: dir.path().to_path_buf(),
        screen_sidecar: screen.map(std::path::Path::to_path_buf),
        url_timeout: Duration::from_secs(1),
        argv: vec!["/bin/true".into()],
    };
    assert_eq!(super::run(args(&taken, None)), super::EXIT_USAGE);
    assert_eq!(super::run(args(&link, None)), super::EXIT_USAGE);
    assert_eq!(super::run(args(&fresh, Some(&taken))), super::EXIT_USAGE);
    assert_eq!(std::fs::read(&taken).unwrap(), b"a stopped bridge's log");
    assert!(link.symlink_metadata().unwrap().file_type().is_symlink());
    assert!(!fresh.exists(), "nothing was written");
}
