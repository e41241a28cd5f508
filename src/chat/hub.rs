//! Live state that does not outlive the process: who is connected, who is
//! logged in where, who is subscribed to which room, and event fan-out.
//!
//! A user is active while at least one of their connections is logged in.
//! Committed changes arrive from the store ([`ChangeSink`]) in commit order
//! and become events for each subscriber, through the [`Subscriber`] that its
//! front door implements. Publishing never waits on a client: a subscriber
//! only ever queues what it is handed.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::admission::{ConnectionLimits, PerAddress};
use super::session::{ConnId, Identity, Session};
use super::subscriber::{
    Delivery, Live, Notice, Presence, PresenceChange, ReadMarker, Refusal, Subscriber,
};
use crate::metrics::metrics;
use crate::store::{Change, ChangeSink, Missed, PlaceKey, TokenHash, User};
use crate::wire::{Event, Membership, Message};

/// Told when a user becomes active on this server (`true`) or stops being
/// (`false`).
pub(crate) type PresenceHook = Box<dyn Fn(&User, bool) + Send + Sync>;

#[derive(Default)]
pub(crate) struct Hub {
    state: Mutex<State>,
    /// Signalled whenever a connection leaves, for shutdown to wait on.
    left: Condvar,
    presence: std::sync::OnceLock<PresenceHook>,
}

#[derive(Default)]
struct State {
    next_id: ConnId,
    connections: HashMap<ConnId, Connected>,
    /// How many of `connections` each client address holds.
    per_address: PerAddress,
    /// Room id to the connections subscribed to it.
    rooms: HashMap<i64, HashMap<ConnId, Listener>>,
    /// User id to their connections listening to their direct messages.
    direct: HashMap<i64, HashMap<ConnId, DirectListener>>,
    /// The newest message id handed out per room and per conversation.
    delivered: HashMap<PlaceKey, i64>,
    /// Where a catch-up of each room and each user's direct messages starts.
    caught_up: HashMap<Scope, i64>,
    /// How many times each user's tokens were revoked (password changes):
    /// a login compares it before and after, and looks closer only when it
    /// moved ([`Hub::revocations`]).
    revocations: HashMap<i64, u64>,
    /// Users who became active or inactive, for the presence hook, which
    /// runs once the lock is let go.
    presence: Vec<(User, bool)>,
    /// Users whose away ended with the connection that said it
    /// ([`Hub::take_back`]).
    back: Vec<User>,
    /// User id to their name and how many connections they are logged in on.
    active: HashMap<i64, ActiveUser>,
    /// Lower-case nick to user id of every guest connected now (or being
    /// admitted, with id 0).
    guests: HashMap<String, i64>,
    /// Reasons given for exits about to be committed, by (room, user).
    exit_reasons: HashMap<(i64, i64), String>,
    shutting_down: bool,
}

struct Connected {
    session: Arc<Session>,
    /// The rooms it listens to, subscriptions being confirmed included.
    rooms: HashSet<i64>,
    /// Whether it listens to its user's direct messages.
    direct: bool,
}

/// A connection listening to its user's direct messages: all of them
/// (`/subscribe|@`) but the conversations it unsubscribed from, or only the
/// conversations it subscribed to (`/subscribe|@bob`).
struct DirectListener {
    subscriber: Arc<dyn Subscriber>,
    all: bool,
    /// The other participants of those conversations (excepted with `all`).
    others: HashSet<i64>,
}

impl DirectListener {
    /// Whether it hears the conversation with `other`.
    fn hears(&self, other: i64) -> bool {
        self.all != self.others.contains(&other)
    }
}

struct Listener {
    subscriber: Arc<dyn Subscriber>,
    user_id: i64,
    /// Events held back while the subscription is being confirmed.
    held: Option<Vec<Event>>,
}

struct ActiveUser {
    username: String,
    connections: usize,
    guest: bool,
    away: Option<String>,
    /// The connection that set `away`: the user is back when it ends.
    away_set_by: Option<ConnId>,
}

impl Hub {
    /// Tells `hook` of every user who becomes active or inactive here.
    pub(crate) fn on_presence(&self, hook: PresenceHook) {
        if self.presence.set(hook).is_err() {
            log::warn!("a presence hook was already set; keeping the first");
        }
    }

    /// Runs `change` on the state, then tells the presence hook what it
    /// changed, outside the lock (the hook may wait on a database).
    fn change<R>(&self, change: impl FnOnce(&mut State) -> R) -> R {
        let (result, presence) = {
            let mut state = self.state.lock();
            let result = change(&mut state);
            (result, std::mem::take(&mut state.presence))
        };
        if let Some(hook) = self.presence.get() {
            for (user, present) in &presence {
                hook(user, *present);
            }
        }
        result
    }

    /// Registers a new connection unless the server is full, its address
    /// holds as many as it may, or the server is stopping.
    pub(crate) fn connect(
        &self,
        peer: IpAddr,
        subscriber: Arc<dyn Subscriber>,
        limits: ConnectionLimits,
    ) -> Result<Arc<Session>, Refusal> {
        let mut state = self.state.lock();
        if state.shutting_down {
            return Err(Refusal::ShuttingDown);
        }
        if state.connections.len() >= limits.total {
            return Err(Refusal::Full);
        }
        if !state.per_address.admit(peer, limits.per_address) {
            return Err(Refusal::FromAddress);
        }
        state.next_id += 1;
        let session = Arc::new(Session::new(state.next_id, peer, subscriber));
        state.connections.insert(
            session.id(),
            Connected {
                session: Arc::clone(&session),
                rooms: HashSet::new(),
                direct: false,
            },
        );
        Ok(session)
    }

    /// Forgets a connection: a disconnect counts as a logout. Returns the
    /// user when this was their last connection.
    pub(crate) fn disconnect(&self, session: &Session) -> Option<User> {
        let offline = self.change(|state| {
            let offline = state.log_out(session);
            // Counted out once, however often a connection is forgotten.
            if state.connections.remove(&session.id()).is_some() {
                state.per_address.leave(session.peer());
            }
            offline
        });
        self.left.notify_all();
        offline
    }

    /// Binds a connection to a user and the token its login issued or
    /// resumed, ending any previous login on it. Logging in again as the same
    /// user only changes the token (subscriptions stay). Returns whether
    /// this is the user's first connection (they came online), and the user
    /// that went offline in the switch, if one did.
    pub(crate) fn log_in(
        &self,
        session: &Session,
        user: User,
        token: Option<TokenHash>,
    ) -> (bool, Option<User>) {
        self.change(|state| {
            if !state.connections.contains_key(&session.id()) {
                return (false, None);
            }
            if session.user().is_some_and(|current| current.id == user.id) {
                session.replace_token(token);
                return (false, None);
            }
            let offline = state.log_out(session);
            let online = state.add_login(&user);
            session.set_identity(Some(Identity { user, token }));
            (online, offline)
        })
    }

    /// Holds a guest nick for a connection about to be admitted as a guest;
    /// `false` when a guest connected now has it.
    pub(crate) fn reserve_guest(&self, nick: &str) -> bool {
        let mut state = self.state.lock();
        if state.shutting_down {
            return false;
        }
        match state.guests.entry(nick.to_ascii_lowercase()) {
            std::collections::hash_map::Entry::Occupied(_) => false,
            std::collections::hash_map::Entry::Vacant(entry) => {
                entry.insert(0);
                true
            }
        }
    }

    /// Frees the nick of a guest who has left, once its memberships ended.
    pub(crate) fn release_departed_guest(&self, guest: &User) {
        let mut state = self.state.lock();
        let key = guest.username.to_ascii_lowercase();
        if state.guests.get(&key) == Some(&guest.id) && !state.active.contains_key(&guest.id) {
            state.guests.remove(&key);
        }
    }

    /// Gives back a nick [`Hub::reserve_guest`] held, when admitting failed.
    pub(crate) fn release_guest(&self, nick: &str) {
        let mut state = self.state.lock();
        let key = nick.to_ascii_lowercase();
        if state.guests.get(&key) == Some(&0) {
            state.guests.remove(&key);
        }
    }

    /// Binds a connection (logged out) to the guest whose nick it reserved.
    /// Returns `false` if the connection is gone.
    pub(crate) fn log_in_guest(&self, session: &Session, guest: User) -> bool {
        self.change(|state| {
            let key = guest.username.to_ascii_lowercase();
            if !state.connections.contains_key(&session.id()) {
                state.guests.remove(&key);
                return false;
            }
            // The caller logged the connection out first.
            state.guests.insert(key, guest.id);
            state.add_login(&guest);
            session.set_identity(Some(Identity {
                user: guest,
                token: None,
            }));
            true
        })
    }

    /// Moves a connected guest to a reserved nick, giving its old one back.
    pub(crate) fn rename_guest(&self, session: &Session, nick: &str) {
        let mut state = self.state.lock();
        let Some(user) = session.user() else {
            return;
        };
        state.guests.remove(&user.username.to_ascii_lowercase());
        state.guests.insert(nick.to_ascii_lowercase(), user.id);
        if let Some(active) = state.active.get_mut(&user.id) {
            active.username = nick.to_string();
        }
        session.rename(nick);
    }

    /// The guest connected now under `nick`, compared without regard to case.
    pub(crate) fn guest_named(&self, nick: &str) -> Option<User> {
        let state = self.state.lock();
        let id = *state.guests.get(&nick.to_ascii_lowercase())?;
        let active = state.active.get(&id)?;
        Some(User {
            id,
            username: active.username.clone(),
            guest: true,
        })
    }

    /// Whether user `id` has a connection logged in now.
    pub(crate) fn is_connected(&self, id: i64) -> bool {
        self.state.lock().active.contains_key(&id)
    }

    /// Whether a guest connected now (or being admitted) has `nick`.
    pub(crate) fn guest_holds(&self, nick: &str) -> bool {
        self.state
            .lock()
            .guests
            .contains_key(&nick.to_ascii_lowercase())
    }

    /// Unbinds a connection from its user and ends its subscriptions.
    /// Returns the user when this was their last connection.
    pub(crate) fn log_out(&self, session: &Session) -> Option<User> {
        self.change(|state| state.log_out(session))
    }

    /// Who of `names` is connected now, in the same order.
    pub(crate) fn live(&self, names: &[String]) -> Vec<Option<Live>> {
        let state = self.state.lock();
        let by_name: HashMap<String, (i64, &ActiveUser)> = state
            .active
            .iter()
            .map(|(id, user)| (user.username.to_ascii_lowercase(), (*id, user)))
            .collect();
        names
            .iter()
            .map(|name| {
                by_name
                    .get(&name.to_ascii_lowercase())
                    .map(|(id, user)| Live {
                        id: *id,
                        username: user.username.clone(),
                        guest: user.guest,
                        away: user.away.clone(),
                    })
            })
            .collect()
    }

    /// Sets or clears a connected user's away message, set on `session`;
    /// `false` when it was already so.
    pub(crate) fn set_away(&self, session: &Session, user_id: i64, away: Option<String>) -> bool {
        let mut state = self.state.lock();
        let Some(active) = state.active.get_mut(&user_id) else {
            return false;
        };
        // The same message again (another client's auto-away) leaves it
        // with the connection that said it first.
        if active.away == away {
            return false;
        }
        active.away_set_by = away.is_some().then(|| session.id());
        active.away = away;
        true
    }

    /// The users who are back since last asked: the connection that said
    /// they were away logged out or ended (however: a disconnect, a
    /// logout, a password change elsewhere) while they stay connected on
    /// others. Away was said through that connection (an IRC client's
    /// `/away`), and nothing else would ever clear it. For the core to
    /// announce, since that needs the store.
    pub(crate) fn take_back(&self) -> Vec<User> {
        let mut state = self.state.lock();
        let back = std::mem::take(&mut state.back);
        // Gone since (their QUIT said so): no "back" after it.
        back.into_iter()
            .filter(|user| state.active.contains_key(&user.id))
            .collect()
    }

    /// Keeps the reason of an exit about to be committed, for its event.
    pub(crate) fn exit_reason(&self, room_id: i64, user_id: i64, reason: String) {
        self.state
            .lock()
            .exit_reasons
            .insert((room_id, user_id), reason);
    }

    /// Forgets an exit reason whose exit failed.
    pub(crate) fn forget_exit_reason(&self, room_id: i64, user_id: i64) {
        self.state.lock().exit_reasons.remove(&(room_id, user_id));
    }

    /// Hands `change` about `user` to every other user's connection that
    /// listens to one of `rooms` (the user's), once per connection.
    pub(crate) fn announce(
        &self,
        user: &User,
        rooms: &[crate::store::Room],
        change: &PresenceChange,
    ) {
        let state = self.state.lock();
        let mut listeners: HashMap<ConnId, (Arc<dyn Subscriber>, Vec<String>)> = HashMap::new();
        for room in rooms {
            for (id, listener) in state.rooms.get(&room.id).into_iter().flatten() {
                if listener.user_id == user.id || listener.held.is_some() {
                    continue;
                }
                listeners
                    .entry(*id)
                    .or_insert_with(|| (Arc::clone(&listener.subscriber), Vec::new()))
                    .1
                    .push(room.name.clone());
            }
        }
        for (subscriber, rooms) in listeners.into_values() {
            subscriber.presence(&Presence {
                username: &user.username,
                guest: user.guest,
                change,
                rooms,
            });
        }
    }

    /// Hands a notice to every connection listening to a room.
    pub(crate) fn notice_room(&self, room_id: i64, notice: &Notice) {
        let state = self.state.lock();
        for listener in state
            .rooms
            .get(&room_id)
            .into_iter()
            .flat_map(HashMap::values)
        {
            if listener.held.is_none() {
                listener.subscriber.notice(notice);
            }
        }
    }

    /// Hands a notice to every connection of the users `to` (its recipient)
    /// and `from` (its sender's other connections) that listens to their
    /// direct messages.
    pub(crate) fn notice_direct(&self, from: i64, to: i64, notice: &Notice) {
        let state = self.state.lock();
        for listener in state.direct_listeners(from, to) {
            listener.subscriber.notice(notice);
        }
    }

    /// The usernames logged in on at least one connection, each once, sorted
    /// without regard to case.
    pub(crate) fn active_usernames(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .state
            .lock()
            .active
            .values()
            .map(|user| user.username.clone())
            .collect();
        names.sort_by_cached_key(|name| name.to_ascii_lowercase());
        names
    }

    /// Subscribes `session` to a room once `confirm` (the membership check)
    /// says so. The subscription is in place, holding events back, while
    /// `confirm` runs: a message committed meanwhile is delivered once it
    /// succeeds, and an exit committed meanwhile cancels it. `None`, and no
    /// subscription, when the connection is no longer logged in as
    /// `user_id` (a logout, a password change elsewhere, a disconnect
    /// racing the request).
    ///
    /// # Errors
    ///
    /// `confirm`'s; then nothing held back is delivered.
    pub(crate) fn subscribe<T, E>(
        &self,
        session: &Session,
        room_id: i64,
        user_id: i64,
        confirm: impl FnOnce() -> Result<T, E>,
    ) -> Option<Result<T, E>> {
        let already = {
            let mut state = self.state.lock();
            if !state.logged_in_as(session, user_id) {
                return None;
            }
            let already = state
                .rooms
                .get(&room_id)
                .is_some_and(|listeners| listeners.contains_key(&session.id()));
            if !already {
                if let Some(connected) = state.connections.get_mut(&session.id()) {
                    connected.rooms.insert(room_id);
                }
                state.rooms.entry(room_id).or_default().insert(
                    session.id(),
                    Listener {
                        subscriber: Arc::clone(session.subscriber()),
                        user_id,
                        held: Some(Vec::new()),
                    },
                );
            }
            already
        };
        let confirmed = confirm();
        if already {
            return Some(confirmed);
        }
        let mut state = self.state.lock();
        let still_there = state
            .rooms
            .get_mut(&room_id)
            .and_then(|listeners| listeners.get_mut(&session.id()))
            .filter(|listener| listener.held.is_some());
        match (&confirmed, still_there) {
            (Ok(_), Some(listener)) => {
                for event in listener.held.take().unwrap_or_default() {
                    listener.subscriber.deliver(&Delivery::new(&event));
                }
            }
            (Err(_), Some(_)) => {
                if let Some(connected) = state.connections.get_mut(&session.id()) {
                    connected.rooms.remove(&room_id);
                }
                state.remove_listener(room_id, session.id());
            }
            // Cancelled meanwhile by an exit or a logout: nothing to undo.
            (_, None) => {}
        }
        Some(confirmed)
    }

    /// From now on the connection receives the direct messages its user
    /// sends or receives, on any connection: all of them (`with` none), or
    /// those of the conversation `with` that user too. `false`, and no
    /// subscription, when it is no longer logged in as `user_id`.
    pub(crate) fn subscribe_direct(
        &self,
        session: &Session,
        user_id: i64,
        with: Option<i64>,
    ) -> bool {
        let mut state = self.state.lock();
        if !state.logged_in_as(session, user_id) {
            return false;
        }
        let Some(connected) = state.connections.get_mut(&session.id()) else {
            return false;
        };
        connected.direct = true;
        let subscriber = Arc::clone(connected.session.subscriber());
        let listener = state
            .direct
            .entry(user_id)
            .or_default()
            .entry(session.id())
            .or_insert_with(|| DirectListener {
                subscriber,
                all: false,
                others: HashSet::new(),
            });
        match with {
            None => {
                listener.all = true;
                listener.others.clear();
            }
            Some(other) if listener.all => {
                listener.others.remove(&other);
            }
            Some(other) => {
                listener.others.insert(other);
            }
        }
        true
    }

    /// Stops the connection's direct messages: all of them (`with` none), or
    /// those of the conversation with that user.
    pub(crate) fn unsubscribe_direct(&self, session: &Session, user_id: i64, with: Option<i64>) {
        let mut state = self.state.lock();
        let id = session.id();
        let listening = state
            .direct
            .get_mut(&user_id)
            .and_then(|listeners| listeners.get_mut(&id));
        match (with, listening) {
            (Some(other), Some(listener)) if listener.all => {
                listener.others.insert(other);
                return;
            }
            (Some(other), Some(listener)) => {
                listener.others.remove(&other);
                if !listener.others.is_empty() {
                    return;
                }
            }
            (Some(_), None) => return,
            (None, _) => {}
        }
        if let Some(connected) = state.connections.get_mut(&id) {
            connected.direct = false;
        }
        state.remove_direct(user_id, id);
    }

    pub(crate) fn unsubscribe(&self, session: &Session, room_id: i64) {
        let mut state = self.state.lock();
        if let Some(connected) = state.connections.get_mut(&session.id()) {
            connected.rooms.remove(&room_id);
        }
        state.remove_listener(room_id, session.id());
    }

    /// Refuses new connections and closes every open one.
    pub(crate) fn close_all(&self) {
        let mut state = self.state.lock();
        state.shutting_down = true;
        for connected in state.connections.values() {
            connected.session.subscriber().close();
        }
    }

    /// Ends at once the connections still there ([`Subscriber::close_now`]).
    pub(crate) fn close_all_now(&self) {
        let state = self.state.lock();
        for connected in state.connections.values() {
            connected.session.subscriber().close_now();
        }
    }

    /// Waits until every connection has left, or `timeout` passes. Returns
    /// how many are still there.
    pub(crate) fn wait_until_empty(&self, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        let mut state = self.state.lock();
        while !state.connections.is_empty() {
            if self.left.wait_until(&mut state, deadline).timed_out() {
                break;
            }
        }
        state.connections.len()
    }
}

impl ChangeSink for Hub {
    /// Turns committed changes into events, in the order they were committed.
    fn committed(&self, changes: Vec<Change>) {
        self.change(|state| state.apply(changes));
    }

    /// Every guest connected here loses its connection: the others freed
    /// its nick and ended its memberships (see [`ChangeSink::taken_for_dead`]).
    fn taken_for_dead(&self) {
        let state = self.state.lock();
        let guests: Vec<&Arc<Session>> = state
            .connections
            .values()
            .map(|connected| &connected.session)
            .filter(|session| session.user().is_some_and(|user| user.guest))
            .collect();
        if !guests.is_empty() {
            log::warn!(
                "ending {} guest connections: their nicks and memberships were given up \
                 while this server was taken for dead",
                guests.len()
            );
        }
        for session in guests {
            session.subscriber().guest_lost();
        }
    }

    fn present(&self) -> Vec<User> {
        let state = self.state.lock();
        state
            .active
            .iter()
            .map(|(&id, active)| User {
                id,
                username: active.username.clone(),
                guest: active.guest,
            })
            .collect()
    }

    /// Catches up on what the feed of changes may have missed (PostgreSQL:
    /// each time its listener starts listening, the first time included,
    /// since the server serves clients while it connects):
    /// subscriptions of users who left their room meanwhile end, and
    /// connections whose token was revoked meanwhile are logged out, first,
    /// so that neither hears what was sent after; then every room with
    /// subscribers gets the messages after the last one it was handed, every
    /// direct subscription likewise. What arrives twice (the feed resumed
    /// before the catch-up read) is dropped by id.
    fn resync(&self, missed: &dyn Missed) {
        let subscribed: HashSet<(i64, i64)> = {
            let state = self.state.lock();
            state
                .rooms
                .iter()
                .flat_map(|(&room_id, listeners)| {
                    listeners
                        .values()
                        .map(move |listener| (room_id, listener.user_id))
                })
                .collect()
        };
        for (room_id, user_id) in subscribed {
            if let Ok(false) = missed.is_member(room_id, user_id) {
                self.change(|state| state.end_user_subscriptions(user_id, room_id));
            }
        }
        let tokens: Vec<(Arc<Session>, TokenHash)> = {
            let state = self.state.lock();
            state
                .connections
                .values()
                .filter_map(|c| c.session.token().map(|t| (Arc::clone(&c.session), t)))
                .collect()
        };
        for (session, token) in tokens {
            if let Ok(false) = missed.token_exists(&token) {
                // Unless it logged in again meanwhile, with another token.
                self.change(|state| {
                    if session.token() == Some(token) {
                        state.end_login(&session);
                    }
                });
            }
        }
        let (places, users) = {
            let state = self.state.lock();
            let from = |scope: Scope| state.caught_up.get(&scope).copied().unwrap_or(0);
            let mut places: Vec<(PlaceKey, i64)> = state
                .rooms
                .keys()
                .map(|&room| (PlaceKey::Room(room), from(Scope::Room(room))))
                .collect();
            // Conversations of direct subscribers this server has heard of
            // are caught up each after its own last message; the rest of a
            // user's, from their subscription on.
            let mut heard: HashMap<i64, Vec<i64>> = HashMap::new();
            for (&place, &last) in &state.delivered {
                if let PlaceKey::Direct {
                    conversation,
                    low,
                    high,
                } = place
                {
                    let mut subscribed = false;
                    for user in [low, high] {
                        if state.direct.contains_key(&user) {
                            heard.entry(user).or_default().push(conversation);
                            subscribed = true;
                        }
                    }
                    if subscribed {
                        places.push((place, last));
                    }
                }
            }
            let users: Vec<(i64, i64, Vec<i64>)> = state
                .direct
                .keys()
                .map(|&user| {
                    let heard = heard.remove(&user).unwrap_or_default();
                    (user, from(Scope::Direct(user)), heard)
                })
                .collect();
            (places, users)
        };
        for (place, after) in places {
            self.catch_up(after, &format!("{place:?}"), |after| {
                let messages = missed.messages_after(place, after)?;
                Ok(messages.into_iter().map(|m| (place, m)).collect())
            });
        }
        for (user_id, after, heard) in users {
            self.catch_up(after, "direct messages", |after| {
                missed.direct_messages_after(user_id, after, &heard)
            });
        }
    }
}

impl Hub {
    /// Publishes what `page` returns after `after`, page by page (a query
    /// returns a bounded page) until a page is short: every message missed,
    /// however many. Repeats are dropped by `publish_message`.
    fn catch_up(
        &self,
        mut after: i64,
        what: &str,
        mut page: impl FnMut(i64) -> Result<Vec<(PlaceKey, Message)>, crate::store::StoreError>,
    ) {
        loop {
            match page(after) {
                Ok(messages) => {
                    let full = messages.len() >= crate::store::CATCH_UP_PAGE;
                    after = messages.last().map_or(after, |(_, message)| message.id);
                    let mut state = self.state.lock();
                    for (place, message) in messages {
                        state.publish_message(place, message);
                    }
                    if !full {
                        return;
                    }
                }
                Err(err) => {
                    log::warn!("cannot catch up on {what}: {err}");
                    return;
                }
            }
        }
    }

    /// How many times `user_id`'s tokens have been revoked so far. A login
    /// reads it before storing (or using) its token and again once bound:
    /// a revocation committed between the two has moved it, one committed
    /// later finds the connection bound and logs it out itself.
    pub(crate) fn revocations(&self, user_id: i64) -> u64 {
        self.state
            .lock()
            .revocations
            .get(&user_id)
            .copied()
            .unwrap_or(0)
    }

    /// Records that `scope`'s newest message was `id` when a subscription to
    /// it began: a catch-up starts after it, unless this node has handed out
    /// the scope's messages already. Then the catch-up starts after the last
    /// one handed out, even when the database is ahead of it (changes still
    /// on their way): starting at `id` would skip those for the subscribers
    /// already there.
    pub(crate) fn note_caught_up(&self, scope: Scope, id: i64) {
        self.state.lock().caught_up.entry(scope).or_insert(id);
    }
}

/// What a catch-up follows: a room, or one user's direct messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Scope {
    Room(i64),
    Direct(i64),
}

impl State {
    /// Turns committed changes into events, in the order they were committed.
    fn apply(&mut self, changes: Vec<Change>) {
        for change in changes {
            match change {
                Change::Message { place, message } => self.publish_message(place, message),
                Change::Edited { place, message } => self.publish_at(place, Event::Edit(message)),
                Change::Deleted { place, deleted } => {
                    self.publish_at(place, Event::Delete(deleted));
                }
                Change::Joined {
                    room_id,
                    user_id,
                    membership,
                } => {
                    let unshown = self.follow_join(room_id, user_id, &membership);
                    let by_guest = self.is_guest_id(&membership.username, user_id);
                    let event = Event::Join(membership);
                    self.publish_with(room_id, event.clone(), |delivery| {
                        delivery.by_guest = by_guest;
                    });
                    // Followers that cannot show the room hear of the join
                    // alone, and nothing of the room after it.
                    if !unshown.is_empty() {
                        let mut delivery = Delivery::new(&event);
                        delivery.by_guest = by_guest;
                        for subscriber in unshown {
                            subscriber.deliver(&delivery);
                        }
                    }
                }
                Change::Left {
                    room_id,
                    user_id,
                    membership,
                } => {
                    // The leaver's own subscribers see the exit too, then stop
                    // listening: they are no longer a member.
                    let by_guest = self.is_guest_id(&membership.username, user_id);
                    let departed = !self.active.contains_key(&user_id);
                    let reason = self.exit_reasons.remove(&(room_id, user_id));
                    self.publish_with(room_id, Event::Exit(membership), |delivery| {
                        delivery.by_guest = by_guest;
                        delivery.departed = departed;
                        delivery.reason = reason;
                    });
                    self.end_user_subscriptions(user_id, room_id);
                }
                Change::Topic {
                    room_id,
                    user_id,
                    topic,
                } => {
                    let by_guest = self.is_guest_id(&topic.username, user_id);
                    self.publish_with(room_id, Event::Topic(topic), |delivery| {
                        delivery.by_guest = by_guest;
                    });
                }
                Change::ReadMoved { user_id, place, at } => {
                    // To every connection of the user that listens to their
                    // direct messages (each IRC connection does).
                    let marker = ReadMarker { place, at };
                    let listeners = self.direct.get(&user_id).into_iter();
                    for listener in listeners.flat_map(HashMap::values) {
                        listener.subscriber.read_marker(&marker);
                    }
                }
                Change::TokensRevoked { user_id, keep } => {
                    *self.revocations.entry(user_id).or_default() += 1;
                    self.log_out_other_logins(user_id, keep.as_ref());
                }
            }
        }
    }
}

impl State {
    /// Publishes a message once: ids only grow within a room or a
    /// conversation, so one at or below the last handed out is a repeat
    /// (from a catch-up).
    ///
    /// A room's catch-up then starts after it. A user's direct messages are
    /// caught up per conversation (from `delivered`), so their scope keeps
    /// the point where the subscription began.
    fn publish_message(&mut self, place: PlaceKey, message: Message) {
        let last = self.delivered.entry(place).or_default();
        if message.id <= *last {
            return;
        }
        *last = message.id;
        if let PlaceKey::Room(room_id) = place {
            let from = self.caught_up.entry(Scope::Room(room_id)).or_default();
            *from = (*from).max(message.id);
        }
        self.publish_at(place, Event::Message(message));
    }

    fn publish_at(&mut self, place: PlaceKey, event: Event) {
        match place {
            PlaceKey::Room(room_id) => self.publish(room_id, event),
            PlaceKey::Direct { low, high, .. } => self.publish_direct(low, high, event),
        }
    }

    /// Hands a direct message's event to both participants' direct
    /// subscribers (once, for notes to self).
    fn publish_direct(&mut self, low: i64, high: i64, event: Event) {
        let delivery = Delivery::new(&event);
        for listener in self.direct_listeners(low, high) {
            listener.subscriber.deliver(&delivery);
        }
    }

    /// The connections of `a` and of `b` that hear their conversation.
    fn direct_listeners(&self, a: i64, b: i64) -> impl Iterator<Item = &DirectListener> {
        let sides = if a == b { 1 } else { 2 };
        [(a, b), (b, a)]
            .into_iter()
            .take(sides)
            .flat_map(move |(user, other)| {
                self.direct
                    .get(&user)
                    .into_iter()
                    .flat_map(HashMap::values)
                    .filter(move |listener| listener.hears(other))
            })
    }

    /// Logs out every connection of `user_id` whose login used another
    /// token than `keep` (every one without): its password changed.
    fn log_out_other_logins(&mut self, user_id: i64, keep: Option<&TokenHash>) {
        let revoked: Vec<Arc<Session>> = self
            .connections
            .values()
            .filter(|connected| {
                connected
                    .session
                    .user()
                    .is_some_and(|user| user.id == user_id)
                    && (keep.is_none() || connected.session.token().as_ref() != keep)
            })
            .map(|connected| Arc::clone(&connected.session))
            .collect();
        for session in revoked {
            self.end_login(&session);
        }
    }

    /// Logs a connection out for a revocation made elsewhere, and tells its
    /// front door (IRC ends the connection).
    fn end_login(&mut self, session: &Arc<Session>) {
        let _ = self.log_out(session);
        session.subscriber().logged_out();
    }

    /// Hands an event to every subscriber of `room_id`; each rendering of it
    /// is made only if some subscriber asks for it.
    fn publish(&mut self, room_id: i64, event: Event) {
        self.publish_with(room_id, event, |_| {});
    }

    /// [`State::publish`], with what `describe` adds to the delivery.
    fn publish_with(&mut self, room_id: i64, event: Event, describe: impl FnOnce(&mut Delivery)) {
        let Some(listeners) = self.rooms.get_mut(&room_id) else {
            return;
        };
        let mut delivery = Delivery::new(&event);
        describe(&mut delivery);
        for listener in listeners.values_mut() {
            match &mut listener.held {
                Some(held) => held.push(event.clone()),
                None => listener.subscriber.deliver(&delivery),
            }
        }
    }

    /// Makes the connections of the joining user that follow their user's
    /// memberships listen to `room_id`, which the user just joined: they hear
    /// of the join itself, and everything after it. Returns the followers
    /// that do not show this room: they listen to nothing of it. Matched by
    /// id, not name: an IRC guest may go by the name of an account made
    /// while it is connected, and must not hear that account's rooms.
    fn follow_join(
        &mut self,
        room_id: i64,
        user_id: i64,
        membership: &Membership,
    ) -> Vec<Arc<dyn Subscriber>> {
        let mut unshown = Vec::new();
        let mut followers: Vec<(ConnId, i64, Arc<dyn Subscriber>)> = Vec::new();
        for connected in self.connections.values() {
            if connected.rooms.contains(&room_id) {
                continue;
            }
            let Some(shows) = connected.session.follows_into(&membership.room) else {
                continue;
            };
            let Some(user) = connected.session.user() else {
                continue;
            };
            // 0: the change came from a node of an older version (a
            // PostgreSQL cluster mid-upgrade), which sent names only.
            let joiner = match user_id {
                0 => user.username.eq_ignore_ascii_case(&membership.username),
                id => user.id == id,
            };
            if !joiner {
                continue;
            }
            let subscriber = Arc::clone(connected.session.subscriber());
            if shows {
                followers.push((connected.session.id(), user.id, subscriber));
            } else {
                unshown.push(subscriber);
            }
        }
        for (id, user_id, subscriber) in followers {
            if let Some(connected) = self.connections.get_mut(&id) {
                connected.rooms.insert(room_id);
            }
            self.rooms.entry(room_id).or_default().insert(
                id,
                Listener {
                    subscriber,
                    user_id,
                    held: None,
                },
            );
        }
        unshown
    }

    /// Counts a login of `user`; `true` when it is their first connection
    /// (the presence hook hears of it).
    fn add_login(&mut self, user: &User) -> bool {
        let active = self.active.entry(user.id).or_insert_with(|| ActiveUser {
            username: user.username.clone(),
            connections: 0,
            guest: user.guest,
            away: None,
            away_set_by: None,
        });
        active.connections += 1;
        let first = active.connections == 1;
        if first {
            metrics().logged_in_users.inc();
            self.presence.push((user.clone(), true));
        }
        first
    }

    fn is_guest(&self, name: &str) -> bool {
        self.guests.contains_key(&name.to_ascii_lowercase())
    }

    /// Whether user `id`, called `name`, is a connected guest, and not an
    /// account made with a connected guest's nick (`add-user` beside the
    /// server cannot see guests). Id 0 (a change from an older node) is
    /// told by the name alone.
    fn is_guest_id(&self, name: &str, id: i64) -> bool {
        match id {
            0 => self.is_guest(name),
            id => self.guests.get(&name.to_ascii_lowercase()) == Some(&id),
        }
    }

    /// Logs a connection out; returns its user when that was the user's last
    /// connection.
    fn log_out(&mut self, session: &Session) -> Option<User> {
        let connected = self.connections.get_mut(&session.id())?;
        let rooms = std::mem::take(&mut connected.rooms);
        let direct = std::mem::take(&mut connected.direct);
        for room_id in rooms {
            self.remove_listener(room_id, session.id());
        }
        let identity = session.set_identity(None);
        if direct {
            match &identity {
                Some(identity) => self.remove_direct(identity.user.id, session.id()),
                // Not reachable (a subscription needs a login, and a logout
                // ends it), but a leak if it were: look everywhere.
                None => {
                    let users: Vec<i64> = self.direct.keys().copied().collect();
                    for user_id in users {
                        self.remove_direct(user_id, session.id());
                    }
                }
            }
        }
        let Identity { user, .. } = identity?;
        // A guest's nick stays held until its memberships have ended
        // (`Hub::release_departed_guest`), so that the next guest taking it
        // never meets the last one's rooms.
        let active = self.active.get_mut(&user.id)?;
        active.connections -= 1;
        if active.connections == 0 {
            self.active.remove(&user.id);
            metrics().logged_in_users.dec();
            self.presence.push((user.clone(), false));
            return Some(user);
        }
        if active.away_set_by == Some(session.id()) {
            active.away = None;
            active.away_set_by = None;
            self.back.push(user);
        }
        None
    }

    /// Whether `session` is connected and logged in as `user_id`: what a
    /// subscription needs, checked under the lock that logouts take.
    fn logged_in_as(&self, session: &Session, user_id: i64) -> bool {
        self.connections.contains_key(&session.id())
            && session.user().is_some_and(|user| user.id == user_id)
    }

    /// Ends every subscription of `user_id` to `room_id`, on all their
    /// connections, confirmed or not.
    fn end_user_subscriptions(&mut self, user_id: i64, room_id: i64) {
        let Some(listeners) = self.rooms.get_mut(&room_id) else {
            return;
        };
        let ended: Vec<ConnId> = listeners
            .iter()
            .filter(|(_, listener)| listener.user_id == user_id)
            .map(|(id, _)| *id)
            .collect();
        for id in ended {
            if let Some(connected) = self.connections.get_mut(&id) {
                connected.rooms.remove(&room_id);
            }
            self.remove_listener(room_id, id);
        }
    }

    fn remove_direct(&mut self, user_id: i64, id: ConnId) {
        if let Some(subscribers) = self.direct.get_mut(&user_id) {
            subscribers.remove(&id);
            if subscribers.is_empty() {
                self.direct.remove(&user_id);
            }
        }
    }

    fn remove_listener(&mut self, room_id: i64, id: ConnId) {
        if let Some(listeners) = self.rooms.get_mut(&room_id) {
            listeners.remove(&id);
            if listeners.is_empty() {
                self.rooms.remove(&room_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::chat::subscriber::{NoticeTo, Rendering};

    /// A subscriber that keeps what it is handed.
    #[derive(Default)]
    struct Recorder {
        lines: Mutex<Vec<String>>,
        closed: AtomicUsize,
    }

    impl Recorder {
        fn lines(&self) -> Vec<String> {
            self.lines.lock().clone()
        }
    }

    struct Json;

    impl Rendering for Json {
        fn render(event: &Event) -> Vec<u8> {
            serde_json::to_vec(event).unwrap()
        }
    }

    /// Counts how often it renders, to show each event renders once. Only
    /// one test uses it, so the count is that test's alone.
    struct Counted;
    static RENDERS: AtomicUsize = AtomicUsize::new(0);

    impl Rendering for Counted {
        fn render(event: &Event) -> Vec<u8> {
            RENDERS.fetch_add(1, Ordering::SeqCst);
            Json::render(event)
        }
    }

    struct CountingRecorder(Recorder);

    impl Subscriber for CountingRecorder {
        fn deliver(&self, delivery: &Delivery<'_>) {
            let bytes = delivery.rendered::<Counted>();
            self.0
                .lines
                .lock()
                .push(String::from_utf8(bytes.to_vec()).unwrap());
        }

        fn close(&self) {}
    }

    impl Subscriber for Recorder {
        fn deliver(&self, delivery: &Delivery<'_>) {
            let bytes = delivery.rendered::<Json>();
            let mut line = String::from_utf8(bytes.to_vec()).unwrap();
            if delivery.departed() {
                line.push_str(" departed");
            }
            if let Some(reason) = delivery.reason() {
                line.push_str(&format!(" reason={reason}"));
            }
            self.lines.lock().push(line);
        }

        fn presence(&self, presence: &Presence<'_>) {
            self.lines.lock().push(format!(
                "presence {} {:?} {:?}",
                presence.username, presence.change, presence.rooms
            ));
        }

        fn notice(&self, notice: &Notice) {
            self.lines
                .lock()
                .push(format!("notice {} {}", notice.from, notice.text));
        }

        fn close(&self) {
            self.closed.fetch_add(1, Ordering::SeqCst);
        }

        fn logged_out(&self) {
            self.lines.lock().push("logged out".to_string());
        }
    }

    fn here() -> IpAddr {
        "127.0.0.1".parse().unwrap()
    }

    /// At most `total` connections, and as many from one address.
    fn up_to(total: usize) -> ConnectionLimits {
        ConnectionLimits {
            total,
            per_address: Some(total),
        }
    }

    fn user(id: i64, name: &str) -> User {
        User {
            id,
            username: name.to_string(),
            guest: false,
        }
    }

    fn guest(id: i64, nick: &str) -> User {
        User {
            guest: true,
            ..user(id, nick)
        }
    }

    fn connect(hub: &Hub) -> (Arc<Session>, Arc<Recorder>) {
        let recorder = Arc::new(Recorder::default());
        let session = hub.connect(here(), recorder.clone(), up_to(100)).unwrap();
        (session, recorder)
    }

    fn message(room_id: i64, id: i64) -> Change {
        Change::Message {
            place: PlaceKey::Room(room_id),
            message: Message {
                id,
                room: Some(format!("room{room_id}")),
                to: None,
                username: "alice".into(),
                text: format!("message {id}"),
                sent_at: "2026-11-25T10:00:00.000Z".into(),
                edited_at: None,
                guest: false,
            },
        }
    }

    fn left(room_id: i64, user: &User) -> Change {
        Change::Left {
            room_id,
            user_id: user.id,
            membership: Membership {
                room: format!("room{room_id}"),
                username: user.username.clone(),
            },
        }
    }

    use crate::store::StoreError;

    /// What a catch-up finds: one missed message in room 7; alice (user 1)
    /// no longer a member of it when she `left` through another node, and
    /// her token (`[1; 32]`) `revoked` when her password changed there.
    struct AliceMeanwhile {
        left: bool,
        revoked: bool,
    }

    impl crate::store::Missed for AliceMeanwhile {
        fn messages_after(&self, place: PlaceKey, _: i64) -> Result<Vec<Message>, StoreError> {
            let PlaceKey::Room(room_id) = place else {
                return Ok(Vec::new());
            };
            let Change::Message { message, .. } = message(room_id, 5) else {
                unreachable!()
            };
            Ok(vec![message])
        }

        fn direct_messages_after(
            &self,
            _: i64,
            _: i64,
            _: &[i64],
        ) -> Result<Vec<(PlaceKey, Message)>, StoreError> {
            Ok(Vec::new())
        }

        fn token_exists(&self, hash: &TokenHash) -> Result<bool, StoreError> {
            Ok(!(self.revoked && *hash == [1; 32]))
        }

        fn is_member(&self, _: i64, user_id: i64) -> Result<bool, StoreError> {
            Ok(!(self.left && user_id == 1))
        }
    }

    /// A hub where alice (user 1, token `[1; 32]`) and bob (user 2, token
    /// `[2; 32]`) are logged in and subscribed to room 7: each one's
    /// session and what it heard.
    #[allow(clippy::type_complexity)]
    fn alice_and_bob_in_room_7() -> (
        Hub,
        (Arc<Session>, Arc<Recorder>),
        (Arc<Session>, Arc<Recorder>),
    ) {
        let hub = Hub::default();
        let (alice, bob) = (user(1, "alice"), user(2, "bob"));
        let alices = connect(&hub);
        let bobs = connect(&hub);
        hub.log_in(&alices.0, alice.clone(), Some([1; 32]));
        hub.log_in(&bobs.0, bob.clone(), Some([2; 32]));
        for (session, user) in [(&alices.0, &alice), (&bobs.0, &bob)] {
            hub.subscribe(session, 7, user.id, || Ok::<_, ()>(()))
                .unwrap()
                .unwrap();
        }
        (hub, alices, bobs)
    }

    #[test]
    fn a_catch_up_ends_the_subscriptions_of_who_left_meanwhile_first() {
        let (hub, (_, alice_heard), (_, bob_heard)) = alice_and_bob_in_room_7();
        hub.resync(&AliceMeanwhile {
            left: true,
            revoked: false,
        });
        assert!(alice_heard.lines().is_empty(), "{:?}", alice_heard.lines());
        assert_eq!(bob_heard.lines().len(), 1, "bob gets the missed message");
        hub.committed(vec![message(7, 6)]);
        assert!(alice_heard.lines().is_empty());
        assert_eq!(bob_heard.lines().len(), 2);
    }

    /// A connection whose token was revoked while the feed was down is
    /// logged out before the catch-up: it hears nothing sent after the
    /// revocation (its front door is told, and IRC ends it).
    #[test]
    fn a_catch_up_logs_out_revoked_logins_before_it_delivers() {
        let (hub, (alices, alice_heard), (_, bob_heard)) = alice_and_bob_in_room_7();
        hub.resync(&AliceMeanwhile {
            left: false,
            revoked: true,
        });
        assert_eq!(alice_heard.lines(), ["logged out"]);
        assert!(alices.user().is_none());
        assert_eq!(bob_heard.lines().len(), 1, "bob gets the missed message");
    }

    /// Direct messages as a database holds them, answering a catch-up's
    /// queries as the store does.
    struct Conversations(Vec<(PlaceKey, Message)>);

    impl crate::store::Missed for Conversations {
        fn messages_after(&self, place: PlaceKey, after: i64) -> Result<Vec<Message>, StoreError> {
            Ok(self
                .0
                .iter()
                .filter(|(at, message)| *at == place && message.id > after)
                .map(|(_, message)| message.clone())
                .collect())
        }

        fn direct_messages_after(
            &self,
            user_id: i64,
            after: i64,
            except: &[i64],
        ) -> Result<Vec<(PlaceKey, Message)>, StoreError> {
            Ok(self
                .0
                .iter()
                .filter(|(place, message)| match *place {
                    PlaceKey::Direct {
                        conversation,
                        low,
                        high,
                    } => {
                        (low == user_id || high == user_id)
                            && !except.contains(&conversation)
                            && message.id > after
                    }
                    PlaceKey::Room(_) => false,
                })
                .cloned()
                .collect())
        }

        fn token_exists(&self, _: &TokenHash) -> Result<bool, StoreError> {
            Ok(true)
        }

        fn is_member(&self, _: i64, _: i64) -> Result<bool, StoreError> {
            Ok(true)
        }
    }

    fn direct(conversation: i64, low: i64, high: i64, id: i64) -> (PlaceKey, Message) {
        let place = PlaceKey::Direct {
            conversation,
            low,
            high,
        };
        let message = Message {
            id,
            room: None,
            to: Some(format!("user{high}")),
            username: format!("user{low}"),
            text: format!("direct {id}"),
            sent_at: "2026-11-25T10:00:00.000Z".into(),
            edited_at: None,
            guest: false,
        };
        (place, message)
    }

    /// Ids are committed in order within a conversation, not across them:
    /// a message that took a lower id in one conversation and committed
    /// late, while the feed was down, is still caught up, as are those of a
    /// conversation this server had not heard of.
    #[test]
    fn a_catch_up_of_direct_messages_follows_each_conversation() {
        let hub = Hub::default();
        let bob = user(2, "bob");
        let (bobs, bob_heard) = connect(&hub);
        hub.log_in(&bobs, bob.clone(), None);
        assert!(hub.subscribe_direct(&bobs, bob.id, None));
        hub.note_caught_up(Scope::Direct(bob.id), 10);
        let (with_alice, from_alice) = direct(1, 1, 2, 20);
        let (with_carol, from_carol) = direct(2, 2, 3, 30);
        hub.committed(vec![
            Change::Message {
                place: with_alice,
                message: from_alice.clone(),
            },
            Change::Message {
                place: with_carol,
                message: from_carol.clone(),
            },
        ]);
        let late = direct(1, 1, 2, 25);
        let new_conversation = direct(3, 2, 4, 28);
        let after = direct(2, 2, 3, 31);
        let database = Conversations(vec![
            (with_alice, from_alice),
            late.clone(),
            new_conversation.clone(),
            (with_carol, from_carol),
            after.clone(),
        ]);
        hub.resync(&database);
        let heard: Vec<i64> = bob_heard
            .lines()
            .iter()
            .map(|line| {
                serde_json::from_str::<serde_json::Value>(line).unwrap()["data"]["id"]
                    .as_i64()
                    .unwrap()
            })
            .collect();
        let mut caught_up = heard[2..].to_vec();
        caught_up.sort_unstable();
        assert_eq!(heard[..2], [20, 30]);
        assert_eq!(caught_up, [25, 28, 31], "each missed message once");
    }

    #[test]
    fn refuses_past_the_limit_and_while_shutting_down() {
        let hub = Hub::default();
        let recorder: Arc<dyn Subscriber> = Arc::new(Recorder::default());
        let first = hub.connect(here(), recorder.clone(), up_to(2)).unwrap();
        let _second = hub.connect(here(), recorder.clone(), up_to(2)).unwrap();
        assert_eq!(
            hub.connect(here(), recorder.clone(), up_to(2)).err(),
            Some(Refusal::Full)
        );
        hub.disconnect(&first);
        let third = hub.connect(here(), recorder.clone(), up_to(2)).unwrap();
        assert_ne!(third.id(), first.id());
        hub.close_all();
        assert_eq!(
            hub.connect(here(), recorder, up_to(10)).err(),
            Some(Refusal::ShuttingDown)
        );
    }

    /// One address (not loopback) gets at most `per_address` of the
    /// connections, and each is counted out once when it leaves, also
    /// when it is forgotten twice.
    #[test]
    fn refuses_past_the_limit_of_one_address() {
        let hub = Hub::default();
        let recorder: Arc<dyn Subscriber> = Arc::new(Recorder::default());
        let limits = ConnectionLimits {
            total: 10,
            per_address: Some(2),
        };
        let away: IpAddr = "192.0.2.1".parse().unwrap();
        let first = hub.connect(away, recorder.clone(), limits).unwrap();
        let _second = hub.connect(away, recorder.clone(), limits).unwrap();
        assert_eq!(
            hub.connect(away, recorder.clone(), limits).err(),
            Some(Refusal::FromAddress)
        );
        let elsewhere = "192.0.2.2".parse().unwrap();
        assert!(hub.connect(elsewhere, recorder.clone(), limits).is_ok());
        for _ in 0..3 {
            assert!(hub.connect(here(), recorder.clone(), limits).is_ok());
        }
        hub.disconnect(&first);
        hub.disconnect(&first);
        let _third = hub.connect(away, recorder.clone(), limits).unwrap();
        assert_eq!(
            hub.connect(away, recorder.clone(), limits).err(),
            Some(Refusal::FromAddress),
            "the second disconnect did not count out another"
        );
        // A full server says so first.
        let full = ConnectionLimits { total: 6, ..limits };
        assert_eq!(hub.connect(away, recorder, full).err(), Some(Refusal::Full));
    }

    #[test]
    fn active_users_follow_logins_on_every_connection() {
        let hub = Hub::default();
        let (one, _) = connect(&hub);
        let (two, _) = connect(&hub);
        let alice = user(1, "alice");
        hub.log_in(&one, alice.clone(), None);
        hub.log_in(&two, alice.clone(), None);
        hub.log_in(&two, alice.clone(), None);
        assert_eq!(hub.active_usernames(), ["alice"]);
        hub.log_in(&two, user(2, "Bob"), None);
        assert_eq!(hub.active_usernames(), ["alice", "Bob"]);
        assert_eq!(two.user().map(|u| u.username), Some("Bob".to_string()));
        hub.disconnect(&one);
        assert_eq!(hub.active_usernames(), ["Bob"]);
        hub.log_out(&two);
        assert!(hub.active_usernames().is_empty());
        assert_eq!(two.user(), None);
    }

    #[test]
    fn each_event_is_rendered_once_for_all_subscribers() {
        let hub = Hub::default();
        let alice = user(1, "alice");
        let recorders: Vec<Arc<CountingRecorder>> = (0..5)
            .map(|_| {
                let recorder = Arc::new(CountingRecorder(Recorder::default()));
                let session = hub.connect(here(), recorder.clone(), up_to(100)).unwrap();
                hub.log_in(&session, alice.clone(), None);
                hub.subscribe(&session, 7, alice.id, || Ok::<_, ()>(()))
                    .unwrap()
                    .unwrap();
                recorder
            })
            .collect();
        let before = RENDERS.load(Ordering::SeqCst);
        hub.committed(vec![message(7, 1), message(8, 2)]);
        // Room 8 has no subscribers: nothing is rendered for it.
        assert_eq!(RENDERS.load(Ordering::SeqCst) - before, 1);
        for recorder in recorders {
            assert_eq!(recorder.0.lines().len(), 1);
            assert!(recorder.0.lines()[0].contains("message 1"));
        }
    }

    #[test]
    fn events_committed_while_confirming_are_delivered_after_it() {
        let hub = Hub::default();
        let alice = user(1, "alice");
        let (session, recorder) = connect(&hub);
        hub.log_in(&session, alice.clone(), None);
        hub.subscribe(&session, 7, alice.id, || {
            hub.committed(vec![message(7, 1), message(7, 2)]);
            assert!(recorder.lines().is_empty(), "delivered before confirmed");
            Ok::<_, ()>(())
        })
        .unwrap()
        .unwrap();
        let lines = recorder.lines();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].contains("message 1") && lines[1].contains("message 2"));
        hub.committed(vec![message(7, 3)]);
        assert_eq!(recorder.lines().len(), 3);
    }

    #[test]
    fn a_connection_logged_out_meanwhile_is_not_subscribed() {
        let hub = Hub::default();
        let alice = user(1, "alice");
        let (session, recorder) = connect(&hub);
        hub.log_in(&session, alice.clone(), None);
        // A password change elsewhere logs it out while its request runs.
        hub.log_out(&session);
        assert!(!hub.subscribe_direct(&session, alice.id, None));
        assert!(
            hub.subscribe(&session, 7, alice.id, || Ok::<_, ()>(()))
                .is_none()
        );
        hub.committed(vec![message(7, 1)]);
        assert!(recorder.lines().is_empty());
        assert!(hub.state.lock().direct.is_empty());
        assert!(hub.state.lock().rooms.is_empty());
        // Nor one whose connection is gone.
        let (gone, _) = connect(&hub);
        hub.log_in(&gone, alice.clone(), None);
        hub.disconnect(&gone);
        assert!(!hub.subscribe_direct(&gone, alice.id, None));
        assert!(hub.state.lock().direct.is_empty());
    }

    #[test]
    fn a_refused_or_cancelled_subscription_delivers_nothing() {
        let hub = Hub::default();
        let alice = user(1, "alice");
        let (session, recorder) = connect(&hub);
        hub.log_in(&session, alice.clone(), None);
        let refused = hub.subscribe(&session, 7, alice.id, || {
            hub.committed(vec![message(7, 1)]);
            Err::<(), _>("not a member")
        });
        assert_eq!(refused, Some(Err("not a member")));
        // An exit committed while confirming cancels the subscription.
        hub.subscribe(&session, 7, alice.id, || {
            hub.committed(vec![left(7, &alice)]);
            Ok::<_, ()>(())
        })
        .unwrap()
        .unwrap();
        hub.committed(vec![message(7, 2)]);
        assert!(recorder.lines().is_empty(), "{:?}", recorder.lines());
    }

    #[test]
    fn an_exit_ends_the_users_subscriptions_on_every_connection() {
        let hub = Hub::default();
        let alice = user(1, "alice");
        let bob = user(2, "bob");
        let mut alices = Vec::new();
        for _ in 0..2 {
            let (session, recorder) = connect(&hub);
            hub.log_in(&session, alice.clone(), None);
            hub.subscribe(&session, 7, alice.id, || Ok::<_, ()>(()))
                .unwrap()
                .unwrap();
            alices.push((session, recorder));
        }
        let (bobs, bob_sees) = connect(&hub);
        hub.log_in(&bobs, bob.clone(), None);
        hub.subscribe(&bobs, 7, bob.id, || Ok::<_, ()>(()))
            .unwrap()
            .unwrap();

        hub.committed(vec![left(7, &alice), message(7, 1)]);
        for (_, recorder) in &alices {
            let lines = recorder.lines();
            assert_eq!(lines.len(), 1, "{lines:?}");
            assert!(lines[0].contains("\"exit\""));
        }
        assert_eq!(bob_sees.lines().len(), 2);
    }

    #[test]
    fn logging_out_ends_subscriptions_and_close_all_closes_everyone() {
        let hub = Hub::default();
        let alice = user(1, "alice");
        let (session, recorder) = connect(&hub);
        hub.log_in(&session, alice.clone(), None);
        hub.subscribe(&session, 7, alice.id, || Ok::<_, ()>(()))
            .unwrap()
            .unwrap();
        hub.log_out(&session);
        hub.committed(vec![message(7, 1)]);
        assert!(recorder.lines().is_empty());
        hub.close_all();
        assert_eq!(recorder.closed.load(Ordering::SeqCst), 1);
        assert_eq!(hub.wait_until_empty(Duration::from_millis(10)), 1);
        hub.disconnect(&session);
        assert_eq!(hub.wait_until_empty(Duration::from_millis(10)), 0);
    }

    fn room(id: i64) -> crate::store::Room {
        crate::store::Room {
            id,
            name: format!("room{id}"),
            created_by: 1,
        }
    }

    #[test]
    fn presence_reaches_each_other_listener_once_with_its_rooms() {
        let hub = Hub::default();
        let alice = user(1, "alice");
        let bob = user(2, "bob");
        let (listener, heard) = connect(&hub);
        hub.log_in(&listener, bob.clone(), None);
        for room_id in [7, 8] {
            hub.subscribe(&listener, room_id, bob.id, || Ok::<_, ()>(()))
                .unwrap()
                .unwrap();
        }
        let (own, own_heard) = connect(&hub);
        assert_eq!(hub.log_in(&own, alice.clone(), None), (true, None));
        hub.subscribe(&own, 7, alice.id, || Ok::<_, ()>(()))
            .unwrap()
            .unwrap();
        hub.announce(
            &alice,
            &[room(7), room(8), room(9)],
            &PresenceChange::Away(Some("lunch".into())),
        );
        let lines = heard.lines();
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].contains("Away(Some(\"lunch\"))"));
        assert!(lines[0].contains("[\"room7\", \"room8\"]"));
        assert!(own_heard.lines().is_empty(), "a user hears not of itself");
        assert!(hub.set_away(&own, alice.id, Some("x".into())));
        assert!(!hub.set_away(&own, alice.id, Some("x".into())));
        assert_eq!(
            hub.live(&["ALICE".into(), "carol".into()])[0]
                .as_ref()
                .unwrap()
                .away
                .as_deref(),
            Some("x")
        );
        assert_eq!(hub.disconnect(&own), Some(alice));
    }

    #[test]
    fn guest_nicks_are_held_while_connected_and_free_after() {
        let hub = Hub::default();
        assert!(hub.reserve_guest("Visitor"));
        assert!(!hub.reserve_guest("visitor"), "held while being admitted");
        let (session, _) = connect(&hub);
        assert!(hub.log_in_guest(&session, guest(5, "Visitor")));
        assert!(session.is_guest());
        assert_eq!(hub.guest_named("VISITOR"), Some(guest(5, "Visitor")));
        hub.rename_guest(&session, "other");
        assert!(!hub.guest_holds("visitor") && hub.guest_holds("OTHER"));
        assert_eq!(session.user().unwrap().username, "other");
        assert_eq!(hub.disconnect(&session), Some(guest(5, "other")));
        assert!(
            !hub.reserve_guest("other"),
            "held until its memberships have ended"
        );
        assert_eq!(hub.guest_named("other"), None, "gone for messages");
        hub.release_departed_guest(&guest(5, "other"));
        assert!(
            hub.reserve_guest("other"),
            "free once its memberships have ended"
        );
        hub.release_guest("other");
        assert!(!hub.guest_holds("other"));
    }

    #[test]
    fn exits_say_their_reason_and_whether_their_user_is_gone() {
        let hub = Hub::default();
        let alice = user(1, "alice");
        let bob = user(2, "bob");
        let (listener, heard) = connect(&hub);
        hub.log_in(&listener, alice.clone(), None);
        hub.subscribe(&listener, 7, alice.id, || Ok::<_, ()>(()))
            .unwrap()
            .unwrap();
        let (leaver, _) = connect(&hub);
        hub.log_in(&leaver, bob.clone(), None);
        hub.exit_reason(7, bob.id, "bye".into());
        hub.committed(vec![left(7, &bob)]);
        hub.disconnect(&leaver);
        hub.committed(vec![left(7, &bob)]);
        let lines = heard.lines();
        assert!(lines[0].ends_with("reason=bye") && !lines[0].contains("departed"));
        assert!(lines[1].ends_with(" departed"), "{lines:?}");
    }

    #[test]
    fn notices_reach_room_listeners_and_direct_listeners() {
        let hub = Hub::default();
        let alice = user(1, "alice");
        let (session, heard) = connect(&hub);
        hub.log_in(&session, alice.clone(), None);
        hub.subscribe(&session, 7, alice.id, || Ok::<_, ()>(()))
            .unwrap()
            .unwrap();
        hub.subscribe_direct(&session, alice.id, None);
        let notice = |text: &str| Notice {
            from: "bob".into(),
            guest: false,
            to: NoticeTo::Room("room7".into()),
            text: text.into(),
            origin: 99,
        };
        hub.notice_room(7, &notice("to the room"));
        hub.notice_room(8, &notice("elsewhere"));
        hub.notice_direct(2, alice.id, &notice("to alice"));
        assert_eq!(
            heard.lines(),
            ["notice bob to the room", "notice bob to alice"]
        );
    }

    #[test]
    fn following_connections_listen_to_the_rooms_their_user_joins() {
        let hub = Hub::default();
        let alice = user(1, "alice");
        let (follower, heard) = connect(&hub);
        hub.log_in(&follower, alice.clone(), None);
        follower.follow_memberships(|room| !room.contains(' '));
        let (plain, plain_heard) = connect(&hub);
        hub.log_in(&plain, alice.clone(), None);
        // An IRC guest going by the same name is someone else.
        let (namesake, namesake_heard) = connect(&hub);
        hub.log_in(&namesake, user(2, "alice"), None);
        namesake.follow_memberships(|_| true);
        hub.committed(vec![Change::Joined {
            room_id: 7,
            user_id: alice.id,
            membership: Membership {
                room: "room7".into(),
                username: "Alice".into(),
            },
        }]);
        hub.committed(vec![message(7, 1)]);
        let lines = heard.lines();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].contains("\"join\"") && lines[1].contains("message 1"));
        assert!(plain_heard.lines().is_empty());
        assert!(namesake_heard.lines().is_empty());
        // A room the follower cannot show: the join alone, nothing after it.
        hub.committed(vec![Change::Joined {
            room_id: 8,
            user_id: alice.id,
            membership: Membership {
                room: "my room".into(),
                username: "alice".into(),
            },
        }]);
        hub.committed(vec![message(8, 2)]);
        let lines = heard.lines();
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(lines[2].contains("my room"), "{lines:?}");
    }
}
