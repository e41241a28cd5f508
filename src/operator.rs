//! The operator's commands on a database, run beside a server that may be
//! using it: `pipechat-server add-user` (accounts where `--registration
//! closed` keeps people from making their own) and `pipechat-server
//! set-password` (for someone who forgot theirs). They go through the chat
//! core, so names, passwords and hashing follow the same rules as
//! `/register` and `/changePassword`.

use crate::chat::{Chat, ChatError};
use crate::store::{Location, Store, StoreError, StoreOptions};

#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    /// A SQLite file that is not there: an operator's command never
    /// creates the database (a mistyped path would make an empty one).
    #[error("no database at {0}; start the server once to create it, or give --db")]
    NoDatabase(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// What the chat refused, in the sentence a client would get, or the
    /// failure in full (the operator is at the server's own terminal).
    #[error("{0}")]
    Refused(String),
}

impl From<ChatError> for OperatorError {
    fn from(err: ChatError) -> Self {
        OperatorError::Refused(err.to_string())
    }
}

/// Adds an account with `password`; returns its name as registered.
///
/// # Errors
///
/// A name or password that breaks the rules, a name taken, and the
/// database's failures.
pub fn add_user(db: &Location, username: &str, password: &str) -> Result<String, OperatorError> {
    with_chat(db, |chat| {
        Ok(chat.add_account(username, password)?.username)
    })
}

/// Sets the password of `username`'s account and revokes its saved logins;
/// returns its name as registered.
///
/// # Errors
///
/// An unknown user, a password that breaks the rules, and the database's
/// failures.
pub fn set_password(
    db: &Location,
    username: &str,
    password: &str,
) -> Result<String, OperatorError> {
    with_chat(db, |chat| {
        Ok(chat.set_password(username, password)?.username)
    })
}

/// Runs `work` on the chat of `db`. Its writes are committed when it
/// returns; a SQLite file is not closed as a server closes it, since that
/// folds the WAL back into the file and would wait for a running server's
/// readers.
fn with_chat<T>(
    db: &Location,
    work: impl FnOnce(&Chat) -> Result<T, OperatorError>,
) -> Result<T, OperatorError> {
    if let Location::Sqlite(path) = db
        && !path.exists()
    {
        return Err(OperatorError::NoDatabase(path.display().to_string()));
    }
    let store = Store::open(
        db,
        &StoreOptions {
            beside_a_server: true,
            ..StoreOptions::default()
        },
    )?;
    let done = Chat::for_operator(store.clone())
        .map_err(|err| OperatorError::Refused(err.to_string()))
        .and_then(|chat| work(&chat));
    // A PostgreSQL store leaves the cluster as a node does when it stops.
    if let Location::Postgres(_) = db {
        store.close();
    }
    done
}
