-- pipechat schema, version 8: two pages fewer written per commit.
--
-- A lone sender's message is one commit, and a commit writes every page it
-- changed to the WAL: about ten. Two of them were bookkeeping rows rewritten
-- at every commit, and go:
--
-- 1. `search_indexed`. Since version 4 the store indexes a transaction's new
--    messages for search just before its commit, and this row held the id up
--    to which messages were indexed. The writer now keeps the ids it stored
--    and has not indexed yet in memory (`SearchBacklog` in
--    src/store/sqlite/queries.rs) and indexes them before the commit, and
--    before any edit or deletion in the same transaction: every message an
--    edit or deletion touches is then in the index, and the triggers no
--    longer ask. A database of an earlier version has every message indexed
--    (the mark was written in the transaction that stored the messages); any
--    above the mark are indexed here all the same.
--
-- 2. The `messages` row of `sqlite_sequence`. AUTOINCREMENT rewrote it at
--    every insert, to keep a deleted newest id from being handed out again.
--    `message_ids.high_water` does that job instead, written only when a
--    message above it is deleted (by the trigger below); a new message takes
--    the id after both the newest message and the high-water mark
--    (`insert_message` in src/store/sqlite/queries.rs). So ids are still
--    never reused.
--
--    Dropping AUTOINCREMENT changes only the table's declaration, not a byte
--    of its rows or its B-tree: the declaration is edited in place, as
--    SQLite's documentation allows for changes that "do not affect the
--    on-disk content in any way" (https://sqlite.org/lang_altertable.html,
--    "Making other kinds of table schema changes"), instead of copying a
--    table of millions of rows. The whole migration takes well under a second.

DROP TRIGGER messages_fts_delete;
DROP TRIGGER messages_fts_update;

INSERT INTO messages_fts (rowid, text)
SELECT id, pipechat_fold(text) FROM messages
WHERE id > (SELECT last_message_id FROM search_indexed);
DROP TABLE search_indexed;

CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text)
    VALUES ('delete', old.id, pipechat_fold(old.text));
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF text ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text)
    VALUES ('delete', old.id, pipechat_fold(old.text));
    INSERT INTO messages_fts (rowid, text) VALUES (new.id, pipechat_fold(new.text));
END;

-- The highest message id ever handed out whose message was deleted since,
-- if above every message there is now (0: none yet).
CREATE TABLE message_ids (
    only       INTEGER PRIMARY KEY CHECK (only = 1),
    high_water INTEGER NOT NULL
);
INSERT INTO message_ids (only, high_water)
VALUES (1, coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'messages'), 0));
CREATE TRIGGER messages_high_water AFTER DELETE ON messages
WHEN old.id > (SELECT high_water FROM message_ids) BEGIN
    UPDATE message_ids SET high_water = old.id;
END;

-- The declaration without AUTOINCREMENT. The statements above that create
-- and drop triggers and a table move the schema's version on, so every
-- other connection reads the new declaration; `RESET` makes this one read
-- it again at once, so that nothing after it in the migration inserts
-- messages as AUTOINCREMENT did.
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
SET sql = replace(sql, 'INTEGER PRIMARY KEY AUTOINCREMENT', 'INTEGER PRIMARY KEY')
WHERE type = 'table' AND name = 'messages';
PRAGMA writable_schema = RESET;
DELETE FROM sqlite_sequence WHERE name = 'messages';
