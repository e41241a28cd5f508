-- pipechat schema on PostgreSQL, version 5: where each member's read
-- position was when they left a room, so that joining it again goes on from
-- there (see the SQLite migration of the same name: a member's own messages
-- are all at or before their position, so they never count as unread).
CREATE TABLE room_departures (
    room_id      BIGINT NOT NULL REFERENCES chatrooms (id),
    user_id      BIGINT NOT NULL REFERENCES users (id),
    last_read_id BIGINT NOT NULL,
    PRIMARY KEY (room_id, user_id)
);
