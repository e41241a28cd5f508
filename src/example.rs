//! The example database shipped as `chat.db.example`, built by the project's
//! own store code so that it always matches the current schema.
//!
//! Regenerate it with:
//!
//! ```text
//! cargo run --release --bin pipechat-example-db -- chat.db.example
//! ```

use std::path::Path;

use crate::chat::accounts::{HashError, argon2id_hash};
use crate::store::seed::Seeder;
use crate::store::{Place, StoreError, User};

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

/// Direct messages in the order they are sent: author, recipient, text.
const EXAMPLE_DIRECT_MESSAGES: &[(&str, &str, &str)] = &[
    ("alice", "bob", "Lunch at noon?"),
    ("bob", "alice", "Yes, see you there"),
];

#[derive(Debug, thiserror::Error)]
pub enum ExampleError {
    #[error("{0} already exists; remove it first")]
    Exists(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Hash(#[from] HashError),
}

/// Writes a fresh example database at `path`, which must not exist.
pub fn build_example_database(path: &Path) -> Result<(), ExampleError> {
    if path.exists() {
        return Err(ExampleError::Exists(path.display().to_string()));
    }
    let hashes = EXAMPLE_USERS
        .iter()
        .map(|(_, password)| argon2id_hash(password))
        .collect::<Result<Vec<_>, _>>()?;
    let seeder = Seeder::open(path)?;
    seeder.transaction(|db| {
        let mut users: Vec<User> = Vec::new();
        for ((username, _), hash) in EXAMPLE_USERS.iter().zip(&hashes) {
            users.extend(db.insert_user(username, hash)?);
        }
        let user = |name: &str| users.iter().find(|user| user.username == name);
        for (room_name, creator, members) in EXAMPLE_ROOMS {
            let creator_id = user(creator).map_or(0, |user| user.id);
            let Some(room) = db.insert_room(room_name, creator_id)? else {
                continue;
            };
            for member in members.iter().filter_map(|name| user(name)) {
                db.insert_membership(&room, member)?;
            }
        }
        for (room_name, author, text) in EXAMPLE_MESSAGES {
            if let (Some(room), Some(author)) = (db.find_room(room_name)?, user(author)) {
                db.insert_message(&Place::Room(room), author, text)?;
            }
        }
        for (author, recipient, text) in EXAMPLE_DIRECT_MESSAGES {
            if let (Some(author), Some(recipient)) = (user(author), user(recipient)) {
                let conversation = db.conversation(author, recipient)?;
                db.insert_message(&Place::Direct(conversation), author, text)?;
            }
        }
        Ok::<_, StoreError>(())
    })?;
    seeder.finish_as_single_file()?;
    Ok(())
}
