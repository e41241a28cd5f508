//! What is on screen, and the thread that shows pushed events while the user
//! types, from login to the end of the run.
//!
//! # The view
//!
//! [`View`] is shared by the thread that reads the user's input and the feed
//! thread. It holds who is logged in, the place on screen (a chatroom or a
//! direct conversation, or none at a menu), the ids of the oldest and newest
//! messages shown there ([`Shown`]), whether ids are shown (`/ids`), and a
//! short note of each message printed in this run, so that an edit or a
//! delete of a message on screen can be shown ([`View::show_edit`],
//! [`View::show_delete`]). Whoever prints a message holds the view's lock
//! while printing, so two threads never show messages out of order or twice.
//!
//! # Where a pushed event goes
//!
//! - A message of the place on screen is shown once, in id order; a direct
//!   message elsewhere (at a menu, in a room, in another conversation) is
//!   shown as a notice, `[dm 17:42] bob: hi`; messages of other rooms (left
//!   a moment ago) are dropped.
//! - Joins, exits and topic changes are shown in their room.
//! - An edit or a delete is shown when its message is on screen (was printed
//!   in this run).
//!
//! After each batch of events the feed moves the server's read position of
//! the place on screen to the newest message shown there (`/markRead`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender, select};
use serde::de::IgnoredAny;

use super::connection::Connection;
use super::console::Output;
use super::error::ClientError;
use super::incoming::PushedEvent;
use super::render::{self, Look, Width};
use crate::chat::room_key;
use crate::wire::Message;

/// How many printed messages the view remembers for edits and deletes.
const REMEMBERED_MESSAGES: usize = 5_000;

/// Where the user is chatting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// A chatroom, named as created.
    Room(String),
    /// The direct conversation with this user.
    Direct(String),
}

impl Place {
    /// The name requests take: the room's, or `@user`.
    pub fn name(&self) -> String {
        match self {
            Place::Room(room) => room.clone(),
            Place::Direct(user) => format!("@{user}"),
        }
    }

    /// Whether `name` (as a message or event gives it) is this place.
    /// Names are compared without regard to case, as the server does.
    pub fn is(&self, name: &str) -> bool {
        let own = self.name();
        own == name || room_key(&own) == room_key(name)
    }

    /// Whether this is the chatroom `room`.
    fn is_room(&self, room: &str) -> bool {
        matches!(self, Place::Room(_)) && self.is(room)
    }
}

/// The ids of the oldest and newest messages shown in the place on screen.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Shown {
    pub oldest: Option<i64>,
    pub newest: Option<i64>,
}

impl Shown {
    /// Notes a message as shown, unless it already was (or an older one
    /// arrived late); says whether to show it.
    pub fn take_new(&mut self, id: i64) -> bool {
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
    pub fn take_earlier(&mut self, first: i64, last: i64) {
        self.oldest = Some(first);
        self.newest = Some(self.newest.map_or(last, |newest| newest.max(last)));
    }
}

/// What the view remembers of a printed message.
#[derive(Debug, Clone)]
struct Printed {
    username: String,
    sent_at: String,
    /// Where it belongs (`general`, `@bob`), as [`Message::place_for`] this
    /// user.
    place: String,
    edited_at: Option<String>,
    deleted: bool,
}

/// What is on screen; see the module documentation.
#[derive(Debug, Default)]
pub struct View {
    me: Option<String>,
    place: Option<Place>,
    shown: Shown,
    /// The newest id the read position was moved to in this place.
    marked: Option<i64>,
    look: Look,
    printed: BTreeMap<i64, Printed>,
    /// This client is leaving the room on screen itself (`/leave`, `/exit`):
    /// its own exit event is no news.
    exiting: bool,
    /// The user left the room on screen on another connection, which ended
    /// this one's subscription: the prompt no longer says where they are.
    left_elsewhere: bool,
    /// The newest direct message id this client knows of: what came after
    /// it while the connection was lost is shown once it is back.
    direct_known: i64,
}

/// The view, shared with the feed thread.
pub type SharedView = Arc<Mutex<View>>;

/// Locks the view; a thread that panicked while holding it left nothing
/// half-done that matters for showing lines.
pub fn lock(view: &Mutex<View>) -> MutexGuard<'_, View> {
    view.lock().unwrap_or_else(PoisonError::into_inner)
}

impl View {
    pub fn log_in(&mut self, me: &str) {
        self.me = Some(me.to_string());
    }

    pub fn log_out(&mut self) {
        self.me = None;
        self.leave();
    }

    /// From now on `place` is on screen, with nothing shown in it yet.
    pub fn enter(&mut self, place: Place) {
        self.leave();
        self.place = Some(place);
    }

    /// Back at a menu.
    pub fn leave(&mut self) {
        self.place = None;
        self.shown = Shown::default();
        self.marked = None;
        self.exiting = false;
        self.left_elsewhere = false;
    }

    /// This client is about to leave the room on screen.
    pub fn exiting(&mut self) {
        self.exiting = true;
    }

    /// Whether the user left the room on screen on another connection.
    pub fn left_elsewhere(&self) -> bool {
        self.left_elsewhere
    }

    pub fn direct_known(&self) -> i64 {
        self.direct_known
    }

    /// Notes that direct messages up to `id` are known (shown, or counted
    /// in `/getUnread`).
    pub fn know_direct_up_to(&mut self, id: i64) {
        self.direct_known = self.direct_known.max(id);
    }

    /// Whether `name` (a room, or `@user`) is the place on screen.
    pub fn is_on_screen(&self, name: &str) -> bool {
        self.place.as_ref().is_some_and(|place| place.is(name))
    }

    pub fn place(&self) -> Option<&Place> {
        self.place.as_ref()
    }

    pub fn shown(&self) -> Shown {
        self.shown
    }

    pub fn look(&self) -> Look {
        self.look
    }

    /// Turns ids on or off; whether they are now on.
    pub fn toggle_ids(&mut self) -> bool {
        self.look.ids = !self.look.ids;
        self.look.ids
    }

    fn me_or_empty(&self) -> &str {
        self.me.as_deref().unwrap_or_default()
    }

    /// Whether `message` belongs to the place on screen.
    fn is_here(&self, message: &Message) -> bool {
        self.place
            .as_ref()
            .is_some_and(|place| place.is(&message.place_for(self.me_or_empty())))
    }

    fn remember(&mut self, message: &Message) {
        if message.room.is_none() {
            self.know_direct_up_to(message.id);
        }
        self.printed.insert(
            message.id,
            Printed {
                username: message.username.clone(),
                sent_at: message.sent_at.clone(),
                place: message.place_for(self.me_or_empty()),
                edited_at: message.edited_at.clone(),
                deleted: false,
            },
        );
        while self.printed.len() > REMEMBERED_MESSAGES {
            self.printed.pop_first();
        }
    }

    /// Shows a message where it belongs: in the place on screen (once, in
    /// id order), as a direct-message notice anywhere else (once), or, for
    /// another room's, not at all.
    ///
    /// # Errors
    ///
    /// [`ClientError::Output`].
    pub fn show_message(&mut self, message: &Message, output: &Output) -> Result<(), ClientError> {
        if self.is_here(message) {
            if self.shown.take_new(message.id) {
                self.remember(message);
                output.show(&render::message(message, self.look, output.width()))?;
            }
        } else if message.room.is_none() && !self.printed.contains_key(&message.id) {
            self.remember(message);
            output.show(&render::direct(
                message,
                self.me_or_empty(),
                self.look,
                output.width(),
            ))?;
        }
        Ok(())
    }

    /// The lines for fetched messages of the place on screen, oldest first,
    /// skipping those already shown; they count as shown from now on.
    pub fn take_fetched(&mut self, messages: &[Message], width: Width) -> Vec<String> {
        self.take_fetched_on_entry(messages, None, width)
    }

    /// [`View::take_fetched`] for the messages a place shows when entered,
    /// with [`render::UNREAD_MARKER`] before the first one past the user's
    /// read position (`last_read_id`) when read ones come before it: where
    /// to pick up reading among a hundred messages shown again.
    pub fn take_fetched_on_entry(
        &mut self,
        messages: &[Message],
        last_read_id: Option<i64>,
        width: Width,
    ) -> Vec<String> {
        let mut lines = Vec::new();
        let mut read_shown = false;
        let mut marked = false;
        for message in messages {
            if !self.shown.take_new(message.id) {
                continue;
            }
            self.remember(message);
            let unread = last_read_id.is_some_and(|read| message.id > read);
            if unread && read_shown && !marked {
                lines.push(render::UNREAD_MARKER.to_string());
                marked = true;
            }
            read_shown |= !unread;
            lines.push(render::message(message, self.look, width));
        }
        lines
    }

    /// The lines for a scrolled-back block, which counts as shown.
    pub fn take_earlier(&mut self, messages: &[Message], width: Width) -> Vec<String> {
        if let (Some(first), Some(last)) = (messages.first(), messages.last()) {
            self.shown.take_earlier(first.id, last.id);
        }
        messages
            .iter()
            .map(|message| {
                self.remember(message);
                render::message(message, self.look, width)
            })
            .collect()
    }

    /// The lines for messages shown again (with ids after `/ids`); what
    /// counts as shown does not change.
    pub fn render_again(&mut self, messages: &[Message], width: Width) -> Vec<String> {
        messages
            .iter()
            .map(|message| {
                self.remember(message);
                render::message(message, self.look, width)
            })
            .collect()
    }

    /// The user's own message, from the server's reply to sending it: shown
    /// like a pushed one; sending also moved the read position to it.
    ///
    /// # Errors
    ///
    /// [`ClientError::Output`].
    pub fn show_sent(&mut self, message: &Message, output: &Output) -> Result<(), ClientError> {
        self.show_message(message, output)?;
        if self.is_here(message) && self.shown.newest == Some(message.id) {
            self.marked = Some(message.id);
        }
        Ok(())
    }

    /// Shows an edited message again, ending with `(edited)`, if the
    /// original is on screen and this edit was not shown yet; `asked` (the
    /// user's own `/edit`) shows it even when the original is not on screen.
    ///
    /// # Errors
    ///
    /// [`ClientError::Output`].
    pub fn show_edit(
        &mut self,
        message: &Message,
        asked: bool,
        output: &Output,
    ) -> Result<(), ClientError> {
        match self.printed.get(&message.id) {
            Some(printed) if printed.deleted || printed.edited_at == message.edited_at => {
                return Ok(());
            }
            None if !asked => return Ok(()),
            _ => {}
        }
        let width = output.width();
        let shown = if self.is_here(message) {
            render::message(message, self.look, width)
        } else if message.room.is_none() {
            render::direct(message, self.me_or_empty(), self.look, width)
        } else {
            render::found(message, self.me_or_empty(), width)
        };
        self.remember(message);
        output.show(&shown)
    }

    /// Says that a message was deleted if it is on screen and that was not
    /// said yet; `asked` (the user's own `/delete`) says it in any case.
    ///
    /// # Errors
    ///
    /// [`ClientError::Output`].
    pub fn show_delete(
        &mut self,
        id: i64,
        asked: bool,
        output: &Output,
    ) -> Result<(), ClientError> {
        let look = self.look;
        let place = self.place.as_ref();
        match self.printed.get_mut(&id) {
            Some(printed) if printed.deleted => Ok(()),
            Some(printed) => {
                printed.deleted = true;
                let here = place.is_some_and(|place| place.is(&printed.place));
                let deletion = render::Deleted {
                    id,
                    username: &printed.username,
                    sent_at: &printed.sent_at,
                    elsewhere: (!here).then_some(printed.place.as_str()),
                };
                output.show(&render::deleted(&deletion, look))
            }
            None if asked => output.show(&render::deleted_unseen(id)),
            None => Ok(()),
        }
    }

    /// Shows a pushed event if it belongs on screen.
    ///
    /// # Errors
    ///
    /// [`ClientError::Output`].
    pub fn show_event(&mut self, event: &PushedEvent, output: &Output) -> Result<(), ClientError> {
        let in_room = |room: &str| self.place.as_ref().is_some_and(|p| p.is_room(room));
        match event {
            PushedEvent::Message(message) => self.show_message(message, output),
            PushedEvent::Edit(message) => self.show_edit(message, false, output),
            PushedEvent::Delete(deleted) => self.show_delete(deleted.id, false, output),
            PushedEvent::Join(membership) if in_room(&membership.room) => {
                output.show(&render::joined(membership))
            }
            PushedEvent::Exit(membership) if in_room(&membership.room) => {
                output.show(&render::left(membership))?;
                if !self.exiting && membership.username.eq_ignore_ascii_case(self.me_or_empty()) {
                    self.left_elsewhere = true;
                    output.show(&render::left_elsewhere(&membership.room))?;
                }
                Ok(())
            }
            PushedEvent::Topic(change) if in_room(&change.room) => {
                output.show(&render::topic_changed(change))
            }
            PushedEvent::Join(_) | PushedEvent::Exit(_) | PushedEvent::Topic(_) => Ok(()),
        }
    }

    /// Where and up to which id the read position should move: the newest
    /// message shown in the place on screen, if it moved since last time.
    /// Counts it as done.
    pub fn to_mark(&mut self) -> Option<(String, i64)> {
        let place = self.place.as_ref()?;
        let newest = self.shown.newest?;
        if self.marked.is_some_and(|marked| marked >= newest) {
            return None;
        }
        self.marked = Some(newest);
        Some((place.name(), newest))
    }
}

/// Moves the read position as [`View::to_mark`] says. A refusal (the room
/// was just left) does not matter; a lost connection is reported by the
/// thread waiting for the user.
pub fn mark_read(connection: &Connection, view: &Mutex<View>) {
    let Some((place, id)) = lock(view).to_mark() else {
        return;
    };
    match connection.call::<IgnoredAny>("/markRead", &[&place, &id.to_string()]) {
        Ok(Ok(_)) => {}
        Ok(Err(refusal)) => log::info!("/markRead {place} {id}: {}", refusal.sentence),
        Err(err) => log::info!("/markRead {place} {id}: {err}"),
    }
}

/// The thread that shows pushed events.
pub struct Feed {
    flushes: Option<Sender<Sender<()>>>,
    thread: Option<JoinHandle<()>>,
}

impl Feed {
    /// Starts showing the connection's events as `view` says.
    ///
    /// # Errors
    ///
    /// [`ClientError::Thread`].
    pub fn start(
        connection: Arc<Connection>,
        view: SharedView,
        output: Output,
    ) -> Result<Feed, ClientError> {
        let (flushes, flush_requests) = crossbeam_channel::bounded(0);
        let thread = std::thread::Builder::new()
            .name("feed".to_string())
            .spawn(move || run_feed(&connection, &flush_requests, &view, &output))
            .map_err(ClientError::Thread)?;
        Ok(Feed {
            flushes: Some(flushes),
            thread: Some(thread),
        })
    }

    /// Lets the thread end by itself, without waiting for it: its
    /// connection is lost, and a flow of this thread may hold the view the
    /// thread needs to show what it still has.
    pub fn retire(mut self) {
        drop(self.flushes.take());
        drop(self.thread.take());
    }

    /// Returns once every event that had arrived when it was called is shown
    /// and the read position marked. Replies come after the events before
    /// them, so after a reply this shows everything that request caused.
    pub fn flush(&self) {
        let Some(flushes) = &self.flushes else {
            return;
        };
        let (done, finished) = crossbeam_channel::bounded(1);
        if flushes.send(done).is_ok() {
            let _ = finished.recv();
        }
    }
}

impl Drop for Feed {
    /// Shows what is already queued, then ends the thread.
    fn drop(&mut self) {
        drop(self.flushes.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run_feed(
    connection: &Connection,
    flush_requests: &Receiver<Sender<()>>,
    view: &Mutex<View>,
    output: &Output,
) {
    let events = connection.events();
    let show_queued = || -> Result<(), ClientError> {
        for event in events.try_iter() {
            lock(view).show_event(&event, output)?;
        }
        Ok(())
    };
    loop {
        select! {
            recv(events) -> event => {
                let Ok(event) = event else {
                    return; // the connection is gone; the prompt reports it
                };
                if lock(view).show_event(&event, output).is_err() || show_queued().is_err() {
                    return;
                }
                mark_read(connection, view);
            },
            recv(flush_requests) -> request => {
                let shown = show_queued();
                match request {
                    Ok(done) => {
                        if shown.is_ok() {
                            mark_read(connection, view);
                        }
                        let _ = done.send(());
                    }
                    Err(_) => return,
                }
                if shown.is_err() {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn places_match_names_without_regard_to_case() {
        assert!(Place::Direct("Bob".into()).is("@bob"));
        assert!(Place::Room("Général".into()).is("général"));
        assert!(Place::Room("Straße".into()).is("STRASSE"));
        assert!(!Place::Direct("bob".into()).is("bob"));
        assert!(Place::Room("general".into()).is_room("GENERAL"));
        assert!(!Place::Direct("general".into()).is_room("general"));
    }

    #[test]
    fn the_read_position_moves_once_per_newer_message() {
        let mut view = View::default();
        view.log_in("alice");
        assert_eq!(view.to_mark(), None, "nowhere");
        view.enter(Place::Room("general".into()));
        assert_eq!(view.to_mark(), None, "nothing shown");
        view.shown.take_new(4);
        assert_eq!(view.to_mark(), Some(("general".into(), 4)));
        assert_eq!(view.to_mark(), None);
        view.shown.take_new(9);
        assert_eq!(view.to_mark(), Some(("general".into(), 9)));
        view.enter(Place::Direct("bob".into()));
        view.shown.take_new(2);
        assert_eq!(view.to_mark(), Some(("@bob".into(), 2)));
    }

    fn message(id: i64, room: Option<&str>, to: Option<&str>, from: &str, text: &str) -> Message {
        Message {
            id,
            room: room.map(str::to_string),
            to: to.map(str::to_string),
            username: from.into(),
            text: text.into(),
            sent_at: SENT.into(),
            edited_at: None,
            guest: false,
        }
    }

    const SENT: &str = "2020-01-02T12:00:00.000Z";

    /// The shown blocks with the time of [`SENT`] written `HH:MM`.
    fn shown(output: &Output) -> Vec<String> {
        let time = render::sent_time(SENT, &chrono::Local::now());
        output
            .take_captured()
            .into_iter()
            .map(|block| block.replace(&time, "HH:MM"))
            .collect()
    }

    fn alice_in(place: Place) -> View {
        let mut view = View::default();
        view.log_in("alice");
        view.enter(place);
        view
    }

    #[test]
    fn entering_marks_where_reading_stopped_when_read_messages_come_first() {
        let fetched: Vec<Message> = (1..=4)
            .map(|id| message(id, Some("general"), None, "bob", &format!("m{id}")))
            .collect();
        let entered = |read_to| {
            let mut view = alice_in(Place::Room("general".into()));
            view.take_fetched_on_entry(&fetched, read_to, Width::Unbounded)
                .iter()
                .map(|line| line.rsplit(": ").next().unwrap_or(line).to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            entered(Some(2)),
            ["m1", "m2", render::UNREAD_MARKER, "m3", "m4"]
        );
        // All read, none read (a new member), or no position known: no line.
        assert_eq!(entered(Some(4)), ["m1", "m2", "m3", "m4"]);
        assert_eq!(entered(Some(0)), ["m1", "m2", "m3", "m4"]);
        assert_eq!(entered(None), ["m1", "m2", "m3", "m4"]);
    }

    #[test]
    fn messages_show_in_their_place_and_direct_ones_anywhere_else() {
        let output = Output::captured();
        let mut view = alice_in(Place::Room("general".into()));
        let events = [
            PushedEvent::Message(message(5, Some("general"), None, "bob", "in the room")),
            PushedEvent::Message(message(5, Some("general"), None, "bob", "in the room")),
            PushedEvent::Message(message(6, Some("random"), None, "bob", "elsewhere")),
            PushedEvent::Message(message(7, None, Some("alice"), "bob", "to me")),
            PushedEvent::Message(message(7, None, Some("alice"), "bob", "to me")),
            PushedEvent::Message(message(8, None, Some("carol"), "alice", "from me")),
        ];
        for event in &events {
            view.show_event(event, &output).expect("shown");
        }
        assert_eq!(
            shown(&output),
            [
                "[HH:MM] bob: in the room",
                "[dm HH:MM] bob: to me",
                "[dm HH:MM] alice → carol: from me",
            ]
        );
        // Deleted, a direct message shown in the room says where it was:
        // not taken for one of the room's.
        view.show_delete(8, false, &output).expect("shown");
        view.show_delete(5, false, &output).expect("shown");
        assert_eq!(
            shown(&output),
            [
                "* alice's message of HH:MM in @carol was deleted",
                "* bob's message of HH:MM was deleted",
            ]
        );

        view.enter(Place::Direct("Bob".into()));
        let PushedEvent::Message(to_me) = &events[3] else {
            unreachable!()
        };
        let history = view.take_fetched(std::slice::from_ref(to_me), Width::Unbounded);
        assert_eq!(history.len(), 1, "the conversation shows it again");
        view.show_event(&events[3], &output).expect("shown");
        let in_conversation = message(9, None, Some("alice"), "bob", "here");
        view.show_message(&in_conversation, &output).expect("shown");
        let mine = message(10, None, Some("BOB"), "alice", "back");
        view.show_sent(&mine, &output).expect("shown");
        view.show_message(&mine, &output).expect("shown");
        assert_eq!(shown(&output), ["[HH:MM] bob: here", "[HH:MM] alice: back"]);
        assert_eq!(view.to_mark(), None, "sending moved the read position");
    }

    #[test]
    fn edits_and_deletes_show_for_messages_on_screen_once() {
        let output = Output::captured();
        let mut view = alice_in(Place::Room("general".into()));
        let original = message(5, Some("general"), None, "bob", "typo");
        view.take_fetched(std::slice::from_ref(&original), Width::Unbounded);
        let mut edited = Message {
            text: "fixed".into(),
            edited_at: Some("2026-11-24T17:50:00.000Z".into()),
            ..original
        };
        view.show_edit(&edited, false, &output).expect("shown");
        view.show_edit(&edited, true, &output).expect("shown");
        let unseen = message(3, Some("general"), None, "bob", "old");
        view.show_edit(&unseen, false, &output).expect("shown");
        view.show_delete(3, false, &output).expect("shown");
        view.show_delete(5, false, &output).expect("shown");
        view.show_delete(5, true, &output).expect("shown");
        edited.edited_at = Some("2026-11-24T17:51:00.000Z".into());
        view.show_edit(&edited, false, &output).expect("shown");
        view.show_delete(4, true, &output).expect("shown");
        let lines = output.take_captured();
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(lines[0].ends_with("bob: fixed (edited)"), "{lines:?}");
        assert!(lines[1].starts_with("* bob's message of "), "{lines:?}");
        assert!(lines[1].ends_with(" was deleted"), "{lines:?}");
        assert_eq!(lines[2], "* message #4 was deleted");

        view.toggle_ids();
        let elsewhere = Message {
            room: Some("random".into()),
            edited_at: Some("2026-11-24T17:52:00.000Z".into()),
            ..message(11, Some("random"), None, "alice", "mine")
        };
        view.show_edit(&elsewhere, true, &output).expect("shown");
        let lines = output.take_captured();
        assert!(
            lines[0].starts_with("random [") && lines[0].contains(" #11] alice: mine (edited)"),
            "{lines:?}"
        );
    }

    #[test]
    fn room_events_show_only_in_their_room() {
        let output = Output::captured();
        let mut view = alice_in(Place::Room("general".into()));
        let join = |room: &str| {
            PushedEvent::Join(crate::wire::Membership {
                room: room.into(),
                username: "bob".into(),
            })
        };
        let topic = PushedEvent::Topic(crate::wire::TopicChange {
            room: "general".into(),
            topic: "deploys".into(),
            username: "bob".into(),
        });
        for event in [join("general"), join("random"), topic.clone()] {
            view.show_event(&event, &output).expect("shown");
        }
        view.leave();
        view.show_event(&topic, &output).expect("shown");
        assert_eq!(
            output.take_captured(),
            [
                "* bob joined general",
                "* bob set the topic of general: deploys"
            ]
        );
    }
}
