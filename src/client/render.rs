//! What the user reads: messages, joins and exits, lists. Pure functions from
//! server data to text, so the look is tested without a terminal.

use chrono::{DateTime, Datelike, Local, TimeZone};

use super::incoming::Membership;
use crate::wire::Message;

/// A message as `[17:42] alice: hello`, in local time; an older one shows
/// its date too (see [`sent_time`]).
///
/// A multi-line text keeps its lines, each continuation indented under the
/// first so the message reads as one block.
pub fn message(message: &Message) -> String {
    message_at(message, &Local::now())
}

/// [`message`] as seen at `now`, in `now`'s time zone, so tests fix both.
pub fn message_at<Tz: TimeZone>(message: &Message, now: &DateTime<Tz>) -> String
where
    Tz::Offset: std::fmt::Display,
{
    let prefix = format!(
        "[{}] {}: ",
        sent_time(&message.sent_at, now),
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

/// When a server timestamp was, in `now`'s time zone, as short as it can be
/// without being mistaken for another day: `17:42` on `now`'s day,
/// `Nov 23 17:42` on another day of its year, `Nov 23, 2025 17:42` in another
/// year; `??:??` if it is not RFC 3339.
pub fn sent_time<Tz: TimeZone>(sent_at: &str, now: &DateTime<Tz>) -> String
where
    Tz::Offset: std::fmt::Display,
{
    let Ok(time) = DateTime::parse_from_rfc3339(sent_at) else {
        return "??:??".to_string();
    };
    let time = time.with_timezone(&now.timezone());
    let format = if time.date_naive() == now.date_naive() {
        "%H:%M"
    } else if time.year() == now.year() {
        "%b %-d %H:%M"
    } else {
        "%b %-d, %Y %H:%M"
    };
    time.format(format).to_string()
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
        sent_at(text, "2026-11-24T17:42:05.123Z")
    }

    fn sent_at(text: &str, sent_at: &str) -> Message {
        Message {
            id: 1,
            room: Some("general".into()),
            to: None,
            username: "alice".into(),
            text: text.into(),
            sent_at: sent_at.into(),
            edited_at: None,
            guest: false,
        }
    }

    /// Later on the day of [`sample`], in UTC.
    fn today() -> DateTime<Utc> {
        at("2026-11-24T20:00:00Z", &Utc)
    }

    fn at<Tz: TimeZone>(time: &str, zone: &Tz) -> DateTime<Tz> {
        DateTime::parse_from_rfc3339(time)
            .expect("a time")
            .with_timezone(zone)
    }

    #[test]
    fn a_message_shows_time_author_and_text_as_sent() {
        assert_eq!(
            message_at(&sample("hi | there \\ é 👋"), &today()),
            "[17:42] alice: hi | there \\ é 👋"
        );
    }

    #[test]
    fn the_time_is_converted_to_the_readers_zone() {
        let paris = FixedOffset::east_opt(3600).expect("offset");
        let now = at("2026-11-24T20:00:00+01:00", &paris);
        assert_eq!(message_at(&sample("x"), &now), "[18:42] alice: x");
        assert_eq!(sent_time("yesterday", &now), "??:??");
    }

    #[test]
    fn a_message_of_another_day_shows_its_date_and_of_another_year_the_year() {
        let paris = FixedOffset::east_opt(3600).expect("offset");
        let now = at("2026-11-24T12:00:00+01:00", &paris);
        let shown = |sent_at| sent_time(sent_at, &now);
        assert_eq!(shown("2026-11-24T11:00:00Z"), "12:00", "today");
        assert_eq!(
            shown("2026-11-23T23:30:00Z"),
            "00:30",
            "today here, not in UTC"
        );
        assert_eq!(shown("2026-11-23T19:01:00Z"), "Nov 23 20:01", "yesterday");
        assert_eq!(
            shown("2026-11-24T23:30:00Z"),
            "Nov 25 00:30",
            "tomorrow here"
        );
        assert_eq!(shown("2026-01-05T08:00:00Z"), "Jan 5 09:00", "this year");
        assert_eq!(
            shown("2025-11-24T11:00:00Z"),
            "Nov 24, 2025 12:00",
            "a year ago"
        );

        let new_year = at("2027-01-01T00:10:00+01:00", &paris);
        let shown = |sent_at| sent_time(sent_at, &new_year);
        assert_eq!(shown("2026-12-31T23:05:00Z"), "00:05");
        assert_eq!(shown("2026-12-31T22:00:00Z"), "Dec 31, 2026 23:00");
    }

    #[test]
    fn continuation_lines_are_indented_under_the_first() {
        assert_eq!(
            message_at(&sample("one\ntwo"), &today()),
            "[17:42] alice: one\n               two"
        );
        let older = sent_at("one\ntwo", "2026-11-20T17:42:05.123Z");
        assert_eq!(
            message_at(&older, &today()),
            "[Nov 20 17:42] alice: one\n                      two"
        );
    }

    #[test]
    fn control_characters_cannot_reach_the_terminal() {
        assert_eq!(
            message_at(&sample("\u{1b}[2Jgone\rback\ttab"), &today()),
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
