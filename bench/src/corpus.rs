//! A realistic Claude Code transcript corpus, and the totals it must roll up to.
//!
//! The generator writes what Claude Code writes (data.md §1): a reply streamed as one line per
//! content block, each line repeating the same `message.id`, `requestId` and usage; resumed
//! sessions whose files start with a copy of an earlier session's lines; subagent transcripts
//! (`isSidechain: true`) nested under `<session>/subagents/`; `<synthetic>` replies; user
//! lines with large tool results. While writing, it keeps its own ledger of every reply — the
//! expected totals are computed here, from the generator's own price list, and never by the
//! parser under test.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Models the corpus uses, with their rates in nano-dollars per token (USD per million ×
/// 1 000): input, 5-minute cache write, 1-hour cache write, cache read, output. Copied by hand
/// from the price table of data.md §1.5 (all prompts stay under the 200 000-token tier).
const MODELS: [(&str, [u64; 5]); 3] = [
    (
        "claude-opus-4-5-20251101",
        [5_000, 6_250, 10_000, 500, 25_000],
    ),
    (
        "claude-sonnet-4-5-20250929",
        [3_000, 3_750, 6_000, 300, 15_000],
    ),
    (
        "claude-haiku-4-5-20251001",
        [1_000, 1_250, 2_000, 100, 5_000],
    ),
];

/// Totals by the rules of data.md §1.2–§1.4, as the generator counted them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Expected {
    pub files: u64,
    /// Distinct replies (synthetic ones excluded).
    pub messages: u64,
    /// Lines repeating an already counted reply.
    pub duplicates: u64,
    pub input: u64,
    pub output: u64,
    pub cache_5m: u64,
    pub cache_1h: u64,
    pub cache_read: u64,
    pub cost_nanos: u128,
}

impl Expected {
    pub fn total_tokens(&self) -> u64 {
        self.input + self.output + self.cache_5m + self.cache_1h + self.cache_read
    }

    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: &Expected) {
        self.files += other.files;
        self.messages += other.messages;
        self.duplicates += other.duplicates;
        self.input += other.input;
        self.output += other.output;
        self.cache_5m += other.cache_5m;
        self.cache_1h += other.cache_1h;
        self.cache_read += other.cache_read;
        self.cost_nanos += other.cost_nanos;
    }
}

/// A written corpus: `<root>/projects/<slug>/…`, usable as `CLAUDE_CONFIG_DIR=<root>`.
#[derive(Debug, Clone)]
pub struct Corpus {
    pub root: PathBuf,
    pub bytes: u64,
    pub by_project: BTreeMap<String, Expected>,
    /// A session file of the first project, for the append (incremental) measurement.
    pub append_target: PathBuf,
}

impl Corpus {
    pub fn projects_dir(&self) -> PathBuf {
        self.root.join("projects")
    }

    pub fn total(&self) -> Expected {
        let mut total = Expected::default();
        for project in self.by_project.values() {
            total.add(project);
        }
        total
    }
}

/// One reply as written: enough to write it again (a resumed copy) and to count it.
#[derive(Debug, Clone)]
struct Reply {
    message_id: String,
    request_id: String,
    model: usize,
    /// input, output, cache write 5m, cache write 1h, cache read.
    usage: [u64; 5],
    /// Whether the transcript carries the `cache_creation` split (older ones do not).
    split: bool,
    timestamp: String,
}

impl Reply {
    fn cost_nanos(&self) -> u128 {
        let rates = MODELS[self.model].1;
        let [input, output, w5, w1, read] = self.usage;
        u128::from(input) * u128::from(rates[0])
            + u128::from(w5) * u128::from(rates[1])
            + u128::from(w1) * u128::from(rates[2])
            + u128::from(read) * u128::from(rates[3])
            + u128::from(output) * u128::from(rates[4])
    }
}

/// The per-project ledger: which replies were counted, and the sums.
#[derive(Debug, Default)]
struct Ledger {
    seen: HashSet<String>,
    expected: Expected,
}

impl Ledger {
    /// Records one written line of `reply`; only its first line counts.
    fn line(&mut self, reply: &Reply) {
        let key = format!("{}:{}", reply.message_id, reply.request_id);
        if !self.seen.insert(key) {
            self.expected.duplicates += 1;
            return;
        }
        let [input, output, w5, w1, read] = reply.usage;
        let e = &mut self.expected;
        e.messages += 1;
        e.input += input;
        e.output += output;
        e.cache_5m += w5;
        e.cache_1h += w1;
        e.cache_read += read;
        e.cost_nanos += reply.cost_nanos();
    }
}

struct Writer {
    rng: fastrand::Rng,
    ids: u64,
    /// Milliseconds since the epoch of the next record.
    clock_ms: i64,
    filler: String,
}

impl Writer {
    fn id(&mut self, prefix: &str) -> String {
        self.ids += 1;
        format!("{prefix}{:012x}{:08x}", self.ids, self.rng.u32(..))
    }

    fn uuid(&mut self) -> String {
        let a = self.rng.u64(..);
        let b = self.rng.u64(..);
        format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            b >> 52,
            b & 0xffff_ffff_ffff
        )
    }

    fn timestamp(&mut self) -> String {
        self.clock_ms += i64::from(self.rng.u32(800..20_000));
        let nanos = i128::from(self.clock_ms) * 1_000_000;
        let at = time::OffsetDateTime::from_unix_timestamp_nanos(nanos).expect("a 2026 date");
        // Claude Code's `2026-11-20T10:00:00.000Z`.
        let shape = time::format_description::parse_borrowed::<1>(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z",
        )
        .expect("a valid format description");
        at.format(&shape).expect("a 2026 date formats")
    }

    /// `len` bytes of JSON-safe prose.
    fn text(&mut self, len: usize) -> &str {
        let start = self.rng.usize(..self.filler.len() - len);
        &self.filler[start..start + len]
    }

    fn reply(&mut self) -> Reply {
        let model = match self.rng.u8(..10) {
            0..=4 => 1,
            5..=7 => 0,
            _ => 2,
        };
        let split = self.rng.u8(..10) != 0;
        let write = u64::from(self.rng.u32(0..20_000));
        let one_hour = if split && self.rng.bool() { write } else { 0 };
        Reply {
            message_id: self.id("msg_01"),
            request_id: self.id("req_011"),
            model,
            usage: [
                u64::from(self.rng.u32(1..4_000)),
                u64::from(self.rng.u32(1..3_000)),
                write - one_hour,
                one_hour,
                u64::from(self.rng.u32(0..150_000)),
            ],
            split,
            timestamp: self.timestamp(),
        }
    }
}

/// Writes one assistant line of `reply` carrying `block` (text of `len` bytes).
fn assistant_line(
    out: &mut impl Write,
    w: &mut Writer,
    reply: &Reply,
    cwd: &str,
    session: &str,
    sidechain: bool,
    len: usize,
) -> std::io::Result<()> {
    let [input, output, w5, w1, read] = reply.usage;
    let split = if reply.split {
        format!(
            r#","cache_creation":{{"ephemeral_5m_input_tokens":{w5},"ephemeral_1h_input_tokens":{w1}}}"#
        )
    } else {
        String::new()
    };
    let uuid = w.uuid();
    let text = w.text(len).to_owned();
    writeln!(
        out,
        r#"{{"parentUuid":"{uuid}","isSidechain":{sidechain},"userType":"external","cwd":"{cwd}","sessionId":"{session}","version":"2.1.328","gitBranch":"main","message":{{"id":"{mid}","type":"message","role":"assistant","model":"{model}","content":[{{"type":"text","text":"{text}"}}],"stop_reason":null,"stop_sequence":null,"usage":{{"input_tokens":{input},"cache_creation_input_tokens":{cw},"cache_read_input_tokens":{read}{split},"output_tokens":{output},"service_tier":"standard"}}}},"requestId":"{rid}","type":"assistant","uuid":"{uuid}","timestamp":"{ts}"}}"#,
        mid = reply.message_id,
        model = MODELS[reply.model].0,
        cw = w5 + w1,
        rid = reply.request_id,
        ts = reply.timestamp,
    )
}

fn user_line(
    out: &mut impl Write,
    w: &mut Writer,
    cwd: &str,
    session: &str,
    sidechain: bool,
) -> std::io::Result<usize> {
    // Mostly short prompts; now and then a large tool result (a file read, a test log).
    let len = if w.rng.u8(..4) == 0 {
        w.rng.usize(4_000..40_000)
    } else {
        w.rng.usize(40..600)
    };
    let uuid = w.uuid();
    let ts = w.timestamp();
    let text = w.text(len).to_owned();
    let line = format!(
        r#"{{"parentUuid":null,"isSidechain":{sidechain},"userType":"external","cwd":"{cwd}","sessionId":"{session}","version":"2.1.328","gitBranch":"main","type":"user","message":{{"role":"user","content":[{{"tool_use_id":"toolu_01","type":"tool_result","content":"{text}"}}]}},"uuid":"{uuid}","timestamp":"{ts}"}}"#
    );
    writeln!(out, "{line}")?;
    Ok(line.len() + 1)
}

fn synthetic_line(
    out: &mut impl Write,
    w: &mut Writer,
    cwd: &str,
    session: &str,
) -> std::io::Result<usize> {
    let uuid = w.uuid();
    let ts = w.timestamp();
    let mid = w.uuid();
    let line = format!(
        r#"{{"parentUuid":"{uuid}","isSidechain":false,"userType":"external","cwd":"{cwd}","sessionId":"{session}","version":"2.1.328","type":"assistant","uuid":"{uuid}","timestamp":"{ts}","message":{{"id":"{mid}","model":"<synthetic>","role":"assistant","type":"message","stop_reason":"stop_sequence","usage":{{"input_tokens":0,"output_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":0}},"content":[{{"type":"text","text":"No response requested."}}]}},"isApiErrorMessage":false}}"#
    );
    writeln!(out, "{line}")?;
    Ok(line.len() + 1)
}

#[allow(
    clippy::too_many_arguments,
    reason = "one private helper; the arguments are the line's context"
)]
/// A session's turns: user line, then a reply streamed as 1–4 lines. Returns the replies in
/// order (each with its line lengths) so that a resumed session can copy them.
fn write_turns(
    out: &mut impl Write,
    w: &mut Writer,
    ledger: &mut Ledger,
    cwd: &str,
    session: &str,
    sidechain: bool,
    budget: usize,
    log: &mut Vec<(Reply, usize)>,
) -> std::io::Result<usize> {
    let mut written = 0;
    while written < budget {
        written += user_line(out, w, cwd, session, sidechain)?;
        if !sidechain && w.rng.u8(..40) == 0 {
            written += synthetic_line(out, w, cwd, session)?;
            continue;
        }
        let reply = w.reply();
        let blocks = w.rng.usize(1..=4);
        for _ in 0..blocks {
            let len = w.rng.usize(80..2_500);
            assistant_line(out, w, &reply, cwd, session, sidechain, len)?;
            ledger.line(&reply);
            written += len + 1_000;
        }
        log.push((reply, blocks));
    }
    Ok(written)
}

fn file_len(path: &Path) -> std::io::Result<usize> {
    Ok(usize::try_from(std::fs::metadata(path)?.len()).unwrap_or(usize::MAX))
}

/// The slug Claude Code gives a directory (data.md §1.1).
pub fn slug(path: &str) -> String {
    path.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

/// Writes about `target_bytes` of transcripts over `projects` projects under `root`, from
/// `seed`. The project paths are `/srv/bench/p<i>` (they need not exist: the rollup is
/// measured per slug directory).
#[allow(
    clippy::too_many_lines,
    reason = "one pass that writes and counts together reads best whole"
)]
pub fn generate(
    root: &Path,
    target_bytes: u64,
    projects: usize,
    seed: u64,
) -> std::io::Result<Corpus> {
    let dir = root.join("projects");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    let filler: String = {
        let mut rng = fastrand::Rng::with_seed(seed ^ 0x5eed);
        let words = [
            "the", "build", "passes", "now", "fn", "parse", "error", "test", "file", "line",
            "cargo", "check", "value", "returns", "config", "server", "path", "offset", "usage",
            "read", "write", "tokio", "struct", "impl", "match", "result", "ok", "let", "mut",
        ];
        let mut s = String::with_capacity(1 << 20);
        while s.len() < (1 << 20) {
            s.push_str(words[rng.usize(..words.len())]);
            s.push(if rng.u8(..12) == 0 { '.' } else { ' ' });
        }
        s
    };
    let mut w = Writer {
        rng: fastrand::Rng::with_seed(seed),
        ids: 0,
        // 2026-11-01T00:00:00Z
        clock_ms: 1_793_491_200_000,
        filler,
    };
    let per_project = usize::try_from(target_bytes).unwrap_or(usize::MAX) / projects.max(1);
    let mut by_project = BTreeMap::new();
    let mut bytes = 0_u64;
    let mut append_target = None;
    for p in 0..projects {
        let cwd = format!("/srv/bench/p{p:04}");
        let name = slug(&cwd);
        let project_dir = dir.join(&name);
        std::fs::create_dir_all(&project_dir)?;
        let mut ledger = Ledger::default();
        let mut written = 0;
        let mut previous: Option<Vec<(Reply, usize)>> = None;
        while written < per_project {
            let session = w.uuid();
            let path = project_dir.join(format!("{session}.jsonl"));
            let mut out = BufWriter::with_capacity(1 << 16, File::create(&path)?);
            ledger.expected.files += 1;
            append_target.get_or_insert_with(|| path.clone());
            // One session in three is a resume: it starts with a copy of the previous one.
            if let Some(copied) = previous.take().filter(|_| w.rng.u8(..3) == 0) {
                for (reply, blocks) in copied.iter().take(40) {
                    for _ in 0..*blocks {
                        let len = w.rng.usize(80..600);
                        assistant_line(&mut out, &mut w, reply, &cwd, &session, false, len)?;
                        ledger.line(reply);
                    }
                }
            }
            let mut log = Vec::new();
            let remaining = per_project.saturating_sub(written);
            // Four fifths for the session, the rest for its subagent (a quarter of that).
            let budget = w
                .rng
                .usize(200_000..3_000_000)
                .min((remaining * 4 / 5).max(40_000));
            write_turns(
                &mut out,
                &mut w,
                &mut ledger,
                &cwd,
                &session,
                false,
                budget,
                &mut log,
            )?;
            out.flush()?;
            written += file_len(&path)?;
            // A subagent for about every other session.
            if w.rng.bool() {
                let sub_dir = project_dir.join(&session).join("subagents");
                std::fs::create_dir_all(&sub_dir)?;
                let agent = w.id("agent-");
                let sub_path = sub_dir.join(format!("{agent}.jsonl"));
                let mut sub = BufWriter::with_capacity(1 << 16, File::create(&sub_path)?);
                ledger.expected.files += 1;
                let mut ignored = Vec::new();
                let budget = budget / 4;
                write_turns(
                    &mut sub,
                    &mut w,
                    &mut ledger,
                    &cwd,
                    &session,
                    true,
                    budget,
                    &mut ignored,
                )?;
                sub.flush()?;
                written += file_len(&sub_path)?;
            }
            previous = Some(log);
        }
        by_project.insert(name, ledger.expected);
    }
    for entry in walk(&dir)? {
        bytes += std::fs::metadata(&entry)?.len();
    }
    Ok(Corpus {
        root: root.to_path_buf(),
        bytes,
        by_project,
        append_target: append_target.expect("at least one session"),
    })
}

/// The line appended for the incremental measurement, and what it adds to the totals.
pub fn append_line(seed: u64, cwd: &str) -> (String, Expected) {
    let mut w = Writer {
        rng: fastrand::Rng::with_seed(seed),
        ids: 1 << 40,
        clock_ms: 1_795_000_000_000,
        filler: "an appended reply after the corpus was read ".repeat(64),
    };
    let reply = w.reply();
    let mut out = Vec::new();
    assistant_line(&mut out, &mut w, &reply, cwd, "appended", false, 400)
        .expect("writing to a Vec");
    let mut ledger = Ledger::default();
    ledger.line(&reply);
    (
        String::from_utf8(out).expect("the generator writes UTF-8"),
        ledger.expected,
    )
}

/// Every `.jsonl` file below `dir`, sorted.
pub fn walk(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let entry = entry?;
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "jsonl") {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_corpus_has_every_shape_and_consistent_ledgers() {
        let tmp = tempfile::tempdir().expect("temp dir");
        let corpus = generate(tmp.path(), 3 << 20, 2, 7).expect("generate");
        let files = walk(&corpus.projects_dir()).expect("walk");
        assert_eq!(corpus.total().files, files.len() as u64);
        assert!(
            files
                .iter()
                .any(|f| f.to_string_lossy().contains("/subagents/agent-"))
        );
        let text: String = files
            .iter()
            .map(|f| std::fs::read_to_string(f).expect("read"))
            .collect();
        assert!(text.contains(r#""model":"<synthetic>""#));
        assert!(text.contains(r#""isSidechain":true"#));
        let total = corpus.total();
        assert!(total.duplicates > 0, "streamed replies repeat their usage");
        assert!(total.messages > 0 && total.cost_nanos > 0);
        assert!(
            corpus.bytes > 2 << 20,
            "about the size asked for: {}",
            corpus.bytes
        );
        // Same seed, same corpus.
        let again = tempfile::tempdir().expect("temp dir");
        let second = generate(again.path(), 3 << 20, 2, 7).expect("generate");
        assert_eq!(second.total(), total);
    }

    #[test]
    fn time_stamps_are_claude_codes_millisecond_utc() {
        let mut w = Writer {
            rng: fastrand::Rng::with_seed(1),
            ids: 0,
            clock_ms: 1_795_000_000_000,
            filler: String::new(),
        };
        let stamp = w.timestamp();
        assert_eq!(stamp.len(), "2026-11-20T10:00:00.000Z".len(), "{stamp}");
        assert_eq!(
            clauster_core::timestamp::normalize(&stamp).as_deref(),
            Some(stamp.as_str())
        );
    }

    #[test]
    fn the_ledger_counts_a_reply_once_and_prices_it_by_hand() {
        let reply = Reply {
            message_id: "msg_1".into(),
            request_id: "req_1".into(),
            model: 0,
            usage: [6, 13, 0, 11_715, 17_228],
            split: true,
            timestamp: "2026-11-20T10:00:00.000Z".into(),
        };
        let mut ledger = Ledger::default();
        for _ in 0..3 {
            ledger.line(&reply);
        }
        // data.md §1.7's worked example, on an Opus 4.5 row with the same rates.
        assert_eq!(ledger.expected.cost_nanos, 126_119_000);
        assert_eq!(ledger.expected.messages, 1);
        assert_eq!(ledger.expected.duplicates, 2);
        assert_eq!(ledger.expected.total_tokens(), 28_962);
    }
}
