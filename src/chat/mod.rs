//! The chat core: every rule of pipechat, as typed operations with typed
//! results, and nothing about bytes or SQL.
//!
//! A front door parses its wire format, calls one of `Chat`'s operations
//! and renders the result; events come back to it through the
//! `Subscriber` it registered with `Chat::admit`, whose guard forgets the
//! connection when the door drops it. Operations that need
//! a logged-in user take a `&User`: the pipe and the WebSocket get it from
//! `Chat::logged_in` for each request; IRC keeps the one its login gave,
//! and stops handling lines once the session is logged out (a password
//! changed elsewhere), so a front door never acts for a user its session
//! no longer is.
//!
//! Wherever a request names a chatroom, `@username` names the user's direct
//! conversation with that user instead (`Target`).
//!
//! - [`limits`]: names, passwords, texts, topics, retention, page sizes.
//! - [`accounts`]: Argon2id on a bounded pool of threads, the login throttle.
//! - `admission`: the connection limits, overall and per client address.
//! - `tokens`: resume tokens.
//! - `search`: the search language.
//! - `session`: who a connection is.
//! - `hub`: presence, subscriptions, fan-out through `Subscriber`.
//! - `subscriber`: the `Subscriber` trait front doors implement, and what
//!   it carries.
//! - `error`: every failure, with its status and sentence.
//!
//! `Chat`'s operations are split by what they act on: `logins` (who a
//! connection acts as), `rooms`, `messages` (and who may read them), `live`
//! (presence, notices, subscriptions). This file holds the chat itself,
//! connections coming and going, and the lookups they all share.

pub mod accounts;
pub(crate) mod admission;
mod departures;
pub(crate) mod error;
pub(crate) mod hub;
pub mod limits;
mod live;
mod logins;
mod messages;
mod passwords;
mod rooms;
pub(crate) mod search;
pub(crate) mod session;
mod subscriber;
pub(crate) mod tokens;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// What front doors and clients that keep rooms by name key them by, so
/// that they find a room under every spelling the server does.
pub(crate) use crate::store::room_key;
/// Who a request is from and which page it asks for: the store's types,
/// which the doors name through the core.
pub(crate) use crate::store::{Page, User};
pub(crate) use error::ChatError;
pub(crate) use session::{Farewell, Session};
pub use subscriber::Rendering;
pub(crate) use subscriber::{
    Delivery, Live, Notice, NoticeTo, Presence, PresenceChange, ReadMarker, Refusal, Subscriber,
};

use crate::logging::SparseWarning;
use crate::metrics::metrics;
use crate::store::{Place, PlaceKey, Reads, Room, Store, StoredMessage, TokenHash, Writes};
use accounts::{Accounts, HashError};
pub(crate) use admission::ConnectionLimits;
use error::shorten_for_reply;
use hub::Hub;

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
    limits: ConnectionLimits,
    /// Whether anyone may `/register` (`--registration`); the operator's
    /// `pipechat-server add-user` adds accounts either way.
    registration_open: bool,
    /// Guests who left while the database was out of reach
    /// ([`Chat::finish_departures`]).
    owed_departures: parking_lot::Mutex<Vec<departures::Departure>>,
    /// Connections refused because the server is full: a flood would log
    /// each.
    full_refusals: SparseWarning,
    /// Connections refused because their address holds as many as it may.
    address_refusals: SparseWarning,
}

impl Chat {
    /// Starts the chat on `store`, admitting connections within `limits`.
    ///
    /// # Errors
    ///
    /// When the hashing threads cannot start.
    pub(crate) fn new(store: Store, limits: ConnectionLimits) -> Result<Chat, HashError> {
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
        let chat = Chat::on(store, limits)?;
        let presence = chat.store.clone();
        chat.hub.on_presence(Box::new(move |user, present| {
            presence.set_present(user, present);
        }));
        Ok(chat)
    }

    /// The chat's rules on `store` for the operator's commands
    /// (`pipechat-server add-user`, `set-password`), which may run beside
    /// a server using the same database: nothing a serving start does
    /// (ending earlier guests' memberships, recording presence) is done, and
    /// it admits no connection.
    ///
    /// # Errors
    ///
    /// When the hashing threads cannot start.
    pub(crate) fn for_operator(store: Store) -> Result<Chat, HashError> {
        Chat::on(
            store,
            ConnectionLimits {
                total: 0,
                per_address: None,
            },
        )
    }

    /// The chat on `store`, its hub hearing the store's changes: what a
    /// server's chat and an operator's have in common.
    fn on(store: Store, limits: ConnectionLimits) -> Result<Chat, HashError> {
        let hub = Arc::new(Hub::default());
        store.attach(Arc::clone(&hub) as _);
        let shared = store.shared_failures().is_some().then(|| store.clone());
        Ok(Chat {
            accounts: Accounts::new(Accounts::default_concurrency(), shared)?,
            store,
            hub,
            limits,
            registration_open: true,
            owed_departures: parking_lot::Mutex::default(),
            full_refusals: SparseWarning::default(),
            address_refusals: SparseWarning::default(),
        })
    }

    /// From now on `/register` is refused ([`ChatError::RegistrationClosed`]):
    /// accounts come from the operator.
    pub(crate) fn close_registration(&mut self) {
        self.registration_open = false;
    }

    /// Whether anyone may `/register`: the web page offers it only then.
    pub(crate) fn registration_open(&self) -> bool {
        self.registration_open
    }

    /// Admits a new connection from `peer`, unless the server is full, the
    /// address holds as many connections as it may (loopback excepted:
    /// `admission`), or the server is stopping. The connection is forgotten,
    /// and counted out, when the returned guard is dropped, so no front door
    /// can forget to.
    pub(crate) fn admit(
        self: &Arc<Self>,
        peer: IpAddr,
        subscriber: Arc<dyn Subscriber>,
    ) -> Result<Admitted, Refusal> {
        let session = self.connect(peer, subscriber)?;
        Ok(Admitted {
            chat: Arc::clone(self),
            session,
            revoking: false,
        })
    }

    /// [`Chat::admit`] without the guard: the caller disconnects.
    fn connect(
        &self,
        peer: IpAddr,
        subscriber: Arc<dyn Subscriber>,
    ) -> Result<Arc<Session>, Refusal> {
        let admitted = self.hub.connect(peer, subscriber, self.limits);
        match admitted {
            Err(Refusal::Full) => {
                metrics().connections_refused.inc();
                self.full_refusals.warn(|| {
                    format!(
                        "refusing {peer}: at the limit of {} connections",
                        self.limits.total
                    )
                })
            }
            Err(Refusal::FromAddress) => {
                metrics().connections_refused.inc();
                self.address_refusals.warn(|| {
                    format!(
                        "refusing {peer}: its address holds {} connections already \
                         (--max-connections-per-address)",
                        self.limits.per_address.unwrap_or_default()
                    )
                })
            }
            Err(Refusal::ShuttingDown) | Ok(_) => {}
        }
        admitted
    }

    /// Forgets a connection that ended: a disconnect counts as a logout
    /// (without revoking its token: the client may resume). A guest's
    /// memberships end with its connection.
    pub(crate) fn disconnect(&self, session: &Session) {
        let reason = session.take_farewell();
        if let Some(user) = self.hub.disconnect(session) {
            self.went_offline(&user, reason);
        }
        self.announce_back();
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
        if left > 0 {
            self.hub.close_all_now();
        }
        // Guests seen off as their connections closed, or owed from before:
        // one last try, or their memberships outlive the run (on PostgreSQL
        // for good: a node that stopped is not reaped as a dead one).
        self.finish_departures();
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

    /// `name` as a request gave it, with the guest connected now that a
    /// `@name` may mean (see [`Named`]). A request's own `String` is taken
    /// as it is: no copy per message sent.
    fn named(&self, name: impl Into<String>) -> Named {
        let name = name.into();
        let guest = match Target::parse(&name) {
            Target::Direct(other) => self.hub.guest_named(other),
            Target::Room(_) => None,
        };
        Named { name, guest }
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
}

/// A connection the chat admitted ([`Chat::admit`]), forgotten by it when
/// this is dropped: front doors hold it for as long as they serve the
/// connection, so that on every way out of its thread, a panic included, a
/// vanished client is never left counted as active or subscribed.
pub(crate) struct Admitted {
    chat: Arc<Chat>,
    session: Arc<Session>,
    /// Whether the token of the connection's login goes with it
    /// ([`Chat::disconnect_revoking`]).
    revoking: bool,
}

impl Admitted {
    /// Who the connection is.
    pub(crate) fn session(&self) -> &Arc<Session> {
        &self.session
    }

    /// Also revokes its login's token when dropped: for front doors that
    /// never hand the token to their client.
    pub(crate) fn revoking(mut self) -> Admitted {
        self.revoking = true;
        self
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        if self.revoking {
            self.chat.disconnect_revoking(&self.session);
        } else {
            self.chat.disconnect(&self.session);
        }
    }
}

/// The time `days` ago, as stored, for comparisons.
fn days_ago(days: i64) -> String {
    crate::wire::timestamp(chrono::Utc::now() - chrono::Duration::days(days))
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

/// A room or `@user` name from a request, with the guest connected now under
/// that nick when it is a `@name` (an IRC guest has no account, but may be
/// written to while connected). The guest is looked up in the hub, which the
/// store's closures cannot reach, so it travels with the name; only
/// [`Chat::named`] makes one, so that no lookup of a conversation leaves
/// guests out. (Outside a store closure, [`Chat::find_user`] looks a person
/// up the same way.)
struct Named {
    name: String,
    guest: Option<User>,
}

impl Named {
    /// The account or connected guest `other` names (the part after `@`).
    fn person(&self, db: &dyn Reads, other: &str) -> Result<User, ChatError> {
        existing_user_or(db, other, self.guest.as_ref())
    }
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
    match db.find_room_with_member(name, user.id)? {
        Some((room, true)) => Ok(room),
        Some((room, false)) => Err(ChatError::NotMember(room.name)),
        None => Err(ChatError::NoSuchRoom(shorten_for_reply(name))),
    }
}

/// Where `user` reads when they name `named`: a room they are a member of,
/// or their conversation with a user (`None` when they have none yet).
fn readable_place(db: &dyn Reads, user: &User, named: &Named) -> Result<Option<Place>, ChatError> {
    match Target::parse(&named.name) {
        Target::Room(room) => Ok(Some(Place::Room(member_room(db, user, room)?))),
        Target::Direct(other) => {
            let other = named.person(db, other)?;
            Ok(db.find_conversation(user, &other)?.map(Place::Direct))
        }
    }
}

/// Where `user` writes when they name `named`: a room they are a member of,
/// or their conversation with a user, started if need be.
fn writable_place(db: &dyn Writes, user: &User, named: &Named) -> Result<Place, ChatError> {
    match Target::parse(&named.name) {
        Target::Room(room) => Ok(Place::Room(member_room(db, user, room)?)),
        Target::Direct(other) => {
            let other = named.person(db, other)?;
            Ok(Place::Direct(db.conversation(user, &other)?))
        }
    }
}

/// `@name` as registered, for a conversation that does not exist yet.
fn direct_name(db: &dyn Reads, named: &Named) -> Result<String, ChatError> {
    let Target::Direct(other) = Target::parse(&named.name) else {
        return Err(ChatError::NoSuchRoom(shorten_for_reply(&named.name)));
    };
    Ok(format!("@{}", named.person(db, other)?.username))
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
pub(crate) mod tests {
    use parking_lot::Mutex;

    use super::*;
    use crate::store::{Location, Page, StoreOptions};

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

    pub(crate) fn chat() -> (tempfile::TempDir, Chat) {
        chat_admitting(ConnectionLimits {
            total: 100,
            per_address: Some(100),
        })
    }

    /// A chat on a fresh SQLite file that admits connections up to `limits`.
    pub(crate) fn chat_admitting(limits: ConnectionLimits) -> (tempfile::TempDir, Chat) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(
            &Location::Sqlite(dir.path().join("chat.db")),
            &StoreOptions::default(),
        )
        .unwrap();
        (dir, Chat::new(store, limits).unwrap())
    }

    fn connect(chat: &Chat) -> (Arc<Session>, Arc<Heard>) {
        let heard = Arc::new(Heard::default());
        let session = chat
            .connect("127.0.0.1".parse().unwrap(), heard.clone())
            .unwrap();
        (session, heard)
    }

    /// The admitted guard counts its connection out of its address on
    /// every way out of the thread holding it, a panic included; loopback is
    /// never capped.
    #[test]
    fn an_address_over_its_limit_is_refused_until_a_guard_goes() {
        let (_dir, chat) = chat_admitting(ConnectionLimits {
            total: 100,
            per_address: Some(2),
        });
        let chat = Arc::new(chat);
        let admit = |peer: &str| {
            let heard: Arc<dyn Subscriber> = Arc::new(Heard::default());
            chat.admit(peer.parse().unwrap(), heard)
        };
        let first = admit("192.0.2.1").unwrap();
        let second = admit("192.0.2.1").unwrap();
        assert_eq!(admit("192.0.2.1").err(), Some(Refusal::FromAddress));
        let loopback: Vec<Admitted> = (0..5).map(|_| admit("127.0.0.1").unwrap()).collect();
        drop(first);
        let third = admit("192.0.2.1").unwrap();
        assert_eq!(admit("192.0.2.1").err(), Some(Refusal::FromAddress));
        let panicked = std::thread::spawn(move || {
            let _held = third;
            panic!("a connection's thread panics");
        });
        assert!(panicked.join().is_err());
        let fourth = admit("192.0.2.1").unwrap();
        assert_eq!(admit("192.0.2.1").err(), Some(Refusal::FromAddress));
        drop((second, fourth, loopback));
        assert_eq!(chat.hub.wait_until_empty(Duration::ZERO), 0);
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
    fn a_conversation_with_a_guest_is_one_like_any_other() {
        let (_dir, chat) = chat();
        let alice = chat.register("alice", "alice-password").unwrap();
        let (alices, _) = connect(&chat);
        chat.login(&alices, "alice", "alice-password").unwrap();
        let (visitors, _) = connect(&chat);
        chat.log_in_guest(&visitors, "visitor").unwrap();
        // Before any message: the conversation does not exist yet, but the
        // guest does.
        let position = chat.mark_read(&alice, "@Visitor".into(), 1).unwrap();
        assert_eq!(
            (position.room.as_str(), position.last_read_id),
            ("@visitor", 0)
        );
        let sent = chat
            .send(&alice, "@visitor".into(), "hello there".into())
            .unwrap();
        assert_eq!(
            chat.subscribe(&alices, &alice, "@visitor").unwrap(),
            "@visitor"
        );
        let page = chat
            .fetch(&alice, "@visitor", Page::Latest { limit: 10 })
            .unwrap();
        assert_eq!(page.len(), 1);
        let position = chat.mark_read(&alice, "@visitor".into(), sent.id).unwrap();
        assert_eq!(position.last_read_id, sent.id);
        assert_eq!(
            chat.read_marker(&alice, "@visitor").unwrap(),
            Some(sent.sent_at.clone())
        );
        let found = chat.search(&alice, "hello", Some("@visitor"), 10).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(
            chat.unsubscribe(&alices, &alice, "@visitor").unwrap(),
            "@visitor"
        );
        // Gone with its connection: then nobody has the name.
        chat.disconnect(&visitors);
        for refused in [
            chat.mark_read(&alice, "@visitor".into(), sent.id).err(),
            chat.search(&alice, "hello", Some("@visitor"), 10).err(),
            chat.subscribe(&alices, &alice, "@visitor").err(),
        ] {
            assert!(
                matches!(refused, Some(ChatError::NoSuchUser(_))),
                "{refused:?}"
            );
        }
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
        chat.set_away(&bobs, &bob, Some("lunch".into())).unwrap();
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

    /// Whatever door asks, a page holds 1 to `MAX_FETCH_LIMIT` messages.
    #[test]
    fn pages_and_searches_are_bounded_whatever_door_asks() {
        use crate::wire::MAX_FETCH_LIMIT;
        let (_dir, chat) = chat();
        let alice = chat.register("alice", "alice-password").unwrap();
        chat.join_creating(&alice, "general".into()).unwrap();
        for limit in [0, MAX_FETCH_LIMIT + 1, u32::MAX] {
            let pages = [
                Page::Latest { limit },
                Page::After { id: 0, limit },
                Page::Before { id: 10, limit },
            ];
            for page in pages {
                let fetched = chat.fetch(&alice, "general", page);
                assert!(matches!(fetched, Err(ChatError::Invalid(_))), "{page:?}");
            }
            let found = chat.search(&alice, "hello", None, limit);
            assert!(matches!(found, Err(ChatError::Invalid(_))));
            let places = chat.recent_places(&alice, "", "~", limit);
            assert!(matches!(places, Err(ChatError::Invalid(_))));
        }
        let page = Page::Latest {
            limit: MAX_FETCH_LIMIT,
        };
        assert!(chat.fetch(&alice, "general", page).is_ok());
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
