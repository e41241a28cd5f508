//! The chat core: every rule of pipechat, as typed operations with typed
//! results, and nothing about bytes or SQL.
//!
//! A front door parses its wire format, calls one of `Chat`'s operations
//! and renders the result; events come back to it through the
//! `Subscriber` it registered with `Chat::connect`. Operations that need
//! a logged-in user take a `&User`, which only `Chat::logged_in` hands out.
//!
//! Wherever a request names a chatroom, `@username` names the user's direct
//! conversation with that user instead ([`Target`]).
//!
//! - [`limits`]: names, passwords, texts, topics, retention.
//! - [`accounts`]: Argon2id on a bounded pool of threads, the login throttle.
//! - [`tokens`]: resume tokens.
//! - [`search`]: the search language.
//! - `session`: who a connection is.
//! - `hub`: presence, subscriptions, fan-out through `Subscriber`.
//! - `error`: every failure, with its status and sentence.

pub mod accounts;
pub(crate) mod error;
pub(crate) mod hub;
pub mod limits;
pub mod search;
pub(crate) mod session;
pub mod tokens;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

pub(crate) use error::ChatError;
pub use hub::Rendering;
pub(crate) use hub::{
    Delivery, Live, Notice, NoticeTo, Presence, PresenceChange, Refusal, Subscriber,
};
pub(crate) use session::{Farewell, Session};

use crate::metrics::metrics;
use crate::store::{
    Credentials, Page, Place, PlaceKey, Reads, Room, Store, StoreError, StoredMessage, TokenHash,
    TopicSetter, User,
};
use crate::wire::{Message, ReadPosition, RoomInfo, Unread};
use accounts::{Accounts, HashError, LoginCheck, LoginSource};
use error::shorten_for_reply;
use hub::{Hub, Scope};

/// Retention deletes expired messages in transactions of at most this many,
/// so that senders are never held up for long.
const EXPIRY_BATCH: u32 = 500;

/// What a request names where a chatroom goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target<'a> {
    /// A chatroom, by name.
    Room(&'a str),
    /// The direct conversation with this user (`@name`).
    Direct(&'a str),
}

impl<'a> Target<'a> {
    pub(crate) fn parse(name: &'a str) -> Target<'a> {
        match name.strip_prefix('@') {
            Some(user) => Target::Direct(user),
            None => Target::Room(name),
        }
    }
}

/// A successful password login: who, and the resume token it issued.
pub(crate) struct LoggedIn {
    pub(crate) user: User,
    pub(crate) token: String,
}

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
        // Guests of a run that stopped without seeing them off leave no
        // memberships behind: their connections are gone. Only for a
        // database of this server alone: servers sharing one (PostgreSQL)
        // may have guests connected now, which this start must not end.
        if store.shared_failures().is_none() {
            match store.write(|db| db.delete_guest_memberships()) {
                Ok(0) => {}
                Ok(ended) => log::info!("ended {ended} memberships of guests of an earlier run"),
                Err(err) => log::warn!("could not end earlier guests' memberships: {err}"),
            }
        }
        let presence = store.clone();
        hub.on_presence(Box::new(move |user, present| {
            presence.set_present(user, present);
        }));
        let shared = store.shared_failures().is_some().then(|| store.clone());
        Ok(Chat {
            accounts: Accounts::new(Accounts::default_concurrency(), shared)?,
            store,
            hub,
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

    /// Forgets a connection that ended: a disconnect counts as a logout
    /// (without revoking its token: the client may resume). A guest's
    /// memberships end with its connection.
    pub(crate) fn disconnect(&self, session: &Session) {
        let reason = session.take_farewell();
        if let Some(user) = self.hub.disconnect(session) {
            self.went_offline(&user, reason);
        }
    }

    /// [`Chat::disconnect`], also revoking the token of the connection's
    /// login: for front doors that never hand the token to their client.
    pub(crate) fn disconnect_revoking(&self, session: &Session) {
        if let Some(hash) = session.token()
            && let Err(err) = self.store.write(move |db| db.delete_token(&hash))
        {
            log::debug!("could not revoke a token at disconnect: {err}");
        }
        self.disconnect(session);
    }

    /// Tells the others that `user` has no connection left; a guest's
    /// memberships end.
    fn went_offline(&self, user: &User, reason: Option<Farewell>) {
        let rooms = match self.store.read(|db| db.rooms_of(user.id)) {
            Ok(rooms) => rooms,
            Err(err) => {
                log::warn!("cannot announce that '{}' left: {err}", user.username);
                if user.guest {
                    self.hub.release_departed_guest(user);
                }
                return;
            }
        };
        self.hub
            .announce(user, &rooms, &PresenceChange::Offline { reason });
        if user.guest {
            let leaver = user.clone();
            let ended = self.store.write(move |db| {
                for room in &rooms {
                    db.delete_membership(room, &leaver)?;
                }
                db.release_guest(&leaver)
            });
            if let Err(err) = ended {
                log::warn!("could not end a guest's memberships: {err}");
            }
            self.hub.release_departed_guest(user);
        }
    }

    /// Tells the others that `user` has a connection now.
    fn came_online(&self, user: &User) {
        match self.store.read(|db| db.rooms_of(user.id)) {
            Ok(rooms) => self.hub.announce(user, &rooms, &PresenceChange::Online),
            Err(err) => log::warn!("cannot announce that '{}' came: {err}", user.username),
        }
    }

    /// Binds a connection to `user` with the resume token `hash`, unless the
    /// user's tokens were revoked (a password change racing this login)
    /// since `revocations` was read, before the token was stored or used,
    /// and this one with them; then the connection is left logged out and
    /// `refused` is the answer. Binding first and looking after is what
    /// closes the race: a revocation applied after the look logs out the
    /// connection, already bound, itself. Only when the count moved is the
    /// token looked up.
    fn bind_with_token(
        &self,
        session: &Session,
        user: &User,
        (hash, revocations): (TokenHash, u64),
        refused: ChatError,
    ) -> Result<(), ChatError> {
        self.bind(session, user, Some(hash));
        let kept = self.hub.revocations(user.id) == revocations
            || self
                .store
                .read(|db| db.find_token(&hash))?
                .is_some_and(|token| token.user.id == user.id);
        if kept {
            return Ok(());
        }
        if let Some(gone) = self.hub.log_out(session) {
            self.went_offline(&gone, None);
        }
        Err(refused)
    }

    /// Binds a connection to `user` in the hub, announcing who came and went.
    fn bind(&self, session: &Session, user: &User, token: Option<TokenHash>) {
        let (online, offline) = self.hub.log_in(session, user.clone(), token);
        if let Some(gone) = offline {
            self.went_offline(&gone, None);
        }
        if online {
            self.came_online(user);
        }
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
        // decides races between simultaneous registrations. The name is held
        // against guests (who are not in the table the insert checks) until
        // the account exists, which a guest taking it checks after holding it.
        // The taken name is shown as registered.
        if let Some(existing) = self.store.read(|db| db.find_user(username))? {
            return Err(ChatError::UsernameTaken(existing.username));
        }
        if !self.hub.reserve_guest(username) {
            return Err(ChatError::UsernameTaken(username.to_string()));
        }
        let registered = self.insert_account(username, password);
        self.hub.release_guest(username);
        let user = registered?;
        log::info!("registered user '{}'", user.username);
        Ok(user)
    }

    /// Hashes `password` and stores the account.
    fn insert_account(&self, username: &str, password: &str) -> Result<User, ChatError> {
        let password_hash = self.accounts.hash_password(password)?;
        let name = username.to_string();
        self.store.write(move |db| {
            db.insert_user(&name, &password_hash)?
                .ok_or(ChatError::UsernameTaken(name))
        })
    }

    /// Logs a connection in with a password (switching user if it was logged
    /// in already) and issues a resume token.
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
    ) -> Result<LoggedIn, ChatError> {
        let credentials =
            self.check_password(session, username, password, ChatError::BadCredentials)?;
        let (token, hash) = tokens::new_token().map_err(|err| HashError::random(&err))?;
        let user = credentials.user.clone();
        let revocations = self.hub.revocations(user.id);
        let store = self.store.clone();
        // Stored from the hashing thread, like the credential lookup: a
        // connection thread that only ever logged in then never ran SQLite's
        // write path, whose stack pages would stay resident for as long as
        // the client is connected.
        let stored = self.accounts.on_hashing_thread(move || {
            store.write(move |db| db.insert_token(&credentials, &hash))
        })??;
        // The password changed since it was checked: it is wrong now.
        if !stored {
            return Err(ChatError::BadCredentials);
        }
        self.bind_with_token(
            session,
            &user,
            (hash, revocations),
            ChatError::BadCredentials,
        )?;
        Ok(LoggedIn { user, token })
    }

    /// Logs a connection in with a resume token, without a password hash.
    ///
    /// # Errors
    ///
    /// [`ChatError::Invalid`] for text that cannot be a token,
    /// [`ChatError::BadToken`] (counted by the login throttle),
    /// [`ChatError::Throttled`].
    pub(crate) fn resume(&self, session: &Session, token: &str) -> Result<User, ChatError> {
        if !tokens::is_well_formed(token) {
            return Err(ChatError::Invalid(format!(
                "a resume token is up to {} characters of A-Z a-z 0-9 - _",
                tokens::MAX_TOKEN_CHARS
            )));
        }
        let source = LoginSource::new(session.peer(), None);
        self.accounts
            .check_throttle(&source)
            .map_err(|wait| ChatError::Throttled(wait.as_secs().max(1)))?;
        let hash = tokens::hash(token);
        let Some(stored) = self.store.read(|db| db.find_token(&hash))? else {
            self.accounts.record_failure(&source);
            return Err(ChatError::BadToken);
        };
        let expired = stored.last_used_at < days_ago(tokens::TOKEN_LIFETIME_DAYS);
        let id = stored.id;
        // Read before the touch: a revocation the touch does not see (the
        // token still there) is applied after this, and moves the count.
        let revocations = self.hub.revocations(stored.user.id);
        let touched = self.store.write(move |db| match expired {
            true => db.delete_token(&hash).map(|_| false),
            false => db.touch_token(id),
        })?;
        if !touched {
            self.accounts.record_failure(&source);
            return Err(ChatError::BadToken);
        }
        self.bind_with_token(
            session,
            &stored.user,
            (hash, revocations),
            ChatError::BadToken,
        )?;
        Ok(stored.user)
    }

    /// Logs a connection out, revoking the token its login issued or
    /// resumed; its subscriptions end.
    ///
    /// # Errors
    ///
    /// Only the store's.
    pub(crate) fn logout(&self, session: &Session) -> Result<(), ChatError> {
        if let Some(hash) = session.token() {
            self.store.write(move |db| db.delete_token(&hash))?;
        }
        if let Some(user) = self.hub.log_out(session) {
            self.went_offline(&user, None);
        }
        Ok(())
    }

    /// Admits a connection as a guest under `nick` (the IRC front door's
    /// `--irc-guests`): a user of its own for this connection, with no
    /// password, never found as an account, whose memberships end when the
    /// connection does.
    ///
    /// # Errors
    ///
    /// [`ChatError::Invalid`] nick, [`ChatError::UsernameTaken`] when an
    /// account has the name or a connected guest has the nick.
    pub(crate) fn log_in_guest(&self, session: &Session, nick: &str) -> Result<User, ChatError> {
        limits::check_username(nick).map_err(ChatError::Invalid)?;
        self.hold_guest_nick(nick, false)?;
        let name = nick.to_string();
        let guest = match self.store.write(move |db| db.insert_guest(&name)) {
            Ok(Some(guest)) => guest,
            Ok(None) => {
                self.hub.release_guest(nick);
                return Err(ChatError::UsernameTaken(nick.to_string()));
            }
            Err(err) => {
                self.hub.release_guest(nick);
                return Err(err.into());
            }
        };
        if let Some(gone) = self.hub.log_out(session) {
            self.went_offline(&gone, None);
        }
        if !self.hub.log_in_guest(session, guest.clone()) {
            return Err(ChatError::Store(StoreError::Stopped));
        }
        log::info!("guest '{nick}' connected");
        Ok(guest)
    }

    /// Holds `nick` for a guest (unless `held` already, by this guest) and
    /// makes sure no account has it. Held first, then checked: a
    /// registration holds the name the same way until its account exists,
    /// so the two cannot both have it.
    ///
    /// # Errors
    ///
    /// [`ChatError::UsernameTaken`]; the store's.
    fn hold_guest_nick(&self, nick: &str, held: bool) -> Result<(), ChatError> {
        if !held && !self.hub.reserve_guest(nick) {
            return Err(ChatError::UsernameTaken(nick.to_string()));
        }
        let account = self.store.read(|db| db.find_user(nick));
        if matches!(account, Ok(None)) {
            return Ok(());
        }
        if !held {
            self.hub.release_guest(nick);
        }
        Err(match account {
            Err(err) => err.into(),
            Ok(_) => ChatError::UsernameTaken(nick.to_string()),
        })
    }

    /// Gives a connected guest another nick; the others hear of it.
    ///
    /// # Errors
    ///
    /// As [`Chat::log_in_guest`]; [`ChatError::NotLoggedIn`] for a
    /// connection that is not a guest's.
    pub(crate) fn rename_guest(&self, session: &Session, nick: &str) -> Result<User, ChatError> {
        let Some(user) = session.user().filter(|_| session.is_guest()) else {
            return Err(ChatError::NotLoggedIn);
        };
        limits::check_username(nick).map_err(ChatError::Invalid)?;
        let same_guest = user.username.eq_ignore_ascii_case(nick);
        self.hold_guest_nick(nick, same_guest)?;
        let (renamed, name) = (user.clone(), nick.to_string());
        let outcome = self.store.write(move |db| db.rename_guest(&renamed, &name));
        if !matches!(outcome, Ok(true)) {
            if !same_guest {
                self.hub.release_guest(nick);
            }
            return Err(match outcome {
                Err(err) => err.into(),
                Ok(_) => ChatError::UsernameTaken(nick.to_string()),
            });
        }
        self.hub.rename_guest(session, nick);
        let rooms = self.store.read(|db| db.rooms_of(user.id))?;
        self.hub.announce(
            &user,
            &rooms,
            &PresenceChange::Renamed {
                new: nick.to_string(),
            },
        );
        Ok(User {
            username: nick.to_string(),
            ..user
        })
    }

    /// Whether a guest connected now (or being admitted) has `nick`.
    pub(crate) fn guest_connected(&self, nick: &str) -> bool {
        self.hub.guest_holds(nick)
    }

    /// Whether `name` is an account's (not a guest's).
    ///
    /// # Errors
    ///
    /// Only the store's.
    pub(crate) fn is_account(&self, name: &str) -> Result<bool, ChatError> {
        Ok(self.store.read(|db| db.find_user(name))?.is_some())
    }

    /// The account called `name`, or the guest connected now under it.
    ///
    /// # Errors
    ///
    /// [`ChatError::NoSuchUser`].
    pub(crate) fn find_user(&self, name: &str) -> Result<User, ChatError> {
        let guest = self.hub.guest_named(name);
        self.store
            .read(|db| existing_user_or(db, name, guest.as_ref()))
    }

    /// Each of `names` who is connected now, in order: what this server's
    /// hub knows of them, or (PostgreSQL) that another server has them.
    pub(crate) fn live(&self, names: &[String]) -> Vec<Option<Live>> {
        let mut live = self.hub.live(names);
        if live.iter().any(Option::is_none) {
            let elsewhere = self.store.active_elsewhere().unwrap_or_default();
            for (entry, name) in live.iter_mut().zip(names) {
                if entry.is_none()
                    && let Some(found) = elsewhere.iter().find(|n| n.eq_ignore_ascii_case(name))
                {
                    *entry = Some(Live {
                        id: 0,
                        username: found.clone(),
                        guest: false,
                        away: None,
                    });
                }
            }
        }
        live
    }

    /// Marks the user away with `message`, or back with `None`; the others
    /// sharing a room hear of it.
    ///
    /// # Errors
    ///
    /// Only the store's.
    pub(crate) fn set_away(&self, user: &User, message: Option<String>) -> Result<(), ChatError> {
        if self.hub.set_away(user.id, message.clone()) {
            let rooms = self.store.read(|db| db.rooms_of(user.id))?;
            self.hub
                .announce(user, &rooms, &PresenceChange::Away(message));
        }
        Ok(())
    }

    /// The rooms the user is a member of.
    ///
    /// # Errors
    ///
    /// Only the store's.
    pub(crate) fn rooms_of(&self, user: &User) -> Result<Vec<Room>, ChatError> {
        self.store.read(|db| Ok(db.rooms_of(user.id)?))
    }

    /// The members of a room who are connected now (through any front
    /// door), with the room's description and its owner's user id.
    ///
    /// # Errors
    ///
    /// [`ChatError::Invalid`] for an `@` name, [`ChatError::NoSuchRoom`].
    pub(crate) fn connected_members(
        &self,
        name: &str,
    ) -> Result<(RoomInfo, i64, Vec<Live>), ChatError> {
        only_rooms(name, "listed by members")?;
        let (info, owner, names) = self.store.read(|db| {
            let room = existing_room(db, name)?;
            Ok::<_, ChatError>((
                db.room_info(&room)?,
                room.created_by,
                db.member_names(room.id)?,
            ))
        })?;
        let live = self.live(&names).into_iter().flatten().collect();
        Ok((info, owner, live))
    }

    /// Sends a live-only notice (never stored) to a room's listeners (the
    /// sender must be a member) or to a user's connections.
    ///
    /// # Errors
    ///
    /// [`ChatError::Invalid`] text, [`ChatError::NoSuchRoom`],
    /// [`ChatError::NotMember`], [`ChatError::NoSuchUser`].
    pub(crate) fn notice(
        &self,
        session: &Session,
        user: &User,
        name: &str,
        text: String,
    ) -> Result<(), ChatError> {
        limits::check_message_text(&text).map_err(ChatError::Invalid)?;
        match Target::parse(name) {
            Target::Room(room) => {
                let room = self.store.read(|db| member_room(db, user, room))?;
                self.hub.notice_room(
                    room.id,
                    &Notice {
                        from: user.username.clone(),
                        guest: session.is_guest(),
                        to: NoticeTo::Room(room.name),
                        text,
                        origin: session.id(),
                    },
                );
            }
            Target::Direct(other) => {
                let other = self.find_user(other)?;
                self.hub.notice_direct(
                    user.id,
                    other.id,
                    &Notice {
                        from: user.username.clone(),
                        guest: session.is_guest(),
                        to: NoticeTo::User(other.username),
                        text,
                        origin: session.id(),
                    },
                );
            }
        }
        Ok(())
    }

    /// Changes the user's password: every earlier token is revoked and the
    /// user's other connections are logged out; this one stays logged in
    /// with the new token returned.
    ///
    /// # Errors
    ///
    /// [`ChatError::Invalid`] new password, [`ChatError::WrongPassword`]
    /// (counted by the login throttle), [`ChatError::Throttled`].
    pub(crate) fn change_password(
        &self,
        session: &Session,
        user: &User,
        old: &str,
        new: &str,
    ) -> Result<String, ChatError> {
        limits::check_password(new).map_err(ChatError::Invalid)?;
        let credentials =
            self.check_password(session, &user.username, old, ChatError::WrongPassword)?;
        let password_hash = self.accounts.hash_password(new)?;
        let (token, hash) = tokens::new_token().map_err(|err| HashError::random(&err))?;
        // Adopted before the commit, so that the hub, told of the revocation
        // right after it, keeps this connection logged in.
        let previous = session.replace_token(Some(hash));
        let changed = self.store.write(move |db| {
            // Another change of the same password won the race.
            if !db.insert_token(&credentials, &hash)? {
                return Err(ChatError::WrongPassword);
            }
            db.replace_password(&credentials.user, &password_hash, &hash)?;
            Ok(())
        });
        if let Err(err) = changed {
            session.replace_token(previous);
            return Err(err);
        }
        log::info!("'{}' changed their password", user.username);
        Ok(token)
    }

    /// Checks a password through the throttle; the credentials it matched.
    fn check_password(
        &self,
        session: &Session,
        username: &str,
        password: &str,
        refused: ChatError,
    ) -> Result<Credentials, ChatError> {
        // An impossible name or password cannot match anything: refuse it the
        // same way as a wrong password, without spending a hash on it. It
        // counts against the address alone: a name that cannot exist is not
        // worth keeping (it may be 64 KiB long).
        let possible = limits::check_username(username).is_ok()
            && password.len() <= limits::MAX_PASSWORD_BYTES;
        let check = if possible {
            let source = LoginSource::new(session.peer(), Some(username));
            let store = self.store.clone();
            let username = username.to_string();
            self.accounts.check_login(&source, password, move || {
                store
                    .read(|db| db.find_credentials(&username))
                    .map_err(ChatError::from)
            })?
        } else {
            let source = LoginSource::new(session.peer(), None);
            match self.accounts.check_throttle(&source) {
                Ok(()) => {
                    self.accounts.record_failure(&source);
                    LoginCheck::Refused
                }
                Err(wait) => LoginCheck::Throttled(wait),
            }
        };
        match check {
            LoginCheck::Verified(credentials) => Ok(credentials),
            LoginCheck::Throttled(wait) => Err(ChatError::Throttled(wait.as_secs().max(1))),
            LoginCheck::Refused => Err(refused),
        }
    }

    /// Creates a chatroom, recording its creator as its owner; does not join.
    ///
    /// # Errors
    ///
    /// [`ChatError::Invalid`] name, [`ChatError::RoomExists`].
    pub(crate) fn create_room(&self, user: &User, name: String) -> Result<Room, ChatError> {
        limits::check_room_name(&name).map_err(ChatError::Invalid)?;
        let creator = user.id;
        self.store
            .write(move |db| match db.insert_room(&name, creator)? {
                Some(room) => Ok(room),
                // Named as created.
                None => Err(ChatError::RoomExists(
                    db.find_room(&name)?.map_or(name, |room| room.name),
                )),
            })
    }

    /// Makes the user a member; joining twice leaves one membership and
    /// tells nobody.
    ///
    /// # Errors
    ///
    /// [`ChatError::Invalid`] for an `@` name, [`ChatError::NoSuchRoom`].
    pub(crate) fn join(&self, user: &User, name: String) -> Result<Room, ChatError> {
        only_rooms(&name, "joined")?;
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
    /// [`ChatError::Invalid`] for an `@` name, [`ChatError::NoSuchRoom`],
    /// [`ChatError::NotAMemberToExit`].
    pub(crate) fn exit(&self, user: &User, name: String) -> Result<Room, ChatError> {
        only_rooms(&name, "left")?;
        let user = user.clone();
        self.store.write(move |db| {
            let room = existing_room(db, &name)?;
            if !db.delete_membership(&room, &user)? {
                return Err(ChatError::NotAMemberToExit(room.name));
            }
            Ok(room)
        })
    }

    /// Joins a room, creating it first when there is none (the IRC habit).
    /// Returns the room and whether it was created.
    ///
    /// # Errors
    ///
    /// [`ChatError::Invalid`] name.
    pub(crate) fn join_creating(
        &self,
        user: &User,
        name: String,
    ) -> Result<(Room, bool), ChatError> {
        only_rooms(&name, "joined")?;
        let user = user.clone();
        self.store.write(move |db| {
            let (room, created) = match db.find_room(&name)? {
                Some(room) => (room, false),
                None => {
                    limits::check_room_name(&name).map_err(ChatError::Invalid)?;
                    let room = db
                        .insert_room(&name, user.id)?
                        .ok_or_else(|| ChatError::RoomExists(name.clone()))?;
                    (room, true)
                }
            };
            db.insert_membership(&room, &user)?;
            Ok((room, created))
        })
    }

    /// [`Chat::exit`], with a reason the room's listeners hear.
    ///
    /// # Errors
    ///
    /// As [`Chat::exit`].
    pub(crate) fn exit_saying(
        &self,
        user: &User,
        name: String,
        reason: Option<String>,
    ) -> Result<Room, ChatError> {
        let Some(reason) = reason else {
            return self.exit(user, name);
        };
        only_rooms(&name, "left")?;
        let room = self.store.read(|db| existing_room(db, &name))?;
        self.hub.exit_reason(room.id, user.id, reason);
        let exited = self.exit(user, name);
        if exited.is_err() {
            self.hub.forget_exit_reason(room.id, user.id);
        }
        exited
    }

    /// The id of the newest message of a room or conversation the user may
    /// read that was sent before `at` (or at it, when `inclusive`); 0 when
    /// none: history asked by time.
    ///
    /// # Errors
    ///
    /// As [`Chat::fetch`].
    pub(crate) fn last_id_before(
        &self,
        user: &User,
        name: &str,
        at: &str,
        inclusive: bool,
    ) -> Result<i64, ChatError> {
        let guest = self.direct_guest(name);
        self.store
            .read(|db| match readable_place(db, user, name, guest.as_ref())? {
                Some(place) => Ok(db.last_id_before(&place, at, inclusive)?),
                None => Ok(0),
            })
    }

    /// The rooms and conversations (`@name`) of the user whose newest
    /// message was sent strictly between `after` and `before`, with its time.
    ///
    /// # Errors
    ///
    /// Only the store's.
    pub(crate) fn recent_places(
        &self,
        user: &User,
        after: &str,
        before: &str,
        limit: u32,
    ) -> Result<Vec<(String, String)>, ChatError> {
        self.store
            .read(|db| Ok(db.recent_places(user, after, before, limit)?))
    }

    /// The connected guest a `@name` names, when no account has the name.
    fn direct_guest(&self, name: &str) -> Option<User> {
        match Target::parse(name) {
            Target::Direct(other) => self.hub.guest_named(other),
            Target::Room(_) => None,
        }
    }

    /// Whether the database answers a query now (`/health`).
    pub(crate) fn database_reachable(&self) -> bool {
        match self.store.read(|db| db.ping()) {
            Ok(()) => true,
            Err(err) => {
                log::warn!("health check: {err}");
                false
            }
        }
    }

    /// Every chatroom's name, sorted without regard to case.
    ///
    /// # Errors
    ///
    /// Only the store's.
    pub(crate) fn room_names(&self) -> Result<Vec<String>, ChatError> {
        self.store.read(|db| Ok(db.room_names()?))
    }

    /// Who is logged in on at least one connection now, on this server or
    /// (PostgreSQL) another one sharing the database.
    ///
    /// # Errors
    ///
    /// Only the store's.
    pub(crate) fn active_users(&self) -> Result<Vec<String>, ChatError> {
        let mut names = self.hub.active_usernames();
        names.extend(self.store.active_elsewhere()?);
        names.sort_by_cached_key(|name| name.to_ascii_lowercase());
        names.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
        Ok(names)
    }

    /// The members of a room, sorted without regard to case.
    ///
    /// # Errors
    ///
    /// [`ChatError::Invalid`] for an `@` name, [`ChatError::NoSuchRoom`].
    pub(crate) fn members(&self, name: &str) -> Result<Vec<String>, ChatError> {
        only_rooms(name, "listed by members")?;
        self.store.read(|db| {
            let room = existing_room(db, name)?;
            Ok(db.member_names(room.id)?)
        })
    }

    /// A page of a room's messages (for a member) or of a conversation.
    ///
    /// # Errors
    ///
    /// [`ChatError::NoSuchRoom`], [`ChatError::NotMember`],
    /// [`ChatError::NoSuchUser`].
    pub(crate) fn fetch(
        &self,
        user: &User,
        name: &str,
        page: Page,
    ) -> Result<Vec<Message>, ChatError> {
        let guest = self.direct_guest(name);
        self.store
            .read(|db| match readable_place(db, user, name, guest.as_ref())? {
                Some(place) => Ok(db.messages(&place, page)?),
                None => Ok(Vec::new()),
            })
    }

    /// Stores a message from a member, or a direct message; answered once it
    /// is committed.
    ///
    /// # Errors
    ///
    /// [`ChatError::Invalid`] text, [`ChatError::NoSuchRoom`],
    /// [`ChatError::NotMember`], [`ChatError::NoSuchUser`].
    pub(crate) fn send(
        &self,
        user: &User,
        name: String,
        text: String,
    ) -> Result<Message, ChatError> {
        let (reply, answer) = oneshot::channel();
        self.send_then(user, name, text, move |sent| {
            let _ = reply.send(sent);
        });
        answer
            .recv()
            .unwrap_or_else(|_| Err(ChatError::from(StoreError::Stopped)))
    }

    /// [`Chat::send`], handing the outcome to `then` instead of waiting for
    /// it: once the message is committed, on whichever thread committed it.
    pub(crate) fn send_then(
        &self,
        user: &User,
        name: String,
        text: String,
        then: impl FnOnce(Result<Message, ChatError>) + Send + 'static,
    ) {
        if let Err(invalid) = limits::check_message_text(&text) {
            return then(Err(ChatError::Invalid(invalid)));
        }
        let user = user.clone();
        let guest = self.direct_guest(&name);
        self.store.write_then(
            move |db| -> Result<Message, ChatError> {
                let place = match Target::parse(&name) {
                    Target::Room(room) => Place::Room(member_room(db, &user, room)?),
                    Target::Direct(other) => {
                        let other = existing_user_or(db, other, guest.as_ref())?;
                        Place::Direct(db.conversation(&user, &other)?)
                    }
                };
                Ok(db.insert_message(&place, &user, &text)?)
            },
            move |stored| {
                if stored.is_ok() {
                    metrics().messages_stored.inc();
                }
                then(stored);
            },
        );
    }

    /// Replaces the text of one's own message.
    ///
    /// # Errors
    ///
    /// [`ChatError::Invalid`] text, [`ChatError::NoSuchMessage`] (also for
    /// one the user cannot read), [`ChatError::NotAuthor`].
    pub(crate) fn edit(&self, user: &User, id: i64, text: String) -> Result<Message, ChatError> {
        limits::check_message_text(&text).map_err(ChatError::Invalid)?;
        let user = user.clone();
        self.store.write(move |db| {
            let stored = readable_message(db, &user, id)?;
            if stored.author_id != user.id {
                return Err(ChatError::NotAuthor(id));
            }
            db.update_message_text(&stored, &text)?
                .ok_or(ChatError::NoSuchMessage(id))
        })
    }

    /// Deletes a message: its author may, and so may the owner of its room,
    /// members or not (the owner of a room keeps it without being in it, as
    /// `/setRetention` does; an author who left may still take back what
    /// they wrote).
    ///
    /// # Errors
    ///
    /// [`ChatError::NoSuchMessage`] (also for one the user cannot read),
    /// [`ChatError::NotAuthorOrOwner`].
    pub(crate) fn delete(&self, user: &User, id: i64) -> Result<(), ChatError> {
        let user = user.clone();
        self.store.write(move |db| {
            let stored = db.find_message(id)?.ok_or(ChatError::NoSuchMessage(id))?;
            if stored.author_id != user.id && stored.room_owner != Some(user.id) {
                // Whether it exists is only told to who may read it.
                return Err(match can_read(db, &user, &stored)? {
                    true => ChatError::NotAuthorOrOwner(id),
                    false => ChatError::NoSuchMessage(id),
                });
            }
            match db.delete_message(&stored)? {
                true => Ok(()),
                false => Err(ChatError::NoSuchMessage(id)),
            }
        })
    }

    /// Moves the user's read position in a room or conversation forward.
    ///
    /// # Errors
    ///
    /// [`ChatError::NoSuchRoom`], [`ChatError::NotMember`],
    /// [`ChatError::NoSuchUser`].
    pub(crate) fn mark_read(
        &self,
        user: &User,
        name: String,
        id: i64,
    ) -> Result<ReadPosition, ChatError> {
        let user = user.clone();
        self.store.write(move |db| {
            let (place, shown) = match readable_place(db, &user, &name, None)? {
                Some(place) => {
                    let shown = place_name(&place, &user);
                    (place, shown)
                }
                // No conversation yet: nothing to have read.
                None => {
                    return Ok(ReadPosition {
                        room: direct_name(db, &name)?,
                        last_read_id: 0,
                    });
                }
            };
            let last_read_id = db.mark_read(&place, &user, id)?;
            Ok(ReadPosition {
                room: shown,
                last_read_id,
            })
        })
    }

    /// Read positions and unread counts of every room the user is a member
    /// of and every conversation they have.
    ///
    /// # Errors
    ///
    /// Only the store's.
    pub(crate) fn unread(&self, user: &User) -> Result<Vec<Unread>, ChatError> {
        self.store.read(|db| Ok(db.unread(user)?))
    }

    /// Messages the user may read that match `query`, newest first, within
    /// one room or conversation when `within` names one.
    ///
    /// # Errors
    ///
    /// [`ChatError::Invalid`] query, and for `within` as [`Chat::fetch`].
    pub(crate) fn search(
        &self,
        user: &User,
        query: &str,
        within: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Message>, ChatError> {
        let query = search::parse(query)?;
        self.store.read(|db| {
            let place = match within {
                None => None,
                Some(name) => match readable_place(db, user, name, None)? {
                    Some(place) => Some(place),
                    None => return Ok(Vec::new()),
                },
            };
            Ok(db.search(user, &query, place.as_ref(), limit)?)
        })
    }

    /// Owner, counts, topic and retention of a room.
    ///
    /// # Errors
    ///
    /// [`ChatError::Invalid`] for an `@` name, [`ChatError::NoSuchRoom`].
    pub(crate) fn room_info(&self, name: &str) -> Result<RoomInfo, ChatError> {
        only_rooms(name, "described")?;
        self.store.read(|db| {
            let room = existing_room(db, name)?;
            Ok(db.room_info(&room)?)
        })
    }

    /// Who set a room's topic, and when: what IRC shows on joining (333).
    /// `None` while it has no topic, or one set before schema 7.
    ///
    /// # Errors
    ///
    /// [`ChatError::Invalid`] for an `@` name, [`ChatError::NoSuchRoom`].
    pub(crate) fn topic_setter(&self, name: &str) -> Result<Option<TopicSetter>, ChatError> {
        only_rooms(name, "described")?;
        self.store.read(|db| {
            let room = existing_room(db, name)?;
            Ok(db.topic_setter(&room)?)
        })
    }

    /// Sets a room's topic (members only); subscribers hear of it.
    ///
    /// # Errors
    ///
    /// [`ChatError::Invalid`], [`ChatError::NoSuchRoom`],
    /// [`ChatError::NotMember`].
    pub(crate) fn set_topic(
        &self,
        user: &User,
        name: String,
        topic: String,
    ) -> Result<RoomInfo, ChatError> {
        only_rooms(&name, "given a topic")?;
        limits::check_topic(&topic).map_err(ChatError::Invalid)?;
        let user = user.clone();
        self.store.write(move |db| {
            let room = member_room(db, &user, &name)?;
            db.set_topic(&room, &user, &topic)?;
            Ok(db.room_info(&room)?)
        })
    }

    /// Sets how many days a room keeps its messages (the owner only; 0 keeps
    /// them forever). Expired messages go at the next sweep.
    ///
    /// # Errors
    ///
    /// [`ChatError::Invalid`], [`ChatError::NoSuchRoom`],
    /// [`ChatError::NotOwner`].
    pub(crate) fn set_retention(
        &self,
        user: &User,
        name: String,
        days: u32,
    ) -> Result<RoomInfo, ChatError> {
        only_rooms(&name, "given a retention")?;
        limits::check_retention_days(days).map_err(ChatError::Invalid)?;
        let owner = user.id;
        self.store.write(move |db| {
            let room = existing_room(db, &name)?;
            if room.created_by != owner {
                return Err(ChatError::NotOwner(room.name));
            }
            db.set_retention(&room, days)?;
            Ok(db.room_info(&room)?)
        })
    }

    /// Deletes expired messages (by each room's retention, in small
    /// transactions, without events) and expired resume tokens. Returns how
    /// many messages went.
    ///
    /// # Errors
    ///
    /// The store's; what was deleted before stays deleted.
    pub(crate) fn sweep_expired(&self) -> Result<u64, ChatError> {
        let rooms = self.store.read(|db| db.rooms_with_retention())?;
        let mut expired = 0u64;
        for (room, days) in rooms {
            let before = days_ago(i64::from(days));
            loop {
                let (room, before) = (room.clone(), before.clone());
                let deleted = self
                    .store
                    .write(move |db| db.delete_expired_messages(&room, &before, EXPIRY_BATCH))?;
                expired += u64::from(deleted);
                if deleted < EXPIRY_BATCH {
                    break;
                }
            }
        }
        let before = days_ago(tokens::TOKEN_LIFETIME_DAYS);
        let tokens = self
            .store
            .write(move |db| db.delete_tokens_unused_since(&before))?;
        if expired > 0 || tokens > 0 {
            log::info!("expired {expired} messages and {tokens} resume tokens");
        }
        Ok(expired)
    }

    /// What `@other` names in a subscription: every conversation (`@`,
    /// `None`), or the one with that user, and the name as registered.
    fn conversation_with(&self, other: &str) -> Result<(Option<i64>, String), ChatError> {
        if other.is_empty() {
            return Ok((None, "@".to_string()));
        }
        let other = self.store.read(|db| existing_user(db, other))?;
        Ok((Some(other.id), format!("@{}", other.username)))
    }

    /// From now on the connection receives the room's events; `@` stands for
    /// every direct message of the user, `@bob` for those of the
    /// conversation with bob.
    ///
    /// # Errors
    ///
    /// [`ChatError::NoSuchRoom`], [`ChatError::NotMember`],
    /// [`ChatError::NoSuchUser`].
    pub(crate) fn subscribe(
        &self,
        session: &Session,
        user: &User,
        name: &str,
    ) -> Result<String, ChatError> {
        match Target::parse(name) {
            Target::Direct(other) => {
                let (with, named) = self.conversation_with(other)?;
                if !self.hub.subscribe_direct(session, user.id, with) {
                    return Err(ChatError::NotLoggedIn);
                }
                let newest = self.store.read(|db| db.direct_last_message_id(user.id))?;
                self.hub.note_caught_up(Scope::Direct(user.id), newest);
                Ok(named)
            }
            Target::Room(name) => {
                let room = self.store.read(|db| existing_room(db, name))?;
                let subscribed = self.hub.subscribe(session, room.id, user.id, || {
                    self.store.read(|db| {
                        let room = member_room(db, user, &room.name)?;
                        let newest = db.room_last_message_id(room.id)?;
                        Ok::<_, ChatError>((room, newest))
                    })
                });
                let (room, newest) = subscribed.ok_or(ChatError::NotLoggedIn)??;
                // Where a catch-up would start, should the feed of changes
                // be interrupted (PostgreSQL).
                self.hub.note_caught_up(Scope::Room(room.id), newest);
                Ok(room.name)
            }
        }
    }

    /// Stops the connection's events from a room, or (`@`) of direct
    /// messages, or (`@bob`) of one conversation.
    ///
    /// # Errors
    ///
    /// [`ChatError::NoSuchRoom`], [`ChatError::NoSuchUser`].
    pub(crate) fn unsubscribe(
        &self,
        session: &Session,
        user: &User,
        name: &str,
    ) -> Result<String, ChatError> {
        match Target::parse(name) {
            Target::Direct(other) => {
                let (with, named) = self.conversation_with(other)?;
                self.hub.unsubscribe_direct(session, user.id, with);
                Ok(named)
            }
            Target::Room(name) => {
                let room = self.store.read(|db| existing_room(db, name))?;
                self.hub.unsubscribe(session, room.id);
                Ok(room.name)
            }
        }
    }
}

/// The time `days` ago, as stored (RFC 3339, UTC), for comparisons.
fn days_ago(days: i64) -> String {
    (chrono::Utc::now() - chrono::Duration::days(days))
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// Refuses an `@` name where only a chatroom makes sense.
fn only_rooms(name: &str, what: &str) -> Result<(), ChatError> {
    match Target::parse(name) {
        Target::Room(_) => Ok(()),
        Target::Direct(_) => Err(ChatError::Invalid(format!(
            "'{}' names a direct conversation, which cannot be {what}; name a chatroom",
            shorten_for_reply(name)
        ))),
    }
}

/// The room called `name`.
fn existing_room(db: &dyn Reads, name: &str) -> Result<Room, ChatError> {
    db.find_room(name)?
        .ok_or_else(|| ChatError::NoSuchRoom(shorten_for_reply(name)))
}

/// The user called `name`.
fn existing_user(db: &dyn Reads, name: &str) -> Result<User, ChatError> {
    existing_user_or(db, name, None)
}

/// The account called `name`, or else `guest` (the guest connected now
/// under that nick, if any).
fn existing_user_or(db: &dyn Reads, name: &str, guest: Option<&User>) -> Result<User, ChatError> {
    // A name outside the usernames' alphabet is nobody's, whatever the
    // database's case folding makes of it (PostgreSQL's lower() folds the
    // Kelvin sign `K` into `k`; SQLite's NOCASE folds only ASCII).
    let possible = limits::check_username(name).is_ok();
    match possible.then(|| db.find_user(name)).transpose()?.flatten() {
        Some(user) => Ok(user),
        None => guest
            .cloned()
            .ok_or_else(|| ChatError::NoSuchUser(shorten_for_reply(name))),
    }
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

/// Where `user` reads when they name `name`: a room they are a member of, or
/// their conversation with a user (`None` when they have none yet).
fn readable_place(
    db: &dyn Reads,
    user: &User,
    name: &str,
    guest: Option<&User>,
) -> Result<Option<Place>, ChatError> {
    match Target::parse(name) {
        Target::Room(room) => Ok(Some(Place::Room(member_room(db, user, room)?))),
        Target::Direct(other) => {
            let other = existing_user_or(db, other, guest)?;
            Ok(db.find_conversation(user, &other)?.map(Place::Direct))
        }
    }
}

/// `@name` as registered, for a conversation that does not exist yet.
fn direct_name(db: &dyn Reads, name: &str) -> Result<String, ChatError> {
    let Target::Direct(other) = Target::parse(name) else {
        return Err(ChatError::NoSuchRoom(shorten_for_reply(name)));
    };
    Ok(format!("@{}", existing_user(db, other)?.username))
}

/// A place as `user` names it: the room, or `@` the other participant.
fn place_name(place: &Place, user: &User) -> String {
    match place {
        Place::Room(room) => room.name.clone(),
        Place::Direct(conversation) if conversation.low.id == user.id => {
            format!("@{}", conversation.high.username)
        }
        Place::Direct(conversation) => format!("@{}", conversation.low.username),
    }
}

/// The message with this id, if `user` may read it: one of their rooms' or
/// conversations'. Any other id is as good as missing.
fn readable_message(db: &dyn Reads, user: &User, id: i64) -> Result<StoredMessage, ChatError> {
    let stored = db.find_message(id)?.ok_or(ChatError::NoSuchMessage(id))?;
    if can_read(db, user, &stored)? {
        Ok(stored)
    } else {
        Err(ChatError::NoSuchMessage(id))
    }
}

/// Whether `user` may read `stored`: it is in one of their rooms or
/// conversations.
fn can_read(db: &dyn Reads, user: &User, stored: &StoredMessage) -> Result<bool, ChatError> {
    Ok(match stored.place {
        PlaceKey::Room(room_id) => db.is_member(room_id, user.id)?,
        PlaceKey::Direct { low, high, .. } => user.id == low || user.id == high,
    })
}

#[cfg(test)]
mod tests {
    use parking_lot::Mutex;

    use super::*;
    use crate::store::{Location, StoreOptions};

    /// Keeps the notices and presence it is handed.
    #[derive(Default)]
    struct Heard(Mutex<Vec<String>>);

    impl Subscriber for Heard {
        fn deliver(&self, _delivery: &Delivery<'_>) {}
        fn close(&self) {}
        fn notice(&self, notice: &Notice) {
            self.0.lock().push(format!("notice {}", notice.text));
        }
        fn presence(&self, presence: &Presence<'_>) {
            self.0
                .lock()
                .push(format!("{} {:?}", presence.username, presence.change));
        }
    }

    fn chat() -> (tempfile::TempDir, Chat) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(
            &Location::Sqlite(dir.path().join("chat.db")),
            &StoreOptions::default(),
        )
        .unwrap();
        (dir, Chat::new(store, 100).unwrap())
    }

    fn connect(chat: &Chat) -> (Arc<Session>, Arc<Heard>) {
        let heard = Arc::new(Heard::default());
        let session = chat
            .connect("127.0.0.1".parse().unwrap(), heard.clone())
            .unwrap();
        (session, heard)
    }

    #[test]
    fn join_creating_creates_once_then_joins() {
        let (_dir, chat) = chat();
        let alice = chat.register("alice", "alice-password").unwrap();
        let bob = chat.register("bob", "bob-password!").unwrap();
        let (room, created) = chat.join_creating(&alice, "Lobby".into()).unwrap();
        assert!(created);
        let (again, created) = chat.join_creating(&bob, "lobby".into()).unwrap();
        assert!(!created);
        assert_eq!(again, room);
        assert_eq!(chat.members("lobby").unwrap(), ["alice", "bob"]);
        assert!(matches!(
            chat.join_creating(&bob, " spaced".into()),
            Err(ChatError::Invalid(_))
        ));
    }

    #[test]
    fn guests_never_take_or_pass_for_accounts_and_leave_nothing_behind() {
        let (_dir, chat) = chat();
        chat.register("alice", "alice-password").unwrap();
        let (session, _) = connect(&chat);
        assert!(matches!(
            chat.log_in_guest(&session, "ALICE"),
            Err(ChatError::UsernameTaken(_))
        ));
        let guest = chat.log_in_guest(&session, "visitor").unwrap();
        assert!(session.is_guest());
        let (twin, _) = connect(&chat);
        assert!(chat.log_in_guest(&twin, "Visitor").is_err());
        assert!(matches!(
            chat.register("visitor", "some-password"),
            Err(ChatError::UsernameTaken(_))
        ));
        assert!(!chat.is_account("visitor").unwrap());
        assert_eq!(chat.find_user("VISITOR").unwrap().id, guest.id);
        assert!(matches!(
            chat.login(&twin, "visitor", ""),
            Err(ChatError::BadCredentials)
        ));
        chat.join_creating(&guest, "general".into()).unwrap();
        chat.send(&guest, "general".into(), "hi".into()).unwrap();
        chat.disconnect(&session);
        assert!(chat.members("general").unwrap().is_empty());
        assert!(chat.find_user("visitor").is_err());
        // The next guest with the nick is another user: nothing passes on.
        let next = chat.log_in_guest(&twin, "visitor").unwrap();
        assert_ne!(next.id, guest.id);
        let history = chat.fetch(&next, "general", Page::Latest { limit: 10 });
        assert!(matches!(history, Err(ChatError::NotMember(_))));
    }

    #[test]
    fn notices_go_to_members_only_and_presence_is_announced() {
        let (_dir, chat) = chat();
        let alice = chat.register("alice", "alice-password").unwrap();
        let bob = chat.register("bob", "bob-password!").unwrap();
        let (alices, alice_heard) = connect(&chat);
        chat.login(&alices, "alice", "alice-password").unwrap();
        chat.join_creating(&alice, "general".into()).unwrap();
        chat.subscribe(&alices, &alice, "general").unwrap();
        let (bobs, _) = connect(&chat);
        chat.login(&bobs, "bob", "bob-password!").unwrap();
        assert!(matches!(
            chat.notice(&bobs, &bob, "general", "not yet".into()),
            Err(ChatError::NotMember(_))
        ));
        chat.join_creating(&bob, "general".into()).unwrap();
        chat.notice(&bobs, &bob, "general", "live only".into())
            .unwrap();
        chat.set_away(&bob, Some("lunch".into())).unwrap();
        bobs.set_farewell(Some(Farewell::Said("bye".into())));
        chat.disconnect(&bobs);
        assert_eq!(
            *alice_heard.0.lock(),
            [
                "notice live only".to_string(),
                "bob Away(Some(\"lunch\"))".to_string(),
                "bob Offline { reason: Some(Said(\"bye\")) }".to_string(),
            ]
        );
        let stored = chat
            .fetch(&alice, "general", Page::Latest { limit: 10 })
            .unwrap();
        assert!(stored.is_empty(), "a notice is never stored");
    }

    #[test]
    fn last_id_before_finds_history_by_time() {
        let (_dir, chat) = chat();
        let alice = chat.register("alice", "alice-password").unwrap();
        chat.join_creating(&alice, "general".into()).unwrap();
        let first = chat.send(&alice, "general".into(), "one".into()).unwrap();
        let second = chat.send(&alice, "general".into(), "two".into()).unwrap();
        let id = |at: &str, inclusive| {
            chat.last_id_before(&alice, "general", at, inclusive)
                .unwrap()
        };
        assert_eq!(id("2000-01-01T00:00:00.000Z", true), 0);
        assert_eq!(id("2999-01-01T00:00:00.000Z", false), second.id);
        assert_eq!(id(&first.sent_at, false), 0, "nothing before the first");
        assert!(id(&first.sent_at, true) >= first.id);
        assert_eq!(id(&second.sent_at, true), second.id);
    }
}
