//! What each request does: the step from a typed [`Request`] to its effect and
//! its reply line.
//!
//! Reads go to the pool; anything that changes the database goes through the
//! [`Writer`], whose `after_commit` step publishes the resulting events so
//! they leave in commit order.

use std::net::IpAddr;
use std::sync::Arc;

use crate::accounts::{Accounts, LoginCheck, LoginSource};
use crate::error::CommandError;
use crate::hub::{ConnId, Hub};
use crate::limits;
use crate::protocol::{self, Event, Membership, Password, Request, Status, USAGES};
use crate::store::{Room, Store, User, now_timestamp, queries};
use crate::writer::Writer;

/// Everything a request may need, shared by all connections.
pub struct Services {
    pub store: Store,
    pub writer: Writer,
    pub hub: Hub,
    pub accounts: Accounts,
}

/// One connection's identity as far as requests are concerned.
pub struct Session {
    pub conn_id: ConnId,
    pub peer: IpAddr,
    /// Who this connection is logged in as.
    pub user: Option<User>,
}

type Reply = Result<String, CommandError>;

/// Carries out one request and returns its reply line.
pub fn execute(request: Request, session: &mut Session, services: &Arc<Services>) -> Reply {
    if !request.allowed_before_login() && session.user.is_none() {
        return Err(CommandError::NotLoggedIn);
    }
    match request {
        Request::Register { username, password } => register(services, &username, &password),
        Request::Login { username, password } => login(services, session, &username, &password),
        Request::Logout { username } => {
            let user = acting_user(session, username.as_deref())?.username.clone();
            services.hub.log_out(session.conn_id);
            session.user = None;
            ok(&serde_json::json!({ "username": user }))
        }
        Request::CreateChatroom { name } => create_chatroom(services, session, name),
        Request::JoinChatroom { name, username } => {
            let user = acting_user(session, username.as_deref())?.clone();
            join_chatroom(services, user, name)
        }
        Request::ExitChatroom { name, username } => {
            let user = acting_user(session, username.as_deref())?.clone();
            exit_chatroom(services, user, name)
        }
        Request::GetAllChatrooms => ok(&services.store.read(queries::room_names)?),
        Request::GetActiveUsers => ok(&services.hub.active_usernames()),
        Request::GetChatroomMembers { name } => {
            let members = services.store.read(|conn| {
                let room = queries::find_room(conn, &name)?;
                room.map(|room| queries::member_names(conn, room.id))
                    .transpose()
            })?;
            ok(&members.ok_or_else(|| no_such_room(&name))?)
        }
        Request::FetchMessages {
            name,
            after_id,
            limit,
        } => fetch(services, session, &name, |conn, room| match after_id {
            None => queries::fetch_latest_messages(conn, room, limit),
            Some(after_id) => queries::fetch_messages_after(conn, room, after_id, limit),
        }),
        Request::FetchHistory {
            name,
            before_id,
            limit,
        } => fetch(services, session, &name, |conn, room| {
            queries::fetch_messages_before(conn, room, before_id, limit)
        }),
        Request::SendMessage {
            name,
            text,
            username,
        } => {
            let user = acting_user(session, username.as_deref())?.clone();
            send_message(services, user, name, text)
        }
        Request::Subscribe { name } => subscribe(services, session, name),
        Request::Unsubscribe { name } => {
            let room = services
                .store
                .read(|conn| queries::find_room(conn, &name))?
                .ok_or_else(|| no_such_room(&name))?;
            services.hub.unsubscribe(session.conn_id, room.id);
            ok(&serde_json::json!({ "room": room.name }))
        }
        Request::Ping => ok(&"pong"),
        Request::Help => ok(&USAGES),
    }
}

fn ok(data: &impl serde::Serialize) -> Reply {
    Ok(protocol::success_line(Status::Ok, data))
}

fn created(data: &impl serde::Serialize) -> Reply {
    Ok(protocol::success_line(Status::Created, data))
}

/// The logged-in user, checked against the username an older request form names.
fn acting_user<'a>(session: &'a Session, named: Option<&str>) -> Result<&'a User, CommandError> {
    let user = session.user.as_ref().ok_or(CommandError::NotLoggedIn)?;
    match named {
        Some(named) if !named.eq_ignore_ascii_case(&user.username) => Err(CommandError::NotYou {
            given: protocol::shorten_for_reply(named),
            actual: user.username.clone(),
        }),
        _ => Ok(user),
    }
}

fn no_such_room(name: &str) -> CommandError {
    CommandError::NoSuchRoom(protocol::shorten_for_reply(name))
}

fn register(services: &Services, username: &str, password: &Password) -> Reply {
    limits::check_username(username).map_err(CommandError::Invalid)?;
    limits::check_password(&password.0).map_err(CommandError::Invalid)?;
    // Refuse a taken name before paying for a hash; the insert below still
    // decides races between simultaneous registrations.
    if services
        .store
        .read(|conn| queries::find_credentials(conn, username))?
        .is_some()
    {
        return Err(CommandError::UsernameTaken(username.to_string()));
    }
    let password_hash = services.accounts.hash_password(&password.0)?;
    let name = username.to_string();
    let user = services.writer.write(
        move |conn| {
            queries::insert_user(conn, &name, &password_hash, &now_timestamp())?
                .ok_or(CommandError::UsernameTaken(name))
        },
        // Logged by the writer thread, not this connection's (see accounts).
        |user| log::info!("registered user '{}'", user.username),
    )?;
    created(&serde_json::json!({ "username": user.username }))
}

fn login(services: &Services, session: &mut Session, username: &str, password: &Password) -> Reply {
    // An impossible name or password cannot match anything: refuse it the
    // same way as a wrong password, without spending a hash on it.
    let possible =
        limits::check_username(username).is_ok() && password.0.len() <= limits::MAX_PASSWORD_BYTES;
    let source = LoginSource::new(session.peer, Some(username));
    let check = if possible {
        let store = services.store.clone();
        let username = username.to_string();
        services
            .accounts
            .check_login(&source, &password.0, move || {
                store
                    .read(|conn| queries::find_credentials(conn, &username))
                    .map_err(CommandError::from)
            })?
    } else {
        services.accounts.record_failure(&source);
        LoginCheck::Refused
    };
    match check {
        LoginCheck::Verified(user) => {
            services.hub.log_in(session.conn_id, &user);
            let reply = ok(&serde_json::json!({ "username": user.username }));
            session.user = Some(user);
            reply
        }
        LoginCheck::Throttled(wait) => Err(CommandError::Throttled(wait.as_secs().max(1))),
        LoginCheck::Refused => Err(CommandError::BadCredentials),
    }
}

fn create_chatroom(services: &Services, session: &Session, name: String) -> Reply {
    limits::check_room_name(&name).map_err(CommandError::Invalid)?;
    let creator = session.user.as_ref().map_or(0, |user| user.id);
    let room = services.writer.write(
        move |conn| {
            queries::insert_room(conn, &name, creator, &now_timestamp())?
                .ok_or(CommandError::RoomExists(name))
        },
        |_| {},
    )?;
    created(&serde_json::json!({ "name": room.name }))
}

fn join_chatroom(services: &Arc<Services>, user: User, name: String) -> Reply {
    let publisher = Arc::clone(services);
    let username = user.username.clone();
    let (room, _joined) = services.writer.write(
        move |conn| {
            let room = queries::find_room(conn, &name)?.ok_or_else(|| no_such_room(&name))?;
            let joined = queries::insert_membership(conn, room.id, user.id, &now_timestamp())?;
            Ok::<_, CommandError>((room, joined))
        },
        move |(room, joined): &(Room, bool)| {
            // Joining twice changes nothing, so it tells nobody anything.
            if *joined {
                let event = Event::Join(Membership {
                    room: &room.name,
                    username: &username,
                });
                publisher.hub.publish(room.id, || event.to_line());
            }
        },
    )?;
    ok(&serde_json::json!({ "room": room.name }))
}

fn exit_chatroom(services: &Arc<Services>, user: User, name: String) -> Reply {
    let publisher = Arc::clone(services);
    let (user_id, username) = (user.id, user.username.clone());
    let room = services.writer.write(
        move |conn| {
            let room = queries::find_room(conn, &name)?.ok_or_else(|| no_such_room(&name))?;
            if !queries::delete_membership(conn, room.id, user.id)? {
                return Err(CommandError::NotAMemberToExit(room.name));
            }
            Ok(room)
        },
        move |room: &Room| {
            // The leaver's own subscribers see the exit too, then stop listening.
            let event = Event::Exit(Membership {
                room: &room.name,
                username: &username,
            });
            publisher.hub.publish(room.id, || event.to_line());
            publisher.hub.end_user_subscriptions(user_id, room.id);
        },
    )?;
    ok(&serde_json::json!({ "room": room.name }))
}

/// Runs a message query for a member of the named room.
fn fetch(
    services: &Services,
    session: &Session,
    name: &str,
    query: impl FnOnce(&rusqlite::Connection, &Room) -> rusqlite::Result<Vec<protocol::Message>>,
) -> Reply {
    let user_id = session.user.as_ref().map_or(0, |user| user.id);
    let outcome = services.store.read(|conn| {
        let Some(room) = queries::find_room(conn, name)? else {
            return Ok(Err(no_such_room(name)));
        };
        if !queries::is_member(conn, room.id, user_id)? {
            return Ok(Err(CommandError::NotMember(room.name)));
        }
        query(conn, &room).map(Ok)
    })?;
    ok(&outcome?)
}

fn send_message(services: &Arc<Services>, user: User, name: String, text: String) -> Reply {
    limits::check_message_text(&text).map_err(CommandError::Invalid)?;
    let publisher = Arc::clone(services);
    let message = services.writer.write(
        move |conn| {
            let room = queries::find_room(conn, &name)?.ok_or_else(|| no_such_room(&name))?;
            if !queries::is_member(conn, room.id, user.id)? {
                return Err(CommandError::NotMember(room.name));
            }
            let message = queries::insert_message(conn, &room, &user, &text, &now_timestamp())?;
            Ok((room.id, message))
        },
        move |(room_id, message)| {
            publisher
                .hub
                .publish(*room_id, || Event::Message(message).to_line());
        },
    )?;
    created(&message.1)
}

/// Subscribes through the writer so that the membership check and the
/// subscription are ordered with every exit and every message.
fn subscribe(services: &Arc<Services>, session: &Session, name: String) -> Reply {
    let user_id = session.user.as_ref().map_or(0, |user| user.id);
    let conn_id = session.conn_id;
    let publisher = Arc::clone(services);
    let room = services.writer.write(
        move |conn| {
            let room = queries::find_room(conn, &name)?.ok_or_else(|| no_such_room(&name))?;
            if !queries::is_member(conn, room.id, user_id)? {
                return Err(CommandError::NotMember(room.name));
            }
            Ok(room)
        },
        move |room: &Room| publisher.hub.subscribe(conn_id, room.id),
    )?;
    ok(&serde_json::json!({ "room": room.name }))
}
