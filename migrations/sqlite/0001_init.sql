-- pipechat schema, version 1.
--
-- Timestamps are UTC text in RFC 3339 with milliseconds ('2026-11-24T17:37:42.123Z'),
-- so that `sqlite3 chat.db` shows them readably and they sort as they happened.

-- Marks the file as a pipechat database ('pcht'), so the server can refuse others.
PRAGMA application_id = 1885562996;

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    -- Shown as registered; unique without regard to case (usernames are ASCII).
    username      TEXT NOT NULL UNIQUE COLLATE NOCASE,
    -- An Argon2id PHC string ('$argon2id$v=19$m=19456,t=2,p=1$...'), never plaintext.
    password_hash TEXT NOT NULL,
    created_at    TEXT NOT NULL
);

CREATE TABLE chatrooms (
    id         INTEGER PRIMARY KEY,
    -- Shown as created.
    name       TEXT NOT NULL COLLATE NOCASE,
    -- Unicode lower case of name: NOCASE folds only ASCII, this folds all.
    name_key   TEXT NOT NULL UNIQUE,
    created_by INTEGER NOT NULL REFERENCES users (id),
    created_at TEXT NOT NULL
);

CREATE TABLE memberships (
    room_id   INTEGER NOT NULL REFERENCES chatrooms (id),
    user_id   INTEGER NOT NULL REFERENCES users (id),
    joined_at TEXT NOT NULL,
    PRIMARY KEY (room_id, user_id)
) WITHOUT ROWID;

CREATE INDEX memberships_by_user ON memberships (user_id, room_id);

CREATE TABLE messages (
    -- AUTOINCREMENT: an id is never reused, so ids only ever increase.
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    room_id INTEGER NOT NULL REFERENCES chatrooms (id),
    user_id INTEGER NOT NULL REFERENCES users (id),
    text    TEXT NOT NULL,
    sent_at TEXT NOT NULL
);

-- Makes "messages of a room after/before an id" a range scan.
CREATE INDEX messages_by_room ON messages (room_id, id);

-- Who said what, when, in which room:
--   sqlite3 chat.db "select * from history where room = 'general'"
CREATE VIEW history AS
SELECT m.id      AS id,
       c.name    AS room,
       u.username AS username,
       m.text    AS text,
       m.sent_at AS sent_at
FROM messages m
JOIN chatrooms c ON c.id = m.room_id
JOIN users u ON u.id = m.user_id;
