-- pipechat schema, version 7: who last set each room's topic, and when (RFC
-- 3339), which IRC clients show on joining a channel (RPL_TOPICWHOTIME,
-- 333). The name is kept as it was then, as IRC keeps a nick: a guest's
-- nick may later be someone else's. Both are empty while there is no topic,
-- and for topics set before this version.
ALTER TABLE chatrooms ADD COLUMN topic_set_by TEXT NOT NULL DEFAULT '';
ALTER TABLE chatrooms ADD COLUMN topic_set_at TEXT NOT NULL DEFAULT '';
