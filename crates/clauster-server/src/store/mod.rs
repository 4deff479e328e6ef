//! The SQLite store of bridges.md §10: `<state_dir>/clauster.sqlite3`, its forward-only
//! migrations, the `instances` table, the engine lock and the one-time Python import.
//!
//! The store is plain blocking SQLite owned by one [`Store`] value; the engine decides when
//! to write (§10.3). Nothing here knows about processes or the wire format.

mod import;
mod lock;
mod push;
mod tokens;

use std::fs::{DirBuilder, File, OpenOptions, Permissions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Row, ToSql, TransactionBehavior};

use crate::time;

pub use lock::{EngineLock, Holder, LockError, current_holder};
pub use push::{PushSubscription, Saved};
pub use tokens::{TokenError, TokenInfo};

/// The store's file name inside the state directory.
const STORE_FILE: &str = "clauster.sqlite3";
/// How long the shutdown checkpoint waits for another program's read to end.
const CHECKPOINT_WAIT: Duration = Duration::from_millis(200);
/// Where migration backups go, inside the state directory.
const BACKUP_DIR: &str = "backups";
/// How many migration backups are kept (§10.1).
const BACKUPS_KEPT: usize = 5;
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The migrations, in order: entry `i` takes the schema from version `i` to `i + 1`. Never
/// edit a released entry; append a new one.
const MIGRATIONS: &[&str] = &[
    // v1: instances (§10.2), named API tokens (security.md §4), and the store's own facts
    // (such as the Python import having run, §10.5).
    "CREATE TABLE instances (
        instance_id TEXT NOT NULL PRIMARY KEY,
        project TEXT NOT NULL,
        label TEXT NOT NULL,
        resume_mode TEXT NOT NULL,
        spawn_mode TEXT NOT NULL,
        permission_mode TEXT NOT NULL,
        sandbox_mode TEXT NOT NULL,
        worktree_name TEXT,
        intentional_stop INTEGER NOT NULL,
        last_status TEXT NOT NULL,
        error_kind TEXT,
        error_detail TEXT,
        error_hint TEXT,
        launched_at TEXT,
        ready_at TEXT,
        ended_at TEXT,
        log_stem TEXT,
        bridge_pid INTEGER,
        bridge_start_ticks INTEGER,
        bridge_proc_start REAL,
        bridge_boot_id TEXT,
        keeper_pid INTEGER,
        keeper_start_ticks INTEGER,
        keeper_proc_start REAL,
        environment_id TEXT,
        bridge_id TEXT,
        starter_session_id TEXT,
        url TEXT,
        claude_session_uuid TEXT,
        resumed_conversation INTEGER NOT NULL,
        launch_count INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    ) STRICT;
    CREATE INDEX instances_project ON instances (project);
    CREATE TABLE api_tokens (
        id INTEGER PRIMARY KEY,
        label TEXT NOT NULL UNIQUE,
        token_hash TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        last_used_at TEXT
    ) STRICT;
    CREATE TABLE store_meta (
        key TEXT NOT NULL PRIMARY KEY,
        value TEXT NOT NULL
    ) STRICT;",
    // v2: the debug log of an adopted bridge that is not one of our log sets (bridges.md
    // §9.6), so its log is still read after a restart.
    "ALTER TABLE instances ADD COLUMN debug_log_path TEXT;",
    // v3: Web Push subscriptions (notifications.md §8), one row per device.
    "CREATE TABLE push_subscriptions (
        id TEXT NOT NULL PRIMARY KEY,
        endpoint TEXT NOT NULL UNIQUE,
        p256dh TEXT NOT NULL,
        auth TEXT NOT NULL,
        device TEXT NOT NULL,
        created_at TEXT NOT NULL,
        last_success_at TEXT
    ) STRICT;",
    // v4: each project's restart policy and keep-running wish (bridges.md §7.9, §11.1). A
    // NULL policy column follows `instance_defaults`; `wanted` is the user's last Start (1)
    // or Stop (0).
    "CREATE TABLE project_policies (
        project TEXT NOT NULL PRIMARY KEY,
        restart TEXT,
        keep_running INTEGER,
        wanted INTEGER NOT NULL,
        updated_at TEXT NOT NULL
    ) STRICT;",
];

/// A project's stored restart policy and wish (bridges.md §7.9); `None` follows the
/// `instance_defaults` key of the same name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyRow {
    pub project: String,
    /// `never` or `on-failure`.
    pub restart: Option<String>,
    pub keep_running: Option<bool>,
    /// False after the user's Stop, true after a Start (a project never touched is wanted).
    pub wanted: bool,
}

/// The columns of `instances`, in the order of [`InstanceRow`]'s fields; reads and writes
/// both go through this list so they cannot drift apart.
const INSTANCE_COLUMNS: [&str; 34] = [
    "instance_id",
    "project",
    "label",
    "resume_mode",
    "spawn_mode",
    "permission_mode",
    "sandbox_mode",
    "worktree_name",
    "intentional_stop",
    "last_status",
    "error_kind",
    "error_detail",
    "error_hint",
    "launched_at",
    "ready_at",
    "ended_at",
    "log_stem",
    "bridge_pid",
    "bridge_start_ticks",
    "bridge_proc_start",
    "bridge_boot_id",
    "keeper_pid",
    "keeper_start_ticks",
    "keeper_proc_start",
    "environment_id",
    "bridge_id",
    "starter_session_id",
    "url",
    "claude_session_uuid",
    "resumed_conversation",
    "launch_count",
    "created_at",
    "updated_at",
    "debug_log_path",
];

/// The open store. Blocking; owned by whoever runs the engine (or a read-only CLI command).
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

/// One row of the `instances` table (bridges.md §10.2), plain data. Timestamps are RFC 3339
/// UTC text such as `2026-11-25T15:02:22.123Z`.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct InstanceRow {
    pub instance_id: String,
    pub project: String,
    pub label: String,
    pub resume_mode: String,
    pub spawn_mode: String,
    pub permission_mode: String,
    pub sandbox_mode: String,
    pub worktree_name: Option<String>,
    pub intentional_stop: bool,
    pub last_status: String,
    pub error_kind: Option<String>,
    pub error_detail: Option<String>,
    pub error_hint: Option<String>,
    pub launched_at: Option<String>,
    pub ready_at: Option<String>,
    pub ended_at: Option<String>,
    pub log_stem: Option<String>,
    pub bridge_pid: Option<i64>,
    pub bridge_start_ticks: Option<i64>,
    pub bridge_proc_start: Option<f64>,
    pub bridge_boot_id: Option<String>,
    pub keeper_pid: Option<i64>,
    pub keeper_start_ticks: Option<i64>,
    pub keeper_proc_start: Option<f64>,
    pub environment_id: Option<String>,
    pub bridge_id: Option<String>,
    pub starter_session_id: Option<String>,
    pub url: Option<String>,
    pub claude_session_uuid: Option<String>,
    pub resumed_conversation: bool,
    pub launch_count: i64,
    pub created_at: String,
    pub updated_at: String,
    /// An adopted bridge's own `--debug-file` when it is not one of our log sets (§9.6).
    pub debug_log_path: Option<String>,
}

impl InstanceRow {
    /// Forgets the recorded bridge process (pid and start identity; the boot id stays).
    pub fn forget_bridge_process(&mut self) {
        self.bridge_pid = None;
        self.bridge_start_ticks = None;
        self.bridge_proc_start = None;
    }

    /// Forgets the recorded pty keeper process.
    pub fn forget_keeper_process(&mut self) {
        self.keeper_pid = None;
        self.keeper_start_ticks = None;
        self.keeper_proc_start = None;
    }
}

/// Why the store could not be opened, read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "cannot {action} {path}: {source}; check that the state directory is writable by this \
         user"
    )]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "cannot {action} the store file {path}: {source}; it must be a regular file this user \
         owns and may read and write (mode 0600)"
    )]
    File {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the store {path} is missing but its write-ahead log {wal} is not: the latest writes are \
         in it; put {path} back, or move the -wal and -shm files aside too to start with an \
         empty store"
    )]
    OrphanLog { path: PathBuf, wal: PathBuf },
    #[error("cannot open the store {path}: {source}; {}", open_advice(.source))]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error(
        "the store {path} cannot use write-ahead logging (its journal mode stayed \
         {journal_mode}); keep the state directory on a local filesystem"
    )]
    NotWal { path: PathBuf, journal_mode: String },
    #[error(
        "the store {path} has schema version {found}, newer than this clauster supports \
         ({supported}); run a newer clauster, or restore a backup from the backups directory"
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error(
        "cannot back up the store {path} to {backup} before migrating: {source}; free disk \
         space, or set db.backup_before_migrate to false"
    )]
    Backup {
        path: PathBuf,
        backup: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error(
        "migrating the store {path} from schema version {from} to {to} failed: {source}; the \
         store was left at version {from}; restore a backup from the backups directory if it is \
         damaged"
    )]
    Migrate {
        path: PathBuf,
        from: i64,
        to: i64,
        #[source]
        source: rusqlite::Error,
    },
    #[error("cannot {action} in the store {path}: {source}; {}", query_advice(.source))]
    Query {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
}

/// What to do about a failed query: a busy store is another process's doing (a `sqlite3`
/// shell or a backup holding a lock), anything else most often the disk or the file's mode.
fn query_advice(source: &rusqlite::Error) -> &'static str {
    match source.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            "another process holds a lock on the store (a sqlite3 shell or a backup tool?); end \
             it and try again"
        }
        _ => "check free disk space and the file's permissions",
    }
}

/// A non-empty write-ahead log without its store file: the store's latest writes, which a new
/// store would overwrite.
fn refuse_an_orphaned_log(state_dir: &Path, path: &Path) -> Result<(), StoreError> {
    let wal = state_dir.join(format!("{STORE_FILE}-wal"));
    if !path.exists() && std::fs::metadata(&wal).is_ok_and(|m| m.len() > 0) {
        return Err(StoreError::OrphanLog {
            path: path.to_owned(),
            wal,
        });
    }
    Ok(())
}

/// What to do about a store that would not open: wait for a lock's holder, or set the file
/// aside whole (its `-wal` holds the latest writes).
fn open_advice(source: &rusqlite::Error) -> &'static str {
    match source.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            query_advice(source)
        }
        _ => {
            "check the file's permissions, or move it aside together with its -wal and -shm \
             files to start with an empty store"
        }
    }
}

impl Store {
    /// Opens or creates `<state_dir>/clauster.sqlite3` (mode 0600; the state directory is
    /// created with mode 0700 when missing), sets WAL, synchronous NORMAL, a 5 s busy timeout
    /// and foreign keys, migrates forward (with a backup first when `backup_before_migrate`
    /// and an existing store is at an older version), then runs the one-time Python import
    /// when the store is empty. Returns the lines worth logging (backups made, import summary).
    pub fn open(
        state_dir: &Path,
        backup_before_migrate: bool,
    ) -> Result<(Store, Vec<String>), StoreError> {
        Self::open_with(state_dir, backup_before_migrate, MIGRATIONS)
    }

    fn open_with(
        state_dir: &Path,
        backup_before_migrate: bool,
        migrations: &[&str],
    ) -> Result<(Store, Vec<String>), StoreError> {
        create_private_dir(state_dir)?;
        let path = state_dir.join(STORE_FILE);
        let existed = path.exists();
        // A new store would replace an orphaned log, and the writes in it would be lost.
        refuse_an_orphaned_log(state_dir, &path)?;
        create_private_file(&path)?;
        for sidecar in ["-wal", "-shm"] {
            let mut name = path.clone().into_os_string();
            name.push(sidecar);
            tighten_if_present(Path::new(&name))?;
        }

        let open_error = |source| StoreError::Open {
            path: path.clone(),
            source,
        };
        let mut conn = Connection::open(&path).map_err(open_error)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_error)?;
        let journal_mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(open_error)?;
        if !journal_mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::NotWal { path, journal_mode });
        }
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_error)?;
        conn.pragma_update(None, "foreign_keys", true)
            .map_err(open_error)?;

        let mut lines = Vec::new();
        migrate(
            &mut conn,
            &path,
            state_dir,
            existed && backup_before_migrate,
            migrations,
            &mut lines,
        )?;
        let store = Store { conn, path };
        import::import_python_store(&store, state_dir, &mut lines)?;
        Ok((store, lines))
    }

    /// Every instance row, oldest first.
    pub fn load_instances(&self) -> Result<Vec<InstanceRow>, StoreError> {
        let sql = format!(
            "SELECT {} FROM instances ORDER BY created_at, instance_id",
            INSTANCE_COLUMNS.join(", ")
        );
        self.select_all(&sql, instance_from_row, "read the instances")
    }

    /// Inserts or replaces the row with `row.instance_id`. `updated_at` is set to now;
    /// `created_at` is kept when the row exists, else taken from `row` (now when empty).
    pub fn upsert_instance(&self, row: &InstanceRow) -> Result<(), StoreError> {
        let now = time::now_rfc3339();
        let created_at = if row.created_at.is_empty() {
            now.as_str()
        } else {
            row.created_at.as_str()
        };
        self.insert_instance_sql(row, created_at, &now, true)
            .map(|_| ())
            .map_err(self.query_error("save an instance"))
    }

    /// Every project's stored policy, by name.
    pub fn load_policies(&self) -> Result<Vec<PolicyRow>, StoreError> {
        self.select_all(
            "SELECT project, restart, keep_running, wanted FROM project_policies ORDER BY project",
            |row| {
                Ok(PolicyRow {
                    project: row.get(0)?,
                    restart: row.get(1)?,
                    keep_running: row.get::<_, Option<i64>>(2)?.map(|v| v != 0),
                    wanted: row.get::<_, i64>(3)? != 0,
                })
            },
            "read the project policies",
        )
    }

    /// Inserts or replaces a project's policy.
    pub fn upsert_policy(&self, policy: &PolicyRow) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO project_policies (project, restart, keep_running, wanted, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (project) DO UPDATE SET restart = excluded.restart,
                   keep_running = excluded.keep_running, wanted = excluded.wanted,
                   updated_at = excluded.updated_at",
                rusqlite::params![
                    policy.project,
                    policy.restart,
                    policy.keep_running.map(i64::from),
                    i64::from(policy.wanted),
                    time::now_rfc3339(),
                ],
            )
            .map(|_| ())
            .map_err(self.query_error("save a project policy"))
    }

    /// Whether a write transaction can be started now (the store is not write-locked by
    /// someone else): how the store writer notices the store is healthy again.
    pub fn check_writable(&self) -> Result<(), StoreError> {
        self.conn
            .execute_batch("BEGIN IMMEDIATE; ROLLBACK;")
            .map_err(self.query_error("start a write transaction"))
    }

    /// Folds the write-ahead log into the store file and truncates it (`wal_checkpoint(TRUNCATE)`):
    /// afterwards `clauster.sqlite3` alone holds everything. Another program's open read (a
    /// `sqlite3 .backup`) is waited for [`CHECKPOINT_WAIT`] only: the log then stays, and the
    /// next open reads it back.
    ///
    /// # Errors
    /// [`StoreError::Query`] when SQLite refuses, or another connection keeps it from finishing.
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        let _ = self.conn.busy_timeout(CHECKPOINT_WAIT);
        let folded = self.fold_log();
        let _ = self.conn.busy_timeout(BUSY_TIMEOUT);
        folded
    }

    fn fold_log(&self) -> Result<(), StoreError> {
        let busy: i64 = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| row.get(0))
            .map_err(self.query_error("fold the write-ahead log into"))?;
        if busy == 0 {
            Ok(())
        } else {
            Err(self.query_error("fold the write-ahead log into")(
                rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
                    Some("another connection is using the store".into()),
                ),
            ))
        }
    }

    /// How long a statement waits for a lock held by another connection.
    pub fn set_busy_timeout(&self, timeout: Duration) -> Result<(), StoreError> {
        self.conn
            .busy_timeout(timeout)
            .map_err(self.query_error("set the busy timeout"))
    }

    /// Deletes the row; `false` when there was none.
    pub fn delete_instance(&self, instance_id: &str) -> Result<bool, StoreError> {
        self.conn
            .execute(
                "DELETE FROM instances WHERE instance_id = ?1",
                [instance_id],
            )
            .map(|deleted| deleted > 0)
            .map_err(self.query_error("delete an instance"))
    }

    /// Writes `row` with the given timestamps. With `replace`, an existing row is updated
    /// (keeping its `created_at`); without, an existing row is left alone and 0 is returned.
    fn insert_instance_sql(
        &self,
        row: &InstanceRow,
        created_at: &str,
        updated_at: &str,
        replace: bool,
    ) -> rusqlite::Result<usize> {
        let placeholders: Vec<String> = (1..=INSTANCE_COLUMNS.len())
            .map(|index| format!("?{index}"))
            .collect();
        let conflict = if replace {
            let updates: Vec<String> = INSTANCE_COLUMNS
                .iter()
                .filter(|column| !matches!(**column, "instance_id" | "created_at"))
                .map(|column| format!("{column} = excluded.{column}"))
                .collect();
            format!(
                "ON CONFLICT (instance_id) DO UPDATE SET {}",
                updates.join(", ")
            )
        } else {
            "ON CONFLICT DO NOTHING".to_owned()
        };
        let sql = format!(
            "INSERT INTO instances ({}) VALUES ({}) {conflict}",
            INSTANCE_COLUMNS.join(", "),
            placeholders.join(", ")
        );
        let values: [&dyn ToSql; 34] = [
            &row.instance_id,
            &row.project,
            &row.label,
            &row.resume_mode,
            &row.spawn_mode,
            &row.permission_mode,
            &row.sandbox_mode,
            &row.worktree_name,
            &row.intentional_stop,
            &row.last_status,
            &row.error_kind,
            &row.error_detail,
            &row.error_hint,
            &row.launched_at,
            &row.ready_at,
            &row.ended_at,
            &row.log_stem,
            &row.bridge_pid,
            &row.bridge_start_ticks,
            &row.bridge_proc_start,
            &row.bridge_boot_id,
            &row.keeper_pid,
            &row.keeper_start_ticks,
            &row.keeper_proc_start,
            &row.environment_id,
            &row.bridge_id,
            &row.starter_session_id,
            &row.url,
            &row.claude_session_uuid,
            &row.resumed_conversation,
            &row.launch_count,
            &created_at,
            &updated_at,
            &row.debug_log_path,
        ];
        self.conn.prepare_cached(&sql)?.execute(&values[..])
    }

    /// Every row `sql` selects, each made by `from_row`; `action` names the read in the error.
    fn select_all<T>(
        &self,
        sql: &str,
        from_row: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
        action: &'static str,
    ) -> Result<Vec<T>, StoreError> {
        let read = || {
            self.conn
                .prepare_cached(sql)?
                .query_map([], from_row)?
                .collect::<Result<_, _>>()
        };
        read().map_err(self.query_error(action))
    }

    fn query_error(&self, action: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError {
        let path = self.path.clone();
        move |source| StoreError::Query {
            action,
            path,
            source,
        }
    }
}

fn instance_from_row(row: &Row<'_>) -> rusqlite::Result<InstanceRow> {
    Ok(InstanceRow {
        instance_id: row.get(0)?,
        project: row.get(1)?,
        label: row.get(2)?,
        resume_mode: row.get(3)?,
        spawn_mode: row.get(4)?,
        permission_mode: row.get(5)?,
        sandbox_mode: row.get(6)?,
        worktree_name: row.get(7)?,
        intentional_stop: row.get(8)?,
        last_status: row.get(9)?,
        error_kind: row.get(10)?,
        error_detail: row.get(11)?,
        error_hint: row.get(12)?,
        launched_at: row.get(13)?,
        ready_at: row.get(14)?,
        ended_at: row.get(15)?,
        log_stem: row.get(16)?,
        bridge_pid: row.get(17)?,
        bridge_start_ticks: row.get(18)?,
        bridge_proc_start: row.get(19)?,
        bridge_boot_id: row.get(20)?,
        keeper_pid: row.get(21)?,
        keeper_start_ticks: row.get(22)?,
        keeper_proc_start: row.get(23)?,
        environment_id: row.get(24)?,
        bridge_id: row.get(25)?,
        starter_session_id: row.get(26)?,
        url: row.get(27)?,
        claude_session_uuid: row.get(28)?,
        resumed_conversation: row.get(29)?,
        launch_count: row.get(30)?,
        created_at: row.get(31)?,
        updated_at: row.get(32)?,
        debug_log_path: row.get(33)?,
    })
}

/// Brings the schema to `migrations.len()`, all steps in one transaction so a failure leaves
/// the store at its old version.
fn migrate(
    conn: &mut Connection,
    path: &Path,
    state_dir: &Path,
    backup: bool,
    migrations: &[&str],
    lines: &mut Vec<String>,
) -> Result<(), StoreError> {
    let open_error = |source| StoreError::Open {
        path: path.to_owned(),
        source,
    };
    let target = i64::try_from(migrations.len()).unwrap_or(i64::MAX);
    let Some(from) = version_behind(conn, path, target, open_error)? else {
        return Ok(());
    };
    // Version 0 is a store that never had a schema: nothing in it is worth a copy.
    if backup && from > 0 {
        let copy = back_up(conn, path, state_dir, from, target, lines)?;
        lines.push(format!(
            "copied the store to {} before migrating it from schema version {from} to {target}",
            copy.display()
        ));
    }

    let migrate_error = |source| StoreError::Migrate {
        path: path.to_owned(),
        from,
        to: target,
        source,
    };
    let transaction = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(migrate_error)?;
    // Read again under the write lock: another process may have migrated meanwhile.
    let Some(current) = version_behind(&transaction, path, target, migrate_error)? else {
        return Ok(());
    };
    let start = usize::try_from(current).unwrap_or(usize::MAX);
    for step in migrations.iter().skip(start) {
        transaction.execute_batch(step).map_err(migrate_error)?;
    }
    transaction
        .pragma_update(None, "user_version", target)
        .map_err(migrate_error)?;
    transaction.commit().map_err(migrate_error)
}

/// The store's schema version when it is behind `target`, `None` when it is at `target`;
/// [`StoreError::TooNew`] when a newer build wrote it. `read_error` wraps a failed read.
fn version_behind(
    conn: &Connection,
    path: &Path,
    target: i64,
    read_error: impl FnOnce(rusqlite::Error) -> StoreError,
) -> Result<Option<i64>, StoreError> {
    let found: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(read_error)?;
    if found > target {
        return Err(StoreError::TooNew {
            path: path.to_owned(),
            found,
            supported: target,
        });
    }
    Ok((found < target).then_some(found))
}

/// Copies the store to `backups/pre-v<from>-v<to>-<stamp>.sqlite3` (mode 0600) with
/// `VACUUM INTO`, which makes a consistent copy including what is still in the WAL, then keeps
/// only the newest [`BACKUPS_KEPT`].
fn back_up(
    conn: &Connection,
    path: &Path,
    state_dir: &Path,
    from: i64,
    to: i64,
    lines: &mut Vec<String>,
) -> Result<PathBuf, StoreError> {
    let dir = state_dir.join(BACKUP_DIR);
    create_private_dir(&dir)?;
    // The copies hold everything the store does, token hashes included.
    std::fs::set_permissions(&dir, Permissions::from_mode(0o700)).map_err(|source| {
        StoreError::Io {
            action: "restrict the permissions of",
            path: dir.clone(),
            source,
        }
    })?;
    let copy = dir.join(format!("pre-v{from}-v{to}-{}.sqlite3", time::now_compact()));
    // VACUUM INTO accepts an existing empty file, so the copy is created 0600 up front
    // instead of with SQLite's default mode.
    create_private_file(&copy)?;
    conn.execute("VACUUM INTO ?1", [copy.to_string_lossy()])
        .map_err(|source| StoreError::Backup {
            path: path.to_owned(),
            backup: copy.clone(),
            source,
        })?;
    prune_backups(&dir, lines);
    Ok(copy)
}

/// Deletes all but the newest [`BACKUPS_KEPT`] backups. Failures only cost disk space, so
/// they become log lines.
fn prune_backups(dir: &Path, lines: &mut Vec<String>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) => {
            lines.push(format!(
                "cannot list old store backups in {}: {error}",
                dir.display()
            ));
            return;
        }
    };
    // Names are `pre-v<from>-v<to>-<stamp>.sqlite3`; the stamp orders them.
    let mut backups: Vec<(String, String)> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter_map(|name| {
            let stem = name.strip_prefix("pre-v")?.strip_suffix(".sqlite3")?;
            let stamp = stem.rsplit('-').next()?.to_owned();
            Some((stamp, name))
        })
        .collect();
    backups.sort_unstable_by(|a, b| b.cmp(a));
    for (_, name) in backups.into_iter().skip(BACKUPS_KEPT) {
        let old = dir.join(name);
        if let Err(error) = std::fs::remove_file(&old) {
            lines.push(format!(
                "cannot remove the old store backup {}: {error}",
                old.display()
            ));
        }
    }
}

fn create_private_dir(dir: &Path) -> Result<(), StoreError> {
    if dir.is_dir() {
        return Ok(());
    }
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| StoreError::Io {
            action: "create the directory",
            path: dir.to_owned(),
            source,
        })
}

/// Creates `path` with mode 0600 when missing, and takes group and other access away from an
/// existing one (security.md §10).
fn create_private_file(path: &Path) -> Result<(), StoreError> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .and_then(|file| restrict_to_owner(&file))
        .map_err(|source| {
            // Something is there already: the file is at fault, not the directory.
            if path.symlink_metadata().is_ok() {
                StoreError::File {
                    action: "open",
                    path: path.to_owned(),
                    source,
                }
            } else {
                StoreError::Io {
                    action: "create",
                    path: path.to_owned(),
                    source,
                }
            }
        })
}

fn tighten_if_present(path: &Path) -> Result<(), StoreError> {
    match File::open(path) {
        Ok(file) => restrict_to_owner(&file).map_err(|source| StoreError::File {
            action: "restrict the permissions of",
            path: path.to_owned(),
            source,
        }),
        Err(_) => Ok(()),
    }
}

/// Sets mode 0600 on a file that grants anything to group or others.
fn restrict_to_owner(file: &File) -> std::io::Result<()> {
    let mode = file.metadata()?.permissions().mode();
    if mode & 0o077 != 0 {
        file.set_permissions(Permissions::from_mode(0o600))?;
    }
    Ok(())
}

impl Store {
    /// A fact the store recorded about itself (`store_meta`), such as the import having run.
    fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row(
                "SELECT value FROM store_meta WHERE key = ?1",
                [key],
                |row| row.get(0),
            )
            .optional()
            .map_err(self.query_error("read the store's facts"))
    }
}

#[cfg(test)]
mod tests;

/// What `clauster doctor`'s `store` and `orphan-keepers` rows read from the store, through a
/// read-only connection (no migration, no file created).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreSummary {
    /// `false`: no store file yet (the first start creates it).
    pub exists: bool,
    pub schema: i64,
    /// The schema version this clauster migrates to.
    pub supported: i64,
    pub instances: usize,
    /// Every recorded keeper pid.
    pub keeper_pids: Vec<i64>,
}

/// Reads the store's schema version, its instance count and keeper pids without changing
/// anything. A store newer than this build is [`StoreError::TooNew`].
pub fn inspect(state_dir: &Path) -> Result<StoreSummary, StoreError> {
    let path = state_dir.join(STORE_FILE);
    let supported = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
    refuse_an_orphaned_log(state_dir, &path)?;
    if !path.exists() {
        return Ok(StoreSummary {
            supported,
            ..StoreSummary::default()
        });
    }
    let open_error = |source| StoreError::Open {
        path: path.clone(),
        source,
    };
    let conn = Connection::open_with_flags(
        &path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(open_error)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(open_error)?;
    let schema: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(open_error)?;
    if schema > supported {
        return Err(StoreError::TooNew {
            path,
            found: schema,
            supported,
        });
    }
    let query_error = |source| StoreError::Query {
        action: "read the instances",
        path: path.clone(),
        source,
    };
    let (instances, keeper_pids) = if schema == 0 {
        (0, Vec::new())
    } else {
        let mut statement = conn
            .prepare("SELECT keeper_pid FROM instances")
            .map_err(query_error)?;
        let rows: Vec<Option<i64>> = statement
            .query_map([], |row| row.get(0))
            .map_err(query_error)?
            .collect::<Result<_, _>>()
            .map_err(query_error)?;
        (rows.len(), rows.into_iter().flatten().collect())
    };
    Ok(StoreSummary {
        exists: true,
        schema,
        supported,
        instances,
        keeper_pids,
    })
}
