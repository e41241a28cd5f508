-- pipechat schema on PostgreSQL, version 8: a `pg_dump` of the database
-- restores.
--
-- `pg_dump` and `pg_restore` run with an empty `search_path`, and the
-- generated column `messages.words` calls `pipechat_search_text`, whose
-- body called `pipechat_unaccent` unqualified: restoring `messages` failed
-- ("function pipechat_unaccent(text) does not exist"), leaving a database
-- without its messages. The body now names its schema, as
-- `pipechat_unaccent`'s own body always did. It computes the same text, so
-- no stored row changes.

CREATE OR REPLACE FUNCTION pipechat_search_text(text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    AS $$ SELECT regexp_replace(
              regexp_replace(public.pipechat_unaccent($1), '[[:punct:]]+', ' ', 'g'),
              '((?:[^[:space:]]{250}){2})[^[:space:]]+', '\1', 'g') $$;
