//! The objects of the protocol as they travel: one definition, shared by the
//! server's front doors, the console client and the bench.
//!
//! Each type derives both `Serialize` and `Deserialize`, so what the server
//! sends and what a client reads cannot drift apart. The field order of each
//! struct is the order of the keys on the wire.

use serde::{Deserialize, Serialize};

/// The protocol version announced in the greeting.
pub const PROTOCOL_VERSION: u32 = 1;

/// The most bytes a request (line or WebSocket message) may take, a line's
/// terminating line feed included.
pub const MAX_REQUEST_BYTES: usize = 65_536;

/// How many messages a fetch returns when no limit is given.
pub const DEFAULT_FETCH_LIMIT: u32 = 100;

/// The largest `limit` a fetch accepts.
pub const MAX_FETCH_LIMIT: u32 = 1_000;

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

/// A chat message as clients see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub id: i64,
    pub room: String,
    pub username: String,
    pub text: String,
    /// The server's UTC clock, RFC 3339 with milliseconds.
    pub sent_at: String,
}

/// The body of `join` and `exit` events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    pub room: String,
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
}

impl Event {
    /// The room the event belongs to.
    pub fn room(&self) -> &str {
        match self {
            Event::Message(message) => &message.room,
            Event::Join(membership) | Event::Exit(membership) => &membership.room,
        }
    }
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

    #[test]
    fn events_round_trip_with_the_documented_keys() {
        let event = Event::Message(Message {
            id: 7,
            room: "general".into(),
            username: "alice".into(),
            text: "two\nlines | \"quoted\"".into(),
            sent_at: "2026-11-24T17:37:42.123Z".into(),
        });
        let json = serde_json::to_string(&event).unwrap();
        assert!(json.starts_with(r#"{"event":"message","data":{"id":7,"room":"general","#));
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
}
