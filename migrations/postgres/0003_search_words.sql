-- pipechat schema (PostgreSQL), version 3: search splits text into words the
-- way the protocol says, "runs of letters and digits", as SQLite's FTS5
-- tokenizer does.
--
-- PostgreSQL's text search parser keeps hosts, e-mail addresses, versions
-- and numbers with a point as one token (`example.com`, `bob@example.com`,
-- `v1.2.3`, `3.14`), so `example` did not find `see example.com`. Every run
-- of punctuation now becomes a space before the text is parsed; a query's
-- words are made the same way (`search` in src/store/postgres/queries.rs).
-- Adding the column again rewrites the messages table once.

CREATE FUNCTION pipechat_search_text(text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    AS $$ SELECT regexp_replace(pipechat_unaccent($1), '[[:punct:]]+', ' ', 'g') $$;

DROP INDEX messages_words;
ALTER TABLE messages DROP COLUMN words;
ALTER TABLE messages ADD COLUMN words TSVECTOR GENERATED ALWAYS AS
    (to_tsvector('simple', pipechat_search_text(text))) STORED;
CREATE INDEX messages_words ON messages USING gin (words);
