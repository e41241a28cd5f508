//! Making a lost connection good where the user is.
//!
//! At a terminal, logged in with a saved login, a connection that drops (the
//! server restarted, upgraded, or another node behind the same address took
//! over) is replaced without leaving the question on screen: the client
//! connects again, with growing pauses for up to [`RECONNECT_FOR`], resumes
//! with the saved token, listens again as before (direct messages, and the
//! room or conversation on screen), and shows what came meanwhile. The
//! question the user was answering stays asked, so what they type, during
//! the outage too, answers that same question: a room's line is sent to the
//! room, a password goes to the password question.
//!
//! A script (its next lines were written for what it expected), a login
//! that is not saved, or a saved login the server refuses end the run
//! instead, as does Ctrl-C during the wait.

use std::time::{Duration, Instant};

use serde::de::IgnoredAny;

use super::error::{ClientError, ErrorReply};
use super::feed::{Place, View};
use super::render;
use super::session::Session;
use crate::wire::{AccountName, MAX_FETCH_LIMIT, Message, Unread};

/// How long a client tries to reconnect to a server that went away before it
/// gives up: long enough for a restart or an upgrade.
pub const RECONNECT_FOR: Duration = Duration::from_secs(120);

/// The most messages fetched at once to show what came meanwhile: as many
/// as one fetch may ask for.
const CATCH_UP: u32 = MAX_FETCH_LIMIT;

/// Why one try did not bring the session back.
enum Failed {
    /// The server is not there yet (or went away again): try again.
    NotYet(String),
    /// The server is there and refuses the saved login: trying again
    /// cannot help.
    Refused(String),
}

/// Connects again and brings the session back to where it was; `lost` says
/// what happened, shown first.
///
/// # Errors
///
/// `lost` when the user gives up (Ctrl-C, Ctrl-D), the time is over, or the
/// server refuses the saved login; what the console reports if it fails.
pub(super) fn make_good(session: &Session, lost: ClientError) -> Result<(), ClientError> {
    session.say(&format!("{lost}; reconnecting (Ctrl-C gives up)"))?;
    let deadline = Instant::now() + RECONNECT_FOR;
    let mut pause = Duration::from_millis(200);
    loop {
        if session.wait_unless_stopped(pause)? {
            return Err(lost);
        }
        // Said as the error that ends the run: a line shown just before the
        // client exits could be lost with the line editor.
        let not_resumed = |reason: String| ClientError::NotResumed {
            addr: session.server_address().to_string(),
            reason,
        };
        let reopened = reopen(session);
        // Ctrl-C during a try (which may take seconds) gives up all the same.
        if session.stopped_meanwhile() {
            return Err(lost);
        }
        match reopened {
            Ok(()) => return Ok(()),
            Err(Failed::Refused(reason)) => return Err(not_resumed(reason)),
            Err(Failed::NotYet(reason)) if Instant::now() >= deadline => {
                return Err(not_resumed(format!(
                    "gave up after {} s: {reason}",
                    RECONNECT_FOR.as_secs()
                )));
            }
            Err(Failed::NotYet(reason)) => log::debug!("reconnecting: {reason}"),
        }
        pause = (pause * 2).min(Duration::from_secs(5));
    }
}

/// One try: connect, resume, listen again, say so, show what came meanwhile.
fn reopen(session: &Session) -> Result<(), Failed> {
    let not_yet = |err: ClientError| Failed::NotYet(err.to_string());
    let me = session.me();
    let token = session
        .saved_logins()
        .and_then(|saved| saved.load(&me).ok().flatten())
        .ok_or_else(|| Failed::Refused(format!("the saved login of {me} is gone")))?;
    let connection = session.open_connection().map_err(not_yet)?;
    match connection
        .call::<AccountName>("/resume", &[&token])
        .map_err(not_yet)?
    {
        Ok(resumed) if resumed.username.eq_ignore_ascii_case(&me) => {}
        Ok(_) => {
            forget(session, &me);
            return Err(Failed::Refused(format!(
                "the saved login of {me} is someone else's; start the client again and log in"
            )));
        }
        Err(ErrorReply {
            status: 400 | 401, ..
        }) => {
            forget(session, &me);
            return Err(Failed::Refused(format!(
                "the saved login of {me} is no longer valid (was the password changed?); \
                 start the client again and log in"
            )));
        }
        Err(refusal) => return Err(Failed::NotYet(refusal.sentence)),
    }
    session.replace_connection(connection).map_err(not_yet)?;
    listen_again(session).map_err(not_yet)
}

fn forget(session: &Session, me: &str) {
    if let Some(saved) = session.saved_logins()
        && let Err(err) = saved.forget(me)
    {
        log::warn!(
            "cannot delete the saved login {}: {err}",
            saved.path(me).display()
        );
    }
}

/// Subscribes as before the loss, says `connected again` (before what came
/// meanwhile, which then reads as news), and shows what came meanwhile:
/// direct messages, and the messages of the place on screen. Refusals (the
/// room is gone, the user is no longer a member) are shown; the user
/// carries on.
fn listen_again(session: &Session) -> Result<(), ClientError> {
    let connection = session.connection();
    let direct = connection.call::<IgnoredAny>("/subscribe", &["@"])?;
    // A flow entering a place holds the view, and fetches what it shows.
    let view = session.view_unless_held();
    let place = view.as_ref().and_then(|view| view.place().cloned());
    // Direct conversations are all in `/subscribe|@`.
    let room = match &place {
        Some(room @ Place::Room(_)) => {
            Some(connection.call::<IgnoredAny>("/subscribe", &[&room.name()])?)
        }
        _ => None,
    };
    session.say("connected again")?;
    if let Err(refusal) = direct {
        session.say(&render::refusal(&refusal.sentence))?;
    }
    let Some(mut view) = view else {
        return Ok(());
    };
    show_direct_messages_missed(session, &mut view)?;
    let Some(place) = place else {
        return Ok(());
    };
    let name = place.name();
    if let Some(Err(refusal)) = room {
        // The room is gone, or the user no longer a member: the prompt
        // stays, and says so at each line; /exit goes back to the menu.
        return session.say(&format!(
            "{}; /exit goes back to the menu",
            render::refusal(&refusal.sentence)
        ));
    }
    let latest = match connection.call::<Vec<Message>>("/fetchMessages", &[&name])? {
        Ok(latest) => latest,
        Err(refusal) => return session.say(&render::refusal(&refusal.sentence)),
    };
    let width = session.output().width();
    let newest_shown = view.shown().newest;
    let newest_there = latest.last().map(|message| message.id);
    let lines = match newest_shown {
        // A history that does not reach what was on screen (a backup
        // restored, another database): shown afresh.
        Some(shown) if newest_there.is_none_or(|there| there < shown) => {
            session.say(&format!(
                "the server's messages of {name} are not those on screen (restored from a \
                 backup?); here they are again"
            ))?;
            view.enter(place.clone());
            view.take_fetched(&latest, width)
        }
        // All of the latest page is new: there may be more before it.
        Some(shown) if latest.first().is_some_and(|first| first.id > shown) => {
            let after = shown.to_string();
            let limit = CATCH_UP.to_string();
            match connection.call::<Vec<Message>>("/fetchMessages", &[&name, &after, &limit])? {
                Ok(missed) if missed.len() < CATCH_UP as usize => view.take_fetched(&missed, width),
                _ => {
                    session.say(&format!(
                        "{CATCH_UP} messages or more came meanwhile; the latest {}:",
                        latest.len()
                    ))?;
                    view.take_fetched(&latest, width)
                }
            }
        }
        _ => view.take_fetched(&latest, width),
    };
    if !lines.is_empty() {
        session.say(&lines.join("\n"))?;
    }
    drop(view);
    session.mark_read();
    Ok(())
}

/// Shows the direct messages that came while the connection was lost, as
/// they would have shown live: a `[dm]` line each, oldest first. Those of
/// the conversation on screen are left to [`listen_again`], which shows
/// them in place.
fn show_direct_messages_missed(session: &Session, view: &mut View) -> Result<(), ClientError> {
    let connection = session.connection();
    let unread = match connection.call::<Vec<Unread>>("/getUnread", &[])? {
        Ok(unread) => unread,
        Err(refusal) => return session.say(&render::refusal(&refusal.sentence)),
    };
    let known = view.direct_known();
    let mut missed = Vec::new();
    for conversation in unread.iter().filter(|entry| {
        entry.room.starts_with('@') && entry.last_id > known && !view.is_on_screen(&entry.room)
    }) {
        let after = known.to_string();
        let limit = CATCH_UP.to_string();
        match connection
            .call::<Vec<Message>>("/fetchMessages", &[&conversation.room, &after, &limit])?
        {
            Ok(messages) => missed.extend(messages),
            Err(refusal) => session.say(&render::refusal(&refusal.sentence))?,
        }
    }
    missed.sort_by_key(|message| message.id);
    for message in &missed {
        view.show_message(message, session.output())?;
    }
    view.know_direct_up_to(super::menu::newest_direct(&unread));
    Ok(())
}
