-- pipechat schema on PostgreSQL, version 1: the same data as the SQLite
-- schema version 2 (protocol version 2), for several servers sharing one
-- database. Timestamps are RFC 3339 text in UTC with milliseconds, as on
-- SQLite, so both engines show and compare them the same way.

CREATE EXTENSION IF NOT EXISTS unaccent;

-- unaccent() is only STABLE (it reads a dictionary); a fixed dictionary
-- makes it safe to use in an index, which needs IMMUTABLE.
CREATE FUNCTION pipechat_unaccent(text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    AS $$ SELECT public.unaccent('public.unaccent'::regdictionary, $1) $$;

CREATE TABLE users (
    id            BIGSERIAL PRIMARY KEY,
    -- Shown as registered; unique without regard to case (usernames are ASCII).
    username      TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    TEXT NOT NULL
);
CREATE UNIQUE INDEX users_by_name ON users (lower(username));

CREATE TABLE chatrooms (
    id              BIGSERIAL PRIMARY KEY,
    name            TEXT NOT NULL,
    -- Unicode lower case of name, as the server computes it.
    name_key        TEXT NOT NULL UNIQUE,
    created_by      BIGINT NOT NULL REFERENCES users (id),
    created_at      TEXT NOT NULL,
    topic           TEXT NOT NULL DEFAULT '',
    retention_days  INTEGER NOT NULL DEFAULT 0,
    message_count   BIGINT NOT NULL DEFAULT 0,
    last_message_id BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE room_members (
    room_id      BIGINT NOT NULL REFERENCES chatrooms (id),
    user_id      BIGINT NOT NULL REFERENCES users (id),
    joined_at    TEXT NOT NULL,
    last_read_id BIGINT NOT NULL DEFAULT 0,
    read_count   BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (room_id, user_id)
);
CREATE INDEX room_members_by_user ON room_members (user_id, room_id);

CREATE TABLE conversations (
    id              BIGSERIAL PRIMARY KEY,
    user_low        BIGINT NOT NULL REFERENCES users (id),
    user_high       BIGINT NOT NULL REFERENCES users (id),
    created_at      TEXT NOT NULL,
    message_count   BIGINT NOT NULL DEFAULT 0,
    last_message_id BIGINT NOT NULL DEFAULT 0,
    UNIQUE (user_low, user_high),
    CHECK (user_low <= user_high)
);
CREATE INDEX conversations_by_high ON conversations (user_high);

CREATE TABLE conversation_members (
    conversation_id BIGINT NOT NULL REFERENCES conversations (id),
    user_id         BIGINT NOT NULL REFERENCES users (id),
    last_read_id    BIGINT NOT NULL DEFAULT 0,
    read_count      BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (conversation_id, user_id)
);
CREATE INDEX conversation_members_by_user ON conversation_members (user_id, conversation_id);

-- Ids come from a sequence, so they are unique and never reused, but are not
-- committed in order. Every insert first updates its room's (or
-- conversation's) row, which it then holds locked until it commits: within one
-- room, ids are therefore handed out and committed in the same order.
CREATE TABLE messages (
    id              BIGSERIAL PRIMARY KEY,
    room_id         BIGINT REFERENCES chatrooms (id),
    conversation_id BIGINT REFERENCES conversations (id),
    user_id         BIGINT NOT NULL REFERENCES users (id),
    text            TEXT NOT NULL,
    sent_at         TEXT NOT NULL,
    edited_at       TEXT,
    -- Words without case or accents, for search; words are not stemmed, so
    -- `cat` does not find `category`.
    words           TSVECTOR GENERATED ALWAYS AS
                        (to_tsvector('simple', pipechat_unaccent(text))) STORED,
    CHECK ((room_id IS NULL) <> (conversation_id IS NULL))
);
CREATE INDEX messages_by_room ON messages (room_id, id);
CREATE INDEX messages_by_conversation ON messages (conversation_id, id);
CREATE INDEX messages_words ON messages USING gin (words);

CREATE TABLE resume_tokens (
    id           BIGSERIAL PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES users (id),
    token_hash   BYTEA NOT NULL UNIQUE,
    created_at   TEXT NOT NULL,
    last_used_at TEXT NOT NULL
);
CREATE INDEX resume_tokens_by_user ON resume_tokens (user_id);

-- The servers sharing this database, each with a heartbeat; a server whose
-- heartbeat is older than a few seconds is gone, and its rows with it.
CREATE TABLE nodes (
    id           TEXT PRIMARY KEY,
    heartbeat_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Who is logged in on which server now.
CREATE TABLE node_users (
    node_id  TEXT NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    user_id  BIGINT NOT NULL REFERENCES users (id),
    username TEXT NOT NULL,
    PRIMARY KEY (node_id, user_id)
);

-- Failed logins, shared by every server so that the throttle holds across
-- them; rows older than the throttle's window are deleted.
CREATE TABLE login_failures (
    key       TEXT NOT NULL,
    failed_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX login_failures_by_key ON login_failures (key, failed_at);

CREATE VIEW history AS
SELECT m.id, c.name AS room, u.username, m.text, m.sent_at, m.edited_at
FROM messages m
JOIN chatrooms c ON c.id = m.room_id
JOIN users u ON u.id = m.user_id;

CREATE VIEW direct_messages AS
SELECT m.id, u.username AS sender, r.username AS recipient, m.text, m.sent_at, m.edited_at
FROM messages m
JOIN conversations v ON v.id = m.conversation_id
JOIN users u ON u.id = m.user_id
JOIN users r ON r.id = CASE WHEN v.user_low = m.user_id THEN v.user_high ELSE v.user_low END;

CREATE VIEW memberships AS
SELECT c.name AS room, u.username, r.joined_at
FROM room_members r
JOIN chatrooms c ON c.id = r.room_id
JOIN users u ON u.id = r.user_id;
