//! Who a connection is: one structure per connection, whatever its front door.
//!
//! The identity (the logged-in user) is changed only by the hub, under the
//! hub's lock and together with the presence it implies, so "who this
//! connection is" and "who is active" can never disagree.

use std::net::IpAddr;
use std::sync::Arc;

use parking_lot::Mutex;

use super::hub::Subscriber;
use crate::store::User;

/// Identifies one accepted connection for the life of the process.
pub(crate) type ConnId = u64;

/// One connection as the chat core knows it.
pub(crate) struct Session {
    id: ConnId,
    peer: IpAddr,
    subscriber: Arc<dyn Subscriber>,
    user: Mutex<Option<User>>,
}

impl Session {
    pub(super) fn new(id: ConnId, peer: IpAddr, subscriber: Arc<dyn Subscriber>) -> Session {
        Session {
            id,
            peer,
            subscriber,
            user: Mutex::new(None),
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
        self.user.lock().clone()
    }

    pub(super) fn subscriber(&self) -> &Arc<dyn Subscriber> {
        &self.subscriber
    }

    /// Only the hub calls this, under its lock.
    pub(super) fn set_user(&self, user: Option<User>) -> Option<User> {
        std::mem::replace(&mut *self.user.lock(), user)
    }
}
