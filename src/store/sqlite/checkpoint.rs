//! Moving committed pages from the WAL into the database file, off the
//! writer's path.
//!
//! SQLite's automatic checkpoint runs inside whichever commit crosses the
//! threshold, and it waits for the disk: the writer, and every sender in its
//! group, stalled for tens of milliseconds now and then. Automatic
//! checkpoints are off on every connection (see `open`); this thread
//! runs a PASSIVE checkpoint every [`CHECKPOINT_INTERVAL`] instead, which never
//! blocks the writer or readers.
//!
//! Under steady writing a PASSIVE checkpoint never quite catches up (new
//! frames arrive while it copies), so the WAL would only grow. Once it holds
//! more than [`RESTART_FRAMES`], a RESTART checkpoint follows the passive one:
//! it briefly holds the write lock to copy the few frames left and makes the
//! next commit write the WAL from its start again.
//!
//! After a message is deleted or edited its old text is gone from the
//! database pages (`secure_delete`), but older copies of those pages still
//! sit in the WAL. So the next round after such a commit is a TRUNCATE
//! checkpoint, which empties the WAL file; if readers keep it from
//! finishing, the next round tries again.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{RecvTimeoutError, Sender};
use r2d2::Pool;
use r2d2_sqlite::SqliteConnectionManager;

use crate::store::StoreError;

/// How often the WAL is folded back into the database file.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(500);

/// The longest a RESTART or TRUNCATE checkpoint waits for readers, holding
/// up writers meanwhile.
const BRIEF_WAIT: Duration = Duration::from_millis(10);

/// WAL frames (pages) beyond which the WAL is restarted: about 4 MiB at the
/// 1 KiB pages pipechat gives a new database (see `open`); a file made with
/// larger pages keeps them, and its WAL grows as many pages before a restart.
const RESTART_FRAMES: i64 = 4096;

/// The running checkpoint thread; stops when dropped.
pub(super) struct Checkpointer {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// `text_removed` is raised by commits that deleted or edited messages.
    pub(super) fn start(
        pool: Pool<SqliteConnectionManager>,
        text_removed: Arc<AtomicBool>,
    ) -> std::io::Result<Checkpointer> {
        let (stop, stopped) = crossbeam_channel::bounded::<()>(0);
        let thread = std::thread::Builder::new()
            .name("checkpoint".to_string())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(CHECKPOINT_INTERVAL)
                {
                    let scrub = text_removed.swap(false, Ordering::SeqCst);
                    let done = pool
                        .get()
                        .map_err(StoreError::from)
                        .and_then(|conn| Ok(checkpoint(&conn, scrub)?));
                    if let Err(err) = done {
                        if scrub {
                            text_removed.store(true, Ordering::SeqCst);
                        }
                        // Readers in the way: the next round tries again.
                        if err.is_unavailable() {
                            log::debug!("checkpoint put off: {err}");
                        } else {
                            log::warn!("checkpoint failed: {err}");
                        }
                    }
                }
            })?;
        Ok(Checkpointer {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

/// One round: a passive checkpoint, and a restart when the WAL has grown;
/// with `scrub`, a truncating one that leaves no old page in the WAL.
///
/// RESTART and TRUNCATE hold the write lock while they wait for readers to
/// leave the WAL, so every sender waits with them: they wait only briefly
/// ([`brief_wait`]), and a round that finds a long reader (a backup, an
/// open `sqlite3`) gives up and is tried again at the next one.
fn checkpoint(conn: &rusqlite::Connection, scrub: bool) -> rusqlite::Result<()> {
    conn.busy_handler(Some(brief_wait))?;
    let done = checkpoint_round(conn, scrub);
    conn.busy_handler(Some(super::open::wait_for_lock))?;
    done
}

/// Naps growing by 100 µs (as [`super::open::wait_for_lock`]'s first ones:
/// while a RESTART waits, writers wait too, so the first naps are short),
/// giving up once [`BRIEF_WAIT`] has gone by.
fn brief_wait(attempt: i32) -> bool {
    const STEP: Duration = Duration::from_micros(100);
    let attempt = attempt.max(0) as u32;
    // Napped so far: STEP * (0 + 1 + ... + attempt - 1).
    let waited = STEP * (attempt * attempt.saturating_sub(1) / 2);
    if waited >= BRIEF_WAIT {
        return false;
    }
    std::thread::sleep(STEP * attempt);
    true
}

fn checkpoint_round(conn: &rusqlite::Connection, scrub: bool) -> rusqlite::Result<()> {
    if scrub {
        let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| row.get(0))?;
        if busy != 0 {
            return Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
                Some("the WAL could not be truncated yet".to_string()),
            ));
        }
        return Ok(());
    }
    let wal_frames: i64 = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| row.get(1))?;
    if wal_frames > RESTART_FRAMES {
        conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(()))?;
    }
    Ok(())
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        // Closing the channel wakes the thread at once.
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
