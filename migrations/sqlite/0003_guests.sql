-- pipechat schema, version 3: guests of the IRC front door (`--irc-guests`).
--
-- A guest is a row of `users` with `guest = 1`: it has no password, cannot log
-- in anywhere, and is never found by an account's name. Each guest connection
-- gets a row of its own, so nothing one guest session owned (a room it
-- created, its direct conversations) passes to the next guest taking the same
-- nick. Its messages stay, attributed to its nick and marked by the flag:
--   sqlite3 chat.db "select * from history where guest"
--
-- Account names stay unique without regard to case; guest names may repeat
-- (one row per guest session) and may equal an account registered later.
-- That takes rebuilding `users`, since SQLite cannot drop a column's UNIQUE:
-- the migration runs with foreign keys off and is checked with
-- `PRAGMA foreign_key_check` before it commits (`open.rs`). Ids are kept.

DROP VIEW history;
DROP VIEW direct_messages;
DROP VIEW memberships;

CREATE TABLE users_v3 (
    id            INTEGER PRIMARY KEY,
    -- Shown as registered.
    username      TEXT NOT NULL COLLATE NOCASE,
    -- An Argon2id PHC string; '' for a guest, which nothing ever verifies.
    password_hash TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    guest         INTEGER NOT NULL DEFAULT 0 CHECK (guest IN (0, 1))
);
INSERT INTO users_v3 (id, username, password_hash, created_at)
SELECT id, username, password_hash, created_at FROM users ORDER BY id;
DROP TABLE users;
ALTER TABLE users_v3 RENAME TO users;
-- Accounts: unique without regard to case (the column's NOCASE).
CREATE UNIQUE INDEX users_account_name ON users (username) WHERE guest = 0;
CREATE INDEX users_guest_name ON users (username) WHERE guest = 1;

CREATE VIEW history AS
SELECT m.id        AS id,
       c.name      AS room,
       u.username  AS username,
       m.text      AS text,
       m.sent_at   AS sent_at,
       m.edited_at AS edited_at,
       u.guest     AS guest
FROM messages m
JOIN chatrooms c ON c.id = m.room_id
JOIN users u ON u.id = m.user_id;

CREATE VIEW direct_messages AS
SELECT m.id        AS id,
       u.username  AS sender,
       r.username  AS recipient,
       m.text      AS text,
       m.sent_at   AS sent_at,
       m.edited_at AS edited_at
FROM messages m
JOIN conversations v ON v.id = m.conversation_id
JOIN users u ON u.id = m.user_id
JOIN users r ON r.id = CASE WHEN v.user_low = m.user_id THEN v.user_high ELSE v.user_low END;

CREATE VIEW memberships AS
SELECT c.name      AS room,
       u.username  AS username,
       r.joined_at AS joined_at,
       u.guest     AS guest
FROM room_members r
JOIN chatrooms c ON c.id = r.room_id
JOIN users u ON u.id = r.user_id;
