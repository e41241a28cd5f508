//! Moving committed pages from the WAL into the database file, off the
//! writer's path.
//!
//! SQLite's automatic checkpoint runs inside whichever commit crosses the
//! threshold, and it waits for the disk: the writer, and every sender in its
//! group, stalled for tens of milliseconds now and then. Automatic
//! checkpoints are off on every connection ([`super::open`]); this thread
//! runs a PASSIVE checkpoint every [`CHECKPOINT_INTERVAL`] instead, which never
//! blocks the writer or readers.

use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{RecvTimeoutError, Sender};

use super::Store;

/// How often the WAL is folded back into the database file.
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(500);

/// The running checkpoint thread; stops when dropped.
pub struct Checkpointer {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    pub fn start(store: Store) -> std::io::Result<Checkpointer> {
        let (stop, stopped) = crossbeam_channel::bounded::<()>(0);
        let thread = std::thread::Builder::new()
            .name("checkpoint".to_string())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(CHECKPOINT_INTERVAL)
                {
                    if let Err(err) =
                        store.read(|conn| conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE)"))
                    {
                        log::warn!("checkpoint failed: {err}");
                    }
                }
            })?;
        Ok(Checkpointer {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
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
