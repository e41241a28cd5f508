//! Getting bytes onto one client's socket: its replies, and the events pushed
//! to it, without ever letting a slow client hold up anyone else.
//!
//! Publishers (whichever thread committed a write, fanning out its events)
//! must never wait on a client. When nothing is queued for a client and nobody is writing to its
//! socket, a publisher sends the event line straight to the socket without
//! blocking (`MSG_DONTWAIT`): one system call, no thread woken. Otherwise the
//! line joins the client's bounded queue:
//!
//! - if the connection's own thread is writing (a reply), it empties the queue
//!   before it lets go of the socket;
//! - if the socket's buffer was full, the [`Flusher`] thread is asked to
//!   finish the job once the socket is writable again.
//!
//! A client whose queue outgrows [`MAX_QUEUED_BYTES`] is disconnected: it has
//! stopped reading, and memory must not grow for it.
//!
//! On a TLS connection every line is sealed ([`TlsChannel::seal`]) while
//! the queue's lock is held, so records reach the socket in the order they
//! were sealed; from there on, sealed bytes travel exactly as plain ones.

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::net::{Shutdown, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Registry, Token};
use parking_lot::Mutex;
use rustix::io::Errno;
use rustix::net::SendFlags;

use crate::metrics::metrics;
use crate::tls::{Link, TlsChannel};

/// The most bytes of events waiting for one client before it is disconnected.
/// The kernel's socket buffers hold more before this starts to fill.
pub const MAX_QUEUED_BYTES: usize = 1024 * 1024;

/// One connection's way out: its socket and the events queued for it.
pub(crate) struct Outbox {
    stream: Arc<TcpStream>,
    tls: Option<Arc<TlsChannel>>,
    queue: Mutex<Queue>,
    /// Held by whoever is writing to the socket; publishers only ever try it.
    writing: Mutex<()>,
    flusher: Arc<Flusher>,
    /// This outbox's key in the flusher.
    key: u64,
    /// Itself, for the flusher to find it by.
    me: Weak<Outbox>,
    /// Set by [`Outbox::end_input`]: the connection takes no more requests.
    input_ended: AtomicBool,
}

#[derive(Default)]
struct Queue {
    lines: VecDeque<Arc<[u8]>>,
    /// How much of the first line is already on the socket.
    sent_of_first: usize,
    bytes: usize,
    closed: bool,
}

impl Queue {
    fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    fn push(&mut self, line: &Arc<[u8]>, already_sent: usize) {
        if self.lines.is_empty() {
            self.sent_of_first = already_sent;
        }
        self.bytes += line.len() - already_sent;
        self.lines.push_back(Arc::clone(line));
    }

    /// Appends every unsent byte to `out` and empties the queue.
    fn take_into(&mut self, out: &mut Vec<u8>) {
        for (index, line) in self.lines.drain(..).enumerate() {
            let skip = if index == 0 { self.sent_of_first } else { 0 };
            out.extend_from_slice(&line[skip..]);
        }
        self.sent_of_first = 0;
        self.bytes = 0;
        if self.lines.capacity() > 64 {
            self.lines = VecDeque::new();
        }
    }
}

/// How a non-blocking send went.
enum Sent {
    All,
    /// The socket's buffer is full after this many bytes.
    Partly(usize),
    Failed,
}

impl Outbox {
    /// The outbox of the connection on `stream`, sealing with `tls` when
    /// the connection has it. A client that takes none of
    /// a reply's bytes for `write_timeout` is dropped: the connection's
    /// thread, blocked writing it, gives up (sets the socket's send timeout).
    pub(crate) fn new(
        stream: Arc<TcpStream>,
        flusher: &Arc<Flusher>,
        tls: Option<Arc<TlsChannel>>,
        write_timeout: Duration,
    ) -> Arc<Outbox> {
        if let Err(err) = stream.set_write_timeout(Some(write_timeout)) {
            log::debug!("could not set a send timeout: {err}");
        }
        static NEXT_KEY: AtomicU64 = AtomicU64::new(1);
        Arc::new_cyclic(|me| Outbox {
            stream,
            tls,
            queue: Mutex::new(Queue::default()),
            writing: Mutex::new(()),
            flusher: Arc::clone(flusher),
            key: NEXT_KEY.fetch_add(1, Ordering::Relaxed),
            me: me.clone(),
            input_ended: AtomicBool::new(false),
        })
    }

    /// Hands one event line to the client without waiting. Returns `false`
    /// when the connection is closed, or has just been closed because its
    /// queue overflowed.
    pub(crate) fn push(&self, line: &Arc<[u8]>) -> bool {
        let queued = self.queue_line(line);
        if queued {
            metrics().events_delivered.inc();
        } else {
            metrics().events_dropped.inc();
        }
        queued
    }

    /// Hands a reply to the client without waiting, as events are: from the
    /// thread that committed the request's write, while the connection's own
    /// thread reads on (which then [`Outbox::drain`]s what could not go at
    /// once). `false` when the connection is closed.
    pub(crate) fn reply_later(&self, line: Arc<[u8]>) -> bool {
        self.queue_line(&line)
    }

    fn queue_line(&self, line: &Arc<[u8]>) -> bool {
        let mut queue = self.queue.lock();
        if queue.closed {
            return false;
        }
        let sealed;
        let line = match &self.tls {
            Some(tls) => {
                sealed = Arc::from(tls.seal(line));
                &sealed
            }
            None => line,
        };
        if queue.is_empty()
            && let Some(_writing) = self.writing.try_lock()
        {
            match self.send_nonblocking(line) {
                Sent::All => return true,
                Sent::Partly(sent) => {
                    queue.push(line, sent);
                    if !self.flusher.watch(self) {
                        queue.closed = true;
                        self.shut_socket();
                        return false;
                    }
                    return true;
                }
                Sent::Failed => {
                    // The client is gone; its thread is noticing too.
                    queue.closed = true;
                    return false;
                }
            }
        }
        if queue.bytes + line.len() > MAX_QUEUED_BYTES {
            queue.closed = true;
            metrics().slow_consumers_disconnected.inc();
            queue.lines.clear();
            queue.bytes = 0;
            drop(queue);
            log::warn!(
                "disconnecting {}: it stopped reading and its event queue overflowed",
                self.peer()
            );
            self.shut_socket();
            return false;
        }
        queue.push(line, 0);
        true
    }

    /// Writes `bytes` (a reply) from the connection's own thread, blocking as
    /// long as the client takes to read. Queued events go first, so a line
    /// half-sent by a publisher is finished before anything else.
    ///
    /// On a TLS connection, writing nothing sends the records TLS itself
    /// has due.
    pub(crate) fn write(&self, bytes: &[u8]) -> std::io::Result<()> {
        let writing = self.writing.lock();
        let mut out = Vec::new();
        let sealed;
        // Plain bytes go to the socket as they are, not copied again.
        let reply = {
            let mut queue = self.queue.lock();
            queue.take_into(&mut out);
            match &self.tls {
                Some(tls) => {
                    sealed = tls.seal(bytes);
                    &sealed[..]
                }
                None => bytes,
            }
        };
        if !out.is_empty() {
            (&*self.stream).write_all(&out)?;
            out.clear();
        }
        (&*self.stream).write_all(reply)?;
        loop {
            if !out.is_empty() {
                (&*self.stream).write_all(&out)?;
                out.clear();
            }
            let mut queue = self.queue.lock();
            if queue.is_empty() {
                // Let go of the socket while still holding the queue, so no
                // publisher can queue a line in between that nobody sends.
                drop(writing);
                return Ok(());
            }
            queue.take_into(&mut out);
        }
    }

    /// Writes what is queued from the connection's own thread, blocking as
    /// [`Outbox::write`] does; nothing to do (no system call) when the queue
    /// is empty.
    ///
    /// # Errors
    ///
    /// The socket's, and `BrokenPipe` once the outbox is closed (the server
    /// closed the connection, or the client is gone): its thread must stop
    /// taking requests, whose replies could no longer reach the client.
    pub(crate) fn drain(&self) -> std::io::Result<()> {
        {
            let queue = self.queue.lock();
            if queue.closed {
                return Err(std::io::ErrorKind::BrokenPipe.into());
            }
            if queue.is_empty() {
                return Ok(());
            }
        }
        self.write(&[])
    }

    /// Sends what is queued without blocking; called by the flusher once the
    /// socket is writable again.
    fn flush_nonblocking(&self) {
        let mut queue = self.queue.lock();
        if queue.closed || queue.is_empty() {
            return;
        }
        // If the connection's thread is writing, it empties the queue itself.
        let Some(_writing) = self.writing.try_lock() else {
            return;
        };
        while let Some(line) = queue.lines.front().cloned() {
            let unsent = &line[queue.sent_of_first..];
            match self.send_nonblocking(unsent) {
                Sent::All => {
                    queue.bytes -= unsent.len();
                    queue.sent_of_first = 0;
                    queue.lines.pop_front();
                }
                Sent::Partly(sent) => {
                    queue.bytes -= sent;
                    queue.sent_of_first += sent;
                    if !self.flusher.watch(self) {
                        queue.closed = true;
                        self.shut_socket();
                    }
                    return;
                }
                Sent::Failed => {
                    queue.closed = true;
                    return;
                }
            }
        }
    }

    fn send_nonblocking(&self, bytes: &[u8]) -> Sent {
        let mut sent = 0;
        while sent < bytes.len() {
            // Rust programs ignore SIGPIPE, so a closed peer is an error
            // here, not a signal.
            match rustix::net::send(&*self.stream, &bytes[sent..], SendFlags::DONTWAIT) {
                Ok(n) => sent += n,
                Err(Errno::INTR) => {}
                Err(Errno::AGAIN) => return Sent::Partly(sent),
                Err(_) => return Sent::Failed,
            }
        }
        Sent::All
    }

    /// From now on, the records TLS wants sent after a read of `link` (the
    /// connection this outbox writes to) go through this outbox, in order
    /// with its replies and events.
    pub(crate) fn carry_tls_records_of(self: &Arc<Self>, link: &mut Link) {
        let outbox = Arc::clone(self);
        link.flush_records_with(Box::new(move || {
            let _ = outbox.write(&[]);
        }));
    }

    /// Closes the connection from outside its thread: further pushes are
    /// refused and the thread's blocked read or write returns at once.
    pub(crate) fn close(&self) {
        let mut queue = self.queue.lock();
        if let Some(tls) = &self.tls
            && !queue.closed
            && queue.is_empty()
            && let Some(_writing) = self.writing.try_lock()
        {
            // Say goodbye properly if it can go at once.
            let _ = self.send_nonblocking(&tls.close());
        }
        queue.closed = true;
        drop(queue);
        self.shut_socket();
    }

    /// Ends the reading half only: the connection's thread sees the end of
    /// its input and may still write a last line (IRC's ERROR) itself.
    pub(crate) fn shut_reading(&self) {
        let _ = self.stream.shutdown(Shutdown::Read);
    }

    /// Ends the connection's input at the server's shutdown: its thread
    /// takes no more requests, not even those already read or still
    /// arriving (a read after the socket's reading half is shut still
    /// returns what came), answers the one being stored, and ends.
    pub(crate) fn end_input(&self) {
        self.input_ended.store(true, Ordering::Release);
        self.shut_reading();
    }

    /// Whether [`Outbox::end_input`] was called.
    pub(crate) fn input_ended(&self) -> bool {
        self.input_ended.load(Ordering::Acquire)
    }

    fn shut_socket(&self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }

    fn peer(&self) -> String {
        self.stream
            .peer_addr()
            .map_or_else(|_| "a client".to_string(), |addr| addr.to_string())
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        self.flusher.forget(self.key, &self.stream);
    }
}

/// One thread for every client whose socket filled up: it waits (mio) until
/// such sockets are writable again and sends what is queued for them.
///
/// Registrations are edge-triggered: re-registering a socket after a partial
/// send re-arms it, so the thread hears once it drains.
pub(crate) struct Flusher {
    registry: Registry,
    watched: Mutex<HashMap<u64, Weak<Outbox>>>,
}

impl Flusher {
    /// Creates the flusher and starts its thread, which runs for the life of
    /// the process.
    pub(crate) fn start() -> std::io::Result<Arc<Flusher>> {
        let poll = Poll::new()?;
        let flusher = Arc::new(Flusher {
            registry: poll.registry().try_clone()?,
            watched: Mutex::new(HashMap::new()),
        });
        let worker = Arc::clone(&flusher);
        std::thread::Builder::new()
            .name("flusher".to_string())
            .spawn(move || worker.run(poll))?;
        Ok(flusher)
    }

    /// Asks to be told once `outbox`'s socket is writable. `false` when it
    /// cannot: the caller, which holds the outbox's queue, closes it (the
    /// client is almost certainly gone).
    #[must_use]
    fn watch(&self, outbox: &Outbox) -> bool {
        let fd = outbox.stream.as_raw_fd();
        let mut source = SourceFd(&fd);
        let token = Token(outbox.key as usize);
        let mut watched = self.watched.lock();
        let known = watched.insert(outbox.key, outbox.me.clone()).is_some();
        let armed = if known {
            self.registry
                .reregister(&mut source, token, Interest::WRITABLE)
        } else {
            self.registry
                .register(&mut source, token, Interest::WRITABLE)
        };
        if let Err(err) = armed {
            // Without a watch the queue would wait for the next reply.
            log::warn!("cannot watch a client's socket: {err}");
            watched.remove(&outbox.key);
            return false;
        }
        true
    }

    /// Stops tracking an outbox that is going away, while its socket is
    /// still open.
    fn forget(&self, key: u64, stream: &TcpStream) {
        if self.watched.lock().remove(&key).is_some() {
            let fd = stream.as_raw_fd();
            let _ = self.registry.deregister(&mut SourceFd(&fd));
        }
    }

    fn run(&self, mut poll: Poll) {
        let mut events = Events::with_capacity(256);
        loop {
            if let Err(err) = poll.poll(&mut events, None) {
                if err.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                log::error!("the flusher stopped: {err}");
                return;
            }
            for event in &events {
                let outbox = self
                    .watched
                    .lock()
                    .get(&(event.token().0 as u64))
                    .and_then(Weak::upgrade);
                if let Some(outbox) = outbox {
                    outbox.flush_nonblocking();
                }
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::io::Read;
    use std::net::TcpListener;

    use super::*;

    /// A connected pair with small kernel buffers, so that a few hundred
    /// KiB fill them: the server side in an outbox, the client side raw.
    pub(crate) fn pair() -> (Arc<Outbox>, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        rustix::net::sockopt::set_socket_send_buffer_size(&server, 8 * 1024).unwrap();
        rustix::net::sockopt::set_socket_recv_buffer_size(&client, 8 * 1024).unwrap();
        let outbox = Outbox::new(
            Arc::new(server),
            &Flusher::start().unwrap(),
            None,
            std::time::Duration::from_secs(60),
        );
        (outbox, client)
    }

    fn line(n: usize, len: usize) -> Arc<[u8]> {
        let mut bytes = format!("{n:06}:").into_bytes();
        bytes.resize(len - 1, b'x');
        bytes.push(b'\n');
        bytes.into()
    }

    /// Lines that do not fit the socket wait in the queue; once the client
    /// reads, the flusher finishes them, every byte in order.
    #[test]
    fn partly_sent_lines_are_finished_in_order() {
        let (outbox, mut client) = pair();
        let lines: Vec<Arc<[u8]>> = (0..400).map(|n| line(n, 1000)).collect();
        for line in &lines {
            assert!(outbox.push(line));
        }
        assert!(
            outbox.queue.lock().bytes > 0,
            "nothing was queued: the test did not fill the socket"
        );
        // A reply from the connection's thread goes after every queued line.
        let writer = {
            let outbox = Arc::clone(&outbox);
            std::thread::spawn(move || outbox.write(b"reply\n"))
        };
        let expected: Vec<u8> = lines
            .iter()
            .flat_map(|line| line.iter().copied())
            .chain(*b"reply\n")
            .collect();
        let mut got = vec![0; expected.len()];
        client
            .set_read_timeout(Some(std::time::Duration::from_secs(20)))
            .unwrap();
        client.read_exact(&mut got).unwrap();
        assert!(got == expected, "the bytes differ from what was pushed");
        writer.join().unwrap().unwrap();
    }

    /// A client that never reads is cut off once its queue passes the limit,
    /// and later pushes are refused.
    #[test]
    fn a_queue_past_the_limit_closes_the_connection() {
        let (outbox, mut client) = pair();
        let big = line(0, 64 * 1024);
        let pushes = (MAX_QUEUED_BYTES / big.len()) * 2;
        let accepted = (0..pushes).take_while(|_| outbox.push(&big)).count();
        assert!(accepted < pushes, "never refused");
        assert!(
            accepted >= MAX_QUEUED_BYTES / big.len(),
            "refused too early"
        );
        assert!(!outbox.push(&line(1, 100)));
        // The client sees what was sent before, then the end.
        client
            .set_read_timeout(Some(std::time::Duration::from_secs(20)))
            .unwrap();
        let mut sink = Vec::new();
        client.read_to_end(&mut sink).unwrap();
    }

    /// Once closed (by the server, or a client gone), an outbox's drain
    /// fails: the connection's thread stops taking requests whose replies
    /// could no longer be written, rather than storing them unanswered.
    #[test]
    fn a_closed_outbox_cannot_be_drained() {
        let (outbox, _client) = pair();
        assert!(outbox.drain().is_ok());
        outbox.close();
        let drained = outbox.drain();
        assert_eq!(
            drained.map_err(|err| err.kind()),
            Err(std::io::ErrorKind::BrokenPipe)
        );
        assert!(!outbox.reply_later(line(1, 100)));
    }
}
