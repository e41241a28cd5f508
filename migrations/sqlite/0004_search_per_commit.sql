-- pipechat schema, version 4: fewer pages written per message.
--
-- Each commit writes every page it changed to the WAL, and with one message
-- per commit (a lone sender) that page count is the cost of a message. This
-- version takes three pages off it and stops the search index from writing
-- a segment per message under load.
--
-- 1. The search index is written once per commit. Version 2 indexed each
--    message by a trigger as it was inserted. FTS5 keeps new entries in
--    memory until the transaction ends, but also writes them out as a segment
--    of their own at every savepoint, and the writer opens one per request: a
--    group commit of 30 messages wrote 30 one-message segments and then merged
--    them, a sixth of the server's time under load. Now the store indexes
--    every message above `search_indexed.last_message_id` just before each
--    commit, in the same transaction (`index_new_messages` in
--    src/store/sqlite/queries.rs), so search still sees a message as soon as
--    its sender is answered. Ids come from AUTOINCREMENT and are never reused,
--    so "above the mark" is exactly "not indexed yet". Edits and deletions of
--    messages already indexed still go through triggers; those of messages
--    not indexed yet need nothing: the catch-up reads the row as it is then.
-- 2. The index keeps no per-message word counts (`columnsize = 0`): they serve
--    only ranking by relevance, and results come newest first. The index is
--    rebuilt for that, once, here: on a large database this start takes a
--    while (about a minute per few million messages).
-- 3. The indexes by room and by conversation leave out the rows where that
--    column is NULL: a room message no longer adds an entry to the
--    conversation index, nor a direct message to the room index.

CREATE TABLE search_indexed (
    only            INTEGER PRIMARY KEY CHECK (only = 1),
    last_message_id INTEGER NOT NULL
);
INSERT INTO search_indexed (only, last_message_id)
VALUES (1, coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'messages'), 0));

DROP TRIGGER messages_fts_insert;
DROP TRIGGER messages_fts_delete;
DROP TRIGGER messages_fts_update;
DROP TABLE messages_fts;
CREATE VIRTUAL TABLE messages_fts USING fts5 (
    text,
    content = 'messages',
    content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2',
    columnsize = 0
);
INSERT INTO messages_fts (messages_fts, rank) VALUES ('secure-delete', 1);
INSERT INTO messages_fts (messages_fts) VALUES ('rebuild');
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages
WHEN old.id <= (SELECT last_message_id FROM search_indexed) BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF text ON messages
WHEN old.id <= (SELECT last_message_id FROM search_indexed) BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.id, old.text);
    INSERT INTO messages_fts (rowid, text) VALUES (new.id, new.text);
END;

DROP INDEX messages_by_room;
DROP INDEX messages_by_conversation;
CREATE INDEX messages_by_room ON messages (room_id, id) WHERE room_id IS NOT NULL;
CREATE INDEX messages_by_conversation ON messages (conversation_id, id)
WHERE conversation_id IS NOT NULL;
