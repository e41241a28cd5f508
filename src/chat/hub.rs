//! Live state that does not outlive the process: who is connected, who is
//! logged in where, who is subscribed to which room, and event fan-out.
//!
//! A user is active while at least one of their connections is logged in.
//! Committed changes arrive from the store ([`ChangeSink`]) in commit order
//! and become events for each subscriber, through the [`Subscriber`] that its
//! front door implements. Publishing never waits on a client: a subscriber
//! only ever queues what it is handed.

use std::any::TypeId;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::session::{ConnId, Session};
use crate::store::{Change, ChangeSink, User};
use crate::wire::Event;

/// A front door's way of handing events to one of its connections.
pub trait Subscriber: Send + Sync {
    /// Queues an event for the connection, without blocking.
    fn deliver(&self, delivery: &Delivery<'_>);
    /// Ends the connection from outside its thread (shutdown).
    fn close(&self);
}

/// How a front door turns an event into bytes. Each rendering is made at most
/// once per event, however many subscribers share it.
pub trait Rendering: 'static {
    fn render(event: &Event) -> Vec<u8>;
}

/// One event on its way to its subscribers.
pub struct Delivery<'a> {
    event: &'a Event,
    rendered: RefCell<Vec<(TypeId, Arc<[u8]>)>>,
}

impl<'a> Delivery<'a> {
    pub fn new(event: &'a Event) -> Delivery<'a> {
        Delivery {
            event,
            rendered: RefCell::new(Vec::new()),
        }
    }

    pub fn event(&self) -> &Event {
        self.event
    }

    /// The event in the rendering `R`, made on first use and then shared.
    pub fn rendered<R: Rendering>(&self) -> Arc<[u8]> {
        let kind = TypeId::of::<R>();
        let mut rendered = self.rendered.borrow_mut();
        if let Some((_, bytes)) = rendered.iter().find(|(k, _)| *k == kind) {
            return Arc::clone(bytes);
        }
        let bytes: Arc<[u8]> = R::render(self.event).into();
        rendered.push((kind, Arc::clone(&bytes)));
        bytes
    }
}

/// Why a new connection was turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Full,
    ShuttingDown,
}

#[derive(Default)]
pub(crate) struct Hub {
    state: Mutex<State>,
    /// Signalled whenever a connection leaves, for shutdown to wait on.
    left: Condvar,
}

#[derive(Default)]
struct State {
    next_id: ConnId,
    connections: HashMap<ConnId, Connected>,
    /// Room id to the connections subscribed to it.
    rooms: HashMap<i64, HashMap<ConnId, Listener>>,
    /// User id to their name and how many connections they are logged in on.
    active: HashMap<i64, ActiveUser>,
    shutting_down: bool,
}

struct Connected {
    session: Arc<Session>,
    /// The rooms it listens to, subscriptions being confirmed included.
    rooms: HashSet<i64>,
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
}

impl Hub {
    /// Registers a new connection unless the server is full or stopping.
    pub(crate) fn connect(
        &self,
        peer: IpAddr,
        subscriber: Arc<dyn Subscriber>,
        max_connections: usize,
    ) -> Result<Arc<Session>, Refusal> {
        let mut state = self.state.lock();
        if state.shutting_down {
            return Err(Refusal::ShuttingDown);
        }
        if state.connections.len() >= max_connections {
            return Err(Refusal::Full);
        }
        state.next_id += 1;
        let session = Arc::new(Session::new(state.next_id, peer, subscriber));
        state.connections.insert(
            session.id(),
            Connected {
                session: Arc::clone(&session),
                rooms: HashSet::new(),
            },
        );
        Ok(session)
    }

    /// Forgets a connection: a disconnect counts as a logout.
    pub(crate) fn disconnect(&self, session: &Session) {
        let mut state = self.state.lock();
        state.log_out(session);
        state.connections.remove(&session.id());
        drop(state);
        self.left.notify_all();
    }

    /// Binds a connection to a user, ending any previous login on it. Logging
    /// in again as the same user changes nothing (subscriptions stay).
    pub(crate) fn log_in(&self, session: &Session, user: User) {
        let mut state = self.state.lock();
        if !state.connections.contains_key(&session.id()) {
            return;
        }
        if session.user().is_some_and(|current| current.id == user.id) {
            return;
        }
        state.log_out(session);
        state
            .active
            .entry(user.id)
            .or_insert_with(|| ActiveUser {
                username: user.username.clone(),
                connections: 0,
            })
            .connections += 1;
        session.set_user(Some(user));
    }

    /// Unbinds a connection from its user and ends its subscriptions.
    pub(crate) fn log_out(&self, session: &Session) {
        self.state.lock().log_out(session);
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
    /// succeeds, and an exit committed meanwhile cancels it.
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
    ) -> Result<T, E> {
        let already = {
            let mut state = self.state.lock();
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
            return confirmed;
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
        confirmed
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
        let mut state = self.state.lock();
        for change in changes {
            match change {
                Change::Message { room_id, message } => {
                    state.publish(room_id, Event::Message(message));
                }
                Change::Joined {
                    room_id,
                    membership,
                } => state.publish(room_id, Event::Join(membership)),
                Change::Left {
                    room_id,
                    user_id,
                    membership,
                } => {
                    // The leaver's own subscribers see the exit too, then stop
                    // listening: they are no longer a member.
                    state.publish(room_id, Event::Exit(membership));
                    state.end_user_subscriptions(user_id, room_id);
                }
            }
        }
    }
}

impl State {
    /// Hands an event to every subscriber of `room_id`; each rendering of it
    /// is made only if some subscriber asks for it.
    fn publish(&mut self, room_id: i64, event: Event) {
        let Some(listeners) = self.rooms.get_mut(&room_id) else {
            return;
        };
        let delivery = Delivery::new(&event);
        for listener in listeners.values_mut() {
            match &mut listener.held {
                Some(held) => held.push(event.clone()),
                None => listener.subscriber.deliver(&delivery),
            }
        }
    }

    fn log_out(&mut self, session: &Session) {
        let Some(connected) = self.connections.get_mut(&session.id()) else {
            return;
        };
        let rooms = std::mem::take(&mut connected.rooms);
        for room_id in rooms {
            self.remove_listener(room_id, session.id());
        }
        if let Some(user) = session.set_user(None)
            && let Some(active) = self.active.get_mut(&user.id)
        {
            active.connections -= 1;
            if active.connections == 0 {
                self.active.remove(&user.id);
            }
        }
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

    fn remove_listener(&mut self, room_id: i64, id: ConnId) {
        if let Some(listeners) = self.rooms.get_mut(&room_id) {
            listeners.remove(&id);
            if listeners.is_empty() {
                self.rooms.remove(&room_id);
            }
        }
    }
}
