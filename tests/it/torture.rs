//! The engine under random pressure (issue 15): seeded sequences of operations against the
//! real `clauster` binary and the fake `claude` — start, stop, resume, start fresh, forget,
//! adopt, a `claude` started by hand, SIGKILL of a bridge, SIGKILL of the server and a
//! restart, the store and `~/.claude.json` locked for a while, fake modes that crash, stall or
//! are slow (with a short `startup_grace_seconds`, so deadlines fire), a project's restart
//! policy and keep-running flag changed, a by-hand bring-up of kept projects (issue 25, with
//! short restart backoffs, so automatic restarts and crash loops happen) — and after every step
//! the invariants, checked against `/proc` and the API:
//!
//! - never two live standard bridges in one directory (sampled every 100 ms, not only
//!   between steps);
//! - every live bridge Clauster manages is listed exactly once, alive, with a live status;
//! - no instance stays `starting` past its deadline (with slack for a loaded machine);
//! - `/healthz` answers, within 1 s for all but a few probes;
//! - nothing forgotten comes back (not in the list, not by its id, not after a restart);
//! - the idle server uses under 5 % of a core (at the end of each seed).
//!
//! `CLAUSTER_TORTURE_SEED=<n>[,<n>…]` replays seeds, `CLAUSTER_TORTURE_SEEDS=<count>` draws
//! that many fresh ones, `CLAUSTER_TORTURE_STEPS=<m>` sets the length; `cargo xtask torture
//! --seeds N --steps M` sets the last two and reports steps per second. Without them the
//! fixed seeds below run (CI).

use crate::support::{self, KillOnDrop, Sandbox, Server, fake_claude, start_server};

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::health::HealthProber;
use support::torture::{HeldLock, ProcBridge, Sampler, standard_bridges};

/// The seeds CI runs, and how many steps each.
const FIXED_SEEDS: [u64; 2] = [0x0015_0001, 0x0015_0002];
const FIXED_STEPS: usize = 200;

const PROJECTS: [&str; 3] = ["p0", "p1", "p2"];
/// Short, so the deadline fires within a run (the config's floor: above the pty URL timeout's
/// minimum of 5 s); long enough for a debug build to register.
const GRACE_SECONDS: u64 = 6;
/// How long past its deadline a `starting` instance may still be seen: a fallback relaunch
/// (§9.3) adds its own grace, a launch may wait out the `~/.claude.json` lock (5 s), and the
/// machine is loaded.
const STARTING_SLACK: Duration = Duration::from_secs(30);
/// How long the converging invariants (listing, settling) get after a step.
const CONVERGE: Duration = Duration::from_secs(30);
const MAX_IDLE_SHARE: f64 = 5.0;

#[derive(Debug)]
struct Settings {
    seeds: Vec<u64>,
    steps: usize,
    /// The fixed seeds run side by side (CI's time budget); chosen ones one after another,
    /// so steps per second mean one sequence's pace.
    concurrent: bool,
}

fn settings() -> Settings {
    let steps = std::env::var("CLAUSTER_TORTURE_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(FIXED_STEPS);
    if let Ok(list) = std::env::var("CLAUSTER_TORTURE_SEED") {
        let seeds = list
            .split(',')
            .map(|s| {
                let s = s.trim();
                s.strip_prefix("0x")
                    .map_or_else(|| s.parse(), |hex| u64::from_str_radix(hex, 16))
                    .unwrap_or_else(|_| panic!("CLAUSTER_TORTURE_SEED: not a seed: {s}"))
            })
            .collect();
        return Settings {
            seeds,
            steps,
            concurrent: false,
        };
    }
    if let Some(count) = std::env::var("CLAUSTER_TORTURE_SEEDS")
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
    {
        let mut rng = fastrand::Rng::new();
        return Settings {
            seeds: (0..count).map(|_| rng.u64(..)).collect(),
            steps,
            concurrent: false,
        };
    }
    Settings {
        seeds: FIXED_SEEDS.to_vec(),
        steps,
        concurrent: true,
    }
}

/// One seed on a runtime of its own (two workers: the test's requests never wait behind a
/// blocking helper of another seed).
fn run_seed(seed: u64, steps: usize) -> Report {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let report = runtime.block_on(Torture::new(seed, steps).run());
    eprintln!("torture seed {seed:#x}: {report}");
    report
}

#[test]
fn seeded_operation_sequences_keep_the_engine_invariants() {
    let settings = settings();
    let started = Instant::now();
    let reports: Vec<Report> = if settings.concurrent {
        let steps = settings.steps;
        let runs: Vec<_> = settings
            .seeds
            .iter()
            .map(|&seed| std::thread::spawn(move || run_seed(seed, steps)))
            .collect();
        runs.into_iter()
            .map(|run| {
                run.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    } else {
        settings
            .seeds
            .iter()
            .map(|&seed| run_seed(seed, settings.steps))
            .collect()
    };
    let mut totals = Totals::default();
    for report in &reports {
        totals.add(report);
    }
    let secs = started.elapsed().as_secs_f64();
    #[allow(clippy::cast_precision_loss, reason = "step counts are small")]
    let rate = totals.steps as f64 / secs;
    eprintln!(
        "torture: {} seeds × {} steps = {} steps without a violation in {secs:.0} s ({rate:.2} steps/s); \
         /healthz: {} probes, {} over 1 s, slowest {:?}; idle CPU at most {:.2} % of a core",
        settings.seeds.len(),
        settings.steps,
        totals.steps,
        totals.probes,
        totals.slow_probes,
        totals.slowest,
        totals.max_idle,
    );
}

#[derive(Default)]
struct Totals {
    steps: usize,
    probes: u64,
    slow_probes: u64,
    slowest: Duration,
    max_idle: f64,
}

impl Totals {
    fn add(&mut self, report: &Report) {
        self.steps += report.steps;
        self.probes += report.probes.probes;
        self.slow_probes += report.probes.slow;
        self.slowest = self.slowest.max(report.probes.slowest);
        self.max_idle = self.max_idle.max(report.idle_share);
    }
}

struct Report {
    steps: usize,
    outcomes: BTreeMap<String, usize>,
    probes: support::health::ProbeStats,
    idle_share: f64,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} steps, idle CPU {:.2} %, /healthz {} probes ({} over 1 s); outcomes:",
            self.steps, self.idle_share, self.probes.probes, self.probes.slow
        )?;
        for (outcome, count) in &self.outcomes {
            write!(f, " {outcome}×{count}")?;
        }
        Ok(())
    }
}

/// One operation of a sequence.
#[derive(Clone, Debug)]
enum Op {
    Start(usize),
    Stop(String),
    Resume(String),
    StartFresh(String),
    Forget(String),
    Adopt(usize),
    ByHand(usize),
    /// A start that waits on a held `~/.claude.json` lock while an operator starts a bridge
    /// by hand in the same project: the launch's blocking half must not spawn beside it.
    ByHandDuringStart(usize),
    KillBridge,
    KillServer,
    /// A start, stop or resume sent, and the server killed `after` it went out: the
    /// half-done request must be finished or undone by the next server.
    KillServerDuring(Box<Op>, Duration),
    LockStore(Duration),
    LockClaudeJson(Duration),
    Mode(usize, Mode),
    /// `PUT /api/projects/{p}/policy`: restart `on-failure` (or `never`), keep running.
    Policy {
        project: usize,
        on_failure: bool,
        keep_running: bool,
    },
    /// `POST /api/kept/start` (`clauster start --all-kept`).
    StartKept,
    Pause(Duration),
}

/// The fake's behaviour in a project (`.fake-claude.json`, fake-claude.md §2).
#[derive(Clone, Copy, Debug)]
enum Mode {
    Ready,
    Crash,
    Stall,
    /// Registers after 1 s: well within the grace.
    Slow,
    /// Registers after 8 s: past the grace, so the deadline fires first.
    TooSlow,
    /// Ready, then ends by itself half a second later.
    SessionEnd,
}

impl Mode {
    fn file(self) -> Value {
        match self {
            Self::Ready => json!({ "mode": "ready" }),
            Self::Crash => json!({ "mode": "crash" }),
            Self::Stall => json!({ "mode": "stall" }),
            Self::Slow => json!({ "mode": "slow", "slow": "1.0" }),
            Self::TooSlow => json!({ "mode": "slow", "slow": "8.0" }),
            Self::SessionEnd => json!({ "mode": "session_end" }),
        }
    }
}

/// A violation: what failed, at which step.
type Checked = Result<(), String>;

struct Torture {
    seed: u64,
    steps: usize,
    rng: fastrand::Rng,
    sandbox: Sandbox,
    claude: PathBuf,
    /// The projects' canonical directories, as `/proc/<pid>/cwd` shows them.
    dirs: Vec<PathBuf>,
    server: Option<Server>,
    env: Vec<(&'static str, String)>,
    http: reqwest::Client,
    /// Every instance id seen that was not forgotten.
    known: Vec<String>,
    forgotten: HashSet<String>,
    /// Bridges started by hand (not Clauster's), and those of them adopted since.
    by_hand: Vec<KillOnDrop>,
    adopted: HashSet<u32>,
    /// When an instance launch was first seen `starting`: (id, launch_count) → instant.
    starting_since: HashMap<(String, i64), Instant>,
    store_lock: Option<HeldLock>,
    claude_json_lock: Option<HeldLock>,
    sampler: Sampler,
    prober: HealthProber,
    history: Vec<String>,
    outcomes: BTreeMap<String, usize>,
}

impl Torture {
    fn new(seed: u64, steps: usize) -> Self {
        let sandbox = Sandbox::new();
        let mut dirs = Vec::new();
        let mut trusted = serde_json::Map::new();
        for name in PROJECTS {
            let dir = sandbox.project(name, &[".git"]);
            let canonical = std::fs::canonicalize(&dir).expect("a canonical project dir");
            trusted.insert(
                canonical.to_string_lossy().into_owned(),
                json!({ "hasTrustDialogAccepted": true }),
            );
            dirs.push(canonical);
        }
        std::fs::create_dir_all(sandbox.home()).expect("create HOME");
        std::fs::write(
            sandbox.home().join(".claude.json"),
            json!({ "projects": trusted }).to_string(),
        )
        .expect("write .claude.json");
        let claude = fake_claude(&sandbox);
        let marker = sandbox.dir.path().to_string_lossy().into_owned();
        let env = vec![
            (
                "CLAUSTER_CLAUDE_STARTUP_GRACE_SECONDS",
                GRACE_SECONDS.to_string(),
            ),
            ("CLAUSTER_CLAUDE_PTY_URL_TIMEOUT_SECONDS", "5".to_owned()),
            ("CLAUSTER_CLAUDE_READY_WAIT_SECONDS", "2".to_owned()),
            ("CLAUSTER_CLAUDE_STOP_GRACE_SECONDS", "1".to_owned()),
            ("CLAUSTER_USAGE_MODE", "off".to_owned()),
            // Automatic restarts within a step or two, crash loops within a few.
            (
                "CLAUSTER_INSTANCE_DEFAULTS_RESTART_BACKOFF_SECONDS",
                "0.2".to_owned(),
            ),
            (
                "CLAUSTER_INSTANCE_DEFAULTS_RESTART_BACKOFF_MAX_SECONDS",
                "2".to_owned(),
            ),
        ];
        Self {
            seed,
            steps,
            rng: fastrand::Rng::with_seed(seed),
            sandbox,
            claude,
            dirs,
            server: None,
            env,
            http: reqwest::Client::builder()
                .timeout(Duration::from_mins(1))
                .build()
                .expect("an HTTP client"),
            known: Vec::new(),
            forgotten: HashSet::new(),
            by_hand: Vec::new(),
            adopted: HashSet::new(),
            starting_since: HashMap::new(),
            store_lock: None,
            claude_json_lock: None,
            sampler: Sampler::start(marker),
            prober: HealthProber::start(),
            history: Vec::new(),
            outcomes: BTreeMap::new(),
        }
    }

    fn replay_hint(&self) -> String {
        format!(
            "replay: CLAUSTER_TORTURE_SEED={:#x} CLAUSTER_TORTURE_STEPS={} cargo xtask it torture::",
            self.seed, self.steps
        )
    }

    async fn run(mut self) -> Report {
        eprintln!(
            "torture seed {:#x}, {} steps ({})",
            self.seed,
            self.steps,
            self.replay_hint()
        );
        self.boot_server();
        for step in 1..=self.steps {
            let op = self.draw();
            self.history.push(format!("{step}: {op:?}"));
            let result = match self.perform(&op).await {
                Ok(()) => self.check().await,
                Err(err) => Err(err),
            };
            if let Err(violation) = result {
                self.fail(step, &op, &violation);
            }
        }
        let idle_share = match self.settle_and_measure().await {
            Ok(share) => share,
            Err(violation) => self.fail(self.steps, &Op::Pause(Duration::ZERO), &violation),
        };
        let probes = self.prober.stats();
        if let Err(violation) = probes.verdict() {
            self.fail(self.steps, &Op::Pause(Duration::ZERO), &violation);
        }
        Report {
            steps: self.steps,
            outcomes: self.outcomes.clone(),
            probes,
            idle_share,
        }
    }

    /// Panics with the seed, the step, the violation, the last operations and the server's
    /// log tail: everything needed to replay and read the failure.
    fn fail(&self, step: usize, op: &Op, violation: &str) -> ! {
        let recent = self.history.iter().rev().take(25).rev().cloned();
        let recent: Vec<String> = recent.collect();
        let log = self.server.as_ref().map(Server::log).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(60).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        panic!(
            "torture seed {:#x} failed at step {step} ({op:?}):\n{violation}\n\n{}\n\nlast operations:\n{}\n\nserver log (tail):\n{}",
            self.seed,
            self.replay_hint(),
            recent.join("\n"),
            tail.join("\n"),
        );
    }

    // ---- drawing ------------------------------------------------------------------------

    fn draw(&mut self) -> Op {
        let project = self.rng.usize(..PROJECTS.len());
        let roll = self.rng.u32(..100);
        match roll {
            0..16 => Op::Start(project),
            16..28 => self.pick_id().map_or(Op::Start(project), Op::Stop),
            28..38 => self.pick_id().map_or(Op::Start(project), Op::Resume),
            38..43 => self.pick_id().map_or(Op::Start(project), Op::StartFresh),
            43..50 => self.pick_id().map_or(Op::Start(project), Op::Forget),
            50..55 => Op::Adopt(project),
            55..58 => Op::ByHand(project),
            58..60 => Op::ByHandDuringStart(project),
            60..66 => Op::KillBridge,
            66..68 => Op::KillServer,
            68..70 => {
                let request = match (self.rng.u32(..3), self.pick_id()) {
                    (1, Some(id)) => Op::Stop(id),
                    (2, Some(id)) => Op::Resume(id),
                    _ => Op::Start(project),
                };
                Op::KillServerDuring(
                    Box::new(request),
                    Duration::from_millis(self.rng.u64(..600)),
                )
            }
            // Mostly shorter than the waits Clauster gives them (5 s), now and then longer.
            70..73 => Op::LockStore(Duration::from_millis(self.rng.u64(300..7000))),
            73..75 => Op::LockClaudeJson(Duration::from_millis(self.rng.u64(300..7000))),
            75..90 => {
                let mode = match self.rng.u32(..10) {
                    0..4 => Mode::Ready,
                    4 => Mode::Crash,
                    5 => Mode::Stall,
                    6 | 7 => Mode::Slow,
                    8 => Mode::TooSlow,
                    _ => Mode::SessionEnd,
                };
                Op::Mode(project, mode)
            }
            90..94 => Op::Policy {
                project,
                on_failure: self.rng.bool(),
                keep_running: self.rng.bool(),
            },
            94..96 => Op::StartKept,
            _ => Op::Pause(Duration::from_millis(self.rng.u64(200..2500))),
        }
    }

    /// A known instance, or now and then a forgotten one (which must stay gone).
    fn pick_id(&mut self) -> Option<String> {
        if !self.forgotten.is_empty() && self.rng.u32(..10) == 0 {
            let mut forgotten: Vec<&String> = self.forgotten.iter().collect();
            forgotten.sort();
            return Some(forgotten[self.rng.usize(..forgotten.len())].clone());
        }
        if self.known.is_empty() {
            return None;
        }
        Some(self.known[self.rng.usize(..self.known.len())].clone())
    }

    // ---- operations ---------------------------------------------------------------------

    /// Counts one more `outcome` for the report.
    fn tally(&mut self, outcome: &str) {
        *self.outcomes.entry(outcome.to_owned()).or_default() += 1;
    }

    /// Whether the test itself holds Clauster's `~/.claude.json` lock right now.
    fn claude_json_locked(&self) -> bool {
        self.claude_json_lock
            .as_ref()
            .is_some_and(HeldLock::is_held)
    }

    fn base(&self) -> &str {
        &self.server.as_ref().expect("a server is up").base
    }

    async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value), String> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base()));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| format!("{method} {path} got no answer: {e}"))?;
        let status = response.status().as_u16();
        Ok((status, response.json().await.unwrap_or(Value::Null)))
    }

    /// Records the outcome; a status outside `allowed` is a violation.
    fn expect(&mut self, what: &str, status: u16, body: &Value, allowed: &[u16]) -> Checked {
        let created = match body["created"].as_bool() {
            Some(true) => ":created",
            Some(false) => ":existing",
            None => "",
        };
        self.tally(&format!("{what}:{status}{created}"));
        if allowed.contains(&status) {
            Ok(())
        } else {
            Err(format!("{what} answered {status}: {body}"))
        }
    }

    fn learn(&mut self, instance: &Value) {
        if let Some(id) = instance["instance_id"].as_str()
            && !self.forgotten.contains(id)
            && !self.known.iter().any(|k| k == id)
        {
            self.known.push(id.to_owned());
        }
    }

    #[allow(clippy::too_many_lines, reason = "one arm per operation")]
    async fn perform(&mut self, op: &Op) -> Checked {
        match op {
            Op::Start(p) => {
                let (status, body) = self
                    .request(
                        reqwest::Method::POST,
                        "/api/instances",
                        Some(json!({ "project": PROJECTS[*p] })),
                    )
                    .await?;
                self.expect("start", status, &body, &[200, 201, 409, 503])?;
                self.learn(&body);
            }
            Op::Stop(id) => {
                let (status, body) = self
                    .request(
                        reqwest::Method::DELETE,
                        &format!("/api/instances/{id}"),
                        None,
                    )
                    .await?;
                self.expect_for_id("stop", id, status, &body, &[200, 503])?;
            }
            Op::Resume(id) | Op::StartFresh(id) => {
                let fresh = matches!(op, Op::StartFresh(_));
                let what = if fresh { "start-fresh" } else { "resume" };
                let (status, body) = self
                    .request(
                        reqwest::Method::POST,
                        &format!("/api/instances/{id}/resume"),
                        fresh.then(|| json!({ "fresh": true })),
                    )
                    .await?;
                self.expect_for_id(what, id, status, &body, &[200, 201, 409, 503])?;
            }
            Op::Forget(id) => {
                let (status, body) = self
                    .request(
                        reqwest::Method::POST,
                        &format!("/api/instances/{id}/forget"),
                        None,
                    )
                    .await?;
                self.expect_for_id("forget", id, status, &body, &[200, 409, 503])?;
                if status == 200 {
                    self.known.retain(|k| k != id);
                    self.forgotten.insert(id.clone());
                }
            }
            Op::Adopt(p) => {
                let (status, body) = self
                    .request(
                        reqwest::Method::POST,
                        &format!("/api/projects/{}/adopt", PROJECTS[*p]),
                        None,
                    )
                    .await?;
                self.expect("adopt", status, &body, &[201, 409, 503])?;
                if status == 201 {
                    if let Some(pid) = body["bridge_pid"]
                        .as_u64()
                        .and_then(|p| u32::try_from(p).ok())
                    {
                        self.adopted.insert(pid);
                    }
                    self.learn(&body);
                }
            }
            Op::ByHand(p) => self.start_by_hand(*p).await?,
            Op::ByHandDuringStart(p) => self.start_by_hand_during_start(*p).await?,
            Op::KillBridge => {
                let bridges = standard_bridges(&self.marker());
                if bridges.is_empty() {
                    self.tally("kill-bridge:none");
                } else {
                    let victim = &bridges[self.rng.usize(..bridges.len())];
                    self.tally("kill-bridge");
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(i32::try_from(victim.pid).expect("a pid")),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
            }
            Op::KillServer => {
                self.tally("kill-server");
                self.restart_server();
            }
            Op::KillServerDuring(request, after) => {
                self.tally("kill-server-during");
                let (method, path, body) = match &**request {
                    Op::Stop(id) => (
                        reqwest::Method::DELETE,
                        format!("/api/instances/{id}"),
                        None,
                    ),
                    Op::Resume(id) => (
                        reqwest::Method::POST,
                        format!("/api/instances/{id}/resume"),
                        None,
                    ),
                    Op::Start(p) => (
                        reqwest::Method::POST,
                        "/api/instances".to_owned(),
                        Some(json!({ "project": PROJECTS[*p] })),
                    ),
                    other => unreachable!("not drawn for a kill: {other:?}"),
                };
                let mut sent = self.http.request(method, format!("{}{path}", self.base()));
                if let Some(body) = body {
                    sent = sent.json(&body);
                }
                // Its answer does not matter: the server dies under it.
                let in_flight = tokio::spawn(sent.send());
                tokio::time::sleep(*after).await;
                self.restart_server();
                in_flight.abort();
            }
            Op::LockStore(hold) => {
                if self.store_lock.as_ref().is_some_and(HeldLock::is_held) {
                    self.tally("lock-store:busy");
                } else {
                    if let Some(done) = self.store_lock.take() {
                        done.release()?;
                    }
                    self.tally("lock-store");
                    let db = self.sandbox.state_dir().join("clauster.sqlite3");
                    self.store_lock = Some(HeldLock::store(db, *hold));
                }
            }
            Op::LockClaudeJson(hold) => {
                if self.claude_json_locked() {
                    self.tally("lock-claude-json:busy");
                } else {
                    if let Some(done) = self.claude_json_lock.take() {
                        done.release()?;
                    }
                    self.tally("lock-claude-json");
                    let file = support::torture::claude_json_lock(
                        &self.sandbox.state_dir(),
                        &self.sandbox.home().join(".claude.json"),
                    );
                    self.claude_json_lock = Some(HeldLock::file(file, *hold));
                }
            }
            Op::Mode(p, mode) => self.set_mode(*p, *mode),
            Op::Policy {
                project,
                on_failure,
                keep_running,
            } => {
                let restart = if *on_failure { "on-failure" } else { "never" };
                let (status, body) = self
                    .request(
                        reqwest::Method::PUT,
                        &format!("/api/projects/{}/policy", PROJECTS[*project]),
                        Some(json!({ "restart": restart, "keep_running": keep_running })),
                    )
                    .await?;
                self.expect("policy", status, &body, &[200, 503])?;
            }
            Op::StartKept => {
                let (status, body) = self
                    .request(reqwest::Method::POST, "/api/kept/start", None)
                    .await?;
                self.expect("start-kept", status, &body, &[200, 503])?;
            }
            Op::Pause(wait) => tokio::time::sleep(*wait).await,
        }
        Ok(())
    }

    /// A request naming an instance: a forgotten one must be unknown (404), a known one must
    /// never be.
    fn expect_for_id(
        &mut self,
        what: &str,
        id: &str,
        status: u16,
        body: &Value,
        allowed: &[u16],
    ) -> Checked {
        if self.forgotten.contains(id) {
            return self.expect(&format!("{what}-forgotten"), status, body, &[404]);
        }
        self.expect(what, status, body, allowed)?;
        self.learn(body);
        Ok(())
    }

    fn set_mode(&self, project: usize, mode: Mode) {
        std::fs::write(
            self.dirs[project].join(".fake-claude.json"),
            mode.file().to_string(),
        )
        .expect("write .fake-claude.json");
    }

    fn marker(&self) -> String {
        self.sandbox.dir.path().to_string_lossy().into_owned()
    }

    /// An operator's `claude remote-control` in a project where no standard bridge runs and
    /// none is being launched (else the test itself would put two in one directory). It
    /// registers (ready mode) before the step ends, so Clauster can see it.
    async fn start_by_hand(&mut self, project: usize) -> Checked {
        let dir = self.dirs[project].clone();
        let occupied = standard_bridges(&self.marker())
            .iter()
            .any(|b| b.cwd == dir);
        let (status, listed) = self
            .request(reqwest::Method::GET, "/api/instances", None)
            .await?;
        if status != 200 {
            return Err(format!("GET /api/instances answered {status}: {listed}"));
        }
        let launching = listed.as_array().into_iter().flatten().any(|i| {
            i["project"] == PROJECTS[project]
                && i["resume_mode"] == "standard"
                && (i["status"] == "starting" || i["stopping"] == true)
        });
        if occupied || launching {
            self.tally("by-hand:occupied");
            return Ok(());
        }
        self.set_mode(project, Mode::Ready);
        let mut cmd = self.sandbox.command(&self.claude);
        cmd.args(["remote-control", "--name", "by-hand", "--spawn", "same-dir"])
            .current_dir(&dir);
        let log = self
            .sandbox
            .dir
            .path()
            .join(format!("by-hand-{}.log", self.by_hand.len()));
        let child = support::spawn_logged(cmd, &log);
        let pid = child.0.id();
        self.by_hand.push(child);
        self.tally("by-hand");
        let pointer = self
            .sandbox
            .home()
            .join(".claude/projects")
            .join(clauster_core::slug::slug(&dir.to_string_lossy()))
            .join("bridge-pointer.json");
        let registered = support::wait_for(Duration::from_secs(20), || {
            let text = std::fs::read_to_string(&pointer).ok()?;
            let value: Value = serde_json::from_str(&text).ok()?;
            (value["pid"] == json!(pid)).then_some(())
        });
        registered.ok_or_else(|| {
            format!(
                "the bridge started by hand in {} never registered",
                dir.display()
            )
        })
    }

    /// SIGKILL of the server, then a new one on the same state.
    fn restart_server(&mut self) {
        self.prober.target(None);
        if let Some(mut server) = self.server.take() {
            let _ = server.child.0.kill();
            let _ = server.child.0.wait();
            self.history.push(format!(
                "(killed the server; its log: {})",
                server.log.display()
            ));
        }
        self.boot_server();
    }

    /// [`Self::start_by_hand`] while a Start of the same project waits for the
    /// `~/.claude.json` lock (step 12, off the supervisor).
    async fn start_by_hand_during_start(&mut self, project: usize) -> Checked {
        if self.claude_json_locked() {
            self.tally("by-hand-during-start:busy");
            return Ok(());
        }
        if let Some(done) = self.claude_json_lock.take() {
            done.release()?;
        }
        let file = support::torture::claude_json_lock(
            &self.sandbox.state_dir(),
            &self.sandbox.home().join(".claude.json"),
        );
        // The start waits for the lock only when it has something to write (bridges.md §12.4):
        // the acknowledgement, undone here as a fresh `claude` login would.
        let global = self.sandbox.home().join(".claude.json");
        if let Some(mut config) = std::fs::read_to_string(&global)
            .ok()
            .and_then(|text| serde_json::from_str::<Value>(&text).ok())
            .filter(Value::is_object)
        {
            config["remoteDialogSeen"] = json!(false);
            std::fs::write(&global, config.to_string())
                .map_err(|e| format!("cannot write {}: {e}", global.display()))?;
        }
        let lock = HeldLock::file(file, Duration::from_millis(1500));
        let start = self
            .http
            .post(format!("{}/api/instances", self.base()))
            .json(&json!({ "project": PROJECTS[project] }))
            .send();
        let start = tokio::spawn(async move {
            let response = start
                .await
                .map_err(|e| format!("the start got no answer: {e}"))?;
            let status = response.status().as_u16();
            Ok::<_, String>((
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            ))
        });
        self.start_by_hand(project).await?;
        lock.release()?;
        let (status, body) = start
            .await
            .map_err(|e| format!("the start task failed: {e}"))??;
        self.expect("start-beside-by-hand", status, &body, &[200, 201, 409, 503])?;
        self.learn(&body);
        Ok(())
    }

    fn boot_server(&mut self) {
        self.wait_for_the_engine_lock();
        let env: Vec<(&str, &str)> = self.env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let server = start_server(&self.sandbox, Some(&self.claude), &[], &env);
        let port = server
            .base
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("the server's port");
        self.server = Some(server);
        self.prober.target(Some(port));
    }

    /// Waits (≤ 15 s) until nothing holds the state's engine lock before a server starts: a
    /// child the killed server forked an instant before the SIGKILL shares the lock until it
    /// execs. A lock still held after that is a violation, named with its holder.
    fn wait_for_the_engine_lock(&mut self) {
        let path = self.sandbox.state_dir().join("engine.lock");
        let free = support::wait_for(Duration::from_secs(15), || {
            let Ok(file) = std::fs::OpenOptions::new().read(true).open(&path) else {
                return Some(());
            };
            file.try_lock().ok()
        });
        if free.is_none() {
            let holder = std::fs::read_to_string(&path).unwrap_or_default();
            let pid = holder.lines().next().unwrap_or("").trim().to_owned();
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
                .unwrap_or_default();
            panic!(
                "the engine lock is still held 15 s after the server was killed: pid {pid} ({cmdline})\n{}",
                self.history.join("\n")
            );
        }
    }

    // ---- invariants ---------------------------------------------------------------------

    async fn list(&self) -> Result<Vec<Value>, String> {
        let (status, listed) = self
            .request(reqwest::Method::GET, "/api/instances", None)
            .await?;
        if status != 200 {
            return Err(format!("GET /api/instances answered {status}: {listed}"));
        }
        Ok(listed.as_array().cloned().unwrap_or_default())
    }

    /// The invariants after a step: the safety ones at once, the listing once it converged.
    async fn check(&mut self) -> Checked {
        let deadline = Instant::now() + CONVERGE;
        loop {
            if let Some(violation) = self.sampler.violation() {
                return Err(violation);
            }
            let listed = self.list().await?;
            for instance in &listed {
                self.learn(instance);
            }
            self.check_forgotten(&listed)?;
            self.check_deadlines(&listed)?;
            match self.check_listed(&listed) {
                Ok(()) => return Ok(()),
                Err(err) if Instant::now() >= deadline => {
                    return Err(format!("{err}\n(not settled within {CONVERGE:?})"));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    fn check_forgotten(&self, listed: &[Value]) -> Checked {
        match listed.iter().find(|i| {
            i["instance_id"]
                .as_str()
                .is_some_and(|id| self.forgotten.contains(id))
        }) {
            Some(back) => Err(format!("a forgotten instance came back: {back:#}")),
            None => Ok(()),
        }
    }

    fn check_deadlines(&mut self, listed: &[Value]) -> Checked {
        let now = Instant::now();
        let mut seen = HashSet::new();
        for instance in listed {
            if instance["status"] != "starting" {
                continue;
            }
            let key = (
                instance["instance_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                instance["launch_count"].as_i64().unwrap_or_default(),
            );
            let since = *self.starting_since.entry(key.clone()).or_insert(now);
            seen.insert(key);
            let limit = Duration::from_secs(GRACE_SECONDS) + STARTING_SLACK;
            if now.duration_since(since) > limit {
                return Err(format!(
                    "an instance stayed `starting` for over {limit:?} (grace {GRACE_SECONDS} s): {instance:#}"
                ));
            }
        }
        self.starting_since.retain(|key, _| seen.contains(key));
        Ok(())
    }

    /// Every live bridge Clauster manages — launched by it, or adopted — is listed exactly
    /// once, alive, with a live status.
    fn check_listed(&self, listed: &[Value]) -> Checked {
        let by_hand: HashSet<u32> = self.by_hand.iter().map(|c| c.0.id()).collect();
        let bridges: Vec<ProcBridge> = standard_bridges(&self.marker())
            .into_iter()
            .filter(|b| !by_hand.contains(&b.pid) || self.adopted.contains(&b.pid))
            .collect();
        let mut problems = String::new();
        for bridge in &bridges {
            let holders: Vec<&Value> = listed
                .iter()
                .filter(|i| {
                    i["bridge_pid"].as_u64() == Some(u64::from(bridge.pid)) && i["alive"] == true
                })
                .collect();
            let live_status =
                |i: &&Value| matches!(i["status"].as_str(), Some("starting" | "running" | "error"));
            if holders.len() != 1 || !holders.iter().all(live_status) {
                let _ = writeln!(
                    problems,
                    "the managed bridge {} in {} is listed {} time(s) as live: {holders:#?}",
                    bridge.pid,
                    bridge.cwd.display(),
                    holders.len()
                );
            }
        }
        // And the other way: `running` is shown only for a bridge that lives.
        for instance in listed {
            if instance["status"] != "running" || instance["resume_mode"] != "standard" {
                continue;
            }
            let pid = instance["bridge_pid"].as_u64();
            if instance["alive"] != true || !bridges.iter().any(|b| Some(u64::from(b.pid)) == pid) {
                let _ = writeln!(
                    problems,
                    "{} is `running` without a live bridge (pid {pid:?})",
                    instance["instance_id"]
                );
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(format!("{problems}every instance: {listed:#?}"))
        }
    }

    /// Ends the run quietly: locks released, nothing starting or stopping; then the idle
    /// server's CPU share, the lowest of up to three 5 s windows (a busy loop shows in all of
    /// them, a neighbour's load in none).
    async fn settle_and_measure(&mut self) -> Result<f64, String> {
        for lock in [self.store_lock.take(), self.claude_json_lock.take()]
            .into_iter()
            .flatten()
        {
            lock.release()?;
        }
        // No more automatic restarts: a stalling project would otherwise keep relaunching.
        for project in PROJECTS {
            let (status, body) = self
                .request(
                    reqwest::Method::PUT,
                    &format!("/api/projects/{project}/policy"),
                    Some(json!({ "restart": "never" })),
                )
                .await?;
            if status != 200 {
                return Err(format!(
                    "the policy of {project} could not be reset: {status} {body}"
                ));
            }
        }
        let deadline = Instant::now() + CONVERGE;
        loop {
            let listed = self.list().await?;
            let busy = listed
                .iter()
                .any(|i| i["status"] == "starting" || i["stopping"] == true);
            if !busy {
                break;
            }
            if Instant::now() >= deadline {
                return Err(format!("the engine did not settle: {listed:#?}"));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        self.check().await?;
        let pid = self.server.as_ref().expect("a server is up").pid();
        let mut lowest = f64::MAX;
        for _ in 0..3 {
            lowest = lowest.min(cpu_share(pid, Duration::from_secs(5)).await);
            if lowest < MAX_IDLE_SHARE {
                return Ok(lowest);
            }
        }
        Err(format!(
            "the idle server used {lowest:.1} % of a core in each of three 5 s windows"
        ))
    }
}

/// The server's own CPU time (`utime + stime`) over `window`, as a share of one core.
async fn cpu_share(pid: u32, window: Duration) -> f64 {
    let ticks = || -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let field =
            |n: usize| -> u64 { fields.get(n - 3).and_then(|f| f.parse().ok()).unwrap_or(0) };
        field(14) + field(15)
    };
    let before = ticks();
    tokio::time::sleep(window).await;
    let used = ticks().saturating_sub(before);
    // CLK_TCK is 100 on every Linux this runs on.
    #[allow(clippy::cast_precision_loss, reason = "tick counts are small")]
    let share = used as f64 * 100.0 / (100.0 * window.as_secs_f64());
    share
}
