-- pipechat schema on PostgreSQL, version 4: the nick of a connected IRC
-- guest is held in the database, by the node the guest is connected to.
--
-- Each node also holds its guests' nicks in memory, which kept two guests
-- of one node apart but not two guests on two nodes, and a node that died
-- left its guests' memberships behind. Now a guest's row names its node
-- while it is connected (`guest_node`): no two connected guests share a nick
-- (without regard to case), a guest leaving clears it, and a node taken for
-- dead (see `nodes`) loses its guests' memberships and then, with its row,
-- their nicks. Guest rows of earlier runs hold nothing.
ALTER TABLE users ADD COLUMN guest_node TEXT REFERENCES nodes (id) ON DELETE SET NULL;
CREATE UNIQUE INDEX users_guest_nick_held ON users (lower(username))
WHERE guest_node IS NOT NULL;
