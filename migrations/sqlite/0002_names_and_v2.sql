-- pipechat schema, version 2.

-- The membership rows keep their ids; `memberships` becomes the readable view
-- with names, like `history`:
--   sqlite3 chat.db "select * from memberships where room = 'general'"
ALTER TABLE memberships RENAME TO room_members;
DROP INDEX memberships_by_user;
CREATE INDEX room_members_by_user ON room_members (user_id, room_id);

CREATE VIEW memberships AS
SELECT c.name      AS room,
       u.username  AS username,
       r.joined_at AS joined_at
FROM room_members r
JOIN chatrooms c ON c.id = r.room_id
JOIN users u ON u.id = r.user_id;
