-- pipechat schema, version 6: the search index holds each message's text
-- folded by the server (`pipechat_fold`, src/store/sqlite/fold.rs), so that
-- search ignores the accents of every script: FTS5's unicode61 tokenizer
-- strips only those of Latin letters (`αλφα` did not find `άλφα`).
--
-- The index is written again whole, every indexed message's text folded.
-- Only messages with some non-ASCII letter change, but taking each out of
-- the index alone (FTS5's 'delete', with secure-delete on) cost about
-- 95 µs per message, a start of minutes for a few million messages written
-- in French or German; emptying the index and writing it again is about
-- 6 µs per message, whatever the language.
-- The triggers fold the old and new text, so changing `messages` takes a
-- connection with the function: the server's, not a plain `sqlite3` shell.

DROP TRIGGER messages_fts_delete;
DROP TRIGGER messages_fts_update;

INSERT INTO messages_fts (messages_fts) VALUES ('delete-all');
INSERT INTO messages_fts (rowid, text)
SELECT id, pipechat_fold(text) FROM messages
WHERE id <= (SELECT last_message_id FROM search_indexed);

CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages
WHEN old.id <= (SELECT last_message_id FROM search_indexed) BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text)
    VALUES ('delete', old.id, pipechat_fold(old.text));
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF text ON messages
WHEN old.id <= (SELECT last_message_id FROM search_indexed) BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text)
    VALUES ('delete', old.id, pipechat_fold(old.text));
    INSERT INTO messages_fts (rowid, text) VALUES (new.id, pipechat_fold(new.text));
END;
