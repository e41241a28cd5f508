//! Being in a chatroom or a direct conversation: its recent history, then
//! new messages, edits, deletes, joins, exits and topic changes as the
//! server pushes them, while the user types.
//!
//! # Entering without gaps or duplicates
//!
//! A room: `/joinChatroom`, then `/subscribe` *before* `/fetchMessages`: a
//! message sent in between is both fetched and pushed, never neither. A
//! conversation: the connection subscribed to every direct message (`@`) at
//! login, so only the fetch is needed. The view stays locked from before the
//! fetch until its messages are shown, so the feed thread shows a pushed
//! message only after them, and only if its id is above the newest shown
//! (see [`super::feed`]). The user's own messages are shown from the `201`
//! reply (so they appear at once, in order with what they typed) and their
//! pushed copy is skipped the same way.
//!
//! # Read positions
//!
//! On entering, the read position (`/markRead`) moves to the newest message
//! shown; while the user stays, the feed moves it as messages arrive.
//!
//! # Leaving
//!
//! - In a room, `/leave` sends `/exitChatroom`: the user stops being a
//!   member, the others see `* alice left general`, and the menu comes
//!   back. `/exit` does the same in a script, as it always did; at a
//!   terminal it asks first, since from a conversation it only goes back.
//! - Ctrl-D, Ctrl-C on an empty line (pressed by reflex to get out) and the
//!   end of piped input only send `/unsubscribe`: the user stays a member,
//!   as when closing a chat window, and can enter again later to read what
//!   was said meanwhile. `/quit` does the same, then ends the client as
//!   quitting at the menu does.
//! - `/join NAME` goes to another room (joined first, so that a refusal
//!   keeps the user where they are) or, `/join @NAME`, a conversation,
//!   staying a member of the room left; it enters as the menu does.
//! - A conversation has nothing to leave: all of these go back to the menu.
//! - Leaving the room on another connection (the same user's other client)
//!   ends this one's subscription too: the feed says so, and the next line
//!   typed goes back to the menu instead of being sent.

use serde::de::IgnoredAny;

use super::command::{RoomCommand, TopicChange};
use super::console::Input;
use super::error::{ClientError, ErrorReply};
use super::feed::Place;
use super::menu;
use super::render;
use super::session::Session;
use crate::chat::limits::MAX_MESSAGE_CHARS;
use crate::chat::room_key;
use crate::wire::{DEFAULT_FETCH_LIMIT, Message, ReadPosition, RoomInfo, RoomName, Unread};

/// How many recent messages `/ids` shows again, with their ids.
const SHOWN_AGAIN_WITH_IDS: u32 = 10;

const ROOM_HELP: &str = "\
in a chatroom or a direct conversation:
  <text>            send a message; a line that only starts with / is one too
                    (/usr/bin is full); start it with // to send /word as text
  /history [N]      show N earlier messages (default 20, at most 1000)
  /msg NAME TEXT    send a direct message to NAME
  /me ACTION        say what you do: /me waves shows as * {me} waves
  /ids              show message ids (again to hide them)
  /edit ID TEXT     replace the text of your message ID
  /delete ID        delete message ID (yours, or any in a room you own)
  /search WORDS     find messages here with every word (word* matches a prefix,
                    \"two words\" a phrase; no operators: - and OR are not)
  /join NAME        go to chatroom NAME (joining it), or /join @NAME to talk with NAME
  /password         change your password
  /quit             end the client (you stay a member)
  /help             this list
in a chatroom only:
  /members          list the members
  /topic [TEXT]     show the topic, or set it (/topic - clears it)
  /info             owner, counts, topic and how long messages are kept
  /retention DAYS   keep messages DAYS days; 0 keeps them forever (the owner only);
                    alone, as /info
  /leave            leave the chatroom: you stop being a member, the others see it
  /exit             asks: leave, or back to the menu as a member (a script leaves)
in a direct conversation, /exit goes back to the menu.
keys:
  Ctrl-C            clears the line; on an empty line, back to the menu (a member still)
  Ctrl-D            back to the menu, staying a member";

/// Which of the rooms listed a name typed to enter one means.
#[derive(Debug, PartialEq, Eq)]
enum RoomNamed<'a> {
    /// This room's name, but for case.
    Exactly(&'a str),
    /// The only room whose name starts with what was typed.
    ByItsStart(&'a str),
    /// Every room whose name starts with what was typed: more than one.
    Several(Vec<&'a str>),
    /// None that the list knows: the server says whether it exists.
    Unlisted,
}

/// Which of `rooms` `typed` names, ignoring case as the server does: a
/// room's whole name, else the start of exactly one room's name (room
/// names may end in an emoji or words that are tedious to type).
fn room_named<'a>(rooms: &'a [String], typed: &str) -> RoomNamed<'a> {
    let typed = room_key(typed);
    if let Some(room) = rooms.iter().find(|room| room_key(room) == typed) {
        return RoomNamed::Exactly(room);
    }
    let starting: Vec<&str> = rooms
        .iter()
        .filter(|room| room_key(room).starts_with(&typed))
        .map(String::as_str)
        .collect();
    match starting.as_slice() {
        [] => RoomNamed::Unlisted,
        [only] => RoomNamed::ByItsStart(only),
        _ => RoomNamed::Several(starting),
    }
}

/// Asks which of `rooms` (just listed) to enter, until the answer names
/// one room or none that is listed; `None` when the user cancels. A script
/// gets the room it names, or the server's `404`: a name it had right once
/// must not take it into another room that happens to start so.
fn choose_room(session: &Session, rooms: &[String]) -> Result<Option<String>, ClientError> {
    loop {
        let Some(typed) = menu::ask_name(session, "chatroom to enter: ", "a chatroom name")? else {
            return Ok(None);
        };
        if session.stops_at_errors() {
            return Ok(Some(typed));
        }
        match room_named(rooms, &typed) {
            RoomNamed::Exactly(room) | RoomNamed::ByItsStart(room) => {
                return Ok(Some(room.to_string()));
            }
            RoomNamed::Unlisted => return Ok(Some(typed)),
            RoomNamed::Several(starting) => {
                let names: Vec<String> = starting.iter().map(|room| room.to_string()).collect();
                session.mistake(&render::list(
                    &format!("several chatrooms start with '{typed}'; type more of the name"),
                    &names,
                    "",
                ))?;
            }
        }
    }
}

/// Where the user goes once out of a room or a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Back to the main menu.
    Menu,
    /// Ends the client, as quitting at the menu does (`/quit`).
    Quit,
}

/// How the user ends talking in a place.
enum Leave {
    /// Out of it, to the menu or beyond.
    Out(Out),
    /// Into another place (`/join`): a room already joined, or a
    /// conversation, by the name typed.
    To(Place),
}

/// How the user goes out of a place.
enum Out {
    /// Leaves the room (`/leave`, `/exit`): no longer a member.
    Leave,
    /// Back to the menu, staying a member (Ctrl-D, Ctrl-C, the end of a
    /// script; `/exit` from a conversation).
    Menu,
    /// Ends the client, staying a member (`/quit`).
    Quit,
    /// They had left already, on another connection.
    LeftElsewhere,
}

/// Menu choice: pick a room, enter it, chat until the user leaves.
///
/// # Errors
///
/// Only what ends the session; refusals are shown and lead back to the menu.
pub fn enter(session: &Session) -> Result<Next, ClientError> {
    let rooms = menu::list_rooms(session)?;
    let Some(name) = choose_room(session, &rooms)? else {
        return Ok(Next::Menu);
    };
    join_and_stay(session, &name)
}

/// Joins the room `name` and chats there until the user leaves: entering
/// a room by its name, whether chosen from the list or just created, so
/// that both show it, and go on in it, the same way.
///
/// # Errors
///
/// Only what ends the session; refusals are shown and lead back to the menu.
pub fn join_and_stay(session: &Session, name: &str) -> Result<Next, ClientError> {
    let Some(room) = join(session, name)? else {
        return Ok(Next::Menu);
    };
    match show_room(session, &room)? {
        Some(place) => stay(session, place),
        None => Ok(Next::Menu),
    }
}

/// Joins the room `name` (joining twice is fine); its name as the server
/// spells it, or `None` once the refusal is shown. A room that does not
/// exist says how to create it.
fn join(session: &Session, name: &str) -> Result<Option<String>, ClientError> {
    match session.call::<RoomName>("/joinChatroom", &[name])? {
        Ok(RoomName { room }) => Ok(Some(room)),
        Err(mut refusal) => {
            if refusal.status == 404 {
                refusal
                    .sentence
                    .push_str("; choose 2 at the menu to create it");
            }
            session.refused_at("/joinChatroom", &refusal, session.last_line_place())?;
            Ok(None)
        }
    }
}

/// Shows `room`, just joined: its members, topic and latest messages,
/// subscribed so that what comes next is pushed; the place entered, or
/// `None` when the server refused (shown).
fn show_room(session: &Session, room: &str) -> Result<Option<Place>, ClientError> {
    show_members(session, room)?;
    // Where the user had read to, for the marker: a position only moves
    // forward, so asking to move it to 0 moves nothing. Asked here, not
    // between the subscription and the fetch: a connection lost there is
    // made good without subscribing again while the view is held.
    let read_to = session
        .call::<ReadPosition>("/markRead", &[room, "0"])?
        .ok()
        .map(|position| position.last_read_id);
    if let Some(info) = session.call_or_show::<RoomInfo>("/getRoomInfo", &[room])?
        && !info.topic.is_empty()
    {
        session.say(&render::topic(&info.topic))?;
    }
    {
        let mut view = session.view();
        if session
            .call_or_show::<IgnoredAny>("/subscribe", &[room])?
            .is_none()
        {
            return Ok(None);
        }
        let Some(recent) = session.call_or_show::<Vec<Message>>("/fetchMessages", &[room])? else {
            drop(view);
            stop_listening(session, room)?;
            return Ok(None);
        };
        let place = Place::Room(room.to_string());
        view.enter(place.clone());
        let before = before_the_page(session, &place, &recent, read_to)?;
        let lines = view.take_fetched_on_entry(&recent, read_to, session.output().width());
        show_lines(
            session,
            &with_what_comes_before(lines, before),
            "no messages yet",
        )?;
    }
    session.mark_read();
    session.say(&format!(
        "you are in {room}: type a message and press Enter; /help lists the commands, /leave leaves"
    ))?;
    Ok(Some(Place::Room(room.to_string())))
}

/// Talks in `place`, entered already, and in every place `/join` leads to
/// from there, until the user goes back to the menu or quits: one loop, so
/// that going from room to room does not pile up.
///
/// # Errors
///
/// Only what ends the session.
fn stay(session: &Session, mut place: Place) -> Result<Next, ClientError> {
    loop {
        let next = match talk(session, &place)? {
            Leave::Out(out) => return go_out(session, &place, out),
            Leave::To(next) => next,
        };
        if let Place::Room(room) = &place {
            stop_listening(session, room)?;
        }
        back_to_menu(session);
        let entered = match &next {
            Place::Room(room) => show_room(session, room)?,
            Place::Direct(name) => match session.call_or_show::<Vec<Unread>>("/getUnread", &[])? {
                Some(unread) => open_direct(session, name, &unread)?.ok(),
                None => None,
            },
        };
        match entered {
            Some(entered) => place = entered,
            None => {
                session.say("back to the menu")?;
                return Ok(Next::Menu);
            }
        }
    }
}

/// Goes out of `place` as `out` says, once the events that came before are
/// shown.
fn go_out(session: &Session, place: &Place, out: Out) -> Result<Next, ClientError> {
    let next = match out {
        Out::Quit => Next::Quit,
        Out::Leave | Out::Menu | Out::LeftElsewhere => Next::Menu,
    };
    let Place::Room(room) = place else {
        // A conversation has nothing to leave.
        back_to_menu(session);
        if next == Next::Menu {
            session.say("back to the menu")?;
        }
        return Ok(next);
    };
    // Replies come after the events before them, so once the reply is in,
    // the feed only has to show what is already queued.
    match out {
        Out::Leave => {
            session.view().exiting();
            let left = session
                .call_or_show::<IgnoredAny>("/exitChatroom", &[room])?
                .is_some();
            if !left {
                stop_listening(session, room)?;
            }
            back_to_menu(session);
            if left {
                session.say(&format!("you left {room}"))?;
            }
        }
        Out::Menu => {
            stop_listening(session, room)?;
            back_to_menu(session);
            session.say(&format!(
                "back to the menu; you are still a member of {room} (/leave in the room leaves it)"
            ))?;
        }
        Out::Quit => {
            stop_listening(session, room)?;
            back_to_menu(session);
            session.say(&format!("you are still a member of {room}"))?;
        }
        // The server ended this connection's subscription with the exit.
        Out::LeftElsewhere => {
            back_to_menu(session);
            session.say(&format!(
                "back to the menu; you are no longer a member of {room}"
            ))?;
        }
    }
    Ok(next)
}

/// Menu choice: list the direct conversations with their unread counts,
/// open one (or a new one) by the other user's name, chat until the user
/// goes back.
///
/// # Errors
///
/// Only what ends the session.
pub fn open_conversation(session: &Session) -> Result<Next, ClientError> {
    let Some(unread) = session.call_or_show::<Vec<Unread>>("/getUnread", &[])? else {
        return Ok(Next::Menu);
    };
    session.say(&render::conversations(&unread))?;
    // A name no one has is asked again (the refusal shown), as a room's is.
    loop {
        let Some(name) = menu::ask_name(session, "talk to (a username): ", "a username")? else {
            return Ok(Next::Menu);
        };
        match open_direct(session, &name, &unread)? {
            Ok(place) => return stay(session, place),
            Err(refusal) if refusal.status == 404 => continue,
            Err(_) => return Ok(Next::Menu),
        }
    }
}

/// Opens the conversation with `typed` (`bob` or `@bob`): its latest
/// messages, shown with where reading stopped (from `unread`, what
/// `/getUnread` said); the place entered, or the server's refusal, shown.
fn open_direct(
    session: &Session,
    typed: &str,
    unread: &[Unread],
) -> Result<Result<Place, ErrorReply>, ClientError> {
    let typed = typed.strip_prefix('@').unwrap_or(typed);
    {
        let mut view = session.view();
        let me = session.me();
        let recent =
            match session.call_shown::<Vec<Message>>("/fetchMessages", &[&format!("@{typed}")])? {
                Ok(recent) => recent,
                Err(refusal) => return Ok(Err(refusal)),
            };
        let other = registered_name(typed, &me, &recent, unread);
        let read_to = unread
            .iter()
            .find(|entry| entry.room.eq_ignore_ascii_case(&format!("@{other}")))
            .map(|entry| entry.last_read_id);
        let place = Place::Direct(other);
        let before = before_the_page(session, &place, &recent, read_to)?;
        view.enter(place);
        let lines = view.take_fetched_on_entry(&recent, read_to, session.output().width());
        show_lines(
            session,
            &with_what_comes_before(lines, before),
            "no messages yet",
        )?;
    }
    session.mark_read();
    let place = session
        .view()
        .place()
        .cloned()
        .unwrap_or_else(|| Place::Direct(typed.to_string()));
    if let Place::Direct(other) = &place {
        session.say(&format!(
            "you are talking with {other}: type a message and press Enter; /help lists the \
             commands, /exit goes back"
        ))?;
    }
    Ok(Ok(place))
}

/// The other user's name as registered, which the server gives in the
/// conversation's messages or in `/getUnread`; as typed if neither has it.
fn registered_name(typed: &str, me: &str, recent: &[Message], unread: &[Unread]) -> String {
    let from_messages = recent.iter().map(|message| message.place_for(me));
    let from_unread = unread.iter().map(|entry| entry.room.clone());
    from_messages
        .chain(from_unread)
        .filter_map(|place| place.strip_prefix('@').map(str::to_string))
        .find(|name| name.eq_ignore_ascii_case(typed))
        .unwrap_or_else(|| typed.to_string())
}

/// Leaves the place on screen once the events that came before are shown.
fn back_to_menu(session: &Session) {
    session.show_pending_events();
    session.view().leave();
}

/// The loop at the prompt of a room or a conversation.
fn talk(session: &Session, place: &Place) -> Result<Leave, ClientError> {
    let here = place.name();
    let prompt = format!("{here}> ");
    loop {
        let input = session.ask_in_place(&prompt)?;
        if session.view().left_elsewhere() {
            if let Input::Line(line) = &input
                && !line.trim().is_empty()
            {
                session.mistake(&format!("not sent: you are no longer in {here}"))?;
            }
            return Ok(Leave::Out(Out::LeftElsewhere));
        }
        let line = match input {
            Input::Line(line) => line,
            // Ctrl-C on an empty line is pressed by reflex to get out: it
            // goes back to the menu as the end of input (Ctrl-D, or a
            // script that ran out) does, never leaving the room.
            Input::Interrupted | Input::Eof => return Ok(Leave::Out(Out::Menu)),
        };
        let command = RoomCommand::parse(&line);
        if command.only_in_rooms() && matches!(place, Place::Direct(_)) {
            let word = line.split_whitespace().next().unwrap_or_default();
            session.mistake(&format!(
                "{word} works in chatrooms only, not in a direct conversation"
            ))?;
            continue;
        }
        match command {
            RoomCommand::Nothing => {}
            RoomCommand::Send(text) => send(session, &here, &text)?,
            RoomCommand::Msg { to, text } => send(session, &format!("@{to}"), &text)?,
            RoomCommand::Members => show_members(session, &here)?,
            RoomCommand::History(count) => show_history(session, &here, count)?,
            RoomCommand::Ids => toggle_ids(session, &here)?,
            RoomCommand::Edit { id, text } => edit(session, id, &text)?,
            RoomCommand::Delete(id) => delete(session, id)?,
            RoomCommand::Search(words) => search(session, &words, Some(&here))?,
            RoomCommand::Topic(change) => topic(session, &here, change)?,
            RoomCommand::Info => {
                if let Some(info) = session.call_or_show::<RoomInfo>("/getRoomInfo", &[&here])? {
                    session.say(&render::room_info(&info))?;
                }
            }
            RoomCommand::Retention(days) => set_retention(session, &here, days)?,
            RoomCommand::Password => menu::change_password(session)?,
            RoomCommand::Help => session.say(&ROOM_HELP.replace("{me}", &session.me()))?,
            RoomCommand::Leave => return Ok(Leave::Out(Out::Leave)),
            RoomCommand::Exit => match place {
                Place::Room(_) => {
                    if let Some(out) = confirm_exit(session, &here)? {
                        return Ok(Leave::Out(out));
                    }
                }
                Place::Direct(_) => return Ok(Leave::Out(Out::Menu)),
            },
            RoomCommand::Quit => return Ok(Leave::Out(Out::Quit)),
            RoomCommand::Join(target) => {
                if let Some(next) = where_to(session, place, &target)? {
                    return Ok(Leave::To(next));
                }
            }
            RoomCommand::Mistake(explanation) => session.mistake(&explanation)?,
        }
    }
}

/// `/exit` in a room: a script leaves it, as it always did; a person is
/// asked, since `/exit` only goes back to the menu from a conversation and
/// leaving shows to everyone. `None`: stay in the room.
fn confirm_exit(session: &Session, room: &str) -> Result<Option<Out>, ClientError> {
    if session.stops_at_errors() {
        return Ok(Some(Out::Leave));
    }
    let question =
        format!("leave {room}? y leaves it, n goes back to the menu as a member, Enter stays: ");
    let answer = match session.ask(&question)? {
        Input::Line(answer) => answer.trim().to_ascii_lowercase(),
        Input::Interrupted | Input::Eof => String::new(),
    };
    match answer.as_str() {
        "y" | "yes" => Ok(Some(Out::Leave)),
        "n" | "no" => Ok(Some(Out::Menu)),
        _ => {
            session.say(&format!(
                "still in {room} (/leave leaves it, Ctrl-D goes back to the menu, /quit ends)"
            ))?;
            Ok(None)
        }
    }
}

/// Where `/join target` in `place` goes: a room, joined now so that a
/// refusal (a room that does not exist) keeps the user where they are, or
/// (`@name`) a conversation with someone who exists. `None` when it goes
/// nowhere, which is said.
fn where_to(session: &Session, place: &Place, target: &str) -> Result<Option<Place>, ClientError> {
    if place.is(target) {
        session.say(&format!("you are in {} already", place.name()))?;
        return Ok(None);
    }
    match target.strip_prefix('@') {
        None => Ok(join(session, target)?.map(Place::Room)),
        // Someone no one is is found out before leaving here; the newest
        // message before id 1 is none, so this fetches nothing.
        Some(name) => Ok(session
            .call_or_show::<IgnoredAny>("/fetchHistory", &[target, "1", "1"])?
            .map(|_| Place::Direct(name.to_string()))),
    }
}

fn stop_listening(session: &Session, room: &str) -> Result<(), ClientError> {
    session.call_or_show::<IgnoredAny>("/unsubscribe", &[room])?;
    Ok(())
}

/// Sends a message to a room or (`@name`) a person, and shows it: in place
/// when it belongs to the place on screen, as a `[dm]` line otherwise.
fn send(session: &Session, to: &str, text: &str) -> Result<(), ClientError> {
    if too_long(session, text)? {
        return Ok(());
    }
    if let Some(message) = session.call_or_show::<Message>("/sendMessage", &[to, text])? {
        session.view().show_sent(&message, session.output())?;
    }
    Ok(())
}

/// Whether `text` is longer than a message may be, which is then said here
/// rather than by the server: with how long it is, and, at a terminal,
/// where the line went (the history, one ↑ away, to be shortened).
fn too_long(session: &Session, text: &str) -> Result<bool, ClientError> {
    let length = text.chars().count();
    if length <= MAX_MESSAGE_CHARS {
        return Ok(false);
    }
    let hint = match session.stops_at_errors() {
        true => "",
        false => "; ↑ brings the line back to shorten it",
    };
    session.mistake(&format!(
        "not sent: a message has at most {MAX_MESSAGE_CHARS} characters and this one has \
         {length}{hint}"
    ))?;
    Ok(true)
}

fn edit(session: &Session, id: i64, text: &str) -> Result<(), ClientError> {
    if too_long(session, text)? {
        return Ok(());
    }
    let id = id.to_string();
    if let Some(message) = session.call_or_show::<Message>("/editMessage", &[&id, text])? {
        session.view().show_edit(&message, true, session.output())?;
    }
    Ok(())
}

fn delete(session: &Session, id: i64) -> Result<(), ClientError> {
    if session
        .call_or_show::<IgnoredAny>("/deleteMessage", &[&id.to_string()])?
        .is_some()
    {
        session.view().show_delete(id, true, session.output())?;
    }
    Ok(())
}

/// `/search` here (`within`), or everywhere from the menu.
///
/// # Errors
///
/// Only what ends the session.
pub fn search(session: &Session, words: &str, within: Option<&str>) -> Result<(), ClientError> {
    let mut fields = vec![words];
    fields.extend(within);
    if let Some(found) = session.call_or_show::<Vec<Message>>("/search", &fields)? {
        let me = session.me();
        session.say(&render::search_results(
            words,
            within,
            &found,
            &me,
            session.output().width(),
        ))?;
    }
    Ok(())
}

/// `/ids`: ids on or off; when they come on, the latest messages again
/// with their ids, so there is something to `/edit` or `/delete` at once.
fn toggle_ids(session: &Session, here: &str) -> Result<(), ClientError> {
    let (on, newest) = {
        let mut view = session.view();
        (view.toggle_ids(), view.shown().newest)
    };
    if !on {
        return session.say("message ids off");
    }
    session.say("message ids on, as in [17:42 #42]: /edit 42 TEXT and /delete 42 take them")?;
    let Some(newest) = newest else {
        return Ok(());
    };
    let before = (newest + 1).to_string();
    let limit = SHOWN_AGAIN_WITH_IDS.to_string();
    let Some(latest) =
        session.call_or_show::<Vec<Message>>("/fetchHistory", &[here, &before, &limit])?
    else {
        return Ok(());
    };
    if latest.is_empty() {
        return Ok(());
    }
    let lines = session
        .view()
        .render_again(&latest, session.output().width());
    session.say(&format!(
        "--- the latest {} messages again, with ids ---\n{}\n---",
        lines.len(),
        lines.join("\n")
    ))
}

fn topic(session: &Session, room: &str, change: TopicChange) -> Result<(), ClientError> {
    let text = match change {
        TopicChange::Show => {
            if let Some(info) = session.call_or_show::<RoomInfo>("/getRoomInfo", &[room])? {
                session.say(&render::topic(&info.topic))?;
            }
            return Ok(());
        }
        TopicChange::Set(text) => text,
        TopicChange::Clear => String::new(),
    };
    if session
        .call_or_show::<IgnoredAny>("/setTopic", &[room, &text])?
        .is_some()
    {
        // The room's `topic` event says it, to everyone in the room.
        session.show_pending_events();
    }
    Ok(())
}

fn set_retention(session: &Session, room: &str, days: u32) -> Result<(), ClientError> {
    let Some(info) =
        session.call_or_show::<RoomInfo>("/setRetention", &[room, &days.to_string()])?
    else {
        return Ok(());
    };
    let said = if info.retention_days == 0 {
        format!("{} keeps its messages forever", info.name)
    } else {
        format!(
            "{} keeps messages {}: older ones are deleted within the hour",
            info.name,
            render::retention(info.retention_days)
        )
    };
    session.say(&said)
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

/// Shows lines as one block, or `when_empty`.
fn show_lines(session: &Session, lines: &[String], when_empty: &str) -> Result<(), ClientError> {
    if lines.is_empty() {
        session.say(when_empty)
    } else {
        session.say(&lines.join("\n"))
    }
}

/// `/history N`: the N messages before the oldest one on screen.
fn show_history(session: &Session, here: &str, count: u32) -> Result<(), ClientError> {
    // Nothing on screen yet means nothing was there on entry: ask for the
    // latest messages, which is everything there is.
    let before = session
        .view()
        .shown()
        .oldest
        .unwrap_or(i64::MAX)
        .to_string();
    let Some(earlier) = session
        .call_or_show::<Vec<Message>>("/fetchHistory", &[here, &before, &count.to_string()])?
    else {
        return Ok(());
    };
    if earlier.is_empty() {
        return session.say("no earlier messages");
    }
    let lines = session
        .view()
        .take_earlier(&earlier, session.output().width());
    session.say(&format!(
        "--- {} earlier messages ---\n{}\n--- end of earlier messages ---",
        lines.len(),
        lines.join("\n")
    ))
}

/// What comes before `recent`, the page of a place's latest messages shown
/// on entry, that the user would otherwise not know of: entering marks
/// the place read, so those messages would be passed over without a word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Before {
    /// Nothing unread (or nothing at all) before the page.
    Nothing,
    /// Unread messages, past where the user had read to; in a direct
    /// conversation never opened, all of its earlier messages: every one
    /// was sent to this user and missed (the user's own would have moved
    /// the read position).
    Unread,
    /// Earlier messages of a chatroom the user has read nothing of yet (a
    /// first entry): all of them are unread to the server, but to the user
    /// they are the room's past, not something missed since last time.
    Earlier,
}

/// What comes before `recent` (see [`Before`]), the page shown on entering
/// `place`: the page is full, all of it unread, and the first message past
/// the read position (asked for, one; from the start when nothing was
/// read) is older than the page.
///
/// # Errors
///
/// The connection's.
fn before_the_page(
    session: &Session,
    place: &Place,
    recent: &[Message],
    read_to: Option<i64>,
) -> Result<Before, ClientError> {
    let (Some(read_to), Some(first)) = (read_to, recent.first()) else {
        return Ok(Before::Nothing);
    };
    let full = recent.len() >= DEFAULT_FETCH_LIMIT as usize;
    if first.id <= read_to || !full {
        return Ok(Before::Nothing);
    }
    let next = session.call::<Vec<Message>>(
        "/fetchMessages",
        &[&place.name(), &read_to.to_string(), "1"],
    )?;
    if !next.is_ok_and(|next| next.first().is_some_and(|next| next.id < first.id)) {
        return Ok(Before::Nothing);
    }
    Ok(match place {
        Place::Room(_) if read_to == 0 => Before::Earlier,
        Place::Room(_) | Place::Direct(_) => Before::Unread,
    })
}

/// `lines` with the line that says what comes `before` them above them.
fn with_what_comes_before(mut lines: Vec<String>, before: Before) -> Vec<String> {
    let said = match before {
        Before::Nothing => return lines,
        Before::Unread => render::EARLIER_UNREAD,
        Before::Earlier => render::EARLIER_MESSAGES,
    };
    lines.insert(0, said.to_string());
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_room_is_named_whole_or_by_the_start_of_its_name_ignoring_case() {
        let rooms: Vec<String> = ["general", "Study group 📚", "study hall", "Éclairs"]
            .map(String::from)
            .to_vec();
        assert_eq!(room_named(&rooms, "GENERAL"), RoomNamed::Exactly("general"));
        assert_eq!(room_named(&rooms, "gen"), RoomNamed::ByItsStart("general"));
        assert_eq!(
            room_named(&rooms, "study group"),
            RoomNamed::ByItsStart("Study group 📚")
        );
        assert_eq!(room_named(&rooms, "éC"), RoomNamed::ByItsStart("Éclairs"));
        assert_eq!(
            room_named(&rooms, "Study"),
            RoomNamed::Several(vec!["Study group 📚", "study hall"])
        );
        assert_eq!(room_named(&rooms, "nowhere"), RoomNamed::Unlisted);
        assert_eq!(room_named(&[], "general"), RoomNamed::Unlisted);
    }

    /// Whole names compare as the server compares them: `STRASSE` is the
    /// room `Straße`, not the start of `strasse fans`.
    #[test]
    fn a_room_is_named_whole_under_full_case_folding() {
        let rooms: Vec<String> = ["strasse fans", "Straße", "ΣΣ"].map(String::from).to_vec();
        assert_eq!(room_named(&rooms, "STRASSE"), RoomNamed::Exactly("Straße"));
        assert_eq!(room_named(&rooms, "σσ"), RoomNamed::Exactly("ΣΣ"));
        assert_eq!(
            room_named(&rooms, "straß"),
            RoomNamed::Several(vec!["strasse fans", "Straße"])
        );
    }

    fn direct(from: &str, to: &str) -> Message {
        Message {
            id: 1,
            room: None,
            to: Some(to.into()),
            username: from.into(),
            text: "hi".into(),
            sent_at: "2026-11-24T17:42:05.123Z".into(),
            edited_at: None,
            guest: false,
        }
    }

    #[test]
    fn a_conversation_is_named_as_registered_when_the_server_says_how() {
        let unread = [Unread {
            room: "@Carol".into(),
            unread: 0,
            last_read_id: 0,
            last_id: 0,
        }];
        let recent = [direct("Bob", "alice")];
        assert_eq!(registered_name("BOB", "alice", &recent, &unread), "Bob");
        assert_eq!(registered_name("carol", "alice", &[], &unread), "Carol");
        assert_eq!(registered_name("dave", "alice", &recent, &unread), "dave");
    }
}
