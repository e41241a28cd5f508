//! The store on SQLite: one file, WAL mode, a pool of connections for reads
//! and one writer connection whose transactions are group-committed.
//!
//! - [`open`]: claiming the file for this server, refusing foreign files,
//!   pragmas, migrations ([`v1_names`] and [`folded_names`]: those in
//!   code).
//! - [`queries`]: every statement behind the [`Reads`] and [`Writes`] of a
//!   connection.
//! - [`writer`]: the single writer and its group commit.
//! - [`checkpoint`]: folding the WAL back into the file, off the writer's path.
//! - [`fold`]: text as the search index holds it, without accents.
//! - [`mod@backup`]: consistent copies of a live database.
//! - [`wal_writes`]: a commit's WAL frames in one write.
//! - [`process_wide`]: SQLite's process-wide settings, that VFS among them.
//!
//! The last two are the crate's only `unsafe` code: they call SQLite's C
//! interface directly, where `rusqlite` has no safe wrapper.

mod backup;
mod checkpoint;
mod fold;
mod folded_names;
mod open;
#[allow(unsafe_code)]
mod process_wide;
mod queries;
mod v1_names;
#[allow(unsafe_code)]
mod wal_writes;
mod writer;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use parking_lot::Mutex;
use r2d2::Pool;
use r2d2_sqlite::SqliteConnectionManager;

use super::{ChangeSink, Reads, StoreError, StoreOptions, Writes};
use checkpoint::Checkpointer;
pub(crate) use fold::indexed_words;
use queries::SqliteTx;
use writer::{Listeners, Writer};

pub(super) use backup::backup;
pub(super) use open::leave_wal_mode;
pub use open::{APPLICATION_ID, SCHEMA_VERSION};

pub(super) struct SqliteStore {
    pool: Pool<SqliteConnectionManager>,
    writer: Writer,
    /// Stopped (dropped) by [`SqliteStore::close`].
    checkpointer: Mutex<Option<Checkpointer>>,
    /// This process's claim on the file ([`open::claim`]). Last, so that it
    /// is closed after the connections above (fields drop in order, after
    /// [`SqliteStore`]'s `drop` has stopped the threads that hold some).
    _claimed: Option<std::fs::File>,
}

impl SqliteStore {
    pub(super) fn open(path: &Path, options: &StoreOptions) -> Result<SqliteStore, StoreError> {
        process_wide::configure();
        // Bound before the pool, so that an error below drops the pool first.
        let (claimed, pool) = open::claim_and_open(path, options)?;
        let text_removed = Arc::new(AtomicBool::new(false));
        let writer_conn = pool.get()?;
        // Only readers read through the memory map (`open::MMAP_SIZE`): with
        // it, the writer's commits measured 9 % slower for a lone sender.
        writer_conn.pragma_update(None, "mmap_size", 0)?;
        let writer = Writer::start(writer_conn, Listeners::new(Arc::clone(&text_removed)))
            .map_err(StoreError::Thread)?;
        // Beside a server (unclaimed), checkpoints are the server's.
        let checkpointer = match claimed {
            Some(_) => {
                Some(Checkpointer::start(pool.clone(), text_removed).map_err(StoreError::Thread)?)
            }
            None => None,
        };
        Ok(SqliteStore {
            pool,
            writer,
            checkpointer: Mutex::new(checkpointer),
            _claimed: claimed,
        })
    }

    pub(super) fn attach(&self, sink: Arc<dyn ChangeSink>) {
        self.writer.attach(sink);
    }

    pub(super) fn read<T, E: From<StoreError>>(
        &self,
        work: impl FnOnce(&dyn Reads) -> Result<T, E>,
    ) -> Result<T, E> {
        let conn = self.pool.get().map_err(|err| E::from(err.into()))?;
        work(&SqliteTx::reading(&conn))
    }

    pub(super) fn write<T, E>(
        &self,
        work: impl FnOnce(&dyn Writes) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.writer.write(work)
    }

    pub(super) fn write_then<T, E>(
        &self,
        work: impl FnOnce(&dyn Writes) -> Result<T, E> + Send + 'static,
        then: impl FnOnce(Result<T, E>) + Send + 'static,
    ) where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.writer.write_then(work, then);
    }

    pub(super) fn close(&self) {
        self.writer.stop();
        self.checkpointer.lock().take();
        let folded = self
            .pool
            .get()
            .map_err(StoreError::from)
            .and_then(|conn| Ok(conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")?));
        if let Err(err) = folded {
            log::warn!("final checkpoint failed: {err}");
        }
    }

    /// Runs seeding `work` in one transaction of its own, outside the
    /// writer; `unsynced` skips waiting for the disk (bulk fills, where a
    /// crash just means filling again).
    pub(super) fn seed<T, E: From<StoreError>>(
        &self,
        unsynced: bool,
        work: impl FnOnce(&dyn Writes) -> Result<T, E>,
    ) -> Result<T, E> {
        let sqlite = |err: rusqlite::Error| E::from(StoreError::from(err));
        let mut conn = self.pool.get().map_err(|err| E::from(err.into()))?;
        if unsynced {
            conn.execute_batch("PRAGMA synchronous = OFF")
                .map_err(sqlite)?;
        }
        let tx = conn.transaction().map_err(sqlite)?;
        let backlog = queries::SearchBacklog::default();
        let value = work(&SqliteTx::seeding(&tx, &backlog))?;
        backlog.index(&tx).map_err(sqlite)?;
        tx.commit().map_err(sqlite)?;
        Ok(value)
    }
}

impl Drop for SqliteStore {
    /// A store dropped without [`SqliteStore::close`] (a seeder, a failed
    /// start) still stops its threads, whose connections must be closed
    /// before the claim on the file is.
    fn drop(&mut self) {
        self.writer.stop();
        self.checkpointer.lock().take();
    }
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
fn is_busy(err: &rusqlite::Error) -> bool {
    matches!(
        err.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// A SQLite database opened to be copied elsewhere (`import`): claimed as a
/// server claims it, so that no server writes to it meanwhile, and migrated
/// to this version's schema, as a server start would.
pub(super) struct Exported {
    pool: Pool<SqliteConnectionManager>,
    /// Last: closed after the connections ([`open::claim`]).
    _claimed: Option<std::fs::File>,
}

impl Exported {
    /// # Errors
    ///
    /// No such file, not a pipechat database, or a server is serving it.
    pub(super) fn open(path: &Path) -> Result<Exported, StoreError> {
        if !path.is_file() {
            // rusqlite's words would be "Invalid path".
            return Err(StoreError::Unusable {
                path: path.to_path_buf(),
                reason: "there is no such file to import".into(),
            });
        }
        let (claimed, pool) =
            open::claim_and_open(path, &StoreOptions::default()).map_err(|err| match err {
                // Served's hint (several servers need PostgreSQL) is for a
                // second server, not for someone moving to PostgreSQL.
                StoreError::Served(path) => StoreError::Unusable {
                    path,
                    reason: "another pipechat server is already serving this file; stop it \
                             first: import reads a file no server is writing"
                        .into(),
                },
                other => other,
            })?;
        Ok(Exported {
            pool,
            _claimed: claimed,
        })
    }

    /// A connection to read it with.
    pub(super) fn connection(
        &self,
    ) -> Result<r2d2::PooledConnection<SqliteConnectionManager>, StoreError> {
        Ok(self.pool.get()?)
    }
}

/// A fresh, migrated database in a temporary folder, for unit tests.
#[cfg(test)]
pub(super) fn test_database() -> (tempfile::TempDir, Pool<SqliteConnectionManager>) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let pool = open::open(&dir.path().join("chat.db"), &StoreOptions::default())
        .expect("a fresh database");
    (dir, pool)
}
