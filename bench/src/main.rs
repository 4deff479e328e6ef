//! `clauster-bench`: what `cargo xtask bench` runs once it has built the release binaries and
//! installed the programs we compare with.
//!
//! ```text
//! clauster-bench run --clauster BIN --fake-claude BIN --out DIR
//!                    [--python BIN] [--ccusage BIN] [--quick]
//! clauster-bench rollup PROJECTS_DIR SLUG FILE LINE_FILE     (one cold + incremental rollup,
//!                                                            in a fresh process; prints JSON)
//! ```
// Printing the table and progress is this program's job.
#![allow(clippy::print_stdout)]
#![forbid(unsafe_code)]

mod bridges;
mod ccusage;
mod corpus;
mod http;
mod idle;
mod rollup;
mod server;
mod stats;
mod transcript;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

use serde_json::json;

use crate::server::{Flavor, Sandbox};
use crate::stats::{Row, Runs, Unit, percentile_ms};

const USAGE: &str = "usage: clauster-bench run --clauster BIN --fake-claude BIN --out DIR \
[--python BIN] [--ccusage BIN] [--bundle-gzip BYTES] [--quick]\n       clauster-bench transcript --clauster BIN --fake-claude BIN --out DIR [--quick]\n       clauster-bench idle --clauster BIN --fake-claude BIN --out DIR [--python BIN] [--quick]\n       clauster-bench rollup PROJECTS_DIR SLUG FILE LINE_FILE\n";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("run") => Options::parse(&args[1..]).and_then(|o| run(&o)),
        // The viewer's rows alone, for a quick look at them.
        Some("transcript") => Options::parse(&args[1..]).map(|o| {
            let mut rows = Vec::new();
            transcript_rows(&o, &mut rows);
            println!("\n{}", stats::table(&rows));
        }),
        // The idle-CPU rows alone.
        Some("idle") => Options::parse(&args[1..]).map(|o| {
            let mut rows = Vec::new();
            idle_rows(&o, &mut rows);
            println!("\n{}", stats::table(&rows));
        }),
        Some("rollup") if args.len() == 5 => rollup_child(&args[1..]),
        _ => Err(USAGE.to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("clauster-bench: {err}");
            ExitCode::FAILURE
        }
    }
}

#[derive(Debug)]
struct Options {
    clauster: PathBuf,
    fake: PathBuf,
    out: PathBuf,
    python: Option<PathBuf>,
    ccusage: Option<PathBuf>,
    quick: bool,
    /// The hydrate bundle's gzip size, when xtask built it in this run.
    bundle_gzip: Option<u64>,
}

impl Options {
    fn parse(args: &[String]) -> Result<Self, String> {
        let mut o = Options {
            clauster: PathBuf::new(),
            fake: PathBuf::new(),
            out: PathBuf::new(),
            python: None,
            ccusage: None,
            quick: false,
            bundle_gzip: None,
        };
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            if flag == "--quick" {
                o.quick = true;
                continue;
            }
            let value = it
                .next()
                .map(PathBuf::from)
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
            // Servers run in their sandboxes: every path handed on must not depend on our cwd.
            let raw = value.clone();
            let value = std::path::absolute(&value).unwrap_or(value);
            match flag.as_str() {
                "--clauster" => o.clauster = value,
                "--fake-claude" => o.fake = value,
                "--out" => o.out = value,
                "--python" => o.python = Some(value),
                "--ccusage" => o.ccusage = Some(value),
                "--bundle-gzip" => {
                    o.bundle_gzip = Some(
                        raw.to_string_lossy()
                            .parse()
                            .map_err(|_| format!("--bundle-gzip takes a byte count\n{USAGE}"))?,
                    );
                }
                _ => return Err(format!("unknown option {flag}\n{USAGE}")),
            }
        }
        for (name, path) in [
            ("--clauster", &o.clauster),
            ("--fake-claude", &o.fake),
            ("--out", &o.out),
        ] {
            if path.as_os_str().is_empty() {
                return Err(format!("{name} is required\n{USAGE}"));
            }
        }
        Ok(o)
    }
}

#[allow(
    clippy::cast_precision_loss,
    reason = "byte counts and ms as f64 for display"
)]
fn f(v: u64) -> f64 {
    v as f64
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Figures of one program at one N.
#[derive(Debug, Default)]
struct ServerRuns {
    cold: Runs,
    idle_rss: Runs,
    rss_after: Runs,
    api_p50: Runs,
    api_p99: Runs,
    page_p50: Runs,
    page_p99: Runs,
    page_size: Runs,
}

/// Starts `flavor` `runs` times on a root of `n` projects and measures each run.
fn measure_server(
    flavor: &Flavor,
    n: usize,
    runs: usize,
    requests: usize,
    opts: &Options,
) -> Result<ServerRuns, String> {
    let dir = opts.out.join(format!("server-{}-{n}", flavor.name()));
    let mut out = ServerRuns::default();
    for run in 0..runs {
        // A fresh state dir every run: nothing cached from the previous start.
        let sandbox = Sandbox::create(&dir, n).map_err(|e| format!("projects root: {e}"))?;
        let server = server::start(flavor, &sandbox, &opts.fake, &[])?;
        out.cold.push(ms(server.cold_start));
        let seen = server::project_count(server.port)?;
        if seen != n {
            return Err(format!(
                "{} lists {seen} projects, {n} exist",
                flavor.name()
            ));
        }
        // "After startup settled": the claude probes and rediscovery run in the background.
        std::thread::sleep(std::time::Duration::from_secs(2));
        out.idle_rss.push(f(server::tree_rss(server.pid())));
        // Exactly `requests` of them: the RSS figure after them says "after 1 000 requests".
        let (api, _) =
            server::timed_gets(server.port, "/api/projects", 20, requests, Duration::MAX)?;
        out.api_p50.push(percentile_ms(&api, 50.0));
        out.api_p99.push(percentile_ms(&api, 99.0));
        out.rss_after.push(f(server::tree_rss(server.pid())));
        let (page, size) =
            server::timed_gets(server.port, "/", 5, requests / 10, Duration::from_secs(8))?;
        out.page_p50.push(percentile_ms(&page, 50.0));
        out.page_p99.push(percentile_ms(&page, 99.0));
        out.page_size.push(f(size as u64));
        println!(
            "  {} N={n} run {}: cold {:.1} ms, idle RSS {:.1} MiB, /api/projects p50 {:.2} ms, / p50 {:.2} ms, {} bytes",
            flavor.name(),
            run + 1,
            ms(server.cold_start),
            out.idle_rss.0.last().copied().unwrap_or(0.0) / 1_048_576.0,
            out.api_p50.0.last().copied().unwrap_or(0.0),
            out.page_p50.0.last().copied().unwrap_or(0.0),
            size
        );
    }
    Ok(out)
}

/// Which of a server's figures a row shows.
type Pick = fn(&ServerRuns) -> &Runs;

/// A server row: its measure, unit, figure and target (the target applies at N=1000 only).
type ServerRow<'a> = (&'a str, Unit, Pick, Option<(&'a str, f64)>);

fn pick(
    result: &Result<ServerRuns, String>,
    get: impl Fn(&ServerRuns) -> &Runs,
) -> Result<Runs, String> {
    match result {
        Ok(r) => Ok(get(r).clone()),
        Err(e) => Err(e.lines().next().unwrap_or("failed").to_owned()),
    }
}

fn server_rows(opts: &Options, rows: &mut Vec<Row>) {
    let (runs, requests) = if opts.quick { (3, 200) } else { (5, 1000) };
    let ours = Flavor::Ours(opts.clauster.clone());
    for n in [10, 200, 1000] {
        // Three runs at N = 1000 keep the whole bench under ten minutes on two cores.
        let runs = if n == 1000 { runs.min(3) } else { runs };
        println!("server, N = {n}");
        let mine = match measure_server(&ours, n, runs, requests, opts) {
            Ok(m) => m,
            Err(e) => {
                println!("  ours failed: {e}");
                continue;
            }
        };
        let theirs: Result<ServerRuns, String> = match &opts.python {
            Some(bin) => measure_server(&Flavor::Python(bin.clone()), n, runs, requests, opts),
            None => Err("not installed".to_owned()),
        };
        if let Err(e) = &theirs {
            println!("  python: {e}");
        }
        let big = n == 1000;
        let rss_after = format!("RSS after {requests} requests");
        let mib = |n: f64| n * 1_048_576.0;
        let table: [ServerRow; 8] = [
            (
                "Cold start → first 200 /healthz",
                Unit::Ms,
                |r| &r.cold,
                Some(("≤ 110 ms", 110.0)),
            ),
            (
                "Idle RSS",
                Unit::MiB,
                |r| &r.idle_rss,
                Some(("≤ 15 MiB", mib(15.0))),
            ),
            (&rss_after, Unit::MiB, |r| &r.rss_after, None),
            (
                "GET /api/projects p50",
                Unit::Ms,
                |r| &r.api_p50,
                Some(("≤ 1 ms", 1.0)),
            ),
            ("GET /api/projects p99", Unit::Ms, |r| &r.api_p99, None),
            (
                "GET / p50",
                Unit::Ms,
                |r| &r.page_p50,
                Some(("≤ 15 ms", 15.0)),
            ),
            ("GET / p99", Unit::Ms, |r| &r.page_p99, None),
            (
                "GET / HTML size",
                Unit::Mb,
                |r| &r.page_size,
                Some(("≤ 1.5 MB", 1_500_000.0)),
            ),
        ];
        for (name, unit, get, target) in table {
            let mut row = Row::new(format!("{name}, N={n}"), unit, get(&mine).clone())
                .vs("python", pick(&theirs, get));
            if let (true, Some((text, bound))) = (big, target) {
                row = row.target(text, bound);
            }
            rows.push(row);
        }
    }
}

#[derive(Debug, Default)]
struct BridgeRuns {
    spawn_precise: Runs,
    stop_precise: Runs,
    push_running: Runs,
    push_stopped: Runs,
    spawn_e2e: Runs,
    stop_e2e: Runs,
}

fn measure_bridges(flavor: &Flavor, cycles: usize, opts: &Options) -> Result<BridgeRuns, String> {
    let dir = opts.out.join(format!("bridges-{}", flavor.name()));
    let sandbox = Sandbox::create(&dir, 10).map_err(|e| format!("projects root: {e}"))?;
    sandbox
        .trust(&["p0001"])
        .map_err(|e| format!("trust: {e}"))?;
    let server = server::start(flavor, &sandbox, &opts.fake, &[])?;
    // Let the capability probe finish, so the first launch is not waiting for it.
    std::thread::sleep(std::time::Duration::from_secs(2));
    let list = match flavor {
        Flavor::Ours(_) => bridges::ours(server.port, "p0001", cycles)?,
        Flavor::Python(_) => bridges::python(server.port, "p0001", cycles)?,
    };
    let mut out = BridgeRuns::default();
    for c in list {
        let put = |runs: &mut Runs, v: Option<f64>| {
            if let Some(v) = v {
                runs.push(v);
            }
        };
        put(&mut out.spawn_precise, c.spawn_precise);
        put(&mut out.stop_precise, c.stop_precise);
        put(&mut out.push_running, c.push_running);
        put(&mut out.push_stopped, c.push_stopped);
        out.spawn_e2e.push(c.spawn_e2e);
        out.stop_e2e.push(c.stop_e2e);
    }
    Ok(out)
}

fn bridge_rows(opts: &Options, rows: &mut Vec<Row>) {
    let cycles = if opts.quick { 3 } else { 10 };
    println!("bridges: {cycles} spawn/stop cycles with the fake claude");
    let mine = match measure_bridges(&Flavor::Ours(opts.clauster.clone()), cycles, opts) {
        Ok(m) => m,
        Err(e) => {
            println!("  ours failed: {e}");
            return;
        }
    };
    let theirs = match &opts.python {
        Some(bin) => measure_bridges(&Flavor::Python(bin.clone()), cycles, opts),
        None => Err("not installed".to_owned()),
    };
    if let Err(e) = &theirs {
        println!("  python: {e}");
    }
    let no_stream = "no /ws/events and no ready/ended time stamps in 1.3.2";
    let no_push = "polls every 4 s, no push";
    let precise = [
        (
            "Spawn → running (fake's last marker → ready_at)",
            mine.spawn_precise,
            no_stream,
            50.0,
        ),
        (
            "Stop → stopped (fake's shutdown line → ended_at)",
            mine.stop_precise,
            no_stream,
            50.0,
        ),
        (
            "Push: running → /ws/events frame",
            mine.push_running,
            no_push,
            100.0,
        ),
        (
            "Push: stopped → /ws/events frame",
            mine.push_stopped,
            no_push,
            100.0,
        ),
    ];
    for (measure, ours, why, bound_ms) in precise {
        rows.push(ours_alone(
            measure,
            Unit::Ms,
            ours,
            why,
            &format!("≤ {bound_ms} ms"),
            bound_ms,
        ));
    }
    let e2e = |get: fn(&BridgeRuns) -> &Runs| match &theirs {
        Ok(t) => Ok(get(t).clone()),
        Err(e) => Err(e.lines().next().unwrap_or("failed").to_owned()),
    };
    rows.push(
        Row::new(
            "Spawn end to end (POST → running seen)",
            Unit::Ms,
            mine.spawn_e2e,
        )
        .vs("python", e2e(|r| &r.spawn_e2e)),
    );
    rows.push(
        Row::new(
            "Stop end to end (DELETE → stopped seen)",
            Unit::Ms,
            mine.stop_e2e,
        )
        .vs("python", e2e(|r| &r.stop_e2e)),
    );
}

/// The idle server's CPU with 1 and with 50 running bridges (issue 14 defect 12).
fn idle_rows(opts: &Options, rows: &mut Vec<Row>) {
    let window = Duration::from_secs(if opts.quick { 5 } else { 10 });
    for bridges in [1, 50] {
        println!(
            "idle CPU: {bridges} running bridge(s), {} s window",
            window.as_secs()
        );
        let measure = |flavor: &Flavor| -> Result<Runs, String> {
            idle::measure(flavor, &opts.fake, &opts.out, bridges, window).map(|v| Runs(vec![v]))
        };
        let mine = measure(&Flavor::Ours(opts.clauster.clone())).unwrap_or_else(|e| {
            println!("  ours failed: {e}");
            Runs::default()
        });
        let theirs = match &opts.python {
            Some(bin) => measure(&Flavor::Python(bin.clone())),
            None => Err("not installed".to_owned()),
        };
        rows.push(
            Row::new(
                format!("Idle server CPU, {bridges} running bridge(s) (% of a core)"),
                Unit::Pct,
                mine,
            )
            .vs("python", theirs)
            .target("≤ 5 %", 5.0),
        );
    }
}

/// The transcript viewer's rows (issue 21).
fn transcript_rows(opts: &Options, rows: &mut Vec<Row>) {
    let runs = if opts.quick { 3 } else { 5 };
    println!("transcript viewer: a 50 MB session, {runs} fresh servers");
    let figures = match transcript::measure(&opts.clauster, &opts.fake, &opts.out, runs) {
        Ok(figures) => figures,
        Err(e) => {
            println!("  failed: {e}");
            return;
        }
    };
    let mb = f(figures.file_bytes) / 1e6;
    let page = |when: &str| format!("Transcript first page, {mb:.0} MB file, {when}");
    let table = [
        (
            page("cold"),
            Unit::Ms,
            figures.cold,
            "not measured",
            ("≤ 30 ms", 30.0),
        ),
        (
            page("warm p50"),
            Unit::Ms,
            figures.warm,
            "not measured",
            ("≤ 5 ms", 5.0),
        ),
        (
            "Live turn: written → /ws/transcript frame".to_owned(),
            Unit::Ms,
            figures.live,
            "polls /tail",
            ("≤ 200 ms", 200.0),
        ),
        (
            "Memory per open transcript viewer".to_owned(),
            Unit::KiB,
            figures.per_viewer,
            "not measured",
            ("≤ 1 MiB", 1_048_576.0),
        ),
    ];
    for (measure, unit, ours, why, (target, bound)) in table {
        rows.push(ours_alone(measure, unit, ours, why, target, bound));
    }
}

/// A row with Python's figure missing for the reason `why`, held to its target.
fn ours_alone(
    measure: impl Into<String>,
    unit: Unit,
    ours: Runs,
    why: &str,
    target: &str,
    bound: f64,
) -> Row {
    Row::new(measure, unit, ours)
        .vs("python", Err(why.to_owned()))
        .target(target, bound)
}

/// The JSON a `rollup` child prints.
fn totals_json(t: &corpus::Expected) -> serde_json::Value {
    json!({
        "files": t.files, "messages": t.messages, "duplicates": t.duplicates,
        "input": t.input, "output": t.output, "cache_5m": t.cache_5m, "cache_1h": t.cache_1h,
        "cache_read": t.cache_read, "cost_nanos": t.cost_nanos.to_string(),
    })
}

/// `rollup PROJECTS_DIR SLUG FILE LINE_FILE`: a cold rollup in this fresh process, then
/// `LINE_FILE`'s content appended to `FILE` and the incremental refresh; `FILE` is cut back to
/// its length afterwards, so the corpus is unchanged for the next run.
fn rollup_child(args: &[String]) -> Result<(), String> {
    let (dir, slug, file, line_file) = (
        Path::new(&args[0]),
        &args[1],
        Path::new(&args[2]),
        Path::new(&args[3]),
    );
    let (rss_before, _) = rollup::own_memory();
    let (mut state, cold) = rollup::cold(dir).map_err(|e| format!("cold rollup: {e}"))?;
    let (_, hwm) = rollup::own_memory();
    let before = state.totals();
    let line = std::fs::read(line_file).map_err(|e| format!("{}: {e}", line_file.display()))?;
    let original = std::fs::metadata(file).map_err(|e| e.to_string())?.len();
    let appended = (|| -> std::io::Result<(std::time::Duration, corpus::Expected)> {
        use std::io::Write;
        std::fs::OpenOptions::new()
            .append(true)
            .open(file)?
            .write_all(&line)?;
        let took = state.refresh(slug, file)?;
        Ok((took, state.totals()))
    })();
    std::fs::OpenOptions::new()
        .write(true)
        .open(file)
        .and_then(|f| f.set_len(original))
        .map_err(|e| format!("could not restore {}: {e}", file.display()))?;
    let (incremental, after) = appended.map_err(|e| format!("incremental rollup: {e}"))?;
    println!(
        "{}",
        json!({
            "cold_ms": ms(cold), "incremental_ms": ms(incremental),
            "rss_before": rss_before, "hwm_after_cold": hwm,
            "totals": totals_json(&before), "after_append": totals_json(&after),
        })
    );
    Ok(())
}

fn parse_totals(v: &serde_json::Value) -> corpus::Expected {
    let n = |k: &str| v[k].as_u64().unwrap_or(u64::MAX);
    corpus::Expected {
        files: n("files"),
        messages: n("messages"),
        duplicates: n("duplicates"),
        input: n("input"),
        output: n("output"),
        cache_5m: n("cache_5m"),
        cache_1h: n("cache_1h"),
        cache_read: n("cache_read"),
        cost_nanos: v["cost_nanos"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or(u128::MAX),
    }
}

#[allow(
    clippy::too_many_lines,
    reason = "one corpus size after another: generate, check, time, compare"
)]
fn usage_rows(opts: &Options, rows: &mut Vec<Row>, notes: &mut Vec<String>) -> Result<(), String> {
    let sizes: &[u64] = if opts.quick { &[10] } else { &[10, 200] };
    let runs = if opts.quick { 3 } else { 5 };
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    for &mib in sizes {
        let root = opts.out.join(format!("corpus-{mib}mib"));
        println!("corpus: generating {mib} MiB …");
        let corpus = corpus::generate(&root, mib << 20, 24, 0x00c1_a057 + mib)
            .map_err(|e| format!("corpus: {e}"))?;
        let expected = corpus.total();
        println!(
            "  {} bytes, {} files, {} messages, {} duplicate lines, {} tokens, {:.4} USD expected",
            corpus.bytes,
            expected.files,
            expected.messages,
            expected.duplicates,
            expected.total_tokens(),
            Nano(expected.cost_nanos)
        );
        let slug = corpus::slug("/srv/bench/p0000");
        let (line, added) = corpus::append_line(mib, "/srv/bench/p0000");
        let line_file = opts.out.join("append.jsonl");
        std::fs::write(&line_file, line).map_err(|e| e.to_string())?;
        let mut expected_after = expected;
        expected_after.add(&added);
        // Warm the page cache (the spec's "cold" is Clauster-cold, not disk-cold).
        for path in corpus::walk(&corpus.projects_dir()).map_err(|e| e.to_string())? {
            let _ = std::fs::read(path);
        }
        let (mut cold, mut incremental, mut growth) =
            (Runs::default(), Runs::default(), Runs::default());
        for _ in 0..runs {
            let output = Command::new(&me)
                .arg("rollup")
                .arg(corpus.projects_dir())
                .arg(&slug)
                .arg(&corpus.append_target)
                .arg(&line_file)
                .output()
                .map_err(|e| format!("rollup child: {e}"))?;
            if !output.status.success() {
                return Err(format!(
                    "rollup child failed: {}",
                    String::from_utf8_lossy(&output.stderr)
                ));
            }
            let v: serde_json::Value = serde_json::from_slice(&output.stdout)
                .map_err(|e| format!("rollup child output: {e}"))?;
            let got = parse_totals(&v["totals"]);
            if got != expected {
                return Err(format!(
                    "our rollup disagrees with the generator on {mib} MiB:\n  ours     {got:?}\n  expected {expected:?}"
                ));
            }
            let got_after = parse_totals(&v["after_append"]);
            if got_after != expected_after {
                return Err(format!(
                    "after the append our rollup disagrees with the generator:\n  ours     {got_after:?}\n  expected {expected_after:?}"
                ));
            }
            cold.push(v["cold_ms"].as_f64().unwrap_or(f64::NAN));
            incremental.push(v["incremental_ms"].as_f64().unwrap_or(f64::NAN));
            let before = v["rss_before"].as_u64().unwrap_or(0);
            let hwm = v["hwm_after_cold"].as_u64().unwrap_or(0);
            growth.push(f(hwm.saturating_sub(before)));
        }
        println!("  our totals equal the generator's, cold and after the append");
        let theirs = match &opts.ccusage {
            None => Err("not installed".to_owned()),
            Some(bin) => {
                let mut times = Runs::default();
                let mut failure = None;
                for _ in 0..runs {
                    match ccusage::run(bin, &corpus.root, &opts.out.join("ccusage-home")) {
                        Ok((took, totals)) => {
                            times.push(ms(took));
                            let equal = totals.input == expected.input
                                && totals.output == expected.output
                                && totals.cache_creation == expected.cache_5m + expected.cache_1h
                                && totals.cache_read == expected.cache_read;
                            let note = format!(
                                "{mib} MiB: ccusage tokens {} the generator's (in {} / out {} / write {} / read {}; cost {:.4} USD vs ours {:.4} USD)",
                                if equal { "equal" } else { "DIFFER from" },
                                totals.input,
                                totals.output,
                                totals.cache_creation,
                                totals.cache_read,
                                totals.cost_usd,
                                Nano(expected.cost_nanos)
                            );
                            if !notes.contains(&note) {
                                println!("  {note}");
                                notes.push(note);
                            }
                        }
                        Err(e) => {
                            failure = Some(e);
                            break;
                        }
                    }
                }
                failure.map_or(Ok(times), Err)
            }
        };
        let mut row = Row::new(format!("Usage rollup cold, {mib} MiB"), Unit::Ms, cold)
            .vs("ccusage", theirs.clone());
        if mib == 200 {
            row = row.target("≤ 150 ms (floor: ≥ 7× faster than ccusage)", 150.0);
        }
        rows.push(row);
        rows.push(
            Row::new(
                format!("Usage re-read after 1 appended line, {mib} MiB"),
                Unit::Ms,
                incremental,
            )
            .target("≤ 5 ms", 5.0),
        );
        let mut row = Row::new(
            format!("Rollup memory growth, {mib} MiB"),
            Unit::MiB,
            growth,
        );
        if mib == 200 {
            row = row.target("≤ 20 MiB", 20.0 * 1_048_576.0);
        }
        rows.push(row);
        if let Ok(t) = &theirs
            && let (Some(a), Some(b)) = (rows[rows.len() - 3].ours.median(), t.median())
        {
            let note = format!("{mib} MiB: ccusage / ours cold = {:.1}×", b / a);
            println!("  {note}");
            notes.push(note);
        }
    }
    Ok(())
}

/// Nano-dollars shown as USD.
struct Nano(u128);

impl std::fmt::Display for Nano {
    fn fmt(&self, out: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        #[allow(clippy::cast_precision_loss, reason = "display only")]
        let usd = self.0 as f64 / 1e9;
        std::fmt::Display::fmt(&usd, out)
    }
}

fn run(opts: &Options) -> Result<(), String> {
    std::fs::create_dir_all(&opts.out).map_err(|e| format!("{}: {e}", opts.out.display()))?;
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    usage_rows(opts, &mut rows, &mut notes)?;
    server_rows(opts, &mut rows);
    bridge_rows(opts, &mut rows);
    idle_rows(opts, &mut rows);
    transcript_rows(opts, &mut rows);
    if let Some(bytes) = opts.bundle_gzip {
        rows.push(
            Row::new("wasm bundle, gzip", Unit::Kb, Runs(vec![f(bytes)]))
                .target("≤ 400 KB", 400_000.0),
        );
    }
    let table = stats::table(&rows);
    println!("\n{table}");
    for note in &notes {
        println!("- {note}");
    }
    let report = format!(
        "{table}\n{}\n",
        notes
            .iter()
            .map(|n| format!("- {n}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    let path = opts.out.join("results.md");
    std::fs::write(&path, report).map_err(|e| format!("{}: {e}", path.display()))?;
    println!("\nwritten to {}", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    /// The three required paths, then `rest`.
    fn with_paths(rest: &[&str]) -> Vec<String> {
        let mut all = args(&["--clauster", "c", "--fake-claude", "f", "--out", "o"]);
        all.extend(args(rest));
        all
    }

    #[test]
    fn options_need_the_three_paths_and_refuse_unknown_flags() {
        let ok = Options::parse(&with_paths(&["--quick", "--bundle-gzip", "1234"])).expect("valid");
        assert_eq!(
            (ok.quick, ok.bundle_gzip, ok.python),
            (true, Some(1234), None)
        );

        let err = Options::parse(&args(&["--clauster", "c", "--out", "o"])).expect_err("no fake");
        assert!(
            err.starts_with("--fake-claude is required\nusage:"),
            "{err}"
        );
        let err = Options::parse(&args(&["--clauster"])).expect_err("no value");
        assert!(err.starts_with("--clauster needs a value"), "{err}");
        let err = Options::parse(&args(&["--fast", "x"])).expect_err("unknown");
        assert!(err.starts_with("unknown option --fast"), "{err}");
        let err = Options::parse(&with_paths(&["--bundle-gzip", "big"])).expect_err("not a number");
        assert!(err.starts_with("--bundle-gzip takes a byte count"), "{err}");
    }
}
