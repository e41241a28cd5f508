//! What the user reads: messages, direct messages, edits and deletes, joins
//! and exits, topics, lists, search results. Pure functions from server data
//! to text, so the look is tested without a terminal; each `*_in` and `*_at`
//! variant takes the present time (and so the time zone) as an argument.

use chrono::{DateTime, Datelike, Local, TimeZone};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use super::incoming::Membership;
use crate::wire::{DEFAULT_SEARCH_LIMIT, Message, RoomInfo, TopicChange, Unread};

/// How messages look in this run: `/ids` in a room turns ids on and off.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Look {
    /// Show each message's id (`[17:42 #42]`), for `/edit` and `/delete`.
    pub ids: bool,
}

/// A message as `[17:42] alice: hello`, in local time; an older one shows
/// its date too (see [`sent_time`]); with ids, `[17:42 #42] alice: hello`;
/// an edited one ends with ` (edited)`.
///
/// A multi-line text keeps its lines, each continuation indented under the
/// first so the message reads as one block. A line wider than `width` is
/// wrapped between words, its further lines indented the same way.
pub fn message(message: &Message, look: Look, width: Width) -> String {
    message_in(message, look, &Local::now(), width)
}

/// [`message`] as seen at `now`, in `now`'s time zone, so tests fix both.
pub fn message_in<Tz: TimeZone>(
    message: &Message,
    look: Look,
    now: &DateTime<Tz>,
    width: Width,
) -> String
where
    Tz::Offset: std::fmt::Display,
{
    let prefix = format!(
        "[{}{}] {}",
        sent_time(&message.sent_at, now),
        id_label(message.id, look),
        speaker(&printable(&message.username), message)
    );
    block(prefix, message, width)
}

/// A direct message shown outside its conversation (in a room, at a menu):
/// `[dm 17:42] bob: hi` when it is to you, `[dm 17:42] alice → bob: hi`
/// when you (`me`) wrote it, from here or another session.
pub fn direct(message: &Message, me: &str, look: Look, width: Width) -> String {
    direct_in(message, me, look, &Local::now(), width)
}

/// [`direct`] as seen at `now`.
pub fn direct_in<Tz: TimeZone>(
    message: &Message,
    me: &str,
    look: Look,
    now: &DateTime<Tz>,
    width: Width,
) -> String
where
    Tz::Offset: std::fmt::Display,
{
    let from = printable(&message.username);
    let who = match &message.to {
        Some(to) if message.username.eq_ignore_ascii_case(me) => {
            format!("{from} → {}", printable(to))
        }
        _ => from,
    };
    let prefix = format!(
        "[dm {}{}] {}",
        sent_time(&message.sent_at, now),
        id_label(message.id, look),
        speaker(&who, message)
    );
    block(prefix, message, width)
}

/// A message with where it was: `general [17:42 #42] alice: text` (`@bob`
/// for a conversation), its id always shown, its time as in a room (see
/// [`sent_time`]: `[Nov 23 17:42 #42]` on another day). For search results,
/// and for an edit of a message that is not on screen.
pub fn found(message: &Message, me: &str, width: Width) -> String {
    found_in(message, me, &Local::now(), width)
}

/// [`found`] as seen at `now`.
pub fn found_in<Tz: TimeZone>(
    message: &Message,
    me: &str,
    now: &DateTime<Tz>,
    width: Width,
) -> String
where
    Tz::Offset: std::fmt::Display,
{
    let prefix = format!(
        "{} [{} #{}] {}",
        printable(&message.place_for(me)),
        sent_time(&message.sent_at, now),
        message.id,
        speaker(&printable(&message.username), message)
    );
    block(prefix, message, width)
}

/// The answer to `/search` in `within` (a room, or `@user`), or, without
/// it, everywhere: a header naming the words and where they were looked
/// for, then each message as [`found`], wrapped to `width` less the two
/// columns it is indented by.
pub fn search_results(
    query: &str,
    within: Option<&str>,
    results: &[Message],
    me: &str,
    width: Width,
) -> String {
    search_results_in(query, within, results, me, &Local::now(), width)
}

/// [`search_results`] as seen at `now`.
pub fn search_results_in<Tz: TimeZone>(
    query: &str,
    within: Option<&str>,
    results: &[Message],
    me: &str,
    now: &DateTime<Tz>,
    width: Width,
) -> String
where
    Tz::Offset: std::fmt::Display,
{
    let query = printable(query);
    // A phrase typed with its quotes is shown as typed, not quoted again.
    let phrase = query.len() >= 2 && query.starts_with('"') && query.ends_with('"');
    let query = match phrase {
        true => query,
        false => format!("\"{query}\""),
    };
    let scope = match within.map(printable) {
        Some(place) => match place.strip_prefix('@') {
            Some(other) => format!("in your conversation with {other}"),
            None => format!("in {place}"),
        },
        None => "in your chatrooms and conversations".to_string(),
    };
    match results.len() {
        // What was not looked at, where it may be: a room's search misses
        // the conversations and the other rooms.
        0 if within.is_some() => {
            format!("no messages found for {query} {scope} (menu choice 7 searches everywhere)")
        }
        0 => format!("no messages found for {query} {scope}"),
        count => {
            let what = if count == 1 { "message" } else { "messages" };
            // As many as the server gives without a limit: there may be more.
            let mut shown = if count == DEFAULT_SEARCH_LIMIT as usize {
                format!(
                    "the newest {count} {what} found for {query} {scope} \
                     (there may be more; more words narrow the search):"
                )
            } else {
                format!("{count} {what} found for {query} {scope}, newest first:")
            };
            for message in results {
                let found = found_in(message, me, now, width.less(2));
                for line in found.split('\n') {
                    shown.push_str("\n  ");
                    shown.push_str(line);
                }
            }
            shown
        }
    }
}

/// A message on screen that was deleted: `* alice's message of 17:42 was
/// deleted` (with ids, `message #42`); one shown outside its place (a
/// direct message's `[dm]` line in a room, a search result) says where it
/// was: `* alice's message of 17:42 in @bob was deleted`. Its text is not
/// repeated: it may have been deleted for a reason.
pub fn deleted_at<Tz: TimeZone>(deletion: &Deleted<'_>, look: Look, now: &DateTime<Tz>) -> String
where
    Tz::Offset: std::fmt::Display,
{
    let id = if look.ids {
        format!(" #{}", deletion.id)
    } else {
        String::new()
    };
    let place = deletion
        .elsewhere
        .map(|place| format!(" in {}", printable(place)))
        .unwrap_or_default();
    format!(
        "* {}'s message{id} of {}{place} was deleted",
        printable(deletion.username),
        sent_time(deletion.sent_at, now)
    )
}

/// A deleted message as [`deleted_at`] names it.
pub struct Deleted<'a> {
    pub id: i64,
    pub username: &'a str,
    pub sent_at: &'a str,
    /// Its place (`general`, `@bob`) when that is not the one on screen.
    pub elsewhere: Option<&'a str>,
}

/// [`deleted_at`] now.
pub fn deleted(deletion: &Deleted<'_>, look: Look) -> String {
    deleted_at(deletion, look, &Local::now())
}

/// Before the first message not read yet, among those a place shows when
/// entered (`feed::View::take_fetched_on_entry`).
pub const UNREAD_MARKER: &str = "--- new since you last read ---";

/// Above the messages a place shows when entered, when all of them are
/// unread and unread ones come before them too: entering marks them read,
/// and they would be skipped without a word.
pub const EARLIER_UNREAD: &str = "--- more unread before these: /history shows them ---";

/// As [`EARLIER_UNREAD`], in a chatroom where the user has read nothing
/// yet (a first entry): what comes before is the room's past, not
/// messages missed. (A direct conversation never opened gets
/// [`EARLIER_UNREAD`]: everything in it was sent to the user.)
pub const EARLIER_MESSAGES: &str = "--- earlier messages before these: /history shows them ---";

/// A deleted message that was never on screen: `* message #42 was deleted`.
pub fn deleted_unseen(id: i64) -> String {
    format!("* message #{id} was deleted")
}

/// Who wrote a message, as its text follows: `alice: `, or `* alice `
/// before an action (`/me waves` shows as `* alice waves`). An IRC guest (a
/// nick, no account) is marked `(guest)`: its nick may later be an
/// account's name, or another guest's.
fn speaker(who: &str, message: &Message) -> String {
    let guest = if message.guest { " (guest)" } else { "" };
    if message.action().is_some() {
        format!("* {who}{guest} ")
    } else {
        format!("{who}{guest}: ")
    }
}

/// `prefix` then the text, continuation lines indented under the first,
/// and ` (edited)` at the end of an edited message.
fn block(prefix: String, message: &Message, width: Width) -> String {
    let text = message.action().unwrap_or(&message.text);
    let mut text = text
        .split('\n')
        .map(printable)
        .collect::<Vec<_>>()
        .join("\n");
    if message.edited_at.is_some() {
        text.push_str(" (edited)");
    }
    hanging(&prefix, &text, width)
}

/// How wide the lines shown may be, in terminal columns: what the output
/// they go to allows (see `console::Output::width`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Width {
    /// Not wrapped: the output is not a terminal (a script's, a log's), or
    /// its width is not known.
    Unbounded,
    /// Wrapped to this many columns.
    Columns(usize),
}

impl Width {
    /// `columns` fewer (for text shown indented), never less than one.
    fn less(self, columns: usize) -> Width {
        match self {
            Width::Unbounded => Width::Unbounded,
            Width::Columns(width) => Width::Columns(width.saturating_sub(columns).max(1)),
        }
    }
}

/// The fewest columns a wrapped line's text keeps beside its indentation:
/// on a terminal too narrow for that, lines that follow are indented less.
const NARROWEST_TEXT: usize = 20;

/// Tab stops every this many columns, where lines are wrapped.
const TAB_STOP: usize = 8;

/// `prefix` then `text` (already `printable`): the text's further lines
/// start under its first, indented as wide as the prefix. With a width,
/// lines too long for it are broken between words (at spaces only: a
/// hyphen may belong to a link or a room's name, which must stay whole to
/// be copied), a word too long for a line of its own where it must; tabs
/// are turned into spaces to the next tab stop. Everything is measured by
/// [`columns`], as the checks of what fits are.
/// When the indentation would leave fewer than `NARROWEST_TEXT` columns,
/// the lines that follow are indented by two.
fn hanging(prefix: &str, text: &str, width: Width) -> String {
    let indent = " ".repeat(columns(prefix));
    let Width::Columns(width) = width else {
        return text
            .split('\n')
            .enumerate()
            .map(|(index, line)| match index {
                0 => format!("{prefix}{line}"),
                _ => format!("{indent}{line}"),
            })
            .collect::<Vec<_>>()
            .join("\n");
    };
    let indent = if width.saturating_sub(indent.len()) < NARROWEST_TEXT {
        " ".repeat(2.min(indent.len()))
    } else {
        indent
    };
    let mut shown = Vec::new();
    for (index, line) in text.split('\n').enumerate() {
        let first = if index == 0 { prefix } else { indent.as_str() };
        let line = without_tabs(line);
        if line.is_empty() {
            shown.push(first.to_string());
            continue;
        }
        wrap_line(&line, first, &indent, width, &mut shown);
    }
    shown.join("\n")
}

/// How many columns a terminal gives `text`: unicode-width's measure of the
/// whole string, which counts an emoji sequence such as `❤️` (a heart and
/// U+FE0F) as the two columns it takes, where adding up its characters
/// gives one. Wrapping, indenting and [`fit`]'s check all use this one
/// measure, or a line found to fit could be wider than the terminal.
fn columns(text: &str) -> usize {
    text.width()
}

/// A word and the spaces after it, as [`wrap_line`] places them.
#[derive(Debug)]
struct Piece<'a> {
    word: &'a str,
    spaces: &'a str,
}

impl textwrap::core::Fragment for Piece<'_> {
    fn width(&self) -> f64 {
        columns(self.word) as f64
    }

    fn whitespace_width(&self) -> f64 {
        self.spaces.len() as f64
    }

    fn penalty_width(&self) -> f64 {
        0.0
    }
}

/// Pushes `line` (no line feed, no tab) onto `shown` as lines of at most
/// `width` columns where its words allow, the first after `first`, the
/// others after `indent`.
fn wrap_line(line: &str, first: &str, indent: &str, width: usize, shown: &mut Vec<String>) {
    let first_width = width.saturating_sub(columns(first));
    let other_width = width.saturating_sub(columns(indent)).max(1);
    // Words too long for a line are cut to fit the lines after the first;
    // an empty piece ahead lets the first of them start on the second line
    // when the first has less room (as textwrap does).
    let mut pieces = vec![Piece {
        word: "",
        spaces: "",
    }];
    let mut rest = line;
    while !rest.is_empty() {
        let word_end = rest.find(' ').unwrap_or(rest.len());
        let spaces_end = rest[word_end..]
            .find(|c| c != ' ')
            .map_or(rest.len(), |at| word_end + at);
        cut_to_fit(&rest[..word_end], other_width, &mut pieces);
        if let Some(last) = pieces.last_mut() {
            last.spaces = &rest[word_end..spaces_end];
        }
        rest = &rest[spaces_end..];
    }
    let line_widths = [first_width as f64, other_width as f64];
    let lines = textwrap::wrap_algorithms::wrap_first_fit(&pieces, &line_widths);
    for (number, on_line) in lines.iter().enumerate() {
        let mut text = String::from(if number == 0 { first } else { indent });
        for (index, piece) in on_line.iter().enumerate() {
            text.push_str(piece.word);
            if index + 1 < on_line.len() {
                text.push_str(piece.spaces);
            }
        }
        shown.push(text);
    }
}

/// Pushes `word` onto `pieces`, cut into parts of at most `most` columns
/// when it is wider. A cut never falls before a character of no width of
/// its own (a combining accent, U+FE0F), which belongs with the one before.
fn cut_to_fit<'a>(mut word: &'a str, most: usize, pieces: &mut Vec<Piece<'a>>) {
    while columns(word) > most {
        let mut cut = None;
        let places = word
            .char_indices()
            .filter(|&(at, c)| at > 0 && c.width().unwrap_or(0) > 0);
        for (at, _) in places {
            if columns(&word[..at]) > most {
                // A first character wider than a line goes on its own.
                cut.get_or_insert(at);
                break;
            }
            cut = Some(at);
        }
        let Some(at) = cut else { break };
        pieces.push(Piece {
            word: &word[..at],
            spaces: "",
        });
        word = &word[at..];
    }
    pieces.push(Piece { word, spaces: "" });
}

/// Any text shown to fit `width`: each line wider than that wrapped at
/// spaces as `hanging` does, its further lines indented as the line
/// itself is (a list's items stay under each other). Lines that fit, such
/// as those of a message already wrapped, are left as they are.
pub fn fit(text: &str, width: Width) -> std::borrow::Cow<'_, str> {
    let Width::Columns(most) = width else {
        return std::borrow::Cow::Borrowed(text);
    };
    let fits = |line: &str| columns(&without_tabs(line)) <= most;
    if text.split('\n').all(fits) {
        return std::borrow::Cow::Borrowed(text);
    }
    let lines: Vec<String> = text
        .split('\n')
        .map(|line| {
            let body = line.trim_start_matches(' ');
            let indent = &line[..line.len() - body.len()];
            if fits(line) || body.is_empty() {
                line.to_string()
            } else {
                hanging(indent, body, width)
            }
        })
        .collect();
    std::borrow::Cow::Owned(lines.join("\n"))
}

/// `line` with each tab turned into the spaces up to the next tab stop,
/// counted from the line's start; the columns a tab takes depend on where
/// it falls, and wrapping must know them.
fn without_tabs(line: &str) -> std::borrow::Cow<'_, str> {
    if !line.contains('\t') {
        return std::borrow::Cow::Borrowed(line);
    }
    let mut expanded = String::with_capacity(line.len() + TAB_STOP);
    // The columns up to `measured`: each stretch is measured once, or a
    // message of 4,096 tabs would measure its whole line at each of them.
    let (mut column, mut measured) = (0, 0);
    for c in line.chars() {
        if c == '\t' {
            column += columns(&expanded[measured..]);
            let spaces = TAB_STOP - column % TAB_STOP;
            expanded.extend(std::iter::repeat_n(' ', spaces));
            column += spaces;
            measured = expanded.len();
        } else {
            expanded.push(c);
        }
    }
    std::borrow::Cow::Owned(expanded)
}

fn id_label(id: i64, look: Look) -> String {
    if look.ids {
        format!(" #{id}")
    } else {
        String::new()
    }
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

/// As [`sent_time`], but the date is always there: `Nov 24 17:42`, or
/// `Nov 24, 2025 17:42` in another year.
pub fn sent_date_time<Tz: TimeZone>(sent_at: &str, now: &DateTime<Tz>) -> String
where
    Tz::Offset: std::fmt::Display,
{
    let Ok(time) = DateTime::parse_from_rfc3339(sent_at) else {
        return "??? ?? ??:??".to_string();
    };
    let time = time.with_timezone(&now.timezone());
    let format = if time.year() == now.year() {
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

/// Said in a room the user left on another connection.
pub fn left_elsewhere(room: &str) -> String {
    format!(
        "you left {} on another connection; press Enter to go back to the menu",
        printable(room)
    )
}

/// `* alice set the topic of general: text`, or `* alice cleared the topic
/// of general`.
pub fn topic_changed(change: &TopicChange) -> String {
    let who = printable(&change.username);
    let room = printable(&change.room);
    if change.topic.is_empty() {
        format!("* {who} cleared the topic of {room}")
    } else {
        format!(
            "* {who} set the topic of {room}: {}",
            printable(&change.topic)
        )
    }
}

/// A room's topic on entering it or for `/topic`: `topic: text`.
pub fn topic(topic: &str) -> String {
    if topic.is_empty() {
        "no topic".to_string()
    } else {
        format!("topic: {}", printable(topic))
    }
}

/// `/info`: the room's owner, age, counts and retention.
pub fn room_info(info: &RoomInfo) -> String {
    room_info_at(info, &Local::now())
}

/// [`room_info`] as seen at `now`.
pub fn room_info_at<Tz: TimeZone>(info: &RoomInfo, now: &DateTime<Tz>) -> String
where
    Tz::Offset: std::fmt::Display,
{
    format!(
        "chatroom {}\n  {}\n  owner: {}, created {}\n  members: {}\n  messages: {}\n  messages kept: {}",
        printable(&info.name),
        topic(&info.topic),
        printable(&info.owner),
        sent_date_time(&info.created_at, now),
        info.members,
        info.messages,
        retention(info.retention_days)
    )
}

/// How long a room keeps its messages: `forever`, `1 day`, `30 days`.
pub fn retention(days: i64) -> String {
    match days {
        0 => "forever".to_string(),
        1 => "1 day".to_string(),
        days => format!("{days} days"),
    }
}

/// The chatrooms, as the web page's sidebar has them: the user's own first
/// (the rooms `/getUnread` counts for them), under `your chatrooms`, each
/// with its unread count when something is unread; then the others, under
/// `other chatrooms`. A user in no room reads `your chatrooms: none yet`, so
/// that no room looks like one of theirs.
pub fn rooms(names: &[String], unread: &[Unread]) -> String {
    if names.is_empty() {
        return "no chatrooms yet; choose 2 to create one".to_string();
    }
    let unread_in = |name: &String| {
        unread
            .iter()
            .find(|entry| entry.room == *name)
            .map(|entry| entry.unread)
    };
    let mine: Vec<(String, i64)> = names
        .iter()
        .filter_map(|name| Some((printable(name), unread_in(name)?)))
        .collect();
    let others: Vec<(String, i64)> = names
        .iter()
        .filter(|name| unread_in(name).is_none())
        .map(|name| (printable(name), 0))
        .collect();
    let mut shown = if mine.is_empty() {
        "your chatrooms: none yet".to_string()
    } else {
        counted_list(&format!("your chatrooms ({}):", mine.len()), &mine)
    };
    if !others.is_empty() {
        shown.push('\n');
        shown.push_str(&counted_list(
            &format!("other chatrooms ({}):", others.len()),
            &others,
        ));
    }
    shown
}

/// The direct conversations (the `@` entries of `/getUnread`) with their
/// unread counts.
pub fn conversations(unread: &[Unread]) -> String {
    let rows: Vec<(String, i64)> = unread
        .iter()
        .filter(|entry| entry.room.starts_with('@'))
        .map(|entry| (printable(&entry.room), entry.unread))
        .collect();
    if rows.is_empty() {
        return "no direct conversations yet".to_string();
    }
    counted_list(&format!("direct conversations ({}):", rows.len()), &rows)
}

/// `title`, then one row a line, names padded so the counts line up.
fn counted_list(title: &str, rows: &[(String, i64)]) -> String {
    // Columns on screen, not characters: an emoji takes two.
    let width = rows
        .iter()
        .map(|(name, _)| columns(name))
        .max()
        .unwrap_or(0);
    let mut shown = title.to_string();
    for (name, count) in rows {
        shown.push_str("\n  ");
        shown.push_str(name);
        if *count > 0 {
            let pad = width - columns(name);
            shown.push_str(&format!("{}  {count} unread", " ".repeat(pad)));
        }
    }
    shown
}

/// What is unread, after logging in: `unread: general 3, @bob 1`.
pub fn unread_summary(unread: &[Unread]) -> String {
    let parts: Vec<String> = unread
        .iter()
        .filter(|entry| entry.unread > 0)
        .map(|entry| format!("{} {}", printable(&entry.room), entry.unread))
        .collect();
    if parts.is_empty() {
        "nothing unread".to_string()
    } else {
        format!("unread: {}", parts.join(", "))
    }
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

    const PLAIN: Look = Look { ids: false };
    const IDS: Look = Look { ids: true };

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
            message_in(
                &sample("hi | there \\ é 👋"),
                PLAIN,
                &today(),
                Width::Unbounded
            ),
            "[17:42] alice: hi | there \\ é 👋"
        );
    }

    #[test]
    fn an_irc_guests_message_says_so() {
        let mut guest = sample("hello");
        guest.username = "Trudy".into();
        guest.guest = true;
        assert_eq!(
            message_in(&guest, PLAIN, &today(), Width::Unbounded),
            "[17:42] Trudy (guest): hello"
        );
        guest.text = "/me waves".into();
        assert_eq!(
            message_in(&guest, PLAIN, &today(), Width::Unbounded),
            "[17:42] * Trudy (guest) waves"
        );
    }

    #[test]
    fn the_time_is_converted_to_the_readers_zone() {
        let paris = FixedOffset::east_opt(3600).expect("offset");
        let now = at("2026-11-24T20:00:00+01:00", &paris);
        assert_eq!(
            message_in(&sample("x"), PLAIN, &now, Width::Unbounded),
            "[18:42] alice: x"
        );
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

    /// `/me waves` is an action; `/me` alone, `/mew`, or an action on
    /// several lines are plain text.
    #[test]
    fn an_action_shows_as_a_line_about_its_author() {
        assert_eq!(
            message_in(&sample("/me waves | hi"), PLAIN, &today(), Width::Unbounded),
            "[17:42] * alice waves | hi"
        );
        let mut direct = sample("/me nods");
        direct.room = None;
        direct.to = Some("bob".into());
        assert_eq!(
            direct_in(&direct, "bob", PLAIN, &today(), Width::Unbounded),
            "[dm 17:42] * alice nods"
        );
        assert!(found_in(&direct, "bob", &today(), Width::Unbounded).ends_with("] * alice nods"));
        for plain in ["/me ", "/mewaves", "/me one\ntwo"] {
            assert!(
                message_in(&sample(plain), PLAIN, &today(), Width::Unbounded)
                    .starts_with("[17:42] alice: /me"),
                "{plain:?}"
            );
        }
    }

    #[test]
    fn continuation_lines_are_indented_under_the_first() {
        assert_eq!(
            message_in(&sample("one\ntwo"), PLAIN, &today(), Width::Unbounded),
            "[17:42] alice: one\n               two"
        );
        let older = sent_at("one\ntwo", "2026-11-20T17:42:05.123Z");
        assert_eq!(
            message_in(&older, PLAIN, &today(), Width::Unbounded),
            "[Nov 20 17:42] alice: one\n                      two"
        );
    }

    /// Each line of `shown`, with its width in columns.
    fn widths(shown: &str) -> Vec<(String, usize)> {
        shown
            .split('\n')
            .map(|line| (line.to_string(), columns(line)))
            .collect()
    }

    #[test]
    fn long_lines_wrap_between_words_under_the_first() {
        let text = "the quick brown fox jumps over the lazy dog and keeps running far away";
        let shown = message_in(&sample(text), PLAIN, &today(), Width::Columns(40));
        assert_eq!(
            shown,
            [
                "[17:42] alice: the quick brown fox jumps",
                "               over the lazy dog and",
                "               keeps running far away",
            ]
            .join("\n")
        );
        // What fits is as it was; no width, no wrapping.
        assert_eq!(
            message_in(&sample("short"), PLAIN, &today(), Width::Columns(40)),
            message_in(&sample("short"), PLAIN, &today(), Width::Unbounded)
        );
        assert_eq!(
            message_in(&sample(text), PLAIN, &today(), Width::Unbounded),
            format!("[17:42] alice: {text}")
        );
        // Exactly as wide as the terminal fits.
        let exact = "x".repeat(40 - 15);
        assert_eq!(
            message_in(&sample(&exact), PLAIN, &today(), Width::Columns(40)),
            format!("[17:42] alice: {exact}")
        );
    }

    #[test]
    fn a_word_longer_than_a_line_is_broken_where_it_must() {
        let url = format!("https://example.org/{}", "a".repeat(60));
        let shown = message_in(
            &sample(&format!("see {url} now")),
            PLAIN,
            &today(),
            Width::Columns(40),
        );
        let lines = widths(&shown);
        assert!(lines.iter().all(|(_, width)| *width <= 40), "{lines:?}");
        assert_eq!(lines[0].0, "[17:42] alice: see");
        assert!(
            lines[1..]
                .iter()
                .all(|(line, _)| line.starts_with(&" ".repeat(15)))
        );
        let rejoined: String = lines[1..]
            .iter()
            .map(|(line, _)| line.trim_start())
            .collect();
        assert_eq!(rejoined, format!("{url} now"));
    }

    #[test]
    fn wrapping_counts_columns_not_characters() {
        // Two columns each: ten fit in the 20 beside the prefix.
        let wide = "会議".repeat(6);
        let shown = message_in(&sample(&wide), PLAIN, &today(), Width::Columns(35));
        assert_eq!(
            shown,
            format!(
                "[17:42] alice: {}\n               {}",
                "会議".repeat(5),
                "会議"
            )
        );
        // Accents, precomposed or combining, take one column.
        let accents = "café cafe\u{301} déjà vu élan ça";
        assert_eq!(
            message_in(&sample(accents), PLAIN, &today(), Width::Columns(40)),
            format!("[17:42] alice: {accents}"),
            "exactly 40 columns"
        );
        assert_eq!(
            message_in(&sample(accents), PLAIN, &today(), Width::Columns(39)),
            "[17:42] alice: café cafe\u{301} déjà vu élan\n               ça"
        );
        // A wide name indents the lines after it by its width.
        let from_tokyo = sample_by("太郎", "one two three four five six");
        assert_eq!(
            message_in(&from_tokyo, PLAIN, &today(), Width::Columns(36)),
            "[17:42] 太郎: one two three four\n              five six"
        );
        assert_eq!(
            message_in(
                &sample_by("太郎", "a\nb"),
                PLAIN,
                &today(),
                Width::Unbounded
            ),
            "[17:42] 太郎: a\n              b"
        );
        for (line, width) in widths(&message_in(
            &sample(&"👋 ".repeat(40)),
            PLAIN,
            &today(),
            Width::Columns(33),
        )) {
            assert!(width <= 33, "{line:?} is {width} wide");
        }
        // A heart and U+FE0F: two columns on screen, though its characters
        // add up to one; the lines are as wide as they are measured.
        let hearts = message_in(
            &sample(&"❤️ ".repeat(20)),
            PLAIN,
            &today(),
            Width::Columns(40),
        );
        let lines = widths(&hearts);
        assert!(lines.iter().all(|(_, width)| *width <= 40), "{lines:?}");
        assert_eq!(
            lines[0].0,
            format!("[17:42] alice: {}", "❤️ ".repeat(8).trim_end())
        );
        assert_eq!(fit(&hearts, Width::Columns(40)), hearts, "fit agrees");
        let signs = "⚠️ ✔️ ".repeat(10);
        let signs = fit(&signs, Width::Columns(20));
        assert!(
            widths(&signs).iter().all(|(_, width)| *width <= 20),
            "{signs}"
        );
        // Never cut from the character it modifies.
        let joined = "❤️".repeat(30);
        for (line, width) in widths(&message_in(
            &sample(&joined),
            PLAIN,
            &today(),
            Width::Columns(40),
        )) {
            assert!(width <= 40, "{line:?} is {width} wide");
            assert!(!line.trim_start().starts_with('\u{fe0f}'), "{line:?}");
        }
    }

    /// A hyphen is part of a word: links, room names and `well-known`
    /// stay whole, to be read and copied as they are.
    #[test]
    fn lines_are_not_broken_at_hyphens() {
        // Each time, the hyphenated word's first part would fit on the
        // first line: 15 columns of prefix, 21 of words.
        for word in ["well-known", "https://ex.org/a-b-c", "team-alpha-x"] {
            let text = format!("say this to the {word} ok");
            let shown = message_in(&sample(&text), PLAIN, &today(), Width::Columns(40));
            assert_eq!(
                shown,
                format!("[17:42] alice: say this to the\n               {word} ok"),
                "{word}"
            );
        }
        assert_eq!(
            fit("see the team-alpha-x room", Width::Columns(16)),
            "see the\nteam-alpha-x\nroom"
        );
    }

    #[test]
    fn other_text_is_fit_to_the_terminal_between_words() {
        let said = "created chatroom general (you are its owner and a member); to go in, \
                    choose 1 and type general";
        assert_eq!(
            fit(said, Width::Columns(40)),
            "created chatroom general (you are its\nowner and a member); to go in, choose 1\n\
             and type general"
        );
        let listed = "chatrooms (1):\n  a-room-with-a-long-name and a longer description";
        assert_eq!(
            fit(listed, Width::Columns(30)),
            "chatrooms (1):\n  a-room-with-a-long-name and\n  a longer description"
        );
        let wrapped = message_in(&sample(said), PLAIN, &today(), Width::Columns(40));
        assert_eq!(fit(&wrapped, Width::Columns(40)), wrapped);
        assert_eq!(fit(said, Width::Unbounded), said);
    }

    fn sample_by(username: &str, text: &str) -> Message {
        Message {
            username: username.into(),
            ..sample(text)
        }
    }

    #[test]
    fn wrapped_messages_keep_their_lines_tabs_and_edited_mark() {
        let mut message = sample("first line is long enough to wrap\n\nlast\tone");
        message.edited_at = Some("2026-11-24T17:50:00.000Z".into());
        assert_eq!(
            message_in(&message, PLAIN, &today(), Width::Columns(40)),
            [
                "[17:42] alice: first line is long enough",
                "               to wrap",
                "               ",
                "               last    one (edited)",
            ]
            .join("\n")
        );
    }

    #[test]
    fn tabs_go_to_the_next_stop_after_wide_text_and_other_tabs() {
        assert_eq!(without_tabs("会\tx"), "会      x");
        assert_eq!(
            without_tabs("ab\t\tc❤️\td"),
            format!("ab{}c❤️{}d", " ".repeat(14), " ".repeat(5))
        );
        // As many tabs as a message may hold: each stretch is measured once.
        assert_eq!(
            without_tabs(&"\t".repeat(4096)),
            " ".repeat(4096 * TAB_STOP)
        );
    }

    #[test]
    fn a_terminal_too_narrow_for_the_indent_indents_less() {
        let shown = message_in(
            &sample("one two three four five six seven"),
            PLAIN,
            &today(),
            Width::Columns(30),
        );
        assert_eq!(shown, "[17:42] alice: one two three\n  four five six seven");
    }

    #[test]
    fn direct_messages_and_search_results_wrap_too() {
        let mine = direct(44, "alice", "bob", "see you at the station tomorrow");
        assert_eq!(
            direct_in(&mine, "alice", PLAIN, &today(), Width::Columns(50)),
            "[dm 17:42] alice → bob: see you at the station\n                        tomorrow"
        );
        let mut found = sample("deploy done and dusted at last");
        found.id = 42;
        let shown = search_results_in(
            "deploy",
            None,
            &[found],
            "alice",
            &today(),
            Width::Columns(50),
        );
        assert_eq!(
            shown.split('\n').skip(1).collect::<Vec<_>>(),
            [
                "  general [17:42 #42] alice: deploy done and",
                "                             dusted at last",
            ]
        );
    }

    #[test]
    fn control_characters_cannot_reach_the_terminal() {
        assert_eq!(
            message_in(
                &sample("\u{1b}[2Jgone\rback\ttab"),
                PLAIN,
                &today(),
                Width::Unbounded
            ),
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

    fn direct(id: i64, from: &str, to: &str, text: &str) -> Message {
        Message {
            id,
            room: None,
            to: Some(to.into()),
            ..sent_at_by(from, text, "2026-11-24T17:42:05.123Z")
        }
    }

    fn sent_at_by(username: &str, text: &str, time: &str) -> Message {
        Message {
            username: username.into(),
            ..sent_at(text, time)
        }
    }

    #[test]
    fn ids_show_after_the_time_only_when_asked() {
        let mut message = sample("hi");
        message.id = 42;
        assert_eq!(
            message_in(&message, PLAIN, &today(), Width::Unbounded),
            "[17:42] alice: hi"
        );
        assert_eq!(
            message_in(&message, IDS, &today(), Width::Unbounded),
            "[17:42 #42] alice: hi"
        );
    }

    #[test]
    fn an_edited_message_ends_with_edited_after_its_last_line() {
        let mut message = sample("one\ntwo");
        message.edited_at = Some("2026-11-24T17:50:00.000Z".into());
        assert_eq!(
            message_in(&message, PLAIN, &today(), Width::Unbounded),
            "[17:42] alice: one\n               two (edited)"
        );
    }

    #[test]
    fn direct_messages_outside_their_conversation_say_dm_and_who_to_whom() {
        let to_me = direct(43, "bob", "alice", "hi | there");
        assert_eq!(
            direct_in(&to_me, "alice", PLAIN, &today(), Width::Unbounded),
            "[dm 17:42] bob: hi | there"
        );
        let mine = direct(44, "alice", "bob", "yes\nno");
        assert_eq!(
            direct_in(&mine, "ALICE", IDS, &today(), Width::Unbounded),
            "[dm 17:42 #44] alice → bob: yes\n                            no"
        );
        let note = direct(45, "alice", "alice", "note");
        assert_eq!(
            direct_in(&note, "alice", PLAIN, &today(), Width::Unbounded),
            "[dm 17:42] alice → alice: note"
        );
    }

    #[test]
    fn search_results_name_the_place_and_the_id_and_are_dated_as_in_a_room() {
        let mut in_room = sample("deploy done");
        in_room.id = 42;
        let dm = direct(17, "bob", "alice", "deploy?");
        let mut yesterday = sent_at_by("carol", "deploy tomorrow", "2026-11-23T09:15:00Z");
        yesterday.id = 9;
        let shown = search_results_in(
            "deploy",
            None,
            &[in_room, dm, yesterday],
            "alice",
            &today(),
            Width::Unbounded,
        );
        // Dated as in a room: today's by the time alone, another day's with
        // its date.
        assert_eq!(
            shown,
            [
                "3 messages found for \"deploy\" in your chatrooms and conversations, newest first:",
                "  general [17:42 #42] alice: deploy done",
                "  @bob [17:42 #17] bob: deploy?",
                "  general [Nov 23 09:15 #9] carol: deploy tomorrow",
            ]
            .join("\n")
        );
        let many = vec![sample("deploy"); DEFAULT_SEARCH_LIMIT as usize];
        let shown = search_results_in(
            "deploy",
            Some("general"),
            &many,
            "alice",
            &today(),
            Width::Unbounded,
        );
        assert!(
            shown.starts_with(
                "the newest 50 messages found for \"deploy\" in general \
                 (there may be more; more words narrow the search):\n"
            ),
            "{shown}"
        );
        assert_eq!(
            search_results_in("x\u{1b}", None, &[], "alice", &today(), Width::Unbounded),
            "no messages found for \"x\u{fffd}\" in your chatrooms and conversations"
        );
        assert_eq!(
            search_results_in(
                "\"still typing\"",
                Some("@bob"),
                &[],
                "alice",
                &today(),
                Width::Unbounded
            ),
            "no messages found for \"still typing\" in your conversation with bob \
             (menu choice 7 searches everywhere)"
        );
        assert_eq!(
            search_results_in(
                "5\" screen",
                Some("general"),
                &[],
                "alice",
                &today(),
                Width::Unbounded
            ),
            "no messages found for \"5\" screen\" in general (menu choice 7 searches everywhere)"
        );
        let old = sent_at_by("carol", "hi", "2025-03-01T08:00:00Z");
        assert_eq!(
            found_in(&old, "alice", &today(), Width::Unbounded),
            "general [Mar 1, 2025 08:00 #1] carol: hi"
        );
    }

    #[test]
    fn a_deleted_message_is_named_without_its_text() {
        let at = "2026-11-24T17:42:05.123Z";
        let mut deletion = Deleted {
            id: 42,
            username: "bob",
            sent_at: at,
            elsewhere: None,
        };
        assert_eq!(
            deleted_at(&deletion, PLAIN, &today()),
            "* bob's message of 17:42 was deleted"
        );
        assert_eq!(
            deleted_at(&deletion, IDS, &today()),
            "* bob's message #42 of 17:42 was deleted"
        );
        deletion.elsewhere = Some("@alice");
        assert_eq!(
            deleted_at(&deletion, PLAIN, &today()),
            "* bob's message of 17:42 in @alice was deleted"
        );
        assert_eq!(deleted_unseen(42), "* message #42 was deleted");
    }

    #[test]
    fn topics_and_room_info_read_as_sentences() {
        let change = TopicChange {
            room: "general".into(),
            topic: "deploys | only".into(),
            username: "alice".into(),
        };
        assert_eq!(
            topic_changed(&change),
            "* alice set the topic of general: deploys | only"
        );
        let cleared = TopicChange {
            topic: String::new(),
            ..change
        };
        assert_eq!(
            topic_changed(&cleared),
            "* alice cleared the topic of general"
        );
        let info = RoomInfo {
            name: "general".into(),
            owner: "alice".into(),
            created_at: "2026-11-20T09:00:00.000Z".into(),
            members: 3,
            messages: 120,
            retention_days: 30,
            topic: "deploys".into(),
        };
        assert_eq!(
            room_info_at(&info, &today()),
            "chatroom general\n  topic: deploys\n  owner: alice, created Nov 20 09:00\n  \
             members: 3\n  messages: 120\n  messages kept: 30 days"
        );
        assert_eq!(retention(0), "forever");
        assert_eq!(retention(1), "1 day");
        assert_eq!(topic(""), "no topic");
    }

    fn unread(room: &str, count: i64) -> Unread {
        Unread {
            room: room.into(),
            unread: count,
            last_read_id: 0,
            last_id: count,
        }
    }

    #[test]
    fn unread_counts_line_up_beside_rooms_and_conversations() {
        let counts = [
            unread("general", 3),
            unread("random", 0),
            unread("@bob", 2),
            unread("@carol", 0),
        ];
        let names = ["dev".to_string(), "general".into(), "random".into()];
        assert_eq!(
            rooms(&names, &counts),
            "your chatrooms (2):\n  general  3 unread\n  random\nother chatrooms (1):\n  dev"
        );
        assert_eq!(
            conversations(&counts),
            "direct conversations (2):\n  @bob    2 unread\n  @carol"
        );
        assert_eq!(conversations(&counts[..2]), "no direct conversations yet");
        assert_eq!(unread_summary(&counts), "unread: general 3, @bob 2");
        assert_eq!(unread_summary(&counts[1..2]), "nothing unread");
        assert_eq!(
            rooms(&[], &counts),
            "no chatrooms yet; choose 2 to create one"
        );
    }

    /// A room the user is in reads as theirs whether or not something is
    /// unread there; one they are not in, as another's, though the lists
    /// look alike otherwise.
    #[test]
    fn the_room_list_tells_the_users_rooms_from_the_others() {
        let names = ["dev".to_string(), "general".into(), "random".into()];
        let member_of_all = [unread("dev", 0), unread("general", 0), unread("random", 0)];
        assert_eq!(
            rooms(&names, &member_of_all),
            "your chatrooms (3):\n  dev\n  general\n  random"
        );
        assert_eq!(
            rooms(&names, &[]),
            "your chatrooms: none yet\nother chatrooms (3):\n  dev\n  general\n  random"
        );
        let in_random = [unread("random", 0), unread("@bob", 1)];
        assert_eq!(
            rooms(&names, &in_random),
            "your chatrooms (1):\n  random\nother chatrooms (2):\n  dev\n  general"
        );
    }

    /// Wide characters (emoji, CJK) take two columns each.
    #[test]
    fn unread_counts_line_up_after_wide_characters() {
        let counts = [unread("café ☕ 🎉", 2), unread("big", 1), unread("会議", 4)];
        let names = ["big".to_string(), "café ☕ 🎉".into(), "会議".into()];
        assert_eq!(
            rooms(&names, &counts),
            "your chatrooms (3):\n  big         1 unread\n  café ☕ 🎉  2 unread\n  \
             会議        4 unread"
        );
    }
}
