//! The objects of the protocol as they travel (replies, their `data`,
//! events) and its constants: one definition, shared by the server's front
//! doors, the console client and the bench.
//!
//! Each type that travels derives both `Serialize` and `Deserialize`, so
//! what the server sends and what a client reads cannot drift apart
//! ([`Status`] travels as its number, in [`Reply::status`]). The field order of each
//! struct is the order of the keys on the wire.

use serde::{Deserialize, Serialize};

/// The protocol version announced in the greeting.
pub const PROTOCOL_VERSION: u32 = 2;

/// The most bytes a request (line or WebSocket message) may take, a line's
/// terminating line feed included.
pub const MAX_REQUEST_BYTES: usize = 65_536;

/// How the pipe's TLS port's answer to plain text begins (a `400` in place
/// of the greeting); the console client tells that port by it.
pub const SPEAKS_TLS: &str = "this port speaks TLS";

/// The pipe's answer to plain text at its TLS listener (`nc`, a client
/// without its TLS option): one reply line it can read, where rustls's
/// alert would be bytes it cannot. `400`, as for any request this listener
/// cannot take; a client written to the plain protocol shows the sentence.
/// It begins with [`SPEAKS_TLS`].
pub const USE_TLS: &str = "this port speaks TLS: connect with TLS (pipechat-client --tls)";

/// How many messages a fetch returns when no limit is given.
pub const DEFAULT_FETCH_LIMIT: u32 = 100;

/// The largest `limit` a fetch or a search accepts.
pub const MAX_FETCH_LIMIT: u32 = 1_000;

/// How many results `/search` returns when no limit is given.
pub const DEFAULT_SEARCH_LIMIT: u32 = 50;

/// A time as messages carry it (`sent_at`, `edited_at`) and the store keeps
/// it: UTC, RFC 3339, milliseconds (`2026-12-04T19:13:36.123Z`). One shape
/// everywhere, so that times compare as text (in SQL too).
pub fn timestamp(at: chrono::DateTime<chrono::Utc>) -> String {
    // The same text as the format `%Y-%m-%dT%H:%M:%S%.3fZ`, without parsing
    // a format string for every message.
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The current time as [`timestamp`] writes it.
pub fn now_timestamp() -> String {
    timestamp(chrono::Utc::now())
}

/// The status codes of the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok = 200,
    Created = 201,
    BadRequest = 400,
    Unauthorized = 401,
    Forbidden = 403,
    NotFound = 404,
    Conflict = 409,
    TooLong = 413,
    TooManyRequests = 429,
    Internal = 500,
    Unavailable = 503,
}

impl Status {
    pub fn code(self) -> u16 {
        self as u16
    }
}

/// A reply, as one JSON object on its line: `{"status":200,"data":...}` on
/// success (`201` where something was created), `{"status":404,"error":"..."}`
/// on failure.
///
/// The server writes it and the console client and the bench read it, so
/// the envelope's keys are spelled here only. `T` is the command's `data`:
/// one of the payloads below, a [`Message`], a list. The server sends
/// exactly one of `data` and `error`; a reader takes a missing one as
/// absent rather than refusing the line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply<T> {
    pub status: u16,
    // A missing `Option` reads as `None` without `default`, which would
    // ask `T: Default` of every payload.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<T>,
    /// Why the request was refused: a sentence for people.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl<T> Reply<T> {
    /// A success reply carrying `data`.
    pub fn success(status: Status, data: T) -> Reply<T> {
        Reply {
            status: status.code(),
            data: Some(data),
            error: None,
        }
    }
}

impl Reply<()> {
    /// A failure reply: `error` says why.
    pub fn failure(status: Status, error: &str) -> Reply<()> {
        Reply {
            status: status.code(),
            data: None,
            error: Some(error.to_string()),
        }
    }
}

/// A chat message as clients see it: in a chatroom (`room`), or direct
/// (`room` is null and `to` names the recipient).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub id: i64,
    pub room: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    pub username: String,
    pub text: String,
    /// The server's UTC clock, RFC 3339 with milliseconds.
    pub sent_at: String,
    /// When the text was last edited; absent if never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<String>,
    /// `true` when the author is a guest of the IRC front door (no
    /// account, no password); absent for an account.
    #[serde(default, skip_serializing_if = "is_false")]
    pub guest: bool,
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// How a stored text says it is an action, a line about its author
/// (`/me waves` shows as `* alice waves`): it starts with this and is one
/// line. IRC's CTCP ACTION is stored so; the clients show it so.
pub const ACTION_PREFIX: &str = "/me ";

impl Message {
    /// What the author does (`waves` of `/me waves`), if the message is an
    /// action.
    pub fn action(&self) -> Option<&str> {
        self.text
            .strip_prefix(ACTION_PREFIX)
            .filter(|action| action.contains(|c| c != ' ' && c != '\t') && !action.contains('\n'))
    }

    /// Where the message was sent, as `me` names it: the room, or `@user`
    /// for the other side of a direct conversation (`@me` for notes to self).
    pub fn place_for(&self, me: &str) -> String {
        match (&self.room, &self.to) {
            (Some(room), _) => room.clone(),
            (None, Some(to)) if !to.eq_ignore_ascii_case(me) => format!("@{to}"),
            (None, _) => format!("@{}", self.username),
        }
    }
}

/// The body of `join` and `exit` events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    pub room: String,
    pub username: String,
}

/// The body of a `delete` event: which message is gone, and where it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deleted {
    pub id: i64,
    pub room: Option<String>,
    /// For a direct message: its recipient and author.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
}

/// The body of a `topic` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicChange {
    pub room: String,
    pub topic: String,
    pub username: String,
}

/// A pushed event: on the wire, an object whose `event` key names the kind
/// and which never carries a `status` key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", content = "data", rename_all = "lowercase")]
pub enum Event {
    Message(Message),
    Join(Membership),
    Exit(Membership),
    Edit(Message),
    Delete(Deleted),
    Topic(TopicChange),
}

impl Event {
    /// The chatroom the event belongs to; `None` for a direct message's.
    pub fn room(&self) -> Option<&str> {
        match self {
            Event::Message(message) | Event::Edit(message) => message.room.as_deref(),
            Event::Join(membership) | Event::Exit(membership) => Some(&membership.room),
            Event::Delete(deleted) => deleted.room.as_deref(),
            Event::Topic(topic) => Some(&topic.room),
        }
    }
}

/// The `data` of `/getRoomInfo`, `/setTopic` and `/setRetention`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomInfo {
    pub name: String,
    pub owner: String,
    pub created_at: String,
    pub members: i64,
    pub messages: i64,
    pub retention_days: i64,
    pub topic: String,
}

/// One entry of `/getUnread`: a room, or `@user` for a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unread {
    pub room: String,
    pub unread: i64,
    pub last_read_id: i64,
    pub last_id: i64,
}

/// The `data` of `/register`, `/resume` and `/logout`: the user's name as
/// registered (which may differ in case from the name typed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountName {
    pub username: String,
}

/// The `data` of `/login`, in the protocol's order: the name as
/// registered, and a new resume token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginReply {
    pub username: String,
    pub token: String,
}

/// The `data` of `/changePassword`: the resume token that replaces every
/// earlier one of the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewToken {
    pub token: String,
}

/// The `data` of `/createChatroom`: the room's name as created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedRoom {
    pub name: String,
}

/// The `data` of `/joinChatroom`, `/exitChatroom`, `/subscribe` and
/// `/unsubscribe`: the room's name as created, so that a client shows it as
/// everyone else sees it (for a subscription, `@user` names a conversation
/// and `@` all of them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomName {
    pub room: String,
}

/// The `data` of `/deleteMessage`: which message is gone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageId {
    pub id: i64,
}

/// The `data` of `/markRead`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadPosition {
    pub room: String,
    pub last_read_id: i64,
}

/// The `data` of the greeting every connection gets first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Greeting {
    pub server: String,
    pub version: String,
    pub protocol: u32,
}

impl Greeting {
    /// This server's greeting.
    pub fn current() -> Greeting {
        Greeting {
            server: "pipechat".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            protocol: PROTOCOL_VERSION,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Times keep one shape (`2026-12-04T19:13:36.123Z`): clients and
    /// `sqlite3` users compare them as text.
    #[test]
    fn timestamps_are_utc_with_milliseconds() {
        let now = now_timestamp();
        let parsed = chrono::NaiveDateTime::parse_from_str(&now, "%Y-%m-%dT%H:%M:%S%.3fZ")
            .expect("the stored shape");
        assert_eq!(parsed.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(), now);
        assert_eq!(now.len(), "2026-12-04T19:13:36.123Z".len());
        let whole_second = chrono::DateTime::parse_from_rfc3339("2026-12-04T20:13:36+01:00")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(timestamp(whole_second), "2026-12-04T19:13:36.000Z");
    }

    /// The client tells the TLS port's answer by its start.
    #[test]
    fn the_tls_ports_answer_begins_as_the_client_expects() {
        assert!(USE_TLS.starts_with(SPEAKS_TLS));
    }

    #[test]
    fn events_round_trip_with_the_documented_keys() {
        let event = Event::Message(Message {
            id: 7,
            room: Some("general".into()),
            to: None,
            username: "alice".into(),
            text: "two\nlines | \"quoted\"".into(),
            sent_at: "2026-11-24T17:37:42.123Z".into(),
            edited_at: None,
            guest: false,
        });
        let json = serde_json::to_string(&event).unwrap();
        assert!(json.starts_with(r#"{"event":"message","data":{"id":7,"room":"general","#));
        assert!(!json.contains("edited_at") && !json.contains("\"to\""));
        assert_eq!(serde_json::from_str::<Event>(&json).unwrap(), event);
        let join = Event::Join(Membership {
            room: "general".into(),
            username: "alice".into(),
        });
        assert_eq!(
            serde_json::to_string(&join).unwrap(),
            r#"{"event":"join","data":{"room":"general","username":"alice"}}"#
        );
    }

    #[test]
    fn direct_and_edited_messages_have_their_keys_only_when_set() {
        let direct = Message {
            id: 43,
            room: None,
            to: Some("bob".into()),
            username: "alice".into(),
            text: "hi".into(),
            sent_at: "2026-11-24T17:37:42.123Z".into(),
            edited_at: Some("2026-11-24T17:38:00.000Z".into()),
            guest: false,
        };
        assert_eq!(
            serde_json::to_string(&direct).unwrap(),
            r#"{"id":43,"room":null,"to":"bob","username":"alice","text":"hi","sent_at":"2026-11-24T17:37:42.123Z","edited_at":"2026-11-24T17:38:00.000Z"}"#
        );
        assert_eq!(direct.place_for("alice"), "@bob");
        assert_eq!(direct.place_for("BOB"), "@alice");
        let deleted = Deleted {
            id: 42,
            room: Some("general".into()),
            to: None,
            username: None,
        };
        assert_eq!(
            serde_json::to_string(&Event::Delete(deleted)).unwrap(),
            r#"{"event":"delete","data":{"id":42,"room":"general"}}"#
        );
    }

    /// Replies keep the documented shapes byte for byte: `status` first,
    /// then `data` or `error` (never both), and each payload's keys in the
    /// protocol's order.
    #[test]
    fn replies_have_the_documented_keys_in_order() {
        fn line<T: Serialize>(reply: &Reply<T>) -> String {
            serde_json::to_string(reply).unwrap()
        }
        let login = LoginReply {
            username: "Alice".into(),
            token: "t0k".into(),
        };
        assert_eq!(
            line(&Reply::success(Status::Ok, login)),
            r#"{"status":200,"data":{"username":"Alice","token":"t0k"}}"#
        );
        let created = CreatedRoom {
            name: "general".into(),
        };
        assert_eq!(
            line(&Reply::success(Status::Created, created)),
            r#"{"status":201,"data":{"name":"general"}}"#
        );
        assert_eq!(
            line(&Reply::failure(
                Status::NotFound,
                "chatroom 'x' does not exist"
            )),
            r#"{"status":404,"error":"chatroom 'x' does not exist"}"#
        );
        let read: Reply<RoomName> =
            serde_json::from_str(r#"{"status":200,"data":{"room":"general"}}"#).unwrap();
        let room = RoomName {
            room: "general".into(),
        };
        assert_eq!(read, Reply::success(Status::Ok, room));
        let refused: Reply<AccountName> =
            serde_json::from_str(r#"{"status":409,"error":"taken"}"#).unwrap();
        assert_eq!(
            (refused.data, refused.error.as_deref()),
            (None, Some("taken"))
        );
    }

    /// `docs/protocol.md` is the wire contract as shipped with the code,
    /// for whoever has only this repository; it must be the shared
    /// contract (`../shared/protocol.md`) word for word. Where that is not
    /// beside the repository (a lone clone) there is nothing to compare,
    /// except under CI, which always has it.
    #[test]
    fn the_shipped_protocol_is_the_shared_contract() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let shipped = std::fs::read_to_string(root.join("docs/protocol.md")).unwrap();
        match std::fs::read_to_string(root.join("../shared/protocol.md")) {
            Ok(shared) => assert!(
                shipped == shared,
                "docs/protocol.md differs from ../shared/protocol.md: copy it again"
            ),
            Err(err) => assert!(
                std::env::var_os("CI").is_none(),
                "CI has ../shared/protocol.md beside the repository: {err}"
            ),
        }
    }
}
