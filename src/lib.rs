//! pipechat: a persistent, real-time chat server speaking a pipe-delimited
//! line protocol (see `../shared/protocol.md` and the README), with its
//! console client.
//!
//! # Layout
//!
//! The path of a request: [`server`] accepts a socket and spawns a thread
//! running [`connection`] → [`framing`] cuts lines → [`protocol`] parses a
//! typed `Request` → [`commands`] carries it out against [`store`] (reads) and
//! [`writer`] (writes, group-committed) → events fan out through [`hub`] into
//! each subscriber's [`outbox`].
//!
//! - [`protocol`]: the wire format: request parsing, escaping, reply and event lines.
//! - [`limits`]: the rules for names, passwords and message texts.
//! - [`framing`]: bytes to lines, with the line-length limit.
//! - [`server`]: the listening socket, connection limit, shutdown.
//! - [`connection`]: one client's thread: read loop, session, writes.
//! - [`commands`]: what each request does.
//! - [`error`]: every failure, mapped to a status and a sentence.
//! - [`example`]: builds the example database `chat.db.example`.
//! - [`accounts`]: Argon2id hashing (bounded) and login throttling.
//! - [`store`]: SQLite: opening, migrations, one function per query.
//! - [`writer`]: the single writer thread and its group commit.
//! - `store::checkpoint`: WAL checkpoints on their own thread, off the writer's path.
//! - [`hub`]: live state: active users, subscriptions, fan-out.
//! - [`outbox`]: getting replies and events onto a socket: direct non-blocking
//!   sends, a bounded queue per client, one flusher thread for full sockets.
//! - [`client`]: the console client (`pipechat-client`): menus, rooms, pushed
//!   events shown while typing; it uses only [`protocol`] from the server side.
//! - [`bench`]: `pipechat-bench`, load scenarios that measure a running server.

#![forbid(unsafe_code)]

pub mod accounts;
pub mod bench;
pub mod client;
pub mod commands;
pub mod connection;
pub mod error;
pub mod example;
pub mod framing;
pub mod hub;
pub mod limits;
pub mod outbox;
pub mod protocol;
pub mod server;
pub mod store;
pub mod writer;
