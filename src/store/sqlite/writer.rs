//! The single database writer, with group commit.
//!
//! SQLite allows one writer at a time; many connections writing at once under
//! a busy timeout starve each other. So every write in the server goes through
//! one thread that owns one connection. It takes whatever requests are queued
//! (up to [`MAX_BATCH`]), runs each inside its own savepoint of one IMMEDIATE
//! transaction (a request alone needs none), adds the new messages to the
//! search index, commits once, and only then answers each request. A sender's
//! `201` therefore always follows the commit that holds its message, and a
//! search after it finds the message.
//!
//! When nothing is queued and the connection is free, a request is committed
//! on its own thread instead (the fast path): a lone client then pays no
//! hand-off to the writer thread and back. Either way one mutex guards the
//! connection, so transactions never overlap.
//!
//! Each write records its [`Change`]s; after the commit, still under that
//! mutex, they go to the attached [`ChangeSink`] in commit order, and only then
//! is the requester answered. That is what gives subscribers a room's messages
//! in increasing id order without gaps, and a sender its own event before its
//! `201`. The answer is a callback ([`Writer::write_then`]): a requester that
//! waits ([`Writer::write`]) is woken by it, while a pipe connection's
//! `/sendMessage` has its reply written by it, so that under load the
//! connection's thread sleeps once per message (in its read), not twice.

use std::ops::Deref;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;
use rusqlite::Connection;

use super::queries::{SearchBacklog, SqliteTx};
use crate::metrics::metrics;
use crate::store::{Change, ChangeSink, StoreError, Writes};

/// The most requests committed in one transaction.
const MAX_BATCH: usize = 256;

/// A queued write: runs inside the transaction, whose search backlog it adds
/// to (or, given `None`, learns that no transaction could be started) and
/// hands back what it changed and the step that finishes it once the
/// transaction's fate (`Ok` = committed) is known.
type Job = Box<dyn FnOnce(Option<(&Connection, &SearchBacklog)>) -> Done + Send>;
type Finish = Box<dyn FnOnce(Result<(), &StoreError>) + Send>;

struct Done {
    /// Whether the work returned an error: its writes must be undone.
    failed: bool,
    changes: Vec<Change>,
    /// Whether it deleted or edited a message's text (see the checkpointer's
    /// scrub).
    text_removed: bool,
    finish: Finish,
}

/// Who hears of each commit: the change sink once attached, and the
/// checkpointer, which scrubs the WAL after messages were deleted or edited.
#[derive(Clone)]
pub(super) struct Listeners {
    sink: Arc<OnceLock<Arc<dyn ChangeSink>>>,
    text_removed: Arc<AtomicBool>,
}

impl Listeners {
    /// `text_removed` is raised by every commit that deleted or edited a
    /// message.
    pub(super) fn new(text_removed: Arc<AtomicBool>) -> Listeners {
        Listeners {
            sink: Arc::default(),
            text_removed,
        }
    }
}

enum Command {
    Write(Job),
    Stop,
}

/// The writer's connection, shared by its thread and the fast path.
type SharedConnection = Arc<Mutex<Box<dyn Deref<Target = Connection> + Send>>>;

/// A handle to the writer thread; cheap to share between connections.
pub(super) struct Writer {
    commands: Sender<Command>,
    thread: Mutex<Option<JoinHandle<()>>>,
    conn: SharedConnection,
    listeners: Listeners,
    /// Writes sent to the thread and not yet taken by it.
    queued: Arc<AtomicUsize>,
    stopped: AtomicBool,
}

impl Writer {
    /// Starts the writer thread on `conn`, which it keeps until [`Writer::stop`].
    pub(super) fn start<C>(conn: C, listeners: Listeners) -> std::io::Result<Writer>
    where
        C: Deref<Target = Connection> + Send + 'static,
    {
        let (commands, queue) = crossbeam_channel::unbounded();
        let conn: SharedConnection = Arc::new(Mutex::new(Box::new(conn)));
        let queued = Arc::new(AtomicUsize::new(0));
        let thread = {
            let (conn, queued, listeners) =
                (Arc::clone(&conn), Arc::clone(&queued), listeners.clone());
            std::thread::Builder::new()
                .name("writer".to_string())
                .spawn(move || run(&conn, &queue, &queued, &listeners))?
        };
        Ok(Writer {
            commands,
            thread: Mutex::new(Some(thread)),
            conn,
            listeners,
            queued,
            stopped: AtomicBool::new(false),
        })
    }

    /// Sends the changes of every later commit to `sink`.
    pub(super) fn attach(&self, sink: Arc<dyn ChangeSink>) {
        if self.listeners.sink.set(sink).is_err() {
            log::warn!("a change sink was already attached; keeping the first");
        }
    }

    /// Runs `work` in the next group transaction and waits for its commit.
    ///
    /// The changes `work` recorded reach the sink (on whichever thread
    /// committed) after the commit and before any later transaction. When
    /// `work` fails its changes are rolled back alone; the rest of the group
    /// still commits.
    ///
    /// # Errors
    ///
    /// `work`'s own error, or [`StoreError`] when the transaction could not be
    /// committed (e.g. [`StoreError::Busy`]) or the writer has stopped.
    pub(super) fn write<T, E>(
        &self,
        work: impl FnOnce(&dyn Writes) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel::<Result<T, E>>();
        self.write_then(work, move |outcome| {
            // The requester may have gone (its client disconnected); the
            // write stands either way.
            let _ = reply.send(outcome);
        });
        // A oneshot parks the requester at once; crossbeam's channels spin
        // and yield first, and 32 spinning requesters starved the writer.
        answer
            .recv()
            .unwrap_or_else(|_| Err(E::from(StoreError::Stopped)))
    }

    /// Runs `work` in the next group transaction and hands its outcome to
    /// `then` once that is committed (or failed), on whichever thread
    /// committed: the caller's own (the fast path, before this returns) or
    /// the writer's. `then` must not wait for anything.
    pub(super) fn write_then<T, E>(
        &self,
        work: impl FnOnce(&dyn Writes) -> Result<T, E> + Send + 'static,
        then: impl FnOnce(Result<T, E>) + Send + 'static,
    ) where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        if self.stopped.load(Ordering::SeqCst) {
            return then(Err(E::from(StoreError::Stopped)));
        }
        let job = job(work, then);
        // Fast path: with nothing queued and the connection free, commit on
        // the requester's own thread. A lone writer (one busy client) then
        // costs no hand-off to the writer thread and back; under load the
        // connection is busy and requests queue up for group commit.
        if self.queued.load(Ordering::SeqCst) == 0
            && let Some(conn) = self.conn.try_lock()
        {
            commit_batch(&conn, &mut vec![job], &self.listeners);
        } else {
            self.queued.fetch_add(1, Ordering::SeqCst);
            if let Err(refused) = self.commands.send(Command::Write(job)) {
                self.queued.fetch_sub(1, Ordering::SeqCst);
                if let Command::Write(job) = refused.into_inner() {
                    (job(None).finish)(Err(&StoreError::Stopped));
                }
            }
        }
    }

    /// Commits what is queued, then stops the thread. Later writes fail with
    /// [`StoreError::Stopped`].
    pub(super) fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        let _ = self.commands.send(Command::Stop);
        let thread = self.thread.lock().take();
        if let Some(thread) = thread
            && thread.join().is_err()
        {
            log::error!("the writer thread panicked");
        }
    }
}

/// Wraps `work` as a job that hands its outcome to `then`.
fn job<T, E>(
    work: impl FnOnce(&dyn Writes) -> Result<T, E> + Send + 'static,
    then: impl FnOnce(Result<T, E>) + Send + 'static,
) -> Job
where
    T: Send + 'static,
    E: From<StoreError> + Send + 'static,
{
    let job: Job = Box::new(move |open: Option<(&Connection, &SearchBacklog)>| {
        let (outcome, changes, text_removed) = match open {
            Some((conn, backlog)) => {
                let tx = SqliteTx::recording(conn, backlog);
                // A panic (a bug) must not take the writer, and with it every
                // later write, down, nor leave its requester unanswered: it
                // fails that request alone, whose writes are undone.
                let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| work(&tx)))
                    .unwrap_or_else(|_| {
                        log::error!("a write panicked; it was undone");
                        Err(E::from(StoreError::Batch("the write failed".into())))
                    });
                // A failed write's changes are rolled back: nothing to tell.
                let (changes, text_removed) = match outcome {
                    Ok(_) => tx.finish(),
                    Err(_) => (Vec::new(), false),
                };
                (Some(outcome), changes, text_removed)
            }
            None => (None, Vec::new(), false),
        };
        let failed = matches!(outcome, Some(Err(_)));
        let finish: Finish = Box::new(move |committed: Result<(), &StoreError>| {
            let outcome = match (committed, outcome) {
                (Ok(()), Some(outcome)) => outcome,
                (_, Some(Err(err))) => Err(err),
                (Err(err), _) => Err(E::from(shared_copy(err))),
                (Ok(()), None) => Err(E::from(StoreError::Stopped)),
            };
            then(outcome);
        });
        Done {
            failed,
            changes,
            text_removed,
            finish,
        }
    });
    job
}

/// The writer thread: one group transaction per round.
fn run(
    conn: &SharedConnection,
    queue: &Receiver<Command>,
    queued: &AtomicUsize,
    listeners: &Listeners,
) {
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
        commit_batch(&conn.lock(), &mut batch, listeners);
    }
    // Anything sent after Stop is refused.
    for command in queue.try_iter() {
        if let Command::Write(job) = command {
            (job(None).finish)(Err(&StoreError::Stopped));
        }
    }
    log::debug!("writer stopped");
}

/// Runs `batch` in one transaction and commits it. With several requests,
/// each runs inside a savepoint of its own, so that one failing undoes only
/// its own writes; a request alone needs none (its failure rolls the
/// transaction back), which saves two statements per message for a lone
/// sender.
fn commit_batch(conn: &Connection, batch: &mut Vec<Job>, listeners: &Listeners) {
    let started = Instant::now();
    if let Err(err) = run_cached(conn, "BEGIN IMMEDIATE") {
        let err = StoreError::from(err);
        log::warn!("could not start a write transaction: {err}");
        // Nothing runs: each request learns of the failure as it is.
        for job in batch.drain(..) {
            (job(None).finish)(Err(&err));
        }
        return;
    }
    let alone = batch.len() == 1;
    let backlog = SearchBacklog::default();
    let mut done: Vec<Done> = Vec::with_capacity(batch.len());
    for job in batch.drain(..) {
        // SQLite ends the transaction itself on some errors (a full disk,
        // an I/O error, no memory), undoing all of it. What is left of the
        // group must not then run, each statement committing on its own:
        // it is refused, and the COMMIT below fails for the rest.
        if conn.is_autocommit() {
            (job(None).finish)(Err(&StoreError::Batch(
                "the transaction was rolled back".into(),
            )));
            continue;
        }
        match run_isolated(conn, &backlog, job, alone) {
            Ok(Some(finished)) => done.push(finished),
            // Jobs catch their work's panics (`job`); this one panicked
            // outside it. It is undone, and its answer dropped.
            Ok(None) => log::error!("a write job panicked; it was undone"),
            Err((job, err)) => {
                log::error!("opening a savepoint failed: {err}");
                (job(None).finish)(Err(&StoreError::from(err)));
            }
        }
    }
    let committed = if alone && done.iter().all(|done| done.failed) {
        // The lone request failed or panicked: nothing of it may stay.
        rollback(conn);
        Err(StoreError::Batch("nothing was committed".into()))
    } else if conn.is_autocommit() {
        // Ended under the group (by SQLite, or after a savepoint would not
        // close): indexing now would write outside any transaction.
        Err(StoreError::Batch("the transaction was rolled back".into()))
    } else {
        backlog
            .index(conn)
            .and_then(|()| run_cached(conn, "COMMIT"))
            .map_err(|err| {
                let err = StoreError::from(err);
                log::error!("group commit of {} writes failed: {err}", done.len());
                rollback(conn);
                err
            })
    };
    if committed.is_ok() {
        metrics().commit(done.len(), started.elapsed());
        if done.iter().any(|done| done.text_removed) {
            listeners.text_removed.store(true, Ordering::SeqCst);
        }
    }
    let sink = listeners.sink.get();
    for Done {
        failed,
        changes,
        finish,
        ..
    } in done
    {
        if let (Ok(()), false, Some(sink)) = (&committed, failed, sink)
            && !changes.is_empty()
            && std::panic::catch_unwind(AssertUnwindSafe(|| sink.committed(changes))).is_err()
        {
            log::error!("telling the chat of a commit panicked");
        }
        let finished = std::panic::catch_unwind(AssertUnwindSafe(|| {
            // A failed request's own error is its answer, whatever became
            // of the transaction; only one whose savepoint would not close
            // has none, and gets this one.
            match (&committed, failed) {
                (_, true) => finish(Err(&StoreError::Batch(
                    "the request's writes could not be kept apart".into(),
                ))),
                (Ok(()), false) => finish(Ok(())),
                (Err(err), false) => finish(Err(err)),
            }
        }));
        if finished.is_err() {
            log::error!("finishing a write panicked");
        }
    }
}

/// Runs one request of a group, inside a savepoint unless it is `alone`,
/// and undoes its writes when it fails. `Ok(None)`: it panicked. `Err`: the
/// savepoint could not be opened, and the request did not run.
fn run_isolated(
    conn: &Connection,
    backlog: &SearchBacklog,
    job: Job,
    alone: bool,
) -> Result<Option<Done>, (Job, rusqlite::Error)> {
    if !alone && let Err(err) = run_cached(conn, "SAVEPOINT request") {
        return Err((job, err));
    }
    let mark = backlog.mark();
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| job(Some((conn, backlog))))).ok();
    if alone {
        return Ok(outcome);
    }
    let closed = match &outcome {
        Some(done) if !done.failed => run_cached(conn, "RELEASE request"),
        _ => {
            backlog.roll_back_to(mark);
            run_cached(conn, "ROLLBACK TO request")
                .and_then(|()| run_cached(conn, "RELEASE request"))
        }
    };
    match closed {
        Ok(()) => Ok(outcome),
        Err(err) => {
            // Its writes may or may not have been undone, and with them its
            // messages' entries in the search index: nothing of the group
            // can be trusted to commit. The rest of it is refused, and the
            // requests before it fail at the commit.
            log::error!("closing a savepoint failed: {err}; the group is rolled back");
            rollback(conn);
            Ok(outcome.map(|done| Done {
                failed: true,
                ..done
            }))
        }
    }
}

fn rollback(conn: &Connection) {
    // SQLite rolls a transaction back itself after some failures (a full
    // disk, an I/O error); a ROLLBACK then fails with "no transaction is
    // active", a second error that says nothing true.
    if conn.is_autocommit() {
        return;
    }
    if let Err(err) = conn.execute_batch("ROLLBACK") {
        log::error!("rollback failed: {err}");
    }
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
        // SQLite's own sentence: `Batch` says "database error" itself.
        StoreError::Sqlite(source) => StoreError::Batch(source.to_string()),
        other => StoreError::Batch(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Place, Reads, SearchQuery, SearchTerm, User};

    /// Keeps every change it hears of, in order.
    #[derive(Default)]
    struct Collected(Mutex<Vec<Change>>);

    impl ChangeSink for Collected {
        fn committed(&self, changes: Vec<Change>) {
            self.0.lock().extend(changes);
        }

        fn resync(&self, _: &dyn crate::store::Missed) {}

        fn present(&self) -> Vec<User> {
            Vec::new()
        }
    }

    fn usernames(conn: &Connection) -> Vec<String> {
        conn.prepare("SELECT username FROM users ORDER BY id")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    /// A job with the receiver its outcome arrives on.
    fn answered<T, E>(
        work: impl FnOnce(&dyn Writes) -> Result<T, E> + Send + 'static,
    ) -> (Job, oneshot::Receiver<Result<T, E>>)
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = job(work, move |outcome| {
            let _ = reply.send(outcome);
        });
        (job, answer)
    }

    fn add_user(name: &'static str) -> impl FnOnce(&dyn Writes) -> Result<User, StoreError> {
        move |db| Ok(db.insert_user(name, "hash")?.expect("a new name"))
    }

    /// In one group, a failing write is rolled back alone, a panicking one
    /// is undone alone and answered with an error, and the others commit and
    /// are announced in order.
    #[test]
    fn a_failing_or_panicking_write_is_undone_alone() {
        let (_dir, pool) = super::super::test_database();
        let conn = pool.get().unwrap();
        let (first, first_answer) = answered(add_user("first"));
        let (failing, failing_answer) = answered(|db: &dyn Writes| -> Result<(), StoreError> {
            db.insert_user("failing", "hash")?;
            Err(StoreError::Batch("refused on purpose".into()))
        });
        let (panicking, panicking_answer) = answered(|db: &dyn Writes| -> Result<(), StoreError> {
            db.insert_user("panicking", "hash")?;
            panic!("a bug in one request");
        });
        let (last, last_answer) = answered(add_user("last"));
        let listeners = Listeners::new(Arc::default());
        let sink: Arc<dyn ChangeSink> = Arc::new(Collected::default());
        let _ = listeners.sink.set(sink);
        let mut batch = vec![first, failing, panicking, last];
        commit_batch(&conn, &mut batch, &listeners);

        assert_eq!(first_answer.recv().unwrap().unwrap().username, "first");
        assert!(matches!(
            failing_answer.recv().unwrap(),
            Err(StoreError::Batch(_))
        ));
        assert!(matches!(
            panicking_answer.recv().unwrap(),
            Err(StoreError::Batch(_))
        ));
        assert_eq!(last_answer.recv().unwrap().unwrap().username, "last");
        assert_eq!(usernames(&conn), ["first", "last"]);
    }

    /// A request alone runs without a savepoint: when it fails or panics,
    /// the whole transaction is rolled back, and the next one starts clean.
    #[test]
    fn a_lone_failing_or_panicking_write_leaves_nothing() {
        let (_dir, pool) = super::super::test_database();
        let conn = pool.get().unwrap();
        let listeners = Listeners::new(Arc::default());
        let (failing, failing_answer) = answered(|db: &dyn Writes| -> Result<(), StoreError> {
            db.insert_user("failing", "hash")?;
            Err(StoreError::Batch("refused on purpose".into()))
        });
        commit_batch(&conn, &mut vec![failing], &listeners);
        assert!(matches!(
            failing_answer.recv().unwrap(),
            Err(StoreError::Batch(reason)) if reason == "refused on purpose"
        ));
        let (panicking, panicking_answer) = answered(|db: &dyn Writes| -> Result<(), StoreError> {
            db.insert_user("panicking", "hash")?;
            panic!("a bug in one request");
        });
        commit_batch(&conn, &mut vec![panicking], &listeners);
        assert!(matches!(
            panicking_answer.recv().unwrap(),
            Err(StoreError::Batch(_))
        ));
        let (next, next_answer) = answered(add_user("next"));
        commit_batch(&conn, &mut vec![next], &listeners);
        assert_eq!(next_answer.recv().unwrap().unwrap().username, "next");
        assert_eq!(usernames(&conn), ["next"]);
        assert!(conn.is_autocommit(), "a transaction was left open");
    }

    /// When SQLite rolls the whole transaction back itself (here a request
    /// ends it, as a full disk or an I/O error would), the requests after it
    /// do not run outside the transaction: nothing of the group is stored
    /// and every request hears that.
    #[test]
    fn a_transaction_ended_under_the_group_stores_nothing() {
        let (_dir, pool) = super::super::test_database();
        let conn = pool.get().unwrap();
        let listeners = Listeners::new(Arc::default());
        let (before, before_answer) = answered(add_user("before"));
        let ending: Job = Box::new(|open: Option<(&Connection, &SearchBacklog)>| {
            if let Some((conn, _)) = open {
                conn.execute_batch("ROLLBACK").unwrap();
            }
            Done {
                failed: false,
                changes: Vec::new(),
                text_removed: false,
                finish: Box::new(|_| {}),
            }
        });
        let (after, after_answer) = answered(add_user("after"));
        commit_batch(&conn, &mut vec![before, ending, after], &listeners);
        assert!(before_answer.recv().unwrap().is_err());
        assert!(after_answer.recv().unwrap().is_err());
        assert!(usernames(&conn).is_empty(), "{:?}", usernames(&conn));
        assert!(conn.is_autocommit());
    }

    /// Changes reach the sink after the commit, in commit order, and a
    /// failed write's changes never do.
    #[test]
    fn committed_changes_reach_the_sink_in_order() {
        let (_dir, pool) = super::super::test_database();
        let writer = Writer::start(pool.get().unwrap(), Listeners::new(Arc::default())).unwrap();
        let collected = Arc::new(Collected::default());
        writer.attach(collected.clone());
        let alice = writer.write(add_user("alice")).unwrap();
        let room = writer
            .write(|db| Ok::<_, StoreError>(Place::Room(db.insert_room("general", 1)?.unwrap())))
            .unwrap();
        for text in ["one", "two"] {
            let (room, alice) = (room.clone(), alice.clone());
            writer
                .write(move |db| db.insert_message(&room, &alice, text))
                .unwrap();
        }
        let refused = writer.write({
            let (room, alice) = (room.clone(), alice.clone());
            move |db| -> Result<(), StoreError> {
                db.insert_message(&room, &alice, "never")?;
                Err(StoreError::Batch("refused".into()))
            }
        });
        assert!(refused.is_err());
        let texts: Vec<String> = collected
            .0
            .lock()
            .iter()
            .map(|change| match change {
                Change::Message { message, .. } => message.text.clone(),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(texts, ["one", "two"]);
        let stored = SqliteTx::reading(&pool.get().unwrap())
            .messages(&room, crate::store::Page::Latest { limit: 10 })
            .unwrap();
        assert_eq!(stored.len(), 2);
    }

    /// Messages are indexed for search once per commit (migration 0004):
    /// within one group, a message edited or deleted before the commit is
    /// indexed as it is at the commit, and the FTS5 index stays consistent.
    #[test]
    fn search_indexes_each_group_as_it_commits() {
        let (_dir, pool) = super::super::test_database();
        let conn = pool.get().unwrap();
        let search = |word: &str| -> Vec<String> {
            let alice = User {
                id: 1,
                username: "alice".into(),
                guest: false,
            };
            let query = SearchQuery {
                terms: vec![SearchTerm::Word(word.into())],
            };
            SqliteTx::reading(&conn)
                .search(&alice, &query, None, 10)
                .unwrap()
                .into_iter()
                .map(|message| message.text)
                .collect()
        };
        let listeners = Listeners::new(Arc::default());
        let (setup, setup_answer) = answered(|db: &dyn Writes| {
            let alice = db.insert_user("alice", "hash")?.unwrap();
            let room = db.insert_room("general", alice.id)?.unwrap();
            db.insert_membership(&room, &alice)?;
            db.insert_message(&Place::Room(room.clone()), &alice, "indexed earlier")?;
            Ok::<_, StoreError>((alice, Place::Room(room)))
        });
        commit_batch(&conn, &mut vec![setup], &listeners);
        let (alice, room) = setup_answer.recv().unwrap().unwrap();
        assert_eq!(search("earlier"), ["indexed earlier"]);

        let stored = |db: &dyn Writes, id| db.find_message(id).map(Option::unwrap);
        let mut group = Vec::new();
        let mut answers = Vec::new();
        for (text, edit) in [("first draft", Some("final words")), ("oops", None)] {
            let (alice, room) = (alice.clone(), room.clone());
            let (work, answer) = answered(move |db: &dyn Writes| {
                let message = db.insert_message(&room, &alice, text)?;
                match edit {
                    Some(edit) => {
                        let edited = db.update_message_text(&stored(db, message.id)?, edit)?;
                        assert!(edited.is_some());
                    }
                    None => assert!(db.delete_message(&stored(db, message.id)?)?),
                }
                Ok::<_, StoreError>(())
            });
            group.push(work);
            answers.push(answer);
        }
        let (earlier, earlier_answer) = answered(move |db: &dyn Writes| {
            let first = db.messages(&room, crate::store::Page::Latest { limit: 10 })?[0].id;
            db.update_message_text(&stored(db, first)?, "changed later")
        });
        group.push(earlier);
        commit_batch(&conn, &mut group, &listeners);
        for answer in answers {
            answer.recv().unwrap().unwrap();
        }
        earlier_answer.recv().unwrap().unwrap();

        assert_eq!(search("final"), ["final words"]);
        assert_eq!(search("later"), ["changed later"]);
        for gone in ["draft", "oops", "earlier"] {
            assert!(search(gone).is_empty(), "{gone} is still found");
        }
        conn.execute_batch(
            "INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)",
        )
        .expect("the search index matches the messages");
        // Every word in the index once per message holding it: nothing stale,
        // nothing indexed twice.
        conn.execute_batch(
            "CREATE VIRTUAL TABLE temp.words USING fts5vocab (main, messages_fts, 'instance')",
        )
        .unwrap();
        let words: Vec<(String, i64)> = conn
            .prepare("SELECT term, count(*) FROM temp.words GROUP BY term ORDER BY term")
            .unwrap()
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let expected = [("changed", 1), ("final", 1), ("later", 1), ("words", 1)];
        assert_eq!(words, expected.map(|(word, n)| (word.to_string(), n)));
    }

    /// A request of a group that fails after an edit (which indexes the
    /// group's earlier messages for search first) undoes that indexing with
    /// its own writes: the earlier messages are still indexed at the commit.
    #[test]
    fn a_failed_request_does_not_take_the_groups_earlier_messages_out_of_search() {
        let (_dir, pool) = super::super::test_database();
        let conn = pool.get().unwrap();
        let listeners = Listeners::new(Arc::default());
        let (setup, setup_answer) = answered(|db: &dyn Writes| {
            let alice = db.insert_user("alice", "hash")?.unwrap();
            let room = db.insert_room("general", alice.id)?.unwrap();
            db.insert_membership(&room, &alice)?;
            let old = db.insert_message(&Place::Room(room.clone()), &alice, "old")?;
            Ok::<_, StoreError>((alice, Place::Room(room), old.id))
        });
        commit_batch(&conn, &mut vec![setup], &listeners);
        let (alice, room, old) = setup_answer.recv().unwrap().unwrap();

        let (sent, sent_answer) =
            answered(move |db: &dyn Writes| db.insert_message(&room, &alice, "kept and found"));
        let (failing, failing_answer) = answered(move |db: &dyn Writes| {
            let stored = db.find_message(old)?.unwrap();
            db.update_message_text(&stored, "never kept")?;
            Err::<(), _>(StoreError::Batch("this request fails".into()))
        });
        commit_batch(&conn, &mut vec![sent, failing], &listeners);
        sent_answer.recv().unwrap().unwrap();
        assert!(failing_answer.recv().unwrap().is_err());

        let found: Vec<String> = SqliteTx::reading(&conn)
            .search(
                &User {
                    id: 1,
                    username: "alice".into(),
                    guest: false,
                },
                &SearchQuery {
                    terms: vec![SearchTerm::Word("found".into())],
                },
                None,
                10,
            )
            .unwrap()
            .into_iter()
            .map(|message| message.text)
            .collect();
        assert_eq!(found, ["kept and found"]);
        conn.execute_batch(
            "INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)",
        )
        .expect("the search index matches the messages");
    }

    /// Once stopped, the writer refuses work with `Stopped`, from any thread.
    #[test]
    fn after_stop_writes_are_refused() {
        let (_dir, pool) = super::super::test_database();
        let writer = Writer::start(pool.get().unwrap(), Listeners::new(Arc::default())).unwrap();
        writer.write(add_user("before")).unwrap();
        writer.stop();
        assert!(matches!(
            writer.write(add_user("after")),
            Err(StoreError::Stopped)
        ));
        assert_eq!(usernames(&pool.get().unwrap()), ["before"]);
    }

    /// A write alone is answered on its requester's own thread (the fast
    /// path), also after an earlier write panicked (and was answered).
    #[test]
    fn a_lone_write_commits_on_its_own_thread_even_after_a_panic() {
        let (_dir, pool) = super::super::test_database();
        let writer = Writer::start(pool.get().unwrap(), Listeners::new(Arc::default())).unwrap();
        let panicked = writer.write(|_: &dyn Writes| -> Result<(), StoreError> {
            panic!("a bug in one request");
        });
        assert!(matches!(panicked, Err(StoreError::Batch(_))));
        let (thread, answered_on) = oneshot::channel();
        writer.write_then(add_user("alone"), move |outcome| {
            let _ = thread.send((std::thread::current().id(), outcome.is_ok()));
        });
        assert_eq!(
            answered_on.recv().unwrap(),
            (std::thread::current().id(), true),
            "answered on the writer's thread"
        );
    }

    /// A change sink that panics (a bug in the chat) still leaves the write
    /// committed and its requester answered.
    #[test]
    fn a_panicking_sink_still_answers_the_write() {
        struct Panicking;
        impl ChangeSink for Panicking {
            fn committed(&self, _: Vec<Change>) {
                panic!("a bug in the chat");
            }
            fn resync(&self, _: &dyn crate::store::Missed) {}
            fn present(&self) -> Vec<User> {
                Vec::new()
            }
        }
        let (_dir, pool) = super::super::test_database();
        let conn = pool.get().unwrap();
        let listeners = Listeners::new(Arc::default());
        let _ = listeners.sink.set(Arc::new(Panicking));
        let (added, answer) = answered(add_user("alice"));
        commit_batch(&conn, &mut vec![added], &listeners);
        assert_eq!(answer.recv().unwrap().unwrap().username, "alice");
        assert_eq!(usernames(&conn), ["alice"]);
    }
}
