//! The one-time import from the Python Clauster's `<state_dir>/clauster.db` (bridges.md
//! §10.5): its instances and named API tokens become rows here, once, into an empty store.
//! The Python file is only ever opened read-only.

use std::fmt::Write as _;
use std::io::Read;
use std::path::Path;

use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags};

use super::{InstanceRow, Store, StoreError};
use crate::time;

/// The Python store's file name inside the state directory.
const PYTHON_STORE: &str = "clauster.db";
/// The state file of very old installs, which is not imported.
const PYTHON_STATE_JSON: &str = "state.json";
/// The `store_meta` key recording that the import ran, with its summary as the value.
const IMPORT_RECORD: &str = "python_import";

/// The Python `instances` columns read; absent ones (older schemas) read as null.
const INSTANCE_COLUMNS: &[&str] = &[
    "instance_id",
    "project_name",
    "label",
    "intentional_stop",
    "spawn_mode",
    "permission_mode",
    "resume_mode",
    "sandbox_mode",
    "worktree_name",
    "bridge_pid",
    "bridge_start_ticks",
    "bridge_proc_start",
    "bridge_boot_id",
    "keeper_pid",
    "keeper_start_ticks",
    "keeper_proc_start",
    "created_at",
];

/// The Python `api_tokens` columns read.
const TOKEN_COLUMNS: &[&str] = &["label", "token_hash", "created_at", "last_used_at"];

/// One token row converted for this store.
struct TokenRow {
    label: String,
    token_hash: String,
    created_at: String,
    last_used_at: Option<String>,
}

/// What the import wrote.
#[derive(Default)]
struct Counts {
    instances: usize,
    tokens: usize,
    skipped: usize,
}

/// The Python store's rows; `None` for a table it does not have.
type PythonRows = Option<Vec<Vec<Value>>>;

/// Runs the import when it never ran, the store holds no instances and no tokens, and
/// `clauster.db` exists. A Python store that cannot be read is reported in `lines` and tried
/// again at the next start; only failures to write this store are errors.
pub(super) fn import_python_store(
    store: &Store,
    state_dir: &Path,
    lines: &mut Vec<String>,
) -> Result<(), StoreError> {
    if store.meta(IMPORT_RECORD)?.is_some() || !store_is_empty(store)? {
        return Ok(());
    }
    let state_json = state_dir.join(PYTHON_STATE_JSON);
    if state_json.exists() {
        lines.push(format!(
            "{} is the state file of a very old Python Clauster; it is not imported",
            state_json.display()
        ));
    }
    let python_path = state_dir.join(PYTHON_STORE);
    if !python_path.is_file() {
        return Ok(());
    }
    let (instances, tokens) = match read_python_store(&python_path) {
        Ok(rows) => rows,
        Err(error) => {
            lines.push(format!(
                "cannot read the Python Clauster store {}: {error}; nothing was imported, and \
                 the import is tried again at the next start",
                python_path.display()
            ));
            return Ok(());
        }
    };

    let import_error = || store.query_error("import the Python Clauster store");
    let now = time::now_rfc3339();
    // Everything, the record included, lands in one transaction: a crash midway leaves the
    // store empty and the import still to do.
    let transaction = store.conn.unchecked_transaction().map_err(import_error())?;
    let counts = insert_rows(store, &instances, &tokens, &now).map_err(import_error())?;

    let mut summary = format!(
        "imported {} instances and {} API tokens from the Python Clauster store {}",
        counts.instances,
        counts.tokens,
        python_path.display()
    );
    if counts.skipped > 0 {
        let _ = write!(
            summary,
            "; skipped {} rows that could not be converted",
            counts.skipped
        );
    }
    if instances.is_none() {
        summary.push_str("; it had no instances table");
    }
    if tokens.is_none() {
        summary.push_str("; it had no api_tokens table");
    }
    transaction
        .execute(
            "INSERT INTO store_meta (key, value) VALUES (?1, ?2)",
            (IMPORT_RECORD, format!("{now} {summary}")),
        )
        .map_err(import_error())?;
    transaction.commit().map_err(import_error())?;
    lines.push(summary);
    Ok(())
}

/// Opens the Python store read-only and reads both tables.
fn read_python_store(path: &Path) -> rusqlite::Result<(PythonRows, PythonRows)> {
    let python = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let instances = read_table(&python, "instances", INSTANCE_COLUMNS)?;
    let tokens = read_table(&python, "api_tokens", TOKEN_COLUMNS)?;
    Ok((instances, tokens))
}

/// Converts and inserts the rows; a row that cannot be converted, or that repeats an id,
/// label or hash already imported, is skipped and counted.
fn insert_rows(
    store: &Store,
    instances: &PythonRows,
    tokens: &PythonRows,
    now: &str,
) -> rusqlite::Result<Counts> {
    let mut counts = Counts::default();
    for values in instances.iter().flatten() {
        let inserted = match convert_instance(&Columns::new(INSTANCE_COLUMNS, values), now) {
            Some(row) => store.insert_instance_sql(&row, &row.created_at, now, false)? > 0,
            None => false,
        };
        if inserted {
            counts.instances += 1;
        } else {
            counts.skipped += 1;
        }
    }
    for values in tokens.iter().flatten() {
        let inserted = match convert_token(&Columns::new(TOKEN_COLUMNS, values), now) {
            Some(token) => {
                store.conn.execute(
                    "INSERT INTO api_tokens (label, token_hash, created_at, last_used_at) \
                     VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
                    (
                        &token.label,
                        &token.token_hash,
                        &token.created_at,
                        &token.last_used_at,
                    ),
                )? > 0
            }
            None => false,
        };
        if inserted {
            counts.tokens += 1;
        } else {
            counts.skipped += 1;
        }
    }
    Ok(counts)
}

fn store_is_empty(store: &Store) -> Result<bool, StoreError> {
    store
        .conn
        .query_row(
            "SELECT NOT EXISTS (SELECT 1 FROM instances) AND NOT EXISTS (SELECT 1 FROM api_tokens)",
            [],
            |row| row.get(0),
        )
        .map_err(store.query_error("count the rows"))
}

/// The rows of `table` with `columns` in that order (null for columns the table lacks), or
/// `None` when the table does not exist.
fn read_table(
    python: &Connection,
    table: &str,
    columns: &[&str],
) -> rusqlite::Result<Option<Vec<Vec<Value>>>> {
    let present: Vec<String> = python
        .prepare("SELECT name FROM pragma_table_info(?1)")?
        .query_map([table], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    if present.is_empty() {
        return Ok(None);
    }
    let selected: Vec<String> = columns
        .iter()
        .map(|column| {
            if present.iter().any(|name| name.eq_ignore_ascii_case(column)) {
                format!("\"{column}\"")
            } else {
                "NULL".to_owned()
            }
        })
        .collect();
    let sql = format!("SELECT {} FROM \"{table}\"", selected.join(", "));
    let mut statement = python.prepare(&sql)?;
    let rows = statement.query_map([], |row| {
        (0..columns.len())
            .map(|index| row.get::<_, Value>(index))
            .collect::<Result<Vec<_>, _>>()
    })?;
    rows.collect::<Result<_, _>>().map(Some)
}

/// Named access to one row read by [`read_table`].
struct Columns<'a> {
    names: &'static [&'static str],
    values: &'a [Value],
}

impl<'a> Columns<'a> {
    fn new(names: &'static [&'static str], values: &'a [Value]) -> Self {
        Self { names, values }
    }

    fn value(&self, name: &str) -> &Value {
        let index = self
            .names
            .iter()
            .position(|column| *column == name)
            .expect("a column of the import's own list");
        &self.values[index]
    }

    /// Text, with empty text read as null; `Err` for numbers and blobs.
    fn text(&self, name: &str) -> Result<Option<String>, ()> {
        match self.value(name) {
            Value::Null => Ok(None),
            Value::Text(text) if text.trim().is_empty() => Ok(None),
            Value::Text(text) => Ok(Some(text.clone())),
            _ => Err(()),
        }
    }

    fn integer(&self, name: &str) -> Result<Option<i64>, ()> {
        match self.value(name) {
            Value::Null => Ok(None),
            Value::Integer(number) => Ok(Some(*number)),
            Value::Text(text) => text.trim().parse().map(Some).map_err(|_| ()),
            _ => Err(()),
        }
    }

    fn real(&self, name: &str) -> Result<Option<f64>, ()> {
        match self.value(name) {
            Value::Null => Ok(None),
            Value::Real(number) => Ok(Some(*number)),
            #[expect(
                clippy::cast_precision_loss,
                reason = "process start times are far below 2^52 seconds"
            )]
            Value::Integer(number) => Ok(Some(*number as f64)),
            Value::Text(text) => text.trim().parse().map(Some).map_err(|_| ()),
            Value::Blob(_) => Err(()),
        }
    }

    fn boolean(&self, name: &str) -> Result<bool, ()> {
        match self.value(name) {
            Value::Null => Ok(false),
            Value::Integer(number) => Ok(*number != 0),
            Value::Text(text) => match text.trim().to_ascii_lowercase().as_str() {
                "0" | "false" => Ok(false),
                "1" | "true" => Ok(true),
                _ => Err(()),
            },
            _ => Err(()),
        }
    }

    /// A timestamp as RFC 3339; anything unreadable is null (§10.5).
    fn timestamp(&self, name: &str) -> Option<String> {
        match self.value(name) {
            Value::Text(text) => time::normalize_timestamp(text),
            _ => None,
        }
    }
}

/// A Python instance row as a row of this store (`last_status: stopped`, `launched_at` = its
/// `created_at`), or `None` when it cannot be converted.
fn convert_instance(columns: &Columns<'_>, now: &str) -> Option<InstanceRow> {
    let resume_mode = columns
        .text("resume_mode")
        .ok()?
        .unwrap_or_else(|| "standard".to_owned());
    if !matches!(resume_mode.as_str(), "standard" | "pty") {
        return None;
    }
    let instance_id = match columns.text("instance_id").ok()? {
        Some(id) => id,
        None => uuid_v4().ok()?,
    };
    let created_at = columns.timestamp("created_at");
    Some(InstanceRow {
        instance_id,
        project: columns.text("project_name").ok()??,
        label: columns.text("label").ok()??,
        resume_mode,
        spawn_mode: columns
            .text("spawn_mode")
            .ok()?
            .unwrap_or_else(|| "same-dir".to_owned()),
        permission_mode: columns
            .text("permission_mode")
            .ok()?
            .unwrap_or_else(|| "default".to_owned()),
        sandbox_mode: columns
            .text("sandbox_mode")
            .ok()?
            .unwrap_or_else(|| "default".to_owned()),
        worktree_name: columns.text("worktree_name").ok()?,
        intentional_stop: columns.boolean("intentional_stop").ok()?,
        last_status: "stopped".to_owned(),
        launched_at: created_at.clone(),
        bridge_pid: columns.integer("bridge_pid").ok()?,
        bridge_start_ticks: columns.integer("bridge_start_ticks").ok()?,
        bridge_proc_start: columns.real("bridge_proc_start").ok()?,
        bridge_boot_id: columns.text("bridge_boot_id").ok()?,
        keeper_pid: columns.integer("keeper_pid").ok()?,
        keeper_start_ticks: columns.integer("keeper_start_ticks").ok()?,
        keeper_proc_start: columns.real("keeper_proc_start").ok()?,
        launch_count: 1,
        created_at: created_at.unwrap_or_else(|| now.to_owned()),
        updated_at: now.to_owned(),
        ..InstanceRow::default()
    })
}

/// A Python token row, or `None` without a label or a SHA-256 hex hash (a token that could
/// never match). An unreadable `created_at` becomes the import time, since the column is
/// required here.
fn convert_token(columns: &Columns<'_>, now: &str) -> Option<TokenRow> {
    let token_hash = columns
        .text("token_hash")
        .ok()??
        .trim()
        .to_ascii_lowercase();
    if token_hash.len() != 64 || !token_hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some(TokenRow {
        label: columns.text("label").ok()??,
        token_hash,
        created_at: columns
            .timestamp("created_at")
            .unwrap_or_else(|| now.to_owned()),
        last_used_at: columns.timestamp("last_used_at"),
    })
}

/// A random UUID v4 from the kernel's generator, for Python rows that predate `instance_id`.
fn uuid_v4() -> std::io::Result<String> {
    let mut bytes = [0_u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let mut text = String::with_capacity(36);
    for (index, byte) in bytes.iter().enumerate() {
        if matches!(index, 4 | 6 | 8 | 10) {
            text.push('-');
        }
        let _ = write!(text, "{byte:02x}");
    }
    Ok(text)
}
