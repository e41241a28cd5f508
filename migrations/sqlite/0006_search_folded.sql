-- pipechat schema, version 6: the search index holds each message's text
-- folded by the server (`pipechat_fold`, src/store/sqlite/fold.rs), so that
-- search ignores the accents of every script: FTS5's unicode61 tokenizer
-- strips only those of Latin letters (`αλφα` did not find `άλφα`).
--
-- Only messages whose folded text differs (some non-ASCII letter) are
-- indexed again; for the rest the index is already what folding gives.
-- The triggers fold the old and new text, so changing `messages` takes a
-- connection with the function: the server's, not a plain `sqlite3` shell.

DROP TRIGGER messages_fts_delete;
DROP TRIGGER messages_fts_update;

CREATE TEMP TABLE refolded AS
SELECT id, text FROM messages
WHERE id <= (SELECT last_message_id FROM search_indexed) AND text <> pipechat_fold(text);
INSERT INTO messages_fts (messages_fts, rowid, text)
SELECT 'delete', id, text FROM refolded;
INSERT INTO messages_fts (rowid, text)
SELECT id, pipechat_fold(text) FROM refolded;
DROP TABLE refolded;

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
