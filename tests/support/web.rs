//! The web front door under test: a WebSocket client on `/ws` (tungstenite)
//! and plain HTTP requests for the page's files.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use serde_json::Value;

use super::DEADLINE;
use super::protocol::{ProtocolClient, Transport};

/// One WebSocket client speaking the protocol over `/ws`.
pub type WsClient = ProtocolClient<WsMessages>;

/// A WebSocket connection, one request or reply per text message.
pub struct WsMessages {
    socket: tungstenite::WebSocket<TcpStream>,
}

impl Transport for WsMessages {
    fn send_request(&mut self, request: &str) {
        self.socket
            .send(tungstenite::Message::text(request))
            .expect("send");
    }

    /// Each message must be exactly one JSON object, with no line feed.
    fn read_json(&mut self) -> Option<Value> {
        let text = self.read_text()?;
        assert!(!text.contains('\n'), "a line feed in a message: {text:?}");
        Some(serde_json::from_str(&text).unwrap_or_else(|e| panic!("bad JSON {text:?}: {e}")))
    }
}

impl WsMessages {
    /// The next text message, whole; `None` at the end of the connection
    /// or on timeout.
    fn read_text(&mut self) -> Option<String> {
        loop {
            match self.socket.read() {
                Ok(tungstenite::Message::Text(text)) => return Some(text.as_str().to_string()),
                Ok(tungstenite::Message::Close(_)) => continue,
                Ok(other) => panic!("unexpected message {other:?}"),
                // A signal (EINTR) interrupts the read; tungstenite keeps
                // what it has read so far, so reading again is safe.
                Err(tungstenite::Error::Io(err))
                    if err.kind() == std::io::ErrorKind::Interrupted => {}
                Err(err) => {
                    eprintln!("WebSocket read ended: {err}");
                    return None;
                }
            }
        }
    }
}

/// How a WebSocket handshake went.
pub enum Handshake {
    Open(Box<WsClient>),
    /// Refused with this HTTP status and body.
    Refused(u16, String),
}

impl WsClient {
    /// Connects to `/ws` (with `origin` as the `Origin` header, if any) and
    /// reads the greeting.
    #[track_caller]
    pub fn connect(web: SocketAddr, origin: Option<&str>) -> WsClient {
        match WsClient::try_connect(web, origin) {
            Handshake::Open(client) => client.greeted(),
            Handshake::Refused(status, body) => panic!("handshake refused: {status} {body}"),
        }
    }

    /// Connects to `/ws` without reading anything after the handshake.
    pub fn try_connect(web: SocketAddr, origin: Option<&str>) -> Handshake {
        use tungstenite::client::IntoClientRequest;
        let stream = TcpStream::connect(web).expect("connect");
        stream.set_read_timeout(Some(DEADLINE)).expect("timeout");
        let mut request = format!("ws://{web}/ws")
            .into_client_request()
            .expect("request");
        if let Some(origin) = origin {
            request
                .headers_mut()
                .insert("Origin", origin.parse().expect("origin header"));
        }
        match tungstenite::client::client(request, stream) {
            Ok((socket, _)) => {
                Handshake::Open(Box::new(ProtocolClient::new(WsMessages { socket })))
            }
            Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(response))) => {
                let body = response
                    .body()
                    .as_deref()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .unwrap_or_default();
                Handshake::Refused(response.status().as_u16(), body)
            }
            Err(err) => panic!("handshake failed: {err}"),
        }
    }

    /// The WebSocket itself, to send what no request is (binary, pings).
    pub fn socket(&mut self) -> &mut tungstenite::WebSocket<TcpStream> {
        &mut self.transport.socket
    }

    /// Sends one text message as it is.
    pub fn send_text(&mut self, text: &str) {
        self.transport.send_request(text);
    }

    /// Sends `text` as one text message cut into frames of `frame_size`
    /// bytes (a fragmented message, as a client may send a long one).
    pub fn send_text_in_frames(&mut self, text: &str, frame_size: usize) {
        use tungstenite::protocol::frame::Frame;
        use tungstenite::protocol::frame::coding::{Data, OpCode};
        let pieces: Vec<&[u8]> = text.as_bytes().chunks(frame_size).collect();
        for (i, piece) in pieces.iter().enumerate() {
            let opcode = if i == 0 { Data::Text } else { Data::Continue };
            let last = i + 1 == pieces.len();
            let frame = Frame::message(piece.to_vec(), OpCode::Data(opcode), last);
            self.transport
                .socket
                .write(tungstenite::Message::Frame(frame))
                .expect("send a frame");
        }
        self.transport.socket.flush().expect("flush");
    }

    /// The next text message, whole; `None` at the end of the connection
    /// or on timeout.
    pub fn read_text(&mut self) -> Option<String> {
        self.transport.read_text()
    }

    /// Reads until the server ends the connection; returns the close frame's
    /// code if one came. Fails the test if it stays open past the deadline.
    #[track_caller]
    pub fn closed_by_server(&mut self) -> Option<u16> {
        let mut code = None;
        loop {
            match self.transport.socket.read() {
                Ok(tungstenite::Message::Close(frame)) => {
                    code = frame.map(|f| u16::from(f.code));
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(err))
                    if err.kind() == std::io::ErrorKind::Interrupted => {}
                Err(tungstenite::Error::Io(err))
                    if matches!(
                        err.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    panic!("the server kept the WebSocket open past the deadline")
                }
                Err(_) => return code,
            }
        }
    }
}

/// One plain HTTP/1.1 request to the web front door; returns the status,
/// the headers (names in lower case) and the body. The server closes the
/// connection after each response.
pub fn http_request(
    web: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> HttpReply {
    let stream = TcpStream::connect(web).expect("connect");
    stream.set_read_timeout(Some(DEADLINE)).expect("timeout");
    http_exchange(stream, &web.to_string(), method, path, headers)
}

/// One HTTP/1.1 request on `stream` (plain or TLS), read to its end.
pub fn http_exchange(
    mut stream: impl Read + Write,
    host: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> HttpReply {
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).expect("write");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read the response");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no head in {:?}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8(raw[..split].to_vec()).expect("ASCII head");
    let body = raw[split + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().expect("status line");
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("status line {status_line:?}"));
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_string()))
        .collect();
    HttpReply {
        status,
        headers,
        body,
    }
}

/// What [`http_request`] got.
pub struct HttpReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpReply {
    /// The value of the header `name` (lower case); fails if absent.
    #[track_caller]
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
    }
}

/// `count` connections to the HTTP listener at `at`, each having sent the
/// first line of a request head and nothing more: arrivals that never
/// finish, for the bound on them.
pub fn stalled_heads(at: SocketAddr, count: usize) -> Vec<TcpStream> {
    (0..count)
        .map(|_| {
            let mut stream = TcpStream::connect(at).expect("connect");
            let _ = stream.write_all(b"GET / HTTP/1.1\r\n");
            stream.set_nonblocking(true).expect("non-blocking");
            stream
        })
        .collect()
}

/// Waits until the server has closed `expected` of `stalled` (those past
/// its bound), and checks it closed no more than those.
#[track_caller]
pub fn assert_closed_past_the_bound(stalled: &[TcpStream], expected: usize) {
    let closed = || {
        stalled
            .iter()
            .filter(|stream| match (&**stream).read(&mut [0u8; 64]) {
                Ok(0) => true,
                Ok(_) => false,
                Err(err) => err.kind() != std::io::ErrorKind::WouldBlock,
            })
            .count()
    };
    let mut closed_at_once = 0;
    super::wait_until("the connections past the limit are closed", || {
        closed_at_once = closed();
        closed_at_once >= expected
    });
    assert_eq!(closed_at_once, expected, "only those past the limit");
}
