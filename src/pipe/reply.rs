//! Results and events as protocol lines: one JSON object, one line feed.
//!
//! serde_json escapes control characters, so every line is exactly one line
//! whatever the text it carries.

use serde::Serialize;

use crate::chat::{ChatError, Rendering};
use crate::wire::{Event, Greeting, Reply, Status};

/// A success reply line.
pub fn success_line(status: Status, data: &impl Serialize) -> String {
    json_line(&Reply::success(status, data))
}

/// A failure reply line.
pub fn error_line(status: Status, error: &str) -> String {
    json_line(&Reply::failure(status, error))
}

/// The reply line for a refused operation. Internal details are logged by
/// [`ChatError::sentence`], not sent.
pub(crate) fn chat_error_line(err: &ChatError) -> String {
    error_line(err.status(), &err.sentence())
}

/// The line sent right after a connection is accepted.
pub fn greeting_line() -> String {
    success_line(Status::Ok, &Greeting::current())
}

/// An event as one line, shared by every pipe subscriber of the event.
pub struct EventLine;

impl Rendering for EventLine {
    fn render(event: &Event) -> Vec<u8> {
        json_line(event).into_bytes()
    }
}

/// One value as one JSON line, line feed included.
pub fn json_line(value: &impl Serialize) -> String {
    let mut line = serde_json::to_string(value).unwrap_or_else(|err| {
        // Only a map with non-string keys can fail, and none is ever sent.
        log::error!("could not serialize a reply: {err}");
        String::from(r#"{"status":500,"error":"internal error"}"#)
    });
    line.push('\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Membership, Message};

    #[test]
    fn replies_and_events_are_single_json_lines() {
        let message = Message {
            id: 7,
            room: Some("general".into()),
            to: None,
            username: "alice".into(),
            text: "two\nlines \u{1} \"quoted\"".into(),
            sent_at: "2026-11-24T17:37:42.123Z".into(),
            edited_at: None,
            guest: false,
        };
        let line = String::from_utf8(EventLine::render(&Event::Message(message))).unwrap();
        assert_eq!(line.matches('\n').count(), 1);
        assert!(line.starts_with(r#"{"event":"message","data":{"id":7,"#));
        let join = EventLine::render(&Event::Join(Membership {
            room: "general".into(),
            username: "alice".into(),
        }));
        assert_eq!(
            join,
            b"{\"event\":\"join\",\"data\":{\"room\":\"general\",\"username\":\"alice\"}}\n"
        );
        assert_eq!(
            error_line(Status::NotFound, "chatroom 'x' does not exist"),
            "{\"status\":404,\"error\":\"chatroom 'x' does not exist\"}\n"
        );
        assert_eq!(
            success_line(Status::Ok, &"pong"),
            "{\"status\":200,\"data\":\"pong\"}\n"
        );
    }
}
