//! The web front door: the page at `/` and the WebSocket transport at `/ws`
//! on the HTTP listener (`--http`).
//!
//! One thread per connection, as for the pipe. Each thread reads its
//! request head (`http`): a `GET /ws` upgrade becomes a WebSocket
//! connection ([`socket`]) whose text messages are pipe requests, parsed and
//! answered by the pipe's own code and written through the same
//! `Outbox` as a TCP client's; anything else
//! gets one embedded file (`assets`) or an error, and the connection
//! closes. Between the socket and tungstenite, `oversize` swaps a message
//! too large to read for a stand-in answered `413`. No chat rule lives here.

pub(crate) mod assets;
pub(crate) mod http;
mod oversize;
pub mod socket;

use std::sync::Arc;
use std::time::Duration;

use crate::chat::Chat;
use crate::pipe::outbox::Flusher;

/// The path of the WebSocket endpoint.
pub const WEBSOCKET_PATH: &str = "/ws";

/// What every HTTP connection thread shares.
pub(crate) struct Web {
    pub chat: Arc<Chat>,
    pub flusher: Arc<Flusher>,
    /// Origins besides the page's own that may open a WebSocket.
    pub allow_origins: Vec<String>,
    /// How long a request head may take to arrive.
    pub line_timeout: Duration,
}
