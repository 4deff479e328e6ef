//! The transcript viewer's figures (issue 21): the first page of a 50 MB session from a fresh
//! server (no index yet; the file in the page cache) and again once indexed, a new turn's
//! arrival on the live socket after it is written, and the server memory each open viewer
//! costs.

use std::io::Write as _;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::http::Client;
use crate::server::{self, Flavor, Sandbox};
use crate::stats::Runs;

/// The session's file stem.
pub const SESSION: &str = "5b2f0a4e-1c1d-4f7e-9a55-3d0f5e6a7b10";
/// Viewers opened for the memory figure.
const VIEWERS: usize = 100;

#[derive(Debug, Default)]
pub struct Figures {
    pub file_bytes: u64,
    pub cold: Runs,
    pub warm: Runs,
    pub live: Runs,
    pub per_viewer: Runs,
}

/// Writes a session of about `target` bytes as Claude Code writes one: prompts, replies
/// streamed as several lines (thinking, text, a tool call), tool results from a few hundred
/// bytes to now and then 200 KB.
pub fn write_session(path: &Path, target: u64, seed: u64) -> std::io::Result<u64> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let words = [
        "the", "parser", "returns", "an", "error", "when", "line", "offset", "cargo", "test",
        "fails", "on", "config", "path", "let", "fn", "match", "value", "ok", "build",
    ];
    let text = |rng: &mut fastrand::Rng, range: std::ops::Range<usize>| {
        let len = rng.usize(range);
        let mut s = String::with_capacity(len + 8);
        while s.len() < len {
            s.push_str(words[rng.usize(..words.len())]);
            s.push(if rng.u8(..10) == 0 { '\n' } else { ' ' });
        }
        s
    };
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let mut written = 0_u64;
    let mut n = 0_u64;
    let cwd = "/srv/projects/p0000";
    let line = |out: &mut std::io::BufWriter<std::fs::File>, record: Value| {
        let s = record.to_string();
        writeln!(out, "{s}").map(|()| s.len() as u64 + 1)
    };
    while written < target {
        n += 1;
        let ts = format!(
            "2026-11-20T{:02}:{:02}:{:02}.000Z",
            (n / 3600) % 24,
            (n / 60) % 60,
            n % 60
        );
        written += line(
            &mut out,
            json!({"parentUuid": null, "isSidechain": false, "cwd": cwd, "sessionId": SESSION,
            "type": "user", "timestamp": ts, "uuid": format!("u{n}"),
            "message": {"role": "user", "content": text(&mut rng, 40..600)}}),
        )?;
        let id = format!("msg_{n:012}");
        let usage = json!({"input_tokens": rng.u32(1..4000), "output_tokens": rng.u32(1..3000),
            "cache_creation_input_tokens": rng.u32(0..20000), "cache_read_input_tokens": rng.u32(0..150_000)});
        let base = |content: Value| {
            json!({"parentUuid": format!("u{n}"), "isSidechain": false, "cwd": cwd,
            "sessionId": SESSION, "type": "assistant", "timestamp": ts, "requestId": format!("req_{n}"),
            "message": {"id": id, "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
                        "content": [content], "usage": usage}})
        };
        written += line(
            &mut out,
            base(
                json!({"type": "thinking", "thinking": text(&mut rng, 100..800), "signature": "x"}),
            ),
        )?;
        written += line(
            &mut out,
            base(json!({"type": "text", "text": text(&mut rng, 200..2500)})),
        )?;
        let tool = format!("toolu_{n}");
        written += line(
            &mut out,
            base(json!({"type": "tool_use", "id": tool, "name": "Bash",
            "input": {"command": "cargo test --workspace", "description": "Run the tests"}})),
        )?;
        let size = if rng.u8(..50) == 0 {
            200_000..200_001
        } else {
            300..12_000
        };
        written += line(
            &mut out,
            json!({"parentUuid": format!("a{n}"), "isSidechain": false, "cwd": cwd,
            "sessionId": SESSION, "type": "user", "timestamp": ts,
            "message": {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool,
                "content": text(&mut rng, size), "is_error": false}]},
            "toolUseResult": {"stdout": "", "stderr": "", "interrupted": false}}),
        )?;
    }
    out.flush()?;
    Ok(written)
}

fn page_path(offset: Option<u64>) -> String {
    let mut path = format!("/api/projects/p0000/transcripts/{SESSION}");
    if let Some(offset) = offset {
        path = format!("/ws/transcript/p0000/{SESSION}?offset={offset}");
    }
    path
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A WebSocket viewer of the session.
fn viewer(port: u16, offset: u64) -> Result<tungstenite::WebSocket<TcpStream>, String> {
    let stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let (socket, _) = tungstenite::client(
        format!("ws://127.0.0.1:{port}{}", page_path(Some(offset))),
        stream,
    )
    .map_err(|e| format!("/ws/transcript handshake failed: {e}"))?;
    Ok(socket)
}

/// Runs the figures against our binary; `runs` fresh servers for the cold page.
pub fn measure(bin: &Path, fake: &Path, out: &Path, runs: usize) -> Result<Figures, String> {
    let dir = out.join("transcript");
    let sandbox = Sandbox::create(&dir, 1).map_err(|e| format!("projects root: {e}"))?;
    let project =
        std::fs::canonicalize(sandbox.projects_root().join("p0000")).map_err(|e| e.to_string())?;
    let slug: String = project
        .to_string_lossy()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let slug_dir: PathBuf = sandbox.home().join(".claude/projects").join(slug);
    std::fs::create_dir_all(&slug_dir).map_err(|e| e.to_string())?;
    let file = slug_dir.join(format!("{SESSION}.jsonl"));
    let mut figures = Figures {
        file_bytes: write_session(&file, 50_000_000, 21).map_err(|e| format!("session: {e}"))?,
        ..Figures::default()
    };
    let flavor = Flavor::Ours(bin.to_path_buf());
    for run in 0..runs {
        let running = server::start(&flavor, &sandbox, fake, &[])?;
        // Page cache warm, our caches empty: "cold" in the spec's sense.
        drop(std::fs::read(&file).map_err(|e| e.to_string())?);
        let mut client = Client::new(running.port);
        let started = Instant::now();
        let response = client.get(&page_path(None)).map_err(|e| e.to_string())?;
        let cold = started.elapsed();
        if response.status != 200 {
            return Err(format!("the first page answered {}", response.status));
        }
        figures.cold.push(ms(cold));
        let (warm, _) = server::timed_gets(
            running.port,
            &page_path(None),
            3,
            30,
            Duration::from_secs(5),
        )?;
        figures.warm.push(crate::stats::percentile_ms(&warm, 50.0));
        println!(
            "  transcript run {}: first page cold {:.1} ms, warm p50 {:.2} ms",
            run + 1,
            ms(cold),
            figures.warm.0.last().copied().unwrap_or(f64::NAN)
        );
        if run + 1 < runs {
            continue;
        }
        // The live socket: a new turn appended, timed until its frame arrives.
        let offset = response
            .json()
            .and_then(|page| page["offset"].as_u64())
            .ok_or("the page has no offset")?;
        let mut socket = viewer(running.port, offset)?;
        socket
            .get_mut()
            .set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        for k in 0..10 {
            let line =
                json!({"type": "user", "message": {"role": "user", "content": format!("live {k}")}})
                    .to_string() + "\n";
            let written = Instant::now();
            std::fs::OpenOptions::new()
                .append(true)
                .open(&file)
                .and_then(|mut f| f.write_all(line.as_bytes()))
                .map_err(|e| e.to_string())?;
            loop {
                let message = socket.read().map_err(|e| format!("no live frame: {e}"))?;
                if let tungstenite::Message::Text(text) = message
                    && text.as_str().contains(&format!("live {k}"))
                {
                    figures.live.push(ms(written.elapsed()));
                    break;
                }
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        // Memory: RSS with the page loaded and one viewer, then with `VIEWERS` more.
        let offset = client
            .get(&page_path(None))
            .ok()
            .and_then(|r| r.json())
            .and_then(|page| page["offset"].as_u64())
            .unwrap_or(offset);
        std::thread::sleep(Duration::from_secs(1));
        let before = server::tree_rss(running.pid());
        let mut viewers = Vec::with_capacity(VIEWERS);
        for _ in 0..VIEWERS {
            viewers.push(viewer(running.port, offset)?);
        }
        std::thread::sleep(Duration::from_secs(2));
        let after = server::tree_rss(running.pid());
        #[allow(clippy::cast_precision_loss, reason = "bytes as f64 for display")]
        figures
            .per_viewer
            .push(after.saturating_sub(before) as f64 / VIEWERS as f64);
        drop(viewers);
    }
    Ok(figures)
}
