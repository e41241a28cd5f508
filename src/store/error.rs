//! Failures of the database layer. Their sentences are for the operator
//! (refused files at start) and the log; the core turns them into what a
//! client is told.

use std::path::PathBuf;

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
    /// The file is a pipechat database the server may not write (its owner
    /// or mode), or cannot be looked at.
    #[error("{path}: {reason}")]
    Unusable { path: PathBuf, reason: String },
    /// Another server holds the file ([`super::StoreOptions::beside_a_server`]
    /// lets an operator's command write beside it).
    #[error(
        "{0}: another pipechat server is already serving this file; stop it first (several servers need PostgreSQL: docs/scale-out.md)"
    )]
    Served(PathBuf),
    /// An operator's command found another schema than this pipechat
    /// writes: it does not migrate a database that servers may be using.
    #[error(
        "{path}: schema version {found}, where this pipechat writes {supported}; use the running servers' own pipechat-server, or start this version's server on it first"
    )]
    OtherSchema {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    /// A migration failed; its transaction was rolled back.
    #[error(
        "{path}: cannot migrate the schema to version {version}: {reason}; nothing was changed"
    )]
    Migration {
        path: PathBuf,
        version: i64,
        reason: String,
    },
    #[error("{location}: {reason}")]
    Connect { location: String, reason: String },
    /// Another process held the database lock for longer than the busy timeout.
    #[error("the database is busy")]
    Busy,
    /// The store is closed: the server is shutting down.
    #[error("the server is shutting down")]
    Stopped,
    #[error("no database connection free: {0}")]
    Pool(#[from] r2d2::Error),
    #[error("database error: {0}")]
    Sqlite(rusqlite::Error),
    /// PostgreSQL refused or failed a statement.
    #[error("database error: {}", super::postgres::describe(.0))]
    Postgres(::postgres::Error),
    /// PostgreSQL cannot be reached (down, restarting, the network).
    #[error("the database cannot be reached: {0}")]
    Unreachable(String),
    #[error("cannot start a thread: {0}")]
    Thread(std::io::Error),
    #[error("cannot back up to {out}: {reason}")]
    Backup { out: PathBuf, reason: String },
    /// `import` refused the database it was to copy into.
    #[error("cannot import into {location}: {reason}")]
    Import { location: String, reason: String },
    /// A failure shared by every write of one group commit.
    #[error("database error: {0}")]
    Batch(String),
}

impl StoreError {
    /// Whether the failure is passing (the database busy or the server
    /// stopping), as opposed to a fault worth an operator's attention.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StoreError::Busy
                | StoreError::Stopped
                | StoreError::Pool(_)
                | StoreError::Unreachable(_)
        )
    }
}
