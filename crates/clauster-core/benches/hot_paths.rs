//! Micro-benchmarks of the pure functions on Clauster's hot paths, so a regression shows up
//! in review: `cargo bench -p clauster-core --bench hot_paths` (criterion keeps the previous
//! run under `target/criterion` and prints the change).
//!
//! * marker parsing — every byte a bridge writes to its debug log goes through it;
//! * line sanitizing — every log line that leaves the process (log tail, mirror, errors);
//! * transcript record parsing — every transcript byte of the cost rollup;
//! * argv building — every launch.

use std::fmt::Write as _;
use std::hint::black_box;
use std::num::NonZeroU32;

use clauster_core::argv::{self, StandardKind, StandardLaunch};
use clauster_core::capability::Capabilities;
use clauster_core::markers::MarkerParser;
use clauster_core::modes::{PermissionMode, SpawnMode, StandardResume};
use clauster_core::names::{Label, ProjectName};
use clauster_core::sanitize::sanitize_line;
use clauster_core::usage::FileState;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

/// A bridge debug log as 2.1.328 writes it: the four readiness markers among chatty lines.
fn debug_log(lines: usize) -> Vec<u8> {
    let mut log = String::new();
    log.push_str("2026-11-25T19:30:01.001Z [DEBUG] [bridge:init] bridgeId=0f3a7c2d-9e10-4d6b-9a55-f2c456fd3c1e dir=/srv/projects/alpha branch=main gitRepoUrl=null machine=box\n");
    log.push_str("2026-11-25T19:30:01.050Z [DEBUG] [bridge:api] POST /v1/environments/bridge -> 200 environment_id=env_01FAKEAAAABBBBCCCCDDDDEEEE\n");
    log.push_str("2026-11-25T19:30:01.090Z [DEBUG] [bridge:init] Created initial session session_01FAKEAAAABBBBCCCCDDDDEEEE\n");
    log.push_str("2026-11-25T19:30:01.120Z [DEBUG] [bridge:work] Starting poll loop spawnMode=same-dir maxSessions=32 environmentId=env_01FAKEAAAABBBBCCCCDDDDEEEE\n");
    for i in 0..lines {
        let _ = writeln!(
            log,
            "2026-11-25T19:30:{:02}.{:03}Z [DEBUG] [bridge:work] poll: no work (attempt {i}), next in 2000ms",
            (i / 1000) % 60,
            i % 1000
        );
    }
    log.into_bytes()
}

fn markers(c: &mut Criterion) {
    let log = debug_log(2_000);
    let mut group = c.benchmark_group("markers");
    group.throughput(Throughput::Bytes(log.len() as u64));
    group.bench_function("feed 2000-line debug log", |b| {
        b.iter(|| {
            let mut parser = MarkerParser::new();
            black_box(parser.feed(black_box(&log)));
            black_box(parser.into_facts())
        });
    });
    group.finish();
}

fn sanitize(c: &mut Criterion) {
    let plain =
        "2026-11-25T19:30:01.120Z [DEBUG] [bridge:work] poll: no work (attempt 17), next in 2000ms";
    let dirty = "\u{1b}[33m2026-11-25T19:30:01.120Z [DEBUG] Continue at https://claude.ai/code/session_01FAKEAAAABBBBCCCCDDDDEEEE?environment=env_01FAKEAAAABBBBCCCCDDDDEEEE Authorization: Bearer sk-FAKEFAKEFAKEFAKE0123\u{1b}[0m";
    let mut group = c.benchmark_group("sanitize_line");
    group.bench_function("clean line", |b| {
        b.iter(|| black_box(sanitize_line(black_box(plain))));
    });
    group.bench_function("ANSI, ids and a bearer secret", |b| {
        b.iter(|| black_box(sanitize_line(black_box(dirty))));
    });
    group.finish();
}

/// Transcript lines as Claude Code writes them: a user line, then a reply streamed over two
/// lines sharing its id and usage.
fn transcript(replies: usize) -> Vec<u8> {
    let mut out = String::new();
    for i in 0..replies {
        let _ = writeln!(
            out,
            r#"{{"parentUuid":null,"isSidechain":false,"userType":"external","cwd":"/srv/projects/alpha","sessionId":"s","version":"2.1.328","type":"user","message":{{"role":"user","content":"please fix test {i} and run cargo check again"}},"uuid":"u{i}","timestamp":"2026-11-20T10:00:00.000Z"}}"#
        );
        for block in 0..2 {
            let _ = writeln!(
                out,
                r#"{{"parentUuid":"u{i}","isSidechain":false,"userType":"external","cwd":"/srv/projects/alpha","sessionId":"s","version":"2.1.328","message":{{"id":"msg_01{i:08}","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[{{"type":"text","text":"block {block}: the build passes now; the parser returned the offset of the last complete line"}}],"stop_reason":null,"usage":{{"input_tokens":4,"cache_creation_input_tokens":1200,"cache_read_input_tokens":48000,"cache_creation":{{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":1200}},"output_tokens":310,"service_tier":"standard"}}}},"requestId":"req_011{i:08}","type":"assistant","uuid":"a{i}{block}","timestamp":"2026-11-20T10:00:01.000Z"}}"#
            );
        }
    }
    out.into_bytes()
}

fn records(c: &mut Criterion) {
    let bytes = transcript(1_000);
    let mut group = c.benchmark_group("transcript");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("parse 3000 lines into usage entries", |b| {
        b.iter(|| {
            let mut state = FileState::new();
            state.feed(black_box(&bytes));
            black_box(state.entries().len())
        });
    });
    // The viewer's turn index over the same lines (issue 21: the cold first page).
    group.bench_function("index 3000 lines into turns", |b| {
        b.iter(|| {
            let mut index = clauster_core::transcript::TranscriptIndex::new();
            index.feed(black_box(&bytes));
            black_box(index.turns().len())
        });
    });
    // The aggregate on top of the parse: de-duplication, pricing, per-model and per-day sums.
    let prices = std::sync::Arc::new(clauster_core::usage::PriceTable::builtin());
    group.bench_function("aggregate 3000 lines into a project", |b| {
        b.iter(|| {
            let mut project = clauster_core::usage::ProjectUsage::new(prices.clone());
            project.feed(std::path::Path::new("/p/s.jsonl"), black_box(&bytes));
            black_box(project.totals().messages)
        });
    });
    group.finish();
}

fn argv_building(c: &mut Criterion) {
    let project = ProjectName::new("alpha").expect("a valid project name");
    let label = Label::resolve(None, &project).expect("a valid label");
    let caps = Capabilities::fallback();
    let launch = |kind| StandardLaunch {
        label: &label,
        debug_file: "/home/op/.clauster/logs/alpha-1764083000000-1.log",
        spawn_mode: SpawnMode::SameDir,
        permission_mode: PermissionMode::AcceptEdits,
        session_name_prefix: None,
        capacity: NonZeroU32::new(32).expect("non-zero"),
        verbose: false,
        kind,
    };
    let fresh = launch(StandardKind::Fresh);
    let resume = launch(StandardKind::Resume(StandardResume::Always));
    let mut group = c.benchmark_group("argv");
    group.bench_function("standard fresh", |b| {
        b.iter_batched(
            || (),
            |()| black_box(argv::standard(black_box(&fresh), &caps)),
            BatchSize::SmallInput,
        );
    });
    group.bench_function("standard resume", |b| {
        b.iter(|| black_box(argv::standard(black_box(&resume), &caps)));
    });
    group.finish();
}

criterion_group!(benches, markers, sanitize, records, argv_building);
criterion_main!(benches);
