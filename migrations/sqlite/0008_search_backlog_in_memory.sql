-- pipechat schema, version 8: one page fewer written per commit.
--
-- Since version 4 the store indexes a transaction's new messages for search
-- just before its commit, and `search_indexed` held the id up to which
-- messages were indexed. That row was rewritten at every commit that stored
-- a message: one page of the WAL more for each message of a lone sender,
-- about a tenth of what such a commit writes. The writer now keeps the ids
-- it stored and has not indexed yet in memory (`SearchBacklog` in
-- src/store/sqlite/queries.rs) and indexes them before the commit, and
-- before any edit or deletion in the same transaction: so every message an
-- edit or deletion touches is in the index, and the triggers no longer ask.
--
-- A database of an earlier version has every message indexed (the mark is
-- written in the transaction that stores the messages); any above the mark
-- are indexed here all the same.

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
