//! The single database writer, with group commit.
//!
//! SQLite allows one writer at a time; many connections writing at once under
//! a busy timeout starve each other. So every write in the server goes through
//! one thread that owns one connection. It takes whatever requests are queued
//! (up to [`MAX_BATCH`]), runs each inside its own savepoint of one IMMEDIATE
//! transaction, commits once, and only then answers each request. A sender's
//! `201` therefore always follows the commit that holds its message.
//!
//! When nothing is queued and the connection is free, a request is committed
//! on its own thread instead (the fast path): a lone client then pays no
//! hand-off to the writer thread and back. Either way one mutex guards the
//! connection, so transactions never overlap.
//!
//! Each write also carries an `after_commit` step that runs, under that mutex,
//! in commit order. Events are published there, which is what gives subscribers
//! their messages in increasing id order without gaps.

use std::ops::Deref;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};
use rusqlite::Connection;

use crate::store::StoreError;

/// The most requests committed in one transaction.
pub const MAX_BATCH: usize = 256;

/// A queued write: runs inside the transaction (or, given `None`, learns that
/// no transaction could be started) and hands back the step that finishes it
/// once the transaction's fate (`Ok` = committed) is known.
type Job = Box<dyn FnOnce(Option<&Connection>) -> Finish + Send>;
type Finish = Box<dyn FnOnce(Result<(), &StoreError>) + Send>;

enum Command {
    Write(Job),
    Stop,
}

/// The writer's connection, shared by its thread and the fast path.
type SharedConnection = Arc<Mutex<Box<dyn Deref<Target = Connection> + Send>>>;

/// A handle to the writer thread; cheap to share between connections.
pub struct Writer {
    commands: Sender<Command>,
    thread: Mutex<Option<JoinHandle<()>>>,
    conn: SharedConnection,
    /// Writes sent to the thread and not yet taken by it.
    queued: Arc<AtomicUsize>,
    stopped: AtomicBool,
}

impl Writer {
    /// Starts the writer thread on `conn`, which it keeps until [`Writer::stop`].
    pub fn start<C>(conn: C) -> std::io::Result<Writer>
    where
        C: Deref<Target = Connection> + Send + 'static,
    {
        let (commands, queue) = crossbeam_channel::unbounded();
        let conn: SharedConnection = Arc::new(Mutex::new(Box::new(conn)));
        let queued = Arc::new(AtomicUsize::new(0));
        let thread = {
            let (conn, queued) = (Arc::clone(&conn), Arc::clone(&queued));
            std::thread::Builder::new()
                .name("writer".to_string())
                .spawn(move || run(&conn, &queue, &queued))?
        };
        Ok(Writer {
            commands,
            thread: Mutex::new(Some(thread)),
            conn,
            queued,
            stopped: AtomicBool::new(false),
        })
    }

    /// Runs `work` in the next group transaction and waits for its commit.
    ///
    /// `after_commit` runs (on whichever thread committed) after the commit and before
    /// any later transaction, with the value `work` returned. When `work` fails
    /// its changes are rolled back alone; the rest of the group still commits.
    ///
    /// # Errors
    ///
    /// `work`'s own error, or [`StoreError`] when the transaction could not be
    /// committed (e.g. [`StoreError::Busy`]) or the writer has stopped.
    pub fn write<T, E>(
        &self,
        work: impl FnOnce(&Connection) -> Result<T, E> + Send + 'static,
        after_commit: impl FnOnce(&T) + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        // A oneshot parks the requester at once; crossbeam's channels spin and
        // yield first, and 32 spinning requesters starved the writer itself.
        let (reply, answer) = oneshot::channel::<Result<T, E>>();
        let job: Job = Box::new(move |conn: Option<&Connection>| {
            let outcome = conn.map(|conn| in_savepoint(conn, work));
            Box::new(move |committed: Result<(), &StoreError>| {
                let outcome = match (committed, outcome) {
                    (Ok(()), Some(Ok(value))) => {
                        after_commit(&value);
                        Ok(value)
                    }
                    (_, Some(Err(err))) => Err(err),
                    (Err(err), _) => Err(E::from(shared_copy(err))),
                    (Ok(()), None) => Err(E::from(StoreError::Stopped)),
                };
                // The requester may have gone (its client disconnected); the
                // write stands either way.
                let _ = reply.send(outcome);
            })
        });
        if self.stopped.load(Ordering::SeqCst) {
            return Err(E::from(StoreError::Stopped));
        }
        // Fast path: with nothing queued and the connection free, commit on
        // the requester's own thread. A lone writer (one busy client) then
        // costs no hand-off to the writer thread and back; under load the
        // connection is busy and requests queue up for group commit.
        if self.queued.load(Ordering::SeqCst) == 0
            && let Ok(conn) = self.conn.try_lock()
        {
            commit_batch(&conn, &mut vec![job]);
        } else {
            self.queued.fetch_add(1, Ordering::SeqCst);
            if self.commands.send(Command::Write(job)).is_err() {
                return Err(E::from(StoreError::Stopped));
            }
        }
        answer
            .recv()
            .unwrap_or_else(|_| Err(E::from(StoreError::Stopped)))
    }

    /// Commits what is queued, then stops the thread. Later writes fail with
    /// [`StoreError::Stopped`].
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        let _ = self.commands.send(Command::Stop);
        let thread = match self.thread.lock() {
            Ok(mut thread) => thread.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(thread) = thread
            && thread.join().is_err()
        {
            log::error!("the writer thread panicked");
        }
    }
}

/// The writer thread: one group transaction per round.
fn run(conn: &SharedConnection, queue: &Receiver<Command>, queued: &AtomicUsize) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    let mut stopping = false;
    while !stopping {
        match queue.recv() {
            Ok(Command::Write(job)) => batch.push(job),
            Ok(Command::Stop) | Err(_) => break,
        }
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(Command::Write(job)) => batch.push(job),
                Ok(Command::Stop) => {
                    stopping = true;
                    break;
                }
                Err(_) => break,
            }
        }
        queued.fetch_sub(batch.len(), Ordering::SeqCst);
        let conn = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        commit_batch(&conn, &mut batch);
    }
    // Anything sent after Stop is dropped here; its requester sees `Stopped`.
    log::debug!("writer stopped");
}

fn commit_batch(conn: &Connection, batch: &mut Vec<Job>) {
    if let Err(err) = run_cached(conn, "BEGIN IMMEDIATE") {
        let err = StoreError::from(err);
        log::warn!("could not start a write transaction: {err}");
        // Nothing runs: each request learns of the failure as it is.
        for job in batch.drain(..) {
            job(None)(Err(&err));
        }
        return;
    }
    // A panic in one request (a bug) must not take the writer, and with it
    // every later write, down: that request alone is lost and its requester
    // sees `Stopped`.
    let finishers: Vec<Finish> = batch
        .drain(..)
        .filter_map(|job| {
            std::panic::catch_unwind(AssertUnwindSafe(|| job(Some(conn))))
                .map_err(|_| log::error!("a write panicked; it was abandoned"))
                .ok()
        })
        .collect();
    let committed = run_cached(conn, "COMMIT").map_err(|err| {
        let err = StoreError::from(err);
        log::error!("group commit of {} writes failed: {err}", finishers.len());
        if let Err(rollback) = conn.execute_batch("ROLLBACK") {
            log::error!("rollback after a failed commit failed too: {rollback}");
        }
        err
    });
    for finish in finishers {
        let finished =
            std::panic::catch_unwind(AssertUnwindSafe(|| finish(committed.as_ref().map(|_| ()))));
        if finished.is_err() {
            log::error!("finishing a write panicked");
        }
    }
}

/// Runs `work` inside a savepoint, so that its failure undoes only its own changes.
fn in_savepoint<T, E>(
    conn: &Connection,
    work: impl FnOnce(&Connection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<StoreError>,
{
    run_cached(conn, "SAVEPOINT request").map_err(|err| E::from(StoreError::from(err)))?;
    let outcome = work(conn);
    let closed = match outcome {
        Ok(_) => run_cached(conn, "RELEASE request"),
        Err(_) => run_cached(conn, "ROLLBACK TO request")
            .and_then(|()| run_cached(conn, "RELEASE request")),
    };
    if let Err(err) = closed {
        log::error!("closing a savepoint failed: {err}");
        return Err(E::from(StoreError::from(err)));
    }
    outcome
}

/// Runs a fixed statement, prepared once per connection: these run for every
/// request, and parsing them each time would show.
fn run_cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// The failure of a shared commit, as each request of the group sees it.
fn shared_copy(err: &StoreError) -> StoreError {
    match err {
        StoreError::Busy => StoreError::Busy,
        StoreError::Stopped => StoreError::Stopped,
        other => StoreError::Batch(other.to_string()),
    }
}
