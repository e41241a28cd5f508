//! Writing rows straight into a database with no server running: the example
//! database, the bench's set-up and tests that need thousands of rows build
//! their data here, through the same [`Writes`] the server uses, so seeded
//! rows are exactly what the server would have written.

use std::path::{Path, PathBuf};

use super::sqlite::{SqliteStore, leave_wal_mode};
use super::{Place, Room, StoreError, StoreOptions, User, Writes};

/// Messages written per transaction by [`Seeder::fill_messages`].
const FILL_BATCH: u64 = 100_000;

/// An open database to seed. Nobody hears of its changes: no server runs.
pub struct Seeder {
    store: SqliteStore,
    path: PathBuf,
}

impl Seeder {
    /// Opens the database at `path`, creating and migrating it when needed.
    ///
    /// # Errors
    ///
    /// As `super::Store::open`.
    pub fn open(path: &Path) -> Result<Seeder, StoreError> {
        Ok(Seeder {
            store: SqliteStore::open(path, &StoreOptions::default())?,
            path: path.to_path_buf(),
        })
    }

    /// Runs `work` in one transaction, committed when it returns `Ok`.
    ///
    /// # Errors
    ///
    /// `work`'s error (then nothing is written), or the commit's.
    pub fn transaction<T, E: From<StoreError>>(
        &self,
        work: impl FnOnce(&dyn Writes) -> Result<T, E>,
    ) -> Result<T, E> {
        self.store.seed(false, work)
    }

    /// Writes `count` messages, spread over `rooms` and `authors` in turn,
    /// message `i` saying `text(i)`, in large transactions without waiting for
    /// the disk; `progress` hears how many were written after each one.
    ///
    /// # Errors
    ///
    /// The first failing transaction's; the ones before it stay written.
    pub fn fill_messages(
        &self,
        rooms: &[Room],
        authors: &[User],
        count: u64,
        text: impl Fn(u64) -> String,
        mut progress: impl FnMut(u64),
    ) -> Result<(), StoreError> {
        if rooms.is_empty() || authors.is_empty() {
            return Ok(());
        }
        let places: Vec<Place> = rooms.iter().cloned().map(Place::Room).collect();
        let mut written = 0;
        while written < count {
            let batch = FILL_BATCH.min(count - written);
            self.store.seed(true, |tx| -> Result<(), StoreError> {
                for i in written..written + batch {
                    let place = &places[(i % places.len() as u64) as usize];
                    let author = &authors[(i % authors.len() as u64) as usize];
                    tx.insert_message(place, author, &text(i))?;
                }
                Ok(())
            })?;
            written += batch;
            progress(batch);
        }
        Ok(())
    }

    /// Folds the WAL back into the file and closes the database.
    ///
    /// # Errors
    ///
    /// None today; kept for engines whose closing can fail.
    pub fn finish(self) -> Result<(), StoreError> {
        self.store.close();
        Ok(())
    }

    /// Folds the WAL back and leaves WAL mode, so the database is one
    /// self-contained file with no `-wal` beside it (the server switches it
    /// back to WAL when it opens it).
    ///
    /// # Errors
    ///
    /// When the database cannot be switched (another process has it open).
    pub fn finish_as_single_file(self) -> Result<(), StoreError> {
        self.store.close();
        let Seeder { store, path } = self;
        drop(store);
        leave_wal_mode(&path)
    }
}
