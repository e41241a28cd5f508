//! Who a connection is: one structure per connection, whatever its front door.
//!
//! The identity (the logged-in user) is changed only by the hub, under the
//! hub's lock and together with the presence it implies, so "who this
//! connection is" and "who is active" can never disagree.

use std::net::IpAddr;
use std::sync::Arc;

use parking_lot::Mutex;

use super::subscriber::Subscriber;
use crate::store::{TokenHash, User};

/// Identifies one accepted connection for the life of the process.
pub(crate) type ConnId = u64;

/// One connection as the chat core knows it.
pub(crate) struct Session {
    id: ConnId,
    peer: IpAddr,
    subscriber: Arc<dyn Subscriber>,
    identity: Mutex<Option<Identity>>,
    /// Why the connection ended, for the others to hear.
    farewell: Mutex<Option<Farewell>>,
    /// Whether the connection listens to every room its user joins, from
    /// wherever (IRC: a user is in the channels of their rooms), and which
    /// of those rooms it can show (IRC: those whose name can be a channel).
    follows: std::sync::OnceLock<fn(&str) -> bool>,
}

/// Why a connection ended, as its user's others hear it (IRC's QUIT).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Farewell {
    /// What the client said as it left (IRC's QUIT message).
    Said(String),
    /// The client left saying nothing (a QUIT without a message).
    Quit,
    /// Why the server dropped it (it stopped answering).
    Dropped(String),
}

/// Who a logged-in connection is, and the resume token its login issued or
/// resumed (the one `/logout` revokes).
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    pub(crate) user: User,
    pub(crate) token: Option<TokenHash>,
}

impl Session {
    pub(super) fn new(id: ConnId, peer: IpAddr, subscriber: Arc<dyn Subscriber>) -> Session {
        Session {
            id,
            peer,
            subscriber,
            identity: Mutex::new(None),
            farewell: Mutex::new(None),
            follows: std::sync::OnceLock::new(),
        }
    }

    pub(crate) fn id(&self) -> ConnId {
        self.id
    }

    /// The client's address, which the login throttle counts by.
    pub(crate) fn peer(&self) -> IpAddr {
        self.peer
    }

    /// Who this connection is logged in as.
    pub(crate) fn user(&self) -> Option<User> {
        self.identity
            .lock()
            .as_ref()
            .map(|identity| identity.user.clone())
    }

    /// Whether this connection is a guest's.
    pub(crate) fn is_guest(&self) -> bool {
        self.identity
            .lock()
            .as_ref()
            .is_some_and(|identity| identity.user.guest)
    }

    /// From now on the connection listens to every room its user joins,
    /// through any front door, as soon as the join is committed, if
    /// `shows(room name)`. Of a join to a room it does not show, it hears
    /// the join alone (to tell its client why nothing follows).
    pub(crate) fn follow_memberships(&self, shows: fn(&str) -> bool) {
        let _ = self.follows.set(shows);
    }

    /// Whether the connection follows its user's memberships: `None` when it
    /// does not, else whether it shows `room`.
    pub(crate) fn follows_into(&self, room: &str) -> Option<bool> {
        self.follows.get().map(|shows| shows(room))
    }

    /// Keeps why the connection ends, for the others to hear.
    pub(crate) fn set_farewell(&self, farewell: Option<Farewell>) {
        *self.farewell.lock() = farewell;
    }

    pub(crate) fn take_farewell(&self) -> Option<Farewell> {
        self.farewell.lock().take()
    }

    /// Only the hub calls this, under its lock: a guest's new nick.
    pub(super) fn rename(&self, nick: &str) {
        if let Some(identity) = self.identity.lock().as_mut() {
            identity.user.username = nick.to_string();
        }
    }

    /// The resume token of this connection's login.
    pub(crate) fn token(&self) -> Option<TokenHash> {
        self.identity
            .lock()
            .as_ref()
            .and_then(|identity| identity.token)
    }

    /// Adopts a new token for the same login (a password change), returning
    /// the one it replaces.
    pub(crate) fn replace_token(&self, token: Option<TokenHash>) -> Option<TokenHash> {
        match self.identity.lock().as_mut() {
            Some(identity) => std::mem::replace(&mut identity.token, token),
            None => None,
        }
    }

    pub(super) fn subscriber(&self) -> &Arc<dyn Subscriber> {
        &self.subscriber
    }

    /// Only the hub calls this, under its lock.
    pub(super) fn set_identity(&self, identity: Option<Identity>) -> Option<Identity> {
        std::mem::replace(&mut *self.identity.lock(), identity)
    }
}
