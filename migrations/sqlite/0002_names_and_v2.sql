-- pipechat schema, version 2: protocol version 2 (resume tokens, direct
-- messages, editing and deleting, search, read positions, topics, retention)
-- and readable views of memberships and direct messages.
--
-- Runs inside one transaction with the version bump; every version 1 row is
-- kept with its id.

-- Memberships keep their rows; `memberships` becomes the readable view with
-- names, like `history`:
--   sqlite3 chat.db "select * from memberships where room = 'general'"
ALTER TABLE memberships RENAME TO room_members;
DROP INDEX memberships_by_user;
CREATE INDEX room_members_by_user ON room_members (user_id, room_id);

-- Rooms: a topic, a retention period (0 keeps messages forever), and counters
-- that make unread counts cheap (see `room_members` below).
ALTER TABLE chatrooms ADD COLUMN topic TEXT NOT NULL DEFAULT '';
ALTER TABLE chatrooms ADD COLUMN retention_days INTEGER NOT NULL DEFAULT 0;
-- How many messages the room holds now, and the id of the newest (0: none).
ALTER TABLE chatrooms ADD COLUMN message_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE chatrooms ADD COLUMN last_message_id INTEGER NOT NULL DEFAULT 0;

-- A member's read position, and how many of the room's messages are at or
-- before it: unread = chatrooms.message_count - read_count, with no scan of
-- the messages.
ALTER TABLE room_members ADD COLUMN last_read_id INTEGER NOT NULL DEFAULT 0;
ALTER TABLE room_members ADD COLUMN read_count INTEGER NOT NULL DEFAULT 0;

-- A direct conversation between two users (or one user's notes to self),
-- created by its first message. user_low <= user_high, so a pair has one row.
CREATE TABLE conversations (
    id              INTEGER PRIMARY KEY,
    user_low        INTEGER NOT NULL REFERENCES users (id),
    user_high       INTEGER NOT NULL REFERENCES users (id),
    created_at      TEXT NOT NULL,
    message_count   INTEGER NOT NULL DEFAULT 0,
    last_message_id INTEGER NOT NULL DEFAULT 0,
    UNIQUE (user_low, user_high),
    CHECK (user_low <= user_high)
);
CREATE INDEX conversations_by_high ON conversations (user_high);

-- Each participant's read position in a conversation, as in room_members.
CREATE TABLE conversation_members (
    conversation_id INTEGER NOT NULL REFERENCES conversations (id),
    user_id         INTEGER NOT NULL REFERENCES users (id),
    last_read_id    INTEGER NOT NULL DEFAULT 0,
    read_count      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (conversation_id, user_id)
) WITHOUT ROWID;
CREATE INDEX conversation_members_by_user ON conversation_members (user_id, conversation_id);

-- Messages now belong to a room or to a conversation, and may be edited. The
-- table is rebuilt because a column cannot become nullable in place; ids and
-- the AUTOINCREMENT sequence are kept, so no id is ever reused.
DROP VIEW history;
CREATE TABLE messages_v2 (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    room_id         INTEGER REFERENCES chatrooms (id),
    conversation_id INTEGER REFERENCES conversations (id),
    user_id         INTEGER NOT NULL REFERENCES users (id),
    text            TEXT NOT NULL,
    sent_at         TEXT NOT NULL,
    -- When the text was last changed; NULL if never.
    edited_at       TEXT,
    CHECK ((room_id IS NULL) <> (conversation_id IS NULL))
);
INSERT INTO messages_v2 (id, room_id, user_id, text, sent_at)
SELECT id, room_id, user_id, text, sent_at FROM messages ORDER BY id;
INSERT INTO sqlite_sequence (name, seq)
SELECT 'messages_v2', seq FROM sqlite_sequence
WHERE name = 'messages'
  AND NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'messages_v2');
UPDATE sqlite_sequence
SET seq = max(seq, coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'messages'), 0))
WHERE name = 'messages_v2';
DROP TABLE messages;
ALTER TABLE messages_v2 RENAME TO messages;
CREATE INDEX messages_by_room ON messages (room_id, id);
CREATE INDEX messages_by_conversation ON messages (conversation_id, id);

-- Counters of the existing rooms; upgraded members have read everything.
UPDATE chatrooms
SET message_count   = (SELECT count(*) FROM messages WHERE room_id = chatrooms.id),
    last_message_id = coalesce((SELECT max(id) FROM messages WHERE room_id = chatrooms.id), 0);
UPDATE room_members
SET last_read_id = (SELECT last_message_id FROM chatrooms WHERE id = room_members.room_id),
    read_count   = (SELECT message_count FROM chatrooms WHERE id = room_members.room_id);

-- Full-text search: an external-content FTS5 index over messages.text, kept
-- in step by triggers in the same transaction. `remove_diacritics 2` makes
-- `cafe` find `Café`; `secure-delete` removes a deleted message's words from
-- the index itself, not only from results.
CREATE VIRTUAL TABLE messages_fts USING fts5 (
    text,
    content = 'messages',
    content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2'
);
INSERT INTO messages_fts (messages_fts, rank) VALUES ('secure-delete', 1);
INSERT INTO messages_fts (messages_fts) VALUES ('rebuild');
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts (rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF text ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.id, old.text);
    INSERT INTO messages_fts (rowid, text) VALUES (new.id, new.text);
END;

-- Resume tokens: only a SHA-256 of each token is kept. A token expires 30
-- days after its last use.
CREATE TABLE resume_tokens (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users (id),
    token_hash   BLOB NOT NULL UNIQUE,
    created_at   TEXT NOT NULL,
    last_used_at TEXT NOT NULL
);
CREATE INDEX resume_tokens_by_user ON resume_tokens (user_id);

-- Who said what, when, in which room:
--   sqlite3 chat.db "select * from history where room = 'general'"
CREATE VIEW history AS
SELECT m.id        AS id,
       c.name      AS room,
       u.username  AS username,
       m.text      AS text,
       m.sent_at   AS sent_at,
       m.edited_at AS edited_at
FROM messages m
JOIN chatrooms c ON c.id = m.room_id
JOIN users u ON u.id = m.user_id;

-- Who wrote to whom:
--   sqlite3 chat.db "select * from direct_messages where sender = 'alice'"
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
       r.joined_at AS joined_at
FROM room_members r
JOIN chatrooms c ON c.id = r.room_id
JOIN users u ON u.id = r.user_id;
