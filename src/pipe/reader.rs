//! Reading a line-based connection (pipe or IRC) with the slow-loris rule:
//! a line, once started, must end within the line timeout. The time between
//! lines is unlimited, unless the caller reads by a deadline of its own
//! ([`TimedReader::read_by`]: IRC's keep-alive).

use std::io::Read;
use std::time::{Duration, Instant};

use crate::tls::{Link, is_wait};

/// Bytes a line-based connection reads from its socket at a time, into a
/// buffer on its thread's stack. Every stack page a connection's thread has
/// touched stays resident while the client is connected, and a 4 KiB buffer
/// took an idle connection's stack from 3 pages to 4 (idle K=9,900: 15.5
/// against 19.5 KiB per connection, `BENCHMARKS.md`). Request lines are
/// short; a long one takes a few more reads (send C=1 measured the same).
pub(crate) const READ_CHUNK: usize = 1024;

/// Whether `err` is a write that gave up: the client took none of a reply
/// for the send timeout ([`Outbox::new`](super::outbox::Outbox::new)). Reads
/// time out only into [`ReadEnd::LineTimedOut`] or [`ReadEnd::Idle`], so on a
/// connection's own thread this is always a write.
pub(crate) fn is_timeout(err: &std::io::Error) -> bool {
    matches!(
        err.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

/// Why reading stopped.
#[derive(Debug)]
pub(crate) enum ReadEnd {
    ClientClosed,
    LineTimedOut,
    /// Nothing arrived by the deadline given to [`TimedReader::read_by`].
    Idle,
    Io(std::io::Error),
}

impl std::fmt::Display for ReadEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadEnd::ClientClosed => f.write_str("closed by the client"),
            ReadEnd::LineTimedOut => f.write_str("a line stayed unfinished too long"),
            ReadEnd::Idle => f.write_str("nothing arrived in time"),
            ReadEnd::Io(err) => err.fmt(f),
        }
    }
}

/// A connection's [`Link`], read with the line timeout.
pub(crate) struct TimedReader {
    link: Link,
    line_timeout: Duration,
    /// When the unfinished line being timed began, if there is one.
    line_started: Option<Instant>,
    read_timeout_set: bool,
}

impl TimedReader {
    pub(crate) fn new(link: Link, line_timeout: Duration) -> TimedReader {
        TimedReader {
            link,
            line_timeout,
            line_started: None,
            read_timeout_set: false,
        }
    }

    pub(crate) fn link(&self) -> &Link {
        &self.link
    }

    pub(crate) fn line_timeout(&self) -> Duration {
        self.line_timeout
    }

    /// Reads the next bytes into `chunk`, waiting as long as no line is
    /// unfinished, and only until its deadline otherwise.
    ///
    /// # Errors
    ///
    /// Why the connection is over.
    pub(crate) fn read(&mut self, chunk: &mut [u8]) -> Result<usize, ReadEnd> {
        self.read_within(chunk, None)
    }

    /// [`TimedReader::read`], giving up at `deadline` too: the line timeout
    /// still holds, and the socket waits until the sooner of the two.
    ///
    /// # Errors
    ///
    /// [`ReadEnd::Idle`] when nothing arrived by `deadline` (and no
    /// unfinished line timed out first); otherwise why the connection is
    /// over.
    pub(crate) fn read_by(
        &mut self,
        chunk: &mut [u8],
        deadline: Instant,
    ) -> Result<usize, ReadEnd> {
        self.read_within(chunk, Some(deadline))
    }

    fn read_within(
        &mut self,
        chunk: &mut [u8],
        deadline: Option<Instant>,
    ) -> Result<usize, ReadEnd> {
        loop {
            let line_left = self
                .line_started
                .map(|started| self.line_timeout.saturating_sub(started.elapsed()));
            // Checked before reading, not only when a read waits in vain: a
            // client streaming an endless line never lets a read wait.
            if line_left == Some(Duration::ZERO) {
                return Err(ReadEnd::LineTimedOut);
            }
            let idle_left =
                deadline.map(|deadline| deadline.saturating_duration_since(Instant::now()));
            let timeout = match (line_left, idle_left) {
                (Some(line), Some(idle)) => Some(line.min(idle)),
                (line, idle) => line.or(idle),
            }
            .map(|left| left.max(Duration::from_millis(1)));
            self.set_read_timeout(timeout).map_err(ReadEnd::Io)?;
            match self.link.read(chunk) {
                Ok(0) => return Err(ReadEnd::ClientClosed),
                Ok(read) => return Ok(read),
                // A timeout, a signal, or (TLS) a read that completed no
                // record.
                Err(err) if is_wait(&err) => {
                    if self
                        .line_started
                        .is_some_and(|started| started.elapsed() >= self.line_timeout)
                    {
                        return Err(ReadEnd::LineTimedOut);
                    }
                    if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                        return Err(ReadEnd::Idle);
                    }
                }
                Err(err) => return Err(ReadEnd::Io(err)),
            }
        }
    }

    /// Tells the timer what `data`, just read, did to the line being read:
    /// `in_line` is whether a line is unfinished now.
    pub(crate) fn fed(&mut self, data: &[u8], in_line: bool) {
        self.line_started = match (in_line, self.line_started) {
            (false, _) => None,
            // The line being timed has ended; a partial one left over
            // began within this read and is timed from now.
            (true, _) if data.contains(&b'\n') => Some(Instant::now()),
            (true, Some(started)) => Some(started),
            (true, None) => Some(Instant::now()),
        };
    }

    /// A read timeout only while a line is unfinished or a deadline is
    /// given; none between lines otherwise.
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> std::io::Result<()> {
        if timeout.is_none() && !self.read_timeout_set {
            return Ok(());
        }
        self.read_timeout_set = timeout.is_some();
        self.link.stream().set_read_timeout(timeout)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::net::{TcpListener, TcpStream};
    use std::sync::Arc;

    use super::*;

    /// A reader on the server side of a connected pair, and the client side.
    fn pair(line_timeout: Duration) -> (TimedReader, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        let link = Link::new(Arc::new(server), None);
        (TimedReader::new(link, line_timeout), client)
    }

    /// A deadline with nothing arriving ends in `Idle`, not before it; what
    /// arrives before it is read; the reader reads on after an `Idle`.
    #[test]
    fn read_by_ends_idle_at_its_deadline_only() {
        let (mut reader, mut client) = pair(Duration::from_secs(60));
        let mut chunk = [0u8; READ_CHUNK];
        let deadline = Instant::now() + Duration::from_millis(50);
        assert!(matches!(
            reader.read_by(&mut chunk, deadline),
            Err(ReadEnd::Idle)
        ));
        assert!(Instant::now() >= deadline);
        client.write_all(b"PONG x\r\n").unwrap();
        let far = Instant::now() + Duration::from_secs(60);
        let read = reader.read_by(&mut chunk, far).unwrap();
        assert_eq!(&chunk[..read], b"PONG x\r\n");
        drop(client);
        assert!(matches!(
            reader.read_by(&mut chunk, far),
            Err(ReadEnd::ClientClosed)
        ));
    }

    /// An unfinished line still times out at the line timeout when the
    /// deadline is later, and the deadline wins when it is sooner.
    #[test]
    fn the_line_timeout_holds_under_a_deadline() {
        let (mut reader, mut client) = pair(Duration::from_millis(50));
        let mut chunk = [0u8; READ_CHUNK];
        client.write_all(b"PRIV").unwrap();
        let far = Instant::now() + Duration::from_secs(60);
        let read = reader.read_by(&mut chunk, far).unwrap();
        reader.fed(&chunk[..read], true);
        assert!(matches!(
            reader.read_by(&mut chunk, far),
            Err(ReadEnd::LineTimedOut)
        ));

        let (mut reader, mut client) = pair(Duration::from_secs(60));
        client.write_all(b"PRIV").unwrap();
        let read = reader.read(&mut chunk).unwrap();
        reader.fed(&chunk[..read], true);
        let soon = Instant::now() + Duration::from_millis(50);
        assert!(matches!(
            reader.read_by(&mut chunk, soon),
            Err(ReadEnd::Idle)
        ));
    }

    /// A line that keeps arriving but never ends times out too: its bytes
    /// never let a read wait, which is where the timeout used to be noticed.
    #[test]
    fn an_endless_line_times_out_while_it_streams() {
        let line_timeout = Duration::from_millis(100);
        let (mut reader, mut client) = pair(line_timeout);
        let streaming = std::thread::spawn(move || {
            let bytes = [b'a'; READ_CHUNK];
            // Ends when the reader is dropped and the socket closes, or
            // after a minute at most.
            let give_up = Instant::now() + Duration::from_secs(60);
            while Instant::now() < give_up && client.write_all(&bytes).is_ok() {}
        });
        let mut chunk = [0u8; READ_CHUNK];
        let started = Instant::now();
        let end = loop {
            match reader.read(&mut chunk) {
                Ok(read) => reader.fed(&chunk[..read], true),
                Err(end) => break end,
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the endless line was still read after 30 s"
            );
        };
        assert!(matches!(end, ReadEnd::LineTimedOut), "{end}");
        assert!(started.elapsed() >= line_timeout);
        drop(reader);
        streaming.join().unwrap();
    }
}
