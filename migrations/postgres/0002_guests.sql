-- pipechat schema on PostgreSQL, version 2: guests of the IRC front door,
-- as version 3 of the SQLite schema (see migrations/sqlite/0003_guests.sql):
-- a guest is a row of `users` with `guest`, no password, never found by an
-- account's name; account names stay unique without regard to case, guest
-- names may repeat (one row per guest session).
ALTER TABLE users ADD COLUMN guest BOOLEAN NOT NULL DEFAULT FALSE;
DROP INDEX users_by_name;
CREATE UNIQUE INDEX users_by_name ON users (lower(username)) WHERE NOT guest;
CREATE INDEX users_guest_by_name ON users (lower(username)) WHERE guest;

CREATE OR REPLACE VIEW history AS
SELECT m.id, c.name AS room, u.username, m.text, m.sent_at, m.edited_at, u.guest
FROM messages m
JOIN chatrooms c ON c.id = m.room_id
JOIN users u ON u.id = m.user_id;

CREATE OR REPLACE VIEW memberships AS
SELECT c.name AS room, u.username, r.joined_at, u.guest
FROM room_members r
JOIN chatrooms c ON c.id = r.room_id
JOIN users u ON u.id = r.user_id;
