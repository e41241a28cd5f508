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

use ::postgres::{Client, NoTls, Statement};
use r2d2_postgres::PostgresConnectionManager;

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

/// `r2d2_postgres`'s manager, handing out [`PgConn`]s.
#[derive(Debug)]
pub(super) struct Manager(PostgresConnectionManager<NoTls>);

impl Manager {
    pub(super) fn new(config: ::postgres::Config) -> Manager {
        Manager(PostgresConnectionManager::new(config, NoTls))
    }
}

impl r2d2::ManageConnection for Manager {
    type Connection = PgConn;
    type Error = ::postgres::Error;

    fn connect(&self) -> Result<PgConn, ::postgres::Error> {
        Ok(PgConn {
            client: self.0.connect()?,
            statements: HashMap::new(),
        })
    }

    fn is_valid(&self, conn: &mut PgConn) -> Result<(), ::postgres::Error> {
        self.0.is_valid(&mut conn.client)
    }

    fn has_broken(&self, conn: &mut PgConn) -> bool {
        self.0.has_broken(&mut conn.client)
    }
}
