-- pipechat schema on PostgreSQL, version 9: chatroom names unique under full
-- Unicode case folding (`Straße` and `STRASSE`, `ΣΣ` and `σσ` are one room),
-- not lower case alone.
--
-- The keys are made in code (`src/store/names.rs`, from
-- `src/store/postgres/folded_names.rs`), in the same transaction as this
-- script and again at every start after it: a node of schema 8 still
-- running beside the migrated database keys the rooms it creates by lower
-- case, and the next node to start makes those keys again. The version
-- number itself keeps a node of schema 8 from starting on it.

COMMENT ON COLUMN chatrooms.name_key IS
    'full Unicode case folding of name (src/store/names.rs, room_key), made by the server';
