//! The operator's commands on a database, run beside servers that may be
//! using it: `pipechat-server add-user` (accounts where `--registration
//! closed` keeps people from making their own) and `pipechat-server
//! set-password` (for someone who forgot theirs). They go through the chat
//! core, so names, passwords and hashing follow the same rules as
//! `/register` and `/changePassword`. A command opens the database, checks
//! the name, and only then is the password asked.

use crate::chat::{Chat, ChatError};
use crate::store::{Location, Store, StoreError, StoreOptions, SyncMode};

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

/// The chat of one database, for the operator's commands.
pub struct Operator {
    chat: Chat,
    store: Store,
    postgres: bool,
}

impl Operator {
    /// Opens `db` beside whatever servers use it: never created, never
    /// migrated ([`StoreOptions::beside_a_server`]).
    ///
    /// # Errors
    ///
    /// [`OperatorError::NoDatabase`], and the database's refusals (another
    /// schema version, not a pipechat database, out of reach).
    pub fn open(db: &Location) -> Result<Operator, OperatorError> {
        if let Location::Sqlite(path) = db
            && !path.exists()
        {
            return Err(OperatorError::NoDatabase(path.display().to_string()));
        }
        let store = Store::open(
            db,
            &StoreOptions {
                beside_a_server: true,
                // One commit, which a power cut must not undo (a revoked
                // token coming back), whatever the server's `--sync`.
                sync: SyncMode::Full,
                ..StoreOptions::default()
            },
        )?;
        let chat = Chat::for_operator(store.clone())
            .map_err(|err| OperatorError::Refused(err.to_string()))?;
        Ok(Operator {
            chat,
            store,
            postgres: matches!(db, Location::Postgres(_)),
        })
    }

    /// Checks that an account called `username` can be added: a valid name
    /// no account has.
    ///
    /// # Errors
    ///
    /// The name's fault, in `/register`'s words.
    pub fn check_new_account(&self, username: &str) -> Result<(), OperatorError> {
        Ok(self.chat.check_new_account_name(username)?)
    }

    /// The name as registered of the account called `username`.
    ///
    /// # Errors
    ///
    /// An unknown user (guests have no password).
    pub fn existing_account(&self, username: &str) -> Result<String, OperatorError> {
        Ok(self.chat.account(username)?.username)
    }

    /// Adds an account with `password`; returns its name as registered.
    ///
    /// # Errors
    ///
    /// A name or password that breaks the rules, a name taken, and the
    /// database's failures.
    pub fn add_user(&self, username: &str, password: &str) -> Result<String, OperatorError> {
        Ok(self.chat.add_account(username, password)?.username)
    }

    /// Sets the password of `username`'s account and revokes its saved
    /// logins; returns its name as registered.
    ///
    /// # Errors
    ///
    /// An unknown user, a password that breaks the rules, and the
    /// database's failures.
    pub fn set_password(&self, username: &str, password: &str) -> Result<String, OperatorError> {
        Ok(self.chat.set_password(username, password)?.username)
    }
}

impl Drop for Operator {
    /// Writes are committed as each call returns. A PostgreSQL store leaves
    /// the cluster as a node does when it stops; a SQLite file is not
    /// closed as a server closes it, since that folds the WAL back into the
    /// file and would wait for a running server's readers.
    fn drop(&mut self) {
        if self.postgres {
            self.store.close();
        }
    }
}
