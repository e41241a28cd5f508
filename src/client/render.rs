//! What the user reads: messages, joins and exits, lists. Pure functions from
//! server data to text, so the look is tested without a terminal.

use chrono::{DateTime, Local, TimeZone};

use super::incoming::Membership;
use crate::wire::Message;

/// A message as `[17:42] alice: hello`, in local time.
///
/// A multi-line text keeps its lines, each continuation indented under the
/// first so the message reads as one block.
pub fn message(message: &Message) -> String {
    message_in(message, &Local)
}

/// [`message`] in a given time zone, so tests do not depend on the machine's.
pub fn message_in<Tz: TimeZone>(message: &Message, zone: &Tz) -> String
where
    Tz::Offset: std::fmt::Display,
{
    let prefix = format!(
        "[{}] {}: ",
        clock_time(&message.sent_at, zone),
        message.username
    );
    let indent = " ".repeat(prefix.chars().count());
    let mut shown = prefix;
    for (index, line) in message.text.split('\n').enumerate() {
        if index > 0 {
            shown.push('\n');
            shown.push_str(&indent);
        }
        shown.push_str(&printable(line));
    }
    shown
}

/// `HH:MM` of a server timestamp in `zone`; `??:??` if it is not RFC 3339.
pub fn clock_time<Tz: TimeZone>(sent_at: &str, zone: &Tz) -> String
where
    Tz::Offset: std::fmt::Display,
{
    match DateTime::parse_from_rfc3339(sent_at) {
        Ok(time) => time.with_timezone(zone).format("%H:%M").to_string(),
        Err(_) => "??:??".to_string(),
    }
}

/// `* bob joined general`.
pub fn joined(membership: &Membership) -> String {
    format!("* {} joined {}", membership.username, membership.room)
}

/// `* bob left general`.
pub fn left(membership: &Membership) -> String {
    format!("* {} left {}", membership.username, membership.room)
}

/// A titled list, one item a line, or `when_empty` alone.
pub fn list(title: &str, items: &[String], when_empty: &str) -> String {
    if items.is_empty() {
        return when_empty.to_string();
    }
    let mut shown = format!("{title} ({}):", items.len());
    for item in items {
        shown.push_str("\n  ");
        shown.push_str(&printable(item));
    }
    shown
}

/// A failure reply as the user sees it.
pub fn refusal(sentence: &str) -> String {
    format!("error: {sentence}")
}

/// Replaces control characters, so that a message cannot move the cursor,
/// clear the screen or recolour the terminal of whoever reads it. Tabs stay.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\t' => c,
            c if c.is_control() => char::REPLACEMENT_CHARACTER,
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{FixedOffset, Utc};

    fn sample(text: &str) -> Message {
        Message {
            id: 1,
            room: "general".into(),
            username: "alice".into(),
            text: text.into(),
            sent_at: "2026-11-24T17:42:05.123Z".into(),
        }
    }

    #[test]
    fn a_message_shows_time_author_and_text_as_sent() {
        assert_eq!(
            message_in(&sample("hi | there \\ é 👋"), &Utc),
            "[17:42] alice: hi | there \\ é 👋"
        );
    }

    #[test]
    fn the_time_is_converted_to_the_readers_zone() {
        let paris = FixedOffset::east_opt(3600).expect("offset");
        assert_eq!(message_in(&sample("x"), &paris), "[18:42] alice: x");
        assert_eq!(clock_time("yesterday", &Utc), "??:??");
    }

    #[test]
    fn continuation_lines_are_indented_under_the_first() {
        assert_eq!(
            message_in(&sample("one\ntwo"), &Utc),
            "[17:42] alice: one\n               two"
        );
    }

    #[test]
    fn control_characters_cannot_reach_the_terminal() {
        assert_eq!(
            message_in(&sample("\u{1b}[2Jgone\rback\ttab"), &Utc),
            "[17:42] alice: \u{fffd}[2Jgone\u{fffd}back\ttab"
        );
    }

    #[test]
    fn joins_exits_lists_and_refusals_read_as_sentences() {
        let bob = Membership {
            room: "general".into(),
            username: "bob".into(),
        };
        assert_eq!(joined(&bob), "* bob joined general");
        assert_eq!(left(&bob), "* bob left general");
        assert_eq!(
            list("chatrooms", &["a".into(), "b".into()], "none"),
            "chatrooms (2):\n  a\n  b"
        );
        assert_eq!(list("chatrooms", &[], "none"), "none");
        assert_eq!(refusal("no such room"), "error: no such room");
    }
}
