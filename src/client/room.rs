//! Being in a chatroom: its recent history, then new messages, joins and
//! exits as the server pushes them, while the user types.
//!
//! # Entering without gaps or duplicates
//!
//! `/joinChatroom`, then `/subscribe` *before* `/fetchMessages`: a message sent
//! in between is both fetched and pushed, never neither. The ids shown so far
//! are kept in `Shown`; a pushed message whose id is not above the newest
//! shown is skipped. The user's own messages are shown from the `201` reply
//! (so they appear at once, in order with what they typed) and their pushed
//! copy is skipped the same way.
//!
//! # Leaving
//!
//! - `/exit` or Ctrl-C sends `/exitChatroom`: the user stops being a member,
//!   the others see `* alice left general`, and the menu comes back.
//! - Ctrl-D (or the end of piped input) only sends `/unsubscribe`: the user
//!   stays a member, as when closing a chat window, and can enter again later
//!   to read what was said meanwhile.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender, select};
use serde::Deserialize;
use serde::de::IgnoredAny;

use super::console::{Input, Output};
use super::error::ClientError;
use super::incoming::PushedEvent;
use super::menu;
use super::render;
use super::session::Session;
use crate::wire::{MAX_FETCH_LIMIT, Message};

/// How many earlier messages `/history` shows when no number is given.
const DEFAULT_HISTORY: u32 = 20;

const ROOM_HELP: &str = "\
in a chatroom:
  <text>         send a message (start it with // to send a line beginning with /)
  /members       list the members of this room
  /history [N]   show N earlier messages (default 20, at most 1000)
  /exit          leave the room (you stop being a member) and go back to the menu
  /help          this list
  Ctrl-C         leave the room, as /exit does
  Ctrl-D         back to the menu, staying a member";

/// A line typed in a room.
#[derive(Debug, Clone, PartialEq, Eq)]
enum RoomCommand {
    Nothing,
    Send(String),
    Members,
    History(u32),
    Help,
    Exit,
    /// A `/word` that is not a room command, or a bad `/history` count.
    Mistake(String),
}

impl RoomCommand {
    fn parse(line: &str) -> RoomCommand {
        if line.trim().is_empty() {
            return RoomCommand::Nothing;
        }
        if let Some(text) = line.strip_prefix("//") {
            return RoomCommand::Send(format!("/{text}"));
        }
        if !line.starts_with('/') {
            return RoomCommand::Send(line.to_string());
        }
        let mut words = line.split_whitespace();
        let command = words.next().unwrap_or_default();
        let argument = words.next();
        match (command, argument, words.next()) {
            ("/exit", None, _) => RoomCommand::Exit,
            ("/members", None, _) => RoomCommand::Members,
            ("/help", None, _) => RoomCommand::Help,
            ("/history", None, _) => RoomCommand::History(DEFAULT_HISTORY),
            ("/history", Some(count), None) => match count.parse::<u32>() {
                Ok(count) if (1..=MAX_FETCH_LIMIT).contains(&count) => RoomCommand::History(count),
                _ => RoomCommand::Mistake(format!(
                    "usage: /history N, with N from 1 to {MAX_FETCH_LIMIT}"
                )),
            },
            ("/exit" | "/members" | "/help" | "/history", _, _) => RoomCommand::Mistake(format!(
                "{command} takes no such arguments; /help lists the commands"
            )),
            _ => RoomCommand::Mistake(format!(
                "unknown command '{command}'; /help lists the commands, // starts a message with /"
            )),
        }
    }
}

/// How the user left the room.
enum Leave {
    Exit,
    Unsubscribe,
}

/// The `data` of `/joinChatroom`: the room's name as created.
#[derive(Deserialize)]
struct Joined {
    room: String,
}

/// The ids of the oldest and newest messages on screen.
#[derive(Debug, Default)]
struct Shown {
    oldest: Option<i64>,
    newest: Option<i64>,
}

impl Shown {
    /// Notes a message as shown, unless it already was (or an older one
    /// arrived late); says whether to show it.
    fn take_new(&mut self, id: i64) -> bool {
        if self.newest.is_some_and(|newest| id <= newest) {
            return false;
        }
        self.newest = Some(id);
        self.oldest.get_or_insert(id);
        true
    }

    /// Notes a scrolled-back block `first..=last` as shown. Newest moves too
    /// when the screen was empty, so that a pushed copy of a message in the
    /// block is not shown a second time.
    fn take_earlier(&mut self, first: i64, last: i64) {
        self.oldest = Some(first);
        self.newest = Some(self.newest.map_or(last, |newest| newest.max(last)));
    }
}

type SharedShown = Arc<Mutex<Shown>>;

fn lock(shown: &Mutex<Shown>) -> MutexGuard<'_, Shown> {
    shown.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Shows a message unless it is already on screen. The lock is held while
/// printing so that two threads cannot show messages out of order.
fn show_if_new(
    shown: &Mutex<Shown>,
    message: &Message,
    output: &Output,
) -> Result<(), ClientError> {
    let mut shown = lock(shown);
    if shown.take_new(message.id) {
        output.show(&render::message(message))?;
    }
    Ok(())
}

/// Menu choice 1: pick a room, enter it, chat until the user leaves.
///
/// # Errors
///
/// Only what ends the session; refusals are shown and lead back to the menu.
pub fn enter(session: &Session) -> Result<(), ClientError> {
    menu::show_rooms(session)?;
    let Some(name) = menu::ask_name(session, "chatroom to enter: ", "a chatroom name")? else {
        return Ok(());
    };
    let Some(Joined { room }) = session.call_or_show("/joinChatroom", &[&name])? else {
        return Ok(());
    };
    show_members(session, &room)?;

    // Events of a room left earlier that came after it was left.
    let events = session.connection().events();
    for _ in events.try_iter() {}
    if session
        .call_or_show::<IgnoredAny>("/subscribe", &[&room])?
        .is_none()
    {
        return Ok(());
    }
    let shown = SharedShown::default();
    let Some(recent) = session.call_or_show::<Vec<Message>>("/fetchMessages", &[&room])? else {
        return stop_listening(session, &room);
    };
    show_messages(session, &shown, &recent, "no messages yet")?;
    session.say(&format!(
        "you are in {room}: type a message and press Enter; /help lists the commands, /exit leaves"
    ))?;

    let feed = Feed::start(
        events.clone(),
        room.clone(),
        Arc::clone(&shown),
        session.output().clone(),
    )?;
    let leave = talk(session, &room, &shown)?;
    // Replies come after the events before them, so once the reply is in,
    // the feed only has to show what is already queued before it stops.
    match leave {
        Leave::Exit => {
            if session
                .call_or_show::<IgnoredAny>("/exitChatroom", &[&room])?
                .is_some()
            {
                feed.stop();
                session.say(&format!("you left {room}"))?;
            } else {
                stop_listening(session, &room)?;
                feed.stop();
            }
        }
        Leave::Unsubscribe => {
            stop_listening(session, &room)?;
            feed.stop();
            session.say(&format!(
                "back to the menu; you are still a member of {room} (/exit in the room leaves it)"
            ))?;
        }
    }
    Ok(())
}

/// The loop at the room's prompt.
fn talk(session: &Session, room: &str, shown: &SharedShown) -> Result<Leave, ClientError> {
    let prompt = format!("{room}> ");
    loop {
        let line = match session.ask(&prompt)? {
            Input::Line(line) => line,
            // Ctrl-C leaves the room, as `/exit` does; the end of input
            // (Ctrl-D, or a script that ran out) only stops listening.
            Input::Interrupted => return Ok(Leave::Exit),
            Input::Eof => return Ok(Leave::Unsubscribe),
        };
        match RoomCommand::parse(&line) {
            RoomCommand::Nothing => {}
            RoomCommand::Send(text) => {
                if let Some(message) =
                    session.call_or_show::<Message>("/sendMessage", &[room, &text])?
                {
                    show_if_new(shown, &message, session.output())?;
                }
            }
            RoomCommand::Members => show_members(session, room)?,
            RoomCommand::History(count) => show_history(session, room, shown, count)?,
            RoomCommand::Help => session.say(ROOM_HELP)?,
            RoomCommand::Exit => return Ok(Leave::Exit),
            RoomCommand::Mistake(explanation) => session.mistake(&explanation)?,
        }
    }
}

fn stop_listening(session: &Session, room: &str) -> Result<(), ClientError> {
    session.call_or_show::<IgnoredAny>("/unsubscribe", &[room])?;
    Ok(())
}

fn show_members(session: &Session, room: &str) -> Result<(), ClientError> {
    if let Some(members) = session.call_or_show::<Vec<String>>("/getChatroomMembers", &[room])? {
        session.say(&render::list(
            &format!("members of {room}"),
            &members,
            "no members",
        ))?;
    }
    Ok(())
}

/// Shows fetched messages, oldest first, as one block.
fn show_messages(
    session: &Session,
    shown: &Mutex<Shown>,
    messages: &[Message],
    when_empty: &str,
) -> Result<(), ClientError> {
    let mut shown = lock(shown);
    let lines: Vec<String> = messages
        .iter()
        .filter(|message| shown.take_new(message.id))
        .map(render::message)
        .collect();
    if lines.is_empty() {
        session.say(when_empty)
    } else {
        session.say(&lines.join("\n"))
    }
}

/// `/history N`: the N messages before the oldest one on screen.
fn show_history(
    session: &Session,
    room: &str,
    shown: &Mutex<Shown>,
    count: u32,
) -> Result<(), ClientError> {
    // Nothing on screen yet means nothing was in the room on entry: ask for
    // the latest messages, which is everything there is.
    let before = lock(shown).oldest.unwrap_or(i64::MAX).to_string();
    let Some(earlier) = session
        .call_or_show::<Vec<Message>>("/fetchHistory", &[room, &before, &count.to_string()])?
    else {
        return Ok(());
    };
    let (Some(first), Some(last)) = (earlier.first(), earlier.last()) else {
        return session.say("no earlier messages");
    };
    lock(shown).take_earlier(first.id, last.id);
    let mut block = format!("--- {} earlier messages ---", earlier.len());
    for message in &earlier {
        block.push('\n');
        block.push_str(&render::message(message));
    }
    block.push_str("\n--- end of earlier messages ---");
    session.say(&block)
}

/// The thread that shows pushed events while the user types.
struct Feed {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Feed {
    fn start(
        events: Receiver<PushedEvent>,
        room: String,
        shown: SharedShown,
        output: Output,
    ) -> Result<Feed, ClientError> {
        let (stop, stopped) = crossbeam_channel::bounded::<()>(0);
        let thread = std::thread::Builder::new()
            .name("room-feed".to_string())
            .spawn(move || run_feed(&events, &stopped, &room, &shown, &output))
            .map_err(ClientError::Thread)?;
        Ok(Feed {
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Shows what is already queued, then ends the thread.
    fn stop(self) {
        drop(self);
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run_feed(
    events: &Receiver<PushedEvent>,
    stopped: &Receiver<()>,
    room: &str,
    shown: &Mutex<Shown>,
    output: &Output,
) {
    loop {
        select! {
            recv(events) -> event => match event {
                Ok(event) => {
                    if show_event(&event, room, shown, output).is_err() {
                        return;
                    }
                }
                Err(_) => return, // the connection is gone; the prompt reports it
            },
            recv(stopped) -> _ => {
                for event in events.try_iter() {
                    if show_event(&event, room, shown, output).is_err() {
                        return;
                    }
                }
                return;
            }
        }
    }
}

fn show_event(
    event: &PushedEvent,
    room: &str,
    shown: &Mutex<Shown>,
    output: &Output,
) -> Result<(), ClientError> {
    if event.room() != Some(room) {
        return Ok(());
    }
    match event {
        PushedEvent::Message(message) => show_if_new(shown, message, output),
        PushedEvent::Join(membership) => output.show(&render::joined(membership)),
        PushedEvent::Exit(membership) => output.show(&render::left(membership)),
        PushedEvent::Edit(_) | PushedEvent::Delete(_) | PushedEvent::Topic(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_lines_are_sent_exactly_as_typed() {
        assert_eq!(
            RoomCommand::parse(" hi | there \\ "),
            RoomCommand::Send(" hi | there \\ ".into())
        );
        assert_eq!(
            RoomCommand::parse("//exit is a command"),
            RoomCommand::Send("/exit is a command".into())
        );
        assert_eq!(RoomCommand::parse("   "), RoomCommand::Nothing);
    }

    #[test]
    fn room_commands_are_recognised() {
        assert_eq!(RoomCommand::parse("/exit"), RoomCommand::Exit);
        assert_eq!(RoomCommand::parse("/exit "), RoomCommand::Exit);
        assert_eq!(RoomCommand::parse("/members"), RoomCommand::Members);
        assert_eq!(RoomCommand::parse("/help"), RoomCommand::Help);
        assert_eq!(
            RoomCommand::parse("/history"),
            RoomCommand::History(DEFAULT_HISTORY)
        );
        assert_eq!(RoomCommand::parse("/history 5"), RoomCommand::History(5));
    }

    #[test]
    fn mistakes_are_explained_not_sent() {
        for line in [
            "/history 0",
            "/history x",
            "/history 1001",
            "/exit now",
            "/quit",
        ] {
            assert!(
                matches!(RoomCommand::parse(line), RoomCommand::Mistake(_)),
                "{line}"
            );
        }
    }

    #[test]
    fn a_message_is_shown_once_and_never_behind_a_newer_one() {
        let mut shown = Shown::default();
        assert!(shown.take_new(5));
        assert!(!shown.take_new(5));
        assert!(!shown.take_new(4));
        assert!(shown.take_new(6));
        assert_eq!((shown.oldest, shown.newest), (Some(5), Some(6)));
        shown.take_earlier(2, 4);
        assert_eq!((shown.oldest, shown.newest), (Some(2), Some(6)));
    }

    #[test]
    fn scrolling_back_on_an_empty_screen_counts_the_block_as_shown() {
        let mut shown = Shown::default();
        shown.take_earlier(3, 7);
        assert!(!shown.take_new(7), "its pushed copy is skipped");
        assert!(shown.take_new(8));
    }
}
