//! pipechat: a persistent, real-time chat server with a console client.
//!
//! MAP PLACEHOLDER

#![forbid(unsafe_code)]

pub mod bench;
pub mod chat;
pub mod client;
pub mod example;
pub mod pipe;
pub mod server;
pub mod store;
pub mod wire;
