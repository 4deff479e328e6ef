//! Tests of the store against real files in a temporary state directory.

use std::os::unix::fs::PermissionsExt;

use super::*;

fn full_row(instance_id: &str) -> InstanceRow {
    InstanceRow {
        instance_id: instance_id.to_owned(),
        project: "alpha".to_owned(),
        label: "alpha-2".to_owned(),
        resume_mode: "pty".to_owned(),
        spawn_mode: "worktree".to_owned(),
        permission_mode: "plan".to_owned(),
        sandbox_mode: "default".to_owned(),
        worktree_name: Some("clauster-0123abcd".to_owned()),
        intentional_stop: true,
        last_status: "running".to_owned(),
        error_kind: Some("crashed".to_owned()),
        error_detail: Some("exit 1".to_owned()),
        error_hint: Some("see the log".to_owned()),
        launched_at: Some("2026-11-25T15:02:22.123Z".to_owned()),
        ready_at: Some("2026-11-25T15:02:25.000Z".to_owned()),
        ended_at: Some("2026-11-25T16:00:00.000Z".to_owned()),
        log_stem: Some("alpha-20261125T150222Z-0123abcd".to_owned()),
        bridge_pid: Some(4242),
        bridge_start_ticks: Some(123_456_789),
        bridge_proc_start: Some(1_795_000_000.25),
        bridge_boot_id: Some("7f1c2e0a-boot".to_owned()),
        keeper_pid: Some(4241),
        keeper_start_ticks: Some(123_456_000),
        keeper_proc_start: Some(1_795_000_000.125),
        environment_id: Some("env_01".to_owned()),
        bridge_id: Some("bridge_01".to_owned()),
        starter_session_id: Some("session_01".to_owned()),
        url: Some("https://claude.ai/code/session_01".to_owned()),
        claude_session_uuid: Some("5b0c6a4e-1d2f-4c3b-9a8e-7f6d5c4b3a21".to_owned()),
        resumed_conversation: true,
        launch_count: 3,
        created_at: "2026-11-25T15:02:22.000Z".to_owned(),
        updated_at: String::new(),
        debug_log_path: Some("/srv/logs/by-hand.log".to_owned()),
    }
}

fn open(dir: &Path) -> Store {
    let (store, lines) = Store::open(dir, true).unwrap();
    assert!(lines.is_empty(), "{lines:?}");
    store
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The row as loaded, with `updated_at` taken from the store (the store sets it).
fn loaded(store: &Store) -> Vec<InstanceRow> {
    store.load_instances().unwrap()
}

#[test]
fn a_full_row_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let row = full_row("0123abcd-0000-4000-8000-000000000001");
    store.upsert_instance(&row).unwrap();

    let rows = loaded(&store);
    assert_eq!(rows.len(), 1);
    assert_eq!(
        time::normalize_timestamp(&rows[0].updated_at).as_ref(),
        Some(&rows[0].updated_at)
    );
    assert_eq!(
        rows[0],
        InstanceRow {
            updated_at: rows[0].updated_at.clone(),
            ..row
        }
    );
}

#[test]
fn a_minimal_row_round_trips_with_nulls() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let row = InstanceRow {
        instance_id: "id-1".to_owned(),
        project: "beta".to_owned(),
        label: "beta".to_owned(),
        resume_mode: "standard".to_owned(),
        spawn_mode: "same-dir".to_owned(),
        permission_mode: "default".to_owned(),
        sandbox_mode: "default".to_owned(),
        last_status: "starting".to_owned(),
        launch_count: 1,
        ..InstanceRow::default()
    };
    store.upsert_instance(&row).unwrap();
    let rows = loaded(&store);
    // An empty created_at is filled in with the time of the first write.
    assert_eq!(rows[0].created_at, rows[0].updated_at);
    assert_eq!(
        rows[0],
        InstanceRow {
            created_at: rows[0].created_at.clone(),
            updated_at: rows[0].updated_at.clone(),
            ..row
        }
    );
}

#[test]
fn an_update_keeps_created_at() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let row = full_row("id-1");
    store.upsert_instance(&row).unwrap();

    let changed = InstanceRow {
        last_status: "stopped".to_owned(),
        bridge_pid: None,
        launch_count: 4,
        created_at: "2030-01-01T00:00:00.000Z".to_owned(),
        ..row.clone()
    };
    store.upsert_instance(&changed).unwrap();

    let rows = loaded(&store);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].created_at, row.created_at);
    assert_eq!(rows[0].last_status, "stopped");
    assert_eq!(rows[0].bridge_pid, None);
    assert_eq!(rows[0].launch_count, 4);
}

#[test]
fn delete_reports_whether_a_row_was_there() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.upsert_instance(&full_row("id-1")).unwrap();
    store.upsert_instance(&full_row("id-2")).unwrap();

    assert!(store.delete_instance("id-1").unwrap());
    assert!(!store.delete_instance("id-1").unwrap());
    let ids: Vec<_> = loaded(&store).into_iter().map(|r| r.instance_id).collect();
    assert_eq!(ids, ["id-2"]);
}

#[test]
fn reopening_keeps_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.upsert_instance(&full_row("id-1")).unwrap();
    let before = loaded(&store);
    drop(store);

    let store = open(dir.path());
    assert_eq!(loaded(&store), before);
}

#[test]
fn the_store_is_wal_with_the_pragmas_of_the_spec() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let pragma = |name: &str| -> String {
        store
            .conn
            .pragma_query_value(None, name, |row| row.get::<_, rusqlite::types::Value>(0))
            .map(|value| format!("{value:?}"))
            .unwrap()
    };
    assert_eq!(pragma("journal_mode"), r#"Text("wal")"#);
    assert_eq!(pragma("synchronous"), "Integer(1)");
    assert_eq!(pragma("foreign_keys"), "Integer(1)");
    assert_eq!(pragma("busy_timeout"), "Integer(5000)");
}

#[test]
fn files_are_private() {
    let dir = tempfile::tempdir().unwrap();
    let state_dir = dir.path().join("state");
    let store = open(&state_dir);
    store.upsert_instance(&full_row("id-1")).unwrap();

    assert_eq!(mode(&state_dir), 0o700);
    for name in [
        "clauster.sqlite3",
        "clauster.sqlite3-wal",
        "clauster.sqlite3-shm",
    ] {
        assert_eq!(mode(&state_dir.join(name)), 0o600, "{name}");
    }
}

#[test]
fn a_world_readable_store_is_tightened() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path()));
    let path = dir.path().join(STORE_FILE);
    std::fs::set_permissions(&path, Permissions::from_mode(0o644)).unwrap();
    drop(open(dir.path()));
    assert_eq!(mode(&path), 0o600);
}

#[test]
fn migration_sets_user_version() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let version: i64 = store
        .conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .unwrap();
    assert_eq!(version, i64::try_from(MIGRATIONS.len()).unwrap());
    // Nothing to back up when the store was created now.
    assert!(!dir.path().join(BACKUP_DIR).exists());
}

#[test]
fn a_migration_backs_up_first_and_keeps_the_newest_five() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.upsert_instance(&full_row("id-1")).unwrap();
    drop(store);

    let backups = dir.path().join(BACKUP_DIR);
    std::fs::create_dir(&backups).unwrap();
    let current = i64::try_from(MIGRATIONS.len()).unwrap();
    let step = format!("v{current}-v{}", current + 1);
    for stamp in ["20200101T000000Z", "20200102T000000Z", "20200103T000000Z"] {
        for versions in ["v0-v1", step.as_str()] {
            std::fs::write(
                backups.join(format!("pre-{versions}-{stamp}.sqlite3")),
                "old",
            )
            .unwrap();
        }
    }
    std::fs::write(backups.join("notes.txt"), "kept").unwrap();

    let mut next = MIGRATIONS.to_vec();
    next.push("ALTER TABLE instances ADD COLUMN extra TEXT;");
    let (store, lines) = Store::open_with(dir.path(), true, &next).unwrap();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with("copied the store to "), "{lines:?}");

    let version: i64 = store
        .conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .unwrap();
    assert_eq!(version, current + 1);
    assert_eq!(loaded(&store).len(), 1);

    let mut names: Vec<String> = std::fs::read_dir(&backups)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names.len(), 6, "{names:?}");
    assert!(names.contains(&"notes.txt".to_owned()));
    assert!(!names.contains(&"pre-v0-v1-20200101T000000Z.sqlite3".to_owned()));
    assert!(!names.contains(&format!("pre-{step}-20200101T000000Z.sqlite3")));
    let new = names
        .iter()
        .find(|name| name.starts_with(&format!("pre-{step}-")) && !name.contains("2020"))
        .expect("the new backup");
    let copy = backups.join(new);
    assert_eq!(mode(&copy), 0o600);
    assert_eq!(mode(&backups), 0o700);
    // The copy is the store as it was before the migration.
    let copied = Connection::open(&copy).unwrap();
    let (version, count): (i64, i64) = copied
        .query_row(
            "SELECT (SELECT user_version FROM pragma_user_version), count(*) FROM instances",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .unwrap();
    assert_eq!((version, count), (current, 1));
}

#[test]
fn no_backup_when_turned_off() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path()));
    let mut next = MIGRATIONS.to_vec();
    next.push("ALTER TABLE instances ADD COLUMN extra TEXT;");
    let (_, lines) = Store::open_with(dir.path(), false, &next).unwrap();
    assert!(lines.is_empty(), "{lines:?}");
    assert!(!dir.path().join(BACKUP_DIR).exists());
}

#[test]
fn a_store_from_a_newer_clauster_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut next = MIGRATIONS.to_vec();
    next.push("ALTER TABLE instances ADD COLUMN extra TEXT;");
    drop(Store::open_with(dir.path(), true, &next).unwrap());

    let error = Store::open(dir.path(), true).unwrap_err();
    let supported = i64::try_from(MIGRATIONS.len()).unwrap();
    assert!(
        matches!(
            error,
            StoreError::TooNew { found, supported: s, .. } if found == supported + 1 && s == supported
        ),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("newer than this clauster supports"),
        "{error}"
    );
}

// The Python import (§10.5).

/// Creates a `clauster.db` shaped like the Python store's, with the rows given as SQL.
fn python_store(dir: &Path, sql: &str) -> PathBuf {
    let path = dir.join("clauster.db");
    let python = Connection::open(&path).unwrap();
    python.execute_batch(sql).unwrap();
    path
}

const PYTHON_SCHEMA: &str = "
    CREATE TABLE instances (
        id INTEGER PRIMARY KEY,
        instance_id VARCHAR(36),
        project_name VARCHAR NOT NULL,
        label VARCHAR,
        intentional_stop BOOLEAN,
        spawn_mode VARCHAR,
        permission_mode VARCHAR,
        resume_mode VARCHAR,
        sandbox_mode VARCHAR,
        worktree_name VARCHAR,
        bridge_pid INTEGER,
        bridge_start_ticks INTEGER,
        bridge_proc_start FLOAT,
        bridge_boot_id VARCHAR,
        keeper_pid INTEGER,
        keeper_start_ticks INTEGER,
        keeper_proc_start FLOAT,
        created_at DATETIME,
        updated_at DATETIME
    );
    CREATE TABLE api_tokens (
        id INTEGER PRIMARY KEY,
        label VARCHAR NOT NULL UNIQUE,
        token_hash VARCHAR NOT NULL UNIQUE,
        created_at DATETIME,
        last_used_at DATETIME
    );";

/// A Python store with a full row, a row without `instance_id`, three bad rows and a good and
/// a bad token, next to an old `state.json`. Returns the store's path.
fn python_fixture(dir: &Path) -> PathBuf {
    let hash = "AB".repeat(32);
    std::fs::write(dir.join("state.json"), "{}").unwrap();
    python_store(
        dir,
        &format!(
            "{PYTHON_SCHEMA}
            INSERT INTO instances VALUES (1, '0123abcd-0000-4000-8000-000000000001', 'alpha',
                'alpha', 1, 'worktree', 'plan', 'pty', 'default', 'clauster-0123abcd', 4242,
                123456789, 1795000000.25, 'boot-1', 4241, 123456000, 1795000000.125,
                '2026-11-25 15:02:22.123456', '2026-11-25 16:00:00');
            INSERT INTO instances (id, instance_id, project_name, label, created_at)
                VALUES (2, NULL, 'beta', 'beta-2', '2026-11-25T15:02:22+01:00');
            INSERT INTO instances (id, instance_id, project_name, label, created_at, bridge_pid)
                VALUES (3, 'id-bad-pid', 'gamma', 'gamma', 'yesterday', 'not-a-pid');
            INSERT INTO instances (id, instance_id, project_name, label, resume_mode)
                VALUES (4, 'id-bad-mode', 'delta', 'delta', 'turbo');
            INSERT INTO instances (id, instance_id, project_name, label)
                VALUES (5, 'id-no-label', 'zeta', NULL);
            INSERT INTO instances (id, instance_id, project_name, label, created_at)
                VALUES (6, 'id-no-time', 'epsilon', 'epsilon', 'yesterday');
            INSERT INTO api_tokens VALUES (1, 'ci', '{hash}', '2026-01-02 03:04:05', NULL);
            INSERT INTO api_tokens VALUES (2, 'broken', 'not-a-hash', '2026-01-02 03:04:05', NULL);"
        ),
    )
}

#[test]
fn the_python_store_is_imported() {
    let dir = tempfile::tempdir().unwrap();
    python_fixture(dir.path());
    let (store, lines) = Store::open(dir.path(), true).unwrap();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].ends_with("is the state file of a very old Python Clauster; it is not imported"),
        "{lines:?}"
    );
    assert!(
        lines[1]
            .starts_with("imported 3 instances and 1 API tokens from the Python Clauster store "),
        "{lines:?}"
    );
    assert!(
        lines[1].ends_with("; skipped 4 rows that could not be converted"),
        "{lines:?}"
    );

    let rows = loaded(&store);
    assert_eq!(rows.len(), 3);
    let alpha = rows.iter().find(|row| row.project == "alpha").unwrap();
    assert_eq!(
        *alpha,
        InstanceRow {
            instance_id: "0123abcd-0000-4000-8000-000000000001".to_owned(),
            project: "alpha".to_owned(),
            label: "alpha".to_owned(),
            resume_mode: "pty".to_owned(),
            spawn_mode: "worktree".to_owned(),
            permission_mode: "plan".to_owned(),
            sandbox_mode: "default".to_owned(),
            worktree_name: Some("clauster-0123abcd".to_owned()),
            intentional_stop: true,
            last_status: "stopped".to_owned(),
            launched_at: Some("2026-11-25T15:02:22.123Z".to_owned()),
            bridge_pid: Some(4242),
            bridge_start_ticks: Some(123_456_789),
            bridge_proc_start: Some(1_795_000_000.25),
            bridge_boot_id: Some("boot-1".to_owned()),
            keeper_pid: Some(4241),
            keeper_start_ticks: Some(123_456_000),
            keeper_proc_start: Some(1_795_000_000.125),
            launch_count: 1,
            created_at: "2026-11-25T15:02:22.123Z".to_owned(),
            updated_at: alpha.updated_at.clone(),
            ..InstanceRow::default()
        }
    );
}

#[test]
fn python_rows_get_ids_defaults_and_rfc3339_times() {
    let dir = tempfile::tempdir().unwrap();
    python_fixture(dir.path());
    let (store, _) = Store::open(dir.path(), true).unwrap();
    let rows = loaded(&store);

    let beta = rows.iter().find(|row| row.project == "beta").unwrap();
    let id = beta.instance_id.as_bytes();
    assert_eq!(id.len(), 36, "{}", beta.instance_id);
    assert_eq!(
        (id[8], id[13], id[14], id[18], id[23]),
        (b'-', b'-', b'4', b'-', b'-')
    );
    assert!(matches!(id[19], b'8' | b'9' | b'a' | b'b'));
    assert_eq!(beta.label, "beta-2");
    assert_eq!(
        beta.launched_at.as_deref(),
        Some("2026-11-25T14:02:22.000Z")
    );
    assert_eq!(
        (
            &*beta.resume_mode,
            &*beta.spawn_mode,
            &*beta.permission_mode,
            &*beta.sandbox_mode
        ),
        ("standard", "same-dir", "default", "default")
    );
    assert!(!beta.intentional_stop);

    let epsilon = rows.iter().find(|row| row.project == "epsilon").unwrap();
    assert_eq!(epsilon.launched_at, None);
    assert_eq!(epsilon.created_at, epsilon.updated_at);

    let tokens: Vec<(String, String, String, Option<String>)> = store
        .conn
        .prepare("SELECT label, token_hash, created_at, last_used_at FROM api_tokens")
        .unwrap()
        .query_map([], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        tokens,
        [(
            "ci".to_owned(),
            "ab".repeat(32),
            "2026-01-02T03:04:05.000Z".to_owned(),
            None
        )]
    );
}

#[test]
fn the_python_import_runs_once_and_never_writes_the_python_file() {
    let dir = tempfile::tempdir().unwrap();
    let python_path = python_fixture(dir.path());
    std::fs::remove_file(dir.path().join("state.json")).unwrap();
    let python_bytes = std::fs::read(&python_path).unwrap();
    let python_modified = std::fs::metadata(&python_path).unwrap().modified().unwrap();

    let (store, lines) = Store::open(dir.path(), true).unwrap();
    assert_eq!(lines.len(), 1, "{lines:?}");
    // Never repeated, even once the store is empty again.
    for row in loaded(&store) {
        store.delete_instance(&row.instance_id).unwrap();
    }
    store.conn.execute("DELETE FROM api_tokens", []).unwrap();
    drop(store);
    let (store, lines) = Store::open(dir.path(), true).unwrap();
    assert!(lines.is_empty(), "{lines:?}");
    assert!(loaded(&store).is_empty());

    assert_eq!(std::fs::read(&python_path).unwrap(), python_bytes);
    assert_eq!(
        std::fs::metadata(&python_path).unwrap().modified().unwrap(),
        python_modified
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.starts_with("clauster.db-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn an_old_python_schema_reads_missing_columns_as_null() {
    let dir = tempfile::tempdir().unwrap();
    python_store(
        dir.path(),
        "CREATE TABLE instances (project_name VARCHAR, label VARCHAR, created_at DATETIME);
         INSERT INTO instances VALUES ('alpha', 'alpha', '2026-11-25 15:02:22');",
    );
    let (store, lines) = Store::open(dir.path(), true).unwrap();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("imported 1 instances and 0 API tokens"),
        "{lines:?}"
    );
    assert!(
        lines[0].ends_with("; it had no api_tokens table"),
        "{lines:?}"
    );
    let rows = loaded(&store);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].resume_mode, "standard");
    assert_eq!(rows[0].bridge_pid, None);
    assert_eq!(
        rows[0].launched_at.as_deref(),
        Some("2026-11-25T15:02:22.000Z")
    );
}

#[test]
fn a_non_empty_store_is_not_imported_into() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.upsert_instance(&full_row("id-1")).unwrap();
    drop(store);
    python_store(
        dir.path(),
        &format!(
            "{PYTHON_SCHEMA}
            INSERT INTO instances (project_name, label) VALUES ('beta', 'beta');"
        ),
    );
    let (store, lines) = Store::open(dir.path(), true).unwrap();
    assert!(lines.is_empty(), "{lines:?}");
    assert_eq!(loaded(&store).len(), 1);
}

#[test]
fn an_unreadable_python_store_is_reported_and_tried_again() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("clauster.db"), "this is not a database").unwrap();
    let (store, lines) = Store::open(dir.path(), true).unwrap();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("cannot read the Python Clauster store "),
        "{lines:?}"
    );
    assert_eq!(store.meta("python_import").unwrap(), None);
}

#[test]
fn project_policies_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    assert!(store.load_policies().unwrap().is_empty());
    let mut policy = PolicyRow {
        project: "alpha".into(),
        restart: Some("on-failure".into()),
        keep_running: None,
        wanted: true,
    };
    store.upsert_policy(&policy).unwrap();
    policy.keep_running = Some(true);
    policy.wanted = false;
    store.upsert_policy(&policy).unwrap();
    drop(store);
    let store = open(dir.path());
    assert_eq!(store.load_policies().unwrap(), [policy]);
}

#[test]
fn a_store_locked_by_another_process_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.set_busy_timeout(Duration::from_millis(50)).unwrap();
    let other = rusqlite::Connection::open(dir.path().join("clauster.sqlite3")).unwrap();
    other.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let said = store
        .upsert_instance(&full_row("aaaa1111"))
        .unwrap_err()
        .to_string();
    assert!(
        said.contains("another process holds a lock on the store") && !said.contains("disk space"),
        "{said}"
    );
    other.execute_batch("ROLLBACK").unwrap();
    store.upsert_instance(&full_row("aaaa1111")).unwrap();
}

#[test]
fn a_store_locked_while_it_opens_says_so_and_not_move_it_aside() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path()));
    let other = rusqlite::Connection::open(dir.path().join("clauster.sqlite3")).unwrap();
    other
        .execute_batch("PRAGMA locking_mode=EXCLUSIVE; BEGIN EXCLUSIVE; COMMIT;")
        .unwrap();
    let Err(err) = Store::open(dir.path(), true) else {
        panic!("opened a store another process holds exclusively");
    };
    let said = err.to_string();
    assert!(
        said.contains("another process holds a lock on the store") && !said.contains("aside"),
        "{said}"
    );
}

#[test]
fn a_write_ahead_log_without_its_store_is_refused_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.upsert_instance(&full_row("aaaa1111")).unwrap();
    // A crash leaves the latest writes in the log; the main file is then lost.
    let wal = dir.path().join("clauster.sqlite3-wal");
    let log = std::fs::read(&wal).unwrap();
    assert!(!log.is_empty());
    drop(store);
    std::fs::remove_file(dir.path().join("clauster.sqlite3")).unwrap();
    std::fs::write(&wal, &log).unwrap();
    let Err(err) = Store::open(dir.path(), true) else {
        panic!("made a new store over an orphaned log");
    };
    let said = err.to_string();
    assert!(
        said.contains("is missing but its write-ahead log"),
        "{said}"
    );
    assert_eq!(std::fs::read(&wal).unwrap(), log);
    assert!(!dir.path().join("clauster.sqlite3").exists());
}

#[test]
fn a_checkpoint_leaves_everything_in_the_store_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.upsert_instance(&full_row("aaaa1111")).unwrap();
    store.checkpoint().unwrap();
    let wal = dir.path().join("clauster.sqlite3-wal");
    assert_eq!(std::fs::metadata(&wal).map_or(0, |m| m.len()), 0);
    // The file alone, opened where no log is, has the row.
    let copy = tempfile::tempdir().unwrap();
    std::fs::copy(
        dir.path().join("clauster.sqlite3"),
        copy.path().join("clauster.sqlite3"),
    )
    .unwrap();
    assert_eq!(loaded(&open(copy.path())), loaded(&store));
}

#[test]
fn an_orphaned_log_fails_inspect_too_and_a_held_read_leaves_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.upsert_instance(&full_row("aaaa1111")).unwrap();
    // Another program's read keeps the checkpoint from finishing: it gives up, the log
    // stays, and nothing is lost.
    let reader = rusqlite::Connection::open(dir.path().join("clauster.sqlite3")).unwrap();
    reader
        .execute_batch("BEGIN; SELECT count(*) FROM instances;")
        .unwrap();
    assert!(store.checkpoint().is_err());
    drop(reader);
    drop(store);
    assert_eq!(loaded(&open(dir.path())).len(), 1);

    let orphan = tempfile::tempdir().unwrap();
    std::fs::write(orphan.path().join("clauster.sqlite3-wal"), b"frames").unwrap();
    let said = inspect(orphan.path()).unwrap_err().to_string();
    assert!(
        said.contains("is missing but its write-ahead log"),
        "{said}"
    );
}

#[test]
fn something_unusable_at_the_store_path_blames_the_file_not_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("clauster.sqlite3")).unwrap();
    let Err(err) = Store::open(dir.path(), true) else {
        panic!("opened a directory as the store");
    };
    let said = err.to_string();
    assert!(
        said.starts_with(&format!(
            "cannot open the store file {}",
            dir.path().join("clauster.sqlite3").display()
        )) && said.contains("a regular file this user owns")
            && !said.contains("state directory"),
        "{said}"
    );
    assert!(dir.path().join("clauster.sqlite3").is_dir(), "kept");
}
