-- pipechat schema, version 5: where each member's read position was when
-- they left a room, so that joining it again goes on from there.
--
-- `unread` counts the messages after the read position that others sent.
-- Sending moves the author's position to their message, so while they are
-- a member their own messages are all at or before it. A member who left
-- and joined again used to start from 0, and their own earlier messages
-- counted as unread; from the position they left at, they never do.
CREATE TABLE room_departures (
    room_id      INTEGER NOT NULL REFERENCES chatrooms (id),
    user_id      INTEGER NOT NULL REFERENCES users (id),
    last_read_id INTEGER NOT NULL,
    PRIMARY KEY (room_id, user_id)
) WITHOUT ROWID;
