//! Live state that does not outlive the process: who is connected, who is
//! logged in where, who is subscribed to which room, and event fan-out.
//!
//! A user is active while at least one of their connections is logged in.
//! Publishing hands each subscriber's [`Outbox`] the same shared bytes; it
//! never waits on a client.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::outbox::Outbox;
use crate::store::User;

/// Identifies one accepted connection for the life of the process.
pub type ConnId = u64;

/// Why a new connection was turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Full,
    ShuttingDown,
}

#[derive(Default)]
pub struct Hub {
    state: Mutex<State>,
    /// Signalled whenever a connection leaves, for shutdown to wait on.
    left: Condvar,
}

#[derive(Default)]
struct State {
    next_id: ConnId,
    connections: HashMap<ConnId, Connected>,
    /// Room id to the connections subscribed to it.
    subscribers: HashMap<i64, HashMap<ConnId, Arc<Outbox>>>,
    /// User id to their name and how many connections they are logged in on.
    active: HashMap<i64, ActiveUser>,
    shutting_down: bool,
}

struct Connected {
    outbox: Arc<Outbox>,
    user: Option<i64>,
    rooms: HashSet<i64>,
}

struct ActiveUser {
    username: String,
    connections: usize,
}

impl Hub {
    pub fn new() -> Hub {
        Hub::default()
    }

    /// Registers a new connection unless the server is full or stopping.
    pub fn connect(&self, outbox: Arc<Outbox>, max_connections: usize) -> Result<ConnId, Refusal> {
        let mut state = self.lock();
        if state.shutting_down {
            return Err(Refusal::ShuttingDown);
        }
        if state.connections.len() >= max_connections {
            return Err(Refusal::Full);
        }
        state.next_id += 1;
        let id = state.next_id;
        state.connections.insert(
            id,
            Connected {
                outbox,
                user: None,
                rooms: HashSet::new(),
            },
        );
        Ok(id)
    }

    /// Forgets a connection: a disconnect counts as a logout.
    pub fn disconnect(&self, id: ConnId) {
        let mut state = self.lock();
        state.log_out(id);
        state.connections.remove(&id);
        drop(state);
        self.left.notify_all();
    }

    /// Binds a connection to a user, ending any previous login on it. Logging
    /// in again as the same user changes nothing (subscriptions stay).
    pub fn log_in(&self, id: ConnId, user: &User) {
        let mut state = self.lock();
        let current = state.connections.get(&id).and_then(|c| c.user);
        if current == Some(user.id) {
            return;
        }
        state.log_out(id);
        let Some(connected) = state.connections.get_mut(&id) else {
            return;
        };
        connected.user = Some(user.id);
        state
            .active
            .entry(user.id)
            .or_insert_with(|| ActiveUser {
                username: user.username.clone(),
                connections: 0,
            })
            .connections += 1;
    }

    /// Unbinds a connection from its user and ends its subscriptions.
    pub fn log_out(&self, id: ConnId) {
        self.lock().log_out(id);
    }

    /// The usernames logged in on at least one connection, each once, sorted
    /// without regard to case.
    pub fn active_usernames(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .lock()
            .active
            .values()
            .map(|user| user.username.clone())
            .collect();
        names.sort_by_cached_key(|name| name.to_ascii_lowercase());
        names
    }

    pub fn subscribe(&self, id: ConnId, room_id: i64) {
        let mut state = self.lock();
        let Some(connected) = state.connections.get_mut(&id) else {
            return;
        };
        connected.rooms.insert(room_id);
        let outbox = Arc::clone(&connected.outbox);
        state
            .subscribers
            .entry(room_id)
            .or_default()
            .insert(id, outbox);
    }

    pub fn unsubscribe(&self, id: ConnId, room_id: i64) {
        let mut state = self.lock();
        if let Some(connected) = state.connections.get_mut(&id) {
            connected.rooms.remove(&room_id);
        }
        state.remove_subscriber(room_id, id);
    }

    /// Ends every subscription of `user_id` to `room_id`, on all their
    /// connections: they are no longer a member.
    pub fn end_user_subscriptions(&self, user_id: i64, room_id: i64) {
        let mut state = self.lock();
        let ids: Vec<ConnId> = state
            .connections
            .iter_mut()
            .filter(|(_, connected)| connected.user == Some(user_id))
            .filter_map(|(id, connected)| connected.rooms.remove(&room_id).then_some(*id))
            .collect();
        for id in ids {
            state.remove_subscriber(room_id, id);
        }
    }

    /// Hands an event to every subscriber of `room_id`. The line is built
    /// (serialized once, shared by all) only when someone is subscribed, so a
    /// room nobody watches costs the sender no JSON.
    pub fn publish(&self, room_id: i64, line: impl FnOnce() -> String) {
        let state = self.lock();
        if let Some(subscribers) = state.subscribers.get(&room_id) {
            let line: Arc<str> = line().into();
            for outbox in subscribers.values() {
                outbox.push(&line);
            }
        }
    }

    pub fn connection_count(&self) -> usize {
        self.lock().connections.len()
    }

    /// Refuses new connections and closes every open one.
    pub fn close_all(&self) {
        let mut state = self.lock();
        state.shutting_down = true;
        for connected in state.connections.values() {
            connected.outbox.close();
        }
    }

    /// Waits until every connection has left, or `timeout` passes. Returns
    /// how many are still there.
    pub fn wait_until_empty(&self, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        while !state.connections.is_empty() {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            state = match self.left.wait_timeout(state, deadline - now) {
                Ok((state, _)) => state,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        state.connections.len()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl State {
    fn log_out(&mut self, id: ConnId) {
        let Some(connected) = self.connections.get_mut(&id) else {
            return;
        };
        let rooms = std::mem::take(&mut connected.rooms);
        let user = connected.user.take();
        for room_id in rooms {
            self.remove_subscriber(room_id, id);
        }
        if let Some(user_id) = user
            && let Some(active) = self.active.get_mut(&user_id)
        {
            active.connections -= 1;
            if active.connections == 0 {
                self.active.remove(&user_id);
            }
        }
    }

    fn remove_subscriber(&mut self, room_id: i64, id: ConnId) {
        if let Some(subscribers) = self.subscribers.get_mut(&room_id) {
            subscribers.remove(&id);
            if subscribers.is_empty() {
                self.subscribers.remove(&room_id);
            }
        }
    }
}
