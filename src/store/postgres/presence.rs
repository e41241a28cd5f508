//! What nodes share besides the chat itself: which nodes are alive (a
//! heartbeat), who is logged in on each, and failed logins.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ::postgres::Client;
use r2d2::Pool;

use super::Manager;
use crate::store::{ChangeSink, StoreError, User};

/// How often a node says it is alive.
const HEARTBEAT: Duration = Duration::from_secs(1);

/// A node silent for longer is gone: its users are no longer active. SQL
/// interval text, used in queries.
const EXPIRY: &str = "5 seconds";

/// A node silent for longer is taken for dead: its guests' memberships end
/// and its nicks are freed. Only by a node that has itself reached
/// PostgreSQL for that long, on a PostgreSQL up for that long: after an
/// outage every node is silent, and the first one back must not take the
/// others, alive but not yet beating again, for dead.
const DEAD_AFTER: Duration = Duration::from_secs(15);

/// The advisory lock a node holds while it clears out dead nodes: "pcrp",
/// a single key like the migration's ("pcht"), apart from the name locks'
/// pairs of keys.
const REAP_LOCK: i64 = 0x7063_7270;

/// Every this many beats this node's users are recorded whole again even
/// when nothing went wrong: two users' changes recorded in the opposite order
/// from the one they happened in are then mended within this many seconds.
const RECORD_WHOLE_EVERY: u64 = 10;

/// Failed logins older than this are deleted (the throttle's window is one
/// minute).
const FAILURES_KEPT: &str = "10 minutes";

/// A random name for this node, unique enough among a cluster's nodes.
pub(super) fn new_node_id() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

pub(super) fn register(pool: &Pool<Manager>, node: &str) -> Result<(), StoreError> {
    let mut conn = pool
        .get()
        .map_err(|err| StoreError::Unreachable(err.to_string()))?;
    conn.execute(
        "INSERT INTO nodes (id) VALUES ($1) ON CONFLICT (id) DO UPDATE SET heartbeat_at = now()",
        &[&node],
    )?;
    Ok(())
}

pub(super) fn unregister(conn: &mut Client, node: &str) -> Result<(), StoreError> {
    conn.execute("DELETE FROM nodes WHERE id = $1", &[&node])?;
    Ok(())
}

/// Whether this node's users as recorded in `node_users` may differ from
/// who is logged in here.
#[derive(Default)]
pub(super) struct Recorded {
    /// A change could not be recorded, or the node's rows were cleared.
    stale: AtomicBool,
    /// Changes recorded so far: a whole recording that saw this move while it
    /// ran may have written a user who had just left.
    changes: AtomicU64,
}

/// What the heartbeat works with.
pub(super) struct Heartbeat {
    pub(super) pool: Pool<Manager>,
    pub(super) node: String,
    /// Who is logged in here, once the chat is attached.
    pub(super) sink: Arc<OnceLock<Arc<dyn ChangeSink>>>,
    pub(super) recorded: Arc<Recorded>,
    pub(super) stopping: Arc<AtomicBool>,
}

/// Beats every [`HEARTBEAT`] until `stopping`; also clears out nodes that
/// stopped beating and old failed logins. A beat that fails (the database
/// down) is retried at the next one; a node whose row was cleared while it
/// could not beat registers again, and records its users whole again, as it
/// does after any change it could not record.
pub(super) fn start_heartbeat(heartbeat: Heartbeat) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("heartbeat".to_string())
        .spawn(move || {
            let Heartbeat {
                pool,
                node,
                sink,
                recorded,
                stopping,
            } = heartbeat;
            let mut beats: u64 = 0;
            let mut last_failure: Option<Instant> = None;
            while !stopping.load(Ordering::SeqCst) {
                let reap = beats.is_multiple_of(5)
                    && last_failure.is_none_or(|failed| failed.elapsed() >= DEAD_AFTER);
                let beat = pool
                    .get()
                    .map_err(|err| StoreError::Unreachable(err.to_string()))
                    .and_then(|mut conn| {
                        if beat(&mut conn, &node, reap)? {
                            recorded.stale();
                            if let Some(sink) = sink.get() {
                                sink.taken_for_dead();
                            }
                        }
                        let whole = beats.is_multiple_of(RECORD_WHOLE_EVERY);
                        match sink.get() {
                            Some(sink) => recorded.mend(&mut conn, &node, sink.as_ref(), whole),
                            None => Ok(()),
                        }
                    });
                if let Err(err) = beat {
                    log::debug!("heartbeat failed: {err}");
                    last_failure = Some(Instant::now());
                }
                beats += 1;
                // Short naps, so that stopping is quick.
                for _ in 0..10 {
                    if stopping.load(Ordering::SeqCst) {
                        return;
                    }
                    std::thread::sleep(HEARTBEAT / 10);
                }
            }
        })
}

/// Returns whether the node's row had been cleared (its users' rows went
/// with it). With `reap`, also clears out dead nodes and old failed logins.
fn beat(conn: &mut Client, node: &str, reap: bool) -> Result<bool, StoreError> {
    let updated = conn.execute(
        "UPDATE nodes SET heartbeat_at = now() WHERE id = $1",
        &[&node],
    )?;
    let cleared = updated == 0;
    if cleared {
        // Taken for dead while the database was out of reach.
        conn.execute("INSERT INTO nodes (id) VALUES ($1)", &[&node])?;
        log::warn!("node {node} was taken for dead and joined again");
    }
    if reap {
        // A dead node's guests are gone: their memberships end (without
        // events: nobody is left to send them), and their nicks are freed
        // with the node's row. Silence counts from PostgreSQL's own start
        // at the earliest: no node could beat before it.
        let dead = format!(
            "greatest(heartbeat_at, pg_postmaster_start_time()) < now() - interval '{} seconds'",
            DEAD_AFTER.as_secs()
        );
        // One node at a time: two clearing out the same dead node's rows
        // at once could deadlock. The others skip this beat's turn.
        let mut tx = conn.transaction()?;
        let ours: bool = tx
            .query_one("SELECT pg_try_advisory_xact_lock($1)", &[&REAP_LOCK])?
            .get(0);
        if ours {
            tx.batch_execute(&format!(
                "DELETE FROM room_members WHERE user_id IN
                     (SELECT u.id FROM users u JOIN nodes ON nodes.id = u.guest_node
                      WHERE {dead});
                 DELETE FROM nodes WHERE {dead};
                 DELETE FROM login_failures WHERE failed_at < now() - interval '{FAILURES_KEPT}';"
            ))?;
        }
        tx.commit()?;
    }
    Ok(cleared)
}

impl Recorded {
    /// Counts a change about to be recorded by [`set_present`].
    pub(super) fn changing(&self) {
        self.changes.fetch_add(1, Ordering::SeqCst);
    }

    /// A change could not be recorded, or the node's rows were cleared: the
    /// next beat records this node's users whole.
    pub(super) fn stale(&self) {
        self.stale.store(true, Ordering::SeqCst);
    }

    /// Records this node's users whole, from `sink`, if they may be stale
    /// (or `anyway`).
    fn mend(
        &self,
        conn: &mut Client,
        node: &str,
        sink: &dyn ChangeSink,
        anyway: bool,
    ) -> Result<(), StoreError> {
        if !self.stale.swap(false, Ordering::SeqCst) && !anyway {
            return Ok(());
        }
        let changes = self.changes.load(Ordering::SeqCst);
        let recorded = record_whole(conn, node, &sink.present());
        if recorded.is_err() || self.changes.load(Ordering::SeqCst) != changes {
            self.stale();
        }
        recorded
    }
}

pub(super) fn set_present(
    conn: &mut Client,
    node: &str,
    user: &User,
    present: bool,
) -> Result<(), StoreError> {
    if present {
        conn.execute(
            "INSERT INTO node_users (node_id, user_id, username) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
            &[&node, &user.id, &user.username],
        )?;
    } else {
        conn.execute(
            "DELETE FROM node_users WHERE node_id = $1 AND user_id = $2",
            &[&node, &user.id],
        )?;
    }
    Ok(())
}

/// Makes `node_users` list exactly `users` for `node`, in one transaction.
fn record_whole(conn: &mut Client, node: &str, users: &[User]) -> Result<(), StoreError> {
    let ids: Vec<i64> = users.iter().map(|user| user.id).collect();
    let names: Vec<&str> = users.iter().map(|user| user.username.as_str()).collect();
    let mut tx = conn.transaction()?;
    tx.execute(
        "DELETE FROM node_users WHERE node_id = $1 AND user_id <> ALL($2)",
        &[&node, &ids],
    )?;
    // Joined with users: a guest's row may have gone meanwhile.
    tx.execute(
        "INSERT INTO node_users (node_id, user_id, username)
         SELECT $1, u.id, here.username
         FROM unnest($2::bigint[], $3::text[]) AS here (id, username)
         JOIN users u ON u.id = here.id
         ON CONFLICT DO NOTHING",
        &[&node, &ids, &names],
    )?;
    tx.commit()?;
    Ok(())
}

/// The users logged in on the other live nodes.
pub(super) fn active_elsewhere(conn: &mut Client, node: &str) -> Result<Vec<String>, StoreError> {
    let rows = conn.query(
        &format!(
            "SELECT DISTINCT u.username FROM node_users u JOIN nodes n ON n.id = u.node_id
             WHERE n.id <> $1 AND n.heartbeat_at > now() - interval '{EXPIRY}'"
        ),
        &[&node],
    )?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

pub(super) fn record_failure(conn: &mut Client, keys: &[String]) -> Result<(), StoreError> {
    for key in keys {
        conn.execute("INSERT INTO login_failures (key) VALUES ($1)", &[key])?;
    }
    Ok(())
}

/// How long ago each of `key`'s failures within `window` was, oldest
/// first, measured by PostgreSQL's clock, which also stamped them.
pub(super) fn failure_ages(
    conn: &mut Client,
    key: &str,
    window: Duration,
) -> Result<Vec<Duration>, StoreError> {
    let seconds = window.as_secs_f64();
    let rows = conn.query(
        "SELECT extract(epoch FROM clock_timestamp() - failed_at)::float8 FROM login_failures
         WHERE key = $1 AND failed_at > clock_timestamp() - make_interval(secs => $2)
         ORDER BY failed_at",
        &[&key, &seconds],
    )?;
    Ok(rows
        .iter()
        .map(|row| Duration::try_from_secs_f64(row.get(0)).unwrap_or_default())
        .collect())
}
