//! What both engines share between their rows and the rest of the server:
//! a message's columns ([`MessageColumns`]) and page statements, the
//! message and event bodies built from rows, and small rules of storage
//! (the order of a conversation's users, which messages have expired).

use super::{
    Conversation, Page, Place, PlaceKey, Room, StoredMessage, TopicSetter, User, now_timestamp,
};
use crate::wire::{Deleted, Membership, Message, TopicChange};

/// The columns every engine reads for a stored message (its `SELECT` joins
/// the room, the author and, for a direct message, the conversation and its
/// recipient); [`MessageColumns::into_stored`] is the one mapping to types.
pub(crate) struct MessageColumns {
    pub(crate) id: i64,
    pub(crate) room: Option<String>,
    pub(crate) recipient: Option<String>,
    pub(crate) username: String,
    pub(crate) text: String,
    pub(crate) sent_at: String,
    pub(crate) edited_at: Option<String>,
    /// Whether the author is a guest (`users.guest`).
    pub(crate) guest: bool,
    pub(crate) user_id: i64,
    pub(crate) room_id: Option<i64>,
    pub(crate) room_owner: Option<i64>,
    pub(crate) conversation_id: Option<i64>,
    pub(crate) user_low: Option<i64>,
    pub(crate) user_high: Option<i64>,
}

impl MessageColumns {
    pub(crate) fn into_stored(self) -> StoredMessage {
        let place = match (self.room_id, self.conversation_id) {
            (Some(room_id), _) => PlaceKey::Room(room_id),
            (None, conversation) => PlaceKey::Direct {
                conversation: conversation.unwrap_or_default(),
                low: self.user_low.unwrap_or_default(),
                high: self.user_high.unwrap_or_default(),
            },
        };
        let direct = self.room.is_none();
        StoredMessage {
            message: Message {
                id: self.id,
                room: self.room,
                to: if direct { self.recipient } else { None },
                username: self.username,
                text: self.text,
                sent_at: self.sent_at,
                edited_at: self.edited_at,
                guest: self.guest,
            },
            author_id: self.user_id,
            place,
            room_owner: self.room_owner,
        }
    }
}

/// Two users in the order a conversation stores them (`low <= high`).
pub(crate) fn ordered<'u>(a: &'u User, b: &'u User) -> (&'u User, &'u User) {
    if a.id <= b.id { (a, b) } else { (b, a) }
}

/// The other side of a conversation from `author` (themselves for notes to
/// self).
pub(crate) fn recipient(conversation: &Conversation, author_id: i64) -> &User {
    if conversation.low.id == author_id {
        &conversation.high
    } else {
        &conversation.low
    }
}

/// The body of a `join` or `exit` event.
pub(crate) fn membership(room: &Room, user: &User) -> Membership {
    Membership {
        room: room.name.clone(),
        username: user.username.clone(),
    }
}

/// The body of a `delete` event for `stored`.
pub(crate) fn deleted(stored: &StoredMessage) -> Deleted {
    let direct = stored.message.room.is_none();
    Deleted {
        id: stored.message.id,
        room: stored.message.room.clone(),
        to: stored.message.to.clone(),
        username: direct.then(|| stored.message.username.clone()),
    }
}

/// An engine's four statements for a page of messages: by room or
/// conversation, and scanning up from the cursor or down from it (newest
/// first). Each takes the place's id, the cursor and the limit.
pub(crate) struct PageStatements {
    pub(crate) room_after: &'static str,
    pub(crate) room_before: &'static str,
    pub(crate) direct_after: &'static str,
    pub(crate) direct_before: &'static str,
}

impl PageStatements {
    /// The statement for `page` in `place`, with its parameters: the place's
    /// id, the cursor and the limit. When the third value is true the rows
    /// come newest first and must be reversed.
    pub(crate) fn pick(&self, place: &Place, page: Page) -> (&'static str, [i64; 3], bool) {
        let (cursor, limit, newest_first) = page.scan();
        let sql = match (place, newest_first) {
            (Place::Room(_), false) => self.room_after,
            (Place::Room(_), true) => self.room_before,
            (Place::Direct(_), false) => self.direct_after,
            (Place::Direct(_), true) => self.direct_before,
        };
        (sql, [place.id(), cursor, i64::from(limit)], newest_first)
    }
}

/// A message as clients see it, once stored in `place` with `id`.
pub(crate) fn new_message(
    place: &Place,
    author: &User,
    id: i64,
    text: &str,
    sent_at: String,
) -> Message {
    let (room, to) = place.address(author.id);
    Message {
        id,
        room,
        to,
        username: author.username.clone(),
        text: text.to_string(),
        sent_at,
        edited_at: None,
        guest: author.guest,
    }
}

/// `stored` as clients see it after an edit to `text`.
pub(crate) fn edited(stored: &StoredMessage, text: &str, edited_at: String) -> Message {
    Message {
        text: text.to_string(),
        edited_at: Some(edited_at),
        ..stored.message.clone()
    }
}

/// Who sets `topic`, to store beside it: no one when it is cleared.
pub(crate) fn new_topic_setter(user: &User, topic: &str) -> TopicSetter {
    if topic.is_empty() {
        TopicSetter {
            username: String::new(),
            at: String::new(),
        }
    } else {
        TopicSetter {
            username: user.username.clone(),
            at: now_timestamp(),
        }
    }
}

/// The stored setter columns as a [`TopicSetter`], `None` when empty.
pub(crate) fn stored_topic_setter(username: String, at: String) -> Option<TopicSetter> {
    (!username.is_empty() && !at.is_empty()).then_some(TopicSetter { username, at })
}

/// The body of a `topic` event.
pub(crate) fn topic_change(room: &Room, user: &User, topic: &str) -> TopicChange {
    TopicChange {
        room: room.name.clone(),
        topic: topic.to_string(),
        username: user.username.clone(),
    }
}

/// Says, at `info`, what opening a database does to its schema: a new one
/// (version 0) is created at `current` in one line, an older one is
/// migrated from its version. Both engines apply the same steps either way;
/// a newcomer's first start used to print "migrating schema to version 1"
/// up to `current`, as if an old database had been found. The steps
/// themselves are logged at `debug`.
pub(crate) fn announce_schema_change(location: &str, found: i64, current: i64) {
    if found == 0 {
        log::info!("{location}: new database; creating its schema (version {current})");
    } else {
        log::info!("{location}: migrating schema from version {found} to version {current}");
    }
}

/// The ids of a room's messages that have expired, from its oldest ones
/// (id, sent at) in id order: ids grow with time, so they are a prefix.
/// RFC 3339 times in one format compare as text.
pub(crate) fn expired_ids(oldest: &[(i64, String)], before: &str) -> Vec<i64> {
    oldest
        .iter()
        .take_while(|(_, sent_at)| sent_at.as_str() < before)
        .map(|(id, _)| *id)
        .collect()
}
