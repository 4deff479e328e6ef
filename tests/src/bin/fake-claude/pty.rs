//! The pty bridge, `claude --remote-control [name] …` (fake-claude.md §5): argument checking,
//! the terminal queries, a TUI drawn the way 2.1.328 draws (every word placed with `ESC[<n>G`,
//! the connect URL fragmented by cursor moves), the modes, and "press Ctrl-C again to exit".

use std::fmt::Write as _;
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::Signal;
use nix::sys::termios::{self, InputFlags, LocalFlags, SetArg, SpecialCharacterIndices, Termios};

use crate::children;
use crate::hooks::{self, HookRun};
use crate::knobs::Knobs;
use crate::signals::{Signals, Wake};
use crate::standard::find_debug_file;
use crate::transcript;
use crate::util::{self, DebugLog, choice};

const NEW_CHOICES: [&str; 6] = [
    "acceptEdits",
    "auto",
    "bypassPermissions",
    "manual",
    "dontAsk",
    "plan",
];
const OLD_CHOICES: [&str; 6] = [
    "acceptEdits",
    "auto",
    "bypassPermissions",
    "default",
    "dontAsk",
    "plan",
];
const NO_TTY: &str =
    "Error: Input must be provided either through stdin or as a prompt argument when using --print";
const SPINNER: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const SPIN_EVERY: Duration = Duration::from_millis(500);
const ARM_FOR: Duration = Duration::from_secs(2);
const FAIL_AFTER: Duration = Duration::from_millis(300);
const QUERY_WAIT: Duration = Duration::from_secs(1);
const URL_PREFIX: &str = "https://claude.ai/code/";

#[derive(Default)]
struct Args {
    name: Option<String>,
    debug_file: Option<PathBuf>,
    worktree: bool,
    continue_: bool,
    resume: Option<String>,
    fork: bool,
    session_id: Option<String>,
}

fn parse(args: &[String], old: bool) -> Result<Args, String> {
    let mut out = Args::default();
    let listed: &[&str] = if old { &OLD_CHOICES } else { &NEW_CHOICES };
    let mut i = 0;
    // The next argument, when it is a value (does not start with `-`).
    let optional = |i: &mut usize| {
        let v = args.get(*i).filter(|v| !v.starts_with('-')).cloned();
        if v.is_some() {
            *i += 1;
        }
        v
    };
    while i < args.len() {
        let arg = args[i].clone();
        i += 1;
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut required = |ph: &str| -> Result<String, String> {
            if let Some(v) = inline.clone() {
                return Ok(v);
            }
            let v = args
                .get(i)
                .cloned()
                .ok_or(format!("option '{name} {ph}' argument missing"))?;
            i += 1;
            Ok(v)
        };
        match name.as_str() {
            "--remote-control" => out.name = inline.clone().or_else(|| optional(&mut i)),
            "--debug-file" => out.debug_file = Some(PathBuf::from(required("<path>")?)),
            "--permission-mode" => {
                let v = required("<mode>")?;
                if v != "default" {
                    choice("--permission-mode <mode>", v, listed)?;
                }
            }
            "--worktree" | "-w" => {
                out.worktree = true;
                if inline.is_none() {
                    optional(&mut i);
                }
            }
            "--continue" | "-c" => out.continue_ = true,
            "--resume" | "-r" => out.resume = Some(required("<id>")?),
            "--fork-session" => out.fork = true,
            "--session-id" => out.session_id = Some(required("<uuid>")?),
            n if n.starts_with('-') => return Err(format!("unknown option '{arg}'")),
            _ => {} // a prompt: the fake ignores it
        }
    }
    Ok(out)
}

/// The terminal: raw-ish mode like a TUI (no echo, no line discipline, output processing
/// kept), an unbuffered writer, and the original settings to restore on a clean exit.
struct Term {
    input: OwnedFd,
    out: File,
    saved: Option<Termios>,
}

impl Term {
    fn open() -> Option<Self> {
        let input = std::io::stdin().as_fd().try_clone_to_owned().ok()?;
        let out = File::from(std::io::stdout().as_fd().try_clone_to_owned().ok()?);
        let saved = termios::tcgetattr(&input).ok();
        if let Some(orig) = &saved {
            let mut raw = orig.clone();
            raw.local_flags &=
                !(LocalFlags::ECHO | LocalFlags::ICANON | LocalFlags::ISIG | LocalFlags::IEXTEN);
            raw.input_flags &=
                !(InputFlags::ICRNL | InputFlags::IXON | InputFlags::BRKINT | InputFlags::ISTRIP);
            raw.control_chars[SpecialCharacterIndices::VMIN as usize] = 1;
            raw.control_chars[SpecialCharacterIndices::VTIME as usize] = 0;
            let _ = termios::tcsetattr(&input, SetArg::TCSANOW, &raw);
        }
        Some(Term { input, out, saved })
    }

    fn write(&mut self, s: &str) {
        let _ = self.out.write_all(s.as_bytes());
    }

    fn exit(&mut self, code: i32, clear: bool) -> ! {
        if clear {
            self.write("\x1b[2J\x1b[H");
        }
        self.write("\x1b[?25h\r\n");
        if let Some(saved) = &self.saved {
            let _ = termios::tcsetattr(&self.input, SetArg::TCSANOW, saved);
        }
        std::process::exit(code);
    }
}

fn at(row: u16, col: u16) -> String {
    format!("\x1b[{row};{col}H")
}

/// Places every word with a cursor-column escape and no space character between words.
fn words_cha(col: u16, text: &str) -> String {
    let mut out = String::new();
    let mut c = col;
    for word in text.split(' ') {
        let _ = write!(out, "\x1b[{c}G{word}");
        c += u16::try_from(word.chars().count()).unwrap_or(0) + 1;
    }
    out
}

/// Moves to the row, clears it, then places the words from `col`.
fn words(row: u16, col: u16, text: &str) -> String {
    format!("{}\x1b[2K{}", at(row, 1), words_cha(col, text))
}

/// Counts DA1 replies (`ESC[?…c`) and whether a cursor report (`ESC[r;cR`) arrived.
fn scan_replies(buf: &[u8]) -> (usize, bool) {
    let mut da1 = 0;
    let mut dsr = false;
    let mut i = 0;
    while i + 1 < buf.len() {
        if buf[i] == 0x1b && buf[i + 1] == b'[' {
            let mut j = i + 2;
            let private = buf.get(j) == Some(&b'?');
            if private {
                j += 1;
            }
            let start = j;
            while j < buf.len() && (buf[j].is_ascii_digit() || buf[j] == b';') {
                j += 1;
            }
            match buf.get(j) {
                Some(b'c') if private => da1 += 1,
                Some(b'R') if !private && buf[start..j].contains(&b';') => dsr = true,
                _ => {}
            }
            i = j.max(i + 1);
        } else {
            i += 1;
        }
    }
    (da1, dsr)
}

struct Tui<'a> {
    knobs: &'a Knobs,
    term: Term,
    signals: Signals,
    ignore_signals: bool,
    label: String,
    version: String,
    spinner: usize,
    drawn: bool,
    next_spin: Option<Instant>,
    armed_until: Option<Instant>,
}

impl Tui<'_> {
    fn status_line(&self) -> String {
        let text = format!("Fake Claude Code v{} · {}", self.version, self.label);
        format!(
            "{}{}{}",
            words(1, 4, &text),
            at(1, 2),
            SPINNER[self.spinner]
        )
    }

    fn hint(&self) -> String {
        if self.armed_until.is_some() {
            words(10, 3, "Press Ctrl-C again to exit")
        } else {
            words(10, 3, "? for shortcuts")
        }
    }

    /// The frame around everything but the connect row: status line, input box, hint.
    fn frame(&mut self) -> String {
        self.drawn = true;
        self.next_spin = Some(Instant::now() + SPIN_EVERY);
        let inner = "─".repeat(116);
        format!(
            "\x1b[?25l\x1b[2J{}{}╭{inner}╮{}│\x1b[3G>\x1b[118G│{}╰{inner}╯{}",
            self.status_line(),
            at(7, 1),
            at(8, 1),
            at(9, 1),
            self.hint()
        )
    }

    fn on_signal(&mut self, sig: Signal) {
        if self.ignore_signals {
            return;
        }
        match sig {
            Signal::SIGINT => {
                if self.armed_until.is_some_and(|t| Instant::now() < t) {
                    self.term.exit(0, true);
                }
                self.armed_until = Some(Instant::now() + ARM_FOR);
                let hint = self.hint();
                self.term.write(&format!("\x1b7{hint}\x1b8"));
            }
            Signal::SIGHUP => self.term.exit(129, false),
            _ => self.term.exit(0, false),
        }
    }

    /// Runs the timers (spinner, disarm) and answers signals until `until` (`None`: forever).
    fn idle(&mut self, until: Option<Instant>) {
        loop {
            let now = Instant::now();
            if until.is_some_and(|u| now >= u) {
                return;
            }
            if self.armed_until.is_some_and(|t| now >= t) {
                self.armed_until = None;
                let hint = self.hint();
                self.term.write(&format!("\x1b7{hint}\x1b8"));
            }
            if self.next_spin.is_some_and(|t| now >= t) {
                self.spinner = (self.spinner + 1) % SPINNER.len();
                let spin = format!("\x1b7{}{}\x1b8", at(1, 2), SPINNER[self.spinner]);
                self.term.write(&spin);
                self.next_spin = Some(now + SPIN_EVERY);
            }
            let deadline = [until, self.armed_until, self.next_spin]
                .into_iter()
                .flatten()
                .min();
            if let Wake::Signal(sig) = self.signals.wait_until(deadline) {
                self.on_signal(sig);
            }
        }
    }

    fn sleep(&mut self, d: Duration) {
        self.idle(Some(Instant::now() + d));
    }

    /// Draws an error screen and exits 1 after 300 ms (the TUI lingers briefly).
    fn fail(&mut self, rows: &[&str]) -> ! {
        let mut s = self.frame();
        for (i, row) in rows.iter().enumerate() {
            let r = 4 + 2 * u16::try_from(i).unwrap_or(0);
            s.push_str(&words(r, 2, row));
        }
        self.term.write(&s);
        self.sleep(FAIL_AFTER);
        self.term.exit(1, false);
    }

    /// The terminal queries of 2.1.328 plus one DSR; waits up to 1 s for the second DA1
    /// reply and the cursor report. Returns (second DA1 reply seen, cursor report seen).
    fn query_terminal(&mut self) -> (bool, bool) {
        self.term
            .write("\x1b]11;?\x07\x1b[c\x1b[>0q\x1b[?u\x1b[c\x1b[6n");
        let deadline = Instant::now() + QUERY_WAIT;
        let mut buf = Vec::new();
        loop {
            let (da1, dsr) = scan_replies(&buf);
            let left = deadline.saturating_duration_since(Instant::now());
            if (da1 >= 2 && dsr) || left.is_zero() {
                return (da1 >= 2, dsr);
            }
            // Short slices, so a signal is answered within ~50 ms even while waiting.
            let slice = left.min(Duration::from_millis(50));
            let ms = u16::try_from(slice.as_millis()).unwrap_or(50).max(1);
            let readable = {
                let mut fds = [PollFd::new(self.term.input.as_fd(), PollFlags::POLLIN)];
                poll(&mut fds, PollTimeout::from(ms)).unwrap_or(0) > 0
            };
            if readable {
                let mut chunk = [0u8; 512];
                match nix::unistd::read(&self.term.input, &mut chunk) {
                    Ok(n) if n > 0 => buf.extend_from_slice(&chunk[..n]),
                    // EOF or error on the terminal: nobody will answer.
                    _ => return (scan_replies(&buf).0 >= 2, scan_replies(&buf).1),
                }
            }
            while let Some(sig) = self.signals.poll() {
                self.on_signal(sig);
            }
        }
    }
}

/// The conversation this launch talks in: (uuid, resumed, resume target missing).
fn conversation(args: &Args, cwd: &Path) -> (String, bool, bool) {
    let dir = util::project_dir(cwd);
    if let Some(id) = args.resume.as_ref().filter(|_| !args.fork) {
        let exists = dir.join(format!("{id}.jsonl")).is_file();
        return (id.clone(), exists, !exists);
    }
    if args.continue_ {
        let newest = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "jsonl"))
            .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
            .max();
        if let Some((_, path)) = newest {
            let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned());
            let uuid = if args.fork { None } else { stem };
            return (uuid.unwrap_or_else(util::random_uuid), true, false);
        }
    }
    if args.fork && args.resume.is_some() {
        return (util::random_uuid(), false, false);
    }
    (
        args.session_id.clone().unwrap_or_else(util::random_uuid),
        false,
        false,
    )
}

pub fn run(knobs: &Knobs, args: &[String]) -> i32 {
    if let Some(path) = find_debug_file(args) {
        util::record_invocation(&path, args);
    }
    let parsed = match parse(args, knobs.old_help()) {
        Ok(p) => p,
        Err(msg) => {
            eprintln!("error: {msg}");
            return 1;
        }
    };
    let cwd = util::canonical_cwd();
    if parsed.worktree && !util::in_git_repo(&cwd) {
        eprintln!("Can only use --worktree in a git repository");
        return 1;
    }
    let is_tty = |fd: std::os::fd::BorrowedFd<'_>| nix::unistd::isatty(fd).unwrap_or(false);
    if !is_tty(std::io::stdin().as_fd()) || !is_tty(std::io::stdout().as_fd()) {
        eprintln!("{NO_TTY}");
        return 1;
    }
    let mode = knobs.string("MODE", "ready");
    let mode = if mode.starts_with("pty_") {
        mode
    } else {
        knobs.string("PTY_MODE", "pty_ready")
    };
    let mut log = DebugLog::open(parsed.debug_file.as_deref());
    log.debug(&format!(
        "[init] interactive session starting, cwd={}",
        cwd.display()
    ));
    if mode == "pty_crash" {
        return 1;
    }
    let Some(term) = Term::open() else {
        eprintln!("{NO_TTY}");
        return 1;
    };
    let mut tui = Tui {
        knobs,
        term,
        signals: Signals::install(knobs.max_lifetime()),
        ignore_signals: knobs.flag("IGNORE_SIGINT", false),
        label: parsed
            .name
            .clone()
            .unwrap_or_else(|| "remote-control".to_string()),
        version: knobs.version(),
        spinner: 0,
        drawn: false,
        next_spin: None,
        armed_until: None,
    };
    children::spawn_children(knobs);

    let (da1, cursor) = tui.query_terminal();
    if let Some(debug_file) = &parsed.debug_file {
        let report = serde_json::json!({"da1_reply": da1, "cursor_report": cursor});
        let _ = util::write_atomic(
            &util::sibling(debug_file, ".tty.json"),
            report.to_string().as_bytes(),
        );
    }

    let (uuid, resumed, missing) = conversation(&parsed, &cwd);
    let delay = knobs.millis("DELAY_MS", 0);
    if !delay.is_zero() {
        tui.sleep(delay);
    }
    if !knobs.logged_in() {
        tui.fail(&[
            "Error: You must be logged in to use Remote Control.",
            "Run `claude auth login` to sign in with your claude.ai account.",
        ]);
    }
    if missing {
        tui.fail(&[&format!("No conversation found with session ID: {uuid}")]);
    }
    let transcript_on = knobs.flag("TRANSCRIPT", false);
    let transcript_path = if transcript_on {
        transcript::write_user_record(&uuid, &cwd)
    } else {
        transcript::path_for(&cwd, &uuid)
    };
    if knobs.flag("RUN_HOOKS", false) {
        hooks::spawn(HookRun {
            session_uuid: uuid.clone(),
            transcript_path: transcript_path.clone(),
            cwd: cwd.clone(),
            source: if resumed { "resume" } else { "startup" },
            debug_file: parsed.debug_file.clone(),
        });
    }
    let mode = if mode == "pty_slow" {
        tui.sleep(knobs.seconds_f64("SLOW", 0.8));
        "pty_ready".to_string()
    } else {
        mode
    };
    draw_mode(&mut tui, &mode, resumed, &cwd);
    ready_loop(&mut tui, &transcript_path, &uuid, &cwd)
}

fn draw_mode(tui: &mut Tui<'_>, mode: &str, resumed: bool, cwd: &Path) {
    let id = format!(
        "session_01FAKEPTY{}",
        util::hashed_id(&format!("pty:{}", std::process::id()), 17)
    );
    let (head, tail) = id.split_at(id.len() - 9);
    let mut s = tui.frame();
    if resumed {
        s.push_str(&words(2, 2, "Resumed conversation"));
    }
    let before_url = "/remote-control is active · Continue at";
    match mode {
        "pty_offline" => {
            tui.fail(&[
                "Unable to connect to Anthropic services",
                "Failed to connect to api.anthropic.com: ENOTFOUND",
                "Check your internet connection and network settings.",
            ]);
        }
        "pty_trust_prompt" => {
            s.push_str(&words(3, 2, "Do you trust the files in this folder?"));
            let _ = write!(s, "{}{}", at(4, 2), cwd.display());
            s.push_str(&words(5, 2, "❯ 1. Yes, proceed"));
            s.push_str(&words(6, 4, "2. No, exit"));
            tui.term.write(&s);
            tui.idle(None);
        }
        "pty_no_url" => {
            s.push_str(&words(4, 3, "/remote-control is active"));
            tui.term.write(&s);
        }
        "pty_contiguous" => {
            let _ = write!(s, "{}{before_url} {URL_PREFIX}{id} on any device", at(5, 3));
            tui.term.write(&s);
        }
        "pty_wrapped" => {
            // 57 characters from column 100: 21 on row 5, the rest wraps onto row 6.
            s.push_str(&words(5, 60, before_url));
            let _ = write!(s, "{}{URL_PREFIX}{id}", at(5, 100));
            s.push_str(&words_cha(38, "on any device"));
            tui.term.write(&s);
        }
        "pty_late_url" => {
            s.push_str(&words(4, 3, before_url));
            let _ = write!(s, "{}{URL_PREFIX}{head}", at(5, 3));
            tui.term.write(&s);
            tui.sleep(Duration::from_millis(150));
            tui.term
                .write(&format!("{tail}{}", words_cha(61, "on any device")));
        }
        _ => {
            // pty_ready: one burst, the URL cut by a colour change, a cursor move to the status
            // line and back, and `on` placed with ESC[<n>G right after the id.
            s.push_str(&words(4, 3, before_url));
            let _ = write!(s, "{}https://cla\x1b[94mude.ai/co", at(5, 3));
            let _ = write!(s, "{}de/{head}", at(5, 23));
            s.push_str(&tui.status_line());
            let _ = write!(
                s,
                "{}\x1b[96m{}\x1b[94m{}\x1b[39m",
                at(5, 51),
                &tail[..4],
                &tail[4..]
            );
            s.push_str(&words_cha(61, "on any device"));
            tui.term.write(&s);
        }
    }
}

/// Ready: idle with the spinner, until signalled, `FAKE_CLAUDE_EXIT_AFTER_MS`, or the safety
/// deadline; appends transcript replies when asked.
fn ready_loop(tui: &mut Tui<'_>, transcript_path: &Path, uuid: &str, cwd: &Path) -> i32 {
    let knobs = tui.knobs;
    let ready_at = Instant::now();
    let exit_at = knobs
        .u64("EXIT_AFTER_MS")
        .filter(|ms| *ms > 0)
        .map(|ms| ready_at + Duration::from_millis(ms));
    let every = knobs.millis("TRANSCRIPT_APPEND_MS", 0);
    let every = (knobs.flag("TRANSCRIPT", false) && !every.is_zero()).then_some(every);
    let mut next_append = every.map(|d| ready_at + d);
    let mut reply = 2;
    loop {
        let until = [exit_at, next_append].into_iter().flatten().min();
        tui.idle(until);
        let now = Instant::now();
        if exit_at.is_some_and(|t| now >= t) {
            tui.term.exit(0, false);
        }
        if let (Some(t), Some(d)) = (next_append, every)
            && now >= t
        {
            transcript::append_reply(transcript_path, uuid, cwd, reply);
            reply += 1;
            next_append = Some(t + d);
        }
        if until.is_none() {
            return 0;
        }
    }
}

/// Exposed for `main`'s dispatch: the flag form is recognised by this element.
pub fn is_flag_form(args: &[String]) -> bool {
    args.iter()
        .any(|a| a == "--remote-control" || a.starts_with("--remote-control="))
}
