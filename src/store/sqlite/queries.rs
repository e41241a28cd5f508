//! Every SQL statement of the store, as the [`Reads`] and [`Writes`] of one
//! connection.
//!
//! Statements are cached per connection, so the hot ones are prepared once.
//! Parameters are always bound, never formatted into SQL. Each row type is
//! read from its columns by name in one place (`*_from_row`).

use std::cell::RefCell;

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::store::{
    Change, Credentials, Page, Reads, Room, StoreError, User, Writes, now_timestamp, room_key,
};
use crate::wire::{Membership, Message};

/// One connection seen through the store's surface, with the changes its
/// writes made so far.
pub(super) struct SqliteTx<'c> {
    conn: &'c Connection,
    /// `None` where nobody will hear of the changes (reads, seeding).
    changes: Option<RefCell<Vec<Change>>>,
}

impl<'c> SqliteTx<'c> {
    /// For reads and seeding: changes are not kept.
    pub(super) fn reading(conn: &'c Connection) -> SqliteTx<'c> {
        SqliteTx {
            conn,
            changes: None,
        }
    }

    /// For the writer: changes are kept, to be announced after the commit.
    pub(super) fn recording(conn: &'c Connection) -> SqliteTx<'c> {
        SqliteTx {
            conn,
            changes: Some(RefCell::new(Vec::new())),
        }
    }

    pub(super) fn into_changes(self) -> Vec<Change> {
        self.changes.map(RefCell::into_inner).unwrap_or_default()
    }

    fn record(&self, change: impl FnOnce() -> Change) {
        if let Some(changes) = &self.changes {
            changes.borrow_mut().push(change());
        }
    }
}

impl Reads for SqliteTx<'_> {
    fn find_credentials(&self, username: &str) -> Result<Option<Credentials>, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT id, username, password_hash FROM users WHERE username = ?1")?
            .query_row([username], |row| {
                Ok(Credentials {
                    user: user_from_row(row)?,
                    password_hash: row.get("password_hash")?,
                })
            })
            .optional()?)
    }

    fn find_room(&self, name: &str) -> Result<Option<Room>, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT id, name FROM chatrooms WHERE name_key = ?1")?
            .query_row([room_key(name)], room_from_row)
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

    fn messages(&self, room: &Room, page: Page) -> Result<Vec<Message>, StoreError> {
        const AFTER: &str = "SELECT m.id, u.username, m.text, m.sent_at
             FROM messages m JOIN users u ON u.id = m.user_id
             WHERE m.room_id = ?1 AND m.id > ?2 ORDER BY m.id LIMIT ?3";
        const BEFORE: &str = "SELECT m.id, u.username, m.text, m.sent_at
             FROM messages m JOIN users u ON u.id = m.user_id
             WHERE m.room_id = ?1 AND m.id < ?2 ORDER BY m.id DESC LIMIT ?3";
        // The latest messages are those before an id above every id.
        let (sql, cursor, limit, newest_first) = match page {
            Page::Latest { limit } => (BEFORE, i64::MAX, limit, true),
            Page::After { id, limit } => (AFTER, id, limit, false),
            Page::Before { id, limit } => (BEFORE, id, limit, true),
        };
        let mut messages: Vec<Message> = self
            .conn
            .prepare_cached(sql)?
            .query_map(params![room.id, cursor, limit], |row| {
                message_from_row(row, room)
            })?
            .collect::<Result<_, _>>()?;
        if newest_first {
            messages.reverse();
        }
        Ok(messages)
    }
}

impl Writes for SqliteTx<'_> {
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
        }))
    }

    fn insert_membership(&self, room: &Room, user: &User) -> Result<bool, StoreError> {
        let inserted = self
            .conn
            .prepare_cached(
                "INSERT INTO room_members (room_id, user_id, joined_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT DO NOTHING",
            )?
            .execute(params![room.id, user.id, now_timestamp()])?;
        if inserted == 1 {
            self.record(|| Change::Joined {
                room_id: room.id,
                membership: membership(room, user),
            });
        }
        Ok(inserted == 1)
    }

    fn delete_membership(&self, room: &Room, user: &User) -> Result<bool, StoreError> {
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

    fn insert_message(&self, room: &Room, user: &User, text: &str) -> Result<Message, StoreError> {
        let sent_at = now_timestamp();
        self.conn
            .prepare_cached(
                "INSERT INTO messages (room_id, user_id, text, sent_at) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![room.id, user.id, text, sent_at])?;
        let message = Message {
            id: self.conn.last_insert_rowid(),
            room: room.name.clone(),
            username: user.username.clone(),
            text: text.to_string(),
            sent_at,
        };
        self.record(|| Change::Message {
            room_id: room.id,
            message: message.clone(),
        });
        Ok(message)
    }
}

fn membership(room: &Room, user: &User) -> Membership {
    Membership {
        room: room.name.clone(),
        username: user.username.clone(),
    }
}

fn user_from_row(row: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: row.get("id")?,
        username: row.get("username")?,
    })
}

fn room_from_row(row: &Row<'_>) -> rusqlite::Result<Room> {
    Ok(Room {
        id: row.get("id")?,
        name: row.get("name")?,
    })
}

fn message_from_row(row: &Row<'_>, room: &Room) -> rusqlite::Result<Message> {
    Ok(Message {
        id: row.get("id")?,
        room: room.name.clone(),
        username: row.get("username")?,
        text: row.get("text")?,
        sent_at: row.get("sent_at")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database() -> (
        tempfile::TempDir,
        r2d2::PooledConnection<r2d2_sqlite::SqliteConnectionManager>,
    ) {
        let (dir, pool) = super::super::test_database();
        (dir, pool.get().unwrap())
    }

    #[test]
    fn names_are_unique_without_regard_to_case_and_shown_as_created() {
        let (_dir, conn) = database();
        let db = SqliteTx::reading(&conn);
        let alice = db.insert_user("Alice", "hash").unwrap().unwrap();
        assert_eq!(db.insert_user("aLICE", "other").unwrap(), None);
        let found = db.find_credentials("ALICE").unwrap().unwrap();
        assert_eq!(found.user, alice);
        assert_eq!(found.password_hash, "hash");
        let room = db.insert_room("Ünï Café", alice.id).unwrap().unwrap();
        assert_eq!(db.insert_room("ünï CAFÉ", alice.id).unwrap(), None);
        assert_eq!(db.find_room("ÜNÏ café").unwrap(), Some(room));
        assert_eq!(db.find_room("nowhere").unwrap(), None);
        db.insert_room("b", alice.id).unwrap();
        db.insert_room("A", alice.id).unwrap();
        assert_eq!(db.room_names().unwrap(), ["A", "b", "Ünï Café"]);
    }

    #[test]
    fn memberships_are_recorded_once_and_announced_once() {
        let (_dir, conn) = database();
        let db = SqliteTx::recording(&conn);
        let alice = db.insert_user("alice", "hash").unwrap().unwrap();
        let bob = db.insert_user("Bob", "hash").unwrap().unwrap();
        let room = db.insert_room("general", alice.id).unwrap().unwrap();
        assert!(db.insert_membership(&room, &bob).unwrap());
        assert!(!db.insert_membership(&room, &bob).unwrap());
        assert!(db.insert_membership(&room, &alice).unwrap());
        assert!(db.is_member(room.id, bob.id).unwrap());
        assert_eq!(db.member_names(room.id).unwrap(), ["alice", "Bob"]);
        assert!(db.delete_membership(&room, &bob).unwrap());
        assert!(!db.delete_membership(&room, &bob).unwrap());
        assert!(!db.is_member(room.id, bob.id).unwrap());
        let kinds: Vec<&str> = db
            .into_changes()
            .iter()
            .map(|change| match change {
                Change::Joined { .. } => "joined",
                Change::Left { .. } => "left",
                Change::Message { .. } => "message",
            })
            .collect();
        assert_eq!(kinds, ["joined", "joined", "left"]);
    }

    #[test]
    fn message_pages_are_oldest_first_and_stay_in_their_room() {
        let (_dir, conn) = database();
        let db = SqliteTx::reading(&conn);
        let alice = db.insert_user("alice", "hash").unwrap().unwrap();
        let general = db.insert_room("general", alice.id).unwrap().unwrap();
        let other = db.insert_room("other", alice.id).unwrap().unwrap();
        let mut ids = Vec::new();
        for n in 0..10 {
            ids.push(
                db.insert_message(&general, &alice, &n.to_string())
                    .unwrap()
                    .id,
            );
            db.insert_message(&other, &alice, "elsewhere").unwrap();
        }
        let texts = |page| -> Vec<String> {
            db.messages(&general, page)
                .unwrap()
                .into_iter()
                .map(|m| m.text)
                .collect()
        };
        assert_eq!(texts(Page::Latest { limit: 3 }), ["7", "8", "9"]);
        assert_eq!(
            texts(Page::After {
                id: ids[1],
                limit: 3
            }),
            ["2", "3", "4"]
        );
        assert_eq!(texts(Page::After { id: 0, limit: 2 }), ["0", "1"]);
        assert_eq!(
            texts(Page::Before {
                id: ids[5],
                limit: 2
            }),
            ["3", "4"]
        );
        assert!(
            texts(Page::After {
                id: ids[9],
                limit: 5
            })
            .is_empty()
        );
        let first = &db.messages(&general, Page::Latest { limit: 10 }).unwrap()[0];
        assert_eq!(
            (first.room.as_str(), first.username.as_str()),
            ("general", "alice")
        );
    }
}
