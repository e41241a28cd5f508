//! One pipe client's thread: its read loop and its writes.
//!
//! The thread blocks reading its socket; pushed events reach the socket
//! through the connection's [`Outbox`] without involving this thread (the
//! outbox is the connection's [`Subscriber`]). Replies go out through the same
//! outbox, so that a reply never cuts into a half-sent event line, and a
//! client that is slow to read only ever blocks its own thread. The reply to
//! a `/sendMessage` is handed to the outbox like an event, by the thread that
//! commits the message ([`Sending`]), while this one reads on; the next
//! request, or the end of the connection, waits for it and writes what is
//! left of it from this thread, so replies follow the order of requests and
//! a client that reads slowly is still held back by its own thread.

use std::sync::Arc;

use super::commands::{self, Answer, Sending};
use super::framing::{Frame, LineReader, LineText, request_text};
use super::outbox::Outbox;
use super::reader::{ReadEnd, TimedReader, is_timeout};
use super::reply::{EventLine, error_line, greeting_line};
use super::request::{Request, command_name};
use crate::chat::{Chat, Delivery, Session, Subscriber};
use crate::metrics::metrics;
use crate::wire::{MAX_REQUEST_BYTES, Status};

pub(crate) struct Connection {
    reader: TimedReader,
    outbox: Arc<Outbox>,
    chat: Arc<Chat>,
    session: Arc<Session>,
    lines: LineReader,
    /// The reply still to come to a message being stored: the next request
    /// waits for it, so that replies keep the order of their requests and a
    /// request sees what the ones before it did.
    pending: Option<oneshot::Receiver<()>>,
}

impl Connection {
    pub(crate) fn new(
        reader: TimedReader,
        outbox: Arc<Outbox>,
        chat: Arc<Chat>,
        session: Arc<Session>,
    ) -> Connection {
        Connection {
            reader,
            outbox,
            chat,
            session,
            lines: LineReader::new(),
            pending: None,
        }
    }

    /// Serves the client until it leaves (the caller holds its
    /// [`crate::chat::Admitted`], which then forgets it).
    pub(crate) fn run(mut self) {
        let peer = self
            .reader
            .link()
            .stream()
            .peer_addr()
            .map_or_else(|_| self.session.peer().to_string(), |addr| addr.to_string());
        log::debug!("{peer}: connected");
        let end = self.serve();
        // A client that half-closes right after a message still gets its
        // reply, before the server closes the connection.
        if self.reply_pending().is_err() {
            log::debug!("{peer}: a reply could not be written");
        }
        match end {
            ReadEnd::ClientClosed => log::debug!("{peer}: disconnected"),
            ReadEnd::LineTimedOut => log::info!(
                "{peer}: dropped, a request line stayed unfinished for {:?}",
                self.reader.line_timeout()
            ),
            ReadEnd::Io(err) if is_timeout(&err) => log::info!(
                "{peer}: dropped, it took none of a reply for {:?}",
                self.reader.line_timeout()
            ),
            ReadEnd::Io(err) => log::debug!("{peer}: connection ended: {err}"),
            // Only a read by a deadline (IRC's keep-alive) ends idle; the
            // pipe reads without one.
            ReadEnd::Idle => log::debug!("{peer}: connection ended idle"),
        }
    }

    /// Waits for the reply to a message being stored, if any, and then
    /// writes what its outbox still holds from this thread, blocking as a
    /// reply does: the reply goes out before anything after it, and a client
    /// that sends faster than it reads is held back here instead of having
    /// its replies pile up in the queue.
    fn reply_pending(&mut self) -> std::io::Result<()> {
        wait_for_reply(&mut self.pending, &self.outbox)
    }

    fn serve(&mut self) -> ReadEnd {
        if let Err(err) = self.outbox.write(greeting_line().as_bytes()) {
            return ReadEnd::Io(err);
        }
        let mut chunk = [0u8; super::reader::READ_CHUNK];
        let mut out = Vec::new();
        loop {
            let read = match self.reader.read(&mut chunk) {
                Ok(read) => read,
                Err(end) => return end,
            };
            if let Err(err) = self.handle_input(&chunk[..read], &mut out) {
                return ReadEnd::Io(err);
            }
            if self.outbox.input_ended() {
                return ReadEnd::Io(std::io::Error::new(
                    std::io::ErrorKind::ConnectionAborted,
                    "the server is shutting down",
                ));
            }
            self.reader.fed(&chunk[..read], self.lines.in_line());
        }
    }

    /// Answers every complete line in `data`. Short replies are gathered in
    /// `out` and written together (one system call for a burst of small
    /// requests); a large one, or `out` once it holds [`GATHER_BYTES`], is
    /// written before the next line is answered, so a burst of requests with
    /// large replies (history pages) holds one reply in memory at a time,
    /// not all of them. A message to store is answered by the thread that
    /// commits it ([`Sending`]), after what `out` holds.
    fn handle_input(&mut self, data: &[u8], out: &mut Vec<u8>) -> std::io::Result<()> {
        let Connection {
            lines,
            session,
            chat,
            outbox,
            pending,
            ..
        } = self;
        let mut written = Ok(());
        lines.feed(data, |frame| {
            // The client is gone, or the server stopping: the lines left
            // get no answer (nor are they stored).
            if written.is_err() || outbox.input_ended() {
                return;
            }
            if let Err(err) = wait_for_reply(pending, outbox) {
                written = Err(err);
                return;
            }
            let reply = match start_frame(frame, session, chat) {
                None => return,
                Some(Answer::Ready((_, reply))) => reply,
                Some(Answer::Sending(sending)) => {
                    written = send(outbox, out);
                    if written.is_ok() {
                        *pending =
                            Some(reply_when_stored(sending, chat, outbox, String::into_bytes));
                    }
                    return;
                }
            };
            written = if reply.len() >= GATHER_BYTES {
                // Large replies go out as they are, without a copy.
                send(outbox, out).and_then(|()| outbox.write(reply.as_bytes()))
            } else {
                out.extend_from_slice(reply.as_bytes());
                match out.len() >= GATHER_BYTES {
                    true => send(outbox, out),
                    false => Ok(()),
                }
            };
        });
        written?;
        send(outbox, out)
    }
}

/// How many bytes of replies are gathered before they are written.
const GATHER_BYTES: usize = 64 * 1024;

/// Writes and empties `out` (giving back a large buffer's memory).
fn send(outbox: &Outbox, out: &mut Vec<u8>) -> std::io::Result<()> {
    if out.is_empty() {
        return Ok(());
    }
    let written = outbox.write(out);
    out.clear();
    if out.capacity() > GATHER_BYTES {
        *out = Vec::new();
    }
    written
}

/// See [`Connection::reply_pending`]; shared with the WebSocket door.
pub(crate) fn wait_for_reply(
    pending: &mut Option<oneshot::Receiver<()>>,
    outbox: &Outbox,
) -> std::io::Result<()> {
    let Some(earlier) = pending.take() else {
        return Ok(());
    };
    // Set off once the reply is queued or sent, whatever the outcome
    // ([`Sending::start`] answers even a write that was dropped).
    let _ = earlier.recv();
    outbox.drain()
}

/// Stores a message without waiting for it: the thread that commits it
/// writes the reply, as `framed` makes it ready for the wire (a WebSocket
/// frames it; a line goes as it is). Returns what is set off once the reply
/// is out.
pub(crate) fn reply_when_stored(
    sending: Sending,
    chat: &Chat,
    outbox: &Arc<Outbox>,
    framed: fn(String) -> Vec<u8>,
) -> oneshot::Receiver<()> {
    let (replied, pending) = oneshot::channel();
    let outbox = Arc::clone(outbox);
    sending.start(chat, move |(_, reply)| {
        outbox.reply_later(framed(reply).into());
        let _ = replied.send(());
    });
    pending
}

/// One frame to its answer, or `None` for an empty line.
fn start_frame(frame: Frame<'_>, session: &Session, chat: &Chat) -> Option<Answer> {
    match frame {
        Frame::TooLong => Some(Answer::Ready((
            Status::TooLong,
            error_line(
                Status::TooLong,
                &format!(
                    "request line too long: at most {MAX_REQUEST_BYTES} bytes, line feed included"
                ),
            ),
        ))),
        Frame::Line(line) => start_line(line, session, chat),
    }
}

/// One request line (or WebSocket text message), without its line feed, to
/// its answer, or `None` when it is empty: the CR, UTF-8 and parsing rules
/// the pipe and WebSocket doors share (IRC has its own). A message to store
/// comes back unsent ([`commands::start`]).
pub(crate) fn start_line(line: &[u8], session: &Session, chat: &Chat) -> Option<Answer> {
    let text = match request_text(line) {
        LineText::Empty => return None,
        LineText::NotUtf8 => {
            return Some(Answer::Ready((
                Status::BadRequest,
                error_line(Status::BadRequest, "request is not valid UTF-8"),
            )));
        }
        LineText::Text(text) => text,
    };
    let command = command_name(text).unwrap_or("unknown");
    let answer = match Request::parse(text) {
        Ok(request) => {
            log::trace!("{}: {request:?}", session.peer());
            commands::start(request, session, chat)
        }
        Err(err) => Answer::Ready(commands::malformed(&err, command, session, chat)),
    };
    // A message's reply is counted once it is known (`commands::Sending`).
    if let Answer::Ready((status, _)) = &answer {
        metrics().request(command, status.code());
    }
    Some(answer)
}

/// The pipe connection's side of fan-out: events go to its outbox as lines.
impl Subscriber for Outbox {
    fn deliver(&self, delivery: &Delivery<'_>) {
        self.push(&delivery.rendered::<EventLine>());
    }

    /// The connection's thread takes no more requests, waits for the reply
    /// to a message being stored, writes it and what is queued, and
    /// closes: a message stored at the shutdown is answered, or its sender,
    /// told it may not have gone, would send it twice.
    fn close(&self) {
        self.end_input();
    }

    fn close_now(&self) {
        Outbox::close(self);
    }
}
