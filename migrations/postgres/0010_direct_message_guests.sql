-- pipechat schema on PostgreSQL, version 10: the `direct_messages` view says
-- which side of a conversation is an IRC guest, as SQLite's version 11
-- (migrations/sqlite/0011_direct_message_guests.sql) and as `history` and
-- `memberships` have since version 2: an account may later have the name a
-- guest wrote under. The columns are added at the end, so the view is
-- replaced in place: grants on it and views built on it stay.
CREATE OR REPLACE VIEW direct_messages AS
SELECT m.id, u.username AS sender, r.username AS recipient, m.text, m.sent_at, m.edited_at,
       u.guest AS sender_guest, r.guest AS recipient_guest
FROM messages m
JOIN conversations v ON v.id = m.conversation_id
JOIN users u ON u.id = m.user_id
JOIN users r ON r.id = CASE WHEN v.user_low = m.user_id THEN v.user_high ELSE v.user_low END;
