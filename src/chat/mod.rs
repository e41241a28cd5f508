//! The chat core: every rule of pipechat, as typed operations with typed
//! results, and nothing about bytes or SQL.
//!
//! A front door parses its wire format, calls one of `Chat`'s operations
//! and renders the result; events come back to it through the
//! `Subscriber` it registered with `Chat::connect`. Operations that need
//! a logged-in user take a `&User`, which only `Chat::logged_in` hands out.
//!
//! - [`limits`]: names, passwords, message texts.
//! - [`accounts`]: Argon2id on a bounded pool of threads, the login throttle.
//! - `session`: who a connection is.
//! - `hub`: presence, subscriptions, fan-out through `Subscriber`.
//! - `error`: every failure, with its status and sentence.

pub mod accounts;
pub(crate) mod error;
pub(crate) mod hub;
pub mod limits;
pub(crate) mod session;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

pub(crate) use error::ChatError;
pub use hub::Rendering;
pub(crate) use hub::{Delivery, Refusal, Subscriber};
pub(crate) use session::Session;

use crate::store::{Page, Reads, Room, Store, User};
use crate::wire::Message;
use accounts::{Accounts, HashError, LoginCheck, LoginSource};
use error::shorten_for_reply;
use hub::Hub;

/// The chat: its store, its live state and its accounts, shared by every
/// connection of every front door.
pub(crate) struct Chat {
    store: Store,
    hub: Arc<Hub>,
    accounts: Accounts,
    max_connections: usize,
}

impl Chat {
    /// Starts the chat on `store`, allowing `max_connections` at once.
    ///
    /// # Errors
    ///
    /// When the hashing threads cannot start.
    pub(crate) fn new(store: Store, max_connections: usize) -> Result<Chat, HashError> {
        let hub = Arc::new(Hub::default());
        store.attach(Arc::clone(&hub) as _);
        Ok(Chat {
            store,
            hub,
            accounts: Accounts::new(Accounts::default_concurrency())?,
            max_connections,
        })
    }

    /// Admits a new connection, unless the server is full or stopping.
    pub(crate) fn connect(
        &self,
        peer: IpAddr,
        subscriber: Arc<dyn Subscriber>,
    ) -> Result<Arc<Session>, Refusal> {
        self.hub.connect(peer, subscriber, self.max_connections)
    }

    /// Forgets a connection that ended: a disconnect counts as a logout.
    pub(crate) fn disconnect(&self, session: &Session) {
        self.hub.disconnect(session);
    }

    /// Closes every connection, waits up to `grace` for them to end, then
    /// closes the store. Returns how many connections did not end in time.
    pub(crate) fn shut_down(&self, grace: Duration) -> usize {
        self.hub.close_all();
        let left = self.hub.wait_until_empty(grace);
        self.store.close();
        left
    }

    /// The user a connection is logged in as: the key to every operation
    /// that needs one.
    ///
    /// # Errors
    ///
    /// [`ChatError::NotLoggedIn`].
    pub(crate) fn logged_in(&self, session: &Session) -> Result<User, ChatError> {
        session.user().ok_or(ChatError::NotLoggedIn)
    }

    /// Checks the username that older request forms name: it must be the
    /// logged-in user's own.
    ///
    /// # Errors
    ///
    /// [`ChatError::NotYou`].
    pub(crate) fn check_acting_as(
        &self,
        user: &User,
        named: Option<&str>,
    ) -> Result<(), ChatError> {
        match named {
            Some(named) if !named.eq_ignore_ascii_case(&user.username) => Err(ChatError::NotYou {
                given: shorten_for_reply(named),
                actual: user.username.clone(),
            }),
            _ => Ok(()),
        }
    }

    /// Registers a user; does not log in.
    ///
    /// # Errors
    ///
    /// [`ChatError::Invalid`] for a name or password outside the limits,
    /// [`ChatError::UsernameTaken`].
    pub(crate) fn register(&self, username: &str, password: &str) -> Result<User, ChatError> {
        limits::check_username(username).map_err(ChatError::Invalid)?;
        limits::check_password(password).map_err(ChatError::Invalid)?;
        // Refuse a taken name before paying for a hash; the insert below still
        // decides races between simultaneous registrations.
        if self
            .store
            .read(|db| db.find_credentials(username))?
            .is_some()
        {
            return Err(ChatError::UsernameTaken(username.to_string()));
        }
        let password_hash = self.accounts.hash_password(password)?;
        let name = username.to_string();
        let user = self.store.write(move |db| {
            db.insert_user(&name, &password_hash)?
                .ok_or(ChatError::UsernameTaken(name))
        })?;
        log::info!("registered user '{}'", user.username);
        Ok(user)
    }

    /// Logs a connection in (switching user if it was logged in already).
    ///
    /// # Errors
    ///
    /// [`ChatError::BadCredentials`], the same for an unknown user, an
    /// impossible name and a wrong password; [`ChatError::Throttled`].
    pub(crate) fn login(
        &self,
        session: &Session,
        username: &str,
        password: &str,
    ) -> Result<User, ChatError> {
        // An impossible name or password cannot match anything: refuse it the
        // same way as a wrong password, without spending a hash on it.
        let possible = limits::check_username(username).is_ok()
            && password.len() <= limits::MAX_PASSWORD_BYTES;
        let source = LoginSource::new(session.peer(), Some(username));
        let check = if possible {
            let store = self.store.clone();
            let username = username.to_string();
            self.accounts.check_login(&source, password, move || {
                store
                    .read(|db| db.find_credentials(&username))
                    .map_err(ChatError::from)
            })?
        } else {
            self.accounts.record_failure(&source);
            LoginCheck::Refused
        };
        match check {
            LoginCheck::Verified(user) => {
                self.hub.log_in(session, user.clone());
                Ok(user)
            }
            LoginCheck::Throttled(wait) => Err(ChatError::Throttled(wait.as_secs().max(1))),
            LoginCheck::Refused => Err(ChatError::BadCredentials),
        }
    }

    /// Logs a connection out; its subscriptions end.
    pub(crate) fn logout(&self, session: &Session) {
        self.hub.log_out(session);
    }

    /// Creates a chatroom, recording its creator; does not join it.
    ///
    /// # Errors
    ///
    /// [`ChatError::Invalid`] name, [`ChatError::RoomExists`].
    pub(crate) fn create_room(&self, user: &User, name: String) -> Result<Room, ChatError> {
        limits::check_room_name(&name).map_err(ChatError::Invalid)?;
        let creator = user.id;
        self.store.write(move |db| {
            db.insert_room(&name, creator)?
                .ok_or(ChatError::RoomExists(name))
        })
    }

    /// Makes the user a member; joining twice leaves one membership and
    /// tells nobody.
    ///
    /// # Errors
    ///
    /// [`ChatError::NoSuchRoom`].
    pub(crate) fn join(&self, user: &User, name: String) -> Result<Room, ChatError> {
        let user = user.clone();
        self.store.write(move |db| {
            let room = existing_room(db, &name)?;
            db.insert_membership(&room, &user)?;
            Ok(room)
        })
    }

    /// Ends the user's membership, and with it their subscriptions to the
    /// room on every connection.
    ///
    /// # Errors
    ///
    /// [`ChatError::NoSuchRoom`], [`ChatError::NotAMemberToExit`].
    pub(crate) fn exit(&self, user: &User, name: String) -> Result<Room, ChatError> {
        let user = user.clone();
        self.store.write(move |db| {
            let room = existing_room(db, &name)?;
            if !db.delete_membership(&room, &user)? {
                return Err(ChatError::NotAMemberToExit(room.name));
            }
            Ok(room)
        })
    }

    /// Every chatroom's name, sorted without regard to case.
    ///
    /// # Errors
    ///
    /// Only the store's.
    pub(crate) fn room_names(&self) -> Result<Vec<String>, ChatError> {
        self.store.read(|db| Ok(db.room_names()?))
    }

    /// Who is logged in on at least one connection now.
    pub(crate) fn active_users(&self) -> Vec<String> {
        self.hub.active_usernames()
    }

    /// The members of a room, sorted without regard to case.
    ///
    /// # Errors
    ///
    /// [`ChatError::NoSuchRoom`].
    pub(crate) fn members(&self, name: &str) -> Result<Vec<String>, ChatError> {
        self.store.read(|db| {
            let room = existing_room(db, name)?;
            Ok(db.member_names(room.id)?)
        })
    }

    /// A page of a room's messages, for a member.
    ///
    /// # Errors
    ///
    /// [`ChatError::NoSuchRoom`], [`ChatError::NotMember`].
    pub(crate) fn fetch(
        &self,
        user: &User,
        name: &str,
        page: Page,
    ) -> Result<Vec<Message>, ChatError> {
        self.store.read(|db| {
            let room = member_room(db, user, name)?;
            Ok(db.messages(&room, page)?)
        })
    }

    /// Stores a message from a member; answered once it is committed.
    ///
    /// # Errors
    ///
    /// [`ChatError::Invalid`] text, [`ChatError::NoSuchRoom`],
    /// [`ChatError::NotMember`].
    pub(crate) fn send(
        &self,
        user: &User,
        name: String,
        text: String,
    ) -> Result<Message, ChatError> {
        limits::check_message_text(&text).map_err(ChatError::Invalid)?;
        let user = user.clone();
        self.store.write(move |db| {
            let room = member_room(db, &user, &name)?;
            Ok(db.insert_message(&room, &user, &text)?)
        })
    }

    /// From now on the connection receives the room's events.
    ///
    /// # Errors
    ///
    /// [`ChatError::NoSuchRoom`], [`ChatError::NotMember`].
    pub(crate) fn subscribe(
        &self,
        session: &Session,
        user: &User,
        name: &str,
    ) -> Result<Room, ChatError> {
        let room = self.store.read(|db| existing_room(db, name))?;
        self.hub.subscribe(session, room.id, user.id, || {
            self.store.read(|db| member_room(db, user, &room.name))
        })
    }

    /// Stops the connection's events from a room.
    ///
    /// # Errors
    ///
    /// [`ChatError::NoSuchRoom`].
    pub(crate) fn unsubscribe(&self, session: &Session, name: &str) -> Result<Room, ChatError> {
        let room = self.store.read(|db| existing_room(db, name))?;
        self.hub.unsubscribe(session, room.id);
        Ok(room)
    }
}

/// The room called `name`.
fn existing_room(db: &dyn Reads, name: &str) -> Result<Room, ChatError> {
    db.find_room(name)?
        .ok_or_else(|| ChatError::NoSuchRoom(shorten_for_reply(name)))
}

/// The room called `name`, which `user` must be a member of.
fn member_room(db: &dyn Reads, user: &User, name: &str) -> Result<Room, ChatError> {
    let room = existing_room(db, name)?;
    if db.is_member(room.id, user.id)? {
        Ok(room)
    } else {
        Err(ChatError::NotMember(room.name))
    }
}
