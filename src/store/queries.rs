//! One function per SQL statement.
//!
//! Every function takes a plain `&Connection`: reads run on a pooled
//! connection, writes run inside the writer's group transaction. Statements
//! are cached per connection, so the hot ones are prepared once.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{Credentials, Room, User};
use crate::limits::room_key;
use crate::protocol::Message;

/// The user registered under `username`, compared without regard to case.
pub fn find_credentials(
    conn: &Connection,
    username: &str,
) -> rusqlite::Result<Option<Credentials>> {
    conn.prepare_cached("SELECT id, username, password_hash FROM users WHERE username = ?1")?
        .query_row([username], |row| {
            Ok(Credentials {
                user: User {
                    id: row.get("id")?,
                    username: row.get("username")?,
                },
                password_hash: row.get("password_hash")?,
            })
        })
        .optional()
}

/// Adds a user; `None` when the name is taken (in any case).
pub fn insert_user(
    conn: &Connection,
    username: &str,
    password_hash: &str,
    now: &str,
) -> rusqlite::Result<Option<User>> {
    let inserted = conn
        .prepare_cached(
            "INSERT INTO users (username, password_hash, created_at) VALUES (?1, ?2, ?3)
             ON CONFLICT DO NOTHING",
        )?
        .execute(params![username, password_hash, now])?;
    Ok((inserted == 1).then(|| User {
        id: conn.last_insert_rowid(),
        username: username.to_string(),
    }))
}

/// The chatroom called `name`, compared without regard to case.
pub fn find_room(conn: &Connection, name: &str) -> rusqlite::Result<Option<Room>> {
    conn.prepare_cached("SELECT id, name FROM chatrooms WHERE name_key = ?1")?
        .query_row([room_key(name)], |row| {
            Ok(Room {
                id: row.get("id")?,
                name: row.get("name")?,
            })
        })
        .optional()
}

/// Adds a chatroom; `None` when the name is taken (in any case).
pub fn insert_room(
    conn: &Connection,
    name: &str,
    created_by: i64,
    now: &str,
) -> rusqlite::Result<Option<Room>> {
    let inserted = conn
        .prepare_cached(
            "INSERT INTO chatrooms (name, name_key, created_by, created_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT DO NOTHING",
        )?
        .execute(params![name, room_key(name), created_by, now])?;
    Ok((inserted == 1).then(|| Room {
        id: conn.last_insert_rowid(),
        name: name.to_string(),
    }))
}

/// Every chatroom's name, sorted without regard to case.
pub fn room_names(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    conn.prepare_cached("SELECT name FROM chatrooms ORDER BY name_key, id")?
        .query_map([], |row| row.get(0))?
        .collect()
}

/// The usernames of a room's members, sorted without regard to case.
pub fn member_names(conn: &Connection, room_id: i64) -> rusqlite::Result<Vec<String>> {
    conn.prepare_cached(
        "SELECT u.username FROM room_members m JOIN users u ON u.id = m.user_id
         WHERE m.room_id = ?1 ORDER BY u.username COLLATE NOCASE, u.id",
    )?
    .query_map([room_id], |row| row.get(0))?
    .collect()
}

pub fn is_member(conn: &Connection, room_id: i64, user_id: i64) -> rusqlite::Result<bool> {
    conn.prepare_cached("SELECT 1 FROM room_members WHERE room_id = ?1 AND user_id = ?2")?
        .exists([room_id, user_id])
}

/// Makes a user a member; `false` when they already were.
pub fn insert_membership(
    conn: &Connection,
    room_id: i64,
    user_id: i64,
    now: &str,
) -> rusqlite::Result<bool> {
    let inserted = conn
        .prepare_cached(
            "INSERT INTO room_members (room_id, user_id, joined_at) VALUES (?1, ?2, ?3)
             ON CONFLICT DO NOTHING",
        )?
        .execute(params![room_id, user_id, now])?;
    Ok(inserted == 1)
}

/// Ends a membership; `false` when there was none.
pub fn delete_membership(conn: &Connection, room_id: i64, user_id: i64) -> rusqlite::Result<bool> {
    let deleted = conn
        .prepare_cached("DELETE FROM room_members WHERE room_id = ?1 AND user_id = ?2")?
        .execute([room_id, user_id])?;
    Ok(deleted == 1)
}

/// Stores a message and returns it with its new id.
pub fn insert_message(
    conn: &Connection,
    room: &Room,
    user: &User,
    text: &str,
    now: &str,
) -> rusqlite::Result<Message> {
    conn.prepare_cached(
        "INSERT INTO messages (room_id, user_id, text, sent_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![room.id, user.id, text, now])?;
    Ok(Message {
        id: conn.last_insert_rowid(),
        room: room.name.clone(),
        username: user.username.clone(),
        text: text.to_string(),
        sent_at: now.to_string(),
    })
}

/// The latest `limit` messages of a room, oldest first.
pub fn fetch_latest_messages(
    conn: &Connection,
    room: &Room,
    limit: u32,
) -> rusqlite::Result<Vec<Message>> {
    let mut messages = collect_messages(
        conn,
        "SELECT m.id, u.username, m.text, m.sent_at FROM messages m JOIN users u ON u.id = m.user_id
         WHERE m.room_id = ?1 ORDER BY m.id DESC LIMIT ?2",
        room,
        params![room.id, limit],
    )?;
    messages.reverse();
    Ok(messages)
}

/// Up to `limit` messages of a room with an id above `after_id`, oldest first.
pub fn fetch_messages_after(
    conn: &Connection,
    room: &Room,
    after_id: i64,
    limit: u32,
) -> rusqlite::Result<Vec<Message>> {
    collect_messages(
        conn,
        "SELECT m.id, u.username, m.text, m.sent_at FROM messages m JOIN users u ON u.id = m.user_id
         WHERE m.room_id = ?1 AND m.id > ?2 ORDER BY m.id LIMIT ?3",
        room,
        params![room.id, after_id, limit],
    )
}

/// The latest `limit` messages of a room with an id below `before_id`, oldest first.
pub fn fetch_messages_before(
    conn: &Connection,
    room: &Room,
    before_id: i64,
    limit: u32,
) -> rusqlite::Result<Vec<Message>> {
    let mut messages = collect_messages(
        conn,
        "SELECT m.id, u.username, m.text, m.sent_at FROM messages m JOIN users u ON u.id = m.user_id
         WHERE m.room_id = ?1 AND m.id < ?2 ORDER BY m.id DESC LIMIT ?3",
        room,
        params![room.id, before_id, limit],
    )?;
    messages.reverse();
    Ok(messages)
}

fn collect_messages(
    conn: &Connection,
    sql: &str,
    room: &Room,
    params: &[&dyn rusqlite::ToSql],
) -> rusqlite::Result<Vec<Message>> {
    conn.prepare_cached(sql)?
        .query_map(params, |row| message_from_row(row, room))?
        .collect()
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
