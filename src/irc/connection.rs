//! One IRC client's thread: its read loop, and the [`Peer`] through which
//! the chat's events reach its socket.
//!
//! As in the pipe front door, the thread blocks reading its socket, and
//! events reach the socket through the connection's `Outbox` (bounded,
//! non-blocking; a client that stops reading is disconnected) without this
//! thread. Unlike the pipe, each event is rendered for the capabilities this
//! client negotiated, so the `Subscriber` is the [`Peer`], which knows them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::caps::{self, Caps};
use super::commands::{Client, burst_lines, not_a_channel_notice};
use super::line::{Line, MAX_LINE_BYTES};
use super::render::{self, SERVER, channel_of, hostmask, is_channel, user_line};
use crate::chat::{
    Chat, Delivery, Notice, NoticeTo, Presence, PresenceChange, ReadMarker, Session, Subscriber,
    room_key,
};
use crate::pipe::framing::{Frame, LineReader};
use crate::pipe::outbox::{MAX_QUEUED_BYTES, Outbox};
use crate::pipe::reader::{ReadEnd, TimedReader, is_timeout};
use crate::wire::{Deleted, Event};

/// The connection's side of fan-out: what it negotiated, who it is, and
/// what its own thread is doing that an event must not repeat.
pub(crate) struct Peer {
    outbox: Arc<Outbox>,
    /// Itself, for the burst thread.
    me: Weak<Peer>,
    /// Where a join made elsewhere goes for the rest of its burst.
    bursts: Sender<(Weak<Peer>, String)>,
    caps: AtomicU32,
    /// The chat's id of this connection, once admitted.
    session_id: AtomicU64,
    /// Why the server is closing this connection (shutdown, or its login
    /// ended elsewhere), once it is.
    closing: Mutex<Option<&'static str>>,
    state: Mutex<PeerState>,
}

#[derive(Default)]
struct PeerState {
    /// The current nick, once registered.
    nick: Option<String>,
    /// Whether that nick is a guest's: an account made later with the
    /// same name is someone else (see [`Peer::is_me`]).
    guest: bool,
    /// An operation of this connection under way whose own event it
    /// answers itself (with its label): the event is not repeated.
    own: Option<Own>,
    /// The delete event of this connection's own REDACT, for its answer.
    deleted: Option<Deleted>,
    /// Rooms (by [`room_key`]) being joined: their events wait until the
    /// join's burst is out.
    holding: HashMap<String, Vec<Arc<[u8]>>>,
    /// While the welcome (001 to the MOTD) is being written: every event,
    /// with its room, so that none goes out before 001.
    before_welcome: Option<Vec<HeldEvent>>,
    /// The bytes in `holding` and `before_welcome`, bounded as the outbox's
    /// queue is.
    held_bytes: usize,
    /// Rooms its user joined or left elsewhere (another connection, another
    /// front door), in order, for the connection's thread to bring its own
    /// list of channels up to date ([`Peer::take_moves`]).
    moves: Vec<Move>,
    /// The owner (an account) of each room it is in, by [`room_key`]:
    /// their JOIN is followed by `MODE +o`.
    owners: HashMap<String, String>,
}

/// An event held back, with the room it is about (none for a direct one).
type HeldEvent = (Option<String>, Arc<[u8]>);

/// Its user joined or left a room elsewhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Move {
    /// Joined the room (as created).
    In(String),
    /// Left the room.
    Out(String),
}

/// This connection's operation under way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Own {
    /// A message to a room or user with this text. Names here are keys
    /// ([`room_key`]): the event names the room as created, whatever
    /// spelling the command used.
    Send { place: String, text: String },
    /// Leaving a room.
    Part { room: String },
    /// Setting a room's topic.
    Topic { room: String },
    /// Joining a room.
    Join { room: String },
    /// Deleting a message (REDACT): its delete event is kept for the
    /// answer ([`Peer::take_deleted`]).
    Delete { id: i64 },
    /// Moving the read marker of a room or `@user`: the answer tells it.
    MarkRead { place: String },
}

impl Peer {
    /// Ends the client's input, remembering why for the goodbye (the first
    /// reason given wins).
    fn close_for(&self, reason: &'static str) {
        self.closing.lock().get_or_insert(reason);
        self.outbox.shut_reading();
    }

    pub(crate) fn new(outbox: Arc<Outbox>, bursts: Sender<(Weak<Peer>, String)>) -> Arc<Peer> {
        Arc::new_cyclic(|me| Peer {
            outbox,
            me: me.clone(),
            bursts,
            caps: AtomicU32::new(0),
            session_id: AtomicU64::new(0),
            closing: Mutex::new(None),
            state: Mutex::new(PeerState::default()),
        })
    }

    pub(crate) fn caps(&self) -> Caps {
        Caps(self.caps.load(Ordering::Acquire))
    }

    pub(crate) fn set_caps(&self, caps: Caps) {
        self.caps.store(caps.0, Ordering::Release);
    }

    fn set_session_id(&self, id: u64) {
        self.session_id.store(id, Ordering::Release);
    }

    pub(crate) fn set_nick(&self, nick: &str, guest: bool) {
        let mut state = self.state.lock();
        state.nick = Some(nick.to_string());
        state.guest = guest;
    }

    /// Marks an operation of this connection as under way; its own event
    /// is then left to the operation.
    pub(crate) fn begin(&self, own: Own) {
        self.state.lock().own = Some(own);
    }

    pub(crate) fn end(&self) {
        self.state.lock().own = None;
    }

    /// Holds back events of `room` until [`Peer::release`].
    pub(crate) fn hold(&self, room: &str) {
        self.state.lock().holding.entry(room_key(room)).or_default();
    }

    /// As [`Peer::hold`], unless `place` is held already (a join under
    /// way, whose release must stay its own); whether this holds it.
    pub(crate) fn hold_if_free(&self, place: &str) -> bool {
        let mut state = self.state.lock();
        let key = room_key(place);
        if state.holding.contains_key(&key) {
            return false;
        }
        state.holding.insert(key, Vec::new());
        true
    }

    /// Holds back every event until [`Peer::welcomed`]: the welcome is
    /// written when the command that registered ends, and events may come
    /// from the moment the connection follows its user's rooms.
    pub(crate) fn hold_until_welcomed(&self) {
        self.state
            .lock()
            .before_welcome
            .get_or_insert_with(Vec::new);
    }

    /// Sends what came before the welcome was written, each as it would
    /// have gone then (events of a room being joined still wait for it).
    /// Under the lock, as [`Peer::release`]: an event delivered meanwhile
    /// goes after them.
    pub(crate) fn welcomed(&self) {
        let mut state = self.state.lock();
        let Some(held) = state.before_welcome.take() else {
            return;
        };
        for (room, bytes) in held {
            let joining = room
                .map(|room| room_key(&room))
                .and_then(|room| state.holding.get_mut(&room));
            match joining {
                // Still counted in `held_bytes`.
                Some(joining) => joining.push(bytes),
                None => {
                    state.held_bytes -= bytes.len();
                    self.outbox.push(&bytes);
                }
            }
        }
    }

    /// Sends what was held back for `room`, after the join's own lines.
    /// Pushed under the lock: an event delivered meanwhile (which takes it to
    /// see whether its room is held) goes after them, not between.
    pub(crate) fn release(&self, room: &str) {
        let mut state = self.state.lock();
        let Some(held) = state.holding.remove(&room_key(room)) else {
            return;
        };
        for bytes in held {
            state.held_bytes -= bytes.len();
            self.outbox.push(&bytes);
        }
    }

    /// Writes lines from the connection's own thread (replies).
    pub(crate) fn write(&self, bytes: &[u8]) -> std::io::Result<()> {
        self.outbox.write(bytes)
    }

    /// Queues lines about `room` (or about no room), held back while the
    /// room is being joined.
    fn push(&self, room: Option<&str>, bytes: Arc<[u8]>) {
        if bytes.is_empty() {
            return;
        }
        let mut state = self.state.lock();
        let length = bytes.len();
        if let Some(before_welcome) = &mut state.before_welcome {
            before_welcome.push((room.map(str::to_string), bytes));
        } else if let Some(room) = room
            // Most of the time nothing is held: no folding then.
            && !state.holding.is_empty()
            && let Some(held) = state.holding.get_mut(&room_key(room))
        {
            held.push(bytes);
        } else {
            drop(state);
            self.outbox.push(&bytes);
            return;
        }
        state.held_bytes += length;
        if state.held_bytes > MAX_QUEUED_BYTES {
            // As for a queue that overflows: the client is dropped.
            state.holding.clear();
            state.before_welcome = None;
            state.held_bytes = 0;
            drop(state);
            log::warn!("disconnecting an IRC client: events held back overflowed");
            self.outbox.close();
        }
    }

    /// Whether an event's user is this connection's: the same name, and
    /// both guests or both accounts. A guest keeps its nick when an account
    /// is made with that name (`add-user` beside the server cannot see
    /// guests), and the two are different people.
    fn is_me(&self, name: &str, guest: bool) -> bool {
        let state = self.state.lock();
        state.guest == guest
            && state
                .nick
                .as_deref()
                .is_some_and(|nick| nick.eq_ignore_ascii_case(name))
    }

    /// The rooms this connection's user joined or left elsewhere since the
    /// last call, in order.
    pub(crate) fn take_moves(&self) -> Vec<Move> {
        std::mem::take(&mut self.state.lock().moves)
    }

    /// Remembers the owner (an account) of a room the client is in.
    pub(crate) fn set_owner(&self, room: &str, owner: String) {
        self.state.lock().owners.insert(room_key(room), owner);
    }

    /// `MODE #channel +o nick` when `nick` is the owner of `room`: what a
    /// server's services say as a channel's founder joins.
    fn op_line(&self, room: &str, channel: &str, nick: &str, guest: bool) -> Option<Line> {
        let state = self.state.lock();
        let owner = state.owners.get(&room_key(room))?;
        (!guest && owner.eq_ignore_ascii_case(nick)).then(|| {
            Line::new(
                "MODE",
                vec![channel.to_string(), "+o".into(), nick.to_string()],
            )
            .with_source(SERVER)
        })
    }

    /// The rest of a join made elsewhere: the topic and names, then the
    /// room's events held back meanwhile. On the burst thread.
    fn burst(&self, chat: &Chat, room: &str) {
        let nick = self.state.lock().nick.clone();
        if let Some(nick) = nick {
            let reader = match self.caps().has(caps::READ_MARKER) {
                true => chat.find_user(&nick).ok(),
                false => None,
            };
            let burst = burst_lines(chat, &nick, room, reader.as_ref());
            if let Some(owner) = burst.owner {
                self.set_owner(room, owner);
            }
            self.outbox.push(&render::to_bytes(&burst.lines).into());
        }
        self.release(room);
    }

    /// The delete event of this connection's own REDACT, once delivered.
    pub(crate) fn take_deleted(&self) -> Option<Deleted> {
        self.state.lock().deleted.take()
    }

    /// Takes the operation under way if `own` is it.
    fn take_own(&self, own: &Own) -> bool {
        let mut state = self.state.lock();
        if state.own.as_ref() == Some(own) {
            state.own = None;
            true
        } else {
            false
        }
    }
}

impl Subscriber for Peer {
    fn deliver(&self, delivery: &Delivery<'_>) {
        let caps = self.caps();
        let event = delivery.event();
        match event {
            Event::Message(message) => {
                if message
                    .room
                    .as_deref()
                    .is_some_and(|room| !is_channel(room))
                {
                    return;
                }
                if self.is_me(&message.username, message.guest) {
                    let place = match (&message.room, &message.to) {
                        (Some(room), _) => room_key(room),
                        (None, Some(to)) => to.to_ascii_lowercase(),
                        (None, None) => String::new(),
                    };
                    let own = Own::Send {
                        place,
                        text: message.text.clone(),
                    };
                    if self.take_own(&own) {
                        return;
                    }
                }
                self.push(
                    message.room.as_deref(),
                    render::shared(delivery, render::flags(caps)),
                );
            }
            Event::Edit(_) | Event::Delete(_) => {
                if event.room().is_some_and(|room| !is_channel(room)) {
                    return;
                }
                if let Event::Delete(deleted) = event
                    && self.take_own(&Own::Delete { id: deleted.id })
                {
                    // The REDACT's answer (with its label) is the echo.
                    self.state.lock().deleted = Some(deleted.clone());
                    return;
                }
                self.push(event.room(), render::shared(delivery, render::flags(caps)));
            }
            Event::Join(membership) => {
                // This connection's own JOIN answers itself; a join of its
                // user made elsewhere puts it in the channel too.
                let mine = self.is_me(&membership.username, delivery.by_guest());
                if mine
                    && self.take_own(&Own::Join {
                        room: room_key(&membership.room),
                    })
                {
                    return;
                }
                let Some(channel) = channel_of(&membership.room) else {
                    // Its user joined, elsewhere, a room that cannot be a
                    // channel: told why, once; nothing of it follows.
                    // The nick is taken first: `push` takes the lock too.
                    let nick = self.state.lock().nick.clone();
                    if mine && let Some(nick) = nick {
                        let notice = not_a_channel_notice(&nick, &membership.room);
                        self.push(None, render::to_bytes(&[notice]).into());
                    }
                    return;
                };
                let mut lines = vec![user_line(
                    caps,
                    &membership.username,
                    delivery.by_guest(),
                    "JOIN",
                    vec![channel.clone()],
                )];
                if !mine {
                    lines.extend(self.op_line(
                        &membership.room,
                        &channel,
                        &membership.username,
                        delivery.by_guest(),
                    ));
                }
                self.push(Some(&membership.room), render::to_bytes(&lines).into());
                if mine {
                    // Joined elsewhere: the topic and names follow from the
                    // burst thread (they are read from the store and the
                    // hub, which a delivery may not do); the room's events
                    // wait for them.
                    self.state
                        .lock()
                        .moves
                        .push(Move::In(membership.room.clone()));
                    self.hold(&membership.room);
                    if self
                        .bursts
                        .send((self.me.clone(), membership.room.clone()))
                        .is_err()
                    {
                        self.release(&membership.room);
                    }
                }
            }
            Event::Exit(membership) => {
                if delivery.departed() {
                    // Its QUIT said it all.
                    return;
                }
                let mine = self.is_me(&membership.username, delivery.by_guest());
                if mine {
                    if self.take_own(&Own::Part {
                        room: room_key(&membership.room),
                    }) {
                        return;
                    }
                    self.state
                        .lock()
                        .moves
                        .push(Move::Out(membership.room.clone()));
                }
                let Some(channel) = channel_of(&membership.room) else {
                    return;
                };
                let mut params = vec![channel];
                params.extend(delivery.reason().map(str::to_string));
                let line = user_line(
                    caps,
                    &membership.username,
                    delivery.by_guest(),
                    "PART",
                    params,
                );
                self.push(Some(&membership.room), render::to_bytes(&[line]).into());
            }
            Event::Topic(topic) => {
                if self.is_me(&topic.username, delivery.by_guest())
                    && self.take_own(&Own::Topic {
                        room: room_key(&topic.room),
                    })
                {
                    return;
                }
                let Some(channel) = channel_of(&topic.room) else {
                    return;
                };
                let line = user_line(
                    caps,
                    &topic.username,
                    delivery.by_guest(),
                    "TOPIC",
                    vec![channel, topic.topic.clone()],
                );
                self.push(Some(&topic.room), render::to_bytes(&[line]).into());
            }
        }
    }

    /// Ends the client's input; its thread then says goodbye (ERROR) in
    /// order after whatever it was writing, and closes.
    fn close(&self) {
        self.close_for("the server is shutting down");
    }

    /// An IRC client cannot be logged out and stay connected: the connection
    /// ends, as at shutdown.
    fn logged_out(&self) {
        self.close_for("logged out, the password was changed");
    }

    fn guest_lost(&self) {
        self.close_for(
            "this server lost the database for a while, and your nick and channels with it; \
             connect again",
        );
    }

    fn notice(&self, notice: &Notice) {
        if notice.origin == self.session_id.load(Ordering::Acquire) {
            // The sender's own thread echoes it, if asked to.
            return;
        }
        let caps = self.caps();
        let (room, target) = match &notice.to {
            NoticeTo::Room(room) => match channel_of(room) {
                Some(channel) => (Some(room.as_str()), channel),
                None => return,
            },
            NoticeTo::User(user) => (None, user.clone()),
        };
        let lines = notice_lines(caps, notice, &target, None);
        self.push(room, render::to_bytes(&lines).into());
    }

    /// A read position moved on another of the user's connections (or by
    /// another front door): `MARKREAD`, for clients that asked for it.
    fn read_marker(&self, marker: &ReadMarker) {
        let own = Own::MarkRead {
            place: room_key(&marker.place),
        };
        if !self.caps().has(caps::READ_MARKER) || self.take_own(&own) {
            return;
        }
        let Some(target) = render::target_of_place(&marker.place) else {
            return;
        };
        let line = render::markread_line(&target, marker.at.as_deref());
        // Keyed by its place, `@nick` too: held while a MARKREAD of the
        // same place is answered.
        self.push(Some(&marker.place), render::to_bytes(&[line]).into());
    }

    fn presence(&self, presence: &Presence<'_>) {
        let caps = self.caps();
        let lines: Vec<Line> = match presence.change {
            PresenceChange::Online => presence
                .rooms
                .iter()
                .filter_map(|room| Some((room, channel_of(room)?)))
                .flat_map(|(room, channel)| {
                    let join = user_line(
                        caps,
                        presence.username,
                        presence.guest,
                        "JOIN",
                        vec![channel.clone()],
                    );
                    let op = self.op_line(room, &channel, presence.username, presence.guest);
                    std::iter::once(join).chain(op)
                })
                .collect(),
            PresenceChange::Offline { reason } => vec![user_line(
                caps,
                presence.username,
                presence.guest,
                "QUIT",
                vec![render::quit_reason(reason.as_ref())],
            )],
            PresenceChange::Away(message) => {
                if !caps.has(caps::AWAY_NOTIFY) {
                    return;
                }
                vec![user_line(
                    caps,
                    presence.username,
                    presence.guest,
                    "AWAY",
                    message.iter().cloned().collect(),
                )]
            }
            PresenceChange::Renamed { new } => vec![user_line(
                caps,
                presence.username,
                presence.guest,
                "NICK",
                vec![new.clone()],
            )],
        };
        self.push(None, render::to_bytes(&lines).into());
    }
}

/// Starts the thread that completes joins made elsewhere (see
/// [`Peer::burst`]); it ends when the last sender is dropped.
///
/// # Errors
///
/// The thread could not be started.
pub(crate) fn start_bursts(chat: &Arc<Chat>) -> std::io::Result<Sender<(Weak<Peer>, String)>> {
    let (sender, receiver) = std::sync::mpsc::channel::<(Weak<Peer>, String)>();
    let chat = Arc::downgrade(chat);
    std::thread::Builder::new()
        .name("irc-bursts".to_string())
        .spawn(move || {
            for (peer, room) in receiver {
                let (Some(peer), Some(chat)) = (peer.upgrade(), chat.upgrade()) else {
                    continue;
                };
                peer.burst(&chat, &room);
            }
        })?;
    Ok(sender)
}

/// A notice as lines (cut to fit), from its sender to `target`.
pub(crate) fn notice_lines(
    caps: Caps,
    notice: &Notice,
    target: &str,
    label: Option<&str>,
) -> Vec<Line> {
    let source = hostmask(&notice.from, notice.guest);
    let budget = super::line::MAX_BODY_BYTES - 2 - (source.len() + target.len() + 12);
    super::line::split_text(&notice.text, budget)
        .into_iter()
        .enumerate()
        .map(|(index, (text, _))| {
            let mut line = user_line(
                caps,
                &notice.from,
                notice.guest,
                "NOTICE",
                vec![target.to_string(), text.to_string()],
            );
            if index == 0
                && let Some(label) = label
            {
                line = line.with_tag("label", label);
            }
            line
        })
        .collect()
}

/// Why the read loop ended.
enum Ending {
    Read(ReadEnd),
    Quit,
}

/// One IRC connection: its socket, and the client state its commands
/// change.
pub(crate) struct Connection {
    reader: TimedReader,
    client: Client,
    lines: LineReader,
    /// How long the client may take to register, and, once registered, to
    /// send anything before it is sent a PING, then to answer it.
    ping: Duration,
}

impl Connection {
    pub(crate) fn new(
        reader: TimedReader,
        peer: Arc<Peer>,
        chat: Arc<Chat>,
        session: Arc<Session>,
        guests: bool,
        ping: Duration,
    ) -> Connection {
        peer.set_session_id(session.id());
        Connection {
            reader,
            client: Client::new(chat, session, peer, guests),
            lines: LineReader::with_limit(MAX_LINE_BYTES),
            ping,
        }
    }

    /// Serves the client until it leaves (the caller holds its
    /// [`crate::chat::Admitted`], which then forgets it).
    pub(crate) fn run(mut self) {
        let stream = Arc::clone(self.reader.link().stream());
        let peer = stream
            .peer_addr()
            .map_or_else(|_| "an IRC client".to_string(), |addr| addr.to_string());
        log::debug!("{peer}: IRC client connected");
        let mut dropped = None;
        match self.serve() {
            Ending::Read(ReadEnd::Idle) if !self.client.registered() => {
                log::info!(
                    "{peer}: dropped, it did not register within {:?}",
                    self.ping
                );
                dropped = Some("Registration timed out".to_string());
            }
            Ending::Read(ReadEnd::Idle) => {
                log::info!(
                    "{peer}: dropped, it answered no PING within {:?}",
                    self.ping
                );
                let reason = format!("Ping timeout: {} seconds", self.ping.as_secs());
                self.client.dropped(reason.clone());
                dropped = Some(reason);
            }
            Ending::Read(ReadEnd::ClientClosed) => log::debug!("{peer}: IRC client disconnected"),
            Ending::Quit => log::debug!("{peer}: IRC client quit"),
            Ending::Read(ReadEnd::LineTimedOut) => log::info!(
                "{peer}: dropped, a line stayed unfinished for {:?}",
                self.reader.line_timeout()
            ),
            Ending::Read(ReadEnd::Io(err)) if is_timeout(&err) => log::info!(
                "{peer}: dropped, it took none of a reply for {:?}",
                self.reader.line_timeout()
            ),
            Ending::Read(ReadEnd::Io(err)) => log::debug!("{peer}: IRC connection ended: {err}"),
        }
        let closing = *self.client.peer().closing.lock();
        if let Some(reason) = dropped.as_deref().or(closing) {
            let error = Line::new("ERROR", vec![format!("Closing link: {reason}")]);
            let _ = self.client.peer().write(error.to_wire().as_bytes());
        }
        self.client.peer().outbox.close();
        let _ = stream.shutdown(std::net::Shutdown::Both);
    }

    /// Reads and handles the client's lines until it leaves or is dropped:
    /// it must register within the ping interval; once registered, when it
    /// sends nothing for that long it is sent a PING, and when it then
    /// sends nothing for that long again it ends in [`ReadEnd::Idle`].
    fn serve(&mut self) -> Ending {
        let mut chunk = [0u8; crate::pipe::reader::READ_CHUNK];
        let mut deadline = Instant::now() + self.ping;
        let mut pinged = false;
        loop {
            let read = match self.reader.read_by(&mut chunk, deadline) {
                Ok(read) => read,
                Err(ReadEnd::Idle) if self.client.registered() && !pinged => {
                    if let Err(err) = self.client.peer().write(ping_line().as_bytes()) {
                        return Ending::Read(ReadEnd::Io(err));
                    }
                    pinged = true;
                    deadline = Instant::now() + self.ping;
                    continue;
                }
                Err(end) => return Ending::Read(end),
            };
            let Connection { lines, client, .. } = self;
            let mut failed = None;
            lines.feed(&chunk[..read], |frame| {
                if failed.is_some() || client.quitting() {
                    return;
                }
                if let Err(err) = client.frame(frame) {
                    failed = Some(err);
                }
            });
            if let Some(err) = failed {
                return Ending::Read(ReadEnd::Io(err));
            }
            if self.client.quitting() {
                return Ending::Quit;
            }
            self.reader.fed(&chunk[..read], self.lines.in_line());
            // Anything from a registered client shows it is there.
            if self.client.registered() {
                deadline = Instant::now() + self.ping;
                pinged = false;
            }
        }
    }
}

/// The keep-alive the server sends a client that has been quiet.
fn ping_line() -> String {
    Line::new("PING", vec![SERVER.into()])
        .with_source(SERVER)
        .to_wire()
}

/// The line refusing a connection the chat would not admit.
pub(crate) fn refusal(reason: &str) -> String {
    Line::new("ERROR", vec![format!("Closing link: {reason}")])
        .with_source(SERVER)
        .to_wire()
}

/// The lines a frame of bytes holds (a CR ends one too); `None` for a line
/// too long to be read, which has none.
pub(crate) fn split_frame(frame: Frame<'_>) -> Option<Vec<&[u8]>> {
    match frame {
        Frame::TooLong => None,
        Frame::Line(bytes) => Some(
            bytes
                .split(|&b| b == b'\r')
                .filter(|piece| !piece.iter().all(|&b| b == b' '))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;
    use crate::pipe::outbox::tests::pair;

    fn peer() -> (Arc<Peer>, std::net::TcpStream) {
        let (outbox, client) = pair();
        let (bursts, _) = std::sync::mpsc::channel();
        (Peer::new(outbox, bursts), client)
    }

    /// Events of a room being joined wait for its burst; others go at once.
    #[test]
    fn events_held_for_a_join_follow_its_burst() {
        let (peer, mut client) = peer();
        peer.hold("General");
        peer.push(Some("general"), Arc::from(&b"held 1\n"[..]));
        peer.push(Some("random"), Arc::from(&b"free\n"[..]));
        peer.push(Some("GENERAL"), Arc::from(&b"held 2\n"[..]));
        peer.outbox.push(&Arc::from(&b"burst\n"[..]));
        peer.release("general");
        peer.push(Some("general"), Arc::from(&b"after\n"[..]));
        let expected = b"free\nburst\nheld 1\nheld 2\nafter\n";
        let mut got = vec![0; expected.len()];
        client.read_exact(&mut got).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(expected)
        );
    }

    /// Nothing goes out before the welcome: what came meanwhile follows it,
    /// a room being joined still waiting for its burst.
    #[test]
    fn events_before_the_welcome_follow_it() {
        let (peer, mut client) = peer();
        peer.hold_until_welcomed();
        peer.hold("general");
        peer.push(Some("random"), Arc::from(&b"random\n"[..]));
        peer.push(Some("general"), Arc::from(&b"held\n"[..]));
        peer.push(None, Arc::from(&b"direct\n"[..]));
        peer.outbox.push(&Arc::from(&b"001\n"[..]));
        peer.welcomed();
        peer.push(None, Arc::from(&b"after\n"[..]));
        peer.release("general");
        let expected = b"001\nrandom\ndirect\nafter\nheld\n";
        let mut got = vec![0; expected.len()];
        client.read_exact(&mut got).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(expected)
        );
        assert_eq!(peer.state.lock().held_bytes, 0);
    }

    /// What is held for a join is bounded as a client's queue is: past
    /// the limit the client is dropped.
    #[test]
    fn events_held_past_the_limit_drop_the_client() {
        let (peer, _client) = peer();
        peer.hold("general");
        let event: Arc<[u8]> = vec![b'x'; 64 * 1024].into();
        for _ in 0..MAX_QUEUED_BYTES / event.len() {
            peer.push(Some("general"), Arc::clone(&event));
        }
        assert!(peer.outbox.push(&Arc::from(&b"still open\n"[..])));
        peer.push(Some("general"), Arc::clone(&event));
        assert!(!peer.outbox.push(&Arc::from(&b"closed\n"[..])));
        assert_eq!(peer.state.lock().held_bytes, 0);
    }
}
