//! The web front door: the page at `/` and the WebSocket transport at `/ws`
//! on the HTTP listener (`--http`).
//!
//! One thread per connection, as for the pipe. Each thread peeks at its
//! request head ([`http`]): a `GET /ws` upgrade becomes a WebSocket
//! connection ([`socket`]) whose text messages are pipe requests, parsed and
//! answered by the pipe's own code and written through the same
//! [`Outbox`](crate::pipe::outbox::Outbox) as a TCP client's; anything else
//! gets one embedded file ([`assets`]) or an error, and the connection
//! closes. No chat rule lives here.

pub(crate) mod assets;
pub(crate) mod http;
pub mod socket;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use crate::chat::Chat;
use crate::pipe::outbox::Flusher;
use crate::server::{CONNECTION_STACK_BYTES, StopHandle};
use crate::tls::TlsAcceptor;

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
    pub max_connections: usize,
    /// The certificate when the listener speaks HTTPS and `wss://`.
    pub tls: Option<Arc<TlsAcceptor>>,
}

/// Accepts HTTP connections until the server stops, one thread each.
pub(crate) fn accept_loop(listener: TcpListener, web: Arc<Web>, stop: Arc<StopHandle>) {
    for stream in listener.incoming() {
        if stop.is_stopping() {
            break;
        }
        match stream {
            Ok(stream) => admit(stream, &web),
            Err(err) => {
                log::warn!("HTTP accept failed: {err}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

fn admit(stream: TcpStream, web: &Arc<Web>) {
    let peer: SocketAddr = match stream.peer_addr() {
        Ok(peer) => peer,
        Err(_) => return,
    };
    let web = Arc::clone(web);
    let spawned = std::thread::Builder::new()
        .stack_size(CONNECTION_STACK_BYTES)
        .spawn(move || http::serve(stream, peer, &web));
    if let Err(err) = spawned {
        log::warn!("refusing HTTP client {peer}: cannot start a thread: {err}");
    }
}
