//! Everything persistent: users, chatrooms, memberships and messages in SQLite.
//!
//! This is the only module with SQL in it. [`open`] turns a path into a ready
//! [`Store`] (checking the file, setting pragmas, migrating); [`queries`] holds
//! one function per statement, each taking a plain `&Connection` so the same
//! query serves both the read pool and the single writer
//! ([`crate::writer`]). Parameters are always bound, never formatted into SQL.

mod checkpoint;
mod open;
pub mod queries;

use std::path::{Path, PathBuf};
use std::time::Duration;

use r2d2::{Pool, PooledConnection};
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::Connection;

pub use checkpoint::{CHECKPOINT_INTERVAL, Checkpointer};
pub use open::{APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION};

/// How long a statement waits for another process's lock before giving up.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How much the database survives, chosen with `--sync`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum SyncMode {
    /// Survives the server being killed (SIGKILL, crash); the last commits may
    /// be lost if the whole machine loses power. SQLite `synchronous=NORMAL`.
    #[default]
    Normal,
    /// Also survives power loss: every commit waits for the disk. SQLite
    /// `synchronous=FULL`.
    Full,
}

/// How to open the database.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Connections in the read pool, plus one held by the writer.
    pub pool_size: u32,
    pub sync: SyncMode,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            pool_size: 8,
            sync: SyncMode::Normal,
        }
    }
}

/// Failures of the database layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: not a pipechat database ({reason}); the file was left untouched")]
    NotPipechat { path: PathBuf, reason: String },
    #[error(
        "{path}: schema version {found} is newer than this pipechat understands ({supported}); upgrade pipechat"
    )]
    NewerSchema {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error("{path}: cannot open the database: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    /// Another process held the database lock for longer than the busy timeout.
    #[error("the database is busy")]
    Busy,
    /// The writer has stopped: the server is shutting down.
    #[error("the server is shutting down")]
    Stopped,
    #[error("no database connection free: {0}")]
    Pool(#[from] r2d2::Error),
    #[error("database error: {0}")]
    Sqlite(rusqlite::Error),
    /// A failure shared by every request of one group commit.
    #[error("database error: {0}")]
    Batch(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        if is_busy(&err) {
            StoreError::Busy
        } else {
            StoreError::Sqlite(err)
        }
    }
}

/// Whether SQLite gave up waiting for a lock.
pub fn is_busy(err: &rusqlite::Error) -> bool {
    matches!(
        err.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// A registered user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    /// As registered.
    pub username: String,
}

/// A user with the hash to check a login against.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub user: User,
    pub password_hash: String,
}

/// A chatroom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    pub id: i64,
    /// As created.
    pub name: String,
}

/// The database: a pool of connections for reads, and one for the writer.
#[derive(Clone)]
pub struct Store {
    pool: Pool<SqliteConnectionManager>,
}

impl Store {
    /// Opens (creating or migrating when needed) the pipechat database at `path`.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotPipechat`] for a file that is not a SQLite database or
    /// holds someone else's tables, [`StoreError::NewerSchema`] for a database
    /// written by a newer pipechat; in both cases the file is not modified.
    pub fn open(path: &Path, options: &StoreOptions) -> Result<Store, StoreError> {
        open::open(path, options)
    }

    /// Runs read-only queries on a pooled connection.
    pub fn read<T>(
        &self,
        queries: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let conn = self.pool.get()?;
        Ok(queries(&conn)?)
    }

    /// A connection kept for the writer for the life of the server.
    pub fn writer_connection(
        &self,
    ) -> Result<PooledConnection<SqliteConnectionManager>, StoreError> {
        Ok(self.pool.get()?)
    }
}

/// The current time as stored and sent: UTC, RFC 3339, milliseconds.
pub fn now_timestamp() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}
