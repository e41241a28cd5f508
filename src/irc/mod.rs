//! The IRC front door: standard IRC clients (irssi, WeeChat, HexChat, ...)
//! in pipechat's rooms, with `--irc ADDR`.
//!
//! Rooms are channels (`#general` is the room `general`); identity comes
//! from pipechat accounts (SASL PLAIN or `PASS username:password`), or,
//! with `--irc-guests`, a guest's nick. Every rule is the chat core's: this
//! module only maps IRC onto its operations, and its events back onto IRC.
//!
//! - [`mod@line`]: the message grammar (tags, source, command, parameters),
//!   parsing and writing, and cutting texts into lines of 512 bytes. A
//!   small parser of our own rather than a crate: it is a few dozen lines,
//!   and the limits and errors (417, NUL, UTF-8) are the server's to decide.
//! - `caps`: the IRCv3 capabilities offered and negotiated.
//! - `commands`: a connection's state and the dispatch of every command,
//!   as calls into the core; by what they are about in `commands/`:
//!   `registration`, `channels`, `messages`, `users`.
//! - `history`: `CHATHISTORY`, from the store through the core's fetch.
//! - `render`: events as lines, rendered once per combination of
//!   capabilities that changes them.
//! - `connection`: the per-connection thread, and its `Peer`: the
//!   `Subscriber` that renders events for this client and queues them on the
//!   pipe front door's `Outbox`; and the one thread that completes a join
//!   made elsewhere with its topic and names (a delivery may not read the
//!   store or the hub).

pub(crate) mod caps;
pub(crate) mod commands;
pub(crate) mod connection;
pub(crate) mod history;
pub mod line;
pub(crate) mod render;
