//! The client's store of instances and what keeps it current: API calls and the
//! `/ws/events` push stream (http-api.md §8.4). The browser parts exist only with `hydrate`;
//! on the server nothing here runs (event handlers never fire during SSR).

use std::collections::BTreeMap;

use clauster_wire::{
    CheckReport, CloneJobState, Frame, Instance, LoginStatus, Metrics, PageContext, Project,
    Readiness, Sequenced, SessionsView, Snapshot, Usage,
};
use leptos::prelude::*;

/// Every instance the dashboard knows of, keyed by `instance_id`, in arrival order.
pub type Instances = RwSignal<Vec<Instance>>;

/// The state of the `/ws/events` connection, which decides the connection banner (ui.md §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conn {
    /// Not yet open, or down for less than 3 s: no banner.
    Connecting,
    Up,
    /// Down for 3 s or more: "Live updates paused — reconnecting…".
    Reconnecting,
    /// 3 connects failed in a row: `GET /api/state` every `poll_seconds`.
    Polling,
    /// Neither the socket nor `GET /api/state` gets an answer: everything shown is the last
    /// known state (issue 19 bug 3); polls continue with backoff until one answers.
    Unreachable,
}

impl Conn {
    /// Whether what the page shows may be out of date (greyed, "last known").
    pub fn is_stale(self) -> bool {
        matches!(self, Self::Reconnecting | Self::Unreachable)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ToastKind {
    Info,
    Ok,
    Warn,
    Error,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Toast {
    pub id: u64,
    pub kind: ToastKind,
    pub text: String,
}

/// The header's readiness (ui.md §2.1): the snapshot's, then each `readiness` frame; and
/// whether its panel is open (one signal: the store stays small enough to copy).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HostReadiness {
    pub current: Option<Readiness>,
    pub panel_open: bool,
    /// The dashboard's sign-in of claude, from the `login_flow` frames (issue 20).
    pub flow: Option<clauster_wire::LoginFlowFrame>,
}

/// The client's one store (ui.md §1): replaced by each `snapshot`, patched by every other
/// frame. Copy, so every component and handler can hold it.
#[derive(Clone, Copy)]
pub struct Store {
    /// The page context; a `settings` frame (a saved setting that applies live, config.md
    /// §8.4) replaces its usage and metrics parts, which the badges follow.
    pub context: RwSignal<PageContext>,
    pub projects: RwSignal<Vec<Project>>,
    pub instances: Instances,
    pub login: RwSignal<Option<LoginStatus>>,
    /// The host's readiness (ui.md §2.1) and whether its panel is open.
    pub readiness: RwSignal<HostReadiness>,
    /// The cost/token rollup of each project that has been computed, by project name.
    pub usage: RwSignal<BTreeMap<String, Usage>>,
    /// The resource use of each running bridge, by `instance_id`.
    pub metrics: RwSignal<BTreeMap<String, Metrics>>,
    /// Each project's readiness checks (http-api.md §4), by project name.
    pub preflight: RwSignal<BTreeMap<String, CheckReport>>,
    /// Tracked, external and adoptable sessions (the last `sessions` frame).
    pub sessions: RwSignal<SessionsView>,
    pub conn: RwSignal<Conn>,
    /// Plain values no view reacts to: when the server last answered, the next toast id.
    marks: StoredValue<Marks>,
    pub toasts: RwSignal<Vec<Toast>>,
    /// Instances whose log panel is open, in opening order.
    pub open_logs: RwSignal<Vec<String>>,
    /// Clone jobs the server reported (snapshot `clone_jobs`, then `clone` frames), by job.
    pub clone_jobs: RwSignal<Vec<CloneJobState>>,
    /// Set by the new-project panel's openers elsewhere on the page (the orientation card):
    /// `Some(true)` opens it on Clone, `Some(false)` on Create.
    pub new_project: RwSignal<Option<bool>>,
}

/// The store's plain values (one field, so the store stays small enough to copy).
#[derive(Debug, Default)]
struct Marks {
    /// When the server last answered (a frame or a state poll), in epoch milliseconds.
    last_contact: f64,
    next_toast: u64,
}

/// The item of `list` that `matches` picks, following the list's changes; `None` while
/// there is none.
fn find_memo<T>(
    list: RwSignal<Vec<T>>,
    matches: impl Fn(&T) -> bool + Send + Sync + 'static,
) -> Memo<Option<T>>
where
    T: Clone + PartialEq + Send + Sync + 'static,
{
    Memo::new(move |_| list.with(|items| items.iter().find(|item| matches(item)).cloned()))
}

impl Store {
    /// Project `name` as the store has it now, following its changes (a card's data).
    pub fn project_named(self, name: &str) -> Memo<Option<Project>> {
        let name = name.to_owned();
        find_memo(self.projects, move |p| p.name == name)
    }

    /// Instance `id` as the store has it now, following its changes (a row's data).
    pub fn instance_with_id(self, id: &str) -> Memo<Option<Instance>> {
        let id = id.to_owned();
        find_memo(self.instances, move |i| i.instance_id == id)
    }

    /// The label of instance `id` as the store has it now, following its changes; the id
    /// itself while the instance is unknown (the panels of logs and terminals show it).
    pub fn instance_label(self, id: &str) -> Memo<String> {
        let id = id.to_owned();
        Memo::new(move |_| {
            self.instances.with(|list| {
                list.iter()
                    .find(|i| i.instance_id == id)
                    .map_or_else(|| id.clone(), |i| i.label.clone())
            })
        })
    }

    pub fn new(context: PageContext, projects: Vec<Project>, instances: Vec<Instance>) -> Self {
        Self {
            context: RwSignal::new(context),
            projects: RwSignal::new(projects),
            instances: RwSignal::new(instances),
            login: RwSignal::new(None),
            readiness: RwSignal::new(HostReadiness::default()),
            usage: RwSignal::new(BTreeMap::new()),
            metrics: RwSignal::new(BTreeMap::new()),
            preflight: RwSignal::new(BTreeMap::new()),
            sessions: RwSignal::new(SessionsView::default()),
            conn: RwSignal::new(Conn::Connecting),
            marks: StoredValue::new(Marks::default()),
            toasts: RwSignal::new(Vec::new()),
            open_logs: RwSignal::new(Vec::new()),
            clone_jobs: RwSignal::new(Vec::new()),
            new_project: RwSignal::new(None),
        }
    }

    /// The badges' figures the page was rendered with (the server's and the browser's first
    /// render must agree, so hydration finds the same badges).
    pub fn seed_badges(&self, badges: clauster_wire::BadgeData) {
        self.usage.set(badges.usage);
        self.metrics.set(badges.metrics);
        self.preflight.set(badges.preflight);
        self.readiness.update(|r| r.current = badges.readiness);
    }

    /// The server answered at `now` (epoch milliseconds).
    pub fn touch(&self, now: f64) {
        self.marks.update_value(|m| m.last_contact = now);
    }

    /// When the server last answered, in epoch milliseconds (0 before it ever did).
    pub fn last_contact(&self) -> f64 {
        self.marks.with_value(|m| m.last_contact)
    }

    /// `root_path` + `path`: every URL the UI asks for.
    pub fn url(&self, path: &str) -> String {
        self.context
            .with_untracked(|c| format!("{}{path}", c.root_path))
    }

    /// Shows a toast; all but errors fade after a few seconds.
    pub fn toast(&self, kind: ToastKind, text: impl Into<String>) {
        let id = self.marks.with_value(|m| m.next_toast);
        self.marks.update_value(|m| m.next_toast = id + 1);
        self.toasts.update(|list| {
            list.push(Toast {
                id,
                kind,
                text: text.into(),
            });
        });
        #[cfg(feature = "hydrate")]
        if kind != ToastKind::Error {
            let toasts = self.toasts;
            set_timeout(
                move || toasts.update(|list| list.retain(|t| t.id != id)),
                std::time::Duration::from_secs(6),
            );
        }
    }

    pub fn dismiss(&self, id: u64) {
        self.toasts.update(|list| list.retain(|t| t.id != id));
    }

    /// Takes the answer of a start or resume: the instance, its warnings and why nothing was
    /// created (ui.md §4.4).
    pub fn take_outcome(&self, text: &str) {
        let Ok(outcome) = clauster_wire::decode::spawn_outcome(text) else {
            return;
        };
        for warning in &outcome.warnings {
            self.toast(ToastKind::Warn, warning.clone());
        }
        if !outcome.created {
            let reason = outcome
                .reason
                .clone()
                .unwrap_or_else(|| "An instance is already running.".to_owned());
            self.toast(ToastKind::Info, reason);
        }
        let known = self.instances.with_untracked(|list| {
            list.iter()
                .find(|i| i.instance_id == outcome.instance.instance_id)
                .map(|i| i.status.clone())
        });
        // The answer can already say the launch failed (a frame may have said it first).
        if let Some(text) = crate::failure_text::failure_toast(
            Some(known.as_deref().unwrap_or("starting")),
            &outcome.instance,
        ) {
            self.toast(ToastKind::Error, text);
        }
        insert_if_absent(self.instances, outcome.instance);
    }

    /// Replaces everything from a `snapshot` frame or `GET /api/state`.
    pub fn apply_snapshot(&self, snapshot: Snapshot) {
        self.projects.set(sorted(snapshot.projects));
        self.instances.set(snapshot.instances);
        self.usage.set(snapshot.usage);
        self.metrics.set(snapshot.metrics);
        self.preflight.set(snapshot.preflight);
        self.sessions.set(snapshot.sessions);
        self.login.set(Some(snapshot.login));
        if snapshot.readiness.is_some() {
            self.readiness.update(|r| r.current = snapshot.readiness);
        }
        self.clone_jobs.set(
            snapshot
                .clone_jobs
                .into_iter()
                .map(|job| CloneJobState {
                    job_id: job.job_id,
                    name: job.name,
                    phase: job.phase,
                    percent: job.percent,
                    status: "running".to_owned(),
                })
                .collect(),
        );
    }

    /// Inserts or replaces a project, keeping the case-insensitive name order.
    pub fn upsert_project(&self, project: Project) {
        self.projects.update(|list| {
            if let Some(known) = list.iter_mut().find(|p| p.name == project.name) {
                *known = project;
            } else {
                list.push(project);
                sort_projects_with(list, &by_name);
            }
        });
    }
}

fn sorted(mut projects: Vec<Project>) -> Vec<Project> {
    sort_projects_with(&mut projects, &by_name);
    projects
}

/// Case-insensitive name order. Names are ASCII (`ProjectName`): ASCII folding is exact and
/// keeps Unicode's case tables out of the bundle (issue 19's size budget).
pub fn by_name(a: &Project, b: &Project) -> std::cmp::Ordering {
    a.name
        .to_ascii_lowercase()
        .cmp(&b.name.to_ascii_lowercase())
}

/// Sorts `list` by `order` through one instantiation of the standard sort: each closure
/// handed to `sort_by` would be another copy of it in the wasm bundle.
pub fn sort_projects_with(
    list: &mut [Project],
    order: &dyn Fn(&Project, &Project) -> std::cmp::Ordering,
) {
    list.sort_by(|a, b| order(a, b));
}

/// Inserts or replaces `instance` by its id.
pub fn upsert(list: &mut Vec<Instance>, instance: Instance) {
    match list
        .iter_mut()
        .find(|known| known.instance_id == instance.instance_id)
    {
        Some(known) => *known = instance,
        None => list.push(instance),
    }
}

/// Adds `instance` from an API answer unless a frame already delivered it: frames are the
/// truth, and an answer can arrive after a newer frame.
pub fn insert_if_absent(store: Instances, instance: Instance) {
    store.update(|list| {
        if !list.iter().any(|i| i.instance_id == instance.instance_id) {
            list.push(instance);
        }
    });
}

/// Applies one `/ws/events` text frame to the store; frames of kinds the dashboard does not
/// show yet are ignored. A bridge that turns from starting to running gets a toast.
pub fn apply_frame(store: &Store, text: &str) {
    let Ok(Sequenced { frame, .. }) = clauster_wire::decode::frame(text) else {
        return;
    };
    match frame {
        Frame::Snapshot(snapshot) => store.apply_snapshot(snapshot),
        Frame::Instance { instance } => {
            let before = store.instances.with_untracked(|list| {
                list.iter()
                    .find(|i| i.instance_id == instance.instance_id)
                    .map(|i| i.status.clone())
            });
            if before.as_deref() == Some("starting") && instance.status == "running" {
                store.toast(ToastKind::Ok, format!("{} is ready", instance.label));
            }
            // A launch or resume that failed: said where it cannot be missed (issue 19).
            if let Some(text) = crate::failure_text::failure_toast(
                Some(before.as_deref().unwrap_or("starting")),
                &instance,
            ) {
                store.toast(ToastKind::Error, text);
            }
            store.instances.update(|list| upsert(list, instance));
        }
        Frame::InstanceRemoved { instance_id } => {
            store
                .instances
                .update(|list| list.retain(|i| i.instance_id != instance_id));
            store
                .open_logs
                .update(|list| list.retain(|id| *id != instance_id));
        }
        Frame::Project { project, preflight } => {
            if let Some(report) = preflight {
                store.preflight.update(|all| {
                    all.insert(project.name.clone(), report);
                });
            }
            store.upsert_project(project);
        }
        Frame::Sessions(view) => store.sessions.set(view),
        Frame::Usage { project, usage } => {
            store.usage.update(|all| {
                all.insert(project, usage);
            });
        }
        // A metrics frame carries every running bridge: bridges that stopped drop out.
        Frame::Metrics { metrics } => store.metrics.set(metrics),
        Frame::ProjectRemoved { name } => {
            store
                .projects
                .update(|list| list.retain(|p| p.name != name));
            store.preflight.update(|all| {
                all.remove(&name);
            });
        }
        Frame::Login(login) => store.login.set(Some(login)),
        Frame::Readiness(readiness) => store.readiness.update(|r| r.current = Some(readiness)),
        Frame::LoginFlow(flow) => store.readiness.update(|r| r.flow = Some(flow)),
        Frame::Settings { usage, metrics } => {
            store.context.update(|c| {
                c.usage = usage;
                c.metrics = metrics;
            });
        }
        // A reconnect may have missed a `settings` frame: the hello's context has it.
        Frame::Hello { context, .. } => {
            let stale = store
                .context
                .with_untracked(|c| c.usage != context.usage || c.metrics != context.metrics);
            if stale {
                store.context.update(|c| {
                    c.usage = context.usage;
                    c.metrics = context.metrics;
                });
            }
        }
        // Not shown by the dashboard yet.
        Frame::Health(_) | Frame::Heartbeat { .. } | Frame::Resync { .. } => {}
        Frame::Clone { job } => store.clone_jobs.update(|jobs| {
            match jobs.iter_mut().find(|known| known.job_id == job.job_id) {
                Some(known) => *known = job,
                None => jobs.push(job),
            }
        }),
    }
}

/// An API call that did not succeed: the HTTP status (0 when nothing answered), the error's
/// `detail`, and the raw body for callers that read more of it (a 409's `current_sha256`, a
/// 422's `field`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub status: u16,
    pub detail: String,
    pub body: String,
}

impl Failure {
    /// The `field` a 422 names (http-api.md §1), if any.
    pub fn field(&self) -> Option<String> {
        // The typed error body: a `Value` here would put a second JSON decoder in the bundle.
        serde_json::from_str::<clauster_wire::ErrorBody>(&self.body)
            .ok()?
            .field
    }
}

/// Like [`request`], but a failure keeps its status and body.
#[cfg(feature = "hydrate")]
pub fn call(
    method: &'static str,
    url: String,
    body: Option<String>,
    done: impl FnOnce(Result<String, Failure>) + 'static,
) {
    wasm_bindgen_futures::spawn_local(async move {
        let result = browser::fetch_full(method, &url, body.as_deref()).await;
        done(result);
    });
}

/// On the server no event handler runs, so no request is ever sent from here.
#[cfg(not(feature = "hydrate"))]
#[allow(clippy::needless_pass_by_value)]
pub fn call(
    _method: &'static str,
    _url: String,
    _body: Option<String>,
    _done: impl FnOnce(Result<String, Failure>) + 'static,
) {
}

/// Sends one API request with an optional JSON body; `done` gets the response text on a 2xx
/// status, else the error's `detail`. A [`call`] that keeps only the `detail` of a failure.
pub fn request(
    method: &'static str,
    url: String,
    body: Option<String>,
    done: impl FnOnce(Result<String, String>) + 'static,
) {
    call(method, url, body, move |result| {
        done(result.map_err(|failure| failure.detail));
    });
}

#[cfg(feature = "hydrate")]
pub use browser::connect;

#[cfg(feature = "hydrate")]
mod browser {
    use std::cell::Cell;
    use std::rc::Rc;
    use std::time::Duration;

    use leptos::prelude::*;
    use wasm_bindgen::JsCast;
    use wasm_bindgen::prelude::Closure;
    use wasm_bindgen_futures::JsFuture;
    use web_sys::{CloseEvent, Headers, MessageEvent, RequestInit, Response, WebSocket};

    use super::{Conn, Store, apply_frame};

    const FIRST_DELAY_MS: f64 = 500.0;
    const MAX_DELAY_MS: f64 = 10_000.0;
    /// Failed connects in a row before the `GET /api/state` fallback starts (http-api.md §8.4).
    const FAILURES_BEFORE_POLLING: u32 = 3;
    /// How long the socket may be down before the banner shows (ui.md §2).
    const BANNER_AFTER: Duration = Duration::from_secs(3);

    /// The `detail` of an error body, or a generic sentence with the status.
    fn error_detail(status: u16, body: &str) -> String {
        serde_json::from_str::<clauster_wire::ErrorBody>(body).map_or_else(
            |_| format!("The request failed (HTTP {status})."),
            |e| e.detail,
        )
    }

    pub async fn fetch(method: &str, url: &str, body: Option<&str>) -> Result<String, String> {
        fetch_full(method, url, body).await.map_err(|f| f.detail)
    }

    thread_local! {
        /// `<root_path>/login`, known once the page connects.
        static LOGIN_URL: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
    }

    /// Any 401 from an API call means the session ended: the browser goes to the login page
    /// (ui.md §11).
    fn signed_out() {
        if let Some(url) = LOGIN_URL.with_borrow(Clone::clone) {
            crate::dom::redirect(&url);
        }
    }

    pub async fn fetch_full(
        method: &str,
        url: &str,
        body: Option<&str>,
    ) -> Result<String, super::Failure> {
        let failed = |_| super::Failure {
            status: 0,
            detail: "The request could not be sent; is the server running?".to_owned(),
            body: String::new(),
        };
        let window = web_sys::window().ok_or_else(|| failed(wasm_bindgen::JsValue::NULL))?;
        let init = RequestInit::new();
        init.set_method(method);
        if let Some(body) = body {
            let headers = Headers::new().map_err(failed)?;
            headers
                .set("content-type", "application/json")
                .map_err(failed)?;
            init.set_headers(&headers);
            init.set_body(&body.into());
        }
        let response = JsFuture::from(window.fetch_with_str_and_init(url, &init))
            .await
            .map_err(failed)?;
        let response: Response = response.dyn_into().map_err(failed)?;
        let text = match response.text() {
            Ok(promise) => JsFuture::from(promise)
                .await
                .ok()
                .and_then(|t| t.as_string())
                .unwrap_or_default(),
            Err(_) => String::new(),
        };
        if response.ok() {
            Ok(text)
        } else {
            if response.status() == 401 {
                signed_out();
            }
            Err(super::Failure {
                status: response.status(),
                detail: error_detail(response.status(), &text),
                body: text,
            })
        }
    }

    /// The connection's bookkeeping, shared by the socket's handlers and the timers.
    struct Link {
        store: Store,
        delay: Cell<f64>,
        failures: Cell<u32>,
        /// Bumped on every successful open, so a banner timer from an earlier outage stops.
        generation: Cell<u64>,
        polling: Cell<bool>,
        /// The wait before the next state poll: `poll_seconds` while polls answer, doubling
        /// to [`MAX_POLL_SECONDS`] while they fail.
        poll_wait: Cell<f64>,
    }

    const MAX_POLL_SECONDS: f64 = 30.0;

    /// Opens the one `/ws/events` socket of the page and keeps it open: each message patches
    /// the store; after a close it reconnects with backoff (0.5 s doubling to 10 s, with
    /// jitter). After 3 failed connects in a row it polls `GET /api/state` every
    /// `poll_seconds` until a connect succeeds. The first open marks
    /// `<html data-hydrated="true">`.
    pub fn connect(store: Store) {
        LOGIN_URL.with_borrow_mut(|url| *url = Some(store.url("/login")));
        let link = Rc::new(Link {
            store,
            delay: Cell::new(FIRST_DELAY_MS),
            failures: Cell::new(0),
            generation: Cell::new(0),
            polling: Cell::new(false),
            poll_wait: Cell::new(0.0),
        });
        open(link);
    }

    fn open(link: Rc<Link>) {
        let url = link.store.url("/ws/events");
        let Some(socket) = crate::dom::ws_url(&url).and_then(|url| WebSocket::new(&url).ok())
        else {
            closed(link, false);
            return;
        };
        let opened = Rc::new(Cell::new(false));
        let on_open = {
            let link = Rc::clone(&link);
            let opened = Rc::clone(&opened);
            Closure::<dyn FnMut()>::new(move || {
                opened.set(true);
                link.delay.set(FIRST_DELAY_MS);
                link.failures.set(0);
                link.polling.set(false);
                link.generation.set(link.generation.get() + 1);
                link.store.conn.set(Conn::Up);
                link.store.touch(js_sys::Date::now());
                if let Some(root) = document().document_element()
                    && root.get_attribute("data-hydrated").is_none()
                {
                    let _ = root.set_attribute("data-hydrated", "true");
                    // When the page became live, for the hydration-time figure (BENCHMARKS.md).
                    if let Some(performance) = window().performance() {
                        let _ = performance.mark("clauster-hydrated");
                    }
                }
            })
        };
        socket.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        on_open.forget();

        let store = link.store;
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            store.touch(js_sys::Date::now());
            if let Some(text) = event.data().as_string() {
                apply_frame(&store, &text);
            }
        });
        socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        on_message.forget();

        // `close` follows every failed or ended connection, so reconnecting here is enough.
        let on_close = Closure::once(move |event: CloseEvent| {
            if !opened.get() {
                link.failures.set(link.failures.get() + 1);
            }
            let signed_out = event.code() == 1008
                && matches!(
                    event.reason().as_str(),
                    "logged out" | "authentication expired"
                );
            closed(link, signed_out);
        });
        socket.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        on_close.forget();
    }

    fn closed(link: Rc<Link>, signed_out: bool) {
        // The server ends a session that is no longer signed in with 1008 (ui.md §11).
        if signed_out {
            crate::dom::redirect(&link.store.url("/login"));
            return;
        }
        let generation = link.generation.get();
        if link.store.conn.get_untracked() == Conn::Up {
            link.store.conn.set(Conn::Connecting);
            let link = Rc::clone(&link);
            set_timeout(
                move || {
                    if link.generation.get() == generation
                        && link.store.conn.get_untracked() == Conn::Connecting
                    {
                        link.store.conn.set(Conn::Reconnecting);
                    }
                },
                BANNER_AFTER,
            );
        }
        if link.failures.get() >= FAILURES_BEFORE_POLLING && !link.polling.get() {
            link.polling.set(true);
            link.store.conn.set(Conn::Polling);
            poll(Rc::clone(&link));
        }
        let wait = link.delay.get();
        link.delay.set((wait * 2.0).min(MAX_DELAY_MS));
        let jitter = 0.8 + 0.4 * js_sys::Math::random();
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let wait = Duration::from_millis((wait * jitter) as u64);
        set_timeout(move || open(link), wait);
    }

    /// One `GET /api/state` now, then again every `poll_seconds` while still polling. A poll
    /// that fails marks the page stale (the server is unreachable) and backs off, doubling up
    /// to [`MAX_POLL_SECONDS`]; the first answer brings the normal rhythm back.
    fn poll(link: Rc<Link>) {
        if !link.polling.get() {
            return;
        }
        let store = link.store;
        let seconds = store
            .context
            .with_untracked(|c| c.metrics.poll_seconds)
            .max(1.0);
        wasm_bindgen_futures::spawn_local(async move {
            let answered = match fetch("GET", &store.url("/api/state"), None).await {
                Ok(text) => {
                    if let Ok(snapshot) = serde_json::from_str::<clauster_wire::Snapshot>(&text) {
                        store.apply_snapshot(snapshot);
                    }
                    true
                }
                Err(_) => false,
            };
            // The socket may have come back while this poll was out.
            if link.polling.get() {
                if answered {
                    store.touch(js_sys::Date::now());
                    link.poll_wait.set(seconds);
                    store.conn.set(Conn::Polling);
                } else {
                    let wait = link.poll_wait.get();
                    link.poll_wait.set(if wait < seconds {
                        seconds
                    } else {
                        (wait * 2.0).min(MAX_POLL_SECONDS)
                    });
                    store.conn.set(Conn::Unreachable);
                }
            }
            let wait = link.poll_wait.get().max(seconds);
            set_timeout(move || poll(link), Duration::from_secs_f64(wait));
        });
    }
}

/// Whether the bridge still runs (or is still coming up): it can be stopped, not resumed.
pub fn is_live(instance: &Instance) -> bool {
    instance.alive || matches!(instance.status.as_str(), "starting" | "running")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(id: &str, status: &str) -> serde_json::Value {
        let mut value = serde_json::json!({
            "instance_id": id, "project": "alpha", "label": "alpha",
            "channel": "remote-control", "status": status, "alive": true,
            "resume_mode": "standard", "spawn_mode": "same-dir", "permission_mode": "default",
            "sandbox_mode": "default", "intentional_stop": false,
            "stopping": false, "resumed_conversation": false, "launch_count": 1
        });
        for key in [
            "started_at",
            "bridge_pid",
            "bridge_proc_start",
            "bridge_start_ticks",
            "bridge_boot_id",
            "keeper_pid",
            "keeper_proc_start",
            "keeper_start_ticks",
            "worktree_name",
            "bridge_id",
            "environment_id",
            "starter_session_id",
            "url",
            "session_url",
            "bridge_debug_log_path",
            "bridge_raw_log_path",
            "error_detail",
            "notice",
            "claude_version",
            "error_kind",
            "error_hint",
            "ready_at",
            "ended_at",
        ] {
            value[key] = serde_json::Value::Null;
        }
        value
    }

    fn context() -> PageContext {
        crate::fixtures::context_from(crate::fixtures::context_json())
    }

    /// Runs `check` inside a reactive owner, with a store that starts with nothing.
    fn with_empty_store(check: impl FnOnce(Store)) {
        Owner::new().with(|| check(Store::new(context(), vec![], vec![])));
    }

    /// A `snapshot` frame from a healthy server: `fields` (projects, instances and whatever
    /// the test adds) on top of `seq`, `type` and `health`.
    fn healthy_snapshot(seq: u64, fields: serde_json::Value) -> String {
        let mut frame = serde_json::json!({"seq": seq, "type": "snapshot", "health":
            {"claude_ok": null, "claude_version": null, "store_ok": true, "engine_ready": true}});
        let serde_json::Value::Object(fields) = fields else {
            panic!("a snapshot's fields are an object, not {fields}");
        };
        for (key, value) in fields {
            frame[key] = value;
        }
        frame.to_string()
    }

    fn project(name: &str) -> serde_json::Value {
        serde_json::json!({"name": name, "path": format!("/p/{name}"), "is_git_repo": false,
            "has_claude_md": false, "has_claude_dir": false, "trust_state": "trusted",
            "allow_bypass_permissions": false})
    }

    /// A `settings` frame replaces how costs and metrics are shown; a hello after a
    /// reconnect carries a change the page missed.
    #[test]
    fn settings_and_hello_frames_update_the_badges_context() {
        with_empty_store(|store| {
            let mut usage = serde_json::json!({"mode": "cost", "currency": "EUR",
                "currency_symbol": "EUR ", "fx_rate": 0.92, "token_total_includes_cache": true});
            let metrics = serde_json::json!({"enabled": true, "show_disk": false,
                "normalize_cpu": false, "poll_seconds": 4.0});
            let frame = serde_json::json!({"seq": 2, "type": "settings", "usage": usage,
                "metrics": metrics});
            apply_frame(&store, &frame.to_string());
            let shown = store.context.with_untracked(|c| {
                (
                    c.usage.currency.clone(),
                    c.metrics.show_disk,
                    c.root_path.clone(),
                )
            });
            assert_eq!(shown, ("EUR".to_owned(), false, String::new()));
            usage["currency"] = "GBP".into();
            let mut hello = serde_json::to_value(context()).expect("a context");
            hello["usage"] = usage;
            let frame = serde_json::json!({"seq": 1, "type": "hello", "version": "0.1.0",
                "server_time": "2026-12-05T21:00:00Z", "context": hello});
            apply_frame(&store, &frame.to_string());
            let currency = store.context.with_untracked(|c| c.usage.currency.clone());
            assert_eq!(currency, "GBP");
        });
    }

    #[test]
    fn frames_replace_upsert_and_remove() {
        let owner = Owner::new();
        owner.with(|| {
            let first = serde_json::from_value(instance("a", "running")).unwrap();
            let store = Store::new(context(), vec![], vec![first]);
            let instances = store.instances;
            let snapshot = serde_json::json!({
                "projects": [project("beta"), project("Alpha")],
                "instances": [instance("b", "starting")]
            });
            apply_frame(&store, &healthy_snapshot(2, snapshot));
            assert_eq!(instances.with_untracked(|l| l[0].instance_id.clone()), "b");
            assert_eq!(instances.with_untracked(Vec::len), 1);
            let names = || {
                store
                    .projects
                    .with_untracked(|l| l.iter().map(|p| p.name.clone()).collect::<Vec<_>>())
            };
            assert_eq!(names(), ["Alpha", "beta"]);

            let upsert = serde_json::json!({"seq": 3, "type": "instance", "instance": instance("b", "running")});
            apply_frame(&store, &upsert.to_string());
            assert_eq!(instances.with_untracked(|l| l[0].status.clone()), "running");
            let ready: Vec<String> = store
                .toasts
                .with_untracked(|t| t.iter().map(|t| t.text.clone()).collect());
            assert_eq!(ready, ["alpha is ready"]);
            let added = serde_json::json!({"seq": 4, "type": "instance", "instance": instance("c", "starting")});
            apply_frame(&store, &added.to_string());
            assert_eq!(instances.with_untracked(Vec::len), 2);

            apply_frame(&store, r#"{"seq": 5, "type": "metrics", "metrics": {}}"#);
            store.open_logs.set(vec!["b".into()]);
            apply_frame(&store, r#"{"seq": 6, "type": "instance_removed", "instance_id": "b"}"#);
            assert_eq!(instances.with_untracked(|l| l[0].instance_id.clone()), "c");
            assert_eq!(instances.with_untracked(Vec::len), 1);
            assert!(store.open_logs.with_untracked(Vec::is_empty));

            insert_if_absent(
                instances,
                serde_json::from_value(instance("c", "stopped")).unwrap(),
            );
            assert_eq!(instances.with_untracked(|l| l[0].status.clone()), "starting");

            let added = serde_json::json!({"seq": 7, "type": "project", "project": project("able"),
                "preflight": {"ok": true, "checks": []}});
            apply_frame(&store, &added.to_string());
            assert_eq!(names(), ["able", "Alpha", "beta"]);
            apply_frame(&store, r#"{"seq": 8, "type": "project_removed", "name": "Alpha"}"#);
            assert_eq!(names(), ["able", "beta"]);
        });
    }

    fn usage(project: &str, messages: u64, cost: f64) -> serde_json::Value {
        serde_json::json!({"project": project, "transcripts": 1, "messages": messages,
            "total_tokens": 10, "token_breakdown": {"input": 4, "output": 6, "cache_creation": 0,
                "cache_read": 0, "cache_creation_5m": 0, "cache_creation_1h": 0},
            "cost_usd": cost, "approximate": true, "unpriced_models": [],
            "fallback_priced_models": [], "by_model": {}, "duplicates_skipped": 0,
            "ambiguous_transcripts": 0, "unreadable_files": 0, "price_table_date": "2026-10-01"})
    }

    fn metrics(cpu: f64) -> serde_json::Value {
        serde_json::json!({"running": true, "procs": 2, "cpu_percent": cpu,
            "cpu_normalized": false, "rss_bytes": 1_048_576, "disk_read_bps": null,
            "disk_write_bps": null})
    }

    #[test]
    fn usage_and_metrics_come_from_the_snapshot_and_their_frames() {
        with_empty_store(|store| {
            let snapshot = serde_json::json!({
                "projects": [project("alpha"), project("beta")],
                "instances": [instance("a", "running"), instance("b", "running")],
                "usage": {"alpha": usage("alpha", 1, 0.5)},
                "metrics": {"a": metrics(1.5), "b": metrics(2.5)}
            });
            apply_frame(&store, &healthy_snapshot(2, snapshot));
            let cost = |name: &str| {
                store
                    .usage
                    .with_untracked(|u| u.get(name).map(|u| (u.messages, u.cost_usd)))
            };
            assert_eq!(cost("alpha"), Some((1, 0.5)));
            assert_eq!(cost("beta"), None);
            let cpus = || {
                store.metrics.with_untracked(|m| {
                    m.iter()
                        .map(|(id, m)| (id.clone(), m.cpu_percent))
                        .collect::<Vec<_>>()
                })
            };
            assert_eq!(cpus(), [("a".to_owned(), 1.5), ("b".to_owned(), 2.5)]);

            // A usage frame replaces its project's rollup and adds a new one.
            let frame = serde_json::json!({"seq": 3, "type": "usage", "project": "alpha",
                "usage": usage("alpha", 2, 0.75)});
            apply_frame(&store, &frame.to_string());
            let frame = serde_json::json!({"seq": 4, "type": "usage", "project": "beta",
                "usage": usage("beta", 1, 0.01)});
            apply_frame(&store, &frame.to_string());
            assert_eq!(cost("alpha"), Some((2, 0.75)));
            assert_eq!(cost("beta"), Some((1, 0.01)));

            // A metrics frame is the complete map: "b" stopped and drops out.
            let frame = serde_json::json!({"seq": 5, "type": "metrics",
                "metrics": {"a": metrics(9.0)}});
            apply_frame(&store, &frame.to_string());
            assert_eq!(cpus(), [("a".to_owned(), 9.0)]);

            // A malformed frame changes nothing.
            apply_frame(&store, r#"{"seq": 6, "type": "usage", "project": "alpha"}"#);
            apply_frame(&store, r#"{"seq": 7, "type": "metrics", "metrics": 3}"#);
            assert_eq!(cost("alpha"), Some((2, 0.75)));
            assert_eq!(cpus(), [("a".to_owned(), 9.0)]);

            // A later snapshot without them (mode off, nothing running) empties both.
            let snapshot = serde_json::json!({
                "projects": [], "instances": []
            });
            apply_frame(&store, &healthy_snapshot(8, snapshot));
            assert!(store.usage.with_untracked(BTreeMap::is_empty));
            assert!(store.metrics.with_untracked(BTreeMap::is_empty));
        });
    }

    #[test]
    fn preflight_and_sessions_come_from_the_snapshot_and_their_frames() {
        with_empty_store(|store| {
            let warn = serde_json::json!({"ok": true, "checks": [
                {"name": "trust", "status": "warn", "detail": "untrusted"}]});
            let snapshot = serde_json::json!({
                "projects": [project("alpha")], "instances": [],
                "preflight": {"alpha": warn},
                "sessions": {"tracked": {}, "external": {}, "adoptable": ["alpha"]}
            });
            apply_frame(&store, &healthy_snapshot(2, snapshot));
            let warnings = |name: &str| {
                store
                    .preflight
                    .with_untracked(|all| all.get(name).map(CheckReport::warnings))
            };
            assert_eq!(warnings("alpha"), Some(1));
            assert_eq!(
                store.sessions.with_untracked(|v| v.adoptable.clone()),
                ["alpha"]
            );

            // A project frame replaces its report; one without a report keeps the last.
            let frame = serde_json::json!({"seq": 3, "type": "project", "project": project("alpha"),
                "preflight": {"ok": true, "checks": []}});
            apply_frame(&store, &frame.to_string());
            assert_eq!(warnings("alpha"), Some(0));
            let bare =
                serde_json::json!({"seq": 4, "type": "project", "project": project("alpha")});
            apply_frame(&store, &bare.to_string());
            assert_eq!(warnings("alpha"), Some(0));

            let sessions = serde_json::json!({"seq": 5, "type": "sessions", "tracked": {},
                "external": {}, "adoptable": []});
            apply_frame(&store, &sessions.to_string());
            assert!(store.sessions.with_untracked(|v| v.adoptable.is_empty()));

            apply_frame(
                &store,
                r#"{"seq": 6, "type": "project_removed", "name": "alpha"}"#,
            );
            assert_eq!(warnings("alpha"), None);
        });
    }

    #[test]
    fn clone_jobs_come_from_the_snapshot_and_their_frames() {
        with_empty_store(|store| {
            let snapshot = serde_json::json!({
                "projects": [], "instances": [],
                "clone_jobs": [{"job_id": "j1", "name": "alpha", "phase": "Receiving", "percent": 10}]
            });
            apply_frame(&store, &healthy_snapshot(2, snapshot));
            let jobs = || {
                store.clone_jobs.with_untracked(|jobs| {
                    jobs.iter()
                        .map(|j| format!("{} {} {:?} {}", j.job_id, j.name, j.percent, j.status))
                        .collect::<Vec<_>>()
                })
            };
            assert_eq!(jobs(), ["j1 alpha Some(10) running"]);
            let frame = serde_json::json!({"seq": 3, "type": "clone", "job": {"job_id": "j1",
                "name": "alpha", "phase": "Resolving", "percent": 90, "status": "running"}});
            apply_frame(&store, &frame.to_string());
            let frame = serde_json::json!({"seq": 4, "type": "clone", "job": {"job_id": "j2",
                "name": "beta", "phase": null, "percent": null, "status": "running"}});
            apply_frame(&store, &frame.to_string());
            let frame = serde_json::json!({"seq": 5, "type": "clone", "job": {"job_id": "j1",
                "name": "alpha", "phase": "Resolving", "percent": 100, "status": "done"}});
            apply_frame(&store, &frame.to_string());
            assert_eq!(jobs(), ["j1 alpha Some(100) done", "j2 beta None running"]);
        });
    }

    #[test]
    fn a_failure_names_the_field_a_422_blames() {
        let failure = |body: &str| Failure {
            status: 422,
            detail: String::new(),
            body: body.to_owned(),
        };
        assert_eq!(
            failure(r#"{"detail": "name is required", "field": "name"}"#).field(),
            Some("name".to_owned())
        );
        assert_eq!(failure(r#"{"detail": "x"}"#).field(), None);
        assert_eq!(failure("<html>").field(), None);
    }

    #[test]
    fn an_outcome_shows_its_warnings_and_why_nothing_was_created() {
        with_empty_store(|store| {
            let mut outcome = instance("x", "running");
            outcome["created"] = false.into();
            outcome["reason"] = "a standard bridge of 'alpha' is already running".into();
            outcome["warnings"] = serde_json::json!(["claude is older than 2.1"]);
            store.take_outcome(&outcome.to_string());
            let toasts = store.toasts.get_untracked();
            assert_eq!(toasts.len(), 2);
            assert_eq!(toasts[0].kind, ToastKind::Warn);
            assert_eq!(toasts[0].text, "claude is older than 2.1");
            assert_eq!(toasts[1].kind, ToastKind::Info);
            assert_eq!(
                toasts[1].text,
                "a standard bridge of 'alpha' is already running"
            );
            assert_eq!(store.instances.with_untracked(Vec::len), 1);
        });
    }
}
