//! The protocol over plain TCP, one request per line.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::DEADLINE;
use super::protocol::{Lines, ProtocolClient};

/// One TCP client speaking the protocol as a program would.
pub type Client = ProtocolClient<Lines<TcpStream>>;

impl Client {
    /// Connects and reads the greeting.
    pub fn connect(addr: SocketAddr) -> Client {
        Client::connect_without_greeting(addr).greeted()
    }

    pub fn connect_without_greeting(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(DEADLINE)).expect("timeout");
        ProtocolClient::new(Lines::new(stream))
    }

    /// The connection itself, e.g. to shut it down.
    pub fn stream(&self) -> &TcpStream {
        self.transport.get_ref()
    }

    /// Writes raw bytes as they are.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.try_send_raw(bytes).expect("write");
    }

    /// Writes raw bytes, reporting failure (the server may be gone).
    pub fn try_send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.transport.get_mut().write_all(bytes)
    }

    /// The next line as the server wrote it, for tests of its exact text.
    pub fn read_raw_line(&mut self) -> String {
        self.transport.read_line().expect("a line from the server")
    }

    /// Waits up to `within` for any line; `None` if nothing came.
    pub fn try_next_line(&mut self, within: Duration) -> Option<Value> {
        self.stream()
            .set_read_timeout(Some(within))
            .expect("timeout");
        let value = self.read_json();
        self.stream()
            .set_read_timeout(Some(DEADLINE))
            .expect("timeout");
        value
    }

    /// Sends a request and returns its response, or `None` when the
    /// connection broke first (the server died): for tests that kill it.
    /// Unlike [`ProtocolClient::request`], a cut-off or garbled line is not a
    /// test failure here.
    pub fn try_request(&mut self, line: &str) -> Option<Value> {
        self.try_send_raw(format!("{line}\n").as_bytes()).ok()?;
        loop {
            let raw = self
                .transport
                .read_line()
                .filter(|raw| raw.ends_with('\n'))?;
            let value: Value = serde_json::from_str(&raw).ok()?;
            if value.get("status").is_some() {
                return Some(value);
            }
            self.events.push_back(value);
        }
    }

    /// Whether the server closed this connection (reads end of stream in time).
    pub fn is_closed_by_server(&mut self) -> bool {
        let mut buf = [0u8; 1024];
        let deadline = Instant::now() + DEADLINE;
        while Instant::now() < deadline {
            match self.transport.read_bytes(&mut buf) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => continue,
                // A signal to this process is not the server closing.
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => return true,
            }
        }
        false
    }
}
