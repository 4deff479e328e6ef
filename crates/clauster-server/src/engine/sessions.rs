//! The `claude agents --json` poll (bridges.md §17.1) and the attribution of its sessions to
//! managed bridges (§17.2), kept current for `/api/sessions*`, `/api/agents` and the
//! `sessions` frames of `/ws/events`.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clauster_core::agents::{self, AgentItem, Attribution, ManagedBridge};
use clauster_core::config::Config;
use clauster_core::sanitize::sanitize_text;
use clauster_pty::proc;
use clauster_wire::{BackgroundJob, Frame, Instance, SessionsView, WorkingSession};
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;

use super::Engine;
use crate::bridge_env::{self, BridgeEnv};
use crate::probe;

/// How long `claude agents --json` may take.
const POLL_TIMEOUT: Duration = Duration::from_secs(10);
/// A spawn, stop or exit is followed by a poll this much later (debounced).
const AFTER_CHANGE: Duration = Duration::from_secs(2);

/// The latest poll, attributed.
#[derive(Debug, Default)]
pub struct Polled {
    pub view: SessionsView,
    /// Every listed item attributed, whatever its attribution (`GET /api/sessions/all`).
    pub all: Vec<WorkingSession>,
    /// Every listed item, for `/api/agents`.
    pub items: Vec<AgentItem>,
}

impl Polled {
    /// `GET /api/agents`: items of kind `background`, mapped per http-api.md §6.
    pub fn background_jobs(&self) -> Vec<BackgroundJob> {
        self.items
            .iter()
            .filter(|item| item.kind == "background")
            .map(|item| BackgroundJob {
                id: item.id.clone().unwrap_or_default(),
                state: item.state.clone(),
                name: item.name.as_deref().map(redact).unwrap_or_default(),
                cwd: item.cwd.clone(),
                session_id: item.session_id.clone(),
                created_at: Some(item.started_at),
                worker_pid: Some(item.pid),
                worker_alive: Some(proc::read_identity(item.pid).ok().flatten().is_some()),
                ..BackgroundJob::default()
            })
            .collect()
    }
}

fn redact(text: &str) -> String {
    sanitize_text(text).into_owned()
}

/// Starts the poll task; `publish` receives every attributed result.
pub(super) fn spawn_watcher(
    engine: Engine,
    config: Arc<Config>,
    env: BridgeEnv,
    publish: watch::Sender<Arc<Polled>>,
) {
    tokio::spawn(async move {
        let interval = Duration::from_secs(config.claude.agents_json_poll_interval_seconds.max(1));
        let mut events = engine.subscribe();
        let mut statuses: HashMap<String, String> = HashMap::new();
        let mut next = Instant::now() + AFTER_CHANGE;
        let mut failing = Failing::default();
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(next) => {
                    if let Some(polled) = poll(&engine, &config, &env, &mut failing).await
                        && polled.view != publish.borrow().view
                    {
                        // Served before it is pushed: a client told of it reads it at once.
                        let view = polled.view.clone();
                        publish.send_replace(Arc::new(polled));
                        engine.publish(Frame::Sessions(view));
                    }
                    next = Instant::now() + interval;
                }
                frame = events.recv() => match frame {
                    Ok(frame) => {
                        if changed_status(&mut statuses, &frame) {
                            next = Instant::now() + AFTER_CHANGE;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        next = Instant::now() + AFTER_CHANGE;
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
            }
        }
    });
}

/// Whether the frame is a spawn, a status change or a removal.
fn changed_status(statuses: &mut HashMap<String, String>, frame: &Frame) -> bool {
    match frame {
        Frame::Instance { instance } => {
            statuses.insert(instance.instance_id.clone(), instance.status.clone())
                != Some(instance.status.clone())
        }
        Frame::InstanceRemoved { instance_id } => statuses.remove(instance_id).is_some(),
        _ => false,
    }
}

/// One poll: `None` when claude could not be run or printed no usable list (the previous
/// result is kept, §17.1).
async fn poll(
    engine: &Engine,
    config: &Config,
    env: &BridgeEnv,
    failing: &mut Failing,
) -> Option<Polled> {
    let result = poll_result(engine, config, env).await;
    failing.report(result.as_ref().err().map(String::as_str));
    result.ok()
}

/// Why the polls fail, so a lasting failure (a missing `claude`) is logged once per change
/// instead of at every interval.
#[derive(Debug, Default)]
struct Failing {
    last: Option<String>,
}

impl Failing {
    /// Logs `error` when it differs from the last poll's, and the recovery once.
    fn report(&mut self, error: Option<&str>) {
        match (error, self.last.as_deref()) {
            (Some(err), Some(last)) if err == last => {
                tracing::debug!("{err}; still failing (reported above)");
            }
            (Some(err), _) => {
                tracing::warn!("{err}; keeping the previous list until a poll succeeds");
            }
            (None, Some(_)) => tracing::info!("`claude agents --json` answers again"),
            (None, None) => {}
        }
        self.last = error.map(str::to_owned);
    }
}

/// One poll, or why it produced nothing (`clauster sessions` without a server reports it).
pub(super) async fn poll_result(
    engine: &Engine,
    config: &Config,
    env: &BridgeEnv,
) -> Result<Polled, String> {
    let home = env.get("HOME").map(PathBuf::from);
    let claude = bridge_env::resolve_binary(&config.claude.binary, env, home.as_deref())?;
    let finished = probe::run(
        &claude,
        &["agents", "--json"],
        env,
        &config.state_dir,
        POLL_TIMEOUT,
    )
    .await
    .ok_or_else(|| "`claude agents --json` could not be run or did not finish".to_owned())?;
    let list = agents::parse_agents(&finished.stdout).map_err(|err| err.to_string())?;
    if list.skipped > 0 {
        tracing::debug!(
            "`claude agents --json`: skipped {} item(s) without a required field",
            list.skipped
        );
    }
    let instances = engine.list().await.map_err(|err| err.to_string())?;
    let adoptable = engine.adoptable().await.map_err(|err| err.to_string())?;
    let root = std::fs::canonicalize(&config.projects_root)
        .unwrap_or_else(|_| config.projects_root.clone());
    // A pty bridge's own conversation (bridges.md §9.2 source 2): the item with its pid.
    for instance in instances
        .iter()
        .filter(|i| i.resume_mode == "pty" && i.alive)
    {
        let uuid = list
            .items
            .iter()
            .find(|item| Some(i64::from(item.pid)) == instance.bridge_pid)
            .map(|item| item.session_id.clone());
        if let Some(uuid) = uuid {
            engine
                .learn_conversation(instance.instance_id.clone(), uuid)
                .await;
        }
    }
    let (view, all) = attribute_all(
        &list.items,
        &managed_bridges(&instances, &root),
        &root,
        adoptable,
    );
    Ok(Polled {
        view,
        all,
        items: list.items,
    })
}

/// The starting/running instances with the processes that belong to them.
fn managed_bridges(instances: &[Instance], root: &Path) -> Vec<ManagedBridge> {
    instances
        .iter()
        .filter(|i| i.status == "starting" || i.status == "running")
        .map(|i| {
            let roots: Vec<i32> = [i.bridge_pid, i.keeper_pid]
                .into_iter()
                .flatten()
                .filter_map(|pid| i32::try_from(pid).ok())
                .collect();
            let mut pids: HashSet<i32> = roots.iter().copied().collect();
            for pid in roots {
                pids.extend(proc::descendants(pid));
            }
            ManagedBridge {
                instance_id: i.instance_id.clone(),
                dir: std::fs::canonicalize(root.join(&i.project))
                    .unwrap_or_else(|_| root.join(&i.project)),
                worktree: i.spawn_mode == "worktree",
                pids,
            }
        })
        .collect()
}

fn attribute_all(
    items: &[AgentItem],
    bridges: &[ManagedBridge],
    root: &Path,
    adoptable: Vec<String>,
) -> (SessionsView, Vec<WorkingSession>) {
    let mut view = SessionsView {
        adoptable,
        ..SessionsView::default()
    };
    let mut all = Vec::with_capacity(items.len());
    for item in items {
        let (attribution, parent) = agents::attribute(item, bridges);
        let session = WorkingSession {
            pid: item.pid,
            cwd: item.cwd.clone(),
            kind: item.kind.clone(),
            state: item.state.clone(),
            started_at: item.started_at,
            local_uuid: item.session_id.clone(),
            parent_instance: parent.map(str::to_owned),
            attribution: attribution.as_token().to_owned(),
        };
        all.push(session.clone());
        match (attribution, parent) {
            (Attribution::Tracked, Some(id)) => {
                view.tracked.entry(id.to_owned()).or_default().push(session);
            }
            (Attribution::External, _) => {
                // Grouped by the project directory the session runs in (or below).
                let project = Path::new(&item.cwd)
                    .strip_prefix(root)
                    .ok()
                    .and_then(|rest| rest.components().next())
                    .and_then(|c| c.as_os_str().to_str())
                    .map(str::to_owned);
                if let Some(project) = project {
                    view.external.entry(project).or_default().push(session);
                }
            }
            _ => {}
        }
    }
    (view, all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn external_sessions_are_grouped_by_project_and_others_dropped() {
        let item = |pid: i32, cwd: &str, kind: &str| AgentItem {
            pid,
            cwd: cwd.into(),
            started_at: 5,
            session_id: format!("u{pid}"),
            kind: kind.into(),
            state: "running".into(),
            id: None,
            name: None,
        };
        let bridges = [ManagedBridge {
            instance_id: "A".into(),
            dir: "/p/alpha".into(),
            worktree: false,
            pids: HashSet::from([10]),
        }];
        let items = [
            item(10, "/p/alpha", ""),
            item(11, "/p/alpha", ""),
            item(12, "/p/beta/src", "interactive"),
            item(13, "/elsewhere", ""),
            item(14, "/p/beta", "background"),
        ];
        let (view, all) = attribute_all(&items, &bridges, Path::new("/p"), vec!["beta".into()]);
        assert_eq!(all.len(), items.len());
        assert_eq!(view.tracked["A"].len(), 1);
        assert_eq!(view.tracked["A"][0].parent_instance.as_deref(), Some("A"));
        assert_eq!(view.tracked["A"][0].attribution, "tracked");
        let external: Vec<(&str, i32)> = view
            .external
            .iter()
            .flat_map(|(p, s)| s.iter().map(move |s| (p.as_str(), s.pid)))
            .collect();
        assert_eq!(external, [("alpha", 11), ("beta", 12)]);
        assert_eq!(view.adoptable, ["beta"]);
    }
}
