//! What the core hands to front doors, and how: the [`Subscriber`] trait
//! each front door implements for its connections, and what goes through
//! it (a [`Delivery`] of an event, rendered once per front door however
//! many connections share it; a [`Notice`]; [`Presence`] news; a
//! [`ReadMarker`]); besides, what a front door learns of a connected user
//! ([`Live`]) and why a new connection is turned away ([`Refusal`]).

use std::any::TypeId;
use std::cell::RefCell;
use std::sync::Arc;

use super::session::{ConnId, Farewell};
use crate::wire::Event;

/// A front door's way of handing events to one of its connections.
pub(crate) trait Subscriber: Send + Sync {
    /// Queues an event for the connection, without blocking.
    fn deliver(&self, delivery: &Delivery<'_>);
    /// Ends the connection from outside its thread (shutdown): it takes no
    /// more requests, and its thread still answers those it took, some of
    /// which may be stored as it stops.
    fn close(&self);
    /// Ends the connection at once: at the shutdown, those still open once
    /// [`Subscriber::close`] had its time (a client that reads nothing
    /// holds its thread in a write until the write times out).
    fn close_now(&self) {
        self.close();
    }
    /// The connection's login was ended from elsewhere (a password change
    /// revoked its token). Front doors whose clients learn of it from their
    /// next request's `401` (pipe, WebSocket) need nothing more; those that
    /// have no logged-out state (IRC) end the connection.
    fn logged_out(&self) {}
    /// The connection's guest lost its nick and memberships (its server was
    /// taken for dead by the others sharing the database). Only IRC has
    /// guests; it ends the connection, and the client connects again.
    fn guest_lost(&self) {}
    /// Queues a live-only notice (never stored), without blocking. Front
    /// doors without such a thing (the pipe protocol) ignore it.
    fn notice(&self, _notice: &Notice) {}
    /// Queues news of a user who shares a room with this connection: online,
    /// offline, away, renamed. Front doors without presence ignore it.
    fn presence(&self, _presence: &Presence<'_>) {}
    /// Queues news that the user's read position moved, from any of their
    /// connections. Front doors whose protocol has no such news (the pipe,
    /// the WebSocket) ignore it; IRC passes it on as `MARKREAD`.
    fn read_marker(&self, _marker: &ReadMarker) {}
}

/// How far a user has read in one room or conversation, as a time (IRC's
/// `draft/read-marker` speaks of times; the core's positions are message
/// ids). Handed, in commit order, to each of the user's connections that
/// listen to their direct messages, as every IRC connection does, on every
/// server sharing the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReadMarker {
    /// The room's name as created, or `@name` for a conversation.
    pub(crate) place: String,
    /// When the newest message read was sent; `None`: none read yet.
    pub(crate) at: Option<String>,
}

/// A message delivered live to a room's subscribers or to a user's
/// connections, and never stored (IRC's NOTICE).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Notice {
    /// Its sender, as registered (or the guest's nick).
    pub(crate) from: String,
    pub(crate) guest: bool,
    pub(crate) to: NoticeTo,
    pub(crate) text: String,
    /// The connection that sent it, which sees it only if it listens.
    pub(crate) origin: ConnId,
}

/// Where a [`Notice`] goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NoticeTo {
    /// A room, by its name as created.
    Room(String),
    /// A user, by name as registered.
    User(String),
}

/// News of a user, handed to each connection that listens to one of the
/// user's rooms, once, with the rooms it listens to.
pub(crate) struct Presence<'a> {
    pub(crate) username: &'a str,
    pub(crate) guest: bool,
    pub(crate) change: &'a PresenceChange,
    /// The user's rooms this connection listens to, as created.
    pub(crate) rooms: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PresenceChange {
    /// The user's first connection logged in.
    Online,
    /// The user's last connection ended or logged out, maybe saying why.
    Offline { reason: Option<Farewell> },
    /// The user went away with this message, or came back (`None`).
    Away(Option<String>),
    /// A guest took another nick.
    Renamed { new: String },
}

/// What the hub knows of a user who is connected now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Live {
    /// The user's id; 0 for a user known only to be connected to another
    /// server (PostgreSQL).
    pub(crate) id: i64,
    pub(crate) username: String,
    pub(crate) guest: bool,
    pub(crate) away: Option<String>,
}

/// How a front door turns an event into bytes. Each rendering is made at most
/// once per event, however many subscribers share it.
pub trait Rendering: 'static {
    fn render(event: &Event) -> Vec<u8>;
}

/// One event on its way to its subscribers.
pub(crate) struct Delivery<'a> {
    event: &'a Event,
    rendered: RefCell<Vec<(TypeId, Arc<[u8]>)>>,
    /// Whether the user the event is about (joiner, leaver, topic setter) is
    /// a guest.
    pub(super) by_guest: bool,
    /// For an exit: its user is no longer connected (a guest's memberships
    /// ending with its connection), so a front door that announced the
    /// disconnect may say nothing more.
    pub(super) departed: bool,
    /// For an exit: the reason its user gave, if any.
    pub(super) reason: Option<String>,
}

impl<'a> Delivery<'a> {
    pub(crate) fn new(event: &'a Event) -> Delivery<'a> {
        Delivery {
            event,
            rendered: RefCell::new(Vec::new()),
            by_guest: false,
            departed: false,
            reason: None,
        }
    }

    /// The event itself, for front doors that render it per connection.
    pub(crate) fn event(&self) -> &Event {
        self.event
    }

    /// Whether the user a join, exit or topic event is about is a guest.
    pub(crate) fn by_guest(&self) -> bool {
        self.by_guest
    }

    /// Whether an exit happened because its user disconnected.
    pub(crate) fn departed(&self) -> bool {
        self.departed
    }

    /// The reason given for an exit.
    pub(crate) fn reason(&self) -> Option<&str> {
        self.reason.as_deref()
    }

    /// The event in the rendering `R`, made on first use and then shared.
    pub(crate) fn rendered<R: Rendering>(&self) -> Arc<[u8]> {
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
pub(crate) enum Refusal {
    /// `--max-connections` are connected.
    Full,
    /// `--max-connections-per-address` are connected from the client's
    /// address.
    FromAddress,
    ShuttingDown,
}

impl Refusal {
    /// What the turned-away client is told, in every front door's framing.
    pub(crate) fn sentence(self) -> &'static str {
        match self {
            Refusal::Full => "the server is full; try again later",
            Refusal::FromAddress => {
                "too many connections from your address; close some and try again"
            }
            Refusal::ShuttingDown => "the server is shutting down",
        }
    }
}
