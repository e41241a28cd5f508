//! One WebSocket connection: pipe requests in text messages, replies and
//! events out as text messages, on the same `Outbox` as a TCP client.
//!
//! The outbox needs the raw socket for its non-blocking direct sends, so
//! frames are made here, with tungstenite's frame API, and written through
//! the outbox as plain bytes: an event's frame is formatted once
//! ([`WsTextFrame`]) and shared by every WebSocket subscriber of it.
//! Reading uses a [`WebSocket`] in server role over `Wire`, whose reads
//! come from the socket and whose writes (pongs, close frames) go through
//! the outbox, in order with everything else.

use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tungstenite::error::ProtocolError;
use tungstenite::handshake::HandshakeError;
use tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tungstenite::http::StatusCode;
use tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tungstenite::protocol::frame::{CloseFrame, Frame};
use tungstenite::protocol::{Role, WebSocketConfig};
use tungstenite::{Error as WsError, Message, WebSocket};

use super::Web;
use super::oversize::OversizeFilter;
use crate::chat::{Chat, Delivery, Rendering, Session, Subscriber};
use crate::closing::drain_then_close;
use crate::metrics::{FrontDoor, metrics};
use crate::pipe::commands::Answer;
use crate::pipe::connection::{reply_when_stored, start_line, wait_for_reply};
use crate::pipe::outbox::Outbox;
use crate::pipe::reader::is_timeout;
use crate::pipe::reply::{error_line, greeting_line, json_line};
use crate::tls::Link;
use crate::wire::{Event, MAX_REQUEST_BYTES, Status};

/// The largest frame or message tungstenite takes in: a backstop. The
/// filter in front of it (see [`super::oversize`]) passes no well-formed
/// message over the protocol's 64 KiB (a larger one gets a stand-in, of
/// at most 4 bytes more, answered `413`), so only a frame it passes
/// unexamined, one tungstenite refuses anyway, can reach this, and ends the
/// connection with close code 1009 (message too big) rather than be held.
const MAX_WS_MESSAGE_BYTES: usize = 2 * MAX_REQUEST_BYTES;

/// The size of each read from the socket (allocated up front for every
/// connection: idle ones stay light).
const READ_BUFFER_BYTES: usize = 4 * 1024;

/// How long the handshake's response may take to write.
const HANDSHAKE_WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long, and how much, a connection being closed for what its client
/// sent is read from so that the close frame reaches the client.
const DRAIN_FOR: Duration = Duration::from_secs(2);
const DRAIN_AT_MOST: usize = 16 * 1024 * 1024;

fn config() -> WebSocketConfig {
    WebSocketConfig::default()
        // Allocated up front for every connection: keep idle ones light.
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(0)
        .max_message_size(Some(MAX_WS_MESSAGE_BYTES))
        .max_frame_size(Some(MAX_WS_MESSAGE_BYTES))
}

/// An event as one unmasked server text frame (the JSON without a line
/// feed), shared by every WebSocket subscriber of the event.
pub struct WsTextFrame;

impl Rendering for WsTextFrame {
    fn render(event: &Event) -> Vec<u8> {
        text_frame(json_line(event))
    }
}

/// A protocol line (its line feed dropped) as one server text frame. The
/// line is moved in, not copied, and gone once the frame is made: a page
/// of history can be tens of megabytes, and only the frame is then held
/// while a slow client takes it (the line, its copy and the frame were,
/// 67 MB for a page of 25 MB).
pub fn text_frame(line: String) -> Vec<u8> {
    let mut text = line.into_bytes();
    if text.last() == Some(&b'\n') {
        text.pop();
    }
    format_frame(Frame::message(text, OpCode::Data(Data::Text), true))
}

/// A close frame with `code` and a short reason.
fn close_frame(code: CloseCode, reason: &str) -> Vec<u8> {
    format_frame(Frame::close(Some(CloseFrame {
        code,
        reason: reason.to_string().into(),
    })))
}

fn format_frame(frame: Frame) -> Vec<u8> {
    let mut out = Vec::with_capacity(frame.len());
    if let Err(err) = frame.format(&mut out) {
        // Writing into a Vec cannot fail.
        log::error!("cannot format a WebSocket frame: {err}");
    }
    out
}

/// The WebSocket connection's side of fan-out.
struct WsSubscriber {
    outbox: Arc<Outbox>,
    /// Set at shutdown, before the client's input is ended.
    going_away: AtomicBool,
}

impl Subscriber for WsSubscriber {
    fn deliver(&self, delivery: &Delivery<'_>) {
        self.outbox.push(&delivery.rendered::<WsTextFrame>());
    }

    /// Shutdown: ends the client's input; the connection's own thread then
    /// sends the "going away" close frame (1001) after whatever it was
    /// writing, and closes, as the IRC door says ERROR. Sent from here, the
    /// frame could go only when nothing else was being written at that
    /// instant, and was otherwise dropped with the socket.
    fn close(&self) {
        self.going_away.store(true, Ordering::Release);
        self.outbox.shut_reading();
    }
}

/// What tungstenite reads from and writes to once the connection is open:
/// the link in, the outbox out.
struct Wire {
    /// The client's frames, oversized messages swapped for stand-ins. The
    /// filter reads each frame's header in small pieces, which the buffer
    /// keeps from being a system call each.
    frames: OversizeFilter<BufReader<Link>>,
    outbox: Arc<Outbox>,
}

impl Read for Wire {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.frames.read(buf)
    }
}

impl Write for Wire {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.outbox.write(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What tungstenite's handshake reads from and writes to: the link both
/// ways, before the connection has an outbox.
struct Handshaking<'a>(&'a mut Link);

impl Read for Handshaking<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for Handshaking<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.send(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Whether a handshake's `Origin` may open a WebSocket: absent (not a
/// browser), the page's own origin (`http://` or `https://` and the `Host`
/// the request was sent to), or one of `allowed`.
fn origin_allowed(origin: Option<&str>, host: Option<&str>, allowed: &[String]) -> bool {
    let Some(origin) = origin else {
        return true;
    };
    let origin = origin.trim_end_matches('/');
    let own = host.is_some_and(|host| {
        ["http://", "https://"].iter().any(|scheme| {
            origin.len() == scheme.len() + host.len()
                && origin[..scheme.len()].eq_ignore_ascii_case(scheme)
                && origin[scheme.len()..].eq_ignore_ascii_case(host)
        })
    });
    own || allowed
        .iter()
        .any(|allowed| allowed.trim_end_matches('/').eq_ignore_ascii_case(origin))
}

/// Completes the handshake on `link` (whose request head is still to be
/// read), then serves the connection until it ends.
pub(crate) fn serve(mut link: Link, peer: SocketAddr, web: &Web) {
    let allowed = &web.allow_origins;
    // tungstenite's callback signature fixes the error type.
    #[allow(clippy::result_large_err)]
    let check = |request: &Request, response: Response| -> Result<Response, ErrorResponse> {
        let header = |name| {
            request
                .headers()
                .get(name)
                .and_then(|value: &tungstenite::http::HeaderValue| value.to_str().ok())
        };
        let origin = header("origin");
        if origin_allowed(origin, header("host"), allowed) {
            Ok(response)
        } else {
            log::info!(
                "{peer}: WebSocket refused: origin {:?} is not this page's and not allowed \
                 (see --http-allow-origin)",
                origin.unwrap_or_default()
            );
            let body = "this origin may not open a WebSocket here\n";
            let mut refusal = ErrorResponse::new(Some(body.to_string()));
            *refusal.status_mut() = StatusCode::FORBIDDEN;
            super::http::add_common_headers(&mut refusal, body.len());
            Err(refusal)
        }
    };
    let stream = Arc::clone(link.stream());
    let _ = stream.set_write_timeout(Some(HANDSHAKE_WRITE_TIMEOUT));
    let deadline = Instant::now() + web.line_timeout;
    let _ = stream.set_read_timeout(Some(web.line_timeout));
    let mut handshake =
        tungstenite::accept_hdr_with_config(Handshaking(&mut link), check, Some(config()));
    loop {
        match handshake {
            Ok(socket) => {
                drop(socket);
                break;
            }
            Err(HandshakeError::Failure(WsError::Http(_))) => return,
            Err(HandshakeError::Failure(err)) => {
                log::debug!("{peer}: WebSocket handshake failed: {err}");
                let mut response =
                    super::http::plain(StatusCode::BAD_REQUEST, "bad WebSocket handshake\n");
                let len = response.body().len();
                super::http::add_common_headers(&mut response, len);
                let mut out = Vec::new();
                if tungstenite::handshake::server::write_response(&mut out, &response).is_ok() {
                    out.extend_from_slice(response.body());
                    let _ = link.send(&out);
                }
                return;
            }
            Err(HandshakeError::Interrupted(midway)) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    log::debug!("{peer}: WebSocket handshake timed out");
                    return;
                }
                let _ = stream.set_read_timeout(Some(left));
                handshake = midway.handshake();
            }
        }
    }
    let _ = stream.set_read_timeout(None);
    let _ = stream.set_nodelay(true);
    let outbox = Outbox::new(
        Arc::clone(&stream),
        &web.flusher,
        link.tls().cloned(),
        web.line_timeout,
    );
    let subscriber = Arc::new(WsSubscriber {
        outbox: Arc::clone(&outbox),
        going_away: AtomicBool::new(false),
    });
    let admitted = match web
        .chat
        .admit(peer.ip(), Arc::clone(&subscriber) as Arc<dyn Subscriber>)
    {
        Ok(admitted) => admitted,
        Err(refusal) => {
            let reason = refusal.sentence();
            let mut out = text_frame(error_line(Status::Unavailable, reason));
            out.extend_from_slice(&close_frame(CloseCode::Again, reason));
            let _ = stream.set_write_timeout(Some(HANDSHAKE_WRITE_TIMEOUT));
            let _ = link.send(&out);
            link.send_close_notify();
            drain_then_close(&stream, DRAIN_FOR, DRAIN_AT_MOST);
            return;
        }
    };
    let _counted = metrics().connection(FrontDoor::WebSocket);
    let connection = Connection {
        chat: Arc::clone(&web.chat),
        session: Arc::clone(admitted.session()),
        line_timeout: web.line_timeout,
    };
    log::debug!("{peer}: WebSocket connected");
    outbox.carry_tls_records_of(&mut link);
    match connection.serve(link, &subscriber) {
        Ending::Closed(why) => log::debug!("{peer}: WebSocket ended: {why}"),
        Ending::Dropped(why) => log::info!("{peer}: dropped WebSocket client, {why}"),
    }
}

/// Ends a connection for what its client sent: a close frame with `code`
/// and `reason`, then the drain that lets it arrive (`closing`).
fn close_for_input(
    socket: &mut WebSocket<Wire>,
    stream: &TcpStream,
    code: CloseCode,
    reason: &str,
) {
    let _ = socket.close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }));
    let _ = socket.flush();
    drain_then_close(stream, DRAIN_FOR, DRAIN_AT_MOST);
}

/// A close frame's reason for a protocol error: tungstenite's sentence
/// (about the client's own frame, nothing of the server's), cut to the 123
/// bytes a close frame has room for.
fn protocol_error_reason(err: &ProtocolError) -> String {
    let mut reason = format!("protocol error: {err}");
    if reason.len() > MAX_CLOSE_REASON_BYTES {
        let mut end = MAX_CLOSE_REASON_BYTES;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
    }
    reason
}

/// A close frame's payload is at most 125 bytes, two of them the code.
const MAX_CLOSE_REASON_BYTES: usize = 123;

/// A WebSocket client known to the chat.
struct Connection {
    chat: Arc<Chat>,
    session: Arc<Session>,
    /// How long a client may take none of a reply, or keep an oversized
    /// message coming, before it is dropped.
    line_timeout: Duration,
}

/// Why a connection ended.
enum Ending {
    /// As the client or the server meant to, or the network: logged at
    /// debug level.
    Closed(String),
    /// Dropped for how its client behaved (it took none of a reply, or kept
    /// an oversized message coming): logged at info level, as the other
    /// doors log it.
    Dropped(String),
}

impl Connection {
    /// How a failed write ends the connection: a send that timed out is a
    /// client that took none of a reply.
    fn ended_writing(&self, err: &std::io::Error) -> Ending {
        if is_timeout(err) {
            Ending::Dropped(format!(
                "it took none of a reply for {:?}",
                self.line_timeout
            ))
        } else {
            Ending::Closed(err.to_string())
        }
    }
}

impl Connection {
    /// Greets, then answers each text message until the connection ends;
    /// returns why it ended.
    fn serve(&self, link: Link, subscriber: &WsSubscriber) -> Ending {
        let outbox = &subscriber.outbox;
        if let Err(err) = outbox.write(&text_frame(greeting_line())) {
            return self.ended_writing(&err);
        }
        let stream = Arc::clone(link.stream());
        let wire = Wire {
            // No deadline once open: wait through partial TLS records.
            frames: OversizeFilter::new(
                BufReader::with_capacity(READ_BUFFER_BYTES, link.patient()),
                MAX_REQUEST_BYTES,
                self.line_timeout,
            ),
            outbox: Arc::clone(outbox),
        };
        let mut socket = WebSocket::from_raw_socket(wire, Role::Server, Some(config()));
        // The reply still to come to a message being stored, as on TCP
        // (`pipe::connection`): the next request waits for it.
        let mut pending: Option<oneshot::Receiver<()>> = None;
        loop {
            let message = socket.read();
            // Whatever came (a request, a close, an error that ends the
            // connection), the earlier reply goes out first.
            if let Err(err) = wait_for_reply(&mut pending, outbox) {
                return self.ended_writing(&err);
            }
            let reply = match message {
                Ok(Message::Text(text)) => match self.answer(text.as_bytes()) {
                    Some(Answer::Ready((_, reply))) => Some(reply),
                    Some(Answer::Sending(sending)) => {
                        pending = Some(reply_when_stored(sending, &self.chat, outbox, |line| {
                            text_frame(line)
                        }));
                        None
                    }
                    None => None,
                },
                Ok(Message::Binary(_)) => Some(error_line(
                    Status::BadRequest,
                    "binary messages are not requests; send each request as a text message",
                )),
                // Pongs and close replies are queued by tungstenite and
                // written on the next read.
                Ok(Message::Ping(_) | Message::Pong(_) | Message::Close(_) | Message::Frame(_)) => {
                    None
                }
                // The input ended by the server's shutdown ([`WsSubscriber::close`]).
                Err(_) if subscriber.going_away.load(Ordering::Acquire) => {
                    let reason = "the server is shutting down";
                    let _ = outbox.write(&close_frame(CloseCode::Away, reason));
                    outbox.close();
                    return Ending::Closed(reason.to_string());
                }
                // A tab closed: the TCP connection ended without a close
                // frame, which tungstenite reports as a protocol error.
                Err(
                    WsError::ConnectionClosed
                    | WsError::AlreadyClosed
                    | WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake),
                ) => {
                    return Ending::Closed("closed".to_string());
                }
                // RFC 6455 makes a text message that is not UTF-8 the end of
                // the connection (TCP answers such a line 400 and goes on).
                Err(WsError::Utf8(err)) => {
                    let reason = "a text message must be UTF-8";
                    close_for_input(&mut socket, &stream, CloseCode::Invalid, reason);
                    return Ending::Closed(format!("closed with 1007: {err}"));
                }
                Err(WsError::Capacity(err)) => {
                    let reason = format!("message too big: at most {MAX_REQUEST_BYTES} bytes");
                    close_for_input(&mut socket, &stream, CloseCode::Size, &reason);
                    return Ending::Closed(format!("closed with 1009: {err}"));
                }
                // A frame RFC 6455 forbids (unmasked, reserved bits set, an
                // unknown opcode, a control frame fragmented or too long):
                // the connection ends, with a close frame saying why.
                Err(WsError::Protocol(err)) => {
                    let reason = protocol_error_reason(&err);
                    close_for_input(&mut socket, &stream, CloseCode::Protocol, &reason);
                    return Ending::Closed(format!("closed with 1002: {err}"));
                }
                // The oversized message the filter drops went on too long.
                Err(WsError::Io(err)) if err.kind() == std::io::ErrorKind::TimedOut => {
                    return Ending::Dropped(err.to_string());
                }
                Err(err) => return Ending::Closed(err.to_string()),
            };
            if let Some(line) = reply
                && let Err(err) = outbox.write(&text_frame(line))
            {
                return self.ended_writing(&err);
            }
        }
    }

    /// The answer to one text message, or `None` for an empty one.
    fn answer(&self, text: &[u8]) -> Option<Answer> {
        if text.len() > MAX_REQUEST_BYTES {
            return Some(Answer::Ready((
                Status::TooLong,
                error_line(
                    Status::TooLong,
                    &format!("request message too long: at most {MAX_REQUEST_BYTES} bytes"),
                ),
            )));
        }
        // A message is one request without its line feed, but a client
        // ported from TCP sends one anyway (and maybe a CR before it): it
        // ends the request there, as on TCP, instead of being part of it.
        let text = text.strip_suffix(b"\n").unwrap_or(text);
        start_line(text, &self.session, &self.chat)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        let allowed = vec!["https://chat.example.org".to_string()];
        assert!(origin_allowed(None, Some("a:1"), &[]));
        assert!(origin_allowed(Some("http://a:1"), Some("a:1"), &[]));
        assert!(origin_allowed(Some("HTTP://A:1"), Some("a:1"), &[]));
        assert!(origin_allowed(Some("https://a:1"), Some("a:1"), &[]));
        assert!(!origin_allowed(Some("http://a:2"), Some("a:1"), &[]));
        assert!(!origin_allowed(
            Some("http://evil.example"),
            Some("a:1"),
            &[]
        ));
        assert!(!origin_allowed(Some("http://a:1"), None, &[]));
        assert!(!origin_allowed(Some("null"), Some("a:1"), &[]));
        assert!(origin_allowed(
            Some("https://chat.example.org"),
            Some("a:1"),
            &allowed
        ));
        assert!(!origin_allowed(
            Some("https://chat.example.org.evil"),
            Some("a:1"),
            &allowed
        ));
    }

    #[test]
    fn text_frames_carry_the_line_without_its_line_feed() {
        let frame = text_frame("{\"status\":200}\n".to_string());
        // FIN + text opcode, unmasked, 14 bytes of payload.
        assert_eq!(frame[0], 0x81);
        assert_eq!(frame[1], 14);
        assert_eq!(&frame[2..], b"{\"status\":200}");
        let long = text_frame("x".repeat(70_000));
        assert_eq!(long[1], 127, "64-bit length form");
        assert_eq!(long.len(), 70_000 + 10);
    }
}
