//! What nodes share besides the chat itself: which nodes are alive (a
//! heartbeat), who is logged in on each, and failed logins.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use ::postgres::Client;
use r2d2::Pool;

use super::Manager;
use crate::store::{StoreError, User};

/// How often a node says it is alive.
const HEARTBEAT: Duration = Duration::from_secs(1);

/// A node silent for longer is gone: its users are no longer active. SQL
/// interval text, used in queries.
const EXPIRY: &str = "5 seconds";

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

/// Beats every [`HEARTBEAT`] until `stopping`; also clears out nodes that
/// stopped beating and old failed logins. A beat that fails (the database
/// down) is retried at the next one; a node whose row was cleared while it
/// could not beat registers again, with its users.
pub(super) fn start_heartbeat(
    pool: Pool<Manager>,
    node: String,
    stopping: Arc<AtomicBool>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("heartbeat".to_string())
        .spawn(move || {
            let mut beats: u64 = 0;
            while !stopping.load(Ordering::SeqCst) {
                let beat = pool
                    .get()
                    .map_err(|err| StoreError::Unreachable(err.to_string()))
                    .and_then(|mut conn| beat(&mut conn, &node, beats));
                if let Err(err) = beat {
                    log::debug!("heartbeat failed: {err}");
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

fn beat(conn: &mut Client, node: &str, beats: u64) -> Result<(), StoreError> {
    let updated = conn.execute(
        "UPDATE nodes SET heartbeat_at = now() WHERE id = $1",
        &[&node],
    )?;
    if updated == 0 {
        // Cleared as dead while the database was out of reach: its users'
        // rows went with it and come back as they log in again.
        conn.execute("INSERT INTO nodes (id) VALUES ($1)", &[&node])?;
        log::warn!("node {node} was taken for dead and joined again");
    }
    if beats.is_multiple_of(5) {
        conn.batch_execute(&format!(
            "DELETE FROM nodes WHERE heartbeat_at < now() - interval '{EXPIRY}' * 3;
             DELETE FROM login_failures WHERE failed_at < now() - interval '{FAILURES_KEPT}';"
        ))?;
    }
    Ok(())
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

/// The times of `key`'s failures within `window`, oldest first.
pub(super) fn failures_since(
    conn: &mut Client,
    key: &str,
    window: Duration,
) -> Result<Vec<SystemTime>, StoreError> {
    let seconds = window.as_secs_f64();
    let rows = conn.query(
        "SELECT failed_at FROM login_failures
         WHERE key = $1 AND failed_at > clock_timestamp() - make_interval(secs => $2)
         ORDER BY failed_at",
        &[&key, &seconds],
    )?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}
