//! Pooled PostgreSQL connections that keep their prepared statements.
//!
//! A statement given as text is parsed and planned by PostgreSQL on every
//! use, one more round trip and a plan's CPU each time. A message's write
//! holds its room's row locked until it commits (see the module doc), so
//! every such cost is paid while the next sender to that room waits: each
//! connection prepares a statement once and reuses it for its lifetime.
//! Prepared statements belong to the session, not to a transaction, so one
//! prepared inside a transaction that rolls back stays usable.

use std::collections::HashMap;
use std::ops::{Deref, DerefMut};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use ::postgres::{Client, Statement};
use r2d2_postgres::PostgresConnectionManager;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::connect::Target;

/// One connection and the statements prepared on it, by their text.
pub(super) struct PgConn {
    client: Client,
    statements: HashMap<String, Statement>,
}

impl PgConn {
    /// The connection and its statements, borrowed apart: a transaction
    /// holds the one while queries look up the other.
    pub(super) fn split(&mut self) -> (&mut Client, &mut Statements) {
        (&mut self.client, &mut self.statements)
    }
}

/// Prepared statements of one connection, by their text.
pub(super) type Statements = HashMap<String, Statement>;

impl Deref for PgConn {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.client
    }
}

impl DerefMut for PgConn {
    fn deref_mut(&mut self) -> &mut Client {
        &mut self.client
    }
}

/// Set on every pooled connection. A node that stops inside a transaction
/// (frozen, or cut off with its connection still open) holds the row lock
/// of the room it was writing to, and every node's senders to that room
/// would wait for it until PostgreSQL noticed the connection dead, hours
/// later with the system's TCP keep-alive. A node's transactions never wait
/// for anything but the database, so 5 seconds idle inside one (the time
/// after which the other nodes take a silent node for gone) means it is
/// stuck: PostgreSQL ends its session, which rolls the transaction back, and
/// its requests get 503 when it wakes.
const IDLE_IN_TRANSACTION_TIMEOUT: &str = "SET idle_in_transaction_session_timeout = '5s'";

/// `r2d2_postgres`'s manager, handing out [`PgConn`]s.
pub(super) struct Manager {
    inner: PostgresConnectionManager<MakeRustlsConnect>,
    /// [`Target::trusted`], for a refused certificate's error.
    trusted: String,
}

impl std::fmt::Debug for Manager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Manager")
    }
}

impl Manager {
    pub(super) fn new(target: &Target) -> Manager {
        Manager {
            inner: target.manager(),
            trusted: target.trusted().to_string(),
        }
    }
}

impl r2d2::ManageConnection for Manager {
    type Connection = PgConn;
    type Error = ConnectError;

    fn connect(&self) -> Result<PgConn, ConnectError> {
        let mut client = self
            .inner
            .connect()
            .map_err(|err| ConnectError::of_connection(&err, &self.trusted))?;
        client.batch_execute(IDLE_IN_TRANSACTION_TIMEOUT)?;
        Ok(PgConn {
            client,
            statements: HashMap::new(),
        })
    }

    fn is_valid(&self, conn: &mut PgConn) -> Result<(), ConnectError> {
        Ok(self.inner.is_valid(&mut conn.client)?)
    }

    fn has_broken(&self, conn: &mut PgConn) -> bool {
        self.inner.has_broken(&mut conn.client)
    }
}

/// A failed connection with its cause (a wrong password, no such database
/// or role), which the pool's own messages would drop ([`describe`]).
#[derive(Debug)]
pub(super) struct ConnectError(String);

impl ConnectError {
    /// A connection's failure to open, as [`From`] says it, and for a
    /// certificate TLS refused whose it was and what it was checked
    /// against: `invalid peer certificate: UnknownIssuer (PostgreSQL's
    /// certificate, checked against sslrootcert /etc/pipechat/pg-ca.pem)`.
    pub(super) fn of_connection(err: &::postgres::Error, trusted: &str) -> ConnectError {
        let ConnectError(mut text) = ConnectError::from_ref(err);
        if refused_a_certificate(err) {
            text.push_str(&format!(
                " (PostgreSQL's certificate, checked against {trusted})"
            ));
        }
        ConnectError(text)
    }

    fn from_ref(err: &::postgres::Error) -> ConnectError {
        ConnectError(
            err.as_db_error()
                .map_or_else(|| describe(err), ToString::to_string),
        )
    }
}

/// Whether TLS refused the server's certificate somewhere in `err`'s
/// causes. rustls's error travels inside an `std::io::Error`, whose
/// `source` skips it, so each cause that is one is opened.
fn refused_a_certificate(err: &::postgres::Error) -> bool {
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        let inner = cause
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
            .map_or(cause, |inner| inner as &(dyn std::error::Error + 'static));
        if matches!(
            inner.downcast_ref::<rustls::Error>(),
            Some(rustls::Error::InvalidCertificate(_))
        ) {
            return true;
        }
        source = cause.source();
    }
    false
}

impl From<::postgres::Error> for ConnectError {
    /// PostgreSQL's own refusal as it words it (`FATAL: password
    /// authentication failed for user "pipechat"`), without the driver's
    /// "db error" before it; any other failure with its causes.
    fn from(err: ::postgres::Error) -> ConnectError {
        ConnectError::from_ref(&err)
    }
}

/// What r2d2 says of every failure to hand out a connection, also when
/// PostgreSQL refused at once and said why.
const POOL_TIMEOUT: &str = "timed out waiting for connection";

/// Why the pool handed out no connection: `cannot connect: ` and the last
/// connection's failure ([`ConnectError`]) when one is known, r2d2's own
/// "timed out waiting for connection" only when none is.
pub(super) fn cannot_connect(err: &r2d2::Error) -> String {
    let text = err.to_string();
    match text
        .strip_prefix(POOL_TIMEOUT)
        .and_then(|rest| rest.strip_prefix(": "))
    {
        Some(reason) => format!("cannot connect: {reason}"),
        None => text,
    }
}

/// The error with its causes: the `postgres` crate's own text is only its
/// kind ("db error"), and PostgreSQL's reason is in the error's source.
pub(crate) fn describe(err: &::postgres::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConnectError {}

/// Logs the pool's failed connections as warnings, at most one per
/// [`QuietErrors::EVERY`]: while PostgreSQL is down the pool retries many
/// times a second, and r2d2's own handler logged each as an ERROR, burying
/// whatever else was logged. Requests that fail say so to their clients
/// and `/health` answers 503 meanwhile.
#[derive(Debug, Default)]
pub(super) struct QuietErrors {
    /// When one was last logged, and how many were not since.
    last: Mutex<Option<(Instant, u64)>>,
}

impl QuietErrors {
    const EVERY: Duration = Duration::from_secs(10);
}

impl r2d2::HandleError<ConnectError> for QuietErrors {
    fn handle_error(&self, error: ConnectError) {
        let mut last = self.last.lock();
        match &mut *last {
            Some((at, unlogged)) if at.elapsed() < Self::EVERY => *unlogged += 1,
            _ => {
                let unlogged = last.map_or(0, |(_, unlogged)| unlogged);
                let more = match unlogged {
                    0 => String::new(),
                    n => format!(" ({n} more failed since the last such line)"),
                };
                log::warn!("cannot open a PostgreSQL connection: {error}{more}");
                *last = Some((Instant::now(), 0));
            }
        }
    }
}
