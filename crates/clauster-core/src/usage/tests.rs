//! Golden totals of the rollup over fixture transcripts, and the incremental-equals-full
//! property.

use std::path::Path;
use std::sync::Arc;

use proptest::prelude::*;
use serde_json::json;

use super::*;

const FAKE: &[u8] = include_bytes!("../../tests/fixtures/usage/fake_claude.jsonl");
const RESUMED_A: &[u8] = include_bytes!("../../tests/fixtures/usage/resumed_a.jsonl");
const RESUMED_B: &[u8] = include_bytes!("../../tests/fixtures/usage/resumed_b.jsonl");
const SUB_MAIN: &[u8] = include_bytes!("../../tests/fixtures/usage/subagent_main.jsonl");
const SUB_AGENT: &[u8] = include_bytes!("../../tests/fixtures/usage/subagent_agent.jsonl");
const ODD: &[u8] = include_bytes!("../../tests/fixtures/usage/odd.jsonl");

const SESSION: &str = "/p/-srv-projects-alpha/5b2c0c39-8f4e-4d53-9a61-2f0f7f3c1a01.jsonl";

fn rollup_with(prices: PriceTable, files: &[(&str, &[u8])]) -> UsageTotals {
    let mut project = ProjectUsage::new(Arc::new(prices));
    for (path, bytes) in files {
        project.feed(Path::new(path), bytes);
    }
    project.totals()
}

fn rollup(files: &[(&str, &[u8])]) -> UsageTotals {
    rollup_with(PriceTable::builtin(), files)
}

fn breakdown(t: &TokenBreakdown) -> serde_json::Value {
    json!({
        "input": t.input, "output": t.output, "cache_creation": t.cache_creation,
        "cache_read": t.cache_read, "cache_creation_5m": t.cache_creation_5m,
        "cache_creation_1h": t.cache_creation_1h,
    })
}

/// The totals in the shape of data.md §1.7 plus the exact nano-dollar figures, for snapshots.
fn render(t: &UsageTotals) -> String {
    let by_model: serde_json::Map<String, serde_json::Value> = t
        .by_model
        .iter()
        .map(|(model, m)| {
            let value = json!({
                "messages": m.messages, "total_tokens": m.tokens.total(),
                "cost_usd": m.cost.usd_4dp(), "cost_nanos": m.cost.0.to_string(),
                "token_breakdown": breakdown(&m.tokens),
            });
            (model.clone(), value)
        })
        .collect();
    let value = json!({
        "transcripts": t.transcripts,
        "messages": t.messages,
        "sidechain_messages": t.sidechain_messages,
        "total_tokens": t.tokens.total(),
        "token_breakdown": breakdown(&t.tokens),
        "cost_usd": t.cost.usd_4dp(),
        "cost_nanos": t.cost.0.to_string(),
        "unpriced_models": t.unpriced_models,
        "fallback_priced_models": t.fallback_priced_models,
        "by_model": by_model,
        "duplicates_skipped": t.duplicates_skipped,
        "first_timestamp_ms": t.first_timestamp_ms,
        "last_timestamp_ms": t.last_timestamp_ms,
        "malformed_lines": t.problems.malformed_lines,
        "oversized_lines": t.problems.oversized_lines,
        "price_table_date": t.price_table_date,
    });
    serde_json::to_string_pretty(&value).expect("JSON renders")
}

fn reply(id: &str, model: &str, input: u64, output: u64) -> String {
    format!(
        r#"{{"type":"assistant","requestId":"req_{id}","timestamp":"2026-11-25T16:00:00Z","message":{{"id":"msg_{id}","model":"{model}","usage":{{"input_tokens":{input},"output_tokens":{output}}}}}}}"#
    ) + "\n"
}

fn reply_at(id: &str, model: &str, output: u64, timestamp: &str) -> String {
    format!(
        r#"{{"type":"assistant","requestId":"req_{id}","timestamp":"{timestamp}","message":{{"id":"msg_{id}","model":"{model}","usage":{{"input_tokens":10,"output_tokens":{output}}}}}}}"#
    ) + "\n"
}

/// Issue 24: the per-day buckets follow the de-duplicated winners, sum to the totals, and a
/// range keeps the days from `since` to `until` inclusive.
#[test]
fn per_day_buckets_follow_the_counted_records() {
    let first = reply_at("a", "claude-sonnet-4-5", 5, "2026-11-24T23:59:59Z")
        + &reply_at("b", "claude-opus-4-8", 7, "2026-11-25T00:00:00Z")
        + r#"{"type":"assistant","requestId":"req_u","message":{"id":"msg_u","model":"claude-opus-4-8","usage":{"input_tokens":1,"output_tokens":1}}}"#
        + "\n";
    // The same reply copied into a later file with a larger output: it wins, on its own day.
    let second = reply_at("a", "claude-sonnet-4-5", 50, "2026-11-26T08:00:00Z");
    let mut project = ProjectUsage::new(Arc::new(PriceTable::builtin()));
    project.feed(Path::new("/p/a.jsonl"), first.as_bytes());
    let before: Vec<(String, u64)> = project
        .daily(None, None)
        .into_iter()
        .map(|d| (d.date, d.messages))
        .collect();
    assert_eq!(
        before,
        [("2026-11-24".to_owned(), 1), ("2026-11-25".to_owned(), 1)]
    );
    project.feed(Path::new("/p/b.jsonl"), second.as_bytes());
    let days = project.daily(None, None);
    let dates: Vec<&str> = days.iter().map(|d| d.date.as_str()).collect();
    assert_eq!(dates, ["2026-11-25", "2026-11-26"]);
    assert_eq!(days[1].tokens.output, 50);
    assert_eq!(days[1].models, ["claude-sonnet-4-5"]);
    assert_eq!(days[0].models, ["claude-opus-4-8"]);
    // The undated record is in the totals only.
    let totals = project.totals();
    assert_eq!(totals.messages, 3);
    let dated_cost: u128 = days.iter().map(|d| d.cost.0).sum();
    let undated = rollup(&[(
        "/p/u.jsonl",
        br#"{"type":"assistant","requestId":"req_u","message":{"id":"msg_u","model":"claude-opus-4-8","usage":{"input_tokens":1,"output_tokens":1}}}
"#,
    )]);
    assert_eq!(dated_cost + undated.cost.0, totals.cost.0);
    let day = |d: &str| super::parse_day(d).unwrap();
    let only = project.daily(Some(day("2026-11-26")), Some(day("2026-11-26")));
    assert_eq!(only.len(), 1);
    assert!(
        project
            .daily(Some(day("2026-11-27")), Some(day("2026-11-01")))
            .is_empty()
    );
    assert_eq!(project.daily(None, Some(day("2026-11-25"))).len(), 1);
    // A removed file takes its days with it.
    project.remove_file(Path::new("/p/b.jsonl"));
    assert_eq!(project.daily(None, None).len(), 2);
}

#[test]
fn fake_claude_transcript_totals() {
    let t = rollup(&[(SESSION, FAKE)]);
    // fake-claude.md §6: messages 2, duplicates 2, 0.126119 + 0.0002 = 0.126319 → 0.1263.
    assert_eq!(t.messages, 2);
    assert_eq!(t.duplicates_skipped, 2);
    assert_eq!(t.sidechain_messages, 1);
    assert_eq!(t.cost, Nanodollars(126_319_000));
    assert_eq!(t.cost.ten_thousandths(), 1263);
    assert!((t.cost.usd_4dp() - 0.1263).abs() < f64::EPSILON);
    assert_eq!(t.by_model["claude-opus-4-8"].cost, Nanodollars(126_119_000));
    assert_eq!(t.tokens.total(), 28_962 + 120);
    assert_eq!(t.problems, ReadProblems::default());
    insta::assert_snapshot!(render(&t));
}

#[test]
fn spec_worked_example() {
    // data.md §1.7: the opus reply alone, written as three lines.
    let lines: Vec<&[u8]> = FAKE.split_inclusive(|&b| b == b'\n').collect();
    let reply = lines[1..4].concat();
    let t = rollup(&[(SESSION, &reply)]);
    assert_eq!(t.transcripts, 1);
    assert_eq!(t.messages, 1);
    assert_eq!(t.duplicates_skipped, 2);
    assert_eq!(t.tokens.total(), 28_962);
    assert_eq!(
        t.tokens,
        TokenBreakdown {
            input: 6,
            output: 13,
            cache_creation: 11_715,
            cache_read: 17_228,
            cache_creation_5m: 0,
            cache_creation_1h: 11_715,
        }
    );
    assert_eq!(t.cost.ten_thousandths(), 1261);
    // Without the 1-hour split it is priced at the 5-minute rate: 0.0822.
    let text = String::from_utf8(reply).unwrap().replace(
        r#","cache_creation":{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":11715}"#,
        "",
    );
    let t = rollup(&[(SESSION, text.as_bytes())]);
    assert_eq!(
        (t.tokens.cache_creation_5m, t.tokens.cache_creation_1h),
        (11_715, 0)
    );
    assert_eq!(t.cost.ten_thousandths(), 822);
}

#[test]
fn resumed_session_counts_copied_lines_once() {
    let both = rollup(&[("/p/s/a.jsonl", RESUMED_A), ("/p/s/b.jsonl", RESUMED_B)]);
    let b_alone = rollup(&[("/p/s/b.jsonl", RESUMED_B)]);
    // a's 2 calls (one streamed twice), copied into b; b's 3 new calls (msg_b1 twice under
    // different request ids) and 2 key-less records.
    assert_eq!(both.messages, 7);
    assert_eq!(both.transcripts, 2);
    // a: 1 streamed copy; b: the same inside its copy of a + msg_b3 twice; across: a's 3 lines.
    assert_eq!(b_alone.duplicates_skipped, 2);
    assert_eq!(both.duplicates_skipped, 5);
    assert_eq!(both.messages, b_alone.messages);
    assert_eq!(both.tokens, b_alone.tokens);
    assert_eq!(both.cost, b_alone.cost);
    // The streamed reply counts with its larger output (50, not 5).
    let a = rollup(&[("/p/s/a.jsonl", RESUMED_A)]);
    assert_eq!(a.tokens.output, 250);
    insta::assert_snapshot!(render(&both));
}

#[test]
fn subagent_transcripts_count_once() {
    let t = rollup(&[
        ("/p/s/33333333-3333-4333-8333-333333333333.jsonl", SUB_MAIN),
        (
            "/p/s/33333333-3333-4333-8333-333333333333/subagents/agent-a1.jsonl",
            SUB_AGENT,
        ),
    ]);
    // msg_m1 + 3 subagent calls; msg_sub2 is logged in both files but is one call.
    assert_eq!(t.messages, 4);
    assert_eq!(t.duplicates_skipped, 1);
    // Equal outputs: the copy in the path that sorts first (the main session) is counted.
    assert_eq!(t.sidechain_messages, 2);
    assert_eq!(t.by_model["claude-haiku-4-5"].messages, 3);
    insta::assert_snapshot!(render(&t));
}

#[test]
fn odd_lines_are_tolerated() {
    let t = rollup(&[("/p/s/odd.jsonl", ODD)]);
    // Cross-checked with an independent script over the same file.
    assert_eq!(t.messages, 16);
    assert_eq!(t.cost, Nanodollars(33_081_134_000));
    assert_eq!(t.tokens.total(), 8_408_043);
    // Truncated JSON, plain text, 70-deep nesting and 1e400.
    assert_eq!(t.problems.malformed_lines, 4);
    assert_eq!(t.problems.oversized_lines, 0);
    let cost = |model: &str| t.by_model[model].cost.0;
    // 1 M tokens each: 1 h write 10.00, 5 m write 6.25, no split 6.25, split 600k/1h → 8.50.
    assert_eq!(cost("claude-opus-4-8"), 31_000_000_000);
    assert_eq!(
        t.by_model["claude-opus-4-8"].tokens.cache_creation_1h,
        1_600_000
    );
    // 1 M cache reads each: 0.20 before 2026-10-07, 0.10 on it, 0.10 with no timestamp.
    assert_eq!(cost("claude-sonnet-5-5-20260901"), 400_000_000);
    // Only ever seen after the price change, under its Bedrock name.
    assert_eq!(
        cost("us.anthropic.claude-sonnet-5-5-20261101-v1:0"),
        112_000_000
    );
    // 200 001 prompt tokens take the long-prompt tier, 200 000 do not.
    assert_eq!(
        cost("claude-sonnet-4-5-20250929"),
        1_027_506_000 + 517_500_000
    );
    assert_eq!(cost("claude-opus-4-9"), 24_000_000);
    assert_eq!(cost("my-local-model"), 0);
    assert_eq!(t.unpriced_models, ["my-local-model", "unknown"]);
    assert_eq!(t.fallback_priced_models, ["claude-opus-4-9"]);
    // Lenient numbers (10.9 → 10, "20" → 20), CRLF and invalid UTF-8 lines all count.
    assert_eq!(cost("claude-haiku-4-5"), 110_000 + 6_000 + 12_000);
    assert!(!t.by_model.contains_key("<synthetic>"));
    insta::assert_snapshot!(render(&t));
}

#[test]
fn override_prices_come_first() {
    let flat = PriceOverride {
        input: 1.0,
        output: 2.0,
        cache_write_5m: 0.0,
        cache_write_1h: 0.0,
        cache_read: 0.5,
    };
    let (prices, rounded) = PriceTable::builtin()
        .with_overrides([("my-local-model", flat), ("claude-sonnet-5-5", flat)])
        .unwrap();
    assert!(rounded.is_empty());
    let t = rollup_with(prices, &[("/p/s/odd.jsonl", ODD)]);
    assert_eq!(
        t.by_model["my-local-model"].cost.0,
        1_000 * 1_000 + 1_000 * 2_000
    );
    // The override replaces both dated rows of Sonnet 5.5.
    assert_eq!(
        t.by_model["claude-sonnet-5-5-20260901"].cost.0,
        3 * 500_000_000
    );
    assert_eq!(t.unpriced_models, ["unknown"]);
    insta::assert_snapshot!(render(&t));
}

#[test]
fn huge_lines() {
    // A 2 MiB reply (a large file written by a tool) is an ordinary record.
    let big = format!(
        r#"{{"requestId":"r","message":{{"id":"m","model":"claude-haiku-4-5","content":[{{"type":"tool_use","input":{{"content":"{}"}}}}],"usage":{{"input_tokens":1,"output_tokens":2}}}}}}"#,
        "x".repeat(2 << 20)
    ) + "\n";
    let t = rollup(&[("/p/s/big.jsonl", big.as_bytes())]);
    assert_eq!((t.messages, t.problems.oversized_lines), (1, 0));

    // A line past the limit is skipped and counted, whole or streamed in 1 MiB pieces.
    let mut huge = vec![b'{'; DEFAULT_MAX_LINE_BYTES + 1];
    huge.push(b'\n');
    huge.extend_from_slice(reply("after", "claude-haiku-4-5", 1, 1).as_bytes());
    let whole = rollup(&[("/p/s/huge.jsonl", &huge)]);
    let mut project = ProjectUsage::new(Arc::new(PriceTable::builtin()));
    for piece in huge.chunks(1 << 20) {
        project.feed(Path::new("/p/s/huge.jsonl"), piece);
    }
    let streamed = project.totals();
    assert_eq!(whole, streamed);
    assert_eq!((whole.messages, whole.problems.oversized_lines), (1, 1));
}

#[test]
fn appends_are_counted_incrementally() {
    let path = Path::new(SESSION);
    let mut project = ProjectUsage::new(Arc::new(PriceTable::builtin()));
    project.feed(path, FAKE);
    let before = project.totals();
    // FAKE_CLAUDE_TRANSCRIPT_APPEND_MS: one more reply per tick, 10/10 on Sonnet 4.6.
    for n in 2..5 {
        project.feed(
            path,
            reply(&format!("fake_{n:04}"), "claude-sonnet-4-6", 10, 10).as_bytes(),
        );
    }
    let after = project.totals();
    assert_eq!(after.messages, before.messages + 3);
    assert_eq!(after.cost.0, before.cost.0 + 3 * (10 * 3_000 + 10 * 15_000));
    let state = project.file(path).unwrap();
    assert_eq!(state.fed_len(), state.complete_len());
    assert_eq!(state.entries().len(), 7);
}

#[test]
fn reset_and_remove_rebuild_the_aggregate() {
    let a = Path::new("/p/s/a.jsonl");
    let b = Path::new("/p/s/b.jsonl");
    let mut project = ProjectUsage::new(Arc::new(PriceTable::builtin()));
    project.feed(a, RESUMED_A);
    project.feed(b, RESUMED_B);
    let full = project.totals();

    // Re-reading a file from 0 gives the same totals.
    project.reset_file(b);
    assert_eq!(project.totals().messages, 2);
    project.feed(b, RESUMED_B);
    assert_eq!(project.totals(), full);

    // A shrunk file: only its new content counts.
    project.reset_file(b);
    project.feed(b, &RESUMED_B[..RESUMED_B.len() / 2]);
    let shrunk = project.totals();
    assert!(shrunk.messages < full.messages);

    // A deleted file contributes nothing; the duplicates it held are no longer duplicates.
    project.remove_file(b);
    let only_a = rollup(&[("/p/s/a.jsonl", RESUMED_A)]);
    let mut without_b = project.totals();
    assert_eq!(without_b.transcripts, 1);
    without_b.problems = only_a.problems;
    assert_eq!(without_b, only_a);
    assert_eq!(project.paths(), [a]);
}

#[test]
fn adopted_file_states_equal_fed_ones() {
    // A cold rollup may read files on worker threads and hand the states over.
    let fed = rollup(&[("/p/s/a.jsonl", RESUMED_A), ("/p/s/b.jsonl", RESUMED_B)]);
    let mut project = ProjectUsage::new(Arc::new(PriceTable::builtin()));
    let states: Vec<(&str, FileState)> = std::thread::scope(|scope| {
        let workers: Vec<_> = [("/p/s/b.jsonl", RESUMED_B), ("/p/s/a.jsonl", RESUMED_A)]
            .into_iter()
            .map(|(path, bytes)| {
                scope.spawn(move || {
                    let mut state = FileState::new();
                    state.feed(bytes);
                    (path, state)
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    for (path, state) in states {
        project.adopt_file(Path::new(path), state);
    }
    assert_eq!(project.totals(), fed);
    // Adopting over a known file replaces it.
    let mut state = FileState::new();
    state.feed(RESUMED_A);
    project.adopt_file(Path::new("/p/s/b.jsonl"), state);
    let a_twice = project.totals();
    assert_eq!(a_twice.messages, 2);
    assert_eq!(a_twice.duplicates_skipped, 4);
}

#[test]
fn equal_outputs_tie_break_on_path_not_read_order() {
    // The same call logged under two model names (a relabelled copy): whichever file sorts
    // first by path provides the counted record, whatever the order of reading.
    let z = reply("same", "claude-opus-4-8", 1, 1);
    let a = reply("same", "claude-haiku-4-5", 1, 1);
    let forward = rollup(&[
        ("/p/s/a.jsonl", a.as_bytes()),
        ("/p/s/z.jsonl", z.as_bytes()),
    ]);
    let backward = rollup(&[
        ("/p/s/z.jsonl", z.as_bytes()),
        ("/p/s/a.jsonl", a.as_bytes()),
    ]);
    assert_eq!(forward, backward);
    assert_eq!(
        forward.by_model.keys().collect::<Vec<_>>(),
        ["claude-haiku-4-5"]
    );
    // Within one file, the earlier line wins a tie.
    let twice = format!("{a}{}", a.replace("claude-haiku-4-5", "claude-opus-4-8"));
    let t = rollup(&[("/p/s/one.jsonl", twice.as_bytes())]);
    assert_eq!(t.by_model.keys().collect::<Vec<_>>(), ["claude-haiku-4-5"]);
}

#[test]
fn empty_project_is_zeros() {
    let t = rollup(&[]);
    assert_eq!(t.transcripts, 0);
    assert_eq!(t.messages, 0);
    assert_eq!(t.cost, Nanodollars(0));
    assert_eq!(t.first_timestamp_ms, None);
    assert_eq!(t.price_table_date, "2026-11-25");
    let t = rollup(&[("/p/s/empty.jsonl", b"")]);
    assert_eq!((t.transcripts, t.messages), (1, 0));
}

#[test]
fn discovery_counts_are_carried() {
    let mut project = ProjectUsage::new(Arc::new(PriceTable::builtin()));
    let counts = DiscoveryCounts {
        ambiguous_transcripts: 2,
        unreadable_files: 1,
    };
    project.set_discovery(counts);
    assert_eq!(project.totals().discovery, counts);
}

#[test]
fn cost_rounding_is_half_up_to_four_decimals() {
    assert_eq!(Nanodollars(49_999).ten_thousandths(), 0);
    assert_eq!(Nanodollars(50_000).ten_thousandths(), 1);
    assert_eq!(Nanodollars(126_149_999).ten_thousandths(), 1261);
    assert_eq!(Nanodollars(126_150_000).ten_thousandths(), 1262);
    assert_eq!(Nanodollars(126_150_000).usd_4dp().to_string(), "0.1262");
    assert_eq!(Nanodollars(31_000_000_000).usd_4dp().to_string(), "31");
}

/// The lines the property test builds files from: records, duplicates, junk and a line that
/// is oversized under the test's limit of 400 bytes.
fn line_pool() -> Vec<Vec<u8>> {
    let mut pool: Vec<Vec<u8>> = [FAKE, RESUMED_B, ODD]
        .iter()
        .flat_map(|file| file.split_inclusive(|&b| b == b'\n'))
        .filter(|line| line.len() <= 400)
        .map(<[u8]>::to_vec)
        .collect();
    pool.push(reply("p1", "claude-haiku-4-5", 3, 4).into_bytes());
    pool.push(reply("p1", "claude-haiku-4-5", 3, 9).into_bytes());
    pool.push(reply("p2", "claude-opus-4-8", 5, 5).into_bytes());
    pool.push(b"\n".to_vec());
    pool.push(b"{\"broken\":\n".to_vec());
    pool.push([vec![b' '; 500], b"\n".to_vec()].concat());
    pool
}

fn chunked<'a>(bytes: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    cuts.sort_unstable();
    let mut pieces = Vec::new();
    let mut start = 0;
    for cut in cuts {
        pieces.push(&bytes[start..cut]);
        start = cut;
    }
    pieces.push(&bytes[start..]);
    pieces
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Feeding files in arbitrary chunks, interleaved across files, equals reading each file
    /// whole (entries, problems and project totals).
    #[test]
    fn incremental_feeding_equals_a_full_read(
        picks in prop::collection::vec((0usize..2, 0usize..64), 0..40),
        cuts_a in prop::collection::vec(any::<usize>(), 0..12),
        cuts_b in prop::collection::vec(any::<usize>(), 0..12),
        tail in prop::option::of(0usize..64),
        b_first in any::<bool>(),
    ) {
        let pool = line_pool();
        let mut files = [Vec::new(), Vec::new()];
        for (file, line) in picks {
            files[file].extend_from_slice(&pool[line % pool.len()]);
        }
        if let Some(line) = tail {
            // An unterminated last line stays pending in both reads.
            let line = &pool[line % pool.len()];
            files[0].extend_from_slice(line.strip_suffix(b"\n").unwrap_or(line));
        }
        let paths = [Path::new("/p/s/a.jsonl"), Path::new("/p/s/b.jsonl")];
        let prices = Arc::new(PriceTable::builtin());

        let mut whole = ProjectUsage::with_max_line(prices.clone(), 400);
        for (path, bytes) in paths.iter().zip(&files) {
            whole.feed(path, bytes);
        }

        let mut pieces = [chunked(&files[0], &cuts_a), chunked(&files[1], &cuts_b)];
        if b_first {
            pieces.reverse();
        }
        let order = if b_first { [paths[1], paths[0]] } else { paths };
        let mut streamed = ProjectUsage::with_max_line(prices, 400);
        for path in order {
            streamed.feed(path, b"");
        }
        let longest = pieces[0].len().max(pieces[1].len());
        for i in 0..longest {
            for (path, file_pieces) in order.iter().zip(&pieces) {
                if let Some(piece) = file_pieces.get(i) {
                    streamed.feed(path, piece);
                }
            }
        }

        for path in paths {
            let (w, s) = (whole.file(path).unwrap(), streamed.file(path).unwrap());
            prop_assert_eq!(w.entries(), s.entries());
            prop_assert_eq!(w.models(), s.models());
            prop_assert_eq!(w.problems(), s.problems());
            prop_assert_eq!(w.complete_len(), s.complete_len());
            prop_assert_eq!(w.fed_len(), s.fed_len());
        }
        prop_assert_eq!(whole.totals(), streamed.totals());
        prop_assert_eq!(whole.daily(None, None), streamed.daily(None, None));
        let day_sum: u64 = whole.daily(None, None).iter().map(|d| d.messages).sum();
        prop_assert!(day_sum <= whole.totals().messages);
    }
}
