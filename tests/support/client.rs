//! The protocol over plain TCP, one request per line.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::DEADLINE;
use super::protocol::{ProtocolClient, Transport};

/// One TCP client speaking the protocol as a program would.
pub type Client = ProtocolClient<TcpLines>;

/// A TCP connection read line by line.
pub struct TcpLines {
    pub stream: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Transport for TcpLines {
    fn send_request(&mut self, request: &str) {
        self.stream
            .write_all(format!("{request}\n").as_bytes())
            .expect("write");
    }

    fn read_json(&mut self) -> Option<Value> {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) | Err(_) => None,
            Ok(_) => {
                assert!(line.ends_with('\n'), "unterminated line {line:?}");
                Some(
                    serde_json::from_str(&line)
                        .unwrap_or_else(|e| panic!("bad JSON {line:?}: {e}")),
                )
            }
        }
    }
}

impl Client {
    /// Connects and reads the greeting.
    pub fn connect(addr: SocketAddr) -> Client {
        Client::connect_without_greeting(addr).greeted()
    }

    pub fn connect_without_greeting(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(DEADLINE)).expect("timeout");
        let reader = BufReader::new(stream.try_clone().expect("clone"));
        ProtocolClient::new(TcpLines { stream, reader })
    }

    /// The connection itself, e.g. to shut it down.
    pub fn stream(&self) -> &TcpStream {
        &self.transport.stream
    }

    /// Writes raw bytes as they are.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.transport.stream.write_all(bytes).expect("write");
    }

    /// Writes raw bytes, reporting failure (the server may be gone).
    pub fn try_send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.transport.stream.write_all(bytes)
    }

    /// Waits up to `within` for any line; `None` if nothing came.
    pub fn try_next_line(&mut self, within: Duration) -> Option<Value> {
        let stream = &self.transport.stream;
        stream.set_read_timeout(Some(within)).expect("timeout");
        let value = self.read_json();
        self.transport
            .stream
            .set_read_timeout(Some(DEADLINE))
            .expect("timeout");
        value
    }

    /// Sends a request and returns its response, or `None` when the
    /// connection broke first (the server died): for tests that kill it.
    pub fn try_request(&mut self, line: &str) -> Option<Value> {
        self.try_send_raw(format!("{line}\n").as_bytes()).ok()?;
        loop {
            let mut raw = String::new();
            match self.transport.reader.read_line(&mut raw) {
                Ok(_) if raw.ends_with('\n') => {}
                _ => return None,
            }
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
            match self.transport.reader.read(&mut buf) {
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
