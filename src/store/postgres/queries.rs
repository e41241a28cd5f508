//! Every statement behind the PostgreSQL store's [`Reads`] and [`Writes`],
//! as those of one connection (what nodes share of the chat's live state is
//! in `presence.rs`, the schema in `migrate.rs`): the same surface and counters as the SQLite
//! engine's queries (see there), in PostgreSQL's dialect. Names are ordered
//! `COLLATE "C"`, by code point as SQLite orders them, whatever locale the
//! database was created with (`en_US` would put `éa` before `eb`).

use std::cell::RefCell;

use ::postgres::types::ToSql;
use ::postgres::{Client, Row, Statement, Transaction};

use super::CHANNEL;
use super::listener::Notice;
use super::pool::{PgConn, Statements};
use crate::store::{
    CATCH_UP_PAGE, Change, Conversation, Credentials, MessageColumns, Page, PageStatements, Place,
    PlaceKey, Reads, Room, SearchQuery, SearchTerm, StoreError, StoredMessage, StoredToken,
    TokenHash, TopicSetter, UnreadEntry, User, Writes, deleted, edited, expired_ids, membership,
    new_message, new_topic_setter, now_timestamp, ordered, room_key, stored_topic_setter,
    topic_change,
};
use crate::wire::{Message, RoomInfo, Unread};

/// Stores a message in one statement, one round trip while its room (or
/// conversation) is locked: the place's row is updated first, which locks it
/// until the commit, and the message's id is taken from the sequence under
/// that lock, so ids in a place are handed out, and committed, in one order
/// (see the module doc). Sending also moves the author's read position to
/// the message. `$1` place, `$2` author, `$3` text, `$4` sent at; returns
/// the id.
macro_rules! insert_message_sql {
    ($place:literal, $members:literal, $column:literal) => {
        concat!(
            "WITH taken AS (
                 UPDATE ",
            $place,
            " SET message_count = message_count + 1,
                        last_message_id = nextval('messages_id_seq')
                 WHERE id = $1 RETURNING message_count, last_message_id
             ), stored AS (
                 INSERT INTO messages (id, ",
            $column,
            ", user_id, text, sent_at)
                 SELECT last_message_id, $1, $2, $3, $4 FROM taken
                 RETURNING id
             ), read AS (
                 UPDATE ",
            $members,
            " SET last_read_id = taken.last_message_id,
                        read_count = taken.message_count
                 FROM taken WHERE ",
            $column,
            " = $1 AND user_id = $2
             )
             SELECT stored.id FROM stored"
        )
    };
}

type Params<'p> = &'p [&'p (dyn ToSql + Sync)];

/// The first key of the advisory locks that hold a user name while an
/// account or a guest takes it ([`PgTx::lock_name`]); its own key space, apart
/// from the migration's single-key lock.
const NAME_LOCKS: i32 = 0x7063_6e6d;

enum Conn<'a> {
    /// Reads, each statement on its own.
    Plain(&'a mut Client),
    /// A write's transaction.
    Tx(Transaction<'a>),
}

/// One connection seen through the store's surface.
pub(crate) struct PgTx<'a> {
    conn: RefCell<Conn<'a>>,
    statements: RefCell<&'a mut Statements>,
    changes: RefCell<Vec<Change>>,
    /// The node writing (guests' nicks are held in its name); `None` for
    /// reads.
    node: Option<&'a str>,
}

impl<'a> PgTx<'a> {
    pub(crate) fn reading(conn: &'a mut PgConn) -> PgTx<'a> {
        let (client, statements) = conn.split();
        PgTx {
            conn: RefCell::new(Conn::Plain(client)),
            statements: RefCell::new(statements),
            changes: RefCell::default(),
            node: None,
        }
    }

    pub(super) fn writing(
        tx: Transaction<'a>,
        statements: &'a mut Statements,
        node: &'a str,
    ) -> PgTx<'a> {
        PgTx {
            conn: RefCell::new(Conn::Tx(tx)),
            statements: RefCell::new(statements),
            changes: RefCell::default(),
            node: Some(node),
        }
    }

    fn node(&self) -> Result<&'a str, StoreError> {
        self.node
            .ok_or_else(|| StoreError::Batch("a write outside a node's transaction".to_string()))
    }

    /// `sql` prepared on this connection, once (see `pool`).
    fn prepared(&self, sql: &str) -> Result<Statement, StoreError> {
        if let Some(statement) = self.statements.borrow().get(sql) {
            return Ok(statement.clone());
        }
        let statement = match &mut *self.conn.borrow_mut() {
            Conn::Plain(client) => client.prepare(sql)?,
            Conn::Tx(tx) => tx.prepare(sql)?,
        };
        self.statements
            .borrow_mut()
            .insert(sql.to_string(), statement.clone());
        Ok(statement)
    }

    /// Sends the recorded changes (delivered once the transaction commits),
    /// followed by `marker` when there were any, and commits. Returns
    /// whether changes were sent.
    pub(super) fn commit(self, marker: &Notice) -> Result<bool, StoreError> {
        let notify = if self.changes.borrow().is_empty() {
            None
        } else {
            Some(self.prepared(
                "SELECT pg_notify($1, payload)
                 FROM unnest($2::text[]) WITH ORDINALITY AS sent (payload, position)
                 ORDER BY position",
            )?)
        };
        let changes = self.changes.into_inner();
        let Conn::Tx(mut tx) = self.conn.into_inner() else {
            return Ok(false);
        };
        if let Some(notify) = notify {
            let mut payloads = changes
                .iter()
                .map(Notice::payload)
                .collect::<Result<Vec<String>, StoreError>>()?;
            payloads.push(
                serde_json::to_string(marker).map_err(|err| StoreError::Batch(err.to_string()))?,
            );
            // One round trip for all of them, in order: the room stays
            // locked until the commit, so every step here is a wait for
            // the next sender to that room.
            tx.execute(&notify, &[&CHANNEL, &payloads])?;
        }
        tx.commit()?;
        Ok(!changes.is_empty())
    }

    fn record(&self, change: Change) {
        self.changes.borrow_mut().push(change);
    }

    fn query(&self, sql: &str, params: Params<'_>) -> Result<Vec<Row>, StoreError> {
        let statement = self.prepared(sql)?;
        Ok(match &mut *self.conn.borrow_mut() {
            Conn::Plain(client) => client.query(&statement, params)?,
            Conn::Tx(tx) => tx.query(&statement, params)?,
        })
    }

    fn query_opt(&self, sql: &str, params: Params<'_>) -> Result<Option<Row>, StoreError> {
        let statement = self.prepared(sql)?;
        Ok(match &mut *self.conn.borrow_mut() {
            Conn::Plain(client) => client.query_opt(&statement, params)?,
            Conn::Tx(tx) => tx.query_opt(&statement, params)?,
        })
    }

    fn query_one(&self, sql: &str, params: Params<'_>) -> Result<Row, StoreError> {
        let statement = self.prepared(sql)?;
        Ok(match &mut *self.conn.borrow_mut() {
            Conn::Plain(client) => client.query_one(&statement, params)?,
            Conn::Tx(tx) => tx.query_one(&statement, params)?,
        })
    }

    fn execute(&self, sql: &str, params: Params<'_>) -> Result<u64, StoreError> {
        let statement = self.prepared(sql)?;
        Ok(match &mut *self.conn.borrow_mut() {
            Conn::Plain(client) => client.execute(&statement, params)?,
            Conn::Tx(tx) => tx.execute(&statement, params)?,
        })
    }

    fn messages_of(&self, sql: &str, params: Params<'_>) -> Result<Vec<Message>, StoreError> {
        self.query(sql, params)?
            .iter()
            .map(|row| stored_message_from_row(row).map(|stored| stored.message))
            .collect()
    }

    /// A room's or conversation's messages after an id, for catching up; at
    /// most [`CATCH_UP_PAGE`].
    pub(super) fn messages_after(
        &self,
        place: PlaceKey,
        after: i64,
    ) -> Result<Vec<Message>, StoreError> {
        let (sql, id) = match place {
            PlaceKey::Room(room_id) => (
                message_select!("WHERE m.room_id = $1 AND m.id > $2 ORDER BY m.id LIMIT $3"),
                room_id,
            ),
            PlaceKey::Direct { conversation, .. } => (
                message_select!(
                    "WHERE m.conversation_id = $1 AND m.id > $2 ORDER BY m.id LIMIT $3"
                ),
                conversation,
            ),
        };
        self.messages_of(sql, &[&id, &after, &(CATCH_UP_PAGE as i64)])
    }

    /// A user's direct messages after an id outside some conversations, for
    /// catching up; at most [`CATCH_UP_PAGE`].
    pub(super) fn direct_messages_after(
        &self,
        user_id: i64,
        after: i64,
        except: &[i64],
    ) -> Result<Vec<(PlaceKey, Message)>, StoreError> {
        self.query(
            message_select!(
                "WHERE m.conversation_id IN
                   (SELECT conversation_id FROM conversation_members WHERE user_id = $1)
                 AND m.conversation_id <> ALL($4)
                 AND m.id > $2 ORDER BY m.id LIMIT $3"
            ),
            &[&user_id, &after, &(CATCH_UP_PAGE as i64), &except],
        )?
        .iter()
        .map(|row| stored_message_from_row(row).map(|stored| (stored.place, stored.message)))
        .collect()
    }

    /// Holds `name` (without regard to case) until the commit, against the
    /// other writes that give it to an account or a connected guest: each
    /// looks for the other kind after taking this, in a statement of its
    /// own, which (at READ COMMITTED) sees what the one before committed.
    /// No unique index spans both kinds: account names may repeat the
    /// nicks of guests who have left.
    fn lock_name(&self, name: &str) -> Result<(), StoreError> {
        self.query_one(
            "SELECT pg_advisory_xact_lock($1, hashtext(lower($2)))",
            &[&NAME_LOCKS, &name],
        )?;
        Ok(())
    }

    /// Locks the row of a room or conversation until the commit. Every write
    /// that changes its counters takes this lock first (a message's insert
    /// by updating the row), so they run one after the other, and each
    /// statement after it (a new snapshot, at READ COMMITTED) sees what the
    /// one before committed: a deletion's newest id cannot miss a message
    /// sent meanwhile, nor a read position count one being deleted.
    fn lock_place(&self, place: PlaceKey) -> Result<(), StoreError> {
        let (sql, id) = match place {
            PlaceKey::Room(room_id) => {
                ("SELECT id FROM chatrooms WHERE id = $1 FOR UPDATE", room_id)
            }
            PlaceKey::Direct { conversation, .. } => (
                "SELECT id FROM conversations WHERE id = $1 FOR UPDATE",
                conversation,
            ),
        };
        self.query_opt(sql, &[&id])?;
        Ok(())
    }

    /// Counters after `ids` (ascending) were deleted from `place`, whose row
    /// the caller has locked ([`Self::lock_place`]); see the SQLite engine's
    /// `forget_messages`.
    fn forget_messages(&self, place: PlaceKey, ids: &[i64]) -> Result<(), StoreError> {
        let (Some(&first), count) = (ids.first(), ids.len() as i64) else {
            return Ok(());
        };
        let (counters, members, id) = match place {
            PlaceKey::Room(room_id) => (
                "UPDATE chatrooms
                 SET message_count = message_count - $2,
                     last_message_id = coalesce(
                         (SELECT max(id) FROM messages WHERE room_id = $1), 0)
                 WHERE id = $1",
                "UPDATE room_members
                 SET read_count = read_count
                     - (SELECT count(*) FROM unnest($2::bigint[]) AS d (id)
                        WHERE d.id <= room_members.last_read_id)
                 WHERE room_id = $1 AND last_read_id >= $3",
                room_id,
            ),
            PlaceKey::Direct { conversation, .. } => (
                "UPDATE conversations
                 SET message_count = message_count - $2,
                     last_message_id = coalesce(
                         (SELECT max(id) FROM messages WHERE conversation_id = $1), 0)
                 WHERE id = $1",
                "UPDATE conversation_members
                 SET read_count = read_count
                     - (SELECT count(*) FROM unnest($2::bigint[]) AS d (id)
                        WHERE d.id <= conversation_members.last_read_id)
                 WHERE conversation_id = $1 AND last_read_id >= $3",
                conversation,
            ),
        };
        self.execute(counters, &[&id, &count])?;
        self.execute(members, &[&id, &ids, &first])?;
        Ok(())
    }
}

impl Reads for PgTx<'_> {
    fn find_credentials(&self, username: &str) -> Result<Option<Credentials>, StoreError> {
        self.query_opt(
            "SELECT id, username, guest, password_hash FROM users
             WHERE lower(username) = lower($1) AND NOT guest",
            &[&username],
        )?
        .map(|row| {
            Ok(Credentials {
                user: user_from_row(&row)?,
                password_hash: row.try_get("password_hash")?,
            })
        })
        .transpose()
    }

    fn find_user(&self, username: &str) -> Result<Option<User>, StoreError> {
        self.query_opt(
            "SELECT id, username, guest FROM users WHERE lower(username) = lower($1) AND NOT guest",
            &[&username],
        )?
        .map(|row| user_from_row(&row))
        .transpose()
    }

    fn rooms_of(&self, user_id: i64) -> Result<Vec<Room>, StoreError> {
        self.query(
            "SELECT c.id, c.name, c.created_by FROM room_members m
             JOIN chatrooms c ON c.id = m.room_id
             WHERE m.user_id = $1 ORDER BY c.name_key COLLATE \"C\", c.id",
            &[&user_id],
        )?
        .iter()
        .map(room_from_row)
        .collect()
    }

    fn last_id_before(&self, place: &Place, at: &str, inclusive: bool) -> Result<i64, StoreError> {
        let sql = match (place, inclusive) {
            (Place::Room(_), false) => {
                "SELECT id FROM messages WHERE room_id = $1 AND sent_at < $2
                 ORDER BY id DESC LIMIT 1"
            }
            (Place::Room(_), true) => {
                "SELECT id FROM messages WHERE room_id = $1 AND sent_at <= $2
                 ORDER BY id DESC LIMIT 1"
            }
            (Place::Direct(_), false) => {
                "SELECT id FROM messages WHERE conversation_id = $1 AND sent_at < $2
                 ORDER BY id DESC LIMIT 1"
            }
            (Place::Direct(_), true) => {
                "SELECT id FROM messages WHERE conversation_id = $1 AND sent_at <= $2
                 ORDER BY id DESC LIMIT 1"
            }
        };
        let id = place.id();
        self.query_opt(sql, &[&id, &at])?
            .map(|row| Ok(row.try_get(0)?))
            .transpose()
            .map(Option::unwrap_or_default)
    }

    fn read_time(&self, place: &Place, user: &User) -> Result<Option<String>, StoreError> {
        let sql = match place {
            Place::Room(_) => {
                "SELECT sent_at FROM messages
                 WHERE room_id = $1 AND id <= (SELECT last_read_id FROM room_members
                                              WHERE room_id = $1 AND user_id = $2)
                 ORDER BY id DESC LIMIT 1"
            }
            Place::Direct(_) => {
                "SELECT sent_at FROM messages
                 WHERE conversation_id = $1
                   AND id <= (SELECT last_read_id FROM conversation_members
                              WHERE conversation_id = $1 AND user_id = $2)
                 ORDER BY id DESC LIMIT 1"
            }
        };
        self.query_opt(sql, &[&place.id(), &user.id])?
            .map(|row| Ok(row.try_get(0)?))
            .transpose()
    }

    fn recent_places(
        &self,
        user: &User,
        after: &str,
        before: &str,
        limit: u32,
    ) -> Result<Vec<(String, String)>, StoreError> {
        self.query(
            "SELECT name, sent_at FROM (
                 SELECT c.name AS name, m.sent_at AS sent_at
                 FROM room_members r
                 JOIN chatrooms c ON c.id = r.room_id
                 JOIN messages m ON m.id = c.last_message_id
                 WHERE r.user_id = $1
                 UNION ALL
                 SELECT '@' || o.username AS name, m.sent_at AS sent_at
                 FROM conversation_members k
                 JOIN conversations v ON v.id = k.conversation_id
                 JOIN messages m ON m.id = v.last_message_id
                 JOIN users o
                   ON o.id = CASE WHEN v.user_low = $1 THEN v.user_high ELSE v.user_low END
                 WHERE k.user_id = $1) AS places
             WHERE sent_at > $2 AND sent_at < $3
             ORDER BY sent_at COLLATE \"C\", name COLLATE \"C\" LIMIT $4",
            &[&user.id, &after, &before, &i64::from(limit)],
        )?
        .iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .collect()
    }

    fn find_room(&self, name: &str) -> Result<Option<Room>, StoreError> {
        // PostgreSQL cannot take a NUL in a parameter; no room's name holds
        // one (names have no control characters), so there is none to find.
        if name.contains('\0') {
            return Ok(None);
        }
        self.query_opt(
            "SELECT id, name, created_by FROM chatrooms WHERE name_key = $1",
            &[&room_key(name)],
        )?
        .map(|row| room_from_row(&row))
        .transpose()
    }

    fn find_room_with_member(
        &self,
        name: &str,
        user_id: i64,
    ) -> Result<Option<(Room, bool)>, StoreError> {
        // As in `find_room`: no room's name holds a NUL.
        if name.contains('\0') {
            return Ok(None);
        }
        self.query_opt(
            "SELECT id, name, created_by,
                    EXISTS (SELECT 1 FROM room_members
                            WHERE room_id = chatrooms.id AND user_id = $2) AS member
             FROM chatrooms WHERE name_key = $1",
            &[&room_key(name), &user_id],
        )?
        .map(|row| Ok((room_from_row(&row)?, row.try_get("member")?)))
        .transpose()
    }

    fn room_names(&self) -> Result<Vec<String>, StoreError> {
        self.query(
            "SELECT name FROM chatrooms ORDER BY name_key COLLATE \"C\", id",
            &[],
        )?
        .iter()
        .map(|row| Ok(row.try_get(0)?))
        .collect()
    }

    fn member_names(&self, room_id: i64) -> Result<Vec<String>, StoreError> {
        self.query(
            "SELECT u.username FROM room_members m JOIN users u ON u.id = m.user_id
             WHERE m.room_id = $1 ORDER BY lower(u.username) COLLATE \"C\", u.id",
            &[&room_id],
        )?
        .iter()
        .map(|row| Ok(row.try_get(0)?))
        .collect()
    }

    fn is_member(&self, room_id: i64, user_id: i64) -> Result<bool, StoreError> {
        Ok(self
            .query_opt(
                "SELECT 1 FROM room_members WHERE room_id = $1 AND user_id = $2",
                &[&room_id, &user_id],
            )?
            .is_some())
    }

    fn find_conversation(&self, a: &User, b: &User) -> Result<Option<Conversation>, StoreError> {
        let (low, high) = ordered(a, b);
        self.query_opt(
            "SELECT id FROM conversations WHERE user_low = $1 AND user_high = $2",
            &[&low.id, &high.id],
        )?
        .map(|row| {
            Ok(Conversation {
                id: row.try_get(0)?,
                low: low.clone(),
                high: high.clone(),
            })
        })
        .transpose()
    }

    fn messages(&self, place: &Place, page: Page) -> Result<Vec<Message>, StoreError> {
        const PAGES: PageStatements = PageStatements {
            room_after: message_select!(
                "WHERE m.room_id = $1 AND m.id > $2 ORDER BY m.id LIMIT $3"
            ),
            room_before: message_select!(
                "WHERE m.room_id = $1 AND m.id < $2 ORDER BY m.id DESC LIMIT $3"
            ),
            direct_after: message_select!(
                "WHERE m.conversation_id = $1 AND m.id > $2 ORDER BY m.id LIMIT $3"
            ),
            direct_before: message_select!(
                "WHERE m.conversation_id = $1 AND m.id < $2 ORDER BY m.id DESC LIMIT $3"
            ),
        };
        let (sql, [id, cursor, limit], newest_first) = PAGES.pick(place, page);
        let mut messages = self.messages_of(sql, &[&id, &cursor, &limit])?;
        if newest_first {
            messages.reverse();
        }
        Ok(messages)
    }

    fn find_message(&self, id: i64) -> Result<Option<StoredMessage>, StoreError> {
        self.query_opt(message_select!("WHERE m.id = $1"), &[&id])?
            .map(|row| stored_message_from_row(&row))
            .transpose()
    }

    fn room_info(&self, room: &Room) -> Result<RoomInfo, StoreError> {
        let row = self.query_one(
            "SELECT c.name, coalesce(u.username, '') AS owner, c.created_at,
                    (SELECT count(*) FROM room_members WHERE room_id = c.id) AS members,
                    c.message_count, c.retention_days, c.topic
             FROM chatrooms c LEFT JOIN users u ON u.id = c.created_by
             WHERE c.id = $1",
            &[&room.id],
        )?;
        Ok(RoomInfo {
            name: row.try_get("name")?,
            owner: row.try_get("owner")?,
            created_at: row.try_get("created_at")?,
            members: row.try_get("members")?,
            messages: row.try_get("message_count")?,
            retention_days: i64::from(row.try_get::<_, i32>("retention_days")?),
            topic: row.try_get("topic")?,
        })
    }

    fn topic_setter(&self, room: &Room) -> Result<Option<TopicSetter>, StoreError> {
        let row = self.query_one(
            "SELECT topic_set_by, topic_set_at FROM chatrooms WHERE id = $1",
            &[&room.id],
        )?;
        Ok(stored_topic_setter(row.try_get(0)?, row.try_get(1)?))
    }

    fn unread(&self, user: &User) -> Result<Vec<UnreadEntry>, StoreError> {
        let rooms = self.query(
            "SELECT c.name AS room, c.message_count - m.read_count AS unread,
                    m.last_read_id, c.last_message_id AS last_id, NULL::BIGINT AS guest_id
             FROM room_members m JOIN chatrooms c ON c.id = m.room_id
             WHERE m.user_id = $1
             ORDER BY c.name_key COLLATE \"C\", c.id",
            &[&user.id],
        )?;
        let conversations = self.query(
            "SELECT '@' || o.username AS room, v.message_count - m.read_count AS unread,
                    m.last_read_id, v.last_message_id AS last_id,
                    CASE WHEN o.guest THEN o.id END AS guest_id
             FROM conversation_members m
             JOIN conversations v ON v.id = m.conversation_id
             JOIN users o
               ON o.id = CASE WHEN v.user_low = $1 THEN v.user_high ELSE v.user_low END
             WHERE m.user_id = $1 AND v.message_count > 0
             ORDER BY lower(o.username) COLLATE \"C\", o.id",
            &[&user.id],
        )?;
        rooms
            .iter()
            .chain(conversations.iter())
            .map(unread_from_row)
            .collect()
    }

    fn search(
        &self,
        user: &User,
        query: &SearchQuery,
        within: Option<&Place>,
        limit: u32,
    ) -> Result<Vec<Message>, StoreError> {
        macro_rules! search_select {
            ($filter:literal) => {
                message_select!(
                    "WHERE m.words @@ to_tsquery('simple', $1) AND ",
                    $filter,
                    " ORDER BY m.id DESC LIMIT $3"
                )
            };
        }
        const EVERYWHERE: &str = search_select!(
            "(m.room_id IN (SELECT room_id FROM room_members WHERE user_id = $2)
              OR m.conversation_id IN
                 (SELECT conversation_id FROM conversation_members WHERE user_id = $2))"
        );
        const IN_ROOM: &str = search_select!("m.room_id = $2");
        const IN_CONVERSATION: &str = search_select!("m.conversation_id = $2");
        // Each word made as the stored text is (`pipechat_search_text`:
        // migration 0003), so that both split and fold it alike.
        let words: Vec<&str> = query.terms.iter().flat_map(SearchTerm::words).collect();
        let made: Vec<String> = self
            .query(
                "SELECT pipechat_search_text(word) FROM unnest($1::text[]) WITH ORDINALITY
                 AS words (word, n) ORDER BY n",
                &[&words],
            )?
            .iter()
            .map(|row| row.try_get(0))
            .collect::<Result<_, _>>()?;
        let Some(tsquery) = tsquery(query, &made) else {
            // A word with nothing left to look for matches nothing.
            return Ok(Vec::new());
        };
        let limit = i64::from(limit);
        match within {
            None => self.messages_of(EVERYWHERE, &[&tsquery, &user.id, &limit]),
            Some(Place::Room(room)) => self.messages_of(IN_ROOM, &[&tsquery, &room.id, &limit]),
            Some(Place::Direct(conversation)) => {
                self.messages_of(IN_CONVERSATION, &[&tsquery, &conversation.id, &limit])
            }
        }
    }

    fn find_token(&self, hash: &TokenHash) -> Result<Option<StoredToken>, StoreError> {
        self.query_opt(
            "SELECT t.id AS token_id, u.id, u.username, u.guest, t.last_used_at
             FROM resume_tokens t JOIN users u ON u.id = t.user_id
             WHERE t.token_hash = $1",
            &[&&hash[..]],
        )?
        .map(|row| {
            Ok(StoredToken {
                id: row.try_get("token_id")?,
                user: user_from_row(&row)?,
                last_used_at: row.try_get("last_used_at")?,
            })
        })
        .transpose()
    }

    fn rooms_with_retention(&self) -> Result<Vec<(Room, u32)>, StoreError> {
        self.query(
            "SELECT id, name, created_by, retention_days FROM chatrooms
             WHERE retention_days > 0 ORDER BY id",
            &[],
        )?
        .iter()
        .map(|row| {
            let days: i32 = row.try_get("retention_days")?;
            Ok((room_from_row(row)?, days.unsigned_abs()))
        })
        .collect()
    }

    fn room_last_message_id(&self, room_id: i64) -> Result<i64, StoreError> {
        self.query_opt(
            "SELECT last_message_id FROM chatrooms WHERE id = $1",
            &[&room_id],
        )?
        .map(|row| Ok(row.try_get(0)?))
        .transpose()
        .map(Option::unwrap_or_default)
    }

    fn direct_last_message_id(&self, user_id: i64) -> Result<i64, StoreError> {
        Ok(self
            .query_one(
                "SELECT coalesce(max(last_message_id), 0) FROM conversations
                 WHERE user_low = $1 OR user_high = $1",
                &[&user_id],
            )?
            .try_get(0)?)
    }

    fn ping(&self) -> Result<(), StoreError> {
        self.query_one("SELECT version FROM pipechat_schema", &[])?;
        Ok(())
    }
}

impl Writes for PgTx<'_> {
    fn insert_guest(&self, nick: &str) -> Result<Option<User>, StoreError> {
        self.lock_name(nick)?;
        // The only unique index a guest's row can meet: the held nicks'.
        // An account of that name (registered on any node) refuses it too.
        self.query_opt(
            "INSERT INTO users (username, password_hash, created_at, guest, guest_node)
             SELECT $1, '', $2, TRUE, $3
             WHERE NOT EXISTS (SELECT 1 FROM users WHERE NOT guest AND lower(username) = lower($1))
             ON CONFLICT DO NOTHING RETURNING id",
            &[&nick, &now_timestamp(), &self.node()?],
        )?
        .map(|row| {
            Ok(User {
                id: row.try_get(0)?,
                username: nick.to_string(),
                guest: true,
            })
        })
        .transpose()
    }

    fn rename_guest(&self, guest: &User, nick: &str) -> Result<bool, StoreError> {
        self.lock_name(nick)?;
        let renamed = self.execute(
            "UPDATE users SET username = $2 WHERE id = $1 AND guest
             AND NOT EXISTS (SELECT 1 FROM users WHERE (guest_node IS NOT NULL OR NOT guest)
                             AND lower(username) = lower($2) AND id <> $1)",
            &[&guest.id, &nick],
        )?;
        Ok(renamed == 1)
    }

    fn release_guest(&self, guest: &User) -> Result<(), StoreError> {
        self.execute(
            "UPDATE users SET guest_node = NULL WHERE id = $1",
            &[&guest.id],
        )?;
        Ok(())
    }

    fn delete_guest_memberships(&self) -> Result<u32, StoreError> {
        let deleted = self.execute(
            "DELETE FROM room_members WHERE user_id IN (SELECT id FROM users WHERE guest)",
            &[],
        )?;
        Ok(deleted as u32)
    }

    fn insert_user(&self, username: &str, password_hash: &str) -> Result<Option<User>, StoreError> {
        self.lock_name(username)?;
        // A guest connected to any node holds its nick against accounts, as
        // a guest of this node does (the hub's reservation).
        self.query_opt(
            "INSERT INTO users (username, password_hash, created_at)
             SELECT $1, $2, $3
             WHERE NOT EXISTS (SELECT 1 FROM users
                               WHERE guest_node IS NOT NULL AND lower(username) = lower($1))
             ON CONFLICT DO NOTHING RETURNING id",
            &[&username, &password_hash, &now_timestamp()],
        )?
        .map(|row| {
            Ok(User {
                id: row.try_get(0)?,
                username: username.to_string(),
                guest: false,
            })
        })
        .transpose()
    }

    fn insert_room(&self, name: &str, created_by: i64) -> Result<Option<Room>, StoreError> {
        self.query_opt(
            "INSERT INTO chatrooms (name, name_key, created_by, created_at)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT DO NOTHING RETURNING id",
            &[&name, &room_key(name), &created_by, &now_timestamp()],
        )?
        .map(|row| {
            Ok(Room {
                id: row.try_get(0)?,
                name: name.to_string(),
                created_by,
            })
        })
        .transpose()
    }

    fn insert_membership(&self, room: &Room, user: &User) -> Result<bool, StoreError> {
        // As on SQLite: a member who left goes on from where they were. The
        // read count comes from the room's counters, so the room is locked
        // first, as a deletion locks it before changing them.
        self.lock_place(PlaceKey::Room(room.id))?;
        let inserted = self.execute(
            "INSERT INTO room_members (room_id, user_id, joined_at, last_read_id, read_count)
             SELECT $1::bigint, $2::bigint, $3::text, read_to,
                    CASE read_to WHEN 0 THEN 0 ELSE
                        (SELECT message_count FROM chatrooms WHERE id = $1)
                        - (SELECT count(*) FROM messages WHERE room_id = $1 AND id > read_to)
                    END
             FROM (SELECT coalesce((SELECT last_read_id FROM room_departures
                                    WHERE room_id = $1 AND user_id = $2), 0) AS read_to) AS left_at
             ON CONFLICT DO NOTHING",
            &[&room.id, &user.id, &now_timestamp()],
        )?;
        if inserted == 1 {
            self.execute(
                "DELETE FROM room_departures WHERE room_id = $1 AND user_id = $2",
                &[&room.id, &user.id],
            )?;
            self.record(Change::Joined {
                room_id: room.id,
                user_id: user.id,
                membership: membership(room, user),
            });
        }
        Ok(inserted == 1)
    }

    fn delete_membership(&self, room: &Room, user: &User) -> Result<bool, StoreError> {
        // The room first, as every other write to its members takes it: a
        // deletion (or the retention sweep) holds the room and then updates
        // members' read counts, a join or `mark_read` holds it and then
        // writes a member's row. Taking the member's row first and then the
        // room (the departure's reference to it) would deadlock with those,
        // and PostgreSQL would fail one of the two.
        self.lock_place(PlaceKey::Room(room.id))?;
        // A guest's session never comes back: nothing to go on from.
        let sql = if user.guest {
            "DELETE FROM room_members WHERE room_id = $1 AND user_id = $2"
        } else {
            "WITH gone AS (
                 DELETE FROM room_members WHERE room_id = $1 AND user_id = $2
                 RETURNING room_id, user_id, last_read_id)
             INSERT INTO room_departures (room_id, user_id, last_read_id)
             SELECT room_id, user_id, last_read_id FROM gone
             ON CONFLICT (room_id, user_id) DO UPDATE SET last_read_id = excluded.last_read_id"
        };
        let deleted = self.execute(sql, &[&room.id, &user.id])?;
        if deleted == 1 {
            self.record(Change::Left {
                room_id: room.id,
                user_id: user.id,
                membership: membership(room, user),
            });
        }
        Ok(deleted == 1)
    }

    fn conversation(&self, a: &User, b: &User) -> Result<Conversation, StoreError> {
        let (low, high) = ordered(a, b);
        // Two first messages racing: one inserts, the other finds it.
        self.execute(
            "INSERT INTO conversations (user_low, user_high, created_at) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
            &[&low.id, &high.id, &now_timestamp()],
        )?;
        let conversation = self
            .find_conversation(a, b)?
            .ok_or_else(|| StoreError::Batch("a new conversation vanished".to_string()))?;
        for member in [low.id, high.id] {
            self.execute(
                "INSERT INTO conversation_members (conversation_id, user_id) VALUES ($1, $2)
                 ON CONFLICT DO NOTHING",
                &[&conversation.id, &member],
            )?;
        }
        Ok(conversation)
    }

    fn insert_message(
        &self,
        place: &Place,
        author: &User,
        text: &str,
    ) -> Result<Message, StoreError> {
        let sent_at = now_timestamp();
        let insert = match place {
            Place::Room(_) => insert_message_sql!("chatrooms", "room_members", "room_id"),
            Place::Direct(_) => {
                insert_message_sql!("conversations", "conversation_members", "conversation_id")
            }
        };
        let place_id = place.id();
        let row = self.query_one(insert, &[&place_id, &author.id, &text, &sent_at])?;
        let id: i64 = row.try_get(0)?;
        let message = new_message(place, author, id, text, sent_at);
        self.record(Change::Message {
            place: place.key(),
            message: message.clone(),
        });
        Ok(message)
    }

    fn update_message_text(
        &self,
        stored: &StoredMessage,
        text: &str,
    ) -> Result<Option<Message>, StoreError> {
        let edited_at = now_timestamp();
        // A delete that committed since `stored` was read leaves no row.
        let updated = self.execute(
            "UPDATE messages SET text = $2, edited_at = $3 WHERE id = $1",
            &[&stored.message.id, &text, &edited_at],
        )?;
        if updated == 0 {
            return Ok(None);
        }
        let message = edited(stored, text, edited_at);
        self.record(Change::Edited {
            place: stored.place,
            message: message.clone(),
        });
        Ok(Some(message))
    }

    fn delete_message(&self, stored: &StoredMessage) -> Result<bool, StoreError> {
        let id = stored.message.id;
        self.lock_place(stored.place)?;
        // Two deletes of one message: the second finds no row.
        if self.execute("DELETE FROM messages WHERE id = $1", &[&id])? == 0 {
            return Ok(false);
        }
        self.forget_messages(stored.place, &[id])?;
        self.record(Change::Deleted {
            place: stored.place,
            deleted: deleted(stored),
        });
        Ok(true)
    }

    fn mark_read(&self, place: &Place, user: &User, id: i64) -> Result<i64, StoreError> {
        self.lock_place(place.key())?;
        let (last_id_sql, update, position_sql) = match place {
            Place::Room(_) => (
                "SELECT last_message_id FROM chatrooms WHERE id = $1",
                "UPDATE room_members
                 SET read_count = read_count + (
                         SELECT count(*) FROM messages
                         WHERE room_id = $1 AND id > room_members.last_read_id AND id <= $3),
                     last_read_id = $3
                 WHERE room_id = $1 AND user_id = $2 AND last_read_id < $3",
                "SELECT last_read_id FROM room_members WHERE room_id = $1 AND user_id = $2",
            ),
            Place::Direct(_) => (
                "SELECT last_message_id FROM conversations WHERE id = $1",
                "UPDATE conversation_members
                 SET read_count = read_count + (
                         SELECT count(*) FROM messages
                         WHERE conversation_id = $1
                           AND id > conversation_members.last_read_id AND id <= $3),
                     last_read_id = $3
                 WHERE conversation_id = $1 AND user_id = $2 AND last_read_id < $3",
                "SELECT last_read_id FROM conversation_members
                 WHERE conversation_id = $1 AND user_id = $2",
            ),
        };
        let place_id = place.id();
        let last_id: i64 = self.query_one(last_id_sql, &[&place_id])?.try_get(0)?;
        let moved = self.execute(update, &[&place_id, &user.id, &id.min(last_id)])?;
        if moved == 1 {
            let at = self.read_time(place, user)?;
            self.record(Change::ReadMoved {
                user_id: user.id,
                place: place.name_for(user),
                at,
            });
        }
        Ok(self
            .query_opt(position_sql, &[&place_id, &user.id])?
            .map(|row| row.try_get(0))
            .transpose()?
            .unwrap_or(0))
    }

    fn set_topic(&self, room: &Room, user: &User, topic: &str) -> Result<(), StoreError> {
        let setter = new_topic_setter(user, topic);
        self.execute(
            "UPDATE chatrooms SET topic = $2, topic_set_by = $3, topic_set_at = $4 WHERE id = $1",
            &[&room.id, &topic, &setter.username, &setter.at],
        )?;
        self.record(Change::Topic {
            room_id: room.id,
            user_id: user.id,
            topic: topic_change(room, user, topic),
        });
        Ok(())
    }

    fn set_retention(&self, room: &Room, days: u32) -> Result<(), StoreError> {
        let days = i32::try_from(days).map_err(|err| StoreError::Batch(err.to_string()))?;
        self.execute(
            "UPDATE chatrooms SET retention_days = $2 WHERE id = $1",
            &[&room.id, &days],
        )?;
        Ok(())
    }

    fn delete_expired_messages(
        &self,
        room: &Room,
        before: &str,
        limit: u32,
    ) -> Result<u32, StoreError> {
        self.lock_place(PlaceKey::Room(room.id))?;
        let oldest = self.query(
            "SELECT id, sent_at FROM messages WHERE room_id = $1 ORDER BY id LIMIT $2",
            &[&room.id, &i64::from(limit)],
        )?;
        let oldest = oldest
            .iter()
            .map(|row| Ok((row.try_get("id")?, row.try_get("sent_at")?)))
            .collect::<Result<Vec<(i64, String)>, StoreError>>()?;
        let expired = expired_ids(&oldest, before);
        if expired.is_empty() {
            return Ok(0);
        }
        // Another node's sweep, or a user, may have deleted some already.
        let mut deleted: Vec<i64> = self
            .query(
                "DELETE FROM messages WHERE id = ANY($1) RETURNING id",
                &[&expired],
            )?
            .iter()
            .map(|row| row.try_get(0))
            .collect::<Result<_, _>>()?;
        deleted.sort_unstable();
        self.forget_messages(PlaceKey::Room(room.id), &deleted)?;
        Ok(deleted.len() as u32)
    }

    fn insert_token(
        &self,
        credentials: &Credentials,
        hash: &TokenHash,
    ) -> Result<bool, StoreError> {
        // The row lock orders this with a password change on any node: its
        // UPDATE waits for this commit (and then revokes this token), or
        // this waits for its commit and finds the hash changed.
        let unchanged = self.query_opt(
            "SELECT id FROM users WHERE id = $1 AND password_hash = $2 FOR UPDATE",
            &[&credentials.user.id, &credentials.password_hash],
        )?;
        if unchanged.is_none() {
            return Ok(false);
        }
        self.execute(
            "INSERT INTO resume_tokens (user_id, token_hash, created_at, last_used_at)
             VALUES ($1, $2, $3, $3)",
            &[&credentials.user.id, &&hash[..], &now_timestamp()],
        )?;
        Ok(true)
    }

    fn touch_token(&self, id: i64) -> Result<bool, StoreError> {
        let touched = self.execute(
            "UPDATE resume_tokens SET last_used_at = $2 WHERE id = $1",
            &[&id, &now_timestamp()],
        )?;
        Ok(touched == 1)
    }

    fn delete_token(&self, hash: &TokenHash) -> Result<bool, StoreError> {
        Ok(self.execute(
            "DELETE FROM resume_tokens WHERE token_hash = $1",
            &[&&hash[..]],
        )? == 1)
    }

    fn delete_tokens_unused_since(&self, before: &str) -> Result<u32, StoreError> {
        let deleted = self.execute(
            "DELETE FROM resume_tokens WHERE last_used_at < $1",
            &[&before],
        )?;
        Ok(deleted as u32)
    }

    fn replace_password(
        &self,
        user: &User,
        password_hash: &str,
        keep: Option<&TokenHash>,
    ) -> Result<(), StoreError> {
        self.execute(
            "UPDATE users SET password_hash = $2 WHERE id = $1",
            &[&user.id, &password_hash],
        )?;
        self.execute(
            "DELETE FROM resume_tokens WHERE user_id = $1 AND token_hash IS DISTINCT FROM $2",
            &[&user.id, &keep.map(|keep| &keep[..])],
        )?;
        self.record(Change::TokensRevoked {
            user_id: user.id,
            keep: keep.copied(),
        });
        Ok(())
    }
}

/// The `to_tsquery` form of a parsed search, given its words as the stored
/// text is made (`made`, in the order of [`SearchTerm::words`]). A made word
/// may have come apart (`Hawaiʻi` is `Hawai i` once unaccented): its pieces
/// must then follow each other, as a phrase. Every piece is a quoted lexeme
/// of letters and digits only, so no user input is ever tsquery syntax.
/// `None` when a term has nothing left to look for.
fn tsquery(query: &SearchQuery, made: &[String]) -> Option<String> {
    let mut made = made.iter();
    let mut parts = Vec::with_capacity(query.terms.len());
    for term in &query.terms {
        let mut lexemes = lexemes(term, &mut made);
        if lexemes.is_empty() {
            return None;
        }
        parts.push(match lexemes.len() {
            1 => lexemes.remove(0),
            _ => format!("({})", lexemes.join(" <-> ")),
        });
    }
    Some(parts.join(" & "))
}

/// A term's quoted lexemes, in order, taking its words from `made`; a
/// prefix marks the last piece of its word.
fn lexemes(term: &SearchTerm, made: &mut std::slice::Iter<'_, String>) -> Vec<String> {
    let word = match term {
        SearchTerm::Phrase(terms) => return terms.iter().flat_map(|t| lexemes(t, made)).collect(),
        SearchTerm::Word(_) | SearchTerm::Prefix(_) => made.next().map_or("", String::as_str),
    };
    let mut pieces: Vec<String> = word
        .split(|c: char| !c.is_alphanumeric())
        .filter(|piece| !piece.is_empty())
        .map(|piece| format!("'{piece}'"))
        .collect();
    if let (SearchTerm::Prefix(_), Some(last)) = (term, pieces.last_mut()) {
        last.push_str(":*");
    }
    pieces
}

/// A message by id, read on `client`: the listener's own connection, which
/// reads back long messages whose notification holds only their id.
pub(super) fn find_message_on(
    client: &mut Client,
    id: i64,
) -> Result<Option<StoredMessage>, StoreError> {
    client
        .query_opt(message_select!("WHERE m.id = $1"), &[&id])?
        .map(|row| stored_message_from_row(&row))
        .transpose()
}

fn user_from_row(row: &Row) -> Result<User, StoreError> {
    Ok(User {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        guest: row.try_get("guest")?,
    })
}

fn room_from_row(row: &Row) -> Result<Room, StoreError> {
    Ok(Room {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        created_by: row.try_get("created_by")?,
    })
}

fn unread_from_row(row: &Row) -> Result<UnreadEntry, StoreError> {
    Ok(UnreadEntry {
        unread: Unread {
            room: row.try_get("room")?,
            unread: row.try_get("unread")?,
            last_read_id: row.try_get("last_read_id")?,
            last_id: row.try_get("last_id")?,
        },
        guest: row.try_get("guest_id")?,
    })
}

/// A row of `message_select!`.
fn stored_message_from_row(row: &Row) -> Result<StoredMessage, StoreError> {
    Ok(MessageColumns {
        id: row.try_get("id")?,
        room: row.try_get("room")?,
        recipient: row.try_get("recipient")?,
        username: row.try_get("username")?,
        text: row.try_get("text")?,
        sent_at: row.try_get("sent_at")?,
        edited_at: row.try_get("edited_at")?,
        guest: row.try_get("guest")?,
        user_id: row.try_get("user_id")?,
        room_id: row.try_get("room_id")?,
        room_owner: row.try_get("created_by")?,
        conversation_id: row.try_get("conversation_id")?,
        user_low: row.try_get("user_low")?,
        user_high: row.try_get("user_high")?,
    }
    .into_stored())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_terms_become_quoted_lexemes() {
        let query = SearchQuery {
            terms: vec![
                SearchTerm::Word("café".into()),
                SearchTerm::Prefix("deplo".into()),
                SearchTerm::Phrase(vec![
                    SearchTerm::Word("big".into()),
                    SearchTerm::Word("world".into()),
                ]),
                SearchTerm::Prefix("hawaiʻ".into()),
                SearchTerm::Phrase(vec![
                    SearchTerm::Prefix("qui".into()),
                    SearchTerm::Word("bro".into()),
                ]),
            ],
        };
        // As the database makes them: unaccented, punctuation to spaces.
        let made = ["cafe", "deplo", "big", "world", "hawai ", "qui", "bro"].map(String::from);
        assert_eq!(
            tsquery(&query, &made).unwrap(),
            "'cafe' & 'deplo':* & ('big' <-> 'world') & 'hawai':* & ('qui':* <-> 'bro')"
        );
        let apart = ["hawai i".to_string()];
        let word = SearchQuery {
            terms: vec![SearchTerm::Word("hawaiʻi".into())],
        };
        assert_eq!(tsquery(&word, &apart).unwrap(), "('hawai' <-> 'i')");
        assert_eq!(tsquery(&word, &[" ".to_string()]), None);
    }
}
