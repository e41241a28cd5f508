//! Reading a line-based connection (pipe or IRC) with the slow-loris rule:
//! a line, once started, must end within the line timeout; the time between
//! lines is unlimited.

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
/// time out only into [`ReadEnd::LineTimedOut`], so on a connection's own
/// thread this is always a write.
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
    Io(std::io::Error),
}

impl std::fmt::Display for ReadEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadEnd::ClientClosed => f.write_str("closed by the client"),
            ReadEnd::LineTimedOut => f.write_str("a line stayed unfinished too long"),
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
        loop {
            let timeout = self.line_started.map(|started| {
                self.line_timeout
                    .saturating_sub(started.elapsed())
                    .max(Duration::from_millis(1))
            });
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

    /// A read timeout only while a line is unfinished; none between lines.
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> std::io::Result<()> {
        if timeout.is_none() && !self.read_timeout_set {
            return Ok(());
        }
        self.read_timeout_set = timeout.is_some();
        self.link.stream().set_read_timeout(timeout)
    }
}
