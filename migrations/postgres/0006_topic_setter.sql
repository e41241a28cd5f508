-- pipechat schema on PostgreSQL, version 6: who last set each room's topic,
-- and when (see the SQLite migration of the same name).
ALTER TABLE chatrooms ADD COLUMN topic_set_by TEXT NOT NULL DEFAULT '';
ALTER TABLE chatrooms ADD COLUMN topic_set_at TEXT NOT NULL DEFAULT '';
