//! Server lines to typed values: a reply (it has a `status` key; read as a
//! [`wire::Reply`]) or a pushed event (it has an `event` key).
//!
//! # Format
//!
//! ```text
//! {"status":200,"data":<any JSON value>}
//! {"status":404,"error":"chatroom 'x' does not exist"}
//! {"event":"message","data":{"id":42,"room":"general","username":"alice",...}}
//! {"event":"join","data":{"room":"general","username":"alice"}}
//! ```

use serde_json::Value;

use super::error::ErrorReply;
use crate::wire;

/// A reply: its `data` on success, the server's sentence on failure.
pub type Reply = Result<Value, ErrorReply>;

/// A line the server pushed to a subscriber.
pub use crate::wire::Event as PushedEvent;
pub use crate::wire::Membership;

/// One line from the server, sorted by the key that tells replies from events.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerLine {
    Reply(Reply),
    Event(PushedEvent),
    /// An event this client does not know (a newer server); it is skipped.
    UnknownEvent(String),
    /// Neither a reply nor an event: the peer is not speaking pipechat.
    Malformed,
}

impl ServerLine {
    /// Sorts one line, without its line feed.
    pub fn parse(line: &str) -> ServerLine {
        let Ok(value) = serde_json::from_str::<Value>(line) else {
            return ServerLine::Malformed;
        };
        if value.get("status").is_some() {
            return match serde_json::from_value::<wire::Reply<Value>>(value) {
                Ok(reply) => ServerLine::Reply(outcome(reply)),
                Err(_) => ServerLine::Malformed,
            };
        }
        if let Some(kind) = value.get("event") {
            let kind = kind.as_str().unwrap_or_default().to_string();
            return match serde_json::from_value::<PushedEvent>(value) {
                Ok(event) => ServerLine::Event(event),
                Err(_) => ServerLine::UnknownEvent(kind),
            };
        }
        ServerLine::Malformed
    }
}

/// A reply as a flow takes it: its `data` below `400`, else its sentence.
fn outcome(reply: wire::Reply<Value>) -> Reply {
    let status = reply.status;
    if status < 400 {
        Ok(reply.data.unwrap_or(Value::Null))
    } else {
        let sentence = reply
            .error
            .unwrap_or_else(|| format!("the server answered {status} without a reason"));
        Err(ErrorReply { status, sentence })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_success_reply_carries_its_data() {
        assert_eq!(
            ServerLine::parse(r#"{"status":201,"data":{"name":"general"}}"#),
            ServerLine::Reply(Ok(serde_json::json!({"name": "general"})))
        );
        assert_eq!(
            ServerLine::parse(r#"{"status":200}"#),
            ServerLine::Reply(Ok(Value::Null))
        );
    }

    #[test]
    fn a_failure_reply_carries_the_servers_sentence() {
        assert_eq!(
            ServerLine::parse(r#"{"status":404,"error":"chatroom 'x' does not exist"}"#),
            ServerLine::Reply(Err(ErrorReply {
                status: 404,
                sentence: "chatroom 'x' does not exist".into()
            }))
        );
    }

    #[test]
    fn events_are_told_from_replies_by_their_key() {
        let line = r#"{"event":"message","data":{"id":7,"room":"general","username":"alice","text":"a | b","sent_at":"2026-11-24T17:37:42.123Z"}}"#;
        let ServerLine::Event(PushedEvent::Message(message)) = ServerLine::parse(line) else {
            panic!("not a message event");
        };
        assert_eq!((message.id, message.text.as_str()), (7, "a | b"));
        assert_eq!(
            ServerLine::parse(r#"{"event":"exit","data":{"room":"general","username":"bob"}}"#),
            ServerLine::Event(PushedEvent::Exit(Membership {
                room: "general".into(),
                username: "bob".into()
            }))
        );
    }

    #[test]
    fn unknown_events_and_foreign_lines_are_recognised() {
        assert_eq!(
            ServerLine::parse(r#"{"event":"typing","data":{}}"#),
            ServerLine::UnknownEvent("typing".into())
        );
        assert_eq!(ServerLine::parse("+OK redis"), ServerLine::Malformed);
        assert_eq!(ServerLine::parse(r#"{"hello":1}"#), ServerLine::Malformed);
        assert_eq!(
            ServerLine::parse(r#"{"status":"ok"}"#),
            ServerLine::Malformed
        );
    }
}
