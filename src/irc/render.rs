//! The chat's events as IRC lines, as each connection negotiated them.
//!
//! A message, an edit or a delete looks the same to every connection with
//! the same few capabilities, so it is rendered once per combination
//! ([`shared`], through `Delivery::rendered`); joins, exits,
//! topics, notices and presence are rarer and rendered per connection.

use std::borrow::Cow;

use super::caps::{self, Caps};
use super::line::{Line, MAX_BODY_BYTES, split_text};
use crate::chat::{Delivery, Farewell, Rendering};
use crate::wire::{Deleted, Event, Message};

/// The server's name, the source of its own lines; no account or guest
/// may take it (`chat::limits::is_reserved_name`).
pub const SERVER: &str = "pipechat";

/// What a rendering of a message depends on, as bits.
const TIME: u8 = 1;
const MSGID: u8 = 2;
const ACCOUNT: u8 = 4;
const MULTILINE: u8 = 8;
const REDACT: u8 = 16;

/// The bits of [`shared`]'s renderings a connection with `caps` wants.
pub fn flags(caps: Caps) -> u8 {
    let mut flags = 0;
    if caps.has(caps::SERVER_TIME) {
        flags |= TIME;
    }
    if caps.has(caps::MESSAGE_TAGS) {
        flags |= MSGID;
    }
    if caps.has(caps::ACCOUNT_TAG) {
        flags |= ACCOUNT;
    }
    if caps.has(caps::MULTILINE) && caps.has(caps::BATCH) {
        flags |= MULTILINE;
    }
    if caps.has(caps::REDACTION) {
        flags |= REDACT;
    }
    flags
}

/// A standard reply `FAIL command code [context...] :description` from the
/// server; `params` are the context and the description.
pub(crate) fn fail(command: &str, code: &str, params: Vec<String>) -> Line {
    let mut all = vec![command.to_string(), code.to_string()];
    all.extend(params);
    Line::new("FAIL", all).with_source(SERVER)
}

/// A message, edit or delete in the rendering for `flags`, made once per
/// event for all connections that share the flags.
pub(crate) fn shared(delivery: &Delivery<'_>, flags: u8) -> std::sync::Arc<[u8]> {
    macro_rules! dispatch {
        ($($n:literal)*) => {
            match flags {
                $($n => delivery.rendered::<Shared<$n>>(),)*
                _ => delivery.rendered::<Shared<0>>(),
            }
        };
    }
    dispatch!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31)
}

/// The rendering of events for connections whose capabilities give `F`.
struct Shared<const F: u8>;

impl<const F: u8> Rendering for Shared<F> {
    fn render(event: &Event) -> Vec<u8> {
        let lines = match event {
            Event::Message(message) => message_lines(message, F, "PRIVMSG", None, None),
            Event::Edit(message) => edit_lines(message, F),
            Event::Delete(deleted) => delete_lines(deleted, F),
            // Rendered per connection.
            Event::Join(_) | Event::Exit(_) | Event::Topic(_) => Vec::new(),
        };
        to_bytes(&lines)
    }
}

pub fn to_bytes(lines: &[Line]) -> Vec<u8> {
    let mut out = String::new();
    for line in lines {
        out.push_str(&line.to_wire());
    }
    out.into_bytes()
}

/// A QUIT's reason, as the quitter's `ERROR` and the members' `QUIT` say
/// it; `None` for a connection that ended without a word.
pub(crate) fn quit_reason(farewell: Option<&Farewell>) -> String {
    match farewell {
        Some(Farewell::Said(reason)) => format!("Quit: {reason}"),
        Some(Farewell::Quit) => "Client quit".to_string(),
        Some(Farewell::Dropped(reason)) => reason.clone(),
        None => "Connection closed".to_string(),
    }
}

/// `nick!user@host` of a user: accounts and guests differ in the user part.
pub fn hostmask(nick: &str, guest: bool) -> String {
    if guest {
        format!("{nick}!~guest@{SERVER}")
    } else {
        format!("{nick}!{nick}@{SERVER}")
    }
}

/// The channel a room is, or `None` when its name cannot be one (a space,
/// a comma or a BELL in it).
pub fn channel_of(room: &str) -> Option<String> {
    if room.contains([' ', ',', '\u{7}']) {
        None
    } else {
        Some(format!("#{room}"))
    }
}

/// The target IRC knows a core place by: a room's channel (none for a room
/// that cannot be one), or the other user's nick for `@name`.
pub fn target_of_place(place: &str) -> Option<String> {
    match place.strip_prefix('@') {
        Some(nick) => Some(nick.to_string()),
        None => channel_of(place),
    }
}

/// `draft/read-marker`'s answer and news: how far the user has read in
/// `target`, as the time of the newest message read; a bare `*` when none
/// yet, as the specification has it.
pub(crate) fn markread_line(target: &str, at: Option<&str>) -> Line {
    let marker = match at {
        Some(at) => format!("timestamp={at}"),
        None => "*".to_string(),
    };
    Line::new("MARKREAD", vec![target.to_string(), marker]).with_source(SERVER)
}

/// Whether a room's name can be a channel's.
pub fn is_channel(room: &str) -> bool {
    channel_of(room).is_some()
}

/// Why a room cannot be a channel, if it cannot.
pub fn why_not_a_channel(room: &str) -> &'static str {
    if room.contains(' ') {
        "its name has a space"
    } else if room.contains(',') {
        "its name has a comma"
    } else {
        "its name has a BELL character"
    }
}

/// The IRC target of a message: its channel, or the recipient's nick;
/// `None` for a room that cannot be a channel (nothing of it reaches IRC).
pub fn target_of(message: &Message) -> Option<String> {
    match (&message.room, &message.to) {
        (Some(room), _) => channel_of(room),
        (None, Some(to)) => Some(to.clone()),
        (None, None) => Some(message.username.clone()),
    }
}

/// The current time as `server-time` shows it: as messages carry it.
pub fn now() -> String {
    crate::wire::now_timestamp()
}

/// The tags a message's first line carries for `flags`.
fn message_tags(message: &Message, flags: u8) -> Vec<(String, String)> {
    let mut tags = Vec::new();
    if flags & TIME != 0 {
        tags.push(("time".to_string(), message.sent_at.clone()));
    }
    if flags & MSGID != 0 {
        tags.push(("msgid".to_string(), message.id.to_string()));
    }
    if flags & ACCOUNT != 0 && !message.guest {
        tags.push(("account".to_string(), message.username.clone()));
    }
    tags
}

/// Bytes left for text in `COMMAND target :` from `source`.
fn text_budget(source: &str, command: &str, target: &str) -> usize {
    MAX_BODY_BYTES - 2 - (1 + source.len() + 1 + command.len() + 1 + target.len() + 2)
}

/// The most lines one message becomes, as many as a `draft/multiline`
/// batch may hold: a message of thousands of short lines (within its 4,096
/// characters) would reach every IRC member as thousands of lines, each
/// with its prefix and tags (21 times the message's size), and could
/// overflow a slow member's queue. The last line then says how many more
/// there were.
const MAX_MESSAGE_LINES: usize = super::caps::MULTILINE_MAX_LINES;

/// A stored message as lines: one per line of its text (cut to fit 512
/// bytes, at most [`MAX_MESSAGE_LINES`]), or a `draft/multiline` batch. `batch` puts every line in an
/// enclosing batch (history); `label` goes on the first line.
pub fn message_lines(
    message: &Message,
    flags: u8,
    command: &str,
    batch: Option<&str>,
    label: Option<&str>,
) -> Vec<Line> {
    let source = hostmask(&message.username, message.guest);
    let Some(target) = target_of(message) else {
        return Vec::new();
    };
    if let Some(action) = message.action() {
        return action_lines(message, flags, action, &source, &target, batch, label);
    }
    let text = without_ctcp(&message.text);
    let mut pieces = split_text(&text, text_budget(&source, command, &target));
    let note;
    if pieces.len() > MAX_MESSAGE_LINES {
        let hidden = pieces.len() - (MAX_MESSAGE_LINES - 1);
        pieces.truncate(MAX_MESSAGE_LINES - 1);
        note = format!("[{hidden} more lines of this message are not shown on IRC]");
        pieces.push((&note, false));
    }
    let mut tags = message_tags(message, flags);
    let outer = |line: Line| match batch {
        Some(id) => line.with_tag("batch", id),
        None => line,
    };
    let piece_line = |text: &str| {
        Line::new(command, vec![target.clone(), text.to_string()]).with_source(source.clone())
    };
    if pieces.len() <= 1 {
        let text = pieces.first().map_or(" ", |(text, _)| text);
        let mut line = outer(piece_line(text));
        line.tags.append(&mut tags);
        if let Some(label) = label {
            line = line.with_tag("label", label);
        }
        return vec![line];
    }
    if flags & MULTILINE != 0 {
        let id = format!("ml{}", message.id);
        let mut open = outer(
            Line::new(
                "BATCH",
                vec![format!("+{id}"), "draft/multiline".into(), target.clone()],
            )
            .with_source(source.clone()),
        );
        open.tags.append(&mut tags);
        if let Some(label) = label {
            open = open.with_tag("label", label);
        }
        let mut lines = vec![open];
        for (text, continued) in &pieces {
            let mut line = piece_line(text).with_tag("batch", id.clone());
            if *continued {
                line = line.with_tag("draft/multiline-concat", "");
            }
            lines.push(line);
        }
        lines.push(outer(
            Line::new("BATCH", vec![format!("-{id}")]).with_source(source.clone()),
        ));
        return lines;
    }
    pieces
        .iter()
        .enumerate()
        .map(|(index, (text, _))| {
            let mut line = outer(piece_line(text));
            if index == 0 {
                line.tags.append(&mut tags);
                if let Some(label) = label {
                    line = line.with_tag("label", label);
                }
            } else {
                // Every line keeps the time and author; only the first the id.
                line.tags.extend(
                    message_tags(message, flags & !MSGID)
                        .into_iter()
                        .filter(|(key, _)| key != "msgid"),
                );
            }
            line
        })
        .collect()
}

/// A text from the pipe or the web as IRC shows it. IRC clients take a
/// line with `\x01` for CTCP, and act on it: irssi answers a `VERSION` and
/// offers a `DCC SEND` file from the "sender" to whoever is in the channel.
/// The IRC door stores no CTCP (an action is `/me`), so a `\x01` here came
/// from elsewhere as text, and shows as U+FFFD, as the console shows it.
fn without_ctcp(text: &str) -> Cow<'_, str> {
    match text.contains('\u{1}') {
        true => Cow::Owned(text.replace('\u{1}', "\u{FFFD}")),
        false => Cow::Borrowed(text),
    }
}

/// An action as `PRIVMSG target :\x01ACTION waves\x01` lines, cut to fit.
fn action_lines(
    message: &Message,
    flags: u8,
    action: &str,
    source: &str,
    target: &str,
    batch: Option<&str>,
    label: Option<&str>,
) -> Vec<Line> {
    const WRAPPING: usize = "\u{1}ACTION \u{1}".len();
    let budget = text_budget(source, "PRIVMSG", target) - WRAPPING;
    let action = without_ctcp(action);
    split_text(&action, budget)
        .into_iter()
        .enumerate()
        .map(|(index, (piece, _))| {
            let mut line = Line::new(
                "PRIVMSG",
                vec![target.to_string(), format!("\u{1}ACTION {piece}\u{1}")],
            )
            .with_source(source.to_string());
            if let Some(id) = batch {
                line = line.with_tag("batch", id);
            }
            let mut tags = message_tags(message, if index == 0 { flags } else { flags & !MSGID });
            line.tags.append(&mut tags);
            if index == 0
                && let Some(label) = label
            {
                line = line.with_tag("label", label);
            }
            line
        })
        .collect()
}

/// An edit, for clients without an edit extension: a short NOTICE from the
/// server to the message's channel or conversation.
fn edit_lines(message: &Message, flags: u8) -> Vec<Line> {
    let Some(target) = target_of(message) else {
        return Vec::new();
    };
    let text = without_ctcp(&message.text).replace('\n', " / ");
    let notice = format!("{} edited message {}: {text}", message.username, message.id);
    // A direct message's lines come from its author, as its PRIVMSG did, so
    // that each side's client files them with the conversation.
    let source = match message.room {
        Some(_) => SERVER.to_string(),
        None => hostmask(&message.username, message.guest),
    };
    let budget = text_budget(&source, "NOTICE", &target);
    let first = split_text(&notice, budget)
        .first()
        .map_or_else(String::new, |(piece, _)| (*piece).to_string());
    let mut line = Line::new("NOTICE", vec![target, first]).with_source(source);
    if flags & TIME != 0 {
        line = line.with_tag("time", message.edited_at.clone().unwrap_or_else(now));
    }
    vec![line]
}

/// A delete: `REDACT` for clients with `draft/message-redaction`, a short
/// NOTICE for the others.
pub(crate) fn delete_lines(deleted: &Deleted, flags: u8) -> Vec<Line> {
    // A direct message's REDACT comes from its author, as its PRIVMSG did:
    // a client files both with the conversation, and ignores a REDACT
    // whose message it cannot find there.
    let (target, source) = match (&deleted.room, &deleted.to, &deleted.username) {
        (Some(room), _, _) => match channel_of(room) {
            Some(channel) => (channel, SERVER.to_string()),
            None => return Vec::new(),
        },
        (None, Some(to), Some(author)) => (to.clone(), hostmask(author, false)),
        _ => return Vec::new(),
    };
    let mut line = if flags & REDACT != 0 {
        Line::new("REDACT", vec![target, deleted.id.to_string()]).with_source(source)
    } else {
        Line::new(
            "NOTICE",
            vec![target, format!("message {} was deleted", deleted.id)],
        )
        .with_source(source)
    };
    if flags & TIME != 0 {
        line = line.with_tag("time", now());
    }
    vec![line]
}

/// A line from a user (join, part, topic, ...), with the time and account
/// tags `caps` asks for.
pub fn user_line(caps: Caps, nick: &str, guest: bool, command: &str, params: Vec<String>) -> Line {
    let mut line = Line::new(command, params).with_source(hostmask(nick, guest));
    if caps.has(caps::SERVER_TIME) {
        line = line.with_tag("time", now());
    }
    if caps.has(caps::ACCOUNT_TAG) && !guest {
        line = line.with_tag("account", nick);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nobody may register or take the nick the server's lines come from.
    #[test]
    fn the_servers_name_is_reserved() {
        assert!(crate::chat::limits::is_reserved_name(SERVER));
    }

    fn message(text: &str) -> Message {
        Message {
            id: 42,
            room: Some("general".into()),
            to: None,
            username: "alice".into(),
            text: text.into(),
            sent_at: "2026-11-25T10:00:00.000Z".into(),
            edited_at: None,
            guest: false,
        }
    }

    #[test]
    fn a_message_with_tags() {
        let lines = message_lines(
            &message("hi"),
            TIME | MSGID | ACCOUNT,
            "PRIVMSG",
            None,
            None,
        );
        assert_eq!(
            to_bytes(&lines),
            b"@time=2026-11-25T10:00:00.000Z;msgid=42;account=alice :alice!alice@pipechat PRIVMSG #general hi\r\n"
        );
        let bare = message_lines(&message("hi there"), 0, "PRIVMSG", None, None);
        assert_eq!(
            to_bytes(&bare),
            b":alice!alice@pipechat PRIVMSG #general :hi there\r\n"
        );
    }

    /// 2,048 short lines (a 4 KiB message) become 100 lines on IRC, the
    /// last saying how many more there were; with or without multiline.
    #[test]
    fn a_message_of_many_lines_becomes_at_most_a_hundred() {
        let text = "a\n".repeat(2_048);
        let privmsgs = |flags| {
            message_lines(&message(&text), flags, "PRIVMSG", None, None)
                .into_iter()
                .filter(|line| line.command == "PRIVMSG")
                .map(|line| line.params[1].clone())
                .collect::<Vec<String>>()
        };
        for flags in [0, MULTILINE] {
            let lines = privmsgs(flags);
            assert_eq!(lines.len(), MAX_MESSAGE_LINES);
            assert!(
                lines[..MAX_MESSAGE_LINES - 1]
                    .iter()
                    .all(|line| line == "a")
            );
            assert_eq!(
                lines[MAX_MESSAGE_LINES - 1],
                "[1949 more lines of this message are not shown on IRC]"
            );
        }
        let hundred = "b\n".repeat(99) + "b";
        assert_eq!(
            message_lines(&message(&hundred), 0, "PRIVMSG", None, None).len(),
            MAX_MESSAGE_LINES
        );
    }

    #[test]
    fn long_and_multi_line_texts_fit_512_bytes() {
        let text = format!("{}\nsecond", "é".repeat(400));
        for flags in [0, MULTILINE | MSGID] {
            let lines = message_lines(&message(&text), flags, "PRIVMSG", None, None);
            let mut rebuilt = String::new();
            for line in &lines {
                let wire = line.to_wire();
                let body = match wire.split_once(' ') {
                    Some((tags, body)) if tags.starts_with('@') => body.to_string(),
                    _ => wire.clone(),
                };
                assert!(body.len() <= 512, "{} bytes: {wire}", body.len());
                if line.command == "PRIVMSG" {
                    if line.tag("draft/multiline-concat").is_none() && !rebuilt.is_empty() {
                        rebuilt.push('\n');
                    }
                    rebuilt.push_str(&line.params[1]);
                }
            }
            if flags & MULTILINE != 0 {
                assert_eq!(lines[0].command, "BATCH");
                assert_eq!(rebuilt, text);
            } else {
                assert_eq!(rebuilt.replace('\n', ""), text.replace('\n', ""));
                assert!(lines.len() >= 3);
            }
        }
    }

    #[test]
    fn guests_have_no_account_tag_and_rooms_with_spaces_no_channel() {
        let mut guest = message("hi");
        guest.guest = true;
        let lines = message_lines(&guest, ACCOUNT, "PRIVMSG", None, None);
        assert!(lines[0].tags.is_empty());
        assert_eq!(lines[0].source.as_deref(), Some("alice!~guest@pipechat"));
        assert_eq!(channel_of("my room"), None);
        let action = message_lines(&message("/me waves"), 0, "PRIVMSG", None, None);
        assert_eq!(
            to_bytes(&action),
            b":alice!alice@pipechat PRIVMSG #general :\x01ACTION waves\x01\r\n"
        );
        let literal = message_lines(&message("/me\nwaves"), 0, "PRIVMSG", None, None);
        assert_eq!(literal[0].params[1], "/me");
        let mut spaced = message("hi");
        spaced.room = Some("my room".into());
        assert!(message_lines(&spaced, 0, "PRIVMSG", None, None).is_empty());
        assert!(edit_lines(&spaced, 0).is_empty());
        assert_eq!(channel_of("général"), Some("#général".into()));
    }
}
