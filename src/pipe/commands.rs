//! What each pipe request asks of the chat core, and its reply line.
//!
//! An [`OpenRequest`] (`/register`, `/login`, ...) is answered whether the
//! connection is logged in or not; a [`UserRequest`], every other, gets the
//! logged-in [`User`] once, here, and the core's operations take it from
//! there.

use serde::Serialize;

use super::reply::{chat_error_line, error_line, success_line};
use super::request::{COMMANDS, OpenRequest, ParseError, Request, UserRequest, needs_login};
use crate::chat::{Chat, ChatError, Page, Session, User};
use crate::metrics::metrics;
use crate::wire::{
    AccountName, CreatedRoom, LoginReply, Message, MessageId, NewToken, RoomName, Status,
};

/// Carries out one request and returns its reply's status and line, except
/// that a message to store is handed back unsent, for [`Sending::start`].
pub(crate) fn start(request: Request, session: &Session, chat: &Chat) -> Answer {
    match answer(request, session, chat) {
        Ok(answer) => answer,
        Err(err) => Answer::Ready((err.status(), chat_error_line(&err))),
    }
}

/// What [`start`] made of a request.
pub(crate) enum Answer {
    Ready(Reply),
    /// A message whose reply waits for its commit (the chat checks its
    /// text when it is sent).
    Sending(Sending),
}

/// A `/sendMessage` whose reply waits for the commit that stores it.
///
/// Under load a message joins a group commit on the writer's thread. A
/// connection that waits for it sleeps until that thread wakes it, only to
/// write a short reply and go back to reading: a sleep and a wake-up more
/// per message, on the writer's serial path too (a quarter of its time went
/// to waking requesters: BENCHMARKS.md, "What moved the figures"). Handing
/// the reply to the committing thread instead leaves the connection's
/// thread asleep in its read.
pub(crate) struct Sending {
    user: User,
    name: String,
    text: String,
}

impl Sending {
    /// Stores the message and hands its reply to `then` once the commit's
    /// fate is known, on whichever thread committed it (this one, when the
    /// writer was idle). `then` is called exactly once, whatever becomes of
    /// the write, and must not block.
    pub(crate) fn start(self, chat: &Chat, then: impl FnOnce(Reply) + Send + 'static) {
        let answer = Owed(Some(then));
        chat.send_then(&self.user, self.name, self.text, move |sent| {
            answer.give(sent_reply(sent));
        });
    }
}

/// A reply still owed: given once, or, if the write is dropped without an
/// outcome (a writer stopping with it queued), `503` when this is dropped,
/// so that the client still gets exactly one reply for the request.
struct Owed<F: FnOnce(Reply)>(Option<F>);

impl<F: FnOnce(Reply)> Owed<F> {
    fn give(mut self, reply: Reply) {
        if let Some(then) = self.0.take() {
            then(reply);
        }
    }
}

impl<F: FnOnce(Reply)> Drop for Owed<F> {
    fn drop(&mut self) {
        if let Some(then) = self.0.take() {
            then(sent_reply(Err(ChatError::stopped())));
        }
    }
}

/// A message's reply, counted like every other request's.
fn sent_reply(sent: Result<Message, ChatError>) -> Reply {
    let reply = match sent {
        Ok(message) => (Status::Created, success_line(Status::Created, &message)),
        Err(err) => (err.status(), chat_error_line(&err)),
    };
    metrics().request("/sendMessage", reply.0.code());
    reply
}

/// The reply to a request line that does not parse: `400` with what is
/// wrong. A well-formed request with a bad value (a number) for a command
/// that needs a login this connection does not have gets that command's
/// `401` first, as it would with a good value; the request's form (escapes,
/// the number of fields) is checked before anything, as the protocol says.
pub(crate) fn malformed(err: &ParseError, command: &str, session: &Session, chat: &Chat) -> Reply {
    if matches!(err, ParseError::BadNumber { .. })
        && needs_login(command)
        && let Err(err) = chat.logged_in(session)
    {
        return (err.status(), chat_error_line(&err));
    }
    (
        Status::BadRequest,
        error_line(Status::BadRequest, &err.to_string()),
    )
}

/// A reply: its status and its line.
pub(crate) type Reply = (Status, String);

fn answer(request: Request, session: &Session, chat: &Chat) -> Result<Answer, ChatError> {
    match request {
        Request::Open(request) => answer_open(request, session, chat),
        Request::AsUser(request) => answer_as(request, &chat.logged_in(session)?, session, chat),
    }
}

/// Answers a request that needs no login.
fn answer_open(request: OpenRequest, session: &Session, chat: &Chat) -> Result<Answer, ChatError> {
    match request {
        OpenRequest::Register { username, password } => {
            let user = chat.register(&username, &password.0)?;
            created(&AccountName {
                username: user.username,
            })
        }
        OpenRequest::Login { username, password } => {
            let login = chat.login(session, &username, &password.0)?;
            ok(&LoginReply {
                username: login.user.username,
                token: login.token,
            })
        }
        OpenRequest::Resume { token } => {
            let user = chat.resume(session, &token.0)?;
            ok(&AccountName {
                username: user.username,
            })
        }
        OpenRequest::Ping => ok(&"pong"),
        OpenRequest::Help => {
            let usages: Vec<&str> = COMMANDS.iter().map(|command| command.usage).collect();
            ok(&usages)
        }
    }
}

/// Answers a request on a logged-in connection.
fn answer_as(
    request: UserRequest,
    user: &User,
    session: &Session,
    chat: &Chat,
) -> Result<Answer, ChatError> {
    match request {
        UserRequest::Logout { username } => {
            chat.check_acting_as(user, username.as_deref())?;
            chat.logout(session)?;
            ok(&AccountName {
                username: user.username.clone(),
            })
        }
        UserRequest::ChangePassword { old, new } => {
            let token = chat.change_password(session, user, &old.0, &new.0)?;
            ok(&NewToken { token })
        }
        UserRequest::CreateChatroom { name } => {
            let room = chat.create_room(user, name)?;
            created(&CreatedRoom { name: room.name })
        }
        UserRequest::JoinChatroom { name, username } => {
            chat.check_acting_as(user, username.as_deref())?;
            let room = chat.join(user, name)?;
            ok(&RoomName { room: room.name })
        }
        UserRequest::ExitChatroom { name, username } => {
            chat.check_acting_as(user, username.as_deref())?;
            let room = chat.exit(user, name)?;
            ok(&RoomName { room: room.name })
        }
        UserRequest::GetAllChatrooms => ok(&chat.room_names()?),
        UserRequest::GetActiveUsers => ok(&chat.active_users()?),
        UserRequest::GetChatroomMembers { name } => ok(&chat.members(&name)?),
        UserRequest::FetchMessages {
            name,
            after_id,
            limit,
        } => {
            let page = match after_id {
                None => Page::Latest { limit },
                Some(id) => Page::After { id, limit },
            };
            ok(&chat.fetch(user, &name, page)?)
        }
        UserRequest::FetchHistory {
            name,
            before_id,
            limit,
        } => ok(&chat.fetch(
            user,
            &name,
            Page::Before {
                id: before_id,
                limit,
            },
        )?),
        UserRequest::SendMessage {
            name,
            text,
            username,
        } => {
            chat.check_acting_as(user, username.as_deref())?;
            Ok(Answer::Sending(Sending {
                user: user.clone(),
                name,
                text,
            }))
        }
        UserRequest::Subscribe { name } => {
            let room = chat.subscribe(session, user, &name)?;
            ok(&RoomName { room })
        }
        UserRequest::Unsubscribe { name } => {
            let room = chat.unsubscribe(session, user, &name)?;
            ok(&RoomName { room })
        }
        UserRequest::EditMessage { id, text } => ok(&chat.edit(user, id, text)?),
        UserRequest::DeleteMessage { id } => {
            chat.delete(user, id, None)?;
            ok(&MessageId { id })
        }
        UserRequest::Search { query, room, limit } => {
            ok(&chat.search(user, &query, room.as_deref(), limit)?)
        }
        UserRequest::MarkRead { name, id } => ok(&chat.mark_read(user, name, id)?),
        UserRequest::GetUnread => ok(&chat.unread(user)?),
        UserRequest::GetRoomInfo { name } => ok(&chat.room_info(&name)?),
        UserRequest::SetTopic { name, topic } => ok(&chat.set_topic(user, name, topic)?),
        UserRequest::SetRetention { name, days } => ok(&chat.set_retention(user, name, days)?),
    }
}

fn ok(data: &impl Serialize) -> Result<Answer, ChatError> {
    Ok(Answer::Ready((Status::Ok, success_line(Status::Ok, data))))
}

fn created(data: &impl Serialize) -> Result<Answer, ChatError> {
    Ok(Answer::Ready((
        Status::Created,
        success_line(Status::Created, data),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reply owed for a write that was dropped without an outcome (a
    /// writer stopping with it queued) is still given, once: `503`.
    #[test]
    fn an_owed_reply_is_given_once_even_when_dropped() {
        let (given, replies) = crossbeam_channel::unbounded();
        let given_too = given.clone();
        Owed(Some(move |reply: Reply| given.send(reply).unwrap()))
            .give((Status::Created, "created".to_string()));
        drop(Owed(Some(move |reply: Reply| {
            given_too.send(reply).unwrap()
        })));
        let replies: Vec<Reply> = replies.try_iter().collect();
        assert_eq!(replies.len(), 2);
        assert_eq!(replies[0].0, Status::Created);
        assert_eq!(replies[1].0, Status::Unavailable);
        assert!(replies[1].1.contains("shutting down"), "{}", replies[1].1);
    }
}
