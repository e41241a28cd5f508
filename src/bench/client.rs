//! A blocking protocol client made for load: one request at a time, replies
//! read into a reused buffer, pushed events set aside by counting them.
//!
//! It speaks either transport ([`Transport`]): lines over TCP, or text
//! messages over the WebSocket at `/ws` (tungstenite in client role).
//!
//! Requests are built with [`crate::pipe::request::request_line`], so the bench
//! escapes fields exactly as the server expects. Every read and write has a
//! time limit ([`IO_TIMEOUT`]), so a stuck server fails a run instead of
//! hanging it.

use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use tungstenite::protocol::WebSocketConfig;
use tungstenite::protocol::frame::Frame;
use tungstenite::protocol::frame::coding::{Data, OpCode};
use tungstenite::{Message, WebSocket};

use crate::pipe::request::request_line;
use crate::wire::Reply;

/// How requests and replies travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Transport {
    /// Lines over TCP (`--listen`).
    #[default]
    Tcp,
    /// Text messages over the WebSocket at `/ws` (`--http`).
    Ws,
    /// IRC (`--irc`), for `fanout` only: pipechat's IRC front door and, in
    /// the same run, ngircd on the same scenario.
    Irc,
}

/// Where a client connects: an address and the transport spoken there.
#[derive(Debug, Clone, Copy)]
pub struct Endpoint {
    pub addr: SocketAddr,
    pub transport: Transport,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.transport {
            Transport::Tcp => write!(f, "{}", self.addr),
            Transport::Ws => write!(f, "ws://{}/ws", self.addr),
            Transport::Irc => write!(f, "irc://{}", self.addr),
        }
    }
}

/// The longest a single read or write may block.
pub const IO_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: Endpoint,
        source: std::io::Error,
    },
    #[error("WebSocket: {0}")]
    WebSocket(String),
    #[error("no reply in time (at most {IO_TIMEOUT:?}, and within the run's --timeout)")]
    TimedOut,
    #[error("the server closed the connection")]
    Closed,
    #[error("connection error: {0}")]
    Io(std::io::Error),
    #[error("not a protocol line: {0:?}")]
    BadLine(String),
    /// A set-up step got an answer other than the one it needs.
    #[error("{request}: expected status {expected}, got {line}")]
    Unexpected {
        request: String,
        expected: u16,
        line: String,
    },
}

impl From<std::io::Error> for ClientError {
    fn from(err: std::io::Error) -> Self {
        match err.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => ClientError::TimedOut,
            _ => ClientError::Io(err),
        }
    }
}

/// Whether a line is a reply (it has a `status`) or an event (it has
/// none): all the bench needs of most lines, so the rest is skipped
/// rather than read into a whole [`Reply`].
#[derive(Deserialize)]
struct Head {
    status: Option<u16>,
}

/// The socket, read through a buffer (TCP) or tungstenite (WebSocket), and
/// written through its reference: one descriptor per client, so 10,000 of
/// them fit the open-file limit.
enum Conn {
    Tcp(BufReader<TcpStream>),
    Ws(Box<WebSocket<Rationed>>),
}

impl Conn {
    fn socket(&self) -> &TcpStream {
        match self {
            Conn::Tcp(reader) => reader.get_ref(),
            Conn::Ws(socket) => &socket.get_ref().stream,
        }
    }
}

/// A WebSocket's socket whose reads a subscriber reader can ration: one per
/// readiness, as its TCP readers make. Left to itself tungstenite reads
/// until the socket is empty, so every wake-up cost a second `read` (the one
/// that finds nothing), which made the bench's WebSocket readers dearer than
/// its TCP readers on the cores it shares with the server.
pub struct Rationed {
    stream: TcpStream,
    /// Reads allowed before `WouldBlock`; `None`: unlimited (requests).
    reads_left: Option<u32>,
}

impl Rationed {
    /// Allows `reads` more reads of the socket, then `WouldBlock`.
    pub fn ration(&mut self, reads: u32) {
        self.reads_left = Some(reads);
    }
}

impl Read for Rationed {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match &mut self.reads_left {
            Some(0) => Err(std::io::ErrorKind::WouldBlock.into()),
            Some(left) => {
                *left -= 1;
                self.stream.read(buf)
            }
            None => self.stream.read(buf),
        }
    }
}

impl Write for Rationed {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.stream.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.stream.flush()
    }
}

/// What a subscriber reader takes over from a client: the socket and what
/// was already read from it.
pub enum Feed {
    /// The socket and the bytes read past the last reply.
    Tcp(TcpStream, Vec<u8>),
    /// The WebSocket, with whatever tungstenite has buffered.
    Ws(Box<WebSocket<Rationed>>),
}

impl Feed {
    pub fn socket(&self) -> &TcpStream {
        match self {
            Feed::Tcp(stream, _) => stream,
            Feed::Ws(socket) => &socket.get_ref().stream,
        }
    }
}

/// Writes requests on a connection from another thread than its reader's
/// (pipelining): lines, or masked client text frames made with tungstenite's
/// frame API.
pub struct RequestWriter {
    stream: TcpStream,
    transport: Transport,
    mask: u32,
}

impl RequestWriter {
    /// Sends one request line (its line feed included, dropped on WebSocket).
    pub fn send(&mut self, line: &str) -> std::io::Result<()> {
        match self.transport {
            // IRC clients are the IRC scenario's own; lines as on TCP.
            Transport::Tcp | Transport::Irc => self.stream.write_all(line.as_bytes()),
            Transport::Ws => {
                let frame = client_text_frame(line.trim_end_matches('\n'), self.mask);
                self.mask = self
                    .mask
                    .wrapping_mul(1_664_525)
                    .wrapping_add(1_013_904_223);
                self.stream.write_all(&frame)
            }
        }
    }
}

/// A masked client text frame (RFC 6455 requires clients to mask).
fn client_text_frame(text: &str, mask: u32) -> Vec<u8> {
    let mut frame = Frame::message(text.as_bytes().to_vec(), OpCode::Data(Data::Text), true);
    frame.header_mut().mask = Some(mask.to_le_bytes());
    let mut out = Vec::with_capacity(frame.len());
    // Formatting into a Vec cannot fail.
    let _ = frame.format(&mut out);
    out
}

/// One connection to the server.
pub struct Client {
    conn: Conn,
    /// The last line read, terminator included.
    line: String,
    /// Pushed event lines read while waiting for replies.
    pub events_skipped: u64,
}

impl Client {
    /// Connects and checks the greeting (a full server answers 503).
    pub fn connect(endpoint: Endpoint) -> Result<Client, ClientError> {
        let stream = TcpStream::connect_timeout(&endpoint.addr, IO_TIMEOUT).map_err(|source| {
            ClientError::Connect {
                addr: endpoint,
                source,
            }
        })?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        let conn = match endpoint.transport {
            Transport::Tcp | Transport::Irc => {
                Conn::Tcp(BufReader::with_capacity(64 * 1024, stream))
            }
            Transport::Ws => {
                let config = WebSocketConfig::default().read_buffer_size(64 * 1024);
                let url = format!("ws://{}/ws", endpoint.addr);
                let stream = Rationed {
                    stream,
                    reads_left: None,
                };
                let (socket, _) =
                    tungstenite::client::client_with_config(url, stream, Some(config))
                        .map_err(|err| ClientError::WebSocket(err.to_string()))?;
                Conn::Ws(Box::new(socket))
            }
        };
        let mut client = Client {
            conn,
            line: String::new(),
            events_skipped: 0,
        };
        let status = client.read_reply()?;
        if status != 200 {
            return Err(ClientError::Unexpected {
                request: "greeting".to_string(),
                expected: 200,
                line: client.last_line().to_string(),
            });
        }
        Ok(client)
    }

    /// Sends a request built from raw fields and returns the reply's status;
    /// the reply stays readable through [`Client::last_line`].
    pub fn call(&mut self, command: &str, fields: &[&str]) -> Result<u16, ClientError> {
        let mut line = request_line(command, fields);
        line.push('\n');
        self.request(&line)
    }

    /// Like [`Client::call`], failing unless the reply has status `expected`.
    pub fn expect(
        &mut self,
        command: &str,
        fields: &[&str],
        expected: u16,
    ) -> Result<(), ClientError> {
        let status = self.call(command, fields)?;
        if status == expected {
            Ok(())
        } else {
            Err(ClientError::Unexpected {
                request: command.to_string(),
                expected,
                line: self.last_line().trim_end().to_string(),
            })
        }
    }

    /// Sends one ready request line (with its line feed) and reads its reply.
    pub fn request(&mut self, line: &str) -> Result<u16, ClientError> {
        match &mut self.conn {
            Conn::Tcp(reader) => reader.get_ref().write_all(line.as_bytes())?,
            Conn::Ws(socket) => socket
                .send(Message::text(line.trim_end_matches('\n')))
                .map_err(ws_error)?,
        }
        self.read_reply()
    }

    /// Reads lines until a reply (a line with a `status`), counting events.
    ///
    /// A read that times out keeps the part of a line it got, so calling
    /// again after [`ClientError::TimedOut`] goes on where it stopped.
    pub fn read_reply(&mut self) -> Result<u16, ClientError> {
        loop {
            if self.line.ends_with('\n') {
                self.line.clear();
            }
            match &mut self.conn {
                Conn::Tcp(reader) => {
                    if reader.read_line(&mut self.line)? == 0 || !self.line.ends_with('\n') {
                        return Err(ClientError::Closed);
                    }
                }
                Conn::Ws(socket) => match socket.read().map_err(ws_error)? {
                    Message::Text(text) => {
                        self.line.push_str(text.as_str());
                        self.line.push('\n');
                    }
                    Message::Close(_) => return Err(ClientError::Closed),
                    _ => continue,
                },
            }
            let head: Head = serde_json::from_str(&self.line)
                .map_err(|_| ClientError::BadLine(self.line.trim_end().to_string()))?;
            match head.status {
                Some(status) => return Ok(status),
                None => self.events_skipped += 1,
            }
        }
    }

    /// A second handle on the socket for writing requests from another
    /// thread while this client reads the replies (pipelining).
    pub fn writer(&self) -> std::io::Result<RequestWriter> {
        Ok(RequestWriter {
            stream: self.conn.socket().try_clone()?,
            transport: match self.conn {
                Conn::Tcp(_) => Transport::Tcp,
                Conn::Ws(_) => Transport::Ws,
            },
            mask: 0x9e37_79b9,
        })
    }

    /// How long each read may block from now on (`None`: forever).
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> std::io::Result<()> {
        self.conn.socket().set_read_timeout(timeout)
    }

    /// The last line read, terminator included.
    pub fn last_line(&self) -> &str {
        &self.line
    }

    /// The `data` of the last reply.
    pub fn last_data<T: DeserializeOwned>(&self) -> Result<T, ClientError> {
        serde_json::from_str::<Reply<T>>(&self.line)
            .ok()
            .and_then(|reply| reply.data)
            .ok_or_else(|| ClientError::BadLine(self.line.trim_end().to_string()))
    }

    /// Gives up the buffered reader: the socket and whatever bytes were
    /// already read past the last reply.
    pub fn into_parts(self) -> Feed {
        match self.conn {
            Conn::Tcp(reader) => {
                let buffered = reader.buffer().to_vec();
                Feed::Tcp(reader.into_inner(), buffered)
            }
            Conn::Ws(socket) => Feed::Ws(socket),
        }
    }
}

/// A tungstenite error as the client's: timeouts and closes keep their
/// meaning.
fn ws_error(err: tungstenite::Error) -> ClientError {
    match err {
        tungstenite::Error::Io(err) => ClientError::from(err),
        tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => {
            ClientError::Closed
        }
        other => ClientError::WebSocket(other.to_string()),
    }
}
