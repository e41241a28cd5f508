//! Everything persistent, and the only place with SQL.
//!
//! The chat core sees the database only through this surface, which a second
//! engine (PostgreSQL) can provide beside SQLite:
//!
//! - `Store::open` turns a location into a ready store (checking the file,
//!   migrating the schema).
//! - `Store::read` runs queries (`Reads`) on a pooled connection.
//! - `Store::write` runs one unit of work (`Writes`) in a transaction and
//!   returns once it is committed. The work may fail; then its changes are
//!   rolled back and nothing else is affected.
//! - Every write records what it changed as `Change`s. Once committed, they
//!   go to the `ChangeSink` given to `Store::attach`, in commit order and
//!   before the writer hears back: that order is what lets subscribers see a
//!   room's messages in increasing id order without gaps.
//! - `Store::close` commits what is queued and leaves the files consistent.
//! - [`backup`] copies a live database consistently.
//! - [`import()`] copies a SQLite database into an empty PostgreSQL one.
//! - [`seed`] writes rows without a server: the example database, the bench
//!   and tests set up their data through it.
//!
//! Row types ([`User`], [`Room`], [`Credentials`], in `records`) are mapped
//! from rows in one place per type, in the engine's query module; what both
//! engines share in doing so is in `shared`, and `error` holds
//! [`StoreError`]. `names` makes the key a chatroom name is unique under
//! (stored, so the store's), and makes every stored key again for both
//! engines, renaming rooms that come to share one. Rules (who may do what, which
//! names are valid) are not here: they are the core's.

/// The columns of a message as clients see it, with the joins that name its
/// room, author and (for a direct message) recipient; `m` is the message.
/// SQLite reads these columns by position, in this order, and PostgreSQL by
/// name, into [`MessageColumns`]. Defined before the engines' modules so
/// that both use this one text.
macro_rules! message_select {
    ($($rest:literal),*) => {
        concat!(
            "SELECT m.id, c.name AS room, t.username AS recipient, u.username, m.text,
                    m.sent_at, m.edited_at, m.user_id, m.room_id, c.created_by, u.guest,
                    m.conversation_id, v.user_low, v.user_high
             FROM messages m
             JOIN users u ON u.id = m.user_id
             LEFT JOIN chatrooms c ON c.id = m.room_id
             LEFT JOIN conversations v ON v.id = m.conversation_id
             LEFT JOIN users t
               ON t.id = CASE WHEN v.user_low = m.user_id THEN v.user_high ELSE v.user_low END ",
            $($rest),*
        )
    };
}

mod error;
mod import;
mod names;
mod postgres;
mod records;
pub mod seed;
mod shared;
mod sqlite;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::wire::{Deleted, Membership, Message, RoomInfo, TopicChange};

pub use error::StoreError;
pub use import::{Copied, import};
pub(crate) use names::{LONGEST_ROOM_NAME, room_key};
pub use records::{
    Conversation, Credentials, Page, Place, PlaceKey, Room, SearchQuery, SearchTerm, StoredMessage,
    StoredToken, TokenHash, TopicSetter, UnreadEntry, User,
};
pub(crate) use shared::{
    MessageColumns, PageStatements, announce_schema_change, deleted, edited, expired_ids,
    membership, new_message, new_topic_setter, ordered, recipient, stored_topic_setter,
    topic_change,
};
pub(crate) use sqlite::indexed_words;
pub use sqlite::{APPLICATION_ID, SCHEMA_VERSION};

/// How long a statement waits for another process's lock before giving up.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How much the database survives, chosen with `--sync`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum SyncMode {
    /// Survives the server being killed (SIGKILL, crash); the last commits may
    /// be lost if the whole machine loses power. SQLite `synchronous=NORMAL`.
    #[default]
    Normal,
    /// Also survives power loss: every commit waits for the disk. SQLite
    /// `synchronous=FULL`.
    Full,
}

/// How to open the database.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Connections in the pool (at least 2). On SQLite the writer keeps one
    /// of them; on PostgreSQL each serves reads and writes (the connection
    /// that listens for other nodes' changes is apart). The server's
    /// `--pool-size` counts readers and asks for one more.
    pub pool_size: u32,
    pub sync: SyncMode,
    /// For the operator's commands (`pipechat-server add-user`): a SQLite
    /// file a running server holds is opened anyway, for a few writes that
    /// need no events (its clients do not hear of them), and never
    /// migrated. A server never opens its database so.
    pub beside_a_server: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            // 8 readers and the writer, as the server's default.
            pool_size: 9,
            sync: SyncMode::Normal,
            beside_a_server: false,
        }
    }
}

/// What a committed write changed, as the rest of the server needs to hear it.
/// (Serializable: on PostgreSQL changes travel between servers.)
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) enum Change {
    /// A message was stored.
    Message { place: PlaceKey, message: Message },
    /// A message's text was changed.
    Edited { place: PlaceKey, message: Message },
    /// A message was deleted (not recorded for retention's expiry).
    Deleted { place: PlaceKey, deleted: Deleted },
    /// A user became a member (not recorded when they already were).
    Joined {
        room_id: i64,
        /// Who joined, by id: a guest may hold the name of an account. 0
        /// from a node of an older version, which did not send it.
        #[serde(default)]
        user_id: i64,
        membership: Membership,
    },
    /// A user stopped being a member.
    Left {
        room_id: i64,
        user_id: i64,
        membership: Membership,
    },
    /// A room's topic was set.
    Topic {
        room_id: i64,
        /// Who set it, by id, as for `Joined` (0 from an older node).
        #[serde(default)]
        user_id: i64,
        topic: TopicChange,
    },
    /// Every resume token of a user was revoked but `keep` (all of them
    /// without): sessions logged in with another token end.
    TokensRevoked {
        user_id: i64,
        keep: Option<TokenHash>,
    },
    /// A user's read position moved forward (recorded only when it moved):
    /// `place` as they call it, `at` when the newest message they have
    /// read was sent. Their IRC connections tell their clients.
    ReadMoved {
        user_id: i64,
        place: String,
        at: Option<String>,
    },
}

/// Where committed changes go, in commit order.
pub(crate) trait ChangeSink: Send + Sync {
    fn committed(&self, changes: Vec<Change>);

    /// Changes may have been missed (the feed of changes from the database
    /// has just started listening, first or again after an interruption):
    /// the sink catches up through `missed`.
    fn resync(&self, missed: &dyn Missed);

    /// Who is logged in through this server now. A store shared by several
    /// servers records it for `/getActiveUsers` as users come and go, and
    /// records it whole again from here when a change could not be recorded
    /// (the database was out of reach) or the others took this server for
    /// dead.
    fn present(&self) -> Vec<User>;

    /// The other servers took this one for dead (it could not reach the
    /// shared database for a while) and ended what only a live server keeps:
    /// its guests' memberships and nicks. The sink ends their connections,
    /// which would otherwise go on without either.
    fn taken_for_dead(&self) {}
}

/// The most messages one [`Missed`] query returns: a catch-up asks page
/// after page until one is shorter.
pub(crate) const CATCH_UP_PAGE: usize = 1000;

/// What a [`ChangeSink`] can ask after an interruption of the changes.
pub(crate) trait Missed {
    /// The messages of a room or conversation with ids above `after`,
    /// oldest first, at most [`CATCH_UP_PAGE`]. Within one place ids are
    /// committed in order, so nothing below the last one handed out can
    /// still arrive.
    fn messages_after(&self, place: PlaceKey, after: i64) -> Result<Vec<Message>, StoreError>;
    /// The direct messages of `user_id` (sent or received) with ids above
    /// `after`, in conversations other than `except`, oldest first, at most
    /// [`CATCH_UP_PAGE`], with where each is: conversations this server has
    /// heard nothing of are caught up from the user's subscription on, the
    /// others through [`Missed::messages_after`] (ids are not committed in
    /// order across conversations).
    fn direct_messages_after(
        &self,
        user_id: i64,
        after: i64,
        except: &[i64],
    ) -> Result<Vec<(PlaceKey, Message)>, StoreError>;
    /// Whether a resume token still exists (it may have been revoked).
    fn token_exists(&self, hash: &TokenHash) -> Result<bool, StoreError>;
    /// Whether a user is still a member of a room (they may have left).
    fn is_member(&self, room_id: i64, user_id: i64) -> Result<bool, StoreError>;
}

/// The queries the core may run, on any connection.
pub trait Reads {
    /// The account registered under `username`, compared without regard to
    /// case; never a guest.
    fn find_credentials(&self, username: &str) -> Result<Option<Credentials>, StoreError>;
    /// The account registered under `username`, compared without regard to
    /// case; never a guest.
    fn find_user(&self, username: &str) -> Result<Option<User>, StoreError>;
    /// The rooms a user is a member of, sorted without regard to case.
    fn rooms_of(&self, user_id: i64) -> Result<Vec<Room>, StoreError>;
    /// The id of the newest message of `place` sent before `at` (RFC 3339),
    /// or at `at` too when `inclusive`; 0 when there is none. For history
    /// asked by time.
    fn last_id_before(&self, place: &Place, at: &str, inclusive: bool) -> Result<i64, StoreError>;
    /// When the newest message of `place` that `user` has read was sent
    /// (IRC's read marker is a time; ours is an id); `None` when they have
    /// read none, or are no member.
    fn read_time(&self, place: &Place, user: &User) -> Result<Option<String>, StoreError>;
    /// The rooms `user` is a member of and the conversations they have
    /// (as `@name`) whose newest message was sent strictly between `after`
    /// and `before`, with that message's time, oldest first, at most `limit`.
    fn recent_places(
        &self,
        user: &User,
        after: &str,
        before: &str,
        limit: u32,
    ) -> Result<Vec<(String, String)>, StoreError>;
    /// The chatroom called `name`, compared without regard to case.
    fn find_room(&self, name: &str) -> Result<Option<Room>, StoreError>;
    /// The chatroom called `name`, with whether `user_id` is a member of
    /// it: one query where every message sent would otherwise take two.
    fn find_room_with_member(
        &self,
        name: &str,
        user_id: i64,
    ) -> Result<Option<(Room, bool)>, StoreError>;
    /// Every chatroom's name, sorted without regard to case.
    fn room_names(&self) -> Result<Vec<String>, StoreError>;
    /// The usernames of a room's members, sorted without regard to case.
    fn member_names(&self, room_id: i64) -> Result<Vec<String>, StoreError>;
    fn is_member(&self, room_id: i64, user_id: i64) -> Result<bool, StoreError>;
    /// The conversation of two users, if they have one.
    fn find_conversation(&self, a: &User, b: &User) -> Result<Option<Conversation>, StoreError>;
    /// A page of a room's or conversation's messages, oldest first.
    fn messages(&self, place: &Place, page: Page) -> Result<Vec<Message>, StoreError>;
    /// The message with this id, wherever it is.
    fn find_message(&self, id: i64) -> Result<Option<StoredMessage>, StoreError>;
    /// Owner, counts, topic and retention of a room.
    fn room_info(&self, room: &Room) -> Result<RoomInfo, StoreError>;
    /// Who set the room's topic and when, while it has one set since
    /// schema 7.
    fn topic_setter(&self, room: &Room) -> Result<Option<TopicSetter>, StoreError>;
    /// The user's read position and unread count in each of their rooms and
    /// conversations: rooms first, then conversations (as `@name`), each
    /// sorted without regard to case.
    fn unread(&self, user: &User) -> Result<Vec<UnreadEntry>, StoreError>;
    /// Up to `limit` messages matching `query`, newest first, from the rooms
    /// `user` is a member of and their conversations, or only from `within`.
    fn search(
        &self,
        user: &User,
        query: &SearchQuery,
        within: Option<&Place>,
        limit: u32,
    ) -> Result<Vec<Message>, StoreError>;
    /// The resume token with this hash.
    fn find_token(&self, hash: &TokenHash) -> Result<Option<StoredToken>, StoreError>;
    /// Rooms whose messages expire, with their retention in days.
    fn rooms_with_retention(&self) -> Result<Vec<(Room, u32)>, StoreError>;
    /// The id of a room's newest message (0: none).
    fn room_last_message_id(&self, room_id: i64) -> Result<i64, StoreError>;
    /// The id of the newest direct message a user sent or received (0: none).
    fn direct_last_message_id(&self, user_id: i64) -> Result<i64, StoreError>;
    /// Reads one row of the schema: whether the database answers (`/health`).
    fn ping(&self) -> Result<(), StoreError>;
}

/// The changes the core may make, inside a write's transaction. Each records
/// its `Change`s as it goes. Times are the store's clock.
pub trait Writes: Reads {
    /// Adds a guest (IRC, `--irc-guests`): a user row of its own for this
    /// guest session, with no password, never found as an account. `None`
    /// when a guest connected to another server sharing the database holds
    /// the nick (PostgreSQL; one server holds its own guests' nicks itself).
    fn insert_guest(&self, nick: &str) -> Result<Option<User>, StoreError>;
    /// Gives a guest another nick (its earlier messages show the new one);
    /// `false` when a guest of another server holds it, as above.
    fn rename_guest(&self, guest: &User, nick: &str) -> Result<bool, StoreError>;
    /// The guest has left: its nick is free for the next one (PostgreSQL;
    /// nothing to do where one server holds the nicks).
    fn release_guest(&self, guest: &User) -> Result<(), StoreError>;
    /// Ends every guest's memberships, without events: at start-up, after a
    /// stop that left guests in rooms. Returns how many ended.
    fn delete_guest_memberships(&self) -> Result<u32, StoreError>;
    /// Adds a user; `None` when the name is taken (in any case).
    fn insert_user(&self, username: &str, password_hash: &str) -> Result<Option<User>, StoreError>;
    /// Adds a chatroom; `None` when the name is taken (in any case).
    fn insert_room(&self, name: &str, created_by: i64) -> Result<Option<Room>, StoreError>;
    /// Makes a user a member; `false` when they already were.
    fn insert_membership(&self, room: &Room, user: &User) -> Result<bool, StoreError>;
    /// Ends a membership; `false` when there was none.
    fn delete_membership(&self, room: &Room, user: &User) -> Result<bool, StoreError>;
    /// The conversation of two users, created when they have none.
    fn conversation(&self, a: &User, b: &User) -> Result<Conversation, StoreError>;
    /// Stores a message, moves its author's read position to it and returns
    /// it with its new id.
    fn insert_message(
        &self,
        place: &Place,
        author: &User,
        text: &str,
    ) -> Result<Message, StoreError>;
    /// Replaces a message's text and stamps `edited_at`; `None` when the
    /// message is gone (deleted by a write that committed after `stored`
    /// was read: PostgreSQL runs writers side by side).
    fn update_message_text(
        &self,
        stored: &StoredMessage,
        text: &str,
    ) -> Result<Option<Message>, StoreError>;
    /// Deletes a message: its text is gone from every table and index.
    /// `false` when it was gone already (as for an edit).
    fn delete_message(&self, stored: &StoredMessage) -> Result<bool, StoreError>;
    /// Moves `user`'s read position in `place` forward to `id` (never past
    /// the newest message, never back) and returns it; records
    /// `Change::ReadMoved` when it moved.
    fn mark_read(&self, place: &Place, user: &User, id: i64) -> Result<i64, StoreError>;
    fn set_topic(&self, room: &Room, user: &User, topic: &str) -> Result<(), StoreError>;
    fn set_retention(&self, room: &Room, days: u32) -> Result<(), StoreError>;
    /// Deletes up to `limit` of the room's oldest messages sent before
    /// `before` (RFC 3339), without events; returns how many.
    fn delete_expired_messages(
        &self,
        room: &Room,
        before: &str,
        limit: u32,
    ) -> Result<u32, StoreError>;
    /// Stores a resume token for the user of `credentials`, as long as their
    /// password hash is still the one in `credentials` (the one a login was
    /// just checked against); `false`, and nothing stored, once it changed.
    /// The check and the insert are one step, ordered with any password
    /// change: a login racing a change either gets its token revoked by it
    /// or gets none.
    fn insert_token(&self, credentials: &Credentials, hash: &TokenHash)
    -> Result<bool, StoreError>;
    /// Marks a token used now.
    /// `false` when it is gone (revoked since it was found).
    fn touch_token(&self, id: i64) -> Result<bool, StoreError>;
    /// Revokes one token; `false` if there was none.
    fn delete_token(&self, hash: &TokenHash) -> Result<bool, StoreError>;
    /// Deletes tokens unused since `before` (RFC 3339); returns how many.
    fn delete_tokens_unused_since(&self, before: &str) -> Result<u32, StoreError>;
    /// Sets a new password hash and revokes every token of the user but
    /// `keep` (every one without).
    fn replace_password(
        &self,
        user: &User,
        password_hash: &str,
        keep: Option<&TokenHash>,
    ) -> Result<(), StoreError>;
}

/// Where the database is: a SQLite file, or a PostgreSQL server that
/// several pipechat servers may share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Sqlite(PathBuf),
    /// A `postgres://` or `postgresql://` URL.
    Postgres(String),
}

impl Location {
    /// A URL selects PostgreSQL; anything else is a SQLite file's path.
    pub fn parse(text: &str) -> Location {
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            Location::Postgres(text.to_string())
        } else {
            Location::Sqlite(PathBuf::from(text))
        }
    }
}

impl std::fmt::Display for Location {
    /// The path, or the URL without its password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::Sqlite(path) => write!(f, "{}", path.display()),
            Location::Postgres(url) => f.write_str(&postgres::redacted(url)),
        }
    }
}

/// The database: cheap to clone and share between threads.
#[derive(Clone)]
pub(crate) struct Store {
    engine: Arc<Engine>,
}

enum Engine {
    Sqlite(sqlite::SqliteStore),
    Postgres(postgres::PgStore),
}

impl Store {
    /// Opens (creating or migrating when needed) the pipechat database at
    /// `location`.
    ///
    /// # Errors
    ///
    /// [`StoreError::NotPipechat`] for a file that is not a SQLite database or
    /// holds someone else's tables, [`StoreError::NewerSchema`] for a database
    /// written by a newer pipechat (in both cases nothing is modified), or
    /// one that cannot be reached.
    pub(crate) fn open(location: &Location, options: &StoreOptions) -> Result<Store, StoreError> {
        let engine = match location {
            Location::Sqlite(path) => Engine::Sqlite(sqlite::SqliteStore::open(path, options)?),
            Location::Postgres(url) => Engine::Postgres(postgres::PgStore::open(url, options)?),
        };
        Ok(Store {
            engine: Arc::new(engine),
        })
    }

    /// Sends every later commit's changes to `sink`, in commit order. Until a
    /// sink is attached changes are dropped (nobody can be listening yet).
    pub(crate) fn attach(&self, sink: Arc<dyn ChangeSink>) {
        match &*self.engine {
            Engine::Sqlite(engine) => engine.attach(sink),
            Engine::Postgres(engine) => engine.attach(sink),
        }
    }

    /// Runs read-only queries on a pooled connection.
    ///
    /// # Errors
    ///
    /// [`StoreError::Pool`] when no connection frees up in time, or a query's
    /// failure.
    pub(crate) fn read<T, E: From<StoreError>>(
        &self,
        work: impl FnOnce(&dyn Reads) -> Result<T, E>,
    ) -> Result<T, E> {
        match &*self.engine {
            Engine::Sqlite(engine) => engine.read(work),
            Engine::Postgres(engine) => engine.read(work),
        }
    }

    /// Runs `work` in a write transaction and waits for its commit. When
    /// `work` fails, its changes are rolled back alone.
    ///
    /// # Errors
    ///
    /// `work`'s own error, or [`StoreError`] when the transaction could not be
    /// committed (e.g. [`StoreError::Busy`]) or the store is closed.
    pub(crate) fn write<T, E>(
        &self,
        work: impl FnOnce(&dyn Writes) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        match &*self.engine {
            Engine::Sqlite(engine) => engine.write(work),
            Engine::Postgres(engine) => engine.write(work),
        }
    }

    /// [`Store::write`] without waiting: `work`'s outcome goes to `then`
    /// once its transaction's fate is known, on whichever thread committed
    /// it. On SQLite a request that joins a group commit thus costs its
    /// thread no wake-up; on PostgreSQL `then` runs before this returns.
    pub(crate) fn write_then<T, E>(
        &self,
        work: impl FnOnce(&dyn Writes) -> Result<T, E> + Send + 'static,
        then: impl FnOnce(Result<T, E>) + Send + 'static,
    ) where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        match &*self.engine {
            Engine::Sqlite(engine) => engine.write_then(work, then),
            Engine::Postgres(engine) => then(engine.write(work)),
        }
    }

    /// Users logged in on other servers sharing this database (PostgreSQL);
    /// none for SQLite, which one server owns.
    ///
    /// # Errors
    ///
    /// Only the database's.
    pub(crate) fn active_elsewhere(&self) -> Result<Vec<String>, StoreError> {
        match &*self.engine {
            Engine::Sqlite(_) => Ok(Vec::new()),
            Engine::Postgres(engine) => engine.active_elsewhere(),
        }
    }

    /// Records that `user` is logged in on this server now (`true`) or no
    /// longer (`false`), for the other servers sharing the database.
    pub(crate) fn set_present(&self, user: &User, present: bool) {
        if let Engine::Postgres(engine) = &*self.engine {
            engine.set_present(user, present);
        }
    }

    /// The login throttle's shared memory of failures, when servers share the
    /// database; `None` keeps failures in this process.
    pub(crate) fn shared_failures(&self) -> Option<&dyn FailureLog> {
        match &*self.engine {
            Engine::Sqlite(_) => None,
            Engine::Postgres(engine) => Some(engine),
        }
    }

    /// Commits what is queued, refuses later writes, and leaves the database
    /// consistent (SQLite: the WAL folded back; PostgreSQL: this server's
    /// presence removed).
    pub(crate) fn close(&self) {
        match &*self.engine {
            Engine::Sqlite(engine) => engine.close(),
            Engine::Postgres(engine) => engine.close(),
        }
    }
}

/// Failed logins remembered where every server sharing the database sees
/// them, so that the throttle holds across servers.
pub(crate) trait FailureLog: Send + Sync {
    /// Records one failure against each key.
    fn record_failure(&self, keys: &[String]) -> Result<(), StoreError>;
    /// How long ago each failure against `key` in the last `window` was,
    /// oldest first, by the database's clock: the servers' clocks may
    /// disagree with it and with each other.
    fn failure_ages(&self, key: &str, window: Duration) -> Result<Vec<Duration>, StoreError>;
}

/// Copies the database at `db` to the new file `out`, or to a new file named
/// after `db` and the UTC time inside `out` when that is a folder
/// (`chat-2026-11-24T031512Z.db`), while servers may be writing to it: the
/// copy holds every commit made before it began.
///
/// # Errors
///
/// A source that is not a pipechat database, an `out` that is a file that
/// exists (never overwritten), or a failed copy (nothing is left then).
pub fn backup(db: &Path, out: &Path) -> Result<BackupCopy, StoreError> {
    sqlite::backup(db, out)
}

/// What [`backup`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupCopy {
    /// The copy: `out`, or the file made inside it.
    pub path: PathBuf,
    /// Its size in SQLite pages.
    pub pages: u64,
}

pub use crate::wire::now_timestamp;
