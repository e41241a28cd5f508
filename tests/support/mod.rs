//! Shared by every integration test: start the real `pipechat-server` binary on
//! a temporary database and talk to it as a client would (TCP, TLS,
//! WebSocket, IRC, the console client).
//!
//! - `server`: the server process (start, restart, signals, its database).
//! - `protocol`: what every protocol client shares, whatever its transport.
//! - `client`: a protocol client over TCP.
//! - `console`: the console client process, as a user or a script drives it.
//! - `web`: a WebSocket client on `/ws` and plain HTTP requests.
//! - `tls`: certificates made at test time, and a protocol client over TLS.
//! - `programs`: other programs a test drives (irssi, WeeChat), and
//!   skipping without them.
//! - `folding`: rooms that only lower case kept apart, as an older database
//!   holds them, for the migration that folds names.

#![allow(dead_code)]

mod client;
mod console;
pub mod folding;
mod irc;
pub mod postgres;
mod programs;
mod protocol;
mod server;
mod tls;
mod web;

use std::time::{Duration, Instant};

use serde_json::Value;

// Not every test file uses every part.
#[allow(unused_imports)]
pub use client::Client;
#[allow(unused_imports)]
pub use console::*;
#[allow(unused_imports)]
pub use irc::*;
#[allow(unused_imports)]
pub use programs::*;
pub use server::*;
#[allow(unused_imports)]
pub use tls::*;
#[allow(unused_imports)]
pub use web::*;

/// How long any single wait in a test may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// Polls `condition` until it holds, failing the test if it does not within
/// [`DEADLINE`]. For state the server changes on its own (a disconnect being
/// noticed), where there is no reply to wait for.
#[track_caller]
pub fn wait_until(what: &str, condition: impl FnMut() -> bool) {
    wait_until_within(what, DEADLINE, condition);
}

/// [`wait_until`] with a deadline of its own, for a change the server makes
/// only after a period of its own (PostgreSQL nodes taken for dead).
#[track_caller]
pub fn wait_until_within(what: &str, within: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The password tests use for a user.
pub fn password_of(username: &str) -> String {
    format!("pw-of-{username}-123")
}

/// Asserts a reply's status, showing the reply when it differs.
#[track_caller]
pub fn assert_status(reply: &Value, status: u16) {
    assert_eq!(reply["status"], status, "unexpected reply {reply}");
    if status >= 400 {
        assert!(
            reply["error"].as_str().is_some_and(|e| !e.is_empty()),
            "error replies carry a sentence: {reply}"
        );
    }
}
