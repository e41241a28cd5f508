//! One pipe client's thread: its read loop and its writes.
//!
//! The thread blocks reading its socket; pushed events reach the socket
//! through the connection's [`Outbox`] without involving this thread (the
//! outbox is the connection's [`Subscriber`]). Replies go out through the same
//! outbox, so that a reply never cuts into a half-sent event line, and a
//! client that is slow to read only ever blocks its own thread.

use std::io::Read;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::commands;
use super::framing::{Frame, LineReader, LineText, request_text};
use super::outbox::Outbox;
use super::reply::{EventLine, error_line, greeting_line};
use super::request::{Request, command_name};
use crate::chat::{Chat, Delivery, Session, Subscriber};
use crate::metrics::metrics;
use crate::wire::{MAX_REQUEST_BYTES, Status};

/// Bytes read from the socket at a time. It lives on the thread stack, so it
/// is part of what every idle connection keeps resident: one page.
const READ_CHUNK: usize = 4 * 1024;

pub(crate) struct Connection {
    stream: Arc<TcpStream>,
    outbox: Arc<Outbox>,
    chat: Arc<Chat>,
    session: Arc<Session>,
    lines: LineReader,
    /// How long a started line may stay unfinished before the client is
    /// dropped (slow-loris protection); idle time between lines is unlimited.
    line_timeout: Duration,
    read_timeout_set: bool,
}

/// Why the read loop ended.
enum Ending {
    ClientClosed,
    LineTimedOut,
    Io(std::io::Error),
}

impl Connection {
    pub(crate) fn new(
        stream: Arc<TcpStream>,
        outbox: Arc<Outbox>,
        chat: Arc<Chat>,
        session: Arc<Session>,
        line_timeout: Duration,
    ) -> Connection {
        Connection {
            stream,
            outbox,
            chat,
            session,
            lines: LineReader::new(),
            line_timeout,
            read_timeout_set: false,
        }
    }

    /// Serves the client until it leaves, then forgets it.
    pub(crate) fn run(mut self) {
        let peer = self
            .stream
            .peer_addr()
            .map_or_else(|_| self.session.peer().to_string(), |addr| addr.to_string());
        log::debug!("{peer}: connected");
        let ending = self.serve();
        match ending {
            Ending::ClientClosed => log::debug!("{peer}: disconnected"),
            Ending::LineTimedOut => log::info!(
                "{peer}: dropped, a request line stayed unfinished for {:?}",
                self.line_timeout
            ),
            Ending::Io(err) => log::debug!("{peer}: connection ended: {err}"),
        }
    }

    fn serve(&mut self) -> Ending {
        if let Err(err) = self.outbox.write(greeting_line().as_bytes()) {
            return Ending::Io(err);
        }
        let mut chunk = [0u8; READ_CHUNK];
        let mut out = Vec::new();
        // When the unfinished line being timed began, if there is one.
        let mut line_started: Option<Instant> = None;
        loop {
            let timeout = line_started.map(|started| {
                self.line_timeout
                    .saturating_sub(started.elapsed())
                    .max(Duration::from_millis(1))
            });
            if let Err(err) = self.set_read_timeout(timeout) {
                return Ending::Io(err);
            }
            let read = match (&*self.stream).read(&mut chunk) {
                Ok(0) => return Ending::ClientClosed,
                Ok(read) => read,
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(err)
                    if matches!(
                        err.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    if line_started.is_some_and(|started| started.elapsed() >= self.line_timeout) {
                        return Ending::LineTimedOut;
                    }
                    continue;
                }
                Err(err) => return Ending::Io(err),
            };
            self.handle_input(&chunk[..read], &mut out);
            if !out.is_empty() {
                let written = self.outbox.write(&out);
                out.clear();
                if out.capacity() > 64 * 1024 {
                    out = Vec::new();
                }
                if let Err(err) = written {
                    return Ending::Io(err);
                }
            }
            line_started = match (self.lines.in_line(), line_started) {
                (false, _) => None,
                // The line being timed has ended; a partial one left over
                // began within this read and is timed from now.
                (true, _) if chunk[..read].contains(&b'\n') => Some(Instant::now()),
                (true, Some(started)) => Some(started),
                (true, None) => Some(Instant::now()),
            };
        }
    }

    /// A read timeout only while a line is unfinished; none between lines.
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> std::io::Result<()> {
        if timeout.is_none() && !self.read_timeout_set {
            return Ok(());
        }
        self.read_timeout_set = timeout.is_some();
        self.stream.set_read_timeout(timeout)
    }

    /// Answers every complete line in `data`, appending replies to `out`.
    fn handle_input(&mut self, data: &[u8], out: &mut Vec<u8>) {
        let Connection {
            lines,
            session,
            chat,
            ..
        } = self;
        lines.feed(data, |frame| {
            if let Some(reply) = answer(frame, session, chat) {
                out.extend_from_slice(reply.as_bytes());
            }
        });
    }
}

impl Drop for Connection {
    /// Runs on every way out, a panic included, so that a vanished client is
    /// never left counted as active or subscribed.
    fn drop(&mut self) {
        self.chat.disconnect(&self.session);
    }
}

/// One frame to one reply line, or `None` for an empty line.
fn answer(frame: Frame<'_>, session: &Session, chat: &Chat) -> Option<String> {
    let line = match frame {
        Frame::TooLong => {
            return Some(error_line(
                Status::TooLong,
                &format!(
                    "request line too long: at most {MAX_REQUEST_BYTES} bytes, line feed included"
                ),
            ));
        }
        Frame::Line(line) => line,
    };
    answer_line(line, session, chat)
}

/// One request line (or WebSocket text message), without its line feed, to
/// one reply line, or `None` when it is empty: the CR, UTF-8 and parsing
/// rules every front door shares.
pub(crate) fn answer_line(line: &[u8], session: &Session, chat: &Chat) -> Option<String> {
    let text = match request_text(line) {
        LineText::Empty => return None,
        LineText::NotUtf8 => {
            return Some(error_line(Status::BadRequest, "request is not valid UTF-8"));
        }
        LineText::Text(text) => text,
    };
    let command = command_name(text).unwrap_or("unknown");
    let (status, line) = match Request::parse(text) {
        Ok(request) => {
            log::trace!("{}: {request:?}", session.peer());
            commands::execute(request, session, chat)
        }
        Err(err) => (
            Status::BadRequest,
            error_line(Status::BadRequest, &err.to_string()),
        ),
    };
    metrics().request(command, status.code());
    Some(line)
}

/// The pipe connection's side of fan-out: events go to its outbox as lines.
impl Subscriber for Outbox {
    fn deliver(&self, delivery: &Delivery<'_>) {
        self.push(&delivery.rendered::<EventLine>());
    }

    fn close(&self) {
        Outbox::close(self);
    }
}
