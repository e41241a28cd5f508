//! The example database shipped as `chat.db.example`, built by the project's
//! own store code so that it always matches the current schema.
//!
//! Regenerate it with:
//!
//! ```text
//! cargo run --bin pipechat-example-db -- chat.db.example
//! ```

use std::path::Path;

use crate::accounts::Accounts;
use crate::store::{Store, StoreError, StoreOptions, User, now_timestamp, queries};

/// The example's accounts and their passwords, as documented in the README.
pub const EXAMPLE_USERS: &[(&str, &str)] = &[
    ("alice", "alice-password"),
    ("bob", "bob-password"),
    ("carol", "carol-password"),
];

/// Rooms, who created them, and who is a member.
const EXAMPLE_ROOMS: &[(&str, &str, &[&str])] = &[
    ("general", "alice", &["alice", "bob", "carol"]),
    ("random", "bob", &["bob", "carol"]),
    ("Café ☕", "carol", &["alice", "carol"]),
];

/// Messages in the order they are sent: room, author, text.
const EXAMPLE_MESSAGES: &[(&str, &str, &str)] = &[
    ("general", "alice", "Hi all, welcome to pipechat!"),
    ("general", "bob", "Hello alice | good to be here"),
    ("general", "carol", "Two lines:\nthis is the second one"),
    ("random", "bob", "Anyone tried the sqlite3 history view?"),
    (
        "random",
        "carol",
        "Yes: select * from history where room = 'random'",
    ),
    ("Café ☕", "alice", "Un café, s'il vous plaît 😀"),
    (
        "Café ☕",
        "carol",
        "Backslashes survive too: C:\\chat\\logs",
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum ExampleError {
    #[error("{0} already exists; remove it first")]
    Exists(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[error(transparent)]
    Hash(#[from] crate::accounts::HashError),
}

/// Writes a fresh example database at `path`, which must not exist.
pub fn build_example_database(path: &Path) -> Result<(), ExampleError> {
    if path.exists() {
        return Err(ExampleError::Exists(path.display().to_string()));
    }
    let store = Store::open(path, &StoreOptions::default())?;
    let accounts = Accounts::new(1)?;
    let mut conn = store.writer_connection()?;
    let tx = conn.transaction()?;
    let mut users: Vec<User> = Vec::new();
    for (username, password) in EXAMPLE_USERS {
        let hash = accounts.hash_password(password)?;
        if let Some(user) = queries::insert_user(&tx, username, &hash, &now_timestamp())? {
            users.push(user);
        }
    }
    let user = |name: &str| users.iter().find(|user| user.username == name);
    for (room_name, creator, members) in EXAMPLE_ROOMS {
        let creator_id = user(creator).map_or(0, |user| user.id);
        let Some(room) = queries::insert_room(&tx, room_name, creator_id, &now_timestamp())? else {
            continue;
        };
        for member in *members {
            if let Some(member) = user(member) {
                queries::insert_membership(&tx, room.id, member.id, &now_timestamp())?;
            }
        }
    }
    for (room_name, author, text) in EXAMPLE_MESSAGES {
        if let (Some(room), Some(author)) = (queries::find_room(&tx, room_name)?, user(author)) {
            queries::insert_message(&tx, &room, author, text, &now_timestamp())?;
        }
    }
    tx.commit()?;
    drop(conn);
    drop(store);
    // Leave WAL mode so the example is one self-contained file with no
    // `-wal` beside it; the server switches it back to WAL when it opens it.
    rusqlite::Connection::open(path)?.query_row("PRAGMA journal_mode = DELETE", [], |_| Ok(()))?;
    Ok(())
}
