//! What the store hands out and takes in: users, rooms, conversations,
//! places, stored messages, tokens, pages, topic setters, search queries.
//! Each engine maps its rows to these in one place per type.

use super::recipient;
use crate::wire::Message;

/// A user: an account, or a guest of the IRC front door.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    /// As registered (a guest's: its nick).
    pub username: String,
    /// A guest of the IRC front door (`users.guest`), not an account: it has
    /// no password and its messages are marked.
    pub guest: bool,
}

/// A user with the hash to check a login against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub user: User,
    pub password_hash: String,
}

/// A chatroom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    pub id: i64,
    /// As created.
    pub name: String,
    /// Its creator, who owns it.
    pub created_by: i64,
}

/// A direct conversation between two users (the same one twice for notes to
/// self), `low.id <= high.id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversation {
    pub id: i64,
    pub low: User,
    pub high: User,
}

/// Where a message is sent or read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    Room(Room),
    Direct(Conversation),
}

impl Place {
    /// What `reader` calls it: a room's name as created, or `@` and the
    /// other participant's name.
    pub fn name_for(&self, reader: &User) -> String {
        match self {
            Place::Room(room) => room.name.clone(),
            Place::Direct(conversation) if conversation.low.id == reader.id => {
                format!("@{}", conversation.high.username)
            }
            Place::Direct(conversation) => format!("@{}", conversation.low.username),
        }
    }

    /// Its room's or conversation's id: which one the SQL tells by column.
    pub fn id(&self) -> i64 {
        match self {
            Place::Room(room) => room.id,
            Place::Direct(conversation) => conversation.id,
        }
    }

    /// The `room` and `to` of a message here by `author_id`, as clients see
    /// them: the room's name, or the other side of the conversation.
    pub(crate) fn address(&self, author_id: i64) -> (Option<String>, Option<String>) {
        match self {
            Place::Room(room) => (Some(room.name.clone()), None),
            Place::Direct(conversation) => (
                None,
                Some(recipient(conversation, author_id).username.clone()),
            ),
        }
    }

    /// The key its events are routed by.
    pub fn key(&self) -> PlaceKey {
        match self {
            Place::Room(room) => PlaceKey::Room(room.id),
            Place::Direct(conversation) => PlaceKey::Direct {
                conversation: conversation.id,
                low: conversation.low.id,
                high: conversation.high.id,
            },
        }
    }
}

/// Where a message is, by ids only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum PlaceKey {
    Room(i64),
    /// A conversation, with its two participants' user ids, `low <= high`.
    Direct {
        conversation: i64,
        low: i64,
        high: i64,
    },
}

/// A stored message with what the rules about it need to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    pub message: Message,
    pub author_id: i64,
    pub place: PlaceKey,
    /// The owner of its room; `None` for a direct message.
    pub room_owner: Option<i64>,
}

/// A resume token's row, found by the hash of the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredToken {
    pub id: i64,
    pub user: User,
    /// RFC 3339, as stored.
    pub last_used_at: String,
}

/// The SHA-256 of a resume token: all the database ever keeps of it.
pub type TokenHash = [u8; 32];

/// Which messages of a room or conversation a fetch wants, oldest first in
/// every case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    /// The latest `limit`.
    Latest { limit: u32 },
    /// The first `limit` with an id above `id`.
    After { id: i64, limit: u32 },
    /// The latest `limit` with an id below `id`.
    Before { id: i64, limit: u32 },
}

impl Page {
    /// How many messages the page holds at most.
    pub fn limit(self) -> u32 {
        match self {
            Page::Latest { limit } | Page::After { limit, .. } | Page::Before { limit, .. } => {
                limit
            }
        }
    }

    /// The page as one scan of the place's index by id: from which id, how
    /// many, and whether the scan runs newest first. The latest messages are
    /// those below an id above every id.
    pub(super) fn scan(self) -> (i64, u32, bool) {
        match self {
            Page::Latest { limit } => (i64::MAX, limit, true),
            Page::After { id, limit } => (id, limit, false),
            Page::Before { id, limit } => (id, limit, true),
        }
    }
}

/// One entry of `/getUnread`, with the IRC guest it is a conversation
/// with, if it is one: a guest who has left can never be written to again
/// (`@nick` names whoever holds the nick next), and whether it is still
/// connected is for the hub to say, not the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnreadEntry {
    pub unread: crate::wire::Unread,
    /// The other user's id, when that user is a guest.
    pub guest: Option<i64>,
}

/// Who last set a room's topic, and when: IRC shows it on joining a
/// channel (333), though the protocol's room info has no place for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSetter {
    /// The name as it was then.
    pub username: String,
    /// RFC 3339, as every stored time.
    pub at: String,
}

/// A search, as the core parsed it: every term must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    pub terms: Vec<SearchTerm>,
}

/// One term of a [`SearchQuery`]. Words are runs of letters and digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchTerm {
    /// The whole word, ignoring case and accents.
    Word(String),
    /// A word starting with this.
    Prefix(String),
    /// These terms (words and prefixes, as the core parses them) together
    /// and in this order: `"quick bro*"` finds "quick brown".
    Phrase(Vec<SearchTerm>),
}

impl SearchTerm {
    /// Its words, in order.
    pub fn words(&self) -> Vec<&str> {
        match self {
            SearchTerm::Word(word) | SearchTerm::Prefix(word) => vec![word.as_str()],
            SearchTerm::Phrase(terms) => terms.iter().flat_map(SearchTerm::words).collect(),
        }
    }
}
