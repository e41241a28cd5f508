-- pipechat schema on PostgreSQL, version 7: a word longer than PostgreSQL
-- can index is searchable by its start, as on SQLite.
--
-- `to_tsvector` skips a word longer than 2,047 bytes (with a NOTICE, which
-- each such message wrote to the node's log), so `abc*` did not find a
-- message holding `abcabcabc...` 3,000 characters long, which SQLite's FTS5
-- finds. Each run of more than 500 characters without white space (at most
-- 2,000 bytes) is now cut to its first 500 before it is parsed, in the text
-- and, through the same function, in a query's words. The messages holding
-- such a run are written again, so their search column is made anew.

CREATE OR REPLACE FUNCTION pipechat_search_text(text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    AS $$ SELECT regexp_replace(
              regexp_replace(pipechat_unaccent($1), '[[:punct:]]+', ' ', 'g'),
              '((?:[^[:space:]]{250}){2})[^[:space:]]+', '\1', 'g') $$;

-- (A regular expression counts to 255 at most: 500 is twice 250.)
-- Unaccenting may lengthen a run (ß is ss), so the runs are looked for in
-- the unaccented text, as the function cuts them.
UPDATE messages SET text = text
WHERE pipechat_unaccent(text) ~ '(?:[^[:space:]]{250}){2}[^[:space:]]';
