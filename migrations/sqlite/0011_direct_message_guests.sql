-- pipechat schema, version 11: the `direct_messages` view says which side
-- of a conversation is an IRC guest, as `history` and `memberships` have
-- since version 3. A guest's nick is free again once it leaves, so an
-- account may later have the name a guest wrote under: without the flag the
-- view showed the guest's messages as that account's.
--
--   sqlite3 chat.db "select * from direct_messages where sender = 'alice'"

DROP VIEW direct_messages;
CREATE VIEW direct_messages AS
SELECT m.id        AS id,
       u.username  AS sender,
       r.username  AS recipient,
       m.text      AS text,
       m.sent_at   AS sent_at,
       m.edited_at AS edited_at,
       u.guest     AS sender_guest,
       r.guest     AS recipient_guest
FROM messages m
JOIN conversations v ON v.id = m.conversation_id
JOIN users u ON u.id = m.user_id
JOIN users r ON r.id = CASE WHEN v.user_low = m.user_id THEN v.user_high ELSE v.user_low END;
