//! Every statement behind the store's [`Reads`] and [`Writes`], as those of
//! one connection. (Opening, migrating, the writer's transactions,
//! checkpoints and backups keep theirs in their own files.)
//!
//! Statements are cached per connection, so the hot ones are prepared once.
//! Parameters are always bound, never formatted into SQL. Each row type is
//! read from its columns in one place (`*_from_row`): by name, except a
//! message's, which is read by position (see `stored_message_from_row`).
//!
//! Counters kept in step here make unread counts cheap: a room (or
//! conversation) counts its messages and knows its newest id; a member's row
//! holds their read position and how many messages are at or before it. So
//! unread = message_count - read_count, and `/getUnread` never scans
//! messages. (Joining a room again counts those after the position it was
//! left at, and `/markRead` those it moves over.)

use std::cell::{Cell, RefCell};

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::fold::fold;
use crate::store::{
    Change, Conversation, Credentials, MessageColumns, Page, PageStatements, Place, PlaceKey,
    Reads, Room, SearchQuery, SearchTerm, StoreError, StoredMessage, StoredToken, TokenHash,
    TopicSetter, UnreadEntry, User, Writes, deleted, edited, expired_ids, membership, new_message,
    new_topic_setter, now_timestamp, ordered, room_key, stored_topic_setter, topic_change,
};
use crate::wire::{Message, RoomInfo, Unread};

/// The messages a write transaction stored that are not in the search index
/// yet. They are indexed together just before the commit, in the same
/// transaction (why not one by one: migration 0004), so search sees a
/// message as soon as its sender is answered. Edits and deletions reach the
/// index through triggers, which expect the message there: they index the
/// backlog first. Kept in memory, not in a table (migration 0008): a row
/// rewritten at every commit cost a page of the WAL per lone message.
#[derive(Default)]
pub(super) struct SearchBacklog {
    /// The first id stored since the last indexing. Ids only grow, so the
    /// backlog is every message from it on.
    first: Cell<Option<i64>>,
}

impl SearchBacklog {
    fn stored(&self, id: i64) {
        if self.first.get().is_none() {
            self.first.set(Some(id));
        }
    }

    /// Adds the backlog to the search index.
    pub(super) fn index(&self, conn: &Connection) -> rusqlite::Result<()> {
        let Some(first) = self.first.get() else {
            return Ok(());
        };
        conn.prepare_cached(
            "INSERT INTO messages_fts (rowid, text)
             SELECT id, pipechat_fold(text) FROM messages WHERE id >= ?1",
        )?
        .execute([first])?;
        self.first.set(None);
        Ok(())
    }

    /// What to go back to when a savepoint is rolled back, which undoes
    /// the indexing done since as well as the messages stored since.
    pub(super) fn mark(&self) -> Option<i64> {
        self.first.get()
    }

    pub(super) fn roll_back_to(&self, mark: Option<i64>) {
        self.first.set(mark);
    }
}

/// One connection seen through the store's surface, with the changes its
/// writes made so far.
pub(super) struct SqliteTx<'c> {
    conn: &'c Connection,
    /// `None` for reads, which store no message.
    backlog: Option<&'c SearchBacklog>,
    /// `None` where nobody will hear of the changes (reads, seeding).
    changes: Option<RefCell<Vec<Change>>>,
    /// Whether a message's text was deleted or edited away: the WAL's older
    /// copies of its pages should go soon.
    text_removed: Cell<bool>,
}

impl<'c> SqliteTx<'c> {
    /// For reads.
    pub(super) fn reading(conn: &'c Connection) -> SqliteTx<'c> {
        SqliteTx {
            conn,
            backlog: None,
            changes: None,
            text_removed: Cell::new(false),
        }
    }

    /// For seeding, whose changes nobody hears of.
    pub(super) fn seeding(conn: &'c Connection, backlog: &'c SearchBacklog) -> SqliteTx<'c> {
        SqliteTx {
            backlog: Some(backlog),
            ..SqliteTx::reading(conn)
        }
    }

    /// For the writer: changes are kept, to be announced after the commit.
    pub(super) fn recording(conn: &'c Connection, backlog: &'c SearchBacklog) -> SqliteTx<'c> {
        SqliteTx {
            conn,
            backlog: Some(backlog),
            changes: Some(RefCell::new(Vec::new())),
            text_removed: Cell::new(false),
        }
    }

    /// The search backlog of a transaction that writes.
    fn backlog(&self) -> Result<&'c SearchBacklog, StoreError> {
        self.backlog
            .ok_or_else(|| StoreError::Batch("a write outside a write transaction".into()))
    }

    /// Edits and deletions change the search index through triggers, which
    /// need every message they touch indexed already.
    fn index_backlog(&self) -> Result<(), StoreError> {
        Ok(self.backlog()?.index(self.conn)?)
    }

    /// What the writes changed, and whether they deleted or edited away a
    /// message's text.
    pub(super) fn finish(self) -> (Vec<Change>, bool) {
        let changes = self.changes.map(RefCell::into_inner).unwrap_or_default();
        (changes, self.text_removed.get())
    }

    fn record(&self, change: impl FnOnce() -> Change) {
        if let Some(changes) = &self.changes {
            changes.borrow_mut().push(change());
        }
    }

    fn collect_messages(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
    ) -> Result<Vec<Message>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(sql)?
            .query_map(params, |row| {
                stored_message_from_row(row).map(|s| s.message)
            })?
            .collect::<Result<_, _>>()?)
    }

    /// Brings counters in step after `ids` (ascending) were deleted from
    /// `place`: its message count and newest id, and every read count that
    /// included one of them.
    fn forget_messages(&self, place: PlaceKey, ids: &[i64]) -> Result<(), StoreError> {
        let (Some(&first), count) = (ids.first(), ids.len() as i64) else {
            return Ok(());
        };
        let ids_json =
            serde_json::to_string(ids).map_err(|err| StoreError::Batch(err.to_string()))?;
        let (counters, members, id) = match place {
            PlaceKey::Room(room_id) => (
                "UPDATE chatrooms
                 SET message_count = message_count - ?2,
                     last_message_id = coalesce(
                         (SELECT max(id) FROM messages WHERE room_id = ?1), 0)
                 WHERE id = ?1",
                "UPDATE room_members
                 SET read_count = read_count
                     - (SELECT count(*) FROM json_each(?2) WHERE value <= room_members.last_read_id)
                 WHERE room_id = ?1 AND last_read_id >= ?3",
                room_id,
            ),
            PlaceKey::Direct { conversation, .. } => (
                "UPDATE conversations
                 SET message_count = message_count - ?2,
                     last_message_id = coalesce(
                         (SELECT max(id) FROM messages WHERE conversation_id = ?1), 0)
                 WHERE id = ?1",
                "UPDATE conversation_members
                 SET read_count = read_count
                     - (SELECT count(*) FROM json_each(?2)
                        WHERE value <= conversation_members.last_read_id)
                 WHERE conversation_id = ?1 AND last_read_id >= ?3",
                conversation,
            ),
        };
        self.conn
            .prepare_cached(counters)?
            .execute(params![id, count])?;
        self.conn
            .prepare_cached(members)?
            .execute(params![id, ids_json, first])?;
        self.text_removed.set(true);
        Ok(())
    }
}

impl Reads for SqliteTx<'_> {
    fn find_credentials(&self, username: &str) -> Result<Option<Credentials>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT id, username, guest, password_hash FROM users
                 WHERE username = ?1 AND guest = 0",
            )?
            .query_row([username], |row| {
                Ok(Credentials {
                    user: user_from_row(row)?,
                    password_hash: row.get("password_hash")?,
                })
            })
            .optional()?)
    }

    fn find_user(&self, username: &str) -> Result<Option<User>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT id, username, guest FROM users WHERE username = ?1 AND guest = 0",
            )?
            .query_row([username], user_from_row)
            .optional()?)
    }

    fn rooms_of(&self, user_id: i64) -> Result<Vec<Room>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT c.id, c.name, c.created_by FROM room_members m
                 JOIN chatrooms c ON c.id = m.room_id
                 WHERE m.user_id = ?1 ORDER BY c.name_key, c.id",
            )?
            .query_map([user_id], room_from_row)?
            .collect::<Result<_, _>>()?)
    }

    fn last_id_before(&self, place: &Place, at: &str, inclusive: bool) -> Result<i64, StoreError> {
        // Ids grow with time: walking back from the newest finds recent
        // times (a reconnecting client's) at once.
        let sql = match (place, inclusive) {
            (Place::Room(_), false) => {
                "SELECT id FROM messages WHERE room_id = ?1 AND sent_at < ?2
                 ORDER BY id DESC LIMIT 1"
            }
            (Place::Room(_), true) => {
                "SELECT id FROM messages WHERE room_id = ?1 AND sent_at <= ?2
                 ORDER BY id DESC LIMIT 1"
            }
            (Place::Direct(_), false) => {
                "SELECT id FROM messages WHERE conversation_id = ?1 AND sent_at < ?2
                 ORDER BY id DESC LIMIT 1"
            }
            (Place::Direct(_), true) => {
                "SELECT id FROM messages WHERE conversation_id = ?1 AND sent_at <= ?2
                 ORDER BY id DESC LIMIT 1"
            }
        };
        let id = place.id();
        Ok(self
            .conn
            .prepare_cached(sql)?
            .query_row(params![id, at], |row| row.get(0))
            .optional()?
            .unwrap_or(0))
    }

    fn read_time(&self, place: &Place, user: &User) -> Result<Option<String>, StoreError> {
        let sql = match place {
            Place::Room(_) => {
                "SELECT sent_at FROM messages
                 WHERE room_id = ?1 AND id <= (SELECT last_read_id FROM room_members
                                               WHERE room_id = ?1 AND user_id = ?2)
                 ORDER BY id DESC LIMIT 1"
            }
            Place::Direct(_) => {
                "SELECT sent_at FROM messages
                 WHERE conversation_id = ?1
                   AND id <= (SELECT last_read_id FROM conversation_members
                              WHERE conversation_id = ?1 AND user_id = ?2)
                 ORDER BY id DESC LIMIT 1"
            }
        };
        Ok(self
            .conn
            .prepare_cached(sql)?
            .query_row([place.id(), user.id], |row| row.get(0))
            .optional()?)
    }

    fn recent_places(
        &self,
        user: &User,
        after: &str,
        before: &str,
        limit: u32,
    ) -> Result<Vec<(String, String)>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT name, sent_at FROM (
                     SELECT c.name AS name, m.sent_at AS sent_at
                     FROM room_members r
                     JOIN chatrooms c ON c.id = r.room_id
                     JOIN messages m ON m.id = c.last_message_id
                     WHERE r.user_id = ?1
                     UNION ALL
                     SELECT '@' || o.username AS name, m.sent_at AS sent_at
                     FROM conversation_members k
                     JOIN conversations v ON v.id = k.conversation_id
                     JOIN messages m ON m.id = v.last_message_id
                     JOIN users o
                       ON o.id = CASE WHEN v.user_low = ?1 THEN v.user_high ELSE v.user_low END
                     WHERE k.user_id = ?1)
                 WHERE sent_at > ?2 AND sent_at < ?3
                 ORDER BY sent_at, name LIMIT ?4",
            )?
            .query_map(params![user.id, after, before, limit], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })?
            .collect::<Result<_, _>>()?)
    }

    fn find_room(&self, name: &str) -> Result<Option<Room>, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT id, name, created_by FROM chatrooms WHERE name_key = ?1")?
            .query_row([room_key(name)], room_from_row)
            .optional()?)
    }

    fn find_room_with_member(
        &self,
        name: &str,
        user_id: i64,
    ) -> Result<Option<(Room, bool)>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT id, name, created_by,
                        EXISTS (SELECT 1 FROM room_members
                                WHERE room_id = chatrooms.id AND user_id = ?2) AS member
                 FROM chatrooms WHERE name_key = ?1",
            )?
            .query_row(params![room_key(name), user_id], |row| {
                Ok((room_from_row(row)?, row.get("member")?))
            })
            .optional()?)
    }

    fn room_names(&self) -> Result<Vec<String>, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT name FROM chatrooms ORDER BY name_key, id")?
            .query_map([], |row| row.get(0))?
            .collect::<Result<_, _>>()?)
    }

    fn member_names(&self, room_id: i64) -> Result<Vec<String>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT u.username FROM room_members m JOIN users u ON u.id = m.user_id
                 WHERE m.room_id = ?1 ORDER BY u.username COLLATE NOCASE, u.id",
            )?
            .query_map([room_id], |row| row.get(0))?
            .collect::<Result<_, _>>()?)
    }

    fn is_member(&self, room_id: i64, user_id: i64) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT 1 FROM room_members WHERE room_id = ?1 AND user_id = ?2")?
            .exists([room_id, user_id])?)
    }

    fn find_conversation(&self, a: &User, b: &User) -> Result<Option<Conversation>, StoreError> {
        let (low, high) = ordered(a, b);
        Ok(self
            .conn
            .prepare_cached("SELECT id FROM conversations WHERE user_low = ?1 AND user_high = ?2")?
            .query_row([low.id, high.id], |row| row.get(0))
            .optional()?
            .map(|id| Conversation {
                id,
                low: low.clone(),
                high: high.clone(),
            }))
    }

    fn messages(&self, place: &Place, page: Page) -> Result<Vec<Message>, StoreError> {
        // The place names the room or the other side, so a page joins only
        // the authors (`place_message_from_row`).
        macro_rules! place_select {
            ($column:literal, $rest:literal) => {
                concat!(
                    "SELECT m.id, u.username, m.text, m.sent_at, m.edited_at, u.guest, m.user_id
                     FROM messages m JOIN users u ON u.id = m.user_id
                     WHERE m.",
                    $column,
                    " = ?1 AND ",
                    $rest
                )
            };
        }
        const PAGES: PageStatements = PageStatements {
            room_after: place_select!("room_id", "m.id > ?2 ORDER BY m.id LIMIT ?3"),
            room_before: place_select!("room_id", "m.id < ?2 ORDER BY m.id DESC LIMIT ?3"),
            direct_after: place_select!("conversation_id", "m.id > ?2 ORDER BY m.id LIMIT ?3"),
            direct_before: place_select!(
                "conversation_id",
                "m.id < ?2 ORDER BY m.id DESC LIMIT ?3"
            ),
        };
        let (sql, parameters, newest_first) = PAGES.pick(place, page);
        let mut messages = self
            .conn
            .prepare_cached(sql)?
            .query_map(parameters, |row| place_message_from_row(place, row))?
            .collect::<Result<Vec<_>, _>>()?;
        if newest_first {
            messages.reverse();
        }
        Ok(messages)
    }

    fn find_message(&self, id: i64) -> Result<Option<StoredMessage>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(message_select!("WHERE m.id = ?1"))?
            .query_row([id], stored_message_from_row)
            .optional()?)
    }

    fn room_info(&self, room: &Room) -> Result<RoomInfo, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT c.name, coalesce(u.username, '') AS owner, c.created_at,
                        (SELECT count(*) FROM room_members WHERE room_id = c.id) AS members,
                        c.message_count, c.retention_days, c.topic
                 FROM chatrooms c LEFT JOIN users u ON u.id = c.created_by
                 WHERE c.id = ?1",
            )?
            .query_row([room.id], |row| {
                Ok(RoomInfo {
                    name: row.get("name")?,
                    owner: row.get("owner")?,
                    created_at: row.get("created_at")?,
                    members: row.get("members")?,
                    messages: row.get("message_count")?,
                    retention_days: row.get("retention_days")?,
                    topic: row.get("topic")?,
                })
            })?)
    }

    fn topic_setter(&self, room: &Room) -> Result<Option<TopicSetter>, StoreError> {
        let (username, at) = self
            .conn
            .prepare_cached("SELECT topic_set_by, topic_set_at FROM chatrooms WHERE id = ?1")?
            .query_row([room.id], |row| Ok((row.get(0)?, row.get(1)?)))?;
        Ok(stored_topic_setter(username, at))
    }

    fn unread(&self, user: &User) -> Result<Vec<UnreadEntry>, StoreError> {
        let mut entries: Vec<UnreadEntry> = self
            .conn
            .prepare_cached(
                "SELECT c.name AS room, c.message_count - m.read_count AS unread,
                        m.last_read_id, c.last_message_id AS last_id, NULL AS guest_id
                 FROM room_members m JOIN chatrooms c ON c.id = m.room_id
                 WHERE m.user_id = ?1
                 ORDER BY c.name_key, c.id",
            )?
            .query_map([user.id], unread_from_row)?
            .collect::<Result<_, _>>()?;
        let conversations = self
            .conn
            .prepare_cached(
                "SELECT '@' || o.username AS room, v.message_count - m.read_count AS unread,
                        m.last_read_id, v.last_message_id AS last_id,
                        CASE WHEN o.guest THEN o.id END AS guest_id
                 FROM conversation_members m
                 JOIN conversations v ON v.id = m.conversation_id
                 JOIN users o
                   ON o.id = CASE WHEN v.user_low = ?1 THEN v.user_high ELSE v.user_low END
                 WHERE m.user_id = ?1 AND v.message_count > 0
                 ORDER BY o.username COLLATE NOCASE, o.id",
            )?
            .query_map([user.id], unread_from_row)?
            .collect::<Result<Vec<_>, _>>()?;
        entries.extend(conversations);
        Ok(entries)
    }

    fn search(
        &self,
        user: &User,
        query: &SearchQuery,
        within: Option<&Place>,
        limit: u32,
    ) -> Result<Vec<Message>, StoreError> {
        // The index yields rowids newest first; the joins and the filter run
        // per match until `limit` pass.
        macro_rules! search_select {
            ($filter:literal) => {
                message_select!(
                    "JOIN messages_fts ON messages_fts.rowid = m.id
                     WHERE messages_fts MATCH ?1 AND ",
                    $filter,
                    " ORDER BY messages_fts.rowid DESC LIMIT ?3"
                )
            };
        }
        const EVERYWHERE: &str = search_select!(
            "(m.room_id IN (SELECT room_id FROM room_members WHERE user_id = ?2)
              OR m.conversation_id IN
                 (SELECT conversation_id FROM conversation_members WHERE user_id = ?2))"
        );
        const IN_ROOM: &str = search_select!("m.room_id = ?2");
        const IN_CONVERSATION: &str = search_select!("m.conversation_id = ?2");
        let fts = fts5_query(query);
        match within {
            None => self.collect_messages(EVERYWHERE, params![fts, user.id, limit]),
            Some(Place::Room(room)) => self.collect_messages(IN_ROOM, params![fts, room.id, limit]),
            Some(Place::Direct(conversation)) => {
                self.collect_messages(IN_CONVERSATION, params![fts, conversation.id, limit])
            }
        }
    }

    fn find_token(&self, hash: &TokenHash) -> Result<Option<StoredToken>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT t.id AS token_id, u.id, u.username, u.guest, t.last_used_at
                 FROM resume_tokens t JOIN users u ON u.id = t.user_id
                 WHERE t.token_hash = ?1",
            )?
            .query_row([&hash[..]], |row| {
                Ok(StoredToken {
                    id: row.get("token_id")?,
                    user: user_from_row(row)?,
                    last_used_at: row.get("last_used_at")?,
                })
            })
            .optional()?)
    }

    fn rooms_with_retention(&self) -> Result<Vec<(Room, u32)>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT id, name, created_by, retention_days FROM chatrooms
                 WHERE retention_days > 0 ORDER BY id",
            )?
            .query_map([], |row| {
                Ok((room_from_row(row)?, row.get("retention_days")?))
            })?
            .collect::<Result<_, _>>()?)
    }

    fn room_last_message_id(&self, room_id: i64) -> Result<i64, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT last_message_id FROM chatrooms WHERE id = ?1")?
            .query_row([room_id], |row| row.get(0))
            .optional()?
            .unwrap_or(0))
    }

    fn direct_last_message_id(&self, user_id: i64) -> Result<i64, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT coalesce(max(last_message_id), 0) FROM conversations
                 WHERE user_low = ?1 OR user_high = ?1",
            )?
            .query_row([user_id], |row| row.get(0))?)
    }

    fn ping(&self) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("PRAGMA user_version")?
            .query_row([], |row| row.get::<_, i64>(0))?;
        Ok(())
    }
}

impl Writes for SqliteTx<'_> {
    fn insert_guest(&self, nick: &str) -> Result<Option<User>, StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO users (username, password_hash, created_at, guest)
                 VALUES (?1, '', ?2, 1)",
            )?
            .execute(params![nick, now_timestamp()])?;
        Ok(Some(User {
            id: self.conn.last_insert_rowid(),
            username: nick.to_string(),
            guest: true,
        }))
    }

    fn rename_guest(&self, guest: &User, nick: &str) -> Result<bool, StoreError> {
        self.conn
            .prepare_cached("UPDATE users SET username = ?2 WHERE id = ?1 AND guest = 1")?
            .execute(params![guest.id, nick])?;
        Ok(true)
    }

    /// The server's hub holds the nicks of a database of its own.
    fn release_guest(&self, _: &User) -> Result<(), StoreError> {
        Ok(())
    }

    fn delete_guest_memberships(&self) -> Result<u32, StoreError> {
        let deleted = self
            .conn
            .prepare_cached(
                "DELETE FROM room_members WHERE user_id IN (SELECT id FROM users WHERE guest = 1)",
            )?
            .execute([])?;
        Ok(deleted as u32)
    }

    fn insert_user(&self, username: &str, password_hash: &str) -> Result<Option<User>, StoreError> {
        let inserted = self
            .conn
            .prepare_cached(
                "INSERT INTO users (username, password_hash, created_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT DO NOTHING",
            )?
            .execute(params![username, password_hash, now_timestamp()])?;
        Ok((inserted == 1).then(|| User {
            id: self.conn.last_insert_rowid(),
            username: username.to_string(),
            guest: false,
        }))
    }

    fn insert_room(&self, name: &str, created_by: i64) -> Result<Option<Room>, StoreError> {
        let inserted = self
            .conn
            .prepare_cached(
                "INSERT INTO chatrooms (name, name_key, created_by, created_at)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT DO NOTHING",
            )?
            .execute(params![name, room_key(name), created_by, now_timestamp()])?;
        Ok((inserted == 1).then(|| Room {
            id: self.conn.last_insert_rowid(),
            name: name.to_string(),
            created_by,
        }))
    }

    fn insert_membership(&self, room: &Room, user: &User) -> Result<bool, StoreError> {
        // A new member has read nothing of what is already there; one who
        // left goes on from where they were (migration 0005). The read
        // count is reckoned from the end, which is near for a member who
        // was away a short while.
        let inserted = self
            .conn
            .prepare_cached(
                "INSERT INTO room_members (room_id, user_id, joined_at, last_read_id, read_count)
                 SELECT ?1, ?2, ?3, read_to,
                        CASE read_to WHEN 0 THEN 0 ELSE
                            (SELECT message_count FROM chatrooms WHERE id = ?1)
                            - (SELECT count(*) FROM messages WHERE room_id = ?1 AND id > read_to)
                        END
                 FROM (SELECT coalesce((SELECT last_read_id FROM room_departures
                                        WHERE room_id = ?1 AND user_id = ?2), 0) AS read_to)
                 WHERE true
                 ON CONFLICT DO NOTHING",
            )?
            .execute(params![room.id, user.id, now_timestamp()])?;
        if inserted == 1 {
            self.conn
                .prepare_cached("DELETE FROM room_departures WHERE room_id = ?1 AND user_id = ?2")?
                .execute([room.id, user.id])?;
            self.record(|| Change::Joined {
                room_id: room.id,
                user_id: user.id,
                membership: membership(room, user),
            });
        }
        Ok(inserted == 1)
    }

    fn delete_membership(&self, room: &Room, user: &User) -> Result<bool, StoreError> {
        // A guest's session never comes back: nothing to go on from.
        if !user.guest {
            self.conn
                .prepare_cached(
                    "INSERT INTO room_departures (room_id, user_id, last_read_id)
                     SELECT room_id, user_id, last_read_id FROM room_members
                     WHERE room_id = ?1 AND user_id = ?2
                     ON CONFLICT (room_id, user_id)
                     DO UPDATE SET last_read_id = excluded.last_read_id",
                )?
                .execute([room.id, user.id])?;
        }
        let deleted = self
            .conn
            .prepare_cached("DELETE FROM room_members WHERE room_id = ?1 AND user_id = ?2")?
            .execute([room.id, user.id])?;
        if deleted == 1 {
            self.record(|| Change::Left {
                room_id: room.id,
                user_id: user.id,
                membership: membership(room, user),
            });
        }
        Ok(deleted == 1)
    }

    fn conversation(&self, a: &User, b: &User) -> Result<Conversation, StoreError> {
        if let Some(conversation) = self.find_conversation(a, b)? {
            return Ok(conversation);
        }
        let (low, high) = ordered(a, b);
        self.conn
            .prepare_cached(
                "INSERT INTO conversations (user_low, user_high, created_at) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![low.id, high.id, now_timestamp()])?;
        let id = self.conn.last_insert_rowid();
        let mut add_member = self.conn.prepare_cached(
            "INSERT INTO conversation_members (conversation_id, user_id) VALUES (?1, ?2)
             ON CONFLICT DO NOTHING",
        )?;
        add_member.execute([id, low.id])?;
        add_member.execute([id, high.id])?;
        Ok(Conversation {
            id,
            low: low.clone(),
            high: high.clone(),
        })
    }

    fn insert_message(
        &self,
        place: &Place,
        author: &User,
        text: &str,
    ) -> Result<Message, StoreError> {
        let sent_at = now_timestamp();
        let (insert, counters, reader) = match place {
            Place::Room(_) => (
                "INSERT INTO messages (id, room_id, user_id, text, sent_at)
                 VALUES ((SELECT max(coalesce((SELECT max(id) FROM messages), 0), high_water) + 1
                          FROM message_ids), ?1, ?2, ?3, ?4)",
                "UPDATE chatrooms SET message_count = message_count + 1, last_message_id = ?2
                 WHERE id = ?1",
                "UPDATE room_members
                 SET last_read_id = ?3,
                     read_count = (SELECT message_count FROM chatrooms WHERE id = ?1)
                 WHERE room_id = ?1 AND user_id = ?2",
            ),
            Place::Direct(_) => (
                "INSERT INTO messages (id, conversation_id, user_id, text, sent_at)
                 VALUES ((SELECT max(coalesce((SELECT max(id) FROM messages), 0), high_water) + 1
                          FROM message_ids), ?1, ?2, ?3, ?4)",
                "UPDATE conversations SET message_count = message_count + 1, last_message_id = ?2
                 WHERE id = ?1",
                "UPDATE conversation_members
                 SET last_read_id = ?3,
                     read_count = (SELECT message_count FROM conversations WHERE id = ?1)
                 WHERE conversation_id = ?1 AND user_id = ?2",
            ),
        };
        let place_id = place.id();
        // The id after the newest message and after any newer one deleted
        // (`message_ids.high_water`, kept by a trigger): never one handed
        // out before, without AUTOINCREMENT's write per insert (migration
        // 0008). No RETURNING here: SQLite gathers its rows in a temporary
        // b-tree, and opening one per statement was a third of this
        // function's time.
        self.conn
            .prepare_cached(insert)?
            .execute(params![place_id, author.id, text, sent_at])?;
        let id = self.conn.last_insert_rowid();
        self.backlog()?.stored(id);
        let counted = self
            .conn
            .prepare_cached(counters)?
            .execute([place_id, id])?;
        // The place was found in this transaction and foreign keys are on.
        debug_assert_eq!(counted, 1, "no counters for the place of a new message");
        // Sending a message moves the author's own read position to it.
        self.conn
            .prepare_cached(reader)?
            .execute(params![place_id, author.id, id])?;
        let message = new_message(place, author, id, text, sent_at);
        self.record(|| Change::Message {
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
        self.index_backlog()?;
        let edited_at = now_timestamp();
        let updated = self
            .conn
            .prepare_cached("UPDATE messages SET text = ?2, edited_at = ?3 WHERE id = ?1")?
            .execute(params![stored.message.id, text, edited_at])?;
        if updated == 0 {
            return Ok(None);
        }
        // Someone editing out what they should not have written expects it
        // gone as a deletion is.
        self.text_removed.set(true);
        let message = edited(stored, text, edited_at);
        self.record(|| Change::Edited {
            place: stored.place,
            message: message.clone(),
        });
        Ok(Some(message))
    }

    fn delete_message(&self, stored: &StoredMessage) -> Result<bool, StoreError> {
        let id = stored.message.id;
        self.index_backlog()?;
        let deleted_rows = self
            .conn
            .prepare_cached("DELETE FROM messages WHERE id = ?1")?
            .execute([id])?;
        if deleted_rows == 0 {
            return Ok(false);
        }
        self.forget_messages(stored.place, &[id])?;
        self.record(|| Change::Deleted {
            place: stored.place,
            deleted: deleted(stored),
        });
        Ok(true)
    }

    fn mark_read(&self, place: &Place, user: &User, id: i64) -> Result<i64, StoreError> {
        // read_count grows by the messages between the old and the new
        // position; SET expressions see the row as it was.
        let (last_id_sql, update, position_sql) = match place {
            Place::Room(_) => (
                "SELECT last_message_id FROM chatrooms WHERE id = ?1",
                "UPDATE room_members
                 SET read_count = read_count + (
                         SELECT count(*) FROM messages
                         WHERE room_id = ?1 AND id > room_members.last_read_id AND id <= ?3),
                     last_read_id = ?3
                 WHERE room_id = ?1 AND user_id = ?2 AND last_read_id < ?3",
                "SELECT last_read_id FROM room_members WHERE room_id = ?1 AND user_id = ?2",
            ),
            Place::Direct(_) => (
                "SELECT last_message_id FROM conversations WHERE id = ?1",
                "UPDATE conversation_members
                 SET read_count = read_count + (
                         SELECT count(*) FROM messages
                         WHERE conversation_id = ?1
                           AND id > conversation_members.last_read_id AND id <= ?3),
                     last_read_id = ?3
                 WHERE conversation_id = ?1 AND user_id = ?2 AND last_read_id < ?3",
                "SELECT last_read_id FROM conversation_members
                 WHERE conversation_id = ?1 AND user_id = ?2",
            ),
        };
        let place_id = place.id();
        // Never past the newest message: later messages stay unread.
        let last_id: i64 = self
            .conn
            .prepare_cached(last_id_sql)?
            .query_row([place_id], |row| row.get(0))?;
        let moved = self.conn.prepare_cached(update)?.execute(params![
            place_id,
            user.id,
            id.min(last_id)
        ])?;
        // Its time costs a query: only for a write whose changes are told.
        if moved == 1 && self.changes.is_some() {
            let at = self.read_time(place, user)?;
            self.record(|| Change::ReadMoved {
                user_id: user.id,
                place: place.name_for(user),
                at,
            });
        }
        Ok(self
            .conn
            .prepare_cached(position_sql)?
            .query_row([place_id, user.id], |row| row.get(0))
            .optional()?
            .unwrap_or(0))
    }

    fn set_topic(&self, room: &Room, user: &User, topic: &str) -> Result<(), StoreError> {
        let setter = new_topic_setter(user, topic);
        self.conn
            .prepare_cached(
                "UPDATE chatrooms SET topic = ?2, topic_set_by = ?3, topic_set_at = ?4
                 WHERE id = ?1",
            )?
            .execute(params![room.id, topic, setter.username, setter.at])?;
        self.record(|| Change::Topic {
            room_id: room.id,
            user_id: user.id,
            topic: topic_change(room, user, topic),
        });
        Ok(())
    }

    fn set_retention(&self, room: &Room, days: u32) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("UPDATE chatrooms SET retention_days = ?2 WHERE id = ?1")?
            .execute(params![room.id, days])?;
        Ok(())
    }

    fn delete_expired_messages(
        &self,
        room: &Room,
        before: &str,
        limit: u32,
    ) -> Result<u32, StoreError> {
        let oldest: Vec<(i64, String)> = self
            .conn
            .prepare_cached(
                "SELECT id, sent_at FROM messages WHERE room_id = ?1 ORDER BY id LIMIT ?2",
            )?
            .query_map(params![room.id, limit], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })?
            .collect::<Result<_, _>>()?;
        let expired = expired_ids(&oldest, before);
        if expired.is_empty() {
            return Ok(0);
        }
        let ids_json =
            serde_json::to_string(&expired).map_err(|err| StoreError::Batch(err.to_string()))?;
        self.index_backlog()?;
        self.conn
            .prepare_cached("DELETE FROM messages WHERE id IN (SELECT value FROM json_each(?1))")?
            .execute([ids_json])?;
        self.forget_messages(PlaceKey::Room(room.id), &expired)?;
        Ok(expired.len() as u32)
    }

    fn insert_token(
        &self,
        credentials: &Credentials,
        hash: &TokenHash,
    ) -> Result<bool, StoreError> {
        // The one writer orders this with every password change.
        let inserted = self
            .conn
            .prepare_cached(
                "INSERT INTO resume_tokens (user_id, token_hash, created_at, last_used_at)
                 SELECT id, ?2, ?3, ?3 FROM users WHERE id = ?1 AND password_hash = ?4",
            )?
            .execute(params![
                credentials.user.id,
                &hash[..],
                now_timestamp(),
                credentials.password_hash
            ])?;
        Ok(inserted == 1)
    }

    fn touch_token(&self, id: i64) -> Result<bool, StoreError> {
        let touched = self
            .conn
            .prepare_cached("UPDATE resume_tokens SET last_used_at = ?2 WHERE id = ?1")?
            .execute(params![id, now_timestamp()])?;
        Ok(touched == 1)
    }

    fn delete_token(&self, hash: &TokenHash) -> Result<bool, StoreError> {
        let deleted = self
            .conn
            .prepare_cached("DELETE FROM resume_tokens WHERE token_hash = ?1")?
            .execute([&hash[..]])?;
        Ok(deleted == 1)
    }

    fn delete_tokens_unused_since(&self, before: &str) -> Result<u32, StoreError> {
        let deleted = self
            .conn
            .prepare_cached("DELETE FROM resume_tokens WHERE last_used_at < ?1")?
            .execute([before])?;
        Ok(deleted as u32)
    }

    fn replace_password(
        &self,
        user: &User,
        password_hash: &str,
        keep: Option<&TokenHash>,
    ) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("UPDATE users SET password_hash = ?2 WHERE id = ?1")?
            .execute(params![user.id, password_hash])?;
        self.conn
            .prepare_cached(
                "DELETE FROM resume_tokens WHERE user_id = ?1 AND token_hash IS NOT ?2",
            )?
            .execute(params![user.id, keep.map(|keep| &keep[..])])?;
        self.record(|| Change::TokensRevoked {
            user_id: user.id,
            keep: keep.copied(),
        });
        Ok(())
    }
}

/// The FTS5 form of a parsed search: every term quoted, so that no user
/// input is ever FTS5 syntax, and folded as the index's text is. Terms hold
/// only letters and digits.
fn fts5_query(query: &SearchQuery) -> String {
    query
        .terms
        .iter()
        .map(fts5_term)
        .collect::<Vec<_>>()
        .join(" ")
}

/// One term in FTS5's syntax: a phrase is its words joined by `+`, each
/// quoted, a prefix followed by `*`.
fn fts5_term(term: &SearchTerm) -> String {
    match term {
        SearchTerm::Word(word) => quoted(word),
        SearchTerm::Prefix(start) => format!("{} *", quoted(start)),
        SearchTerm::Phrase(terms) => terms.iter().map(fts5_term).collect::<Vec<_>>().join(" + "),
    }
}

/// An FTS5 string of `words` folded. Folding letters yields no `"` (a
/// full-width one is punctuation, never in a term), but it is doubled all
/// the same.
fn quoted(words: &str) -> String {
    format!("\"{}\"", fold(words).replace('"', "\"\""))
}

fn user_from_row(row: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: row.get("id")?,
        username: row.get("username")?,
        guest: row.get("guest")?,
    })
}

fn room_from_row(row: &Row<'_>) -> rusqlite::Result<Room> {
    Ok(Room {
        id: row.get("id")?,
        name: row.get("name")?,
        created_by: row.get("created_by")?,
    })
}

fn unread_from_row(row: &Row<'_>) -> rusqlite::Result<UnreadEntry> {
    Ok(UnreadEntry {
        unread: Unread {
            room: row.get("room")?,
            unread: row.get("unread")?,
            last_read_id: row.get("last_read_id")?,
            last_id: row.get("last_id")?,
        },
        guest: row.get("guest_id")?,
    })
}

/// A row of a place's page (`place_select!` in `messages`), in the place.
fn place_message_from_row(place: &Place, row: &Row<'_>) -> rusqlite::Result<Message> {
    let (room, to) = place.address(row.get(6)?);
    Ok(Message {
        id: row.get(0)?,
        room,
        to,
        username: row.get(1)?,
        text: row.get(2)?,
        sent_at: row.get(3)?,
        edited_at: row.get(4)?,
        guest: row.get(5)?,
    })
}

/// A row of `message_select!`, by position, in its order: a search maps up
/// to `limit` rows of 14 columns, and finding a column by name compares it
/// with every name. (A page of history reads fewer columns:
/// `place_message_from_row`.)
fn stored_message_from_row(row: &Row<'_>) -> rusqlite::Result<StoredMessage> {
    Ok(MessageColumns {
        id: row.get(0)?,
        room: row.get(1)?,
        recipient: row.get(2)?,
        username: row.get(3)?,
        text: row.get(4)?,
        sent_at: row.get(5)?,
        edited_at: row.get(6)?,
        user_id: row.get(7)?,
        room_id: row.get(8)?,
        room_owner: row.get(9)?,
        guest: row.get(10)?,
        conversation_id: row.get(11)?,
        user_low: row.get(12)?,
        user_high: row.get(13)?,
    }
    .into_stored())
}
