//! The store on PostgreSQL: any number of pipechat servers ("nodes"), on any
//! machines, share one database and behave, seen from every client, like one
//! server.
//!
//! # Order without gaps across nodes
//!
//! Message ids come from one sequence, so they are unique and never reused,
//! but a sequence hands ids out in the order transactions ask for them, not in
//! the order they commit: a naive `after_id` cursor, or an event stream that
//! follows ids, could pass over a message with a lower id that commits late.
//!
//! So every write of a message first updates its room's row (or its
//! conversation's), and holds that row locked until it commits; only then does
//! it take its id. Within one room, messages therefore take their ids and
//! commit in the same order: when a message is visible, every message of its
//! room with a lower id is visible too. That makes both fetches by cursor and
//! the event stream gap-free per room, on any node.
//!
//! # Events across nodes
//!
//! Each write sends its changes with `NOTIFY` inside its transaction.
//! PostgreSQL delivers notifications only once the transaction commits, and
//! in commit order, to every node listening, the writing node included: every
//! node hands its subscribers the same events in the same order, whichever
//! node wrote them (see [`listener`]). A notification's payload is limited to
//! 8,000 bytes: a change that does not fit (a long message) is sent as its
//! message id, and each node reads the message back. When a node's listening
//! connection drops, it reconnects, listens again, and catches up: each room
//! with subscribers is fetched after the last id its subscribers got, and the
//! hub drops what it already delivered (ids only grow within a room).
//!
//! # Presence and the throttle
//!
//! Nodes record themselves with a heartbeat, and who is logged in on them
//! ([`presence`]); a node that stops beating for a few seconds is gone, its
//! users with it. Failed logins are rows too, so the throttle holds across
//! nodes.

mod connect;
mod folded_names;
mod listener;
mod migrate;
mod pool;
mod presence;
mod queries;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use r2d2::Pool;

use super::{ChangeSink, Reads, StoreError, StoreOptions, User, Writes};
use crate::metrics::metrics;
use connect::Target;
pub(crate) use pool::describe;
use pool::{ConnectError, Manager, QuietErrors};
use queries::PgTx;

/// The notification channel every node listens on.
const CHANNEL: &str = "pipechat";

/// How long a request waits for a pooled connection (and PostgreSQL for a
/// new one) before it is answered 503.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

pub(super) struct PgStore {
    pool: Pool<Manager>,
    target: Arc<Target>,
    node: String,
    sink: Arc<OnceLock<Arc<dyn ChangeSink>>>,
    waiting: Arc<listener::Waiting>,
    /// Whether `node_users` may be behind on who is logged in here.
    recorded: Arc<presence::Recorded>,
    stopping: Arc<AtomicBool>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

/// How long a writer waits for its changes to come back through the
/// listener before it answers anyway (the listener is reconnecting).
const PUBLISH_WAIT: Duration = Duration::from_secs(2);

impl PgStore {
    pub(super) fn open(url: &str, options: &StoreOptions) -> Result<PgStore, StoreError> {
        let unreachable = |reason: String| StoreError::Connect {
            location: redacted(url),
            reason,
        };
        let mut target = Target::parse(url).map_err(unreachable)?;
        target
            .config_mut()
            .connect_timeout(CONNECT_TIMEOUT)
            .application_name("pipechat");
        let manager = Manager::new(&target);
        let pool = Pool::builder()
            .max_size(options.pool_size.max(2))
            .min_idle(Some(1))
            .connection_timeout(CONNECT_TIMEOUT)
            .error_handler(Box::new(QuietErrors::default()))
            .build(manager)
            .map_err(|err| unreachable(pool::cannot_connect(&err)))?;
        {
            let mut conn = pool
                .get()
                .map_err(|err| unreachable(pool::cannot_connect(&err)))?;
            if options.beside_a_server {
                migrate::check_current(&mut conn, &redacted(url))?;
            } else {
                migrate::migrate(&mut conn, &redacted(url))?;
            }
        }
        let node = presence::new_node_id().map_err(|err| unreachable(err.to_string()))?;
        let store = PgStore {
            pool,
            target: Arc::new(target),
            node,
            sink: Arc::default(),
            waiting: Arc::default(),
            recorded: Arc::default(),
            stopping: Arc::default(),
            threads: Mutex::new(Vec::new()),
        };
        presence::register(&store.pool, &store.node)?;
        let heartbeat = presence::start_heartbeat(presence::Heartbeat {
            pool: store.pool.clone(),
            node: store.node.clone(),
            sink: Arc::clone(&store.sink),
            recorded: Arc::clone(&store.recorded),
            stopping: Arc::clone(&store.stopping),
        })
        .map_err(StoreError::Thread)?;
        store.threads.lock().push(heartbeat);
        log::info!(
            "{}: node {} joined ({})",
            redacted(url),
            store.node,
            if store.target.encrypted() {
                "TLS, server verified"
            } else {
                "unencrypted"
            }
        );
        Ok(store)
    }

    /// Starts listening for every node's changes, this one's included.
    pub(super) fn attach(&self, sink: Arc<dyn ChangeSink>) {
        if self.sink.set(Arc::clone(&sink)).is_err() {
            log::warn!("a change sink was already attached; keeping the first");
            return;
        }
        match listener::start(listener::Listener {
            target: Arc::clone(&self.target),
            node: self.node.clone(),
            pool: self.pool.clone(),
            sink,
            waiting: Arc::clone(&self.waiting),
            stopping: Arc::clone(&self.stopping),
        }) {
            Ok(thread) => self.threads.lock().push(thread),
            Err(err) => log::error!("cannot start the change listener: {err}"),
        }
    }

    pub(super) fn read<T, E: From<StoreError>>(
        &self,
        work: impl FnOnce(&dyn Reads) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut conn = self.connection().map_err(E::from)?;
        work(&PgTx::reading(&mut conn))
    }

    /// Runs `work` in its own transaction; its changes are sent with
    /// `NOTIFY` before the commit, so they reach every node (this one too)
    /// once it commits. PostgreSQL orders concurrent writers itself.
    pub(super) fn write<T, E>(
        &self,
        work: impl FnOnce(&dyn Writes) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        if self.stopping.load(Ordering::SeqCst) {
            return Err(E::from(StoreError::Stopped));
        }
        let mut conn = self.connection().map_err(E::from)?;
        let started = Instant::now();
        let (client, statements) = conn.split();
        let tx = client
            .transaction()
            .map_err(|err| E::from(StoreError::from(err)))?;
        let db = PgTx::writing(tx, statements, &self.node);
        let value = work(&db)?;
        let (write, published) = self.waiting.register();
        let marker = listener::Notice::Written {
            node: self.node.clone(),
            write,
        };
        let committed = db.commit(&marker);
        // Back to the pool before waiting: the wait can be long under load,
        // and other writers need connections meanwhile.
        drop(conn);
        if committed.is_ok() {
            metrics().commit(1, started.elapsed());
        }
        match committed {
            Ok(true) if self.sink.get().is_some() => {
                // Answer once this node has published the write's changes.
                if published.recv_timeout(PUBLISH_WAIT).is_err() {
                    self.waiting.forget(write);
                }
            }
            Ok(_) => self.waiting.forget(write),
            Err(err) => {
                self.waiting.forget(write);
                return Err(E::from(err));
            }
        }
        Ok(value)
    }

    pub(super) fn active_elsewhere(&self) -> Result<Vec<String>, StoreError> {
        presence::active_elsewhere(&mut *self.connection()?, &self.node)
    }

    pub(super) fn set_present(&self, user: &User, present: bool) {
        self.recorded.changing();
        let recorded = self
            .connection()
            .and_then(|mut conn| presence::set_present(&mut conn, &self.node, user, present));
        if let Err(err) = recorded {
            self.recorded.stale();
            log::warn!(
                "cannot record who is logged in here now, will at the next heartbeat: {err}"
            );
        }
    }

    /// Stops the listener and the heartbeat, and removes this node's
    /// presence.
    pub(super) fn close(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        for thread in self.threads.lock().drain(..) {
            let _ = thread.join();
        }
        if let Err(err) = self
            .connection()
            .and_then(|mut conn| presence::unregister(&mut conn, &self.node))
        {
            log::warn!("cannot remove this node's presence: {err}");
        }
    }

    fn connection(&self) -> Result<r2d2::PooledConnection<Manager>, StoreError> {
        self.pool
            .get()
            .map_err(|err| StoreError::Unreachable(err.to_string()))
    }
}

impl super::FailureLog for PgStore {
    fn record_failure(&self, keys: &[String]) -> Result<(), StoreError> {
        presence::record_failure(&mut *self.connection()?, keys)
    }

    fn failure_ages(&self, key: &str, window: Duration) -> Result<Vec<Duration>, StoreError> {
        presence::failure_ages(&mut *self.connection()?, key, window)
    }
}

impl From<::postgres::Error> for StoreError {
    fn from(err: ::postgres::Error) -> Self {
        // A closed connection, a server going away or a session it ended
        // (25P03: idle inside a transaction, see `pool`) is passing: the
        // request is answered 503 and the pool reconnects. So is a write
        // refused as read-only (25006): a standby reached in the middle of
        // a failover, before the address follows the new primary.
        let passing = err.is_closed()
            || err.code().is_some_and(|code| {
                let code = code.code();
                code.starts_with("08")
                    || code.starts_with("57P")
                    || code == "53300"
                    || code == "25P03"
                    || code == "25006"
            })
            || err.as_db_error().is_none() && err.to_string().contains("connection");
        if passing {
            StoreError::Unreachable(pool::describe(&err))
        } else {
            StoreError::Postgres(err)
        }
    }
}

/// A connection of its own to the database at `url`, its schema brought to
/// this version's, for `import`.
///
/// # Errors
///
/// The URL is wrong, PostgreSQL cannot be reached or refuses, or the
/// database holds someone else's tables or a newer schema.
pub(super) fn connect_to_import(url: &str) -> Result<::postgres::Client, StoreError> {
    let unreachable = |reason: String| StoreError::Connect {
        location: redacted(url),
        reason,
    };
    let mut target = Target::parse(url).map_err(unreachable)?;
    target.config_mut().application_name("pipechat import");
    let mut client = target.connect().map_err(|err| {
        let err = ConnectError::of_connection(&err, target.trusted());
        unreachable(format!("cannot connect: {err}"))
    })?;
    migrate::migrate(&mut client, &redacted(url))?;
    Ok(client)
}

/// A URL with its password hidden (as `user:password@` or as a
/// `password=` parameter), for logs and errors.
pub(super) fn redacted(url: &str) -> String {
    // Up to the last `@`, not the first, where the driver ends them: a
    // password with an unescaped `@` is then hidden whole (and such a URL
    // always fails, so it is always shown). Hiding too much is harmless.
    let scheme_len = url.find("://").map_or(0, |at| at + 3);
    let (scheme, after) = url.split_at(scheme_len);
    let (credentials, address) = match after.rfind('@') {
        Some(at) => (Some(&after[..at]), &after[at + 1..]),
        None => (None, after),
    };
    let mut shown = scheme.to_string();
    if let Some(credentials) = credentials {
        match credentials.split_once(':') {
            Some((user, _)) => shown.push_str(&format!("{user}:***@")),
            None => shown.push_str(&format!("{credentials}@")),
        }
    }
    match address.split_once('?') {
        None => shown.push_str(address),
        Some((address, query)) => {
            let pairs: Vec<&str> = connect::parameters(query)
                .map(|(pair, key)| {
                    if key == "password" {
                        "password=***"
                    } else {
                        pair
                    }
                })
                .collect();
            shown.push_str(address);
            shown.push('?');
            shown.push_str(&pairs.join("&"));
        }
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hidden_from_urls() {
        assert_eq!(
            redacted("postgres://chat:s3cret@db.example:5432/chat"),
            "postgres://chat:***@db.example:5432/chat"
        );
        assert_eq!(
            redacted("postgres://chat@db.example/chat"),
            "postgres://chat@db.example/chat"
        );
        assert_eq!(redacted("postgresql://db/chat"), "postgresql://db/chat");
        assert_eq!(
            redacted("postgres://chat@db/chat?sslmode=require&password=s3cret"),
            "postgres://chat@db/chat?sslmode=require&password=***"
        );
        assert_eq!(
            redacted("postgres://chat:pa?ss@db/chat?sslmode=require"),
            "postgres://chat:***@db/chat?sslmode=require"
        );
        assert_eq!(
            redacted("postgres://chat@db/chat?pass%77ord=s3cret"),
            "postgres://chat@db/chat?password=***"
        );
        assert_eq!(
            redacted("postgres://chat:top@secret@db/chat"),
            "postgres://chat:***@db/chat"
        );
    }
}
