//! One client's thread: its read loop, its identity and its writes.
//!
//! The thread blocks reading its socket; pushed events reach the socket
//! through the connection's [`Outbox`] without involving this thread (see
//! there). Replies go out through the same outbox, so that a reply never cuts
//! into a half-sent event line, and a client that is slow to read only ever
//! blocks its own thread.

use std::io::Read;
use std::net::{IpAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::commands::{self, Services, Session};
use crate::error::CommandError;
use crate::framing::{Frame, LineReader};
use crate::hub::ConnId;
use crate::outbox::Outbox;
use crate::protocol::{self, Request};

/// Bytes read from the socket at a time. It lives on the thread stack, so it
/// is part of what every idle connection keeps resident: one page.
const READ_CHUNK: usize = 4 * 1024;

pub struct Connection {
    stream: Arc<TcpStream>,
    outbox: Arc<Outbox>,
    services: Arc<Services>,
    session: Session,
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
    pub fn new(
        id: ConnId,
        stream: Arc<TcpStream>,
        outbox: Arc<Outbox>,
        services: Arc<Services>,
        peer: IpAddr,
        line_timeout: Duration,
    ) -> Connection {
        Connection {
            stream,
            outbox,
            services,
            session: Session {
                conn_id: id,
                peer,
                user: None,
            },
            lines: LineReader::new(),
            line_timeout,
            read_timeout_set: false,
        }
    }

    /// Serves the client until it leaves, then forgets it.
    pub fn run(mut self) {
        let peer = self
            .stream
            .peer_addr()
            .map_or_else(|_| self.session.peer.to_string(), |addr| addr.to_string());
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
        if let Err(err) = self.outbox.write(protocol::greeting_line().as_bytes()) {
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
            services,
            ..
        } = self;
        lines.feed(data, |frame| {
            let reply = match frame {
                Frame::TooLong => Some(Err(CommandError::LineTooLong)),
                Frame::Line(line) => answer(line, session, services),
            };
            match reply {
                Some(Ok(line)) => out.extend_from_slice(line.as_bytes()),
                Some(Err(err)) => out.extend_from_slice(err.reply_line().as_bytes()),
                None => {}
            }
        });
    }
}

impl Drop for Connection {
    /// Runs on every way out, a panic included, so that a vanished client is
    /// never left counted as active or subscribed.
    fn drop(&mut self) {
        self.services.hub.disconnect(self.session.conn_id);
    }
}

/// One request line to one reply, or `None` for an empty line.
fn answer(
    line: &[u8],
    session: &mut Session,
    services: &Arc<Services>,
) -> Option<Result<String, CommandError>> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.is_empty() {
        return None;
    }
    let Ok(line) = std::str::from_utf8(line) else {
        return Some(Err(CommandError::InvalidUtf8));
    };
    let request = match Request::parse(line) {
        Ok(request) => request,
        Err(err) => return Some(Err(err.into())),
    };
    log::trace!("{}: {request:?}", session.peer);
    Some(commands::execute(request, session, services))
}
