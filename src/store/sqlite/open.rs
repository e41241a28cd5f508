//! Opening a database file: claiming it for this server, refusing foreign
//! files, setting pragmas, migrating.

use std::path::Path;
use std::time::Duration;

use r2d2::Pool;
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, OpenFlags};

use super::{fold, folded_names, v1_names};
use crate::store::{BUSY_TIMEOUT, StoreError, StoreOptions, SyncMode, announce_schema_change};

/// `PRAGMA application_id` of every pipechat database: "pcht" in ASCII.
pub const APPLICATION_ID: i64 = 0x7063_6874;

/// Page size of new databases. A lone message's commit writes about eight
/// pages to the WAL (the message, its index entry, the place's counters,
/// the author's read position, the search index; see BENCHMARKS.md), so
/// small pages keep it cheap; B-trees of 10 million messages stay four or
/// five levels deep.
const PAGE_SIZE: i64 = 1024;

/// How much of the database file each reading connection reads through a
/// memory map: SQLite's own ceiling on Linux (2 GiB), address space rather than
/// memory. Fetching a page of history after a random cursor in a 10-million
/// message file took a `pread` per page missing from SQLite's small cache.
const MMAP_SIZE: i64 = 0x7fff_0000;

/// One step of the schema.
enum Migration {
    /// A script of `migrations/sqlite/`.
    Script(&'static str),
    /// A change that needs more than SQL. It returns the warnings it has
    /// for the operator (rooms it renamed), which are logged once every
    /// migration has committed: rolled back, it changed nothing.
    Code(fn(&rusqlite::Transaction) -> rusqlite::Result<Vec<String>>),
}

/// The schema migrations, in order; migration `i` takes `user_version` from `i`
/// to `i + 1`.
const MIGRATIONS: &[Migration] = &[
    Migration::Script(include_str!("../../../migrations/sqlite/0001_init.sql")),
    Migration::Script(include_str!(
        "../../../migrations/sqlite/0002_names_and_v2.sql"
    )),
    Migration::Script(include_str!("../../../migrations/sqlite/0003_guests.sql")),
    Migration::Script(include_str!(
        "../../../migrations/sqlite/0004_search_per_commit.sql"
    )),
    Migration::Script(include_str!(
        "../../../migrations/sqlite/0005_room_departures.sql"
    )),
    Migration::Script(include_str!(
        "../../../migrations/sqlite/0006_search_folded.sql"
    )),
    Migration::Script(include_str!(
        "../../../migrations/sqlite/0007_topic_setter.sql"
    )),
    Migration::Script(include_str!(
        "../../../migrations/sqlite/0008_fewer_pages_per_message.sql"
    )),
    Migration::Code(v1_names::rename_rooms_named_like_users),
    Migration::Code(folded_names::fold_room_names),
    Migration::Script(include_str!(
        "../../../migrations/sqlite/0011_direct_message_guests.sql"
    )),
];

/// The schema version this code writes and understands.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Claims the database file for this process (an exclusive `flock` held as
/// long as the returned file is open), or refuses: two servers on one SQLite
/// file would each tell only their own clients of the messages they store,
/// so subscribers of one would silently miss what the other's stored.
/// Readers (`sqlite3`, `pipechat-server backup`) take no such lock and are
/// not refused. `Ok(None)`: no file to claim yet, or one this user may not
/// write ([`open`] says so in its own words).
///
/// SQLite's own locks are `fcntl` locks, which the process loses on closing
/// *any* descriptor of the file: the returned file must stay open until the
/// store's connections are closed. It is opened for writing, as NFS needs
/// for an exclusive lock.
pub(super) fn claim(path: &Path) -> Result<Option<std::fs::File>, StoreError> {
    use rustix::fs::{FlockOperation, flock};
    let unusable = |reason: String| StoreError::Unusable {
        path: path.to_path_buf(),
        reason,
    };
    // SQLite would take these for a URI or a database in memory, which no
    // file stands for.
    let named = path.to_string_lossy();
    if named.starts_with("file:") || named == ":memory:" {
        return Err(unusable(
            "give the database as a file name (SQLite URIs and :memory: are not served)"
                .to_string(),
        ));
    }
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
    {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => match create_private(path) {
            Ok(file) => file,
            // Made by another process meanwhile, or not ours to make here:
            // SQLite's own opening says what is wrong, if anything is.
            Err(_) => return Ok(None),
        },
        Err(err) if err.kind() == std::io::ErrorKind::PermissionDenied => return Ok(None),
        Err(err) => return Err(unusable(format!("cannot open the database file: {err}"))),
    };
    match flock(&file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(Some(file)),
        Err(rustix::io::Errno::WOULDBLOCK) => Err(StoreError::Served(path.to_path_buf())),
        Err(err) => Err(unusable(format!("cannot lock the database file: {err}"))),
    }
}

/// Creates a new, empty database file that only its owner may read and
/// write: it will hold every direct message and every password's hash, and
/// SQLite gives its `-wal` and `-shm` files the same mode. (SQLite itself
/// would create it as the umask allows, usually readable by every user of
/// the machine.) An existing file keeps the mode its owner gave it.
fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

/// Claims the file ([`claim`]) and opens it ([`open`]). Claimed before
/// migrating, so that a second server does not change the schema under the
/// first; claimed again once opened when there was no file to claim yet.
/// The claim comes first in the pair: bound first, it is dropped after the
/// pool.
///
/// With [`StoreOptions::beside_a_server`] (the operator's short writes) the
/// file is neither claimed (`None`), whether or not a server holds it, nor
/// migrated: an operator's command waiting at its password prompt must not
/// keep the server from starting, and one at another version must not
/// change the file under a server of that version.
pub(super) fn claim_and_open(
    path: &Path,
    options: &StoreOptions,
) -> Result<(Option<std::fs::File>, Pool<SqliteConnectionManager>), StoreError> {
    if options.beside_a_server {
        return Ok((None, open_beside_a_server(path, options)?));
    }
    let existed = path.exists();
    let claimed = claim(path)?;
    let pool = open(path, options).inspect_err(|_| {
        if !existed && claimed.is_some() {
            remove_if_empty(path);
        }
    })?;
    let claimed = match claimed {
        Some(file) => file,
        None => claim(path)?.ok_or_else(|| StoreError::Unusable {
            path: path.to_path_buf(),
            reason: "cannot open the database file for writing".to_string(),
        })?,
    };
    Ok((Some(claimed), pool))
}

/// Removes the database file at `path` (and a rollback journal beside it)
/// when it holds nothing: a start that created the file and then failed
/// (a full disk, say) leaves the folder as it found it. Called holding the
/// file's claim, so no other server is using it.
fn remove_if_empty(path: &Path) {
    if std::fs::metadata(path).is_ok_and(|meta| meta.len() == 0) {
        let _ = std::fs::remove_file(path);
        let mut journal = path.as_os_str().to_owned();
        journal.push("-journal");
        let _ = std::fs::remove_file(journal);
    }
}

/// A pool of connections to a file servers may be using: its schema must be
/// the one this pipechat writes, since migrating it could change it under a
/// server.
fn open_beside_a_server(
    path: &Path,
    options: &StoreOptions,
) -> Result<Pool<SqliteConnectionManager>, StoreError> {
    let pool = pool_of(path, options)?;
    let conn = pool.get()?;
    // Said now, before the operator types a password for nothing.
    if conn.is_readonly(rusqlite::MAIN_DB)? {
        return Err(StoreError::Unusable {
            path: path.to_path_buf(),
            reason: "this user may not write the database file (check its owner and mode)"
                .to_string(),
        });
    }
    let version: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if version != SCHEMA_VERSION {
        return Err(StoreError::OtherSchema {
            path: path.to_path_buf(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(pool)
}

/// Opens the file (creating and migrating it when needed) and a pool of
/// connections to it.
pub(super) fn open(
    path: &Path,
    options: &StoreOptions,
) -> Result<Pool<SqliteConnectionManager>, StoreError> {
    open_file(path, options).map_err(|err| match err {
        StoreError::Open { .. } | StoreError::Migration { .. } | StoreError::Sqlite(_) => {
            folder_problem(path).unwrap_or(match err {
                // Named, as every refused start names its file (a full
                // disk's "database or disk is full" at the first commit).
                StoreError::Sqlite(source) => StoreError::Open {
                    path: path.to_path_buf(),
                    source,
                },
                other => other,
            })
        }
        other => other,
    })
}

/// Why SQLite cannot make its files beside `path`, if it cannot: the folder
/// is missing, or this user may not create files in it (its owner or mode,
/// or a file system mounted read-only, as systemd's `ProtectSystem=strict`
/// leaves every folder not in `ReadWritePaths`). SQLite's own words for
/// these, "unable to open database file" or "attempt to write a readonly
/// database" of a file that is writable, do not point at the folder.
fn folder_problem(path: &Path) -> Option<StoreError> {
    let reason = unwritable_folder(path)?;
    Some(StoreError::Unusable {
        path: path.to_path_buf(),
        reason: format!("{reason}, where SQLite keeps the database's -wal and -shm files"),
    })
}

/// Why no file can be created beside `path`, if none can: its folder is
/// missing, or this user may not write in it.
pub(super) fn unwritable_folder(path: &Path) -> Option<String> {
    use rustix::fs::{Access, access};
    let folder = folder_of(path);
    match access(folder, Access::WRITE_OK) {
        Ok(()) => None,
        Err(rustix::io::Errno::NOENT) => {
            Some(format!("the folder {} does not exist", folder.display()))
        }
        Err(err) => Some(format!(
            "this user may not create files in the folder {} ({})",
            folder.display(),
            std::io::Error::from(err)
        )),
    }
}

/// The folder a file is in: `.` for a bare name.
pub(super) fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

fn open_file(
    path: &Path,
    options: &StoreOptions,
) -> Result<Pool<SqliteConnectionManager>, StoreError> {
    check_existing_file(path)?;

    let open_error = |source| StoreError::Open {
        path: path.to_path_buf(),
        source,
    };
    let mut conn = Connection::open(path).map_err(open_error)?;
    // SQLite opens a file it may not write read-only, without a word; every
    // write would then fail.
    if conn.is_readonly(rusqlite::MAIN_DB).map_err(open_error)? {
        return Err(StoreError::Unusable {
            path: path.to_path_buf(),
            reason: "this user may not write the database file (check its owner and mode)"
                .to_string(),
        });
    }
    set_connection_pragmas(&conn, options.sync).map_err(open_error)?;
    // Only takes effect on a new, empty file; existing databases keep theirs.
    conn.pragma_update(None, "page_size", PAGE_SIZE)
        .map_err(open_error)?;
    // Before WAL mode is set: a migration that fails then leaves the file as
    // it found it.
    migrate(&mut conn, path)?;
    // WAL is a property of the file: readers never block the writer, and a
    // commit is durable against a killed process without waiting for the disk.
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .map_err(open_error)?;
    if !mode.eq_ignore_ascii_case("wal") {
        log::warn!("{}: journal mode is {mode}, not WAL", path.display());
    }
    drop(conn);
    pool_of(path, options)
}

/// A pool of connections to the (opened) file at `path`.
fn pool_of(
    path: &Path,
    options: &StoreOptions,
) -> Result<Pool<SqliteConnectionManager>, StoreError> {
    let sync = options.sync;
    let manager = SqliteConnectionManager::file(path)
        .with_init(move |conn| set_connection_pragmas(conn, sync));
    let pool = Pool::builder()
        .max_size(options.pool_size.max(2))
        .min_idle(Some(1))
        .connection_timeout(BUSY_TIMEOUT)
        .build(manager)?;
    Ok(pool)
}

fn set_connection_pragmas(conn: &Connection, sync: SyncMode) -> rusqlite::Result<()> {
    conn.busy_handler(Some(wait_for_lock))?;
    // The search index's triggers call it (migration 0006).
    fold::register(conn)?;
    conn.set_prepared_statement_cache_capacity(32);
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Deleted content is overwritten with zeros, not left in free pages.
    conn.pragma_update(None, "secure_delete", "ON")?;
    let synchronous = match sync {
        SyncMode::Normal => "NORMAL",
        SyncMode::Full => "FULL",
    };
    conn.pragma_update(None, "synchronous", synchronous)?;
    // The checkpoint thread does this, so that no commit has to.
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    // Pages the operating system has cached are read in place instead of
    // copied by a system call each (SQLite maps the file read-only; writes
    // still go through the WAL).
    conn.pragma_update(None, "mmap_size", MMAP_SIZE)?;
    Ok(())
}

/// Waits for another connection's lock, in short naps at first, for up to
/// [`BUSY_TIMEOUT`] in all. SQLite's own busy timeout sleeps 1, 2, 5, 10 ms
/// and more between tries; the checkpoint thread holds the write lock for
/// well under a millisecond, and those coarse naps showed in message latency.
pub(super) fn wait_for_lock(attempt: i32) -> bool {
    const SHORT_NAP: Duration = Duration::from_micros(100);
    const SHORT_NAPS: u32 = 100;
    const LONG_NAP: Duration = Duration::from_millis(10);
    let attempt = attempt.max(0) as u32;
    let waited = if attempt < SHORT_NAPS {
        SHORT_NAP * attempt
    } else {
        SHORT_NAP * SHORT_NAPS + LONG_NAP * (attempt - SHORT_NAPS)
    };
    if waited >= BUSY_TIMEOUT {
        return false;
    }
    std::thread::sleep(if attempt < SHORT_NAPS {
        SHORT_NAP
    } else {
        LONG_NAP
    });
    true
}

/// Looks at an existing file read-only and refuses it unless it is empty, a
/// fresh SQLite file, or a pipechat database this code can handle.
pub(super) fn check_existing_file(path: &Path) -> Result<(), StoreError> {
    let not_pipechat = |reason: &str| StoreError::NotPipechat {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    // Only a file SQLite calls no database is not pipechat's: one it cannot
    // read (permissions, a WAL file it may not share) may well be.
    let refused = |err: rusqlite::Error| match err.sqlite_error_code() {
        Some(rusqlite::ErrorCode::NotADatabase) => not_pipechat(&err.to_string()),
        _ => StoreError::Open {
            path: path.to_path_buf(),
            source: err,
        },
    };
    match std::fs::metadata(path) {
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(err) => {
            return Err(StoreError::Unusable {
                path: path.to_path_buf(),
                reason: err.to_string(),
            });
        }
        Ok(meta) if meta.is_dir() => return Err(not_pipechat("it is a directory")),
        Ok(meta) if meta.len() == 0 => return Ok(()),
        Ok(_) => {}
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(refused)?;
    let header = conn.query_row(
        "SELECT (SELECT application_id FROM pragma_application_id()),
                (SELECT user_version FROM pragma_user_version()),
                (SELECT count(*) FROM sqlite_schema)",
        [],
        |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, i64>(2)?,
            ))
        },
    );
    let (application_id, version, objects) = header.map_err(refused)?;
    if application_id == APPLICATION_ID {
        if version > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema {
                path: path.to_path_buf(),
                found: version,
                supported: SCHEMA_VERSION,
            });
        }
        Ok(())
    } else if application_id == 0 && version == 0 && objects == 0 {
        Ok(())
    } else {
        Err(not_pipechat("it holds another application's data"))
    }
}

/// Brings the schema to [`SCHEMA_VERSION`] in one IMMEDIATE transaction, so two
/// servers starting at once cannot both migrate.
///
/// Foreign keys are off while it runs (SQLite's way of rebuilding a table
/// others refer to, as version 3 rebuilds `users`), and the result is checked
/// with `PRAGMA foreign_key_check` before it commits.
fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    let migrated = migrate_without_foreign_keys(conn, path);
    conn.pragma_update(None, "foreign_keys", "ON")?;
    migrated
}

fn migrate_without_foreign_keys(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let version: i64 = tx.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            path: path.to_path_buf(),
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    if version == SCHEMA_VERSION {
        return Ok(());
    }
    let failed = |version: i64, reason: String| StoreError::Migration {
        path: path.to_path_buf(),
        version,
        reason,
    };
    announce_schema_change(&path.display().to_string(), version, SCHEMA_VERSION);
    let mut warnings = Vec::new();
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let target = index as i64 + 1;
        log::debug!("{}: migrating schema to version {target}", path.display());
        match migration {
            Migration::Script(sql) => tx.execute_batch(sql),
            Migration::Code(change) => change(&tx).map(|said| warnings.extend(said)),
        }
        .and_then(|()| tx.pragma_update(None, "user_version", target))
        .map_err(|err| failed(target, sqlite_reason(&err)))?;
    }
    let broken: i64 = tx.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |row| {
        row.get(0)
    })?;
    if broken > 0 {
        return Err(failed(
            SCHEMA_VERSION,
            format!("it would leave {broken} rows referring to missing rows"),
        ));
    }
    tx.commit()?;
    for warning in warnings {
        log::warn!("{}: {warning}", path.display());
    }
    Ok(())
}

/// SQLite's own sentence for a failure, without the statement text that
/// rusqlite adds to it (a migration's is a whole script).
fn sqlite_reason(err: &rusqlite::Error) -> String {
    match err {
        rusqlite::Error::SqlInputError { msg, .. } => msg.clone(),
        rusqlite::Error::SqliteFailure(_, Some(msg)) => msg.clone(),
        other => other.to_string(),
    }
}

/// Switches a database nobody else has open from WAL to the rollback journal,
/// so it is one self-contained file; the server switches it back on opening.
pub(crate) fn leave_wal_mode(path: &Path) -> Result<(), StoreError> {
    let open_error = |source| StoreError::Open {
        path: path.to_path_buf(),
        source,
    };
    let conn = Connection::open(path).map_err(open_error)?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode = DELETE", [], |row| row.get(0))
        .map_err(open_error)?;
    if !mode.eq_ignore_ascii_case("delete") {
        log::warn!("{}: journal mode stayed {mode}", path.display());
    }
    Ok(())
}
