//! The pipe front door: the line protocol over TCP.
//!
//! Bytes become lines ([`framing`]), lines become typed requests
//! ([`request`]), requests become calls into the chat core
//! (`commands`), and results and events become JSON lines (`reply`).
//! `connection` is the per-connection loop, which reads through `reader`
//! (the line timeout; IRC reads through it too); `outbox` gets replies and
//! events onto the socket without letting a slow client hold anyone up.

pub(crate) mod commands;
pub(crate) mod connection;
pub mod framing;
pub(crate) mod outbox;
pub(crate) mod reader;
pub mod reply;
pub mod request;
